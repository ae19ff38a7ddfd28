//! Float32 math written so the compiler vectorizes it: `exp`, `erf`, `tanh` as polynomials with
//! branch-free range reduction (no libm calls in the loop), and GELU on whole slices. The AVX2
//! copy of each slice loop is the same code compiled with wider vectors (no FMA contraction in
//! Rust, so every path gives the same floats); `QUANTSCOPE_SIMD=portable` keeps the baseline.
//!
//! Accuracy (checked by the tests below against f64): `exp` within 3e-7 relative, `tanh`
//! within 3e-7 absolute, `erf` within 5e-7 absolute (of an f64 erf good to 1.2e-7): far inside
//! the 1e-4 of max|ref| that the float kernels allow.

/// 1.5 * 2^23: adding it rounds a float below 2^22 to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x`, Cephes-style: `x = n ln2 + r`, a degree-6 polynomial for `e^r`, `2^n` from the
/// exponent bits. Inputs are clamped to [-87.3, 88.3] (results stay finite and normal).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let t = x * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n_bits = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i32;
    let n = t - ROUND_MAGIC;
    // ln2 split in two so that n * ln2 is exact to ~2^-32.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_66;
    let p = p * r + 0.5;
    let e = (p * r * r + r) + 1.0;
    e * f32::from_bits((n_bits.wrapping_add(127) as u32) << 23)
}

/// `erf(x)`, Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let r = 1.0 - poly * exp(-z * z);
    r.copysign(x)
}

/// `tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1))`; from |x| = 10 on that rounds to +-1.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let z = x.abs().min(10.0);
    let r = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
    // Near 0 the difference above loses bits: the odd Taylor series is exact to 1e-9 there.
    let z2 = z * z;
    let small = z * (1.0 + z2 * (-1.0 / 3.0 + z2 * (2.0 / 15.0 - z2 * (17.0 / 315.0))));
    let r = if z < 0.125 { small } else { r };
    r.copysign(x)
}

/// TFLite's exact GELU, `0.5 x (1 + erf(x / sqrt 2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// TFLite's approximate GELU, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
}

#[inline(always)]
fn map_body(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = f(x);
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_avx2(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32) {
    map_body(src, dst, f)
}

/// `f` of every value of `src`, with AVX2-wide vectors when the CPU has them, in parallel
/// pieces when `src` is big (value by value, so the result does not depend on the split);
/// `cost`: about how many memory accesses' time one `f` takes (GELU: 8).
#[inline(always)]
pub fn map(src: &[f32], cost: usize, f: impl Fn(f32) -> f32 + Copy + Sync) -> Vec<f32> {
    super::par::map(src, cost, |s, d| {
        #[cfg(target_arch = "x86_64")]
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { map_avx2(s, d, f) };
        }
        map_body(s, d, f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-40_000..=40_000).map(|i| i as f32 * 2.5e-4 * (1.0 + (i as f32).abs() * 1e-4))
    }

    #[test]
    fn exp_erf_tanh_match_f64() {
        let mut n = 0;
        for x in grid() {
            let e = exp(x) as f64;
            let want = (x as f64).exp();
            assert!(
                (e - want).abs() <= 3e-7 * want,
                "exp({x}) = {e}, want {want}"
            );
            let want = crate::engine::kernels::elementwise::erf(x as f64);
            assert!((erf(x) as f64 - want).abs() <= 5e-7, "erf({x})");
            let want = (x as f64).tanh();
            let got = tanh(x) as f64;
            assert!((got - want).abs() <= 3e-7, "tanh({x}) = {got}, want {want}");
            n += 1;
        }
        assert_eq!(n, 80_001);
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert!(exp(1000.0).is_finite());
        assert_eq!(tanh(-50.0), -1.0);
    }

    #[test]
    fn gelu_matches_f64_forms() {
        let mut worst = 0f64;
        for x in grid() {
            let v = x as f64;
            let exact = 0.5 * v * (1.0 + crate::engine::kernels::elementwise::erf(v / 2f64.sqrt()));
            let approx = 0.5
                * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh());
            worst = worst
                .max((gelu(x) as f64 - exact).abs() / v.abs().max(1.0))
                .max((gelu_tanh(x) as f64 - approx).abs() / v.abs().max(1.0));
        }
        assert!(worst < 5e-7, "worst {worst}");
        let x: Vec<f32> = grid().collect();
        let v = map(&x, 8, gelu);
        assert_eq!(v.len(), 80_001);
        assert!(v.iter().zip(grid()).all(|(&g, x)| g == gelu(x)));
    }
}
