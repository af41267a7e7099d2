//! `seal filestatus`: is this file a sops file? Prints sops's exact JSON answer.

use std::path::PathBuf;

use clap::Args;

use crate::commands::common::{Ctx, Input, InputArgs, write_result};
use crate::error::CliError;
use crate::fsio::Sensitivity;
use crate::metadata;
use crate::stores::Format;

/// Tell whether a file is encrypted, as sops does
///
/// Prints {"encrypted":true} when FILE is a sops file (its metadata parses and has a MAC
/// and a version), else {"encrypted":false}. Exits 1 when the file cannot be parsed in its
/// format, as sops does.
#[derive(Debug, Args)]
pub struct FilestatusArgs {
    /// The file to look at.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = crate::commands::common::parse_format)]
    input_type: Option<Format>,
}

/// Run `seal filestatus`.
pub fn run(ctx: &Ctx, args: &FilestatusArgs) -> Result<(), CliError> {
    let input = Input::read(
        ctx,
        &InputArgs {
            file: Some(args.file.clone()),
            input_type: args.input_type,
            output_type: None,
            filename_override: None,
        },
        Format::Yaml,
    )?;
    let encrypted = status(&input)?;
    let line = format!("{{\"encrypted\":{encrypted}}}\n");
    write_result(None, line.as_bytes(), Sensitivity::Public)
}

/// The status of one input: Ok(true/false), or an error when its store cannot parse it.
pub fn status(input: &Input) -> Result<bool, CliError> {
    let parsed = input
        .format
        .store()
        .load_encrypted(&input.bytes)
        .map_err(|e| {
            CliError::reading_encrypted(e)
                .in_file(&input.display)
                .hint("pass --input-type if the file is not in the format its name suggests")
        })?;
    Ok(parsed
        .metadata
        .as_ref()
        .is_some_and(metadata::counts_as_encrypted))
}
