//! TFLite model metadata (`TFLITE_METADATA`, tflite-support's metadata_schema.fbs): the parts
//! quantscope uses — the model's name/description/version/author/license, each input's
//! NormalizationOptions (mean/std) and the associated files (label lists, descriptions...) of
//! the model and of each input/output tensor.
//!
//! The metadata schema is not bundled with tract-tflite, so this reads the few fields it needs
//! by vtable slot with a bounds-checked reader: malformed metadata yields `None` or skips the
//! unreadable part, never a panic. The files' contents live in a zip archive appended to the
//! model (see [`crate::model::associated`]).

use serde::{Serialize, Serializer};

/// What a model says about itself (ModelMetadata's descriptive fields).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelDescription {
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub author: Option<String>,
    pub license: Option<String>,
}

impl ModelDescription {
    /// Each field with its name, in schema order.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("name", &self.name),
            ("description", &self.description),
            ("version", &self.version),
            ("author", &self.author),
            ("license", &self.license),
        ]
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TfliteMetadata {
    #[serde(flatten)]
    pub about: ModelDescription,
    /// Per input tensor of subgraph 0, in `SubGraph.inputs` order.
    pub inputs: Vec<TensorMetadata>,
    /// Per output tensor of subgraph 0, in `SubGraph.outputs` order.
    pub outputs: Vec<TensorMetadata>,
    /// Files attached to the whole model (ModelMetadata.associated_files).
    pub associated_files: Vec<AssociatedFile>,
    /// Files attached to subgraph 0 (SubGraphMetadata.associated_files).
    pub subgraph_associated_files: Vec<AssociatedFile>,
}

/// What the metadata says about one input or output tensor.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TensorMetadata {
    pub name: Option<String>,
    pub description: Option<String>,
    /// NormalizationOptions (on 0..255 pixels for images), empty when not given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub std: Vec<f32>,
    /// Reported once, with every other file, by [`TfliteMetadata::all_associated_files`].
    #[serde(skip)]
    pub associated_files: Vec<AssociatedFile>,
}

/// Inputs were the only tensors read before outputs were; the old name stays valid.
pub type InputMetadata = TensorMetadata;

/// An `AssociatedFile` entry: the file itself is a member of the appended zip named `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssociatedFile {
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub file_type: AssociatedFileType,
    pub locale: Option<String>,
}

/// `AssociatedFileType` (a byte enum; values the schema does not know yet are kept as numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssociatedFileType {
    Unknown,
    Descriptions,
    /// One label per line for the last axis of the tensor (image classification scores).
    TensorAxisLabels,
    /// Labels the tensor's values index into (detected classes of a detector).
    TensorValueLabels,
    TensorAxisScoreCalibration,
    Vocabulary,
    Other(u8),
}

impl AssociatedFileType {
    pub fn from_byte(b: u8) -> Self {
        match b {
            0 => Self::Unknown,
            1 => Self::Descriptions,
            2 => Self::TensorAxisLabels,
            3 => Self::TensorValueLabels,
            4 => Self::TensorAxisScoreCalibration,
            5 => Self::Vocabulary,
            n => Self::Other(n),
        }
    }

    /// The schema's spelling (`TENSOR_AXIS_LABELS`), `TYPE_<n>` for unknown values.
    pub fn name(&self) -> String {
        match self {
            Self::Unknown => "UNKNOWN".into(),
            Self::Descriptions => "DESCRIPTIONS".into(),
            Self::TensorAxisLabels => "TENSOR_AXIS_LABELS".into(),
            Self::TensorValueLabels => "TENSOR_VALUE_LABELS".into(),
            Self::TensorAxisScoreCalibration => "TENSOR_AXIS_SCORE_CALIBRATION".into(),
            Self::Vocabulary => "VOCABULARY".into(),
            Self::Other(n) => format!("TYPE_{n}"),
        }
    }
}

impl std::fmt::Display for AssociatedFileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for AssociatedFileType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// Where an associated file is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum Attachment {
    Model,
    Subgraph,
    Input(usize),
    Output(usize),
}

impl std::fmt::Display for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attachment::Model => f.write_str("model"),
            Attachment::Subgraph => f.write_str("subgraph 0"),
            Attachment::Input(k) => write!(f, "input {k}"),
            Attachment::Output(k) => write!(f, "output {k}"),
        }
    }
}

impl TfliteMetadata {
    /// Every associated file with what it is attached to: model, subgraph, inputs, outputs.
    pub fn all_associated_files(&self) -> Vec<(Attachment, &AssociatedFile)> {
        let mut v: Vec<(Attachment, &AssociatedFile)> = Vec::new();
        v.extend(self.associated_files.iter().map(|f| (Attachment::Model, f)));
        v.extend(
            self.subgraph_associated_files
                .iter()
                .map(|f| (Attachment::Subgraph, f)),
        );
        for (k, t) in self.inputs.iter().enumerate() {
            v.extend(t.associated_files.iter().map(|f| (Attachment::Input(k), f)));
        }
        for (k, t) in self.outputs.iter().enumerate() {
            v.extend(
                t.associated_files
                    .iter()
                    .map(|f| (Attachment::Output(k), f)),
            );
        }
        v
    }

    /// The label file of output `k`: the first TENSOR_AXIS_LABELS file, as the schema says
    /// ("additional ones are to be distinguished by their locale").
    pub fn output_axis_labels(&self, k: usize) -> Option<&AssociatedFile> {
        self.outputs
            .get(k)?
            .associated_files
            .iter()
            .find(|f| f.file_type == AssociatedFileType::TensorAxisLabels)
    }
}

/// The metadata bytes plus a budget of bytes to produce: tables can share children, so a
/// small crafted buffer could otherwise expand into gigabytes of strings and vectors.
struct Buf<'a>(&'a [u8], std::cell::Cell<usize>);

impl<'a> Buf<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Buf(
            bytes,
            std::cell::Cell::new(bytes.len().saturating_mul(2) + 4096),
        )
    }
    /// Takes `n` from the budget; `None` once it is spent.
    fn charge(&self, n: usize) -> Option<()> {
        let left = self.1.get().checked_sub(n)?;
        self.1.set(left);
        Some(())
    }
    fn u8(&self, pos: usize) -> Option<u8> {
        self.0.get(pos).copied()
    }
    fn u32(&self, pos: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.0.get(pos..pos.checked_add(4)?)?.try_into().ok()?,
        ))
    }
    fn u16(&self, pos: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.0.get(pos..pos.checked_add(2)?)?.try_into().ok()?,
        ))
    }
    /// Position of field `index` of the table at `table`, if present.
    fn field(&self, table: usize, index: usize) -> Option<usize> {
        let soff = self.u32(table)? as i32 as i64;
        let vt = usize::try_from(table as i64 - soff).ok()?;
        let vt_len = self.u16(vt)? as usize;
        let slot = 4 + 2 * index;
        if slot + 2 > vt_len {
            return None;
        }
        let off = self.u16(vt + slot)? as usize;
        (off != 0).then_some(table + off)
    }
    fn indirect(&self, pos: usize) -> Option<usize> {
        pos.checked_add(self.u32(pos)? as usize)
    }
    fn string(&self, table: usize, index: usize) -> Option<String> {
        let s = self.indirect(self.field(table, index)?)?;
        let len = self.u32(s)? as usize;
        let bytes = self.0.get(s + 4..(s + 4).checked_add(len)?)?;
        self.charge(len)?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
    /// Element positions of a vector field.
    fn vector(&self, table: usize, index: usize, elem: usize) -> Option<Vec<usize>> {
        let v = self.indirect(self.field(table, index)?)?;
        let len = self.u32(v)? as usize;
        // The elements must lie inside the buffer (bounds the allocation below too).
        let end = len.checked_mul(elem)?.checked_add(v)?.checked_add(4)?;
        if end > self.0.len() {
            return None;
        }
        self.charge(len.checked_mul(elem)?)?;
        Some((0..len).map(|i| v + 4 + i * elem).collect())
    }
    fn tables(&self, table: usize, index: usize) -> Vec<usize> {
        self.vector(table, index, 4)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| self.indirect(p))
            .collect()
    }
    fn floats(&self, table: usize, index: usize) -> Vec<f32> {
        self.vector(table, index, 4)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| self.u32(p).map(f32::from_bits))
            .collect()
    }
    /// A vector of AssociatedFile tables (0 name, 1 description, 2 type, 3 locale); entries
    /// without a name cannot be looked up in the zip and are skipped.
    fn associated_files(&self, table: usize, index: usize) -> Vec<AssociatedFile> {
        self.tables(table, index)
            .into_iter()
            .filter_map(|f| {
                Some(AssociatedFile {
                    name: self.string(f, 0)?,
                    description: self.string(f, 1),
                    file_type: AssociatedFileType::from_byte(
                        self.field(f, 2).and_then(|p| self.u8(p)).unwrap_or(0),
                    ),
                    locale: self.string(f, 3),
                })
            })
            .collect()
    }
    /// A TensorMetadata table: 0 name, 1 description, 2 dimension_names, 3 content,
    /// 4 process_units, 5 stats, 6 associated_files.
    fn tensor(&self, t: usize) -> TensorMetadata {
        let mut md = TensorMetadata {
            name: self.string(t, 0),
            description: self.string(t, 1),
            associated_files: self.associated_files(t, 6),
            ..Default::default()
        };
        // ProcessUnit: 0 options_type, 1 options. NormalizationOptions: 0 mean, 1 std.
        for pu in self.tables(t, 4) {
            let tag = self.field(pu, 0).and_then(|p| self.u8(p));
            if tag == Some(NORMALIZATION_OPTIONS) {
                if let Some(opts) = self.field(pu, 1).and_then(|p| self.indirect(p)) {
                    md.mean = self.floats(opts, 0);
                    md.std = self.floats(opts, 1);
                }
            }
        }
        md
    }
}

/// ProcessUnitOptions union tag of NormalizationOptions.
const NORMALIZATION_OPTIONS: u8 = 1;

/// Parses `TFLITE_METADATA` bytes; `None` when they are not a readable ModelMetadata.
pub fn parse(bytes: &[u8]) -> Option<TfliteMetadata> {
    let b = Buf::new(bytes);
    let root = b.indirect(0)?;
    b.u32(root)?;
    // ModelMetadata: 0 name, 1 description, 2 version, 3 subgraph_metadata, 4 author,
    // 5 license, 6 associated_files, 7 min_parser_version.
    let mut md = TfliteMetadata {
        about: ModelDescription {
            name: b.string(root, 0),
            description: b.string(root, 1),
            version: b.string(root, 2),
            author: b.string(root, 4),
            license: b.string(root, 5),
        },
        associated_files: b.associated_files(root, 6),
        ..Default::default()
    };
    // SubGraphMetadata: 0 name, 1 description, 2 input_tensor_metadata,
    // 3 output_tensor_metadata, 4 associated_files, 5/6 input/output_process_units.
    if let Some(&sg) = b.tables(root, 3).first() {
        md.inputs = b.tables(sg, 2).into_iter().map(|t| b.tensor(t)).collect();
        md.outputs = b.tables(sg, 3).into_iter().map(|t| b.tensor(t)).collect();
        md.subgraph_associated_files = b.associated_files(sg, 4);
    }
    Some(md)
}
