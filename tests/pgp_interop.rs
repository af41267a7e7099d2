//! PGP master keys through gpg, both directions with the real sops: sops encrypts for a
//! fingerprint and seal decrypts, seal encrypts and sops decrypts, alone and mixed with age
//! in key groups with a Shamir threshold. Each test has its own GNUPGHOME (0700) holding the
//! sops functional suite's test key (tests/keys/sops_functional_tests_key.asc, MPL-2.0 test
//! material from getsops/sops, protects nothing). gpg is required: these tests never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{key_file, recipient, sops};

/// The test key's primary fingerprint.
const FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

struct Gpg {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    gnupg: PathBuf,
}

impl Gpg {
    fn new() -> Gpg {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let gnupg = tmp.path().join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        let key =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/sops_functional_tests_key.asc");
        let o = Command::new("gpg")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--import"])
            .arg(&key)
            .output()
            .expect("gpg is required for the PGP interop tests: install gnupg (scripts/install-peers.sh)");
        assert!(
            o.status.success(),
            "gpg --import: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Gpg {
            _tmp: tmp,
            home,
            gnupg,
        }
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = common::seal(&self.home);
        c.env("GNUPGHOME", &self.gnupg)
            .timeout(std::time::Duration::from_secs(60));
        c
    }

    fn sops(&self) -> Command {
        let mut c = sops(&self.home);
        c.env("GNUPGHOME", &self.gnupg);
        c
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.home.join(name), text).unwrap();
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

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n";

#[test]
fn sops_encrypts_for_pgp_seal_decrypts() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .sops()
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    assert!(
        enc.contains("fp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
        "{enc}"
    );
    g.write("e.yaml", &enc);
    let out = ok(g.seal().args(["decrypt", "e.yaml"]).output().unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn pgp_decrypt_without_the_secret_key_names_the_fingerprint() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .sops()
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    g.write("e.yaml", &enc);
    let empty = g.home.join("empty-gnupg");
    std::fs::create_dir_all(&empty).unwrap();
    let o = g
        .seal()
        .env("GNUPGHOME", &empty)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(FP), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn sops_mixed_age_and_pgp_shamir_seal_decrypts() {
    let g = Gpg::new();
    g.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - pgp:\n          - {FP}\n      - age:\n          - {}\n      - age:\n          - {}\n",
            recipient("alice"),
            recipient("bob")
        ),
    );
    g.write("p.yaml", PLAIN);
    let enc = ok(g.sops().args(["encrypt", "p.yaml"]).output().unwrap());
    g.write("e.yaml", &enc);
    // The PGP share (gpg) plus alice's age share.
    let out = ok(g
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    // alice alone is one share of the two needed.
    let empty = g.home.join("empty-gnupg");
    std::fs::create_dir_all(&empty).unwrap();
    let o = g
        .seal()
        .env("GNUPGHOME", &empty)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(128),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn seal_encrypts_for_pgp_sops_decrypts() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    // Spaces in the fingerprint are removed, as sops does.
    let spaced = "FBC7 B9E2 A4F9 289A C0C1 D484 3D16 CEE4 A273 81B4";
    let enc = ok(g
        .seal()
        .args(["encrypt", "--sops-defaults", "--pgp", spaced, "p.yaml"])
        .output()
        .unwrap());
    // The entry as sops writes it: created_at, enc (armor without its final newline), fp.
    assert!(
        enc.contains("    pgp:\n        - created_at: \"")
            && enc.contains("          enc: |-\n            -----BEGIN PGP MESSAGE-----\n")
            && enc.contains("            -----END PGP MESSAGE-----\n          fp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n"),
        "{enc}"
    );
    assert!(!enc.contains("hunter2"));
    g.write("e.yaml", &enc);
    let out = ok(g.sops().args(["decrypt", "e.yaml"]).output().unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn seal_as_sops_takes_sops_pgp_fp() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .seal()
        .env("SOPS_PGP_FP", FP)
        .args(["sops", "encrypt", "p.yaml"])
        .output()
        .unwrap());
    assert!(enc.contains(&format!("fp: {FP}")), "{enc}");
    g.write("e.yaml", &enc);
    let out = ok(g.sops().args(["decrypt", "e.yaml"]).output().unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn seal_mixed_age_and_pgp_shamir_sops_decrypts() {
    let g = Gpg::new();
    g.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - pgp:\n          - {FP}\n        age:\n          - {}\n      - age:\n          - {}\n      - age:\n          - {}\n",
            recipient("carol"),
            recipient("alice"),
            recipient("bob")
        ),
    );
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .seal()
        .args(["encrypt", "--sops-defaults", "p.yaml"])
        .output()
        .unwrap());
    assert!(enc.contains("shamir_threshold: 2"), "{enc}");
    g.write("e.yaml", &enc);
    // sops: the PGP key opens group 1, alice group 2.
    let out = ok(g
        .sops()
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    // And seal reads its own file the same way.
    let out = ok(g
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn seal_rotates_a_sops_pgp_file_for_its_pgp_key() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .sops()
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    g.write("e.yaml", &enc);
    ok(g.seal().args(["rotate", "-i", "e.yaml"]).output().unwrap());
    let rotated = std::fs::read_to_string(g.home.join("e.yaml")).unwrap();
    assert_ne!(rotated, enc);
    assert!(rotated.contains(&format!("fp: {FP}")), "{rotated}");
    let out = ok(g.sops().args(["decrypt", "e.yaml"]).output().unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn seal_updatekeys_adds_age_to_a_sops_pgp_file() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .sops()
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    g.write("e.yaml", &enc);
    g.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - pgp: {FP}\n    age: {}\n",
            recipient("alice")
        ),
    );
    ok(g.seal()
        .args(["updatekeys", "-y", "e.yaml"])
        .output()
        .unwrap());
    let updated = std::fs::read_to_string(g.home.join("e.yaml")).unwrap();
    assert!(updated.contains(&format!("fp: {FP}")), "{updated}");
    // Now alice alone (no gpg key) opens it with sops.
    let empty = g.home.join("empty-gnupg");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ok(g
        .sops()
        .env("GNUPGHOME", &empty)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn sops_gpg_exec_names_the_gpg_binary() {
    use std::os::unix::fs::PermissionsExt;
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .sops()
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    g.write("e.yaml", &enc);
    let log = g.home.join("gpg.log");
    let wrapper = g.home.join("my-gpg");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec gpg \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = ok(g
        .seal()
        .env("SOPS_GPG_EXEC", &wrapper)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    let calls = std::fs::read_to_string(&log).expect("the wrapper ran");
    // As sops: the GnuPG home passed as --homedir, the agent asked to decrypt.
    assert!(
        calls.contains(&format!(
            "--no-default-keyring --homedir {} --use-agent -d",
            g.gnupg.display()
        )),
        "{calls}"
    );
}
