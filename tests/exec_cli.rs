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

#[test]
fn exec_env_background_returns_at_once_and_the_command_still_runs() {
    let e = Env::new();
    e.encrypted("s.env", "TOKEN=abc123\n");
    let out = e.dir.join("late.txt");
    let o = e
        .seal()
        .args([
            "exec-env",
            "--background",
            "s.env",
            &format!("sleep 0.3; echo \"$TOKEN\" > '{}'", out.display()),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // seal did not wait: the file appears only after it exited (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !out.exists() || std::fs::read_to_string(&out).unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the background command never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "abc123\n");
    // As sops: --background and --same-process together are refused.
    let o = e
        .seal()
        .args([
            "exec-env",
            "--background",
            "--same-process",
            "s.env",
            "true",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot be used with '--same-process'"),
        "{err}"
    );
}

#[test]
fn exec_env_same_process_replaces_seal() {
    let e = Env::new();
    e.encrypted("s.env", "TOKEN=abc123\n");
    let run = |same: bool| {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("seal"));
        for (k, v) in e.seal().get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.current_dir(&e.dir).arg("exec-env");
        if same {
            c.arg("--same-process");
        }
        let child = c
            .args(["s.env", "echo \"$$ $PPID $TOKEN\""])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id().to_string();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        let text = stdout(&o);
        let f: Vec<&str> = text.split_whitespace().collect();
        (pid, f[0].to_string(), f[1].to_string(), f[2].to_string())
    };
    let (seal_pid, shell, parent, token) = run(true);
    assert_eq!((shell, token), (seal_pid.clone(), "abc123".to_string()));
    assert_ne!(parent, seal_pid);
    let (seal_pid, shell, parent, _) = run(false);
    assert_ne!(shell, seal_pid);
    assert_eq!(parent, seal_pid);
}

#[test]
fn exec_user_runs_the_command_as_that_user_or_says_why_not() {
    let e = Env::new();
    e.encrypted("s.env", "TOKEN=abc123\n");
    let o = e
        .seal()
        .args(["exec-env", "--user", "no-such-user-seal", "s.env", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no user named \"no-such-user-seal\""));
    let root = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
        == "0";
    let o = e
        .seal()
        .args([
            "exec-env",
            "--user",
            "nobody",
            "s.env",
            "echo \"$(id -un) $USER $LOGNAME $TOKEN\"",
        ])
        .output()
        .unwrap();
    if !root {
        eprintln!("not root: --user to another user must be refused");
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("needs root"));
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o), "nobody nobody nobody abc123\n");
    // exec-file: the FIFO and a --no-fifo file are the user's, and gone afterwards.
    e.encrypted("s.yaml", "password: hunter2\n");
    for extra in [None, Some("--no-fifo")] {
        let mut c = e.seal();
        c.args(["exec-file", "--user", "nobody"]);
        c.args(extra);
        let o = c
            .args(["s.yaml", "stat -c '%U %a' {} && cat {} && echo {}"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..2], ["nobody 600", "password: hunter2"], "{text}");
        assert!(!Path::new(lines[2]).exists(), "{text}");
        assert!(!Path::new(lines[2]).parent().unwrap().exists(), "{text}");
    }
}
