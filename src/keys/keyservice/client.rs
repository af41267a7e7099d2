//! The client side of sops's key service: where a service is (`tcp://HOST:PORT`,
//! `unix:///PATH`), and one unary gRPC call to it over HTTP/2 cleartext (h2c with prior
//! knowledge, as sops's grpc-go client dials), on a current-thread tokio runtime made for
//! the call. Every call is bounded in time; errors name the service and what to check,
//! never a payload.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use zeroize::Zeroizing;

use super::proto::{self, Key};

/// How long connecting to a service may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call may take once connected (a server run with `--prompt` waits for its
/// user, and a cloud key service behind it for its network).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest response accepted (a wrapped data key is well under a kilobyte).
const MAX_MESSAGE: usize = 4 << 20;

/// A key service to call, as `--keyservice` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URI as given (what messages name).
    pub uri: String,
    target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

impl Endpoint {
    /// Read `tcp://HOST:PORT` or `unix:///PATH` (sops's two networks).
    pub fn parse(uri: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| {
            format!("key service {uri:?}: {why} (expected tcp://HOST:PORT or unix:///PATH)")
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let target = match scheme {
            "tcp" => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                if host
                    .rsplit_once(':')
                    .is_none_or(|(h, p)| h.is_empty() || p.is_empty() || p.parse::<u16>().is_err())
                {
                    return Err(bad("no HOST:PORT"));
                }
                Target::Tcp(host.to_string())
            }
            "unix" => {
                let path = rest.split(['?', '#']).next().unwrap_or_default();
                if path.is_empty() {
                    return Err(bad("no socket path"));
                }
                Target::Unix(PathBuf::from(path))
            }
            _ => return Err(bad(&format!("unsupported network {scheme:?}"))),
        };
        Ok(Endpoint {
            uri: uri.to_string(),
            target,
        })
    }

    /// `Encrypt`: wrap `plaintext` for `key`; the ciphertext is the entry's `enc`.
    pub fn encrypt(&self, key: &Key, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let body = proto::Request::encode(key, plaintext);
        let out = self.call("Encrypt", key, body)?;
        Ok(out.to_vec())
    }

    /// `Decrypt`: unwrap `ciphertext` (the entry's `enc`) with `key`.
    pub fn decrypt(&self, key: &Key, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let body = proto::Request::encode(key, ciphertext);
        self.call("Decrypt", key, body)
    }

    fn call(
        &self,
        method: &str,
        key: &Key,
        body: Zeroizing<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let what = format!(
            "key service {} ({method} with {})",
            self.uri,
            key.describe()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("{what}: cannot start the I/O runtime: {e}"))?;
        let reply = rt.block_on(async {
            let conn = tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await;
            let conn = match conn {
                Err(_) => {
                    return Err(format!(
                        "cannot connect within {} s: check that the key service is running and reachable there",
                        CONNECT_TIMEOUT.as_secs()
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(c)) => c,
            };
            match tokio::time::timeout(CALL_TIMEOUT, unary(conn, &self.authority(), method, body))
                .await
            {
                Err(_) => Err(format!(
                    "no answer within {} s (a server run with --prompt waits for its user)",
                    CALL_TIMEOUT.as_secs()
                )),
                Ok(r) => r,
            }
        });
        let reply = reply.map_err(|e| format!("{what}: {e}"))?;
        proto::decode_response(&reply).map_err(|e| format!("{what}: {e}"))
    }

    fn authority(&self) -> String {
        match &self.target {
            Target::Tcp(host) => host.clone(),
            // grpc-go names a unix socket's authority `localhost`.
            Target::Unix(_) => "localhost".to_string(),
        }
    }

    async fn connect(&self) -> Result<Io, String> {
        let hint = |e: std::io::Error| {
            format!(
                "cannot connect: {} (is `sops keyservice` or `seal keyservice` running there?)",
                crate::error::io_reason(&e)
            )
        };
        match &self.target {
            Target::Tcp(host) => tokio::net::TcpStream::connect(host.as_str())
                .await
                .map(Io::Tcp)
                .map_err(hint),
            #[cfg(unix)]
            Target::Unix(path) => tokio::net::UnixStream::connect(path)
                .await
                .map(Io::Unix)
                .map_err(hint),
            #[cfg(not(unix))]
            Target::Unix(_) => Err("unix sockets are not supported on this platform".into()),
        }
    }
}

/// A connected stream (TCP or a unix socket).
enum Io {
    Tcp(tokio::net::TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

async fn unary(
    io: Io,
    authority: &str,
    method: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    match io {
        Io::Tcp(s) => unary_on(s, authority, method, body).await,
        #[cfg(unix)]
        Io::Unix(s) => unary_on(s, authority, method, body).await,
    }
}

async fn unary_on<T>(
    io: T,
    authority: &str,
    method: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let h2e = |e: h2::Error| format!("HTTP/2 error: {e} (is it a sops key service, without TLS?)");
    let (client, connection) = h2::client::handshake(io).await.map_err(h2e)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{authority}/KeyService/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let mut client = client.ready().await.map_err(h2e)?;
    let (response, mut send) = client.send_request(request, false).map_err(h2e)?;
    send.send_data(Bytes::from(frame(&body)), true)
        .map_err(h2e)?;
    drop(body);
    let response = response.await.map_err(h2e)?;
    let (parts, mut recv) = response.into_parts();
    if parts.status != http::StatusCode::OK {
        driver.abort();
        return Err(format!("the server answered HTTP {}", parts.status));
    }
    // A trailers-only answer carries the status in the headers.
    if let Some(err) = grpc_error(&parts.headers) {
        driver.abort();
        return Err(err);
    }
    let mut data = Zeroizing::new(Vec::new());
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.map_err(h2e)?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_MESSAGE + 5 {
            driver.abort();
            return Err("the answer is too large".to_string());
        }
        data.extend_from_slice(&chunk);
    }
    let trailers = recv.trailers().await.map_err(h2e)?;
    driver.abort();
    match trailers.as_ref().and_then(grpc_error) {
        Some(err) => Err(err),
        None if trailers.is_none() && !parts.headers.contains_key("grpc-status") => {
            Err("the answer has no gRPC status".to_string())
        }
        None => unframe(&data),
    }
}

/// A gRPC message frame: uncompressed flag, 4-byte big-endian length, the message.
pub(super) fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// The message of one gRPC frame.
pub(super) fn unframe(data: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    if data.len() < 5 {
        return Err("the answer has no gRPC message".to_string());
    }
    if data[0] != 0 {
        return Err("the answer is compressed (seal asks for none)".to_string());
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if len > MAX_MESSAGE || data.len() - 5 < len {
        return Err("the answer's gRPC message is truncated or too large".to_string());
    }
    Ok(Zeroizing::new(data[5..5 + len].to_vec()))
}

/// The error a gRPC status header says, if it is not OK.
fn grpc_error(headers: &http::HeaderMap) -> Option<String> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .to_string();
    if code == "0" {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(format!(
        "the service refused: {message} (gRPC status {code}{})",
        status_name(&code)
    ))
}

fn status_name(code: &str) -> &'static str {
    match code {
        "2" => ", Unknown",
        "3" => ", InvalidArgument",
        "5" => ", NotFound",
        "7" => ", PermissionDenied",
        "12" => ", Unimplemented",
        "13" => ", Internal",
        "14" => ", Unavailable",
        _ => "",
    }
}

/// grpc-message is percent-encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_sops_names_them() {
        let e = Endpoint::parse("tcp://127.0.0.1:5000").unwrap();
        assert_eq!(e.target, Target::Tcp("127.0.0.1:5000".into()));
        let e = Endpoint::parse("unix:///tmp/s.sock").unwrap();
        assert_eq!(e.target, Target::Unix("/tmp/s.sock".into()));
        for bad in [
            "localhost:5000",
            "tcp://host",
            "http://h:1",
            "unix://",
            "tcp://:1",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(
                err.contains(bad) && err.contains("tcp://HOST:PORT"),
                "{err}"
            );
        }
    }

    #[test]
    fn frames_and_statuses() {
        assert_eq!(unframe(&frame(b"abc")).unwrap().as_slice(), b"abc");
        assert!(unframe(&[0, 0, 0, 0, 9, 1]).is_err());
        assert_eq!(percent_decode("a%20b%"), "a b%");
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", "5".parse().unwrap());
        h.insert("grpc-message", "Unknown%20key".parse().unwrap());
        assert_eq!(
            grpc_error(&h).unwrap(),
            "the service refused: Unknown key (gRPC status 5, NotFound)"
        );
    }

    #[test]
    fn a_service_that_is_down_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("unix://{}/none.sock", dir.path().display());
        let err = Endpoint::parse(&uri)
            .unwrap()
            .decrypt(&Key::Age("age1x".into()), b"c")
            .unwrap_err();
        assert!(err.contains(&uri) && err.contains("age key age1x"), "{err}");
        assert!(err.contains("cannot connect"), "{err}");
    }
}
