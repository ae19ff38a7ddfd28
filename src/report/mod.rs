//! The reports quantscope writes, one place for every document and table the CLI prints and
//! the app shows or exports: `inspect` ([`InspectReport`]), `weights`
//! ([`crate::quant::WeightsReport`]), `compare` ([`CompareReport`]), the app's whole-session
//! export ([`AppReport`]), the tensor table both the CLI and the app list ([`tensor_rows`]),
//! and every CSV export ([`csv`]).

pub mod csv;
mod inspect;
mod tables;

pub use crate::compare::{aggregate, Aggregate, ImageComparison};
pub use crate::quant::WeightsReport;
pub use inspect::{
    AssociatedFileReport, InspectReport, MetadataReport, SubgraphReport, TensorMetadataReport,
    TensorReport, TfliteMetadataReport,
};
pub use tables::{tensor_rows, unsupported_ops, QuantSummary, TensorRow};

use serde::Serialize;

/// Many images compared: each image's comparison and the aggregate over them
/// (`quantscope compare FOLDER --json`, the app's comparisons).
#[derive(Clone, Debug, Serialize)]
pub struct CompareReport {
    pub images: Vec<ImageComparison>,
    pub aggregate: Aggregate,
}

impl CompareReport {
    pub fn new(images: Vec<ImageComparison>) -> CompareReport {
        CompareReport {
            aggregate: aggregate(&images),
            images,
        }
    }
}

/// The app's "Export report": every open model with all that was computed for it.
#[derive(Serialize)]
pub struct AppReport<'a> {
    /// The quantscope version that wrote the report.
    pub quantscope: &'static str,
    pub models: Vec<AppModelReport<'a>>,
}

/// One open model of the app.
#[derive(Serialize)]
pub struct AppModelReport<'a> {
    pub name: String,
    pub paired_with: Option<String>,
    pub inspect: InspectReport<'a>,
    pub weights: Option<&'a WeightsReport>,
    pub weights_error: Option<&'a str>,
    /// `None` until images were compared.
    pub comparisons: Option<&'a CompareReport>,
    /// The last simulated quantization (What-if), when one ran.
    pub what_if: Option<&'a WeightsReport>,
}

impl<'a> AppReport<'a> {
    pub fn new(models: Vec<AppModelReport<'a>>) -> Self {
        AppReport {
            quantscope: env!("CARGO_PKG_VERSION"),
            models,
        }
    }
}
