//! The engine's error type.

/// Why a model cannot be prepared or run. Messages name the op (index and name) and tensor.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the model has operators quantscope cannot run:\n  {}", .0.join("\n  "))]
    Unsupported(Vec<String>),
    #[error("subgraph {sg} op {index} {op} (output '{tensor}'): {msg}")]
    Op {
        sg: usize,
        index: usize,
        op: String,
        tensor: String,
        msg: String,
    },
    #[error("input {index} ('{name}'): {msg}")]
    Input {
        index: usize,
        name: String,
        msg: String,
    },
    /// A kernel-level problem; the engine wraps it into [`EngineError::Op`] with the op's name.
    #[error("{0}")]
    Type(String),
    #[error("cancelled")]
    Cancelled,
}

impl EngineError {
    pub fn msg(m: impl Into<String>) -> EngineError {
        EngineError::Type(m.into())
    }
}
