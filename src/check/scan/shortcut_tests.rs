//! The syntax-only shortcut changes no finding: every file of the check corpus (and of
//! `../shared/realworld` when it is there) and a set of generated manifests give the same
//! result with and without it.

use super::{FileContext, FileResult, scan, scan_without_shortcut};
use std::path::Path;

fn summary(r: &FileResult) -> String {
    format!("sops {} {:?}", r.is_sops, r.findings)
}

fn same(path: &str, bytes: &[u8]) -> bool {
    let ctx = FileContext {
        path,
        rule: None,
        require: &[],
    };
    let fast = summary(&scan(&ctx, bytes));
    let full = summary(&scan_without_shortcut(&ctx, bytes));
    assert_eq!(fast, full, "{path}");
    true
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

#[test]
fn corpus_files_give_the_same_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    files_under(&root.join("tests/check-corpus"), &mut files);
    files_under(&root.join("tests/yaml-roundtrip"), &mut files);
    files_under(&root.join("../shared/realworld"), &mut files);
    assert!(files.len() > 50, "only {} files", files.len());
    for f in &files {
        let bytes = std::fs::read(f).expect("readable");
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("x.yaml");
        // As named, and as a plain manifest name (so the YAML path runs for every text).
        same(name, &bytes);
        same("clusters/app/deploy.yaml", &bytes);
    }
}

#[test]
fn generated_manifests_give_the_same_findings() {
    let bodies = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  password: hunter2\n",
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - env:\n        - name: P\n          valueFrom:\n            secretKeyRef: {name: db, key: password}\n",
        "kind: Deployment\nmetadata: {name: x}\nmetadata: {name: y}\n",
        "kind: Deployment\n1: x\n",
        "- kind: Deployment\n",
        "kind: Deployment\nspec: [1, 2\n",
        "kind: Deployment\nspec:\n\tbad: tab\n",
        "kind: Deployment\nn: 18446744073709551615\n",
        "kind: !!binary U2VjcmV0\nstringData:\n  password: hunter2\n",
        "base: &b {kind: Deployment}\nother: *b\n",
        "password: hunter2\ntoken: abcdef0123456789\n",
        "key: |\n  -----BEGIN OPENSSH PRIVATE KEY-----\n  b3BlbnNzaC1rZXktdjEAAAAA\n  -----END OPENSSH PRIVATE KEY-----\n",
        "{\"kind\": \"Deployment\", \"spec\": {}}\n",
        "a: b\n---\nkind: \"S\\u0065cret\"\nstringData: {p: q}\n",
        "# just a comment\n",
        "",
    ];
    for (i, b) in bodies.iter().enumerate() {
        for name in ["deploy.yaml", "values.yml", "secret.yaml", "app.yaml.tpl"] {
            assert!(same(&format!("g{i}/{name}"), b.as_bytes()));
        }
    }
}
