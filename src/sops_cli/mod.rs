//! seal as `sops`: when the binary runs under the name `sops` (a link) or as
//! `seal sops ARGS…`, this module reads sops's command line (v3.13 surface: subcommands,
//! the legacy top-level flags, sops's environment variables) and turns it into the
//! equivalent `seal` command line, which the one clap definition of each command then
//! parses and runs. Nothing here encrypts or decrypts: the same command code serves both
//! names. What seal cannot do yet (other key types, `publish` to GCS)
//! fails with sops's exit code and a message that names it, before anything is read.

use std::ffi::{OsStr, OsString};
use std::path::Path;

pub mod commands;
pub mod completion;
pub mod flags;
pub mod groups;
pub mod legacy;

/// What to do with a sops command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Run this `seal` command line (argv[0] included).
    Seal(Vec<OsString>),
    /// Print `stdout` and exit with `code` (help, version).
    Print {
        /// The text for standard output.
        stdout: String,
    },
    /// Fail: the message goes to standard error, `code` is sops's exit code.
    Fail {
        /// The exit code.
        code: u8,
        /// The message (without a prefix).
        message: String,
    },
}

impl Plan {
    pub(crate) fn fail(code: u8, message: impl Into<String>) -> Plan {
        Plan::Fail {
            code,
            message: message.into(),
        }
    }
}

/// Whether `argv0` names sops (`sops`, `sops.exe`, any directory).
pub fn invoked_as_sops(argv0: &OsStr) -> bool {
    let name = Path::new(argv0).file_name().unwrap_or(argv0);
    name == "sops" || name == "sops.exe"
}

/// The sops arguments of a process command line, when it is one: argv[0] is `sops`, or
/// argv[1] is `sops` (`seal sops ARGS…`). Returns the arguments after the name.
pub fn sops_args(argv: &[OsString]) -> Option<Vec<OsString>> {
    let first = argv.first()?;
    if invoked_as_sops(first) {
        return Some(argv[1..].to_vec());
    }
    if argv.get(1).is_some_and(|a| a == "sops") {
        return Some(argv[2..].to_vec());
    }
    None
}

/// Translate sops arguments (after the program name) into what to do.
pub fn plan(args: &[OsString]) -> Plan {
    match args.first().and_then(|a| a.to_str()) {
        Some(name) if commands::is_subcommand(name) => commands::plan(name, &args[1..], None),
        _ => {
            // Global flags before a subcommand (`sops --config F encrypt FILE`): sops reads
            // --config, --indent, --mac-only-encrypted and --verbose from there; the
            // other global flags are accepted and not used by the subcommand.
            if let Ok(globals) = flags::parse(args, false, None)
                && !globals.on("help")
                && !globals.on("version")
                && let Some(name) = globals
                    .args
                    .first()
                    .and_then(|a| a.to_str())
                    .filter(|n| commands::is_subcommand(n))
            {
                let at = args.len() - globals.args.len();
                return commands::plan(name, &args[at + 1..], Some(&globals));
            }
            legacy::plan(args)
        }
    }
}

/// Print a warning the way sops logs one (logrus text format on standard error).
pub fn warn(message: &str) {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .map(|s| {
            // logrus prints whole seconds.
            match s.split_once('.') {
                Some((head, _)) => format!("{head}Z"),
                None => s,
            }
        })
        .unwrap_or_default();
    eprintln!(
        "[CMD]\t time=\"{stamp}\" level=warning msg=\"{}\"",
        message.replace('\\', "\\\\").replace('"', "\\\"")
    );
}

/// The short help seal prints for `sops --help` (sops's own help text is sops's).
pub fn help() -> String {
    format!(
        "seal {} running as sops (sops {} command line)\n\n\
         usage: sops [options] FILE            edit FILE (or -e/-d/-r/--set FILE)\n\
         \x20      sops COMMAND [options] FILE    encrypt, decrypt, rotate, edit, set, unset,\n\
         \x20                                     exec-env, exec-file, filestatus, updatekeys,\n\
         \x20                                     groups add|delete\n\n\
         Flags after FILE are ignored at the top level (as in sops); after a command they\n\
         apply. `seal help` and `seal COMMAND --help` describe each option; what differs from\n\
         sops is listed in docs/sops-compat.md.\n",
        env!("CARGO_PKG_VERSION"),
        crate::metadata::SOPS_VERSION
    )
}

/// `sops --version`: the first word pair is what scripts parse.
pub fn version() -> String {
    format!(
        "sops {} (seal {})\n",
        crate::metadata::SOPS_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}
