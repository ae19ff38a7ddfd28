//! 8-bit DEPTHWISE_CONV_2D with depth multiplier 1 on AVX-512, the way XNNPACK's qs8 dwconv
//! does it: per output pixel one pointer per kernel tap (taps in the padding point at a row of
//! the input zero point), the input offset folded into the bias once at prepare time
//! (`sum (x + off) w = sum x w + off sum w`, exact in wrapping i32 arithmetic: a padding tap
//! reads `x = -off` and adds `0` either way), int8 weights `[tap][channel]` widened in
//! registers, 16 channels per step, the requantization fused.

#[allow(unused_imports)]
use super::*;

/// What the fast path prepares once: the folded weights as int8 (the path is only taken when
/// every folded weight fits in int8), `bias + in_off * sum_taps w` per channel and the output
/// stage as [`gemm::Rq16`] blocks.
pub(super) struct DwQ8 {
    pub(super) w8: Vec<i8>,
    pub(super) bias: Vec<i32>,
    pub(super) rq: Vec<gemm::Rq16>,
    /// `oc + 64` bytes of the input zero point, read by taps that fall in the padding.
    pub(super) pad: Vec<u8>,
}

/// The fast-path data for folded i32 weights `w` (`[taps][oc]`), `None` if a weight does not
/// fit in int8 (uint8 models with a filter zero point), the zero point is not a byte or a
/// channel's multiplier is outside [`gemm::rq16_blocks`]' range.
pub(super) fn dw_q8_prep(
    w: &[i32],
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
    oc: usize,
    in_off: i32,
) -> Option<DwQ8> {
    if oc == 0 || bias.len() < oc || !w.len().is_multiple_of(oc) {
        return None;
    }
    let w8: Vec<i8> = w
        .iter()
        .map(|&v| i8::try_from(v).ok())
        .collect::<Option<_>>()?;
    let zp = u8::try_from(-in_off)
        .ok()
        .or_else(|| i8::try_from(-in_off).ok().map(|v| v as u8))?;
    let mut folded = bias[..oc].to_vec();
    for tap in w.chunks_exact(oc) {
        for (b, &v) in folded.iter_mut().zip(tap) {
            *b = b.wrapping_add(in_off.wrapping_mul(v));
        }
    }
    let rq = gemm::rq16_blocks(&folded, mult, shift, oc)?;
    Some(DwQ8 {
        w8,
        bias: folded,
        rq,
        pad: vec![zp; oc + 64],
    })
}

/// One output row `r` (= batch * oh + oy) of a depth-multiplier-1 8-bit depthwise convolution.
/// `q.rq` must be [`DwQ8::rq`]; `ptrs` is scratch.
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn dw_row_q8_fast<T: QInt>(
    x: &[T],
    g: &ConvGeom,
    p: &DwQ8,
    q: &Requant,
    r: usize,
    orow: &mut [T],
    ptrs: &mut Vec<*const u8>,
) {
    use crate::engine::kernels::tiles::mask16;
    use std::arch::x86_64::*;
    let oc = g.ic;
    let taps = g.kh * g.kw;
    let (b, oy) = (r / g.oh, r % g.oh);
    assert!(std::mem::size_of::<T>() == 1 && b < g.n);
    assert!(orow.len() >= g.ow * oc && p.w8.len() >= taps * oc && p.pad.len() >= oc);
    assert!(x.len() >= g.n * g.ih * g.iw * g.ic);
    let rq = q.rq.unwrap_or(&[]);
    assert!(rq.len() * 16 >= oc);
    let signed = T::MIN < 0;
    let xp = x.as_ptr() as *const u8;
    let dst = orow.as_mut_ptr() as *mut u8;
    let wp = p.w8.as_ptr();
    ptrs.clear();
    ptrs.resize(taps, p.pad.as_ptr());
    let full = oc / 16 * 16;
    // SAFETY: AVX-512F/BW/VL/DQ are enabled (this function's contract). Each tap pointer is
    // either the start of an input pixel inside the image (`in_row`/`in_col` checked, `x` holds
    // the whole image, asserted) or `p.pad` (`oc` bytes or more, asserted); the loads read
    // channels `c..c + 16 <= oc` (`full`) or are masked to `oc` in the tail. The weight loads read
    // `wp[t * oc + c..][..16]` inside `p.w8` (`taps * oc`, asserted) by the same rule, and the
    // stores write pixel `ox`'s `oc` bytes of `orow` (`g.ow * oc`, asserted); `rq` has a block
    // for every 16 channels (asserted).
    unsafe {
        let off = _mm512_set1_epi32(q.out_off);
        let (lo, hi) = (_mm512_set1_epi32(q.lo), _mm512_set1_epi32(q.hi));
        let (lo8, hi8) = (
            _mm_set1_epi8(q.lo.clamp(-128, 127) as i8),
            _mm_set1_epi8(q.hi.clamp(-128, 127) as i8),
        );
        // The output stage of channels `c..c + 16` as 16 bytes.
        let out16 = |acc: __m512i, c: usize| {
            let v = gemm::requant16_rq(acc, &rq[c / 16], off);
            if signed {
                gemm::clamp_i8(v, lo8, hi8)
            } else {
                _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi))
            }
        };
        let widen = |v: __m128i| {
            if signed {
                _mm512_cvtepi8_epi32(v)
            } else {
                _mm512_cvtepu8_epi32(v)
            }
        };
        for ox in 0..g.ow {
            for ky in 0..g.kh {
                let iy = g.in_row(oy, ky);
                for kx in 0..g.kw {
                    ptrs[ky * g.kw + kx] = match (iy, g.in_col(ox, kx)) {
                        (Some(iy), Some(ix)) => xp.add(((b * g.ih + iy) * g.iw + ix) * g.ic),
                        _ => p.pad.as_ptr(),
                    };
                }
            }
            let od = dst.add(ox * oc);
            let mut c = 0;
            // 32 channels per pass: each tap pointer and weight row address serves two vectors.
            while c + 32 <= full {
                let (mut a0, mut a1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
                for (t, &xt) in ptrs.iter().enumerate() {
                    let (xs, ws) = (xt.add(c), wp.add(t * oc + c));
                    let x0 = widen(_mm_loadu_si128(xs as *const _));
                    let x1 = widen(_mm_loadu_si128(xs.add(16) as *const _));
                    let w0 = _mm512_cvtepi8_epi32(_mm_loadu_si128(ws as *const _));
                    let w1 = _mm512_cvtepi8_epi32(_mm_loadu_si128(ws.add(16) as *const _));
                    a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(x0, w0));
                    a1 = _mm512_add_epi32(a1, _mm512_mullo_epi32(x1, w1));
                }
                _mm_storeu_si128(od.add(c) as *mut _, out16(a0, c));
                _mm_storeu_si128(od.add(c + 16) as *mut _, out16(a1, c + 16));
                c += 32;
            }
            while c < full {
                let mut acc = _mm512_setzero_si512();
                for (t, &xt) in ptrs.iter().enumerate() {
                    let xv = widen(_mm_loadu_si128(xt.add(c) as *const _));
                    let wv = _mm512_cvtepi8_epi32(_mm_loadu_si128(wp.add(t * oc + c) as *const _));
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, wv));
                }
                _mm_storeu_si128(od.add(c) as *mut _, out16(acc, c));
                c += 16;
            }
            if c < oc {
                let m: __mmask16 = mask16(oc - c);
                let mut acc = _mm512_setzero_si512();
                for (t, &xt) in ptrs.iter().enumerate() {
                    let xv = widen(_mm_maskz_loadu_epi8(m, xt.add(c) as *const _));
                    let wv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(
                        m,
                        wp.add(t * oc + c) as *const _,
                    ));
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, wv));
                }
                _mm_mask_storeu_epi8(od.add(c) as *mut _, m, out16(acc, c));
            }
        }
    }
}
