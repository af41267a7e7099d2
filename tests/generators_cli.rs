//! Generators end to end: the Plane ExternalSecret (golden file, CRD schema, kubectl
//! kustomize), `--from` never leaking values, `seal secret new` read back by the real
//! sops, `seal bootstrap flux` (Secret, .sops.yaml, Kustomization patch, refusals) and
//! `seal doctor`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{crd_file, key_file, recipient, seal, sops, venv_tool};
use seal::stores::Format;
use seal::tree::{Branch, Value};

fn get<'a>(b: &'a Branch, k: &str) -> &'a Value {
    b.get(k).unwrap_or_else(|| panic!("no {k}"))
}

fn branch<'a>(b: &'a Branch, k: &str) -> &'a Branch {
    match get(b, k) {
        Value::Branch(x) => x,
        other => panic!("{k} is not a mapping: {other:?}"),
    }
}

/// The openAPIV3Schema of one served version of a CRD in ../shared/schemas, written as a
/// JSON schema file in `dir`.
fn crd_schema(dir: &Path, crd: &str, version: &str) -> PathBuf {
    let text = std::fs::read(crd_file(crd)).expect("CRD file");
    let docs = Format::Yaml
        .store()
        .load_plain(&text)
        .expect("CRD parses")
        .docs;
    let spec = branch(&docs[0], "spec");
    let Value::List(versions) = get(spec, "versions") else {
        panic!("versions")
    };
    let v = versions
        .iter()
        .find_map(|v| match v {
            Value::Branch(b) if get(b, "name") == &Value::Str(version.into()) => Some(b),
            _ => None,
        })
        .expect("version in CRD");
    assert_eq!(
        get(v, "served"),
        &Value::Bool(true),
        "{crd} {version} is not served"
    );
    let schema = branch(branch(v, "schema"), "openAPIV3Schema").clone();
    let json = Format::Json
        .store()
        .emit_plain(&[schema], &seal::stores::Layout::none(), Default::default())
        .unwrap();
    let out = dir.join(format!("{crd}.{version}.json"));
    std::fs::write(&out, json).unwrap();
    out
}

/// Run check-jsonschema on a manifest against a CRD version's schema.
fn check(dir: &Path, manifest: &Path, crd: &str, version: &str) -> std::process::Output {
    let schema = crd_schema(dir, crd, version);
    Command::new(venv_tool("check-jsonschema"))
        .arg("--schemafile")
        .arg(&schema)
        .arg(manifest)
        .output()
        .expect("run check-jsonschema")
}

/// Validate a one-document YAML manifest with check-jsonschema (fails when it is missing).
fn validate(dir: &Path, manifest: &Path, crd: &str, version: &str) {
    let out = check(dir, manifest, crd, version);
    assert!(
        out.status.success(),
        "{} does not validate against {crd}:\n{}{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

#[test]
fn plane_preset_matches_the_golden_file() {
    let home = tempfile::tempdir().unwrap();
    let a = seal(home.path())
        .args([
            "external-secret",
            "--preset",
            "plane",
            "--namespace",
            "home",
        ])
        .assert()
        .success();
    let got = stdout_of(&a);
    // A change to the preset shows as a snapshot diff: review it with `cargo insta review`.
    insta::assert_snapshot!("plane_externalsecret", got);
    // The checklist goes to stderr, with the generation hints.
    let items = stderr_of(&a);
    assert!(
        items.contains("PLANE_SECRET_KEY              (generate: openssl rand -hex 32)"),
        "{items}"
    );
    assert!(
        items.contains("cloudnative-pg\n    [ ] POSTGRES_SUPER_PASS"),
        "{items}"
    );
}

#[test]
fn plane_preset_validates_against_the_crd_and_resolves_aliases() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("externalsecret.yaml");
    seal(home.path())
        .args([
            "external-secret",
            "--preset",
            "plane",
            "--store-kind",
            "SecretStore",
            "--refresh",
            "30m",
            "-o",
        ])
        .arg(&out)
        .assert()
        .success();
    validate(
        dir.path(),
        &out,
        "external-secrets.io_externalsecrets.yaml",
        "v1",
    );
    let text = std::fs::read(&out).unwrap();
    let doc = Format::Yaml
        .store()
        .load_plain(&text)
        .unwrap()
        .docs
        .remove(0);
    assert_eq!(
        get(&doc, "apiVersion"),
        &Value::Str("external-secrets.io/v1".into())
    );
    let spec = branch(&doc, "spec");
    assert_eq!(
        get(branch(spec, "secretStoreRef"), "kind"),
        &Value::Str("SecretStore".into())
    );
    let data = branch(branch(branch(spec, "target"), "template"), "data");
    assert_eq!(
        get(data, "INIT_POSTGRES_DBNAME"),
        &Value::Str("plane".into())
    );
    assert_eq!(
        get(data, "INIT_POSTGRES_USER"),
        &Value::Str("{{ .PLANE_POSTGRES_USER }}".into())
    );
    assert_eq!(
        get(data, "PLANE_CORS_ALLOWED_ORIGINS"),
        &Value::Str("https://plane.${SECRET_DOMAIN}".into())
    );
    assert_eq!(
        get(data, "PLANE_DOC_UPLOAD_SIZE_LIMIT"),
        &Value::Str("157286400".into())
    );
    assert_eq!(
        get(data, "PLANE_AWS_S3_BUCKET_NAME"),
        get(data, "PLANE_DOCSTORE_BUCKET")
    );
    for (k, v) in data.items.iter().filter_map(|i| match i {
        seal::tree::Item::Pair(k, v) => Some((k, v)),
        _ => None,
    }) {
        assert!(
            matches!(v, Value::Str(_)),
            "{k} must be a string for the template"
        );
    }
}

#[test]
fn the_schema_check_rejects_a_broken_manifest() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = seal(home.path())
        .args(["external-secret", "--preset", "plane"])
        .assert()
        .success();
    let broken = stdout_of(&a).replace("engineVersion: v2", "engineVersion: v9");
    let f = dir.path().join("broken.yaml");
    std::fs::write(&f, broken).unwrap();
    let out = check(
        dir.path(),
        &f,
        "external-secrets.io_externalsecrets.yaml",
        "v1",
    );
    assert!(
        !out.status.success(),
        "check-jsonschema accepted engineVersion v9"
    );
}

#[test]
fn invalid_key_names_are_clear_errors() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.keys.yaml");
    std::fs::write(
        &spec,
        "app: demo\ngroups:\n  - title: x\n    keys:\n      - {name: \"bad key\", default: x}\n",
    )
    .unwrap();
    let a = seal(home.path())
        .args(["external-secret", "--spec"])
        .arg(&spec)
        .assert()
        .failure();
    let err = stderr_of(&a);
    assert!(
        err.contains("invalid key name \"bad key\"") && err.contains("^[-._a-zA-Z0-9]+$"),
        "{err}"
    );
    assert!(err.contains("bad.keys.yaml"), "{err}");
    assert!(!err.contains("panicked"));
}

/// Make an encrypted Secret with `values` (key, value) in `dir` and return its path.
fn encrypted_secret(home: &Path, dir: &Path, name: &str, values: &[(&str, &str)]) -> PathBuf {
    let out = dir.join(format!("{name}.sops.yaml"));
    let mut c = seal(home);
    c.args([
        "secret",
        "new",
        "generic",
        "--name",
        name,
        "-n",
        "apps",
        "--age",
        &recipient("alice"),
        "-o",
    ])
    .arg(&out);
    for (k, v) in values {
        c.arg("--from-literal").arg(format!("{k}={v}"));
    }
    c.assert().success();
    out
}

#[test]
fn from_an_encrypted_secret_prints_names_never_values() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let values = [
        ("DB_PASSWORD", "v8Kq2mZx9rTn4wLp"),
        ("api-token", "tokQ7vB3nX5mR1sZ"),
        ("SMTP.PASS", "smtpW4yU6iO8pA2s"),
    ];
    let file = encrypted_secret(home.path(), dir.path(), "demo-secret", &values);
    let plain_file = dir.path().join("plain.yaml");
    std::fs::write(
        &plain_file,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-secret\n  namespace: apps\nstringData:\n{}",
            values.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect::<String>()
        ),
    )
    .unwrap();
    for f in [&file, &plain_file] {
        let out = dir.path().join("es.yaml");
        // No identity in this environment: --from must not need one.
        let a = seal(home.path())
            .args(["external-secret", "--from"])
            .arg(f)
            .args(["--prefix", "DEMO_", "-o"])
            .arg(&out)
            .assert()
            .success();
        let manifest = std::fs::read_to_string(&out).unwrap();
        let all = format!("{manifest}{}{}", stdout_of(&a), stderr_of(&a));
        for (k, v) in values {
            assert!(!all.contains(v), "value of {k} leaked:\n{all}");
        }
        assert!(
            manifest.contains("DB_PASSWORD: \"{{ .DEMO_DB_PASSWORD }}\""),
            "{manifest}"
        );
        assert!(
            manifest.contains("api-token: \"{{ index . \\\"DEMO_api-token\\\" }}\""),
            "{manifest}"
        );
        assert!(manifest.contains("  name: demo-secret\n"), "{manifest}");
        assert!(
            stderr_of(&a).contains("[ ] DEMO_SMTP.PASS"),
            "{}",
            stderr_of(&a)
        );
        validate(
            dir.path(),
            &out,
            "external-secrets.io_externalsecrets.yaml",
            "v1",
        );
    }
    // --items alone prints only the checklist.
    let a = seal(home.path())
        .args(["external-secret", "--items", "--from"])
        .arg(&file)
        .assert()
        .success();
    let s = stdout_of(&a);
    assert!(
        s.starts_with("Items to create") && !s.contains("apiVersion"),
        "{s}"
    );
}

#[test]
fn secret_new_is_encrypted_and_real_sops_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {}\n", recipient("alice")),
    )
    .unwrap();
    let key = repo.path().join("deploy_key");
    std::fs::write(
        &key,
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nfake\x00bytes\n",
    )
    .unwrap();
    seal(home.path())
        .current_dir(repo.path())
        .args([
            "secret",
            "new",
            "postgres",
            "--name",
            "plane-postgres",
            "-n",
            "database",
            "--generate",
            "hex:16",
            "--from-file",
        ])
        .arg(format!("ssh-key={}", key.display()))
        .args(["-o", "pg.sops.yaml"])
        .assert()
        .success();
    let enc = std::fs::read_to_string(repo.path().join("pg.sops.yaml")).unwrap();
    assert!(
        enc.contains("encrypted_regex: ^(data|stringData)$"),
        "{enc}"
    );
    assert!(
        enc.contains("    name: plane-postgres"),
        "metadata stays readable: {enc}"
    );
    let out = sops(home.path())
        .current_dir(repo.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt", "pg.sops.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = Format::Yaml
        .store()
        .load_plain(&out.stdout)
        .unwrap()
        .docs
        .remove(0);
    let sd = branch(&doc, "stringData");
    for k in ["postgres-password", "password"] {
        let Value::Str(v) = get(sd, k) else { panic!() };
        assert_eq!(v.len(), 32, "hex:16 gives 32 hex digits");
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(get(sd, "username"), &Value::Str("plane".into()));
    assert_eq!(get(sd, "database"), &Value::Str("plane".into()));
    use base64::Engine;
    let Value::Str(b64) = get(branch(&doc, "data"), "ssh-key") else {
        panic!()
    };
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        std::fs::read(&key).unwrap()
    );
    // No plaintext file was left behind.
    let names: Vec<_> = std::fs::read_dir(repo.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // Refuses to overwrite; a template key that cannot be generated is a clear error.
    seal(home.path())
        .current_dir(repo.path())
        .args([
            "secret",
            "new",
            "redis",
            "--name",
            "r",
            "-o",
            "pg.sops.yaml",
        ])
        .assert()
        .failure();
    let a = seal(home.path())
        .current_dir(repo.path())
        .args([
            "secret",
            "new",
            "cloudflare",
            "--name",
            "cf",
            "-o",
            "cf.sops.yaml",
        ])
        .assert()
        .failure();
    assert!(
        stderr_of(&a).contains("needs api-token"),
        "{}",
        stderr_of(&a)
    );
    // --set reads from standard input when it is not a terminal.
    seal(home.path())
        .current_dir(repo.path())
        .args([
            "secret",
            "new",
            "cloudflare",
            "--name",
            "cf",
            "--set",
            "api-token",
            "-o",
            "cf.sops.yaml",
        ])
        .write_stdin("tok-123\n")
        .assert()
        .success();
    let out = sops(home.path())
        .current_dir(repo.path())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args([
            "decrypt",
            "--extract",
            "[\"stringData\"][\"api-token\"]",
            "cf.sops.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tok-123");
}

#[test]
fn kubectl_kustomize_renders_a_generated_app_folder() {
    let home = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    seal(home.path())
        .current_dir(app.path())
        .args([
            "external-secret",
            "--preset",
            "plane",
            "-o",
            "externalsecret.yaml",
        ])
        .assert()
        .success();
    seal(home.path())
        .current_dir(app.path())
        .args([
            "secret",
            "new",
            "redis",
            "--name",
            "plane-redis",
            "--age",
            &recipient("alice"),
            "-o",
            "secret.sops.yaml",
        ])
        .assert()
        .success();
    std::fs::write(
        app.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: home\nresources:\n  - externalsecret.yaml\n  - secret.sops.yaml\n",
    )
    .unwrap();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(app.path())
        .output()
        .expect("kubectl is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = Format::Yaml
        .store()
        .load_plain(text.as_bytes())
        .unwrap()
        .docs;
    assert_eq!(docs.len(), 2, "{text}");
    let es = docs
        .iter()
        .find(|d| get(d, "kind") == &Value::Str("ExternalSecret".into()))
        .unwrap();
    assert_eq!(
        get(branch(es, "metadata"), "namespace"),
        &Value::Str("home".into())
    );
    let data = branch(
        branch(branch(branch(es, "spec"), "target"), "template"),
        "data",
    );
    assert_eq!(
        get(data, "INIT_POSTGRES_HOST"),
        get(data, "PLANE_POSTGRES_HOST")
    );
}

fn git_repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    d
}

const KS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: plane\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps/plane/app\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";

#[test]
fn bootstrap_flux_secret_config_and_patch() {
    let home = tempfile::tempdir().unwrap();
    let repo = git_repo();
    let ks_dir = repo.path().join("kubernetes/apps/plane");
    std::fs::create_dir_all(ks_dir.join("app")).unwrap();
    std::fs::write(ks_dir.join("ks.yaml"), KS).unwrap();
    let me = recipient("alice");
    let a = seal(home.path())
        .current_dir(repo.path())
        .args([
            "bootstrap",
            "flux",
            "--me",
            &me,
            "--patch",
            "kubernetes/apps/plane/ks.yaml",
        ])
        .assert()
        .success();
    let secret = stdout_of(&a);
    let doc = Format::Yaml
        .store()
        .load_plain(secret.as_bytes())
        .unwrap()
        .docs
        .remove(0);
    assert_eq!(
        get(branch(&doc, "metadata"), "name"),
        &Value::Str("sops-age".into())
    );
    assert_eq!(
        get(branch(&doc, "metadata"), "namespace"),
        &Value::Str("flux-system".into())
    );
    let Value::Str(identity) = get(branch(&doc, "stringData"), "age.agekey") else {
        panic!()
    };
    let cluster = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    // .sops.yaml has both keys; a Secret encrypted under it decrypts with the cluster key.
    let cfg = std::fs::read_to_string(repo.path().join(".sops.yaml")).unwrap();
    assert!(cfg.contains(&cluster) && cfg.contains(&me), "{cfg}");
    seal(home.path())
        .current_dir(repo.path())
        .args([
            "secret",
            "new",
            "redis",
            "--name",
            "plane-redis",
            "-o",
            "kubernetes/apps/plane/app/secret.sops.yaml",
        ])
        .assert()
        .success();
    let out = sops(home.path())
        .current_dir(repo.path())
        .env(
            "SOPS_AGE_KEY",
            identity
                .lines()
                .find(|l| l.starts_with("AGE-SECRET-KEY-"))
                .unwrap(),
        )
        .args(["decrypt", "kubernetes/apps/plane/app/secret.sops.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the cluster key cannot decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The Kustomization was patched and still validates against Flux's CRD.
    let ks = std::fs::read_to_string(ks_dir.join("ks.yaml")).unwrap();
    assert!(ks.contains("spec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n  interval: 1h\n"), "{ks}");
    let tmp = tempfile::tempdir().unwrap();
    validate(
        tmp.path(),
        &ks_dir.join("ks.yaml"),
        "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "v1",
    );
    // Doctor: everything fine for the cluster key, a problem for another key.
    seal(home.path())
        .current_dir(repo.path())
        .args(["doctor", "--cluster-key", &cluster])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "ok       kubernetes/apps/plane/app/secret.sops.yaml",
        ));
    let a = seal(home.path())
        .current_dir(repo.path())
        .args(["doctor", "--cluster-key", &recipient("bob")])
        .assert()
        .code(1);
    assert!(
        stdout_of(&a).contains("the cluster key is not a recipient"),
        "{}",
        stdout_of(&a)
    );
    // Undo the patch: doctor names the Kustomization and the fix.
    std::fs::write(ks_dir.join("ks.yaml"), KS).unwrap();
    let a = seal(home.path())
        .current_dir(repo.path())
        .args(["doctor", "--cluster-key", &cluster])
        .assert()
        .code(1);
    assert!(stdout_of(&a).contains("Flux Kustomization plane (kubernetes/apps/plane/ks.yaml) that builds it has no sops decryption"), "{}", stdout_of(&a));
    // --key reuses the identity: same public key, .sops.yaml unchanged.
    let key = tmp.path().join("cluster.agekey");
    std::fs::write(&key, identity).unwrap();
    let a = seal(home.path())
        .current_dir(repo.path())
        .args(["bootstrap", "flux", "--key"])
        .arg(&key)
        .assert()
        .success();
    assert!(stdout_of(&a).contains(identity.lines().last().unwrap()));
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".sops.yaml")).unwrap(),
        cfg
    );
}

#[test]
fn bootstrap_refuses_the_repo_and_explains_a_missing_kubeconfig() {
    let home = tempfile::tempdir().unwrap();
    let repo = git_repo();
    let a = seal(home.path())
        .current_dir(repo.path())
        .args([
            "bootstrap",
            "flux",
            "--no-config",
            "--secret-output",
            "sops-age.yaml",
        ])
        .assert()
        .code(8);
    assert!(
        stderr_of(&a)
            .contains("refusing to write the cluster's private key inside the git work tree")
    );
    assert!(!repo.path().join("sops-age.yaml").exists());
    let a = seal(home.path())
        .current_dir(repo.path())
        .args(["bootstrap", "flux", "--apply"])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("no kubeconfig was found") && err.contains("~/.kube/config"),
        "{err}"
    );
    assert!(
        !repo.path().join(".sops.yaml").exists(),
        "nothing is changed when --apply cannot work"
    );
    // Outside the repository it is written, private.
    let outside = tempfile::tempdir().unwrap();
    let dest = outside.path().join("sops-age.yaml");
    seal(home.path())
        .current_dir(repo.path())
        .args(["bootstrap", "flux", "--no-config", "--secret-output"])
        .arg(&dest)
        .assert()
        .success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// `--from` reads key names only: whatever the keys and values of the Secret, no value
    /// ever appears in the manifest or the checklist.
    #[test]
    fn external_secret_from_never_prints_a_value(
        entries in proptest::collection::btree_map("[a-z][a-z0-9_.-]{0,12}", "[A-Za-z0-9]{16,24}", 1..8),
        string_data in proptest::bool::ANY,
    ) {
        let home = tempfile::tempdir().unwrap();
        let field = if string_data { "stringData" } else { "data" };
        let mut yaml = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n{field}:\n");
        for (k, v) in &entries {
            yaml.push_str(&format!("  {k}: {v}\n"));
        }
        let file = home.path().join("secret.yaml");
        std::fs::write(&file, &yaml).unwrap();
        for extra in [&[][..], &["--items"][..]] {
            let out = seal(home.path())
                .arg("external-secret")
                .arg("--from")
                .arg(&file)
                .args(extra)
                .output()
                .unwrap();
            proptest::prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            for (k, v) in &entries {
                proptest::prop_assert!(!all.contains(v.as_str()), "value of {k} leaked:\n{all}");
            }
        }
    }
}
