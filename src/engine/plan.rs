//! Preparing a model to run: declared sizes and quantization checked, the subgraphs reachable
//! from subgraph 0 found, every op resolved to its kernel through the [`registry`], constants
//! decoded, each tensor's last reader noted (to free it early), constant subgraphs folded.

use super::registry::{self, Prepared};
use super::{kernels, limits, sub_indices, tune_allocator, Engine, EngineError, EngineOptions};
use crate::model::{DType, Model, Tensor};
use std::collections::{HashMap, HashSet};

/// Quantization parameters the integer kernels can compute with: zero points inside the
/// stored type's range and finite, non-negative scales. TFLite's kernels assume as much (its
/// converter never writes anything else); a corrupt file is refused here instead of overflowing
/// the 32-bit arithmetic later.
fn check_quantization(t: &Tensor) -> Result<(), String> {
    let Some(q) = &t.quantization else {
        return Ok(());
    };
    if let Some(s) = q.scales.iter().find(|s| !s.is_finite() || **s < 0.0) {
        return Err(format!("scale {s} is not a finite non-negative number"));
    }
    if q.scales.len() > 1 {
        // Per-channel: one scale per index of the quantized dimension.
        let axis = q.quantized_dimension;
        let dim = usize::try_from(axis)
            .ok()
            .and_then(|a| t.shape.get(a))
            .copied();
        if dim != Some(q.scales.len() as i32) {
            return Err(format!(
                "{} per-channel scales along axis {axis} of shape {:?}",
                q.scales.len(),
                t.shape
            ));
        }
        if q.zero_points.len() > 1 && q.zero_points.len() != q.scales.len() {
            return Err(format!(
                "{} zero points for {} scales",
                q.zero_points.len(),
                q.scales.len()
            ));
        }
    }
    let range = match t.dtype {
        DType::I4 => Some((-8, 7)),
        DType::I8 => Some((-128, 127)),
        DType::U8 => Some((0, 255)),
        DType::I16 => Some((-32768, 32767)),
        _ => None,
    };
    if let Some((lo, hi)) = range {
        if let Some(z) = q.zero_points.iter().find(|z| !(lo..=hi).contains(*z)) {
            return Err(format!("zero point {z} is outside {}'s range", t.dtype));
        }
    }
    Ok(())
}

impl<'m> Engine<'m> {
    /// Checks every op of subgraph 0 and the subgraphs it calls, and decodes constants.
    pub fn new(model: &'m Model, opts: EngineOptions) -> Result<Engine<'m>, EngineError> {
        tune_allocator();
        // Declared shapes first: a corrupt file must not make us allocate terabytes.
        for s in &model.subgraphs {
            for t in s.tensors.iter().filter(|t| !t.is_constant) {
                let shape: Vec<usize> = t.shape.iter().map(|&d| d.max(0) as usize).collect();
                let elem = t.dtype.storage_bytes(1).unwrap_or(1);
                limits::check_alloc(
                    &shape,
                    elem,
                    &format!("subgraph {} tensor {} '{}'", s.index, t.index, t.name),
                )?;
            }
            for t in &s.tensors {
                check_quantization(t).map_err(|m| {
                    EngineError::msg(format!(
                        "subgraph {} tensor {} '{}': {m}",
                        s.index, t.index, t.name
                    ))
                })?;
            }
        }
        // Subgraphs reachable from subgraph 0.
        let mut reach = vec![0usize];
        let mut seen: HashSet<usize> = HashSet::from([0]);
        let mut i = 0;
        while i < reach.len() {
            let sg = reach[i];
            i += 1;
            let Some(s) = model.subgraphs.get(sg) else {
                return Err(EngineError::msg(format!("subgraph {sg} does not exist")));
            };
            for op in &s.operators {
                for c in sub_indices(model, sg, op)? {
                    if c >= model.subgraphs.len() {
                        return Err(EngineError::msg(format!(
                            "subgraph {sg} op {} {} calls subgraph {c}, which does not exist",
                            op.index, op.op
                        )));
                    }
                    if seen.insert(c) {
                        reach.push(c);
                    }
                }
            }
        }
        // Every reachable op resolved to its kernel once: what runs is what was checked.
        let mut problems = Vec::new();
        let mut plan: Vec<Vec<Option<Prepared>>> = model
            .subgraphs
            .iter()
            .map(|s| vec![None; s.operators.len()])
            .collect();
        for &sg in &reach {
            for op in &model.subgraphs[sg].operators {
                match registry::resolve(model, sg, op) {
                    Ok(p) => plan[sg][op.index] = Some(p),
                    Err(why) => {
                        let at = if sg == 0 {
                            format!("op {}", op.index)
                        } else {
                            format!("subgraph {sg} op {}", op.index)
                        };
                        problems.push(format!("{at} {}: {why}", op.op));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(EngineError::Unsupported(problems));
        }
        let mut consts = Vec::new();
        let mut last_use = Vec::new();
        for (sgi, s) in model.subgraphs.iter().enumerate() {
            let mut c = Vec::with_capacity(s.tensors.len());
            for t in &s.tensors {
                let v = if seen.contains(&sgi) && t.is_constant && !t.is_variable {
                    Some(
                        kernels::densify::constant_value(model, sgi, t).map_err(|e| {
                            EngineError::msg(format!(
                                "subgraph {sgi} tensor {} '{}': {e}",
                                t.index, t.name
                            ))
                        })?,
                    )
                } else {
                    None
                };
                c.push(v);
            }
            consts.push(c);
            let mut lu = vec![usize::MAX - 1; s.tensors.len()];
            let mut used = vec![false; s.tensors.len()];
            for op in &s.operators {
                for &t in &op.inputs {
                    if t >= 0 && (t as usize) < lu.len() {
                        lu[t as usize] = op.index;
                        used[t as usize] = true;
                    }
                }
            }
            for (t, u) in used.iter().enumerate() {
                if !u {
                    lu[t] = 0; // never read: may be freed right after it is produced
                }
            }
            for &t in &s.outputs {
                if t >= 0 {
                    lu[t as usize] = usize::MAX;
                }
            }
            last_use.push(lu);
        }
        // Constant folding: ops whose every input is a constant run once, now.
        let mut folded = vec![HashSet::new(); model.subgraphs.len()];
        for &sgi in &reach {
            let s = &model.subgraphs[sgi];
            for op in &s.operators {
                let Some(Prepared::Kernel(route)) = plan[sgi][op.index] else {
                    continue;
                };
                if op.inputs.iter().all(|&t| t < 0)
                    || op
                        .outputs
                        .iter()
                        .any(|&t| t < 0 || s.tensors[t as usize].is_variable)
                    || !op
                        .inputs
                        .iter()
                        .all(|&t| t < 0 || consts[sgi][t as usize].is_some())
                {
                    continue;
                }
                let Some(fb) = model.fb_operator(sgi, op.index) else {
                    continue;
                };
                let c = &consts[sgi];
                let inputs = op
                    .inputs
                    .iter()
                    .map(|&t| if t < 0 { None } else { c[t as usize].as_ref() })
                    .collect();
                let ctx = kernels::OpCtx::new(model, sgi, op, fb, inputs);
                // A failure here is reported when the op runs for real.
                if let Ok(outs) = kernels::run_kernel(route.kernel, &ctx) {
                    if outs.len() == op.outputs.len() {
                        for (v, &t) in outs.into_iter().zip(&op.outputs) {
                            consts[sgi][t as usize] = Some(v);
                        }
                        folded[sgi].insert(op.index);
                    }
                }
            }
        }
        let pool = match opts.threads.min(super::MAX_THREADS) {
            0 => None,
            n => Some(std::sync::Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| {
                        EngineError::msg(format!("cannot start {n} kernel threads: {e}"))
                    })?,
            )),
        };
        Ok(Engine {
            model,
            opts,
            pool,
            consts,
            last_use,
            vars: HashMap::new(),
            var_ids: HashMap::new(),
            call_once_done: HashSet::new(),
            var_tensors: HashMap::new(),
            folded,
            plan,
            prep: model
                .subgraphs
                .iter()
                .map(|s| s.operators.iter().map(|_| Default::default()).collect())
                .collect(),
        })
    }
}
