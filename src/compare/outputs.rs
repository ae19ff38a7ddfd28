//! Comparing model outputs by task: classification (top-k, agreement, KL divergence),
//! sign-coded bits (bit accuracy), masks (IoU), and generic error metrics for every output.

use crate::quant::metrics::{ErrorAcc, ErrorMetrics};
use ndarray::ArrayD;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    pub index: usize,
    pub label: Option<String>,
    pub score: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Classification {
    pub top_k_float: Vec<Scored>,
    pub top_k_quant: Vec<Scored>,
    pub top1_agree: bool,
    /// |top-k(float) ∩ top-k(quant)| / k.
    pub top_k_overlap: f64,
    /// KL(p_float || p_quant) in nats, on probabilities (softmax applied when the outputs are
    /// not already distributions; see [`probability_pair`]), quantized probabilities floored at
    /// [`KL_EPSILON`] and renormalized.
    pub kl_divergence: f64,
    /// max_i |p_float_i - p_quant_i|.
    pub max_prob_delta: f64,
    /// "output" when both outputs are already probabilities, else "softmax".
    pub probabilities_from: String,
    /// The float model's top-1 probability.
    pub float_top1_prob: f64,
    /// Where the labels came from ("metadata: labels.txt", ...), when they were resolved by
    /// [`crate::labels`] rather than handed over as a plain list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels_source: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutputComparison {
    pub index: usize,
    pub name: String,
    pub shape: Vec<usize>,
    /// Float output vs dequantized quantized output (LSB = the output's scale).
    pub metrics: ErrorMetrics,
    /// Share of elements whose sign agrees (the bit accuracy of sign-coded outputs such as a
    /// watermark detector's message logits).
    pub bit_accuracy: f64,
    /// The float output has negative values (sign agreement is meaningful).
    pub has_negative: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// IoU of the masks `value > 0.5` for spatial single-channel outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_iou: Option<f64>,
}

/// Error metrics of `approx` against the reference `x`; `scale` and `range` (real units) are the
/// quantized tensor's, when it has them.
pub fn tensor_metrics(
    x: &ArrayD<f32>,
    approx: &ArrayD<f32>,
    scale: Option<f64>,
    range: Option<(f64, f64)>,
) -> ErrorMetrics {
    let (lo, hi) = range.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let mut acc = ErrorAcc::default();
    // Plain slices when both are contiguous: the same sums in the same order, but ndarray's
    // per-element iterator over dynamic dimensions took most of a ConvNeXt comparison's time.
    match (x.as_slice(), approx.as_slice()) {
        (Some(xs), Some(ys)) => xs
            .iter()
            .zip(ys)
            .for_each(|(&a, &b)| acc.push(a as f64, b as f64, lo, hi)),
        _ => x
            .iter()
            .zip(approx.iter())
            .for_each(|(&a, &b)| acc.push(a as f64, b as f64, lo, hi)),
    }
    ErrorMetrics::for_channel(&acc, scale)
}

/// A vector that can be a probability distribution: finite, in [0, 1] (a little slack for
/// rounding).
fn in_unit_range(v: &[f32]) -> bool {
    v.iter()
        .all(|&x| x.is_finite() && (0.0..=1.0 + 1e-3).contains(&x))
}

fn sums_to_one(v: &[f32], tol: f64) -> bool {
    let sum: f64 = v.iter().map(|&x| x as f64).sum();
    (sum - 1.0).abs() <= tol
}

/// Probabilities of both sides, decided **together** so that a quantized softmax output (whose
/// dequantized values rarely sum to exactly 1) is not taken for logits: both vectors are
/// treated as probabilities when both lie in [0, 1] and either sums to 1 within 0.02 (the
/// quantized side also within half an LSB per class). Probabilities are renormalized to sum 1;
/// logits get a softmax. Returns (p_float, p_quant, "output" | "softmax").
pub fn probability_pair(
    f: &[f32],
    q: &[f32],
    q_scale: Option<f64>,
) -> (Vec<f64>, Vec<f64>, &'static str) {
    let q_tol = q_scale.map_or(0.02, |s| (q.len() as f64 * s / 2.0).max(0.02));
    let already =
        in_unit_range(f) && in_unit_range(q) && (sums_to_one(f, 0.02) || sums_to_one(q, q_tol));
    let norm = |v: &[f32]| -> Vec<f64> {
        let sum: f64 = v.iter().map(|&x| x as f64).sum();
        v.iter()
            .map(|&x| if sum > 0.0 { x as f64 / sum } else { 0.0 })
            .collect()
    };
    let softmax = |v: &[f32]| -> Vec<f64> {
        let m = v.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
        let e: Vec<f64> = v.iter().map(|&x| (x as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|x| x / s).collect()
    };
    if already {
        (norm(f), norm(q), "output")
    } else {
        (softmax(f), softmax(q), "softmax")
    }
}

/// The floor KL(p_float || p_quant) puts under a quantized probability before renormalizing: a
/// quantized softmax stores 0 for anything below half an LSB, which would make KL infinite.
/// 1e-6 lies below every 8/16-bit softmax LSB (1/256, 1/32768), so renormalizing after the
/// floor moves the result by at most classes * 1e-6.
pub const KL_EPSILON: f64 = 1e-6;

/// KL(p || q) in nats over the classes with p > 0, with q floored at `eps` and renormalized
/// (so the result stays >= 0: flooring alone adds mass).
pub fn kl_divergence(p: &[f64], q: &[f64], eps: f64) -> f64 {
    let total: f64 = q.iter().map(|&x| x.max(eps)).sum();
    p.iter()
        .zip(q)
        .filter(|(p, _)| **p > 0.0)
        .map(|(p, q)| p * (p * total / q.max(eps)).ln())
        .sum()
}

fn top_k(v: &[f32], k: usize, labels: Option<&[String]>) -> Vec<Scored> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].partial_cmp(&v[a]).unwrap_or(std::cmp::Ordering::Equal));
    idx.into_iter()
        .take(k)
        .map(|i| Scored {
            index: i,
            label: labels.and_then(|l| l.get(i).cloned()),
            score: v[i],
        })
        .collect()
}

/// Compares one output: `f` from the float model, `q` the quantized model's output dequantized.
pub fn compare_output(
    index: usize,
    name: &str,
    f: &ArrayD<f32>,
    q: &ArrayD<f32>,
    scale: Option<f64>,
    range: Option<(f64, f64)>,
    k: usize,
    labels: Option<&[String]>,
) -> OutputComparison {
    let metrics = tensor_metrics(f, q, scale, range);
    let n = f.len().max(1) as f64;
    let agree = f
        .iter()
        .zip(q.iter())
        .filter(|(a, b)| (**a > 0.0) == (**b > 0.0))
        .count();
    let shape = f.shape().to_vec();
    let classes = shape.last().copied().unwrap_or(0);
    let is_vector = shape.iter().rev().skip(1).all(|&d| d == 1);
    let classification = (is_vector && classes >= 2).then(|| {
        let fv: Vec<f32> = f.iter().copied().collect();
        let qv: Vec<f32> = q.iter().copied().collect();
        let (pf, pq, from) = probability_pair(&fv, &qv, scale);
        let k = k.min(classes);
        let (tf, tq) = (top_k(&fv, k, labels), top_k(&qv, k, labels));
        let overlap = tf
            .iter()
            .filter(|a| tq.iter().any(|b| b.index == a.index))
            .count() as f64
            / k as f64;
        let kl = kl_divergence(&pf, &pq, KL_EPSILON);
        let max_prob_delta = pf
            .iter()
            .zip(&pq)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        Classification {
            float_top1_prob: pf[tf[0].index],
            top1_agree: tf[0].index == tq[0].index,
            top_k_float: tf,
            top_k_quant: tq,
            top_k_overlap: overlap,
            kl_divergence: kl,
            max_prob_delta,
            probabilities_from: from.into(),
            labels_source: None,
        }
    });
    let spatial_mask = shape.len() == 4 && shape[3] == 1 && shape[1] > 1 && shape[2] > 1;
    let mask_iou = spatial_mask.then(|| {
        let (mut inter, mut union) = (0usize, 0usize);
        for (&a, &b) in f.iter().zip(q.iter()) {
            let (a, b) = (a > 0.5, b > 0.5);
            inter += (a && b) as usize;
            union += (a || b) as usize;
        }
        if union == 0 {
            1.0
        } else {
            inter as f64 / union as f64
        }
    });
    let has_negative = f.iter().any(|&v| v < 0.0);
    OutputComparison {
        index,
        name: name.to_string(),
        shape,
        metrics,
        bit_accuracy: agree as f64 / n,
        has_negative,
        classification,
        mask_iou,
    }
}
