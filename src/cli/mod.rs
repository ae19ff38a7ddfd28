//! The headless command line: one file per subcommand, each a thin layer over the library.

mod inspect;

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
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every tensor, operator and quantization parameter of a model.
    Inspect(inspect::Args),
}

/// Runs a parsed subcommand; errors are printed as one clear line and give exit code 1.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Inspect(a) => inspect::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
