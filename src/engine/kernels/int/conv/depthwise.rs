//! Quantized DEPTHWISE_CONV_2D: whole output rows accumulated in i32, requantized at once.

#[allow(unused_imports)]
use super::*;
use crate::engine::kernels::conv::{dw_taps, lanes16};
use crate::engine::kernels::int::on_qint;

// --------------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D
// --------------------------------------------------------------------------------------------

pub fn depthwise(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    on_qint!(ctx.input(0)?, x => depthwise_q(ctx, x),
        "DEPTHWISE_CONV_2D on {} input is not supported")
}

pub(super) fn depthwise_q<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    let wide = std::mem::size_of::<T>() == 2;
    check_out_dtype(ctx, ctx.in_dtype(0).unwrap())?;
    let ws = ctx.input(1)?.shape().to_vec();
    // TFLite's Prepare: the filter is [1, kh, kw, channels].
    if ws.len() != 4 || ws[0] != 1 {
        bail!("a depthwise filter is [1, height, width, channels], got {ws:?}");
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
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xin = flat(x);
    let mut out = vec![T::default(); g.n * g.oh * g.ow * oc];
    if wide {
        let (w, _) = weights_i16(ctx, 1)?;
        let (mult, shift) = channel_multipliers(in_s, &scales(ctx.in_meta(1)), out_s, oc);
        let bias = bias_i64(ctx, 2, oc)?;
        // int16x8: i64 accumulators.
        let xs: Vec<i32> = xin.iter().map(|&v| v.to_i32() - in_z).collect();
        out.par_chunks_mut(oc).enumerate().for_each(|(r, orow)| {
            let b = r / (g.oh * g.ow);
            let oy = (r / g.ow) % g.oh;
            let ox = r % g.ow;
            let mut acc = vec![0i64; oc];
            g.for_taps(oy, ox, |ky, kx, iy, ix| {
                let src = ((b * g.ih + iy) * g.iw + ix) * g.ic;
                let wr = &w[(ky * kw + kx) * oc..(ky * kw + kx + 1) * oc];
                for o in 0..oc {
                    acc[o] += xs[src + o / m] as i64 * wr[o] as i64;
                }
            });
            for o in 0..oc {
                let v = mbqm_i64(acc[o] + bias[o], mult[o], shift[o]) + out_z;
                orow[o] = clamp_to::<T>(v, lo, hi);
            }
        });
        return Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)]);
    }
    let p = ctx.prepared(weight_inputs(ctx), || {
        let stage = RequantParams::new(ctx, oc)?;
        let w: Vec<i32> = weights_i16(ctx, 1)?.0.iter().map(|&v| v as i32).collect();
        let fast = (m == 1 && crate::engine::simd::avx512())
            .then(|| dw_q8_prep(&w, &stage.bias, &stage.mult, &stage.shift, oc, -in_z))
            .flatten();
        Ok(DwPrep { w, stage, fast })
    })?;
    let q = p.stage.requant(0..oc, out_z, lo, hi);
    #[cfg(target_arch = "x86_64")]
    if let (Some(f), true) = (&p.fast, m == 1 && gemm::has_avx512()) {
        let q = Requant {
            bias: &f.bias,
            rq: Some(&f.rq),
            ..q
        };
        out.par_chunks_mut(g.ow * oc)
            .enumerate()
            .for_each_init(Vec::new, |ptrs, (r, orow)| {
                // SAFETY: the CPU has AVX-512F/BW/VL/DQ (checked above).
                unsafe { dw_row_q8_fast(&xin, &g, f, &q, r, orow, ptrs) }
            });
        return Ok(vec![T::wrap(array(&[g.n, g.oh, g.ow, oc], out)?)]);
    }
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
pub(super) struct DwPrep {
    w: Vec<i32>,
    stage: RequantParams,
    /// The AVX-512 depth-multiplier-1 path's data (see `dw_q8.rs`), when it applies.
    fast: Option<DwQ8>,
}

pub(super) struct DwArgs<'a, T> {
    x: &'a [T],
    in_off: i32,
    w: &'a [i32],
    g: &'a ConvGeom,
    oc: usize,
    m: usize,
}

/// `acc[i] += (x[i] + off) * w[i]` in 16-wide chunks the compiler turns into whole vectors.
#[inline(always)]
pub(super) fn mul_acc_q<T: QInt>(acc: &mut [i32], x: &[T], off: i32, w: &[i32]) {
    // Wrapping like the vector paths (and TFLite's int32 accumulators).
    lanes16(acc, x, w, |a, x, w| {
        *a = a.wrapping_add(x.to_i32().wrapping_add(off).wrapping_mul(w))
    });
}

/// [`mul_acc_q`] with AVX-512 for 8-bit activations: 16 lanes widened to i32 per step.
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
pub(super) unsafe fn mul_acc_q_avx512<T: QInt>(acc: &mut [i32], x: &[T], off: i32, w: &[i32]) {
    // SAFETY: AVX-512F/BW/VL are enabled (this function's contract); every offset is below
    // `n`, and `x` and `w` hold at least `n` values (checked above).
    unsafe {
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
}

/// The i32 accumulators (`[ow][oc]`) of output row `r` (= batch * oh + oy), without bias.
/// `WIDE`: the caller has AVX-512.
#[inline(always)]
pub(super) fn dw_acc<T: QInt, const WIDE: bool>(d: &DwArgs<T>, r: usize, acc: &mut Vec<i32>) {
    acc.clear();
    acc.resize(d.g.ow * d.oc, 0);
    let step = |a: &mut [i32], x: &[T], w: &[i32]| {
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            // SAFETY: WIDE is only set by callers that have checked for AVX-512.
            return unsafe { mul_acc_q_avx512(a, x, d.in_off, w) };
        }
        mul_acc_q(a, x, d.in_off, w)
    };
    dw_taps(d.g, d.x, d.w, d.m, r, acc.as_mut_slice(), step);
}

/// # Safety
/// The CPU must support AVX2 (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dw_acc_avx2<T: QInt>(d: &DwArgs<T>, r: usize, acc: &mut Vec<i32>) {
    dw_acc::<T, false>(d, r, acc)
}

/// # Safety
/// The CPU must support AVX-512F/BW/VL (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dw_acc_avx512<T: QInt>(d: &DwArgs<T>, r: usize, acc: &mut Vec<i32>) {
    dw_acc::<T, true>(d, r, acc)
}

fn dw_acc_dispatch<T: QInt>(d: &DwArgs<T>, r: usize, acc: &mut Vec<i32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if gemm::has_avx512() {
            // SAFETY: the CPU has the AVX-512 subsets the function enables.
            return unsafe { dw_acc_avx512(d, r, acc) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { dw_acc_avx2(d, r, acc) };
        }
    }
    dw_acc::<T, false>(d, r, acc)
}

// --------------------------------------------------------------------------------------------
// Hybrid (dynamic-range) DEPTHWISE_CONV_2D: float input and output, int8 weights
// --------------------------------------------------------------------------------------------

/// Per-channel float rescale and bias, and the weights widened to i32 (`[kh * kw][oc]`).
struct HybridDwPrep {
    w: Vec<i32>,
    scale: Vec<f32>,
    bias: Vec<f32>,
}

/// As TFLite's hybrid depthwise kernel: each batch of the input quantized once
/// (`AsymmetricQuantizeFloats`), int8 taps accumulated in i32 on the integer depthwise path,
/// then `acc * input_scale * filter_scale[c] + bias[c]` and the float activation.
pub fn depthwise_hybrid(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = match ctx.input(0)? {
        Value::F32(x) => x,
        other => bail!("hybrid DEPTHWISE_CONV_2D on {} input", other.dtype()),
    };
    let ws = ctx.input(1)?.shape().to_vec();
    // TFLite's Prepare: the filter is [1, kh, kw, channels].
    if ws.len() != 4 || ws[0] != 1 {
        bail!("a depthwise filter is [1, height, width, channels], got {ws:?}");
    }
    let (kh, kw, oc) = (ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let m = if g.ic == 0 { 1 } else { oc / g.ic };
    if m * g.ic != oc {
        bail!(
            "filter depth {oc} is not a multiple of input depth {}",
            g.ic
        );
    }
    let p = ctx.prepared(&[1, 2], || {
        let w: Vec<i32> = match ctx.input(1)? {
            Value::I8(a) => flat(a).iter().map(|&v| v as i32).collect(),
            Value::U8(a) => flat(a).iter().map(|&v| v as i8 as i32).collect(),
            other => bail!("hybrid weights of type {} are not supported", other.dtype()),
        };
        let s = scales(ctx.in_meta(1));
        let scale = (0..oc)
            .map(|c| match s.len() {
                0 => 1.0,
                1 => s[0],
                _ => s.get(c).copied().unwrap_or(1.0),
            })
            .collect();
        let bias = match ctx.opt_input(2) {
            None => vec![0.0; oc],
            Some(Value::F32(b)) if b.len() == oc => flat(b).to_vec(),
            Some(Value::F32(b)) => bail!(
                "bias has {} values, expected {oc} (one per output channel)",
                b.len()
            ),
            Some(other) => bail!("hybrid bias of type {} is not supported", other.dtype()),
        };
        Ok(HybridDwPrep { w, scale, bias })
    })?;
    let act = fused(ctx);
    let xf = flat(x);
    let per_batch = g.ih * g.iw * g.ic;
    let mut out = vec![0f32; g.n * g.oh * g.ow * oc];
    let gb = ConvGeom { n: 1, ..g };
    for b in 0..g.n {
        let mut q = vec![0i8; per_batch];
        let (s, zp) = super::super::hybrid::asymmetric_quantize(
            &xf[b * per_batch..(b + 1) * per_batch],
            &mut q,
        );
        let d = DwArgs {
            x: &q,
            in_off: -zp,
            w: &p.w,
            g: &gb,
            oc,
            m,
        };
        let ob = &mut out[b * g.oh * g.ow * oc..(b + 1) * g.oh * g.ow * oc];
        ob.par_chunks_mut(g.ow * oc)
            .enumerate()
            .for_each_init(Vec::new, |acc, (oy, orow)| {
                dw_acc_dispatch(&d, oy, acc);
                for (opx, apx) in orow.chunks_exact_mut(oc).zip(acc.chunks_exact(oc)) {
                    for (c, (o, &a)) in opx.iter_mut().zip(apx).enumerate() {
                        *o = act.clamp_f32(a as f32 * (s * p.scale[c]) + p.bias[c]);
                    }
                }
            });
    }
    Ok(vec![Value::F32(array(&[g.n, g.oh, g.ow, oc], out)?)])
}

/// Depth multiplier 1, 8-bit: for each pixel and 16 channels, the taps accumulate in one
/// register and the result is requantized and stored straight away. Interior pixels share one
/// list of tap offsets (shifted by the pixel's column).
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn dw_row_q8_avx512<T: QInt>(
    d: &DwArgs<T>,
    q: &Requant,
    r: usize,
    orow: &mut [T],
) {
    // SAFETY: AVX-512F/BW/VL/DQ are enabled (this function's contract). The asserts above
    // bound `orow`, `d.w`, `d.x` and the requantization vectors; `DwTaps` yields only taps inside
    // the image, so each input offset plus the pixel's shift and channel lies in `d.x`; loads and
    // stores of the last channel group are masked to `oc`.
    unsafe {
        use crate::engine::kernels::tiles::mask16;
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
                let mask: __mmask16 = mask16(oc - c);
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
}

/// One output row of an 8-bit depthwise convolution: on AVX-512 with depth multiplier 1,
/// [`dw_row_q8_avx512`]; otherwise i32 accumulators for the whole row ([`dw_acc`], each tap
/// adding to the run of pixels it reaches), then one requantization pass.
pub(super) fn dw_row_dispatch<T: QInt>(
    d: &DwArgs<T>,
    q: &Requant,
    r: usize,
    orow: &mut [T],
    acc: &mut Vec<i32>,
) {
    #[cfg(target_arch = "x86_64")]
    if d.m == 1 && std::mem::size_of::<T>() == 1 && gemm::has_avx512() {
        // SAFETY: the CPU has the AVX-512 subsets the function enables.
        return unsafe { dw_row_q8_avx512(d, q, r, orow) };
    }
    dw_acc_dispatch(d, r, acc);
    requant_rows(acc, d.oc, q, orow);
}
