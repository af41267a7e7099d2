//! `seal check`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Check a repository or files: no secret committed in plaintext
#[derive(Debug, Args)]
pub struct CheckArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &CheckArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
