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
    // The key itself (its latest version), as sops's SDK asks for a URL without a version.
    let (unversioned, _) = name.rsplit_once('/').unwrap();
    if req.method == "GET" && path.trim_end_matches('/') == unversioned {
        return (
            200,
            serde_json::json!({"key": {"kid": KEY, "kty": "RSA", "key_ops": ["encrypt", "decrypt"]},
                               "attributes": {"enabled": true}}),
        );
    }
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
    let assertion = get("client_assertion");
    if !assertion.is_empty() {
        let token_url = format!("{login}/{TENANT}/oauth2/v2.0/token");
        let federated = FEDERATED.get().is_some_and(|f| *f == assertion);
        if get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            || !(federated || assertion_ok(&assertion, &token_url))
        {
            return (
                401,
                serde_json::json!({"error": "invalid_client",
                    "error_description": "AADSTS700027: Client assertion failed signature validation."}),
            );
        }
    }
    if get("grant_type") != "client_credentials"
        || get("client_id") != CLIENT
        || (assertion.is_empty() && get("client_secret") != SECRET)
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

/// The federated (workload identity) token the fake Entra ID trusts for CLIENT, as a
/// Kubernetes service-account token issuer would have signed it.
static FEDERATED: OnceLock<String> = OnceLock::new();

/// The client certificate the fake Entra ID trusts for CLIENT: its `x5t#S256` thumbprint
/// (standard base64 of the SHA-256 of its DER, as MSAL sends it) and public key.
static TRUSTED_CERT: OnceLock<(String, rsa::RsaPublicKey)> = OnceLock::new();

/// A client assertion as Entra ID checks one: PS256 by the trusted certificate's key (named
/// by `x5t#S256`), `iss` = `sub` = the client, `aud` the token endpoint, within `nbf`..`exp`.
fn assertion_ok(jwt: &str, token_url: &str) -> bool {
    use rsa::signature::Verifier as _;
    let Some((x5t, public)) = TRUSTED_CERT.get() else {
        return false;
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts[..] else {
        return false;
    };
    let json = |p: &str| -> serde_json::Value {
        B64URL
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    let (header, claims) = (json(h), json(c));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let Ok(sig) = B64URL.decode(sig) else {
        return false;
    };
    let signed = format!("{h}.{c}");
    // MSAL (sops's) signs PS256 and names the certificate by x5t#S256.
    let verified = header["alg"] == "PS256"
        && header["x5t#S256"].as_str() == Some(x5t.as_str())
        && rsa::pss::Signature::try_from(sig.as_slice()).is_ok_and(|s| {
            rsa::pss::VerifyingKey::<sha2::Sha256>::new(public.clone())
                .verify(signed.as_bytes(), &s)
                .is_ok()
        });
    verified
        && claims["iss"] == CLIENT
        && claims["sub"] == CLIENT
        && claims["aud"].as_str() == Some(token_url)
        && claims["exp"].as_u64().is_some_and(|e| e > now)
        && claims["nbf"].as_u64().is_none_or(|n| n <= now + 60)
        && claims["jti"].as_str().is_some_and(|j| !j.is_empty())
}

/// A self-signed client certificate and its key in one PEM file (as `openssl pkcs12
/// -nodes` writes a PFX out), made by openssl; returns (path, x5t, public key).
fn client_certificate(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, String, rsa::RsaPublicKey) {
    use rsa::pkcs8::DecodePrivateKey as _;
    use sha2::Digest as _;
    let (key, cert, der) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.der")),
    );
    let run = |args: &[&std::ffi::OsStr]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {o:?}");
    };
    run(&[
        "req".as_ref(),
        "-x509".as_ref(),
        "-newkey".as_ref(),
        "rsa:2048".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        cert.as_os_str(),
        "-subj".as_ref(),
        "/CN=seal-test-client".as_ref(),
        "-days".as_ref(),
        "2".as_ref(),
    ]);
    run(&[
        "x509".as_ref(),
        "-in".as_ref(),
        cert.as_os_str(),
        "-outform".as_ref(),
        "der".as_ref(),
        "-out".as_ref(),
        der.as_os_str(),
    ]);
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let public = rsa::RsaPrivateKey::from_pkcs8_pem(&key_pem)
        .unwrap()
        .to_public_key();
    let der = std::fs::read(&der).unwrap();
    let x5t = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&der));
    let both = dir.join(format!("{name}.pem"));
    std::fs::write(&both, std::fs::read_to_string(&cert).unwrap() + &key_pem).unwrap();
    (both, x5t, public)
}

fn azure_case() -> GcpCase {
    let mut c = GcpCase::new();
    c.set("GOOGLE_OAUTH_ACCESS_TOKEN", None);
    // Azure's instance metadata address goes to the same trap as Google's.
    let trap = c
        .env
        .iter()
        .find(|(k, _)| *k == "GCE_METADATA_HOST")
        .map(|(_, v)| format!("http://{v}"))
        .unwrap();
    c.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", Some(trap));
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

#[test]
fn a_client_certificate_gets_both_tools_a_token_and_an_untrusted_one_is_refused() {
    let mut c = azure_case();
    let (trusted, x5t, public) = client_certificate(&c.home, "client");
    TRUSTED_CERT.get_or_init(|| (x5t, public));
    c.set("AZURE_CLIENT_SECRET", None);
    c.set(
        "AZURE_CLIENT_CERTIFICATE_PATH",
        Some(trusted.display().to_string()),
    );
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
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
    // A certificate Entra ID does not know: both tools are refused (exit 128), and the
    // message names the file, not the key.
    let (other, _, _) = client_certificate(&c.home, "other");
    c.set(
        "AZURE_CLIENT_CERTIFICATE_PATH",
        Some(other.display().to_string()),
    );
    let o = c.seal().arg("decrypt").arg(&sops_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("AADSTS700027") && e.contains("AZURE_CLIENT_CERTIFICATE_PATH"),
        "{e}"
    );
    assert!(!e.contains("PRIVATE KEY"), "{e}");
    let o = c.sops().arg("decrypt").arg(&seal_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    // A PKCS#12 file is named as such, with the conversion to PEM.
    let pfx = c.write("client.pfx", "\u{30}\u{82}binary");
    c.set(
        "AZURE_CLIENT_CERTIFICATE_PATH",
        Some(pfx.display().to_string()),
    );
    let o = c.seal().arg("decrypt").arg(&sops_file).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(128), "{e}");
    assert!(e.contains("openssl pkcs12"), "{e}");
}

#[test]
fn a_key_url_without_a_version_takes_the_latest_one_as_sops_does() {
    let c = azure_case();
    let p = c.write("plain.yaml", PLAIN);
    let latest = KEY.rsplit_once('/').unwrap().0;
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--azure-kv", latest])
        .arg(&p)
        .output()
        .unwrap());
    c.fake.clear();
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", latest])
        .arg(&p)
        .output()
        .unwrap());
    assert!(
        c.fake
            .seen()
            .iter()
            .any(|s| s.method == "GET" && s.path.starts_with("/keys/sops-key")),
        "seal did not look the version up: {:?}",
        c.fake.seen()
    );
    assert_eq!(
        crate::services::metadata_shape(&by_seal),
        crate::services::metadata_shape(&by_sops),
        "seal:\n{by_seal}\nsops:\n{by_sops}"
    );
    assert!(by_seal.contains("version: 0123456789abcdef"), "{by_seal}");
    let seal_file = c.write("seal.yaml", &by_seal);
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&seal_file).output().unwrap()),
        PLAIN
    );
    let sops_file = c.write("sops.yaml", &by_sops);
    assert_eq!(
        ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap()),
        PLAIN
    );
}

#[test]
fn a_workload_identity_token_file_gets_both_tools_a_token() {
    let mut c = azure_case();
    let trusted = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Zmx1eC1zeXN0ZW06a3VzdG9taXplLWNvbnRyb2xsZXIifQ.c2lnbmF0dXJl";
    FEDERATED.get_or_init(|| trusted.to_string());
    // As the kubelet projects it: no line break at the end.
    let file = c.write("azure-identity-token", trusted);
    c.set("AZURE_CLIENT_SECRET", None);
    c.set(
        "AZURE_FEDERATED_TOKEN_FILE",
        Some(file.display().to_string()),
    );
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
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
    // Another token (expired, another cluster): refused for both, and never shown.
    std::fs::write(&file, "eyJ.other-token-not-trusted.sig").unwrap();
    let o = c.seal().arg("decrypt").arg(&sops_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("AZURE_FEDERATED_TOKEN_FILE") && !e.contains("other-token"),
        "{e}"
    );
    let o = c.sops().arg("decrypt").arg(&seal_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
}

/// An `az` on PATH that answers `account get-access-token` with `token` (the fake's
/// static token) and logs its arguments; exit 1 with az's words when `token` is empty.
fn fake_az(c: &GcpCase, token: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = c.home.join("az-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = if token.is_empty() {
        "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/args.log\"\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n".to_string()
    } else {
        format!(
            "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/args.log\"\nprintf '{{\"accessToken\": \"{token}\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"subscription\": \"s\", \"tenant\": \"{TENANT}\", \"tokenType\": \"Bearer\"}}\\n'\n"
        )
    };
    let az = bin.join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn the_az_cli_login_gets_both_tools_a_token_as_the_chain_ends() {
    let mut c = azure_case();
    for v in ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID"] {
        c.set(v, None);
    }
    // Azure's SDKs skip the service credentials (and so instance metadata) with `dev`.
    c.set("AZURE_TOKEN_CREDENTIALS", Some("dev".into()));
    let bin = fake_az(&c, crate::gcp::STATIC_TOKEN);
    let path = format!("{}:/usr/bin:/bin", bin.display());
    c.set("PATH", Some(path));
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
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
    let log = std::fs::read_to_string(bin.join("args.log")).unwrap();
    assert!(
        log.lines().all(|l| l.contains("account get-access-token")
            && l.contains("https://vault.azure.net")
            && l.contains(&format!("--tenant {TENANT}"))),
        "{log}"
    );
    // Not logged in: az's own words, exit 128 for both.
    fake_az(&c, "");
    let o = c.seal().arg("decrypt").arg(&sops_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("az login") && e.contains("az CLI could not get a token"),
        "{e}"
    );
    let o = c.sops().arg("decrypt").arg(&seal_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("AzureCLICredential") && !e.contains("ManagedIdentityCredential"),
        "sops tried more than the developer credentials: {e}"
    );
}

/// `sops groups add --azure-kv URL` wraps the file's data key for a new group with the Key
/// Vault key: seal as sops writes the `sops:` block the real sops writes, the MAC stays,
/// and with the age group deleted the real sops opens the file through Key Vault alone.
#[test]
fn groups_add_with_an_azure_key_wraps_the_data_key_as_sops_does() {
    let c = azure_case();
    let alice = crate::common::recipient("alice");
    let p = c.write("plain.yaml", PLAIN);
    let before = ok(c
        .sops()
        .args(["encrypt", "--age", &alice])
        .arg(&p)
        .output()
        .unwrap());
    let mac = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("mac:"))
            .map(str::to_string)
    };
    let add = ["groups", "add", "--azure-kv", KEY, "-i", "-f"];
    let delete = [
        "groups",
        "delete",
        "-i",
        "--shamir-secret-sharing-threshold",
        "1",
        "0",
        "-f",
    ];
    let mut shapes = Vec::new();
    for tool in ["sops", "seal"] {
        let name = format!("by-{tool}.yaml");
        let f = c.write(&name, &before);
        let run = |args: &[&str]| {
            if tool == "sops" {
                let mut cmd = c.sops();
                cmd.env("SOPS_AGE_KEY_FILE", crate::common::key_file("alice"))
                    .current_dir(&c.home)
                    .args(args)
                    .arg(&name);
                ok(cmd.output().unwrap());
            } else {
                ok(c.seal_as_sops()
                    .env("SOPS_AGE_KEY_FILE", crate::common::key_file("alice"))
                    .args(args)
                    .arg(&name)
                    .output()
                    .unwrap());
            }
        };
        c.fake.clear();
        run(&add);
        assert!(
            c.fake.seen().iter().any(|s| s.path.ends_with("/encrypt")),
            "{tool} did not reach Key Vault"
        );
        let added = std::fs::read_to_string(&f).unwrap();
        assert_eq!(mac(&added), mac(&before), "{tool}");
        assert!(
            added.contains("vault_url: https://sealtest.vault.azure.net"),
            "{added}"
        );
        shapes.push(crate::services::metadata_shape(&added));
        run(&delete);
        let after = std::fs::read_to_string(&f).unwrap();
        assert!(!after.contains(&alice), "{after}");
        assert_eq!(
            ok(c.sops().arg("decrypt").arg(&f).output().unwrap()),
            PLAIN,
            "sops opens the file {tool} changed through Key Vault alone"
        );
    }
    assert_eq!(shapes[0], shapes[1], "sops (left) and seal as sops (right)");
}

/// A fake Azure instance metadata endpoint on 127.0.0.1: a token (`token`) for
/// `resource=https://vault.azure.net` when the request carries `Metadata: true`, else
/// IMDS's 400; each request's first line is kept.
fn fake_imds(token: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut metadata = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                metadata |= lower.starts_with("metadata: true")
                    || lower.starts_with("x-identity-header: seal-test-identity-header");
            }
            s2.lock().unwrap().push(first.trim().to_string());
            let ok = metadata && first.contains("resource=https%3A%2F%2Fvault.azure.net");
            let (status, body) = if ok {
                (
                    "200 OK",
                    serde_json::json!({"access_token": token, "expires_in": "3599", "token_type": "Bearer", "resource": "https://vault.azure.net"}),
                )
            } else {
                (
                    "400 Bad Request",
                    serde_json::json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
                )
            };
            let body = body.to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, seen)
}

#[test]
fn a_managed_identity_gets_a_token_when_nothing_else_is_set() {
    let mut c = azure_case();
    for v in ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID"] {
        c.set(v, None);
    }
    let (endpoint, seen) = fake_imds(crate::gcp::STATIC_TOKEN);
    // No az CLI to fall back on.
    c.set("PATH", Some("/usr/bin:/bin".into()));
    let p = c.write("plain.yaml", PLAIN);
    // App Service / Container Apps: IDENTITY_ENDPOINT with IDENTITY_HEADER, which both
    // tools take (and then never ask the instance metadata address).
    c.set("IDENTITY_ENDPOINT", Some(format!("{endpoint}/msi/token")));
    c.set("IDENTITY_HEADER", Some("seal-test-identity-header".into()));
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--azure-kv", KEY])
        .arg(&p)
        .output()
        .unwrap());
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
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("GET /msi/token?api-version=2019-08-01")),
        "{:?}",
        seen.lock().unwrap()
    );
    // A VM or AKS node identity: the instance metadata endpoint, here at
    // AZURE_POD_IDENTITY_AUTHORITY_HOST. seal only: sops 3.11's SDK no longer reads that
    // variable (measured: it asked 169.254.169.254), so it is not run here.
    c.set("IDENTITY_ENDPOINT", None);
    c.set("IDENTITY_HEADER", None);
    c.set("AZURE_POD_IDENTITY_AUTHORITY_HOST", Some(endpoint));
    assert_eq!(
        ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap()),
        PLAIN
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("GET /metadata/identity/oauth2/token?api-version=2018-02-01")),
        "{:?}",
        seen.lock().unwrap()
    );
    c.assert_no_metadata_connection();
}
