//! `seal seal` end to end, against an independent implementation: PyPI `kubesealpy`
//! (installed into .venv by scripts/install-peers.sh; the test fails, never skips, without
//! it). What seal seals, kubesealpy unseals with the controller's private key; what
//! kubesealpy seals, `seal seal --recovery-unseal` opens; a changed name or namespace does
//! not open; the manifests validate against the SealedSecret CRD. A second sealer, npm
//! `@linode/kubeseal-encrypt` (.venv/npm), seals values that seal opens. Keys and certificates are
//! made by the test (Python `cryptography`, which kubesealpy brings).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{check_jsonschema, crd_schema, key_file, recipient, seal, sops, venv_tool};

/// The peer side: key and certificate generation, kubesealpy sealing and unsealing.
const PEER: &str = r#"
import base64, datetime, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from kubesealpy import Sealer, Unsealer, SealingScope, SealedSecret

cmd = sys.argv[1]
if cmd == "gen":
    out, offset_days = sys.argv[2], int(sys.argv[3])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset_days)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650 if offset_days == 0 else 1))
            .sign(key, hashes.SHA256()))
    open(out + "/cert.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(out + "/key.pem", "wb").write(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    open(out + "/pub.pem", "wb").write(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    open(out + "/key-pkcs1.pem", "wb").write(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
elif cmd == "unseal":
    unsealer = Unsealer.from_private_key_file(sys.argv[2])
    ss = SealedSecret.from_yaml(open(sys.argv[3]).read())
    secret = unsealer.unseal(ss)
    print(json.dumps({"name": secret.metadata.name, "namespace": secret.metadata.namespace,
                      "data": {k: base64.b64decode(v).decode() for k, v in secret.data.items()}}))
elif cmd == "seal":
    cert, name, ns, scope = sys.argv[2:6]
    data = dict(kv.split("=", 1) for kv in sys.argv[6:])
    scope = {"strict": SealingScope.STRICT, "namespace-wide": SealingScope.NAMESPACE_WIDE,
             "cluster-wide": SealingScope.CLUSTER_WIDE}[scope]
    ss = Sealer.from_certificate_file(cert).seal(
        name, ns, {k: v.encode() for k, v in data.items()}, scope=scope,
        labels={"app": name})
    sys.stdout.write(ss.to_yaml())
elif cmd == "unseal-raw":
    key, ns, name, scope, value = sys.argv[2:7]
    scope = {"strict": SealingScope.STRICT, "namespace-wide": SealingScope.NAMESPACE_WIDE,
             "cluster-wide": SealingScope.CLUSTER_WIDE}[scope]
    print(Unsealer.from_private_key_file(key).unseal_value(
        base64.b64decode(value), ns, name, scope).decode())
"#;

fn peer(args: &[&str]) -> std::process::Output {
    Command::new(venv_tool("python"))
        .arg("-c")
        .arg(PEER)
        .args(args)
        .output()
        .expect("run the kubesealpy peer")
}

fn peer_ok(args: &[&str]) -> String {
    let out = peer(args);
    assert!(
        out.status.success(),
        "kubesealpy peer {args:?} failed (install it with scripts/install-peers.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("peer output is UTF-8")
}

/// A controller key pair in `dir`: cert.pem, key.pem (PKCS#8), key-pkcs1.pem. `offset_days`
/// 0 is valid now; -30 has expired, 30 is not valid yet.
fn keypair(dir: &Path, offset_days: i32) {
    peer_ok(&["gen", dir.to_str().unwrap(), &offset_days.to_string()]);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: apps
  labels:
    app.kubernetes.io/name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{\"stringData\":{\"password\":\"hunter2\"}}'
    team: data
type: kubernetes.io/basic-auth
data:
  username: YWRtaW4=
  password: b2xk
stringData:
  password: hunter2
";

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    keypair(&dir, 0);
    std::fs::write(dir.join("secret.yaml"), SECRET).unwrap();
    Fixture { _tmp: tmp, dir }
}

fn validate(dir: &Path, manifest: &Path) {
    let schema = crd_schema(dir, "bitnami.com_sealedsecrets.yaml", "v1alpha1");
    let out = check_jsonschema(&schema, &[manifest.to_path_buf()]);
    assert!(
        out.status.success(),
        "{} does not validate against the SealedSecret CRD:\n{}{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn seal_seals_what_kubesealpy_unseals() {
    let f = fixture();
    let out = f.dir.join("sealed.yaml");
    seal(&f.dir)
        .args([
            "seal",
            "secret.yaml",
            "--cert",
            "cert.pem",
            "-o",
            "sealed.yaml",
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("kind: SealedSecret"), "{text}");
    assert!(text.contains("apiVersion: bitnami.com/v1alpha1"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("b2xk"),
        "{text}"
    );
    assert!(!text.contains("last-applied-configuration"), "{text}");
    assert!(text.contains("team: data"), "{text}");
    assert!(text.contains("type: kubernetes.io/basic-auth"), "{text}");
    validate(&f.dir, &out);
    let json = peer_ok(&["unseal", s(&f.dir.join("key.pem")), s(&out)]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["data"]["password"], "hunter2",
        "stringData overrides data"
    );
    assert_eq!(v["data"]["username"], "admin");
    assert_eq!(v["namespace"], "apps");
}

#[test]
fn scopes_set_kubeseal_annotations_and_labels() {
    let f = fixture();
    for (scope, annotation) in [
        (
            "namespace-wide",
            Some("sealedsecrets.bitnami.com/namespace-wide"),
        ),
        (
            "cluster-wide",
            Some("sealedsecrets.bitnami.com/cluster-wide"),
        ),
        ("strict", None),
    ] {
        let name = format!("{scope}.yaml");
        seal(&f.dir)
            .args([
                "seal",
                "secret.yaml",
                "--cert",
                "cert.pem",
                "--scope",
                scope,
                "-o",
            ])
            .arg(&name)
            .assert()
            .success();
        let text = std::fs::read_to_string(f.dir.join(&name)).unwrap();
        match annotation {
            Some(a) => assert!(text.contains(&format!("{a}: \"true\"")), "{text}"),
            None => assert!(!text.contains("sealedsecrets.bitnami.com/"), "{text}"),
        }
        validate(&f.dir, &f.dir.join(&name));
        // kubesealpy reads the scope from the annotations and builds the same label.
        let json = peer_ok(&["unseal", s(&f.dir.join("key.pem")), s(&f.dir.join(&name))]);
        assert!(json.contains("hunter2"), "{scope}: {json}");
    }
}

#[test]
fn kubesealpy_seals_what_recovery_unseal_opens_and_a_changed_scope_fails() {
    let f = fixture();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let yaml = peer_ok(&[
            "seal",
            s(&f.dir.join("cert.pem")),
            "web",
            "prod",
            scope,
            "token=s3cr3t value",
            "other=x",
        ]);
        std::fs::write(f.dir.join("peer.yaml"), &yaml).unwrap();
        validate(&f.dir, &f.dir.join("peer.yaml"));
        for key in ["key.pem", "key-pkcs1.pem"] {
            let out = seal(&f.dir)
                .args([
                    "seal",
                    "peer.yaml",
                    "--recovery-unseal",
                    "--recovery-private-key",
                    key,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{scope} {key}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(
                text.contains(&STANDARD.encode("s3cr3t value")),
                "{scope}: {text}"
            );
            assert!(text.contains("kind: Secret"), "{text}");
        }
        // Rename and move it: strict breaks on either, namespace-wide on the namespace,
        // cluster-wide on neither.
        for (from, to, breaks) in [
            ("name: web", "name: api", scope == "strict"),
            ("namespace: prod", "namespace: dev", scope != "cluster-wide"),
        ] {
            std::fs::write(f.dir.join("moved.yaml"), yaml.replace(from, to)).unwrap();
            let out = seal(&f.dir)
                .args([
                    "seal",
                    "moved.yaml",
                    "--recovery-unseal",
                    "--recovery-private-key",
                    "key.pem",
                ])
                .output()
                .unwrap();
            assert_eq!(!out.status.success(), breaks, "{scope}: {from} -> {to}");
            if breaks {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("moved.yaml"), "{err}");
                assert!(err.contains("no private key could unseal"), "{err}");
                assert_eq!(out.status.code(), Some(25));
            }
        }
    }
}

#[test]
fn wrong_key_fails_to_unseal() {
    let f = fixture();
    let other = tempfile::tempdir().unwrap();
    keypair(other.path(), 0);
    seal(&f.dir)
        .args([
            "seal",
            "secret.yaml",
            "--cert",
            "cert.pem",
            "-o",
            "sealed.yaml",
        ])
        .assert()
        .success();
    let out = peer(&[
        "unseal",
        s(&other.path().join("key.pem")),
        s(&f.dir.join("sealed.yaml")),
    ]);
    assert!(!out.status.success(), "another key opened it");
    seal(&f.dir)
        .args([
            "seal",
            "sealed.yaml",
            "--recovery-unseal",
            "--recovery-private-key",
        ])
        .arg(other.path().join("key.pem"))
        .assert()
        .code(25);
}

/// The controller's key backup, as `kubectl get secret -l
/// sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` writes it: a List of
/// kubernetes.io/tls Secrets (an older key first), YAML or JSON.
#[test]
fn recovery_reads_the_controllers_key_backup() {
    let f = fixture();
    let old = tempfile::tempdir().unwrap();
    keypair(old.path(), 0);
    let secret_for = |dir: &Path, n: &str| {
        let key = STANDARD.encode(std::fs::read(dir.join("key-pkcs1.pem")).unwrap());
        let crt = STANDARD.encode(std::fs::read(dir.join("cert.pem")).unwrap());
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": n, "namespace": "kube-system",
                         "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
            "data": {"tls.crt": crt, "tls.key": key}
        })
    };
    let list = serde_json::json!({
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
        "items": [secret_for(old.path(), "sealed-secrets-keyold"), secret_for(&f.dir, "sealed-secrets-keynew")]
    });
    std::fs::write(
        f.dir.join("backup.json"),
        serde_json::to_string_pretty(&list).unwrap(),
    )
    .unwrap();
    // The same List as YAML (JSON is YAML), and a single Secret.
    std::fs::write(
        f.dir.join("backup.yaml"),
        serde_json::to_string(&list).unwrap(),
    )
    .unwrap();
    std::fs::write(
        f.dir.join("one.yaml"),
        serde_json::to_string(&secret_for(&f.dir, "k")).unwrap(),
    )
    .unwrap();
    seal(&f.dir)
        .args([
            "seal",
            "secret.yaml",
            "--cert",
            "cert.pem",
            "-o",
            "sealed.yaml",
        ])
        .assert()
        .success();
    for backup in ["backup.json", "backup.yaml", "one.yaml"] {
        let out = seal(&f.dir)
            .args([
                "seal",
                "sealed.yaml",
                "--recovery-unseal",
                "--recovery-private-key",
                backup,
                "-o",
                "plain.yaml",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{backup}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(f.dir.join("plain.yaml")).unwrap();
        assert!(text.contains(&STANDARD.encode("hunter2")), "{text}");
        assert!(text.contains("app.kubernetes.io/name: db"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(f.dir.join("plain.yaml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the unsealed Secret is private");
        }
    }
    std::fs::write(f.dir.join("nokeys.yaml"), "kind: List\nitems: []\n").unwrap();
    let out = seal(&f.dir)
        .args([
            "seal",
            "sealed.yaml",
            "--recovery-unseal",
            "--recovery-private-key",
            "nokeys.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nokeys.yaml"));
}

#[test]
fn merge_into_replaces_one_key_and_keeps_the_rest() {
    let f = fixture();
    let yaml = peer_ok(&[
        "seal",
        s(&f.dir.join("cert.pem")),
        "web",
        "prod",
        "namespace-wide",
        "token=old",
        "keep=kept",
    ]);
    std::fs::write(f.dir.join("web.yaml"), &yaml).unwrap();
    std::fs::write(
        f.dir.join("update.yaml"),
        "kind: Secret\nmetadata:\n  name: ignored\nstringData:\n  token: new\n  added: yes-added\n",
    )
    .unwrap();
    seal(&f.dir)
        .args([
            "seal",
            "update.yaml",
            "--cert",
            "cert.pem",
            "--merge-into",
            "web.yaml",
        ])
        .assert()
        .success();
    let merged = std::fs::read_to_string(f.dir.join("web.yaml")).unwrap();
    let keep_line = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("keep:"))
            .map(str::to_string)
    };
    assert_eq!(keep_line(&merged), keep_line(&yaml), "keep is untouched");
    validate(&f.dir, &f.dir.join("web.yaml"));
    let json = peer_ok(&[
        "unseal",
        s(&f.dir.join("key.pem")),
        s(&f.dir.join("web.yaml")),
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["data"]["token"], "new");
    assert_eq!(v["data"]["keep"], "kept");
    assert_eq!(v["data"]["added"], "yes-added");
    assert_eq!(v["name"], "web");
}

#[test]
fn raw_seals_one_value_for_kubesealpy() {
    let f = fixture();
    std::fs::write(f.dir.join("value.txt"), "raw-value").unwrap();
    for (scope, extra) in [
        ("strict", vec!["--name", "web", "--namespace", "prod"]),
        ("namespace-wide", vec!["--namespace", "prod"]),
        ("cluster-wide", vec![]),
    ] {
        let out = seal(&f.dir)
            .args([
                "seal",
                "value.txt",
                "--raw",
                "--cert",
                "cert.pem",
                "--scope",
                scope,
            ])
            .args(&extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let b64 = String::from_utf8(out.stdout).unwrap();
        let plain = peer_ok(&[
            "unseal-raw",
            s(&f.dir.join("key.pem")),
            "prod",
            "web",
            scope,
            b64.trim(),
        ]);
        assert_eq!(plain.trim(), "raw-value", "{scope}");
    }
    let out = seal(&f.dir)
        .args([
            "seal",
            "value.txt",
            "--raw",
            "--cert",
            "cert.pem",
            "--namespace",
            "prod",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "strict --raw without --name");
}

#[test]
fn namespace_required_unless_cluster_wide() {
    let f = fixture();
    std::fs::write(
        f.dir.join("nons.yaml"),
        "kind: Secret\nmetadata:\n  name: a\nstringData:\n  k: v\n",
    )
    .unwrap();
    let out = seal(&f.dir)
        .args(["seal", "nons.yaml", "--cert", "cert.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nons.yaml") && err.contains("namespace"),
        "{err}"
    );
    seal(&f.dir)
        .args([
            "seal",
            "nons.yaml",
            "--cert",
            "cert.pem",
            "--namespace",
            "x",
        ])
        .assert()
        .success();
    let out = seal(&f.dir)
        .args([
            "seal",
            "nons.yaml",
            "--cert",
            "cert.pem",
            "--scope",
            "cluster-wide",
            "-o",
            "cw.json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.dir.join("cw.json")).unwrap()).unwrap();
    assert_eq!(
        v["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"],
        "true"
    );
}

#[test]
fn expired_and_future_certificates_are_refused_unless_overridden() {
    let f = fixture();
    for (offset, says) in [(-30, "expired"), (30, "not valid yet")] {
        let d = tempfile::tempdir().unwrap();
        keypair(d.path(), offset);
        let out = seal(&f.dir)
            .args(["seal", "secret.yaml", "--cert"])
            .arg(d.path().join("cert.pem"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && err.contains("cert.pem"), "{err}");
        assert!(err.contains("--allow-invalid-cert"), "{err}");
        assert!(out.stdout.is_empty());
        seal(&f.dir)
            .args(["seal", "secret.yaml", "--allow-invalid-cert", "--cert"])
            .arg(d.path().join("cert.pem"))
            .assert()
            .success();
    }
}

#[test]
fn bad_inputs_name_the_file() {
    let f = fixture();
    std::fs::write(f.dir.join("notcert.pem"), "hello\n").unwrap();
    std::fs::write(
        f.dir.join("cm.yaml"),
        "kind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    let out = seal(&f.dir)
        .args(["seal", "secret.yaml", "--cert", "notcert.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("notcert.pem"));
    let out = seal(&f.dir)
        .args(["seal", "cm.yaml", "--cert", "cert.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cm.yaml") && err.contains("kind: Secret"),
        "{err}"
    );
    let out = seal(&f.dir)
        .args(["seal", "missing.yaml", "--cert", "cert.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
}

/// npm `@linode/kubeseal-encrypt` seals one value (its "namespace" argument is the OAEP label).
fn linode_seal(pub_pem: &Path, label: &str, value: &str) -> std::process::Output {
    let module = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/npm/node_modules/@linode/kubeseal-encrypt");
    assert!(
        module.join("package.json").exists(),
        "@linode/kubeseal-encrypt is required by this test but {} does not exist: run scripts/install-peers.sh",
        module.display()
    );
    let script = "const [m, pem, label, value] = process.argv.slice(1);\n\
        require(m).encryptSecretItem(require('fs').readFileSync(pem, 'utf8'), label, value)\n\
        .then(x => process.stdout.write(x), e => { console.error(e.message); process.exit(3); });";
    Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&module)
        .arg(pub_pem)
        .arg(label)
        .arg(value)
        .output()
        .unwrap_or_else(|e| panic!("node is required by this test (scripts/install-peers.sh): {e}"))
}

/// What @linode/kubeseal-encrypt seals for a namespace, seal opens as a namespace-wide
/// SealedSecret of that namespace (any name), and not in another namespace. Its public
/// function refuses labels that are not namespace names, so `namespace/name` (strict) and
/// the empty label (cluster-wide) cannot be made with it: that refusal is checked too.
#[test]
fn linode_kubeseal_encrypt_seals_what_seal_opens() {
    let f = fixture();
    let out = linode_seal(&f.dir.join("pub.pem"), "prod", "from node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = String::from_utf8(out.stdout).unwrap();
    for (ns, opens) in [("prod", true), ("dev", false)] {
        let manifest = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: any\n  namespace: {ns}\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\nspec:\n  encryptedData:\n    v: {value}\n"
        );
        std::fs::write(f.dir.join("node.yaml"), manifest).unwrap();
        validate(&f.dir, &f.dir.join("node.yaml"));
        let out = seal(&f.dir)
            .args([
                "seal",
                "node.yaml",
                "--recovery-unseal",
                "--recovery-private-key",
                "key.pem",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.success(),
            opens,
            "{ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if opens {
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(text.contains(&STANDARD.encode("from node")), "{text}");
        }
    }
    for label in ["prod/web", ""] {
        let out = linode_seal(&f.dir.join("pub.pem"), label, "x");
        assert!(
            !out.status.success(),
            "@linode/kubeseal-encrypt took the label {label:?}"
        );
    }
}

#[test]
fn secret_new_sealed_writes_a_sealed_secret_kubesealpy_opens() {
    let f = fixture();
    std::fs::write(f.dir.join("ca.crt"), "CERT BYTES").unwrap();
    let out = seal(&f.dir)
        .args([
            "secret",
            "new",
            "postgres",
            "--name",
            "db",
            "-n",
            "apps",
            "--sealed",
            "--cert",
            "cert.pem",
            "--from-file",
            "ca.crt=ca.crt",
            "-o",
            "db.sealed.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("SealedSecret db"));
    let path = f.dir.join("db.sealed.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("kind: SealedSecret") && !text.contains("sops:"),
        "{text}"
    );
    validate(&f.dir, &path);
    let json = peer_ok(&["unseal", s(&f.dir.join("key.pem")), s(&path)]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["data"]["ca.crt"], "CERT BYTES");
    let pw = v["data"]["password"].as_str().unwrap();
    assert!(pw.len() >= 16, "a generated password: {pw:?}");
    assert!(!text.contains(pw), "the password is not in the manifest");
    // --sealed without --cert, and --cert without --sealed, are usage errors.
    seal(&f.dir)
        .args([
            "secret", "new", "redis", "--name", "r", "-n", "a", "--sealed",
        ])
        .assert()
        .failure();
    seal(&f.dir)
        .args([
            "secret", "new", "redis", "--name", "r", "-n", "a", "--cert", "cert.pem",
        ])
        .assert()
        .failure();
}

#[test]
fn reseal_moves_a_sealed_secret_to_a_new_certificate() {
    let f = fixture();
    let new = tempfile::tempdir().unwrap();
    keypair(new.path(), 0);
    let yaml = peer_ok(&[
        "seal",
        s(&f.dir.join("cert.pem")),
        "web",
        "prod",
        "strict",
        "token=rotate-me",
    ]);
    std::fs::write(f.dir.join("web.yaml"), &yaml).unwrap();
    // Without the old key it cannot be done, and says so.
    let out = seal(&f.dir)
        .args(["seal", "web.yaml", "--reseal", "--cert"])
        .arg(new.path().join("cert.pem"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--recovery-private-key"));
    let out = seal(&f.dir)
        .args([
            "seal",
            "web.yaml",
            "--reseal",
            "--recovery-private-key",
            "key.pem",
            "-o",
            "new.yaml",
            "--cert",
        ])
        .arg(new.path().join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = f.dir.join("new.yaml");
    validate(&f.dir, &moved);
    assert!(
        std::fs::read_to_string(&moved)
            .unwrap()
            .contains("app: web")
    );
    let json = peer_ok(&["unseal", s(&new.path().join("key.pem")), s(&moved)]);
    assert!(json.contains("rotate-me"), "{json}");
    let old = peer(&["unseal", s(&f.dir.join("key.pem")), s(&moved)]);
    assert!(
        !old.status.success(),
        "the old key still opens the resealed values"
    );
    // A wrong old key: the values cannot be opened.
    let out = seal(&f.dir)
        .args(["seal", "web.yaml", "--reseal", "-o", "x.yaml"])
        .arg("--recovery-private-key")
        .arg(new.path().join("key.pem"))
        .arg("--cert")
        .arg(new.path().join("cert.pem"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(25),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn standard_input_in_standard_output_out() {
    let f = fixture();
    let out = seal(&f.dir)
        .args(["seal", "-", "--cert", "cert.pem"])
        .write_stdin(SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(f.dir.join("piped.yaml"), &out.stdout).unwrap();
    validate(&f.dir, &f.dir.join("piped.yaml"));
    let json = peer_ok(&[
        "unseal",
        s(&f.dir.join("key.pem")),
        s(&f.dir.join("piped.yaml")),
    ]);
    assert!(json.contains("hunter2"), "{json}");
}

// ---------------------------------------------------------------- sops <-> SealedSecret

/// The values a Secret stands for, as the real sops decrypts `file` (with `key`):
/// `data` decoded, `stringData` overriding it.
fn sops_secret_values(
    dir: &Path,
    file: &str,
    key: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let out = sops(dir)
        .env("SOPS_AGE_KEY_FILE", key_file(key))
        .args(["decrypt", "--output-type", "json", file])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the real sops cannot decrypt {file} with {key}'s key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "Secret", "{doc}");
    let mut values = serde_json::Map::new();
    if let Some(data) = doc["data"].as_object() {
        for (k, v) in data {
            let bytes = STANDARD.decode(v.as_str().unwrap()).unwrap();
            values.insert(k.clone(), String::from_utf8(bytes).unwrap().into());
        }
    }
    if let Some(data) = doc["stringData"].as_object() {
        for (k, v) in data {
            values.insert(k.clone(), v.clone());
        }
    }
    values
}

const SOPS_RULES: &str = "creation_rules:
  - path_regex: \\.sops\\.yaml$
    encrypted_regex: ^(data|stringData)$
    age: ALICE
";

/// A sops-encrypted Secret (made by the real sops, for alice, from the creation rule) is
/// sealed with no plaintext on disk; the SealedSecret comes back through --recovery-unseal
/// --to-sops as a sops file for the rule (or --age), which the real sops decrypts to every
/// value the first file held.
#[test]
fn sops_secret_to_sealed_secret_and_back_keeps_every_value() {
    let f = fixture();
    let rt = f.dir.join("rt");
    std::fs::create_dir(&rt).unwrap();
    std::fs::write(
        f.dir.join(".sops.yaml"),
        SOPS_RULES.replace("ALICE", &recipient("alice")),
    )
    .unwrap();
    std::fs::write(f.dir.join("db.sops.yaml"), SECRET).unwrap();
    std::fs::remove_file(f.dir.join("secret.yaml")).unwrap();
    let out = sops(&f.dir)
        .args(["encrypt", "-i", "db.sops.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original = sops_secret_values(&f.dir, "db.sops.yaml", "alice");
    assert_eq!(original.len(), 2, "{original:?}");
    let before: Vec<PathBuf> = common::walk_all(&f.dir);

    let with_keys = |c: &mut assert_cmd::Command| {
        c.env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .env("TMPDIR", &rt)
            .env("XDG_RUNTIME_DIR", &rt);
    };
    let mut c = seal(&f.dir);
    with_keys(&mut c);
    c.args([
        "seal",
        "db.sops.yaml",
        "--cert",
        "cert.pem",
        "-o",
        "db-sealed.yaml",
    ])
    .assert()
    .success();
    // Only the SealedSecret was written: no plaintext anywhere, nothing left in TMPDIR.
    let mut after = common::walk_all(&f.dir);
    after.retain(|p| !before.contains(p));
    assert_eq!(after, [f.dir.join("db-sealed.yaml")]);
    let sealed = std::fs::read_to_string(f.dir.join("db-sealed.yaml")).unwrap();
    assert!(sealed.contains("kind: SealedSecret"), "{sealed}");
    for v in ["hunter2", "admin", "YWRtaW4=", "ENC["] {
        assert!(!sealed.contains(v), "{v} in {sealed}");
    }
    validate(&f.dir, &f.dir.join("db-sealed.yaml"));
    let json = peer_ok(&[
        "unseal",
        s(&f.dir.join("key.pem")),
        s(&f.dir.join("db-sealed.yaml")),
    ]);
    let opened: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::Value::Object(original.clone()), opened["data"]);

    // Back: the creation rule of the -o path picks alice and the selector.
    let mut c = seal(&f.dir);
    c.env("TMPDIR", &rt).env("XDG_RUNTIME_DIR", &rt);
    c.args([
        "seal",
        "db-sealed.yaml",
        "--recovery-unseal",
        "--recovery-private-key",
        "key.pem",
        "--to-sops",
        "-o",
        "back.sops.yaml",
    ])
    .assert()
    .success();
    let back = std::fs::read_to_string(f.dir.join("back.sops.yaml")).unwrap();
    assert!(
        back.contains("encrypted_regex: ^(data|stringData)$"),
        "{back}"
    );
    assert!(back.contains(&recipient("alice")), "{back}");
    assert!(
        back.contains("name: db") && back.contains("type: kubernetes.io/basic-auth"),
        "{back}"
    );
    for v in ["hunter2", "YWRtaW4=", &STANDARD.encode("hunter2")] {
        assert!(!back.contains(v), "{v} in {back}");
    }
    assert_eq!(
        sops_secret_values(&f.dir, "back.sops.yaml", "alice"),
        original
    );

    // --age replaces the rule's keys: only bob opens it.
    let mut c = seal(&f.dir);
    c.env("TMPDIR", &rt).env("XDG_RUNTIME_DIR", &rt);
    let out = c
        .args([
            "seal",
            "db-sealed.yaml",
            "--recovery-unseal",
            "--recovery-private-key",
            "key.pem",
            "--to-sops",
            "--age",
            &recipient("bob"),
            "-o",
            "bob.sops.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sops_secret_values(&f.dir, "bob.sops.yaml", "bob"), original);
    let denied = sops(&f.dir)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "bob.sops.yaml"])
        .output()
        .unwrap();
    assert!(!denied.status.success(), "alice opened bob's file");
    assert!(
        common::walk_all(&rt).is_empty(),
        "left in TMPDIR: {:?}",
        common::walk_all(&rt)
    );
}

/// Without the sops key, sealing a sops file fails as decrypt does (exit 128, the file
/// named) and writes nothing; --to-sops with nobody to encrypt for says so.
#[test]
fn converting_without_keys_fails_and_writes_nothing() {
    let f = fixture();
    std::fs::write(f.dir.join("db.yaml"), SECRET).unwrap();
    let out = sops(&f.dir)
        .args(["encrypt", "-i", "--age", &recipient("alice"), "db.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = seal(&f.dir)
        .env("SOPS_AGE_KEY_FILE", key_file("bob"))
        .args(["seal", "db.yaml", "--cert", "cert.pem", "-o", "sealed.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(128),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("db.yaml"), "{err}");
    assert!(!f.dir.join("sealed.yaml").exists());

    seal(&f.dir)
        .args([
            "seal",
            "secret.yaml",
            "--cert",
            "cert.pem",
            "-o",
            "sealed.yaml",
        ])
        .assert()
        .success();
    let out = seal(&f.dir)
        .args([
            "seal",
            "sealed.yaml",
            "--recovery-unseal",
            "--recovery-private-key",
            "key.pem",
            "--to-sops",
            "-o",
            "back.yaml",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no recipients"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!f.dir.join("back.yaml").exists());
    // --to-sops belongs to --recovery-unseal.
    let out = seal(&f.dir)
        .args(["seal", "secret.yaml", "--cert", "cert.pem", "--to-sops"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--recovery-unseal"));
}

/// `seal external-secret --from` a SealedSecret reads its key names (spec.encryptedData,
/// then spec.template.data), its name, namespace and type, with no key at all; the result
/// validates against the ExternalSecret CRD.
#[test]
fn external_secret_from_a_sealed_secret_takes_key_names_only() {
    let f = fixture();
    seal(&f.dir)
        .args([
            "seal",
            "secret.yaml",
            "--cert",
            "cert.pem",
            "-o",
            "sealed.yaml",
        ])
        .assert()
        .success();
    let mut sealed = std::fs::read_to_string(f.dir.join("sealed.yaml")).unwrap();
    sealed.push_str(
        "    data:\n      url: 'postgres://{{ .username }}:{{ .password }}@db:5432/app'\n",
    );
    std::fs::write(f.dir.join("sealed.yaml"), &sealed).unwrap();
    let out = seal(&f.dir)
        .args(["external-secret", "--from", "sealed.yaml", "-o", "es.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let es = std::fs::read_to_string(f.dir.join("es.yaml")).unwrap();
    for want in [
        "kind: ExternalSecret",
        "  name: db\n",
        "  namespace: apps\n",
        "type: kubernetes.io/basic-auth",
        "username: \"{{ .username }}\"",
        "password: \"{{ .password }}\"",
        "url: \"{{ .url }}\"",
    ] {
        assert!(es.contains(want), "{want} not in\n{es}");
    }
    assert!(!es.contains("AgB") && !es.contains("AQ"), "{es}");
    let schema = crd_schema(&f.dir, "external-secrets.io_externalsecrets.yaml", "v1");
    let v = check_jsonschema(&schema, &[f.dir.join("es.yaml")]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// docs/three-ways.md as written: every `seal` line of its `sh` blocks runs, in order, in
/// a repository with the rule and the certificate it describes; the SealedSecret and the
/// ExternalSecret validate against their CRDs, and the SealedSecret opens (kubesealpy) to
/// the values of the sops file.
#[test]
fn three_ways_doc_runs_as_written() {
    let f = fixture();
    std::fs::remove_file(f.dir.join("secret.yaml")).unwrap();
    std::fs::create_dir(f.dir.join("apps")).unwrap();
    std::fs::write(
        f.dir.join(".sops.yaml"),
        SOPS_RULES.replace("ALICE", &recipient("alice")),
    )
    .unwrap();
    std::fs::rename(f.dir.join("cert.pem"), f.dir.join("pub-cert.pem")).unwrap();
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/three-ways.md"))
            .unwrap();
    let mut lines = Vec::new();
    let mut in_sh = false;
    for line in doc.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && l.starts_with("seal ") => lines.push(l.to_string()),
            _ => {}
        }
    }
    assert!(lines.len() >= 5, "{lines:?}");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_seal")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in &lines {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(&f.dir)
            .env_clear()
            .env("HOME", &f.dir)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env("SEAL_NO_KEYRING", "1")
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docs/three-ways.md: {line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    validate(&f.dir, &f.dir.join("apps/db-sealed.yaml"));
    let schema = crd_schema(&f.dir, "external-secrets.io_externalsecrets.yaml", "v1");
    let v = check_jsonschema(&schema, &[f.dir.join("apps/db-external.yaml")]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let es = std::fs::read_to_string(f.dir.join("apps/db-external.yaml")).unwrap();
    let values = sops_secret_values(&f.dir, "apps/db.sops.yaml", "alice");
    assert!(values.contains_key("password"), "{values:?}");
    for k in values.keys() {
        assert!(es.contains(&format!("{k}: ")), "{k} not in\n{es}");
    }
    let json = peer_ok(&[
        "unseal",
        s(&f.dir.join("key.pem")),
        s(&f.dir.join("apps/db-sealed.yaml")),
    ]);
    let opened: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(opened["data"], serde_json::Value::Object(values));
}

/// `seal doctor` counts the files that hold SealedSecrets and, with --cert, says when the
/// controller's certificate expires (or that it has).
#[test]
fn doctor_counts_sealed_secrets_and_the_certificate_expiry() {
    let f = fixture();
    std::fs::create_dir(f.dir.join("apps")).unwrap();
    for n in ["a", "b"] {
        seal(&f.dir)
            .args(["seal", "secret.yaml", "--cert", "cert.pem", "-o"])
            .arg(format!("apps/{n}-sealed.yaml"))
            .assert()
            .success();
    }
    let out = seal(&f.dir)
        .args(["doctor", "--cert", "cert.pem", "."])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("2 file(s) hold SealedSecrets")
            && text.contains("apps/a-sealed.yaml, apps/b-sealed.yaml"),
        "{text}"
    );
    // fixture(): valid for 3650 days from now (3649 once a second has passed).
    assert!(
        text.contains("is valid until")
            && (text.contains("(3650 days)") || text.contains("(3649 days)")),
        "{text}"
    );
    let old = tempfile::tempdir().unwrap();
    keypair(old.path(), -30);
    let out = seal(&f.dir)
        .args(["doctor", "--cert"])
        .arg(old.path().join("cert.pem"))
        .arg(".")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("expired on"), "{text}");
}
