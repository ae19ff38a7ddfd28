//! Element types of TFLite tensors, named as numpy names them.

use serde::Serialize;
use tract_tflite::tflite::TensorType;

/// A tensor's element type. `Unknown` keeps the raw schema code of a type newer than this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F16,
    F64,
    /// bfloat16 (TensorType 18, newer than the bundled schema).
    BF16,
    /// 2-bit integers, four per byte, lowest bits first (TensorType 19).
    I2,
    I4,
    /// Unsigned 4-bit integers, two per byte (TensorType 20).
    U4,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    String,
    Complex64,
    Complex128,
    Resource,
    Variant,
    Unknown(i8),
}

impl DType {
    pub fn from_tflite(t: TensorType) -> DType {
        match t {
            TensorType::FLOAT32 => DType::F32,
            TensorType::FLOAT16 => DType::F16,
            TensorType::FLOAT64 => DType::F64,
            TensorType::INT4 => DType::I4,
            TensorType::INT8 => DType::I8,
            TensorType::UINT8 => DType::U8,
            TensorType::INT16 => DType::I16,
            TensorType::UINT16 => DType::U16,
            TensorType::INT32 => DType::I32,
            TensorType::UINT32 => DType::U32,
            TensorType::INT64 => DType::I64,
            TensorType::UINT64 => DType::U64,
            TensorType::BOOL => DType::Bool,
            TensorType::STRING => DType::String,
            TensorType::COMPLEX64 => DType::Complex64,
            TensorType::COMPLEX128 => DType::Complex128,
            TensorType::RESOURCE => DType::Resource,
            TensorType::VARIANT => DType::Variant,
            // Codes newer than the schema bundled in tract-tflite.
            TensorType(18) => DType::BF16,
            TensorType(19) => DType::I2,
            TensorType(20) => DType::U4,
            TensorType(code) => DType::Unknown(code),
        }
    }

    /// numpy's name for the type (`float32`, `int8`, ...); types numpy lacks get their TFLite name.
    pub fn name(self) -> String {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::F64 => "float64",
            DType::BF16 => "bfloat16",
            DType::I2 => "int2",
            DType::I4 => "int4",
            DType::U4 => "uint4",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::String => "string",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
            DType::Resource => "resource",
            DType::Variant => "variant",
            DType::Unknown(code) => return format!("unknown_type_{code}"),
        }
        .to_string()
    }

    /// Storage size of `n` elements in bytes; int4 packs two values per byte.
    /// `None` for variable-size types (string) and unknown types.
    pub fn storage_bytes(self, n: usize) -> Option<usize> {
        let per = match self {
            DType::I4 | DType::U4 => return Some(n.div_ceil(2)),
            DType::I2 => return Some(n.div_ceil(4)),
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 | DType::Complex64 => 8,
            DType::Complex128 => 16,
            // TFLite stores resource and variant handles as opaque ints.
            DType::Resource | DType::Variant => 4,
            DType::String | DType::Unknown(_) => return None,
        };
        n.checked_mul(per)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::F64 | DType::BF16)
    }

    /// Types that carry quantized values when a tensor has scale/zero point.
    pub fn is_quantizable_int(self) -> bool {
        matches!(
            self,
            DType::I2
                | DType::I4
                | DType::U4
                | DType::I8
                | DType::U8
                | DType::I16
                | DType::I32
                | DType::I64
        )
    }

    /// Integer range `[min, max]` of the stored values, for integer types.
    pub fn int_range(self) -> Option<(i64, i64)> {
        Some(match self {
            DType::I2 => (-2, 1),
            DType::I4 => (-8, 7),
            DType::U4 => (0, 15),
            DType::I8 => (-128, 127),
            DType::U8 => (0, 255),
            DType::I16 => (i16::MIN as i64, i16::MAX as i64),
            DType::U16 => (0, u16::MAX as i64),
            DType::I32 => (i32::MIN as i64, i32::MAX as i64),
            DType::U32 => (0, u32::MAX as i64),
            DType::I64 => (i64::MIN, i64::MAX),
            _ => return None,
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}
