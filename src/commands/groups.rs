//! `seal groups add|remove`: add a key group (age, PGP, AWS KMS, GCP KMS, Azure Key Vault,
//! HuaweiCloud KMS, Vault transit keys) to an encrypted file, or remove one (by its
//! index, counted from 0 as `sops groups add|delete` count). The data key stays the same:
//! it is opened, then wrapped again for every group (split anew with Shamir when there are
//! several). Values, `lastmodified` and the MAC are untouched, as in sops. Unlike sops,
//! a change that would leave a group no key could open (an empty group, a bad recipient,
//! a Shamir threshold no set of groups can meet, no group at all) is refused.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::commands::common::{self, Ctx, Input, InputArgs, OutputArgs, destination, write_result};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::keys;
use crate::stores::Format;

/// Add or remove a key group of an encrypted file (sops groups add|delete)
///
/// The file's data key is opened with your identities and wrapped again for every key
/// group; values, lastmodified and the MAC stay as they are. With several groups the data
/// key is split with Shamir secret sharing: --shamir-secret-sharing-threshold groups are
/// then needed to open the file (default: the file's threshold, else all groups).
#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GroupsCommand,
}

/// The `seal groups` subcommands.
#[allow(missing_docs)]
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    Add(Box<AddArgs>),
    Remove(RemoveArgs),
}

/// Add a key group (age, PGP, AWS KMS, GCP KMS, Azure Key Vault, HuaweiCloud KMS, Vault
/// transit keys) to a file
///
/// The result is printed unless -i or --output is given.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The encrypted file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// An age recipient of the new group (comma-separated, repeatable).
    #[arg(long, value_name = "RECIPIENTS")]
    pub age: Vec<String>,

    /// A PGP fingerprint of the new group (comma-separated, repeatable).
    #[arg(long, value_name = "FINGERPRINTS")]
    pub pgp: Vec<String>,

    /// An AWS KMS key of the new group (ARN[+ROLE_ARN], comma-separated, repeatable).
    #[arg(long, value_name = "ARNS")]
    pub kms: Vec<String>,

    /// The AWS profile for the --kms keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,

    /// The KMS encryption context for the --kms keys (key1:value1,key2:value2).
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,

    /// A Vault/OpenBao transit key of the new group
    /// (https://HOST:PORT/v1/ENGINE/keys/NAME, comma-separated, repeatable).
    #[arg(long, value_name = "URIS")]
    pub hc_vault_transit: Vec<String>,

    /// A GCP Cloud KMS key of the new group
    /// (projects/P/locations/L/keyRings/R/cryptoKeys/K, comma-separated, repeatable).
    #[arg(long, value_name = "RESOURCE_IDS")]
    pub gcp_kms: Vec<String>,

    /// An Azure Key Vault key of the new group
    /// (https://VAULT.vault.azure.net/keys/NAME/VERSION, comma-separated, repeatable).
    #[arg(long, value_name = "URLS")]
    pub azure_kv: Vec<String>,

    /// A HuaweiCloud KMS key of the new group (REGION:KEY_UUID, comma-separated,
    /// repeatable).
    #[arg(long, value_name = "KEY_IDS")]
    pub hckms: Vec<String>,

    #[command(flatten)]
    shared: Shared,
}

/// Remove the key group at INDEX (counted from 0) from an encrypted file
///
/// The result is printed unless -i or --output is given.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The encrypted file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The index of the group to remove, counted from 0 (the order of `key_groups`).
    #[arg(value_name = "INDEX")]
    pub index: usize,

    #[command(flatten)]
    shared: Shared,
}

/// Options both subcommands take.
#[derive(Debug, Args)]
pub struct Shared {
    /// How many key groups are needed to open the file (Shamir secret sharing; 0: keep
    /// the file's threshold, or all groups).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub shamir_secret_sharing_threshold: usize,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    pub input_type: Option<Format>,

    #[command(flatten)]
    output: OutputArgs,
}

/// Run `seal groups`.
pub fn run(ctx: &Ctx, args: &GroupsArgs) -> Result<(), CliError> {
    match &args.command {
        GroupsCommand::Add(a) => {
            let mut group: Vec<String> = Vec::new();
            for r in a.age.iter().flat_map(|v| v.split(',')).map(str::trim) {
                if r.is_empty() {
                    continue;
                }
                keys::check_recipient(r)
                    .map_err(|e| CliError::new(exit::GENERIC, e.to_string()).in_file(&a.file))?;
                if !group.iter().any(|g| g == r) {
                    group.push(r.to_string());
                }
            }
            for fp in a.pgp.iter().flat_map(|l| keys::pgp::parse_fp_list(l)) {
                let tagged = keys::pgp::tag(&fp);
                if !group.contains(&tagged) {
                    group.push(tagged);
                }
            }
            let services = keys::service_flag_recipients(
                &a.kms,
                a.encryption_context.as_deref(),
                a.aws_profile.as_deref(),
                &a.hc_vault_transit,
            )
            .map_err(|e| CliError::from(e).in_file(&a.file))?;
            let huawei = keys::hckms::flag_recipients(&a.hckms, "--hckms")
                .map_err(|e| CliError::new(exit::GENERIC, e).in_file(&a.file))?;
            let cloud = keys::gcp_kms::flag_recipients(&a.gcp_kms)
                .into_iter()
                .chain(keys::azure_kv::flag_recipients(&a.azure_kv))
                .chain(huawei);
            for r in services.into_iter().chain(cloud) {
                if !group.contains(&r) {
                    group.push(r);
                }
            }
            if group.is_empty() {
                return Err(CliError::new(
                    exit::GENERIC,
                    "the new key group would be empty: nobody could open its share of the data key",
                )
                .in_file(&a.file)
                .hint("name its keys with --age RECIPIENT, --pgp FINGERPRINT, --kms ARN, --gcp-kms RESOURCE_ID, --azure-kv URL, --hckms REGION:KEY_UUID or --hc-vault-transit URI"));
            }
            change(ctx, &a.file, &a.shared, true, |groups| {
                groups.push(group);
                Ok(())
            })
        }
        GroupsCommand::Remove(r) => change(ctx, &r.file, &r.shared, false, |groups| {
            if r.index >= groups.len() {
                return Err(CliError::new(
                    exit::GENERIC,
                    format!(
                        "there is no key group {} to remove: the file has {} (counted from 0)",
                        r.index,
                        groups.len()
                    ),
                ));
            }
            if groups.len() == 1 {
                return Err(CliError::new(
                    exit::GENERIC,
                    "this is the file's only key group: without it nobody could open the file",
                )
                .hint("add the new group first (groups add), then remove this one"));
            }
            groups.remove(r.index);
            Ok(())
        }),
    }
}

/// Open the data key of `file`, change its groups' recipients with `edit`, wrap the same
/// data key for the new groups and write the result.
fn change(
    ctx: &Ctx,
    file: &std::path::Path,
    shared: &Shared,
    adding: bool,
    edit: impl FnOnce(&mut Vec<Vec<String>>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let input = Input::read(
        ctx,
        &InputArgs {
            file: Some(file.to_path_buf()),
            input_type: shared.input_type,
            output_type: None,
            filename_override: None,
        },
        Format::Yaml,
    )
    .map_err(|mut e| {
        // sops groups reports a missing file as unreadable (2), not as 100.
        if e.code == exit::NO_FILE {
            e.code = exit::COULD_NOT_READ_INPUT;
        }
        e
    })?;
    let dest = destination(&input, &shared.output)?;
    let (parsed, mut meta) = common::load_encrypted(&input)?;
    if meta.key_groups.iter().any(keys::has_foreign_keys) {
        return Err(CliError::new(
            exit::GENERIC,
            "the file has master keys of a type seal cannot wrap for: changing its groups would leave them stale",
        )
        .in_file(&input.display)
        .hint("change this file's groups with sops"));
    }
    let ids = ctx.identities();
    // As sops groups: a data key that cannot be opened is a generic failure (1).
    let key = keys::recover_data_key(&meta, &ids).map_err(|e| {
        let mut e = CliError::from(e).in_file(&input.display);
        e.code = exit::GENERIC;
        e
    })?;
    let mut groups: Vec<Vec<String>> = meta.key_groups.iter().map(keys::group_recipients).collect();
    edit(&mut groups).map_err(|e| e.in_file(&input.display))?;
    let mut threshold = match shared.shamir_secret_sharing_threshold {
        0 => meta.shamir_threshold,
        t => t,
    };
    if threshold > groups.len() && adding {
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "a Shamir threshold of {threshold} cannot be met with {} key groups: the file could never be opened",
                groups.len()
            ),
        )
        .in_file(&input.display)
        .hint(format!("pass --shamir-secret-sharing-threshold between 2 and {}", groups.len())));
    }
    if threshold > groups.len() {
        // sops's check and words (groups delete).
        let text = format!(
            "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {threshold}, but we only have {} key groups",
            groups.len()
        );
        return Err(CliError::new(exit::GENERIC, text.clone())
            .in_file(&input.display)
            .sops_text(text));
    }
    if groups.len() > 1 && threshold == 0 {
        threshold = groups.len();
    }
    meta.key_groups = keys::wrap_groups(&groups, threshold, &key)
        .map_err(|e| CliError::from(e).in_file(&input.display))?;
    meta.shamir_threshold = threshold;
    let config = ctx.config().ok().flatten();
    let opts = common::emit_options(input.format, shared.output.indent, config.as_ref());
    let out = input
        .format
        .store()
        .emit_encrypted(&parsed.docs, &meta.to_tree(), &parsed.layout, opts)
        .map_err(|e| CliError::writing(e).in_file(&input.display))?;
    write_result(dest.as_deref(), &out, Sensitivity::Public)
}
