//! Quantized CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and BATCH_MATMUL.
//!
//! Arithmetic of `reference_integer_ops::{ConvPerChannel, DepthwiseConvPerChannel,
//! FullyConnected[PerChannel]}` (int8), `reference_ops::{Conv, DepthwiseConv, FullyConnected}`
//! (uint8) and their int16x8 variants (64-bit accumulators): acc = sum (x + in_off)(w + w_off)
//! + bias, then `MultiplyByQuantizedMultiplier` per output channel, + out_off, clamp.
//!
//! Speed: weights are prepared once per op (packed for the VNNI GEMM, or widened to i16 with
//! the offsets folded in). With AVX-512 VNNI the int8 GEMM runs on u8-shifted activations
//! with the requantization fused into the micro-kernel (see `gemm.rs`); elsewhere an
//! i16 x i16 -> i32 GEMM with a 1x4 micro-kernel that the compiler vectorizes. Depthwise
//! convolutions accumulate whole output rows channel-contiguously in i32 and requantize the
//! row at once. Grouped CONV_2D (filter depth < input depth) runs one GEMM per group.

use super::gemm::{self, requant_row, requant_rows, PackedW, Requant};
use super::{array, bail, clamp_to, flat, fused, out_range, qparams, scales, QInt};
use crate::engine::arith::{self, mbqm, mbqm_i64};
pub(crate) use crate::engine::kernels::conv::geom::{conv_geom, out_and_pad, ConvGeom, DwTaps};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::{DType, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;
use tract_tflite::tflite::Padding;

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

/// The bias as i64, one per output channel (a corrupt model's short bias is an error here, so
/// the kernels can index it freely).
fn bias_i64(ctx: &OpCtx, i: usize, n: usize) -> Result<Vec<i64>, EngineError> {
    let b: Vec<i64> = match ctx.opt_input(i) {
        None => return Ok(vec![0; n]),
        Some(Value::I32(b)) => flat(b).iter().map(|&x| x as i64).collect(),
        Some(Value::I64(b)) => flat(b).to_vec(),
        Some(other) => bail!("bias of type {} is not supported", other.dtype()),
    };
    if b.len() != n {
        bail!(
            "bias has {} values, expected {n} (one per output channel)",
            b.len()
        );
    }
    Ok(b)
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
        if crate::engine::simd::avx2() {
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

/// im2col into u8 rows for the VNNI GEMM: `xu` is the input shifted to u8 (`x + 128`), input
/// channels `c0..c0 + fic` are read, taps outside the image take `pad` (the input zero point,
/// shifted), columns are padded to `kp` with zeros.
fn im2col_u8(xu: &[u8], g: &ConvGeom, c0: usize, fic: usize, kp: usize, pad: u8) -> Vec<u8> {
    let rows = g.pixels();
    let mut a = vec![0u8; rows * kp];
    if rows == 0 {
        return a;
    }
    a.par_chunks_mut(g.ow * kp)
        .enumerate()
        .for_each(|(r, dst)| {
            let b = r / g.oh;
            let oy = r % g.oh;
            for ox in 0..g.ow {
                let d = &mut dst[ox * kp..];
                for ky in 0..g.kh {
                    let iy = g.in_row(oy, ky);
                    for kx in 0..g.kw {
                        let off = (ky * g.kw + kx) * fic;
                        let d = &mut d[off..off + fic];
                        match (iy, g.in_col(ox, kx)) {
                            (Some(iy), Some(ix)) => {
                                let src = ((b * g.ih + iy) * g.iw + ix) * g.ic + c0;
                                d.copy_from_slice(&xu[src..src + fic]);
                            }
                            _ => d.fill(pad),
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

/// What an 8-bit CONV_2D / FULLY_CONNECTED derives once from its weights, bias and the
/// tensors' quantization.
struct Q8Prep {
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
    /// Portable path: `[oc][k]` weights as i16 with the filter offset folded in.
    w16: Vec<i16>,
    /// VNNI path, per group: packed int8 weights and the bias with the activations' +128
    /// shift taken back out: `bias - (128 + in_zp) * sum(w)`.
    vnni: Vec<(PackedW, Vec<i32>)>,
}

/// Whether this op runs the VNNI GEMM: int8 activations and weights on a CPU with VNNI.
fn use_vnni(ctx: &OpCtx) -> bool {
    matches!(
        (ctx.opt_input(0), ctx.opt_input(1)),
        (Some(Value::I8(_)), Some(Value::I8(_)))
    ) && gemm::has_vnni()
}

fn q8_prep(
    ctx: &OpCtx,
    oc: usize,
    k: usize,
    groups: usize,
    vnni: bool,
) -> Result<Q8Prep, EngineError> {
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, _) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
    let bias: Vec<i32> = bias_i64(ctx, 2, oc)?.iter().map(|&b| b as i32).collect();
    if bias.len() < oc {
        bail!("bias has {} values, expected {oc}", bias.len());
    }
    let mut p = Q8Prep {
        bias,
        mult,
        shift,
        w16: Vec::new(),
        vnni: Vec::new(),
    };
    match ctx.opt_input(1) {
        Some(Value::I8(wa)) if vnni => {
            let wf = flat(wa);
            let per = oc / groups;
            for gi in 0..groups {
                let pw = gemm::pack_weights(&wf[gi * per * k..(gi + 1) * per * k], per, k);
                let b2 = (0..per)
                    .map(|o| {
                        p.bias[gi * per + o].wrapping_sub((128 + in_z).wrapping_mul(pw.sums[o]))
                    })
                    .collect();
                p.vnni.push((pw, b2));
            }
        }
        _ => p.w16 = weights_i16(ctx, 1)?.0,
    }
    Ok(p)
}

// --------------------------------------------------------------------------------------------
// CONV_2D
// --------------------------------------------------------------------------------------------

/// im2col of an offset-folded NHWC input: one row per output pixel, `kh*kw*ic_used` columns in
/// the filter's (ky, kx, c) order; taps outside the image are 0.
pub(crate) fn im2col(x: &[i16], g: &ConvGeom, ic_used: usize) -> Vec<i16> {
    im2col_group(x, g, 0, ic_used)
}

/// im2col reading input channels `c0..c0 + fic` (one group of a grouped convolution).
fn im2col_group(x: &[i16], g: &ConvGeom, c0: usize, fic: usize) -> Vec<i16> {
    let k = g.kh * g.kw * fic;
    let rows = g.pixels();
    let mut a = vec![0i16; rows * k];
    if rows == 0 || k == 0 {
        return a;
    }
    a.par_chunks_mut(g.ow * k).enumerate().for_each(|(r, dst)| {
        let b = r / g.oh;
        let oy = r % g.oh;
        for ox in 0..g.ow {
            let d = &mut dst[ox * k..(ox + 1) * k];
            for ky in 0..g.kh {
                let Some(iy) = g.in_row(oy, ky) else {
                    continue;
                };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_col(ox, kx) else {
                        continue;
                    };
                    let src = ((b * g.ih + iy) * g.iw + ix) * g.ic + c0;
                    let off = (ky * g.kw + kx) * fic;
                    d[off..off + fic].copy_from_slice(&x[src..src + fic]);
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

/// The number of groups of a CONV_2D: input depth / filter depth, which must divide both the
/// input depth and the filter count.
fn conv_groups(ic: usize, fic: usize, oc: usize) -> Result<usize, EngineError> {
    if fic == 0 || !ic.is_multiple_of(fic) || !oc.is_multiple_of((ic / fic).max(1)) {
        bail!("input depth {ic}, filter depth {fic} and {oc} filters do not form groups");
    }
    Ok((ic / fic).max(1))
}

fn conv2d_q8<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, ctx.in_dtype(0).unwrap())?;
    let ws = ctx.input(1)?.shape().to_vec();
    if ws.len() != 4 {
        bail!("expected 4-D filter, got {ws:?}");
    }
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let groups = conv_groups(g.ic, fic, oc)?;
    let (ocg, k, rows) = (oc / groups, kh * kw * fic, g.pixels());
    let vnni = use_vnni(ctx);
    let p = ctx.prepared(&[1, 2], || q8_prep(ctx, oc, k, groups, vnni))?;
    let (_, in_z) = qparams(ctx.input_meta[0]);
    let (_, out_z) = qparams(Some(ctx.output_meta[0]));
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let shape = [g.n, g.oh, g.ow, oc];
    #[cfg(target_arch = "x86_64")]
    if let (false, Some(Value::I8(xi))) = (p.vnni.is_empty(), ctx.opt_input(0)) {
        let xf = flat(xi);
        let kp = p.vnni[0].0.kp;
        let direct = groups == 1 && g.is_pointwise();
        let xu: Vec<u8> = if direct {
            Vec::new()
        } else {
            xf.iter().map(|&v| (v as u8) ^ 0x80).collect()
        };
        let mut out = vec![0i8; rows * oc];
        for (gi, (pw, bias)) in p.vnni.iter().enumerate() {
            let c0 = gi * ocg;
            let a = if direct {
                rows_u8(&xf, rows, k, kp)
            } else {
                im2col_u8(&xu, &g, gi * fic, fic, kp, (in_z + 128) as u8)
            };
            let q = Requant {
                bias,
                mult: &p.mult[c0..],
                shift: &p.shift[c0..],
                out_off: out_z,
                lo,
                hi,
            };
            gemm::vnni_gemm_into(&a, rows, pw, &q, &mut out[c0..], oc);
        }
        return Ok(vec![Value::I8(array(&shape, out)?)]);
    }
    let xs = to_i16_off(&flat(x), -in_z);
    let mut out = vec![T::default(); rows * oc];
    for gi in 0..groups {
        let c0 = gi * ocg;
        let a_owned;
        let a: &[i16] = if groups == 1 && g.is_pointwise() {
            &xs
        } else {
            a_owned = im2col_group(&xs, &g, gi * fic, fic);
            &a_owned
        };
        let q = Requant {
            bias: &p.bias[c0..c0 + ocg],
            mult: &p.mult[c0..c0 + ocg],
            shift: &p.shift[c0..c0 + ocg],
            out_off: out_z,
            lo,
            hi,
        };
        let part = gemm::<T>(a, rows, k, &p.w16[c0 * k..(c0 + ocg) * k], ocg, &q);
        if groups == 1 {
            out = part;
        } else {
            for (dst, src) in out.chunks_exact_mut(oc).zip(part.chunks_exact(ocg)) {
                dst[c0..c0 + ocg].copy_from_slice(src);
            }
        }
    }
    Ok(vec![T::wrap(array(&shape, out)?)])
}

/// int16 activations x int8 weights: 64-bit accumulators and the 64-bit multiplier.
fn conv2d_i16(ctx: &OpCtx, x: &ArrayD<i16>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, DType::I16)?;
    let (w, ws) = weights_i16(ctx, 1)?;
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let groups = conv_groups(g.ic, fic, oc)?;
    let ocg = oc / groups;
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
    let bias = bias_i64(ctx, 2, oc)?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xs: Vec<i32> = flat(x).iter().map(|&v| v as i32 - in_z).collect();
    let k = kh * kw * fic;
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
                    let src =
                        ((b * g.ih + iy as usize) * g.iw + ix as usize) * g.ic + o / ocg * fic;
                    let wo = o * k + (ky * kw + kx) * fic;
                    for c in 0..fic {
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
    let ws = ctx.input(1)?.shape().to_vec();
    if ws.len() != 4 {
        bail!("expected 4-D filter, got {ws:?}");
    }
    let (kh, kw, oc) = (ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
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
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xin = flat(x);
    let mut out = vec![T::default(); g.n * g.oh * g.ow * oc];
    if wide {
        let (w, _) = weights_i16(ctx, 1)?;
        let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
        let bias = bias_i64(ctx, 2, oc)?;
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
    let p = ctx.prepared(&[1, 2], || {
        let (mult, shift) = channel_multipliers(in_s, &scales(ctx.input_meta[1]), out_s, oc);
        let bias = bias_i64(ctx, 2, oc)?;
        if bias.len() < oc {
            bail!("bias has {} values, expected {oc}", bias.len());
        }
        Ok(DwPrep {
            w: weights_i16(ctx, 1)?.0.iter().map(|&v| v as i32).collect(),
            bias: bias.iter().map(|&b| b as i32).collect(),
            mult,
            shift,
        })
    })?;
    let q = Requant {
        bias: &p.bias,
        mult: &p.mult,
        shift: &p.shift,
        out_off: out_z,
        lo,
        hi,
    };
    let d = DwArgs {
        x: &xin,
        in_off: -in_z,
        w: &p.w,
        g: &g,
        oc,
        m,
    };
    // One output row (all ox) per task.
    out.par_chunks_mut(g.ow * oc)
        .enumerate()
        .for_each_init(Vec::new, |acc, (r, orow)| {
            dw_row_dispatch(&d, &q, r, orow, acc)
        });
    Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)])
}

/// Depthwise weights widened to i32 (`[kh * kw][oc]`, filter offset folded in) and the bias.
struct DwPrep {
    w: Vec<i32>,
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
}

struct DwArgs<'a, T> {
    x: &'a [T],
    in_off: i32,
    w: &'a [i32],
    g: &'a ConvGeom,
    oc: usize,
    m: usize,
}

/// `acc[i] += (x[i] + off) * w[i]` in 16-wide chunks the compiler turns into whole vectors.
#[inline(always)]
fn mul_acc_q<T: QInt>(acc: &mut [i32], x: &[T], off: i32, w: &[i32]) {
    let n = acc.len();
    let (x, w) = (&x[..n], &w[..n]);
    let mut ac = acc.chunks_exact_mut(16);
    let mut xc = x.chunks_exact(16);
    let mut wc = w.chunks_exact(16);
    for ((a, xv), wv) in (&mut ac).zip(&mut xc).zip(&mut wc) {
        let a: &mut [i32; 16] = a.try_into().unwrap();
        let xv: &[T; 16] = xv.try_into().unwrap();
        let wv: &[i32; 16] = wv.try_into().unwrap();
        for i in 0..16 {
            // Wrapping like the vector paths (and TFLite's int32 accumulators).
            a[i] = a[i].wrapping_add(xv[i].to_i32().wrapping_add(off).wrapping_mul(wv[i]));
        }
    }
    for ((a, xv), &wv) in ac
        .into_remainder()
        .iter_mut()
        .zip(xc.remainder())
        .zip(wc.remainder())
    {
        *a = a.wrapping_add(xv.to_i32().wrapping_add(off).wrapping_mul(wv));
    }
}

/// [`mul_acc_q`] with AVX-512 for 8-bit activations: 16 lanes widened to i32 per step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn mul_acc_q_avx512<T: QInt>(acc: &mut [i32], x: &[T], off: i32, w: &[i32]) {
    use std::arch::x86_64::*;
    let n = acc.len();
    if std::mem::size_of::<T>() != 1 || x.len() < n || w.len() < n {
        return mul_acc_q(acc, x, off, w);
    }
    let signed = T::MIN < 0;
    let offv = _mm512_set1_epi32(off);
    let (ap, xp, wp) = (acc.as_mut_ptr(), x.as_ptr() as *const u8, w.as_ptr());
    let mut i = 0;
    while i + 16 <= n {
        let xb = _mm_loadu_si128(xp.add(i) as *const __m128i);
        let xv = if signed {
            _mm512_cvtepi8_epi32(xb)
        } else {
            _mm512_cvtepu8_epi32(xb)
        };
        let prod = _mm512_mullo_epi32(
            _mm512_add_epi32(xv, offv),
            _mm512_loadu_si512(wp.add(i) as *const _),
        );
        let a = _mm512_loadu_si512(ap.add(i) as *const _);
        _mm512_storeu_si512(ap.add(i) as *mut _, _mm512_add_epi32(a, prod));
        i += 16;
    }
    if i < n {
        mul_acc_q(&mut acc[i..], &x[i..n], off, &w[i..n]);
    }
}

/// One output row of an 8-bit depthwise convolution: i32 accumulators for the whole row,
/// each tap adding to the run of pixels it reaches, then one requantization pass. `WIDE`:
/// the caller has AVX-512.
#[inline(always)]
fn dw_row<T: QInt, const WIDE: bool>(
    d: &DwArgs<T>,
    q: &Requant,
    r: usize,
    orow: &mut [T],
    acc: &mut Vec<i32>,
) {
    let (g, oc, m) = (d.g, d.oc, d.m);
    let (b, oy) = (r / g.oh, r % g.oh);
    acc.clear();
    acc.resize(g.ow * oc, 0);
    let mut xg = vec![T::default(); if m == 1 { 0 } else { oc }];
    let step = |a: &mut [i32], x: &[T], w: &[i32]| {
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            // SAFETY: WIDE is only set by `dw_row_avx512`, which requires AVX-512.
            return unsafe { mul_acc_q_avx512(a, x, d.in_off, w) };
        }
        mul_acc_q(a, x, d.in_off, w)
    };
    for ky in 0..g.kh {
        let Some(iy) = g.in_row(oy, ky) else {
            continue;
        };
        let xrow = &d.x[(b * g.ih + iy) * g.iw * g.ic..(b * g.ih + iy + 1) * g.iw * g.ic];
        for kx in 0..g.kw {
            let wr = &d.w[(ky * g.kw + kx) * oc..(ky * g.kw + kx + 1) * oc];
            let (lo, hi) = g.valid_ox(kx);
            for ox in lo..hi {
                let ix = ox * g.sw + kx * g.dw - g.pw;
                let px = &xrow[ix * g.ic..(ix + 1) * g.ic];
                let a = &mut acc[ox * oc..(ox + 1) * oc];
                if m == 1 {
                    step(a, px, wr);
                } else {
                    for (o, v) in xg.iter_mut().enumerate() {
                        *v = px[o / m];
                    }
                    step(a, &xg, wr);
                }
            }
        }
    }
    requant_rows(acc, oc, q, orow);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dw_row_avx2<T: QInt>(
    d: &DwArgs<T>,
    q: &Requant,
    r: usize,
    orow: &mut [T],
    acc: &mut Vec<i32>,
) {
    dw_row::<T, false>(d, q, r, orow, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dw_row_avx512<T: QInt>(
    d: &DwArgs<T>,
    q: &Requant,
    r: usize,
    orow: &mut [T],
    acc: &mut Vec<i32>,
) {
    if d.m == 1 && std::mem::size_of::<T>() == 1 {
        return dw_row_q8_avx512(d, q, r, orow);
    }
    dw_row::<T, true>(d, q, r, orow, acc)
}

/// Depth multiplier 1, 8-bit: for each pixel and 16 channels, the taps accumulate in one
/// register and the result is requantized and stored straight away. Interior pixels share one
/// list of tap offsets (shifted by the pixel's column).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn dw_row_q8_avx512<T: QInt>(d: &DwArgs<T>, q: &Requant, r: usize, orow: &mut [T]) {
    use std::arch::x86_64::*;
    let (g, oc) = (d.g, d.oc);
    let (b, oy) = (r / g.oh, r % g.oh);
    assert!(g.ic == oc && orow.len() >= g.ow * oc && d.w.len() >= g.kh * g.kw * oc);
    assert!(d.x.len() >= g.n * g.ih * g.iw * g.ic);
    assert!(q.bias.len() >= oc && q.mult.len() >= oc && q.shift.len() >= oc);
    let signed = T::MIN < 0;
    let (xp, wp, dst) = (
        d.x.as_ptr() as *const u8,
        d.w.as_ptr(),
        orow.as_mut_ptr() as *mut u8,
    );
    let offv = _mm512_set1_epi32(d.in_off);
    let o = gemm::OutStage {
        off: _mm512_set1_epi32(q.out_off),
        lo: _mm512_set1_epi32(q.lo),
        hi: _mm512_set1_epi32(q.hi),
    };
    let mut taps = DwTaps::new(&g, b, oy, oc);
    for ox in 0..g.ow {
        let shift = (ox * g.sw * g.ic) as isize;
        let taps = taps.at(&g, ox);
        let mut c = 0;
        while c < oc {
            let valid = (oc - c).min(16);
            let mask: __mmask16 = if valid == 16 {
                0xffff
            } else {
                (1 << valid) - 1
            };
            let mut acc = _mm512_setzero_si512();
            for &(xo, wo) in taps {
                let xb = _mm_maskz_loadu_epi8(mask, xp.offset(xo + shift).add(c) as *const _);
                let xv = if signed {
                    _mm512_cvtepi8_epi32(xb)
                } else {
                    _mm512_cvtepu8_epi32(xb)
                };
                let wv = _mm512_maskz_loadu_epi32(mask, wp.add(wo + c));
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_add_epi32(xv, offv), wv));
            }
            let ld = |v: &[i32]| _mm512_maskz_loadu_epi32(mask, v.as_ptr().add(c));
            let v = gemm::requant16(acc, ld(q.bias), ld(q.mult), ld(q.shift), o);
            _mm_mask_storeu_epi8(
                dst.add(ox * oc + c) as *mut _,
                mask,
                _mm512_cvtepi32_epi8(v),
            );
            c += 16;
        }
    }
}

fn dw_row_dispatch<T: QInt>(
    d: &DwArgs<T>,
    q: &Requant,
    r: usize,
    orow: &mut [T],
    acc: &mut Vec<i32>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if gemm::has_avx512() {
            // SAFETY: the CPU has the AVX-512 subsets the function enables.
            return unsafe { dw_row_avx512(d, q, r, orow, acc) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { dw_row_avx2(d, q, r, orow, acc) };
        }
    }
    dw_row::<T, false>(d, q, r, orow, acc)
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
    if units == 0 || total == 0 {
        bail!("empty FULLY_CONNECTED: input {in_shape:?}, {units} units");
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
    let ws = ctx.input(1)?.shape().to_vec();
    if ws.len() != 2 {
        bail!("expected a 2-D weight matrix, got {ws:?}");
    }
    let (units, k) = (ws[0], ws[1]);
    let shape = fc_out_shape(ctx, x.shape(), k, units)?;
    let rows = x.len() / k;
    let (_, in_z) = qparams(ctx.input_meta[0]);
    let (_, out_z) = qparams(Some(ctx.output_meta[0]));
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let vnni = use_vnni(ctx);
    let p = ctx.prepared(&[1, 2], || q8_prep(ctx, units, k, 1, vnni))?;
    #[cfg(target_arch = "x86_64")]
    if let (Some((pw, bias)), Some(Value::I8(xi))) = (p.vnni.first(), ctx.opt_input(0)) {
        let a = rows_u8(&flat(xi), rows, k, pw.kp);
        let q = Requant {
            bias,
            mult: &p.mult,
            shift: &p.shift,
            out_off: out_z,
            lo,
            hi,
        };
        let out = gemm::vnni_gemm::<i8>(&a, rows, pw, &q);
        return Ok(vec![Value::I8(array(&shape, out)?)]);
    }
    let xs = to_i16_off(&flat(x), -in_z);
    let q = Requant {
        bias: &p.bias,
        mult: &p.mult,
        shift: &p.shift,
        out_off: out_z,
        lo,
        hi,
    };
    let out = gemm::<T>(&xs, rows, k, &p.w16, units, &q);
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
    crate::engine::limits::check_alloc(&[n, oh, ow, oc], 4, "TRANSPOSE_CONV output")?;
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
