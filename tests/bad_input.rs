//! Bad files get a clear error naming the problem, never a panic: the library on every
//! truncation and byte flip of a small model, and the CLI's exit code and message.

use quantscope::model::{Model, ModelError};
use quantscope::report::InspectReport;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/models")
            .join(name),
    )
    .unwrap()
}

/// Opening and summarising must either work or return an error; a panic fails the test.
fn open_and_report(bytes: Vec<u8>) -> Result<(), ModelError> {
    let model = Model::from_bytes(bytes)?;
    let report = InspectReport::new(&model, "mem");
    serde_json::to_string(&report).unwrap();
    Ok(())
}

#[test]
fn every_truncation_of_a_small_model_is_an_error() {
    let full = fixture("fc_nobias_int8.tflite");
    assert!(open_and_report(full.clone()).is_ok());
    for len in 0..full.len() {
        let r = open_and_report(full[..len].to_vec());
        assert!(
            r.is_err(),
            "truncated to {len} of {} bytes but opened",
            full.len()
        );
    }
}

#[test]
fn truncations_of_a_larger_model_never_panic() {
    let full = fixture("cnn_int8_int8io.tflite");
    for len in (0..full.len()).step_by(7) {
        assert!(
            open_and_report(full[..len].to_vec()).is_err(),
            "truncated to {len} opened"
        );
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let full = fixture("cnn_int8_int8io.tflite");
    let (mut ok, mut err) = (0, 0);
    for pos in 0..full.len() {
        for mask in [0xFFu8, 0x01, 0x80] {
            let mut b = full.clone();
            b[pos] ^= mask;
            match open_and_report(b) {
                Ok(()) => ok += 1,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    err += 1
                }
            }
        }
    }
    // Flips inside weight bytes leave a valid model; flips in offsets must be caught.
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

#[test]
fn empty_and_foreign_files_are_named() {
    assert!(matches!(Model::from_bytes(vec![]), Err(ModelError::Empty)));
    assert!(matches!(
        Model::from_bytes(vec![1, 2, 3]),
        Err(ModelError::TooShort(3))
    ));
    let png = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples/digit_0_0.png"),
    )
    .unwrap();
    let e = Model::from_bytes(png).err().expect("a PNG is not a model");
    assert!(e.to_string().contains("PNG"), "{e}");
    let e = Model::from_bytes(vec![0u8; 64])
        .err()
        .expect("zeros are not a model");
    assert!(e.to_string().contains("TFL3"), "{e}");
}

#[test]
fn external_buffer_past_end_of_file_is_named() {
    let full = fixture("bufoffset_f32.tflite");
    let model = Model::from_bytes(full.clone()).unwrap();
    let (last, ext) = model
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.external)
        .max_by_key(|(_, b)| b.offset + b.len)
        .expect("bufoffset model has external buffers");
    let cut = ext.offset + ext.len - 1;
    match Model::from_bytes(full[..cut].to_vec()) {
        Err(ModelError::BufferOutOfFile { index, .. }) => assert_eq!(index, last),
        other => panic!("expected BufferOutOfFile, got {:?}", other.err()),
    }
}

#[test]
fn external_buffers_resolve_to_the_same_bytes_as_inline_ones() {
    // The same network converted with and without `_experimental_use_buffer_offset` (different
    // weights, same structure): the external model's buffers must lie after the flatbuffer and
    // give each constant exactly shape x dtype bytes.
    let model = Model::from_bytes(fixture("bufoffset_f32.tflite")).unwrap();
    let sg = &model.subgraphs[0];
    let mut external = 0;
    for t in sg.tensors.iter().filter(|t| t.is_constant) {
        let n: usize = t.shape.iter().map(|&d| d as usize).product();
        assert_eq!(
            t.buffer_bytes,
            t.dtype.storage_bytes(n).unwrap(),
            "tensor {}",
            t.name
        );
        let data = model.tensor_data(0, t.index).unwrap();
        assert_eq!(data.len(), t.buffer_bytes);
        external += model.buffers[t.buffer as usize].external as usize;
    }
    assert!(external >= 2, "expected external buffers, found {external}");
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_reports_bad_files_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.tflite");
    std::fs::write(&empty, b"").unwrap();
    let png = dir.path().join("image.tflite");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples/digit_0_0.png"),
        &png,
    )
    .unwrap();
    let cut = dir.path().join("cut.tflite");
    std::fs::write(&cut, &fixture("cnn_f32.tflite")[..5000]).unwrap();
    for (path, needle) in [
        (empty.to_str().unwrap(), "empty"),
        (png.to_str().unwrap(), "PNG"),
        (cut.to_str().unwrap(), "truncated"),
        ("/nonexistent/model.tflite", "cannot open"),
        (dir.path().to_str().unwrap(), "is a folder"),
    ] {
        let out = cli(&["inspect", path, "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
        assert!(err.contains(needle), "{path}: {err}");
        assert!(!err.contains("panicked"), "{path}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn cli_json_has_the_documented_fields() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models/cnn_int8_uint8io.tflite");
    let out = cli(&["inspect", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "path",
        "file_bytes",
        "version",
        "description",
        "summary",
        "subgraphs",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["file_bytes"], std::fs::metadata(&path).unwrap().len());
    assert_eq!(v["summary"]["kind"], "full-integer int8");
    assert_eq!(v["summary"]["fully_quantized"], true);
    let t = &v["subgraphs"][0]["tensors"][0];
    for k in [
        "index",
        "name",
        "dtype",
        "shape",
        "buffer_bytes",
        "is_constant",
        "quantization",
    ] {
        assert!(t.get(k).is_some(), "tensor missing {k}");
    }
    let op = &v["subgraphs"][0]["operators"][0];
    for k in ["index", "op", "inputs", "outputs"] {
        assert!(op.get(k).is_some(), "operator missing {k}");
    }
    // The text table names the kind too.
    let out = cli(&["inspect", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: full-integer int8"));
}

/// The messages say what the user can act on, not the flatbuffer verifier's internals.
#[test]
fn text_truncated_and_folder_errors_are_actionable() {
    let text = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n".to_vec();
    let e = Model::from_bytes(text).err().expect("text is not a model");
    let msg = e.to_string();
    assert!(msg.contains("no 'TFL3' file identifier"), "{msg}");
    assert!(!msg.contains("unaligned") && !msg.contains('\n'), "{msg}");

    let full = fixture("cnn_int8_int8io.tflite");
    let mut truncated = 0;
    for len in [full.len() / 2, full.len() * 3 / 4, full.len() - 100] {
        let msg = Model::from_bytes(full[..len].to_vec())
            .err()
            .expect("a truncated model does not open")
            .to_string();
        assert!(!msg.contains('\n'), "{msg}");
        if msg.contains("truncated") && msg.contains(&format!("ends at byte {len}")) {
            truncated += 1;
        }
    }
    assert!(truncated >= 2, "{truncated} of 3 truncations named as such");

    let dir = std::env::temp_dir();
    let msg = Model::open(&dir)
        .err()
        .expect("a folder is not a model")
        .to_string();
    assert!(msg.contains("is a folder"), "{msg}");
    eprintln!("bad input: text, {truncated} of 3 truncations and a folder named");
}
