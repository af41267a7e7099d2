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

/// The lines of `after` that are not in `before` and those of `before` not in `after`,
/// in order (a line-level diff for files that only gain or lose lines), without the
/// metadata lines that every write changes.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let meta = |l: &str| {
        let t = l.trim_start();
        t.starts_with("lastmodified:") || t.starts_with("mac:")
    };
    let diff = |a: &str, b: &str| -> Vec<String> {
        let mut other: Vec<&str> = b.split_inclusive('\n').collect();
        a.split_inclusive('\n')
            .filter(|l| match other.iter().position(|o| o == l) {
                Some(i) => {
                    other.remove(i);
                    false
                }
                None => true,
            })
            .filter(|l| !meta(l))
            .map(str::to_string)
            .collect()
    };
    (diff(after, before), diff(before, after))
}

/// A file with a layout seal must not rewrite: a leading `---`, 2-space indentation,
/// inline and own-line comments, trailing spaces, a block scalar, a list.
const LAYOUT: &str = "---\n# the app's settings\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app   # keep me here\ntype: Opaque\nstringData:\n  USER: admin  \n  # the password\n  PASS: hunter2\n  CERT: |\n    line one\n    line two\n  HOSTS:\n    - a\n    - b\n";

/// `set` of a new key adds one line and `unset` removes one, as `edit` would: nothing
/// else of the file changes (indentation, `---`, comments, trailing spaces), and sops
/// decrypts the result.
#[test]
fn set_and_unset_keep_the_layout() {
    let home = tempfile::tempdir().unwrap();
    let f = home.path().join("app.yaml");
    std::fs::write(&f, LAYOUT).unwrap();
    seal(home.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&f)
        .assert()
        .success();
    let run = |args: &[&str]| {
        seal(home.path())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(&args[..1])
            .arg(&f)
            .args(&args[1..])
            .assert()
            .success();
        std::fs::read_to_string(&f).unwrap()
    };
    let enc = std::fs::read_to_string(&f).unwrap();
    // A new key in a nested mapping, a new top-level key, a new nested path.
    let s1 = run(&["set", r#"["stringData"]["TOKEN"]"#, r#""t0k3n""#]);
    let (added, removed) = changed_lines(&enc, &s1);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].starts_with("  TOKEN: ENC["), "{added:?}");
    // It comes after the last entry of stringData (the list).
    let lines: Vec<&str> = s1.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("  TOKEN:"))
        .unwrap();
    assert!(
        lines[at - 1].starts_with("    - ENC[") && lines[at + 1] == "sops:",
        "{s1}"
    );
    let s2 = run(&["set", r#"["note"]"#, r#""plain""#]);
    let (added, removed) = changed_lines(&s1, &s2);
    assert_eq!(
        (added, removed.len()),
        (vec!["note: plain\n".to_string()], 0)
    );
    let s3 = run(&["set", r#"["extra"]["deep"]"#, "--raw", "v"]);
    let (added, _) = changed_lines(&s2, &s3);
    assert_eq!(added, vec!["extra:\n", "  deep: v\n"]);
    // A list item appended and one removed: one line each.
    let l1 = run(&["set", r#"["stringData"]["HOSTS"][2]"#, r#""c""#]);
    let (added, removed) = changed_lines(&s3, &l1);
    assert!(
        removed.is_empty() && added.len() == 1,
        "{added:?} {removed:?}"
    );
    assert!(added[0].starts_with("    - ENC["), "{added:?}");
    let l2 = run(&["unset", r#"["stringData"]["HOSTS"][0]"#]);
    let (added, removed) = changed_lines(&l1, &l2);
    assert!(
        added.is_empty() && removed.len() == 1,
        "{added:?} {removed:?}"
    );
    let s3 = l2;
    // unset: one removed line each, for a scalar, a block scalar and a list.
    let u1 = run(&["unset", r#"["stringData"]["USER"]"#]);
    let (added, removed) = changed_lines(&s3, &u1);
    assert!(added.is_empty(), "{added:?}");
    assert_eq!(removed.len(), 1);
    assert!(removed[0].starts_with("  USER: ENC[") && removed[0].ends_with("  \n"));
    let u2 = run(&["unset", r#"["stringData"]["CERT"]"#]);
    assert_eq!(changed_lines(&u1, &u2).1.len(), 1);
    let u3 = run(&["unset", r#"["stringData"]["HOSTS"]"#]);
    assert_eq!(
        changed_lines(&u2, &u3).1.len(),
        3,
        "HOSTS: and its two items"
    );
    // Everything else is the encrypted file as it was: the `---`, the comments.
    assert!(u3.starts_with("---\n# the app's settings\n"), "{u3}");
    assert!(u3.contains("  name: app   # keep me here\n"), "{u3}");
    // sops reads it, and it holds what was set.
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
    let plain = String::from_utf8(out.stdout).unwrap();
    for want in ["TOKEN: t0k3n", "note: plain", "deep: v", "PASS: hunter2"] {
        assert!(plain.contains(want), "{want} in {plain}");
    }
    for gone in ["USER", "CERT", "HOSTS"] {
        assert!(!plain.contains(gone), "{gone} in {plain}");
    }
    // And seal's decryption is the original text with the same changes.
    let back = seal(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let want = LAYOUT
        .replace("  USER: admin  \n", "")
        .replace("  CERT: |\n    line one\n    line two\n", "")
        .replace("  HOSTS:\n    - a\n    - b\n", "  TOKEN: t0k3n\n")
        + "note: plain\nextra:\n  deep: v\n";
    assert_eq!(String::from_utf8_lossy(&back), want);
}

/// A mapping that loses its last key is written `key: {}`, as sops writes it (`key:` alone
/// would read as null), and the rest of the file keeps its bytes.
#[test]
fn unset_of_the_last_key_leaves_an_empty_mapping_as_sops_does() {
    let home = tempfile::tempdir().unwrap();
    let plain = "m:\n  a: 1\nz:   0\n";
    let ours = home.path().join("ours.yaml");
    let theirs = home.path().join("theirs.yaml");
    std::fs::write(&ours, plain).unwrap();
    std::fs::write(&theirs, plain).unwrap();
    seal(home.path())
        .args([
            "encrypt",
            "-i",
            "--unencrypted-regex",
            "^z$",
            "--age",
            &recipient("alice"),
        ])
        .arg(&ours)
        .assert()
        .success();
    let o = sops(home.path())
        .args([
            "encrypt",
            "-i",
            "--unencrypted-regex",
            "^z$",
            "--age",
            &recipient("alice"),
        ])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    seal(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("unset")
        .arg(&ours)
        .arg(r#"["m"]["a"]"#)
        .assert()
        .success();
    let o = sops(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("unset")
        .arg(&theirs)
        .arg(r#"["m"]["a"]"#)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&ours).unwrap();
    // seal keeps `z:   0` as written; sops re-spells it.
    assert!(text.starts_with("m: {}\nz:   0\nsops:\n"), "{text}");
    let sops_text = std::fs::read_to_string(&theirs).unwrap();
    assert!(sops_text.starts_with("m: {}\nz: 0\nsops:\n"), "{sops_text}");
    let dec = sops(home.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&ours)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&dec.stdout), "m: {}\nz: 0\n");
}
