//! Fast paths of the 8-bit convolution / fully-connected GEMM and the per-channel requantization.
//!
//! With AVX-512 VNNI the int8 GEMM runs `vpdpbusd` (u8 x i8 -> i32, 4 products per lane): the
//! activations are shifted to u8 (`x + 128`) and the shift is taken back out exactly with the
//! per-channel weight sums, `sum (x - zp) w = sum (x + 128) w - (128 + zp) sum w`, so the i32
//! accumulators equal the reference kernel's. Other CPUs use the portable i16 GEMM in `conv.rs`
//! compiled for AVX2 when available. Requantization is a branch-free loop that vectorizes.

#[cfg(target_arch = "x86_64")]
pub(crate) use super::rq16::{clamp_i8, requant16_rq};
pub(crate) use super::rq16::{rq16_blocks, Rq16};
use super::QInt;
use rayon::prelude::*;

/// Per-channel output stage: `clamp(MultiplyByQuantizedMultiplier(acc + bias) + out_off)`.
pub(crate) struct Requant<'a> {
    pub bias: &'a [i32],
    pub mult: &'a [i32],
    pub shift: &'a [i32],
    pub out_off: i32,
    pub lo: i32,
    pub hi: i32,
    /// The same bias, multipliers and shifts prepared as [`Rq16`] blocks (from the first
    /// channel on), when the vector kernels may use the single-rounding form.
    pub rq: Option<&'a [Rq16]>,
}

#[inline(always)]
fn requant_row_generic<T: QInt>(acc: &[i32], q: &Requant, out: &mut [T]) {
    let n = out.len();
    let (acc, bias, mult, shift) = (&acc[..n], &q.bias[..n], &q.mult[..n], &q.shift[..n]);
    for o in 0..n {
        let x = acc[o].wrapping_add(bias[o]);
        let s = shift[o];
        let left = if s > 0 { s } else { 0 };
        let right = if s > 0 { 0 } else { -s };
        let x = x.wrapping_shl(left as u32);
        // SaturatingRoundingDoublingHighMul (the i32::MIN * i32::MIN case cannot occur for a
        // positive multiplier).
        let ab = x as i64 * mult[o] as i64;
        let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        let t = ab + nudge;
        // C++ division truncates toward zero.
        let hi = ((t + ((t >> 63) & ((1i64 << 31) - 1))) >> 31) as i32;
        let hi = if x == i32::MIN && mult[o] == i32::MIN {
            i32::MAX
        } else {
            hi
        };
        // RoundingDivideByPOT
        let mask = ((1i64 << right) - 1) as i32;
        let rem = hi & mask;
        let thr = (mask >> 1) + (hi < 0) as i32;
        // Wrapping like TFLite's int32 arithmetic and the vector paths.
        let v = (hi >> right)
            .wrapping_add((rem > thr) as i32)
            .wrapping_add(q.out_off);
        out[o] = T::from_i32(v.max(q.lo).min(q.hi));
    }
}

/// # Safety
/// The CPU must support AVX2 (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn requant_row_avx2<T: QInt>(acc: &[i32], q: &Requant, out: &mut [T]) {
    requant_row_generic(acc, q, out)
}

/// Vector constants of the output stage.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct OutStage {
    pub off: std::arch::x86_64::__m512i,
    pub lo: std::arch::x86_64::__m512i,
    pub hi: std::arch::x86_64::__m512i,
}

/// 16 lanes of `clamp(MultiplyByQuantizedMultiplier(a + b, m, s) + off)`, bit-exact with the
/// scalar [`requant_row_generic`].
///
/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ: call it only from functions that enable them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn requant16(
    a: std::arch::x86_64::__m512i,
    b: std::arch::x86_64::__m512i,
    m: std::arch::x86_64::__m512i,
    s: std::arch::x86_64::__m512i,
    o: OutStage,
) -> std::arch::x86_64::__m512i {
    // SAFETY: the caller enables AVX-512F/BW/VL/DQ (this function's contract); the intrinsics
    // only compute on registers.
    unsafe {
        use std::arch::x86_64::*;
        let zero = _mm512_setzero_si512();
        let one = _mm512_set1_epi32(1);
        let half = _mm512_set1_epi64(1 << 30);
        let left = _mm512_max_epi32(s, zero);
        let right = _mm512_max_epi32(_mm512_sub_epi32(zero, s), zero);
        let x = _mm512_sllv_epi32(_mm512_add_epi32(a, b), left);
        // SaturatingRoundingDoublingHighMul = (x * m + 2^30) >> 31 (arithmetic), per lane.
        let even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), half), 31);
        let odd = _mm512_srai_epi64(
            _mm512_add_epi64(
                _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32)),
                half,
            ),
            31,
        );
        let h = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
        // RoundingDivideByPOT with per-lane exponents.
        let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
        let rem = _mm512_and_si512(h, mask);
        let neg = _mm512_cmplt_epi32_mask(h, zero);
        let thr = _mm512_mask_add_epi32(
            _mm512_srai_epi32(mask, 1),
            neg,
            _mm512_srai_epi32(mask, 1),
            one,
        );
        let up = _mm512_cmpgt_epi32_mask(rem, thr);
        let r = _mm512_mask_add_epi32(
            _mm512_srav_epi32(h, right),
            up,
            _mm512_srav_epi32(h, right),
            one,
        );
        _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, o.off), o.lo), o.hi)
    }
}

/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn requant_row_avx512<T: QInt>(acc: &[i32], q: &Requant, out: &mut [T]) {
    // SAFETY: AVX-512F/BW/VL/DQ are enabled (this function's contract); `i + 16 <= n` on every
    // load and store, and `acc`, `q.bias`, `q.mult`, `q.shift` hold at least `n` values (asserted).
    unsafe {
        use std::arch::x86_64::*;
        let n = out.len();
        if std::mem::size_of::<T>() != 1 || n < 16 {
            return requant_row_generic(acc, q, out);
        }
        assert!(acc.len() >= n && q.bias.len() >= n && q.mult.len() >= n && q.shift.len() >= n);
        let o = OutStage {
            off: _mm512_set1_epi32(q.out_off),
            lo: _mm512_set1_epi32(q.lo),
            hi: _mm512_set1_epi32(q.hi),
        };
        let dst = out.as_mut_ptr() as *mut u8;
        let mut i = 0;
        loop {
            if i + 16 > n {
                // Last partial vector: redo the tail overlapping the previous one.
                if i == n {
                    break;
                }
                i = n - 16;
            }
            let ld = |p: *const i32| _mm512_loadu_si512(p.add(i) as *const _);
            let v = requant16(
                ld(acc.as_ptr()),
                ld(q.bias.as_ptr()),
                ld(q.mult.as_ptr()),
                ld(q.shift.as_ptr()),
                o,
            );
            _mm_storeu_si128(dst.add(i) as *mut __m128i, _mm512_cvtepi32_epi8(v));
            i += 16;
        }
    }
}

/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn requant_rows_avx512<T: QInt>(acc: &[i32], n: usize, q: &Requant, out: &mut [T]) {
    // SAFETY: the features `requant_row_avx512` needs are enabled here (this function's
    // contract).
    unsafe {
        for (a, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            requant_row_avx512(a, q, o);
        }
    }
}

/// # Safety
/// The CPU must support AVX2 (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn requant_rows_avx2<T: QInt>(acc: &[i32], n: usize, q: &Requant, out: &mut [T]) {
    for (a, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        requant_row_generic(a, q, o);
    }
}

/// Requantizes consecutive rows of `n` accumulators (one per output channel) at once.
pub(crate) fn requant_rows<T: QInt>(acc: &[i32], n: usize, q: &Requant, out: &mut [T]) {
    if n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the CPU has the AVX-512 subsets the function enables.
            return unsafe { requant_rows_avx512(acc, n, q, out) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { requant_rows_avx2(acc, n, q, out) };
        }
    }
    for (a, o) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        requant_row_generic(a, q, o);
    }
}

/// Requantizes one row of accumulators (one per output channel).
#[inline]
pub(crate) fn requant_row<T: QInt>(acc: &[i32], q: &Requant, out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the CPU has the AVX-512 subsets the function enables.
            return unsafe { requant_row_avx512(acc, q, out) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { requant_row_avx2(acc, q, out) };
        }
    }
    requant_row_generic(acc, q, out)
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    crate::engine::simd::avx512()
}

/// Whether the VNNI int8 GEMM is available.
pub(crate) fn has_vnni() -> bool {
    crate::engine::simd::vnni()
}

/// Weights packed for the VNNI kernel: blocks of 16 output channels, for every group of 4
/// k-values 16 lanes x 4 bytes. `sums[o]` is the sum of channel `o`'s weights.
pub(crate) struct PackedW {
    pub data: Vec<i8>,
    pub kp: usize,
    pub oc: usize,
    pub blocks: usize,
    pub sums: Vec<i32>,
}

pub(crate) fn pack_weights(w: &[i8], oc: usize, k: usize) -> PackedW {
    let kp = k.div_ceil(4) * 4;
    let blocks = oc.div_ceil(16);
    let mut data = vec![0i8; blocks * kp * 16];
    let mut sums = vec![0i32; oc];
    for o in 0..oc {
        let (b, lane) = (o / 16, o % 16);
        let row = &w[o * k..(o + 1) * k];
        sums[o] = row.iter().map(|&v| v as i32).sum();
        let base = b * kp * 16;
        for (kk, &v) in row.iter().enumerate() {
            data[base + (kk / 4) * 64 + lane * 4 + (kk % 4)] = v;
        }
    }
    PackedW {
        data,
        kp,
        oc,
        blocks,
        sums,
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    /// The raw products `sum u * w` of `R` rows of `a` (u8, row stride `lda`) with `NB` 16-channel
    /// blocks (`w[j]`, each `kq` groups of 64 bytes): `acc[i][j]` holds row `i`'s 16 channels of
    /// block `j`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW/VNNI (the caller's target features). `a` must be readable
    /// for 4 bytes at `i * lda + p * 4` and each `w[j]` for 64 bytes at `p * 64`, for `i < R`,
    /// `p < kq`.
    #[inline(always)]
    pub(super) unsafe fn dot<const R: usize, const NB: usize>(
        a: *const u8,
        lda: usize,
        kq: usize,
        w: [*const i8; NB],
    ) -> [[__m512i; NB]; R] {
        // SAFETY: this function's contract (see `# Safety`): pointers valid for every row, block
        // and k group the loops touch, the features enabled.
        unsafe {
            let mut acc = [[_mm512_setzero_si512(); NB]; R];
            for p in 0..kq {
                let mut bv = [_mm512_setzero_si512(); NB];
                for (j, v) in bv.iter_mut().enumerate() {
                    *v = _mm512_loadu_si512(w[j].add(p * 64) as *const _);
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av =
                        _mm512_set1_epi32((a.add(i * lda + p * 4) as *const i32).read_unaligned());
                    for j in 0..NB {
                        row[j] = _mm512_dpbusd_epi32(row[j], av, bv[j]);
                    }
                }
            }
            acc
        }
    }

    /// `MR` rows of `a` (u8, row stride `lda`) times `NB` 16-channel blocks (`w[j]`, each
    /// `kq` groups of 64 bytes) into `c` (row stride `ldc`, `NB * 16` columns; `cols` valid).
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW/VNNI. `a` must be readable for 4 bytes at `r * lda + q * 4`
    /// for `r < MR`, `q < kq`; each `w[j]` for `kq * 64` bytes; `c` writable for
    /// `min(cols, NB * 16)` i32s at `r * ldc` for `r < MR`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn kernel<const MR: usize, const NB: usize>(
        a: *const u8,
        lda: usize,
        w: [*const i8; NB],
        kq: usize,
        c: *mut i32,
        ldc: usize,
        cols: usize,
    ) {
        // SAFETY: this function's contract (see `# Safety`): pointers valid for every row, block
        // and k group the loops touch, AVX-512F/BW/VNNI enabled; the stores write
        // `min(cols, NB * 16)` values per row, through a whole-tile buffer when fewer are valid.
        unsafe {
            let acc = dot::<MR, NB>(a, lda, kq, w);
            for (r, row) in acc.iter().enumerate() {
                let dst = c.add(r * ldc);
                if cols >= NB * 16 {
                    for (j, v) in row.iter().enumerate() {
                        _mm512_storeu_si512(dst.add(j * 16) as *mut _, *v);
                    }
                } else {
                    let mut tmp = [[0i32; 16]; NB];
                    for (t, v) in tmp.iter_mut().zip(row) {
                        _mm512_storeu_si512(t.as_mut_ptr() as *mut _, *v);
                    }
                    std::ptr::copy_nonoverlapping(tmp.as_ptr() as *const i32, dst, cols);
                }
            }
        }
    }
}

/// The VNNI GEMM with the output stage fused: each `R x 32` register tile of accumulators is
/// requantized and stored as int8 straight away, so no i32 matrix goes through memory.
#[cfg(target_arch = "x86_64")]
mod vnni_fused {
    use super::{clamp_i8, requant16, requant16_rq, OutStage, PackedW, Requant, Rq16};
    use crate::engine::kernels::tiles::{by_height, for_tiles, mask16};
    use std::arch::x86_64::*;

    /// `R` rows of `a` (row stride `lda`) times `NB` 16-channel blocks starting at `w` (the
    /// next block `wstride` bytes later); `q` points at the blocks' first channel, `mask`
    /// selects the valid channels of the last block.
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW/VL/DQ/VNNI (the caller's target features). `a` must be
    /// readable for 4 bytes at `i * lda + p * 4`, `w` for 64 bytes at `j * wstride + p * 64`, and
    /// `out` writable for 16 bytes at `i * ldo + j * 16` (the last block only in the lanes `mask`
    /// selects), for `i < R`, `j < NB`, `p < kq`; with `FAST`, `rq[j]` valid for `j < NB`.
    ///
    /// `FAST`: requantize with the prepared blocks `rq` (one per 16-channel block, valid
    /// pointers) instead of `q`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const NB: usize, const FAST: bool>(
        a: *const u8,
        lda: usize,
        kq: usize,
        w: *const i8,
        wstride: usize,
        q: [(__m512i, __m512i, __m512i); NB],
        rq: [*const Rq16; NB],
        o: OutStage,
        out: *mut i8,
        ldo: usize,
        mask: __mmask16,
    ) {
        // SAFETY: this function's contract (see `# Safety`): pointers valid for every row, block and k
        // group the loops touch, the last block's stores masked; the features are enabled.
        unsafe {
            let w: [*const i8; NB] = std::array::from_fn(|j| w.add(j * wstride));
            let acc = super::vnni::dot::<R, NB>(a, lda, kq, w);
            let (lo8, hi8) = (
                _mm_set1_epi8(
                    _mm_cvtsi128_si32(_mm512_castsi512_si128(o.lo)).clamp(-128, 127) as i8,
                ),
                _mm_set1_epi8(
                    _mm_cvtsi128_si32(_mm512_castsi512_si128(o.hi)).clamp(-128, 127) as i8,
                ),
            );
            for (i, row) in acc.iter().enumerate() {
                for j in 0..NB {
                    let v = if FAST {
                        clamp_i8(requant16_rq(row[j], &*rq[j], o.off), lo8, hi8)
                    } else {
                        let (b, m, s) = q[j];
                        _mm512_cvtepi32_epi8(requant16(row[j], b, m, s, o))
                    };
                    let k = if j + 1 == NB { mask } else { 0xffff };
                    _mm_mask_storeu_epi8(out.add(i * ldo + j * 16) as *mut _, k, v);
                }
            }
        }
    }

    /// The rows of `a` (`w.kp` bytes each) times `w`, requantized into `out` (row stride `ldo`):
    /// as many rows as `out` holds outputs for (`(rows - 1) * ldo + w.oc` values, `ldo >= w.oc`).
    ///
    /// # Safety
    /// The CPU must support AVX-512F/BW/VL/DQ/VNNI, and the sizes must be those
    /// [`vnni_gemm_into`] asserts: `a` at least `rows * w.kp`, `q`'s vectors at least `w.oc`,
    /// `w.data` `w.blocks` blocks of `w.kp * 16` bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
    pub unsafe fn gemm(a: &[u8], w: &PackedW, q: &Requant, out: &mut [i8], ldo: usize) {
        // SAFETY: the features are enabled and the sizes are those `vnni_gemm_into` asserts (this
        // function's contract): row tiles stop at `rows`, block pairs at `w.blocks`, the last block's
        // requantization loads and stores are masked to `w.oc`.
        unsafe {
            let (kp, oc) = (w.kp, w.oc);
            let rows = (out.len() + ldo - oc) / ldo;
            let kq = kp / 4;
            let o = OutStage {
                off: _mm512_set1_epi32(q.out_off),
                lo: _mm512_set1_epi32(q.lo),
                hi: _mm512_set1_epi32(q.hi),
            };
            // Blocks per column pass: their weights (kp x 16 bytes each) stay in L2.
            let per = ((256 * 1024) / (kp.max(4) * 16)).max(2) / 2 * 2;
            let wstride = kp * 16;
            let (ap, wp, op) = (a.as_ptr(), w.data.as_ptr(), out.as_mut_ptr());
            let ld = |v: &[i32], j: usize, m: __mmask16| {
                _mm512_maskz_loadu_epi32(m, v.as_ptr().add(j * 16))
            };
            let rq = q.rq.filter(|b| b.len() >= w.blocks);
            for_tiles(rows, w.blocks, per, |r, rt, j, nb| {
                let zero = _mm512_setzero_si512();
                let mut qv = [(zero, zero, zero); 2];
                let mut rv = [std::ptr::null::<Rq16>(); 2];
                let mut mask: __mmask16 = 0xffff;
                for (t, v) in qv.iter_mut().enumerate().take(nb) {
                    mask = mask16(oc - (j + t) * 16);
                    if let Some(b) = rq {
                        rv[t] = &b[j + t];
                    } else {
                        *v = (
                            ld(q.bias, j + t, mask),
                            ld(q.mult, j + t, mask),
                            ld(q.shift, j + t, mask),
                        );
                    }
                }
                let a0 = ap.add(r * kp);
                let w0 = wp.add(j * wstride);
                let o0 = op.add(r * ldo + j * 16);
                macro_rules! go2 {
                    ($r:literal, $fast:literal) => {
                        if nb == 2 {
                            tile::<$r, 2, $fast>(a0, kp, kq, w0, wstride, qv, rv, o, o0, ldo, mask)
                        } else {
                            let (qv, rv) = ([qv[0]], [rv[0]]);
                            tile::<$r, 1, $fast>(a0, kp, kq, w0, wstride, qv, rv, o, o0, ldo, mask)
                        }
                    };
                }
                macro_rules! go {
                    ($r:literal) => {
                        if rq.is_some() {
                            go2!($r, true)
                        } else {
                            go2!($r, false)
                        }
                    };
                }
                by_height!(rt, go);
            });
        }
    }
}

/// int8 output of the VNNI GEMM with the output stage fused: `a` is `rows x w.kp` (u8, +128
/// shifted, the shift folded into `q.bias` by the caller); row `r` goes to
/// `out[r * ldo..][..w.oc]`. Splits the rows over rayon.
#[cfg(target_arch = "x86_64")]
pub(crate) fn vnni_gemm_into(
    a: &[u8],
    rows: usize,
    w: &PackedW,
    q: &Requant,
    out: &mut [i8],
    ldo: usize,
) {
    let oc = w.oc;
    if rows == 0 || oc == 0 {
        return;
    }
    assert!(has_vnni());
    assert!(a.len() >= rows * w.kp && out.len() >= (rows - 1) * ldo + oc);
    assert!(q.bias.len() >= oc && q.mult.len() >= oc && q.shift.len() >= oc);
    assert!(w.data.len() >= w.blocks * w.kp * 16 && w.blocks * 16 >= oc);
    let threads = rayon::current_num_threads();
    let work = rows * oc * w.kp;
    let chunk = if threads == 1 || work < 1 << 18 {
        rows
    } else {
        rows.div_ceil(2 * threads).div_ceil(12) * 12
    };
    // The last chunk may be shorter than `chunk * ldo` (the final row ends at `oc`).
    let tail = ldo - oc;
    let len = rows * ldo - tail;
    out[..len]
        .par_chunks_mut(chunk * ldo)
        .enumerate()
        .for_each(|(ci, o)| {
            // SAFETY: has_vnni() holds; `o` holds the outputs of the rows from `ci * chunk` on
            // (whole rows but the last, which ends at `oc`) and `a` those rows.
            unsafe { vnni_fused::gemm(&a[ci * chunk * w.kp..], w, q, o, ldo) };
        });
}

/// `rows x kp` u8 activations (already shifted by +128, padded k zero) times packed weights:
/// fills `c` (`rows x oc` i32, raw `sum u*w`).
#[cfg(target_arch = "x86_64")]
pub(crate) fn vnni_block(a: &[u8], rows: usize, w: &PackedW, c: &mut [i32]) {
    const MR: usize = 6;
    let (kp, oc) = (w.kp, w.oc);
    let kq = kp / 4;
    assert!(has_vnni());
    assert!(a.len() >= rows * kp && c.len() >= rows * oc);
    assert!(w.data.len() >= w.blocks * kp * 16 && w.blocks * 16 >= oc);
    let mut b = 0;
    while b < w.blocks {
        let two = b + 1 < w.blocks;
        let col0 = b * 16;
        let cols = (oc - col0).min(if two { 32 } else { 16 });
        let w0 = w.data[b * kp * 16..].as_ptr();
        let mut r = 0;
        // SAFETY: has_vnni() holds (asserted); rows r..r + MR (or r..r + 1) of
        // `a` lie inside it (`a.len() >= rows * kp`, asserted), the blocks b and b + 1 of
        // `w.data` hold `kp * 16` bytes each (asserted), and row `r`'s outputs `col0..col0 + cols` lie inside
        // `c` (`c.len() >= rows * oc`, asserted; `col0 + cols <= oc`).
        unsafe {
            // `R` rows from row `r` on, through the one- or two-block kernel.
            macro_rules! rows {
                ($R:expr) => {{
                    let ap = a.as_ptr().add(r * kp);
                    let cp = c.as_mut_ptr().add(r * oc + col0);
                    if two {
                        let w1 = w0.add(kp * 16);
                        vnni::kernel::<{ $R }, 2>(ap, kp, [w0, w1], kq, cp, oc, cols);
                    } else {
                        vnni::kernel::<{ $R }, 1>(ap, kp, [w0], kq, cp, oc, cols);
                    }
                    r += $R;
                }};
            }
            while r + MR <= rows {
                rows!(MR);
            }
            while r < rows {
                rows!(1);
            }
        }
        b += if two { 2 } else { 1 };
    }
}

/// The VNNI GEMM with the output stage: `a` is `rows x kp` (u8, +128 shifted); the shift is
/// folded into the bias by the caller.
#[cfg(target_arch = "x86_64")]
pub(crate) fn vnni_gemm<T: QInt>(a: &[u8], rows: usize, w: &PackedW, q: &Requant) -> Vec<T> {
    let oc = w.oc;
    let mut out = vec![T::default(); rows * oc];
    if rows == 0 || oc == 0 {
        return out;
    }
    let threads = rayon::current_num_threads();
    let work = rows * oc * w.kp;
    let chunk_rows = if threads == 1 || work < 1 << 18 {
        rows
    } else {
        (rows / (4 * threads)).max(6).div_ceil(6) * 6
    };
    if rows >= 2 * threads * 6 || threads == 1 || work < 1 << 18 {
        par_row_blocks(
            &mut out,
            oc,
            chunk_rows,
            |r0, nr, c| vnni_block(&a[r0 * w.kp..(r0 + nr) * w.kp], nr, w, c),
            |c, o| {
                for (cr, or) in c.chunks_exact(oc).zip(o.chunks_exact_mut(oc)) {
                    requant_row(cr, q, or);
                }
            },
        );
    } else {
        // Few rows: split the channel blocks.
        let nb = w.blocks;
        let per = nb.div_ceil(threads * 2).max(1).div_ceil(2) * 2;
        let parts: Vec<(usize, Vec<i32>)> = (0..nb.div_ceil(per))
            .into_par_iter()
            .map(|pi| {
                let b0 = pi * per;
                let b1 = (b0 + per).min(nb);
                let sub = PackedW {
                    data: w.data[b0 * w.kp * 16..b1 * w.kp * 16].to_vec(),
                    kp: w.kp,
                    oc: ((b1 * 16).min(oc)) - b0 * 16,
                    blocks: b1 - b0,
                    sums: Vec::new(),
                };
                let mut part = vec![0i32; rows * sub.oc];
                vnni_block(a, rows, &sub, &mut part);
                (b0 * 16, part)
            })
            .collect();
        requant_parts(parts, rows, oc, q, &mut out);
    }
    out
}

/// A GEMM's output rows (`oc` values each) in parallel pieces of `per` rows: for a piece whose
/// first row is `r0`, `acc(r0, nr, c)` fills `c` with the accumulators of its `nr` rows
/// (`nr x oc`), then `finish(c, piece)` writes its outputs from them.
pub(crate) fn par_row_blocks<T: Send>(
    out: &mut [T],
    oc: usize,
    per: usize,
    acc: impl Fn(usize, usize, &mut [i32]) + Sync,
    finish: impl Fn(&mut [i32], &mut [T]) + Sync,
) {
    out.par_chunks_mut(per * oc).enumerate().for_each(|(t, o)| {
        let nr = o.len() / oc;
        let mut c = vec![0i32; nr * oc];
        acc(t * per, nr, &mut c);
        finish(&mut c, o);
    });
}

/// The output stage of a GEMM split by output channels: `parts` holds, for each piece of
/// channels, its first channel and its `rows x n` accumulators; they are put together into
/// rows of `oc` channels and requantized into `out` (`rows x oc`).
pub(crate) fn requant_parts<T: QInt>(
    parts: Vec<(usize, Vec<i32>)>,
    rows: usize,
    oc: usize,
    q: &Requant,
    out: &mut [T],
) {
    let mut c = vec![0i32; rows * oc];
    for (o0, part) in parts {
        let n = part.len() / rows;
        for r in 0..rows {
            c[r * oc + o0..r * oc + o0 + n].copy_from_slice(&part[r * n..(r + 1) * n]);
        }
    }
    for r in 0..rows {
        requant_row(&c[r * oc..(r + 1) * oc], q, &mut out[r * oc..(r + 1) * oc]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::arith;

    #[test]
    fn requant_row_matches_mbqm() {
        let accs: Vec<i32> = (-500..500)
            .map(|i| i * 7919 - 3)
            .chain([i32::MAX, i32::MIN, 0])
            .collect();
        for &real in &[0.3f64, 0.0007, 1.7, 0.5, 1e-9] {
            let (m, s) = arith::quantize_multiplier(real);
            let n = accs.len();
            let bias = vec![5; n];
            let mult = vec![m; n];
            let shift = vec![s; n];
            let q = Requant {
                bias: &bias,
                mult: &mult,
                shift: &shift,
                out_off: -3,
                lo: -128,
                hi: 127,
                rq: None,
            };
            let mut out = vec![0i8; n];
            requant_row(&accs, &q, &mut out);
            for (i, &a) in accs.iter().enumerate() {
                let want = (arith::mbqm(a.wrapping_add(5), m, s) - 3).clamp(-128, 127) as i8;
                assert_eq!(out[i], want, "acc {a} real {real}");
            }
        }
    }

    #[test]
    fn vnni_matches_naive() {
        if !has_vnni() {
            return;
        }
        for &(rows, k, oc) in &[
            (13usize, 27usize, 40usize),
            (1, 512, 100),
            (50, 8, 16),
            (7, 3, 5),
        ] {
            let a: Vec<u8> = (0..rows * k).map(|i| ((i * 7919) % 256) as u8).collect();
            let w: Vec<i8> = (0..oc * k)
                .map(|i| ((i * 104729) % 256) as u8 as i8)
                .collect();
            let pw = pack_weights(&w, oc, k);
            let mut ap = vec![0u8; rows * pw.kp];
            for r in 0..rows {
                ap[r * pw.kp..r * pw.kp + k].copy_from_slice(&a[r * k..(r + 1) * k]);
            }
            let mut c = vec![0i32; rows * oc];
            vnni_block(&ap, rows, &pw, &mut c);
            for r in 0..rows {
                for o in 0..oc {
                    let s: i32 = (0..k)
                        .map(|j| a[r * k + j] as i32 * w[o * k + j] as i32)
                        .sum();
                    assert_eq!(c[r * oc + o], s, "{rows}x{k}x{oc} at {r},{o}");
                }
            }
        }
    }
}
