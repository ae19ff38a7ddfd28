//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and their regression test
//! (`tests/fuzz_regressions.rs`): each takes arbitrary bytes and must return, never panic,
//! hang or allocate without bound.

use crate::engine::{limits, Engine, EngineOptions, Value};
use crate::model::Model;
use crate::preprocess::{
    load_image_bytes, prepare, ChannelOrder, Exif, ImageLimits, InputSpec, Layout, Preprocess,
    ResizeLib, ResizeMode, ValueRange,
};
use crate::report::InspectReport;

/// The model reader and everything `inspect` computes.
pub fn model_bytes(data: &[u8]) {
    if let Ok(m) = Model::from_bytes(data.to_vec()) {
        let _ = serde_json::to_string(&InspectReport::new(&m, "fuzz"));
        let _ = m.tflite_metadata();
        // The appended archive and the label files the metadata names.
        let _ = m.packed_files();
        let _ = crate::labels::from_metadata(&m);
        for sg in 0..m.subgraphs.len() {
            for t in 0..m.subgraphs[sg].tensors.len() {
                let _ = m.tensor_data(sg, t);
            }
        }
        model_graph(&m);
        model_weights(&m);
    }
}

/// What `weights` computes, per-block analysis of blockwise tensors included: alone, against
/// the model itself as its float twin, and simulated per-channel int8 and int4 blockwise-32.
fn model_weights(m: &Model) {
    use crate::quant::analyze::{analyze, Options};
    use crate::quant::simulate::{Bits, Scheme};
    let blockwise = Scheme {
        bits: Bits::Int4,
        block_size: Some(32),
        ..Scheme::default()
    };
    let runs = [
        (None, None),
        (Some(m), None),
        (None, Some(Scheme::default())),
        (None, Some(blockwise)),
    ];
    for (float, simulate) in runs {
        let opts = Options {
            simulate,
            channel_histograms: true,
        };
        if let Ok(r) = analyze(m, float, &opts) {
            let _ = serde_json::to_string(&r);
            for t in &r.tensors {
                if let Some(b) = &t.blocks {
                    let _ = b.scale_summary(3);
                }
            }
        }
    }
}

/// The Graph view's library on a model that parses: every subgraph built plain and with
/// shape-only chains collapsed, each colouring, and small graphs laid out and drawn as SVG.
fn model_graph(m: &Model) {
    use crate::graph::{build, colour, export, layout, BuildOptions};
    for sg in 0..m.subgraphs.len().min(8) {
        for collapse_shape_ops in [false, true] {
            let Ok(g) = build(m, sg, &BuildOptions { collapse_shape_ops }) else {
                continue;
            };
            let values: Vec<_> = colour::ColourBy::ALL
                .iter()
                .map(|&by| colour::values(&g, m, by, &Default::default()))
                .collect();
            if g.nodes.len() <= 64 && g.edges.len() <= 256 {
                let l = layout::layout(&g, &layout::Metrics::default());
                let _ = l.node_at([0.0, 0.0]);
                let _ = l.edge_at([0.0, 0.0], 4.0);
                let _ = export::svg(&export::Picture {
                    graph: &g,
                    layout: &l,
                    values: &values[0],
                    colour_by: colour::ColourBy::OpType,
                    matching: None,
                    links: &[],
                    title: "fuzz".into(),
                });
            }
        }
    }
}

/// Engine preparation and one invocation on zero inputs of small models: a 2 MB budget per
/// tensor keeps one input from costing seconds of honest compute (which is not a hang).
pub fn engine_bytes(data: &[u8]) {
    limits::set_max_tensor_bytes(2 << 20);
    // 2^26 steps: well under a second even in the instrumented build.
    limits::set_max_op_work(1 << 26);
    let Ok(m) = Model::from_bytes(data.to_vec()) else {
        return;
    };
    let Ok(mut engine) = Engine::new(&m, EngineOptions::default()) else {
        return;
    };
    let inputs: Option<Vec<Value>> = crate::engine::input_meta(&m)
        .iter()
        .map(|t| {
            let shape: Vec<usize> = t.shape.iter().map(|&d| d.max(1) as usize).collect();
            Value::zeros(t.dtype, &shape).ok()
        })
        .collect();
    if let Some(inputs) = inputs {
        // The engine turns a kernel panic into an error; here it is still a finding.
        if let Err(e) = engine.invoke(&inputs) {
            let msg = e.to_string();
            assert!(!msg.contains("internal error in the"), "{msg}");
        }
    }
}

/// Decoding an image and preprocessing it into an int8 input.
pub fn image_bytes(data: &[u8]) {
    let limits = ImageLimits {
        max_side: 4096,
        max_alloc_bytes: 64 << 20,
    };
    let Ok(img) = load_image_bytes(data, limits) else {
        return;
    };
    let spec = InputSpec {
        name: "fuzz".into(),
        tensor_index: 0,
        dtype: crate::model::DType::I8,
        shape: vec![1, 16, 16, 3],
        height: 16,
        width: 16,
        channels: 3,
        layout: Layout::Nhwc,
        quant: Some((1.0 / 255.0, -128)),
    };
    // Every resampler (library-exact ones too) with every filter it offers, each resize mode;
    // large decodes only through quantscope's own path to keep executions fast.
    let small = (img.width() as u64) * (img.height() as u64) <= 256 * 256;
    for lib in ResizeLib::ALL {
        if !small && lib != ResizeLib::Quantscope {
            continue;
        }
        for &(filter, _) in lib.filters() {
            for resize in [
                ResizeMode::Stretch,
                ResizeMode::CenterCrop,
                ResizeMode::Letterbox,
            ] {
                let pp = Preprocess {
                    resize,
                    crop_fraction: 0.875,
                    filter,
                    pad_color: [0; 3],
                    channels: ChannelOrder::Bgr,
                    layout: Layout::Nhwc,
                    range: ValueRange::Unit,
                    resize_lib: lib,
                    crop_rule: None,
                    shorter_side: (resize == ResizeMode::CenterCrop).then_some(18),
                    exif: Exif::Apply,
                    pipeline: None,
                };
                let _ = prepare(&img, &spec, &pp);
            }
        }
    }
}
