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

/// An encrypted file with every ciphertext and the `sops:` block taken out: what two
/// encryptions of one plaintext have in common.
fn structure(enc: &[u8]) -> String {
    let text = String::from_utf8_lossy(enc);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "sops:" || line.starts_with("\t\"sops\": {") {
            break;
        }
        let mut rest = line;
        while let Some(i) = rest.find("ENC[") {
            out.push_str(&rest[..i]);
            out.push_str("ENC[]");
            rest = rest[i..].find(']').map_or("", |j| &rest[i + j + 1..]);
        }
        out.push_str(rest);
    }
    out
}

fn sops_encrypt(home: &Path, args: &[&str], file: &Path) -> Vec<u8> {
    let out = sops(home)
        .args(["encrypt", "--age", &recipient("alice")])
        .args(args)
        .arg(file)
        .output()
        .expect("run sops");
    assert!(
        out.status.success(),
        "sops encrypt {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn seal_encrypt(home: &Path, args: &[&str], file: &Path) -> Vec<u8> {
    seal(home)
        .args(["encrypt", "--age", &recipient("alice")])
        .args(args)
        .arg(file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

fn seal_decrypt(home: &Path, args: &[&str], file: &Path) -> Vec<u8> {
    seal(home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .args(args)
        .arg(file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

/// Files whose encrypted form seal writes exactly as sops does (apart from ciphertexts and
/// the metadata), and whose decryptions agree in both directions: values longer than
/// 1,024 characters (plain, as go-yaml v3 writes them, not double-quoted) and merge keys
/// that the reader expanded (`!!merge <<:`, not `"<<":`).
#[test]
fn long_values_and_merge_keys_are_written_as_sops_writes_them() {
    let t = tempfile::tempdir().unwrap();
    let long = "a".repeat(1500);
    let words = "word ".repeat(300);
    let cases = [
        (
            "long.yaml",
            format!("short: abc\nlong: {long}\nwords: {words}end\nlist:\n    - {long}\n"),
        ),
        (
            "merge.yaml",
            "base: &base\n  a: 1\n  b: two\nchild:\n  <<: *base\n  c: 3\nother:\n  <<: [*base]\n  d: 4\n"
                .to_string(),
        ),
    ];
    for (name, text) in &cases {
        let plain = t.path().join(name);
        fs::write(&plain, text).unwrap();
        let ours = seal_encrypt(t.path(), &[], &plain);
        let theirs = sops_encrypt(t.path(), &[], &plain);
        assert_eq!(structure(&ours), structure(&theirs), "{name}");
        let of = t.path().join(format!("seal.{name}"));
        let sf = t.path().join(format!("sops.{name}"));
        fs::write(&of, &ours).unwrap();
        fs::write(&sf, &theirs).unwrap();
        let want = sops_decrypt(t.path(), &sf, "alice");
        assert_eq!(
            String::from_utf8_lossy(&sops_decrypt(t.path(), &of, "alice")),
            String::from_utf8_lossy(&want),
            "sops decrypt of seal's {name}"
        );
        assert_eq!(
            String::from_utf8_lossy(&seal_decrypt(t.path(), &[], &sf)),
            String::from_utf8_lossy(&want),
            "seal decrypt of sops's {name}"
        );
    }
    // set and edit keep the merge keys as sops writes them, and sops reads the result.
    let of = t.path().join("seal.merge.yaml");
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("set")
        .arg(&of)
        .args([r#"["child"]["e"]"#, "5"])
        .assert()
        .success();
    let editor = t.path().join("editor.sh");
    fs::write(&editor, "#!/bin/sh\nprintf 'added: 1\\n' >> \"$1\"\n").unwrap();
    fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .env("EDITOR", &editor)
        .env("TMPDIR", t.path())
        .arg("edit")
        .arg(&of)
        .assert()
        .success();
    let text = fs::read_to_string(&of).unwrap();
    assert_eq!(text.matches("!!merge <<:").count(), 2, "{text}");
    let dec = String::from_utf8(sops_decrypt(t.path(), &of, "alice")).unwrap();
    assert_eq!(dec.matches("!!merge <<:").count(), 2, "{dec}");
    assert!(
        dec.contains("    e: 5\n") && dec.ends_with("added: 1\n"),
        "{dec}"
    );
    // Decrypting seal's own file of long values gives back the input bytes.
    let back = seal_decrypt(t.path(), &[], &t.path().join("seal.long.yaml"));
    assert_eq!(String::from_utf8_lossy(&back), cases[0].1);
}

/// `encrypt --input-type binary x.yaml`: the envelope follows the file's name (YAML here),
/// as sops does, unless `--output-type` says otherwise; decrypting it prints the envelope's
/// `data` as YAML, and `--output-type binary` gives back the bytes, in both tools.
#[test]
fn binary_input_with_a_yaml_name_gets_a_yaml_envelope_as_in_sops() {
    let t = tempfile::tempdir().unwrap();
    let plain = t.path().join("x.yaml");
    let bytes = b"hello\0world\n\xff not yaml: [\n";
    fs::write(&plain, bytes).unwrap();
    let ours = seal_encrypt(t.path(), &["--input-type", "binary"], &plain);
    let theirs = sops_encrypt(t.path(), &["--input-type", "binary"], &plain);
    assert!(
        ours.starts_with(b"data: ENC["),
        "{}",
        String::from_utf8_lossy(&ours)
    );
    assert_eq!(structure(&ours), structure(&theirs));
    // The metadata has the same keys (the envelope records no selector).
    let keys = |enc: &[u8]| -> Vec<String> {
        let text = String::from_utf8_lossy(enc);
        text.lines()
            .filter(|l| l.starts_with("    ") && !l.starts_with("     ") && l.contains(':'))
            .map(|l| l.split(':').next().unwrap_or_default().trim().to_string())
            .collect()
    };
    assert_eq!(keys(&ours), keys(&theirs));
    let of = t.path().join("seal.yaml");
    let sf = t.path().join("sops.yaml");
    fs::write(&of, &ours).unwrap();
    fs::write(&sf, &theirs).unwrap();
    for f in [&of, &sf] {
        let out = sops(t.path())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(["decrypt", "--output-type", "binary"])
            .arg(f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, bytes, "sops decrypt {}", f.display());
        assert_eq!(
            seal_decrypt(t.path(), &["--output-type", "binary"], f),
            bytes,
            "seal decrypt {}",
            f.display()
        );
        assert_eq!(
            String::from_utf8_lossy(&seal_decrypt(t.path(), &[], f)),
            String::from_utf8_lossy(&sops_decrypt(t.path(), f, "alice")),
            "decrypt without --output-type prints the envelope, {}",
            f.display()
        );
    }
    // --output-type json still gives the JSON envelope.
    let json = seal_encrypt(
        t.path(),
        &["--input-type", "binary", "--output-type", "json"],
        &plain,
    );
    assert!(json.starts_with(b"{\n\t\"data\": \"ENC["));
    // And a JSON file named .yaml, decrypted with --input-type json, prints YAML (sops).
    let j = t.path().join("j.json");
    fs::write(&j, "{\"a\": \"b\"}\n").unwrap();
    let jenc = t.path().join("j.yaml");
    fs::write(&jenc, seal_encrypt(t.path(), &[], &j)).unwrap();
    let want = sops(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--input-type", "json"])
        .arg(&jenc)
        .output()
        .unwrap();
    assert!(want.status.success());
    assert_eq!(
        String::from_utf8_lossy(&seal_decrypt(t.path(), &["--input-type", "json"], &jenc)),
        String::from_utf8_lossy(&want.stdout)
    );
}

/// A UTF-8 byte-order mark is kept and the layout with it; a CRLF file gets its `sops:`
/// block (and what `set` adds) in CRLF. sops drops both (it writes canonical LF text
/// without a mark) but reads seal's files: its decryption equals that of its own.
#[test]
fn byte_order_marks_and_crlf_are_kept_and_sops_reads_the_result() {
    let t = tempfile::tempdir().unwrap();
    let body = "# settings\na: 1\nb:\n  c: x # inline\n  d: |\n    two\n    lines\n";
    let cases = [
        ("bom.yaml", format!("\u{feff}{body}")),
        ("crlf.yaml", body.replace('\n', "\r\n")),
        (
            "both.yaml",
            format!("\u{feff}{}", body.replace('\n', "\r\n")),
        ),
    ];
    for (name, text) in &cases {
        let plain = t.path().join(name);
        fs::write(&plain, text).unwrap();
        let enc = seal_encrypt(t.path(), &[], &plain);
        let enc_text = String::from_utf8(enc.clone()).unwrap();
        assert_eq!(
            enc_text.starts_with('\u{feff}'),
            text.starts_with('\u{feff}'),
            "{name}: {enc_text:?}"
        );
        if text.contains('\r') {
            assert!(
                enc_text.split_inclusive('\n').all(|l| l.ends_with("\r\n")),
                "{name}: every line in CRLF: {enc_text:?}"
            );
        } else {
            assert!(!enc_text.contains('\r'), "{name}");
        }
        // The layout is kept: two-space indentation, the inline comment in place.
        assert!(enc_text.contains("  c: ENC["), "{name}: {enc_text:?}");
        let ef = t.path().join(format!("enc.{name}"));
        fs::write(&ef, &enc).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&seal_decrypt(t.path(), &[], &ef)),
            *text,
            "{name}: decrypt gives back the bytes"
        );
        let sops_own = t.path().join(format!("sops.{name}"));
        fs::write(&sops_own, sops_encrypt(t.path(), &[], &plain)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&sops_decrypt(t.path(), &ef, "alice")),
            String::from_utf8_lossy(&sops_decrypt(t.path(), &sops_own, "alice")),
            "{name}"
        );
        // set adds a line in the file's line breaks.
        seal(t.path())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .arg("set")
            .arg(&ef)
            .args([r#"["b"]["e"]"#, r#""new""#])
            .assert()
            .success();
        let after = String::from_utf8(fs::read(&ef).unwrap()).unwrap();
        let eol = if text.contains('\r') { "\r\n" } else { "\n" };
        assert!(
            after.contains(&format!("{eol}  e: ENC[")),
            "{name}: {after:?}"
        );
        assert_eq!(after.starts_with('\u{feff}'), text.starts_with('\u{feff}'));
        let back = String::from_utf8(seal_decrypt(t.path(), &[], &ef)).unwrap();
        assert_eq!(back, format!("{text}  e: new{eol}"), "{name}");
        assert!(sops_decrypt(t.path(), &ef, "alice").ends_with(b"    e: new\n"));
    }
}
