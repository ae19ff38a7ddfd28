#![cfg(feature = "gui")]
//! Compare's preprocessing controls and "Match my tensor..." in the desktop app (egui_kittest):
//! the tensor an app made with Pillow NEAREST is matched off the UI thread, and the window
//! shows the library's ranked pipelines, the differing step and the three tensor images.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use quantscope::app::{DroppedPath, QuantscopeApp};
use quantscope::compare::pipeline_match::{match_pipeline, MatchPhoto};
use quantscope::compare::to_value;
use quantscope::model::Model;
use quantscope::preprocess::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn asset(p: &str) -> PathBuf {
    Path::new("assets").join(p)
}

fn drop_file(h: &mut Harness<'_, QuantscopeApp>, p: &Path) {
    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(p.to_path_buf())));
    h.step();
}

fn settle(h: &mut Harness<'_, QuantscopeApp>) {
    for _ in 0..3 {
        h.state_mut().wait_for_jobs();
        h.run_steps(4);
    }
}

#[test]
fn match_my_tensor_shows_ranked_pipelines_steps_and_images() {
    // The app's tensor: the detected defaults with Pillow NEAREST instead.
    let q = Model::open(asset("digits_int8.tflite")).unwrap();
    let f = Model::open(asset("digits_f32.tflite")).unwrap();
    let (current, _) = detect_defaults(&q, 0, Some(&f)).unwrap();
    let app = Preprocess {
        resize_lib: ResizeLib::Pillow,
        filter: Filter::Nearest,
        ..current.clone()
    };
    let photo = asset("samples/digit_2_0.png");
    let img = load_image_with(&photo, ImageLimits::default(), Exif::Apply).unwrap();
    let spec = InputSpec::from_model(&q, 0, Some(app.layout)).unwrap();
    let t = prepare(&img, &spec, &app).unwrap().tensor;
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("app_input.npy");
    quantscope::engine::npy::write(&npy, &to_value(&t)).unwrap();
    // What the library says, to find in the window.
    let lib = match_pipeline(
        &q,
        "x",
        &[MatchPhoto {
            name: "x".into(),
            raw: load_image_with(&photo, ImageLimits::default(), Exif::Ignore).unwrap(),
            oriented: img.clone(),
            tensor: quantscope::engine::npy::read(&npy)
                .unwrap()
                .to_f32_lossy()
                .unwrap(),
        }],
        &current,
        Default::default(),
    )
    .unwrap();
    let best = lib.per_photo[0].report.ranked[0].label.clone();
    assert!(best.starts_with("pillow nearest"), "{best}");

    let mut h = Harness::builder()
        .with_size([1400.0, 1800.0])
        .build_eframe(|cc| QuantscopeApp::new(cc));
    drop_file(&mut h, &asset("digits_f32.tflite"));
    drop_file(&mut h, &asset("digits_int8.tflite"));
    settle(&mut h);
    drop_file(&mut h, &photo);
    settle(&mut h);
    // The controls offer the library-exact steps.
    for l in ["pipeline", "resize library", "EXIF orientation", "filter"] {
        h.get_by_label(l);
    }
    h.state_mut().tabs[1].compare.matching.path = npy.display().to_string();
    h.run_steps(2);
    h.get_by_label("Match my tensor...").click();
    h.run_steps(2);
    settle(&mut h);
    let r = h.state().tabs[1].compare.matching.result.as_ref();
    assert!(matches!(r, Some(Ok(_))), "the match ran");
    h.get_by_label_contains("reproduced exactly (");
    h.get_by_label(&best);
    h.get_by_label("Each differing step alone");
    h.get_by_label("resize library and filter");
    let shown = ["your tensor", "current pipeline"]
        .iter()
        .filter(|l| h.query_by_label(l).is_some())
        .count();
    assert_eq!(shown, 2);
    assert!(h.query_by_label_contains("difference (max").is_some());
}
