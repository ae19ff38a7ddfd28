//! `quantscope weights` end to end: JSON shape, CSV, text, and clear errors with exit code 1.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn qs(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

const Q: &str = "tests/fixtures/models/cnn_int8_int8io.tflite";
const F: &str = "tests/fixtures/models/cnn_f32.tflite";

#[test]
fn json_has_the_documented_fields() {
    let (code, out, err) = qs(&["weights", Q, "--float", F, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 12);
    for t in tensors {
        for key in [
            "index",
            "name",
            "dtype",
            "per_channel",
            "sqnr_db",
            "max_abs_err_lsb",
            "rmse_over_scale",
            "clip_rate",
            "levels_used",
            "histogram",
            "checks",
        ] {
            assert!(t.get(key).is_some(), "missing {key} in {t}");
        }
        assert!(
            t["histogram"]["edges"].as_array().unwrap().len()
                == t["histogram"]["counts"].as_array().unwrap().len() + 1
        );
        if t["per_channel"].as_bool().unwrap() {
            let ch = t["channels"].as_array().unwrap();
            assert!(!ch.is_empty());
            assert!(ch[0].get("sqnr_db").is_some() && ch[0].get("levels_used").is_some());
        }
    }
    let worst = &v["rollup"]["worst"][0];
    assert!(worst["sqnr_db"].as_f64().unwrap() < 50.0);
    assert!(
        v["rollup"]["bytes_by_dtype"]["int8"]["bytes"]
            .as_u64()
            .unwrap()
            == 19840
    );
}

#[test]
fn text_csv_and_simulation() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("w.csv");
    let (code, out, err) = qs(&[
        "weights",
        F,
        "--simulate",
        "int4",
        "--granularity",
        "per-tensor",
        "--asymmetric",
        "--clip",
        "percentile:99.9",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("int4 asymmetric per-tensor clip percentile:99.9"),
        "{out}"
    );
    assert!(out.contains("worst tensors by SQNR"), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let header = text.lines().next().unwrap().split(',').count();
    assert!(text.lines().count() > 6);
    // Names with ',' or '"' are quoted (the csv crate); every other row has the header's
    // column count.
    for line in text.lines().filter(|l| !l.contains('"')) {
        assert_eq!(line.split(',').count(), header, "{line}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let (code, _, err) = qs(&["weights", "tests/fixtures/README.md"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: tests/fixtures/README.md"), "{err}");
    let (code, _, err) = qs(&["weights", Q, "--simulate", "int8"]);
    assert_eq!(code, 1);
    assert!(err.contains("no float weights to quantize"), "{err}");
    let (code, _, err) = qs(&["weights", Q, "--float", Q]);
    assert_eq!(code, 1);
    assert!(err.contains("no float constants"), "{err}");
    let (code, _, err) = qs(&[
        "weights",
        F,
        "--simulate",
        "int8",
        "--clip",
        "percentile:101",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("percentile 101 must be in (0, 100]"), "{err}");
}
