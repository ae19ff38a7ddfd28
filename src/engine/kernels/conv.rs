//! CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, MediaPipe's Convolution2DTransposeBias,
//! FULLY_CONNECTED and BATCH_MATMUL in float32. CONV_2D runs the packed-weight GEMM of
//! [`sgemm`] on the input itself (1x1) or on tiles of im2col rows, with the weights packed once
//! per op; DEPTHWISE_CONV_2D accumulates whole output rows channel-contiguously. The rest use
//! matrixmultiply. Work is split over rayon in blocks of output rows.

pub mod geom;
pub mod sgemm;

use super::{apply_act, bail, OpCtx};
use crate::engine::{EngineError, Value};
pub use geom::{out_and_pad, ConvGeom, DwTaps};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use sgemm::{Epilogue, PackedB};
use tract_tflite::tflite::Padding;

/// C[m×n] = A[m×k]·B[k×n] + beta·C with arbitrary strides.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    debug_assert!(c.len() >= (m - 1) * rsc + n);
    if k > 0 {
        debug_assert!(a.len() > (m - 1) * rsa + (k - 1) * csa);
        debug_assert!(b.len() > (k - 1) * rsb + (n - 1) * csb);
    }
    // SAFETY: the slices cover every element addressed by the strides (checked above in debug).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

fn bias_vec(ctx: &OpCtx, i: usize, n: usize) -> Result<Option<Vec<f32>>, EngineError> {
    match ctx.opt_input(i) {
        None => Ok(None),
        Some(v) => {
            let b = v
                .as_f32()
                .map_err(|e| EngineError::msg(format!("bias: {e}")))?;
            if b.len() != n {
                bail!("bias has {} values, expected {n}", b.len());
            }
            Ok(Some(b.iter().copied().collect()))
        }
    }
}

fn dims4(a: &ArrayD<f32>, what: &str) -> Result<[usize; 4], EngineError> {
    let s = a.shape();
    if s.len() != 4 {
        bail!("{what} must be 4-D, got shape {s:?}");
    }
    Ok([s[0], s[1], s[2], s[3]])
}

fn contiguous(a: &ArrayD<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// A fused activation as a clamp range for the GEMM's epilogue; `None` when there is no
/// activation or it is not a clamp (TANH, SIGN_BIT run afterwards).
fn act_clamp(act: Option<&str>) -> Option<(f32, f32)> {
    match act {
        Some("RELU") => Some((0.0, f32::INFINITY)),
        Some("RELU6") => Some((0.0, 6.0)),
        Some("RELU_N1_TO_1") => Some((-1.0, 1.0)),
        _ => None,
    }
}

/// The activations that are not a clamp, applied after the GEMM.
fn act_rest(act: Option<&str>) -> Option<&str> {
    match act {
        Some("TANH") | Some("SIGN_BIT") => act,
        _ => None,
    }
}

/// Output pixels per im2col tile: a few rows of 12-pixel register tiles, small enough that
/// the tile stays in L1/L2 between im2col and the GEMM.
const IM2COL_TILE: usize = 96;

/// Fills `col` (`p1 - p0` rows of `kh*kw*fic`) with the window of output pixels `p0..p1`,
/// reading input channels `c0..c0 + fic`; taps outside the image are 0.
fn im2col_f32(
    x: &[f32],
    g: &ConvGeom,
    c0: usize,
    fic: usize,
    p0: usize,
    p1: usize,
    col: &mut [f32],
) {
    let k = g.kh * g.kw * fic;
    for (i, p) in (p0..p1).enumerate() {
        let (b, oy, ox) = (p / (g.oh * g.ow), p / g.ow % g.oh, p % g.ow);
        let dst = &mut col[i * k..(i + 1) * k];
        // With every column tap inside the image, undilated and ungrouped, one kernel row
        // reads `kw * ic` contiguous values.
        let run = g.dw == 1 && fic == g.ic && g.kw > 0 && g.in_col(ox, 0).is_some();
        let run = run && g.in_col(ox, g.kw - 1).is_some();
        for ky in 0..g.kh {
            let d = &mut dst[ky * g.kw * fic..(ky + 1) * g.kw * fic];
            let Some(iy) = g.in_row(oy, ky) else {
                d.fill(0.0);
                continue;
            };
            if run {
                let s = ((b * g.ih + iy) * g.iw + g.in_col(ox, 0).unwrap()) * g.ic;
                d.copy_from_slice(&x[s..s + g.kw * fic]);
                continue;
            }
            for kx in 0..g.kw {
                let dd = &mut d[kx * fic..(kx + 1) * fic];
                match g.in_col(ox, kx) {
                    Some(ix) => {
                        let s = ((b * g.ih + iy) * g.iw + ix) * g.ic + c0;
                        dd.copy_from_slice(&x[s..s + fic]);
                    }
                    None => dd.fill(0.0),
                }
            }
        }
    }
}

/// Float convolution with `groups` groups: `x` NHWC, `packed[gi]` the weights of group `gi`
/// (its `n` output channels by `kh*kw*ic/groups`), output NHWC with the groups' channels
/// side by side.
pub fn conv2d_f32(
    g: &ConvGeom,
    x: &[f32],
    packed: &[PackedB],
    bias: Option<&[f32]>,
    act: Option<&str>,
) -> Result<Vec<f32>, EngineError> {
    apply_act(&mut [], act)?; // rejects unknown activations up front
    let groups = packed.len().max(1);
    let fic = g.ic / groups;
    let oc: usize = packed.iter().map(|p| p.n).sum();
    let k = g.kh * g.kw * fic;
    let pixels = g.pixels();
    let mut out = vec![0f32; pixels * oc];
    if out.is_empty() {
        return Ok(out);
    }
    let clamp = act_clamp(act);
    let rest = act_rest(act);
    let pointwise = g.is_pointwise();
    // Pixels per task: one block per thread, in whole im2col tiles.
    let threads = rayon::current_num_threads().max(1);
    let per = pixels.div_ceil(threads).div_ceil(IM2COL_TILE) * IM2COL_TILE;
    out.par_chunks_mut(per * oc).enumerate().for_each_init(
        Vec::new,
        |col: &mut Vec<f32>, (blk, c)| {
            let p0 = blk * per;
            let m = c.len() / oc;
            let mut c0 = 0;
            for (gi, pb) in packed.iter().enumerate() {
                let ep = Epilogue {
                    bias: bias.map(|b| &b[c0..c0 + pb.n]),
                    clamp,
                };
                if pointwise {
                    let a = &x[p0 * g.ic + gi * fic..];
                    sgemm::gemm(a, g.ic, m, pb, &ep, &mut c[c0..], oc);
                } else {
                    col.resize(IM2COL_TILE * k, 0.0);
                    let mut t = 0;
                    while t < m {
                        let tm = (m - t).min(IM2COL_TILE);
                        im2col_f32(x, g, gi * fic, fic, p0 + t, p0 + t + tm, col);
                        sgemm::gemm(col, k, tm, pb, &ep, &mut c[t * oc + c0..], oc);
                        t += tm;
                    }
                }
                c0 += pb.n;
            }
            if rest.is_some() {
                let _ = apply_act(c, rest);
            }
        },
    );
    Ok(out)
}

/// The packed weights of each group of a CONV_2D filter `[oc, kh, kw, fic]`.
fn pack_groups(w: &[f32], oc: usize, k: usize, groups: usize) -> Vec<PackedB> {
    let per = oc / groups;
    (0..groups)
        .map(|gi| PackedB::new(&w[gi * per * k..], per, k, k))
        .collect()
}

/// Weights and bias of a float CONV_2D, derived once per op.
struct ConvPrep {
    packed: Vec<PackedB>,
    bias: Option<Vec<f32>>,
}

pub fn conv2d(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let [_, _, _, c] = dims4(x, "input")?;
    let [oc, kh, kw, fic] = dims4(w, "filter")?;
    // TFLite's grouped convolution: the filter sees `fic` channels, groups = c / fic, and
    // each group has oc / groups output channels.
    if fic == 0 || !c.is_multiple_of(fic) || !oc.is_multiple_of((c / fic).max(1)) {
        bail!(
            "input depth {c} and filter {:?} do not form groups",
            w.shape()
        );
    }
    let groups = c / fic;
    let g = geom::conv_geom(ctx, x.shape(), kh, kw, oc)?;
    let prep = ctx.prepared(&[1, 2], || {
        Ok(ConvPrep {
            packed: pack_groups(&contiguous(w), oc, kh * kw * fic, groups),
            bias: bias_vec(ctx, 2, oc)?,
        })
    })?;
    let out = conv2d_f32(
        &g,
        &contiguous(x),
        &prep.packed,
        prep.bias.as_deref(),
        ctx.activation(),
    )?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[g.n, g.oh, g.ow, oc]), out).unwrap(),
    )])
}

/// `acc[i] += x[i] * w[i]`, in 16-wide chunks the compiler turns into whole vectors.
#[inline(always)]
fn mul_acc(acc: &mut [f32], x: &[f32], w: &[f32]) {
    let n = acc.len();
    let (x, w) = (&x[..n], &w[..n]);
    let mut ac = acc.chunks_exact_mut(16);
    let mut xc = x.chunks_exact(16);
    let mut wc = w.chunks_exact(16);
    for ((a, xv), wv) in (&mut ac).zip(&mut xc).zip(&mut wc) {
        let a: &mut [f32; 16] = a.try_into().unwrap();
        let xv: &[f32; 16] = xv.try_into().unwrap();
        let wv: &[f32; 16] = wv.try_into().unwrap();
        for i in 0..16 {
            a[i] += xv[i] * wv[i];
        }
    }
    for ((a, &xv), &wv) in ac
        .into_remainder()
        .iter_mut()
        .zip(xc.remainder())
        .zip(wc.remainder())
    {
        *a += xv * wv;
    }
}

/// [`mul_acc`] with AVX-512: whole 16-float vectors, fused multiply-add.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn mul_acc_avx512(acc: &mut [f32], x: &[f32], w: &[f32]) {
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

/// What one output row of a float depthwise convolution reads.
struct DwF32<'a> {
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
fn dw_row_f32<const WIDE: bool>(d: &DwF32, row: usize, orow: &mut [f32]) {
    let g = d.g;
    let oc = g.ic * d.mult;
    let (b, oy) = (row / g.oh, row % g.oh);
    match d.bias {
        Some(bv) => orow
            .chunks_exact_mut(oc)
            .for_each(|p| p.copy_from_slice(bv)),
        None => orow.fill(0.0),
    }
    let mut xg = vec![0f32; if d.mult == 1 { 0 } else { oc }];
    let step = |a: &mut [f32], x: &[f32], w: &[f32]| {
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            // SAFETY: WIDE is only set by `dw_row_f32_avx512`, which requires AVX-512F.
            return unsafe { mul_acc_avx512(a, x, w) };
        }
        mul_acc(a, x, w)
    };
    for ky in 0..g.kh {
        let Some(iy) = g.in_row(oy, ky) else {
            continue;
        };
        let xrow = &d.x[(b * g.ih + iy) * g.iw * g.ic..(b * g.ih + iy + 1) * g.iw * g.ic];
        for kx in 0..g.kw {
            let f = &d.w[(ky * g.kw + kx) * oc..(ky * g.kw + kx + 1) * oc];
            let (lo, hi) = g.valid_ox(kx);
            for ox in lo..hi {
                let ix = ox * g.sw + kx * g.dw - g.pw;
                let px = &xrow[ix * g.ic..(ix + 1) * g.ic];
                let acc = &mut orow[ox * oc..(ox + 1) * oc];
                if d.mult == 1 {
                    step(acc, px, f);
                } else {
                    for (o, v) in xg.iter_mut().enumerate() {
                        *v = px[o / d.mult];
                    }
                    step(acc, &xg, f);
                }
            }
        }
    }
    if let Some((lo, hi)) = d.clamp {
        for v in orow.iter_mut() {
            *v = v.max(lo).min(hi);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dw_row_f32_avx512(d: &DwF32, row: usize, orow: &mut [f32]) {
    if d.mult == 1 {
        return dw_row_f32_reg(d, row, orow);
    }
    dw_row_f32::<true>(d, row, orow)
}

/// Depth multiplier 1: for each pixel and 16 channels, the taps accumulate in one register,
/// then bias, clamp and store. Interior pixels share one list of tap offsets.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dw_row_f32_reg(d: &DwF32, row: usize, orow: &mut [f32]) {
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
                let valid = (oc - c).min(16);
                let mask: __mmask16 = if valid == 16 {
                    0xffff
                } else {
                    (1 << valid) - 1
                };
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
            let valid = (oc - c).min(16);
            let mask: __mmask16 = if valid == 16 {
                0xffff
            } else {
                (1 << valid) - 1
            };
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw_row_f32_avx2(d: &DwF32, row: usize, orow: &mut [f32]) {
    dw_row_f32::<false>(d, row, orow)
}

fn dw_row_f32_dispatch(d: &DwF32, row: usize, orow: &mut [f32]) {
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
    let [_, kh, kw, oc] = dims4(w, "filter")?;
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

/// Transposed convolution: `x` NHWC [n,h,w,ic], `wt` [oc,kh,kw,ic], output [n,oh,ow,oc].
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv_f32(
    x: &[f32],
    [n, h, w, ic]: [usize; 4],
    wt: &[f32],
    [oc, kh, kw]: [usize; 3],
    [oh, ow]: [usize; 2],
    [sh, sw]: [usize; 2],
    [ph, pw]: [usize; 2],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let m = n * h * w;
    let cols = oc * kh * kw;
    let mut col = vec![0f32; m * cols];
    if m > 0 && cols > 0 {
        let rows_per = 256;
        col.par_chunks_mut(rows_per * cols)
            .enumerate()
            .for_each(|(blk, c)| {
                let r0 = blk * rows_per;
                let mm = c.len() / cols;
                gemm(
                    mm,
                    ic,
                    cols,
                    &x[r0 * ic..(r0 + mm) * ic],
                    ic,
                    1,
                    wt,
                    1,
                    ic,
                    0.0,
                    c,
                    cols,
                );
            });
    }
    let mut out = vec![0f32; n * oh * ow * oc];
    for b in 0..n {
        let ob = &mut out[b * oh * ow * oc..(b + 1) * oh * ow * oc];
        if let Some(bv) = bias {
            for px in ob.chunks_exact_mut(oc) {
                px.copy_from_slice(bv);
            }
        }
        for iy in 0..h {
            for ix in 0..w {
                let crow = &col[((b * h + iy) * w + ix) * cols..((b * h + iy) * w + ix + 1) * cols];
                for ky in 0..kh {
                    let oy = (iy * sh + ky) as isize - ph as isize;
                    if oy < 0 || oy >= oh as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ox = (ix * sw + kx) as isize - pw as isize;
                        if ox < 0 || ox >= ow as isize {
                            continue;
                        }
                        let dst = &mut ob[(oy as usize * ow + ox as usize) * oc..][..oc];
                        for (o, d) in dst.iter_mut().enumerate() {
                            *d += crow[(o * kh + ky) * kw + kx];
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn transpose_conv(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let shape = ctx.in_ints(0)?;
    let w = ctx.in_f32(1)?;
    let x = ctx.in_f32(2)?;
    let o = ctx
        .fb
        .builtin_options_as_transpose_conv_options()
        .ok_or_else(|| EngineError::msg("TRANSPOSE_CONV without options"))?;
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c || shape.len() != 4 {
        bail!("filter depth {ic} vs input depth {c}, output_shape {shape:?}");
    }
    if shape.iter().any(|&d| d < 0) {
        bail!("negative output_shape {shape:?}");
    }
    let (oh, ow) = (shape[1] as usize, shape[2] as usize);
    crate::engine::limits::check_alloc(&[n, oh, ow, oc], 4, "TRANSPOSE_CONV output")?;
    if shape[3] as usize != oc || shape[0] as usize != n {
        bail!("output_shape {shape:?} does not match batch {n} / filter count {oc}");
    }
    let same = o.padding() == Padding::SAME;
    let (sh, sw) = (o.stride_h().max(1) as usize, o.stride_w().max(1) as usize);
    let (_, ph) = out_and_pad(oh, kh, sh, 1, same);
    let (_, pw) = out_and_pad(ow, kw, sw, 1, same);
    let bias = bias_vec(ctx, 3, oc)?;
    let mut out = transpose_conv_f32(
        &contiguous(x),
        [n, h, wd, c],
        &contiguous(w),
        [oc, kh, kw],
        [oh, ow],
        [sh, sw],
        [ph, pw],
        bias.as_deref(),
    );
    apply_act(&mut out, ctx.activation())?;
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}

/// MediaPipe's custom transposed convolution with bias; options are TfLiteTransposeConvParams
/// (padding: 1 SAME / 2 VALID, stride_width, stride_height as i32).
pub fn conv2d_transpose_bias(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let x = ctx.in_f32(0)?;
    let w = ctx.in_f32(1)?;
    let opts = ctx
        .fb
        .custom_options()
        .map(|v| v.bytes().to_vec())
        .unwrap_or_default();
    if opts.len() < 12 {
        bail!(
            "custom options are {} bytes, expected at least 12",
            opts.len()
        );
    }
    let rd = |i: usize| i32::from_le_bytes(opts[i * 4..i * 4 + 4].try_into().unwrap());
    let (padding, sw, sh) = (rd(0), rd(1).max(1) as usize, rd(2).max(1) as usize);
    let [n, h, wd, c] = dims4(x, "input")?;
    let [oc, kh, kw, ic] = dims4(w, "filter")?;
    if ic != c {
        bail!("filter depth {ic} vs input depth {c}");
    }
    let (pth, ptw) = if padding == 1 {
        (
            (kh as i64 - ((h as i64 - 1) % sh as i64) - 1).max(0) as usize,
            (kw as i64 - ((wd as i64 - 1) % sw as i64) - 1).max(0) as usize,
        )
    } else {
        (0, 0)
    };
    let oh = sh * (h.max(1) - 1) + kh - pth;
    let ow = sw * (wd.max(1) - 1) + kw - ptw;
    let bias = bias_vec(ctx, 2, oc)?;
    let out = transpose_conv_f32(
        &contiguous(x),
        [n, h, wd, c],
        &contiguous(w),
        [oc, kh, kw],
        [oh, ow],
        [sh, sw],
        [pth / 2, ptw / 2],
        bias.as_deref(),
    );
    Ok(vec![Value::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, oh, ow, oc]), out).unwrap(),
    )])
}

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
fn batch_offset(idx: usize, out: &[usize], shape: &[usize]) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_same_padding_hand_computed() {
        // 1x3x3x1 input 1..9, 3x3 all-ones filter, SAME stride 2: out 2x2;
        // total pad = (1*2+3-3)=2 -> 1 before. out[0,0] = sum of x[0..2,0..2] = 1+2+4+5 = 12.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let w = vec![1f32; 9];
        let g = ConvGeom::new(&[1, 3, 3, 1], (3, 3), (2, 2), (1, 1), true).unwrap();
        assert_eq!((g.oh, g.ph), (2, 1));
        let w = [PackedB::new(&w, 1, 9, 9)];
        let out = conv2d_f32(&g, &x, &w, Some(&[0.5]), None).unwrap();
        // [1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9] + 0.5
        assert_eq!(out, vec![12.5, 16.5, 24.5, 28.5]);
    }

    #[test]
    fn transpose_conv_hand_computed() {
        // 1x2x2x1 input [1,2,3,4], 2x2 ones filter, stride 2, VALID: each input spreads to a
        // 2x2 block of a 4x4 output.
        let out = transpose_conv_f32(
            &[1., 2., 3., 4.],
            [1, 2, 2, 1],
            &[1.; 4],
            [1, 2, 2],
            [4, 4],
            [2, 2],
            [0, 0],
            None,
        );
        assert_eq!(out[0], 1.0);
        assert_eq!(out[3], 2.0);
        assert_eq!(out[15], 4.0);
        assert_eq!(out[8], 3.0);
    }
}
