//! AVERAGE_POOL_2D (float) and MAX_POOL_2D (float and any integer type with matching
//! quantization).

use super::conv::out_and_pad;
use super::{apply_act, bail, OpCtx};
use crate::engine::{EngineError, Value};
use crate::model::Quantization;
use ndarray::{ArrayD, IxDyn};
use tract_tflite::tflite::Padding;

/// One pooling window over an NHWC input, shared by the float and integer pools.
pub(crate) struct PoolGeom {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub fh: usize,
    pub fw: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
    pub ph: usize,
    pub pw: usize,
}

/// The window from the op's options; refuses a window whose reads (every output times the
/// window clipped to the input) are over the engine's work limit, which two integers in a
/// corrupt file can otherwise make hours long.
pub(crate) fn geom(ctx: &OpCtx, shape: &[usize]) -> Result<PoolGeom, EngineError> {
    let o = ctx
        .fb
        .builtin_options_as_pool_2_doptions()
        .ok_or_else(|| EngineError::msg("pool without options"))?;
    if shape.len() != 4 {
        bail!("input must be 4-D, got {shape:?}");
    }
    let (fh, fw) = (
        o.filter_height().max(1) as usize,
        o.filter_width().max(1) as usize,
    );
    let (sh, sw) = (o.stride_h().max(1) as usize, o.stride_w().max(1) as usize);
    let same = o.padding() == Padding::SAME;
    let (oh, ph) = out_and_pad(shape[1], fh, sh, 1, same);
    let (ow, pw) = out_and_pad(shape[2], fw, sw, 1, same);
    let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3]);
    crate::engine::limits::check_work(
        &[n, oh, ow, c, fh.min(h), fw.min(w)],
        &format!(
            "{}: a {fh}x{fw} window over {n}x{oh}x{ow}x{c} outputs of a {h}x{w} input",
            ctx.name()
        ),
    )?;
    Ok(PoolGeom {
        n,
        h,
        w,
        c,
        fh,
        fw,
        sh,
        sw,
        oh,
        ow,
        ph,
        pw,
    })
}

/// Visits every output position with the valid input window `[y0,y1) x [x0,x1)`.
fn for_windows(g: &PoolGeom, mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize)) {
    for b in 0..g.n {
        for oy in 0..g.oh {
            let iy0 = (oy * g.sh) as isize - g.ph as isize;
            let y0 = iy0.max(0) as usize;
            let y1 = ((iy0 + g.fh as isize).min(g.h as isize)).max(0) as usize;
            for ox in 0..g.ow {
                let ix0 = (ox * g.sw) as isize - g.pw as isize;
                let x0 = ix0.max(0) as usize;
                let x1 = ((ix0 + g.fw as isize).min(g.w as isize)).max(0) as usize;
                f(b, oy, ox, y0, y1, x0, x1);
            }
        }
    }
}

pub fn avg_pool(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let g = geom(ctx, x.shape())?;
    let xs: Vec<f32> = x.iter().copied().collect();
    let mut out = vec![0f32; g.n * g.oh * g.ow * g.c];
    let mut acc = vec![0f32; g.c];
    for_windows(&g, |b, oy, ox, y0, y1, x0, x1| {
        acc.fill(0.0);
        for iy in y0..y1 {
            for ix in x0..x1 {
                let s = ((b * g.h + iy) * g.w + ix) * g.c;
                for (a, &v) in acc.iter_mut().zip(&xs[s..s + g.c]) {
                    *a += v;
                }
            }
        }
        let cnt = ((y1 - y0) * (x1 - x0)).max(1) as f32;
        let d = ((b * g.oh + oy) * g.ow + ox) * g.c;
        for (o, a) in out[d..d + g.c].iter_mut().zip(&acc) {
            *o = a / cnt;
        }
    });
    apply_act(&mut out, ctx.activation())?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[g.n, g.oh, g.ow, g.c]), out).unwrap(),
    )])
}

fn max_pool_t<T: Copy + PartialOrd>(
    g: &PoolGeom,
    x: &ArrayD<T>,
    lowest: T,
    lo: T,
    hi: T,
) -> ArrayD<T> {
    let xs: Vec<T> = x.iter().copied().collect();
    let mut out = vec![lowest; g.n * g.oh * g.ow * g.c];
    for_windows(g, |b, oy, ox, y0, y1, x0, x1| {
        let d = ((b * g.oh + oy) * g.ow + ox) * g.c;
        let o = &mut out[d..d + g.c];
        for iy in y0..y1 {
            for ix in x0..x1 {
                let s = ((b * g.h + iy) * g.w + ix) * g.c;
                for (a, &v) in o.iter_mut().zip(&xs[s..s + g.c]) {
                    if v > *a {
                        *a = v;
                    }
                }
            }
        }
        for a in o.iter_mut() {
            if *a < lo {
                *a = lo;
            }
            if *a > hi {
                *a = hi;
            }
        }
    });
    ArrayD::from_shape_vec(IxDyn(&[g.n, g.oh, g.ow, g.c]), out).unwrap()
}

/// TFLite's activation range in the quantized domain (`CalculateActivationRangeQuantized`).
pub fn quantized_act_range(
    act: Option<&str>,
    q: Option<&Quantization>,
    qmin: i64,
    qmax: i64,
) -> (i64, i64) {
    let (s, z) = q.map(|q| q.channel(0)).unwrap_or((1.0, 0));
    let qz = |v: f32| z + (v / s).round() as i64;
    match act {
        Some("RELU") => (qmin.max(qz(0.0)), qmax),
        Some("RELU6") => (qmin.max(qz(0.0)), qmax.min(qz(6.0))),
        Some("RELU_N1_TO_1") => (qmin.max(qz(-1.0)), qmax.min(qz(1.0))),
        _ => (qmin, qmax),
    }
}

pub fn max_pool(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let g = geom(ctx, x.shape())?;
    let act = ctx.activation();
    let oq = ctx.out_quant(0);
    macro_rules! int_pool {
        ($a:expr, $t:ty, $var:ident) => {{
            let (lo, hi) = quantized_act_range(act, oq, <$t>::MIN as i64, <$t>::MAX as i64);
            Value::$var(max_pool_t(&g, $a, <$t>::MIN, lo as $t, hi as $t))
        }};
    }
    Ok(vec![match x {
        Value::F32(a) => {
            let (lo, hi) = match act {
                None => (f32::NEG_INFINITY, f32::INFINITY),
                Some("RELU") => (0.0, f32::INFINITY),
                Some("RELU6") => (0.0, 6.0),
                Some("RELU_N1_TO_1") => (-1.0, 1.0),
                Some(o) => bail!("fused activation {o} is not supported"),
            };
            Value::F32(max_pool_t(&g, a, f32::NEG_INFINITY, lo, hi))
        }
        Value::I8(a) => int_pool!(a, i8, I8),
        Value::U8(a) => int_pool!(a, u8, U8),
        Value::I16(a) => int_pool!(a, i16, I16),
        Value::I32(a) => int_pool!(a, i32, I32),
        other => bail!("MAX_POOL_2D on {}", other.dtype()),
    }])
}
