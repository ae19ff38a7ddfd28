//! The int8 output stage (`MultiplyByQuantizedMultiplier`, zero point, clamp) in the
//! single-rounding form the vector kernels use: per-channel constants prepared once
//! ([`Rq16`]), 16 lanes per step, bit-exact with the scalar reference.

/// The output stage of 16 channels prepared once for [`requant16_rq`]. TFLite's two roundings
/// (`SaturatingRoundingDoublingHighMul`, then `RoundingDivideByPOT` by `r`) collapse into one
/// exact 64-bit shift: with `P = x * m` and `A = P + 2^30`, the reference result is
/// `floor((A + 2^31 * n) / 2^(31 + r))` where `n = 2^(r-1)` if `A >= 0`, `2^(r-1) - 1` if
/// `A < 0` (`n = 0` when `r = 0`), by `floor((floor(a / b) + n) / c) = floor((a + n b) / (b c))`.
/// `m`, `c`, `d`, `s` hold even channels in `[0]` and odd ones in `[1]` (one per 64-bit lane):
/// `c = 2^30 + 2^31 * 2^(r-1)`, `d = 2^31` (taken off when `A < 0`; 0 when `r = 0`), `s = 31 + r`.
#[repr(C, align(64))]
#[derive(Clone, Copy, Default)]
pub(crate) struct Rq16 {
    pub bias: [i32; 16],
    pub left: [i32; 16],
    pub m: [[i64; 8]; 2],
    pub c: [[i64; 8]; 2],
    pub d: [[i64; 8]; 2],
    pub s: [[i64; 8]; 2],
}

/// [`Rq16`] blocks for `n` channels; `None` when a channel is outside the form's range (a
/// multiplier of `i32::MIN`, whose saturating case it does not model, or a shift outside
/// `-31..=30`): those keep the two-rounding path.
pub(crate) fn rq16_blocks(
    bias: &[i32],
    mult: &[i32],
    shift: &[i32],
    n: usize,
) -> Option<Vec<Rq16>> {
    if bias.len() < n || mult.len() < n || shift.len() < n {
        return None;
    }
    let mut v = vec![Rq16::default(); n.div_ceil(16)];
    for ch in 0..n {
        let (m, sh) = (mult[ch], shift[ch]);
        if m == i32::MIN || !(-31..=30).contains(&sh) {
            return None;
        }
        let r = (-sh).max(0);
        let b = &mut v[ch / 16];
        let (i, h, j) = (ch % 16, ch % 2, (ch % 16) / 2);
        b.bias[i] = bias[ch];
        b.left[i] = sh.max(0);
        b.m[h][j] = m as i64;
        b.c[h][j] = (1 << 30) + if r > 0 { 1i64 << (30 + r) } else { 0 };
        b.d[h][j] = if r > 0 { 1 << 31 } else { 0 };
        b.s[h][j] = 31 + r as i64;
    }
    Some(v)
}

/// 8 lanes (the even or odd channels) of the single-rounding output stage, in 64-bit lanes.
///
/// # Safety
/// The CPU must support AVX-512F/DQ: call it only from functions that enable them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rq_half(x: std::arch::x86_64::__m512i, k: &Rq16, h: usize) -> std::arch::x86_64::__m512i {
    // SAFETY: the caller enables AVX-512F/DQ (this function's contract); the loads read the
    // 64-byte arrays of `k` (aligned: `Rq16` is `align(64)` and each array is 64 bytes).
    unsafe {
        use std::arch::x86_64::*;
        let ld = |a: &[i64; 8]| _mm512_load_si512(a.as_ptr() as *const _);
        let p = _mm512_mul_epi32(x, ld(&k.m[h]));
        let neg = _mm512_cmplt_epi64_mask(p, _mm512_set1_epi64(-(1 << 30)));
        let t = _mm512_add_epi64(p, ld(&k.c[h]));
        let t = _mm512_mask_sub_epi64(t, neg, t, ld(&k.d[h]));
        _mm512_srav_epi64(t, ld(&k.s[h]))
    }
}

/// 16 lanes of `MultiplyByQuantizedMultiplier(acc + bias, m, s) + off` (not clamped) from a
/// prepared [`Rq16`]: bit-exact with `gemm::requant16` and the scalar reference.
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ: call it only from functions that enable them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn requant16_rq(
    acc: std::arch::x86_64::__m512i,
    k: &Rq16,
    off: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    // SAFETY: the caller enables the features (this function's contract); `k`'s arrays are
    // 64 bytes, aligned.
    unsafe {
        use std::arch::x86_64::*;
        let ld = |a: &[i32; 16]| _mm512_load_si512(a.as_ptr() as *const _);
        let x = _mm512_sllv_epi32(_mm512_add_epi32(acc, ld(&k.bias)), ld(&k.left));
        let e = rq_half(x, k, 0);
        let o = rq_half(_mm512_srli_epi64(x, 32), k, 1);
        // Odd channels' results (low halves of `o`'s 64-bit lanes) into the odd 32-bit lanes.
        let r = _mm512_mask_shuffle_epi32::<_MM_PERM_CDAB>(e, 0xAAAA, o);
        _mm512_add_epi32(r, off)
    }
}

/// `clamp(v, lo, hi)` as int8 for `lo`, `hi` in the int8 range: a saturating narrow, then the
/// clamp on 16 bytes.
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL: call it only from functions that enable them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn clamp_i8(
    v: std::arch::x86_64::__m512i,
    lo: std::arch::x86_64::__m128i,
    hi: std::arch::x86_64::__m128i,
) -> std::arch::x86_64::__m128i {
    // SAFETY: the caller enables the features (this function's contract).
    unsafe {
        use std::arch::x86_64::*;
        _mm_min_epi8(_mm_max_epi8(_mm512_cvtsepi32_epi8(v), lo), hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::arith;

    /// The single-rounding form against the scalar reference over every shift TFLite makes,
    /// left shifts, negative and zero multipliers and accumulators at the i32 edges.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn requant16_rq_matches_mbqm() {
        if !crate::engine::simd::avx512() {
            eprintln!("requant16_rq_matches_mbqm: this CPU has no AVX-512, the AVX-512 output stage is not checked");
            return;
        }
        /// # Safety
        /// The CPU must support AVX-512F/BW/VL/DQ (checked above).
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
        unsafe fn run(acc: &[i32; 16], k: &Rq16, off: i32) -> [i32; 16] {
            use std::arch::x86_64::*;
            let mut out = [0i32; 16];
            // SAFETY: the features are enabled; `acc` and `out` are 16 i32s.
            unsafe {
                let v = requant16_rq(
                    _mm512_loadu_si512(acc.as_ptr() as *const _),
                    k,
                    _mm512_set1_epi32(off),
                );
                _mm512_storeu_si512(out.as_mut_ptr() as *mut _, v);
            }
            out
        }
        let mut params: Vec<(i32, i32)> = Vec::new();
        for sh in -31..=30 {
            for &m in &[
                1 << 30,
                (1 << 30) + 12345,
                i32::MAX,
                1_518_500_250,
                0,
                -(1 << 30) - 7,
            ] {
                params.push((m, sh));
            }
        }
        let accs: Vec<i32> = (-2000..2000)
            .map(|i: i32| i.wrapping_mul(1_000_003).wrapping_add(i * 7))
            .chain([
                i32::MAX,
                i32::MIN,
                i32::MIN + 1,
                0,
                -1,
                1,
                1 << 30,
                -(1 << 30),
            ])
            .chain((-300..300).map(|i| i * 64 + 32))
            .collect();
        let mut checked = 0usize;
        for chunk in params.chunks(16) {
            let n = chunk.len();
            let mult: Vec<i32> = chunk.iter().map(|p| p.0).collect();
            let shift: Vec<i32> = chunk.iter().map(|p| p.1).collect();
            let bias: Vec<i32> = (0..n as i32).map(|i| i * 37 - 200).collect();
            let k = rq16_blocks(&bias, &mult, &shift, n).unwrap()[0];
            for a in accs.chunks(16) {
                for rot in 0..16 {
                    let acc: [i32; 16] = std::array::from_fn(|i| a[(i + rot) % a.len()]);
                    // SAFETY: AVX-512 is present (checked above).
                    let got = unsafe { run(&acc, &k, -5) };
                    for c in 0..n {
                        let want = arith::mbqm(acc[c].wrapping_add(bias[c]), mult[c], shift[c])
                            .wrapping_add(-5);
                        assert_eq!(
                            got[c], want,
                            "acc {} m {} shift {}",
                            acc[c], mult[c], shift[c]
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1_000_000, "{checked}");
        assert!(rq16_blocks(&[0], &[i32::MIN], &[0], 1).is_none());
    }
}
