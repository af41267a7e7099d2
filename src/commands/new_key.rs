//! `seal new-key`: a new age X25519 identity in the exact `age-keygen` file format.

use std::fs::OpenOptions;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit, io_reason};

/// Generate an age identity (age-keygen format) and print its public key
///
/// With -o FILE the identity is written to FILE, created with mode 0600; an existing file
/// is never overwritten. Without -o it is appended to the file sops reads by default,
/// $XDG_CONFIG_HOME/sops/age/keys.txt (~/.config/sops/age/keys.txt), created 0600 in a
/// 0700 directory. `-o -` prints the identity to standard output.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// Where to write the identity (`-` for standard output).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Run `seal new-key`.
pub fn run(ctx: &Ctx, args: &NewKeyArgs) -> Result<(), CliError> {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let created = crate::tree::time_text::format_rfc3339_seconds(created);
    let secret = id.to_string();
    let text = zeroize::Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        secret.expose_secret()
    ));
    match &args.output {
        Some(p) if p.as_os_str() == "-" => {
            crate::fsio::write_stdout(text.as_bytes()).map_err(|e| {
                CliError::new(
                    exit::COULD_NOT_WRITE_OUTPUT,
                    format!("cannot write to standard output: {}", io_reason(&e)),
                )
            })?;
            eprintln!("Public key: {public}");
            return Ok(());
        }
        Some(p) => {
            let path = ctx.absolute(p);
            let mut f = open_new(&path, false).map_err(|e| {
                let err = CliError::write_io(&path, e);
                if path.exists() {
                    CliError::new(
                        exit::COULD_NOT_WRITE_OUTPUT,
                        "the file already exists; seal never overwrites a key file",
                    )
                    .in_file(&path)
                    .hint("choose another -o path, or omit -o to append to the default keys.txt")
                } else {
                    err
                }
            })?;
            f.write_all(text.as_bytes())
                .map_err(|e| CliError::write_io(&path, e))?;
            f.sync_all().map_err(|e| CliError::write_io(&path, e))?;
            eprintln!("Public key: {public}");
        }
        None => {
            let path = default_keys_file(ctx)?;
            if let Some(dir) = path.parent() {
                create_private_dir(dir).map_err(|e| CliError::write_io(dir, e))?;
            }
            let mut f = open_new(&path, true).map_err(|e| CliError::write_io(&path, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| CliError::write_io(&path, e))?;
            f.sync_all().map_err(|e| CliError::write_io(&path, e))?;
            eprintln!("Added a new identity to {}", path.display());
            eprintln!("Public key: {public}");
        }
    }
    println!("{public}");
    Ok(())
}

fn default_keys_file(ctx: &Ctx) -> Result<PathBuf, CliError> {
    let base = match ctx.env.var("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => ctx.env.home().map(|h| h.join(".config")).ok_or_else(|| {
            CliError::new(
                exit::GENERIC,
                "HOME is not set, so the default keys.txt cannot be found",
            )
            .hint("pass -o FILE")
        })?,
    };
    Ok(base.join("sops/age/keys.txt"))
}

fn open_new(path: &std::path::Path, append: bool) -> std::io::Result<std::fs::File> {
    let mut o = OpenOptions::new();
    if append {
        o.append(true).create(true);
    } else {
        o.write(true).create_new(true);
    }
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path)
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}
