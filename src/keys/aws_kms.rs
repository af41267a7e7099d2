//! AWS KMS master keys, as sops's `kms` key source: a data key (or Shamir share) is wrapped
//! with KMS `Encrypt` under a key ARN (with an optional encryption context) and unwrapped
//! with `Decrypt`; a `+ROLE` ARN first assumes that role through STS `AssumeRole`.
//!
//! A metadata entry is sops's: `arn`, `role` (when set), `context` (when set), `created_at`
//! (RFC 3339), `enc` (base64 of the KMS ciphertext blob) and `aws_profile` (always written,
//! empty when unset, as sops writes it). Requests are KMS's JSON protocol signed with
//! Signature Version 4 (written here on `hmac` + `sha2`), sent through [`super::http`].
//!
//! Credentials are found as the AWS SDK for Go v2 (which sops uses) finds them: the key's
//! `aws_profile` when set; else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (+`AWS_SESSION_TOKEN`); else a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
//! `AWS_ROLE_ARN`); else the shared `config`/`credentials` files' profile (`AWS_PROFILE`,
//! else `default`: static keys, `role_arn` + `source_profile`, `credential_process`); else
//! the container endpoint (`AWS_CONTAINER_CREDENTIALS_*`); else instance metadata (IMDSv2,
//! one-second timeout) unless `AWS_EC2_METADATA_DISABLED=true`. The endpoint is
//! `AWS_ENDPOINT_URL_KMS` (`_STS`), else `AWS_ENDPOINT_URL`, else the profile's
//! `endpoint_url`, else the region's public endpoint; the region is the ARN's.
//!
//! Secrets (keys, tokens, signatures, data keys) never appear in messages.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::http;
use super::{Env, ServiceKey, ServiceType};
use crate::tree::{Branch, Item, Value};

mod credentials;
pub mod s3;
mod sigv4;

use credentials::{Credentials, SharedConfig, assume_role, resolve_credentials};
use sigv4::signed_post;

/// The metadata (and creation rule) field of this key type.
pub const TYPE: &str = "kms";

/// One `kms:` entry of a key group (or, with `enc` empty, a key to wrap for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KmsKey {
    /// The key's ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID` or `…:alias/NAME`).
    pub arn: String,
    /// A role ARN to assume through STS first (empty: none).
    pub role: String,
    /// The encryption context (empty: none), sorted as sops writes it.
    pub context: BTreeMap<String, String>,
    /// When the entry was made (RFC 3339 text as stored).
    pub created_at: String,
    /// base64 of the KMS ciphertext blob.
    pub enc: String,
    /// The shared-config profile to use (empty: the default chain).
    pub aws_profile: String,
}

/// Why a KMS operation failed. The message names the key and what to check, never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// What failed.
    pub kind: KmsErrorKind,
    /// The message.
    pub message: String,
}

/// The classes of [`KmsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsErrorKind {
    /// The ARN, the context or the entry is malformed.
    BadKey,
    /// No credentials were found, or they could not be had (STS, web identity, …).
    Credentials,
    /// The service answered and refused (unknown key, wrong context, no permission, …).
    Refused,
    /// The service could not be reached.
    Transport,
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KmsError {}

fn err(kind: KmsErrorKind, message: String) -> KmsError {
    KmsError { kind, message }
}

// ---------------------------------------------------------------------------------------
// Keys as rules, flags and messages name them
// ---------------------------------------------------------------------------------------

impl KmsKey {
    /// A key to wrap for from `ARN[+ROLE_ARN]` (spaces removed, as sops does), an
    /// encryption context and a profile.
    pub fn new(arn: &str, context: BTreeMap<String, String>, aws_profile: &str) -> KmsKey {
        let arn: String = arn.chars().filter(|c| *c != ' ').collect();
        // ARN paths may hold '+' but never ':', so "+arn:" separates two ARNs.
        let (arn, role) = match arn.find("+arn:") {
            Some(i) if i > 0 => (arn[..i].to_string(), arn[i + 1..].to_string()),
            _ => (arn, String::new()),
        };
        KmsKey {
            arn,
            role,
            context,
            created_at: String::new(),
            enc: String::new(),
            aws_profile: aws_profile.to_string(),
        }
    }

    /// The key as sops names it (`filestatus`, messages, `updatekeys`):
    /// `ARN[+ROLE][|k:v,…][|PROFILE]`.
    pub fn describe(&self) -> String {
        let mut s = self.arn.clone();
        if !self.role.is_empty() {
            s.push('+');
            s.push_str(&self.role);
        }
        let ctx = context_to_string(&self.context);
        if !self.aws_profile.is_empty() {
            s.push_str(&format!("|{ctx}|{}", self.aws_profile));
        } else if !ctx.is_empty() {
            s.push_str(&format!("|{ctx}"));
        }
        s
    }

    /// The inverse of [`KmsKey::describe`]: `ARN[+ROLE][|k:v,…][|PROFILE]`, as key lists
    /// name KMS keys among other master keys.
    pub fn from_recipient(text: &str) -> Result<KmsKey, String> {
        let mut parts = text.splitn(3, '|');
        let arn = parts.next().unwrap_or_default();
        let context = parse_context(parts.next().unwrap_or_default())?;
        let profile = parts.next().unwrap_or_default();
        let key = KmsKey::new(arn, context, profile);
        parse_arn(&key.arn).map_err(|e| e.message)?;
        Ok(key)
    }

    /// Whether a recipient string names a KMS key (an ARN: never an age, PGP or Vault key).
    pub fn claims(recipient: &str) -> bool {
        recipient.trim_start().starts_with("arn:")
    }

    /// The key's region (from its ARN), or why the ARN is not one.
    pub fn region(&self) -> Result<String, KmsError> {
        parse_arn(&self.arn).map(|a| a.region)
    }

    /// Whether two entries name the same master key (ARN, role, context, profile).
    pub fn same_key(&self, other: &KmsKey) -> bool {
        self.arn == other.arn
            && self.role == other.role
            && self.context == other.context
            && self.aws_profile == other.aws_profile
    }
}

/// sops's `--kms`/`SOPS_KMS_ARN`/rule `kms:` list: comma-separated `ARN[+ROLE]`, empty items
/// dropped, each with the same context and profile.
pub fn parse_arn_list(
    list: &str,
    context: &BTreeMap<String, String>,
    profile: &str,
) -> Vec<KmsKey> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| KmsKey::new(s, context.clone(), profile))
        .collect()
}

/// An encryption context from `--encryption-context` (`k1:v1,k2:v2`). sops warns and drops
/// a malformed context (encrypting without one); seal refuses instead, since a context
/// silently dropped is a binding silently lost.
pub fn parse_context(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if text.is_empty() {
        return Ok(out);
    }
    for pair in text.split(',') {
        let parts: Vec<&str> = pair.split(':').collect();
        match parts.as_slice() {
            [k, v] => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => {
                return Err(format!(
                    "the encryption context item {pair:?} is not KEY:VALUE (expected \
                     `key1:value1,key2:value2`)"
                ));
            }
        }
    }
    Ok(out)
}

/// A context as sops prints it: sorted `k:v` pairs joined by commas.
pub fn context_to_string(ctx: &BTreeMap<String, String>) -> String {
    ctx.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

struct Arn {
    partition: String,
    region: String,
}

fn parse_arn(arn: &str) -> Result<Arn, KmsError> {
    let bad = || {
        err(
            KmsErrorKind::BadKey,
            format!(
                "{arn:?} is not an AWS KMS key ARN (expected \
                 arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME)"
            ),
        )
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let ok = *prefix == "arn"
        && partition.strip_prefix("aws").is_some_and(|rest| {
            rest.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        && *service == "kms"
        && !region.is_empty()
        && !account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && (resource.strip_prefix("key/").is_some_and(|r| !r.is_empty())
            || resource
                .strip_prefix("alias/")
                .is_some_and(|r| !r.is_empty()));
    if !ok {
        return Err(bad());
    }
    Ok(Arn {
        partition: partition.to_string(),
        region: region.to_string(),
    })
}

// ---------------------------------------------------------------------------------------
// Metadata entries
// ---------------------------------------------------------------------------------------

/// The entries of a raw `kms:` metadata list. An entry without `arn` or `enc`, or whose
/// context is not a map of strings, is an error naming its position.
pub fn entries(list: &[Value]) -> Result<Vec<KmsKey>, String> {
    super::read_entries(list, "kms", |e| {
        let mut context = BTreeMap::new();
        match e.branch.get("context") {
            None | Some(Value::Null) => {}
            Some(Value::Branch(c)) => {
                for item in &c.items {
                    if let Item::Pair(k, v) = item {
                        let Value::Str(s) = v else {
                            return Err(e.error(&format!(
                                "has an encryption context value {k:?} that is not a string"
                            )));
                        };
                        context.insert(k.clone(), s.clone());
                    }
                }
            }
            Some(_) => return Err(e.error("has a context that is not a mapping")),
        }
        Ok(KmsKey {
            arn: e.need("arn")?,
            role: e.text("role").unwrap_or_default(),
            context,
            created_at: e.text("created_at").unwrap_or_default(),
            enc: e.need("enc")?,
            aws_profile: e.text("aws_profile").unwrap_or_default(),
        })
    })
}

/// The raw metadata entry sops writes for a KMS key, in sops's field order.
pub fn entry_value(key: &KmsKey) -> Value {
    let mut items = vec![Item::Pair("arn".into(), Value::Str(key.arn.clone()))];
    if !key.role.is_empty() {
        items.push(Item::Pair("role".into(), Value::Str(key.role.clone())));
    }
    if !key.context.is_empty() {
        let ctx = key
            .context
            .iter()
            .map(|(k, v)| Item::Pair(k.clone(), Value::Str(v.clone())))
            .collect();
        items.push(Item::Pair(
            "context".into(),
            Value::Branch(Branch { items: ctx }),
        ));
    }
    items.push(Item::Pair(
        "created_at".into(),
        Value::Str(key.created_at.clone()),
    ));
    items.push(Item::Pair("enc".into(), Value::Str(key.enc.clone())));
    items.push(Item::Pair(
        "aws_profile".into(),
        Value::Str(key.aws_profile.clone()),
    ));
    Value::Branch(Branch { items })
}

// ---------------------------------------------------------------------------------------
// Wrap and unwrap
// ---------------------------------------------------------------------------------------

/// Wrap `payload` (a data key or Shamir share) with KMS `Encrypt`: the returned entry is
/// `key` with `enc` and `created_at` set.
pub fn encrypt(key: &KmsKey, payload: &[u8], env: &dyn Env) -> Result<KmsKey, KmsError> {
    let arn = parse_arn(&key.arn)?;
    let client = Client::new(key, &arn, env)?;
    let mut body = serde_json::Map::new();
    body.insert("KeyId".into(), key.arn.clone().into());
    body.insert("Plaintext".into(), B64.encode(payload).into());
    if !key.context.is_empty() {
        body.insert("EncryptionContext".into(), context_json(&key.context));
    }
    let body = Zeroizing::new(serde_json::Value::Object(body).to_string());
    let out = client.call("Encrypt", body.as_bytes(), key)?;
    let blob = out
        .get("CiphertextBlob")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            err(
                KmsErrorKind::Refused,
                format!(
                    "AWS KMS at {} answered Encrypt for {} without a CiphertextBlob",
                    http::origin(&client.endpoint),
                    key.describe()
                ),
            )
        })?;
    let mut made = key.clone();
    made.enc = blob.to_string();
    made.created_at = crate::metadata::Metadata::now_lastmodified();
    Ok(made)
}

/// Unwrap an entry with KMS `Decrypt` (the entry's ARN, context, role and profile).
pub fn decrypt(key: &KmsKey, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let blob = B64.decode(key.enc.trim()).map_err(|_| {
        err(
            KmsErrorKind::BadKey,
            format!(
                "the kms entry for {} has an enc that is not base64",
                key.arn
            ),
        )
    })?;
    let arn = parse_arn(&key.arn)?;
    let client = Client::new(key, &arn, env)?;
    let mut body = serde_json::Map::new();
    body.insert("KeyId".into(), key.arn.clone().into());
    body.insert("CiphertextBlob".into(), B64.encode(&blob).into());
    if !key.context.is_empty() {
        body.insert("EncryptionContext".into(), context_json(&key.context));
    }
    let body = serde_json::Value::Object(body).to_string();
    let out = client.call("Decrypt", body.as_bytes(), key)?;
    let plain = out
        .get("Plaintext")
        .and_then(|v| v.as_str())
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| {
            err(
                KmsErrorKind::Refused,
                format!(
                    "AWS KMS at {} answered Decrypt for {} without a base64 Plaintext",
                    http::origin(&client.endpoint),
                    key.describe()
                ),
            )
        })?;
    Ok(Zeroizing::new(plain))
}

fn context_json(ctx: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        ctx.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// A signed KMS client for one key: endpoint, region, credentials.
struct Client {
    endpoint: String,
    region: String,
    creds: Credentials,
}

impl Client {
    fn new(key: &KmsKey, arn: &Arn, env: &dyn Env) -> Result<Client, KmsError> {
        let shared = SharedConfig::load(env, &key.aws_profile)?;
        let endpoint = endpoint_for(env, &shared, "KMS", "kms", arn);
        let base = resolve_credentials(env, &shared, &key.aws_profile, arn, &key.describe())?;
        let creds = if key.role.is_empty() {
            base
        } else {
            let sts = endpoint_for(env, &shared, "STS", "sts", arn);
            assume_role(&sts, &arn.region, &base, &key.role, &key.describe())?
        };
        Ok(Client {
            endpoint,
            region: arn.region.clone(),
            creds,
        })
    }

    fn call(&self, action: &str, body: &[u8], key: &KmsKey) -> Result<serde_json::Value, KmsError> {
        let target = format!("TrentService.{action}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amz-target", target),
        ];
        let resp = signed_post(
            "AWS KMS",
            &self.endpoint,
            &self.region,
            "kms",
            &self.creds,
            &headers,
            body,
        )
        .map_err(|e| err(KmsErrorKind::Transport, format!("{e} (key {})", key.arn)))?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
        if resp.status == 200 {
            return json.ok_or_else(|| {
                err(
                    KmsErrorKind::Refused,
                    format!(
                        "AWS KMS at {} answered {action} for {} with a body that is not JSON",
                        http::origin(&self.endpoint),
                        key.arn
                    ),
                )
            });
        }
        let (code, message) = json
            .as_ref()
            .map(|j| {
                let code = j
                    .get("__type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .rsplit('#')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let msg = j
                    .get("message")
                    .or_else(|| j.get("Message"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                (code, msg)
            })
            .unwrap_or_default();
        let hint = match code.as_str() {
            "InvalidCiphertextException" => {
                "the ciphertext does not open under this key: check the entry's encryption \
                 context and that the file was not altered"
            }
            "NotFoundException" => "check the key ARN and the region",
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException" => {
                "check the credentials and that they allow kms:Encrypt/kms:Decrypt on this key"
            }
            "DisabledException" | "KMSInvalidStateException" => {
                "the key is disabled or pending deletion"
            }
            _ => "check the key ARN, the credentials and their kms permissions",
        };
        let what = match (code.is_empty(), message.is_empty()) {
            (false, false) => format!("{code}: {}", one_line(&message)),
            (false, true) => code.clone(),
            (true, false) => one_line(&message),
            (true, true) => format!("HTTP {}", resp.status),
        };
        Err(err(
            KmsErrorKind::Refused,
            format!(
                "AWS KMS at {} refused {action} with key {}: {what}; {hint}",
                http::origin(&self.endpoint),
                key.describe()
            ),
        ))
    }
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------

/// The endpoint for a service: `AWS_ENDPOINT_URL_<ID>`, `AWS_ENDPOINT_URL`, the profile's
/// `endpoint_url`, else the region's public endpoint (unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`).
fn endpoint_for(env: &dyn Env, shared: &SharedConfig, id: &str, prefix: &str, arn: &Arn) -> String {
    let ignore = env
        .var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !ignore {
        let configured = env
            .var(&format!("AWS_ENDPOINT_URL_{id}"))
            .filter(|v| !v.is_empty())
            .or_else(|| env.var("AWS_ENDPOINT_URL").filter(|v| !v.is_empty()))
            .or_else(|| shared.get("endpoint_url"));
        if let Some(url) = configured {
            return url.trim_end_matches('/').to_string();
        }
    }
    let domain = if arn.partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{prefix}.{}.{domain}", arn.region)
}

// ---------------------------------------------------------------------------------------
// As a key type
// ---------------------------------------------------------------------------------------

/// AWS KMS as a master-key type: recipients are ARNs as [`KmsKey::describe`] writes them
/// (`ARN[+ROLE][|k:v,…][|PROFILE]`), entries go to the group's `kms` list. Registered in
/// `keys::REGISTRY`.
pub static KMS: ServiceType<KmsKey> = ServiceType::new();

impl ServiceKey for KmsKey {
    const TYPE: &'static str = TYPE;
    const LABEL: &'static str = "AWS KMS";
    const RULE_FIELDS: [&'static str; 2] = ["kms", "kms"];

    fn claims(recipient: &str) -> bool {
        KmsKey::claims(recipient)
    }

    fn from_recipient(recipient: &str) -> Result<KmsKey, String> {
        KmsKey::from_recipient(recipient)
    }

    fn recipient(&self) -> String {
        self.describe()
    }

    fn entries(list: &[Value]) -> Result<Vec<KmsKey>, String> {
        entries(list)
    }

    fn entry(&self) -> Value {
        entry_value(self)
    }

    fn encrypt(&self, payload: &[u8], env: &dyn Env) -> Result<KmsKey, String> {
        encrypt(self, payload, env).map_err(|e| e.message)
    }

    fn decrypt(&self, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
        decrypt(self, env).map_err(|e| e.message)
    }

    /// A flat rule's `kms` is a comma-separated string (or list) of `ARN[+ROLE]`, all with
    /// the rule's `aws_profile`; a key group's `kms` is a list of `arn`/`role`/`context`/
    /// `aws_profile` mappings. A flat rule has no context (sops's `--encryption-context`
    /// applies to `--kms` keys only: measured with sops 3.11).
    fn rule_recipients(fields: &Branch, flat: bool, name: &str) -> Result<Vec<String>, String> {
        let field = |key: &str, what: &str| -> Result<String, String> {
            match crate::config::field(fields, key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(v) => crate::config::scalar(v)
                    .ok_or_else(|| format!("{name}.{key}: {what} must be a string")),
            }
        };
        if flat {
            let profile = field("aws_profile", "aws_profile")?;
            let arns = crate::config::key_list(
                crate::config::field(fields, "kms"),
                &format!("{name}.kms"),
            )?;
            return Ok(arns
                .iter()
                .map(|arn| KmsKey::new(arn, BTreeMap::new(), &profile).describe())
                .collect());
        }
        let items = match crate::config::field(fields, "kms") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::List(items)) => items,
            Some(_) => {
                return Err(format!(
                    "{name}.kms must be a list of keys (`- arn: ARN`, with optional role, context and aws_profile)"
                ));
            }
        };
        let mut out = Vec::new();
        let items = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
        for (i, item) in items.enumerate() {
            let at = format!("{name}.kms[{i}]");
            let Value::Branch(b) = item else {
                return Err(format!("{at} must be a mapping with an arn"));
            };
            let text = |key: &str| -> Result<String, String> {
                match crate::config::field(b, key) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(v) => crate::config::scalar(v)
                        .ok_or_else(|| format!("{at}.{key} must be a string")),
                }
            };
            let arn = text("arn")?;
            if arn.is_empty() {
                return Err(format!("{at} has no arn"));
            }
            let mut context = BTreeMap::new();
            match crate::config::field(b, "context") {
                None | Some(Value::Null) => {}
                Some(Value::Branch(ctx)) => {
                    for item in &ctx.items {
                        let Item::Pair(k, v) = item else { continue };
                        let v = crate::config::scalar(v)
                            .ok_or_else(|| format!("{at}.context.{k} must be a string"))?;
                        context.insert(k.clone(), v);
                    }
                }
                Some(_) => return Err(format!("{at}.context must be a mapping")),
            }
            let role = text("role")?;
            let arn = if role.is_empty() {
                arn
            } else {
                format!("{arn}+{role}")
            };
            out.push(KmsKey::new(&arn, context, &text("aws_profile")?).describe());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::credentials::*;
    use super::sigv4::*;
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
    fn arn_role_split_and_describe_as_sops() {
        let ctx = parse_context("b:2,a:1").unwrap();
        let k = KmsKey::new(
            "arn:aws:kms:eu-west-1:111122223333:key/abc +arn:aws:iam::111122223333:role/r",
            ctx,
            "",
        );
        assert_eq!(k.arn, "arn:aws:kms:eu-west-1:111122223333:key/abc");
        assert_eq!(k.role, "arn:aws:iam::111122223333:role/r");
        assert_eq!(
            k.describe(),
            "arn:aws:kms:eu-west-1:111122223333:key/abc+arn:aws:iam::111122223333:role/r|a:1,b:2"
        );
        let p = KmsKey::new("arn:aws:kms:eu-west-1:1:alias/x", BTreeMap::new(), "dev");
        assert_eq!(p.describe(), "arn:aws:kms:eu-west-1:1:alias/x||dev");
        assert_eq!(KmsKey::from_recipient(&p.describe()).unwrap(), p);
        assert_eq!(KmsKey::from_recipient(&k.describe()).unwrap(), k);
        assert!(KmsKey::claims(&k.describe()) && !KmsKey::claims("age1x"));
        assert!(KmsKey::from_recipient("arn:aws:kms:x|a").is_err());
        assert_eq!(p.region().unwrap(), "eu-west-1");
        let list = parse_arn_list(
            "arn:aws:kms:a:1:key/x,,arn:aws:kms:b:2:key/y",
            &BTreeMap::new(),
            "",
        );
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn malformed_arns_and_contexts_are_refused() {
        for bad in [
            "arn:aws:kms:us-east-1:abc:key/x",
            "arn:aws:s3:us-east-1:1:key/x",
            "arn:aws:kms::1:key/x",
            "arn:aws:kms:us-east-1:1:role/x",
            "alias/x",
        ] {
            assert!(parse_arn(bad).is_err(), "{bad}");
        }
        assert!(parse_arn("arn:aws-us-gov:kms:us-gov-west-1:1:key/x").is_ok());
        assert!(parse_context("a:1,b").is_err());
        assert!(parse_context("a:1:2").is_err());
        assert!(parse_context("").unwrap().is_empty());
    }

    #[test]
    fn entries_round_trip_in_sops_order() {
        let k = KmsKey {
            arn: "arn:aws:kms:us-east-1:1:key/x".into(),
            role: "arn:aws:iam::1:role/r".into(),
            context: parse_context("env:prod").unwrap(),
            created_at: "2024-01-01T00:00:00Z".into(),
            enc: "AQID".into(),
            aws_profile: String::new(),
        };
        let v = entry_value(&k);
        let Value::Branch(b) = &v else { panic!() };
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
            ["arn", "role", "context", "created_at", "enc", "aws_profile"]
        );
        assert_eq!(entries(&[v]).unwrap(), vec![k]);
        assert!(entries(&[Value::Str("x".into())]).is_err());
    }

    #[test]
    fn session_name_sanitised_as_sops() {
        assert_eq!(sanitize_session("my host!.local"), "sops@myhost.local");
        assert_eq!(sanitize_session(&"h".repeat(80)).len(), 64);
    }

    /// The AWS SigV4 test suite's `post-x-www-form-urlencoded` case (its documented
    /// example credentials and date); the signature was also recomputed with Python's
    /// hmac/hashlib from the algorithm's description.
    #[test]
    fn sigv4_matches_aws_documented_example() {
        let c = creds(
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            None,
        );
        let now = time::macros::datetime!(2015-08-30 12:36:00 UTC);
        let h = sign(
            &c,
            "us-east-1",
            "service",
            "https://example.amazonaws.com/",
            &[("content-type", "application/x-www-form-urlencoded".into())],
            b"Param1=value1",
            now,
        );
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn shared_files_profiles_and_endpoints() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".aws")).unwrap();
        std::fs::write(
            d.path().join(".aws/config"),
            "[default]\nregion = us-east-1\n[profile dev]\nendpoint_url = http://127.0.0.1:1 # c\n\
             s3 =\n  addressing_style = path\n[sso-session x]\naws_access_key_id = no\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join(".aws/credentials"),
            "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = sdev\n",
        )
        .unwrap();
        let env = MapEnv(vec![], Some(d.path().to_path_buf()));
        let shared = SharedConfig::load(&env, "dev").unwrap();
        assert_eq!(
            shared.get("endpoint_url").as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert!(!shared.exists("x"));
        let arn = parse_arn("arn:aws:kms:eu-west-1:1:key/x").unwrap();
        let c = resolve_credentials(&env, &shared, "dev", &arn, "k").unwrap();
        assert_eq!(c.access_key, "AKDEV");
        assert_eq!(
            endpoint_for(&env, &shared, "KMS", "kms", &arn),
            "http://127.0.0.1:1"
        );
        let env2 = MapEnv(
            vec![("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:2/".into())],
            Some(d.path().to_path_buf()),
        );
        assert_eq!(
            endpoint_for(&env2, &shared, "KMS", "kms", &arn),
            "http://127.0.0.1:2"
        );
        let none = SharedConfig::load(&MapEnv(vec![], None), "").unwrap();
        assert_eq!(
            endpoint_for(&env, &none, "KMS", "kms", &arn),
            "https://kms.eu-west-1.amazonaws.com"
        );
        let cn = parse_arn("arn:aws-cn:kms:cn-north-1:1:key/x").unwrap();
        assert_eq!(
            endpoint_for(&env, &none, "STS", "sts", &cn),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn no_credentials_with_metadata_off_fails_without_network() {
        let d = tempfile::tempdir().unwrap();
        let env = MapEnv(
            vec![
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
                ("AWS_ACCESS_KEY_ID", "AKONLY".into()),
                // An endpoint nobody listens on: reaching it would be a transport error.
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
            ],
            Some(d.path().to_path_buf()),
        );
        let k = KmsKey::new("arn:aws:kms:us-east-1:1:key/x", BTreeMap::new(), "");
        let e = decrypt(
            &KmsKey {
                enc: "AQID".into(),
                ..k
            },
            &env,
        )
        .unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::Credentials, "{e}");
        assert!(e.message.contains("AWS_SECRET_ACCESS_KEY is not"), "{e}");
        assert!(!e.message.contains("AKONLY"), "{e}");
    }

    #[test]
    fn as_a_key_type_names_and_checks_recipients() {
        let t = &KMS;
        let k = KmsKey {
            enc: "AQID".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            ..KmsKey::new(
                "arn:aws:kms:us-east-1:1:key/x",
                parse_context("a:b").unwrap(),
                "",
            )
        };
        let group = KeyGroup {
            age: vec![],
            other: vec![(TYPE.into(), vec![entry_value(&k)])],
        };
        assert_eq!(t.recipients(&group), ["arn:aws:kms:us-east-1:1:key/x|a:b"]);
        assert_eq!(
            t.describe(&group),
            ["AWS KMS arn:aws:kms:us-east-1:1:key/x|a:b"]
        );
        assert!(t.claims("arn:aws:kms:us-east-1:1:key/x") && !t.claims("age1abc"));
        assert!(
            t.check("arn:aws:kms:us-east-1:1:key/x+arn:aws:iam::1:role/r")
                .is_ok()
        );
        assert!(matches!(
            t.check("arn:aws:kms:us-east-1:1:nokey"),
            Err(KeyError::BadRecipient { .. })
        ));
    }
}
