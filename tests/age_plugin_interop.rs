//! age plugins (`age1<name>1…` recipients, `AGE-PLUGIN-<NAME>-1…` identities), both
//! directions with the real sops, which runs the same plugin binary from PATH. The plugin
//! is examples/age-plugin-sealtest.rs (the `age-plugin` crate), which `cargo test` builds
//! into target/debug/examples; each test links it onto its own PATH as
//! `age-plugin-sealtest`. The tests never skip: without the binary they fail and say how
//! to build it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sops;

/// The test plugin's key (16 bytes, hex): a toy key that protects nothing.
const KEY: &str = "00112233445566778899aabbccddeeff";
const OTHER_KEY: &str = "ffeeddccbbaa99887766554433221100";
const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n";

/// The test plugin binary that `cargo test` builds as an example.
fn plugin_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/age_plugin_interop-… -> target/debug/examples/age-plugin-sealtest
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    let p = debug.join("examples").join("age-plugin-sealtest");
    assert!(
        p.exists(),
        "the test age plugin {} is missing: `cargo test` builds it (or run \
         `cargo build --example age-plugin-sealtest`)",
        p.display()
    );
    p
}

struct Plugin {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    bin: PathBuf,
}

impl Plugin {
    fn new() -> Plugin {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(plugin_binary(), bin.join("age-plugin-sealtest")).unwrap();
        Plugin {
            _tmp: tmp,
            home,
            bin,
        }
    }

    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// (identity line, recipient) of a test-plugin key.
    fn keypair(&self, hex: &str) -> (String, String) {
        let o = Command::new(self.bin.join("age-plugin-sealtest"))
            .args(["--generate", hex])
            .output()
            .unwrap();
        let text = ok(o);
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# recipient: "))
            .expect("recipient line")
            .to_string();
        let identity = text
            .lines()
            .find(|l| l.starts_with("AGE-PLUGIN-SEALTEST-1"))
            .expect("identity line")
            .to_string();
        (identity, recipient)
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = common::seal(&self.home);
        c.env("PATH", self.path())
            .timeout(std::time::Duration::from_secs(60));
        c
    }

    fn sops(&self) -> Command {
        let mut c = sops(&self.home);
        c.env("PATH", self.path());
        c
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.join(name);
        std::fs::write(&p, text).unwrap();
        p
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

#[test]
fn sops_encrypts_for_a_plugin_recipient_seal_decrypts_with_the_identity_file() {
    let p = Plugin::new();
    let (identity, recipient) = p.keypair(KEY);
    assert!(recipient.starts_with("age1sealtest1"), "{recipient}");
    p.write("p.yaml", PLAIN);
    let enc = ok(p
        .sops()
        .args(["encrypt", "--age", &recipient, "p.yaml"])
        .output()
        .unwrap());
    assert!(enc.contains(&recipient), "{enc}");
    p.write("e.yaml", &enc);
    let keys = p.write("keys.txt", &format!("# test plugin\n{identity}\n"));
    let o = p
        .seal()
        .env("SOPS_AGE_KEY_FILE", &keys)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(ok(o), PLAIN);
    // The plugin's message reaches the terminal (stderr).
    assert!(
        err.contains("sealtest: unwrapping with key 00112233"),
        "{err}"
    );
}

#[test]
fn seal_encrypts_for_a_plugin_recipient_sops_decrypts() {
    let p = Plugin::new();
    let (identity, recipient) = p.keypair(KEY);
    p.write("p.yaml", PLAIN);
    let enc = ok(p
        .seal()
        .args(["encrypt", "--age", &recipient, "p.yaml"])
        .output()
        .unwrap());
    assert!(enc.contains(&recipient), "{enc}");
    p.write("e.yaml", &enc);
    let out = ok(p
        .sops()
        .env("SOPS_AGE_KEY", &identity)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    // And seal reads its own file back with the identity from SOPS_AGE_KEY_CMD.
    let keys = p.write("keys.txt", &format!("{identity}\n"));
    let out = ok(p
        .seal()
        .env("SOPS_AGE_KEY_CMD", format!("cat {}", keys.display()))
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn plugin_and_x25519_recipients_mixed_in_shamir_groups() {
    let p = Plugin::new();
    let (identity, recipient) = p.keypair(KEY);
    let alice = common::recipient("alice");
    p.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age:\n          - {recipient}\n      - age:\n          - {alice}\n"
        ),
    );
    p.write("p.yaml", PLAIN);
    let enc = ok(p.seal().args(["encrypt", "p.yaml"]).output().unwrap());
    p.write("e.yaml", &enc);
    let alice_key = std::fs::read_to_string(common::key_file("alice")).unwrap();
    let both = format!("{alice_key}\n{identity}\n");
    let out = ok(p
        .sops()
        .env("SOPS_AGE_KEY", &both)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
    let out = ok(p
        .seal()
        .env("SOPS_AGE_KEY", &both)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap());
    assert_eq!(out, PLAIN);
}

#[test]
fn a_plugin_identity_for_another_key_does_not_open_the_file() {
    let p = Plugin::new();
    let (_, recipient) = p.keypair(KEY);
    let (other_identity, _) = p.keypair(OTHER_KEY);
    p.write("p.yaml", PLAIN);
    let enc = ok(p
        .seal()
        .args(["encrypt", "--age", &recipient, "p.yaml"])
        .output()
        .unwrap());
    p.write("e.yaml", &enc);
    let o = p
        .seal()
        .env("SOPS_AGE_KEY", &other_identity)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&recipient), "{err}");
    assert!(err.contains("1 age plugin identity (sealtest)"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_missing_plugin_binary_is_named_with_what_to_do() {
    let p = Plugin::new();
    let (identity, recipient) = p.keypair(KEY);
    p.write("p.yaml", PLAIN);
    // Encrypting: the plugin is not on PATH.
    let o = p
        .seal()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["encrypt", "--age", &recipient, "p.yaml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("age-plugin-sealtest"), "{err}");
    assert!(err.contains("PATH"), "{err}");
    // Decrypting: the identity is found, its plugin is not.
    let enc = ok(p
        .seal()
        .args(["encrypt", "--age", &recipient, "p.yaml"])
        .output()
        .unwrap());
    p.write("e.yaml", &enc);
    let o = p
        .seal()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOPS_AGE_KEY", &identity)
        .args(["decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("age-plugin-sealtest is not on PATH"), "{err}");
}
