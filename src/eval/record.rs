//! One image's results, compact enough to stream to a JSONL cache and to merge: per model, the
//! top-k classes and latency; per output, the sums every report metric is built from.

use crate::compare::compare_output;
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// Sums of one output of one model against the float model's output on one image
/// (`f`: float, `v`: this model; dequantized).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputSums {
    pub n: u64,
    /// `sum f^2`
    pub sum_f2: f64,
    /// `sum (v - f)^2`
    pub sum_e2: f64,
    /// `sum |v - f|`
    pub sum_abs_e: f64,
    /// `sum |f|`
    pub sum_abs_f: f64,
    /// `sum |v|`
    pub sum_abs_v: f64,
    /// Elements where `(f > 0) == (v > 0)`.
    pub sign_agree: u64,
    /// `f` has a negative element (the output may be sign-coded).
    pub has_negative: bool,
    /// KL(p_f || p_v) for classification vectors (see [`crate::compare::Classification`]).
    #[serde(default)]
    pub kl: Option<f64>,
    /// |top-k(f) ∩ top-k(v)| / k for classification vectors.
    #[serde(default)]
    pub topk_overlap: Option<f64>,
}

/// One model on one image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// Top-k class indices of output 0 (empty when output 0 is not a classification vector).
    pub top: Vec<usize>,
    /// Wall time of the invocation.
    pub latency_ms: f64,
    pub outputs: Vec<OutputSums>,
}

/// One image (or `.npy` sample): index 0 of `models` is the float model, then the variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub input: String,
    pub input_sha256: String,
    pub label: Option<usize>,
    pub models: Vec<ModelRun>,
}

/// k of the top-k lists.
pub const TOP_K: usize = 5;

/// The sums of `v` against `f` for one output.
pub fn output_sums(f: &ArrayD<f32>, v: &ArrayD<f32>) -> OutputSums {
    let mut s = OutputSums {
        n: f.len() as u64,
        ..Default::default()
    };
    for (&a, &b) in f.iter().zip(v.iter()) {
        let (a, b) = (a as f64, b as f64);
        let e = b - a;
        s.sum_f2 += a * a;
        s.sum_e2 += e * e;
        s.sum_abs_e += e.abs();
        s.sum_abs_f += a.abs();
        s.sum_abs_v += b.abs();
        s.sign_agree += ((a > 0.0) == (b > 0.0)) as u64;
        s.has_negative |= a < 0.0;
    }
    // Top-k, KL and overlap: the one classification implementation (compare::outputs).
    let c = compare_output(0, "", f, v, None, None, TOP_K, None).classification;
    if let Some(c) = c {
        s.kl = Some(c.kl_divergence);
        s.topk_overlap = Some(c.top_k_overlap);
    }
    s
}

/// Top-k class indices of a classification vector (descending, ties by lower index).
pub fn top_k(v: &ArrayD<f32>) -> Vec<usize> {
    let shape = v.shape();
    let classes = shape.last().copied().unwrap_or(0);
    let is_vector = shape.iter().rev().skip(1).all(|&d| d == 1);
    if !is_vector || classes < 2 {
        return Vec::new();
    }
    let c = compare_output(0, "", v, v, None, None, TOP_K, None)
        .classification
        .expect("a vector of >= 2 classes is a classification");
    c.top_k_float.iter().map(|s| s.index).collect()
}
