//! GCP Cloud KMS master keys, as sops's `gcp_kms` key source: a data key (or Shamir share)
//! is wrapped by the Cloud KMS REST API's `POST /v1/{resource_id}:encrypt` and unwrapped by
//! `:decrypt` (JSON bodies with base64 `plaintext`/`ciphertext`, the request sops 3.11's
//! `SOPS_GCP_KMS_CLIENT_TYPE=rest` client sends, measured), with an OAuth bearer token.
//!
//! A key is named by its resource ID,
//! `projects/P/locations/L/keyRings/R/cryptoKeys/K` (spaces removed, as sops does). A
//! metadata entry is sops's: `resource_id`, `created_at` (RFC 3339), `enc` (base64 of the
//! Cloud KMS ciphertext, as sops has written it since 3.9).
//!
//! The endpoint is `SOPS_GCP_KMS_ENDPOINT` (sops 3.13: a URL, or `host[:port]` for
//! HTTPS), else `https://cloudkms.` + `SOPS_GCP_KMS_UNIVERSE_DOMAIN` (sops 3.13) or
//! `GOOGLE_CLOUD_UNIVERSE_DOMAIN` (the Go client's), else `https://cloudkms.googleapis.com`;
//! a proxy (`HTTPS_PROXY`) and CA roots (`SSL_CERT_FILE`) come from [`super::http`].
//! Credentials are found as sops finds them ([`auth`]). Tokens, keys and data keys never
//! appear in messages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::http;
use super::{Env, ServiceKey, ServiceType};
use crate::tree::{Branch, Item, Value};

pub mod auth;
pub mod gcs;

/// The metadata (and creation rule) field of this key type.
pub const TYPE: &str = "gcp_kms";

/// The public Cloud KMS endpoint.
const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";

/// One `gcp_kms:` entry of a key group (or, with `enc` empty, a key to wrap for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcpKey {
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    pub resource_id: String,
    /// When the entry was made (RFC 3339 text as stored).
    pub created_at: String,
    /// base64 of the Cloud KMS ciphertext.
    pub enc: String,
}

/// Why a Cloud KMS operation failed. The message names the key and what to check, never a
/// token or a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpError {
    /// What failed.
    pub kind: GcpErrorKind,
    /// The message.
    pub message: String,
}

/// The classes of [`GcpError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcpErrorKind {
    /// The resource ID or the entry is malformed.
    BadKey,
    /// No credentials were found, or they were refused when a token was asked for.
    Credentials,
    /// Cloud KMS answered and refused (permission denied, unknown key, bad ciphertext).
    Refused,
    /// The service could not be reached.
    Transport,
}

impl std::fmt::Display for GcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GcpError {}

pub(crate) fn err(kind: GcpErrorKind, message: String) -> GcpError {
    GcpError { kind, message }
}

const ID_SHAPE: &str = "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY";

impl GcpKey {
    /// A key from its resource ID (spaces removed, as sops's `NewMasterKeyFromResourceID`).
    pub fn new(resource_id: &str) -> GcpKey {
        GcpKey {
            resource_id: resource_id.replace(' ', ""),
            ..GcpKey::default()
        }
    }

    /// Check the resource ID as sops does before any request
    /// (`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`).
    pub fn check(&self) -> Result<(), GcpError> {
        let parts: Vec<&str> = self.resource_id.split('/').collect();
        let shaped = parts.len() == 8
            && ["projects", "locations", "keyRings", "cryptoKeys"]
                .iter()
                .enumerate()
                .all(|(i, word)| parts[2 * i] == *word && !parts[2 * i + 1].is_empty());
        if shaped {
            Ok(())
        } else {
            Err(err(
                GcpErrorKind::BadKey,
                format!(
                    "{:?} is not a GCP KMS key resource ID (expected {ID_SHAPE})",
                    self.resource_id
                ),
            ))
        }
    }

    /// Whether a recipient string names a GCP KMS key (`projects/…`: never an age, PGP,
    /// AWS KMS or Vault key).
    pub fn claims(recipient: &str) -> bool {
        recipient.trim_start().starts_with("projects/")
    }

    fn url(&self, op: &str, env: &dyn Env) -> String {
        format!("{}/v1/{}:{op}", endpoint(env), self.resource_id)
    }
}

/// sops's `--gcp-kms`/`SOPS_GCP_KMS_IDS` list: comma-separated resource IDs, empty items
/// dropped.
pub fn parse_id_list(list: &str) -> Vec<GcpKey> {
    list.split(',')
        .map(GcpKey::new)
        .filter(|k| !k.resource_id.is_empty())
        .collect()
}

/// The recipient strings of `--gcp-kms` lists (each comma-separated), for the commands'
/// flags; a malformed ID is named when the key is wrapped.
pub fn flag_recipients(lists: &[String]) -> Vec<String> {
    lists
        .iter()
        .flat_map(|l| parse_id_list(l))
        .map(|k| k.resource_id)
        .collect()
}

/// The Cloud KMS endpoint (no trailing `/`).
pub fn endpoint(env: &dyn Env) -> String {
    let nonempty = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    if let Some(e) = nonempty("SOPS_GCP_KMS_ENDPOINT") {
        let e = e.trim().trim_end_matches('/');
        return if e.contains("://") {
            e.to_string()
        } else {
            format!("https://{e}")
        };
    }
    if let Some(ud) = nonempty("SOPS_GCP_KMS_UNIVERSE_DOMAIN")
        .or_else(|| nonempty("GOOGLE_CLOUD_UNIVERSE_DOMAIN"))
    {
        return format!("https://cloudkms.{}", ud.trim());
    }
    DEFAULT_ENDPOINT.to_string()
}

// ---------------------------------------------------------------------------------------
// Metadata entries
// ---------------------------------------------------------------------------------------

/// The entries of a raw `gcp_kms:` metadata list. An entry without `resource_id` or `enc`
/// is an error naming its position.
pub fn entries(list: &[Value]) -> Result<Vec<GcpKey>, String> {
    super::read_entries(list, "gcp_kms", |e| {
        Ok(GcpKey {
            resource_id: e.need("resource_id")?,
            created_at: e.text("created_at").unwrap_or_default(),
            enc: e.need("enc")?,
        })
    })
}

/// The raw metadata entry sops writes for a GCP KMS key, in sops's field order.
pub fn entry_value(key: &GcpKey) -> Value {
    let s = |v: &str| Value::Str(v.to_string());
    Value::Branch(Branch {
        items: vec![
            Item::Pair("resource_id".into(), s(&key.resource_id)),
            Item::Pair("created_at".into(), s(&key.created_at)),
            Item::Pair("enc".into(), s(&key.enc)),
        ],
    })
}

// ---------------------------------------------------------------------------------------
// Wrap and unwrap
// ---------------------------------------------------------------------------------------

/// Wrap `payload` with the key: the returned entry is `key` with `enc` and `created_at` set.
pub fn encrypt(key: &GcpKey, payload: &[u8], env: &dyn Env) -> Result<GcpKey, GcpError> {
    key.check()?;
    let body = Zeroizing::new(
        serde_json::json!({ "name": key.resource_id, "plaintext": B64.encode(payload) })
            .to_string(),
    );
    let answer = call(key, "encrypt", body.as_bytes(), env)?;
    let ct = answer
        .get("ciphertext")
        .and_then(|v| v.as_str())
        .and_then(|s| B64.decode(s).ok())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            err(
                GcpErrorKind::Refused,
                format!(
                    "GCP KMS answered encrypt for {} without a base64 ciphertext",
                    key.resource_id
                ),
            )
        })?;
    let mut made = key.clone();
    made.enc = B64.encode(ct);
    made.created_at = crate::metadata::Metadata::now_lastmodified();
    Ok(made)
}

/// Unwrap an entry with the key.
pub fn decrypt(key: &GcpKey, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, GcpError> {
    key.check()?;
    let ct = B64.decode(key.enc.trim()).map_err(|_| {
        err(
            GcpErrorKind::BadKey,
            format!(
                "the gcp_kms entry of {} has an enc that is not base64: the file was altered",
                key.resource_id
            ),
        )
    })?;
    let body =
        serde_json::json!({ "name": key.resource_id, "ciphertext": B64.encode(ct) }).to_string();
    let answer = call(key, "decrypt", body.as_bytes(), env)?;
    let plain = answer
        .get("plaintext")
        .and_then(|v| v.as_str())
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| {
            err(
                GcpErrorKind::Refused,
                format!(
                    "GCP KMS answered decrypt for {} without a base64 plaintext",
                    key.resource_id
                ),
            )
        })?;
    Ok(Zeroizing::new(plain))
}

/// `application/x-www-form-urlencoded` / query encoding of one value.
pub(crate) fn form_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A server's text for a message: one line, at most 300 characters.
pub(crate) fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

fn call(
    key: &GcpKey,
    op: &str,
    body: &[u8],
    env: &dyn Env,
) -> Result<serde_json::Map<String, serde_json::Value>, GcpError> {
    let token = auth::access_token(env).map_err(|e| GcpError {
        message: format!("{} (key {})", e.message, key.resource_id),
        ..e
    })?;
    let bearer = Zeroizing::new(format!("Bearer {}", token.as_str()));
    let routing = format!("name={}", form_escape(&key.resource_id));
    let url = key.url(op, env);
    let headers: Vec<(&str, &str)> = vec![
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("x-goog-request-params", routing.as_str()),
    ];
    let resp =
        http::post("GCP KMS", &url, &headers, body, http::Options::default()).map_err(|e| {
            err(
                GcpErrorKind::Transport,
                format!("{e} (key {})", key.resource_id),
            )
        })?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    if resp.status == 200 {
        if let Some(serde_json::Value::Object(map)) = json {
            return Ok(map);
        }
        return Err(err(
            GcpErrorKind::Refused,
            format!(
                "GCP KMS at {} answered {op} for {} with a body that is not a JSON object: is the endpoint Cloud KMS?",
                http::origin(&url),
                key.resource_id
            ),
        ));
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    let text = |k: &str| {
        error
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .map(one_line)
            .filter(|s| !s.is_empty())
    };
    let what = match (text("status"), text("message")) {
        (Some(s), Some(m)) => format!("HTTP {} {s}: {m}", resp.status),
        (Some(s), None) => format!("HTTP {} {s}", resp.status),
        (None, Some(m)) => format!("HTTP {}: {m}", resp.status),
        (None, None) => format!("HTTP {}", resp.status),
    };
    let hint = match resp.status {
        401 => {
            "the credentials were not accepted: check they are current (an access token expires after an hour)"
        }
        403 => {
            if op == "encrypt" {
                "check that the account may use the key to encrypt (roles/cloudkms.cryptoKeyEncrypter) and that the Cloud KMS API is enabled in the project"
            } else {
                "check that the account may use the key to decrypt (roles/cloudkms.cryptoKeyDecrypter) and that the Cloud KMS API is enabled in the project"
            }
        }
        404 => "check the resource ID: project, location, key ring and key name",
        400 if op == "decrypt" => {
            "the ciphertext does not open under this key: check the entry was not altered and names the key that wrapped it (a destroyed key version cannot decrypt)"
        }
        _ => "check the key, the credentials and the endpoint",
    };
    let kind = if resp.status == 401 {
        GcpErrorKind::Credentials
    } else {
        GcpErrorKind::Refused
    };
    Err(err(
        kind,
        format!(
            "GCP KMS at {} refused {op} with {}: {what}; {hint}",
            http::origin(&url),
            key.resource_id
        ),
    ))
}

// ---------------------------------------------------------------------------------------
// As a key type
// ---------------------------------------------------------------------------------------

/// GCP Cloud KMS as a master-key type: recipients are resource IDs (`projects/…`), entries
/// go to the group's `gcp_kms` list. Registered in `keys::REGISTRY`.
pub static GCP: ServiceType<GcpKey> = ServiceType::new();

impl ServiceKey for GcpKey {
    const TYPE: &'static str = TYPE;
    const LABEL: &'static str = "GCP KMS";
    const RULE_FIELDS: [&'static str; 2] = ["gcp_kms", "gcp_kms"];

    fn claims(recipient: &str) -> bool {
        GcpKey::claims(recipient)
    }

    fn from_recipient(recipient: &str) -> Result<GcpKey, String> {
        let key = GcpKey::new(recipient.trim());
        key.check().map_err(|e| e.message)?;
        Ok(key)
    }

    fn recipient(&self) -> String {
        self.resource_id.clone()
    }

    fn entries(list: &[Value]) -> Result<Vec<GcpKey>, String> {
        entries(list)
    }

    fn entry(&self) -> Value {
        entry_value(self)
    }

    fn encrypt(&self, payload: &[u8], env: &dyn Env) -> Result<GcpKey, String> {
        encrypt(self, payload, env).map_err(|e| e.message)
    }

    fn decrypt(&self, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
        decrypt(self, env).map_err(|e| e.message)
    }

    /// A flat rule's `gcp_kms` is a comma-separated string (or list) of resource IDs; a key
    /// group's `gcp_kms` is a list of `resource_id` mappings (sops's config).
    fn rule_recipients(fields: &Branch, flat: bool, name: &str) -> Result<Vec<String>, String> {
        if flat {
            let ids = crate::config::key_list(
                crate::config::field(fields, TYPE),
                &format!("{name}.{TYPE}"),
            )?;
            return Ok(ids.iter().map(|id| GcpKey::new(id).resource_id).collect());
        }
        let items = match crate::config::field(fields, TYPE) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::List(items)) => items,
            Some(_) => {
                return Err(format!(
                    "{name}.{TYPE} must be a list of keys (`- resource_id: projects/…/cryptoKeys/KEY`)"
                ));
            }
        };
        let mut out = Vec::new();
        let items = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
        for (i, item) in items.enumerate() {
            let at = format!("{name}.{TYPE}[{i}]");
            let Value::Branch(b) = item else {
                return Err(format!("{at} must be a mapping with a resource_id"));
            };
            let id = match crate::config::field(b, "resource_id") {
                None | Some(Value::Null) => String::new(),
                Some(v) => crate::config::scalar(v)
                    .ok_or_else(|| format!("{at}.resource_id must be a string"))?,
            };
            if id.is_empty() {
                return Err(format!("{at} has no resource_id"));
            }
            out.push(GcpKey::new(&id).resource_id);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
