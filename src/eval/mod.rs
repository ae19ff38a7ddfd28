//! Accuracy trade-offs of every variant of one float model over a dataset: the table users
//! otherwise write by hand (size, latency, accuracy, agreement, SQNR, bit accuracy, flips).
//!
//! Per image, every model runs on our engine; a compact [`ImageRecord`] of sums and top-k lists
//! is kept (and streamed to a JSONL cache, see [`cache`]), and [`build_report`] reduces the
//! records sorted by input name, so single, resumed, sharded-and-merged runs give one report.
//! Images decode and preprocess on worker threads while the models run.

pub mod cache;
pub mod html;
pub mod inputs;
pub mod record;
pub mod report;

pub use inputs::{list_inputs, resolve_shard, shard, EvalInput, InputKind, LabelsFrom};
pub use record::{ImageRecord, ModelRun, OutputSums};
pub use report::{
    build_report, human_bytes, markdown_table, pct, ClassReport, ModelInfo, OutputReport, Report,
    RunInfo, VariantReport,
};
use report::{ModelFile, RunSettings};

use crate::compare::to_value;
use crate::engine::kernels::cast::{dequantize_value, quantize_f32};
use crate::engine::{npy, Engine, EngineError, EngineOptions, Value};
use crate::model::{DType, Model};
use crate::preprocess::{load_image_bytes_with, prepare, ImageLimits, InputSpec, Preprocess};
use anyhow::{bail, Context};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// Progress of a run: items done (including those found in the cache) of `total`.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Estimated seconds left, from the pace of the items run so far.
    pub eta_s: Option<f64>,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

#[derive(Clone)]
pub struct EvalOptions {
    /// Preprocessing for images (ignored for `.npy` inputs).
    pub pp: Preprocess,
    /// Kernel threads for every model (the same for all, so latencies compare).
    pub threads: usize,
    /// Items decoded ahead of the models (bounds memory).
    pub prefetch: usize,
    pub cache: Option<PathBuf>,
    pub shard: Option<(usize, usize)>,
    pub labels_source: Option<String>,
    pub class_names: Vec<String>,
    pub cancel: Option<Arc<AtomicBool>>,
    pub progress: Option<ProgressFn>,
}

impl EvalOptions {
    pub fn new(pp: Preprocess) -> Self {
        EvalOptions {
            pp,
            threads: 1,
            prefetch: 16,
            cache: None,
            shard: None,
            labels_source: None,
            class_names: Vec::new(),
            cancel: None,
            progress: None,
        }
    }
}

/// Facts about a model file for the report: size, hash, constant bytes by dtype, output names.
pub fn model_info(model: &Model, name: &str) -> ModelInfo {
    let mut constant_bytes = BTreeMap::new();
    for sg in &model.subgraphs {
        for t in sg.tensors.iter().filter(|t| t.is_constant) {
            *constant_bytes.entry(t.dtype.name()).or_insert(0u64) += t.buffer_bytes as u64;
        }
    }
    let sg0 = &model.subgraphs[0];
    ModelInfo {
        file: ModelFile {
            model: name.to_string(),
            sha256: inputs::sha256_hex(model.file_bytes()),
            file_bytes: model.file_bytes().len() as u64,
            constant_bytes,
        },
        output_names: sg0
            .outputs
            .iter()
            .map(|&o| sg0.tensors[o as usize].name.clone())
            .collect(),
    }
}

/// Checks that `variant` has the float model's signature: the same inputs and outputs, in
/// count and shape (dtypes may differ: int8 I/O is a variant too).
pub fn check_signature(float: &Model, variant: &Model, name: &str) -> anyhow::Result<()> {
    let (f, v) = (&float.subgraphs[0], &variant.subgraphs[0]);
    for (what, a, b) in [
        ("inputs", &f.inputs, &v.inputs),
        ("outputs", &f.outputs, &v.outputs),
    ] {
        if a.len() != b.len() {
            bail!(
                "{name}: {} {what}, the float model has {}: not a variant of the same model",
                b.len(),
                a.len()
            );
        }
        for (k, (&x, &y)) in a.iter().zip(b.iter()).enumerate() {
            let (tx, ty) = (&f.tensors[x as usize], &v.tensors[y as usize]);
            if tx.shape != ty.shape {
                bail!(
                    "{name}: {what} {k} ('{}') has shape {:?}, the float model's ('{}') {:?}: not a variant of the same model",
                    ty.name, ty.shape, tx.name, tx.shape
                );
            }
        }
    }
    Ok(())
}

/// One decoded, preprocessed item, ready for every model.
struct Ready {
    index: usize,
    sha256: String,
    /// Unchanged since its cached record: nothing to run.
    cached: bool,
    /// Per model, its input values.
    inputs: Vec<Arc<Vec<Value>>>,
}

/// How each model wants its input: models with the same spec share one preprocessed tensor.
#[derive(Clone)]
struct Feed {
    specs: Vec<Vec<(DType, Option<crate::model::Quantization>, Option<InputSpec>)>>,
    /// Per model, the index of the first model with the same spec.
    group: Vec<usize>,
}

impl Feed {
    fn new(models: &[&Model], kind: InputKind, pp: &Preprocess) -> anyhow::Result<Feed> {
        let mut specs = Vec::new();
        for m in models {
            let sg = &m.subgraphs[0];
            let mut v = Vec::new();
            for (k, &i) in sg.inputs.iter().enumerate() {
                let t = &sg.tensors[i as usize];
                let spec = match kind {
                    InputKind::Images => Some(InputSpec::from_model(m, k, Some(pp.layout))?),
                    InputKind::Npy => None,
                };
                v.push((t.dtype, t.quantization.clone(), spec));
            }
            if kind == InputKind::Images && v.len() != 1 {
                bail!(
                    "the model has {} inputs: use --inputs with .npy files",
                    v.len()
                );
            }
            specs.push(v);
        }
        let key = |s: &Vec<(DType, Option<crate::model::Quantization>, Option<InputSpec>)>| {
            format!("{:?}", s.iter().map(|(d, q, _)| (d, q)).collect::<Vec<_>>())
        };
        let group = (0..specs.len())
            .map(|i| (0..=i).find(|&j| key(&specs[j]) == key(&specs[i])).unwrap())
            .collect();
        Ok(Feed { specs, group })
    }

    /// Reads, hashes and preprocesses one item for every model.
    /// `cached`: the SHA-256 of the item's cached record, if any (an unchanged item is not
    /// decoded).
    fn load(
        &self,
        item: &EvalInput,
        kind: InputKind,
        pp: &Preprocess,
        cached: Option<&String>,
    ) -> anyhow::Result<Ready> {
        let mut bytes = Vec::new();
        for f in &item.files {
            bytes.push(std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?);
        }
        let sha256 = inputs::sha256_hex(&bytes.concat());
        if cached == Some(&sha256) {
            return Ok(Ready {
                index: 0,
                sha256,
                cached: true,
                inputs: Vec::new(),
            });
        }
        let img = match kind {
            InputKind::Images => Some(
                load_image_bytes_with(&bytes[0], ImageLimits::default(), pp.exif)
                    .with_context(|| item.name.clone())?,
            ),
            InputKind::Npy => None,
        };
        let raw: Vec<Value> = match kind {
            InputKind::Npy => bytes
                .iter()
                .zip(&item.files)
                .map(|(b, f)| npy::from_bytes(b).with_context(|| f.display().to_string()))
                .collect::<anyhow::Result<_>>()?,
            InputKind::Images => Vec::new(),
        };
        let mut made: Vec<Option<Arc<Vec<Value>>>> = vec![None; self.specs.len()];
        for m in 0..self.specs.len() {
            let g = self.group[m];
            if let Some(v) = made[g].clone() {
                made[m] = Some(v);
                continue;
            }
            let vals: Vec<Value> = match &img {
                Some(img) => {
                    let spec = self.specs[m][0].2.as_ref().unwrap();
                    vec![to_value(&prepare(img, spec, pp)?.tensor)]
                }
                None => self.specs[m]
                    .iter()
                    .zip(&raw)
                    .map(|((dtype, q, _), v)| npy_for(v, *dtype, q.as_ref()))
                    .collect::<Result<_, _>>()
                    .with_context(|| item.name.clone())?,
            };
            made[m] = Some(Arc::new(vals));
        }
        Ok(Ready {
            index: 0,
            sha256,
            cached: false,
            inputs: made.into_iter().map(Option::unwrap).collect(),
        })
    }
}

/// A `.npy` value for an input of `dtype`: as is when the dtypes match, float quantized with
/// the input's parameters for integer inputs.
fn npy_for(
    v: &Value,
    dtype: DType,
    q: Option<&crate::model::Quantization>,
) -> Result<Value, EngineError> {
    if v.dtype() == dtype {
        return Ok(v.clone());
    }
    match (v, q) {
        (Value::F32(a), Some(q)) if !q.scales.is_empty() => quantize_f32(a, q, dtype),
        _ => Err(EngineError::msg(format!(
            "the .npy holds {}, the model's input is {} (give float32 for quantized inputs)",
            v.dtype(),
            dtype
        ))),
    }
}

/// Runs `float` and every variant over `items` and returns the report. With a cache, finished
/// items are read back instead of rerun and new ones appended as they finish.
pub fn evaluate(
    float: (&Model, &str),
    variants: &[(&Model, &str)],
    items: &[EvalInput],
    kind: InputKind,
    opts: &EvalOptions,
) -> anyhow::Result<Report> {
    for (v, name) in variants {
        check_signature(float.0, v, name)?;
    }
    let all: Vec<(&Model, &str)> = std::iter::once(float)
        .chain(variants.iter().copied())
        .collect();
    let info = RunInfo {
        models: all.iter().map(|(m, n)| model_info(m, n)).collect(),
        settings: RunSettings {
            labels_source: opts.labels_source.clone(),
            preprocess: match kind {
                InputKind::Images => Some(serde_json::to_value(&opts.pp)?),
                InputKind::Npy => None,
            },
            threads: opts.threads.max(1),
            class_names: opts.class_names.clone(),
        },
    };
    let items = shard(items.to_vec(), opts.shard);
    let (mut writer, mut records) = match &opts.cache {
        Some(p) => {
            let h = cache::CacheHeader {
                quantscope_eval_cache: 1,
                key: cache::cache_key(&info),
                info: info.clone(),
                shard: opts.shard,
            };
            let (w, r) = cache::CacheWriter::open(p, &h)?;
            (Some(w), r)
        }
        None => (None, Vec::new()),
    };
    // Cached records count for items of this run with the same content (name and SHA-256; a
    // changed file is rerun).
    let names: std::collections::HashSet<&str> = items.iter().map(|i| i.name.as_str()).collect();
    records.retain(|r| names.contains(r.input.as_str()));
    let done: std::collections::HashMap<String, String> = records
        .iter()
        .map(|r| (r.input.clone(), r.input_sha256.clone()))
        .collect();
    let todo: Vec<(usize, EvalInput)> = items.iter().cloned().enumerate().collect();
    let total = items.len();
    let already = records.len();
    let mut ran = 0usize;
    let feed = Feed::new(
        &all.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
        kind,
        &opts.pp,
    )?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .context("cannot start the thread pool")?;
    let eo = EngineOptions {
        cancel: opts.cancel.clone(),
        ..Default::default()
    };
    let mut engines: Vec<Engine> = all
        .iter()
        .map(|(m, n)| Engine::new(m, eo.clone()).with_context(|| n.to_string()))
        .collect::<anyhow::Result<_>>()?;
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    };
    let start = Instant::now();
    let report_progress = |done: usize, ran: usize| {
        if let Some(p) = &opts.progress {
            let el = start.elapsed().as_secs_f64();
            let left = total.saturating_sub(done);
            p(Progress {
                done,
                total,
                elapsed_s: el,
                eta_s: (ran > 0).then(|| el / ran as f64 * left as f64),
            });
        }
    };
    report_progress(already, 0);
    // Decoding and preprocessing run ahead on a producer thread (its own rayon pool, a chunk
    // at a time); the bounded channel caps how many prepared items wait in memory.
    let (tx, rx) = mpsc::sync_channel::<anyhow::Result<Ready>>(opts.prefetch.max(1));
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| -> anyhow::Result<()> {
        let (feed, pp, todo_ref, stop2, done) = (&feed, &opts.pp, &todo, stop.clone(), &done);
        s.spawn(move || {
            let decode = rayon::ThreadPoolBuilder::new()
                .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
                .build();
            let Ok(decode) = decode else { return };
            for chunk in todo_ref.chunks(8) {
                let ready: Vec<anyhow::Result<Ready>> = decode.install(|| {
                    chunk
                        .par_iter()
                        .map(|(i, it)| {
                            feed.load(it, kind, pp, done.get(&it.name)).map(|mut r| {
                                r.index = *i;
                                r
                            })
                        })
                        .collect()
                });
                for r in ready {
                    if stop2.load(Ordering::Relaxed) || tx.send(r).is_err() {
                        return;
                    }
                }
            }
        });
        let result = (|| -> anyhow::Result<()> {
            let mut finished = already;
            for _ in 0..todo.len() {
                if cancelled() {
                    bail!("cancelled");
                }
                let ready = rx.recv().context("the decoder stopped")??;
                let item = &items[ready.index];
                if ready.cached {
                    continue;
                }
                let mut models = Vec::with_capacity(all.len());
                let mut outs: Vec<Vec<ndarray::ArrayD<f32>>> = Vec::with_capacity(all.len());
                for (m, engine) in engines.iter_mut().enumerate() {
                    let t0 = Instant::now();
                    let r =
                        pool.install(|| engine.invoke(&ready.inputs[m]))
                            .map_err(|e| match e {
                                EngineError::Cancelled => anyhow::anyhow!("cancelled"),
                                e => anyhow::anyhow!("{}: {}: {e}", all[m].1, item.name),
                            })?;
                    let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
                    let sg = &all[m].0.subgraphs[0];
                    let o: Vec<ndarray::ArrayD<f32>> = r
                        .outputs
                        .iter()
                        .zip(&sg.outputs)
                        .map(|(v, &t)| {
                            dequantize_value(v, sg.tensors[t as usize].quantization.as_ref())
                        })
                        .collect::<Result<_, _>>()?;
                    models.push(ModelRun {
                        top: o.first().map(record::top_k).unwrap_or_default(),
                        latency_ms,
                        outputs: Vec::new(),
                    });
                    outs.push(o);
                }
                for (m, run) in models.iter_mut().enumerate() {
                    run.outputs = outs[0]
                        .iter()
                        .zip(&outs[m])
                        .map(|(f, v)| record::output_sums(f, v))
                        .collect();
                }
                let rec = ImageRecord {
                    input: item.name.clone(),
                    input_sha256: ready.sha256,
                    label: item.label,
                    models,
                };
                if let Some(w) = &mut writer {
                    w.append(&rec)?;
                }
                if done.contains_key(&rec.input) {
                    records.retain(|r| r.input != rec.input); // its file changed
                } else {
                    finished += 1;
                }
                records.push(rec);
                ran += 1;
                report_progress(finished, ran);
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        result
    })?;
    Ok(build_report(records, &info))
}

/// Builds the report from shard caches (`quantscope eval --merge`).
pub fn merge_caches(paths: &[PathBuf]) -> anyhow::Result<Report> {
    let (info, records) = cache::merge(paths)?;
    Ok(build_report(records, &info))
}

/// A model's display name: its path as given.
pub fn display_name(p: &Path) -> String {
    p.display().to_string()
}
