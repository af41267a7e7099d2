//! CLI tests for the key commands: `seal new-key` (age-keygen format, 0600, never
//! overwriting, passphrase files through SEAL_PASSPHRASE_FILE and a real pseudo-terminal,
//! the kernel keyring, `--add-to-config`) and `seal key list/export/public/forget`, with
//! interop against Debian's `age`/`age-keygen` and the real sops. Nothing is mocked: the
//! keyring tests run seal under `keyctl session -` (package keyutils) and fail, never
//! skip, when a peer is missing.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{key_file, recipient, seal, sops};
use predicates::prelude::*;

/// A Secret in the layout sops writes (4-space indent), so sops output compares equal.
const SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
    name: db
stringData:
    password: hunter2
";

fn seal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seal"))
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a peer tool (`age`, `age-keygen`, `keyctl`), failing clearly when it is missing.
fn peer(program: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{program} is needed by this test: install it (apt-get install {}), see scripts/install-peers.sh",
        if program == "keyctl" {
            "keyutils"
        } else {
            "age"
        }
    );
    Command::new(program)
}

/// `age-keygen -y FILE`.
fn age_keygen_y(file: &Path) -> String {
    let out = peer("age-keygen").arg("-y").arg(file).output().unwrap();
    assert!(out.status.success(), "age-keygen -y: {out:?}");
    stdout_of(&out).trim().to_string()
}

/// `age -r RECIPIENT` on `plain`, armored.
fn age_encrypt(recipient: &str, plain: &[u8]) -> Vec<u8> {
    let mut child = peer("age")
        .args(["-a", "-r", recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(plain).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// `age -d -i IDENTITY` on `cipher`.
fn age_decrypt(identity: &Path, cipher: &[u8]) -> std::process::Output {
    let mut child = peer("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(cipher).unwrap();
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The three lines of an age-keygen identity; returns the public key.
fn check_keygen_format(block: &str) -> String {
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines.len(), 3, "{block}");
    let created = lines[0].strip_prefix("# created: ").expect("created line");
    assert!(
        regex_like_rfc3339(created),
        "created is RFC 3339 UTC seconds: {created}"
    );
    let public = lines[1]
        .strip_prefix("# public key: age1")
        .map(|r| format!("age1{r}"))
        .expect("public key line");
    assert!(lines[2].starts_with("AGE-SECRET-KEY-1"), "secret line");
    assert_eq!(lines[2].len(), 74);
    public
}

fn regex_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------
// Plain identity files
// ---------------------------------------------------------------------------------------

#[test]
fn new_key_appends_to_the_default_keys_file_with_private_modes() {
    let t = tempfile::tempdir().unwrap();
    let first = seal(t.path()).arg("new-key").assert().success();
    let pub1 = stdout_of(first.get_output()).trim().to_string();
    let second = seal(t.path()).arg("new-key").assert().success();
    let pub2 = stdout_of(second.get_output()).trim().to_string();
    assert_ne!(pub1, pub2);
    let file = t.path().join(".config/sops/age/keys.txt");
    let text = fs::read_to_string(&file).unwrap();
    let blocks: Vec<String> = text
        .lines()
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|c| c.join("\n"))
        .collect();
    assert_eq!(blocks.len(), 2, "appended, not truncated: {text}");
    assert_eq!(check_keygen_format(&blocks[0]), pub1);
    assert_eq!(check_keygen_format(&blocks[1]), pub2);
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
    // age-keygen derives the same public keys from the file seal wrote.
    assert_eq!(age_keygen_y(&file), format!("{pub1}\n{pub2}"));
    // XDG_CONFIG_HOME moves the default file, as for sops.
    let xdg = t.path().join("xdg");
    seal(t.path())
        .env("XDG_CONFIG_HOME", &xdg)
        .arg("new-key")
        .assert()
        .success();
    assert!(xdg.join("sops/age/keys.txt").is_file());
}

#[test]
fn new_key_o_never_overwrites_and_dash_prints_the_identity() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("k.txt");
    fs::write(&f, "precious\n").unwrap();
    seal(t.path())
        .args(["new-key", "-o"])
        .arg(&f)
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(fs::read_to_string(&f).unwrap(), "precious\n");

    let fresh = t.path().join("new.txt");
    let out = seal(t.path())
        .args(["new-key", "-o"])
        .arg(&fresh)
        .assert()
        .success();
    let public = stdout_of(out.get_output()).trim().to_string();
    assert_eq!(
        check_keygen_format(&fs::read_to_string(&fresh).unwrap()),
        public
    );
    #[cfg(unix)]
    assert_eq!(mode(&fresh), 0o600);

    let out = seal(t.path())
        .args(["new-key", "-o", "-"])
        .assert()
        .success();
    let text = stdout_of(out.get_output());
    let public = check_keygen_format(&text);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(stderr.contains(&public), "{stderr}");
    assert!(!stderr.contains("AGE-SECRET-KEY"), "no secret on stderr");
    assert!(!t.path().join(".config").exists(), "-o - writes no file");
}

#[test]
fn seal_keys_work_with_age_and_sops_and_age_keygen_keys_work_with_seal() {
    let t = tempfile::tempdir().unwrap();
    // A key made by seal: age and age-keygen agree.
    let seal_key = t.path().join("seal.txt");
    let out = seal(t.path())
        .args(["new-key", "-o"])
        .arg(&seal_key)
        .assert()
        .success();
    let seal_pub = stdout_of(out.get_output()).trim().to_string();
    assert_eq!(age_keygen_y(&seal_key), seal_pub);
    let cipher = age_encrypt(&seal_pub, b"payload");
    let plain = age_decrypt(&seal_key, &cipher);
    assert!(plain.status.success(), "{plain:?}");
    assert_eq!(plain.stdout, b"payload");
    seal(t.path())
        .args(["key", "public"])
        .arg(&seal_key)
        .assert()
        .success()
        .stdout(format!("{seal_pub}\n"));

    // A key made by age-keygen: seal derives the same public key and decrypts with it.
    let keygen_key = t.path().join("keygen.txt");
    let out = peer("age-keygen")
        .arg("-o")
        .arg(&keygen_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let keygen_pub = age_keygen_y(&keygen_key);
    seal(t.path())
        .args(["key", "public", "-"])
        .write_stdin(fs::read(&keygen_key).unwrap())
        .assert()
        .success()
        .stdout(format!("{keygen_pub}\n"));

    // One file for both keys, by seal; sops opens it with the seal key, seal with the
    // age-keygen key.
    let plain_file = t.path().join("secret.yaml");
    fs::write(&plain_file, SECRET).unwrap();
    let enc = seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "--age", &format!("{seal_pub},{keygen_pub}")])
        .arg(&plain_file)
        .assert()
        .success();
    let enc_file = t.path().join("secret.enc.yaml");
    fs::write(&enc_file, &enc.get_output().stdout).unwrap();
    let out = sops(t.path())
        .env("SOPS_AGE_KEY_FILE", &seal_key)
        .arg("decrypt")
        .arg(&enc_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "sops with the seal key: {out:?}");
    assert_eq!(stdout_of(&out), SECRET);
    seal(t.path())
        .env("SOPS_AGE_KEY_FILE", &keygen_key)
        .arg("decrypt")
        .arg(&enc_file)
        .assert()
        .success()
        .stdout(SECRET);
}

#[test]
fn key_list_shows_public_keys_and_sources_never_secrets() {
    let t = tempfile::tempdir().unwrap();
    seal(t.path()).arg("new-key").assert().success();
    let out = seal(t.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .env("SEAL_NO_KEYRING", "1")
        .args(["key", "list"])
        .assert()
        .success();
    let stdout = stdout_of(out.get_output());
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{}  SOPS_AGE_KEY_FILE=", recipient("alice"))),
        "{stdout}"
    );
    assert!(
        lines[1].ends_with("  ~/.config/sops/age/keys.txt"),
        "{stdout}"
    );
    assert!(stderr.contains("SOPS_AGE_KEY_CMD: not set"), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains("AGE-SECRET-KEY"), "no secret: {text}");
    }
}

#[test]
fn key_public_refuses_junk_without_echoing_it() {
    let t = tempfile::tempdir().unwrap();
    let junk = t.path().join("junk.txt");
    fs::write(&junk, "AGE-SECRET-KEY-1NOTREALLYAKEY\n").unwrap();
    seal(t.path())
        .args(["key", "public"])
        .arg(&junk)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 1"))
        .stderr(predicate::str::contains("NOTREALLY").not());
}

// ---------------------------------------------------------------------------------------
// Passphrase-protected identity files
// ---------------------------------------------------------------------------------------

/// A passphrase file; returns its path.
fn passphrase_file(dir: &Path, pass: &str) -> PathBuf {
    let p = dir.join(format!("pass-{}.txt", pass.len()));
    fs::write(&p, format!("{pass}\n")).unwrap();
    p
}

/// An encrypted file for the Secret above, encrypted by seal for `public`.
fn encrypt_secret_for(dir: &Path, public: &str) -> PathBuf {
    let plain = dir.join("s.yaml");
    fs::write(&plain, SECRET).unwrap();
    let out = seal(dir)
        .args(["encrypt", "--age", public])
        .arg(&plain)
        .assert()
        .success();
    let enc = dir.join("s.enc.yaml");
    fs::write(&enc, &out.get_output().stdout).unwrap();
    enc
}

#[test]
fn passphrase_identity_via_seal_passphrase_file() {
    let t = tempfile::tempdir().unwrap();
    let pass = passphrase_file(t.path(), "correct horse battery");
    let enc_key = t.path().join("key.age");
    let out = seal(t.path())
        .env("SEAL_PASSPHRASE_FILE", &pass)
        .args(["new-key", "--passphrase", "-o"])
        .arg(&enc_key)
        .assert()
        .success();
    let public = stdout_of(out.get_output()).trim().to_string();
    let text = fs::read_to_string(&enc_key).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{text}"
    );
    assert!(!text.contains("AGE-SECRET-KEY"));
    #[cfg(unix)]
    assert_eq!(mode(&enc_key), 0o600);

    seal(t.path())
        .env("SEAL_PASSPHRASE_FILE", &pass)
        .args(["key", "public"])
        .arg(&enc_key)
        .assert()
        .success()
        .stdout(format!("{public}\n"));

    // seal decrypts with the encrypted identity file.
    let secret = encrypt_secret_for(t.path(), &public);
    seal(t.path())
        .env("SEAL_PASSPHRASE_FILE", &pass)
        .env("SOPS_AGE_KEY_FILE", &enc_key)
        .arg("decrypt")
        .arg(&secret)
        .assert()
        .success()
        .stdout(SECRET);
    // The wrong passphrase: exit 128, the reason, no secret.
    let wrong = passphrase_file(t.path(), "wrong");
    seal(t.path())
        .env("SEAL_PASSPHRASE_FILE", &wrong)
        .env("SOPS_AGE_KEY_FILE", &enc_key)
        .arg("decrypt")
        .arg(&secret)
        .assert()
        .code(128)
        .stdout(predicate::str::is_empty());
    seal(t.path())
        .env("SEAL_PASSPHRASE_FILE", &wrong)
        .args(["key", "public"])
        .arg(&enc_key)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("passphrase is wrong"));
}

#[test]
fn passphrase_without_terminal_or_file_is_a_clear_error_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    seal(t.path())
        .args(["new-key", "--passphrase"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SEAL_PASSPHRASE_FILE"));
    assert!(!t.path().join(".config/sops/age/keys.txt").exists());
    // An encrypted identity is never appended to an existing keys.txt.
    seal(t.path()).arg("new-key").assert().success();
    let before = fs::read(t.path().join(".config/sops/age/keys.txt")).unwrap();
    let pass = passphrase_file(t.path(), "pw-for-test");
    seal(t.path())
        .env("SEAL_PASSPHRASE_FILE", &pass)
        .args(["new-key", "--passphrase"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("-o FILE"));
    assert_eq!(
        fs::read(t.path().join(".config/sops/age/keys.txt")).unwrap(),
        before
    );
}

/// rexpect session for `cmd`, 60 s timeout (scrypt is slow on a shared machine).
fn pty(cmd: Command) -> rexpect::session::PtySession {
    rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawn in a pseudo-terminal")
}

fn hermetic(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("SEAL_NO_KEYRING", "1");
}

#[test]
fn passphrase_identity_through_a_pseudo_terminal_opens_with_age_seal_and_sops() {
    let t = tempfile::tempdir().unwrap();
    let enc_key = t.path().join("key.age");
    let mut cmd = Command::new(seal_bin());
    hermetic(&mut cmd, t.path());
    cmd.args(["new-key", "--passphrase", "-o"]).arg(&enc_key);
    let mut p = pty(cmd);
    p.exp_string("Passphrase for the new identity:").unwrap();
    p.send_line("tty secret 1").unwrap();
    p.exp_string("Confirm the passphrase:").unwrap();
    p.send_line("tty secret 1").unwrap();
    let (_, public) = p.exp_regex("age1[0-9a-z]{58}").unwrap();
    p.exp_eof().unwrap();
    assert!(enc_key.is_file());

    // Debian's age opens the file with the passphrase typed on its terminal.
    let mut cmd = peer("age");
    cmd.arg("-d").arg(&enc_key);
    let mut p = pty(cmd);
    p.exp_string("passphrase").unwrap();
    p.send_line("tty secret 1").unwrap();
    let (_, secret_public) = p.exp_regex("# public key: age1[0-9a-z]{58}").unwrap();
    p.exp_string("AGE-SECRET-KEY-1").unwrap();
    assert_eq!(secret_public, format!("# public key: {public}"));

    // seal asks once for the passphrase when a file needs the identity.
    let secret = encrypt_secret_for(t.path(), &public);
    let mut cmd = Command::new(seal_bin());
    hermetic(&mut cmd, t.path());
    cmd.env("SOPS_AGE_KEY_FILE", &enc_key)
        .arg("decrypt")
        .arg(&secret);
    let mut p = pty(cmd);
    p.exp_string("assphrase").unwrap();
    p.send_line("tty secret 1").unwrap();
    p.exp_string("password: hunter2").unwrap();
    p.exp_eof().unwrap();

    // The real sops 3.11 asks for the passphrase on its terminal and opens the file
    // (GNUPGHOME points nowhere, so no gpg-agent pinentry takes the prompt).
    let mut cmd = Command::new(common::sops_bin());
    hermetic(&mut cmd, t.path());
    cmd.env("SOPS_AGE_KEY_FILE", &enc_key)
        .env("GNUPGHOME", t.path().join("no-gnupg"))
        .arg("decrypt")
        .arg(&secret);
    let mut p = pty(cmd);
    p.exp_string("passphrase").unwrap();
    p.send_line("tty secret 1").unwrap();
    p.exp_string("password: hunter2").unwrap();
    p.exp_eof().unwrap();

    // Two different passphrases: refused, nothing written.
    let other = t.path().join("other.age");
    let mut cmd = Command::new(seal_bin());
    hermetic(&mut cmd, t.path());
    cmd.args(["new-key", "--passphrase", "-o"]).arg(&other);
    let mut p = pty(cmd);
    p.exp_string("Passphrase for the new identity:").unwrap();
    p.send_line("one").unwrap();
    p.exp_string("Confirm the passphrase:").unwrap();
    p.send_line("two").unwrap();
    p.exp_string("differ").unwrap();
    p.exp_eof().unwrap();
    assert!(!other.exists());
}

// ---------------------------------------------------------------------------------------
// The kernel keyring (real keyutils, each run in a fresh session keyring)
// ---------------------------------------------------------------------------------------

/// A command running `seal ARGS` under `keyctl session -` with a test-only service.
fn keyring_seal(home: &Path, service: &str, args: &[&str]) -> Command {
    let mut c = peer("keyctl");
    hermetic(&mut c, home);
    // The keyring under test: a test-only service in a fresh session keyring.
    c.env_remove("SEAL_NO_KEYRING")
        .env("SEAL_KEYRING_SERVICE", service)
        .args(["session", "-"])
        .arg(seal_bin())
        .args(args);
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{c:?}: {out:?}");
    stdout_of(&out)
}

/// Removes the test identities from the keyring even when the test fails.
struct ForgetOnDrop {
    home: PathBuf,
    service: String,
    keys: Vec<String>,
}

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        for k in &self.keys {
            let _ = keyring_seal(&self.home, &self.service, &["key", "forget", k]).output();
        }
    }
}

#[test]
fn keyring_round_trip_with_seal_and_real_sops() {
    let t = tempfile::tempdir().unwrap();
    let service = format!("seal-test-{}-{}", std::process::id(), line!());
    let mut cleanup = ForgetOnDrop {
        home: t.path().to_path_buf(),
        service: service.clone(),
        keys: Vec::new(),
    };
    let public = run_ok(keyring_seal(t.path(), &service, &["new-key", "--keyring"]))
        .trim()
        .to_string();
    cleanup.keys.push(public.clone());
    assert!(public.starts_with("age1"), "{public}");
    assert!(
        !t.path().join(".config").exists(),
        "nothing written to disk"
    );

    // Another run (another session keyring) finds it: list, export.
    let list = run_ok(keyring_seal(t.path(), &service, &["key", "list"]));
    assert_eq!(list, format!("{public}  keyring (service {service})\n"));
    let exported = run_ok(keyring_seal(
        t.path(),
        &service,
        &["key", "export", &public],
    ));
    assert!(exported.starts_with(&format!("# public key: {public}\nAGE-SECRET-KEY-1")));
    let exported_file = t.path().join("exported.txt");
    fs::write(&exported_file, &exported).unwrap();
    assert_eq!(age_keygen_y(&exported_file), public);
    fs::remove_file(&exported_file).unwrap();

    // seal decrypts with the keyring identity.
    let secret = encrypt_secret_for(t.path(), &public);
    let dec = run_ok(keyring_seal(
        t.path(),
        &service,
        &["decrypt", secret.to_str().unwrap()],
    ));
    assert_eq!(dec, SECRET);

    // The real sops uses it through SOPS_AGE_KEY_CMD="seal key export".
    let mut c = peer("keyctl");
    hermetic(&mut c, t.path());
    c.env_remove("SEAL_NO_KEYRING")
        .env("SEAL_KEYRING_SERVICE", &service)
        .env(
            "SOPS_AGE_KEY_CMD",
            format!("{} key export", seal_bin().display()),
        )
        .args(["session", "-"])
        .arg(common::sops_bin())
        .arg("decrypt")
        .arg(&secret);
    assert_eq!(run_ok(c), SECRET);

    // A second key: both listed, export without argument gives both.
    let second = run_ok(keyring_seal(t.path(), &service, &["new-key", "--keyring"]))
        .trim()
        .to_string();
    cleanup.keys.push(second.clone());
    let all = run_ok(keyring_seal(t.path(), &service, &["key", "export"]));
    assert_eq!(all.matches("AGE-SECRET-KEY-1").count(), 2);
    assert!(all.contains(&public) && all.contains(&second));

    // Forget: gone for seal, and decrypting now fails with 128 naming the keyring.
    run_ok(keyring_seal(
        t.path(),
        &service,
        &["key", "forget", &public],
    ));
    run_ok(keyring_seal(
        t.path(),
        &service,
        &["key", "forget", &second],
    ));
    let out = keyring_seal(t.path(), &service, &["decrypt", secret.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "keyring (service {service}): no identities stored"
        )),
        "{out:?}"
    );
    let out = keyring_seal(t.path(), &service, &["key", "export", &public])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no identity for"));
    cleanup.keys.clear();
}

// ---------------------------------------------------------------------------------------
// --add-to-config
// ---------------------------------------------------------------------------------------

#[test]
fn add_to_config_creates_then_extends_the_rule_and_sops_follows_it() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    fs::create_dir_all(repo.join("kubernetes/apps")).unwrap();
    let k1 = t.path().join("k1.txt");
    let k2 = t.path().join("k2.txt");
    let p1 = stdout_of(
        seal(t.path())
            .current_dir(&repo)
            .args(["new-key", "--add-to-config", "-o"])
            .arg(&k1)
            .assert()
            .success()
            .get_output(),
    )
    .trim()
    .to_string();
    let config = repo.join(".sops.yaml");
    let created = fs::read_to_string(&config).unwrap();
    assert!(created.contains(&format!("age: {p1}\n")), "{created}");
    assert!(created.contains("encrypted_regex: ^(data|stringData)$"));
    // A comment the user adds survives the next edit.
    let edited = created.replace(
        "creation_rules:\n",
        "creation_rules:\n  # reviewed by ops\n",
    );
    fs::write(&config, &edited).unwrap();
    let p2 = stdout_of(
        seal(t.path())
            .current_dir(&repo)
            .args(["new-key", "--add-to-config", "-o"])
            .arg(&k2)
            .assert()
            .success()
            .get_output(),
    )
    .trim()
    .to_string();
    let after = fs::read_to_string(&config).unwrap();
    assert_eq!(after, edited.replace(&p1, &format!("{p1},{p2}")));

    // seal encrypts for both; the real sops decrypts with either key.
    // The rule is the getting-started guide's: kubernetes/**/*.sops.yaml only.
    assert!(
        created.contains(r"path_regex: kubernetes/.*\.sops\.ya?ml$"),
        "{created}"
    );
    let plain = repo.join("kubernetes/apps/secret.sops.yaml");
    fs::write(&plain, SECRET).unwrap();
    seal(t.path())
        .current_dir(&repo)
        .args(["encrypt", "-i"])
        .arg(&plain)
        .assert()
        .success();
    let enc = fs::read_to_string(&plain).unwrap();
    assert!(enc.contains("name: db") && !enc.contains("hunter2"));
    for k in [&k1, &k2] {
        let out = sops(t.path())
            .current_dir(&repo)
            .env("SOPS_AGE_KEY_FILE", k)
            .arg("decrypt")
            .arg(&plain)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(stdout_of(&out), SECRET);
    }
}

#[test]
fn add_to_config_with_several_rules_needs_for_and_picks_the_matching_rule() {
    let t = tempfile::tempdir().unwrap();
    let a = recipient("alice");
    let b = recipient("bob");
    let text = format!(
        "creation_rules:\n  # production: admins only\n  - path_regex: ^prod/\n    age:\n      - {a}\n  - path_regex: ^dev/\n    age: {b} # team\n"
    );
    fs::write(t.path().join(".sops.yaml"), &text).unwrap();
    let key = t.path().join("k.txt");
    seal(t.path())
        .current_dir(t.path())
        .args(["new-key", "--add-to-config", "-o"])
        .arg(&key)
        .assert()
        .code(8)
        .stderr(predicate::str::contains("--for PATH"));
    assert!(
        !key.exists(),
        "nothing written when the config edit is refused"
    );
    assert_eq!(
        fs::read_to_string(t.path().join(".sops.yaml")).unwrap(),
        text
    );

    let out = seal(t.path())
        .current_dir(t.path())
        .args([
            "new-key",
            "--add-to-config",
            "--for",
            "dev/app/secret.yaml",
            "-o",
        ])
        .arg(&key)
        .assert()
        .success();
    let public = stdout_of(out.get_output()).trim().to_string();
    assert_eq!(
        fs::read_to_string(t.path().join(".sops.yaml")).unwrap(),
        text.replace(
            &format!("age: {b} # team"),
            &format!("age: {b},{public} # team")
        )
    );
    let out = seal(t.path())
        .current_dir(t.path())
        .args([
            "new-key",
            "--add-to-config",
            "--for",
            "prod/db.yaml",
            "-o",
            "-",
        ])
        .assert()
        .success();
    let text_out = stdout_of(out.get_output());
    let public2 = text_out
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let now = fs::read_to_string(t.path().join(".sops.yaml")).unwrap();
    assert!(
        now.contains(&format!(
            "      - {a}\n      - {public2}\n  - path_regex: ^dev/"
        )),
        "{now}"
    );
}

#[test]
fn seal_no_keyring_zero_or_false_leaves_the_keyring_on() {
    let t = tempfile::tempdir().unwrap();
    let service = format!("seal-test-{}-{}", std::process::id(), line!());
    let mut cleanup = ForgetOnDrop {
        home: t.path().to_path_buf(),
        service: service.clone(),
        keys: Vec::new(),
    };
    let public = run_ok(keyring_seal(t.path(), &service, &["new-key", "--keyring"]))
        .trim()
        .to_string();
    cleanup.keys.push(public.clone());
    for (value, listed) in [
        ("0", true),
        ("false", true),
        ("", true),
        ("1", false),
        ("true", false),
    ] {
        let mut c = keyring_seal(t.path(), &service, &["key", "list"]);
        c.env("SEAL_NO_KEYRING", value);
        let list = run_ok(c);
        assert_eq!(
            list.contains(&public),
            listed,
            "SEAL_NO_KEYRING={value:?}: {list}"
        );
    }
}

/// A fresh age public key (no key file from ../shared needed).
fn fresh_recipient() -> String {
    age::x25519::Identity::generate().to_public().to_string()
}

#[test]
fn add_to_config_on_key_groups_rules_and_repeated_for() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (fresh_recipient(), fresh_recipient());
    let text = format!(
        "creation_rules:\n  - path_regex: ^prod/\n    key_groups:\n      - age:\n          - {a}\n      # auditors\n      - age: {b}\n    shamir_threshold: 2\n  - path_regex: ^dev/\n    age: {b}\n"
    );
    let config = t.path().join(".sops.yaml");
    fs::write(&config, &text).unwrap();
    // Default: the first group's age list.
    let k1 = t.path().join("k1.txt");
    let out = seal(t.path())
        .args(["new-key", "--add-to-config", "--for", "prod/x.yaml", "-o"])
        .arg(&k1)
        .assert()
        .success();
    let p1 = stdout_of(out.get_output()).trim().to_string();
    assert_eq!(check_keygen_format(&fs::read_to_string(&k1).unwrap()), p1);
    let step1 = text.replace(
        &format!("          - {a}\n"),
        &format!("          - {a}\n          - {p1}\n"),
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), step1);
    // --group 2, and --for repeated: both rules get the key.
    let k2 = t.path().join("k2.txt");
    let out = seal(t.path())
        .args([
            "new-key",
            "--add-to-config",
            "--group",
            "2",
            "--for",
            "prod/x.yaml",
            "--for",
            "prod/y.yaml",
            "-o",
        ])
        .arg(&k2)
        .assert()
        .success();
    let p2 = stdout_of(out.get_output()).trim().to_string();
    let step2 = step1.replacen(&format!("- age: {b}\n"), &format!("- age: {b},{p2}\n"), 1);
    assert_eq!(fs::read_to_string(&config).unwrap(), step2);
    let k3 = t.path().join("k3.txt");
    let out = seal(t.path())
        .args([
            "new-key",
            "--add-to-config",
            "--for",
            "prod/x.yaml",
            "--for",
            "dev/x.yaml",
            "-o",
        ])
        .arg(&k3)
        .assert()
        .success();
    let p3 = stdout_of(out.get_output()).trim().to_string();
    let now = fs::read_to_string(&config).unwrap();
    assert!(
        now.contains(&format!("          - {p1}\n          - {p3}\n")),
        "{now}"
    );
    assert!(
        now.contains(&format!("^dev/\n    age: {b},{p3}\n")),
        "{now}"
    );
    // A group that does not exist, or a form seal cannot edit: no key is written and no
    // public key is named.
    let k4 = t.path().join("k4.txt");
    let out = seal(t.path())
        .args([
            "new-key",
            "--add-to-config",
            "--group",
            "3",
            "--for",
            "prod/x.yaml",
            "-o",
        ])
        .arg(&k4)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("2 key group(s)"), "{err}");
    assert!(!err.contains("age1"), "names no unsaved key: {err}");
    assert!(!k4.exists());
    fs::write(
        &config,
        format!("creation_rules:\n  - key_groups: [{{age: [{a}]}}]\n"),
    )
    .unwrap();
    let out = seal(t.path())
        .args(["new-key", "--add-to-config", "-o"])
        .arg(&k4)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(!err.contains("age1"), "names no unsaved key: {err}");
    assert!(!k4.exists());
}

#[test]
fn new_key_o_creates_missing_directories_privately() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("a/b/me.agekey");
    let out = seal(t.path())
        .args(["new-key", "-o"])
        .arg(&f)
        .assert()
        .success();
    let public = stdout_of(out.get_output()).trim().to_string();
    assert_eq!(
        check_keygen_format(&fs::read_to_string(&f).unwrap()),
        public
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&f), 0o600);
        assert_eq!(mode(&t.path().join("a")), 0o700);
        assert_eq!(mode(&t.path().join("a/b")), 0o700);
    }
}

#[cfg(unix)]
#[test]
fn appending_to_a_keys_file_open_to_others_makes_it_private_first() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    seal(t.path()).arg("new-key").assert().success();
    let file = t.path().join(".config/sops/age/keys.txt");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = seal(t.path()).arg("new-key").assert().success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("mode 0644") && err.contains("0600"), "{err}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(fs::read_to_string(&file).unwrap().lines().count(), 6);
    // A private file gets no message.
    let out = seal(t.path()).arg("new-key").assert().success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(!err.contains("0600"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Property: every generated key works with the age CLI
// ---------------------------------------------------------------------------------------

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8))]
    /// Any key seal generates parses with `age-keygen -y` (same public key as seal
    /// printed) and opens what `age -r` encrypted to its public key.
    #[test]
    fn generated_keys_parse_with_age_and_round_trip(payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let t = tempfile::tempdir().unwrap();
        let out = seal(t.path()).args(["new-key", "-o", "-"]).assert().success();
        let text = stdout_of(out.get_output());
        let public = check_keygen_format(&text);
        let key = t.path().join("k.txt");
        fs::write(&key, &text).unwrap();
        proptest::prop_assert_eq!(age_keygen_y(&key), public.clone());
        let cipher = age_encrypt(&public, &payload);
        let plain = age_decrypt(&key, &cipher);
        proptest::prop_assert!(plain.status.success());
        proptest::prop_assert_eq!(plain.stdout, payload);
    }
}
