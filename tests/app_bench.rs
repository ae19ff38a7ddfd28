#![cfg(feature = "gui")]
//! Frame-time benchmark through the kittest harness (not a timed test): a 10,000-tensor synthetic
//! model in the tensor table, one frame per scroll step. The harness always builds the AccessKit
//! tree (the real app does so only for a screen reader), so this reads higher than the app's own
//! frame time; `examples/frame_bench.rs` measures that one. Run in release mode:
//! `cargo test --release --test app_bench -- --ignored --nocapture`

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use quantscope::app::{DroppedPath, QuantscopeApp};
use quantscope::model::synthetic::FcChain;
use std::sync::Arc;
use std::time::Instant;

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn tensor_table_frame_time_10k_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fc_10k.tflite");
    // Each FULLY_CONNECTED layer adds a weight tensor and an activation: 5,000 layers plus the
    // input = 10,001 tensors.
    FcChain {
        layers: vec![(8, 8); 5000],
        external: false,
        fill: true,
    }
    .write(&path)
    .unwrap();
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .build_eframe(|cc| QuantscopeApp::new(cc));
    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(path.clone())));
    h.step();
    h.state_mut().wait_for_jobs();
    h.run_steps(3);
    let n = h.state().tabs[0].model.subgraphs[0].tensors.len();
    assert!(n >= 10_000, "{n} tensors");
    h.get_by_label("Tensors").click();
    h.run_steps(3);
    let centre = egui::pos2(400.0, 500.0);
    let mut times = Vec::new();
    for _ in 0..200 {
        h.hover_at(centre);
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -120.0),
            modifiers: Default::default(),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        let t = Instant::now();
        h.step();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let med = times[times.len() / 2];
    let p95 = times[times.len() * 95 / 100];
    println!(
        "tensor table, {n} tensors, scrolling: median {med:.2} ms, p95 {p95:.2} ms, max {:.2} ms per frame ({} frames, {})",
        times.last().unwrap(),
        times.len(),
        if cfg!(debug_assertions) { "debug build" } else { "release build" }
    );
}
