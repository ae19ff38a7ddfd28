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
    match bytes {
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
