//! `seal secret`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Generate Kubernetes Secrets, encrypted straight away
#[derive(Debug, Args)]
pub struct SecretArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &SecretArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
