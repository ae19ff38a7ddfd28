//! PAD, PADV2, MIRROR_PAD, TILE and BROADCAST_TO on any element type.

#[allow(unused_imports)]
use super::*;

pub(super) fn pad_t<T: Clone>(a: &ArrayD<T>, pads: &[(usize, usize)], v: T) -> ArrayD<T> {
    let shape: Vec<usize> = a
        .shape()
        .iter()
        .zip(pads)
        .map(|(&d, &(b, e))| d + b + e)
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&shape), v);
    out.slice_each_axis_mut(|ax| {
        let i = ax.axis.index();
        Slice::from(pads[i].0..pads[i].0 + a.shape()[i])
    })
    .assign(a);
    out
}

/// The (before, after) paddings of each axis of an input of `shape`, refused when the padded
/// tensor would exceed the memory budget (the paddings are data, any size).
pub(super) fn paddings(ctx: &OpCtx, shape: &[usize]) -> Result<Vec<(usize, usize)>, EngineError> {
    let rank = shape.len();
    let p = ctx.in_ints(1)?;
    if p.len() != rank * 2 {
        bail!("paddings have {} values for rank {rank}", p.len());
    }
    if p.iter().any(|&v| v < 0) {
        bail!("negative paddings {p:?}");
    }
    let pads: Vec<(usize, usize)> = (0..rank)
        .map(|i| (p[2 * i] as usize, p[2 * i + 1] as usize))
        .collect();
    let padded: Vec<usize> = shape
        .iter()
        .zip(&pads)
        .map(|(&d, &(a, b))| d.saturating_add(a).saturating_add(b))
        .collect();
    crate::engine::limits::check_alloc(&padded, 8, "padded output")?;
    Ok(pads)
}

pub fn pad(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let pads = paddings(ctx, x.shape())?;
    let cv = ctx.opt_input(2).filter(|_| ctx.name() == "PADV2");
    let zp = ctx.out_quant(0).map(|q| q.channel(0).1).unwrap_or(0);
    macro_rules! pv {
        ($a:expr, $var:ident, $t:ty) => {{
            let v: $t = match cv {
                Some(Value::$var(c)) => *c
                    .iter()
                    .next()
                    .ok_or_else(|| EngineError::msg("empty pad value"))?,
                Some(other) => bail!("pad value of type {}", other.dtype()),
                None => zp as $t,
            };
            Value::$var(pad_t($a, &pads, v))
        }};
    }
    Ok(vec![match x {
        Value::F32(a) => pv!(a, F32, f32),
        Value::I8(a) => pv!(a, I8, i8),
        Value::U8(a) => pv!(a, U8, u8),
        Value::I16(a) => pv!(a, I16, i16),
        Value::I32(a) => pv!(a, I32, i32),
        Value::I64(a) => pv!(a, I64, i64),
        Value::F16(a) => Value::F16(pad_t(a, &pads, half::f16::ZERO)),
        Value::Bool(a) => Value::Bool(pad_t(a, &pads, false)),
        other => bail!("PAD on {}", other.dtype()),
    }])
}

pub fn mirror_pad(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let shape = x.shape().to_vec();
    let pads = paddings(ctx, &shape)?;
    let sym = ctx
        .fb
        .builtin_options_as_mirror_pad_options()
        .map(|o| o.mode())
        == Some(MirrorPadMode::SYMMETRIC);
    let idx: Vec<Option<Vec<usize>>> = shape
        .iter()
        .zip(&pads)
        .map(|(&n, &(b, e))| {
            if b == 0 && e == 0 {
                return None;
            }
            let n = n as i64;
            Some(
                (0..(b as i64 + n + e as i64))
                    .map(|o| {
                        let i = o - b as i64;
                        let j = if i < 0 {
                            if sym {
                                -i - 1
                            } else {
                                -i
                            }
                        } else if i >= n {
                            if sym {
                                2 * n - 1 - i
                            } else {
                                2 * n - 2 - i
                            }
                        } else {
                            i
                        };
                        j.clamp(0, n - 1) as usize
                    })
                    .collect(),
            )
        })
        .collect();
    Ok(vec![map_value!(x, a => gather_axes(a, &idx)?)])
}

pub fn tile(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let m = ctx.in_ints(1)?;
    if m.len() != x.shape().len() {
        bail!("multiples {m:?} for rank {}", x.shape().len());
    }
    let out: Vec<usize> = x
        .shape()
        .iter()
        .zip(&m)
        .map(|(&d, &k)| d.saturating_mul(k.max(0) as usize))
        .collect();
    crate::engine::limits::check_alloc(&out, 8, "TILE output")?;
    let idx: Vec<Option<Vec<usize>>> = x
        .shape()
        .iter()
        .zip(&m)
        .map(|(&d, &k)| {
            (k != 1).then(|| (0..d * k.max(0) as usize).map(|i| i % d.max(1)).collect())
        })
        .collect();
    Ok(vec![map_value!(x, a => gather_axes(a, &idx)?)])
}

pub fn broadcast_to(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let shape: Vec<usize> = ctx.in_ints(1)?.iter().map(|&d| d.max(0) as usize).collect();
    crate::engine::limits::check_alloc(&shape, 8, "BROADCAST_TO output")?;
    Ok(vec![map_value!(x, a => a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| EngineError::msg(format!("cannot broadcast {:?} to {shape:?}", a.shape())))?
        .to_owned())])
}
