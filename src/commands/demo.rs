//! `seal demo`: the whole workflow on a bundled example, in a private temporary directory
//! that is removed at the end (also on Ctrl-C): new keys, `check` refusing plaintext,
//! encrypt, `check` clean, a cluster recipient with `updatekeys`, data-key rotation,
//! decryption back to the original bytes, and an ExternalSecret from the encrypted Secret.
//! Each step re-executes the current binary exactly as a user would type it, with a
//! hermetic environment (temporary HOME, no SOPS_* variables, no OS keyring), and prints
//! the command and what it printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit, io_reason};
use crate::tempdir::PrivateDir;
use crate::ui::{self, Stream, Style, Verbosity};

/// Run the whole seal workflow on a bundled example in a temporary directory
///
/// Creates a throw-away repository with three example Secrets and walks through what you
/// would do in a real one: make an age key, watch `seal check` refuse the plaintext, write
/// .sops.yaml, encrypt, check again, add a cluster key with `updatekeys`, renew the data
/// keys with `rotate`, decrypt back to the original bytes, and generate an ExternalSecret
/// from an encrypted Secret. Every step runs this seal binary as you would type it and
/// shows its output. Your own keys, keyring and configuration are never read or touched:
/// the demo runs with a temporary HOME, and the directory is removed at the end.
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// The bundled example: (path in the demo repository, contents).
pub const EXAMPLE_FILES: [(&str, &str); 3] = [
    (
        "secrets/postgres.yaml",
        include_str!("../../examples/secrets/postgres.yaml"),
    ),
    (
        "secrets/redis.yaml",
        include_str!("../../examples/secrets/redis.yaml"),
    ),
    (
        "secrets/app.yaml",
        include_str!("../../examples/secrets/app.yaml"),
    ),
];

/// The only variables of the user's environment the demo's commands see (besides the HOME,
/// NO_COLOR, SEAL_NO_KEYRING and SOPS_AGE_KEY_FILE it sets itself).
const PASSED_THROUGH: [&str; 4] = ["PATH", "TMPDIR", "LANG", "LC_ALL"];

/// Lines of a command's output shown in the normal mode (everything with --verbose).
const SHOWN_LINES: usize = 14;

/// `println!` that ignores a closed standard output (`seal demo | head`): the demo still
/// runs to the end and removes its directory, instead of panicking on a broken pipe.
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

struct Demo {
    exe: PathBuf,
    home: PathBuf,
    repo: PathBuf,
    style: Style,
    verbosity: Verbosity,
    step: usize,
}

/// What a command is expected to do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Success,
    Failure,
}

impl Demo {
    fn say(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            emit!("{text}");
        }
    }

    fn heading(&mut self, title: &str) {
        self.step += 1;
        let line = format!("[{}] {title}", self.step);
        self.say(&format!("\n{}", self.style.bold(&line)));
    }

    fn note(&self, text: &str) {
        self.say(&format!("    {}", self.style.dim(text)));
    }

    fn show(&self, text: &str) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let lines: Vec<&str> = text.lines().collect();
        let limit = if self.verbosity == Verbosity::Verbose {
            usize::MAX
        } else {
            SHOWN_LINES
        };
        for l in lines.iter().take(limit) {
            emit!("    {l}");
        }
        if lines.len() > limit {
            emit!(
                "    {}",
                self.style.dim(&format!(
                    "… {} more lines (--verbose shows all)",
                    lines.len() - limit
                ))
            );
        }
    }

    /// Run `seal ARGS` in the demo repository; `key` is the identity file to offer
    /// (SOPS_AGE_KEY_FILE), or none.
    fn seal(
        &self,
        args: &[&str],
        key: Option<&Path>,
        expect: Expect,
        display: Option<&str>,
    ) -> Result<Output, CliError> {
        let shown = display.map(str::to_string).unwrap_or_else(|| {
            let mut s = String::from("seal");
            for a in args {
                s.push(' ');
                s.push_str(&shell_quote(a));
            }
            s
        });
        let prefix = match key {
            Some(k) => format!(
                "SOPS_AGE_KEY_FILE={} ",
                k.file_name()
                    .map(|n| format!("../{}", n.to_string_lossy()))
                    .unwrap_or_default()
            ),
            None => String::new(),
        };
        self.say(&format!("{} {prefix}{shown}", self.style.cyan("$")));
        let mut cmd = Command::new(&self.exe);
        cmd.args(args)
            .current_dir(&self.repo)
            .env_clear()
            .env("HOME", &self.home)
            .env("SEAL_NO_KEYRING", "1")
            .env("NO_COLOR", "1");
        for var in PASSED_THROUGH {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        if let Some(k) = key {
            cmd.env("SOPS_AGE_KEY_FILE", k);
        }
        let out = cmd.output().map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!(
                    "the demo could not run {}: {}",
                    self.exe.display(),
                    io_reason(&e)
                ),
            )
        })?;
        let ok = out.status.success();
        if ok != (expect == Expect::Success) {
            let mut msg = format!(
                "the demo step `{shown}` {} (exit status {})",
                if ok {
                    "succeeded where it should have failed"
                } else {
                    "failed"
                },
                out.status
                    .code()
                    .map_or("none".to_string(), |c| c.to_string())
            );
            let err = String::from_utf8_lossy(&out.stderr);
            let so = String::from_utf8_lossy(&out.stdout);
            for t in [so.trim(), err.trim()] {
                if !t.is_empty() {
                    msg.push('\n');
                    msg.push_str(t);
                }
            }
            return Err(CliError::new(exit::GENERIC, msg)
                .hint("this is a bug in seal or its demo; please report it with this output"));
        }
        Ok(out)
    }

    fn write(&self, rel: &str, text: &str) -> Result<(), CliError> {
        let path = self.repo.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CliError::write_io(dir, e))?;
        }
        std::fs::write(&path, text).map_err(|e| CliError::write_io(&path, e))
    }

    fn read(&self, rel: &str) -> Result<String, CliError> {
        let path = self.repo.join(rel);
        std::fs::read_to_string(&path).map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!("the demo cannot read {rel}: {}", io_reason(&e)),
            )
        })
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn both(out: &Output) -> String {
    let mut s = text(&out.stdout);
    let e = text(&out.stderr);
    if !e.trim().is_empty() {
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&e);
    }
    s
}

fn sops_yaml(recipients: &[&str]) -> String {
    format!(
        "# Which files are encrypted, and for whom. seal and sops read the same file.\n\
         creation_rules:\n  \
         - path_regex: secrets/.*\\.ya?ml$\n    \
         encrypted_regex: ^(data|stringData)$\n    \
         age: >-\n      {}\n",
        recipients.join(",\n      ")
    )
}

/// Run it.
pub fn run(_ctx: &Ctx, _args: &DemoArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            exit::GENERIC,
            format!(
                "the demo needs the path of the seal binary: {}",
                io_reason(&e)
            ),
        )
    })?;
    let dir = PrivateDir::create().map_err(|e| {
        CliError::new(
            exit::GENERIC,
            format!("cannot create a temporary directory: {}", io_reason(&e)),
        )
        .hint("set TMPDIR to a writable directory")
    })?;
    let root = dir.path().to_path_buf();
    let home = root.join("home");
    let repo = root.join("repo");
    for d in [&home, &repo] {
        std::fs::create_dir_all(d).map_err(|e| CliError::write_io(d, e))?;
    }
    let mut demo = Demo {
        exe,
        home,
        repo,
        style: Style::for_stream(Stream::Stdout),
        verbosity: ui::verbosity(),
        step: 0,
    };
    demo.say(&format!(
        "{}\n{}",
        demo.style
            .bold("seal demo: the whole workflow on a throw-away repository"),
        demo.style.dim(&format!(
            "working in {} (HOME is a fresh directory there; all of it is removed at the end)",
            root.display()
        ))
    ));
    let result = steps(&mut demo, &root);
    drop(dir);
    let summary = result?;
    let gone = !root.exists();
    let secs = started.elapsed().as_secs_f64();
    emit!(
        "{}{} {summary}; {} ({secs:.1} s).",
        if demo.verbosity == Verbosity::Quiet {
            ""
        } else {
            "\n"
        },
        demo.style.green("demo finished:"),
        if gone {
            "the temporary directory has been removed"
        } else {
            "the temporary directory could not be removed"
        }
    );
    Ok(())
}

fn steps(demo: &mut Demo, root: &Path) -> Result<String, CliError> {
    let key = root.join("keys.txt");
    let cluster_key = root.join("cluster.txt");
    let key_s = key.to_string_lossy().into_owned();
    let cluster_s = cluster_key.to_string_lossy().into_owned();

    demo.heading("Make your age key (outside the repository: seal check flags committed keys)");
    let out = demo.seal(
        &["new-key", "-o", &key_s],
        None,
        Expect::Success,
        Some("seal new-key -o ../keys.txt"),
    )?;
    let me = text(&out.stdout).trim().to_string();
    demo.show(&both(&out));

    demo.heading("Add the example Secrets (plaintext) and run the CI gate");
    for (rel, body) in EXAMPLE_FILES {
        demo.write(rel, body)?;
        demo.note(&format!("wrote {rel}"));
    }
    let out = demo.seal(&["check"], None, Expect::Failure, None)?;
    demo.show(&both(&out));
    demo.note("exit status 1: plaintext Secrets would not get past CI or pre-commit");

    demo.heading("Say what to encrypt and for whom: .sops.yaml");
    let config = sops_yaml(&[&me]);
    demo.write(".sops.yaml", &config)?;
    demo.say(&format!("{} cat .sops.yaml", demo.style.cyan("$")));
    demo.show(&config);

    demo.heading("Encrypt the Secrets in place");
    for (rel, _) in EXAMPLE_FILES {
        let out = demo.seal(&["encrypt", "-i", rel], None, Expect::Success, None)?;
        demo.show(&both(&out));
    }
    demo.say(&format!(
        "{} cat secrets/postgres.yaml",
        demo.style.cyan("$")
    ));
    demo.show(&demo.read("secrets/postgres.yaml")?);
    demo.note("apiVersion, kind and metadata stay readable: Flux and reviewers need them");

    demo.heading("Run the CI gate again");
    let out = demo.seal(&["check"], None, Expect::Success, None)?;
    demo.show(&both(&out));

    demo.heading("Give the cluster its own key and re-wrap every file for it");
    let out = demo.seal(
        &["new-key", "-o", &cluster_s],
        None,
        Expect::Success,
        Some("seal new-key -o ../cluster.txt"),
    )?;
    let cluster = text(&out.stdout).trim().to_string();
    demo.show(&both(&out));
    let config = sops_yaml(&[&me, &cluster]);
    demo.write(".sops.yaml", &config)?;
    demo.note(".sops.yaml now lists both keys:");
    demo.show(&config);
    let out = demo.seal(
        &["updatekeys", "-y", "--all"],
        Some(&key),
        Expect::Success,
        None,
    )?;
    demo.show(&both(&out));
    let out = demo.seal(
        &["check", "--require-recipient", &cluster],
        None,
        Expect::Success,
        Some("seal check --require-recipient age1…  # every file readable by the cluster"),
    )?;
    demo.show(&both(&out));

    demo.heading("Rotate the data keys (after someone leaves, or on a schedule)");
    let out = demo.seal(
        &["rotate", "-i", "--all"],
        Some(&key),
        Expect::Success,
        None,
    )?;
    demo.show(&both(&out));

    demo.heading("Decrypt: with the cluster's key, and back to the original bytes");
    let out = demo.seal(
        &[
            "decrypt",
            "--extract",
            "[\"stringData\"][\"POSTGRES_SUPER_PASS\"]",
            "secrets/postgres.yaml",
        ],
        Some(&cluster_key),
        Expect::Success,
        None,
    )?;
    demo.show(&both(&out));
    for (rel, original) in EXAMPLE_FILES {
        let out = demo.seal(&["decrypt", rel], Some(&key), Expect::Success, None)?;
        if out.stdout != original.as_bytes() {
            return Err(CliError::new(
                exit::GENERIC,
                format!("the demo decrypted {rel} but did not get the original bytes back"),
            )
            .hint("this is a bug in seal; please report it"));
        }
        demo.note("identical to the original, byte for byte (comments and layout included)");
    }

    demo.heading("An ExternalSecret from the encrypted Secret (names only, no key needed)");
    let out = demo.seal(
        &["external-secret", "--from", "secrets/postgres.yaml"],
        None,
        Expect::Success,
        None,
    )?;
    demo.show(&both(&out));

    Ok(format!(
        "2 keys made, plaintext refused by seal check, {} files encrypted, checked, re-wrapped for the cluster, rotated and decrypted back to the same bytes, and an ExternalSecret generated",
        EXAMPLE_FILES.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_quotes_only_when_needed() {
        assert_eq!(shell_quote("secrets/a.yaml"), "secrets/a.yaml");
        assert_eq!(shell_quote("[\"a\"]"), "'[\"a\"]'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_config_parses_and_lists_every_recipient() {
        let y = sops_yaml(&["age1aaa", "age1bbb"]);
        let cfg = crate::config::Config::parse(y.as_bytes(), Path::new("/r/.sops.yaml"));
        let cfg = match cfg {
            Ok(c) => c,
            Err(e) => panic!("demo .sops.yaml does not parse: {e}"),
        };
        let rule = format!("{:?}", cfg.rule_for(Path::new("/r/secrets/db.yaml")));
        assert!(
            rule.contains("age1aaa") && rule.contains("age1bbb"),
            "{rule}"
        );
        assert!(cfg.rule_for(Path::new("/r/other/db.yaml")).is_none());
    }

    #[test]
    fn the_examples_are_plaintext_secrets() {
        for (rel, body) in EXAMPLE_FILES {
            assert!(rel.starts_with("secrets/"));
            assert!(body.contains("kind: Secret"), "{rel}");
            assert!(!body.contains("ENC["), "{rel}");
        }
    }

    #[test]
    fn the_environment_is_hermetic() {
        for var in PASSED_THROUGH {
            assert!(
                !var.starts_with("SOPS") && !var.starts_with("XDG") && var != "HOME",
                "{var} must not reach the demo's commands"
            );
        }
    }
}
