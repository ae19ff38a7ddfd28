//! Geometry: stretch, centre crop and letterbox on one float plane, with nearest, bilinear and
//! area sampling. Pixel centres sit at +0.5 (half-pixel convention, as OpenCV and
//! `tf.image.resize` without antialiasing).

use super::{Preprocess, ResizeMode};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    Nearest,
    /// Two-tap linear interpolation per axis (no antialiasing).
    Bilinear,
    /// Exact box average over the covered source area (best for downscaling).
    Area,
    /// Cubic convolution (library resamplers only: `--resize-lib`).
    Bicubic,
    /// Lanczos windowed sinc (library resamplers only: `--resize-lib`).
    Lanczos,
}

/// A source region in pixels: x0, y0, width, height (fractional allowed).
type Region = (f32, f32, f32, f32);

/// Applies the resize mode of `pp` to a `sw` x `sh` plane, giving `dw` x `dh`.
pub(super) fn geometry(
    src: &[f32],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    pp: &Preprocess,
    pad: f32,
) -> Vec<f32> {
    let (fw, fh) = (sw as f32, sh as f32);
    match pp.resize {
        ResizeMode::Stretch => resize_plane(src, sw, sh, (0.0, 0.0, fw, fh), dw, dh, pp.filter),
        ResizeMode::CenterCrop => {
            let aspect = dw as f32 / dh as f32;
            let (cw, ch) = if fw / fh > aspect {
                (fh * aspect, fh)
            } else {
                (fw, fw / aspect)
            };
            let f = pp.crop_fraction.clamp(1e-3, 1.0);
            let (cw, ch) = (cw * f, ch * f);
            resize_plane(
                src,
                sw,
                sh,
                ((fw - cw) / 2.0, (fh - ch) / 2.0, cw, ch),
                dw,
                dh,
                pp.filter,
            )
        }
        ResizeMode::Letterbox => {
            let scale = (dw as f32 / fw).min(dh as f32 / fh);
            let nw = ((fw * scale).round() as usize).clamp(1, dw);
            let nh = ((fh * scale).round() as usize).clamp(1, dh);
            let inner = resize_plane(src, sw, sh, (0.0, 0.0, fw, fh), nw, nh, pp.filter);
            let (ox, oy) = ((dw - nw) / 2, (dh - nh) / 2);
            let mut out = vec![pad; dw * dh];
            for y in 0..nh {
                out[(oy + y) * dw + ox..(oy + y) * dw + ox + nw]
                    .copy_from_slice(&inner[y * nw..(y + 1) * nw]);
            }
            out
        }
    }
}

/// Resamples `region` of a `sw` x `sh` plane to `dw` x `dh`.
pub fn resize_plane(
    src: &[f32],
    sw: usize,
    sh: usize,
    region: Region,
    dw: usize,
    dh: usize,
    filter: Filter,
) -> Vec<f32> {
    let (x0, y0, rw, rh) = region;
    let wx = axis_weights(sw, x0, rw, dw, filter);
    let wy = axis_weights(sh, y0, rh, dh, filter);
    // Separable: rows first into a dh x sw buffer, then columns.
    let mut tmp = vec![0f32; dh * sw];
    for (dy, taps) in wy.iter().enumerate() {
        for &(sy, w) in taps {
            let row = &src[sy * sw..(sy + 1) * sw];
            for (t, &s) in tmp[dy * sw..(dy + 1) * sw].iter_mut().zip(row) {
                *t += w * s;
            }
        }
    }
    let mut out = vec![0f32; dh * dw];
    for dy in 0..dh {
        for (dx, taps) in wx.iter().enumerate() {
            out[dy * dw + dx] = taps.iter().map(|&(sx, w)| w * tmp[dy * sw + sx]).sum();
        }
    }
    out
}

/// For each output index along one axis: the source indices and weights (summing to 1).
fn axis_weights(
    n: usize,
    start: f32,
    len: f32,
    out: usize,
    filter: Filter,
) -> Vec<Vec<(usize, f32)>> {
    let step = len / out as f32;
    let clamp = |i: f32| (i.max(0.0) as usize).min(n - 1);
    (0..out)
        .map(|d| match filter {
            Filter::Nearest => vec![(clamp((start + (d as f32 + 0.5) * step).floor()), 1.0)],
            // Bicubic and Lanczos are refused before (`ResizeLib::filter_name`).
            Filter::Bilinear | Filter::Bicubic | Filter::Lanczos => {
                let s = start + (d as f32 + 0.5) * step - 0.5;
                let lo = s.floor();
                let f = s - lo;
                let (a, b) = (clamp(lo), clamp(lo + 1.0));
                if a == b {
                    vec![(a, 1.0)]
                } else {
                    vec![(a, 1.0 - f), (b, f)]
                }
            }
            Filter::Area => {
                let (lo, hi) = (start + d as f32 * step, start + (d as f32 + 1.0) * step);
                let mut taps = Vec::new();
                let mut i = lo.floor();
                while i < hi {
                    let cover = (hi.min(i + 1.0) - lo.max(i)).max(0.0);
                    if cover > 0.0 {
                        taps.push((clamp(i), cover / (hi - lo)));
                    }
                    i += 1.0;
                }
                taps
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-row plane resized over its whole width to `out_w` pixels.
    fn resize_row(row: &[f32], out_w: usize, filter: Filter) -> Vec<f32> {
        let w = row.len();
        resize_plane(row, w, 1, (0.0, 0.0, w as f32, 1.0), out_w, 1, filter)
    }

    #[test]
    fn area_halves_average_pairs() {
        // 4x1 -> 2x1: area averages (1,3) and (5,7).
        let out = resize_row(&[1.0, 3.0, 5.0, 7.0], 2, Filter::Area);
        assert_eq!(out, vec![2.0, 6.0]);
    }

    #[test]
    fn bilinear_half_pixel_upscale() {
        // 2x1 -> 4x1: centres at 0.25 px steps: s = (d+0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
        let out = resize_row(&[0.0, 8.0], 4, Filter::Bilinear);
        assert_eq!(out, vec![0.0, 2.0, 6.0, 8.0]);
    }

    #[test]
    fn nearest_picks_covering_pixel() {
        // Centres 1.0 and 3.0 -> pixels 1 and 3.
        let out = resize_row(&[0.0, 1.0, 2.0, 3.0], 2, Filter::Nearest);
        assert_eq!(out, vec![1.0, 3.0]);
    }
}
