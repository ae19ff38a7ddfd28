//! Splitting big element-wise work over the rayon pool the engine runs in (`--threads`).
//!
//! Every piece is computed by the same code on its own range of outputs, so a result does not
//! depend on the number of threads: each output value goes through the same sequence of float
//! operations as in one piece. Work under [`MIN_PAR`] values stays on the calling thread,
//! where waking a second thread costs more than it saves.

use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Fewest values worth splitting when each costs about one memory access (128K f32, 512 KB in
/// and out, tens of microseconds): below that, waking a second thread (and, on a busy machine,
/// waiting for it to be scheduled) costs more than it saves. Values that cost more (GELU's
/// polynomials, reductions) pass a `cost` and split from fewer.
pub const MIN_PAR: usize = 1 << 17;

/// The split threshold in force ([`MIN_PAR`] unless a test lowers it).
static THRESHOLD: AtomicUsize = AtomicUsize::new(MIN_PAR);
/// How many times work was split (for tests that must see the parallel paths run).
static SPLITS: AtomicUsize = AtomicUsize::new(0);

/// For tests: split work from `n` values on, so that small fixtures take the parallel paths.
#[doc(hidden)]
pub fn set_threshold(n: usize) {
    THRESHOLD.store(n.max(1), Ordering::Relaxed);
}

/// How many times work has been split into parallel pieces so far in this process.
#[doc(hidden)]
pub fn splits() -> usize {
    SPLITS.load(Ordering::Relaxed)
}

/// Whether `n` values (times `cost`) are worth splitting over the current pool.
pub fn worth_splitting(n: usize, cost: usize) -> bool {
    rayon::current_num_threads() > 1
        && n.saturating_mul(cost.max(1)) >= THRESHOLD.load(Ordering::Relaxed)
}

/// Values per piece for `n` values in whole `unit`s, each value costing `cost` input values
/// (`n` when the work stays in one piece): about two pieces per thread, so one slow thread does
/// not hold up the op.
fn piece(n: usize, unit: usize, cost: usize) -> usize {
    let (unit, cost) = (unit.max(1), cost.max(1));
    if !worth_splitting(n, cost) || n <= unit {
        return n.max(1);
    }
    let least = (THRESHOLD.load(Ordering::Relaxed) / 2).div_ceil(cost);
    let per = n.div_ceil(2 * rayon::current_num_threads()).max(least);
    per.div_ceil(unit) * unit
}

/// Rows per parallel task of a GEMM over `rows` rows: at most `max` (the cache-friendly size),
/// and at least two tasks of about equal size per thread, so that few rows (the last stages of
/// a ConvNeXt: 64 rows) still keep every thread busy; a multiple of `align` unless one task.
/// GEMM results do not depend on how rows are grouped (each output sums its own products).
pub fn rows_per_task(rows: usize, max: usize, align: usize) -> usize {
    let (max, align) = (max.max(1), align.max(1));
    let threads = rayon::current_num_threads();
    if threads <= 1 {
        return max;
    }
    let tasks = rows.div_ceil(max).max(2 * threads).div_ceil(threads) * threads;
    (rows.div_ceil(tasks).div_ceil(align) * align).clamp(1, max)
}

/// Calls `f(offset, piece)` over `out` cut into pieces of whole `unit`s (the last may be short),
/// in parallel when `out` is big enough; `offset` is the piece's first index in `out`.
pub fn for_pieces<T: Send>(out: &mut [T], unit: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    for_pieces_costly(out, unit, 1, f)
}

/// [`for_pieces`] where each output value reads `cost` input values (a reduction), so that
/// few outputs of much work are split too.
pub fn for_pieces_costly<T: Send>(
    out: &mut [T],
    unit: usize,
    cost: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let per = piece(out.len(), unit, cost);
    if per >= out.len() {
        return f(0, out);
    }
    SPLITS.fetch_add(1, Ordering::Relaxed);
    out.par_chunks_mut(per)
        .enumerate()
        .for_each(|(i, c)| f(i * per, c));
}

/// A vector of `n` values made by [`for_pieces`]: `f(offset, piece)` gets each piece zeroed
/// (`T::default()`) and writes its values. Zeroing piece by piece keeps that write in the
/// thread (and cache) that fills the piece, instead of one serial memset of the whole buffer.
pub fn build<T: Copy + Default + Send>(
    n: usize,
    unit: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    build_costly(n, unit, 1, f)
}

/// [`build`] with each output value reading `cost` input values (see [`for_pieces_costly`]).
pub fn build_costly<T: Copy + Default + Send>(
    n: usize,
    unit: usize,
    cost: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    for_pieces_costly(&mut v.spare_capacity_mut()[..n], unit, cost, |off, c| {
        for x in c.iter_mut() {
            x.write(T::default());
        }
        // SAFETY: every element of `c` was initialized just above, and `MaybeUninit<T>` has
        // the layout of `T`.
        let c = unsafe { &mut *(c as *mut [MaybeUninit<T>] as *mut [T]) };
        f(off, c);
    });
    // SAFETY: the pieces of `for_pieces` cover all `n` elements, each initialized above (if `f`
    // panics, the panic leaves this function before the length is set).
    unsafe { v.set_len(n) };
    v
}

/// `src` mapped value by value into a new vector, in parallel pieces when big enough (each
/// value costing `cost`, see [`for_pieces_costly`]).
pub fn map<T: Copy + Default + Send + Sync>(
    src: &[T],
    cost: usize,
    f: impl Fn(&[T], &mut [T]) + Sync,
) -> Vec<T> {
    build_costly(src.len(), 1, cost, |off, o| f(&src[off..off + o.len()], o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_everything_once_at_any_thread_count() {
        let mut checked = 0;
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (n, unit) in [
                (0, 1),
                (5, 3),
                (MIN_PAR - 1, 1),
                (MIN_PAR * 3 + 7, 96),
                (100_003, 384),
            ] {
                let v: Vec<u64> = pool.install(|| {
                    build(n, unit, |off, o| {
                        assert!(off % unit == 0 && (o.len() % unit == 0 || off + o.len() == n));
                        for (i, x) in o.iter_mut().enumerate() {
                            *x += (off + i) as u64 + 1;
                        }
                    })
                });
                assert_eq!(v.len(), n);
                assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 + 1));
                checked += n;
            }
        }
        assert_eq!(checked, 4 * (5 + MIN_PAR - 1 + MIN_PAR * 3 + 7 + 100_003));
    }
}
