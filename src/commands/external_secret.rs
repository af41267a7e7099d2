//! `seal external-secret`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Generate an External Secrets Operator ExternalSecret
#[derive(Debug, Args)]
pub struct ExternalSecretArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &ExternalSecretArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
