//! Linking the nodes of a float graph and its quantized twin's, from the activation pairs that
//! `compare::pairing` computes (float tensor, quantized tensor).

use super::colour::NodeValue;
use super::layout::{Layout, NodeBox};
use super::{Edge, Graph, NodeKind};
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

/// A float graph and its quantized twin laid out next to each other (float left) as one graph,
/// so one drawing routine, one hit test and one SVG export serve both: nodes and edges of the
/// float side first, then the quantized side's, with `marks` saying how each relates to the
/// other side (links use indices into the joined graph).
#[derive(Clone, Debug)]
pub struct SideBySide {
    pub graph: Graph,
    pub layout: Layout,
    /// Nodes `0..float_nodes` are the float model's.
    pub float_nodes: usize,
    pub marks: Vec<NodeMatch>,
    /// (float node, quantized node) of each link.
    pub links: Vec<(usize, usize)>,
}

/// Space between the two graphs, in layout units.
pub const SIDE_GAP: f32 = 160.0;

/// Joins two laid-out graphs and their matching into one picture.
pub fn side_by_side(
    float: (&Graph, &Layout),
    quant: (&Graph, &Layout),
    m: &Matching,
) -> SideBySide {
    let ((fg, fl), (qg, ql)) = (float, quant);
    let n = fg.nodes.len();
    let right = fl
        .nodes
        .iter()
        .map(|b| b.x + b.w / 2.0)
        .chain(fl.edges.iter().flatten().map(|p| p[0]))
        .fold(fl.width, f32::max);
    let dx = right + SIDE_GAP;
    let mut graph = fg.clone();
    graph.subgraph = qg.subgraph;
    graph.nodes.extend(qg.nodes.iter().cloned());
    graph.edges.extend(qg.edges.iter().map(|e| Edge {
        from: e.from + n,
        to: e.to + n,
        ..e.clone()
    }));
    let mut layout = fl.clone();
    layout
        .nodes
        .extend(ql.nodes.iter().map(|b| NodeBox { x: b.x + dx, ..*b }));
    layout.edges.extend(
        ql.edges
            .iter()
            .map(|pts| pts.iter().map(|p| [p[0] + dx, p[1]]).collect()),
    );
    layout.width = dx + ql.width;
    layout.height = fl.height.max(ql.height);
    let shift = |x: &NodeMatch, by: usize| match *x {
        NodeMatch::Linked { other } => NodeMatch::Linked { other: other + by },
        other => other,
    };
    let mut marks: Vec<NodeMatch> = m.float.iter().map(|x| shift(x, n)).collect();
    marks.extend(m.quant.iter().map(|x| shift(x, 0)));
    let links = (0..n)
        .filter_map(|f| match marks[f] {
            NodeMatch::Linked { other } => Some((f, other)),
            _ => None,
        })
        .collect();
    SideBySide {
        graph,
        layout,
        float_nodes: n,
        marks,
        links,
    }
}

impl SideBySide {
    /// The joined values: each side's own, except that a float node without a value takes its
    /// linked quantized node's number (a Compare run's SQNR belongs to the pair).
    pub fn values(&self, float: &[NodeValue], quant: &[NodeValue]) -> Vec<NodeValue> {
        let mut v: Vec<NodeValue> = float.iter().chain(quant).cloned().collect();
        for &(f, q) in &self.links {
            if v[f] == NodeValue::Missing && matches!(v[q], NodeValue::Number { .. }) {
                v[f] = v[q].clone();
            }
        }
        v
    }
}
