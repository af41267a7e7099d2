//! `seal updatekeys`: re-wrap a file's data key for the recipients its creation rule lists
//! now. Values, `lastmodified` and the MAC are untouched (as in sops).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use crate::commands::common::{self, Ctx, Input, InputArgs, write_result};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::keys;
use crate::stores::Format;

/// Re-wrap files' data keys for the recipients .sops.yaml lists now
///
/// For each FILE, the first matching creation rule gives the recipients. When they differ
/// from the file's, the same data key is re-wrapped for the new recipients; values,
/// lastmodified and the MAC stay as they are.
#[derive(Debug, Args)]
pub struct UpdatekeysArgs {
    /// The files to update.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,

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
    let ids = ctx.identities();
    for file in &args.files {
        let input = Input::read(
            ctx,
            &InputArgs {
                file: Some(file.clone()),
                input_type: args.input_type,
                output_type: None,
                filename_override: None,
            },
            Format::Yaml,
        )?;
        let rule = common::matching_rule(Some(&config), &input)?.ok_or_else(|| {
            CliError::new(exit::GENERIC, "no creation rule applies to this file").in_file(file)
        })?;
        let wanted: Vec<Vec<String>> = rule
            .key_groups
            .iter()
            .filter(|g| !g.is_empty())
            .cloned()
            .collect();
        let (parsed, mut meta) = common::load_encrypted(&input)?;
        if meta.key_groups.iter().any(|g| !g.other.is_empty()) {
            return Err(CliError::new(
                exit::GENERIC,
                "the file also has non-age master keys (pgp, kms, …): seal cannot re-wrap its data key for those, and will not drop them",
            )
            .in_file(file)
            .hint("update this file's keys with sops"));
        }
        let current: Vec<Vec<String>> = meta
            .key_groups
            .iter()
            .map(|g| g.age.iter().map(|k| k.recipient.clone()).collect())
            .collect();
        if current == wanted {
            eprintln!("{}: already up to date", file.display());
            continue;
        }
        let diff = describe_diff(&current, &wanted);
        eprintln!("The following changes will be made to the file's groups:\n{diff}");
        if !args.yes && !confirm()? {
            eprintln!("{}: not changed", file.display());
            continue;
        }
        let key =
            keys::recover_data_key(&meta, &ids).map_err(|e| CliError::from(e).in_file(file))?;
        let threshold = match (rule.shamir_threshold, meta.shamir_threshold) {
            (0, t) => t,
            (t, _) => t,
        };
        let threshold = if wanted.len() > 1 {
            threshold.min(wanted.len())
        } else {
            0
        };
        meta.key_groups = keys::wrap_groups(&wanted, threshold, &key)?;
        meta.shamir_threshold = threshold;
        let opts = common::emit_options(input.format, None, Some(&config));
        let out = input
            .format
            .store()
            .emit_encrypted(&parsed.docs, &meta.to_tree(), &parsed.layout, opts)
            .map_err(|e| CliError::writing(e).in_file(file))?;
        write_result(Some(file), &out, Sensitivity::Public)?;
        eprintln!("{}: updated", file.display());
    }
    Ok(())
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
