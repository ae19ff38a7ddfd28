//! `QuantizationParameters.details`: blockwise quantization (AI Edge Quantizer's
//! `dynamic_wi4b32_afp32`, litert-torch's `BLOCKWISE_32/64/128`) and the other details kinds.
//!
//! The schema bundled in tract-tflite knows only `CustomQuantization`; its verifier skips the
//! newer union members, so their tables are read here by hand with every offset bounds-checked.
//! A blockwise tensor keeps `Quantization::scales` empty: its scales live in another tensor
//! (float16 `[rows, cols / block_size]`), copied into [`Blockwise::scales`] once the subgraph's
//! tensors are known.

use super::{BufferInfo, DType, Subgraph};
use serde::Serialize;
use tract_tflite::tflite;

/// `QuantizationDetails` union codes (TFLite schema).
const DETAILS_CUSTOM: u8 = 1;
const DETAILS_BLOCKWISE: u8 = 2;
const DETAILS_MULTI_AXIS: u8 = 3;
/// `QuantizationParameters.details` vtable slot (field 5).
const VT_DETAILS: u16 = 14;

/// Blockwise quantization: element `[r, c]` of a 2-D weight has scale
/// `scales_tensor[r, c / block_size]` (and zero point from `zero_points_tensor`, when present).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Blockwise {
    pub block_size: i32,
    /// Index (same subgraph) of the tensor holding one scale per block.
    pub scales_tensor: i32,
    /// Index of the zero-point tensor; -1 when absent (symmetric, as the quantizer writes).
    pub zero_points_tensor: i32,
    /// The block scales, flattened row-major, as the official interpreter's
    /// `get_tensor_details()` reports them. Empty when the scales tensor is unreadable.
    pub scales: Vec<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zero_points: Vec<i64>,
    /// Why the scales could not be read, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Blockwise {
    /// Number of blocks along the last dimension of a weight of `shape`, when the shape
    /// splits into whole blocks.
    pub fn blocks_per_row(&self, shape: &[i32]) -> Option<usize> {
        let cols = *shape.last()? as usize;
        let bs = usize::try_from(self.block_size).ok().filter(|&b| b > 0)?;
        (cols % bs == 0).then_some(cols / bs)
    }
}

/// The details union of one tensor's quantization, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Details {
    Blockwise(Blockwise),
    /// Anything else, by name (`custom (N bytes)`, `multi-axis block_size 32`, `unknown type 7`).
    Other(String),
}

/// A little-endian u32/i32 at `pos`, if inside the buffer.
fn rd_u32(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn rd_u16(buf: &[u8], pos: usize) -> Option<u16> {
    let b = buf.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

/// Scalar i32 fields of an unverified table at `table`: `(voffset, default)` each.
fn table_i32s<const N: usize>(
    buf: &[u8],
    table: usize,
    fields: [(u16, i32); N],
) -> Option<[i32; N]> {
    let soffset = rd_u32(buf, table)? as i32 as i64;
    let vtable = usize::try_from(table as i64 - soffset).ok()?;
    let vt_len = rd_u16(buf, vtable)?;
    let mut out = [0i32; N];
    for (o, (voff, default)) in out.iter_mut().zip(fields) {
        let field = if voff + 2 <= vt_len {
            rd_u16(buf, vtable + voff as usize)?
        } else {
            0
        };
        *o = if field == 0 {
            default
        } else {
            rd_u32(buf, table.checked_add(field as usize)?)? as i32
        };
    }
    Some(out)
}

/// The details of `q`, if it has any.
pub(super) fn read_details(q: &tflite::QuantizationParameters<'_>) -> Option<Details> {
    let kind = q.details_type().0;
    if kind == 0 {
        return None;
    }
    if kind == DETAILS_CUSTOM {
        let n = q
            .details_as_custom_quantization()
            .and_then(|c| c.custom())
            .map_or(0, |c| c.len());
        return Some(Details::Other(format!("custom quantization ({n} bytes)")));
    }
    // The union's table, located by hand (the verifier did not visit it).
    let tab = &q._tab;
    let buf = tab.buf();
    let slot = tab.vtable().get(VT_DETAILS) as usize;
    let target = (slot != 0)
        .then(|| {
            let pos = tab.loc().checked_add(slot)?;
            pos.checked_add(rd_u32(buf, pos)? as usize)
        })
        .flatten();
    let bad = |what: &str| Some(Details::Other(format!("{what} (unreadable table)")));
    match kind {
        DETAILS_BLOCKWISE => {
            let Some([scales, zps, bs]) =
                target.and_then(|t| table_i32s(buf, t, [(4, 0), (6, 0), (8, 0)]))
            else {
                return bad("blockwise quantization");
            };
            Some(Details::Blockwise(Blockwise {
                block_size: bs,
                scales_tensor: scales,
                zero_points_tensor: zps,
                scales: Vec::new(),
                zero_points: Vec::new(),
                problem: None,
            }))
        }
        DETAILS_MULTI_AXIS => match target.and_then(|t| table_i32s(buf, t, [(8, 0)])) {
            Some([bs]) => Some(Details::Other(format!(
                "multi-axis quantization, block size {bs}"
            ))),
            None => bad("multi-axis quantization"),
        },
        other => Some(Details::Other(format!(
            "quantization details of unknown type {other}"
        ))),
    }
}

/// Reads a constant tensor of `sg` as f32 (float16/float32/bfloat16) or i64 (integers).
fn constant_values(
    sg: &Subgraph,
    index: i32,
    bytes: &[u8],
    buffers: &[BufferInfo],
) -> Result<(DType, Vec<f64>), String> {
    let t = usize::try_from(index)
        .ok()
        .and_then(|i| sg.tensors.get(i))
        .ok_or_else(|| format!("tensor {index} does not exist"))?;
    if !t.is_constant {
        return Err(format!("tensor {index} ('{}') is not a constant", t.name));
    }
    let b = buffers
        .get(t.buffer as usize)
        .and_then(|b| bytes.get(b.offset..b.offset.checked_add(b.len)?))
        .ok_or_else(|| format!("tensor {index}: buffer outside the file"))?;
    let n = t
        .element_count()
        .ok_or_else(|| format!("tensor {index}: bad shape {:?}", t.shape))?;
    let width = match t.dtype {
        DType::F16 | DType::BF16 | DType::I16 => 2,
        DType::F32 | DType::I32 => 4,
        DType::I64 => 8,
        DType::I8 | DType::U8 => 1,
        other => return Err(format!("tensor {index} has type {other}")),
    };
    if b.len() < n.saturating_mul(width) {
        return Err(format!(
            "tensor {index}: {} bytes for {n} values of {}",
            b.len(),
            t.dtype
        ));
    }
    let v = b[..n * width]
        .chunks_exact(width)
        .map(|c| match t.dtype {
            DType::F16 => half::f16::from_le_bytes([c[0], c[1]]).to_f64(),
            DType::BF16 => half::bf16::from_le_bytes([c[0], c[1]]).to_f64(),
            DType::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
            DType::F32 => f32::from_le_bytes(c.try_into().unwrap()) as f64,
            DType::I32 => i32::from_le_bytes(c.try_into().unwrap()) as f64,
            DType::I64 => i64::from_le_bytes(c.try_into().unwrap()) as f64,
            DType::I8 => c[0] as i8 as f64,
            _ => c[0] as f64,
        })
        .collect();
    Ok((t.dtype, v))
}

/// Copies every blockwise tensor's block scales (and zero points) from the tensors they name.
pub(super) fn fill_scales(subgraphs: &mut [Subgraph], bytes: &[u8], buffers: &[BufferInfo]) {
    for sg in subgraphs.iter_mut() {
        let mut found = Vec::new();
        for t in &sg.tensors {
            let Some(bw) = t.quantization.as_ref().and_then(|q| q.blockwise.as_ref()) else {
                continue;
            };
            let mut filled = bw.clone();
            match constant_values(sg, bw.scales_tensor, bytes, buffers) {
                Ok((d, v)) if d.is_float() => filled.scales = v.iter().map(|&x| x as f32).collect(),
                Ok((d, _)) => filled.problem = Some(format!("scales tensor has type {d}")),
                Err(e) => filled.problem = Some(format!("scales: {e}")),
            }
            if bw.zero_points_tensor >= 0 {
                match constant_values(sg, bw.zero_points_tensor, bytes, buffers) {
                    Ok((d, v)) if !d.is_float() => {
                        filled.zero_points = v.iter().map(|&x| x as i64).collect()
                    }
                    Ok((d, _)) => filled.problem = Some(format!("zero points have type {d}")),
                    Err(e) => filled.problem = Some(format!("zero points: {e}")),
                }
            }
            found.push((t.index, filled));
        }
        for (i, bw) in found {
            if let Some(q) = sg.tensors[i].quantization.as_mut() {
                q.blockwise = Some(bw);
            }
        }
    }
}
