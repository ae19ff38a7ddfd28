//! The tensor table (`quantscope inspect`, the app's Tensors view) and the ops the engine
//! cannot run (the app's Overview): computed once per model, laid out by each front end.

use crate::model::{Model, Quantization};
use std::collections::BTreeMap;

/// The quantization parameters of a tensor summarised: per-tensor or the spread over channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantSummary {
    /// Number of scales (1 = per-tensor).
    pub scales: usize,
    pub axis: i32,
    pub scale_min: f32,
    pub scale_max: f32,
    /// Number of zero points.
    pub zero_points: usize,
    /// `(min, max)` of the zero points; `None` when the tensor stores none.
    pub zero_point_range: Option<(i64, i64)>,
}

impl QuantSummary {
    /// `None` when the quantization has no scales (min/max only).
    pub fn of(q: &Quantization) -> Option<QuantSummary> {
        if q.scales.is_empty() {
            return None;
        }
        let (scale_min, scale_max) = q
            .scales
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &s| (a.min(s), b.max(s)));
        let zero_point_range = q.zero_points.iter().fold(None, |r, &z| match r {
            None => Some((z, z)),
            Some((a, b)) => Some((z.min(a), z.max(b))),
        });
        Some(QuantSummary {
            scales: q.scales.len(),
            axis: q.quantized_dimension,
            scale_min,
            scale_max,
            zero_points: q.zero_points.len(),
            zero_point_range,
        })
    }

    pub fn per_channel(&self) -> bool {
        self.scales > 1
    }

    /// The zero point of a per-tensor quantization (0 when none is stored).
    pub fn zero_point(&self) -> i64 {
        self.zero_point_range.map_or(0, |r| r.0)
    }
}

/// One tensor of the model as the tables list it.
#[derive(Clone, Debug)]
pub struct TensorRow {
    pub subgraph: usize,
    pub index: usize,
    /// The tensor's name, prefixed `[sgN]` in models with several subgraphs.
    pub name: String,
    /// `(constant)`, `(input)` (no producing op) or `OP #index`.
    pub producer: String,
    pub dtype: String,
    pub shape: Vec<i32>,
    /// [`crate::model::Tensor::value_bytes`]: stored bytes, or an activation's size at batch 1.
    pub bytes: usize,
    /// `None` for unquantized tensors.
    pub quant: Option<QuantSummary>,
}

/// Every tensor of every subgraph, in index order.
pub fn tensor_rows(model: &Model) -> Vec<TensorRow> {
    let mut rows = Vec::new();
    for (si, g) in model.subgraphs.iter().enumerate() {
        let producers = crate::compare::producers(g);
        for t in &g.tensors {
            let producer = if t.is_constant {
                "(constant)".into()
            } else {
                match producers.get(&t.index).and_then(|&o| g.operators.get(o)) {
                    Some(op) => format!("{} #{}", op.op, op.index),
                    None => "(input)".into(),
                }
            };
            rows.push(TensorRow {
                subgraph: si,
                index: t.index,
                name: if model.subgraphs.len() > 1 {
                    format!("[sg{si}] {}", t.name)
                } else {
                    t.name.clone()
                },
                producer,
                dtype: t.dtype.name(),
                shape: t.shape.clone(),
                bytes: t.value_bytes(),
                quant: t.quantization.as_ref().and_then(QuantSummary::of),
            });
        }
    }
    rows
}

/// The op types the engine cannot run, with the reason of the first op of each type.
pub fn unsupported_ops(model: &Model) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (si, g) in model.subgraphs.iter().enumerate() {
        for op in &g.operators {
            if let Err(why) = crate::engine::kernels::supported(op, model, si) {
                out.entry(op.op.clone()).or_insert(why);
            }
        }
    }
    out
}
