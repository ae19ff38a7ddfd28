//! The analysis of one constant: what it is (stored quantized, simulated, float), its passes,
//! then statistics, range use, errors and checks per tensor and per channel.

use super::*;

pub(super) fn usize_shape(shape: &[i32]) -> Option<Vec<usize>> {
    shape.iter().map(|&d| usize::try_from(d).ok()).collect()
}

pub(super) struct Ctx<'a> {
    pub(super) model: &'a Model,
    pub(super) float: Option<&'a Model>,
    pub(super) pairing: Option<&'a Pairing>,
    pub(super) opts: &'a Options,
    pub(super) uses: Vec<Vec<Vec<Use>>>,
    pub(super) checks: Vec<Vec<Check>>,
}

/// Why a constant is not analysed (`None`: it is).
pub(super) fn skip_reason(t: &Tensor, data: &[u8]) -> Option<String> {
    let quantized = t.quantization.as_ref().is_some_and(|q| q.is_quantized());
    if t.sparsity.is_some() {
        return Some("sparse storage (not decoded)".into());
    }
    if !(t.dtype.is_float() || quantized && t.dtype.is_quantizable_int()) {
        return Some(
            if t.dtype.is_quantizable_int() || t.dtype.int_range().is_some() {
                "integer constant without quantization parameters (shape or index data)".into()
            } else {
                format!("{} constant", t.dtype)
            },
        );
    }
    let Some(n) = t.element_count() else {
        return Some(format!(
            "shape {:?} has negative dimensions or too many elements",
            t.shape
        ));
    };
    if n == 0 {
        return Some("empty tensor".into());
    }
    match t.dtype.storage_bytes(n) {
        Some(b) if b == data.len() => None,
        want => Some(format!(
            "{} stored bytes but shape {:?} of {} needs {}",
            data.len(),
            t.shape,
            t.dtype,
            want.map_or("?".into(), |w| w.to_string())
        )),
    }
}

pub(super) fn analyze_tensor(
    ctx: &Ctx<'_>,
    sg: usize,
    t: &Tensor,
) -> Result<TensorAnalysis, String> {
    let data = ctx.model.tensor_data(sg, t.index).unwrap_or(&[]);
    if let Some(r) = skip_reason(t, data) {
        return Err(r);
    }
    let shape = usize_shape(&t.shape).unwrap();
    let n: usize = shape.iter().product();
    let uses = &ctx.uses[sg][t.index];
    let role = roles::primary(uses);
    let quant = t.quantization.as_ref().filter(|q| !q.scales.is_empty());
    let blockwise = t
        .quantization
        .as_ref()
        .and_then(|q| q.blockwise.as_ref())
        .filter(|_| quant.is_none());
    let mut notes: Vec<Check> = Vec::new();

    // The paired float reference.
    let mut reference = None;
    let mut ref_floats = None;
    if let (Some(fm), Some(pairing)) = (ctx.float, ctx.pairing) {
        if let Some(pair) = pairing.float_for(sg, t.index) {
            let ft = &fm.subgraphs[sg].tensors[pair.float];
            let fdata = fm.tensor_data(sg, pair.float).unwrap_or(&[]);
            if ft.dtype.storage_bytes(n) == Some(fdata.len()) {
                ref_floats = Floats::new(ft.dtype, fdata);
                reference = Some(Reference::FloatModel {
                    index: ft.index,
                    name: ft.name.clone(),
                    dtype: ft.dtype,
                    paired_by: pair.by,
                });
            }
        }
    }

    // What to analyse and how the elements map to channels.
    let (source, layout, axis, qparams) = if let Some(bw) = blockwise {
        let grid = stored_blocks(t, bw, &shape)?;
        let ints = Narrow::new(t.dtype, data)
            .ok_or_else(|| format!("blockwise {} is not supported", t.dtype))?;
        let src = BlockSource::Stored {
            ints,
            scales: &bw.scales,
            zero_points: &bw.zero_points,
        };
        let range = crate::quant::simulate::blockwise_range(t.dtype);
        let layout = Layout {
            n,
            channels: grid.count(),
            inner: grid.size,
        };
        (
            Source::Blocks(BlockTensor {
                grid,
                dtype: t.dtype,
                src,
                range,
            }),
            layout,
            None,
            None,
        )
    } else if let Some(q) = quant {
        let per_channel = q.is_per_channel();
        let (layout, axis) = if per_channel {
            let axis = usize::try_from(q.quantized_dimension).ok();
            match axis.and_then(|a| Layout::along(&shape, a)) {
                Some(l) if l.channels == q.scales.len() => (l, axis),
                _ => {
                    return Err(format!(
                        "{} per-channel scales do not match axis {} of shape {:?}",
                        q.scales.len(),
                        q.quantized_dimension,
                        t.shape
                    ))
                }
            }
        } else {
            (Layout::per_tensor(n), None)
        };
        let nc = layout.channels;
        let z: Vec<i64> = (0..nc).map(|c| q.channel(c).1).collect();
        let symmetric = z.iter().all(|&z| z == 0);
        let p = QParams {
            s: (0..nc).map(|c| q.channel(c).0 as f64).collect(),
            z,
            range: quant_range(t.dtype, symmetric),
        };
        let ints = match (Narrow::new(t.dtype, data), Wide::new(t.dtype, data)) {
            (Some(nw), _) => Ints::Narrow(nw),
            (None, Some(w)) => Ints::Wide(w),
            _ => return Err(format!("quantized {} is not supported", t.dtype)),
        };
        (Source::Stored(ints), layout, axis, Some(p))
    } else {
        let own = Floats::new(t.dtype, data).unwrap();
        let simulate = ctx
            .opts
            .simulate
            .filter(|_| role.is_some_and(|u| u.kind == RoleKind::Weights));
        let blocks = simulate.and_then(|s| {
            let size = s.block_size? as usize;
            let grid = BlockGrid::new(&shape, size);
            if grid.is_none() {
                notes.push(Check {
                    severity: Severity::Info,
                    code: "not_blockwise",
                    tensor: t.index,
                    channel: None,
                    message: format!(
                        "tensor {} '{}': shape {:?} does not split into blocks of {size} along its last dimension; left float, as the AI Edge Quantizer leaves it",
                        t.index, t.name, t.shape
                    ),
                });
            }
            Some((s, grid))
        });
        match (simulate, blocks) {
            (Some(scheme), Some((_, Some(grid)))) => {
                let range = scheme.range();
                let layout = Layout {
                    n,
                    channels: grid.count(),
                    inner: grid.size,
                };
                let src = BlockSource::Simulated { own };
                (
                    Source::Blocks(BlockTensor {
                        grid,
                        dtype: scheme.bits.dtype(),
                        src,
                        range,
                    }),
                    layout,
                    None,
                    None,
                )
            }
            (Some(_), Some((_, None))) => (Source::Float(own), Layout::per_tensor(n), None, None),
            (Some(scheme), None) => {
                let axis = if scheme.per_channel {
                    Some(
                        role.and_then(|u| roles::expected_weight_axis(&u.op))
                            .unwrap_or(0)
                            .min(shape.len().saturating_sub(1)),
                    )
                } else {
                    None
                };
                let layout = match axis {
                    Some(a) => Layout::along(&shape, a).unwrap_or(Layout::per_tensor(n)),
                    None => Layout::per_tensor(n),
                };
                (Source::Simulated(own, scheme), layout, axis, None)
            }
            (None, _) => (Source::Float(own), Layout::per_tensor(n), None, None),
        }
    };
    let nc = layout.channels;
    let per_channel = nc > 1 || axis.is_some();

    let mut checks: Vec<Check> = ctx.checks[sg]
        .iter()
        .filter(|c| c.tensor == t.index)
        .cloned()
        .collect();
    checks.extend(notes);

    let mut out = TensorAnalysis {
        tensor: t.id(sg),
        dtype: t.dtype,
        shape: t.shape.clone(),
        role: role.map(Use::label),
        role_kind: role.map(|u| u.kind),
        op_index: role.map(|u| u.op_index),
        per_channel,
        axis,
        channel_count: nc,
        n: n as u64,
        bytes: data.len(),
        reference: None,
        scale_min: None,
        scale_max: None,
        scale_spread: None,
        int_stats: None,
        real_stats: None,
        reference_stats: None,
        range: RangeFields::default(),
        dead_channels: Vec::new(),
        errors: ErrorFields::default(),
        histogram: Histogram::default(),
        real_histogram: None,
        checks: Vec::new(),
        channels: Vec::new(),
        blocks: None,
        error: None,
        sums: None,
    };

    let (p, res, ref_mom) = match source {
        Source::Blocks(blocks) => {
            let (reference, floats) = match blocks.src {
                BlockSource::Simulated { .. } => (
                    Some(Reference::Simulated {
                        scheme: ctx.opts.simulate.unwrap_or_default(),
                        dtype: blocks.dtype,
                    }),
                    None,
                ),
                BlockSource::Stored { .. } => (ref_floats.and(reference), ref_floats),
            };
            out.reference = reference;
            checks.sort_by_key(|c| std::cmp::Reverse(c.severity));
            out.checks = checks;
            return Ok(analyze_blocks(out, blocks, floats));
        }
        Source::Float(own) => {
            let acc = float_pass(layout, own, ref_floats);
            let m = acc.mom[0];
            out.real_stats = m.summary();
            out.histogram = float_hist(layout, own, m.min, m.max);
            out.dead_channels = if m.min == 0.0 && m.max == 0.0 {
                vec![0]
            } else {
                vec![]
            };
            if let Some(e) = acc.err.first() {
                let em = ErrorMetrics::for_channel(e, None);
                out.sums = Some((e.sum_x2, e.sum_e2));
                out.errors = Some(&em).into();
                out.error = Some(em);
                out.reference = reference;
            }
            out.checks = checks;
            return Ok(out);
        }
        Source::Stored(ints) => {
            let p = qparams.unwrap();
            let res = int_passes(
                layout,
                t.dtype,
                Some(ints),
                None,
                ref_floats,
                &p,
                false,
                ctx.opts.channel_histograms,
            );
            if ref_floats.is_some() {
                out.reference = reference;
            }
            (p, res, None)
        }
        Source::Simulated(own, scheme) => {
            let acc = float_pass(layout, own, None);
            let hists = (scheme.clip != simulate::Clip::MinMax)
                .then(|| clip_hists(layout, own, &acc.mom, scheme.symmetric));
            let mut s = Vec::with_capacity(nc);
            let mut z = Vec::with_capacity(nc);
            for c in 0..nc {
                let m = &acc.mom[c];
                let (lo, hi) =
                    simulate::clip_range(m.min, m.max, hists.as_ref().map(|h| &h[c]), &scheme);
                let (sc, zp) = simulate::params_for_range(lo, hi, &scheme);
                s.push(sc as f64);
                z.push(zp);
            }
            let p = QParams {
                s,
                z,
                range: scheme.range(),
            };
            let res = int_passes(
                layout,
                scheme.bits.dtype(),
                None,
                Some(own),
                None,
                &p,
                true,
                ctx.opts.channel_histograms,
            );
            out.reference = Some(Reference::Simulated {
                scheme,
                dtype: scheme.bits.dtype(),
            });
            (p, res, Some(acc.mom))
        }
    };

    // Int8 weights at -128.
    if let (Some((counts, nb, qmin)), Some(u)) = (&res.counts, role) {
        let is_weight = uses.iter().any(|u| u.kind == RoleKind::Weights);
        if is_weight && *qmin == -128 && quant.is_some() {
            let at: Vec<u64> = (0..nc).map(|c| counts[c * nb]).collect();
            checks.extend(checks::weight_value_checks(t, Some(u), nc > 1, &at));
        }
    }

    // Scales.
    let (smin, smax) =
        p.s.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &s| {
                (a.min(s), b.max(s))
            });
    out.scale_min = Some(smin);
    out.scale_max = Some(smax);
    out.scale_spread = (smin > 0.0).then(|| smax / smin);

    // Per channel.
    let mut tot_int = Moments::default();
    let mut tot_real = Moments::default();
    let mut tot_ref = Moments::default();
    let mut tot_err = ErrorAcc::default();
    let mut sum_e2_lsb = 0.0;
    let mut max_lsb: f64 = 0.0;
    let mut sat_total = 0;
    let mut hists = res.channel_hists.clone().map(|h| h.into_iter());
    for c in 0..nc {
        let mi = res.mom[c];
        let mr = mi.affine(p.s[c], p.z[c] as f64);
        tot_int = tot_int.merge(&mi);
        tot_real = tot_real.merge(&mr);
        if let Some(rm) = &ref_mom {
            tot_ref = tot_ref.merge(&rm[c]);
        }
        sat_total += res.sat[c];
        // A zero bias is not a dead channel; weights (or other constants) all at the zero point are.
        let dead = role.is_none_or(|u| u.kind != RoleKind::Bias)
            && mi.n > 0
            && mi.min == p.z[c] as f64
            && mi.max == p.z[c] as f64;
        if dead {
            out.dead_channels.push(c);
        }
        let em = res.err.as_ref().map(|e| {
            let e = &e[c];
            tot_err.merge(e);
            sum_e2_lsb += e.sum_e2 / (p.s[c] * p.s[c]);
            max_lsb = max_lsb.max(e.max_abs_e / p.s[c]);
            ErrorMetrics::for_channel(e, Some(p.s[c]))
        });
        if nc > 1 {
            let range = res.levels[c]
                .map(|l| RangeUse::new(l, mi.min as i64, mi.max as i64, p.range, res.sat[c]));
            out.channels.push(ChannelAnalysis {
                channel: c,
                scale: Some(p.s[c]),
                zero_point: Some(p.z[c]),
                n: mi.n,
                int_stats: mi.summary(),
                real_stats: mr.summary(),
                range: range.into(),
                representable: Some(clip_thresholds(p.s[c], p.z[c], p.range.0, p.range.1)),
                dead,
                errors: em.as_ref().into(),
                histogram: hists.as_mut().and_then(|h| h.next()),
                error: em,
            });
        }
    }
    out.int_stats = tot_int.summary();
    out.real_stats = tot_real.summary();
    if ref_mom.is_some() {
        out.reference_stats = tot_ref.summary();
    }
    out.range = res
        .levels_total
        .map(|l| {
            RangeUse::new(
                l,
                tot_int.min as i64,
                tot_int.max as i64,
                p.range,
                sat_total,
            )
        })
        .into();
    if res.err.is_some() {
        let em = ErrorMetrics::new(&tot_err, Some(sum_e2_lsb), Some(max_lsb));
        out.sums = Some((tot_err.sum_x2, tot_err.sum_e2));
        out.errors = Some(&em).into();
        out.error = Some(em);
    }
    out.histogram = res.int_hist;
    out.real_histogram = res.real_hist;
    checks.sort_by(|a, b| b.severity.cmp(&a.severity));
    out.checks = checks;
    Ok(out)
}

/// The block grid of a stored blockwise tensor, checked against its scales.
fn stored_blocks(
    t: &Tensor,
    bw: &crate::model::Blockwise,
    shape: &[usize],
) -> Result<BlockGrid, String> {
    if let Some(p) = &bw.problem {
        return Err(format!("blockwise quantization unreadable: {p}"));
    }
    let grid = usize::try_from(bw.block_size)
        .ok()
        .and_then(|b| BlockGrid::new(shape, b))
        .ok_or_else(|| {
            format!(
                "shape {:?} does not split into blocks of {} along its last dimension",
                t.shape, bw.block_size
            )
        })?;
    if bw.scales.len() != grid.count() {
        return Err(format!(
            "{} block scales for {} blocks of {} (shape {:?})",
            bw.scales.len(),
            grid.count(),
            bw.block_size,
            t.shape
        ));
    }
    if !bw.zero_points.is_empty() && bw.zero_points.len() != grid.count() {
        return Err(format!(
            "{} block zero points for {} blocks",
            bw.zero_points.len(),
            grid.count()
        ));
    }
    Ok(grid)
}
