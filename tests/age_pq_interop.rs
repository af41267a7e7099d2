//! Post-quantum age keys (`age1pq1…` / `AGE-SECRET-KEY-PQ-1…`) against the real sops, both
//! directions, alone and next to an X25519 recipient: the installed sops links
//! filippo.io/age 1.3, which speaks the `mlkem768x25519` stanza. The identities are made
//! by `seal new-key --pq` (the keys.txt format age-keygen -pq writes), in each test's own
//! HOME. The real sops is required: these tests never skip.

mod common;

use std::path::PathBuf;

use common::{key_file, recipient, sops};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n";

struct Home {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Home {
    fn new() -> Home {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("p.yaml"), PLAIN).unwrap();
        Home { _tmp: tmp, dir }
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = common::seal(&self.dir);
        c.timeout(std::time::Duration::from_secs(60));
        c
    }

    /// `seal new-key --pq -o NAME`: the key file and its public key.
    fn new_pq_key(&self, name: &str) -> (PathBuf, String) {
        let a = self
            .seal()
            .args(["new-key", "--pq", "-o", name])
            .assert()
            .success();
        let public = String::from_utf8(a.get_output().stdout.clone())
            .unwrap()
            .trim()
            .to_string();
        assert!(public.starts_with("age1pq1"), "{public}");
        (self.dir.join(name), public)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }
}

fn ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The age entries' recipients of a sops YAML file.
fn recipients_in(enc: &str) -> Vec<String> {
    enc.lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn new_key_pq_writes_the_age_keygen_format() {
    let h = Home::new();
    let (path, public) = h.new_pq_key("pq.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", lines[..2].join("\n"));
    assert!(lines[0].starts_with("# created: 20"), "{}", lines[0]);
    assert_eq!(lines[1], format!("# public key: {public}"));
    assert!(lines[2].starts_with("AGE-SECRET-KEY-PQ-1"));
    // 1,216 bytes of key in Bech32 (8 bits per 5), the HRP and the checksum.
    assert_eq!(
        public.len(),
        "age1pq1".len() + (1216usize * 8).div_ceil(5) + 6
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // seal reads its own file back to the same public key.
    let a = h
        .seal()
        .args(["key", "public"])
        .arg(&path)
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(a.get_output().stdout.clone())
            .unwrap()
            .trim(),
        public
    );
}

#[test]
fn seal_encrypts_for_a_pq_recipient_sops_decrypts() {
    let h = Home::new();
    let (key, public) = h.new_pq_key("pq.txt");
    let enc = ok(h
        .seal()
        .args(["encrypt", "--age", &public, "p.yaml"])
        .output()
        .unwrap());
    assert_eq!(recipients_in(&enc), std::slice::from_ref(&public));
    assert!(!enc.contains("hunter2"));
    h.write("e.yaml", &enc);
    let out = ok(sops(&h.dir)
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn sops_encrypts_for_a_pq_recipient_seal_decrypts() {
    let h = Home::new();
    let (key, public) = h.new_pq_key("pq.txt");
    let enc = ok(sops(&h.dir)
        .args(["encrypt", "--age", &public, "p.yaml"])
        .output()
        .unwrap());
    assert_eq!(recipients_in(&enc), std::slice::from_ref(&public));
    // sops's age file holds one mlkem768x25519 stanza.
    h.write("e.yaml", &enc);
    let out = ok(h
        .seal()
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    // Without the identity seal names the PQ recipient it needed.
    let (other, _) = h.new_pq_key("other.txt");
    let o = h
        .seal()
        .env("SOPS_AGE_KEY_FILE", &other)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&public[..20]), "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains("AGE-SECRET-KEY"),
        "{err}"
    );
}

/// A file for a PQ and an X25519 recipient (one age file per recipient, as sops writes):
/// each tool opens the other's with either identity alone.
#[test]
fn pq_and_x25519_recipients_mixed_both_directions() {
    let h = Home::new();
    let (pq_key, pq) = h.new_pq_key("pq.txt");
    let alice = recipient("alice");
    let both = format!("{pq},{alice}");

    let by_seal = ok(h
        .seal()
        .args(["encrypt", "--age", &both, "p.yaml"])
        .output()
        .unwrap());
    assert_eq!(recipients_in(&by_seal), [pq.clone(), alice.clone()]);
    h.write("by-seal.yaml", &by_seal);
    let by_sops = ok(sops(&h.dir)
        .args(["encrypt", "--age", &both, "p.yaml"])
        .output()
        .unwrap());
    assert_eq!(recipients_in(&by_sops), [pq.clone(), alice.clone()]);
    h.write("by-sops.yaml", &by_sops);

    for key in [pq_key.clone(), key_file("alice")] {
        let out = ok(sops(&h.dir)
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["decrypt", "by-seal.yaml"])
            .output()
            .unwrap());
        assert_eq!(out, PLAIN, "sops with {}", key.display());
        let out = ok(h
            .seal()
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["decrypt", "by-sops.yaml"])
            .output()
            .unwrap());
        assert_eq!(out, PLAIN, "seal with {}", key.display());
    }

    // One keys file holding both kinds, as SOPS_AGE_KEY: seal rotates the data key and
    // sops still opens the result with the PQ identity.
    let keys = format!(
        "{}{}",
        h.read("pq.txt"),
        std::fs::read_to_string(key_file("alice")).unwrap()
    );
    ok(h.seal()
        .env("SOPS_AGE_KEY", &keys)
        .args(["rotate", "-i", "by-sops.yaml"])
        .output()
        .unwrap());
    assert_ne!(h.read("by-sops.yaml"), by_sops);
    let out = ok(sops(&h.dir)
        .env("SOPS_AGE_KEY_FILE", &pq_key)
        .args(["decrypt", "by-sops.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn pq_recipients_in_sops_yaml_rules_work_for_both_tools() {
    let h = Home::new();
    let (key, pq) = h.new_pq_key("pq.txt");
    h.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: >-\n      {pq}\n"),
    );
    let enc = ok(h.seal().args(["encrypt", "p.yaml"]).output().unwrap());
    assert_eq!(recipients_in(&enc), std::slice::from_ref(&pq));
    h.write("e.yaml", &enc);
    let out = ok(sops(&h.dir)
        .env("SOPS_AGE_KEY_FILE", &key)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    // A damaged PQ recipient in a rule is refused, naming what is wrong.
    let mut bad = pq.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'q' { 'p' } else { 'q' });
    h.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {bad}\n"),
    );
    let o = h.seal().args(["encrypt", "p.yaml"]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("post-quantum age public key"), "{err}");
}

#[test]
fn seal_check_reports_a_committed_pq_identity() {
    let h = Home::new();
    let repo = h.dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    h.seal()
        .args(["new-key", "--pq", "-o", "repo/leaked-keys.txt"])
        .assert()
        .success();
    let o = h
        .seal()
        .current_dir(&repo)
        .args(["check", "."])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("leaked-keys.txt"), "{out}");
    assert!(
        !out.contains("AGE-SECRET-KEY-PQ-1"),
        "the key is printed: {out}"
    );
}
