//! Running models with TFLite's semantics.
//!
//! [`Engine`] runs subgraph 0 of a [`Model`] op by op in the model's order (plus the subgraphs
//! it calls through CALL_ONCE / WHILE / IF), keeps resource variables between invocations and
//! can hand back every intermediate tensor. Kernels live in [`kernels`]: float and
//! type-generic ones there, integer ones in `kernels::int`.

pub mod arith;
pub mod kernels;
pub mod limits;
pub mod npy;
pub mod simd;
mod value;

pub use value::Value;

use crate::model::{DType, Model, Operator, Tensor};
use ndarray::ArrayD;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a model cannot be prepared or run. Messages name the op (index and name) and tensor.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the model has operators quantscope cannot run:\n  {}", .0.join("\n  "))]
    Unsupported(Vec<String>),
    #[error("subgraph {sg} op {index} {op} (output '{tensor}'): {msg}")]
    Op {
        sg: usize,
        index: usize,
        op: String,
        tensor: String,
        msg: String,
    },
    #[error("input {index} ('{name}'): {msg}")]
    Input {
        index: usize,
        name: String,
        msg: String,
    },
    /// A kernel-level problem; the engine wraps it into [`EngineError::Op`] with the op's name.
    #[error("{0}")]
    Type(String),
    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    pub fn msg(m: impl Into<String>) -> EngineError {
        EngineError::Type(m.into())
    }
}

/// Which tensors [`Engine::invoke`] hands back besides the outputs.
#[derive(Clone, Debug, Default)]
pub enum Keep {
    /// Only the outputs; every intermediate is freed after its last consumer.
    #[default]
    Outputs,
    /// Every tensor of subgraph 0 that is computed (and the inputs); no constants.
    All,
    /// These tensor indices of subgraph 0.
    Tensors(HashSet<usize>),
}

/// Called before each op of subgraph 0: (op index, op count, op name).
pub type ProgressFn = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

#[derive(Clone, Default)]
pub struct EngineOptions {
    pub keep: Keep,
    /// Set to true (from any thread) to stop at the next op boundary with [`EngineError::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    pub progress: Option<ProgressFn>,
}

/// What one invocation produced.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    /// The outputs of subgraph 0, in order.
    pub outputs: Vec<Value>,
    /// Kept tensors of subgraph 0 by index (see [`Keep`]).
    pub tensors: HashMap<usize, Value>,
}

/// An interpreter for one model. State (resource variables, CALL_ONCE) persists across
/// invocations.
pub struct Engine<'m> {
    model: &'m Model,
    opts: EngineOptions,
    /// Decoded constants per subgraph (`None` for non-constants).
    consts: Vec<Vec<Option<Value>>>,
    /// Per subgraph: per tensor, the last op that reads it (`usize::MAX`: never freed).
    last_use: Vec<Vec<usize>>,
    /// Resource variables by id.
    vars: HashMap<i32, Value>,
    var_ids: HashMap<(String, String), i32>,
    call_once_done: HashSet<usize>,
    /// State of `is_variable` tensors, per (subgraph, tensor).
    var_tensors: HashMap<(usize, usize), Value>,
    /// Per subgraph: ops whose inputs are all constants, computed once in [`Engine::new`]
    /// (e.g. DEQUANTIZE of float16 weights); their outputs live in `consts`.
    folded: Vec<HashSet<usize>>,
    /// Per subgraph, per op: what its kernel derived from constant inputs (packed weights).
    prep: Vec<Vec<kernels::PrepSlot>>,
}

/// Ops the engine itself runs (they touch engine state or other subgraphs).
const CONTROL_OPS: &[&str] = &[
    "CALL_ONCE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "WHILE",
    "IF",
];

fn sub_indices(model: &Model, sg: usize, op: &Operator) -> Vec<usize> {
    let Some(fb) = model.fb_operator(sg, op.index) else {
        return vec![];
    };
    match op.op.as_str() {
        "CALL_ONCE" => fb
            .builtin_options_as_call_once_options()
            .map(|o| vec![o.init_subgraph_index() as usize])
            .unwrap_or_default(),
        "WHILE" => fb
            .builtin_options_as_while_options()
            .map(|o| {
                vec![
                    o.cond_subgraph_index() as usize,
                    o.body_subgraph_index() as usize,
                ]
            })
            .unwrap_or_default(),
        "IF" => fb
            .builtin_options_as_if_options()
            .map(|o| {
                vec![
                    o.then_subgraph_index() as usize,
                    o.else_subgraph_index() as usize,
                ]
            })
            .unwrap_or_default(),
        _ => vec![],
    }
}

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
                for c in sub_indices(model, sg, op) {
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
        let mut problems = Vec::new();
        for &sg in &reach {
            for op in &model.subgraphs[sg].operators {
                if CONTROL_OPS.contains(&op.op.as_str()) {
                    continue;
                }
                if let Err(why) = kernels::supported(op, model, sg) {
                    let at = if sg == 0 {
                        format!("op {}", op.index)
                    } else {
                        format!("subgraph {sg} op {}", op.index)
                    };
                    problems.push(format!("{at} {}: {why}", op.op));
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
                if CONTROL_OPS.contains(&op.op.as_str())
                    || op.inputs.iter().all(|&t| t < 0)
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
                if let Ok(outs) = kernels::run_op(&ctx) {
                    if outs.len() == op.outputs.len() {
                        for (v, &t) in outs.into_iter().zip(&op.outputs) {
                            consts[sgi][t as usize] = Some(v);
                        }
                        folded[sgi].insert(op.index);
                    }
                }
            }
        }
        Ok(Engine {
            model,
            opts,
            consts,
            last_use,
            vars: HashMap::new(),
            var_ids: HashMap::new(),
            call_once_done: HashSet::new(),
            var_tensors: HashMap::new(),
            folded,
            prep: model
                .subgraphs
                .iter()
                .map(|s| s.operators.iter().map(|_| Default::default()).collect())
                .collect(),
        })
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    pub fn options_mut(&mut self) -> &mut EngineOptions {
        &mut self.opts
    }

    /// Forgets resource variables and CALL_ONCE state (the next invoke starts fresh).
    pub fn reset_state(&mut self) {
        self.vars.clear();
        self.var_ids.clear();
        self.call_once_done.clear();
        self.var_tensors.clear();
    }

    /// Checks `inputs` against subgraph 0's inputs: count, dtype, shape (dimensions marked -1 in
    /// the shape signature may differ).
    pub fn check_inputs(&self, inputs: &[Value]) -> Result<(), EngineError> {
        let sg = &self.model.subgraphs[0];
        if inputs.len() != sg.inputs.len() {
            return Err(EngineError::msg(format!(
                "the model has {} input(s), {} given",
                sg.inputs.len(),
                inputs.len()
            )));
        }
        for (k, (v, &ti)) in inputs.iter().zip(&sg.inputs).enumerate() {
            let t = &sg.tensors[ti as usize];
            let err = |msg: String| EngineError::Input {
                index: k,
                name: t.name.clone(),
                msg,
            };
            if v.dtype() != t.dtype {
                return Err(err(format!(
                    "expected dtype {}, got {}",
                    t.dtype,
                    v.dtype()
                )));
            }
            let want = &t.shape;
            let sig = t.shape_signature.as_ref().unwrap_or(want);
            let got = v.shape();
            let ok = got.len() == want.len()
                && got
                    .iter()
                    .zip(want.iter().zip(sig))
                    .all(|(&g, (&w, &s))| s < 0 || w < 0 || g as i64 == w as i64);
            if !ok {
                return Err(err(format!(
                    "expected shape {:?}, got {:?}",
                    sig.iter()
                        .map(|&d| if d < 0 {
                            "?".to_string()
                        } else {
                            d.to_string()
                        })
                        .collect::<Vec<_>>(),
                    got
                )));
            }
        }
        Ok(())
    }

    /// Runs subgraph 0 on `inputs` (one per model input, in order).
    pub fn invoke(&mut self, inputs: &[Value]) -> Result<RunOutput, EngineError> {
        self.check_inputs(inputs)?;
        let mut kept = HashMap::new();
        let outputs = self.run_subgraph(0, inputs.to_vec(), Some(&mut kept))?;
        Ok(RunOutput {
            outputs,
            tensors: kept,
        })
    }

    fn is_kept(&self, t: usize) -> bool {
        match &self.opts.keep {
            Keep::Outputs => false,
            Keep::All => true,
            Keep::Tensors(s) => s.contains(&t),
        }
    }

    fn cancelled(&self) -> bool {
        self.opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    fn run_subgraph(
        &mut self,
        sg: usize,
        inputs: Vec<Value>,
        mut kept: Option<&mut HashMap<usize, Value>>,
    ) -> Result<Vec<Value>, EngineError> {
        let model = self.model;
        let s = &model.subgraphs[sg];
        if inputs.len() != s.inputs.len() {
            return Err(EngineError::msg(format!(
                "subgraph {sg} takes {} inputs, {} given",
                s.inputs.len(),
                inputs.len()
            )));
        }
        let mut env: Vec<Option<Value>> = vec![None; s.tensors.len()];
        for (v, &t) in inputs.into_iter().zip(&s.inputs) {
            if let Some(k) = kept.as_deref_mut() {
                if self.is_kept(t as usize) {
                    k.insert(t as usize, v.clone());
                }
            }
            env[t as usize] = Some(v);
        }
        // Variable tensors: their state, or their initial value / zeros.
        for t in &s.tensors {
            if t.is_variable {
                let v = match self.var_tensors.get(&(sg, t.index)) {
                    Some(v) => v.clone(),
                    None => {
                        let shape: Vec<usize> =
                            t.shape.iter().map(|&d| d.max(0) as usize).collect();
                        match model.tensor_data(sg, t.index) {
                            Some(b) if !b.is_empty() => Value::from_constant(b, t.dtype, &shape)?,
                            _ => Value::zeros(t.dtype, &shape)?,
                        }
                    }
                };
                env[t.index] = Some(v);
            }
        }
        let n = s.operators.len();
        for op in &s.operators {
            if self.cancelled() {
                return Err(EngineError::Cancelled);
            }
            if sg == 0 {
                if let Some(p) = &self.opts.progress {
                    p(op.index, n, &op.op);
                }
            }
            if self.folded[sg].contains(&op.index) {
                if let (Some(k), true) = (kept.as_deref_mut(), sg == 0) {
                    for &t in &op.outputs {
                        if self.is_kept(t as usize) {
                            if let Some(v) = &self.consts[sg][t as usize] {
                                k.insert(t as usize, v.clone());
                            }
                        }
                    }
                }
                continue;
            }
            let wrap = |e: EngineError| match e {
                EngineError::Type(msg) => EngineError::Op {
                    sg,
                    index: op.index,
                    op: op.op.clone(),
                    tensor: op
                        .outputs
                        .first()
                        .and_then(|&t| s.tensors.get(t as usize))
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    msg,
                },
                other => other,
            };
            let outs = self.run_one(sg, op, &env).map_err(wrap)?;
            if outs.len() != op.outputs.len() {
                return Err(wrap(EngineError::msg(format!(
                    "kernel produced {} outputs, the op has {}",
                    outs.len(),
                    op.outputs.len()
                ))));
            }
            for (v, &t) in outs.into_iter().zip(&op.outputs) {
                if t < 0 {
                    continue;
                }
                let t = t as usize;
                if s.tensors[t].is_variable {
                    self.var_tensors.insert((sg, t), v.clone());
                }
                env[t] = Some(v);
            }
            // Free tensors whose last reader was this op (and outputs nobody reads).
            let lu = &self.last_use[sg];
            for &t in op.inputs.iter().chain(&op.outputs) {
                if t < 0 {
                    continue;
                }
                let t = t as usize;
                let dead = lu[t] != usize::MAX && lu[t] <= op.index;
                if dead && env[t].is_some() && !s.tensors[t].is_variable {
                    let v = env[t].take();
                    if let (Some(k), Some(v)) = (kept.as_deref_mut(), v) {
                        if sg == 0 && self.is_kept(t) {
                            k.insert(t, v);
                        }
                    }
                }
            }
        }
        let mut outs = Vec::with_capacity(s.outputs.len());
        for &t in &s.outputs {
            let v = env[t as usize]
                .clone()
                .or_else(|| self.consts[sg][t as usize].clone())
                .ok_or_else(|| {
                    EngineError::msg(format!(
                        "subgraph {sg} output tensor {t} '{}' was never computed",
                        s.tensors[t as usize].name
                    ))
                })?;
            outs.push(v);
        }
        if let Some(k) = kept {
            if sg == 0 {
                for (t, v) in env.into_iter().enumerate() {
                    if let Some(v) = v {
                        if self.is_kept(t) && !s.tensors[t].is_constant {
                            k.insert(t, v);
                        }
                    }
                }
            }
        }
        Ok(outs)
    }

    fn run_one(
        &mut self,
        sg: usize,
        op: &Operator,
        env: &[Option<Value>],
    ) -> Result<Vec<Value>, EngineError> {
        let model = self.model;
        let s = &model.subgraphs[sg];
        let get = |i: usize| -> Result<Value, EngineError> {
            let t = *op
                .inputs
                .get(i)
                .ok_or_else(|| EngineError::msg(format!("missing input {i}")))?;
            if t < 0 {
                return Err(EngineError::msg(format!("input {i} is absent")));
            }
            env[t as usize]
                .as_ref()
                .or(self.consts[sg][t as usize].as_ref())
                .cloned()
                .ok_or_else(|| {
                    EngineError::msg(format!(
                        "input {i} (tensor {t} '{}') has no value",
                        s.tensors[t as usize].name
                    ))
                })
        };
        let fb = model
            .fb_operator(sg, op.index)
            .ok_or_else(|| EngineError::msg("operator missing in the flatbuffer"))?;
        match op.op.as_str() {
            "VAR_HANDLE" => {
                let o = fb.builtin_options_as_var_handle_options();
                let key = (
                    o.and_then(|o| o.container()).unwrap_or("").to_string(),
                    o.and_then(|o| o.shared_name()).unwrap_or("").to_string(),
                );
                let next = self.var_ids.len() as i32;
                let id = *self.var_ids.entry(key).or_insert(next);
                return Ok(vec![Value::Resource(id)]);
            }
            "READ_VARIABLE" => {
                let Value::Resource(id) = get(0)? else {
                    return Err(EngineError::msg("input 0 is not a resource handle"));
                };
                let v = self.vars.get(&id).cloned().ok_or_else(|| {
                    EngineError::msg(format!("resource variable {id} read before assignment"))
                })?;
                return Ok(vec![v]);
            }
            "ASSIGN_VARIABLE" => {
                let Value::Resource(id) = get(0)? else {
                    return Err(EngineError::msg("input 0 is not a resource handle"));
                };
                let v = get(1)?;
                self.vars.insert(id, v);
                return Ok(vec![]);
            }
            "CALL_ONCE" => {
                let sub = sub_indices(model, sg, op)[0];
                if self.call_once_done.insert(sub) {
                    self.run_subgraph(sub, vec![], None)?;
                }
                return Ok(vec![]);
            }
            "IF" => {
                let subs = sub_indices(model, sg, op);
                let cond = get(0)?;
                let c = cond.to_i64_vec()?.first().copied().unwrap_or(0) != 0;
                let args = (1..op.inputs.len())
                    .map(get)
                    .collect::<Result<Vec<_>, _>>()?;
                return self.run_subgraph(if c { subs[0] } else { subs[1] }, args, None);
            }
            "WHILE" => {
                let subs = sub_indices(model, sg, op);
                let mut vals = (0..op.inputs.len())
                    .map(get)
                    .collect::<Result<Vec<_>, _>>()?;
                loop {
                    if self.cancelled() {
                        return Err(EngineError::Cancelled);
                    }
                    let c = self.run_subgraph(subs[0], vals.clone(), None)?;
                    let go = c
                        .first()
                        .map(|v| v.to_i64_vec())
                        .transpose()?
                        .and_then(|v| v.first().copied())
                        .unwrap_or(0)
                        != 0;
                    if !go {
                        return Ok(vals);
                    }
                    vals = self.run_subgraph(subs[1], vals, None)?;
                }
            }
            _ => {}
        }
        let consts = &self.consts[sg];
        let inputs: Vec<Option<&Value>> = op
            .inputs
            .iter()
            .map(|&t| {
                if t < 0 {
                    None
                } else {
                    env[t as usize].as_ref().or(consts[t as usize].as_ref())
                }
            })
            .collect();
        for (i, (&t, v)) in op.inputs.iter().zip(&inputs).enumerate() {
            if t >= 0 && v.is_none() {
                return Err(EngineError::msg(format!(
                    "input {i} (tensor {t} '{}') has no value",
                    s.tensors[t as usize].name
                )));
            }
        }
        let const_mask = op
            .inputs
            .iter()
            .take(64)
            .enumerate()
            .filter(|&(_, &t)| t >= 0 && consts[t as usize].is_some())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let mut ctx = kernels::OpCtx::new(model, sg, op, fb, inputs);
        ctx.prep = self.prep[sg].get(op.index).map(|p| (p, const_mask));
        kernels::run_op(&ctx)
    }
}

/// Runs op `op_index` of subgraph `sg` with its FLOAT kernel on float inputs (one per present
/// input of the op, in order; -1 inputs are skipped). Inputs whose tensor is a non-quantized
/// integer or bool (shapes, axes, indices) are converted back to their type, or taken from the
/// model when constant. Used for per-layer local error (constants dequantized by the caller).
pub fn run_op_float(
    model: &Model,
    sg: usize,
    op_index: usize,
    inputs: &[ArrayD<f32>],
) -> Result<Vec<ArrayD<f32>>, EngineError> {
    let s = model
        .subgraphs
        .get(sg)
        .ok_or_else(|| EngineError::msg(format!("no subgraph {sg}")))?;
    let op = s
        .operators
        .get(op_index)
        .ok_or_else(|| EngineError::msg(format!("no op {op_index} in subgraph {sg}")))?;
    let fb = model
        .fb_operator(sg, op_index)
        .ok_or_else(|| EngineError::msg("operator missing in the flatbuffer"))?;
    let mut vals: Vec<Option<Value>> = Vec::new();
    let mut it = inputs.iter();
    for &t in &op.inputs {
        if t < 0 {
            vals.push(None);
            continue;
        }
        let meta = &s.tensors[t as usize];
        let a = it.next().ok_or_else(|| {
            EngineError::msg(format!("op {op_index} {}: too few inputs given", op.op))
        })?;
        let is_index_like = !meta.dtype.is_float() && meta.quantization.is_none();
        let v = if is_index_like {
            match model.tensor_data(sg, t as usize) {
                Some(b) => {
                    let shape: Vec<usize> = meta.shape.iter().map(|&d| d.max(0) as usize).collect();
                    Value::from_constant(b, meta.dtype, &shape)?
                }
                None => kernels::cast::cast_f32_to(a, meta.dtype)?,
            }
        } else {
            Value::F32(a.clone())
        };
        vals.push(Some(v));
    }
    let ctx = kernels::OpCtx::new(model, sg, op, fb, vals.iter().map(|v| v.as_ref()).collect());
    let outs = kernels::run_float(&ctx).map_err(|e| match e {
        EngineError::Type(msg) => EngineError::Op {
            sg,
            index: op_index,
            op: op.op.clone(),
            tensor: String::new(),
            msg,
        },
        o => o,
    })?;
    outs.into_iter().map(|v| v.to_f32_lossy()).collect()
}

/// glibc returns every large (>128 KB) free to the OS, so each op's output buffer costs fresh
/// page faults; keeping freed memory in the heap makes repeated invocations much cheaper.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only adjusts allocator thresholds; called once, before our
            // allocations of tensor buffers.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 256 << 20);
                mallopt(M_TRIM_THRESHOLD, 512 << 20);
            }
        });
    }
}

/// Helper for tests and the CLI: the dtype and shape an input of subgraph 0 expects.
pub fn input_meta(model: &Model) -> Vec<&Tensor> {
    let sg = &model.subgraphs[0];
    sg.inputs.iter().map(|&t| &sg.tensors[t as usize]).collect()
}

#[allow(dead_code)]
fn _dtype_used(_: DType) {}
