//! Float vs quantized on real images: the same image through both models, outputs compared by
//! task, activations compared layer by layer (cumulative and local error), and a detector that
//! tries other channel orders and value presets when the two disagree.

mod outputs;
mod pairing;
pub mod pipeline_match;
mod timings;
mod twin;
pub use timings::Timings;
pub mod view;

pub use outputs::{compare_output, tensor_metrics, Classification, OutputComparison, Scored};
pub use pairing::{is_boundary_op, pair_activations, producers, ActivationPair, PairedBy};
use twin::real_tensors;
pub use twin::{dequantized_constant, float_op_on, into_real, run_float_twin};
pub use view::{ChannelPlanes, Rgb8, TopKRow};

use crate::engine::kernels::cast::dequantize_value;
use crate::engine::{Engine, EngineError, EngineOptions, Keep, Value};
use crate::model::Model;
use crate::preprocess::{
    prepare, ChannelOrder, InputSpec, InputTensor, Prepared, Preprocess, PreprocessError,
    ValueRange,
};
use crate::quant::metrics::ErrorMetrics;
use image::RgbImage;
use ndarray::ArrayD;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error("{0}")]
    Msg(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerError {
    pub float_tensor: Option<usize>,
    pub quant_tensor: usize,
    pub name: String,
    pub op: String,
    pub op_index: Option<usize>,
    pub paired_by: Option<PairedBy>,
    /// Float model tensor vs the dequantized quantized tensor: error accumulated up to here.
    pub cumulative: ErrorMetrics,
    /// The quantized op's own error: its float kernel on the dequantized quantized inputs vs its
    /// dequantized output. `None` for model inputs and boundary ops.
    pub local: Option<ErrorMetrics>,
    /// Drop of cumulative SQNR from the previous layer (dB; positive = error grew here).
    pub sqnr_drop_db: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alternative {
    pub channels: ChannelOrder,
    pub range: String,
    pub top1_agree: Option<bool>,
    pub output_sqnr_db: Option<f64>,
    /// The float model's top-1 probability: a wrong mapping usually makes it unsure.
    pub float_top1_prob: Option<f64>,
    /// Share of input values the quantized input clips under this alternative.
    pub input_clipped_fraction: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PreprocessReport {
    pub applied: Preprocess,
    pub why: Vec<String>,
    pub input_clipped_fraction: f64,
    pub input_levels_used: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageComparison {
    pub image: String,
    /// "float model" or "float twin (dequantized constants, float kernels)".
    pub reference: String,
    pub preprocess: PreprocessReport,
    pub outputs: Vec<OutputComparison>,
    pub layers: Vec<LayerError>,
    pub warnings: Vec<String>,
    pub alternatives: Vec<Alternative>,
    /// Whether the other preprocessing settings were tried, and why (or why not).
    pub alternatives_tried: String,
}

#[derive(Clone)]
pub struct CompareOptions {
    pub top_k: usize,
    /// Class names for every output, chosen by the caller; wins over `label_set`.
    pub labels: Option<Vec<String>>,
    /// Per-output class names with their source ([`crate::labels::resolve`]), used where
    /// `labels` is `None`; the source is reported in `Classification::labels_source`.
    pub label_set: crate::labels::LabelSet,
    /// Per-layer errors (costs keeping every tensor of both runs).
    pub layers: bool,
    /// Try the other channel order and value presets when the models disagree.
    pub try_alternatives: bool,
    /// Also try them when the models agree but the float model is unsure (top-1 probability
    /// below 0.5): 7 more pairs of runs, so the CLI asks for it explicitly.
    pub alternatives_when_unsure: bool,
    pub engine: EngineOptions,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            top_k: 5,
            labels: None,
            label_set: Default::default(),
            layers: true,
            try_alternatives: true,
            alternatives_when_unsure: true,
            engine: EngineOptions::default(),
        }
    }
}

pub fn to_value(t: &InputTensor) -> Value {
    match t {
        InputTensor::F32(a) => Value::F32(a.clone()),
        InputTensor::I8(a) => Value::I8(a.clone()),
        InputTensor::U8(a) => Value::U8(a.clone()),
        InputTensor::I16(a) => Value::I16(a.clone()),
    }
}

/// Tensors with quantization parameters (scales or blockwise), across subgraphs.
fn quantized_tensor_count(m: &Model) -> usize {
    m.subgraphs
        .iter()
        .flat_map(|s| &s.tensors)
        .filter(|t| t.quantization.as_ref().is_some_and(|q| q.is_quantized()))
        .count()
}

/// Runs a float model (or a quantized model's float twin) against a quantized model.
pub struct Comparator<'m> {
    float: Option<&'m Model>,
    quant: &'m Model,
    float_engine: Option<Engine<'m>>,
    quant_engine: Engine<'m>,
    pairs: Vec<ActivationPair>,
    opts: CompareOptions,
    /// Wall time per phase, accumulated over calls (`compare --timings`).
    pub timings: Timings,
}

/// The float side of a run pair.
enum FloatRun {
    Model(crate::engine::RunOutput, Box<Prepared>),
    Twin(HashMap<usize, ArrayD<f32>>),
}

impl<'m> Comparator<'m> {
    /// `float = None`: single-model mode, the reference is the quantized model's float twin.
    pub fn new(
        float: Option<&'m Model>,
        quant: &'m Model,
        opts: CompareOptions,
    ) -> Result<Self, CompareError> {
        // Which model is the quantized one is read from the models, not the argument order.
        let (float, quant) = match float {
            Some(f) if quantized_tensor_count(f) > quantized_tensor_count(quant) => {
                (Some(quant), f)
            }
            other => (other, quant),
        };
        let mut timings = Timings::default();
        let t0 = std::time::Instant::now();
        let eo = opts.engine.clone();
        let (quant_engine, float_engine) = rayon::join(
            || Engine::new(quant, eo.clone()),
            || float.map(|f| Engine::new(f, eo.clone())).transpose(),
        );
        let (quant_engine, float_engine) = (quant_engine?, float_engine?);
        let t0 = timings.add("prepare engines", t0);
        if let Some(f) = float {
            let (a, b) = (
                f.subgraphs[0].outputs.len(),
                quant.subgraphs[0].outputs.len(),
            );
            if a != b {
                return Err(CompareError::Msg(format!(
                    "the float model has {a} outputs, the quantized one {b}: not twins"
                )));
            }
        }
        let pairs = match float {
            Some(f) => pair_activations(f, quant),
            None => {
                // The twin has the same graph: every computed tensor pairs with itself.
                let sg = &quant.subgraphs[0];
                let mut p: Vec<ActivationPair> = sg
                    .operators
                    .iter()
                    .flat_map(|op| {
                        op.outputs
                            .iter()
                            .filter(|&&t| t >= 0)
                            .map(move |&t| ActivationPair {
                                float: t as usize,
                                quant: t as usize,
                                quant_op: Some(op.index),
                                op: op.op.clone(),
                                by: PairedBy::Position,
                            })
                    })
                    .collect();
                p.retain(|x| !sg.tensors[x.quant].is_constant);
                p
            }
        };
        timings.add("pair tensors", t0);
        Ok(Comparator {
            float,
            quant,
            float_engine,
            quant_engine,
            pairs,
            opts,
            timings,
        })
    }

    pub fn pairs(&self) -> &[ActivationPair] {
        &self.pairs
    }

    /// Runs both models on one prepared image, at the same time (each run's kernels share the
    /// thread pool); returns the outputs and the tensors each run keeps (float, quantized) as
    /// real values, taken over from the runs rather than copied.
    fn run_pair(
        &mut self,
        img: &RgbImage,
        pp: &Preprocess,
        (fkeep, qkeep): (Keep, Keep),
    ) -> Result<RunPair, CompareError> {
        let t0 = std::time::Instant::now();
        let qspec = InputSpec::from_model(self.quant, 0, Some(pp.layout))?;
        let qprep = prepare(img, &qspec, pp)?;
        let t0 = self.timings.add("preprocess", t0);
        self.quant_engine.options_mut().keep = qkeep;
        let (quant, float) = (self.quant, self.float);
        let quant_engine = &mut self.quant_engine;
        let float_engine = &mut self.float_engine;
        let (qrun, frun) = rayon::join(
            || {
                let t = std::time::Instant::now();
                quant_engine
                    .invoke(&[to_value(&qprep.tensor)])
                    .map(|r| (r, t.elapsed()))
            },
            || -> Result<_, CompareError> {
                let t = std::time::Instant::now();
                match (float_engine, float) {
                    (Some(engine), Some(fm)) => {
                        engine.options_mut().keep = fkeep;
                        let fspec = InputSpec::from_model(fm, 0, Some(pp.layout))?;
                        let fprep = prepare(img, &fspec, pp)?;
                        let r = engine.invoke(&[to_value(&fprep.tensor)])?;
                        Ok((FloatRun::Model(r, Box::new(fprep)), t.elapsed()))
                    }
                    _ => {
                        let r = run_float_twin(quant, std::slice::from_ref(&qprep.real))?;
                        Ok((FloatRun::Twin(r), t.elapsed()))
                    }
                }
            },
        );
        let (qrun, tq) = qrun?;
        let (frun, tf) = frun?;
        let t0 = self.timings.add("both runs at once", t0);
        self.timings
            .add_ms("  quantized run", tq.as_secs_f64() * 1e3);
        self.timings.add_ms(
            "  float run (with its preprocessing)",
            tf.as_secs_f64() * 1e3,
        );
        let qs = &quant.subgraphs[0];
        let qout = qrun
            .outputs
            .iter()
            .zip(&qs.outputs)
            .map(|(v, &t)| dequantize_value(v, qs.tensors[t as usize].quantization.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let (fout, ftensors, float_input) = match frun {
            FloatRun::Model(r, fprep) => {
                let fs = &float.expect("a float run has its model").subgraphs[0];
                let outs = r
                    .outputs
                    .iter()
                    .zip(&fs.outputs)
                    .map(|(v, &t)| {
                        dequantize_value(v, fs.tensors[t as usize].quantization.as_ref())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (outs, real_tensors(r.tensors, fs), Some(*fprep))
            }
            FloatRun::Twin(t) => {
                let outs = qs
                    .outputs
                    .iter()
                    .map(|&o| {
                        t.get(&(o as usize)).cloned().ok_or_else(|| {
                            CompareError::Msg("float twin produced no output".into())
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (outs, t, None)
            }
        };
        let qtensors = real_tensors(qrun.tensors, qs);
        self.timings.add("dequantize kept tensors", t0);
        Ok(RunPair {
            quant_input: qprep,
            float_input,
            fout,
            qout,
            ftensors,
            qtensors,
        })
    }

    fn outputs(&self, r: &RunPair) -> Vec<OutputComparison> {
        let qs = &self.quant.subgraphs[0];
        r.fout
            .iter()
            .zip(&r.qout)
            .enumerate()
            .map(|(k, (f, q))| {
                let t = &qs.tensors[qs.outputs[k] as usize];
                let (scale, range) = crate::quant::metrics::activation_range(t);
                let (labels, source) = match &self.opts.labels {
                    Some(l) => (Some(&l[..]), None),
                    None => match self.opts.label_set.for_output(k) {
                        Some(l) => (Some(&l.names[..]), Some(l.source.clone())),
                        None => (None, None),
                    },
                };
                let mut o = compare_output(k, &t.name, f, q, scale, range, self.opts.top_k, labels);
                if let Some(c) = &mut o.classification {
                    c.labels_source = source;
                }
                o
            })
            .collect()
    }

    /// Compares the two models on one image with preprocessing `pp` (`why` says where it came from).
    pub fn compare(
        &mut self,
        img: &RgbImage,
        image_name: &str,
        pp: &Preprocess,
        why: Vec<String>,
    ) -> Result<ImageComparison, CompareError> {
        let mut c = self.compare_main(img, image_name, pp, why)?.comparison;
        self.add_alternatives(img, pp, &mut c)?;
        Ok(c)
    }

    /// The main comparison of one image: outputs and per-layer errors, without trying other
    /// preprocessing settings. When they are due ([`Comparator::alternatives_due`]),
    /// `alternatives_tried` says "pending: ..." until [`Comparator::add_alternatives`] runs
    /// them, so a caller can show this result first.
    pub fn compare_main(
        &mut self,
        img: &RgbImage,
        image_name: &str,
        pp: &Preprocess,
        why: Vec<String>,
    ) -> Result<ComparedImage, CompareError> {
        let keep = if self.opts.layers {
            (Keep::All, Keep::All)
        } else {
            (Keep::Outputs, Keep::Outputs)
        };
        let r = self.run_pair(img, pp, keep)?;
        let t0 = std::time::Instant::now();
        let outputs = self.outputs(&r);
        let t0 = self.timings.add("output metrics", t0);
        let layers = if self.opts.layers {
            self.layers(&r)
        } else {
            Vec::new()
        };
        let t0 = self.timings.add("layer errors (cumulative and local)", t0);
        let RunPair {
            quant_input,
            float_input,
            ftensors,
            qtensors,
            ..
        } = r;
        drop((ftensors, qtensors));
        self.timings.add("free kept tensors", t0);
        let (due, why_alt) = self.alternatives_due(&outputs);
        let comparison = ImageComparison {
            image: image_name.to_string(),
            reference: if self.float.is_some() {
                "float model".into()
            } else {
                "float twin (dequantized constants, float kernels)".into()
            },
            preprocess: PreprocessReport {
                applied: pp.clone(),
                why,
                input_clipped_fraction: quant_input.clipped_fraction,
                input_levels_used: quant_input.levels_used,
            },
            outputs,
            layers,
            warnings: quant_input.warnings.clone(),
            alternatives: Vec::new(),
            alternatives_tried: if due {
                format!("pending: {why_alt}")
            } else {
                format!("no: {why_alt}")
            },
        };
        Ok(ComparedImage {
            comparison,
            quant_input,
            float_input,
        })
    }

    /// Whether the other channel orders and value presets are to be tried for a comparison
    /// with these outputs (the models disagree, or the float model is unsure and that was
    /// asked for), and why or why not.
    pub fn alternatives_due(&self, outputs: &[OutputComparison]) -> (bool, String) {
        let disagree = outputs.iter().any(|o| {
            o.classification.as_ref().is_some_and(|c| !c.top1_agree)
                || o.metrics.sqnr_db.is_some_and(|s| s < 10.0)
        });
        let unsure = outputs
            .first()
            .and_then(|o| o.classification.as_ref())
            .is_some_and(|c| c.float_top1_prob < 0.5);
        let run = self.opts.try_alternatives
            && (disagree || (unsure && self.opts.alternatives_when_unsure));
        let why = match (run, disagree, unsure) {
            (true, true, _) => "the models disagree",
            (true, false, _) => "the float model is unsure (top-1 probability below 0.5)",
            (false, _, _) if !self.opts.try_alternatives => "not asked for",
            (false, _, true) => "the models agree; the float model is unsure, but alternatives for that were not asked for",
            (false, _, false) => "the models agree",
        };
        (run, why.to_string())
    }

    /// Tries the other channel orders and value presets on `comparison`'s image when they are
    /// due, adding them (outputs only: no per-layer errors) and what they suggest to its
    /// `alternatives`, `alternatives_tried` and `warnings`. A setting the models cannot run is
    /// left out; cancelling (the engine's flag) stops with that error and `comparison` as it was.
    pub fn add_alternatives(
        &mut self,
        img: &RgbImage,
        pp: &Preprocess,
        comparison: &mut ImageComparison,
    ) -> Result<(), CompareError> {
        let (due, why) = self.alternatives_due(&comparison.outputs);
        if !due {
            comparison.alternatives_tried = format!("no: {why}");
            return Ok(());
        }
        let t0 = std::time::Instant::now();
        let mut alternatives = Vec::new();
        for channels in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
            for range in ValueRange::presets() {
                if channels == pp.channels && range == pp.range {
                    continue;
                }
                let alt = Preprocess {
                    channels,
                    range: range.clone(),
                    ..pp.clone()
                };
                let run = self.run_pair(img, &alt, (Keep::Outputs, Keep::Outputs));
                if let Err(CompareError::Engine(EngineError::Cancelled)) = run {
                    return Err(EngineError::Cancelled.into());
                }
                if let Ok(ar) = run {
                    let o = self.outputs(&ar);
                    alternatives.push(Alternative {
                        channels,
                        range: range.label(),
                        top1_agree: o
                            .first()
                            .and_then(|o| o.classification.as_ref())
                            .map(|c| c.top1_agree),
                        output_sqnr_db: o.first().and_then(|o| o.metrics.sqnr_db),
                        float_top1_prob: o
                            .first()
                            .and_then(|o| o.classification.as_ref())
                            .map(|c| c.float_top1_prob),
                        input_clipped_fraction: ar.quant_input.clipped_fraction,
                    });
                }
            }
        }
        self.timings.add("alternatives", t0);
        let disagree = why == "the models disagree";
        let outputs = &comparison.outputs;
        let warnings = &mut comparison.warnings;
        let cur = outputs
            .first()
            .and_then(|o| o.metrics.sqnr_db)
            .unwrap_or(f64::NEG_INFINITY);
        let cur_conf = outputs
            .first()
            .and_then(|o| o.classification.as_ref())
            .map(|c| c.float_top1_prob);
        let score = |a: &Alternative| a.output_sqnr_db.unwrap_or(f64::NEG_INFINITY);
        // Candidates: the models agree and the quantized input does not clip (a clipped input
        // can agree by saturating both models to the same answer).
        let agreeing = || {
            alternatives
                .iter()
                .filter(|a| a.top1_agree != Some(false) && a.input_clipped_fraction < 0.01)
        };
        let mut better: Vec<&Alternative> = agreeing()
            .filter(|a| disagree && score(a) > cur + 3.0)
            .collect();
        better.sort_by(|a, b| score(b).total_cmp(&score(a)));
        if !better.is_empty() {
            let list: Vec<String> = better
                .iter()
                .take(3)
                .map(|a| {
                    format!(
                        "{} {} ({:.1} dB{})",
                        a.channels,
                        a.range,
                        score(a),
                        if a.top1_agree == Some(true) {
                            ", same top-1"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            warnings.push(format!(
                "the models disagree (output SQNR {cur:.1} dB) but agree, without clipping the input, under: {} — check the preprocessing",
                list.join("; ")
            ));
        }
        if let (Some(c), Some(best)) = (
            cur_conf,
            agreeing().max_by(|a, b| {
                a.float_top1_prob
                    .unwrap_or(0.0)
                    .total_cmp(&b.float_top1_prob.unwrap_or(0.0))
            }),
        ) {
            let b = best.float_top1_prob.unwrap_or(0.0);
            if b > c + 0.3 {
                warnings.push(format!(
                    "the float model is unsure (top-1 probability {c:.2}) with this preprocessing but confident ({b:.2}) with channel order {} and value mapping {}: check the preprocessing",
                    best.channels, best.range
                ));
            }
        }
        comparison.alternatives = alternatives;
        comparison.alternatives_tried = format!("yes: {why}");
        Ok(())
    }

    /// Both activations of one paired layer on one image — the reference (float model or
    /// twin) and the dequantized quantized tensor — and their difference `float - quant`
    /// (for heat maps). Only these two tensors are kept from the runs.
    pub fn activations(
        &mut self,
        img: &RgbImage,
        pp: &Preprocess,
        float_tensor: usize,
        quant_tensor: usize,
    ) -> Result<LayerActivations, CompareError> {
        let one = |t: usize| Keep::Tensors(std::iter::once(t).collect());
        let mut r = self.run_pair(img, pp, (one(float_tensor), one(quant_tensor)))?;
        let float = r.ftensors.remove(&float_tensor).ok_or_else(|| {
            CompareError::Msg(format!("the reference run kept no tensor {float_tensor}"))
        })?;
        let quant = r.qtensors.remove(&quant_tensor).ok_or_else(|| {
            CompareError::Msg(format!("the quantized run kept no tensor {quant_tensor}"))
        })?;
        if float.shape() != quant.shape() {
            return Err(CompareError::Msg(format!(
                "shapes differ: {:?} vs {:?}",
                float.shape(),
                quant.shape()
            )));
        }
        let diff = &float - &quant;
        Ok(LayerActivations { float, quant, diff })
    }

    /// Cumulative and local error of every pair, the pairs spread over the thread pool (each
    /// pair's numbers are computed exactly as one at a time).
    fn layers(&self, r: &RunPair) -> Vec<LayerError> {
        let quant = self.quant;
        let qs = &quant.subgraphs[0];
        let deq = |i: usize| r.qtensors.get(&i).cloned();
        let per_pair: Vec<Option<(ErrorMetrics, Option<ErrorMetrics>)>> = self
            .pairs
            .par_iter()
            .map(|p| {
                let (f, q) = (r.ftensors.get(&p.float)?, r.qtensors.get(&p.quant)?);
                if f.shape() != q.shape() {
                    return None;
                }
                let t = &qs.tensors[p.quant];
                let (scale, range) = crate::quant::metrics::activation_range(t);
                let cumulative = tensor_metrics(f, q, scale, range);
                let local = match p.quant_op {
                    Some(o) if !is_boundary_op(&qs.operators[o].op) => {
                        let op = &qs.operators[o];
                        let k = op
                            .outputs
                            .iter()
                            .position(|&x| x == p.quant as i32)
                            .unwrap_or(0);
                        float_op_on(quant, o, deq)
                            .ok()
                            .and_then(|outs| outs.into_iter().nth(k))
                            .filter(|a| a.shape() == q.shape())
                            .map(|a| tensor_metrics(&a, q, scale, range))
                    }
                    _ => None,
                };
                Some((cumulative, local))
            })
            .collect();
        let mut out = Vec::new();
        let mut prev_sqnr: Option<f64> = None;
        for (p, m) in self.pairs.iter().zip(per_pair) {
            let Some((cumulative, local)) = m else {
                continue;
            };
            let t = &qs.tensors[p.quant];
            let sqnr_drop_db = match (prev_sqnr, cumulative.sqnr_db) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
            if cumulative.sqnr_db.is_some() {
                prev_sqnr = cumulative.sqnr_db;
            }
            out.push(LayerError {
                float_tensor: Some(p.float),
                quant_tensor: p.quant,
                name: t.name.clone(),
                op: p.op.clone(),
                op_index: p.quant_op,
                paired_by: Some(p.by),
                cumulative,
                local,
                sqnr_drop_db,
            });
        }
        out
    }
}

/// One image's comparison with the exact input tensors fed to each model.
#[derive(Clone, Debug)]
pub struct ComparedImage {
    pub comparison: ImageComparison,
    pub quant_input: Prepared,
    /// The float model's input; `None` when the reference is the float twin.
    pub float_input: Option<Prepared>,
}

/// One layer's activations on one image (see [`Comparator::activations`]).
#[derive(Clone, Debug)]
pub struct LayerActivations {
    pub float: ArrayD<f32>,
    pub quant: ArrayD<f32>,
    /// `float - quant`.
    pub diff: ArrayD<f32>,
}

struct RunPair {
    quant_input: Prepared,
    /// `None` when the reference is the float twin (it takes the quantized input's values).
    float_input: Option<Prepared>,
    fout: Vec<ArrayD<f32>>,
    qout: Vec<ArrayD<f32>>,
    /// Every kept tensor of each run as real values (empty without per-layer errors).
    ftensors: HashMap<usize, ArrayD<f32>>,
    qtensors: HashMap<usize, ArrayD<f32>>,
}

/// Layers ordered by their own (local) error, worst first: where quantization adds error.
pub fn rank_layers(layers: &[LayerError]) -> Vec<&LayerError> {
    let mut v: Vec<&LayerError> = layers
        .iter()
        .filter(|l| l.local.and_then(|m| m.sqnr_db).is_some())
        .collect();
    v.sort_by(|a, b| {
        a.local
            .unwrap()
            .sqnr_db
            .unwrap()
            .total_cmp(&b.local.unwrap().sqnr_db.unwrap())
    });
    v
}

/// Aggregates over many images: mean, p95 and worst per output metric.
#[derive(Clone, Debug, Serialize)]
pub struct Aggregate {
    pub images: usize,
    pub top1_agreement: Option<f64>,
    pub mean_sqnr_db: Option<f64>,
    /// 95th percentile from the bad end: 95% of images have an SQNR above this.
    pub p5_sqnr_db: Option<f64>,
    pub worst_image: Option<String>,
    pub worst_sqnr_db: Option<f64>,
    pub mean_bit_accuracy: f64,
    pub mean_kl_divergence: Option<f64>,
}

/// Aggregates output 0 over `results`.
pub fn aggregate(results: &[ImageComparison]) -> Aggregate {
    let o0: Vec<(&str, &OutputComparison)> = results
        .iter()
        .filter_map(|r| r.outputs.first().map(|o| (r.image.as_str(), o)))
        .collect();
    let n = o0.len();
    let mut sq: Vec<(f64, &str)> = o0
        .iter()
        .filter_map(|(i, o)| o.metrics.sqnr_db.map(|s| (s, *i)))
        .collect();
    sq.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cls: Vec<&Classification> = o0
        .iter()
        .filter_map(|(_, o)| o.classification.as_ref())
        .collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Aggregate {
        images: n,
        top1_agreement: mean(
            &cls.iter()
                .map(|c| c.top1_agree as u8 as f64)
                .collect::<Vec<_>>(),
        ),
        mean_sqnr_db: mean(&sq.iter().map(|s| s.0).collect::<Vec<_>>()),
        p5_sqnr_db: (!sq.is_empty()).then(|| sq[((sq.len() - 1) as f64 * 0.05).round() as usize].0),
        worst_image: sq.first().map(|s| s.1.to_string()),
        worst_sqnr_db: sq.first().map(|s| s.0),
        mean_bit_accuracy: o0.iter().map(|(_, o)| o.bit_accuracy).sum::<f64>() / n.max(1) as f64,
        mean_kl_divergence: mean(&cls.iter().map(|c| c.kl_divergence).collect::<Vec<_>>()),
    }
}
