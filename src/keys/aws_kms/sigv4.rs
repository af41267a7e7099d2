//! AWS Signature Version 4 (KMS's JSON protocol and STS's query protocol over POST, S3's
//! PutObject over PUT),
//! written on `hmac` + `sha2` rather than pulling the SDK's signer and its runtime crates.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::credentials::Credentials;
use crate::keys::http;

/// `application/x-www-form-urlencoded` with AWS's percent-encoding (RFC 3986 unreserved
/// kept).
pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(super) fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The path of an endpoint URL (`/` when it has none).
pub(super) fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => rest[i..]
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_string(),
        None => "/".to_string(),
    }
}

/// The SigV4 `Authorization` header (and the headers it signs) for a POST.
pub(super) fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
    now: time::OffsetDateTime,
) -> Vec<(String, String)> {
    sign_method("POST", creds, region, service, url, headers, body, now)
}

/// [`sign`] for any method (the URL's path is used as written: already encoded).
#[allow(clippy::too_many_arguments)]
pub(super) fn sign_method(
    method: &str,
    creds: &Credentials,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
    now: time::OffsetDateTime,
) -> Vec<(String, String)> {
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let day = &amz_date[..8];
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    all.push(("host".into(), http::host_header(url)));
    all.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(t) = &creds.token {
        all.push(("x-amz-security-token".into(), t.to_string()));
    }
    all.sort();
    let signed: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical_headers: String = all.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!(
        "{method}\n{}\n\n{canonical_headers}\n{signed}\n{}",
        url_path(url),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = Zeroizing::new(format!("AWS4{}", creds.secret.as_str()));
    let k = hmac(k.as_bytes(), day.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    let signature = hex(&hmac(&k, to_sign.as_bytes()));
    let mut out: Vec<(String, String)> = all.into_iter().filter(|(k, _)| k != "host").collect();
    out.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            creds.access_key
        ),
    ));
    out
}

pub(super) fn signed_post(
    service_name: &str,
    endpoint: &str,
    region: &str,
    service: &str,
    creds: &Credentials,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<http::Response, http::TransportError> {
    let url = if url_path(endpoint) == "/" && !endpoint.ends_with('/') {
        format!("{endpoint}/")
    } else {
        endpoint.to_string()
    };
    // Signed per attempt would be better for long retries; the retries here are seconds
    // apart, well within SigV4's five-minute window.
    let signed = sign(
        creds,
        region,
        service,
        &url,
        headers,
        body,
        time::OffsetDateTime::now_utc(),
    );
    let refs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http::post(service_name, &url, &refs, body, http::Options::default())
}
