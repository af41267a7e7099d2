//! `seal edit` with fake editors (shell scripts): every exit path leaves no plaintext in the
//! temporary root (TMPDIR/XDG_RUNTIME_DIR point at a test-owned directory), the file is
//! unchanged unless the edit succeeded, and unchanged values keep their ciphertext.

mod common;

use common::{key_file, recipient};

use common::Sandbox as Env;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    USER: alice\n    PASSWORD: hunter2\n";

fn line_with<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines().find(|l| l.contains(key)).unwrap_or_default()
}

#[test]
fn edit_changes_one_value_keeps_the_others_and_leaves_nothing() {
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    let before = std::fs::read_to_string(&f).unwrap();
    // The editor also records the modes it sees: file 0600 in a 0700 directory.
    let modes = e.home.join("modes");
    let ed = e.editor(
        "ed.sh",
        &format!(
            "stat -c %a \"$1\" \"$(dirname \"$1\")\" > {}\nsed -i 's/hunter2/s3cret/' \"$1\"",
            modes.display()
        ),
    );
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"])
        .assert()
        .success();
    let after = std::fs::read_to_string(&f).unwrap();
    assert_eq!(line_with(&before, "USER:"), line_with(&after, "USER:"));
    assert_ne!(
        line_with(&before, "PASSWORD:"),
        line_with(&after, "PASSWORD:")
    );
    assert!(e.decrypt("s.yaml").contains("PASSWORD: s3cret"));
    assert_eq!(std::fs::read_to_string(&modes).unwrap(), "600\n700\n");
    e.assert_nothing_left();
    // The real sops reads the result.
    let o = common::sops(&e.home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("PASSWORD: s3cret"));
}

#[test]
fn editor_command_is_split_like_a_shell() {
    let e = Env::new();
    e.encrypted("s.yaml", SECRET);
    let ed = e.editor("ed with space.sh", "sed -i \"s/alice/$2/\" \"$1\"");
    // $SOPS_EDITOR wins over $EDITOR; quotes group words; the file comes last.
    let ed_q = format!("'{}'", ed.display());
    let script = e.editor("wrap.sh", &format!("{ed_q} \"$2\" \"$1\""));
    e.seal()
        .env("SOPS_EDITOR", format!("{} carol", script.display()))
        .env("EDITOR", "false")
        .args(["edit", "s.yaml"])
        .assert()
        .success();
    assert!(e.decrypt("s.yaml").contains("USER: carol"));
}

#[test]
fn unchanged_file_is_not_rewritten_and_exits_0_or_200_with_exit_code() {
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    let before = std::fs::read(&f).unwrap();
    e.seal()
        .env("EDITOR", "true")
        .args(["edit", "s.yaml"])
        .assert()
        .success();
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.seal()
        .env("EDITOR", "true")
        .args(["edit", "--exit-code", "s.yaml"])
        .assert()
        .code(200);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.assert_nothing_left();
}

#[test]
fn editor_failure_keeps_the_file_and_leaves_nothing() {
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    let before = std::fs::read(&f).unwrap();
    let ed = e.editor("fail.sh", "sed -i 's/hunter2/changed/' \"$1\"\nexit 3");
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"])
        .assert()
        .code(201);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.assert_nothing_left();
    // A missing editor is sops's 201 too.
    e.seal()
        .env("EDITOR", "no-such-editor-seal-test")
        .args(["edit", "s.yaml"])
        .assert()
        .code(201);
    e.assert_nothing_left();
}

#[test]
fn invalid_yaml_without_a_terminal_fails_and_keeps_the_file() {
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    let before = std::fs::read(&f).unwrap();
    let ed = e.editor("bad.sh", "printf 'a: [\\n' >> \"$1\"");
    let o = e
        .seal()
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("at line 9"), "says where: {err}");
    assert!(!err.contains("hunter2"), "no secret in messages: {err}");
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.assert_nothing_left();
}

#[test]
fn a_sops_key_in_the_edit_is_refused() {
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    let before = std::fs::read(&f).unwrap();
    let ed = e.editor("meta.sh", "printf 'sops: {}\\n' >> \"$1\"");
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"])
        .assert()
        .failure();
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.assert_nothing_left();
}

#[test]
fn sigterm_while_editing_removes_the_plaintext() {
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    let before = std::fs::read(&f).unwrap();
    // The editor changes the file, then kills seal (its parent) and lingers.
    let ed = e.editor(
        "term.sh",
        "sed -i 's/hunter2/changed/' \"$1\"\nkill -TERM $PPID\nsleep 1",
    );
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"])
        .assert()
        .code(143);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    e.assert_nothing_left();
}

#[test]
fn decode_data_shows_text_and_encodes_it_back() {
    let e = Env::new();
    // "hello" and a non-UTF-8 value (0xff 0xfe).
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: x\ndata:\n    GREETING: aGVsbG8=\n    BIN: //4=\n";
    let f = e.encrypted("s.yaml", plain);
    let before = std::fs::read_to_string(&f).unwrap();
    let seen = e.home.join("seen");
    let ed = e.editor(
        "dec.sh",
        &format!("cp \"$1\" {}\nsed -i 's/hello/bye/' \"$1\"", seen.display()),
    );
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "--decode-data", "s.yaml"])
        .assert()
        .success();
    let shown = std::fs::read_to_string(&seen).unwrap();
    assert!(shown.contains("GREETING: hello"), "{shown}");
    assert!(shown.contains("# seal: kept as base64"), "{shown}");
    assert!(shown.contains("BIN: //4="), "{shown}");
    let out = e.decrypt("s.yaml");
    assert!(out.contains("GREETING: Ynll"), "base64 of bye: {out}");
    assert!(out.contains("BIN: //4="), "{out}");
    assert!(!out.contains("seal: kept"), "marker removed: {out}");
    let after = std::fs::read_to_string(&f).unwrap();
    assert_eq!(line_with(&before, "BIN:"), line_with(&after, "BIN:"));
    e.assert_nothing_left();
}

#[test]
fn new_file_from_the_secret_template_uses_the_rule() {
    let e = Env::new();
    std::fs::write(
        e.dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {}\n",
            recipient("alice")
        ),
    )
    .unwrap();
    // Unchanged template: nothing is created (exit 200 with --exit-code, as sops).
    e.seal()
        .env("EDITOR", "true")
        .args(["edit", "--exit-code", "app.enc.yaml"])
        .assert()
        .code(200);
    assert!(!e.dir.join("app.enc.yaml").exists());
    let ed = e.editor("new.sh", "sed -i 's/example-value/tok3n/' \"$1\"");
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "app.enc.yaml"])
        .assert()
        .success();
    let raw = std::fs::read_to_string(e.dir.join("app.enc.yaml")).unwrap();
    assert!(
        raw.contains("kind: Secret") && raw.contains("name: app"),
        "{raw}"
    );
    assert!(!raw.contains("tok3n"), "{raw}");
    assert!(raw.contains(&recipient("alice")));
    assert!(e.decrypt("app.enc.yaml").contains("EXAMPLE_KEY: tok3n"));
    // No rule and no --age: refused before the editor opens.
    e.seal()
        .env("EDITOR", &ed)
        .args(["edit", "other.yaml"])
        .assert()
        .failure();
    assert!(!e.dir.join("other.yaml").exists());
    e.assert_nothing_left();
}

#[test]
fn new_file_takes_the_selector_flags_and_an_existing_file_keeps_its_own() {
    let e = Env::new();
    let ed = e.editor("wr.sh", "printf 'a: 1\\nb_pt: two\\nc: three\\n' > \"$1\"");
    let alice = recipient("alice");
    e.seal()
        .env("EDITOR", &ed)
        .args([
            "edit",
            "--age",
            &alice,
            "--unencrypted-suffix",
            "_pt",
            "--mac-only-encrypted",
            "n.yaml",
        ])
        .assert()
        .success();
    let raw = std::fs::read_to_string(e.dir.join("n.yaml")).unwrap();
    assert!(raw.contains("b_pt: two"), "{raw}");
    assert!(!raw.contains("three") && !raw.contains("a: 1"), "{raw}");
    assert!(raw.contains("unencrypted_suffix: _pt"), "{raw}");
    assert!(raw.contains("mac_only_encrypted: true"), "{raw}");
    assert_eq!(e.decrypt("n.yaml"), "a: 1\nb_pt: two\nc: three\n");
    // Two selectors: refused before the editor opens.
    let o = e
        .seal()
        .env("EDITOR", &ed)
        .args([
            "edit",
            "--age",
            &alice,
            "--encrypted-regex",
            "^a$",
            "--unencrypted-suffix",
            "_pt",
            "m.yaml",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!e.dir.join("m.yaml").exists());
    // The file exists now: the flags are ignored, with a note, and its selector stays.
    let ed2 = e.editor("ch.sh", "sed -i 's/three/four/' \"$1\"");
    let o = e
        .seal()
        .env("EDITOR", &ed2)
        .args(["edit", "--encrypted-regex", "^a$", "n.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("flags are ignored"));
    let raw = std::fs::read_to_string(e.dir.join("n.yaml")).unwrap();
    assert!(
        raw.contains("unencrypted_suffix: _pt") && !raw.contains("encrypted_regex"),
        "{raw}"
    );
    assert_eq!(e.decrypt("n.yaml"), "a: 1\nb_pt: two\nc: four\n");
    e.assert_nothing_left();
}

#[test]
fn reopens_the_editor_on_a_terminal_after_a_parse_error() {
    use rexpect::session::spawn_command;
    let e = Env::new();
    let f = e.encrypted("s.yaml", SECRET);
    // First run: break the YAML. Second run: fix it and change a value.
    let count = e.home.join("count");
    let ed = e.editor(
        "twice.sh",
        &format!(
            "if [ -e {c} ]; then sed -i -e '/^oops/d' -e 's/hunter2/fixed/' \"$1\"; else touch {c}; printf 'oops: [\\n' >> \"$1\"; fi",
            c = count.display()
        ),
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_seal"));
    cmd.current_dir(&e.dir)
        .env_clear()
        .env("SEAL_NO_KEYRING", "1")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &e.home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .env("XDG_RUNTIME_DIR", &e.rt)
        .env("EDITOR", &ed)
        .args(["edit", "s.yaml"]);
    let mut p = spawn_command(cmd, Some(20_000)).unwrap();
    p.exp_string("re-open the editor").unwrap();
    p.send_line("").unwrap();
    p.exp_eof().unwrap();
    assert!(e.decrypt("s.yaml").contains("PASSWORD: fixed"));
    assert!(f.exists());
    e.assert_nothing_left();
}

/// Every catchable signal that would otherwise end seal removes the plaintext: each one is
/// sent to seal by the editor, seal exits 128+signal and the file is unchanged.
#[test]
fn every_terminating_signal_while_editing_removes_the_plaintext() {
    for (name, num) in [
        ("USR1", 10),
        ("USR2", 12),
        ("ALRM", 14),
        ("XCPU", 24),
        ("VTALRM", 26),
    ] {
        let e = Env::new();
        let f = e.encrypted("s.yaml", SECRET);
        let before = std::fs::read(&f).unwrap();
        let ed = e.editor(
            "sig.sh",
            &format!("sed -i 's/hunter2/changed/' \"$1\"\nkill -{name} $PPID\nsleep 1"),
        );
        e.seal()
            .env("EDITOR", &ed)
            .args(["edit", "s.yaml"])
            .assert()
            .code(128 + num);
        assert_eq!(std::fs::read(&f).unwrap(), before, "SIG{name}");
        e.assert_nothing_left();
    }
}

/// SIGQUIT (Ctrl-\) reaches the editor from the terminal as well: like Ctrl-C it does not
/// end seal while the editor runs, and the editor's exit decides. SIGPIPE never ends seal
/// (ignored; a closed output is handled as an error). Either way the plaintext is removed.
#[test]
fn sigquit_and_sigpipe_while_editing_leave_the_editor_in_charge_and_nothing_behind() {
    for name in ["QUIT", "PIPE"] {
        let e = Env::new();
        let f = e.encrypted("s.yaml", SECRET);
        let ed = e.editor(
            "quit.sh",
            &format!("kill -{name} $PPID\nsleep 0.3\nsed -i 's/hunter2/changed/' \"$1\""),
        );
        e.seal()
            .env("EDITOR", &ed)
            .args(["edit", "s.yaml"])
            .assert()
            .success();
        assert!(std::fs::read_to_string(&f).unwrap().contains("ENC["));
        assert!(
            e.decrypt("s.yaml").contains("PASSWORD: changed"),
            "SIG{name}"
        );
        e.assert_nothing_left();
    }
}
