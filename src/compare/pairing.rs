//! Pairing a float model's activations with its quantized twin's: inputs and outputs by
//! position, intermediate tensors by name (same shape), then by graph position (output k of the
//! n-th op of a type). QUANTIZE/DEQUANTIZE ops at the model's boundary are recognised: their
//! tensors stand for the float model's inputs/outputs.

use crate::model::{Model, Subgraph};
pub use crate::quant::pairing::PairedBy;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Debug, Serialize)]
pub struct ActivationPair {
    pub float: usize,
    pub quant: usize,
    /// The op of the quantized model that produces `quant` (None for model inputs).
    pub quant_op: Option<usize>,
    pub op: String,
    pub by: PairedBy,
}

/// Ops that only move values across the float/integer boundary.
pub fn is_boundary_op(op: &str) -> bool {
    matches!(op, "QUANTIZE" | "DEQUANTIZE")
}

/// The op that produces each computed tensor (tensor index -> op index; the last writer wins).
pub fn producers(sg: &Subgraph) -> HashMap<usize, usize> {
    sg.operators
        .iter()
        .flat_map(|op| {
            op.outputs
                .iter()
                .filter(|&&t| t >= 0)
                .map(move |&t| (t as usize, op.index))
        })
        .collect()
}

/// Output k of the n-th op of each type, skipping boundary ops and ops whose inputs are all
/// constants (float16 weight DEQUANTIZE).
fn positions(m: &Model) -> HashMap<(String, usize, usize), usize> {
    let sg = &m.subgraphs[0];
    let mut seen = HashMap::<String, usize>::new();
    let mut out = HashMap::new();
    for op in &sg.operators {
        let all_const = op
            .inputs
            .iter()
            .all(|&t| t < 0 || sg.tensors[t as usize].is_constant);
        if is_boundary_op(&op.op) || all_const {
            continue;
        }
        let n = seen.entry(op.op.clone()).or_default();
        for (k, &t) in op.outputs.iter().enumerate() {
            if t >= 0 {
                out.insert((op.op.clone(), *n, k), t as usize);
            }
        }
        *n += 1;
    }
    out
}

/// Pairs the activations of subgraph 0; the list follows the quantized model's op order.
pub fn pair_activations(float: &Model, quant: &Model) -> Vec<ActivationPair> {
    let (fs, qs) = (&float.subgraphs[0], &quant.subgraphs[0]);
    let qprod = producers(qs);
    let mut pairs: Vec<ActivationPair> = Vec::new();
    let mut taken_f = std::collections::HashSet::new();
    let mut taken_q = std::collections::HashSet::new();
    let op_name = |q: usize| {
        qprod
            .get(&q)
            .map(|&o| qs.operators[o].op.clone())
            .unwrap_or_else(|| "input".into())
    };
    let mut push = |pairs: &mut Vec<ActivationPair>, f: usize, q: usize, by| {
        // At the boundary one float tensor stands for two quantized ones (QUANTIZE's input and
        // output, DEQUANTIZE's input and output); elsewhere pairs are one to one.
        let f_free = by == PairedBy::Io || !taken_f.contains(&f);
        if f_free && !taken_q.contains(&q) {
            taken_f.insert(f);
            taken_q.insert(q);
            pairs.push(ActivationPair {
                float: f,
                quant: q,
                quant_op: qprod.get(&q).copied(),
                op: op_name(q),
                by,
            });
        }
    };
    // Model outputs by position; a DEQUANTIZE or requantizing QUANTIZE at the output also pairs
    // its input.
    for (&f, &q) in fs.outputs.iter().zip(&qs.outputs) {
        push(&mut pairs, f as usize, q as usize, PairedBy::Io);
        if let Some(&o) = qprod.get(&(q as usize)) {
            let op = &qs.operators[o];
            if is_boundary_op(&op.op) && op.inputs[0] >= 0 {
                push(&mut pairs, f as usize, op.inputs[0] as usize, PairedBy::Io);
            }
        }
    }
    // Inputs by position; a QUANTIZE right after a float input pairs its integer output too.
    for (&f, &q) in fs.inputs.iter().zip(&qs.inputs) {
        push(&mut pairs, f as usize, q as usize, PairedBy::Io);
        for op in qs
            .operators
            .iter()
            .filter(|op| op.op == "QUANTIZE" && op.inputs.first() == Some(&q))
        {
            if let Some(&out) = op.outputs.first() {
                push(&mut pairs, f as usize, out as usize, PairedBy::Io);
            }
        }
    }
    // Names (same shape), for tensors some op produces.
    let fnames: HashMap<&str, usize> = fs
        .tensors
        .iter()
        .filter(|t| !t.is_constant && !t.name.is_empty())
        .map(|t| (t.name.as_str(), t.index))
        .collect();
    for op in &qs.operators {
        if is_boundary_op(&op.op) {
            continue;
        }
        for &q in op.outputs.iter().filter(|&&t| t >= 0) {
            let qt = &qs.tensors[q as usize];
            if let Some(&f) = fnames.get(qt.name.as_str()) {
                if fs.tensors[f].shape == qt.shape {
                    push(&mut pairs, f, q as usize, PairedBy::Name);
                }
            }
        }
    }
    // Graph position (same op type and occurrence, same shape).
    let fpos = positions(float);
    let mut qpos: Vec<_> = positions(quant).into_iter().collect();
    qpos.sort_by_key(|(_, q)| *q);
    for (key, q) in qpos {
        if let Some(&f) = fpos.get(&key) {
            if fs.tensors[f].shape == qs.tensors[q].shape {
                push(&mut pairs, f, q, PairedBy::Position);
            }
        }
    }
    // The quantized model's op order (inputs first).
    pairs.sort_by_key(|p| (p.quant_op.map_or(0, |o| o + 1), p.quant));
    pairs
}
