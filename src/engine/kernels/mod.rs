//! Kernels: float32 and type-generic ones here (one file per op family), integer ones in
//! [`int`]. A kernel is `fn(&OpCtx) -> Result<Vec<Value>, EngineError>`, one value per output.

pub mod cast;
pub mod conv;
pub mod densify;
pub mod elementwise;
pub mod embedding;
pub mod int;
pub mod pool;
pub mod reduce;
pub mod shape;

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
    pub input_meta: Vec<Option<&'a Tensor>>,
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
    pub fn in_name(&self, i: usize) -> String {
        self.input_meta
            .get(i)
            .copied()
            .flatten()
            .map(|t| format!("tensor {} '{}'", t.index, t.name))
            .unwrap_or_else(|| format!("input {i}"))
    }
    pub fn in_quant(&self, i: usize) -> Option<&'a Quantization> {
        self.input_meta
            .get(i)
            .copied()
            .flatten()?
            .quantization
            .as_ref()
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
        self.input_meta.get(i).copied().flatten().map(|t| t.dtype)
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

/// The float/generic kernel for an op name.
pub fn float_kernel(name: &str) -> Option<Kernel> {
    use elementwise as e;
    Some(match name {
        "CONV_2D" => conv::conv2d,
        "DEPTHWISE_CONV_2D" => conv::depthwise_conv2d,
        "TRANSPOSE_CONV" => conv::transpose_conv,
        "Convolution2DTransposeBias" => conv::conv2d_transpose_bias,
        "FULLY_CONNECTED" => conv::fully_connected,
        "BATCH_MATMUL" => conv::batch_matmul,
        "ADD" | "SUB" | "MUL" | "DIV" | "SQUARED_DIFFERENCE" | "MAXIMUM" | "MINIMUM" | "POW"
        | "FLOOR_DIV" | "FLOOR_MOD" => e::binary,
        "NEG" | "ABS" | "SQRT" | "RSQRT" | "SQUARE" | "EXP" | "LOG" | "SIN" | "COS" | "FLOOR"
        | "CEIL" | "ROUND" | "SIGN" | "RELU" | "RELU6" | "RELU_N1_TO_1" | "RELU_0_TO_1"
        | "LEAKY_RELU" | "HARD_SWISH" | "LOGISTIC" | "TANH" | "GELU" | "ELU" => e::unary,
        "PRELU" => e::prelu,
        "SOFTMAX" => e::softmax,
        "LOG_SOFTMAX" => e::log_softmax,
        "L2_NORMALIZATION" => e::l2_normalization,
        "EQUAL" | "NOT_EQUAL" | "LESS" | "LESS_EQUAL" | "GREATER" | "GREATER_EQUAL" => e::compare,
        "LOGICAL_AND" | "LOGICAL_OR" | "LOGICAL_NOT" => e::logical,
        "SELECT" | "SELECT_V2" => e::select,
        "AVERAGE_POOL_2D" => pool::avg_pool,
        "MAX_POOL_2D" => pool::max_pool,
        "MEAN" | "SUM" | "REDUCE_MAX" | "REDUCE_MIN" | "REDUCE_PROD" | "REDUCE_ANY"
        | "REDUCE_ALL" => reduce::reduce,
        "ARG_MAX" | "ARG_MIN" => reduce::arg_max_min,
        "RESHAPE" | "SQUEEZE" | "EXPAND_DIMS" => shape::reshape_like,
        "TRANSPOSE" => shape::transpose,
        "CONCATENATION" => shape::concatenation,
        "PACK" => shape::pack,
        "UNPACK" => shape::unpack,
        "SPLIT" | "SPLIT_V" => shape::split,
        "SLICE" => shape::slice,
        "STRIDED_SLICE" => shape::strided_slice,
        "GATHER" => shape::gather,
        "PAD" | "PADV2" => shape::pad,
        "MIRROR_PAD" => shape::mirror_pad,
        "TILE" => shape::tile,
        "BROADCAST_TO" => shape::broadcast_to,
        "DEPTH_TO_SPACE" => shape::depth_to_space,
        "SPACE_TO_DEPTH" => shape::space_to_depth,
        "REVERSE_V2" => shape::reverse,
        "RESIZE_NEAREST_NEIGHBOR" => shape::resize_nearest,
        "RESIZE_BILINEAR" => shape::resize_bilinear,
        "ZEROS_LIKE" => shape::zeros_like,
        "DENSIFY" => densify::densify,
        "CAST" => cast::cast,
        "SHAPE" => cast::shape,
        "FILL" => cast::fill,
        "RANGE" => cast::range,
        "QUANTIZE" => cast::quantize,
        "DEQUANTIZE" => cast::dequantize,
        "EMBEDDING_LOOKUP" => embedding::embedding_lookup,
        _ => return None,
    })
}

/// Ops whose float kernel is generic over element type (pure data movement, selection,
/// comparisons): they also serve integer tensors as long as no requantization is needed.
const GENERIC: &[&str] = &[
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "TRANSPOSE",
    "PACK",
    "UNPACK",
    "SPLIT",
    "SPLIT_V",
    "SLICE",
    "STRIDED_SLICE",
    "GATHER",
    "PAD",
    "PADV2",
    "MIRROR_PAD",
    "TILE",
    "BROADCAST_TO",
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "REVERSE_V2",
    "RESIZE_NEAREST_NEIGHBOR",
    "CAST",
    "SHAPE",
    "FILL",
    "RANGE",
    "SELECT",
    "SELECT_V2",
    "EQUAL",
    "NOT_EQUAL",
    "LESS",
    "LESS_EQUAL",
    "GREATER",
    "GREATER_EQUAL",
    "LOGICAL_AND",
    "LOGICAL_OR",
    "LOGICAL_NOT",
    "ARG_MAX",
    "ARG_MIN",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "ZEROS_LIKE",
    "DENSIFY",
    "REDUCE_ANY",
    "REDUCE_ALL",
];

fn same_quant(a: Option<&Quantization>, b: Option<&Quantization>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.scales == b.scales && a.zero_points == b.zero_points,
        _ => false,
    }
}

/// Whether an op can run, checked before anything runs. `Err` says why not.
pub fn supported(op: &Operator, model: &Model, sg: usize) -> Result<(), String> {
    if int::supported(op, model, sg) {
        return Ok(());
    }
    let name = op.op.as_str();
    if float_kernel(name).is_none() {
        return Err(if op.is_custom {
            format!("custom op '{name}' is not implemented")
        } else {
            "not implemented".to_string()
        });
    }
    let s = &model.subgraphs[sg];
    let t = |i: usize| -> Option<&Tensor> {
        op.inputs
            .get(i)
            .filter(|&&x| x >= 0)
            .map(|&x| &s.tensors[x as usize])
    };
    let dt = |i: usize| t(i).map(|t| t.dtype);
    let out = op
        .outputs
        .first()
        .filter(|&&x| x >= 0)
        .map(|&x| &s.tensors[x as usize]);
    if GENERIC.contains(&name) {
        return Ok(());
    }
    let x = dt(0).unwrap_or(DType::F32);
    let need_int = || Err(format!("{x} input needs an integer kernel (not available)"));
    match name {
        "QUANTIZE" => {
            if matches!(x, DType::F32 | DType::F16) {
                Ok(())
            } else {
                Err(format!(
                    "{x} -> {} requantization needs an integer kernel (not available)",
                    out.map(|o| o.dtype.name()).unwrap_or_default()
                ))
            }
        }
        "CONCATENATION" | "MAX_POOL_2D" | "REDUCE_MAX" | "REDUCE_MIN" => {
            let oq = out.and_then(|o| o.quantization.as_ref());
            let all_same = op
                .inputs
                .iter()
                .enumerate()
                .filter(|&(_, &i)| i >= 0)
                .all(|(k, _)| {
                    k > 0 && name != "CONCATENATION"
                        || same_quant(t(k).and_then(|t| t.quantization.as_ref()), oq)
                });
            if x == DType::F32 || all_same {
                Ok(())
            } else {
                Err("inputs and output have different quantization: needs an integer kernel (not available)".into())
            }
        }
        "ADD" | "SUB" | "MUL" | "DIV" | "MAXIMUM" | "MINIMUM" | "FLOOR_DIV" | "FLOOR_MOD"
        | "SQUARED_DIFFERENCE" | "POW" | "NEG" | "ABS" | "SQUARE" | "SIGN" => {
            let quantized = t(0).is_some_and(|t| t.quantization.is_some() && !t.dtype.is_float());
            if matches!(x, DType::F32 | DType::I32 | DType::I64) && !quantized {
                Ok(())
            } else {
                need_int()
            }
        }
        "CONV_2D" | "DEPTHWISE_CONV_2D" | "FULLY_CONNECTED" | "BATCH_MATMUL" | "TRANSPOSE_CONV" => {
            let w = if name == "TRANSPOSE_CONV" {
                dt(1)
            } else {
                dt(1)
            };
            let (xi, wi) = if name == "TRANSPOSE_CONV" {
                (dt(2), dt(1))
            } else {
                (Some(x), w)
            };
            if xi == Some(DType::F32) && wi == Some(DType::F32) {
                Ok(())
            } else {
                Err(format!(
                    "{} input with {} weights needs an integer/hybrid kernel (not available)",
                    xi.map(|d| d.name()).unwrap_or_default(),
                    wi.map(|d| d.name()).unwrap_or_default()
                ))
            }
        }
        _ => {
            if x == DType::F32 {
                Ok(())
            } else {
                need_int()
            }
        }
    }
}

/// Runs an op: the integer kernels first, then the float/generic ones.
///
/// A kernel that panics on input it should have refused (a bug; the fuzzers hunt for these) is
/// reported as this op's error rather than taking the caller down with it.
pub fn run_op(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let run = || {
        if int::blockwise::handles(ctx) {
            return int::blockwise::fully_connected(ctx);
        }
        if let Some(r) = int::dispatch(ctx) {
            return r;
        }
        run_float(ctx)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
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
    match float_kernel(ctx.name()) {
        Some(k) => k(ctx),
        None => bail!("no kernel for {}", ctx.name()),
    }
}
