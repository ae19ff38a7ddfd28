//! The fuzz targets' inputs without a fuzzer (no nightly needed): every seed in fuzz/seeds and
//! every crash the fuzzers found (fuzz/regressions, one file per finding), plus cheap mutations
//! of the seeds, run through the same entry points. A panic fails the test.

use quantscope::fuzzing::{engine_bytes, image_bytes, model_bytes};
use std::path::PathBuf;

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && !p.ends_with(".keep"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn run(target: &str, f: fn(&[u8])) {
    let seeds = files(&format!("seeds/{target}"));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    for (name, bytes) in seeds
        .iter()
        .chain(files(&format!("regressions/{target}")).iter())
    {
        eprintln!("{target}: {name}");
        f(bytes);
    }
    // Deterministic mutations: a byte flipped every 97 bytes of each seed, and truncations.
    for (_, bytes) in &seeds {
        for step in [97usize, 251] {
            let mut b = bytes.clone();
            for i in (step / 2..b.len()).step_by(step) {
                b[i] ^= 0x5A;
            }
            f(&b);
        }
        f(&bytes[..bytes.len() / 2]);
    }
}

#[test]
fn model_target_inputs() {
    run("model", model_bytes);
}

#[test]
fn engine_target_inputs() {
    run("engine", engine_bytes);
}

#[test]
fn image_target_inputs() {
    run("image", image_bytes);
}

/// Sparse weights: every byte of a sparse int8 model flipped in turn (most land in the values,
/// segments, indices and sparsity tables) must give an error or a result, never a panic.
#[test]
fn sparse_model_every_byte_flipped() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/engine/sparse_int8.tflite");
    let bytes = std::fs::read(path).unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xFF;
        engine_bytes(&b);
    }
}
