//! The engine against the official interpreter: every `tests/fixtures/oracle/*/manifest.json`.
//!
//! Integer tensors must match the reference kernels (`ref`) bit for bit, compared as integers;
//! float tensors within 1e-4 * max|ref| (absolute). Where the reference kernels could not run
//! (`ref: null`) the default kernels' outputs (`builtin`) are compared with a tolerance (a few
//! units for ints).
//!
//! Every count is asserted against what the manifests list (models, invocations, outputs,
//! saved intermediates, integer and float tensors): a manifest that cannot be read, that
//! records an interpreter error, or whose invocation has neither `ref` nor `builtin` results
//! fails the test instead of being dropped. The counts are printed on stderr.
//!
//! `oracle_float` / `oracle_int` cover the fixture models (split by whether the manifest lists
//! quantized integer tensors); `shared_oracle_float` / `shared_oracle_int` the `../shared`
//! models, `#[ignore = "needs ../shared"]` (`.ci/run` runs them). `ORACLE_FILTER=substring`
//! restricts all of them to matching oracle folder names.

mod common;
#[path = "common/oracle.rs"]
mod oracle;

use common::{is_shared, say};
use oracle::{compare, Counts, Diff};
use quantscope::engine::{npy, Engine, EngineOptions, Keep, Value};
use quantscope::model::Model;
use serde_json::Value as J;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    common::repo()
}

/// Whether the interpreter listed quantized integer tensors (int4 is reported as int8).
fn manifest_is_int(man: &J) -> Result<bool, String> {
    let ts = man["tensors"].as_array().ok_or("no \"tensors\" list")?;
    Ok(ts.iter().any(|t| {
        matches!(t["dtype"].as_str(), Some("int8" | "uint8" | "int16"))
            && t["quantization"]["scales"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
    }))
}

/// Tensors whose reference values come from ai-edge-litert 2.3.0's broken reference SUM for
/// int8/int16 (it reads those buffers through its uint8 instantiation): the outputs of such
/// SUMs and everything computed from them. The engine follows the optimized kernels there
/// (see `kernels/int/pool.rs`), so these are checked against the default resolver's outputs
/// (`builtin`) instead: exactly for a SUM's own output, within 3 units downstream.
fn ref_sum_exception(man: &J) -> HashMap<usize, i64> {
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
    let mut tainted = HashMap::new();
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

/// The oracle of one invocation: the reference kernels' results, else the default kernels'
/// (with the integer tolerance for each), else the manifest is unusable.
fn oracle_of(inv: &J) -> Result<(&J, i64, &'static str), String> {
    if !inv["ref"].is_null() {
        Ok((&inv["ref"], 0, "ref"))
    } else if !inv["builtin"].is_null() {
        Ok((&inv["builtin"], 3, "builtin"))
    } else {
        Err(format!(
            "neither ref nor builtin results (ref_error: {}, builtin_error: {})",
            inv["ref_error"], inv["builtin_error"]
        ))
    }
}

fn str_list(v: &J, what: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or(format!("{what} is not a list"))?
        .iter()
        .map(|p| {
            p.as_str()
                .map(str::to_string)
                .ok_or(format!("{what} holds a non-string"))
        })
        .collect()
}

/// What one manifest says must be compared, from the JSON alone (no engine, no npy files):
/// each output and saved tensor, sorted into integer/float by the dtype the interpreter listed.
fn expected_counts(man: &J) -> Result<Counts, String> {
    let dtypes: HashMap<usize, String> = man["tensors"]
        .as_array()
        .ok_or("no \"tensors\" list")?
        .iter()
        .map(|t| -> Result<(usize, String), String> {
            Ok((
                t["index"].as_u64().ok_or("tensor without index")? as usize,
                t["dtype"]
                    .as_str()
                    .ok_or("tensor without dtype")?
                    .to_string(),
            ))
        })
        .collect::<Result<_, String>>()?;
    let outs: Vec<usize> = man["outputs"]
        .as_array()
        .ok_or("no \"outputs\" list")?
        .iter()
        .map(|o| o["index"].as_u64().map(|i| i as usize))
        .collect::<Option<_>>()
        .ok_or("output without index")?;
    let sums = ref_sum_exception(man);
    let invs = man["invocations"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("no invocations")?;
    let mut c = Counts {
        models: 1,
        ..Default::default()
    };
    let tally = |c: &mut Counts, t: usize, tol: i64| -> Result<(), String> {
        match dtypes.get(&t).map(String::as_str) {
            Some("float32" | "float16") => c.float += 1,
            Some(_) if tol == 0 => c.int_exact += 1,
            Some(_) => c.int_near += 1,
            None => return Err(format!("tensor {t} is not in the manifest's tensor list")),
        }
        Ok(())
    };
    for (k, inv) in invs.iter().enumerate() {
        let (oracle, tol, label) = oracle_of(inv).map_err(|e| format!("inv{k}: {e}"))?;
        c.invocations += 1;
        let n_out = str_list(&oracle["outputs"], "outputs")?.len();
        if n_out != outs.len() {
            return Err(format!(
                "inv{k}: {n_out} {label} outputs for {} model outputs",
                outs.len()
            ));
        }
        for &t in &outs {
            c.outputs += 1;
            let tol = match sums.get(&t) {
                Some(&s) if label == "ref" => s,
                _ => tol,
            };
            tally(&mut c, t, tol)?;
        }
        if let Some(ts) = oracle.get("tensors").and_then(J::as_object) {
            for key in ts.keys() {
                let t: usize = key
                    .parse()
                    .map_err(|_| format!("inv{k}: tensor key {key:?}"))?;
                if label == "ref" && sums.contains_key(&t) {
                    c.not_checked += 1;
                } else {
                    c.intermediates += 1;
                    tally(&mut c, t, tol)?;
                }
            }
        }
    }
    Ok(c)
}

/// Runs one oracle folder: what was compared and agreed, the disagreements, a summary line.
/// `Err` when the manifest or its files cannot be used at all.
fn run_oracle(dir: &Path, man: &J) -> Result<(Counts, Vec<Diff>, String), String> {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let rel = man["model"].as_str().ok_or("no \"model\" path")?;
    let model_path = common::resolve(rel);
    if !model_path.exists() {
        return Err(format!("model {} absent", model_path.display()));
    }
    let model = Model::open(&model_path).map_err(|e| format!("cannot open: {e}"))?;
    let mut engine = Engine::new(
        &model,
        EngineOptions {
            keep: Keep::All,
            ..Default::default()
        },
    )
    .map_err(|e| {
        let first: Vec<String> = e.to_string().lines().take(4).map(String::from).collect();
        format!("cannot prepare: {}", first.join(" | "))
    })?;
    let mut got = Counts {
        models: 1,
        ..Default::default()
    };
    let mut fails = Vec::new();
    let sum_exception = ref_sum_exception(man);
    let out_index: Vec<usize> = man["outputs"]
        .as_array()
        .ok_or("no \"outputs\" list")?
        .iter()
        .filter_map(|o| o["index"].as_u64().map(|i| i as usize))
        .collect();
    let read = |p: &str| npy::read(&dir.join(p)).map_err(|e| format!("{p}: {e}"));
    let mut worst_float = 0f64;
    let invs = man["invocations"].as_array().ok_or("no invocations")?;
    for (k, inv) in invs.iter().enumerate() {
        let inputs: Vec<Value> = str_list(&inv["inputs"], "inputs")?
            .iter()
            .map(|p| read(p))
            .collect::<Result<_, _>>()?;
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
        let (oracle, int_tol, label) = oracle_of(inv).map_err(|e| format!("inv{k}: {e}"))?;
        got.invocations += 1;
        let mut check = |what: String,
                         ours: Option<&Value>,
                         path: &str,
                         int_tol: i64,
                         label: &str,
                         output: bool|
         -> Result<(), String> {
            let want = read(path)?;
            let Some(o) = ours else {
                fails.push(Diff {
                    what,
                    detail: "not computed".into(),
                });
                return Ok(());
            };
            match compare(o, &want, int_tol) {
                Err(m) => fails.push(Diff { what, detail: m }),
                Ok(c) if !c.ok => fails.push(Diff {
                    what,
                    detail: format!("max diff {:.3e} (max|{label}| {:.3e})", c.maxd, c.maxr),
                }),
                Ok(c) => {
                    if c.float {
                        got.float += 1;
                        if c.maxr > 0.0 {
                            worst_float = worst_float.max(c.maxd / c.maxr);
                        }
                    } else if int_tol == 0 {
                        got.int_exact += 1;
                    } else {
                        got.int_near += 1;
                    }
                    if output {
                        got.outputs += 1;
                    } else {
                        got.intermediates += 1;
                    }
                    if label == "builtin" && c.maxd > 0.0 {
                        println!("  {name} inv{k}: vs builtin max diff {:.3e}", c.maxd);
                    }
                }
            }
            Ok(())
        };
        for (i, p) in str_list(&oracle["outputs"], "outputs")?.iter().enumerate() {
            let what = format!("inv{k} output {i}");
            match out_index.get(i).and_then(|t| sum_exception.get(t)) {
                Some(&tol) if label == "ref" => {
                    let p = inv["builtin"]["outputs"]
                        .get(i)
                        .and_then(J::as_str)
                        .ok_or(format!("{what}: after an int SUM, no builtin result"))?;
                    check(
                        what + " (int SUM)",
                        out.outputs.get(i),
                        p,
                        tol,
                        "builtin",
                        true,
                    )?;
                }
                _ => check(what, out.outputs.get(i), p, int_tol, label, true)?,
            }
        }
        if let Some(ts) = oracle.get("tensors").and_then(J::as_object) {
            let mut keys: Vec<(usize, &J)> = ts
                .iter()
                .map(|(k, v)| -> Result<(usize, &J), String> {
                    Ok((k.parse().map_err(|_| format!("tensor key {k:?}"))?, v))
                })
                .collect::<Result<_, String>>()?;
            keys.sort_by_key(|x| x.0);
            for (t, p) in keys {
                if label == "ref" && sum_exception.contains_key(&t) {
                    got.not_checked += 1;
                    continue;
                }
                let tname = model.subgraphs[0]
                    .tensors
                    .get(t)
                    .map(|x| x.name.as_str())
                    .unwrap_or("?");
                let p = p.as_str().ok_or(format!("tensor {t}: not a path"))?;
                check(
                    format!("inv{k} tensor {t} '{tname}'"),
                    out.tensors.get(&t),
                    p,
                    int_tol,
                    label,
                    false,
                )?;
            }
        }
    }
    let line = if fails.is_empty() {
        format!(
            "{name}: ok ({} tensors compared, worst float rel diff {worst_float:.1e})",
            got.outputs + got.intermediates
        )
    } else {
        format!(
            "{name}: FAIL ({} differ, {} agree)",
            fails.len(),
            got.outputs + got.intermediates
        )
    };
    Ok((got, fails, line))
}

/// The oracle folders of one test: (folder, its manifest or why it cannot be read). A folder
/// whose manifest cannot be read belongs to every test, so that all of them fail.
fn oracle_dirs(shared: bool, want_int: bool) -> Vec<(PathBuf, Result<J, String>)> {
    let filter = std::env::var("ORACLE_FILTER").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/oracle"))
        .expect("tests/fixtures/oracle")
        .map(|e| e.expect("oracle folder entry").path())
        .filter(|p| p.is_dir())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(&filter))
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for d in dirs {
        let man = std::fs::read_to_string(d.join("manifest.json"))
            .map_err(|e| format!("manifest.json: {e}"))
            .and_then(|s| serde_json::from_str::<J>(&s).map_err(|e| format!("manifest.json: {e}")))
            .and_then(|m| match m.get("error") {
                Some(e) => Err(format!("the interpreter could not run it: {e}")),
                None => Ok(m),
            });
        let belongs = match &man {
            Err(_) => true,
            Ok(m) => match (m["model"].as_str(), manifest_is_int(m)) {
                (Some(rel), Ok(int)) => is_shared(rel) == shared && int == want_int,
                _ => true,
            },
        };
        if belongs {
            out.push((d, man));
        }
    }
    out
}

/// The counts one test must reach, from the manifests alone.
fn expected_for(shared: bool, want_int: bool) -> Result<Counts, Vec<String>> {
    let mut expected = Counts::default();
    let mut errors = Vec::new();
    for (d, man) in oracle_dirs(shared, want_int) {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        match man.and_then(|m| expected_counts(&m)) {
            Ok(c) => expected.add(&c),
            Err(e) => errors.push(format!("{name} | manifest | {e}")),
        }
    }
    if errors.is_empty() {
        Ok(expected)
    } else {
        Err(errors)
    }
}

fn test_name(shared: bool, want_int: bool) -> &'static str {
    match (shared, want_int) {
        (false, false) => "oracle_float",
        (false, true) => "oracle_int",
        (true, false) => "shared_oracle_float",
        (true, true) => "shared_oracle_int",
    }
}

fn run_all(shared: bool, want_int: bool) {
    let test = test_name(shared, want_int);
    if shared {
        common::require_shared();
    }
    let mut table = Vec::new();
    let mut expected = Counts::default();
    let mut got = Counts::default();
    let mut agree = 0;
    for (d, man) in oracle_dirs(shared, want_int) {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let man = match man.and_then(|m| expected_counts(&m).map(|c| (m, c))) {
            Ok((m, c)) => {
                expected.add(&c);
                m
            }
            Err(e) => {
                println!("{name}: FAIL (manifest: {e})");
                table.push(format!("{name} | manifest | {e}"));
                continue;
            }
        };
        match run_oracle(&d, &man) {
            Err(e) => {
                println!("{name}: FAIL ({e})");
                table.push(format!("{name} | - | {e}"));
            }
            Ok((c, fails, line)) => {
                println!("{line}");
                got.add(&c);
                if fails.is_empty() {
                    agree += 1;
                }
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
    }
    let simd = quantscope::engine::simd::describe();
    say(&format!(
        "{test} ({simd}): {agree} models agree; {} invocations; {} outputs + {} saved \
         intermediates; {} integer bit-exact, {} integer within 3 units of the default kernels, \
         {} float within 1e-4; {} intermediates after an int SUM not checked",
        got.invocations,
        got.outputs,
        got.intermediates,
        got.int_exact,
        got.int_near,
        got.float,
        got.not_checked
    ));
    println!("{}", got.line(test));
    if !table.is_empty() {
        panic!(
            "oracle disagreements (model | tensor | difference):\n{}",
            table.join("\n")
        );
    }
    assert_eq!(
        got, expected,
        "{test}: compared (left) vs the manifests (right)"
    );
    assert_eq!(agree, expected.models);
    if std::env::var_os("ORACLE_FILTER").is_none() {
        assert!(expected.models > 0, "{test}: no oracle models at all");
    }
}

#[test]
fn oracle_float() {
    run_all(false, false);
}

#[test]
fn oracle_int() {
    run_all(false, true);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_oracle_float() {
    run_all(true, false);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_oracle_int() {
    run_all(true, true);
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
    assert!(compare(&ours, &want, 0).unwrap().ok);
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
    // The registry is keyed by the builtin code: LSH_PROJECTION has no kernel.
    op.builtin_code = 15;
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

/// Runs the oracle tests again in child processes of this test binary with `QUANTSCOPE_SIMD`
/// lowered, and requires each child to report exactly the counts the manifests ask for (never
/// "0 models agree").
fn fallback_vector_paths(shared: bool) {
    if let Some(level) = std::env::var_os("QUANTSCOPE_SIMD") {
        say(&format!(
            "oracle fallback paths: not rerun, QUANTSCOPE_SIMD={} already set (the oracle tests \
             of this run use it)",
            level.to_string_lossy()
        ));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for level in ["avx2", "portable"] {
        for want_int in [true, false] {
            let test = test_name(shared, want_int);
            let expected = expected_for(shared, want_int)
                .unwrap_or_else(|e| panic!("unreadable manifests:\n{}", e.join("\n")));
            let mut cmd = std::process::Command::new(&exe);
            cmd.args([test, "--exact", "--nocapture", "--test-threads", "1"]);
            if shared {
                cmd.arg("--ignored");
            }
            let o = cmd.env("QUANTSCOPE_SIMD", level).output().unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                o.status.success(),
                "{test} with QUANTSCOPE_SIMD={level}:\n{out}\n{err}"
            );
            let got = Counts::parse(&out, test).unwrap_or_else(|| {
                panic!("{test} with QUANTSCOPE_SIMD={level}: no counts line (did it run?)\n{out}")
            });
            assert_eq!(got, expected, "{test} with QUANTSCOPE_SIMD={level}");
            if std::env::var_os("ORACLE_FILTER").is_none() {
                assert!(
                    got.models > 0,
                    "{test} with QUANTSCOPE_SIMD={level}: 0 models"
                );
            }
            say(&format!(
                "{test} with QUANTSCOPE_SIMD={level}: {} models, {} tensors agree",
                got.models,
                got.outputs + got.intermediates
            ));
        }
    }
}

/// The portable and AVX2 kernels give the same results as the widest ones: the oracle tests
/// again with `QUANTSCOPE_SIMD` lowered (CI machines may lack AVX-512, and every path must be
/// bit-exact on its own).
#[test]
fn oracle_with_fallback_vector_paths() {
    fallback_vector_paths(false);
}

#[test]
#[ignore = "needs ../shared"]
fn shared_oracle_with_fallback_vector_paths() {
    common::require_shared();
    fallback_vector_paths(true);
}

/// The counts line survives a round trip, and a run without one is no pass.
#[test]
fn counts_line_round_trips() {
    let c = Counts::from_fields([1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(Counts::parse(&c.line("t"), "t"), Some(c));
    assert_eq!(Counts::parse("0 models agree", "t"), None);
    assert_eq!(Counts::parse("t counts: models=1", "t"), None);
}
