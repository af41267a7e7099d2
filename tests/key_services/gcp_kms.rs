//! GCP Cloud KMS master keys (part of the `aws_kms_interop` test binary) against a fake
//! Cloud KMS that each test starts on 127.0.0.1 (the same fake serves Azure Key Vault and
//! its token service for `azure_kv.rs`), and the real sops on the same fake, both
//! directions.
//!
//! No Cloud KMS emulator exists in the registries this project reaches, and the installed
//! sops (3.11) has no GCP endpoint override (`SOPS_GCP_KMS_ENDPOINT` came in 3.13). Both
//! tools do honour `HTTPS_PROXY` and `SSL_CERT_FILE`, so the fake is an HTTP proxy on
//! 127.0.0.1: it answers `CONNECT cloudkms.googleapis.com:443` itself, with TLS under a
//! certificate the test makes (openssl) and trusts through `SSL_CERT_FILE`, and serves the
//! Cloud KMS REST protocol sops's `SOPS_GCP_KMS_CLIENT_TYPE=rest` client speaks (measured:
//! `POST /v1/{resource_id}:encrypt|decrypt`, base64 JSON bodies, a bearer token). Nothing
//! leaves 127.0.0.1: the proxy never connects anywhere. Its wrapping is what a real key
//! does: AES-256-GCM under a key of its own per resource ID, so a ciphertext opens only
//! under the key that made it. It also serves a token endpoint that checks a service
//! account's JWT (RS256, `aud`, `iss`, scope) or a refresh token, and issues the only
//! bearer tokens it accepts. The metadata server is never reached: `GCE_METADATA_HOST`
//! (the switch Google's Go client and seal honour) points at a listener on 127.0.0.1 that
//! records any connection.
//!
//! What this proves: both tools' requests, credentials and metadata entries agree with
//! each other and with Cloud KMS's documented REST protocol. What only a real account
//! would: Google's IAM decisions, its error texts, and its real ciphertext format.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use sha2::Digest as _;

use crate::common;

const ID: &str = "projects/seal-test/locations/global/keyRings/ring/cryptoKeys/key1";
const ID2: &str = "projects/seal-test/locations/europe-west1/keyRings/ring/cryptoKeys/key2";
const DENIED: &str = "projects/seal-test/locations/global/keyRings/ring/cryptoKeys/denied";
pub(crate) const STATIC_TOKEN: &str = "ya29.static-test-token-not-real";
const SA_EMAIL: &str = "sops@seal-test.iam.gserviceaccount.com";
const REFRESH: &str = "1//refresh-test-secret-not-real";

/// One request the fake saw.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// The `CONNECT` target when it came through the proxy.
    pub(crate) tunnel: Option<String>,
    pub(crate) method: String,
    pub(crate) path: String,
    bearer: Option<String>,
}

pub(crate) struct State {
    pub(crate) keys: Vec<&'static str>,
    pub(crate) tokens: Mutex<Vec<String>>,
    sa_public: rsa::RsaPublicKey,
    token_uri: Mutex<String>,
    seen: Mutex<Vec<Seen>>,
}

/// The fake Cloud KMS: a proxy/HTTPS server and a token endpoint on one port.
pub(crate) struct Fake {
    port: u16,
    state: Arc<State>,
    cert: PathBuf,
    sa_pem: String,
}

impl Fake {
    fn start(dir: &Path) -> Fake {
        use rsa::pkcs8::EncodePrivateKey as _;
        let (ca_pem, cert_pem, key_der) = make_cert(dir);
        let cert = dir.join("fake-gcp-ca.pem");
        std::fs::write(&cert, &ca_pem).unwrap();
        let sa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let sa_pem = sa
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let state = Arc::new(State {
            keys: vec![ID, ID2, DENIED],
            tokens: Mutex::new(vec![STATIC_TOKEN.to_string()]),
            sa_public: sa.to_public_key(),
            token_uri: Mutex::new(format!("http://127.0.0.1:{port}/token")),
            seen: Mutex::new(Vec::new()),
        });
        let tls = Arc::new(tls_config(&cert_pem, key_der));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (st, tls) = (st.clone(), tls.clone());
                std::thread::spawn(move || serve(conn, &st, &tls));
            }
        });
        Fake {
            port,
            state,
            cert,
            sa_pem,
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub(crate) fn clear(&self) {
        self.state.seen.lock().unwrap().clear();
    }

    /// A service account key file whose token_uri is this fake.
    fn service_account_json(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "seal-test",
            "private_key_id": "kid-1",
            "private_key": self.sa_pem,
            "client_email": SA_EMAIL,
            "client_id": "1",
            "token_uri": *self.state.token_uri.lock().unwrap(),
        })
        .to_string()
    }
}

/// A test CA (PEM, for `SSL_CERT_FILE`), and a certificate it issued for
/// cloudkms.googleapis.com (PEM) with its key (PKCS#8 DER), made by openssl (required: the
/// test fails, never skips, without it). The keys are removed once read.
fn make_cert(dir: &Path) -> (String, String, Vec<u8>) {
    make_cert_for(
        dir,
        "cloudkms.googleapis.com",
        "DNS:cloudkms.googleapis.com,DNS:oauth2.googleapis.com,DNS:sealtest.vault.azure.net,DNS:login.microsoftonline.com",
    )
}

/// [`make_cert`] for another certificate: its common name and `subjectAltName` list
/// (`DNS:…`, `IP:…`).
pub(crate) fn make_cert_for(dir: &Path, cn: &str, sans: &str) -> (String, String, Vec<u8>) {
    let openssl = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is needed to make the fake Cloud KMS's certificate");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=seal test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(&ca);
    let subject = format!("/CN={cn}");
    let mut csr = vec!["req", "-subj", subject.as_str()];
    csr.extend(ec);
    csr.extend(["-keyout", "leaf.key", "-out", "leaf.csr"]);
    openssl(&csr);
    std::fs::write(
        dir.join("leaf.ext"),
        format!("subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "1",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.crt",
    ]);
    let pem = std::fs::read_to_string(dir.join("leaf.key")).unwrap();
    assert!(
        pem.contains("BEGIN PRIVATE KEY"),
        "openssl wrote no PKCS#8 key"
    );
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    let out = (read("ca.crt"), read("leaf.crt"), B64.decode(b64).unwrap());
    for f in [
        "ca.key", "leaf.key", "leaf.csr", "leaf.ext", "leaf.crt", "ca.crt",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    out
}

#[allow(deprecated)]
pub(crate) fn tls_config(cert_pem: &str, key_der: Vec<u8>) -> rustls::ServerConfig {
    let b64: String = cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let cert = rustls::pki_types::CertificateDer::from(B64.decode(b64).unwrap());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into());
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
}

pub(crate) struct Request {
    pub(crate) method: String,
    target: String,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request<R: BufRead>(r: &mut R, with_body: bool) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
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
        target,
        headers,
        body: Vec::new(),
    };
    if with_body {
        let n: usize = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        req.body = vec![0; n];
        r.read_exact(&mut req.body).ok()?;
    }
    Some(req)
}

fn serve(conn: TcpStream, st: &State, tls: &Arc<rustls::ServerConfig>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let Some(first) = read_request(&mut reader, false) else {
        return;
    };
    if first.method == "CONNECT" {
        let mut raw = conn;
        raw.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let Ok(session) = rustls::ServerConnection::new(tls.clone()) else {
            return;
        };
        let stream = rustls::StreamOwned::new(session, raw);
        let mut r = BufReader::new(stream);
        if let Some(req) = read_request(&mut r, true) {
            let (status, body) = route(&req, Some(&first.target), st);
            respond(r.get_mut(), status, &body);
            r.get_mut().conn.send_close_notify();
            let _ = r.get_mut().flush();
        }
        return;
    }
    // Plain HTTP (the token endpoint): the first request's body follows its head.
    let n: usize = first
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; n];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req = Request { body, ..first };
    let (status, out) = route(&req, None, st);
    let mut raw = conn;
    respond(&mut raw, status, &out);
}

fn respond<W: Write>(w: &mut W, status: u16, body: &serde_json::Value) {
    let text = body.to_string();
    // Key Vault's challenge to a request without a token (see azure_kv.rs).
    let challenge = if status == 401 && text.contains("AKV10000") {
        format!(
            "www-authenticate: Bearer authorization=\"https://login.microsoftonline.com/{}\", resource=\"https://vault.azure.net\"\r\n",
            crate::azure::TENANT
        )
    } else {
        String::new()
    };
    let _ = write!(
        w,
        "HTTP/1.1 {status} X\r\n{challenge}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = w.flush();
}

pub(crate) fn gerr(code: u16, status: &str, message: &str) -> (u16, serde_json::Value) {
    (
        code,
        serde_json::json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

fn route(req: &Request, tunnel: Option<&str>, st: &State) -> (u16, serde_json::Value) {
    let path = req.target.split('?').next().unwrap_or_default().to_string();
    let bearer = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_string);
    st.seen.lock().unwrap().push(Seen {
        tunnel: tunnel.map(str::to_string),
        method: req.method.clone(),
        path: path.clone(),
        bearer: bearer.clone(),
    });
    match tunnel {
        Some("sealtest.vault.azure.net:443") => return crate::azure::key_vault(req, &path, st),
        Some("login.microsoftonline.com:443") => return crate::azure::entra(req, &path, st),
        _ => {}
    }
    if path == "/token" && matches!(tunnel, None | Some("oauth2.googleapis.com:443")) {
        return token(req, st);
    }
    if tunnel.is_none()
        && let Some(answer) = federation(req, &path, bearer.as_deref(), st)
    {
        return answer;
    }
    let Some(rest) = path.strip_prefix("/v1/") else {
        return gerr(404, "NOT_FOUND", "no such method");
    };
    if tunnel != Some("cloudkms.googleapis.com:443") {
        return gerr(400, "FAILED_PRECONDITION", "not through the proxy");
    }
    if !bearer.is_some_and(|b| st.tokens.lock().unwrap().contains(&b)) {
        return gerr(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let Some((name, op)) = rest.rsplit_once(':') else {
        return gerr(404, "NOT_FOUND", "no such method");
    };
    if !st.keys.contains(&name) {
        return gerr(404, "NOT_FOUND", &format!("CryptoKey {name} not found."));
    }
    if name == DENIED {
        return gerr(
            403,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'cloudkms.cryptoKeyVersions.useTo{op}' denied on resource '{name}' (or it may not exist)."
            ),
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if body["name"] != name {
        return gerr(400, "INVALID_ARGUMENT", "name does not match the URL");
    }
    let key = sha2::Sha256::digest(format!("fake cloud kms key {name}"));
    let aead = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
    let field = |k: &str| body[k].as_str().and_then(|s| B64.decode(s).ok());
    match op {
        "encrypt" => {
            let Some(plain) = field("plaintext") else {
                return gerr(400, "INVALID_ARGUMENT", "plaintext is not base64");
            };
            let nonce = sha2::Sha256::digest(&plain);
            let nonce = aes_gcm::Nonce::from_slice(&nonce[..12]);
            let mut ct = nonce.to_vec();
            ct.extend(aead.encrypt(nonce, plain.as_slice()).unwrap());
            (
                200,
                serde_json::json!({"name": format!("{name}/cryptoKeyVersions/1"), "ciphertext": B64.encode(ct)}),
            )
        }
        "decrypt" => {
            let opened = field("ciphertext").filter(|c| c.len() > 12).and_then(|c| {
                aead.decrypt(aes_gcm::Nonce::from_slice(&c[..12]), &c[12..])
                    .ok()
            });
            match opened {
                Some(p) => (200, serde_json::json!({"plaintext": B64.encode(p)})),
                None => gerr(
                    400,
                    "INVALID_ARGUMENT",
                    "Decryption failed: the ciphertext is invalid.",
                ),
            }
        }
        _ => gerr(404, "NOT_FOUND", "no such method"),
    }
}

pub(crate) fn form(body: &[u8]) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' if i + 2 < b.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (unescape(k), unescape(v)))
        .collect()
}

/// The subject token the fake STS trusts (a Kubernetes service-account token, say).
pub(crate) const SUBJECT_TOKEN: &str = "eyJ.k8s-subject-token-not-real.sig";
/// The service account the fake IAM Credentials lets a trusted token impersonate.
pub(crate) const IMPERSONATED: &str = "kms-user@seal-test.iam.gserviceaccount.com";

/// Google's STS (`/v1/token`: the token exchange of workload identity federation) and IAM
/// Credentials (`…/serviceAccounts/SA:generateAccessToken`), served straight on
/// 127.0.0.1 where a credentials file names them.
fn federation(
    req: &Request,
    path: &str,
    bearer: Option<&str>,
    st: &State,
) -> Option<(u16, serde_json::Value)> {
    let issue = || {
        let mut tokens = st.tokens.lock().unwrap();
        let t = format!("ya29.federated-{}", tokens.len());
        tokens.push(t.clone());
        t
    };
    if path == "/v1/token" {
        let f = form(&req.body);
        let get = |k: &str| {
            f.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
            || get("subject_token") != SUBJECT_TOKEN
            || !get("audience").starts_with("//iam.googleapis.com/")
        {
            return Some((
                400,
                serde_json::json!({"error": "invalid_grant", "error_description": "The subject token is invalid."}),
            ));
        }
        let t = issue();
        return Some((
            200,
            serde_json::json!({"access_token": t, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}),
        ));
    }
    let sa = path
        .strip_prefix("/v1/projects/-/serviceAccounts/")?
        .strip_suffix(":generateAccessToken")?;
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let scoped = body["scope"].as_array().is_some_and(|a| {
        a.iter()
            .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
    });
    if sa != IMPERSONATED
        || !scoped
        || !bearer.is_some_and(|b| st.tokens.lock().unwrap().iter().any(|t| t == b))
    {
        return Some(gerr(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        ));
    }
    let t = issue();
    Some((
        200,
        serde_json::json!({"accessToken": t, "expireTime": "2099-01-01T00:00:00Z"}),
    ))
}

fn token(req: &Request, st: &State) -> (u16, serde_json::Value) {
    use rsa::signature::Verifier as _;
    let f = form(&req.body);
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let refuse = |why: &str| {
        (
            400,
            serde_json::json!({"error": "invalid_grant", "error_description": why}),
        )
    };
    match get("grant_type").as_str() {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let jwt = get("assertion");
            let parts: Vec<&str> = jwt.split('.').collect();
            if parts.len() != 3 {
                return refuse("Invalid JWT.");
            }
            let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(st.sa_public.clone());
            let sig = B64URL
                .decode(parts[2])
                .ok()
                .and_then(|s| rsa::pkcs1v15::Signature::try_from(s.as_slice()).ok());
            let signed = format!("{}.{}", parts[0], parts[1]);
            if sig.is_none_or(|s| verifier.verify(signed.as_bytes(), &s).is_err()) {
                return refuse("Invalid JWT Signature.");
            }
            let claims: serde_json::Value = B64URL
                .decode(parts[1])
                .ok()
                .and_then(|c| serde_json::from_slice(&c).ok())
                .unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let scope = claims["scope"].as_str().unwrap_or_default();
            if claims["aud"] != *st.token_uri.lock().unwrap()
                || claims["iss"] != SA_EMAIL
                // A source credential for impersonation asks for cloud-platform only.
                || !(scope.contains("https://www.googleapis.com/auth/cloudkms")
                    || scope.contains("https://www.googleapis.com/auth/cloud-platform"))
                || claims["exp"].as_u64().is_none_or(|e| e <= now)
            {
                return refuse("Invalid JWT claims.");
            }
        }
        "refresh_token" => {
            if get("refresh_token") != REFRESH || get("client_id").is_empty() {
                return refuse("Bad refresh token.");
            }
        }
        _ => return refuse("unsupported grant_type"),
    }
    let mut tokens = st.tokens.lock().unwrap();
    let t = format!("ya29.issued-{}", tokens.len());
    tokens.push(t.clone());
    (
        200,
        serde_json::json!({"access_token": t, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

/// A listener on 127.0.0.1 standing in for the metadata server: it records connections
/// and answers none.
fn metadata_trap() -> (String, Arc<Mutex<usize>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let hits = Arc::new(Mutex::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            *h.lock().unwrap() += 1;
            drop(c);
        }
    });
    (addr, hits)
}

pub(crate) struct GcpCase {
    _tmp: tempfile::TempDir,
    pub(crate) home: PathBuf,
    pub(crate) fake: Fake,
    pub(crate) env: Vec<(&'static str, String)>,
    metadata_hits: Arc<Mutex<usize>>,
}

impl GcpCase {
    /// Both tools pointed at the fake, with the static access token as credentials.
    pub(crate) fn new() -> GcpCase {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_path_buf();
        let fake = Fake::start(&home);
        let (metadata, metadata_hits) = metadata_trap();
        let env = vec![
            ("HTTPS_PROXY", format!("http://127.0.0.1:{}", fake.port)),
            ("NO_PROXY", "127.0.0.1,localhost".to_string()),
            ("SSL_CERT_FILE", fake.cert.display().to_string()),
            ("SOPS_GCP_KMS_CLIENT_TYPE", "rest".to_string()),
            ("GCE_METADATA_HOST", metadata),
            ("GOOGLE_OAUTH_ACCESS_TOKEN", STATIC_TOKEN.to_string()),
        ];
        GcpCase {
            _tmp: tmp,
            home,
            fake,
            env,
            metadata_hits,
        }
    }

    pub(crate) fn set(&mut self, name: &'static str, value: Option<String>) {
        self.env.retain(|(k, _)| *k != name);
        if let Some(v) = value {
            self.env.push((name, v));
        }
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub(crate) fn seal(&self) -> assert_cmd::Command {
        let mut c = common::seal(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.timeout(std::time::Duration::from_secs(30));
        c
    }

    pub(crate) fn sops(&self) -> std::process::Command {
        let mut c = common::sops(&self.home);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// seal run as `sops` (a link named sops) with this case's environment.
    pub(crate) fn seal_as_sops(&self) -> assert_cmd::Command {
        let link = self.home.join("bin/sops");
        if !link.exists() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
        }
        let mut c = assert_cmd::Command::new(&link);
        c.env_clear()
            .current_dir(&self.home)
            .env("HOME", &self.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SEAL_NO_KEYRING", "1")
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .timeout(std::time::Duration::from_secs(30));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn assert_no_metadata_connection(&self) {
        assert_eq!(
            *self.metadata_hits.lock().unwrap(),
            0,
            "something asked the metadata server"
        );
    }
}

pub(crate) fn ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

pub(crate) const PLAIN: &str = "token: s3cr3t\nlist:\n    - 1\n";

#[test]
fn sops_and_seal_wrap_and_unwrap_through_the_same_cloud_kms_both_ways() {
    let c = GcpCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--gcp-kms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let seen = c.fake.seen();
    assert!(
        seen.iter().any(
            |s| s.tunnel.as_deref() == Some("cloudkms.googleapis.com:443")
                && s.path == format!("/v1/{ID}:encrypt")
                && s.bearer.as_deref() == Some(STATIC_TOKEN)
        ),
        "sops did not reach the fake as Cloud KMS: {seen:?}"
    );
    c.fake.clear();
    let by_seal = ok(c
        .seal()
        .args(["encrypt", "--gcp-kms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let seen = c.fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, format!("/v1/{ID}:encrypt"));
    assert_eq!(
        seen[0].tunnel.as_deref(),
        Some("cloudkms.googleapis.com:443")
    );
    assert_eq!(
        crate::services::metadata_shape(&by_seal),
        crate::services::metadata_shape(&by_sops),
        "seal's metadata differs from sops's\nseal:\n{by_seal}\nsops:\n{by_sops}"
    );
    // Each opens the other's file through Cloud KMS alone (no age key anywhere).
    let sops_file = c.write("sops.yaml", &by_sops);
    let seal_file = c.write("seal.yaml", &by_seal);
    let back = ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap());
    assert_eq!(back, PLAIN, "seal decrypts sops's file");
    let back = ok(c.sops().arg("decrypt").arg(&seal_file).output().unwrap());
    assert_eq!(back, PLAIN, "sops decrypts seal's file");
    // SOPS_GCP_KMS_IDS names the keys as --gcp-kms does (sops and seal).
    let mut env_keys = c.seal();
    env_keys.env("SOPS_GCP_KMS_IDS", format!("{ID},{ID2}"));
    let two = ok(env_keys.arg("encrypt").arg(&p).output().unwrap());
    let mut sops_env = c.sops();
    sops_env.env("SOPS_GCP_KMS_IDS", format!("{ID},{ID2}"));
    let two_sops = ok(sops_env.arg("encrypt").arg(&p).output().unwrap());
    assert_eq!(two.matches("resource_id:").count(), 2, "{two}");
    assert_eq!(
        crate::services::metadata_shape(&two),
        crate::services::metadata_shape(&two_sops)
    );
    c.assert_no_metadata_connection();
}

#[test]
fn seal_as_sops_encrypts_and_edits_a_new_file_for_gcp_kms_as_sops_does() {
    let c = GcpCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let by_sops = ok(c
        .sops()
        .args(["encrypt", "--gcp-kms", ID])
        .arg(&p)
        .output()
        .unwrap());
    c.fake.clear();
    let as_sops = ok(c
        .seal_as_sops()
        .args(["encrypt", "--gcp-kms", ID])
        .arg(&p)
        .output()
        .unwrap());
    assert!(
        c.fake
            .seen()
            .iter()
            .any(|s| s.path == format!("/v1/{ID}:encrypt")),
        "seal as sops did not reach Cloud KMS"
    );
    assert_eq!(
        crate::services::metadata_shape(&as_sops),
        crate::services::metadata_shape(&by_sops),
        "seal as sops:\n{as_sops}\nsops:\n{by_sops}"
    );
    let f = c.write("as-sops.yaml", &as_sops);
    assert_eq!(ok(c.sops().arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    // SOPS_GCP_KMS_IDS names the keys under the sops name too.
    let two = ok(c
        .seal_as_sops()
        .env("SOPS_GCP_KMS_IDS", format!("{ID},{ID2}"))
        .arg("encrypt")
        .arg(&p)
        .output()
        .unwrap());
    assert_eq!(two.matches("resource_id:").count(), 2, "{two}");
    // `sops edit --gcp-kms` of a new file: the editor writes it, Cloud KMS wraps its key.
    let editor = c.write(
        "editor.sh",
        "#!/bin/sh\nprintf 'token: s3cr3t\\n' > \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let new = c.home.join("new.yaml");
    ok(c.seal_as_sops()
        .env("EDITOR", &editor)
        .args(["edit", "--gcp-kms", ID])
        .arg(&new)
        .output()
        .unwrap());
    let made = std::fs::read_to_string(&new).unwrap();
    assert!(made.contains(&format!("resource_id: {ID}")), "{made}");
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&new).output().unwrap()),
        "token: s3cr3t\n"
    );
    c.assert_no_metadata_connection();
}

#[test]
fn the_entry_matches_the_shape_sops_wrote_in_a_public_repository() {
    // The realworld corpus's file was written by sops 3.10.2 against the real Cloud KMS.
    let Some(path) = common::shared_suite(
        "the realworld corpus's gcp_kms entry (xunholy__k8s-gitops)",
        "realworld/xunholy__k8s-gitops/kubernetes/clusters/cluster-00/secrets/sops-age.encrypted.yaml",
    ) else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let real: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("    gcp_kms:"))
        .take(4)
        .collect();
    let c = GcpCase::new();
    let p = c.write("s.yaml", "a: b\n");
    let mine = ok(c
        .seal()
        .args(["encrypt", "--gcp-kms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let made: Vec<&str> = mine
        .lines()
        .skip_while(|l| !l.starts_with("    gcp_kms:"))
        .take(4)
        .collect();
    let shape = |lines: &[&str]| -> Vec<String> {
        lines
            .iter()
            .map(|l| match l.split_once(": ") {
                Some((k, v)) if v.starts_with('"') => format!("{k}: \"…\""),
                Some((k, _)) => format!("{k}: …"),
                None => l.to_string(),
            })
            .collect()
    };
    assert_eq!(shape(&made), shape(&real), "{mine}\n---\n{text}");
    // Its enc is base64 of the Cloud KMS ciphertext, as seal writes and reads it.
    let enc = real[3].trim().strip_prefix("enc: ").unwrap();
    assert!(B64.decode(enc).is_ok(), "{enc}");
}

#[test]
fn service_account_and_gcloud_user_credentials_get_tokens_as_sops_does() {
    let mut c = GcpCase::new();
    let sa = c.write("sa.json", &c.fake.service_account_json());
    c.set("GOOGLE_OAUTH_ACCESS_TOKEN", None);
    c.set(
        "GOOGLE_APPLICATION_CREDENTIALS",
        Some(sa.display().to_string()),
    );
    let p = c.write("plain.yaml", PLAIN);
    // The service account's JWT, exchanged at its token_uri, by both tools.
    let by_seal = c.write(
        "seal.yaml",
        &ok(c
            .seal()
            .args(["encrypt", "--gcp-kms", ID])
            .arg(&p)
            .output()
            .unwrap()),
    );
    let back = ok(c.sops().arg("decrypt").arg(&by_seal).output().unwrap());
    assert_eq!(back, PLAIN);
    let seen = c.fake.seen();
    let grants = seen.iter().filter(|s| s.path == "/token").count();
    assert_eq!(grants, 2, "one grant each: {seen:?}");
    let kms: Vec<&Seen> = seen.iter().filter(|s| s.path.starts_with("/v1/")).collect();
    assert_eq!(kms.len(), 2, "{seen:?}");
    assert!(
        kms.iter().all(|s| s
            .bearer
            .as_deref()
            .is_some_and(|b| b.starts_with("ya29.issued-"))),
        "{kms:?}"
    );
    // GOOGLE_CREDENTIALS holding the JSON itself comes first (sops's order).
    c.set(
        "GOOGLE_APPLICATION_CREDENTIALS",
        Some("/nonexistent.json".into()),
    );
    let mut inline = c.seal();
    inline.env("GOOGLE_CREDENTIALS", c.fake.service_account_json());
    assert_eq!(
        ok(inline.arg("decrypt").arg(&by_seal).output().unwrap()),
        PLAIN
    );
    // gcloud's application default credentials (an authorized user and its refresh token).
    // Measured: sops's client sends the refresh grant to oauth2.googleapis.com whatever the
    // file's token_uri says; seal does the same (here through the proxy, to the fake).
    c.set("GOOGLE_APPLICATION_CREDENTIALS", None);
    c.fake.clear();
    let gcloud = c.home.join(".config/gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    let token_uri = c.fake.state.token_uri.lock().unwrap().clone();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        serde_json::json!({
            "type": "authorized_user",
            "client_id": "seal-test.apps.googleusercontent.com",
            "client_secret": "client-secret-not-real",
            "refresh_token": REFRESH,
            "token_uri": token_uri,
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(
        ok(c.seal().arg("decrypt").arg(&by_seal).output().unwrap()),
        PLAIN
    );
    assert_eq!(
        ok(c.sops().arg("decrypt").arg(&by_seal).output().unwrap()),
        PLAIN
    );
    let grants: Vec<Seen> = c
        .fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/token")
        .collect();
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(
        grants
            .iter()
            .all(|g| g.tunnel.as_deref() == Some("oauth2.googleapis.com:443")),
        "{grants:?}"
    );
    // A key the token endpoint does not know: refused, named, nothing secret shown.
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let mut bad: serde_json::Value = serde_json::from_str(&c.fake.service_account_json()).unwrap();
    {
        use rsa::pkcs8::EncodePrivateKey as _;
        bad["private_key"] = other
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
            .into();
    }
    let mut wrong = c.seal();
    wrong.env("GOOGLE_CREDENTIALS", bad.to_string());
    let o = wrong.arg("decrypt").arg(&by_seal).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("Invalid JWT Signature") && e.contains("GOOGLE_CREDENTIALS") && e.contains(ID),
        "{e}"
    );
    assert!(!e.contains("PRIVATE KEY") && !e.contains("s3cr3t"), "{e}");
    c.assert_no_metadata_connection();
}

#[test]
fn refusals_name_the_key_with_sops_exit_codes_and_no_secret() {
    let mut c = GcpCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let file = ok(c
        .seal()
        .args(["encrypt", "--gcp-kms", ID])
        .arg(&p)
        .output()
        .unwrap());
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    // A ciphertext made under another key does not open (the fake's keys are real keys).
    let enc = file
        .lines()
        .find_map(|l| l.trim().strip_prefix("enc: "))
        .unwrap()
        .to_string();
    let moved = c.write(
        "moved.yaml",
        &file.replace(
            &format!("resource_id: {ID}"),
            &format!("resource_id: {ID2}"),
        ),
    );
    let o = c.seal().arg("decrypt").arg(&moved).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = stderr(&o);
    assert!(e.contains("refused decrypt") && e.contains(ID2), "{e}");
    let o = c.sops().arg("decrypt").arg(&moved).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    // An enc that is not base64.
    let broken = c.write("broken.yaml", &file.replace(&enc, "not*base64"));
    let o = c.seal().arg("decrypt").arg(&broken).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    assert!(stderr(&o).contains("not base64"), "{}", stderr(&o));
    // A key the account may not use, and a malformed resource ID, when encrypting.
    let o = c
        .seal()
        .args(["encrypt", "--gcp-kms", DENIED])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("PERMISSION_DENIED") && e.contains("cryptoKeyEncrypter"),
        "{e}"
    );
    let o = c
        .seal()
        .args(["encrypt", "--gcp-kms", "projects/p/keyRings/r"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("resource ID"), "{}", stderr(&o));
    // A token the service does not accept.
    c.set(
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        Some("ya29.revoked-not-real".into()),
    );
    let good = c.write("good.yaml", &file);
    let o = c.seal().arg("decrypt").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = stderr(&o);
    assert!(e.contains("UNAUTHENTICATED") && e.contains(ID), "{e}");
    assert!(!e.contains("ya29.") && !e.contains("s3cr3t"), "{e}");
    let o = c.sops().arg("decrypt").arg(&good).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    c.assert_no_metadata_connection();
}

#[test]
fn no_credentials_reach_only_the_metadata_address_and_fail_fast() {
    let mut c = GcpCase::new();
    let p = c.write("plain.yaml", PLAIN);
    let file = c.write(
        "f.yaml",
        &ok(c
            .seal()
            .args(["encrypt", "--gcp-kms", ID])
            .arg(&p)
            .output()
            .unwrap()),
    );
    c.fake.clear();
    c.set("GOOGLE_OAUTH_ACCESS_TOKEN", None);
    let t = std::time::Instant::now();
    let o = c.seal().arg("decrypt").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no Google credentials") && e.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{e}"
    );
    // Only the metadata address (GCE_METADATA_HOST, on 127.0.0.1) was tried; Cloud KMS was not.
    assert!(c.fake.seen().is_empty(), "{:?}", c.fake.seen());
    assert!(*c.metadata_hits.lock().unwrap() >= 1);
}

#[test]
fn rules_key_groups_rotate_and_updatekeys_with_gcp_kms_keys() {
    let c = GcpCase::new();
    let alice = common::recipient("alice");
    c.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n\
             \x20 - path_regex: flat\\.yaml$\n\
             \x20   gcp_kms: \"{ID}, {ID2}\"\n\
             \x20   age: {alice}\n\
             \x20 - path_regex: groups\\.yaml$\n\
             \x20   shamir_threshold: 2\n\
             \x20   key_groups:\n\
             \x20     - age: [{alice}]\n\
             \x20     - gcp_kms:\n\
             \x20         - resource_id: {ID}\n"
        ),
    );
    for name in ["flat.yaml", "groups.yaml"] {
        c.write(name, PLAIN);
        let by_seal = ok(c.seal().args(["encrypt", name]).output().unwrap());
        let by_sops = ok(c.sops().args(["encrypt", name]).output().unwrap());
        assert_eq!(
            crate::services::metadata_shape(&by_seal),
            crate::services::metadata_shape(&by_sops),
            "{name}\nseal:\n{by_seal}\nsops:\n{by_sops}"
        );
        let f = c.write(&format!("seal-{name}"), &by_seal);
        // sops opens seal's file; the groups file needs alice and Cloud KMS.
        let mut sops = c.sops();
        sops.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
        assert_eq!(ok(sops.arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    }
    // rotate --rm-gcp-kms / --add-gcp-kms, then updatekeys puts the rule's keys back.
    let f = c.home.join("flat.yaml");
    std::fs::copy(c.home.join("seal-flat.yaml"), &f).unwrap();
    let mut seal = c.seal();
    seal.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
    ok(seal
        .args(["rotate", "-i", "--rm-gcp-kms", ID2])
        .arg(&f)
        .output()
        .unwrap());
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains(ID) && !text.contains(ID2), "{text}");
    let mut seal = c.seal();
    seal.env("SOPS_AGE_KEY_FILE", common::key_file("alice"));
    ok(seal
        .args(["updatekeys", "-y", "flat.yaml"])
        .output()
        .unwrap());
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains(ID) && text.contains(ID2), "{text}");
    // Through Cloud KMS alone (no age key): the file opens in both tools.
    assert_eq!(ok(c.seal().arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    assert_eq!(ok(c.sops().arg("decrypt").arg(&f).output().unwrap()), PLAIN);
    c.assert_no_metadata_connection();
}

/// `sops groups add --gcp-kms ID` wraps the file's data key for a new group with the Cloud
/// KMS key: seal as sops writes the `sops:` block the real sops writes, values and MAC stay,
/// and with the age group deleted the real sops opens the file through Cloud KMS alone.
#[test]
fn groups_add_with_a_gcp_kms_key_wraps_the_data_key_as_sops_does() {
    let c = GcpCase::new();
    let alice = common::recipient("alice");
    let p = c.write("plain.yaml", PLAIN);
    let before = ok(c
        .sops()
        .args(["encrypt", "--age", &alice])
        .arg(&p)
        .output()
        .unwrap());
    let mac = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("mac:"))
            .map(str::to_string)
    };
    let add = ["groups", "add", "--gcp-kms", ID, "-i", "-f"];
    let delete = [
        "groups",
        "delete",
        "-i",
        "--shamir-secret-sharing-threshold",
        "1",
        "0",
        "-f",
    ];
    let mut shapes = Vec::new();
    for tool in ["sops", "seal"] {
        let name = format!("by-{tool}.yaml");
        let f = c.write(&name, &before);
        let run = |args: &[&str]| {
            if tool == "sops" {
                let mut cmd = c.sops();
                cmd.env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
                    .current_dir(&c.home)
                    .args(args)
                    .arg(&name);
                ok(cmd.output().unwrap());
            } else {
                ok(c.seal_as_sops()
                    .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
                    .args(args)
                    .arg(&name)
                    .output()
                    .unwrap());
            }
        };
        c.fake.clear();
        run(&add);
        assert!(
            c.fake
                .seen()
                .iter()
                .any(|s| s.path == format!("/v1/{ID}:encrypt")),
            "{tool} did not reach Cloud KMS"
        );
        let added = std::fs::read_to_string(&f).unwrap();
        assert_eq!(mac(&added), mac(&before), "{tool}");
        assert!(added.contains(&format!("resource_id: {ID}")), "{added}");
        shapes.push(crate::services::metadata_shape(&added));
        run(&delete);
        let after = std::fs::read_to_string(&f).unwrap();
        assert!(!after.contains(&alice), "{after}");
        // Through Cloud KMS alone (no age key).
        assert_eq!(
            ok(c.sops().arg("decrypt").arg(&f).output().unwrap()),
            PLAIN,
            "sops opens the file {tool} changed"
        );
    }
    assert_eq!(shapes[0], shapes[1], "sops (left) and seal as sops (right)");
    c.assert_no_metadata_connection();
}

/// `impersonated_service_account` (gcloud's `--impersonate-service-account`) and
/// `external_account` (workload identity federation from a token file, then impersonated)
/// credentials files: both tools get a token through the fake STS and IAM Credentials and
/// wrap and unwrap through Cloud KMS with it; a subject token the STS does not trust is
/// refused.
#[test]
fn impersonation_and_workload_identity_federation_work_for_both_tools() {
    let mut c = GcpCase::new();
    c.set("GOOGLE_OAUTH_ACCESS_TOKEN", None);
    let base = format!("http://127.0.0.1:{}", c.fake.port);
    let impersonation =
        format!("{base}/v1/projects/-/serviceAccounts/{IMPERSONATED}:generateAccessToken");
    let impersonated = serde_json::json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": impersonation,
        "delegates": [],
        "source_credentials": serde_json::from_str::<serde_json::Value>(&c.fake.service_account_json()).unwrap(),
    });
    let subject = c.write("k8s-token", SUBJECT_TOKEN);
    let external = serde_json::json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{base}/v1/token"),
        "credential_source": {"file": subject.display().to_string(), "format": {"type": "text"}},
        "service_account_impersonation_url": impersonation,
    });
    let p = c.write("plain.yaml", PLAIN);
    for (name, creds) in [("impersonated", &impersonated), ("external", &external)] {
        let f = c.write(&format!("{name}.json"), &creds.to_string());
        c.set(
            "GOOGLE_APPLICATION_CREDENTIALS",
            Some(f.display().to_string()),
        );
        let by_sops = ok(c
            .sops()
            .args(["encrypt", "--gcp-kms", ID])
            .arg(&p)
            .output()
            .unwrap());
        c.fake.clear();
        let by_seal = ok(c
            .seal()
            .args(["encrypt", "--gcp-kms", ID])
            .arg(&p)
            .output()
            .unwrap());
        assert!(
            c.fake
                .seen()
                .iter()
                .any(|s| s.path.ends_with(":generateAccessToken")),
            "{name}: seal did not impersonate: {:?}",
            c.fake.seen()
        );
        let sops_file = c.write("sops.yaml", &by_sops);
        let seal_file = c.write("seal.yaml", &by_seal);
        assert_eq!(
            ok(c.seal().arg("decrypt").arg(&sops_file).output().unwrap()),
            PLAIN,
            "{name}"
        );
        assert_eq!(
            ok(c.sops().arg("decrypt").arg(&seal_file).output().unwrap()),
            PLAIN,
            "{name}"
        );
    }
    // A subject token the STS does not trust: refused for both (exit 128), not shown.
    std::fs::write(&subject, "eyJ.untrusted-subject.sig").unwrap();
    let sops_file = c.home.join("sops.yaml");
    let o = c.seal().arg("decrypt").arg(&sops_file).output().unwrap();
    assert_eq!(o.status.code(), Some(128), "{o:?}");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("The subject token is invalid") && !e.contains("untrusted-subject"),
        "{e}"
    );
    let o = c
        .sops()
        .arg("decrypt")
        .arg(c.home.join("seal.yaml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(128), "sops: {o:?}");
    c.assert_no_metadata_connection();
}
