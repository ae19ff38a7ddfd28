//! CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, MediaPipe's Convolution2DTransposeBias,
//! FULLY_CONNECTED and BATCH_MATMUL in float32. CONV_2D (and FULLY_CONNECTED over several rows) runs the packed-weight GEMM of
//! [`sgemm`] on the input itself (1x1) or on tiles of im2col rows, with the weights packed once
//! per op; batch-1 FULLY_CONNECTED streams its weights in place ([`sgemv`]); DEPTHWISE_CONV_2D
//! accumulates whole output rows channel-contiguously. The rest use matrixmultiply. Work is split over rayon in blocks of output rows.

pub mod geom;
pub mod sgemm;
pub mod sgemv;

use super::{apply_act, bail, OpCtx};
use crate::engine::{EngineError, Value};
pub use geom::{out_and_pad, ConvGeom, DwTaps};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use sgemm::{Epilogue, PackedB};
use tract_tflite::tflite::Padding;

mod gemm;
pub use gemm::*;
mod im2col;
use im2col::*;
mod conv2d;
pub use conv2d::*;
mod depthwise;
pub use depthwise::*;
mod transpose;
pub use transpose::*;
mod fully_connected;
pub use fully_connected::*;
mod batch_matmul;
pub use batch_matmul::*;

/// The float bias (input `i`), `n` values, if the op has one.
pub(crate) fn bias_vec(ctx: &OpCtx, i: usize, n: usize) -> Result<Option<Vec<f32>>, EngineError> {
    match ctx.opt_input(i) {
        None => Ok(None),
        Some(v) => {
            let b = v
                .as_f32()
                .map_err(|e| EngineError::msg(format!("bias: {e}")))?;
            if b.len() != n {
                bail!("bias has {} values, expected {n}", b.len());
            }
            Ok(Some(b.iter().copied().collect()))
        }
    }
}

fn dims4(a: &ArrayD<f32>, what: &str) -> Result<[usize; 4], EngineError> {
    let s = a.shape();
    if s.len() != 4 {
        bail!("{what} must be 4-D, got shape {s:?}");
    }
    Ok([s[0], s[1], s[2], s[3]])
}

fn contiguous(a: &ArrayD<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// A fused activation as a clamp range for the GEMM's epilogue; `None` when there is no
/// activation or it is not a clamp (TANH, SIGN_BIT run afterwards).
fn act_clamp(act: Option<&str>) -> Option<(f32, f32)> {
    match act {
        Some("RELU") => Some((0.0, f32::INFINITY)),
        Some("RELU6") => Some((0.0, 6.0)),
        Some("RELU_N1_TO_1") => Some((-1.0, 1.0)),
        _ => None,
    }
}

/// The activations that are not a clamp, applied after the GEMM.
fn act_rest(act: Option<&str>) -> Option<&str> {
    match act {
        Some("TANH") | Some("SIGN_BIT") => act,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_same_padding_hand_computed() {
        // 1x3x3x1 input 1..9, 3x3 all-ones filter, SAME stride 2: out 2x2;
        // total pad = (1*2+3-3)=2 -> 1 before. out[0,0] = sum of x[0..2,0..2] = 1+2+4+5 = 12.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let w = vec![1f32; 9];
        let g = ConvGeom::new(&[1, 3, 3, 1], (3, 3), (2, 2), (1, 1), true).unwrap();
        assert_eq!((g.oh, g.ph), (2, 1));
        let w = [PackedB::new(&w, 1, 9, 9)];
        let out = conv2d_f32(&g, &x, &w, Some(&[0.5]), None).unwrap();
        // [1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9] + 0.5
        assert_eq!(out, vec![12.5, 16.5, 24.5, 28.5]);
    }

    #[test]
    fn transpose_conv_hand_computed() {
        // 1x2x2x1 input [1,2,3,4], 2x2 ones filter, stride 2, VALID: each input spreads to a
        // 2x2 block of a 4x4 output.
        let out = transpose_conv_f32(
            &[1., 2., 3., 4.],
            [1, 2, 2, 1],
            &[1.; 4],
            [1, 2, 2],
            [4, 4],
            [2, 2],
            [0, 0],
            None,
        );
        assert_eq!(out[0], 1.0);
        assert_eq!(out[3], 2.0);
        assert_eq!(out[15], 4.0);
        assert_eq!(out[8], 3.0);
    }
}
