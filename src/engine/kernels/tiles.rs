//! The loop order the AVX-512 GEMM micro-kernels share (float `conv/sgemm.rs`, int8 VNNI
//! `int/gemm.rs`): column blocks whose packed weights stay in L2, every row tile over a
//! block, pairs of 16-column panels within a row tile.

/// The largest micro-kernel height (12, 8, 4, 2 or 1 rows) that fits `left` rows.
#[inline(always)]
pub fn row_tile(left: usize) -> usize {
    match left {
        12.. => 12,
        8.. => 8,
        4.. => 4,
        2.. => 2,
        _ => 1,
    }
}

/// Calls `f(r, rt, j, nb)` for every tile: rows `r..r + rt` (`rt` from [`row_tile`]) times
/// 16-column panels `j..j + nb` (`nb` 1 or 2), panels taken `block` at a time (even, >= 2).
#[inline(always)]
pub fn for_tiles(
    rows: usize,
    panels: usize,
    block: usize,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let mut j0 = 0;
    while j0 < panels {
        let j1 = (j0 + block).min(panels);
        let mut r = 0;
        while r < rows {
            let rt = row_tile(rows - r);
            let mut j = j0;
            while j < j1 {
                let nb = (j1 - j).min(2);
                f(r, rt, j, nb);
                j += nb;
            }
            r += rt;
        }
        j0 = j1;
    }
}

/// The lane mask of a 16-lane vector of which the first `valid` lanes (all if >= 16) are used.
#[inline(always)]
pub fn mask16(valid: usize) -> u16 {
    if valid >= 16 {
        0xffff
    } else {
        (1u16 << valid) - 1
    }
}

/// `$go!(height)` with the height as a literal (a const generic of the micro-kernel), for a
/// row tile height `$rt` from [`row_tile`].
macro_rules! by_height {
    ($rt:expr, $go:ident) => {
        match $rt {
            12 => $go!(12),
            8 => $go!(8),
            4 => $go!(4),
            2 => $go!(2),
            _ => $go!(1),
        }
    };
}
pub(crate) use by_height;
