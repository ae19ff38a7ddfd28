//! Per-tensor weight analysis and the model roll-up.
//!
//! Each constant is one of: stored quantized integers (optionally compared with a paired float
//! tensor), float weights quantized in simulation, or plain floats. Stored int4/int8/uint8
//! tensors take one pass (a 2^bits-bin histogram per channel gives every statistic exactly);
//! wider integers and floats take a second pass for their adaptive histogram; simulated
//! quantization takes a statistics pass first (and a clip-histogram pass for MSE/percentile).
//! Tensors are analysed in parallel and each tensor's chunks too (rayon).

use super::checks::{self, Check, Severity};
use super::metrics::{clip_thresholds, ErrorAcc, ErrorMetrics};
use super::pairing::{self, PairedBy, Pairing, Unmatched};
use super::roles::{self, RoleKind, Use};
use super::scan::{scan, Floats, Ints, Layout, Narrow, Wide, BLOCK};
use super::simulate::{self, ClipHist, Scheme, CLIP_BINS};
use super::stats::{Binner, Histogram, IntBinner, Moments, RangeUse, Summary};
use crate::model::{DType, Model, Tensor};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Bins of adaptive histograms (wide integers, floats, per-channel dequantized values).
pub const ADAPTIVE_BINS: usize = 256;
/// Distinct levels of int32/int64 tensors are counted only up to this many elements.
pub const MAX_LEVELS_ELEMENTS: usize = 1 << 20;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Quantize the float weights of the model with this scheme (reference 2).
    pub simulate: Option<Scheme>,
    /// Keep a histogram per channel (large for big models).
    pub channel_histograms: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{0} has no float weights to quantize in simulation ({1} quantized constants); simulate from the float model instead, or pass it with --float to measure this model's error")]
    NothingToSimulate(String, usize),
}

/// The error metrics of a tensor or channel as flat, always-present fields (null = unknown:
/// no reference, or no scale for LSB units, or an infinite SQNR for an exact match).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorFields {
    pub sqnr_db: Option<f64>,
    pub mse: Option<f64>,
    pub rmse: Option<f64>,
    pub mean_err: Option<f64>,
    pub max_abs_err: Option<f64>,
    pub max_abs_err_lsb: Option<f64>,
    pub rmse_over_scale: Option<f64>,
    pub cosine: Option<f64>,
    pub clip_below: Option<f64>,
    pub clip_above: Option<f64>,
    pub clip_rate: Option<f64>,
}

impl From<Option<&ErrorMetrics>> for ErrorFields {
    fn from(m: Option<&ErrorMetrics>) -> Self {
        let Some(m) = m else {
            return ErrorFields::default();
        };
        ErrorFields {
            sqnr_db: m.sqnr_db,
            mse: Some(m.mse),
            rmse: Some(m.rmse),
            mean_err: Some(m.mean_err),
            max_abs_err: Some(m.max_abs_err),
            max_abs_err_lsb: m.max_abs_err_lsb,
            rmse_over_scale: m.rmse_over_scale,
            cosine: m.cosine,
            clip_below: Some(m.clip_below),
            clip_above: Some(m.clip_above),
            clip_rate: Some(m.clip_rate),
        }
    }
}

/// Range-use fields (null for floats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RangeFields {
    pub levels_used: Option<u64>,
    pub effective_bits: Option<f64>,
    pub range_used: Option<f64>,
    pub saturated: Option<u64>,
}

impl From<Option<RangeUse>> for RangeFields {
    fn from(r: Option<RangeUse>) -> Self {
        match r {
            None => RangeFields::default(),
            Some(r) => RangeFields {
                levels_used: Some(r.levels_used),
                effective_bits: Some(r.effective_bits),
                range_used: Some(r.range_used),
                saturated: Some(r.saturated),
            },
        }
    }
}

/// What the error was measured against.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reference {
    /// A constant of the paired float model.
    FloatModel {
        index: usize,
        name: String,
        dtype: DType,
        paired_by: PairedBy,
    },
    /// The tensor's own float values, quantized in simulation.
    Simulated { scheme: Scheme, dtype: DType },
}

#[derive(Clone, Debug, Serialize)]
pub struct ChannelAnalysis {
    pub channel: usize,
    pub scale: Option<f64>,
    pub zero_point: Option<i64>,
    pub n: u64,
    /// Statistics of the stored (or simulated) integers.
    pub int_stats: Option<Summary>,
    /// Statistics of the dequantized values (or of the floats, for a float tensor).
    pub real_stats: Option<Summary>,
    #[serde(flatten)]
    pub range: RangeFields,
    /// All values equal the zero point.
    pub dead: bool,
    #[serde(flatten)]
    pub errors: ErrorFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    #[serde(skip)]
    pub error: Option<ErrorMetrics>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TensorAnalysis {
    pub subgraph: usize,
    pub index: usize,
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i32>,
    /// `CONV_2D#0 weights`: the op that consumes it (through DEQUANTIZE).
    pub role: Option<String>,
    pub role_kind: Option<RoleKind>,
    pub op_index: Option<usize>,
    pub per_channel: bool,
    pub axis: Option<usize>,
    /// Number of channels (1 for per-tensor).
    pub channel_count: usize,
    pub n: u64,
    pub bytes: usize,
    pub reference: Option<Reference>,
    pub scale_min: Option<f64>,
    pub scale_max: Option<f64>,
    /// `max scale / min scale` over channels.
    pub scale_spread: Option<f64>,
    pub int_stats: Option<Summary>,
    pub real_stats: Option<Summary>,
    /// Statistics of the float reference, when there is one.
    pub reference_stats: Option<Summary>,
    #[serde(flatten)]
    pub range: RangeFields,
    /// Channels whose values all equal the zero point.
    pub dead_channels: Vec<usize>,
    #[serde(flatten)]
    pub errors: ErrorFields,
    /// Stored (or simulated) integers: one bin per value for <= 8 bits (edges `q .. q+1`),
    /// integer-aligned adaptive bins for wider types; the float values for a float tensor.
    pub histogram: Histogram,
    /// Dequantized values; for per-tensor scales the integer bins mapped to
    /// `s (q - 0.5 - z)` edges, else adaptive.
    pub real_histogram: Option<Histogram>,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelAnalysis>,
    #[serde(skip)]
    pub error: Option<ErrorMetrics>,
    /// `(sum x^2, sum e^2)` for the model-wide SQNR.
    #[serde(skip)]
    pub sums: Option<(f64, f64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub subgraph: usize,
    pub index: usize,
    pub name: String,
    pub dtype: DType,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DtypeBytes {
    pub tensors: usize,
    pub elements: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Worst {
    pub subgraph: usize,
    pub index: usize,
    pub name: String,
    pub role: Option<String>,
    pub sqnr_db: Option<f64>,
    pub rmse_over_scale: Option<f64>,
    pub max_abs_err_lsb: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Rollup {
    pub tensors_analysed: usize,
    pub tensors_compared: usize,
    pub tensors_skipped: usize,
    pub errors: usize,
    pub warnings: usize,
    /// `10 log10(sum x^2 / sum e^2)` over every compared element of the model.
    pub overall_sqnr_db: Option<f64>,
    /// Compared tensors, lowest SQNR first (exact matches last).
    pub worst: Vec<Worst>,
    /// Constants of the model by stored dtype.
    pub bytes_by_dtype: BTreeMap<String, DtypeBytes>,
    pub constant_bytes: u64,
    /// The same constants stored as float32.
    pub float32_bytes: u64,
    /// `float32_bytes - constant_bytes`.
    pub bytes_saved: i64,
    /// Constants of the paired float model.
    pub float_model_bytes: Option<u64>,
    /// Constants if the simulated tensors were stored in the scheme's dtype (plus a f32 scale
    /// and an i64 zero point per channel).
    pub simulated_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WeightsReport {
    pub model: String,
    pub float_model: Option<String>,
    /// `float_model`, `simulated` or `none`.
    pub reference: &'static str,
    pub scheme: Option<Scheme>,
    pub tensors: Vec<TensorAnalysis>,
    pub skipped: Vec<Skipped>,
    pub unmatched_quant: Vec<Unmatched>,
    pub unmatched_float: Vec<Unmatched>,
    pub rollup: Rollup,
}

/// Integer range of stored or simulated values: the narrow symmetric range for signed types
/// with zero point 0 everywhere (TFLite's weights: int8 in [-127, 127]), else the full range.
pub fn quant_range(dtype: DType, symmetric: bool) -> (i64, i64) {
    let (lo, hi) = dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
    if symmetric && lo < 0 {
        (-hi, hi)
    } else {
        (lo, hi)
    }
}

fn usize_shape(shape: &[i32]) -> Option<Vec<usize>> {
    shape.iter().map(|&d| usize::try_from(d).ok()).collect()
}

/// Per-channel quantization parameters (as f64), with the quantization range.
#[derive(Clone, Debug)]
struct QParams {
    s: Vec<f64>,
    z: Vec<i64>,
    range: (i64, i64),
}

impl QParams {
    fn clips(&self) -> Vec<(f64, f64)> {
        self.s
            .iter()
            .zip(&self.z)
            .map(|(&s, &z)| clip_thresholds(s, z, self.range.0, self.range.1))
            .collect()
    }
}

enum Source<'a> {
    Stored(Ints<'a>),
    Simulated(Floats<'a>, Scheme),
    Float(Floats<'a>),
}

// ---- accumulators -------------------------------------------------------------------------

fn merge_errs(a: &mut [ErrorAcc], b: &[ErrorAcc]) {
    a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y));
}

fn merge_moms(a: &mut [Moments], b: &[Moments]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x = x.merge(y));
}

struct NarrowAcc {
    counts: Vec<u64>,
    err: Vec<ErrorAcc>,
}

struct WideAcc {
    mom: Vec<Moments>,
    bits: Vec<u64>,
    sat: Vec<u64>,
    err: Vec<ErrorAcc>,
}

struct FloatAcc {
    mom: Vec<Moments>,
    err: Vec<ErrorAcc>,
}

/// Result of the integer passes, per channel.
struct IntResult {
    /// Narrow: `counts[c * bins + (q - qmin)]`.
    counts: Option<(Vec<u64>, usize, i64)>,
    mom: Vec<Moments>,
    levels: Vec<Option<u64>>,
    levels_total: Option<u64>,
    sat: Vec<u64>,
    err: Option<Vec<ErrorAcc>>,
    int_hist: Histogram,
    real_hist: Option<Histogram>,
    channel_hists: Option<Vec<Histogram>>,
}

/// Quantized values of a segment: stored wide, or simulated from the floats.
#[inline]
fn wide_q<'b>(
    seg: &'b super::scan::Seg<'_>,
    sim: Option<&QParams>,
    buf: &'b mut [i64],
) -> &'b [i64] {
    match sim {
        None => seg.wide,
        Some(p) => {
            let (s, z) = (p.s[seg.c], p.z[seg.c]);
            for (o, &v) in buf.iter_mut().zip(seg.v) {
                *o = simulate::quantize(v, s, z, p.range.0, p.range.1);
            }
            &buf[..seg.v.len()]
        }
    }
}

/// The integer passes of a stored or simulated quantized tensor.
#[allow(clippy::too_many_arguments)]
fn int_passes(
    layout: Layout,
    dtype: DType,
    ints: Option<Ints<'_>>,
    own: Option<Floats<'_>>,
    reference: Option<Floats<'_>>,
    p: &QParams,
    simulated: bool,
    channel_hists: bool,
) -> IntResult {
    let nc = layout.channels;
    let has_ref = reference.is_some() || simulated;
    let clips = p.clips();
    let sim = simulated.then_some(p);
    let narrow_bins = match dtype {
        DType::I4 => Some((16usize, -8i64)),
        DType::I8 => Some((256, -128)),
        DType::U8 => Some((256, 0)),
        _ => None,
    };
    if let Some((nb, qmin)) = narrow_bins {
        let table: Vec<f64> = (0..nc)
            .flat_map(|c| (0..nb).map(move |k| (c, k)))
            .map(|(c, k)| p.s[c] * ((qmin + k as i64) - p.z[c]) as f64)
            .collect();
        // Statistics only of stored int8/uint8: count raw bytes, no decoding.
        let raw = match ints {
            Some(Ints::Narrow(Narrow::I8(b))) if reference.is_none() => Some((b, 0x80u8)),
            Some(Ints::Narrow(Narrow::U8(b))) if reference.is_none() => Some((b, 0u8)),
            _ => None,
        };
        let acc = scan(
            layout,
            if raw.is_some() { None } else { ints },
            own,
            reference,
            || NarrowAcc {
                counts: vec![0; nc * nb],
                err: if has_ref {
                    vec![ErrorAcc::default(); nc]
                } else {
                    Vec::new()
                },
            },
            |acc, seg| {
                let c = seg.c;
                let cnt = &mut acc.counts[c * nb..(c + 1) * nb];
                if let Some((bytes, flip)) = raw {
                    // Four sub-histograms: consecutive equal bytes do not wait on each other.
                    let mut h = [[0u32; 256]; 4];
                    let data = &bytes[seg.start..seg.start + seg.len];
                    for part in data.chunks(1 << 30) {
                        let mut it = part.chunks_exact(4);
                        for q in &mut it {
                            h[0][q[0] as usize] += 1;
                            h[1][q[1] as usize] += 1;
                            h[2][q[2] as usize] += 1;
                            h[3][q[3] as usize] += 1;
                        }
                        for &b in it.remainder() {
                            h[0][b as usize] += 1;
                        }
                    }
                    for b in 0..256 {
                        let n = h[0][b] as u64 + h[1][b] as u64 + h[2][b] as u64 + h[3][b] as u64;
                        cnt[(b as u8 ^ flip) as usize] += n;
                    }
                    return;
                }
                match sim {
                    None if seg.x.is_empty() => {
                        for &i in seg.idx {
                            cnt[i as usize] += 1;
                        }
                    }
                    None => {
                        let tb = &table[c * nb..(c + 1) * nb];
                        let (lo, hi) = clips[c];
                        for &i in seg.idx {
                            cnt[i as usize] += 1;
                        }
                        acc.err[c].push_table(seg.idx, seg.x, tb, lo, hi);
                    }
                    Some(p) => {
                        let (s, z) = (p.s[c], p.z[c]);
                        let tb = &table[c * nb..(c + 1) * nb];
                        let (lo, hi) = clips[c];
                        let mut ib = [0u8; BLOCK];
                        for (o, &x) in ib.iter_mut().zip(seg.v) {
                            *o = (simulate::quantize(x, s, z, p.range.0, p.range.1) - qmin) as u8;
                        }
                        let ib = &ib[..seg.v.len()];
                        for &k in ib {
                            cnt[k as usize] += 1;
                        }
                        acc.err[c].push_table(ib, seg.v, tb, lo, hi);
                    }
                }
            },
            |mut a, b| {
                a.counts
                    .iter_mut()
                    .zip(&b.counts)
                    .for_each(|(x, y)| *x += y);
                merge_errs(&mut a.err, &b.err);
                a
            },
        );
        let counts = acc.counts;
        let mut mom = Vec::with_capacity(nc);
        let mut levels = Vec::with_capacity(nc);
        let mut sat = Vec::with_capacity(nc);
        let (rlo, rhi) = ((p.range.0 - qmin) as usize, (p.range.1 - qmin) as usize);
        let mut total = vec![0u64; nb];
        for c in 0..nc {
            let cc = &counts[c * nb..(c + 1) * nb];
            mom.push(Moments::of_counts(cc, |k| (qmin + k as i64) as f64));
            levels.push(Some(cc.iter().filter(|&&n| n > 0).count() as u64));
            sat.push(
                cc.iter()
                    .enumerate()
                    .filter(|(k, _)| *k <= rlo || *k >= rhi)
                    .map(|(_, n)| n)
                    .sum(),
            );
            total.iter_mut().zip(cc).for_each(|(t, n)| *t += n);
        }
        let edges: Vec<f64> = (0..=nb).map(|k| (qmin + k as i64) as f64).collect();
        let real_hist = if nc == 1 {
            Some(Histogram {
                edges: edges
                    .iter()
                    .map(|e| p.s[0] * (e - 0.5 - p.z[0] as f64))
                    .collect(),
                counts: total.clone(),
            })
        } else {
            let (lo, hi) = mom.iter().enumerate().fold(
                (f64::INFINITY, f64::NEG_INFINITY),
                |(lo, hi), (c, m)| {
                    let r = m.affine(p.s[c], p.z[c] as f64);
                    (lo.min(r.min), hi.max(r.max))
                },
            );
            (lo <= hi).then(|| {
                let b = Binner::new(lo, hi, ADAPTIVE_BINS);
                let mut rc = vec![0u64; b.bins()];
                for c in 0..nc {
                    for (k, &n) in counts[c * nb..(c + 1) * nb].iter().enumerate() {
                        if n > 0 {
                            let v = p.s[c] * ((qmin + k as i64) - p.z[c]) as f64;
                            if let Some(i) = b.bin(v) {
                                rc[i] += n;
                            }
                        }
                    }
                }
                b.into_histogram(rc)
            })
        };
        let channel_hists = (channel_hists && nc > 1).then(|| {
            (0..nc)
                .map(|c| Histogram {
                    edges: edges.clone(),
                    counts: counts[c * nb..(c + 1) * nb].to_vec(),
                })
                .collect()
        });
        let levels_total = Some(total.iter().filter(|&&n| n > 0).count() as u64);
        return IntResult {
            counts: Some((counts, nb, qmin)),
            mom,
            levels,
            levels_total,
            sat,
            err: has_ref.then_some(acc.err),
            int_hist: Histogram {
                edges,
                counts: total,
            },
            real_hist,
            channel_hists,
        };
    }

    // Wide integers: moments, level bitsets (int16), saturation, errors; then histograms.
    let bitset = matches!(dtype, DType::I16);
    let words = 65536 / 64;
    let acc = scan(
        layout,
        ints,
        own,
        reference,
        || WideAcc {
            mom: vec![Moments::default(); nc],
            bits: if bitset {
                vec![0; nc * words]
            } else {
                Vec::new()
            },
            sat: vec![0; nc],
            err: if has_ref {
                vec![ErrorAcc::default(); nc]
            } else {
                Vec::new()
            },
        },
        |acc, seg| {
            let c = seg.c;
            let mut qb = [0i64; BLOCK];
            let q = wide_q(&seg, sim, &mut qb);
            let mut f = [0f64; BLOCK];
            for (o, &v) in f.iter_mut().zip(q) {
                *o = v as f64;
            }
            acc.mom[c] = acc.mom[c].merge(&Moments::of_slice(&f[..q.len()]));
            acc.sat[c] += q
                .iter()
                .filter(|&&v| v <= p.range.0 || v >= p.range.1)
                .count() as u64;
            if bitset {
                let bits = &mut acc.bits[c * words..(c + 1) * words];
                for &v in q {
                    let k = (v + 32768) as usize;
                    bits[k / 64] |= 1 << (k % 64);
                }
            }
            if has_ref {
                let xs = if simulated { seg.v } else { seg.x };
                let (s, z) = (p.s[c], p.z[c]);
                let (lo, hi) = clips[c];
                let e = &mut acc.err[c];
                for (&v, &x) in q.iter().zip(xs) {
                    e.push(x, s * (v - z) as f64, lo, hi);
                }
            }
        },
        |mut a, b| {
            merge_moms(&mut a.mom, &b.mom);
            a.bits.iter_mut().zip(&b.bits).for_each(|(x, y)| *x |= y);
            a.sat.iter_mut().zip(&b.sat).for_each(|(x, y)| *x += y);
            merge_errs(&mut a.err, &b.err);
            a
        },
    );
    let (levels, levels_total) = if bitset {
        let per: Vec<Option<u64>> = (0..nc)
            .map(|c| {
                Some(
                    acc.bits[c * words..(c + 1) * words]
                        .iter()
                        .map(|w| w.count_ones() as u64)
                        .sum(),
                )
            })
            .collect();
        let mut union = vec![0u64; words];
        for c in 0..nc {
            union
                .iter_mut()
                .zip(&acc.bits[c * words..(c + 1) * words])
                .for_each(|(u, w)| *u |= w);
        }
        (per, Some(union.iter().map(|w| w.count_ones() as u64).sum()))
    } else if layout.n <= MAX_LEVELS_ELEMENTS {
        // int32/int64 (biases): sort a copy of (channel, value).
        let mut all: Vec<(usize, i64)> = Vec::with_capacity(layout.n);
        let mut qb = vec![0i64; layout.n];
        if let Some(Ints::Wide(w)) = ints {
            w.decode(0..layout.n, &mut qb);
        }
        for (i, &q) in qb.iter().enumerate() {
            all.push((layout.channel(i), q));
        }
        all.sort_unstable();
        all.dedup();
        let mut per = vec![Some(0u64); nc];
        for &(c, _) in &all {
            *per[c].as_mut().unwrap() += 1;
        }
        let mut vals: Vec<i64> = all.iter().map(|&(_, q)| q).collect();
        vals.sort_unstable();
        vals.dedup();
        (per, Some(vals.len() as u64))
    } else {
        (vec![None; nc], None)
    };
    // Second pass: integer histogram (integer-aligned bins) and dequantized histogram.
    let tot = acc.mom.iter().fold(Moments::default(), |a, m| a.merge(m));
    let (ilo, ihi) = if tot.n > 0 {
        (tot.min as i64, tot.max as i64)
    } else {
        (0, 0)
    };
    let ib = IntBinner::new(ilo, ihi, ADAPTIVE_BINS);
    let (rlo, rhi) =
        acc.mom
            .iter()
            .enumerate()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (c, m)| {
                let r = m.affine(p.s[c], p.z[c] as f64);
                if r.n == 0 {
                    (lo, hi)
                } else {
                    (lo.min(r.min), hi.max(r.max))
                }
            });
    let rb = Binner::new(
        if rlo <= rhi { rlo } else { 0.0 },
        if rlo <= rhi { rhi } else { 0.0 },
        ADAPTIVE_BINS,
    );
    let (ic, rc) = scan(
        layout,
        ints,
        own,
        None,
        || (vec![0u64; ib.bins], vec![0u64; rb.bins()]),
        |(ic, rc), seg| {
            let mut qb = [0i64; BLOCK];
            let q = wide_q(&seg, sim, &mut qb);
            let (s, z) = (p.s[seg.c], p.z[seg.c]);
            for &v in q {
                ic[ib.bin(v)] += 1;
                if let Some(k) = rb.bin(s * (v - z) as f64) {
                    rc[k] += 1;
                }
            }
        },
        |(mut a, mut b), (c, d)| {
            a.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
            b.iter_mut().zip(&d).for_each(|(x, y)| *x += y);
            (a, b)
        },
    );
    IntResult {
        counts: None,
        mom: acc.mom,
        levels,
        levels_total,
        sat: acc.sat,
        err: has_ref.then_some(acc.err),
        int_hist: Histogram {
            edges: ib.edges(),
            counts: ic,
        },
        real_hist: Some(rb.into_histogram(rc)),
        channel_hists: None,
    }
}

/// Moments (and errors against `reference`) of float values per channel.
fn float_pass(layout: Layout, own: Floats<'_>, reference: Option<Floats<'_>>) -> FloatAcc {
    let nc = layout.channels;
    let has_ref = reference.is_some();
    scan(
        layout,
        None,
        Some(own),
        reference,
        || FloatAcc {
            mom: vec![Moments::default(); nc],
            err: if has_ref {
                vec![ErrorAcc::default(); nc]
            } else {
                Vec::new()
            },
        },
        |acc, seg| {
            acc.mom[seg.c] = acc.mom[seg.c].merge(&Moments::of_slice(seg.v));
            if has_ref {
                let e = &mut acc.err[seg.c];
                for (&v, &x) in seg.v.iter().zip(seg.x) {
                    e.push(x, v, f64::NEG_INFINITY, f64::INFINITY);
                }
            }
        },
        |mut a, b| {
            merge_moms(&mut a.mom, &b.mom);
            merge_errs(&mut a.err, &b.err);
            a
        },
    )
}

fn float_hist(layout: Layout, own: Floats<'_>, lo: f64, hi: f64) -> Histogram {
    let b = Binner::new(lo, hi, ADAPTIVE_BINS);
    let counts = scan(
        Layout::per_tensor(layout.n),
        None,
        Some(own),
        None,
        || vec![0u64; b.bins()],
        |acc, seg| {
            for &v in seg.v {
                if let Some(k) = b.bin(v) {
                    acc[k] += 1;
                }
            }
        },
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    );
    b.into_histogram(counts)
}

/// Per-channel histograms for percentile / MSE clipping.
fn clip_hists(layout: Layout, own: Floats<'_>, mom: &[Moments], symmetric: bool) -> Vec<ClipHist> {
    let nc = layout.channels;
    let ranges: Vec<(f64, f64)> = mom
        .iter()
        .map(|m| {
            let h = ClipHist {
                min: m.min,
                max: m.max,
                counts: Vec::new(),
            };
            h.hist_range(symmetric)
        })
        .collect();
    let counts = scan(
        layout,
        None,
        Some(own),
        None,
        || vec![0u64; nc * CLIP_BINS],
        |acc, seg| {
            let (lo, hi) = ranges[seg.c];
            let w = if hi > lo {
                CLIP_BINS as f64 / (hi - lo)
            } else {
                0.0
            };
            let h = &mut acc[seg.c * CLIP_BINS..(seg.c + 1) * CLIP_BINS];
            for &v in seg.v {
                let v = if symmetric { v.abs() } else { v };
                let k = (((v - lo) * w) as usize).min(CLIP_BINS - 1);
                h[k] += 1;
            }
        },
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    );
    (0..nc)
        .map(|c| ClipHist {
            min: mom[c].min,
            max: mom[c].max,
            counts: counts[c * CLIP_BINS..(c + 1) * CLIP_BINS].to_vec(),
        })
        .collect()
}

// ---- one tensor ---------------------------------------------------------------------------

struct Ctx<'a> {
    model: &'a Model,
    float: Option<&'a Model>,
    pairing: Option<&'a Pairing>,
    opts: &'a Options,
    uses: Vec<Vec<Vec<Use>>>,
    checks: Vec<Vec<Check>>,
}

/// Why a constant is not analysed (`None`: it is).
fn skip_reason(t: &Tensor, data: &[u8]) -> Option<String> {
    let quantized = t
        .quantization
        .as_ref()
        .is_some_and(|q| !q.scales.is_empty());
    if t.sparsity.is_some() {
        return Some("sparse storage (not decoded)".into());
    }
    if !(t.dtype.is_float() || quantized && t.dtype.is_quantizable_int()) {
        return Some(
            if t.dtype.is_quantizable_int() || t.dtype.int_range().is_some() {
                "integer constant without quantization parameters (shape or index data)".into()
            } else {
                format!("{} constant", t.dtype)
            },
        );
    }
    let Some(shape) = usize_shape(&t.shape) else {
        return Some(format!("shape {:?} has negative dimensions", t.shape));
    };
    let n: usize = shape.iter().product();
    if n == 0 {
        return Some("empty tensor".into());
    }
    match t.dtype.storage_bytes(n) {
        Some(b) if b == data.len() => None,
        want => Some(format!(
            "{} stored bytes but shape {:?} of {} needs {}",
            data.len(),
            t.shape,
            t.dtype,
            want.map_or("?".into(), |w| w.to_string())
        )),
    }
}

fn analyze_tensor(ctx: &Ctx<'_>, sg: usize, t: &Tensor) -> Result<TensorAnalysis, String> {
    let data = ctx.model.tensor_data(sg, t.index).unwrap_or(&[]);
    if let Some(r) = skip_reason(t, data) {
        return Err(r);
    }
    let shape = usize_shape(&t.shape).unwrap();
    let n: usize = shape.iter().product();
    let uses = &ctx.uses[sg][t.index];
    let role = roles::primary(uses);
    let quant = t.quantization.as_ref().filter(|q| !q.scales.is_empty());

    // The paired float reference.
    let mut reference = None;
    let mut ref_floats = None;
    if let (Some(fm), Some(pairing)) = (ctx.float, ctx.pairing) {
        if let Some(pair) = pairing.float_for(sg, t.index) {
            let ft = &fm.subgraphs[sg].tensors[pair.float];
            let fdata = fm.tensor_data(sg, pair.float).unwrap_or(&[]);
            if ft.dtype.storage_bytes(n) == Some(fdata.len()) {
                ref_floats = Floats::new(ft.dtype, fdata);
                reference = Some(Reference::FloatModel {
                    index: ft.index,
                    name: ft.name.clone(),
                    dtype: ft.dtype,
                    paired_by: pair.by,
                });
            }
        }
    }

    // What to analyse and how the elements map to channels.
    let (source, layout, axis, qparams) = if let Some(q) = quant {
        let per_channel = q.is_per_channel();
        let (layout, axis) = if per_channel {
            let axis = usize::try_from(q.quantized_dimension).ok();
            match axis.and_then(|a| Layout::along(&shape, a)) {
                Some(l) if l.channels == q.scales.len() => (l, axis),
                _ => {
                    return Err(format!(
                        "{} per-channel scales do not match axis {} of shape {:?}",
                        q.scales.len(),
                        q.quantized_dimension,
                        t.shape
                    ))
                }
            }
        } else {
            (Layout::per_tensor(n), None)
        };
        let nc = layout.channels;
        let z: Vec<i64> = (0..nc).map(|c| q.channel(c).1).collect();
        let symmetric = z.iter().all(|&z| z == 0);
        let p = QParams {
            s: (0..nc).map(|c| q.channel(c).0 as f64).collect(),
            z,
            range: quant_range(t.dtype, symmetric),
        };
        let ints = match (Narrow::new(t.dtype, data), Wide::new(t.dtype, data)) {
            (Some(nw), _) => Ints::Narrow(nw),
            (None, Some(w)) => Ints::Wide(w),
            _ => return Err(format!("quantized {} is not supported", t.dtype)),
        };
        (Source::Stored(ints), layout, axis, Some(p))
    } else {
        let own = Floats::new(t.dtype, data).unwrap();
        let simulate = ctx
            .opts
            .simulate
            .filter(|_| role.is_some_and(|u| u.kind == RoleKind::Weights));
        match simulate {
            Some(scheme) => {
                let axis = if scheme.per_channel {
                    Some(
                        role.and_then(|u| roles::expected_weight_axis(&u.op))
                            .unwrap_or(0)
                            .min(shape.len().saturating_sub(1)),
                    )
                } else {
                    None
                };
                let layout = match axis {
                    Some(a) => Layout::along(&shape, a).unwrap_or(Layout::per_tensor(n)),
                    None => Layout::per_tensor(n),
                };
                (Source::Simulated(own, scheme), layout, axis, None)
            }
            None => (Source::Float(own), Layout::per_tensor(n), None, None),
        }
    };
    let nc = layout.channels;
    let per_channel = nc > 1 || axis.is_some();

    let mut checks: Vec<Check> = ctx.checks[sg]
        .iter()
        .filter(|c| c.tensor == t.index)
        .cloned()
        .collect();

    let mut out = TensorAnalysis {
        subgraph: sg,
        index: t.index,
        name: t.name.clone(),
        dtype: t.dtype,
        shape: t.shape.clone(),
        role: role.map(Use::label),
        role_kind: role.map(|u| u.kind),
        op_index: role.map(|u| u.op_index),
        per_channel,
        axis,
        channel_count: nc,
        n: n as u64,
        bytes: data.len(),
        reference: None,
        scale_min: None,
        scale_max: None,
        scale_spread: None,
        int_stats: None,
        real_stats: None,
        reference_stats: None,
        range: RangeFields::default(),
        dead_channels: Vec::new(),
        errors: ErrorFields::default(),
        histogram: Histogram::default(),
        real_histogram: None,
        checks: Vec::new(),
        channels: Vec::new(),
        error: None,
        sums: None,
    };

    let (p, res, ref_mom) = match source {
        Source::Float(own) => {
            let acc = float_pass(layout, own, ref_floats);
            let m = acc.mom[0];
            out.real_stats = m.summary();
            out.histogram = float_hist(layout, own, m.min, m.max);
            out.dead_channels = if m.min == 0.0 && m.max == 0.0 {
                vec![0]
            } else {
                vec![]
            };
            if let Some(e) = acc.err.first() {
                let em = ErrorMetrics::for_channel(e, None);
                out.sums = Some((e.sum_x2, e.sum_e2));
                out.errors = Some(&em).into();
                out.error = Some(em);
                out.reference = reference;
            }
            out.checks = checks;
            return Ok(out);
        }
        Source::Stored(ints) => {
            let p = qparams.unwrap();
            let res = int_passes(
                layout,
                t.dtype,
                Some(ints),
                None,
                ref_floats,
                &p,
                false,
                ctx.opts.channel_histograms,
            );
            if ref_floats.is_some() {
                out.reference = reference;
            }
            (p, res, None)
        }
        Source::Simulated(own, scheme) => {
            let acc = float_pass(layout, own, None);
            let hists = (scheme.clip != simulate::Clip::MinMax)
                .then(|| clip_hists(layout, own, &acc.mom, scheme.symmetric));
            let mut s = Vec::with_capacity(nc);
            let mut z = Vec::with_capacity(nc);
            for c in 0..nc {
                let m = &acc.mom[c];
                let (lo, hi) =
                    simulate::clip_range(m.min, m.max, hists.as_ref().map(|h| &h[c]), &scheme);
                let (sc, zp) = simulate::params_for_range(lo, hi, &scheme);
                s.push(sc as f64);
                z.push(zp);
            }
            let p = QParams {
                s,
                z,
                range: scheme.range(),
            };
            let res = int_passes(
                layout,
                scheme.bits.dtype(),
                None,
                Some(own),
                None,
                &p,
                true,
                ctx.opts.channel_histograms,
            );
            out.reference = Some(Reference::Simulated {
                scheme,
                dtype: scheme.bits.dtype(),
            });
            (p, res, Some(acc.mom))
        }
    };

    // Int8 weights at -128.
    if let (Some((counts, nb, qmin)), Some(u)) = (&res.counts, role) {
        let is_weight = uses.iter().any(|u| u.kind == RoleKind::Weights);
        if is_weight && *qmin == -128 && quant.is_some() {
            let at: Vec<u64> = (0..nc).map(|c| counts[c * nb]).collect();
            checks.extend(checks::weight_value_checks(t, Some(u), nc > 1, &at));
        }
    }

    // Scales.
    let (smin, smax) =
        p.s.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &s| {
                (a.min(s), b.max(s))
            });
    out.scale_min = Some(smin);
    out.scale_max = Some(smax);
    out.scale_spread = (smin > 0.0).then(|| smax / smin);

    // Per channel.
    let mut tot_int = Moments::default();
    let mut tot_real = Moments::default();
    let mut tot_ref = Moments::default();
    let mut tot_err = ErrorAcc::default();
    let mut sum_e2_lsb = 0.0;
    let mut max_lsb: f64 = 0.0;
    let mut sat_total = 0;
    let mut hists = res.channel_hists.clone().map(|h| h.into_iter());
    for c in 0..nc {
        let mi = res.mom[c];
        let mr = mi.affine(p.s[c], p.z[c] as f64);
        tot_int = tot_int.merge(&mi);
        tot_real = tot_real.merge(&mr);
        if let Some(rm) = &ref_mom {
            tot_ref = tot_ref.merge(&rm[c]);
        }
        sat_total += res.sat[c];
        // A zero bias is not a dead channel; weights (or other constants) all at the zero point are.
        let dead = role.is_none_or(|u| u.kind != RoleKind::Bias)
            && mi.n > 0
            && mi.min == p.z[c] as f64
            && mi.max == p.z[c] as f64;
        if dead {
            out.dead_channels.push(c);
        }
        let em = res.err.as_ref().map(|e| {
            let e = &e[c];
            tot_err.merge(e);
            sum_e2_lsb += e.sum_e2 / (p.s[c] * p.s[c]);
            max_lsb = max_lsb.max(e.max_abs_e / p.s[c]);
            ErrorMetrics::for_channel(e, Some(p.s[c]))
        });
        if nc > 1 {
            let range = res.levels[c]
                .map(|l| RangeUse::new(l, mi.min as i64, mi.max as i64, p.range, res.sat[c]));
            out.channels.push(ChannelAnalysis {
                channel: c,
                scale: Some(p.s[c]),
                zero_point: Some(p.z[c]),
                n: mi.n,
                int_stats: mi.summary(),
                real_stats: mr.summary(),
                range: range.into(),
                dead,
                errors: em.as_ref().into(),
                histogram: hists.as_mut().and_then(|h| h.next()),
                error: em,
            });
        }
    }
    out.int_stats = tot_int.summary();
    out.real_stats = tot_real.summary();
    if ref_mom.is_some() {
        out.reference_stats = tot_ref.summary();
    }
    out.range = res
        .levels_total
        .map(|l| {
            RangeUse::new(
                l,
                tot_int.min as i64,
                tot_int.max as i64,
                p.range,
                sat_total,
            )
        })
        .into();
    if res.err.is_some() {
        let em = ErrorMetrics::new(&tot_err, Some(sum_e2_lsb), Some(max_lsb));
        out.sums = Some((tot_err.sum_x2, tot_err.sum_e2));
        out.errors = Some(&em).into();
        out.error = Some(em);
    }
    out.histogram = res.int_hist;
    out.real_histogram = res.real_hist;
    checks.sort_by(|a, b| b.severity.cmp(&a.severity));
    out.checks = checks;
    Ok(out)
}

// ---- the model ----------------------------------------------------------------------------

/// Analyses every constant of `model` (all subgraphs): statistics, range use and spec checks;
/// errors against `float` (paired constants) or against simulated quantization
/// (`opts.simulate`, of `model`'s float weights).
pub fn analyze(
    model: &Model,
    float: Option<&Model>,
    opts: &Options,
) -> Result<WeightsReport, AnalyzeError> {
    let name = |m: &Model| {
        m.path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<memory>".into())
    };
    let uses: Vec<Vec<Vec<Use>>> = model.subgraphs.iter().map(roles::uses).collect();
    let candidates: Vec<(usize, &Tensor)> = model
        .subgraphs
        .iter()
        .enumerate()
        .flat_map(|(si, g)| {
            g.tensors
                .iter()
                .filter(|t| t.is_constant)
                .map(move |t| (si, t))
        })
        .collect();
    if opts.simulate.is_some() {
        let sim = candidates.iter().any(|(si, t)| {
            t.dtype.is_float()
                && t.quantization.as_ref().is_none_or(|q| q.scales.is_empty())
                && uses[*si][t.index]
                    .iter()
                    .any(|u| u.kind == RoleKind::Weights)
        });
        if !sim {
            let nq = candidates
                .iter()
                .filter(|(_, t)| {
                    t.quantization
                        .as_ref()
                        .is_some_and(|q| !q.scales.is_empty())
                })
                .count();
            return Err(AnalyzeError::NothingToSimulate(name(model), nq));
        }
    }
    let analysable = |si: usize, ti: usize| {
        let t = &model.subgraphs[si].tensors[ti];
        t.is_constant && skip_reason(t, model.tensor_data(si, ti).unwrap_or(&[])).is_none()
    };
    let pairing = float.map(|f| pairing::pair(model, f, analysable));
    let checks: Vec<Vec<Check>> = (0..model.subgraphs.len())
        .into_par_iter()
        .map(|si| checks::check_subgraph(model, si))
        .collect();
    let ctx = Ctx {
        model,
        float,
        pairing: pairing.as_ref(),
        opts,
        uses,
        checks,
    };
    let results: Vec<Result<TensorAnalysis, Skipped>> = candidates
        .par_iter()
        .map(|&(si, t)| {
            analyze_tensor(&ctx, si, t).map_err(|reason| Skipped {
                subgraph: si,
                index: t.index,
                name: t.name.clone(),
                dtype: t.dtype,
                reason,
            })
        })
        .collect();
    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(a) => tensors.push(a),
            Err(s) => skipped.push(s),
        }
    }
    let rollup = rollup(model, float, &tensors, &skipped, opts);
    let (unmatched_quant, unmatched_float) = match pairing {
        Some(p) => (p.unmatched_quant, p.unmatched_float),
        None => (Vec::new(), Vec::new()),
    };
    Ok(WeightsReport {
        model: name(model),
        float_model: float.map(name),
        reference: if float.is_some() {
            "float_model"
        } else if opts.simulate.is_some() {
            "simulated"
        } else {
            "none"
        },
        scheme: opts.simulate,
        tensors,
        skipped,
        unmatched_quant,
        unmatched_float,
        rollup,
    })
}

fn rollup(
    model: &Model,
    float: Option<&Model>,
    tensors: &[TensorAnalysis],
    skipped: &[Skipped],
    opts: &Options,
) -> Rollup {
    let mut r = Rollup {
        tensors_analysed: tensors.len(),
        tensors_skipped: skipped.len(),
        ..Default::default()
    };
    for t in tensors {
        for c in &t.checks {
            match c.severity {
                Severity::Error => r.errors += 1,
                Severity::Warning => r.warnings += 1,
                Severity::Info => {}
            }
        }
    }
    let compared: Vec<&TensorAnalysis> = tensors.iter().filter(|t| t.error.is_some()).collect();
    r.tensors_compared = compared.len();
    let (sx, se) = compared
        .iter()
        .filter_map(|t| t.sums)
        .fold((0.0, 0.0), |(a, b), (x, e)| (a + x, b + e));
    r.overall_sqnr_db = super::metrics::sqnr_db(sx, se);
    let mut worst: Vec<Worst> = compared
        .iter()
        .map(|t| Worst {
            subgraph: t.subgraph,
            index: t.index,
            name: t.name.clone(),
            role: t.role.clone(),
            sqnr_db: t.errors.sqnr_db,
            rmse_over_scale: t.errors.rmse_over_scale,
            max_abs_err_lsb: t.errors.max_abs_err_lsb,
        })
        .collect();
    worst.sort_by(|a, b| {
        let k = |w: &Worst| w.sqnr_db.unwrap_or(f64::INFINITY);
        k(a).total_cmp(&k(b))
    });
    r.worst = worst;
    let consts = |m: &Model| -> Vec<(DType, u64, u64)> {
        m.subgraphs
            .iter()
            .flat_map(|g| g.tensors.iter().filter(|t| t.is_constant))
            .map(|t| {
                let n = usize_shape(&t.shape)
                    .map(|s| s.iter().product::<usize>())
                    .unwrap_or(0) as u64;
                (t.dtype, n, t.buffer_bytes as u64)
            })
            .collect()
    };
    for (d, n, b) in consts(model) {
        let e = r.bytes_by_dtype.entry(d.name()).or_default();
        e.tensors += 1;
        e.elements += n;
        e.bytes += b;
        r.constant_bytes += b;
        r.float32_bytes += 4 * n;
    }
    r.bytes_saved = r.float32_bytes as i64 - r.constant_bytes as i64;
    r.float_model_bytes = float.map(|f| consts(f).iter().map(|c| c.2).sum());
    if let Some(s) = opts.simulate {
        let mut total = r.constant_bytes;
        for t in tensors
            .iter()
            .filter(|t| matches!(t.reference, Some(Reference::Simulated { .. })))
        {
            let q = s.bits.dtype().storage_bytes(t.n as usize).unwrap_or(0) as u64;
            total = total - t.bytes as u64 + q + 12 * t.channel_count as u64;
        }
        r.simulated_bytes = Some(total);
    }
    r
}
