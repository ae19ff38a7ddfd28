//! Reading `.tflite` files: every subgraph, tensor, operator, buffer and quantization parameter.
//!
//! The file is memory-mapped and verified once; weights are never copied, [`Model::buffer_data`]
//! hands out slices of the mapping.

pub mod associated;
mod blockwise;
mod dtype;
pub mod metadata;
pub mod ops;
mod reader;
mod summary;
pub mod synthetic;

pub use blockwise::Blockwise;
pub use dtype::DType;
pub use ops::{activation_name, builtin_name, effective_builtin_code, fused_activation};
pub use reader::{raw_field, ModelError, ModelSource};
pub use summary::{human_bytes, ModelKind, Summary};

use serde::Serialize;
use std::path::{Path, PathBuf};
use tract_tflite::tflite;

/// An opened `.tflite` model: the verified bytes plus an owned index of everything in them.
pub struct Model {
    path: Option<PathBuf>,
    bytes: ModelSource,
    pub version: u32,
    pub description: Option<String>,
    pub subgraphs: Vec<Subgraph>,
    pub buffers: Vec<BufferInfo>,
    pub metadata: Vec<MetadataEntry>,
    pub signatures: Vec<SignatureDef>,
    pub operator_codes: Vec<OperatorCode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Subgraph {
    pub index: usize,
    pub name: Option<String>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
}

/// Where a tensor's values come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorRole {
    /// Values stored in the file (weights, biases, constant shapes).
    Constant,
    /// Computed while running (including the model's inputs).
    Activation,
    /// A variable tensor (`is_variable`) whose state survives between invocations.
    Variable,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tensor {
    pub index: usize,
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i32>,
    /// Shape with -1 for dynamic dimensions, when the file records one.
    pub shape_signature: Option<Vec<i32>>,
    pub buffer: u32,
    /// Bytes of stored data (0 for activations).
    pub buffer_bytes: usize,
    pub role: TensorRole,
    pub is_constant: bool,
    pub is_variable: bool,
    pub quantization: Option<Quantization>,
    pub sparsity: Option<Sparsity>,
}

/// A tensor as reports name it: subgraph, index and name (the first fields of each row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorId {
    pub subgraph: usize,
    pub index: usize,
    pub name: String,
}

/// `#index name`: how the app labels a tensor in lists and plots.
impl std::fmt::Display for TensorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{} {}", self.index, self.name)
    }
}

impl Tensor {
    /// This tensor's [`TensorId`] (tensors do not know their subgraph).
    pub fn id(&self, subgraph: usize) -> TensorId {
        TensorId {
            subgraph,
            index: self.index,
            name: self.name.clone(),
        }
    }

    /// Number of elements the shape declares; None for a negative (unknown) dimension or a
    /// product that overflows (a corrupt file).
    pub fn element_count(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?))
    }

    /// Bytes the tensor holds: the stored bytes of a constant; for an activation the size of
    /// one value at batch 1 (unknown dimensions counted as 1), before any arena sharing.
    /// 0 when the shape overflows (a corrupt file) or the dtype has no fixed size.
    pub fn value_bytes(&self) -> usize {
        if self.is_constant {
            return self.buffer_bytes;
        }
        let n = self
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d.max(1) as usize));
        n.and_then(|n| self.dtype.storage_bytes(n)).unwrap_or(0)
    }
}

/// The dequantized value `scale (q - zero_point)`. The difference is taken in f64 (exact for
/// the integers of any real tensor): a corrupt file's zero point may be any i64.
#[inline]
pub fn dequantize(scale: f64, q: i64, zero_point: i64) -> f64 {
    scale * (q as f64 - zero_point as f64)
}

/// Affine quantization: real = scale * (q - zero_point), per tensor or per channel along
/// `quantized_dimension`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantization {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
    pub quantized_dimension: i32,
    /// Calibration range recorded by the converter, when present (float units).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub min: Vec<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub max: Vec<f32>,
    /// Blockwise quantization (`QuantizationDetails.BlockwiseQuantization`): the scales live in
    /// another tensor and `scales` above is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blockwise: Option<Blockwise>,
    /// Other `QuantizationDetails` (custom, multi-axis, newer kinds), named but not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl Quantization {
    /// Scale/zero point or blockwise parameters: values carry a quantized meaning.
    pub fn is_quantized(&self) -> bool {
        !self.scales.is_empty() || self.blockwise.is_some()
    }
    pub fn is_per_channel(&self) -> bool {
        self.scales.len() > 1
    }
    /// Scale and zero point of channel `c` (channel 0 for per-tensor parameters).
    pub fn channel(&self, c: usize) -> (f32, i64) {
        let s = *self.scales.get(c).or(self.scales.first()).unwrap_or(&0.0);
        let z = *self
            .zero_points
            .get(c)
            .or(self.zero_points.first())
            .unwrap_or(&0);
        (s, z)
    }
}

/// Sparse storage (TFLite's `SparsityParameters`), summarised.
#[derive(Clone, Debug, Serialize)]
pub struct Sparsity {
    pub traversal_order: Vec<i32>,
    pub block_map: Vec<i32>,
    /// Per traversal dimension: "dense" or "sparse_csr".
    pub dim_formats: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Operator {
    pub index: usize,
    pub opcode_index: u32,
    /// `CONV_2D`, or the custom code for custom ops.
    pub op: String,
    pub builtin_code: i32,
    pub is_custom: bool,
    pub version: i32,
    /// Tensor indices; -1 marks an absent optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intermediates: Vec<i32>,
    pub fused_activation: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OperatorCode {
    pub builtin_code: i32,
    pub custom_code: Option<String>,
    pub version: i32,
    pub name: String,
}

/// Location of a buffer's bytes inside the file.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BufferInfo {
    pub offset: usize,
    pub len: usize,
    /// Stored after the flatbuffer (the >2 GB layout with `Buffer.offset`/`size`).
    pub external: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MetadataEntry {
    pub name: String,
    pub buffer: u32,
    pub bytes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignatureDef {
    pub key: Option<String>,
    pub subgraph_index: u32,
    /// (name, tensor index) pairs.
    pub inputs: Vec<(String, u32)>,
    pub outputs: Vec<(String, u32)>,
}

impl Model {
    /// Memory-maps and verifies `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let bytes = ModelSource::map(path)?;
        let mut model = reader::index(bytes)?;
        model.path = Some(path.to_path_buf());
        Ok(model)
    }

    /// Reads a model held in memory (tests, fuzzing, dropped files).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Model, ModelError> {
        reader::index(ModelSource::Owned(bytes))
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The whole file.
    pub fn file_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The flatbuffer root, for readers of op options (the engine).
    pub fn fb(&self) -> tflite::Model<'_> {
        // SAFETY: the same bytes passed `root_as_model_with_opts` verification in `Model::open`.
        unsafe { tflite::root_as_model_unchecked(self.bytes.as_slice()) }
    }

    /// The flatbuffer table of operator `op` of subgraph `sg`.
    pub fn fb_operator(&self, sg: usize, op: usize) -> Option<tflite::Operator<'_>> {
        let sub = self.fb().subgraphs()?.iter().nth(sg)?;
        let ops = sub.operators()?;
        (op < ops.len()).then(|| ops.get(op))
    }

    /// Bytes of buffer `index` (empty for activations and absent buffers).
    pub fn buffer_data(&self, index: u32) -> &[u8] {
        match self.buffers.get(index as usize) {
            Some(b) => &self.bytes.as_slice()[b.offset..b.offset + b.len],
            None => &[],
        }
    }

    /// Stored bytes of tensor `t` of subgraph `sg`, if it is a constant.
    pub fn tensor_data(&self, sg: usize, t: usize) -> Option<&[u8]> {
        let tensor = self.subgraphs.get(sg)?.tensors.get(t)?;
        tensor.is_constant.then(|| self.buffer_data(tensor.buffer))
    }

    /// A metadata entry's bytes by name (`min_runtime_version`, `TFLITE_METADATA`, ...).
    pub fn metadata_bytes(&self, name: &str) -> Option<&[u8]> {
        let m = self.metadata.iter().find(|m| m.name == name)?;
        Some(self.buffer_data(m.buffer))
    }

    /// The `min_runtime_version` metadata as text.
    pub fn min_runtime_version(&self) -> Option<String> {
        let b = self.metadata_bytes("min_runtime_version")?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(&b[..end]).into_owned())
    }

    pub fn summary(&self) -> Summary {
        summary::summarize(self)
    }
}

impl Model {
    /// The TFLite metadata (`TFLITE_METADATA`), when present and readable.
    pub fn tflite_metadata(&self) -> Option<metadata::TfliteMetadata> {
        metadata::parse(self.metadata_bytes("TFLITE_METADATA")?)
    }

    /// Members of the zip archive appended to the file (the metadata's associated files).
    pub fn packed_files(
        &self,
    ) -> Result<Vec<associated::PackedFile>, associated::AssociatedFileError> {
        associated::list(self.file_bytes())
    }

    /// The contents of associated file `name` from the appended archive (at most
    /// [`associated::MAX_FILE_BYTES`]).
    pub fn associated_file(&self, name: &str) -> Result<Vec<u8>, associated::AssociatedFileError> {
        associated::read(self.file_bytes(), name, associated::MAX_FILE_BYTES)
    }
}
