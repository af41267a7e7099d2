//! `seal edit`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Edit an encrypted file in $EDITOR, leaving no plaintext behind
#[derive(Debug, Args)]
pub struct EditArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &EditArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
