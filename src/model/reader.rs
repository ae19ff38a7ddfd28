//! Mapping, verifying and indexing the flatbuffer.

use super::*;
use memmap2::Mmap;
use std::fs::File;
use tract_tflite::tflite::DimensionType;

/// Why a file could not be read as a TFLite model. Every message names the problem and,
/// where one is known, the tensor, operator or buffer at fault.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot open {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the file is empty")]
    Empty,
    #[error("the file is too short to be a TFLite model ({0} bytes)")]
    TooShort(usize),
    #[error("not a TFLite model: {0}")]
    NotTflite(String),
    #[error("corrupt TFLite flatbuffer: {0}")]
    Corrupt(String),
    #[error("the file ends at byte {file_len} but the model needs at least {needed} bytes: truncated (an interrupted download or copy?)")]
    Truncated { file_len: usize, needed: usize },
    #[error("{0} is a folder, not a .tflite file")]
    IsFolder(PathBuf),
    #[error("buffer {index}: stored at bytes {offset}..{end} but the file has {file_len} bytes (truncated file?)")]
    BufferOutOfFile {
        index: usize,
        offset: u64,
        end: u64,
        file_len: usize,
    },
    #[error("subgraph {subgraph} tensor {tensor} ('{name}'): buffer index {buffer} but the model has {buffers} buffers")]
    BadBufferIndex {
        subgraph: usize,
        tensor: usize,
        name: String,
        buffer: u32,
        buffers: usize,
    },
    #[error("subgraph {subgraph} operator {op}: opcode index {opcode} but the model has {codes} operator codes")]
    BadOpcodeIndex {
        subgraph: usize,
        op: usize,
        opcode: u32,
        codes: usize,
    },
    #[error(
        "subgraph {subgraph} {what}: tensor index {tensor} but the subgraph has {tensors} tensors"
    )]
    BadTensorIndex {
        subgraph: usize,
        what: String,
        tensor: i32,
        tensors: usize,
    },
    #[error("the model has no subgraph")]
    NoSubgraph,
}

/// The model's bytes: a read-only mapping of the file, or a vector for in-memory models.
pub enum ModelSource {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl ModelSource {
    pub fn map(path: &Path) -> Result<ModelSource, ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            return Err(ModelError::IsFolder(path.to_path_buf()));
        }
        let file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Err(ModelError::Empty);
        }
        // SAFETY: the mapping is read-only; a file truncated by another process while mapped
        // could fault, which is the accepted trade-off of never copying multi-GB weights.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(ModelSource::Mapped(map))
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            ModelSource::Mapped(m) => m,
            ModelSource::Owned(v) => v,
        }
    }
}

/// Names well-known non-TFLite formats from their magic bytes, for a clearer error.
fn sniff_other_format(b: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| b.starts_with(m);
    Some(if starts(b"\x89PNG") {
        "this is a PNG image"
    } else if starts(b"\xFF\xD8\xFF") {
        "this is a JPEG image"
    } else if starts(b"GIF8") {
        "this is a GIF image"
    } else if starts(b"BM") && b.len() > 14 && &b[6..10] == b"\0\0\0\0" {
        "this is a BMP image"
    } else if starts(b"PK\x03\x04") {
        "this is a zip archive (a Keras .keras file or a saved model archive?)"
    } else if starts(b"\x89HDF") {
        "this is an HDF5 file (a Keras .h5 model?)"
    } else if starts(b"\x93NUMPY") {
        "this is a numpy .npy array"
    } else if b.len() > 8
        && b[0] == 0x08
        && b.windows(4).take(64).any(|w| w == b"onnx" || w == b"pyto")
    {
        "this looks like an ONNX model"
    } else {
        return None;
    })
}

/// A flatbuffer starts with the u32 offset of its root table, which lies inside the file and is
/// 4-aligned; text and most foreign binaries fail this before any table is read.
fn looks_like_flatbuffer_root(b: &[u8]) -> bool {
    let root = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    root >= 8 && root % 4 == 0 && root < b.len()
}

/// How far past the end of a `len`-byte file the verifier tried to read, if that is why it
/// failed: the signature of a truncated file.
fn needed_past_end(e: &flatbuffers::InvalidFlatbuffer, len: usize) -> Option<usize> {
    match e {
        flatbuffers::InvalidFlatbuffer::RangeOutOfBounds { range, .. } if range.end > len => {
            Some(range.end)
        }
        _ => None,
    }
}

/// Four bytes as text when printable, else as hex, for "found ..." messages.
fn printable(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("{:?}", String::from_utf8_lossy(b))
    } else {
        b.iter()
            .map(|c| format!("{c:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

fn verifier_options() -> flatbuffers::VerifierOptions {
    // Real models have tens of thousands of tables and large weight vectors; the defaults
    // (64 deep, 1M tables, 2 GiB apparent size) are raised so only corrupt files fail.
    flatbuffers::VerifierOptions {
        max_depth: 128,
        max_tables: 100_000_000,
        max_apparent_size: usize::MAX / 2,
        ignore_missing_null_terminator: true,
    }
}

/// The `len` bytes of the field at vtable slot `voffset` of a table, bounds-checked: for
/// fields newer than the schema bundled in tract-tflite, which its verifier did not check.
/// `None` when the field is absent or points outside the file.
pub fn raw_field<'a>(table: &flatbuffers::Table<'a>, voffset: u16, len: usize) -> Option<&'a [u8]> {
    let field = table.vtable().get(voffset) as usize;
    if field == 0 {
        return None;
    }
    let pos = table.loc().checked_add(field)?;
    table.buf().get(pos..pos.checked_add(len)?)
}

/// A little-endian u64 field by vtable slot (0 when absent). Used for `Buffer.offset` /
/// `Buffer.size`, which the bundled schema does not name.
fn raw_u64_field(table: &flatbuffers::Table<'_>, voffset: u16) -> u64 {
    raw_field(table, voffset, 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .unwrap_or(0)
}

/// `Buffer.offset` and `Buffer.size` live at vtable slots 6 and 8 (fields 1 and 2 of Buffer).
const VT_BUFFER_OFFSET: u16 = 6;
const VT_BUFFER_SIZE: u16 = 8;

pub(super) fn index(bytes: ModelSource) -> Result<Model, ModelError> {
    let b = bytes.as_slice();
    if b.is_empty() {
        return Err(ModelError::Empty);
    }
    if b.len() < 8 {
        return Err(ModelError::TooShort(b.len()));
    }
    if let Some(what) = sniff_other_format(b) {
        return Err(ModelError::NotTflite(what.to_string()));
    }
    let has_identifier = &b[4..8] == b"TFL3";
    if !has_identifier && !looks_like_flatbuffer_root(b) {
        // Text files and other binaries: the verifier's complaint (an unaligned offset at some
        // huge position) says nothing the user can act on.
        return Err(ModelError::NotTflite(format!(
            "no 'TFL3' file identifier (bytes 4..8 are {})",
            printable(&b[4..8])
        )));
    }
    let fb = tflite::root_as_model_with_opts(&verifier_options(), b).map_err(|e| {
        if let Some(needed) = needed_past_end(&e, b.len()) {
            ModelError::Truncated {
                file_len: b.len(),
                needed,
            }
        } else if has_identifier {
            ModelError::Corrupt(e.to_string())
        } else {
            ModelError::NotTflite(format!(
                "no 'TFL3' file identifier and the bytes are not a valid TFLite flatbuffer ({})",
                first_line(&e.to_string())
            ))
        }
    })?;

    let buffers = read_buffers(&fb, b.len())?;
    let operator_codes: Vec<OperatorCode> = fb
        .operator_codes()
        .map(|codes| {
            codes
                .iter()
                .map(|c| {
                    let builtin_code = effective_builtin_code(&c);
                    let custom_code = c.custom_code().map(str::to_string);
                    let name = match (&custom_code, builtin_code) {
                        (Some(custom), 32) => custom.clone(),
                        _ => builtin_name(builtin_code),
                    };
                    OperatorCode {
                        builtin_code,
                        custom_code,
                        version: c.version(),
                        name,
                    }
                })
                .collect()
        })
        .unwrap_or_default();

    let fb_subgraphs = fb.subgraphs().filter(|s| !s.is_empty());
    let Some(fb_subgraphs) = fb_subgraphs else {
        // Many byte strings (all zeros, say) verify as an empty table; without the identifier
        // that is not a model at all.
        return Err(if has_identifier {
            ModelError::NoSubgraph
        } else {
            ModelError::NotTflite("no 'TFL3' file identifier and no subgraph".into())
        });
    };
    let mut subgraphs = fb_subgraphs
        .iter()
        .enumerate()
        .map(|(i, sg)| read_subgraph(i, &sg, &buffers, &operator_codes))
        .collect::<Result<Vec<_>, _>>()?;
    super::blockwise::fill_scales(&mut subgraphs, b, &buffers);

    let metadata = fb
        .metadata()
        .map(|m| {
            m.iter()
                .map(|e| MetadataEntry {
                    name: e.name().unwrap_or("").to_string(),
                    buffer: e.buffer(),
                    bytes: buffers.get(e.buffer() as usize).map(|b| b.len).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();

    let tensor_map = |v: Option<
        flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<tflite::TensorMap<'_>>>,
    >| {
        v.map(|v| {
            v.iter()
                .map(|t| (t.name().unwrap_or("").to_string(), t.tensor_index()))
                .collect()
        })
        .unwrap_or_default()
    };
    let signatures = fb
        .signature_defs()
        .map(|s| {
            s.iter()
                .map(|s| SignatureDef {
                    key: s.signature_key().map(str::to_string),
                    subgraph_index: s.subgraph_index(),
                    inputs: tensor_map(s.inputs()),
                    outputs: tensor_map(s.outputs()),
                })
                .collect()
        })
        .unwrap_or_default();

    let version = fb.version();
    let description = fb.description().map(str::to_string);
    Ok(Model {
        path: None,
        bytes,
        version,
        description,
        subgraphs,
        buffers,
        metadata,
        signatures,
        operator_codes,
    })
}

fn read_buffers(fb: &tflite::Model<'_>, file_len: usize) -> Result<Vec<BufferInfo>, ModelError> {
    let Some(buffers) = fb.buffers() else {
        return Ok(Vec::new());
    };
    let base = fb._tab.buf().as_ptr() as usize;
    buffers
        .iter()
        .enumerate()
        .map(|(index, buf)| {
            if let Some(data) = buf.data() {
                let offset = data.bytes().as_ptr() as usize - base;
                return Ok(BufferInfo {
                    offset,
                    len: data.len(),
                    external: false,
                });
            }
            // TFLite's >2 GB layout: offset > 1 means the bytes live at [offset, offset+size)
            // of the file, after the flatbuffer.
            let offset = raw_u64_field(&buf._tab, VT_BUFFER_OFFSET);
            let size = raw_u64_field(&buf._tab, VT_BUFFER_SIZE);
            if offset > 1 {
                let end = offset.checked_add(size).unwrap_or(u64::MAX);
                if end > file_len as u64 {
                    return Err(ModelError::BufferOutOfFile {
                        index,
                        offset,
                        end,
                        file_len,
                    });
                }
                Ok(BufferInfo {
                    offset: offset as usize,
                    len: size as usize,
                    external: true,
                })
            } else {
                Ok(BufferInfo {
                    offset: 0,
                    len: 0,
                    external: false,
                })
            }
        })
        .collect()
}

fn read_subgraph(
    index: usize,
    sg: &tflite::SubGraph<'_>,
    buffers: &[BufferInfo],
    codes: &[OperatorCode],
) -> Result<Subgraph, ModelError> {
    let ints = |v: Option<flatbuffers::Vector<'_, i32>>| {
        v.map(|v| v.iter().collect::<Vec<_>>()).unwrap_or_default()
    };
    let inputs = ints(sg.inputs());
    let outputs = ints(sg.outputs());

    let mut tensors = Vec::new();
    for (t, ft) in sg.tensors().into_iter().flatten().enumerate() {
        let name = ft.name().unwrap_or("").to_string();
        let buffer = ft.buffer();
        let buf = match buffers.get(buffer as usize) {
            Some(b) => *b,
            None if buffer == 0 => BufferInfo {
                offset: 0,
                len: 0,
                external: false,
            },
            None => {
                return Err(ModelError::BadBufferIndex {
                    subgraph: index,
                    tensor: t,
                    name,
                    buffer,
                    buffers: buffers.len(),
                })
            }
        };
        let is_variable = ft.is_variable();
        // Buffer 0 is the schema's empty sentinel; a tensor is constant when its buffer holds bytes.
        let is_constant = buffer != 0 && buf.len > 0 && !is_variable;
        let role = if is_variable {
            TensorRole::Variable
        } else if is_constant {
            TensorRole::Constant
        } else {
            TensorRole::Activation
        };
        let dtype = DType::from_tflite(ft.type_());
        tensors.push(Tensor {
            index: t,
            name,
            dtype,
            shape: ints(ft.shape()),
            shape_signature: ft.shape_signature().map(|s| s.iter().collect()),
            buffer,
            buffer_bytes: if is_constant { buf.len } else { 0 },
            role,
            is_constant,
            is_variable,
            quantization: read_quantization(&ft),
            sparsity: ft.sparsity().map(|s| Sparsity {
                traversal_order: ints(s.traversal_order()),
                block_map: ints(s.block_map()),
                dim_formats: s
                    .dim_metadata()
                    .map(|d| {
                        d.iter()
                            .map(|m| match m.format() {
                                DimensionType::DENSE => "dense".to_string(),
                                DimensionType::SPARSE_CSR => "sparse_csr".to_string(),
                                other => format!("unknown_{}", other.0),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        });
    }
    let n = tensors.len();
    let check =
        |what: &dyn Fn() -> String, list: &[i32], allow_absent: bool| -> Result<(), ModelError> {
            for &t in list {
                let ok = (t == -1 && allow_absent) || (t >= 0 && (t as usize) < n);
                if !ok {
                    return Err(ModelError::BadTensorIndex {
                        subgraph: index,
                        what: what(),
                        tensor: t,
                        tensors: n,
                    });
                }
            }
            Ok(())
        };
    check(&|| "inputs".to_string(), &inputs, false)?;
    check(&|| "outputs".to_string(), &outputs, false)?;

    let mut operators = Vec::new();
    for (i, op) in sg.operators().into_iter().flatten().enumerate() {
        let opcode_index = op.opcode_index();
        let code = codes
            .get(opcode_index as usize)
            .ok_or(ModelError::BadOpcodeIndex {
                subgraph: index,
                op: i,
                opcode: opcode_index,
                codes: codes.len(),
            })?;
        let op_inputs = ints(op.inputs());
        let op_outputs = ints(op.outputs());
        let intermediates = ints(op.intermediates());
        check(
            &|| format!("operator {i} ({}) input", code.name),
            &op_inputs,
            true,
        )?;
        check(
            &|| format!("operator {i} ({}) output", code.name),
            &op_outputs,
            true,
        )?;
        check(
            &|| format!("operator {i} ({}) intermediate", code.name),
            &intermediates,
            true,
        )?;
        operators.push(Operator {
            index: i,
            opcode_index,
            op: code.name.clone(),
            builtin_code: code.builtin_code,
            is_custom: code.custom_code.is_some() && code.builtin_code == 32,
            version: code.version,
            inputs: op_inputs,
            outputs: op_outputs,
            intermediates,
            fused_activation: fused_activation(&op)
                .and_then(activation_name)
                .map(str::to_string),
        });
    }
    Ok(Subgraph {
        index,
        name: sg.name().map(str::to_string),
        inputs,
        outputs,
        tensors,
        operators,
    })
}

fn read_quantization(t: &tflite::Tensor<'_>) -> Option<Quantization> {
    let q = t.quantization()?;
    let scales: Vec<f32> = q.scale().map(|s| s.iter().collect()).unwrap_or_default();
    let zero_points: Vec<i64> = q
        .zero_point()
        .map(|z| z.iter().collect())
        .unwrap_or_default();
    let min: Vec<f32> = q.min().map(|s| s.iter().collect()).unwrap_or_default();
    let max: Vec<f32> = q.max().map(|s| s.iter().collect()).unwrap_or_default();
    let (blockwise, details) = match super::blockwise::read_details(&q) {
        Some(super::blockwise::Details::Blockwise(b)) => (Some(b), None),
        Some(super::blockwise::Details::Other(d)) => (None, Some(d)),
        None => (None, None),
    };
    // An empty QuantizationParameters table (common on float tensors) means "not quantized".
    if scales.is_empty()
        && min.is_empty()
        && max.is_empty()
        && blockwise.is_none()
        && details.is_none()
    {
        return None;
    }
    Some(Quantization {
        scales,
        zero_points,
        quantized_dimension: q.quantized_dimension(),
        min,
        max,
        blockwise,
        details,
    })
}
