//! Allocation limits: a tensor whose element count overflows, or whose size exceeds the budget,
//! is an error before anything is allocated (an untrusted file's shapes can say anything).

use super::EngineError;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single tensor the engine allocates, in bytes (default 4 GiB).
static MAX_TENSOR_BYTES: AtomicUsize = AtomicUsize::new(4 << 30);

pub fn set_max_tensor_bytes(bytes: usize) {
    MAX_TENSOR_BYTES.store(bytes, Ordering::Relaxed);
}

pub fn max_tensor_bytes() -> usize {
    MAX_TENSOR_BYTES.load(Ordering::Relaxed)
}

/// Checks that a tensor of `shape` with `elem_bytes`-byte elements may be allocated.
pub fn check_alloc(shape: &[usize], elem_bytes: usize, what: &str) -> Result<(), EngineError> {
    let bytes = shape
        .iter()
        .try_fold(elem_bytes.max(1), |acc, &d| acc.checked_mul(d));
    // ndarray also needs the product of the non-zero lengths to fit in isize, even when a
    // zero length makes the tensor empty.
    let nonzero = shape.iter().try_fold(1isize, |acc, &d| {
        acc.checked_mul(isize::try_from(d.max(1)).ok()?)
    });
    match bytes.filter(|_| nonzero.is_some()) {
        None => Err(EngineError::msg(format!(
            "{what}: shape {shape:?} overflows the element count"
        ))),
        Some(b) if b > max_tensor_bytes() => Err(EngineError::msg(format!(
            "{what}: shape {shape:?} needs {b} bytes, over the {} byte limit per tensor",
            max_tensor_bytes()
        ))),
        Some(_) => Ok(()),
    }
}
