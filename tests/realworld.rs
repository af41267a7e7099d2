//! The real-world corpus (`../shared/realworld`): SOPS files and manifests from public
//! GitOps repos, without their keys. `seal filestatus` must agree with real sops on every
//! file (expected-filestatus.tsv, made with sops 3.11).

mod common;

use std::fs;

#[test]
fn filestatus_agrees_with_sops_on_every_realworld_file() {
    let root = common::shared().join("realworld");
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
