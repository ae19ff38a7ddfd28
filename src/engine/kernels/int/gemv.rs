//! int8 x int8 -> int32 products of one activation row with row-major weights (`[oc][k]`, the
//! layout the model stores), for the few-row (batch-1) hybrid FULLY_CONNECTED: the weights are
//! streamed once, in place, with no packed copy, so a big layer runs at memory bandwidth.
//!
//! With AVX-512 VNNI the activations are shifted to u8 (`x + 128`) for `vpdpbusd` and the shift
//! is taken back out with the weight-row sums: `sum x w = sum (x + 128) w - 128 sum w`. AVX2
//! widens to i16 and uses `vpmaddwd`; other CPUs run a loop the compiler vectorizes. All paths
//! give the same integers (wrapping i32 arithmetic, like TFLite's accumulators).

use rayon::prelude::*;

/// Output rows per parallel task: big enough to amortize the task, small enough to share the
/// work between threads.
const ROWS_PER_TASK: usize = 64;

/// Sum of each weight row (`[oc][k]`), wrapping like an i32 accumulator.
pub(crate) fn row_sums(w: &[i8], k: usize) -> Vec<i32> {
    if k == 0 {
        return vec![0; w.len()];
    }
    w.chunks_exact(k)
        .map(|r| r.iter().fold(0i32, |s, &v| s.wrapping_add(v as i32)))
        .collect()
}

/// `out[o] = sum_j x[j] * w[o * k + j]` for every `o < out.len()`; `wsum` holds the row sums of
/// `w` (see [`row_sums`]). Splits the output rows over rayon.
pub(crate) fn gemv_i8(x: &[i8], w: &[i8], k: usize, wsum: &[i32], out: &mut [i32]) {
    let n = out.len();
    assert!(x.len() >= k && w.len() >= n * k && wsum.len() >= n);
    #[cfg(target_arch = "x86_64")]
    {
        if crate::engine::simd::vnni() {
            let kp = k.div_ceil(64) * 64;
            let mut xu = vec![0u8; kp];
            for (d, &v) in xu.iter_mut().zip(&x[..k]) {
                *d = (v as u8) ^ 0x80;
            }
            par_rows(w, k, out, |o0, ws, o| {
                // SAFETY: the CPU has AVX-512F/BW/VNNI; `xu` is `kp` bytes (a multiple of 64
                // covering k), `ws` holds `o.len()` rows of `k`, `wsum[o0..]` covers `o`.
                unsafe { vnni::rows(&xu, ws, k, &wsum[o0..], o) }
            });
            return;
        }
        if crate::engine::simd::avx2() {
            let kp = k.div_ceil(16) * 16;
            let mut x16 = vec![0i16; kp];
            for (d, &v) in x16.iter_mut().zip(&x[..k]) {
                *d = v as i16;
            }
            par_rows(w, k, out, |_, ws, o| {
                // SAFETY: the CPU has AVX2; `x16` is `kp >= k` values, `ws` holds `o.len()`
                // rows of `k`.
                unsafe { avx2::rows(&x16, ws, k, o) }
            });
            return;
        }
    }
    let _ = wsum;
    par_rows(w, k, out, |_, ws, o| {
        for (i, d) in o.iter_mut().enumerate() {
            *d = dot_portable(&x[..k], &ws[i * k..(i + 1) * k]);
        }
    });
}

/// `f(o0, ws, o)` on the pieces `o` of `ROWS_PER_TASK` outputs in parallel: `o0` is the piece's
/// first output row and `ws` its weight rows (`o.len()` rows of `k`).
#[inline(always)]
fn par_rows(w: &[i8], k: usize, out: &mut [i32], f: impl Fn(usize, &[i8], &mut [i32]) + Sync) {
    out.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(t, o)| {
            let o0 = t * ROWS_PER_TASK;
            f(o0, &w[o0 * k..(o0 + o.len()) * k], o)
        });
}

#[inline]
fn dot_portable(x: &[i8], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .fold(0i32, |s, (&a, &b)| s.wrapping_add(a as i32 * b as i32))
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512F/BW/VNNI; `xu.len()` must be a multiple of 64 and at least
    /// `k`, `w.len() >= out.len() * k`, `wsum.len() >= out.len()`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn rows(xu: &[u8], w: &[i8], k: usize, wsum: &[i32], out: &mut [i32]) {
        let n = out.len();
        assert!(xu.len() % 64 == 0 && xu.len() >= k && w.len() >= n * k && wsum.len() >= n);
        let full = k / 64;
        let rem = k % 64;
        let mask: __mmask64 = if rem == 0 { 0 } else { (1u64 << rem) - 1 };
        // SAFETY: AVX-512F/BW/VNNI are enabled (this function's contract). Every full load reads
        // 64 bytes at `c * 64 < full * 64 <= k` inside a weight row (`w.len() >= n * k`,
        // asserted) or inside `xu`; the tail loads of the weights are masked to the `rem` bytes
        // left in the row, and `xu` has the tail chunk (its length is a multiple of 64 >= k).
        unsafe {
            let xp = xu.as_ptr();
            let wp = w.as_ptr();
            let mut o = 0;
            while o + 4 <= n {
                let r = [
                    wp.add(o * k),
                    wp.add((o + 1) * k),
                    wp.add((o + 2) * k),
                    wp.add((o + 3) * k),
                ];
                let mut acc = [_mm512_setzero_si512(); 4];
                for c in 0..full {
                    let xv = _mm512_loadu_si512(xp.add(c * 64) as *const _);
                    for j in 0..4 {
                        let wv = _mm512_loadu_si512(r[j].add(c * 64) as *const _);
                        acc[j] = _mm512_dpbusd_epi32(acc[j], xv, wv);
                    }
                }
                if rem != 0 {
                    let xv = _mm512_loadu_si512(xp.add(full * 64) as *const _);
                    for j in 0..4 {
                        let wv = _mm512_maskz_loadu_epi8(mask, r[j].add(full * 64) as *const _);
                        acc[j] = _mm512_dpbusd_epi32(acc[j], xv, wv);
                    }
                }
                for j in 0..4 {
                    out[o + j] =
                        _mm512_reduce_add_epi32(acc[j]).wrapping_sub(wsum[o + j].wrapping_mul(128));
                }
                o += 4;
            }
            while o < n {
                let r = wp.add(o * k);
                let mut acc = _mm512_setzero_si512();
                for c in 0..full {
                    let xv = _mm512_loadu_si512(xp.add(c * 64) as *const _);
                    let wv = _mm512_loadu_si512(r.add(c * 64) as *const _);
                    acc = _mm512_dpbusd_epi32(acc, xv, wv);
                }
                if rem != 0 {
                    let xv = _mm512_loadu_si512(xp.add(full * 64) as *const _);
                    let wv = _mm512_maskz_loadu_epi8(mask, r.add(full * 64) as *const _);
                    acc = _mm512_dpbusd_epi32(acc, xv, wv);
                }
                out[o] = _mm512_reduce_add_epi32(acc).wrapping_sub(wsum[o].wrapping_mul(128));
                o += 1;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256i) -> i32 {
        // SAFETY: AVX2 is enabled by every caller (they are `target_feature(enable = "avx2")`).
        unsafe {
            let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
            _mm_cvtsi128_si32(s)
        }
    }

    /// # Safety
    /// The CPU must support AVX2; `x16.len() >= k`, `w.len() >= out.len() * k`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn rows(x16: &[i16], w: &[i8], k: usize, out: &mut [i32]) {
        let n = out.len();
        assert!(x16.len() >= k && w.len() >= n * k);
        let full = k / 16;
        // SAFETY: AVX2 is enabled (this function's contract); the vector loads read 16 i8 /
        // 16 i16 at `c * 16 + 16 <= full * 16 <= k`, inside each weight row and `x16`
        // (asserted); the tail is scalar.
        unsafe {
            let xp = x16.as_ptr();
            let wp = w.as_ptr();
            for (o, d) in out.iter_mut().enumerate() {
                let r = wp.add(o * k);
                let mut acc = _mm256_setzero_si256();
                for c in 0..full {
                    let xv = _mm256_loadu_si256(xp.add(c * 16) as *const _);
                    let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(r.add(c * 16) as *const _));
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, wv));
                }
                let mut s = hsum(acc);
                for j in full * 16..k {
                    s = s.wrapping_add(*xp.add(j) as i32 * *r.add(j) as i32);
                }
                *d = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemv_matches_naive() {
        let mut checked = 0;
        for &(k, oc) in &[
            (1usize, 1usize),
            (63, 5),
            (64, 4),
            (65, 9),
            (200, 67),
            (3, 130),
        ] {
            let x: Vec<i8> = (0..k).map(|i| ((i * 7919) % 256) as u8 as i8).collect();
            let w: Vec<i8> = (0..oc * k)
                .map(|i| ((i * 104729 + 3) % 256) as u8 as i8)
                .collect();
            let ws = row_sums(&w, k);
            let mut got = vec![0i32; oc];
            gemv_i8(&x, &w, k, &ws, &mut got);
            for o in 0..oc {
                assert_eq!(
                    got[o],
                    dot_portable(&x, &w[o * k..(o + 1) * k]),
                    "{k}x{oc} row {o}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 1 + 5 + 4 + 9 + 67 + 130);
    }
}
