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
            Int4Weights,
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
    ];
    check_kinds(&cases);
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
