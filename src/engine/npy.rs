//! Minimal `.npy` reading and writing for [`Value`]s (all engine dtypes, float16 included,
//! which ndarray-npy lacks).

use super::{EngineError, Value};
use crate::model::DType;
use half::f16;
use ndarray::{ArrayD, IxDyn};
use std::path::Path;

fn err(m: impl Into<String>) -> EngineError {
    EngineError::Type(m.into())
}

fn descr(dt: DType) -> Option<&'static str> {
    Some(match dt {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
        _ => return None,
    })
}

/// Parses `.npy` bytes into a value of the stored dtype (float64 is narrowed to float32).
pub fn from_bytes(b: &[u8]) -> Result<Value, EngineError> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(err("not a .npy file (bad magic)"));
    }
    let major = b[6];
    let (hlen, start) = if major == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        if b.len() < 12 {
            return Err(err("truncated .npy header"));
        }
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(
        b.get(start..start + hlen)
            .ok_or_else(|| err("truncated .npy header"))?,
    )
    .map_err(|_| err("non-text .npy header"))?;
    let field = |key: &str| -> Result<&str, EngineError> {
        let i = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| err(format!(".npy header lacks '{key}'")))?;
        Ok(header[i + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start())
    };
    let d = field("descr")?;
    let d = &d[1..d[1..].find('\'').ok_or_else(|| err("bad descr"))? + 1];
    let fortran = field("fortran_order")?.starts_with("True");
    let s = field("shape")?;
    let s = &s[1..s.find(')').ok_or_else(|| err("bad shape"))?];
    let shape: Vec<usize> = s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<usize>()
                .map_err(|_| err(format!("bad shape entry '{x}'")))
        })
        .collect::<Result<_, _>>()?;
    let data = &b[start + hlen..];
    let n: usize = shape.iter().product();
    let (dt, width) = match d {
        "<f4" => (DType::F32, 4),
        "<f2" => (DType::F16, 2),
        "<f8" => (DType::F64, 8),
        "|i1" | "<i1" => (DType::I8, 1),
        "|u1" | "<u1" => (DType::U8, 1),
        "<i2" => (DType::I16, 2),
        "<i4" => (DType::I32, 4),
        "<i8" => (DType::I64, 8),
        "|b1" => (DType::Bool, 1),
        other => return Err(err(format!("unsupported .npy dtype '{other}'"))),
    };
    if data.len() < n * width {
        return Err(err(format!(
            ".npy data has {} bytes, shape {shape:?} needs {}",
            data.len(),
            n * width
        )));
    }
    let v = if dt == DType::F64 {
        let vals: Vec<f32> = data[..n * 8]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect();
        Value::F32(ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap())
    } else {
        Value::from_constant(&data[..n * width], dt, &shape)?
    };
    if fortran && shape.len() > 1 {
        // Stored column-major: read with reversed shape, then transpose back.
        let rev: Vec<usize> = shape.iter().rev().copied().collect();
        let v = Value::from_constant(
            &data[..n * width],
            if dt == DType::F64 { DType::F32 } else { dt },
            &rev,
        )?;
        return Ok(crate::map_value!(v, a => a.reversed_axes().as_standard_layout().into_owned()));
    }
    Ok(v)
}

pub fn read(path: &Path) -> Result<Value, EngineError> {
    let b = std::fs::read(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    from_bytes(&b).map_err(|e| err(format!("{}: {e}", path.display())))
}

/// Serializes a value as `.npy` (format 1.0, C order).
pub fn to_bytes(v: &Value) -> Result<Vec<u8>, EngineError> {
    let d = descr(v.dtype())
        .ok_or_else(|| err(format!("cannot write a {} tensor as .npy", v.dtype())))?;
    let shape = v.shape();
    let shape_s = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + v.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match v {
        Value::F32(a) => a
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::F16(a) => a
            .iter()
            .for_each(|x: &f16| out.extend_from_slice(&x.to_bits().to_le_bytes())),
        Value::I8(a) => a.iter().for_each(|x| out.push(*x as u8)),
        Value::U8(a) => a.iter().for_each(|x| out.push(*x)),
        Value::I16(a) => a
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::I32(a) => a
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::I64(a) => a
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Value::Bool(a) => a.iter().for_each(|x| out.push(*x as u8)),
        _ => unreachable!(),
    }
    Ok(out)
}

pub fn write(path: &Path, v: &Value) -> Result<(), EngineError> {
    let b = to_bytes(v)?;
    std::fs::write(path, b).map_err(|e| err(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for v in [
            Value::F32(
                ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1., 2., 3., 4., 5., 6.]).unwrap(),
            ),
            Value::F16(ArrayD::from_elem(IxDyn(&[3]), f16::from_f32(1.5))),
            Value::I8(ArrayD::from_shape_vec(IxDyn(&[2]), vec![-3, 4]).unwrap()),
            Value::Bool(ArrayD::from_elem(IxDyn(&[]), true)),
        ] {
            let b = to_bytes(&v).unwrap();
            assert_eq!((10 + u16::from_le_bytes([b[8], b[9]]) as usize) % 64, 0);
            assert_eq!(from_bytes(&b).unwrap(), v);
        }
    }
}
