//! Quantized CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and BATCH_MATMUL.
//!
//! Arithmetic of `reference_integer_ops::{ConvPerChannel, DepthwiseConvPerChannel,
//! FullyConnected[PerChannel]}` (int8), `reference_ops::{Conv, DepthwiseConv, FullyConnected}`
//! (uint8) and their int16x8 variants (64-bit accumulators): acc = sum (x + in_off)(w + w_off)
//! + bias, then `MultiplyByQuantizedMultiplier` per output channel, + out_off, clamp.
//!
//! Speed: weights are prepared once per op (packed for the VNNI GEMM, or widened to i16 with
//! the offsets folded in). With AVX-512 VNNI the int8 GEMM runs on u8-shifted activations
//! with the requantization fused into the micro-kernel (see `gemm.rs`); elsewhere an
//! i16 x i16 -> i32 GEMM with a 1x4 micro-kernel that the compiler vectorizes. Depthwise
//! convolutions accumulate whole output rows channel-contiguously in i32 and requantize the
//! row at once. Grouped CONV_2D (filter depth < input depth) runs one GEMM per group.

use super::gemm::{self, requant_row, requant_rows, PackedW, Requant};
use super::{array, bail, clamp_to, flat, fused, out_range, qparams, scales, QInt};
use crate::engine::arith::{self, mbqm, mbqm_i64};
pub(crate) use crate::engine::kernels::conv::geom::{conv_geom, out_and_pad, ConvGeom, DwTaps};
use crate::engine::kernels::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::DType;
use ndarray::ArrayD;
use rayon::prelude::*;
use tract_tflite::tflite::Padding;

mod gemm_i16;
pub(crate) use gemm_i16::gemm_block_dispatch;
use gemm_i16::*;
mod im2col;
pub(crate) use im2col::*;
mod prep;
use prep::*;
mod conv2d;
pub use conv2d::*;
mod depthwise;
pub use depthwise::*;
mod dw_q8;
use dw_q8::*;
mod fully_connected;
pub use fully_connected::*;
mod transpose;
pub use transpose::*;
mod batch_matmul;
pub use batch_matmul::*;

/// Per-output-channel multipliers and shifts for `input_scale * filter_scale[c] / output_scale`.
pub(crate) fn channel_multipliers(
    in_scale: f32,
    f_scales: &[f32],
    out_scale: f32,
    n: usize,
) -> (Vec<i32>, Vec<i32>) {
    let mut m = Vec::with_capacity(n);
    let mut s = Vec::with_capacity(n);
    for c in 0..n {
        let fs = if f_scales.len() > 1 {
            f_scales[c]
        } else {
            f_scales.first().copied().unwrap_or(0.0)
        };
        let real = in_scale as f64 * fs as f64 / out_scale as f64;
        let (qm, sh) = arith::quantize_multiplier(real);
        m.push(qm);
        s.push(sh);
    }
    (m, s)
}

/// Activations with the input offset folded in, as i16.
fn to_i16_off<T: QInt>(x: &[T], off: i32) -> Vec<i16> {
    x.iter().map(|&v| (v.to_i32() + off) as i16).collect()
}

fn weights_i16(ctx: &OpCtx, i: usize) -> Result<(Vec<i16>, Vec<usize>), EngineError> {
    let v = ctx.input(i)?;
    let (_, zp) = qparams(ctx.in_meta(i));
    Ok(match v {
        // int8 weights: the reference kernels ignore the filter zero point (symmetric).
        Value::I8(a) => (
            flat(a).iter().map(|&w| w as i16).collect(),
            a.shape().to_vec(),
        ),
        Value::U8(a) => (
            flat(a).iter().map(|&w| (w as i32 - zp) as i16).collect(),
            a.shape().to_vec(),
        ),
        other => bail!("weights of type {} are not supported", other.dtype()),
    })
}

/// The bias as i64, one per output channel.
fn bias_i64(ctx: &OpCtx, i: usize, n: usize) -> Result<Vec<i64>, EngineError> {
    bias_as(ctx, i, n, "bias", |v| match v {
        Value::I32(b) => Some(flat(b).iter().map(|&x| x as i64).collect()),
        Value::I64(b) => Some(flat(b).to_vec()),
        _ => None,
    })
}

/// The bias (input `i`), one value per output channel (zeros when the op has none), as `read`
/// converts it (`None`: a type the op does not take; `what` names the bias in that error). A
/// corrupt model's short bias is an error here, so the kernels can index it freely.
pub(super) fn bias_as<T: Clone + Default>(
    ctx: &OpCtx,
    i: usize,
    n: usize,
    what: &str,
    read: impl FnOnce(&Value) -> Option<Vec<T>>,
) -> Result<Vec<T>, EngineError> {
    let Some(v) = ctx.opt_input(i) else {
        return Ok(vec![T::default(); n]);
    };
    let Some(b) = read(v) else {
        bail!("{what} of type {} is not supported", v.dtype());
    };
    if b.len() != n {
        bail!(
            "bias has {} values, expected {n} (one per output channel)",
            b.len()
        );
    }
    Ok(b)
}

// --------------------------------------------------------------------------------------------
// CONV_2D
// --------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive() {
        let (rows, k, oc) = (37, 45, 23);
        let a: Vec<i16> = (0..rows * k)
            .map(|i| ((i * 7919) % 511) as i16 - 255)
            .collect();
        let w: Vec<i16> = (0..oc * k)
            .map(|i| ((i * 104729) % 255) as i16 - 127)
            .collect();
        let mut got = vec![0i32; rows * oc];
        gemm_block_dispatch(&a, k, &w, oc, &mut got);
        for p in 0..rows {
            for o in 0..oc {
                let s: i32 = (0..k)
                    .map(|j| a[p * k + j] as i32 * w[o * k + j] as i32)
                    .sum();
                assert_eq!(got[p * oc + o], s);
            }
        }
    }
}
