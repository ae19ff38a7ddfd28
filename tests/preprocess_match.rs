//! The mismatch detector against real libraries and the official interpreter
//! (tests/fixtures/make_match_oracle.py): tensors an "app" made with OpenCV (INTER_LINEAR, no
//! antialias) and with a Pillow centre-crop pipeline are matched to those pipelines, and what
//! each step of quantscope's differing pipeline costs on the output (top-1 flips, output SQNR)
//! equals what the official interpreter gives on the libraries' own tensors.

mod common;

use quantscope::compare::pipeline_match::{match_pipeline, tensor_images, MatchPhoto};
use quantscope::engine::EngineOptions;
use quantscope::model::Model;
use quantscope::preprocess::matcher::match_tensor;
use quantscope::preprocess::*;
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    common::repo().join("tests/fixtures/match_oracle")
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap()
}

fn photo_path(name: &str) -> PathBuf {
    common::repo()
        .join("tests/fixtures/preprocess_oracle/sources")
        .join(name)
}

fn tensor(file: &str) -> ndarray::ArrayD<f32> {
    quantscope::engine::npy::read(&dir().join(file))
        .unwrap()
        .to_f32_lossy()
        .unwrap()
}

fn case<'a>(m: &'a Value, model: &str, photo: &str, kind: &str) -> &'a Value {
    m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model && c["photo"] == photo && c["kind"] == kind)
        .unwrap_or_else(|| panic!("no case {model} {photo} {kind}"))
}

fn photos(m: &Value) -> Vec<String> {
    let mut p: Vec<String> = m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["photo"].as_str().unwrap().to_string())
        .collect();
    p.dedup();
    p.sort();
    p.dedup();
    p
}

/// The official interpreter's output 0, dequantized.
fn oracle_output(m: &Value, c: &Value) -> Vec<f64> {
    let q = &m["output_quantization"][c["model"].as_str().unwrap().trim_end_matches(".tflite")];
    let (scale, zp) = (q[0].as_f64().unwrap(), q[1].as_f64().unwrap());
    c["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let v = v.as_f64().unwrap();
            if scale == 0.0 {
                v
            } else {
                (v - zp) * scale
            }
        })
        .collect()
}

/// quantscope's current pipeline in the fixture: Pillow BILINEAR stretch, BGR, [-1, 1].
fn current() -> Preprocess {
    Preprocess {
        resize: ResizeMode::Stretch,
        crop_fraction: 1.0,
        filter: Filter::Bilinear,
        pad_color: [0; 3],
        channels: ChannelOrder::Bgr,
        layout: Layout::Nhwc,
        range: ValueRange::Signed,
        resize_lib: ResizeLib::Pillow,
        crop_rule: None,
        shorter_side: None,
        exif: Exif::Ignore,
        pipeline: None,
    }
}

fn load(name: &str) -> image::RgbImage {
    load_image_with(&photo_path(name), ImageLimits::default(), Exif::Ignore).unwrap()
}

/// A Pillow centre-crop tensor (crop round(0.875*min) at ((W-s)//2, (H-s)//2), BILINEAR) is
/// matched to exactly that pipeline, on every photo.
#[test]
fn pillow_crop_tensor_is_matched_to_its_pipeline() {
    let m = manifest();
    let model =
        Model::open(common::repo().join("tests/fixtures/models/cnn_int8_int8io.tflite")).unwrap();
    let spec = InputSpec::from_model(&model, 0, None).unwrap();
    let mut checked = 0;
    for p in photos(&m) {
        let c = case(&m, "cnn_int8_int8io.tflite", &p, "pillow-crop");
        let img = load(&p);
        let r = match_tensor(
            &img,
            &img,
            &spec,
            &current(),
            &tensor(c["file"].as_str().unwrap()),
        )
        .unwrap();
        let best = &r.ranked[0];
        common::say(&format!(
            "{p}: best {} ({} tried), max {} levels",
            best.label, r.tried, best.distance.max_pixel_levels
        ));
        assert!(r.reproduced, "{p}: {}", best.label);
        let b = &best.preprocess;
        assert_eq!(
            (b.resize_lib, b.filter, b.resize, b.crop_fraction),
            (
                ResizeLib::Pillow,
                Filter::Bilinear,
                ResizeMode::CenterCrop,
                0.875
            ),
            "{p}: {}",
            best.label
        );
        assert_eq!(b.crop_rule, Some(CropRule::Floor), "{p}: {}", best.label);
        assert_eq!(
            (b.channels, &b.range),
            (ChannelOrder::Rgb, &ValueRange::Unit)
        );
        // The crop step differs from the current stretch and is reported with its distance.
        assert!(r.steps.iter().any(|s| s.step == "crop"), "{:?}", r.steps);
        checked += 1;
    }
    assert_eq!(checked, 5);
}

/// OpenCV INTER_LINEAR tensors: matched to OpenCV, and each differing step's top-1 flips and
/// output SQNR equal the official interpreter's on the libraries' own tensors.
fn step_costs(model_file: &str, sqnr_tol: f64) {
    let m = manifest();
    let model = Model::open(
        common::repo()
            .join("tests/fixtures/models")
            .join(model_file),
    )
    .unwrap();
    let names = photos(&m);
    let input: Vec<MatchPhoto> = names
        .iter()
        .map(|p| {
            let img = load(p);
            MatchPhoto {
                name: p.clone(),
                raw: img.clone(),
                oriented: img,
                tensor: tensor(case(&m, model_file, p, "app")["file"].as_str().unwrap()),
            }
        })
        .collect();
    let r = match_pipeline(
        &model,
        model_file,
        &input,
        &current(),
        EngineOptions::default(),
    )
    .unwrap();
    assert_eq!(r.photos, 5);
    let matched = r.matched.clone().expect("one best match for every photo");
    common::say(&format!(
        "{model_file}: matched {matched}, {} of 5 reproduced",
        r.reproduced
    ));
    assert!(
        matched.starts_with("opencv bilinear, stretch, rgb, [0,1]"),
        "{matched}"
    );
    assert!(r.reproduced >= 4, "{} reproduced", r.reproduced);
    // The oracle: top-1 flips and pooled SQNR of each variant's output against the app's.
    let oracle = |kind: &str| {
        let (mut flips, mut sx, mut se) = (0, 0f64, 0f64);
        let mut top1 = Vec::new();
        for p in &names {
            let app = oracle_output(&m, case(&m, model_file, p, "app"));
            let c = case(&m, model_file, p, kind);
            let out = oracle_output(&m, c);
            let t = c["top1"].as_u64().unwrap() as usize;
            flips +=
                (t != case(&m, model_file, p, "app")["top1"].as_u64().unwrap() as usize) as usize;
            top1.push(t);
            for (a, b) in app.iter().zip(&out) {
                sx += a * a;
                se += (a - b) * (a - b);
            }
        }
        let sqnr = (se > 0.0).then(|| 10.0 * (sx / se).log10());
        (flips, sqnr, top1)
    };
    let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= sqnr_tol,
        (None, None) => true,
        _ => false,
    };
    let mut checked = 0;
    for (step, kind) in [
        ("resize library and filter", "step-resize"),
        ("channel order", "step-channels"),
        ("value range", "step-range"),
    ] {
        let s = r
            .steps
            .iter()
            .find(|s| s.step == step)
            .unwrap_or_else(|| panic!("no step {step}: {:?}", r.steps));
        let (flips, sqnr, top1) = oracle(kind);
        common::say(&format!(
            "  {step}: {} flips (oracle {flips}), output SQNR {:?} dB (oracle {sqnr:?})",
            s.cost.top1_flips, s.cost.output_sqnr_db
        ));
        assert_eq!(s.photos, 5, "{step}");
        assert_eq!(s.cost.top1_flips, flips, "{step}");
        assert!(
            near(s.cost.output_sqnr_db, sqnr),
            "{step}: {:?} vs {sqnr:?}",
            s.cost.output_sqnr_db
        );
        for (ph, t) in r.per_photo.iter().zip(&top1) {
            let k = ph.report.steps.iter().position(|d| d.step == step).unwrap();
            assert_eq!(ph.steps[k].top1, *t, "{step} {}", ph.image);
            checked += 1;
        }
    }
    assert_eq!(r.steps.len(), 3, "{:?}", r.steps);
    let (flips, sqnr, _) = oracle("current");
    common::say(&format!(
        "  current: {} flips (oracle {flips}), output SQNR {:?} dB (oracle {sqnr:?})",
        r.current_cost.top1_flips, r.current_cost.output_sqnr_db
    ));
    assert_eq!(r.current_cost.top1_flips, flips);
    assert!(near(r.current_cost.output_sqnr_db, sqnr));
    for (ph, p) in r.per_photo.iter().zip(&names) {
        let want = case(&m, model_file, p, "app")["top1"].as_u64().unwrap() as usize;
        assert_eq!(ph.user_top1, want, "{p}");
        checked += 1;
    }
    assert_eq!(checked, 3 * 5 + 5);
    // The GUI's images: the user's tensor, ours and the difference, all the model's size.
    let spec = InputSpec::from_model(&model, 0, None).unwrap();
    let ([u, o, d], max) = tensor_images(&input[0], &spec, &current()).unwrap();
    assert_eq!((u.width, u.height, o.width, d.height), (32, 32, 32, 32));
    assert!(max > 0.0 && u.pixels != o.pixels);
}

#[test]
fn step_costs_match_the_official_interpreter_int8() {
    // Integer model: bit-exact kernels, so the SQNR must agree to rounding.
    step_costs("cnn_int8_int8io.tflite", 1e-6);
}

#[test]
fn step_costs_match_the_official_interpreter_float() {
    // Float kernels agree with the interpreter's to float rounding, not bit for bit.
    step_costs("cnn_f32.tflite", 0.05);
}
