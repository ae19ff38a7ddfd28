//! The mismatch detector on the model: given the tensors a user's app fed the model and the
//! photos they came from, which pipeline reproduces them ([`crate::preprocess::matcher`]) and
//! what each step where quantscope's current pipeline differs costs on the model's output —
//! top-1 flips and output SQNR against the output on the user's own tensor ("your app's
//! BILINEAR without antialias costs 2 top-1 flips on these photos").

use super::view::{diverging, input_pixels, Rgb8};
use super::{to_value, CompareError};
use crate::engine::kernels::cast::dequantize_value;
use crate::engine::{Engine, EngineOptions, Keep};
use crate::model::{DType, Model};
use crate::preprocess::matcher::{match_tensor, MatchReport};
use crate::preprocess::{prepare, Exif, InputSpec, InputTensor, Preprocess};
use image::RgbImage;
use ndarray::{ArrayD, IxDyn};
use serde::Serialize;

/// One photo with the tensor the user's app made from it.
pub struct MatchPhoto {
    pub name: String,
    /// Decoded without EXIF orientation.
    pub raw: RgbImage,
    /// Decoded with EXIF orientation applied (the same pixels when the photo has no tag).
    pub oriented: RgbImage,
    /// The user's tensor in the model input's layout, values as stored (levels for integers).
    pub tensor: ArrayD<f32>,
}

/// A pipeline's tensor through the model, against the user's tensor through it.
#[derive(Clone, Debug, Serialize)]
pub struct OutputEffect {
    /// The model's top-1 class (argmax of output 0) on this pipeline's tensor.
    pub top1: usize,
    /// Whether it differs from the top-1 on the user's tensor.
    pub top1_flip: bool,
    /// Output 0 SQNR against the output on the user's tensor; `None`: identical outputs.
    pub output_sqnr_db: Option<f64>,
    #[serde(skip)]
    sums: (f64, f64),
}

/// One photo: the input match and the output effect of the best match, the current pipeline
/// and each differing step (parallel to `report.steps`).
#[derive(Clone, Debug, Serialize)]
pub struct PhotoMatch {
    pub image: String,
    /// The model's top-1 class on the user's tensor.
    pub user_top1: usize,
    pub report: MatchReport,
    pub best: OutputEffect,
    pub current: OutputEffect,
    pub steps: Vec<OutputEffect>,
}

/// One step over all photos where it differs.
#[derive(Clone, Debug, Serialize)]
pub struct StepCost {
    pub step: String,
    /// The best matches' choice for this step (distinct values over the photos).
    pub matched: Vec<String>,
    pub current: String,
    /// Photos where the current pipeline differs from the best match in this step.
    pub photos: usize,
    /// What taking only this step from the current pipeline costs over those photos.
    #[serde(flatten)]
    pub cost: PipelineCost,
}

/// What a pipeline (the best match, the current one, or one step of the current one) costs
/// over its photos.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineCost {
    /// Photos whose top-1 differs from the user's tensor's.
    pub top1_flips: usize,
    /// Output SQNR pooled over the photos (signal and error energy summed); `None`: no change.
    pub output_sqnr_db: Option<f64>,
    /// The lowest per-photo output SQNR.
    pub worst_output_sqnr_db: Option<f64>,
    /// Mean input distance to the user's tensors in 0..255 pixel levels.
    pub mean_pixel_levels: f64,
}

/// The report of `--match-input`: field names are stable (the CLI's JSON).
#[derive(Clone, Debug, Serialize)]
pub struct PipelineMatch {
    /// The model the tensors were run through.
    pub model: String,
    /// The output whose top-1 and SQNR are reported (always 0, the primary output).
    pub output: usize,
    pub photos: usize,
    /// Photos whose best match reproduces the user's tensor within half a pixel level.
    pub reproduced: usize,
    /// The best match's label when every photo has the same best match.
    pub matched: Option<String>,
    pub current: String,
    pub matched_cost: PipelineCost,
    pub current_cost: PipelineCost,
    /// Each step where the current pipeline differs from a best match, in pipeline order.
    pub steps: Vec<StepCost>,
    pub per_photo: Vec<PhotoMatch>,
}

/// The user's tensor as the model input's dtype: integer inputs take integer values in range.
pub fn user_input(t: &ArrayD<f32>, spec: &InputSpec) -> Result<InputTensor, CompareError> {
    let shape: Vec<usize> = spec.shape.iter().map(|&d| d as usize).collect();
    let t = t
        .clone()
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|_| {
            CompareError::Msg(format!(
                "the tensor has {} values; the model input {} takes {:?}",
                t.len(),
                spec.name,
                spec.shape
            ))
        })?;
    if spec.dtype == DType::F32 {
        return Ok(InputTensor::F32(t));
    }
    let (lo, hi) = spec.dtype.int_range().unwrap_or((0, 0));
    if let Some(bad) = t
        .iter()
        .find(|&&v| v.fract() != 0.0 || !(lo as f32..=hi as f32).contains(&v))
    {
        return Err(CompareError::Msg(format!(
            "the tensor holds {bad}, not a {} value: the model input {} is {}",
            spec.dtype.name(),
            spec.name,
            spec.dtype.name()
        )));
    }
    Ok(match spec.dtype {
        DType::I8 => InputTensor::I8(t.mapv(|v| v as i8)),
        DType::U8 => InputTensor::U8(t.mapv(|v| v as u8)),
        DType::I16 => InputTensor::I16(t.mapv(|v| v as i16)),
        other => {
            return Err(CompareError::Msg(format!(
                "the model input {} is {}: images cannot be fed to it",
                spec.name,
                other.name()
            )))
        }
    })
}

/// Whether every user tensor can be fed to `model`'s input 0 (its dtype's values, its size).
pub fn accepts(model: &Model, photos: &[MatchPhoto]) -> bool {
    InputSpec::from_model(model, 0, None)
        .is_ok_and(|spec| photos.iter().all(|p| user_input(&p.tensor, &spec).is_ok()))
}

struct Runner<'m> {
    model: &'m Model,
    engine: Engine<'m>,
}

impl Runner<'_> {
    /// Output 0, dequantized.
    fn output(&mut self, t: &InputTensor) -> Result<Vec<f32>, CompareError> {
        let r = self.engine.invoke(&[to_value(t)])?;
        let sg = &self.model.subgraphs[0];
        let v = r
            .outputs
            .first()
            .ok_or_else(|| CompareError::Msg("the model has no output".into()))?;
        let q = sg.tensors[sg.outputs[0] as usize].quantization.as_ref();
        Ok(dequantize_value(v, q)?.iter().copied().collect())
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn effect(reference: &[f32], out: &[f32]) -> OutputEffect {
    let (mut sx, mut se) = (0f64, 0f64);
    for (&r, &o) in reference.iter().zip(out) {
        sx += (r as f64).powi(2);
        se += (r as f64 - o as f64).powi(2);
    }
    OutputEffect {
        top1: argmax(out),
        top1_flip: argmax(out) != argmax(reference),
        output_sqnr_db: crate::quant::metrics::sqnr_db(sx, se),
        sums: (sx, se),
    }
}

fn pool<'a>(effects: impl Iterator<Item = &'a OutputEffect>) -> (usize, Option<f64>, Option<f64>) {
    let (mut flips, mut sx, mut se, mut worst) = (0, 0f64, 0f64, None::<f64>);
    for e in effects {
        flips += e.top1_flip as usize;
        sx += e.sums.0;
        se += e.sums.1;
        if let Some(s) = e.output_sqnr_db {
            worst = Some(worst.map_or(s, |w| w.min(s)));
        }
    }
    (flips, crate::quant::metrics::sqnr_db(sx, se), worst)
}

fn pipeline_cost<'a>(
    effects: impl Iterator<Item = &'a OutputEffect>,
    levels: impl Iterator<Item = f32>,
) -> PipelineCost {
    let (top1_flips, output_sqnr_db, worst_output_sqnr_db) = pool(effects);
    let l: Vec<f32> = levels.collect();
    PipelineCost {
        top1_flips,
        output_sqnr_db,
        worst_output_sqnr_db,
        mean_pixel_levels: l.iter().map(|&x| x as f64).sum::<f64>() / l.len().max(1) as f64,
    }
}

fn image_for<'a>(p: &'a MatchPhoto, pp: &Preprocess) -> &'a RgbImage {
    if pp.exif == Exif::Apply {
        &p.oriented
    } else {
        &p.raw
    }
}

/// Matches every photo's tensor and runs the user's tensors, the best matches, the current
/// pipeline and each one-step variant through `model` (input 0, output 0).
pub fn match_pipeline(
    model: &Model,
    model_name: &str,
    photos: &[MatchPhoto],
    current: &Preprocess,
    engine: EngineOptions,
) -> Result<PipelineMatch, CompareError> {
    if photos.is_empty() {
        return Err(CompareError::Msg("no photos to match".into()));
    }
    let spec = InputSpec::from_model(model, 0, Some(current.layout))?;
    let mut run = Runner {
        model,
        engine: Engine::new(
            model,
            EngineOptions {
                keep: Keep::Outputs,
                ..engine
            },
        )?,
    };
    let mut per_photo = Vec::new();
    for p in photos {
        let report = match_tensor(&p.raw, &p.oriented, &spec, current, &p.tensor)?;
        let reference = run.output(&user_input(&p.tensor, &spec)?)?;
        let mut out = |pp: &Preprocess| -> Result<OutputEffect, CompareError> {
            let prepared = prepare(image_for(p, pp), &spec, pp)?;
            Ok(effect(&reference, &run.output(&prepared.tensor)?))
        };
        let best = out(&report.ranked[0].preprocess)?;
        let cur = out(current)?;
        let steps = report
            .steps
            .iter()
            .map(|s| out(&s.preprocess))
            .collect::<Result<Vec<_>, _>>()?;
        per_photo.push(PhotoMatch {
            image: p.name.clone(),
            user_top1: argmax(&reference),
            report,
            best,
            current: cur,
            steps,
        });
    }
    let mut steps: Vec<StepCost> = Vec::new();
    for ph in &per_photo {
        for s in &ph.report.steps {
            if !steps.iter().any(|c| c.step == s.step) {
                let here = || {
                    per_photo.iter().flat_map(|q| {
                        q.report
                            .steps
                            .iter()
                            .zip(&q.steps)
                            .filter(|(d, _)| d.step == s.step)
                    })
                };
                let mut matched: Vec<String> = here().map(|(d, _)| d.matched.clone()).collect();
                matched.sort();
                matched.dedup();
                let n = here().count();
                steps.push(StepCost {
                    step: s.step.clone(),
                    matched,
                    current: s.current.clone(),
                    photos: n,
                    cost: pipeline_cost(
                        here().map(|(_, e)| e),
                        here().map(|(d, _)| d.distance.mean_pixel_levels),
                    ),
                });
            }
        }
    }
    let first = &per_photo[0].report.ranked[0].label;
    let same = per_photo.iter().all(|p| &p.report.ranked[0].label == first);
    Ok(PipelineMatch {
        model: model_name.to_string(),
        output: 0,
        photos: per_photo.len(),
        reproduced: per_photo.iter().filter(|p| p.report.reproduced).count(),
        matched: same.then(|| first.clone()),
        current: per_photo[0].report.current.label.clone(),
        matched_cost: pipeline_cost(
            per_photo.iter().map(|p| &p.best),
            per_photo
                .iter()
                .map(|p| p.report.ranked[0].distance.mean_pixel_levels),
        ),
        current_cost: pipeline_cost(
            per_photo.iter().map(|p| &p.current),
            per_photo
                .iter()
                .map(|p| p.report.current.distance.mean_pixel_levels),
        ),
        steps,
        per_photo,
    })
}

/// The user's tensor, the tensor `pp` makes from the photo, and their difference (`ours -
/// user`, blue negative, red positive, scaled to the largest difference) as images, for the
/// GUI; also that largest difference in the tensor's units.
pub fn tensor_images(
    photo: &MatchPhoto,
    spec: &InputSpec,
    pp: &Preprocess,
) -> Result<([Rgb8; 3], f32), CompareError> {
    let user = user_input(&photo.tensor, spec)?;
    let ours = prepare(image_for(photo, pp), spec, pp)?.tensor;
    let px = |t: &InputTensor| {
        input_pixels(t, pp.layout)
            .ok_or_else(|| CompareError::Msg("the input is not an image tensor".into()))
    };
    let vals = |t: &InputTensor| -> Vec<f32> {
        match t {
            InputTensor::F32(a) => a.iter().copied().collect(),
            InputTensor::I8(a) => a.iter().map(|&v| v as f32).collect(),
            InputTensor::U8(a) => a.iter().map(|&v| v as f32).collect(),
            InputTensor::I16(a) => a.iter().map(|&v| v as f32).collect(),
        }
    };
    let diff: Vec<f32> = vals(&ours)
        .iter()
        .zip(vals(&user))
        .map(|(a, b)| a - b)
        .collect();
    let max = diff.iter().fold(0f32, |m, &d| m.max(d.abs()));
    let (u, o) = (px(&user)?, px(&ours)?);
    let (h, w) = (u.height, u.width);
    let c = diff.len() / (h * w).max(1);
    // The difference of the channel that differs most at each pixel, signed.
    let at = |y: usize, x: usize| -> f32 {
        (0..c)
            .map(|ch| match pp.layout {
                crate::preprocess::Layout::Nhwc => diff[(y * w + x) * c + ch],
                crate::preprocess::Layout::Nchw => diff[(ch * h + y) * w + x],
            })
            .fold(0f32, |m, d| if d.abs() > m.abs() { d } else { m })
    };
    let pixels = (0..h)
        .flat_map(|y| (0..w).map(move |x| (y, x)))
        .flat_map(|(y, x)| diverging(at(y, x) / max.max(1e-12)))
        .collect();
    Ok((
        [
            u,
            o,
            Rgb8 {
                width: w,
                height: h,
                pixels,
            },
        ],
        max,
    ))
}
