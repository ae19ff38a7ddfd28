//! Integer readiness: what TensorFlow's converter does to each op of a float model under
//! full-integer post-training quantization, so a user sees which ops are at risk before
//! converting (a UNet whose one op had no int8 kernel; a model that converts and then fails to
//! prepare).
//!
//! The table reflects TensorFlow 2.21's converter and ai-edge-litert 2.3's kernels. It is
//! checked against the converter itself: `tests/fixtures/make_readiness_oracle.py` converts a
//! tiny model per op and records what came out (`tests/fixtures/readiness/converter.json`);
//! `tests/graph.rs` asserts this table agrees with every op that script could build.

use crate::model::Operator;
use serde::Serialize;

/// Which converter and runtime the table describes.
pub const REFLECTS: &str = "TensorFlow 2.21 converter, ai-edge-litert 2.3 kernels";

/// What full-integer conversion does to one op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The converter emits an integer kernel and the runtime runs it.
    Integer,
    /// Integer only when the conversion is restricted to `TFLITE_BUILTINS_INT8`; with the
    /// default op set the converter keeps it float.
    StrictOnly,
    /// The op has no integer kernel: it stays float, with QUANTIZE/DEQUANTIZE around it.
    Stays,
    /// The converter refuses the model (the int16x8 op set has no such op).
    ConvertFails,
    /// The converter emits the op, but the runtime's kernel refuses that type at prepare/invoke.
    PrepareFails,
    /// Not in the table (custom ops, ops the table does not cover).
    Unknown,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Integer => "becomes integer",
            Verdict::StrictOnly => "integer only with TFLITE_BUILTINS_INT8",
            Verdict::Stays => "stays float",
            Verdict::ConvertFails => "conversion fails",
            Verdict::PrepareFails => "converts, fails to run",
            Verdict::Unknown => "unknown to the table",
        }
    }
    /// Ordering by risk, for "the least ready op of a node".
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Integer => 0,
            Verdict::StrictOnly => 1,
            Verdict::Stays => 2,
            Verdict::Unknown => 3,
            Verdict::ConvertFails => 4,
            Verdict::PrepareFails => 5,
        }
    }
    pub fn severity(self) -> f32 {
        match self {
            Verdict::Integer => 0.0,
            Verdict::StrictOnly => 0.3,
            Verdict::Stays => 0.5,
            Verdict::Unknown => 0.6,
            Verdict::ConvertFails | Verdict::PrepareFails => 1.0,
        }
    }
}

/// How a row was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Converted and run by `make_readiness_oracle.py`.
    Converter,
    /// From TFLite's quantization op properties (`operator_property.cc`); the script's tiny
    /// model did not keep the op (the converter folded or rewrote it).
    OpProperties,
    /// From the int8 op fixtures (`tests/fixtures/make_fixtures.py`): integer where its bool
    /// result feeds quantized ops (SELECT), float where the bool is itself a model output.
    OpFixtures,
    /// Moves no values (shape, control flow, the boundary ops themselves).
    NotNumeric,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub int8: Verdict,
    pub int16x8: Verdict,
    pub evidence: Evidence,
}

use Evidence::{Converter as C, NotNumeric as N, OpFixtures as F, OpProperties as P};
use Verdict::{ConvertFails as CF, Integer as I, PrepareFails as PF, Stays as S, StrictOnly as SO};

/// op, int8, int16x8, evidence.
const TABLE: &[(&str, Verdict, Verdict, Evidence)] = &[
    ("ABS", I, I, C),
    ("ADD", I, I, C),
    ("ARG_MAX", I, CF, C),
    ("ARG_MIN", I, CF, P),
    ("AVERAGE_POOL_2D", I, I, C),
    ("BATCH_MATMUL", I, I, C),
    ("BATCH_TO_SPACE_ND", I, I, C),
    ("BROADCAST_TO", I, I, C),
    ("CONCATENATION", I, I, C),
    ("CONV_2D", I, I, C),
    ("COS", S, CF, C),
    ("CUMSUM", S, CF, C),
    ("DEPTHWISE_CONV_2D", I, I, C),
    ("DEPTH_TO_SPACE", I, CF, C),
    ("DIV", I, CF, C),
    ("ELU", S, CF, C),
    ("EQUAL", I, CF, F),
    ("EXP", I, I, C),
    ("EXPAND_DIMS", I, I, P),
    ("FLOOR", S, CF, C),
    ("FULLY_CONNECTED", I, I, C),
    ("GATHER", I, I, C),
    ("GELU", I, I, C),
    ("GREATER", I, CF, F),
    ("GREATER_EQUAL", I, CF, F),
    ("HARD_SWISH", I, CF, C),
    ("L2_NORMALIZATION", I, CF, C),
    ("LEAKY_RELU", I, I, C),
    ("LESS", I, CF, F),
    ("LESS_EQUAL", I, CF, F),
    ("LOCAL_RESPONSE_NORMALIZATION", S, CF, C),
    ("LOG", I, I, C),
    ("LOGISTIC", I, I, C),
    ("LOG_SOFTMAX", I, CF, C),
    ("MAXIMUM", I, I, C),
    ("MAX_POOL_2D", I, I, C),
    ("MEAN", I, I, C),
    ("MINIMUM", I, I, C),
    ("MIRROR_PAD", I, I, C),
    ("MUL", I, I, C),
    ("NEG", S, CF, C),
    ("NOT_EQUAL", I, CF, F),
    ("PACK", I, I, C),
    ("PAD", I, I, C),
    ("PADV2", I, PF, C),
    ("POW", S, CF, C),
    ("PRELU", I, I, P),
    ("REDUCE_MAX", I, I, C),
    ("REDUCE_MIN", I, I, C),
    ("REDUCE_PROD", I, I, C),
    ("RELU", I, I, C),
    ("RELU6", I, I, C),
    ("RELU_N1_TO_1", I, CF, P),
    ("RESHAPE", I, I, C),
    ("RESIZE_BILINEAR", I, I, C),
    ("RESIZE_NEAREST_NEIGHBOR", I, I, C),
    ("RSQRT", I, I, C),
    ("SIN", S, CF, C),
    ("SLICE", I, I, C),
    ("SOFTMAX", I, I, C),
    ("SPACE_TO_BATCH_ND", I, I, C),
    ("SPACE_TO_DEPTH", I, CF, C),
    ("SPLIT", I, I, C),
    ("SPLIT_V", I, I, C),
    ("SQRT", I, CF, C),
    ("SQUARE", S, CF, C),
    ("SQUARED_DIFFERENCE", I, PF, C),
    ("SQUEEZE", I, I, P),
    ("STRIDED_SLICE", I, I, C),
    ("SUB", I, I, C),
    ("SUM", I, I, C),
    ("SVDF", I, CF, P),
    ("TANH", I, I, C),
    ("TILE", I, I, C),
    ("TRANSPOSE", I, I, C),
    ("TRANSPOSE_CONV", I, S, C),
    ("UNPACK", SO, I, C),
    // Ops that carry no quantizable values, or are the boundary themselves.
    ("QUANTIZE", I, I, N),
    ("DEQUANTIZE", I, I, N),
    ("SHAPE", I, I, N),
    ("CAST", S, CF, N),
    ("WHILE", I, I, N),
    ("IF", I, I, N),
    ("CALL_ONCE", I, I, N),
];

/// The table's row for an op name, if any.
pub fn of_name(op: &str) -> Option<Readiness> {
    TABLE
        .iter()
        .find(|r| r.0 == op)
        .map(|&(_, int8, int16x8, evidence)| Readiness {
            int8,
            int16x8,
            evidence,
        })
}

/// Readiness of one operator; custom ops and ops missing from the table are `Unknown`.
pub fn of_op(op: &Operator) -> Readiness {
    let unknown = Readiness {
        int8: Verdict::Unknown,
        int16x8: Verdict::Unknown,
        evidence: Evidence::OpProperties,
    };
    if op.is_custom {
        return unknown;
    }
    of_name(&op.op).unwrap_or(unknown)
}

/// Every op name the table covers, for listing and tests.
pub fn covered() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|r| r.0)
}

/// The ops of a model at risk under a full-integer conversion: (op index, name, verdict).
pub fn at_risk(ops: &[Operator], int16x8: bool) -> Vec<(usize, String, Verdict)> {
    ops.iter()
        .map(|op| {
            let r = of_op(op);
            (
                op.index,
                op.op.clone(),
                if int16x8 { r.int16x8 } else { r.int8 },
            )
        })
        .filter(|(_, _, v)| *v != Verdict::Integer)
        .collect()
}
