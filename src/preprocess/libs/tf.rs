//! `tf.image.resize` without antialiasing (TF2: half-pixel centres), in f32 as TensorFlow's CPU
//! kernels compute it: ResizeNearestNeighbor, ResizeBilinear, ResizeBicubic (Keys a = -0.5
//! from a 1024-entry table, out-of-range taps dropped and renormalised) and ResizeArea.
//! The result is float, not rounded.

use super::{Filter, Image};

pub(super) fn resize(img: &Image, dw: usize, dh: usize, f: Filter) -> Image {
    match f {
        Filter::Nearest => {
            let axis = |n: usize, out: usize| -> Vec<usize> {
                let s = n as f32 / out as f32;
                (0..out)
                    .map(|x| (((x as f32 + 0.5) * s).floor().max(0.0) as usize).min(n - 1))
                    .collect()
            };
            super::gather(img, &axis(img.width, dw), &axis(img.height, dh))
        }
        Filter::Bilinear => bilinear(img, dw, dh),
        Filter::Bicubic => bicubic(img, dw, dh),
        _ => area(img, dw, dh),
    }
}

/// (lower, upper, lerp) per output index.
fn lerp_axis(n: usize, out: usize) -> Vec<(usize, usize, f32)> {
    let scale = n as f32 / out as f32;
    (0..out)
        .map(|i| {
            let x = (i as f32 + 0.5) * scale - 0.5;
            let xf = x.floor();
            let lo = (xf as i64).max(0) as usize;
            let hi = (x.ceil() as i64).min(n as i64 - 1).max(0) as usize;
            (lo, hi, x - xf)
        })
        .collect()
}

fn bilinear(img: &Image, dw: usize, dh: usize) -> Image {
    let (sw, c) = (img.width, img.channels);
    let (xs, ys) = (lerp_axis(sw, dw), lerp_axis(img.height, dh));
    let mut out = Image::new(dw, dh, c);
    let px = |x: usize, y: usize, ch: usize| img.data[(y * sw + x) * c + ch];
    for (dy, &(y0, y1, yl)) in ys.iter().enumerate() {
        for (dx, &(x0, x1, xl)) in xs.iter().enumerate() {
            for ch in 0..c {
                let (tl, tr) = (px(x0, y0, ch), px(x1, y0, ch));
                let (bl, br) = (px(x0, y1, ch), px(x1, y1, ch));
                let top = tl + (tr - tl) * xl;
                let bottom = bl + (br - bl) * xl;
                out.data[(dy * dw + dx) * c + ch] = top + (bottom - top) * yl;
            }
        }
    }
    out
}

const TABLE: usize = 1024;

/// Keys cubic (a = -0.5) sampled at 1/1024: entry 2i = W(i/1024), 2i+1 = W(1 + i/1024).
fn coeffs_table() -> Vec<f32> {
    const A: f32 = -0.5;
    let mut t = vec![0f32; (TABLE + 1) * 2];
    for i in 0..=TABLE {
        let x = i as f32 / TABLE as f32;
        t[i * 2] = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
        let x = x + 1.0;
        t[i * 2 + 1] = ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    }
    t
}

/// Four (index, weight) taps per output index, as `GetWeightsAndIndices<HalfPixelScaler, true>`.
fn cubic_axis(n: usize, out: usize, table: &[f32]) -> Vec<[(usize, f32); 4]> {
    let scale = n as f32 / out as f32;
    (0..out)
        .map(|i| {
            let x = (i as f32 + 0.5) * scale - 0.5;
            let loc = x.floor() as i64;
            let delta = x - loc as f32;
            let off = (delta * TABLE as f32).round_ties_even() as usize;
            let mut w = [
                table[off * 2 + 1],
                table[off * 2],
                table[(TABLE - off) * 2],
                table[(TABLE - off) * 2 + 1],
            ];
            let mut idx = [0usize; 4];
            for k in 0..4 {
                let want = loc - 1 + k as i64;
                let b = want.clamp(0, n as i64 - 1);
                if b != want {
                    w[k] = 0.0;
                }
                idx[k] = b as usize;
            }
            let total: f32 = w.iter().sum();
            if total.abs() >= 1000.0 * f32::MIN_POSITIVE {
                w.iter_mut().for_each(|v| *v *= 1.0 / total);
            }
            [
                (idx[0], w[0]),
                (idx[1], w[1]),
                (idx[2], w[2]),
                (idx[3], w[3]),
            ]
        })
        .collect()
}

fn bicubic(img: &Image, dw: usize, dh: usize) -> Image {
    let table = coeffs_table();
    let (sw, c) = (img.width, img.channels);
    let xs = cubic_axis(sw, dw, &table);
    let ys = cubic_axis(img.height, dh, &table);
    let mut out = Image::new(dw, dh, c);
    for (dy, yt) in ys.iter().enumerate() {
        for (dx, xt) in xs.iter().enumerate() {
            for ch in 0..c {
                let row = |y: usize| {
                    let p = |k: usize| img.data[(y * sw + xt[k].0) * c + ch];
                    p(0) * xt[0].1 + p(1) * xt[1].1 + p(2) * xt[2].1 + p(3) * xt[3].1
                };
                let v = row(yt[0].0) * yt[0].1
                    + row(yt[1].0) * yt[1].1
                    + row(yt[2].0) * yt[2].1
                    + row(yt[3].0) * yt[3].1;
                out.data[(dy * dw + dx) * c + ch] = v;
            }
        }
    }
    out
}

/// ResizeArea: exact box average with f32 cover fractions, sum x within y, times 1/(sx*sy).
fn area(img: &Image, dw: usize, dh: usize) -> Image {
    let (sw, sh, c) = (img.width, img.height, img.channels);
    let axis = |n: usize, out: usize| -> (f32, Vec<Vec<(usize, f32)>>) {
        let s = n as f32 / out as f32;
        let taps = (0..out)
            .map(|i| {
                let (a, b) = (i as f32 * s, (i + 1) as f32 * s);
                let (start, end) = (a.floor() as i64, b.ceil() as i64);
                (start..end)
                    .map(|j| {
                        let lo = if (j as f32) < a { a } else { j as f32 };
                        let hi = if ((j + 1) as f32) > b {
                            b
                        } else {
                            (j + 1) as f32
                        };
                        ((j.min(n as i64 - 1)) as usize, hi - lo)
                    })
                    .collect()
            })
            .collect();
        (s, taps)
    };
    let (fx, xs) = axis(sw, dw);
    let (fy, ys) = axis(sh, dh);
    let scale = 1.0 / (fx * fy);
    let mut out = Image::new(dw, dh, c);
    for (dy, yt) in ys.iter().enumerate() {
        for (dx, xt) in xs.iter().enumerate() {
            for ch in 0..c {
                let mut sum_y = 0f32;
                for &(y, wy) in yt {
                    let mut sum_x = 0f32;
                    for &(x, wx) in xt {
                        sum_x += img.data[(y * sw + x) * c + ch] * wx;
                    }
                    sum_y += sum_x * wy;
                }
                out.data[(dy * dw + dx) * c + ch] = sum_y * scale;
            }
        }
    }
    out
}
