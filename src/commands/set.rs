//! `seal set`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Set one value of an encrypted file without decrypting it to disk
#[derive(Debug, Args)]
pub struct SetArgs {}

/// Run it.
pub fn run_set(_ctx: &Ctx, _args: &SetArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}

/// Remove one value of an encrypted file
#[derive(Debug, Args)]
pub struct UnsetArgs {}

/// Run it.
pub fn run_unset(_ctx: &Ctx, _args: &UnsetArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
