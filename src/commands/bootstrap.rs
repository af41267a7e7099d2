//! `seal bootstrap`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Bootstrap a cluster's sops-age decryption (Flux)
#[derive(Debug, Args)]
pub struct BootstrapArgs {}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &BootstrapArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
