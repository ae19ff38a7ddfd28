//! Float FULLY_CONNECTED: batch 1 (few rows) streams the weights in place through [`sgemv`];
//! more rows run the packed-weight GEMM of [`sgemm`] with the weights packed once per op.

#[allow(unused_imports)]
use super::*;

/// Below this many input rows the weights are read in place, row by row of the input.
const GEMV_ROWS: usize = 4;
/// Input rows per parallel task of the GEMM path (at most; fewer when there are few rows).
const ROWS_PER_TASK: usize = 48;

pub fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    if w.ndim() != 2 {
        bail!("weights must be 2-D, got {:?}", w.shape());
    }
    let (o, k) = (w.shape()[0], w.shape()[1]);
    // Rows of `k`, `o` units, not empty: the same checks and output shape as the integer FC.
    let shape = crate::engine::kernels::int::conv::fc_out_shape(ctx, x.shape(), k, o)?;
    let b = x.len() / k;
    let bias = bias_vec(ctx, 2, o)?;
    let xs = contiguous(x);
    let mut out = vec![0f32; b * o];
    if b < GEMV_ROWS {
        let ws = contiguous(w);
        for (xr, orow) in xs.chunks_exact(k).zip(out.chunks_exact_mut(o)) {
            sgemv::sgemv(xr, &ws, k, orow);
            if let Some(bv) = &bias {
                orow.iter_mut().zip(bv).for_each(|(d, &b)| *d += b);
            }
        }
    } else {
        // Packed once per op (a copy of the weights: `o.div_ceil(16) * 16 * k` floats).
        let pb = ctx.prepared(&[1], || Ok(PackedB::new(&contiguous(w), o, k, k)))?;
        let ep = Epilogue {
            bias: bias.as_deref(),
            clamp: None,
        };
        let per = crate::engine::kernels::par::rows_per_task(b, ROWS_PER_TASK, 4);
        out.par_chunks_mut(per * o).enumerate().for_each(|(t, c)| {
            let r0 = t * per;
            let m = c.len() / o;
            sgemm::gemm(&xs[r0 * k..(r0 + m) * k], k, m, &pb, &ep, c, o);
        });
    }
    apply_act(&mut out, ctx.activation())?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| EngineError::Type(e.to_string()))?,
    )])
}
