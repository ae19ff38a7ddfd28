//! Synthetic models written with the flatbuffer builder: benchmarks (open time, weight
//! statistics throughput), the >2 GB external-buffer layout, and fuzz seeds.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use tract_tflite::tflite;

/// A chain of FULLY_CONNECTED layers with per-channel int8 weights ([out, in], zero point 0)
/// and float activations (the dynamic-range layout), no bias.
pub struct FcChain {
    /// (out_features, in_features) of each layer; layer k+1's `in` should equal layer k's `out`.
    pub layers: Vec<(usize, usize)>,
    /// Store weights after the flatbuffer with `Buffer.offset`/`size` (TFLite's >2 GB layout).
    pub external: bool,
    /// Fill weights with a deterministic pattern; `false` leaves them zero (sparse on disk).
    pub fill: bool,
}

fn pattern(seed: usize, out: &mut [u8]) {
    // A cheap LCG: distinct values, no allocation, fast enough for hundreds of MB.
    let mut x = (seed as u32).wrapping_mul(2654435761).wrapping_add(12345);
    for b in out {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        // Keep int8 weights in TFLite's symmetric range [-127, 127].
        *b = (((x >> 24) as u8 as i8).max(-127)) as u8;
    }
}

impl FcChain {
    /// Writes the model to `path`; with `external`, weight bytes come after the flatbuffer and
    /// a file over 2 GB stays sparse when `fill` is false.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let inline = !self.external;
        let fb = self.flatbuffer(&[], inline);
        let mut file = std::fs::File::create(path)?;
        if inline {
            return file.write_all(&fb);
        }
        // Offsets are absolute; the flatbuffer's size does not depend on their values (u64 slots),
        // so build once to learn it, then again with the real offsets.
        let mut offsets = Vec::new();
        let mut pos = (fb.len() as u64).next_multiple_of(64);
        for &(o, i) in &self.layers {
            offsets.push((pos, (o * i) as u64));
            pos = (pos + (o * i) as u64).next_multiple_of(64);
        }
        let fb2 = self.flatbuffer(&offsets, false);
        assert_eq!(fb2.len(), fb.len(), "flatbuffer size changed with offsets");
        file.write_all(&fb2)?;
        let mut chunk = vec![0u8; 1 << 20];
        for (k, &(off, len)) in offsets.iter().enumerate() {
            if self.fill {
                file.seek(SeekFrom::Start(off))?;
                let mut left = len as usize;
                let mut part = 0;
                while left > 0 {
                    let n = left.min(chunk.len());
                    pattern(k * 1_000_003 + part, &mut chunk[..n]);
                    file.write_all(&chunk[..n])?;
                    left -= n;
                    part += 1;
                }
            }
        }
        file.set_len(pos)?;
        Ok(())
    }

    /// The flatbuffer; `offsets` gives (offset, size) per layer for external buffers.
    fn flatbuffer(&self, offsets: &[(u64, u64)], inline: bool) -> Vec<u8> {
        let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(1024);
        let n = self.layers.len();
        // Buffer 0 is the empty sentinel; buffer k+1 holds layer k's weights.
        let mut buffers = vec![tflite::Buffer::create(
            &mut fbb,
            &tflite::BufferArgs { data: None },
        )];
        for (k, &(o, i)) in self.layers.iter().enumerate() {
            let buf = if inline {
                let mut data = vec![0u8; o * i];
                if self.fill {
                    pattern(k * 1_000_003, &mut data);
                }
                let v = fbb.create_vector(&data);
                tflite::Buffer::create(&mut fbb, &tflite::BufferArgs { data: Some(v) })
            } else {
                let (off, size) = offsets.get(k).copied().unwrap_or((u64::MAX, u64::MAX));
                let start = fbb.start_table();
                fbb.push_slot_always::<u64>(6, off);
                fbb.push_slot_always::<u64>(8, size);
                let t = fbb.end_table(start);
                flatbuffers::WIPOffset::new(t.value())
            };
            buffers.push(buf);
        }
        let mut tensors = Vec::new();
        // Tensor 2k: activation into layer k (float); tensor 2k+1: layer k's weights.
        for (k, &(o, i)) in self.layers.iter().enumerate() {
            tensors.push(float_activation(&mut fbb, &format!("act_{k}"), i));
            let scales: Vec<f32> = (0..o).map(|c| 0.01 + (c % 7) as f32 * 1e-3).collect();
            let scale = fbb.create_vector(&scales);
            let zero_point = fbb.create_vector(&vec![0i64; o]);
            let q = tflite::QuantizationParameters::create(
                &mut fbb,
                &tflite::QuantizationParametersArgs {
                    scale: Some(scale),
                    zero_point: Some(zero_point),
                    quantized_dimension: 0,
                    ..Default::default()
                },
            );
            let name = fbb.create_string(&format!("dense_{k}/weights"));
            let shape = fbb.create_vector(&[o as i32, i as i32]);
            tensors.push(tflite::Tensor::create(
                &mut fbb,
                &tflite::TensorArgs {
                    shape: Some(shape),
                    type_: tflite::TensorType::INT8,
                    buffer: (k + 1) as u32,
                    name: Some(name),
                    quantization: Some(q),
                    ..Default::default()
                },
            ));
        }
        let last_out = self.layers.last().map_or(1, |l| l.0);
        tensors.push(float_activation(&mut fbb, "output", last_out));
        let mut ops = Vec::new();
        for k in 0..n {
            let out_t = if k + 1 == n { 2 * n } else { 2 * (k + 1) };
            let inputs = fbb.create_vector(&[(2 * k) as i32, (2 * k + 1) as i32, -1]);
            let outputs = fbb.create_vector(&[out_t as i32]);
            let opts = tflite::FullyConnectedOptions::create(
                &mut fbb,
                &tflite::FullyConnectedOptionsArgs::default(),
            );
            ops.push(tflite::Operator::create(
                &mut fbb,
                &tflite::OperatorArgs {
                    opcode_index: 0,
                    inputs: Some(inputs),
                    outputs: Some(outputs),
                    builtin_options_type: tflite::BuiltinOptions::FullyConnectedOptions,
                    builtin_options: Some(opts.as_union_value()),
                    ..Default::default()
                },
            ));
        }
        let tensors = fbb.create_vector(&tensors);
        let operators = fbb.create_vector(&ops);
        let inputs = fbb.create_vector(&[0i32]);
        let outputs = fbb.create_vector(&[(2 * n) as i32]);
        let sg_name = fbb.create_string("main");
        let sg = tflite::SubGraph::create(
            &mut fbb,
            &tflite::SubGraphArgs {
                tensors: Some(tensors),
                inputs: Some(inputs),
                outputs: Some(outputs),
                operators: Some(operators),
                name: Some(sg_name),
            },
        );
        let code = tflite::OperatorCode::create(
            &mut fbb,
            &tflite::OperatorCodeArgs {
                deprecated_builtin_code: 9,
                builtin_code: tflite::BuiltinOperator::FULLY_CONNECTED,
                version: 1,
                custom_code: None,
            },
        );
        let codes = fbb.create_vector(&[code]);
        let subgraphs = fbb.create_vector(&[sg]);
        let buffers = fbb.create_vector(&buffers);
        let description = fbb.create_string("quantscope synthetic FC chain");
        let model = tflite::Model::create(
            &mut fbb,
            &tflite::ModelArgs {
                version: 3,
                operator_codes: Some(codes),
                subgraphs: Some(subgraphs),
                description: Some(description),
                buffers: Some(buffers),
                ..Default::default()
            },
        );
        tflite::finish_model_buffer(&mut fbb, model);
        fbb.finished_data().to_vec()
    }
}

/// A float32 `[1, width]` activation tensor (no buffer).
fn float_activation<'a>(
    fbb: &mut flatbuffers::FlatBufferBuilder<'a>,
    name: &str,
    width: usize,
) -> flatbuffers::WIPOffset<tflite::Tensor<'a>> {
    let name = fbb.create_string(name);
    let shape = fbb.create_vector(&[1i32, width as i32]);
    tflite::Tensor::create(
        fbb,
        &tflite::TensorArgs {
            shape: Some(shape),
            type_: tflite::TensorType::FLOAT32,
            name: Some(name),
            ..Default::default()
        },
    )
}
