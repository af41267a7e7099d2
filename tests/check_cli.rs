//! `seal check` as users run it: exit codes (0 clean, 1 findings, 2 usage/I/O), explicit
//! files vs walks, `--staged` against a real git index, symlinks/binary/large files skipped
//! and counted, `--strict`, `--require-recipient`, `--output`, `--quiet`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{key_file, recipient, seal};

const PLAIN_SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-cli\n";

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// Encrypt `rel` in place in `dir` with alice's key.
fn encrypt(home: &Path, dir: &Path, rel: &str, recipients: &str) {
    seal(home)
        .current_dir(dir)
        .args(["encrypt", "-i", "--age", recipients, rel])
        .assert()
        .success();
}

#[test]
fn exit_codes_clean_findings_and_errors() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ok/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  a: b\n",
    );
    write(dir.path(), "bad/secret.yaml", PLAIN_SECRET);
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "ok"])
        .assert()
        .code(0);
    let out = seal(home.path())
        .current_dir(dir.path())
        .args(["check", "bad/secret.yaml"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("bad/secret.yaml") && stdout.contains("plaintext-secret"),
        "{stdout}"
    );
    assert!(
        stdout.contains("6:13"),
        "line:column of the value: {stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    // A path that does not exist, and an unknown flag: exit 2 with a message.
    let out = seal(home.path())
        .current_dir(dir.path())
        .args(["check", "missing.yaml"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("missing.yaml"), "{stderr}");
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--no-such-flag"])
        .assert()
        .code(2);
    // An invalid --require-recipient is a usage error.
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--require-recipient", "age1nope", "ok"])
        .assert()
        .code(2);
}

#[test]
fn staged_checks_the_index_not_the_working_tree() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    write(dir.path(), "secret.yaml", PLAIN_SECRET);
    encrypt(home.path(), dir.path(), "secret.yaml", &recipient("alice"));
    git(dir.path(), &["add", "secret.yaml"]);
    // The working tree now holds plaintext, the index the encrypted file: clean.
    write(dir.path(), "secret.yaml", PLAIN_SECRET);
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--staged"])
        .assert()
        .code(0);
    // Staging the plaintext makes it a finding; the working-tree walk agrees.
    git(dir.path(), &["add", "secret.yaml"]);
    let out = seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--staged", "--format", "json"])
        .assert()
        .code(1);
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["findings"][0]["rule"], "plaintext-secret");
    assert_eq!(json["findings"][0]["path"], "secret.yaml");
    // Outside a repository, --staged is a usage error.
    let plain = tempfile::tempdir().unwrap();
    seal(home.path())
        .current_dir(plain.path())
        .args(["check", "--staged"])
        .assert()
        .code(2);
}

#[test]
fn symlinks_binary_and_large_files_are_skipped_and_counted() {
    let home = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.yaml", PLAIN_SECRET);
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        dir.path().join("link.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).unwrap();
    // Binary: not UTF-8, with a NUL byte. Large: over 10 MiB, naming no Secret or key.
    std::fs::write(dir.path().join("blob.bin"), [0u8, 0xff, 0xfe, 1, 2, 3]).unwrap();
    let big = format!("kind: ConfigMap\n{}", "# padding\n".repeat(1_100_000));
    std::fs::write(dir.path().join("big.yaml"), big).unwrap();
    let out = seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--format", "json"])
        .assert()
        .code(0);
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let s = &json["summary"];
    assert_eq!(s["skipped_symlinks"], 2, "{s}");
    assert_eq!(s["skipped_binary"], 1, "{s}");
    assert_eq!(s["skipped_large"], 1, "{s}");
    assert_eq!(json["findings"].as_array().unwrap().len(), 0);
}

/// A plaintext Secret behind a NUL byte, or in a file too large to parse, is not skipped:
/// the gate fails closed (it skipped both, exit 0, before).
#[test]
fn secrets_in_nul_or_oversized_files_fail_closed() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut nul = PLAIN_SECRET.as_bytes().to_vec();
    nul.insert(0, 0);
    std::fs::write(dir.path().join("blob.yaml"), nul).unwrap();
    let big = format!("{PLAIN_SECRET}{}", "# padding\n".repeat(1_100_000));
    std::fs::write(dir.path().join("big.yaml"), big).unwrap();
    let out = seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--format", "json"])
        .assert()
        .code(1);
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    let mut paths: Vec<&str> = findings
        .iter()
        .filter(|f| f["rule"] == "parse-error" && f["severity"] == "error")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["big.yaml", "blob.yaml"], "{json}");
    assert_eq!(json["summary"]["skipped_binary"], 0);
    assert_eq!(json["summary"]["skipped_large"], 0);
}

#[test]
fn strict_and_required_recipients() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (recipient("alice"), recipient("bob"));
    write(
        dir.path(),
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: secrets/\n    age: {alice},{bob}\n"),
    );
    write(dir.path(), "secrets/db.yaml", PLAIN_SECRET);
    encrypt(home.path(), dir.path(), "secrets/db.yaml", &alice);
    // Drift is a warning: exit 0, reported; --strict makes it an error.
    let out = seal(home.path())
        .current_dir(dir.path())
        .arg("check")
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("recipient-drift") && stdout.contains(&bob),
        "{stdout}"
    );
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--strict"])
        .assert()
        .code(1);
    // --require-recipient (and its env var) demand a key.
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--require-recipient", &bob])
        .assert()
        .code(1);
    seal(home.path())
        .current_dir(dir.path())
        .env("SEAL_REQUIRE_RECIPIENT", &alice)
        .arg("check")
        .assert()
        .code(0);
    // updatekeys fixes the drift; then --strict passes.
    seal(home.path())
        .current_dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "-y", "secrets/db.yaml"])
        .assert()
        .success();
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--strict"])
        .assert()
        .code(0);
}

#[test]
fn output_file_and_quiet() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.yaml", PLAIN_SECRET);
    seal(home.path())
        .current_dir(dir.path())
        .args([
            "check",
            "--format",
            "sarif",
            "--output",
            "out.sarif",
            "secret.yaml",
        ])
        .assert()
        .code(1)
        .stdout("");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "plaintext-secret");
    std::fs::remove_file(dir.path().join("secret.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("out.sarif")).unwrap();
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "-q"])
        .assert()
        .code(0)
        .stdout("");
}

/// The hints of a `seal check --format json` run.
fn hints(home: &Path, dir: &Path) -> Vec<String> {
    let out = seal(home)
        .current_dir(dir)
        .args(["check", "--format", "json", "."])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["hint"].as_str().unwrap().to_string())
        .collect()
}

/// Run a command a hint quotes in backticks (`seal …`), with RECIPIENT filled in.
fn run_hint(home: &Path, dir: &Path, command: &str) {
    let command = command.replace("RECIPIENT", &recipient("alice"));
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "seal", "{command}");
    seal(home)
        .current_dir(dir)
        .args(&words[1..])
        .assert()
        .success();
}

#[test]
fn the_hint_for_an_unencrypted_secret_without_a_rule_is_a_command_that_works() {
    let home = tempfile::tempdir().unwrap();
    // 1. The `--age RECIPIENT` form.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "apps/db/secret.yaml", PLAIN_SECRET);
    let hint = hints(home.path(), dir.path()).remove(0);
    let command = hint.split('`').nth(1).expect("a command in backticks");
    assert_eq!(
        command, "seal encrypt -i --age RECIPIENT apps/db/secret.yaml",
        "{hint}"
    );
    run_hint(home.path(), dir.path(), command);
    assert!(hints(home.path(), dir.path()).is_empty());
    // 2. The creation rule it names, added to .sops.yaml, then the plain command.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "apps/db/secret.yaml", PLAIN_SECRET);
    let hint = hints(home.path(), dir.path()).remove(0);
    let rule = &hint[hint.find('{').unwrap()..=hint.find('}').unwrap()];
    let rule = rule.replace("RECIPIENT", &recipient("alice"));
    write(
        dir.path(),
        ".sops.yaml",
        &format!("creation_rules:\n  - {rule}\n"),
    );
    let command = hint
        .split('`')
        .nth(3)
        .expect("a second command in backticks");
    assert_eq!(command, "seal encrypt -i apps/db/secret.yaml", "{hint}");
    run_hint(home.path(), dir.path(), command);
    assert!(hints(home.path(), dir.path()).is_empty());
    // 3. With a rule that has keys, the plain command works as it is.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^apps/\n    age: {}\n",
            recipient("alice")
        ),
    );
    write(dir.path(), "apps/db/secret.yaml", PLAIN_SECRET);
    let hint = hints(home.path(), dir.path()).remove(0);
    let command = hint.split('`').nth(1).unwrap();
    assert_eq!(command, "seal encrypt -i apps/db/secret.yaml", "{hint}");
    run_hint(home.path(), dir.path(), command);
    assert!(hints(home.path(), dir.path()).is_empty());
}

/// The commands a hint quotes in backticks.
fn commands(hint: &str) -> Vec<String> {
    hint.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("seal "))
        .map(String::from)
        .collect()
}

/// Run a hint's command through the shell (its quoting is part of what is tested).
fn run_shell(home: &Path, dir: &Path, command: &str, stdin: &str) {
    let bin = assert_cmd::cargo::cargo_bin("seal");
    let command = command.replacen("seal ", &format!("{} ", bin.display()), 1);
    assert_cmd::Command::new("sh")
        .current_dir(dir)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEAL_NO_KEYRING", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["-c", &command])
        .write_stdin(stdin)
        .assert()
        .success();
}

#[test]
fn the_hints_for_plaintext_in_a_sops_file_are_commands_that_work() {
    let home = tempfile::tempdir().unwrap();
    let base = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-cli\n";
    // 1. A value added in plaintext where the selector encrypts: delete the line, set it.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "my app/secret.yaml", base);
    encrypt(
        home.path(),
        dir.path(),
        "my app/secret.yaml",
        &recipient("alice"),
    );
    let p = dir.path().join("my app/secret.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let added = text.replacen("stringData:\n", "stringData:\n  token: added-later\n", 1);
    std::fs::write(&p, &added).unwrap();
    let hint = hints(home.path(), dir.path()).remove(0);
    let cmds = commands(&hint);
    assert_eq!(cmds.len(), 1, "{hint}");
    assert!(
        cmds[0].starts_with("seal set --raw --value-stdin"),
        "{hint}"
    );
    std::fs::write(&p, &text).unwrap(); // "delete the line"
    run_shell(home.path(), dir.path(), &cmds[0], "new-token");
    assert!(hints(home.path(), dir.path()).is_empty());
    let out = seal(home.path())
        .current_dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "my app/secret.yaml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("token: new-token"));
    // 2. The selector narrowed after encryption, a value added: decrypt and encrypt again,
    //    for the file's own recipients (no rule covers it).
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.yaml", base);
    encrypt(home.path(), dir.path(), "secret.yaml", &recipient("alice"));
    let p = dir.path().join("secret.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let edited = text
        .replacen("stringData:\n", "stringData:\n  token: added-later\n", 1)
        .replace("^(data|stringData)$", "^password$");
    assert_ne!(edited, text);
    std::fs::write(&p, &edited).unwrap();
    let all = hints(home.path(), dir.path());
    assert_eq!(all.len(), 2, "{all:?}"); // plaintext-secret and narrow-selector
    for hint in &all {
        let cmds = commands(hint);
        assert_eq!(cmds.len(), 2, "{hint}");
        assert!(cmds[1].contains(&recipient("alice")), "{hint}");
    }
    for c in commands(&all[0]) {
        run_shell(home.path(), dir.path(), &c, "");
    }
    assert!(hints(home.path(), dir.path()).is_empty());
}

#[test]
fn a_narrow_selector_is_a_warning_and_an_error_under_strict() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/check-corpus/sops-secret-selector-narrowed/narrowed.yaml");
    std::fs::copy(&fixture, dir.path().join("narrowed.yaml")).unwrap();
    let out = seal(home.path())
        .current_dir(dir.path())
        .args(["check", "narrowed.yaml"])
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("warning  narrow-selector"), "{text}");
    seal(home.path())
        .current_dir(dir.path())
        .args(["check", "--strict", "narrowed.yaml"])
        .assert()
        .code(1);
}

#[test]
fn the_hint_for_a_file_with_a_forged_sops_block_works() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/check-corpus/sops-forged-age-stanza/secret.yaml");
    let text = std::fs::read_to_string(fixture).unwrap();
    write(dir.path(), "secret.yaml", &text);
    let all = hints(home.path(), dir.path());
    let hint = all
        .iter()
        .find(|h| h.starts_with("delete its `sops:` block first"))
        .unwrap_or_else(|| panic!("{all:?}"));
    // As the hint says: the block goes, then the first command.
    write(
        dir.path(),
        "secret.yaml",
        &text[..text.find("sops:").unwrap()],
    );
    let command = commands(hint).remove(0);
    run_hint(home.path(), dir.path(), &command);
    assert!(hints(home.path(), dir.path()).is_empty());
}

/// SealedSecrets: sealed values and templates over the sealed keys are clean; a literal
/// credential in spec.template.data, a value that cannot be sealed, and a plaintext Secret
/// with the SealedSecret's name (same file, or elsewhere in the scan) are errors.
#[test]
fn sealed_secrets_in_the_gate() {
    use base64::Engine;
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut raw = vec![1u8, 0];
    raw.extend((0..296u32).map(|i| (i * 7 % 251) as u8));
    let sealed_value = base64::engine::general_purpose::STANDARD.encode(raw);
    let sealed = |name: &str, template_data: &str, value: &str| {
        format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  encryptedData:\n    password: {value}\n  template:\n    metadata:\n      name: {name}\n      namespace: apps\n    data:\n{template_data}"
        )
    };
    let templated = "      url: 'postgres://app:{{ index . \"password\" }}@db:5432/app'\n      copy: '{{ .password }}'\n";
    write(
        dir.path(),
        "apps/db-sealed.yaml",
        &sealed("db", templated, &sealed_value),
    );
    let json = |args: &[&str]| -> Vec<(String, usize, String)> {
        let out = seal(home.path())
            .current_dir(dir.path())
            .args(["check", "--format", "json"])
            .args(args)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found: Vec<(String, usize, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap() as usize,
                    f["message"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            out.status.code(),
            Some(i32::from(!found.is_empty())),
            "{found:?}"
        );
        found
    };
    assert_eq!(json(&[]), []);

    let literal =
        "      api_token: hunter2-literal-token\n      url: 'postgres://app:hunter2pw@db/app'\n";
    write(
        dir.path(),
        "apps/api-sealed.yaml",
        &sealed("api", literal, &sealed_value),
    );
    write(
        dir.path(),
        "apps/web.yaml",
        &format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n  namespace: apps\nstringData:\n  password: hunter2-web\n",
            sealed("web", "      {}\n", "hunter2-not-sealed")
        ),
    );
    write(
        dir.path(),
        "other/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-db\n",
    );
    let found = json(&[]);
    let at = |path: &str, line: usize, what: &str| {
        assert!(
            found
                .iter()
                .any(|(p, l, m)| p == path && *l == line && m.contains(what)),
            "no {path}:{line} {what:?} in {found:#?}"
        );
    };
    at(
        "apps/api-sealed.yaml",
        14,
        "literal credential in spec.template.data[\"api_token\"]",
    );
    at("apps/api-sealed.yaml", 15, "spec.template.data[\"url\"]");
    at(
        "apps/web.yaml",
        8,
        "spec.encryptedData[\"password\"], which is not a sealed value",
    );
    at(
        "apps/web.yaml",
        16,
        "has the name of the SealedSecret in the same file",
    );
    at(
        "other/db.yaml",
        1,
        "has the name of the SealedSecret in apps/db-sealed.yaml",
    );
    at("other/db.yaml", 6, "holds stringData.password in plaintext");
    assert_eq!(found.len(), 7, "{found:#?}");
    assert!(
        found.iter().all(|(_, _, m)| !m.contains("hunter2")),
        "{found:#?}"
    );
    // Checked alone, the plaintext Secret has no SealedSecret to pair with.
    assert_eq!(json(&["other/db.yaml"]).len(), 1);
    // The finding made across files is allowed in the Secret's own file, as any other:
    // a directive above the object's first line.
    write(
        dir.path(),
        "other/db.yaml",
        "# seal:allow plaintext-secret kind fixture, paired on purpose\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-db # seal:allow plaintext-secret kind fixture\n",
    );
    let found = json(&[]);
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        found.iter().all(|(p, _, _)| p != "other/db.yaml"),
        "{found:#?}"
    );
}
