//! HuaweiCloud KMS master keys (part of the `aws_kms_interop` test binary) against a fake
//! KMS that each test starts on 127.0.0.1, and the real sops on the same fake, both
//! directions.
//!
//! The installed sops (3.11, HuaweiCloud Go SDK) takes a KMS endpoint per region from
//! `HUAWEICLOUD_SDK_REGION_KMS_{REGION}` or the regions file (`HUAWEICLOUD_SDK_REGIONS_FILE`)
//! and speaks plain HTTP to it when told so (measured), as seal does for loopback
//! addresses; so both tools reach the fake directly, with no proxy and no TLS. The IAM
//! project lookup (no project ID configured), which the SDK makes over HTTPS only
//! (`HUAWEICLOUD_SDK_IAM_ENDPOINT` gets `https://`), reaches the same fake over TLS under
//! a test CA given as `SSL_CERT_FILE` ([`fake::Fake::start_tls`]). The fake
//! checks every request's `SDK-HMAC-SHA256` signature with the test key pair (its own
//! implementation of the algorithm, apart from seal's), its `X-Sdk-Date` against the clock,
//! the project in path and `X-Project-Id`, and a temporary credential's `X-Security-Token`;
//! a request that fails any check gets API Gateway's `APIGW.0301` refusal. Its wrapping is
//! what a real key does: AES-256-GCM under a key of its own per key UUID, so a ciphertext
//! opens only under the key that made it. Every test sets explicit credentials (so sops's
//! SDK never goes on to the ECS metadata address); the no-credentials case runs seal only.
//!
//! What this proves: both tools sign, address and shape requests so that one verifier and
//! one KMS accept both, and their metadata entries agree. What only a real account would:
//! HuaweiCloud's API Gateway and IAM decisions (it may want headers signed that neither the
//! SDK nor seal sign), its error texts, and its real ciphertext format.

use std::path::PathBuf;

use crate::common;
use crate::gcp::{PLAIN, ok};

#[path = "hckms_fake.rs"]
mod fake;
use fake::{Fake, Seen};

const UUID: &str = "0b7e1c4a-1111-2222-3333-444455556666";
const UUID2: &str = "9f00aa11-5555-6666-7777-888899990000";
const ID: &str = "tr-west-1:0b7e1c4a-1111-2222-3333-444455556666";
const ID2: &str = "tr-west-1:9f00aa11-5555-6666-7777-888899990000";
const AK: &str = "HPUATESTACCESSKEY01";
const SK: &str = "hc-secret-key-not-real-0123456789";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const TOKEN: &str = "hc-security-token-not-real";
struct HcCase {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    fake: Fake,
    env: Vec<(&'static str, String)>,
}

impl HcCase {
    /// Both tools pointed at the fake for tr-west-1, with the test key pair and project.
    fn new() -> HcCase {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_path_buf();
        let fake = Fake::start();
        let env = vec![
            ("HUAWEICLOUD_SDK_AK", AK.to_string()),
            ("HUAWEICLOUD_SDK_SK", SK.to_string()),
            ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT.to_string()),
            (
                "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
                format!("http://127.0.0.1:{}", fake.port),
            ),
            ("SOPS_DISABLE_VERSION_CHECK", "1".to_string()),
        ];
        HcCase {
            _tmp: tmp,
            home,
            fake,
            env,
        }
    }

    fn set(&mut self, name: &'static str, value: Option<String>) {
        self.env.retain(|(k, _)| *k != name);
        if let Some(v) = value {
            self.env.push((name, v));
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = common::seal(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.timeout(std::time::Duration::from_secs(30));
        c
    }

    fn sops(&self) -> std::process::Command {
        let mut c = common::sops(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// seal run as `sops` (a link named sops) with this case's environment.
    fn seal_as_sops(&self) -> assert_cmd::Command {
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
            .timeout(std::time::Duration::from_secs(30));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn assert_all_verified(&self) {
        let seen = self.fake.seen();
        assert!(
            seen.iter().all(|s| s.verified),
            "a request failed the signature check: {seen:?}"
        );
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn enc_of(file: &str) -> String {
    file.lines()
        .find_map(|l| l.trim().strip_prefix("enc: "))
        .unwrap()
        .to_string()
}

#[test]
fn sops_and_seal_wrap_and_unwrap_through_the_same_kms_both_ways() {
    let c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let seen = c.fake.seen();
    assert!(
        seen.iter().any(|s| s.path.ends_with("/kms/encrypt-data")
            && s.user_agent.starts_with("huaweicloud-usdk-go/")
            && s.verified),
        "{seen:?}"
    );
    c.assert_all_verified();
    c.fake.clear();
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let seen = c.fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, format!("/v1.0/{PROJECT}/kms/encrypt-data"));
    assert!(seen[0].user_agent.starts_with("seal/"), "{seen:?}");
    assert_eq!(seen[0].signed_headers, "host;x-project-id;x-sdk-date");
    c.assert_all_verified();
    assert_eq!(
        crate::services::metadata_shape(&by_seal),
        crate::services::metadata_shape(&by_sops),
        "seal:\n{by_seal}\nsops:\n{by_sops}"
    );
    assert!(
        by_seal.contains(&format!("    hckms:\n        - key_id: {ID}\n")),
        "{by_seal}"
    );
    assert!(!by_seal.contains("s3cr3t"));
    let sops_file = c.write("sops.yaml", &by_sops);
    let seal_file = c.write("seal.yaml", &by_seal);
    // filestatus counts the hckms entries as keys, as sops does.
    for f in [&sops_file, &seal_file] {
        assert_eq!(
            ok(c.seal().arg("filestatus").arg(f).output().unwrap()),
            ok(c.sops().arg("filestatus").arg(f).output().unwrap())
        );
    }
    assert_eq!(
        ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap()),
        PLAIN
    );
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&seal_file).output().unwrap()),
        PLAIN
    );
    c.assert_all_verified();
    // The same through the regions file instead of the variable, for both tools.
    let mut c = c;
    let regions = c.write(
        "regions.yaml",
        &format!(
            "KMS:\n  - id: tr-west-1\n    endpoint: http://127.0.0.1:{}\n",
            c.fake.port
        ),
    );
    c.set("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1", None);
    c.set(
        "HUAWEICLOUD_SDK_REGIONS_FILE",
        Some(regions.display().to_string()),
    );
    c.fake.clear();
    assert_eq!(
        ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap()),
        PLAIN
    );
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&seal_file).output().unwrap()),
        PLAIN
    );
    assert_eq!(c.fake.seen().len(), 2, "{:?}", c.fake.seen());
    c.assert_all_verified();
}

#[test]
fn an_age_key_and_a_hckms_key_in_one_group_open_the_file_alone_in_both_tools() {
    let mut c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let age = common::recipient("alice");
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--age", &age, "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--age", &age, "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    assert_eq!(
        crate::services::metadata_shape(&by_seal),
        crate::services::metadata_shape(&by_sops),
        "seal:\n{by_seal}\nsops:\n{by_sops}"
    );
    let seal_file = c.write("seal.yaml", &by_seal);
    let sops_file = c.write("sops.yaml", &by_sops);
    // Through KMS alone (no age identity anywhere).
    for f in [&seal_file, &sops_file] {
        assert_eq!(ok(c.seal().arg("decrypt").arg(f).output().unwrap()), PLAIN);
        assert_eq!(ok(c.sops().arg("decrypt").arg(f).output().unwrap()), PLAIN);
    }
    c.assert_all_verified();
    // Through age alone: KMS pointed at a closed port on 127.0.0.1 for both (credentials
    // stay set, so sops's SDK would never look for metadata), the age key opens it.
    c.set(
        "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
        Some("http://127.0.0.1:1".into()),
    );
    c.set(
        "SOPS_AGE_KEY_FILE",
        Some(common::key_file("alice").display().to_string()),
    );
    c.fake.clear();
    for f in [&seal_file, &sops_file] {
        assert_eq!(ok(c.seal().arg("decrypt").arg(f).output().unwrap()), PLAIN);
        // sops tries age first (its default decryption order), so it never asks KMS.
        assert_eq!(ok(c.sops().arg("decrypt").arg(f).output().unwrap()), PLAIN);
    }
    assert!(c.fake.seen().is_empty(), "{:?}", c.fake.seen());
}

#[test]
fn rules_key_groups_rotate_updatekeys_and_seal_as_sops_take_hckms_keys() {
    let c = HcCase::new();
    c.write("plain.yaml", PLAIN);
    // A flat rule, as sops's config has it (a list of key IDs).
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - hckms:\n      - {ID}\n"),
    );
    let rule_seal = ok(c.seal().args(["encrypt", "plain.yaml"]).output().unwrap());
    let rule_sops = ok(c.sops().args(["encrypt", "plain.yaml"]).output().unwrap());
    assert_eq!(
        crate::services::metadata_shape(&rule_seal),
        crate::services::metadata_shape(&rule_sops),
        "seal:\n{rule_seal}\nsops:\n{rule_sops}"
    );
    // A key group (`- key_id: …`).
    c.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - key_groups:\n      - hckms:\n          - key_id: {ID}\n"),
    );
    let group_seal = ok(c.seal().args(["encrypt", "plain.yaml"]).output().unwrap());
    let group_sops = ok(c.sops().args(["encrypt", "plain.yaml"]).output().unwrap());
    assert_eq!(
        crate::services::metadata_shape(&group_seal),
        crate::services::metadata_shape(&group_sops)
    );
    // rotate: add the second key, remove the first; sops opens the result.
    let f = c.write("f.yaml", &group_seal);
    let rotated = ok(c
        .seal()
        .args(["rotate", "--add-hckms", ID2, "--rm-hckms", ID])
        .arg(&f)
        .output()
        .unwrap());
    assert!(rotated.contains(&format!("key_id: {ID2}")), "{rotated}");
    assert!(!rotated.contains(&format!("key_id: {ID}\n")), "{rotated}");
    let r = c.write("rotated.yaml", &rotated);
    assert_eq!(ok(c.sops().arg("decrypt").arg(&r).output().unwrap()), PLAIN);
    // updatekeys back to the rule's key.
    ok(c.seal()
        .args(["updatekeys", "-y"])
        .arg(&r)
        .output()
        .unwrap());
    let updated = std::fs::read_to_string(&r).unwrap();
    assert!(updated.contains(&format!("key_id: {ID}\n")), "{updated}");
    assert!(!updated.contains(ID2), "{updated}");
    assert_eq!(ok(c.sops().arg("decrypt").arg(&r).output().unwrap()), PLAIN);
    // seal as sops passes --hckms on (encrypt, and rotate's --add-hckms), and groups add.
    let p = c.home.join("plain.yaml");
    let as_sops = ok(c
        .seal_as_sops()
        .args(["encrypt", "--hckms", ID2])
        .arg(&p)
        .output()
        .unwrap());
    assert!(as_sops.contains(&format!("key_id: {ID2}")), "{as_sops}");
    let a = c.write("as_sops.yaml", &as_sops);
    assert_eq!(ok(c.sops().arg("decrypt").arg(&a).output().unwrap()), PLAIN);
    let o = c
        .seal_as_sops()
        .args(["groups", "add", "--file"])
        .arg(&a)
        .args(["--hckms", ID, "-i"])
        .output()
        .unwrap();
    ok(o);
    let grouped = std::fs::read_to_string(&a).unwrap();
    assert_eq!(grouped.matches("hckms:").count(), 2, "{grouped}");
    assert_eq!(ok(c.sops().arg("decrypt").arg(&a).output().unwrap()), PLAIN);
    c.assert_all_verified();
    // Endpoints in a comma list are tried in order: a closed port first, then the fake.
    let mut c = c;
    c.set(
        "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
        Some(format!(
            "http://127.0.0.1:1,http://127.0.0.1:{}",
            c.fake.port
        )),
    );
    c.fake.clear();
    assert_eq!(ok(c.seal().arg("decrypt").arg(&a).output().unwrap()), PLAIN);
    // One request per key group (both groups are needed).
    assert_eq!(c.fake.seen().len(), 2);
    // A plain-HTTP endpoint that is not loopback is refused before any request.
    c.set(
        "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
        Some("http://kms.example.invalid".into()),
    );
    let o = c.seal().arg("decrypt").arg(&a).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    assert!(stderr(&o).contains("not loopback"), "{}", stderr(&o));
}

#[test]
fn temporary_credentials_and_the_profile_file_are_read_as_the_sdk_reads_them() {
    let mut c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    // A security token: sent and signed as X-Security-Token by both tools.
    *c.fake.state.token.lock().unwrap() = Some(TOKEN.to_string());
    c.set("HUAWEICLOUD_SDK_SECURITY_TOKEN", Some(TOKEN.into()));
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let f = c.write("f.yaml", &by_seal);
    assert_eq!(ok(c.sops().arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    c.assert_all_verified();
    assert!(
        c.fake
            .seen()
            .iter()
            .all(|s| s.signed_headers.contains("x-security-token")),
        "{:?}",
        c.fake.seen()
    );
    // Without the token the fake refuses: the check is real.
    c.set("HUAWEICLOUD_SDK_SECURITY_TOKEN", None);
    let o = c.seal().arg("decrypt").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    *c.fake.state.token.lock().unwrap() = None;
    // The profile file: ~/.huaweicloud/credentials, [basic], for both tools.
    for k in [
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_PROJECT_ID",
    ] {
        c.set(k, None);
    }
    std::fs::create_dir_all(c.home.join(".huaweicloud")).unwrap();
    c.write(
        ".huaweicloud/credentials",
        &format!("[basic]\nak = {AK}\nsk = {SK}\nproject_id = {PROJECT}\n"),
    );
    c.fake.clear();
    assert_eq!(ok(c.seal().arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    assert_eq!(ok(c.sops().arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    assert_eq!(c.fake.seen().len(), 2);
    c.assert_all_verified();
}

#[test]
fn refusals_name_the_key_with_sops_exit_codes_and_no_secret() {
    let mut c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let file = ok(c
        .seal()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let good = c.write("good.yaml", &file);
    // A ciphertext made under another key does not open (the fake's keys are real keys).
    let moved = c.write(
        "moved.yaml",
        &file.replace(&format!("key_id: {ID}"), &format!("key_id: {ID2}")),
    );
    let o = c.seal().arg("decrypt").arg(&moved).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = stderr(&o);
    assert!(
        e.contains("refused decrypt-data") && e.contains(ID2) && e.contains("KMS.0209"),
        "{e}"
    );
    let so = c.sops().arg("decrypt").arg(&moved).output().unwrap();
    assert_eq!(so.status.code(), o.status.code(), "sops: {so:?}");
    // An altered enc.
    let enc = enc_of(&file);
    let broken = c.write("broken.yaml", &file.replace(&enc, "AAAA"));
    let o = c.seal().arg("decrypt").arg(&broken).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let so = c.sops().arg("decrypt").arg(&broken).output().unwrap();
    assert_eq!(so.status.code(), Some(128), "sops: {so:?}");
    // A key that does not exist, and a malformed key ID, when encrypting (sops: exit 1).
    let unknown = "tr-west-1:00000000-dead-beef-0000-000000000000";
    let o = c
        .seal()
        .args(["encrypt", "--hckms", unknown])
        .arg(&p)
        .output()
        .unwrap();
    let so = c
        .sops()
        .args(["encrypt", "--hckms", unknown])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), so.status.code(), "seal {o:?}\nsops {so:?}");
    assert!(stderr(&o).contains("KMS.0205"), "{}", stderr(&o));
    let o = c
        .seal()
        .args(["encrypt", "--hckms", "no-colon-here"])
        .arg(&p)
        .output()
        .unwrap();
    let so = c
        .sops()
        .args(["encrypt", "--hckms", "no-colon-here"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), so.status.code(), "seal {o:?}\nsops {so:?}");
    assert!(
        stderr(&o).contains("invalid key ID format: expected 'region:key-uuid'"),
        "{}",
        stderr(&o)
    );
    // A region outside the SDK's table: both refuse it before any request, listing the
    // same regions (seal's table is the SDK's).
    let o = c
        .seal()
        .args(["encrypt", "--hckms", "xx-nowhere-1:abc"])
        .arg(&p)
        .output()
        .unwrap();
    let so = c
        .sops()
        .args(["encrypt", "--hckms", "xx-nowhere-1:abc"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), so.status.code(), "seal {o:?}\nsops {so:?}");
    let listed = |e: &str, open: &str, close: char| -> Vec<String> {
        let from = e.find(open).map(|i| i + open.len()).unwrap_or_default();
        let rest = &e[from..];
        rest[..rest.find(close).unwrap_or(rest.len())]
            .split(", ")
            .map(str::to_string)
            .collect()
    };
    let sops_regions = listed(&stderr(&so), "service 'KMS': [", ']');
    assert!(sops_regions.len() > 20, "{}", stderr(&so));
    assert_eq!(listed(&stderr(&o), "(as the SDK: ", ')'), sops_regions);
    // The wrong secret key: the fake's verifier refuses it, both tools exit as sops does.
    c.set(
        "HUAWEICLOUD_SDK_SK",
        Some("wrong-secret-key-not-real".into()),
    );
    c.fake.clear();
    let o = c.seal().arg("decrypt").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = stderr(&o);
    assert!(e.contains("APIGW.0301") && e.contains(ID), "{e}");
    assert!(
        !e.contains("wrong-secret-key") && !e.contains(SK) && !e.contains("s3cr3t"),
        "{e}"
    );
    let so = c.sops().arg("decrypt").arg(&good).output().unwrap();
    assert_eq!(so.status.code(), Some(128), "sops: {so:?}");
    let o = c
        .seal()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap();
    let so = c
        .sops()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), so.status.code(), "seal {o:?}\nsops {so:?}");
    assert!(!stderr(&o).contains("wrong-secret-key"));
    let seen = c.fake.seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|s| !s.verified),
        "{seen:?}"
    );
}

#[test]
fn no_credentials_fail_fast_without_any_connection() {
    let mut c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let file = c.write(
        "f.yaml",
        &ok(c
            .seal()
            .args(["encrypt", "--hckms", ID])
            .arg(&p)
            .output()
            .unwrap()),
    );
    c.fake.clear();
    c.set("HUAWEICLOUD_SDK_AK", None);
    c.set("HUAWEICLOUD_SDK_SK", None);
    let t = std::time::Instant::now();
    let o = c.seal().arg("decrypt").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = stderr(&o);
    assert!(
        e.contains("no HuaweiCloud credentials") && e.contains("HUAWEICLOUD_SDK_AK"),
        "{e}"
    );
    let o = c
        .seal()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no HuaweiCloud credentials"),
        "{}",
        stderr(&o)
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(c.fake.seen().is_empty(), "{:?}", c.fake.seen());
}

#[test]
fn the_environment_list_and_edit_of_a_new_file_take_hckms_keys_as_sops_does() {
    let c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    // SOPS_HUAWEICLOUD_KMS_IDS names the keys, for seal and for seal as sops.
    let by_sops = ok(c
        .sops()
        .env("SOPS_HUAWEICLOUD_KMS_IDS", format!("{ID}, {ID2}"))
        .arg("encrypt")
        .arg(&p)
        .output()
        .unwrap());
    for mut cmd in [c.seal(), c.seal_as_sops()] {
        let two = ok(cmd
            .env("SOPS_HUAWEICLOUD_KMS_IDS", format!("{ID}, {ID2}"))
            .arg("encrypt")
            .arg(&p)
            .output()
            .unwrap());
        assert_eq!(
            crate::services::metadata_shape(&two),
            crate::services::metadata_shape(&by_sops),
            "seal:\n{two}\nsops:\n{by_sops}"
        );
    }
    // `seal edit --hckms` and `sops edit --hckms` (seal as sops) of a new file.
    let editor = c.write(
        "editor.sh",
        "#!/bin/sh\nprintf 'token: s3cr3t\\n' > \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (name, mut cmd) in [("new1.yaml", c.seal()), ("new2.yaml", c.seal_as_sops())] {
        let new = c.home.join(name);
        ok(cmd
            .env("EDITOR", &editor)
            .args(["edit", "--hckms", ID])
            .arg(&new)
            .output()
            .unwrap());
        let made = std::fs::read_to_string(&new).unwrap();
        assert!(made.contains(&format!("key_id: {ID}")), "{made}");
        assert_eq!(
            ok(c.sops().arg("decrypt").arg(&new).output().unwrap()),
            "token: s3cr3t\n"
        );
    }
    c.assert_all_verified();
}

#[test]
fn without_a_project_id_both_tools_look_the_project_up_through_iam() {
    let mut c = HcCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let (port, ca) = c.fake.start_tls(&c.home.clone());
    c.set("HUAWEICLOUD_SDK_PROJECT_ID", None);
    c.set(
        "HUAWEICLOUD_SDK_IAM_ENDPOINT",
        Some(format!("https://127.0.0.1:{port}")),
    );
    c.set("SSL_CERT_FILE", Some(ca.display().to_string()));
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--hckms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let seen = c.fake.seen();
    let lookups: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path == "/v3/projects?name=tr-west-1")
        .collect();
    assert_eq!(lookups.len(), 2, "one lookup by each tool: {seen:?}");
    assert!(
        lookups[0].user_agent.starts_with("Go-http-client"),
        "{seen:?}"
    );
    assert!(lookups[1].user_agent.starts_with("seal/"), "{seen:?}");
    c.assert_all_verified();
    let sops_file = c.write("sops.yaml", &by_sops);
    let seal_file = c.write("seal.yaml", &by_seal);
    assert_eq!(
        ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap()),
        PLAIN
    );
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&seal_file).output().unwrap()),
        PLAIN
    );
    c.assert_all_verified();
    // A region IAM lists no project for: the message says what to set.
    let other = "ap-southeast-1:0b7e1c4a-1111-2222-3333-444455556666";
    c.set(
        "HUAWEICLOUD_SDK_REGION_KMS_AP_SOUTHEAST_1",
        Some(format!("http://127.0.0.1:{}", c.fake.port)),
    );
    let o = c
        .seal()
        .args(["encrypt", "--hckms", other])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("no project named \"ap-southeast-1\"")
            && e.contains("HUAWEICLOUD_SDK_PROJECT_ID"),
        "{e}"
    );
    assert!(!e.contains(SK), "{e}");
}
