//! SLICE, STRIDED_SLICE and GATHER on any element type.

#[allow(unused_imports)]
use super::*;

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
/// An index past its axis (e.g. any index into an empty axis) is an error, not a panic.
pub(super) fn gather_axes<T: Clone>(
    a: &ArrayD<T>,
    idx: &[Option<Vec<usize>>],
) -> Result<ArrayD<T>, EngineError> {
    let mut cur = a.clone();
    for (ax, ix) in idx.iter().enumerate() {
        if let Some(ix) = ix {
            let len = cur.len_of(Axis(ax));
            if let Some(&bad) = ix.iter().find(|&&i| i >= len) {
                bail!(
                    "index {bad} on axis {ax} of length {len} (shape {:?})",
                    a.shape()
                );
            }
            cur = cur.select(Axis(ax), ix);
        }
    }
    Ok(cur)
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
        map_value!(x, a => reshape_t(&gather_axes(a, &idx)?, &out_shape)?),
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

pub(super) struct GatherPlan {
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
        let src = crate::engine::kernels::int::flat(a);
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
