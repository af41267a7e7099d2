//! `seal rotate`: a new data key for one or many files (every value re-encrypted), with
//! optional recipient changes (`--add-age` / `--rm-age`, as `sops rotate`), and the
//! re-encryption step `updatekeys --rotate` shares.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cipher::DataKey;
use crate::commands::common::{
    self, Ctx, Input, InputArgs, Opened, OutputArgs, SealPlan, destination, emit_options,
    write_result,
};
use crate::config::Config;
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::keys::{self, Identities, ProcessEnv};
use crate::repo::{self, BatchOptions, Planned, ReportFormat};
use crate::stores::{Format, Layout};

/// Re-encrypt files with a new data key, optionally changing recipients
///
/// Decrypts each file (checking its MAC), makes a new data key, re-encrypts every value and
/// comment with it, and wraps it for the file's recipients, after --add-age/--rm-age. The
/// file's `version` is kept. The recipients are the file's own (as `sops rotate`), not its
/// .sops.yaml rule's: when they differ a warning names them, and `seal updatekeys
/// --rotate` applies the rule (after removing someone from it). With one file the result is printed unless -i is given;
/// several files (or --all) need -i. With several files every result is computed first:
/// if any file fails, no file is written (unless --keep-going).
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The files to rotate (`-` or nothing: standard input).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Rotate every sops file below the current directory (in git: tracked files, and
    /// untracked ones git does not ignore; .sealignore skips paths). Needs -i.
    #[arg(long, conflicts_with = "files")]
    all: bool,

    /// Add these age recipients (comma-separated, repeatable) to the first key group.
    #[arg(long = "add-age", value_name = "RECIPIENTS")]
    add_age: Vec<String>,

    /// Remove these age recipients (comma-separated, repeatable) from every key group.
    #[arg(long = "rm-age", value_name = "RECIPIENTS")]
    rm_age: Vec<String>,

    /// Add these PGP fingerprints (comma-separated, repeatable) to the first key group.
    #[arg(long = "add-pgp", value_name = "FINGERPRINTS")]
    add_pgp: Vec<String>,

    /// Remove these PGP fingerprints (comma-separated, repeatable) from every key group.
    #[arg(long = "rm-pgp", value_name = "FINGERPRINTS")]
    rm_pgp: Vec<String>,

    /// Add these AWS KMS keys (comma-separated ARN[+ROLE_ARN], repeatable) to the first key
    /// group.
    #[arg(long = "add-kms", value_name = "ARNS")]
    add_kms: Vec<String>,

    /// Remove these AWS KMS keys (comma-separated ARN[+ROLE_ARN], repeatable) from every key
    /// group.
    #[arg(long = "rm-kms", value_name = "ARNS")]
    rm_kms: Vec<String>,

    /// The KMS encryption context of the --add-kms/--rm-kms keys (key1:value1,key2:value2).
    #[arg(long, value_name = "CONTEXT")]
    encryption_context: Option<String>,

    /// Add these Vault transit keys (comma-separated URIs, repeatable) to the first key
    /// group.
    #[arg(long = "add-hc-vault-transit", value_name = "URIS")]
    add_hc_vault_transit: Vec<String>,

    /// Remove these Vault transit keys (comma-separated URIs, repeatable) from every key
    /// group.
    #[arg(long = "rm-hc-vault-transit", value_name = "URIS")]
    rm_hc_vault_transit: Vec<String>,

    /// Add these GCP Cloud KMS keys (comma-separated resource IDs, repeatable) to the first
    /// key group.
    #[arg(long = "add-gcp-kms", value_name = "RESOURCE_IDS")]
    add_gcp_kms: Vec<String>,

    /// Remove these GCP Cloud KMS keys (comma-separated resource IDs, repeatable) from every
    /// key group.
    #[arg(long = "rm-gcp-kms", value_name = "RESOURCE_IDS")]
    rm_gcp_kms: Vec<String>,

    /// Add these Azure Key Vault keys (comma-separated key URLs, repeatable) to the first
    /// key group.
    #[arg(long = "add-azure-kv", value_name = "URLS")]
    add_azure_kv: Vec<String>,

    /// Remove these Azure Key Vault keys (comma-separated key URLs, repeatable) from every
    /// key group.
    #[arg(long = "rm-azure-kv", value_name = "URLS")]
    rm_azure_kv: Vec<String>,

    /// Add these HuaweiCloud KMS keys (comma-separated REGION:KEY_UUID, repeatable) to the
    /// first key group.
    #[arg(long = "add-hckms", value_name = "KEY_IDS")]
    add_hckms: Vec<String>,

    /// Remove these HuaweiCloud KMS keys (comma-separated REGION:KEY_UUID, repeatable) from
    /// every key group.
    #[arg(long = "rm-hckms", value_name = "KEY_IDS")]
    rm_hckms: Vec<String>,

    /// Read the input as this format instead of guessing from the file name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    input_type: Option<Format>,

    /// Write the output in this format (default: the input format).
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    output_type: Option<Format>,

    /// Use this path to pick the format and the .sops.yaml rule (one file only).
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,

    #[command(flatten)]
    output: OutputArgs,

    /// Only report what would change (per file); write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Write the files that succeed even when others fail.
    #[arg(long)]
    keep_going: bool,

    /// Report format for several files: text (stderr) or json (stdout).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

/// The recipients of a file after [`RecipientChanges::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecipients {
    /// The key groups' age recipients.
    pub groups: Vec<Vec<String>>,
    /// Recipients actually added (not already present).
    pub added: Vec<String>,
    /// Recipients actually removed (present before).
    pub removed: Vec<String>,
}

/// Recipient changes asked for on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientChanges {
    /// Recipients to add to group 0.
    pub add: Vec<String>,
    /// Recipients to remove from every group.
    pub remove: Vec<String>,
}

impl RecipientChanges {
    /// Parse repeatable, comma-separated `--add-age` / `--rm-age` values (entries trimmed,
    /// empties dropped, duplicates kept once). Every added recipient must parse; a
    /// recipient both added and removed is refused.
    pub fn parse(add: &[String], remove: &[String]) -> Result<RecipientChanges, CliError> {
        Self::parse_with(add, remove, Vec::new(), Vec::new())
    }

    /// [`RecipientChanges::parse`] with recipients already split (key-service keys, whose
    /// recipient strings may hold commas) added to each side.
    pub fn parse_with(
        add: &[String],
        remove: &[String],
        more_add: Vec<String>,
        more_remove: Vec<String>,
    ) -> Result<RecipientChanges, CliError> {
        let split = |vals: &[String]| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for v in vals {
                for r in v.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                    if !out.iter().any(|o| o == r) {
                        out.push(r.to_string());
                    }
                }
            }
            out
        };
        let joined = |mut v: Vec<String>, more: Vec<String>| {
            for r in more {
                if !v.contains(&r) {
                    v.push(r);
                }
            }
            v
        };
        let changes = RecipientChanges {
            add: joined(split(add), more_add),
            remove: joined(split(remove), more_remove),
        };
        for r in &changes.add {
            keys::check_recipient(r).map_err(|e| CliError::from(e).hint("in --add-age"))?;
        }
        if let Some(r) = changes.add.iter().find(|r| changes.remove.contains(r)) {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                format!("{r} is both added (--add-age) and removed (--rm-age)"),
            )
            .hint("give each recipient to only one of the two options"));
        }
        Ok(changes)
    }

    /// Apply to a file's groups: removals from every group, then additions to group 0 for
    /// recipients not already in some group. Refuses to leave a group (or the file)
    /// without a recipient.
    pub fn apply(&self, groups: &[Vec<String>]) -> Result<NewRecipients, CliError> {
        let mut removed = Vec::new();
        let mut out: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .filter(|r| {
                        let gone = self.remove.contains(r);
                        if gone && !removed.contains(*r) {
                            removed.push((*r).clone());
                        }
                        !gone
                    })
                    .cloned()
                    .collect()
            })
            .collect();
        let mut added = Vec::new();
        for r in &self.add {
            if out.iter().flatten().any(|x| x == r) {
                continue;
            }
            match out.first_mut() {
                Some(g) => g.push(r.clone()),
                None => out.push(vec![r.clone()]),
            }
            added.push(r.clone());
        }
        if let Some(i) = out.iter().position(|g| g.is_empty()) {
            let what = if out.len() == 1 {
                "the file would have no recipient left, and nobody could decrypt it".to_string()
            } else {
                format!(
                    "key group {} would have no recipient left, so its key share could never be recovered",
                    i + 1
                )
            };
            return Err(CliError::new(
                exit::GENERIC,
                format!("--rm-age: {what}; nothing was changed"),
            )
            .hint("add a replacement recipient in the same command with --add-age"));
        }
        Ok(NewRecipients {
            groups: out,
            added,
            removed,
        })
    }
}

/// Run `seal rotate`.
pub fn run(ctx: &Ctx, args: &RotateArgs) -> Result<(), CliError> {
    // PGP fingerprints join the age recipients in the form key groups name them (pgp:FP).
    let with_pgp = |age: &[String], pgp: &[String]| -> Vec<String> {
        let mut v = age.to_vec();
        v.extend(
            pgp.iter()
                .flat_map(|l| keys::pgp::parse_fp_list(l))
                .map(|fp| keys::pgp::tag(&fp)),
        );
        v
    };
    let service = |kms: &[String],
                   vault: &[String],
                   gcp: &[String],
                   azure: &[String],
                   (hc, hc_flag): (&[String], &str)| {
        let mut v =
            keys::service_flag_recipients(kms, args.encryption_context.as_deref(), None, vault)
                .map_err(CliError::from)?;
        v.extend(keys::gcp_kms::flag_recipients(gcp));
        v.extend(keys::azure_kv::flag_recipients(azure));
        v.extend(
            keys::hckms::flag_recipients(hc, hc_flag)
                .map_err(|e| CliError::new(exit::GENERIC, e))?,
        );
        Ok::<_, CliError>(v)
    };
    let changes = RecipientChanges::parse_with(
        &with_pgp(&args.add_age, &args.add_pgp),
        &with_pgp(&args.rm_age, &args.rm_pgp),
        service(
            &args.add_kms,
            &args.add_hc_vault_transit,
            &args.add_gcp_kms,
            &args.add_azure_kv,
            (&args.add_hckms, "--add-hckms"),
        )?,
        service(
            &args.rm_kms,
            &args.rm_hc_vault_transit,
            &args.rm_gcp_kms,
            &args.rm_azure_kv,
            (&args.rm_hckms, "--rm-hckms"),
        )?,
    )?;
    let many = args.all || args.files.len() > 1;
    if many && !args.output.in_place {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            "rotating several files (or --all) needs -i/--in-place: the results cannot all go to standard output",
        )
        .hint("add -i to rewrite each file in place"));
    }
    if many && args.filename_override.is_some() {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            "--filename-override applies to one file only",
        ));
    }
    let batch = many || args.dry_run || args.format == ReportFormat::Json;
    if !batch {
        return run_one(ctx, args, &changes);
    }
    let files = if args.all {
        walk(ctx)?
    } else if args.files.is_empty() {
        return Err(CliError::new(
            exit::NO_FILE,
            "--dry-run and --format json need the files to rotate",
        )
        .hint("name the files, or pass --all"));
    } else {
        args.files.clone()
    };
    if let Some(f) = files.iter().find(|f| f.as_os_str() == "-") {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!(
                "{}: standard input cannot be rotated with several files, --dry-run or --format json",
                f.display()
            ),
        ));
    }
    let ids = ctx.identities();
    let config = ctx.config()?;
    let cwd = ctx.cwd.clone();
    let opts = BatchOptions {
        dry_run: args.dry_run,
        keep_going: args.keep_going,
        format: args.format,
        verbose: many,
        quiet_success: true,
        show_diffs: false,
    };
    let plan = |file: &Path| -> Result<Planned, CliError> {
        let input = read_input(&cwd, file, args.input_type, args.output_type)?;
        let (bytes, new) =
            rotate_bytes(&input, &ids, config.as_ref(), &changes, args.output.indent)?;
        warn_if_off_rule(&input, config.as_ref(), &new.groups);
        Ok(Planned {
            new_bytes: Some(bytes),
            added: new.added,
            removed: new.removed,
            rotated: true,
            diff: String::new(),
        })
    };
    repo::apply(&files, opts, plan, |_| Ok(true)).map(|_| ())
}

/// The single-file form: standard input or a file, to stdout, --output or -i.
fn run_one(ctx: &Ctx, args: &RotateArgs, changes: &RecipientChanges) -> Result<(), CliError> {
    let input_args = InputArgs {
        file: args.files.first().cloned(),
        input_type: args.input_type,
        output_type: args.output_type,
        filename_override: args.filename_override.clone(),
    };
    let input = Input::read(ctx, &input_args, Format::Yaml)?;
    let dest = destination(&input, &args.output)?;
    let ids = ctx.identities();
    let config = ctx.config().ok().flatten();
    let (out, new) = rotate_bytes(&input, &ids, config.as_ref(), changes, args.output.indent)?;
    warn_if_off_rule(&input, config.as_ref(), &new.groups);
    write_result(dest.as_deref(), &out, Sensitivity::Public)
}

/// What differs between a file's recipients and those of its creation rule: (in the file
/// only, in the rule only). None when no rule covers the file or the rule names no age
/// recipient.
pub(crate) fn off_rule(
    input: &Input,
    config: Option<&Config>,
    groups: &[Vec<String>],
) -> Option<(usize, Vec<String>, Vec<String>)> {
    let rule = config?.rule_for(input.rules_path.as_deref()?)?;
    let wanted: Vec<&String> = rule.key_groups.iter().flatten().collect();
    if wanted.is_empty() {
        return None;
    }
    let have: Vec<&String> = groups.iter().flatten().collect();
    let mut extra: Vec<String> = have
        .iter()
        .filter(|r| !wanted.contains(r))
        .map(|r| (*r).clone())
        .collect();
    let mut missing: Vec<String> = wanted
        .iter()
        .filter(|r| !have.contains(r))
        .map(|r| (*r).clone())
        .collect();
    extra.dedup();
    missing.dedup();
    if extra.is_empty() && missing.is_empty() {
        return None;
    }
    Some((rule.index, extra, missing))
}

/// `rotate` keeps a file's recipients, as `sops rotate` does; say so when they are not
/// the ones its creation rule names (a recipient removed from `.sops.yaml` keeps access).
fn warn_if_off_rule(input: &Input, config: Option<&Config>, groups: &[Vec<String>]) {
    let Some((rule, extra, missing)) = off_rule(input, config, groups) else {
        return;
    };
    let mut parts = Vec::new();
    if !extra.is_empty() {
        parts.push(format!(
            "still a recipient though not in the rule: {}",
            extra.join(", ")
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "in the rule but not a recipient: {}",
            missing.join(", ")
        ));
    }
    eprintln!(
        "seal: warning: {}: its recipients differ from creation rule {} of .sops.yaml ({}); \
         rotate keeps a file's recipients, as sops does. To apply the rule and renew the data \
         key: seal updatekeys -y --rotate {}",
        input.display.display(),
        rule + 1,
        parts.join("; "),
        input.display.display()
    );
}

/// Every sops file below the current directory, or an error naming what could not be read.
pub(crate) fn walk(ctx: &Ctx) -> Result<Vec<PathBuf>, CliError> {
    if let Some(root) = repo::repo_root(&ctx.cwd)
        && root != ctx.cwd
    {
        eprintln!(
            "seal: note: --all covers {} only, not the whole repository at {}",
            ctx.cwd.display(),
            root.display()
        );
    }
    let scan = repo::find_sops_files(&ctx.cwd);
    for p in &scan.too_large {
        eprintln!(
            "seal: warning: {}: skipped: larger than {} MiB, not examined",
            p.display(),
            repo::MAX_SCAN_BYTES >> 20
        );
    }
    if let Some((p, why)) = scan.unreadable.first() {
        let mut msg = format!(
            "{why}; a sops file there would be missed, so nothing was done ({} unreadable path(s))",
            scan.unreadable.len()
        );
        for (q, w) in scan.unreadable.iter().skip(1).take(10) {
            msg.push_str(&format!("\n  {}: {w}", q.display()));
        }
        return Err(CliError::new(exit::COULD_NOT_READ_INPUT, msg)
            .in_file(p)
            .hint("fix the permissions (or make git runnable), or list the path in .sealignore to skip it"));
    }
    let shown = |p: &Path| p.strip_prefix(&ctx.cwd).unwrap_or(p).display().to_string();
    if !scan.ignored.is_empty() {
        let list: Vec<String> = scan.ignored.iter().map(|p| shown(p)).collect();
        eprintln!(
            "seal: note: {} path(s) skipped by .sealignore, not examined: {}",
            list.len(),
            list.join(", ")
        );
    }
    if !scan.symlinks.is_empty() {
        let list: Vec<String> = scan.symlinks.iter().map(|p| shown(p)).collect();
        eprintln!(
            "seal: note: {} symbolic link(s) not followed: {}",
            list.len(),
            list.join(", ")
        );
    }
    let files: Vec<PathBuf> = scan
        .files
        .into_iter()
        .map(|p| p.strip_prefix(&ctx.cwd).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    if files.is_empty() {
        eprintln!(
            "seal: no sops file found below {} (untracked files git ignores are skipped)",
            ctx.cwd.display()
        );
    }
    Ok(files)
}

/// Read one named file as an [`Input`] (what `Input::read` does, without a shared `Ctx`, so
/// that it can run on worker threads).
pub(crate) fn read_input(
    cwd: &Path,
    file: &Path,
    input_type: Option<Format>,
    output_type: Option<Format>,
) -> Result<Input, CliError> {
    let ctx = Ctx {
        cwd: cwd.to_path_buf(),
        config_flag: None,
        env: Box::new(ProcessEnv),
        decryption_order: None,
    };
    Input::read(
        &ctx,
        &InputArgs {
            file: Some(file.to_path_buf()),
            input_type,
            output_type,
            filename_override: None,
        },
        Format::Yaml,
    )
}

/// Rotate one input: open it (MAC checked), apply the recipient changes, new data key,
/// every value re-encrypted. Returns the new bytes and the new recipients.
pub(crate) fn rotate_bytes(
    input: &Input,
    ids: &Identities,
    config: Option<&Config>,
    changes: &RecipientChanges,
    indent: Option<usize>,
) -> Result<(Vec<u8>, NewRecipients), CliError> {
    let opened = common::open(input, ids, false, false)?;
    let groups = age_groups(&opened.metadata);
    let new = changes
        .apply(&groups)
        .map_err(|e| e.in_file(&input.display))?;
    let threshold = opened.metadata.shamir_threshold;
    let out = reencrypt(input, opened, &new.groups, threshold, config, indent)?;
    Ok((out, new))
}

/// The recipients of each key group (age, then PGP fingerprints tagged `pgp:`).
pub(crate) fn age_groups(meta: &crate::metadata::Metadata) -> Vec<Vec<String>> {
    meta.key_groups
        .iter()
        .map(crate::keys::group_recipients)
        .collect()
}

fn refuse_other_keys(input: &Input, opened: &Opened) -> Result<(), CliError> {
    if opened
        .metadata
        .key_groups
        .iter()
        .any(crate::keys::has_foreign_keys)
    {
        return Err(CliError::new(
            exit::GENERIC,
            "the file also has master keys of a type seal does not know: seal can only re-wrap a new data key for age, PGP, AWS KMS, GCP KMS, Azure Key Vault, HuaweiCloud KMS and Vault transit keys",
        )
        .in_file(&input.display)
        .hint("rotate this file with sops, or move it to age recipients"));
    }
    Ok(())
}

/// Re-encrypt an opened file under a new data key wrapped for `groups`: new values, new
/// `lastmodified` and MAC, same `version`, selector and MAC mode. Output in the input's
/// output format, keeping the layout when the format is unchanged.
pub(crate) fn reencrypt(
    input: &Input,
    opened: Opened,
    groups: &[Vec<String>],
    threshold: usize,
    config: Option<&Config>,
    indent: Option<usize>,
) -> Result<Vec<u8>, CliError> {
    refuse_other_keys(input, &opened)?;
    let meta = &opened.metadata;
    let key = DataKey::generate();
    let key_groups = keys::wrap_groups(groups, threshold, &key)
        .map_err(|e| CliError::from(e).in_file(&input.display))?;
    let mut docs = opened.docs;
    let new_meta = common::seal_docs(
        &mut docs,
        &key,
        SealPlan {
            selector: meta.selector.clone(),
            mac_only_encrypted: meta.mac_only_encrypted,
            key_groups,
            shamir_threshold: threshold,
            version: meta.version.clone(),
        },
        None,
    )
    .map_err(|e| e.in_file(&input.display))?;
    let opts = emit_options(input.out_format, indent, config);
    let layout = if input.out_format == input.format {
        opened.layout
    } else {
        Layout::none()
    };
    input
        .out_format
        .store()
        .emit_encrypted(&docs, &new_meta.to_tree(), &layout, opts)
        .map_err(|e| CliError::writing(e).in_file(&input.display))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx";
    const B: &str = "age1xdvlufwfds9l3tg3xwgz8ct7ujdrelc5z97w63ce2c27yg2yle5s002dg6";
    const C: &str = "age1c7yhlc88rygdpf5mlln5gj8vqp6xdmc3pr6tsg680mvw9yr2ev8s4muzmc";

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parse_splits_commas_and_repeats() {
        let c = RecipientChanges::parse(&s(&[&format!("{A}, {B}"), B]), &s(&[C])).unwrap();
        assert_eq!(c.add, s(&[A, B]));
        assert_eq!(c.remove, s(&[C]));
        assert!(RecipientChanges::parse(&s(&["age1nope"]), &[]).is_err());
        let e = RecipientChanges::parse(&s(&[A]), &s(&[A])).unwrap_err();
        assert_eq!(e.code, exit::CONFLICTING_PARAMETERS);
    }

    #[test]
    fn adds_go_to_group_0_and_removals_match_any_group() {
        let c = RecipientChanges {
            add: s(&[C]),
            remove: s(&[B]),
        };
        let n = c.apply(&[s(&[A]), s(&[B, A])]).unwrap();
        assert_eq!(n.groups, vec![s(&[A, C]), s(&[A])]);
        assert_eq!((n.added, n.removed), (s(&[C]), s(&[B])));
        // Adding a present recipient and removing an absent one change nothing.
        let c = RecipientChanges {
            add: s(&[A]),
            remove: s(&[C]),
        };
        let n = c.apply(&[s(&[A, B])]).unwrap();
        assert_eq!(n.groups, vec![s(&[A, B])]);
        assert!(n.added.is_empty() && n.removed.is_empty());
    }

    #[test]
    fn refuses_to_empty_a_group() {
        let c = RecipientChanges {
            add: vec![],
            remove: s(&[A]),
        };
        let e = c.apply(&[s(&[A])]).unwrap_err();
        assert!(e.message.contains("no recipient left"), "{e}");
        let e = c.apply(&[s(&[B]), s(&[A])]).unwrap_err();
        assert!(e.message.contains("key group 2"), "{e}");
        // With a replacement it is fine.
        let c = RecipientChanges {
            add: s(&[B]),
            remove: s(&[A]),
        };
        assert_eq!(c.apply(&[s(&[A])]).unwrap().groups, vec![s(&[B])]);
    }

    proptest! {
        /// After apply: no removed recipient is left, every added one is present exactly
        /// once, and the others are kept in order.
        #[test]
        fn apply_laws(groups in proptest::collection::vec(proptest::sample::subsequence(vec![A, B, C], 1..=3), 1..3),
                      add in proptest::sample::subsequence(vec![A, B, C], 0..=3),
                      rm in proptest::sample::subsequence(vec![A, B, C], 0..=3)) {
            let add: Vec<String> = add.into_iter().filter(|a| !rm.contains(a)).map(String::from).collect();
            let c = RecipientChanges { add: add.clone(), remove: s(&rm) };
            let groups: Vec<Vec<String>> = groups.into_iter().map(|g| s(&g)).collect();
            let kept: Vec<Vec<String>> = groups
                .iter()
                .map(|g| g.iter().filter(|r| !rm.contains(&r.as_str())).cloned().collect())
                .collect();
            let fresh: Vec<&String> = add.iter().filter(|a| !kept.iter().flatten().any(|x| x == *a)).collect();
            match c.apply(&groups) {
                Ok(NewRecipients { groups: out, added, removed }) => {
                    for r in &rm {
                        prop_assert!(!out.iter().flatten().any(|x| x == r));
                    }
                    for a in &add {
                        prop_assert!(out.iter().flatten().any(|x| x == a));
                    }
                    for a in &fresh {
                        prop_assert_eq!(out.iter().flatten().filter(|x| x == a).count(), 1);
                    }
                    prop_assert_eq!(added.iter().collect::<Vec<_>>(), fresh);
                    for (k, o) in kept.iter().zip(&out) {
                        prop_assert_eq!(&o[..k.len()], &k[..]);
                    }
                    for r in &removed {
                        prop_assert!(groups.iter().flatten().any(|x| x == r));
                    }
                }
                Err(_) => {
                    // Only when some group really ends up empty.
                    let empty = kept
                        .iter()
                        .enumerate()
                        .any(|(i, g)| g.is_empty() && (i > 0 || fresh.is_empty()));
                    prop_assert!(empty);
                }
            }
        }
    }
}
