//! `seal man`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Print or write the man pages
#[derive(Debug, Args)]
pub struct ManArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &ManArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
