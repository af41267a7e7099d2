//! Tests of the key layer: discovery, wrapping and unwrapping, key groups and Shamir.

use super::age::{KeyAttempt, dearmor, normalize_recipient, try_key};
use super::identities::exposure_warning;
use super::*;
use crate::metadata::AgeKey;
use std::io::Write;
use std::path::{Path, PathBuf};

use ::age::secrecy::SecretString;
use std::collections::HashMap;
use std::process::{Command, Stdio};

use ::age::secrecy::ExposeSecret;
use proptest::prelude::*;

const CONFORMANCE: crate::testdata::SharedDir = crate::testdata::SharedDir("conformance");
const ALICE_PUB: &str = "age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx";

/// A fake environment: variables from a map, a home directory, never interactive.
struct FakeEnv {
    vars: HashMap<String, String>,
    home: Option<PathBuf>,
    keyring: bool,
}

impl FakeEnv {
    fn new(home: &Path) -> FakeEnv {
        FakeEnv {
            vars: HashMap::new(),
            home: Some(home.to_path_buf()),
            keyring: false,
        }
    }
    fn set(mut self, k: &str, v: impl Into<String>) -> FakeEnv {
        self.vars.insert(k.to_string(), v.into());
        self
    }
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn home(&self) -> Option<PathBuf> {
        self.home.clone()
    }
    fn use_keyring(&self) -> bool {
        self.keyring
    }
}

fn keyfile(name: &str) -> String {
    format!("{CONFORMANCE}/keys/{name}.txt")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).expect("test fixture is readable")
}

fn gen_identity() -> (String, String) {
    let id = ::age::x25519::Identity::generate();
    (
        id.to_string().expose_secret().to_string(),
        id.to_public().to_string(),
    )
}

fn identities_from_text(text: &str) -> Identities {
    let home = tempfile::tempdir().expect("tempdir");
    Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY", text))
}

fn outcome<'a>(ids: &'a Identities, source_prefix: &str) -> &'a str {
    ids.report
        .iter()
        .find(|r| r.source.starts_with(source_prefix))
        .map(|r| r.outcome.as_str())
        .unwrap_or_else(|| panic!("no report for {source_prefix}: {:?}", ids.report))
}

#[test]
fn entries_name_public_keys_and_sources_and_the_keyring_stays_off_in_tests() {
    let home = tempfile::tempdir().expect("tempdir");
    let (s1, p1) = gen_identity();
    let ids = Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY", s1));
    assert_eq!(
        ids.entries(),
        vec![IdentityEntry {
            public_key: Some(p1),
            source: "SOPS_AGE_KEY".to_string(),
            passphrase_protected: false,
        }]
    );
    assert!(!ids.report.iter().any(|r| r.source.starts_with("keyring")));
}

#[test]
fn public_keys_of_plain_text_and_refusals() {
    let home = tempfile::tempdir().expect("tempdir");
    let env = FakeEnv::new(home.path());
    let (s1, p1) = gen_identity();
    let (s2, p2) = gen_identity();
    let text = format!("# c\n{s1}\n\n{s2}\n");
    assert_eq!(
        public_keys_of(text.as_bytes(), "t", &env).expect("ok"),
        vec![p1, p2]
    );
    let e = public_keys_of(b"# only a comment\n", "t", &env).expect_err("empty");
    assert!(e.contains("no identity"), "{e}");
    let e = public_keys_of(b"-----BEGIN AGE ENCRYPTED FILE-----\n", "t", &env)
        .expect_err("no passphrase source");
    assert!(e.contains("SEAL_PASSPHRASE_FILE"), "{e}");
    let junk = public_keys_of(b"AGE-SECRET-KEY-1SECRETJUNK\n", "t", &env).expect_err("junk");
    assert!(
        junk.contains("line 1") && !junk.contains("SECRETJUNK"),
        "{junk}"
    );
}

#[test]
fn configured_passphrase_prefers_the_file() {
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("p");
    std::fs::write(&file, "from file\nignored\n").expect("write");
    let env = FakeEnv::new(home.path());
    assert!(configured_passphrase(&env).is_none());
    let env = env.set("SEAL_PASSPHRASE", "from var");
    let got = configured_passphrase(&env).expect("set").expect("ok");
    assert_eq!(got.expose_secret(), "from var");
    let env = env.set("SEAL_PASSPHRASE_FILE", file.to_string_lossy().to_string());
    let got = configured_passphrase(&env).expect("set").expect("ok");
    assert_eq!(got.expose_secret(), "from file");
}

/// The armored `enc` blocks of a sops YAML file, in order (indentation removed).
fn enc_blocks(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in yaml.lines() {
        let t = line.trim();
        if let Some(c) = cur.as_mut() {
            c.push_str(t);
            c.push('\n');
            if t == "-----END AGE ENCRYPTED FILE-----" {
                out.extend(cur.take());
            }
        } else if t == "-----BEGIN AGE ENCRYPTED FILE-----" {
            cur = Some(format!("{t}\n"));
        }
    }
    out
}

/// `age -d -i identity_file` on `armored` (fails the test when age is missing).
fn age_cli_decrypt(identity_file: &Path, armored: &str) -> Vec<u8> {
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `age` CLI must be installed for the interop tests");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(armored.as_bytes())
        .expect("write to age");
    let out = child.wait_with_output().expect("age runs");
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn ssh_keygen(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "test@seal",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen must be installed for the SSH tests");
    assert!(status.success());
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("pub key");
    (path, public.trim().to_string())
}

// ---- wrap / unwrap -------------------------------------------------------------

#[test]
fn wrap_makes_one_armored_single_stanza_file() {
    let (_, public) = gen_identity();
    let enc = wrap(&public, &[7u8; 32]).expect("wrap");
    assert!(
        enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{enc}"
    );
    assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"), "{enc}");
    assert!(enc.lines().all(|l| l.len() <= 64));
    let raw = dearmor(&enc).expect("dearmor");
    let header_end = raw
        .windows(4)
        .position(|w| w == b"\n---")
        .expect("header end");
    let header = String::from_utf8_lossy(&raw[..header_end]);
    // One recipient stanza; the age crate adds a random `*-grease` stanza that every
    // age implementation (Go age, sops) ignores.
    let stanzas: Vec<&str> = header
        .split("\n-> ")
        .skip(1)
        .filter_map(|st| st.split([' ', '\n']).next())
        .filter(|tag| !tag.ends_with("-grease"))
        .collect();
    assert_eq!(stanzas, ["X25519"], "{header}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn wrap_unwrap_round_trip(payload in proptest::collection::vec(any::<u8>(), 32..=33)) {
        let (secret, public) = gen_identity();
        let ids = identities_from_text(&secret);
        let key = AgeKey { recipient: public.clone(), enc: wrap(&public, &payload).expect("wrap") };
        let got = unwrap_one(&key, &ids).expect("no error").expect("opens");
        prop_assert_eq!(&got[..], &payload[..]);
        // Another identity does not open it.
        let (other, _) = gen_identity();
        let ids2 = identities_from_text(&other);
        prop_assert!(unwrap_one(&key, &ids2).expect("no error").is_none());
    }
}

#[test]
fn unwraps_real_sops_file_like_the_age_cli() {
    let yaml = read(&format!(
        "{CONFORMANCE}/cases/k8s-secret-encrypted-regex/enc.yaml"
    ));
    let blocks = enc_blocks(&yaml);
    assert_eq!(blocks.len(), 1);
    let ids = identities_from_text(&read(&keyfile("alice")));
    let key = AgeKey {
        recipient: ALICE_PUB.to_string(),
        enc: blocks[0].clone(),
    };
    let ours = unwrap_one(&key, &ids)
        .expect("no error")
        .expect("alice opens it");
    let theirs = age_cli_decrypt(Path::new(&keyfile("alice")), &blocks[0]);
    assert_eq!(ours.len(), 32);
    assert_eq!(&ours[..], &theirs[..]);
    // bob cannot.
    let bob = identities_from_text(&read(&keyfile("bob")));
    assert!(unwrap_one(&key, &bob).expect("no error").is_none());
}

#[test]
fn age_cli_decrypts_what_wrap_makes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret, public) = gen_identity();
    let idfile = dir.path().join("keys.txt");
    std::fs::write(&idfile, format!("{secret}\n")).expect("write");
    let payload: Vec<u8> = (0u8..33).collect();
    let enc = wrap(&public, &payload).expect("wrap");
    assert_eq!(age_cli_decrypt(&idfile, &enc), payload);

    let (ssh_key, ssh_pub) = ssh_keygen(dir.path(), "id_ed25519", "");
    let enc = wrap(&ssh_pub, &payload).expect("wrap ssh");
    assert_eq!(age_cli_decrypt(&ssh_key, &enc), payload);
}

/// Real sops 3.11 decrypts a file whose `age` entry seal wrote (x25519 and SSH).
/// Fails (never skips) when the real sops is missing.
#[test]
fn real_sops_accepts_what_wrap_makes() {
    let sops_path = crate::testdata::sops_bin();
    let sops = sops_path.as_path();
    let case = format!("{CONFORMANCE}/cases/k8s-secret-encrypted-regex");
    let yaml = read(&format!("{case}/enc.yaml"));
    let expected = std::fs::read(format!("{case}/dec.yaml")).expect("dec.yaml");
    let old = enc_blocks(&yaml).remove(0);
    let data_key = age_cli_decrypt(Path::new(&keyfile("alice")), &old);
    let indent = |block: &str| {
        block
            .lines()
            .map(|l| format!("            {l}\n"))
            .collect::<String>()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let (ssh_key, ssh_pub) = ssh_keygen(dir.path(), "id_test", "");
    for (recipient, env_name, env_value) in [
        (ALICE_PUB.to_string(), "SOPS_AGE_KEY_FILE", keyfile("alice")),
        (
            ssh_pub.clone(),
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            ssh_key.to_string_lossy().into_owned(),
        ),
    ] {
        let new = wrap(&recipient, &data_key).expect("wrap");
        let edited = yaml.replace(&indent(&old), &indent(&new)).replace(
            &format!("- recipient: {ALICE_PUB}"),
            &format!("- recipient: {recipient}"),
        );
        assert_ne!(edited, yaml);
        let file = dir.path().join("enc.yaml");
        std::fs::write(&file, edited).expect("write");
        let out = Command::new(sops)
            .arg("decrypt")
            .arg(&file)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin")
            .env(env_name, env_value)
            .output()
            .expect("sops runs");
        assert!(
            out.status.success(),
            "sops failed for {recipient}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, expected);
    }
}

#[test]
fn malformed_enc_is_an_error_naming_the_recipient() {
    let ids = identities_from_text(&read(&keyfile("alice")));
    let key = AgeKey {
        recipient: ALICE_PUB.to_string(),
        enc: "-----BEGIN AGE ENCRYPTED FILE-----\nnot base64!\n-----END AGE ENCRYPTED FILE-----\n"
            .to_string(),
    };
    match unwrap_one(&key, &ids) {
        Err(KeyError::NoMatchingIdentity { detail, .. }) => {
            assert!(detail.contains(ALICE_PUB), "{detail}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn matching_identity_is_tried_first() {
    let (s1, _) = gen_identity();
    let (s2, p2) = gen_identity();
    let ids = identities_from_text(&format!("{s1}\n{s2}\n"));
    let key = AgeKey {
        recipient: p2.clone(),
        enc: wrap(&p2, &[1; 32]).expect("wrap"),
    };
    let target = normalize_recipient(&key.recipient);
    assert_eq!(ids.info[1].recipient.as_deref(), Some(target.as_str()));
    assert!(unwrap_one(&key, &ids).expect("ok").is_some());
}

// ---- recipients ----------------------------------------------------------------

#[test]
fn recipients_are_checked_with_clear_messages() {
    assert!(check_recipient(ALICE_PUB).is_ok());
    assert!(check_recipient(&format!("  {ALICE_PUB} ")).is_ok());
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, ssh_pub) = ssh_keygen(dir.path(), "k", "");
    assert!(ssh_pub.ends_with(" test@seal"));
    assert!(check_recipient(&ssh_pub).is_ok());

    let e = check_recipient("hello").expect_err("garbage");
    let msg = e.to_string();
    assert!(msg.contains("age1") && msg.contains("ssh-ed25519"), "{msg}");
    assert!(matches!(e, KeyError::BadRecipient { .. }));

    // Last character changed (still in the bech32 alphabet): bad checksum.
    assert!(ALICE_PUB.ends_with('x'));
    let broken = format!("{}q", &ALICE_PUB[..ALICE_PUB.len() - 1]);
    assert!(matches!(
        check_recipient(&broken),
        Err(KeyError::BadRecipient { .. })
    ));
    // Plugin recipients are checked as bech32 (the plugin itself judges the payload).
    let e = check_recipient("age1yubikey1qwertyqwerty").expect_err("bad plugin recipient");
    assert!(
        matches!(&e, KeyError::BadRecipient { reason, .. } if reason.contains("plugin")),
        "{e}"
    );
    assert!(check_recipient("").is_err());
    let e = check_recipient("ssh-dss AAAAB3NzaC1kc3MAAACBAP1 x").expect_err("dss");
    assert!(matches!(e, KeyError::BadRecipient { .. }));
}

// ---- discovery -----------------------------------------------------------------

#[test]
fn nothing_configured_reports_every_source() {
    let home = tempfile::tempdir().expect("tempdir");
    let ids = Identities::discover(&FakeEnv::new(home.path()));
    assert!(ids.is_empty());
    let sources: Vec<&str> = ids.report.iter().map(|r| r.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
            "~/.ssh/id_ed25519",
            "~/.ssh/id_rsa",
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_FILE",
            "SOPS_AGE_KEY_CMD",
            "~/.config/sops/age/keys.txt",
        ]
    );
    assert_eq!(outcome(&ids, "~/.config"), "does not exist");
    assert_eq!(outcome(&ids, "SOPS_AGE_KEY_FILE"), "not set");
    let text = ids.report_text();
    assert!(
        text.contains("  ~/.config/sops/age/keys.txt: does not exist"),
        "{text}"
    );
}

#[test]
fn all_sources_are_merged_in_sops_order() {
    let home = tempfile::tempdir().expect("tempdir");
    let xdg = home.path().join("xdg");
    std::fs::create_dir_all(xdg.join("sops/age")).expect("mkdir");
    let (dflt, dflt_pub) = gen_identity();
    std::fs::write(
        xdg.join("sops/age/keys.txt"),
        format!("# default\n{dflt}\n"),
    )
    .expect("w");
    let env = FakeEnv::new(home.path())
        .set("SOPS_AGE_KEY", read(&keyfile("alice")))
        .set("SOPS_AGE_KEY_FILE", keyfile("bob"))
        .set("SOPS_AGE_KEY_CMD", format!("cat '{}'", keyfile("carol")))
        .set("XDG_CONFIG_HOME", xdg.to_string_lossy());
    let ids = Identities::discover(&env);
    let pubs: Vec<String> = read(&format!("{CONFORMANCE}/keys/recipients.txt"))
        .lines()
        .filter(|l| l.starts_with("age1"))
        .map(str::to_string)
        .collect();
    assert_eq!(pubs.len(), 3);
    let mut want = pubs.clone();
    want.push(dflt_pub.clone());
    assert_eq!(ids.public_keys, want);
    assert_eq!(ids.identities.len(), 4);
    assert_eq!(
        outcome(&ids, "SOPS_AGE_KEY_FILE"),
        format!("1 identity ({}…)", &pubs[1][..16])
    );
    let file_report = ids
        .report
        .iter()
        .find(|r| r.source.starts_with("SOPS_AGE_KEY_FILE="))
        .expect("file report");
    assert_eq!(
        file_report.source,
        format!("SOPS_AGE_KEY_FILE={}", keyfile("bob"))
    );
    assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=").starts_with("1 identity"));
    let xdg_label = format!("{}/sops/age/keys.txt", xdg.display());
    assert!(outcome(&ids, &xdg_label).starts_with("1 identity"));
}

#[test]
fn a_broken_source_does_not_stop_the_others_and_never_leaks_secrets() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join(".config/sops/age")).expect("mkdir");
    std::fs::copy(
        keyfile("alice"),
        home.path().join(".config/sops/age/keys.txt"),
    )
    .expect("copy");
    let (secret, _) = gen_identity();
    let broken = home.path().join("broken.txt");
    // A key with a typo in its prefix on line 2 (must not be echoed).
    let typo = secret.replacen("AGE-SECRET-KEY-1", "AGE-SECRET-KEY-2", 1);
    std::fs::write(&broken, format!("# comment\n{typo}\n{secret}\n")).expect("write");
    let env = FakeEnv::new(home.path())
        .set("SOPS_AGE_KEY_FILE", broken.to_string_lossy())
        .set("SOPS_AGE_KEY_CMD", "definitely-not-a-command-seal-test")
        .set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "/nonexistent/seal/key");
    let ids = Identities::discover(&env);
    assert_eq!(ids.public_keys, [ALICE_PUB]);
    let o = outcome(&ids, "SOPS_AGE_KEY_FILE=");
    assert!(o.contains("line 2 is not an age identity"), "{o}");
    assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=").contains("cannot run"));
    assert_eq!(
        outcome(&ids, "SOPS_AGE_SSH_PRIVATE_KEY_FILE="),
        "does not exist"
    );
    let all = format!("{:?}", ids.report);
    let body = &secret["AGE-SECRET-KEY-1".len()..];
    assert!(!all.contains(body), "a secret leaked into the report");

    // A bad checksum is named by line too.
    let mut chars: Vec<char> = secret.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'Q' { 'P' } else { 'Q' };
    let bad: String = chars.into_iter().collect();
    let ids = identities_from_text(&format!("\n{bad}\n"));
    assert!(ids.is_empty());
    let o = outcome(&ids, "SOPS_AGE_KEY");
    assert!(o.contains("line 2 is not a valid AGE-SECRET-KEY-1"), "{o}");
    assert!(!o.contains(&bad[20..]));
}

#[test]
fn plugin_identities_are_loaded_and_a_missing_plugin_is_reported() {
    let (secret, public) = gen_identity();
    let plugin = ::age::plugin::Identity::default_for_plugin("sealabsent").expect("name");
    let text = format!("{plugin}\n{secret}\n");
    let ids = identities_from_text(&text);
    assert_eq!(ids.public_keys, [public]);
    let o = outcome(&ids, "SOPS_AGE_KEY");
    assert!(
        o.contains("1 identity")
            && o.contains("1 age plugin identity (sealabsent) cannot be used")
            && o.contains("age-plugin-sealabsent is not on PATH"),
        "{o}"
    );
    // A broken plugin identity line is an error naming the line, not its content.
    let ids = identities_from_text("# c\nAGE-PLUGIN-YUBIKEY-1QQQQQQQQQQ\n");
    let o = outcome(&ids, "SOPS_AGE_KEY");
    assert!(
        o.contains("line 2 is not a valid AGE-PLUGIN-… identity"),
        "{o}"
    );
    assert!(!o.contains("1QQQQQQQQQQ"), "{o}");
}

#[test]
fn ssh_private_key_command_gives_an_ssh_identity() {
    // sops 3.12's SOPS_AGE_SSH_PRIVATE_KEY_CMD: stdout is one unencrypted SSH private key,
    // read after SOPS_AGE_SSH_PRIVATE_KEY_FILE and before ~/.ssh.
    let home = tempfile::tempdir().expect("tempdir");
    let key = home.path().join("id");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen is required");
    assert!(o.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    let public: String = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let cmd = format!("cat {}", key.display());
    let ids = Identities::discover(
        &FakeEnv::new(home.path()).set("SOPS_AGE_SSH_PRIVATE_KEY_CMD", cmd.clone()),
    );
    assert_eq!(ids.public_keys, std::slice::from_ref(&public));
    let labels: Vec<&str> = ids.report.iter().map(|r| r.source.as_str()).collect();
    let at = |p: &str| labels.iter().position(|l| l.starts_with(p)).expect(p);
    assert!(at("SOPS_AGE_SSH_PRIVATE_KEY_FILE") < at("SOPS_AGE_SSH_PRIVATE_KEY_CMD"));
    assert!(at("SOPS_AGE_SSH_PRIVATE_KEY_CMD") < at("~/.ssh/id_ed25519"));
    let payload = [9u8; 32];
    let k = AgeKey {
        recipient: public.clone(),
        enc: wrap(&public, &payload).expect("wrap"),
    };
    assert_eq!(
        unwrap_one(&k, &ids)
            .expect("ok")
            .expect("opened")
            .as_slice(),
        &payload
    );
    // A passphrase-protected key from the command is refused, as sops does.
    let locked = home.path().join("locked");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "pw", "-C", "t", "-f"])
        .arg(&locked)
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success());
    let ids = Identities::discover(&FakeEnv::new(home.path()).set(
        "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
        format!("cat {}", locked.display()),
    ));
    assert!(ids.is_empty());
    assert!(
        outcome(&ids, "SOPS_AGE_SSH_PRIVATE_KEY_CMD=").contains("passphrase-protected"),
        "{:?}",
        ids.report
    );
}

#[test]
fn sops_age_key_holds_identities_separated_by_spaces() {
    // sops 3.13: every whitespace-separated word of SOPS_AGE_KEY is an identity; files
    // and key commands keep one identity per line.
    let (s1, p1) = gen_identity();
    let (s2, p2) = gen_identity();
    let ids = identities_from_text(&format!("{s1} {s2}\n"));
    assert_eq!(ids.public_keys, [p1, p2]);
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("keys.txt");
    std::fs::write(&file, format!("{s1} {s2}\n")).expect("write");
    let ids = Identities::discover(
        &FakeEnv::new(home.path()).set("SOPS_AGE_KEY_FILE", file.to_string_lossy()),
    );
    assert!(ids.is_empty());
    assert!(outcome(&ids, "SOPS_AGE_KEY_FILE").contains("line 1 is not a valid"));
}

#[test]
fn failing_key_command_is_reported() {
    let home = tempfile::tempdir().expect("tempdir");
    let ids = Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY_CMD", "false"));
    assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=false").contains("failed"));
    let ids =
        Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY_CMD", "echo 'oops"));
    assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=").contains("cannot split"));
}

#[test]
fn ssh_keys_from_home_and_env() {
    let home = tempfile::tempdir().expect("tempdir");
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).expect("mkdir");
    let (_, home_pub) = ssh_keygen(&ssh, "id_ed25519", "");
    let other = tempfile::tempdir().expect("tempdir");
    let (env_key, env_pub) = ssh_keygen(other.path(), "deploy", "");
    let env =
        FakeEnv::new(home.path()).set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", env_key.to_string_lossy());
    let ids = Identities::discover(&env);
    assert_eq!(ids.public_keys.len(), 2);
    assert_eq!(ids.public_keys[0], normalize_recipient(&env_pub));
    assert_eq!(ids.public_keys[1], normalize_recipient(&home_pub));
    assert!(outcome(&ids, "~/.ssh/id_ed25519").starts_with("ssh-ed25519 key (ssh-ed25519 AAAA"));
    assert_eq!(outcome(&ids, "~/.ssh/id_rsa"), "does not exist");
    for public in [&env_pub, &home_pub] {
        let key = AgeKey {
            recipient: public.clone(),
            enc: wrap(public, &[9; 32]).expect("wrap"),
        };
        assert_eq!(
            &unwrap_one(&key, &ids).expect("ok").expect("opens")[..],
            &[9; 32]
        );
    }
    // An age key file pointed at SSH_PRIVATE_KEY_FILE is not an SSH key.
    let env = FakeEnv::new(other.path()).set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", keyfile("alice"));
    let ids = Identities::discover(&env);
    assert!(ids.is_empty());
    assert!(outcome(&ids, "SOPS_AGE_SSH_PRIVATE_KEY_FILE=").contains("not a supported SSH"));
}

#[test]
fn passphrase_protected_ssh_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key_path, public) = ssh_keygen(dir.path(), "enc_key", "s3cret pass");
    let enc = wrap(&public, &[5; 32]).expect("wrap");
    let key = AgeKey {
        recipient: public.clone(),
        enc,
    };
    let base =
        FakeEnv::new(dir.path()).set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key_path.to_string_lossy());
    let ids = Identities::discover(&base.set("SEAL_PASSPHRASE", "s3cret pass"));
    assert!(outcome(&ids, "SOPS_AGE_SSH").contains("passphrase-protected key"));
    assert_eq!(
        &unwrap_one(&key, &ids).expect("ok").expect("opens")[..],
        &[5; 32]
    );
    // Without a passphrase: no match, with a reason.
    let ids = Identities::discover(
        &FakeEnv::new(dir.path()).set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key_path.to_string_lossy()),
    );
    let mut notes = Vec::new();
    assert!(matches!(
        try_key(&key, &ids, &mut notes),
        KeyAttempt::NoMatch
    ));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no passphrase is available")),
        "{notes:?}"
    );
}

/// An armored, passphrase-encrypted identity file made with a low scrypt work factor.
fn encrypted_identity_file(identities: &str, passphrase: &str) -> Vec<u8> {
    let mut r = ::age::scrypt::Recipient::new(SecretString::from(passphrase.to_string()));
    r.set_work_factor(4);
    let enc = ::age::Encryptor::with_recipients(std::iter::once(&r as &dyn ::age::Recipient))
        .expect("encryptor");
    let mut out = Vec::new();
    let armor =
        ::age::armor::ArmoredWriter::wrap_output(&mut out, ::age::armor::Format::AsciiArmor)
            .expect("armor");
    let mut w = enc.wrap_output(armor).expect("wrap");
    w.write_all(identities.as_bytes()).expect("write");
    w.finish().and_then(|a| a.finish()).expect("finish");
    out
}

#[test]
fn encrypted_identity_file_with_passphrase_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret, public) = gen_identity();
    let file = dir.path().join("keys.txt.age");
    std::fs::write(
        &file,
        encrypted_identity_file(&format!("{secret}\n"), "hunter2"),
    )
    .expect("write");
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "hunter2\nignored second line\n").expect("write");
    let key = AgeKey {
        recipient: public.clone(),
        enc: wrap(&public, &[3; 32]).expect("wrap"),
    };
    let env = || FakeEnv::new(dir.path()).set("SOPS_AGE_KEY_FILE", file.to_string_lossy());

    let ids = Identities::discover(&env().set("SEAL_PASSPHRASE_FILE", pwfile.to_string_lossy()));
    assert!(outcome(&ids, "SOPS_AGE_KEY_FILE=").contains("passphrase-protected identity file"));
    assert_eq!(
        &unwrap_one(&key, &ids).expect("ok").expect("opens")[..],
        &[3; 32]
    );

    let ids = Identities::discover(&env().set("SEAL_PASSPHRASE", "hunter2"));
    assert!(unwrap_one(&key, &ids).expect("ok").is_some());

    let ids = Identities::discover(&env().set("SEAL_PASSPHRASE", "wrong"));
    let mut notes = Vec::new();
    assert!(matches!(
        try_key(&key, &ids, &mut notes),
        KeyAttempt::NoMatch
    ));
    assert!(
        notes.iter().any(|n| n.contains("wrong passphrase")),
        "{notes:?}"
    );

    let ids = Identities::discover(&env());
    let mut notes = Vec::new();
    assert!(matches!(
        try_key(&key, &ids, &mut notes),
        KeyAttempt::NoMatch
    ));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("SEAL_PASSPHRASE_FILE or SEAL_PASSPHRASE")),
        "{notes:?}"
    );
}

#[test]
fn a_locked_identity_does_not_hide_a_plain_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (locked, _) = gen_identity();
    let file = dir.path().join("locked.age");
    std::fs::write(&file, encrypted_identity_file(&locked, "pw")).expect("write");
    std::fs::create_dir_all(dir.path().join(".config/sops/age")).expect("mkdir");
    std::fs::copy(
        keyfile("alice"),
        dir.path().join(".config/sops/age/keys.txt"),
    )
    .expect("copy");
    let ids = Identities::discover(
        &FakeEnv::new(dir.path()).set("SOPS_AGE_KEY_FILE", file.to_string_lossy()),
    );
    // The metadata names a recipient nobody holds, so every identity is tried, the
    // locked one last; alice still opens the key.
    let yaml = read(&format!(
        "{CONFORMANCE}/cases/k8s-secret-encrypted-regex/enc.yaml"
    ));
    let key = AgeKey {
        recipient: "age1unknownrecipient".to_string(),
        enc: enc_blocks(&yaml).remove(0),
    };
    assert!(unwrap_one(&key, &ids).expect("ok").is_some());
}

// ---- key groups ----------------------------------------------------------------

fn shamir_case() -> (Vec<KeyGroup>, Vec<String>) {
    let yaml = read(&format!("{CONFORMANCE}/cases/shamir-key-groups/enc.yaml"));
    let recipients: Vec<String> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: "))
        .map(str::to_string)
        .collect();
    let blocks = enc_blocks(&yaml);
    assert_eq!(recipients.len(), 3);
    assert_eq!(blocks.len(), 3);
    let groups = recipients
        .iter()
        .zip(blocks)
        .map(|(r, enc)| KeyGroup {
            age: vec![AgeKey {
                recipient: r.clone(),
                enc,
            }],
            other: Vec::new(),
        })
        .collect();
    (groups, recipients)
}

fn meta(groups: Vec<KeyGroup>, threshold: usize) -> Metadata {
    Metadata {
        key_groups: groups,
        shamir_threshold: threshold,
        lastmodified: String::new(),
        mac: String::new(),
        selector: None,
        mac_only_encrypted: false,
        version: "3.11.0".to_string(),
    }
}

#[test]
fn shamir_shares_unwrap_like_the_age_cli() {
    let (groups, _) = shamir_case();
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let ids = identities_from_text(&read(&keyfile(name)));
        let share = unwrap_one(&groups[i].age[0], &ids)
            .expect("ok")
            .expect("opens");
        let cli = age_cli_decrypt(Path::new(&keyfile(name)), &groups[i].age[0].enc);
        assert_eq!(&share[..], &cli[..]);
        assert_eq!(share.len(), 33);
        assert_eq!(share[32], i as u8 + 1, "x coordinate = group index + 1");
    }
}

#[test]
fn too_few_groups_is_reported_with_recipients_and_sources() {
    let (groups, recipients) = shamir_case();
    let ids = identities_from_text(&read(&keyfile("alice")));
    let err = recover_data_key(&meta(groups, 2), &ids).expect_err("one group only");
    let KeyError::NoMatchingIdentity { needed, detail, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        detail.starts_with("needs 2 of 3 key groups, opened 1"),
        "{detail}"
    );
    assert_eq!(
        needed,
        &recipients
            .iter()
            .map(|r| vec![r.clone()])
            .collect::<Vec<_>>()
    );
    let text = err.explanation().expect("explanation");
    assert!(
        text.contains("key group 3:") && text.contains("SOPS_AGE_KEY: 1 identity"),
        "{text}"
    );
}

#[test]
fn no_identity_for_a_single_group() {
    let (mut groups, _) = shamir_case();
    groups.truncate(1);
    let ids = identities_from_text(&read(&keyfile("bob")));
    let err = recover_data_key(&meta(groups, 0), &ids).expect_err("bob is not alice");
    assert!(matches!(err, KeyError::NoMatchingIdentity { .. }));
}

/// Tests that go through `crate::cipher::DataKey` and `crate::shamir`.
mod needs_core {
    use super::*;

    pub(super) fn key() -> DataKey {
        DataKey::from_slice(&[0x42; 32]).unwrap_or_else(|_| panic!("32 bytes"))
    }

    #[test]
    fn wrap_groups_rejects_bad_shapes_before_touching_the_key() {
        let key = key();
        let (_, p) = gen_identity();
        assert!(wrap_groups(&[], 0, &key).is_err());
        assert!(wrap_groups(&[vec![p.clone()], vec![]], 0, &key).is_err());
        let e = wrap_groups(&[vec![p.clone()], vec![p.clone()]], 3, &key).expect_err("t > n");
        assert!(e.to_string().contains("between 2 and 2"), "{e}");
        let e = wrap_groups(&[vec![p.clone()], vec![p]], 1, &key).expect_err("t = 1");
        assert!(e.to_string().contains("between 2 and 2"), "{e}");
    }

    #[test]
    fn single_group_round_trip() {
        let (s1, p1) = gen_identity();
        let (_, p2) = gen_identity();
        let key = DataKey::generate();
        let groups = wrap_groups(&[vec![p1.clone(), p2.clone()]], 0, &key).expect("wrap");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].age.len(), 2);
        assert_eq!(groups[0].age[0].recipient, p1);
        let ids = identities_from_text(&s1);
        let got = recover_data_key(&meta(groups, 0), &ids).expect("recover");
        assert_eq!(got.as_bytes(), key.as_bytes());
    }

    #[test]
    fn shamir_round_trip_needs_threshold_groups() {
        let people: Vec<(String, String)> = (0..3).map(|_| gen_identity()).collect();
        let groups: Vec<Vec<String>> = people.iter().map(|(_, p)| vec![p.clone()]).collect();
        let key = DataKey::generate();
        let wrapped = wrap_groups(&groups, 2, &key).expect("wrap");
        assert_eq!(wrapped.len(), 3);
        let two = identities_from_text(&format!("{}\n{}\n", people[0].0, people[2].0));
        let got = recover_data_key(&meta(wrapped.clone(), 2), &two).expect("2 of 3");
        assert_eq!(got.as_bytes(), key.as_bytes());
        let one = identities_from_text(&people[1].0);
        assert!(recover_data_key(&meta(wrapped, 2), &one).is_err());
    }

    #[test]
    fn recovers_the_sops_shamir_corpus_key() {
        let (groups, _) = shamir_case();
        let ids = identities_from_text(&format!(
            "{}\n{}",
            read(&keyfile("bob")),
            read(&keyfile("carol"))
        ));
        let got = recover_data_key(&meta(groups.clone(), 2), &ids).expect("bob+carol");
        let ids = identities_from_text(&format!(
            "{}\n{}",
            read(&keyfile("alice")),
            read(&keyfile("carol"))
        ));
        let again = recover_data_key(&meta(groups, 2), &ids).expect("alice+carol");
        assert_eq!(got.as_bytes(), again.as_bytes());
    }

    #[test]
    fn recovers_the_sops_single_group_key() {
        let yaml = read(&format!(
            "{CONFORMANCE}/cases/k8s-secret-encrypted-regex/enc.yaml"
        ));
        let group = KeyGroup {
            age: vec![AgeKey {
                recipient: ALICE_PUB.to_string(),
                enc: enc_blocks(&yaml).remove(0),
            }],
            other: Vec::new(),
        };
        let ids = identities_from_text(&read(&keyfile("alice")));
        let got = recover_data_key(&meta(vec![group.clone()], 0), &ids).expect("alice");
        let cli = age_cli_decrypt(Path::new(&keyfile("alice")), &group.age[0].enc);
        assert_eq!(&got.as_bytes()[..], &cli[..]);
    }
}

#[cfg(unix)]
#[test]
fn group_or_world_access_to_an_own_identity_file_warns() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keys.txt");
    std::fs::write(&p, "# nothing\n").unwrap();
    let me = std::fs::metadata(&p).unwrap().uid();
    for (mode, warns) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        let w = exposure_warning(&p, &m, Some(me));
        assert_eq!(w.is_some(), warns, "mode {mode:o}: {w:?}");
        if let Some(w) = w {
            assert!(
                w.contains(&format!("{mode:04o}")) && w.contains("chmod 600"),
                "{w}"
            );
        }
        // Someone else's file: not ours to judge (as ssh).
        assert!(exposure_warning(&p, &m, Some(me.wrapping_add(1))).is_none());
    }
}

#[test]
fn lazy_key_command_runs_for_each_key_with_its_recipient() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("tempdir");
    let (secret, public) = gen_identity();
    let log = home.path().join("log");
    let script = home.path().join("cmd.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"${{SOPS_AGE_RECIPIENT-unset}}\" >> '{}'\necho '{secret}'\n",
            log.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let env = FakeEnv::new(home.path()).set("SOPS_AGE_KEY_CMD", script.to_string_lossy());
    let ids = Identities::discover_lazy(&env);
    assert!(!log.exists(), "discovery does not run the command");
    assert!(!ids.is_empty() && ids.identities.is_empty());
    let extra = ids.for_key(&public).expect("a deferred command");
    assert_eq!(extra.public_keys, std::slice::from_ref(&public));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{public}\n")
    );
    // Eager discovery (seal key list) runs it once, without a recipient.
    let ids = Identities::discover(&env);
    assert_eq!(ids.public_keys, std::slice::from_ref(&public));
    assert!(ids.for_key(&public).is_none());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{public}\nunset\n")
    );
}

/// The types an order does not name are tried in the order sops reads a group (AWS KMS,
/// GCP KMS, HuaweiCloud KMS, Azure Key Vault, Vault, PGP, age), as sops's stable sort leaves them; unknown names and sops's exact
/// split (`" age"` is not `age`) rank nothing.
#[test]
fn decryption_order_leaves_unnamed_types_in_sops_group_order() {
    let names = |order: &[&str]| -> Vec<&'static str> {
        let order: Vec<String> = order.iter().map(|s| s.to_string()).collect();
        decryption_order(&order).iter().map(|t| t.name()).collect()
    };
    let rest = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];
    let cat = |a: &[&'static str], b: &[&'static str]| [a, b].concat();
    assert_eq!(names(&[]), cat(&["age", "pgp"], &rest));
    assert_eq!(names(&["pgp", "age"]), cat(&["pgp", "age"], &rest));
    assert_eq!(names(&["kms"]), cat(&rest, &["pgp", "age"]));
    assert_eq!(names(&["PGP"]), cat(&rest, &["pgp", "age"]));
    assert_eq!(
        names(&["pgp", " age"]),
        cat(&cat(&["pgp"], &rest), &["age"])
    );
    assert_eq!(
        names(&["hc_vault", ""]),
        [
            "hc_vault", "kms", "gcp_kms", "hckms", "azure_kv", "pgp", "age"
        ]
    );
}

/// The build without the `pgp-native` feature (no rpgp: `cargo check --no-default-features`)
/// is not compiled by the test run: measured, it costs more than CI has left (its
/// dependencies build with other features: syn and the proc macros, the elliptic-curve
/// crates; 139 s wall, 94 CPU-s after the default build's clippy). This guards what that
/// build relies on instead: the stub `pgp_keyring` module offers every function the rest
/// of seal calls, with the real module's signature, and no other file uses the rpgp crate.
#[test]
fn the_build_without_pgp_native_has_the_same_keyring_interface() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let real = std::fs::read_to_string(src.join("keys/pgp_keyring.rs")).unwrap();
    let mod_rs = std::fs::read_to_string(src.join("keys/mod.rs")).unwrap();
    let stub = mod_rs
        .split("#[cfg(not(feature = \"pgp-native\"))]\nmod pgp_keyring {")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .expect("the stub pgp_keyring module in keys/mod.rs");
    // `pub fn NAME(…) -> …` up to the body, parameter names without a leading `_`.
    let signature = |text: &str, name: &str| -> Option<String> {
        let start = text.find(&format!("pub fn {name}("))?;
        let sig = text[start..].split('{').next()?;
        Some(
            sig.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace("(_", "(")
                .replace(", _", ", "),
        )
    };
    // Spelled in pieces, so that this file does not match itself.
    let crate_path = format!("::{}::composed", "pgp");
    let mut called = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p.ends_with("keys/pgp_keyring.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for line in text.lines() {
                let code = line.trim_start();
                assert!(
                    !code.starts_with("use pgp::") && !code.contains(&crate_path),
                    "{} uses the rpgp crate outside keys/pgp_keyring.rs: {line}",
                    p.display()
                );
            }
            for (i, _) in text.match_indices("pgp_keyring::") {
                let name: String = text[i + "pgp_keyring::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && !called.contains(&name) {
                    called.push(name);
                }
            }
        }
    }
    assert!(called.contains(&"decrypt".to_string()), "{called:?}");
    for name in &called {
        let want = signature(&real, name).unwrap_or_else(|| panic!("pgp_keyring::{name}"));
        assert_eq!(
            signature(stub, name).as_deref(),
            Some(want.as_str()),
            "the stub pgp_keyring (no pgp-native) must offer `{want}`"
        );
    }
}

/// Issue 25: lazy discovery reads a source only when the sources before it did not open
/// the data key (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, the default keys.txt, SOPS_AGE_KEY_CMD per
/// key, the SSH keys, the keyring); when nothing opens it, every source is tried and the
/// message lists them all, as eager discovery does.
#[test]
fn lazy_discovery_stops_at_the_source_that_opens() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("tempdir");
    let (right, public) = gen_identity();
    let (wrong, _) = gen_identity();
    let marker = home.path().join("ran");
    // A key command that logs its name and SOPS_AGE_RECIPIENT, and prints `secret`.
    let script = |name: &str, secret: &str| {
        let path = home.path().join(format!("{name}.sh"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} ${{SOPS_AGE_RECIPIENT-unset}}\" >> '{}'\necho '{secret}'\n",
                marker.display()
            ),
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.to_string_lossy().into_owned()
    };
    let write_key = |path: &Path, secret: &str| {
        std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
        std::fs::write(path, format!("{secret}\n")).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    let key_file = home.path().join("keys.txt");
    let default_keys = home.path().join(".config/sops/age/keys.txt");
    // Not a key: read, it would be reported as one seal cannot use.
    write_key(&home.path().join(".ssh/id_ed25519"), "not an ssh key");
    let ssh_cmd = script("ssh", "not an ssh key either");
    let payload = [7u8; 32];
    let group = KeyGroup {
        age: vec![AgeKey {
            recipient: public.clone(),
            enc: wrap(&public, &payload).expect("wrap"),
        }],
        other: Vec::new(),
    };
    let file = meta(vec![group], 0);
    let ran = || std::fs::read_to_string(&marker).unwrap_or_default();
    let env = |age_cmd: &str| {
        FakeEnv::new(home.path())
            .set("SOPS_AGE_KEY_FILE", key_file.to_string_lossy())
            .set("SOPS_AGE_KEY_CMD", age_cmd)
            .set("SOPS_AGE_SSH_PRIVATE_KEY_CMD", ssh_cmd.clone())
            // Never read below: a service no test stores anything under.
            .set(
                crate::keyring::SERVICE_ENV,
                format!("seal-test-lazy-{}", std::process::id()),
            )
    };
    let label = |p: &Path| p.to_string_lossy().into_owned();
    let file_label = format!("SOPS_AGE_KEY_FILE={}", label(&key_file));

    // SOPS_AGE_KEY_FILE opens: nothing after it is read or run.
    write_key(&key_file, &right);
    write_key(&default_keys, &wrong);
    let mut lazy_env = env(&script("age", &wrong));
    lazy_env.keyring = true;
    let ids = Identities::discover_lazy(&lazy_env);
    assert_eq!(
        ids.sources_read(),
        Vec::<String>::new(),
        "discovery reads nothing"
    );
    let got = recover_data_key(&file, &ids).expect("the key file opens");
    assert_eq!(&got.as_bytes()[..], &payload[..]);
    assert_eq!(ids.sources_read(), std::slice::from_ref(&file_label));
    assert_eq!(ran(), "", "no key command ran");

    // The key file does not open, the default keys.txt does: still no command, no SSH key.
    write_key(&key_file, &wrong);
    write_key(&default_keys, &right);
    let ids = Identities::discover_lazy(&env(&script("age", &wrong)));
    recover_data_key(&file, &ids).expect("keys.txt opens");
    assert_eq!(
        ids.sources_read(),
        [
            file_label.clone(),
            "~/.config/sops/age/keys.txt".to_string()
        ]
    );
    assert_eq!(ran(), "");

    // Only the age key command opens: it runs once, with the recipient; the SSH sources
    // after it are not touched.
    write_key(&default_keys, &wrong);
    let ids = Identities::discover_lazy(&env(&script("age", &right)));
    recover_data_key(&file, &ids).expect("the command opens");
    assert_eq!(ran(), format!("age {public}\n"));
    assert!(!ids.sources_read().iter().any(|s| s.contains("ssh")));

    // Nothing opens: every source is tried (each command once, with the recipient) and
    // the message lists every source, in the order eager discovery reports them.
    std::fs::remove_file(&marker).expect("rm");
    let env = env(&script("age", &wrong));
    let ids = Identities::discover_lazy(&env);
    let err = recover_data_key(&file, &ids).expect_err("nothing opens");
    assert_eq!(ran(), format!("age {public}\nssh {public}\n"));
    let KeyError::NoMatchingIdentity { report, .. } = &err else {
        panic!("{err:?}");
    };
    let sources = |r: &[SourceReport]| r.iter().map(|r| r.source.clone()).collect::<Vec<_>>();
    std::fs::remove_file(&marker).expect("rm");
    let eager = Identities::discover(&env);
    assert_eq!(sources(report), sources(&eager.report));
    let text = err.explanation().expect("explained");
    for line in [
        format!("{file_label}: 1 identity"),
        "~/.config/sops/age/keys.txt: 1 identity".to_string(),
        "~/.ssh/id_ed25519: not a supported SSH private key".to_string(),
        "~/.ssh/id_rsa: does not exist".to_string(),
        "SOPS_AGE_KEY: not set".to_string(),
    ] {
        assert!(text.contains(&line), "{line:?} in {text}");
    }
}

/// The shared reader of key-service metadata lists: comments skipped, a non-mapping item
/// and a missing field named by kind and position, a timestamp read as text.
#[test]
fn key_service_entries_name_the_entry_that_is_wrong() {
    use crate::tree::{Branch, Item, Value};
    let entry = |pairs: &[(&str, Value)]| {
        Value::Branch(Branch {
            items: pairs
                .iter()
                .map(|(k, v)| Item::Pair(k.to_string(), v.clone()))
                .collect(),
        })
    };
    let good = entry(&[
        ("resource_id", Value::Str("projects/p/keys/k".into())),
        ("enc", Value::Str("abc".into())),
    ]);
    let keys = super::gcp_kms::entries(&[Value::Comment(" c".into()), good.clone()]).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].enc, "abc");
    let err = super::gcp_kms::entries(&[good.clone(), Value::Str("x".into())]).unwrap_err();
    assert_eq!(err, "gcp_kms entry 2 is not a mapping");
    let no_enc = entry(&[("resource_id", Value::Str("r".into()))]);
    let err = super::gcp_kms::entries(&[good, no_enc]).unwrap_err();
    assert_eq!(err, "gcp_kms entry 2 has no string \"enc\"");
    let bad_context = entry(&[
        ("arn", Value::Str("arn:aws:kms:us-east-1:1:key/k".into())),
        ("enc", Value::Str("e".into())),
        ("context", Value::Str("x".into())),
    ]);
    let err = super::aws_kms::entries(&[bad_context]).unwrap_err();
    assert_eq!(err, "kms entry 1 has a context that is not a mapping");
}
