//! The one table of operators the engine runs, keyed by TFLite's builtin operator code.
//!
//! Each row lists an op's routes in priority order: the integer (and dynamic-range) kernels
//! with the input dtypes they accept, then the float or type-generic kernel. [`resolve`] picks
//! the first route whose condition holds for the op's declared tensors; [`crate::engine::Engine`]
//! does that once per op when it is created, and "is this op supported?" ([`supported`]) is the
//! same question, so the two cannot disagree. Control flow (CALL_ONCE, WHILE, IF, resource
//! variables) is run by the engine itself ([`crate::model::ops::OpFacts::control_flow`]).
//!
//! Adding an op: write its kernel (one file per op family under `kernels/`), add a row here,
//! add fixtures (see the README's contributor section).

use super::kernels::int::{self, activ, binary, elem, hybrid, quant};
use super::kernels::{
    cast, conv, densify, elementwise as ew, embedding, pool, reduce, shape, Kernel,
};
use crate::model::ops::op_facts;
use crate::model::{DType, Model, Operator, Quantization, Tensor};
use tract_tflite::tflite::BuiltinOperator as B;

/// How a route computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// Float32 arithmetic.
    Float,
    /// Data movement, selection, comparison: exact on any element type without requantization.
    Generic,
    /// Integer arithmetic on quantized tensors, bit-exact with TFLite's reference kernels.
    Int,
    /// Float activations with integer weights (TFLite's dynamic-range kernels).
    Hybrid,
}

/// One way to run an op.
pub struct Route {
    pub kind: RouteKind,
    /// Dtypes input 0 may have (absent input 0 counts as float32); empty: any.
    pub dtypes: &'static [DType],
    /// A further condition on the op's tensors, with what it requires in words.
    pub when: Option<(&'static str, fn(&Sig) -> bool)>,
    pub kernel: Kernel,
}

/// One operator: its routes, in the order they are tried.
pub struct OpRow {
    pub code: B,
    pub routes: &'static [Route],
}

/// A custom operator the engine runs (custom ops have a name, no builtin code).
pub struct CustomRow {
    pub name: &'static str,
    pub routes: &'static [Route],
}

/// What resolution looks at: the op's declared input and output tensors (never their values,
/// so an op resolves the same way on every invocation).
pub struct Sig<'a> {
    ins: Vec<Option<&'a Tensor>>,
    outs: Vec<Option<&'a Tensor>>,
}

impl<'a> Sig<'a> {
    pub fn of(model: &'a Model, sg: usize, op: &Operator) -> Sig<'a> {
        let ts = &model.subgraphs[sg].tensors;
        let get = |&t: &i32| usize::try_from(t).ok().and_then(|t| ts.get(t));
        Sig {
            ins: op.inputs.iter().map(get).collect(),
            outs: op.outputs.iter().map(get).collect(),
        }
    }
    /// Dtype of input `i` (`None` when absent).
    pub fn dt(&self, i: usize) -> Option<DType> {
        self.ins.get(i).copied().flatten().map(|t| t.dtype)
    }
    pub fn out_dt(&self, i: usize) -> Option<DType> {
        self.outs.get(i).copied().flatten().map(|t| t.dtype)
    }
    fn q(&self, i: usize) -> Option<&'a Quantization> {
        self.ins.get(i).copied().flatten()?.quantization.as_ref()
    }
    fn out_q(&self, i: usize) -> Option<&'a Quantization> {
        self.outs.get(i).copied().flatten()?.quantization.as_ref()
    }
    fn describe(&self) -> String {
        let names = |ts: &[Option<&Tensor>]| {
            ts.iter()
                .map(|t| t.map(|t| t.dtype.name()).unwrap_or_else(|| "-".into()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("({}) -> ({})", names(&self.ins), names(&self.outs))
    }
}

impl Route {
    fn accepts(&self, s: &Sig) -> bool {
        let x = s.dt(0).unwrap_or(DType::F32);
        (self.dtypes.is_empty() || self.dtypes.contains(&x)) && self.when.is_none_or(|(_, f)| f(s))
    }
    /// `int8/uint8 input, weights int8/uint8/int16` and the like.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            RouteKind::Float => "float",
            RouteKind::Generic => "generic",
            RouteKind::Int => "integer",
            RouteKind::Hybrid => "dynamic-range",
        };
        let dts = if self.dtypes.is_empty() {
            "any".to_string()
        } else {
            self.dtypes
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join("/")
        };
        match self.when {
            Some((w, _)) => format!("{kind} ({dts} input, {w})"),
            None => format!("{kind} ({dts} input)"),
        }
    }
}

/// How the engine runs one op, decided once.
#[derive(Clone, Copy)]
pub enum Prepared {
    /// The engine runs it (control flow, resource variables).
    Control,
    Kernel(&'static Route),
}

/// The routes of `op` (`None`: no row), looked up by builtin code, or by name for custom ops.
pub fn routes(op: &Operator) -> Option<&'static [Route]> {
    if op.is_custom {
        return CUSTOM.iter().find(|r| r.name == op.op).map(|r| r.routes);
    }
    row_of(B(op.builtin_code)).map(|r| r.routes)
}

/// The row of builtin op `code`.
pub fn row_of(code: B) -> Option<&'static OpRow> {
    ROWS.iter().find(|r| r.code == code)
}

/// How op `op` of subgraph `sg` runs; `Err` says why it cannot.
pub fn resolve(model: &Model, sg: usize, op: &Operator) -> Result<Prepared, String> {
    if op_facts(op).control_flow {
        return Ok(Prepared::Control);
    }
    let Some(routes) = routes(op) else {
        return Err(if op.is_custom {
            format!("custom op '{}' is not implemented", op.op)
        } else {
            "not implemented".to_string()
        });
    };
    let sig = Sig::of(model, sg, op);
    // Every op a kernel runs writes output 0; kernels read its quantization and shape.
    if sig.outs.first().copied().flatten().is_none() {
        return Err(format!(
            "output 0 is missing (the op lists {} outputs): the model is corrupt",
            op.outputs.len()
        ));
    }
    match routes.iter().find(|r| r.accepts(&sig)) {
        Some(r) => Ok(Prepared::Kernel(r)),
        None => Err(format!(
            "no kernel for {}; kernels: {}",
            sig.describe(),
            routes
                .iter()
                .map(Route::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// Whether an op can run (the question [`resolve`] answers, without the answer).
pub fn supported(model: &Model, sg: usize, op: &Operator) -> Result<(), String> {
    resolve(model, sg, op).map(|_| ())
}

/// The float (or type-generic) kernel of `op`: what per-layer error runs on dequantized inputs.
pub fn float_kernel(op: &Operator) -> Option<Kernel> {
    routes(op)?
        .iter()
        .find(|r| matches!(r.kind, RouteKind::Float | RouteKind::Generic))
        .map(|r| r.kernel)
}

// ---- conditions -------------------------------------------------------------------------

fn is_q(dt: Option<DType>) -> bool {
    matches!(dt, Some(DType::I8 | DType::U8 | DType::I16))
}
fn same_quant(a: Option<&Quantization>, b: Option<&Quantization>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.scales == b.scales && a.zero_points == b.zero_points,
        _ => false,
    }
}
fn weights_q(s: &Sig) -> bool {
    is_q(s.dt(1))
}
/// TFLite's hybrid BATCH_MATMUL takes int8 weights only.
fn weights_i8(s: &Sig) -> bool {
    s.dt(1) == Some(DType::I8)
}
fn weights_int(s: &Sig) -> bool {
    matches!(s.dt(1), Some(DType::I8 | DType::I4 | DType::U8))
}
/// Whether input 1 (the weights) carries blockwise quantization (one scale per block).
fn weights_blockwise(s: &Sig) -> bool {
    s.q(1).is_some_and(|q| q.blockwise.is_some())
}
/// TFLite's only blockwise kernel (`EvalBlockwise4Bit`) takes int4 weights.
fn blockwise_int4(s: &Sig) -> bool {
    weights_blockwise(s) && s.dt(1) == Some(DType::I4)
}
fn fc_weights_q(s: &Sig) -> bool {
    weights_q(s) && !weights_blockwise(s)
}
/// int2 too: TFLite unpacks it for FULLY_CONNECTED only; its conv kernels read the packed
/// bytes as int8 (past the buffer: NaN), so conv refuses it.
fn fc_weights_int(s: &Sig) -> bool {
    (weights_int(s) || s.dt(1) == Some(DType::I2)) && !weights_blockwise(s)
}
fn fc_weights_f32(s: &Sig) -> bool {
    weights_f32(s) && !weights_blockwise(s)
}
fn weights_f32(s: &Sig) -> bool {
    s.dt(1) == Some(DType::F32)
}
/// TRANSPOSE_CONV: input 0 is the output shape; data in 2, weights in 1.
fn tconv_q(s: &Sig) -> bool {
    is_q(s.dt(2)) && is_q(s.dt(1))
}
fn tconv_f32(s: &Sig) -> bool {
    s.dt(2) == Some(DType::F32) && s.dt(1) == Some(DType::F32)
}
fn out_q(s: &Sig) -> bool {
    is_q(s.out_dt(0))
}
fn not_quantized(s: &Sig) -> bool {
    !s.ins
        .first()
        .copied()
        .flatten()
        .is_some_and(|t| t.quantization.is_some() && !t.dtype.is_float())
}
fn first_same_quant(s: &Sig) -> bool {
    s.ins.first().copied().flatten().is_none() || same_quant(s.q(0), s.out_q(0))
}
fn all_same_quant(s: &Sig) -> bool {
    (0..s.ins.len())
        .filter(|&i| s.ins[i].is_some())
        .all(|i| same_quant(s.q(i), s.out_q(0)))
}
fn all_q(s: &Sig) -> bool {
    (0..s.ins.len()).all(|i| is_q(s.dt(i)))
}
/// Integer CONCATENATION whose inputs share the output's (scale, zero point): a plain copy.
fn concat_copy(s: &Sig) -> bool {
    let qp = |t: Option<&Tensor>| int::qparams(t);
    let ins: Vec<Option<(f32, i32)>> = s.ins.iter().map(|t| t.map(|t| qp(Some(t)))).collect();
    all_q(s) && quant::concat_same_quant(&ins, qp(s.outs.first().copied().flatten()))
}

// ---- routes -----------------------------------------------------------------------------

const ANY: &[DType] = &[];
const F32: &[DType] = &[DType::F32];
const Q: &[DType] = &[DType::I8, DType::U8, DType::I16];
const I8: &[DType] = &[DType::I8];
const I8_U8: &[DType] = &[DType::I8, DType::U8];
const I8_I16: &[DType] = &[DType::I8, DType::I16];

const fn r(kind: RouteKind, dtypes: &'static [DType], kernel: Kernel) -> Route {
    Route {
        kind,
        dtypes,
        when: None,
        kernel,
    }
}
const fn rw(
    kind: RouteKind,
    dtypes: &'static [DType],
    when: (&'static str, fn(&Sig) -> bool),
    kernel: Kernel,
) -> Route {
    Route {
        kind,
        dtypes,
        when: Some(when),
        kernel,
    }
}
use RouteKind::{Float, Generic, Hybrid, Int};

const WQ: (&str, fn(&Sig) -> bool) = ("int8/uint8/int16 weights", weights_q);
const WI: (&str, fn(&Sig) -> bool) = ("int8/int4/uint8 weights", weights_int);
const WF: (&str, fn(&Sig) -> bool) = ("float32 weights", weights_f32);
const SAME_Q: (&str, fn(&Sig) -> bool) = ("same quantization in and out", first_same_quant);

/// Float32 only.
macro_rules! float_only {
    ($k:expr) => {
        &[r(Float, F32, $k)]
    };
}
/// Any element type.
macro_rules! generic {
    ($k:expr) => {
        &[r(Generic, ANY, $k)]
    };
}
/// An integer kernel for `$dt` inputs, else float32.
macro_rules! int_or_float {
    ($dt:expr, $int:expr, $f:expr) => {
        &[r(Int, $dt, $int), r(Float, F32, $f)]
    };
}

const ARITH_FLOAT: Route = rw(
    Float,
    &[DType::F32, DType::I32, DType::I64],
    ("no quantization", not_quantized),
    ew::binary,
);
const ARITH_INT: &[Route] = &[r(Int, Q, binary::binary), ARITH_FLOAT];
const ARITH: &[Route] = &[ARITH_FLOAT];
const UNARY: &[Route] = float_only!(ew::unary);
const UNARY_ARITH: &[Route] = &[rw(
    Float,
    &[DType::F32, DType::I32, DType::I64],
    ("no quantization", not_quantized),
    ew::unary,
)];
const UNARY_ARITH_INT: &[Route] = &[
    r(Int, Q, binary::binary),
    rw(
        Float,
        &[DType::F32, DType::I32, DType::I64],
        ("no quantization", not_quantized),
        ew::unary,
    ),
];
const RELU_LIKE: &[Route] = int_or_float!(Q, activ::relu, ew::unary);
const LUT: &[Route] = int_or_float!(Q, activ::lut_op, ew::unary);
const LUT_EXP_LOG: &[Route] = int_or_float!(I8_I16, elem::lut_op, ew::unary);
const REDUCE: &[Route] = int_or_float!(Q, int::pool::reduce, reduce::reduce);
const REDUCE_MINMAX: &[Route] = &[
    r(Int, Q, int::pool::reduce),
    r(Float, F32, reduce::reduce),
    rw(Generic, ANY, SAME_Q, reduce::reduce),
];
const COMPARE: &[Route] = generic!(ew::compare);
const LOGICAL: &[Route] = generic!(ew::logical);
const RESHAPE: &[Route] = generic!(shape::reshape_like);

const fn row(code: B, routes: &'static [Route]) -> OpRow {
    OpRow { code, routes }
}

/// Every builtin op the engine runs.
pub static ROWS: &[OpRow] = &[
    // Convolution and matrix products.
    OpRow {
        code: B::CONV_2D,
        routes: &[
            rw(Int, Q, WQ, int::conv::conv2d),
            rw(Hybrid, F32, WI, hybrid::conv2d),
            rw(Float, F32, WF, conv::conv2d),
        ],
    },
    OpRow {
        code: B::DEPTHWISE_CONV_2D,
        routes: &[
            rw(Int, Q, WQ, int::conv::depthwise),
            rw(Hybrid, F32, WI, int::conv::depthwise_hybrid),
            rw(Float, F32, WF, conv::depthwise_conv2d),
        ],
    },
    OpRow {
        code: B::FULLY_CONNECTED,
        routes: &[
            rw(
                Hybrid,
                F32,
                ("blockwise int4 weights", blockwise_int4),
                int::blockwise::fully_connected,
            ),
            rw(
                Int,
                Q,
                ("int8/uint8/int16 weights, not blockwise", fc_weights_q),
                int::conv::fully_connected,
            ),
            rw(
                Hybrid,
                F32,
                (
                    "int8/int4/int2/uint8 weights, not blockwise",
                    fc_weights_int,
                ),
                hybrid::fully_connected,
            ),
            rw(
                Float,
                F32,
                ("float32 weights, not blockwise", fc_weights_f32),
                conv::fully_connected,
            ),
        ],
    },
    OpRow {
        code: B::TRANSPOSE_CONV,
        routes: &[
            rw(
                Int,
                ANY,
                ("int8/uint8/int16 data and weights", tconv_q),
                int::conv::transpose_conv,
            ),
            rw(
                Float,
                ANY,
                ("float32 data and weights", tconv_f32),
                conv::transpose_conv,
            ),
        ],
    },
    OpRow {
        code: B::BATCH_MATMUL,
        routes: &[
            rw(Int, Q, WQ, int::conv::batch_matmul),
            rw(Float, F32, WF, conv::batch_matmul),
            rw(
                Hybrid,
                F32,
                ("int8 weights", weights_i8),
                hybrid::batch_matmul,
            ),
        ],
    },
    // Pooling and reductions.
    row(
        B::AVERAGE_POOL_2D,
        int_or_float!(Q, int::pool::avg_pool, pool::avg_pool),
    ),
    OpRow {
        code: B::MAX_POOL_2D,
        routes: &[
            r(Float, F32, pool::max_pool),
            rw(Generic, ANY, SAME_Q, pool::max_pool),
        ],
    },
    row(B::MEAN, REDUCE),
    row(B::SUM, REDUCE),
    // TFLite has no uint8 REDUCE_PROD.
    row(
        B::REDUCE_PROD,
        int_or_float!(I8_I16, int::pool::reduce, reduce::reduce),
    ),
    row(B::REDUCE_MAX, REDUCE_MINMAX),
    row(B::REDUCE_MIN, REDUCE_MINMAX),
    row(B::REDUCE_ANY, generic!(reduce::reduce)),
    row(B::REDUCE_ALL, generic!(reduce::reduce)),
    row(B::ARG_MAX, generic!(reduce::arg_max_min)),
    row(B::ARG_MIN, generic!(reduce::arg_max_min)),
    // Element-wise arithmetic.
    row(B::ADD, ARITH_INT),
    row(B::SUB, ARITH_INT),
    row(B::MUL, ARITH_INT),
    row(B::SQUARED_DIFFERENCE, ARITH_INT),
    row(B::MAXIMUM, ARITH_INT),
    row(B::MINIMUM, ARITH_INT),
    row(B::DIV, &[r(Int, Q, elem::div), ARITH_FLOAT]),
    row(B::POW, ARITH),
    row(B::FLOOR_DIV, ARITH),
    row(B::FLOOR_MOD, ARITH),
    row(B::NEG, UNARY_ARITH_INT),
    row(B::ABS, UNARY_ARITH_INT),
    // No quantized SQUARE in TFLite: the converter keeps it float.
    row(B::SQUARE, UNARY_ARITH),
    row(B::SIGN, UNARY_ARITH),
    // Element-wise functions.
    // ai-edge-litert 2.3.0 refuses uint8 ("Type UINT8 is unsupported").
    row(B::SQRT, int_or_float!(I8, elem::sqrt, ew::unary)),
    row(B::RSQRT, int_or_float!(I8, elem::rsqrt, ew::unary)),
    // No uint8 EXP/LOG kernel in TFLite.
    row(B::EXP, LUT_EXP_LOG),
    row(B::LOG, LUT_EXP_LOG),
    // TFLite has no integer SIN/COS: converted models dequantize around them.
    row(B::SIN, UNARY),
    row(B::COS, UNARY),
    row(B::FLOOR, UNARY),
    row(B::CEIL, UNARY),
    row(B::ROUND, UNARY),
    row(B::RELU, RELU_LIKE),
    row(B::RELU6, RELU_LIKE),
    row(B::RELU_N1_TO_1, RELU_LIKE),
    row(B::RELU_0_TO_1, RELU_LIKE),
    row(
        B::LEAKY_RELU,
        int_or_float!(Q, activ::leaky_relu, ew::unary),
    ),
    row(
        B::HARD_SWISH,
        int_or_float!(I8_U8, elem::hard_swish, ew::unary),
    ),
    row(B::LOGISTIC, LUT),
    row(B::TANH, LUT),
    row(B::GELU, int_or_float!(Q, elem::lut_op, ew::unary)),
    // EluPrepare accepts int8 only.
    row(B::ELU, int_or_float!(I8, elem::lut_op, ew::unary)),
    row(B::PRELU, int_or_float!(I8_U8, elem::prelu, ew::prelu)),
    row(B::SOFTMAX, int_or_float!(Q, activ::softmax, ew::softmax)),
    row(
        B::LOG_SOFTMAX,
        int_or_float!(I8_U8, elem::log_softmax, ew::log_softmax),
    ),
    row(
        B::L2_NORMALIZATION,
        int_or_float!(I8_U8, elem::l2_normalization, ew::l2_normalization),
    ),
    // Comparison and selection.
    row(B::EQUAL, COMPARE),
    row(B::NOT_EQUAL, COMPARE),
    row(B::LESS, COMPARE),
    row(B::LESS_EQUAL, COMPARE),
    row(B::GREATER, COMPARE),
    row(B::GREATER_EQUAL, COMPARE),
    row(B::LOGICAL_AND, LOGICAL),
    row(B::LOGICAL_OR, LOGICAL),
    row(B::LOGICAL_NOT, LOGICAL),
    row(B::SELECT, generic!(ew::select)),
    row(B::SELECT_V2, generic!(ew::select)),
    // Shapes and data movement.
    row(B::RESHAPE, RESHAPE),
    row(B::SQUEEZE, RESHAPE),
    row(B::EXPAND_DIMS, RESHAPE),
    row(B::TRANSPOSE, generic!(shape::transpose)),
    OpRow {
        code: B::CONCATENATION,
        routes: &[
            rw(
                Generic,
                Q,
                ("every input quantized like the output", concat_copy),
                shape::concatenation,
            ),
            rw(
                Int,
                Q,
                ("every input int8/uint8/int16", all_q),
                quant::concatenation,
            ),
            r(Float, F32, shape::concatenation),
            rw(
                Generic,
                ANY,
                ("same quantization in and out", all_same_quant),
                shape::concatenation,
            ),
        ],
    },
    row(B::PACK, generic!(shape::pack)),
    row(B::UNPACK, generic!(shape::unpack)),
    row(B::SPLIT, generic!(shape::split)),
    row(B::SPLIT_V, generic!(shape::split)),
    row(B::SLICE, generic!(shape::slice)),
    row(B::STRIDED_SLICE, generic!(shape::strided_slice)),
    row(B::GATHER, generic!(shape::gather)),
    row(B::PAD, generic!(shape::pad)),
    row(B::PADV2, generic!(shape::pad)),
    row(B::MIRROR_PAD, generic!(shape::mirror_pad)),
    row(B::TILE, generic!(shape::tile)),
    row(B::BROADCAST_TO, generic!(shape::broadcast_to)),
    row(B::DEPTH_TO_SPACE, generic!(shape::depth_to_space)),
    row(B::SPACE_TO_DEPTH, generic!(shape::space_to_depth)),
    row(B::REVERSE_V2, generic!(shape::reverse)),
    row(B::ZEROS_LIKE, generic!(shape::zeros_like)),
    row(B::RESIZE_NEAREST_NEIGHBOR, generic!(shape::resize_nearest)),
    row(
        B::RESIZE_BILINEAR,
        int_or_float!(Q, int::pool::resize_bilinear, shape::resize_bilinear),
    ),
    // Types and constants.
    row(B::CAST, generic!(cast::cast)),
    row(B::SHAPE, generic!(cast::shape)),
    row(B::FILL, generic!(cast::fill)),
    row(B::RANGE, generic!(cast::range)),
    row(B::DENSIFY, generic!(densify::densify)),
    OpRow {
        code: B::QUANTIZE,
        routes: &[
            rw(
                Int,
                Q,
                ("int8/uint8/int16 output", out_q),
                quant::requantize,
            ),
            r(Float, &[DType::F32, DType::F16], cast::quantize),
        ],
    },
    row(B::DEQUANTIZE, generic!(cast::dequantize)),
    row(B::EMBEDDING_LOOKUP, generic!(embedding::embedding_lookup)),
];

/// Custom ops the engine runs, by name.
pub static CUSTOM: &[CustomRow] = &[CustomRow {
    // MediaPipe's transposed convolution with bias.
    name: "Convolution2DTransposeBias",
    routes: float_only!(conv::conv2d_transpose_bias),
}];
