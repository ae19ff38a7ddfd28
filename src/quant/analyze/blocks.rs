//! Blockwise tensors: one scale per `block_size` consecutive elements of the last dimension
//! (`BlockwiseQuantization`; the AI Edge Quantizer's BLOCKWISE_32/64/128), stored or simulated.
//! Analysed block by block: per block its scale, integer range use and, with a float reference,
//! error and clipping. Memory is O(blocks): a histogram per block, as channels get, would not
//! fit a large model (4096 x 4096 weights are 524,288 blocks of 32).

use super::*;
use crate::quant::metrics::sqnr_db;
use crate::quant::simulate::{blockwise_scale, quantize_blockwise};

/// Worst blocks listed per tensor.
pub const WORST_BLOCKS: usize = 10;
/// Blocks per parallel work item.
const BLOCKS_PER_TASK: usize = 1024;

/// Where the blocks of a tensor sit: `rows` (all dimensions but the last) by `per_row` blocks;
/// block `k` is `[k / per_row, k % per_row]` and holds elements `k * size .. (k + 1) * size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockGrid {
    pub size: usize,
    pub rows: usize,
    pub per_row: usize,
}

impl BlockGrid {
    /// Blocks of `block_size` along the last dimension of `shape`, if it splits into whole
    /// blocks.
    pub fn new(shape: &[usize], block_size: usize) -> Option<BlockGrid> {
        let (&cols, outer) = shape.split_last()?;
        if block_size == 0 || cols == 0 || cols % block_size != 0 {
            return None;
        }
        Some(BlockGrid {
            size: block_size,
            rows: outer.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?,
            per_row: cols / block_size,
        })
    }
    pub fn count(&self) -> usize {
        self.rows * self.per_row
    }
}

/// The blocks' values.
#[derive(Clone, Copy)]
pub(super) enum BlockSource<'a> {
    /// Stored integers with one scale (and zero point; empty = 0) per block.
    Stored {
        ints: Narrow<'a>,
        scales: &'a [f32],
        zero_points: &'a [i64],
    },
    /// Floats quantized blockwise in simulation (the AI Edge Quantizer's arithmetic).
    Simulated { own: Floats<'a> },
}

/// One blockwise tensor as the passes read it.
#[derive(Clone, Copy)]
pub(super) struct BlockTensor<'a> {
    pub grid: BlockGrid,
    /// The stored dtype (for a simulation, the scheme's).
    pub dtype: DType,
    pub src: BlockSource<'a>,
    /// The integer range the blocks quantize to (`[-8, 7]` for int4, `[-127, 127]` for int8).
    pub range: (i64, i64),
}

/// One block, as the pass leaves it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BlockOut {
    scale: f64,
    int_min: i64,
    int_max: i64,
    saturated: u64,
    /// Dequantized values.
    real: Moments,
    err: ErrorAcc,
}

/// The per-block view of a blockwise tensor (`quantscope weights --json`: `blocks`). Per-block
/// vectors are row-major over `[row, block]`; the error vectors are empty without a reference.
#[derive(Clone, Debug, Serialize)]
pub struct BlockAnalysis {
    pub block_size: usize,
    pub rows: usize,
    pub blocks_per_row: usize,
    /// Integer range of every block (`[-8, 7]` for int4, `[-127, 127]` for int8).
    pub int_range: (i64, i64),
    pub scale: Vec<f64>,
    pub int_min: Vec<i64>,
    pub int_max: Vec<i64>,
    /// Elements at either integer limit.
    pub saturated: Vec<u64>,
    /// `10 log10(sum x^2 / sum e^2)` per block; null when exact (or the reference is all 0).
    pub sqnr_db: Vec<Option<f64>>,
    /// `sqrt(mean e^2) / scale` (LSB).
    pub rmse_over_scale: Vec<f64>,
    pub max_abs_err: Vec<f64>,
    /// `max |e| / scale` (LSB): at most 0.5 unless clipped.
    pub max_abs_err_lsb: Vec<f64>,
    /// Reference values beyond the block's representable range (+-1/2 LSB past the limits).
    pub clipped: Vec<u64>,
    pub scale_min: f64,
    /// The middle scale (the mean of the two middle ones for an even count, as numpy).
    pub scale_median: f64,
    pub scale_max: f64,
    pub scale_mean: f64,
    pub blocks_saturated: usize,
    pub blocks_clipped: usize,
    /// `sqnr_db` (lowest first) with a reference, else `scale` (largest first).
    pub worst_by: &'static str,
    pub worst: Vec<WorstBlock>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorstBlock {
    pub block: usize,
    pub row: usize,
    /// The block's position within its row.
    pub column: usize,
    pub scale: f64,
    pub sqnr_db: Option<f64>,
    pub max_abs_err_lsb: Option<f64>,
    pub clipped: u64,
    pub saturated: u64,
}

impl BlockAnalysis {
    /// `(row, block within the row)` of block `k`.
    pub fn position(&self, k: usize) -> (usize, usize) {
        (
            k / self.blocks_per_row.max(1),
            k % self.blocks_per_row.max(1),
        )
    }
    pub fn has_errors(&self) -> bool {
        !self.sqnr_db.is_empty()
    }

    /// The block-scale summary line the CLI and the app both print (`prec` digits after the
    /// point of each scale).
    pub fn scale_summary(&self, prec: usize) -> String {
        format!(
            "block scale min {:.prec$e} median {:.prec$e} max {:.prec$e} mean {:.prec$e}; {} blocks with saturated values{}",
            self.scale_min,
            self.scale_median,
            self.scale_max,
            self.scale_mean,
            self.blocks_saturated,
            if self.has_errors() {
                format!(", {} with clipped values", self.blocks_clipped)
            } else {
                String::new()
            }
        )
    }
}

/// Everything the tensor-level fields need, plus the per-block view.
pub(super) struct BlockResult {
    pub(super) blocks: BlockAnalysis,
    /// `counts[q - qmin]` over the tensor.
    pub(super) counts: Vec<u64>,
    pub(super) qmin: i64,
    pub(super) real: Moments,
    pub(super) err: Option<ErrorAcc>,
    pub(super) sum_e2_lsb: f64,
    pub(super) max_lsb: f64,
    pub(super) saturated: u64,
}

/// The integers of block `b` (elements `r`) into `q`, with the block's scale and zero point;
/// `v` receives the floats of a simulation.
#[inline]
fn block_ints(
    t: BlockTensor<'_>,
    b: usize,
    r: std::ops::Range<usize>,
    qmin: i64,
    idx: &mut [u8],
    v: &mut [f64],
    q: &mut [i64],
) -> (f64, i64) {
    let range = t.range;
    match t.src {
        BlockSource::Stored {
            ints,
            scales,
            zero_points,
        } => {
            ints.decode(r, idx);
            for (o, &i) in q.iter_mut().zip(idx.iter()) {
                *o = i as i64 + qmin;
            }
            (scales[b] as f64, zero_points.get(b).copied().unwrap_or(0))
        }
        BlockSource::Simulated { own } => {
            own.decode(r, v);
            let m = v.iter().fold(0f32, |m, &a| m.max((a as f32).abs()));
            let s = blockwise_scale(m, range.1);
            for (o, &a) in q.iter_mut().zip(v.iter()) {
                *o = quantize_blockwise(a as f32, s, range.0, range.1);
            }
            (s as f64, 0)
        }
    }
}

/// Histogram of the dequantized values over `[lo, hi]` (a second pass).
pub(super) fn real_histogram(t: BlockTensor<'_>, lo: f64, hi: f64) -> Histogram {
    let qmin = crate::quant::scan::narrow_bins(t.dtype).map_or(-128, |b| b.1);
    let bs = t.grid.size;
    let binner = Binner::new(lo, hi, ADAPTIVE_BINS);
    let nb = t.grid.count();
    let counts = (0..nb.div_ceil(BLOCKS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let (mut idx, mut v, mut q) = (vec![0u8; bs], vec![0f64; bs], vec![0i64; bs]);
            let mut c = vec![0u64; binner.bins()];
            for b in task * BLOCKS_PER_TASK..nb.min((task + 1) * BLOCKS_PER_TASK) {
                let (s, z) = block_ints(t, b, b * bs..(b + 1) * bs, qmin, &mut idx, &mut v, &mut q);
                for &qi in &q {
                    if let Some(k) = binner.bin(dequantize(s, qi, z)) {
                        c[k] += 1;
                    }
                }
            }
            c
        })
        .reduce(
            || vec![0u64; binner.bins()],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    binner.into_histogram(counts)
}

/// One pass over every block (in parallel). `reference`: the paired float tensor (stored
/// integers only; a simulation is compared with its own floats).
pub(super) fn block_pass(t: BlockTensor<'_>, reference: Option<Floats<'_>>) -> BlockResult {
    let BlockTensor {
        grid, src, range, ..
    } = t;
    let (bins, qmin) = crate::quant::scan::narrow_bins(t.dtype).unwrap_or((256, -128));
    let nb = grid.count();
    let bs = grid.size;
    let has_ref = reference.is_some() || matches!(src, BlockSource::Simulated { .. });
    let tasks: Vec<(Vec<BlockOut>, Vec<u64>)> = (0..nb.div_ceil(BLOCKS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let mut idx = vec![0u8; bs];
            let mut v = vec![0f64; bs];
            let mut x = vec![0f64; bs];
            let mut q = vec![0i64; bs];
            let mut deq = vec![0f64; bs];
            let mut counts = vec![0u64; bins];
            let end = nb.min((task + 1) * BLOCKS_PER_TASK);
            let outs = (task * BLOCKS_PER_TASK..end)
                .map(|b| {
                    let r = b * bs..(b + 1) * bs;
                    let (s, z) = block_ints(t, b, r.clone(), qmin, &mut idx, &mut v, &mut q);
                    let xs: Option<&[f64]> = match (src, reference) {
                        (BlockSource::Simulated { .. }, _) => Some(&v),
                        (_, Some(f)) => {
                            f.decode(r, &mut x);
                            Some(&x)
                        }
                        _ => None,
                    };
                    let (lo, hi) = clip_thresholds(s, z, range.0, range.1);
                    let mut o = BlockOut {
                        scale: s,
                        int_min: i64::MAX,
                        int_max: i64::MIN,
                        ..Default::default()
                    };
                    for (d, &qi) in deq.iter_mut().zip(&q) {
                        counts[((qi - qmin) as usize).min(bins - 1)] += 1;
                        o.int_min = o.int_min.min(qi);
                        o.int_max = o.int_max.max(qi);
                        o.saturated += (qi <= range.0 || qi >= range.1) as u64;
                        *d = dequantize(s, qi, z);
                    }
                    o.real = Moments::of_slice(&deq);
                    if let Some(xs) = xs {
                        for (&xi, &d) in xs.iter().zip(&deq) {
                            o.err.push(xi, d, lo, hi);
                        }
                    }
                    o
                })
                .collect();
            (outs, counts)
        })
        .collect();
    let mut outs = Vec::with_capacity(nb);
    let mut counts = vec![0u64; bins];
    for (o, c) in tasks {
        outs.extend(o);
        counts.iter_mut().zip(&c).for_each(|(a, b)| *a += b);
    }
    summarize(grid, range, outs, counts, qmin, has_ref)
}

fn summarize(
    grid: BlockGrid,
    range: (i64, i64),
    outs: Vec<BlockOut>,
    counts: Vec<u64>,
    qmin: i64,
    has_ref: bool,
) -> BlockResult {
    let mut real = Moments::default();
    let mut err = ErrorAcc::default();
    let (mut sum_e2_lsb, mut max_lsb, mut saturated) = (0.0, 0f64, 0);
    let lsb = |v: f64, s: f64| if s > 0.0 { v / s } else { f64::INFINITY };
    let mut b = BlockAnalysis {
        block_size: grid.size,
        rows: grid.rows,
        blocks_per_row: grid.per_row,
        int_range: range,
        scale: Vec::with_capacity(outs.len()),
        int_min: Vec::with_capacity(outs.len()),
        int_max: Vec::with_capacity(outs.len()),
        saturated: Vec::with_capacity(outs.len()),
        sqnr_db: Vec::new(),
        rmse_over_scale: Vec::new(),
        max_abs_err: Vec::new(),
        max_abs_err_lsb: Vec::new(),
        clipped: Vec::new(),
        scale_min: 0.0,
        scale_median: 0.0,
        scale_max: 0.0,
        scale_mean: 0.0,
        blocks_saturated: 0,
        blocks_clipped: 0,
        worst_by: if has_ref { "sqnr_db" } else { "scale" },
        worst: Vec::new(),
    };
    for o in &outs {
        real = real.merge(&o.real);
        saturated += o.saturated;
        b.scale.push(o.scale);
        b.int_min.push(o.int_min);
        b.int_max.push(o.int_max);
        b.saturated.push(o.saturated);
        if has_ref {
            let e = &o.err;
            err.merge(e);
            let e2_lsb = lsb(e.sum_e2, o.scale * o.scale);
            sum_e2_lsb += e2_lsb;
            max_lsb = max_lsb.max(lsb(e.max_abs_e, o.scale));
            b.sqnr_db.push(sqnr_db(e.sum_x2, e.sum_e2));
            b.rmse_over_scale.push((e2_lsb / e.n.max(1) as f64).sqrt());
            b.max_abs_err.push(e.max_abs_e);
            b.max_abs_err_lsb.push(lsb(e.max_abs_e, o.scale));
            b.clipped.push(e.clip_below + e.clip_above);
        }
    }
    b.blocks_saturated = b.saturated.iter().filter(|&&s| s > 0).count();
    b.blocks_clipped = b.clipped.iter().filter(|&&c| c > 0).count();
    let mut sorted = b.scale.clone();
    sorted.sort_by(f64::total_cmp);
    if let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) {
        let m = sorted.len();
        b.scale_min = lo;
        b.scale_max = hi;
        b.scale_median = if m % 2 == 1 {
            sorted[m / 2]
        } else {
            (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0
        };
        b.scale_mean = sorted.iter().sum::<f64>() / m as f64;
    }
    let mut order: Vec<usize> = (0..b.scale.len()).collect();
    if has_ref {
        let key = |k: usize| b.sqnr_db[k].unwrap_or(f64::INFINITY);
        order.sort_by(|&p, &q| key(p).total_cmp(&key(q)).then(p.cmp(&q)));
    } else {
        order.sort_by(|&p, &q| b.scale[q].total_cmp(&b.scale[p]).then(p.cmp(&q)));
    }
    b.worst = order
        .into_iter()
        .take(WORST_BLOCKS)
        .map(|k| {
            let (row, column) = b.position(k);
            WorstBlock {
                block: k,
                row,
                column,
                scale: b.scale[k],
                sqnr_db: b.sqnr_db.get(k).copied().flatten(),
                max_abs_err_lsb: b.max_abs_err_lsb.get(k).copied(),
                clipped: b.clipped.get(k).copied().unwrap_or(0),
                saturated: b.saturated[k],
            }
        })
        .collect();
    BlockResult {
        blocks: b,
        counts,
        qmin,
        real,
        err: has_ref.then_some(err),
        sum_e2_lsb,
        max_lsb,
        saturated,
    }
}

/// Fills the tensor-level fields of `out` and its per-block view from one block pass (and a
/// second one for the histogram of real values).
pub(super) fn analyze_blocks(
    mut out: TensorAnalysis,
    t: BlockTensor<'_>,
    reference: Option<Floats<'_>>,
) -> TensorAnalysis {
    let BlockTensor { grid, range, .. } = t;
    let res = block_pass(t, reference);
    let b = &res.blocks;
    out.per_channel = true;
    out.axis = Some(out.shape.len().saturating_sub(1));
    out.channel_count = grid.count();
    out.scale_min = Some(b.scale_min);
    out.scale_max = Some(b.scale_max);
    out.scale_spread = (b.scale_min > 0.0).then(|| b.scale_max / b.scale_min);
    let qmin = res.qmin;
    let int = Moments::of_counts(&res.counts, |k| (qmin + k as i64) as f64);
    out.int_stats = int.summary();
    out.real_stats = res.real.summary();
    let levels = res.counts.iter().filter(|&&c| c > 0).count() as u64;
    out.range = (int.n > 0)
        .then(|| RangeUse::new(levels, int.min as i64, int.max as i64, range, res.saturated))
        .into();
    if let Some(e) = &res.err {
        let em = ErrorMetrics::new(e, Some(res.sum_e2_lsb), Some(res.max_lsb));
        out.sums = Some((e.sum_x2, e.sum_e2));
        out.errors = Some(&em).into();
        out.error = Some(em);
    }
    out.histogram = Histogram {
        edges: (0..=res.counts.len())
            .map(|k| (qmin + k as i64) as f64)
            .collect(),
        counts: res.counts.clone(),
    };
    let r = res.real;
    out.real_histogram = (r.n > 0).then(|| real_histogram(t, r.min, r.max));
    out.blocks = Some(res.blocks);
    out
}
