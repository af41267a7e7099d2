//! `seal rotate` and `seal updatekeys` on several files and whole repositories: recipient
//! changes checked with the real sops, git-aware `--all`, `--dry-run`, all-or-nothing
//! failures, `--keep-going`, and the JSON report.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{key_file, recipient, seal, sops};
use predicates::prelude::*;

const PLAIN_YAML: &str = "user: app\npassword: s3cret\nnested:\n    token: abc\n";
const PLAIN_JSON: &str = "{\n\t\"user\": \"app\",\n\t\"n\": 5\n}\n";

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, text).unwrap();
    p
}

/// Encrypt `rel` (written with `plain`) in place with the real sops for `recipients`.
fn sops_encrypt(dir: &Path, rel: &str, plain: &str, recipients: &[&str]) -> PathBuf {
    let p = write(dir, rel, plain);
    let rs: Vec<String> = recipients.iter().map(|r| recipient(r)).collect();
    let out = sops(dir)
        .current_dir(dir)
        .args(["encrypt", "-i", "--age", &rs.join(",")])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

/// Encrypt with seal following the `.sops.yaml` of `dir`.
fn seal_encrypt(dir: &Path, rel: &str, plain: &str) -> PathBuf {
    let p = write(dir, rel, plain);
    seal(dir)
        .current_dir(dir)
        .args(["encrypt", "-i"])
        .arg(&p)
        .assert()
        .success();
    p
}

/// Real `sops decrypt FILE` with one identity: Some(plaintext) or None on failure.
fn sops_decrypt(dir: &Path, who: &str, file: &Path) -> Option<String> {
    let out = sops(dir)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key_file(who))
        .arg("decrypt")
        .arg(file)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

fn config(dir: &Path, recipients: &[&str]) {
    let rs: Vec<String> = recipients.iter().map(|r| recipient(r)).collect();
    write(
        dir,
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", rs.join(",")),
    );
}

fn snapshot(files: &[&PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|f| fs::read(f).unwrap()).collect()
}

#[test]
fn rotate_adds_and_removes_recipients_on_several_files() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let a = sops_encrypt(d, "a.yaml", PLAIN_YAML, &["alice", "bob"]);
    let b = sops_encrypt(d, "b.json", PLAIN_JSON, &["alice", "bob"]);
    let before = snapshot(&[&a, &b]);
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "-i", "--add-age", &recipient("carol")])
        .args(["--rm-age", &recipient("bob")])
        .args(["a.yaml", "b.json"])
        .assert()
        .success()
        .stderr(predicate::str::contains("2 files: 2 changed"));
    assert_ne!(snapshot(&[&a, &b]), before);
    for (f, plain) in [(&a, PLAIN_YAML), (&b, PLAIN_JSON)] {
        let text = fs::read_to_string(f).unwrap();
        assert!(text.contains(&recipient("carol")), "carol not added");
        assert!(!text.contains(&recipient("bob")), "bob not removed");
        for who in ["alice", "carol"] {
            let got = sops_decrypt(d, who, f);
            assert_eq!(got.as_deref(), Some(plain), "{who} cannot decrypt {f:?}");
        }
        assert_eq!(
            sops_decrypt(d, "bob", f),
            None,
            "bob can still decrypt {f:?}"
        );
    }
}

#[test]
fn rotate_of_several_files_needs_in_place_and_never_empties_a_file() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let a = sops_encrypt(d, "a.yaml", PLAIN_YAML, &["alice"]);
    let b = sops_encrypt(d, "b.yaml", PLAIN_YAML, &["alice"]);
    let before = snapshot(&[&a, &b]);
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "a.yaml", "b.yaml"])
        .assert()
        .code(8)
        .stderr(predicate::str::contains("-i"));
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "-i", "--rm-age", &recipient("alice"), "a.yaml"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no recipient left"));
    assert_eq!(snapshot(&[&a, &b]), before);
}

#[test]
fn updatekeys_all_respects_gitignore_and_rotate_locks_out_removed_keys() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // A real repository: which files it holds is git's answer (an untracked ignored file
    // is skipped; a tracked one would not be, see tests/check_walk.rs).
    let st = std::process::Command::new("git")
        .current_dir(d)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["init", "-q"])
        .status()
        .unwrap();
    assert!(st.success());
    write(d, ".gitignore", "ignored/\n");
    config(d, &["alice", "bob"]);
    let x = seal_encrypt(d, "apps/x.yaml", PLAIN_YAML);
    let y = seal_encrypt(d, "apps/deep/y.json", PLAIN_JSON);
    let z = seal_encrypt(d, "ignored/z.yaml", PLAIN_YAML);
    let z_before = fs::read(&z).unwrap();
    config(d, &["alice", "carol"]);
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "--all", "-y", "--rotate"])
        .assert()
        .success()
        .stderr(predicate::str::contains("2 files: 2 changed"))
        .stderr(predicate::str::contains("ignored").not());
    assert_eq!(
        fs::read(&z).unwrap(),
        z_before,
        "an ignored file was changed"
    );
    for (f, plain) in [(&x, PLAIN_YAML), (&y, PLAIN_JSON)] {
        for who in ["alice", "carol"] {
            assert_eq!(
                sops_decrypt(d, who, f).as_deref(),
                Some(plain),
                "{who}: {f:?}"
            );
        }
        assert_eq!(
            sops_decrypt(d, "bob", f),
            None,
            "bob can still decrypt {f:?}"
        );
    }
}

#[test]
fn updatekeys_without_rotate_keeps_values_and_recommends_rotation() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    config(d, &["alice", "bob"]);
    let x = seal_encrypt(d, "x.yaml", PLAIN_YAML);
    let y = seal_encrypt(d, "y.yaml", PLAIN_YAML);
    let values = |f: &Path| -> Vec<String> {
        fs::read_to_string(f)
            .unwrap()
            .lines()
            .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
            .map(String::from)
            .collect()
    };
    let (vx, vy) = (values(&x), values(&y));
    config(d, &["alice"]);
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "-y", "x.yaml", "y.yaml"])
        .assert()
        .success()
        .stderr(predicate::str::contains("--rotate"))
        .stderr(predicate::str::contains("x.yaml: updated"));
    assert_eq!(values(&x), vx);
    assert_eq!(values(&y), vy);
    for f in [&x, &y] {
        assert_eq!(sops_decrypt(d, "alice", f).as_deref(), Some(PLAIN_YAML));
        assert_eq!(sops_decrypt(d, "bob", f), None);
    }
}

#[test]
fn dry_run_writes_nothing_and_json_reports_each_file() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    fs::create_dir(d.join(".git")).unwrap();
    config(d, &["alice"]);
    let x = seal_encrypt(d, "x.yaml", PLAIN_YAML);
    let y = seal_encrypt(d, "sub/y.env", "A=1\nB=two\n");
    config(d, &["bob"]);
    let z = seal_encrypt(d, "z.yaml", PLAIN_YAML); // already for bob: unchanged
    let before = snapshot(&[&x, &y, &z]);
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "--all", "--dry-run"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "x.yaml: would add {}, would remove {}",
            recipient("bob"),
            recipient("alice")
        )))
        .stderr(predicate::str::contains("z.yaml: already up to date"))
        .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(snapshot(&[&x, &y, &z]), before);
    let out = seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "--all", "--dry-run", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(snapshot(&[&x, &y, &z]), before);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["summary"]["would_change"], 2);
    assert_eq!(v["summary"]["unchanged"], 1);
    assert_eq!(v["summary"]["failed"], 0);
    assert_eq!(v["rotation_recommended"], true);
    let files = v["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["sub/y.env", "x.yaml", "z.yaml"]);
    assert_eq!(files[1]["status"], "would_change");
    assert_eq!(files[1]["added"][0], recipient("bob"));
    assert_eq!(files[1]["removed"][0], recipient("alice"));
    assert_eq!(files[2]["status"], "unchanged");
}

#[test]
fn a_failing_file_in_the_middle_leaves_every_file_unchanged() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    config(d, &["alice"]);
    let a = seal_encrypt(d, "a.yaml", PLAIN_YAML);
    config(d, &["carol"]);
    let b = seal_encrypt(d, "b.yaml", PLAIN_YAML); // alice cannot decrypt this one
    config(d, &["alice"]);
    let c = seal_encrypt(d, "c.yaml", PLAIN_YAML);
    config(d, &["alice", "bob"]);
    let before = snapshot(&[&a, &b, &c]);
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "-y", "a.yaml", "b.yaml", "c.yaml"])
        .assert()
        .code(128)
        .stderr(predicate::str::contains("b.yaml: FAILED"))
        .stderr(predicate::str::contains("no file was written"))
        .stderr(predicate::str::contains("a.yaml: not changed"));
    assert_eq!(snapshot(&[&a, &b, &c]), before);
    // The same with rotate.
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "-i", "a.yaml", "b.yaml", "c.yaml"])
        .assert()
        .code(128);
    assert_eq!(snapshot(&[&a, &b, &c]), before);
    // --keep-going writes the others and still fails.
    let out = seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "-y", "--keep-going", "--format", "json"])
        .args(["a.yaml", "b.yaml", "c.yaml"])
        .assert()
        .code(128)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(v["summary"]["changed"], 2);
    assert_eq!(v["summary"]["failed"], 1);
    assert_eq!(v["files"][1]["status"], "failed");
    assert!(
        v["files"][1]["error"]
            .as_str()
            .unwrap()
            .contains("could not decrypt the data key")
    );
    assert_eq!(fs::read(&b).unwrap(), before[1]);
    for f in [&a, &c] {
        assert_ne!(fs::read(f).unwrap(), before[0]);
        assert_eq!(sops_decrypt(d, "bob", f).as_deref(), Some(PLAIN_YAML));
    }
}

#[cfg(unix)]
#[test]
fn repo_rotation_keeps_each_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    fs::create_dir(d.join(".git")).unwrap();
    let a = sops_encrypt(d, "a.yaml", PLAIN_YAML, &["alice"]);
    let b = sops_encrypt(d, "b.yaml", PLAIN_YAML, &["alice"]);
    fs::set_permissions(&a, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&b, fs::Permissions::from_mode(0o640)).unwrap();
    seal(d)
        .current_dir(d)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "-i", "--all"])
        .assert()
        .success();
    let mode = |f: &Path| fs::metadata(f).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&a), mode(&b)), (0o644, 0o640));
    let names: Vec<_> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".seal-"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

/// A new identity file in `dir` (made by seal): (path, public key).
fn fresh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let p = dir.join(name);
    let out = seal(dir).args(["new-key", "-o"]).arg(&p).output().unwrap();
    assert!(out.status.success());
    (p, String::from_utf8(out.stdout).unwrap().trim().to_string())
}

#[test]
fn rotate_keeps_a_recipient_removed_from_the_rule_as_sops_does_and_warns() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (k1, p1) = fresh_key(dir, "k1.txt");
    let (k2, p2) = fresh_key(dir, "k2.txt");
    write(
        dir,
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {p1},{p2}\n"),
    );
    let file = seal_encrypt(dir, "s.yaml", PLAIN_YAML);
    let copy = dir.join("sops-copy.yaml");
    fs::copy(&file, &copy).unwrap();
    // p2 leaves the rule.
    write(
        dir,
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {p1}\n"),
    );
    let a = seal(dir)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["rotate", "-i", "s.yaml"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("warning") && err.contains(&p2) && err.contains("updatekeys -y --rotate"),
        "{err}"
    );
    // Both rotations keep p2: it still decrypts.
    let o = sops(dir)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["rotate", "-i"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    for f in [&file, &copy] {
        let o = sops(dir)
            .env("SOPS_AGE_KEY_FILE", &k2)
            .arg("decrypt")
            .arg(f)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: the removed key still opens it",
            f.display()
        );
    }
    // updatekeys --rotate applies the rule; then rotate has nothing to warn about.
    seal(dir)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["updatekeys", "-y", "--rotate", "s.yaml"])
        .assert()
        .success();
    let a = seal(dir)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["rotate", "-i", "s.yaml"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(!err.contains("warning"), "{err}");
    let o = sops(dir)
        .env("SOPS_AGE_KEY_FILE", &k2)
        .arg("decrypt")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!o.status.success(), "the removed key is locked out");
}

#[test]
fn updatekeys_all_skips_files_no_rule_covers_and_dry_run_needs_no_key() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    fs::create_dir(dir.join(".git")).unwrap();
    let (k1, p1) = fresh_key(dir, "k1.txt");
    let (_k2, p2) = fresh_key(dir, "k2.txt");
    // Encrypted by hand for p1 before any .sops.yaml existed.
    let own = write(dir, "other/b.yaml", PLAIN_YAML);
    seal(dir)
        .args(["encrypt", "-i", "--age", &p1])
        .arg(&own)
        .assert()
        .success();
    write(
        dir,
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^apps/\n    age: {p1}\n"),
    );
    let covered = seal_encrypt(dir, "apps/a.yaml", PLAIN_YAML);
    let own_before = fs::read(&own).unwrap();
    write(
        dir,
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: ^apps/\n    age: {p1},{p2}\n"),
    );
    let before = fs::read(&covered).unwrap();
    // --dry-run without any key: the change is reported from the metadata.
    let a = seal(dir)
        .args(["updatekeys", "-y", "--all", "--dry-run"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("apps/a.yaml") && err.contains(&p2), "{err}");
    assert!(
        err.contains("other/b.yaml") && err.contains("skipped"),
        "{err}"
    );
    assert_eq!(fs::read(&covered).unwrap(), before);
    // The real run updates the covered file and leaves the other alone.
    let a = seal(dir)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["updatekeys", "-y", "--all"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("skipped"), "{err}");
    assert!(fs::read_to_string(&covered).unwrap().contains(&p2));
    assert_eq!(fs::read(&own).unwrap(), own_before);
    // A named file no rule covers is still an error.
    seal(dir)
        .env("SOPS_AGE_KEY_FILE", &k1)
        .args(["updatekeys", "-y", "other/b.yaml"])
        .assert()
        .failure();
}
