//! `quantscope compare [FLOAT_MODEL] INT8_MODEL --image IMG|DIR [preprocessing flags]`.

use super::preprocess_args::PreprocessArgs;
use crate::compare::pipeline_match::accepts;
use crate::compare::{aggregate, rank_layers, Comparator, CompareOptions, ImageComparison};
use crate::model::Model;
use crate::preprocess::{load_image_with, ImageLimits};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// FLOAT_MODEL INT8_MODEL, or INT8_MODEL alone (compared with its float twin).
    #[arg(num_args = 1..=2, required = true)]
    pub models: Vec<PathBuf>,
    /// An image, or a folder of images (every PNG/JPEG/BMP/WebP/GIF in it).
    #[arg(long)]
    pub image: PathBuf,
    #[command(flatten)]
    pub pp: PreprocessArgs,
    /// Labels file, one per line, for every output (default: the label file in the model's
    /// metadata, else <prefix>_labels.txt beside the model).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Skip per-layer errors (faster, less memory).
    #[arg(long)]
    pub no_layers: bool,
    /// Also try the other channel orders and value ranges when the models agree but the float
    /// model is unsure (7 more pairs of runs); by default they run only when the models disagree.
    #[arg(long)]
    pub alternatives_when_unsure: bool,
    #[arg(long)]
    pub json: bool,
    /// Print the wall time of each phase (model loading, preprocessing, runs, layer errors,
    /// alternatives, output) to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Worker threads for everything the comparison runs (both models at once, their
    /// kernels, the per-layer errors); default: every core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop with an error after this many seconds (checked between ops and images).
    #[arg(long)]
    pub timeout: Option<f64>,
}

pub fn image_files(p: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot read folder {}", p.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|f| crate::preprocess::is_image_path(f))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("no images in {}", p.display());
        }
        Ok(v)
    } else {
        Ok(vec![p.to_path_buf()])
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = a.threads {
        pool = pool.num_threads(n.max(1));
    }
    let pool = pool.build().context("cannot start the thread pool")?;
    pool.install(|| super::Deadline::run(a.timeout, |d| compare(a, d)))
}

fn compare(a: Args, deadline: &super::Deadline) -> anyhow::Result<()> {
    let mut timings = crate::compare::Timings::default();
    let t0 = std::time::Instant::now();
    let open = |p: &PathBuf| Model::open(p).with_context(|| p.display().to_string());
    let (float, quant) = match a.models.as_slice() {
        [q] => (None, open(q)?),
        [f, q] => (Some(open(f)?), open(q)?),
        _ => unreachable!("clap limits the count"),
    };
    let quant_path = a.models.last().unwrap();
    let mut label_set = crate::labels::resolve(a.labels.as_deref(), &quant, Some(quant_path))?;
    // Metadata is often added to the float model only: its labels serve the pair too.
    if let (true, Some(f), [fp, _]) = (label_set.is_empty(), &float, a.models.as_slice()) {
        let quant_warnings = std::mem::take(&mut label_set.warnings);
        label_set = crate::labels::resolve(None, f, Some(fp))?;
        label_set.warnings.splice(0..0, quant_warnings);
    }
    let label_warnings: Vec<String> = label_set
        .warnings
        .iter()
        .map(|w| format!("labels: {w}"))
        .collect();
    if !a.json {
        for w in &label_warnings {
            eprintln!("warning: {w}");
        }
    }
    let (pp, why) = a.pp.resolve(&quant, float.as_ref())?;
    timings.add("open models, labels, preprocessing defaults", t0);
    let mut opts = CompareOptions {
        top_k: a.top_k,
        label_set,
        layers: !a.no_layers,
        alternatives_when_unsure: a.alternatives_when_unsure,
        ..Default::default()
    };
    opts.engine.cancel = deadline.flag.clone();
    // Engine threads 0: the kernels split over the pool `run` installed (--threads).
    let mut cmp = Comparator::new(float.as_ref(), &quant, opts)?;
    for (name, ms) in std::mem::take(&mut cmp.timings.0) {
        timings.add_ms(name, ms);
    }
    let t0 = std::time::Instant::now();
    let mut t_decode = 0.0;
    let files = image_files(&a.image)?;
    let mut results = Vec::new();
    for (i, f) in files.iter().enumerate() {
        deadline.check()?;
        if files.len() > 1 && !a.json {
            eprintln!("[{}/{}] {}", i + 1, files.len(), f.display());
        }
        let t = std::time::Instant::now();
        let img = load_image_with(f, ImageLimits::default(), pp.exif)?;
        t_decode += t.elapsed().as_secs_f64() * 1e3;
        results.push(cmp.compare(&img, &f.display().to_string(), &pp, why.clone())?);
    }
    let mut t0 = timings.add("compare images", t0);
    let matched = match &a.pp.match_input {
        Some(t) => {
            deadline.check()?;
            let photos = super::preprocess_args::match_photos(&files, t)?;
            // The tensors are run through the model whose input dtype they have (the quantized
            // one unless only the float model's matches).
            let (model, path) = match (&float, a.models.as_slice()) {
                (Some(f), [fp, _]) if accepts(f, &photos) && !accepts(&quant, &photos) => (f, fp),
                _ => (&quant, quant_path),
            };
            let eo = crate::engine::EngineOptions {
                cancel: deadline.flag.clone(),
                ..Default::default()
            };
            Some(crate::compare::pipeline_match::match_pipeline(
                model,
                &path.display().to_string(),
                &photos,
                &pp,
                eo,
            )?)
        }
        None => None,
    };
    if matched.is_some() {
        t0 = timings.add("match input", t0);
    }
    if a.json {
        for r in &mut results {
            r.warnings.extend(label_warnings.iter().cloned());
        }
        let mut doc = if results.len() == 1 {
            serde_json::to_value(&results[0])?
        } else {
            serde_json::to_value(crate::report::CompareReport::new(results))?
        };
        if let (Some(m), Some(obj)) = (&matched, doc.as_object_mut()) {
            obj.insert("pipeline_match".into(), serde_json::to_value(m)?);
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for r in &results {
            print_text(r);
        }
        if results.len() > 1 {
            let ag = aggregate(&results);
            println!(
                "\n== {} images ==\n{}",
                ag.images,
                serde_json::to_string_pretty(&ag)?
            );
        }
        if let Some(m) = &matched {
            println!();
            super::preprocess_args::print_match(m);
        }
    }
    if a.timings {
        timings.add("print results", t0);
        eprintln!("timings (ms):");
        let show = |name: &str, ms: f64| eprintln!("  {ms:>9.1}  {name}");
        for (name, ms) in &timings.0 {
            show(name, *ms);
            if *name == "compare images" {
                show("  decode images", t_decode);
                for (n, ms) in &cmp.timings.0 {
                    show(&format!("  {n}"), *ms);
                }
            }
        }
    }
    Ok(())
}

fn print_text(r: &ImageComparison) {
    println!("{} (reference: {})", r.image, r.reference);
    let p = &r.preprocess;
    println!(
        "  preprocessing: {:?} {:?} {:?} {:?} range {}; input clipped {:.2}%, {} levels",
        p.applied.resize,
        p.applied.filter,
        p.applied.channels,
        p.applied.layout,
        p.applied.range.label(),
        p.input_clipped_fraction * 100.0,
        p.input_levels_used
    );
    for w in &p.why {
        println!("    - {w}");
    }
    for o in &r.outputs {
        let m = &o.metrics;
        println!(
            "  output {} '{}' {:?}: SQNR {} dB, cosine {}, max |err| {:.4} ({} LSB){}",
            o.index,
            o.name,
            o.shape,
            m.sqnr_db.map_or("inf".into(), |s| format!("{s:.2}")),
            m.cosine.map_or("-".into(), |c| format!("{c:.5}")),
            m.max_abs_err,
            m.max_abs_err_lsb.map_or("-".into(), |l| format!("{l:.1}")),
            if o.has_negative {
                format!(", sign agreement {:.1}%", o.bit_accuracy * 100.0)
            } else {
                String::new()
            }
        );
        if let Some(c) = &o.classification {
            let fmt = |v: &[crate::compare::Scored]| {
                v.iter()
                    .map(|s| {
                        format!(
                            "{}:{:.3}",
                            s.label.clone().unwrap_or_else(|| s.index.to_string()),
                            s.score
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if let Some(src) = &c.labels_source {
                println!("    labels: {src}");
            }
            println!("    float top-k: {}", fmt(&c.top_k_float));
            println!("    quant top-k: {}", fmt(&c.top_k_quant));
            println!(
                "    top-1 {} | top-k overlap {:.2} | KL {:.5} | max prob delta {:.4}",
                if c.top1_agree { "agrees" } else { "DISAGREES" },
                c.top_k_overlap,
                c.kl_divergence,
                c.max_prob_delta
            );
        }
        if let Some(iou) = o.mask_iou {
            println!("    mask IoU {iou:.4}");
        }
    }
    let ranked = rank_layers(&r.layers);
    if !ranked.is_empty() {
        println!("  layers adding the most error (local SQNR, lowest first):");
        for l in ranked.iter().take(5) {
            println!(
                "    op {:>3} {:<18} local {:>7.2} dB  cumulative {:>7} dB  {}",
                l.op_index.unwrap_or(0),
                l.op,
                l.local.unwrap().sqnr_db.unwrap(),
                l.cumulative
                    .sqnr_db
                    .map_or("inf".into(), |s| format!("{s:.2}")),
                l.name
            );
        }
    }
    for w in &r.warnings {
        println!("  WARNING: {w}");
    }
}
