//! `--threads`: the engine gives bit-identical tensors for any number of kernel threads.
//!
//! The ConvNeXt-style fixtures (a litert-torch ConvNeXt stage in float32, dynamic-range int8 and
//! int4 weights: LayerNorm as MEAN / SQUARED_DIFFERENCE / RSQRT / MUL / SUB / ADD, GELU,
//! DEPTHWISE_CONV_2D, FULLY_CONNECTED, CONV_2D, TRANSPOSE, RESHAPE) run with 1, 2 and 3
//! threads, every intermediate kept, and every tensor is compared bit for bit. The fixtures are
//! small, so the split threshold is lowered for this test binary: the element-wise, reduction
//! and quantization splits must actually run (counted), not only the GEMM ones.

mod common;

use quantscope::cli::bench::random_inputs;
use quantscope::engine::kernels::par;
use quantscope::engine::{Engine, EngineOptions, Keep, Value};
use quantscope::model::Model;
use std::collections::HashMap;

/// The bits of every value (so -0.0 and 0.0, and NaNs, are told apart).
fn bits(v: &Value) -> Vec<u64> {
    match v {
        Value::F32(a) => a.iter().map(|x| x.to_bits() as u64).collect(),
        Value::F16(a) => a.iter().map(|x| x.to_bits() as u64).collect(),
        Value::I8(a) => a.iter().map(|&x| x as u8 as u64).collect(),
        Value::U8(a) => a.iter().map(|&x| x as u64).collect(),
        Value::I16(a) => a.iter().map(|&x| x as u16 as u64).collect(),
        Value::I32(a) => a.iter().map(|&x| x as u32 as u64).collect(),
        Value::I64(a) => a.iter().map(|&x| x as u64).collect(),
        Value::Bool(a) => a.iter().map(|&x| x as u64).collect(),
        other => panic!("unexpected value {other:?}"),
    }
}

fn run(model: &Model, threads: usize, seed: u64) -> (Vec<Value>, HashMap<usize, Value>) {
    let inputs = random_inputs(model, seed).unwrap();
    let opts = EngineOptions {
        keep: Keep::All,
        threads,
        ..Default::default()
    };
    let mut e = Engine::new(model, opts).unwrap();
    let out = e.invoke(&inputs).unwrap();
    (out.outputs, out.tensors)
}

#[test]
fn convnext_tensors_are_bit_identical_for_any_thread_count() {
    par::set_threshold(64);
    let before = par::splits();
    let (mut tensors, mut values, mut models) = (0usize, 0usize, 0usize);
    for name in [
        "hybrid_convnext_f32",
        "hybrid_convnext_dyn_int8",
        "hybrid_convnext_wi4",
    ] {
        let path = common::repo().join(format!("tests/fixtures/models/{name}.tflite"));
        let model = Model::open(&path).unwrap();
        let computed = model.subgraphs[0]
            .tensors
            .iter()
            .filter(|t| !t.is_constant)
            .count();
        for seed in [1u64, 0x9e37_79b9_7f4a_7c15] {
            let (out1, t1) = run(&model, 1, seed);
            assert_eq!(t1.len(), computed, "{name}: every computed tensor kept");
            for threads in [2, 3] {
                let (out, t) = run(&model, threads, seed);
                assert_eq!(out.len(), out1.len());
                for (a, b) in out1.iter().zip(&out) {
                    assert_eq!(bits(a), bits(b), "{name}: output, {threads} threads");
                }
                assert_eq!(t.len(), t1.len(), "{name}: kept tensors, {threads} threads");
                for (k, v1) in &t1 {
                    let v = &t[k];
                    assert_eq!(v1.shape(), v.shape(), "{name}: tensor {k} shape");
                    let (b1, b) = (bits(v1), bits(v));
                    assert!(b1 == b, "{name}: tensor {k} differs with {threads} threads");
                    tensors += 1;
                    values += b.len();
                }
            }
        }
        models += 1;
    }
    let splits = par::splits() - before;
    common::say(&format!(
        "threads: {models} models, {tensors} tensors ({values} values) bit-identical at 1, 2 \
         and 3 threads; {splits} element-wise splits"
    ));
    assert_eq!(models, 3);
    // 3 models x 2 seeds x 2 thread counts x the computed tensors of each model.
    assert_eq!(tensors, 2 * 2 * (86 + 86 + 86));
    assert!(splits >= 100, "only {splits} element-wise splits ran");
}
