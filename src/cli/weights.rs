//! `quantscope weights MODEL [--float FLOAT_MODEL | --simulate BITS ...] [--json] [--csv FILE]`.

use super::section;
use crate::model::Model;
use crate::quant::simulate::{parse_clip, Bits, Clip, Scheme};
use crate::quant::{
    analyze, BlockAnalysis, Options, Reference, Severity, TensorAnalysis, WeightsReport,
};
use anyhow::{bail, Context};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SimBits {
    Int4,
    Int8,
    Int16,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Granularity {
    PerChannel,
    PerTensor,
    /// One float16 scale per 32 elements of a row (AI Edge Quantizer's BLOCKWISE_32).
    #[value(name = "blockwise-32")]
    Blockwise32,
    #[value(name = "blockwise-64")]
    Blockwise64,
    #[value(name = "blockwise-128")]
    Blockwise128,
}

impl Granularity {
    fn block_size(self) -> Option<u32> {
        match self {
            Granularity::Blockwise32 => Some(32),
            Granularity::Blockwise64 => Some(64),
            Granularity::Blockwise128 => Some(128),
            _ => None,
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
quantscope weights model_int8.tflite --float model_f32.tflite     error of each weight vs the float model\n  \
quantscope weights model_f32.tflite --simulate int8                what int8 per-channel would cost\n  \
quantscope weights model_f32.tflite --simulate int4 --granularity per-tensor --asymmetric --clip mse\n  \
quantscope weights model_f32.tflite --simulate int4 --granularity blockwise-32   as dynamic_wi4b32_afp32 would\n  \
quantscope weights model_int8.tflite --json > weights.json")]
pub struct Args {
    /// The .tflite file to analyse (quantized, or float with --simulate).
    pub model: PathBuf,
    /// The same network converted without quantization: each constant is paired with its float
    /// counterpart (by name, then by op position) and the quantization error is measured.
    #[arg(long, value_name = "FLOAT_MODEL", conflicts_with = "simulate")]
    pub float: Option<PathBuf>,
    /// Quantize MODEL's float weights in simulation and measure the error.
    #[arg(long, value_enum, value_name = "BITS")]
    pub simulate: Option<SimBits>,
    /// Simulation: one scale per output channel, one per tensor, or one per block of 32/64/128
    /// elements along the last dimension (symmetric, min-max, as the AI Edge Quantizer).
    #[arg(long, value_enum, default_value = "per-channel", requires = "simulate")]
    pub granularity: Granularity,
    /// Simulation: zero point 0, narrow range (default; TFLite's weights).
    #[arg(long, conflicts_with = "asymmetric", requires = "simulate")]
    pub symmetric: bool,
    /// Simulation: full range with a zero point.
    #[arg(long, requires = "simulate")]
    pub asymmetric: bool,
    /// Simulation clip range: minmax, mse, or percentile:P (e.g. percentile:99.99).
    #[arg(long, default_value = "minmax", value_parser = parse_clip, requires = "simulate")]
    pub clip: Clip,
    /// One JSON document on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Include a histogram per channel in the JSON (large).
    #[arg(long)]
    pub channel_histograms: bool,
    /// Also write one CSV row per tensor and per channel to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Rows in the text table's "worst tensors" list.
    #[arg(long, default_value_t = 10)]
    pub worst: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = super::open_model(&args.model)?;
    let float = match &args.float {
        Some(p) => Some(super::open_model(p)?),
        None => None,
    };
    if let Some(f) = &float {
        let quantized = |m: &Model| {
            m.subgraphs
                .iter()
                .flat_map(|g| &g.tensors)
                .filter(|t| {
                    t.is_constant && t.quantization.as_ref().is_some_and(|q| q.is_quantized())
                })
                .count()
        };
        let nf = f
            .subgraphs
            .iter()
            .flat_map(|g| &g.tensors)
            .filter(|t| t.is_constant && t.dtype.is_float())
            .count();
        if nf == 0 {
            bail!(
                "{}: the float model has no float constants to compare with ({} quantized constants: is it the quantized model?)",
                args.float.as_ref().unwrap().display(),
                quantized(f)
            );
        }
    }
    let opts = Options {
        simulate: args.simulate.map(|b| Scheme {
            bits: match b {
                SimBits::Int4 => Bits::Int4,
                SimBits::Int8 => Bits::Int8,
                SimBits::Int16 => Bits::Int16,
            },
            symmetric: !args.asymmetric,
            per_channel: args.granularity == Granularity::PerChannel,
            clip: args.clip,
            block_size: args.granularity.block_size(),
        }),
        channel_histograms: args.channel_histograms,
    };
    let report = analyze(&model, float.as_ref(), &opts)?;
    if let Some(path) = &args.csv {
        std::fs::write(path, crate::report::csv::weights(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report, args.worst));
    }
    Ok(())
}

fn f(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.prec$}"),
        _ => "-".into(),
    }
}

fn sqnr(t: &TensorAnalysis) -> String {
    match (t.error.as_ref(), t.errors.sqnr_db) {
        (None, _) => "-".into(),
        (Some(_), Some(s)) => format!("{s:.2}"),
        (Some(_), None) => "exact".into(),
    }
}

/// `FULLY_CONNECTED#0 weights` -> `FC#0 weights` for the table.
fn short_role(r: Option<&str>) -> String {
    let r = r.unwrap_or("-");
    short(
        &r.replace("FULLY_CONNECTED", "FC")
            .replace("DEPTHWISE_CONV_2D", "DW_CONV_2D"),
        24,
    )
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// The per-block summary of a blockwise tensor and its worst blocks.
fn render_blocks(o: &mut String, t: &TensorAnalysis, b: &BlockAnalysis) {
    let _ = writeln!(
        o,
        "\nblockwise tensor {} '{}' {:?}: {} blocks of {} ({} rows x {}), integers in [{}, {}]",
        t.tensor.index,
        short(&t.tensor.name, 60),
        t.shape,
        b.scale.len(),
        b.block_size,
        b.rows,
        b.blocks_per_row,
        b.int_range.0,
        b.int_range.1
    );
    let _ = writeln!(o, "  {}", b.scale_summary(6));
    let _ = writeln!(
        o,
        "  worst blocks by {}:",
        if b.has_errors() {
            "SQNR"
        } else {
            "scale (no reference)"
        }
    );
    for w in &b.worst {
        let _ = writeln!(
            o,
            "    [row {:>5}, block {:>4}] scale {:.6e}  SQNR {:>8} dB  maxLSB {:>6}  clipped {:>3}  saturated {:>3}",
            w.row,
            w.column,
            w.scale,
            if b.has_errors() {
                w.sqnr_db.map_or("exact".into(), |s| format!("{s:.2}"))
            } else {
                "-".into()
            },
            f(w.max_abs_err_lsb, 3),
            w.clipped,
            w.saturated
        );
    }
}

/// The human-readable report.
pub fn render_text(r: &WeightsReport, worst: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", r.model);
    match (r.reference, &r.float_model, &r.scheme) {
        ("float_model", Some(f), _) => {
            let _ = writeln!(o, "reference: float model {f}");
        }
        ("simulated", _, Some(s)) => {
            let _ = writeln!(
                o,
                "reference: simulated quantization of the float weights ({s})"
            );
        }
        _ => {
            let _ = writeln!(
                o,
                "reference: none (pass --float FLOAT_MODEL or --simulate int8 for error metrics)"
            );
        }
    }
    let _ = writeln!(
        o,
        "\n{:>5} {:<13} {:<16} {:<24} {:>5} {:>6} {:>5} {:>6} {:>6} {:>8} {:>7} {:>7} {:>7} {:>6}  name",
        "index", "dtype", "shape", "role", "chans", "levels", "bits", "range", "sat", "SQNR dB", "maxLSB", "rms/s", "clip%", "checks"
    );
    for t in &r.tensors {
        let dtype = match &t.reference {
            Some(Reference::Simulated { dtype, .. }) => format!("{}>{}", t.dtype, dtype),
            _ => t.dtype.to_string(),
        };
        let nchecks = t
            .checks
            .iter()
            .filter(|c| c.severity >= Severity::Warning)
            .count();
        let _ = writeln!(
            o,
            "{:>5} {:<13} {:<16} {:<24} {:>5} {:>6} {:>5} {:>6} {:>6} {:>8} {:>7} {:>7} {:>7} {:>6}  {}",
            t.tensor.index,
            short(&dtype, 13),
            short(&format!("{:?}", t.shape), 16),
            short_role(t.role.as_deref()),
            if t.per_channel { t.channel_count.to_string() } else { "-".into() },
            t.range.levels_used.map_or("-".into(), |l| l.to_string()),
            f(t.range.effective_bits, 2),
            t.range.range_used.map_or("-".into(), |u| format!("{:.0}%", 100.0 * u)),
            t.range.saturated.map_or("-".into(), |s| s.to_string()),
            sqnr(t),
            f(t.errors.max_abs_err_lsb, 3),
            f(t.errors.rmse_over_scale, 3),
            t.errors.clip_rate.map_or("-".into(), |c| format!("{:.3}", 100.0 * c)),
            if nchecks == 0 { String::new() } else { nchecks.to_string() },
            short(&t.tensor.name, 60)
        );
    }
    let checks = r.tensors.iter().flat_map(|t| &t.checks).map(|c| {
        let sev = match c.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        format!("{sev}: {}", c.message)
    });
    section(&mut o, "", "\nchecks:", checks);
    for t in &r.tensors {
        if let Some(b) = &t.blocks {
            render_blocks(&mut o, t, b);
        }
    }
    for t in r
        .tensors
        .iter()
        .filter(|t| !t.dead_channels.is_empty() && t.per_channel)
    {
        let _ = writeln!(
            o,
            "dead channels of tensor {} '{}': {:?}",
            t.tensor.index, t.tensor.name, t.dead_channels
        );
    }
    let ru = &r.rollup;
    let _ = writeln!(
        o,
        "\n{} tensors analysed, {} compared with a reference, {} skipped; {} errors, {} warnings",
        ru.tensors_analysed, ru.tensors_compared, ru.tensors_skipped, ru.errors, ru.warnings
    );
    if ru.tensors_compared > 0 {
        let _ = writeln!(
            o,
            "model SQNR over all compared weights: {} dB",
            ru.overall_sqnr_db
                .map_or("exact (inf)".into(), |s| format!("{s:.2}"))
        );
        let _ = writeln!(o, "worst tensors by SQNR:");
        for w in ru.worst.iter().take(worst) {
            let _ = writeln!(
                o,
                "  {:>8} dB  rms/s {:>6}  maxLSB {:>7}  {:>5} {:<24} {}",
                w.sqnr_db.map_or("exact".into(), |s| format!("{s:.2}")),
                f(w.rmse_over_scale, 3),
                f(w.max_abs_err_lsb, 3),
                w.tensor.index,
                short_role(w.role.as_deref()),
                short(&w.tensor.name, 60)
            );
        }
    }
    let _ = writeln!(o, "constant bytes by dtype:");
    for (d, b) in &ru.bytes_by_dtype {
        let _ = writeln!(
            o,
            "  {d:<8} {:>5} tensors {:>12} elements {:>12} bytes",
            b.tensors, b.elements, b.bytes
        );
    }
    let _ = writeln!(
        o,
        "  total {} bytes; as float32 {} bytes; saved {} bytes ({:.1}%)",
        ru.constant_bytes,
        ru.float32_bytes,
        ru.bytes_saved,
        100.0 * ru.bytes_saved as f64 / ru.float32_bytes.max(1) as f64
    );
    if let Some(fb) = ru.float_model_bytes {
        let _ = writeln!(o, "  float model constants: {fb} bytes");
    }
    if let Some(sb) = ru.simulated_bytes {
        let _ = writeln!(
            o,
            "  with the simulated tensors quantized: {sb} bytes ({:.1}% of now)",
            100.0 * sb as f64 / ru.constant_bytes.max(1) as f64
        );
    }
    section(
        &mut o,
        "",
        &format!("unpaired tensors of {} (no error measured):", r.model),
        r.unmatched_quant
            .iter()
            .map(|u| format!("{:>5} '{}': {}", u.tensor.index, u.tensor.name, u.reason)),
    );
    section(
        &mut o,
        "",
        "float constants nothing was paired with:",
        r.unmatched_float.iter().map(|u| {
            let role = u.role.as_deref().unwrap_or("no consumer");
            format!("{:>5} '{}' ({role})", u.tensor.index, u.tensor.name)
        }),
    );
    section(
        &mut o,
        "",
        "not analysed:",
        r.skipped.iter().map(|s| {
            let (i, name) = (s.tensor.index, &s.tensor.name);
            format!("{i:>5} {:<8} '{name}': {}", s.dtype, s.reason)
        }),
    );
    o
}
