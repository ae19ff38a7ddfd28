//! Float CONV_2D: packed-weight GEMM on the input (1x1) or on im2col tiles, per group.

#[allow(unused_imports)]
use super::*;

/// Float convolution with `groups` groups: `x` NHWC, `packed[gi]` the weights of group `gi`
/// (its `n` output channels by `kh*kw*ic/groups`), output NHWC with the groups' channels
/// side by side.
pub fn conv2d_f32(
    g: &ConvGeom,
    x: &[f32],
    packed: &[PackedB],
    bias: Option<&[f32]>,
    act: Option<&str>,
) -> Result<Vec<f32>, EngineError> {
    apply_act(&mut [], act)?; // rejects unknown activations up front
    let groups = packed.len().max(1);
    let fic = g.ic / groups;
    let oc: usize = packed.iter().map(|p| p.n).sum();
    let k = g.kh * g.kw * fic;
    let pixels = g.pixels();
    let mut out = vec![0f32; pixels * oc];
    if out.is_empty() {
        return Ok(out);
    }
    let clamp = act_clamp(act);
    let rest = act_rest(act);
    let pointwise = g.is_pointwise();
    // Pixels per task: one block per thread, in whole im2col tiles.
    let threads = rayon::current_num_threads().max(1);
    let per = pixels.div_ceil(threads).div_ceil(IM2COL_TILE) * IM2COL_TILE;
    out.par_chunks_mut(per * oc).enumerate().for_each_init(
        Vec::new,
        |col: &mut Vec<f32>, (blk, c)| {
            let p0 = blk * per;
            let m = c.len() / oc;
            let mut c0 = 0;
            for (gi, pb) in packed.iter().enumerate() {
                let ep = Epilogue {
                    bias: bias.map(|b| &b[c0..c0 + pb.n]),
                    clamp,
                };
                if pointwise {
                    let a = &x[p0 * g.ic + gi * fic..];
                    sgemm::gemm(a, g.ic, m, pb, &ep, &mut c[c0..], oc);
                } else {
                    col.resize(IM2COL_TILE * k, 0.0);
                    let mut t = 0;
                    while t < m {
                        let tm = (m - t).min(IM2COL_TILE);
                        im2col_f32(x, g, gi * fic, fic, p0 + t, p0 + t + tm, col);
                        sgemm::gemm(col, k, tm, pb, &ep, &mut c[t * oc + c0..], oc);
                        t += tm;
                    }
                }
                c0 += pb.n;
            }
            if rest.is_some() {
                let _ = apply_act(c, rest);
            }
        },
    );
    Ok(out)
}

/// The packed weights of each group of a CONV_2D filter `[oc, kh, kw, fic]`.
pub(super) fn pack_groups(w: &[f32], oc: usize, k: usize, groups: usize) -> Vec<PackedB> {
    let per = oc / groups;
    (0..groups)
        .map(|gi| PackedB::new(&w[gi * per * k..], per, k, k))
        .collect()
}

/// Weights and bias of a float CONV_2D, derived once per op.
pub(super) struct ConvPrep {
    packed: Vec<PackedB>,
    bias: Option<Vec<f32>>,
}

pub fn conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let [_, _, _, c] = dims4(x, "input")?;
    let [oc, kh, kw, fic] = dims4(w, "filter")?;
    // TFLite's grouped convolution: the filter sees `fic` channels, groups = c / fic, and
    // each group has oc / groups output channels.
    if fic == 0 || !c.is_multiple_of(fic) || !oc.is_multiple_of((c / fic).max(1)) {
        bail!(
            "input depth {c} and filter {:?} do not form groups",
            w.shape()
        );
    }
    let groups = c / fic;
    let g = geom::conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let prep = ctx.prepared(&[1, 2], || {
        Ok(ConvPrep {
            packed: pack_groups(&contiguous(w), oc, kh * kw * fic, groups),
            bias: bias_vec(ctx, 2, oc)?,
        })
    })?;
    let out = conv2d_f32(
        &g,
        &contiguous(x),
        &prep.packed,
        prep.bias.as_deref(),
        ctx.activation(),
    )?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[g.n, g.oh, g.ow, oc]), out).unwrap(),
    )])
}
