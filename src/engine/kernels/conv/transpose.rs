//! Float TRANSPOSE_CONV and MediaPipe's Convolution2DTransposeBias.

#[allow(unused_imports)]
use super::*;

/// Transposed convolution: `x` NHWC [n,h,w,ic], `wt` [oc,kh,kw,ic], output [n,oh,ow,oc].
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv_f32(
    x: &[f32],
    [n, h, w, ic]: [usize; 4],
    wt: &[f32],
    [oc, kh, kw]: [usize; 3],
    [oh, ow]: [usize; 2],
    [sh, sw]: [usize; 2],
    [ph, pw]: [usize; 2],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let m = n * h * w;
    let cols = oc * kh * kw;
    let mut col = vec![0f32; m * cols];
    if m > 0 && cols > 0 {
        let rows_per = 256;
        col.par_chunks_mut(rows_per * cols)
            .enumerate()
            .for_each(|(blk, c)| {
                let r0 = blk * rows_per;
                let mm = c.len() / cols;
                gemm(
                    mm,
                    ic,
                    cols,
                    &x[r0 * ic..(r0 + mm) * ic],
                    ic,
                    1,
                    wt,
                    1,
                    ic,
                    0.0,
                    c,
                    cols,
                );
            });
    }
    let mut out = vec![0f32; n * oh * ow * oc];
    for b in 0..n {
        let ob = &mut out[b * oh * ow * oc..(b + 1) * oh * ow * oc];
        if let Some(bv) = bias {
            for px in ob.chunks_exact_mut(oc) {
                px.copy_from_slice(bv);
            }
        }
        for iy in 0..h {
            for ix in 0..w {
                let crow = &col[((b * h + iy) * w + ix) * cols..((b * h + iy) * w + ix + 1) * cols];
                for ky in 0..kh {
                    let oy = (iy * sh + ky) as isize - ph as isize;
                    if oy < 0 || oy >= oh as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = (ix * sw + kx) as isize - pw as isize;
                        if ox < 0 || ox >= ow as isize {
                            continue;
                        }
                        let dst = &mut ob[(oy as usize * ow + ox as usize) * oc..][..oc];
                        for (o, d) in dst.iter_mut().enumerate() {
                            *d += crow[(o * kh + ky) * kw + kx];
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn transpose_conv(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let shape = ctx.in_ints(0)?;
    let w = ctx.in_f32(1)?;
    let x = ctx.in_f32(2)?;
    let o = ctx
        .fb
        .builtin_options_as_transpose_conv_options()
        .ok_or_else(|| EngineError::msg("TRANSPOSE_CONV without options"))?;
    let [n, _, _, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c || shape.len() != 4 {
        bail!("filter depth {ic} vs input depth {c}, output_shape {shape:?}");
    }
    if shape.iter().any(|&d| d < 0) {
        bail!("negative output_shape {shape:?}");
    }
    let (oh, ow) = (shape[1] as usize, shape[2] as usize);
    crate::engine::limits::check_alloc(&[n, oh, ow, oc], 4, "TRANSPOSE_CONV output")?;
    if shape[3] as usize != oc || shape[0] as usize != n {
        bail!("output_shape {shape:?} does not match batch {n} / filter count {oc}");
    }
    let same = o.padding() == Padding::SAME;
    let (sh, sw) = (o.stride_h().max(1) as usize, o.stride_w().max(1) as usize);
    let (_, ph) = out_and_pad(oh, kh, sh, 1, same);
    let (_, pw) = out_and_pad(ow, kw, sw, 1, same);
    let bias = bias_vec(ctx, 3, oc)?;
    let act = ctx.activation();
    transpose_conv_op(x, w, [oh, ow], [sh, sw], [ph, pw], bias.as_deref(), act)
}

/// MediaPipe's custom transposed convolution with bias; options are TfLiteTransposeConvParams
/// (padding: 1 SAME / 2 VALID, stride_width, stride_height as i32).
pub fn conv2d_transpose_bias(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let opts = ctx
        .fb
        .custom_options()
        .map(|v| v.bytes().to_vec())
        .unwrap_or_default();
    if opts.len() < 12 {
        bail!(
            "custom options are {} bytes, expected at least 12",
            opts.len()
        );
    }
    let rd = |i: usize| i32::from_le_bytes(opts[i * 4..i * 4 + 4].try_into().unwrap());
    let (padding, sw, sh) = (rd(0), rd(1).max(1) as usize, rd(2).max(1) as usize);
    let [_, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c {
        bail!("filter depth {ic} vs input depth {c}");
    }
    let (pth, ptw) = if padding == 1 {
        (
            (kh as i64 - ((h as i64 - 1) % sh as i64) - 1).max(0) as usize,
            (kw as i64 - ((wd as i64 - 1) % sw as i64) - 1).max(0) as usize,
        )
    } else {
        (0, 0)
    };
    let oh = sh * (h.max(1) - 1) + kh - pth;
    let ow = sw * (wd.max(1) - 1) + kw - ptw;
    let bias = bias_vec(ctx, 2, oc)?;
    let pad = [pth / 2, ptw / 2];
    transpose_conv_op(x, w, [oh, ow], [sh, sw], pad, bias.as_deref(), None)
}

/// The output of a transposed-convolution op: [`transpose_conv_f32`] of the input `x`
/// (`[n, h, w, ic]`) with the filter `w` (`[oc, kh, kw, ic]`, both checked 4-D by the caller) into
/// `[n, oh, ow, oc]`, then the fused activation `act`.
fn transpose_conv_op(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    [oh, ow]: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    bias: Option<&[f32]>,
    act: Option<&str>,
) -> Result<Vec<Value>, EngineError> {
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, _] = dims4(w, "filter")?;
    let mut out = transpose_conv_f32(
        &contiguous(x),
        [n, h, wd, c],
        &contiguous(w),
        [oc, kh, kw],
        [oh, ow],
        stride,
        pad,
        bias,
    );
    apply_act(&mut out, act)?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}
