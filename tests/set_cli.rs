//! `seal set` / `seal unset` against the real sops: the result decrypts with sops, other
//! values keep their exact ciphertext, sops's JSON value rules, missing keys.

mod common;

use std::path::Path;

use common::{key_file, recipient, seal, sops};

fn make_secret(home: &Path, dir: &Path) -> std::path::PathBuf {
    let f = dir.join("app.sops.yaml");
    seal(home)
        .args([
            "secret",
            "new",
            "generic",
            "--name",
            "app",
            "--from-literal",
            "user=admin",
            "--from-literal",
            "pass=hunter2",
            "--age",
            &recipient("alice"),
            "-o",
        ])
        .arg(&f)
        .assert()
        .success();
    f
}

fn sops_extract(home: &Path, file: &Path, path: &str) -> std::process::Output {
    sops(home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--extract", path])
        .arg(file)
        .output()
        .unwrap()
}

fn line_of<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key}"))
}

#[test]
fn set_generate_changes_one_value_and_sops_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = make_secret(home.path(), dir.path());
    let before = std::fs::read_to_string(&f).unwrap();
    seal(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("set")
        .arg(&f)
        .args([r#"["stringData"]["token"]"#, "--generate", "base64:24"])
        .assert()
        .success();
    let after = std::fs::read_to_string(&f).unwrap();
    // Unchanged values keep their ciphertext byte for byte; the data key is the same.
    for k in ["user", "pass"] {
        assert_eq!(line_of(&before, k), line_of(&after, k));
    }
    let out = sops_extract(home.path(), &f, r#"["stringData"]["token"]"#);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 32, "base64 of 24 bytes");
    let out = sops_extract(home.path(), &f, r#"["stringData"]["pass"]"#);
    assert_eq!(out.stdout, b"hunter2");
    // The diff: the new line, lastmodified and mac.
    let new: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    let gone: Vec<&str> = before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .collect();
    // lastmodified changes unless both writes fell in the same second.
    let meta = |l: &&str| {
        l.trim_start().starts_with("lastmodified:") || l.trim_start().starts_with("mac:")
    };
    assert!(new[0].trim_start().starts_with("token: ENC["), "{new:?}");
    assert!(
        new[1..].iter().all(meta) && (2..=3).contains(&new.len()),
        "{new:?}"
    );
    assert!(
        gone.iter().all(meta) && (1..=2).contains(&gone.len()),
        "only lastmodified and mac change: {gone:?}"
    );
}

#[test]
fn set_json_values_as_sops_does_and_raw_strings() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = make_secret(home.path(), dir.path());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = seal(home.path());
        c.env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .arg("set")
            .arg(&f)
            .args(args);
        if let Some(s) = stdin {
            c.write_stdin(s);
        }
        c.assert()
    };
    run(&[r#"["stringData"]["port"]"#, "5432"], None).success();
    assert!(line_of(&std::fs::read_to_string(&f).unwrap(), "port").contains("type:float"));
    run(&[r#"["stringData"]["pass"]"#, r#""new pass""#], None).success();
    assert_eq!(
        sops_extract(home.path(), &f, r#"["stringData"]["pass"]"#).stdout,
        b"new pass"
    );
    run(
        &[r#"["stringData"]["pem"]"#, "--value-stdin", "--raw"],
        Some("line1\nline2\n"),
    )
    .success();
    assert_eq!(
        sops_extract(home.path(), &f, r#"["stringData"]["pem"]"#).stdout,
        b"line1\nline2"
    );
    // Not JSON: exit 7 as sops, and the file is unchanged.
    let before = std::fs::read(&f).unwrap();
    run(&[r#"["stringData"]["x"]"#, "not json"], None).code(7);
    assert_eq!(std::fs::read(&f).unwrap(), before);
}

#[test]
fn unset_removes_and_missing_keys_fail_unless_idempotent() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = make_secret(home.path(), dir.path());
    let run = |args: &[&str]| {
        seal(home.path())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .arg("unset")
            .arg(&f)
            .args(args)
            .assert()
    };
    run(&[r#"["stringData"]["pass"]"#]).success();
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(!text.contains("pass:"), "{text}");
    let out = sops(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("user: admin"));
    let a = run(&[r#"["stringData"]["pass"]"#]).code(1);
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("key not found"));
    run(&[r#"["stringData"]["pass"]"#, "--idempotent"]).success();
}

#[test]
fn set_without_the_key_fails_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = make_secret(home.path(), dir.path());
    let before = std::fs::read(&f).unwrap();
    seal(home.path())
        .arg("set")
        .arg(&f)
        .args([r#"["stringData"]["x"]"#, "--generate", "uuid"])
        .assert()
        .code(128);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    seal(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("set")
        .arg(&f)
        .args(["stringData", "1"])
        .assert()
        .code(91);
}
