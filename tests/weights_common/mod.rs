//! A tiny .tflite writer for weight tests and the benchmark (flatbuffers builder + the schema
//! types bundled in tract-tflite).
#![allow(dead_code)]

use tract_tflite::tflite::{self, BuiltinOperator, TensorType};

pub struct T {
    pub name: String,
    pub dtype: TensorType,
    pub shape: Vec<i32>,
    /// Stored bytes (constants); `None` for activations.
    pub data: Option<Vec<u8>>,
    /// (scales, zero points, quantized dimension)
    pub q: Option<(Vec<f32>, Vec<i64>, i32)>,
}

impl T {
    pub fn act(
        name: &str,
        dtype: TensorType,
        shape: &[i32],
        q: Option<(Vec<f32>, Vec<i64>, i32)>,
    ) -> T {
        T {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            data: None,
            q,
        }
    }
    pub fn i8(name: &str, shape: &[i32], v: &[i8], q: (Vec<f32>, Vec<i64>, i32)) -> T {
        T {
            name: name.into(),
            dtype: TensorType::INT8,
            shape: shape.to_vec(),
            data: Some(v.iter().map(|&x| x as u8).collect()),
            q: Some(q),
        }
    }
    pub fn i32(name: &str, shape: &[i32], v: &[i32], q: Option<(Vec<f32>, Vec<i64>, i32)>) -> T {
        T {
            name: name.into(),
            dtype: TensorType::INT32,
            shape: shape.to_vec(),
            data: Some(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            q,
        }
    }
    pub fn f32(name: &str, shape: &[i32], v: &[f32]) -> T {
        T {
            name: name.into(),
            dtype: TensorType::FLOAT32,
            shape: shape.to_vec(),
            data: Some(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            q: None,
        }
    }
}

pub struct Op {
    pub code: BuiltinOperator,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
}

pub fn op(code: BuiltinOperator, inputs: &[i32], outputs: &[i32]) -> Op {
    Op {
        code,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
    }
}

/// A one-subgraph model; the first tensor without data is the input, the last one the output.
pub fn build(tensors: &[T], ops: &[Op]) -> Vec<u8> {
    let total: usize = tensors
        .iter()
        .filter_map(|t| t.data.as_ref())
        .map(|d| d.len())
        .sum();
    let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(total + 4096);
    let mut buffers = vec![tflite::Buffer::create(
        &mut fbb,
        &tflite::BufferArgs { data: None },
    )];
    let mut tt = Vec::new();
    for t in tensors {
        let buffer = match &t.data {
            Some(d) => {
                let v = fbb.create_vector(d);
                buffers.push(tflite::Buffer::create(
                    &mut fbb,
                    &tflite::BufferArgs { data: Some(v) },
                ));
                (buffers.len() - 1) as u32
            }
            None => 0,
        };
        let q = t.q.as_ref().map(|(s, z, d)| {
            let scale = fbb.create_vector(s);
            let zero_point = fbb.create_vector(z);
            tflite::QuantizationParameters::create(
                &mut fbb,
                &tflite::QuantizationParametersArgs {
                    scale: Some(scale),
                    zero_point: Some(zero_point),
                    quantized_dimension: *d,
                    ..Default::default()
                },
            )
        });
        let name = fbb.create_string(&t.name);
        let shape = fbb.create_vector(&t.shape);
        tt.push(tflite::Tensor::create(
            &mut fbb,
            &tflite::TensorArgs {
                shape: Some(shape),
                type_: t.dtype,
                buffer,
                name: Some(name),
                quantization: q,
                ..Default::default()
            },
        ));
    }
    let mut codes: Vec<BuiltinOperator> = Vec::new();
    let mut oo = Vec::new();
    for o in ops {
        let idx = codes.iter().position(|c| *c == o.code).unwrap_or_else(|| {
            codes.push(o.code);
            codes.len() - 1
        });
        let inputs = fbb.create_vector(&o.inputs);
        let outputs = fbb.create_vector(&o.outputs);
        oo.push(tflite::Operator::create(
            &mut fbb,
            &tflite::OperatorArgs {
                opcode_index: idx as u32,
                inputs: Some(inputs),
                outputs: Some(outputs),
                ..Default::default()
            },
        ));
    }
    let input = tensors.iter().position(|t| t.data.is_none()).unwrap_or(0) as i32;
    let output = tensors.iter().rposition(|t| t.data.is_none()).unwrap_or(0) as i32;
    let tensors_v = fbb.create_vector(&tt);
    let operators = fbb.create_vector(&oo);
    let inputs = fbb.create_vector(&[input]);
    let outputs = fbb.create_vector(&[output]);
    let sg = tflite::SubGraph::create(
        &mut fbb,
        &tflite::SubGraphArgs {
            tensors: Some(tensors_v),
            inputs: Some(inputs),
            outputs: Some(outputs),
            operators: Some(operators),
            name: None,
        },
    );
    let code_tables: Vec<_> = codes
        .iter()
        .map(|c| {
            tflite::OperatorCode::create(
                &mut fbb,
                &tflite::OperatorCodeArgs {
                    deprecated_builtin_code: c.0.min(127) as i8,
                    builtin_code: *c,
                    version: 1,
                    custom_code: None,
                },
            )
        })
        .collect();
    let codes_v = fbb.create_vector(&code_tables);
    let subgraphs = fbb.create_vector(&[sg]);
    let buffers = fbb.create_vector(&buffers);
    let model = tflite::Model::create(
        &mut fbb,
        &tflite::ModelArgs {
            version: 3,
            operator_codes: Some(codes_v),
            subgraphs: Some(subgraphs),
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    tflite::finish_model_buffer(&mut fbb, model);
    fbb.finished_data().to_vec()
}
