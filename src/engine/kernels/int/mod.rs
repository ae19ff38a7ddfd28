//! Integer (quantized) kernels, bit-exact with TFLite's reference kernels (`BUILTIN_REF`), and
//! the dynamic-range (hybrid) kernels.
//!
//! Which op runs on which of these kernels is decided by [`crate::engine::registry`]. Each
//! family lives in its own file; the numerics (multipliers, rounding, fixed point) are in
//! [`crate::engine::arith`].

pub(crate) mod activ;
pub(crate) mod binary;
pub(crate) mod blockwise;
pub(crate) mod conv;
pub(crate) mod elem;
mod gemm;
mod gemv;
pub(crate) mod hybrid;
mod hybrid_gemm;
pub(crate) mod pool;
pub(crate) mod quant;
mod rq16;
mod softmax_lut;

use super::OpCtx;
use crate::engine::arith::{self, Activation};
use crate::engine::{EngineError, Value};
use crate::model::{DType, Tensor};
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

/// Runs a kernel generic over [`QInt`] on an int8, uint8 or int16 value: `$x` is bound to the
/// array and `$body` evaluated; any other type fails with the message `$fmt` (its last `{}`
/// is the value's type).
macro_rules! on_qint {
    ($v:expr, $x:ident => $body:expr, $fmt:literal $(, $arg:expr)*) => {
        match $v {
            $crate::engine::Value::I8($x) => $body,
            $crate::engine::Value::U8($x) => $body,
            $crate::engine::Value::I16($x) => $body,
            other => $crate::engine::kernels::bail!($fmt, $($arg,)* other.dtype()),
        }
    };
}
pub(crate) use on_qint;

#[inline(always)]
pub(crate) fn clamp_to<T: QInt>(x: i32, lo: i32, hi: i32) -> T {
    T::from_i32(x.max(lo).min(hi))
}

/// Refuses an op whose output type differs from its input type (the kernels that require it).
pub(crate) fn same_type_out(ctx: &OpCtx) -> Result<(), EngineError> {
    if Some(ctx.out_dtype(0)) != ctx.in_dtype(0) {
        bail!(
            "{} input with {} output is not supported",
            ctx.in_dtype(0).map(|d| d.name()).unwrap_or_default(),
            ctx.out_dtype(0)
        );
    }
    Ok(())
}

/// An element-wise op on a quantized tensor of one of the types `allowed`, output in the same
/// type: `per_type(min, max)` (the type's range) gives the map from a stored value (widened to
/// i32) to the new stored value, which is clamped to the range.
pub(crate) fn map_q<G: Fn(i32) -> i32>(
    ctx: &OpCtx,
    allowed: &[DType],
    per_type: impl Fn(i32, i32) -> G,
) -> Result<Value, EngineError> {
    fn go<T: QInt>(x: &ArrayD<T>, g: impl Fn(i32) -> i32) -> ArrayD<T> {
        x.mapv(|v| clamp_to::<T>(g(v.to_i32()), T::MIN, T::MAX))
    }
    let x = ctx.input(0)?;
    Ok(match x {
        Value::I8(a) if allowed.contains(&DType::I8) => Value::I8(go(a, per_type(-128, 127))),
        Value::U8(a) if allowed.contains(&DType::U8) => Value::U8(go(a, per_type(0, 255))),
        Value::I16(a) if allowed.contains(&DType::I16) => {
            Value::I16(go(a, per_type(-32768, 32767)))
        }
        other => bail!(
            "quantized {} on {} is not supported",
            ctx.name(),
            other.dtype()
        ),
    })
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
