//! Quantized CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and BATCH_MATMUL.
//!
//! Arithmetic of `reference_integer_ops::{ConvPerChannel, DepthwiseConvPerChannel,
//! FullyConnected[PerChannel]}` (int8), `reference_ops::{Conv, DepthwiseConv, FullyConnected}`
//! (uint8) and their int16x8 variants (64-bit accumulators): acc = sum (x + in_off)(w + w_off)
//! + bias, then `MultiplyByQuantizedMultiplier` per output channel, + out_off, clamp.
//!
//! Speed: the offsets are folded into i16 copies of the activations and weights (padding then
//! contributes exactly 0, like the reference's skipped taps), and the 8-bit paths run an
//! i16 x i16 -> i32 GEMM with a 1x4 micro-kernel that the compiler vectorizes, blocked over
//! output channels and split over rows with rayon.

use super::gemm::{self, requant_row, Requant};
use super::{array, bail, clamp_to, flat, fused, out_range, qparams, scales, QInt};
use crate::engine::arith::{self, mbqm, mbqm_i64};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::{DType, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;
use tract_tflite::tflite::Padding;

/// Output size and the leading padding of one spatial dimension (TFLite's
/// `ComputePaddingHeightWidth`).
pub(crate) fn out_and_pad(
    size: usize,
    k: usize,
    stride: usize,
    dil: usize,
    same: bool,
) -> (usize, usize) {
    let eff = (k - 1) * dil + 1;
    let out = if same {
        (size + stride - 1) / stride
    } else {
        (size + stride).saturating_sub(eff) / stride
    };
    let total = ((out as i64 - 1) * stride as i64 + eff as i64 - size as i64).max(0);
    (out, (total / 2) as usize)
}

/// Per-output-channel multipliers and shifts for `input_scale * filter_scale[c] / output_scale`.
pub(crate) fn channel_multipliers(
    in_scale: f32,
    f_scales: &[f32],
    out_scale: f32,
    n: usize,
) -> (Vec<i32>, Vec<i32>) {
    let mut m = Vec::with_capacity(n);
    let mut s = Vec::with_capacity(n);
    for c in 0..n {
        let fs = if f_scales.len() > 1 {
            f_scales[c]
        } else {
            f_scales.first().copied().unwrap_or(0.0)
        };
        let real = in_scale as f64 * fs as f64 / out_scale as f64;
        let (qm, sh) = arith::quantize_multiplier(real);
        m.push(qm);
        s.push(sh);
    }
    (m, s)
}

/// Activations with the input offset folded in, as i16.
fn to_i16_off<T: QInt>(x: &[T], off: i32) -> Vec<i16> {
    x.iter().map(|&v| (v.to_i32() + off) as i16).collect()
}

fn weights_i16(ctx: &OpCtx, i: usize) -> Result<(Vec<i16>, Vec<usize>), EngineError> {
    let v = ctx.input(i)?;
    let (_, zp) = qparams(ctx.input_meta[i]);
    Ok(match v {
        // int8 weights: the reference kernels ignore the filter zero point (symmetric).
        Value::I8(a) => (
            flat(a).iter().map(|&w| w as i16).collect(),
            a.shape().to_vec(),
        ),
        Value::U8(a) => (
            flat(a).iter().map(|&w| (w as i32 - zp) as i16).collect(),
            a.shape().to_vec(),
        ),
        other => bail!("weights of type {} are not supported", other.dtype()),
    })
}

fn bias_i64(ctx: &OpCtx, i: usize, n: usize) -> Result<Vec<i64>, EngineError> {
    match ctx.opt_input(i) {
        None => Ok(vec![0; n]),
        Some(Value::I32(b)) => Ok(flat(b).iter().map(|&x| x as i64).collect()),
        Some(Value::I64(b)) => Ok(flat(b).to_vec()),
        Some(other) => bail!("bias of type {} is not supported", other.dtype()),
    }
}

// --------------------------------------------------------------------------------------------
// GEMM: C[p][o] = sum_k A[p][k] * W[o][k], i16 inputs, i32 accumulators.
// --------------------------------------------------------------------------------------------

#[inline(always)]
fn dot4(a: &[i16], w0: &[i16], w1: &[i16], w2: &[i16], w3: &[i16]) -> [i32; 4] {
    const L: usize = 16;
    let k = a.len();
    let (w0, w1, w2, w3) = (&w0[..k], &w1[..k], &w2[..k], &w3[..k]);
    let mut s0 = [0i32; L];
    let mut s1 = [0i32; L];
    let mut s2 = [0i32; L];
    let mut s3 = [0i32; L];
    let n = k / L * L;
    let mut i = 0;
    while i < n {
        let av: &[i16; L] = a[i..i + L].try_into().unwrap();
        let b0: &[i16; L] = w0[i..i + L].try_into().unwrap();
        let b1: &[i16; L] = w1[i..i + L].try_into().unwrap();
        let b2: &[i16; L] = w2[i..i + L].try_into().unwrap();
        let b3: &[i16; L] = w3[i..i + L].try_into().unwrap();
        for j in 0..L {
            let x = av[j] as i32;
            s0[j] += x * b0[j] as i32;
            s1[j] += x * b1[j] as i32;
            s2[j] += x * b2[j] as i32;
            s3[j] += x * b3[j] as i32;
        }
        i += L;
    }
    let mut r = [
        s0.iter().sum::<i32>(),
        s1.iter().sum::<i32>(),
        s2.iter().sum::<i32>(),
        s3.iter().sum::<i32>(),
    ];
    for j in n..k {
        let x = a[j] as i32;
        r[0] += x * w0[j] as i32;
        r[1] += x * w1[j] as i32;
        r[2] += x * w2[j] as i32;
        r[3] += x * w3[j] as i32;
    }
    r
}

#[inline(always)]
fn dot1(a: &[i16], w: &[i16]) -> i32 {
    const L: usize = 16;
    let k = a.len();
    let w = &w[..k];
    let mut s = [0i32; L];
    let n = k / L * L;
    let mut i = 0;
    while i < n {
        let av: &[i16; L] = a[i..i + L].try_into().unwrap();
        let bv: &[i16; L] = w[i..i + L].try_into().unwrap();
        for j in 0..L {
            s[j] += av[j] as i32 * bv[j] as i32;
        }
        i += L;
    }
    let mut r = s.iter().sum::<i32>();
    for j in n..k {
        r += a[j] as i32 * w[j] as i32;
    }
    r
}

/// Computes rows `a` (`rows x k`) against all of `w` (`oc x k`) into `out` (`rows x oc`),
/// blocked over output channels so a block of weights stays in cache.
fn gemm_block(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    let rows = if k == 0 {
        out.len() / oc.max(1)
    } else {
        a.len() / k
    };
    let block = ((16 * 1024) / (2 * k.max(1))).clamp(4, 256) / 4 * 4;
    let mut o0 = 0;
    while o0 < oc {
        let o1 = (o0 + block).min(oc);
        for p in 0..rows {
            let ar = &a[p * k..(p + 1) * k];
            let orow = &mut out[p * oc..(p + 1) * oc];
            let mut o = o0;
            while o + 4 <= o1 {
                let r = dot4(
                    ar,
                    &w[o * k..(o + 1) * k],
                    &w[(o + 1) * k..(o + 2) * k],
                    &w[(o + 2) * k..(o + 3) * k],
                    &w[(o + 3) * k..(o + 4) * k],
                );
                orow[o..o + 4].copy_from_slice(&r);
                o += 4;
            }
            while o < o1 {
                orow[o] = dot1(ar, &w[o * k..(o + 1) * k]);
                o += 1;
            }
        }
        o0 = o1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gemm_block_avx2(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    gemm_block(a, k, w, oc, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn gemm_block_avx512(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    gemm_block(a, k, w, oc, out)
}

fn gemm_block_dispatch(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if gemm::has_avx512() {
            return unsafe { gemm_block_avx512(a, k, w, oc, out) };
        }
        if std::is_x86_feature_detected!("avx2") {
            return unsafe { gemm_block_avx2(a, k, w, oc, out) };
        }
    }
    gemm_block(a, k, w, oc, out)
}

/// `out[p][o] = requant(o, sum_k a[p][k] w[o][k])`, in parallel over rows (or output channels
/// when there are few rows).
fn gemm<T: QInt>(a: &[i16], rows: usize, k: usize, w: &[i16], oc: usize, q: &Requant) -> Vec<T> {
    let mut out = vec![T::default(); rows * oc];
    if rows == 0 || oc == 0 {
        return out;
    }
    let work = rows * oc * k;
    let threads = rayon::current_num_threads();
    let run_rows = |r0: usize, o: &mut [T]| {
        let nr = o.len() / oc;
        let mut c = vec![0i32; nr * oc];
        gemm_block_dispatch(&a[r0 * k..(r0 + nr) * k], k, w, oc, &mut c);
        for r in 0..nr {
            requant_row(&c[r * oc..(r + 1) * oc], q, &mut o[r * oc..(r + 1) * oc]);
        }
    };
    if work < 1 << 16 || threads == 1 {
        run_rows(0, &mut out);
    } else if rows >= 2 * threads {
        let chunk = (rows / (4 * threads)).max(1);
        out.par_chunks_mut(chunk * oc)
            .enumerate()
            .for_each(|(ci, o)| run_rows(ci * chunk, o));
    } else {
        // Few rows (fully connected, batch 1): split the output channels.
        let nchunks = (threads * 4).min(oc.div_ceil(4)).max(1);
        let cw = oc.div_ceil(nchunks).div_ceil(4) * 4;
        let parts: Vec<(usize, Vec<i32>)> = (0..oc.div_ceil(cw))
            .into_par_iter()
            .map(|ci| {
                let o0 = ci * cw;
                let o1 = (o0 + cw).min(oc);
                let n = o1 - o0;
                let mut part = vec![0i32; rows * n];
                gemm_block_dispatch(a, k, &w[o0 * k..o1 * k], n, &mut part);
                (o0, part)
            })
            .collect();
        let mut c = vec![0i32; rows * oc];
        for (o0, part) in parts {
            let n = part.len() / rows;
            for p in 0..rows {
                c[p * oc + o0..p * oc + o0 + n].copy_from_slice(&part[p * n..(p + 1) * n]);
            }
        }
        for r in 0..rows {
            requant_row(&c[r * oc..(r + 1) * oc], q, &mut out[r * oc..(r + 1) * oc]);
        }
    }
    out
}

/// im2col into u8 rows for the VNNI GEMM: `xu` is the input shifted to u8 (`x + 128`), taps
/// outside the image take `pad` (the input zero point, shifted), columns are padded to `kp`.
fn im2col_u8(xu: &[u8], g: &ConvGeom, kp: usize, pad: u8) -> Vec<u8> {
    let k = g.kh * g.kw * g.ic;
    let rows = g.n * g.oh * g.ow;
    let mut a = vec![0u8; rows * kp];
    a.par_chunks_mut(g.ow * kp)
        .enumerate()
        .for_each(|(r, dst)| {
            let b = r / g.oh;
            let oy = r % g.oh;
            for ox in 0..g.ow {
                let d = &mut dst[ox * kp..ox * kp + k];
                for ky in 0..g.kh {
                    let iy = (oy * g.sh + ky * g.dh) as i64 - g.ph as i64;
                    for kx in 0..g.kw {
                        let ix = (ox * g.sw + kx * g.dw) as i64 - g.pw as i64;
                        let off = (ky * g.kw + kx) * g.ic;
                        if iy < 0 || iy >= g.ih as i64 || ix < 0 || ix >= g.iw as i64 {
                            d[off..off + g.ic].fill(pad);
                        } else {
                            let src = ((b * g.ih + iy as usize) * g.iw + ix as usize) * g.ic;
                            d[off..off + g.ic].copy_from_slice(&xu[src..src + g.ic]);
                        }
                    }
                }
            }
        });
    a
}

/// Rows of `x` (+128 as u8) padded to `kp` columns.
fn rows_u8(x: &[i8], rows: usize, k: usize, kp: usize) -> Vec<u8> {
    if k == kp {
        return x.iter().map(|&v| (v as u8) ^ 0x80).collect();
    }
    let mut a = vec![0u8; rows * kp];
    for r in 0..rows {
        for (d, &v) in a[r * kp..r * kp + k].iter_mut().zip(&x[r * k..(r + 1) * k]) {
            *d = (v as u8) ^ 0x80;
        }
    }
    a
}

/// int8 x int8 with VNNI: returns None when unavailable.
#[allow(clippy::too_many_arguments)]
fn try_vnni_i8(
    ctx: &OpCtx,
    a_rows: &dyn Fn(usize) -> Vec<u8>,
    rows: usize,
    oc: usize,
    k: usize,
    in_z: i32,
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
    out_z: i32,
    lo: i32,
    hi: i32,
) -> Option<Result<Vec<i8>, EngineError>> {
    #[cfg(target_arch = "x86_64")]
    {
        if !gemm::has_vnni() {
            return None;
        }
        let Some(Value::I8(wa)) = ctx.opt_input(1) else {
            return None;
        };
        let wf = flat(wa);
        let pw = gemm::pack_weights(&wf, oc, k);
        let a = a_rows(pw.kp);
        let shift_off = 128 + in_z;
        let bias2: Vec<i32> = (0..oc)
            .map(|o| bias[o].wrapping_sub(shift_off.wrapping_mul(pw.sums[o])))
            .collect();
        let q = Requant {
            bias: &bias2,
            mult,
            shift,
            out_off: out_z,
            lo,
            hi,
        };
        Some(Ok(gemm::vnni_gemm::<i8>(&a, rows, &pw, &q)))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (
            ctx, a_rows, rows, oc, k, in_z, bias, mult, shift, out_z, lo, hi,
        );
        None
    }
}

// --------------------------------------------------------------------------------------------
// CONV_2D
// --------------------------------------------------------------------------------------------

pub(crate) struct ConvGeom {
    pub n: usize,
    pub ih: usize,
    pub iw: usize,
    pub ic: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub ph: usize,
    pub pw: usize,
}

pub(crate) fn conv_geom(
    ctx: &OpCtx,
    in_shape: &[usize],
    kh: usize,
    kw: usize,
) -> Result<ConvGeom, EngineError> {
    let (pad, sh, sw, dh, dw) = if let Some(o) = ctx.fb.builtin_options_as_conv_2_doptions() {
        (
            o.padding(),
            o.stride_h(),
            o.stride_w(),
            o.dilation_h_factor(),
            o.dilation_w_factor(),
        )
    } else if let Some(o) = ctx.fb.builtin_options_as_depthwise_conv_2_doptions() {
        (
            o.padding(),
            o.stride_h(),
            o.stride_w(),
            o.dilation_h_factor(),
            o.dilation_w_factor(),
        )
    } else {
        bail!("missing convolution options")
    };
    if in_shape.len() != 4 {
        bail!("expected a 4-D input, got shape {in_shape:?}");
    }
    let (sh, sw, dh, dw) = (
        sh.max(1) as usize,
        sw.max(1) as usize,
        dh.max(1) as usize,
        dw.max(1) as usize,
    );
    let same = pad == Padding::SAME;
    let (oh, ph) = out_and_pad(in_shape[1], kh, sh, dh, same);
    let (ow, pw) = out_and_pad(in_shape[2], kw, sw, dw, same);
    Ok(ConvGeom {
        n: in_shape[0],
        ih: in_shape[1],
        iw: in_shape[2],
        ic: in_shape[3],
        oh,
        ow,
        kh,
        kw,
        sh,
        sw,
        dh,
        dw,
        ph,
        pw,
    })
}

/// im2col of an offset-folded NHWC input: one row per output pixel, `kh*kw*ic` columns in the
/// filter's (ky, kx, c) order; taps outside the image are 0.
pub(crate) fn im2col(x: &[i16], g: &ConvGeom, ic_used: usize) -> Vec<i16> {
    let k = g.kh * g.kw * ic_used;
    let rows = g.n * g.oh * g.ow;
    let mut a = vec![0i16; rows * k];
    a.par_chunks_mut(g.ow * k).enumerate().for_each(|(r, dst)| {
        let b = r / g.oh;
        let oy = r % g.oh;
        for ox in 0..g.ow {
            let d = &mut dst[ox * k..(ox + 1) * k];
            for ky in 0..g.kh {
                let iy = (oy * g.sh + ky * g.dh) as i64 - g.ph as i64;
                if iy < 0 || iy >= g.ih as i64 {
                    continue;
                }
                for kx in 0..g.kw {
                    let ix = (ox * g.sw + kx * g.dw) as i64 - g.pw as i64;
                    if ix < 0 || ix >= g.iw as i64 {
                        continue;
                    }
                    let src = ((b * g.ih + iy as usize) * g.iw + ix as usize) * g.ic;
                    let off = (ky * g.kw + kx) * ic_used;
                    d[off..off + ic_used].copy_from_slice(&x[src..src + ic_used]);
                }
            }
        }
    });
    a
}

pub fn conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(0)? {
        Value::I8(x) => conv2d_q8::<i8>(ctx, x),
        Value::U8(x) => conv2d_q8::<u8>(ctx, x),
        Value::I16(x) => conv2d_i16(ctx, x),
        other => bail!("CONV_2D on {} input is not supported", other.dtype()),
    }
}

fn check_out_dtype(ctx: &OpCtx, want: DType) -> Result<(), EngineError> {
    if ctx.out_dtype(0) != want {
        bail!(
            "{} input with {} output is not supported",
            want,
            ctx.out_dtype(0)
        );
    }
    Ok(())
}

fn conv2d_q8<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, ctx.in_dtype(0).unwrap())?;
    let (w, ws) = weights_i16(ctx, 1)?;
    if ws.len() != 4 {
        bail!("expected 4-D filter, got {ws:?}");
    }
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw)?;
    if fic != g.ic {
        bail!(
            "grouped convolution (filter depth {fic}, input depth {}) is not supported",
            g.ic
        );
    }
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
    let bias: Vec<i32> = bias_i64(ctx, 2, oc)?.iter().map(|&b| b as i32).collect();
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let k = kh * kw * g.ic;
    let rows = g.n * g.oh * g.ow;
    if let Some(Value::I8(xi)) = ctx.opt_input(0) {
        let xf = flat(xi);
        let one_by_one = kh == 1 && kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
        let build = |kp: usize| -> Vec<u8> {
            if one_by_one {
                rows_u8(&xf, rows, k, kp)
            } else {
                let xu: Vec<u8> = xf.iter().map(|&v| (v as u8) ^ 0x80).collect();
                im2col_u8(&xu, &g, kp, (in_z + 128) as u8)
            }
        };
        if let Some(r) = try_vnni_i8(
            ctx, &build, rows, oc, k, in_z, &bias, &mult, &shift, out_z, lo, hi,
        ) {
            let out: Vec<T> = r?.into_iter().map(|v| T::from_i32(v as i32)).collect();
            return Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)]);
        }
    }
    let xs = to_i16_off(&flat(x), -in_z);
    let a_owned;
    let a: &[i16] = if kh == 1 && kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 {
        &xs
    } else {
        a_owned = im2col(&xs, &g, g.ic);
        &a_owned
    };
    let q = Requant {
        bias: &bias,
        mult: &mult,
        shift: &shift,
        out_off: out_z,
        lo,
        hi,
    };
    let out = gemm::<T>(a, rows, k, &w, oc, &q);
    Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)])
}

/// int16 activations x int8 weights: 64-bit accumulators and the 64-bit multiplier.
fn conv2d_i16(ctx: &OpCtx, x: &ArrayD<i16>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, DType::I16)?;
    let (w, ws) = weights_i16(ctx, 1)?;
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw)?;
    if fic != g.ic {
        bail!("grouped convolution is not supported");
    }
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
    let bias = bias_i64(ctx, 2, oc)?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xs: Vec<i32> = flat(x).iter().map(|&v| v as i32 - in_z).collect();
    let k = kh * kw * g.ic;
    let rows = g.n * g.oh * g.ow;
    let mut out = vec![0i16; rows * oc];
    out.par_chunks_mut(oc).enumerate().for_each(|(r, orow)| {
        let b = r / (g.oh * g.ow);
        let oy = (r / g.ow) % g.oh;
        let ox = r % g.ow;
        for (o, dst) in orow.iter_mut().enumerate() {
            let mut acc: i64 = 0;
            for ky in 0..kh {
                let iy = (oy * g.sh + ky * g.dh) as i64 - g.ph as i64;
                if iy < 0 || iy >= g.ih as i64 {
                    continue;
                }
                for kx in 0..kw {
                    let ix = (ox * g.sw + kx * g.dw) as i64 - g.pw as i64;
                    if ix < 0 || ix >= g.iw as i64 {
                        continue;
                    }
                    let src = ((b * g.ih + iy as usize) * g.iw + ix as usize) * g.ic;
                    let wo = o * k + (ky * kw + kx) * g.ic;
                    for c in 0..g.ic {
                        acc += xs[src + c] as i64 * w[wo + c] as i64;
                    }
                }
            }
            acc += bias[o];
            let v = mbqm_i64(acc, mult[o], shift[o]) + out_z;
            *dst = clamp_to::<i16>(v, lo, hi);
        }
    });
    Ok(vec![Value::I16(array(&[g.n, g.oh, g.ow, oc], out)?)])
}

// --------------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D
// --------------------------------------------------------------------------------------------

pub fn depthwise(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(0)? {
        Value::I8(x) => depthwise_q::<i8>(ctx, x),
        Value::U8(x) => depthwise_q::<u8>(ctx, x),
        Value::I16(x) => depthwise_q::<i16>(ctx, x),
        other => bail!(
            "DEPTHWISE_CONV_2D on {} input is not supported",
            other.dtype()
        ),
    }
}

fn depthwise_q<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let wide = std::mem::size_of::<T>() == 2;
    check_out_dtype(ctx, ctx.in_dtype(0).unwrap())?;
    let (w, ws) = weights_i16(ctx, 1)?;
    if ws.len() != 4 {
        bail!("expected 4-D filter, got {ws:?}");
    }
    let (kh, kw, oc) = (ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw)?;
    let mult_opt = ctx
        .fb
        .builtin_options_as_depthwise_conv_2_doptions()
        .map(|o| o.depth_multiplier())
        .unwrap_or(1);
    let m = if g.ic == 0 { 1 } else { oc / g.ic };
    if m * g.ic != oc || (mult_opt > 0 && mult_opt as usize != m && oc != g.ic * mult_opt as usize)
    {
        bail!(
            "filter depth {oc} is not a multiple of input depth {}",
            g.ic
        );
    }
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
    let bias = bias_i64(ctx, 2, oc)?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xin = flat(x);
    let mut out = vec![T::default(); g.n * g.oh * g.ow * oc];
    if wide {
        // int16x8: i64 accumulators.
        let xs: Vec<i32> = xin.iter().map(|&v| v.to_i32() - in_z).collect();
        out.par_chunks_mut(oc).enumerate().for_each(|(r, orow)| {
            let b = r / (g.oh * g.ow);
            let oy = (r / g.ow) % g.oh;
            let ox = r % g.ow;
            let mut acc = vec![0i64; oc];
            for ky in 0..kh {
                let iy = (oy * g.sh + ky * g.dh) as i64 - g.ph as i64;
                if iy < 0 || iy >= g.ih as i64 {
                    continue;
                }
                for kx in 0..kw {
                    let ix = (ox * g.sw + kx * g.dw) as i64 - g.pw as i64;
                    if ix < 0 || ix >= g.iw as i64 {
                        continue;
                    }
                    let src = ((b * g.ih + iy as usize) * g.iw + ix as usize) * g.ic;
                    let wr = &w[(ky * kw + kx) * oc..(ky * kw + kx + 1) * oc];
                    for o in 0..oc {
                        acc[o] += xs[src + o / m] as i64 * wr[o] as i64;
                    }
                }
            }
            for o in 0..oc {
                let v = mbqm_i64(acc[o] + bias[o], mult[o], shift[o]) + out_z;
                orow[o] = clamp_to::<T>(v, lo, hi);
            }
        });
        return Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)]);
    }
    let xs = to_i16_off(&xin, -in_z);
    let bias32: Vec<i32> = bias.iter().map(|&b| b as i32).collect();
    let q = Requant {
        bias: &bias32,
        mult: &mult,
        shift: &shift,
        out_off: out_z,
        lo,
        hi,
    };
    let d = DwArgs {
        xs: &xs,
        w: &w,
        g: &g,
        oc,
        m,
    };
    // One output row (all ox) per task.
    out.par_chunks_mut(g.ow * oc)
        .enumerate()
        .for_each(|(r, orow)| dw_row_dispatch(&d, &q, r, orow));
    Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)])
}

struct DwArgs<'a> {
    xs: &'a [i16],
    w: &'a [i16],
    g: &'a ConvGeom,
    oc: usize,
    m: usize,
}

/// One output row of an 8-bit depthwise convolution (i16 offset-folded input and weights).
#[inline(always)]
fn dw_row<T: QInt>(d: &DwArgs, q: &Requant, r: usize, orow: &mut [T]) {
    let (g, oc, m) = (d.g, d.oc, d.m);
    let b = r / g.oh;
    let oy = r % g.oh;
    let mut acc = vec![0i32; oc];
    let mut xg = vec![0i16; if m == 1 { 0 } else { oc }];
    for ox in 0..g.ow {
        acc.iter_mut().for_each(|a| *a = 0);
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky * g.dh) as i64 - g.ph as i64;
            if iy < 0 || iy >= g.ih as i64 {
                continue;
            }
            for kx in 0..g.kw {
                let ix = (ox * g.sw + kx * g.dw) as i64 - g.pw as i64;
                if ix < 0 || ix >= g.iw as i64 {
                    continue;
                }
                let src = ((b * g.ih + iy as usize) * g.iw + ix as usize) * g.ic;
                let wr = &d.w[(ky * g.kw + kx) * oc..(ky * g.kw + kx + 1) * oc];
                let xr: &[i16] = if m == 1 {
                    &d.xs[src..src + oc]
                } else {
                    for o in 0..oc {
                        xg[o] = d.xs[src + o / m];
                    }
                    &xg
                };
                let (acc, xr, wr) = (&mut acc[..oc], &xr[..oc], &wr[..oc]);
                for o in 0..oc {
                    acc[o] += xr[o] as i32 * wr[o] as i32;
                }
            }
        }
        requant_row(&acc, q, &mut orow[ox * oc..(ox + 1) * oc]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dw_row_avx2<T: QInt>(d: &DwArgs, q: &Requant, r: usize, orow: &mut [T]) {
    dw_row(d, q, r, orow)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dw_row_avx512<T: QInt>(d: &DwArgs, q: &Requant, r: usize, orow: &mut [T]) {
    dw_row(d, q, r, orow)
}

fn dw_row_dispatch<T: QInt>(d: &DwArgs, q: &Requant, r: usize, orow: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    {
        if gemm::has_avx512() {
            return unsafe { dw_row_avx512(d, q, r, orow) };
        }
        if std::is_x86_feature_detected!("avx2") {
            return unsafe { dw_row_avx2(d, q, r, orow) };
        }
    }
    dw_row(d, q, r, orow)
}

// --------------------------------------------------------------------------------------------
// FULLY_CONNECTED
// --------------------------------------------------------------------------------------------

/// The output shape of FULLY_CONNECTED for an input shape and `units`.
pub(crate) fn fc_out_shape(
    ctx: &OpCtx,
    in_shape: &[usize],
    k: usize,
    units: usize,
) -> Result<Vec<usize>, EngineError> {
    let total: usize = in_shape.iter().product();
    if k == 0 || total % k != 0 {
        bail!("input of shape {in_shape:?} does not divide into rows of {k}");
    }
    let keep = ctx
        .fb
        .builtin_options_as_fully_connected_options()
        .map(|o| o.keep_num_dims())
        .unwrap_or(false);
    Ok(if keep && !in_shape.is_empty() {
        let mut s = in_shape.to_vec();
        *s.last_mut().unwrap() = units;
        s
    } else {
        vec![total / k, units]
    })
}

pub fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(0)? {
        Value::I8(x) => fc_q8::<i8>(ctx, x),
        Value::U8(x) => fc_q8::<u8>(ctx, x),
        Value::I16(x) => fc_i16(ctx, x),
        other => bail!(
            "FULLY_CONNECTED on {} input is not supported",
            other.dtype()
        ),
    }
}

fn fc_q8<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    if ctx.out_dtype(0) != ctx.in_dtype(0).unwrap() {
        bail!(
            "{} input with {} output is not supported",
            ctx.in_dtype(0).unwrap(),
            ctx.out_dtype(0)
        );
    }
    let (w, ws) = weights_i16(ctx, 1)?;
    if ws.len() != 2 {
        bail!("expected a 2-D weight matrix, got {ws:?}");
    }
    let (units, k) = (ws[0], ws[1]);
    let shape = fc_out_shape(ctx, x.shape(), k, units)?;
    let rows = x.len() / k;
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, units);
    let bias: Vec<i32> = bias_i64(ctx, 2, units)?.iter().map(|&b| b as i32).collect();
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    if let Some(Value::I8(xi)) = ctx.opt_input(0) {
        let xf = flat(xi);
        let build = |kp: usize| rows_u8(&xf, rows, k, kp);
        if let Some(r) = try_vnni_i8(
            ctx, &build, rows, units, k, in_z, &bias, &mult, &shift, out_z, lo, hi,
        ) {
            let out: Vec<T> = r?.into_iter().map(|v| T::from_i32(v as i32)).collect();
            return Ok(vec![T::wrap(array(&shape, out)?)]);
        }
    }
    let xs = to_i16_off(&flat(x), -in_z);
    let q = Requant {
        bias: &bias,
        mult: &mult,
        shift: &shift,
        out_off: out_z,
        lo,
        hi,
    };
    let out = gemm::<T>(&xs, rows, k, &w, units, &q);
    Ok(vec![T::wrap(array(&shape, out)?)])
}

fn fc_i16(ctx: &OpCtx, x: &ArrayD<i16>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, DType::I16)?;
    let (w, ws) = weights_i16(ctx, 1)?;
    if ws.len() != 2 {
        bail!("expected a 2-D weight matrix, got {ws:?}");
    }
    let (units, k) = (ws[0], ws[1]);
    let shape = fc_out_shape(ctx, x.shape(), k, units)?;
    let rows = x.len() / k;
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, units);
    let bias = bias_i64(ctx, 2, units)?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xs: Vec<i64> = flat(x).iter().map(|&v| v as i64 - in_z as i64).collect();
    let mut out = vec![0i16; rows * units];
    out.par_chunks_mut(units).enumerate().for_each(|(p, orow)| {
        let xr = &xs[p * k..(p + 1) * k];
        for (o, dst) in orow.iter_mut().enumerate() {
            let wr = &w[o * k..(o + 1) * k];
            let acc: i64 = xr.iter().zip(wr).map(|(&a, &b)| a * b as i64).sum::<i64>() + bias[o];
            // The int16 FC reference rescales the (wrapped) 32-bit accumulator with the 32-bit,
            // double-rounding multiplier (unlike int16 CONV_2D, which uses the 64-bit one).
            *dst = clamp_to::<i16>(mbqm(acc as i32, mult[o], shift[o]) + out_z, lo, hi);
        }
    });
    Ok(vec![Value::I16(array(&shape, out)?)])
}

// --------------------------------------------------------------------------------------------
// TRANSPOSE_CONV (inputs: output_shape, weights [OC, KH, KW, IC], input, optional bias)
// --------------------------------------------------------------------------------------------

pub fn transpose_conv(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(2)? {
        Value::I8(x) => transpose_conv_q::<i8>(ctx, x),
        Value::U8(x) => transpose_conv_q::<u8>(ctx, x),
        Value::I16(x) => transpose_conv_q::<i16>(ctx, x),
        other => bail!("TRANSPOSE_CONV on {} input is not supported", other.dtype()),
    }
}

fn transpose_conv_q<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let wide = std::mem::size_of::<T>() == 2;
    let os: Vec<usize> = ctx.in_ints(0)?.iter().map(|&d| d.max(0) as usize).collect();
    let (w, ws) = weights_i16(ctx, 1)?;
    if ws.len() != 4 || os.len() != 4 || x.ndim() != 4 {
        bail!("expected 4-D output shape, filter and input");
    }
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let xsh = x.shape();
    let (n, ih, iw, ic) = (xsh[0], xsh[1], xsh[2], xsh[3]);
    if fic != ic || os[3] != oc {
        bail!("filter {ws:?} does not match input {xsh:?} / output shape {os:?}");
    }
    let (oh, ow) = (os[1], os[2]);
    let o = ctx.fb.builtin_options_as_transpose_conv_options();
    let (pad, sh, sw) = o
        .map(|o| {
            (
                o.padding(),
                o.stride_h().max(1) as usize,
                o.stride_w().max(1) as usize,
            )
        })
        .unwrap_or((Padding::SAME, 1, 1));
    let same = pad == Padding::SAME;
    // TFLite computes the padding as for a forward conv from the output to the input.
    let pad_of = |out: usize, inp: usize, k: usize, s: usize| -> i64 {
        let (_, p) = out_and_pad(out, k, s, 1, same);
        let _ = inp;
        p as i64
    };
    let ph = pad_of(oh, ih, kh, sh);
    let pw = pad_of(ow, iw, kw, sw);
    let (in_s, in_z) = qparams(ctx.input_meta[2]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
    let bias = bias_i64(ctx, 3, oc)?;
    let act = ctx
        .fb
        .builtin_options_as_transpose_conv_options()
        .map(|o| arith::Activation::from_code(o.fused_activation_function().0))
        .unwrap_or(arith::Activation::None);
    let (lo, hi) = out_range(ctx, act, 0);
    let xs: Vec<i64> = flat(x)
        .iter()
        .map(|&v| v.to_i32() as i64 - in_z as i64)
        .collect();
    let mut acc = vec![0i64; n * oh * ow * oc];
    for b in 0..n {
        for iy in 0..ih {
            for ix in 0..iw {
                let src = ((b * ih + iy) * iw + ix) * ic;
                let oy0 = (iy * sh) as i64 - ph;
                let ox0 = (ix * sw) as i64 - pw;
                for ky in 0..kh {
                    let oy = oy0 + ky as i64;
                    if oy < 0 || oy >= oh as i64 {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = ox0 + kx as i64;
                        if ox < 0 || ox >= ow as i64 {
                            continue;
                        }
                        let dst = ((b * oh + oy as usize) * ow + ox as usize) * oc;
                        for o in 0..oc {
                            let wr = &w[((o * kh + ky) * kw + kx) * ic
                                ..((o * kh + ky) * kw + kx + 1) * ic];
                            let s: i64 = xs[src..src + ic]
                                .iter()
                                .zip(wr)
                                .map(|(&a, &b)| a * b as i64)
                                .sum();
                            acc[dst + o] += s;
                        }
                    }
                }
            }
        }
    }
    let out: Vec<T> = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let o = i % oc;
            let v = if wide {
                mbqm_i64(a + bias[o], mult[o], shift[o])
            } else {
                mbqm((a as i32).wrapping_add(bias[o] as i32), mult[o], shift[o])
            } + out_z;
            clamp_to::<T>(v, lo, hi)
        })
        .collect();
    Ok(vec![T::wrap(array(&[n, oh, ow, oc], out)?)])
}

// --------------------------------------------------------------------------------------------
// BATCH_MATMUL (int8 / int16): out = lhs x rhs with broadcasting over the batch dims.
// --------------------------------------------------------------------------------------------

pub fn batch_matmul(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match (ctx.input(0)?, ctx.input(1)?) {
        (Value::I8(a), Value::I8(b)) => bmm_q::<i8>(ctx, a, b),
        (Value::I16(a), Value::I16(b)) => bmm_q::<i16>(ctx, a, b),
        (a, b) => bail!(
            "BATCH_MATMUL on {} x {} is not supported",
            a.dtype(),
            b.dtype()
        ),
    }
}

fn bmm_q<T: QInt>(ctx: &OpCtx, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let wide = std::mem::size_of::<T>() == 2;
    let (adj_x, adj_y) = ctx
        .fb
        .builtin_options_as_batch_mat_mul_options()
        .map(|o| (o.adj_x(), o.adj_y()))
        .unwrap_or((false, false));
    let (ash, bsh) = (a.shape(), b.shape());
    if ash.len() < 2 || bsh.len() < 2 {
        bail!("BATCH_MATMUL needs rank >= 2 operands");
    }
    let (ar, ac) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (br, bc) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    let (m, k) = if adj_x { (ac, ar) } else { (ar, ac) };
    let (k2, n) = if adj_y { (bc, br) } else { (br, bc) };
    if k != k2 {
        bail!("inner dimensions differ: {ash:?} x {bsh:?}");
    }
    let rank = ash.len().max(bsh.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(&s[..s.len() - 2]);
        v
    };
    let (abatch, bbatch) = (pad(&ash[..]), pad(&bsh[..]));
    let mut obatch = Vec::with_capacity(rank - 2);
    for (&x, &y) in abatch.iter().zip(&bbatch) {
        if x != y && x != 1 && y != 1 {
            bail!("batch dimensions do not broadcast: {ash:?} x {bsh:?}");
        }
        obatch.push(x.max(y));
    }
    let nb: usize = obatch.iter().product();
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (w_s, w_z) = qparams(ctx.input_meta[1]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let real = in_s as f64 * w_s as f64 / out_s as f64;
    let (mult, shift) = arith::quantize_multiplier(real);
    let (lo, hi) = super::type_range(ctx.out_dtype(0));
    let af = flat(a);
    let bf = flat(b);
    let mut out = Vec::with_capacity(nb * m * n);
    let index = |bidx: usize, dims: &[usize]| -> usize {
        // Broadcast batch index into an operand's flat batch index.
        let mut rem = bidx;
        let mut idx = 0;
        let mut stride = 1;
        for d in (0..obatch.len()).rev() {
            let c = rem % obatch[d];
            rem /= obatch[d];
            let cd = if dims[d] == 1 { 0 } else { c };
            idx += cd * stride;
            stride *= dims[d];
        }
        idx
    };
    for bi in 0..nb {
        let ai = index(bi, &abatch) * ar * ac;
        let bj = index(bi, &bbatch) * br * bc;
        for i in 0..m {
            for j in 0..n {
                let mut acc: i64 = 0;
                for kk in 0..k {
                    let av = if adj_x {
                        af[ai + kk * ac + i]
                    } else {
                        af[ai + i * ac + kk]
                    }
                    .to_i32()
                        - in_z;
                    let bv = if adj_y {
                        bf[bj + j * bc + kk]
                    } else {
                        bf[bj + kk * bc + j]
                    }
                    .to_i32()
                        - w_z;
                    acc += av as i64 * bv as i64;
                }
                let v = if wide {
                    mbqm_i64(acc, mult, shift)
                } else {
                    mbqm(acc as i32, mult, shift)
                } + out_z;
                out.push(clamp_to::<T>(v, lo, hi));
            }
        }
    }
    let mut shape = obatch;
    shape.push(m);
    shape.push(n);
    Ok(vec![T::wrap(array(&shape, out)?)])
}

#[allow(dead_code)]
fn _unused(_: &Tensor) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_like_tflite() {
        // SAME, 224 -> 112 with k=3 s=2: total pad = 111*2 + 3 - 224 = 1 -> 0 leading.
        assert_eq!(out_and_pad(224, 3, 2, 1, true), (112, 0));
        assert_eq!(out_and_pad(5, 3, 1, 1, true), (5, 1));
        assert_eq!(out_and_pad(5, 3, 1, 1, false), (3, 0));
        assert_eq!(out_and_pad(7, 3, 1, 2, false), (3, 0));
    }

    #[test]
    fn gemm_matches_naive() {
        let (rows, k, oc) = (37, 45, 23);
        let a: Vec<i16> = (0..rows * k)
            .map(|i| ((i * 7919) % 511) as i16 - 255)
            .collect();
        let w: Vec<i16> = (0..oc * k)
            .map(|i| ((i * 104729) % 255) as i16 - 127)
            .collect();
        let mut got = vec![0i32; rows * oc];
        gemm_block_dispatch(&a, k, &w, oc, &mut got);
        for p in 0..rows {
            for o in 0..oc {
                let s: i32 = (0..k)
                    .map(|j| a[p * k + j] as i32 * w[o * k + j] as i32)
                    .sum();
                assert_eq!(got[p * oc + o], s);
            }
        }
    }
}
