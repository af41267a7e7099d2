//! The command line as the user types it (clap derive). Resolution of the environment,
//! config and keys happens later, in the commands; `--help` and `--version` never touch
//! them.

use std::path::PathBuf;

use clap::Parser;

use crate::commands::Command;

/// seal: secrets for Kubernetes GitOps repositories.
///
/// seal encrypts and decrypts files that sops 3.x and Flux read and write (same ENC values,
/// MAC, metadata and .sops.yaml rules), with age keys. It keeps your YAML's layout and
/// comments, and by default encrypts only `data`/`stringData` of Kubernetes Secrets so
/// `apiVersion`, `kind` and `metadata` stay readable.
#[derive(Debug, Parser)]
#[command(name = "seal", version, max_term_width = 100, after_long_help = EXIT_CODES)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,

    /// Use this .sops.yaml instead of searching the current directory and its parents.
    #[arg(long, global = true, env = "SOPS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print less: no progress bar and no narration (results and errors are still printed;
    /// check: nothing at all when there is no finding at error level).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    /// Print more detail where a command has some (check: info-level findings too).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    /// The key types to try first, in this order, in each key group when opening a file
    /// (comma-separated sops names: age, pgp, kms, hc_vault; the others follow). Without it,
    /// $SOPS_DECRYPTION_ORDER, else age,pgp. A type named twice is an error (exit 112).
    #[arg(long, global = true, value_name = "TYPES")]
    pub decryption_order: Option<String>,

    /// A sops key service to wrap and unwrap data keys with (tcp://HOST:PORT or
    /// unix:///PATH; repeat it or separate with commas), tried in order after this
    /// machine's keys. No TLS: use loopback, a unix socket or a tunnel.
    #[arg(
        long,
        global = true,
        env = "SOPS_KEYSERVICE",
        value_name = "URI",
        value_delimiter = ','
    )]
    pub keyservice: Vec<String>,

    /// Whether this machine's keys are used (true); false leaves the work to the
    /// --keyservice services alone.
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub enable_local_keyservice: bool,
}

/// The exit-code table shown at the end of `--help` (sops's numbers).
pub const EXIT_CODES: &str = "\
Exit codes (the same numbers as sops):
  0    success
  1    generic error (no sops metadata, no matching creation rule, bad metadata)
  2    the input could not be read or parsed
  3    the output could not be written
  4    the data cannot be written in the output format
  7    set: the value is not valid JSON (pass --raw for a plain string)
  8    conflicting or missing parameters
  23   the file could not be encrypted (e.g. a non-string key)
  25   a value could not be decrypted (tampered, moved or malformed)
  51   MAC mismatch (the file was changed outside sops/seal)
  91   invalid --extract path
  92   the file has no document
  100  the file does not exist
  112  --decryption-order names a key type twice
  127  exec-env/exec-file: the command could not be started
  128  no available identity can decrypt the data key
  200  edit --exit-code: the file was not changed
  201  edit: the editor could not be run or failed
  203  the file is already encrypted

seal check: 0 no error-level finding, 1 findings at error level, 2 usage or I/O error.
exec-env/exec-file pass the command's own exit code through.";
