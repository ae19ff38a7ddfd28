//! The quantization summary: what kind of model this is, and the evidence that decided it.

use super::{DType, Model, TensorRole};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How a model was converted, as TFLite's converter options name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ModelKind {
    #[serde(rename = "float32")]
    Float32,
    #[serde(rename = "float16 weights")]
    Float16Weights,
    #[serde(rename = "dynamic-range int8")]
    DynamicRangeInt8,
    #[serde(rename = "full-integer int8")]
    FullIntegerInt8,
    #[serde(rename = "full-integer uint8")]
    FullIntegerUint8,
    #[serde(rename = "int16x8")]
    Int16x8,
    #[serde(rename = "int4 weights")]
    Int4Weights,
    #[serde(rename = "mixed")]
    Mixed,
}

impl ModelKind {
    pub fn label(self) -> &'static str {
        match self {
            ModelKind::Float32 => "float32",
            ModelKind::Float16Weights => "float16 weights",
            ModelKind::DynamicRangeInt8 => "dynamic-range int8",
            ModelKind::FullIntegerInt8 => "full-integer int8",
            ModelKind::FullIntegerUint8 => "full-integer uint8",
            ModelKind::Int16x8 => "int16x8",
            ModelKind::Int4Weights => "int4 weights",
            ModelKind::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DTypeStat {
    pub count: usize,
    pub bytes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub kind: ModelKind,
    /// Sentences naming the tensors and counts behind `kind`.
    pub evidence: Vec<String>,
    /// No float activations except the model's own inputs and outputs.
    pub fully_quantized: bool,
    pub subgraphs: usize,
    pub tensors: usize,
    pub operators: usize,
    /// Tensors of every role, by dtype.
    pub counts_by_dtype: BTreeMap<String, usize>,
    pub constants_by_dtype: BTreeMap<String, DTypeStat>,
    pub activations_by_dtype: BTreeMap<String, DTypeStat>,
    /// Tensors with scale/zero point.
    pub quantized_tensors: usize,
    pub per_channel_tensors: usize,
    pub constant_bytes: usize,
    /// Float activations inside the graph (not model inputs/outputs): what keeps a model from
    /// being fully quantized. At most 20 listed.
    pub float_activations_inside: usize,
    pub float_activation_examples: Vec<String>,
    pub ops_by_type: BTreeMap<String, usize>,
    pub input_dtypes: Vec<String>,
    pub output_dtypes: Vec<String>,
}

/// Values a tensor can carry that quantization is about (not shapes, indices, handles).
fn is_value_type(d: DType) -> bool {
    matches!(
        d,
        DType::F32 | DType::F16 | DType::F64 | DType::I8 | DType::U8 | DType::I16 | DType::I4
    )
}

pub(super) fn summarize(model: &Model) -> Summary {
    let mut counts_by_dtype = BTreeMap::<String, usize>::new();
    let mut constants_by_dtype = BTreeMap::<String, DTypeStat>::new();
    let mut activations_by_dtype = BTreeMap::<String, DTypeStat>::new();
    let mut ops_by_type = BTreeMap::<String, usize>::new();
    let (mut quantized_tensors, mut per_channel_tensors, mut constant_bytes) = (0, 0, 0);
    let (mut tensors, mut operators) = (0, 0);
    // Activation dtypes inside the graphs (excluding subgraph 0's inputs/outputs).
    let mut inside_float = Vec::<String>::new();
    let mut inside_quant = BTreeMap::<DType, usize>::new();
    // The same for the model's own inputs/outputs: they decide when nothing lies inside.
    let mut io_float = Vec::<String>::new();
    let mut io_quant = BTreeMap::<DType, usize>::new();
    // Quantized constants that feed ops as weights, by dtype.
    let mut quant_consts = BTreeMap::<DType, usize>::new();
    let mut f16_consts = 0usize;

    let io: BTreeSet<i32> = model
        .subgraphs
        .first()
        .map(|sg| sg.inputs.iter().chain(&sg.outputs).copied().collect())
        .unwrap_or_default();

    for sg in &model.subgraphs {
        tensors += sg.tensors.len();
        operators += sg.operators.len();
        for op in &sg.operators {
            *ops_by_type.entry(op.op.clone()).or_default() += 1;
        }
        for t in &sg.tensors {
            let name = t.dtype.name();
            *counts_by_dtype.entry(name.clone()).or_default() += 1;
            let q = t.quantization.as_ref().filter(|q| !q.scales.is_empty());
            if let Some(q) = q {
                quantized_tensors += 1;
                per_channel_tensors += q.is_per_channel() as usize;
            }
            match t.role {
                TensorRole::Constant => {
                    let s = constants_by_dtype.entry(name).or_default();
                    s.count += 1;
                    s.bytes += t.buffer_bytes;
                    constant_bytes += t.buffer_bytes;
                    if t.dtype == DType::F16 {
                        f16_consts += 1;
                    }
                    if q.is_some()
                        && matches!(t.dtype, DType::I8 | DType::U8 | DType::I4 | DType::I16)
                    {
                        *quant_consts.entry(t.dtype).or_default() += 1;
                    }
                }
                TensorRole::Activation | TensorRole::Variable => {
                    activations_by_dtype.entry(name).or_default().count += 1;
                    let is_io = sg.index == 0 && io.contains(&(t.index as i32));
                    if !is_value_type(t.dtype) {
                        continue;
                    }
                    let (floats, quants) = if is_io {
                        (&mut io_float, &mut io_quant)
                    } else {
                        (&mut inside_float, &mut inside_quant)
                    };
                    if t.dtype.is_float() {
                        floats.push(format!("{} ({}, subgraph {})", t.name, t.dtype, sg.index));
                    } else if q.is_some() {
                        *quants.entry(t.dtype).or_default() += 1;
                    }
                }
            }
        }
    }

    let io_types = |list: &[i32]| -> Vec<String> {
        let sg = &model.subgraphs[0];
        list.iter()
            .map(|&i| sg.tensors[i as usize].dtype.name())
            .collect()
    };
    let input_dtypes = io_types(&model.subgraphs[0].inputs);
    let output_dtypes = io_types(&model.subgraphs[0].outputs);

    // A single-op model has no activation inside: its inputs/outputs tell how it runs.
    if inside_float.is_empty() && inside_quant.is_empty() {
        inside_float = io_float;
        inside_quant = io_quant;
    }
    let n_quant_act: usize = inside_quant.values().sum();
    let fully_quantized = inside_float.is_empty() && n_quant_act > 0;
    let mut evidence = Vec::new();
    let count = |m: &BTreeMap<DType, usize>, d: DType| m.get(&d).copied().unwrap_or(0);
    let int4 = count(&quant_consts, DType::I4);
    let int8_w = count(&quant_consts, DType::I8);

    let kind = if int4 > 0 {
        evidence.push(format!("{int4} int4 quantized constant tensors"));
        ModelKind::Int4Weights
    } else if n_quant_act > 0 && !inside_float.is_empty() {
        evidence.push(format!(
            "{n_quant_act} quantized activations and {} float activations inside the graph (e.g. {})",
            inside_float.len(),
            inside_float[0]
        ));
        ModelKind::Mixed
    } else if n_quant_act > 0 {
        let (i8a, u8a, i16a) = (
            count(&inside_quant, DType::I8),
            count(&inside_quant, DType::U8),
            count(&inside_quant, DType::I16),
        );
        evidence.push(format!(
            "every activation inside the graph is integer: {i8a} int8, {u8a} uint8, {i16a} int16; no float activations"
        ));
        if i16a > 0 && i16a >= i8a {
            evidence.push(format!(
                "{i16a} int16 activations with {int8_w} int8 weight tensors"
            ));
            ModelKind::Int16x8
        } else if u8a > 0 && i8a == 0 {
            ModelKind::FullIntegerUint8
        } else {
            ModelKind::FullIntegerInt8
        }
    } else if int8_w > 0 && f16_consts > 0 {
        evidence.push(format!("{int8_w} int8 quantized constants and {f16_consts} float16 constants, float activations"));
        ModelKind::Mixed
    } else if int8_w > 0 {
        evidence.push(format!(
            "{int8_w} int8 quantized constant tensors with float activations ({} float activations inside the graph)",
            inside_float.len()
        ));
        ModelKind::DynamicRangeInt8
    } else if f16_consts > 0 {
        evidence.push(format!(
            "{f16_consts} float16 constant tensors (dequantized to float32 at run time)"
        ));
        ModelKind::Float16Weights
    } else {
        evidence.push("no quantized tensors and no float16 constants".to_string());
        ModelKind::Float32
    };
    evidence.push(format!(
        "inputs {} -> outputs {}",
        input_dtypes.join(","),
        output_dtypes.join(",")
    ));

    Summary {
        kind,
        evidence,
        fully_quantized,
        subgraphs: model.subgraphs.len(),
        tensors,
        operators,
        counts_by_dtype,
        constants_by_dtype,
        activations_by_dtype,
        quantized_tensors,
        per_channel_tensors,
        constant_bytes,
        float_activations_inside: inside_float.len(),
        float_activation_examples: inside_float.into_iter().take(20).collect(),
        ops_by_type,
        input_dtypes,
        output_dtypes,
    }
}
