//! Element-wise ops: binary arithmetic with broadcasting, unary math and activations,
//! PRELU, SOFTMAX / LOG_SOFTMAX, L2_NORMALIZATION, comparisons, logical ops, SELECT.

use super::cast::dequantize_value;
use super::conv::broadcast_shapes;
use super::{apply_act, bail, par, vmath, OpCtx};
use crate::engine::{EngineError, Value};
use ndarray::{ArrayD, IxDyn, Zip};

/// Numpy-style broadcasting of a binary function.
pub fn bcast<T: Copy, U>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    f: impl Fn(T, T) -> U,
) -> Result<ArrayD<U>, EngineError> {
    if a.shape() == b.shape() {
        return Ok(Zip::from(a).and(b).map_collect(|&x, &y| f(x, y)));
    }
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let av = a.broadcast(IxDyn(&shape)).unwrap();
    let bv = b.broadcast(IxDyn(&shape)).unwrap();
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// A float binary op on two arrays with numpy broadcasting. The shapes of modern nets get loops
/// over plain slices that vectorize: equal shapes, a scalar, an operand that repeats along the
/// leading axes (`[C]` against `[N, H, W, C]`) and one with a last axis of 1 (LayerNorm's
/// `x - mean`); anything else goes through ndarray's broadcasting iterator.
fn bin_f32(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    f: impl Fn(f32, f32) -> f32 + Copy + Sync,
) -> Result<ArrayD<f32>, EngineError> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) else {
        return bcast(a, b, f);
    };
    let n: usize = shape.iter().product();
    // Shape padded on the left with ones to the output rank.
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; shape.len() - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a.shape()), pad(b.shape()));
    let last = shape.last().copied().unwrap_or(1);
    // The operand `s` repeats whole over the leading axes of the output (a suffix of its shape).
    let repeats = |p: &[usize]| -> bool {
        let k = p.iter().position(|&d| d != 1).unwrap_or(p.len());
        p[k..] == shape[k..]
    };
    // The operand has the output's shape except a last axis of 1.
    let per_row = |p: &[usize]| -> bool {
        last > 1 && p[p.len() - 1] == 1 && p[..p.len() - 1] == shape[..shape.len() - 1]
    };
    // Each branch fills pieces of whole rows (in parallel when big: `par`), every value
    // computed as in one piece.
    let out = if n == 0 {
        Vec::new()
    } else if pa == shape && pb == shape {
        par::build(n, 1, |off, o| {
            let (x, y) = (&x[off..], &y[off..]);
            for ((o, &u), &v) in o.iter_mut().zip(x).zip(y) {
                *o = f(u, v);
            }
        })
    } else if pa == shape && repeats(&pb) {
        par::build(n, y.len(), |off, o| {
            for (o, u) in o.chunks_mut(y.len()).zip(x[off..].chunks(y.len())) {
                for ((o, &u), &v) in o.iter_mut().zip(u).zip(y) {
                    *o = f(u, v);
                }
            }
        })
    } else if pb == shape && repeats(&pa) {
        par::build(n, x.len(), |off, o| {
            for (o, v) in o.chunks_mut(x.len()).zip(y[off..].chunks(x.len())) {
                for ((o, &u), &v) in o.iter_mut().zip(x).zip(v) {
                    *o = f(u, v);
                }
            }
        })
    } else if pa == shape && per_row(&pb) {
        par::build(n, last, |off, o| {
            let rows = o.chunks_mut(last).zip(x[off..].chunks(last));
            for ((o, u), &v) in rows.zip(&y[off / last..]) {
                for (o, &u) in o.iter_mut().zip(u) {
                    *o = f(u, v);
                }
            }
        })
    } else if pb == shape && per_row(&pa) {
        par::build(n, last, |off, o| {
            let rows = o.chunks_mut(last).zip(y[off..].chunks(last));
            for ((o, v), &u) in rows.zip(&x[off / last..]) {
                for (o, &v) in o.iter_mut().zip(v) {
                    *o = f(u, v);
                }
            }
        })
    } else {
        return bcast(a, b, f);
    };
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap())
}

/// Runs `$body` with `$f` bound to the float function of binary op `$name` (one monomorphic
/// instance per op).
macro_rules! with_float_binop {
    ($name:expr, |$f:ident| $body:expr) => {
        match $name {
            "ADD" => {
                let $f = |x: f32, y: f32| x + y;
                $body
            }
            "SUB" => {
                let $f = |x: f32, y: f32| x - y;
                $body
            }
            "MUL" => {
                let $f = |x: f32, y: f32| x * y;
                $body
            }
            "DIV" => {
                let $f = |x: f32, y: f32| x / y;
                $body
            }
            "SQUARED_DIFFERENCE" => {
                let $f = |x: f32, y: f32| (x - y) * (x - y);
                $body
            }
            "MAXIMUM" => {
                let $f = |x: f32, y: f32| if x > y { x } else { y };
                $body
            }
            "MINIMUM" => {
                let $f = |x: f32, y: f32| if x < y { x } else { y };
                $body
            }
            "POW" => {
                let $f = |x: f32, y: f32| x.powf(y);
                $body
            }
            "FLOOR_DIV" => {
                let $f = |x: f32, y: f32| (x / y).floor();
                $body
            }
            "FLOOR_MOD" => {
                let $f = |x: f32, y: f32| {
                    let t = x % y;
                    if t != 0.0 && ((y < 0.0) != (t < 0.0)) {
                        t + y
                    } else {
                        t
                    }
                };
                $body
            }
            other => bail!("{other} is not a binary op"),
        }
    };
}

macro_rules! int_binop {
    ($name:expr, $t:ty) => {{
        let f: fn($t, $t) -> $t = match $name {
            "ADD" => |x: $t, y: $t| x.wrapping_add(y),
            "SUB" => |x: $t, y: $t| x.wrapping_sub(y),
            "MUL" => |x: $t, y: $t| x.wrapping_mul(y),
            "DIV" => |x: $t, y: $t| if y == 0 { 0 } else { x.wrapping_div(y) },
            "SQUARED_DIFFERENCE" => {
                |x: $t, y: $t| x.wrapping_sub(y).wrapping_mul(x.wrapping_sub(y))
            }
            "MAXIMUM" => |x: $t, y: $t| x.max(y),
            "MINIMUM" => |x: $t, y: $t| x.min(y),
            "POW" => |x: $t, y: $t| x.wrapping_pow(y.max(0) as u32),
            "FLOOR_DIV" => |x: $t, y: $t| {
                if y == 0 {
                    0
                } else {
                    x.div_euclid(y)
                        - if (x.rem_euclid(y) != 0) && y < 0 {
                            1
                        } else {
                            0
                        }
                }
            },
            "FLOOR_MOD" => |x: $t, y: $t| {
                if y == 0 {
                    0
                } else {
                    let t = x % y;
                    if t != 0 && ((y < 0) != (t < 0)) {
                        t + y
                    } else {
                        t
                    }
                }
            },
            other => bail!("{other} is not supported on integer tensors"),
        };
        f
    }};
}

pub fn binary(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let name = ctx.name();
    let (a, b) = (ctx.input(0)?, ctx.input(1)?);
    let act = ctx.activation();
    Ok(vec![match (a, b) {
        (Value::F32(x), Value::F32(y)) => {
            let mut out = with_float_binop!(name, |f| bin_f32(x, y, f)?);
            if act.is_some() {
                match out.as_slice_mut() {
                    Some(s) => apply_act(s, act)?,
                    None => bail!("internal: non-contiguous output"),
                }
            }
            Value::F32(out)
        }
        (Value::I32(x), Value::I32(y)) => {
            let f = int_binop!(name, i32);
            let mut out = bcast(x, y, f)?;
            int_act(out.iter_mut(), act);
            Value::I32(out)
        }
        (Value::I64(x), Value::I64(y)) => {
            let f = int_binop!(name, i64);
            let mut out = bcast(x, y, f)?;
            int_act(out.iter_mut(), act);
            Value::I64(out)
        }
        (x, y) => bail!(
            "{name} on {} and {} needs an integer kernel",
            x.dtype(),
            y.dtype()
        ),
    }])
}

fn int_act<'a, T: Copy + PartialOrd + From<i8> + 'a>(
    it: impl Iterator<Item = &'a mut T>,
    act: Option<&str>,
) {
    let (lo, hi): (T, Option<T>) = match act {
        Some("RELU") => (T::from(0), None),
        Some("RELU6") => (T::from(0), Some(T::from(6))),
        Some("RELU_N1_TO_1") => (T::from(-1), Some(T::from(1))),
        _ => return,
    };
    for x in it {
        if *x < lo {
            *x = lo;
        }
        if let Some(h) = hi {
            if *x > h {
                *x = h;
            }
        }
    }
}

/// erf via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7 relative).
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

fn round_half_even(x: f32) -> f32 {
    x.round_ties_even()
}

pub fn unary(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let name = ctx.name();
    let x = ctx.input(0)?;
    match x {
        Value::I32(a) => {
            return Ok(vec![Value::I32(match name {
                "ABS" => a.mapv(|v| v.wrapping_abs()),
                "NEG" => a.mapv(|v| v.wrapping_neg()),
                "SQUARE" => a.mapv(|v| v.wrapping_mul(v)),
                "SIGN" => a.mapv(|v| v.signum()),
                "RELU" => a.mapv(|v| v.max(0)),
                _ => bail!("{name} on int32 is not supported"),
            })])
        }
        Value::I64(a) => {
            return Ok(vec![Value::I64(match name {
                "ABS" => a.mapv(|v| v.wrapping_abs()),
                "NEG" => a.mapv(|v| v.wrapping_neg()),
                "SQUARE" => a.mapv(|v| v.wrapping_mul(v)),
                "SIGN" => a.mapv(|v| v.signum()),
                _ => bail!("{name} on int64 is not supported"),
            })])
        }
        _ => {}
    }
    let a = ctx.in_f32(0)?;
    // One monomorphic loop per op (no call through a pointer per value), so each vectorizes.
    let src = a.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    let un = |out: Vec<f32>| -> Vec<Value> {
        vec![Value::F32(
            ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("same length"),
        )]
    };
    // Cheap maps split from `par::MIN_PAR` values, the polynomial and libm ones (cost 8)
    // from fewer.
    macro_rules! map {
        ($f:expr) => {
            un(vmath::map(src, 1, $f))
        };
        ($f:expr, costly) => {
            un(vmath::map(src, 8, $f))
        };
    }
    Ok(match name {
        "NEG" => map!(|v: f32| -v),
        "ABS" => map!(|v: f32| v.abs()),
        "SQRT" => map!(|v: f32| v.sqrt()),
        "RSQRT" => map!(|v: f32| 1.0 / v.sqrt()),
        "SQUARE" => map!(|v: f32| v * v),
        "EXP" => map!(|v: f32| v.exp(), costly),
        "LOG" => map!(|v: f32| v.ln(), costly),
        "SIN" => map!(|v: f32| v.sin(), costly),
        "COS" => map!(|v: f32| v.cos(), costly),
        "FLOOR" => map!(|v: f32| v.floor()),
        "CEIL" => map!(|v: f32| v.ceil()),
        "ROUND" => map!(round_half_even),
        "SIGN" => map!(|v: f32| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        }),
        "RELU" => map!(|v: f32| v.max(0.0)),
        "RELU6" => map!(|v: f32| v.clamp(0.0, 6.0)),
        "RELU_N1_TO_1" => map!(|v: f32| v.clamp(-1.0, 1.0)),
        "RELU_0_TO_1" => map!(|v: f32| v.clamp(0.0, 1.0)),
        "LEAKY_RELU" => {
            let alpha = ctx
                .fb
                .builtin_options_as_leaky_relu_options()
                .map(|o| o.alpha())
                .unwrap_or(0.2);
            map!(move |v: f32| if v > 0.0 { v } else { v * alpha })
        }
        "HARD_SWISH" => map!(|v: f32| v * (v + 3.0).clamp(0.0, 6.0) / 6.0),
        "LOGISTIC" => map!(|v: f32| 1.0 / (1.0 + (-v).exp()), costly),
        "TANH" => map!(|v: f32| v.tanh(), costly),
        "ELU" => map!(|v: f32| if v < 0.0 { v.exp_m1() } else { v }),
        "GELU" => {
            let approx = ctx
                .fb
                .builtin_options_as_gelu_options()
                .map(|o| o.approximate())
                .unwrap_or(false);
            // f32 polynomials (vmath), within 5e-7 * max(|x|, 1) of the f64 formulas.
            if approx {
                map!(vmath::gelu_tanh, costly)
            } else {
                map!(vmath::gelu, costly)
            }
        }
        other => bail!("{other} is not a unary op"),
    })
}

pub fn prelu(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let al = ctx.in_f32(1)?;
    Ok(vec![Value::F32(bcast(x, al, |v, a| {
        if v >= 0.0 {
            v
        } else {
            v * a
        }
    })?)])
}

fn last_axis_map(a: &ArrayD<f32>, f: impl Fn(&[f32], &mut [f32])) -> ArrayD<f32> {
    let d = a.shape().last().copied().unwrap_or(1).max(1);
    let src: Vec<f32> = a.iter().copied().collect();
    let mut out = vec![0f32; src.len()];
    for (s, o) in src.chunks(d).zip(out.chunks_mut(d)) {
        f(s, o);
    }
    ArrayD::from_shape_vec(IxDyn(a.shape()), out).unwrap()
}

pub fn softmax(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let beta = ctx
        .fb
        .builtin_options_as_softmax_options()
        .map(|o| o.beta())
        .unwrap_or(1.0);
    Ok(vec![Value::F32(last_axis_map(x, |s, o| {
        let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for (o, &v) in o.iter_mut().zip(s) {
            *o = ((v - m) * beta).exp();
            sum += *o;
        }
        for o in o.iter_mut() {
            *o /= sum;
        }
    }))])
}

pub fn log_softmax(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    Ok(vec![Value::F32(last_axis_map(x, |s, o| {
        let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = s.iter().map(|&v| (v - m).exp()).sum();
        let ls = sum.ln();
        for (o, &v) in o.iter_mut().zip(s) {
            *o = v - m - ls;
        }
    }))])
}

pub fn l2_normalization(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let mut out = last_axis_map(x, |s, o| {
        let sq: f32 = s.iter().map(|v| v * v).sum();
        let n = sq.sqrt().max(1e-6);
        for (o, &v) in o.iter_mut().zip(s) {
            *o = v / n;
        }
    });
    if let Some(s) = out.as_slice_mut() {
        apply_act(s, ctx.activation())?;
    }
    Ok(vec![Value::F32(out)])
}

fn cmp_fn<T: PartialOrd + Copy>(name: &str) -> Result<fn(T, T) -> bool, EngineError> {
    Ok(match name {
        "EQUAL" => |a, b| a == b,
        "NOT_EQUAL" => |a, b| a != b,
        "LESS" => |a, b| a < b,
        "LESS_EQUAL" => |a, b| a <= b,
        "GREATER" => |a, b| a > b,
        "GREATER_EQUAL" => |a, b| a >= b,
        other => bail!("{other} is not a comparison"),
    })
}

pub fn compare(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let name = ctx.name();
    let (a, b) = (ctx.input(0)?, ctx.input(1)?);
    let (qa, qb) = (ctx.in_quant(0), ctx.in_quant(1));
    let quantized = !a.dtype().is_float() && qa.is_some() && qb.is_some();
    if quantized
        && (qa.unwrap().scales != qb.unwrap().scales
            || qa.unwrap().zero_points != qb.unwrap().zero_points)
    {
        let (x, y) = (dequantize_value(a, qa)?, dequantize_value(b, qb)?);
        return Ok(vec![Value::Bool(bcast(&x, &y, cmp_fn::<f32>(name)?)?)]);
    }
    Ok(vec![Value::Bool(match (a, b) {
        (Value::F32(x), Value::F32(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::F16(x), Value::F16(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::I8(x), Value::I8(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::U8(x), Value::U8(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::I16(x), Value::I16(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::I32(x), Value::I32(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::I64(x), Value::I64(y)) => bcast(x, y, cmp_fn(name)?)?,
        (Value::Bool(x), Value::Bool(y)) => bcast(x, y, cmp_fn(name)?)?,
        (x, y) => bail!("{name} on {} and {}", x.dtype(), y.dtype()),
    })])
}

pub fn logical(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let a = ctx.input(0)?.as_bool()?;
    Ok(vec![Value::Bool(match ctx.name() {
        "LOGICAL_NOT" => a.mapv(|v| !v),
        "LOGICAL_AND" => bcast(a, ctx.input(1)?.as_bool()?, |x, y| x && y)?,
        "LOGICAL_OR" => bcast(a, ctx.input(1)?.as_bool()?, |x, y| x || y)?,
        other => bail!("{other} is not a logical op"),
    })])
}

fn select_t<T: Clone>(
    c: &ArrayD<bool>,
    x: &ArrayD<T>,
    y: &ArrayD<T>,
) -> Result<ArrayD<T>, EngineError> {
    let shape = broadcast_shapes(&broadcast_shapes(c.shape(), x.shape())?, y.shape())?;
    let s = IxDyn(&shape);
    let (cv, xv, yv) = (
        c.broadcast(s.clone()).unwrap(),
        x.broadcast(s.clone()).unwrap(),
        y.broadcast(s).unwrap(),
    );
    Ok(Zip::from(&cv)
        .and(&xv)
        .and(&yv)
        .map_collect(|&c, a, b| if c { a.clone() } else { b.clone() }))
}

pub fn select(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let mut c = ctx.input(0)?.as_bool()?.clone();
    let (x, y) = (ctx.input(1)?, ctx.input(2)?);
    // SELECT (v1): a rank-1 condition picks whole rows of higher-rank inputs.
    if ctx.name() == "SELECT" && c.ndim() == 1 && x.shape().len() > 1 && c.len() == x.shape()[0] {
        let mut shape = vec![c.len()];
        shape.extend(std::iter::repeat_n(1, x.shape().len() - 1));
        c = c.into_shape_with_order(IxDyn(&shape)).unwrap();
    }
    Ok(vec![match (x, y) {
        (Value::F32(a), Value::F32(b)) => Value::F32(select_t(&c, a, b)?),
        (Value::F16(a), Value::F16(b)) => Value::F16(select_t(&c, a, b)?),
        (Value::I8(a), Value::I8(b)) => Value::I8(select_t(&c, a, b)?),
        (Value::U8(a), Value::U8(b)) => Value::U8(select_t(&c, a, b)?),
        (Value::I16(a), Value::I16(b)) => Value::I16(select_t(&c, a, b)?),
        (Value::I32(a), Value::I32(b)) => Value::I32(select_t(&c, a, b)?),
        (Value::I64(a), Value::I64(b)) => Value::I64(select_t(&c, a, b)?),
        (Value::Bool(a), Value::Bool(b)) => Value::Bool(select_t(&c, a, b)?),
        (a, b) => bail!("SELECT between {} and {}", a.dtype(), b.dtype()),
    }])
}
