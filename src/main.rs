//! The `seal` binary: parse the command line, run it, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// Exit code for a bug in seal (a panic): never a backtrace, never partial output.
const INTERNAL_ERROR: u8 = 70;

fn main() -> ExitCode {
    // Panics are reported once, below, without a backtrace; a panic that a parser guard
    // catches (catch_unwind) stays silent and becomes an ordinary error.
    std::panic::set_hook(Box::new(|_| {}));
    let cli = match seal::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help/--version print and exit 0; usage errors exit 1 like sops's unknown flag.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match std::panic::catch_unwind(|| seal::commands::run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("seal: error: {e}");
            ExitCode::from(e.code)
        }
        Err(_) => {
            eprintln!(
                "seal: internal error: this is a bug in seal; no file was changed. Please report it with the command you ran."
            );
            ExitCode::from(INTERNAL_ERROR)
        }
    }
}
