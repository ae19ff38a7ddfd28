//! The trade-off report: per-image records (sorted by input name, so a resumed or merged run
//! adds in the same order as a single one) reduced to one row per model.

use super::record::ImageRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A model file as the report names it (each row of the table starts with these).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub model: String,
    pub sha256: String,
    pub file_bytes: u64,
    /// Bytes of constant tensor data by dtype name ("float32", "int8", ...).
    pub constant_bytes: BTreeMap<String, u64>,
}

/// What the report needs to know about a model, read once from the file (also stored in cache
/// headers so `--merge` needs no model files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    #[serde(flatten)]
    pub file: ModelFile,
    pub output_names: Vec<String>,
}

/// Metrics of one output of one model against the float model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputReport {
    pub index: usize,
    pub name: String,
    /// `sum |v - f| / count` over images and elements.
    pub mean_abs_diff: f64,
    /// `sum |v - f| / sum |f|` (null when the float output is all zero).
    pub mean_rel_diff: Option<f64>,
    pub sqnr_db_mean: Option<f64>,
    pub sqnr_db_p5: Option<f64>,
    pub sqnr_db_worst: Option<f64>,
    pub worst_image: Option<String>,
    /// Images whose output equals the float one exactly (infinite SQNR, left out of the mean).
    pub exact_images: usize,
    /// Share of elements whose sign agrees with float; null unless the float output is
    /// negative somewhere (sign-coded outputs such as watermark message logits).
    pub bit_accuracy: Option<f64>,
    /// `mean |v| - mean |f|`: the confidence lost (negative) or gained, for sign-coded outputs.
    pub bit_confidence_diff: Option<f64>,
    /// Mean KL(p_float || p_variant) in nats, for classification outputs.
    pub kl_mean: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub label: String,
    pub images: usize,
    pub float_accuracy: f64,
    pub accuracy: f64,
    /// `accuracy - float_accuracy`.
    pub change: f64,
}

/// One row of the trade-off table. Top-level metrics are those of output 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantReport {
    #[serde(flatten)]
    pub file: ModelFile,
    /// Median wall time of one invocation over the images (our engine, `threads` threads).
    pub latency_ms: Option<f64>,
    pub top1_accuracy: Option<f64>,
    pub top5_accuracy: Option<f64>,
    pub top1_agreement: Option<f64>,
    /// Mean |top-5(float) ∩ top-5(variant)| / 5.
    pub topk_overlap: Option<f64>,
    pub output_sqnr_db_mean: Option<f64>,
    pub output_sqnr_db_p5: Option<f64>,
    pub output_sqnr_db_worst: Option<f64>,
    pub worst_image: Option<String>,
    pub mean_abs_diff: f64,
    pub mean_rel_diff: Option<f64>,
    pub bit_accuracy: Option<f64>,
    pub bit_confidence_diff: Option<f64>,
    pub kl_mean: Option<f64>,
    pub outputs: Vec<OutputReport>,
    pub per_class: Vec<ClassReport>,
    /// Images where being right differs from the float model (with labels), or where the top-1
    /// differs (without): both directions, sorted.
    pub flips: Vec<String>,
    /// Float right, variant wrong (labelled images only).
    pub flips_lost: Vec<String>,
    /// Float wrong, variant right (labelled images only).
    pub flips_gained: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub images: usize,
    pub labelled_images: usize,
    #[serde(flatten)]
    pub settings: RunSettings,
    /// The float model, measured like the variants (its agreement is 1 by definition).
    pub reference: VariantReport,
    pub variants: Vec<VariantReport>,
}

impl Report {
    /// "58 inputs (58 labelled, labels from folders), 1 thread(s)": the line above the table.
    pub fn summary_line(&self) -> String {
        format!(
            "{} inputs ({} labelled{}), {} thread(s)",
            self.images,
            self.labelled_images,
            self.settings
                .labels_source
                .as_ref()
                .map_or(String::new(), |s| format!(", labels from {s}")),
            self.settings.threads
        )
    }
}

/// How the inputs were run: the report's header, and with the models a cache's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// "folders", "csv: FILE", or null (agreement with the float model is the measure).
    pub labels_source: Option<String>,
    /// The preprocessing applied to images (null for .npy inputs).
    pub preprocess: Option<serde_json::Value>,
    pub threads: usize,
    pub class_names: Vec<String>,
}

/// Header facts the report carries (also in cache headers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub models: Vec<ModelInfo>,
    #[serde(flatten)]
    pub settings: RunSettings,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn output_report(records: &[ImageRecord], m: usize, k: usize, name: &str) -> OutputReport {
    let outs = || {
        records
            .iter()
            .filter_map(move |r| r.models[m].outputs.get(k).map(|o| (r, o)))
    };
    let (mut n, mut abs_e, mut abs_f, mut abs_v, mut agree) = (0u64, 0.0, 0.0, 0.0, 0u64);
    let mut neg = false;
    let mut sq: Vec<(f64, &str)> = Vec::new();
    let mut exact = 0;
    for (r, o) in outs() {
        n += o.n;
        abs_e += o.sum_abs_e;
        abs_f += o.sum_abs_f;
        abs_v += o.sum_abs_v;
        agree += o.sign_agree;
        neg |= o.has_negative;
        match crate::quant::metrics::sqnr_db(o.sum_f2, o.sum_e2) {
            Some(s) => sq.push((s, r.input.as_str())),
            None if o.sum_e2 == 0.0 => exact += 1,
            None => {}
        }
    }
    sq.sort_by(|a, b| a.0.total_cmp(&b.0));
    let nf = n.max(1) as f64;
    let kls: Vec<f64> = outs().filter_map(|(_, o)| o.kl).collect();
    OutputReport {
        index: k,
        name: name.to_string(),
        mean_abs_diff: abs_e / nf,
        mean_rel_diff: (abs_f > 0.0).then(|| abs_e / abs_f),
        sqnr_db_mean: mean(sq.iter().map(|s| s.0)),
        sqnr_db_p5: (!sq.is_empty()).then(|| sq[((sq.len() - 1) as f64 * 0.05).round() as usize].0),
        sqnr_db_worst: sq.first().map(|s| s.0),
        worst_image: sq.first().map(|s| s.1.to_string()),
        exact_images: exact,
        bit_accuracy: neg.then(|| agree as f64 / nf),
        bit_confidence_diff: neg.then(|| (abs_v - abs_f) / nf),
        kl_mean: (kls.len() == records.len() && !kls.is_empty())
            .then(|| mean(kls.into_iter()))
            .flatten(),
    }
}

fn variant_report(records: &[ImageRecord], info: &RunInfo, m: usize) -> VariantReport {
    let mi = &info.models[m];
    let right = |r: &ImageRecord, model: usize| -> Option<bool> {
        Some(r.models[model].top.first()? == &r.label?)
    };
    let labelled: Vec<&ImageRecord> = records
        .iter()
        .filter(|r| r.label.is_some() && !r.models[m].top.is_empty())
        .collect();
    let top1_accuracy = mean(labelled.iter().map(|r| right(r, m).unwrap() as u8 as f64));
    let top5_accuracy = mean(
        labelled
            .iter()
            .map(|r| r.models[m].top.contains(&r.label.unwrap()) as u8 as f64),
    );
    let classified: Vec<&ImageRecord> = records
        .iter()
        .filter(|r| !r.models[m].top.is_empty() && !r.models[0].top.is_empty())
        .collect();
    let top1_agreement = mean(
        classified
            .iter()
            .map(|r| (r.models[m].top[0] == r.models[0].top[0]) as u8 as f64),
    );
    let outputs: Vec<OutputReport> = mi
        .output_names
        .iter()
        .enumerate()
        .map(|(k, name)| output_report(records, m, k, name))
        .collect();
    let o0 = outputs.first();
    let topk_overlap = mean(
        records
            .iter()
            .filter_map(|r| r.models[m].outputs.first().and_then(|o| o.topk_overlap)),
    );
    let mut classes: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
    for r in &labelled {
        let e = classes.entry(r.label.unwrap()).or_default();
        e.0 += 1;
        e.1 += right(r, 0).unwrap_or(false) as usize;
        e.2 += right(r, m).unwrap_or(false) as usize;
    }
    let per_class = classes
        .into_iter()
        .map(|(c, (n, f, v))| {
            let (fa, va) = (f as f64 / n as f64, v as f64 / n as f64);
            ClassReport {
                label: info
                    .settings
                    .class_names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| c.to_string()),
                images: n,
                float_accuracy: fa,
                accuracy: va,
                change: va - fa,
            }
        })
        .collect();
    let (mut flips, mut lost, mut gained) = (Vec::new(), Vec::new(), Vec::new());
    for r in &classified {
        match (right(r, 0), right(r, m)) {
            (Some(f), Some(v)) if f != v => {
                flips.push(r.input.clone());
                if f { &mut lost } else { &mut gained }.push(r.input.clone());
            }
            (Some(_), Some(_)) => {}
            // Without a label a flip is a changed answer, neither lost nor gained.
            _ if r.models[m].top[0] != r.models[0].top[0] => flips.push(r.input.clone()),
            _ => {}
        }
    }
    VariantReport {
        file: mi.file.clone(),
        latency_ms: median(records.iter().map(|r| r.models[m].latency_ms).collect()),
        top1_accuracy,
        top5_accuracy,
        top1_agreement,
        topk_overlap,
        output_sqnr_db_mean: o0.and_then(|o| o.sqnr_db_mean),
        output_sqnr_db_p5: o0.and_then(|o| o.sqnr_db_p5),
        output_sqnr_db_worst: o0.and_then(|o| o.sqnr_db_worst),
        worst_image: o0.and_then(|o| o.worst_image.clone()),
        mean_abs_diff: o0.map_or(0.0, |o| o.mean_abs_diff),
        mean_rel_diff: o0.and_then(|o| o.mean_rel_diff),
        bit_accuracy: o0.and_then(|o| o.bit_accuracy),
        bit_confidence_diff: o0.and_then(|o| o.bit_confidence_diff),
        kl_mean: o0.and_then(|o| o.kl_mean),
        outputs,
        per_class,
        flips,
        flips_lost: lost,
        flips_gained: gained,
    }
}

/// The report over `records` (any order; duplicates by input name are dropped, first kept).
pub fn build_report(mut records: Vec<ImageRecord>, info: &RunInfo) -> Report {
    records.sort_by(|a, b| a.input.cmp(&b.input));
    records.dedup_by(|a, b| a.input == b.input);
    let labelled_images = records.iter().filter(|r| r.label.is_some()).count();
    let mut rows = (0..info.models.len()).map(|m| variant_report(&records, info, m));
    let reference = rows.next().expect("the float model is always model 0");
    Report {
        images: records.len(),
        labelled_images,
        settings: info.settings.clone(),
        reference,
        variants: rows.collect(),
    }
}

/// A share as a percentage with two decimals ("-" when absent).
pub fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.2} %", x * 100.0))
}

/// Bytes in KB/MB/GB (binary units).
pub fn human_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.2} MB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KB", b as f64 / 1024.0)
    }
}

/// The trade-off table as Markdown: one column per model, one row per metric.
pub fn markdown_table(r: &Report) -> String {
    let cols: Vec<&VariantReport> = std::iter::once(&r.reference).chain(&r.variants).collect();
    let name = |v: &VariantReport| {
        std::path::Path::new(&v.file.model)
            .file_name()
            .map_or(v.file.model.clone(), |f| f.to_string_lossy().into_owned())
    };
    let mut s = String::from("| metric |");
    for c in &cols {
        s += &format!(" {} |", name(c));
    }
    s += "\n|---|";
    s += &"---|".repeat(cols.len());
    s += "\n";
    let mut row = |label: &str, f: &dyn Fn(usize, &VariantReport) -> String| {
        s += &format!("| {label} |");
        for (i, c) in cols.iter().enumerate() {
            s += &format!(" {} |", f(i, c));
        }
        s += "\n";
    };
    row("size", &|_, c| human_bytes(c.file.file_bytes));
    row("latency (median, ms)", &|_, c| {
        c.latency_ms.map_or("-".into(), |l| format!("{l:.3}"))
    });
    if r.labelled_images > 0 {
        row("top-1 accuracy", &|_, c| pct(c.top1_accuracy));
        row("top-5 accuracy", &|_, c| pct(c.top5_accuracy));
    }
    row("top-1 agreement", &|i, c| {
        if i == 0 {
            "100 % (ref)".into()
        } else {
            pct(c.top1_agreement)
        }
    });
    row(
        "output SQNR mean / p5 (dB)",
        &|i, c| match (i, c.output_sqnr_db_mean) {
            (0, _) => "(ref)".into(),
            (_, Some(m)) => format!("{m:.1} / {:.1}", c.output_sqnr_db_p5.unwrap_or(m)),
            _ => "exact".into(),
        },
    );
    row("mean abs diff", &|i, c| {
        if i == 0 {
            "(ref)".into()
        } else {
            format!("{:.3e}", c.mean_abs_diff)
        }
    });
    row("mean rel diff", &|i, c| {
        if i == 0 {
            "(ref)".into()
        } else {
            pct(c.mean_rel_diff)
        }
    });
    if cols.iter().any(|c| c.bit_accuracy.is_some()) {
        row("bit accuracy", &|_, c| pct(c.bit_accuracy));
    }
    row("KL (nats)", &|i, c| match (i, c.kl_mean) {
        (0, _) => "(ref)".into(),
        (_, Some(k)) => format!("{k:.2e}"),
        _ => "-".into(),
    });
    row("flips (lost / gained)", &|i, c| {
        if i == 0 {
            "-".into()
        } else {
            format!("{} / {}", c.flips_lost.len(), c.flips_gained.len())
        }
    });
    s
}
