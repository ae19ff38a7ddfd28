//! Allocation limits: a file that declares enormous shapes is an error, not an abort.

use quantscope::engine::{Engine, EngineOptions};
use quantscope::model::Model;
use std::path::PathBuf;

fn patch_shape(bytes: &mut [u8], from: &[i32], to: &[i32]) -> usize {
    let enc = |v: &[i32]| -> Vec<u8> {
        let mut out = (v.len() as u32).to_le_bytes().to_vec();
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    };
    let (a, b) = (enc(from), enc(to));
    let mut n = 0;
    let mut i = 0;
    while i + a.len() <= bytes.len() {
        if bytes[i..i + a.len()] == a[..] {
            bytes[i..i + a.len()].copy_from_slice(&b);
            n += 1;
        }
        i += 1;
    }
    n
}

#[test]
fn huge_declared_shapes_are_refused_before_allocation() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/cnn_f32.tflite");
    let mut bytes = std::fs::read(path).unwrap();
    // The input and first activation shapes become about 2^31 x 2^31 elements.
    let n = patch_shape(&mut bytes, &[1, 32, 32, 3], &[1, i32::MAX, i32::MAX, 3]);
    assert!(n >= 1);
    let model = Model::from_bytes(bytes).expect("still a readable model: inspect must work");
    let _ = model.summary();
    let err = Engine::new(&model, EngineOptions::default())
        .err()
        .expect("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains("byte limit") || msg.contains("overflows"),
        "{msg}"
    );
}

#[test]
fn budget_is_configurable() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/cnn_f32.tflite");
    let model = Model::open(path).unwrap();
    assert!(quantscope::engine::limits::check_alloc(&[1, 32, 32, 3], 4, "x").is_ok());
    assert!(quantscope::engine::limits::check_alloc(&[usize::MAX, 2], 4, "x").is_err());
    assert!(Engine::new(&model, EngineOptions::default()).is_ok());
}

/// `--timeout` on every command that runs a model: an expired deadline stops the work with the
/// one clear message and exit code 1 (0 s is expired from the start, so this is deterministic),
/// while a generous one changes nothing.
#[test]
fn cli_timeout_stops_run_compare_and_bench() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let f32m = root.join("assets/digits_f32.tflite");
    let int8 = root.join("assets/digits_int8.tflite");
    let img = root.join("assets/samples/digit_2_0.png");
    let out = tempfile::tempdir().unwrap();
    let (f, q, i, o) = (
        f32m.to_str().unwrap(),
        int8.to_str().unwrap(),
        img.to_str().unwrap(),
        out.path().to_str().unwrap(),
    );
    let cmds: [Vec<&str>; 3] = [
        vec!["run", q, "--image", i, "--out", o],
        vec!["compare", f, q, "--image", i],
        vec!["bench", q, "--runs", "3"],
    ];
    for args in cmds {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
            .args(&args)
            .args(["--timeout", "0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("took longer than --timeout 0s"),
            "{args:?}: {err}"
        );
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
            .args(&args)
            .args(["--timeout", "600"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Sizes that come from tensor data (PAD's paddings here) are checked against the budget before
/// the output is allocated, like declared shapes.
#[test]
fn data_dependent_output_sizes_are_refused_before_allocation() {
    use quantscope::engine::Value;
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/op_pad_f32.tflite");
    let mut bytes = std::fs::read(&path).unwrap();
    let model = Model::from_bytes(bytes.clone()).unwrap();
    let pads = model.tensor_data(0, 1).unwrap().to_vec();
    assert_eq!(pads.len(), 32, "Pad/paddings is int32 [4, 2]");
    let big: Vec<u8> = [0i32, 0, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 0, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let at = bytes
        .windows(32)
        .position(|w| w == &pads[..])
        .expect("paddings in the file");
    bytes[at..at + 32].copy_from_slice(&big);
    let model = Model::from_bytes(bytes).unwrap();
    let mut engine = Engine::new(&model, EngineOptions::default()).unwrap();
    let x = Value::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 4, 4, 3])));
    let msg = engine.invoke(&[x]).err().expect("must refuse").to_string();
    assert!(
        msg.contains("padded output") && (msg.contains("byte limit") || msg.contains("overflows")),
        "{msg}"
    );
}
