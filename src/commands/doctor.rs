//! `seal doctor`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Check that the cluster can decrypt every sops file in the repo
#[derive(Debug, Args)]
pub struct DoctorArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &DoctorArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
