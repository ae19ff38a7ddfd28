//! Integer (quantized) kernels, bit-exact with TFLite's reference kernels (`BUILTIN_REF`), and
//! the dynamic-range (hybrid) kernels.
//!
//! [`dispatch`] recognises the integer cases of an op from its tensors' dtypes; anything it
//! does not claim goes to the float/generic kernels. Each family lives in its own file; the
//! numerics (multipliers, rounding, fixed point) are in [`crate::engine::arith`].

mod activ;
mod binary;
pub(crate) mod blockwise;
mod conv;
mod elem;
mod gemm;
mod hybrid;
mod pool;
mod quant;
mod softmax_lut;

use super::OpCtx;
use crate::engine::arith::{self, Activation};
use crate::engine::{EngineError, Value};
use crate::model::{DType, Model, Operator, Tensor};
use ndarray::{ArrayD, IxDyn};
use std::borrow::Cow;

pub(crate) use super::bail;

/// An integer element type of quantized tensors.
pub trait QInt: Copy + Send + Sync + Default + 'static {
    const MIN: i32;
    const MAX: i32;
    fn to_i32(self) -> i32;
    /// Wrapping conversion (callers clamp first).
    fn from_i32(x: i32) -> Self;
    fn wrap(a: ArrayD<Self>) -> Value;
}

macro_rules! qint {
    ($t:ty, $var:ident) => {
        impl QInt for $t {
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            #[inline(always)]
            fn to_i32(self) -> i32 {
                self as i32
            }
            #[inline(always)]
            fn from_i32(x: i32) -> Self {
                x as $t
            }
            fn wrap(a: ArrayD<Self>) -> Value {
                Value::$var(a)
            }
        }
    };
}
qint!(i8, I8);
qint!(u8, U8);
qint!(i16, I16);

#[inline(always)]
pub(crate) fn clamp_to<T: QInt>(x: i32, lo: i32, hi: i32) -> T {
    T::from_i32(x.max(lo).min(hi))
}

/// Per-tensor (scale, zero point) of a tensor; (0, 0) when it has none.
pub(crate) fn qparams(t: Option<&Tensor>) -> (f32, i32) {
    match t.and_then(|t| t.quantization.as_ref()) {
        Some(q) => {
            let (s, z) = q.channel(0);
            (s, z as i32)
        }
        None => (0.0, 0),
    }
}

/// Per-channel scales (one entry for per-tensor parameters).
pub(crate) fn scales(t: Option<&Tensor>) -> Vec<f32> {
    t.and_then(|t| t.quantization.as_ref())
        .map(|q| q.scales.clone())
        .unwrap_or_default()
}

/// The elements of an array in logical (row-major) order, borrowed when already contiguous.
pub(crate) fn flat<T: Clone>(a: &ArrayD<T>) -> Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().cloned().collect()),
    }
}

pub(crate) fn array<T>(shape: &[usize], data: Vec<T>) -> Result<ArrayD<T>, EngineError> {
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| EngineError::Type(e.to_string()))
}

/// The op's fused activation.
pub(crate) fn fused(ctx: &OpCtx) -> Activation {
    match ctx.activation() {
        None | Some("NONE") => Activation::None,
        Some("RELU") => Activation::Relu,
        Some("RELU6") => Activation::Relu6,
        Some("RELU_N1_TO_1") => Activation::ReluN1To1,
        _ => Activation::Other,
    }
}

/// Quantized clamp range of output `i` for the op's fused activation.
pub(crate) fn out_range(ctx: &OpCtx, act: Activation, i: usize) -> (i32, i32) {
    let (s, z) = qparams(ctx.output_meta.get(i).copied());
    let (lo, hi) = type_range(ctx.out_dtype(i));
    arith::activation_range(act, s, z, lo, hi)
}

pub(crate) fn type_range(dt: DType) -> (i32, i32) {
    match dt {
        DType::I8 => (-128, 127),
        DType::U8 => (0, 255),
        DType::I16 => (-32768, 32767),
        _ => (i32::MIN, i32::MAX),
    }
}

fn is_q(dt: Option<DType>) -> bool {
    matches!(dt, Some(DType::I8 | DType::U8 | DType::I16))
}

/// Which kernel handles an op, decided from names and dtypes only (shared by [`dispatch`] and
/// [`supported`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Conv,
    Depthwise,
    FullyConnected,
    TransposeConv,
    BatchMatMul,
    HybridConv,
    HybridDepthwise,
    HybridFullyConnected,
    HybridBatchMatMul,
    AvgPool,
    Reduce,
    Softmax,
    LogSoftmax,
    Lut,
    Relu,
    LeakyRelu,
    HardSwish,
    Prelu,
    Binary,
    Requantize,
    Concat,
    ResizeBilinear,
    L2Norm,
    MaxPoolRequant,
    Lut2,
    Sqrt,
    Rsqrt,
    Div,
}

fn route(
    name: &str,
    dt: &dyn Fn(usize) -> Option<DType>,
    out: Option<DType>,
    n_in: usize,
) -> Option<Route> {
    let x = dt(0);
    let q = is_q(x);
    let r = match name {
        "CONV_2D" | "DEPTHWISE_CONV_2D" | "FULLY_CONNECTED" => {
            let w = dt(1);
            let hybrid = x == Some(DType::F32)
                && (matches!(w, Some(DType::I8 | DType::I4 | DType::U8))
                        // int2: TFLite unpacks it for FULLY_CONNECTED only; its conv kernels read
                        // the packed bytes as int8 (past the buffer: NaN), so conv is refused.
                        || (name == "FULLY_CONNECTED" && w == Some(DType::I2)));
            match (name, q && is_q(w), hybrid) {
                ("CONV_2D", true, _) => Route::Conv,
                ("DEPTHWISE_CONV_2D", true, _) => Route::Depthwise,
                ("FULLY_CONNECTED", true, _) => Route::FullyConnected,
                ("CONV_2D", _, true) => Route::HybridConv,
                ("DEPTHWISE_CONV_2D", _, true) => Route::HybridDepthwise,
                ("FULLY_CONNECTED", _, true) => Route::HybridFullyConnected,
                _ => return None,
            }
        }
        "TRANSPOSE_CONV" if is_q(dt(2)) && is_q(dt(1)) => Route::TransposeConv,
        "BATCH_MATMUL" => {
            if q && is_q(dt(1)) {
                Route::BatchMatMul
            } else if x == Some(DType::F32) && matches!(dt(1), Some(DType::I8 | DType::I4)) {
                Route::HybridBatchMatMul
            } else {
                return None;
            }
        }
        "AVERAGE_POOL_2D" if q => Route::AvgPool,
        "MAX_POOL_2D" if q => Route::MaxPoolRequant,
        "MEAN" | "SUM" | "REDUCE_MAX" | "REDUCE_MIN" | "REDUCE_PROD" if q => Route::Reduce,
        "SOFTMAX" if q => Route::Softmax,
        "LOG_SOFTMAX" if q => Route::LogSoftmax,
        "ELU" if x == Some(DType::I8) => Route::Lut2,
        "LOGISTIC" | "TANH" | "ELU" if q => Route::Lut,
        "GELU" if q => Route::Lut2,
        "LOG" | "EXP" if matches!(x, Some(DType::I8 | DType::U8 | DType::I16)) => Route::Lut2,
        "SQRT" if matches!(x, Some(DType::I8 | DType::U8)) => Route::Sqrt,
        "RSQRT" if matches!(x, Some(DType::I8 | DType::U8)) => Route::Rsqrt,
        "SIN" | "COS" if matches!(x, Some(DType::I8 | DType::U8)) => Route::Lut,
        "RELU" | "RELU6" | "RELU_N1_TO_1" | "RELU_0_TO_1" if q => Route::Relu,
        "LEAKY_RELU" if q => Route::LeakyRelu,
        "HARD_SWISH" if q => Route::HardSwish,
        "PRELU" if q => Route::Prelu,
        "DIV" if q => Route::Div,
        "ADD" | "SUB" | "MUL" | "SQUARED_DIFFERENCE" | "MAXIMUM" | "MINIMUM" | "ABS" | "NEG"
        | "SQUARE"
            if q =>
        {
            Route::Binary
        }
        "QUANTIZE" if q && is_q(out) => Route::Requantize,
        "CONCATENATION" if q && (0..n_in).all(|i| is_q(dt(i))) => Route::Concat,
        "RESIZE_BILINEAR" if q => Route::ResizeBilinear,
        "L2_NORMALIZATION" if q => Route::L2Norm,
        _ => return None,
    };
    Some(r)
}

/// Runs `ctx`'s op if it is an integer-kernel case; `None` hands it to the float/generic kernels.
pub fn dispatch(ctx: &OpCtx) -> Option<Result<Vec<Value>, EngineError>> {
    let dt = |i: usize| ctx.in_dtype(i);
    let r = route(
        ctx.name(),
        &dt,
        ctx.output_meta.first().map(|t| t.dtype),
        ctx.inputs.len(),
    )?;
    Some(match r {
        Route::Conv => conv::conv2d(ctx),
        Route::Depthwise => conv::depthwise(ctx),
        Route::FullyConnected => conv::fully_connected(ctx),
        Route::TransposeConv => conv::transpose_conv(ctx),
        Route::BatchMatMul => conv::batch_matmul(ctx),
        Route::HybridConv => hybrid::conv2d(ctx),
        Route::HybridDepthwise => hybrid::depthwise(ctx),
        Route::HybridFullyConnected => hybrid::fully_connected(ctx),
        Route::HybridBatchMatMul => hybrid::batch_matmul(ctx),
        Route::AvgPool => pool::avg_pool(ctx),
        Route::MaxPoolRequant => {
            // Same quantization in and out: the generic max pool is exact.
            if ctx.in_quant(0).map(|q| (&q.scales, &q.zero_points))
                == ctx.out_quant(0).map(|q| (&q.scales, &q.zero_points))
            {
                return None;
            }
            Err(EngineError::msg(
                "quantized MAX_POOL_2D with requantization is not supported",
            ))
        }
        Route::Reduce => pool::reduce(ctx),
        Route::Softmax => activ::softmax(ctx),
        Route::LogSoftmax => elem::log_softmax(ctx),
        Route::Lut => activ::lut_op(ctx),
        Route::Relu => activ::relu(ctx),
        Route::LeakyRelu => activ::leaky_relu(ctx),
        Route::HardSwish => elem::hard_swish(ctx),
        Route::Prelu => elem::prelu(ctx),
        Route::Lut2 => elem::lut_op(ctx),
        Route::Sqrt => elem::sqrt(ctx),
        Route::Rsqrt => elem::rsqrt(ctx),
        Route::Div => elem::div(ctx),
        Route::Binary => binary::binary(ctx),
        Route::Requantize => quant::requantize(ctx),
        Route::Concat => {
            let ins: Vec<Option<(f32, i32)>> = ctx
                .input_meta
                .iter()
                .map(|t| t.map(|t| qparams(Some(t))))
                .collect();
            if quant::concat_same_quant(&ins, qparams(Some(ctx.output_meta[0]))) {
                return None;
            }
            quant::concatenation(ctx)
        }
        Route::ResizeBilinear => pool::resize_bilinear(ctx),
        Route::L2Norm => elem::l2_normalization(ctx),
    })
}

/// Whether [`dispatch`] handles this op (checked before anything runs).
pub fn supported(op: &Operator, model: &Model, sg: usize) -> bool {
    let s = &model.subgraphs[sg];
    let dt = |i: usize| -> Option<DType> {
        op.inputs
            .get(i)
            .filter(|&&x| x >= 0)
            .map(|&x| s.tensors[x as usize].dtype)
    };
    let out = op
        .outputs
        .first()
        .filter(|&&x| x >= 0)
        .map(|&x| s.tensors[x as usize].dtype);
    match route(&op.op, &dt, out, op.inputs.len()) {
        None => false,
        // Same-quantization max pool runs on the generic kernel.
        Some(Route::MaxPoolRequant) => {
            let q = |t: i32| {
                s.tensors
                    .get(t as usize)
                    .and_then(|t| t.quantization.as_ref())
            };
            let (a, b) = (
                op.inputs.first().and_then(|&t| q(t)),
                op.outputs.first().and_then(|&t| q(t)),
            );
            a.map(|q| (&q.scales, &q.zero_points)) == b.map(|q| (&q.scales, &q.zero_points))
        }
        // Routed here but not implemented yet: refuse before running (the engine names them).
        Some(Route::HybridBatchMatMul) => false,
        Some(Route::LogSoftmax) => matches!(dt(0), Some(DType::I8 | DType::U8)),
        Some(Route::HardSwish | Route::Prelu) => {
            matches!(dt(0), Some(DType::I8 | DType::U8))
        }
        Some(Route::Lut2) => {
            // ELU: int8 only (EluPrepare); LOG/EXP: no uint8 kernel in TFLite.
            dt(0) == Some(DType::I8)
                || (op.op == "GELU" && dt(0) == Some(DType::U8))
                || (op.op != "ELU" && dt(0) == Some(DType::I16))
        }
        // SQRT/RSQRT: ai-edge-litert 2.3.0 refuses uint8 ("Type UINT8 is unsupported").
        Some(Route::Sqrt | Route::Rsqrt) => dt(0) == Some(DType::I8),
        Some(Route::L2Norm) => matches!(dt(0), Some(DType::I8 | DType::U8)),
        Some(Route::Div) => matches!(dt(0), Some(DType::I8 | DType::U8 | DType::I16)),
        Some(Route::Lut) => matches!(op.op.as_str(), "LOGISTIC" | "TANH"),
        Some(Route::Binary) => op.op != "SQUARE",
        Some(Route::Reduce) => op.op != "REDUCE_PROD" || dt(0) != Some(DType::U8),
        Some(_) => true,
    }
}
