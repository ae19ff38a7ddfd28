//! Simulated quantization of float weights: what int8/int4/int16, symmetric or asymmetric,
//! per-tensor or per-channel, min-max / MSE-optimal / percentile clipping would cost.
//!
//! Conventions (TFLite's): symmetric uses the narrow range `[-(2^(b-1) - 1), 2^(b-1) - 1]` with
//! zero point 0, asymmetric the full range `[-2^(b-1), 2^(b-1) - 1]` over `[min(lo, 0),
//! max(hi, 0)]` so that 0 is exact; scales are rounded to f32 as a .tflite stores them;
//! `q = clamp(round(x / s) + z)` with rounding half away from zero.
//!
//! Blockwise (`Scheme::block_size`: one scale per `block_size` consecutive elements of the last
//! dimension, TFLite's `BlockwiseQuantization`) follows the AI Edge Quantizer's arithmetic
//! instead, so a simulation equals the model it would write: symmetric, zero point 0, scale
//! `max(max |x|, 1e-9) / qmax` in f32 rounded to bfloat16 then stored as float16, the narrow
//! range only from 8 bits up (int4 uses `[-8, 7]`), `q = rint(x / s)` in f32 (ties to even);
//! min-max clipping only.

use crate::model::DType;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bits {
    Int4,
    Int8,
    Int16,
}

impl Bits {
    pub fn bits(self) -> u32 {
        match self {
            Bits::Int4 => 4,
            Bits::Int8 => 8,
            Bits::Int16 => 16,
        }
    }
    pub fn dtype(self) -> DType {
        match self {
            Bits::Int4 => DType::I4,
            Bits::Int8 => DType::I8,
            Bits::Int16 => DType::I16,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    /// The full observed range.
    MinMax,
    /// The clip range minimising the estimated mean squared error (grid search).
    Mse,
    /// The given percentile of `|x|` (symmetric) or both tails (asymmetric), e.g. 99.99.
    Percentile(f64),
}

/// A quantization scheme to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Scheme {
    pub bits: Bits,
    pub symmetric: bool,
    pub per_channel: bool,
    pub clip: Clip,
    /// One scale per this many consecutive elements of the last dimension (blockwise; the
    /// granularity `per_channel` is then ignored). None: per channel or per tensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
}

impl Default for Scheme {
    fn default() -> Self {
        Scheme {
            bits: Bits::Int8,
            symmetric: true,
            per_channel: true,
            clip: Clip::MinMax,
            block_size: None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clip = match self.clip {
            Clip::MinMax => "minmax".to_string(),
            Clip::Mse => "mse".to_string(),
            Clip::Percentile(p) => format!("percentile:{p}"),
        };
        let granularity = match self.block_size {
            Some(b) => format!("blockwise-{b}"),
            None if self.per_channel => "per-channel".into(),
            None => "per-tensor".into(),
        };
        write!(
            f,
            "int{} {} {granularity} clip {clip}",
            self.bits.bits(),
            if self.symmetric {
                "symmetric"
            } else {
                "asymmetric"
            },
        )
    }
}

impl Scheme {
    /// Integer range `(qmin, qmax)` of the scheme.
    pub fn range(&self) -> (i64, i64) {
        if self.block_size.is_some() {
            return blockwise_range(self.bits.dtype());
        }
        super::quant_range(self.bits.dtype(), self.symmetric)
    }

    /// Why this scheme cannot be simulated, if so (blockwise is symmetric min-max only, as the
    /// AI Edge Quantizer and TFLite's blockwise kernels have it).
    pub fn problem(&self) -> Option<String> {
        let b = self.block_size?;
        if b == 0 {
            return Some("block size 0".into());
        }
        if !self.symmetric {
            return Some("blockwise quantization is symmetric only (no zero points)".into());
        }
        if self.clip != Clip::MinMax {
            return Some("blockwise quantization uses min-max clipping only".into());
        }
        None
    }
}

/// Integer range of blockwise weights (AI Edge Quantizer): symmetric with the narrow range
/// only from 8 bits up (`[-127, 127]`), the full range below (int4 `[-8, 7]`, int2 `[-2, 1]`).
pub fn blockwise_range(dtype: DType) -> (i64, i64) {
    let (lo, hi) = dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
    if lo < 0 && hi >= 127 {
        (-hi, hi)
    } else {
        (lo, hi)
    }
}

/// The scale of one block: `max(max |x|, 1e-9) / qmax` in f32, rounded to bfloat16 (7-bit
/// mantissa) and then to float16, the scales tensor's type (the AI Edge Quantizer's
/// `tensor_zp_scale_from_min_max`).
pub fn blockwise_scale(max_abs: f32, qmax: i64) -> f32 {
    let s = max_abs.max(1e-9) / qmax as f32;
    half::f16::from_f32(half::bf16::from_f32(s).to_f32()).to_f32()
}

/// `clamp(rint(x / s), qmin, qmax)` in f32 with ties to even (numpy's `rint`), as the AI Edge
/// Quantizer quantizes. A zero scale (a float16 underflow) gives 0.
#[inline(always)]
pub fn quantize_blockwise(x: f32, s: f32, qmin: i64, qmax: i64) -> i64 {
    if s.is_nan() || s <= 0.0 {
        return 0;
    }
    ((x / s).round_ties_even() as i64).clamp(qmin, qmax)
}

/// Blockwise quantization of `values` (row-major, last dimension a multiple of `block_size`):
/// `(scales per block, integers)`, exactly as [`blockwise_scale`] and [`quantize_blockwise`].
pub fn quantize_blocks(values: &[f32], block_size: usize, bits: Bits) -> (Vec<f32>, Vec<i64>) {
    let (qmin, qmax) = blockwise_range(bits.dtype());
    let mut scales = Vec::with_capacity(values.len() / block_size.max(1));
    let mut q = Vec::with_capacity(values.len());
    for b in values.chunks(block_size.max(1)) {
        let m = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = blockwise_scale(m, qmax);
        scales.push(s);
        q.extend(b.iter().map(|&x| quantize_blockwise(x, s, qmin, qmax)));
    }
    (scales, q)
}

/// Parses `minmax`, `mse`, `percentile:99.99`.
pub fn parse_clip(s: &str) -> Result<Clip, String> {
    match s {
        "minmax" | "min-max" => Ok(Clip::MinMax),
        "mse" => Ok(Clip::Mse),
        _ => {
            let p = s.strip_prefix("percentile:").ok_or_else(|| {
                format!(
                    "unknown clip '{s}': use minmax, mse or percentile:P (e.g. percentile:99.99)"
                )
            })?;
            let p: f64 = p
                .parse()
                .map_err(|_| format!("percentile '{p}' is not a number"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!("percentile {p} must be in (0, 100]"));
            }
            Ok(Clip::Percentile(p))
        }
    }
}

/// `round half away from zero` (C's `round`, TFLite's rounding).
#[inline(always)]
pub fn round_half_away(v: f64) -> f64 {
    v.round()
}

/// `clamp(round(x / s) + z, qmin, qmax)`, rounding half away from zero as
/// `sign(v) floor(|v| + 0.5)` (a truncating conversion: no libm call in the hot loop).
#[inline(always)]
pub fn quantize(x: f64, s: f64, z: i64, qmin: i64, qmax: i64) -> i64 {
    let v = x / s;
    // `as` saturates, so huge |v| (and NaN -> 0) stay well defined before the clamp.
    let a = (v.abs() + 0.5) as i64;
    let r = if v < 0.0 { -a } else { a };
    r.saturating_add(z).clamp(qmin, qmax)
}

/// Scale and zero point for the clip range `[lo, hi]` (as f32 scale, like a .tflite).
/// A degenerate range (all zero) gets scale 1.
pub fn params_for_range(lo: f64, hi: f64, scheme: &Scheme) -> (f32, i64) {
    let (qmin, qmax) = scheme.range();
    if scheme.symmetric {
        let t = lo.abs().max(hi.abs());
        if !(t > 0.0) || !t.is_finite() {
            return (1.0, 0);
        }
        ((t / qmax as f64) as f32, 0)
    } else {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        if !(hi > lo) || !(hi - lo).is_finite() {
            return (1.0, 0);
        }
        let s = ((hi - lo) / (qmax - qmin) as f64) as f32;
        let z = (round_half_away(qmin as f64 - lo / s as f64) as i64).clamp(qmin, qmax);
        (s, z)
    }
}

/// Bins of the per-channel histogram used for percentile and MSE clipping.
pub const CLIP_BINS: usize = 2048;

/// Channel values summarised for choosing a clip range: the observed range and a histogram
/// with [`CLIP_BINS`] bins over `[0, max |x|]` (symmetric) or `[min, max]` (asymmetric).
pub struct ClipHist {
    pub min: f64,
    pub max: f64,
    pub counts: Vec<u64>,
}

impl ClipHist {
    fn range(&self, symmetric: bool) -> (f64, f64) {
        if symmetric {
            (0.0, self.min.abs().max(self.max.abs()))
        } else {
            (self.min, self.max)
        }
    }
    /// `(lo, hi)` of the histogram.
    pub fn hist_range(&self, symmetric: bool) -> (f64, f64) {
        self.range(symmetric)
    }
    fn center(&self, k: usize, symmetric: bool) -> f64 {
        let (lo, hi) = self.range(symmetric);
        lo + (k as f64 + 0.5) * (hi - lo) / self.counts.len() as f64
    }
    fn edge(&self, k: usize, symmetric: bool) -> f64 {
        let (lo, hi) = self.range(symmetric);
        lo + k as f64 * (hi - lo) / self.counts.len() as f64
    }
}

/// The clip range `[lo, hi]` of one channel under `scheme` (before [`params_for_range`]).
/// `hist` is needed for MSE and percentile clipping; min-max uses the observed range.
pub fn clip_range(min: f64, max: f64, hist: Option<&ClipHist>, scheme: &Scheme) -> (f64, f64) {
    let sym = scheme.symmetric;
    let full = if sym {
        let t = min.abs().max(max.abs());
        (-t, t)
    } else {
        (min, max)
    };
    let Some(h) = hist else { return full };
    let n: u64 = h.counts.iter().sum();
    if n == 0 {
        return full;
    }
    match scheme.clip {
        Clip::MinMax => full,
        Clip::Percentile(p) => {
            // Smallest bin whose cumulative count reaches p% (upper edge), and for asymmetric
            // the mirror (lower edge) from the bottom.
            // The tolerance keeps 99.9% of 1000 at 999 despite 0.999 * 1000 rounding up.
            let want_hi = (p / 100.0 * n as f64 - 1e-9).ceil().max(1.0) as u64;
            let mut cum = 0;
            let mut khi = h.counts.len() - 1;
            for (k, &c) in h.counts.iter().enumerate() {
                cum += c;
                if cum >= want_hi {
                    khi = k;
                    break;
                }
            }
            let hi = h.edge(khi + 1, sym);
            if sym {
                return (-hi, hi);
            }
            let mut cum = 0;
            let mut klo = 0;
            for (k, &c) in h.counts.iter().enumerate().rev() {
                cum += c;
                if cum >= want_hi {
                    klo = k;
                    break;
                }
            }
            (h.edge(klo, sym), hi)
        }
        Clip::Mse => {
            // Grid search over shrink factors j/100 of the full range; MSE estimated from bin
            // centres (each bin is 1/2048 of the range, well under an LSB for 8 bits).
            let (qmin, qmax) = scheme.range();
            let mut best = (f64::INFINITY, full);
            for j in (10..=100).rev() {
                let f = j as f64 / 100.0;
                let cand = (full.0 * f, full.1 * f);
                let (s, z) = params_for_range(cand.0, cand.1, scheme);
                let s = s as f64;
                let mut err = 0.0;
                for (k, &c) in h.counts.iter().enumerate() {
                    if c == 0 {
                        continue;
                    }
                    let v = h.center(k, sym);
                    let e = s * (quantize(v, s, z, qmin, qmax) - z) as f64 - v;
                    err += c as f64 * e * e;
                }
                if err < best.0 {
                    best = (err, cand);
                }
            }
            best.1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_by_hand() {
        let s8 = Scheme::default();
        // max |x| = 1.27 -> scale 0.01, zp 0
        let (s, z) = params_for_range(-0.5, 1.27, &s8);
        assert_eq!((s, z), (0.01f32, 0));
        let a8 = Scheme {
            symmetric: false,
            ..s8
        };
        // [-1, 1.55]: scale 2.55 / 255 = 0.01, zp = round(-128 + 100) = -28
        let (s, z) = params_for_range(-1.0, 1.55, &a8);
        assert!((s as f64 - 0.01).abs() < 1e-9);
        assert_eq!(z, -28);
        // all-positive data still includes 0 in the range
        let (_, z) = params_for_range(0.5, 2.55, &a8);
        assert_eq!(z, -128);
        assert_eq!(quantize(0.005, 0.01, 0, -127, 127), 1); // half away from zero
        assert_eq!(quantize(-0.005, 0.01, 0, -127, 127), -1);
        assert_eq!(quantize(9.0, 0.01, 0, -127, 127), 127);
        assert_eq!(params_for_range(0.0, 0.0, &s8), (1.0, 0));
        let i4 = Scheme {
            bits: Bits::Int4,
            ..s8
        };
        assert_eq!(i4.range(), (-7, 7));
        // Blockwise int4 keeps -8 (AI Edge Quantizer); int8 is narrowed.
        let b4 = Scheme {
            block_size: Some(32),
            ..i4
        };
        assert_eq!((b4.range(), b4.problem()), ((-8, 7), None));
        assert_eq!(blockwise_range(DType::I8), (-127, 127));
        assert!(Scheme {
            symmetric: false,
            ..b4
        }
        .problem()
        .is_some());
        // max |x| 0.7 / 7 = 0.1 -> bfloat16 0.10009765625 -> float16 keeps it.
        assert_eq!(blockwise_scale(0.7, 7), 0.10009765625);
        // rint: 2.5 -> 2, 3.5 -> 4 (ties to even), clamped to [-8, 7].
        assert_eq!(quantize_blockwise(0.25, 0.1, -8, 7), 2);
        assert_eq!(quantize_blockwise(0.3125, 0.125, -8, 7), 2);
        assert_eq!(quantize_blockwise(-0.4375, 0.125, -8, 7), -4);
        assert_eq!(quantize_blockwise(-5.0, 0.125, -8, 7), -8);
        let (s, q) = quantize_blocks(&[0.7, -0.35, 0.0, 0.1, 1.4, 0.0], 3, Bits::Int4);
        assert_eq!(s.len(), 2);
        assert_eq!(q[..3], [7, -3, 0]);
        // 0.1 / 0.2001953125 (1.4 / 7 in bfloat16) = 0.4995 -> 0.
        assert_eq!(q[3..], [0, 7, 0]);
    }

    #[test]
    fn clip_choices() {
        // 999 values near 0 and one outlier at 100: the 99.9th percentile ignores it.
        let mut counts = vec![0u64; CLIP_BINS];
        counts[0] = 999;
        counts[CLIP_BINS - 1] = 1;
        let mut spread = vec![0u64; CLIP_BINS];
        spread[..100].iter_mut().for_each(|c| *c = 10_000);
        spread[CLIP_BINS - 1] = 1;
        let h = ClipHist {
            min: -100.0,
            max: 100.0,
            counts,
        };
        let mut s = Scheme {
            clip: Clip::Percentile(99.9),
            ..Scheme::default()
        };
        let (lo, hi) = clip_range(-100.0, 100.0, Some(&h), &s);
        assert!((hi - 100.0 / CLIP_BINS as f64).abs() < 1e-12 && lo == -hi);
        s.clip = Clip::Percentile(100.0);
        assert_eq!(clip_range(-100.0, 100.0, Some(&h), &s), (-100.0, 100.0));
        s.clip = Clip::Mse;
        // 1M values spread over [0, 4.9] and one at 100: clipping the outlier costs less than
        // the coarser step it forces on everything else.
        let h = ClipHist {
            min: -100.0,
            max: 100.0,
            counts: spread,
        };
        let (_, hi) = clip_range(-100.0, 100.0, Some(&h), &s);
        assert!(hi < 100.0, "MSE clipping should shrink the range, got {hi}");
        assert_eq!(parse_clip("percentile:99.99"), Ok(Clip::Percentile(99.99)));
        assert!(parse_clip("percentile:120").is_err());
    }
}
