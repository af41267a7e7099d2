//! One file per subcommand; this module holds the `Command` enum, the dispatch, and the
//! steps several commands share (`common`).

use clap::Subcommand;

use crate::cli::Cli;
use crate::error::CliError;

pub mod bootstrap;
pub mod check;
pub mod common;
pub mod completions;
pub mod decrypt;
pub mod demo;
pub mod doctor;
pub mod edit;
pub mod encrypt;
pub mod exec;
pub mod external_secret;
pub mod filestatus;
pub mod git;
pub mod groups;
pub mod key;
pub mod keyservice;
pub mod ksops;
pub mod man;
pub mod new_key;
pub mod publish;
pub mod rotate;
pub mod seal;
pub mod secret;
pub mod set;
pub mod updatekeys;

/// The subcommands. Their help text is the doc comment of each `*Args` struct (first
/// line: the short help; the rest: `--help`), so it is written once, next to the code.
#[allow(missing_docs)]
#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it is the one run: building all of
// them took ~40 % of a small decrypt's user-space instructions.
#[command(defer = true)]
pub enum Command {
    Encrypt(encrypt::EncryptArgs),
    Decrypt(decrypt::DecryptArgs),
    Filestatus(filestatus::FilestatusArgs),
    NewKey(new_key::NewKeyArgs),
    Key(key::KeyArgs),
    Rotate(rotate::RotateArgs),
    Updatekeys(updatekeys::UpdatekeysArgs),
    Publish(publish::PublishArgs),
    Groups(groups::GroupsArgs),
    Check(check::CheckArgs),
    Edit(edit::EditArgs),
    Set(set::SetArgs),
    Unset(set::UnsetArgs),
    ExecEnv(exec::ExecEnvArgs),
    ExecFile(exec::ExecFileArgs),
    Git(git::GitArgs),
    ExternalSecret(external_secret::ExternalSecretArgs),
    Secret(secret::SecretArgs),
    Seal(seal::SealArgs),
    Bootstrap(bootstrap::BootstrapArgs),
    Doctor(doctor::DoctorArgs),
    Ksops(ksops::KsopsArgs),
    Keyservice(keyservice::KeyserviceArgs),
    Demo(demo::DemoArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    crate::ui::set_verbosity(crate::ui::Verbosity::from_flags(cli.quiet, cli.verbose));
    let ctx = common::Ctx::from_process(cli.config)?
        .with_decryption_order(cli.decryption_order.as_deref())?;
    crate::keys::keyservice::configure(&cli.keyservice, cli.enable_local_keyservice)
        .map_err(|e| CliError::new(crate::error::exit::GENERIC, e))?;
    match cli.command {
        Command::Encrypt(a) => encrypt::run(&ctx, &a),
        Command::Decrypt(a) => decrypt::run(&ctx, &a),
        Command::Filestatus(a) => filestatus::run(&ctx, &a),
        Command::NewKey(a) => new_key::run(&ctx, &a),
        Command::Key(a) => key::run(&ctx, &a),
        Command::Rotate(a) => rotate::run(&ctx, &a),
        Command::Updatekeys(a) => updatekeys::run(&ctx, &a),
        Command::Publish(a) => publish::run(&ctx, &a),
        Command::Groups(a) => groups::run(&ctx, &a),
        Command::Check(a) => check::run(&ctx, &a),
        Command::Edit(a) => edit::run(&ctx, &a),
        Command::Set(a) => set::run_set(&ctx, &a),
        Command::Unset(a) => set::run_unset(&ctx, &a),
        Command::ExecEnv(a) => exec::run_env(&ctx, &a),
        Command::ExecFile(a) => exec::run_file(&ctx, &a),
        Command::Git(a) => git::run(&ctx, &a),
        Command::ExternalSecret(a) => external_secret::run(&ctx, &a),
        Command::Secret(a) => secret::run(&ctx, &a),
        Command::Seal(a) => seal::run(&ctx, &a),
        Command::Bootstrap(a) => bootstrap::run(&ctx, &a),
        Command::Doctor(a) => doctor::run(&ctx, &a),
        Command::Ksops(a) => ksops::run(&ctx, &a),
        Command::Keyservice(a) => keyservice::run(&ctx, &a),
        Command::Demo(a) => demo::run(&ctx, &a),
        Command::Completions(a) => completions::run(&ctx, &a),
        Command::Man(a) => man::run(&ctx, &a),
    }
}
