//! Quantization numerics: what the weights of a model look like and what quantizing them cost.
//!
//! - [`stats`]: moments, histograms, range use (levels, effective bits).
//! - [`metrics`]: error metrics against a float reference (each formula once, with units).
//! - [`checks`]: TFLite int8 spec checks (symmetric weights, bias scale, multiplier, axis).
//! - [`roles`]: which op consumes each constant (weights, bias, ...).
//! - [`pairing`]: pairing a quantized model's constants with a float model's.
//! - [`simulate`]: simulated quantization (int4/int8/int16, symmetric or not, per tensor,
//!   channel or block of 32/64/128, min-max / MSE / percentile clipping).
//! - [`analyze`]: the per-tensor analysis and model roll-up ([`analyze()`] is the entry point).
//! - [`scan`]: streaming, parallel passes over memory-mapped tensor bytes.

pub mod analyze;
pub mod checks;
pub mod metrics;
pub mod pairing;
pub mod roles;
pub mod scan;
pub mod simulate;
pub mod stats;

pub use analyze::{
    analyze, quant_range, AnalyzeError, BlockAnalysis, ChannelAnalysis, Options, Reference, Rollup,
    TensorAnalysis, WeightsReport, WorstBlock,
};
pub use checks::{Check, Severity};
pub use metrics::{ErrorAcc, ErrorMetrics};
pub use simulate::{Bits, Clip, Scheme};
pub use stats::{Histogram, Moments, Summary};
