//! Geometry as a user's pipeline writes it: optional shorter-side resize (torchvision
//! `Resize(int)`), an integer centre crop by one of the libraries' conventions, and the final
//! resize to the model's size, each with the chosen library's resampler.

use super::libs::{self, Image, ResizeLib};
use super::{Preprocess, PreprocessError, ResizeMode};
use serde::Serialize;

/// Where a centre crop starts and how big it is: the conventions differ by a pixel, which moves
/// every sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CropRule {
    /// Side `round(f * min(W, H))` (Python round), origin `((W - s) // 2, (H - s) // 2)`: Pillow
    /// and Keras evaluation scripts.
    Floor,
    /// torchvision `CenterCrop`: origin `int(round((W - s) / 2))`.
    Round,
    /// `tf.image.central_crop(f)`: per axis start `int((D - D * f) / 2)`, size `D - 2 * start`
    /// (ignores the model's aspect ratio).
    TfCentral,
}

impl CropRule {
    pub fn parse(s: &str) -> Option<CropRule> {
        match s {
            "floor" => Some(CropRule::Floor),
            "round" => Some(CropRule::Round),
            "tf-central" => Some(CropRule::TfCentral),
            _ => None,
        }
    }

    /// The convention a library's users usually write.
    pub fn usual_for(lib: ResizeLib) -> CropRule {
        match lib {
            ResizeLib::Tf => CropRule::TfCentral,
            ResizeLib::Torchvision => CropRule::Round,
            _ => CropRule::Floor,
        }
    }
}

/// Python's round(): half to even.
fn py_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// torchvision `Resize(n)`: the shorter side becomes `n`, the longer `int(n * long / short)`.
pub fn shorter_side_size(w: usize, h: usize, n: usize) -> (usize, usize) {
    if w <= h {
        (n, ((n as f64 * h as f64 / w as f64) as usize).max(1))
    } else {
        (((n as f64 * w as f64 / h as f64) as usize).max(1), n)
    }
}

/// The crop box (x0, y0, w, h) in a `w` x `h` image for a model of `dw` x `dh`.
/// `exact_size`: crop exactly the model's size (after a shorter-side resize), else the largest
/// box of the model's aspect ratio scaled by `fraction`.
pub fn crop_box(
    w: usize,
    h: usize,
    dw: usize,
    dh: usize,
    fraction: f64,
    rule: CropRule,
    exact_size: bool,
) -> (usize, usize, usize, usize) {
    if rule == CropRule::TfCentral && !exact_size {
        let axis = |d: usize| {
            let d = d as f64;
            let start = ((d - d * fraction) / 2.0) as usize;
            (start, (d as usize - 2 * start).max(1))
        };
        let ((x0, cw), (y0, ch)) = (axis(w), axis(h));
        return (x0, y0, cw, ch);
    }
    let (cw, ch) = if exact_size {
        (dw.min(w), dh.min(h))
    } else {
        let aspect = dw as f64 / dh as f64;
        let (bw, bh) = if w as f64 / h as f64 > aspect {
            (h as f64 * aspect, h as f64)
        } else {
            (w as f64, w as f64 / aspect)
        };
        let side = |v: f64, max: usize| (py_round(v * fraction).max(1) as usize).min(max);
        (side(bw, w), side(bh, h))
    };
    let origin = |d: usize, c: usize| match rule {
        CropRule::Round => py_round((d - c) as f64 / 2.0) as usize,
        _ => (d - c) / 2,
    };
    (origin(w, cw), origin(h, ch), cw, ch)
}

/// Runs the geometry of `pp` on `img`, giving `dw` x `dh`, and the steps it took.
pub(super) fn geometry(
    img: &Image,
    dw: usize,
    dh: usize,
    pp: &Preprocess,
) -> Result<(Image, Vec<String>), PreprocessError> {
    let lib = pp.resize_lib;
    let fname = lib.filter_name(pp.filter)?;
    let mut steps = Vec::new();
    let mut cur = img.clone();
    let rs = |cur: &Image, w: usize, h: usize, steps: &mut Vec<String>| {
        steps.push(format!(
            "resize {}x{} -> {w}x{h} with {} {fname}",
            cur.width,
            cur.height,
            lib.name()
        ));
        libs::resize(cur, w, h, lib, pp.filter)
    };
    if let Some(n) = pp.shorter_side {
        let (w, h) = shorter_side_size(cur.width, cur.height, n as usize);
        cur = rs(&cur, w, h, &mut steps)?;
    }
    match pp.resize {
        ResizeMode::Stretch => {}
        ResizeMode::CenterCrop => {
            let rule = pp.crop_rule.unwrap_or(CropRule::usual_for(lib));
            let (x0, y0, cw, ch) = crop_box(
                cur.width,
                cur.height,
                dw,
                dh,
                pp.crop_fraction as f64,
                rule,
                pp.shorter_side.is_some(),
            );
            steps.push(format!(
                "crop {cw}x{ch} at ({x0}, {y0}) from {}x{} ({rule:?} convention)",
                cur.width, cur.height
            ));
            cur = cur.crop(x0, y0, cw, ch);
        }
        ResizeMode::Letterbox => {
            let scale = (dw as f64 / cur.width as f64).min(dh as f64 / cur.height as f64);
            let nw = ((cur.width as f64 * scale).round() as usize).clamp(1, dw);
            let nh = ((cur.height as f64 * scale).round() as usize).clamp(1, dh);
            let inner = rs(&cur, nw, nh, &mut steps)?;
            let (ox, oy) = ((dw - nw) / 2, (dh - nh) / 2);
            let c = inner.channels;
            let mut out = Image::new(dw, dh, c);
            for (i, v) in out.data.iter_mut().enumerate() {
                *v = pp.pad_color[(i % c).min(2)] as f32;
            }
            for y in 0..nh {
                let d = ((oy + y) * dw + ox) * c;
                out.data[d..d + nw * c].copy_from_slice(&inner.data[y * nw * c..(y + 1) * nw * c]);
            }
            steps.push(format!(
                "pad to {dw}x{dh} at ({ox}, {oy}) with {:?}",
                pp.pad_color
            ));
            return Ok((out, steps));
        }
    }
    if (cur.width, cur.height) != (dw, dh) {
        cur = rs(&cur, dw, dh, &mut steps)?;
    }
    Ok((cur, steps))
}
