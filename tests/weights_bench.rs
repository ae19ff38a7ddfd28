//! Throughput of `quant::analyze` on synthetic models (~512 MiB of weights), run in release:
//!
//!     cargo test --release --no-default-features --test weights_bench -- --ignored --nocapture
//!
//! Three figures: statistics of a 512 MiB int8 per-channel model (one pass); errors of a
//! 128 MiB int8 model against its 512 MiB float32 twin (bytes of both read); simulated int8
//! per-channel quantization of the 512 MiB float32 model (two passes over it).

mod weights_common;

use quantscope::model::Model;
use quantscope::quant::{analyze, Options, Scheme};
use std::time::Instant;
use tract_tflite::tflite::{BuiltinOperator as B, TensorType};
use weights_common::{build, op, T};

const IN: usize = 32768;

fn lcg(seed: u64, n: usize) -> impl Iterator<Item = f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n).map(move |_| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Sum of two uniforms: a bell-ish shape in [-1, 1).
        let a = ((x >> 40) as f32) / (1u64 << 24) as f32;
        let b = (((x >> 16) & 0xFF_FFFF) as f32) / (1u64 << 24) as f32;
        a + b - 1.0
    })
}

/// A chain of `layers` FULLY_CONNECTED layers [out, IN] (dynamic-range layout), int8
/// per-channel or float32.
fn fc_model(layers: usize, out: usize, int8: bool) -> Vec<u8> {
    let mut tensors = Vec::new();
    let mut ops = Vec::new();
    tensors.push(T::act("x", TensorType::FLOAT32, &[1, IN as i32], None));
    for k in 0..layers {
        let vals: Vec<f32> = lcg(k as u64, out * IN).collect();
        let name = format!("dense_{k}/weights");
        let shape = [out as i32, IN as i32];
        let w = if int8 {
            // Per-row symmetric scale max|x| / 127, as the converter does.
            let mut scales = Vec::with_capacity(out);
            let mut q = Vec::with_capacity(out * IN);
            for row in vals.chunks_exact(IN) {
                let m = row.iter().fold(0f32, |a, v| a.max(v.abs()));
                let s = m / 127.0;
                scales.push(s);
                q.extend(
                    row.iter()
                        .map(|v| (v / s).round().clamp(-127.0, 127.0) as i8),
                );
            }
            T::i8(&name, &shape, &q, (scales, vec![0; out], 0))
        } else {
            T::f32(&name, &shape, &vals)
        };
        tensors.push(w);
        let o = tensors.len() as i32;
        tensors.push(T::act(
            &format!("y_{k}"),
            TensorType::FLOAT32,
            &[1, out as i32],
            None,
        ));
        ops.push(op(B::FULLY_CONNECTED, &[o - 2, o - 1, -1], &[o]));
    }
    // Inputs of op k: previous activation (tensor 0 or y_{k-1}), weights; shapes are not
    // consistent across layers (out != IN), which the analysis never looks at.
    build(&tensors, &ops)
}

fn time(label: &str, bytes: u64, f: impl Fn()) -> f64 {
    f(); // warm-up (page cache, thread pool)
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let gbs = bytes as f64 / best / 1e9;
    println!(
        "{label}: {:.1} MB in {:.3} s = {gbs:.2} GB/s ({} threads)",
        bytes as f64 / 1e6,
        best,
        rayon::current_num_threads()
    );
    gbs
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn weights_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let p_big8 = dir.path().join("big_int8.tflite");
    let p_q = dir.path().join("q_int8.tflite");
    let p_f = dir.path().join("f32.tflite");
    std::fs::write(&p_big8, fc_model(4, 4096, true)).unwrap();
    std::fs::write(&p_q, fc_model(4, 1024, true)).unwrap();
    std::fs::write(&p_f, fc_model(4, 1024, false)).unwrap();
    let big8 = Model::open(&p_big8).unwrap();
    let q = Model::open(&p_q).unwrap();
    let f = Model::open(&p_f).unwrap();
    let wbytes = |m: &Model| -> u64 {
        m.subgraphs[0]
            .tensors
            .iter()
            .filter(|t| t.is_constant)
            .map(|t| t.buffer_bytes as u64)
            .sum()
    };
    let opts = Options::default();
    let stats = time(
        "int8 statistics (512 MiB, 4 x [4096, 32768] per-channel)",
        wbytes(&big8),
        || {
            let r = analyze(&big8, None, &opts).unwrap();
            assert_eq!(r.tensors.len(), 4);
        },
    );
    let paired = time(
        "int8 vs float32 twin (128 MiB + 512 MiB)",
        wbytes(&q) + wbytes(&f),
        || {
            let r = analyze(&q, Some(&f), &opts).unwrap();
            assert_eq!(r.rollup.tensors_compared, 4);
            assert!(r.rollup.overall_sqnr_db.unwrap() > 30.0);
        },
    );
    let sim_opts = Options {
        simulate: Some(Scheme::default()),
        channel_histograms: false,
    };
    let sim = time(
        "simulated int8 per-channel of float32 (512 MiB, 2 passes)",
        wbytes(&f),
        || {
            let r = analyze(&f, None, &sim_opts).unwrap();
            assert_eq!(r.rollup.tensors_compared, 4);
        },
    );
    println!(
        "summary: statistics {stats:.2} GB/s, paired {paired:.2} GB/s, simulated {sim:.2} GB/s"
    );
}
