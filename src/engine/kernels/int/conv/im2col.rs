//! im2col for the integer convolutions: u8 rows for the VNNI GEMM, offset-folded i16 rows
//! for the portable one.

#[allow(unused_imports)]
use super::*;

/// im2col into u8 rows for the VNNI GEMM: `xu` is the input shifted to u8 (`x + 128`), input
/// channels `c0..c0 + fic` are read, taps outside the image take `pad` (the input zero point,
/// shifted), columns are padded to `kp` with zeros.
pub(crate) fn im2col_u8(
    xu: &[u8],
    g: &ConvGeom,
    c0: usize,
    fic: usize,
    kp: usize,
    pad: u8,
) -> Vec<u8> {
    let rows = g.pixels();
    let mut a = vec![0u8; rows * kp];
    if rows == 0 {
        return a;
    }
    // A row of kernel taps whose columns are all inside the image reads one contiguous run of
    // `kw * fic` bytes when the taps are adjacent (no dilation) and every channel is read.
    let runs = g.dw == 1 && fic == g.ic;
    a.par_chunks_mut(g.ow * kp)
        .enumerate()
        .for_each(|(r, dst)| {
            let b = r / g.oh;
            let oy = r % g.oh;
            for ox in 0..g.ow {
                let d = &mut dst[ox * kp..];
                let ix0 = (ox * g.sw) as isize - g.pw as isize;
                let inside = runs && ix0 >= 0 && ix0 as usize + g.kw <= g.iw;
                for ky in 0..g.kh {
                    let iy = g.in_row(oy, ky);
                    if let (true, Some(iy)) = (inside, iy) {
                        let n = g.kw * fic;
                        let src = ((b * g.ih + iy) * g.iw + ix0 as usize) * g.ic;
                        copy_small(&mut d[ky * n..(ky + 1) * n], &xu[src..src + n]);
                        continue;
                    }
                    for kx in 0..g.kw {
                        let off = (ky * g.kw + kx) * fic;
                        let d = &mut d[off..off + fic];
                        match (iy, g.in_col(ox, kx)) {
                            (Some(iy), Some(ix)) => {
                                let src = ((b * g.ih + iy) * g.iw + ix) * g.ic + c0;
                                copy_small(d, &xu[src..src + fic]);
                            }
                            _ => d.fill(pad),
                        }
                    }
                }
            }
        });
    a
}

/// `d.copy_from_slice(s)`, short runs (an RGB stem's taps) as a byte loop instead of a
/// `memcpy` call.
#[inline(always)]
fn copy_small(d: &mut [u8], s: &[u8]) {
    let n = s.len();
    if n >= 32 {
        return d.copy_from_slice(s);
    }
    let d = &mut d[..n];
    // Fixed-size pieces (8, 4, 2, 1 bytes), so the compiler emits moves, not a call.
    let mut i = 0;
    while i + 8 <= n {
        d[i..i + 8].copy_from_slice(&s[i..i + 8]);
        i += 8;
    }
    for w in [4, 2, 1] {
        if i + w <= n {
            d[i..i + w].copy_from_slice(&s[i..i + w]);
            i += w;
        }
    }
}

/// Rows of `x` (+128 as u8) padded to `kp` columns.
pub(super) fn rows_u8(x: &[i8], rows: usize, k: usize, kp: usize) -> Vec<u8> {
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

/// im2col of an offset-folded NHWC input: one row per output pixel, `kh*kw*ic_used` columns in
/// the filter's (ky, kx, c) order; taps outside the image are 0.
pub(crate) fn im2col(x: &[i16], g: &ConvGeom, ic_used: usize) -> Vec<i16> {
    im2col_group(x, g, 0, ic_used)
}

/// im2col reading input channels `c0..c0 + fic` (one group of a grouped convolution).
pub(super) fn im2col_group(x: &[i16], g: &ConvGeom, c0: usize, fic: usize) -> Vec<i16> {
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
