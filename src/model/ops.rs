//! Operator codes: resolving a model's op code table to names, and reading fused activations.

use tract_tflite::tflite::{self, ActivationFunctionType, BuiltinOperator};

/// TFLite's rule for op codes: newer files put codes above 127 in `builtin_code`, older files only
/// have `deprecated_builtin_code` (an i8); the effective code is the larger of the two.
pub fn effective_builtin_code(code: &tflite::OperatorCode<'_>) -> i32 {
    (code.deprecated_builtin_code() as i32).max(code.builtin_code().0)
}

/// The schema's name of a builtin op (`CONV_2D`). Codes newer than the bundled schema are named
/// from TFLite's later schema where known, else `BUILTIN_<code>`.
pub fn builtin_name(code: i32) -> String {
    if let Some(name) = BuiltinOperator(code).variant_name() {
        return name.to_string();
    }
    // Codes added after the schema that tract-tflite 0.23 bundles (TFLite schema.fbs, 2.17-2.20).
    let later = match code {
        162 => "BITCAST",
        163 => "BITWISE_XOR",
        164 => "RIGHT_SHIFT",
        165 => "STABLEHLO_LOGISTIC",
        166 => "STABLEHLO_ADD",
        167 => "STABLEHLO_DIVIDE",
        168 => "STABLEHLO_MULTIPLY",
        169 => "STABLEHLO_MAXIMUM",
        170 => "STABLEHLO_RESHAPE",
        171 => "STABLEHLO_CLAMP",
        172 => "STABLEHLO_CONCATENATE",
        173 => "STABLEHLO_BROADCAST_IN_DIM",
        174 => "STABLEHLO_CONVOLUTION",
        175 => "STABLEHLO_SLICE",
        176 => "STABLEHLO_CUSTOM_CALL",
        177 => "STABLEHLO_REDUCE",
        178 => "STABLEHLO_ABS",
        179 => "STABLEHLO_AND",
        180 => "STABLEHLO_COSINE",
        181 => "STABLEHLO_EXPONENTIAL",
        182 => "STABLEHLO_FLOOR",
        183 => "STABLEHLO_LOG",
        184 => "STABLEHLO_MINIMUM",
        185 => "STABLEHLO_NEGATE",
        186 => "STABLEHLO_OR",
        187 => "STABLEHLO_POWER",
        188 => "STABLEHLO_REMAINDER",
        189 => "STABLEHLO_RSQRT",
        190 => "STABLEHLO_SELECT",
        191 => "STABLEHLO_SUBTRACT",
        192 => "STABLEHLO_TANH",
        193 => "STABLEHLO_SCATTER",
        194 => "STABLEHLO_COMPARE",
        195 => "STABLEHLO_CONVERT",
        196 => "STABLEHLO_DYNAMIC_SLICE",
        197 => "STABLEHLO_DYNAMIC_UPDATE_SLICE",
        198 => "STABLEHLO_PAD",
        199 => "STABLEHLO_IOTA",
        200 => "STABLEHLO_DOT_GENERAL",
        201 => "STABLEHLO_REDUCE_WINDOW",
        202 => "STABLEHLO_SORT",
        203 => "STABLEHLO_WHILE",
        204 => "STABLEHLO_GATHER",
        205 => "STABLEHLO_TRANSPOSE",
        206 => "DILATE",
        207 => "STABLEHLO_RNG_BIT_GENERATOR",
        208 => "REDUCE_WINDOW",
        209 => "STABLEHLO_COMPOSITE",
        210 => "STABLEHLO_SHIFT_LEFT",
        211 => "STABLEHLO_CBRT",
        212 => "STABLEHLO_CASE",
        _ => return format!("BUILTIN_{code}"),
    };
    later.to_string()
}

/// Name of a fused activation as TFLite's schema spells it; `None` for NONE.
pub fn activation_name(act: ActivationFunctionType) -> Option<&'static str> {
    match act {
        ActivationFunctionType::NONE => None,
        other => Some(other.variant_name().unwrap_or("UNKNOWN")),
    }
}

/// The fused activation of an operator whose options carry one.
///
/// Only the typed accessors are used: they read the options table only for union types the
/// verifier knows (and so checked); an unknown type's table is never followed.
pub fn fused_activation(op: &tflite::Operator<'_>) -> Option<ActivationFunctionType> {
    macro_rules! try_opts {
        ($($acc:ident),* $(,)?) => {
            $( if let Some(o) = op.$acc() { return Some(o.fused_activation_function()); } )*
        };
    }
    try_opts!(
        builtin_options_as_conv_2_doptions,
        builtin_options_as_depthwise_conv_2_doptions,
        builtin_options_as_pool_2_doptions,
        builtin_options_as_fully_connected_options,
        builtin_options_as_add_options,
        builtin_options_as_sub_options,
        builtin_options_as_mul_options,
        builtin_options_as_div_options,
        builtin_options_as_concatenation_options,
        builtin_options_as_l2_norm_options,
        builtin_options_as_svdfoptions,
        builtin_options_as_rnnoptions,
        builtin_options_as_sequence_rnnoptions,
        builtin_options_as_lstmoptions,
        builtin_options_as_unidirectional_sequence_lstmoptions,
        builtin_options_as_bidirectional_sequence_lstmoptions,
        builtin_options_as_bidirectional_sequence_rnnoptions,
        builtin_options_as_conv_3_doptions,
        builtin_options_as_transpose_conv_options,
    );
    None
}

/// Facts about an operator that both running it ([`crate::engine`]) and judging its numbers
/// ([`crate::quant`]) need, keyed by the same typed code as the engine's kernel registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpFacts {
    /// Input slots `(activation input, weights, bias)` of ops that multiply their input by
    /// weights and add a bias (TFLite's rule bias scale = input scale × weight scale applies).
    pub weight_slots: Option<(usize, usize, usize)>,
    /// A slot read as a weight matrix without that bias rule (BATCH_MATMUL's second operand,
    /// EMBEDDING_LOOKUP's table).
    pub plain_weights: Option<usize>,
    /// The channel axis TFLite's int8 scheme requires for per-channel weights.
    pub weight_axis: Option<usize>,
    /// Run by the engine itself (touches other subgraphs or resource state), not by a kernel.
    pub control_flow: bool,
}

/// The facts of builtin op `code` (all `None`/`false` for ops without weights or control flow).
pub fn facts(code: BuiltinOperator) -> OpFacts {
    use BuiltinOperator as B;
    let weights = |a, w, b, axis| OpFacts {
        weight_slots: Some((a, w, b)),
        weight_axis: Some(axis),
        ..OpFacts::default()
    };
    match code {
        B::CONV_2D | B::FULLY_CONNECTED => weights(0, 1, 2, 0),
        B::DEPTHWISE_CONV_2D => weights(0, 1, 2, 3),
        B::CONV_3D => weights(0, 1, 2, 4),
        B::TRANSPOSE_CONV => weights(2, 1, 3, 0),
        B::BATCH_MATMUL | B::EMBEDDING_LOOKUP => OpFacts {
            plain_weights: Some(1),
            ..OpFacts::default()
        },
        B::CALL_ONCE | B::VAR_HANDLE | B::READ_VARIABLE | B::ASSIGN_VARIABLE | B::WHILE | B::IF => {
            OpFacts {
                control_flow: true,
                ..OpFacts::default()
            }
        }
        _ => OpFacts::default(),
    }
}

/// The facts of a model operator: custom ops have none, whatever their name.
pub fn op_facts(op: &super::Operator) -> OpFacts {
    if op.is_custom {
        return OpFacts::default();
    }
    facts(BuiltinOperator(op.builtin_code))
}

/// The builtin code named `name` (`CONV_2D`), for callers that hold only a name.
pub fn builtin_code_of(name: &str) -> Option<BuiltinOperator> {
    BuiltinOperator::ENUM_VALUES
        .iter()
        .copied()
        .find(|c| c.variant_name() == Some(name))
}
