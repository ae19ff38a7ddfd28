//! Running models with TFLite's semantics.
//!
//! [`Engine`] runs subgraph 0 of a [`Model`] op by op in the model's order (plus the subgraphs
//! it calls through CALL_ONCE / WHILE / IF), keeps resource variables between invocations and
//! can hand back every intermediate tensor. Kernels live in [`kernels`]: float and
//! type-generic ones there, integer ones in `kernels::int`; which op runs on which kernel is
//! the [`registry`]'s table, resolved once per op when the engine is created. Control flow is
//! in `control.rs`, one op on its own (per-layer error) in `single_op.rs`.

pub mod arith;
mod control;
mod error;
pub mod kernels;
pub mod limits;
pub mod npy;
mod plan;
pub mod registry;
pub mod simd;
mod single_op;
mod value;

pub use error::EngineError;
pub use single_op::run_op_float;
pub use value::Value;

use crate::model::{Model, Operator, Tensor};
use control::sub_indices;
use registry::Prepared;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tract_tflite::tflite::BuiltinOperator as B;

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
    /// Threads for the kernels of [`Engine::invoke`] (big ops split their rows or values over
    /// them, with the same results for any count); 0: the caller's rayon pool (the global one
    /// has a thread per core). At most [`MAX_THREADS`].
    pub threads: usize,
}

/// The most kernel threads an engine starts.
pub const MAX_THREADS: usize = 256;

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
    /// Per subgraph, per op: how it runs, resolved once from the registry (`None`: in a
    /// subgraph the model never reaches).
    plan: Vec<Vec<Option<Prepared>>>,
    /// The kernels' thread pool when [`EngineOptions::threads`] asks for one.
    pool: Option<Arc<rayon::ThreadPool>>,
}

/// The builtin code of an op (`None` for custom ops).
fn code(op: &Operator) -> Option<B> {
    (!op.is_custom).then_some(B(op.builtin_code))
}

impl<'m> Engine<'m> {
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

    /// Runs subgraph 0 on `inputs` (one per model input, in order), on the engine's threads.
    pub fn invoke(&mut self, inputs: &[Value]) -> Result<RunOutput, EngineError> {
        match self.pool.clone() {
            Some(pool) => pool.install(|| self.invoke_here(inputs)),
            None => self.invoke_here(inputs),
        }
    }

    fn invoke_here(&mut self, inputs: &[Value]) -> Result<RunOutput, EngineError> {
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
            let outs = self.run_one(sg, op, &mut env).map_err(wrap)?;
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

    /// Whether op `op` may take its input 0 out of `env` instead of reading it: a reshape
    /// (the buffer is kept, only the shape changes) whose input dies here and is not kept,
    /// variable, constant or read twice by the op.
    fn moves_input(&self, sg: usize, op: &Operator, env: &[Option<Value>]) -> bool {
        let Some(&t) = op.inputs.first() else {
            return false;
        };
        let is_reshape = matches!(op.op.as_str(), "RESHAPE" | "SQUEEZE" | "EXPAND_DIMS");
        is_reshape
            && !op.is_custom
            && t >= 0
            && env.get(t as usize).is_some_and(|v| v.is_some())
            && self.last_use[sg][t as usize] == op.index
            && !self.model.subgraphs[sg].tensors[t as usize].is_variable
            && !(sg == 0 && self.is_kept(t as usize))
            && !op.inputs[1..].contains(&t)
            && !op.outputs.contains(&t)
    }

    fn run_one(
        &mut self,
        sg: usize,
        op: &Operator,
        env: &mut [Option<Value>],
    ) -> Result<Vec<Value>, EngineError> {
        let model = self.model;
        let s = &model.subgraphs[sg];
        let fb = model
            .fb_operator(sg, op.index)
            .ok_or_else(|| EngineError::msg("operator missing in the flatbuffer"))?;
        let route = match self.plan[sg].get(op.index).copied().flatten() {
            Some(Prepared::Kernel(route)) => route,
            Some(Prepared::Control) => return self.run_control(sg, op, fb, env),
            None => return Err(EngineError::msg("op was not prepared")),
        };
        let moved = if self.moves_input(sg, op, env) {
            env[op.inputs[0] as usize].take()
        } else {
            None
        };
        let env = &*env;
        let consts = &self.consts[sg];
        let inputs: Vec<Option<&Value>> = op
            .inputs
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                if t < 0 {
                    None
                } else if i == 0 && moved.is_some() {
                    moved.as_ref()
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
        if moved.is_some() {
            let shape = kernels::run_kernel(kernels::shape::reshape_target, &ctx)?;
            drop(ctx);
            let v = moved.expect("checked above");
            return Ok(vec![kernels::shape::reshape_into(v, &shape)?]);
        }
        kernels::run_kernel(route.kernel, &ctx)
    }
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
