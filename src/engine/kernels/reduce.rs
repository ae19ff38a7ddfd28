//! MEAN, SUM, REDUCE_MAX/MIN/PROD/ANY/ALL and ARG_MAX/ARG_MIN.

use super::{bail, norm_axis, par, OpCtx};
use crate::engine::{EngineError, Value};
use crate::model::DType;
use ndarray::{ArrayD, IxDyn};

/// Output shape (with and without kept dims) and, per input dim, the output stride (0 where
/// reduced).
struct Plan {
    out_keep: Vec<usize>,
    out_shape: Vec<usize>,
    strides: Vec<usize>,
    count: usize,
}

fn plan(shape: &[usize], axes: &[i64], keep: bool) -> Result<Plan, EngineError> {
    let r = shape.len();
    let mut red = vec![false; r];
    for &a in axes {
        red[norm_axis(a, r)?] = true;
    }
    let out_keep: Vec<usize> = shape
        .iter()
        .zip(&red)
        .map(|(&d, &x)| if x { 1 } else { d })
        .collect();
    let out_shape: Vec<usize> = if keep {
        out_keep.clone()
    } else {
        shape
            .iter()
            .zip(&red)
            .filter(|(_, &x)| !x)
            .map(|(&d, _)| d)
            .collect()
    };
    let mut strides = vec![0; r];
    let mut s = 1;
    for i in (0..r).rev() {
        if !red[i] {
            strides[i] = s;
            s *= shape[i];
        }
    }
    let count = shape
        .iter()
        .zip(&red)
        .filter(|(_, &x)| x)
        .map(|(&d, _)| d)
        .product();
    Ok(Plan {
        out_keep,
        out_shape,
        strides,
        count,
    })
}

fn reduce_t<T: Copy>(a: &ArrayD<T>, p: &Plan, init: T, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let n: usize = p.out_keep.iter().product();
    let mut out = vec![init; n];
    let shape = a.shape();
    let r = shape.len();
    let mut idx = vec![0usize; r];
    let mut oi = 0usize;
    for &v in a.iter() {
        out[oi] = f(out[oi], v);
        // Increment the multi-index, updating the output offset.
        for d in (0..r).rev() {
            idx[d] += 1;
            oi += p.strides[d];
            if idx[d] < shape[d] {
                break;
            }
            oi -= p.strides[d] * idx[d];
            idx[d] = 0;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&p.out_shape), out).unwrap()
}

/// Float sums over one run of adjacent axes (`outer x red x inner`), what MEAN / SUM over the
/// last axis (LayerNorm) or over H, W (global pooling) need, as loops over slices that vectorize;
/// `None` for other axis sets or non-contiguous inputs. Over the last axis the sum runs in 8
/// interleaved partial sums (not bit-equal to one running sum, more accurate); otherwise every
/// output adds its values in the same order as [`reduce_t`].
fn sum_run_f32(a: &ArrayD<f32>, p: &Plan) -> Option<ArrayD<f32>> {
    let x = a.as_slice()?;
    if x.is_empty() {
        return None;
    }
    // Axes of size 1 do not change the memory order: leave them out (MEAN over axes [0, 2] of
    // [1, tokens, C] is a last-axis reduction).
    let (shape, red): (Vec<usize>, Vec<bool>) = a
        .shape()
        .iter()
        .zip(&p.strides)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s == 0))
        .unzip();
    let first = red.iter().position(|&r| r)?;
    let last = red.iter().rposition(|&r| r)?;
    if !red[first..=last].iter().all(|&r| r) {
        return None;
    }
    let outer: usize = shape[..first].iter().product();
    let redn: usize = shape[first..=last].iter().product();
    let inner: usize = shape[last + 1..].iter().product();
    // Output rows in parallel pieces (`par`); each output adds its values in the same order
    // whatever the split.
    let out = if redn == 0 || inner == 0 {
        vec![0f32; outer * inner]
    } else if inner == 1 {
        par::build_costly(outer, 1, redn, |off, o| {
            for (o, row) in o.iter_mut().zip(x[off * redn..].chunks_exact(redn)) {
                let mut acc = [0f32; 8];
                let mut it = row.chunks_exact(8);
                for c in &mut it {
                    for (a, &v) in acc.iter_mut().zip(c) {
                        *a += v;
                    }
                }
                let tail: f32 = it.remainder().iter().sum();
                *o = ((acc[0] + acc[4]) + (acc[1] + acc[5]))
                    + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
                    + tail;
            }
        })
    } else {
        par::build_costly(outer * inner, inner, redn, |off, o| {
            let blocks = x[off * redn..].chunks_exact(redn * inner);
            for (o, block) in o.chunks_exact_mut(inner).zip(blocks) {
                for row in block.chunks_exact(inner) {
                    for (o, &v) in o.iter_mut().zip(row) {
                        *o += v;
                    }
                }
            }
        })
    };
    Some(ArrayD::from_shape_vec(IxDyn(&p.out_shape), out).unwrap())
}

pub fn reduce(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let name = ctx.name();
    let x = ctx.input(0)?;
    let axes = ctx.in_ints(1)?;
    let keep = ctx
        .fb
        .builtin_options_as_reducer_options()
        .map(|o| o.keep_dims())
        .unwrap_or(false);
    let p = plan(x.shape(), &axes, keep)?;
    macro_rules! minmax {
        ($a:expr, $t:ty, $var:ident) => {
            match name {
                "REDUCE_MAX" => Value::$var(reduce_t(
                    $a,
                    &p,
                    <$t>::MIN,
                    |a, b| if b > a { b } else { a },
                )),
                "REDUCE_MIN" => Value::$var(reduce_t(
                    $a,
                    &p,
                    <$t>::MAX,
                    |a, b| if b < a { b } else { a },
                )),
                _ => bail!("{name} on {} needs an integer kernel", x.dtype()),
            }
        };
    }
    Ok(vec![match x {
        Value::F32(a) => match name {
            "MEAN" | "SUM" => {
                let mut sum =
                    sum_run_f32(a, &p).unwrap_or_else(|| reduce_t(a, &p, 0.0, |s, v| s + v));
                if name == "MEAN" {
                    let c = p.count.max(1) as f32;
                    sum.mapv_inplace(|s| s / c);
                }
                Value::F32(sum)
            }
            "REDUCE_PROD" => Value::F32(reduce_t(a, &p, 1.0, |s, v| s * v)),
            "REDUCE_MAX" => Value::F32(reduce_t(a, &p, f32::NEG_INFINITY, |a, b| {
                if b > a {
                    b
                } else {
                    a
                }
            })),
            "REDUCE_MIN" => Value::F32(reduce_t(
                a,
                &p,
                f32::INFINITY,
                |a, b| if b < a { b } else { a },
            )),
            _ => bail!("{name} on float32"),
        },
        Value::I32(a) if ctx.in_quant(0).is_none() => match name {
            "SUM" => Value::I32(reduce_t(a, &p, 0, |s, v| s.wrapping_add(v))),
            "REDUCE_PROD" => Value::I32(reduce_t(a, &p, 1, |s, v| s.wrapping_mul(v))),
            "MEAN" => {
                let c = p.count.max(1) as i32;
                Value::I32(reduce_t(a, &p, 0, |s, v| s.wrapping_add(v)).mapv(|s| s / c))
            }
            _ => minmax!(a, i32, I32),
        },
        Value::I64(a) if ctx.in_quant(0).is_none() => match name {
            "SUM" => Value::I64(reduce_t(a, &p, 0, |s, v| s.wrapping_add(v))),
            "REDUCE_PROD" => Value::I64(reduce_t(a, &p, 1, |s, v| s.wrapping_mul(v))),
            _ => minmax!(a, i64, I64),
        },
        Value::Bool(a) => match name {
            "REDUCE_ANY" => Value::Bool(reduce_t(a, &p, false, |s, v| s || v)),
            "REDUCE_ALL" => Value::Bool(reduce_t(a, &p, true, |s, v| s && v)),
            _ => bail!("{name} on bool"),
        },
        Value::I8(a) => minmax!(a, i8, I8),
        Value::U8(a) => minmax!(a, u8, U8),
        Value::I16(a) => minmax!(a, i16, I16),
        Value::I32(a) => minmax!(a, i32, I32),
        Value::I64(a) => minmax!(a, i64, I64),
        other => bail!("{name} on {}", other.dtype()),
    }])
}

fn arg_t<T: Copy + PartialOrd>(a: &ArrayD<T>, axis: usize, max: bool) -> (Vec<usize>, Vec<i64>) {
    let shape = a.shape();
    let outer: usize = shape[..axis].iter().product();
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let data: Vec<T> = a.iter().copied().collect();
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0usize;
            let mut bv = data[o * n * inner + i];
            for k in 1..n {
                let v = data[(o * n + k) * inner + i];
                if (max && v > bv) || (!max && v < bv) {
                    bv = v;
                    best = k;
                }
            }
            out.push(best as i64);
        }
    }
    let mut os = shape.to_vec();
    os.remove(axis);
    (os, out)
}

pub fn arg_max_min(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let axis = *ctx
        .in_ints(1)?
        .first()
        .ok_or_else(|| EngineError::msg("empty axis"))?;
    let axis = norm_axis(axis, x.shape().len())?;
    let max = ctx.name() == "ARG_MAX";
    let (shape, idx) = match x {
        Value::F32(a) => arg_t(a, axis, max),
        Value::F16(a) => arg_t(a, axis, max),
        Value::I8(a) => arg_t(a, axis, max),
        Value::U8(a) => arg_t(a, axis, max),
        Value::I16(a) => arg_t(a, axis, max),
        Value::I32(a) => arg_t(a, axis, max),
        Value::I64(a) => arg_t(a, axis, max),
        Value::Bool(a) => arg_t(a, axis, max),
        other => bail!("{} on {}", ctx.name(), other.dtype()),
    };
    let s = IxDyn(&shape);
    Ok(vec![match ctx.out_dtype(0) {
        DType::I64 => Value::I64(ArrayD::from_shape_vec(s, idx).unwrap()),
        _ => {
            Value::I32(ArrayD::from_shape_vec(s, idx.iter().map(|&v| v as i32).collect()).unwrap())
        }
    }])
}
