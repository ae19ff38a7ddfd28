//! Float GEMM for convolutions: `C = clamp(A · Wᵀ + bias)`, where `W` holds one row of `k`
//! weights per output channel. The weights are packed once per op into panels of 16 channels
//! (`k x 16`, zero padded), so the micro-kernel streams them with aligned-width loads; `A`
//! (activations or im2col rows) is read in place with any row stride, so a 1x1 convolution
//! needs no copy of its input. The AVX-512 micro-kernel keeps a 12 x 32 tile of C in
//! registers; other CPUs use a portable kernel the compiler vectorizes.

/// Output channels per packed panel.
pub const NR: usize = 16;

/// Weights packed into panels: `data[(j * k + p) * NR + l]` is weight `p` of channel
/// `j * NR + l` (0 past `n`).
pub struct PackedB {
    pub data: Vec<f32>,
    pub k: usize,
    pub n: usize,
}

impl PackedB {
    /// Packs `w` (`n` rows of `k`, row stride `ldw`).
    pub fn new(w: &[f32], n: usize, k: usize, ldw: usize) -> PackedB {
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        for o in 0..n {
            let (j, l) = (o / NR, o % NR);
            let row = &w[o * ldw..o * ldw + k];
            for (p, &v) in row.iter().enumerate() {
                data[(j * k + p) * NR + l] = v;
            }
        }
        PackedB { data, k, n }
    }
}

/// What happens to an output value after the dot product: `+ bias[col]`, then a clamp to
/// `[lo, hi]` (fused RELU / RELU6 / RELU_N1_TO_1) when `clamp` is set.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub clamp: Option<(f32, f32)>,
}

/// The left operand: `m` rows of `a`, `lda` floats apart (activations or im2col rows, read in
/// place).
#[derive(Clone, Copy)]
struct Rows<'a> {
    a: &'a [f32],
    lda: usize,
    m: usize,
}

/// `c[i * ldc + j] = epilogue(sum_p a[i * lda + p] * W[j][p])` for `i < m`, `j < b.n`.
pub fn gemm(
    a: &[f32],
    lda: usize,
    m: usize,
    b: &PackedB,
    ep: &Epilogue,
    c: &mut [f32],
    ldc: usize,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n);
    assert!(k == 0 || a.len() >= (m - 1) * lda + k);
    assert!(ep.bias.is_none_or(|bv| bv.len() >= n));
    let x = Rows { a, lda, m };
    #[cfg(target_arch = "x86_64")]
    {
        if crate::engine::simd::avx512() {
            // SAFETY: the CPU has AVX-512F; the slices cover every index (asserted above).
            return unsafe { avx512::gemm(x, b, ep, c, ldc) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { gemm_avx2(x, b, ep, c, ldc) };
        }
    }
    gemm_portable(x, b, ep, c, ldc)
}

/// # Safety
/// The CPU must support AVX2 and FMA (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2(x: Rows, b: &PackedB, ep: &Epilogue, c: &mut [f32], ldc: usize) {
    gemm_portable(x, b, ep, c, ldc)
}

/// Rows of 4 at a time, one 16-channel panel at a time: the compiler keeps the 4 x 16
/// accumulators in vector registers.
#[inline(always)]
fn gemm_portable(x: Rows, b: &PackedB, ep: &Epilogue, c: &mut [f32], ldc: usize) {
    const MR: usize = 4;
    let Rows { a, lda, m } = x;
    let (k, n) = (b.k, b.n);
    for j in 0..n.div_ceil(NR) {
        let panel = &b.data[j * k * NR..(j + 1) * k * NR];
        let cols = (n - j * NR).min(NR);
        let mut bias = [0f32; NR];
        if let Some(bv) = ep.bias {
            bias[..cols].copy_from_slice(&bv[j * NR..j * NR + cols]);
        }
        let mut r = 0;
        while r < m {
            let rows = (m - r).min(MR);
            let mut acc = [[0f32; NR]; MR];
            for p in 0..k {
                let bv: &[f32; NR] = panel[p * NR..(p + 1) * NR].try_into().unwrap();
                for (i, acc) in acc.iter_mut().enumerate().take(rows) {
                    let av = a[(r + i) * lda + p];
                    for l in 0..NR {
                        acc[l] += av * bv[l];
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate().take(rows) {
                let dst = &mut c[(r + i) * ldc + j * NR..][..cols];
                for l in 0..cols {
                    let v = acc[l] + bias[l];
                    dst[l] = match ep.clamp {
                        Some((lo, hi)) => v.max(lo).min(hi),
                        None => v,
                    };
                }
            }
            r += rows;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Epilogue, PackedB, Rows, NR};
    use crate::engine::kernels::tiles::{by_height, for_tiles, mask16};
    use std::arch::x86_64::*;

    /// An `R x (16 * NB)` tile: `a` points at row 0 of the tile, `b` at panel `j`'s first
    /// row (the next panel starts `bstride` floats later), `c` at the tile's first output.
    /// `mask` selects the valid columns of the last panel.
    ///
    /// # Safety
    /// The CPU must support AVX-512F (the caller's target feature). `a` must be readable at
    /// `i * lda + p` and `b` for 16 floats at `j * bstride + p * 16`, and `c` writable for 16 floats at
    /// `i * ldc + j * 16` (the last panel only in the lanes `mask` selects), for `i < R`, `j < NB`,
    /// `p < k`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const NB: usize>(
        a: *const f32,
        lda: usize,
        k: usize,
        b: *const f32,
        bstride: usize,
        c: *mut f32,
        ldc: usize,
        bias: [__m512; NB],
        clamp: Option<(__m512, __m512)>,
        mask: __mmask16,
    ) {
        // SAFETY: this function's contract (see `# Safety`): the caller passes pointers valid for
        // every row, panel and k the loops touch, and AVX-512F is enabled.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); NB]; R];
            for p in 0..k {
                let mut bv = [_mm512_setzero_ps(); NB];
                for (j, v) in bv.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(b.add(j * bstride + p * NR));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(i * lda + p));
                    for j in 0..NB {
                        row[j] = _mm512_fmadd_ps(av, bv[j], row[j]);
                    }
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for j in 0..NB {
                    let mut v = _mm512_add_ps(row[j], bias[j]);
                    if let Some((lo, hi)) = clamp {
                        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                    }
                    let dst = c.add(i * ldc + j * NR);
                    if j + 1 == NB {
                        _mm512_mask_storeu_ps(dst, mask, v);
                    } else {
                        _mm512_storeu_ps(dst, v);
                    }
                }
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F, and the slices must have the sizes the safe
    /// [`gemm`](super::gemm) asserts: `c` at least `(m - 1) * ldc + b.n`, `a` at least
    /// `(m - 1) * lda + b.k` (when `b.k > 0`), the bias (if any) at least `b.n`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(x: Rows, b: &PackedB, ep: &Epilogue, c: &mut [f32], ldc: usize) {
        // SAFETY: AVX-512F is enabled (this function's contract); the slice sizes asserted by the safe
        // `gemm` keep every tile inside `a`, `b.data` and `c`: row tiles stop at `m`, panel pairs at
        // `panels`, the last panel's columns are masked to `n`.
        unsafe {
            let Rows { a, lda, m } = x;
            let (k, n) = (b.k, b.n);
            let panels = n.div_ceil(NR);
            let clamp = ep
                .clamp
                .map(|(lo, hi)| (_mm512_set1_ps(lo), _mm512_set1_ps(hi)));
            // Panels per column block: the block's weights (k x 16 floats per panel) stay in L2
            // while every row tile passes over them.
            let block = ((192 * 1024) / (k.max(1) * NR * 4)).max(2) / 2 * 2;
            let (ap, bp, cp) = (a.as_ptr(), b.data.as_ptr(), c.as_mut_ptr());
            for_tiles(m, panels, block, |r, rt, j, nb| {
                let mut bias = [_mm512_setzero_ps(); 2];
                let mut mask: __mmask16 = 0xffff;
                for (q, v) in bias.iter_mut().enumerate().take(nb) {
                    mask = mask16(n - (j + q) * NR);
                    if let Some(bv) = ep.bias {
                        *v = _mm512_maskz_loadu_ps(mask, bv.as_ptr().add((j + q) * NR));
                    }
                }
                let a0 = ap.add(r * lda);
                let b0 = bp.add(j * k * NR);
                let c0 = cp.add(r * ldc + j * NR);
                let bs = k * NR;
                macro_rules! go {
                    ($r:literal) => {
                        if nb == 2 {
                            tile::<$r, 2>(a0, lda, k, b0, bs, c0, ldc, bias, clamp, mask)
                        } else {
                            let bias = [bias[0]];
                            tile::<$r, 1>(a0, lda, k, b0, bs, c0, ldc, bias, clamp, mask)
                        }
                    };
                }
                by_height!(rt, go);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], m: usize, k: usize, w: &[f32], n: usize, bias: &[f32]) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|p| a[i * k + p] as f64 * w[j * k + p] as f64)
                    .sum();
                c[i * n + j] = (s as f32 + bias[j]).clamp(-3.0, 4.0);
            }
        }
        c
    }

    #[test]
    fn matches_naive_on_ragged_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (13, 27, 16),
            (37, 45, 23),
            (50, 8, 70),
            (25, 300, 33),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7919) % 97) as f32 / 17.0 - 2.5)
                .collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 104729) % 89) as f32 / 31.0 - 1.4)
                .collect();
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 1.0).collect();
            let pb = PackedB::new(&w, n, k, k);
            let ep = Epilogue {
                bias: Some(&bias),
                clamp: Some((-3.0, 4.0)),
            };
            let mut c = vec![f32::NAN; m * n];
            gemm(&a, k, m, &pb, &ep, &mut c, n);
            let want = naive(&a, m, k, &w, n, &bias);
            let mut c2 = vec![f32::NAN; m * n];
            gemm_portable(Rows { a: &a, lda: k, m }, &pb, &ep, &mut c2, n);
            for i in 0..m * n {
                assert!(
                    (c[i] - want[i]).abs() < 1e-3,
                    "{m}x{k}x{n} at {i}: {} vs {}",
                    c[i],
                    want[i]
                );
                assert!(
                    (c2[i] - want[i]).abs() < 1e-3,
                    "portable {m}x{k}x{n} at {i}"
                );
            }
        }
    }
}
