//! HuaweiCloud KMS master keys, as sops's `hckms` key source: a data key (or Shamir share)
//! is wrapped by KMS's `encrypt-data` and unwrapped by `decrypt-data`
//! (`POST {endpoint}/v1.0/{project_id}/kms/encrypt-data`, JSON
//! `{"key_id", "plain_text": base64(key), "encryption_algorithm": "SYMMETRIC_DEFAULT"}` →
//! `cipher_text`; `decrypt-data` takes `cipher_text` back and answers the base64 text as
//! `plain_text`: the requests sops 3.11 sends through the HuaweiCloud Go SDK, measured).
//!
//! A key is named `REGION:KEY_UUID` (sops's `parseKeyID`: split at the first `:`, both
//! parts trimmed and non-empty; the ID is kept as written). A metadata entry is sops's:
//! `key_id`, `created_at`, `enc` (KMS's ciphertext text, stored as it answered).
//!
//! The endpoint is the SDK's for the region: `HUAWEICLOUD_SDK_REGION_KMS_{REGION}` (the
//! region upper-cased, `-` as `_`; comma-separated endpoints, tried in order), else the
//! `KMS` list of the regions file (`HUAWEICLOUD_SDK_REGIONS_FILE`, default
//! `~/.huaweicloud/regions.yaml`), else the SDK's table of KMS regions. `http://` is
//! accepted for loopback addresses only. Requests are signed with `SDK-HMAC-SHA256`
//! ([`auth`]) from credentials found as the SDK's basic chain finds them; without a
//! project ID, the region's project is looked up through IAM as the SDK does
//! ([`project_id`]: `GET {iam}/v3/projects?name=REGION`, once per process); a proxy
//! (`HTTPS_PROXY`) and CA roots (`SSL_CERT_FILE`) come from [`super::http`]. Secret keys,
//! tokens and data keys never appear in messages.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::gcp_kms::one_line;
use super::http;
use super::{Env, ServiceKey, ServiceType};
use crate::tree::{Branch, Item, Value};

pub mod auth;

/// The metadata (and creation rule) field of this key type.
pub const TYPE: &str = "hckms";

/// The KMS regions the HuaweiCloud Go SDK knows, with their endpoints (services/kms/v2's
/// region table), sorted as the SDK lists them in its message.
const REGIONS: &[(&str, &str)] = &[
    ("ae-ad-1", "https://kms.ae-ad-1.myhuaweicloud.com"),
    ("af-north-1", "https://kms.af-north-1.myhuaweicloud.com"),
    ("af-south-1", "https://kms.af-south-1.myhuaweicloud.com"),
    (
        "ap-southeast-1",
        "https://kms.ap-southeast-1.myhuaweicloud.com",
    ),
    (
        "ap-southeast-2",
        "https://kms.ap-southeast-2.myhuaweicloud.com",
    ),
    (
        "ap-southeast-3",
        "https://kms.ap-southeast-3.myhuaweicloud.com",
    ),
    (
        "ap-southeast-4",
        "https://kms.ap-southeast-4.myhuaweicloud.com",
    ),
    (
        "ap-southeast-5",
        "https://kms.ap-southeast-5.myhuaweicloud.com",
    ),
    ("cn-east-2", "https://kms.cn-east-2.myhuaweicloud.com"),
    ("cn-east-3", "https://kms.cn-east-3.myhuaweicloud.com"),
    ("cn-east-4", "https://kms.cn-east-4.myhuaweicloud.com"),
    ("cn-east-5", "https://kms.cn-east-5.myhuaweicloud.com"),
    ("cn-north-1", "https://kms.cn-north-1.myhuaweicloud.com"),
    ("cn-north-11", "https://kms.cn-north-11.myhuaweicloud.com"),
    ("cn-north-12", "https://kms.cn-north-12.myhuaweicloud.com"),
    ("cn-north-2", "https://kms.cn-north-2.myhuaweicloud.com"),
    ("cn-north-4", "https://kms.cn-north-4.myhuaweicloud.com"),
    ("cn-north-9", "https://kms.cn-north-9.myhuaweicloud.com"),
    ("cn-south-1", "https://kms.cn-south-1.myhuaweicloud.com"),
    ("cn-south-2", "https://kms.cn-south-2.myhuaweicloud.com"),
    ("cn-south-4", "https://kms.cn-south-4.myhuaweicloud.com"),
    (
        "cn-southwest-2",
        "https://kms.cn-southwest-2.myhuaweicloud.com",
    ),
    (
        "cn-southwest-3",
        "https://kms.cn-southwest-3.myhuaweicloud.com",
    ),
    ("eu-west-101", "https://kms.eu-west-101.myhuaweicloud.eu"),
    ("la-north-2", "https://kms.la-north-2.myhuaweicloud.com"),
    ("la-south-2", "https://kms.la-south-2.myhuaweicloud.com"),
    ("me-east-1", "https://kms.me-east-1.myhuaweicloud.com"),
    (
        "my-kualalumpur-1",
        "https://kms.my-kualalumpur-1.myhuaweicloud.com",
    ),
    ("na-mexico-1", "https://kms.na-mexico-1.myhuaweicloud.com"),
    ("ru-moscow-1", "https://kms.ru-moscow-1.myhuaweicloud.com"),
    ("sa-brazil-1", "https://kms.sa-brazil-1.myhuaweicloud.com"),
    ("tr-west-1", "https://kms.tr-west-1.myhuaweicloud.com"),
];

/// The IAM endpoints the SDK uses to look a region's project up (core/auth's table); other
/// regions use [`IAM_DEFAULT`].
const IAM_REGIONS: &[(&str, &str)] = &[
    ("ae-ad-1", "https://iam.ae-ad-1.myhuaweicloud.com"),
    ("af-south-1", "https://iam.af-south-1.myhuaweicloud.com"),
    (
        "ap-southeast-1",
        "https://iam.ap-southeast-1.myhuaweicloud.com",
    ),
    (
        "ap-southeast-2",
        "https://iam.ap-southeast-2.myhuaweicloud.com",
    ),
    (
        "ap-southeast-3",
        "https://iam.ap-southeast-3.myhuaweicloud.com",
    ),
    (
        "ap-southeast-4",
        "https://iam.ap-southeast-4.myhuaweicloud.com",
    ),
    ("cn-east-2", "https://iam.cn-east-2.myhuaweicloud.com"),
    ("cn-east-3", "https://iam.cn-east-3.myhuaweicloud.com"),
    ("cn-east-4", "https://iam.cn-east-4.myhuaweicloud.com"),
    ("cn-east-5", "https://iam.cn-east-5.myhuaweicloud.com"),
    ("cn-north-1", "https://iam.cn-north-1.myhuaweicloud.com"),
    ("cn-north-12", "https://iam.cn-north-12.myhuaweicloud.com"),
    ("cn-north-2", "https://iam.cn-north-2.myhuaweicloud.com"),
    ("cn-north-4", "https://iam.cn-north-4.myhuaweicloud.com"),
    ("cn-north-9", "https://iam.cn-north-9.myhuaweicloud.com"),
    ("cn-south-1", "https://iam.cn-south-1.myhuaweicloud.com"),
    ("cn-south-2", "https://iam.cn-south-2.myhuaweicloud.com"),
    (
        "cn-southwest-2",
        "https://iam.cn-southwest-2.myhuaweicloud.com",
    ),
    ("eu-west-0", "https://iam.eu-west-0.myhuaweicloud.com"),
    ("la-north-2", "https://iam.la-north-2.myhuaweicloud.com"),
    ("la-south-2", "https://iam.la-south-2.myhuaweicloud.com"),
    ("me-east-1", "https://iam.me-east-1.myhuaweicloud.com"),
    (
        "my-kualalumpur-1",
        "https://iam.my-kualalumpur-1.myhuaweicloud.com",
    ),
    ("na-mexico-1", "https://iam.na-mexico-1.myhuaweicloud.com"),
    ("ru-moscow-1", "https://iam.ru-moscow-1.myhuaweicloud.com"),
    ("sa-brazil-1", "https://iam.sa-brazil-1.myhuaweicloud.com"),
    ("tr-west-1", "https://iam.tr-west-1.myhuaweicloud.com"),
];

/// The SDK's IAM endpoint for regions outside [`IAM_REGIONS`].
const IAM_DEFAULT: &str = "https://iam.myhuaweicloud.com";

/// One `hckms:` entry of a key group (or, with `enc` empty, a key to wrap for).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HcKey {
    /// `REGION:KEY_UUID` as written (sops keeps it so in `key_id`).
    pub key_id: String,
    /// The region (trimmed).
    pub region: String,
    /// The key's UUID (trimmed).
    pub uuid: String,
    /// When the entry was made (RFC 3339 text as stored).
    pub created_at: String,
    /// KMS's ciphertext.
    pub enc: String,
}

impl HcKey {
    /// A key from its ID, with sops's checks and messages (`parseKeyID`).
    pub fn parse(key_id: &str) -> Result<HcKey, String> {
        let id = key_id.trim();
        let Some((region, uuid)) = id.split_once(':') else {
            return Err(format!(
                "invalid key ID format: expected 'region:key-uuid', got {id:?}"
            ));
        };
        let (region, uuid) = (region.trim(), uuid.trim());
        if region.is_empty() {
            return Err(format!("region cannot be empty in key ID: {id:?}"));
        }
        if uuid.is_empty() {
            return Err(format!("key UUID cannot be empty in key ID: {id:?}"));
        }
        Ok(HcKey {
            key_id: key_id.to_string(),
            region: region.to_string(),
            uuid: uuid.to_string(),
            ..HcKey::default()
        })
    }

    /// Whether a recipient string names a HuaweiCloud KMS key: `REGION:ID` where the region
    /// is letters, digits, `-`, `_` and `.` (never an age recipient or an SSH key), and not
    /// `pgp:`, `arn:` or a URL (the types before this one in the registry claim those).
    pub fn claims(recipient: &str) -> bool {
        let Some((region, rest)) = recipient.trim().split_once(':') else {
            return false;
        };
        let region = region.trim();
        !region.is_empty()
            && !["pgp", "arn", "http", "https"].contains(&region)
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !rest.trim().is_empty()
    }
}

/// sops's `--hckms`/`SOPS_HUAWEICLOUD_KMS_IDS` list: comma-separated key IDs, each trimmed,
/// empty items dropped; a malformed ID is refused with sops's message, naming the flag.
pub fn flag_recipients(lists: &[String], flag: &str) -> Result<Vec<String>, String> {
    let ids = rule_ids(lists);
    for id in &ids {
        HcKey::parse(id).map_err(|e| format!("{flag}: {e}"))?;
    }
    Ok(ids)
}

/// The key IDs of comma-separated lists (trimmed, empty items dropped), unchecked.
fn rule_ids(lists: &[String]) -> Vec<String> {
    lists
        .iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------

/// The KMS endpoints of a region, in the SDK's order (environment, regions file, table).
pub fn endpoints(region: &str, env: &dyn Env) -> Result<Vec<String>, String> {
    let var = format!(
        "HUAWEICLOUD_SDK_REGION_KMS_{}",
        region.replace('-', "_").to_uppercase()
    );
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let found = match env.var(&var).filter(|v| !v.trim().is_empty()) {
        Some(v) => (list(&v), var.clone()),
        None => match from_regions_file(region, env)? {
            Some(found) => found,
            None => match REGIONS.iter().find(|(r, _)| *r == region) {
                Some((_, e)) => (vec![e.to_string()], "the SDK's region table".into()),
                None => {
                    return Err(format!(
                        "region id {region:?} is not a HuaweiCloud KMS region seal knows (as the SDK: {}); set {var} to its endpoint (https://kms.{region}.…) or list it under KMS in the regions file (HUAWEICLOUD_SDK_REGIONS_FILE)",
                        REGIONS
                            .iter()
                            .map(|(r, _)| *r)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            },
        },
    };
    let (endpoints, source) = found;
    for e in &endpoints {
        check_endpoint(e).map_err(|why| format!("the KMS endpoint {e:?} from {source} {why}"))?;
    }
    Ok(endpoints)
}

/// `https://`, or `http://` to a loopback address (a local test service).
fn check_endpoint(e: &str) -> Result<(), String> {
    if e.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = e.strip_prefix("http://") else {
        return Err("is not an https:// URL".to_string());
    };
    let host = http::host_header(&format!("http://{rest}"));
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err("uses http:// to a host that is not loopback: use https://".to_string())
    }
}

/// The region's KMS endpoints from the regions file, if it lists them.
fn from_regions_file(region: &str, env: &dyn Env) -> Result<Option<(Vec<String>, String)>, String> {
    use crate::stores::Store as _;
    let path = match env
        .var("HUAWEICLOUD_SDK_REGIONS_FILE")
        .filter(|v| !v.is_empty())
    {
        Some(p) => std::path::PathBuf::from(p),
        None => match env.home() {
            Some(h) => h.join(".huaweicloud").join("regions.yaml"),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "could not read the HuaweiCloud regions file {}: {}",
                path.display(),
                e.kind()
            ));
        }
    };
    let bad = |why: &str| format!("the HuaweiCloud regions file {} {why}", path.display());
    let parsed = match crate::stores::yaml::YamlStore.load_plain(&text) {
        Ok(p) => p,
        Err(crate::stores::StoreError::NoDocument { .. }) => return Ok(None),
        Err(e) => return Err(bad(&format!("is not valid YAML: {e}"))),
    };
    let Some(doc) = parsed.docs.first() else {
        return Ok(None);
    };
    let text_of = |v: Option<&Value>| v.and_then(crate::config::scalar).unwrap_or_default();
    for item in &doc.items {
        let Item::Pair(service, Value::List(regions)) = item else {
            continue;
        };
        if !service.eq_ignore_ascii_case("kms") {
            continue;
        }
        for r in regions {
            let Value::Branch(b) = r else { continue };
            if text_of(b.get("id")) != region {
                continue;
            }
            let mut out = Vec::new();
            let one = text_of(b.get("endpoint"));
            if !one.trim().is_empty() {
                out.push(one.trim().trim_end_matches('/').to_string());
            }
            if let Some(Value::List(more)) = b.get("endpoints") {
                for e in more {
                    let e = text_of(Some(e));
                    if !e.trim().is_empty() {
                        out.push(e.trim().trim_end_matches('/').to_string());
                    }
                }
            }
            if !out.is_empty() {
                return Ok(Some((out, path.display().to_string())));
            }
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// Metadata entries
// ---------------------------------------------------------------------------------------

/// The entries of a raw `hckms:` metadata list.
pub fn entries(list: &[Value]) -> Result<Vec<HcKey>, String> {
    super::read_entries(list, TYPE, |e| {
        let key_id = e.need("key_id")?;
        let key =
            HcKey::parse(&key_id).map_err(|why| e.error(&format!("has a bad key_id: {why}")))?;
        Ok(HcKey {
            created_at: e.text("created_at").unwrap_or_default(),
            enc: e.need("enc")?,
            ..key
        })
    })
}

/// The raw metadata entry sops writes, in sops's field order.
pub fn entry_value(key: &HcKey) -> Value {
    let s = |v: &str| Value::Str(v.to_string());
    Value::Branch(Branch {
        items: vec![
            Item::Pair("key_id".into(), s(&key.key_id)),
            Item::Pair("created_at".into(), s(&key.created_at)),
            Item::Pair("enc".into(), s(&key.enc)),
        ],
    })
}

// ---------------------------------------------------------------------------------------
// Wrap and unwrap
// ---------------------------------------------------------------------------------------

/// Wrap `payload` with the key: `key` with `enc` and `created_at` set.
pub fn encrypt(key: &HcKey, payload: &[u8], env: &dyn Env) -> Result<HcKey, String> {
    let plain = Zeroizing::new(B64.encode(payload));
    let body = Zeroizing::new(
        serde_json::json!({
            "key_id": key.uuid,
            "plain_text": plain.as_str(),
            "encryption_algorithm": "SYMMETRIC_DEFAULT",
        })
        .to_string(),
    );
    let answer = call(key, "encrypt-data", body.as_bytes(), env)?;
    let ct = answer
        .get("cipher_text")
        .and_then(|v| v.as_str())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            format!(
                "HuaweiCloud KMS answered encrypt-data for {} without a cipher_text",
                key.key_id
            )
        })?;
    let mut made = key.clone();
    made.enc = ct.to_string();
    made.created_at = crate::metadata::Metadata::now_lastmodified();
    Ok(made)
}

/// Unwrap an entry with the key.
pub fn decrypt(key: &HcKey, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
    if key.enc.trim().is_empty() {
        return Err(format!(
            "the hckms entry of {} has an empty enc: the file was altered",
            key.key_id
        ));
    }
    let body = serde_json::json!({
        "cipher_text": key.enc,
        "encryption_algorithm": "SYMMETRIC_DEFAULT",
        "key_id": key.uuid,
    })
    .to_string();
    let answer = call(key, "decrypt-data", body.as_bytes(), env)?;
    let plain = answer
        .get("plain_text")
        .and_then(|v| v.as_str())
        .map(|s| Zeroizing::new(s.to_string()));
    plain
        .and_then(|p| B64.decode(p.as_bytes()).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| {
            format!(
                "HuaweiCloud KMS answered decrypt-data for {} without a base64 plain_text",
                key.key_id
            )
        })
}

fn call(
    key: &HcKey,
    op: &str,
    body: &[u8],
    env: &dyn Env,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let what = format!("HuaweiCloud KMS key {}", key.key_id);
    let endpoints = endpoints(&key.region, env).map_err(|e| format!("{e} ({what})"))?;
    let mut creds = auth::credentials(env, &what)?;
    if creds.project_id.is_none() {
        creds.project_id = Some(project_id(&key.region, &creds, env, &what)?);
    }
    let project = creds.project_id.clone().unwrap_or_default();
    let mut last = String::new();
    for (i, endpoint) in endpoints.iter().enumerate() {
        // An endpoint with others after it gets one attempt: the next one is the retry.
        let opts = if i + 1 < endpoints.len() {
            http::Options {
                attempts: 1,
                ..http::Options::default()
            }
        } else {
            http::Options::default()
        };
        let url = format!("{endpoint}/v1.0/{project}/kms/{op}");
        let path = url_path(&url);
        let host = http::host_header(&url);
        let date = auth::sdk_date(time::OffsetDateTime::now_utc());
        let mut headers: Vec<(&str, &str)> = vec![
            ("Host", host.as_str()),
            ("Content-Type", "application/json;charset=UTF-8"),
            ("X-Project-Id", project.as_str()),
            ("X-Sdk-Date", date.as_str()),
        ];
        if let Some(t) = &creds.security_token {
            headers.push(("X-Security-Token", t.as_str()));
        }
        let authz = auth::authorization("POST", &path, "", &headers, body, &creds.ak, &creds.sk);
        headers.retain(|(k, _)| *k != "Host");
        headers.push(("Authorization", authz.as_str()));
        let resp = match http::post("HuaweiCloud KMS", &url, &headers, body, opts) {
            Ok(r) => r,
            Err(e) => {
                last = format!("{e} ({what})");
                continue;
            }
        };
        let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
        if resp.status == 200 {
            if let Some(serde_json::Value::Object(map)) = json {
                return Ok(map);
            }
            return Err(format!(
                "HuaweiCloud KMS at {} answered {op} for {} with a body that is not a JSON object: is the endpoint KMS?",
                http::origin(&url),
                key.key_id
            ));
        }
        return Err(refusal(
            "HuaweiCloud KMS",
            &url,
            op,
            &format!("with {}", key.key_id),
            resp.status,
            json.as_ref(),
        ));
    }
    Err(last)
}

/// The IAM endpoint for a region's project lookup, in the SDK's order: the profile file's
/// `iam_endpoint`, `HUAWEICLOUD_SDK_IAM_ENDPOINT` (`https://` added when it has no scheme),
/// the SDK's table, its default.
fn iam_endpoint(region: &str, creds: &auth::Credentials, env: &dyn Env) -> String {
    let given = creds.iam_endpoint.clone().or_else(|| {
        env.var("HUAWEICLOUD_SDK_IAM_ENDPOINT")
            .filter(|v| !v.trim().is_empty())
    });
    if let Some(e) = given {
        let e = e.trim().trim_end_matches('/');
        return if e.starts_with("https://") || e.starts_with("http://") {
            e.to_string()
        } else {
            format!("https://{e}")
        };
    }
    IAM_REGIONS
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, e)| e.to_string())
        .unwrap_or_else(|| IAM_DEFAULT.to_string())
}

/// The region's project ID through IAM (`GET /v3/projects?name=REGION`, signed), as the SDK
/// finds it when none is configured: exactly one project must answer. Remembered per
/// access key and region for the rest of the process.
pub fn project_id(
    region: &str,
    creds: &auth::Credentials,
    env: &dyn Env,
    what: &str,
) -> Result<String, String> {
    type Cache = std::sync::Mutex<Vec<((String, String), String)>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = (creds.ak.clone(), region.to_string());
    if let Some((_, p)) = cache
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|(k, _)| *k == id).cloned())
    {
        return Ok(p);
    }
    let set = "set HUAWEICLOUD_SDK_PROJECT_ID (or project_id in the credentials file) to the project of the key's region";
    let iam = iam_endpoint(region, creds, env);
    check_endpoint(&iam)
        .map_err(|why| format!("the IAM endpoint {iam:?} {why} ({what}); or {set}"))?;
    let query = format!("name={}", auth::escape(region));
    let url = format!("{iam}/v3/projects?{query}");
    let host = http::host_header(&url);
    let date = auth::sdk_date(time::OffsetDateTime::now_utc());
    let mut headers: Vec<(&str, &str)> =
        vec![("Host", host.as_str()), ("X-Sdk-Date", date.as_str())];
    if let Some(t) = &creds.security_token {
        headers.push(("X-Security-Token", t.as_str()));
    }
    let path = url_path(&url);
    let authz = auth::authorization("GET", &path, &query, &headers, b"", &creds.ak, &creds.sk);
    headers.retain(|(k, _)| *k != "Host");
    headers.push(("Authorization", authz.as_str()));
    let resp = http::send(
        "HuaweiCloud IAM",
        "GET",
        &url,
        &headers,
        None,
        http::Options::default(),
    )
    .map_err(|e| format!("{e} (looking up the project of {region} for {what}; or {set})"))?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    if resp.status != 200 {
        return Err(format!(
            "{}; or {set}",
            refusal(
                "HuaweiCloud IAM",
                &url,
                "the project lookup",
                &format!("of {region} for {what}"),
                resp.status,
                json.as_ref()
            )
        ));
    }
    let ids: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("projects"))
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("id").and_then(|i| i.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    match ids.as_slice() {
        [one] => {
            if let Ok(mut c) = cache.lock() {
                c.push((id, one.clone()));
            }
            Ok(one.clone())
        }
        [] => Err(format!(
            "HuaweiCloud IAM at {} lists no project named {region:?} for this access key ({what}): check the region, or {set}",
            http::origin(&url)
        )),
        many => Err(format!(
            "HuaweiCloud IAM at {} lists several projects for {region:?} ({}) ({what}): {set}",
            http::origin(&url),
            many.join(", ")
        )),
    }
}

/// The path of a URL (no query), `/` when it has none.
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// KMS's (or API Gateway's) refusal as a message: the service's code and text, and what
/// to check.
fn refusal(
    service: &str,
    url: &str,
    op: &str,
    subject: &str,
    status: u16,
    json: Option<&serde_json::Value>,
) -> String {
    let error = json.map(|j| j.get("error").unwrap_or(j));
    let text = |k: &str| {
        error
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .map(one_line)
            .filter(|s| !s.is_empty())
    };
    let code = text("error_code").or_else(|| text("code"));
    let message = text("error_msg").or_else(|| text("message"));
    let what = match (&code, message) {
        (Some(c), Some(m)) => format!("HTTP {status} {c}: {m}"),
        (Some(c), None) => format!("HTTP {status} {c}"),
        (None, Some(m)) => format!("HTTP {status}: {m}"),
        (None, None) => format!("HTTP {status}"),
    };
    let apigw = code.as_deref().is_some_and(|c| c.starts_with("APIGW."));
    let hint = match status {
        401 => {
            "the signature or the access key was not accepted: check HUAWEICLOUD_SDK_AK/SK (and the security token of temporary credentials) and the clock"
        }
        403 if apigw => {
            "the access key was not accepted: check HUAWEICLOUD_SDK_AK/SK, the project ID and the clock"
        }
        403 => "check that the user may use this key (KMS permissions) in this project",
        404 => "check the key's region and UUID and the project ID",
        400 if op == "decrypt-data" => {
            "the ciphertext does not open under this key: check the entry was not altered and names the key that wrapped it"
        }
        _ => "check the key, the credentials and the endpoint",
    };
    format!(
        "{service} at {} refused {op} {subject}: {what}; {hint}",
        http::origin(url)
    )
}

// ---------------------------------------------------------------------------------------
// As a key type
// ---------------------------------------------------------------------------------------

/// HuaweiCloud KMS as a master-key type: recipients are `REGION:KEY_UUID`, entries go to
/// the group's `hckms` list. Registered in `keys::REGISTRY`.
pub static HCKMS: ServiceType<HcKey> = ServiceType::new();

impl ServiceKey for HcKey {
    const TYPE: &'static str = TYPE;
    const LABEL: &'static str = "HuaweiCloud KMS";
    const RULE_FIELDS: [&'static str; 2] = [TYPE, TYPE];

    fn claims(recipient: &str) -> bool {
        HcKey::claims(recipient)
    }

    fn from_recipient(recipient: &str) -> Result<HcKey, String> {
        HcKey::parse(recipient)
    }

    fn recipient(&self) -> String {
        self.key_id.clone()
    }

    fn entries(list: &[Value]) -> Result<Vec<HcKey>, String> {
        entries(list)
    }

    fn entry(&self) -> Value {
        entry_value(self)
    }

    fn encrypt(&self, payload: &[u8], env: &dyn Env) -> Result<HcKey, String> {
        encrypt(self, payload, env)
    }

    fn decrypt(&self, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String> {
        decrypt(self, env)
    }

    /// A flat rule's `hckms` is a list (or comma-separated string) of key IDs; a key
    /// group's is a list of `key_id` mappings (sops's config).
    fn rule_recipients(fields: &Branch, flat: bool, name: &str) -> Result<Vec<String>, String> {
        if flat {
            let ids = crate::config::key_list(
                crate::config::field(fields, TYPE),
                &format!("{name}.{TYPE}"),
            )?;
            return Ok(rule_ids(&ids));
        }
        let items = match crate::config::field(fields, TYPE) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::List(items)) => items,
            Some(_) => {
                return Err(format!(
                    "{name}.{TYPE} must be a list of keys (`- key_id: REGION:KEY_UUID`)"
                ));
            }
        };
        let mut out = Vec::new();
        let items = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
        for (i, item) in items.enumerate() {
            let at = format!("{name}.{TYPE}[{i}]");
            let Value::Branch(b) = item else {
                return Err(format!("{at} must be a mapping with a key_id"));
            };
            let id = match crate::config::field(b, "key_id") {
                None | Some(Value::Null) => String::new(),
                Some(v) => crate::config::scalar(v)
                    .ok_or_else(|| format!("{at}.key_id must be a string"))?,
            };
            if id.trim().is_empty() {
                return Err(format!("{at} has no key_id"));
            }
            out.push(id.trim().to_string());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
