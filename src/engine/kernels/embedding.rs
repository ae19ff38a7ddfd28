//! EMBEDDING_LOOKUP, as TFLite's `embedding_lookup.cc`: rows of a table picked by int32 ids.
//!
//! Three cases, chosen like TFLite's `Eval`: a blockwise-quantized int4 table (one float16
//! scale per block of `block_size` columns), a hybrid table (int8/int4/int2 values, float
//! output: `q * scale`, per row when the table is per-axis), or a plain copy.

use super::int::blockwise::{block_scales, blockwise_of};
use super::OpCtx;
use crate::engine::{EngineError, Value};
use crate::model::DType;
use ndarray::{ArrayD, IxDyn};

macro_rules! bail {
    ($($t:tt)*) => { return Err(EngineError::Type(format!($($t)*))) };
}

/// Output shape: `[ids, table dims 1..]`.
fn out_shape(ids: usize, table: &[usize]) -> Vec<usize> {
    let mut s = table.to_vec();
    s[0] = ids;
    s
}

fn row_index(id: i64, rows: usize) -> Result<usize, EngineError> {
    usize::try_from(id)
        .ok()
        .filter(|&r| r < rows)
        .ok_or_else(|| {
            EngineError::Type(format!(
                "EMBEDDING_LOOKUP: index {id} out of bounds [0, {}]",
                rows as i64 - 1
            ))
        })
}

pub fn embedding_lookup(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let ids = ctx.in_ints(0)?;
    if ctx.input(0)?.shape().len() != 1 || ctx.in_dtype(0) != Some(DType::I32) {
        bail!("EMBEDDING_LOOKUP: the ids must be a 1-D int32 tensor");
    }
    let table = ctx.input(1)?;
    let shape = table.shape().to_vec();
    if shape.len() < 2 {
        bail!(
            "EMBEDDING_LOOKUP: the table must have at least 2 dimensions, it has shape {shape:?}"
        );
    }
    let rows = shape[0];
    let cols: usize = shape[1..].iter().product();
    let out = out_shape(ids.len(), &shape);
    // ids x row size comes from data: refuse before allocating (engine::limits).
    crate::engine::limits::check_alloc(&out, 4, "EMBEDDING_LOOKUP output")?;
    let out_dtype = ctx.out_dtype(0);
    let float_out = matches!(out_dtype, DType::F32 | DType::F16);
    let table_dtype = ctx.in_dtype(1).unwrap_or(table.dtype());

    let values: Vec<f32>;
    if let Some(bw) = blockwise_of(ctx, 1) {
        // EvalBlockwise: int4, 2-D, whole blocks; value * scale[row, block].
        if table_dtype != DType::I4 || shape.len() != 2 {
            bail!("EMBEDDING_LOOKUP: blockwise tables must be 2-D int4 (TFLite's only case), this one is {table_dtype} {shape:?}");
        }
        let (scales, per_row) = block_scales(ctx, bw, &shape)?;
        let bs = cols / per_row;
        let Value::I8(q) = table else {
            bail!("EMBEDDING_LOOKUP: int4 table not decoded as int8")
        };
        let q = super::int::flat(q);
        let mut v = Vec::with_capacity(ids.len() * cols);
        for &id in &ids {
            let r = row_index(id, rows)?;
            for c in 0..cols {
                v.push(q[r * cols + c] as f32 * scales[r * per_row + c / bs]);
            }
        }
        values = v;
    } else if float_out && table_dtype != out_dtype {
        // EvalHybrid: symmetric int values times the tensor's (or the row's) scale. TFLite reads
        // the table through an int8 pointer, uint8 included.
        let qp = ctx.in_quant(1).filter(|q| !q.scales.is_empty());
        let Some(qp) = qp else {
            bail!("EMBEDDING_LOOKUP: {table_dtype} table without quantization parameters")
        };
        if qp.zero_points.first().is_some_and(|&z| z != 0) {
            bail!("EMBEDDING_LOOKUP: hybrid tables must be symmetric (zero point 0), TFLite refuses others");
        }
        if qp.scales.len() > 1 && (qp.scales.len() != rows || qp.quantized_dimension != 0) {
            bail!(
                "EMBEDDING_LOOKUP: {} per-axis scales for {rows} rows (axis {})",
                qp.scales.len(),
                qp.quantized_dimension
            );
        }
        let q: Vec<i8> = match table {
            Value::I8(a) => super::int::flat(a).to_vec(),
            Value::U8(a) => super::int::flat(a).iter().map(|&x| x as i8).collect(),
            other => bail!("EMBEDDING_LOOKUP: hybrid table of type {}", other.dtype()),
        };
        let mut v = Vec::with_capacity(ids.len() * cols);
        for &id in &ids {
            let r = row_index(id, rows)?;
            let s = if qp.scales.len() > 1 {
                qp.scales[r]
            } else {
                qp.scales[0]
            };
            v.extend(q[r * cols..(r + 1) * cols].iter().map(|&x| x as f32 * s));
        }
        values = v;
    } else {
        // EvalSimple: a copy of the rows, any type.
        let mut picked = Vec::with_capacity(ids.len());
        for &id in &ids {
            picked.push(row_index(id, rows)?);
        }
        return Ok(vec![take_rows(table, &picked, cols, &out)?]);
    }
    let a = ArrayD::from_shape_vec(IxDyn(&out), values)
        .map_err(|e| EngineError::Type(e.to_string()))?;
    Ok(vec![match out_dtype {
        DType::F16 => Value::F16(a.mapv(half::f16::from_f32)),
        _ => Value::F32(a),
    }])
}

fn take_rows(
    table: &Value,
    rows: &[usize],
    cols: usize,
    out: &[usize],
) -> Result<Value, EngineError> {
    fn pick<T: Clone>(
        a: &ArrayD<T>,
        rows: &[usize],
        cols: usize,
        out: &[usize],
    ) -> Result<ArrayD<T>, EngineError> {
        let f = super::int::flat(a);
        let v: Vec<T> = rows
            .iter()
            .flat_map(|&r| f[r * cols..(r + 1) * cols].iter().cloned())
            .collect();
        ArrayD::from_shape_vec(IxDyn(out), v).map_err(|e| EngineError::Type(e.to_string()))
    }
    Ok(match table {
        Value::F32(a) => Value::F32(pick(a, rows, cols, out)?),
        Value::F16(a) => Value::F16(pick(a, rows, cols, out)?),
        Value::I8(a) => Value::I8(pick(a, rows, cols, out)?),
        Value::U8(a) => Value::U8(pick(a, rows, cols, out)?),
        Value::I16(a) => Value::I16(pick(a, rows, cols, out)?),
        Value::I32(a) => Value::I32(pick(a, rows, cols, out)?),
        Value::I64(a) => Value::I64(pick(a, rows, cols, out)?),
        Value::Bool(a) => Value::Bool(pick(a, rows, cols, out)?),
        other => bail!(
            "EMBEDDING_LOOKUP: tables of type {} are not supported",
            other.dtype()
        ),
    })
}
