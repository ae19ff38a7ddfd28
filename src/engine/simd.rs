//! Which vector instructions the kernels may use: what the CPU has, optionally lowered with
//! `QUANTSCOPE_SIMD=portable|avx2` so the fallback paths can be checked against the oracle on
//! a machine that has AVX-512 (every path must give the same integers).

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Portable,
    Avx2,
    Avx512,
}

fn cap() -> Level {
    static CAP: OnceLock<Level> = OnceLock::new();
    *CAP.get_or_init(|| match std::env::var("QUANTSCOPE_SIMD").ok().as_deref() {
        Some("portable") => Level::Portable,
        Some("avx2") => Level::Avx2,
        _ => Level::Avx512,
    })
}

/// AVX2 with FMA.
#[inline]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap() >= Level::Avx2
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The AVX-512 subsets the kernels use (F, BW, VL, DQ).
#[inline]
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap() >= Level::Avx512
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// AVX-512 VNNI (the int8 dot-product instruction) on top of `avx512()`.
#[inline]
pub fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512() && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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
