//! Azure Key Vault master keys (part of the `aws_kms_interop` test binary) through the fake
//! of `gcp_kms.rs`: the proxy on 127.0.0.1 answers the tunnels to
//! `sealtest.vault.azure.net` (the Key Vault key operations `encrypt`/`decrypt` with
//! RSA-OAEP-256 under a real RSA key, and the unauthenticated challenge sops's SDK sends
//! first) and to `login.microsoftonline.com` (the instance discovery, OpenID configuration
//! and client-credentials token endpoint MSAL uses: measured with sops 3.11). Both tools
//! run against it, both directions. What only a real tenant would prove: Entra ID's and
//! Key Vault's access decisions and error texts.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use crate::gcp::{GcpCase, PLAIN, Request, State, form, gerr, ok};

const VAULT: &str = "https://sealtest.vault.azure.net";
const KEY: &str = "https://sealtest.vault.azure.net/keys/sops-key/0123456789abcdef";
pub(crate) const TENANT: &str = "00000000-test-tenant";
const CLIENT: &str = "11111111-test-client";
const SECRET: &str = "client-secret-not-real";

fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static K: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    K.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap())
}

fn azerr(code: u16, c: &str, message: &str) -> (u16, serde_json::Value) {
    (
        code,
        serde_json::json!({"error": {"code": c, "message": message}}),
    )
}

/// Key Vault's key operations.
pub(crate) fn key_vault(req: &Request, path: &str, st: &State) -> (u16, serde_json::Value) {
    let bearer = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        // The challenge (sops's SDK sends the operation without a token first): the
        // response writer adds `WWW-Authenticate` naming the tenant and the resource.
        return azerr(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer.",
        );
    };
    if !st.tokens.lock().unwrap().iter().any(|t| t == bearer) {
        return azerr(401, "Unauthorized", "AKV10032: Invalid issuer.");
    }
    let name = KEY.strip_prefix(VAULT).unwrap();
    let Some(op) = path.strip_prefix(name).and_then(|r| r.strip_prefix('/')) else {
        return azerr(
            404,
            "KeyNotFound",
            "A key with (name/id) was not found in this key vault.",
        );
    };
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if body["alg"] != "RSA-OAEP-256" {
        return azerr(400, "BadParameter", "The algorithm is not RSA-OAEP-256.");
    }
    let Some(value) = body["value"].as_str().and_then(|v| B64URL.decode(v).ok()) else {
        return azerr(400, "BadParameter", "value is not base64url");
    };
    let key = rsa_key();
    let out = match op {
        "encrypt" => key
            .to_public_key()
            .encrypt(
                &mut rand::thread_rng(),
                rsa::Oaep::new::<sha2::Sha256>(),
                &value,
            )
            .ok(),
        "decrypt" => key.decrypt(rsa::Oaep::new::<sha2::Sha256>(), &value).ok(),
        _ => return azerr(404, "NotFound", "no such operation"),
    };
    match out {
        Some(v) => (
            200,
            serde_json::json!({"kid": KEY, "value": B64URL.encode(v)}),
        ),
        None => azerr(400, "BadParameter", "Error decrypting the data."),
    }
}

/// Microsoft Entra ID as MSAL reaches it: instance discovery, OpenID configuration, tokens.
pub(crate) fn entra(req: &Request, path: &str, st: &State) -> (u16, serde_json::Value) {
    let login = "https://login.microsoftonline.com";
    if path == "/common/discovery/instance" {
        return (
            200,
            serde_json::json!({
                "tenant_discovery_endpoint": format!("{login}/{TENANT}/v2.0/.well-known/openid-configuration"),
                "api-version": "1.1",
                "metadata": [{"preferred_network": "login.microsoftonline.com",
                              "preferred_cache": "login.windows.net",
                              "aliases": ["login.microsoftonline.com"]}],
            }),
        );
    }
    if path == format!("/{TENANT}/v2.0/.well-known/openid-configuration") {
        return (
            200,
            serde_json::json!({
                "authorization_endpoint": format!("{login}/{TENANT}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{login}/{TENANT}/oauth2/v2.0/token"),
                "issuer": format!("{login}/{TENANT}/v2.0"),
            }),
        );
    }
    if path != format!("/{TENANT}/oauth2/v2.0/token") || req.method != "POST" {
        return gerr(404, "NOT_FOUND", "no such endpoint");
    }
    let f = form(&req.body);
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if get("grant_type") != "client_credentials"
        || get("client_id") != CLIENT
        || get("client_secret") != SECRET
        || !get("scope").contains("https://vault.azure.net/.default")
    {
        return (
            401,
            serde_json::json!({"error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    let mut tokens = st.tokens.lock().unwrap();
    let t = format!("eyJ.azure-issued-{}", tokens.len());
    tokens.push(t.clone());
    (
        200,
        serde_json::json!({"access_token": t, "token_type": "Bearer", "expires_in": 3599}),
    )
}

fn azure_case() -> GcpCase {
    let mut c = GcpCase::new();
    c.set("GOOGLE_OAUTH_ACCESS_TOKEN", None);
    c.set("AZURE_TENANT_ID", Some(TENANT.into()));
    c.set("AZURE_CLIENT_ID", Some(CLIENT.into()));
    c.set("AZURE_CLIENT_SECRET", Some(SECRET.into()));
    c
}

#[test]
fn sops_and_seal_wrap_and_unwrap_through_the_same_key_vault_both_ways() {
    let c = azure_case();
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    c.fake.clear();
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    let seen = c.fake.seen();
    assert!(
        seen.iter().any(
            |s| s.tunnel.as_deref() == Some("sealtest.vault.azure.net:443")
                && s.path.ends_with("/encrypt")
        ),
        "{seen:?}"
    );
    assert_eq!(
        crate::services::metadata_shape(&by_seal),
        crate::services::metadata_shape(&by_sops),
        "seal:\n{by_seal}\nsops:\n{by_sops}"
    );
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
    // A rule with a key group names the key as sops's config does.
    c.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - key_groups:\n      - azure_keyvault:\n          - vaultUrl: {VAULT}\n            key: sops-key\n            version: 0123456789abcdef\n"
        ),
    );
    let rule_seal = ok(c.seal().args(["encrypt", "plain.yaml"]).output().unwrap());
    let rule_sops = ok(c.sops().args(["encrypt", "plain.yaml"]).output().unwrap());
    assert_eq!(
        crate::services::metadata_shape(&rule_seal),
        crate::services::metadata_shape(&rule_sops)
    );
}

#[test]
fn a_wrong_secret_and_an_altered_key_are_refused_with_sops_exit_codes() {
    let mut c = azure_case();
    let p = c.write("plain.yaml", PLAIN);
    let file = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    let enc = file
        .lines()
        .find_map(|l| l.trim().strip_prefix("enc: "))
        .unwrap()
        .to_string();
    // Another wrapped value of the same length: the key does not open it.
    let mut other = B64URL.decode(&enc).unwrap();
    other[10] ^= 1;
    let altered = c.write("altered.yaml", &file.replace(&enc, &B64URL.encode(other)));
    let o = c.seal().arg("decrypt").arg(&altered).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("refused decrypt") && e.contains(KEY), "{e}");
    let o = c.sops().arg("decrypt").arg(&altered).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("Error decrypting the data"),
        "sops reached the key: {e}"
    );
    c.set("AZURE_CLIENT_SECRET", Some("wrong-secret-not-real".into()));
    let good = c.write("good.yaml", &file);
    let o = c.seal().arg("decrypt").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("AADSTS7000215") && e.contains("AZURE_CLIENT_ID"),
        "{e}"
    );
    assert!(!e.contains("wrong-secret") && !e.contains("s3cr3t"), "{e}");
    let o = c.sops().arg("decrypt").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("AADSTS7000215"), "sops asked for a token: {e}");
}

#[test]
fn seal_as_sops_rotates_in_an_azure_key_as_sops_does() {
    let mut c = azure_case();
    c.set(
        "SOPS_AGE_KEY_FILE",
        Some(crate::common::key_file("alice").display().to_string()),
    );
    let p = c.write("plain.yaml", PLAIN);
    let alice = crate::common::recipient("alice");
    let aged = ok(c
        .sops()
        .args(["encrypt", "--age", &alice])
        .arg(&p)
        .output()
        .unwrap());
    let f = c.write("aged.yaml", &aged);
    let by_sops = ok(c
        .sops()
        .args(["rotate", "--add-azure-kv", KEY])
        .arg(&f)
        .output()
        .unwrap());
    let as_sops = ok(c
        .seal_as_sops()
        .args(["rotate", "--add-azure-kv", KEY])
        .arg(&f)
        .output()
        .unwrap());
    assert_eq!(
        crate::services::metadata_shape(&as_sops),
        crate::services::metadata_shape(&by_sops),
        "seal as sops:\n{as_sops}\nsops:\n{by_sops}"
    );
    assert!(as_sops.contains("azure_kv:"), "{as_sops}");
    // The added key opens the file alone (no age key), for sops too.
    c.set("SOPS_AGE_KEY_FILE", None);
    let rotated = c.write("rotated.yaml", &as_sops);
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&rotated).output().unwrap()),
        PLAIN
    );
    // And --rm-azure-kv takes it out again, as in sops.
    c.set(
        "SOPS_AGE_KEY_FILE",
        Some(crate::common::key_file("alice").display().to_string()),
    );
    let removed = ok(c
        .seal_as_sops()
        .args(["rotate", "--rm-azure-kv", KEY])
        .arg(&rotated)
        .output()
        .unwrap());
    assert!(!removed.contains("azure_kv"), "{removed}");
}
