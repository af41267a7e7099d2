//! seal as the KSOPS kustomize generator, end to end: the real `kubectl kustomize
//! --enable-alpha-plugins` runs seal installed by `seal ksops install` (legacy exec plugin)
//! and renders decrypted Secrets (`files:`, `secretFrom:` with metadata, type, `key=path`
//! files, binary files, envs; kustomize's needs-hash and behavior annotations); a missing
//! or wrong key fails the build with seal's message; the KRM mode is fed ResourceLists
//! shaped as kustomize sends them; `ksops install DEST` and the placeholder mode.
//! kubectl is required (the test fails, never skips, without it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sandbox, key_file};
use seal::stores::Format;
use seal::tree::{Branch, Value};

fn get<'a>(b: &'a Branch, k: &str) -> &'a Value {
    b.get(k).unwrap_or_else(|| panic!("no {k} in {b:?}"))
}

fn branch<'a>(b: &'a Branch, k: &str) -> &'a Branch {
    match get(b, k) {
        Value::Branch(x) => x,
        other => panic!("{k} is not a mapping: {other:?}"),
    }
}

fn text<'a>(b: &'a Branch, k: &str) -> &'a str {
    match get(b, k) {
        Value::Str(s) => s,
        other => panic!("{k} is not a string: {other:?}"),
    }
}

fn parse(yaml: &[u8]) -> Vec<Branch> {
    Format::Yaml
        .store()
        .load_plain(yaml)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(yaml)))
        .docs
}

/// The document whose `metadata.name` is `name`.
fn named<'a>(docs: &'a [Branch], name: &str) -> &'a Branch {
    docs.iter()
        .find(|d| {
            matches!(d.get("metadata"), Some(Value::Branch(m)) if m.get("name") == Some(&Value::Str(name.into())))
        })
        .unwrap_or_else(|| panic!("no document named {name} in {docs:?}"))
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The sandbox's kustomize config home (seal ksops install links the plugin below it).
fn config_home(sb: &Sandbox) -> PathBuf {
    sb.home.join(".config")
}

/// `seal ksops install` into the sandbox's HOME, checked.
fn install_plugin(sb: &Sandbox) -> PathBuf {
    let out = sb.seal().args(["ksops", "install"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = config_home(sb).join("kustomize/plugin/viaduct.ai/v1/ksops/ksops");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    link
}

/// `kubectl kustomize --enable-alpha-plugins DIR` with a hermetic environment; `key` is
/// the age key file seal may use (none: no identity at all).
fn kustomize(sb: &Sandbox, dir: &Path, key: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("kubectl");
    c.env_clear()
        .env("HOME", &sb.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEAL_NO_KEYRING", "1")
        .env("TMPDIR", &sb.rt)
        .args(["kustomize", "--enable-alpha-plugins"])
        .arg(dir);
    if let Some(k) = key {
        c.env("SOPS_AGE_KEY_FILE", k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output()
        .expect("kubectl is required by this test (it runs kubectl kustomize)")
}

const DB: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  annotations:\n    kustomize.config.k8s.io/needs-hash: \"true\"\ntype: Opaque\nstringData:\n  password: hunter2\ndata:\n  user: YWRtaW4=\n";

/// An app with every kind of generator entry: `files:` (a Secret with needs-hash, and one
/// made by the real sops), and a `secretFrom:` Secret from a key=path file, a binary file
/// and an env file, with namespace, labels, annotations and type.
fn app(sb: &Sandbox) {
    sb.encrypted("db.sops.yaml", DB);
    sb.sops_encrypted(
        "api.sops.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  token: tok-123\n",
    );
    sb.encrypted("app.env", "USER=admin\nPASSWORD=s3cr3t\n");
    sb.encrypted("tls.key", "-----BEGIN KEY-----\nabc\n-----END KEY-----\n");
    std::fs::write(sb.dir.join("blob.bin"), b"\x00\x01binary\xff").unwrap();
    sb.seal()
        .args([
            "encrypt",
            "-i",
            "--age",
            &common::recipient("alice"),
            "blob.bin",
        ])
        .assert()
        .success();
    std::fs::write(
        sb.dir.join("secret-generator.yaml"),
        concat!(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: gen\n",
            "files:\n  - ./db.sops.yaml\n  - ./api.sops.yaml\n",
            "secretFrom:\n",
            "  - metadata:\n      name: built\n      namespace: apps\n",
            "      labels:\n        team: a\n      annotations:\n        note: x\n",
            "    type: kubernetes.io/tls\n",
            "    files:\n      - tls.key=./tls.key\n",
            "    binaryFiles:\n      - ./blob.bin\n",
            "    envs:\n      - ./app.env\n",
        ),
    )
    .unwrap();
    std::fs::write(
        sb.dir.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ngenerators:\n  - ./secret-generator.yaml\n",
    )
    .unwrap();
}

#[test]
fn kubectl_kustomize_renders_the_legacy_generator_into_decrypted_secrets() {
    let sb = Sandbox::new();
    install_plugin(&sb);
    app(&sb);
    let out = kustomize(&sb, &sb.dir, Some(&key_file("alice")), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = parse(&out.stdout);
    assert_eq!(docs.len(), 3, "{}", String::from_utf8_lossy(&out.stdout));
    // needs-hash: kustomize appended the content hash and dropped the annotation.
    let db = docs
        .iter()
        .find(|d| text(branch(d, "metadata"), "name").starts_with("db-"))
        .expect("the db Secret with a hash suffix");
    assert_eq!(text(branch(db, "stringData"), "password"), "hunter2");
    assert_eq!(text(branch(db, "data"), "user"), "YWRtaW4=");
    assert!(branch(db, "metadata").get("annotations").is_none());
    // A file the real sops encrypted.
    assert_eq!(
        text(branch(named(&docs, "api"), "stringData"), "token"),
        "tok-123"
    );
    // secretFrom.
    let built = named(&docs, "built");
    let meta = branch(built, "metadata");
    assert_eq!(text(meta, "namespace"), "apps");
    assert_eq!(text(branch(meta, "labels"), "team"), "a");
    assert_eq!(text(branch(meta, "annotations"), "note"), "x");
    assert_eq!(text(built, "type"), "kubernetes.io/tls");
    let sd = branch(built, "stringData");
    assert_eq!(
        text(sd, "tls.key"),
        "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
    );
    assert_eq!(text(sd, "USER"), "admin");
    assert_eq!(text(sd, "PASSWORD"), "s3cr3t");
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(text(branch(built, "data"), "blob.bin"))
        .unwrap();
    assert_eq!(blob, b"\x00\x01binary\xff");
}

#[test]
fn the_behavior_annotation_replaces_a_base_secret() {
    let sb = Sandbox::new();
    install_plugin(&sb);
    let base = sb.dir.join("base");
    std::fs::create_dir(&base).unwrap();
    std::fs::write(
        base.join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shared\nstringData:\n  old: value\n",
    )
    .unwrap();
    std::fs::write(
        base.join("kustomization.yaml"),
        "resources:\n  - secret.yaml\n",
    )
    .unwrap();
    sb.encrypted(
        "shared.sops.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shared\n  annotations:\n    kustomize.config.k8s.io/behavior: replace\nstringData:\n  new: secret-value\n",
    );
    std::fs::write(
        sb.dir.join("gen.yaml"),
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: replace\nfiles:\n  - ./shared.sops.yaml\n",
    )
    .unwrap();
    std::fs::write(
        sb.dir.join("kustomization.yaml"),
        "resources:\n  - ./base\ngenerators:\n  - ./gen.yaml\n",
    )
    .unwrap();
    let out = kustomize(&sb, &sb.dir, Some(&key_file("alice")), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = parse(&out.stdout);
    assert_eq!(docs.len(), 1, "{}", String::from_utf8_lossy(&out.stdout));
    let sd = branch(&docs[0], "stringData");
    assert_eq!(text(sd, "new"), "secret-value");
    assert!(sd.get("old").is_none(), "replaced, not merged");
}

#[test]
fn a_missing_or_wrong_key_fails_the_build_with_seals_message() {
    let sb = Sandbox::new();
    install_plugin(&sb);
    app(&sb);
    for key in [None, Some(key_file("bob"))] {
        let out = kustomize(&sb, &sb.dir, key.as_deref(), &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key:?}");
        assert!(out.stdout.is_empty(), "{key:?}: nothing rendered");
        assert!(
            err.contains(
                "./db.sops.yaml: in the ksops generator's files: could not decrypt the data key"
            ) && err.contains(&common::recipient("alice"))
                && err.contains("hint: point SOPS_AGE_KEY_FILE"),
            "{key:?}: {err}"
        );
        assert!(!err.contains("hunter2"));
    }
}

#[test]
fn placeholder_mode_renders_the_shape_without_keys_only_when_asked() {
    let sb = Sandbox::new();
    install_plugin(&sb);
    app(&sb);
    let out = kustomize(&sb, &sb.dir, None, &[("SEAL_KSOPS_PLACEHOLDERS", "1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8_lossy(&out.stdout);
    for secret in ["hunter2", "tok-123", "s3cr3t", "BEGIN KEY"] {
        assert!(!rendered.contains(secret), "{rendered}");
    }
    let docs = parse(&out.stdout);
    assert_eq!(docs.len(), 3, "{rendered}");
    let db = docs
        .iter()
        .find(|d| text(branch(d, "metadata"), "name").starts_with("db-"))
        .unwrap();
    assert_eq!(
        text(branch(db, "stringData"), "password"),
        "SEAL-PLACEHOLDER"
    );
    assert_eq!(
        text(branch(db, "data"), "user"),
        b64("SEAL-PLACEHOLDER"),
        "data stays base64"
    );
    let built = named(&docs, "built");
    let sd = branch(built, "stringData");
    assert_eq!(text(sd, "USER"), "SEAL-PLACEHOLDER");
    assert_eq!(text(sd, "tls.key"), "SEAL-PLACEHOLDER");
    assert_eq!(
        text(branch(built, "data"), "blob.bin"),
        b64("SEAL-PLACEHOLDER")
    );
    // Not asked for: the same build fails for want of a key.
    let out = kustomize(&sb, &sb.dir, None, &[("SEAL_KSOPS_PLACEHOLDERS", "0")]);
    assert!(!out.status.success());
}

/// seal linked as `ksops` in the sandbox (what Argo CD's init container puts on PATH).
fn ksops_link(sb: &Sandbox) -> PathBuf {
    let dest = sb.home.join("bin");
    std::fs::create_dir_all(&dest).unwrap();
    let link = dest.join("ksops");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
    link
}

fn ksops(sb: &Sandbox, exe: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(exe);
    c.env_clear()
        .env("HOME", &sb.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEAL_NO_KEYRING", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .current_dir(&sb.dir)
        .timeout(std::time::Duration::from_secs(30));
    c
}

/// A ResourceList as kustomize sends it to an exec KRM function: the generator config as
/// the only item (annotated local-config, with its function annotation and index) and
/// again as functionConfig.
fn resource_list(generator_body: &str) -> String {
    let indent = |s: &str, n: usize| {
        s.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(n)))
            .collect::<String>()
    };
    let config = format!(
        concat!(
            "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: gen\n  annotations:\n",
            "    config.kubernetes.io/function: |\n      exec:\n        path: ksops\n",
            "    config.kubernetes.io/local-config: \"true\"\n",
            "    config.kubernetes.io/index: '0'\n    internal.config.kubernetes.io/index: '0'\n",
            "{}"
        ),
        generator_body
    );
    let item = indent(&config, 2).replacen("  apiVersion", "- apiVersion", 1);
    format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{item}functionConfig:\n{}",
        indent(&config, 2)
    )
}

#[test]
fn krm_mode_replaces_the_items_with_what_they_generate() {
    let sb = Sandbox::new();
    app(&sb);
    let exe = ksops_link(&sb);
    let rl = resource_list(
        "files:\n  - ./db.sops.yaml\nsecretFrom:\n  - metadata:\n      name: env\n    envs:\n      - ./app.env\n",
    );
    let out = ksops(&sb, &exe).write_stdin(rl).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = parse(&out.stdout);
    assert_eq!(docs.len(), 1, "one ResourceList");
    let list = &docs[0];
    assert_eq!(text(list, "kind"), "ResourceList");
    assert_eq!(text(branch(list, "functionConfig"), "kind"), "ksops");
    let Value::List(items) = get(list, "items") else {
        panic!("items is not a list")
    };
    let items: Vec<Branch> = items
        .iter()
        .map(|v| match v {
            Value::Branch(b) => b.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(items.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        text(branch(named(&items, "db"), "stringData"), "password"),
        "hunter2"
    );
    assert_eq!(
        text(branch(named(&items, "env"), "stringData"), "PASSWORD"),
        "s3cr3t"
    );
    assert!(items.iter().all(|i| text(i, "kind") == "Secret"));
}

#[test]
fn krm_mode_fails_on_a_bad_item_and_on_input_that_is_no_resource_list() {
    let sb = Sandbox::new();
    app(&sb);
    let exe = ksops_link(&sb);
    let out = ksops(&sb, &exe)
        .env("SOPS_AGE_KEY_FILE", key_file("bob"))
        .write_stdin(resource_list("files:\n  - ./db.sops.yaml\n"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ResourceList items[0]: in the ksops generator's files: could not decrypt"),
        "{err}"
    );
    let out = ksops(&sb, &exe)
        .write_stdin("apiVersion: v1\nkind: ConfigMap\n")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a KRM ResourceList"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A generator without files or secretFrom, as in KSOPS.
    let out = ksops(&sb, &exe)
        .write_stdin(resource_list("other: 1\n"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a `files` nor a `secretFrom`"));
}

#[test]
fn as_ksops_the_command_line_is_ksops_s() {
    let sb = Sandbox::new();
    app(&sb);
    let exe = ksops_link(&sb);
    // One argument: the legacy plugin, on any generator file.
    let out = ksops(&sb, &exe)
        .arg("secret-generator.yaml")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = parse(&out.stdout);
    assert_eq!(docs.len(), 3);
    assert_eq!(
        text(branch(named(&docs, "db"), "stringData"), "password"),
        "hunter2"
    );
    // Two arguments, or none with standard input a device: the usage, exit 1.
    for args in [&["a.yaml", "b.yaml"][..], &[]] {
        let out = ksops(&sb, &exe).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
    // install DEST copies the binary (Argo CD init containers); install alone is refused.
    let dest = sb.home.join("custom-tools");
    std::fs::create_dir(&dest).unwrap();
    ksops(&sb, &exe)
        .args(["install"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("destination directory"));
    ksops(&sb, &exe)
        .arg("install")
        .arg(&dest)
        .assert()
        .success();
    let copied = dest.join("ksops");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(&copied).unwrap();
    assert!(meta.file_type().is_file(), "a copy, not a link");
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(assert_cmd::cargo::cargo_bin("seal")).unwrap()
    );
    // The copy is ksops too.
    let out = ksops(&sb, &copied)
        .arg("secret-generator.yaml")
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn concurrency_limit_is_read_and_checked() {
    let sb = Sandbox::new();
    app(&sb);
    let exe = ksops_link(&sb);
    for limit in ["1", "2", "50"] {
        let out = ksops(&sb, &exe)
            .env("KSOPS_CONCURRENCY_LIMIT", limit)
            .arg("secret-generator.yaml")
            .output()
            .unwrap();
        assert!(out.status.success(), "{limit}");
        assert_eq!(parse(&out.stdout).len(), 3, "{limit}");
    }
    for bad in ["0", "many"] {
        let out = ksops(&sb, &exe)
            .env("KSOPS_CONCURRENCY_LIMIT", bad)
            .arg("secret-generator.yaml")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("KSOPS_CONCURRENCY_LIMIT"));
    }
}

#[test]
fn seal_ksops_install_keeps_a_foreign_plugin_unless_forced() {
    let sb = Sandbox::new();
    let link = config_home(&sb).join("kustomize/plugin/viaduct.ai/v1/ksops/ksops");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::fs::write(&link, "#!/bin/sh\necho real ksops\n").unwrap();
    sb.seal()
        .args(["ksops", "install"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--force"));
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        "#!/bin/sh\necho real ksops\n"
    );
    sb.seal()
        .args(["ksops", "install", "--force"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        assert_cmd::cargo::cargo_bin("seal").canonicalize().unwrap()
    );
    // Again: already installed, nothing to do.
    sb.seal().args(["ksops", "install"]).assert().success();
    // KUSTOMIZE_PLUGIN_HOME wins, as in kustomize.
    let other = sb.home.join("plugins");
    sb.seal()
        .env("KUSTOMIZE_PLUGIN_HOME", &other)
        .args(["ksops", "install"])
        .assert()
        .success();
    assert!(other.join("viaduct.ai/v1/ksops/ksops").exists());
}

#[test]
fn every_item_of_a_resource_list_generates_and_placeholders_need_no_key() {
    let sb = Sandbox::new();
    app(&sb);
    // Two generators in one ResourceList (KSOPS treats every item as one), through
    // `seal ksops generate --placeholders` with no identity at all.
    let one = resource_list("files:\n  - ./db.sops.yaml\n");
    let two = "- apiVersion: viaduct.ai/v1\n  kind: ksops\n  metadata:\n    name: second\n  secretFrom:\n    - metadata:\n        name: env\n      envs:\n        - ./app.env\n";
    let rl = one.replacen("functionConfig:", &format!("{two}functionConfig:"), 1);
    let out = sb
        .seal()
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["ksops", "generate", "--placeholders"])
        .write_stdin(rl)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("placeholder mode"));
    let docs = parse(&out.stdout);
    let Value::List(items) = get(&docs[0], "items") else {
        panic!()
    };
    let items: Vec<Branch> = items
        .iter()
        .map(|v| match v {
            Value::Branch(b) => b.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(items.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        text(branch(named(&items, "db"), "stringData"), "password"),
        "SEAL-PLACEHOLDER"
    );
    let env = branch(named(&items, "env"), "stringData");
    assert_eq!(text(env, "USER"), "SEAL-PLACEHOLDER");
    assert_eq!(text(env, "PASSWORD"), "SEAL-PLACEHOLDER");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));
}
