//! Convolution geometry shared by the float and integer kernels: output size and leading
//! padding per spatial dimension, and the NHWC window of a CONV_2D / DEPTHWISE_CONV_2D op.

use crate::engine::kernels::{bail, OpCtx};
use crate::engine::EngineError;
use tract_tflite::tflite::Padding;

/// Output size and padding before, as TFLite computes them (`ComputePaddingWithOffset`): SAME
/// puts the odd padding pixel after, VALID pads nothing.
pub fn out_and_pad(
    input: usize,
    k: usize,
    stride: usize,
    dil: usize,
    same: bool,
) -> (usize, usize) {
    let eff = (k.max(1) - 1) * dil + 1;
    let out = if same {
        input.div_ceil(stride)
    } else {
        (input + stride).saturating_sub(eff) / stride
    };
    if !same || out == 0 {
        return (out, 0);
    }
    let total = ((out - 1) * stride + eff) as i64 - input as i64;
    (out, (total.max(0) / 2) as usize)
}

/// One convolution window over an NHWC input.
#[derive(Clone, Copy, Debug)]
pub struct ConvGeom {
    pub n: usize,
    pub ih: usize,
    pub iw: usize,
    pub ic: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub ph: usize,
    pub pw: usize,
}

impl ConvGeom {
    /// The geometry for an input `[n, h, w, c]` and a `kh x kw` kernel.
    pub fn new(
        in_shape: &[usize],
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        same: bool,
    ) -> Result<ConvGeom, EngineError> {
        if in_shape.len() != 4 {
            bail!("expected a 4-D input, got shape {in_shape:?}");
        }
        let (sh, sw, dh, dw) = (sh.max(1), sw.max(1), dh.max(1), dw.max(1));
        let (oh, ph) = out_and_pad(in_shape[1], kh, sh, dh, same);
        let (ow, pw) = out_and_pad(in_shape[2], kw, sw, dw, same);
        Ok(ConvGeom {
            n: in_shape[0],
            ih: in_shape[1],
            iw: in_shape[2],
            ic: in_shape[3],
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            ph,
            pw,
        })
    }

    /// A 1x1 window at stride 1 without padding: the input rows are the im2col rows.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.ph == 0
            && self.pw == 0
            && self.oh == self.ih
            && self.ow == self.iw
    }

    /// Output pixels (`n * oh * ow`), the rows of the convolution's GEMM.
    pub fn pixels(&self) -> usize {
        self.n * self.oh * self.ow
    }

    /// Output columns `lo..hi` whose input column `ox * sw + kx * dw - pw` lies inside the row.
    pub fn valid_ox(&self, kx: usize) -> (usize, usize) {
        let off = (kx * self.dw) as isize - self.pw as isize;
        let lo = if off >= 0 {
            0
        } else {
            ((-off) as usize).div_ceil(self.sw)
        };
        let hi = if (self.iw as isize) <= off {
            0
        } else {
            ((self.iw as isize - off) as usize)
                .div_ceil(self.sw)
                .min(self.ow)
        };
        (lo.min(hi), hi)
    }

    /// The input row read by output row `oy` through kernel row `ky`, if inside the image.
    #[inline]
    pub fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        let iy = (oy * self.sh + ky * self.dh) as isize - self.ph as isize;
        (iy >= 0 && iy < self.ih as isize).then_some(iy as usize)
    }

    /// The input column read by output column `ox` through kernel column `kx`, if inside.
    #[inline]
    pub fn in_col(&self, ox: usize, kx: usize) -> Option<usize> {
        let ix = (ox * self.sw + kx * self.dw) as isize - self.pw as isize;
        (ix >= 0 && ix < self.iw as isize).then_some(ix as usize)
    }

    /// Calls `f(ky, kx, iy, ix)` for every kernel tap of output pixel `(oy, ox)` that reads
    /// inside the input (taps in the padding are skipped), rows outer, columns inner.
    #[inline(always)]
    pub fn for_taps(&self, oy: usize, ox: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        for ky in 0..self.kh {
            let Some(iy) = self.in_row(oy, ky) else {
                continue;
            };
            for kx in 0..self.kw {
                if let Some(ix) = self.in_col(ox, kx) {
                    f(ky, kx, iy, ix);
                }
            }
        }
    }
}

/// The taps of one depthwise output row `oy` of batch `b`: per tap, the input offset relative
/// to the output pixel's first input column and the weight offset. Interior pixels
/// (`ilo..ihi`) share one table; edge pixels get theirs rebuilt with the clipped taps.
pub struct DwTaps {
    inner: Vec<(isize, usize)>,
    edge: Vec<(isize, usize)>,
    b: usize,
    oy: usize,
    oc: usize,
    /// Output columns whose whole window lies inside the image.
    pub ilo: usize,
    pub ihi: usize,
}

impl DwTaps {
    pub fn new(g: &ConvGeom, b: usize, oy: usize, oc: usize) -> DwTaps {
        let mut inner = Vec::with_capacity(g.kh * g.kw);
        for ky in 0..g.kh {
            if let Some(iy) = g.in_row(oy, ky) {
                for kx in 0..g.kw {
                    let xo = (((b * g.ih + iy) * g.iw + kx * g.dw) * g.ic) as isize
                        - (g.pw * g.ic) as isize;
                    inner.push((xo, (ky * g.kw + kx) * oc));
                }
            }
        }
        let (lo0, hi0) = g.valid_ox(0);
        let (lo1, hi1) = g.valid_ox(g.kw.max(1) - 1);
        DwTaps {
            inner,
            edge: Vec::with_capacity(g.kh * g.kw),
            b,
            oy,
            oc,
            ilo: lo0.max(lo1),
            ihi: hi0.min(hi1),
        }
    }

    /// The taps of output column `ox`, offsets relative to `ox * sw * ic`.
    pub fn at(&mut self, g: &ConvGeom, ox: usize) -> &[(isize, usize)] {
        if ox >= self.ilo && ox < self.ihi {
            return &self.inner;
        }
        let shift = (ox * g.sw * g.ic) as isize;
        self.edge.clear();
        for ky in 0..g.kh {
            if let Some(iy) = g.in_row(self.oy, ky) {
                for kx in 0..g.kw {
                    if let Some(ix) = g.in_col(ox, kx) {
                        let xo = ((self.b * g.ih + iy) * g.iw + ix) * g.ic;
                        self.edge
                            .push((xo as isize - shift, (ky * g.kw + kx) * self.oc));
                    }
                }
            }
        }
        &self.edge
    }
}

/// The geometry of a CONV_2D or DEPTHWISE_CONV_2D op from its options; an output of `oc`
/// channels over the memory budget is refused before anything is allocated.
pub fn conv_geom(
    ctx: &OpCtx,
    in_shape: &[usize],
    kh: usize,
    kw: usize,
    oc: usize,
) -> Result<ConvGeom, EngineError> {
    let (pad, sh, sw, dh, dw) = if let Some(o) = ctx.fb.builtin_options_as_conv_2_doptions() {
        (
            o.padding(),
            o.stride_h(),
            o.stride_w(),
            o.dilation_h_factor(),
            o.dilation_w_factor(),
        )
    } else if let Some(o) = ctx.fb.builtin_options_as_depthwise_conv_2_doptions() {
        (
            o.padding(),
            o.stride_h(),
            o.stride_w(),
            o.dilation_h_factor(),
            o.dilation_w_factor(),
        )
    } else {
        bail!("missing convolution options")
    };
    let u = |v: i32| v.max(1) as usize;
    let g = ConvGeom::new(
        in_shape,
        (kh, kw),
        (u(sh), u(sw)),
        (u(dh), u(dw)),
        pad == Padding::SAME,
    )?;
    crate::engine::limits::check_alloc(&[g.n, g.oh, g.ow, oc], 4, "convolution output")?;
    // TFLite would produce an empty tensor; nothing real does, and the kernels need rows.
    if g.n * g.oh * g.ow * oc == 0 || g.ic == 0 || kh == 0 || kw == 0 {
        bail!(
            "empty convolution: input {in_shape:?}, {kh}x{kw} kernel, output {}x{}x{oc}",
            g.oh,
            g.ow
        );
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_offsets() {
        // in 5, k 3, stride 2: out 3, total pad (2*2+3-5)=2 -> 1 before.
        assert_eq!(out_and_pad(5, 3, 2, 1, true), (3, 1));
        // in 4, k 3, stride 2: out 2, total (2+3-4)=1 -> 0 before (the extra goes after).
        assert_eq!(out_and_pad(4, 3, 2, 1, true), (2, 0));
        // in 224, k 3, stride 2 (MobileNet stem): out 112, total 1 -> 0 before.
        assert_eq!(out_and_pad(224, 3, 2, 1, true), (112, 0));
        assert_eq!(out_and_pad(5, 3, 1, 1, true), (5, 1));
        // VALID: (5-3+1)/1 = 3.
        assert_eq!(out_and_pad(5, 3, 1, 1, false), (3, 0));
        assert_eq!(out_and_pad(7, 3, 1, 2, false), (3, 0));
        // dilation 2: effective kernel 5, SAME in 7 stride 1: total 4 -> 2 before.
        assert_eq!(out_and_pad(7, 3, 1, 2, true), (7, 2));
        // A window larger than the input: VALID gives nothing.
        assert_eq!(out_and_pad(2, 3, 1, 1, false), (0, 0));
    }

    #[test]
    fn valid_columns() {
        // iw 5, k 3, SAME stride 1: pad 1; kx 0 reads ix = ox - 1: ox 1..5.
        let g = ConvGeom::new(&[1, 5, 5, 1], (3, 3), (1, 1), (1, 1), true).unwrap();
        assert_eq!(g.valid_ox(0), (1, 5));
        assert_eq!(g.valid_ox(1), (0, 5));
        assert_eq!(g.valid_ox(2), (0, 4));
        for kx in 0..3 {
            let (lo, hi) = g.valid_ox(kx);
            for ox in 0..g.ow {
                assert_eq!(g.in_col(ox, kx).is_some(), (lo..hi).contains(&ox));
            }
        }
    }
}
