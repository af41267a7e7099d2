//! `seal exec-env` and `seal exec-file`: values reach the child, its exit code comes back,
//! and no decrypted file remains in the temporary root afterwards.

mod common;

use std::path::Path;

use common::Sandbox as Env;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn exec_env_passes_values_and_the_exit_code() {
    let e = Env::new();
    e.sops_encrypted("s.env", "TOKEN=abc123\nNAME=two words\n");
    let o = e
        .seal()
        .args(["exec-env", "s.env", "echo \"$TOKEN|$NAME\"; exit 7"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "abc123|two words\n");
    // Several arguments after -- run directly, without a shell.
    let o = e
        .seal()
        .args([
            "exec-env",
            "s.env",
            "--",
            "sh",
            "-c",
            "printf %s \"$TOKEN\"",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o), "abc123");
}

#[test]
fn exec_env_yaml_scalars_and_pristine() {
    let e = Env::new();
    e.sops_encrypted("s.yaml", "PORT: 5432\nDEBUG: true\nHOST: db\n");
    let o = e
        .seal()
        .env("OUTER", "x")
        .args(["exec-env", "--pristine", "s.yaml", "--", "env"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The platform may add PWD; nothing of seal's own environment may appear.
    let mut lines: Vec<_> = stdout(&o)
        .lines()
        .filter(|l| !l.starts_with("PWD="))
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(lines, vec!["DEBUG=true", "HOST=db", "PORT=5432"]);
}

#[test]
fn exec_env_refuses_nested_values_without_showing_them() {
    let e = Env::new();
    e.sops_encrypted("s.yaml", "A: plainsecret\nN:\n  x: nestedsecret\n");
    let o = e
        .seal()
        .args(["exec-env", "s.yaml", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("N is a map"), "{err}");
    assert!(
        !err.contains("secret\n") && !err.contains("nestedsecret"),
        "{err}"
    );
}

#[test]
fn exec_file_serves_a_private_fifo_and_removes_it() {
    let e = Env::new();
    e.sops_encrypted("s.yaml", "password: hunter2\n");
    let o = e
        .seal()
        .args([
            "exec-file",
            "s.yaml",
            "test -p {} && stat -c %a {} && cat {} && echo {} > path.txt; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(stdout(&o), "600\npassword: hunter2\n");
    let path = std::fs::read_to_string(e.dir.join("path.txt")).unwrap();
    assert!(path.trim().starts_with(e.rt.to_str().unwrap()), "{path}");
    assert!(!Path::new(path.trim()).exists());
    e.assert_nothing_left();
}

#[test]
fn exec_file_does_not_hang_when_the_command_never_reads() {
    let e = Env::new();
    e.sops_encrypted("s.yaml", "password: hunter2\n");
    e.seal()
        .args(["exec-file", "s.yaml", "true"])
        .assert()
        .success();
    e.assert_nothing_left();
}

#[test]
fn exec_file_no_fifo_regular_file_readable_twice_with_a_name() {
    let e = Env::new();
    e.sops_encrypted("s.yaml", "password: hunter2\n");
    let o = e
        .seal()
        .args([
            "exec-file",
            "--no-fifo",
            "--filename",
            "db.json",
            "--output-type",
            "json",
            "s.yaml",
            "--",
            "sh",
            "-c",
            "test -f \"$1\" && stat -c %a \"$1\" && basename \"$1\" && cat \"$1\" \"$1\" | grep -c hunter2",
            "sh",
            "{}",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o), "600\ndb.json\n2\n");
    e.assert_nothing_left();
    // A file name with a directory part is refused.
    e.seal()
        .args(["exec-file", "--filename", "../x", "s.yaml", "true"])
        .assert()
        .code(8);
}

/// Every catchable signal that would otherwise end seal removes the plaintext file
/// exec-file wrote, and seal exits 128+signal (SIGINT and SIGQUIT come from the terminal to
/// the command as well, so the command's exit decides for them; SIGPIPE is ignored).
#[test]
fn exec_file_removes_the_plaintext_on_every_terminating_signal() {
    for (name, num) in [
        ("TERM", 15),
        ("HUP", 1),
        ("USR1", 10),
        ("USR2", 12),
        ("ALRM", 14),
        ("XCPU", 24),
        ("VTALRM", 26),
    ] {
        let e = Env::new();
        e.sops_encrypted("s.yaml", "password: hunter2\n");
        let o = e
            .seal()
            .args([
                "exec-file",
                "--no-fifo",
                "s.yaml",
                &format!("echo {{}} > path.txt; kill -{name} $PPID; sleep 1"),
            ])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(128 + num),
            "SIG{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let path = std::fs::read_to_string(e.dir.join("path.txt")).unwrap();
        assert!(!Path::new(path.trim()).exists(), "SIG{name}");
        e.assert_nothing_left();
    }
    // SIGQUIT: the command decides; SIGPIPE: ignored. The file is removed when it is done.
    for name in ["QUIT", "PIPE"] {
        let e = Env::new();
        e.sops_encrypted("s.yaml", "password: hunter2\n");
        e.seal()
            .args([
                "exec-file",
                "--no-fifo",
                "s.yaml",
                &format!("kill -{name} $PPID; sleep 0.3; grep -q hunter2 {{}}"),
            ])
            .assert()
            .success();
        e.assert_nothing_left();
    }
}

const K8S_SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\nstringData:\n  USER: alice\n  BOTH: from-stringData\ndata:\n  PASS: aHVudGVyMg==\n  BOTH: ZnJvbS1kYXRh\n";

/// A Kubernetes Secret (encrypted by the real sops, which refuses it in exec-env): its
/// stringData and decoded data entries become the variables, stringData winning as in
/// Kubernetes; found by itself, or asked for with --secret.
#[test]
fn exec_env_on_a_kubernetes_secret_exposes_string_data_and_decoded_data() {
    let e = Env::new();
    e.sops_encrypted("s.yaml", K8S_SECRET);
    for extra in [&[][..], &["--secret"][..]] {
        let mut args = vec!["exec-env"];
        args.extend_from_slice(extra);
        args.extend([
            "s.yaml",
            "echo \"$USER|$PASS|$BOTH|${metadata-unset}|${kind-unset}\"",
        ]);
        let o = e.seal().args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(stdout(&o), "alice|hunter2|from-stringData|unset|unset\n");
    }
    // --secret on a file that is no Secret says so.
    e.sops_encrypted("flat.yaml", "A: 1\n");
    let o = e
        .seal()
        .args(["exec-env", "--secret", "flat.yaml", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("flat.yaml") && err.contains("kind: Secret"),
        "{err}"
    );
}

#[test]
fn exec_env_secret_data_that_is_not_base64_is_named_not_shown() {
    let e = Env::new();
    e.sops_encrypted(
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  PASS: not*base64!\n",
    );
    let o = e
        .seal()
        .args(["exec-env", "s.yaml", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("data.PASS") && err.contains("base64"), "{err}");
    assert!(!err.contains("not*base64"), "{err}");
}
