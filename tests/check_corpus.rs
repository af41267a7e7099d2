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
    let cases = common::shared().join("conformance/cases");
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
