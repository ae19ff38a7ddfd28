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
    #[serde(rename = "dynamic-range int4")]
    DynamicRangeInt4,
    #[serde(rename = "dynamic-range int2")]
    DynamicRangeInt2,
    #[serde(rename = "weight-only int8")]
    WeightOnlyInt8,
    #[serde(rename = "weight-only int4")]
    WeightOnlyInt4,
    #[serde(rename = "weight-only int2")]
    WeightOnlyInt2,
    /// Weights with one scale per block of input channels (`BlockwiseQuantization`);
    /// `Summary::kind_detail` names bits, block size and how they are computed.
    #[serde(rename = "blockwise weights")]
    BlockwiseWeights,
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
            ModelKind::DynamicRangeInt4 => "dynamic-range int4",
            ModelKind::DynamicRangeInt2 => "dynamic-range int2",
            ModelKind::WeightOnlyInt8 => "weight-only int8",
            ModelKind::WeightOnlyInt4 => "weight-only int4",
            ModelKind::WeightOnlyInt2 => "weight-only int2",
            ModelKind::BlockwiseWeights => "blockwise weights",
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
    /// Stored bytes for constants; for activations the bytes one inference holds at batch 1
    /// (unknown dimensions counted as 1), before any arena sharing.
    pub bytes: usize,
    /// `bytes` as a fraction of the file (constants only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_file: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub kind: ModelKind,
    /// The kind in words, with bits, block size and compute path: "weight-only int8
    /// (DEQUANTIZE to float)", "int4 blockwise-32 weights, dynamic-range (hybrid kernels)".
    pub kind_detail: String,
    /// "81 of 499 tensors quantized".
    pub coverage: String,
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
    /// Tensors with scale/zero point or blockwise parameters.
    pub quantized_tensors: usize,
    /// Tensors with blockwise parameters (their scales live in other tensors).
    pub blockwise_tensors: usize,
    pub per_channel_tensors: usize,
    pub constant_bytes: usize,
    pub file_bytes: usize,
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
        DType::F32
            | DType::F16
            | DType::BF16
            | DType::F64
            | DType::I8
            | DType::U8
            | DType::I16
            | DType::I4
            | DType::I2
            | DType::U4
    )
}

/// Quantized integer weights, by how the model computes with them.
#[derive(Default)]
struct WeightUse {
    /// Feeding DEQUANTIZE only: float compute on dequantized weights.
    weight_only: BTreeMap<DType, usize>,
    /// Feeding compute ops directly (hybrid kernels with float activations).
    dynamic: BTreeMap<DType, usize>,
    /// Consumer ops of the dynamic ones, for the evidence.
    dynamic_ops: BTreeSet<String>,
    /// Blockwise tensors by (dtype, block size).
    blockwise: BTreeMap<(DType, i32), usize>,
    blockwise_weight_only: usize,
}

fn bits_name(m: &BTreeMap<DType, usize>) -> String {
    m.iter()
        .map(|(d, n)| format!("{n} {d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `[int8, int4, int2]` kind of one family picked by the dtype with the most tensors.
fn by_width(m: &BTreeMap<DType, usize>, [int8, int4, int2]: [ModelKind; 3]) -> ModelKind {
    match m.iter().max_by_key(|(_, &n)| n).map(|(&d, _)| d) {
        Some(DType::I4 | DType::U4) => int4,
        Some(DType::I2) => int2,
        _ => int8,
    }
}

pub(super) fn summarize(model: &Model) -> Summary {
    let mut counts_by_dtype = BTreeMap::<String, usize>::new();
    let mut constants_by_dtype = BTreeMap::<String, DTypeStat>::new();
    let mut activations_by_dtype = BTreeMap::<String, DTypeStat>::new();
    let mut ops_by_type = BTreeMap::<String, usize>::new();
    let (mut quantized_tensors, mut per_channel_tensors, mut constant_bytes) = (0, 0, 0);
    let mut blockwise_tensors = 0;
    let (mut tensors, mut operators) = (0, 0);
    // Activation dtypes inside the graphs (excluding subgraph 0's inputs/outputs).
    let mut inside_float = Vec::<String>::new();
    let mut inside_quant = BTreeMap::<DType, usize>::new();
    // The same for the model's own inputs/outputs: they decide when nothing lies inside.
    let mut io_float = Vec::<String>::new();
    let mut io_quant = BTreeMap::<DType, usize>::new();
    let mut weights = WeightUse::default();
    let mut f16_consts = 0usize;
    let file_bytes = model.file_bytes().len();

    let io: BTreeSet<i32> = model
        .subgraphs
        .first()
        .map(|sg| sg.inputs.iter().chain(&sg.outputs).copied().collect())
        .unwrap_or_default();

    for sg in &model.subgraphs {
        tensors += sg.tensors.len();
        operators += sg.operators.len();
        // Who reads each tensor, and which tensors hold block scales (not weights themselves).
        let mut consumers = vec![Vec::<&str>::new(); sg.tensors.len()];
        for op in &sg.operators {
            *ops_by_type.entry(op.op.clone()).or_default() += 1;
            for &i in op.inputs.iter().filter(|&&i| i >= 0) {
                if let Some(c) = consumers.get_mut(i as usize) {
                    c.push(op.op.as_str());
                }
            }
        }
        let block_params: BTreeSet<i32> = sg
            .tensors
            .iter()
            .filter_map(|t| t.quantization.as_ref()?.blockwise.as_ref())
            .flat_map(|b| [b.scales_tensor, b.zero_points_tensor])
            .collect();
        for t in &sg.tensors {
            let name = t.dtype.name();
            *counts_by_dtype.entry(name.clone()).or_default() += 1;
            let q = t.quantization.as_ref().filter(|q| q.is_quantized());
            if let Some(q) = q {
                quantized_tensors += 1;
                per_channel_tensors += q.is_per_channel() as usize;
                blockwise_tensors += q.blockwise.is_some() as usize;
            }
            match t.role {
                TensorRole::Constant => {
                    let s = constants_by_dtype.entry(name).or_default();
                    s.count += 1;
                    s.bytes += t.buffer_bytes;
                    constant_bytes += t.buffer_bytes;
                    if t.dtype == DType::F16 && !block_params.contains(&(t.index as i32)) {
                        f16_consts += 1;
                    }
                    let int_weight = matches!(
                        t.dtype,
                        DType::I8 | DType::U8 | DType::I4 | DType::I2 | DType::U4 | DType::I16
                    );
                    if let (Some(q), true) = (q, int_weight) {
                        let users = &consumers[t.index];
                        let only_dequantize =
                            !users.is_empty() && users.iter().all(|&u| u == "DEQUANTIZE");
                        if only_dequantize {
                            *weights.weight_only.entry(t.dtype).or_default() += 1;
                        } else {
                            *weights.dynamic.entry(t.dtype).or_default() += 1;
                            weights
                                .dynamic_ops
                                .extend(users.iter().map(|u| u.to_string()));
                        }
                        if let Some(b) = &q.blockwise {
                            *weights
                                .blockwise
                                .entry((t.dtype, b.block_size))
                                .or_default() += 1;
                            weights.blockwise_weight_only += only_dequantize as usize;
                        }
                    }
                }
                TensorRole::Activation | TensorRole::Variable => {
                    let stat = activations_by_dtype.entry(name).or_default();
                    stat.count += 1;
                    stat.bytes = stat.bytes.saturating_add(t.value_bytes());
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
    for s in constants_by_dtype.values_mut() {
        s.share_of_file = Some(if file_bytes > 0 {
            s.bytes as f64 / file_bytes as f64
        } else {
            0.0
        });
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
    let int8_w = count(&weights.dynamic, DType::I8) + count(&weights.weight_only, DType::I8);
    let n_wo: usize = weights.weight_only.values().sum();
    let n_dr: usize = weights.dynamic.values().sum();
    let n_blk: usize = weights.blockwise.values().sum();
    let dyn_ops = weights
        .dynamic_ops
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if n_wo > 0 {
        evidence.push(format!(
            "weight-only: {} quantized weight tensors feed only DEQUANTIZE (float compute on dequantized weights)",
            bits_name(&weights.weight_only)
        ));
    }
    if n_dr > 0 && n_quant_act == 0 {
        evidence.push(format!(
            "dynamic-range: {} quantized weight tensors feed {dyn_ops} directly with float activations (hybrid kernels quantize activations at run time)",
            bits_name(&weights.dynamic)
        ));
    }
    for ((d, bs), n) in &weights.blockwise {
        evidence.push(format!(
            "{n} {d} blockwise tensors, block size {bs} (scales in separate tensors)"
        ));
    }
    let blockwise_label = || {
        let ((d, bs), _) = weights.blockwise.iter().max_by_key(|(_, &n)| n).unwrap();
        let how = if weights.blockwise_weight_only == n_blk {
            "weight-only (DEQUANTIZE to float)"
        } else {
            "dynamic-range (hybrid kernels)"
        };
        format!("{d} blockwise-{bs} weights, {how}")
    };

    let (kind, kind_detail) = if n_quant_act > 0 && !inside_float.is_empty() {
        evidence.push(format!(
            "{n_quant_act} quantized activations and {} float activations inside the graph (e.g. {})",
            inside_float.len(),
            inside_float[0]
        ));
        (
            ModelKind::Mixed,
            "mixed integer and float activations".to_string(),
        )
    } else if n_quant_act > 0 {
        let (i8a, u8a, i16a) = (
            count(&inside_quant, DType::I8),
            count(&inside_quant, DType::U8),
            count(&inside_quant, DType::I16),
        );
        evidence.push(format!(
            "every activation inside the graph is integer: {i8a} int8, {u8a} uint8, {i16a} int16; no float activations"
        ));
        let k = if i16a > 0 && i16a >= i8a {
            evidence.push(format!(
                "{i16a} int16 activations with {int8_w} int8 weight tensors"
            ));
            ModelKind::Int16x8
        } else if u8a > 0 && i8a == 0 {
            ModelKind::FullIntegerUint8
        } else {
            ModelKind::FullIntegerInt8
        };
        (k, k.label().to_string())
    } else if n_wo > 0 && n_dr > 0 {
        (
            ModelKind::Mixed,
            format!(
                "mixed: weight-only {} and dynamic-range {}",
                bits_name(&weights.weight_only),
                bits_name(&weights.dynamic)
            ),
        )
    } else if n_blk > 0 {
        let mut d = blockwise_label();
        if n_blk < n_wo + n_dr {
            d.push_str(&format!(
                " ({n_blk} of {} quantized weights blockwise)",
                n_wo + n_dr
            ));
        }
        (ModelKind::BlockwiseWeights, d)
    } else if (n_wo > 0 || n_dr > 0) && f16_consts > 0 {
        evidence.push(format!(
            "{} quantized constants and {f16_consts} float16 constants, float activations",
            n_wo + n_dr
        ));
        (
            ModelKind::Mixed,
            "mixed: integer and float16 weights".to_string(),
        )
    } else if n_dr > 0 {
        use ModelKind::{DynamicRangeInt2, DynamicRangeInt4, DynamicRangeInt8};
        let k = by_width(
            &weights.dynamic,
            [DynamicRangeInt8, DynamicRangeInt4, DynamicRangeInt2],
        );
        (k, format!("{} (hybrid kernels)", k.label()))
    } else if n_wo > 0 {
        use ModelKind::{WeightOnlyInt2, WeightOnlyInt4, WeightOnlyInt8};
        let k = by_width(
            &weights.weight_only,
            [WeightOnlyInt8, WeightOnlyInt4, WeightOnlyInt2],
        );
        (k, format!("{} (DEQUANTIZE to float)", k.label()))
    } else if f16_consts > 0 {
        evidence.push(format!(
            "{f16_consts} float16 constant tensors (dequantized to float32 at run time)"
        ));
        (
            ModelKind::Float16Weights,
            ModelKind::Float16Weights.label().to_string(),
        )
    } else {
        evidence.push("no quantized tensors and no float16 constants".to_string());
        (ModelKind::Float32, ModelKind::Float32.label().to_string())
    };
    evidence.push(format!(
        "inputs {} -> outputs {}",
        input_dtypes.join(","),
        output_dtypes.join(",")
    ));

    Summary {
        kind,
        kind_detail,
        coverage: format!("{quantized_tensors} of {tensors} tensors quantized"),
        evidence,
        fully_quantized,
        subgraphs: model.subgraphs.len(),
        tensors,
        operators,
        counts_by_dtype,
        constants_by_dtype,
        activations_by_dtype,
        quantized_tensors,
        blockwise_tensors,
        per_channel_tensors,
        constant_bytes,
        file_bytes,
        float_activations_inside: inside_float.len(),
        float_activation_examples: inside_float.into_iter().take(20).collect(),
        ops_by_type,
        input_dtypes,
        output_dtypes,
    }
}

/// Bytes for people: "512 B", "3.4 KB", "12.50 MB", "2.95 GB" (binary units).
pub fn human_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f >= K * K * K {
        format!("{:.2} GB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.2} MB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KB", f / K)
    } else {
        format!("{b} B")
    }
}
