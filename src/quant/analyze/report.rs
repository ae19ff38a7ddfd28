//! The report types of the weight analysis (what `quantscope weights --json` prints).

use super::*;

/// The error metrics of a tensor or channel as flat, always-present fields (null = unknown:
/// no reference, or no scale for LSB units, or an infinite SQNR for an exact match).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorFields {
    pub sqnr_db: Option<f64>,
    pub mse: Option<f64>,
    pub rmse: Option<f64>,
    pub mean_err: Option<f64>,
    pub max_abs_err: Option<f64>,
    pub max_abs_err_lsb: Option<f64>,
    pub rmse_over_scale: Option<f64>,
    pub cosine: Option<f64>,
    pub clip_below: Option<f64>,
    pub clip_above: Option<f64>,
    pub clip_rate: Option<f64>,
}

impl From<Option<&ErrorMetrics>> for ErrorFields {
    fn from(m: Option<&ErrorMetrics>) -> Self {
        let Some(m) = m else {
            return ErrorFields::default();
        };
        ErrorFields {
            sqnr_db: m.sqnr_db,
            mse: Some(m.mse),
            rmse: Some(m.rmse),
            mean_err: Some(m.mean_err),
            max_abs_err: Some(m.max_abs_err),
            max_abs_err_lsb: m.max_abs_err_lsb,
            rmse_over_scale: m.rmse_over_scale,
            cosine: m.cosine,
            clip_below: Some(m.clip_below),
            clip_above: Some(m.clip_above),
            clip_rate: Some(m.clip_rate),
        }
    }
}

/// Range-use fields (null for floats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RangeFields {
    pub levels_used: Option<u64>,
    pub effective_bits: Option<f64>,
    pub range_used: Option<f64>,
    pub saturated: Option<u64>,
}

impl From<Option<RangeUse>> for RangeFields {
    fn from(r: Option<RangeUse>) -> Self {
        match r {
            None => RangeFields::default(),
            Some(r) => RangeFields {
                levels_used: Some(r.levels_used),
                effective_bits: Some(r.effective_bits),
                range_used: Some(r.range_used),
                saturated: Some(r.saturated),
            },
        }
    }
}

/// What the error was measured against.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reference {
    /// A constant of the paired float model.
    FloatModel {
        index: usize,
        name: String,
        dtype: DType,
        paired_by: PairedBy,
    },
    /// The tensor's own float values, quantized in simulation.
    Simulated { scheme: Scheme, dtype: DType },
}

#[derive(Clone, Debug, Serialize)]
pub struct ChannelAnalysis {
    pub channel: usize,
    pub scale: Option<f64>,
    pub zero_point: Option<i64>,
    pub n: u64,
    /// Statistics of the stored (or simulated) integers.
    pub int_stats: Option<Summary>,
    /// Statistics of the dequantized values (or of the floats, for a float tensor).
    pub real_stats: Option<Summary>,
    #[serde(flatten)]
    pub range: RangeFields,
    /// The real values the channel can represent, `±1/2 LSB` beyond the integer limits of
    /// [`quant_range`] (so symmetric int8 weights end at `-127.5 s`, not `-128.5 s`).
    pub representable: Option<(f64, f64)>,
    /// All values equal the zero point.
    pub dead: bool,
    #[serde(flatten)]
    pub errors: ErrorFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    #[serde(skip)]
    pub error: Option<ErrorMetrics>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TensorAnalysis {
    #[serde(flatten)]
    pub tensor: TensorId,
    pub dtype: DType,
    pub shape: Vec<i32>,
    /// `CONV_2D#0 weights`: the op that consumes it (through DEQUANTIZE).
    pub role: Option<String>,
    pub role_kind: Option<RoleKind>,
    pub op_index: Option<usize>,
    pub per_channel: bool,
    pub axis: Option<usize>,
    /// Number of channels (1 for per-tensor).
    pub channel_count: usize,
    pub n: u64,
    pub bytes: usize,
    pub reference: Option<Reference>,
    pub scale_min: Option<f64>,
    pub scale_max: Option<f64>,
    /// `max scale / min scale` over channels.
    pub scale_spread: Option<f64>,
    pub int_stats: Option<Summary>,
    pub real_stats: Option<Summary>,
    /// Statistics of the float reference, when there is one.
    pub reference_stats: Option<Summary>,
    #[serde(flatten)]
    pub range: RangeFields,
    /// Channels whose values all equal the zero point.
    pub dead_channels: Vec<usize>,
    #[serde(flatten)]
    pub errors: ErrorFields,
    /// Stored (or simulated) integers: one bin per value for <= 8 bits (edges `q .. q+1`),
    /// integer-aligned adaptive bins for wider types; the float values for a float tensor.
    pub histogram: Histogram,
    /// Dequantized values; for per-tensor scales the integer bins mapped to
    /// `s (q - 0.5 - z)` edges, else adaptive.
    pub real_histogram: Option<Histogram>,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelAnalysis>,
    /// Blockwise tensors (stored or simulated): scale, range use and error per block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<BlockAnalysis>,
    #[serde(skip)]
    pub error: Option<ErrorMetrics>,
    /// `(sum x^2, sum e^2)` for the model-wide SQNR.
    #[serde(skip)]
    pub sums: Option<(f64, f64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    #[serde(flatten)]
    pub tensor: TensorId,
    pub dtype: DType,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DtypeBytes {
    pub tensors: usize,
    pub elements: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Worst {
    #[serde(flatten)]
    pub tensor: TensorId,
    pub role: Option<String>,
    pub sqnr_db: Option<f64>,
    pub rmse_over_scale: Option<f64>,
    pub max_abs_err_lsb: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Rollup {
    pub tensors_analysed: usize,
    pub tensors_compared: usize,
    pub tensors_skipped: usize,
    pub errors: usize,
    pub warnings: usize,
    /// `10 log10(sum x^2 / sum e^2)` over every compared element of the model.
    pub overall_sqnr_db: Option<f64>,
    /// Compared tensors, lowest SQNR first (exact matches last).
    pub worst: Vec<Worst>,
    /// Constants of the model by stored dtype.
    pub bytes_by_dtype: BTreeMap<String, DtypeBytes>,
    pub constant_bytes: u64,
    /// The same constants stored as float32.
    pub float32_bytes: u64,
    /// `float32_bytes - constant_bytes`.
    pub bytes_saved: i64,
    /// Constants of the paired float model.
    pub float_model_bytes: Option<u64>,
    /// Constants if the simulated tensors were stored in the scheme's dtype (plus a f32 scale
    /// and an i64 zero point per channel).
    pub simulated_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WeightsReport {
    pub model: String,
    pub float_model: Option<String>,
    /// `float_model`, `simulated` or `none`.
    pub reference: &'static str,
    pub scheme: Option<Scheme>,
    pub tensors: Vec<TensorAnalysis>,
    pub skipped: Vec<Skipped>,
    pub unmatched_quant: Vec<Unmatched>,
    pub unmatched_float: Vec<Unmatched>,
    pub rollup: Rollup,
}
