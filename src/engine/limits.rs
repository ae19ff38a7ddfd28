//! Allocation limits: a tensor whose element count overflows, or whose size exceeds the budget,
//! is an error before anything is allocated (an untrusted file's shapes can say anything).
//! Work limits: an op whose cost its options alone can make enormous (a pooling window is two
//! integers) is an error before it runs, since one op cannot be cancelled half-way.

use super::EngineError;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// Most elementary steps (input values read) one op may take (default 2^36, about a minute of
/// scalar work; real models' pools are many orders below it).
static MAX_OP_WORK: AtomicU64 = AtomicU64::new(1 << 36);

pub fn set_max_op_work(steps: u64) {
    MAX_OP_WORK.store(steps, Ordering::Relaxed);
}

pub fn max_op_work() -> u64 {
    MAX_OP_WORK.load(Ordering::Relaxed)
}

/// Checks that an op costing `steps` (the product of `factors`, saturating) may run; `what`
/// says how the cost arises, for the error.
pub fn check_work(factors: &[usize], what: &str) -> Result<(), EngineError> {
    let steps = factors
        .iter()
        .fold(1u64, |acc, &f| acc.saturating_mul(f as u64));
    if steps > max_op_work() {
        return Err(EngineError::msg(format!(
            "{what} is {steps} steps, over the limit of {} per op (engine::limits::set_max_op_work)",
            max_op_work()
        )));
    }
    Ok(())
}
