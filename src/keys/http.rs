//! The small blocking HTTP client the key services share (AWS KMS and STS, Vault transit):
//! TLS through rustls (ring) with the system's roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured,
//! as the cloud tools do), `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` from the
//! process environment, connect and overall timeouts, and a bounded number of retries on
//! connection failures, HTTP 429 and 5xx. Nothing here is sent unless a file, rule or flag
//! names a key service.
//!
//! Errors name the service and the host and say what to check; they never carry a header
//! or a body sent (tokens, signatures and data keys stay out of messages).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Attempts per request (the first and two retries).
const ATTEMPTS: u32 = 3;
/// First back-off between attempts; doubled each time.
const BACKOFF: Duration = Duration::from_millis(250);
/// Time to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one whole request (connection, TLS, sending, the answer).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (key service answers are a few kilobytes).
const MAX_BODY: u64 = 1 << 20;

/// One HTTP answer: status and body (any status; the caller reads the service's error).
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body as sent.
    pub body: Vec<u8>,
}

/// A request that never got an HTTP answer, after the bounded retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong and what to check (no secret).
    pub message: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Request options beyond the defaults: a shorter timeout (instance metadata) and fewer
/// attempts.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Overall time for one attempt.
    pub timeout: Duration,
    /// Attempts (at least one).
    pub attempts: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: CALL_TIMEOUT,
            attempts: ATTEMPTS,
        }
    }
}

/// The system's root certificates, loaded once (for `https` only).
fn roots() -> Arc<Vec<ureq::tls::Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<ureq::tls::Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            Arc::new(
                found
                    .certs
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect(),
            )
        })
        .clone()
}

/// rustls's *ring* provider. rustls 0.23.48 deprecates it for lacking post-quantum key
/// exchange (aws-lc-rs has it); *ring* is kept on purpose for now: aws-lc-rs needs a
/// C/CMake build and several MB of binary. Revisit when ring gains ML-KEM or the key
/// services require it.
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn agent(url: &str, opts: Options) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(ring_provider());
    if url.starts_with("https:") {
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(roots()));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .proxy(ureq::Proxy::try_from_env())
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(CONNECT_TIMEOUT.min(opts.timeout)))
        .timeout_global(Some(opts.timeout))
        .user_agent(concat!("seal/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// `scheme://host[:port]` of a URL, for messages (never its query).
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

/// The `Host` header value of a URL as clients send it (`host` or `host:port` when the
/// port is not the scheme's default), for request signing.
pub fn host_header(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    let default = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    match host.strip_suffix(default) {
        Some(h) if !default.is_empty() => h.to_string(),
        _ => host.to_string(),
    }
}

/// POST `body` to `url` with `headers`; `service` names the service in messages
/// ("AWS KMS", "Vault"). Retries connection failures, 429 and 5xx a bounded number of times.
pub fn post(
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    opts: Options,
) -> Result<Response, TransportError> {
    send(service, "POST", url, headers, Some(body), opts)
}

/// Like [`post`] for the other methods (`GET`, `PUT` for instance metadata).
pub fn send(
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    opts: Options,
) -> Result<Response, TransportError> {
    let agent = agent(url, opts);
    let mut last = String::new();
    let mut wait = BACKOFF;
    for attempt in 1..=opts.attempts.max(1) {
        if attempt > 1 {
            std::thread::sleep(wait);
            wait *= 2;
        }
        match once(&agent, method, url, headers, body) {
            Ok(r) if r.status == 429 || r.status >= 500 => {
                last = format!("{service} at {} answered HTTP {}", origin(url), r.status);
                if attempt == opts.attempts.max(1) {
                    return Ok(r);
                }
            }
            Ok(r) => return Ok(r),
            Err(e) => last = describe(service, url, &e),
        }
    }
    Err(TransportError {
        message: format!(
            "{last} (after {} attempt{})",
            opts.attempts.max(1),
            if opts.attempts > 1 { "s" } else { "" }
        ),
    })
}

fn once(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, ureq::Error> {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.unwrap_or_default())
        .map_err(|e| ureq::Error::BadUri(e.to_string()))?;
    let mut resp = agent.run(req)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()?;
    Ok(Response { status, body })
}

/// A transport failure as a message: the service, the origin, what happened, what to check.
fn describe(service: &str, url: &str, e: &ureq::Error) -> String {
    let at = origin(url);
    let what = match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "the host name does not resolve".to_string(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused".to_string()
        }
        ureq::Error::Io(io) => format!("a network error: {io}"),
        ureq::Error::Tls(t) => format!("TLS failed: {t}"),
        ureq::Error::Rustls(t) => format!("TLS failed: {t}"),
        ureq::Error::BadUri(u) => format!("the address is not a valid URL ({u})"),
        ureq::Error::ConnectProxyFailed(p) => format!("the proxy refused the connection ({p})"),
        other => other.to_string(),
    };
    format!(
        "could not reach {service} at {at}: {what}; check the address, the network, \
         HTTPS_PROXY/NO_PROXY and, for TLS, the system's CA certificates (SSL_CERT_FILE)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_path_query_and_userinfo() {
        assert_eq!(
            origin("https://u:p@kms.eu-west-1.amazonaws.com/x?y=1"),
            "https://kms.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:8200/v1/x"),
            "http://127.0.0.1:8200"
        );
    }

    #[test]
    fn host_header_keeps_non_default_ports() {
        assert_eq!(host_header("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(
            host_header("https://kms.us-east-1.amazonaws.com/"),
            "kms.us-east-1.amazonaws.com"
        );
        assert_eq!(host_header("https://example.com:443/"), "example.com");
        assert_eq!(host_header("http://example.com:80"), "example.com");
        assert_eq!(host_header("https://example.com:8443"), "example.com:8443");
    }

    #[test]
    fn refused_connection_names_service_and_origin() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = post(
            "Vault",
            &format!("http://127.0.0.1:{port}/v1/transit/encrypt/k"),
            &[("X-Vault-Token", "s.secret")],
            b"{}",
            Options {
                timeout: Duration::from_secs(2),
                attempts: 2,
            },
        )
        .unwrap_err();
        assert!(e.message.contains("Vault at http://127.0.0.1:"), "{e}");
        assert!(e.message.contains("refused"), "{e}");
        assert!(e.message.contains("2 attempts"), "{e}");
        assert!(!e.message.contains("s.secret"), "{e}");
    }
}
