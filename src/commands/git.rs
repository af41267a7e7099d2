//! `seal git`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Git integration: diff and merge drivers for encrypted files
#[derive(Debug, Args)]
pub struct GitArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &GitArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
