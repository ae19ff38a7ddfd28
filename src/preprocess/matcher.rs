//! The mismatch detector: given the tensor a user's app fed the model and the photo it came
//! from, find the pipeline that reproduces it (library, filter, crop, channel order, value
//! mapping, EXIF handling), or the closest, and how far each step of quantscope's current
//! choice is from it.

use super::libs::ResizeLib;
use super::{
    geometry_planes, prepare, prepare_planes, ChannelOrder, CropRule, Exif, InputSpec, InputTensor,
    Preprocess, PreprocessError, ResizeMode, ValueRange,
};
use image::RgbImage;
use ndarray::ArrayD;
use serde::Serialize;

/// How far a candidate's tensor is from the user's, in the tensor's own units (quantized levels
/// for integer inputs) and in 0..255 pixel levels.
#[derive(Clone, Debug, Serialize)]
pub struct Distance {
    pub max_abs: f32,
    pub mean_abs: f32,
    /// Share of values within half a pixel level.
    pub same_share: f64,
    pub max_pixel_levels: f32,
    pub mean_pixel_levels: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub label: String,
    pub preprocess: Preprocess,
    pub distance: Distance,
}

/// One step of the current pipeline swapped into the best match: what that step alone costs.
#[derive(Clone, Debug, Serialize)]
pub struct StepDifference {
    pub step: String,
    pub matched: String,
    pub current: String,
    /// The best match with only this step taken from the current pipeline.
    pub preprocess: Preprocess,
    /// Distance to the user's tensor with only this step taken from the current pipeline.
    pub distance: Distance,
}

#[derive(Clone, Debug, Serialize)]
pub struct MatchReport {
    /// Best first; at most 10.
    pub ranked: Vec<Candidate>,
    /// The current pipeline (detected defaults and flags) against the user's tensor.
    pub current: Candidate,
    pub steps: Vec<StepDifference>,
    /// Pipelines tried.
    pub tried: usize,
    /// Whether the best match is exact within half a pixel level everywhere.
    pub reproduced: bool,
}

fn tensor_values(t: &InputTensor) -> Vec<f32> {
    match t {
        InputTensor::F32(a) => a.iter().copied().collect(),
        InputTensor::I8(a) => a.iter().map(|&v| v as f32).collect(),
        InputTensor::U8(a) => a.iter().map(|&v| v as f32).collect(),
        InputTensor::I16(a) => a.iter().map(|&v| v as f32).collect(),
    }
}

/// `units_per_level`: tensor units per 0..255 pixel level (1/std, divided by the input scale
/// for integer inputs).
fn distance(ours: &[f32], user: &[f32], units_per_level: f32) -> Distance {
    let n = ours.len().max(1);
    let (mut max, mut sum, mut same) = (0f32, 0f64, 0usize);
    for (a, b) in ours.iter().zip(user) {
        let d = (a - b).abs();
        max = max.max(d);
        sum += d as f64;
        if d <= 0.5 * units_per_level.abs() + 1e-6 {
            same += 1;
        }
    }
    let mean = (sum / n as f64) as f32;
    let u = units_per_level.abs().max(1e-12);
    Distance {
        max_abs: max,
        mean_abs: mean,
        same_share: same as f64 / n as f64,
        max_pixel_levels: max / u,
        mean_pixel_levels: mean / u,
    }
}

/// A step of a pipeline: its name, how it reads, and how to take it from another pipeline.
type Step = (
    &'static str,
    fn(&Preprocess) -> String,
    fn(&mut Preprocess, &Preprocess),
);

/// The steps `match` swaps one at a time from the current pipeline into the best match, in
/// pipeline order.
const STEPS: [Step; 5] = [
    (
        "resize library and filter",
        |p| format!("{} {:?}", p.resize_lib.name(), p.filter),
        |p, from| {
            p.resize_lib = from.resize_lib;
            p.filter = from.filter;
        },
    ),
    (
        "crop",
        |p| {
            format!(
                "{:?} fraction {} rule {:?} shorter side {:?}",
                p.resize, p.crop_fraction, p.crop_rule, p.shorter_side
            )
        },
        |p, from| {
            p.resize = from.resize;
            p.crop_fraction = from.crop_fraction;
            p.crop_rule = from.crop_rule;
            p.shorter_side = from.shorter_side;
        },
    ),
    (
        "channel order",
        |p| format!("{:?}", p.channels),
        |p, from| p.channels = from.channels,
    ),
    (
        "value range",
        |p| p.range.label(),
        |p, from| p.range = from.range.clone(),
    ),
    (
        "EXIF orientation",
        |p| format!("{:?}", p.exif),
        |p, from| p.exif = from.exif,
    ),
];

pub fn label(pp: &Preprocess) -> String {
    let geo = match pp.resize {
        ResizeMode::Stretch => "stretch".to_string(),
        ResizeMode::Letterbox => "letterbox".to_string(),
        ResizeMode::CenterCrop => format!(
            "{}center-crop {} {:?}",
            pp.shorter_side
                .map_or(String::new(), |n| format!("shorter side {n}, ")),
            pp.crop_fraction,
            pp.crop_rule.unwrap_or(CropRule::usual_for(pp.resize_lib))
        ),
    };
    format!(
        "{}{} {:?}, {geo}, {:?}, {}, EXIF {:?}",
        pp.pipeline
            .as_ref()
            .map_or(String::new(), |p| format!("[{p}] ")),
        pp.resize_lib.name(),
        pp.filter,
        pp.channels,
        pp.range.label(),
        pp.exif
    )
    .to_lowercase()
}

/// Geometry variants: every library/filter with stretch, centre crops by each convention at
/// 0.875 and 1.0, and torchvision's shorter-side-then-crop.
fn geometries(base: &Preprocess, w: usize, h: usize) -> Vec<Preprocess> {
    let mut out = Vec::new();
    let short = (w.min(h) as f64 / 0.875).round() as u32;
    // Libraries before quantscope's own resampler: on a tie the user's library ranks first.
    let libs = ResizeLib::ALL
        .iter()
        .filter(|&&l| l != ResizeLib::Quantscope);
    for &lib in libs.chain([&ResizeLib::Quantscope]) {
        for &(filter, _) in lib.filters() {
            let g = Preprocess {
                resize_lib: lib,
                filter,
                pipeline: None,
                ..base.clone()
            };
            out.push(Preprocess {
                resize: ResizeMode::Stretch,
                crop_rule: None,
                shorter_side: None,
                ..g.clone()
            });
            for rule in [CropRule::Floor, CropRule::Round, CropRule::TfCentral] {
                for fraction in [0.875, 1.0] {
                    out.push(Preprocess {
                        resize: ResizeMode::CenterCrop,
                        crop_rule: Some(rule),
                        crop_fraction: fraction,
                        shorter_side: None,
                        ..g.clone()
                    });
                }
            }
            out.push(Preprocess {
                resize: ResizeMode::CenterCrop,
                crop_rule: Some(CropRule::Round),
                crop_fraction: 1.0,
                shorter_side: Some(short),
                ..g.clone()
            });
        }
    }
    out
}

/// Finds the pipeline that reproduces `user` (the tensor in the model's dtype and layout) from
/// the photo. `raw` is the photo decoded without EXIF orientation, `oriented` with it (pass the
/// same image twice when it has no orientation tag). `current` is what quantscope would do.
pub fn match_tensor(
    raw: &RgbImage,
    oriented: &RgbImage,
    spec: &InputSpec,
    current: &Preprocess,
    user: &ArrayD<f32>,
) -> Result<MatchReport, PreprocessError> {
    let want_len: usize = spec.shape.iter().map(|&d| d as usize).product();
    if user.len() != want_len {
        return Err(PreprocessError::Unsupported(format!(
            "the given tensor has {} values ({:?}); the model input {} takes {want_len} ({:?})",
            user.len(),
            user.shape(),
            spec.name,
            spec.shape
        )));
    }
    let user: Vec<f32> = user.iter().copied().collect();
    let exif_differs = raw.dimensions() != oriented.dimensions() || raw != oriented;
    let per_level = |pp: &Preprocess| {
        let (_, std) = pp.range.mean_std();
        let q = spec.quant.map_or(1.0, |(s, _)| s);
        1.0 / (std[0] * q)
    };
    let eval = |pp: &Preprocess| -> Result<Candidate, PreprocessError> {
        let img = if pp.exif == Exif::Apply {
            oriented
        } else {
            raw
        };
        let p = prepare(img, spec, pp)?;
        Ok(Candidate {
            label: label(pp),
            preprocess: pp.clone(),
            distance: distance(&tensor_values(&p.tensor), &user, per_level(pp)),
        })
    };
    let mut ranges: Vec<ValueRange> = ValueRange::presets().to_vec();
    ranges.push(ValueRange::Custom {
        mean: [127.0; 3],
        std: [128.0; 3],
    });
    if !ranges.contains(&current.range) {
        ranges.push(current.range.clone());
    }
    let exifs: &[Exif] = if exif_differs {
        &[Exif::Ignore, Exif::Apply]
    } else {
        &[current.exif]
    };
    let mut all = Vec::new();
    // One geometry serves every channel order and value mapping: only the mapping is redone.
    for g in geometries(current, spec.width, spec.height) {
        for &exif in exifs {
            let img = if exif == Exif::Apply { oriented } else { raw };
            let geo = Preprocess { exif, ..g.clone() };
            let (planes, steps) = geometry_planes(img, spec, &geo)?;
            for channels in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
                for range in &ranges {
                    let pp = Preprocess {
                        channels,
                        range: range.clone(),
                        ..geo.clone()
                    };
                    let p = prepare_planes(planes.clone(), steps.clone(), spec, &pp)?;
                    all.push(Candidate {
                        label: label(&pp),
                        distance: distance(&tensor_values(&p.tensor), &user, per_level(&pp)),
                        preprocess: pp,
                    });
                }
            }
        }
    }
    let tried = all.len();
    all.sort_by(|a, b| {
        (a.distance.mean_pixel_levels, a.distance.max_pixel_levels)
            .partial_cmp(&(b.distance.mean_pixel_levels, b.distance.max_pixel_levels))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    all.truncate(10);
    let best = all[0].preprocess.clone();
    let cur = eval(current)?;
    let mut steps = Vec::new();
    for (name, describe, take) in STEPS {
        let (matched, current_text) = (describe(&best), describe(current));
        if matched != current_text {
            let mut pp = best.clone();
            take(&mut pp, current);
            steps.push(StepDifference {
                step: name.into(),
                matched,
                current: current_text,
                distance: eval(&pp)?.distance,
                preprocess: pp,
            });
        }
    }
    let reproduced = all[0].distance.max_pixel_levels <= 0.5 + 1e-3;
    Ok(MatchReport {
        ranked: all,
        current: cur,
        steps,
        tried,
        reproduced,
    })
}
