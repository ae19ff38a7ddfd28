//! The float twin of a quantized model: its constants dequantized and every op run with its
//! float kernel. Also used for per-layer *local* error (one op in float on given inputs).

use super::CompareError;
use crate::engine::kernels::cast::dequantize_value;
use crate::engine::{run_op_float, Value};
use crate::model::{Model, Quantization};
use ndarray::ArrayD;
use rayon::prelude::*;
use std::collections::HashMap;

/// `v` as float values, taking float32 arrays over without copying (otherwise what
/// [`dequantize_value`] computes). `None` when `v` cannot be read as real values (an integer
/// without quantization parameters).
pub fn into_real(v: Value, q: Option<&Quantization>) -> Option<ArrayD<f32>> {
    match v {
        Value::F32(a) => Some(a),
        other => dequantize_value(&other, q).ok(),
    }
}

/// A constant of subgraph 0 as float: dequantized when quantized, converted otherwise.
pub fn dequantized_constant(model: &Model, t: usize) -> Option<ArrayD<f32>> {
    let meta = &model.subgraphs[0].tensors[t];
    model.tensor_data(0, t)?;
    let v = crate::engine::kernels::densify::constant_value(model, 0, meta).ok()?;
    match meta.quantization.as_ref().filter(|q| !q.scales.is_empty()) {
        Some(q) => into_real(v, Some(q)),
        None => v.to_f32_lossy().ok(),
    }
}

/// Runs op `o` of subgraph 0 with its float kernel; non-constant inputs come from `value`.
pub fn float_op_on(
    model: &Model,
    o: usize,
    value: impl Fn(usize) -> Option<ArrayD<f32>>,
) -> Result<Vec<ArrayD<f32>>, CompareError> {
    let op = &model.subgraphs[0].operators[o];
    let mut inputs = Vec::new();
    for &t in op.inputs.iter().filter(|&&t| t >= 0) {
        let t = t as usize;
        let a = if model.subgraphs[0].tensors[t].is_constant {
            dequantized_constant(model, t)
        } else {
            value(t)
        };
        inputs.push(a.ok_or_else(|| {
            CompareError::Msg(format!("op {o} {}: input tensor {t} unavailable", op.op))
        })?);
    }
    if matches!(op.op.as_str(), "QUANTIZE" | "DEQUANTIZE") {
        // In float, crossing the integer boundary is the identity.
        return Ok(vec![inputs.swap_remove(0)]);
    }
    Ok(run_op_float(model, 0, o, &inputs)?)
}

/// Runs the float twin on real-valued inputs; returns every computed tensor of subgraph 0.
pub fn run_float_twin(
    model: &Model,
    inputs: &[ArrayD<f32>],
) -> Result<HashMap<usize, ArrayD<f32>>, CompareError> {
    let sg = &model.subgraphs[0];
    let mut vals: HashMap<usize, ArrayD<f32>> = HashMap::new();
    for (&t, a) in sg.inputs.iter().zip(inputs) {
        vals.insert(t as usize, a.clone());
    }
    for op in &sg.operators {
        if matches!(
            op.op.as_str(),
            "VAR_HANDLE" | "READ_VARIABLE" | "ASSIGN_VARIABLE" | "CALL_ONCE" | "WHILE" | "IF"
        ) {
            return Err(CompareError::Msg(format!(
                "the float twin cannot run op {} {} (state or control flow): compare against a float model instead",
                op.index, op.op
            )));
        }
        let outs = float_op_on(model, op.index, |t| vals.get(&t).cloned())?;
        for (&t, a) in op.outputs.iter().zip(outs) {
            if t >= 0 {
                vals.insert(t as usize, a);
            }
        }
    }
    Ok(vals)
}

/// Kept tensors of a run as real values (dequantized when quantized), each taken over from the
/// run; tensors that have no real value (integers without quantization) are left out.
pub(super) fn real_tensors(
    kept: HashMap<usize, Value>,
    sg: &crate::model::Subgraph,
) -> HashMap<usize, ArrayD<f32>> {
    kept.into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .filter_map(|(i, v)| into_real(v, sg.tensors[i].quantization.as_ref()).map(|a| (i, a)))
        .collect()
}
