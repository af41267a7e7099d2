//! Interop with the real sops 3.11 in both directions: files seal encrypts decrypt with
//! `sops decrypt` to the same data, and files sops encrypts decrypt with seal to the same
//! bytes sops prints. These tests fail (never skip) when sops is missing.

mod common;

use std::fs;
use std::path::Path;

use common::{key_file, recipient, seal, sops};

/// Inputs covering the typing and layout cases that matter for the MAC.
const INPUTS: &[(&str, &str)] = &[
    (
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  labels:\n    tier: \"1\"\ntype: Opaque\nstringData:\n  # head comment\n  PASSWORD: hunter2\n  PORT: \"5432\"\n  CERT: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\ndata:\n  token: aHVudGVyMg==\n",
    ),
    (
        "types.yaml",
        "int: 5432\noctal: 0755\nhex: 0x1F\nfloat: 0.75\nexp: 1e3\nbig: 1.5e20\nbool: true\nyes_str: yes\nnull_v: null\nempty: \"\"\ndate: 2024-01-02\nts: 2024-01-02T03:04:05Z\nquoted: \"true\"\nlist:\n  - a\n  - 1\n  - nested:\n      deep: v\nkeep_unencrypted: plain\n# trailing comment\n",
    ),
    (
        "multi.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: one\nstringData:\n  a: \"1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\ndata:\n  b: plain\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: three\ndata:\n  c: Yw==\n",
    ),
    (
        "app.json",
        "{\n\t\"name\": \"app\",\n\t\"port\": 8080,\n\t\"ratio\": 0.5,\n\t\"on\": false,\n\t\"none\": null,\n\t\"list\": [\n\t\t1,\n\t\t\"two\"\n\t],\n\t\"html\": \"\\u003ca\\u0026b\\u003e\"\n}\n",
    ),
    (
        "app.env",
        "# a comment\nUSER=app\nPASSWORD=p=a=s=s\nEMPTY=\n",
    ),
    (
        "app.ini",
        "[db]\nuser     = app\npassword = s3cr3t\n\n[cache]\nurl = redis://x\n",
    ),
];

/// types.yaml after a round trip: every value is rewritten from its type (go-yaml v3's
/// typing and formatting), comments and layout kept.
const TYPES_CANONICAL: &str = "int: 5432\noctal: 493\nhex: 31\nfloat: 0.75\nexp: 1000\nbig: 1.5e+20\nbool: true\nyes_str: \"yes\"\nnull_v: null\nempty: \"\"\ndate: 2024-01-02T00:00:00Z\nts: 2024-01-02T03:04:05Z\nquoted: \"true\"\nlist:\n  - a\n  - 1\n  - nested:\n      deep: v\nkeep_unencrypted: plain\n# trailing comment\n";

fn sops_decrypt(home: &Path, file: &Path, key: &str) -> Vec<u8> {
    let out = sops(home)
        .env("SOPS_AGE_KEY_FILE", key_file(key))
        .arg("decrypt")
        .arg(file)
        .output()
        .expect("run sops");
    assert!(
        out.status.success(),
        "sops decrypt {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn sops_decrypts_what_seal_encrypts() {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in INPUTS {
        let plain = t.path().join(name);
        fs::write(&plain, text).unwrap();
        let enc = seal(t.path())
            .current_dir(t.path())
            .args(["encrypt", "--age", &recipient("alice")])
            .arg(&plain)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let encf = t.path().join(format!("enc.{name}"));
        fs::write(&encf, &enc).unwrap();
        // sops reads seal's file; its output must equal what sops prints for the plaintext
        // it encrypts itself (sops normalises layout, so compare sops with sops).
        let ours = sops_decrypt(t.path(), &encf, "alice");
        let sops_enc = sops(t.path())
            .current_dir(t.path())
            .args(["encrypt", "--age", &recipient("alice")])
            .arg(&plain)
            .output()
            .unwrap();
        assert!(
            sops_enc.status.success(),
            "{}",
            String::from_utf8_lossy(&sops_enc.stderr)
        );
        let sf = t.path().join(format!("sops.{name}"));
        fs::write(&sf, &sops_enc.stdout).unwrap();
        let theirs = sops_decrypt(t.path(), &sf, "alice");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "sops decrypt of seal's {name} differs from sops's own round trip"
        );
        // And seal gives back the input byte for byte, except that values which came out of
        // ciphertext are written in canonical style (types.yaml: `0755` is the int 493).
        let back = seal(t.path())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .arg("decrypt")
            .arg(&encf)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let expected = if *name == "types.yaml" {
            TYPES_CANONICAL.to_string()
        } else {
            text.to_string()
        };
        assert_eq!(String::from_utf8_lossy(&back), expected, "{name}");
    }
}

#[test]
fn seal_decrypts_what_sops_encrypts() {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in INPUTS {
        let plain = t.path().join(name);
        fs::write(&plain, text).unwrap();
        let out = sops(t.path())
            .current_dir(t.path())
            .args(["encrypt", "--age", &recipient("alice")])
            .arg(&plain)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let encf = t.path().join(format!("sops.{name}"));
        fs::write(&encf, &out.stdout).unwrap();
        let theirs = sops_decrypt(t.path(), &encf, "alice");
        let ours = seal(t.path())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .arg("decrypt")
            .arg(&encf)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        // Same layout source (sops's file) → same bytes as sops prints.
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{name}"
        );
    }
}

#[test]
fn sops_rejects_a_seal_file_that_was_tampered_with() {
    let t = tempfile::tempdir().unwrap();
    let plain = t.path().join("s.yaml");
    fs::write(&plain, INPUTS[0].1).unwrap();
    let enc = seal(t.path())
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(&plain)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let tampered = String::from_utf8(enc)
        .unwrap()
        .replace("name: app", "name: evil");
    let f = t.path().join("t.yaml");
    fs::write(&f, tampered).unwrap();
    let out = sops(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(51),
        "sops must see the MAC mismatch"
    );
}
