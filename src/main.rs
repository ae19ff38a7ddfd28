use clap::Parser;
use quantscope::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Cli::parse();
    match args.command {
        Some(command) => cli::run(command),
        None => {
            eprintln!("usage: quantscope <COMMAND>; see --help (the desktop app comes with the gui feature)");
            ExitCode::FAILURE
        }
    }
}
