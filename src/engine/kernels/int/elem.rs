//! Quantized elementwise kernels ported from the reference kernels: HARD_SWISH
//! (`reference_ops::HardSwish`), PRELU (`BroadcastPrelu4DSlow`), GELU / EXP / LOG / ELU (8-bit
//! lookup tables), SQRT and RSQRT (elementwise.cc int8 paths), DIV (`DivElementwise`) and
//! L2_NORMALIZATION (`reference_integer_ops::L2Normalization`), LOG_SOFTMAX
//! (`reference_integer_ops::LogSoftmax`).

use super::{array, bail, clamp_to, flat, fused, map_q, out_range, qparams, same_type_out, QInt};
use crate::engine::arith::{
    self, fp_mul, fp_rescale, mbqm, rdbpot, sat_rounding_mul_by_pot, srdhm,
};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::DType;
use ndarray::ArrayD;

// --------------------------------------------------------------------------------------------
// HARD_SWISH
// --------------------------------------------------------------------------------------------

/// `DownScaleInt32ToInt16Multiplier`.
fn downscale_multiplier(m: i32) -> i16 {
    const ROUND: i32 = 1 << 15;
    if m >= i32::MAX - ROUND {
        return i16::MAX;
    }
    ((m + ROUND) >> 16) as i16
}

/// gemmlowp `SaturatingRoundingDoublingHighMul` on int16.
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// `SaturatingDoublingHighMul` (rounds toward zero).
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

fn sat_left_shift16(v: i16, amount: i32) -> i16 {
    let r = (v as i64) * (1i64 << amount);
    r.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

pub fn hard_swish(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    // HardSwishPrepare: all scale arithmetic in float.
    let hires_input_scale = (1.0f32 / 128.0f32) * in_s;
    let reluish_scale = 3.0f32 / 32768.0f32;
    let (om, oe) = arith::quantize_multiplier((hires_input_scale / out_s) as f64);
    let (rm, re) = arith::quantize_multiplier((hires_input_scale / reluish_scale) as f64);
    if oe > 0 {
        bail!("HARD_SWISH output multiplier exponent {oe} > 0");
    }
    let (om16, rm16) = (downscale_multiplier(om), downscale_multiplier(rm));
    let y = map_q(ctx, &[DType::I8, DType::U8], |_, _| {
        move |v| {
            let input_value = (v - in_z) as i16;
            let hires = input_value.wrapping_mul(1 << 7);
            let preshift_out = srdhm16(hires, om16);
            let mut reluish = hires;
            if re > 0 {
                reluish = sat_left_shift16(reluish, re - 1);
            }
            reluish = srdhm16(reluish, rm16);
            if re > 0 {
                reluish = sat_left_shift16(reluish, 1);
            }
            if re < 0 {
                reluish = rdbpot(reluish as i32, -re) as i16;
            }
            let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
            let preshift = sdhm16(reluish, preshift_out);
            (rdbpot(preshift as i32, -oe) as i16).wrapping_add(out_z as i16) as i32
        }
    })?;
    Ok(vec![y])
}

// --------------------------------------------------------------------------------------------
// PRELU
// --------------------------------------------------------------------------------------------

pub fn prelu(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (a_s, a_z) = qparams(ctx.in_meta(1));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    // PreluPrepare: float expressions widened to double.
    let (m1, s1) = arith::quantize_multiplier((in_s / out_s) as f64);
    let (m2, s2) = arith::quantize_multiplier((in_s * a_s / out_s) as f64);
    fn run<T: QInt>(
        x: &ArrayD<T>,
        a: &ArrayD<T>,
        p: (i32, i32, i32, i32, i32, i32, i32),
    ) -> Result<ArrayD<T>, EngineError> {
        let (in_z, a_z, out_z, m1, s1, m2, s2) = p;
        let ab = match a.broadcast(x.shape()) {
            Some(b) => b,
            None => bail!(
                "alpha {:?} does not broadcast to {:?}",
                a.shape(),
                x.shape()
            ),
        };
        let out: Vec<T> = x
            .iter()
            .zip(ab.iter())
            .map(|(&v, &al)| {
                let iv = v.to_i32() - in_z;
                let o = if iv >= 0 {
                    mbqm(iv, m1, s1)
                } else {
                    mbqm(iv * (al.to_i32() - a_z), m2, s2)
                };
                clamp_to::<T>(o + out_z, T::MIN, T::MAX)
            })
            .collect();
        array(x.shape(), out)
    }
    let p = (in_z, a_z, out_z, m1, s1, m2, s2);
    Ok(vec![match (ctx.input(0)?, ctx.input(1)?) {
        (Value::I8(x), Value::I8(a)) => Value::I8(run(x, a, p)?),
        (Value::U8(x), Value::U8(a)) => Value::U8(run(x, a, p)?),
        (x, a) => bail!(
            "quantized PRELU on {} with {} alpha is not supported",
            x.dtype(),
            a.dtype()
        ),
    }])
}

// --------------------------------------------------------------------------------------------
// 8-bit lookup tables: GELU, EXP, LOG (`LUTPopulate<T>` in float)
// --------------------------------------------------------------------------------------------

/// The C library's `erfcf`, which TFLite's `LUTPopulate` reaches through `std::erfc(float)`.
///
/// The tables must be bit-exact with TFLite's, so they use the same libm functions: `f32::exp`,
/// `ln`, `tanh` and `exp_m1` compile to calls of the C library's `expf`, `logf`, `tanhf` and
/// `expm1f`, but std has no stable `erfc`, and the `libm` crate (a port of musl's) can differ
/// from glibc's in the last bit, so this one function is called directly.
fn erfc(x: f32) -> f32 {
    extern "C" {
        fn erfcf(x: f32) -> f32;
    }
    // SAFETY: erfcf takes and returns a float by value, touches no memory and no global state
    // (errno aside), and is defined for every input including NaN and infinities.
    unsafe { erfcf(x) }
}

pub fn lut_op(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let name = ctx.name().to_string();
    let approximate = ctx
        .fb
        .builtin_options_as_gelu_options()
        .map(|o| o.approximate())
        .unwrap_or(false);
    let f: Box<dyn Fn(f32) -> f32> = match name.as_str() {
        "GELU" if approximate => Box::new(|v: f32| {
            let k = (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
            0.5f32 * v * (1.0f32 + (k * (v + 0.044715f32 * v * v * v)).tanh())
        }),
        "GELU" => {
            Box::new(|v: f32| 0.5f32 * v * erfc(v * (-std::f64::consts::FRAC_1_SQRT_2) as f32))
        }
        "EXP" => Box::new(|v: f32| v.exp()),
        // EluPrepare (int8 only).
        "ELU" => Box::new(|v: f32| if v < 0.0 { v.exp_m1() } else { v }),
        "LOG" => {
            // LogLUTPrepare: non-positive inputs map to the output's lowest value.
            let (lo, _) = super::type_range(ctx.out_dtype(0));
            let output_min = (lo - out_z) as f32 * out_s;
            Box::new(move |v: f32| if v <= 0.0 { output_min } else { v.ln() })
        }
        other => bail!("quantized {other} has no lookup table"),
    };
    match ctx.input(0)? {
        Value::I8(x) => {
            let lut = super::activ::lut8::<i8>(in_s, in_z, out_s, out_z, &*f);
            Ok(vec![Value::I8(
                x.mapv(|v| lut[(v as i32 + 128) as usize] as i8),
            )])
        }
        Value::U8(x) if name == "GELU" => {
            let lut = super::activ::lut8::<u8>(in_s, in_z, out_s, out_z, &*f);
            Ok(vec![Value::U8(x.mapv(|v| lut[v as usize] as u8))])
        }
        Value::I16(x) if matches!(name.as_str(), "GELU" | "EXP" | "LOG") => {
            let lut = super::activ::lut16(in_s, in_z, out_s, out_z, &*f);
            Ok(vec![Value::I16(
                x.mapv(|v| super::activ::lut_lookup_i16(v, &lut)),
            )])
        }
        other => bail!("quantized {name} on {} is not supported", other.dtype()),
    }
}

// --------------------------------------------------------------------------------------------
// SQRT, RSQRT (int8)
// --------------------------------------------------------------------------------------------

pub fn sqrt(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let Value::I8(x) = ctx.input(0)? else {
        bail!("quantized SQRT supports int8 only");
    };
    let mut out = Vec::with_capacity(x.len());
    for &v in flat(x).iter() {
        let d = in_s * (v as i32 - in_z) as f32;
        if d < 0.0 {
            bail!("Sqrt is only defined for non-negative values");
        }
        // `static_cast<int>(sqrt / output_scale)`: truncation toward zero.
        let q = (d.sqrt() / out_s) as i32 + out_z;
        out.push(q.clamp(-128, 127) as i8);
    }
    Ok(vec![Value::I8(array(x.shape(), out)?)])
}

/// `GetInvSqrtQuantizedMultiplierExp(input, reverse_shift = -1)`: 1/sqrt(input) as a
/// multiplier and a left shift, by five Newton-Raphson steps in Q3.28.
pub(crate) fn inv_sqrt_multiplier_exp(mut input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut shift = 11;
    while input >= (1 << 29) {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    let fixedpoint_input = input >> 1; // Q3.28
    let half_input = sat_rounding_mul_by_pot(fixedpoint_input, -1);
    let half_three: i32 = (1 << 28) + (1 << 27);
    let mut x: i32 = 1 << 28; // F3 one
    for _ in 0..5 {
        let x3 = fp_rescale(fp_mul(fp_mul(x, x), x), 9, 3);
        x = fp_rescale(
            fp_mul(half_three, x).wrapping_sub(fp_mul(half_input, x3)),
            6,
            3,
        );
    }
    const HALF_SQRT_2: i32 = 1518500250;
    let mut inv = fp_mul(x, HALF_SQRT_2);
    if shift < 0 {
        inv <<= -shift;
        shift = 0;
    }
    (inv, -shift)
}

pub fn rsqrt(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let Value::I8(x) = ctx.input(0)? else {
        bail!("quantized RSQRT supports int8 only");
    };
    // SetRsqrtOutputMultiplier: 1 / (sqrt(float in_scale) * out_scale), in double.
    let scale = 1.0f64 / ((in_s.sqrt()) * out_s) as f64;
    let (m, s) = arith::quantize_multiplier(scale);
    const K_SHIFT: i32 = 20;
    let mut out = Vec::with_capacity(x.len());
    for &v in flat(x).iter() {
        let value = v as i32 - in_z;
        if value < 0 {
            bail!("Rsqrt is only defined for positive values");
        }
        if value == 0 {
            out.push(127i8);
            continue;
        }
        let (im, is) = inv_sqrt_multiplier_exp(value);
        let data = mbqm(1, im, is + K_SHIFT);
        let o = mbqm(data, m, s - K_SHIFT) + out_z;
        out.push(o.clamp(-128, 127) as i8);
    }
    Ok(vec![Value::I8(array(x.shape(), out)?)])
}

// --------------------------------------------------------------------------------------------
// DIV
// --------------------------------------------------------------------------------------------

fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, EngineError> {
    let rank = a.len().max(b.len());
    let get = |s: &[usize], i: usize| -> usize {
        if i + s.len() >= rank {
            s[i + s.len() - rank]
        } else {
            1
        }
    };
    (0..rank)
        .map(|i| {
            let (x, y) = (get(a, i), get(b, i));
            if x == y || y == 1 {
                Ok(x)
            } else if x == 1 {
                Ok(y)
            } else {
                bail!("shapes {a:?} and {b:?} do not broadcast")
            }
        })
        .collect()
}

/// `CountLeadingSignBits` for int32.
fn leading_sign_bits(x: i32) -> i32 {
    if x >= 0 {
        x.leading_zeros() as i32 - 1
    } else {
        (!x).leading_zeros() as i32 - 1
    }
}

pub fn div(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (s1, z1) = qparams(ctx.in_meta(0));
    let (s2, z2) = qparams(ctx.in_meta(1));
    let (so, zo) = qparams(Some(ctx.output_meta[0]));
    // div.cc Prepare: in1 / (in2 * out) in float, widened.
    let (om, os) = arith::quantize_multiplier((s1 / (s2 * so)) as f64);
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    fn run<T: QInt>(
        a: &ArrayD<T>,
        b: &ArrayD<T>,
        p: (i32, i32, i32, i32, i32, i32, i32),
    ) -> Result<ArrayD<T>, EngineError> {
        let (z1, z2, zo, om, os, lo, hi) = p;
        let shape = broadcast_shape(a.shape(), b.shape())?;
        let (Some(ab), Some(bb)) = (a.broadcast(shape.as_slice()), b.broadcast(shape.as_slice()))
        else {
            bail!(
                "shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            );
        };
        let mut out = Vec::with_capacity(ab.len());
        for (&x, &y) in ab.iter().zip(bb.iter()) {
            let mut v1 = x.to_i32() - z1;
            let mut v2 = y.to_i32() - z2;
            if v2 == 0 {
                bail!("DIV by a quantized zero");
            }
            if v2 < 0 {
                v1 = -v1;
                v2 = -v2;
            }
            let (inv, recip_shift) = arith::get_reciprocal(v2, 31);
            let headroom = leading_sign_bits(v1);
            let unscaled = srdhm(v1.wrapping_mul(1i32.wrapping_shl(headroom as u32)), inv);
            let total_shift = os - recip_shift - headroom;
            let r = zo + rdbpot(srdhm(unscaled, om), -total_shift);
            out.push(clamp_to::<T>(r, lo, hi));
        }
        array(&shape, out)
    }
    let p = (z1, z2, zo, om, os, lo, hi);
    Ok(vec![match (ctx.input(0)?, ctx.input(1)?) {
        (Value::I8(a), Value::I8(b)) => Value::I8(run(a, b, p)?),
        (Value::U8(a), Value::U8(b)) => Value::U8(run(a, b, p)?),
        (Value::I16(a), Value::I16(b)) => Value::I16(run(a, b, p)?),
        (a, b) => bail!(
            "quantized DIV on {} / {} is not supported",
            a.dtype(),
            b.dtype()
        ),
    }])
}

// --------------------------------------------------------------------------------------------
// L2_NORMALIZATION (int8)
// --------------------------------------------------------------------------------------------

pub fn l2_normalization(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (_, in_z) = qparams(ctx.in_meta(0));
    let x = match ctx.input(0)? {
        Value::I8(x) => x,
        Value::U8(x) => return Ok(vec![Value::U8(l2_normalization_u8(x, in_z)?)]),
        other => bail!(
            "quantized L2_NORMALIZATION on {} is not supported",
            other.dtype()
        ),
    };
    const OUTPUT_SCALE: i32 = 7;
    let out = l2_rows(x, in_z, |d, m, s| {
        mbqm(d, m, s + OUTPUT_SCALE).clamp(-128, 127) as i8
    });
    Ok(vec![Value::I8(array(x.shape(), out)?)])
}

/// Each innermost row's squared norm (of `v - in_z`, wrapping in i32 like TFLite) turned into
/// an inverse-sqrt multiplier `(m, s)`, then `f(v - in_z, m, s)` for every value of the row.
fn l2_rows<T: QInt, O>(x: &ArrayD<T>, in_z: i32, f: impl Fn(i32, i32, i32) -> O) -> Vec<O> {
    let depth = *x.shape().last().unwrap_or(&1);
    let xs = flat(x);
    let mut out = Vec::with_capacity(xs.len());
    for row in xs.chunks(depth.max(1)) {
        let acc: i32 = row
            .iter()
            .map(|&v| (v.to_i32() - in_z) * (v.to_i32() - in_z))
            .fold(0i32, |a, b| a.wrapping_add(b));
        let (m, s) = inv_sqrt_multiplier_exp(acc);
        out.extend(row.iter().map(|&v| f(v.to_i32() - in_z, m, s)));
    }
    out
}

/// `reference_ops::L2Normalization` (uint8): unlike the int8 kernel it rescales `128 * diff`
/// by the inverse norm and adds the fixed output zero point 128 (scale 1/128).
fn l2_normalization_u8(x: &ArrayD<u8>, in_z: i32) -> Result<ArrayD<u8>, EngineError> {
    let out = l2_rows(x, in_z, |d, m, s| {
        (128 + mbqm(128 * d, m, s)).clamp(0, 255) as u8
    });
    array(x.shape(), out)
}

// --------------------------------------------------------------------------------------------
// LOG_SOFTMAX (int8, uint8): reference_integer_ops::LogSoftmax, reference_ops::LogSoftmax
// --------------------------------------------------------------------------------------------

/// `SaturatingAddNonGemmlowp` / `SaturatingSub` on int32.
fn sat_add(a: i32, b: i32) -> i32 {
    (a as i64 + b as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}
fn sat_sub(a: i32, b: i32) -> i32 {
    (a as i64 - b as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// `log_x_for_x_greater_than_or_equal_to_1<OUT>(FixedPoint<int32, IN>)`: log of a fixed-point
/// value with `in_bits` integer bits, result with `out_bits` integer bits (raw values).
pub(crate) fn log_x_ge_1(input_raw: i32, in_bits: i32, out_bits: i32) -> i32 {
    let accum_bits = out_bits + 1;
    const LOG_2: i32 = 1488522236;
    const SQRT_SQRT_HALF: i32 = 1805811301;
    const SQRT_HALF: i32 = 1518500250;
    const ONE_QUARTER: i32 = 536870912;
    const ALPHA_N: i32 = 117049297;
    const ALPHA_D: i32 = 127690142;
    const ALPHA_I: i32 = 1057819769;
    const ALPHA_F: i32 = 638450708;
    let shifted_quarter = fp_rescale(ONE_QUARTER, 0, accum_bits);
    let z_a = input_raw;
    let z_a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = sat_rounding_mul_by_pot(z_a, z_a_headroom_plus_1 - 1);
    let r_a_raw = sat_rounding_mul_by_pot(fp_mul(r_a_tmp, SQRT_HALF), 1);
    let z_a_pow_2_adj = sat_add(
        sat_rounding_mul_by_pot(in_bits - z_a_headroom_plus_1, 31 - accum_bits),
        shifted_quarter,
    );
    let z_b = fp_mul(z_a, SQRT_HALF);
    let z_b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b_raw = sat_rounding_mul_by_pot(z_a, z_b_headroom);
    let z_b_pow_2_adj = sat_sub(
        sat_rounding_mul_by_pot(in_bits - z_b_headroom, 31 - accum_bits),
        shifted_quarter,
    );
    let r = r_a_raw.min(r_b_raw);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);
    let p = arith::rounding_half_sum(r, SQRT_SQRT_HALF);
    let mut q = r.wrapping_sub(SQRT_SQRT_HALF);
    q = q.wrapping_add(q);
    let common_sq = fp_mul(q, q);
    let num = fp_mul(q, r).wrapping_add(fp_mul(fp_mul(q, common_sq), ALPHA_N));
    let denom_minus_one_0 = fp_mul(
        p,
        ALPHA_I
            .wrapping_add(q)
            .wrapping_add(fp_mul(ALPHA_D, common_sq)),
    )
    .wrapping_add(fp_mul(ALPHA_F, q));
    let recip_denom = arith::one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0);
    let num_scaled = fp_rescale(num, 0, accum_bits);
    fp_rescale(
        fp_mul(z_pow_2_adj, LOG_2).wrapping_add(fp_mul(num_scaled, recip_denom)),
        accum_bits,
        out_bits,
    )
}

pub fn log_softmax(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, _) = qparams(ctx.in_meta(0));
    match ctx.input(0)? {
        Value::I8(x) => Ok(vec![Value::I8(log_softmax_q8(x, in_s)?)]),
        Value::U8(x) => Ok(vec![Value::U8(log_softmax_q8(x, in_s)?)]),
        other => bail!(
            "quantized LOG_SOFTMAX on {} is not supported",
            other.dtype()
        ),
    }
}

/// `reference_integer_ops::LogSoftmax` (int8) and `reference_ops::LogSoftmax` (uint8), one
/// algorithm: log of the fixed-point sum of exps, subtracted from the scaled differences; the
/// output offset is the type's maximum (127 / 255, LogSoftmaxPrepare's zero points).
fn log_softmax_q8<T: QInt>(x: &ArrayD<T>, in_s: f32) -> Result<ArrayD<T>, EngineError> {
    const INPUT_BITS: i32 = 5;
    const ACCUM_BITS: i32 = 12;
    const OUTPUT_BITS: i32 = 4;
    // PreprocessLogSoftmaxScalingExp (beta = 1).
    let (input_multiplier, input_left_shift) =
        arith::preprocess_softmax_scaling(1.0, in_s as f64, INPUT_BITS);
    let real_reverse =
        (1i32.wrapping_shl((31 - input_left_shift) as u32)) as f64 / input_multiplier as f64;
    let (reverse_multiplier, reverse_left_shift) = arith::quantize_multiplier(real_reverse);
    let diff_min = -arith::calculate_input_radius(INPUT_BITS, input_left_shift, 31);
    let depth = *x.shape().last().unwrap_or(&1);
    let xs = flat(x);
    let mut out = Vec::with_capacity(xs.len());
    for row in xs.chunks(depth.max(1)) {
        let max_in_row = row.iter().map(|v| v.to_i32()).max().unwrap_or(T::MIN);
        let mut sum_of_exps: i32 = 0;
        for &v in row {
            let diff = v.to_i32() - max_in_row;
            if diff >= diff_min {
                let d5 = mbqm(diff, input_multiplier, input_left_shift);
                let e = arith::exp_on_negative_values(d5, INPUT_BITS);
                sum_of_exps = sum_of_exps.wrapping_add(fp_rescale(e, 0, ACCUM_BITS));
            }
        }
        let log_sum = log_x_ge_1(sum_of_exps, ACCUM_BITS, INPUT_BITS);
        let shifted_log_sum = log_sum.wrapping_add(i32::MIN);
        let adjusted_diff_min = (diff_min - 1).max(mbqm(
            shifted_log_sum,
            reverse_multiplier,
            reverse_left_shift,
        ));
        for &v in row {
            let diff = v.to_i32() - max_in_row;
            if diff > adjusted_diff_min {
                let d5 = mbqm(diff, input_multiplier, input_left_shift);
                let o = rdbpot(d5.wrapping_sub(log_sum), 31 - INPUT_BITS - OUTPUT_BITS) + T::MAX;
                out.push(clamp_to::<T>(o, T::MIN, T::MAX));
            } else {
                out.push(T::from_i32(T::MIN));
            }
        }
    }
    array(x.shape(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inv_sqrt_is_close() {
        for &v in &[2i32, 4, 100, 12345, 1 << 20, 1 << 30] {
            let (m, s) = inv_sqrt_multiplier_exp(v);
            let got = m as f64 / (1u64 << 31) as f64 * 2f64.powi(s);
            let want = 1.0 / (v as f64).sqrt();
            assert!((got / want - 1.0).abs() < 1e-5, "{v}: {got} vs {want}");
        }
    }

    #[test]
    fn log_is_close() {
        // Q12.19 input, Q5.26 output.
        for &x in &[1.0f64, 1.5, 3.0, 100.0, 2000.0] {
            let raw = (x * (1u64 << 19) as f64) as i32;
            let got = log_x_ge_1(raw, 12, 5) as f64 / (1u64 << 26) as f64;
            assert!((got - x.ln()).abs() < 1e-5, "{x}: {got}");
        }
    }

    #[test]
    fn leading_sign_bits_matches_clrsb() {
        assert_eq!(leading_sign_bits(0), 31);
        assert_eq!(leading_sign_bits(1), 30);
        assert_eq!(leading_sign_bits(-1), 31);
        assert_eq!(leading_sign_bits(-2), 30);
        assert_eq!(leading_sign_bits(i32::MIN), 0);
    }
}
