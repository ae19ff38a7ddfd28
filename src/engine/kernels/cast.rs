//! CAST, SHAPE, FILL, RANGE, QUANTIZE (float -> int), DEQUANTIZE.

use super::{bail, OpCtx};
use crate::engine::{EngineError, Value};
use crate::map_value;
use crate::model::{DType, Quantization};
use half::f16;
use ndarray::{ArrayD, IxDyn};

/// Element-wise numeric conversion with C++ `static_cast` semantics (float -> int truncates).
pub fn convert(v: &Value, to: DType) -> Result<Value, EngineError> {
    /// The converted values in `a`'s shape (standard layout).
    fn build<T>(shape: &[usize], it: impl Iterator<Item = T>) -> ArrayD<T> {
        ArrayD::from_shape_vec(IxDyn(shape), it.collect()).unwrap()
    }
    macro_rules! from_iter {
        ($a:expr, $conv:expr) => {{
            let a = $a;
            let shape = a.shape();
            let f = $conv;
            let vals = a.iter().map(|&x| f(x));
            match to {
                DType::F32 => Value::F32(build(shape, vals.map(|x| x as f32))),
                DType::F16 => Value::F16(build(shape, vals.map(f16::from_f64))),
                DType::I8 => Value::I8(build(shape, vals.map(|x| x as i64 as i8))),
                DType::U8 => Value::U8(build(shape, vals.map(|x| x as i64 as u8))),
                DType::I16 => Value::I16(build(shape, vals.map(|x| x as i64 as i16))),
                DType::I32 => Value::I32(build(shape, vals.map(|x| x as i64 as i32))),
                DType::I64 => Value::I64(build(shape, vals.map(|x| x as i64))),
                DType::Bool => Value::Bool(build(shape, vals.map(|x| x != 0.0))),
                other => bail!("cannot cast to {other}"),
            }
        }};
    }
    if v.dtype() == to {
        return Ok(v.clone());
    }
    Ok(match v {
        Value::F32(a) => from_iter!(a, |x: f32| x as f64),
        Value::F16(a) => from_iter!(a, |x: f16| x.to_f64()),
        Value::I8(a) => from_iter!(a, |x: i8| x as f64),
        Value::U8(a) => from_iter!(a, |x: u8| x as f64),
        Value::I16(a) => from_iter!(a, |x: i16| x as f64),
        Value::I32(a) => from_iter!(a, |x: i32| x as f64),
        Value::I64(a) => {
            // Keep full precision for i64 -> i32/i64.
            if to == DType::I32 {
                return Ok(Value::I32(a.mapv(|x| x as i32)));
            }
            from_iter!(a, |x: i64| x as f64)
        }
        Value::Bool(a) => from_iter!(a, |x: bool| x as u8 as f64),
        other => bail!("cannot cast a {} tensor", other.dtype()),
    })
}

pub fn cast_f32_to(a: &ArrayD<f32>, to: DType) -> Result<Value, EngineError> {
    convert(&Value::F32(a.clone()), to)
}

pub fn cast(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    Ok(vec![convert(ctx.input(0)?, ctx.out_dtype(0))?])
}

pub fn shape(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let s: Vec<i64> = ctx.input(0)?.shape().iter().map(|&d| d as i64).collect();
    let n = s.len();
    Ok(vec![match ctx.out_dtype(0) {
        DType::I64 => Value::I64(ArrayD::from_shape_vec(IxDyn(&[n]), s).unwrap()),
        _ => Value::I32(
            ArrayD::from_shape_vec(IxDyn(&[n]), s.iter().map(|&d| d as i32).collect()).unwrap(),
        ),
    }])
}

pub fn fill(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let dims: Vec<usize> = ctx.in_ints(0)?.iter().map(|&d| d.max(0) as usize).collect();
    let v = ctx.input(1)?;
    if v.is_empty() {
        bail!("FILL value is empty");
    }
    crate::engine::limits::check_alloc(&dims, 8, "FILL output")?;
    Ok(vec![
        map_value!(v, a => ArrayD::from_elem(IxDyn(&dims), a.iter().next().unwrap().clone())),
    ])
}

pub fn range(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let (s, l, d) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    match s {
        Value::F32(_) => {
            let f = |v: &Value| -> Result<f32, EngineError> {
                Ok(*v.to_f32_lossy()?.iter().next().unwrap_or(&0.0))
            };
            let (s, l, d) = (f(s)?, f(l)?, f(d)?);
            if d == 0.0 {
                bail!("RANGE delta is 0");
            }
            let n = ((l - s) / d).abs().ceil() as usize;
            crate::engine::limits::check_alloc(&[n], 4, "RANGE output")?;
            let v: Vec<f32> = (0..n).map(|i| s + i as f32 * d).collect();
            Ok(vec![Value::F32(
                ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap(),
            )])
        }
        _ => {
            let f = |v: &Value| -> Result<i64, EngineError> {
                Ok(*v.to_i64_vec()?.first().unwrap_or(&0))
            };
            let (s0, l, d) = (f(s)?, f(l)?, f(d)?);
            if d == 0 {
                bail!("RANGE delta is 0");
            }
            let span = l.saturating_sub(s0).saturating_abs();
            let step = d.saturating_abs();
            let n = (span.saturating_add(step - 1) / step).max(0) as usize;
            crate::engine::limits::check_alloc(&[n], 8, "RANGE output")?;
            let v: Vec<i64> = (0..n as i64).map(|i| s0 + i * d).collect();
            let a = ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap();
            Ok(vec![match s {
                Value::I64(_) => Value::I64(a),
                _ => Value::I32(a.mapv(|x| x as i32)),
            }])
        }
    }
}

/// Per-element (scale, zero point) lookup along the quantized dimension.
fn channel_of(q: &Quantization, shape: &[usize]) -> impl Fn(usize) -> usize {
    let per = q.scales.len() > 1;
    let dim = q.quantized_dimension.max(0) as usize;
    let inner: usize = shape.iter().skip(dim + 1).product();
    let size = shape.get(dim).copied().unwrap_or(1).max(1);
    move |i| if per { (i / inner.max(1)) % size } else { 0 }
}

/// TFLite's affine quantization of float values: `zero_point + round(x / scale)` (half away
/// from zero), clamped to the type's range.
pub fn quantize_f32(a: &ArrayD<f32>, q: &Quantization, to: DType) -> Result<Value, EngineError> {
    let (lo, hi) = to
        .int_range()
        .ok_or_else(|| EngineError::msg(format!("cannot quantize to {to}")))?;
    let ch = channel_of(q, a.shape());
    let shape = a.shape().to_vec();
    let vals: Vec<i64> = a
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let (s, z) = q.channel(ch(i));
            ((x / s).round() as i64 + z).clamp(lo, hi)
        })
        .collect();
    let s = IxDyn(&shape);
    Ok(match to {
        DType::I8 => {
            Value::I8(ArrayD::from_shape_vec(s, vals.iter().map(|&v| v as i8).collect()).unwrap())
        }
        DType::U8 => {
            Value::U8(ArrayD::from_shape_vec(s, vals.iter().map(|&v| v as u8).collect()).unwrap())
        }
        DType::I16 => {
            Value::I16(ArrayD::from_shape_vec(s, vals.iter().map(|&v| v as i16).collect()).unwrap())
        }
        DType::I32 => {
            Value::I32(ArrayD::from_shape_vec(s, vals.iter().map(|&v| v as i32).collect()).unwrap())
        }
        other => bail!("cannot quantize to {other}"),
    })
}

/// `scale * (q - zero_point)`, per tensor or per channel.
pub fn dequantize_value(v: &Value, q: Option<&Quantization>) -> Result<ArrayD<f32>, EngineError> {
    if let Value::F16(a) = v {
        return Ok(a.mapv(f32::from));
    }
    if let Value::F32(a) = v {
        return Ok(a.clone());
    }
    let q =
        q.ok_or_else(|| EngineError::msg("dequantizing a tensor without quantization parameters"))?;
    /// One pass over the stored integers, a channel's parameters looked up once per run of
    /// `inner` values (no i64 copy: compare dequantizes every kept tensor of a model this way).
    fn affine<T: Copy + Into<i64>>(x: &[T], shape: &[usize], q: &Quantization) -> Vec<f32> {
        let per = q.scales.len() > 1;
        let dim = q.quantized_dimension.max(0) as usize;
        let inner = shape.iter().skip(dim + 1).product::<usize>().max(1);
        let size = shape.get(dim).copied().unwrap_or(1).max(1);
        let mut out = Vec::with_capacity(x.len());
        for (b, run) in x.chunks(inner).enumerate() {
            let (s, z) = q.channel(if per { b % size } else { 0 });
            out.extend(
                run.iter()
                    .map(|&v| (s as f64 * (v.into() - z) as f64) as f32),
            );
        }
        out
    }
    fn standard<T: Copy + Into<i64>>(a: &ArrayD<T>, q: &Quantization) -> Vec<f32> {
        match a.as_slice() {
            Some(x) => affine(x, a.shape(), q),
            None => affine(&a.iter().copied().collect::<Vec<_>>(), a.shape(), q),
        }
    }
    let out = match v {
        Value::I8(a) => standard(a, q),
        Value::U8(a) => standard(a, q),
        Value::I16(a) => standard(a, q),
        Value::I32(a) => standard(a, q),
        other => affine(&other.to_i64_vec()?, other.shape(), q),
    };
    Ok(ArrayD::from_shape_vec(IxDyn(v.shape()), out).unwrap())
}

pub fn quantize(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = match ctx.input(0)? {
        Value::F32(a) => a.clone(),
        Value::F16(a) => a.mapv(f32::from),
        other => bail!("QUANTIZE from {} needs an integer kernel", other.dtype()),
    };
    let q = ctx
        .out_quant(0)
        .ok_or_else(|| EngineError::msg("QUANTIZE output has no quantization parameters"))?;
    Ok(vec![quantize_f32(&x, q, ctx.out_dtype(0))?])
}

pub fn dequantize(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    Ok(vec![Value::F32(dequantize_value(
        ctx.input(0)?,
        ctx.in_quant(0),
    )?)])
}
