//! OpenCV's `cv2.resize` on 8-bit images (imgproc/src/resize.cpp), bit for bit where the C++
//! is integer: 11-bit fixed-point interpolation weights, the horizontal pass kept in int32 and
//! the vertical pass rounded once; INTER_AREA's integer-factor fast path and its float box
//! weights otherwise; INTER_LINEAR at exactly half size taking the area path, as OpenCV does.

use super::{Filter, Image};

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// cvRound: round half to even.
fn cv_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

pub(super) fn resize(img: &Image, dw: usize, dh: usize, f: Filter) -> Image {
    let (sw, sh) = (img.width, img.height);
    if (sw, sh) == (dw, dh) {
        return img.clone();
    }
    let inv_x = dw as f64 / sw as f64;
    let inv_y = dh as f64 / sh as f64;
    let (scale_x, scale_y) = (1.0 / inv_x, 1.0 / inv_y);
    if f == Filter::Nearest {
        let axis = |n: usize, out: usize, s: f64| -> Vec<usize> {
            (0..out)
                .map(|x| ((x as f64 * s).floor() as usize).min(n - 1))
                .collect()
        };
        return super::gather(img, &axis(sw, dw, scale_x), &axis(sh, dh, scale_y));
    }
    let (isx, isy) = (cv_round(scale_x), cv_round(scale_y));
    let area_fast =
        (scale_x - isx as f64).abs() < f64::EPSILON && (scale_y - isy as f64).abs() < f64::EPSILON;
    let mut f = f;
    if f == Filter::Bilinear && area_fast && isx == 2 && isy == 2 {
        f = Filter::Area;
    }
    if f == Filter::Area && scale_x >= 1.0 && scale_y >= 1.0 {
        return if area_fast {
            area_fast_path(img, dw, dh, isx as usize, isy as usize)
        } else {
            area_general(img, dw, dh, scale_x, scale_y)
        };
    }
    interpolate(img, dw, dh, f, scale_x, scale_y)
}

/// Per output index: first tap index (may be out of range: clamped on read) and the
/// fixed-point weights.
fn taps(n: usize, out: usize, scale: f64, inv: f64, f: Filter) -> Vec<(i64, Vec<i32>)> {
    let ksize: i64 = match f {
        Filter::Bicubic => 4,
        Filter::Lanczos => 8,
        _ => 2,
    };
    let k2 = ksize / 2;
    (0..out)
        .map(|d| {
            let (mut sx, mut fx);
            if f == Filter::Area {
                sx = (d as f64 * scale).floor() as i64;
                fx = ((d + 1) as f64 - (sx + 1) as f64 * inv) as f32;
                fx = if fx <= 0.0 { 0.0 } else { fx - fx.floor() };
            } else {
                fx = ((d as f64 + 0.5) * scale - 0.5) as f32;
                sx = fx.floor() as i64;
                fx -= sx as f32;
            }
            let linear = !matches!(f, Filter::Bicubic | Filter::Lanczos);
            if sx < k2 - 1 && sx < 0 && linear {
                fx = 0.0;
                sx = 0;
            }
            if sx + k2 >= n as i64 && sx >= n as i64 - 1 && linear {
                fx = 0.0;
                sx = n as i64 - 1;
            }
            let cbuf: Vec<f32> = match f {
                Filter::Bicubic => cubic(fx).to_vec(),
                Filter::Lanczos => lanczos4(fx).to_vec(),
                _ => vec![1.0 - fx, fx],
            };
            // saturate_cast<short>(float) rounds half to even.
            let w = cbuf
                .iter()
                .map(|&c| cv_round((c * COEF_SCALE) as f64) as i32)
                .collect();
            (sx - (k2 - 1), w)
        })
        .collect()
}

fn cubic(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

fn lanczos4(x: f32) -> [f32; 8] {
    const S45: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const CS: [[f64; 2]; 8] = [
        [1.0, 0.0],
        [-S45, -S45],
        [0.0, 1.0],
        [S45, -S45],
        [-1.0, 0.0],
        [S45, S45],
        [0.0, -1.0],
        [-S45, S45],
    ];
    let mut c = [0f32; 8];
    let y0 = -(x as f64 + 3.0) * std::f64::consts::PI * 0.25;
    let (s0, c0) = (y0.sin(), y0.cos());
    let mut sum = 0f32;
    for i in 0..8 {
        let y0_ = x + 3.0 - i as f32;
        c[i] = if y0_.abs() >= 1e-6 {
            let y = -(y0_ as f64) * std::f64::consts::PI * 0.25;
            ((CS[i][0] * s0 + CS[i][1] * c0) / (y * y)) as f32
        } else {
            1e30
        };
        sum += c[i];
    }
    let sum = 1.0 / sum;
    c.iter_mut().for_each(|v| *v *= sum);
    c
}

/// Linear, cubic, Lanczos-4 and upscaling area: horizontal taps into int32 rows (weights x
/// pixel), then vertical taps, one rounding at 22 bits.
fn interpolate(img: &Image, dw: usize, dh: usize, f: Filter, sx: f64, sy: f64) -> Image {
    let (sw, sh, c) = (img.width, img.height, img.channels);
    let tx = taps(sw, dw, sx, 1.0 / sx, f);
    let ty = taps(sh, dh, sy, 1.0 / sy, f);
    let clampi = |i: i64, n: usize| i.clamp(0, n as i64 - 1) as usize;
    // Horizontal pass on every source row.
    let mut rows = vec![0i64; sh * dw * c];
    for y in 0..sh {
        for (dx, (start, w)) in tx.iter().enumerate() {
            for ch in 0..c {
                let mut acc = 0i64;
                for (k, &wk) in w.iter().enumerate() {
                    let x = clampi(start + k as i64, sw);
                    acc += img.data[(y * sw + x) * c + ch] as i64 * wk as i64;
                }
                rows[(y * dw + dx) * c + ch] = acc;
            }
        }
    }
    let mut out = Image::new(dw, dh, c);
    for (dy, (start, b)) in ty.iter().enumerate() {
        for i in 0..dw * c {
            let s = |k: usize| rows[clampi(start + k as i64, sh) * dw * c + i];
            let v = if b.len() == 2 {
                // VResizeLinear<uchar>: ((b0*(S0>>4))>>16) + ((b1*(S1>>4))>>16) + 2 >> 2.
                ((b[0] as i64 * (s(0) >> 4)) >> 16) + ((b[1] as i64 * (s(1) >> 4)) >> 16) + 2 >> 2
            } else {
                let acc: i64 = b.iter().enumerate().map(|(k, &bk)| bk as i64 * s(k)).sum();
                (acc + (1 << 21)) >> 22
            };
            out.data[dy * dw * c + i] = v.clamp(0, 255) as f32;
        }
    }
    out
}

/// Integer downscale factors: block sums; 2x2 rounds (s + 2) >> 2, other factors multiply by
/// the float reciprocal of the block area and round half to even.
fn area_fast_path(img: &Image, dw: usize, dh: usize, fx: usize, fy: usize) -> Image {
    let (sw, c) = (img.width, img.channels);
    let mut out = Image::new(dw, dh, c);
    let scale = 1.0f32 / (fx * fy) as f32;
    for dy in 0..dh {
        for dx in 0..dw {
            for ch in 0..c {
                let mut s = 0i64;
                for y in dy * fy..(dy + 1) * fy {
                    for x in dx * fx..(dx + 1) * fx {
                        s += img.data[(y * sw + x) * c + ch] as i64;
                    }
                }
                let v = if fx == 2 && fy == 2 {
                    (s + 2) >> 2
                } else {
                    cv_round((s as f32 * scale) as f64)
                };
                out.data[(dy * dw + dx) * c + ch] = v.clamp(0, 255) as f32;
            }
        }
    }
    out
}

/// `computeResizeAreaTab`: (source index, weight) per output index, float weights.
fn area_tab(n: usize, out: usize, scale: f64) -> Vec<Vec<(usize, f32)>> {
    (0..out)
        .map(|d| {
            let fsx1 = d as f64 * scale;
            let fsx2 = fsx1 + scale;
            let cell = scale.min(n as f64 - fsx1);
            let mut sx2 = fsx2.floor() as i64;
            sx2 = sx2.min(n as i64 - 1);
            let sx1 = (fsx1.ceil() as i64).min(sx2);
            let mut t = Vec::new();
            if sx1 as f64 - fsx1 > 1e-3 {
                t.push(((sx1 - 1) as usize, ((sx1 as f64 - fsx1) / cell) as f32));
            }
            for s in sx1..sx2 {
                t.push((s as usize, (1.0 / cell) as f32));
            }
            if fsx2 - sx2 as f64 > 1e-3 {
                t.push((
                    sx2 as usize,
                    ((fsx2 - sx2 as f64).min(1.0).min(cell) / cell) as f32,
                ));
            }
            t
        })
        .collect()
}

/// Non-integer downscale: float box weights per axis, rows summed in f32, rounded half to even.
fn area_general(img: &Image, dw: usize, dh: usize, sx: f64, sy: f64) -> Image {
    let (sw, sh, c) = (img.width, img.height, img.channels);
    let tx = area_tab(sw, dw, sx);
    let ty = area_tab(sh, dh, sy);
    let mut out = Image::new(dw, dh, c);
    let mut buf = vec![0f32; dw * c];
    for (dy, ytaps) in ty.iter().enumerate() {
        let mut sum = vec![0f32; dw * c];
        for &(y, beta) in ytaps {
            for (dx, xt) in tx.iter().enumerate() {
                for ch in 0..c {
                    buf[dx * c + ch] = xt.iter().fold(0f32, |a, &(x, alpha)| {
                        a + img.data[(y * sw + x) * c + ch] * alpha
                    });
                }
            }
            for (s, b) in sum.iter_mut().zip(&buf) {
                *s += beta * b;
            }
        }
        for (i, s) in sum.iter().enumerate() {
            out.data[dy * dw * c + i] = cv_round(*s as f64).clamp(0, 255) as f32;
        }
    }
    let _ = sh;
    out
}
