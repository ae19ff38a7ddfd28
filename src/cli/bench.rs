//! `quantscope bench MODEL [--input FILE.npy ...] [--runs N] [--threads T] [--json]`.

use crate::engine::{Engine, EngineOptions, Value};
use crate::model::{DType, Model};
use anyhow::Context;
use half::f16;
use ndarray::{ArrayD, IxDyn};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .tflite file.
    pub model: PathBuf,
    /// One .npy per model input; random inputs when none are given.
    #[arg(long = "input", value_name = "FILE.npy")]
    pub inputs: Vec<PathBuf>,
    /// Timed invocations (after one warm-up).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Worker threads for the kernels.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print {"median_ms", "min_ms", "runs"} as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also print the time per op type (summed over the timed runs, in ms per invocation).
    #[arg(long)]
    pub profile: bool,
    /// Stop with an error after this many seconds (checked between ops).
    #[arg(long)]
    pub timeout: Option<f64>,
}

/// Fixed-seed random inputs: float in [0,1), integers over their range, bool 0/1.
pub fn random_inputs(model: &Model, seed: u64) -> anyhow::Result<Vec<Value>> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    crate::engine::input_meta(model)
        .iter()
        .map(|t| {
            let shape: Vec<usize> = t.shape.iter().map(|&d| d.max(1) as usize).collect();
            let n: usize = shape.iter().product();
            let sh = IxDyn(&shape);
            let mut r = || next();
            Ok(match t.dtype {
                DType::F32 => Value::F32(ArrayD::from_shape_fn(sh, |_| {
                    (r() >> 40) as f32 / (1u64 << 24) as f32
                })),
                DType::F16 => Value::F16(ArrayD::from_shape_fn(sh, |_| {
                    f16::from_f32((r() >> 40) as f32 / (1u64 << 24) as f32)
                })),
                DType::I8 => Value::I8(ArrayD::from_shape_fn(sh, |_| r() as i8)),
                DType::U8 => Value::U8(ArrayD::from_shape_fn(sh, |_| r() as u8)),
                DType::I16 => Value::I16(ArrayD::from_shape_fn(sh, |_| r() as i16)),
                DType::I32 => Value::I32(ArrayD::from_shape_fn(sh, |_| (r() % 3) as i32)),
                DType::I64 => Value::I64(ArrayD::from_shape_fn(sh, |_| (r() % 3) as i64)),
                DType::Bool => Value::Bool(ArrayD::from_shape_fn(sh, |_| r() & 1 == 1)),
                other => anyhow::bail!(
                    "cannot make random input of type {other} for '{}' ({n} values)",
                    t.name
                ),
            })
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    super::Deadline::run(args.timeout, |d| bench(args, d))
}

fn bench(args: Args, deadline: &super::Deadline) -> anyhow::Result<()> {
    let model = super::open_model(&args.model)?;
    let inputs = if args.inputs.is_empty() {
        random_inputs(&model, 0x9e3779b97f4a7c15)?
    } else {
        super::run::read_inputs(&model, &args.inputs)?
    };
    // Per-op timing via the progress callback: time between consecutive callbacks.
    type Prof = std::sync::Mutex<(
        Option<(String, Instant)>,
        std::collections::BTreeMap<String, f64>,
    )>;
    let prof: std::sync::Arc<Prof> = Default::default();
    let mut opts = EngineOptions {
        cancel: deadline.flag.clone(),
        threads: args.threads.max(1),
        ..Default::default()
    };
    if args.profile {
        let p = prof.clone();
        opts.progress = Some(std::sync::Arc::new(move |_k, _n, name: &str| {
            let mut g = p.lock().unwrap();
            let now = Instant::now();
            if let Some((prev, t)) = g.0.take() {
                *g.1.entry(prev).or_insert(0.0) += (now - t).as_secs_f64() * 1e3;
            }
            g.0 = Some((name.to_string(), now));
        }));
    }
    let mut engine =
        Engine::new(&model, opts).with_context(|| format!("{}", args.model.display()))?;
    let runs = args.runs.max(1);
    let mut times = (|| -> anyhow::Result<Vec<f64>> {
        engine.invoke(&inputs)?; // warm-up
        *prof.lock().unwrap() = Default::default();
        let mut t = Vec::with_capacity(runs);
        for _ in 0..runs {
            let s = Instant::now();
            engine.invoke(&inputs)?;
            t.push(s.elapsed().as_secs_f64() * 1e3);
            if args.profile {
                let mut g = prof.lock().unwrap();
                if let Some((prev, t0)) = g.0.take() {
                    *g.1.entry(prev).or_insert(0.0) += t0.elapsed().as_secs_f64() * 1e3;
                }
            }
        }
        Ok(t)
    })()?;
    times.sort_by(|a, b| a.total_cmp(b));
    let median = if runs % 2 == 1 {
        times[runs / 2]
    } else {
        (times[runs / 2 - 1] + times[runs / 2]) / 2.0
    };
    let min = times[0];
    if args.profile {
        let g = prof.lock().unwrap();
        let mut v: Vec<(&String, &f64)> = g.1.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1));
        for (name, ms) in v {
            eprintln!("  {name:28} {:9.3} ms/invocation", ms / runs as f64);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"median_ms": median, "min_ms": min, "runs": runs})
        );
    } else {
        println!(
            "{}: median {median:.3} ms, min {min:.3} ms over {runs} runs ({} thread(s))",
            args.model.display(),
            args.threads.max(1)
        );
    }
    Ok(())
}
