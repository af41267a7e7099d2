//! `seal key …`: list the identities seal finds (`list`), print keyring identities for
//! `SOPS_AGE_KEY_CMD` (`export`), derive public keys like `age-keygen -y` (`public`), and
//! remove a keyring identity (`forget`). Also the `.sops.yaml` editing of
//! `new-key --add-to-config` ([`sops_yaml`]).

use std::io::Read;
use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use clap::{Args, Subcommand};

use crate::commands::common::Ctx;
use crate::error::{CliError, exit, io_reason};
use crate::keyring::{Keyring, KeyringError};

pub mod sops_yaml;

/// Inspect and move age identities (list, export, public, forget)
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// The `seal key` subcommands.
#[allow(missing_docs)]
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    List(ListArgs),
    Export(ExportArgs),
    Public(PublicArgs),
    Forget(ForgetArgs),
}

/// Show every identity seal can find, with its public key and where it came from
///
/// The sources are those sops reads (SSH keys, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
/// SOPS_AGE_KEY_CMD, the default keys.txt) plus the OS keyring. Standard output has one
/// line per identity: the public key, two spaces, the source. Secrets are never shown.
/// Standard error lists every place looked at and what it gave.
#[derive(Debug, Args)]
pub struct ListArgs {}

/// Print keyring identities (secret keys) for SOPS_AGE_KEY_CMD
///
/// Prints the identities stored in the OS keyring (service `seal`, or
/// $SEAL_KEYRING_SERVICE) in the age-keygen format, all of them or the one for
/// PUBLIC_KEY. With SOPS_AGE_KEY_CMD="seal key export" the real sops can use keyring
/// keys. Only the keyring is read, so this command never runs SOPS_AGE_KEY_CMD itself.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export only the identity of this age public key (age1…).
    #[arg(value_name = "PUBLIC_KEY")]
    pub public_key: Option<String>,
}

/// Print the public keys of an identity file (like `age-keygen -y`)
///
/// FILE holds age identities (AGE-SECRET-KEY-1…), is a passphrase-protected identity
/// file (the passphrase comes from SEAL_PASSPHRASE_FILE, SEAL_PASSPHRASE or the
/// terminal), or is an OpenSSH private key. Without FILE or with `-`, standard input is
/// read.
#[derive(Debug, Args)]
pub struct PublicArgs {
    /// The identity file.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Delete an identity from the OS keyring
///
/// The secret key is gone afterwards unless you exported it: files encrypted only for
/// it can no longer be decrypted. Export a backup first (`seal key export PUBLIC_KEY`).
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The age public key (age1…) of the identity to delete.
    #[arg(value_name = "PUBLIC_KEY")]
    pub public_key: String,
}

/// Run `seal key …`.
pub fn run(ctx: &Ctx, args: &KeyArgs) -> Result<(), CliError> {
    match &args.command {
        KeyCommand::List(_) => list(ctx),
        KeyCommand::Export(a) => export(ctx, a),
        KeyCommand::Public(a) => public(ctx, a),
        KeyCommand::Forget(a) => forget(ctx, a),
    }
}

fn list(ctx: &Ctx) -> Result<(), CliError> {
    // Listing runs the key commands now (without SOPS_AGE_RECIPIENT).
    let ids = crate::keys::Identities::discover(ctx.env.as_ref());
    let mut out = String::new();
    for e in ids.entries() {
        let public = e.public_key.as_deref().unwrap_or("(locked)");
        let note = match (&e.public_key, e.passphrase_protected) {
            (None, _) => {
                " (passphrase-protected identity file; its public keys show once unlocked: seal key public FILE)"
            }
            (Some(_), true) => " (passphrase-protected)",
            _ => "",
        };
        out.push_str(&format!("{public}  {}{note}\n", e.source));
    }
    write_out(out.as_bytes())?;
    if ids.is_empty() {
        eprintln!("seal: no identities found. Looked at:");
    } else {
        eprintln!("Looked at:");
    }
    eprintln!("{}", ids.report_text());
    Ok(())
}

/// The keyring of this run's service.
pub fn open_keyring(ctx: &Ctx) -> Result<Keyring, CliError> {
    let service = crate::keyring::service_name(|k| ctx.env.var(k));
    Keyring::open(&service).map_err(keyring_error)
}

/// A keyring error as a CLI error (exit 1), with the fix when there is one.
pub fn keyring_error(e: KeyringError) -> CliError {
    let hint = match &e {
        KeyringError::Unavailable { .. } => Some(
            "example: keyctl session - seal new-key --keyring (and run later seal commands \
             the same way)",
        ),
        KeyringError::NotFound { .. } => Some("seal key list shows the identities seal can find"),
        KeyringError::Unsupported => {
            Some("store the identity in a file instead (seal new-key, optionally --passphrase)")
        }
        KeyringError::Damaged { .. } => None,
    };
    let err = CliError::new(exit::GENERIC, e.to_string());
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

fn export(ctx: &Ctx, args: &ExportArgs) -> Result<(), CliError> {
    let ring = open_keyring(ctx)?;
    let publics = match &args.public_key {
        Some(p) => {
            let p = p.trim();
            if crate::keys::check_recipient(p).is_err() || !p.starts_with("age1") {
                return Err(CliError::new(
                    exit::GENERIC,
                    format!("{p:?} is not an age public key (age1…)"),
                ));
            }
            vec![p.to_string()]
        }
        None => ring.index().map_err(keyring_error)?,
    };
    if publics.is_empty() {
        eprintln!(
            "seal: the keyring holds no identities (service {}); nothing to export",
            ring.service()
        );
        return Ok(());
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    for public in &publics {
        let id = ring.load(public).map_err(keyring_error)?;
        text.push_str(&format!(
            "# public key: {public}\n{}\n",
            id.to_string().expose_secret()
        ));
    }
    write_out(text.as_bytes())
}

fn public(ctx: &Ctx, args: &PublicArgs) -> Result<(), CliError> {
    let file = args.file.as_ref().filter(|f| f.as_os_str() != "-");
    let (bytes, label) = match file {
        Some(f) => {
            let path = ctx.absolute(f);
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|fh| fh.take(16 << 20).read_to_end(&mut bytes))
                .map_err(|e| CliError::read_io(&path, e))?;
            (zeroize::Zeroizing::new(bytes), f.display().to_string())
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(16 << 20)
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    CliError::new(
                        exit::COULD_NOT_READ_INPUT,
                        format!("cannot read standard input: {}", io_reason(&e)),
                    )
                })?;
            (zeroize::Zeroizing::new(bytes), "standard input".to_string())
        }
    };
    let publics = crate::keys::public_keys_of(&bytes, &label, ctx.env.as_ref()).map_err(|e| {
        let err = CliError::new(exit::GENERIC, format!("{label}: {e}"));
        match file {
            Some(f) => err.in_file(ctx.absolute(f)),
            None => err,
        }
    })?;
    let mut out = String::new();
    for p in publics {
        out.push_str(&p);
        out.push('\n');
    }
    write_out(out.as_bytes())
}

fn forget(ctx: &Ctx, args: &ForgetArgs) -> Result<(), CliError> {
    let ring = open_keyring(ctx)?;
    let public = args.public_key.trim();
    ring.remove(public).map_err(keyring_error)?;
    eprintln!(
        "Deleted the identity {public} from the keyring (service {}).",
        ring.service()
    );
    Ok(())
}

fn write_out(bytes: &[u8]) -> Result<(), CliError> {
    crate::fsio::write_stdout(bytes).map_err(|e| {
        CliError::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write to standard output: {}", io_reason(&e)),
        )
    })
}
