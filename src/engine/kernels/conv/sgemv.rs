//! Float matrix-vector product on row-major weights (`[oc][k]`, as the model stores them), for
//! batch-1 FULLY_CONNECTED: the weights stream once, in place (no packed copy), four rows at a
//! time against one activation vector, so a big layer runs at memory bandwidth. AVX-512 and
//! AVX2+FMA kernels; other CPUs run a loop of eight partial sums the compiler vectorizes.

use rayon::prelude::*;

/// Output rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// `out[o] = sum_j x[j] * w[o * k + j]` for every `o < out.len()`, split over rayon.
pub fn sgemv(x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
    let n = out.len();
    assert!(x.len() >= k && w.len() >= n * k);
    out.par_chunks_mut(ROWS_PER_TASK)
        .enumerate()
        .for_each(|(t, o)| {
            let o0 = t * ROWS_PER_TASK;
            let ws = &w[o0 * k..(o0 + o.len()) * k];
            #[cfg(target_arch = "x86_64")]
            {
                if crate::engine::simd::avx512() {
                    // SAFETY: the CPU has AVX-512F; `ws` holds `o.len()` rows of `k`, `x` >= k.
                    return unsafe { x86::rows_avx512(&x[..k], ws, o) };
                }
                if crate::engine::simd::avx2() {
                    // SAFETY: the CPU has AVX2 and FMA; sizes as above.
                    return unsafe { x86::rows_avx2(&x[..k], ws, o) };
                }
            }
            for (i, d) in o.iter_mut().enumerate() {
                *d = dot_portable(&x[..k], &ws[i * k..(i + 1) * k]);
            }
        });
}

fn dot_portable(x: &[f32], w: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (xc, wc) = (x.chunks_exact(8), w.chunks_exact(8));
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (a, b) in xc.zip(wc) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (a, b) in xr.iter().zip(wr) {
        s += a * b;
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512F; `w.len() >= out.len() * x.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows_avx512(x: &[f32], w: &[f32], out: &mut [f32]) {
        let (k, n) = (x.len(), out.len());
        assert!(w.len() >= n * k);
        let full = k / 16;
        let rem = k % 16;
        let mask: __mmask16 = ((1u32 << rem) - 1) as u16;
        // SAFETY: AVX-512F is enabled (this function's contract); full loads read 16 floats at
        // `c * 16 + 16 <= k` inside `x` and inside each weight row (`w.len() >= n * k`,
        // asserted); the tail loads are masked to the `rem` floats left.
        unsafe {
            let (xp, wp) = (x.as_ptr(), w.as_ptr());
            let mut o = 0;
            while o < n {
                let nr = (n - o).min(4);
                let r: [*const f32; 4] = std::array::from_fn(|j| wp.add((o + j.min(nr - 1)) * k));
                let mut acc = [_mm512_setzero_ps(); 4];
                for c in 0..full {
                    let xv = _mm512_loadu_ps(xp.add(c * 16));
                    for j in 0..4 {
                        acc[j] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(r[j].add(c * 16)), acc[j]);
                    }
                }
                if rem != 0 {
                    let xv = _mm512_maskz_loadu_ps(mask, xp.add(full * 16));
                    for j in 0..4 {
                        let wv = _mm512_maskz_loadu_ps(mask, r[j].add(full * 16));
                        acc[j] = _mm512_fmadd_ps(xv, wv, acc[j]);
                    }
                }
                for j in 0..nr {
                    out[o + j] = _mm512_reduce_add_ps(acc[j]);
                }
                o += nr;
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `w.len() >= out.len() * x.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_avx2(x: &[f32], w: &[f32], out: &mut [f32]) {
        let (k, n) = (x.len(), out.len());
        assert!(w.len() >= n * k);
        let full = k / 8;
        // SAFETY: AVX2/FMA are enabled (this function's contract); the loads read 8 floats at
        // `c * 8 + 8 <= k` inside `x` and each weight row; the tail is scalar.
        unsafe {
            let (xp, wp) = (x.as_ptr(), w.as_ptr());
            for (o, d) in out.iter_mut().enumerate() {
                let r = wp.add(o * k);
                let mut acc = _mm256_setzero_ps();
                for c in 0..full {
                    acc = _mm256_fmadd_ps(
                        _mm256_loadu_ps(xp.add(c * 8)),
                        _mm256_loadu_ps(r.add(c * 8)),
                        acc,
                    );
                }
                let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
                let mut v = _mm_cvtss_f32(s);
                for j in full * 8..k {
                    v += *xp.add(j) * *r.add(j);
                }
                *d = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgemv_matches_f64() {
        let mut checked = 0;
        for &(k, n) in &[(1usize, 1usize), (15, 3), (16, 4), (17, 9), (300, 130)] {
            let x: Vec<f32> = (0..k).map(|i| ((i * 37) % 19) as f32 / 7.0 - 1.0).collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 53) % 23) as f32 / 11.0 - 1.0)
                .collect();
            let mut got = vec![0f32; n];
            sgemv(&x, &w, k, &mut got);
            for o in 0..n {
                let want: f64 = (0..k).map(|j| x[j] as f64 * w[o * k + j] as f64).sum();
                assert!(
                    (got[o] as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{k}x{n} {o}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 1 + 3 + 4 + 9 + 130);
    }
}
