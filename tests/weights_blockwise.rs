//! Blockwise weights (`BlockwiseQuantization`) against numpy and the AI Edge Quantizer's own
//! arithmetic: tests/fixtures/blockwise_oracle/*.json, written by
//! tests/fixtures/make_blockwise_oracle.py.
//!
//! - Stored: every blockwise tensor of the quantizer's models, per block (scale, integer range,
//!   saturation, SQNR, max error, clipping) against the float twin, as numpy computes them.
//! - Simulated (What-if): `--simulate int4/int8` at blockwise 32/64/128 on the float model
//!   gives the quantizer's integers and float16 scales exactly, and the same per-block figures.

use base64::Engine as _;
use quantscope::model::Model;
use quantscope::quant::simulate::{quantize_blocks, Bits, Clip, Scheme};
use quantscope::quant::{analyze, BlockAnalysis, Options, Reference, WeightsReport};
use serde_json::Value;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DIR: &str = "tests/fixtures/blockwise_oracle";

fn open(rel: &str) -> Model {
    Model::open(Path::new(ROOT).join(rel)).unwrap()
}

fn oracles(sim: bool) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = std::fs::read_dir(Path::new(ROOT).join(DIR))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("sim_") == sim)
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn close(what: &str, ours: Option<f64>, theirs: &Value, rel: f64) {
    match (ours, theirs.as_f64()) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            let tol = 1e-12 + rel * b.abs();
            assert!((a - b).abs() <= tol, "{what}: quantscope {a} vs numpy {b}");
        }
        (a, _) => panic!("{what}: quantscope {a:?} vs numpy {theirs}"),
    }
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// Compares one tensor's blocks with numpy's figures; returns the blocks checked.
fn check_blocks(what: &str, b: &BlockAnalysis, o: &Value) -> usize {
    assert_eq!(
        b.block_size as u64,
        o["block_size"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(b.rows as u64, o["rows"].as_u64().unwrap(), "{what}");
    assert_eq!(
        b.blocks_per_row as u64,
        o["blocks_per_row"].as_u64().unwrap(),
        "{what}"
    );
    let r = ints(&o["int_range"]);
    assert_eq!((b.int_range.0, b.int_range.1), (r[0], r[1]), "{what} range");
    let scales: Vec<f64> = o["scale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    // float16 scales: exact.
    assert_eq!(b.scale, scales, "{what}: block scales");
    assert_eq!(b.int_min, ints(&o["int_min"]), "{what}: int_min");
    assert_eq!(b.int_max, ints(&o["int_max"]), "{what}: int_max");
    let sat: Vec<u64> = b.saturated.clone();
    assert_eq!(
        sat.iter().map(|&s| s as i64).collect::<Vec<_>>(),
        ints(&o["saturated"]),
        "{what}: saturated"
    );
    assert_eq!(
        b.clipped.iter().map(|&s| s as i64).collect::<Vec<_>>(),
        ints(&o["clipped"]),
        "{what}: clipped"
    );
    let n = scales.len();
    assert_eq!(b.sqnr_db.len(), n, "{what}: per-block errors");
    for k in 0..n {
        let w = format!("{what} block {k}");
        close(
            &format!("{w} sqnr_db"),
            b.sqnr_db[k],
            &o["sqnr_db"][k],
            1e-9,
        );
        close(
            &format!("{w} max_abs_err"),
            Some(b.max_abs_err[k]),
            &o["max_abs_err"][k],
            1e-9,
        );
        close(
            &format!("{w} max_abs_err_lsb"),
            Some(b.max_abs_err_lsb[k]),
            &o["max_abs_err_lsb"][k],
            1e-9,
        );
        close(
            &format!("{w} rmse_over_scale"),
            Some(b.rmse_over_scale[k]),
            &o["rmse_over_scale"][k],
            1e-9,
        );
    }
    for (ours, key) in [
        (b.scale_min, "scale_min"),
        (b.scale_median, "scale_median"),
        (b.scale_max, "scale_max"),
        (b.scale_mean, "scale_mean"),
    ] {
        close(&format!("{what} {key}"), Some(ours), &o[key], 1e-12);
    }
    // The worst block is the one of lowest SQNR.
    let lowest = (0..n)
        .filter_map(|k| o["sqnr_db"][k].as_f64().map(|s| (k, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert_eq!(b.worst[0].block, lowest.0, "{what}: worst block");
    n
}

fn tensor<'a>(r: &'a WeightsReport, o: &Value) -> &'a quantscope::quant::TensorAnalysis {
    let i = o["index"].as_u64().unwrap() as usize;
    r.tensors
        .iter()
        .find(|t| t.tensor.subgraph == 0 && t.tensor.index == i)
        .unwrap_or_else(|| panic!("tensor {i} not analysed: {:?}", r.skipped))
}

#[test]
fn stored_blocks_equal_numpy() {
    let (mut models, mut tensors, mut blocks, mut elements) = (0, 0, 0, 0);
    for (name, v) in oracles(false) {
        let m = open(v["model"].as_str().unwrap());
        let f = open(v["float_model"].as_str().unwrap());
        let r = analyze(&m, Some(&f), &Options::default()).unwrap();
        for o in v["tensors"].as_array().unwrap() {
            let what = format!("{name} {}", o["name"]);
            let t = tensor(&r, o);
            match &t.reference {
                Some(Reference::FloatModel { index, .. }) => {
                    assert_eq!(*index as u64, o["float_index"].as_u64().unwrap(), "{what}")
                }
                other => panic!("{what}: reference {other:?}"),
            }
            assert_eq!(
                t.channel_count,
                o["scale"].as_array().unwrap().len(),
                "{what}"
            );
            close(
                &format!("{what} tensor SQNR"),
                t.errors.sqnr_db,
                &o["tensor_sqnr_db"],
                1e-9,
            );
            blocks += check_blocks(&what, t.blocks.as_ref().unwrap(), o);
            elements += o["elements_checked"].as_u64().unwrap();
            tensors += 1;
        }
        models += 1;
    }
    eprintln!("{models} models, {tensors} blockwise tensors, {blocks} blocks, {elements} elements equal numpy");
    // aeq_fc_dynamic_wi4b32_afp32: table [16,64], fc1 [32,64], fc2 [8,32] in blocks of 32;
    // aeq_wide_wi4b{32,64,128}: fc [24,256] and table [16,128].
    assert_eq!((models, tensors, blocks), (4, 9, 104 + 256 + 128 + 64));
    assert_eq!(
        elements,
        16 * 64 + 32 * 64 + 8 * 32 + 3 * (24 * 256 + 16 * 128)
    );
}

#[test]
fn simulated_blocks_equal_the_quantizer() {
    let f = open("tests/fixtures/models/aeq_wide_f32.tflite");
    let (mut cases, mut blocks, mut int_equal, mut scale_equal) = (0, 0, 0, 0);
    for (name, v) in oracles(true) {
        let bits = match v["bits"].as_u64().unwrap() {
            4 => Bits::Int4,
            8 => Bits::Int8,
            b => panic!("bits {b}"),
        };
        let bs = v["block_size"].as_u64().unwrap() as u32;
        let scheme = Scheme {
            bits,
            symmetric: true,
            per_channel: true,
            clip: Clip::MinMax,
            block_size: Some(bs),
        };
        let r = analyze(
            &f,
            None,
            &Options {
                simulate: Some(scheme),
                channel_histograms: false,
            },
        )
        .unwrap();
        for o in v["tensors"].as_array().unwrap() {
            let what = format!("{name} {}", o["name"]);
            let t = tensor(&r, o);
            assert!(
                matches!(t.reference, Some(Reference::Simulated { .. })),
                "{what}"
            );
            blocks += check_blocks(&what, t.blocks.as_ref().unwrap(), o);
            // The integers themselves, through the same library function.
            let i = o["index"].as_u64().unwrap() as usize;
            let x: Vec<f32> = f
                .tensor_data(0, i)
                .unwrap()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let (s, q) = quantize_blocks(&x, bs as usize, bits);
            let want = base64::engine::general_purpose::STANDARD
                .decode(o["ints_b64"].as_str().unwrap())
                .unwrap();
            assert_eq!(q.len(), want.len(), "{what}");
            int_equal += q
                .iter()
                .zip(&want)
                .filter(|(a, b)| **a == **b as i8 as i64)
                .count();
            let ws = o["scale"].as_array().unwrap();
            scale_equal += s
                .iter()
                .zip(ws)
                .filter(|(a, b)| **a as f64 == b.as_f64().unwrap())
                .count();
        }
        cases += 1;
    }
    eprintln!("{cases} schemes: {blocks} blocks and {scale_equal} scales, {int_equal} integers equal the quantizer's");
    // 6 schemes x (FC [24,256] + table [16,128]): 8192 integers each.
    assert_eq!(cases, 6);
    assert_eq!(int_equal, 6 * 8192);
    assert_eq!(scale_equal, blocks);
    assert_eq!(blocks, 2 * (256 + 128 + 64));
}

#[test]
fn blockwise_schemes_that_cannot_be_simulated_say_why() {
    let f = open("tests/fixtures/models/aeq_wide_f32.tflite");
    let bad = Scheme {
        bits: Bits::Int4,
        symmetric: false,
        per_channel: true,
        clip: Clip::MinMax,
        block_size: Some(32),
    };
    let e = analyze(
        &f,
        None,
        &Options {
            simulate: Some(bad),
            channel_histograms: false,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("symmetric only"), "{e}");
    // A weight whose last dimension does not split stays float, with a note.
    let src = open("tests/fixtures/models/aeq_src_f32.tflite");
    let s = Scheme {
        symmetric: true,
        block_size: Some(64),
        ..bad
    };
    let r = analyze(
        &src,
        None,
        &Options {
            simulate: Some(s),
            channel_histograms: false,
        },
    )
    .unwrap();
    let fc2 = r
        .tensors
        .iter()
        .find(|t| t.tensor.name == "fc2_weights")
        .unwrap();
    assert!(fc2.blocks.is_none() && fc2.error.is_none());
    assert!(
        fc2.checks.iter().any(|c| c.code == "not_blockwise"),
        "{:?}",
        fc2.checks
    );
    let fc1 = r
        .tensors
        .iter()
        .find(|t| t.tensor.name == "fc1_weights")
        .unwrap();
    assert_eq!(fc1.blocks.as_ref().unwrap().scale.len(), 32);
}
