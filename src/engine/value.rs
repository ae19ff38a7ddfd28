//! Runtime values: one ndarray per tensor, in the tensor's element type.

use super::EngineError;
use crate::model::DType;
use half::f16;
use ndarray::{ArrayD, IxDyn};

/// A tensor's value while the engine runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    F32(ArrayD<f32>),
    F16(ArrayD<f16>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    Bool(ArrayD<bool>),
    /// TFLite strings, one byte vector per element (flattened).
    Str(Vec<Vec<u8>>),
    /// A resource handle (VAR_HANDLE output): the variable's id inside the engine.
    Resource(i32),
}

macro_rules! as_fns {
    ($($name:ident, $name_mut:ident, $into:ident, $var:ident, $t:ty;)*) => {$(
        pub fn $name(&self) -> Result<&ArrayD<$t>, EngineError> {
            match self {
                Value::$var(a) => Ok(a),
                other => Err(EngineError::Type(format!(
                    "expected a {} tensor, got {}", DType::$var.name(), other.dtype()
                ))),
            }
        }
        pub fn $name_mut(&mut self) -> Result<&mut ArrayD<$t>, EngineError> {
            let dt = self.dtype();
            match self {
                Value::$var(a) => Ok(a),
                _ => Err(EngineError::Type(format!(
                    "expected a {} tensor, got {}", DType::$var.name(), dt
                ))),
            }
        }
        pub fn $into(self) -> Result<ArrayD<$t>, EngineError> {
            match self {
                Value::$var(a) => Ok(a),
                other => Err(EngineError::Type(format!(
                    "expected a {} tensor, got {}", DType::$var.name(), other.dtype()
                ))),
            }
        }
    )*};
}

impl Value {
    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::F16(_) => DType::F16,
            Value::I8(_) => DType::I8,
            Value::U8(_) => DType::U8,
            Value::I16(_) => DType::I16,
            Value::I32(_) => DType::I32,
            Value::I64(_) => DType::I64,
            Value::Bool(_) => DType::Bool,
            Value::Str(_) => DType::String,
            Value::Resource(_) => DType::Resource,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32(a) => a.shape(),
            Value::F16(a) => a.shape(),
            Value::I8(a) => a.shape(),
            Value::U8(a) => a.shape(),
            Value::I16(a) => a.shape(),
            Value::I32(a) => a.shape(),
            Value::I64(a) => a.shape(),
            Value::Bool(a) => a.shape(),
            Value::Str(_) | Value::Resource(_) => &[],
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Value::Str(v) => v.len(),
            Value::Resource(_) => 1,
            _ => self.shape().iter().product(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    as_fns! {
        as_f32, as_f32_mut, into_f32, F32, f32;
        as_f16, as_f16_mut, into_f16, F16, f16;
        as_i8, as_i8_mut, into_i8, I8, i8;
        as_u8, as_u8_mut, into_u8, U8, u8;
        as_i16, as_i16_mut, into_i16, I16, i16;
        as_i32, as_i32_mut, into_i32, I32, i32;
        as_i64, as_i64_mut, into_i64, I64, i64;
        as_bool, as_bool_mut, into_bool, Bool, bool;
    }

    /// Integer-valued tensors (shape, axis, paddings arguments) as i64, whatever their int type.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, EngineError> {
        Ok(match self {
            Value::I32(a) => a.iter().map(|&x| x as i64).collect(),
            Value::I64(a) => a.iter().copied().collect(),
            Value::I16(a) => a.iter().map(|&x| x as i64).collect(),
            Value::I8(a) => a.iter().map(|&x| x as i64).collect(),
            Value::U8(a) => a.iter().map(|&x| x as i64).collect(),
            Value::Bool(a) => a.iter().map(|&x| x as i64).collect(),
            other => {
                return Err(EngineError::Type(format!(
                    "expected an integer tensor, got {}",
                    other.dtype()
                )))
            }
        })
    }

    /// Any numeric tensor converted to f32 (no dequantization: raw values).
    pub fn to_f32_lossy(&self) -> Result<ArrayD<f32>, EngineError> {
        Ok(match self {
            Value::F32(a) => a.clone(),
            Value::F16(a) => a.mapv(f32::from),
            Value::I8(a) => a.mapv(|x| x as f32),
            Value::U8(a) => a.mapv(|x| x as f32),
            Value::I16(a) => a.mapv(|x| x as f32),
            Value::I32(a) => a.mapv(|x| x as f32),
            Value::I64(a) => a.mapv(|x| x as f32),
            Value::Bool(a) => a.mapv(|x| x as u8 as f32),
            other => {
                return Err(EngineError::Type(format!(
                    "cannot read a {} tensor as numbers",
                    other.dtype()
                )))
            }
        })
    }

    /// A zero-filled value of `dtype` and `shape`.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Value, EngineError> {
        super::limits::check_alloc(shape, dtype.storage_bytes(1).unwrap_or(1), "tensor")?;
        let s = IxDyn(shape);
        Ok(match dtype {
            DType::F32 => Value::F32(ArrayD::zeros(s)),
            DType::F16 => Value::F16(ArrayD::from_elem(s, f16::ZERO)),
            DType::I8 => Value::I8(ArrayD::zeros(s)),
            DType::U8 => Value::U8(ArrayD::zeros(s)),
            DType::I16 => Value::I16(ArrayD::zeros(s)),
            DType::I32 => Value::I32(ArrayD::zeros(s)),
            DType::I64 => Value::I64(ArrayD::zeros(s)),
            DType::Bool => Value::Bool(ArrayD::from_elem(s, false)),
            other => {
                return Err(EngineError::Type(format!(
                    "tensors of type {other} are not supported"
                )))
            }
        })
    }

    /// Decodes stored little-endian bytes. INT4 and INT2 are unpacked to I8 (low bits
    /// first, sign-extended).
    pub fn from_constant(
        bytes: &[u8],
        dtype: DType,
        shape: &[usize],
    ) -> Result<Value, EngineError> {
        // A corrupt shape's element or byte count can overflow: that is an error, not a wrap.
        let overflow = || {
            EngineError::Type(format!(
                "constant of type {dtype} and shape {shape:?} is larger than memory can address"
            ))
        };
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(overflow)?;
        let s = IxDyn(shape);
        let need = dtype.storage_bytes(n);
        if need.is_none() && !matches!(dtype, DType::String | DType::Unknown(_)) {
            return Err(overflow());
        }
        if let Some(need) = need {
            if bytes.len() < need {
                return Err(EngineError::Type(format!(
                    "constant of type {dtype} and shape {shape:?} needs {need} bytes, the buffer has {}",
                    bytes.len()
                )));
            }
        }
        macro_rules! le {
            ($t:ty, $w:expr) => {
                bytes[..n * $w]
                    .chunks_exact($w)
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap()))
                    .collect::<Vec<$t>>()
            };
        }
        let arr = |e: ndarray::ShapeError| EngineError::Type(e.to_string());
        Ok(match dtype {
            DType::F32 => Value::F32(ArrayD::from_shape_vec(s, le!(f32, 4)).map_err(arr)?),
            DType::F16 => Value::F16(
                ArrayD::from_shape_vec(s, le!(u16, 2).into_iter().map(f16::from_bits).collect())
                    .map_err(arr)?,
            ),
            DType::I8 => Value::I8(
                ArrayD::from_shape_vec(s, bytes[..n].iter().map(|&b| b as i8).collect())
                    .map_err(arr)?,
            ),
            DType::U8 => Value::U8(ArrayD::from_shape_vec(s, bytes[..n].to_vec()).map_err(arr)?),
            DType::I16 => Value::I16(ArrayD::from_shape_vec(s, le!(i16, 2)).map_err(arr)?),
            DType::I32 => Value::I32(ArrayD::from_shape_vec(s, le!(i32, 4)).map_err(arr)?),
            DType::I64 => Value::I64(ArrayD::from_shape_vec(s, le!(i64, 8)).map_err(arr)?),
            DType::Bool => Value::Bool(
                ArrayD::from_shape_vec(s, bytes[..n].iter().map(|&b| b != 0).collect())
                    .map_err(arr)?,
            ),
            DType::I4 => {
                let v: Vec<i8> = (0..n)
                    .map(|i| {
                        let b = bytes[i / 2];
                        let nib = if i % 2 == 0 { b & 0x0f } else { b >> 4 };
                        ((nib << 4) as i8) >> 4
                    })
                    .collect();
                Value::I8(ArrayD::from_shape_vec(s, v).map_err(arr)?)
            }
            // INT2: four values per byte, lowest bits first, sign-extended (TFLite's Unpack2Bit).
            DType::I2 => {
                let v: Vec<i8> = (0..n)
                    .map(|i| ((bytes[i / 4] >> (2 * (i % 4))) << 6) as i8 >> 6)
                    .collect();
                Value::I8(ArrayD::from_shape_vec(s, v).map_err(arr)?)
            }
            DType::String => Value::Str(decode_strings(bytes)?),
            other => {
                return Err(EngineError::Type(format!(
                    "constants of type {other} are not supported"
                )))
            }
        })
    }
}

/// TFLite's string tensor layout: i32 count, count+1 i32 offsets, then the bytes.
fn decode_strings(b: &[u8]) -> Result<Vec<Vec<u8>>, EngineError> {
    if b.len() < 4 {
        return Ok(Vec::new());
    }
    let rd = |i: usize| -> Result<usize, EngineError> {
        b.get(i * 4..i * 4 + 4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as usize)
            .ok_or_else(|| EngineError::Type("truncated string tensor".into()))
    };
    let n = rd(0)?;
    (0..n)
        .map(|i| {
            let (s, e) = (rd(1 + i)?, rd(2 + i)?);
            b.get(s..e)
                .map(|x| x.to_vec())
                .ok_or_else(|| EngineError::Type("bad string tensor offsets".into()))
        })
        .collect()
}

macro_rules! impl_from {
    ($($var:ident, $t:ty;)*) => {$(
        impl From<ArrayD<$t>> for Value {
            fn from(a: ArrayD<$t>) -> Value { Value::$var(a) }
        }
    )*};
}
impl_from! { F32, f32; F16, f16; I8, i8; U8, u8; I16, i16; I32, i32; I64, i64; Bool, bool; }

/// Applies a generic expression to the array inside any array-holding `Value`, rewrapping the
/// result in the same variant. `$a` is bound to the array (by reference or value as given).
#[macro_export]
macro_rules! map_value {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::engine::Value::F32($a) => $crate::engine::Value::F32($body),
            $crate::engine::Value::F16($a) => $crate::engine::Value::F16($body),
            $crate::engine::Value::I8($a) => $crate::engine::Value::I8($body),
            $crate::engine::Value::U8($a) => $crate::engine::Value::U8($body),
            $crate::engine::Value::I16($a) => $crate::engine::Value::I16($body),
            $crate::engine::Value::I32($a) => $crate::engine::Value::I32($body),
            $crate::engine::Value::I64($a) => $crate::engine::Value::I64($body),
            $crate::engine::Value::Bool($a) => $crate::engine::Value::Bool($body),
            other => {
                return Err($crate::engine::EngineError::Type(format!(
                    "tensors of type {} are not supported here",
                    other.dtype()
                )))
            }
        }
    };
}
