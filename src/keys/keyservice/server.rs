//! `seal keyservice` (and `sops keyservice`): a sops key service on this machine's keys.
//! It listens on TCP (default `127.0.0.1:5000`) or a unix socket, speaks gRPC over HTTP/2
//! cleartext (h2) on a current-thread tokio runtime, and answers `Encrypt` and `Decrypt`
//! with the local key types (age identities found the usual way, PGP through gpg, the cloud
//! key services through their environment). There is no TLS and no authentication, as in
//! sops: bind to loopback or a unix socket; a non-loopback address is warned about.
//! Requests are answered one at a time; `--prompt` asks on the terminal before each.

use std::io::{BufRead, Write};

use bytes::Bytes;
use h2::server::SendResponse;
use zeroize::Zeroizing;

use super::client::{frame, unframe};
use super::proto::{self, Key};
use super::{only_enc, single_group};
use crate::keys::{Identities, ProcessEnv, key_type};
use crate::metadata::KeyGroup;

/// The largest request accepted.
const MAX_REQUEST: usize = 1 << 20;

/// How `seal keyservice` listens.
#[derive(Clone, Debug)]
pub struct Options {
    /// `tcp` or `unix`.
    pub network: String,
    /// `HOST:PORT` or a socket path.
    pub address: String,
    /// Ask before answering each request.
    pub prompt: bool,
}

/// A gRPC status other than OK: (code, message).
type Status = (u32, String);

/// Listen and serve until killed (SIGINT/SIGTERM end it with status 0, removing a unix
/// socket it made).
pub fn run(opts: &Options) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let listen = |e: std::io::Error| {
        format!(
            "cannot listen on {}://{}: {}",
            opts.network,
            opts.address,
            crate::error::io_reason(&e)
        )
    };
    rt.block_on(async {
        match opts.network.as_str() {
            "tcp" => {
                let l = tokio::net::TcpListener::bind(opts.address.as_str())
                    .await
                    .map_err(listen)?;
                let at = l.local_addr().map_err(listen)?;
                on_signal_exit(None);
                eprintln!("seal keyservice: listening on tcp://{at} (gRPC without TLS)");
                if !at.ip().is_loopback() {
                    eprintln!(
                        "seal keyservice: warning: {at} is not a loopback address; the key service has no TLS and no authentication, so anyone who can reach it can have data keys decrypted with this machine's keys (bind to 127.0.0.1 or a unix socket, and tunnel it, e.g. over ssh)"
                    );
                }
                loop {
                    match l.accept().await {
                        Ok((s, _)) => {
                            tokio::spawn(connection(s, opts.prompt));
                        }
                        Err(e) => eprintln!("seal keyservice: accept: {}", crate::error::io_reason(&e)),
                    }
                }
            }
            #[cfg(unix)]
            "unix" => {
                let l = tokio::net::UnixListener::bind(&opts.address).map_err(listen)?;
                on_signal_exit(Some(std::path::PathBuf::from(&opts.address)));
                eprintln!(
                    "seal keyservice: listening on unix://{} (gRPC without TLS)",
                    opts.address
                );
                loop {
                    match l.accept().await {
                        Ok((s, _)) => {
                            tokio::spawn(connection(s, opts.prompt));
                        }
                        Err(e) => eprintln!("seal keyservice: accept: {}", crate::error::io_reason(&e)),
                    }
                }
            }
            other => Err(format!(
                "--network {other:?}: seal's key service listens on tcp or unix"
            )),
        }
    })
}

/// SIGINT, SIGTERM and SIGHUP end the server with status 0 (as sops's), removing the socket.
fn on_signal_exit(socket: Option<std::path::PathBuf>) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    if let Some(p) = &socket {
                        let _ = std::fs::remove_file(p);
                    }
                    std::process::exit(0);
                }
            });
        }
    }
    #[cfg(not(unix))]
    let _ = socket;
}

async fn connection<T>(io: T, prompt: bool)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(mut conn) = h2::server::handshake(io).await else {
        return;
    };
    while let Some(next) = conn.accept().await {
        let Ok((request, respond)) = next else { break };
        tokio::spawn(handle(request, respond, prompt));
    }
}

async fn handle(
    request: http::Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
    prompt: bool,
) {
    let (parts, mut body) = request.into_parts();
    let method = match parts.uri.path() {
        "/KeyService/Encrypt" => Method::Encrypt,
        "/KeyService/Decrypt" => Method::Decrypt,
        other => {
            let msg = format!("unknown method {other}");
            send_status(&mut respond, &(12, msg));
            return;
        }
    };
    let mut data = Zeroizing::new(Vec::new());
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_REQUEST {
            send_status(&mut respond, &(8, "request too large".to_string()));
            return;
        }
        data.extend_from_slice(&chunk);
    }
    let answer = unframe(&data)
        .and_then(|m| proto::Request::decode(&m))
        .map_err(|e| (3, e))
        .and_then(|req| serve(method, req, prompt));
    match answer {
        Ok(message) => {
            let response = http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .body(())
                .unwrap_or_default();
            let Ok(mut stream) = respond.send_response(response, false) else {
                return;
            };
            let framed = Bytes::from(frame(&message));
            drop(message);
            if stream.send_data(framed, false).is_err() {
                return;
            }
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let _ = stream.send_trailers(trailers);
        }
        Err(status) => send_status(&mut respond, &status),
    }
}

/// A trailers-only answer with a gRPC error status.
fn send_status(respond: &mut SendResponse<Bytes>, (code, message): &Status) {
    let mut response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string());
    if let Ok(v) = http::HeaderValue::from_str(&percent_encode(message)) {
        response = response.header("grpc-message", v);
    }
    if let Ok(r) = response.body(()) {
        let _ = respond.send_response(r, true);
    }
}

#[derive(Clone, Copy)]
enum Method {
    Encrypt,
    Decrypt,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Encrypt => "encrypt",
            Method::Decrypt => "decrypt",
        }
    }
}

/// Answer one request with the local keys: the response message, or a gRPC status.
fn serve(method: Method, req: proto::Request, prompt: bool) -> Result<Zeroizing<Vec<u8>>, Status> {
    // sops's words for a request without a key.
    let key = req.key.ok_or((5, "Must provide a key".to_string()))?;
    let what = key.describe();
    let result = answer(method, &key, &req.payload, prompt);
    match &result {
        Ok(_) => eprintln!("seal keyservice: {} with {what}: done", method.name()),
        Err((_, why)) => eprintln!(
            "seal keyservice: {} with {what}: refused: {why}",
            method.name()
        ),
    }
    result
}

fn answer(
    method: Method,
    key: &Key,
    payload: &[u8],
    prompt: bool,
) -> Result<Zeroizing<Vec<u8>>, Status> {
    let Some(t) = key_type(key.kind()) else {
        return Err((12, format!("seal has no support for {}", key.describe())));
    };
    if prompt {
        ask(method, key)?;
    }
    match method {
        Method::Encrypt => {
            let group = single_group(key, "");
            let recipient = t
                .recipients(&group)
                .into_iter()
                .next()
                .ok_or_else(|| (3, format!("{} is not a valid key", key.describe())))?;
            let mut out = KeyGroup::default();
            t.wrap(&recipient, payload, &mut out)
                .map_err(|e| (2, e.to_string()))?;
            let enc = only_enc(&out).ok_or((13, "the key made no entry".to_string()))?;
            Ok(proto::encode_response(enc.as_bytes()))
        }
        Method::Decrypt => {
            let enc = std::str::from_utf8(payload)
                .map_err(|_| (3, "the ciphertext is not text".to_string()))?;
            let group = single_group(key, enc);
            let ids = Identities::discover_lazy(&ProcessEnv);
            let mut notes = Vec::new();
            match t.unwrap(&group, &ids, &mut notes) {
                Some(p) => Ok(proto::encode_response(&p)),
                None => {
                    if notes.is_empty() {
                        notes.push(if ids.is_empty() {
                            "no identity was found on the key service's machine".to_string()
                        } else {
                            "none of the key service's identities opens it".to_string()
                        });
                    }
                    Err((
                        2,
                        format!(
                            "could not decrypt with {}: {}",
                            key.describe(),
                            notes.join("; ")
                        ),
                    ))
                }
            }
        }
    }
}

/// `--prompt`: ask on the terminal (as sops: standard output, an answer line on standard
/// input, y or n).
fn ask(method: Method, key: &Key) -> Result<(), Status> {
    let stdin = std::io::stdin();
    loop {
        print!(
            "\nReceived {} request using {}. Respond to request? (y/n): ",
            method.name(),
            key.describe()
        );
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                return Err((
                    2,
                    "no answer to the prompt (standard input closed)".to_string(),
                ));
            }
            Ok(_) => {}
        }
        match line.trim() {
            "y" => return Ok(()),
            // sops's words.
            "n" => return Err((7, "Request rejected by user".to_string())),
            _ => {}
        }
    }
}

/// grpc-message is percent-encoded outside printable ASCII.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
