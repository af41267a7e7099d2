//! `seal publish` (sops's `publish`): send an encrypted file to the destination its
//! `.sops.yaml` `destination_rules` entry names. S3 and GCS: the encrypted file,
//! re-encrypted first for the rule's `recreation_rule` keys when it names any (else sent
//! as it is). Vault KV (version 1 or 2): the decrypted top-level values, as sops writes
//! them. Asks before each upload unless `--yes`; `--recursive` publishes every
//! file below a directory under its relative path; `--omit-extensions` (or the rule's
//! `omit_extensions`) drops the file extension from the destination name.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use zeroize::Zeroizing;

use super::common::{self, Ctx};
use super::rotate;
use crate::config::{Config, Destination};
use crate::error::{CliError, exit};
use crate::keys;
use crate::stores::{EmitOptions, Format, Layout};

/// Publish an encrypted file (or, with --recursive, a directory) to its .sops.yaml
/// destination (sops's destination_rules: S3, GCS, Vault KV).
///
/// S3 and GCS get the encrypted file, re-encrypted for the rule's recreation_rule keys
/// when it names any; Vault KV gets the decrypted values (as sops publishes them). The S3
/// client finds credentials and endpoints as for AWS KMS keys, the GCS client as for GCP
/// Cloud KMS keys (STORAGE_EMULATOR_HOST names an emulator, without credentials); Vault's address is the rule's
/// vault_address, else VAULT_ADDR, and the token VAULT_TOKEN or ~/.vault-token.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The encrypted file, or a directory with --recursive.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Publish without asking first.
    #[arg(short = 'y', long)]
    yes: bool,

    /// Drop file extensions from the destination names.
    #[arg(long)]
    omit_extensions: bool,

    /// Publish every file below a directory (under its path relative to it).
    #[arg(long)]
    recursive: bool,
}

/// Run `seal publish`.
pub fn run(ctx: &Ctx, args: &PublishArgs) -> Result<(), CliError> {
    let config = ctx.config()?.ok_or_else(|| {
        CliError::new(
            exit::GENERIC,
            "no .sops.yaml found: publish needs its destination_rules",
        )
        .hint("add a destination_rules entry (s3_bucket, gcs_bucket or vault_path) to .sops.yaml")
    })?;
    let path = ctx.absolute(&args.path);
    if !path.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        return publish_one(ctx, &config, args, &path, &name);
    }
    if !args.recursive {
        return Err(CliError::new(
            exit::GENERIC,
            "can't operate on a directory without --recursive flag",
        )
        .in_file(&args.path)
        .hint("pass --recursive to publish every file below it"));
    }
    let mut files = Vec::new();
    collect(&path, &mut files).map_err(|e| {
        CliError::new(
            exit::GENERIC,
            format!("cannot list the directory: {}", crate::error::io_reason(&e)),
        )
        .in_file(&args.path)
    })?;
    files.sort();
    for file in files {
        let rel = file.strip_prefix(&path).unwrap_or(&file);
        let name = rel.to_string_lossy().replace('\\', "/");
        publish_one(ctx, &config, args, &file, &name)?;
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// `name` without the extension of its last component.
fn without_extension(name: &str) -> String {
    let (dir, base) = match name.rfind('/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    match base.rfind('.') {
        Some(i) if i > 0 => format!("{dir}{}", &base[..i]),
        _ => name.to_string(),
    }
}

fn publish_one(
    ctx: &Ctx,
    config: &Config,
    args: &PublishArgs,
    file: &Path,
    name: &str,
) -> Result<(), CliError> {
    let rule = config.destination_for(file)?.ok_or_else(|| {
        CliError::new(exit::GENERIC, "no matching destination found in config")
            .in_file(file)
            .hint(format!(
                "add a destination_rules entry whose path_regex matches it to {}",
                config.path.display()
            ))
            .sops_text("error loading config: no matching destination found in config")
    })?;
    let name = if args.omit_extensions || rule.omit_extensions {
        without_extension(name)
    } else {
        name.to_string()
    };
    let input = rotate::read_input(&ctx.cwd, file, None, None)?;
    let env = ctx.env.as_ref();
    match &rule.destination {
        Destination::S3 { bucket, prefix } => {
            let bytes = encrypted_copy(ctx, config, rule, &input)?;
            let key = format!("{prefix}{name}");
            confirm(args, file, &format!("s3://{bucket}/{key}"))?;
            keys::aws_kms::s3::put_object(bucket, &key, &bytes, env).map_err(|e| {
                CliError::new(exit::GENERIC, e.message)
                    .in_file(file)
                    .hint("check AWS_ENDPOINT_URL / the region, the credentials and the bucket")
            })
        }
        Destination::Gcs { bucket, prefix } => {
            let bytes = encrypted_copy(ctx, config, rule, &input)?;
            let object = format!("{prefix}{name}");
            confirm(args, file, &format!("gcs://{bucket}/{object}"))?;
            keys::gcp_kms::gcs::put_object(bucket, &object, &bytes, env).map_err(|e| {
                CliError::new(exit::GENERIC, e.message).in_file(file).hint(
                    "check the credentials (GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_OAUTH_ACCESS_TOKEN or gcloud's application default credentials), STORAGE_EMULATOR_HOST for an emulator, and that the bucket exists",
                )
            })
        }
        Destination::Vault {
            address,
            path,
            mount,
            version,
        } => {
            let ids = ctx.identities();
            let opened = common::open(&input, &ids, false, false)?;
            let json = Zeroizing::new(
                Format::Json
                    .store()
                    .emit_plain(&opened.docs, &Layout::none(), EmitOptions::default())
                    .map_err(|e| CliError::writing(e).in_file(file))?,
            );
            let data: serde_json::Value = serde_json::from_slice(&json).map_err(|_| {
                CliError::new(
                    exit::GENERIC,
                    "the decrypted file is not a mapping of values that Vault KV can hold",
                )
                .in_file(file)
            })?;
            if !data.is_object() {
                return Err(CliError::new(
                    exit::GENERIC,
                    "Vault KV holds a mapping: the file's top level is not one",
                )
                .in_file(file));
            }
            let url = keys::hc_vault::kv_url(
                address.as_deref(),
                mount,
                &format!("{path}{name}"),
                *version,
                env,
            );
            confirm(args, file, &url)?;
            keys::hc_vault::kv_put(&url, *version, &data, env).map_err(|e| {
                CliError::new(exit::GENERIC, e.message).in_file(file).hint(
                    "check VAULT_ADDR (or the rule's vault_address), VAULT_TOKEN and the KV mount",
                )
            })
        }
    }
}

/// What S3 and GCS get: the encrypted file, re-encrypted for the rule's
/// `recreation_rule` keys when it names any (printing the key group changes first, as
/// sops), else the file as it is (checked to be a sops file).
fn encrypted_copy(
    ctx: &Ctx,
    config: &Config,
    rule: &crate::config::DestinationRule,
    input: &common::Input,
) -> Result<Vec<u8>, CliError> {
    let groups: Vec<Vec<String>> = rule
        .recreation
        .iter()
        .flat_map(|r| r.key_groups.iter())
        .filter(|g| !g.is_empty())
        .cloned()
        .collect();
    if groups.is_empty() {
        common::load_encrypted(input)?;
        return Ok(input.bytes.clone());
    }
    let ids = ctx.identities();
    let opened = common::open(input, &ids, false, false)?;
    print_diff(&rotate::age_groups(&opened.metadata), &groups);
    let threshold = rule
        .recreation
        .as_ref()
        .map(|r| r.shamir_threshold)
        .unwrap_or_default();
    let threshold = if groups.len() > 1 { threshold } else { 0 };
    rotate::reencrypt(input, opened, &groups, threshold, Some(config), None)
}

/// The key group changes, as sops prints them before re-encrypting (standard output).
fn print_diff(old: &[Vec<String>], new: &[Vec<String>]) {
    let changes = (0..old.len().max(new.len())).any(|i| {
        old.get(i).map(Vec::as_slice).unwrap_or_default()
            != new.get(i).map(Vec::as_slice).unwrap_or_default()
    });
    if !changes {
        return;
    }
    let empty = Vec::new();
    let mut out = String::from("The following changes will be made to the file's key groups:\n");
    for i in 0..old.len().max(new.len()) {
        let (o, n) = (old.get(i).unwrap_or(&empty), new.get(i).unwrap_or(&empty));
        out.push_str(&format!("Group {}\n", i + 1));
        for r in n.iter().filter(|r| o.contains(r)) {
            out.push_str(&format!("    {r}\n"));
        }
        for r in n.iter().filter(|r| !o.contains(r)) {
            out.push_str(&format!("+++ {r}\n"));
        }
        for r in o.iter().filter(|r| !n.contains(r)) {
            out.push_str(&format!("--- {r}\n"));
        }
    }
    print!("{out}");
}

/// Without --yes, ask on the terminal (standard output / standard input) as sops does;
/// anything but `y` cancels (exit 1).
fn confirm(args: &PublishArgs, file: &Path, dest: &str) -> Result<(), CliError> {
    if args.yes {
        return Ok(());
    }
    print!("uploading {} to {dest} ? (y/n): ", file.display());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == "y" {
        return Ok(());
    }
    Err(CliError::new(
        exit::GENERIC,
        format!("Publication of {} canceled", file.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_dropped_from_the_last_component_only() {
        assert_eq!(without_extension("a.json"), "a");
        assert_eq!(without_extension("d.x/b.enc.yaml"), "d.x/b.enc");
        assert_eq!(without_extension("d.x/b"), "d.x/b");
        assert_eq!(without_extension(".env"), ".env");
    }
}
