//! Frame-time benchmark of the tensor table (a benchmark, not a timed test): a 10,000-tensor
//! synthetic model, one frame per mouse-wheel step, measured as the app's CPU work per frame —
//! the egui pass (`QuantscopeApp::show`) plus tessellation into meshes. GPU painting is not
//! included (the GPU does it in parallel), and neither is AccessKit, which the real app only
//! builds when a screen reader asks (the kittest harness always builds it, which is why
//! `tests/app_bench.rs` reads higher).
//!
//! `cargo run --release --example frame_bench`

use eframe::egui;
use quantscope::app::{QuantscopeApp, View};
use quantscope::model::synthetic::FcChain;
use std::time::Instant;

fn frame(ctx: &egui::Context, app: &mut QuantscopeApp, events: Vec<egui::Event>) -> f64 {
    let raw = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1400.0, 900.0),
        )),
        events,
        ..Default::default()
    };
    let t = Instant::now();
    let mut out = ctx.run_ui(raw, |ui| app.show(ui));
    // No GPU here: font-atlas updates are dropped on purpose.
    out.textures_delta.clear();
    let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
    std::hint::black_box(prims);
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let dir = std::env::temp_dir().join(format!("qs_frame_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fc_10k.tflite");
    // 5,000 FULLY_CONNECTED layers: a weight tensor and an activation each, plus the input.
    FcChain {
        layers: vec![(8, 8); 5000],
        external: false,
        fill: true,
    }
    .write(&path)
    .unwrap();

    let ctx = egui::Context::default();
    let mut app = QuantscopeApp::default();
    app.open_path(&path);
    for _ in 0..3 {
        frame(&ctx, &mut app, vec![]);
        app.wait_for_jobs();
    }
    let n = app.tabs[0].model.subgraphs[0].tensors.len();
    app.tabs[0].view = View::Tensors;
    for _ in 0..5 {
        frame(&ctx, &mut app, vec![]);
    }
    let centre = egui::pos2(400.0, 500.0);
    let mut times = Vec::new();
    for _ in 0..300 {
        let events = vec![
            egui::Event::PointerMoved(centre),
            egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, -120.0),
                modifiers: Default::default(),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
            },
        ];
        times.push(frame(&ctx, &mut app, events));
    }
    let seen = app.tabs[0].tensors.visible_rows.clone();
    assert!(
        seen.start > 1000,
        "the table scrolled (rows {seen:?} on screen)"
    );
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "tensor table, {n} tensors, scrolling to rows {seen:?}: median {:.2} ms, p95 {:.2} ms, max {:.2} ms per frame ({} frames, {} build)",
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times.last().unwrap(),
        times.len(),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    std::fs::remove_dir_all(&dir).ok();
}
