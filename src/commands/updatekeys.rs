//! `seal updatekeys`: re-wrap files' data keys for the recipients their creation rules list
//! now. Values, `lastmodified` and the MAC are untouched (as in sops), unless `--rotate`
//! also renews the data key. Works on named files or every sops file of the repository
//! (`--all`), in parallel, all-or-nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::commands::common::{self, Ctx};
use crate::commands::rotate::{age_groups, read_input, reencrypt, walk};
use crate::config::Config;
use crate::error::{CliError, exit};
use crate::keys::{self, Identities};
use crate::repo::{self, BatchOptions, Planned, ReportFormat};
use crate::stores::Format;

/// Re-wrap files' data keys for the recipients .sops.yaml lists now
///
/// For each FILE (or, with --all, every sops file below the current directory that the
/// repository holds: tracked, or untracked and not ignored by git), the first matching creation rule gives the recipients. When they
/// differ from the file's, the same data key is re-wrapped for the new recipients; values,
/// lastmodified and the MAC stay as they are. --rotate also renews the data key (do it
/// after removing a recipient). Every file is computed first, in parallel: if any file
/// fails, no file is written (unless --keep-going). With --all, a file that no creation
/// rule covers is reported and skipped. --dry-run reads the recipients from the metadata
/// and needs no key.
#[derive(Debug, Args)]
pub struct UpdatekeysArgs {
    /// The files to update.
    #[arg(value_name = "FILE", required_unless_present = "all")]
    files: Vec<PathBuf>,

    /// Update every sops file below the current directory (in git: tracked files, and
    /// untracked ones git does not ignore; .sealignore skips paths).
    #[arg(long, conflicts_with_all = ["files", "input_type"])]
    all: bool,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,

    /// Also renew each file's data key and re-encrypt its values (recommended after
    /// removing a recipient).
    #[arg(long)]
    rotate: bool,

    /// Only report what would change (recipients added/removed per file); write nothing.
    #[arg(long)]
    dry_run: bool,

    /// Write the files that succeed even when others fail.
    #[arg(long)]
    keep_going: bool,

    /// Report format: text (stderr) or json (stdout, for CI).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,

    /// Read the files as this format instead of guessing from their names.
    #[arg(long, value_name = "FORMAT", value_parser = crate::commands::common::parse_format)]
    input_type: Option<Format>,
}

/// Run `seal updatekeys`.
pub fn run(ctx: &Ctx, args: &UpdatekeysArgs) -> Result<(), CliError> {
    let config = ctx.config()?.ok_or_else(|| {
        CliError::new(
            exit::GENERIC,
            "no .sops.yaml found in the current directory or its parents: updatekeys needs the creation rules",
        )
        .hint("run seal from the repository, or pass --config PATH")
    })?;
    let files = if args.all {
        skip_uncovered(ctx, &config, walk(ctx)?)
    } else {
        args.files.clone()
    };
    let ids = ctx.identities();
    let cwd = ctx.cwd.clone();
    let opts = BatchOptions {
        dry_run: args.dry_run,
        keep_going: args.keep_going,
        format: args.format,
        verbose: args.all || files.len() > 1,
        quiet_success: false,
        // With -y on many files the per-file lines say what changed; the group diffs are
        // shown when confirmation is asked, or for one file (as sops).
        show_diffs: !args.yes || (!args.all && files.len() == 1),
    };
    let plan = |file: &Path| plan_file(file, &cwd, &config, &ids, args);
    let confirm = |_: &[(&Path, &Planned)]| if args.yes { Ok(true) } else { confirm() };
    repo::apply(&files, opts, plan, confirm).map(|_| ())
}

/// With --all: the files no creation rule covers are reported and left alone (their
/// recipients were chosen by hand, e.g. `encrypt --age`), not failures of the run.
fn skip_uncovered(ctx: &Ctx, config: &Config, files: Vec<PathBuf>) -> Vec<PathBuf> {
    let (covered, skipped): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| config.rule_for(&ctx.absolute(f)).is_some());
    for f in &skipped {
        eprintln!(
            "seal: {}: skipped: no creation rule of {} covers it (its recipients are its own; \
             seal rotate -i --add-age/--rm-age changes them)",
            f.display(),
            config.path.display()
        );
    }
    if !skipped.is_empty() {
        eprintln!(
            "seal: {} file(s) skipped: no creation rule covers them",
            skipped.len()
        );
    }
    covered
}

/// Compute one file's update (nothing is written here).
fn plan_file(
    file: &Path,
    cwd: &Path,
    config: &Config,
    ids: &Identities,
    args: &UpdatekeysArgs,
) -> Result<Planned, CliError> {
    let input = read_input(cwd, file, args.input_type, None)?;
    let rule = common::matching_rule(Some(config), &input)?.ok_or_else(|| {
        CliError::new(exit::GENERIC, "no creation rule applies to this file").in_file(file)
    })?;
    if !rule.unsupported_keys.is_empty() {
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "its creation rule (#{} in {}) also lists {} keys: seal does not wrap for those types and would not add them",
                rule.index + 1,
                config.path.display(),
                rule.unsupported_keys.join(", ")
            ),
        )
        .in_file(file)
        .hint("update this file's keys with sops"));
    }
    let wanted: Vec<Vec<String>> = rule
        .key_groups
        .iter()
        .filter(|g| !g.is_empty())
        .cloned()
        .collect();
    let (parsed, mut meta) = common::load_encrypted(&input)?;
    if meta.key_groups.iter().any(keys::has_foreign_keys) {
        return Err(CliError::new(
            exit::GENERIC,
            "the file also has master keys of a type seal does not know: seal cannot re-wrap its data key for those, and will not drop them",
        )
        .in_file(file)
        .hint("update this file's keys with sops"));
    }
    let current = age_groups(&meta);
    if current == wanted && !args.rotate {
        return Ok(Planned::default());
    }
    let (added, removed) = recipient_diff(&current, &wanted);
    let diff = if current == wanted {
        String::new()
    } else {
        format!(
            "The following changes will be made to the file's groups:\n{}",
            describe_diff(&current, &wanted)
        )
    };
    if args.dry_run {
        // The change is known from the metadata alone: no key is needed to report it.
        return Ok(Planned {
            new_bytes: Some(Vec::new()),
            added,
            removed,
            rotated: args.rotate,
            diff,
        });
    }
    let threshold = match (rule.shamir_threshold, meta.shamir_threshold) {
        (0, t) => t,
        (t, _) => t,
    };
    let threshold = if wanted.len() > 1 {
        threshold.min(wanted.len())
    } else {
        0
    };
    let new_bytes = if args.rotate {
        let opened = common::open(&input, ids, false, false)?;
        reencrypt(&input, opened, &wanted, threshold, Some(config), None)?
    } else {
        let key =
            keys::recover_data_key(&meta, ids).map_err(|e| CliError::from(e).in_file(file))?;
        meta.key_groups = keys::wrap_groups(&wanted, threshold, &key)
            .map_err(|e| CliError::from(e).in_file(file))?;
        meta.shamir_threshold = threshold;
        let opts = common::emit_options(input.format, None, Some(config));
        input
            .format
            .store()
            .emit_encrypted(&parsed.docs, &meta.to_tree(), &parsed.layout, opts)
            .map_err(|e| CliError::writing(e).in_file(file))?
    };
    Ok(Planned {
        new_bytes: Some(new_bytes),
        added,
        removed,
        rotated: args.rotate,
        diff,
    })
}

/// Recipients in `wanted` but not in `current` (added), and the reverse (removed), over
/// all groups, each once, in order.
fn recipient_diff(current: &[Vec<String>], wanted: &[Vec<String>]) -> (Vec<String>, Vec<String>) {
    let only = |a: &[Vec<String>], b: &[Vec<String>]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in a.iter().flatten() {
            if !b.iter().flatten().any(|x| x == r) && !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    };
    (only(wanted, current), only(current, wanted))
}

fn describe_diff(current: &[Vec<String>], wanted: &[Vec<String>]) -> String {
    let mut out = String::new();
    let n = current.len().max(wanted.len());
    for i in 0..n {
        let cur = current.get(i).cloned().unwrap_or_default();
        let new = wanted.get(i).cloned().unwrap_or_default();
        out.push_str(&format!("Group {}\n", i + 1));
        for r in &new {
            if cur.contains(r) {
                out.push_str(&format!("    {r}\n"));
            } else {
                out.push_str(&format!("+++ {r}\n"));
            }
        }
        for r in &cur {
            if !new.contains(r) {
                out.push_str(&format!("--- {r}\n"));
            }
        }
    }
    out
}

fn confirm() -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            "updatekeys needs confirmation, but standard input is not a terminal",
        )
        .hint("pass -y to apply the changes without asking"));
    }
    eprint!("Is this okay? (y/n): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        CliError::new(
            exit::GENERIC,
            format!("cannot read the answer: {}", crate::error::io_reason(&e)),
        )
    })?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
