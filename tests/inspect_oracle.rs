//! `inspect` against the official interpreter: for every oracle manifest (fixtures; ../shared
//! models in a test ignored unless asked for, as `.ci/run` does), subgraph 0's tensor names,
//! dtypes, shapes, scales, zero points and quantized_dimension must equal what
//! `Interpreter.get_tensor_details()` reported. Every oracle folder is compared or the test
//! fails; the count is printed.

mod common;

use quantscope::model::Model;
use quantscope::report::InspectReport;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    common::repo()
}

/// Every oracle folder: (name, its manifest). A folder without a readable manifest panics.
fn manifests() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let dir = repo().join("tests/fixtures/oracle");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("oracle dir")
        .map(|e| e.expect("oracle dir entry"))
        .filter(|e| e.path().is_dir())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let m = e.path().join("manifest.json");
        let text =
            std::fs::read_to_string(&m).unwrap_or_else(|err| panic!("{}: {err}", m.display()));
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", m.display())),
        ));
    }
    out
}

/// numpy's name for a dtype as the interpreter reports it: handles and strings are `object`,
/// int4 tensors are reported as int8.
fn interpreter_dtype(ours: &str) -> &str {
    match ours {
        "resource" | "variant" | "string" => "object",
        "int4" | "int2" => "int8",
        other => other,
    }
}

fn compare(
    name: &str,
    model_path: &Path,
    manifest: &Value,
    blockwise_checked: &mut usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    let model = match Model::open(model_path) {
        Ok(m) => m,
        Err(e) => return vec![format!("{name}: cannot open: {e}")],
    };
    // Go through the same JSON document the CLI prints.
    let report = serde_json::to_value(InspectReport::new(
        &model,
        &model_path.display().to_string(),
    ))
    .unwrap();
    let ours = report["subgraphs"][0]["tensors"].as_array().unwrap();
    let theirs = manifest["tensors"].as_array().unwrap();
    // The interpreter may append its own temporaries after the model's tensors.
    if theirs.len() < ours.len() {
        problems.push(format!(
            "{name}: interpreter lists {} tensors, we list {}",
            theirs.len(),
            ours.len()
        ));
    }
    for (o, t) in ours.iter().zip(theirs) {
        let idx = &t["index"];
        let mut check = |what: &str, a: &Value, b: &Value| {
            if a != b {
                problems.push(format!(
                    "{name} tensor {idx} {what}: ours {a} interpreter {b}"
                ));
            }
        };
        check("index", &o["index"], &t["index"]);
        check("name", &o["name"], &t["name"]);
        check(
            "dtype",
            &Value::from(interpreter_dtype(o["dtype"].as_str().unwrap())),
            &t["dtype"],
        );
        check("shape", &o["shape"], &t["shape"]);
        let q = &o["quantization"];
        let tq = &t["quantization"];
        // A blockwise tensor: the interpreter lists its block scales (flattened) as `scales`.
        let blockwise = !q["blockwise"].is_null();
        if blockwise {
            *blockwise_checked += 1;
        }
        let ours_scales = if blockwise {
            &q["blockwise"]["scales"]
        } else {
            &q["scales"]
        };
        let scales: Vec<f32> = ours_scales
            .as_array()
            .map(|a| a.iter().map(|v| v.as_f64().unwrap() as f32).collect())
            .unwrap_or_default();
        let tscales: Vec<f32> = tq["scales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        check(
            "scales",
            &Value::from(format!("{scales:?}")),
            &Value::from(format!("{tscales:?}")),
        );
        let zps = if blockwise {
            q["blockwise"]["zero_points"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        } else {
            q["zero_points"].as_array().cloned().unwrap_or_default()
        };
        check("zero_points", &Value::from(zps), &tq["zero_points"]);
        if !tscales.is_empty() {
            check(
                "quantized_dimension",
                &q["quantized_dimension"],
                &tq["quantized_dimension"],
            );
        }
    }
    let inputs: Vec<Value> = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].clone())
        .collect();
    let outputs: Vec<Value> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].clone())
        .collect();
    if report["subgraphs"][0]["inputs"] != Value::from(inputs.clone()) {
        problems.push(format!(
            "{name}: inputs {} vs {:?}",
            report["subgraphs"][0]["inputs"], inputs
        ));
    }
    if report["subgraphs"][0]["outputs"] != Value::from(outputs.clone()) {
        problems.push(format!(
            "{name}: outputs {} vs {:?}",
            report["subgraphs"][0]["outputs"], outputs
        ));
    }
    // Operators: names and tensor lists, -1 for absent optional inputs.
    let ops = report["subgraphs"][0]["operators"].as_array().unwrap();
    let tops = manifest["ops"].as_array().unwrap();
    if ops.len() != tops.len() {
        problems.push(format!(
            "{name}: {} operators vs interpreter {}",
            ops.len(),
            tops.len()
        ));
    }
    for (o, t) in ops.iter().zip(tops) {
        let custom = o["is_custom"].as_bool().unwrap();
        if !custom && o["op"] != t["op_name"] {
            problems.push(format!(
                "{name} op {}: {} vs {}",
                t["index"], o["op"], t["op_name"]
            ));
        }
        if o["inputs"] != t["inputs"] || o["outputs"] != t["outputs"] {
            problems.push(format!("{name} op {}: tensor lists differ", t["index"]));
        }
    }
    problems
}

/// Compares every manifest whose model is (or is not) in ../shared; returns how many.
fn check_all(shared: bool) -> usize {
    let mut problems = Vec::new();
    let (mut checked, mut blockwise_checked) = (0, 0);
    let set: Vec<_> = manifests()
        .into_iter()
        .filter(|(_, m)| m["model"].as_str().is_some_and(common::is_shared) == shared)
        .collect();
    for (name, manifest) in &set {
        let rel = manifest["model"].as_str().unwrap();
        let path = common::resolve(rel);
        if !path.exists() {
            problems.push(format!("{name}: {} absent", path.display()));
            continue;
        }
        if let Some(e) = manifest.get("error") {
            problems.push(format!("{name}: the interpreter could not run it: {e}"));
            continue;
        }
        if manifest
            .get("tensors")
            .and_then(|t| t.as_array())
            .is_none_or(|t| t.is_empty())
        {
            problems.push(format!("{name}: the interpreter listed no tensors"));
            continue;
        }
        problems.extend(compare(name, &path, manifest, &mut blockwise_checked));
        checked += 1;
    }
    let which = if shared { "../shared" } else { "fixture" };
    common::say(&format!(
        "inspect oracle: {checked} of {} {which} models compared ({blockwise_checked} blockwise tensors)",
        set.len()
    ));
    if !shared {
        assert!(
            blockwise_checked >= 3,
            "expected the blockwise fixture's 3 tensors, checked {blockwise_checked}"
        );
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(checked, set.len());
    assert!(checked > 0, "no {which} oracle models");
    checked
}

#[test]
fn inspect_matches_official_interpreter_on_every_fixture_model() {
    check_all(false);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_inspect_matches_official_interpreter() {
    common::require_shared();
    check_all(true);
}
