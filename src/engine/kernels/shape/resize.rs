//! RESIZE_NEAREST_NEIGHBOR (any element type) and float RESIZE_BILINEAR, with TFLite's
//! coordinate rules (align_corners, half_pixel_centers).

#[allow(unused_imports)]
use super::*;

/// TFLite's `GetNearestNeighbor`.
pub fn nearest_index(o: usize, in_size: usize, out_size: usize, align: bool, half: bool) -> usize {
    let scale = if align && out_size > 1 {
        (in_size as f32 - 1.0) / (out_size as f32 - 1.0)
    } else {
        in_size as f32 / out_size as f32
    };
    let off = if half { 0.5 } else { 0.0 };
    let v = (o as f32 + off) * scale;
    let mut r = if align {
        v.round() as i64
    } else {
        v.floor() as i64
    };
    r = r.min(in_size as i64 - 1);
    if half {
        r = r.max(0);
    }
    r.max(0) as usize
}

pub(super) fn resize_opts(ctx: &OpCtx) -> (bool, bool) {
    if ctx.name() == "RESIZE_BILINEAR" {
        ctx.fb
            .builtin_options_as_resize_bilinear_options()
            .map(|o| (o.align_corners(), o.half_pixel_centers()))
            .unwrap_or((false, false))
    } else {
        ctx.fb
            .builtin_options_as_resize_nearest_neighbor_options()
            .map(|o| (o.align_corners(), o.half_pixel_centers()))
            .unwrap_or((false, false))
    }
}

pub(super) fn out_size(ctx: &OpCtx, s: &[usize]) -> Result<(usize, usize), EngineError> {
    if s.len() != 4 {
        bail!("input must be 4-D, got {s:?}");
    }
    let sz = ctx.in_ints(1)?;
    if sz.len() != 2 || sz[0] <= 0 || sz[1] <= 0 {
        bail!("size {sz:?}");
    }
    let (h, w) = (sz[0] as usize, sz[1] as usize);
    crate::engine::limits::check_alloc(&[s[0], h, w, s[3]], 4, "resized output")?;
    Ok((h, w))
}

pub fn resize_nearest(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.input(0)?;
    let s = x.shape().to_vec();
    let (oh, ow) = out_size(ctx, &s)?;
    let (align, half) = resize_opts(ctx);
    let iy: Vec<usize> = (0..oh)
        .map(|o| nearest_index(o, s[1], oh, align, half))
        .collect();
    let ix: Vec<usize> = (0..ow)
        .map(|o| nearest_index(o, s[2], ow, align, half))
        .collect();
    let idx = vec![None, Some(iy), Some(ix), None];
    Ok(vec![map_value!(x, a => gather_axes(a, &idx)?)])
}

/// TFLite's `ComputeInterpolationValues` (float): (scaled, lower, upper).
pub fn interp(v: usize, scale: f32, half: bool, in_size: usize) -> (f32, usize, usize) {
    let s = if half {
        (v as f32 + 0.5) * scale - 0.5
    } else {
        v as f32 * scale
    };
    let lo = (s.floor() as i64).max(0) as usize;
    let hi = (s.ceil() as i64).min(in_size as i64 - 1).max(0) as usize;
    (s, lo, hi)
}

pub fn resize_bilinear_f32(
    x: &ArrayD<f32>,
    oh: usize,
    ow: usize,
    align: bool,
    half: bool,
) -> ArrayD<f32> {
    let s = x.shape();
    let (n, h, w, c) = (s[0], s[1], s[2], s[3]);
    let mut hs = h as f32 / oh as f32;
    let mut ws = w as f32 / ow as f32;
    if align && oh > 1 {
        hs = (h as f32 - 1.0) / (oh as f32 - 1.0);
    }
    if align && ow > 1 {
        ws = (w as f32 - 1.0) / (ow as f32 - 1.0);
    }
    let xs: Vec<f32> = x.iter().copied().collect();
    let at = |b: usize, y: usize, xx: usize, ch: usize| xs[((b * h + y) * w + xx) * c + ch];
    let mut out = Vec::with_capacity(n * oh * ow * c);
    for b in 0..n {
        for y in 0..oh {
            let (iy, y0, y1) = interp(y, hs, half, h);
            let dy = iy - y0 as f32;
            for xx in 0..ow {
                let (ix, x0, x1) = interp(xx, ws, half, w);
                let dx = ix - x0 as f32;
                for ch in 0..c {
                    out.push(
                        at(b, y0, x0, ch) * (1.0 - dy) * (1.0 - dx)
                            + at(b, y1, x0, ch) * dy * (1.0 - dx)
                            + at(b, y0, x1, ch) * (1.0 - dy) * dx
                            + at(b, y1, x1, ch) * dy * dx,
                    );
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, c]), out).unwrap()
}

pub fn resize_bilinear(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let (oh, ow) = out_size(ctx, x.shape())?;
    let (align, half) = resize_opts(ctx);
    Ok(vec![Value::F32(resize_bilinear_f32(
        x, oh, ow, align, half,
    ))])
}
