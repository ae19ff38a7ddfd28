//! Float FULLY_CONNECTED: batch 1 (few rows) streams the weights in place through [`sgemv`];
//! more rows run the packed-weight GEMM of [`sgemm`] with the weights packed once per op.

#[allow(unused_imports)]
use super::*;

/// Below this many input rows the weights are read in place, row by row of the input.
const GEMV_ROWS: usize = 4;
/// Input rows per parallel task of the GEMM path.
const ROWS_PER_TASK: usize = 48;

pub fn fully_connected(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    if w.ndim() != 2 {
        bail!("weights must be 2-D, got {:?}", w.shape());
    }
    let (o, k) = (w.shape()[0], w.shape()[1]);
    let total = x.len();
    if k == 0 || total % k != 0 {
        bail!("input of {total} values is not a multiple of the weights' depth {k}");
    }
    let b = total / k;
    let keep = ctx
        .fb
        .builtin_options_as_fully_connected_options()
        .map(|o| o.keep_num_dims())
        .unwrap_or(false);
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
        out.par_chunks_mut(ROWS_PER_TASK * o)
            .enumerate()
            .for_each(|(t, c)| {
                let r0 = t * ROWS_PER_TASK;
                let m = c.len() / o;
                sgemm::gemm(&xs[r0 * k..(r0 + m) * k], k, m, &pb, &ep, c, o);
            });
    }
    apply_act(&mut out, ctx.activation())?;
    let shape: Vec<usize> = if keep {
        let mut s = x.shape().to_vec();
        *s.last_mut().unwrap() = o;
        s
    } else {
        vec![b, o]
    };
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap(),
    )])
}
