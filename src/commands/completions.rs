//! `seal completions`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Print a shell completion script
#[derive(Debug, Args)]
pub struct CompletionsArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &CompletionsArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
