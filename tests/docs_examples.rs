//! The commands the guides show work as written: every `seal set … --value-stdin` example
//! of docs/getting-started.md and docs/secrets-management.md is run on a real encrypted
//! Secret with a token on standard input, and `seal --help` lists the exit codes those
//! commands can give.

mod common;

use std::fs;
use std::path::Path;

use common::seal;

const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  OTHER: x\n";

/// Every `seal set FILE '…' --value-stdin…` command of a guide (inline code or a line of
/// a code block), its arguments after `seal`, shell comments dropped.
fn set_examples(doc: &str) -> Vec<Vec<String>> {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let mut out = Vec::new();
    for piece in text.split('`').chain(text.lines()) {
        let piece = piece.split("  #").next().unwrap_or("").trim();
        if !piece.starts_with("seal set FILE") || !piece.contains("--value-stdin") {
            continue;
        }
        let args: Vec<String> = piece
            .split_whitespace()
            .skip(1)
            .map(|a| a.trim_matches('\'').to_string())
            .collect();
        if !out.contains(&args) {
            out.push(args);
        }
    }
    out
}

#[test]
fn documented_value_stdin_examples_store_the_token() {
    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("key.txt");
    let out = seal(t.path())
        .args(["new-key", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut ran = 0;
    for doc in ["docs/getting-started.md", "docs/secrets-management.md"] {
        let examples = set_examples(doc);
        assert!(
            !examples.is_empty(),
            "{doc} shows no `seal set … --value-stdin`"
        );
        for args in examples {
            let file = t.path().join("secret.sops.yaml");
            fs::write(&file, SECRET).unwrap();
            seal(t.path())
                .args(["encrypt", "-i", "--age", &public])
                .arg(&file)
                .assert()
                .success();
            let args: Vec<String> = args
                .iter()
                .map(|a| {
                    if a == "FILE" {
                        file.display().to_string()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            let path = args.get(2).expect("a tree path").clone();
            let o = seal(t.path())
                .env("SOPS_AGE_KEY_FILE", &key)
                .args(&args)
                .write_stdin("tok-3n\n")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{doc}: seal {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            );
            let back = seal(t.path())
                .env("SOPS_AGE_KEY_FILE", &key)
                .args(["decrypt", "--extract", &path])
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&back.stdout), "tok-3n", "{doc}");
            ran += 1;
        }
    }
    assert!(ran >= 2);
}

#[test]
fn help_lists_the_exit_code_of_a_value_that_is_not_json() {
    let t = tempfile::tempdir().unwrap();
    let help = seal(t.path()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("7 "))
        .unwrap_or_else(|| panic!("no exit code 7 in --help:\n{help}"));
    assert!(line.contains("JSON"), "{line}");
    // And that is the code seal gives for it.
    let file = t.path().join("s.yaml");
    fs::write(&file, SECRET).unwrap();
    let public = age::x25519::Identity::generate().to_public().to_string();
    seal(t.path())
        .args(["encrypt", "-i", "--age", &public])
        .arg(&file)
        .assert()
        .success();
    seal(t.path())
        .args(["set"])
        .arg(&file)
        .args(["[\"stringData\"][\"T\"]", "--value-stdin"])
        .write_stdin("bare-word\n")
        .assert()
        .code(7);
}
