//! One op on its own: the float kernel on dequantized inputs, for per-layer local error.

use super::{kernels, EngineError, Value};
use crate::model::Model;
use ndarray::ArrayD;

/// Runs op `op_index` of subgraph `sg` with its FLOAT kernel on float inputs (one per present
/// input of the op, in order; -1 inputs are skipped). Inputs whose tensor is a non-quantized
/// integer or bool (shapes, axes, indices) are converted back to their type, or taken from the
/// model when constant. Used for per-layer local error (constants dequantized by the caller).
pub fn run_op_float(
    model: &Model,
    sg: usize,
    op_index: usize,
    inputs: &[ArrayD<f32>],
) -> Result<Vec<ArrayD<f32>>, EngineError> {
    let s = model
        .subgraphs
        .get(sg)
        .ok_or_else(|| EngineError::msg(format!("no subgraph {sg}")))?;
    let op = s
        .operators
        .get(op_index)
        .ok_or_else(|| EngineError::msg(format!("no op {op_index} in subgraph {sg}")))?;
    let fb = model
        .fb_operator(sg, op_index)
        .ok_or_else(|| EngineError::msg("operator missing in the flatbuffer"))?;
    let mut vals: Vec<Option<Value>> = Vec::new();
    let mut it = inputs.iter();
    for &t in &op.inputs {
        if t < 0 {
            vals.push(None);
            continue;
        }
        let meta = &s.tensors[t as usize];
        let a = it.next().ok_or_else(|| {
            EngineError::msg(format!("op {op_index} {}: too few inputs given", op.op))
        })?;
        let is_index_like = !meta.dtype.is_float() && meta.quantization.is_none();
        let v = if is_index_like {
            match model.tensor_data(sg, t as usize) {
                Some(b) => {
                    let shape: Vec<usize> = meta.shape.iter().map(|&d| d.max(0) as usize).collect();
                    Value::from_constant(b, meta.dtype, &shape)?
                }
                None => kernels::cast::cast_f32_to(a, meta.dtype)?,
            }
        } else {
            Value::F32(a.clone())
        };
        vals.push(Some(v));
    }
    let ctx = kernels::OpCtx::new(model, sg, op, fb, vals.iter().map(|v| v.as_ref()).collect());
    let outs = kernels::run_float(&ctx).map_err(|e| match e {
        EngineError::Type(msg) => EngineError::Op {
            sg,
            index: op_index,
            op: op.op.clone(),
            tensor: String::new(),
            msg,
        },
        o => o,
    })?;
    outs.into_iter().map(|v| v.to_f32_lossy()).collect()
}
