//! `seal exec`: STUB, to be written (owned by one engineer).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Run a command with the decrypted values in its environment
#[derive(Debug, Args)]
pub struct ExecEnvArgs {}

/// Run it.
pub fn run_env(_ctx: &Ctx, _args: &ExecEnvArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}

/// Run a command with the decrypted file at a temporary path
#[derive(Debug, Args)]
pub struct ExecFileArgs {}

/// Run it.
pub fn run_file(_ctx: &Ctx, _args: &ExecFileArgs) -> Result<(), CliError> {
    Err(CliError::new(exit::GENERIC, "not implemented yet"))
}
