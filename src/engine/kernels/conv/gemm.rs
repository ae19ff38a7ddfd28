//! C = A·B + beta·C with arbitrary strides, on matrixmultiply: the float GEMM of the ops
//! that do not pack their weights (FULLY_CONNECTED, BATCH_MATMUL, TRANSPOSE_CONV).

#[allow(unused_imports)]
use super::*;

/// C[m×n] = A[m×k]·B[k×n] + beta·C with arbitrary strides.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The last element each matrix addresses must lie inside its slice (checked in release too:
    // a wrong call must panic, not read or write out of bounds; overflow counts as outside).
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows - 1)
            .checked_mul(rs)?
            .checked_add((cols - 1).checked_mul(cs)?)
    };
    let inside = |len: usize, rows, cols, rs, cs| last(rows, cols, rs, cs).is_some_and(|i| i < len);
    assert!(
        inside(c.len(), m, n, rsc, 1),
        "gemm: C is too short for {m}x{n}"
    );
    if k > 0 {
        assert!(
            inside(a.len(), m, k, rsa, csa),
            "gemm: A is too short for {m}x{k}"
        );
        assert!(
            inside(b.len(), k, n, rsb, csb),
            "gemm: B is too short for {k}x{n}"
        );
    }
    // SAFETY: the asserts above show every element the strides address lies inside `a`, `b`
    // and `c`; `c` is borrowed mutably, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}
