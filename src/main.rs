use clap::Parser;
use quantscope::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Cli::parse();
    match args.command {
        Some(command) => cli::run(command),
        #[cfg(feature = "gui")]
        None => {
            let files = args.files;
            if files.len() > 2 {
                eprintln!("usage: quantscope [MODEL [FLOAT_MODEL]] or quantscope <COMMAND>");
                return ExitCode::FAILURE;
            }
            let r = quantscope::app::run_native(move |app| match files.as_slice() {
                [] => app.open_example(&quantscope::app::example::EXAMPLE),
                [m] => app.open_models(m, None),
                [m, f, ..] => app.open_models(m, Some(f)),
            });
            match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot open the window: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        #[cfg(not(feature = "gui"))]
        None => {
            eprintln!("usage: quantscope <COMMAND>; see --help (the desktop app comes with the gui feature)");
            ExitCode::FAILURE
        }
    }
}
