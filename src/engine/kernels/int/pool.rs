//! Quantized AVERAGE_POOL_2D, reductions (MEAN, SUM, REDUCE_MAX/MIN/PROD) and RESIZE_BILINEAR.

use super::{array, bail, clamp_to, flat, fused, on_qint, out_range, qparams, QInt};
use crate::engine::arith::{self, mbqm};
use crate::engine::kernels::pool::{geom, PoolGeom};
use crate::engine::kernels::{norm_axis, OpCtx};
use crate::engine::{EngineError, Value};
use ndarray::ArrayD;
use rayon::prelude::*;

pub fn avg_pool(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    on_qint!(ctx.input(0)?, x => avg_pool_q(ctx, x),
        "AVERAGE_POOL_2D on {} is not supported")
}

/// `reference_integer_ops::AveragePool`: sum over the in-bounds window, divided by the number
/// of in-bounds taps rounding half away from zero, clamped to the activation range. Input and
/// output share quantization.
fn avg_pool_q<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let PoolGeom {
        n,
        h: ih,
        w: iw,
        c,
        fh,
        fw,
        sh: sy,
        sw: sx,
        oh,
        ow,
        ph,
        pw,
    } = geom(ctx, x.shape())?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xs = flat(x);
    let mut out = vec![T::default(); n * oh * ow * c];
    if out.is_empty() {
        return Ok(vec![T::wrap(array(&[n, oh, ow, c], out)?)]);
    }
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(r, orow)| {
            let b = r / oh;
            let oy = r % oh;
            let mut acc = vec![0i32; c];
            for ox in 0..ow {
                let iy0 = (oy * sy) as i64 - ph as i64;
                let ix0 = (ox * sx) as i64 - pw as i64;
                let fy0 = (-iy0).max(0) as usize;
                let fy1 = (fh as i64).min(ih as i64 - iy0).max(0) as usize;
                let fx0 = (-ix0).max(0) as usize;
                let fx1 = (fw as i64).min(iw as i64 - ix0).max(0) as usize;
                acc.iter_mut().for_each(|a| *a = 0);
                let mut count = 0i32;
                for fy in fy0..fy1 {
                    for fx in fx0..fx1 {
                        let iy = (iy0 + fy as i64) as usize;
                        let ix = (ix0 + fx as i64) as usize;
                        let src =
                            &xs[((b * ih + iy) * iw + ix) * c..((b * ih + iy) * iw + ix + 1) * c];
                        for (a, &v) in acc.iter_mut().zip(src) {
                            *a += v.to_i32();
                        }
                        count += 1;
                    }
                }
                let dst = &mut orow[ox * c..(ox + 1) * c];
                for (d, &a) in dst.iter_mut().zip(&acc) {
                    let v = if count == 0 {
                        0
                    } else if a > 0 {
                        (a + count / 2) / count
                    } else {
                        (a - count / 2) / count
                    };
                    *d = clamp_to::<T>(v, lo, hi);
                }
            }
        });
    Ok(vec![T::wrap(array(&[n, oh, ow, c], out)?)])
}

// --------------------------------------------------------------------------------------------
// Reductions
// --------------------------------------------------------------------------------------------

/// Splits `shape` into (outer, reduced, inner) index maps: returns, for the reduced axes, the
/// output shape (keep_dims or not) and a function from an input flat index to its output index.
fn reduce_plan(shape: &[usize], axes: &[usize], keep: bool) -> (Vec<usize>, Vec<usize>, usize) {
    let rank = shape.len();
    let mut out_shape = Vec::new();
    let mut out_dims = Vec::new(); // per input dim: output extent (1 if reduced)
    let mut count = 1usize;
    for d in 0..rank {
        if axes.contains(&d) {
            count *= shape[d];
            out_dims.push(1);
            if keep {
                out_shape.push(1);
            }
        } else {
            out_dims.push(shape[d]);
            out_shape.push(shape[d]);
        }
    }
    (out_shape, out_dims, count)
}

/// The wrapping i32 sums over `axes` when they are one contiguous run of dimensions (in any
/// order) followed by at least one kept one, e.g. MEAN over H and W of NHWC: each reduced row
/// of `inner` values is added onto its output row, in input order like the general path (the
/// sums wrap identically in any order anyway). `None`: other axis sets.
fn sum_middle_axes<T: QInt>(xs: &[T], shape: &[usize], axes: &[usize]) -> Option<Vec<i32>> {
    let (&a0, &a1) = (axes.iter().min()?, axes.iter().max()?);
    if a1 - a0 + 1 != axes.len() || a1 + 1 >= shape.len() {
        return None;
    }
    let outer: usize = shape[..a0].iter().product();
    let red: usize = shape[a0..=a1].iter().product();
    let inner: usize = shape[a1 + 1..].iter().product();
    if xs.len() != outer * red * inner || inner == 0 {
        return None;
    }
    let mut acc = vec![0i32; outer * inner];
    for (o, dst) in acc.chunks_exact_mut(inner).enumerate() {
        for row in xs[o * red * inner..(o + 1) * red * inner].chunks_exact(inner) {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = d.wrapping_add(v.to_i32());
            }
        }
    }
    Some(acc)
}

/// Output index of every input element.
fn out_index(shape: &[usize], out_dims: &[usize]) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let rank = shape.len();
    let mut idx = vec![0usize; rank];
    let mut res = Vec::with_capacity(n);
    for _ in 0..n {
        let mut o = 0;
        for d in 0..rank {
            o = o * out_dims[d] + if out_dims[d] == 1 { 0 } else { idx[d] };
        }
        res.push(o);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    res
}

pub fn reduce(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    on_qint!(ctx.input(0)?, x => reduce_q(ctx, x),
        "{} on {} is not supported", ctx.name())
}

fn reduce_q<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let shape = x.shape().to_vec();
    let rank = shape.len();
    let mut axes = Vec::new();
    for a in ctx.in_ints(1)? {
        let a = norm_axis(a, rank)?;
        if !axes.contains(&a) {
            axes.push(a);
        }
    }
    let keep = ctx
        .fb
        .builtin_options_as_reducer_options()
        .map(|o| o.keep_dims())
        .unwrap_or(false);
    let (out_shape, out_dims, count) = reduce_plan(&shape, &axes, keep);
    let n_out: usize = out_dims.iter().product();
    let xs = flat(x);
    if matches!(ctx.name(), "MEAN" | "SUM") {
        if let Some(acc) = sum_middle_axes(&xs, &shape, &axes) {
            let (in_s, in_z) = qparams(ctx.in_meta(0));
            let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
            let (mult, shift) = arith::quantize_multiplier(in_s as f64 / out_s as f64);
            let compute_sum = ctx.name() == "SUM";
            let out =
                quantized_mean_or_sum::<T>(&acc, count, in_z, mult, shift, out_z, compute_sum);
            return Ok(vec![T::wrap(array(&out_shape, out)?)]);
        }
    }
    let map = out_index(&shape, &out_dims);
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (lo, hi) = (T::MIN, T::MAX);
    let out: Vec<T> = match ctx.name() {
        "REDUCE_MAX" | "REDUCE_MIN" => {
            let is_max = ctx.name() == "REDUCE_MAX";
            let mut acc = vec![if is_max { i32::MIN } else { i32::MAX }; n_out];
            for (&v, &o) in xs.iter().zip(&map) {
                let v = v.to_i32();
                acc[o] = if is_max { acc[o].max(v) } else { acc[o].min(v) };
            }
            if (in_s, in_z) != (out_s, out_z) {
                bail!("{} with requantization is not supported", ctx.name());
            }
            acc.iter().map(|&a| clamp_to::<T>(a, lo, hi)).collect()
        }
        "MEAN" | "SUM" => {
            let mut acc = vec![0i32; n_out];
            for (&v, &o) in xs.iter().zip(&map) {
                acc[o] = acc[o].wrapping_add(v.to_i32());
            }
            // PrepareMeanOrSum: input_scale / output_scale in double.
            let (mult, shift) = arith::quantize_multiplier(in_s as f64 / out_s as f64);
            // SUM follows TFLite's optimized kernels, which deployed interpreters run:
            // ai-edge-litert 2.3.0's reference SUM reads int8 and int16 buffers through its
            // uint8 instantiation (bytes read as unsigned, outputs clamped to [0, 255] and
            // stored as bytes), which is a bug, not semantics. tests/engine_oracle.rs checks
            // these SUMs against the default kernels' outputs instead.
            let compute_sum = ctx.name() == "SUM";
            quantized_mean_or_sum::<T>(&acc, count, in_z, mult, shift, out_z, compute_sum)
        }
        "REDUCE_PROD" => {
            let n_in = xs.len();
            if n_in == 0 || n_out == 0 {
                bail!("empty REDUCE_PROD is not supported");
            }
            // PrepareProd: in_scale / out_scale^(1/n), n = input size / output size.
            let reduced = (n_in / n_out) as f64;
            let scaling = in_s as f64 / (out_s as f64).powf(1.0 / reduced);
            let (mult, shift) = arith::quantize_multiplier(scaling);
            let mut acc = vec![0i32; n_out];
            let mut seen = vec![false; n_out];
            for (&v, &o) in xs.iter().zip(&map) {
                let d = v.to_i32() - in_z;
                if seen[o] {
                    acc[o] = arith::mbqm_i64(acc[o] as i64 * d as i64, mult, shift);
                } else {
                    acc[o] = d;
                    seen[o] = true;
                }
            }
            acc.iter()
                .map(|&p| {
                    clamp_to::<T>(
                        arith::mbqm_i64(p as i64, mult, shift) + out_z,
                        T::MIN,
                        T::MAX,
                    )
                })
                .collect()
        }
        other => bail!("{other} is not a reduction"),
    };
    Ok(vec![T::wrap(array(&out_shape, out)?)])
}

/// `reference_ops::QuantizedMeanOrSum` (integer version): the int32 sum of the raw values
/// minus `in_zp * count`, rescaled by the input/output multiplier; for MEAN the multiplier
/// absorbs `1 / count` (shifted up by floor(log2(count)) first, limited so the final shift
/// stays >= -31).
fn quantized_mean_or_sum<T: QInt>(
    acc: &[i32],
    count: usize,
    in_z: i32,
    mut mult: i32,
    mut shift: i32,
    out_z: i32,
    compute_sum: bool,
) -> Vec<T> {
    let n = count as i64;
    if n == 0 {
        return vec![T::default(); acc.len()];
    }
    if !compute_sum {
        let mut s = 63 - (n as u64).leading_zeros() as i32;
        s = s.min(32).min(31 + shift);
        mult = (((mult as i64) << s) / n) as i32;
        shift -= s;
    }
    acc.iter()
        .map(|&s| {
            let shifted = (s as i64 - in_z as i64 * n) as i32;
            clamp_to::<T>(mbqm(shifted, mult, shift) + out_z, T::MIN, T::MAX)
        })
        .collect()
}

// --------------------------------------------------------------------------------------------
// RESIZE_BILINEAR (int8 / int16): reference_ops::ResizeBilinearInteger.
// --------------------------------------------------------------------------------------------

pub fn resize_bilinear(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    on_qint!(ctx.input(0)?, x => resize_bilinear_q(ctx, x),
        "RESIZE_BILINEAR on {} is not supported")
}

fn resize_bilinear_q<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let sh = x.shape();
    if sh.len() != 4 {
        bail!("expected a 4-D input, got {sh:?}");
    }
    let size = ctx.in_ints(1)?;
    if size.len() != 2 {
        bail!("size must have 2 elements");
    }
    let (n, ih, iw, c) = (sh[0], sh[1], sh[2], sh[3]);
    let (oh, ow) = (size[0].max(0) as usize, size[1].max(0) as usize);
    crate::engine::limits::check_alloc(&[n, oh, ow, c], 4, "resized output")?;
    let (align, half) = ctx
        .fb
        .builtin_options_as_resize_bilinear_options()
        .map(|o| (o.align_corners(), o.half_pixel_centers()))
        .unwrap_or((false, false));
    // ResizeBilinearInteger works in 1/1024 fixed point.
    const ONE: i32 = 1 << 10;
    let scale = |i: usize, o: usize| -> i32 {
        if align && o > 1 {
            (ONE * (i as i32 - 1) + (o as i32 - 1) / 2) / (o as i32 - 1)
        } else {
            (ONE * i as i32 + o as i32 / 2) / (o as i32).max(1)
        }
    };
    let (hs, ws) = (scale(ih, oh), scale(iw, ow));
    // ComputeInterpolationValuesInteger: C division (toward zero), no clamp of the scaled
    // value itself.
    let src = |o: usize, s: i32, insz: usize| -> (i32, usize, usize) {
        let v = if half {
            o as i32 * s + s / 2 - (1 << 9)
        } else {
            o as i32 * s
        };
        let lower = (v / ONE).max(0);
        let upper = ((v + ONE - 1) / ONE).min(insz as i32 - 1);
        (v, lower as usize, upper.max(0) as usize)
    };
    let xs = flat(x);
    let mut out = Vec::with_capacity(n * oh * ow * c);
    let one = ONE as i64;
    for b in 0..n {
        for y in 0..oh {
            let (iy, y0, y1) = src(y, hs, ih);
            let dy = (iy - ONE * y0 as i32) as i64;
            for xx in 0..ow {
                let (ix, x0, x1) = src(xx, ws, iw);
                let dx = (ix - ONE * x0 as i32) as i64;
                for ch in 0..c {
                    let at = |yy: usize, xi: usize| {
                        xs[((b * ih + yy) * iw + xi) * c + ch].to_i32() as i64
                    };
                    let v = at(y0, x0) * (one - dy) * (one - dx)
                        + at(y1, x0) * dy * (one - dx)
                        + at(y0, x1) * (one - dy) * dx
                        + at(y1, x1) * dy * dx;
                    let round = if v > 0 { 1i64 << 19 } else { -(1i64 << 19) };
                    let r = ((v + round) / (1i64 << 20)) as i32;
                    out.push(clamp_to::<T>(r, T::MIN, T::MAX));
                }
            }
        }
    }
    Ok(vec![T::wrap(array(&[n, oh, ow, c], out)?)])
}
