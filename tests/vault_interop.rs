//! Vault transit master keys against a local OpenBao dev server (127.0.0.1, started once
//! for this binary, transit enabled) and the real sops on the same server, both directions:
//! sops wraps with `--hc-vault-transit` and seal's `keys::hc_vault` unwraps the entry
//! (checked against the file's MAC); seal wraps a data key and sops decrypts the file
//! through seal's entry alone. Tamper tests: a revoked token, an invalid token, a token
//! whose policy refuses the key, an altered ciphertext (sops's exit codes alongside). The
//! address comes from the key URI, never from `VAULT_ADDR`. OpenBao and sops are required:
//! these tests never skip.

mod common;
#[path = "common/services.rs"]
mod services;

use std::io::Read;
use std::path::PathBuf;

use seal::keys::hc_vault::{self, VaultErrorKind, VaultKey};
use seal::metadata::Metadata;
use seal::stores::Format;
use seal::tree::Value;
use services::{BAO_ROOT_TOKEN, bao, child_token, transit_key, vault};

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
    token: String,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        bao();
        Case {
            home: tmp.path().to_path_buf(),
            token: BAO_ROOT_TOKEN.to_string(),
            _tmp: tmp,
        }
    }

    fn env(&self) -> TestEnv {
        TestEnv {
            vars: vec![("VAULT_TOKEN", self.token.clone())],
            home: self.home.clone(),
        }
    }

    fn sops(&self) -> std::process::Command {
        let mut c = common::sops(&self.home);
        c.env("VAULT_TOKEN", &self.token);
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

fn metadata(bytes: &[u8]) -> (seal::stores::Parsed, Metadata) {
    let parsed = Format::Yaml.store().load_encrypted(bytes).unwrap();
    let meta = Metadata::from_tree(parsed.metadata.as_ref().expect("a sops block")).unwrap();
    (parsed, meta)
}

fn vault_entries(meta: &Metadata) -> Vec<VaultKey> {
    let list: Vec<Value> = meta.key_groups[0]
        .other
        .iter()
        .filter(|(k, _)| k == hc_vault::TYPE)
        .flat_map(|(_, l)| l.clone())
        .collect();
    hc_vault::entries(&list).unwrap()
}

fn assert_opens_mac(meta: &Metadata, key: &[u8]) {
    let dk = seal::cipher::DataKey::from_slice(key).expect("a 32-byte data key");
    seal::cipher::decrypt_mac(&dk, &meta.mac, &meta.lastmodified)
        .expect("the unwrapped key is the file's data key");
}

fn rekey(bytes: &[u8], entries: Vec<Value>) -> Vec<u8> {
    let (parsed, mut meta) = metadata(bytes);
    meta.key_groups = vec![seal::metadata::KeyGroup {
        age: vec![],
        other: vec![(hc_vault::TYPE.to_string(), entries)],
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

/// A file sops encrypted for `uri`.
fn sops_vault_file(c: &Case, name: &str, uri: &str, plain: &str) -> String {
    let p = c.write(name, plain);
    out(c
        .sops()
        .args(["encrypt", "--hc-vault-transit", uri])
        .arg(&p)
        .output()
        .unwrap())
}

#[test]
fn sops_wraps_with_transit_and_seal_unwraps() {
    let c = Case::new();
    let uri = transit_key(bao(), "from-sops");
    let enc = sops_vault_file(&c, "s.yaml", &uri, "password: hunter2\n");
    let (_, meta) = metadata(enc.as_bytes());
    let keys = vault_entries(&meta);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].describe(), uri);
    assert_eq!(keys[0].engine_path, "transit");
    assert!(keys[0].enc.starts_with("vault:v1:"));
    let dk = hc_vault::decrypt(&keys[0], &c.env()).unwrap();
    assert_opens_mac(&meta, &dk);
}

#[test]
fn seal_wraps_with_transit_and_sops_decrypts_through_that_entry_alone() {
    let c = Case::new();
    let uri = transit_key(bao(), "from-seal");
    let p = c.write("a.yaml", "token: s3cr3t\n");
    let bytes = out(c
        .sops()
        .args(["encrypt", "--age", &common::recipient("alice")])
        .arg(&p)
        .output()
        .unwrap());
    let (_, meta) = metadata(bytes.as_bytes());
    let dk = age_data_key(&meta);
    let key = VaultKey::from_uri(&uri).unwrap();
    let made = hc_vault::encrypt(&key, &dk, &c.env()).unwrap();
    assert!(made.enc.starts_with("vault:v1:") && made.created_at.ends_with('Z'));
    let f = c.home.join("v.yaml");
    std::fs::write(
        &f,
        rekey(bytes.as_bytes(), vec![hc_vault::entry_value(&made)]),
    )
    .unwrap();
    // VAULT_ADDR points nowhere: the address comes from the entry, for sops as for seal.
    let o = c
        .sops()
        .env("VAULT_ADDR", "http://127.0.0.1:9")
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out(o), "token: s3cr3t\n");
}

#[test]
fn the_token_file_is_used_when_vault_token_is_unset() {
    let c = Case::new();
    let uri = transit_key(bao(), "token-file");
    std::fs::write(c.home.join(".vault-token"), format!("{BAO_ROOT_TOKEN}\n")).unwrap();
    let env = TestEnv {
        vars: vec![],
        home: c.home.clone(),
    };
    let made = hc_vault::encrypt(&VaultKey::from_uri(&uri).unwrap(), &[5; 32], &env).unwrap();
    assert_eq!(&hc_vault::decrypt(&made, &env).unwrap()[..], &[5; 32]);
}

#[test]
fn revoked_and_invalid_tokens_are_refused_by_seal_and_by_sops() {
    let c = Case::new();
    let uri = transit_key(bao(), "revoked");
    let enc = sops_vault_file(&c, "r.yaml", &uri, "k: v\n");
    let f = c.write("r2.yaml", &enc);
    let (_, meta) = metadata(enc.as_bytes());
    let entry = &vault_entries(&meta)[0];

    let token = child_token(bao(), &["root"]);
    // The child token works, then is revoked.
    let works = Case {
        token: token.clone(),
        ..Case::new()
    };
    hc_vault::decrypt(entry, &works.env()).unwrap();
    let (st, body) = vault(bao(), &token, "POST", "auth/token/revoke-self", "");
    assert_eq!(st, 204, "revoke: {body}");
    for bad in [token.as_str(), "s.not-a-token"] {
        let case = Case {
            token: bad.to_string(),
            ..Case::new()
        };
        let e = hc_vault::decrypt(entry, &case.env()).unwrap_err();
        assert_eq!(e.kind, VaultErrorKind::Refused, "{e}");
        assert!(
            e.message.contains("403") && e.message.contains("permission denied"),
            "{e}"
        );
        assert!(
            e.message.contains(&uri) && e.message.contains("VAULT_TOKEN"),
            "{e}"
        );
        assert!(!e.message.contains(bad), "the token leaked: {e}");
        let o = case.sops().arg("decrypt").arg(&f).output().unwrap();
        assert_eq!(o.status.code(), Some(128));
        let e = hc_vault::encrypt(entry, &[1; 32], &case.env()).unwrap_err();
        assert_eq!(e.kind, VaultErrorKind::Refused, "{e}");
        let p = case.write("p.yaml", "k: v\n");
        let o = case
            .sops()
            .args(["encrypt", "--hc-vault-transit", &uri])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
    }
}

#[test]
fn a_policy_that_refuses_the_key_and_an_altered_ciphertext_fail() {
    let c = Case::new();
    let uri = transit_key(bao(), "guarded");
    let enc = sops_vault_file(&c, "g.yaml", &uri, "k: v\n");
    let (_, meta) = metadata(enc.as_bytes());
    let entry = vault_entries(&meta)[0].clone();
    // A token with only the default policy may not use transit.
    let limited = Case {
        token: child_token(bao(), &["default"]),
        ..Case::new()
    };
    let e = hc_vault::decrypt(&entry, &limited.env()).unwrap_err();
    assert_eq!(e.kind, VaultErrorKind::Refused, "{e}");
    assert!(e.message.contains("policy"), "{e}");
    let f = limited.write("g2.yaml", &enc);
    let o = limited.sops().arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(128));

    // An altered ciphertext: the server refuses it (400), and sops fails with 128.
    let mut bad = entry.clone();
    let tail = bad.enc.split_off(bad.enc.len() - 4);
    bad.enc
        .push_str(if tail == "AAAA" { "BBBB" } else { "AAAA" });
    let e = hc_vault::decrypt(&bad, &c.env()).unwrap_err();
    assert_eq!(e.kind, VaultErrorKind::Refused, "{e}");
    let f = c.write("g3.yaml", &enc.replace(&entry.enc, &bad.enc));
    let o = c.sops().arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(128));
}

#[test]
fn no_token_fails_before_any_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let uri = format!("http://{}/v1/transit/keys/k", l.local_addr().unwrap());
    let env = TestEnv {
        vars: vec![],
        home: tmp.path().to_path_buf(),
    };
    let key = VaultKey::from_uri(&uri).unwrap();
    let e = hc_vault::encrypt(&key, &[1; 32], &env).unwrap_err();
    assert_eq!(e.kind, VaultErrorKind::Token, "{e}");
    assert!(e.message.contains("~/.vault-token"), "{e}");
    assert!(l.accept().is_err(), "a connection was attempted");
}
