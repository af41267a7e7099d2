//! `seal demo`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Run the whole seal workflow on a bundled example in a temporary directory
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &DemoArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
