//! Hybrid (dynamic-range) FULLY_CONNECTED and CONV_2D on the integer GEMM paths.
//!
//! The arithmetic is TFLite's hybrid kernels' (see `hybrid.rs`): each input row (FC) or image
//! (conv) is quantized to int8, the products are accumulated in i32, and the output is
//! `acc * (input_scale * filter_scale[c]) + bias[c]`, then the float activation. Because the
//! accumulation is integer, any order gives the same result, so the products run on the
//! fastest GEMM the CPU has:
//! - many rows: the VNNI GEMM on +128-shifted u8 activations (the shift and the input zero
//!   point are taken out with the weight-row sums), or the i16 GEMM elsewhere; these need a
//!   packed (VNNI) or widened (i16) copy of the weights, made once per op;
//! - few rows (batch-1 layers): [`gemv::gemv_i8`] on the weights as the model stores them, so
//!   a big layer streams its weights once at memory bandwidth with no copy.

use super::conv::ConvGeom;
use super::conv::{bias_as, conv_geom, fc_out_shape, gemm_block_dispatch, im2col, im2col_u8};
use super::gemm::{self, PackedW};
use super::gemv;
use super::{array, bail, flat, fused, scales};
use crate::engine::arith::Activation;
use crate::engine::kernels::{par, OpCtx};
#[cfg(target_arch = "x86_64")]
use crate::engine::simd;
use crate::engine::{EngineError, Value};
use rayon::prelude::*;
use std::borrow::Cow;

/// Below this many input rows FULLY_CONNECTED runs row by row on the unpacked weights.
const GEMV_ROWS: usize = 4;
/// Input rows per parallel task of the GEMM path (a multiple of the VNNI kernel's 6 rows).
const ROWS_PER_TASK: usize = 48;

/// What a hybrid FULLY_CONNECTED / CONV_2D derives once from its (constant) weights.
struct Prep {
    /// Sum of each output channel's weights.
    wsum: Vec<i32>,
    /// GEMM path with VNNI: the weights packed for `vpdpbusd` (a copy: `oc * kp` bytes).
    packed: Option<PackedW>,
    /// GEMM path without VNNI: the weights widened to i16 (a copy: `2 * oc * k` bytes).
    w16: Vec<i16>,
}

impl Prep {
    fn new(w: &[i8], oc: usize, k: usize, gemm: bool) -> Prep {
        let vnni = gemm && gemm::has_vnni();
        Prep {
            wsum: gemv::row_sums(w, k),
            packed: vnni.then(|| gemm::pack_weights(w, oc, k)),
            w16: if gemm && !vnni {
                w.iter().map(|&v| v as i16).collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// The weights as int8 (uint8 weights are read through an int8 pointer, as TFLite does).
fn weights_i8<'a>(ctx: &OpCtx<'a>) -> Result<(Cow<'a, [i8]>, Vec<usize>), EngineError> {
    match ctx.input(1)? {
        Value::I8(a) => Ok((flat(a), a.shape().to_vec())),
        Value::U8(a) => Ok((
            Cow::Owned(flat(a).iter().map(|&x| x as i8).collect()),
            a.shape().to_vec(),
        )),
        other => bail!("hybrid weights of type {} are not supported", other.dtype()),
    }
}

fn bias_f32(ctx: &OpCtx, i: usize, n: usize) -> Result<Vec<f32>, EngineError> {
    bias_as(ctx, i, n, "hybrid bias", |v| match v {
        Value::F32(b) => Some(flat(b).to_vec()),
        _ => None,
    })
}

/// Per-output-channel filter scales (broadcast when per-tensor).
fn channel_scales(ctx: &OpCtx, n: usize) -> Result<Vec<f32>, EngineError> {
    let s = scales(ctx.in_meta(1));
    if s.len() > 1 && s.len() != n {
        bail!("{} filter scales for {n} output channels", s.len());
    }
    Ok((0..n)
        .map(|c| {
            if s.len() > 1 {
                s[c]
            } else {
                s.first().copied().unwrap_or(1.0)
            }
        })
        .collect())
}

/// The output stage: `acc * (input_scale * filter_scale) + bias`, then the activation. The
/// float operations and their order are TFLite's.
#[inline]
fn finish_row(acc: &[i32], s: f32, sc: &[f32], bias: &[f32], act: Activation, out: &mut [f32]) {
    for (((d, &a), &c), &b) in out.iter_mut().zip(acc).zip(sc).zip(bias) {
        *d = a as f32 * (s * c) + b;
    }
    if !matches!(act, Activation::None) {
        out.iter_mut().for_each(|d| *d = act.clamp_f32(*d));
    }
}

/// Quantizes `x` into `q` as the op asks: (scale, zero point). Same results as
/// `hybrid::symmetric_quantize` / `hybrid::asymmetric_quantize` (checked in the tests below),
/// in loops the compiler vectorizes: lane-wise min/max, and `round` (half away from zero)
/// written as `trunc` plus a correction, which compiles to vector instructions where
/// `f32::round` is a libm call per element (30x faster on a 96-wide row).
#[inline]
fn quantize(x: &[f32], q: &mut [i8], asym: bool) -> (f32, i32) {
    quantize_in(x, q, asym, None)
}

/// [`quantize`] with the range `(min, max)` of the values given (`None`: of `x`), so that pieces
/// of one tensor quantize with the whole tensor's parameters.
#[inline]
fn quantize_in(x: &[f32], q: &mut [i8], asym: bool, range: Option<(f32, f32)>) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::engine::simd::avx512() {
            // SAFETY: the CPU has AVX-512F/BW/VL/DQ.
            return unsafe { simd::with_avx512(|| quantize_generic(x, q, asym, range)) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { simd::with_avx2(|| quantize_generic(x, q, asym, range)) };
        }
    }
    quantize_generic(x, q, asym, range)
}

/// [`quantize`] of a whole tensor at once (hybrid CONV_2D and DEPTHWISE_CONV_2D quantize each
/// batch): min/max and the rounding in parallel pieces when it is big, with the result of one
/// piece (a min or max does not depend on the order; each value is rounded on its own).
pub(super) fn quantize_par(x: &[f32], q: &mut [i8], asym: bool) -> (f32, i32) {
    if x.is_empty() || !par::worth_splitting(x.len(), 1) {
        return quantize(x, q, asym);
    }
    let per = x.len().div_ceil(2 * rayon::current_num_threads());
    let (mn, mx) = x.par_chunks(per).map(min_max).reduce(
        || (f32::INFINITY, f32::NEG_INFINITY),
        |a, b| {
            let mn = if b.0 < a.0 { b.0 } else { a.0 };
            (mn, if b.1 > a.1 { b.1 } else { a.1 })
        },
    );
    par::for_pieces(q, 1, |off, qp| {
        quantize_in(&x[off..off + qp.len()], qp, asym, Some((mn, mx)));
    });
    params(mn, mx, asym).unwrap_or((1.0, 0))
}

/// min and max of `v` in 16 independent lanes (the order does not change a min or a max).
#[inline(always)]
fn min_max(v: &[f32]) -> (f32, f32) {
    let mut mn = [f32::INFINITY; 16];
    let mut mx = [f32::NEG_INFINITY; 16];
    let chunks = v.chunks_exact(16);
    for &x in chunks.remainder() {
        mn[0] = if x < mn[0] { x } else { mn[0] };
        mx[0] = if x > mx[0] { x } else { mx[0] };
    }
    for c in chunks {
        for l in 0..16 {
            mn[l] = if c[l] < mn[l] { c[l] } else { mn[l] };
            mx[l] = if c[l] > mx[l] { c[l] } else { mx[l] };
        }
    }
    let mn = mn
        .iter()
        .fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
    let mx = mx
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    (mn, mx)
}

/// `std::round` (half away from zero) of `y`, then clamped to `[lo, hi]`, as an integer.
#[inline(always)]
fn round_clamp(y: f32, lo: f32, hi: f32) -> i8 {
    let t = y.trunc();
    let d = y - t;
    let r = if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    };
    // NaN compares false: it stays NaN, and `as` turns it into 0 like the scalar path's.
    let r = if r < lo {
        lo
    } else if r > hi {
        hi
    } else {
        r
    };
    r as i32 as i8
}

/// TFLite's (scale, zero point) for values in `[mn, mx]`, symmetric (zero point 0) or
/// asymmetric; `None` when the range is all zero (every value then quantizes to 0, scale 1).
fn params(mn: f32, mx: f32, asym: bool) -> Option<(f32, i32)> {
    if !asym {
        let range = mn.abs().max(mx.abs());
        return (range != 0.0).then(|| (range / 127.0, 0));
    }
    (0.0f32.min(mn) != 0.0f32.max(mx)).then(|| asymmetric_params(mn, mx))
}

#[inline(always)]
fn quantize_generic(x: &[f32], q: &mut [i8], asym: bool, range: Option<(f32, f32)>) -> (f32, i32) {
    let (mn, mx) = match range {
        Some(r) => r,
        // No values: quantized like zeros.
        None if x.is_empty() => (0.0, 0.0),
        None => min_max(x),
    };
    let Some((scale, zp)) = params(mn, mx, asym) else {
        q.iter_mut().for_each(|v| *v = 0);
        return (1.0, 0);
    };
    if !asym {
        let inv = 127.0f32 / mn.abs().max(mx.abs());
        for (d, &v) in q.iter_mut().zip(x) {
            *d = round_clamp(v * inv, -127.0, 127.0);
        }
        return (scale, zp);
    }
    let inv = 1.0f32 / scale;
    let z = zp as f32;
    for (d, &v) in q.iter_mut().zip(x) {
        *d = round_clamp(z + v * inv, -128.0, 127.0);
    }
    (scale, zp)
}

/// The scale and nudged zero point of `tensor_utils::AsymmetricQuantizeFloats` for the range
/// `[min(0, mn), max(0, mx)]` (as `hybrid::asymmetric_quantize`), for a non-empty range.
pub(super) fn asymmetric_params(mn: f32, mx: f32) -> (f32, i32) {
    let rmin = 0.0f32.min(mn) as f64;
    let rmax = 0.0f32.max(mx) as f64;
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let scale = (rmax - rmin) / (qmax - qmin);
    let zp_from_min = qmin - rmin / scale;
    let zp_from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let zp = if err_min < err_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let nudged = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        zp.round() as i32
    };
    (scale as f32, nudged)
}

/// Accumulators of `nr` rows of `q` (int8, `k` each, input zero points `zps`) against all
/// output channels: `c[r][o] = sum (q[r] - zp[r]) * w[o]`.
fn gemm_rows(q: &[i8], zps: &[i32], k: usize, w: &[i8], oc: usize, p: &Prep, c: &mut [i32]) {
    let nr = zps.len();
    #[cfg(target_arch = "x86_64")]
    if let Some(pw) = &p.packed {
        let kp = pw.kp;
        let mut a = vec![0u8; nr * kp];
        for r in 0..nr {
            for (d, &v) in a[r * kp..r * kp + k].iter_mut().zip(&q[r * k..(r + 1) * k]) {
                *d = (v as u8) ^ 0x80;
            }
        }
        gemm::vnni_block(&a, nr, pw, c);
        for (cr, &zp) in c.chunks_exact_mut(oc).zip(zps) {
            let off = 128i32.wrapping_add(zp);
            for (v, &s) in cr.iter_mut().zip(&p.wsum) {
                *v = v.wrapping_sub(off.wrapping_mul(s));
            }
        }
        return;
    }
    if !p.w16.is_empty() {
        let mut a = vec![0i16; nr * k];
        for r in 0..nr {
            for (d, &v) in a[r * k..(r + 1) * k].iter_mut().zip(&q[r * k..(r + 1) * k]) {
                *d = v as i16 - zps[r] as i16;
            }
        }
        gemm_block_dispatch(&a, k, &p.w16, oc, c);
        return;
    }
    for (r, cr) in c.chunks_exact_mut(oc).enumerate() {
        gemv::gemv_i8(&q[r * k..(r + 1) * k], w, k, &p.wsum, cr);
        for (v, &s) in cr.iter_mut().zip(&p.wsum) {
            *v = v.wrapping_sub(zps[r].wrapping_mul(s));
        }
    }
}

/// The hybrid product of the float rows of `xf` (`k` each, quantized row by row) with `units`
/// int8 weight rows `w`: `out[r][o] = act(acc * (scale_r * sc[o]) + bias[o])`. An all-zero row
/// gives `act(bias)`, as TFLite skips it.
#[allow(clippy::too_many_arguments)]
fn hybrid_rows(
    xf: &[f32],
    k: usize,
    w: &[i8],
    units: usize,
    p: &Prep,
    sc: &[f32],
    bias: &[f32],
    act: Activation,
    asym: bool,
    out: &mut [f32],
) {
    let rows = xf.len() / k.max(1);
    if rows < GEMV_ROWS {
        let mut q = vec![0i8; k];
        let mut acc = vec![0i32; units];
        for (xr, orow) in xf.chunks_exact(k).zip(out.chunks_exact_mut(units)) {
            if xr.iter().all(|&v| v == 0.0) {
                orow.iter_mut()
                    .zip(bias)
                    .for_each(|(d, &b)| *d = act.clamp_f32(b));
                continue;
            }
            let (s, zp) = quantize(xr, &mut q, asym);
            gemv::gemv_i8(&q, w, k, &p.wsum, &mut acc);
            for (v, &ws) in acc.iter_mut().zip(&p.wsum) {
                *v = v.wrapping_sub(zp.wrapping_mul(ws));
            }
            finish_row(&acc, s, sc, bias, act, orow);
        }
        return;
    }
    let per = par::rows_per_task(rows, ROWS_PER_TASK, 6);
    out.par_chunks_mut(per * units)
        .enumerate()
        .for_each(|(t, oc)| {
            let r0 = t * per;
            let nr = oc.len() / units;
            let xs = &xf[r0 * k..(r0 + nr) * k];
            let mut q = vec![0i8; nr * k];
            let mut quant = Vec::with_capacity(nr);
            for (xr, qr) in xs.chunks_exact(k).zip(q.chunks_exact_mut(k)) {
                quant.push(if xr.iter().all(|&v| v == 0.0) {
                    None
                } else {
                    Some(quantize(xr, qr, asym))
                });
            }
            let zps: Vec<i32> = quant.iter().map(|v| v.map_or(0, |v| v.1)).collect();
            let mut c = vec![0i32; nr * units];
            gemm_rows(&q, &zps, k, w, units, p, &mut c);
            let rows_out = c.chunks_exact(units).zip(oc.chunks_exact_mut(units));
            for ((cr, orow), qv) in rows_out.zip(&quant) {
                match qv {
                    Some((s, _)) => finish_row(cr, *s, sc, bias, act, orow),
                    None => orow
                        .iter_mut()
                        .zip(bias)
                        .for_each(|(d, &b)| *d = act.clamp_f32(b)),
                }
            }
        });
}

pub fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let (w, ws) = weights_i8(ctx)?;
    if ws.len() != 2 {
        bail!("expected a 2-D weight matrix, got {ws:?}");
    }
    let (units, k) = (ws[0], ws[1]);
    let shape = fc_out_shape(ctx, x.shape(), k, units)?;
    let rows = x.len() / k;
    let asym = ctx
        .fb
        .builtin_options_as_fully_connected_options()
        .map(|o| o.asymmetric_quantize_inputs())
        .unwrap_or(false);
    let sc = channel_scales(ctx, units)?;
    let bias = bias_f32(ctx, 2, units)?;
    let p = ctx.prepared(&[1], || Ok(Prep::new(&w, units, k, rows >= GEMV_ROWS)))?;
    let mut out = vec![0f32; rows * units];
    hybrid_rows(
        &flat(x),
        k,
        &w,
        units,
        &p,
        &sc,
        &bias,
        fused(ctx),
        asym,
        &mut out,
    );
    Ok(vec![Value::F32(array(&shape, out)?)])
}

pub fn conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let (w, ws) = weights_i8(ctx)?;
    if ws.len() != 4 {
        bail!("expected a 4-D filter, got {ws:?}");
    }
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
    if fic != g.ic {
        bail!("grouped convolution is not supported");
    }
    let sc = channel_scales(ctx, oc)?;
    // TFLite's per-channel hybrid convolution quantizes its input asymmetrically.
    let asym = sc.iter().any(|&s| s != sc[0]);
    let bias = bias_f32(ctx, 2, oc)?;
    let act = fused(ctx);
    let xf = flat(x);
    let per_batch = g.ih * g.iw * g.ic;
    let k = kh * kw * g.ic;
    let pix = g.oh * g.ow;
    let p = ctx.prepared(&[1], || Ok(Prep::new(&w, oc, k, true)))?;
    let mut out = vec![0f32; g.n * pix * oc];
    for b in 0..g.n {
        let xb = &xf[b * per_batch..(b + 1) * per_batch];
        let mut q = vec![0i8; per_batch];
        let (s, zp) = quantize_par(xb, &mut q, asym);
        let gb = ConvGeom { n: 1, ..g };
        let ob = &mut out[b * pix * oc..(b + 1) * pix * oc];
        #[cfg(target_arch = "x86_64")]
        if let Some(pw) = &p.packed {
            // Padding taps take the zero point (they contribute 0 after the offset).
            let xu: Vec<u8> = q.iter().map(|&v| (v as u8) ^ 0x80).collect();
            let a = im2col_u8(&xu, &gb, 0, g.ic, pw.kp, (zp + 128) as u8);
            let off = 128i32.wrapping_add(zp);
            gemm::par_row_blocks(
                ob,
                oc,
                ROWS_PER_TASK,
                |r0, nr, c| gemm::vnni_block(&a[r0 * pw.kp..(r0 + nr) * pw.kp], nr, pw, c),
                |c, o| {
                    for (cr, orow) in c.chunks_exact_mut(oc).zip(o.chunks_exact_mut(oc)) {
                        for (v, &ws) in cr.iter_mut().zip(&p.wsum) {
                            *v = v.wrapping_sub(off.wrapping_mul(ws));
                        }
                        finish_row(cr, s, &sc, &bias, act, orow);
                    }
                },
            );
            continue;
        }
        // Offset-folded i16 input; padding contributes 0 like the reference's zero-point padding.
        let q16: Vec<i16> = q.iter().map(|&v| v as i16 - zp as i16).collect();
        let a = im2col(&q16, &gb, g.ic);
        gemm::par_row_blocks(
            ob,
            oc,
            ROWS_PER_TASK,
            |r0, nr, c| gemm_block_dispatch(&a[r0 * k..(r0 + nr) * k], k, &p.w16, oc, c),
            |c, o| {
                for (cr, orow) in c.chunks_exact(oc).zip(o.chunks_exact_mut(oc)) {
                    finish_row(cr, s, &sc, &bias, act, orow);
                }
            },
        );
    }
    Ok(vec![Value::F32(array(&[g.n, g.oh, g.ow, oc], out)?)])
}

/// What a hybrid BATCH_MATMUL derives once from its constant int8 right-hand side: the
/// weights as `[n][k]` rows (transposed unless `adj_y`) and their [`Prep`].
struct BmmPrep {
    w: Vec<i8>,
    p: Prep,
}

/// BATCH_MATMUL of a float `x[..., m, k]` with a constant int8 `y[k, n]` (TFLite's hybrid
/// `EvalHybrid`: every row of `x` quantized on its own, symmetric or, with
/// `asymmetric_quantize_inputs`, asymmetric; per-tensor or per-channel `y` scales; no bias,
/// no activation). `y` must be 2-D (or have only leading 1s): batched weights are refused.
pub fn batch_matmul(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let Value::I8(y) = ctx.input(1)? else {
        bail!("hybrid BATCH_MATMUL needs int8 weights");
    };
    let (adj_x, adj_y, asym) = ctx
        .fb
        .builtin_options_as_batch_mat_mul_options()
        .map(|o| (o.adj_x(), o.adj_y(), o.asymmetric_quantize_inputs()))
        .unwrap_or((false, false, false));
    let (xs, ys) = (x.shape(), y.shape());
    if xs.len() < 2 || ys.len() < 2 {
        bail!("BATCH_MATMUL needs inputs of rank >= 2, got {xs:?} and {ys:?}");
    }
    if ys[..ys.len() - 2].iter().any(|&d| d != 1) {
        bail!("hybrid BATCH_MATMUL with batched weights {ys:?} is not supported");
    }
    let (yr, yc) = (ys[ys.len() - 2], ys[ys.len() - 1]);
    let (k, n) = if adj_y { (yc, yr) } else { (yr, yc) };
    let (xr, xc) = (xs[xs.len() - 2], xs[xs.len() - 1]);
    let (m, xk) = if adj_x { (xc, xr) } else { (xr, xc) };
    if xk != k {
        bail!(
            "BATCH_MATMUL: x {xs:?} (adj_x {adj_x}) and y {ys:?} (adj_y {adj_y}) do not multiply"
        );
    }
    if k == 0 || n == 0 {
        bail!("empty BATCH_MATMUL: x {xs:?}, y {ys:?}");
    }
    let s = scales(ctx.in_meta(1));
    if s.len() > 1 && s.len() != n {
        bail!("{} weight scales for {n} output columns", s.len());
    }
    let sc: Vec<f32> = (0..n)
        .map(|c| {
            if s.len() > 1 {
                s[c]
            } else {
                s.first().copied().unwrap_or(1.0)
            }
        })
        .collect();
    let batches: usize = xs[..xs.len() - 2].iter().product();
    let rows = batches * m;
    let yf = flat(y);
    let bp = ctx.prepared(&[1], || {
        let w: Vec<i8> = if adj_y {
            yf.to_vec()
        } else {
            let mut t = vec![0i8; n * k];
            for r in 0..k {
                for c in 0..n {
                    t[c * k + r] = yf[r * n + c];
                }
            }
            t
        };
        let p = Prep::new(&w, n, k, rows >= GEMV_ROWS);
        Ok(BmmPrep { w, p })
    })?;
    let xf = flat(x);
    let xrows: Cow<[f32]> = if adj_x {
        let mut t = vec![0f32; rows * k];
        for b in 0..batches {
            let src = &xf[b * m * k..(b + 1) * m * k];
            for r in 0..k {
                for c in 0..m {
                    t[b * m * k + c * k + r] = src[r * m + c];
                }
            }
        }
        Cow::Owned(t)
    } else {
        xf
    };
    let mut out = vec![0f32; rows * n];
    let zero = vec![0f32; n];
    hybrid_rows(
        &xrows,
        k,
        &bp.w,
        n,
        &bp.p,
        &sc,
        &zero,
        Activation::None,
        asym,
        &mut out,
    );
    let mut shape = xs[..xs.len() - 2].to_vec();
    shape.extend([m, n]);
    Ok(vec![Value::F32(array(&shape, out)?)])
}

#[cfg(test)]
mod tests {
    use super::super::hybrid::{asymmetric_quantize_ref, symmetric_quantize};
    use super::*;

    /// The vectorized quantizers against the scalar ones (TFLite's arithmetic) on rows with
    /// ties (x.5 after scaling), zeros, one-signed ranges and random values.
    #[test]
    fn quantize_matches_scalar() {
        let mut rows: Vec<Vec<f32>> = vec![
            vec![],
            vec![0.0; 37],
            vec![0.5, -1.0, 0.25, 0.0],
            vec![0.0, 1.0, 2.0],
            (0..255).map(|i| i as f32 * 0.5 - 63.5).collect(),
            (0..100).map(|i| i as f32 / 127.0).collect(),
            (0..50).map(|i| -(i as f32) * 0.37).collect(),
        ];
        let mut state = 12345u32;
        for len in [1usize, 15, 16, 17, 64, 100, 333] {
            for scale in [1e-3f32, 1.0, 37.5] {
                rows.push(
                    (0..len)
                        .map(|_| {
                            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                            ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.3) * scale
                        })
                        .collect(),
                );
            }
        }
        let mut checked = 0;
        for r in &rows {
            for asym in [false, true] {
                let (mut a, mut b) = (vec![0i8; r.len()], vec![0i8; r.len()]);
                let got = quantize(r, &mut a, asym);
                let want = if asym {
                    asymmetric_quantize_ref(r, &mut b)
                } else {
                    (symmetric_quantize(r, &mut b), 0)
                };
                assert_eq!(got, want, "params, asym {asym}, {r:?}");
                assert_eq!(a, b, "values, asym {asym}, {r:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 2 * (7 + 7 * 3));
    }
}
