//! quantscope: look inside quantized TensorFlow Lite models.
//!
//! Dependencies point one way: [`model`] (reading) <- [`engine`] (running), [`quant`]
//! (numerics), [`preprocess`] <- [`compare`] <- [`report`] <- [`cli`], `app`. The GUI
//! (feature `gui`) sits on top and computes nothing itself: it lays out what [`report`],
//! [`compare`] and [`quant`] return, and pairs its tabs by [`workspace`].

// Every unsafe operation sits in its own `unsafe` block with a `// SAFETY:` comment, also
// inside `unsafe fn`s (whose contract is their `# Safety` section).
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "gui")]
pub mod app;
pub mod cli;
pub mod compare;
pub mod engine;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod labels;
pub mod model;
pub mod preprocess;
pub mod quant;
pub mod report;
pub mod workspace;
