//! Google credentials for Cloud KMS, found in sops's order (gcpkms/keysource.go, 3.11 to
//! 3.13): `GOOGLE_CREDENTIALS` (a credentials file's path, or its JSON), else
//! `GOOGLE_OAUTH_ACCESS_TOKEN` (a bearer token as it is), else Application Default
//! Credentials as Google's Go client finds them: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//! `application_default_credentials.json` (in `CLOUDSDK_CONFIG`, else
//! `~/.config/gcloud`), and last the metadata server (`GCE_METADATA_HOST`, else
//! 169.254.169.254; one attempt, one second).
//!
//! A credentials file is a `service_account` key (a signed JWT, RS256, exchanged at its
//! `token_uri` with the JWT bearer grant, the claims sops's client sends: measured) or an
//! `authorized_user` (`gcloud auth application-default login`: the refresh-token grant,
//! always at Google's token endpoint: sops 3.11's client ignores the file's `token_uri`
//! there, measured).
//! Private keys, refresh tokens and access tokens never appear in messages.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use zeroize::Zeroizing;

use super::{GcpError, GcpErrorKind, err, form_escape, one_line};
use crate::keys::{Env, http};

/// The token endpoint when a credentials file names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The scopes sops's client asks for (measured: both, space-separated).
const SCOPES: &str =
    "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/cloudkms";
/// The metadata server's address when `GCE_METADATA_HOST` is unset.
const METADATA_HOST: &str = "169.254.169.254";

/// An access token for Cloud KMS, from the first source that has credentials.
pub fn access_token(env: &dyn Env) -> Result<Zeroizing<String>, GcpError> {
    let nonempty = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    if let Some(value) = nonempty("GOOGLE_CREDENTIALS") {
        let path = PathBuf::from(value.trim());
        let (json, source) = if path.is_file() {
            (
                read(&path, "GOOGLE_CREDENTIALS")?,
                format!("GOOGLE_CREDENTIALS ({})", path.display()),
            )
        } else {
            (
                Zeroizing::new(value.into_bytes()),
                "GOOGLE_CREDENTIALS".to_string(),
            )
        };
        return from_json(&json, &source);
    }
    if let Some(token) = nonempty("GOOGLE_OAUTH_ACCESS_TOKEN") {
        return Ok(Zeroizing::new(token.trim().to_string()));
    }
    if let Some(file) = nonempty("GOOGLE_APPLICATION_CREDENTIALS") {
        let path = PathBuf::from(file.trim());
        let json = read(&path, "GOOGLE_APPLICATION_CREDENTIALS")?;
        return from_json(
            &json,
            &format!("GOOGLE_APPLICATION_CREDENTIALS ({})", path.display()),
        );
    }
    let gcloud = nonempty("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.home().map(|h| h.join(".config").join("gcloud")));
    if let Some(adc) = gcloud
        .map(|d| d.join("application_default_credentials.json"))
        .filter(|f| f.is_file())
    {
        let json = read(&adc, "gcloud's application default credentials")?;
        return from_json(&json, &adc.display().to_string());
    }
    metadata_token(env)
}

fn read(path: &std::path::Path, what: &str) -> Result<Zeroizing<Vec<u8>>, GcpError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        err(
            GcpErrorKind::Credentials,
            format!(
                "could not read the Google credentials file {} ({what}): {e}",
                path.display()
            ),
        )
    })
}

/// A token from a credentials file's JSON (`source` names it in messages).
fn from_json(json: &[u8], source: &str) -> Result<Zeroizing<String>, GcpError> {
    let bad = |why: &str| {
        err(
            GcpErrorKind::Credentials,
            format!("the Google credentials in {source} {why}"),
        )
    };
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|_| {
        bad("are not JSON (a service account key or gcloud's application default credentials file)")
    })?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
    let token_uri = match text("token_uri") {
        "" => DEFAULT_TOKEN_URI,
        u => u,
    };
    match text("type") {
        "service_account" => {
            let email = text("client_email");
            let pem = Zeroizing::new(text("private_key").to_string());
            if email.is_empty() || pem.is_empty() {
                return Err(bad(
                    "are a service account key without client_email or private_key",
                ));
            }
            let assertion = signed_jwt(email, text("private_key_id"), &pem, token_uri, now())
                .map_err(|why| bad(&why))?;
            let form = Zeroizing::new(format!(
                "assertion={}&grant_type={}",
                form_escape(&assertion),
                form_escape("urn:ietf:params:oauth:grant-type:jwt-bearer")
            ));
            exchange(token_uri, &form, source)
        }
        "authorized_user" => {
            let (id, secret) = (text("client_id"), text("client_secret"));
            let refresh = Zeroizing::new(text("refresh_token").to_string());
            if id.is_empty() || refresh.is_empty() {
                return Err(bad(
                    "are an authorized_user without client_id or refresh_token",
                ));
            }
            let form = Zeroizing::new(format!(
                "client_id={}&client_secret={}&grant_type=refresh_token&refresh_token={}",
                form_escape(id),
                form_escape(secret),
                form_escape(&refresh)
            ));
            exchange(DEFAULT_TOKEN_URI, &form, source)
        }
        "" => Err(bad("have no \"type\"")),
        other => Err(bad(&format!(
            "are of type {other:?}, which seal does not support yet (service_account and \
             authorized_user are): use a service account key, `gcloud auth \
             application-default login`, or GOOGLE_OAUTH_ACCESS_TOKEN"
        ))),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A JWT for the bearer grant, signed RS256 with the service account's key (PKCS#8 PEM, as
/// Google issues them; PKCS#1 read too): header `alg`, `typ`, `kid`; claims `iss`, `scope`,
/// `exp` (an hour), `iat`, `aud` (the token URI).
pub fn signed_jwt(
    email: &str,
    key_id: &str,
    pem: &str,
    token_uri: &str,
    iat: u64,
) -> Result<String, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| "have a private_key that is not an RSA key in PEM".to_string())?;
    let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
    if !key_id.is_empty() {
        header["kid"] = serde_json::Value::String(key_id.to_string());
    }
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPES,
        "exp": iat + 3600,
        "iat": iat,
        "aud": token_uri,
    });
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let sig = signer.sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", B64URL.encode(sig.to_bytes())))
}

/// POST an OAuth form to the token endpoint and read `access_token`.
fn exchange(token_uri: &str, form: &str, source: &str) -> Result<Zeroizing<String>, GcpError> {
    let resp = http::post(
        "the Google token endpoint",
        token_uri,
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
        http::Options::default(),
    )
    .map_err(|e| {
        err(
            GcpErrorKind::Transport,
            format!("{e} (getting a token for the credentials in {source})"),
        )
    })?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let token = json
        .as_ref()
        .filter(|_| resp.status == 200)
        .and_then(|j| j.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty());
    if let Some(t) = token {
        return Ok(Zeroizing::new(t.to_string()));
    }
    let text = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(one_line)
            .filter(|s| !s.is_empty())
    };
    let why = match (text("error"), text("error_description")) {
        (Some(e), Some(d)) => format!("HTTP {} {e}: {d}", resp.status),
        (Some(e), None) => format!("HTTP {} {e}", resp.status),
        _ if resp.status == 200 => "no access_token in the answer".to_string(),
        _ => format!("HTTP {}", resp.status),
    };
    Err(err(
        GcpErrorKind::Credentials,
        format!(
            "{} refused the credentials in {source}: {why}; check the key is current and not disabled (`gcloud iam service-accounts keys list`), or log in again",
            http::origin(token_uri)
        ),
    ))
}

/// The metadata server's token for the instance's service account (what Google's client
/// does when nothing else gives credentials).
fn metadata_token(env: &dyn Env) -> Result<Zeroizing<String>, GcpError> {
    let host = env
        .var("GCE_METADATA_HOST")
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| METADATA_HOST.to_string());
    let url = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/token",
        host.trim()
    );
    let none = |why: String| {
        err(
            GcpErrorKind::Credentials,
            format!(
                "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service account \
                 key (or run `gcloud auth application-default login`), or set \
                 GOOGLE_CREDENTIALS or GOOGLE_OAUTH_ACCESS_TOKEN; the metadata server at {host} \
                 gave none ({why})"
            ),
        )
    };
    let resp = http::send(
        "the GCE metadata server",
        "GET",
        &url,
        &[("metadata-flavor", "Google")],
        None,
        http::Options {
            timeout: Duration::from_secs(1),
            attempts: 1,
        },
    )
    .map_err(|e| none(e.message))?;
    if resp.status != 200 {
        return Err(none(format!("HTTP {}", resp.status)));
    }
    serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|j| j.get("access_token")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
        .map(Zeroizing::new)
        .ok_or_else(|| none("its answer has no access_token".to_string()))
}
