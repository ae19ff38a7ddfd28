//! TFLite model metadata (`TFLITE_METADATA`, metadata_schema.fbs): the parts quantscope uses —
//! the model's name/description and each input's NormalizationOptions (mean/std).
//!
//! The metadata schema is not bundled with tract-tflite, so this reads the few fields it needs
//! by vtable slot with a bounds-checked reader: malformed metadata yields `None`, never a panic.

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct TfliteMetadata {
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    /// Per input tensor of subgraph 0: (name, normalization mean, std) when given.
    pub inputs: Vec<InputMetadata>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct InputMetadata {
    pub name: Option<String>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

struct Buf<'a>(&'a [u8]);

impl<'a> Buf<'a> {
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
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
    /// Element positions of a vector field.
    fn vector(&self, table: usize, index: usize, elem: usize) -> Option<Vec<usize>> {
        let v = self.indirect(self.field(table, index)?)?;
        let len = self.u32(v)? as usize;
        if len.checked_mul(elem)? > self.0.len() {
            return None;
        }
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
}

/// ProcessUnitOptions union tag of NormalizationOptions.
const NORMALIZATION_OPTIONS: u8 = 1;

/// Parses `TFLITE_METADATA` bytes; `None` when they are not a readable ModelMetadata.
pub fn parse(bytes: &[u8]) -> Option<TfliteMetadata> {
    let b = Buf(bytes);
    let root = b.indirect(0)?;
    // ModelMetadata: 0 name, 1 description, 2 version, 3 subgraph_metadata.
    let mut md = TfliteMetadata {
        name: b.string(root, 0),
        description: b.string(root, 1),
        version: b.string(root, 2),
        inputs: Vec::new(),
    };
    // SubGraphMetadata: 2 input_tensor_metadata. TensorMetadata: 0 name, 4 process_units.
    // ProcessUnit: 0 options_type, 1 options. NormalizationOptions: 0 mean, 1 std.
    if let Some(&sg) = b.tables(root, 3).first() {
        for t in b.tables(sg, 2) {
            let mut input = InputMetadata {
                name: b.string(t, 0),
                ..Default::default()
            };
            for pu in b.tables(t, 4) {
                let tag = b.field(pu, 0).and_then(|p| b.0.get(p).copied());
                if tag == Some(NORMALIZATION_OPTIONS) {
                    if let Some(opts) = b.field(pu, 1).and_then(|p| b.indirect(p)) {
                        input.mean = b.floats(opts, 0);
                        input.std = b.floats(opts, 1);
                    }
                }
            }
            md.inputs.push(input);
        }
    }
    Some(md)
}
