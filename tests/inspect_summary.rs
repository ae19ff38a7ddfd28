//! The model kind and `fully_quantized` flag, checked against how each fixture was converted
//! (the converter settings in tests/fixtures/make_fixtures.py and ../shared's scripts).

mod common;

use quantscope::model::{Model, ModelKind};

/// (kind, fully_quantized, summary) of a model; `../shared` paths must exist (see `common`).
fn kind_of(rel: &str) -> (ModelKind, bool, quantscope::model::Summary) {
    let path = if common::is_shared(rel) {
        common::shared_file(rel)
    } else {
        common::repo().join(rel)
    };
    let s = Model::open(&path)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .summary();
    (s.kind, s.fully_quantized, s)
}

fn check_kinds(cases: &[(&str, ModelKind, bool)]) {
    for &(rel, kind, fq) in cases {
        let (k, f, s) = kind_of(rel);
        assert_eq!((k, f), (kind, fq), "{rel}: evidence {:?}", s.evidence);
    }
    common::say(&format!("model kinds: {} models checked", cases.len()));
}

#[test]
fn kinds_follow_the_converter_settings() {
    use ModelKind::*;
    let cases = [
        ("tests/fixtures/models/cnn_f32.tflite", Float32, false),
        (
            "tests/fixtures/models/cnn_f16.tflite",
            Float16Weights,
            false,
        ),
        (
            "tests/fixtures/models/cnn_dynrange.tflite",
            DynamicRangeInt8,
            false,
        ),
        ("tests/fixtures/models/fc_nobias_f32.tflite", Float32, false),
        (
            "tests/fixtures/models/fc_nobias_int8.tflite",
            FullIntegerInt8,
            true,
        ),
        (
            "tests/fixtures/models/cnn_int8_int8io.tflite",
            FullIntegerInt8,
            true,
        ),
        (
            "tests/fixtures/models/cnn_int8_floatio.tflite",
            FullIntegerInt8,
            true,
        ),
        (
            "tests/fixtures/models/cnn_int8_uint8io.tflite",
            FullIntegerInt8,
            true,
        ),
        (
            "tests/fixtures/models/cnn_int8_pertensor.tflite",
            FullIntegerInt8,
            true,
        ),
        ("tests/fixtures/models/cnn_int16x8.tflite", Int16x8, true),
        (
            "tests/fixtures/models/int4_weights.tflite",
            DynamicRangeInt4,
            false,
        ),
        // SIN/COS have no int8 kernel: the converter leaves them in float between DEQUANTIZE/QUANTIZE.
        (
            "tests/fixtures/models/op_math_trig_int8.tflite",
            Mixed,
            false,
        ),
    ];
    check_kinds(&cases);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_kinds_follow_the_converter_settings() {
    use ModelKind::*;
    let cases = [
        (
            "../shared/models/generated/legacy_uint8.tflite",
            FullIntegerUint8,
            true,
        ),
        (
            "../shared/models/real/hey_jarvis.tflite",
            FullIntegerInt8,
            true,
        ),
        (
            "../shared/models/real/face_detection_short_range.tflite",
            Float16Weights,
            false,
        ),
        ("../shared/models/real/iris_landmark.tflite", Float32, false),
        // AI Edge Quantizer recipes (tests/fixtures/make_quantizer_fixtures.py).
        ("tests/fixtures/models/aeq_src_f32.tflite", Float32, false),
        (
            "tests/fixtures/models/aeq_fc_dynamic_wi8_afp32.tflite",
            DynamicRangeInt8,
            false,
        ),
        (
            "tests/fixtures/models/aeq_fc_dynamic_wi4_afp32.tflite",
            DynamicRangeInt4,
            false,
        ),
        (
            "tests/fixtures/models/aeq_fc_dynamic_wi2c_afp32.tflite",
            DynamicRangeInt2,
            false,
        ),
        (
            "tests/fixtures/models/aeq_fc_dynamic_wi4b32_afp32.tflite",
            BlockwiseWeights,
            false,
        ),
        (
            "tests/fixtures/models/aeq_fc_weight_only_wi8_afp32.tflite",
            WeightOnlyInt8,
            false,
        ),
        (
            "tests/fixtures/models/aeq_fc_weight_only_wi4_afp32.tflite",
            WeightOnlyInt4,
            false,
        ),
        (
            "tests/fixtures/models/aeq_op_conv_weight_only_wi8_afp32.tflite",
            WeightOnlyInt8,
            false,
        ),
        (
            "tests/fixtures/models/aeq_op_conv_dynamic_wi8_afp32.tflite",
            DynamicRangeInt8,
            false,
        ),
        // The quantizer leaves EMBEDDING_LOOKUP float (then QUANTIZE): mixed.
        (
            "tests/fixtures/models/aeq_fc_static_wi8_ai8.tflite",
            Mixed,
            false,
        ),
        (
            "tests/fixtures/models/aeq_op_conv_static_wi8_ai8.tflite",
            FullIntegerInt8,
            true,
        ),
        (
            "tests/fixtures/models/aeq_op_conv_static_wi8_ai16.tflite",
            Int16x8,
            true,
        ),
    ];
    check_kinds(&cases);
}

/// The blockwise model: kind in words, coverage, blockwise tensors counted as quantized, the
/// float16 scale tensors not taken for float16 weights.
#[test]
fn blockwise_summary_names_bits_block_size_and_compute() {
    let (_, _, s) = kind_of("tests/fixtures/models/aeq_fc_dynamic_wi4b32_afp32.tflite");
    assert_eq!(
        s.kind_detail,
        "int4 blockwise-32 weights, dynamic-range (hybrid kernels)"
    );
    // embedding table, fc1 and fc2 weights
    assert_eq!(s.blockwise_tensors, 3);
    assert_eq!(s.quantized_tensors, 3);
    assert_eq!(s.coverage, format!("3 of {} tensors quantized", s.tensors));
    assert!(s
        .evidence
        .iter()
        .any(|e| e.contains("3 int4 blockwise tensors, block size 32")));
    let (_, _, w) = kind_of("tests/fixtures/models/aeq_fc_weight_only_wi8_afp32.tflite");
    assert_eq!(w.kind_detail, "weight-only int8 (DEQUANTIZE to float)");
    let (_, _, d) = kind_of("tests/fixtures/models/aeq_fc_dynamic_wi8_afp32.tflite");
    assert_eq!(d.kind_detail, "dynamic-range int8 (hybrid kernels)");
    assert!(d
        .evidence
        .iter()
        .any(|e| e.contains("EMBEDDING_LOOKUP, FULLY_CONNECTED")));
    // Shares of the file add up to the constants' share.
    let share: f64 = s
        .constants_by_dtype
        .values()
        .filter_map(|c| c.share_of_file)
        .sum();
    let want = s.constant_bytes as f64 / s.file_bytes as f64;
    assert!((share - want).abs() < 1e-12, "{share} vs {want}");
}

#[test]
fn per_channel_and_dtype_counts() {
    let (_, _, pc) = kind_of("tests/fixtures/models/cnn_int8_int8io.tflite");
    let (_, _, pt) = kind_of("tests/fixtures/models/cnn_int8_pertensor.tflite");
    // 5 weight tensors (3 conv, 1 depthwise, 2 dense = 6) and their biases are per-channel.
    assert!(pc.per_channel_tensors >= 10, "{}", pc.per_channel_tensors);
    assert_eq!(pt.per_channel_tensors, 0);
    assert_eq!(pc.counts_by_dtype.get("float32"), None);
    assert_eq!(pc.counts_by_dtype.values().sum::<usize>(), pc.tensors);
    let consts: usize = pc.constants_by_dtype.values().map(|s| s.bytes).sum();
    assert_eq!(consts, pc.constant_bytes);
}
