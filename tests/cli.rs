//! CLI tests: seal as a user runs it (encrypt/decrypt round trips, the Kubernetes default,
//! stable diffs, --extract, filestatus, rotate, updatekeys) and every failure a user can
//! cause, with its exit code and a message that names the file.

mod common;

use std::fs;
use std::path::Path;

use common::{key_file, recipient, seal};
use predicates::prelude::*;

const SECRET: &str = "\
# Database credentials for the app
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
type: Opaque
stringData:
  # used by the migration job too
  username: app
  password: hunter2
  port: \"5432\"
data:
  token: aHVudGVyMg==
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, text).unwrap();
    p
}

fn encrypt_for_alice(home: &Path, dir: &Path, file: &Path) -> Vec<u8> {
    let out = seal(home)
        .current_dir(dir)
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(!out.is_empty());
    out
}

fn decrypt_with(home: &Path, dir: &Path, key: &str, file: &Path) -> assert_cmd::assert::Assert {
    seal(home)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key_file(key))
        .arg("decrypt")
        .arg(file)
        .assert()
}

#[test]
fn secret_round_trip_keeps_bytes_and_encrypts_only_data() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "secret.yaml", SECRET);
    let enc = encrypt_for_alice(t.path(), t.path(), &plain);
    let enc_text = String::from_utf8(enc.clone()).unwrap();
    // Kubernetes default: metadata readable, data/stringData encrypted.
    assert!(enc_text.contains("kind: Secret"));
    assert!(enc_text.contains("name: db"));
    assert!(!enc_text.contains("hunter2"));
    assert!(!enc_text.contains("aHVudGVyMg=="));
    assert!(enc_text.contains("encrypted_regex: ^(data|stringData)$"));
    assert!(
        enc_text.contains("# Database credentials"),
        "top-level comment stays readable"
    );
    assert!(
        !enc_text.contains("used by the migration"),
        "comment inside stringData is encrypted"
    );
    let encf = write(t.path(), "secret.enc.yaml", &enc_text);
    let dec = decrypt_with(t.path(), t.path(), "alice", &encf).success();
    assert_eq!(String::from_utf8_lossy(&dec.get_output().stdout), SECRET);
}

#[test]
fn wrong_key_fails_with_128_and_says_where_it_looked() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let enc = encrypt_for_alice(t.path(), t.path(), &plain);
    let encf = t.path().join("s.enc.yaml");
    fs::write(&encf, enc).unwrap();
    decrypt_with(t.path(), t.path(), "carol", &encf)
        .code(128)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("s.enc.yaml"))
        .stderr(predicate::str::contains(recipient("alice")))
        .stderr(predicate::str::contains("SOPS_AGE_KEY_FILE"));
}

#[test]
fn no_identity_at_all_fails_with_128() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let enc = encrypt_for_alice(t.path(), t.path(), &plain);
    let encf = write(t.path(), "s.enc.yaml", std::str::from_utf8(&enc).unwrap());
    seal(t.path())
        .current_dir(t.path())
        .arg("decrypt")
        .arg(&encf)
        .assert()
        .code(128)
        .stdout(predicate::str::is_empty());
}

#[test]
fn tampering_is_detected_and_the_file_is_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let enc = String::from_utf8(encrypt_for_alice(t.path(), t.path(), &plain)).unwrap();
    // A plaintext value covered by the MAC changes → 51.
    let tampered = enc.replace("name: db", "name: dc");
    let f = write(t.path(), "t1.yaml", &tampered);
    decrypt_with(t.path(), t.path(), "alice", &f)
        .code(51)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("t1.yaml"))
        .stderr(predicate::str::contains("MAC"));
    // --ignore-mac reads it with a warning.
    seal(t.path())
        .current_dir(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--ignore-mac"])
        .arg(&f)
        .assert()
        .success()
        .stderr(predicate::str::contains("warning"));
    // A ciphertext byte changes → 25.
    let i = enc.find("password: ENC[AES256_GCM,data:").unwrap()
        + "password: ENC[AES256_GCM,data:".len();
    let mut b = enc.clone().into_bytes();
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    let f2 = t.path().join("t2.yaml");
    fs::write(&f2, &b).unwrap();
    decrypt_with(t.path(), t.path(), "alice", &f2)
        .code(25)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("stringData.password"))
        .stderr(predicate::str::contains("hunter2").not());
    assert_eq!(
        fs::read(&f2).unwrap(),
        b,
        "a failed decrypt never modifies the input"
    );
    // -i on a tampered file leaves it unchanged.
    seal(t.path())
        .current_dir(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "-i"])
        .arg(&f2)
        .assert()
        .code(25);
    assert_eq!(fs::read(&f2).unwrap(), b);
}

#[test]
fn already_encrypted_is_refused_with_203() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let enc = encrypt_for_alice(t.path(), t.path(), &plain);
    let f = write(t.path(), "e.yaml", std::str::from_utf8(&enc).unwrap());
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(&f)
        .assert()
        .code(203)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("e.yaml"));
}

#[test]
fn missing_file_unknown_flag_and_bad_yaml() {
    let t = tempfile::tempdir().unwrap();
    seal(t.path())
        .current_dir(t.path())
        .args(["decrypt", "nope.yaml"])
        .assert()
        .code(100)
        .stderr(predicate::str::contains("nope.yaml"));
    seal(t.path())
        .args(["decrypt", "--frobnicate", "x.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--frobnicate"));
    let bad = write(t.path(), "bad.yaml", "a: [1, 2\nb: c\n");
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml"))
        .stderr(predicate::str::contains("line"));
    let empty = write(t.path(), "empty.yaml", "");
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(&empty)
        .assert()
        .code(92);
}

#[test]
fn no_recipients_and_bad_recipient_are_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    seal(t.path())
        .current_dir(t.path())
        .arg("encrypt")
        .arg(&plain)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--age"));
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--age", "age1notarecipient"])
        .arg(&plain)
        .assert()
        .failure()
        .stderr(predicate::str::contains("age1notarecipient"));
}

#[test]
fn unwritable_output_is_exit_3_and_nothing_is_lost() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    seal(t.path())
        .current_dir(t.path())
        .args([
            "encrypt",
            "--age",
            &recipient("alice"),
            "--output",
            "no/such/dir/out.yaml",
        ])
        .arg(&plain)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("out.yaml"));
    assert_eq!(fs::read_to_string(&plain).unwrap(), SECRET);
}

#[test]
fn in_place_encrypt_then_decrypt() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&plain)
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    assert!(
        fs::read_to_string(&plain)
            .unwrap()
            .contains("ENC[AES256_GCM")
    );
    seal(t.path())
        .current_dir(t.path())
        .args(["filestatus"])
        .arg(&plain)
        .assert()
        .success()
        .stdout("{\"encrypted\":true}\n");
    seal(t.path())
        .current_dir(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "-i"])
        .arg(&plain)
        .assert()
        .success();
    assert_eq!(fs::read_to_string(&plain).unwrap(), SECRET);
    seal(t.path())
        .args(["filestatus"])
        .arg(&plain)
        .assert()
        .success()
        .stdout("{\"encrypted\":false}\n");
}

#[test]
fn extract_prints_raw_strings_and_formats_subtrees() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let f = write(
        t.path(),
        "e.yaml",
        std::str::from_utf8(&encrypt_for_alice(t.path(), t.path(), &plain)).unwrap(),
    );
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--extract", r#"["stringData"]["password"]"#])
        .arg(&f)
        .assert()
        .success()
        .stdout("hunter2");
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--extract", r#"["metadata"]"#])
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("name: db"));
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--extract", r#"["nope"]"#])
        .arg(&f)
        .assert()
        .code(1);
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "--extract", "stringData.password"])
        .arg(&f)
        .assert()
        .code(91);
}

#[test]
fn previous_keeps_unchanged_ciphertexts_for_one_line_diffs() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let old = String::from_utf8(encrypt_for_alice(t.path(), t.path(), &plain)).unwrap();
    let oldf = write(t.path(), "secrets/s.yaml", &old);
    let changed = SECRET.replace("hunter2", "hunter3");
    let out = seal(t.path())
        .current_dir(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["encrypt", "--previous"])
        .arg(&oldf)
        .arg("-")
        .write_stdin(changed.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let new = String::from_utf8(out).unwrap();
    let differing: Vec<(&str, &str)> = old
        .lines()
        .zip(new.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(old.lines().count(), new.lines().count());
    // lastmodified changes too unless both runs fall in the same second.
    let keys: Vec<&str> = differing
        .iter()
        .map(|(a, _)| a.trim_start().split(':').next().unwrap())
        .filter(|k| *k != "lastmodified")
        .collect();
    assert_eq!(keys, ["password", "mac"], "{differing:#?}");
    let newf = write(t.path(), "new.yaml", &new);
    let dec = decrypt_with(t.path(), t.path(), "alice", &newf).success();
    assert_eq!(String::from_utf8_lossy(&dec.get_output().stdout), changed);
}

#[test]
fn rotate_changes_every_ciphertext_and_keeps_recipients() {
    let t = tempfile::tempdir().unwrap();
    let plain = write(t.path(), "s.yaml", SECRET);
    let before = String::from_utf8(encrypt_for_alice(t.path(), t.path(), &plain)).unwrap();
    let f = write(t.path(), "r.yaml", &before);
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "-i"])
        .arg(&f)
        .assert()
        .success();
    let after = fs::read_to_string(&f).unwrap();
    let encs = |s: &str| -> Vec<String> {
        s.split("ENC[")
            .skip(1)
            .map(|x| x.split(']').next().unwrap().to_string())
            .collect()
    };
    let (b, a) = (encs(&before), encs(&after));
    assert_eq!(b.len(), a.len());
    for x in &a {
        assert!(!b.contains(x), "ciphertext kept after rotate");
    }
    assert!(after.contains(&recipient("alice")));
    let dec = decrypt_with(t.path(), t.path(), "alice", &f).success();
    assert_eq!(String::from_utf8_lossy(&dec.get_output().stdout), SECRET);
}

#[test]
fn creation_rules_pick_recipients_and_selectors() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.ya?ml$\n    encrypted_regex: ^(password)$\n    age: {}\n  - path_regex: other/.*\n    age: >-\n      {},\n      {}\n",
            recipient("bob"),
            recipient("alice"),
            recipient("carol")
        ),
    );
    let f = write(t.path(), "secrets/app.yaml", "user: app\npassword: x\n");
    let out = seal(t.path())
        .current_dir(t.path())
        .arg("encrypt")
        .arg(&f)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("user: app"));
    assert!(text.contains(&recipient("bob")));
    assert!(!text.contains(&recipient("alice")));
    // A path no rule matches is refused even with --age (as sops does).
    let g = write(t.path(), "elsewhere/x.yaml", "a: b\n");
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--age", &recipient("alice")])
        .arg(&g)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no matching creation rules"));
    // Standard input needs --filename-override when rules exist.
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "-"])
        .write_stdin("a: b\n")
        .assert()
        .code(8)
        .stderr(predicate::str::contains("--filename-override"));
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--filename-override", "secrets/x.yaml", "-"])
        .write_stdin("password: x\n")
        .assert()
        .success()
        .stdout(predicate::str::contains(recipient("bob")));
}

#[test]
fn updatekeys_adds_a_recipient_without_touching_values() {
    let t = tempfile::tempdir().unwrap();
    let cfg = |rs: &str| format!("creation_rules:\n  - age: {rs}\n");
    write(t.path(), ".sops.yaml", &cfg(&recipient("alice")));
    let f = write(t.path(), "s.yaml", SECRET);
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "-i"])
        .arg(&f)
        .assert()
        .success();
    let before = fs::read_to_string(&f).unwrap();
    write(
        t.path(),
        ".sops.yaml",
        &cfg(&format!("{},{}", recipient("alice"), recipient("bob"))),
    );
    seal(t.path())
        .current_dir(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "-y"])
        .arg(&f)
        .assert()
        .success();
    let after = fs::read_to_string(&f).unwrap();
    let values = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
            .map(String::from)
            .collect()
    };
    assert_eq!(values(&before), values(&after));
    decrypt_with(t.path(), t.path(), "bob", &f)
        .success()
        .stdout(SECRET);
    // Running it again reports nothing to do.
    seal(t.path())
        .current_dir(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "-y"])
        .arg(&f)
        .assert()
        .success()
        .stderr(predicate::str::contains("already up to date"));
}

#[test]
fn every_format_round_trips() {
    let t = tempfile::tempdir().unwrap();
    let cases = [
        (
            "a.json",
            "{\n\t\"user\": \"app\",\n\t\"n\": 5,\n\t\"nested\": {\n\t\t\"ok\": true\n\t}\n}\n",
        ),
        ("a.env", "# comment\nUSER=app\nPASSWORD=s3cret=x\n"),
        ("a.ini", "[db]\nuser = app\npass = x\n"),
        ("a.bin", "\u{0}\u{1}binary\u{ff}data"),
    ];
    for (name, text) in cases {
        let f = write(t.path(), name, text);
        let enc = encrypt_for_alice(t.path(), t.path(), &f);
        let ef = t.path().join(format!("enc-{name}"));
        fs::write(&ef, &enc).unwrap();
        let out = decrypt_with(t.path(), t.path(), "alice", &ef).success();
        assert_eq!(
            String::from_utf8_lossy(&out.get_output().stdout),
            text,
            "{name}"
        );
    }
}

#[test]
fn help_mentions_the_kubernetes_default_and_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    seal(t.path())
        .args(["encrypt", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("^(data|stringData)$"));
    seal(t.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("203"));
}

#[test]
fn bad_input_gives_clear_errors_and_never_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let alice = recipient("alice");
    // Binary bytes named .yaml.
    let bin = t.path().join("photo.yaml");
    fs::write(
        &bin,
        [
            0xff_u8, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1,
        ],
    )
    .unwrap();
    seal(t.path())
        .args(["encrypt", "--age", &alice])
        .arg(&bin)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("photo.yaml"))
        .stderr(predicate::str::contains("--input-type"));
    // A `sops` key with junk metadata.
    let junk = write(t.path(), "junk.yaml", "a: b\nsops:\n  version: nope\n");
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&junk)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("junk.yaml"))
        .stderr(predicate::str::contains("metadata"));
    // An ENC value whose IV has the wrong length.
    let plain = write(t.path(), "s.yaml", SECRET);
    let enc = String::from_utf8(encrypt_for_alice(t.path(), t.path(), &plain)).unwrap();
    let start = enc.find("username: ENC[").unwrap();
    let iv = enc[start..].find(",iv:").unwrap() + start + 4;
    let mut broken = enc.clone();
    broken.replace_range(iv..iv + 4, "");
    let f = write(t.path(), "iv.yaml", &broken);
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .assert()
        .code(25)
        .stderr(predicate::str::contains("stringData.username"))
        .stderr(predicate::str::contains("iv"));
    // Nesting far deeper than any real file.
    let deep = format!("{}x\n", "- ".repeat(5000));
    let d = write(t.path(), "deep.yaml", &format!("a:\n{deep}"));
    seal(t.path())
        .args(["encrypt", "--age", &alice])
        .arg(&d)
        .assert()
        .failure()
        .code(predicate::ne(70))
        .stderr(predicate::str::contains("deep.yaml"));
    // A billion-laughs alias bomb.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    let b = write(t.path(), "bomb.yaml", &bomb);
    seal(t.path())
        .args(["encrypt", "--age", &alice])
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bomb.yaml"));
}
