//! `quantscope run MODEL --input FILE.npy ... --out DIR [--all-tensors]`.

use crate::engine::{npy, Engine, EngineOptions, Keep, Value};
use crate::model::Model;
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .tflite file.
    pub model: PathBuf,
    /// One .npy per model input, in the model's input order.
    #[arg(long = "input", value_name = "FILE.npy")]
    pub inputs: Vec<PathBuf>,
    /// Directory for output_<k>.npy (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write every computed tensor of subgraph 0 as tensor_<index>.npy.
    #[arg(long)]
    pub all_tensors: bool,
    /// Feed an image (preprocessed as the flags say; unset flags keep the detected defaults)
    /// instead of --input files. Writes the exact input tensor as input_0.npy too.
    #[arg(long, conflicts_with = "inputs")]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub pp: super::preprocess_args::PreprocessArgs,
    /// Stop with an error after this many seconds (checked between ops).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Print the --match-input report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Reads `--input` files and checks their count against the model.
pub fn read_inputs(model: &Model, files: &[PathBuf]) -> anyhow::Result<Vec<Value>> {
    let metas = crate::engine::input_meta(model);
    if files.len() != metas.len() {
        let names: Vec<String> = metas
            .iter()
            .map(|t| format!("'{}' {} {:?}", t.name, t.dtype, t.shape))
            .collect();
        bail!(
            "the model has {} input(s) ({}), {} --input file(s) given",
            metas.len(),
            names.join(", "),
            files.len()
        );
    }
    files
        .iter()
        .map(|f| npy::read(f).map_err(anyhow::Error::from))
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    super::Deadline::run(args.timeout, |d| run_model(args, d))
}

fn run_model(args: Args, deadline: &super::Deadline) -> anyhow::Result<()> {
    let model = super::open_model(&args.model)?;
    let inputs = match &args.image {
        Some(img) => {
            let (pp, why) = args.pp.resolve(&model, None)?;
            for w in &why {
                eprintln!("preprocessing: {w}");
            }
            let spec = crate::preprocess::InputSpec::from_model(&model, 0, Some(pp.layout))?;
            let rgb = crate::preprocess::load_image_with(
                img,
                crate::preprocess::ImageLimits::default(),
                pp.exif,
            )?;
            let prepared = crate::preprocess::prepare(&rgb, &spec, &pp)?;
            if let Some(t) = &args.pp.match_input {
                let photos = super::preprocess_args::match_photos(std::slice::from_ref(img), t)?;
                let r = crate::compare::pipeline_match::match_pipeline(
                    &model,
                    &args.model.display().to_string(),
                    &photos,
                    &pp,
                    EngineOptions {
                        cancel: deadline.flag.clone(),
                        ..Default::default()
                    },
                )?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    super::preprocess_args::print_match(&r);
                }
            }
            for w in &prepared.warnings {
                eprintln!("warning: {w}");
            }
            if model.subgraphs[0].inputs.len() != 1 {
                bail!(
                    "--image feeds a model with one input; this one has {}",
                    model.subgraphs[0].inputs.len()
                );
            }
            vec![crate::compare::to_value(&prepared.tensor)]
        }
        None => {
            if args.pp.match_input.is_some() {
                bail!("--match-input needs --image (the photo the tensor was made from)");
            }
            read_inputs(&model, &args.inputs)?
        }
    };
    let keep = if args.all_tensors {
        Keep::All
    } else {
        Keep::Outputs
    };
    let mut engine = Engine::new(
        &model,
        EngineOptions {
            keep,
            cancel: deadline.flag.clone(),
            ..Default::default()
        },
    )
    .with_context(|| format!("{}", args.model.display()))?;
    let out = engine.invoke(&inputs)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (k, v) in out.outputs.iter().enumerate() {
        npy::write(&args.out.join(format!("output_{k}.npy")), v)?;
    }
    if args.image.is_some() {
        npy::write(&args.out.join("input_0.npy"), &inputs[0])?;
    }
    let mut written = 0;
    if args.all_tensors {
        let mut idx: Vec<&usize> = out.tensors.keys().collect();
        idx.sort();
        for i in idx {
            let v = &out.tensors[i];
            if matches!(v, Value::Resource(_) | Value::Str(_)) {
                continue;
            }
            npy::write(&args.out.join(format!("tensor_{i}.npy")), v)?;
            written += 1;
        }
    }
    eprintln!(
        "wrote {} output(s){} to {}",
        out.outputs.len(),
        if args.all_tensors {
            format!(" and {written} tensor(s)")
        } else {
            String::new()
        },
        args.out.display()
    );
    Ok(())
}
