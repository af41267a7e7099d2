//! Azure Key Vault master keys, as sops's `azure_kv` key source: a data key (or Shamir
//! share) is wrapped by the key's `encrypt` operation with RSA-OAEP-256 and unwrapped by
//! `decrypt` (`POST {vault}/keys/{name}/{version}/encrypt?api-version=7.6`, body
//! `{"alg":"RSA-OAEP-256","value":base64url}`: the request sops 3.11 sends, measured).
//!
//! A key is named by its URL, `https://VAULT.vault.azure.net/keys/NAME/VERSION` (sops's
//! pattern `^(https://[^/]+)/keys/([^/]+)(/[^/]*)?$`; without a version, the latest one
//! is looked up before wrapping, `GET VAULT/keys/NAME/`, and written to the entry, as sops
//! does). A metadata entry is sops's: `vault_url`, `name`,
//! `version`, `created_at`, `enc` (unpadded base64url of the wrapped key).
//!
//! Credentials: a service principal's client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`), else its certificate (`AZURE_CLIENT_CERTIFICATE_PATH`, PEM, with
//! `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`) as a signed client assertion, else a workload
//! identity's federated token (`AZURE_FEDERATED_TOKEN_FILE`) as the assertion, exchanged with the
//! client-credentials grant at `AZURE_AUTHORITY_HOST` (default
//! `https://login.microsoftonline.com`) for the scope `https://vault.azure.net/.default`.
//! Without those, a managed identity (App Service's `IDENTITY_ENDPOINT`, else the instance
//! metadata endpoint, `AZURE_POD_IDENTITY_AUTHORITY_HOST` or 169.254.169.254, one second),
//! then the az CLI's login (`az account get-access-token`), as the chain ends;
//! `AZURE_TOKEN_CREDENTIALS` (`prod`, `dev`, a credential's name) narrows the chain as
//! Azure's SDKs do. A proxy (`HTTPS_PROXY`) and CA roots (`SSL_CERT_FILE`) come from
//! [`super::http`]. Secrets and data keys never appear in messages.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use zeroize::Zeroizing;

use super::gcp_kms::{form_escape, one_line};
use super::http;
use super::{Env, ServiceKey, ServiceType};
use crate::tree::{Branch, Item, Value};

/// The metadata field of this key type.
pub const TYPE: &str = "azure_kv";
/// The `.sops.yaml` field.
pub const RULE_FIELD: &str = "azure_keyvault";
/// The Key Vault API version sops 3.11 sends (measured).
const API_VERSION: &str = "7.6";

/// One `azure_kv:` entry of a key group (or, with `enc` empty, a key to wrap for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureKey {
    /// `https://VAULT.vault.azure.net`.
    pub vault_url: String,
    /// The key's name.
    pub name: String,
    /// The key's version.
    pub version: String,
    /// When the entry was made (RFC 3339 text as stored).
    pub created_at: String,
    /// Unpadded base64url of the wrapped key.
    pub enc: String,
}

const URL_SHAPE: &str = "https://VAULT.vault.azure.net/keys/NAME/VERSION";

impl AzureKey {
    /// A key from its URL, checked as sops checks it; the version may be left out.
    pub fn from_url(url: &str) -> Result<AzureKey, String> {
        let url = url.trim();
        let bad = |why: &str| {
            format!("{url:?} is not an Azure Key Vault key URL: {why} (expected {URL_SHAPE})")
        };
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| bad("it does not start with https://"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("it has no key path"))?;
        let parts: Vec<&str> = path.split('/').collect();
        if host.is_empty() || parts.len() < 2 || parts.len() > 3 || parts[0] != "keys" {
            return Err(bad("the path is not /keys/NAME/VERSION"));
        }
        if parts[1].is_empty() {
            return Err(bad("the key name is empty"));
        }
        // No version: the latest one is looked up when the key wraps (as sops does).
        let version = parts.get(2).copied().unwrap_or_default();
        Ok(AzureKey {
            vault_url: format!("https://{host}"),
            name: parts[1].to_string(),
            version: version.to_string(),
            ..AzureKey::default()
        })
    }

    /// Whether a recipient string names an Azure Key Vault key (`https://HOST/keys/…`;
    /// Vault transit URLs have `/v1/` there).
    pub fn claims(recipient: &str) -> bool {
        recipient
            .trim()
            .strip_prefix("https://")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(_, path)| path.starts_with("keys/"))
    }

    /// The key as sops names it: `VAULT_URL/keys/NAME/VERSION` (without `/VERSION` before
    /// the latest version was looked up).
    pub fn describe(&self) -> String {
        if self.version.is_empty() {
            format!("{}/keys/{}", self.vault_url, self.name)
        } else {
            format!("{}/keys/{}/{}", self.vault_url, self.name, self.version)
        }
    }

    fn url(&self, op: &str) -> String {
        format!("{}/{op}?api-version={API_VERSION}", self.describe())
    }
}

/// The recipient strings of `--azure-kv` lists (each comma-separated); a malformed URL is
/// named when the key is wrapped.
pub fn flag_recipients(lists: &[String]) -> Vec<String> {
    lists
        .iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            AzureKey::from_url(u)
                .map(|k| k.describe())
                .unwrap_or(u.to_string())
        })
        .collect()
}

/// The entries of a raw `azure_kv:` metadata list.
pub fn entries(list: &[Value]) -> Result<Vec<AzureKey>, String> {
    super::read_entries(list, "azure_kv", |e| {
        Ok(AzureKey {
            vault_url: e.need("vault_url")?,
            name: e.need("name")?,
            version: e.need("version")?,
            created_at: e.text("created_at").unwrap_or_default(),
            enc: e.need("enc")?,
        })
    })
}

/// The raw metadata entry sops writes, in sops's field order.
pub fn entry_value(key: &AzureKey) -> Value {
    let s = |v: &str| Value::Str(v.to_string());
    Value::Branch(Branch {
        items: vec![
            Item::Pair("vault_url".into(), s(&key.vault_url)),
            Item::Pair("name".into(), s(&key.name)),
            Item::Pair("version".into(), s(&key.version)),
            Item::Pair("created_at".into(), s(&key.created_at)),
            Item::Pair("enc".into(), s(&key.enc)),
        ],
    })
}

/// Wrap `payload` with the key (RSA-OAEP-256).
pub fn encrypt(key: &AzureKey, payload: &[u8], env: &dyn Env) -> Result<AzureKey, String> {
    let body = Zeroizing::new(
        serde_json::json!({ "alg": "RSA-OAEP-256", "value": B64URL.encode(payload) }).to_string(),
    );
    let key = &with_version(key, env)?;
    let value = value_of(
        key,
        "encrypt",
        call(key, "encrypt", Some(body.as_bytes()), env)?,
    )?;
    let wrapped = B64URL
        .decode(value.trim_end_matches('='))
        .ok()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            format!(
                "Azure Key Vault answered encrypt for {} without a base64url value",
                key.describe()
            )
        })?;
    let mut made = key.clone();
    made.enc = B64URL.encode(wrapped);
    made.created_at = crate::metadata::Metadata::now_lastmodified();
    Ok(made)
}

/// Unwrap an entry with the key.
pub fn decrypt(key: &AzureKey, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
    B64URL.decode(key.enc.trim()).map_err(|_| {
        format!(
            "the azure_kv entry of {} has an enc that is not unpadded base64url: the file was altered",
            key.describe()
        )
    })?;
    let body = serde_json::json!({ "alg": "RSA-OAEP-256", "value": key.enc.trim() }).to_string();
    if key.version.is_empty() {
        return Err(format!(
            "the azure_kv entry of {} names no key version: the file was altered",
            key.describe()
        ));
    }
    let value = Zeroizing::new(value_of(
        key,
        "decrypt",
        call(key, "decrypt", Some(body.as_bytes()), env)?,
    )?);
    B64URL
        .decode(value.trim_end_matches('='))
        .map(Zeroizing::new)
        .map_err(|_| {
            format!(
                "Azure Key Vault answered decrypt for {} without a base64url value",
                key.describe()
            )
        })
}

/// A token for Key Vault from the service principal's client secret, else its client
/// certificate, else a workload identity's federated token (the order of Azure's default
/// credential chain, as sops uses it).
fn token(env: &dyn Env, what: &str) -> Result<Zeroizing<String>, String> {
    let var = |n: &str| env.var(n).filter(|v| !v.trim().is_empty());
    // AZURE_TOKEN_CREDENTIALS narrows the chain as Azure's SDKs read it: `prod` (the
    // service credentials), `dev` (the developer tools), or one credential's name.
    let only = var("AZURE_TOKEN_CREDENTIALS").map(|v| v.trim().to_ascii_lowercase());
    let allows = |names: &[&str]| only.as_deref().is_none_or(|o| names.contains(&o));
    let tenant = var("AZURE_TENANT_ID");
    let client = var("AZURE_CLIENT_ID");
    let environment = allows(&["prod", "environmentcredential"]);
    let secret = var("AZURE_CLIENT_SECRET")
        .filter(|_| environment)
        .map(Zeroizing::new);
    let cert = var("AZURE_CLIENT_CERTIFICATE_PATH").filter(|_| environment);
    let federated = var("AZURE_FEDERATED_TOKEN_FILE")
        .filter(|_| allows(&["prod", "workloadidentitycredential"]));
    let (Some(tenant), Some(client), true) = (
        tenant.clone(),
        client,
        secret.is_some() || cert.is_some() || federated.is_some(),
    ) else {
        if allows(&["prod", "managedidentitycredential"])
            && let Some(token) = managed_identity_token(env, what)?
        {
            return Ok(token);
        }
        if allows(&["dev", "azureclicredential"]) {
            return az_cli_token(env, tenant.as_deref(), what);
        }
        return Err(format!(
            "no Azure credentials for {what}: set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_CLIENT_SECRET (a service principal's client secret), \
             AZURE_CLIENT_CERTIFICATE_PATH (its certificate and key in one PEM file) or \
             AZURE_FEDERATED_TOKEN_FILE (workload identity, as AKS sets it), or log in with \
             the az CLI (AZURE_TOKEN_CREDENTIALS={} leaves it out), or run where a managed \
             identity is",
            only.as_deref().unwrap_or_default()
        ));
    };
    let authority = var("AZURE_AUTHORITY_HOST")
        .unwrap_or_else(|| "https://login.microsoftonline.com".to_string());
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        authority.trim().trim_end_matches('/'),
        tenant.trim()
    );
    let client = client.trim();
    let scope = form_escape("https://vault.azure.net/.default");
    let (form, credential) = match (&secret, &cert) {
        (Some(secret), _) => (
            Zeroizing::new(format!(
                "client_id={}&client_secret={}&grant_type=client_credentials&scope={scope}",
                form_escape(client),
                form_escape(secret),
            )),
            "the client secret of AZURE_CLIENT_ID".to_string(),
        ),
        (None, Some(path)) => {
            let path = path.trim();
            let chain = var("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                .is_some_and(|v| matches!(v.trim(), "true" | "1" | "True" | "TRUE"));
            let assertion = client_assertion(path, client, &url, chain, now())
                .map_err(|e| format!("AZURE_CLIENT_CERTIFICATE_PATH ({path}): {e}"))?;
            (
                assertion_form(client, &assertion, &scope),
                format!("the certificate of AZURE_CLIENT_CERTIFICATE_PATH ({path})"),
            )
        }
        (None, None) => {
            // Workload identity: the projected service-account token is the assertion,
            // read on every request (the kubelet rotates it).
            let path = federated.as_deref().unwrap_or_default().trim();
            let token = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "AZURE_FEDERATED_TOKEN_FILE ({path}): cannot read it: {}",
                    crate::error::io_reason(&e)
                )
            })?);
            if token.trim().is_empty() {
                return Err(format!("AZURE_FEDERATED_TOKEN_FILE ({path}) is empty"));
            }
            (
                assertion_form(client, token.trim(), &scope),
                format!("the federated token of AZURE_FEDERATED_TOKEN_FILE ({path})"),
            )
        }
    };
    let resp = http::post(
        "Microsoft Entra ID",
        &url,
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
        http::Options::default(),
    )
    .map_err(|e| format!("{e} (getting a token for {what})"))?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let got = json
        .as_ref()
        .filter(|_| resp.status == 200)
        .and_then(|j| j.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty());
    if let Some(t) = got {
        return Ok(Zeroizing::new(t.to_string()));
    }
    let text = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(one_line)
            .filter(|s| !s.is_empty())
    };
    Err(format!(
        "{} refused {credential} for {what}: HTTP {}{}; check the tenant, the client ID and \
         that the credential has not expired",
        http::origin(&url),
        resp.status,
        text("error_description")
            .or_else(|| text("error"))
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    ))
}

/// The instance metadata endpoint's address (Azure VMs, AKS node identities) when
/// `AZURE_POD_IDENTITY_AUTHORITY_HOST` does not name another.
const AZURE_IMDS: &str = "http://169.254.169.254";

/// A managed identity's token, as Azure's SDKs get one: from App Service's endpoint
/// (`IDENTITY_ENDPOINT` with `IDENTITY_HEADER`), else from the instance metadata endpoint
/// (one attempt, one second: `None` when nothing answers there, so the chain goes on).
/// `AZURE_CLIENT_ID` picks a user-assigned identity.
fn managed_identity_token(env: &dyn Env, what: &str) -> Result<Option<Zeroizing<String>>, String> {
    let var = |n: &str| env.var(n).filter(|v| !v.trim().is_empty());
    let client = var("AZURE_CLIENT_ID")
        .map(|c| format!("&client_id={}", form_escape(c.trim())))
        .unwrap_or_default();
    let resource = form_escape("https://vault.azure.net");
    let (url, header, opts, name) = match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
        (Some(endpoint), Some(secret)) => (
            format!(
                "{}?api-version=2019-08-01&resource={resource}{client}",
                endpoint.trim()
            ),
            (
                "x-identity-header",
                Zeroizing::new(secret.trim().to_string()),
            ),
            http::Options::default(),
            "the managed identity endpoint (IDENTITY_ENDPOINT)",
        ),
        _ => (
            format!(
                "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={resource}{client}",
                var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                    .unwrap_or_else(|| AZURE_IMDS.to_string())
                    .trim()
                    .trim_end_matches('/')
            ),
            ("metadata", Zeroizing::new("true".to_string())),
            http::Options {
                timeout: std::time::Duration::from_secs(1),
                attempts: 1,
            },
            "the instance metadata endpoint",
        ),
    };
    let imds = header.0 == "metadata";
    let resp = match http::send(
        "Azure managed identity",
        "GET",
        &url,
        &[(header.0, header.1.as_str())],
        None,
        opts,
    ) {
        Ok(r) => r,
        // Not on Azure: nothing listens there; the chain goes on to the az CLI.
        Err(_) if imds => return Ok(None),
        Err(e) => return Err(format!("{e} (getting a token for {what})")),
    };
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    if resp.status == 200
        && let Some(t) = json["access_token"].as_str().filter(|t| !t.is_empty())
    {
        return Ok(Some(Zeroizing::new(t.to_string())));
    }
    if imds && resp.status == 400 && !client.is_empty() && json["error"] == "invalid_request" {
        // Answered, but this identity is not assigned to the machine.
        return Err(format!(
            "{name} has no identity with AZURE_CLIENT_ID for {what}: {}",
            one_line(json["error_description"].as_str().unwrap_or_default())
        ));
    }
    Err(format!(
        "{name} refused a token for {what}: HTTP {}{}; check that the machine or app has a managed identity with access to the vault",
        resp.status,
        json["error_description"]
            .as_str()
            .map(|d| format!(" ({})", one_line(d)))
            .unwrap_or_default()
    ))
}

/// How long `az account get-access-token` may take (Azure's SDKs wait as long).
const AZ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A token from the Azure CLI's login (`az account get-access-token`), the developer
/// credential sops's chain ends with: its `accessToken`. The CLI found on `PATH`; it gets
/// AZURE_TENANT_ID as `--tenant` when set, and at most [`AZ_TIMEOUT`].
fn az_cli_token(
    env: &dyn Env,
    tenant: Option<&str>,
    what: &str,
) -> Result<Zeroizing<String>, String> {
    use std::io::Read as _;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("az");
    cmd.args([
        "account",
        "get-access-token",
        "--output",
        "json",
        "--resource",
        "https://vault.azure.net",
    ]);
    if let Some(t) = tenant {
        cmd.args(["--tenant", t.trim()]);
    }
    if let Some(path) = env.var("PATH") {
        cmd.env("PATH", path);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "no Azure credentials for {what}: no AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or \
                 AZURE_FEDERATED_TOKEN_FILE (with AZURE_TENANT_ID and AZURE_CLIENT_ID), and the az \
                 CLI cannot be run ({}), and no managed identity answered",
                crate::error::io_reason(&e)
            )
        })?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut o = Zeroizing::new(Vec::new());
        let mut e = Vec::new();
        if let Some(s) = out.as_mut() {
            let _ = s.read_to_end(&mut o);
        }
        if let Some(s) = err.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut e);
        }
        (o, e)
    });
    let deadline = std::time::Instant::now() + AZ_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let (stdout, stderr) = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!(
            "the az CLI did not answer within {} s (getting a token for {what})",
            AZ_TIMEOUT.as_secs()
        ));
    };
    if !status.success() {
        return Err(format!(
            "the az CLI could not get a token for {what}: {}; run `az login` (or set a service principal's AZURE_* variables)",
            one_line(&String::from_utf8_lossy(&stderr))
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&stdout).unwrap_or_default();
    json["accessToken"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(|t| Zeroizing::new(t.to_string()))
        .ok_or_else(|| {
            format!("the az CLI answered without an accessToken (getting a token for {what})")
        })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The client-credentials form with a client assertion (a certificate's signed JWT, or a
/// workload identity's federated token).
fn assertion_form(client: &str, assertion: &str, scope: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "client_id={}&client_assertion_type={}&client_assertion={}&grant_type=client_credentials&scope={scope}",
        form_escape(client),
        form_escape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        form_escape(assertion),
    ))
}

/// The client assertion of a certificate credential, as sops's MSAL makes it (measured
/// with sops 3.11): a JWT signed PS256 with the certificate's key, whose header names the
/// certificate by its SHA-256 thumbprint (`x5t#S256`, standard base64; with `chain` every
/// certificate of the file as `x5c`), with the claims Entra ID requires (`aud` the token
/// endpoint, `iss` and `sub` the client, a UUID `jti`, `nbf`, `exp` ten minutes later).
/// The file is PEM: the certificate(s) and an unencrypted PKCS#8 or PKCS#1 RSA key, as
/// `openssl pkcs12 -nodes` writes them; PKCS#12 is refused with that command.
pub fn client_assertion(
    path: &str,
    client: &str,
    token_url: &str,
    chain: bool,
    iat: u64,
) -> Result<String, String> {
    use base64::engine::general_purpose::STANDARD;
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
    use sha2::Digest as _;
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| format!("cannot read it: {}", crate::error::io_reason(&e)))?,
    );
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN "));
    let Some(text) = text else {
        return Err("it is not PEM (a PKCS#12 file? convert it: openssl pkcs12 -in FILE.pfx -nodes -out FILE.pem)".into());
    };
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut key: Option<rsa::RsaPrivateKey> = None;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(end_label) = block.find("-----END ") else {
            break;
        };
        let Some(close) = block[end_label + 9..].find("-----") else {
            break;
        };
        let end = end_label + 9 + close + 5;
        let pem = &block[..end];
        rest = &block[end..];
        let Ok((label, der)) = pem_rfc7468::decode_vec(pem.as_bytes()) else {
            return Err("it holds a PEM block that does not decode".into());
        };
        let der = Zeroizing::new(der);
        match label {
            "CERTIFICATE" => certs.push(der.to_vec()),
            "PRIVATE KEY" => {
                key = Some(rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|_| {
                    "its PRIVATE KEY is not an RSA key (Entra ID certificates are RSA)".to_string()
                })?)
            }
            "RSA PRIVATE KEY" => {
                key = Some(
                    rsa::RsaPrivateKey::from_pkcs1_der(&der)
                        .map_err(|_| "its RSA PRIVATE KEY does not decode".to_string())?,
                )
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err("its key is encrypted: seal reads unencrypted keys only (openssl pkcs8 -in KEY -out PLAIN.pem, kept 0600)".into());
            }
            _ => {}
        }
    }
    let (Some(leaf), Some(key)) = (certs.first(), key) else {
        return Err("it needs a CERTIFICATE and its PRIVATE KEY in PEM".into());
    };
    let mut header = serde_json::json!({
        "alg": "PS256",
        "typ": "JWT",
        "x5t#S256": STANDARD.encode(sha2::Sha256::digest(leaf)),
    });
    if chain {
        header["x5c"] = certs.iter().map(|c| STANDARD.encode(c)).collect();
    }
    let mut r = [0u8; 16];
    getrandom::getrandom(&mut r).map_err(|e| format!("no random bytes: {e}"))?;
    r[6] = (r[6] & 0x0f) | 0x40; // UUID version 4
    r[8] = (r[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let jti = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    let claims = serde_json::json!({
        "aud": token_url,
        "exp": iat + 600,
        "iss": client,
        "jti": jti,
        "nbf": iat,
        "sub": client,
    });
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signer = rsa::pss::SigningKey::<sha2::Sha256>::new(key);
    let sig = signer.sign_with_rng(&mut rand::rngs::OsRng, signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", B64URL.encode(sig.to_bytes())))
}

/// The key with its version: as given, else the latest one, which Key Vault names in the
/// key's `kid` (`GET VAULT/keys/NAME/`, as sops's SDK asks).
fn with_version(key: &AzureKey, env: &dyn Env) -> Result<AzureKey, String> {
    if !key.version.is_empty() {
        return Ok(key.clone());
    }
    let answer = call(key, "", None, env)?;
    let kid = answer["key"]["kid"].as_str().unwrap_or_default();
    let version = kid
        .trim_end_matches('/')
        .rsplit_once("/keys/")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(name, version)| (name == key.name).then(|| version.to_string()))
        .unwrap_or_default()
        .filter(|v| !v.is_empty() && !v.contains('/'));
    let Some(version) = version else {
        return Err(format!(
            "Azure Key Vault answered for {} without a key ID naming its version",
            key.describe()
        ));
    };
    Ok(AzureKey {
        version,
        ..key.clone()
    })
}

/// The `value` of a key operation's answer.
fn value_of(key: &AzureKey, op: &str, answer: serde_json::Value) -> Result<String, String> {
    answer
        .get("value")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "Azure Key Vault answered {op} for {} without a value",
                key.describe()
            )
        })
}

/// One Key Vault request: the key operation `op` (POST `body`), or with no body the key
/// itself (GET); the answer's JSON.
fn call(
    key: &AzureKey,
    op: &str,
    body: Option<&[u8]>,
    env: &dyn Env,
) -> Result<serde_json::Value, String> {
    let what = format!("Azure Key Vault key {}", key.describe());
    let token = token(env, &what)?;
    let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
    let url = key.url(op);
    let (method, op) = match body {
        Some(_) => ("POST", op),
        None => ("GET", "get"),
    };
    let resp = http::send(
        "Azure Key Vault",
        method,
        &url,
        &[
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ],
        body,
        http::Options::default(),
    )
    .map_err(|e| format!("{e} (key {})", key.describe()))?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    if resp.status == 200 {
        return json.ok_or_else(|| {
            format!(
                "Azure Key Vault answered {op} for {} with no JSON",
                key.describe()
            )
        });
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    let text = |k: &str| {
        error
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .map(one_line)
            .filter(|s| !s.is_empty())
    };
    let what = match (text("code"), text("message")) {
        (Some(c), Some(m)) => format!("HTTP {} {c}: {m}", resp.status),
        (Some(c), None) => format!("HTTP {} {c}", resp.status),
        (None, Some(m)) => format!("HTTP {}: {m}", resp.status),
        (None, None) => format!("HTTP {}", resp.status),
    };
    let hint = match resp.status {
        401 => "the token was not accepted: check the tenant and the service principal",
        403 => {
            "check the key vault's access policy or RBAC role (Key Vault Crypto User) for this principal"
        }
        404 => "check the vault URL, the key name and its version",
        400 if op == "decrypt" => {
            "the wrapped key does not open under this key: check the entry was not altered and names the key version that wrapped it"
        }
        _ => "check the key, the credentials and the vault",
    };
    Err(format!(
        "Azure Key Vault refused {op} with {}: {what}; {hint}",
        key.describe()
    ))
}

/// Azure Key Vault as a master-key type: recipients are key URLs
/// (`https://VAULT/keys/NAME/VERSION`), entries go to the group's `azure_kv` list.
/// Registered in `keys::REGISTRY`.
pub static AZURE: ServiceType<AzureKey> = ServiceType::new();

impl ServiceKey for AzureKey {
    const TYPE: &'static str = TYPE;
    const LABEL: &'static str = "Azure Key Vault";
    const RULE_FIELDS: [&'static str; 2] = [RULE_FIELD, RULE_FIELD];

    fn claims(recipient: &str) -> bool {
        AzureKey::claims(recipient)
    }

    fn from_recipient(recipient: &str) -> Result<AzureKey, String> {
        AzureKey::from_url(recipient)
    }

    fn recipient(&self) -> String {
        self.describe()
    }

    fn entries(list: &[Value]) -> Result<Vec<AzureKey>, String> {
        entries(list)
    }

    fn entry(&self) -> Value {
        entry_value(self)
    }

    fn encrypt(&self, payload: &[u8], env: &dyn Env) -> Result<AzureKey, String> {
        encrypt(self, payload, env)
    }

    fn decrypt(&self, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
        decrypt(self, env)
    }

    /// A flat rule's `azure_keyvault` is a comma-separated string (or list) of key URLs; a
    /// key group's is a list of `vaultUrl`/`key`/`version` mappings (sops's config).
    fn rule_recipients(fields: &Branch, flat: bool, name: &str) -> Result<Vec<String>, String> {
        if flat {
            let urls = crate::config::key_list(
                crate::config::field(fields, RULE_FIELD),
                &format!("{name}.{RULE_FIELD}"),
            )?;
            return Ok(flag_recipients(&urls));
        }
        let items = match crate::config::field(fields, RULE_FIELD) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::List(items)) => items,
            Some(_) => {
                return Err(format!(
                    "{name}.{RULE_FIELD} must be a list of keys (`- vaultUrl: https://…`, with key and version)"
                ));
            }
        };
        let mut out = Vec::new();
        let items = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
        for (i, item) in items.enumerate() {
            let at = format!("{name}.{RULE_FIELD}[{i}]");
            let Value::Branch(b) = item else {
                return Err(format!(
                    "{at} must be a mapping with vaultUrl, key and version"
                ));
            };
            let text = |k: &str| -> Result<String, String> {
                match crate::config::field(b, k) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(v) => {
                        crate::config::scalar(v).ok_or_else(|| format!("{at}.{k} must be a string"))
                    }
                }
            };
            let (url, key, version) = (text("vaultUrl")?, text("key")?, text("version")?);
            if url.is_empty() || key.is_empty() {
                return Err(format!("{at} needs vaultUrl and key"));
            }
            out.push(format!(
                "{}/keys/{key}/{version}",
                url.trim().trim_end_matches('/')
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType as _;
    use crate::metadata::KeyGroup;

    const URL: &str = "https://sealtest.vault.azure.net/keys/k/0123abcd";

    #[test]
    fn urls_parse_as_sops_and_stay_apart_from_vault_transit() {
        let k = AzureKey::from_url(URL).unwrap();
        assert_eq!(k.vault_url, "https://sealtest.vault.azure.net");
        assert_eq!((k.name.as_str(), k.version.as_str()), ("k", "0123abcd"));
        assert_eq!(k.describe(), URL);
        assert_eq!(k.url("encrypt"), format!("{URL}/encrypt?api-version=7.6"));
        // Without a version (sops's pattern allows it): looked up when the key wraps.
        for latest in [
            "https://v.vault.azure.net/keys/k",
            "https://v.vault.azure.net/keys/k/",
        ] {
            let k = AzureKey::from_url(latest).unwrap();
            assert_eq!((k.name.as_str(), k.version.as_str()), ("k", ""));
            assert_eq!(k.describe(), "https://v.vault.azure.net/keys/k");
            assert_eq!(
                k.url(""),
                "https://v.vault.azure.net/keys/k/?api-version=7.6"
            );
        }
        for bad in [
            "http://v.vault.azure.net/keys/k/1",
            "https://v.vault.azure.net/secrets/k/1",
            "https://v.vault.azure.net/keys//1",
        ] {
            assert!(AzureKey::from_url(bad).is_err(), "{bad}");
        }
        assert!(AzureKey::claims(URL));
        assert!(!AzureKey::claims("https://v:8200/v1/transit/keys/k"));
        assert_eq!(crate::keys::type_of(URL).name(), TYPE);
        assert_eq!(
            crate::keys::type_of("https://v:8200/v1/transit/keys/k").name(),
            "hc_vault"
        );
    }

    #[test]
    fn entries_round_trip_and_rules_read_both_forms() {
        let k = AzureKey {
            enc: "AAAA_-8".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            ..AzureKey::from_url(URL).unwrap()
        };
        let v = entry_value(&k);
        assert_eq!(entries(std::slice::from_ref(&v)).unwrap(), vec![k.clone()]);
        let group = KeyGroup {
            age: vec![],
            other: vec![(TYPE.into(), vec![v])],
        };
        assert_eq!(AZURE.recipients(&group), [URL]);
        let s = |v: &str| Value::Str(v.into());
        let flat = Branch {
            items: vec![Item::Pair(RULE_FIELD.into(), s(&format!("{URL}, {URL}x")))],
        };
        assert_eq!(
            AZURE.rule_recipients(&flat, true, "r").unwrap(),
            [URL.to_string(), format!("{URL}x")]
        );
        let grouped = Branch {
            items: vec![Item::Pair(
                RULE_FIELD.into(),
                Value::List(vec![Value::Branch(Branch {
                    items: vec![
                        Item::Pair("vaultUrl".into(), s("https://sealtest.vault.azure.net")),
                        Item::Pair("key".into(), s("k")),
                        Item::Pair("version".into(), s("0123abcd")),
                    ],
                })]),
            )],
        };
        assert_eq!(AZURE.rule_recipients(&grouped, false, "g").unwrap(), [URL]);
    }

    #[test]
    fn no_credentials_are_named_before_any_connection() {
        // No variables, and a PATH without an az CLI.
        struct NoEnv(Option<&'static str>);
        impl Env for NoEnv {
            fn var(&self, name: &str) -> Option<String> {
                match name {
                    "PATH" => Some("/nonexistent-seal-test".into()),
                    // Never the real instance metadata address: a closed loopback port.
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST" => Some("http://127.0.0.1:9".into()),
                    "AZURE_TOKEN_CREDENTIALS" => self.0.map(str::to_string),
                    _ => None,
                }
            }
            fn home(&self) -> Option<std::path::PathBuf> {
                None
            }
        }
        let k = AzureKey {
            enc: "AAAA".into(),
            ..AzureKey::from_url("https://127.0.0.1:9/keys/k/1").unwrap()
        };
        let e = decrypt(&k, &NoEnv(None)).unwrap_err();
        assert!(
            e.contains("AZURE_CLIENT_SECRET")
                && e.contains("no Azure credentials")
                && e.contains("az CLI cannot be run"),
            "{e}"
        );
        // `prod` leaves the CLI out.
        let e = decrypt(&k, &NoEnv(Some("prod"))).unwrap_err();
        assert!(
            e.contains("AZURE_TOKEN_CREDENTIALS=prod leaves it out"),
            "{e}"
        );
    }
}
