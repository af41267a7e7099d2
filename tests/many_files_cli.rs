//! Many files at once on seal's own command line: `seal decrypt` of several files or
//! `--recursive DIR` writes one multi-document stream (checked by parsing it and by
//! rendering it with the real `kubectl kustomize`), all-or-nothing; `exec-env --file`
//! merges files in order, later files winning. Under the name `sops`, sops's one-file
//! rule stays.

mod common;

use std::process::Command;

use common::{Sandbox, key_file, recipient};
use seal::stores::Format;
use seal::tree::{Branch, Value};

fn parse(yaml: &[u8]) -> Vec<Branch> {
    Format::Yaml
        .store()
        .load_plain(yaml)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(yaml)))
        .docs
}

fn name_of(d: &Branch) -> String {
    match d.get("metadata") {
        Some(Value::Branch(m)) => match m.get("name") {
            Some(Value::Str(s)) => s.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn secret(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: apps\nstringData:\n  {key}: {value}\n"
    )
}

/// a.sops.yaml (two documents), b.sops.json (made by the real sops), k8s/ with nested
/// encrypted files, a plain manifest and an encrypted dotenv file.
fn files(sb: &Sandbox) {
    sb.encrypted(
        "a.sops.yaml",
        &format!(
            "# first\n{}---\n{}",
            secret("a1", "pw", "one"),
            secret("a2", "pw", "two")
        ),
    );
    sb.sops_encrypted(
        "b.sops.json",
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b", "namespace": "apps"}, "stringData": {"token": "three"}}"#,
    );
    std::fs::create_dir_all(sb.dir.join("k8s/z/deep")).unwrap();
    std::fs::create_dir_all(sb.dir.join("k8s/m")).unwrap();
    sb.encrypted("k8s/z/deep/z.sops.yaml", &secret("z", "pw", "four"));
    sb.encrypted("k8s/m/m.sops.yaml", &secret("m", "pw", "five"));
    std::fs::write(
        sb.dir.join("k8s/plain.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
    )
    .unwrap();
    sb.encrypted("k8s/app.env", "X=1\n");
}

#[test]
fn several_files_become_one_stream_kubectl_reads() {
    let sb = Sandbox::new();
    files(&sb);
    let out = sb
        .seal()
        .args(["decrypt", "a.sops.yaml", "b.sops.json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.starts_with("# first\n"), "comments are kept: {text}");
    assert!(!text.contains("sops:") && !text.contains("ENC["), "{text}");
    let docs = parse(&out.stdout);
    let names: Vec<String> = docs.iter().map(name_of).collect();
    assert_eq!(names, ["a1", "a2", "b"], "{text}");

    // kubectl reads the stream as manifests (kustomize: a resource file of several docs).
    let k = tempfile::tempdir().unwrap();
    std::fs::write(k.path().join("stream.yaml"), &out.stdout).unwrap();
    std::fs::write(
        k.path().join("kustomization.yaml"),
        "resources:\n  - stream.yaml\n",
    )
    .unwrap();
    let rendered = Command::new("kubectl")
        .arg("kustomize")
        .arg(k.path())
        .output()
        .expect("kubectl is required by this test");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let docs = parse(&rendered.stdout);
    let mut names: Vec<String> = docs.iter().map(name_of).collect();
    names.sort();
    assert_eq!(names, ["a1", "a2", "b"]);
    let r = String::from_utf8_lossy(&rendered.stdout);
    for v in ["one", "two", "three"] {
        assert!(r.contains(v), "{r}");
    }

    // --output-type json: JSON documents, still separated by `---`.
    let out = sb
        .seal()
        .args([
            "decrypt",
            "--output-type",
            "json",
            "a.sops.yaml",
            "b.sops.json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let chunks: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(chunks.len(), 3, "{text}");
    for c in chunks {
        serde_json::from_str::<serde_json::Value>(c).unwrap();
    }
}

#[test]
fn recursive_takes_every_encrypted_manifest_below_a_directory_in_path_order() {
    let sb = Sandbox::new();
    files(&sb);
    let out = sb
        .seal()
        .args(["decrypt", "a.sops.yaml", "--recursive", "k8s"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = parse(&out.stdout).iter().map(name_of).collect();
    assert_eq!(names, ["a1", "a2", "m", "z"], "plain.yaml is not a secret");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("k8s/app.env: left out of the stream"), "{err}");
    // To a file: 0600, the same stream; a file named twice is decrypted once.
    let out = sb
        .seal()
        .args([
            "decrypt",
            "-r",
            "k8s",
            "k8s/m/m.sops.yaml",
            "--output",
            "all.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let written = std::fs::read(sb.dir.join("all.yaml")).unwrap();
    let names: Vec<String> = parse(&written).iter().map(name_of).collect();
    assert_eq!(names, ["m", "z"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sb.dir.join("all.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn one_failing_file_prints_nothing_and_says_which() {
    let sb = Sandbox::new();
    files(&sb);
    // Encrypted for bob only: alice cannot open it.
    std::fs::write(sb.dir.join("bob.sops.yaml"), secret("bob", "pw", "six")).unwrap();
    sb.seal()
        .args(["encrypt", "-i", "--age", &recipient("bob"), "bob.sops.yaml"])
        .assert()
        .success();
    let out = sb
        .seal()
        .args(["decrypt", "a.sops.yaml", "bob.sops.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128));
    assert!(out.stdout.is_empty(), "all or nothing");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bob.sops.yaml: could not decrypt the data key"),
        "{err}"
    );

    for (args, code, says) in [
        (
            &["decrypt", "a.sops.yaml", "k8s/app.env"][..],
            4,
            "k8s/app.env: this is a dotenv file",
        ),
        (
            &["decrypt", "-i", "a.sops.yaml", "b.sops.json"],
            8,
            "-i/--in-place works on one file",
        ),
        (
            &[
                "decrypt",
                "--extract",
                "[\"kind\"]",
                "a.sops.yaml",
                "b.sops.json",
            ],
            8,
            "--extract works on one file",
        ),
        (
            &["decrypt", "a.sops.yaml", "-"],
            8,
            "standard input (-) cannot be one of several",
        ),
        (
            &[
                "decrypt",
                "--output-type",
                "dotenv",
                "a.sops.yaml",
                "b.sops.json",
            ],
            8,
            "YAML or JSON",
        ),
        (
            &["decrypt", "-r", "missing"],
            100,
            "missing: --recursive needs a directory",
        ),
    ] {
        let out = sb.seal().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    std::fs::create_dir(sb.dir.join("empty")).unwrap();
    std::fs::write(sb.dir.join("empty/plain.yaml"), "a: 1\n").unwrap();
    let out = sb.seal().args(["decrypt", "-r", "empty"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no encrypted YAML or JSON file"));
}

#[test]
fn as_sops_decrypt_keeps_sops_s_one_file_rule() {
    let sb = Sandbox::new();
    files(&sb);
    let bin = sb.home.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let link = bin.join("sops");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
    let run = |exe: &std::path::Path| {
        Command::new(exe)
            .env_clear()
            .env("HOME", &sb.home)
            .env("SEAL_NO_KEYRING", "1")
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .current_dir(&sb.dir)
            .args(["decrypt", "a.sops.yaml", "b.sops.json"])
            .output()
            .unwrap()
    };
    let seal = run(&link);
    let sops = run(&common::sops_bin());
    for out in [&seal, &sops] {
        assert!(out.status.success());
        let names: Vec<String> = parse(&out.stdout).iter().map(name_of).collect();
        assert_eq!(names, ["a1", "a2"], "only the first file, as sops");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("More than one positional argument provided")
        );
    }
}

#[test]
fn exec_env_merges_files_in_order_and_later_files_win() {
    let sb = Sandbox::new();
    sb.encrypted("base.env", "A=base-a\nB=base-b\n");
    sb.encrypted("override.yaml", "B: over-b\nC: over-c\n");
    sb.encrypted("secret.sops.yaml", &secret("s", "D", "from-secret"));
    let out = sb
        .seal()
        .args([
            "exec-env",
            "base.env",
            "--file",
            "override.yaml",
            "--file",
            "secret.sops.yaml",
            "echo \"$A|$B|$C|$D\"",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "base-a|over-b|over-c|from-secret\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("B from override.yaml overrides the value from base.env"),
        "{err}"
    );
    assert!(!err.contains("base-b") && !err.contains("over-b"), "{err}");
    // The other order: base wins now; --quiet drops the note.
    let out = sb
        .seal()
        .args([
            "--quiet",
            "exec-env",
            "override.yaml",
            "--file",
            "base.env",
            "--",
            "sh",
            "-c",
            "echo \"$A|$B|$C\"",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "base-a|base-b|over-c\n"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("overrides"));
    // A file that fails stops everything before the command runs.
    let out = sb
        .seal()
        .args(["exec-env", "base.env", "--file", "nope.env", "echo ran"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(out.stdout.is_empty());
}
