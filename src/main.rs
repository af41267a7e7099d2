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
            // --help/--version print and exit 0; usage errors exit 1 like sops's unknown flag,
            // except for `seal check`, whose contract (as gitleaks's) is 1 = findings,
            // 2 = usage or I/O error.
            let code = match (e.use_stderr(), subcommand().as_deref()) {
                (false, _) => 0,
                (true, Some("check")) => seal::error::exit::CHECK_ERROR,
                (true, _) => 1,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match std::panic::catch_unwind(|| seal::commands::run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            if !e.message.is_empty() {
                eprintln!("seal: error: {e}");
            }
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

/// The subcommand named on the command line (the first word that is not an option or the
/// value of the global `--config`).
fn subcommand() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--config" {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}
