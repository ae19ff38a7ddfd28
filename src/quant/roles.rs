//! Which operator consumes each constant, and as what (weights, bias, other input).
//!
//! A constant that feeds a DEQUANTIZE (float16 weights, some hybrid models) takes the role of
//! the DEQUANTIZE's output, so `k-th CONV_2D's weights` means the same in every variant of a
//! network.

use crate::model::ops::{self, OpFacts};
use crate::model::Subgraph;
use serde::Serialize;

/// What a constant is to the op that reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    Weights,
    Bias,
    Other,
}

/// One consumer of a tensor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Use {
    /// Operator index in the subgraph.
    pub op_index: usize,
    /// `CONV_2D`, ...
    pub op: String,
    /// This op is the `occurrence`-th (from 0) op of its type in the subgraph.
    pub occurrence: usize,
    /// Input slot.
    pub slot: usize,
    pub kind: RoleKind,
}

impl Use {
    /// `CONV_2D#2 weights`.
    pub fn label(&self) -> String {
        let what = match self.kind {
            RoleKind::Weights => "weights".to_string(),
            RoleKind::Bias => "bias".to_string(),
            RoleKind::Other => format!("input {}", self.slot),
        };
        format!("{}#{} {}", self.op, self.occurrence, what)
    }
}

/// Input slots `(activation input, weights, bias)` of the ops that have weights (the op facts
/// live in [`crate::model::ops::facts`]; this reads them for callers holding only a name).
pub fn weight_slots(op: &str) -> Option<(usize, usize, usize)> {
    facts_of(op).weight_slots
}

/// The channel axis TFLite's int8 scheme requires for per-channel weights of `op`.
pub fn expected_weight_axis(op: &str) -> Option<usize> {
    facts_of(op).weight_axis
}

fn facts_of(op: &str) -> OpFacts {
    ops::builtin_code_of(op).map(ops::facts).unwrap_or_default()
}

/// What input `slot` of an op with these facts is.
pub fn role_kind(facts: &OpFacts, slot: usize) -> RoleKind {
    match (facts.weight_slots, facts.plain_weights) {
        (Some((_, w, _)), _) if w == slot => RoleKind::Weights,
        (Some((_, _, b)), _) if b == slot => RoleKind::Bias,
        (_, Some(w)) if w == slot => RoleKind::Weights,
        _ => RoleKind::Other,
    }
}

/// Consumers of every tensor of `sg` (index = tensor index), DEQUANTIZE seen through.
pub fn uses(sg: &Subgraph) -> Vec<Vec<Use>> {
    let nt = sg.tensors.len();
    let mut direct: Vec<Vec<Use>> = vec![Vec::new(); nt];
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut dequant_of: Vec<Option<usize>> = vec![None; nt]; // output -> dequantized input
    for op in &sg.operators {
        let k = seen.entry(op.op.as_str()).or_insert(0);
        let occurrence = *k;
        *k += 1;
        if op.op == "DEQUANTIZE" {
            if let (Some(&i), Some(&o)) = (op.inputs.first(), op.outputs.first()) {
                if i >= 0 && (o as usize) < nt {
                    dequant_of[o as usize] = Some(i as usize);
                }
            }
        }
        let facts = ops::op_facts(op);
        for (slot, &t) in op.inputs.iter().enumerate() {
            if t < 0 || t as usize >= nt {
                continue;
            }
            direct[t as usize].push(Use {
                op_index: op.index,
                op: op.op.clone(),
                occurrence,
                slot,
                kind: role_kind(&facts, slot),
            });
        }
    }
    let mut out = direct.clone();
    for (o, src) in dequant_of.iter().enumerate() {
        if let Some(src) = *src {
            if src < nt {
                let through = direct[o].clone();
                out[src].retain(|u| u.op != "DEQUANTIZE");
                out[src].extend(through);
            }
        }
    }
    out
}

/// The most telling use: weights or bias first, else the first consumer.
pub fn primary(uses: &[Use]) -> Option<&Use> {
    uses.iter()
        .find(|u| u.kind != RoleKind::Other)
        .or(uses.first())
}
