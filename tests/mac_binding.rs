//! What sops's MAC and AES-GCM additional data bind, measured on files made by the real
//! sops and by seal, each decrypted by both tools (docs/security.md, "What the MAC binds").
//!
//! The MAC is a SHA-512 over every value of the tree in document order, encrypted and
//! plaintext alike; keys and comments are not hashed, and empty values add nothing. Each
//! encrypted value's additional data is its key path. So an edit that changes a key path
//! under an encrypted value fails authentication (exit 25) while the selector still covers
//! the new key; an edit that changes the sequence of non-empty values fails the MAC (exit
//! 51); an edit that changes neither decrypts without error, in sops and in seal.

mod common;

use std::path::Path;

use common::{key_file, recipient, seal, sops};

/// The selector leaves `app`, `env`, `name`, `note` plaintext. It is not anchored at the
/// end, so a key renamed to `passwordx` is still encrypted (and still decrypted).
const SELECTOR: &str = "^(password|token)";

const PLAIN: &str = "\
app: app
env: prod
name: web
note: \"\"
password: hunter2
token: abc123
";

/// Which tool encrypted the file.
#[derive(Clone, Copy, Debug)]
enum Maker {
    Sops,
    Seal,
}

/// `PLAIN` encrypted for alice by `maker`.
fn encrypted(home: &Path, maker: Maker) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plain.yaml");
    std::fs::write(&p, PLAIN).unwrap();
    let args = [
        "encrypt",
        "--age",
        &recipient("alice"),
        "--encrypted-regex",
        SELECTOR,
    ];
    let out = match maker {
        Maker::Sops => sops(home).args(args).arg(&p).output().unwrap(),
        Maker::Seal => seal(home).args(args).arg(&p).output().unwrap(),
    };
    assert!(
        out.status.success(),
        "{maker:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The exit code and stdout of decrypting `text` with each tool: (sops, seal).
fn decrypt_both(home: &Path, text: &str) -> [(i32, String); 2] {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("edited.yaml");
    std::fs::write(&p, text).unwrap();
    let run = |mut c: std::process::Command| {
        let o = c.arg("decrypt").arg(&p).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let mut s = sops(home);
    s.env("SOPS_AGE_KEY_FILE", key_file("alice"));
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("seal"));
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEAL_NO_KEYRING", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .current_dir(home);
    [run(s), run(c)]
}

/// Apply `edit` to files made by both tools and require `want` from both decrypters;
/// on success, `check` sees the decrypted output.
fn case(edit: impl Fn(&str) -> String, want: i32, check: impl Fn(&str)) {
    let home = tempfile::tempdir().unwrap();
    for maker in [Maker::Sops, Maker::Seal] {
        let enc = encrypted(home.path(), maker);
        let edited = edit(&enc);
        assert_ne!(edited, enc, "{maker:?}: the edit changed nothing");
        // The untouched file decrypts with both tools.
        for (tool, (code, _)) in ["sops", "seal"].iter().zip(decrypt_both(home.path(), &enc)) {
            assert_eq!(
                code, 0,
                "{maker:?}-made file, {tool}: the unedited file fails"
            );
        }
        for (tool, (code, out)) in ["sops", "seal"]
            .iter()
            .zip(decrypt_both(home.path(), &edited))
        {
            assert_eq!(code, want, "{maker:?}-made file, decrypted by {tool}");
            if want == 0 {
                check(&out);
            } else {
                assert!(!out.contains("hunter2"), "{tool} printed plaintext");
            }
        }
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the file");
    text.replacen(from, to, 1)
}

#[test]
fn renaming_an_encrypted_key_fails_authentication() {
    case(
        |t| replace_once(t, "\npassword:", "\npasswordx:"),
        25,
        |_| {},
    );
}

#[test]
fn renaming_an_encrypted_key_out_of_the_selector_fails_the_mac() {
    // `passwd` is not covered: the ENC[...] text is now a plaintext value in the MAC.
    case(|t| replace_once(t, "\npassword:", "\npasswd:"), 51, |_| {});
}

#[test]
fn swapping_two_different_plaintext_values_fails_the_mac() {
    case(
        |t| {
            let t = replace_once(t, "app: app\n", "app: @@\n");
            let t = replace_once(&t, "name: web\n", "name: app\n");
            replace_once(&t, "app: @@\n", "app: web\n")
        },
        51,
        |_| {},
    );
}

#[test]
fn deleting_a_non_empty_plaintext_key_fails_the_mac() {
    case(|t| replace_once(t, "env: prod\n", ""), 51, |_| {});
}

#[test]
fn renaming_a_plaintext_key_decrypts() {
    case(
        |t| replace_once(t, "\nname: web\n", "\nnam: web\n"),
        0,
        |out| assert!(out.contains("\nnam: web\n"), "{out}"),
    );
}

#[test]
fn moving_bytes_between_adjacent_plaintext_values_decrypts() {
    case(
        |t| replace_once(t, "app: app\nenv: prod\n", "app: ap\nenv: pprod\n"),
        0,
        |out| assert!(out.contains("app: ap\nenv: pprod\n"), "{out}"),
    );
}

#[test]
fn removing_a_key_whose_value_is_empty_decrypts() {
    case(
        |t| replace_once(t, "note: \"\"\n", ""),
        0,
        |out| assert!(!out.contains("note"), "{out}"),
    );
}

#[test]
fn adding_a_key_whose_value_is_empty_decrypts() {
    case(
        |t| replace_once(t, "note: \"\"\n", "note: \"\"\nadded: \"\"\n"),
        0,
        |out| assert!(out.contains("added: \"\""), "{out}"),
    );
}
