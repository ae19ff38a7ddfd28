//! CONCATENATION, PACK, UNPACK, SPLIT, SPLIT_V on any element type.

#[allow(unused_imports)]
use super::*;

pub(super) fn concat_t<T: Clone>(
    arrs: &[&ArrayD<T>],
    axis: usize,
) -> Result<ArrayD<T>, EngineError> {
    // ndarray asserts (panics) on inputs of other ranks: say so instead (a fuzzer finding).
    let rank = arrs.first().map_or(0, |a| a.ndim());
    if let Some(a) = arrs.iter().find(|a| a.ndim() != rank || axis >= a.ndim()) {
        return Err(EngineError::msg(format!(
            "concatenation: inputs of shapes {:?} and {:?} along axis {axis}",
            arrs[0].shape(),
            a.shape()
        )));
    }
    let views: Vec<_> = arrs.iter().map(|a| a.view()).collect();
    ndarray::concatenate(Axis(axis), &views)
        .map_err(|e| EngineError::msg(format!("concatenation: {e}")))
}

pub fn concatenation(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let vals = all_inputs(ctx)?;
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

pub(super) fn split_sizes(sizes: &[i64], total: usize) -> Result<Vec<usize>, EngineError> {
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
