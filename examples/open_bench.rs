//! Opening cost against file size: a model is memory-mapped and verified, never read whole, so a
//! 100 MB model should open only milliseconds slower than a 1 MB one.
//!
//! `cargo run --release --no-default-features --example open_bench`

use quantscope::model::{synthetic::FcChain, Model};
use std::time::Instant;

fn time_open(path: &std::path::Path, runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let m = Model::open(path).unwrap();
            std::hint::black_box(m.summary());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[runs / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (label, dim) in [("1 MB", 512usize), ("100 MB", 5120)] {
        let path = dir.path().join(format!("fc_{dim}.tflite"));
        // Four square layers of dim x dim int8 weights.
        FcChain {
            layers: vec![(dim, dim); 4],
            external: false,
            fill: true,
        }
        .write(&path)
        .unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        let ms = time_open(&path, 21);
        println!("{label:>7}: {bytes:>11} bytes, open + verify + summary median {ms:.3} ms");
        rows.push(ms);
    }
    println!(
        "100 MB / 1 MB open time: {:.2}x, difference {:.3} ms",
        rows[1] / rows[0],
        rows[1] - rows[0]
    );
}
