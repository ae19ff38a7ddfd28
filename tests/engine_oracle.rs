//! The engine against the official interpreter: every `tests/fixtures/oracle/*/manifest.json`.
//!
//! Integer tensors must match the reference kernels (`ref`) bit for bit; float tensors within
//! 1e-4 * max|ref| (absolute). Where the reference kernels could not run (`ref: null`) the
//! default kernels' outputs (`builtin`) are compared with a tolerance (a few units for ints).
//! Models whose file is absent (../shared not present) are skipped with a line.
//!
//! Two tests: `oracle_float` (models without quantized integer tensors) and `oracle_int` (the
//! rest). `ORACLE_FILTER=substring` restricts both to matching oracle folder names.

use quantscope::engine::{npy, Engine, EngineOptions, Keep, Value};
use quantscope::model::Model;
use serde_json::Value as J;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Diff {
    what: String,
    detail: String,
}

/// Max abs difference and max |ref|, or a type/shape mismatch message.
fn compare(ours: &Value, want: &Value, int_tol: i64) -> Result<(f64, f64, bool), String> {
    if ours.dtype() != want.dtype() {
        return Err(format!("dtype {} vs {}", ours.dtype(), want.dtype()));
    }
    if ours.shape() != want.shape() {
        return Err(format!("shape {:?} vs {:?}", ours.shape(), want.shape()));
    }
    let is_float = matches!(ours, Value::F32(_) | Value::F16(_));
    let a = ours.to_f32_lossy().map_err(|e| e.to_string())?;
    let b = want.to_f32_lossy().map_err(|e| e.to_string())?;
    let mut maxd = 0f64;
    let mut maxr = 0f64;
    let mut nan_mismatch = false;
    for (&x, &y) in a.iter().zip(b.iter()) {
        if x.is_nan() != y.is_nan() {
            nan_mismatch = true;
            continue;
        }
        if x.is_nan() || (x.is_infinite() && x == y) {
            continue;
        }
        maxd = maxd.max((x as f64 - y as f64).abs());
        maxr = maxr.max((y as f64).abs());
    }
    let ok = !nan_mismatch
        && if is_float {
            maxd <= 1e-4 * maxr + 1e-7
        } else {
            maxd <= int_tol as f64
        };
    Ok((maxd, maxr, ok))
}

fn is_int_model(m: &Model) -> bool {
    m.subgraphs.iter().any(|s| {
        s.tensors.iter().any(|t| {
            t.quantization.is_some()
                && matches!(
                    t.dtype,
                    quantscope::model::DType::I8
                        | quantscope::model::DType::U8
                        | quantscope::model::DType::I16
                        | quantscope::model::DType::I4
                )
        })
    })
}

/// Tensors whose reference values come from ai-edge-litert 2.3.0's broken reference SUM for
/// int8/int16 (it reads those buffers through its uint8 instantiation): the outputs of such
/// SUMs and everything computed from them. The engine follows the optimized kernels there
/// (see `kernels/int/pool.rs`), so these are checked against the default resolver's outputs
/// (`builtin`) instead: exactly for a SUM's own output, within 3 units downstream.
fn ref_sum_exception(man: &J) -> std::collections::HashMap<usize, i64> {
    let dtype = |t: i64| -> String {
        man["tensors"]
            .as_array()
            .and_then(|ts| ts.iter().find(|x| x["index"].as_i64() == Some(t)))
            .and_then(|x| x["dtype"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let ids = |o: &J, k: &str| -> Vec<i64> {
        o[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_i64())
                    .filter(|&x| x >= 0)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut tainted = std::collections::HashMap::new();
    for o in man["ops"].as_array().into_iter().flatten() {
        let ins = ids(o, "inputs");
        let direct = o["op_name"] == "SUM"
            && ins
                .first()
                .is_some_and(|&t| matches!(dtype(t).as_str(), "int8" | "int16"));
        let downstream = ins.iter().any(|t| tainted.contains_key(&(*t as usize)));
        if direct || downstream {
            for t in ids(o, "outputs") {
                tainted.insert(t as usize, if direct { 0 } else { 3 });
            }
        }
    }
    tainted
}

/// Runs one oracle folder; returns (ran, failures, summary line).
fn run_oracle(dir: &Path, want_int: bool) -> Option<(Vec<Diff>, String)> {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let man: J =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).ok()?).ok()?;
    if man.get("error").is_some() {
        return None;
    }
    let model_path = root().join(man["model"].as_str()?);
    if !model_path.exists() {
        println!("skip {name}: {} absent", man["model"].as_str()?);
        return None;
    }
    let model = match Model::open(&model_path) {
        Ok(m) => m,
        Err(e) => {
            return (want_int == false).then(|| {
                (
                    vec![Diff {
                        what: "open".into(),
                        detail: e.to_string(),
                    }],
                    format!("{name}: cannot open"),
                )
            })
        }
    };
    if is_int_model(&model) != want_int {
        return None;
    }
    let mut fails = Vec::new();
    let mut engine = match Engine::new(
        &model,
        EngineOptions {
            keep: Keep::All,
            ..Default::default()
        },
    ) {
        Ok(e) => e,
        Err(e) => {
            let first = e
                .to_string()
                .lines()
                .take(4)
                .collect::<Vec<_>>()
                .join(" | ");
            fails.push(Diff {
                what: "prepare".into(),
                detail: first,
            });
            return Some((fails, format!("{name}: FAIL (cannot prepare)")));
        }
    };
    let mut compared = 0usize;
    let sum_exception = ref_sum_exception(&man);
    let out_index: Vec<usize> = man["outputs"]
        .as_array()?
        .iter()
        .filter_map(|o| o["index"].as_u64().map(|i| i as usize))
        .collect();
    let mut worst_float = 0f64;
    for (k, inv) in man["invocations"].as_array()?.iter().enumerate() {
        let inputs: Vec<Value> = inv["inputs"]
            .as_array()?
            .iter()
            .map(|p| npy::read(&dir.join(p.as_str().unwrap())).unwrap())
            .collect();
        let out = match engine.invoke(&inputs) {
            Ok(o) => o,
            Err(e) => {
                fails.push(Diff {
                    what: format!("inv{k} run"),
                    detail: e.to_string(),
                });
                break;
            }
        };
        let (oracle, int_tol, label) = if !inv["ref"].is_null() {
            (&inv["ref"], 0, "ref")
        } else if !inv["builtin"].is_null() {
            (&inv["builtin"], 3, "builtin")
        } else {
            continue;
        };
        let mut check = |what: String, ours: Option<&Value>, path: &str, int_tol, label| {
            let want = npy::read(&dir.join(path)).unwrap();
            compared += 1;
            match ours {
                None => fails.push(Diff {
                    what,
                    detail: "not computed".into(),
                }),
                Some(o) => match compare(o, &want, int_tol) {
                    Err(m) => fails.push(Diff { what, detail: m }),
                    Ok((d, r, ok)) => {
                        if matches!(o, Value::F32(_)) && r > 0.0 {
                            worst_float = worst_float.max(d / r);
                        }
                        if !ok {
                            fails.push(Diff {
                                what,
                                detail: format!("max diff {d:.3e} (max|{label}| {r:.3e})"),
                            });
                        } else if label == "builtin" && d > 0.0 {
                            println!("  {name} inv{k}: vs builtin max diff {d:.3e}");
                        }
                    }
                },
            }
        };
        for (i, p) in oracle["outputs"].as_array()?.iter().enumerate() {
            let what = format!("inv{k} output {i}");
            match out_index.get(i).and_then(|t| sum_exception.get(t)) {
                Some(&tol) if label == "ref" => {
                    let Some(p) = inv["builtin"]["outputs"].get(i).and_then(|p| p.as_str()) else {
                        println!("  {name} {what}: after an int SUM, no builtin result to check");
                        continue;
                    };
                    check(what + " (int SUM)", out.outputs.get(i), p, tol, "builtin");
                }
                _ => check(what, out.outputs.get(i), p.as_str()?, int_tol, label),
            }
        }
        if let Some(ts) = oracle.get("tensors").and_then(|t| t.as_object()) {
            let mut keys: Vec<(usize, &J)> =
                ts.iter().map(|(k, v)| (k.parse().unwrap(), v)).collect();
            keys.sort_by_key(|x| x.0);
            for (t, p) in keys {
                if label == "ref" && sum_exception.contains_key(&t) {
                    continue;
                }
                let tname = model.subgraphs[0]
                    .tensors
                    .get(t)
                    .map(|x| x.name.as_str())
                    .unwrap_or("?");
                check(
                    format!("inv{k} tensor {t} '{tname}'"),
                    out.tensors.get(&t),
                    p.as_str()?,
                    int_tol,
                    label,
                );
            }
        }
    }
    let line = if fails.is_empty() {
        format!("{name}: ok ({compared} tensors compared, worst float rel diff {worst_float:.1e})")
    } else {
        format!(
            "{name}: FAIL ({} of {compared} tensors differ)",
            fails.len()
        )
    };
    Some((fails, line))
}

fn run_all(want_int: bool) {
    let filter = std::env::var("ORACLE_FILTER").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/oracle"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(&filter))
        .collect();
    dirs.sort();
    let mut table = Vec::new();
    let mut ok = 0;
    for d in &dirs {
        if let Some((fails, line)) = run_oracle(d, want_int) {
            println!("{line}");
            if fails.is_empty() {
                ok += 1;
            }
            let name = d.file_name().unwrap().to_string_lossy().to_string();
            for f in fails.iter().take(6) {
                println!("    {}: {}", f.what, f.detail);
                table.push(format!("{name} | {} | {}", f.what, f.detail));
            }
            if fails.len() > 6 {
                println!("    ... {} more", fails.len() - 6);
                table.push(format!("{name} | ... {} more", fails.len() - 6));
            }
        }
    }
    println!("{ok} models agree");
    if !table.is_empty() {
        panic!(
            "oracle disagreements (model | tensor | difference):\n{}",
            table.join("\n")
        );
    }
}

#[test]
fn oracle_float() {
    run_all(false);
}

#[test]
fn oracle_int() {
    run_all(true);
}

/// `quantscope run`: writes output_<k>.npy equal to the oracle; wrong dtype / count exit 1.
#[test]
fn cli_run_writes_outputs_and_rejects_bad_inputs() {
    let exe = env!("CARGO_BIN_EXE_quantscope");
    let dir = root().join("tests/fixtures/oracle/cnn_f32");
    let model = root().join("tests/fixtures/models/cnn_f32.tflite");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let st = std::process::Command::new(exe)
        .args(["run", model.to_str().unwrap(), "--input"])
        .arg(dir.join("inv0/input_0.npy"))
        .arg("--out")
        .arg(&out)
        .arg("--all-tensors")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let ours = npy::read(&out.join("output_0.npy")).unwrap();
    let want = npy::read(&dir.join("inv0/ref/output_0.npy")).unwrap();
    let (_, _, ok) = compare(&ours, &want, 0).unwrap();
    assert!(ok);
    assert!(
        std::fs::read_dir(&out).unwrap().count() > 2,
        "tensor_<i>.npy files expected"
    );

    // An int8 array for a float input: clear error, exit code 1.
    let bad = tmp.path().join("bad.npy");
    let v = Value::I8(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 32, 32, 3])));
    npy::write(&bad, &v).unwrap();
    let st = std::process::Command::new(exe)
        .args(["run", model.to_str().unwrap(), "--input"])
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(err.contains("expected dtype float32, got int8"), "{err}");

    // No inputs for a one-input model.
    let st = std::process::Command::new(exe)
        .args(["run", model.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&st.stderr).contains("1 input(s)"));
}

/// An op the engine lacks is named with its index before anything runs.
#[test]
fn unsupported_op_is_named_before_running() {
    use quantscope::engine::{kernels, EngineError};
    let model = Model::open(root().join("tests/fixtures/models/cnn_f32.tflite")).unwrap();
    assert!(Engine::new(&model, EngineOptions::default()).is_ok());
    let mut op = model.subgraphs[0].operators[0].clone();
    op.op = "NOT_AN_OP".into();
    assert_eq!(
        kernels::supported(&op, &model, 0),
        Err("not implemented".to_string())
    );
    let e = EngineError::Unsupported(vec![format!("op {} {}: not implemented", op.index, op.op)]);
    assert!(e.to_string().contains("op 0 NOT_AN_OP: not implemented"));
}

/// The cancel flag stops a run at the next op boundary.
#[test]
fn cancel_flag_stops_between_ops() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let model = Model::open(root().join("tests/fixtures/models/cnn_f32.tflite")).unwrap();
    let flag = Arc::new(AtomicBool::new(true));
    let mut e = Engine::new(
        &model,
        EngineOptions {
            cancel: Some(flag),
            ..Default::default()
        },
    )
    .unwrap();
    let x = npy::read(&root().join("tests/fixtures/oracle/cnn_f32/inv0/input_0.npy")).unwrap();
    assert!(matches!(
        e.invoke(&[x]),
        Err(quantscope::engine::EngineError::Cancelled)
    ));
}

/// `run_op_float` reproduces an op of a float model from its float inputs.
#[test]
fn run_op_float_matches_engine() {
    use quantscope::engine::run_op_float;
    let model = Model::open(root().join("tests/fixtures/models/cnn_f32.tflite")).unwrap();
    let mut e = Engine::new(
        &model,
        EngineOptions {
            keep: Keep::All,
            ..Default::default()
        },
    )
    .unwrap();
    let x = npy::read(&root().join("tests/fixtures/oracle/cnn_f32/inv0/input_0.npy")).unwrap();
    let out = e.invoke(&[x]).unwrap();
    let sg = &model.subgraphs[0];
    let op = &sg.operators[0];
    let mut ins = Vec::new();
    for &t in op.inputs.iter().filter(|&&t| t >= 0) {
        let t = t as usize;
        let v = match out.tensors.get(&t) {
            Some(v) => v.clone(),
            None => {
                let meta = &sg.tensors[t];
                let shape: Vec<usize> = meta.shape.iter().map(|&d| d as usize).collect();
                Value::from_constant(model.tensor_data(0, t).unwrap(), meta.dtype, &shape).unwrap()
            }
        };
        ins.push(v.into_f32().unwrap());
    }
    let got = run_op_float(&model, 0, 0, &ins).unwrap();
    let want = out.tensors[&(op.outputs[0] as usize)].as_f32().unwrap();
    assert_eq!(&got[0], want);
}

/// The portable and AVX2 kernels give the same results as the widest ones: the oracle tests
/// again in a child process of this test binary with `QUANTSCOPE_SIMD` lowered (CI machines may
/// lack AVX-512, and every path must be bit-exact on its own).
#[test]
fn oracle_with_fallback_vector_paths() {
    if std::env::var_os("QUANTSCOPE_SIMD").is_some() {
        return; // already the child
    }
    let exe = std::env::current_exe().unwrap();
    for level in ["avx2", "portable"] {
        for test in ["oracle_int", "oracle_float"] {
            let o = std::process::Command::new(&exe)
                .args([test, "--exact", "--nocapture", "--test-threads", "1"])
                .env("QUANTSCOPE_SIMD", level)
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success() && out.contains("models agree"),
                "{test} with QUANTSCOPE_SIMD={level}:\n{out}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}
