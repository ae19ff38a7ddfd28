//! Quantized TRANSPOSE_CONV (inputs: output_shape, weights [OC, KH, KW, IC], input,
//! optional bias).

#[allow(unused_imports)]
use super::*;
use crate::engine::kernels::int::on_qint;

// --------------------------------------------------------------------------------------------
// TRANSPOSE_CONV (inputs: output_shape, weights [OC, KH, KW, IC], input, optional bias)
// --------------------------------------------------------------------------------------------

pub fn transpose_conv(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    on_qint!(ctx.input(2)?, x => transpose_conv_q(ctx, x),
        "TRANSPOSE_CONV on {} input is not supported")
}

pub(super) fn transpose_conv_q<T: QInt>(
    ctx: &OpCtx,
    x: &ArrayD<T>,
) -> Result<Vec<Value>, EngineError> {
    let wide = std::mem::size_of::<T>() == 2;
    let os: Vec<usize> = ctx.in_ints(0)?.iter().map(|&d| d.max(0) as usize).collect();
    let (w, ws) = weights_i16(ctx, 1)?;
    if ws.len() != 4 || os.len() != 4 || x.ndim() != 4 {
        bail!("expected 4-D output shape, filter and input");
    }
    let (oc, kh, kw, fic) = (ws[0], ws[1], ws[2], ws[3]);
    let xsh = x.shape();
    let (n, ih, iw, ic) = (xsh[0], xsh[1], xsh[2], xsh[3]);
    if fic != ic || os[3] != oc {
        bail!("filter {ws:?} does not match input {xsh:?} / output shape {os:?}");
    }
    let (oh, ow) = (os[1], os[2]);
    crate::engine::limits::check_alloc(&[n, oh, ow, oc], 4, "TRANSPOSE_CONV output")?;
    let o = ctx.fb.builtin_options_as_transpose_conv_options();
    let (pad, sh, sw) = o
        .map(|o| {
            (
                o.padding(),
                o.stride_h().max(1) as usize,
                o.stride_w().max(1) as usize,
            )
        })
        .unwrap_or((Padding::SAME, 1, 1));
    let same = pad == Padding::SAME;
    // TFLite computes the padding as for a forward conv from the output to the input.
    let pad_of = |out: usize, inp: usize, k: usize, s: usize| -> i64 {
        let (_, p) = out_and_pad(out, k, s, 1, same);
        let _ = inp;
        p as i64
    };
    let ph = pad_of(oh, ih, kh, sh);
    let pw = pad_of(ow, iw, kw, sw);
    let (in_s, in_z) = qparams(ctx.in_meta(2));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let (mult, shift) = channel_multipliers(in_s, &scales(ctx.in_meta(1)), out_s, oc);
    let bias = bias_i64(ctx, 3, oc)?;
    let act = ctx
        .fb
        .builtin_options_as_transpose_conv_options()
        .map(|o| arith::Activation::from_code(o.fused_activation_function().0))
        .unwrap_or(arith::Activation::None);
    let (lo, hi) = out_range(ctx, act, 0);
    let xs: Vec<i64> = flat(x)
        .iter()
        .map(|&v| v.to_i32() as i64 - in_z as i64)
        .collect();
    let mut acc = vec![0i64; n * oh * ow * oc];
    for b in 0..n {
        for iy in 0..ih {
            for ix in 0..iw {
                let src = ((b * ih + iy) * iw + ix) * ic;
                let oy0 = (iy * sh) as i64 - ph;
                let ox0 = (ix * sw) as i64 - pw;
                for ky in 0..kh {
                    let oy = oy0 + ky as i64;
                    if oy < 0 || oy >= oh as i64 {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = ox0 + kx as i64;
                        if ox < 0 || ox >= ow as i64 {
                            continue;
                        }
                        let dst = ((b * oh + oy as usize) * ow + ox as usize) * oc;
                        for o in 0..oc {
                            let wr = &w[((o * kh + ky) * kw + kx) * ic
                                ..((o * kh + ky) * kw + kx + 1) * ic];
                            let s: i64 = xs[src..src + ic]
                                .iter()
                                .zip(wr)
                                .map(|(&a, &b)| a * b as i64)
                                .sum();
                            acc[dst + o] += s;
                        }
                    }
                }
            }
        }
    }
    let out: Vec<T> = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let o = i % oc;
            let v = if wide {
                mbqm_i64(a + bias[o], mult[o], shift[o])
            } else {
                mbqm((a as i32).wrapping_add(bias[o] as i32), mult[o], shift[o])
            } + out_z;
            clamp_to::<T>(v, lo, hi)
        })
        .collect();
    Ok(vec![T::wrap(array(&[n, oh, ow, oc], out)?)])
}
