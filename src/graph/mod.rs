//! The model as a graph, as Netron draws it: operators are nodes, activation tensors are edges,
//! the model's inputs and outputs are nodes of their own, and weights are listed inside the op
//! that reads them. The graph is built from `model` alone; what colours it (readiness, weight
//! SQNR, per-layer error) is computed here from data the caller passes in, so the GUI only draws.

pub mod colour;
pub mod export;
pub mod layout;
pub mod matching;
pub mod readiness;

use crate::model::{DType, Model, Subgraph, Tensor};
use serde::Serialize;
use std::collections::HashMap;

/// What a node stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeKind {
    /// A model input (subgraph input tensor).
    Input { tensor: usize },
    /// A model output (subgraph output tensor).
    Output { tensor: usize },
    /// One operator, or a chain of shape-only operators folded into one box (`ops` in order).
    Op { ops: Vec<usize> },
}

/// A constant input of an op, shown inside its box (Netron lists weights the same way).
#[derive(Clone, Debug, Serialize)]
pub struct WeightInfo {
    pub tensor: usize,
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub kind: NodeKind,
    /// `CONV_2D`, `RESHAPE > TRANSPOSE`, or the tensor name for inputs/outputs.
    pub title: String,
    /// Key attributes, one per line (`relu6`, `v3`, `input 1x224x224x3 int8`).
    pub attributes: Vec<String>,
    pub weights: Vec<WeightInfo>,
    /// Activation tensors this node produces (for an input node: the input tensor itself).
    pub outputs: Vec<usize>,
}

impl Node {
    /// The first operator of this node, if it is one.
    pub fn first_op(&self) -> Option<usize> {
        match &self.kind {
            NodeKind::Op { ops } => ops.first().copied(),
            _ => None,
        }
    }
    /// Every operator this node stands for.
    pub fn ops(&self) -> &[usize] {
        match &self.kind {
            NodeKind::Op { ops } => ops,
            _ => &[],
        }
    }
}

/// An activation tensor flowing from one node to another.
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub tensor: usize,
    /// `1x56x56x64 int8`: what a hover shows.
    pub label: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub subgraph: usize,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Fold chains of shape-only ops (RESHAPE, TRANSPOSE, SQUEEZE, EXPAND_DIMS) into one node.
    pub collapse_shape_ops: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("the model has no subgraph {0} (it has {1})")]
    NoSubgraph(usize, usize),
    #[error("operator {op} of subgraph {sg} names tensor {tensor}, but the subgraph has {count} tensors")]
    BadTensor {
        sg: usize,
        op: usize,
        tensor: i32,
        count: usize,
    },
}

/// Ops that only change how values are indexed, never the values.
pub fn is_shape_only(op: &str) -> bool {
    matches!(op, "RESHAPE" | "TRANSPOSE" | "SQUEEZE" | "EXPAND_DIMS")
}

/// `1x56x56x64 int8` (`?` for unknown dimensions, `scalar` for rank 0).
pub fn tensor_label(t: &Tensor) -> String {
    let dims: Vec<String> = t
        .shape_signature
        .as_ref()
        .unwrap_or(&t.shape)
        .iter()
        .map(|&d| {
            if d < 0 {
                "?".to_string()
            } else {
                d.to_string()
            }
        })
        .collect();
    let shape = if dims.is_empty() {
        "scalar".to_string()
    } else {
        dims.join("x")
    };
    format!("{shape} {}", t.dtype)
}

fn check_tensors(sg: &Subgraph) -> Result<(), GraphError> {
    let count = sg.tensors.len();
    for op in &sg.operators {
        for &t in op.inputs.iter().chain(&op.outputs) {
            if t >= 0 && t as usize >= count {
                return Err(GraphError::BadTensor {
                    sg: sg.index,
                    op: op.index,
                    tensor: t,
                    count,
                });
            }
        }
    }
    for &t in sg.inputs.iter().chain(&sg.outputs) {
        if t >= 0 && t as usize >= count {
            return Err(GraphError::BadTensor {
                sg: sg.index,
                op: usize::MAX,
                tensor: t,
                count,
            });
        }
    }
    Ok(())
}

/// The op groups of a subgraph: one op each, or chains of shape-only ops folded together. A
/// shape-only op joins its producer's group when that producer is shape-only too and this op is
/// the only reader of the producer's output.
fn op_groups(sg: &Subgraph, collapse: bool) -> Vec<Vec<usize>> {
    if !collapse {
        return sg.operators.iter().map(|op| vec![op.index]).collect();
    }
    let producer = crate::compare::producers(sg);
    let mut readers = HashMap::<usize, usize>::new();
    for op in &sg.operators {
        for &t in op.inputs.iter().filter(|&&t| t >= 0) {
            *readers.entry(t as usize).or_default() += 1;
        }
    }
    for &t in sg.outputs.iter().filter(|&&t| t >= 0) {
        *readers.entry(t as usize).or_default() += 1;
    }
    let mut group_of = vec![usize::MAX; sg.operators.len()];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for op in &sg.operators {
        let joined = is_shape_only(&op.op).then(|| {
            let data = *op.inputs.first()?;
            let p = *producer.get(&usize::try_from(data).ok()?)?;
            let single_reader = readers.get(&(data as usize)) == Some(&1);
            (is_shape_only(&sg.operators[p].op) && single_reader).then_some(group_of[p])
        });
        match joined.flatten() {
            Some(g) if g != usize::MAX => {
                groups[g].push(op.index);
                group_of[op.index] = g;
            }
            _ => {
                group_of[op.index] = groups.len();
                groups.push(vec![op.index]);
            }
        }
    }
    groups
}

fn op_node(sg: &Subgraph, ops: Vec<usize>) -> Node {
    let first = &sg.operators[ops[0]];
    let title = ops
        .iter()
        .map(|&o| sg.operators[o].op.as_str())
        .collect::<Vec<_>>()
        .join(" > ");
    let mut attributes = Vec::new();
    if ops.len() == 1 {
        if let Some(act) = &first.fused_activation {
            attributes.push(act.to_lowercase());
        }
        if first.version > 1 {
            attributes.push(format!("v{}", first.version));
        }
        if first.is_custom {
            attributes.push("custom op".to_string());
        }
    } else {
        attributes.push(format!("{} shape-only ops", ops.len()));
    }
    let mut weights = Vec::new();
    for &o in &ops {
        for &t in sg.operators[o].inputs.iter().filter(|&&t| t >= 0) {
            let t = &sg.tensors[t as usize];
            if t.is_constant {
                weights.push(WeightInfo {
                    tensor: t.index,
                    name: t.name.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                });
            }
        }
    }
    let last = &sg.operators[*ops.last().expect("a group has an op")];
    let outputs = last
        .outputs
        .iter()
        .filter(|&&t| t >= 0)
        .map(|&t| t as usize)
        .collect();
    Node {
        kind: NodeKind::Op { ops },
        title,
        attributes,
        weights,
        outputs,
    }
}

/// Builds the graph of one subgraph.
pub fn build(model: &Model, subgraph: usize, opts: &BuildOptions) -> Result<Graph, GraphError> {
    let sg = model
        .subgraphs
        .get(subgraph)
        .ok_or(GraphError::NoSubgraph(subgraph, model.subgraphs.len()))?;
    check_tensors(sg)?;
    let mut nodes = Vec::new();
    // Which node produces each tensor.
    let mut source = HashMap::<usize, usize>::new();
    for &t in sg.inputs.iter().filter(|&&t| t >= 0) {
        let tensor = &sg.tensors[t as usize];
        source.insert(t as usize, nodes.len());
        nodes.push(Node {
            kind: NodeKind::Input { tensor: t as usize },
            title: tensor.name.clone(),
            attributes: vec![format!("input {}", tensor_label(tensor))],
            weights: Vec::new(),
            outputs: vec![t as usize],
        });
    }
    let groups = op_groups(sg, opts.collapse_shape_ops);
    let mut node_of_op = vec![0usize; sg.operators.len()];
    for ops in groups {
        let id = nodes.len();
        for &o in &ops {
            node_of_op[o] = id;
            for &t in sg.operators[o].outputs.iter().filter(|&&t| t >= 0) {
                source.insert(t as usize, id);
            }
        }
        nodes.push(op_node(sg, ops));
    }
    let mut edges = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for op in &sg.operators {
        let to = node_of_op[op.index];
        for &t in op.inputs.iter().filter(|&&t| t >= 0) {
            let t = t as usize;
            if let Some(&from) = source.get(&t) {
                if from != to && seen.insert((from, to, t)) {
                    edges.push(Edge {
                        from,
                        to,
                        tensor: t,
                        label: tensor_label(&sg.tensors[t]),
                    });
                }
            }
        }
    }
    for &t in sg.outputs.iter().filter(|&&t| t >= 0) {
        let t = t as usize;
        let tensor = &sg.tensors[t];
        let id = nodes.len();
        nodes.push(Node {
            kind: NodeKind::Output { tensor: t },
            title: tensor.name.clone(),
            attributes: vec![format!("output {}", tensor_label(tensor))],
            weights: Vec::new(),
            outputs: Vec::new(),
        });
        if let Some(&from) = source.get(&t) {
            edges.push(Edge {
                from,
                to: id,
                tensor: t,
                label: tensor_label(tensor),
            });
        }
    }
    Ok(Graph {
        subgraph,
        nodes,
        edges,
    })
}

impl Graph {
    /// The node holding operator `op`.
    pub fn node_of_op(&self, op: usize) -> Option<usize> {
        self.nodes.iter().position(|n| n.ops().contains(&op))
    }

    /// Nodes whose title, attributes, weight or output tensor names contain `query`
    /// (case-insensitive), or whose op index or tensor index equals it (`#12` or `12`).
    pub fn search(&self, model: &Model, query: &str) -> Vec<usize> {
        let q = query.trim().trim_start_matches('#').to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let index: Option<usize> = q.parse().ok();
        let sg = &model.subgraphs[self.subgraph];
        let hit = |n: &Node| {
            if let Some(i) = index {
                if n.ops().contains(&i) || n.outputs.contains(&i) {
                    return true;
                }
            }
            let names = n
                .outputs
                .iter()
                .filter_map(|&t| sg.tensors.get(t))
                .map(|t| t.name.as_str())
                .chain(n.weights.iter().map(|w| w.name.as_str()));
            n.title.to_lowercase().contains(&q)
                || n.attributes.iter().any(|a| a.to_lowercase().contains(&q))
                || names.into_iter().any(|s| s.to_lowercase().contains(&q))
        };
        (0..self.nodes.len())
            .filter(|&i| hit(&self.nodes[i]))
            .collect()
    }
}
