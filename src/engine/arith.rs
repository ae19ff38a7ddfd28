//! TFLite's integer arithmetic, bit for bit: quantized multipliers, the double-rounding
//! `MultiplyByQuantizedMultiplier` of the default (non `TFLITE_SINGLE_ROUNDING`) build, and the
//! gemmlowp fixed-point helpers that the reference SOFTMAX / LOG_SOFTMAX kernels use.
//!
//! Every function mirrors one of `tensorflow/lite/kernels/internal/{common.h,
//! quantization_util.cc}` or `gemmlowp/fixedpoint/fixedpoint.h`; integer overflow behaves as
//! it does there on two's-complement hardware (wrapping), which the kernels rely on.

/// `std::round` (half away from zero), what TFLite calls `TfLiteRound`.
#[inline]
pub fn round_f64(x: f64) -> f64 {
    x.round()
}

/// `std::frexp`: `x = m * 2^e` with `0.5 <= |m| < 1` (0 for 0, and non-finite values unchanged).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, biased - 1022)
}

/// `QuantizeMultiplier`: a real multiplier as a Q0.31 significand and a power-of-two exponent
/// (positive = left shift), `real ~= m * 2^(shift - 31)`.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 || real.is_nan() {
        return (0, 0);
    }
    if real.is_infinite() {
        return if real > 0.0 {
            (i32::MAX, 30)
        } else {
            (i32::MIN, 30)
        };
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_f64(q * (1i64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    // A shift amount smaller than -31 would cause all bits to be shifted out and thus all
    // results would be zero.
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    // A multiplier of 2^30 or more never comes from real scales, only from corrupt ones; left
    // shifts past 30 overflow (undefined in TFLite's C++), so saturate as TFLite's
    // single-rounding build does and keep the result defined.
    if shift > 30 {
        shift = 30;
        q_fixed = if q_fixed < 0 {
            i32::MIN as i64
        } else {
            i32::MAX as i64
        };
    }
    (q_fixed as i32, shift)
}

/// `QuantizeMultiplierSmallerThanOneExp`: for `0 < real < 1`; the shift is <= 0.
pub fn quantize_multiplier_smaller_than_one_exp(real: f64) -> (i32, i32) {
    let (m, shift) = quantize_multiplier(real);
    debug_assert!(shift <= 0, "multiplier {real} is not smaller than one");
    (m, shift)
}

/// `QuantizeMultiplierGreaterThanOne`: for `real > 1`; returns the left shift (>= 0).
pub fn quantize_multiplier_greater_than_one(real: f64) -> (i32, i32) {
    let (m, shift) = quantize_multiplier(real);
    debug_assert!(shift >= 0, "multiplier {real} is not greater than one");
    (m, shift)
}

/// gemmlowp `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)` with TFLite's nudge, and
/// `i32::MIN * i32::MIN` saturated to `i32::MAX`.
#[inline(always)]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero, as Rust's does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
#[inline(always)]
pub fn rdbpot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// 64-bit `RoundingDivideByPOT` (used by the int16 reference kernels).
#[inline(always)]
pub fn rdbpot_i64(x: i64, exponent: i32) -> i64 {
    let mask: i64 = (1i64 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i64;
    (x >> exponent) + (remainder > threshold) as i64
}

/// `MultiplyByQuantizedMultiplier(int32 x, int32 m, int shift)`, double rounding:
/// `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^left, m), right)`.
#[inline(always)]
pub fn mbqm(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rdbpot(srdhm(x.wrapping_mul(1i32 << left), multiplier), right)
}

/// `MultiplyByQuantizedMultiplierSmallerThanOneExp(x, m, left_shift)` (left_shift <= 0).
#[inline(always)]
pub fn mbqm_smaller_than_one_exp(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    rdbpot(srdhm(x, multiplier), -left_shift)
}

/// `MultiplyByQuantizedMultiplierGreaterThanOne(x, m, left_shift)`.
#[inline(always)]
pub fn mbqm_greater_than_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    srdhm(x.wrapping_mul(1i32 << left_shift), multiplier)
}

/// `MultiplyByQuantizedMultiplier(int64 x, int32 m, int shift)`: the 64-bit accumulator variant
/// of the int16x8 kernels (multiplier reduced to 16 bits, one rounding).
#[inline(always)]
pub fn mbqm_i64(x: i64, multiplier: i32, shift: i32) -> i32 {
    let reduced: i64 = if multiplier < 0x7FFF_0000 {
        ((multiplier as i64) + (1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total_shift = 15 - shift;
    let x = x
        .wrapping_mul(reduced)
        .wrapping_add(1i64 << (total_shift - 1));
    (x >> total_shift) as i32
}

/// The quantized range of a fused activation (`CalculateActivationRangeQuantized`): values are
/// quantized as `zero_point + (int)round(f / scale)` in float, then clamped to the type range.
pub fn activation_range(
    act: Activation,
    scale: f32,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
) -> (i32, i32) {
    let q = |f: f32| zero_point + (f / scale).round() as i32;
    match act {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(q(0.0)), qmax),
        Activation::Relu6 => (qmin.max(q(0.0)), qmax.min(q(6.0))),
        Activation::ReluN1To1 => (qmin.max(q(-1.0)), qmax.min(q(1.0))),
        Activation::Relu0To1 => (qmin.max(q(0.0)), qmax.min(q(1.0))),
        // TANH / SIGN_BIT fused activations are not valid on quantized kernels.
        Activation::Other => (qmin, qmax),
    }
}

/// A fused activation as the integer kernels see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
    ReluN1To1,
    Relu0To1,
    Other,
}

impl Activation {
    /// From the schema's `ActivationFunctionType` code.
    pub fn from_code(code: i8) -> Activation {
        match code {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            _ => Activation::Other,
        }
    }

    /// Float clamp of the fused activation (hybrid kernels).
    pub fn clamp_f32(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::ReluN1To1 => x.clamp(-1.0, 1.0),
            Activation::Relu0To1 => x.clamp(0.0, 1.0),
            _ => x,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gemmlowp fixed point on i32. A value is a raw i32 plus a compile-time number of integer bits
// (`FixedPoint<int32_t, I>`): real = raw / 2^(31 - I). Here the integer bits are arguments.
// ---------------------------------------------------------------------------------------------

/// `SaturatingRoundingMultiplyByPOT<exponent>`.
#[inline(always)]
pub fn sat_rounding_mul_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold: i32 = ((1i64 << (31 - exponent)) - 1) as i32;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x.wrapping_shl(exponent as u32)
        }
    } else if exponent < 0 {
        rdbpot(x, -exponent)
    } else {
        x
    }
}

/// `Rescale<dst_bits>` of a fixed-point value with `src_bits` integer bits.
#[inline(always)]
pub fn fp_rescale(raw: i32, src_bits: i32, dst_bits: i32) -> i32 {
    sat_rounding_mul_by_pot(raw, src_bits - dst_bits)
}

/// Fixed-point product (`FixedPoint<a> * FixedPoint<b>` -> `FixedPoint<a + b>`).
#[inline(always)]
pub fn fp_mul(a: i32, b: i32) -> i32 {
    srdhm(a, b)
}

/// gemmlowp `RoundingHalfSum`.
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(x)` for x in [-1/4, 0): input and output are Q0.31.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715827883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = fp_mul(x, x);
    let x3 = fp_mul(x2, x);
    let x4 = fp_mul(x2, x2);
    let x4_over_4 = sat_rounding_mul_by_pot(x4, -2);
    let inner = fp_mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2);
    let x4_over_24_plus_x3_over_6_plus_x2_over_2 = sat_rounding_mul_by_pot(inner, -1);
    CONSTANT_TERM.wrapping_add(fp_mul(
        CONSTANT_TERM,
        x.wrapping_add(x4_over_24_plus_x3_over_6_plus_x2_over_2),
    ))
}

/// gemmlowp `exp_on_negative_values`: `a` has `integer_bits` integer bits, the result is Q0.31.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let frac_bits = 31 - integer_bits;
    let one_quarter: i32 = 1 << (frac_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(fp_rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    const BARREL: [(i32, i32); 7] = [
        (-2, 1672461947),
        (-1, 1302514674),
        (0, 790015084),
        (1, 290630308),
        (2, 39332535),
        (3, 720401),
        (4, 242),
    ];
    for &(exponent, multiplier) in &BARREL {
        if integer_bits > exponent {
            let shift = frac_bits + exponent;
            if remainder & (1i32.wrapping_shl(shift as u32)) != 0 {
                result = fp_mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp: i32 = -(1i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1`: input Q0.31 in [0, 1), output Q0.31.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, i32::MAX); // Q0.31
    const C_48_OVER_17: i32 = 1515870810; // Q2.29
    const C_NEG_32_OVER_17: i32 = -1010580540; // Q2.29
    let mut x = C_48_OVER_17.wrapping_add(fp_mul(half_denominator, C_NEG_32_OVER_17)); // Q2.29
    const ONE_Q2: i32 = 1 << 29;
    for _ in 0..3 {
        let half_denominator_times_x = fp_mul(half_denominator, x); // Q2.29
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x); // Q2.29
        x = x.wrapping_add(fp_rescale(fp_mul(x, one_minus), 4, 2));
    }
    // ExactMulByPot<-1>: the same raw value read as Q1.30, then rescaled to Q0.31.
    fp_rescale(x, 1, 0)
}

/// TFLite `GetReciprocal`: `1 / x` for x with `x_integer_digits` integer bits, as Q0.31 together
/// with the number of bits the result is scaled by.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// `PreprocessSoftmaxScaling` (default build): the Q(integer_bits) input multiplier for
/// `beta * input_scale`, capped at 2^31 - 1. Returns (multiplier, left_shift).
pub fn preprocess_softmax_scaling(
    beta: f64,
    input_scale: f64,
    input_integer_bits: i32,
) -> (i32, i32) {
    let max_real_multiplier = ((1i64 << 31) - 1) as f64;
    let real =
        (beta * input_scale * (1i64 << (31 - input_integer_bits)) as f64).min(max_real_multiplier);
    quantize_multiplier_greater_than_one(real)
}

/// `CalculateInputRadius(input_integer_bits, input_left_shift, total_signed_bits)`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    let max_input_rescaled = 1.0
        * ((1i64 << input_integer_bits) - 1) as f64
        * (1i64 << (total_signed_bits - input_integer_bits)) as f64
        / (1i64 << input_left_shift) as f64;
    max_input_rescaled.floor() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_libm() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(0.1), (0.8, -3));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        let (m, e) = frexp(1e-310);
        assert!((0.5..1.0).contains(&m));
        assert_eq!(e, -1029); // 1e-310 ~ 2^-1029.8
    }

    /// Corrupt scales (a fuzzer's find: an ADD whose scale ratio is 2^40) give a defined,
    /// saturated multiplier instead of a shift that overflows.
    #[test]
    fn quantize_multiplier_saturates_impossible_ratios() {
        assert_eq!(quantize_multiplier(2f64.powi(40)), (i32::MAX, 30));
        assert_eq!(quantize_multiplier(f64::INFINITY), (i32::MAX, 30));
        assert_eq!(quantize_multiplier(f64::NAN), (0, 0));
        assert_eq!(quantize_multiplier(2f64.powi(29)), (1 << 30, 30));
        let (m, s) = quantize_multiplier(1e300);
        assert_eq!(mbqm(3, m, s), mbqm(3, i32::MAX, 30));
    }

    #[test]
    fn quantize_multiplier_values() {
        // 0.5 -> 2^30 * 2^0 ... frexp(0.5) = (0.5, 0): q_fixed = 2^30.
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        // 0.1: frexp = (0.8, -3); round(0.8 * 2^31) = 1717986918.4 -> 1717986918.
        assert_eq!(quantize_multiplier(0.1), (1717986918, -3));
        // Rounds up to 2^31: halve and bump the shift.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        // Tiny multipliers flush to zero.
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        assert_eq!(quantize_multiplier(3.0), (3 << 29, 2));
    }

    #[test]
    fn high_mul_and_divide() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        // 3 * 2^30 / 2^31 = 1.5 -> 2; -1.5 -> -1 with the asymmetric nudge? (-3*2^30 + 1 - 2^30) / 2^31
        // = (-2^32 + 1) / 2^31 = -1.99.. -> -1 (truncation).
        assert_eq!(srdhm(3, 1 << 30), 2);
        assert_eq!(srdhm(-3, 1 << 30), -1);
        assert_eq!(srdhm(-1, 1 << 30), 0);
        assert_eq!(rdbpot(5, 1), 3); // 2.5 -> 3
        assert_eq!(rdbpot(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rdbpot(7, 2), 2); // 1.75 -> 2
        assert_eq!(rdbpot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rdbpot(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rdbpot(100, 0), 100);
    }

    #[test]
    fn multiply_by_quantized_multiplier_values() {
        let (m, s) = quantize_multiplier(0.25);
        assert_eq!(mbqm(100, m, s), 25);
        assert_eq!(mbqm(102, m, s), 26); // 25.5 -> 26
        assert_eq!(mbqm(-102, m, s), -26);
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(mbqm(7, m, s), 21);
        let (m, s) = quantize_multiplier(0.1);
        assert_eq!(mbqm(1000, m, s), 100);
        assert_eq!(mbqm(15, m, s), 2); // 1.5 -> 2
                                       // 64-bit variant: 0.5 * 1001 = 500.5 -> 501.
        let (m, s) = quantize_multiplier(0.5);
        assert_eq!(mbqm_i64(1001, m, s), 501);
        assert_eq!(mbqm_i64(-1000, m, s), -500);
    }

    #[test]
    fn fixed_point_exp_and_reciprocal() {
        // exp(0) = 1 (saturated).
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
        for &v in &[-0.01f64, -0.2, -0.25, -1.0, -2.5, -7.0, -20.0] {
            let raw = (v * (1i64 << 26) as f64) as i32; // Q5.26
            let e = exp_on_negative_values(raw, 5) as f64 / 2f64.powi(31);
            assert!((e - v.exp()).abs() < 1e-6, "exp({v}) = {e}");
        }
        for &v in &[0.0f64, 0.1, 0.5, 0.9, 0.999] {
            let raw = (v * 2f64.powi(31)) as i32;
            let r = one_over_one_plus_x_for_x_in_0_1(raw) as f64 / 2f64.powi(31);
            assert!((r - 1.0 / (1.0 + v)).abs() < 1e-6, "1/(1+{v}) = {r}");
        }
        // 1 / 3 with 12 integer bits: 3.0 in Q12.19.
        let (r, bits) = get_reciprocal(3 << 19, 12);
        let val = r as f64 / 2f64.powi(31) / 2f64.powi(bits);
        assert!((val - 1.0 / 3.0).abs() < 1e-6, "{val} {bits}");
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(
            activation_range(Activation::Relu, 0.1, -10, -128, 127),
            (-10, 127)
        );
        assert_eq!(
            activation_range(Activation::Relu6, 0.1, -10, -128, 127),
            (-10, 50)
        );
        assert_eq!(
            activation_range(Activation::None, 0.1, -10, -128, 127),
            (-128, 127)
        );
    }
}
