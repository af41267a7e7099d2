//! Secret hygiene: run seal's failing commands (and a few successful ones that must stay
//! quiet) with a known secret in play — a plaintext value, the file's data key, an age
//! identity — and grep every byte they print for it, in its plain, hex and base64 forms.
//! Also: core dumps are off for the process, and an identity file open to other users is
//! warned about.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use common::{key_file, recipient, seal};

/// The plaintext secret planted in every input.
const SECRET: &str = "Hyg1ene-S3cret-7f3a9c";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

/// Every form a leaked secret could take in output.
fn forms(secret: &[u8]) -> Vec<String> {
    let mut v = vec![
        hex(secret),
        hex(secret).to_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
    ];
    if let Ok(s) = std::str::from_utf8(secret) {
        v.push(s.to_string());
        v.push(format!("{s:?}"));
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The data key of a seal/sops file encrypted for alice, recovered with the real `age`.
fn data_key(enc: &str) -> Vec<u8> {
    let start = enc.find("-----BEGIN AGE ENCRYPTED FILE-----").unwrap();
    let end = enc.find("-----END AGE ENCRYPTED FILE-----").unwrap() + 32;
    let armored: String = enc[start..end]
        .lines()
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let mut child = Command::new("age")
        .args(["-d", "-i"])
        .arg(key_file("alice"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the age CLI is needed by this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "age could not read the data key");
    assert_eq!(out.stdout.len(), 32);
    out.stdout
}

struct Run {
    what: String,
    code: Option<i32>,
    output: Vec<u8>,
}

#[test]
fn failing_commands_never_print_a_secret() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let home = dir.join("home");
    fs::create_dir(&home).unwrap();
    let alice = recipient("alice");
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: {SECRET}\n    other: harmless\n"
    );
    let p = write(dir, "s.yaml", &plain);
    let enc_out = seal(&home)
        .current_dir(dir)
        .args(["encrypt", "--age", &alice])
        .arg(&p)
        .output()
        .unwrap();
    assert!(enc_out.status.success());
    let enc = String::from_utf8(enc_out.stdout).unwrap();
    let key = data_key(&enc);
    let e = write(dir, "e.yaml", &enc);

    // Broken variants of the encrypted file.
    let pw_line = enc.lines().find(|l| l.contains("password:")).unwrap();
    let other_line = enc.lines().find(|l| l.contains("other:")).unwrap();
    let tampered_value = {
        let i = enc.find("password: ENC[AES256_GCM,data:").unwrap() + 31;
        let mut b = enc.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        write(dir, "tampered.yaml", &String::from_utf8(b).unwrap())
    };
    let mac_mismatch = write(dir, "mac.yaml", &enc.replace("name: db", "name: dc"));
    let swapped = write(
        dir,
        "swapped.yaml",
        &enc.replace(pw_line, "@@")
            .replace(other_line, pw_line.replace("password", "other").as_str())
            .replace("@@", &other_line.replace("other", "password")),
    );
    let bad_type = write(dir, "type.yaml", &enc.replacen("type:str]", "type:int]", 1));
    // Plaintext inputs that fail to parse right after (or around) the secret.
    let bad_yaml = write(
        dir,
        "bad.yaml",
        &format!("stringData:\n    password: {SECRET}\n    x: [1, 2\n  y: \"{SECRET}\n"),
    );
    let dup_yaml = write(dir, "dup.yaml", &format!("a: {SECRET}\na: {SECRET}\n"));
    let bad_json = write(
        dir,
        "bad.json",
        &format!("{{\"password\": \"{SECRET}\", \"x\": [1, 2 \"{SECRET}\"}}"),
    );
    let bad_env = write(dir, "bad.env", &format!("PASSWORD={SECRET}\n{SECRET}\n"));
    let bad_ini = write(
        dir,
        "bad.ini",
        &format!("[db]\npassword = {SECRET}\n{SECRET}\n"),
    );
    let nested = write(dir, "nested.yaml", &format!("a:\n    b: {SECRET}\n"));
    let nested_enc = {
        let out = seal(&home)
            .current_dir(dir)
            .args(["encrypt", "--age", &alice])
            .arg(&nested)
            .output()
            .unwrap();
        write(
            dir,
            "nested.enc.yaml",
            &String::from_utf8(out.stdout).unwrap(),
        )
    };
    let flat = write(dir, "flat.yaml", &format!("PASSWORD: {SECRET}\n"));
    let flat_enc = {
        let out = seal(&home)
            .current_dir(dir)
            .args(["encrypt", "--age", &alice])
            .arg(&flat)
            .output()
            .unwrap();
        write(
            dir,
            "flat.enc.yaml",
            &String::from_utf8(out.stdout).unwrap(),
        )
    };
    // An identity file with a mangled key next to a good one's secret text.
    let alice_secret = fs::read_to_string(key_file("alice"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let mangled =
        alice_secret
            .replacen('Q', "P", 1)
            .replacen("AGE-SECRET-KEY-1", "AGE-SECRET-KEY-1X", 1);
    let bad_ids = write(dir, "bad-keys.txt", &format!("{mangled}\n"));
    fs::set_permissions(
        &bad_ids,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let s = |p: &Path| p.display().to_string();
    let cases: Vec<(&str, Vec<String>, Option<PathBuf>)> = vec![
        (
            "tampered value",
            vec!["decrypt".into(), s(&tampered_value)],
            Some(key_file("alice")),
        ),
        (
            "mac mismatch",
            vec!["decrypt".into(), s(&mac_mismatch)],
            Some(key_file("alice")),
        ),
        (
            "swapped values",
            vec!["decrypt".into(), s(&swapped)],
            Some(key_file("alice")),
        ),
        (
            "type change",
            vec!["decrypt".into(), s(&bad_type)],
            Some(key_file("alice")),
        ),
        (
            "tampered -i",
            vec!["decrypt".into(), "-i".into(), s(&tampered_value)],
            Some(key_file("alice")),
        ),
        (
            "wrong key",
            vec!["decrypt".into(), s(&e)],
            Some(key_file("bob")),
        ),
        (
            "mangled identity",
            vec!["decrypt".into(), s(&e)],
            Some(bad_ids.clone()),
        ),
        (
            "extract missing",
            vec![
                "decrypt".into(),
                "--extract".into(),
                "[\"nope\"]".into(),
                s(&e),
            ],
            Some(key_file("alice")),
        ),
        (
            "extract bad path",
            vec![
                "decrypt".into(),
                "--extract".into(),
                "[\"stringData\"".into(),
                s(&e),
            ],
            Some(key_file("alice")),
        ),
        (
            "to dotenv (nested)",
            vec![
                "decrypt".into(),
                "--output-type".into(),
                "dotenv".into(),
                s(&nested_enc),
            ],
            Some(key_file("alice")),
        ),
        (
            "already encrypted",
            vec!["encrypt".into(), "--age".into(), alice.clone(), s(&e)],
            None,
        ),
        (
            "bad yaml",
            vec![
                "encrypt".into(),
                "--age".into(),
                alice.clone(),
                s(&bad_yaml),
            ],
            None,
        ),
        (
            "duplicate key",
            vec![
                "encrypt".into(),
                "--age".into(),
                alice.clone(),
                s(&dup_yaml),
            ],
            None,
        ),
        (
            "bad json",
            vec![
                "encrypt".into(),
                "--age".into(),
                alice.clone(),
                s(&bad_json),
            ],
            None,
        ),
        (
            "bad dotenv",
            vec!["encrypt".into(), "--age".into(), alice.clone(), s(&bad_env)],
            None,
        ),
        (
            "bad ini",
            vec!["encrypt".into(), "--age".into(), alice.clone(), s(&bad_ini)],
            None,
        ),
        (
            "set bad json",
            vec![
                "set".into(),
                s(&e),
                "[\"stringData\"][\"password\"]".into(),
                format!("{{\"x\": \"{SECRET}"),
            ],
            Some(key_file("alice")),
        ),
        (
            "set tampered",
            vec![
                "set".into(),
                s(&tampered_value),
                "[\"stringData\"][\"x\"]".into(),
                "\"y\"".into(),
            ],
            Some(key_file("alice")),
        ),
        (
            "rotate tampered",
            vec!["rotate".into(), "-i".into(), s(&tampered_value)],
            Some(key_file("alice")),
        ),
        (
            "rotate mac",
            vec!["rotate".into(), s(&mac_mismatch)],
            Some(key_file("alice")),
        ),
        (
            "exec-env failing child",
            vec!["exec-env".into(), s(&flat_enc), "exit 3".into()],
            Some(key_file("alice")),
        ),
        (
            "exec-env nested",
            vec!["exec-env".into(), s(&nested_enc), "true".into()],
            Some(key_file("alice")),
        ),
        ("check plaintext", vec!["check".into(), s(dir)], None),
        (
            "filestatus plaintext",
            vec!["filestatus".into(), s(&p)],
            None,
        ),
    ];
    let mut runs = Vec::new();
    for (what, args, ids) in cases {
        let mut c = seal(&home);
        c.current_dir(dir).args(&args).env("RUST_BACKTRACE", "full");
        if let Some(ids) = ids {
            c.env("SOPS_AGE_KEY_FILE", ids);
        }
        let out = c.output().unwrap();
        let mut output = out.stdout.clone();
        output.extend_from_slice(&out.stderr);
        runs.push(Run {
            what: what.to_string(),
            code: out.status.code(),
            output,
        });
    }
    let secrets: Vec<(&str, Vec<String>)> = vec![
        ("the plaintext value", forms(SECRET.as_bytes())),
        ("the data key", forms(&key)),
        (
            "alice's identity",
            vec![alice_secret.clone(), alice_secret[16..].to_string()],
        ),
        (
            "the mangled identity",
            vec![mangled.clone(), mangled[17..].to_string()],
        ),
    ];
    let mut failures = 0;
    for r in &runs {
        let text = String::from_utf8_lossy(&r.output);
        eprintln!(
            "{:<24} exit {:?}: {}",
            r.what,
            r.code,
            text.lines().next().unwrap_or("")
        );
        if r.what == "exec-env failing child" {
            assert_eq!(r.code, Some(3), "the child's exit code: {text}");
        }
        if !matches!(r.what.as_str(), "check plaintext" | "filestatus plaintext") {
            assert_ne!(r.code, Some(0), "{}: expected a failure: {text}", r.what);
            failures += 1;
        }
        assert_ne!(r.code, Some(70), "{}: internal error: {text}", r.what);
        assert!(!text.contains("panicked"), "{}: a panic: {text}", r.what);
        for (name, forms) in &secrets {
            for f in forms {
                assert!(
                    !text.contains(f.as_str()),
                    "{}: {name} appears in the output:\n{text}",
                    r.what
                );
            }
        }
    }
    assert!(failures >= 20, "the runs above must really fail");
    // The check is not vacuous: a successful decrypt does print the secret.
    let ok = seal(&home)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&e)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&ok.stdout).contains(SECRET));
}

/// Identity files open to group or others are warned about, as ssh does (when they belong
/// to the user running seal); a 0600 file is not.
#[test]
fn an_identity_file_readable_by_others_is_warned_about() {
    let t = tempfile::tempdir().unwrap();
    let ids = t.path().join("keys.txt");
    fs::copy(key_file("alice"), &ids).unwrap();
    let p = write(t.path(), "s.yaml", "a: b\n");
    seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&p)
        .assert()
        .success();
    for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false)] {
        fs::set_permissions(&ids, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
        let out = seal(t.path())
            .current_dir(t.path())
            .env("SOPS_AGE_KEY_FILE", &ids)
            .arg("decrypt")
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.contains("chmod 600"),
            warned,
            "mode {mode:o}: stderr: {err}"
        );
        assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
    }
}

/// Core dumps are disabled for the seal process: its RLIMIT_CORE is 0 (read from
/// /proc/<pid>/limits while seal pauses before a rename).
#[cfg(target_os = "linux")]
#[test]
fn core_dumps_are_disabled() {
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "s.yaml", "a: b\n");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("seal"))
        .env_clear()
        .env("SEAL_NO_KEYRING", "1")
        .env("HOME", t.path())
        .env("SEAL_TEST_PAUSE_BEFORE_RENAME", "30000")
        .current_dir(t.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&p)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let limits = format!("/proc/{}/limits", child.id());
    let mut line = String::new();
    for _ in 0..200 {
        if let Ok(text) = fs::read_to_string(&limits)
            && let Some(l) = text.lines().find(|l| l.starts_with("Max core file size"))
        {
            line = l.to_string();
            // Wait until seal has lowered both limits (main runs first thing, but the
            // process may be caught before main; the soft limit is often 0 already).
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(4..6) == Some(&["0", "0"][..]) {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields.get(4..6),
        Some(&["0", "0"][..]),
        "soft and hard core limits: {line}"
    );
}
