//! CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, MediaPipe's Convolution2DTransposeBias,
//! FULLY_CONNECTED and BATCH_MATMUL in float32: im2col + GEMM (matrixmultiply), rayon over
//! blocks of output rows.

use super::{apply_act, bail, OpCtx};
use crate::engine::{EngineError, Value};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use tract_tflite::tflite::Padding;

/// Output size and padding before, as TFLite computes them (`ComputePaddingWithOffset`).
pub fn out_and_pad(
    input: usize,
    k: usize,
    stride: usize,
    dil: usize,
    same: bool,
) -> (usize, usize) {
    let eff = (k - 1) * dil + 1;
    let out = if same {
        input.div_ceil(stride)
    } else if input + stride >= eff {
        (input + stride - eff) / stride
    } else {
        0
    };
    if !same || out == 0 {
        return (out, 0);
    }
    let total = ((out - 1) * stride + eff) as i64 - input as i64;
    (out, (total.max(0) / 2) as usize)
}

/// C[m×n] = A[m×k]·B[k×n] + beta·C with arbitrary strides.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    debug_assert!(c.len() >= (m - 1) * rsc + n);
    if k > 0 {
        debug_assert!(a.len() > (m - 1) * rsa + (k - 1) * csa);
        debug_assert!(b.len() > (k - 1) * rsb + (n - 1) * csb);
    }
    // SAFETY: the slices cover every element addressed by the strides (checked above in debug).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

fn bias_vec(ctx: &OpCtx, i: usize, n: usize) -> Result<Option<Vec<f32>>, EngineError> {
    match ctx.opt_input(i) {
        None => Ok(None),
        Some(v) => {
            let b = v
                .as_f32()
                .map_err(|e| EngineError::msg(format!("bias: {e}")))?;
            if b.len() != n {
                bail!("bias has {} values, expected {n}", b.len());
            }
            Ok(Some(b.iter().copied().collect()))
        }
    }
}

fn dims4(a: &ArrayD<f32>, what: &str) -> Result<[usize; 4], EngineError> {
    let s = a.shape();
    if s.len() != 4 {
        bail!("{what} must be 4-D, got shape {s:?}");
    }
    Ok([s[0], s[1], s[2], s[3]])
}

fn contiguous(a: &ArrayD<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// Parameters of a 2-D convolution in NHWC.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dGeom {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub oc: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
    pub ph: usize,
    pub pw: usize,
}

/// Float conv: `x` NHWC, `wt` [OC, KH, KW, C], output NHWC.
pub fn conv2d_f32(
    g: &Conv2dGeom,
    x: &[f32],
    wt: &[f32],
    bias: Option<&[f32]>,
    act: Option<&str>,
) -> Result<Vec<f32>, EngineError> {
    apply_act(&mut [], act)?; // rejects unknown activations up front
    let k = g.kh * g.kw * g.c;
    let row_len = g.ow * g.oc;
    let rows = g.n * g.oh;
    let mut out = vec![0f32; rows * row_len];
    if out.is_empty() {
        return Ok(out);
    }
    let pointwise = g.kh == 1
        && g.kw == 1
        && g.sh == 1
        && g.sw == 1
        && g.ph == 0
        && g.pw == 0
        && g.oh == g.h
        && g.ow == g.w;
    // Output rows per block: pointwise convs need no im2col buffer, so one block per thread;
    // otherwise blocks of ~1 MB of im2col (at least 256 pixels), split further for threads.
    let threads = rayon::current_num_threads().max(1);
    let by_threads = rows.div_ceil(threads);
    let rows_per = if pointwise {
        by_threads
    } else {
        let px = ((1 << 18) / k.max(1)).max(256);
        (px / g.ow.max(1)).max(1).min(by_threads.max(1))
    }
    .max(1);
    let fill_bias = |c: &mut [f32]| {
        if let Some(b) = bias {
            for px in c.chunks_exact_mut(g.oc) {
                px.copy_from_slice(b);
            }
        }
    };
    out.par_chunks_mut(rows_per * row_len)
        .enumerate()
        .for_each_init(Vec::new, |col: &mut Vec<f32>, (blk, c)| {
            let r0 = blk * rows_per;
            let nrows = c.len() / row_len;
            let m = nrows * g.ow;
            fill_bias(c);
            let beta = if bias.is_some() { 1.0 } else { 0.0 };
            if pointwise {
                let a = &x[r0 * g.w * g.c..(r0 * g.w + m) * g.c];
                gemm(m, k, g.oc, a, k, 1, wt, 1, k, beta, c, g.oc);
                let _ = apply_act(c, act);
                return;
            }
            col.clear();
            col.resize(m * k, 0.0);
            for r in 0..nrows {
                let row = r0 + r;
                let (b, oy) = (row / g.oh, row % g.oh);
                for ox in 0..g.ow {
                    let dst = &mut col[(r * g.ow + ox) * k..(r * g.ow + ox + 1) * k];
                    for ky in 0..g.kh {
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.ph as isize;
                        let d = &mut dst[ky * g.kw * g.c..(ky + 1) * g.kw * g.c];
                        if iy < 0 || iy >= g.h as isize {
                            d.fill(0.0);
                            continue;
                        }
                        let base = (b * g.h + iy as usize) * g.w;
                        for kx in 0..g.kw {
                            let ix = (ox * g.sw + kx * g.dw) as isize - g.pw as isize;
                            let dd = &mut d[kx * g.c..(kx + 1) * g.c];
                            if ix < 0 || ix >= g.w as isize {
                                dd.fill(0.0);
                            } else {
                                let s = (base + ix as usize) * g.c;
                                dd.copy_from_slice(&x[s..s + g.c]);
                            }
                        }
                    }
                }
            }
            gemm(m, k, g.oc, col, k, 1, wt, 1, k, beta, c, g.oc);
            let _ = apply_act(c, act);
        });
    Ok(out)
}

pub fn conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let o = ctx
        .fb
        .builtin_options_as_conv_2_doptions()
        .ok_or_else(|| EngineError::msg("CONV_2D without options"))?;
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c {
        bail!("grouped convolution (input depth {c}, filter depth {ic}) is not supported");
    }
    let same = o.padding() == Padding::SAME;
    let (sh, sw) = (o.stride_h().max(1) as usize, o.stride_w().max(1) as usize);
    let (dh, dw) = (
        o.dilation_h_factor().max(1) as usize,
        o.dilation_w_factor().max(1) as usize,
    );
    let (oh, ph) = out_and_pad(h, kh, sh, dh, same);
    let (ow, pw) = out_and_pad(wd, kw, sw, dw, same);
    let g = Conv2dGeom {
        n,
        h,
        w: wd,
        c,
        kh,
        kw,
        oc,
        sh,
        sw,
        dh,
        dw,
        oh,
        ow,
        ph,
        pw,
    };
    let bias = bias_vec(ctx, 2, oc)?;
    let out = conv2d_f32(
        &g,
        &contiguous(x),
        &contiguous(w),
        bias.as_deref(),
        ctx.activation(),
    )?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}

pub fn depthwise_conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let o = ctx
        .fb
        .builtin_options_as_depthwise_conv_2_doptions()
        .ok_or_else(|| EngineError::msg("DEPTHWISE_CONV_2D without options"))?;
    let [n, h, wd, c] = dims4(x, "input")?;
    let [_, kh, kw, oc] = dims4(w, "filter")?;
    if c == 0 || oc % c != 0 {
        bail!("filter depth {oc} is not a multiple of input depth {c}");
    }
    let mult = oc / c;
    let same = o.padding() == Padding::SAME;
    let (sh, sw) = (o.stride_h().max(1) as usize, o.stride_w().max(1) as usize);
    let (dh, dw) = (
        o.dilation_h_factor().max(1) as usize,
        o.dilation_w_factor().max(1) as usize,
    );
    let (oh, ph) = out_and_pad(h, kh, sh, dh, same);
    let (ow, pw) = out_and_pad(wd, kw, sw, dw, same);
    let bias = bias_vec(ctx, 2, oc)?;
    let xs = contiguous(x);
    let ws = contiguous(w);
    let mut out = vec![0f32; n * oh * ow * oc];
    let row_len = ow * oc;
    if !out.is_empty() {
        let act = ctx.activation();
        apply_act(&mut [], act)?;
        out.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(row, orow)| {
                let (b, oy) = (row / oh, row % oh);
                match &bias {
                    Some(bv) => orow
                        .chunks_exact_mut(oc)
                        .for_each(|p| p.copy_from_slice(bv)),
                    None => orow.fill(0.0),
                }
                for ky in 0..kh {
                    let iy = (oy * sh + ky * dh) as isize - ph as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let xrow =
                        &xs[(b * h + iy as usize) * wd * c..(b * h + iy as usize + 1) * wd * c];
                    for kx in 0..kw {
                        let f = &ws[(ky * kw + kx) * oc..(ky * kw + kx + 1) * oc];
                        // Output columns whose input column ox*sw + kx*dw - pw lies inside the row.
                        let off = (kx * dw) as isize - pw as isize;
                        let lo = if off >= 0 {
                            0
                        } else {
                            ((-off) as usize).div_ceil(sw)
                        };
                        let hi = if (wd as isize) <= off {
                            0
                        } else {
                            ((wd as isize - off) as usize).div_ceil(sw).min(ow)
                        };
                        for ox in lo..hi {
                            let ix = (ox * sw) as isize + off;
                            let px = &xrow[ix as usize * c..ix as usize * c + c];
                            let acc = &mut orow[ox * oc..ox * oc + oc];
                            if mult == 1 {
                                for ((a, &p), &fv) in acc.iter_mut().zip(px).zip(f) {
                                    *a += p * fv;
                                }
                            } else {
                                for (ch, &p) in px.iter().enumerate() {
                                    for m in 0..mult {
                                        acc[ch * mult + m] += p * f[ch * mult + m];
                                    }
                                }
                            }
                        }
                    }
                }
                let _ = apply_act(orow, act);
            });
    }
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}

/// Transposed convolution: `x` NHWC [n,h,w,ic], `wt` [oc,kh,kw,ic], output [n,oh,ow,oc].
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv_f32(
    x: &[f32],
    [n, h, w, ic]: [usize; 4],
    wt: &[f32],
    [oc, kh, kw]: [usize; 3],
    [oh, ow]: [usize; 2],
    [sh, sw]: [usize; 2],
    [ph, pw]: [usize; 2],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let m = n * h * w;
    let cols = oc * kh * kw;
    let mut col = vec![0f32; m * cols];
    if m > 0 && cols > 0 {
        let rows_per = 256;
        col.par_chunks_mut(rows_per * cols)
            .enumerate()
            .for_each(|(blk, c)| {
                let r0 = blk * rows_per;
                let mm = c.len() / cols;
                gemm(
                    mm,
                    ic,
                    cols,
                    &x[r0 * ic..(r0 + mm) * ic],
                    ic,
                    1,
                    wt,
                    1,
                    ic,
                    0.0,
                    c,
                    cols,
                );
            });
    }
    let mut out = vec![0f32; n * oh * ow * oc];
    for b in 0..n {
        let ob = &mut out[b * oh * ow * oc..(b + 1) * oh * ow * oc];
        if let Some(bv) = bias {
            for px in ob.chunks_exact_mut(oc) {
                px.copy_from_slice(bv);
            }
        }
        for iy in 0..h {
            for ix in 0..w {
                let crow = &col[((b * h + iy) * w + ix) * cols..((b * h + iy) * w + ix + 1) * cols];
                for ky in 0..kh {
                    let oy = (iy * sh + ky) as isize - ph as isize;
                    if oy < 0 || oy >= oh as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = (ix * sw + kx) as isize - pw as isize;
                        if ox < 0 || ox >= ow as isize {
                            continue;
                        }
                        let dst = &mut ob[(oy as usize * ow + ox as usize) * oc..][..oc];
                        for (o, d) in dst.iter_mut().enumerate() {
                            *d += crow[(o * kh + ky) * kw + kx];
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn transpose_conv(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let shape = ctx.in_ints(0)?;
    let w = ctx.in_f32(1)?;
    let x = ctx.in_f32(2)?;
    let o = ctx
        .fb
        .builtin_options_as_transpose_conv_options()
        .ok_or_else(|| EngineError::msg("TRANSPOSE_CONV without options"))?;
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c || shape.len() != 4 {
        bail!("filter depth {ic} vs input depth {c}, output_shape {shape:?}");
    }
    let (oh, ow) = (shape[1] as usize, shape[2] as usize);
    if shape[3] as usize != oc || shape[0] as usize != n {
        bail!("output_shape {shape:?} does not match batch {n} / filter count {oc}");
    }
    let same = o.padding() == Padding::SAME;
    let (sh, sw) = (o.stride_h().max(1) as usize, o.stride_w().max(1) as usize);
    let (_, ph) = out_and_pad(oh, kh, sh, 1, same);
    let (_, pw) = out_and_pad(ow, kw, sw, 1, same);
    let bias = bias_vec(ctx, 3, oc)?;
    let mut out = transpose_conv_f32(
        &contiguous(x),
        [n, h, wd, c],
        &contiguous(w),
        [oc, kh, kw],
        [oh, ow],
        [sh, sw],
        [ph, pw],
        bias.as_deref(),
    );
    apply_act(&mut out, ctx.activation())?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}

/// MediaPipe's custom transposed convolution with bias; options are TfLiteTransposeConvParams
/// (padding: 1 SAME / 2 VALID, stride_width, stride_height as i32).
pub fn conv2d_transpose_bias(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let opts = ctx
        .fb
        .custom_options()
        .map(|v| v.bytes().to_vec())
        .unwrap_or_default();
    if opts.len() < 12 {
        bail!(
            "custom options are {} bytes, expected at least 12",
            opts.len()
        );
    }
    let rd = |i: usize| i32::from_le_bytes(opts[i * 4..i * 4 + 4].try_into().unwrap());
    let (padding, sw, sh) = (rd(0), rd(1).max(1) as usize, rd(2).max(1) as usize);
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c {
        bail!("filter depth {ic} vs input depth {c}");
    }
    let (pth, ptw) = if padding == 1 {
        (
            (kh as i64 - ((h as i64 - 1) % sh as i64) - 1).max(0) as usize,
            (kw as i64 - ((wd as i64 - 1) % sw as i64) - 1).max(0) as usize,
        )
    } else {
        (0, 0)
    };
    let oh = sh * (h.max(1) - 1) + kh - pth;
    let ow = sw * (wd.max(1) - 1) + kw - ptw;
    let bias = bias_vec(ctx, 2, oc)?;
    let out = transpose_conv_f32(
        &contiguous(x),
        [n, h, wd, c],
        &contiguous(w),
        [oc, kh, kw],
        [oh, ow],
        [sh, sw],
        [pth / 2, ptw / 2],
        bias.as_deref(),
    );
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}

pub fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    if w.ndim() != 2 {
        bail!("weights must be 2-D, got {:?}", w.shape());
    }
    let (o, k) = (w.shape()[0], w.shape()[1]);
    let total = x.len();
    if k == 0 || total % k != 0 {
        bail!("input of {total} values is not a multiple of the weights' depth {k}");
    }
    let b = total / k;
    let keep = ctx
        .fb
        .builtin_options_as_fully_connected_options()
        .map(|o| o.keep_num_dims())
        .unwrap_or(false);
    let bias = bias_vec(ctx, 2, o)?;
    let xs = contiguous(x);
    let ws = contiguous(w);
    let mut out = vec![0f32; b * o];
    if let Some(bv) = &bias {
        for r in out.chunks_exact_mut(o) {
            r.copy_from_slice(bv);
        }
    }
    let beta = if bias.is_some() { 1.0 } else { 0.0 };
    if b == 1 && o >= 256 {
        // Matrix-vector: parallel over output blocks.
        out.par_chunks_mut(64).enumerate().for_each(|(blk, c)| {
            let o0 = blk * 64;
            let wsub = &ws[o0 * k..(o0 + c.len()) * k];
            gemm(1, k, c.len(), &xs, k, 1, wsub, 1, k, beta, c, c.len());
        });
    } else {
        gemm(b, k, o, &xs, k, 1, &ws, 1, k, beta, &mut out, o);
    }
    apply_act(&mut out, ctx.activation())?;
    let shape: Vec<usize> = if keep {
        let mut s = x.shape().to_vec();
        *s.last_mut().unwrap() = o;
        s
    } else {
        vec![b, o]
    };
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap(),
    )])
}

/// Broadcast batch shape of two batch shapes (numpy rules).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, EngineError> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            bail!("shapes {a:?} and {b:?} do not broadcast");
        };
    }
    Ok(out)
}

/// Flat offset (in units of whole matrices) of batch `idx` of `shape` inside a broadcast batch.
fn batch_offset(idx: usize, out: &[usize], shape: &[usize]) -> usize {
    let mut rem = idx;
    let mut off = 0;
    let mut stride = 1;
    let r = out.len();
    for i in (0..r).rev() {
        let coord = rem % out[i];
        rem /= out[i];
        if i + shape.len() >= r {
            let d = shape[i + shape.len() - r];
            if d != 1 {
                off += coord * stride;
            }
            stride *= d;
        }
    }
    off
}

pub fn batch_matmul(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let y = ctx.in_f32(1)?;
    let (adj_x, adj_y) = ctx
        .fb
        .builtin_options_as_batch_mat_mul_options()
        .map(|o| (o.adj_x(), o.adj_y()))
        .unwrap_or((false, false));
    if x.ndim() < 2 || y.ndim() < 2 {
        bail!(
            "BATCH_MATMUL needs rank >= 2 inputs, got {:?} and {:?}",
            x.shape(),
            y.shape()
        );
    }
    let (xs, ys) = (x.shape(), y.shape());
    let (xr, xc) = (xs[xs.len() - 2], xs[xs.len() - 1]);
    let (yr, yc) = (ys[ys.len() - 2], ys[ys.len() - 1]);
    let (m, k) = if adj_x { (xc, xr) } else { (xr, xc) };
    let (k2, nn) = if adj_y { (yc, yr) } else { (yr, yc) };
    if k != k2 {
        bail!(
            "inner dimensions differ: {:?} x {:?} (adj_x {adj_x}, adj_y {adj_y})",
            xs,
            ys
        );
    }
    let xb = &xs[..xs.len() - 2];
    let yb = &ys[..ys.len() - 2];
    let ob = broadcast_shapes(xb, yb)?;
    let nb: usize = ob.iter().product();
    let xd = contiguous(x);
    let yd = contiguous(y);
    let mut out = vec![0f32; nb * m * nn];
    let (rsa, csa) = if adj_x { (1, m) } else { (k, 1) };
    let (rsb, csb) = if adj_y { (1, k) } else { (nn, 1) };
    if m * nn > 0 {
        out.par_chunks_mut(m * nn).enumerate().for_each(|(bi, c)| {
            let xo = batch_offset(bi, &ob, xb) * xr * xc;
            let yo = batch_offset(bi, &ob, yb) * yr * yc;
            gemm(
                m,
                k,
                nn,
                &xd[xo..xo + xr * xc],
                rsa,
                csa,
                &yd[yo..yo + yr * yc],
                rsb,
                csb,
                0.0,
                c,
                nn,
            );
        });
    }
    let mut shape = ob;
    shape.push(m);
    shape.push(nn);
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_offsets() {
        // in 5, k 3, stride 2: out 3, total pad (2*2+3-5)=2 -> 1 before.
        assert_eq!(out_and_pad(5, 3, 2, 1, true), (3, 1));
        // in 4, k 3, stride 2: out 2, total (2+3-4)=1 -> 0 before (the extra goes after).
        assert_eq!(out_and_pad(4, 3, 2, 1, true), (2, 0));
        // in 224, k 3, stride 2 (MobileNet stem): out 112, total 1 -> 0 before.
        assert_eq!(out_and_pad(224, 3, 2, 1, true), (112, 0));
        // VALID: (5-3+1)/1 = 3.
        assert_eq!(out_and_pad(5, 3, 1, 1, false), (3, 0));
        // dilation 2: effective kernel 5, SAME in 7 stride 1: total 4 -> 2 before.
        assert_eq!(out_and_pad(7, 3, 1, 2, true), (7, 2));
    }

    #[test]
    fn conv_same_padding_hand_computed() {
        // 1x3x3x1 input 1..9, 3x3 all-ones filter, SAME stride 2: out 2x2;
        // total pad = (1*2+3-3)=2 -> 1 before. out[0,0] = sum of x[0..2,0..2] = 1+2+4+5 = 12.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let w = vec![1f32; 9];
        let (oh, ph) = out_and_pad(3, 3, 2, 1, true);
        let g = Conv2dGeom {
            n: 1,
            h: 3,
            w: 3,
            c: 1,
            kh: 3,
            kw: 3,
            oc: 1,
            sh: 2,
            sw: 2,
            dh: 1,
            dw: 1,
            oh,
            ow: oh,
            ph,
            pw: ph,
        };
        let out = conv2d_f32(&g, &x, &w, Some(&[0.5]), None).unwrap();
        // [1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9] + 0.5
        assert_eq!(out, vec![12.5, 16.5, 24.5, 28.5]);
    }

    #[test]
    fn transpose_conv_hand_computed() {
        // 1x2x2x1 input [1,2,3,4], 2x2 ones filter, stride 2, VALID: each input spreads to a
        // 2x2 block of a 4x4 output.
        let out = transpose_conv_f32(
            &[1., 2., 3., 4.],
            [1, 2, 2, 1],
            &[1.; 4],
            [1, 2, 2],
            [4, 4],
            [2, 2],
            [0, 0],
            None,
        );
        assert_eq!(out[0], 1.0);
        assert_eq!(out[3], 2.0);
        assert_eq!(out[15], 4.0);
        assert_eq!(out[8], 3.0);
    }
}
