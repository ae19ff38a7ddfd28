//! Serializable reports shared by the CLI's `--json` and the GUI's exports.

use crate::model::{Model, Operator, Quantization, Summary, TensorRole};
use serde::Serialize;

/// What `quantscope inspect --json` prints: the whole model, every subgraph, tensor and op.
#[derive(Serialize)]
pub struct InspectReport<'a> {
    pub path: String,
    pub file_bytes: usize,
    pub version: u32,
    pub description: Option<&'a str>,
    pub min_runtime_version: Option<String>,
    pub metadata: Vec<MetadataReport<'a>>,
    pub signatures: &'a [crate::model::SignatureDef],
    pub summary: Summary,
    pub subgraphs: Vec<SubgraphReport<'a>>,
}

#[derive(Serialize)]
pub struct MetadataReport<'a> {
    pub name: &'a str,
    pub buffer: u32,
    pub bytes: usize,
}

#[derive(Serialize)]
pub struct SubgraphReport<'a> {
    pub index: usize,
    pub name: Option<&'a str>,
    pub inputs: &'a [i32],
    pub outputs: &'a [i32],
    pub tensors: Vec<TensorReport<'a>>,
    pub operators: &'a [Operator],
}

#[derive(Serialize)]
pub struct TensorReport<'a> {
    pub index: usize,
    pub name: &'a str,
    pub dtype: String,
    pub shape: &'a [i32],
    pub shape_signature: Option<&'a [i32]>,
    pub buffer: u32,
    pub buffer_bytes: usize,
    pub external_buffer: bool,
    pub role: TensorRole,
    pub is_constant: bool,
    pub is_variable: bool,
    pub quantization: Option<&'a Quantization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<&'a crate::model::Sparsity>,
}

impl<'a> InspectReport<'a> {
    pub fn new(model: &'a Model, path: &str) -> Self {
        InspectReport {
            path: path.to_string(),
            file_bytes: model.file_bytes().len(),
            version: model.version,
            description: model.description.as_deref(),
            min_runtime_version: model.min_runtime_version(),
            metadata: model
                .metadata
                .iter()
                .map(|m| MetadataReport {
                    name: &m.name,
                    buffer: m.buffer,
                    bytes: m.bytes,
                })
                .collect(),
            signatures: &model.signatures,
            summary: model.summary(),
            subgraphs: model
                .subgraphs
                .iter()
                .map(|sg| SubgraphReport {
                    index: sg.index,
                    name: sg.name.as_deref(),
                    inputs: &sg.inputs,
                    outputs: &sg.outputs,
                    tensors: sg
                        .tensors
                        .iter()
                        .map(|t| TensorReport {
                            index: t.index,
                            name: &t.name,
                            dtype: t.dtype.name(),
                            shape: &t.shape,
                            shape_signature: t.shape_signature.as_deref(),
                            buffer: t.buffer,
                            buffer_bytes: t.buffer_bytes,
                            external_buffer: model
                                .buffers
                                .get(t.buffer as usize)
                                .is_some_and(|b| b.external),
                            role: t.role,
                            is_constant: t.is_constant,
                            is_variable: t.is_variable,
                            quantization: t.quantization.as_ref(),
                            sparsity: t.sparsity.as_ref(),
                        })
                        .collect(),
                    operators: &sg.operators,
                })
                .collect(),
        }
    }
}
