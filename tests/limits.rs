//! Allocation limits: a file that declares enormous shapes is an error, not an abort; the
//! per-tensor budget is configurable; `--timeout` stops work before, and during, a run.

mod common;
mod weights_common;

use quantscope::engine::{limits, Engine, EngineOptions};
use quantscope::model::Model;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The tensor budget is process-wide: tests that build engines here take this lock, so the one
/// that lowers the budget cannot fail the others.
fn budget_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts the budget back even when an assertion fails.
struct RestoreBudget(usize);

impl Drop for RestoreBudget {
    fn drop(&mut self) {
        limits::set_max_tensor_bytes(self.0);
    }
}

fn patch_shape(bytes: &mut [u8], from: &[i32], to: &[i32]) -> usize {
    let enc = |v: &[i32]| -> Vec<u8> {
        let mut out = (v.len() as u32).to_le_bytes().to_vec();
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    };
    let (a, b) = (enc(from), enc(to));
    let mut n = 0;
    let mut i = 0;
    while i + a.len() <= bytes.len() {
        if bytes[i..i + a.len()] == a[..] {
            bytes[i..i + a.len()].copy_from_slice(&b);
            n += 1;
        }
        i += 1;
    }
    n
}

#[test]
fn huge_declared_shapes_are_refused_before_allocation() {
    let _lock = budget_lock();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/cnn_f32.tflite");
    let mut bytes = std::fs::read(path).unwrap();
    // The input and first activation shapes become about 2^31 x 2^31 elements.
    let n = patch_shape(&mut bytes, &[1, 32, 32, 3], &[1, i32::MAX, i32::MAX, 3]);
    assert!(n >= 1);
    let model = Model::from_bytes(bytes).expect("still a readable model: inspect must work");
    let _ = model.summary();
    let err = Engine::new(&model, EngineOptions::default())
        .err()
        .expect("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains("byte limit") || msg.contains("overflows"),
        "{msg}"
    );
}

/// `limits::set_max_tensor_bytes` really moves the limit: a model whose largest tensor is
/// exactly the budget prepares, one byte less is refused naming the limit, and the default
/// (4 GiB) comes back.
#[test]
fn budget_is_configurable() {
    let _lock = budget_lock();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/cnn_f32.tflite");
    let model = Model::open(path).unwrap();
    let default = limits::max_tensor_bytes();
    assert_eq!(default, 4 << 30, "the documented default");
    let _restore = RestoreBudget(default);
    // The largest tensor the engine allocates (activations; constants stay in the file).
    let largest = model.subgraphs[0]
        .tensors
        .iter()
        .filter(|t| !t.is_constant)
        .map(|t| {
            let n: usize = t.shape.iter().map(|&d| d as usize).product();
            t.dtype.storage_bytes(n).unwrap()
        })
        .max()
        .unwrap();
    assert!(largest > 1000, "{largest}");

    limits::set_max_tensor_bytes(largest);
    assert_eq!(limits::max_tensor_bytes(), largest);
    assert!(Engine::new(&model, EngineOptions::default()).is_ok());
    limits::set_max_tensor_bytes(largest - 1);
    let msg = Engine::new(&model, EngineOptions::default())
        .err()
        .expect("one byte under the largest tensor must be refused")
        .to_string();
    assert!(
        msg.contains(&format!(
            "needs {largest} bytes, over the {} byte limit",
            largest - 1
        )),
        "{msg}"
    );

    // check_alloc at the boundary: 250 f32 = 1000 bytes fit a 1000-byte budget, 251 do not.
    limits::set_max_tensor_bytes(1000);
    assert!(limits::check_alloc(&[250], 4, "x").is_ok());
    let msg = limits::check_alloc(&[251], 4, "x").unwrap_err().to_string();
    assert!(
        msg.contains("needs 1004 bytes, over the 1000 byte limit"),
        "{msg}"
    );
    assert!(limits::check_alloc(&[usize::MAX, 2], 4, "x").is_err());

    limits::set_max_tensor_bytes(default);
    assert!(limits::check_alloc(&[1, 32, 32, 3], 4, "x").is_ok());
    assert!(Engine::new(&model, EngineOptions::default()).is_ok());
}

/// Puts the work limit back even when an assertion fails.
struct RestoreWork(u64);

impl Drop for RestoreWork {
    fn drop(&mut self) {
        limits::set_max_op_work(self.0);
    }
}

/// A pooling window is two integers in the file, so one op's cost can be hours: the work limit
/// refuses it before it runs, naming the op and its count. The pool fixtures (1x9x9x4 input)
/// cost, by hand (outputs x window clipped to the input): AVERAGE_POOL_2D 3x3 VALID stride 2
/// 5x5x4 x 9 = 900, 3x3 SAME stride 1 7x7x4 x 9 = 1764, 2x3 VALID 9x5x4 x 6 = 1080,
/// MAX_POOL_2D 900 and 2x2 SAME stride 2 4x4x4 x 4 = 256: 1764 steps run, 1763 do not.
#[test]
fn pool_work_limit_is_exact_and_configurable() {
    use quantscope::engine::Value;
    let _lock = budget_lock();
    let default = limits::max_op_work();
    assert_eq!(default, 1 << 36, "the documented default");
    let _restore = RestoreWork(default);
    let mut checked = 0;
    for (name, dtype) in [
        ("op_pool_int8", quantscope::model::DType::I8),
        ("op_pool_f32", quantscope::model::DType::F32),
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/models/{name}.tflite"));
        let model = Model::open(path).unwrap();
        let x = Value::zeros(dtype, &[1, 9, 9, 4]).unwrap();
        limits::set_max_op_work(1764);
        let mut engine = Engine::new(&model, EngineOptions::default()).unwrap();
        let outs = engine
            .invoke(std::slice::from_ref(&x))
            .expect("1764 steps fit");
        assert_eq!(outs.outputs.len(), 5, "{name}");
        limits::set_max_op_work(1763);
        let msg = engine.invoke(&[x]).err().expect("must refuse").to_string();
        assert!(
            msg.contains(
                "AVERAGE_POOL_2D: a 3x3 window over 1x7x7x4 outputs of a 9x9 input is 1764 \
                 steps, over the limit of 1763 per op"
            ),
            "{name}: {msg}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);

    // check_work at the boundary, and a product that overflows u64 saturates (refused).
    limits::set_max_op_work(1000);
    assert!(limits::check_work(&[4, 250], "x").is_ok());
    let msg = limits::check_work(&[7, 143], "x").unwrap_err().to_string();
    assert!(
        msg.contains("x is 1001 steps, over the limit of 1000 per op"),
        "{msg}"
    );
    limits::set_max_op_work(u64::MAX - 1);
    assert!(limits::check_work(&[usize::MAX, 3], "x").is_err());
    limits::set_max_op_work(default);
    assert_eq!(limits::max_op_work(), 1 << 36);
}

/// `--timeout` on every command that runs a model: an expired deadline stops the work with the
/// one clear message and exit code 1 (0 s is expired from the start, so this is deterministic),
/// while a generous one changes nothing.
#[test]
fn cli_timeout_stops_run_compare_and_bench() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let f32m = root.join("assets/digits_f32.tflite");
    let int8 = root.join("assets/digits_int8.tflite");
    let img = root.join("assets/samples/digit_2_0.png");
    let out = tempfile::tempdir().unwrap();
    let (f, q, i, o) = (
        f32m.to_str().unwrap(),
        int8.to_str().unwrap(),
        img.to_str().unwrap(),
        out.path().to_str().unwrap(),
    );
    let cmds: [Vec<&str>; 3] = [
        vec!["run", q, "--image", i, "--out", o],
        vec!["compare", f, q, "--image", i],
        vec!["bench", q, "--runs", "3"],
    ];
    for args in cmds {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
            .args(&args)
            .args(["--timeout", "0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("took longer than --timeout 0s"),
            "{args:?}: {err}"
        );
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
            .args(&args)
            .args(["--timeout", "600"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Sizes that come from tensor data (PAD's paddings here) are checked against the budget before
/// the output is allocated, like declared shapes.
#[test]
fn data_dependent_output_sizes_are_refused_before_allocation() {
    use quantscope::engine::Value;
    let _lock = budget_lock();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/op_pad_f32.tflite");
    let mut bytes = std::fs::read(&path).unwrap();
    let model = Model::from_bytes(bytes.clone()).unwrap();
    let pads = model.tensor_data(0, 1).unwrap().to_vec();
    assert_eq!(pads.len(), 32, "Pad/paddings is int32 [4, 2]");
    let big: Vec<u8> = [0i32, 0, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 0, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let at = bytes
        .windows(32)
        .position(|w| w == &pads[..])
        .expect("paddings in the file");
    bytes[at..at + 32].copy_from_slice(&big);
    let model = Model::from_bytes(bytes).unwrap();
    let mut engine = Engine::new(&model, EngineOptions::default()).unwrap();
    let x = Value::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 4, 4, 3])));
    let msg = engine.invoke(&[x]).err().expect("must refuse").to_string();
    assert!(
        msg.contains("padded output") && (msg.contains("byte limit") || msg.contains("overflows")),
        "{msg}"
    );
}

/// A float model that takes many seconds in one invocation while its file stays small:
/// `layers` FULLY_CONNECTED ops over a [batch, width] activation, all sharing one weight tensor.
fn slow_fc_model(layers: usize, batch: i32, width: i32) -> Vec<u8> {
    use tract_tflite::tflite::{BuiltinOperator, TensorType};
    use weights_common::{build, op, T};
    let w: Vec<f32> = (0..width * width)
        .map(|i| ((i % 17) as f32 - 8.0) / (8.0 * width as f32))
        .collect();
    let mut tensors = vec![
        T::act("input", TensorType::FLOAT32, &[batch, width], None),
        T::f32("weights", &[width, width], &w),
    ];
    let mut ops = Vec::new();
    for k in 0..layers {
        tensors.push(T::act(
            &format!("act_{k}"),
            TensorType::FLOAT32,
            &[batch, width],
            None,
        ));
        let input = if k == 0 { 0 } else { k as i32 + 1 };
        ops.push(op(
            BuiltinOperator::FULLY_CONNECTED,
            &[input, 1, -1],
            &[k as i32 + 2],
        ));
    }
    build(&tensors, &ops)
}

/// A timeout that expires in the middle of one invocation: the engine stops at the next op
/// boundary, so `run` and `bench` return promptly with the timeout message instead of
/// finishing a run that takes far longer.
#[test]
fn cli_timeout_expires_during_a_run() {
    use quantscope::engine::{npy, Value};
    let dir = tempfile::tempdir().unwrap();
    // 8000 layers: the float FULLY_CONNECTED runs on the packed GEMM (issue #11), ~1 ms per op
    // in release on a quiet machine, and the full run must stay far above the timeout.
    let (layers, batch, width) = (8000, 256, 512);
    let model = dir.path().join("slow_fc.tflite");
    std::fs::write(&model, slow_fc_model(layers, batch, width)).unwrap();
    let input = dir.path().join("x.npy");
    let x =
        ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[batch as usize, width as usize]), |i| {
            (i[1] % 5) as f32 * 0.1
        });
    npy::write(&input, &Value::F32(x)).unwrap();

    // What one op costs here, from a few runs of a 20-layer copy, so that the assertions below
    // are about the timer and not this machine's speed.
    let short = dir.path().join("short_fc.tflite");
    std::fs::write(&short, slow_fc_model(20, batch, width)).unwrap();
    let m = Model::open(&short).unwrap();
    let mut e = Engine::new(&m, EngineOptions::default()).unwrap();
    let xv = npy::read(&input).unwrap();
    let mut per_op = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        e.invoke(std::slice::from_ref(&xv)).unwrap();
        per_op = per_op.min(t.elapsed().as_secs_f64() / 20.0);
    }
    let full_run = per_op * layers as f64;
    let timeout = 0.3;
    assert!(
        full_run > 10.0 * timeout,
        "the slow model is too fast here ({full_run:.2} s for {layers} ops): make it bigger"
    );

    let (m, i, o) = (
        model.to_str().unwrap(),
        input.to_str().unwrap(),
        dir.path().join("out"),
    );
    let cmds: [Vec<&str>; 2] = [
        vec!["run", m, "--input", i, "--out", o.to_str().unwrap()],
        vec!["bench", m, "--input", i, "--runs", "3"],
    ];
    for args in cmds {
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
            .args(&args)
            .args(["--timeout", &timeout.to_string()])
            .output()
            .unwrap();
        let took = t.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("took longer than --timeout {timeout}s")),
            "{args:?}: {err}"
        );
        // Promptly: the deadline plus start-up and one op, with slack for a loaded machine,
        // and far below the uninterrupted run.
        let bound = Duration::from_secs_f64((timeout + 3.0).min(full_run / 2.0));
        assert!(
            took < bound,
            "{args:?} took {took:?} with --timeout {timeout} (one op {:.1} ms, full run {full_run:.1} s)",
            per_op * 1e3
        );
        common::say(&format!(
            "--timeout {timeout} during a {full_run:.1} s run ({args0}): stopped after {:.2} s",
            took.as_secs_f64(),
            args0 = args[0]
        ));
    }
}
