//! sops's key service protocol against the real sops 3.11, both ways: seal (as `sops` and
//! as itself) as the client of `sops keyservice`, and the real sops as the client of
//! `seal keyservice` / seal's `sops keyservice`. The service alone holds the age key (its
//! own environment); the clients run with `--enable-local-keyservice=false` and no key, so
//! a success proves the data key went through the service (age; PGP through gpg, AWS KMS on moto and Vault
//! transit on OpenBao, whose credentials only the service has). Services listen on a unix
//! socket in a temp dir or a free loopback port, are started by the test under the
//! watchdog of `common::services` and stopped when it ends. The failures (service down,
//! a key the service does not hold) are compared with what the real sops does.

#![cfg(feature = "keyservice")]

mod common;
#[path = "common/services.rs"]
mod services;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{key_file, recipient, seal, sops};
use services::{Service, start};

const PLAIN: &str = "db:\n    password: hunter2\n";

/// A key service holding alice's key: the real sops (`real`) or seal run as `sops`.
fn service(real: bool, dir: &Path, network: &str) -> (Service, String) {
    service_env(real, dir, network, &[])
}

/// [`service`] with more environment (a cloud key service's credentials).
fn service_env(
    real: bool,
    dir: &Path,
    network: &str,
    more: &[(&'static str, String)],
) -> (Service, String) {
    let (address, uri, port) = match network {
        "unix" => {
            let sock = dir.join("ks.sock");
            let s = sock.display().to_string();
            (s.clone(), format!("unix://{s}"), 0)
        }
        _ => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            (
                format!("127.0.0.1:{port}"),
                format!("tcp://127.0.0.1:{port}"),
                port,
            )
        }
    };
    let program: PathBuf = if real {
        common::sops_bin()
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_seal"))
    };
    let mut args: Vec<String> = Vec::new();
    if !real {
        args.push("sops".into());
    }
    for a in ["keyservice", "--network", network, "--address", &address] {
        args.push(a.into());
    }
    let alice = key_file("alice").display().to_string();
    let sock = PathBuf::from(&address);
    let mut envs: Vec<(&str, &str)> = vec![("SOPS_AGE_KEY_FILE", alice.as_str())];
    envs.extend(more.iter().map(|(k, v)| (*k, v.as_str())));
    let svc = start(&program, &args, &envs, port, move |p| {
        if network == "unix" {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        } else {
            std::net::TcpStream::connect(("127.0.0.1", p)).is_ok()
        }
    });
    (svc, uri)
}

/// Write PLAIN as `name` in `dir`, encrypted for `who` by the real sops (`real`) or seal.
fn encrypted(real: bool, dir: &Path, name: &str, who: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, PLAIN).unwrap();
    let r = recipient(who);
    let ok = if real {
        sops(dir)
            .args(["encrypt", "-i", "--age", &r, name])
            .status()
            .unwrap()
            .success()
    } else {
        seal(dir)
            .args(["encrypt", "-i", "--age", &r, name])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(ok, "encrypting {name}");
    p
}

/// `sops ARGS` (seal as sops when `!real`) in `dir`, no key of its own, bounded.
fn client(real: bool, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = if real {
        let mut c = sops(dir);
        c.args(args);
        let child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_bounded(child)
    } else {
        seal(dir)
            .arg("sops")
            .args(args)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    };
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn wait_bounded(mut child: std::process::Child) -> std::process::Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the real sops did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The real sops decrypts `file` with alice's key (its own environment).
fn real_decrypt(dir: &Path, file: &Path) -> String {
    let o = sops(dir)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", &file.display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// One direction: `client_real` talks to a service (`service_real`) on `network`.
fn both_ways(client_real: bool, service_real: bool, network: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (svc, uri) = service(service_real, dir, network);
    let remote = [
        "--keyservice",
        uri.as_str(),
        "--enable-local-keyservice=false",
    ];
    // Made by the other side, so each direction reads a foreign file.
    let file = encrypted(!client_real, dir, "s.yaml", "alice");
    let f = file.display().to_string();

    // The client has no key: without the service the file does not open.
    let (code, _, _) = client(client_real, dir, &["decrypt", &f]);
    assert_eq!(code, 128, "no key without the service");

    let mut args = vec!["decrypt"];
    args.extend(remote);
    args.push(&f);
    let (code, out, err) = client(client_real, dir, &args);
    assert_eq!(
        (code, out.as_str()),
        (0, PLAIN),
        "{err}\nservice log:\n{}",
        svc.log()
    );

    // Encrypt through the service; the real sops opens the result with alice's key.
    let new = dir.join("new.yaml");
    std::fs::write(&new, PLAIN).unwrap();
    let alice = recipient("alice");
    let n = new.display().to_string();
    let mut args = vec!["encrypt", "-i", "--age", alice.as_str()];
    args.extend(remote);
    args.push(&n);
    let (code, _, err) = client(client_real, dir, &args);
    assert_eq!(code, 0, "{err}\nservice log:\n{}", svc.log());
    assert!(std::fs::read_to_string(&new).unwrap().contains("ENC["));
    assert_eq!(real_decrypt(dir, &new), PLAIN);
}

#[test]
fn seal_as_sops_uses_the_real_sops_keyservice_on_a_unix_socket() {
    both_ways(false, true, "unix");
}

#[test]
fn seal_as_sops_uses_the_real_sops_keyservice_over_tcp() {
    both_ways(false, true, "tcp");
}

#[test]
fn the_real_sops_uses_seals_keyservice_on_a_unix_socket() {
    both_ways(true, false, "unix");
}

#[test]
fn the_real_sops_uses_seals_keyservice_over_tcp() {
    both_ways(true, false, "tcp");
}

#[test]
fn seals_own_command_line_takes_key_services() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (svc, uri) = service(true, dir, "unix");
    let file = encrypted(true, dir, "s.yaml", "alice");
    let o = seal(dir)
        .args([
            "decrypt",
            "--enable-local-keyservice=false",
            "--keyservice",
            &uri,
        ])
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        svc.log()
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), PLAIN);
    // SOPS_KEYSERVICE names it too, as for sops.
    let o = seal(dir)
        .env("SOPS_KEYSERVICE", &uri)
        .args(["decrypt", "--enable-local-keyservice=false"])
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_service_that_is_down_fails_as_in_sops() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let uri = format!("unix://{}/none.sock", dir.display());
    let file = encrypted(true, dir, "s.yaml", "alice");
    let f = file.display().to_string();
    let remote = [
        "--keyservice",
        uri.as_str(),
        "--enable-local-keyservice=false",
    ];
    let mut dec = vec!["decrypt"];
    dec.extend(remote);
    dec.push(&f);
    let new = dir.join("new.yaml");
    std::fs::write(&new, PLAIN).unwrap();
    let alice = recipient("alice");
    let n = new.display().to_string();
    let mut enc = vec!["encrypt", "--age", alice.as_str()];
    enc.extend(remote);
    enc.push(&n);
    for (args, want) in [(&dec, 128), (&enc, 1)] {
        let (real, _, _) = client(true, dir, args);
        let (code, out, err) = client(false, dir, args);
        assert_eq!((real, code), (want, want), "{args:?}: {err}");
        assert!(out.is_empty());
        assert!(
            err.contains(&uri) && err.contains("cannot connect"),
            "{err}"
        );
        assert!(err.contains(&format!("age key {alice}")), "{err}");
    }
}

#[test]
fn a_key_the_service_does_not_hold_fails_as_in_sops() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = encrypted(true, dir, "bob.yaml", "bob");
    let f = file.display().to_string();
    for service_real in [true, false] {
        let (svc, uri) = service(service_real, dir, if service_real { "tcp" } else { "unix" });
        let args = [
            "decrypt",
            "--keyservice",
            &uri,
            "--enable-local-keyservice=false",
            &f,
        ];
        let (real, _, real_err) = client(true, dir, &args);
        let (code, out, err) = client(false, dir, &args);
        assert_eq!((real, code), (128, 128), "{real_err}\n{err}\n{}", svc.log());
        assert!(out.is_empty());
        assert!(
            err.contains("could not decrypt the data key") && err.contains(&uri),
            "{err}"
        );
        assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
        drop(svc);
        let _ = std::fs::remove_file(dir.join("ks.sock"));
    }
}

/// `seal keyservice` run directly (not under the watchdog) so the test writes its standard
/// input; killed when dropped.
struct Direct(std::process::Child);

impl Drop for Direct {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prompt_asks_before_each_request_and_n_is_sops_refusal() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sock = dir.join("p.sock");
    let mut server = Direct(
        std::process::Command::new(env!("CARGO_BIN_EXE_seal"))
            .args(["keyservice", "--network", "unix", "--prompt", "--address"])
            .arg(&sock)
            .env_clear()
            .env("HOME", dir)
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let file = encrypted(true, dir, "s.yaml", "alice");
    let uri = format!("unix://{}", sock.display());
    let args = [
        "decrypt",
        "--keyservice",
        uri.as_str(),
        "--enable-local-keyservice=false",
        &file.display().to_string(),
    ]
    .map(str::to_string);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdin = server.0.stdin.as_mut().unwrap();
    // An answer other than y or n asks again; y answers.
    stdin.write_all(b"maybe\ny\n").unwrap();
    let (code, out, err) = client(true, dir, &args);
    assert_eq!((code, out.as_str()), (0, PLAIN), "{err}");
    stdin.write_all(b"n\n").unwrap();
    let (code, _, err) = client(false, dir, &args);
    assert_eq!(code, 128, "{err}");
    assert!(err.contains("Request rejected by user"), "{err}");
    drop(server.0.stdin.take());
    let _ = server.0.kill();
    let mut shown = String::new();
    use std::io::Read;
    server
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut shown)
        .unwrap();
    let alice = recipient("alice");
    let q = format!("Received decrypt request using age key {alice}. Respond to request? (y/n): ");
    assert_eq!(shown.matches(&q).count(), 3, "{shown}");
}

#[test]
fn a_non_loopback_address_is_warned_about() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let svc = start(
        Path::new(env!("CARGO_BIN_EXE_seal")),
        &[
            "keyservice".into(),
            "--addr".into(),
            format!("0.0.0.0:{port}"),
        ],
        &[],
        port,
        |p| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok(),
    );
    let started = std::time::Instant::now();
    while !svc.log().contains("warning") && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = svc.log();
    assert!(
        log.contains(&format!("listening on tcp://0.0.0.0:{port}")),
        "{log}"
    );
    assert!(
        log.contains("not a loopback address") && log.contains("no TLS"),
        "{log}"
    );
}

#[test]
fn a_busy_address_is_a_clear_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let o = seal(tmp.path())
        .args(["sops", "keyservice", "--addr", &addr])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("cannot listen on tcp://{addr}")),
        "{err}"
    );
}

/// A file encrypted for a non-age key (`key_args`) through each service in turn, by the other
/// side's client (neither client has the credentials in `env`), then decrypted through the
/// service by both clients. `shows` is a part of the key the file's metadata must hold.
fn cloud_key_through_either_service(
    key_args: &[&str],
    env: &[(&'static str, String)],
    shows: &str,
) {
    for service_real in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (svc, uri) = service_env(service_real, dir, "unix", env);
        let new = dir.join("cloud.yaml");
        std::fs::write(&new, PLAIN).unwrap();
        let n = new.display().to_string();
        let remote = [
            "--keyservice",
            uri.as_str(),
            "--enable-local-keyservice=false",
        ];
        let mut args = vec!["encrypt", "-i"];
        args.extend(key_args);
        args.extend(remote);
        args.push(&n);
        let (code, _, err) = client(!service_real, dir, &args);
        assert_eq!(code, 0, "{err}\nservice log:\n{}", svc.log());
        let text = std::fs::read_to_string(&new).unwrap();
        assert!(text.contains(shows), "{text}");
        for client_real in [true, false] {
            let mut args = vec!["decrypt"];
            args.extend(remote);
            args.push(&n);
            let (code, out, err) = client(client_real, dir, &args);
            assert_eq!(
                (code, out.as_str()),
                (0, PLAIN),
                "client real={client_real}, service real={service_real}: {err}\n{}",
                svc.log()
            );
        }
    }
}

#[test]
fn aws_kms_keys_with_a_context_go_through_either_service() {
    let moto = services::moto();
    let arn = services::kms_key(moto);
    let args = ["--kms", &arn, "--encryption-context", "env:prod,team:a"];
    cloud_key_through_either_service(&args, &services::aws_env(moto), "team: a");
}

#[test]
fn vault_transit_keys_go_through_either_service() {
    let bao = services::bao();
    let uri = services::transit_key(bao, "keyservice");
    let env = [("VAULT_TOKEN", services::BAO_ROOT_TOKEN.to_string())];
    cloud_key_through_either_service(&["--hc-vault-transit", &uri], &env, "key_name: keyservice");
}

#[test]
fn pgp_keys_go_through_either_service() {
    use std::os::unix::fs::PermissionsExt;
    const FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
    let tmp = tempfile::tempdir().unwrap();
    let gnupg = tmp.path().join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/sops_functional_tests_key.asc");
    let o = std::process::Command::new("gpg")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--import"])
        .arg(&key)
        .output()
        .expect("gpg is required: install gnupg (scripts/install-peers.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Only the service has the key ring.
    let env = [("GNUPGHOME", gnupg.display().to_string())];
    cloud_key_through_either_service(&["--pgp", FP], &env, FP);
}

#[test]
fn sigterm_stops_seals_server_and_removes_its_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("ks.sock");
    let (svc, _) = service(false, tmp.path(), "unix");
    assert!(sock.exists());
    drop(svc); // the watchdog sends SIGTERM to the server's process group
    let started = std::time::Instant::now();
    while sock.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!sock.exists(), "the socket is left after SIGTERM");
}
