//! Data-movement ops, generic over element type (they serve float and quantized tensors
//! alike): RESHAPE/SQUEEZE/EXPAND_DIMS, TRANSPOSE, CONCATENATION, PACK/UNPACK, SPLIT/SPLIT_V,
//! SLICE, STRIDED_SLICE, GATHER, PAD/PADV2/MIRROR_PAD, TILE, BROADCAST_TO, DEPTH_TO_SPACE,
//! SPACE_TO_DEPTH, REVERSE_V2, RESIZE_NEAREST_NEIGHBOR; plus float RESIZE_BILINEAR.

use super::pool::quantized_act_range;
use super::{apply_act, bail, norm_axis, OpCtx};
use crate::engine::{EngineError, Value};
use crate::map_value;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use tract_tflite::tflite::MirrorPadMode;

pub fn reshape_t<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, EngineError> {
    let n: usize = shape.iter().product();
    if n != a.len() {
        bail!(
            "cannot reshape {:?} ({} values) to {shape:?}",
            a.shape(),
            a.len()
        );
    }
    Ok(match a.as_slice() {
        Some(s) => ArrayD::from_shape_vec(IxDyn(shape), s.to_vec()).unwrap(),
        None => ArrayD::from_shape_vec(IxDyn(shape), a.iter().cloned().collect()).unwrap(),
    })
}

fn permute_t<T: Clone>(a: ArrayViewD<'_, T>, perm: &[usize]) -> ArrayD<T> {
    if let Some(x) = a.as_slice() {
        return permute_contiguous(x, a.shape(), perm);
    }
    a.permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned()
}

/// TRANSPOSE of a row-major buffer: an odometer over the output's leading axes and, innermost,
/// one strided gather along its last axis (NCHW <-> NHWC and the like without ndarray's
/// per-element dynamic indexing).
fn permute_contiguous<T: Clone>(x: &[T], shape: &[usize], perm: &[usize]) -> ArrayD<T> {
    let r = shape.len();
    let mut in_stride = vec![1usize; r];
    for d in (0..r.saturating_sub(1)).rev() {
        in_stride[d] = in_stride[d + 1] * shape[d + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let stride: Vec<usize> = perm.iter().map(|&p| in_stride[p]).collect();
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    if n > 0 && r > 0 {
        let (len, step) = (out_shape[r - 1], stride[r - 1]);
        let mut idx = vec![0usize; r - 1];
        let mut base = 0usize;
        loop {
            out.extend((0..len).map(|i| x[base + i * step].clone()));
            // Next index over the leading output axes, tracking the input offset.
            let mut d = r - 1;
            loop {
                if d == 0 {
                    return ArrayD::from_shape_vec(IxDyn(&out_shape), out).unwrap();
                }
                d -= 1;
                idx[d] += 1;
                base += stride[d];
                if idx[d] < out_shape[d] {
                    break;
                }
                base -= stride[d] * idx[d];
                idx[d] = 0;
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), x.to_vec()).unwrap()
}

/// Resolves one -1 in a requested shape.
fn infer_shape(req: &[i64], total: usize) -> Result<Vec<usize>, EngineError> {
    let known = req
        .iter()
        .filter(|&&d| d >= 0)
        .try_fold(1i64, |a, &d| a.checked_mul(d));
    let Some(known) = known else {
        bail!("shape {req:?} has more elements than can be counted");
    };
    let unknown = req.iter().filter(|&&d| d < 0).count();
    if unknown > 1 {
        bail!("shape {req:?} has more than one -1");
    }
    Ok(req
        .iter()
        .map(|&d| {
            if d < 0 {
                if known == 0 {
                    0
                } else {
                    total / known as usize
                }
            } else {
                d as usize
            }
        })
        .collect())
}

pub fn reshape_like(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let shape = reshape_target(ctx)?;
    Ok(vec![map_value!(x, a => reshape_t(a, &shape)?)])
}

/// RESHAPE, SQUEEZE or EXPAND_DIMS of an input the engine hands over (its last reader is this
/// op) to `shape` (from [`reshape_target`]): the buffer is kept and only the shape changes,
/// instead of a copy.
pub fn reshape_into(x: Value, shape: &[usize]) -> Result<Value, EngineError> {
    Ok(map_value!(x, a => {
        if a.is_standard_layout() && shape.iter().product::<usize>() == a.len() {
            a.into_shape_with_order(IxDyn(shape))
                .map_err(|e| EngineError::msg(format!("reshape: {e}")))?
        } else {
            reshape_t(&a, shape)?
        }
    }))
}

/// The output shape of RESHAPE, SQUEEZE or EXPAND_DIMS.
pub fn reshape_target(ctx: &OpCtx) -> Result<Vec<usize>, EngineError> {
    let x = ctx.input(0)?;
    let in_shape = x.shape().to_vec();
    let shape: Vec<usize> = match ctx.name() {
        "RESHAPE" => {
            let req: Vec<i64> = match ctx.opt_input(1) {
                Some(s)
                    if !(s.shape().len() == 1
                        && s.shape()[0] == 0
                        && !ctx.output_meta[0].shape.is_empty()) =>
                {
                    s.to_i64_vec()?
                }
                _ => match ctx
                    .fb
                    .builtin_options_as_reshape_options()
                    .and_then(|o| o.new_shape())
                {
                    Some(ns) => ns.iter().map(|d| d as i64).collect(),
                    None => ctx.output_meta[0].shape.iter().map(|&d| d as i64).collect(),
                },
            };
            infer_shape(&req, x.len())?
        }
        "SQUEEZE" => {
            let dims: Vec<i32> = ctx
                .fb
                .builtin_options_as_squeeze_options()
                .and_then(|o| o.squeeze_dims())
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let r = in_shape.len();
            let drop: Vec<usize> = if dims.is_empty() {
                (0..r).filter(|&i| in_shape[i] == 1).collect()
            } else {
                dims.iter()
                    .map(|&d| norm_axis(d as i64, r))
                    .collect::<Result<_, _>>()?
            };
            in_shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
        "EXPAND_DIMS" => {
            let a = *ctx
                .in_ints(1)?
                .first()
                .ok_or_else(|| EngineError::msg("empty axis"))?;
            let r = in_shape.len() as i64;
            let a = if a < 0 { a + r + 1 } else { a };
            if a < 0 || a > r {
                bail!("axis out of range");
            }
            let mut s = in_shape.clone();
            s.insert(a as usize, 1);
            s
        }
        other => bail!("{other} is not a reshape"),
    };
    Ok(shape)
}

/// The axes listed by input 1, each normalized for rank `r` (negative ones count from the end).
fn axes_input(ctx: &OpCtx, r: usize) -> Result<Vec<usize>, EngineError> {
    ctx.in_ints(1)?.iter().map(|&a| norm_axis(a, r)).collect()
}

pub fn transpose(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let r = x.shape().len();
    let perm = axes_input(ctx, r)?;
    // Each axis exactly once: a repeated axis would read past the input.
    let mut seen = vec![false; r];
    if perm.len() != r || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
        bail!("{perm:?} is not a permutation of the {r} axes");
    }
    Ok(vec![map_value!(x, a => permute_t(a.view(), &perm))])
}

macro_rules! collect_same {
    ($vals:expr, $first:expr, $var:ident) => {{
        let mut v = Vec::new();
        for x in $vals.iter() {
            match x {
                Value::$var(a) => v.push(a),
                other => bail!("mixed input types {} and {}", $first.dtype(), other.dtype()),
            }
        }
        v
    }};
}

/// Applies a generic function to a list of same-typed values.
macro_rules! multi {
    ($vals:expr, |$v:ident| $body:expr) => {{
        let vals: &[&Value] = $vals;
        let first = vals[0];
        multi!(@each vals, first, |$v| $body; F32 F16 I8 U8 I16 I32 I64 Bool)
    }};
    (@each $vals:ident, $first:ident, |$v:ident| $body:expr; $($var:ident)*) => {
        match $first {
            $(Value::$var(_) => {
                let $v = collect_same!($vals, $first, $var);
                Value::$var($body)
            })*
            other => bail!("{} tensors are not supported here", other.dtype()),
        }
    };
}

/// All of an op's inputs (an op without any is refused).
fn all_inputs<'a>(ctx: &OpCtx<'a>) -> Result<Vec<&'a Value>, EngineError> {
    if ctx.inputs.is_empty() {
        bail!("no inputs");
    }
    (0..ctx.inputs.len()).map(|i| ctx.input(i)).collect()
}

pub fn reverse(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let axes = axes_input(ctx, x.shape().len())?;
    let idx: Vec<Option<Vec<usize>>> = x
        .shape()
        .iter()
        .enumerate()
        .map(|(ax, &d)| axes.contains(&ax).then(|| (0..d).rev().collect()))
        .collect();
    Ok(vec![map_value!(x, a => gather_axes(a, &idx)?)])
}

pub fn zeros_like(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    Ok(vec![Value::zeros(x.dtype(), x.shape())?])
}

mod concat_split;
pub use concat_split::*;
mod slice_gather;
pub use slice_gather::*;
mod pad_tile;
pub use pad_tile::*;
mod space;
pub use space::*;
mod resize;
pub use resize::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_half_pixel() {
        // 2 -> 4, half pixel: (o+0.5)*0.5 floored: 0.25,0.75,1.25,1.75 -> 0,0,1,1
        let v: Vec<usize> = (0..4)
            .map(|o| nearest_index(o, 2, 4, false, true))
            .collect();
        assert_eq!(v, vec![0, 0, 1, 1]);
        // 3 -> 2 align corners: scale 2, round(o*2) -> 0, 2
        let v: Vec<usize> = (0..2)
            .map(|o| nearest_index(o, 3, 2, true, false))
            .collect();
        assert_eq!(v, vec![0, 2]);
        // 4 -> 3 plain: scale 4/3: floor(0, 1.33, 2.67) -> 0,1,2
        let v: Vec<usize> = (0..3)
            .map(|o| nearest_index(o, 4, 3, false, false))
            .collect();
        assert_eq!(v, vec![0, 1, 2]);
    }

    #[test]
    fn bilinear_half_pixel() {
        // 1x2x1x1 [0, 1] -> height 4 (width 1), half pixel: scaled y = (y+0.5)*0.5-0.5
        // = -0.25, 0.25, 0.75, 1.25 -> lower clamps to 0; values: y0=0 (dy=-0.25) gives
        // 0*(1.25)+1*(-0.25)... y1 = ceil(-0.25)=0 so both taps are row 0 -> 0.
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1, 1]), vec![0.0, 1.0]).unwrap();
        let out = resize_bilinear_f32(&x, 4, 1, false, true);
        let v: Vec<f32> = out.iter().copied().collect();
        assert_eq!(v, vec![0.0, 0.25, 0.75, 1.0]);
        // align_corners 2 -> 3: 0, 0.5, 1
        let out = resize_bilinear_f32(&x, 3, 1, true, false);
        assert_eq!(out.iter().copied().collect::<Vec<_>>(), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn strided_slice_interp() {
        assert_eq!(infer_shape(&[2, -1], 6).unwrap(), vec![2, 3]);
    }
}
