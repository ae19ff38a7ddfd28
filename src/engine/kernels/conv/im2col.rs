//! im2col for float CONV_2D: one tile of output pixels' input windows as GEMM rows.

#[allow(unused_imports)]
use super::*;

/// Output pixels per im2col tile: a few rows of 12-pixel register tiles, small enough that
/// the tile stays in L1/L2 between im2col and the GEMM.
pub(super) const IM2COL_TILE: usize = 96;

/// Fills `col` (`p1 - p0` rows of `kh*kw*fic`) with the window of output pixels `p0..p1`,
/// reading input channels `c0..c0 + fic`; taps outside the image are 0.
pub(super) fn im2col_f32(
    x: &[f32],
    g: &ConvGeom,
    c0: usize,
    fic: usize,
    p0: usize,
    p1: usize,
    col: &mut [f32],
) {
    let k = g.kh * g.kw * fic;
    for (i, p) in (p0..p1).enumerate() {
        let (b, oy, ox) = (p / (g.oh * g.ow), p / g.ow % g.oh, p % g.ow);
        let dst = &mut col[i * k..(i + 1) * k];
        // With every column tap inside the image, undilated and ungrouped, one kernel row
        // reads `kw * ic` contiguous values.
        let run = g.dw == 1 && fic == g.ic && g.kw > 0 && g.in_col(ox, 0).is_some();
        let run = run && g.in_col(ox, g.kw - 1).is_some();
        for ky in 0..g.kh {
            let d = &mut dst[ky * g.kw * fic..(ky + 1) * g.kw * fic];
            let Some(iy) = g.in_row(oy, ky) else {
                d.fill(0.0);
                continue;
            };
            if run {
                let s = ((b * g.ih + iy) * g.iw + g.in_col(ox, 0).unwrap()) * g.ic;
                d.copy_from_slice(&x[s..s + g.kw * fic]);
                continue;
            }
            for kx in 0..g.kw {
                let dd = &mut d[kx * fic..(kx + 1) * fic];
                match g.in_col(ox, kx) {
                    Some(ix) => {
                        let s = ((b * g.ih + iy) * g.iw + ix) * g.ic + c0;
                        dd.copy_from_slice(&x[s..s + fic]);
                    }
                    None => dd.fill(0.0),
                }
            }
        }
    }
}
