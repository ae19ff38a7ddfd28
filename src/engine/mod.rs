//! Running models with TFLite's semantics (being built).
