//! Quantized elementwise ops: ADD, SUB (`reference_ops::Add/Sub` general 8-bit path, left
//! shift 20, int16 general path 15), MUL, SQUARED_DIFFERENCE, MAXIMUM / MINIMUM (raw compare),
//! ABS / NEG (requantize), all with numpy broadcasting.

use super::{array, bail, clamp_to, flat, fused, out_range, qparams, QInt};
use crate::engine::arith::{self, mbqm, mbqm_smaller_than_one_exp as mbqm_s};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};

/// Broadcast shape and, per output element, the flat indices into each operand.
fn broadcast(
    a: &[usize],
    b: &[usize],
) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>), EngineError> {
    let rank = a.len().max(b.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    let mut out = Vec::with_capacity(rank);
    for (&x, &y) in pa.iter().zip(&pb) {
        if x != y && x != 1 && y != 1 {
            bail!("shapes {a:?} and {b:?} do not broadcast");
        }
        out.push(if x == 1 { y } else { x });
    }
    let n: usize = out.iter().product();
    if pa == out && pb == out {
        let idx: Vec<usize> = (0..n).collect();
        return Ok((out, idx.clone(), idx));
    }
    let strides = |s: &[usize]| -> Vec<usize> {
        let mut st = vec![0; rank];
        let mut acc = 1;
        for d in (0..rank).rev() {
            st[d] = if s[d] == 1 { 0 } else { acc };
            acc *= s[d];
        }
        st
    };
    let (sa, sb) = (strides(&pa), strides(&pb));
    let mut ia = Vec::with_capacity(n);
    let mut ib = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        ia.push(idx.iter().zip(&sa).map(|(i, s)| i * s).sum());
        ib.push(idx.iter().zip(&sb).map(|(i, s)| i * s).sum());
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok((out, ia, ib))
}

pub fn binary(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(0)? {
        Value::I8(_) => run::<i8>(ctx),
        Value::U8(_) => run::<u8>(ctx),
        Value::I16(_) => run::<i16>(ctx),
        other => bail!(
            "quantized {} on {} is not supported",
            ctx.name(),
            other.dtype()
        ),
    }
}

fn get<T: QInt>(v: &Value) -> Result<Vec<i32>, EngineError> {
    Ok(match v {
        Value::I8(a) => flat(a).iter().map(|&x| x as i32).collect(),
        Value::U8(a) => flat(a).iter().map(|&x| x as i32).collect(),
        Value::I16(a) => flat(a).iter().map(|&x| x as i32).collect(),
        other => bail!("operand of type {} is not supported", other.dtype()),
    })
}

fn run<T: QInt>(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    if Some(ctx.out_dtype(0)) != ctx.in_dtype(0) {
        bail!(
            "{} output type {} differs from the input's",
            ctx.name(),
            ctx.out_dtype(0)
        );
    }
    let name = ctx.name();
    let (s1, z1) = qparams(ctx.in_meta(0));
    let (so, zo) = qparams(Some(ctx.output_meta[0]));
    let x1 = ctx.input(0)?;
    if matches!(name, "ABS" | "NEG" | "SQUARE") {
        let a = get::<T>(x1)?;
        let out: Vec<T> = match name {
            "ABS" | "NEG" => {
                // elementwise.cc AbsEval / neg: requantize |x - zp| (or -(x - zp)) to the output.
                let (m, s) = arith::quantize_multiplier(s1 as f64 / so as f64);
                let same = s1 == so && z1 == zo;
                a.iter()
                    .map(|&v| {
                        let d = v - z1;
                        let d = if name == "ABS" { d.abs() } else { -d };
                        let o = if same && name == "NEG" {
                            -v + 2 * z1 - zo + zo
                        } else {
                            mbqm(d, m, s) + zo
                        };
                        clamp_to::<T>(o, T::MIN, T::MAX)
                    })
                    .collect()
            }
            _ => bail!("quantized SQUARE is not supported"),
        };
        return Ok(vec![T::wrap(array(x1.shape(), out)?)]);
    }
    let x2 = ctx.input(1)?;
    let (s2, z2) = qparams(ctx.in_meta(1));
    let act = fused(ctx);
    let (lo, hi) = out_range(ctx, act, 0);
    let wide = std::mem::size_of::<T>() == 2;
    // Same-shape 8-bit ADD/SUB usually takes the fast path below, which needs neither the
    // broadcast index maps nor i32 copies of the operands: build those only when used.
    let lazy = !wide && x1.shape() == x2.shape() && matches!(name, "ADD" | "SUB");
    let (shape, ia, ib) = if lazy {
        (x1.shape().to_vec(), Vec::new(), Vec::new())
    } else {
        broadcast(x1.shape(), x2.shape())?
    };
    let (a, b) = if lazy {
        (Vec::new(), Vec::new())
    } else {
        (get::<T>(x1)?, get::<T>(x2)?)
    };
    let out: Vec<T> = match name {
        "ADD" | "SUB" => {
            let left_shift = if wide { 15 } else { 20 };
            let twice_max = (2.0f32 * s1.max(s2)) as f64;
            let out_real = twice_max / ((1i32 << left_shift) as f32 * so) as f64;
            // TFLite's Prepare checks each multiplier is below one (TFLITE_CHECK_LT); absurd
            // scales (a fuzzer finding: an infinite one) are refused here instead of aborting.
            for (what, r) in [
                ("input 1", s1 as f64 / twice_max),
                ("input 2", s2 as f64 / twice_max),
                ("output", out_real),
            ] {
                if !(r.is_finite() && r < 1.0) {
                    bail!("quantized {name}: the {what} scale gives a rescale multiplier of {r}, not below 1 (scales in1 {s1}, in2 {s2}, out {so})");
                }
            }
            let (m1, sh1) = arith::quantize_multiplier_smaller_than_one_exp(s1 as f64 / twice_max);
            let (m2, sh2) = arith::quantize_multiplier_smaller_than_one_exp(s2 as f64 / twice_max);
            let (mo, sho) = arith::quantize_multiplier_smaller_than_one_exp(out_real);
            let sub = name == "SUB";
            // Fast path for the usual case; corrupt scales (negative multipliers, left shifts)
            // stay on the general path below.
            let sane = [m1, m2, mo].iter().all(|&m| m >= 0)
                && [sh1, sh2, sho].iter().all(|&s| (-31..=0).contains(&s));
            if !wide && sane && x1.shape() == x2.shape() {
                let p = AddParams {
                    z1,
                    z2,
                    m1,
                    sh1: -sh1,
                    m2,
                    sh2: -sh2,
                    mo,
                    sho: -sho,
                    zo,
                    lo,
                    hi,
                    sub,
                };
                let out = add8_dispatch::<T>(&flat_t::<T>(x1)?, &flat_t::<T>(x2)?, &p);
                return Ok(vec![T::wrap(array(x1.shape(), out)?)]);
            }
            let (ia, ib, a, b) = if lazy {
                let (_, ia, ib) = broadcast(x1.shape(), x2.shape())?;
                (ia, ib, get::<T>(x1)?, get::<T>(x2)?)
            } else {
                (ia, ib, a, b)
            };
            ia.iter()
                .zip(&ib)
                .map(|(&i, &j)| {
                    let v1 = (a[i] - z1).wrapping_shl(left_shift);
                    let v2 = (b[j] - z2).wrapping_shl(left_shift);
                    let sc1 = mbqm_s(v1, m1, sh1);
                    let sc2 = mbqm_s(v2, m2, sh2);
                    let raw = if sub {
                        sc1.wrapping_sub(sc2)
                    } else {
                        sc1.wrapping_add(sc2)
                    };
                    clamp_to::<T>(mbqm_s(raw, mo, sho) + zo, lo, hi)
                })
                .collect()
        }
        "MUL" => {
            let (m, s) = arith::quantize_multiplier((s1 * s2 / so) as f64);
            ia.iter()
                .zip(&ib)
                .map(|(&i, &j)| {
                    let p = (a[i] - z1).wrapping_mul(b[j] - z2);
                    clamp_to::<T>(zo + mbqm(p, m, s), lo, hi)
                })
                .collect()
        }
        "SQUARED_DIFFERENCE" => {
            let left_shift = 7;
            let twice_max = 2.0f64 * s1.max(s2) as f64;
            let (m1, sh1) = arith::quantize_multiplier_smaller_than_one_exp(s1 as f64 / twice_max);
            let (m2, sh2) = arith::quantize_multiplier_smaller_than_one_exp(s2 as f64 / twice_max);
            let (mo, sho) = arith::quantize_multiplier(
                twice_max * twice_max / ((1i32 << (2 * left_shift)) as f32 * so) as f64,
            );
            ia.iter()
                .zip(&ib)
                .map(|(&i, &j)| {
                    let sc1 = mbqm_s((a[i] - z1).wrapping_shl(left_shift), m1, sh1);
                    let sc2 = mbqm_s((b[j] - z2).wrapping_shl(left_shift), m2, sh2);
                    let d = sc1.wrapping_sub(sc2);
                    clamp_to::<T>(mbqm(d.wrapping_mul(d), mo, sho) + zo, T::MIN, T::MAX)
                })
                .collect()
        }
        "MAXIMUM" | "MINIMUM" => {
            let max = name == "MAXIMUM";
            ia.iter()
                .zip(&ib)
                .map(|(&i, &j)| T::from_i32(if max { a[i].max(b[j]) } else { a[i].min(b[j]) }))
                .collect()
        }
        other => bail!("quantized {other} is not supported"),
    };
    Ok(vec![T::wrap(array(&shape, out)?)])
}

/// The operand's values as a slice of `T` (the caller has checked both operands have `T`).
fn flat_t<T: QInt>(v: &Value) -> Result<std::borrow::Cow<'_, [T]>, EngineError> {
    let any: &dyn std::any::Any = match v {
        Value::I8(a) => a,
        Value::U8(a) => a,
        Value::I16(a) => a,
        other => bail!("operand of type {} is not supported", other.dtype()),
    };
    match any.downcast_ref::<ndarray::ArrayD<T>>() {
        Some(a) => Ok(flat(a)),
        None => bail!("operands of ADD/SUB differ in type"),
    }
}

/// The 8-bit ADD / SUB of `reference_ops::Add` (left shift 20): shifts are right shifts (>= 0).
struct AddParams {
    z1: i32,
    z2: i32,
    m1: i32,
    sh1: i32,
    m2: i32,
    sh2: i32,
    mo: i32,
    sho: i32,
    zo: i32,
    lo: i32,
    hi: i32,
    sub: bool,
}

/// `SaturatingRoundingDoublingHighMul` for a multiplier that is never `i32::MIN` (quantized
/// multipliers are positive), so the saturating case cannot occur; branch-free to vectorize.
#[inline(always)]
fn srdhm_pos(a: i32, m: i32) -> i32 {
    let ab = a as i64 * m as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `RoundingDivideByPOT` as in `arith::rdbpot`, with the mask precomputed.
#[inline(always)]
fn rdbpot_m(x: i32, e: i32, mask: i32) -> i32 {
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + ((x & mask) > threshold) as i32
}

/// Equal-shape 8-bit ADD / SUB over plain slices, bit for bit `arith::mbqm_s` per step.
#[inline(always)]
fn add8_body<T: QInt>(a: &[T], b: &[T], p: &AddParams, out: &mut [T]) {
    let mask = |e: i32| ((1i64 << e) - 1) as i32;
    let (k1, k2, ko) = (mask(p.sh1), mask(p.sh2), mask(p.sho));
    let sign = if p.sub { -1 } else { 1 };
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let s1 = rdbpot_m(
            srdhm_pos(x.to_i32().wrapping_sub(p.z1) << 20, p.m1),
            p.sh1,
            k1,
        );
        let s2 = rdbpot_m(
            srdhm_pos(y.to_i32().wrapping_sub(p.z2) << 20, p.m2),
            p.sh2,
            k2,
        );
        let raw = s1.wrapping_add(s2.wrapping_mul(sign));
        let v = rdbpot_m(srdhm_pos(raw, p.mo), p.sho, ko).wrapping_add(p.zo);
        *o = T::from_i32(v.max(p.lo).min(p.hi));
    }
}

/// # Safety
/// The CPU must support AVX2 (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add8_avx2<T: QInt>(a: &[T], b: &[T], p: &AddParams, out: &mut [T]) {
    add8_body(a, b, p, out)
}

/// # Safety
/// The CPU must support AVX-512F/BW/VL/DQ (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn add8_avx512<T: QInt>(a: &[T], b: &[T], p: &AddParams, out: &mut [T]) {
    add8_body(a, b, p, out)
}

fn add8_dispatch<T: QInt>(a: &[T], b: &[T], p: &AddParams) -> Vec<T> {
    let mut out = vec![T::default(); a.len().min(b.len())];
    #[cfg(target_arch = "x86_64")]
    {
        use crate::engine::simd;
        if simd::avx512() {
            // SAFETY: the CPU has the AVX-512 subsets the function enables.
            unsafe { add8_avx512(a, b, p, &mut out) };
            return out;
        }
        if simd::avx2() {
            // SAFETY: the CPU has AVX2.
            unsafe { add8_avx2(a, b, p, &mut out) };
            return out;
        }
    }
    add8_body(a, b, p, &mut out);
    out
}
