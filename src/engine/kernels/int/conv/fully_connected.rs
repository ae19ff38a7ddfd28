//! Quantized FULLY_CONNECTED.

#[allow(unused_imports)]
use super::*;

// --------------------------------------------------------------------------------------------
// FULLY_CONNECTED
// --------------------------------------------------------------------------------------------

/// The output shape of FULLY_CONNECTED for an input shape and `units`.
pub(crate) fn fc_out_shape(
    ctx: &OpCtx,
    in_shape: &[usize],
    k: usize,
    units: usize,
) -> Result<Vec<usize>, EngineError> {
    let total: usize = in_shape.iter().product();
    if k == 0 || total % k != 0 {
        bail!("input of shape {in_shape:?} does not divide into rows of {k}");
    }
    if units == 0 || total == 0 {
        bail!("empty FULLY_CONNECTED: input {in_shape:?}, {units} units");
    }
    let keep = ctx
        .fb
        .builtin_options_as_fully_connected_options()
        .map(|o| o.keep_num_dims())
        .unwrap_or(false);
    Ok(if keep && !in_shape.is_empty() {
        let mut s = in_shape.to_vec();
        *s.last_mut().unwrap() = units;
        s
    } else {
        vec![total / k, units]
    })
}

/// `(units, k, output shape, rows)` of a FULLY_CONNECTED with input shape `in_shape` and
/// weight shape `ws` (`[units, k]`).
fn fc_dims(
    ctx: &OpCtx,
    in_shape: &[usize],
    ws: &[usize],
) -> Result<(usize, usize, Vec<usize>, usize), EngineError> {
    if ws.len() != 2 {
        bail!("expected a 2-D weight matrix, got {ws:?}");
    }
    let (units, k) = (ws[0], ws[1]);
    let shape = fc_out_shape(ctx, in_shape, k, units)?;
    Ok((units, k, shape, in_shape.iter().product::<usize>() / k))
}

pub fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(0)? {
        Value::I8(x) => fc_q8::<i8>(ctx, x),
        Value::U8(x) => fc_q8::<u8>(ctx, x),
        Value::I16(x) => fc_i16(ctx, x),
        other => bail!(
            "FULLY_CONNECTED on {} input is not supported",
            other.dtype()
        ),
    }
}

pub(super) fn fc_q8<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    if ctx.out_dtype(0) != ctx.in_dtype(0).unwrap() {
        bail!(
            "{} input with {} output is not supported",
            ctx.in_dtype(0).unwrap(),
            ctx.out_dtype(0)
        );
    }
    let (units, k, shape, rows) = fc_dims(ctx, x.shape(), ctx.input(1)?.shape())?;
    let (_, in_z) = qparams(ctx.in_meta(0));
    let (_, out_z) = qparams(Some(ctx.output_meta[0]));
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let vnni = use_vnni(ctx);
    let p = ctx.prepared(weight_inputs(ctx), || q8_prep(ctx, units, k, 1, vnni))?;
    let q = p.stage.requant(0..units, out_z, lo, hi);
    #[cfg(target_arch = "x86_64")]
    if let (Some((pw, bias)), Some(Value::I8(xi))) = (p.vnni.first(), ctx.opt_input(0)) {
        let a = rows_u8(&flat(xi), rows, k, pw.kp);
        let out = gemm::vnni_gemm::<i8>(&a, rows, pw, &Requant { bias, ..q });
        return Ok(vec![Value::I8(array(&shape, out)?)]);
    }
    let xs = to_i16_off(&flat(x), -in_z);
    let out = gemm::<T>(&xs, rows, k, &p.w16, units, &q);
    Ok(vec![T::wrap(array(&shape, out)?)])
}

pub(super) fn fc_i16(ctx: &OpCtx, x: &ArrayD<i16>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, DType::I16)?;
    let (w, ws) = weights_i16(ctx, 1)?;
    let (units, k, shape, rows) = fc_dims(ctx, x.shape(), &ws)?;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.in_meta(1)), out_s, units);
    let bias = bias_i64(ctx, 2, units)?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xs: Vec<i64> = flat(x).iter().map(|&v| v as i64 - in_z as i64).collect();
    let mut out = vec![0i16; rows * units];
    out.par_chunks_mut(units).enumerate().for_each(|(p, orow)| {
        let xr = &xs[p * k..(p + 1) * k];
        for (o, dst) in orow.iter_mut().enumerate() {
            let wr = &w[o * k..(o + 1) * k];
            let acc: i64 = xr.iter().zip(wr).map(|(&a, &b)| a * b as i64).sum::<i64>() + bias[o];
            // The int16 FC reference rescales the (wrapped) 32-bit accumulator with the 32-bit,
            // double-rounding multiplier (unlike int16 CONV_2D, which uses the 64-bit one).
            *dst = clamp_to::<i16>(mbqm(acc as i32, mult[o], shift[o]) + out_z, lo, hi);
        }
    });
    Ok(vec![Value::I16(array(&shape, out)?)])
}
