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
//! there, measured), an `impersonated_service_account` (its source credentials' token buys
//! the service account's at IAM Credentials' `generateAccessToken`) or an
//! `external_account` (workload identity federation: a subject token from a file or URL,
//! exchanged at Google's STS, then impersonated when the file says so).
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
        "impersonated_service_account" => {
            // `gcloud auth application-default login --impersonate-service-account SA`:
            // the source credentials' token buys the service account's.
            let url = text("service_account_impersonation_url");
            let inner = v.get("source_credentials").filter(|c| c.is_object());
            let (Some(inner), false) = (inner, url.is_empty()) else {
                return Err(bad(
                    "are an impersonated_service_account without source_credentials or service_account_impersonation_url",
                ));
            };
            let inner = Zeroizing::new(inner.to_string().into_bytes());
            let token = from_json(&inner, &format!("the source_credentials of {source}"))?;
            impersonate(url, &token, v.get("delegates"), source)
        }
        "external_account" => external_account(&v, source),
        "" => Err(bad("have no \"type\"")),
        other => Err(bad(&format!(
            "are of type {other:?}, which seal does not support yet (service_account, \
             authorized_user, impersonated_service_account and external_account are): use a \
             service account key, `gcloud auth application-default login`, or \
             GOOGLE_OAUTH_ACCESS_TOKEN"
        ))),
    }
}

/// The access token of the service account that `url` (IAM Credentials'
/// `…/serviceAccounts/SA:generateAccessToken`) names, bought with `token`.
fn impersonate(
    url: &str,
    token: &str,
    delegates: Option<&serde_json::Value>,
    source: &str,
) -> Result<Zeroizing<String>, GcpError> {
    let mut body = serde_json::json!({
        "scope": SCOPES.split(' ').collect::<Vec<_>>(),
        "lifetime": "3600s",
    });
    if let Some(d) = delegates.filter(|d| d.as_array().is_some_and(|a| !a.is_empty())) {
        body["delegates"] = d.clone();
    }
    let bearer = Zeroizing::new(format!("Bearer {token}"));
    let resp = http::post(
        "Google IAM Credentials",
        url,
        &[
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
        http::Options::default(),
    )
    .map_err(|e| {
        err(
            GcpErrorKind::Transport,
            format!("{e} (impersonating the service account of {source})"),
        )
    })?;
    let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    if resp.status == 200
        && let Some(t) = json["accessToken"].as_str().filter(|t| !t.is_empty())
    {
        return Ok(Zeroizing::new(t.to_string()));
    }
    let said = json["error"]["message"]
        .as_str()
        .map(one_line)
        .unwrap_or_default();
    Err(err(
        GcpErrorKind::Credentials,
        format!(
            "{} refused to impersonate the service account of {source}: HTTP {}{}; check that the source credentials have roles/iam.serviceAccountTokenCreator on it",
            http::origin(url),
            resp.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ),
    ))
}

/// Workload identity federation (`external_account`): the subject token from its
/// `credential_source` (a file, or a URL with headers; `text` or `json` format) is
/// exchanged at `token_url` (Google's STS) for an access token, then for the service
/// account's when `service_account_impersonation_url` names one. Executable and AWS
/// sources are refused by name.
fn external_account(v: &serde_json::Value, source: &str) -> Result<Zeroizing<String>, GcpError> {
    let bad = |why: String| {
        err(
            GcpErrorKind::Credentials,
            format!("the Google credentials in {source} {why}"),
        )
    };
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
    let (audience, token_type) = (text("audience"), text("subject_token_type"));
    let token_url = match text("token_url") {
        "" => "https://sts.googleapis.com/v1/token",
        u => u,
    };
    if audience.is_empty() || token_type.is_empty() {
        return Err(bad(
            "are an external_account without audience or subject_token_type".into(),
        ));
    }
    let cs = &v["credential_source"];
    let raw = if let Some(file) = cs["file"].as_str().filter(|f| !f.is_empty()) {
        Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
            bad(format!(
                "name a credential_source file {file} that cannot be read: {}",
                crate::error::io_reason(&e)
            ))
        })?)
    } else if let Some(url) = cs["url"].as_str().filter(|u| !u.is_empty()) {
        let headers: Vec<(String, String)> = cs["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| {
                        v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let resp = http::send(
            "the subject token URL",
            "GET",
            url,
            &hs,
            None,
            http::Options::default(),
        )
        .map_err(|e| {
            err(
                GcpErrorKind::Transport,
                format!("{e} (the credential_source of {source})"),
            )
        })?;
        if resp.status != 200 {
            return Err(bad(format!(
                "name a credential_source url that answered HTTP {}",
                resp.status
            )));
        }
        Zeroizing::new(String::from_utf8_lossy(&resp.body).into_owned())
    } else if cs.get("executable").is_some() || cs.get("environment_id").is_some() {
        return Err(bad(
            "take their subject token from an executable or from AWS, which seal does not support yet (a file or URL source is)".into(),
        ));
    } else {
        return Err(bad("have no credential_source file or url".into()));
    };
    let subject = match cs["format"]["type"].as_str().unwrap_or("text") {
        "json" => {
            let field = cs["format"]["subject_token_field_name"]
                .as_str()
                .unwrap_or_default();
            let parsed: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
            Zeroizing::new(parsed[field].as_str().unwrap_or_default().to_string())
        }
        _ => Zeroizing::new(raw.trim().to_string()),
    };
    if subject.is_empty() {
        return Err(bad("give an empty subject token".into()));
    }
    let form = Zeroizing::new(format!(
        "audience={}&grant_type={}&requested_token_type={}&scope={}&subject_token={}&subject_token_type={}",
        form_escape(audience),
        form_escape("urn:ietf:params:oauth:grant-type:token-exchange"),
        form_escape("urn:ietf:params:oauth:token-type:access_token"),
        form_escape("https://www.googleapis.com/auth/cloud-platform"),
        form_escape(&subject),
        form_escape(token_type),
    ));
    let federated = exchange(token_url, &form, source)?;
    match text("service_account_impersonation_url") {
        "" => Ok(federated),
        url => impersonate(url, &federated, None, source),
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
