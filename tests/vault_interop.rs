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

// ---------------------------------------------------------------------------------------
// The seal CLI: creation rules, flags, rotate and updatekeys with Vault keys
// ---------------------------------------------------------------------------------------

impl Case {
    /// `seal` with this case's token (and no age identity unless `with_age`).
    fn seal(&self, with_age: bool) -> assert_cmd::Command {
        let mut c = common::seal(&self.home);
        c.env("VAULT_TOKEN", &self.token);
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
fn rules_with_vault_keys_age_and_shamir_encrypt_as_sops_does_both_ways() {
    let c = Case::new();
    let k1 = transit_key(bao(), "rule-one");
    let k2 = transit_key(bao(), "rule-two");
    let alice = common::recipient("alice");
    c.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n\
             \x20 - path_regex: flat\\.yaml$\n\
             \x20   hc_vault_transit_uri: \"{k1},{k2}\"\n\
             \x20   age: {alice}\n\
             \x20 - path_regex: groups\\.yaml$\n\
             \x20   shamir_threshold: 2\n\
             \x20   key_groups:\n\
             \x20     - age: [{alice}]\n\
             \x20     - hc_vault: [{k1}]\n\
             \x20     - hc_vault:\n\
             \x20         - {k2}\n"
        ),
    );
    let plain = "password: hunter2\n";
    for name in ["flat.yaml", "groups.yaml"] {
        c.write(name, plain);
        let by_seal = cmd_out(c.seal(false).args(["encrypt", name]));
        let by_sops = out(c.sops().args(["encrypt", name]).output().unwrap());
        assert_eq!(
            services::metadata_shape(&by_seal),
            services::metadata_shape(&by_sops),
            "{name}: seal's metadata differs from sops's\nseal:\n{by_seal}\nsops:\n{by_sops}"
        );
        let seal_file = c.write(&format!("seal-{name}"), &by_seal);
        let sops_file = c.write(&format!("sops-{name}"), &by_sops);
        let o = c.sops().arg("decrypt").arg(&seal_file).output().unwrap();
        assert_eq!(out(o), plain, "{name}: sops decrypts seal's file");
        let back = cmd_out(c.seal(false).arg("decrypt").arg(&sops_file));
        assert_eq!(back, plain, "{name}: seal decrypts sops's file");
    }
    // 2 of 3 groups: alice's age key and one Vault group open it with the other key gone.
    let (st, body) = vault(
        bao(),
        BAO_ROOT_TOKEN,
        "POST",
        "transit/keys/rule-two/config",
        r#"{"deletion_allowed":true}"#,
    );
    assert!(st == 200 || st == 204, "{st} {body}");
    let (st, body) = vault(bao(), BAO_ROOT_TOKEN, "DELETE", "transit/keys/rule-two", "");
    assert!(st == 200 || st == 204, "{st} {body}");
    let back = cmd_out(
        c.seal(true)
            .arg("decrypt")
            .arg(c.home.join("seal-groups.yaml")),
    );
    assert_eq!(back, plain);
}

#[test]
fn vault_flags_and_sops_vault_uris_replace_the_rule_and_match_sops() {
    let c = Case::new();
    let uri = transit_key(bao(), "flags");
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", common::recipient("alice")),
    );
    let plain = "a: 1\n";
    c.write("f.yaml", plain);
    let args = ["encrypt", "--hc-vault-transit", &uri, "f.yaml"];
    let by_seal = cmd_out(c.seal(false).args(args));
    let by_sops = out(c.sops().args(args).output().unwrap());
    assert_eq!(
        services::metadata_shape(&by_seal),
        services::metadata_shape(&by_sops)
    );
    assert!(!by_seal.contains("age:"), "{by_seal}");
    let f = c.write("s.yaml", &by_seal);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
    let by_env = cmd_out(
        c.seal(false)
            .env("SOPS_VAULT_URIS", &uri)
            .args(["encrypt", "f.yaml"]),
    );
    let (_, meta) = metadata(by_env.as_bytes());
    assert_eq!(vault_entries(&meta)[0].describe(), uri);
    let o = c
        .seal(false)
        .args([
            "encrypt",
            "--hc-vault-transit",
            "https://v/transit/k",
            "f.yaml",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a Vault transit key URL"), "{err}");
}

#[test]
fn rotate_adds_and_removes_vault_keys_and_updatekeys_follows_the_rule() {
    let c = Case::new();
    let uri = transit_key(bao(), "rotate");
    let alice = common::recipient("alice");
    let plain = "token: s3cr3t\n";
    let p = c.write("f.yaml", plain);
    let enc = out(c
        .sops()
        .args(["encrypt", "--age", &alice])
        .arg(&p)
        .output()
        .unwrap());
    let f = c.write("f.yaml", &enc);
    let rotate = |extra: &[&str]| {
        let mut cmd = c.seal(true);
        cmd.args(["rotate", "-i"]).args(extra).arg(&f);
        cmd_out(&mut cmd);
    };
    rotate(&["--add-hc-vault-transit", &uri]);
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert_eq!(vault_entries(&meta)[0].describe(), uri);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
    rotate(&["--rm-hc-vault-transit", &uri]);
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert!(vault_entries(&meta).is_empty());
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {alice}\n    hc_vault_transit_uri: {uri}\n"),
    );
    cmd_out(c.seal(true).args(["updatekeys", "-y"]).arg(&f));
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert_eq!(vault_entries(&meta)[0].describe(), uri);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
}

// ---------------------------------------------------------------------------------------
// publish to Vault KV (OpenBao)
// ---------------------------------------------------------------------------------------

#[test]
fn publish_writes_the_decrypted_values_to_kv_version_1_and_2() {
    let c = Case::new();
    services::kv_mount(bao(), "pubkv1", 1);
    services::kv_mount(bao(), "pubkv2", 2);
    let alice = common::recipient("alice");
    c.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - age: {alice}\n\
             destination_rules:\n\
             \x20 - vault_path: team/\n\
             \x20   vault_kv_mount_name: pubkv1/\n\
             \x20   vault_kv_version: 1\n\
             \x20   path_regex: v1\\.json$\n\
             \x20 - vault_path: team/\n\
             \x20   vault_kv_mount_name: pubkv2\n\
             \x20   vault_address: {}\n\
             \x20   omit_extensions: true\n\
             \x20   path_regex: v2\\.yaml$\n",
            bao().url
        ),
    );
    c.write("v1.json", r#"{"foo": 2, "bar": "baz", "n": {"x": true}}"#);
    c.write("v2.yaml", "password: hunter2\nport: 5432\n");
    for f in ["v1.json", "v2.yaml"] {
        cmd_out(c.seal(false).args(["encrypt", "-i", f]));
    }
    // v1: VAULT_ADDR gives the address; v2: the rule's vault_address (VAULT_ADDR unused).
    cmd_out(
        c.seal(true)
            .env("VAULT_ADDR", &bao().url)
            .args(["publish", "--yes", "v1.json"]),
    );
    cmd_out(
        c.seal(true)
            .env("VAULT_ADDR", "http://127.0.0.1:9")
            .args(["publish", "--yes", "v2.yaml"]),
    );
    let get = |path: &str| -> serde_json::Value {
        let (st, body) = vault(bao(), BAO_ROOT_TOKEN, "GET", path, "");
        assert_eq!(st, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    assert_eq!(
        get("pubkv1/team/v1.json")["data"],
        serde_json::json!({"foo": 2, "bar": "baz", "n": {"x": true}})
    );
    assert_eq!(
        get("pubkv2/data/team/v2")["data"]["data"],
        serde_json::json!({"password": "hunter2", "port": 5432})
    );
    // sops reads the same rules and writes the same secret.
    cmd_out(
        c.seal(false)
            .args(["decrypt", "-i", "v1.json"])
            .env("SOPS_AGE_KEY_FILE", common::key_file("alice")),
    );
    let p = c.write("v1.json", r#"{"foo": 3}"#);
    out(c.sops().args(["encrypt", "-i"]).arg(&p).output().unwrap());
    let o = c
        .sops()
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .env("VAULT_ADDR", &bao().url)
        .args(["publish", "--yes", "v1.json"])
        .output()
        .unwrap();
    out(o);
    assert_eq!(
        get("pubkv1/team/v1.json")["data"],
        serde_json::json!({"foo": 3})
    );
    // A token whose policy does not cover the path is refused, naming the path, not the token.
    let token = child_token(bao(), &["default"]);
    let o = c
        .seal(true)
        .env("VAULT_TOKEN", &token)
        .env("VAULT_ADDR", &bao().url)
        .args(["publish", "--yes", "v1.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pubkv1/team/v1.json") && err.contains("403"),
        "{err}"
    );
    assert!(!err.contains(&token), "{err}");
}

// ---------------------------------------------------------------------------------------
// groups add and edit of a new file with Vault keys (seal as sops and seal's own CLI)
// ---------------------------------------------------------------------------------------

impl Case {
    /// seal run as `sops` (a link named sops) with this case's token.
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
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .env("VAULT_TOKEN", &self.token);
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

/// `sops groups add --hc-vault-transit URI` wraps the file's data key for a new group
/// with the transit key, as the real sops does (same metadata, same values and MAC); with
/// the age group deleted afterwards the Vault group alone opens the file in both tools.
#[test]
fn groups_add_with_vault_keys_wraps_the_data_key_as_sops_does() {
    let c = Case::new();
    let uri = transit_key(bao(), "groups-add");
    let plain = "token: s3cr3t\n";
    let p = c.write("orig.yaml", plain);
    let o = c
        .sops()
        .args(["encrypt", "--age", &common::recipient("alice")])
        .arg(&p)
        .output()
        .unwrap();
    let before = out(o);
    c.write("orig.yaml", &before);
    let add: &[&str] = &["groups", "add", "--hc-vault-transit", &uri, "-i", "-f"];
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
    assert!(shapes[1].contains(&uri.replace("/v1/transit/keys/groups-add", "")));
    // seal's own command line; a URL that is not a transit key is refused, naming it.
    let printed =
        cmd_out(
            c.seal(true)
                .args(["groups", "add", "orig.yaml", "--hc-vault-transit", &uri]),
        );
    let f = c.write("own.yaml", &printed);
    let o = c
        .sops()
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out(o), plain);
    let o = c
        .seal(true)
        .args([
            "groups",
            "add",
            "orig.yaml",
            "--hc-vault-transit",
            "https://v/transit/k",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a Vault transit key URL"), "{err}");
}

/// `sops edit --hc-vault-transit URI NEW_FILE` creates the file for the transit key, as
/// the real sops does: the same `sops:` block, and the real sops opens it through Vault
/// alone; seal's own `edit --hc-vault-transit` too.
#[test]
fn edit_of_a_new_file_takes_vault_keys_as_sops_does() {
    use std::os::unix::fs::PermissionsExt;
    let c = Case::new();
    let uri = transit_key(bao(), "edit-new");
    let plain = "a: 1\nb: two\n";
    let ed = c.write(
        "ed.sh",
        &format!(
            "#!/bin/sh\nprintf '{}' > \"$1\"\n",
            plain.replace('\n', "\\n")
        ),
    );
    std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = |f: &str| ["edit", "--hc-vault-transit", &uri, f].map(str::to_string);
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
    for name in ["by-seal.yaml", "by-sops.yaml"] {
        let f = c.home.join(name);
        assert_eq!(
            out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
            plain,
            "{name}"
        );
    }
    // seal's own command line.
    cmd_out(c.seal(false).env("EDITOR", &ed).args([
        "edit",
        "--hc-vault-transit",
        &uri,
        "own.yaml",
    ]));
    let f = c.home.join("own.yaml");
    let (_, meta) = metadata(&std::fs::read(&f).unwrap());
    assert_eq!(vault_entries(&meta)[0].describe(), uri);
    assert_eq!(
        out(c.sops().arg("decrypt").arg(&f).output().unwrap()),
        plain
    );
}
