//! The `seal` binary: parse the command line, run it, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A bug must never print a backtrace (or anything it was holding): one line, exit 70.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" ({}:{})", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "seal: internal error{at}: this is a bug in seal; no file was changed. Please report it."
        );
        std::process::exit(70);
    }));
    let cli = match seal::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help/--version print and exit 0; usage errors exit 1 like sops's unknown flag.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match seal::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seal: error: {e}");
            ExitCode::from(e.code)
        }
    }
}
