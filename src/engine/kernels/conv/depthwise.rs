//! Float DEPTHWISE_CONV_2D: whole output rows accumulated channel-contiguously.

#[allow(unused_imports)]
use super::*;

/// Calls `op(acc[i], x[i], w[i])` for every lane, in 16-wide chunks the compiler turns into
/// whole vectors, then the remainder. `x` and `w` hold at least `acc.len()` values.
#[inline(always)]
pub(crate) fn lanes16<A, X: Copy, W: Copy>(
    acc: &mut [A],
    x: &[X],
    w: &[W],
    op: impl Fn(&mut A, X, W),
) {
    let n = acc.len();
    let (x, w) = (&x[..n], &w[..n]);
    let mut ac = acc.chunks_exact_mut(16);
    let mut xc = x.chunks_exact(16);
    let mut wc = w.chunks_exact(16);
    for ((a, xv), wv) in (&mut ac).zip(&mut xc).zip(&mut wc) {
        let a: &mut [A; 16] = a.try_into().unwrap();
        let xv: &[X; 16] = xv.try_into().unwrap();
        let wv: &[W; 16] = wv.try_into().unwrap();
        for i in 0..16 {
            op(&mut a[i], xv[i], wv[i]);
        }
    }
    for ((a, &xv), &wv) in ac
        .into_remainder()
        .iter_mut()
        .zip(xc.remainder())
        .zip(wc.remainder())
    {
        op(a, xv, wv);
    }
}

/// `acc[i] += x[i] * w[i]`, in 16-wide chunks the compiler turns into whole vectors.
#[inline(always)]
pub(super) fn mul_acc(acc: &mut [f32], x: &[f32], w: &[f32]) {
    lanes16(acc, x, w, |a, x, w| *a += x * w);
}

/// [`mul_acc`] with AVX-512: whole 16-float vectors, fused multiply-add.
///
/// # Safety
/// The CPU must support AVX-512F (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn mul_acc_avx512(acc: &mut [f32], x: &[f32], w: &[f32]) {
    // SAFETY: the caller guarantees AVX-512F (this function's contract); every
    // pointer offset is below `n = acc.len()`, and `x`, `w` were sliced to `n` above.
    unsafe {
        use std::arch::x86_64::*;
        let n = acc.len();
        let (x, w) = (&x[..n], &w[..n]);
        let (ap, xp, wp) = (acc.as_mut_ptr(), x.as_ptr(), w.as_ptr());
        let mut i = 0;
        while i + 16 <= n {
            let v = _mm512_fmadd_ps(
                _mm512_loadu_ps(xp.add(i)),
                _mm512_loadu_ps(wp.add(i)),
                _mm512_loadu_ps(ap.add(i)),
            );
            _mm512_storeu_ps(ap.add(i), v);
            i += 16;
        }
        if i < n {
            mul_acc(&mut acc[i..], &x[i..], &w[i..]);
        }
    }
}

/// What one output row of a float depthwise convolution reads.
pub(super) struct DwF32<'a> {
    g: &'a ConvGeom,
    x: &'a [f32],
    /// `[kh * kw][oc]`.
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    mult: usize,
    clamp: Option<(f32, f32)>,
}

/// One output row: bias, then for every tap the run of output pixels it reaches, each a
/// channel-contiguous multiply-add over the pixel's `oc` accumulators.
/// `WIDE`: the caller has AVX-512.
#[inline(always)]
pub(super) fn dw_row_f32<const WIDE: bool>(d: &DwF32, row: usize, orow: &mut [f32]) {
    let g = d.g;
    let oc = g.ic * d.mult;
    match d.bias {
        Some(bv) => orow
            .chunks_exact_mut(oc)
            .for_each(|p| p.copy_from_slice(bv)),
        None => orow.fill(0.0),
    }
    let step = |a: &mut [f32], x: &[f32], w: &[f32]| {
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            // SAFETY: WIDE is only set by `dw_row_f32_avx512`, which requires AVX-512F.
            return unsafe { mul_acc_avx512(a, x, w) };
        }
        mul_acc(a, x, w)
    };
    dw_taps(g, d.x, d.w, d.mult, row, orow, step);
    if let Some((lo, hi)) = d.clamp {
        for v in orow.iter_mut() {
            *v = v.max(lo).min(hi);
        }
    }
}

/// Walks the taps of output row `row` (= batch * oh + oy) of a depthwise convolution: for every
/// tap and every output pixel it reaches, `step(pixel's oc accumulators, its input channels, the
/// tap's oc weights)`. With a depth multiplier above 1, each input channel is repeated `mult`
/// times (gathered into a scratch row) so the three slices line up. `x` is `[n][ih][iw][ic]`,
/// `w` is `[kh * kw][oc]`, `acc` is `[ow][oc]`.
#[inline(always)]
pub(crate) fn dw_taps<X: Copy + Default, W, A>(
    g: &ConvGeom,
    x: &[X],
    w: &[W],
    mult: usize,
    row: usize,
    acc: &mut [A],
    mut step: impl FnMut(&mut [A], &[X], &[W]),
) {
    let oc = g.ic * mult;
    let (b, oy) = (row / g.oh, row % g.oh);
    let mut xg = vec![X::default(); if mult == 1 { 0 } else { oc }];
    for ky in 0..g.kh {
        let Some(iy) = g.in_row(oy, ky) else {
            continue;
        };
        let xrow = &x[(b * g.ih + iy) * g.iw * g.ic..(b * g.ih + iy + 1) * g.iw * g.ic];
        for kx in 0..g.kw {
            let f = &w[(ky * g.kw + kx) * oc..(ky * g.kw + kx + 1) * oc];
            let (lo, hi) = g.valid_ox(kx);
            for ox in lo..hi {
                let ix = ox * g.sw + kx * g.dw - g.pw;
                let px = &xrow[ix * g.ic..(ix + 1) * g.ic];
                let a = &mut acc[ox * oc..(ox + 1) * oc];
                if mult == 1 {
                    step(a, px, f);
                } else {
                    for (o, v) in xg.iter_mut().enumerate() {
                        *v = px[o / mult];
                    }
                    step(a, &xg, f);
                }
            }
        }
    }
}

/// # Safety
/// The CPU must support AVX-512F (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dw_row_f32_avx512(d: &DwF32, row: usize, orow: &mut [f32]) {
    // SAFETY: AVX-512F is enabled here (this function's contract), all `dw_row_f32_reg` needs.
    unsafe {
        if d.mult == 1 {
            return dw_row_f32_reg(d, row, orow);
        }
        dw_row_f32::<true>(d, row, orow)
    }
}

/// Depth multiplier 1: for each pixel and 16 channels, the taps accumulate in one register,
/// then bias, clamp and store. Interior pixels share one list of tap offsets.
///
/// # Safety
/// The CPU must support AVX-512F (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dw_row_f32_reg(d: &DwF32, row: usize, orow: &mut [f32]) {
    // SAFETY: AVX-512F is enabled (this function's contract). The asserts above bound `orow`,
    // `d.w` and `d.x`; `DwTaps` yields only taps inside the image, so every input offset plus the
    // pixel's shift and channel lies in `d.x`, every weight offset in `d.w`, and each store covers
    // channels `c..c + 16` of pixel `ox` in `orow` (the last one masked).
    unsafe {
        use crate::engine::kernels::tiles::mask16;
        use std::arch::x86_64::*;
        let g = d.g;
        let oc = g.ic;
        let (b, oy) = (row / g.oh, row % g.oh);
        assert!(orow.len() >= g.ow * oc && d.w.len() >= g.kh * g.kw * oc);
        assert!(d.x.len() >= g.n * g.ih * g.iw * g.ic);
        assert!(d.bias.is_none_or(|bv| bv.len() >= oc));
        let (xp, wp, dst) = (d.x.as_ptr(), d.w.as_ptr(), orow.as_mut_ptr());
        let clamp = d
            .clamp
            .map(|(lo, hi)| (_mm512_set1_ps(lo), _mm512_set1_ps(hi)));
        let mut taps = DwTaps::new(&g, b, oy, oc);
        let (ilo, ihi) = (taps.ilo, taps.ihi);
        let mut ox = 0;
        while ox < g.ow {
            if ox >= ilo && ox + 4 <= ihi {
                // Four interior pixels at once: each weight vector is loaded once for all four.
                let sh: [isize; 4] = std::array::from_fn(|p| ((ox + p) * g.sw * g.ic) as isize);
                let mut c = 0;
                while c < oc {
                    let mask: __mmask16 = mask16(oc - c);
                    let b0 = match d.bias {
                        Some(bv) => _mm512_maskz_loadu_ps(mask, bv.as_ptr().add(c)),
                        None => _mm512_setzero_ps(),
                    };
                    let mut acc = [b0; 4];
                    for &(xo, wo) in taps.at(&g, ox) {
                        let wv = _mm512_maskz_loadu_ps(mask, wp.add(wo + c));
                        for p in 0..4 {
                            let xv = _mm512_maskz_loadu_ps(mask, xp.offset(xo + sh[p]).add(c));
                            acc[p] = _mm512_fmadd_ps(xv, wv, acc[p]);
                        }
                    }
                    for (p, mut a) in acc.into_iter().enumerate() {
                        if let Some((lo, hi)) = clamp {
                            a = _mm512_min_ps(_mm512_max_ps(a, lo), hi);
                        }
                        _mm512_mask_storeu_ps(dst.add((ox + p) * oc + c), mask, a);
                    }
                    c += 16;
                }
                ox += 4;
                continue;
            }
            let shift = (ox * g.sw * g.ic) as isize;
            let taps = taps.at(&g, ox);
            let mut c = 0;
            while c < oc {
                let mask: __mmask16 = mask16(oc - c);
                let mut acc = match d.bias {
                    Some(bv) => _mm512_maskz_loadu_ps(mask, bv.as_ptr().add(c)),
                    None => _mm512_setzero_ps(),
                };
                for &(xo, wo) in taps {
                    let xv = _mm512_maskz_loadu_ps(mask, xp.offset(xo + shift).add(c));
                    let wv = _mm512_maskz_loadu_ps(mask, wp.add(wo + c));
                    acc = _mm512_fmadd_ps(xv, wv, acc);
                }
                if let Some((lo, hi)) = clamp {
                    acc = _mm512_min_ps(_mm512_max_ps(acc, lo), hi);
                }
                _mm512_mask_storeu_ps(dst.add(ox * oc + c), mask, acc);
                c += 16;
            }
            ox += 1;
        }
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA (checked by the caller through `engine::simd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dw_row_f32_avx2(d: &DwF32, row: usize, orow: &mut [f32]) {
    dw_row_f32::<false>(d, row, orow)
}

pub(super) fn dw_row_f32_dispatch(d: &DwF32, row: usize, orow: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::engine::simd::avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { dw_row_f32_avx512(d, row, orow) };
        }
        if crate::engine::simd::avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { dw_row_f32_avx2(d, row, orow) };
        }
    }
    dw_row_f32::<false>(d, row, orow)
}

pub fn depthwise_conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let [_, _, _, c] = dims4(x, "input")?;
    let [one, kh, kw, oc] = dims4(w, "filter")?;
    // TFLite's Prepare: the filter is [1, kh, kw, channels].
    if one != 1 {
        bail!(
            "a depthwise filter is [1, height, width, channels], got {:?}",
            w.shape()
        );
    }
    if c == 0 || oc % c != 0 {
        bail!("filter depth {oc} is not a multiple of input depth {c}");
    }
    let g = geom::conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let bias = bias_vec(ctx, 2, oc)?;
    let xs = contiguous(x);
    let ws = contiguous(w);
    let mut out = vec![0f32; g.pixels() * oc];
    let act = ctx.activation();
    apply_act(&mut [], act)?;
    let d = DwF32 {
        g: &g,
        x: &xs,
        w: &ws,
        bias: bias.as_deref(),
        mult: oc / c,
        clamp: act_clamp(act),
    };
    let rest = act_rest(act);
    if !out.is_empty() {
        out.par_chunks_mut(g.ow * oc)
            .enumerate()
            .for_each(|(row, orow)| {
                dw_row_f32_dispatch(&d, row, orow);
                if rest.is_some() {
                    let _ = apply_act(orow, rest);
                }
            });
    }
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[g.n, g.oh, g.ow, oc]), out).unwrap(),
    )])
}
