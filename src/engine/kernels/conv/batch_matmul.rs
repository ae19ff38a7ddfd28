//! Float BATCH_MATMUL with numpy broadcasting of the batch dimensions.

#[allow(unused_imports)]
use super::*;

/// Broadcast batch shape of two batch shapes (numpy rules).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, EngineError> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            bail!("shapes {a:?} and {b:?} do not broadcast");
        };
    }
    Ok(out)
}

/// Flat offset (in units of whole matrices) of batch `idx` of `shape` inside a broadcast batch.
pub(super) fn batch_offset(idx: usize, out: &[usize], shape: &[usize]) -> usize {
    let mut rem = idx;
    let mut off = 0;
    let mut stride = 1;
    let r = out.len();
    for i in (0..r).rev() {
        let coord = rem % out[i];
        rem /= out[i];
        if i + shape.len() >= r {
            let d = shape[i + shape.len() - r];
            if d != 1 {
                off += coord * stride;
            }
            stride *= d;
        }
    }
    off
}

pub fn batch_matmul(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let y = ctx.in_f32(1)?;
    let (adj_x, adj_y) = ctx
        .fb
        .builtin_options_as_batch_mat_mul_options()
        .map(|o| (o.adj_x(), o.adj_y()))
        .unwrap_or((false, false));
    if x.ndim() < 2 || y.ndim() < 2 {
        bail!(
            "BATCH_MATMUL needs rank >= 2 inputs, got {:?} and {:?}",
            x.shape(),
            y.shape()
        );
    }
    let (xs, ys) = (x.shape(), y.shape());
    let (xr, xc) = (xs[xs.len() - 2], xs[xs.len() - 1]);
    let (yr, yc) = (ys[ys.len() - 2], ys[ys.len() - 1]);
    let (m, k) = if adj_x { (xc, xr) } else { (xr, xc) };
    let (k2, nn) = if adj_y { (yc, yr) } else { (yr, yc) };
    if k != k2 {
        bail!(
            "inner dimensions differ: {:?} x {:?} (adj_x {adj_x}, adj_y {adj_y})",
            xs,
            ys
        );
    }
    let xb = &xs[..xs.len() - 2];
    let yb = &ys[..ys.len() - 2];
    let ob = broadcast_shapes(xb, yb)?;
    let nb: usize = ob.iter().product();
    let xd = contiguous(x);
    let yd = contiguous(y);
    let mut out = vec![0f32; nb * m * nn];
    let (rsa, csa) = if adj_x { (1, m) } else { (k, 1) };
    let (rsb, csb) = if adj_y { (1, k) } else { (nn, 1) };
    if m * nn > 0 {
        out.par_chunks_mut(m * nn).enumerate().for_each(|(bi, c)| {
            let xo = batch_offset(bi, &ob, xb) * xr * xc;
            let yo = batch_offset(bi, &ob, yb) * yr * yc;
            gemm(
                m,
                k,
                nn,
                &xd[xo..xo + xr * xc],
                rsa,
                csa,
                &yd[yo..yo + yr * yc],
                rsb,
                csb,
                0.0,
                c,
                nn,
            );
        });
    }
    let mut shape = ob;
    shape.push(m);
    shape.push(nn);
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap(),
    )])
}
