//! Quantization error against a float reference. Every formula is written once, here.
//!
//! Notation: `x` is the float reference value, `x̂` the dequantized value `s (q - z)`,
//! `e = x̂ - x` the error, `s` the scale of the element's channel (one LSB), `n` the count.

use serde::Serialize;

/// Streaming sums for the error metrics; merge by adding (disjoint sets of elements).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorAcc {
    pub n: u64,
    /// `sum x^2`
    pub sum_x2: f64,
    /// `sum x̂^2`
    pub sum_xh2: f64,
    /// `sum x x̂`
    pub sum_xxh: f64,
    /// `sum e`
    pub sum_e: f64,
    /// `sum e^2`
    pub sum_e2: f64,
    /// `max |e|`
    pub max_abs_e: f64,
    /// Elements below the lowest representable value by more than half an LSB.
    pub clip_below: u64,
    /// Elements above the highest representable value by more than half an LSB.
    pub clip_above: u64,
}

impl ErrorAcc {
    /// Adds one pair; `lo`/`hi` are the clip thresholds (see [`clip_thresholds`]).
    #[inline(always)]
    pub fn push(&mut self, x: f64, xh: f64, lo: f64, hi: f64) {
        let e = xh - x;
        self.n += 1;
        self.sum_x2 += x * x;
        self.sum_xh2 += xh * xh;
        self.sum_xxh += x * xh;
        self.sum_e += e;
        self.sum_e2 += e * e;
        self.max_abs_e = self.max_abs_e.max(e.abs());
        self.clip_below += (x < lo) as u64;
        self.clip_above += (x > hi) as u64;
    }

    /// Adds pairs `(xs[i], table[idx[i]])` with four independent lanes (the sums of a single
    /// lane form one long dependency chain; four let the CPU overlap them).
    #[inline]
    pub fn push_table(&mut self, idx: &[u8], xs: &[f64], table: &[f64], lo: f64, hi: f64) {
        let mut l = [ErrorAcc::default(); 4];
        let n4 = idx.len().min(xs.len()) / 4 * 4;
        for (qi, xi) in idx[..n4].chunks_exact(4).zip(xs[..n4].chunks_exact(4)) {
            for k in 0..4 {
                l[k].push(xi[k], table[qi[k] as usize], lo, hi);
            }
        }
        for (&q, &x) in idx[n4..].iter().zip(&xs[n4..]) {
            l[0].push(x, table[q as usize], lo, hi);
        }
        for a in &l {
            self.merge(a);
        }
    }

    pub fn merge(&mut self, o: &ErrorAcc) {
        self.n += o.n;
        self.sum_x2 += o.sum_x2;
        self.sum_xh2 += o.sum_xh2;
        self.sum_xxh += o.sum_xxh;
        self.sum_e += o.sum_e;
        self.sum_e2 += o.sum_e2;
        self.max_abs_e = self.max_abs_e.max(o.max_abs_e);
        self.clip_below += o.clip_below;
        self.clip_above += o.clip_above;
    }
}

pub use crate::model::dequantize;

/// Clip thresholds of a channel: a reference value `x` is *clipped* when
/// `x < s (qmin - z) - s/2` or `x > s (qmax - z) + s/2`, i.e. rounding it would have needed an
/// integer outside `[qmin, qmax]`. `(qmin, qmax)` is the quantization range
/// ([`quant_range`](super::quant_range)).
pub fn clip_thresholds(s: f64, z: i64, qmin: i64, qmax: i64) -> (f64, f64) {
    (
        dequantize(s, qmin, z) - 0.5 * s,
        dequantize(s, qmax, z) + 0.5 * s,
    )
}

/// The scale and the real range (clip thresholds over the dtype's full integer range) of a
/// per-tensor quantized activation; `(None, None)` for per-channel or unquantized tensors.
/// Activations use the full range: only weights are narrowed to the symmetric one.
pub fn activation_range(t: &crate::model::Tensor) -> (Option<f64>, Option<(f64, f64)>) {
    let Some(q) = t
        .quantization
        .as_ref()
        .filter(|q| !q.scales.is_empty() && !q.is_per_channel())
    else {
        return (None, None);
    };
    let (s, z) = (
        q.scales[0] as f64,
        q.zero_points.first().copied().unwrap_or(0),
    );
    let range = t
        .dtype
        .int_range()
        .map(|(lo, hi)| clip_thresholds(s, z, lo, hi));
    (Some(s), range)
}

/// The error metrics of a tensor or a channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorMetrics {
    pub n: u64,
    /// Mean squared error `sum e^2 / n` (units: value^2).
    pub mse: f64,
    /// `sqrt(mse)` (units: value).
    pub rmse: f64,
    /// Mean error `sum e / n` (units: value); a systematic offset, ideally ~0.
    pub mean_err: f64,
    /// `max |e|` (units: value).
    pub max_abs_err: f64,
    /// `max |e| / s` over elements, each divided by its channel's scale (units: LSB).
    /// At most 0.5 unless values were clipped.
    pub max_abs_err_lsb: Option<f64>,
    /// `sqrt(sum (e / s)^2 / n)`, each error in its channel's LSB (units: LSB). About
    /// `1/sqrt(12) = 0.289` for ideal rounding; above ~0.7 is suspect. For a per-tensor
    /// scale this is `rmse / s`.
    pub rmse_over_scale: Option<f64>,
    /// Signal-to-quantization-noise ratio `10 log10(sum x^2 / sum e^2)` (units: dB).
    /// Null (JSON) when the error is exactly zero (infinite SQNR) or the reference is all zero.
    pub sqnr_db: Option<f64>,
    /// Cosine similarity `sum x x̂ / sqrt(sum x^2 sum x̂^2)` (unitless; 1 = same direction).
    /// Null when either side is all zero.
    pub cosine: Option<f64>,
    /// Share of elements clipped below/above (see [`clip_thresholds`]), in [0, 1].
    pub clip_below: f64,
    pub clip_above: f64,
    /// `clip_below + clip_above`.
    pub clip_rate: f64,
}

impl ErrorMetrics {
    /// `acc`: the sums; `sum_e2_lsb`: `sum (e / s)^2` when scales are known (for a single
    /// channel, `acc.sum_e2 / s^2`); `max_lsb`: `max |e| / s`.
    pub fn new(acc: &ErrorAcc, sum_e2_lsb: Option<f64>, max_lsb: Option<f64>) -> ErrorMetrics {
        let n = acc.n.max(1) as f64;
        let mse = acc.sum_e2 / n;
        ErrorMetrics {
            n: acc.n,
            mse,
            rmse: mse.sqrt(),
            mean_err: acc.sum_e / n,
            max_abs_err: acc.max_abs_e,
            max_abs_err_lsb: max_lsb,
            rmse_over_scale: sum_e2_lsb.map(|s| (s / n).sqrt()),
            sqnr_db: sqnr_db(acc.sum_x2, acc.sum_e2),
            cosine: cosine(acc.sum_xxh, acc.sum_x2, acc.sum_xh2),
            clip_below: acc.clip_below as f64 / n,
            clip_above: acc.clip_above as f64 / n,
            clip_rate: (acc.clip_below + acc.clip_above) as f64 / n,
        }
    }

    /// Metrics of one channel of scale `s` (`None` for float-vs-float comparisons).
    pub fn for_channel(acc: &ErrorAcc, s: Option<f64>) -> ErrorMetrics {
        let s = s.filter(|s| *s > 0.0 && s.is_finite());
        ErrorMetrics::new(
            acc,
            s.map(|s| acc.sum_e2 / (s * s)),
            s.map(|s| acc.max_abs_e / s),
        )
    }
}

/// `10 log10(sum x^2 / sum e^2)` in dB; `None` if either sum is zero.
pub fn sqnr_db(sum_x2: f64, sum_e2: f64) -> Option<f64> {
    (sum_e2 > 0.0 && sum_x2 > 0.0).then(|| 10.0 * (sum_x2 / sum_e2).log10())
}

/// `sum x x̂ / sqrt(sum x^2 sum x̂^2)`; `None` if either side is all zero.
pub fn cosine(sum_xxh: f64, sum_x2: f64, sum_xh2: f64) -> Option<f64> {
    (sum_x2 > 0.0 && sum_xh2 > 0.0).then(|| sum_xxh / (sum_x2 * sum_xh2).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_lsb_error() {
        // scale 0.1, references exactly half-way: every error is 0.05 = half an LSB.
        let s = 0.1;
        let (lo, hi) = clip_thresholds(s, 0, -127, 127);
        let mut a = ErrorAcc::default();
        for (x, q) in [(0.05, 1.0), (-0.15, -1.0), (0.25, 3.0), (-0.05, 0.0)] {
            a.push(x, s * q, lo, hi);
        }
        let m = ErrorMetrics::for_channel(&a, Some(s));
        assert!((m.max_abs_err_lsb.unwrap() - 0.5).abs() < 1e-12);
        assert!((m.rmse_over_scale.unwrap() - 0.5).abs() < 1e-12);
        assert!((m.rmse - 0.05).abs() < 1e-12);
        // sum x^2 = 0.0025 + 0.0225 + 0.0625 + 0.0025 = 0.09; sum e^2 = 4 * 0.0025 = 0.01
        assert!((m.sqnr_db.unwrap() - 10.0 * 9f64.log10()).abs() < 1e-9);
        assert_eq!(m.clip_rate, 0.0);
        // sum x x̂ = 0.005 + 0.015 + 0.075 + 0 = 0.095, sum x̂^2 = 0.01 + 0.01 + 0.09 = 0.11
        let cos = 0.095 / (0.09f64 * 0.11).sqrt();
        assert!((m.cosine.unwrap() - cos).abs() < 1e-12);
    }

    #[test]
    fn clipping_and_exact() {
        let s = 1.0;
        let (lo, hi) = clip_thresholds(s, 0, -127, 127);
        assert_eq!((lo, hi), (-127.5, 127.5));
        let mut a = ErrorAcc::default();
        a.push(200.0, 127.0, lo, hi);
        a.push(-127.5, -127.0, lo, hi); // exactly at the threshold: rounding, not clipping
        a.push(-130.0, -127.0, lo, hi);
        a.push(3.0, 3.0, lo, hi);
        let m = ErrorMetrics::for_channel(&a, Some(s));
        assert_eq!((m.clip_below, m.clip_above, m.clip_rate), (0.25, 0.25, 0.5));
        assert_eq!(m.max_abs_err_lsb, Some(73.0));
        let mut z = ErrorAcc::default();
        z.push(1.0, 1.0, lo, hi);
        let m = ErrorMetrics::for_channel(&z, Some(s));
        assert_eq!((m.sqnr_db, m.mse, m.cosine), (None, 0.0, Some(1.0)));
    }
}
