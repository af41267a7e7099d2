//! One file per subcommand; this module holds the `Command` enum, the dispatch, and the
//! steps several commands share (`common`).

use clap::Subcommand;

use crate::cli::Cli;
use crate::error::CliError;

pub mod common;
pub mod decrypt;
pub mod encrypt;
pub mod filestatus;
pub mod key;
pub mod new_key;
pub mod rotate;
pub mod updatekeys;

/// The subcommands. Their help text is the doc comment of each `*Args` struct (first
/// line: the short help; the rest: `--help`), so it is written once, next to the code.
#[allow(missing_docs)]
#[derive(Debug, Subcommand)]
pub enum Command {
    Encrypt(encrypt::EncryptArgs),
    Decrypt(decrypt::DecryptArgs),
    Filestatus(filestatus::FilestatusArgs),
    NewKey(new_key::NewKeyArgs),
    Key(key::KeyArgs),
    Rotate(rotate::RotateArgs),
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
        Command::Key(a) => key::run(&ctx, &a),
        Command::Rotate(a) => rotate::run(&ctx, &a),
        Command::Updatekeys(a) => updatekeys::run(&ctx, &a),
    }
}
