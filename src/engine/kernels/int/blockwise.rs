//! Blockwise-quantized int4 weights (`QuantizationDetails.BlockwiseQuantization`, written by
//! the AI Edge Quantizer's `dynamic_wi4b32_afp32` and litert-torch's `BLOCKWISE_*`): one
//! float16 scale per `block_size` consecutive input channels of each output row.
//!
//! FULLY_CONNECTED follows TFLite's builtin `EvalBlockwise4Bit` (fully_connected.cc): the input
//! rows are quantized asymmetrically to int8, each block's integer dot product is scaled by its
//! block scale and summed in float, the input zero point is taken out with the block-scaled
//! weight sums, then input scale and bias. TFLite (ai-edge-litert 2.3.0) applies **no fused
//! activation** on this path; the engine matches it (the fixture `aeq_fc_dynamic_wi4b32_afp32`
//! has a RELU that the builtin kernels ignore). Its reference kernels ignore the block scales
//! altogether, so the builtin kernels are the oracle.

use super::hybrid::asymmetric_quantize;
use super::{bail, flat};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::{Blockwise, DType};
use ndarray::{ArrayD, IxDyn};

/// The blockwise parameters of input `i`, if it has them.
pub(crate) fn blockwise_of<'a>(ctx: &OpCtx<'a>, i: usize) -> Option<&'a Blockwise> {
    ctx.in_meta(i)?.quantization.as_ref()?.blockwise.as_ref()
}

/// The block scales of a 2-D weight of `shape` and the number of blocks per row, checked
/// against the shape.
pub(crate) fn block_scales<'a>(
    ctx: &OpCtx<'a>,
    bw: &'a Blockwise,
    shape: &[usize],
) -> Result<(&'a [f32], usize), EngineError> {
    if let Some(p) = &bw.problem {
        bail!("{}: blockwise quantization unreadable: {p}", ctx.in_name(1));
    }
    let (rows, cols) = match shape {
        [r, c] => (*r, *c),
        _ => bail!(
            "blockwise weights must be 2-D, {} has shape {shape:?}",
            ctx.in_name(1)
        ),
    };
    let bs = usize::try_from(bw.block_size).unwrap_or(0);
    if bs == 0 || cols % bs != 0 {
        bail!(
            "{}: {cols} columns do not split into blocks of {}",
            ctx.in_name(1),
            bw.block_size
        );
    }
    let per_row = cols / bs;
    if bw.scales.len() != rows * per_row {
        bail!(
            "{}: {} block scales for {rows} rows of {per_row} blocks",
            ctx.in_name(1),
            bw.scales.len()
        );
    }
    if let Some(s) = bw.scales.iter().find(|s| !s.is_finite()) {
        bail!("{}: block scale {s} is not finite", ctx.in_name(1));
    }
    Ok((&bw.scales, per_row))
}

/// FULLY_CONNECTED with blockwise int4 weights and float input (the registry routes it here).
pub(crate) fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let bw = blockwise_of(ctx, 1).expect("routed on blockwise weights");
    if ctx.in_dtype(1) != Some(DType::I4) {
        bail!(
            "blockwise FULLY_CONNECTED needs int4 weights (TFLite's only blockwise kernel), {} is {}",
            ctx.in_name(1),
            ctx.in_dtype(1).map(|d| d.name()).unwrap_or_default()
        );
    }
    let x = ctx.in_f32(0)?;
    let Value::I8(w) = ctx.input(1)? else {
        bail!("int4 weights not decoded as int8")
    };
    let wshape = w.shape().to_vec();
    let (scales, per_row) = block_scales(ctx, bw, &wshape)?;
    let (units, k) = (wshape[0], wshape[1]);
    let bs = k / per_row;
    let out_shape = super::conv::fc_out_shape(ctx, x.shape(), k, units)?;
    let bias = crate::engine::kernels::conv::bias_vec(ctx, 2, units)?;
    let xs = flat(x);
    let w = flat(w);
    let batches = xs.len() / k;
    let mut out = vec![0f32; batches * units];
    let mut q = vec![0i8; k];
    for (m, row) in xs.chunks_exact(k).enumerate() {
        let (in_scale, in_zp) = asymmetric_quantize(row, &mut q);
        for n in 0..units {
            let wr = &w[n * k..(n + 1) * k];
            let mut acc_f = 0f32;
            let mut kfsum = 0f32;
            for b in 0..per_row {
                let (mut ksum, mut acc) = (0i32, 0i32);
                for c in b * bs..(b + 1) * bs {
                    let kv = wr[c] as i32;
                    ksum += kv;
                    acc += q[c] as i32 * kv;
                }
                let s = scales[n * per_row + b];
                acc_f += acc as f32 * s;
                kfsum += s * ksum as f32;
            }
            let mut v = acc_f - in_zp as f32 * kfsum;
            v *= in_scale;
            if let Some(b) = &bias {
                v += b[n];
            }
            out[m * units + n] = v;
        }
    }
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&out_shape), out)
            .map_err(|e| EngineError::Type(e.to_string()))?,
    )])
}
