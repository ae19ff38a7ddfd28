//! The portable integer GEMM: C[p][o] = sum_k A[p][k] * W[o][k], i16 inputs, i32
//! accumulators, requantized per output channel (the VNNI one is in `int/gemm.rs`).

#[allow(unused_imports)]
use super::*;

// --------------------------------------------------------------------------------------------
// GEMM: C[p][o] = sum_k A[p][k] * W[o][k], i16 inputs, i32 accumulators.
// --------------------------------------------------------------------------------------------

#[inline(always)]
pub(super) fn dot4(a: &[i16], w0: &[i16], w1: &[i16], w2: &[i16], w3: &[i16]) -> [i32; 4] {
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
pub(super) fn dot1(a: &[i16], w: &[i16]) -> i32 {
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
pub(super) fn gemm_block(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
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

/// # Safety
/// The CPU must support AVX2 (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn gemm_block_avx2(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    gemm_block(a, k, w, oc, out)
}

/// # Safety
/// The CPU must support AVX-512F/BW/VL (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn gemm_block_avx512(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    gemm_block(a, k, w, oc, out)
}

pub(crate) fn gemm_block_dispatch(a: &[i16], k: usize, w: &[i16], oc: usize, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if gemm::has_avx512() {
            // SAFETY: the CPU has the AVX-512 subsets the function enables.
            return unsafe { gemm_block_avx512(a, k, w, oc, out) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { gemm_block_avx2(a, k, w, oc, out) };
        }
    }
    gemm_block(a, k, w, oc, out)
}

/// `out[p][o] = requant(o, sum_k a[p][k] w[o][k])`, in parallel over rows (or output channels
/// when there are few rows).
pub(super) fn gemm<T: QInt>(
    a: &[i16],
    rows: usize,
    k: usize,
    w: &[i16],
    oc: usize,
    q: &Requant,
) -> Vec<T> {
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
        gemm::requant_parts(parts, rows, oc, q, &mut out);
    }
    out
}
