//! Sparse constant tensors (TFLite's `SparsityParameters`) and the DENSIFY op.
//!
//! The converter (`Optimize.EXPERIMENTAL_SPARSITY`) stores pruned weights as a values array
//! plus per-level metadata and feeds them to DENSIFY, or straight to FULLY_CONNECTED for
//! block-sparse float weights. The engine densifies every sparse constant when it decodes
//! constants ([`densify_constant`]), so DENSIFY itself only checks and passes its input on, and
//! ops that read a sparse constant directly see the same dense weights the interpreter's
//! sparse kernels compute with.
//!
//! Decoding follows `FormatConverter::SparseToDense` (sparsity_format_converter.cc): levels
//! are walked in traversal order; a DENSE level iterates `dense_size` positions, a SPARSE_CSR
//! level the `array_indices[array_segments[p]..array_segments[p + 1]]` of its parent position
//! `p`; each leaf takes the next stored value. The first `rank` levels index the blocked
//! dimensions, the remaining ones the position inside a block of the dimension named by
//! `block_map`. Unlike the interpreter, which skips or reads past malformed metadata, every
//! inconsistency here is an error.

use super::{bail, OpCtx};
use crate::engine::{limits, EngineError, Value};
use crate::model::{DType, Model, Tensor};
use ndarray::{ArrayD, IxDyn};
use tract_tflite::tflite::{self, DimensionType};

/// One traversal level of the sparse layout.
#[derive(Debug)]
enum Level {
    Dense(usize),
    Csr {
        segments: Vec<usize>,
        indices: Vec<usize>,
    },
}

/// Decoded sparsity metadata of one tensor.
#[derive(Debug)]
struct Layout {
    traversal_order: Vec<usize>,
    block_map: Vec<usize>,
    levels: Vec<Level>,
}

/// A `SparseIndexVector` union (int32 / uint16 / uint8 vector) as indices.
fn index_vector(
    what: &str,
    i32v: Option<tflite::Int32Vector>,
    u16v: Option<tflite::Uint16Vector>,
    u8v: Option<tflite::Uint8Vector>,
) -> Result<Vec<usize>, String> {
    if let Some(v) = i32v {
        let vals = v.values().map(|v| v.iter().collect::<Vec<i32>>());
        let vals = vals.unwrap_or_default();
        return vals
            .into_iter()
            .map(|x| usize::try_from(x).map_err(|_| format!("{what} holds a negative entry {x}")))
            .collect();
    }
    if let Some(v) = u16v {
        return Ok(v
            .values()
            .map(|v| v.iter().map(|x| x as usize).collect())
            .unwrap_or_default());
    }
    if let Some(v) = u8v {
        return Ok(v
            .values()
            .map(|v| v.iter().map(|x| x as usize).collect())
            .unwrap_or_default());
    }
    Err(format!("{what} is missing"))
}

fn read_layout(sp: tflite::SparsityParameters) -> Result<Layout, String> {
    let ints = |v: Option<flatbuffers::Vector<i32>>, what: &str| -> Result<Vec<usize>, String> {
        v.map(|v| v.iter().collect::<Vec<i32>>())
            .unwrap_or_default()
            .into_iter()
            .map(|x| usize::try_from(x).map_err(|_| format!("{what} holds a negative entry {x}")))
            .collect()
    };
    let traversal_order = ints(sp.traversal_order(), "traversal_order")?;
    let block_map = ints(sp.block_map(), "block_map")?;
    let mut levels = Vec::new();
    for (l, m) in sp.dim_metadata().into_iter().flatten().enumerate() {
        levels.push(match m.format() {
            DimensionType::DENSE => Level::Dense(
                usize::try_from(m.dense_size())
                    .map_err(|_| format!("dim_metadata[{l}] has dense_size {}", m.dense_size()))?,
            ),
            DimensionType::SPARSE_CSR => Level::Csr {
                segments: index_vector(
                    &format!("dim_metadata[{l}].array_segments"),
                    m.array_segments_as_int_32_vector(),
                    m.array_segments_as_uint_16_vector(),
                    m.array_segments_as_uint_8_vector(),
                )?,
                indices: index_vector(
                    &format!("dim_metadata[{l}].array_indices"),
                    m.array_indices_as_int_32_vector(),
                    m.array_indices_as_uint_16_vector(),
                    m.array_indices_as_uint_8_vector(),
                )?,
            },
            other => return Err(format!("dim_metadata[{l}] has unknown format {}", other.0)),
        });
    }
    Ok(Layout {
        traversal_order,
        block_map,
        levels,
    })
}

impl Layout {
    /// For each stored value in order, its flat index in the dense tensor of `shape`.
    fn destinations(&self, shape: &[usize], n_values: usize) -> Result<Vec<usize>, String> {
        let rank = shape.len();
        let n_levels = self.traversal_order.len();
        let n_blocks = self.block_map.len();
        if n_levels != rank + n_blocks {
            bail_s(format!(
                "traversal_order has {n_levels} entries, expected rank {rank} + {n_blocks} block dimensions"
            ))?;
        }
        if self.levels.len() != n_levels {
            bail_s(format!(
                "dim_metadata has {} entries, traversal_order {n_levels}",
                self.levels.len()
            ))?;
        }
        // The first `rank` levels traverse the tensor's dimensions, the rest the block ones.
        let mut seen = vec![false; n_levels];
        for (l, &d) in self.traversal_order.iter().enumerate() {
            let ok = if l < rank {
                d < rank
            } else {
                d >= rank && d < n_levels
            };
            if !ok || seen[d] {
                bail_s(format!(
                    "traversal_order {:?} is not a permutation of the {rank} dimensions followed by the {n_blocks} block dimensions",
                    self.traversal_order
                ))?;
            }
            seen[d] = true;
        }
        let mut block_of = vec![None; rank];
        let mut block_size = vec![0usize; n_blocks];
        for (k, &d) in self.block_map.iter().enumerate() {
            if d >= rank || block_of[d].is_some() {
                bail_s(format!(
                    "block_map {:?} names dimension {d} of a rank-{rank} tensor twice or out of range",
                    self.block_map
                ))?;
            }
            // TFLite reads a block's size from the metadata of level traversal_order[rank + k];
            // blocks are always dense.
            let lvl = self.traversal_order[rank + k];
            match self.levels[lvl] {
                Level::Dense(s) if s > 0 && shape[d].is_multiple_of(s) => block_size[k] = s,
                Level::Dense(s) => bail_s(format!(
                    "block size {s} does not divide dimension {d} (size {})",
                    shape[d]
                ))?,
                Level::Csr { .. } => bail_s(format!(
                    "block level {lvl} is sparse; only dense blocks are supported"
                ))?,
            }
            block_of[d] = Some(k);
        }
        // Extent of each level: blocked dimension size or block size.
        let extent: Vec<usize> = self
            .traversal_order
            .iter()
            .map(|&d| {
                if d < rank {
                    shape[d] / block_of[d].map_or(1, |k| block_size[k])
                } else {
                    block_size[d - rank]
                }
            })
            .collect();
        for (l, lv) in self.levels.iter().enumerate() {
            match lv {
                Level::Dense(s) if *s != extent[l] => bail_s(format!(
                    "dim_metadata[{l}] has dense_size {s}, the dimension it traverses has {}",
                    extent[l]
                ))?,
                Level::Csr { segments, indices } => {
                    if segments.windows(2).any(|w| w[0] > w[1]) {
                        bail_s(format!(
                            "dim_metadata[{l}].array_segments is not non-decreasing"
                        ))?;
                    }
                    if let Some(&last) = segments.last() {
                        if last > indices.len() {
                            bail_s(format!(
                                "dim_metadata[{l}].array_segments ends at {last}, past the {} array_indices",
                                indices.len()
                            ))?;
                        }
                    }
                    if let Some(&i) = indices.iter().find(|&&i| i >= extent[l]) {
                        bail_s(format!(
                            "dim_metadata[{l}].array_indices holds {i}, the dimension has {}",
                            extent[l]
                        ))?;
                    }
                }
                _ => {}
            }
        }
        let mut strides = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        // Level of each dimension, and of each block dimension.
        let mut level_of = vec![0usize; n_levels];
        for (l, &d) in self.traversal_order.iter().enumerate() {
            level_of[d] = l;
        }
        let mut w = Walker {
            layout: self,
            extent,
            strides,
            block_of,
            block_size,
            level_of,
            n_values,
            idx: vec![0; n_levels],
            out: Vec::with_capacity(n_values),
        };
        w.walk(0, 0)?;
        Ok(w.out)
    }
}

/// State of the depth-first walk over the levels.
struct Walker<'a> {
    layout: &'a Layout,
    extent: Vec<usize>,
    strides: Vec<usize>,
    block_of: Vec<Option<usize>>,
    block_size: Vec<usize>,
    level_of: Vec<usize>,
    n_values: usize,
    /// Current position at each level.
    idx: Vec<usize>,
    out: Vec<usize>,
}

impl Walker<'_> {
    /// Visits level `level` under parent position `parent`.
    fn walk(&mut self, level: usize, parent: usize) -> Result<(), String> {
        let rank = self.strides.len();
        if level == self.idx.len() {
            if self.out.len() >= self.n_values {
                bail_s(format!(
                    "the metadata addresses more elements than the {} stored values",
                    self.n_values
                ))?;
            }
            let mut flat = 0usize;
            for d in 0..rank {
                // Blocked index along d, then the offset inside its block.
                let mut p = self.idx[self.level_of[d]];
                if let Some(k) = self.block_of[d] {
                    p = p * self.block_size[k] + self.idx[self.level_of[rank + k]];
                }
                flat += p * self.strides[d];
            }
            self.out.push(flat);
            return Ok(());
        }
        match &self.layout.levels[level] {
            Level::Dense(_) => {
                let n = self.extent[level];
                for i in 0..n {
                    self.idx[level] = i;
                    let child = parent.checked_mul(n).and_then(|x| x.checked_add(i));
                    self.walk(level + 1, child.ok_or("level positions overflow")?)?;
                }
            }
            Level::Csr { segments, indices } => {
                if parent + 1 >= segments.len() {
                    bail_s(format!(
                        "dim_metadata[{level}].array_segments has {} entries, position {parent} needs {}",
                        segments.len(),
                        parent + 2
                    ))?;
                }
                let (from, to) = (segments[parent], segments[parent + 1]);
                for (i, &at) in indices.iter().enumerate().take(to).skip(from) {
                    self.idx[level] = at;
                    self.walk(level + 1, i)?;
                }
            }
        }
        Ok(())
    }
}

fn bail_s(m: String) -> Result<(), String> {
    Err(m)
}

fn scatter<T: Clone + Default>(
    vals: ArrayD<T>,
    dst: &[usize],
    shape: &[usize],
) -> Result<ArrayD<T>, EngineError> {
    let n: usize = shape.iter().product();
    let mut out = vec![T::default(); n];
    for (v, &d) in vals.iter().zip(dst) {
        out[d] = v.clone();
    }
    ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| EngineError::msg(e.to_string()))
}

/// The dense value of sparse constant `t` of subgraph `sg`; `None` when `t` is not sparse.
pub fn densify_constant(
    model: &Model,
    sg: usize,
    t: &Tensor,
) -> Result<Option<Value>, EngineError> {
    if t.sparsity.is_none() {
        return Ok(None);
    }
    let sp = model
        .fb()
        .subgraphs()
        .and_then(|s| (sg < s.len()).then(|| s.get(sg)))
        .and_then(|s| s.tensors())
        .and_then(|ts| (t.index < ts.len()).then(|| ts.get(t.index)))
        .and_then(|ft| ft.sparsity());
    let Some(sp) = sp else {
        return Ok(None);
    };
    let err = |m: String| EngineError::msg(format!("sparsity: {m}"));
    let shape: Vec<usize> = t.shape.iter().map(|&d| d.max(0) as usize).collect();
    let elem = match t.dtype {
        DType::I4 | DType::String => {
            return Err(err(format!("sparse {} tensors are not supported", t.dtype)))
        }
        d => d
            .storage_bytes(1)
            .ok_or_else(|| err(format!("sparse {d} tensors are not supported")))?,
    };
    limits::check_alloc(&shape, elem, "densified tensor")?;
    let bytes = model.tensor_data(sg, t.index).unwrap_or(&[]);
    let n_values = bytes.len() / elem;
    let vals = Value::from_constant(bytes, t.dtype, &[n_values])?;
    let dst = read_layout(sp)
        .and_then(|l| l.destinations(&shape, n_values))
        .map_err(err)?;
    Ok(Some(
        crate::map_value!(vals, a => scatter(a, &dst, &shape)?),
    ))
}

/// The value of constant `t` of subgraph `sg` in its declared (dense) shape, densifying sparse
/// storage.
pub fn constant_value(model: &Model, sg: usize, t: &Tensor) -> Result<Value, EngineError> {
    if t.shape.iter().any(|&d| d < 0) {
        bail!("constant with a negative dimension in shape {:?}", t.shape);
    }
    if let Some(v) = densify_constant(model, sg, t)? {
        return Ok(v);
    }
    let bytes = model.tensor_data(sg, t.index).unwrap_or(&[]);
    let shape: Vec<usize> = t.shape.iter().map(|&d| d.max(0) as usize).collect();
    Value::from_constant(bytes, t.dtype, &shape)
}

/// DENSIFY: the engine already holds its (constant, sparse) input densified.
pub fn densify(ctx: &OpCtx) -> Result<Vec<Value>, EngineError> {
    let meta = ctx.in_meta(0);
    if meta.is_none_or(|t| t.sparsity.is_none() || !t.is_constant) {
        bail!("DENSIFY needs a constant sparse input");
    }
    let x = ctx.input(0)?;
    // densify.cc handles float32, float16 and int8 only.
    if !matches!(x.dtype(), DType::F32 | DType::F16 | DType::I8) {
        bail!(
            "DENSIFY of {} is not supported (TFLite: float32, float16, int8)",
            x.dtype()
        );
    }
    Ok(vec![x.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(segments: &[usize], indices: &[usize]) -> Level {
        Level::Csr {
            segments: segments.to_vec(),
            indices: indices.to_vec(),
        }
    }

    /// The 4x4 example of TFLite's format converter test: dense rows, CSR columns.
    #[test]
    fn csr_matrix() {
        let l = Layout {
            traversal_order: vec![0, 1],
            block_map: vec![],
            levels: vec![Level::Dense(4), csr(&[0, 2, 2, 3, 5], &[0, 2, 1, 0, 3])],
        };
        let d = l.destinations(&[4, 4], 5).unwrap();
        assert_eq!(d, vec![0, 2, 9, 12, 15]);
    }

    /// Column-major traversal with 2x2 blocks along both dimensions.
    #[test]
    fn blocked_traversal() {
        let l = Layout {
            traversal_order: vec![1, 0, 2, 3],
            block_map: vec![0, 1],
            levels: vec![
                Level::Dense(2),
                csr(&[0, 1, 2], &[1, 0]),
                Level::Dense(2),
                Level::Dense(2),
            ],
        };
        // Column block 0 keeps row block 1, column block 1 keeps row block 0.
        let d = l.destinations(&[4, 4], 8).unwrap();
        assert_eq!(d, vec![8, 9, 12, 13, 2, 3, 6, 7]);
    }

    #[test]
    fn malformed_metadata_is_an_error() {
        let base = || Layout {
            traversal_order: vec![0, 1],
            block_map: vec![],
            levels: vec![Level::Dense(4), csr(&[0, 2, 2, 3, 5], &[0, 2, 1, 0, 3])],
        };
        let mut l = base();
        l.levels[1] = csr(&[0, 2, 2, 3, 5], &[0, 2, 1, 0, 9]);
        assert!(l.destinations(&[4, 4], 5).unwrap_err().contains("holds 9"));
        let mut l = base();
        l.levels[1] = csr(&[0, 2, 2, 3, 7], &[0, 2, 1, 0, 3]);
        assert!(l.destinations(&[4, 4], 5).unwrap_err().contains("past"));
        let mut l = base();
        l.levels[1] = csr(&[0, 2, 2], &[0, 2, 1, 0, 3]);
        assert!(l.destinations(&[4, 4], 5).is_err());
        let l = base();
        assert!(l
            .destinations(&[4, 4], 3)
            .unwrap_err()
            .contains("stored values"));
        let mut l = base();
        l.traversal_order = vec![0, 0];
        assert!(l.destinations(&[4, 4], 5).is_err());
        let mut l = base();
        l.levels[0] = Level::Dense(5);
        assert!(l.destinations(&[4, 4], 5).is_err());
        let mut l = base();
        l.block_map = vec![3];
        l.traversal_order = vec![0, 1, 2];
        l.levels.push(Level::Dense(2));
        assert!(l.destinations(&[4, 4], 5).is_err());
    }
}
