//! 8-bit SOFTMAX for multipliers the fixed-point path cannot hold.
//!
//! TFLite's reference int8/uint8 SOFTMAX needs `beta * input_scale * 2^26 > 1`
//! (`QuantizeMultiplierGreaterThanOne` in `PreprocessSoftmaxScaling`); below that it aborts, and
//! a port that shifts by the negative exponent instead produces garbage (127 for every class).
//! Real models reach this: MobileNetV2 logits with input scale 7.8e-9. TFLite's builtin kernels
//! on x86 run `optimized_ops::Softmax` instead: a float table `exp(-input_scale * beta * d)` for
//! the 256 possible differences `d` to the row max, a float sum, and
//! `round_half_even(e / (sum * output_scale)) + output_zero_point`. This ports that path; it is
//! used only where the reference one cannot run (checked against the builtin kernels:
//! `softmax_extreme_0_int8`, 1000 equal-ish logits -> -128 everywhere).

use super::{array, clamp_to, flat, QInt};
use crate::engine::EngineError;
use ndarray::ArrayD;

/// Whether the reference fixed-point path can run: TFLite checks the real multiplier > 1.
pub(crate) fn reference_can_run(beta: f32, in_scale: f32) -> bool {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let real = beta as f64 * in_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64;
    real > 1.0
}

/// TFLite's `RoundToNearest` (round half to even), saturated to i64: a degenerate scale can
/// make the quotient infinite or NaN (NaN gives 0), which must not overflow (fuzzer finding).
fn round_to_nearest(v: f32) -> i64 {
    v.round_ties_even() as i64
}

/// `optimized_ops::Softmax` with `PopulateSoftmaxLookupTable`.
pub(crate) fn softmax_lut<I: QInt, O: QInt>(
    x: &ArrayD<I>,
    beta: f32,
    in_scale: f32,
    out_scale: f32,
    out_zp: i32,
) -> Result<ArrayD<O>, EngineError> {
    let neg_scale = -in_scale * beta;
    // table[d] = exp(-input_scale * beta * d), d = max - x in 0..=255
    let table: Vec<f32> = (0..=255).map(|d| (neg_scale * d as f32).exp()).collect();
    let depth = *x.shape().last().unwrap_or(&1);
    let xs = flat(x);
    let mut out = Vec::with_capacity(xs.len());
    for row in xs.chunks(depth.max(1)) {
        let max = row.iter().map(|v| v.to_i32()).max().unwrap_or(0);
        let e = |v: &I| table[(max - v.to_i32()).clamp(0, 255) as usize];
        let mut sum = 0f32;
        for v in row {
            sum += e(v);
        }
        let inv = 1.0f32 / (sum * out_scale);
        for v in row {
            let q = (round_to_nearest(e(v) * inv) + out_zp as i64)
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            out.push(clamp_to::<O>(q, O::MIN, O::MAX));
        }
    }
    array(x.shape(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_tflites_multiplier_greater_than_one() {
        // 7.8e-9 * 2^26 = 0.52: TFLite's reference kernel aborts, the table path runs.
        assert!(!reference_can_run(1.0, 7.8e-9));
        assert!(reference_can_run(1.0, 2e-8)); // 1.34
        assert!(reference_can_run(1e-5, 0.05)); // 33.6
        assert!(!reference_can_run(1e-3, 1e-6)); // 0.067
    }

    #[test]
    fn equal_logits_give_one_over_n() {
        // 1/1000 * 256 = 0.256 -> 0 -> -128 (what TFLite outputs on the real MobileNetV2s);
        // 1/10 * 256 = 25.6 -> 26 -> -102.
        for (n, want) in [(1000usize, -128i8), (10, -102)] {
            let x = ArrayD::from_elem(vec![1, n], 17i8);
            let y = softmax_lut::<i8, i8>(&x, 1.0, 7.8e-9, 1.0 / 256.0, -128).unwrap();
            assert!(
                y.iter().all(|&v| v == want),
                "{n} classes: {:?}",
                &y.as_slice().unwrap()[..4]
            );
            assert_eq!(y.len(), n);
        }
    }
}
