//! Quantized activations: SOFTMAX, the LUT ops LOGISTIC and TANH, the RELU family and
//! LEAKY_RELU (LOG_SOFTMAX, HARD_SWISH, PRELU, GELU, L2_NORMALIZATION: see `elem`).

use super::{array, bail, clamp_to, flat, map_q, qparams, same_type_out, QInt};
use crate::engine::arith::{self, mbqm, rdbpot, srdhm};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::DType;
use ndarray::ArrayD;

// --------------------------------------------------------------------------------------------
// SOFTMAX
// --------------------------------------------------------------------------------------------

pub fn softmax(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let beta = ctx
        .fb
        .builtin_options_as_softmax_options()
        .map(|o| o.beta())
        .unwrap_or(1.0);
    let (in_s, _) = qparams(ctx.in_meta(0));
    let eight_bit = matches!(ctx.input(0)?, Value::I8(_) | Value::U8(_));
    if eight_bit && !super::softmax_lut::reference_can_run(beta, in_s) {
        // Tiny input scale or beta: TFLite's builtin float-table path (see softmax_lut.rs).
        let (out_s, out_zp) = qparams(ctx.output_meta.first().copied());
        use super::softmax_lut::softmax_lut;
        return match (ctx.input(0)?, ctx.out_dtype(0)) {
            (Value::I8(x), crate::model::DType::I8) => Ok(vec![Value::I8(softmax_lut::<i8, i8>(
                x, beta, in_s, out_s, out_zp,
            )?)]),
            (Value::U8(x), crate::model::DType::U8) => Ok(vec![Value::U8(softmax_lut::<u8, u8>(
                x, beta, in_s, out_s, out_zp,
            )?)]),
            (x, o) => bail!(
                "SOFTMAX {} -> {o} with beta * input scale {:e} too small for TFLite's fixed-point kernel",
                x.dtype(),
                beta * in_s
            ),
        };
    }
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
        let exponent = num_bits_over_unit + 31 - out_bits;
        if !(0..=31).contains(&exponent) {
            // TFLite's kernel would shift by a negative amount here (undefined behaviour).
            bail!(
                "SOFTMAX: beta {beta} x input scale {in_scale:e} over a row of {depth} values gives a sum of exponentials ({sum_of_exps}) the fixed-point kernel cannot divide by"
            );
        }
        for &v in row {
            let diff = v.to_i32() - max_in_row;
            if diff >= diff_min {
                let rescaled = arith::mbqm_greater_than_one(diff, mult, left_shift);
                let e = arith::exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS);
                let unsat = rdbpot(srdhm(shifted_scale, e), exponent);
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

/// `LUTPopulate<int16_t>` with float math (the elementwise int16 LUT ops: GELU, EXP, LOG):
/// 512 samples over the input range, each biased by half the interpolation error at its
/// midpoint, plus the last point.
pub(super) fn lut16(
    in_s: f32,
    in_z: i32,
    out_s: f32,
    out_z: i32,
    f: impl Fn(f32) -> f32,
) -> Vec<i16> {
    let input_min = in_s * (i16::MIN as i32 - in_z) as f32;
    let input_max = in_s * (i16::MAX as i32 - in_z) as f32;
    let output_min = out_s * (i16::MIN as i32 - out_z) as f32;
    let output_max = out_s * (i16::MAX as i32 - out_z) as f32;
    let nb_steps = 512;
    let step = (input_max - input_min) / nb_steps as f32;
    let half_step = step / 2.0;
    let output_scaling_inv = 65536.0f32 / (output_max - output_min);
    let (table_min, table_max) = (i16::MIN as f32, i16::MAX as f32);
    let mut lut = vec![0i16; nb_steps + 1];
    for (i, slot) in lut.iter_mut().enumerate().take(nb_steps) {
        let x = input_min + i as f32 * step;
        let val = f(x);
        let val_midpoint = f(x + half_step);
        let val_next = f(input_min + (i + 1) as f32 * step);
        let sample_val = (val * output_scaling_inv).round();
        let midpoint_interp_val =
            ((val_next * output_scaling_inv + (val * output_scaling_inv).round()) / 2.0).round();
        let midpoint_val = (val_midpoint * output_scaling_inv).round();
        let bias = ((midpoint_interp_val - midpoint_val) / 2.0).round();
        *slot = (sample_val - bias).max(table_min).min(table_max) as i16;
    }
    lut[nb_steps] = (f(input_max) * output_scaling_inv)
        .round()
        .max(table_min)
        .min(table_max) as i16;
    lut
}

/// `LUTLookup` for int16 tables: 512 base values indexed by the top 9 bits, linear
/// interpolation on the low 7 bits.
pub(super) fn lut_lookup_i16(value: i16, lut: &[i16]) -> i16 {
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
    let (in_s, in_z) = qparams(ctx.in_meta(0));
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
        Value::I16(x) => {
            // Prepare: zero points 0, output scale 2^-15.
            let (_, out_log2_pot) = checked_log2(out_s);
            if in_z != 0 || out_z != 0 || !out_log2_pot || checked_log2(out_s).0 != -15 {
                bail!(
                    "int16 {} needs zero points 0 and output scale 2^-15 (got input zero point {in_z}, output scale {out_s}, zero point {out_z})",
                    ctx.name()
                );
            }
            let tanh = ctx.name() == "TANH";
            let (mult, shift) = lut16_input_rescale(in_s, tanh);
            Ok(vec![Value::I16(sigmoid_tanh_i16(x, mult, shift, tanh))])
        }
        other => bail!(
            "quantized {} on {} is not supported yet",
            ctx.name(),
            other.dtype()
        ),
    }
}

/// TFLite's `sigmoid_table_uint16`: sigmoid(i / 24) in 0.16 fixed point. The int16 LOGISTIC and
/// TANH kernels interpolate it (tanh(x) = 2 sigmoid(2x) - 1).
const SIGMOID_TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// `CheckedLog2` (float): log2 of `x` rounded, and whether `x` is a power of two.
fn checked_log2(x: f32) -> (i32, bool) {
    let l = x.ln() * (1.0f32 / 2.0f32.ln());
    let r = l.round();
    (r as i32, (l - r).abs() < 1e-3)
}

/// Tanh/SigmoidPrepare for int16: a power-of-two input scale of 2^-12 (TANH also 2^-11) keeps
/// multiplier 0; otherwise the input is rescaled to 1/(3 * 4096) by a multiplier of at least
/// 2^14 and a right shift.
fn lut16_input_rescale(in_scale: f32, tanh: bool) -> (i32, i32) {
    let (log2, pot) = checked_log2(in_scale);
    let shift = 12 + log2;
    if pot && (shift == 0 || (tanh && shift == 1)) {
        return (0, shift);
    }
    let mut m = in_scale as f64 * 4096.0 * 3.0;
    let mut shift = 0;
    while m <= 32767.0 / 2.0 && shift <= 30 {
        shift += 1;
        m *= 2.0;
    }
    (m as i32, shift)
}

/// `reference_integer_ops::Logistic` / `Tanh` (int16): scale the input by 3 (the table spans
/// [-10.7, 10.7] in place of [-8, 8]), interpolate the sigmoid table on |x|, mirror for x < 0.
fn sigmoid_tanh_i16(x: &ArrayD<i16>, mult: i32, shift: i32, tanh: bool) -> ArrayD<i16> {
    let (mult, shift) = if mult == 0 {
        (3 << shift, 0)
    } else {
        (mult, shift)
    };
    let round = if shift > 0 { 1 << (shift - 1) } else { 0 };
    x.mapv(|v| {
        let input = (v as i32).wrapping_mul(mult).wrapping_add(round) >> shift;
        let abs = input.unsigned_abs();
        if tanh {
            let uh = (abs >> 8) as usize;
            let mut result = if uh >= 255 {
                0xFFFF << 8
            } else {
                let (ua, ub) = (SIGMOID_TABLE[uh] as u32, SIGMOID_TABLE[uh + 1] as u32);
                ((ua << 8) + (abs & 0xFF) * (ub - ua)) as i32
            };
            result = if input >= 0 {
                result - (1 << 23) + (1 << 7)
            } else {
                -result + (1 << 23) + (1 << 7) - 1
            };
            (result >> 8) as i16
        } else {
            let uh = (abs >> 9) as usize;
            let mut result: u32 = if uh >= 255 {
                0x7FFF << 10
            } else {
                let (ua, ub) = (SIGMOID_TABLE[uh] as u32, SIGMOID_TABLE[uh + 1] as u32);
                (ua << 9) + (abs & 0x1FF) * (ub - ua)
            };
            result = if input >= 0 {
                result + (1 << 9)
            } else {
                (1 << 25) - result + (1 << 9) - 1
            };
            (result >> 10) as i16
        }
    })
}

fn apply_lut8<T: QInt>(x: &ArrayD<T>, lut: &[i32; 256]) -> Result<ArrayD<T>, EngineError> {
    Ok(x.mapv(|v| T::from_i32(lut[(v.to_i32() - T::MIN) as usize])))
}

// --------------------------------------------------------------------------------------------
// RELU family, LEAKY_RELU (HARD_SWISH, PRELU, L2_NORMALIZATION: see `elem`)
// --------------------------------------------------------------------------------------------

pub fn relu(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    // ReluPrepare: real multiplier = input_scale / output_scale (float division).
    let (mult, shift) = arith::quantize_multiplier((in_s / out_s) as f64);
    let (amin, amax): (f32, f32) = match ctx.name() {
        "RELU" => (0.0, f32::INFINITY),
        "RELU6" => (0.0, 6.0),
        "RELU_N1_TO_1" => (-1.0, 1.0),
        _ => (0.0, 1.0),
    };
    let y = map_q(ctx, &[DType::I8, DType::U8, DType::I16], |min, max| {
        let lo = min.max(out_z + (amin / out_s).round() as i32);
        let hi = if amax == f32::INFINITY {
            max
        } else {
            max.min(out_z + (amax / out_s).round() as i32)
        };
        // Clamped to [lo, hi] (lo > hi gives hi) before the type's range, as TFLite does.
        move |v| (out_z + mbqm(v - in_z, mult, shift)).max(lo).min(hi)
    })?;
    Ok(vec![y])
}

pub fn leaky_relu(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    same_type_out(ctx)?;
    let alpha = ctx
        .fb
        .builtin_options_as_leaky_relu_options()
        .map(|o| o.alpha())
        .unwrap_or(0.2);
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    // LeakyReluPrepare: both multipliers are computed in float, then widened.
    let (ma, sa) = arith::quantize_multiplier((in_s * alpha / out_s) as f64);
    let (mi, si) = arith::quantize_multiplier((in_s / out_s) as f64);
    let y = map_q(ctx, &[DType::I8, DType::U8, DType::I16], |_, _| {
        move |v| {
            let iv = v - in_z;
            if iv >= 0 {
                out_z + mbqm(iv, mi, si)
            } else {
                out_z + mbqm(iv, ma, sa)
            }
        }
    })?;
    Ok(vec![y])
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
