//! The real-world corpus (`../shared/realworld`): SOPS files and manifests from public
//! GitOps repos, without their keys. `seal filestatus` must agree with real sops on every
//! file (expected-filestatus.tsv, made with sops 3.11).

mod common;

use std::fs;

#[test]
fn filestatus_agrees_with_sops_on_every_realworld_file() {
    let Some(root) = common::shared_suite("filestatus on the real-world corpus", "realworld")
    else {
        return;
    };
    let tsv = fs::read_to_string(root.join("expected-filestatus.tsv"))
        .expect("../shared/realworld/expected-filestatus.tsv must exist");
    let home = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, expected, flag) = (cols[0], cols[1], cols.get(3).copied().unwrap_or(""));
        let mut cmd = common::seal(home.path());
        cmd.current_dir(&root).arg("filestatus");
        // The column holds the --input-type value sops needed (json for the .toml files).
        if !flag.is_empty() {
            cmd.args(["--input-type", flag]);
        }
        let out = cmd.arg(path).output().unwrap();
        let got = if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "{path}: exit code");
            assert!(!out.stderr.is_empty(), "{path}: an error needs a message");
            "error"
        } else {
            match String::from_utf8_lossy(&out.stdout).as_ref() {
                "{\"encrypted\":true}\n" => "true",
                "{\"encrypted\":false}\n" => "false",
                other => panic!("{path}: unexpected output {other:?}"),
            }
        };
        if got != expected {
            mismatches.push(format!("{path}: expected {expected}, got {got}"));
        }
        checked += 1;
    }
    assert!(checked > 600, "only {checked} rows read");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// `seal check` on each repo folder (as a CI job in that repo would run it): no error-level
/// finding on any file sops calls encrypted; a `plaintext-secret` finding for exactly the
/// plain Secret values the table lists (the Cilium chart's private keys), and for nothing
/// else.
#[test]
fn check_flags_exactly_the_plaintext_secrets_of_the_realworld_corpus() {
    use seal::check::{Checker, Rule, Severity};
    use std::collections::{BTreeMap, BTreeSet};

    let Some(root) = common::shared_suite("seal check on the real-world corpus", "realworld")
    else {
        return;
    };
    let tsv = fs::read_to_string(root.join("expected-filestatus.tsv")).unwrap();
    let mut encrypted = BTreeSet::new();
    // file -> {(secret name, key)}
    let mut plain: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols[1] == "true" {
            encrypted.insert(cols[0].to_string());
        }
        let listed = cols.get(5).copied().unwrap_or("");
        for secret in listed.split(';').filter(|s| !s.is_empty()) {
            let (ns_name, keys) = secret.split_once('[').unwrap();
            let name = ns_name.rsplit('/').next().unwrap().to_string();
            for key in keys.trim_end_matches(']').split(',') {
                plain
                    .entry(cols[0].to_string())
                    .or_default()
                    .insert((name.clone(), key.to_string()));
            }
        }
    }
    assert!(encrypted.len() > 100 && !plain.is_empty());

    let mut got_plain: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut errors_on_encrypted = Vec::new();
    let mut checked = 0;
    for repo in fs::read_dir(&root).unwrap() {
        let repo = repo.unwrap().path();
        let name = repo.file_name().unwrap().to_string_lossy().into_owned();
        if !repo.is_dir() || name.starts_with('_') {
            continue;
        }
        let report = Checker {
            cwd: repo.clone(),
            ..Checker::default()
        }
        .check_paths(&[]);
        checked += report.summary.files_checked;
        for f in &report.findings {
            let path = format!("{name}/{}", f.path);
            if f.severity == Severity::Error && encrypted.contains(&path) {
                errors_on_encrypted.push(format!("{path}:{} {} {}", f.line, f.rule, f.message));
            }
            if f.rule == Rule::PlaintextSecret {
                // `Secret "NAME" holds data["KEY"] in plaintext`
                let secret = f.message.split('"').nth(1).unwrap_or("").to_string();
                let key = f.message.split('"').nth(3).unwrap_or("").to_string();
                got_plain.entry(path).or_default().insert((secret, key));
            }
        }
    }
    assert!(checked >= 600, "only {checked} files checked");
    assert!(errors_on_encrypted.is_empty(), "{errors_on_encrypted:#?}");
    assert_eq!(got_plain, plain);
}
