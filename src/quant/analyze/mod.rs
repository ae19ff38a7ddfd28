//! Per-tensor weight analysis and the model roll-up.
//!
//! Each constant is one of: stored quantized integers (optionally compared with a paired float
//! tensor), float weights quantized in simulation, or plain floats. Stored int4/int8/uint8
//! tensors take one pass (a 2^bits-bin histogram per channel gives every statistic exactly);
//! wider integers and floats take a second pass for their adaptive histogram; simulated
//! quantization takes a statistics pass first (and a clip-histogram pass for MSE/percentile).
//! Tensors are analysed in parallel and each tensor's chunks too (rayon).
//!
//! Files: the report types in `report.rs`; the accumulator passes in `passes.rs`; one
//! tensor's analysis in `tensor.rs`; this file drives the model and rolls it up.

mod blocks;
mod passes;
mod report;
mod tensor;

use blocks::*;
pub use blocks::{BlockAnalysis, BlockGrid, WorstBlock, WORST_BLOCKS};
use passes::*;
pub use report::{
    ChannelAnalysis, DtypeBytes, ErrorFields, RangeFields, Reference, Rollup, Skipped,
    TensorAnalysis, WeightsReport, Worst,
};
use tensor::*;

use super::checks::{self, Check, Severity};
use super::metrics::{clip_thresholds, dequantize, ErrorAcc, ErrorMetrics};
use super::pairing::{self, PairedBy, Pairing, Unmatched};
use super::roles::{self, RoleKind, Use};
use super::scan::{scan, Floats, Ints, Layout, Narrow, Wide, BLOCK};
use super::simulate::{self, ClipHist, Scheme, CLIP_BINS};
use super::stats::{Binner, Histogram, IntBinner, Moments, RangeUse, Summary};
use crate::model::{DType, Model, Tensor, TensorId};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Bins of adaptive histograms (wide integers, floats, per-channel dequantized values).
pub const ADAPTIVE_BINS: usize = 256;
/// Distinct levels of int32/int64 tensors are counted only up to this many elements.
pub const MAX_LEVELS_ELEMENTS: usize = 1 << 20;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Quantize the float weights of the model with this scheme (reference 2).
    pub simulate: Option<Scheme>,
    /// Keep a histogram per channel (large for big models).
    pub channel_histograms: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{0} has no float weights to quantize in simulation ({1} quantized constants); simulate from the float model instead, or pass it with --float to measure this model's error")]
    NothingToSimulate(String, usize),
    #[error("cannot simulate {0}: {1}")]
    BadScheme(Scheme, String),
}

/// Integer range of stored or simulated values: the narrow symmetric range for signed types
/// with zero point 0 everywhere (TFLite's weights: int8 in [-127, 127]), else the full range.
pub fn quant_range(dtype: DType, symmetric: bool) -> (i64, i64) {
    let (lo, hi) = dtype.int_range().unwrap_or((i64::MIN, i64::MAX));
    if symmetric && lo < 0 {
        (-hi, hi)
    } else {
        (lo, hi)
    }
}

/// Analyses every constant of `model` (all subgraphs): statistics, range use and spec checks;
/// errors against `float` (paired constants) or against simulated quantization
/// (`opts.simulate`, of `model`'s float weights).
pub fn analyze(
    model: &Model,
    float: Option<&Model>,
    opts: &Options,
) -> Result<WeightsReport, AnalyzeError> {
    let name = |m: &Model| {
        m.path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<memory>".into())
    };
    let uses: Vec<Vec<Vec<Use>>> = model.subgraphs.iter().map(roles::uses).collect();
    // The scales / zero points of blockwise tensors are their parameters, analysed with them.
    let params: Vec<Vec<usize>> = model
        .subgraphs
        .iter()
        .map(|g| {
            g.tensors
                .iter()
                .filter_map(|t| t.quantization.as_ref()?.blockwise.as_ref())
                .flat_map(|b| [b.scales_tensor, b.zero_points_tensor])
                .filter_map(|i| usize::try_from(i).ok())
                .collect()
        })
        .collect();
    let candidates: Vec<(usize, &Tensor)> = model
        .subgraphs
        .iter()
        .enumerate()
        .flat_map(|(si, g)| {
            let params = &params[si];
            g.tensors
                .iter()
                .filter(move |t| t.is_constant && !params.contains(&t.index))
                .map(move |t| (si, t))
        })
        .collect();
    if let Some(s) = opts.simulate {
        if let Some(p) = s.problem() {
            return Err(AnalyzeError::BadScheme(s, p));
        }
    }
    if opts.simulate.is_some() {
        let sim = candidates.iter().any(|(si, t)| {
            t.dtype.is_float()
                && t.quantization.as_ref().is_none_or(|q| !q.is_quantized())
                && uses[*si][t.index]
                    .iter()
                    .any(|u| u.kind == RoleKind::Weights)
        });
        if !sim {
            let nq = candidates
                .iter()
                .filter(|(_, t)| t.quantization.as_ref().is_some_and(|q| q.is_quantized()))
                .count();
            return Err(AnalyzeError::NothingToSimulate(name(model), nq));
        }
    }
    let analysable = |si: usize, ti: usize| {
        let t = &model.subgraphs[si].tensors[ti];
        t.is_constant
            && !params[si].contains(&ti)
            && skip_reason(t, model.tensor_data(si, ti).unwrap_or(&[])).is_none()
    };
    let pairing = float.map(|f| pairing::pair(model, f, analysable));
    let checks: Vec<Vec<Check>> = (0..model.subgraphs.len())
        .into_par_iter()
        .map(|si| checks::check_subgraph(model, si))
        .collect();
    let ctx = Ctx {
        model,
        float,
        pairing: pairing.as_ref(),
        opts,
        uses,
        checks,
    };
    let results: Vec<Result<TensorAnalysis, Skipped>> = candidates
        .par_iter()
        .map(|&(si, t)| {
            analyze_tensor(&ctx, si, t).map_err(|reason| Skipped {
                tensor: t.id(si),
                dtype: t.dtype,
                reason,
            })
        })
        .collect();
    let mut tensors = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(a) => tensors.push(a),
            Err(s) => skipped.push(s),
        }
    }
    let rollup = rollup(model, float, &tensors, &skipped, opts);
    let (unmatched_quant, unmatched_float) = match pairing {
        Some(p) => (p.unmatched_quant, p.unmatched_float),
        None => (Vec::new(), Vec::new()),
    };
    Ok(WeightsReport {
        model: name(model),
        float_model: float.map(name),
        reference: if float.is_some() {
            "float_model"
        } else if opts.simulate.is_some() {
            "simulated"
        } else {
            "none"
        },
        scheme: opts.simulate,
        tensors,
        skipped,
        unmatched_quant,
        unmatched_float,
        rollup,
    })
}

fn rollup(
    model: &Model,
    float: Option<&Model>,
    tensors: &[TensorAnalysis],
    skipped: &[Skipped],
    opts: &Options,
) -> Rollup {
    let mut r = Rollup {
        tensors_analysed: tensors.len(),
        tensors_skipped: skipped.len(),
        ..Default::default()
    };
    for t in tensors {
        for c in &t.checks {
            match c.severity {
                Severity::Error => r.errors += 1,
                Severity::Warning => r.warnings += 1,
                Severity::Info => {}
            }
        }
    }
    let compared: Vec<&TensorAnalysis> = tensors.iter().filter(|t| t.error.is_some()).collect();
    r.tensors_compared = compared.len();
    let (sx, se) = compared
        .iter()
        .filter_map(|t| t.sums)
        .fold((0.0, 0.0), |(a, b), (x, e)| (a + x, b + e));
    r.overall_sqnr_db = super::metrics::sqnr_db(sx, se);
    let mut worst: Vec<Worst> = compared
        .iter()
        .map(|t| Worst {
            tensor: t.tensor.clone(),
            role: t.role.clone(),
            sqnr_db: t.errors.sqnr_db,
            rmse_over_scale: t.errors.rmse_over_scale,
            max_abs_err_lsb: t.errors.max_abs_err_lsb,
        })
        .collect();
    worst.sort_by(|a, b| {
        let k = |w: &Worst| w.sqnr_db.unwrap_or(f64::INFINITY);
        k(a).total_cmp(&k(b))
    });
    r.worst = worst;
    let consts = |m: &Model| -> Vec<(DType, u64, u64)> {
        m.subgraphs
            .iter()
            .flat_map(|g| g.tensors.iter().filter(|t| t.is_constant))
            .map(|t| {
                let n = t.element_count().unwrap_or(0) as u64;
                (t.dtype, n, t.buffer_bytes as u64)
            })
            .collect()
    };
    for (d, n, b) in consts(model) {
        let e = r.bytes_by_dtype.entry(d.name()).or_default();
        e.tensors += 1;
        e.elements += n;
        e.bytes += b;
        r.constant_bytes += b;
        r.float32_bytes += 4 * n;
    }
    r.bytes_saved = r.float32_bytes as i64 - r.constant_bytes as i64;
    r.float_model_bytes = float.map(|f| consts(f).iter().map(|c| c.2).sum());
    if let Some(s) = opts.simulate {
        let mut total = r.constant_bytes;
        for t in tensors
            .iter()
            .filter(|t| matches!(t.reference, Some(Reference::Simulated { .. })))
        {
            let q = s.bits.dtype().storage_bytes(t.n as usize).unwrap_or(0) as u64;
            // A float16 scale per block; a f32 scale and an i64 zero point per channel.
            let params = if t.blocks.is_some() { 2 } else { 12 };
            total = total - t.bytes as u64 + q + params * t.channel_count as u64;
        }
        r.simulated_bytes = Some(total);
    }
    r
}
