//! `seal completions`: a shell completion script for bash, zsh, fish, PowerShell or elvish,
//! generated from the same clap definitions as `--help`, so it never drifts.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::commands::common::Ctx;
use crate::error::CliError;
use crate::fsio;

/// Print a shell completion script
///
/// Writes the script for SHELL to standard output. Install it where your shell looks:
///
///   bash:        seal completions bash > ~/.local/share/bash-completion/completions/seal
///   zsh:         seal completions zsh > ~/.zfunc/_seal   (with fpath+=~/.zfunc before compinit)
///   fish:        seal completions fish > ~/.config/fish/completions/seal.fish
///   PowerShell:  seal completions powershell >> $PROFILE
///   elvish:      seal completions elvish >> ~/.config/elvish/rc.elv
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "seal", &mut out);
    out
}

/// Run it.
pub fn run(_ctx: &Ctx, args: &CompletionsArgs) -> Result<(), CliError> {
    fsio::write_stdout(&script(args.shell))
        .map_err(|e| CliError::write_io(std::path::Path::new("<stdout>"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_mentions_every_subcommand() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert!(names.len() > 15, "subcommands: {names:?}");
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let text = String::from_utf8(script(shell)).unwrap_or_default();
            for n in &names {
                assert!(text.contains(n.as_str()), "{shell}: no {n}");
            }
        }
    }
}
