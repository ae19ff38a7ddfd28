//! Float FULLY_CONNECTED.

#[allow(unused_imports)]
use super::*;

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
    let ws = contiguous(w);
    let mut out = vec![0f32; b * o];
    if let Some(bv) = &bias {
        for r in out.chunks_exact_mut(o) {
            r.copy_from_slice(bv);
        }
    }
    let beta = if bias.is_some() { 1.0 } else { 0.0 };
    if b == 1 && o >= 256 {
        // Matrix-vector: parallel over output blocks.
        out.par_chunks_mut(64).enumerate().for_each(|(blk, c)| {
            let o0 = blk * 64;
            let wsub = &ws[o0 * k..(o0 + c.len()) * k];
            gemm(1, k, c.len(), &xs, k, 1, wsub, 1, k, beta, c, c.len());
        });
    } else {
        gemm(b, k, o, &xs, k, 1, &ws, 1, k, beta, &mut out, o);
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
