//! The op registry against the fixture models: every route of every row is resolved by some
//! fixture op and then executed, `supported()` agrees with resolution on every op, and the
//! routes no fixture reaches are exactly the ones listed (with why) below.
//!
//! Bit-exactness of what runs is `tests/engine_oracle.rs`'s job; this test checks that the
//! table that answers "supported?" is the table that runs.

use quantscope::engine::registry::{self, Prepared, Route, CUSTOM, ROWS};
use quantscope::engine::{kernels, npy, Engine, EngineOptions, Value};
use quantscope::model::Model;
use serde_json::Value as J;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Routes no fixture model reaches: (row, route index, why).
/// Filled from this test's own output on 2026-12-03: each is a gap in the fixtures (a fixture
/// for it makes the test fail until its line here is removed).
const NOT_IN_FIXTURES: &[(&str, usize, &str)] = &[
    ("REDUCE_MAX", 2, "no fixture model uses this route yet"), // generic (any input, same quantization in and out)
    ("REDUCE_MIN", 2, "no fixture model uses this route yet"), // generic (any input, same quantization in and out)
    ("REDUCE_ANY", 0, "no fixture model uses this route yet"), // generic (any input)
    ("REDUCE_ALL", 0, "no fixture model uses this route yet"), // generic (any input)
    ("FLOOR_DIV", 0, "no fixture model uses this route yet"), // float (float32/int32/int64 input, no quantization)
    ("FLOOR_MOD", 0, "no fixture model uses this route yet"), // float (float32/int32/int64 input, no quantization)
    ("NEG", 0, "no fixture model uses this route yet"),       // integer (int8/uint8/int16 input)
    ("SQUARE", 0, "no fixture model uses this route yet"), // float (float32/int32/int64 input, no quantization)
    ("SIGN", 0, "no fixture model uses this route yet"), // float (float32/int32/int64 input, no quantization)
    ("FLOOR", 0, "no fixture model uses this route yet"), // float (float32 input)
    ("CEIL", 0, "no fixture model uses this route yet"), // float (float32 input)
    ("ROUND", 0, "no fixture model uses this route yet"), // float (float32 input)
    ("RELU", 0, "no fixture model uses this route yet"), // integer (int8/uint8/int16 input)
    ("RELU", 1, "no fixture model uses this route yet"), // float (float32 input)
    ("RELU6", 0, "no fixture model uses this route yet"), // integer (int8/uint8/int16 input)
    ("RELU6", 1, "no fixture model uses this route yet"), // float (float32 input)
    ("RELU_N1_TO_1", 0, "no fixture model uses this route yet"), // integer (int8/uint8/int16 input)
    ("RELU_N1_TO_1", 1, "no fixture model uses this route yet"), // float (float32 input)
    ("RELU_0_TO_1", 0, "no fixture model uses this route yet"), // integer (int8/uint8/int16 input)
    ("RELU_0_TO_1", 1, "no fixture model uses this route yet"), // float (float32 input)
    ("ELU", 0, "no fixture model uses this route yet"),  // integer (int8 input)
    ("ELU", 1, "no fixture model uses this route yet"),  // float (float32 input)
    ("LOGICAL_AND", 0, "no fixture model uses this route yet"), // generic (any input)
    ("LOGICAL_OR", 0, "no fixture model uses this route yet"), // generic (any input)
    ("LOGICAL_NOT", 0, "no fixture model uses this route yet"), // generic (any input)
    ("SQUEEZE", 0, "no fixture model uses this route yet"), // generic (any input)
    ("EXPAND_DIMS", 0, "no fixture model uses this route yet"), // generic (any input)
    ("CONCATENATION", 1, "no fixture model uses this route yet"), // integer (int8/uint8/int16 input, every input int8/uint8/int16)
    ("CONCATENATION", 3, "no fixture model uses this route yet"), // generic (any input, same quantization in and out)
    ("REVERSE_V2", 0, "no fixture model uses this route yet"),    // generic (any input)
    ("ZEROS_LIKE", 0, "no fixture model uses this route yet"),    // generic (any input)
    ("SHAPE", 0, "no fixture model uses this route yet"),         // generic (any input)
    ("FILL", 0, "no fixture model uses this route yet"),          // generic (any input)
    ("RANGE", 0, "no fixture model uses this route yet"),         // generic (any input)
    (
        "Convolution2DTransposeBias",
        0,
        "no fixture model uses this route yet",
    ), // float (float32 input)
];

/// The (row name, route index) `route` is, within `routes`.
fn route_index(routes: &[Route], route: &Route) -> usize {
    routes
        .iter()
        .position(|r| std::ptr::eq(r, route))
        .expect("a resolved route belongs to its row")
}

/// The first invocation's inputs of the oracle folder whose model is `model_rel`, if any.
fn oracle_inputs(model_rel: &str) -> Option<Vec<Value>> {
    for dir in std::fs::read_dir(root().join("tests/fixtures/oracle")).ok()? {
        let dir = dir.ok()?.path();
        let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
            continue;
        };
        let man: J = serde_json::from_str(&text).expect("oracle manifest is JSON");
        if man["model"].as_str() != Some(model_rel) || man.get("error").is_some() {
            continue;
        }
        let inv = man["invocations"].as_array()?.first()?;
        return inv["inputs"]
            .as_array()?
            .iter()
            .map(|p| npy::read(&dir.join(p.as_str()?)).ok())
            .collect();
    }
    None
}

#[test]
fn every_registry_route_is_resolved_and_executed_by_a_fixture() {
    let models_dir = root().join("tests/fixtures/models");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&models_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
        .collect();
    paths.sort();
    // (row name, route index) -> ops that resolved to it / that ran in a successful invocation.
    let mut resolved: BTreeMap<(String, usize), usize> = BTreeMap::new();
    let mut executed: BTreeSet<(String, usize)> = BTreeSet::new();
    let (mut ops_checked, mut models_run) = (0usize, 0usize);
    for path in &paths {
        let Ok(model) = Model::open(path) else {
            continue; // the bad-input fixtures
        };
        let mut here = Vec::new();
        for (sg, s) in model.subgraphs.iter().enumerate() {
            for op in &s.operators {
                let r = registry::resolve(&model, sg, op);
                // "Supported?" is the same question.
                assert_eq!(
                    kernels::supported(op, &model, sg).is_ok(),
                    r.is_ok(),
                    "{}: op {} {}",
                    path.display(),
                    op.index,
                    op.op
                );
                ops_checked += 1;
                if let Ok(Prepared::Kernel(route)) = r {
                    let routes = registry::routes(op).unwrap();
                    let key = (op.op.clone(), route_index(routes, route));
                    *resolved.entry(key.clone()).or_default() += 1;
                    here.push(key);
                }
            }
        }
        let rel = Path::new("tests/fixtures/models").join(path.file_name().unwrap());
        let Some(inputs) = oracle_inputs(&rel.to_string_lossy()) else {
            continue;
        };
        let Ok(mut engine) = Engine::new(&model, EngineOptions::default()) else {
            continue;
        };
        if engine.invoke(&inputs).is_ok() {
            models_run += 1;
            executed.extend(here);
        }
    }
    let mut all = Vec::new();
    for row in ROWS {
        let name = format!("{:?}", row.code);
        for i in 0..row.routes.len() {
            all.push((name.clone(), i, row.routes[i].describe()));
        }
    }
    for row in CUSTOM {
        for i in 0..row.routes.len() {
            all.push((row.name.to_string(), i, row.routes[i].describe()));
        }
    }
    let missing: Vec<(String, usize, String)> = all
        .iter()
        .filter(|(n, i, _)| !executed.contains(&(n.clone(), *i)))
        .cloned()
        .collect();
    let listed: BTreeSet<(String, usize)> = NOT_IN_FIXTURES
        .iter()
        .map(|&(n, i, _)| (n.to_string(), i))
        .collect();
    let unlisted: Vec<_> = missing
        .iter()
        .filter(|(n, i, _)| !listed.contains(&(n.clone(), *i)))
        .collect();
    let stale: Vec<_> = listed
        .iter()
        .filter(|k| executed.contains(*k) || !all.iter().any(|(n, i, _)| (n, i) == (&k.0, &k.1)))
        .collect();
    eprintln!(
        "op registry: {} rows, {} routes; {} fixture ops checked (supported() == resolve()); \
         {} models executed; {} routes executed, {} listed as not in the fixtures",
        ROWS.len() + CUSTOM.len(),
        all.len(),
        ops_checked,
        models_run,
        all.len() - missing.len(),
        listed.len()
    );
    assert!(
        unlisted.is_empty(),
        "routes no fixture executes (add a fixture or list them with a reason):\n{}",
        unlisted
            .iter()
            .map(|(n, i, d)| format!("  (\"{n}\", {i}, \"\"), // {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stale.is_empty(),
        "listed but executed or unknown: {stale:?}"
    );
    assert!(
        ops_checked >= 600 && models_run >= 140,
        "too few fixtures seen"
    );
}

/// Every row is reachable by its code, and no code has two rows (one table, one answer).
#[test]
fn one_row_per_code() {
    let mut seen = BTreeSet::new();
    for row in ROWS {
        assert!(seen.insert(row.code.0), "{:?} has two rows", row.code);
        assert!(std::ptr::eq(registry::row_of(row.code).unwrap(), row));
        assert!(!row.routes.is_empty(), "{:?} has no route", row.code);
        assert!(
            !quantscope::model::ops::facts(row.code).control_flow,
            "{:?}: control flow is run by the engine, not a kernel row",
            row.code
        );
    }
    assert_eq!(seen.len(), ROWS.len());
    eprintln!("{} rows, one per code", seen.len());
}
