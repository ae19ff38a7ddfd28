//! Linking the nodes of a float graph and its quantized twin's, from the activation pairs that
//! `compare::pairing` computes (float tensor, quantized tensor).

use super::{Graph, NodeKind};
use crate::model::Model;
use serde::Serialize;
use std::collections::HashMap;

/// How a node of one side relates to the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NodeMatch {
    /// Linked to this node of the other graph.
    Linked { other: usize },
    /// A QUANTIZE or DEQUANTIZE the converter inserted (quantized side only).
    Inserted,
    /// Present in this model only.
    OnlyHere,
}

#[derive(Clone, Debug, Serialize)]
pub struct Matching {
    pub float: Vec<NodeMatch>,
    pub quant: Vec<NodeMatch>,
    pub linked: usize,
}

/// Links nodes that produce paired tensors; inputs and outputs are linked by position.
pub fn match_graphs(
    float: (&Graph, &Model),
    quant: (&Graph, &Model),
    tensor_pairs: &[(usize, usize)],
) -> Matching {
    let (fg, _) = float;
    let (qg, qm) = quant;
    let node_of = |g: &Graph| {
        let mut m = HashMap::<usize, usize>::new();
        for (i, n) in g.nodes.iter().enumerate() {
            match n.kind {
                NodeKind::Output { .. } => {}
                _ => n.outputs.iter().for_each(|&t| {
                    m.insert(t, i);
                }),
            }
        }
        m
    };
    let (fnode, qnode) = (node_of(fg), node_of(qg));
    let mut fm = vec![NodeMatch::OnlyHere; fg.nodes.len()];
    let mut qmatch = vec![NodeMatch::OnlyHere; qg.nodes.len()];
    let mut link = |f: usize, q: usize, fm: &mut Vec<NodeMatch>| {
        if fm[f] == NodeMatch::OnlyHere && qmatch[q] == NodeMatch::OnlyHere {
            fm[f] = NodeMatch::Linked { other: q };
            qmatch[q] = NodeMatch::Linked { other: f };
        }
    };
    for &(ft, qt) in tensor_pairs {
        if let (Some(&f), Some(&q)) = (fnode.get(&ft), qnode.get(&qt)) {
            link(f, q, &mut fm);
        }
    }
    let outputs = |g: &Graph| -> Vec<usize> {
        (0..g.nodes.len())
            .filter(|&i| matches!(g.nodes[i].kind, NodeKind::Output { .. }))
            .collect()
    };
    for (f, q) in outputs(fg).into_iter().zip(outputs(qg)) {
        link(f, q, &mut fm);
    }
    let sg = &qm.subgraphs[qg.subgraph];
    for (i, n) in qg.nodes.iter().enumerate() {
        let boundary = !n.ops().is_empty()
            && n.ops()
                .iter()
                .all(|&o| matches!(sg.operators[o].op.as_str(), "QUANTIZE" | "DEQUANTIZE"));
        if qmatch[i] == NodeMatch::OnlyHere && boundary {
            qmatch[i] = NodeMatch::Inserted;
        }
    }
    let linked = fm
        .iter()
        .filter(|m| matches!(m, NodeMatch::Linked { .. }))
        .count();
    Matching {
        float: fm,
        quant: qmatch,
        linked,
    }
}
