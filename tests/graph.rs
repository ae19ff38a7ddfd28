//! The graph view's library: structure against the model, layout, float/quant matching, and the
//! integer-readiness table against TensorFlow's converter (committed results of
//! tests/fixtures/make_readiness_oracle.py) and against the converter's choices in every int8
//! op fixture.

use quantscope::graph::colour::{self, ColourBy, ColourData, NodeValue};
use quantscope::graph::export;
use quantscope::graph::layout::{layout, Metrics};
use quantscope::graph::matching::{match_graphs, NodeMatch};
use quantscope::graph::readiness::{self, Verdict};
use quantscope::graph::{build, BuildOptions, NodeKind};
use quantscope::model::{DType, Model};
use std::path::{Path, PathBuf};

mod common;
use common::say;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn open(rel: &str) -> Model {
    Model::open(root().join(rel)).unwrap()
}

#[test]
fn every_op_once_and_every_activation_edge() {
    let mut checked = 0;
    for rel in [
        "assets/digits_int8.tflite",
        "assets/digits_f32.tflite",
        "tests/fixtures/models/cnn_int8_floatio.tflite",
        "tests/fixtures/models/op_math_trig_int8.tflite",
    ] {
        let m = open(rel);
        let sg = &m.subgraphs[0];
        let g = build(&m, 0, &BuildOptions::default()).unwrap();
        let op_nodes: Vec<usize> = g.nodes.iter().flat_map(|n| n.ops().to_vec()).collect();
        let mut sorted = op_nodes.clone();
        sorted.sort();
        assert_eq!(sorted, (0..sg.operators.len()).collect::<Vec<_>>(), "{rel}");
        assert_eq!(
            g.nodes.len(),
            sg.operators.len() + sg.inputs.len() + sg.outputs.len()
        );
        // Independent count: each (op, activation input) use, plus one edge per model output.
        let uses: usize = sg
            .operators
            .iter()
            .map(|op| {
                let mut ins: Vec<i32> = op
                    .inputs
                    .iter()
                    .copied()
                    .filter(|&t| t >= 0 && !sg.tensors[t as usize].is_constant)
                    .collect();
                ins.sort();
                ins.dedup();
                ins.len()
            })
            .sum();
        assert_eq!(g.edges.len(), uses + sg.outputs.len(), "{rel}");
        for e in &g.edges {
            assert!(e.from < g.nodes.len() && e.to < g.nodes.len());
            assert!(e.label.contains(&sg.tensors[e.tensor].dtype.name()));
        }
        // Weights listed inside their ops: every constant input of every op.
        let consts: usize = sg
            .operators
            .iter()
            .map(|op| {
                op.inputs
                    .iter()
                    .filter(|&&t| t >= 0 && sg.tensors[t as usize].is_constant)
                    .count()
            })
            .sum();
        assert_eq!(
            g.nodes.iter().map(|n| n.weights.len()).sum::<usize>(),
            consts
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn shape_only_chains_collapse() {
    // selfie_segmentation-like chains are not in the fixtures; int4_weights has CONV -> RESHAPE
    // -> STRIDED_SLICE, cnn has a single RESHAPE: a lone shape op stays a node of its own.
    let m = open("tests/fixtures/models/cnn_f32.tflite");
    let full = build(&m, 0, &BuildOptions::default()).unwrap();
    let folded = build(
        &m,
        0,
        &BuildOptions {
            collapse_shape_ops: true,
        },
    )
    .unwrap();
    assert_eq!(full.nodes.len(), folded.nodes.len());
    let synth = root().join("tests/fixtures/models/op_reshape_chain_f32.tflite");
    if synth.exists() {
        let m = Model::open(&synth).unwrap();
        let a = build(&m, 0, &BuildOptions::default()).unwrap();
        let b = build(
            &m,
            0,
            &BuildOptions {
                collapse_shape_ops: true,
            },
        )
        .unwrap();
        assert!(b.nodes.len() < a.nodes.len());
    }
}

#[test]
fn layout_places_every_node_without_overlap() {
    check_layouts(&[root().join("tests/fixtures/models/cnn_int8_floatio.tflite")]);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_graph_layouts() {
    check_layouts(&[
        common::shared_file("../shared/models/generated/mobilenetv1_050_notop_int8.tflite"),
        common::shared_file("../shared/models/real/face_detection_short_range.tflite"),
        common::shared_file("../shared/models/real/basic_pitch_nmp.tflite"),
    ]);
}

/// Every model in ../shared/models, every subgraph: built, laid out, coloured each way (weight
/// SQNR from the weights analysis without a float reference, so mostly no value) and exported as SVG with one box per node and one path per
/// edge.
#[test]
#[ignore = "needs ../shared"]
fn shared_every_model_draws_with_every_colouring() {
    let dir = common::require_shared().join("models");
    let mut files: Vec<PathBuf> = ["real", "generated"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tflite"))
        .collect();
    files.sort();
    let (mut subgraphs, mut colourings, mut numbers) = (0, 0, 0);
    for path in &files {
        let m = Model::open(path).unwrap();
        let weights = quantscope::quant::analyze(&m, None, &Default::default()).ok();
        for sg in 0..m.subgraphs.len() {
            let g = build(&m, sg, &BuildOptions::default()).unwrap();
            let l = layout(&g, &Metrics::default());
            assert_eq!(l.nodes.len(), g.nodes.len(), "{}", path.display());
            let data = ColourData::from_results(weights.as_ref(), None, sg);
            for by in ColourBy::ALL {
                let v = colour::values(&g, &m, by, &data);
                assert_eq!(v.len(), g.nodes.len());
                numbers += v
                    .iter()
                    .filter(|x| matches!(x, NodeValue::Number { .. }))
                    .count();
                let svg = export::svg(&export::Picture {
                    graph: &g,
                    layout: &l,
                    values: &v,
                    colour_by: by,
                    matching: None,
                    links: &[],
                    title: path.display().to_string(),
                });
                let doc = roxmltree::Document::parse(&svg).unwrap();
                let count = |c: &str| {
                    doc.descendants()
                        .filter(|n| n.attribute("class") == Some(c))
                        .count()
                };
                assert_eq!(count("node"), g.nodes.len(), "{}", path.display());
                assert_eq!(count("edge"), g.edges.len(), "{}", path.display());
                colourings += 1;
            }
            subgraphs += 1;
        }
    }
    say(&format!(
        "graph: {} shared models, {subgraphs} subgraphs, {colourings} colourings drawn ({numbers} weight-SQNR node values)",
        files.len()
    ));
    assert!(files.len() >= 20, "{} models", files.len());
    assert_eq!(colourings, subgraphs * ColourBy::ALL.len());
}

fn check_layouts(models: &[PathBuf]) {
    for path in models {
        let m = Model::open(path).unwrap();
        let g = build(&m, 0, &BuildOptions::default()).unwrap();
        let t = std::time::Instant::now();
        let l = layout(&g, &Metrics::default());
        say(&format!(
            "graph layout: {} nodes in {:.1} ms ({})",
            g.nodes.len(),
            t.elapsed().as_secs_f64() * 1e3,
            l.ranker
        ));
        assert_eq!(l.nodes.len(), g.nodes.len());
        assert_eq!(l.edges.len(), g.edges.len());
        for (i, a) in l.nodes.iter().enumerate() {
            assert!(a.w > 0.0 && a.h > 0.0 && a.x.is_finite() && a.y.is_finite());
            for b in &l.nodes[i + 1..] {
                let overlap = (a.x - b.x).abs() < (a.w + b.w) / 2.0 - 0.5
                    && (a.y - b.y).abs() < (a.h + b.h) / 2.0 - 0.5;
                assert!(!overlap, "{}: boxes overlap", path.display());
            }
        }
        // Top to bottom: every edge goes down the page.
        for e in &g.edges {
            assert!(l.nodes[e.from].y < l.nodes[e.to].y, "{}", path.display());
        }
        for pts in &l.edges {
            assert!(pts.len() >= 2);
        }
    }
}

#[test]
fn big_graph_lays_out_by_longest_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.tflite");
    quantscope::model::synthetic::FcChain {
        layers: vec![(4, 4); 2000],
        external: false,
        fill: true,
    }
    .write(&path)
    .unwrap();
    let m = Model::open(&path).unwrap();
    let g = build(&m, 0, &BuildOptions::default()).unwrap();
    assert_eq!(g.nodes.len(), 2002);
    let t = std::time::Instant::now();
    let l = layout(&g, &Metrics::default());
    say(&format!(
        "graph layout: {} nodes in {:.2} s ({})",
        g.nodes.len(),
        t.elapsed().as_secs_f64(),
        l.ranker
    ));
    assert_eq!(l.ranker, "longest-path");
    assert_eq!(l.nodes.len(), 2002);
}

#[test]
fn float_and_int8_graphs_link_matched_ops() {
    let f = open("tests/fixtures/models/cnn_f32.tflite");
    let q = open("tests/fixtures/models/cnn_int8_floatio.tflite");
    let (fg, qg) = (
        build(&f, 0, &BuildOptions::default()).unwrap(),
        build(&q, 0, &BuildOptions::default()).unwrap(),
    );
    let pairs: Vec<(usize, usize)> = quantscope::compare::pair_activations(&f, &q)
        .iter()
        .map(|p| (p.float, p.quant))
        .collect();
    let m = match_graphs((&fg, &f), (&qg, &q), &pairs);
    let qsg = &q.subgraphs[0];
    let boundary = qsg
        .operators
        .iter()
        .filter(|o| o.op == "QUANTIZE" || o.op == "DEQUANTIZE")
        .count();
    assert_eq!(boundary, 2);
    // Every float op has its twin; the two boundary ops are marked as inserted.
    for (i, n) in fg.nodes.iter().enumerate() {
        if matches!(n.kind, NodeKind::Op { .. }) {
            assert!(
                matches!(m.float[i], NodeMatch::Linked { .. }),
                "float node {i}"
            );
        }
    }
    let inserted = m
        .quant
        .iter()
        .filter(|x| **x == NodeMatch::Inserted)
        .count();
    assert_eq!(inserted, boundary);
    // Links point both ways and join ops of the same type.
    let fsg = &f.subgraphs[0];
    let mut linked_ops = 0;
    for (i, x) in m.quant.iter().enumerate() {
        if let NodeMatch::Linked { other } = *x {
            assert_eq!(m.float[other], NodeMatch::Linked { other: i });
            if let (Some(a), Some(b)) = (qg.nodes[i].first_op(), fg.nodes[other].first_op()) {
                assert_eq!(qsg.operators[a].op, fsg.operators[b].op);
                linked_ops += 1;
            }
        }
    }
    assert_eq!(linked_ops, fsg.operators.len());
}

fn converter_json() -> serde_json::Value {
    let p = root().join("tests/fixtures/readiness/converter.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The verdict the converter's recorded outcome stands for; None when the script's model did
/// not keep the op.
fn recorded(name: &str, outcome: &str, integer: &str) -> Option<Verdict> {
    // A failure the converter blames on another op of the tiny model says nothing of this one.
    if outcome.contains("for op: '") && !outcome.contains(&format!("for op: '{name}'")) {
        return None;
    }
    Some(if outcome == integer {
        Verdict::Integer
    } else if outcome.starts_with("fails") {
        Verdict::ConvertFails
    } else if outcome.starts_with("prepare_fails") {
        Verdict::PrepareFails
    } else if outcome.starts_with("absent") {
        return None;
    } else {
        Verdict::Stays
    })
}

#[test]
fn readiness_table_equals_the_converter() {
    let json = converter_json();
    let ops = json["ops"].as_object().unwrap();
    let mut compared = 0;
    for (name, row) in ops {
        let kept = [("int8", "int8"), ("int16x8", "int16x8")]
            .iter()
            .any(|(k, i)| recorded(name, row[*k].as_str().unwrap(), i).is_some());
        if !kept {
            continue; // the script's model did not keep this op: nothing to compare
        }
        let table = readiness::of_name(name).unwrap_or_else(|| panic!("{name} not in the table"));
        for (key, integer, got) in [
            ("int8", "int8", table.int8),
            ("int16x8", "int16x8", table.int16x8),
        ] {
            let outcome = row[key].as_str().unwrap();
            let mut want = recorded(name, outcome, integer);
            // Integer under TFLITE_BUILTINS_INT8 but float with the default op set.
            if key == "int8" && want == Some(Verdict::Integer) && row["mixed"] == "float32" {
                want = Some(Verdict::StrictOnly);
            }
            if let Some(want) = want {
                assert_eq!(got, want, "{name} {key}: converter said {outcome}");
                assert_eq!(table.evidence, readiness::Evidence::Converter, "{name}");
                compared += 1;
            }
        }
    }
    say(&format!(
        "readiness: {compared} verdicts equal {} ({} ops recorded)",
        json["tensorflow"],
        ops.len()
    ));
    assert!(compared >= 120, "only {compared} verdicts compared");
}

#[test]
fn readiness_agrees_with_every_int8_fixture() {
    // In each full-integer fixture (converted with the default op set), the converter left an
    // op float (its first value input is float32) exactly when the table says it stays float
    // there.
    let dir = root().join("tests/fixtures/models");
    let mut ops_checked = 0;
    let mut bool_results = 0;
    let mut models = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("op_") && name.ends_with("_int8.tflite")) {
            continue;
        }
        let m = Model::open(&path).unwrap();
        let sg = &m.subgraphs[0];
        models += 1;
        for op in &sg.operators {
            if matches!(op.op.as_str(), "QUANTIZE" | "DEQUANTIZE") {
                continue;
            }
            let Some(r) = readiness::of_name(&op.op) else {
                continue;
            };
            let values: Vec<DType> = op
                .inputs
                .iter()
                .filter(|&&t| t >= 0)
                .map(|&t| sg.tensors[t as usize].dtype)
                .filter(|d| !matches!(d, DType::I32 | DType::I64 | DType::Bool))
                .collect();
            let Some(first) = values.first() else {
                continue;
            };
            // A comparison whose bool result is only a model output has nothing quantized
            // downstream: the converter keeps it float (the table's verdict is for comparisons
            // feeding quantized ops, as in op_select).
            let bool_outputs_only = op.outputs.iter().all(|&t| {
                t >= 0 && sg.tensors[t as usize].dtype == DType::Bool && sg.outputs.contains(&t)
            });
            if bool_outputs_only && *first == DType::F32 {
                bool_results += 1;
                continue;
            }
            let stayed_float = *first == DType::F32;
            assert_eq!(
                matches!(r.int8, Verdict::Stays | Verdict::StrictOnly),
                stayed_float,
                "{name}: {} (input {first}) vs table {:?}",
                op.op,
                r.int8
            );
            ops_checked += 1;
        }
    }
    say(&format!(
        "readiness: {ops_checked} ops in {models} int8 fixtures agree with the table \
         ({bool_results} float comparisons whose bool is a model output set aside)"
    ));
    assert!(
        models >= 20 && ops_checked >= 60,
        "{models} models, {ops_checked} ops"
    );
}

#[test]
fn colourings_cover_every_node() {
    let m = open("tests/fixtures/models/op_math_trig_f32.tflite");
    let g = build(&m, 0, &BuildOptions::default()).unwrap();
    let sg = &m.subgraphs[0];
    let vals = colour::values(&g, &m, ColourBy::Readiness, &ColourData::default());
    assert_eq!(vals.len(), g.nodes.len());
    let mut stays = 0;
    for (n, v) in g.nodes.iter().zip(&vals) {
        match n.first_op() {
            Some(o) if matches!(sg.operators[o].op.as_str(), "SIN" | "COS") => {
                assert_eq!(
                    *v,
                    NodeValue::Category {
                        name: Verdict::Stays.label().into(),
                        severity: Verdict::Stays.severity()
                    }
                );
                stays += 1;
            }
            Some(_) => assert!(matches!(v, NodeValue::Category { .. })),
            None => assert_eq!(*v, NodeValue::Missing),
        }
    }
    assert_eq!(stays, 2);
    for by in ColourBy::ALL {
        assert_eq!(
            colour::values(&g, &m, by, &ColourData::default()).len(),
            g.nodes.len()
        );
    }
    // Numeric colourings take their numbers from the caller's data.
    let q = open("tests/fixtures/models/cnn_int8_floatio.tflite");
    let qg = build(&q, 0, &BuildOptions::default()).unwrap();
    let mut data = ColourData::default();
    let w = qg
        .nodes
        .iter()
        .flat_map(|n| &n.weights)
        .next()
        .unwrap()
        .tensor;
    data.weight_sqnr_db.insert(w, 12.5);
    let v = colour::values(&qg, &q, ColourBy::WeightSqnr, &data);
    let numbers: Vec<f64> = v
        .iter()
        .filter_map(|x| match x {
            NodeValue::Number { value, .. } => Some(*value),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, vec![12.5]);
    assert!(colour::sqnr_severity(12.5) > 0.9);
}

#[test]
fn cli_graph_lists_ops_at_risk() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["graph", "--json", "--layout"])
        .arg(root().join("tests/fixtures/models/op_math_trig_f32.tflite"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["readiness"]["int8"]["stays"], 2);
    assert_eq!(
        v["layout"]["nodes"].as_array().unwrap().len(),
        v["graph"]["nodes"].as_array().unwrap().len()
    );
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["graph"])
        .arg(root().join("tests/fixtures/models/op_math_trig_f32.tflite"))
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("int8 at risk") && s.contains("SIN") && s.contains("COS"),
        "{s}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["graph", "--subgraph", "7"])
        .arg(root().join("assets/digits_int8.tflite"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no subgraph 7"));
    let _ = Path::new(".");
}

/// `graph --svg --png` on the bundled pair coloured by a Compare run's local SQNR: one box per
/// node, one path per edge, one legend entry per category / range end / twin marking, node
/// fills that follow the values, and a PNG of twice the SVG's size that is not blank.
#[test]
fn svg_and_png_export_draw_every_node_edge_and_legend_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (svg_path, png_path) = (dir.path().join("g.svg"), dir.path().join("g.png"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["graph", "--json", "--color", "sqnr", "--image"])
        .arg(root().join("assets/samples/digit_2_0.png"))
        .arg("--float")
        .arg(root().join("assets/digits_f32.tflite"))
        .arg(root().join("assets/digits_int8.tflite"))
        .arg("--svg")
        .arg(&svg_path)
        .arg("--png")
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = v["graph"]["nodes"].as_array().unwrap().len();
    let edges = v["graph"]["edges"].as_array().unwrap().len();
    let values = v["values"].as_array().unwrap();
    let numbers = values.iter().filter(|x| x["type"] == "number").count();
    assert!(numbers >= 5, "{numbers} nodes have a layer SQNR");
    let legend = &v["legend"];
    let (lo, hi) = (
        legend["range"][0].as_f64().unwrap(),
        legend["range"][1].as_f64().unwrap(),
    );
    let categories = legend["categories"].as_object().unwrap().len();
    let missing = legend["missing"].as_u64().unwrap() as usize;
    assert!(v["matching"]["linked"].as_u64().unwrap() >= 10);

    let text = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is XML");
    let class = |c: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .collect::<Vec<_>>()
    };
    assert_eq!(class("node").len(), nodes);
    assert_eq!(class("node-box").len(), nodes);
    let paths = class("edge");
    assert_eq!(paths.len(), edges);
    assert!(paths
        .iter()
        .all(|p| p.attribute("d").unwrap().starts_with('M')));
    // Categories, both ends of the SQNR range, nodes without a value, two twin markings.
    let entries = class("legend-entry");
    let want = categories + 2 + usize::from(missing > 0) + 2;
    assert_eq!(entries.len(), want);
    let entry_text: Vec<String> = entries
        .iter()
        .map(|e| e.descendants().filter_map(|t| t.text()).collect::<String>())
        .collect();
    for end in [format!("{lo:.1} dB"), format!("{hi:.1} dB")] {
        assert!(
            entry_text.iter().any(|t| t.contains(&end)),
            "{end} in {entry_text:?}"
        );
    }
    // Nodes with a value are coloured, the rest grey; the worst and best differ.
    let fills: Vec<&str> = class("node-box")
        .iter()
        .map(|r| r.attribute("fill").unwrap())
        .collect();
    let grey = "#5a5a5a";
    for (f, val) in fills.iter().zip(values) {
        assert_eq!(*f == grey, val["type"] == "missing", "{f} for {val}");
    }
    let distinct: std::collections::BTreeSet<&&str> = fills.iter().collect();
    assert!(distinct.len() >= 2, "{distinct:?}");
    // Edge labels (shape and dtype) as each path's hover title.
    assert!(paths
        .iter()
        .all(|p| p.children().any(|c| c.has_tag_name("title"))));

    let png = image::open(&png_path).unwrap().to_rgba8();
    let root_el = doc.root_element();
    let w: f32 = root_el.attribute("width").unwrap().parse().unwrap();
    let h: f32 = root_el.attribute("height").unwrap().parse().unwrap();
    assert_eq!(
        png.dimensions(),
        ((w * 2.0).ceil() as u32, (h * 2.0).ceil() as u32)
    );
    let bg = *png.get_pixel(1, 1);
    let other = png.pixels().filter(|p| **p != bg).count();
    assert!(
        other > png.pixels().len() / 20,
        "{other} non-background pixels"
    );
    say(&format!(
        "graph export: {nodes} nodes, {edges} edges, {} legend entries, PNG {}x{}",
        entries.len(),
        png.width(),
        png.height()
    ));
}

/// Granularity covers blockwise weights (AI Edge Quantizer's int4 block-32 weights), which
/// keep `scales` empty and so must not read as per-tensor.
#[test]
fn granularity_colouring_names_blockwise_weights() {
    let m = open("tests/fixtures/models/aeq_fc_dynamic_wi4b32_afp32.tflite");
    let g = build(&m, 0, &BuildOptions::default()).unwrap();
    let v = colour::values(&g, &m, ColourBy::Granularity, &ColourData::default());
    let sg = &m.subgraphs[0];
    let mut blockwise = 0;
    for (n, val) in g.nodes.iter().zip(&v) {
        let has_block = n.weights.iter().any(|w| {
            sg.tensors[w.tensor]
                .quantization
                .as_ref()
                .is_some_and(|q| q.blockwise.is_some())
        });
        if has_block {
            let NodeValue::Category { name, .. } = val else {
                panic!("{val:?}")
            };
            assert_eq!(name, "blockwise-32");
            blockwise += 1;
        } else {
            assert!(
                !matches!(val, NodeValue::Category { name, .. } if name.starts_with("blockwise"))
            );
        }
    }
    assert!(blockwise >= 1, "{blockwise} blockwise nodes");
}
