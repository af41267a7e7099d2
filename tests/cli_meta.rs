//! The things around the commands: the clap definition is consistent, shell completions
//! and man pages generate and cover every subcommand, docs/reference.md is what
//! `seal man --markdown` prints (`SEAL_UPDATE_DOCS=1` rewrites it), every `seal …` command
//! the docs mention exists, and `seal demo` runs to completion and leaves nothing behind.

mod common;

use std::path::Path;

use clap::CommandFactory;

fn subcommands() -> Vec<String> {
    seal::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn stdout_of(args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let out = common::seal(home.path())
        .args(args)
        .output()
        .expect("run seal");
    assert!(
        out.status.success(),
        "seal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn clap_definition_is_consistent() {
    seal::cli::Cli::command().debug_assert();
}

#[test]
fn completions_generate_for_every_shell_and_name_every_subcommand() {
    let subs = subcommands();
    assert!(subs.contains(&"encrypt".to_string()) && subs.len() > 15);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: a suspiciously short script");
        for s in &subs {
            assert!(script.contains(s.as_str()), "{shell} completion lacks {s}");
        }
    }
}

#[test]
fn bash_completion_is_valid_bash() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seal.bash");
    std::fs::write(&path, script).expect("write");
    let st = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash");
    assert!(st.success(), "bash -n rejects the completion script");
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let home = tempfile::tempdir().expect("tempdir");
    common::seal(home.path())
        .args(["completions", "tcsh"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("possible values"));
}

#[test]
fn man_writes_a_roff_page_per_subcommand() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("man1");
    common::seal(home.path())
        .args(["man", "--dir"])
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicates::str::contains("man pages"));
    let mut want = vec!["seal.1".to_string()];
    want.extend(subcommands().iter().map(|s| format!("seal-{s}.1")));
    want.push("seal-key-list.1".into());
    want.push("seal-git-setup.1".into());
    for name in &want {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("{name} was not written: {e}"));
        assert!(text.contains(".TH"), "{name} is not roff");
        assert!(text.contains(".SH NAME"), "{name} has no NAME section");
    }
    // seal.1 lists the subcommands; a page says what its command does.
    let root = std::fs::read_to_string(dir.join("seal.1")).expect("seal.1");
    assert!(root.contains("encrypt") && root.contains("updatekeys"));
    let enc = std::fs::read_to_string(dir.join("seal-encrypt.1")).expect("page");
    assert!(enc.contains("in\\-place"), "{enc}");
}

#[test]
fn man_prints_one_page_and_refuses_unknown_commands() {
    let page = stdout_of(&["man", "key", "list"]);
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains("seal\\-key\\-list"));
    let home = tempfile::tempdir().expect("tempdir");
    common::seal(home.path())
        .args(["man", "nope"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no command `seal nope`"));
}

#[test]
fn man_pages_have_no_terminal_escapes() {
    // Help text styles must not leak into roff as raw terminal escapes.
    let page = stdout_of(&["man", "encrypt"]);
    assert!(!page.contains('\u{1b}'), "ANSI escapes in a man page");
}

#[test]
fn reference_md_is_up_to_date() {
    let generated = stdout_of(&["man", "--markdown"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    if std::env::var_os("SEAL_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/reference.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/reference.md is stale: run `SEAL_UPDATE_DOCS=1 cargo test --test cli_meta reference` and commit it"
    );
}

/// Every `seal WORD` in the docs (in code spans and blocks) names a real command, and every
/// `--flag` right after `seal COMMAND` exists on it: the docs cannot advertise what the
/// binary does not do.
#[test]
fn docs_mention_only_real_commands_and_flags() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cmd = {
        let mut c = seal::cli::Cli::command();
        c.build();
        c
    };
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") && !p.ends_with("reference.md") {
            files.push(p);
        }
    }
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read doc");
        problems.extend(doc_problems(&f.display().to_string(), &text, &cmd));
    }
    assert!(
        problems.is_empty(),
        "unknown commands or flags in the docs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_docs_scanner_catches_made_up_commands_and_flags() {
    let mut cmd = seal::cli::Cli::command();
    cmd.build();
    let sample = "Run `seal encrypt --in-place x` and `seal frobnicate`.\n\
        seal is fast and seal reads sops files.\n\
        ```sh\nseal decrypt --bogus f.yaml\nseal key list\nseal exec-env f -- cmd --all\n```\n";
    let got = doc_problems("sample", sample, &cmd);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].contains("seal frobnicate"));
    assert!(got[1].contains("has no --bogus"));
}

fn doc_problems(name: &str, text: &str, cmd: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    {
        let f = name;
        let mut in_fence = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                continue;
            }
            let code_line = in_fence
                && (line.trim_start().starts_with("seal ")
                    || line.trim_start().starts_with("$ seal "));
            let mut rest = line;
            while let Some(i) = rest.find("seal ") {
                let before = rest[..i].chars().last();
                rest = &rest[i + 5..];
                // Only `seal` as a command word: at line start, after a space, `, $, (, |
                if !matches!(before, None | Some(' ' | '`' | '$' | '(' | '|' | '"' | '=')) {
                    continue;
                }
                let words: Vec<&str> = rest
                    .split(|c: char| c.is_whitespace() || c == '`')
                    .take_while(|w| !w.is_empty())
                    .collect();
                let Some(first) = words.first() else { continue };
                if !first.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    || first.starts_with('-')
                {
                    continue;
                }
                let Some(mut sub) = cmd.find_subcommand(first) else {
                    // prose such as "seal is", "seal and sops": only flag words that look
                    // like commands in code.
                    if line.contains(&format!("`seal {first}")) || code_line {
                        problems.push(format!("{}:{}: seal {first}", f, n + 1));
                    }
                    continue;
                };
                for w in words.iter().skip(1) {
                    if *w == "--" || w.starts_with('|') || w.starts_with('#') {
                        break; // the rest belongs to another command or is a comment
                    }
                    if let Some(s) = sub.find_subcommand(w) {
                        sub = s;
                        continue;
                    }
                    if let Some(long) = w.strip_prefix("--") {
                        let long = long.split('=').next().unwrap_or(long);
                        let known = long.is_empty()
                            || sub.get_arguments().any(|a| a.get_long() == Some(long))
                            || cmd.get_arguments().any(|a| a.get_long() == Some(long))
                            || ["help", "version"].contains(&long);
                        if !known && long.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                            problems.push(format!(
                                "{}:{}: {} has no --{long}",
                                f,
                                n + 1,
                                sub.get_bin_name().unwrap_or("seal")
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn demo_runs_to_completion_and_leaves_nothing_behind() {
    let home = tempfile::tempdir().expect("tempdir");
    // The demo's private directory goes below XDG_RUNTIME_DIR: point it at a directory we
    // can inspect afterwards.
    let runtime = tempfile::tempdir().expect("tempdir");
    let out = common::seal(home.path())
        .arg("demo")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run seal demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "seal demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "seal new-key",
        "seal check",
        "seal encrypt -i secrets/postgres.yaml",
        "seal updatekeys -y --all",
        "seal rotate -i --all",
        "seal decrypt",
        "identical to the original",
        "seal external-secret --from secrets/postgres.yaml",
        "kind: ExternalSecret",
        "demo finished:",
        "the temporary directory has been removed",
    ] {
        assert!(
            stdout.contains(step),
            "the demo output lacks {step:?}:\n{stdout}"
        );
    }
    // NO_COLOR is set by the test harness: no escapes.
    assert!(!stdout.contains('\u{1b}'));
    let left: Vec<_> = std::fs::read_dir(runtime.path())
        .expect("runtime dir")
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
    let home_left: Vec<_> = std::fs::read_dir(home.path()).expect("home").collect();
    assert!(
        home_left.is_empty(),
        "the demo wrote into HOME: {home_left:?}"
    );
}

#[test]
fn quiet_demo_prints_only_the_result() {
    let home = tempfile::tempdir().expect("tempdir");
    let runtime = tempfile::tempdir().expect("tempdir");
    let out = common::seal(home.path())
        .args(["--quiet", "demo"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("run seal demo");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("demo finished:"));
}

#[test]
fn global_quiet_and_verbose_reach_check() {
    // `seal -q check` and `seal check -q` mean the same; so do -v.
    let home = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ok.txt"), "nothing secret\n").expect("write");
    for args in [["-q", "check"], ["check", "-q"]] {
        let out = common::seal(home.path())
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success());
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
    }
    let out = common::seal(home.path())
        .current_dir(dir.path())
        .args(["check"])
        .output()
        .expect("run");
    assert!(
        !out.stdout.is_empty(),
        "check without -q says it found nothing"
    );
}

#[test]
fn demo_into_a_closed_pipe_still_cleans_up() {
    // `seal demo | head -3`: the reader goes away early; seal must not panic and must
    // still remove its directory.
    use std::io::Read;
    let home = tempfile::tempdir().expect("tempdir");
    let runtime = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("seal"))
        .arg("demo")
        .env_clear()
        .env("SEAL_NO_KEYRING", "1")
        .env("HOME", home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn seal demo");
    let mut first = [0u8; 16];
    let mut out = child.stdout.take().expect("stdout");
    out.read_exact(&mut first).expect("some output");
    drop(out);
    let result = child.wait_with_output().expect("wait");
    assert!(
        result.status.success(),
        "seal demo failed on a closed pipe: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(runtime.path())
        .expect("runtime")
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}
