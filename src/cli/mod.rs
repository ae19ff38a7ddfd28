//! The headless command line: one file per subcommand, each a thin layer over the library.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod graph;
mod inspect;
pub mod preprocess_args;
pub mod run;
pub mod weights;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "quantscope",
    version,
    about = "Look inside quantized TensorFlow Lite models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Models to open in the desktop app (MODEL [FLOAT_MODEL]).
    pub files: Vec<std::path::PathBuf>,
    /// App: images to compare as soon as the models are open.
    #[arg(long = "image", value_name = "IMG")]
    pub images: Vec<std::path::PathBuf>,
    /// App: the tab to open on (overview, tensors, compare, whatif, graph).
    #[arg(long, value_name = "TAB")]
    pub tab: Option<String>,
    /// App: a tensor (name or index in subgraph 0) to select in Tensors.
    #[arg(long, value_name = "NAME_OR_INDEX")]
    pub tensor: Option<String>,
    /// App: an operator index whose output Compare shows once the first image is compared.
    #[arg(long, value_name = "OP_INDEX")]
    pub layer: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every tensor, operator and quantization parameter of a model.
    Inspect(inspect::Args),
    /// Weight statistics, range use, spec checks and quantization error per tensor and channel.
    Weights(weights::Args),
    /// Run a model on .npy inputs and write its outputs (and optionally every tensor) as .npy.
    Run(run::Args),
    /// Float vs quantized on images: outputs, per-layer error, preprocessing checks.
    Compare(compare::Args),
    /// Time invocations of a model (one warm-up, then N runs): median and min milliseconds.
    Bench(bench::Args),
    /// The model as a graph: nodes, edges, integer readiness of every op (text, JSON or DOT).
    Graph(graph::Args),
    /// Accuracy trade-offs of a float model's variants over a dataset (or --merge shard caches).
    Eval(eval::Args),
}

/// Runs a parsed subcommand; errors are printed as one clear line and give exit code 1.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Inspect(a) => inspect::run(a),
        Command::Weights(a) => weights::run(a),
        Command::Run(a) => run::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Eval(a) => eval::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A cancel flag that a timer thread raises after `seconds` (the engine checks it between ops).
pub fn timeout_flag(seconds: Option<f64>) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let secs = seconds?;
    // Zero (or less) means "already expired", without racing a timer thread.
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(secs <= 0.0));
    if secs <= 0.0 {
        return Some(flag);
    }
    let f = flag.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.max(0.0)));
        f.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Some(flag)
}

/// `--timeout` for a whole command: the flag the engine polls, and the one clear error that
/// replaces whatever the interrupted work reported once the time is up.
pub struct Deadline {
    pub flag: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    seconds: f64,
}

/// Opens a model; the error names the file.
pub fn open_model(path: &std::path::Path) -> anyhow::Result<crate::model::Model> {
    use anyhow::Context;
    crate::model::Model::open(path).with_context(|| path.display().to_string())
}

impl Deadline {
    /// Runs a command under `--timeout seconds`: `f` polls the deadline, and an error after it
    /// expired reads as the timeout.
    pub fn run(
        seconds: Option<f64>,
        f: impl FnOnce(&Deadline) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let d = Deadline::start(seconds);
        f(&d).map_err(|e| d.explain(e))
    }

    pub fn start(seconds: Option<f64>) -> Self {
        Deadline {
            flag: timeout_flag(seconds),
            seconds: seconds.unwrap_or(0.0),
        }
    }

    pub fn expired(&self) -> bool {
        self.flag
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Errors after the deadline are the timeout; earlier ones are themselves.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        if self.expired() {
            anyhow::anyhow!("stopped: took longer than --timeout {}s", self.seconds)
        } else {
            e
        }
    }

    /// For loops over many items: stop between them once the time is up.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.expired() {
            Err(self.explain(anyhow::anyhow!("timeout")))
        } else {
            Ok(())
        }
    }
}

/// A heading and its lines (two spaces further in), each line prefixed by `indent`; nothing at
/// all when there are no lines.
fn section(o: &mut String, indent: &str, heading: &str, lines: impl Iterator<Item = String>) {
    use std::fmt::Write;
    let mut lines = lines.peekable();
    if lines.peek().is_some() {
        let _ = writeln!(o, "{indent}{heading}");
        for l in lines {
            let _ = writeln!(o, "{indent}  {l}");
        }
    }
}
