//! HashiCorp Vault / OpenBao transit master keys, as sops's `hc_vault` key source: a data
//! key (or Shamir share) is wrapped by the transit engine's `encrypt/KEY` endpoint and
//! unwrapped by `decrypt/KEY`, with the token in `X-Vault-Token`.
//!
//! A key is named by its URI, `https://vault.example.com:8200/v1/transit/keys/NAME` (the
//! engine may be mounted at a deeper path: `/v1/a/b/keys/NAME`). The server address comes
//! from the URI, never from `VAULT_ADDR` (sops reads that only for `publish`). The token is
//! `VAULT_TOKEN`, else `~/.vault-token`; `VAULT_NAMESPACE` is sent as `X-Vault-Namespace` as
//! the Vault client does; `SOPS_HC_VAULT_ALLOWLIST` (sops 3.13: `all`, `none`, or
//! comma-separated address prefixes) limits which servers may be contacted.
//!
//! A metadata entry is sops's: `vault_address`, `engine_path`, `key_name`, `created_at`
//! (RFC 3339), `enc` (the transit ciphertext, `vault:v1:…`). Tokens and data keys never
//! appear in messages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::http;
use super::{Env, ServiceKey, ServiceType};
use crate::tree::{Branch, Item, Value};

/// The metadata (and creation rule) field of this key type.
pub const TYPE: &str = "hc_vault";

/// One `hc_vault:` entry of a key group (or, with `enc` empty, a key to wrap for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VaultKey {
    /// `scheme://host[:port]` of the server.
    pub vault_address: String,
    /// The transit engine's mount path (`transit`, `a/b`).
    pub engine_path: String,
    /// The transit key's name.
    pub key_name: String,
    /// When the entry was made (RFC 3339 text as stored).
    pub created_at: String,
    /// The transit ciphertext (`vault:v1:…`).
    pub enc: String,
}

/// Why a Vault operation failed. The message names the key and what to check, never the
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultError {
    /// What failed.
    pub kind: VaultErrorKind,
    /// The message.
    pub message: String,
}

/// The classes of [`VaultError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultErrorKind {
    /// The URI or the entry is malformed, or the allowlist forbids the server.
    BadKey,
    /// No token was found, or it could not be read.
    Token,
    /// The server answered and refused (permission denied, unknown key, bad ciphertext).
    Refused,
    /// The server could not be reached.
    Transport,
}

impl std::fmt::Display for VaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VaultError {}

fn err(kind: VaultErrorKind, message: String) -> VaultError {
    VaultError { kind, message }
}

const URI_SHAPE: &str = "https://vault.example.com:8200/v1/transit/keys/keyName";

impl VaultKey {
    /// A key from its URI (`--hc-vault-transit`, a rule's `hc_vault_transit_uri`), checked as
    /// sops checks it: a scheme, and a path `/v<N>/ENGINE…/keys/NAME` with no prefix before
    /// `/v<N>`.
    pub fn from_uri(uri: &str) -> Result<VaultKey, VaultError> {
        let bad = |why: &str| {
            err(
                VaultErrorKind::BadKey,
                format!("{uri:?} is not a Vault transit key URL: {why} (expected {URI_SHAPE})"),
            )
        };
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(bad("it has no scheme"));
        };
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(bad("it has no scheme"));
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("it has no host"));
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let dirs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let versioned = |d: &str| {
            d.strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        };
        if dirs.len() >= 5 && !versioned(dirs[0]) && dirs[1..].iter().any(|d| versioned(d)) {
            return Err(bad("a Vault behind a prefixed URL is not supported"));
        }
        if dirs.len() < 4 || !versioned(dirs[0]) || dirs.iter().any(|d| d.is_empty()) {
            return Err(bad("the path is not /v1/ENGINE/keys/NAME"));
        }
        let key_name = dirs[dirs.len() - 1].to_string();
        let engine_path = dirs[1..dirs.len() - 2].join("/");
        Ok(VaultKey {
            vault_address: format!("{scheme}://{authority}"),
            engine_path,
            key_name,
            created_at: String::new(),
            enc: String::new(),
        })
    }

    /// Whether a recipient string names a Vault key (an `http(s)://` URL: never an age,
    /// PGP or KMS key, nor an Azure Key Vault key URL, `https://HOST/keys/…`).
    pub fn claims(recipient: &str) -> bool {
        let r = recipient.trim_start();
        (r.starts_with("https://") || r.starts_with("http://"))
            && !super::azure_kv::AzureKey::claims(r)
    }

    /// The key as sops names it: `ADDRESS/v1/ENGINE/keys/NAME`.
    pub fn describe(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.vault_address, self.engine_path, self.key_name
        )
    }

    /// Whether two entries name the same master key.
    pub fn same_key(&self, other: &VaultKey) -> bool {
        self.vault_address == other.vault_address
            && self.engine_path == other.engine_path
            && self.key_name == other.key_name
    }

    fn url(&self, op: &str) -> String {
        format!(
            "{}/v1/{}/{op}/{}",
            self.vault_address.trim_end_matches('/'),
            self.engine_path.trim_matches('/'),
            self.key_name
        )
    }
}

/// sops's `--hc-vault-transit`/`SOPS_VAULT_URIS` list: comma-separated URIs, empty items
/// dropped; the first malformed one is an error.
pub fn parse_uri_list(list: &str) -> Result<Vec<VaultKey>, VaultError> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(VaultKey::from_uri)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Metadata entries
// ---------------------------------------------------------------------------------------

/// The entries of a raw `hc_vault:` metadata list. An entry without `vault_address`,
/// `engine_path`, `key_name` or `enc` is an error naming its position.
pub fn entries(list: &[Value]) -> Result<Vec<VaultKey>, String> {
    super::read_entries(list, "hc_vault", |e| {
        Ok(VaultKey {
            vault_address: e.need("vault_address")?,
            engine_path: e.need("engine_path")?,
            key_name: e.need("key_name")?,
            created_at: e.text("created_at").unwrap_or_default(),
            enc: e.need("enc")?,
        })
    })
}

/// The raw metadata entry sops writes for a Vault key, in sops's field order.
pub fn entry_value(key: &VaultKey) -> Value {
    let s = |v: &str| Value::Str(v.to_string());
    Value::Branch(Branch {
        items: vec![
            Item::Pair("vault_address".into(), s(&key.vault_address)),
            Item::Pair("engine_path".into(), s(&key.engine_path)),
            Item::Pair("key_name".into(), s(&key.key_name)),
            Item::Pair("created_at".into(), s(&key.created_at)),
            Item::Pair("enc".into(), s(&key.enc)),
        ],
    })
}

// ---------------------------------------------------------------------------------------
// Wrap and unwrap
// ---------------------------------------------------------------------------------------

/// Wrap `payload` with the transit key: the returned entry is `key` with `enc` and
/// `created_at` set.
pub fn encrypt(key: &VaultKey, payload: &[u8], env: &dyn Env) -> Result<VaultKey, VaultError> {
    let body = Zeroizing::new(serde_json::json!({ "plaintext": B64.encode(payload) }).to_string());
    let data = call(key, "encrypt", body.as_bytes(), env)?;
    let ct = data
        .get("ciphertext")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            err(
                VaultErrorKind::Refused,
                format!(
                    "Vault at {} answered encrypt for {} without a ciphertext",
                    key.vault_address,
                    key.describe()
                ),
            )
        })?;
    let mut made = key.clone();
    made.enc = ct.to_string();
    made.created_at = crate::metadata::Metadata::now_lastmodified();
    Ok(made)
}

/// Unwrap an entry with the transit key.
pub fn decrypt(key: &VaultKey, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let body = serde_json::json!({ "ciphertext": key.enc }).to_string();
    let data = call(key, "decrypt", body.as_bytes(), env)?;
    let plain = data
        .get("plaintext")
        .and_then(|v| v.as_str())
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| {
            err(
                VaultErrorKind::Refused,
                format!(
                    "Vault at {} answered decrypt for {} without a base64 plaintext",
                    key.vault_address,
                    key.describe()
                ),
            )
        })?;
    Ok(Zeroizing::new(plain))
}

/// The token: `VAULT_TOKEN`, else `~/.vault-token` (trimmed), as the Vault client and sops
/// find it.
fn token(env: &dyn Env, what: &str) -> Result<Zeroizing<String>, VaultError> {
    if let Some(t) = env.var("VAULT_TOKEN").filter(|t| !t.is_empty()) {
        return Ok(Zeroizing::new(t));
    }
    let missing = || {
        err(
            VaultErrorKind::Token,
            format!(
                "no Vault token for {what}: set VAULT_TOKEN or write the token to ~/.vault-token \
                 (`vault login` / `bao login` does)"
            ),
        )
    };
    let Some(home) = env.home() else {
        return Err(missing());
    };
    let path = home.join(".vault-token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(Zeroizing::new(t.trim().to_string())),
        Ok(_) => Err(missing()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing()),
        Err(e) => Err(err(
            VaultErrorKind::Token,
            format!(
                "could not read the Vault token file {}: {e}",
                path.display()
            ),
        )),
    }
}

/// Where `publish` writes a KV secret: `ADDRESS/v1/MOUNT[data/]PATH` (`data/` for KV
/// version 2). The address is the destination's, else `VAULT_ADDR`, else the Vault
/// client's default `https://127.0.0.1:8200` (as sops's publish finds it).
pub fn kv_url(
    address: Option<&str>,
    mount: &str,
    path: &str,
    version: u8,
    env: &dyn Env,
) -> String {
    let address = address
        .map(str::to_string)
        .or_else(|| env.var("VAULT_ADDR").filter(|a| !a.is_empty()))
        .unwrap_or_else(|| "https://127.0.0.1:8200".to_string());
    let data = if version == 1 { "" } else { "data/" };
    format!(
        "{}/v1/{}{data}{}",
        address.trim_end_matches('/'),
        mount.trim_start_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Write `data` (a JSON object) as the KV secret at `url` ([`kv_url`]): KV version 1 takes
/// the object, version 2 `{"data": object}`. The token is found as for transit.
pub fn kv_put(
    url: &str,
    version: u8,
    data: &serde_json::Value,
    env: &dyn Env,
) -> Result<(), VaultError> {
    let token = token(env, url)?;
    let body = Zeroizing::new(if version == 1 {
        data.to_string()
    } else {
        serde_json::json!({ "data": data }).to_string()
    });
    let namespace = env.var("VAULT_NAMESPACE").filter(|n| !n.is_empty());
    let mut headers: Vec<(&str, &str)> = vec![
        ("x-vault-token", token.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(ns) = &namespace {
        headers.push(("x-vault-namespace", ns.as_str()));
    }
    let resp = http::send(
        "Vault",
        "PUT",
        url,
        &headers,
        Some(body.as_bytes()),
        http::Options::default(),
    )
    .map_err(|e| err(VaultErrorKind::Transport, format!("{e} (writing {url})")))?;
    if resp.status == 200 || resp.status == 204 {
        return Ok(());
    }
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let errors: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Err(err(
        if resp.status == 403 {
            VaultErrorKind::Token
        } else {
            VaultErrorKind::Refused
        },
        format!(
            "Vault refused writing {url}: HTTP {}{}; check the token, that a KV version {version} engine is mounted there, and the token's policy",
            resp.status,
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        ),
    ))
}

/// `SOPS_HC_VAULT_ALLOWLIST` (sops 3.13): unset or empty = all; `all`; `none`; else
/// comma-separated address prefixes (each ending in `/`).
fn allowed(env: &dyn Env, address: &str) -> Result<bool, VaultError> {
    let list = env
        .var("SOPS_HC_VAULT_ALLOWLIST")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "all".to_string());
    match list.as_str() {
        "all" => return Ok(true),
        "none" => return Ok(false),
        _ => {}
    }
    let mut addr = address.to_string();
    if !addr.ends_with('/') {
        addr.push('/');
    }
    let mut ok = false;
    for (i, uri) in list.split(',').enumerate() {
        let mut uri = uri.trim().to_string();
        if uri.is_empty() {
            return Err(err(
                VaultErrorKind::BadKey,
                format!("SOPS_HC_VAULT_ALLOWLIST's entry {} is empty", i + 1),
            ));
        }
        if !uri.ends_with('/') {
            uri.push('/');
        }
        ok |= addr.starts_with(&uri);
    }
    Ok(ok)
}

fn call(
    key: &VaultKey,
    op: &str,
    body: &[u8],
    env: &dyn Env,
) -> Result<serde_json::Map<String, serde_json::Value>, VaultError> {
    if !allowed(env, &key.vault_address)? {
        return Err(err(
            VaultErrorKind::BadKey,
            format!(
                "SOPS_HC_VAULT_ALLOWLIST does not allow the Vault server {} (key {}): add the \
                 address to the list if it is trusted",
                key.vault_address,
                key.describe()
            ),
        ));
    }
    let token = token(env, &key.describe())?;
    let namespace = env.var("VAULT_NAMESPACE").filter(|n| !n.is_empty());
    let mut headers: Vec<(&str, &str)> = vec![
        ("x-vault-token", token.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(ns) = &namespace {
        headers.push(("x-vault-namespace", ns.as_str()));
    }
    let url = key.url(op);
    let resp = http::send(
        "Vault",
        "PUT",
        &url,
        &headers,
        Some(body),
        http::Options::default(),
    )
    .map_err(|e| {
        err(
            VaultErrorKind::Transport,
            format!("{e} (key {})", key.describe()),
        )
    })?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    if resp.status == 200 {
        if let Some(serde_json::Value::Object(data)) =
            json.and_then(|mut j| j.get_mut("data").map(serde_json::Value::take))
        {
            return Ok(data);
        }
        return Err(err(
            VaultErrorKind::Refused,
            format!(
                "Vault at {} answered {op} for {} without data: is {} a transit engine?",
                key.vault_address,
                key.describe(),
                key.engine_path
            ),
        ));
    }
    let errors: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .unwrap_or_default();
    let what = if errors.is_empty() {
        format!("HTTP {}", resp.status)
    } else {
        format!("HTTP {}: {}", resp.status, errors.join("; "))
    };
    let hint = match resp.status {
        403 => {
            "check the token (VAULT_TOKEN or ~/.vault-token): it may be expired, revoked \
                or lack a policy allowing this path"
        }
        404 => "check the engine path and the key name (is transit enabled at that path?)",
        400 if op == "decrypt" => {
            "the ciphertext does not open under this key: check the entry was not altered \
             and the key was not rotated past its minimum decryption version"
        }
        _ => "check the server, the engine path and the key",
    };
    Err(err(
        VaultErrorKind::Refused,
        format!(
            "Vault at {} refused {op} with {} ({url}): {what}; {hint}",
            key.vault_address,
            key.describe()
        ),
    ))
}

// ---------------------------------------------------------------------------------------
// As a key type
// ---------------------------------------------------------------------------------------

/// Vault transit as a master-key type: recipients are key URLs
/// (`https://HOST:PORT/v1/ENGINE/keys/NAME`), entries go to the group's `hc_vault` list.
/// Registered in `keys::REGISTRY`.
pub static VAULT: ServiceType<VaultKey> = ServiceType::new();

impl ServiceKey for VaultKey {
    const TYPE: &'static str = TYPE;
    const LABEL: &'static str = "Vault";
    const RULE_FIELDS: [&'static str; 2] = ["hc_vault_transit_uri", "hc_vault"];

    fn claims(recipient: &str) -> bool {
        VaultKey::claims(recipient)
    }

    fn from_recipient(recipient: &str) -> Result<VaultKey, String> {
        VaultKey::from_uri(recipient).map_err(|e| e.message)
    }

    fn recipient(&self) -> String {
        self.describe()
    }

    fn entries(list: &[Value]) -> Result<Vec<VaultKey>, String> {
        entries(list)
    }

    fn entry(&self) -> Value {
        entry_value(self)
    }

    fn encrypt(&self, payload: &[u8], env: &dyn Env) -> Result<VaultKey, String> {
        encrypt(self, payload, env).map_err(|e| e.message)
    }

    fn decrypt(&self, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
        decrypt(self, env).map_err(|e| e.message)
    }

    /// A flat rule's `hc_vault_transit_uri` and a key group's `hc_vault`: key URLs (a
    /// comma-separated string or a list), as [`VaultKey::describe`] writes them when they
    /// parse (a malformed one is kept as written: wrapping names what is wrong with it).
    fn rule_recipients(fields: &Branch, flat: bool, name: &str) -> Result<Vec<String>, String> {
        let field = Self::RULE_FIELDS[usize::from(!flat)];
        let uris = crate::config::key_list(
            crate::config::field(fields, field),
            &format!("{name}.{field}"),
        )?;
        Ok(uris
            .into_iter()
            .map(|u| VaultKey::from_uri(&u).map(|k| k.describe()).unwrap_or(u))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyError, KeyType as _};
    use crate::metadata::KeyGroup;
    use std::path::PathBuf;

    struct MapEnv(Vec<(&'static str, String)>, Option<PathBuf>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
        fn home(&self) -> Option<PathBuf> {
            self.1.clone()
        }
    }

    #[test]
    fn uris_parse_as_sops() {
        let k = VaultKey::from_uri("https://vault.example.com:8200/v1/transit/keys/k1").unwrap();
        assert_eq!(k.vault_address, "https://vault.example.com:8200");
        assert_eq!(k.engine_path, "transit");
        assert_eq!(k.key_name, "k1");
        assert_eq!(
            k.describe(),
            "https://vault.example.com:8200/v1/transit/keys/k1"
        );
        let deep = VaultKey::from_uri("http://127.0.0.1:8200/v1/a/b/keys/k").unwrap();
        assert_eq!(deep.engine_path, "a/b");
        assert_eq!(
            deep.url("encrypt"),
            "http://127.0.0.1:8200/v1/a/b/encrypt/k"
        );
        for bad in [
            "vault.example.com/v1/transit/keys/k",
            "https://vault.example.com",
            "https://vault.example.com/v1/transit/k",
            "https://vault.example.com/prefix/v1/transit/keys/k",
            "https:///v1/transit/keys/k",
        ] {
            assert!(VaultKey::from_uri(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_uri_list("http://a/v1/t/keys/x,,http://b/v1/t/keys/y")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn entries_round_trip_in_sops_order() {
        let k = VaultKey {
            vault_address: "http://127.0.0.1:8200".into(),
            engine_path: "transit".into(),
            key_name: "k".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            enc: "vault:v1:abc".into(),
        };
        let v = entry_value(&k);
        assert_eq!(entries(std::slice::from_ref(&v)).unwrap(), vec![k]);
        let Value::Branch(b) = v else { panic!() };
        let names: Vec<&str> = b
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, _) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            [
                "vault_address",
                "engine_path",
                "key_name",
                "created_at",
                "enc"
            ]
        );
    }

    #[test]
    fn token_from_env_then_file_and_never_in_messages() {
        let d = tempfile::tempdir().unwrap();
        let k = VaultKey::from_uri("http://127.0.0.1:9/v1/transit/keys/k").unwrap();
        let none = MapEnv(vec![], Some(d.path().to_path_buf()));
        let e = token(&none, &k.describe()).unwrap_err();
        assert_eq!(e.kind, VaultErrorKind::Token);
        assert!(e.message.contains("VAULT_TOKEN"), "{e}");
        std::fs::write(d.path().join(".vault-token"), "s.fromfile\n").unwrap();
        assert_eq!(token(&none, &k.describe()).unwrap().as_str(), "s.fromfile");
        let env = MapEnv(
            vec![("VAULT_TOKEN", "s.fromenv".into())],
            Some(d.path().into()),
        );
        assert_eq!(token(&env, &k.describe()).unwrap().as_str(), "s.fromenv");
    }

    #[test]
    fn allowlist_as_sops() {
        let env = |v: &str| MapEnv(vec![("SOPS_HC_VAULT_ALLOWLIST", v.to_string())], None);
        assert!(allowed(&MapEnv(vec![], None), "https://v:8200").unwrap());
        assert!(!allowed(&env("none"), "https://v:8200").unwrap());
        assert!(allowed(&env("https://x, https://v:8200"), "https://v:8200").unwrap());
        assert!(!allowed(&env("https://v:8200"), "https://v:82000").unwrap());
        assert!(allowed(&env("a,,b"), "https://v").is_err());
        let k = VaultKey {
            enc: "vault:v1:x".into(),
            ..VaultKey::from_uri("http://127.0.0.1:9/v1/transit/keys/k").unwrap()
        };
        // Refused before any token look-up or connection (port 9 would be a transport error).
        let e = decrypt(&k, &env("none")).unwrap_err();
        assert_eq!(e.kind, VaultErrorKind::BadKey, "{e}");
        assert!(e.message.contains("SOPS_HC_VAULT_ALLOWLIST"), "{e}");
    }

    #[test]
    fn as_a_key_type_names_and_checks_recipients() {
        let t = &VAULT;
        let k = VaultKey {
            enc: "vault:v1:x".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            ..VaultKey::from_uri("https://v:8200/v1/transit/keys/k").unwrap()
        };
        let group = KeyGroup {
            age: vec![],
            other: vec![(TYPE.into(), vec![entry_value(&k)])],
        };
        assert_eq!(t.recipients(&group), ["https://v:8200/v1/transit/keys/k"]);
        assert_eq!(
            t.describe(&group),
            ["Vault https://v:8200/v1/transit/keys/k"]
        );
        assert!(t.claims("https://v:8200/v1/transit/keys/k") && !t.claims("pgp:AB"));
        assert!(matches!(
            t.check("https://v:8200/transit/k"),
            Err(KeyError::BadRecipient { .. })
        ));
    }
}
