//! Float vs int8 comparison: metrics against numpy over the official interpreter's runs
//! (tests/fixtures/make_compare_oracle.py), pairing on fixture pairs, the mismatch detector, the CLI.

mod common;

use quantscope::compare::{aggregate, pair_activations, Comparator, CompareOptions, PairedBy};
use quantscope::model::Model;
use quantscope::preprocess::{
    load_image, ChannelOrder, Exif, Filter, ImageLimits, Layout, Preprocess, ResizeLib, ResizeMode,
    ValueRange,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn pp(range: ValueRange, channels: ChannelOrder) -> Preprocess {
    Preprocess {
        resize: ResizeMode::Stretch,
        crop_fraction: 1.0,
        filter: Filter::Bilinear,
        pad_color: [0; 3],
        channels,
        layout: Layout::Nhwc,
        range,
        resize_lib: ResizeLib::Quantscope,
        crop_rule: None,
        shorter_side: None,
        exif: Exif::Apply,
        pipeline: None,
    }
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: ours {a} numpy {b}");
}

#[test]
fn metrics_match_numpy_over_the_official_interpreter() {
    let f = Model::open(repo("assets/digits_f32.tflite")).unwrap();
    let q = Model::open(repo("assets/digits_int8.tflite")).unwrap();
    let mut cmp = Comparator::new(
        Some(&f),
        &q,
        CompareOptions {
            try_alternatives: false,
            ..Default::default()
        },
    )
    .unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(repo("tests/fixtures/compare_oracle"))
        .unwrap()
        .flatten()
    {
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        let img = load_image(
            &repo(want["image"].as_str().unwrap()),
            ImageLimits::default(),
        )
        .unwrap();
        let r = cmp
            .compare(&img, "x", &pp(ValueRange::Unit, ChannelOrder::Rgb), vec![])
            .unwrap();
        let o = &r.outputs[0];
        let w = &want["output"];
        let m = &o.metrics;
        // End to end (our preprocessing and engine): the int8 side is bit-exact, the float side
        // within ~1e-6 relative of TFLite's kernels, which moves SQNR by up to ~0.01 dB.
        close(
            m.sqnr_db.unwrap(),
            w["sqnr_db"].as_f64().unwrap(),
            0.01,
            "sqnr_db",
        );
        close(
            m.cosine.unwrap(),
            w["cosine"].as_f64().unwrap(),
            1e-6,
            "cosine",
        );
        close(
            m.max_abs_err_lsb.unwrap(),
            w["max_abs_err_lsb"].as_f64().unwrap(),
            1e-3,
            "max_abs_err_lsb",
        );
        close(
            m.clip_rate,
            w["clip_rate"].as_f64().unwrap(),
            0.0,
            "clip_rate",
        );
        // The formulas alone, on the interpreter's own outputs: numpy's numbers to 1e-9.
        let vals = |k: &str| -> ndarray::ArrayD<f32> {
            let v: Vec<f32> = w[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[1, v.len()]), v).unwrap()
        };
        let (s, z) = (
            w["scale"].as_f64().unwrap(),
            w["zero_point"].as_i64().unwrap(),
        );
        let range = quantscope::quant::metrics::clip_thresholds(s, z, -128, 127);
        let exact = quantscope::compare::compare_output(
            0,
            "o",
            &vals("float_values"),
            &vals("quant_values"),
            Some(s),
            Some(range),
            5,
            None,
        );
        let (em, ec) = (exact.metrics, exact.classification.as_ref().unwrap());
        close(
            em.sqnr_db.unwrap(),
            w["sqnr_db"].as_f64().unwrap(),
            1e-4,
            "sqnr_db (formula)",
        );
        close(
            em.cosine.unwrap(),
            w["cosine"].as_f64().unwrap(),
            1e-9,
            "cosine (formula)",
        );
        close(em.mse, w["mse"].as_f64().unwrap(), 1e-12, "mse (formula)");
        close(
            em.max_abs_err_lsb.unwrap(),
            w["max_abs_err_lsb"].as_f64().unwrap(),
            1e-6,
            "max_abs_err_lsb (formula)",
        );
        close(
            em.rmse_over_scale.unwrap(),
            w["rmse_over_scale"].as_f64().unwrap(),
            1e-6,
            "rmse_over_scale (formula)",
        );
        close(
            ec.kl_divergence,
            w["kl_divergence"].as_f64().unwrap(),
            1e-6,
            "kl (formula)",
        );
        close(
            ec.max_prob_delta,
            w["max_prob_delta"].as_f64().unwrap(),
            1e-7,
            "max_prob_delta (formula)",
        );
        let c = o.classification.as_ref().unwrap();
        assert_eq!(
            c.top_k_float[0].index as u64,
            w["top1_float"].as_u64().unwrap()
        );
        assert_eq!(
            c.top_k_quant[0].index as u64,
            w["top1_quant"].as_u64().unwrap()
        );
        let top5: Vec<u64> = c.top_k_float.iter().map(|s| s.index as u64).collect();
        let want5: Vec<u64> = w["top5_float"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(top5[0], want5[0]);
        close(
            c.kl_divergence,
            w["kl_divergence"].as_f64().unwrap(),
            1e-4,
            "kl",
        );
        close(
            c.max_prob_delta,
            w["max_prob_delta"].as_f64().unwrap(),
            1e-5,
            "max_prob_delta",
        );
        // Per-layer cumulative SQNR for tensors paired by name.
        let layers = want["layers_cumulative_sqnr_db"].as_object().unwrap();
        let mut matched = 0;
        for l in &r.layers {
            if let Some(v) = layers.get(&l.name).and_then(|v| v.as_f64()) {
                // Float kernels agree with TFLite's to ~1e-6 relative (summation order), which
                // moves an intermediate SQNR by up to ~0.01 dB; the integer side is bit-exact.
                close(
                    l.cumulative.sqnr_db.unwrap(),
                    v,
                    0.01,
                    &format!("layer {}", l.name),
                );
                matched += 1;
            }
        }
        assert!(
            matched >= layers.len().saturating_sub(1) && matched >= 5,
            "matched {matched} of {}",
            layers.len()
        );
        n += 1;
    }
    assert!(n >= 8, "{n} oracle files");
}

#[test]
fn pairing_covers_every_op_of_the_fixture_pairs() {
    for (fm, qm) in [
        ("cnn_f32", "cnn_int8_floatio"),
        ("cnn_f32", "cnn_int8_int8io"),
        ("cnn_f16", "cnn_int8_uint8io"),
    ] {
        let f = Model::open(repo(&format!("tests/fixtures/models/{fm}.tflite"))).unwrap();
        let q = Model::open(repo(&format!("tests/fixtures/models/{qm}.tflite"))).unwrap();
        let pairs = pair_activations(&f, &q);
        let qs = &q.subgraphs[0];
        for op in qs
            .operators
            .iter()
            .filter(|o| !matches!(o.op.as_str(), "QUANTIZE" | "DEQUANTIZE"))
        {
            let out = op.outputs[0] as usize;
            let p = pairs
                .iter()
                .find(|p| p.quant == out)
                .unwrap_or_else(|| panic!("{qm} op {} {} unpaired", op.index, op.op));
            let ft = &f.subgraphs[0].tensors[p.float];
            assert_eq!(ft.shape, qs.tensors[out].shape, "{qm} op {}", op.index);
            // Paired with the float op of the same type (or the float model's output).
            let fop = f.subgraphs[0]
                .operators
                .iter()
                .find(|o| o.outputs.contains(&(p.float as i32)))
                .unwrap();
            assert!(
                fop.op == op.op || p.by == PairedBy::Io,
                "{qm} op {} {} paired with {}",
                op.index,
                op.op,
                fop.op
            );
        }
        // Same converter, same names; the float16 model renames its activations, so position does it.
        if fm == "cnn_f32" {
            assert!(
                pairs.iter().filter(|p| p.by == PairedBy::Name).count() >= 6,
                "{fm}/{qm}"
            );
        }
    }
}

#[test]
fn detector_flags_a_deliberately_wrong_range() {
    let f = Model::open(repo("assets/digits_f32.tflite")).unwrap();
    let q = Model::open(repo("assets/digits_int8.tflite")).unwrap();
    let mut cmp = Comparator::new(
        Some(&f),
        &q,
        CompareOptions {
            layers: false,
            ..Default::default()
        },
    )
    .unwrap();
    let img = load_image(
        &repo("assets/samples/digit_8_0.png"),
        ImageLimits::default(),
    )
    .unwrap();
    let good = cmp
        .compare(&img, "x", &pp(ValueRange::Unit, ChannelOrder::Rgb), vec![])
        .unwrap();
    assert!(good.warnings.is_empty(), "{:?}", good.warnings);
    let bad = cmp
        .compare(
            &img,
            "x",
            &pp(ValueRange::ImageNet, ChannelOrder::Rgb),
            vec![],
        )
        .unwrap();
    assert!(bad.preprocess.input_clipped_fraction > 0.5);
    assert!(
        bad.warnings
            .iter()
            .any(|w| w.contains("outside what the int8 input can represent")),
        "{:?}",
        bad.warnings
    );
    let suggestion = bad
        .warnings
        .iter()
        .find(|w| w.contains("agree, without clipping"))
        .expect("alternatives suggested");
    assert!(suggestion.contains("[0,1]"), "{suggestion}");
    assert!(!bad.alternatives.is_empty());
}

#[test]
fn single_model_mode_uses_the_float_twin() {
    let q = Model::open(repo("assets/digits_int8.tflite")).unwrap();
    let mut cmp = Comparator::new(None, &q, CompareOptions::default()).unwrap();
    let img = load_image(
        &repo("assets/samples/digit_7_0.png"),
        ImageLimits::default(),
    )
    .unwrap();
    let r = cmp
        .compare(&img, "x", &pp(ValueRange::Unit, ChannelOrder::Rgb), vec![])
        .unwrap();
    assert!(r.reference.contains("twin"));
    let m = r.outputs[0].metrics;
    // The twin is the same network in float: close, but not identical to the integer run.
    assert!(m.sqnr_db.unwrap() > 30.0 && m.max_abs_err > 0.0, "{m:?}");
    assert!(r.layers.iter().filter(|l| l.local.is_some()).count() >= 8);
}

#[test]
fn folder_aggregate_and_cli_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args([
            "compare",
            "assets/digits_f32.tflite",
            "assets/digits_int8.tflite",
            "--image",
            "assets/samples",
            "--json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 8);
    for k in ["preprocess", "outputs", "layers", "warnings"] {
        assert!(images[0].get(k).is_some(), "missing {k}");
    }
    let top = &images[0]["outputs"][0]["classification"]["top_k_float"][0];
    assert!(top["label"].is_string() && top["score"].is_number() && top["index"].is_number());
    assert_eq!(v["aggregate"]["images"], 8);
    assert!(v["aggregate"]["top1_agreement"].as_f64().unwrap() >= 0.75);
    // The JSON says per image whether the other preprocessing settings were tried; without
    // --alternatives-when-unsure they run only where the models disagree.
    let (mut tried, mut skipped) = (0, 0);
    for im in images {
        let why = im["alternatives_tried"]
            .as_str()
            .expect("alternatives_tried");
        let n = im["alternatives"].as_array().unwrap().len();
        let agree = im["outputs"][0]["classification"]["top1_agree"]
            .as_bool()
            .unwrap();
        if why.starts_with("yes") {
            assert!(n > 0, "{why}: {n} alternatives, top-1 agree {agree}");
            tried += 1;
        } else {
            assert!(
                n == 0 && why.starts_with("no: the models agree"),
                "{why}: {n}"
            );
            skipped += 1;
        }
    }
    assert_eq!(tried + skipped, 8);
    assert!(skipped >= 6, "{skipped} of 8 skipped");
    // A missing image is a clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args([
            "compare",
            "assets/digits_int8.tflite",
            "--image",
            "nope.png",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.png"));
    let _ = aggregate(&[]);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_mobilenet_pair_runs() {
    let (fp, qp) = (
        common::shared_file("../shared/models/generated/mobilenetv1_050_notop_f32.tflite"),
        common::shared_file("../shared/models/generated/mobilenetv1_050_notop_int8.tflite"),
    );
    let (f, q) = (Model::open(fp).unwrap(), Model::open(qp).unwrap());
    let mut cmp = Comparator::new(Some(&f), &q, CompareOptions::default()).unwrap();
    let img = load_image(
        &repo("assets/samples/digit_0_0.png"),
        ImageLimits::default(),
    )
    .unwrap();
    let r = cmp
        .compare(
            &img,
            "x",
            &pp(ValueRange::Signed, ChannelOrder::Rgb),
            vec![],
        )
        .unwrap();
    assert_eq!(r.outputs[0].shape, vec![1, 7, 7, 512]);
    assert!(r.outputs[0].metrics.cosine.unwrap() > 0.9);
    assert!(r.layers.len() >= 27, "{} layers", r.layers.len());
}
