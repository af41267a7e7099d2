//! One file per subcommand; this module holds the `Command` enum, the dispatch, and the
//! steps several commands share (`common`).

use clap::Subcommand;

use crate::cli::Cli;
use crate::error::CliError;

pub mod common;
pub mod decrypt;
pub mod encrypt;
pub mod filestatus;
pub mod new_key;
pub mod rotate;
pub mod updatekeys;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt a file (prints to stdout unless -i or --output).
    Encrypt(encrypt::EncryptArgs),
    /// Decrypt a file (prints to stdout unless -i or --output).
    Decrypt(decrypt::DecryptArgs),
    /// Print {"encrypted":true} or {"encrypted":false} for a file, as sops does.
    Filestatus(filestatus::FilestatusArgs),
    /// Generate an age identity (keys.txt format) and print its public key.
    NewKey(new_key::NewKeyArgs),
    /// Re-encrypt a file with a new data key (same recipients).
    Rotate(rotate::RotateArgs),
    /// Re-wrap a file's data key for the recipients its .sops.yaml rule lists now.
    Updatekeys(updatekeys::UpdatekeysArgs),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = common::Ctx::from_process(cli.config)?;
    match cli.command {
        Command::Encrypt(a) => encrypt::run(&ctx, &a),
        Command::Decrypt(a) => decrypt::run(&ctx, &a),
        Command::Filestatus(a) => filestatus::run(&ctx, &a),
        Command::NewKey(a) => new_key::run(&ctx, &a),
        Command::Rotate(a) => rotate::run(&ctx, &a),
        Command::Updatekeys(a) => updatekeys::run(&ctx, &a),
    }
}
