//! `quantscope inspect MODEL [--json]`.

use crate::report::InspectReport;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .tflite file.
    pub model: PathBuf,
    /// One JSON document on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = super::open_model(&args.model)?;
    let report = InspectReport::new(&model, &args.model.display().to_string());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report));
    }
    Ok(())
}

fn fmt_quant(q: Option<&crate::model::Quantization>) -> String {
    let Some(q) = q else { return String::new() };
    if let Some(b) = &q.blockwise {
        let (lo, hi) = b
            .scales
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, c), &s| (a.min(s), c.max(s)));
        return format!(
            "blockwise-{} x{} scales (tensor {}) {lo:.3e}..{hi:.3e}",
            b.block_size,
            b.scales.len(),
            b.scales_tensor
        );
    }
    if let Some(d) = &q.details {
        return d.clone();
    }
    let Some(qs) = crate::report::QuantSummary::of(q) else {
        return "min/max only".into();
    };
    let (zmin, zmax) = qs.zero_point_range.unwrap_or((0, 0));
    if qs.per_channel() {
        let z = if zmin == zmax {
            zmin.to_string()
        } else {
            format!("{zmin}..{zmax}")
        };
        format!(
            "per-channel x{} axis {} scale {:.3e}..{:.3e} zp {z}",
            qs.scales, qs.axis, qs.scale_min, qs.scale_max
        )
    } else {
        format!("scale {:.6e} zp {}", qs.scale_min, qs.zero_point())
    }
}

/// The decoded TFLITE_METADATA: what the model says about itself, its inputs' normalization
/// and its associated files (label lists...).
fn render_tflite_metadata(o: &mut String, md: &crate::report::TfliteMetadataReport) {
    let _ = writeln!(o, "TFLite metadata:");
    for (k, v) in md.about.fields() {
        if let Some(v) = v {
            // Descriptions can run to paragraphs; the first line is enough here.
            let first = v.lines().next().unwrap_or("");
            let more = if v.lines().nth(1).is_some() {
                " ..."
            } else {
                ""
            };
            let _ = writeln!(o, "  {k}: {first}{more}");
        }
    }
    for t in &md.inputs {
        let m = &t.metadata;
        if !m.mean.is_empty() || !m.std.is_empty() {
            let _ = writeln!(
                o,
                "  input {} {}: normalization mean {:?} std {:?}",
                t.index,
                m.name.as_deref().unwrap_or(""),
                m.mean,
                m.std
            );
        }
    }
    let files = md.associated_files.iter().map(|f| {
        let file = &f.file;
        let locale = file
            .locale
            .as_deref()
            .map_or(String::new(), |l| format!(", locale {l}"));
        let tensor = f
            .tensor
            .as_deref()
            .map_or(String::new(), |t| format!(" '{t}'"));
        let bytes = f
            .bytes
            .map_or("not in the archive".to_string(), |b| format!("{b} bytes"));
        let about = file
            .description
            .as_deref()
            .map_or(String::new(), |d| format!(" - {d}"));
        let (name, kind, on) = (&file.name, &file.file_type, &f.attached_to);
        format!("{name} ({kind}{locale}) on {on}{tensor}: {bytes}{about}")
    });
    super::section(o, "  ", "associated files:", files);
    if let Some(e) = &md.archive_error {
        let _ = writeln!(o, "  archive: {e}");
    } else if !md.archive.is_empty() {
        let m: Vec<String> = md
            .archive
            .iter()
            .map(|p| format!("{} ({} bytes, {})", p.name, p.size, p.compression))
            .collect();
        let _ = writeln!(o, "  archive: {}", m.join(", "));
    }
}

/// The human-readable tables.
pub fn render_text(r: &InspectReport<'_>) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let _ = writeln!(
        o,
        "{}  ({} bytes, schema version {})",
        r.path, r.file_bytes, r.version
    );
    if let Some(d) = r.description {
        let _ = writeln!(o, "description: {d}");
    }
    if let Some(v) = &r.min_runtime_version {
        let _ = writeln!(o, "min_runtime_version: {v}");
    }
    let _ = writeln!(
        o,
        "kind: {}   fully_quantized: {}",
        s.kind_detail, s.fully_quantized
    );
    let _ = writeln!(o, "coverage: {}", s.coverage);
    for e in &s.evidence {
        let _ = writeln!(o, "  - {e}");
    }
    let _ = writeln!(
        o,
        "{} subgraphs, {} tensors ({} quantized, {} per-channel), {} operators, {} bytes of constants",
        s.subgraphs, s.tensors, s.quantized_tensors, s.per_channel_tensors, s.operators, s.constant_bytes
    );
    let _ = writeln!(o, "tensors by dtype:");
    for (d, n) in &s.counts_by_dtype {
        let c = s.constants_by_dtype.get(d);
        let _ = writeln!(
            o,
            "  {d:<10} {n:>6}  constants {:>6} ({:>10} bytes, {:>5.1}% of file)  activations {:>6}",
            c.map_or(0, |c| c.count),
            c.map_or(0, |c| c.bytes),
            c.and_then(|c| c.share_of_file).unwrap_or(0.0) * 100.0,
            s.activations_by_dtype.get(d).map_or(0, |a| a.count)
        );
    }
    let ops: Vec<String> = s
        .ops_by_type
        .iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect();
    let _ = writeln!(o, "ops: {}", ops.join(", "));
    if !r.metadata.is_empty() {
        let m: Vec<String> = r
            .metadata
            .iter()
            .map(|m| format!("{} ({} bytes)", m.name, m.bytes))
            .collect();
        let _ = writeln!(o, "metadata: {}", m.join(", "));
    }
    if let Some(md) = &r.tflite_metadata {
        render_tflite_metadata(&mut o, md);
    }
    for sg in &r.subgraphs {
        let _ = writeln!(
            o,
            "\nsubgraph {} {}: inputs {:?} outputs {:?}",
            sg.index,
            sg.name.unwrap_or(""),
            sg.inputs,
            sg.outputs
        );
        let _ = writeln!(
            o,
            "  {:>5}  {:<8} {:<18} {:>10}  {:<8}  {:<40}  name",
            "index", "dtype", "shape", "bytes", "role", "quantization"
        );
        for t in &sg.tensors {
            let role = match t.role {
                crate::model::TensorRole::Constant => "const",
                crate::model::TensorRole::Activation => "act",
                crate::model::TensorRole::Variable => "var",
            };
            let _ = writeln!(
                o,
                "  {:>5}  {:<8} {:<18} {:>10}  {:<8}  {:<40}  {}",
                t.index,
                t.dtype,
                format!("{:?}", t.shape),
                t.buffer_bytes,
                role,
                fmt_quant(t.quantization),
                t.name
            );
        }
        let _ = writeln!(
            o,
            "  {:>5}  {:<28} {:<24} {:<24} activation",
            "op", "type", "inputs", "outputs"
        );
        for op in sg.operators {
            let _ = writeln!(
                o,
                "  {:>5}  {:<28} {:<24} {:<24} {}",
                op.index,
                format!("{} v{}", op.op, op.version),
                format!("{:?}", op.inputs),
                format!("{:?}", op.outputs),
                op.fused_activation.as_deref().unwrap_or("")
            );
        }
    }
    o
}
