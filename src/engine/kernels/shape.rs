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
    a.permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned()
}

/// Resolves one -1 in a requested shape.
fn infer_shape(req: &[i64], total: usize) -> Result<Vec<usize>, EngineError> {
    let known: i64 = req.iter().filter(|&&d| d >= 0).product();
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
    Ok(vec![map_value!(x, a => reshape_t(a, &shape)?)])
}

pub fn transpose(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let r = x.shape().len();
    let perm: Vec<usize> = ctx
        .in_ints(1)?
        .iter()
        .map(|&p| norm_axis(p, r))
        .collect::<Result<_, _>>()?;
    if perm.len() != r {
        bail!("permutation {perm:?} for rank {r}");
    }
    Ok(vec![map_value!(x, a => permute_t(a.view(), &perm))])
}

fn concat_t<T: Clone>(arrs: &[&ArrayD<T>], axis: usize) -> Result<ArrayD<T>, EngineError> {
    let views: Vec<_> = arrs.iter().map(|a| a.view()).collect();
    ndarray::concatenate(Axis(axis), &views)
        .map_err(|e| EngineError::msg(format!("concatenation: {e}")))
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
        match first {
            Value::F32(_) => {
                let $v = collect_same!(vals, first, F32);
                Value::F32($body)
            }
            Value::F16(_) => {
                let $v = collect_same!(vals, first, F16);
                Value::F16($body)
            }
            Value::I8(_) => {
                let $v = collect_same!(vals, first, I8);
                Value::I8($body)
            }
            Value::U8(_) => {
                let $v = collect_same!(vals, first, U8);
                Value::U8($body)
            }
            Value::I16(_) => {
                let $v = collect_same!(vals, first, I16);
                Value::I16($body)
            }
            Value::I32(_) => {
                let $v = collect_same!(vals, first, I32);
                Value::I32($body)
            }
            Value::I64(_) => {
                let $v = collect_same!(vals, first, I64);
                Value::I64($body)
            }
            Value::Bool(_) => {
                let $v = collect_same!(vals, first, Bool);
                Value::Bool($body)
            }
            other => bail!("{} tensors are not supported here", other.dtype()),
        }
    }};
}

fn all_inputs<'a>(ctx: &OpCtx<'a>) -> Result<Vec<&'a Value>, EngineError> {
    (0..ctx.inputs.len()).map(|i| ctx.input(i)).collect()
}

pub fn concatenation(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let vals = all_inputs(ctx)?;
    if vals.is_empty() {
        bail!("no inputs");
    }
    let axis = ctx
        .fb
        .builtin_options_as_concatenation_options()
        .map(|o| o.axis())
        .unwrap_or(0);
    let axis = norm_axis(axis as i64, vals[0].shape().len())?;
    let mut out = multi!(&vals, |v| concat_t(&v, axis)?);
    match &mut out {
        Value::F32(a) => {
            if let Some(s) = a.as_slice_mut() {
                apply_act(s, ctx.activation())?;
            }
        }
        other if ctx.activation().is_some() => {
            let oq = ctx.out_quant(0);
            macro_rules! clamp {
                ($a:expr, $t:ty) => {{
                    let (lo, hi) = quantized_act_range(
                        ctx.activation(),
                        oq,
                        <$t>::MIN as i64,
                        <$t>::MAX as i64,
                    );
                    $a.mapv_inplace(|v| (v as i64).clamp(lo, hi) as $t);
                }};
            }
            match other {
                Value::I8(a) => clamp!(a, i8),
                Value::U8(a) => clamp!(a, u8),
                Value::I16(a) => clamp!(a, i16),
                Value::I32(a) => clamp!(a, i32),
                _ => {}
            }
        }
        _ => {}
    }
    Ok(vec![out])
}

pub fn pack(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let vals = all_inputs(ctx)?;
    if vals.is_empty() {
        bail!("no inputs");
    }
    let axis = ctx
        .fb
        .builtin_options_as_pack_options()
        .map(|o| o.axis())
        .unwrap_or(0) as i64;
    let r = vals[0].shape().len() as i64 + 1;
    let axis = if axis < 0 { axis + r } else { axis };
    if axis < 0 || axis >= r {
        bail!("axis out of range");
    }
    let axis = axis as usize;
    Ok(vec![multi!(&vals, |v| {
        let views: Vec<_> = v.iter().map(|a| a.view()).collect();
        ndarray::stack(Axis(axis), &views).map_err(|e| EngineError::msg(format!("pack: {e}")))?
    })])
}

pub fn unpack(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let axis = ctx
        .fb
        .builtin_options_as_unpack_options()
        .map(|o| o.axis())
        .unwrap_or(0);
    let axis = norm_axis(axis as i64, x.shape().len())?;
    let n = x.shape()[axis];
    (0..n)
        .map(|i| Ok(map_value!(x, a => a.index_axis(Axis(axis), i).to_owned())))
        .collect()
}

fn split_sizes(sizes: &[i64], total: usize) -> Result<Vec<usize>, EngineError> {
    let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
    Ok(sizes
        .iter()
        .map(|&s| {
            if s < 0 {
                (total as i64 - known).max(0) as usize
            } else {
                s as usize
            }
        })
        .collect())
}

pub fn split(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let (x, axis, sizes) = if ctx.name() == "SPLIT" {
        let x = ctx.input(1)?;
        let axis = norm_axis(*ctx.in_ints(0)?.first().unwrap_or(&0), x.shape().len())?;
        let n = ctx.output_meta.len().max(1);
        let d = x.shape()[axis];
        if d % n != 0 {
            bail!("dimension {d} does not split into {n}");
        }
        (x, axis, vec![d / n; n])
    } else {
        let x = ctx.input(0)?;
        let axis = norm_axis(*ctx.in_ints(2)?.first().unwrap_or(&0), x.shape().len())?;
        let s = split_sizes(&ctx.in_ints(1)?, x.shape()[axis])?;
        (x, axis, s)
    };
    let mut start = 0;
    let mut outs = Vec::new();
    for s in sizes {
        let sl = Slice::from(start..start + s);
        outs.push(map_value!(x, a => a.slice_axis(Axis(axis), sl).to_owned()));
        start += s;
    }
    Ok(outs)
}

pub fn slice(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let begin = ctx.in_ints(1)?;
    let size = ctx.in_ints(2)?;
    let shape = x.shape().to_vec();
    if begin.len() != shape.len() || size.len() != shape.len() {
        bail!("begin {begin:?} / size {size:?} for shape {shape:?}");
    }
    let ranges: Vec<(usize, usize)> = (0..shape.len())
        .map(|i| {
            let b = begin[i].clamp(0, shape[i] as i64) as usize;
            let e = if size[i] < 0 {
                shape[i]
            } else {
                (b + size[i] as usize).min(shape[i])
            };
            (b, e)
        })
        .collect();
    Ok(vec![
        map_value!(x, a => a.slice_each_axis(|ax| Slice::from(ranges[ax.axis.index()].0..ranges[ax.axis.index()].1)).to_owned()),
    ])
}

/// Successive `select` along axes: `idx[axis]` = Some(indices) to gather along that axis.
fn gather_axes<T: Clone>(a: &ArrayD<T>, idx: &[Option<Vec<usize>>]) -> ArrayD<T> {
    let mut cur = a.clone();
    for (ax, ix) in idx.iter().enumerate() {
        if let Some(ix) = ix {
            cur = cur.select(Axis(ax), ix);
        }
    }
    cur
}

pub fn strided_slice(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let shape = x.shape().to_vec();
    let rank = shape.len();
    let begin = ctx.in_ints(1)?;
    let end = ctx.in_ints(2)?;
    let strides = match ctx.opt_input(3) {
        Some(_) => ctx.in_ints(3)?,
        None => vec![1; begin.len()],
    };
    let o = ctx.fb.builtin_options_as_strided_slice_options();
    let bm = o.map(|o| o.begin_mask()).unwrap_or(0);
    let em = o.map(|o| o.end_mask()).unwrap_or(0);
    let elm = o.map(|o| o.ellipsis_mask()).unwrap_or(0);
    let nam = o.map(|o| o.new_axis_mask()).unwrap_or(0);
    let sam = o.map(|o| o.shrink_axis_mask()).unwrap_or(0);
    // `offset` (field 5, vtable slot 14) is newer than the bundled schema, so read it
    // bounds-checked, and only from a table of the right (verified) options type.
    let offset = o.is_some()
        && ctx
            .fb
            .builtin_options()
            .and_then(|t| crate::model::raw_field(&t, 14, 1))
            .is_some_and(|b| b[0] != 0);
    let n = begin.len();
    if end.len() != n || strides.len() != n {
        bail!("begin/end/strides lengths differ");
    }
    let bit = |m: i32, i: usize| (m >> i) & 1 == 1;
    // Dense per-axis (begin, end, stride, begin_masked, end_masked, shrink) and the output dims.
    enum Fin {
        Dense(usize),
        New,
    }
    let mut dense: Vec<(i64, i64, i64, bool, bool, bool)> = Vec::new();
    let mut fin = Vec::new();
    let num_real = (0..n).filter(|&i| !bit(nam, i) && !bit(elm, i)).count();
    let mut seen_ellipsis = false;
    for i in 0..n {
        if bit(elm, i) && !seen_ellipsis {
            seen_ellipsis = true;
            for _ in 0..rank.saturating_sub(num_real) {
                fin.push(Fin::Dense(dense.len()));
                dense.push((0, 0, 1, true, true, false));
            }
        } else if bit(nam, i) {
            fin.push(Fin::New);
        } else {
            if !bit(sam, i) {
                fin.push(Fin::Dense(dense.len()));
            }
            dense.push((
                begin[i],
                end[i],
                strides[i],
                bit(bm, i),
                bit(em, i),
                bit(sam, i),
            ));
        }
    }
    while dense.len() < rank {
        fin.push(Fin::Dense(dense.len()));
        dense.push((0, 0, 1, true, true, false));
    }
    if dense.len() > rank {
        bail!(
            "slice spec has {} dimensions, the input {rank}",
            dense.len()
        );
    }
    let mut idx = Vec::with_capacity(rank);
    for (ax, &(b, e, s, bmk, emk, shrink)) in dense.iter().enumerate() {
        let d = shape[ax] as i64;
        if s == 0 {
            bail!("stride 0");
        }
        let clamp = |v: i64| {
            if s > 0 {
                v.clamp(0, d)
            } else {
                v.clamp(-1, d - 1)
            }
        };
        let start = if bmk && !shrink {
            if s > 0 {
                0
            } else {
                d - 1
            }
        } else {
            clamp(if b < 0 { b + d } else { b })
        };
        let stop = if shrink {
            start + 1
        } else if emk {
            if s > 0 {
                d
            } else {
                -1
            }
        } else if offset {
            clamp(start + e)
        } else {
            clamp(if e < 0 { e + d } else { e })
        };
        let step = if shrink { 1 } else { s };
        let mut v = Vec::new();
        let mut i = start;
        while (step > 0 && i < stop) || (step < 0 && i > stop) {
            if i >= 0 && i < d {
                v.push(i as usize);
            }
            i += step;
        }
        idx.push(Some(v));
    }
    let mut out_shape = Vec::new();
    for f in &fin {
        match f {
            Fin::Dense(k) => out_shape.push(idx[*k].as_ref().unwrap().len()),
            Fin::New => out_shape.push(1),
        }
    }
    Ok(vec![
        map_value!(x, a => reshape_t(&gather_axes(a, &idx), &out_shape)?),
    ])
}

/// GATHER (`reference_ops::Gather`): with `batch_dims` b, the first b dimensions of input and
/// indices are shared batches; output = input[:axis] + indices[b:] + input[axis + 1:].
pub fn gather(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let ind = ctx.input(1)?;
    let o = ctx.fb.builtin_options_as_gather_options();
    let (xs, is) = (x.shape(), ind.shape());
    let axis = norm_axis(o.map(|o| o.axis()).unwrap_or(0) as i64, xs.len())?;
    let mut b = o.map(|o| o.batch_dims()).unwrap_or(0) as i64;
    if b < 0 {
        b += is.len() as i64;
    }
    // gather.cc Prepare: 0 <= batch_dims <= axis, batch_dims <= rank(indices), matching batches.
    if b < 0 || b as usize > axis || b as usize > is.len() {
        bail!(
            "batch_dims {} is out of range for axis {axis} and indices of rank {}",
            o.map(|o| o.batch_dims()).unwrap_or(0),
            is.len()
        );
    }
    let b = b as usize;
    if xs[..b] != is[..b] {
        bail!(
            "batch dimensions differ: input {:?}, indices {:?}",
            &xs[..b],
            &is[..b]
        );
    }
    let d = xs[axis] as i64;
    let ix: Vec<usize> = ind
        .to_i64_vec()?
        .iter()
        .map(|&i| {
            if i < 0 || i >= d {
                Err(EngineError::msg(format!("index {i} out of range 0..{d}")))
            } else {
                Ok(i as usize)
            }
        })
        .collect::<Result<_, _>>()?;
    let mut shape = xs[..axis].to_vec();
    shape.extend_from_slice(&is[b..]);
    shape.extend_from_slice(&xs[axis + 1..]);
    let plan = GatherPlan {
        batches: xs[..b].iter().product(),
        outer: xs[b..axis].iter().product(),
        axis_size: xs[axis],
        inner: xs[axis + 1..].iter().product(),
        coords: is[b..].iter().product(),
    };
    Ok(vec![map_value!(x, a => plan.run(a, &ix, &shape)?)])
}

struct GatherPlan {
    batches: usize,
    outer: usize,
    axis_size: usize,
    inner: usize,
    coords: usize,
}

impl GatherPlan {
    fn run<T: Clone>(
        &self,
        a: &ArrayD<T>,
        ix: &[usize],
        shape: &[usize],
    ) -> Result<ArrayD<T>, EngineError> {
        let src = super::int::flat(a);
        let n = self.batches * self.outer * self.coords * self.inner;
        let mut out = Vec::with_capacity(n);
        for bt in 0..self.batches {
            for o in 0..self.outer {
                let base = (bt * self.outer + o) * self.axis_size;
                for &i in &ix[bt * self.coords..(bt + 1) * self.coords] {
                    let at = (base + i) * self.inner;
                    out.extend_from_slice(&src[at..at + self.inner]);
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| EngineError::msg(e.to_string()))
    }
}

fn pad_t<T: Clone>(a: &ArrayD<T>, pads: &[(usize, usize)], v: T) -> ArrayD<T> {
    let shape: Vec<usize> = a
        .shape()
        .iter()
        .zip(pads)
        .map(|(&d, &(b, e))| d + b + e)
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&shape), v);
    out.slice_each_axis_mut(|ax| {
        let i = ax.axis.index();
        Slice::from(pads[i].0..pads[i].0 + a.shape()[i])
    })
    .assign(a);
    out
}

/// The (before, after) paddings of each axis of an input of `shape`, refused when the padded
/// tensor would exceed the memory budget (the paddings are data, any size).
fn paddings(ctx: &OpCtx, shape: &[usize]) -> Result<Vec<(usize, usize)>, EngineError> {
    let rank = shape.len();
    let p = ctx.in_ints(1)?;
    if p.len() != rank * 2 {
        bail!("paddings have {} values for rank {rank}", p.len());
    }
    if p.iter().any(|&v| v < 0) {
        bail!("negative paddings {p:?}");
    }
    let pads: Vec<(usize, usize)> = (0..rank)
        .map(|i| (p[2 * i] as usize, p[2 * i + 1] as usize))
        .collect();
    let padded: Vec<usize> = shape
        .iter()
        .zip(&pads)
        .map(|(&d, &(a, b))| d.saturating_add(a).saturating_add(b))
        .collect();
    crate::engine::limits::check_alloc(&padded, 8, "padded output")?;
    Ok(pads)
}

pub fn pad(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let pads = paddings(ctx, x.shape())?;
    let cv = ctx.opt_input(2).filter(|_| ctx.name() == "PADV2");
    let zp = ctx.out_quant(0).map(|q| q.channel(0).1).unwrap_or(0);
    macro_rules! pv {
        ($a:expr, $var:ident, $t:ty) => {{
            let v: $t = match cv {
                Some(Value::$var(c)) => *c
                    .iter()
                    .next()
                    .ok_or_else(|| EngineError::msg("empty pad value"))?,
                Some(other) => bail!("pad value of type {}", other.dtype()),
                None => zp as $t,
            };
            Value::$var(pad_t($a, &pads, v))
        }};
    }
    Ok(vec![match x {
        Value::F32(a) => pv!(a, F32, f32),
        Value::I8(a) => pv!(a, I8, i8),
        Value::U8(a) => pv!(a, U8, u8),
        Value::I16(a) => pv!(a, I16, i16),
        Value::I32(a) => pv!(a, I32, i32),
        Value::I64(a) => pv!(a, I64, i64),
        Value::F16(a) => Value::F16(pad_t(a, &pads, half::f16::ZERO)),
        Value::Bool(a) => Value::Bool(pad_t(a, &pads, false)),
        other => bail!("PAD on {}", other.dtype()),
    }])
}

pub fn mirror_pad(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let shape = x.shape().to_vec();
    let pads = paddings(ctx, &shape)?;
    let sym = ctx
        .fb
        .builtin_options_as_mirror_pad_options()
        .map(|o| o.mode())
        == Some(MirrorPadMode::SYMMETRIC);
    let idx: Vec<Option<Vec<usize>>> = shape
        .iter()
        .zip(&pads)
        .map(|(&n, &(b, e))| {
            if b == 0 && e == 0 {
                return None;
            }
            let n = n as i64;
            Some(
                (0..(b as i64 + n + e as i64))
                    .map(|o| {
                        let i = o - b as i64;
                        let j = if i < 0 {
                            if sym {
                                -i - 1
                            } else {
                                -i
                            }
                        } else if i >= n {
                            if sym {
                                2 * n - 1 - i
                            } else {
                                2 * n - 2 - i
                            }
                        } else {
                            i
                        };
                        j.clamp(0, n - 1) as usize
                    })
                    .collect(),
            )
        })
        .collect();
    Ok(vec![map_value!(x, a => gather_axes(a, &idx))])
}

pub fn tile(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let m = ctx.in_ints(1)?;
    if m.len() != x.shape().len() {
        bail!("multiples {m:?} for rank {}", x.shape().len());
    }
    let out: Vec<usize> = x
        .shape()
        .iter()
        .zip(&m)
        .map(|(&d, &k)| d.saturating_mul(k.max(0) as usize))
        .collect();
    crate::engine::limits::check_alloc(&out, 8, "TILE output")?;
    let idx: Vec<Option<Vec<usize>>> = x
        .shape()
        .iter()
        .zip(&m)
        .map(|(&d, &k)| {
            (k != 1).then(|| (0..d * k.max(0) as usize).map(|i| i % d.max(1)).collect())
        })
        .collect();
    Ok(vec![map_value!(x, a => gather_axes(a, &idx))])
}

pub fn broadcast_to(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let shape: Vec<usize> = ctx.in_ints(1)?.iter().map(|&d| d.max(0) as usize).collect();
    crate::engine::limits::check_alloc(&shape, 8, "BROADCAST_TO output")?;
    Ok(vec![map_value!(x, a => a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| EngineError::msg(format!("cannot broadcast {:?} to {shape:?}", a.shape())))?
        .to_owned())])
}

fn block_size(ctx: &OpCtx) -> usize {
    match ctx.name() {
        "DEPTH_TO_SPACE" => ctx
            .fb
            .builtin_options_as_depth_to_space_options()
            .map(|o| o.block_size()),
        _ => ctx
            .fb
            .builtin_options_as_space_to_depth_options()
            .map(|o| o.block_size()),
    }
    .unwrap_or(1)
    .max(1) as usize
}

pub fn depth_to_space(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let bs = block_size(ctx);
    let s = x.shape().to_vec();
    if s.len() != 4 || s[3] % (bs * bs) != 0 {
        bail!("input {s:?} with block size {bs}");
    }
    let oc = s[3] / (bs * bs);
    let six = [s[0], s[1], s[2], bs, bs, oc];
    let out = [s[0], s[1] * bs, s[2] * bs, oc];
    Ok(vec![
        map_value!(x, a => reshape_t(&permute_t(reshape_t(a, &six)?.view(), &[0, 1, 3, 2, 4, 5]), &out)?),
    ])
}

pub fn space_to_depth(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let bs = block_size(ctx);
    let s = x.shape().to_vec();
    if s.len() != 4 || s[1] % bs != 0 || s[2] % bs != 0 {
        bail!("input {s:?} with block size {bs}");
    }
    let six = [s[0], s[1] / bs, bs, s[2] / bs, bs, s[3]];
    let out = [s[0], s[1] / bs, s[2] / bs, bs * bs * s[3]];
    Ok(vec![
        map_value!(x, a => reshape_t(&permute_t(reshape_t(a, &six)?.view(), &[0, 1, 3, 2, 4, 5]), &out)?),
    ])
}

pub fn reverse(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let r = x.shape().len();
    let axes: Vec<usize> = ctx
        .in_ints(1)?
        .iter()
        .map(|&a| norm_axis(a, r))
        .collect::<Result<_, _>>()?;
    let idx: Vec<Option<Vec<usize>>> = x
        .shape()
        .iter()
        .enumerate()
        .map(|(ax, &d)| axes.contains(&ax).then(|| (0..d).rev().collect()))
        .collect();
    Ok(vec![map_value!(x, a => gather_axes(a, &idx))])
}

pub fn zeros_like(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    Ok(vec![Value::zeros(x.dtype(), x.shape())?])
}

/// TFLite's `GetNearestNeighbor`.
pub fn nearest_index(o: usize, in_size: usize, out_size: usize, align: bool, half: bool) -> usize {
    let scale = if align && out_size > 1 {
        (in_size as f32 - 1.0) / (out_size as f32 - 1.0)
    } else {
        in_size as f32 / out_size as f32
    };
    let off = if half { 0.5 } else { 0.0 };
    let v = (o as f32 + off) * scale;
    let mut r = if align {
        v.round() as i64
    } else {
        v.floor() as i64
    };
    r = r.min(in_size as i64 - 1);
    if half {
        r = r.max(0);
    }
    r.max(0) as usize
}

fn resize_opts(ctx: &OpCtx) -> (bool, bool) {
    if ctx.name() == "RESIZE_BILINEAR" {
        ctx.fb
            .builtin_options_as_resize_bilinear_options()
            .map(|o| (o.align_corners(), o.half_pixel_centers()))
            .unwrap_or((false, false))
    } else {
        ctx.fb
            .builtin_options_as_resize_nearest_neighbor_options()
            .map(|o| (o.align_corners(), o.half_pixel_centers()))
            .unwrap_or((false, false))
    }
}

fn out_size(ctx: &OpCtx, s: &[usize]) -> Result<(usize, usize), EngineError> {
    if s.len() != 4 {
        bail!("input must be 4-D, got {s:?}");
    }
    let sz = ctx.in_ints(1)?;
    if sz.len() != 2 || sz[0] <= 0 || sz[1] <= 0 {
        bail!("size {sz:?}");
    }
    let (h, w) = (sz[0] as usize, sz[1] as usize);
    crate::engine::limits::check_alloc(&[s[0], h, w, s[3]], 4, "resized output")?;
    Ok((h, w))
}

pub fn resize_nearest(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let s = x.shape().to_vec();
    let (oh, ow) = out_size(ctx, &s)?;
    let (align, half) = resize_opts(ctx);
    let iy: Vec<usize> = (0..oh)
        .map(|o| nearest_index(o, s[1], oh, align, half))
        .collect();
    let ix: Vec<usize> = (0..ow)
        .map(|o| nearest_index(o, s[2], ow, align, half))
        .collect();
    let idx = vec![None, Some(iy), Some(ix), None];
    Ok(vec![map_value!(x, a => gather_axes(a, &idx))])
}

/// TFLite's `ComputeInterpolationValues` (float): (scaled, lower, upper).
pub fn interp(v: usize, scale: f32, half: bool, in_size: usize) -> (f32, usize, usize) {
    let s = if half {
        (v as f32 + 0.5) * scale - 0.5
    } else {
        v as f32 * scale
    };
    let lo = (s.floor() as i64).max(0) as usize;
    let hi = (s.ceil() as i64).min(in_size as i64 - 1).max(0) as usize;
    (s, lo, hi)
}

pub fn resize_bilinear_f32(
    x: &ArrayD<f32>,
    oh: usize,
    ow: usize,
    align: bool,
    half: bool,
) -> ArrayD<f32> {
    let s = x.shape();
    let (n, h, w, c) = (s[0], s[1], s[2], s[3]);
    let mut hs = h as f32 / oh as f32;
    let mut ws = w as f32 / ow as f32;
    if align && oh > 1 {
        hs = (h as f32 - 1.0) / (oh as f32 - 1.0);
    }
    if align && ow > 1 {
        ws = (w as f32 - 1.0) / (ow as f32 - 1.0);
    }
    let xs: Vec<f32> = x.iter().copied().collect();
    let at = |b: usize, y: usize, xx: usize, ch: usize| xs[((b * h + y) * w + xx) * c + ch];
    let mut out = Vec::with_capacity(n * oh * ow * c);
    for b in 0..n {
        for y in 0..oh {
            let (iy, y0, y1) = interp(y, hs, half, h);
            let dy = iy - y0 as f32;
            for xx in 0..ow {
                let (ix, x0, x1) = interp(xx, ws, half, w);
                let dx = ix - x0 as f32;
                for ch in 0..c {
                    out.push(
                        at(b, y0, x0, ch) * (1.0 - dy) * (1.0 - dx)
                            + at(b, y1, x0, ch) * dy * (1.0 - dx)
                            + at(b, y0, x1, ch) * (1.0 - dy) * dx
                            + at(b, y1, x1, ch) * dy * dx,
                    );
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, c]), out).unwrap()
}

pub fn resize_bilinear(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let (oh, ow) = out_size(ctx, x.shape())?;
    let (align, half) = resize_opts(ctx);
    Ok(vec![Value::F32(resize_bilinear_f32(
        x, oh, ow, align, half,
    ))])
}

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
