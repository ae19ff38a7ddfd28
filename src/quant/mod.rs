//! Quantization numerics (being built).
