//! The fake HuaweiCloud KMS (and IAM project list) of `hckms.rs`: a plain HTTP server on
//! 127.0.0.1, and on request the same over HTTPS under a test CA, that verifies each
//! request's `SDK-HMAC-SHA256` signature with the test key pair and wraps with AES-256-GCM
//! under a key per key UUID.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Mac as _;
use sha2::Digest as _;

use super::{AK, PROJECT, SK, UUID, UUID2};

/// One request the fake saw.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) path: String,
    pub(super) user_agent: String,
    pub(super) signed_headers: String,
    /// Whether the signature (and the rest of the checks) passed.
    pub(super) verified: bool,
}

pub(super) struct State {
    seen: Mutex<Vec<Seen>>,
    /// The security token requests must carry (temporary credentials), if any.
    pub(super) token: Mutex<Option<String>>,
}

pub(super) struct Fake {
    pub(super) port: u16,
    pub(super) state: Arc<State>,
}

impl Fake {
    pub(super) fn start() -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let state = Arc::new(State {
            seen: Mutex::new(Vec::new()),
            token: Mutex::new(None),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Fake { port, state }
    }

    /// The same fake over HTTPS on another port (IAM: the SDK reaches it over HTTPS only),
    /// under a certificate for 127.0.0.1 from a test CA: the port and the CA's PEM file.
    pub(super) fn start_tls(&self, dir: &std::path::Path) -> (u16, PathBuf) {
        let (ca, cert, key) = crate::gcp::make_cert_for(dir, "127.0.0.1", "IP:127.0.0.1");
        let ca_file = dir.join("fake-hc-ca.pem");
        std::fs::write(&ca_file, ca).unwrap();
        let tls = Arc::new(crate::gcp::tls_config(&cert, key));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let st = self.state.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (st, tls) = (st.clone(), tls.clone());
                std::thread::spawn(move || {
                    let Ok(session) = rustls::ServerConnection::new(tls) else {
                        return;
                    };
                    let mut r = BufReader::new(rustls::StreamOwned::new(session, conn));
                    let Some(req) = read_request(&mut r) else {
                        return;
                    };
                    let (status, body) = route(&req, &st);
                    respond(r.get_mut(), status, &body);
                    r.get_mut().conn.send_close_notify();
                    let _ = r.get_mut().flush();
                });
            }
        });
        (port, ca_file)
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub(super) fn clear(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(r: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let n: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    req.body = vec![0; n];
    r.read_exact(&mut req.body).ok()?;
    Some(req)
}

fn serve(conn: TcpStream, st: &State) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let Some(req) = read_request(&mut r) else {
        return;
    };
    let (status, body) = route(&req, st);
    let mut w = conn;
    respond(&mut w, status, &body);
}

fn respond(w: &mut impl Write, status: u16, body: &serde_json::Value) {
    let text = body.to_string();
    let _ = write!(
        w,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-request-id: fake-req-1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = w.flush();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The fake's own check of an `SDK-HMAC-SHA256` request (written from the SDK signer's
/// description, apart from seal's signer): the access key, the signed headers' canonical
/// lines, the body hash, the date within 15 minutes, the signature.
fn verify(req: &Request, token: Option<&str>) -> Result<String, &'static str> {
    let auth = req.header("authorization").ok_or("no Authorization")?;
    let rest = auth
        .strip_prefix("SDK-HMAC-SHA256 ")
        .ok_or("not SDK-HMAC-SHA256")?;
    let mut access = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Access", v)) => access = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err("malformed Authorization"),
        }
    }
    let (Some(access), Some(signed), Some(signature)) = (access, signed, signature) else {
        return Err("incomplete Authorization");
    };
    if access != AK {
        return Err("unknown access key");
    }
    let names: Vec<&str> = signed.split(';').collect();
    let kms = req.path.starts_with("/v1.0/");
    for must in ["x-sdk-date", "x-project-id"] {
        if !names.contains(&must) && (kms || must == "x-sdk-date") {
            return Err("a required header is not signed");
        }
    }
    if let Some(t) = token
        && (req.header("x-security-token") != Some(t) || !names.contains(&"x-security-token"))
    {
        return Err("the security token is missing or not signed");
    }
    let date = req.header("x-sdk-date").ok_or("no X-Sdk-Date")?;
    let when = time::PrimitiveDateTime::parse(
        date,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .map_err(|_| "bad X-Sdk-Date")?
    .assume_utc();
    if (time::OffsetDateTime::now_utc() - when).abs() > time::Duration::minutes(15) {
        return Err("X-Sdk-Date is too far from now");
    }
    let mut canonical_headers = String::new();
    for n in &names {
        let v = req.header(n).ok_or("a signed header is absent")?;
        canonical_headers.push_str(&format!("{n}:{}\n", v.trim()));
    }
    let (uri, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let mut uri = uri.to_string();
    if !uri.ends_with('/') {
        uri.push('/');
    }
    // The tests' queries are one `name=REGION` pair: canonical as sent.
    let canonical = format!(
        "{}\n{uri}\n{query}\n{canonical_headers}\n{signed}\n{}",
        req.method,
        hex(&sha2::Sha256::digest(&req.body))
    );
    let to_sign = format!(
        "SDK-HMAC-SHA256\n{date}\n{}",
        hex(&sha2::Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(SK.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    if hex(&mac.finalize().into_bytes()) != signature {
        return Err("signature mismatch");
    }
    Ok(signed.to_string())
}

fn kms_err(status: u16, code: &str, msg: &str) -> (u16, serde_json::Value) {
    (
        status,
        serde_json::json!({"error": {"error_code": code, "error_msg": msg}}),
    )
}

fn route(req: &Request, st: &State) -> (u16, serde_json::Value) {
    let token = st.token.lock().unwrap().clone();
    let checked = verify(req, token.as_deref());
    st.seen.lock().unwrap().push(Seen {
        path: req.path.clone(),
        user_agent: req.header("user-agent").unwrap_or_default().to_string(),
        signed_headers: checked.clone().unwrap_or_default(),
        verified: checked.is_ok(),
    });
    if checked.is_err() {
        return (
            401,
            serde_json::json!({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: verify aksk signature fail", "request_id": "fake-req-1"}),
        );
    }
    // IAM's project list, as the SDK asks it when no project ID is configured.
    if let Some(query) = req.path.strip_prefix("/v3/projects?") {
        let projects = match query {
            "name=tr-west-1" => serde_json::json!([{"id": PROJECT, "name": "tr-west-1"}]),
            _ => serde_json::json!([]),
        };
        return (200, serde_json::json!({"projects": projects}));
    }
    let prefix = format!("/v1.0/{PROJECT}/kms/");
    let Some(op) = req.path.strip_prefix(&prefix) else {
        return kms_err(404, "KMS.0001", "no such project or API");
    };
    if req.method != "POST" || req.header("x-project-id") != Some(PROJECT) {
        return kms_err(400, "KMS.0002", "bad method or project header");
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if body["encryption_algorithm"] != "SYMMETRIC_DEFAULT" {
        return kms_err(400, "KMS.0003", "unsupported encryption_algorithm");
    }
    let uuid = body["key_id"].as_str().unwrap_or_default();
    let aead = |uuid: &str| {
        let k = sha2::Sha256::digest(format!("fake huaweicloud kms key {uuid}"));
        aes_gcm::Aes256Gcm::new_from_slice(&k).unwrap()
    };
    match op {
        "encrypt-data" => {
            if ![UUID, UUID2].contains(&uuid) {
                return kms_err(404, "KMS.0205", "The key does not exist.");
            }
            let Some(plain) = body["plain_text"].as_str() else {
                return kms_err(400, "KMS.0004", "plain_text is missing");
            };
            let nonce = sha2::Sha256::digest(plain.as_bytes());
            let nonce = aes_gcm::Nonce::from_slice(&nonce[..12]);
            let mut ct = nonce.to_vec();
            ct.extend(aead(uuid).encrypt(nonce, plain.as_bytes()).unwrap());
            (
                200,
                serde_json::json!({"key_id": uuid, "cipher_text": B64.encode(ct)}),
            )
        }
        "decrypt-data" => {
            let opened = body["cipher_text"]
                .as_str()
                .and_then(|c| B64.decode(c).ok())
                .filter(|c| c.len() > 12)
                .and_then(|c| {
                    aead(uuid)
                        .decrypt(aes_gcm::Nonce::from_slice(&c[..12]), &c[12..])
                        .ok()
                });
            match opened.and_then(|p| String::from_utf8(p).ok()) {
                Some(p) => (
                    200,
                    serde_json::json!({"key_id": uuid, "plain_text": p, "plain_text_base64": B64.encode(&p)}),
                ),
                None => kms_err(400, "KMS.0209", "Failed to decrypt the data."),
            }
        }
        _ => kms_err(404, "KMS.0001", "no such API"),
    }
}
