//! Pairing a quantized model's constants with their counterparts in a float model of the same
//! network: by name first, then by graph position (the same role of the k-th op of a type,
//! e.g. the weights of the 3rd CONV_2D) with the same shape. Whatever stays unpaired is listed
//! with the reason, never dropped.

use super::roles::{self, Use};
use crate::model::{Model, TensorId};
use serde::Serialize;
use std::collections::HashMap;

/// How a float tensor was matched with a quantized one (constants here, activations in
/// [`crate::compare`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairedBy {
    /// A model input or output, by its position in the signature (activations only).
    Io,
    Name,
    Position,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    pub subgraph: usize,
    /// Tensor index in the quantized model.
    pub quant: usize,
    /// Tensor index in the float model.
    pub float: usize,
    pub by: PairedBy,
}

impl Pair {
    fn new(subgraph: usize, quant: usize, float: usize, by: PairedBy) -> Pair {
        Pair {
            subgraph,
            quant,
            float,
            by,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Unmatched {
    #[serde(flatten)]
    pub tensor: TensorId,
    pub role: Option<String>,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Pairing {
    pub pairs: Vec<Pair>,
    /// Analysed constants of the quantized model without a float counterpart.
    pub unmatched_quant: Vec<Unmatched>,
    /// Float constants of the float model nothing was paired with.
    pub unmatched_float: Vec<Unmatched>,
}

impl Pairing {
    /// The float tensor paired with quantized tensor `t` of subgraph `sg`.
    pub fn float_for(&self, sg: usize, t: usize) -> Option<&Pair> {
        self.pairs.iter().find(|p| p.subgraph == sg && p.quant == t)
    }
}

fn position_key(u: &Use) -> (String, usize, usize) {
    (u.op.clone(), u.occurrence, u.slot)
}

/// Pairs the constants of `quant` selected by `wanted(subgraph, tensor)` with float constants
/// of `float` (float32, float16 or float64).
pub fn pair(quant: &Model, float: &Model, wanted: impl Fn(usize, usize) -> bool) -> Pairing {
    let mut out = Pairing::default();
    for (si, qsg) in quant.subgraphs.iter().enumerate() {
        let quses = roles::uses(qsg);
        let Some(fsg) = float.subgraphs.get(si) else {
            for t in qsg.tensors.iter().filter(|t| wanted(si, t.index)) {
                out.unmatched_quant.push(Unmatched {
                    tensor: t.id(si),
                    role: roles::primary(&quses[t.index]).map(Use::label),
                    reason: format!("the float model has no subgraph {si}"),
                });
            }
            continue;
        };
        let fuses = roles::uses(fsg);
        let candidates: Vec<usize> = fsg
            .tensors
            .iter()
            .filter(|t| t.is_constant && t.dtype.is_float())
            .map(|t| t.index)
            .collect();
        let mut used = vec![false; fsg.tensors.len()];
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_pos: HashMap<(String, usize, usize), usize> = HashMap::new();
        for &f in &candidates {
            by_name
                .entry(fsg.tensors[f].name.as_str())
                .or_default()
                .push(f);
            if let Some(u) = roles::primary(&fuses[f]) {
                by_pos.entry(position_key(u)).or_insert(f);
            }
        }
        let wanted_q: Vec<usize> = qsg
            .tensors
            .iter()
            .filter(|t| wanted(si, t.index))
            .map(|t| t.index)
            .collect();
        let mut pending = Vec::new();
        let mut notes: HashMap<usize, String> = HashMap::new();
        // 1. By name (same shape).
        for &q in &wanted_q {
            let qt = &qsg.tensors[q];
            let hit = by_name.get(qt.name.as_str()).and_then(|fs| {
                fs.iter()
                    .copied()
                    .find(|&f| !used[f] && fsg.tensors[f].shape == qt.shape)
            });
            match hit {
                Some(f) => {
                    used[f] = true;
                    out.pairs.push(Pair::new(si, q, f, PairedBy::Name));
                }
                None => {
                    if let Some(f) = by_name.get(qt.name.as_str()).and_then(|v| v.first()) {
                        notes.insert(
                            q,
                            format!(
                                "float tensor {f} has the same name but shape {:?} (quantized: {:?})",
                                fsg.tensors[*f].shape, qt.shape
                            ),
                        );
                    }
                    pending.push(q);
                }
            }
        }
        // 2. By position and role (same shape).
        for q in pending {
            let qt = &qsg.tensors[q];
            let role = roles::primary(&quses[q]);
            let hit = role.and_then(|u| by_pos.get(&position_key(u)).copied());
            let reason = match hit {
                Some(f) if !used[f] && fsg.tensors[f].shape == qt.shape => {
                    used[f] = true;
                    out.pairs.push(Pair::new(si, q, f, PairedBy::Position));
                    continue;
                }
                Some(f) if used[f] => format!(
                    "the float tensor at the same position ({f}) is already paired"
                ),
                Some(f) => format!(
                    "the float tensor at the same position ({f}, '{}') has shape {:?} (quantized: {:?})",
                    fsg.tensors[f].name, fsg.tensors[f].shape, qt.shape
                ),
                None if role.is_none() => "no float tensor of the same name, and no consumer op to pair by position".into(),
                None => format!(
                    "no float tensor of the same name nor at the same position ({})",
                    role.unwrap().label()
                ),
            };
            let reason = match notes.remove(&q) {
                Some(n) => format!("{reason}; {n}"),
                None => reason,
            };
            out.unmatched_quant.push(Unmatched {
                tensor: qt.id(si),
                role: role.map(Use::label),
                reason,
            });
        }
        for &f in &candidates {
            if !used[f] {
                out.unmatched_float.push(Unmatched {
                    tensor: fsg.tensors[f].id(si),
                    role: roles::primary(&fuses[f]).map(Use::label),
                    reason: "no quantized constant paired with it".into(),
                });
            }
        }
    }
    out
}
