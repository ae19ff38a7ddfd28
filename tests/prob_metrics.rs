//! compare's probability metrics (KL divergence, max probability delta, "already
//! probabilities") against numpy on the official interpreter's committed outputs
//! (tests/fixtures/make_prob_oracle.py), and independent of the order the two models are given in.

use quantscope::compare::{compare_output, Comparator, CompareOptions};
use quantscope::engine::npy;
use quantscope::model::Model;
use quantscope::preprocess::{
    load_image, ChannelOrder, Filter, ImageLimits, Layout, Preprocess, ResizeMode, ValueRange,
};
use serde_json::Value;
use std::path::PathBuf;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn kl_and_max_prob_delta_match_numpy_on_quantized_softmax_outputs() {
    let dir = repo("tests/fixtures/prob_oracle");
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut checked = 0;
    for c in want["cases"].as_array().unwrap() {
        let f = npy::read(&dir.join(c["float"].as_str().unwrap())).unwrap();
        let q = npy::read(&dir.join(c["quant"].as_str().unwrap())).unwrap();
        let (s, z) = (
            c["scale"].as_f64().unwrap(),
            c["zero_point"].as_i64().unwrap(),
        );
        let f = f.to_f32_lossy().unwrap();
        let q = q
            .to_f32_lossy()
            .unwrap()
            .mapv(|v| (s * (v as f64 - z as f64)) as f32);
        // Both argument orders of the metric's inputs give the same decision on probabilities.
        let o = compare_output(0, "probs", &f, &q, Some(s), None, 3, None);
        let cl = o.classification.unwrap();
        assert_eq!(cl.probabilities_from, "output");
        let (kl, d) = (
            c["kl_divergence"].as_f64().unwrap(),
            c["max_prob_delta"].as_f64().unwrap(),
        );
        assert!(
            (cl.kl_divergence - kl).abs() <= 1e-6 * kl.max(1e-3),
            "KL ours {} numpy {kl}",
            cl.kl_divergence
        );
        assert!(
            (cl.max_prob_delta - d).abs() <= 1e-6,
            "max delta ours {} numpy {d}",
            cl.max_prob_delta
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

/// A quantized softmax whose values do not sum to 1 is still probabilities, on both sides.
#[test]
fn quantized_probabilities_are_not_softmaxed_again() {
    let f = ndarray::ArrayD::from_shape_vec(vec![1, 4], vec![0.914f32, 0.05, 0.03, 0.006]).unwrap();
    // int8 softmax output, scale 1/256: sums to 0.965
    let q = ndarray::ArrayD::from_shape_vec(
        vec![1, 4],
        vec![234.0f32 / 256.0, 10.0 / 256.0, 3.0 / 256.0, 0.0],
    )
    .unwrap();
    let o = compare_output(0, "p", &q, &f, None, None, 2, None);
    assert_eq!(o.classification.unwrap().probabilities_from, "output");
    let o = compare_output(0, "p", &f, &q, Some(1.0 / 256.0), None, 2, None);
    let c = o.classification.unwrap();
    assert_eq!(c.probabilities_from, "output");
    assert!((c.float_top1_prob - 0.914).abs() < 1e-6);
    // renormalized: 0.914 vs 234/247 = 0.947
    assert!(
        (c.max_prob_delta - (234.0 / 247.0 - 0.914)).abs() < 1e-6,
        "{}",
        c.max_prob_delta
    );
}

#[test]
fn which_model_is_quantized_does_not_depend_on_argument_order() {
    let f = Model::open(repo("assets/digits_f32.tflite")).unwrap();
    let q = Model::open(repo("assets/digits_int8.tflite")).unwrap();
    let pp = Preprocess {
        resize: ResizeMode::Stretch,
        crop_fraction: 1.0,
        filter: Filter::Bilinear,
        pad_color: [0; 3],
        channels: ChannelOrder::Rgb,
        layout: Layout::Nhwc,
        range: ValueRange::Unit,
        resize_lib: quantscope::preprocess::ResizeLib::Quantscope,
        crop_rule: None,
        shorter_side: None,
        exif: quantscope::preprocess::Exif::Apply,
        pipeline: None,
    };
    let img = load_image(
        &repo("assets/samples/digit_0_0.png"),
        ImageLimits::default(),
    )
    .unwrap();
    let opts = || CompareOptions {
        try_alternatives: false,
        ..Default::default()
    };
    let a = Comparator::new(Some(&f), &q, opts())
        .unwrap()
        .compare(&img, "x", &pp, vec![])
        .unwrap();
    let b = Comparator::new(Some(&q), &f, opts())
        .unwrap()
        .compare(&img, "x", &pp, vec![])
        .unwrap();
    let (ca, cb) = (
        a.outputs[0].classification.as_ref().unwrap(),
        b.outputs[0].classification.as_ref().unwrap(),
    );
    assert_eq!(ca.kl_divergence, cb.kl_divergence);
    assert_eq!(ca.max_prob_delta, cb.max_prob_delta);
    assert_eq!(ca.float_top1_prob, cb.float_top1_prob);
    assert_eq!(ca.probabilities_from, cb.probabilities_from);
}
