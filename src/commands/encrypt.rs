//! `seal encrypt`: plaintext in, a sops-compatible encrypted file out.

use std::path::PathBuf;

use clap::Args;

use crate::cipher::{DataKey, Stash};
use crate::commands::common::{
    self, CreationArgs, Ctx, Input, InputArgs, OutputArgs, SealPlan, destination, emit_options,
    write_result,
};
use crate::error::{CliError, exit};
use crate::fsio::{self, Sensitivity};
use crate::keys;
use crate::metadata::KeyGroup;
use crate::rules;
use crate::stores::{Format, Layout};

/// Encrypt a file (to stdout, or -i / --output)
///
/// Recipients come from --age (or SOPS_AGE_RECIPIENTS), else from the first creation rule
/// of .sops.yaml whose path_regex matches the file. What is encrypted comes from a selector
/// flag, else the rule, else seal's Kubernetes default: when every document is a Kubernetes
/// object and at least one is a Secret, only `data` and `stringData` are encrypted
/// (recorded as encrypted_regex: ^(data|stringData)$, so sops and Flux agree). Otherwise
/// every value is encrypted except keys ending in _unencrypted, as sops does.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// Encrypt for these age recipients (comma-separated); replaces the rule's keys.
    #[arg(long, env = "SOPS_AGE_RECIPIENTS", value_name = "RECIPIENTS")]
    age: Option<String>,

    /// Encrypt for these PGP fingerprints (comma-separated) through gpg, with --age in one
    /// key group; replaces the rule's keys.
    #[arg(long, env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pgp: Option<String>,

    /// Encrypt for these AWS KMS keys (comma-separated ARN[+ROLE_ARN]), with --age in one
    /// key group; replaces the rule's keys.
    #[arg(long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    kms: Option<String>,

    /// The AWS profile for the --kms keys.
    #[arg(long, value_name = "PROFILE")]
    aws_profile: Option<String>,

    /// The KMS encryption context for the --kms keys (key1:value1,key2:value2).
    #[arg(long, value_name = "CONTEXT")]
    encryption_context: Option<String>,

    /// Encrypt for these Vault/OpenBao transit keys (comma-separated
    /// https://HOST:PORT/v1/ENGINE/keys/NAME), with --age in one key group; replaces the
    /// rule's keys.
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    hc_vault_transit: Option<String>,

    /// Encrypt for these GCP Cloud KMS keys (comma-separated
    /// projects/P/locations/L/keyRings/R/cryptoKeys/K), with --age in one key group;
    /// replaces the rule's keys.
    #[arg(long, env = "SOPS_GCP_KMS_IDS", value_name = "RESOURCE_IDS")]
    gcp_kms: Option<String>,

    /// Encrypt for these Azure Key Vault keys (comma-separated
    /// https://VAULT.vault.azure.net/keys/NAME/VERSION), with --age in one key group;
    /// replaces the rule's keys.
    #[arg(long, env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    azure_kv: Option<String>,

    /// Encrypt for these HuaweiCloud KMS keys (comma-separated REGION:KEY_UUID), with --age
    /// in one key group; replaces the rule's keys.
    #[arg(long, env = "SOPS_HUAWEICLOUD_KMS_IDS", value_name = "KEY_IDS")]
    hckms: Option<String>,

    #[command(flatten)]
    creation: CreationArgs,

    /// Reuse the data key of this encrypted file and the exact ciphertext of every value
    /// whose path and plaintext are unchanged, so a one-key change is a one-line diff.
    #[arg(long, value_name = "OLD")]
    previous: Option<PathBuf>,

    /// sops's default selector instead of seal's Kubernetes one (set by seal-as-sops).
    #[arg(long, hide = true)]
    sops_defaults: bool,
}

/// Run `seal encrypt`.
pub fn run(ctx: &Ctx, args: &EncryptArgs) -> Result<(), CliError> {
    let mut input_args = args.input.clone();
    if input_args.filename_override.is_none()
        && input_args
            .file
            .as_ref()
            .is_none_or(|f| f.as_os_str() == "-")
    {
        // A pipeline that regenerates a file names it through --previous.
        input_args.filename_override = args.previous.clone();
    }
    let mut input = Input::read(ctx, &input_args, Format::Yaml)?;
    input.out_format = output_format(&input_args, &input);
    let dest = destination(&input, &args.output)?;
    refuse_hard_links(dest.as_deref())?;
    let config = ctx.config()?;
    let out = encrypt_input(ctx, args, &input, config.as_ref())?;
    write_result(dest.as_deref(), &out, Sensitivity::Public)
}

/// Encrypt plaintext held in memory as `seal encrypt` would: `input`'s name picks the
/// creation rule (recipients, selector), `age` (comma-separated) replaces the rule's keys
/// when given. For commands that make a sops file without writing the plaintext anywhere
/// (`seal seal --recovery-unseal --to-sops`).
pub fn encrypt_in_memory(
    ctx: &Ctx,
    input: &Input,
    age: Option<String>,
) -> Result<Vec<u8>, CliError> {
    let args = EncryptArgs {
        input: InputArgs {
            file: None,
            input_type: None,
            output_type: None,
            filename_override: None,
        },
        output: OutputArgs {
            in_place: false,
            output: None,
            indent: None,
        },
        age,
        pgp: None,
        kms: None,
        aws_profile: None,
        encryption_context: None,
        hc_vault_transit: None,
        gcp_kms: None,
        azure_kv: None,
        hckms: None,
        creation: CreationArgs::default(),
        previous: None,
        sops_defaults: false,
    };
    let config = ctx.config()?;
    encrypt_input(ctx, &args, input, config.as_ref())
}

/// Fail before any work when the destination has other hard links (see
/// [`fsio::check_not_hard_linked`]): `-i` would leave them with the old content.
pub fn refuse_hard_links(dest: Option<&std::path::Path>) -> Result<(), CliError> {
    match dest {
        Some(d) => fsio::check_not_hard_linked(d).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!("refusing to write: {}", crate::error::io_reason(&e)),
            )
            .in_file(d)
        }),
        None => Ok(()),
    }
}

/// The output format as sops 3.11 picks it: `--output-type`, else the format the file's
/// name (or `--filename-override`) says, else (standard input) the input format. So
/// `encrypt --input-type binary x.yaml` writes a YAML envelope, and decrypting a JSON file
/// named `x.yaml` with `--input-type json` prints YAML. One exception: a name that says
/// nothing (no known extension, e.g. git's `.merge_file_ours`) does not turn an explicit
/// text `--input-type` into binary output; sops would fail there ("no binary data found
/// in tree") or write a JSON document.
pub fn output_format(args: &InputArgs, input: &Input) -> Format {
    args.output_type.unwrap_or_else(
        || match input.rules_path.as_deref().map(Format::from_path) {
            Some(Format::Binary) if input.format != Format::Binary => input.format,
            Some(named) => named,
            None => input.format,
        },
    )
}

fn encrypt_input(
    ctx: &Ctx,
    args: &EncryptArgs,
    input: &Input,
    config: Option<&crate::config::Config>,
) -> Result<Vec<u8>, CliError> {
    let store = input.format.store();
    let parsed = store
        .load_plain(&input.bytes)
        .map_err(|e| CliError::reading_plain(e).in_file(&input.display))?;
    if parsed.metadata.is_some() {
        return Err(CliError::new(
            exit::FILE_ALREADY_ENCRYPTED,
            "the file is already encrypted: it has a top-level `sops` entry (dotenv: a sops_ key; INI: a [sops] section)",
        )
        .in_file(&input.display)
        .hint("decrypt it first, or use `seal rotate`/`seal updatekeys` to change its keys"));
    }
    let mut docs = parsed.docs;

    let rule = common::matching_rule(config, input)?;

    // Recipients: --age replaces the rule's key groups entirely (as in sops).
    let flagged = args.age.is_some()
        || args.pgp.is_some()
        || args.kms.is_some()
        || args.hc_vault_transit.is_some()
        || args.gcp_kms.is_some()
        || args.azure_kv.is_some()
        || args.hckms.is_some();
    let groups: Vec<Vec<String>> = match (&args.age, &args.pgp) {
        _ if !flagged => match rule {
            Some(r) => {
                // A master key seal cannot wrap for is never dropped: the whole rule is
                // refused, even when it also names age or PGP keys.
                if !r.unsupported_keys.is_empty() {
                    return Err(CliError::new(
                        exit::GENERIC,
                        format!(
                            "the matching creation rule names key types seal does not support yet ({}); seal wraps data keys for age, PGP, AWS KMS, GCP KMS, Azure Key Vault, HuaweiCloud KMS and Vault transit only, and does not drop a master key",
                            r.unsupported_keys.join(", ")
                        ),
                    )
                    .in_file(&input.display)
                    .hint("encrypt this file with the real sops, or pass --age/--pgp to choose the keys yourself"));
                }
                // sops refuses a rule with an empty key group (`- {}` among others).
                if r.key_groups.len() > 1 && r.key_groups.iter().any(|g| g.is_empty()) {
                    return Err(CliError::new(
                        exit::GENERIC,
                        "a key group of the matching creation rule names no keys: nothing could wrap the data key for that group",
                    )
                    .in_file(&input.display)
                    .hint("remove the empty group from key_groups in .sops.yaml, or add a key to it")
                    .sops_text("Could not generate data key: [empty key group provided]"));
                }
                r.key_groups.clone()
            }
            None => Vec::new(),
        },
        (age, pgp) => {
            let mut rs: Vec<String> = age
                .iter()
                .flat_map(|l| l.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            rs.extend(
                pgp.iter()
                    .flat_map(|l| keys::pgp::parse_fp_list(l))
                    .map(|fp| keys::pgp::tag(&fp)),
            );
            rs.extend(
                keys::service_flag_recipients(
                    args.kms.as_slice(),
                    args.encryption_context.as_deref(),
                    args.aws_profile.as_deref(),
                    args.hc_vault_transit.as_slice(),
                )
                .map_err(|e| CliError::from(e).in_file(&input.display))?,
            );
            rs.extend(keys::gcp_kms::flag_recipients(args.gcp_kms.as_slice()));
            rs.extend(keys::azure_kv::flag_recipients(args.azure_kv.as_slice()));
            rs.extend(
                keys::hckms::flag_recipients(args.hckms.as_slice(), "--hckms")
                    .map_err(|e| CliError::new(exit::GENERIC, e).in_file(&input.display))?,
            );
            vec![rs]
        }
    };
    let groups: Vec<Vec<String>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() && args.previous.is_none() && rule.is_some() {
        // A rule matched but names no key (no keys, `key_groups: []`, or `- {}`).
        return Err(CliError::new(
            exit::GENERIC,
            "the matching creation rule names no keys (its key groups are empty): nothing could wrap the data key",
        )
        .in_file(&input.display)
        .hint("add an `age:` (or `pgp:`) key to the rule in .sops.yaml, or pass --age")
        .sops_text("Could not generate data key: [empty key group provided]"));
    }
    if groups.is_empty() && args.previous.is_none() {
        return Err(CliError::new(
            exit::GENERIC,
            "no recipients: config file not found, or it has no creation rules, and no keys were given",
        )
        .in_file(&input.display)
        .hint("pass --age age1… (or set SOPS_AGE_RECIPIENTS), or add a creation rule with age recipients to .sops.yaml"));
    }
    for r in groups.iter().flatten() {
        keys::check_recipient(r)?;
    }

    let binary = input.format == Format::Binary;
    let selector = if binary {
        None
    } else {
        let chosen = args
            .creation
            .selector()?
            .or_else(|| rule.and_then(|r| r.selector.clone()));
        if chosen.is_none() && !args.sops_defaults {
            common::warn_kubernetes_spillover(&input.display, &docs);
        }
        Some(
            chosen
                .or_else(|| (!args.sops_defaults).then(|| rules::kubernetes_default(&docs))?)
                .unwrap_or_default(),
        )
    };
    let mac_only = args.creation.mac_only_encrypted || rule.is_some_and(|r| r.mac_only_encrypted);
    let threshold = args.creation.threshold(rule, groups.len())?;

    // Data key: fresh, or the previous file's (with its ciphertexts' IVs for stable diffs).
    let (key, key_groups, stash, threshold): (DataKey, Vec<KeyGroup>, Option<Stash>, usize) =
        match &args.previous {
            Some(prev) => {
                let ids = ctx.identities();
                let prev_input = Input::read(
                    ctx,
                    &InputArgs {
                        file: Some(prev.clone()),
                        input_type: None,
                        output_type: None,
                        filename_override: None,
                    },
                    Format::Yaml,
                )?;
                let opened = common::open(&prev_input, &ids, false, true)?;
                // No recipients given: keep the previous file's.
                let same_recipients = groups.is_empty()
                    || recipients_of(&opened.metadata.key_groups) == normalize(&groups);
                let (kg, thr) = if same_recipients {
                    (
                        opened.metadata.key_groups.clone(),
                        opened.metadata.shamir_threshold,
                    )
                } else {
                    (
                        keys::wrap_groups(&groups, threshold, &opened.key)?,
                        threshold,
                    )
                };
                (opened.key, kg, Some(opened.stash), thr)
            }
            None => {
                let key = DataKey::generate();
                let kg = keys::wrap_groups(&groups, threshold, &key)?;
                (key, kg, None, threshold)
            }
        };

    let shamir_threshold = if key_groups.len() > 1 { threshold } else { 0 };
    let metadata = common::seal_docs(
        &mut docs,
        &key,
        SealPlan {
            selector,
            mac_only_encrypted: mac_only,
            key_groups,
            shamir_threshold,
            version: common::new_version(),
        },
        stash.as_ref(),
    )
    .map_err(|e| e.in_file(&input.display))?;

    let out_store = input.out_format.store();
    let layout = if input.out_format == input.format {
        parsed.layout
    } else {
        Layout::none()
    };
    let opts = emit_options(input.out_format, args.output.indent, config);
    out_store
        .emit_encrypted(&docs, &metadata.to_tree(), &layout, opts)
        .map_err(|e| CliError::writing(e).in_file(&input.display))
}

fn recipients_of(groups: &[KeyGroup]) -> Vec<Vec<String>> {
    normalize(
        &groups
            .iter()
            .map(keys::group_recipients)
            .collect::<Vec<_>>(),
    )
}

fn normalize(groups: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut gs: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut g = g.clone();
            g.sort();
            g
        })
        .collect();
    gs.sort();
    gs
}
