//! Checks against TFLite's int8 quantization specification
//! (<https://ai.google.dev/edge/litert/models/quantization_spec>), each with a message naming
//! the tensor, its role and the channel.

use super::roles::{self, RoleKind, Use};
use crate::model::{DType, Model, Quantization, Tensor};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub severity: Severity,
    /// Stable identifier: `weight_zero_point`, `weight_minus_128`, `bias_zero_point`,
    /// `bias_scale`, `bias_channels`, `requant_multiplier`, `channel_axis`, `channel_count`,
    /// `bad_scale`, `zero_point_range`.
    pub code: &'static str,
    pub tensor: usize,
    pub channel: Option<usize>,
    pub message: String,
}

/// Relative bias-scale mismatch above which `bias_scale` fires.
pub const BIAS_SCALE_TOLERANCE: f64 = 1e-6;
/// At most this many per-channel messages per tensor and code; the rest are summarised.
pub const MAX_CHANNEL_MESSAGES: usize = 8;

fn who(t: &Tensor, role: Option<&Use>) -> String {
    match role {
        Some(u) => format!("tensor {} '{}' ({})", t.index, t.name, u.label()),
        None => format!("tensor {} '{}'", t.index, t.name),
    }
}

fn chan(q: &Quantization, c: usize) -> String {
    if q.is_per_channel() {
        format!(" channel {c}")
    } else {
        String::new()
    }
}

/// An error for every channel of `q` whose zero point is not 0 (weights and biases must be
/// symmetric); `message(channel, zero_point)` says which.
fn nonzero_zero_points(
    s: &mut Sink,
    t: &Tensor,
    q: &Quantization,
    code: &'static str,
    message: impl Fn(usize, i64) -> String,
) {
    for (c, &z) in q.zero_points.iter().enumerate() {
        if z != 0 {
            s.push(Check {
                severity: Severity::Error,
                code,
                tensor: t.index,
                channel: q.is_per_channel().then_some(c),
                message: message(c, z),
            });
        }
    }
}

/// Collects checks, capping repeated per-channel messages.
#[derive(Default)]
struct Sink {
    out: Vec<Check>,
}

impl Sink {
    fn push(&mut self, c: Check) {
        self.out.push(c);
    }
    /// Keeps at most `MAX_CHANNEL_MESSAGES` of each (tensor, code) and adds a summary line.
    fn finish(self) -> Vec<Check> {
        use std::collections::HashMap;
        let mut seen: HashMap<(usize, &'static str), usize> = HashMap::new();
        let mut kept = Vec::new();
        for c in &self.out {
            let n = seen.entry((c.tensor, c.code)).or_insert(0);
            *n += 1;
            if *n <= MAX_CHANNEL_MESSAGES {
                kept.push(c.clone());
            }
        }
        let mut extra: Vec<_> = seen
            .into_iter()
            .filter(|(_, n)| *n > MAX_CHANNEL_MESSAGES)
            .collect();
        extra.sort();
        for ((tensor, code), n) in extra {
            let first = self
                .out
                .iter()
                .find(|c| c.tensor == tensor && c.code == code)
                .unwrap();
            kept.push(Check {
                severity: first.severity,
                code,
                tensor,
                channel: None,
                message: format!(
                    "tensor {tensor}: {} more channels with the same problem ({code}), {n} in all",
                    n - MAX_CHANNEL_MESSAGES
                ),
            });
        }
        kept
    }
}

/// Parameter checks of every quantized constant and every op with weights in subgraph `sg`.
/// Value checks (int8 weights at -128) come from [`weight_value_checks`].
pub fn check_subgraph(model: &Model, sg: usize) -> Vec<Check> {
    let Some(g) = model.subgraphs.get(sg) else {
        return Vec::new();
    };
    let uses = roles::uses(g);
    let mut s = Sink::default();
    // Every quantized constant: scales and zero points.
    for t in g.tensors.iter().filter(|t| t.is_constant) {
        let Some(q) = t.quantization.as_ref().filter(|q| !q.scales.is_empty()) else {
            continue;
        };
        let role = roles::primary(&uses[t.index]);
        for (c, &sc) in q.scales.iter().enumerate() {
            if !(sc > 0.0 && sc.is_finite()) {
                s.push(Check {
                    severity: Severity::Error,
                    code: "bad_scale",
                    tensor: t.index,
                    channel: q.is_per_channel().then_some(c),
                    message: format!(
                        "{}{}: scale {sc} (must be positive and finite)",
                        who(t, role),
                        chan(q, c)
                    ),
                });
            }
        }
        if let Some((lo, hi)) = t.dtype.int_range() {
            for (c, &z) in q.zero_points.iter().enumerate() {
                if z < lo || z > hi {
                    s.push(Check {
                        severity: Severity::Error,
                        code: "zero_point_range",
                        tensor: t.index,
                        channel: q.is_per_channel().then_some(c),
                        message: format!(
                            "{}{}: zero point {z} outside the {} range [{lo}, {hi}]",
                            who(t, role),
                            chan(q, c),
                            t.dtype
                        ),
                    });
                }
            }
        }
        if q.is_per_channel() {
            let axis = q.quantized_dimension;
            let dim = usize::try_from(axis)
                .ok()
                .and_then(|a| t.shape.get(a).copied());
            if dim != Some(q.scales.len() as i32) {
                s.push(Check {
                    severity: Severity::Error,
                    code: "channel_count",
                    tensor: t.index,
                    channel: None,
                    message: format!(
                        "{}: {} per-channel scales along axis {axis} but the shape is {:?}",
                        who(t, role),
                        q.scales.len(),
                        t.shape
                    ),
                });
            }
        }
        // Weights: symmetric, axis as the op expects.
        for u in uses[t.index].iter().filter(|u| u.kind == RoleKind::Weights) {
            if matches!(t.dtype, DType::I8 | DType::I4 | DType::I16) {
                nonzero_zero_points(&mut s, t, q, "weight_zero_point", |c, z| {
                    format!(
                        "{}{}: zero point {z}; {} weights must be symmetric (zero point 0)",
                        who(t, Some(u)),
                        chan(q, c),
                        t.dtype
                    )
                });
            }
            if q.is_per_channel() {
                if let Some(want) = roles::expected_weight_axis(&u.op) {
                    if q.quantized_dimension != want as i32 {
                        s.push(Check {
                            severity: Severity::Error,
                            code: "channel_axis",
                            tensor: t.index,
                            channel: None,
                            message: format!(
                                "{}: per-channel axis {} but {} expects axis {want}",
                                who(t, Some(u)),
                                q.quantized_dimension,
                                u.op
                            ),
                        });
                    }
                }
            }
        }
    }
    // Ops with weights: bias scale and zero point, requantization multiplier.
    for op in &g.operators {
        let Some((ia, iw, ib)) = roles::weight_slots(&op.op) else {
            continue;
        };
        let tensor = |slot: usize| {
            op.inputs
                .get(slot)
                .copied()
                .filter(|&i| i >= 0)
                .and_then(|i| g.tensors.get(i as usize))
        };
        let quant = |t: Option<&Tensor>| {
            t.and_then(|t| t.quantization.as_ref())
                .filter(|q| !q.scales.is_empty())
                .cloned()
        };
        let (tin, tw, tb) = (tensor(ia), tensor(iw), tensor(ib));
        let tout = op
            .outputs
            .first()
            .filter(|&&i| i >= 0)
            .and_then(|&i| g.tensors.get(i as usize));
        let (Some(w), Some(qw)) = (tw, quant(tw)) else {
            continue;
        };
        let qin = quant(tin).filter(|_| tin.is_some_and(|t| !t.dtype.is_float()));
        let wuse = uses[w.index]
            .iter()
            .find(|u| u.op_index == op.index && u.kind == RoleKind::Weights);
        if let (Some(b), Some(qin)) = (tb, qin.as_ref()) {
            if matches!(b.dtype, DType::I32 | DType::I64) {
                let buse = uses[b.index].iter().find(|u| u.op_index == op.index);
                match quant(Some(b)) {
                    None => s.push(Check {
                        severity: Severity::Error,
                        code: "bias_scale",
                        tensor: b.index,
                        channel: None,
                        message: format!("{}: integer bias without a scale", who(b, buse)),
                    }),
                    Some(qb) => {
                        nonzero_zero_points(&mut s, b, &qb, "bias_zero_point", |c, z| {
                            format!(
                                "{}{}: zero point {z}; {} bias must have zero point 0",
                                who(b, buse),
                                chan(&qb, c),
                                b.dtype
                            )
                        });
                        let nw = qw.scales.len();
                        let nb = qb.scales.len();
                        if nw != nb && nw != 1 && nb != 1 {
                            s.push(Check {
                                severity: Severity::Error,
                                code: "bias_channels",
                                tensor: b.index,
                                channel: None,
                                message: format!(
                                    "{}: {nb} bias scales but the weights (tensor {}) have {nw}",
                                    who(b, buse),
                                    w.index
                                ),
                            });
                        } else {
                            let s_in = qin.scales[0] as f64;
                            for c in 0..nw.max(nb) {
                                let want = s_in * qw.channel(c).0 as f64;
                                let got = qb.channel(c).0 as f64;
                                let rel = (got - want).abs() / want.abs();
                                if !(rel <= BIAS_SCALE_TOLERANCE) {
                                    s.push(Check {
                                        severity: Severity::Error,
                                        code: "bias_scale",
                                        tensor: b.index,
                                        channel: (nb > 1).then_some(c),
                                        message: format!(
                                            "{}{}: scale {got:.9e} but input scale x weight scale = {s_in:.9e} x {:.9e} = {want:.9e} (relative mismatch {rel:.2e} > {BIAS_SCALE_TOLERANCE:e})",
                                            who(b, buse),
                                            if nb > 1 { format!(" channel {c}") } else { String::new() },
                                            qw.channel(c).0
                                        ),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        // Requantization multiplier of full-integer ops.
        let qout = quant(tout).filter(|_| tout.is_some_and(|t| !t.dtype.is_float()));
        if let (Some(qin), Some(qout)) = (qin, qout) {
            let (s_in, s_out) = (qin.scales[0] as f64, qout.scales[0] as f64);
            for c in 0..qw.scales.len() {
                let m = s_in * qw.scales[c] as f64 / s_out;
                let (severity, what) = if !(m.is_finite() && m > 0.0) {
                    (Severity::Error, "is not a positive finite number")
                } else if m < 2f64.powi(-31) {
                    (
                        Severity::Error,
                        "underflows TFLite's fixed-point multiplier (< 2^-31): the output is constant",
                    )
                } else if m >= 1.0 {
                    (
                        Severity::Warning,
                        ">= 1: the output scale is finer than input x weight; some integer kernels (NPUs, older TFLite Micro) require < 1",
                    )
                } else {
                    continue;
                };
                s.push(Check {
                    severity,
                    code: "requant_multiplier",
                    tensor: w.index,
                    channel: qw.is_per_channel().then_some(c),
                    message: format!(
                        "{}{}: requantization multiplier input x weight / output scale = {s_in:.6e} x {:.6e} / {s_out:.6e} = {m:.6e} {what}",
                        who(w, wuse),
                        chan(&qw, c),
                        qw.scales[c]
                    ),
                });
            }
        }
    }
    s.finish()
}

/// Int8 weights must lie in [-127, 127]: `at_minus_128[c]` counts values of -128 in channel `c`.
pub fn weight_value_checks(
    t: &Tensor,
    role: Option<&Use>,
    per_channel: bool,
    at_minus_128: &[u64],
) -> Vec<Check> {
    let mut s = Sink::default();
    for (c, &n) in at_minus_128.iter().enumerate() {
        if n > 0 {
            s.push(Check {
                severity: Severity::Error,
                code: "weight_minus_128",
                tensor: t.index,
                channel: per_channel.then_some(c),
                message: format!(
                    "{}{}: {n} values of -128; int8 weights must lie in [-127, 127]",
                    who(t, role),
                    if per_channel {
                        format!(" channel {c}")
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
    s.finish()
}
