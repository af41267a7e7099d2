//! `seal check` on the corpus under `tests/check-corpus/`: one folder per situation, each
//! with an `expected.txt` listing every finding as `folder/path:line rule severity`
//! (info included). Every folder is copied to a temporary directory first, so no
//! `.sops.yaml` or `.git` above it takes part. Also: no finding at error level on the
//! shared conformance corpus (files made by the real sops), whatever the format.

mod common;

use std::path::{Path, PathBuf};

use seal::check::{Checker, Severity};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check-corpus")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn findings_of(case: &str) -> (Vec<String>, seal::check::Report) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(case);
    copy_dir(&corpus().join(case), &dir);
    std::fs::remove_file(dir.join("expected.txt")).unwrap();
    let checker = Checker {
        cwd: dir.clone(),
        ..Checker::default()
    };
    let report = checker.check_paths(&[]);
    assert!(
        report.summary.unreadable.is_empty(),
        "{case}: {:?}",
        report.summary.unreadable
    );
    let mut lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{case}/{}:{} {} {}", f.path, f.line, f.rule, f.severity))
        .collect();
    lines.sort();
    (lines, report)
}

fn expected(case: &str) -> Vec<String> {
    let text = std::fs::read_to_string(corpus().join(case).join("expected.txt")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

#[test]
fn every_corpus_case_gives_exactly_its_expected_findings() {
    let mut cases: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "the corpus is missing: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let (got, _) = findings_of(case);
        let want = expected(case);
        if got != want {
            failures.push(format!("{case}:\n  expected {want:#?}\n  got {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One bypass class of issue 21: its corpus case gives exactly its expected findings, and
/// every error the case expects is found (each failed before the fix).
fn bypass_class(case: &str) {
    let (got, _) = findings_of(case);
    let want = expected(case);
    assert_eq!(got, want, "{case}");
}

#[test]
fn decided_by_content_not_by_name() {
    bypass_class("decided-by-content");
}

#[test]
fn utf8_bom_and_utf16_text_are_read() {
    bypass_class("text-encodings");
}

#[test]
fn every_spelling_of_the_secret_kind_is_a_secret() {
    bypass_class("kind-spellings");
}

#[test]
fn merge_keys_are_resolved_at_every_level() {
    bypass_class("merge-keys");
}

#[test]
fn non_string_keys_do_not_make_a_file_unreadable() {
    bypass_class("non-string-keys");
}

#[test]
fn every_value_of_a_duplicated_key_is_checked() {
    bypass_class("duplicate-keys");
}

#[test]
fn nested_secrets_are_secrets() {
    bypass_class("nested-secrets");
}

#[test]
fn templated_values_are_still_checked() {
    bypass_class("templated-values");
}

#[test]
fn well_known_secret_references_are_info() {
    bypass_class("secret-references");
}

#[test]
fn a_private_key_folded_over_lines_is_found() {
    bypass_class("folded-private-key");
}

#[test]
fn unreadable_files_that_could_hold_a_secret_fail_closed() {
    bypass_class("fail-closed");
}

#[test]
fn helm_templates_are_read_as_manifests() {
    bypass_class("helm-templates");
}

#[test]
fn the_traps_stay_clean() {
    let (got, _) = findings_of("traps-stay-clean");
    assert!(got.is_empty(), "{got:#?}");
    assert!(expected("traps-stay-clean").is_empty());
}

#[test]
fn findings_never_contain_the_secret_values() {
    for case in [
        "k8s-plain-secret",
        "k8s-multi-doc",
        "last-applied",
        "credentials",
        "rule-coverage",
        "json-secret",
        "k8s-list",
        "nested-secrets",
        "merge-keys",
        "secret-references",
        "templated-values",
    ] {
        let (_, report) = findings_of(case);
        assert!(!report.findings.is_empty(), "{case}");
        for f in &report.findings {
            for secret in ["hunter2", "aHVudGVyMg", "s3cret", "abc123"] {
                assert!(
                    !f.message.contains(secret) && !f.hint.contains(secret),
                    "{case}: {f:?}"
                );
            }
        }
    }
}

#[test]
fn allow_listed_findings_and_ignored_paths_are_listed_in_the_summary() {
    let (_, report) = findings_of("allow-list");
    assert_eq!(report.summary.allowed.len(), 1);
    assert_eq!(report.summary.allowed[0].finding.line, 7);
    assert_eq!(
        report.summary.allowed[0].reason,
        "public demo value, documented in the README"
    );
    assert_eq!(report.summary.ignored, vec!["fixtures".to_string()]);
}

#[test]
fn no_error_on_any_file_the_real_sops_made() {
    let Some(cases) =
        common::shared_suite("seal check on the conformance corpus", "conformance/cases")
    else {
        return;
    };
    let mut checked = 0;
    for e in std::fs::read_dir(&cases).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("neg-") {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let fname = f.file_name().unwrap().to_string_lossy().into_owned();
            if !fname.starts_with("enc.") {
                continue;
            }
            let checker = Checker {
                cwd: dir.clone(),
                ..Checker::default()
            };
            let report = checker.check_paths(std::slice::from_ref(&f));
            let errors: Vec<_> = report
                .findings
                .iter()
                .filter(|x| x.severity == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} conformance files checked");
}

/// `case` gives exactly its `expected.txt` (the bypass-class tests below, one per class,
/// named after it; each fixture was passed by the gate before its fix).
fn assert_case(case: &str) {
    let (got, _) = findings_of(case);
    assert_eq!(got, expected(case), "{case}");
}

#[test]
fn sops_forged_age_stanza_counts_as_plain() {
    assert_case("sops-forged-age-stanza");
}

#[test]
fn sops_forged_mac_counts_as_plain() {
    assert_case("sops-forged-mac");
}

#[test]
fn sops_metadata_that_does_not_hold_is_an_error() {
    assert_case("sops-metadata-does-not-hold");
}

#[test]
fn sops_stray_metadata_value_is_a_finding() {
    assert_case("sops-stray-metadata-value");
}

#[test]
fn sops_secret_selector_narrowed_after_the_fact() {
    assert_case("sops-secret-selector-narrowed");
}

#[test]
fn sops_selector_narrower_than_rule() {
    assert_case("sops-selector-narrower-than-rule");
}

#[test]
fn sops_file_that_encrypts_nothing() {
    assert_case("sops-encrypts-nothing");
}

#[test]
fn allow_counts_only_in_comments() {
    assert_case("allow-only-in-comments");
}

#[test]
fn broad_rule_keeps_credential_findings() {
    assert_case("broad-rule-credentials");
}

#[test]
fn secret_value_types_kubernetes_rejects() {
    assert_case("secret-value-types");
}

/// The oracle for `broken-metadata`: every fixture sops file that the real sops decrypts
/// (alice's key) has no `broken-metadata` error, and every one whose metadata it refuses
/// has one.
#[test]
fn broken_metadata_is_exactly_what_sops_refuses() {
    let home = tempfile::tempdir().unwrap();
    let mut seen = (0, 0);
    for case in [
        "sops-metadata-does-not-hold",
        "sops-forged-age-stanza",
        "sops-forged-mac",
        "sops-secret-selector-narrowed",
        "sops-stray-metadata-value",
        "secret-value-types",
    ] {
        let (got, _) = findings_of(case);
        for f in std::fs::read_dir(corpus().join(case)).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&f).unwrap();
            if !name.ends_with(".yaml") || !text.contains("\nsops:") {
                continue;
            }
            let out = common::sops(home.path())
                .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
                .arg("decrypt")
                .arg(&f)
                .output()
                .unwrap();
            let broken = got.iter().any(|l| {
                l.starts_with(&format!("{case}/{name}:")) && l.ends_with("broken-metadata error")
            });
            let decrypts = out.status.success();
            // 1: sops refused the metadata; 128: no key entry gave the data key. (51 is
            // also a value edited after encryption, which no key-less check can see.)
            let refused_metadata = matches!(out.status.code(), Some(1 | 128));
            assert!(
                !(broken && decrypts) && (broken || !refused_metadata),
                "{case}/{name}: sops exit {:?} ({}), seal broken-metadata: {broken}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            if decrypts {
                seen.0 += 1;
            } else if broken {
                seen.1 += 1;
            }
        }
    }
    assert!(seen.0 >= 5 && seen.1 >= 9, "decrypted/refused: {seen:?}");
}

#[test]
fn sops_selector_leaves_a_credential_plaintext() {
    assert_case("sops-selector-leaves-credential");
}

#[test]
fn sops_selector_narrower_than_the_default_its_rule_applies() {
    assert_case("sops-selector-narrower-than-default-rule");
}

/// A literal next to a template in a sops Secret's plaintext (`hunter2${X}`) is a secret;
/// only a value that is nothing but template expressions or one reference is exempt.
#[test]
fn sops_templated_plaintext_is_still_a_secret() {
    assert_case("sops-templated-plaintext");
}
