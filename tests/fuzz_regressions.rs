//! The fuzz targets' inputs without a fuzzer (no nightly needed): every seed in fuzz/seeds and
//! every crash the fuzzers found (fuzz/regressions, one file per finding), plus cheap mutations
//! of the seeds, run through the same entry points. A panic fails the test.

mod common;

use quantscope::fuzzing::{engine_bytes, image_bytes, model_bytes};
use std::path::PathBuf;

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir);
    // The folders are committed (with a .keep when empty): a missing one is an error.
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with(".keep"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Runs every seed, regression and mutation through `f`; returns how many inputs that was.
fn run(target: &str, f: fn(&[u8])) -> usize {
    let seeds = files(&format!("seeds/{target}"));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let regressions = files(&format!("regressions/{target}"));
    let mut inputs = 0;
    for (name, bytes) in seeds.iter().chain(regressions.iter()) {
        eprintln!("{target}: {name}");
        f(bytes);
        inputs += 1;
    }
    // Deterministic mutations: a byte flipped every 97 bytes of each seed, and truncations.
    for (_, bytes) in &seeds {
        for step in [97usize, 251] {
            let mut b = bytes.clone();
            for i in (step / 2..b.len()).step_by(step) {
                b[i] ^= 0x5A;
            }
            f(&b);
            inputs += 1;
        }
        f(&bytes[..bytes.len() / 2]);
        inputs += 1;
    }
    assert_eq!(inputs, 4 * seeds.len() + regressions.len());
    common::say(&format!(
        "fuzz target {target}: {} seeds, {} regressions, {inputs} inputs in all",
        seeds.len(),
        regressions.len()
    ));
    inputs
}

#[test]
fn model_target_inputs() {
    assert!(run("model", model_bytes) > 0);
}

#[test]
fn engine_target_inputs() {
    assert!(run("engine", engine_bytes) > 0);
}

#[test]
fn image_target_inputs() {
    assert!(run("image", image_bytes) > 0);
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
