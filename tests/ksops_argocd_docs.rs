//! docs/argocd.md works as written: every ```yaml block that starts with `# file: PATH` is
//! written out and rendered with the real `kubectl kustomize`. The app example renders into
//! decrypted Secrets through seal installed as the ksops plugin; the repo-server overlay
//! and the Config Management Plugin overlay render on a stub of the two Argo CD objects they
//! patch (in place of the remote install manifest), their paths agree with where seal and
//! kustomize look, and the CMP's generate command, run on an app, prints the plain and the
//! decrypted manifests. No Argo CD schema is in ../shared/schemas, so rendering is the
//! check. kubectl is required (the test fails, never skips, without it).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Sandbox, key_file};
use seal::stores::Format;
use seal::tree::{Branch, Value};

const INSTALL_URL: &str =
    "https://raw.githubusercontent.com/argoproj/argo-cd/stable/manifests/install.yaml";

/// The stub of Argo CD's install manifest: the repo-server Deployment (with the volumes
/// the CMP sidecar mounts) and argocd-cm.
const STUB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-repo-server
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: argocd-repo-server
  template:
    metadata:
      labels:
        app.kubernetes.io/name: argocd-repo-server
    spec:
      containers:
        - name: argocd-repo-server
          image: quay.io/argoproj/argocd:stable
      volumes:
        - name: var-files
          emptyDir: {}
        - name: plugins
          emptyDir: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
";

/// The `# file:` blocks of docs/argocd.md, as (path, text).
fn doc_files() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/argocd.md"))
            .unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("```yaml\n") {
        let body = &rest[at + 8..];
        let end = body.find("\n```").expect("closed code block");
        let block = &body[..end + 1];
        if let Some(first) = block.lines().next()
            && let Some(path) = first.strip_prefix("# file: ")
        {
            out.push((path.trim().to_string(), block.to_string()));
        }
        rest = &body[end + 4..];
    }
    out
}

fn write_docs(root: &Path) -> Vec<String> {
    let files = doc_files();
    for (path, text) in &files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text.replace(INSTALL_URL, "../stub")).unwrap();
    }
    let stub = root.join("stub");
    std::fs::create_dir_all(&stub).unwrap();
    std::fs::write(stub.join("install.yaml"), STUB).unwrap();
    std::fs::write(
        stub.join("kustomization.yaml"),
        "resources:\n  - install.yaml\n",
    )
    .unwrap();
    files.into_iter().map(|(p, _)| p).collect()
}

fn kubectl(sb: &Sandbox, args: &[&str], dir: &Path, key: bool) -> Output {
    let mut c = Command::new("kubectl");
    c.env_clear()
        .env("HOME", &sb.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEAL_NO_KEYRING", "1")
        .args(args)
        .arg(dir);
    if key {
        c.env("SOPS_AGE_KEY_FILE", key_file("alice"));
    }
    let out = c
        .output()
        .expect("kubectl is required by this test (it runs kubectl kustomize)");
    assert!(
        out.status.success(),
        "kubectl {args:?} {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn parse(yaml: &[u8]) -> Vec<Branch> {
    Format::Yaml
        .store()
        .load_plain(yaml)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(yaml)))
        .docs
}

/// Follow a path of keys (and `[name]` for the list entry with that `name`).
fn at<'a>(mut v: &'a Value, path: &[&str]) -> &'a Value {
    for p in path {
        v = match (v, p.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
            (Value::List(l), Some(name)) => l
                .iter()
                .find(|e| matches!(e, Value::Branch(b) if b.get("name") == Some(&Value::Str(name.into()))))
                .unwrap_or_else(|| panic!("no entry named {name}")),
            (Value::Branch(b), None) => b.get(p).unwrap_or_else(|| panic!("no {p} in {b:?}")),
            (other, _) => panic!("cannot follow {p} in {other:?}"),
        };
    }
    v
}

fn s(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn find(docs: &[Branch], kind: &str, name_prefix: &str) -> Value {
    let d = docs
        .iter()
        .find(|d| {
            d.get("kind") == Some(&Value::Str(kind.into()))
                && matches!(d.get("metadata"), Some(Value::Branch(m)) if matches!(m.get("name"), Some(Value::Str(n)) if n.starts_with(name_prefix)))
        })
        .unwrap_or_else(|| panic!("no {kind} {name_prefix}* in {docs:?}"));
    Value::Branch(d.clone())
}

#[test]
fn the_documented_app_renders_into_decrypted_secrets() {
    let sb = Sandbox::new();
    let files = write_docs(&sb.dir);
    assert!(
        files.contains(&"app/secret-generator.yaml".to_string()),
        "{files:?}"
    );
    sb.encrypted(
        "app/db.sops.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
    );
    sb.encrypted("app/app.sops.env", "API_TOKEN=tok-123\nMODE=prod\n");
    sb.encrypted("app/tls.key.sops", "-----BEGIN KEY-----\n");
    let out = sb.seal().args(["ksops", "install"]).output().unwrap();
    assert!(out.status.success());
    let out = kubectl(
        &sb,
        &["kustomize", "--enable-alpha-plugins"],
        &sb.dir.join("app"),
        true,
    );
    let docs = parse(&out.stdout);
    assert_eq!(docs.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    let db = find(&docs, "Secret", "db");
    assert_eq!(s(at(&db, &["stringData", "password"])), "hunter2");
    assert_eq!(s(at(&db, &["metadata", "namespace"])), "app");
    let env = find(&docs, "Secret", "app-env-");
    assert_eq!(s(at(&env, &["stringData", "API_TOKEN"])), "tok-123");
    assert_eq!(
        s(at(&env, &["stringData", "tls.key"])),
        "-----BEGIN KEY-----\n"
    );
    assert_eq!(s(at(&env, &["type"])), "Opaque");
}

#[test]
fn the_repo_server_overlay_renders_and_mounts_seal_where_kustomize_looks() {
    let sb = Sandbox::new();
    write_docs(&sb.dir);
    let out = kubectl(&sb, &["kustomize"], &sb.dir.join("argocd"), false);
    let docs = parse(&out.stdout);
    let cm = find(&docs, "ConfigMap", "argocd-cm");
    let opts = s(at(&cm, &["data", "kustomize.buildOptions"]));
    assert!(opts.contains("--enable-alpha-plugins") && opts.contains("--enable-exec"));
    let dep = find(&docs, "Deployment", "argocd-repo-server");
    let pod = at(&dep, &["spec", "template", "spec"]);
    let init = at(pod, &["initContainers", "[install-ksops]"]);
    let Value::List(cmd) = at(init, &["command"]) else {
        panic!()
    };
    let cmd: Vec<&str> = cmd.iter().map(s).collect();
    assert_eq!(cmd, ["seal", "ksops", "install", "/custom-tools"]);
    let repo = at(pod, &["containers", "[argocd-repo-server]"]);
    assert_eq!(
        s(at(repo, &["image"])),
        "quay.io/argoproj/argocd:stable",
        "patched, not replaced"
    );
    let xdg = s(at(repo, &["env", "[XDG_CONFIG_HOME]", "value"]));
    let key = s(at(repo, &["env", "[SOPS_AGE_KEY_FILE]", "value"]));
    let Value::List(mounts) = at(repo, &["volumeMounts"]) else {
        panic!()
    };
    let mount_paths: Vec<&str> = mounts.iter().map(|m| s(at(m, &["mountPath"]))).collect();
    // The legacy plugin path is kustomize's plugin home below XDG_CONFIG_HOME, the path
    // `seal ksops install` links.
    let plugin = format!("{xdg}/kustomize/plugin/{}", "viaduct.ai/v1/ksops/ksops");
    assert!(mount_paths.contains(&plugin.as_str()), "{mount_paths:?}");
    let t = tempfile::tempdir().unwrap();
    let out = sb
        .seal()
        .env("XDG_CONFIG_HOME", t.path())
        .args(["ksops", "install"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        t.path()
            .join("kustomize/plugin/viaduct.ai/v1/ksops/ksops")
            .exists()
    );
    assert!(mount_paths.contains(&"/usr/local/bin/ksops"));
    // The key file is inside the mounted Secret.
    let secret_mount = mounts
        .iter()
        .find(|m| s(at(m, &["name"])) == "sops-age")
        .unwrap();
    assert!(key.starts_with(&format!("{}/", s(at(secret_mount, &["mountPath"])))));
    assert_eq!(
        s(at(pod, &["volumes", "[sops-age]", "secret", "secretName"])),
        "sops-age"
    );
    assert!(matches!(
        at(pod, &["volumes", "[var-files]"]),
        Value::Branch(_)
    ));
}

#[test]
fn the_cmp_overlay_renders_and_its_generate_command_prints_every_manifest() {
    let sb = Sandbox::new();
    write_docs(&sb.dir);
    let out = kubectl(&sb, &["kustomize"], &sb.dir.join("cmp"), false);
    let docs = parse(&out.stdout);
    let dep = find(&docs, "Deployment", "argocd-repo-server");
    let pod = at(&dep, &["spec", "template", "spec"]);
    let sidecar = at(pod, &["containers", "[cmp-seal]"]);
    let Value::List(cmd) = at(sidecar, &["command"]) else {
        panic!()
    };
    assert_eq!(s(&cmd[0]), "/var/run/argocd/argocd-cmp-server");
    let Value::List(mounts) = at(sidecar, &["volumeMounts"]) else {
        panic!()
    };
    let plugin_mount = mounts
        .iter()
        .find(|m| s(at(m, &["name"])) == "cmp-seal")
        .unwrap();
    assert_eq!(
        s(at(plugin_mount, &["mountPath"])),
        "/home/argocd/cmp-server/config/plugin.yaml"
    );
    // The repo-server container and the install's volumes are kept.
    at(pod, &["containers", "[argocd-repo-server]"]);
    at(pod, &["volumes", "[plugins]"]);
    let cm = find(&docs, "ConfigMap", "cmp-seal");
    let plugin = parse(s(at(&cm, &["data", "plugin.yaml"])).as_bytes());
    let plugin = Value::Branch(plugin[0].clone());
    assert_eq!(s(at(&plugin, &["kind"])), "ConfigManagementPlugin");
    let Value::List(args) = at(&plugin, &["spec", "generate", "args"]) else {
        panic!()
    };
    let script = s(&args[0]).to_string();

    // Run the generate command in an app: plain manifests through kustomize (a shim that
    // calls kubectl kustomize), then the decrypted stream.
    let app = sb.dir.join("cmpapp");
    std::fs::create_dir_all(app.join("db")).unwrap();
    std::fs::write(
        app.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
    )
    .unwrap();
    std::fs::write(app.join("kustomization.yaml"), "resources:\n  - cm.yaml\n").unwrap();
    sb.encrypted(
        "cmpapp/a.sops.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  k: one\n",
    );
    sb.encrypted(
        "cmpapp/db/b.sops.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\nstringData:\n  k: two\n",
    );
    let bin = sb.home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), bin.join("seal")).unwrap();
    sb.editor(
        "kustomize",
        "[ \"$1\" = build ] && shift\nexec kubectl kustomize \"$@\"",
    );
    std::fs::rename(sb.home.join("kustomize"), bin.join("kustomize")).unwrap();
    let out = Command::new("sh")
        .env_clear()
        .env("HOME", &sb.home)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("SEAL_NO_KEYRING", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .current_dir(&app)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = parse(&out.stdout);
    let names: Vec<String> = docs
        .iter()
        .map(|d| s(at(&Value::Branch(d.clone()), &["metadata", "name"])).to_string())
        .collect();
    assert_eq!(names, ["plain", "a", "b"]);
    let b = find(&docs, "Secret", "b");
    assert_eq!(s(at(&b, &["stringData", "k"])), "two");
}
