//! Pillow's `Image.resize` (libImaging/Resample.c) and torchvision's antialiased tensor resize
//! (ATen UpSampleKernel, uint8 path), which ports the same convolution resampler with 16-bit
//! weights instead of Pillow's 22-bit ones.
//!
//! Both: separable, horizontal pass first (rounded to u8), then vertical; each output sample is
//! a window of the filter stretched by the downscale factor (antialiasing), weights normalised to
//! 1 then rounded to fixed point; `(sum + half) >> bits` clamped to 0..255.

use super::Image;

/// Pillow's filters: (kernel, support).
pub(super) fn filter(f: super::Filter) -> Option<(fn(f64) -> f64, f64)> {
    use super::Filter::*;
    Some(match f {
        Area => (box_filter as fn(f64) -> f64, 0.5),
        Bilinear => (triangle, 1.0),
        Bicubic => (bicubic, 2.0),
        Lanczos => (lanczos, 3.0),
        Nearest => return None,
    })
}

fn box_filter(x: f64) -> f64 {
    if x > -0.5 && x <= 0.5 {
        1.0
    } else {
        0.0
    }
}

fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Keys cubic with a = -0.5 (Pillow and torchvision's antialiased bicubic).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

fn lanczos(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Per output index: first source index and normalised weights (`precompute_coeffs`).
fn coeffs(
    in_size: usize,
    out_size: usize,
    kernel: fn(f64) -> f64,
    support: f64,
) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = support * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C casts truncate toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut k: Vec<f64> = (xmin..xmax.max(xmin))
                .map(|x| kernel((x as f64 - center + 0.5) / filterscale))
                .collect();
            let ww: f64 = k.iter().sum();
            if ww != 0.0 {
                k.iter_mut().for_each(|w| *w /= ww);
            }
            (xmin, k)
        })
        .collect()
}

/// Fixed-point weights: Pillow rounds half away from zero at `bits`.
fn fixed(k: &[f64], bits: u32) -> Vec<i32> {
    k.iter()
        .map(|&w| {
            let v = w * (1i64 << bits) as f64;
            if v < 0.0 {
                (-0.5 + v) as i32
            } else {
                (0.5 + v) as i32
            }
        })
        .collect()
}

/// Which fixed-point precision: Pillow's constant 22 bits, or torch's largest precision at which
/// the largest weight of the axis still fits an int16.
#[derive(Clone, Copy)]
pub(super) enum Precision {
    Pillow,
    Torch,
}

fn bits_for(taps: &[(usize, Vec<f64>)], p: Precision) -> u32 {
    match p {
        Precision::Pillow => 22,
        Precision::Torch => {
            let w_max = taps
                .iter()
                .flat_map(|(_, k)| k.iter().copied())
                .fold(0.0f64, f64::max);
            let mut bits = 0;
            while bits < 15 {
                let next = (0.5 + w_max * (1i64 << (bits + 1)) as f64) as i64;
                if next >= 1 << 15 {
                    break;
                }
                bits += 1;
            }
            bits
        }
    }
}

fn clip8(ss: i64, bits: u32) -> f32 {
    (ss >> bits).clamp(0, 255) as f32
}

/// One pass along x (`horizontal`) or y over an interleaved u8-valued image.
fn pass(
    img: &Image,
    out_len: usize,
    horizontal: bool,
    flt: (fn(f64) -> f64, f64),
    p: Precision,
) -> Image {
    let (w, h, c) = (img.width, img.height, img.channels);
    let in_len = if horizontal { w } else { h };
    let taps = coeffs(in_len, out_len, flt.0, flt.1);
    let bits = bits_for(&taps, p);
    let fixed_taps: Vec<(usize, Vec<i32>)> =
        taps.iter().map(|(s, k)| (*s, fixed(k, bits))).collect();
    let (ow, oh) = if horizontal {
        (out_len, h)
    } else {
        (w, out_len)
    };
    let mut out = Image::new(ow, oh, c);
    let half = 1i64 << bits.max(1) >> 1;
    for y in 0..oh {
        for x in 0..ow {
            let (d, other) = if horizontal { (x, y) } else { (y, x) };
            let (start, k) = &fixed_taps[d];
            for ch in 0..c {
                let mut ss = half;
                for (i, &kw) in k.iter().enumerate() {
                    let (sx, sy) = if horizontal {
                        (start + i, other)
                    } else {
                        (other, start + i)
                    };
                    ss += img.data[(sy * w + sx) * c + ch] as i64 * kw as i64;
                }
                out.data[(y * ow + x) * c + ch] = clip8(ss, bits);
            }
        }
    }
    out
}

/// Convolution resize of a u8-valued image (horizontal pass first, as both libraries do).
pub(super) fn convolve(img: &Image, dw: usize, dh: usize, f: super::Filter, p: Precision) -> Image {
    let flt = filter(f).expect("convolution filter");
    let mut cur = img.clone();
    if dw != cur.width {
        cur = pass(&cur, dw, true, flt, p);
    }
    if dh != cur.height {
        cur = pass(&cur, dh, false, flt, p);
    }
    cur
}

/// Pillow NEAREST: the affine transform path, source = floor(x0 + (x + 0.5) * scale), the
/// coordinate accumulated step by step in f64 as `ImagingScaleAffine` does.
pub(super) fn nearest_pillow(img: &Image, dw: usize, dh: usize) -> Image {
    let axis = |n: usize, out: usize| -> Vec<usize> {
        let a = n as f64 / out as f64;
        let mut o = a * 0.5;
        (0..out)
            .map(|_| {
                let i = if o < 0.0 { 0 } else { (o as usize).min(n - 1) };
                o += a;
                i
            })
            .collect()
    };
    super::gather(img, &axis(img.width, dw), &axis(img.height, dh))
}

/// torch's legacy `nearest`: source = min(floor(x * (in / out) as f32), in - 1).
pub(super) fn nearest_torch(img: &Image, dw: usize, dh: usize) -> Image {
    let axis = |n: usize, out: usize| -> Vec<usize> {
        let scale = n as f32 / out as f32;
        (0..out)
            .map(|x| ((x as f32 * scale).floor() as usize).min(n - 1))
            .collect()
    };
    super::gather(img, &axis(img.width, dw), &axis(img.height, dh))
}
