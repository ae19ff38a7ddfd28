//! What `quantscope inspect --json` prints (and the app's report embeds): the whole model.

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
    /// The `TFLITE_METADATA` entry decoded, when present and readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tflite_metadata: Option<TfliteMetadataReport>,
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

/// The decoded model metadata: descriptive fields, input normalization, associated files.
#[derive(Serialize)]
pub struct TfliteMetadataReport {
    #[serde(flatten)]
    pub about: crate::model::metadata::ModelDescription,
    pub inputs: Vec<TensorMetadataReport>,
    pub outputs: Vec<TensorMetadataReport>,
    /// Every associated file, model-level first, then subgraph, inputs, outputs.
    pub associated_files: Vec<AssociatedFileReport>,
    /// Members of the zip archive appended to the model.
    pub archive: Vec<crate::model::associated::PackedFile>,
    /// Why the archive could not be listed (absent, corrupt), when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_error: Option<String>,
}

/// One input's or output's metadata and its position (its files are in `associated_files`).
#[derive(Serialize)]
pub struct TensorMetadataReport {
    pub index: usize,
    #[serde(flatten)]
    pub metadata: crate::model::metadata::TensorMetadata,
}

#[derive(Serialize)]
pub struct AssociatedFileReport {
    #[serde(flatten)]
    pub file: crate::model::metadata::AssociatedFile,
    /// "model", "subgraph 0", "input K" or "output K".
    pub attached_to: String,
    /// The model tensor's name when attached to an input or output.
    pub tensor: Option<String>,
    /// Uncompressed size in the archive; `None` when the archive lacks the file.
    pub bytes: Option<u64>,
}

impl TfliteMetadataReport {
    pub fn new(model: &Model) -> Option<Self> {
        use crate::model::metadata::Attachment;
        let md = model.tflite_metadata()?;
        let (archive, archive_error) = match model.packed_files() {
            Ok(v) => (v, None),
            // A missing or unreadable archive only matters when the metadata names files (the
            // zip signature can also occur by chance in a model's last bytes).
            Err(_) if md.all_associated_files().is_empty() => (Vec::new(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let sg = model.subgraphs.first();
        let tensor_name = |ids: Option<&Vec<i32>>, k: usize| {
            let t = usize::try_from(*ids?.get(k)?).ok()?;
            Some(sg?.tensors.get(t)?.name.clone())
        };
        let tensors = |v: &[crate::model::metadata::TensorMetadata]| {
            v.iter()
                .enumerate()
                .map(|(index, t)| TensorMetadataReport {
                    index,
                    metadata: t.clone(),
                })
                .collect()
        };
        let associated_files = md
            .all_associated_files()
            .into_iter()
            .map(|(at, f)| AssociatedFileReport {
                file: f.clone(),
                attached_to: at.to_string(),
                tensor: match at {
                    Attachment::Input(k) => tensor_name(sg.map(|s| &s.inputs), k),
                    Attachment::Output(k) => tensor_name(sg.map(|s| &s.outputs), k),
                    _ => None,
                },
                bytes: archive.iter().find(|p| p.name == f.name).map(|p| p.size),
            })
            .collect();
        Some(TfliteMetadataReport {
            inputs: tensors(&md.inputs),
            outputs: tensors(&md.outputs),
            about: md.about,
            associated_files,
            archive,
            archive_error,
        })
    }
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
            tflite_metadata: TfliteMetadataReport::new(model),
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
