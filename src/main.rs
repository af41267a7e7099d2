//! The `seal` binary: parse the command line, run it, map the result to an exit code.

use std::process::ExitCode;

/// Exit code for a bug in seal (a panic): never a backtrace, never partial output.
const INTERNAL_ERROR: u8 = 70;

/// Stack of the thread that runs the command. The readers recurse once per nesting level
/// up to their limit of 1,000 levels (about 4 KiB a level in a debug build), so the
/// platform's 8 MiB main stack (or less) is not a bound seal wants to depend on. Only the
/// pages touched are ever committed.
const COMMAND_STACK: usize = 64 << 20;
/// Stack of rayon's worker threads (`seal check`, repo-wide plans parse files on them;
/// rayon's default is 2 MiB).
const WORKER_STACK: usize = 16 << 20;

fn main() -> ExitCode {
    harden_process();
    // Panics are reported once, below, without a backtrace; a panic that a parser guard
    // catches (catch_unwind) stays silent and becomes an ordinary error.
    std::panic::set_hook(Box::new(|_| {}));
    let argv: Vec<_> = std::env::args_os().collect();
    let sops_args = seal::sops_cli::sops_args(&argv);
    let as_sops = sops_args.is_some();
    // Run as `ksops` (a link): KSOPS's command line; as `sops` or `seal sops …`: sops's.
    let plan = seal::commands::ksops::plan_as_ksops(&argv)
        .or_else(|| sops_args.map(|args| seal::sops_cli::plan(&args)));
    let parsed = match plan {
        Some(plan) => match plan {
            seal::sops_cli::Plan::Seal(argv) => parse(argv),
            seal::sops_cli::Plan::Print { stdout } => {
                print!("{stdout}");
                return ExitCode::SUCCESS;
            }
            seal::sops_cli::Plan::Fail { code, message } => {
                eprintln!("{message}");
                return ExitCode::from(code);
            }
        },
        None => parse(argv),
    };
    let cli = match parsed {
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
    if uses_worker_pool(&cli.command) {
        let _ = rayon::ThreadPoolBuilder::new()
            .stack_size(WORKER_STACK)
            .build_global();
    }
    let outcome = std::thread::Builder::new()
        .name("seal".into())
        .stack_size(COMMAND_STACK)
        .spawn(|| std::panic::catch_unwind(|| seal::commands::run(cli)))
        .map_err(|_| ())
        .and_then(|h| h.join().map_err(|_| ()))
        .unwrap_or_else(|()| Err(Box::new("the command thread could not start")));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            match &e.sops {
                // As `sops`, a failure sops words in a fixed way is printed in its words.
                Some(text) if as_sops => eprintln!("{text}"),
                _ if !e.message.is_empty() => eprintln!("seal: error: {e}"),
                _ => {}
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

/// Parse the command line as `Cli::try_parse_from` does, but the clap command tree (every
/// subcommand's arguments, built to parse) is not dropped: freeing it was about a fifth of
/// clap's start-up instructions, and the process ends after one command anyway.
fn parse<I, T>(argv: I) -> Result<seal::cli::Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = seal::cli::Cli::command();
    let parsed = cmd.try_get_matches_from_mut(argv).and_then(|mut m| {
        seal::cli::Cli::from_arg_matches_mut(&mut m).map_err(|e| e.format(&mut cmd))
    });
    std::mem::forget(cmd);
    parsed
}

/// Whether the command may run work on rayon's pool (repo-wide walks and plans). Building
/// the pool starts a thread per core and asks the OS for the CPU count (cgroup files
/// included), a good part of a small file's whole run, so the commands that work on one
/// file go without: their big files' values are encrypted on scoped threads
/// (`cipher`), started only when there are enough values. A command not named here gets
/// the pool, so new commands are safe by default; and if one of the named commands ever
/// used rayon, rayon would build its default pool then (2 MiB stacks, which the parsers'
/// depth limits are tested against).
fn uses_worker_pool(command: &seal::commands::Command) -> bool {
    use seal::commands::Command as C;
    !matches!(
        command,
        C::Encrypt(_)
            | C::Decrypt(_)
            | C::Filestatus(_)
            | C::NewKey(_)
            | C::Edit(_)
            | C::Set(_)
            | C::Unset(_)
            | C::ExecEnv(_)
            | C::ExecFile(_)
            | C::Completions(_)
            | C::Man(_)
    )
}

/// Keep secrets out of core dumps: no core file at all (`RLIMIT_CORE` 0), and on Linux the
/// process is marked not dumpable, which also stops other processes of the same user from
/// attaching a debugger or reading `/proc/<pid>/mem`. Best effort: a failure is ignored.
fn harden_process() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let _ = setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
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
