//! `quantscope::quant` against numpy: tests/fixtures/weights_oracle/*.json, written by
//! tests/fixtures/make_weight_oracle.py from the interpreter's view of the same fixtures.

use quantscope::model::Model;
use quantscope::quant::simulate::{Bits, Clip, Scheme};
use quantscope::quant::{analyze, Options, Reference, Summary, TensorAnalysis};
use serde_json::Value;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn close(what: &str, ours: Option<f64>, theirs: &Value, abs: f64, rel: f64) {
    match (ours, theirs.as_f64()) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            let tol = abs + rel * b.abs();
            assert!(
                (a - b).abs() <= tol,
                "{what}: quantscope {a} vs numpy {b} (tolerance {tol:e})"
            );
        }
        (a, _) => panic!("{what}: quantscope {a:?} vs numpy {theirs}"),
    }
}

fn stats(what: &str, ours: Option<Summary>, theirs: &Value) {
    if theirs.is_null() {
        return;
    }
    let s = ours.unwrap_or_else(|| panic!("{what}: no statistics"));
    let scale = theirs["std"]
        .as_f64()
        .unwrap()
        .max(theirs["mean"].as_f64().unwrap().abs());
    close(
        &format!("{what} min"),
        Some(s.min),
        &theirs["min"],
        0.0,
        1e-12,
    );
    close(
        &format!("{what} max"),
        Some(s.max),
        &theirs["max"],
        0.0,
        1e-12,
    );
    close(
        &format!("{what} mean"),
        Some(s.mean),
        &theirs["mean"],
        1e-12 * scale,
        1e-9,
    );
    close(
        &format!("{what} std"),
        Some(s.std),
        &theirs["std"],
        1e-12 * scale,
        1e-9,
    );
    close(
        &format!("{what} kurtosis"),
        s.kurtosis,
        &theirs["kurtosis"],
        1e-7,
        1e-9,
    );
}

/// Error metrics of a tensor (or one channel) against numpy's.
fn errors(what: &str, e: &quantscope::quant::analyze::ErrorFields, o: &Value) {
    if o.get("mse").is_none() {
        assert!(
            e.mse.is_none(),
            "{what}: numpy has no reference but quantscope does"
        );
        return;
    }
    close(
        &format!("{what} sqnr_db"),
        e.sqnr_db,
        &o["sqnr_db"],
        1e-4,
        0.0,
    );
    close(&format!("{what} mse"), e.mse, &o["mse"], 0.0, 1e-9);
    close(&format!("{what} rmse"), e.rmse, &o["rmse"], 0.0, 1e-9);
    let scale = o["rmse"].as_f64().unwrap();
    close(
        &format!("{what} mean_err"),
        e.mean_err,
        &o["mean_err"],
        1e-9 * scale,
        1e-6,
    );
    close(
        &format!("{what} max_abs_err"),
        e.max_abs_err,
        &o["max_abs_err"],
        0.0,
        1e-9,
    );
    if o.get("max_abs_err_lsb").is_some() {
        close(
            &format!("{what} max_abs_err_lsb"),
            e.max_abs_err_lsb,
            &o["max_abs_err_lsb"],
            1e-9,
            0.0,
        );
        close(
            &format!("{what} rmse_over_scale"),
            e.rmse_over_scale,
            &o["rmse_over_scale"],
            1e-9,
            0.0,
        );
    }
    close(
        &format!("{what} cosine"),
        e.cosine,
        &o["cosine"],
        1e-12,
        0.0,
    );
    close(
        &format!("{what} clip_below"),
        e.clip_below,
        &o["clip_below"],
        1e-15,
        0.0,
    );
    close(
        &format!("{what} clip_above"),
        e.clip_above,
        &o["clip_above"],
        1e-15,
        0.0,
    );
    close(
        &format!("{what} clip_rate"),
        e.clip_rate,
        &o["clip_rate"],
        1e-15,
        0.0,
    );
}

fn counts(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect()
}

fn check_tensor(case: &str, t: &TensorAnalysis, o: &Value) {
    let what = format!("{case} tensor {} '{}'", t.tensor.index, t.tensor.name);
    assert_eq!(t.dtype.name(), o["dtype"].as_str().unwrap(), "{what} dtype");
    if o.get("float_only").is_some() {
        stats(&format!("{what} values"), t.real_stats, &o["real_stats"]);
        assert_eq!(
            t.histogram.counts,
            counts(&o["histogram_counts"]),
            "{what} histogram"
        );
        return;
    }
    if let Some(fi) = o.get("float_index").and_then(Value::as_u64) {
        match &t.reference {
            Some(Reference::FloatModel { index, .. }) => {
                assert_eq!(*index as u64, fi, "{what} paired with")
            }
            r => panic!("{what}: numpy paired it with float tensor {fi}, quantscope with {r:?}"),
        }
    }
    assert_eq!(
        t.per_channel,
        o["per_channel"].as_bool().unwrap(),
        "{what} per_channel"
    );
    assert_eq!(t.n, o["n"].as_u64().unwrap(), "{what} n");
    stats(&format!("{what} ints"), t.int_stats, &o["int_stats"]);
    stats(&format!("{what} reals"), t.real_stats, &o["real_stats"]);
    assert_eq!(
        t.range.levels_used,
        o["levels_used"].as_u64(),
        "{what} levels_used"
    );
    assert_eq!(
        t.range.saturated,
        o["saturated"].as_u64(),
        "{what} saturated"
    );
    close(
        &format!("{what} range_used"),
        t.range.range_used,
        &o["range_used"],
        1e-12,
        0.0,
    );
    let dead: Vec<usize> = o["dead_channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as usize)
        .collect();
    if t.role_kind != Some(quantscope::quant::roles::RoleKind::Bias) {
        assert_eq!(t.dead_channels, dead, "{what} dead channels");
    }
    if let Some(h) = o.get("histogram_counts") {
        assert_eq!(t.histogram.counts, counts(h), "{what} integer histogram");
    }
    if let Some(h) = o.get("real_histogram_counts") {
        assert_eq!(
            t.real_histogram.as_ref().unwrap().counts,
            counts(h),
            "{what} real histogram"
        );
    }
    errors(&what, &t.errors, o);
    let chans = o["channels"].as_array().unwrap();
    if t.per_channel && t.channel_count > 1 {
        assert_eq!(t.channels.len(), chans.len(), "{what} channel count");
    }
    for (c, oc) in t.channels.iter().zip(chans) {
        let w = format!("{what} channel {}", c.channel);
        close(&format!("{w} scale"), c.scale, &oc["scale"], 0.0, 1e-15);
        assert_eq!(c.zero_point, oc["zero_point"].as_i64(), "{w} zero point");
        stats(&format!("{w} ints"), c.int_stats, &oc["int_stats"]);
        stats(&format!("{w} reals"), c.real_stats, &oc["real_stats"]);
        assert_eq!(
            c.range.levels_used,
            oc["levels_used"].as_u64(),
            "{w} levels_used"
        );
        assert_eq!(c.range.saturated, oc["saturated"].as_u64(), "{w} saturated");
        errors(&w, &c.errors, oc);
    }
}

fn run_case(file: &str) -> usize {
    let path = Path::new(ROOT)
        .join("tests/fixtures/weights_oracle")
        .join(file);
    let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let model = Model::open(Path::new(ROOT).join(case["model"].as_str().unwrap())).unwrap();
    let float = case["float"]
        .as_str()
        .map(|f| Model::open(Path::new(ROOT).join(f)).unwrap());
    let simulate = case["simulate"].as_object().map(|s| Scheme {
        bits: match s["bits"].as_u64().unwrap() {
            4 => Bits::Int4,
            8 => Bits::Int8,
            _ => Bits::Int16,
        },
        symmetric: s["symmetric"].as_bool().unwrap(),
        per_channel: s["per_channel"].as_bool().unwrap(),
        clip: Clip::MinMax,
        block_size: None,
    });
    let opts = Options {
        simulate,
        channel_histograms: false,
    };
    let report = analyze(&model, float.as_ref(), &opts).unwrap();
    let mut n = 0;
    for o in case["tensors"].as_array().unwrap() {
        let idx = o["index"].as_u64().unwrap() as usize;
        let t = report
            .tensors
            .iter()
            .find(|t| t.tensor.index == idx)
            .unwrap_or_else(|| panic!("{file}: tensor {idx} not analysed"));
        if o.get("float_only").is_some() && simulate.is_some() {
            continue;
        }
        check_tensor(file, t, o);
        n += 1;
    }
    // Every pair numpy found by name must be a compared tensor of ours.
    let compared = report.tensors.iter().filter(|t| t.error.is_some()).count();
    let numpy_compared = case["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.get("mse").is_some())
        .count();
    assert!(
        compared >= numpy_compared,
        "{file}: {compared} compared < numpy's {numpy_compared}"
    );
    n
}

macro_rules! oracle_case {
    ($name:ident, $file:expr) => {
        #[test]
        fn $name() {
            assert!(run_case($file) > 0);
        }
    };
}

oracle_case!(cnn_int8_int8io_vs_f32, "cnn_int8_int8io_vs_f32.json");
oracle_case!(cnn_int8_pertensor_vs_f32, "cnn_int8_pertensor_vs_f32.json");
oracle_case!(cnn_dynrange_vs_f32, "cnn_dynrange_vs_f32.json");
oracle_case!(cnn_int8_floatio_vs_f16, "cnn_int8_floatio_vs_f16.json");
oracle_case!(cnn_int16x8_vs_f32, "cnn_int16x8_vs_f32.json");
oracle_case!(op_conv_int8_vs_f32, "op_conv_int8_vs_f32.json");
oracle_case!(fc_nobias_int8_vs_f32, "fc_nobias_int8_vs_f32.json");
oracle_case!(sim_cnn_f32_int8_sym_pc, "sim_cnn_f32_int8_sym_pc.json");
oracle_case!(sim_cnn_f32_int4_asym_pt, "sim_cnn_f32_int4_asym_pt.json");
oracle_case!(sim_cnn_f16_int8_asym_pc, "sim_cnn_f16_int8_asym_pc.json");
oracle_case!(sim_cnn_f32_int16_sym_pc, "sim_cnn_f32_int16_sym_pc.json");
