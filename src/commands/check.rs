//! `seal check`: the CI and pre-commit gate. Wires the command line to
//! [`crate::check::Checker`] and a reporter; exit 0 clean, 1 findings at error level,
//! 2 usage or I/O error.

use std::path::PathBuf;

use clap::Args;

use crate::check::Checker;
use crate::check::report::{self, OutputFormat, TextOptions};
use crate::commands::common::Ctx;
use crate::error::{CliError, exit};
use crate::fsio::{self, Sensitivity};
use crate::ui::{self, ColorChoice, Stream};

/// Check that no secret is committed in plaintext (no key needed)
///
/// Walks PATH (default: the current directory; in a git work tree every tracked file and
/// every untracked file git does not ignore, .git skipped) or checks exactly the files
/// given, as pre-commit passes them. It reports Kubernetes Secrets
/// with plaintext data/stringData (also inside last-applied-configuration annotations),
/// files that a .sops.yaml creation rule covers but that are not encrypted, plaintext
/// values in sops files, broken sops metadata and ENC values, recipients that drifted from
/// .sops.yaml, committed private keys (age, SSH, PEM), and credential-like values in files
/// named like secrets. Valid sops ciphertext is never reported.
///
/// Silence one finding with a `# seal:allow <rule-id> <reason>` comment on its line (or
/// the line above), or whole paths with a .sealignore file (gitignore syntax) at the
/// repository root; both are listed in the summary.
///
/// Exit status: 0 no error-level finding, 1 findings at error level, 2 a usage error or a
/// file that could not be read.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories to check [default: .]
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Check the contents staged in the git index instead of the working tree.
    #[arg(long, conflicts_with = "paths")]
    staged: bool,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    format: OutputFormat,

    /// Write the report to this file instead of standard output (e.g. results.sarif).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Treat warnings (recipient drift, credential-like values, ...) as errors.
    #[arg(long)]
    strict: bool,

    /// Every sops file must be encrypted to this age recipient (e.g. the Flux cluster
    /// key). Repeatable; also SEAL_REQUIRE_RECIPIENT (comma-separated).
    #[arg(
        long,
        value_name = "AGE_RECIPIENT",
        env = "SEAL_REQUIRE_RECIPIENT",
        value_delimiter = ','
    )]
    require_recipient: Vec<String>,

    /// When to colour the text report.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
}

/// Run `seal check`.
pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<(), CliError> {
    for r in &args.require_recipient {
        crate::keys::check_recipient(r).map_err(|e| {
            CliError::new(
                exit::CHECK_ERROR,
                format!("--require-recipient {r:?} is not a valid age recipient: {e}"),
            )
            .hint("pass the cluster's public key, the age1... line that seal key public prints")
        })?;
    }
    let checker = Checker {
        cwd: ctx.cwd.clone(),
        config: ctx.config_flag.as_ref().map(|p| ctx.absolute(p)),
        strict: args.strict,
        require: args.require_recipient.clone(),
    };
    let (report, notes) = if args.staged {
        let repo = crate::repo::repo_root(&ctx.cwd).ok_or_else(|| {
            CliError::new(
                exit::CHECK_ERROR,
                "--staged checks the git index, but the current directory is not inside a git repository",
            )
            .hint("run it from the repository, or check files by path: seal check FILE...")
        })?;
        checker.check_staged(&repo).map_err(|why| {
            CliError::new(
                exit::CHECK_ERROR,
                format!("cannot read the git index: {why}"),
            )
        })?
    } else {
        (checker.check_paths(&args.paths), Vec::new())
    };
    // The global -q/--quiet: nothing when there is no finding at error level (the exit
    // status says it); -v/--verbose: info-level findings in the text report too.
    let verbosity = ui::verbosity();
    let quiet = verbosity == ui::Verbosity::Quiet
        && !report.has_errors()
        && report.summary.unreadable.is_empty();
    if !quiet {
        for n in &notes {
            eprintln!("seal: note: {n}");
        }
        // A report written to a file is never coloured unless asked for.
        let color = match (args.color, &args.output) {
            (ColorChoice::Auto, Some(_)) => false,
            (choice, _) => ui::use_color(choice, Stream::Stdout),
        };
        let text = report::render(
            &report,
            args.format,
            TextOptions {
                color,
                verbose: verbosity == ui::Verbosity::Verbose,
            },
        );
        match &args.output {
            Some(path) => {
                fsio::write_atomic(&ctx.absolute(path), text.as_bytes(), Sensitivity::Public)
                    .map_err(|e| CliError::write_io(path, e))?
            }
            None => fsio::write_stdout(text.as_bytes())
                .map_err(|e| CliError::write_io(std::path::Path::new("<stdout>"), e))?,
        }
    }
    if !report.summary.unreadable.is_empty() {
        for (path, why) in &report.summary.unreadable {
            eprintln!("seal: error: {path}: {why}");
        }
        return Err(CliError::new(
            exit::CHECK_ERROR,
            format!(
                "{} path(s) could not be checked; a file that cannot be read may hide a secret",
                report.summary.unreadable.len()
            ),
        )
        .hint("fix the permissions or the path, or list it in .sealignore"));
    }
    if report.has_errors() {
        return Err(CliError::silent(exit::CHECK_FINDINGS));
    }
    Ok(())
}
