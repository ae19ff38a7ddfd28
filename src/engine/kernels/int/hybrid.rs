//! Dynamic-range (hybrid) kernels: float activations, int8 (or int4, unpacked to int8) weights.
//!
//! As TFLite's hybrid kernels: each batch of the input is quantized on the fly to int8
//! (`SymmetricQuantizeFloats`, or `AsymmetricQuantizeFloats` for per-channel convolutions and
//! when the op asks for `asymmetric_quantize_inputs`), the products are accumulated in i32, and
//! the result is `acc * input_scale * filter_scale[c] + bias[c]`, then the float activation.

/// `tensor_utils::SymmetricQuantizeFloats`: returns the scaling factor. The scalar reference
/// that `hybrid_gemm`'s vectorized quantizer is tested against.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) fn symmetric_quantize(v: &[f32], q: &mut [i8]) -> f32 {
    let (mut mn, mut mx) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in v {
        mn = mn.min(x);
        mx = mx.max(x);
    }
    let range = mn.abs().max(mx.abs());
    if v.is_empty() || range == 0.0 {
        q.iter_mut().for_each(|x| *x = 0);
        return 1.0;
    }
    let inv = 127.0f32 / range;
    for (d, &x) in q.iter_mut().zip(v) {
        *d = ((x * inv).round() as i32).clamp(-127, 127) as i8;
    }
    range / 127.0
}

/// `tensor_utils::AsymmetricQuantizeFloats` of a whole tensor: returns (scaling factor, zero
/// point). Runs `hybrid_gemm`'s vectorized quantizer, in parallel pieces when big.
pub(super) fn asymmetric_quantize(v: &[f32], q: &mut [i8]) -> (f32, i32) {
    super::hybrid_gemm::quantize_par(v, q, true)
}

/// `tensor_utils::AsymmetricQuantizeFloats`, scalar: the reference that `hybrid_gemm`'s
/// vectorized quantizer is tested against.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) fn asymmetric_quantize_ref(v: &[f32], q: &mut [i8]) -> (f32, i32) {
    let (mut mn, mut mx) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in v {
        mn = mn.min(x);
        mx = mx.max(x);
    }
    let rmin = 0.0f32.min(mn) as f64;
    let rmax = 0.0f32.max(mx) as f64;
    if v.is_empty() || rmin == rmax {
        q.iter_mut().for_each(|x| *x = 0);
        return (1.0, 0);
    }
    let (scale, nudged) = super::hybrid_gemm::asymmetric_params(mn, mx);
    let inv = 1.0f32 / scale;
    for (d, &x) in q.iter_mut().zip(v) {
        *d = ((nudged as f32 + x * inv).round() as i32).clamp(-128, 127) as i8;
    }
    (scale, nudged)
}

// FULLY_CONNECTED, CONV_2D and BATCH_MATMUL run on the integer GEMM paths (`hybrid_gemm.rs`).
pub use super::hybrid_gemm::{batch_matmul, conv2d, fully_connected};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizers() {
        let v = [0.5f32, -1.0, 0.25, 0.0];
        let mut q = [0i8; 4];
        let s = symmetric_quantize(&v, &mut q);
        assert_eq!(q, [64, -127, 32, 0]);
        assert!((s - 1.0 / 127.0).abs() < 1e-9);
        let (s, zp) = asymmetric_quantize(&[0.0, 1.0, 2.0], &mut q[..3]);
        assert_eq!(zp, -128);
        assert!((s - 2.0 / 255.0).abs() < 1e-7);
        // -128 + 1 * 127.5 = -0.5 rounds away from zero.
        assert_eq!(&q[..3], &[-128, -1, 127]);
    }
}
