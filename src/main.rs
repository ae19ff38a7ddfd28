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
                eprintln!("usage: quantscope [MODEL [FLOAT_MODEL]] [--image IMG]... [--tab TAB] [--tensor T] [--layer OP] or quantscope <COMMAND>");
                return ExitCode::FAILURE;
            }
            let view = match args
                .tab
                .as_deref()
                .map(|t| (t, quantscope::app::View::parse(t)))
            {
                Some((t, None)) => {
                    eprintln!(
                        "error: --tab {t}: expected overview, tensors, compare, whatif or graph"
                    );
                    return ExitCode::FAILURE;
                }
                Some((_, v)) => v,
                None => None,
            };
            if files.is_empty()
                && (view.is_some()
                    || args.tensor.is_some()
                    || args.layer.is_some()
                    || !args.images.is_empty())
            {
                eprintln!("error: --image, --tab, --tensor and --layer need a MODEL to open");
                return ExitCode::FAILURE;
            }
            let startup = quantscope::app::Startup {
                view,
                tensor: args.tensor,
                layer: args.layer,
                ..Default::default()
            };
            let images = args.images;
            let r = quantscope::app::run_native(move |app| match files.as_slice() {
                [] => app.open_example(&quantscope::app::example::EXAMPLE),
                [m] => app.open_at(m, None, &images, startup),
                [m, f, ..] => app.open_at(m, Some(f), &images, startup),
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
