//! seal as `sops` on the commands the generated table of tests/sops_cli.rs cannot compare
//! by itself: `set --output-type` (the file changes format), `rotate --add-pgp/--rm-pgp`
//! (which keys open the result), rules naming keys seal cannot wrap for, `completion` and
//! per-command `--help`, `groups add|delete` with PGP.

mod common;
mod sops_harness;

use std::path::Path;
use std::process::Command;

use common::{key_file, recipient};
use sops_harness::{Case, Fixture, Kind, PLAIN, copy_dir, fixture, real_decrypt, run};

/// `sops set --output-type yaml FILE.json …` rewrites the JSON file as YAML (sops's
/// functional suite, set_json_file_update_idempotent_write): both tools write a file that
/// starts with `a: ` and decrypts, read as YAML, to the same values.
#[test]
fn set_output_type_rewrites_the_file_in_that_format() {
    let fx = fixture();
    let mut decrypted = Vec::new();
    for (tool, program) in [("sops", common::sops_bin()), ("seal", fx.link.clone())] {
        let dir = fx._tmp.path().join(format!("set-{tool}"));
        copy_dir(&fx.seed, &dir);
        let case = Case {
            name: "set".into(),
            args: [
                "set",
                "--output-type",
                "yaml",
                "e.json",
                r#"["b"]"#,
                r#""new""#,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            kind: Kind::Plain,
            stdin: None,
            env: Vec::new(),
        };
        let o = run(&fx, &program, &dir, &case);
        assert!(
            o.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let after = std::fs::read_to_string(dir.join("e.json")).unwrap();
        assert!(after.starts_with("a: "), "{tool} wrote:\n{after}");
        let d = Command::new(common::sops_bin())
            .env_clear()
            .env("HOME", &fx.home)
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(["decrypt", "--input-type", "yaml", "--output-type", "yaml"])
            .arg(dir.join("e.json"))
            .output()
            .unwrap();
        assert!(
            d.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&d.stderr)
        );
        decrypted.push(String::from_utf8_lossy(&d.stdout).into_owned());
    }
    assert!(decrypted[0].contains("b: new"), "{}", decrypted[0]);
    assert_eq!(decrypted[0], decrypted[1]);
}

/// The functional suite's PGP key (in the fixture's keyring).
const PGP_FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

/// Whether the real sops opens `file` with the PGP key alone (no age key).
fn opens_with_pgp_only(fx: &Fixture, file: &Path) -> bool {
    Command::new(common::sops_bin())
        .env_clear()
        .env("HOME", &fx.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["decrypt"])
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

/// `sops rotate --add-pgp FP` / `--rm-pgp FP`: seal wraps the new data key for the PGP key
/// (the real sops then opens the file with it alone) and removes it again; before, seal
/// refused --add-pgp as a key type it did not speak.
#[test]
fn rotate_add_and_rm_pgp_as_sops_does() {
    let fx = fixture();
    let dir = fx._tmp.path().join("pgp");
    copy_dir(&fx.seed, &dir);
    let file = dir.join("e.yaml");
    assert!(!opens_with_pgp_only(&fx, &file));
    for (args, opens) in [
        (&["rotate", "-i", "--add-pgp", PGP_FP, "e.yaml"][..], true),
        (&["-r", "-i", "--rm-pgp", PGP_FP, "e.yaml"], false),
        (&["-r", "-i", "--add-pgp", PGP_FP, "e.yaml"], true),
    ] {
        let o = Command::new(&fx.link)
            .env_clear()
            .current_dir(&dir)
            .env("HOME", &fx.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(opens_with_pgp_only(&fx, &file), opens, "{args:?}");
        assert_eq!(
            real_decrypt(
                &fx,
                &dir.join("scratch"),
                "yaml",
                &std::fs::read(&file).unwrap()
            )
            .unwrap(),
            PLAIN[0].1.as_bytes(),
            "{args:?}: the age key still opens it, to the same values"
        );
    }
}

/// A creation rule naming age and a key service seal cannot reach here (AWS KMS, HuaweiCloud
/// KMS: no credentials) fails naming the type, the file unchanged: encrypting for the age key
/// alone would drop a master key.
#[test]
fn a_rule_with_a_key_seal_cannot_wrap_for_is_refused_not_dropped() {
    let fx = fixture();
    let dir = fx._tmp.path().join("foreign");
    copy_dir(&fx.seed, &dir);
    for (field, value, name) in [
        ("kms", "arn:aws:kms:us-east-1:1:key/x", "kms"),
        ("hckms", "[\"tr-west-1:abc\"]", "HuaweiCloud KMS"),
    ] {
        std::fs::write(
            dir.join("mixed.sops.yaml"),
            format!(
                "creation_rules:\n  - age: {}\n    {field}: {value}\n",
                recipient("alice")
            ),
        )
        .unwrap();
        let o = Command::new(&fx.link)
            .env_clear()
            .current_dir(&dir)
            .env("HOME", &fx.home)
            .args(["--config", "mixed.sops.yaml", "encrypt", "-i", "p.yaml"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{field}: {err}");
        assert!(err.contains(name), "{field}: {err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("p.yaml")).unwrap(),
            PLAIN[0].1,
            "{field}: the file is unchanged"
        );
    }
}

/// `sops completion bash|zsh` and per-command `--help` print on stdout and exit 0.
#[test]
fn completion_and_command_help() {
    let fx = fixture();
    let run = |args: &[&str]| {
        Command::new(&fx.link)
            .env_clear()
            .env("HOME", &fx.home)
            .args(args)
            .output()
            .unwrap()
    };
    let bash = run(&["completion", "bash"]);
    assert!(bash.status.success());
    let text = String::from_utf8_lossy(&bash.stdout);
    assert!(
        text.contains("complete -o filenames -F _seal_as_sops sops"),
        "{text}"
    );
    let syntax = Command::new("bash")
        .args(["-n", "-c", &text])
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert!(run(&["completion", "zsh"]).status.success());
    assert_eq!(run(&["completion", "tcsh"]).status.code(), Some(1));
    for (args, flag) in [
        (&["decrypt", "--help"][..], "--extract"),
        (&["help", "set"], "--value-stdin"),
        (&["rotate", "-h"], "--add-pgp"),
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(flag) && out.contains("usage: sops"),
            "{args:?}: {out}"
        );
    }
}

/// `sops groups add --pgp FP` then `sops groups delete 0`: the file ends with one group
/// holding the PGP key alone, which the real sops opens (with gpg) to the same values; the
/// data key is the same throughout, so the MAC still verifies.
#[test]
fn groups_add_then_delete_moves_the_file_to_a_pgp_group() {
    let fx = fixture();
    let dir = fx._tmp.path().join("groups");
    copy_dir(&fx.seed, &dir);
    let file = dir.join("e.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    for args in [
        &["groups", "add", "-i", "-f", "e.yaml", "--pgp", PGP_FP][..],
        &[
            "groups",
            "delete",
            "-f",
            "e.yaml",
            "-i",
            "--shamir-secret-sharing-threshold",
            "1",
            "0",
        ],
    ] {
        let o = Command::new(&fx.link)
            .env_clear()
            .current_dir(&dir)
            .env("HOME", &fx.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(!after.contains(&recipient("alice")), "{after}");
    let mac = |t: &str| t.lines().find(|l| l.contains("mac:")).map(str::to_string);
    assert_eq!(mac(&before), mac(&after), "values and MAC are untouched");
    assert!(opens_with_pgp_only(&fx, &file));
}

/// (arguments, whose key the command prints, extra environment).
type KeyCmdCase<'a> = (&'a [&'a str], &'a str, &'a [(&'a str, &'a str)]);

/// `SOPS_AGE_KEY_CMD` as sops 3.12+ runs it: once for every age key tried, in the file's
/// order, with `SOPS_AGE_RECIPIENT` set to that key's recipient; not at all when no age key
/// has to be opened (encrypting; a PGP key tried first under `SOPS_DECRYPTION_ORDER`).
/// The recipients the command sees are logged and must be the same for both tools.
#[test]
fn key_command_runs_per_age_key_with_sops_age_recipient() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    let dir = fx._tmp.path().join("keycmd");
    copy_dir(&fx.seed, &dir);
    let (a, b, c) = (recipient("alice"), recipient("bob"), recipient("carol"));
    let script = dir.join("keys.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"${SOPS_AGE_RECIPIENT-unset}\" >> \"$LOG\"\ncat \"$KEYS\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sops_run = |args: &[&str], extra: &[(&str, String)]| {
        Command::new(common::sops_bin())
            .env_clear()
            .current_dir(&dir)
            .env("HOME", &fx.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .envs(extra.iter().map(|(k, v)| (*k, v)))
            .args(args)
            .output()
            .unwrap()
    };
    let o = sops_run(
        &["encrypt", "--age", &format!("{c},{a},{b}"), "p.yaml"],
        &[],
    );
    assert!(o.status.success());
    std::fs::write(dir.join("three.yaml"), o.stdout).unwrap();
    let o = sops_run(&["encrypt", "--pgp", PGP_FP, "--age", &a, "p.yaml"], &[]);
    assert!(o.status.success());
    std::fs::write(dir.join("mixed.yaml"), o.stdout).unwrap();
    let cases: [KeyCmdCase; 5] = [
        (&["decrypt", "three.yaml"], "bob", &[]),
        (&["decrypt", "three.yaml"], "carol", &[]),
        (&["decrypt", "mixed.yaml"], "alice", &[]),
        (
            &["decrypt", "mixed.yaml"],
            "alice",
            &[("SOPS_DECRYPTION_ORDER", "pgp,age")],
        ),
        (&["encrypt", "--age", &b, "p.yaml"], "alice", &[]),
    ];
    let mut logs: Vec<Vec<String>> = Vec::new();
    for (tool, program) in [("sops", common::sops_bin()), ("seal", fx.link.clone())] {
        for (i, (args, key, env)) in cases.iter().enumerate() {
            let log = dir.join(format!("{tool}-{i}.log"));
            std::fs::write(&log, "").unwrap();
            let o = Command::new(&program)
                .env_clear()
                .current_dir(&dir)
                .env("HOME", &fx.home)
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("SOPS_AGE_KEY_CMD", &script)
                .env("LOG", &log)
                .env("KEYS", key_file(key))
                .envs(env.iter().copied())
                .args(*args)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{tool} {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            logs.push(
                std::fs::read_to_string(&log)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect(),
            );
        }
    }
    let (sops_logs, seal_logs) = logs.split_at(cases.len());
    assert_eq!(sops_logs, seal_logs);
    // What sops did (so that the comparison is not of two empty logs).
    assert_eq!(sops_logs[0], [c.clone(), a.clone(), b.clone()]);
    assert_eq!(sops_logs[1], [c]);
    assert_eq!(sops_logs[2], [a]);
    assert!(sops_logs[3].is_empty() && sops_logs[4].is_empty());
}

/// (arguments, extra environment).
type OrderCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// `--decryption-order` on the commands sops 3.13 gives it (decrypt, exec-env, exec-file,
/// set, rotate, edit and the top level; unset and publish read it the same way), after the
/// file name too; ignored before a
/// subcommand (sops's global flags do not reach it); the flag over the variable; a type
/// named twice (flag or variable) is exit 112 with sops's words; and updatekeys and groups
/// add, which pass sops no order at all, try a group's keys in the file's order (PGP before
/// age) whatever `SOPS_DECRYPTION_ORDER` says. Which key opened the file shows in the log of
/// an age key command: it runs only when the age key is tried first.
#[test]
fn decryption_order_flag_as_sops() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    let dir = fx._tmp.path().join("order");
    copy_dir(&fx.seed, &dir);
    let script = dir.join("keys.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"${SOPS_AGE_RECIPIENT-unset}\" >> \"$LOG\"\ncat \"$KEYS\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (alice, bob) = (recipient("alice"), recipient("bob"));
    // Flat, so that exec-env can export every value.
    std::fs::write(dir.join("flat.yaml"), "a: 1\nb: two\n").unwrap();
    let o = Command::new(common::sops_bin())
        .env_clear()
        .current_dir(&dir)
        .env("HOME", &fx.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["encrypt", "--pgp", PGP_FP, "--age", &alice, "flat.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mixed = o.stdout;
    let cases: &[OrderCase] = &[
        (&["decrypt", "m.yaml"], &[]),
        (&["decrypt", "--decryption-order", "pgp,age", "m.yaml"], &[]),
        (&["-d", "--decryption-order", "pgp,age", "m.yaml"], &[]),
        (&["--decryption-order", "pgp,age", "decrypt", "m.yaml"], &[]),
        (&["decrypt", "--decryption-order", "PGP", "m.yaml"], &[]),
        (
            &["decrypt", "--decryption-order", "age,pgp", "m.yaml"],
            &[("SOPS_DECRYPTION_ORDER", "pgp")],
        ),
        (
            &["exec-env", "--decryption-order", "pgp", "m.yaml", "true"],
            &[],
        ),
        // A command that reads the file: sops's FIFO writer fails now and then (exit 1,
        // "open …/tmp-file: no such file") when the command exits without opening it.
        (
            &["exec-file", "m.yaml", "cat {}", "--decryption-order", "pgp"],
            &[],
        ),
        (
            &[
                "set",
                "--decryption-order",
                "pgp",
                "m.yaml",
                r#"["a"]"#,
                "3",
            ],
            &[],
        ),
        (
            &["rotate", "-i", "--decryption-order", "pgp", "m.yaml"],
            &[],
        ),
        (&["edit", "--decryption-order", "pgp", "m.yaml"], &[]),
        (
            &["--config", "other.sops.yaml", "updatekeys", "-y", "m.yaml"],
            &[("SOPS_DECRYPTION_ORDER", "age,pgp")],
        ),
        (
            &["groups", "add", "-f", "m.yaml", "--age", &bob],
            &[("SOPS_DECRYPTION_ORDER", "age")],
        ),
        (&["decrypt", "--decryption-order", "age,age", "m.yaml"], &[]),
        (
            &["decrypt", "m.yaml"],
            &[("SOPS_DECRYPTION_ORDER", "pgp,age,pgp")],
        ),
        (
            &["-e", "--decryption-order", "age,,", "--age", &bob, "p.yaml"],
            &[],
        ),
    ];
    // Both tools at once, each in its own copy of the seed.
    let run_all = |k: usize, program: &Path| -> Vec<(Option<i32>, Vec<String>, String)> {
        let work = fx._tmp.path().join(format!("order-{k}"));
        copy_dir(&fx.seed, &work);
        let mut seen = Vec::new();
        for (i, (args, env)) in cases.iter().enumerate() {
            std::fs::write(work.join("m.yaml"), &mixed).unwrap();
            let log = work.join(format!("{i}.log"));
            std::fs::write(&log, "").unwrap();
            let o = Command::new(program)
                .env_clear()
                .current_dir(&work)
                .env("HOME", &fx.home)
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("SOPS_DISABLE_VERSION_CHECK", "1")
                .env("SOPS_AGE_KEY_CMD", &script)
                .env("EDITOR", "true")
                .env("LOG", &log)
                .env("KEYS", key_file("alice"))
                .envs(env.iter().copied())
                .args(*args)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let code = o.status.code();
            // (exit code, age key command log, stderr when the exit code is 112).
            let stderr = if code == Some(112) {
                String::from_utf8_lossy(&o.stderr).into_owned()
            } else {
                String::new()
            };
            let lines = std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            seen.push((code, lines, stderr));
        }
        seen
    };
    let real = common::sops_bin();
    let results = std::thread::scope(|s| {
        let a = s.spawn(|| run_all(0, &real));
        let b = run_all(1, &fx.link);
        [a.join().unwrap(), b]
    });
    for (i, (args, env)) in cases.iter().enumerate() {
        assert_eq!(
            results[0][i], results[1][i],
            "{args:?} {env:?}: sops (left) and seal as sops (right) differ"
        );
    }
    // What sops did, so that the comparison is not of two empty logs.
    let sops = &results[0];
    let opened_with_age = |i: usize| sops[i].1 == [alice.clone()];
    assert!(opened_with_age(0) && opened_with_age(3) && opened_with_age(5));
    for i in [1, 2, 4, 6, 7, 8, 9, 11, 12] {
        assert_eq!(sops[i].0, Some(0), "{:?}", cases[i].0);
        assert!(sops[i].1.is_empty(), "{:?}: {:?}", cases[i].0, sops[i].1);
    }
    assert_eq!(sops[10].0, Some(200));
    for (i, t) in [(13, "age"), (14, "pgp"), (15, "")] {
        assert_eq!(sops[i].0, Some(112), "{:?}", cases[i].0);
        assert_eq!(sops[i].2, format!("Duplicate decryption key type: {t}\n"));
    }
}

/// seal's own command line takes the flag too (a global option), and refuses a type named
/// twice with sops's exit code and a message that says what to do.
#[test]
fn seal_decrypt_takes_decryption_order() {
    let sb = common::Sandbox::new();
    sb.encrypted("e.yaml", "a: 1\n");
    let o = sb
        .seal()
        .args(["decrypt", "e.yaml", "--decryption-order", "pgp,age"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "a: 1\n");
    let o = sb
        .seal()
        .args(["--decryption-order", "age,pgp,age", "decrypt", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(112));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("names the key type \"age\" twice") && err.contains("name each type once"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// Issue 25: identity sources are read lazily. When `SOPS_AGE_KEY_FILE` opens the data key,
/// seal never runs `SOPS_AGE_KEY_CMD`. The real sops (3.11, measured here) loads every
/// source before it tries one, so it runs the command anyway; the decrypted output is
/// the same. This is a deliberate difference in side effects only.
#[test]
fn key_command_is_not_run_when_the_key_file_opens() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    let dir = fx._tmp.path().join("lazy-keycmd");
    copy_dir(&fx.seed, &dir);
    let script = dir.join("keys.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"${SOPS_AGE_RECIPIENT-unset}\" >> \"$LOG\"\ncat \"$KEYS\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_tool = |program: &Path, log: &Path, args: &[&str]| {
        std::fs::write(log, "").unwrap();
        let o = Command::new(program)
            .env_clear()
            .current_dir(&dir)
            .env("HOME", &fx.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .env("SOPS_AGE_KEY_CMD", &script)
            .env("LOG", log)
            .env("KEYS", key_file("bob"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{} {args:?}: {}",
            program.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.stdout, std::fs::read_to_string(log).unwrap())
    };
    let (a, b) = (recipient("alice"), recipient("bob"));
    let (encrypted, _) = run_tool(
        &common::sops_bin(),
        &dir.join("enc.log"),
        &["encrypt", "--age", &format!("{a},{b}"), "p.yaml"],
    );
    std::fs::write(dir.join("two.yaml"), encrypted).unwrap();
    let (sops_out, sops_log) = run_tool(
        &common::sops_bin(),
        &dir.join("sops.log"),
        &["decrypt", "two.yaml"],
    );
    let (seal_out, seal_log) = run_tool(&fx.link, &dir.join("seal.log"), &["decrypt", "two.yaml"]);
    assert_eq!(seal_out, sops_out);
    assert_eq!(sops_log, format!("{a}\n"), "what sops 3.11 does");
    assert_eq!(seal_log, "", "seal ran the key command");
}
