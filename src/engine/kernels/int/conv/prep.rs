//! What an 8-bit CONV_2D / FULLY_CONNECTED derives once from its weights, bias and the
//! tensors' quantization.

#[allow(unused_imports)]
use super::*;

/// What an 8-bit CONV_2D / FULLY_CONNECTED derives once from its weights, bias and the
/// tensors' quantization.
pub(super) struct Q8Prep {
    pub(super) stage: RequantParams,
    /// Portable path: `[oc][k]` weights as i16 with the filter offset folded in.
    pub(super) w16: Vec<i16>,
    /// VNNI path, per group: packed int8 weights and the bias with the activations' +128
    /// shift taken back out: `bias - (128 + in_zp) * sum(w)`.
    pub(super) vnni: Vec<(PackedW, Vec<i32>)>,
    /// VNNI path, per group: that bias with the group's multipliers and shifts as
    /// [`gemm::Rq16`] blocks (`None`: a channel outside the single-rounding form).
    pub(super) rq: Vec<Option<Vec<gemm::Rq16>>>,
}

/// The per-channel output stage of an 8/16-bit conv-like op (the bias of input 2 and the
/// multipliers of `in_scale * w_scale[c] / out_scale`), derived once with its weights.
pub(super) struct RequantParams {
    pub(super) bias: Vec<i32>,
    pub(super) mult: Vec<i32>,
    pub(super) shift: Vec<i32>,
}

impl RequantParams {
    pub(super) fn new(ctx: &OpCtx, oc: usize) -> Result<Self, EngineError> {
        let (in_s, _) = qparams(ctx.in_meta(0));
        let (out_s, _) = qparams(Some(ctx.output_meta[0]));
        let (mult, shift) = channel_multipliers(in_s, &scales(ctx.in_meta(1)), out_s, oc);
        let bias = bias_i64(ctx, 2, oc)?;
        if bias.len() < oc {
            bail!("bias has {} values, expected {oc}", bias.len());
        }
        let bias = bias.iter().map(|&b| b as i32).collect();
        Ok(RequantParams { bias, mult, shift })
    }

    /// The output stage of channels `c`: requantize to `out_off`, clamp to `[lo, hi]`.
    pub(super) fn requant(
        &self,
        c: std::ops::Range<usize>,
        out_off: i32,
        lo: i32,
        hi: i32,
    ) -> Requant<'_> {
        Requant {
            bias: &self.bias[c.clone()],
            mult: &self.mult[c.clone()],
            shift: &self.shift[c],
            out_off,
            lo,
            hi,
            rq: None,
        }
    }
}

/// The constant inputs an op's prepared weights depend on: the weights (1) and the bias (2)
/// when the op has one. (Asking for an absent bias would make every run prepare again.)
pub(super) fn weight_inputs(ctx: &OpCtx) -> &'static [usize] {
    if ctx.opt_input(2).is_some() {
        &[1, 2]
    } else {
        &[1]
    }
}

/// Whether this op runs the VNNI GEMM: int8 activations and weights on a CPU with VNNI.
pub(super) fn use_vnni(ctx: &OpCtx) -> bool {
    matches!(
        (ctx.opt_input(0), ctx.opt_input(1)),
        (Some(Value::I8(_)), Some(Value::I8(_)))
    ) && gemm::has_vnni()
}

pub(super) fn q8_prep(
    ctx: &OpCtx,
    oc: usize,
    k: usize,
    groups: usize,
    vnni: bool,
) -> Result<Q8Prep, EngineError> {
    let (_, in_z) = qparams(ctx.in_meta(0));
    let mut p = Q8Prep {
        stage: RequantParams::new(ctx, oc)?,
        w16: Vec::new(),
        vnni: Vec::new(),
        rq: Vec::new(),
    };
    match ctx.opt_input(1) {
        Some(Value::I8(wa)) if vnni => {
            let wf = flat(wa);
            let per = oc / groups;
            for gi in 0..groups {
                let pw = gemm::pack_weights(&wf[gi * per * k..(gi + 1) * per * k], per, k);
                let b2 = (0..per)
                    .map(|o| {
                        p.stage.bias[gi * per + o]
                            .wrapping_sub((128 + in_z).wrapping_mul(pw.sums[o]))
                    })
                    .collect::<Vec<i32>>();
                let c0 = gi * per;
                p.rq.push(gemm::rq16_blocks(
                    &b2,
                    &p.stage.mult[c0..],
                    &p.stage.shift[c0..],
                    per,
                ));
                p.vnni.push((pw, b2));
            }
        }
        _ => p.w16 = weights_i16(ctx, 1)?.0,
    }
    Ok(p)
}
