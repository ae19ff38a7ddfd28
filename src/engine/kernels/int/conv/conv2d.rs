//! Quantized CONV_2D (8-bit and int16x8, grouped).

#[allow(unused_imports)]
use super::*;

pub fn conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match ctx.input(0)? {
        Value::I8(x) => conv2d_q8::<i8>(ctx, x),
        Value::U8(x) => conv2d_q8::<u8>(ctx, x),
        Value::I16(x) => conv2d_i16(ctx, x),
        other => bail!("CONV_2D on {} input is not supported", other.dtype()),
    }
}

pub(super) fn check_out_dtype(ctx: &OpCtx, want: DType) -> Result<(), EngineError> {
    if ctx.out_dtype(0) != want {
        bail!(
            "{} input with {} output is not supported",
            want,
            ctx.out_dtype(0)
        );
    }
    Ok(())
}

/// The number of groups of a CONV_2D: input depth / filter depth, which must divide both the
/// input depth and the filter count.
pub(super) fn conv_groups(ic: usize, fic: usize, oc: usize) -> Result<usize, EngineError> {
    if fic == 0 || !ic.is_multiple_of(fic) || !oc.is_multiple_of((ic / fic).max(1)) {
        bail!("input depth {ic}, filter depth {fic} and {oc} filters do not form groups");
    }
    Ok((ic / fic).max(1))
}

pub(super) fn conv2d_q8<T: QInt>(ctx: &OpCtx, x: &ArrayD<T>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, ctx.in_dtype(0).unwrap())?;
    let ws = ctx.input(1)?.shape().to_vec();
    if ws.len() != 4 {
        bail!("expected 4-D filter, got {ws:?}");
    }
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let groups = conv_groups(g.ic, fic, oc)?;
    let (ocg, k, rows) = (oc / groups, kh * kw * fic, g.pixels());
    let vnni = use_vnni(ctx);
    let p = ctx.prepared(weight_inputs(ctx), || q8_prep(ctx, oc, k, groups, vnni))?;
    let (_, in_z) = qparams(ctx.in_meta(0));
    let (_, out_z) = qparams(Some(ctx.output_meta[0]));
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let shape = [g.n, g.oh, g.ow, oc];
    #[cfg(target_arch = "x86_64")]
    if let (false, Some(Value::I8(xi))) = (p.vnni.is_empty(), ctx.opt_input(0)) {
        let xf = flat(xi);
        let kp = p.vnni[0].0.kp;
        let direct = groups == 1 && g.is_pointwise();
        let xu: Vec<u8> = if direct {
            Vec::new()
        } else {
            xf.iter().map(|&v| (v as u8) ^ 0x80).collect()
        };
        let mut out = vec![0i8; rows * oc];
        for (gi, (pw, bias)) in p.vnni.iter().enumerate() {
            let c0 = gi * ocg;
            let a = if direct {
                rows_u8(&xf, rows, k, kp)
            } else {
                im2col_u8(&xu, &g, gi * fic, fic, kp, (in_z + 128) as u8)
            };
            let q = Requant {
                bias,
                mult: &p.stage.mult[c0..],
                shift: &p.stage.shift[c0..],
                out_off: out_z,
                lo,
                hi,
                rq: p.rq.get(gi).and_then(|r| r.as_deref()),
            };
            gemm::vnni_gemm_into(&a, rows, pw, &q, &mut out[c0..], oc);
        }
        return Ok(vec![Value::I8(array(&shape, out)?)]);
    }
    let xs = to_i16_off(&flat(x), -in_z);
    let mut out = vec![T::default(); rows * oc];
    for gi in 0..groups {
        let c0 = gi * ocg;
        let a_owned;
        let a: &[i16] = if groups == 1 && g.is_pointwise() {
            &xs
        } else {
            a_owned = im2col_group(&xs, &g, gi * fic, fic);
            &a_owned
        };
        let q = p.stage.requant(c0..c0 + ocg, out_z, lo, hi);
        let part = gemm::<T>(a, rows, k, &p.w16[c0 * k..(c0 + ocg) * k], ocg, &q);
        if groups == 1 {
            out = part;
        } else {
            for (dst, src) in out.chunks_exact_mut(oc).zip(part.chunks_exact(ocg)) {
                dst[c0..c0 + ocg].copy_from_slice(src);
            }
        }
    }
    Ok(vec![T::wrap(array(&shape, out)?)])
}

/// int16 activations x int8 weights: 64-bit accumulators and the 64-bit multiplier.
pub(super) fn conv2d_i16(ctx: &OpCtx, x: &ArrayD<i16>) -> Result<Vec<Value>, EngineError> {
    check_out_dtype(ctx, DType::I16)?;
    let (w, ws) = weights_i16(ctx, 1)?;
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let g = conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let groups = conv_groups(g.ic, fic, oc)?;
    let ocg = oc / groups;
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.in_meta(1)), out_s, oc);
    let bias = bias_i64(ctx, 2, oc)?;
    let (lo, hi) = out_range(ctx, fused(ctx), 0);
    let xs: Vec<i32> = flat(x).iter().map(|&v| v as i32 - in_z).collect();
    let k = kh * kw * fic;
    let rows = g.n * g.oh * g.ow;
    let mut out = vec![0i16; rows * oc];
    out.par_chunks_mut(oc).enumerate().for_each(|(r, orow)| {
        let b = r / (g.oh * g.ow);
        let oy = (r / g.ow) % g.oh;
        let ox = r % g.ow;
        for (o, dst) in orow.iter_mut().enumerate() {
            let mut acc: i64 = 0;
            g.for_taps(oy, ox, |ky, kx, iy, ix| {
                let src = ((b * g.ih + iy) * g.iw + ix) * g.ic + o / ocg * fic;
                let wo = o * k + (ky * kw + kx) * fic;
                for c in 0..fic {
                    acc += xs[src + c] as i64 * w[wo + c] as i64;
                }
            });
            acc += bias[o];
            let v = mbqm_i64(acc, mult[o], shift[o]) + out_z;
            *dst = clamp_to::<i16>(v, lo, hi);
        }
    });
    Ok(vec![Value::I16(array(&[g.n, g.oh, g.ow, oc], out)?)])
}
