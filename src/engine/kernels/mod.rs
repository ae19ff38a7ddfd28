//! Kernels: float32 and type-generic ones here (one file per op family), integer ones in
//! [`int`]. A kernel is `fn(&OpCtx) -> Result<Vec<Value>, EngineError>`, one value per output.

pub mod cast;
pub mod conv;
pub mod densify;
pub mod elementwise;
pub mod embedding;
pub mod int;
pub mod par;
pub mod pool;
pub mod reduce;
pub mod shape;
pub mod tiles;
pub mod vmath;

use super::{EngineError, Value};
use crate::model::{DType, Model, Operator, Quantization, Tensor};
use ndarray::ArrayD;
use tract_tflite::tflite;

/// Everything a kernel sees of one op.
pub struct OpCtx<'a> {
    pub model: &'a Model,
    pub sg: usize,
    pub op: &'a Operator,
    pub fb: tflite::Operator<'a>,
    /// One per op input; `None` for an absent optional input (-1).
    pub inputs: Vec<Option<&'a Value>>,
    /// Read through [`OpCtx::in_meta`], never by index: a corrupt file can give an op fewer
    /// inputs than its kernel reads.
    input_meta: Vec<Option<&'a Tensor>>,
    pub output_meta: Vec<&'a Tensor>,
    /// The engine's per-op cache and which inputs are constants (bit i: input i), if any.
    pub prep: Option<(&'a PrepSlot, u64)>,
}

/// Per-op state a kernel derives once from constant inputs (packed weights, requantization
/// parameters), kept by the engine so repeated invocations skip the work.
pub type PrepSlot = std::sync::OnceLock<std::sync::Arc<dyn std::any::Any + Send + Sync>>;

pub type Kernel = fn(&OpCtx) -> Result<Vec<Value>, EngineError>;

macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::engine::EngineError::Type(format!($($t)*))) };
}
pub(crate) use bail;

impl<'a> OpCtx<'a> {
    /// The context of op `op` of subgraph `sg`, with tensor metadata looked up from the model.
    pub fn new(
        model: &'a Model,
        sg: usize,
        op: &'a Operator,
        fb: tflite::Operator<'a>,
        inputs: Vec<Option<&'a Value>>,
    ) -> OpCtx<'a> {
        let s = &model.subgraphs[sg];
        OpCtx {
            model,
            sg,
            op,
            fb,
            inputs,
            input_meta: op
                .inputs
                .iter()
                .map(|&t| (t >= 0).then(|| &s.tensors[t as usize]))
                .collect(),
            output_meta: op
                .outputs
                .iter()
                .map(|&t| &s.tensors[t.max(0) as usize])
                .collect(),
            prep: None,
        }
    }

    /// `make()`, computed once per op when the engine keeps a cache and every input in
    /// `consts` is a constant; otherwise on every call.
    pub fn prepared<T: std::any::Any + Send + Sync>(
        &self,
        consts: &[usize],
        make: impl FnOnce() -> Result<T, EngineError>,
    ) -> Result<std::sync::Arc<T>, EngineError> {
        let slot = match self.prep {
            Some((slot, mask)) if consts.iter().all(|&i| i < 64 && mask >> i & 1 == 1) => slot,
            _ => return Ok(std::sync::Arc::new(make()?)),
        };
        if let Some(v) = slot.get() {
            if let Ok(t) = v.clone().downcast::<T>() {
                return Ok(t);
            }
        }
        let t = std::sync::Arc::new(make()?);
        let _ = slot.set(t.clone());
        Ok(t)
    }

    pub fn name(&self) -> &str {
        &self.op.op
    }
    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<&'a Value, EngineError> {
        match self.inputs.get(i) {
            Some(Some(v)) => Ok(v),
            Some(None) => bail!("input {i} is absent (-1) but required"),
            None => bail!(
                "expected at least {} inputs, the op has {}",
                i + 1,
                self.inputs.len()
            ),
        }
    }
    /// Input `i` if present (absent or beyond the input count: `None`).
    pub fn opt_input(&self, i: usize) -> Option<&'a Value> {
        self.inputs.get(i).copied().flatten()
    }
    pub fn in_f32(&self, i: usize) -> Result<&'a ArrayD<f32>, EngineError> {
        self.input(i)?
            .as_f32()
            .map_err(|e| EngineError::Type(format!("input {i} ({}): {e}", self.in_name(i))))
    }
    /// Input `i`'s tensor; `None` when it is absent (-1) or past the op's inputs (a corrupt
    /// file), which kernels then treat alike.
    pub fn in_meta(&self, i: usize) -> Option<&'a Tensor> {
        self.input_meta.get(i).copied().flatten()
    }
    pub fn in_name(&self, i: usize) -> String {
        self.in_meta(i)
            .map(|t| format!("tensor {} '{}'", t.index, t.name))
            .unwrap_or_else(|| format!("input {i}"))
    }
    pub fn in_quant(&self, i: usize) -> Option<&'a Quantization> {
        self.in_meta(i)?.quantization.as_ref()
    }
    pub fn out_quant(&self, i: usize) -> Option<&'a Quantization> {
        self.output_meta.get(i)?.quantization.as_ref()
    }
    pub fn out_dtype(&self, i: usize) -> DType {
        self.output_meta
            .get(i)
            .map(|t| t.dtype)
            .unwrap_or(DType::F32)
    }
    pub fn in_dtype(&self, i: usize) -> Option<DType> {
        self.in_meta(i).map(|t| t.dtype)
    }
    /// Integer-valued input (shape, axis, ...) as i64s.
    pub fn in_ints(&self, i: usize) -> Result<Vec<i64>, EngineError> {
        self.input(i)?
            .to_i64_vec()
            .map_err(|e| EngineError::Type(format!("input {i} ({}): {e}", self.in_name(i))))
    }
    /// The fused activation's name (`RELU`, `RELU6`, ...), if any.
    pub fn activation(&self) -> Option<&str> {
        self.op.fused_activation.as_deref()
    }
}

/// Applies a fused activation to float data in place.
pub fn apply_act(data: &mut [f32], act: Option<&str>) -> Result<(), EngineError> {
    let (lo, hi) = match act {
        None | Some("NONE") => return Ok(()),
        Some("RELU") => (0.0, f32::INFINITY),
        Some("RELU6") => (0.0, 6.0),
        Some("RELU_N1_TO_1") => (-1.0, 1.0),
        Some("TANH") => {
            data.iter_mut().for_each(|x| *x = x.tanh());
            return Ok(());
        }
        Some("SIGN_BIT") => {
            data.iter_mut()
                .for_each(|x| *x = if x.is_sign_negative() { 1.0 } else { 0.0 });
            return Ok(());
        }
        Some(other) => bail!("fused activation {other} is not supported"),
    };
    for x in data.iter_mut() {
        *x = x.max(lo).min(hi);
    }
    Ok(())
}

/// Axis argument normalised to `0..rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, EngineError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Whether an op can run, checked before anything runs. `Err` says why not. The answer comes
/// from [`crate::engine::registry`], the table that runs the op.
pub fn supported(op: &Operator, model: &Model, sg: usize) -> Result<(), String> {
    super::registry::supported(model, sg, op)
}

/// Runs `kernel` on `ctx`.
///
/// A kernel that panics on input it should have refused (a bug; the fuzzers hunt for these) is
/// reported as this op's error rather than taking the caller down with it.
pub fn run_kernel<R>(
    kernel: impl Fn(&OpCtx) -> Result<R, EngineError>,
    ctx: &OpCtx,
) -> Result<R, EngineError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kernel(ctx))).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        bail!(
            "internal error in the {} kernel ({what}); please report this model",
            ctx.name()
        )
    })
}

/// Runs an op's float/generic kernel (never the integer ones).
pub fn run_float(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match super::registry::float_kernel(ctx.op) {
        Some(k) => run_kernel(k, ctx),
        None => bail!("no float kernel for {}", ctx.name()),
    }
}
