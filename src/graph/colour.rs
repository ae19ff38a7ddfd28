//! What each node is coloured by. The library decides every value and its severity (0 = fine,
//! 1 = worst); the GUI only maps categories and severities to colours and draws the legend.

use super::readiness::{self, Verdict};
use super::{Graph, NodeKind};
use crate::model::Model;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourBy {
    OpType,
    OutputDtype,
    Granularity,
    WeightSqnr,
    LayerSqnrLocal,
    LayerSqnrCumulative,
    /// int8 readiness of a float model's ops under full-integer conversion.
    Readiness,
    /// int16x8 readiness.
    Readiness16,
}

impl ColourBy {
    pub const ALL: [ColourBy; 8] = [
        ColourBy::OpType,
        ColourBy::OutputDtype,
        ColourBy::Granularity,
        ColourBy::WeightSqnr,
        ColourBy::LayerSqnrLocal,
        ColourBy::LayerSqnrCumulative,
        ColourBy::Readiness,
        ColourBy::Readiness16,
    ];
    pub fn label(self) -> &'static str {
        match self {
            ColourBy::OpType => "op type",
            ColourBy::OutputDtype => "output dtype",
            ColourBy::Granularity => "quantization granularity",
            ColourBy::WeightSqnr => "weight SQNR",
            ColourBy::LayerSqnrLocal => "layer SQNR (local)",
            ColourBy::LayerSqnrCumulative => "layer SQNR (cumulative)",
            ColourBy::Readiness => "int8 readiness",
            ColourBy::Readiness16 => "int16x8 readiness",
        }
    }
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColourBy::WeightSqnr | ColourBy::LayerSqnrLocal | ColourBy::LayerSqnrCumulative
        )
    }
}

/// A node's value under one colouring.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeValue {
    Category {
        name: String,
        severity: f32,
    },
    Number {
        value: f64,
        severity: f32,
    },
    /// Nothing to show (no weights, no Compare run yet, an input node).
    Missing,
}

/// Per-tensor numbers computed elsewhere (weights analysis, Compare) that colour the graph.
#[derive(Clone, Debug, Default)]
pub struct ColourData {
    /// SQNR in dB of each constant tensor that has one (weights analysis).
    pub weight_sqnr_db: HashMap<usize, f64>,
    /// Local and cumulative SQNR in dB of each activation tensor (latest Compare run).
    pub layer_sqnr_db: HashMap<usize, (f64, f64)>,
}

/// Netron's op categories, so a graph reads the way users already know.
pub fn op_category(op: &str) -> &'static str {
    match op {
        "CONV_2D"
        | "DEPTHWISE_CONV_2D"
        | "TRANSPOSE_CONV"
        | "FULLY_CONNECTED"
        | "CONV_3D"
        | "BATCH_MATMUL"
        | "EMBEDDING_LOOKUP"
        | "LSTM"
        | "UNIDIRECTIONAL_SEQUENCE_LSTM"
        | "BIDIRECTIONAL_SEQUENCE_LSTM"
        | "SVDF"
        | "RNN"
        | "UNIDIRECTIONAL_SEQUENCE_RNN" => "layer",
        "RELU" | "RELU6" | "RELU_N1_TO_1" | "RELU_0_TO_1" | "LEAKY_RELU" | "PRELU" | "ELU"
        | "LOGISTIC" | "TANH" | "HARD_SWISH" | "GELU" | "SOFTMAX" | "LOG_SOFTMAX" => "activation",
        "AVERAGE_POOL_2D" | "MAX_POOL_2D" | "L2_POOL_2D" => "pool",
        "L2_NORMALIZATION"
        | "LOCAL_RESPONSE_NORMALIZATION"
        | "MEAN"
        | "RSQRT"
        | "SQUARED_DIFFERENCE" => "normalization",
        "RESHAPE" | "SQUEEZE" | "EXPAND_DIMS" | "SHAPE" => "shape",
        "CONCATENATION"
        | "SPLIT"
        | "SPLIT_V"
        | "PACK"
        | "UNPACK"
        | "TRANSPOSE"
        | "PAD"
        | "PADV2"
        | "MIRROR_PAD"
        | "SLICE"
        | "STRIDED_SLICE"
        | "GATHER"
        | "GATHER_ND"
        | "TILE"
        | "BROADCAST_TO"
        | "SPACE_TO_DEPTH"
        | "DEPTH_TO_SPACE"
        | "BATCH_TO_SPACE_ND"
        | "SPACE_TO_BATCH_ND"
        | "RESIZE_BILINEAR"
        | "RESIZE_NEAREST_NEIGHBOR" => "tensor",
        "QUANTIZE" | "DEQUANTIZE" => "quantization",
        "WHILE" | "IF" | "CALL_ONCE" | "VAR_HANDLE" | "READ_VARIABLE" | "ASSIGN_VARIABLE" => {
            "control"
        }
        _ => "arithmetic",
    }
}

/// SQNR to severity: 40 dB and above is fine, 10 dB and below is the worst.
pub fn sqnr_severity(db: f64) -> f32 {
    ((40.0 - db) / 30.0).clamp(0.0, 1.0) as f32
}

fn cat(name: impl Into<String>, severity: f32) -> NodeValue {
    NodeValue::Category {
        name: name.into(),
        severity,
    }
}

/// The value of every node of `graph` under `by`.
pub fn values(graph: &Graph, model: &Model, by: ColourBy, data: &ColourData) -> Vec<NodeValue> {
    let sg = &model.subgraphs[graph.subgraph];
    graph
        .nodes
        .iter()
        .map(|node| {
            let ops = node.ops();
            let out_tensor = node.outputs.first().map(|&t| &sg.tensors[t]);
            match by {
                ColourBy::OpType => match &node.kind {
                    NodeKind::Op { .. } => {
                        let op = &sg.operators[ops[0]];
                        let name = if op.is_custom {
                            "custom"
                        } else {
                            op_category(&op.op)
                        };
                        cat(name, 0.0)
                    }
                    NodeKind::Input { .. } => cat("input", 0.0),
                    NodeKind::Output { .. } => cat("output", 0.0),
                },
                ColourBy::OutputDtype => match (&node.kind, out_tensor) {
                    (NodeKind::Output { tensor }, _) => cat(sg.tensors[*tensor].dtype.name(), 0.0),
                    (_, Some(t)) => cat(t.dtype.name(), 0.0),
                    _ => NodeValue::Missing,
                },
                ColourBy::Granularity => {
                    // The finest granularity among the op's weights: blockwise, then
                    // per-channel, then per-tensor. A blockwise tensor keeps `scales` empty.
                    let q = node
                        .weights
                        .iter()
                        .filter_map(|w| sg.tensors[w.tensor].quantization.as_ref())
                        .filter_map(|q| match &q.blockwise {
                            Some(b) => Some((2, format!("blockwise-{}", b.block_size))),
                            None if q.is_per_channel() => Some((1, "per-channel".into())),
                            None if !q.scales.is_empty() => Some((0, "per-tensor".into())),
                            None => None,
                        })
                        .max_by_key(|(rank, _)| *rank);
                    match (q, node.weights.is_empty()) {
                        (Some((_, g)), _) => cat(g, 0.0),
                        (None, false) => cat("none (float weights)", 0.0),
                        (None, true) => NodeValue::Missing,
                    }
                }
                ColourBy::WeightSqnr => node
                    .weights
                    .iter()
                    .filter_map(|w| data.weight_sqnr_db.get(&w.tensor))
                    .copied()
                    .reduce(f64::min)
                    .map_or(NodeValue::Missing, |v| NodeValue::Number {
                        value: v,
                        severity: sqnr_severity(v),
                    }),
                ColourBy::LayerSqnrLocal | ColourBy::LayerSqnrCumulative => node
                    .outputs
                    .iter()
                    .filter_map(|t| data.layer_sqnr_db.get(t))
                    .map(|&(local, cumulative)| {
                        if by == ColourBy::LayerSqnrLocal {
                            local
                        } else {
                            cumulative
                        }
                    })
                    .reduce(f64::min)
                    .map_or(NodeValue::Missing, |v| NodeValue::Number {
                        value: v,
                        severity: sqnr_severity(v),
                    }),
                ColourBy::Readiness | ColourBy::Readiness16 => {
                    if ops.is_empty() {
                        return NodeValue::Missing;
                    }
                    // The node is as ready as its least ready op.
                    let v = ops
                        .iter()
                        .map(|&o| {
                            let r = readiness::of_op(&sg.operators[o]);
                            if by == ColourBy::Readiness {
                                r.int8
                            } else {
                                r.int16x8
                            }
                        })
                        .max_by_key(|v| v.rank())
                        .unwrap_or(Verdict::Integer);
                    cat(v.label(), v.severity())
                }
            }
        })
        .collect()
}

/// The legend of a colouring: each category with its node count, or the numeric range.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Legend {
    pub categories: BTreeMap<String, (usize, f32)>,
    pub range: Option<(f64, f64)>,
    pub missing: usize,
}

pub fn legend(values: &[NodeValue]) -> Legend {
    let mut l = Legend::default();
    for v in values {
        match v {
            NodeValue::Category { name, severity } => {
                let e = l.categories.entry(name.clone()).or_insert((0, *severity));
                e.0 += 1;
            }
            NodeValue::Number { value, .. } => {
                let (lo, hi) = l.range.unwrap_or((*value, *value));
                l.range = Some((lo.min(*value), hi.max(*value)));
            }
            NodeValue::Missing => l.missing += 1,
        }
    }
    l
}

impl ColourData {
    /// The numbers the numeric colourings use, from the weights analysis (each analysed
    /// constant's SQNR) and a Compare run's per-layer errors (local and cumulative SQNR of each
    /// quantized activation), for subgraph `subgraph`.
    pub fn from_results(
        weights: Option<&crate::quant::WeightsReport>,
        layers: Option<&[crate::compare::LayerError]>,
        subgraph: usize,
    ) -> ColourData {
        let mut d = ColourData::default();
        for t in weights.map(|w| w.tensors.as_slice()).unwrap_or_default() {
            if let (true, Some(s)) = (t.tensor.subgraph == subgraph, t.errors.sqnr_db) {
                d.weight_sqnr_db.insert(t.tensor.index, s);
            }
        }
        if subgraph == 0 {
            for l in layers.unwrap_or_default() {
                let cumulative = l.cumulative.sqnr_db.unwrap_or(f64::INFINITY);
                let local = l
                    .local
                    .as_ref()
                    .and_then(|m| m.sqnr_db)
                    .unwrap_or(cumulative);
                if cumulative.is_finite() || local.is_finite() {
                    d.layer_sqnr_db.insert(l.quant_tensor, (local, cumulative));
                }
            }
        }
        d
    }
}

/// The colour of a category: red-amber-green by severity for readiness, else a fixed palette
/// keyed by the name (so `layer` is the same blue in every graph, the app and exports alike).
pub fn category_rgb(name: &str, severity: f32, by: ColourBy) -> [u8; 3] {
    if matches!(by, ColourBy::Readiness | ColourBy::Readiness16) {
        return severity_rgb(severity);
    }
    const PALETTE: [[u8; 3]; 10] = [
        [74, 120, 196],
        [196, 112, 52],
        [86, 160, 90],
        [170, 80, 160],
        [60, 160, 170],
        [180, 160, 60],
        [120, 120, 120],
        [200, 90, 100],
        [110, 90, 190],
        [90, 140, 60],
    ];
    let h = name
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    PALETTE[h as usize % PALETTE.len()]
}

/// Green (0, fine) through amber to red (1, worst).
pub fn severity_rgb(s: f32) -> [u8; 3] {
    const GREEN_AMBER_RED: [[f32; 3]; 3] = [
        [70.0, 160.0, 80.0],
        [220.0, 170.0, 50.0],
        [210.0, 60.0, 50.0],
    ];
    crate::compare::view::ramp(&GREEN_AMBER_RED, s)
}

/// Grey for a node with no value.
pub const MISSING_RGB: [u8; 3] = [90, 90, 90];

/// The fill of a node with value `v`.
pub fn value_rgb(v: &NodeValue, by: ColourBy) -> [u8; 3] {
    match v {
        NodeValue::Category { name, severity } => category_rgb(name, *severity, by),
        NodeValue::Number { severity, .. } => severity_rgb(*severity),
        NodeValue::Missing => MISSING_RGB,
    }
}

/// What a node with no value means under `by`, for the legend.
pub fn missing_reason(by: ColourBy, legend: &Legend) -> &'static str {
    match by {
        _ if legend.range.is_some() => "",
        ColourBy::LayerSqnrLocal | ColourBy::LayerSqnrCumulative => " (run Compare first)",
        ColourBy::WeightSqnr => " (no quantized weights or no weights analysis)",
        _ => "",
    }
}
