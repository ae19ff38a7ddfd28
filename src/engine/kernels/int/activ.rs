//! Quantized activations: SOFTMAX, the LUT ops LOGISTIC and TANH, the RELU family and
//! LEAKY_RELU (LOG_SOFTMAX, HARD_SWISH, PRELU, GELU, L2_NORMALIZATION: see `elem`).

use super::{array, bail, clamp_to, flat, qparams, QInt};
use crate::engine::arith::{self, mbqm, rdbpot, srdhm};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use ndarray::ArrayD;

fn same_type_out(ctx: &OpCtx) -> Result<(), EngineError> {
    if Some(ctx.out_dtype(0)) != ctx.in_dtype(0) {
        bail!(
            "{} input with {} output is not supported",
            ctx.in_dtype(0).map(|d| d.name()).unwrap_or_default(),
            ctx.out_dtype(0)
        );
    }
    Ok(())
}

// --------------------------------------------------------------------------------------------
// SOFTMAX
// --------------------------------------------------------------------------------------------

pub fn softmax(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let beta = ctx
        .fb
        .builtin_options_as_softmax_options()
        .map(|o| o.beta())
        .unwrap_or(1.0);
    let (in_s, _) = qparams(ctx.input_meta[0]);
    match (ctx.input(0)?, ctx.out_dtype(0)) {
        (Value::I8(x), crate::model::DType::I8) => {
            Ok(vec![Value::I8(softmax_q8::<i8, i8>(x, beta, in_s)?)])
        }
        (Value::U8(x), crate::model::DType::U8) => {
            Ok(vec![Value::U8(softmax_q8::<u8, u8>(x, beta, in_s)?)])
        }
        (Value::I8(x), crate::model::DType::I16) => {
            Ok(vec![Value::I16(softmax_q8::<i8, i16>(x, beta, in_s)?)])
        }
        (Value::U8(x), crate::model::DType::I16) => {
            Ok(vec![Value::I16(softmax_q8::<u8, i16>(x, beta, in_s)?)])
        }
        (Value::I16(x), crate::model::DType::I16) => {
            Ok(vec![Value::I16(softmax_i16(x, beta, in_s)?)])
        }
        (x, o) => bail!("SOFTMAX {} -> {} is not supported", x.dtype(), o),
    }
}

/// `reference_ops::Softmax` (quantized): gemmlowp fixed-point exp of the scaled differences to
/// the row max, a fixed-point reciprocal of their sum.
fn softmax_q8<I: QInt, O: QInt>(
    x: &ArrayD<I>,
    beta: f32,
    in_scale: f32,
) -> Result<ArrayD<O>, EngineError> {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    const ACCUMULATION_INTEGER_BITS: i32 = 12;
    let (mult, left_shift) =
        arith::preprocess_softmax_scaling(beta as f64, in_scale as f64, SCALED_DIFF_INTEGER_BITS);
    let diff_min = -arith::calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift, 31);
    let depth = *x.shape().last().unwrap_or(&1);
    let xs = flat(x);
    let mut out = Vec::with_capacity(xs.len());
    let out_bits = (std::mem::size_of::<O>() * 8) as i32;
    for row in xs.chunks(depth.max(1)) {
        let max_in_row = row.iter().map(|v| v.to_i32()).max().unwrap_or(0);
        let mut sum_of_exps: i32 = 0; // Q12.19
        for &v in row {
            let diff = v.to_i32() - max_in_row;
            if diff >= diff_min {
                let rescaled = arith::mbqm_greater_than_one(diff, mult, left_shift);
                let e = arith::exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS);
                sum_of_exps =
                    sum_of_exps.wrapping_add(arith::fp_rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            arith::get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        for &v in row {
            let diff = v.to_i32() - max_in_row;
            if diff >= diff_min {
                let rescaled = arith::mbqm_greater_than_one(diff, mult, left_shift);
                let e = arith::exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS);
                let unsat = rdbpot(srdhm(shifted_scale, e), num_bits_over_unit + 31 - out_bits);
                let shifted = unsat + O::MIN;
                out.push(clamp_to::<O>(shifted, O::MIN, O::MAX));
            } else {
                out.push(O::from_i32(O::MIN));
            }
        }
    }
    array(x.shape(), out)
}

/// int16 LUT generation (`LUTPopulate<int16_t>` with double math): 513 entries over
/// [input_min, input_max] plus a 512-step interpolation.
fn lut_i16(
    f: impl Fn(f64) -> f64,
    input_scale: f64,
    input_zp: i32,
    output_scale: f64,
    output_zp: i32,
) -> Vec<i16> {
    // Ports `LUTPopulateInt16` (common.h): the table covers the full int16 input range.
    let nominal_step = 1.0f64;
    let _ = nominal_step;
    let input_min = input_scale * (i16::MIN as i32 - input_zp) as f64;
    let input_max = input_scale * (i16::MAX as i32 - input_zp) as f64;
    let output_min = output_scale * (i16::MIN as i32 - output_zp) as f64;
    let output_max = output_scale * (i16::MAX as i32 - output_zp) as f64;
    let nb_steps = 512i32;
    let step = (input_max - input_min) / nb_steps as f64;
    let half_step = step / 2.0;
    let output_scaling_inv = (i16::MAX as f64 - i16::MIN as f64 + 1.0) / (output_max - output_min);
    let table_min = i16::MIN as f64;
    let table_max = i16::MAX as f64;
    let mut lut = vec![0i16; 513];
    for i in 0..nb_steps {
        let val = f(input_min + i as f64 * step);
        let val_midpoint = f(input_min + i as f64 * step + half_step);
        let val_next = f(input_min + (i + 1) as f64 * step);
        let sample_val = (val * output_scaling_inv).round();
        let midpoint_interp_val =
            ((val_next * output_scaling_inv + (val * output_scaling_inv).round()) / 2.0).round();
        let midpoint_val = (val_midpoint * output_scaling_inv).round();
        let midpoint_err = midpoint_interp_val - midpoint_val;
        let bias = (midpoint_err / 2.0).round();
        lut[i as usize] = (sample_val - bias).max(table_min).min(table_max) as i16;
    }
    let val = (f(input_max) * output_scaling_inv).round();
    lut[nb_steps as usize] = val.max(table_min).min(table_max) as i16;
    lut
}

/// `LUTLookup` for int16 tables: 512 base values indexed by the top 9 bits, linear
/// interpolation on the low 7 bits.
fn lut_lookup_i16(value: i16, lut: &[i16]) -> i16 {
    let index = (256 + (value as i32 >> 7)) as usize;
    let offset = (value & 0x7f) as i32;
    let base = lut[index];
    let slope = lut[index + 1].wrapping_sub(lut[index]) as i32;
    let delta = (slope * offset + 64) >> 7;
    (base as i32 + delta) as i16
}

/// `reference_ops::SoftmaxInt16`: exp and 1/(1+x) through 513-entry int16 tables.
fn softmax_i16(x: &ArrayD<i16>, beta: f32, in_scale: f32) -> Result<ArrayD<i16>, EngineError> {
    let range = (i16::MAX as i32 - i16::MIN as i32) as f64;
    let exp_lut = lut_i16(|v| v.exp(), 10.0 / range, i16::MAX as i32, 2.0 / range, 0);
    let one_over = lut_i16(
        |v| 1.0 / (1.0 + v),
        1.0 / range,
        i16::MIN as i32,
        2.0 / range,
        0,
    );
    let real = (in_scale * beta) as f64 / (10.0 / 65535.0);
    let (input_multiplier, input_left_shift) = arith::quantize_multiplier(real);
    let depth = *x.shape().last().unwrap_or(&1);
    let xs = flat(x);
    let mut out: Vec<i16> = Vec::with_capacity(xs.len());
    for row in xs.chunks(depth.max(1)) {
        let max_in_row = row.iter().copied().max().unwrap_or(i16::MIN) as i32;
        let mut sum_of_exps: i32 = 0;
        let exps: Vec<i16> = row
            .iter()
            .map(|&v| {
                let scaled = mbqm(v as i32 - max_in_row, input_multiplier, input_left_shift);
                let sym = (scaled + 32767).clamp(-32768, 32767) as i16;
                let e = lut_lookup_i16(sym, &exp_lut);
                sum_of_exps = sum_of_exps.wrapping_add(e as i32);
                e
            })
            .collect();
        let headroom_plus_one = (sum_of_exps as u32).leading_zeros() as i32;
        let shifted_sum =
            ((((sum_of_exps as i64) << (headroom_plus_one - 1)) + (1 << 13)) >> 14) as i32;
        let sym_shifted_sum = shifted_sum + (-((1 << 15) + (1 << 16)));
        let sat = sym_shifted_sum.clamp(-32768, 32767) as i16;
        let reciprocal = lut_lookup_i16(sat, &one_over) as i64;
        let right_shift = 31 - headroom_plus_one;
        let round = 1i64 << (right_shift - 1);
        for e in exps {
            let r = ((e as i64 * reciprocal + round) >> right_shift) as i32;
            out.push(r.clamp(0, 32767) as i16);
        }
    }
    array(x.shape(), out)
}

// --------------------------------------------------------------------------------------------
// 8-bit lookup tables (LOGISTIC, TANH, ...): `LUTPopulate<T>` in float.
// --------------------------------------------------------------------------------------------

/// TFLite's int8/uint8 lookup table: dequantize, apply `f` in float, requantize (round half away).
pub(super) fn lut8<T: QInt>(
    in_s: f32,
    in_z: i32,
    out_s: f32,
    out_z: i32,
    f: impl Fn(f32) -> f32,
) -> [i32; 256] {
    let inverse_scale = 1.0f32 / out_s;
    let mut lut = [0i32; 256];
    for val in T::MIN..=T::MAX {
        let dequantized = in_s * (val - in_z) as f32;
        let transformed = f(dequantized);
        let rescaled = (transformed * inverse_scale).round();
        let quantized = (rescaled + out_z as f32) as i32;
        lut[(val - T::MIN) as usize] = quantized.max(T::MIN).min(T::MAX);
    }
    lut
}

pub fn lut_op(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let f: fn(f32) -> f32 = match ctx.name() {
        "LOGISTIC" => |v| 1.0f32 / (1.0f32 + (-v).exp()),
        "TANH" => |v| v.tanh(),
        other => bail!("quantized {other} is not supported yet"),
    };
    match ctx.input(0)? {
        Value::I8(x) => Ok(vec![Value::I8(apply_lut8::<i8>(
            x,
            &lut8::<i8>(in_s, in_z, out_s, out_z, f),
        )?)]),
        Value::U8(x) => Ok(vec![Value::U8(apply_lut8::<u8>(
            x,
            &lut8::<u8>(in_s, in_z, out_s, out_z, f),
        )?)]),
        other => bail!(
            "quantized {} on {} is not supported yet",
            ctx.name(),
            other.dtype()
        ),
    }
}

fn apply_lut8<T: QInt>(x: &ArrayD<T>, lut: &[i32; 256]) -> Result<ArrayD<T>, EngineError> {
    Ok(x.mapv(|v| T::from_i32(lut[(v.to_i32() - T::MIN) as usize])))
}

// --------------------------------------------------------------------------------------------
// RELU family, LEAKY_RELU (HARD_SWISH, PRELU, L2_NORMALIZATION: see `elem`)
// --------------------------------------------------------------------------------------------

pub fn relu(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    // ReluPrepare: real multiplier = input_scale / output_scale (float division).
    let (mult, shift) = arith::quantize_multiplier((in_s / out_s) as f64);
    let (amin, amax): (f32, f32) = match ctx.name() {
        "RELU" => (0.0, f32::INFINITY),
        "RELU6" => (0.0, 6.0),
        "RELU_N1_TO_1" => (-1.0, 1.0),
        _ => (0.0, 1.0),
    };
    fn run<T: QInt>(
        x: &ArrayD<T>,
        in_z: i32,
        out_s: f32,
        out_z: i32,
        mult: i32,
        shift: i32,
        amin: f32,
        amax: f32,
    ) -> ArrayD<T> {
        let lo = T::MIN.max(out_z + (amin / out_s).round() as i32);
        let hi = if amax == f32::INFINITY {
            T::MAX
        } else {
            T::MAX.min(out_z + (amax / out_s).round() as i32)
        };
        x.mapv(|v| {
            let c = out_z + mbqm(v.to_i32() - in_z, mult, shift);
            clamp_to::<T>(c, lo, hi)
        })
    }
    Ok(vec![match ctx.input(0)? {
        Value::I8(x) => Value::I8(run(x, in_z, out_s, out_z, mult, shift, amin, amax)),
        Value::U8(x) => Value::U8(run(x, in_z, out_s, out_z, mult, shift, amin, amax)),
        Value::I16(x) => Value::I16(run(x, in_z, out_s, out_z, mult, shift, amin, amax)),
        other => bail!(
            "quantized {} on {} is not supported",
            ctx.name(),
            other.dtype()
        ),
    }])
}

pub fn leaky_relu(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let alpha = ctx
        .fb
        .builtin_options_as_leaky_relu_options()
        .map(|o| o.alpha())
        .unwrap_or(0.2);
    let (in_s, in_z) = qparams(ctx.input_meta[0]);
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    // LeakyReluPrepare: both multipliers are computed in float, then widened.
    let (ma, sa) = arith::quantize_multiplier((in_s * alpha / out_s) as f64);
    let (mi, si) = arith::quantize_multiplier((in_s / out_s) as f64);
    fn run<T: QInt>(
        x: &ArrayD<T>,
        in_z: i32,
        out_z: i32,
        ma: i32,
        sa: i32,
        mi: i32,
        si: i32,
    ) -> ArrayD<T> {
        x.mapv(|v| {
            let iv = v.to_i32() - in_z;
            let o = if iv >= 0 {
                out_z + mbqm(iv, mi, si)
            } else {
                out_z + mbqm(iv, ma, sa)
            };
            clamp_to::<T>(o, T::MIN, T::MAX)
        })
    }
    Ok(vec![match ctx.input(0)? {
        Value::I8(x) => Value::I8(run(x, in_z, out_z, ma, sa, mi, si)),
        Value::U8(x) => Value::U8(run(x, in_z, out_z, ma, sa, mi, si)),
        Value::I16(x) => Value::I16(run(x, in_z, out_z, ma, sa, mi, si)),
        other => bail!("quantized LEAKY_RELU on {} is not supported", other.dtype()),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_uniform_row() {
        // Equal inputs: each gets 1/4 -> 64/256 -> -128 + 64 = -64.
        let x = ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 4]), vec![5i8, 5, 5, 5]).unwrap();
        let y = softmax_q8::<i8, i8>(&x, 1.0, 0.1).unwrap();
        assert!(y.iter().all(|&v| v == -64), "{y:?}");
    }
}
