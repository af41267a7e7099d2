//! The `sops:` block fields sops reads before it decrypts, edited in a file the real sops
//! made, and decrypted by sops and by seal: both must agree on every edit (the version
//! rule: a leading `v` stripped after the `1.` test, semver otherwise; an empty or missing
//! age `recipient`, which sops reads as "" and decrypts with `enc` alone).

mod common;

use common::{key_file, recipient, sops};

const PLAIN: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n    name: app\nstringData:\n    password: hunter2\n";

fn exit_codes(home: &std::path::Path, text: &str) -> (i32, i32) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.yaml");
    std::fs::write(&p, text).unwrap();
    let s = sops(home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&p)
        .output()
        .unwrap();
    let o = common::seal(home)
        .env("SEAL_NO_KEYRING", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&p)
        .output()
        .unwrap();
    if o.status.success() {
        assert!(String::from_utf8_lossy(&o.stdout).contains("hunter2"));
    } else {
        assert!(!String::from_utf8_lossy(&o.stdout).contains("hunter2"));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("hunter2"));
    }
    (s.status.code().unwrap_or(-1), o.status.code().unwrap_or(-1))
}

fn sops_made(home: &std::path::Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(&p, PLAIN).unwrap();
    let out = sops(home)
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn versions_are_read_as_sops_reads_them() {
    let home = tempfile::tempdir().unwrap();
    let enc = sops_made(home.path());
    let line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("version:"))
        .unwrap()
        .to_string();
    let mut accepted = Vec::new();
    for v in [
        None,
        Some("\"\""),
        Some("abc"),
        Some("\"3\""),
        Some("\"3.11\""),
        Some("v1.2"),
        Some("01.2.3"),
        Some("3.11.0.1"),
        Some("9.9.9"),
        Some("v3.11.0"),
        Some("\"1.2\""),
        Some("\"1.\""),
        Some("1.x"),
        Some("3.11.0-rc1"),
    ] {
        let text = match v {
            None => enc.replace(&format!("{line}\n"), ""),
            Some(v) => enc.replace(&line, &format!("    version: {v}")),
        };
        let (s, o) = exit_codes(home.path(), &text);
        assert_eq!(s, o, "version {v:?}: sops exit {s}, seal exit {o}");
        assert!(s == 0 || s == 1, "version {v:?}: sops exit {s}");
        if s == 0 {
            accepted.push(v.unwrap_or("(none)"));
        }
    }
    // The examples, as measured.
    for want in ["9.9.9", "v3.11.0", "\"1.2\""] {
        assert!(accepted.contains(&want), "{want} refused: {accepted:?}");
    }
    assert_eq!(accepted.len(), 6, "{accepted:?}");
}

#[test]
fn an_empty_or_missing_age_recipient_still_decrypts() {
    let home = tempfile::tempdir().unwrap();
    let enc = sops_made(home.path());
    let r = recipient("alice");
    for edit in [
        enc.replace(&format!("recipient: {r}"), "recipient: \"\""),
        enc.replace(&format!("- recipient: {r}\n          enc:"), "- enc:"),
    ] {
        assert_ne!(edit, enc);
        let (s, o) = exit_codes(home.path(), &edit);
        assert_eq!((s, o), (0, 0), "sops exit {s}, seal exit {o}");
    }
}
