//! `seal rotate`: a new data key for one file, same recipients, every value re-encrypted.

use clap::Args;

use crate::cipher::DataKey;
use crate::commands::common::{
    self, Ctx, Input, InputArgs, OutputArgs, SealPlan, destination, emit_options, write_result,
};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::keys;
use crate::stores::{Format, Layout};

/// Re-encrypt a file with a new data key, same recipients
///
/// Decrypts the file (checking its MAC), makes a new data key, re-encrypts every value and
/// comment with it, and wraps it for the same recipients. The file's `version` is kept.
/// Prints the result unless -i is given.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Run `seal rotate`.
pub fn run(ctx: &Ctx, args: &RotateArgs) -> Result<(), CliError> {
    let input = Input::read(ctx, &args.input, Format::Yaml)?;
    let dest = destination(&input, &args.output)?;
    let ids = ctx.identities();
    let opened = common::open(&input, &ids, false, false)?;
    let meta = &opened.metadata;
    if meta.key_groups.iter().any(|g| !g.other.is_empty()) {
        return Err(CliError::new(
            exit::GENERIC,
            "the file also has non-age master keys (pgp, kms, …): seal can only re-wrap a new data key for age recipients",
        )
        .in_file(&input.display)
        .hint("rotate this file with sops, or move it to age recipients"));
    }
    let groups: Vec<Vec<String>> = meta
        .key_groups
        .iter()
        .map(|g| g.age.iter().map(|k| k.recipient.clone()).collect())
        .collect();
    let key = DataKey::generate();
    let key_groups = keys::wrap_groups(&groups, meta.shamir_threshold, &key)?;
    let mut docs = opened.docs;
    let new_meta = common::seal_docs(
        &mut docs,
        &key,
        SealPlan {
            selector: meta.selector.clone(),
            mac_only_encrypted: meta.mac_only_encrypted,
            key_groups,
            shamir_threshold: meta.shamir_threshold,
            version: meta.version.clone(),
        },
        None,
    )
    .map_err(|e| e.in_file(&input.display))?;
    let config = ctx.config().ok().flatten();
    let opts = emit_options(input.out_format, args.output.indent, config.as_ref());
    let layout = if input.out_format == input.format {
        opened.layout
    } else {
        Layout::none()
    };
    let out = input
        .out_format
        .store()
        .emit_encrypted(&docs, &new_meta.to_tree(), &layout, opts)
        .map_err(|e| CliError::writing(e).in_file(&input.display))?;
    write_result(dest.as_deref(), &out, Sensitivity::Public)
}
