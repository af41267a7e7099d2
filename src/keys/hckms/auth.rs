//! HuaweiCloud credentials and request signing for [`super`]: the access key pair found as
//! the HuaweiCloud SDK's basic provider chain finds it (environment, then the profile
//! file; the ECS metadata service is not read), and the `SDK-HMAC-SHA256` signature the
//! SDK's default signer puts on each request. The secret key and the security token never
//! appear in messages.

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::super::Env;

/// The signing algorithm's name, as the `Authorization` header and the string to sign
/// carry it.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// An access key pair with its project (what signs a KMS request).
#[derive(Clone)]
pub struct Credentials {
    /// The access key ID (public: it is sent in every request).
    pub ak: String,
    /// The secret access key.
    pub sk: Zeroizing<String>,
    /// A temporary credential's security token (`X-Security-Token`), if any.
    pub security_token: Option<Zeroizing<String>>,
    /// The project (region scoped) the KMS key belongs to; without it, it is looked up
    /// through IAM as the SDK does.
    pub project_id: Option<String>,
    /// The profile file's `iam_endpoint`, which the SDK prefers for that lookup.
    pub iam_endpoint: Option<String>,
    /// Where the pair was found, for messages.
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ak", &self.ak)
            .field("project_id", &self.project_id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

const ENV_AK: &str = "HUAWEICLOUD_SDK_AK";
const ENV_SK: &str = "HUAWEICLOUD_SDK_SK";
const ENV_PROJECT: &str = "HUAWEICLOUD_SDK_PROJECT_ID";
const ENV_TOKEN: &str = "HUAWEICLOUD_SDK_SECURITY_TOKEN";
const ENV_IDP: &str = "HUAWEICLOUD_SDK_IDP_ID";
const ENV_ID_TOKEN_FILE: &str = "HUAWEICLOUD_SDK_ID_TOKEN_FILE";
const ENV_CREDENTIALS_FILE: &str = "HUAWEICLOUD_SDK_CREDENTIALS_FILE";

/// The credentials for `what` (a key, for messages), in the SDK's order: the
/// `HUAWEICLOUD_SDK_*` variables when both AK and SK are set, else the `[basic]` section of
/// the profile file (`HUAWEICLOUD_SDK_CREDENTIALS_FILE`, default
/// `~/.huaweicloud/credentials`). Where the SDK would go on to the ECS metadata service,
/// seal stops with a message naming what to set. Nothing here connects anywhere.
pub fn credentials(env: &dyn Env, what: &str) -> Result<Credentials, String> {
    let var = |n: &str| env.var(n).filter(|v| !v.is_empty());
    if var(ENV_IDP).is_some() && var(ENV_ID_TOKEN_FILE).is_some() {
        return Err(format!(
            "HuaweiCloud federated credentials ({ENV_IDP} with {ENV_ID_TOKEN_FILE}) are not read by seal yet ({what}): set {ENV_AK}, {ENV_SK} and {ENV_PROJECT}"
        ));
    }
    if let (Some(ak), Some(sk)) = (var(ENV_AK), var(ENV_SK).map(Zeroizing::new)) {
        return Ok(Credentials {
            ak,
            sk,
            security_token: var(ENV_TOKEN).map(Zeroizing::new),
            project_id: var(ENV_PROJECT).map(|p| p.trim().to_string()),
            iam_endpoint: None,
            source: format!("the environment ({ENV_AK})"),
        });
    }
    let path = match var(ENV_CREDENTIALS_FILE) {
        Some(p) => PathBuf::from(p),
        None => match env.home() {
            Some(h) => h.join(".huaweicloud").join("credentials"),
            None => return Err(none_found(what, None)),
        },
    };
    let text = match std::fs::read(&path) {
        Ok(t) => Zeroizing::new(String::from_utf8_lossy(&t).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(none_found(what, Some(&path)));
        }
        Err(e) => {
            return Err(format!(
                "could not read the HuaweiCloud credentials file {} ({what}): {}",
                path.display(),
                e.kind()
            ));
        }
    };
    let section = ini_section(&text, "basic");
    let get = |k: &str| {
        section
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    if get("idp_id").is_some() && get("id_token_file").is_some() {
        return Err(format!(
            "the [basic] section of {} names federated credentials (idp_id, id_token_file), which seal does not read yet ({what}): give it ak, sk and project_id",
            path.display()
        ));
    }
    match (get("ak"), get("sk").map(Zeroizing::new)) {
        (Some(ak), Some(sk)) => Ok(Credentials {
            ak,
            sk,
            security_token: get("security_token").map(Zeroizing::new),
            project_id: get("project_id").map(|p| p.trim().to_string()),
            iam_endpoint: get("iam_endpoint"),
            source: format!("{} [basic]", path.display()),
        }),
        _ => Err(format!(
            "no HuaweiCloud credentials for {what}: {} has no ak and sk in its [basic] section, and {ENV_AK}/{ENV_SK} are not set",
            path.display()
        )),
    }
}

fn none_found(what: &str, file: Option<&std::path::Path>) -> String {
    let file = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.huaweicloud/credentials".to_string());
    format!(
        "no HuaweiCloud credentials for {what}: set {ENV_AK}, {ENV_SK} and {ENV_PROJECT} (and {ENV_TOKEN} for temporary credentials), or write them to {file} ({ENV_CREDENTIALS_FILE}); seal does not read ECS instance metadata credentials"
    )
}

/// The `key = value` pairs of one `[section]` of an INI text (names as written, values
/// trimmed and unquoted, `=` or `:` between; `#`/`;` comment lines skipped), as go-ini reads the profile file.
pub fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
            continue;
        }
        if current != section {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        let v = v.trim();
        let v = ['"', '\'', '`']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
            .unwrap_or(v);
        out.push((k.trim().to_string(), v.to_string()));
    }
    out
}

/// The `X-Sdk-Date` value of a moment (`20060102T150405Z`, UTC).
pub fn sdk_date(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The SDK signer's escaping of a path segment or query part: everything but
/// `A-Za-z0-9_-~.` as upper-case `%XX`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'~' | b'.' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The canonical URI: each `/`-separated segment escaped, and a `/` at the end (added when
/// the path has none).
pub fn canonical_uri(path: &str) -> String {
    let mut uri: String = path.split('/').map(escape).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The headers the signature covers: every header but `Content-Type` and names with `_`,
/// lower-cased and sorted.
pub fn signed_headers(headers: &[(&str, &str)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| !k.starts_with("content-type") && !k.contains('_'))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The canonical request: method, canonical URI, the query (`query`: its `name=value`
/// pairs already escaped and sorted), the signed headers as `name:value` lines, their
/// names, the body's SHA-256.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    signed: &[String],
    body: &[u8],
) -> String {
    let mut lines = String::new();
    for name in signed {
        let mut values: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        values.sort();
        for v in values {
            lines.push_str(&format!("{name}:{v}\n"));
        }
    }
    format!(
        "{method}\n{}\n{query}\n{lines}\n{}\n{}",
        canonical_uri(path),
        signed.join(";"),
        hex(&Sha256::digest(body))
    )
}

/// The `Authorization` value for a request: `query` as [`canonical_request`] takes it,
/// `headers` those sent (they must include `X-Sdk-Date`, whose value is the signing time).
pub fn authorization(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    ak: &str,
    sk: &str,
) -> String {
    let date = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-sdk-date"))
        .map(|(_, v)| *v)
        .unwrap_or_default();
    let signed = signed_headers(headers);
    let cr = canonical_request(method, path, query, headers, &signed, body);
    let to_sign = format!(
        "{ALGORITHM}\n{date}\n{}",
        hex(&Sha256::digest(cr.as_bytes()))
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(sk.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(to_sign.as_bytes());
    format!(
        "{ALGORITHM} Access={ak}, SignedHeaders={}, Signature={}",
        signed.join(";"),
        hex(&mac.finalize().into_bytes())
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector computed apart from this code, from the algorithm as the SDK's signer
    /// describes it (Python's hmac/hashlib: canonical request
    /// `POST\n/v1.0/p1/kms/encrypt-data/\n\nhost:kms.tr-west-1.myhuaweicloud.com\n
    /// x-project-id:p1\nx-sdk-date:20240102T030405Z\n\nhost;x-project-id;x-sdk-date\n
    /// sha256(body)`).
    #[test]
    fn signature_matches_an_independently_computed_vector() {
        let body =
            br#"{"key_id":"k","plain_text":"QUJD","encryption_algorithm":"SYMMETRIC_DEFAULT"}"#;
        let headers = [
            ("Host", "kms.tr-west-1.myhuaweicloud.com"),
            ("Content-Type", "application/json;charset=UTF-8"),
            ("X-Project-Id", "p1"),
            ("X-Sdk-Date", "20240102T030405Z"),
        ];
        let auth = authorization(
            "POST",
            "/v1.0/p1/kms/encrypt-data",
            "",
            &headers,
            body,
            "AKTEST",
            "sk-test-secret",
        );
        assert_eq!(
            auth,
            "SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=host;x-project-id;x-sdk-date, Signature=73f516f8bed2c4ba90041547c8304ea49234fc08565a52e5210e19f454421cfc"
        );
    }

    /// A request the real sops 3.11 signed (captured on 127.0.0.1 with `HUAWEICLOUD_SDK_SK`
    /// `SKTEST`): its body ends with the newline Go's JSON encoder writes, and it signs its
    /// User-Agent.
    #[test]
    fn signature_matches_a_request_sops_signed() {
        let body = b"{\"key_id\":\"1234-uuid\",\"plain_text\":\"UgG5M5yb4zxLlbumMgRBLOhT7MMq9uDaEUDQ0M29Eo8=\",\"encryption_algorithm\":\"SYMMETRIC_DEFAULT\"}\n";
        let headers = [
            ("Host", "127.0.0.1:18777"),
            (
                "User-Agent",
                "huaweicloud-usdk-go/3.0; os/Debian_GNU/Linux#12_(bookworm)#amd64 go/go1.25.7; app/94554bd3-97e5-425a-956f-9f2a81ffa3df",
            ),
            ("Content-Type", "application/json;charset=UTF-8"),
            ("X-Project-Id", "0123456789abcdef"),
            ("X-Sdk-Date", "20261207T123122Z"),
        ];
        // sops did not sign Host: the header list it signed is what the SDK added.
        let signed: Vec<(&str, &str)> = headers[1..].to_vec();
        let auth = authorization(
            "POST",
            "/v1.0/0123456789abcdef/kms/encrypt-data",
            "",
            &signed,
            body,
            "AKTEST",
            "SKTEST",
        );
        assert_eq!(
            auth,
            "SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=user-agent;x-project-id;x-sdk-date, Signature=663f43836c0168f507696eeba545ca3b55b13928b25779c74739024f2e3ed44a"
        );
    }

    /// The project lookup the real sops 3.11 signed (captured on 127.0.0.1): a query, an
    /// empty body, only `X-Sdk-Date` signed.
    #[test]
    fn signature_matches_a_project_lookup_sops_signed() {
        let auth = authorization(
            "GET",
            "/v3/projects",
            "name=tr-west-1",
            &[("X-Sdk-Date", "20261207T130236Z")],
            b"",
            "AKTEST",
            "SKTEST",
        );
        assert_eq!(
            auth,
            "SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=x-sdk-date, Signature=ca4b57cef373a1aa7ee36d731027a6c61f017144f448e79f488e5d5295ce5ca4"
        );
    }

    #[test]
    fn canonical_uri_escapes_segments_and_ends_with_a_slash() {
        assert_eq!(
            canonical_uri("/v1.0/p/kms/encrypt-data"),
            "/v1.0/p/kms/encrypt-data/"
        );
        assert_eq!(canonical_uri("/a b/c/"), "/a%20b/c/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(
            signed_headers(&[
                ("Content-Type", "x"),
                ("X_A", "y"),
                ("X-Sdk-Date", "d"),
                ("Host", "h")
            ]),
            ["host", "x-sdk-date"]
        );
    }

    #[test]
    fn sdk_date_is_the_basic_utc_form() {
        let t = time::macros::datetime!(2024-01-02 03:04:05 +01:00);
        assert_eq!(sdk_date(t), "20240102T020405Z");
    }

    #[test]
    fn ini_sections_read_as_go_ini_reads_the_profile() {
        let text = "# c\n[other]\nak = no\n[basic]\nak = AK1\nsk=\"s k\"\n; x\nproject_id : p1\n";
        assert_eq!(
            ini_section(text, "basic"),
            [
                ("ak".to_string(), "AK1".to_string()),
                ("sk".to_string(), "s k".to_string()),
                ("project_id".to_string(), "p1".to_string())
            ]
        );
    }
}
