//! The accumulator passes over a tensor's bytes: one pass of per-channel integer histograms
//! for stored int4/int8/uint8 (every statistic exact), moments and adaptive histograms for
//! wide integers and floats, and the clip histograms simulated quantization needs.

use super::*;

/// Per-channel quantization parameters (as f64), with the quantization range.
#[derive(Clone, Debug)]
pub(super) struct QParams {
    pub(super) s: Vec<f64>,
    pub(super) z: Vec<i64>,
    pub(super) range: (i64, i64),
}

impl QParams {
    fn clips(&self) -> Vec<(f64, f64)> {
        self.s
            .iter()
            .zip(&self.z)
            .map(|(&s, &z)| clip_thresholds(s, z, self.range.0, self.range.1))
            .collect()
    }
}

pub(super) enum Source<'a> {
    /// Blockwise: stored, or simulated with `Scheme::block_size`.
    Blocks(BlockTensor<'a>),
    Stored(Ints<'a>),
    Simulated(Floats<'a>, Scheme),
    Float(Floats<'a>),
}

// ---- accumulators -------------------------------------------------------------------------

/// One error accumulator per channel when there is a reference, else none.
fn error_accs(has_ref: bool, nc: usize) -> Vec<ErrorAcc> {
    if has_ref {
        vec![ErrorAcc::default(); nc]
    } else {
        Vec::new()
    }
}

pub(super) fn merge_errs(a: &mut [ErrorAcc], b: &[ErrorAcc]) {
    a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y));
}

pub(super) fn merge_moms(a: &mut [Moments], b: &[Moments]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x = x.merge(y));
}

pub(super) struct NarrowAcc {
    pub(super) counts: Vec<u64>,
    pub(super) err: Vec<ErrorAcc>,
}

pub(super) struct WideAcc {
    pub(super) mom: Vec<Moments>,
    pub(super) bits: Vec<u64>,
    pub(super) sat: Vec<u64>,
    pub(super) err: Vec<ErrorAcc>,
}

pub(super) struct FloatAcc {
    pub(super) mom: Vec<Moments>,
    pub(super) err: Vec<ErrorAcc>,
}

/// Result of the integer passes, per channel.
pub(super) struct IntResult {
    /// Narrow: `counts[c * bins + (q - qmin)]`.
    pub(super) counts: Option<(Vec<u64>, usize, i64)>,
    pub(super) mom: Vec<Moments>,
    pub(super) levels: Vec<Option<u64>>,
    pub(super) levels_total: Option<u64>,
    pub(super) sat: Vec<u64>,
    pub(super) err: Option<Vec<ErrorAcc>>,
    pub(super) int_hist: Histogram,
    pub(super) real_hist: Option<Histogram>,
    pub(super) channel_hists: Option<Vec<Histogram>>,
}

/// Quantized values of a segment: stored wide, or simulated from the floats.
#[inline]
pub(super) fn wide_q<'b>(
    seg: &'b crate::quant::scan::Seg<'_>,
    sim: Option<&QParams>,
    buf: &'b mut [i64],
) -> &'b [i64] {
    match sim {
        None => seg.wide,
        Some(p) => {
            let (s, z) = (p.s[seg.c], p.z[seg.c]);
            for (o, &v) in buf.iter_mut().zip(seg.v) {
                *o = simulate::quantize(v, s, z, p.range.0, p.range.1);
            }
            &buf[..seg.v.len()]
        }
    }
}

/// The integer passes of a stored or simulated quantized tensor.
#[allow(clippy::too_many_arguments)]
pub(super) fn int_passes(
    layout: Layout,
    dtype: DType,
    ints: Option<Ints<'_>>,
    own: Option<Floats<'_>>,
    reference: Option<Floats<'_>>,
    p: &QParams,
    simulated: bool,
    channel_hists: bool,
) -> IntResult {
    let nc = layout.channels;
    let has_ref = reference.is_some() || simulated;
    let clips = p.clips();
    let sim = simulated.then_some(p);
    if let Some((nb, qmin)) = crate::quant::scan::narrow_bins(dtype) {
        let table: Vec<f64> = (0..nc)
            .flat_map(|c| (0..nb).map(move |k| (c, k)))
            .map(|(c, k)| p.s[c] * ((qmin + k as i64) - p.z[c]) as f64)
            .collect();
        // Statistics only of stored int8/uint8: count raw bytes, no decoding.
        let raw = match ints {
            Some(Ints::Narrow(Narrow::I8(b))) if reference.is_none() => Some((b, 0x80u8)),
            Some(Ints::Narrow(Narrow::U8(b))) if reference.is_none() => Some((b, 0u8)),
            _ => None,
        };
        let acc = scan(
            layout,
            if raw.is_some() { None } else { ints },
            own,
            reference,
            || NarrowAcc {
                counts: vec![0; nc * nb],
                err: error_accs(has_ref, nc),
            },
            |acc, seg| {
                let c = seg.c;
                let cnt = &mut acc.counts[c * nb..(c + 1) * nb];
                if let Some((bytes, flip)) = raw {
                    // Four sub-histograms: consecutive equal bytes do not wait on each other.
                    let mut h = [[0u32; 256]; 4];
                    let data = &bytes[seg.start..seg.start + seg.len];
                    for part in data.chunks(1 << 30) {
                        let mut it = part.chunks_exact(4);
                        for q in &mut it {
                            h[0][q[0] as usize] += 1;
                            h[1][q[1] as usize] += 1;
                            h[2][q[2] as usize] += 1;
                            h[3][q[3] as usize] += 1;
                        }
                        for &b in it.remainder() {
                            h[0][b as usize] += 1;
                        }
                    }
                    for b in 0..256 {
                        let n = h[0][b] as u64 + h[1][b] as u64 + h[2][b] as u64 + h[3][b] as u64;
                        cnt[(b as u8 ^ flip) as usize] += n;
                    }
                    return;
                }
                match sim {
                    None if seg.x.is_empty() => {
                        for &i in seg.idx {
                            cnt[i as usize] += 1;
                        }
                    }
                    None => {
                        let tb = &table[c * nb..(c + 1) * nb];
                        let (lo, hi) = clips[c];
                        for &i in seg.idx {
                            cnt[i as usize] += 1;
                        }
                        acc.err[c].push_table(seg.idx, seg.x, tb, lo, hi);
                    }
                    Some(p) => {
                        let (s, z) = (p.s[c], p.z[c]);
                        let tb = &table[c * nb..(c + 1) * nb];
                        let (lo, hi) = clips[c];
                        let mut ib = [0u8; BLOCK];
                        for (o, &x) in ib.iter_mut().zip(seg.v) {
                            *o = (simulate::quantize(x, s, z, p.range.0, p.range.1) - qmin) as u8;
                        }
                        let ib = &ib[..seg.v.len()];
                        for &k in ib {
                            cnt[k as usize] += 1;
                        }
                        acc.err[c].push_table(ib, seg.v, tb, lo, hi);
                    }
                }
            },
            |mut a, b| {
                a.counts
                    .iter_mut()
                    .zip(&b.counts)
                    .for_each(|(x, y)| *x += y);
                merge_errs(&mut a.err, &b.err);
                a
            },
        );
        let counts = acc.counts;
        let mut mom = Vec::with_capacity(nc);
        let mut levels = Vec::with_capacity(nc);
        let mut sat = Vec::with_capacity(nc);
        let (rlo, rhi) = ((p.range.0 - qmin) as usize, (p.range.1 - qmin) as usize);
        let mut total = vec![0u64; nb];
        for c in 0..nc {
            let cc = &counts[c * nb..(c + 1) * nb];
            mom.push(Moments::of_counts(cc, |k| (qmin + k as i64) as f64));
            levels.push(Some(cc.iter().filter(|&&n| n > 0).count() as u64));
            sat.push(
                cc.iter()
                    .enumerate()
                    .filter(|(k, _)| *k <= rlo || *k >= rhi)
                    .map(|(_, n)| n)
                    .sum(),
            );
            total.iter_mut().zip(cc).for_each(|(t, n)| *t += n);
        }
        let edges: Vec<f64> = (0..=nb).map(|k| (qmin + k as i64) as f64).collect();
        let real_hist = if nc == 1 {
            Some(Histogram {
                edges: edges
                    .iter()
                    .map(|e| p.s[0] * (e - 0.5 - p.z[0] as f64))
                    .collect(),
                counts: total.clone(),
            })
        } else {
            let (lo, hi) = mom.iter().enumerate().fold(
                (f64::INFINITY, f64::NEG_INFINITY),
                |(lo, hi), (c, m)| {
                    let r = m.affine(p.s[c], p.z[c] as f64);
                    (lo.min(r.min), hi.max(r.max))
                },
            );
            (lo <= hi).then(|| {
                let b = Binner::new(lo, hi, ADAPTIVE_BINS);
                let mut rc = vec![0u64; b.bins()];
                for c in 0..nc {
                    for (k, &n) in counts[c * nb..(c + 1) * nb].iter().enumerate() {
                        if n > 0 {
                            let v = p.s[c] * ((qmin + k as i64) - p.z[c]) as f64;
                            if let Some(i) = b.bin(v) {
                                rc[i] += n;
                            }
                        }
                    }
                }
                b.into_histogram(rc)
            })
        };
        let channel_hists = (channel_hists && nc > 1).then(|| {
            (0..nc)
                .map(|c| Histogram {
                    edges: edges.clone(),
                    counts: counts[c * nb..(c + 1) * nb].to_vec(),
                })
                .collect()
        });
        let levels_total = Some(total.iter().filter(|&&n| n > 0).count() as u64);
        return IntResult {
            counts: Some((counts, nb, qmin)),
            mom,
            levels,
            levels_total,
            sat,
            err: has_ref.then_some(acc.err),
            int_hist: Histogram {
                edges,
                counts: total,
            },
            real_hist,
            channel_hists,
        };
    }

    // Wide integers: moments, level bitsets (int16), saturation, errors; then histograms.
    let bitset = matches!(dtype, DType::I16);
    let words = 65536 / 64;
    let acc = scan(
        layout,
        ints,
        own,
        reference,
        || WideAcc {
            mom: vec![Moments::default(); nc],
            bits: if bitset {
                vec![0; nc * words]
            } else {
                Vec::new()
            },
            sat: vec![0; nc],
            err: error_accs(has_ref, nc),
        },
        |acc, seg| {
            let c = seg.c;
            let mut qb = [0i64; BLOCK];
            let q = wide_q(&seg, sim, &mut qb);
            let mut f = [0f64; BLOCK];
            for (o, &v) in f.iter_mut().zip(q) {
                *o = v as f64;
            }
            acc.mom[c] = acc.mom[c].merge(&Moments::of_slice(&f[..q.len()]));
            acc.sat[c] += q
                .iter()
                .filter(|&&v| v <= p.range.0 || v >= p.range.1)
                .count() as u64;
            if bitset {
                let bits = &mut acc.bits[c * words..(c + 1) * words];
                for &v in q {
                    let k = (v + 32768) as usize;
                    bits[k / 64] |= 1 << (k % 64);
                }
            }
            if has_ref {
                let xs = if simulated { seg.v } else { seg.x };
                let (s, z) = (p.s[c], p.z[c]);
                let (lo, hi) = clips[c];
                let e = &mut acc.err[c];
                for (&v, &x) in q.iter().zip(xs) {
                    e.push(x, dequantize(s, v, z), lo, hi);
                }
            }
        },
        |mut a, b| {
            merge_moms(&mut a.mom, &b.mom);
            a.bits.iter_mut().zip(&b.bits).for_each(|(x, y)| *x |= y);
            a.sat.iter_mut().zip(&b.sat).for_each(|(x, y)| *x += y);
            merge_errs(&mut a.err, &b.err);
            a
        },
    );
    let (levels, levels_total) = if bitset {
        let per: Vec<Option<u64>> = (0..nc)
            .map(|c| {
                Some(
                    acc.bits[c * words..(c + 1) * words]
                        .iter()
                        .map(|w| w.count_ones() as u64)
                        .sum(),
                )
            })
            .collect();
        let mut union = vec![0u64; words];
        for c in 0..nc {
            union
                .iter_mut()
                .zip(&acc.bits[c * words..(c + 1) * words])
                .for_each(|(u, w)| *u |= w);
        }
        (per, Some(union.iter().map(|w| w.count_ones() as u64).sum()))
    } else if layout.n <= MAX_LEVELS_ELEMENTS {
        // int32/int64 (biases): sort a copy of (channel, value).
        let mut all: Vec<(usize, i64)> = Vec::with_capacity(layout.n);
        let mut qb = vec![0i64; layout.n];
        if let Some(Ints::Wide(w)) = ints {
            w.decode(0..layout.n, &mut qb);
        }
        for (i, &q) in qb.iter().enumerate() {
            all.push((layout.channel(i), q));
        }
        all.sort_unstable();
        all.dedup();
        let mut per = vec![Some(0u64); nc];
        for &(c, _) in &all {
            *per[c].as_mut().unwrap() += 1;
        }
        let mut vals: Vec<i64> = all.iter().map(|&(_, q)| q).collect();
        vals.sort_unstable();
        vals.dedup();
        (per, Some(vals.len() as u64))
    } else {
        (vec![None; nc], None)
    };
    // Second pass: integer histogram (integer-aligned bins) and dequantized histogram.
    let tot = acc.mom.iter().fold(Moments::default(), |a, m| a.merge(m));
    let (ilo, ihi) = if tot.n > 0 {
        (tot.min as i64, tot.max as i64)
    } else {
        (0, 0)
    };
    let ib = IntBinner::new(ilo, ihi, ADAPTIVE_BINS);
    let (rlo, rhi) =
        acc.mom
            .iter()
            .enumerate()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (c, m)| {
                let r = m.affine(p.s[c], p.z[c] as f64);
                if r.n == 0 {
                    (lo, hi)
                } else {
                    (lo.min(r.min), hi.max(r.max))
                }
            });
    let rb = Binner::new(
        if rlo <= rhi { rlo } else { 0.0 },
        if rlo <= rhi { rhi } else { 0.0 },
        ADAPTIVE_BINS,
    );
    let (ic, rc) = scan(
        layout,
        ints,
        own,
        None,
        || (vec![0u64; ib.bins], vec![0u64; rb.bins()]),
        |(ic, rc), seg| {
            let mut qb = [0i64; BLOCK];
            let q = wide_q(&seg, sim, &mut qb);
            let (s, z) = (p.s[seg.c], p.z[seg.c]);
            for &v in q {
                ic[ib.bin(v)] += 1;
                if let Some(k) = rb.bin(dequantize(s, v, z)) {
                    rc[k] += 1;
                }
            }
        },
        |(mut a, mut b), (c, d)| {
            a.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
            b.iter_mut().zip(&d).for_each(|(x, y)| *x += y);
            (a, b)
        },
    );
    IntResult {
        counts: None,
        mom: acc.mom,
        levels,
        levels_total,
        sat: acc.sat,
        err: has_ref.then_some(acc.err),
        int_hist: Histogram {
            edges: ib.edges(),
            counts: ic,
        },
        real_hist: Some(rb.into_histogram(rc)),
        channel_hists: None,
    }
}

/// Moments (and errors against `reference`) of float values per channel.
pub(super) fn float_pass(
    layout: Layout,
    own: Floats<'_>,
    reference: Option<Floats<'_>>,
) -> FloatAcc {
    let nc = layout.channels;
    let has_ref = reference.is_some();
    scan(
        layout,
        None,
        Some(own),
        reference,
        || FloatAcc {
            mom: vec![Moments::default(); nc],
            err: error_accs(has_ref, nc),
        },
        |acc, seg| {
            acc.mom[seg.c] = acc.mom[seg.c].merge(&Moments::of_slice(seg.v));
            if has_ref {
                let e = &mut acc.err[seg.c];
                for (&v, &x) in seg.v.iter().zip(seg.x) {
                    e.push(x, v, f64::NEG_INFINITY, f64::INFINITY);
                }
            }
        },
        |mut a, b| {
            merge_moms(&mut a.mom, &b.mom);
            merge_errs(&mut a.err, &b.err);
            a
        },
    )
}

pub(super) fn float_hist(layout: Layout, own: Floats<'_>, lo: f64, hi: f64) -> Histogram {
    let b = Binner::new(lo, hi, ADAPTIVE_BINS);
    let counts = scan(
        Layout::per_tensor(layout.n),
        None,
        Some(own),
        None,
        || vec![0u64; b.bins()],
        |acc, seg| {
            for &v in seg.v {
                if let Some(k) = b.bin(v) {
                    acc[k] += 1;
                }
            }
        },
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    );
    b.into_histogram(counts)
}

/// Per-channel histograms for percentile / MSE clipping.
pub(super) fn clip_hists(
    layout: Layout,
    own: Floats<'_>,
    mom: &[Moments],
    symmetric: bool,
) -> Vec<ClipHist> {
    let nc = layout.channels;
    let ranges: Vec<(f64, f64)> = mom
        .iter()
        .map(|m| {
            let h = ClipHist {
                min: m.min,
                max: m.max,
                counts: Vec::new(),
            };
            h.hist_range(symmetric)
        })
        .collect();
    let counts = scan(
        layout,
        None,
        Some(own),
        None,
        || vec![0u64; nc * CLIP_BINS],
        |acc, seg| {
            let (lo, hi) = ranges[seg.c];
            let w = if hi > lo {
                CLIP_BINS as f64 / (hi - lo)
            } else {
                0.0
            };
            let h = &mut acc[seg.c * CLIP_BINS..(seg.c + 1) * CLIP_BINS];
            for &v in seg.v {
                let v = if symmetric { v.abs() } else { v };
                let k = (((v - lo) * w) as usize).min(CLIP_BINS - 1);
                h[k] += 1;
            }
        },
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    );
    (0..nc)
        .map(|c| ClipHist {
            min: mom[c].min,
            max: mom[c].max,
            counts: counts[c * CLIP_BINS..(c + 1) * CLIP_BINS].to_vec(),
        })
        .collect()
}
