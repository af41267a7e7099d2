//! PGP master keys through gpg, both directions with the real sops: sops encrypts for a
//! fingerprint and seal decrypts, seal encrypts and sops decrypts, alone and mixed with age
//! in key groups with a Shamir threshold. Each test has its own GNUPGHOME (0700) holding the
//! sops functional suite's test key (tests/keys/sops_functional_tests_key.asc, MPL-2.0 test
//! material from getsops/sops, protects nothing). gpg is required: these tests never skip.
//!
//! sops's order of attempts is tested too: its built-in OpenPGP reads the legacy GnuPG 1
//! keyrings (`pubring.gpg` / `secring.gpg`, made here by the real `gpg1`, Debian
//! `gnupg1`) before it runs gpg, so with only those files and no gpg on PATH both tools
//! still decrypt and encrypt; and the gpg command lines are compared with sops's own.

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

    /// A GnuPG 1 home (legacy `pubring.gpg` and `secring.gpg`) made by the real `gpg1`;
    /// with `public_only` its secret keyring is removed.
    #[cfg_attr(not(feature = "pgp-native"), allow(dead_code))]
    fn legacy(public_only: bool) -> Gpg {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let gnupg = tmp.path().join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        let key =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/sops_functional_tests_key.asc");
        let o = Command::new("gpg1")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--import"])
            .arg(&key)
            .output()
            .expect("gpg1 makes the legacy keyrings: install gnupg1 (scripts/install-peers.sh)");
        assert!(
            o.status.success(),
            "gpg1 --import: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(gnupg.join("pubring.gpg").is_file() && gnupg.join("secring.gpg").is_file());
        if public_only {
            std::fs::remove_file(gnupg.join("secring.gpg")).unwrap();
        }
        Gpg {
            _tmp: tmp,
            home,
            gnupg,
        }
    }

    /// A PATH directory with no gpg in it.
    #[cfg_attr(not(feature = "pgp-native"), allow(dead_code))]
    fn no_gpg_path(&self) -> PathBuf {
        let d = self.home.join("empty-bin");
        std::fs::create_dir_all(&d).unwrap();
        d
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
fn sops_gpg_exec_runs_gpg_with_sops_arguments() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let (sops_log, seal_log) = (g.home.join("sops.log"), g.home.join("seal.log"));
    let sops_gpg = logging_gpg(&g, &sops_log, "sops-gpg");
    let seal_gpg = logging_gpg(&g, &seal_log, "seal-gpg");
    // The same encryption and decryption by each tool through its own logging wrapper.
    let pinned = "71D962851765394F76DB9CFC25294A17CD90507F!";
    for (tool, log, wrapper) in [
        ("sops", &sops_log, &sops_gpg),
        ("seal", &seal_log, &seal_gpg),
    ] {
        let run = |args: &[&str]| -> String {
            if tool == "sops" {
                ok(g.sops()
                    .env("SOPS_GPG_EXEC", wrapper)
                    .args(args)
                    .output()
                    .unwrap())
            } else {
                ok(g.seal()
                    .env("SOPS_GPG_EXEC", wrapper)
                    .args(args)
                    .output()
                    .unwrap())
            }
        };
        let enc = run(&["encrypt", "--pgp", &format!("{FP},{pinned}"), "p.yaml"]);
        g.write(&format!("{tool}.yaml"), &enc);
        let dec = run(&["decrypt", &format!("{tool}.yaml")]);
        assert_eq!(dec, PLAIN);
        assert!(log.is_file(), "{tool} ran no gpg");
    }
    let sops_calls = std::fs::read_to_string(&sops_log).unwrap();
    let seal_calls = std::fs::read_to_string(&seal_log).unwrap();
    assert_eq!(seal_calls, sops_calls);
    // A name (not a path) in SOPS_GPG_EXEC is looked up on PATH, as sops does.
    let bin = g.home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::rename(&seal_gpg, bin.join("named-gpg")).unwrap();
    std::fs::remove_file(&seal_log).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = ok(g
        .seal()
        .env("PATH", &path)
        .env("SOPS_GPG_EXEC", "named-gpg")
        .args(["decrypt", "seal.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    assert!(seal_log.is_file(), "SOPS_GPG_EXEC=named-gpg was not run");
}

#[test]
fn a_pinned_subkey_both_ways() {
    // `FP!` pins the encryption subkey: kept in the entry and passed to gpg by both tools.
    let pinned = "71D962851765394F76DB9CFC25294A17CD90507F!";
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .sops()
        .args(["encrypt", "--pgp", pinned, "p.yaml"])
        .output()
        .unwrap());
    assert!(enc.contains(&format!("fp: {pinned}")), "{enc}");
    g.write("e.yaml", &enc);
    assert_eq!(
        ok(g.seal().args(["decrypt", "e.yaml"]).output().unwrap()),
        PLAIN
    );
    let enc = ok(g
        .seal()
        .args(["encrypt", "--sops-defaults", "--pgp", pinned, "p.yaml"])
        .output()
        .unwrap());
    assert!(enc.contains(&format!("fp: {pinned}")), "{enc}");
    g.write("s.yaml", &enc);
    assert_eq!(
        ok(g.sops().args(["decrypt", "s.yaml"]).output().unwrap()),
        PLAIN
    );
}

#[test]
fn one_group_of_pgp_and_age_opens_with_either_in_both_tools() {
    let g = Gpg::new();
    g.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - key_groups:\n      - pgp:\n          - {FP}\n        age:\n          - {}\n",
            recipient("alice")
        ),
    );
    g.write("p.yaml", PLAIN);
    let by_seal = ok(g
        .seal()
        .args(["encrypt", "--sops-defaults", "p.yaml"])
        .output()
        .unwrap());
    let by_sops = ok(g.sops().args(["encrypt", "p.yaml"]).output().unwrap());
    g.write("seal.yaml", &by_seal);
    g.write("sops.yaml", &by_sops);
    let empty = g.home.join("empty-gnupg");
    std::fs::create_dir_all(&empty).unwrap();
    for file in ["seal.yaml", "sops.yaml"] {
        // The PGP key alone (no age identity), in each tool.
        assert_eq!(
            ok(g.sops().args(["decrypt", file]).output().unwrap()),
            PLAIN
        );
        assert_eq!(
            ok(g.seal().args(["decrypt", file]).output().unwrap()),
            PLAIN
        );
        // alice's age key alone (an empty GnuPG home).
        let out = ok(g
            .sops()
            .env("GNUPGHOME", &empty)
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(["decrypt", file])
            .output()
            .unwrap());
        assert_eq!(out, PLAIN);
        let out = ok(g
            .seal()
            .env("GNUPGHOME", &empty)
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(["decrypt", file])
            .output()
            .unwrap());
        assert_eq!(out, PLAIN);
    }
}

#[test]
#[cfg(feature = "pgp-native")]
fn legacy_secring_decrypts_without_gpg_as_sops_does() {
    let g = Gpg::legacy(false);
    let path = g.no_gpg_path();
    g.write("p.yaml", PLAIN);
    // sops itself encrypts and decrypts with the legacy keyrings alone.
    let enc = ok(g
        .sops()
        .env("PATH", &path)
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    g.write("e.yaml", &enc);
    let out = ok(g
        .sops()
        .env("PATH", &path)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    let out = ok(g
        .seal()
        .env("PATH", &path)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
#[cfg(feature = "pgp-native")]
fn legacy_secring_decrypts_a_gpg2_made_entry() {
    // gpg 2 encrypts (its own keybox home); seal opens the entry with the legacy secring.
    let modern = Gpg::new();
    modern.write("p.yaml", PLAIN);
    let enc = ok(modern
        .sops()
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    let g = Gpg::legacy(false);
    g.write("e.yaml", &enc);
    let out = ok(g
        .seal()
        .env("PATH", g.no_gpg_path())
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
#[cfg(feature = "pgp-native")]
fn legacy_pubring_encrypts_without_gpg_and_sops_decrypts() {
    let g = Gpg::legacy(true);
    g.write("p.yaml", PLAIN);
    let enc = ok(g
        .seal()
        .env("PATH", g.no_gpg_path())
        .args(["encrypt", "--sops-defaults", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap());
    assert!(
        enc.contains("          enc: |-\n            -----BEGIN PGP MESSAGE-----\n")
            && enc.contains(&format!("-----END PGP MESSAGE-----\n          fp: {FP}\n")),
        "{enc}"
    );
    g.write("e.yaml", &enc);
    // The public keyring alone cannot decrypt: sops says so too.
    let o = g
        .sops()
        .env("PATH", g.no_gpg_path())
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128));
    let o = g
        .seal()
        .env("PATH", g.no_gpg_path())
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128));
    let err = String::from_utf8_lossy(&o.stderr);
    // Both attempts are reported, as sops reports both.
    assert!(
        err.contains("built-in OpenPGP") && err.contains("gpg"),
        "{err}"
    );
    // sops and gpg 2, with the secret key, open what seal made from the legacy pubring.
    let modern = Gpg::new();
    modern.write("e.yaml", &enc);
    let out = ok(modern.sops().args(["decrypt", "e.yaml"]).output().unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
#[cfg(feature = "pgp-native")]
fn without_legacy_keyrings_or_gpg_both_attempts_are_named() {
    let g = Gpg::new();
    g.write("p.yaml", PLAIN);
    let o = g
        .seal()
        .env("PATH", g.no_gpg_path())
        .args(["encrypt", "--pgp", FP, "p.yaml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(FP) && err.contains("pubring.gpg") && err.contains("\"gpg\""),
        "{err}"
    );
}

/// A gpg wrapper that logs its arguments (one call a line) and runs the real gpg.
fn logging_gpg(g: &Gpg, log: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let gpg = Command::new("sh")
        .args(["-c", "command -v gpg"])
        .output()
        .unwrap();
    let gpg = String::from_utf8(gpg.stdout).unwrap().trim().to_string();
    let wrapper = g.home.join(name);
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{gpg}' \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}
