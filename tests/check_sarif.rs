//! `seal check --format sarif` against the official SARIF 2.1.0 JSON schema
//! (`tests/schemas/sarif-schema-2.1.0.json`), validated with the real `check-jsonschema`
//! (installed into `.venv/` by scripts/install-peers.sh; the test fails when it is missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{recipient, seal, venv_tool};
use seal::check::report::{OutputFormat, TextOptions, render};
use seal::check::{Allowed, Finding, Report, Rule, Severity, Summary};
use serde_json::Value;

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json")
}

/// Runs check-jsonschema on `doc`; returns (success, output).
fn validate(dir: &Path, name: &str, doc: &str) -> (bool, String) {
    let file = dir.join(name);
    std::fs::write(&file, doc).expect("write SARIF");
    let out = Command::new(venv_tool("check-jsonschema"))
        .arg("--schemafile")
        .arg(schema())
        .arg(&file)
        .env("HOME", dir)
        .output()
        .expect("run check-jsonschema");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn finding(path: &str, line: usize, column: usize, rule: Rule, severity: Severity) -> Finding {
    Finding {
        path: path.into(),
        line,
        column,
        rule,
        severity,
        message: format!("{} found here", rule.id()),
        hint: "see the docs".into(),
    }
}

/// A report with every rule, every severity, whole-file findings, odd paths, an allowed
/// finding with and without a reason, and an unreadable path.
fn full_report() -> Report {
    let sev = [Severity::Error, Severity::Warning, Severity::Info];
    let mut findings: Vec<Finding> = Rule::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| {
            finding(
                &format!("k8s/app {i}/ü,x:{i}.yaml"),
                i,
                i % 3,
                *r,
                sev[i % 3],
            )
        })
        .collect();
    findings.push(finding(
        "/abs/outside.yaml",
        2,
        1,
        Rule::PrivateKey,
        Severity::Error,
    ));
    Report {
        findings,
        summary: Summary {
            files_checked: 20,
            sops_files: 5,
            skipped_binary: 1,
            skipped_large: 1,
            skipped_symlinks: 1,
            ignored: vec!["vendor/chart/values.yaml".into()],
            allowed: vec![
                Allowed {
                    finding: finding(
                        "test/fixture.env",
                        3,
                        1,
                        Rule::CredentialValue,
                        Severity::Warning,
                    ),
                    reason: "dummy value for tests".into(),
                },
                Allowed {
                    finding: finding("a.yaml", 0, 0, Rule::PlainManifest, Severity::Info),
                    reason: String::new(),
                },
            ],
            unreadable: vec![("private/".into(), "permission denied".into())],
        },
    }
}

#[test]
fn sarif_of_a_full_report_is_valid_against_the_official_schema() {
    let t = tempfile::tempdir().expect("tempdir");
    for verbose in [false, true] {
        let doc = render(
            &full_report(),
            OutputFormat::Sarif,
            TextOptions {
                color: false,
                verbose,
            },
        );
        let (ok, out) = validate(t.path(), "full.sarif", &doc);
        assert!(ok, "SARIF (verbose={verbose}) is not valid:\n{out}\n{doc}");
    }
    let empty = render(
        &Report::default(),
        OutputFormat::Sarif,
        TextOptions::default(),
    );
    let (ok, out) = validate(t.path(), "empty.sarif", &empty);
    assert!(ok, "SARIF of a clean run is not valid:\n{out}\n{empty}");
}

#[test]
fn the_schema_check_rejects_broken_sarif() {
    // The validation above means something only if the same tool rejects a document that
    // breaks the standard: a level SARIF does not have, and a region with line 0.
    let t = tempfile::tempdir().expect("tempdir");
    let doc = render(&full_report(), OutputFormat::Sarif, TextOptions::default());
    let mut v: Value = serde_json::from_str(&doc).expect("JSON");
    v["runs"][0]["results"][0]["level"] = Value::from("fatal");
    let (ok, out) = validate(t.path(), "bad-level.sarif", &v.to_string());
    assert!(!ok, "a SARIF with level `fatal` was accepted:\n{out}");

    let mut v: Value = serde_json::from_str(&doc).expect("JSON");
    v["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"] =
        serde_json::json!({"startLine": 0});
    let (ok, out) = validate(t.path(), "bad-line.sarif", &v.to_string());
    assert!(!ok, "a SARIF with startLine 0 was accepted:\n{out}");
}

/// End to end through the scanner (needs `seal check`): one plaintext Secret, one
/// encrypted Secret, one ConfigMap, and no key at all (check is key-less). The SARIF is
/// valid and reports the plaintext one only.
#[test]
fn seal_check_format_sarif_is_valid_end_to_end() {
    let t = tempfile::tempdir().expect("tempdir");
    let home = t.path().join("home");
    let repo = t.path().join("repo");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&repo).expect("repo");
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-not-a-real-one\n";
    std::fs::write(repo.join("plain-secret.yaml"), secret).expect("write");
    std::fs::write(repo.join("enc-secret.yaml"), secret).expect("write");
    std::fs::write(
        repo.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
    )
    .expect("write");
    seal(&home)
        .current_dir(&repo)
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg("enc-secret.yaml")
        .assert()
        .success();

    let out = seal(&home)
        .current_dir(&repo)
        .args(["check", "--format", "sarif", "."])
        .output()
        .expect("run seal check");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a plaintext Secret is an error finding: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        !doc.trim().is_empty(),
        "seal check --format sarif printed nothing; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !doc.contains("hunter2"),
        "the secret value leaked into SARIF"
    );
    let (ok, report) = validate(t.path(), "e2e.sarif", &doc);
    assert!(ok, "seal check SARIF is not valid:\n{report}\n{doc}");
    let v: Value = serde_json::from_str(&doc).expect("JSON");
    let results = v["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let uris: Vec<&str> = results
        .iter()
        .filter(|r| r["level"] == "error")
        .filter_map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    assert!(
        uris.contains(&"plain-secret.yaml"),
        "plain-secret.yaml reported: {doc}"
    );
    assert!(
        !uris.contains(&"enc-secret.yaml"),
        "an encrypted Secret is not an error: {doc}"
    );
    assert!(
        results.iter().any(|r| r["ruleId"] == "plaintext-secret"),
        "{doc}"
    );
}
