//! `quantscope eval FLOAT VARIANT... --images DIR|--inputs DIR [--labels-from folders|FILE.csv]
//! [preprocessing flags] [--cache FILE] [--shard K/N] [--json] [--html FILE]`, and
//! `quantscope eval --merge CACHE...`.

use super::preprocess_args::PreprocessArgs;
use crate::eval::{
    evaluate, list_inputs, markdown_table, merge_caches, resolve_shard, EvalOptions, InputKind,
    LabelsFrom, Report,
};
use crate::model::Model;
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// FLOAT_MODEL VARIANT... (variants of the float model: int8, fp16, dynamic-range, ...).
    pub models: Vec<PathBuf>,
    /// A folder of images, searched recursively.
    #[arg(long, conflicts_with = "inputs")]
    pub images: Option<PathBuf>,
    /// A folder of .npy inputs: NAME.npy, or NAME.0.npy, NAME.1.npy ... for several inputs.
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// `folders` (the first sub-folder names the class) or a CSV of file,label. Without it,
    /// agreement with the float model is the measure.
    #[arg(long)]
    pub labels_from: Option<String>,
    /// Class names, one per line (default: the float model's metadata or <prefix>_labels.txt).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub pp: PreprocessArgs,
    /// Kernel threads for every model (latencies are measured with this many).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// JSONL file of per-image results: resumed when it exists (same models and preprocessing).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// K/N: run the K-th (from 0) of N deterministic slices; N alone takes K from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Needs --cache.
    #[arg(long)]
    pub shard: Option<String>,
    /// Build the report from shard caches instead of running models.
    #[arg(long, num_args = 1.., conflicts_with = "inputs")]
    pub merge: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report (inline SVG plots).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Stop with an error after this many seconds (checked between ops).
    #[arg(long)]
    pub timeout: Option<f64>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let deadline = super::Deadline::start(a.timeout);
    eval(a, &deadline).map_err(|e| deadline.explain(e))
}

fn eval(a: Args, deadline: &super::Deadline) -> anyhow::Result<()> {
    let report = if !a.merge.is_empty() {
        if !a.models.is_empty() {
            bail!("--merge builds the report from caches: give no models");
        }
        merge_caches(&a.merge)?
    } else {
        run_models(&a, deadline)?
    };
    if let Some(h) = &a.html {
        let root = a.images.clone();
        let page = crate::eval::html::render(&report, root.as_deref())?;
        std::fs::write(h, page).with_context(|| format!("cannot write {}", h.display()))?;
    }
    print(&report, a.json)
}

fn run_models(a: &Args, deadline: &super::Deadline) -> anyhow::Result<Report> {
    let [float_path, variant_paths @ ..] = a.models.as_slice() else {
        bail!("give the float model and its variants (or --merge CACHE...)");
    };
    if variant_paths.is_empty() {
        bail!("give at least one variant after the float model");
    }
    let open = |p: &PathBuf| Model::open(p).with_context(|| p.display().to_string());
    let float = open(float_path)?;
    let variants: Vec<Model> = variant_paths.iter().map(open).collect::<Result<_, _>>()?;
    let (root, kind) = match (&a.images, &a.inputs) {
        (Some(d), None) => (d, InputKind::Images),
        (None, Some(d)) => (d, InputKind::Npy),
        _ => bail!("give --images DIR or --inputs DIR_OF_NPY"),
    };
    let label_set = crate::labels::resolve(a.labels.as_deref(), &float, Some(float_path))?;
    let classes: Vec<String> = label_set
        .primary()
        .map(|l| l.names.clone())
        .unwrap_or_default();
    let labels = match a.labels_from.as_deref() {
        None => LabelsFrom::None,
        Some("folders") => LabelsFrom::Folders,
        Some(csv) => LabelsFrom::Csv(PathBuf::from(csv)),
    };
    let items = list_inputs(
        root,
        kind,
        &labels,
        &classes,
        float.subgraphs[0].inputs.len(),
    )?;
    let shard = resolve_shard(a.shard.as_deref(), &|k| std::env::var(k).ok())?;
    if shard.is_some() && a.cache.is_none() {
        bail!("a shard's results go to --cache FILE (merge them with --merge)");
    }
    let pp = match kind {
        InputKind::Images => a.pp.resolve(&float, variants.first())?.0,
        InputKind::Npy => crate::preprocess::detect_defaults(&float, 0, None)
            .map(|r| r.0)
            .unwrap_or_else(|_| default_pp()),
    };
    let mut opts = EvalOptions::new(pp);
    opts.threads = a.threads;
    opts.cache = a.cache.clone();
    opts.shard = shard;
    opts.labels_source = labels.source();
    opts.class_names = classes;
    opts.cancel = deadline.flag.clone();
    if !a.json {
        opts.progress = Some(std::sync::Arc::new(|p: crate::eval::Progress| {
            if p.done == p.total || p.done % 50 == 0 {
                eprintln!(
                    "[{}/{}] {:.1} s{}",
                    p.done,
                    p.total,
                    p.elapsed_s,
                    p.eta_s
                        .map_or(String::new(), |e| format!(", {e:.0} s left"))
                );
            }
        }));
    }
    let names: Vec<String> = a.models.iter().map(|p| p.display().to_string()).collect();
    let vs: Vec<(&Model, &str)> = variants
        .iter()
        .zip(&names[1..])
        .map(|(m, n)| (m, n.as_str()))
        .collect();
    evaluate((&float, &names[0]), &vs, &items, kind, &opts)
}

/// Preprocessing is unused for .npy inputs; this only fills the field.
fn default_pp() -> crate::preprocess::Preprocess {
    use crate::preprocess::*;
    Preprocess {
        resize: ResizeMode::Stretch,
        crop_fraction: 1.0,
        filter: Filter::Bilinear,
        pad_color: [0; 3],
        channels: ChannelOrder::Rgb,
        layout: Layout::Nhwc,
        range: ValueRange::Unit,
        resize_lib: ResizeLib::Quantscope,
        crop_rule: None,
        shorter_side: None,
        exif: Exif::Apply,
        pipeline: None,
    }
}

fn print(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("{}\n", r.summary_line());
    print!("{}", markdown_table(r));
    for v in &r.variants {
        if !v.flips.is_empty() && v.flips_lost.is_empty() && v.flips_gained.is_empty() {
            println!(
                "\n{}: {} changed answers (no labels): {}",
                v.file.model,
                v.flips.len(),
                v.flips.join(" ")
            );
        } else if !v.flips.is_empty() {
            println!(
                "\n{}: {} flipped (float right, variant wrong: {}; the reverse: {})",
                v.file.model,
                v.flips.len(),
                v.flips_lost.join(" "),
                v.flips_gained.join(" ")
            );
        }
    }
    Ok(())
}
