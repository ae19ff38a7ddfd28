//! Quantized BATCH_MATMUL (int8 / int16): out = lhs x rhs with broadcasting over the batch
//! dims.

#[allow(unused_imports)]
use super::*;

// --------------------------------------------------------------------------------------------
// BATCH_MATMUL (int8 / int16): out = lhs x rhs with broadcasting over the batch dims.
// --------------------------------------------------------------------------------------------

pub fn batch_matmul(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    match (ctx.input(0)?, ctx.input(1)?) {
        (Value::I8(a), Value::I8(b)) => bmm_q::<i8>(ctx, a, b),
        (Value::I16(a), Value::I16(b)) => bmm_q::<i16>(ctx, a, b),
        (a, b) => bail!(
            "BATCH_MATMUL on {} x {} is not supported",
            a.dtype(),
            b.dtype()
        ),
    }
}

pub(super) fn bmm_q<T: QInt>(
    ctx: &OpCtx,
    a: &ArrayD<T>,
    b: &ArrayD<T>,
) -> Result<Vec<Value>, EngineError> {
    let wide = std::mem::size_of::<T>() == 2;
    let (adj_x, adj_y) = ctx
        .fb
        .builtin_options_as_batch_mat_mul_options()
        .map(|o| (o.adj_x(), o.adj_y()))
        .unwrap_or((false, false));
    let (ash, bsh) = (a.shape(), b.shape());
    if ash.len() < 2 || bsh.len() < 2 {
        bail!("BATCH_MATMUL needs rank >= 2 operands");
    }
    let (ar, ac) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (br, bc) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    let (m, k) = if adj_x { (ac, ar) } else { (ar, ac) };
    let (k2, n) = if adj_y { (bc, br) } else { (br, bc) };
    if k != k2 {
        bail!("inner dimensions differ: {ash:?} x {bsh:?}");
    }
    let rank = ash.len().max(bsh.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(&s[..s.len() - 2]);
        v
    };
    let (abatch, bbatch) = (pad(&ash[..]), pad(&bsh[..]));
    let mut obatch = Vec::with_capacity(rank - 2);
    for (&x, &y) in abatch.iter().zip(&bbatch) {
        if x != y && x != 1 && y != 1 {
            bail!("batch dimensions do not broadcast: {ash:?} x {bsh:?}");
        }
        obatch.push(x.max(y));
    }
    let nb: usize = obatch.iter().product();
    let (in_s, in_z) = qparams(ctx.in_meta(0));
    let (w_s, w_z) = qparams(ctx.in_meta(1));
    let (out_s, out_z) = qparams(Some(ctx.output_meta[0]));
    let real = in_s as f64 * w_s as f64 / out_s as f64;
    let (mult, shift) = arith::quantize_multiplier(real);
    let (lo, hi) = crate::engine::kernels::int::type_range(ctx.out_dtype(0));
    let af = flat(a);
    let bf = flat(b);
    let mut out = Vec::with_capacity(nb * m * n);
    let index = |bidx: usize, dims: &[usize]| -> usize {
        // Broadcast batch index into an operand's flat batch index.
        let mut rem = bidx;
        let mut idx = 0;
        let mut stride = 1;
        for d in (0..obatch.len()).rev() {
            let c = rem % obatch[d];
            rem /= obatch[d];
            let cd = if dims[d] == 1 { 0 } else { c };
            idx += cd * stride;
            stride *= dims[d];
        }
        idx
    };
    // Where element (`r`, `c`) of an operand stored with `cols` columns (transposed when `adj`)
    // lies.
    let at = |adj: bool, r: usize, c: usize, cols: usize| {
        if adj {
            c * cols + r
        } else {
            r * cols + c
        }
    };
    for bi in 0..nb {
        let ai = index(bi, &abatch) * ar * ac;
        let bj = index(bi, &bbatch) * br * bc;
        for i in 0..m {
            for j in 0..n {
                let mut acc: i64 = 0;
                for kk in 0..k {
                    let av = af[ai + at(adj_x, i, kk, ac)].to_i32() - in_z;
                    let bv = bf[bj + at(adj_y, kk, j, bc)].to_i32() - w_z;
                    acc += av as i64 * bv as i64;
                }
                let v = if wide {
                    mbqm_i64(acc, mult, shift)
                } else {
                    mbqm(acc as i32, mult, shift)
                } + out_z;
                out.push(clamp_to::<T>(v, lo, hi));
            }
        }
    }
    let mut shape = obatch;
    shape.push(m);
    shape.push(n);
    Ok(vec![T::wrap(array(&shape, out)?)])
}
