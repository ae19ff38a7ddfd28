//! Frame-time benchmark of the tensor table and the Graph tab (a benchmark, not a timed test): a
//! 10,000-tensor, 5,000-op synthetic model; the table scrolled one frame per mouse-wheel step;
//! the graph laid out (off the UI thread, timed alone and as the app's job) then zoomed from
//! fit-to-window into 1:1 and panned by dragging. Frame times are the app's CPU work per frame —
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
    println!(
        "tensor table, {n} tensors, scrolling to rows {seen:?}: {}",
        summary(&mut times)
    );
    graph(&ctx, &mut app);
    std::fs::remove_dir_all(&dir).ok();
}

fn summary(times: &mut [f64]) -> String {
    times.sort_by(|a, b| a.total_cmp(b));
    format!(
        "median {:.2} ms, p95 {:.2} ms, max {:.2} ms per frame ({} frames, {} build)",
        times[times.len() / 2],
        times[times.len() * 95 / 100],
        times.last().unwrap(),
        times.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

fn wheel(at: egui::Pos2, dy: f32) -> Vec<egui::Event> {
    vec![
        egui::Event::PointerMoved(at),
        egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, dy),
            modifiers: Default::default(),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        },
    ]
}

/// The 5,000-op model's graph: layout time, then frames while zooming in and panning.
fn graph(ctx: &egui::Context, app: &mut QuantscopeApp) {
    use quantscope::graph::{build, layout, BuildOptions};
    let model = app.tabs[0].model.clone();
    let ops = model.subgraphs[0].operators.len();
    let t = Instant::now();
    let g = build(&model, 0, &BuildOptions::default()).unwrap();
    let l = layout::layout(&g, &layout::Metrics::default());
    let alone = t.elapsed().as_secs_f64();
    println!(
        "graph layout, {ops} ops, {} nodes, {} edges: {alone:.2} s build + dagre layout ({})",
        g.nodes.len(),
        g.edges.len(),
        l.ranker
    );
    app.tabs[0].view = View::Graph;
    let t = Instant::now();
    let mut ui_frames = Vec::new();
    for _ in 0..2000 {
        ui_frames.push(frame(ctx, app, vec![]));
        if app.tabs[0].graph.is_laid_out() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(app.tabs[0].graph.is_laid_out(), "the layout finished");
    println!(
        "graph tab: laid out {:.2} s after opening (off the UI thread; UI frames meanwhile: {})",
        t.elapsed().as_secs_f64(),
        summary(&mut ui_frames)
    );
    for _ in 0..3 {
        frame(ctx, app, vec![]);
    }
    let centre = egui::pos2(700.0, 500.0);
    let mut fit = Vec::new();
    for _ in 0..60 {
        fit.push(frame(ctx, app, vec![egui::Event::PointerMoved(centre)]));
    }
    println!(
        "graph tab, whole graph fitted (zoom {:.3}): {}",
        app.tabs[0].graph.zoom(),
        summary(&mut fit)
    );
    let mut zoom = Vec::new();
    for _ in 0..120 {
        zoom.push(frame(ctx, app, wheel(centre, 60.0)));
    }
    println!(
        "graph tab, wheel-zooming in to {:.2}: {}",
        app.tabs[0].graph.zoom(),
        summary(&mut zoom)
    );
    let mut pan = Vec::new();
    let mut at = centre;
    pan.push(frame(
        ctx,
        app,
        vec![egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: Default::default(),
        }],
    ));
    for _ in 0..200 {
        at.y -= 4.0;
        pan.push(frame(ctx, app, vec![egui::Event::PointerMoved(at)]));
        if at.y < 100.0 {
            at.y = 800.0;
            frame(
                ctx,
                app,
                vec![
                    egui::Event::PointerButton {
                        pos: egui::pos2(at.x, 96.0),
                        button: egui::PointerButton::Primary,
                        pressed: false,
                        modifiers: Default::default(),
                    },
                    egui::Event::PointerMoved(at),
                    egui::Event::PointerButton {
                        pos: at,
                        button: egui::PointerButton::Primary,
                        pressed: true,
                        modifiers: Default::default(),
                    },
                ],
            );
        }
    }
    println!(
        "graph tab, dragging at zoom {:.2}: {}",
        app.tabs[0].graph.zoom(),
        summary(&mut pan)
    );
    let mut out = Vec::new();
    for _ in 0..150 {
        out.push(frame(ctx, app, wheel(centre, -60.0)));
    }
    println!(
        "graph tab, wheel-zooming out to {:.3}: {}",
        app.tabs[0].graph.zoom(),
        summary(&mut out)
    );
}
