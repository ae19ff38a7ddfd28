//! QUANTIZE between integer types (requantization) and CONCATENATION with rescaling (uint8).

use super::{array, bail, clamp_to, flat, qparams, QInt};
use crate::engine::arith::{self, mbqm};
use crate::engine::kernels::{norm_axis, OpCtx};
use crate::engine::{EngineError, Value};
use crate::model::DType;
use ndarray::ArrayD;

/// `reference_ops::Requantize`: `(x - in_zp) * (in_scale / out_scale) + out_zp`, the multiplier
/// from `QuantizeMultiplier(double(in_scale) / double(out_scale))`.
pub fn requantize(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = arith::quantize_multiplier(in_s as f64 / out_s as f64);
    let rq = |v: i32| mbqm(v - in_z, mult, shift) + out_z;
    fn run<I: QInt, O: QInt>(x: &ArrayD<I>, rq: impl Fn(i32) -> i32) -> ArrayD<O> {
        x.mapv(|v| clamp_to::<O>(rq(v.to_i32()), O::MIN, O::MAX))
    }
    macro_rules! go {
        ($x:expr, $it:ty) => {
            match ctx.out_dtype(0) {
                DType::I8 => Value::I8(run::<$it, i8>($x, rq)),
                DType::U8 => Value::U8(run::<$it, u8>($x, rq)),
                DType::I16 => Value::I16(run::<$it, i16>($x, rq)),
                other => bail!("QUANTIZE to {other} is not supported"),
            }
        };
    }
    Ok(vec![match ctx.input(0)? {
        Value::I8(x) => go!(x, i8),
        Value::U8(x) => go!(x, u8),
        Value::I16(x) => go!(x, i16),
        other => bail!("QUANTIZE from {} is not supported", other.dtype()),
    }])
}

/// Whether every input of a CONCATENATION shares the output's quantization (then it is pure
/// data movement and the generic kernel is exact).
pub fn concat_same_quant(ins: &[Option<(f32, i32)>], out: (f32, i32)) -> bool {
    ins.iter().all(|q| q.is_none_or(|q| q == out))
}

/// `reference_ops::ConcatenationWithScaling` (uint8): inputs with other parameters are rescaled
/// in float, `round(x * scale + bias) + out_zp` with `scale = in_scale * (1 / out_scale)`,
/// `bias = -in_zp * scale`.
pub fn concatenation(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let axis = ctx
        .fb
        .builtin_options_as_concatenation_options()
        .map(|o| o.axis())
        .unwrap_or(0);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let inv = 1.0f32 / out_s;
    let n_in = ctx.inputs.len();
    let mut parts: Vec<(Vec<usize>, Vec<i32>)> = Vec::with_capacity(n_in);
    for i in 0..n_in {
        let v = ctx.input(i)?;
        let (s, z) = qparams(ctx.in_meta(i));
        let vals: Vec<i32> = match v {
            Value::I8(a) => flat(a).iter().map(|&x| x as i32).collect(),
            Value::U8(a) => flat(a).iter().map(|&x| x as i32).collect(),
            Value::I16(a) => flat(a).iter().map(|&x| x as i32).collect(),
            other => bail!("CONCATENATION of {} is not supported", other.dtype()),
        };
        let vals = if (s, z) == (out_s, out_z) {
            vals
        } else {
            let scale = s * inv;
            let bias = -(z as f32) * scale;
            vals.iter()
                // Saturating: a corrupt scale ratio must not overflow (the clamp below follows).
                .map(|&x| ((x as f32 * scale + bias).round() as i32).saturating_add(out_z))
                .collect()
        };
        parts.push((v.shape().to_vec(), vals));
    }
    let rank = parts[0].0.len();
    let ax = norm_axis(axis as i64, rank)?;
    // Every input has the first one's shape but along the axis (else the slices below overrun).
    let first = &parts[0].0;
    if let Some((shape, _)) = parts.iter().find(|(sh, _)| {
        sh.len() != rank
            || sh
                .iter()
                .zip(first)
                .enumerate()
                .any(|(d, (a, b))| d != ax && a != b)
    }) {
        bail!("CONCATENATION: inputs of shapes {first:?} and {shape:?} along axis {ax}");
    }
    let outer: usize = parts[0].0[..ax].iter().product();
    let mut out_shape = parts[0].0.clone();
    out_shape[ax] = parts.iter().map(|p| p.0[ax]).sum();
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for o in 0..outer {
        for (shape, vals) in &parts {
            let inner: usize = shape[ax..].iter().product();
            out.extend_from_slice(&vals[o * inner..(o + 1) * inner]);
        }
    }
    let (lo, hi) = super::type_range(ctx.out_dtype(0));
    let out: Vec<i32> = out.into_iter().map(|v| v.clamp(lo, hi)).collect();
    Ok(vec![match ctx.out_dtype(0) {
        DType::I8 => Value::I8(array(&out_shape, out.iter().map(|&v| v as i8).collect())?),
        DType::U8 => Value::U8(array(&out_shape, out.iter().map(|&v| v as u8).collect())?),
        DType::I16 => Value::I16(array(&out_shape, out.iter().map(|&v| v as i16).collect())?),
        other => bail!("CONCATENATION to {other} is not supported"),
    }])
}
