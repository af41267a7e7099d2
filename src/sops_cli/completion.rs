//! `sops completion bash|zsh`: a completion script for the sops command line seal reads
//! (subcommands, and each one's flags from the same table the parser uses). zsh loads the
//! bash function through `bashcompinit`.

use super::commands;
use super::flags;

/// The subcommands offered after `sops`.
const COMMANDS: &[&str] = &[
    "encrypt",
    "decrypt",
    "rotate",
    "edit",
    "set",
    "unset",
    "exec-env",
    "exec-file",
    "filestatus",
    "updatekeys",
    "completion",
    "help",
];

fn spelled(names: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if let Some(f) = flags::lookup(n) {
            out.extend(f.names.iter().map(|x| {
                if x.len() == 1 {
                    format!("-{x}")
                } else {
                    format!("--{x}")
                }
            }));
        }
    }
    out.sort();
    out.dedup();
    out.join(" ")
}

/// The bash completion function (also used by zsh).
pub fn bash(program: &str) -> String {
    let top: Vec<&str> = flags::FLAGS.iter().map(|f| f.names[0]).collect();
    let mut cases = String::new();
    for c in COMMANDS
        .iter()
        .filter(|c| !matches!(**c, "help" | "completion"))
    {
        cases.push_str(&format!(
            "    {c}) opts=\"{}\" ;;\n",
            spelled(&commands::allowed_flags(c))
        ));
    }
    format!(
        "# sops completion (seal running as sops). Load with: source <({program} completion bash)\n\
         _seal_as_sops() {{\n\
         \x20 local cur=${{COMP_WORDS[COMP_CWORD]}} cmd=\"\" opts=\"\" w\n\
         \x20 for w in \"${{COMP_WORDS[@]:1:COMP_CWORD-1}}\"; do\n\
         \x20   case \"$w\" in {cmds_pipe}) cmd=$w; break ;; esac\n\
         \x20 done\n\
         \x20 case \"$cmd\" in\n\
         {cases}\
         \x20   completion) COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")); return ;;\n\
         \x20   \"\") opts=\"{top}\"\n\
         \x20       [[ $cur != -* ]] && COMPREPLY=($(compgen -W \"{cmds}\" -- \"$cur\") $(compgen -f -- \"$cur\")) && return ;;\n\
         \x20 esac\n\
         \x20 if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"));\n\
         \x20 else COMPREPLY=($(compgen -f -- \"$cur\")); fi\n\
         }}\n\
         complete -o filenames -F _seal_as_sops {program}\n",
        cmds_pipe = COMMANDS.join("|"),
        cmds = COMMANDS.join(" "),
        top = spelled(&top),
    )
}

/// The zsh script: the bash function through `bashcompinit`.
pub fn zsh(program: &str) -> String {
    format!(
        "# sops completion for zsh (seal running as sops). Load with: source <({program} completion zsh)\n\
         autoload -U +X bashcompinit && bashcompinit\n{}",
        bash(program)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_script_lists_commands_and_their_flags() {
        let s = bash("sops");
        assert!(s.contains("complete -o filenames -F _seal_as_sops sops"));
        let decrypt = s
            .lines()
            .find(|l| l.trim_start().starts_with("decrypt)"))
            .unwrap();
        assert!(decrypt.contains("--extract") && decrypt.contains("--ignore-mac"));
        assert!(!decrypt.contains("--config"), "{decrypt}");
        assert!(zsh("sops").starts_with("# sops completion for zsh"));
    }
}
