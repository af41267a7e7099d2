//! AWS KMS master keys against a local AWS (moto's server on 127.0.0.1, started once for
//! this binary) and the real sops on the same server, both directions: sops wraps with
//! `--kms` and seal's `keys::aws_kms` unwraps the entry (checked against the file's MAC);
//! seal wraps a data key and sops decrypts the file through seal's entry alone. Tamper
//! tests: a wrong encryption context, an unknown key, a disabled key (sops's exit codes
//! alongside). Credentials are always explicit and `AWS_EC2_METADATA_DISABLED=true`; a run
//! with no credentials fails before any connection, and instance-metadata credentials are
//! tested against a fake metadata server on 127.0.0.1. moto and sops are required: these
//! tests never skip.

mod common;
#[path = "common/services.rs"]
mod services;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;

use seal::keys::aws_kms::{self, KmsErrorKind, KmsKey};
use seal::metadata::Metadata;
use seal::stores::Format;
use seal::tree::Value;
use services::{aws_env, kms_key, moto};

/// A test environment for seal's library calls: exactly these variables and this HOME.
struct TestEnv {
    vars: Vec<(&'static str, String)>,
    home: PathBuf,
}

impl seal::keys::Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
    fn home(&self) -> Option<PathBuf> {
        Some(self.home.clone())
    }
}

struct Case {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_path_buf();
        Case {
            env: aws_env(moto()),
            home,
            _tmp: tmp,
        }
    }

    fn lib_env(&self) -> TestEnv {
        TestEnv {
            vars: self.env.clone(),
            home: self.home.clone(),
        }
    }

    fn sops(&self) -> std::process::Command {
        let mut c = common::sops(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn out(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The metadata of an encrypted YAML file.
fn metadata(bytes: &[u8]) -> (seal::stores::Parsed, Metadata) {
    let parsed = Format::Yaml.store().load_encrypted(bytes).unwrap();
    let meta = Metadata::from_tree(parsed.metadata.as_ref().expect("a sops block")).unwrap();
    (parsed, meta)
}

fn kms_entries(meta: &Metadata) -> Vec<KmsKey> {
    let list: Vec<Value> = meta.key_groups[0]
        .other
        .iter()
        .filter(|(k, _)| k == aws_kms::TYPE)
        .flat_map(|(_, l)| l.clone())
        .collect();
    aws_kms::entries(&list).unwrap()
}

/// The data key opens the file's MAC: proof it is the file's data key.
fn assert_opens_mac(meta: &Metadata, key: &[u8]) {
    let dk = seal::cipher::DataKey::from_slice(key).expect("a 32-byte data key");
    seal::cipher::decrypt_mac(&dk, &meta.mac, &meta.lastmodified)
        .expect("the unwrapped key is the file's data key");
}

/// Replace a file's master keys by `entries` under `kind`, keeping everything else.
fn rekey(bytes: &[u8], kind: &str, entries: Vec<Value>) -> Vec<u8> {
    let (parsed, mut meta) = metadata(bytes);
    meta.key_groups = vec![seal::metadata::KeyGroup {
        age: vec![],
        other: vec![(kind.to_string(), entries)],
    }];
    Format::Yaml
        .store()
        .emit_encrypted(
            &parsed.docs,
            &meta.to_tree(),
            &parsed.layout,
            Default::default(),
        )
        .unwrap()
}

/// The data key of a file sops encrypted for the test age key.
fn age_data_key(meta: &Metadata) -> Vec<u8> {
    use std::str::FromStr;
    let text = std::fs::read_to_string(common::key_file("alice")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let id = age::x25519::Identity::from_str(line).unwrap();
    let enc = &meta.key_groups[0].age[0].enc;
    let d = age::Decryptor::new(age::armor::ArmoredReader::new(enc.as_bytes())).unwrap();
    let mut r = d
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap();
    let mut key = Vec::new();
    r.read_to_end(&mut key).unwrap();
    key
}

fn sops_age_file(c: &Case, name: &str, plain: &str) -> Vec<u8> {
    let p = c.write(name, plain);
    let o = c
        .sops()
        .args(["encrypt", "--age", &common::recipient("alice")])
        .arg(&p)
        .output()
        .unwrap();
    out(o).into_bytes()
}

#[test]
fn sops_wraps_with_kms_and_seal_unwraps_with_its_context() {
    let c = Case::new();
    let arn = kms_key(moto());
    let p = c.write("s.yaml", "password: hunter2\n");
    let enc = out(c
        .sops()
        .args([
            "encrypt",
            "--kms",
            &arn,
            "--encryption-context",
            "app:web,env:prod",
        ])
        .arg(&p)
        .output()
        .unwrap());
    let (_, meta) = metadata(enc.as_bytes());
    let keys = kms_entries(&meta);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].arn, arn);
    assert_eq!(
        aws_kms::context_to_string(&keys[0].context),
        "app:web,env:prod"
    );
    let dk = aws_kms::decrypt(&keys[0], &c.lib_env()).unwrap();
    assert_opens_mac(&meta, &dk);
}

#[test]
fn seal_wraps_with_kms_and_sops_decrypts_through_that_entry_alone() {
    let c = Case::new();
    let arn = kms_key(moto());
    let bytes = sops_age_file(&c, "a.yaml", "token: s3cr3t\ncount: 1\n");
    let (_, meta) = metadata(&bytes);
    let dk = age_data_key(&meta);
    let ctx = aws_kms::parse_context("team:ops").unwrap();
    let made = aws_kms::encrypt(&KmsKey::new(&arn, ctx, ""), &dk, &c.lib_env()).unwrap();
    assert!(!made.enc.is_empty() && made.created_at.ends_with('Z'));
    let rekeyed = rekey(&bytes, aws_kms::TYPE, vec![aws_kms::entry_value(&made)]);
    let f = c.home.join("k.yaml");
    std::fs::write(&f, &rekeyed).unwrap();
    // No age key anywhere in this environment: only the KMS entry can open the file.
    let plain = out(c.sops().arg("decrypt").arg(&f).output().unwrap());
    assert_eq!(plain, "token: s3cr3t\ncount: 1\n");
    // And seal reads back what it wrote.
    let (_, meta2) = metadata(&rekeyed);
    let back = aws_kms::decrypt(&kms_entries(&meta2)[0], &c.lib_env()).unwrap();
    assert_eq!(&back[..], &dk[..]);
}

#[test]
fn role_arns_assume_the_role_through_sts_both_ways() {
    let c = Case::new();
    let arn = kms_key(moto());
    let role = format!("arn:aws:iam::{}:role/sops-test", services::AWS_ACCOUNT);
    let p = c.write("r.yaml", "k: v\n");
    let enc = out(c
        .sops()
        .args(["encrypt", "--kms", &format!("{arn}+{role}")])
        .arg(&p)
        .output()
        .unwrap());
    let (_, meta) = metadata(enc.as_bytes());
    let keys = kms_entries(&meta);
    assert_eq!(keys[0].role, role);
    let dk = aws_kms::decrypt(&keys[0], &c.lib_env()).unwrap();
    assert_opens_mac(&meta, &dk);
    // seal's own +ROLE entry opens with sops.
    let made = aws_kms::encrypt(
        &KmsKey::new(&format!("{arn}+{role}"), BTreeMap::new(), ""),
        &dk,
        &c.lib_env(),
    )
    .unwrap();
    assert_eq!(made.role, role);
    let f = c.home.join("r2.yaml");
    std::fs::write(
        &f,
        rekey(enc.as_bytes(), "kms", vec![aws_kms::entry_value(&made)]),
    )
    .unwrap();
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        "k: v\n"
    );
}

#[test]
fn a_wrong_encryption_context_is_refused_by_seal_and_by_sops() {
    let c = Case::new();
    let arn = kms_key(moto());
    let p = c.write("c.yaml", "k: v\n");
    let enc = out(c
        .sops()
        .args(["encrypt", "--kms", &arn, "--encryption-context", "env:prod"])
        .arg(&p)
        .output()
        .unwrap());
    let tampered = enc.replace("env: prod", "env: dev");
    assert_ne!(tampered, enc);
    let f = c.write("c2.yaml", &tampered);
    let (_, meta) = metadata(tampered.as_bytes());
    let e = aws_kms::decrypt(&kms_entries(&meta)[0], &c.lib_env()).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Refused, "{e}");
    assert!(e.message.contains("InvalidCiphertextException"), "{e}");
    assert!(
        e.message.contains(&arn) && e.message.contains("env:dev"),
        "{e}"
    );
    assert!(e.message.contains("encryption context"), "{e}");
    assert!(!e.message.contains("test-secret-not-real"), "{e}");
    let o = c.sops().arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(128),
        "sops: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn keys_the_service_refuses_fail_with_the_key_named() {
    let c = Case::new();
    // An ARN moto does not know: seal refuses to wrap; sops exits 1 the same way.
    let missing = format!(
        "arn:aws:kms:{}:{}:key/00000000-0000-0000-0000-000000000000",
        services::AWS_REGION,
        services::AWS_ACCOUNT
    );
    let e = aws_kms::encrypt(
        &KmsKey::new(&missing, BTreeMap::new(), ""),
        &[7; 32],
        &c.lib_env(),
    )
    .unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Refused, "{e}");
    assert!(
        e.message.contains("NotFoundException") && e.message.contains(&missing),
        "{e}"
    );
    let p = c.write("m.yaml", "k: v\n");
    let o = c
        .sops()
        .args(["encrypt", "--kms", &missing])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));

    // An entry naming another key than the one that wrapped it: KMS refuses (moto 5.2 does
    // not enforce a disabled key's state, so a foreign key stands in for a refusing one);
    // sops fails with 128 on the same file.
    let arn = kms_key(moto());
    let other = kms_key(moto());
    let enc = out(c
        .sops()
        .args(["encrypt", "--kms", &arn])
        .arg(&p)
        .output()
        .unwrap());
    let swapped = enc.replace(&arn, &other);
    let f = c.write("d.yaml", &swapped);
    let (_, meta) = metadata(swapped.as_bytes());
    let e = aws_kms::decrypt(&kms_entries(&meta)[0], &c.lib_env()).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Refused, "{e}");
    assert!(e.message.contains(&other), "{e}");
    let o = c.sops().arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(128));
}

/// A loopback listener that records whether anything connected.
struct Tripwire(TcpListener);

impl Tripwire {
    fn new() -> Tripwire {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Tripwire(l)
    }
    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().unwrap())
    }
    fn touched(&self) -> bool {
        self.0.accept().is_ok()
    }
}

#[test]
fn no_credentials_fail_before_any_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let kms = Tripwire::new();
    let imds = Tripwire::new();
    let vars = vec![
        ("AWS_ENDPOINT_URL", kms.url()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let env = TestEnv {
        vars: vars.clone(),
        home: tmp.path().to_path_buf(),
    };
    let key = KmsKey {
        enc: "AQIDBA==".into(),
        ..KmsKey::new(
            "arn:aws:kms:us-east-1:123456789012:key/x",
            BTreeMap::new(),
            "",
        )
    };
    let e = aws_kms::decrypt(&key, &env).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Credentials, "{e}");
    assert!(
        e.message.contains("AWS_ACCESS_KEY_ID") && e.message.contains("AWS_PROFILE"),
        "{e}"
    );
    let e = aws_kms::encrypt(&key, &[1; 32], &env).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Credentials, "{e}");
    assert!(
        !kms.touched() && !imds.touched(),
        "a connection was attempted"
    );

    // sops, same environment, on a real KMS file: fails (128) and connects nowhere either.
    let c = Case::new();
    let arn = kms_key(moto());
    let p = c.write("n.yaml", "k: v\n");
    let enc = out(c
        .sops()
        .args(["encrypt", "--kms", &arn])
        .arg(&p)
        .output()
        .unwrap());
    let f = c.write("n2.yaml", &enc);
    let mut s = common::sops(tmp.path());
    for (k, v) in &vars {
        s.env(k, v);
    }
    let o = s.arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(128));
    assert!(
        !kms.touched() && !imds.touched(),
        "sops attempted a connection"
    );
}

/// A fake instance-metadata server on 127.0.0.1 (IMDSv2: token, role list, credentials),
/// answering `n` requests then stopping.
fn fake_imds(n: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let mut seen = Vec::new();
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut token_ok = false;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if h.to_ascii_lowercase()
                    .starts_with("x-aws-ec2-metadata-token: tok-1")
                {
                    token_ok = true;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let body = match (line.split(' ').next(), path.as_str()) {
                (Some("PUT"), "/latest/api/token") => "tok-1".to_string(),
                (_, "/latest/meta-data/iam/security-credentials/") if token_ok => "seal-role".into(),
                (_, "/latest/meta-data/iam/security-credentials/seal-role") if token_ok => {
                    r#"{"Code":"Success","AccessKeyId":"ASIAFAKEIMDS","SecretAccessKey":"imds-secret","Token":"imds-token"}"#.into()
                }
                _ => String::new(),
            };
            let status = if body.is_empty() {
                "401 Unauthorized"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            seen.push(path);
        }
        seen
    });
    (url, h)
}

#[test]
fn instance_metadata_credentials_are_used_when_nothing_else_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let arn = kms_key(moto());
    let (imds, seen) = fake_imds(3);
    let env = TestEnv {
        vars: vec![
            ("AWS_ENDPOINT_URL", moto().url.clone()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds),
        ],
        home: tmp.path().to_path_buf(),
    };
    let made = aws_kms::encrypt(&KmsKey::new(&arn, BTreeMap::new(), ""), &[9; 32], &env).unwrap();
    assert!(!made.enc.is_empty());
    assert_eq!(
        seen.join().unwrap(),
        [
            "/latest/api/token",
            "/latest/meta-data/iam/security-credentials/",
            "/latest/meta-data/iam/security-credentials/seal-role"
        ]
    );
}

#[test]
fn a_profile_from_the_shared_files_is_used_for_aws_profile_entries() {
    let c = Case::new();
    let arn = kms_key(moto());
    std::fs::create_dir_all(c.home.join(".aws")).unwrap();
    std::fs::write(
        c.home.join(".aws/credentials"),
        "[ci]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    std::fs::write(
        c.home.join(".aws/config"),
        format!("[profile ci]\nendpoint_url = {}\n", moto().url),
    )
    .unwrap();
    // No credentials nor endpoint in the environment: both come from the profile.
    let env = TestEnv {
        vars: vec![("AWS_EC2_METADATA_DISABLED", "true".into())],
        home: c.home.clone(),
    };
    let made = aws_kms::encrypt(&KmsKey::new(&arn, BTreeMap::new(), "ci"), &[3; 32], &env).unwrap();
    assert_eq!(made.aws_profile, "ci");
    assert_eq!(&aws_kms::decrypt(&made, &env).unwrap()[..], &[3; 32]);
    // A profile that does not exist is named in the error.
    let e =
        aws_kms::encrypt(&KmsKey::new(&arn, BTreeMap::new(), "nope"), &[3; 32], &env).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::Credentials);
    assert!(e.message.contains("\"nope\""), "{e}");
}

// ---------------------------------------------------------------------------------------
// The seal CLI: creation rules, flags, rotate and updatekeys with KMS keys
// ---------------------------------------------------------------------------------------

impl Case {
    /// `seal` with this case's AWS environment (and no age identity unless `with_age`).
    fn seal(&self, with_age: bool) -> assert_cmd::Command {
        let mut c = common::seal(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if with_age {
            c.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
        }
        c
    }
}

fn cmd_out(c: &mut assert_cmd::Command) -> String {
    out(c.output().unwrap())
}

#[test]
fn rules_with_kms_keys_age_and_shamir_encrypt_as_sops_does_both_ways() {
    let c = Case::new();
    let arn = kms_key(moto());
    let arn2 = kms_key(moto());
    let role = "arn:aws:iam::123456789012:role/seal-rule";
    let alice = common::recipient("alice");
    c.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n\
             \x20 - path_regex: flat\\.yaml$\n\
             \x20   kms: \"{arn}, {arn2}+{role}\"\n\
             \x20   aws_profile: \"\"\n\
             \x20   age: {alice}\n\
             \x20 - path_regex: groups\\.yaml$\n\
             \x20   shamir_threshold: 2\n\
             \x20   key_groups:\n\
             \x20     - age: [{alice}]\n\
             \x20       kms:\n\
             \x20         - arn: {arn}\n\
             \x20           role: {role}\n\
             \x20           context: {{team: ops, app: \"1\"}}\n\
             \x20     - kms:\n\
             \x20         - arn: {arn2}\n"
        ),
    );
    let plain = "token: s3cr3t\nlist:\n    - 1\n";
    for name in ["flat.yaml", "groups.yaml"] {
        c.write(name, plain);
        let by_seal = cmd_out(c.seal(false).args(["encrypt", name]));
        let by_sops = out(c.sops().args(["encrypt", name]).output().unwrap());
        assert_eq!(
            services::metadata_shape(&by_seal),
            services::metadata_shape(&by_sops),
            "{name}: seal's metadata differs from sops's\nseal:\n{by_seal}\nsops:\n{by_sops}"
        );
        // Each opens the other's file through KMS alone (no age identity anywhere).
        let seal_file = c.write(&format!("seal-{name}"), &by_seal);
        let sops_file = c.write(&format!("sops-{name}"), &by_sops);
        let o = c.sops().arg("decrypt").arg(&seal_file).output().unwrap();
        assert_eq!(out(o), plain, "{name}: sops decrypts seal's file");
        let back = cmd_out(c.seal(false).arg("decrypt").arg(&sops_file));
        assert_eq!(back, plain, "{name}: seal decrypts sops's file");
    }
    // The groups file needs both groups: without KMS, alice's age key opens only one.
    let mut no_kms = c.seal(true);
    no_kms.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    no_kms.env_remove("AWS_ACCESS_KEY_ID");
    let o = no_kms
        .arg("decrypt")
        .arg(c.home.join("seal-groups.yaml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs 2 of 2 key groups, opened 1"), "{err}");
    assert!(
        !err.contains("s3cr3t") && !err.contains("test-secret-not-real"),
        "{err}"
    );
}

#[test]
fn kms_flags_and_sops_kms_arn_replace_the_rule_and_match_sops() {
    let c = Case::new();
    let arn = kms_key(moto());
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", common::recipient("alice")),
    );
    let plain = "a: 1\n";
    c.write("f.yaml", plain);
    let args = [
        "encrypt",
        "--kms",
        &arn,
        "--encryption-context",
        "team:ops,env:prod",
        "f.yaml",
    ];
    let by_seal = cmd_out(c.seal(false).args(args));
    let by_sops = out(c.sops().args(args).output().unwrap());
    assert_eq!(
        services::metadata_shape(&by_seal),
        services::metadata_shape(&by_sops)
    );
    assert!(
        !by_seal.contains("age:"),
        "--kms replaces the rule's keys:\n{by_seal}"
    );
    let (_, meta) = metadata(by_seal.as_bytes());
    let keys = kms_entries(&meta);
    assert_eq!(keys[0].describe(), format!("{arn}|env:prod,team:ops"));
    let f = c.write("s.yaml", &by_seal);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
    // SOPS_KMS_ARN does the same.
    let by_env = cmd_out(
        c.seal(false)
            .env("SOPS_KMS_ARN", &arn)
            .args(["encrypt", "f.yaml"]),
    );
    let (_, meta) = metadata(by_env.as_bytes());
    assert_eq!(kms_entries(&meta)[0].describe(), arn);
    // A malformed context is refused (sops warns and drops it), naming the flag.
    let o = c
        .seal(false)
        .args([
            "encrypt",
            "--kms",
            &arn,
            "--encryption-context",
            "nocolon",
            "f.yaml",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--encryption-context"), "{err}");
}

#[test]
fn rotate_adds_and_removes_kms_keys_and_updatekeys_follows_the_rule() {
    let c = Case::new();
    let arn = kms_key(moto());
    let alice = common::recipient("alice");
    let plain = "token: s3cr3t\n";
    let bytes = sops_age_file(&c, "f.yaml", plain);
    let f = c.write("f.yaml", std::str::from_utf8(&bytes).unwrap());
    let rotate = |extra: &[&str]| {
        let mut cmd = c.seal(true);
        cmd.args(["rotate", "-i"]).args(extra).arg(&f);
        cmd_out(&mut cmd);
    };
    rotate(&["--add-kms", &arn, "--encryption-context", "k:v"]);
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert_eq!(kms_entries(&meta)[0].describe(), format!("{arn}|k:v"));
    // sops opens it through the KMS entry alone.
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
    rotate(&["--rm-kms", &arn, "--encryption-context", "k:v"]);
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert!(kms_entries(&meta).is_empty());
    assert_eq!(meta.key_groups[0].age.len(), 1);
    // updatekeys adds the rule's KMS key.
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {alice}\n    kms: {arn}\n"),
    );
    cmd_out(c.seal(true).args(["updatekeys", "-y"]).arg(&f));
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert_eq!(kms_entries(&meta)[0].describe(), arn);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
    // sops sees nothing left to update.
    let o = c
        .sops()
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .args(["updatekeys", "-y"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("already up to date"), "{err}");
}

#[test]
fn an_age_identity_opens_an_age_and_kms_file_before_any_aws_connection() {
    let c = Case::new();
    let arn = kms_key(moto());
    let plain = "token: s3cr3t\n";
    let p = c.write("both.yaml", plain);
    let enc = out(c
        .sops()
        .args([
            "encrypt",
            "--age",
            &common::recipient("alice"),
            "--kms",
            &arn,
        ])
        .arg(&p)
        .output()
        .unwrap());
    let f = c.write("both.yaml", &enc);
    // No credentials and instance metadata not switched off: any KMS or IMDS attempt would
    // reach a tripwire (never 169.254.169.254). The age key opens the file first.
    let kms = Tripwire::new();
    let imds = Tripwire::new();
    let seal_with = |age: bool, imds_off: bool| {
        let mut cmd = common::seal(&c.home);
        cmd.env("AWS_ENDPOINT_URL", kms.url())
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url())
            .env("AWS_REGION", services::AWS_REGION);
        if age {
            cmd.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
        }
        if imds_off {
            cmd.env("AWS_EC2_METADATA_DISABLED", "true");
        }
        cmd.arg("decrypt").arg(&f).output().unwrap()
    };
    assert_eq!(out(seal_with(true, false)), plain);
    assert!(
        !kms.touched() && !imds.touched(),
        "seal tried AWS although the age key opened the file"
    );
    // Without the age key and with metadata off, the KMS path fails at once (sops's 128),
    // naming what to set, and still connects nowhere.
    let o = seal_with(false, true);
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
    assert!(
        !kms.touched() && !imds.touched(),
        "a connection was attempted"
    );
    // The tripwire does see the probe: with neither the age key nor the switch, seal asks
    // the (fake) instance metadata endpoint.
    let o = seal_with(false, false);
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    assert!(
        imds.touched(),
        "the IMDS probe was expected at the tripwire"
    );
}

// ---------------------------------------------------------------------------------------
// publish to S3 (moto)
// ---------------------------------------------------------------------------------------

#[test]
fn publish_to_s3_re_encrypts_for_the_recreation_rule_and_walks_directories() {
    let c = Case::new();
    let bucket = "seal-publish";
    services::s3_bucket(moto(), bucket);
    let (alice, bob) = (common::recipient("alice"), common::recipient("bob"));
    c.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - age: {alice}\n\
             destination_rules:\n\
             \x20 - s3_bucket: {bucket}\n\
             \x20   s3_prefix: pub/\n\
             \x20   path_regex: (\\.json|^d/.*)$\n\
             \x20   recreation_rule:\n\
             \x20     age: {bob}\n"
        ),
    );
    let plain = "{\n\t\"foo\": 2,\n\t\"bar\": \"baz\"\n}\n";
    c.write("a.json", plain);
    cmd_out(c.seal(false).args(["encrypt", "-i", "a.json"]));
    // Asked and refused: nothing is uploaded (sops's prompt and exit 1).
    let o = c
        .seal(true)
        .args(["publish", "a.json"])
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("to s3://seal-publish/pub/a.json ? (y/n)"));
    assert!(services::s3_get(moto(), bucket, "pub/a.json").is_none());
    // --yes: published, re-encrypted for bob only.
    let o = cmd_out(c.seal(true).args(["publish", "--yes", "a.json"]));
    assert!(
        o.contains(&format!("+++ {bob}")) && o.contains(&format!("--- {alice}")),
        "{o}"
    );
    let published = services::s3_get(moto(), bucket, "pub/a.json").expect("published");
    let f = c.write("published.json", &published);
    let bob_decrypts = c
        .sops()
        .env("SOPS_AGE_KEY_FILE", common::key_file("bob"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out(bob_decrypts), plain);
    let alice_fails = c
        .sops()
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(
        alice_fails.status.code(),
        Some(128),
        "alice's key no longer opens it"
    );
    // --recursive with --omit-extensions, through the sops command line.
    std::fs::create_dir_all(c.home.join("d/sub")).unwrap();
    for (name, text) in [("d/x.yaml", "alpha: 1\n"), ("d/sub/y.yaml", "beta: 2\n")] {
        c.write(name, text);
        cmd_out(c.seal(false).args(["encrypt", "-i", name]));
    }
    let sops_link = c.home.join("bin/sops");
    std::fs::create_dir_all(sops_link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &sops_link).unwrap();
    let mut as_sops = assert_cmd::Command::new(&sops_link);
    as_sops
        .env_clear()
        .current_dir(&c.home)
        .env("HOME", &c.home);
    as_sops.env("SEAL_NO_KEYRING", "1");
    as_sops.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
    for (k, v) in &c.env {
        as_sops.env(k, v);
    }
    cmd_out(as_sops.args(["publish", "--yes", "--recursive", "--omit-extensions", "d"]));
    for (key, plain) in [("pub/x", "alpha: 1\n"), ("pub/sub/y", "beta: 2\n")] {
        let body = services::s3_get(moto(), bucket, key).unwrap_or_else(|| panic!("{key}"));
        let f = c.write("p.yaml", &body);
        let o = c
            .sops()
            .env("SOPS_AGE_KEY_FILE", common::key_file("bob"))
            .arg("decrypt")
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(out(o), plain, "{key}");
    }
    // A directory needs --recursive; a file no rule matches names the config.
    let o = c.seal(true).args(["publish", "-y", "d"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--recursive"));
    c.write("other.yaml", "k: v\n");
    cmd_out(c.seal(false).args(["encrypt", "-i", "other.yaml"]));
    let o = c
        .seal(true)
        .args(["publish", "-y", "other.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no matching destination"));
}

#[test]
fn check_compares_kms_keys_of_the_rule_with_the_file() {
    let c = Case::new();
    let arn = kms_key(moto());
    let alice = common::recipient("alice");
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {alice}\n    kms: {arn}\n"),
    );
    c.write("s.yaml", "password: hunter2\n");
    cmd_out(c.seal(false).args(["encrypt", "-i", "s.yaml"]));
    let check = || {
        let o = c.seal(false).args(["check", "s.yaml"]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // Encrypted as the rule says (age and KMS): no drift.
    let report = check();
    assert!(!report.contains("recipient-drift"), "{report}");
    // Without the KMS key, the drift names it.
    cmd_out(
        c.seal(true)
            .args(["rotate", "-i", "--rm-kms", &arn, "s.yaml"]),
    );
    let report = check();
    assert!(
        report.contains("recipient-drift") && report.contains(&format!("missing: {arn}")),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------
// groups add and edit of a new file with KMS keys (seal as sops and seal's own CLI)
// ---------------------------------------------------------------------------------------

impl Case {
    /// seal run as `sops` (a link named sops) with this case's AWS environment.
    fn seal_as_sops(&self, with_age: bool) -> assert_cmd::Command {
        let link = self.home.join("bin/sops");
        if !link.exists() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
        }
        let mut c = assert_cmd::Command::new(&link);
        c.env_clear()
            .current_dir(&self.home)
            .env("HOME", &self.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SEAL_NO_KEYRING", "1")
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if with_age {
            c.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
        }
        c
    }
}

/// The `mac:` line of a file (values and MAC stay the same when groups change).
fn mac_line(text: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with("mac:"))
        .expect("a mac line")
        .to_string()
}

/// `sops groups add --kms ARN --encryption-context …` wraps the file's data key for a new
/// group with the KMS key, on the sops command line (against the real sops doing the same)
/// and on seal's own: the same metadata as sops writes, the same values and MAC. With the
/// age group deleted afterwards, the KMS group alone opens the file in both tools, with no
/// age key anywhere.
#[test]
fn groups_add_with_kms_keys_wraps_the_data_key_as_sops_does() {
    let c = Case::new();
    let arn = kms_key(moto());
    let plain = "token: s3cr3t\n";
    let before = String::from_utf8(sops_age_file(&c, "orig.yaml", plain)).unwrap();
    c.write("orig.yaml", &before);
    let add: &[&str] = &[
        "groups",
        "add",
        "--kms",
        &arn,
        "--encryption-context",
        "team:ops",
        "-i",
        "-f",
    ];
    let delete: &[&str] = &[
        "groups",
        "delete",
        "-i",
        "--shamir-secret-sharing-threshold",
        "1",
        "0",
        "-f",
    ];
    let mut shapes = Vec::new();
    for (tool, name) in [("sops", "by-sops.yaml"), ("seal", "by-seal.yaml")] {
        let f = c.write(name, &before);
        let run = |args: &[&str]| {
            if tool == "sops" {
                out(c
                    .sops()
                    .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
                    .current_dir(&c.home)
                    .args(args)
                    .arg(name)
                    .output()
                    .unwrap())
            } else {
                cmd_out(c.seal_as_sops(true).args(args).arg(name))
            }
        };
        run(add);
        let added = std::fs::read_to_string(&f).unwrap();
        assert_eq!(mac_line(&added), mac_line(&before), "{tool}");
        shapes.push(services::metadata_shape(&added));
        run(delete);
        let after = std::fs::read_to_string(&f).unwrap();
        assert!(!after.contains(&common::recipient("alice")), "{after}");
        // Through KMS alone, in both tools.
        assert_eq!(
            out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
            plain,
            "sops opens the file {tool} changed"
        );
        assert_eq!(cmd_out(c.seal(false).arg("decrypt").arg(&f)), plain);
    }
    assert_eq!(
        shapes[0], shapes[1],
        "sops (left) and seal (right) metadata"
    );
    assert!(shapes[1].contains("team: ops"), "{}", shapes[1]);
    // seal's own command line: a KMS key with a role, printed (no -i); both groups are
    // needed, so sops opening it proves the KMS entry.
    let role = "arn:aws:iam::123456789012:role/seal-groups";
    let printed = cmd_out(c.seal(true).args([
        "groups",
        "add",
        "orig.yaml",
        "--kms",
        &format!("{arn}+{role}"),
    ]));
    let (_, meta) = metadata(printed.as_bytes());
    assert_eq!((meta.key_groups.len(), meta.shamir_threshold), (2, 2));
    let f = c.write("own.yaml", &printed);
    let o = c
        .sops()
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out(o), plain);
    // GCP KMS and HuaweiCloud KMS groups are tested in key_services::gcp_kms and
    // key_services::hckms.
}

/// `sops edit --kms ARN NEW_FILE` (and `SOPS_KMS_ARN`) creates the file for the KMS key, as
/// the real sops does: the same `sops:` block, and the real sops opens it through KMS alone.
#[test]
fn edit_of_a_new_file_takes_kms_keys_as_sops_does() {
    use std::os::unix::fs::PermissionsExt;
    let c = Case::new();
    let arn = kms_key(moto());
    let plain = "a: 1\nb: two\n";
    let ed = c.write(
        "ed.sh",
        &format!(
            "#!/bin/sh\nprintf '{}' > \"$1\"\n",
            plain.replace('\n', "\\n")
        ),
    );
    std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = |f: &str| {
        ["edit", "--kms", &arn, "--encryption-context", "app:seal", f].map(str::to_string)
    };
    let o = c
        .sops()
        .current_dir(&c.home)
        .env("EDITOR", &ed)
        .args(args("by-sops.yaml"))
        .output()
        .unwrap();
    out(o);
    cmd_out(
        c.seal_as_sops(false)
            .env("EDITOR", &ed)
            .args(args("by-seal.yaml")),
    );
    let by_sops = std::fs::read_to_string(c.home.join("by-sops.yaml")).unwrap();
    let by_seal = std::fs::read_to_string(c.home.join("by-seal.yaml")).unwrap();
    assert_eq!(
        services::metadata_shape(&by_seal),
        services::metadata_shape(&by_sops),
        "seal:\n{by_seal}\nsops:\n{by_sops}"
    );
    assert!(
        !by_seal.contains("age:") && by_seal.contains("app: seal"),
        "{by_seal}"
    );
    let f = c.home.join("by-seal.yaml");
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
    // The variable, on the legacy form (`sops NEW_FILE`).
    cmd_out(
        c.seal_as_sops(false)
            .env("EDITOR", &ed)
            .env("SOPS_KMS_ARN", &arn)
            .arg("by-env.yaml"),
    );
    let f = c.home.join("by-env.yaml");
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert_eq!(kms_entries(&meta)[0].describe(), arn);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
}

// ---------------------------------------------------------------------------------------
// gcp: GCP Cloud KMS keys against a fake Cloud KMS on 127.0.0.1 (tests/key_services/gcp_kms.rs)
// ---------------------------------------------------------------------------------------

#[path = "key_services/gcp_kms.rs"]
mod gcp;

// ---------------------------------------------------------------------------------------
// azure: Azure Key Vault keys through the same fake (tests/key_services/azure_kv.rs)
// ---------------------------------------------------------------------------------------

#[path = "key_services/azure_kv.rs"]
mod azure;

// ---------------------------------------------------------------------------------------
// hckms: HuaweiCloud KMS keys against a fake KMS on 127.0.0.1 (tests/key_services/hckms.rs)
// ---------------------------------------------------------------------------------------

#[path = "key_services/hckms.rs"]
mod hckms;
