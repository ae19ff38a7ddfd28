//! Simulated quantization of float weights: what int8/int4/int16, symmetric or asymmetric,
//! per-tensor or per-channel, min-max / MSE-optimal / percentile clipping would cost.
//!
//! Conventions (TFLite's): symmetric uses the narrow range `[-(2^(b-1) - 1), 2^(b-1) - 1]` with
//! zero point 0, asymmetric the full range `[-2^(b-1), 2^(b-1) - 1]` over `[min(lo, 0),
//! max(hi, 0)]` so that 0 is exact; scales are rounded to f32 as a .tflite stores them;
//! `q = clamp(round(x / s) + z)` with rounding half away from zero.

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
}

impl Default for Scheme {
    fn default() -> Self {
        Scheme {
            bits: Bits::Int8,
            symmetric: true,
            per_channel: true,
            clip: Clip::MinMax,
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
        write!(
            f,
            "int{} {} {} clip {clip}",
            self.bits.bits(),
            if self.symmetric {
                "symmetric"
            } else {
                "asymmetric"
            },
            if self.per_channel {
                "per-channel"
            } else {
                "per-tensor"
            },
        )
    }
}

impl Scheme {
    /// Integer range `(qmin, qmax)` of the scheme.
    pub fn range(&self) -> (i64, i64) {
        super::quant_range(self.bits.dtype(), self.symmetric)
    }
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
