//! Which vector instructions the kernels may use: what the CPU has, optionally lowered with
//! `QUANTSCOPE_SIMD=portable|avx2` so the fallback paths can be checked against the oracle on
//! a machine that has AVX-512 (every path must give the same integers).

use std::sync::OnceLock;

/// The instruction-set levels the kernels have paths for; each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Portable,
    /// AVX2 with FMA.
    Avx2,
    /// The AVX-512 subsets the kernels use (F, BW, VL, DQ).
    Avx512,
    /// AVX-512 VNNI (the int8 dot-product instruction) on top of `Avx512`.
    Vnni,
}

/// The highest level the CPU has.
#[cfg(target_arch = "x86_64")]
fn detected() -> Level {
    use std::is_x86_feature_detected as has;
    if !(has!("avx2") && has!("fma")) {
        Level::Portable
    } else if !(has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq")) {
        Level::Avx2
    } else if !has!("avx512vnni") {
        Level::Avx512
    } else {
        Level::Vnni
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detected() -> Level {
    Level::Portable
}

/// What the kernels may use: the CPU's level, lowered to `QUANTSCOPE_SIMD`'s when that is set
/// (decided once).
fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("QUANTSCOPE_SIMD").ok().as_deref() {
            Some("portable") => Level::Portable,
            Some("avx2") => Level::Avx2,
            _ => Level::Vnni,
        };
        cap.min(detected())
    })
}

/// AVX2 with FMA.
#[inline]
pub fn avx2() -> bool {
    level() >= Level::Avx2
}

/// The AVX-512 subsets the kernels use (F, BW, VL, DQ); implies [`avx2`].
#[inline]
pub fn avx512() -> bool {
    level() >= Level::Avx512
}

/// AVX-512 VNNI (the int8 dot-product instruction) on top of `avx512()`.
#[inline]
pub fn vnni() -> bool {
    level() >= Level::Vnni
}

/// `f()`, compiled with AVX-512 (F, BW, VL, DQ): the loops of an `#[inline(always)]` function
/// that `f` calls are vectorized with them.
///
/// # Safety
/// The CPU must support them ([`avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f()`, compiled with AVX2 and FMA (see [`with_avx512`]).
///
/// # Safety
/// The CPU must support them ([`avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// What the kernels run with, for reports and benchmarks.
pub fn describe() -> &'static str {
    if vnni() {
        "avx512+vnni"
    } else if avx512() {
        "avx512"
    } else if avx2() {
        "avx2"
    } else {
        "portable"
    }
}
