//! The repository as seal's first user: its `.sops.yaml`, encrypted `secrets/` and the
//! `kubernetes/` Flux tree with the Plane app render with `kubectl kustomize`, validate
//! against the Flux and External Secrets CRDs, decrypt with the public test key (with seal
//! and with the real sops), pass `seal check` (which fails once a plaintext Secret is
//! added), match seal's generators and satisfy `seal doctor` for the cluster key.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use common::{
    check_jsonschema, copy_tracked, crd_schema, kubectl_kustomize, recipient, seal, sops,
    tracked_files,
};
use seal::stores::Format;
use seal::tree::{Branch, Item, Value};

const TEST_KEY: &str = "tests/keys/test.agekey";
const APP: &str = "kubernetes/apps/home/plane/app";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn parse_yaml(text: &[u8], what: &str) -> Vec<Branch> {
    Format::Yaml
        .store()
        .load_plain(text)
        .unwrap_or_else(|e| panic!("{what} does not parse: {e}"))
        .docs
}

/// Each document of a multi-document YAML stream with its own `sops` metadata (the YAML
/// store keeps only the first document's), split at `---` lines.
fn parse_each(text: &[u8], what: &str) -> Vec<(Branch, Option<Branch>)> {
    let text = std::str::from_utf8(text).expect("UTF-8 YAML");
    let mut parts = vec![String::new()];
    for line in text.lines() {
        if line == "---" {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    parts
        .iter()
        .filter(|p| {
            p.lines()
                .any(|l| !l.starts_with('#') && !l.trim().is_empty())
        })
        .map(|p| {
            let mut parsed = Format::Yaml
                .store()
                .load_plain(p.as_bytes())
                .unwrap_or_else(|e| panic!("{what} does not parse: {e}"));
            assert_eq!(parsed.docs.len(), 1, "{what}");
            (parsed.docs.remove(0), parsed.metadata)
        })
        .collect()
}

/// The entries of a list, without its comments.
fn entries(l: &[Value]) -> Vec<&Value> {
    l.iter()
        .filter(|v| !matches!(v, Value::Comment(_)))
        .collect()
}

/// The value at `path` (mapping keys, or list indexes as numbers) below `b`.
fn at<'a>(b: &'a Branch, path: &[&str]) -> &'a Value {
    let mut cur = b.get(path[0]).unwrap_or_else(|| panic!("no {}", path[0]));
    for (i, k) in path.iter().enumerate().skip(1) {
        cur = match cur {
            Value::Branch(m) => m.get(k),
            Value::List(l) => k
                .parse::<usize>()
                .ok()
                .and_then(|n| entries(l).get(n).copied()),
            _ => None,
        }
        .unwrap_or_else(|| panic!("no {}", path[..=i].join(".")));
    }
    cur
}

fn text<'a>(b: &'a Branch, path: &[&str]) -> &'a str {
    match at(b, path) {
        Value::Str(s) => s,
        other => panic!("{} is not a string: {other:?}", path.join(".")),
    }
}

fn list<'a>(b: &'a Branch, path: &[&str]) -> Vec<&'a Value> {
    match at(b, path) {
        Value::List(l) => entries(l),
        other => panic!("{} is not a list: {other:?}", path.join(".")),
    }
}

fn mapping<'a>(b: &'a Branch, path: &[&str]) -> &'a Branch {
    match at(b, path) {
        Value::Branch(m) => m,
        other => panic!("{} is not a mapping: {other:?}", path.join(".")),
    }
}

fn as_branch(v: &Value) -> &Branch {
    match v {
        Value::Branch(b) => b,
        other => panic!("not a mapping: {other:?}"),
    }
}

fn keys(b: &Branch) -> Vec<&str> {
    b.items
        .iter()
        .filter_map(|i| match i {
            Item::Pair(k, _) => Some(k.as_str()),
            _ => None,
        })
        .collect()
}

/// The public half of the repository's test key, from its `# public key:` line.
fn test_public_key() -> String {
    let t = std::fs::read_to_string(root().join(TEST_KEY)).expect("the test key is committed");
    t.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("a # public key: line in the test key")
        .trim()
        .to_string()
}

/// The age recipients of the repository's (only) creation rule.
fn rule_recipients() -> Vec<String> {
    let cfg = std::fs::read(root().join(".sops.yaml")).expect(".sops.yaml");
    let docs = parse_yaml(&cfg, ".sops.yaml");
    let rules = list(&docs[0], &["creation_rules"]);
    assert_eq!(rules.len(), 1, "one creation rule");
    let rule = as_branch(rules[0]);
    assert_eq!(
        text(rule, &["path_regex"]),
        r"^(secrets/.*\.ya?ml|kubernetes/.*\.sops\.ya?ml)$"
    );
    assert_eq!(text(rule, &["encrypted_regex"]), "^(data|stringData)$");
    text(rule, &["age"])
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

/// The cluster's public key: the rule's recipient that is not the test key.
fn cluster_key() -> String {
    let test = test_public_key();
    let all = rule_recipients();
    assert_eq!(all.len(), 2, "the test key and the cluster key: {all:?}");
    assert!(all.contains(&test), "the test key is a recipient: {all:?}");
    all.into_iter()
        .find(|k| *k != test)
        .expect("a cluster key besides the test key")
}

/// Every directory below `kubernetes/` with a kustomization.yaml.
fn kustomization_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = tracked_files()
        .into_iter()
        .filter(|p| p.starts_with("kubernetes") && p.ends_with("kustomization.yaml"))
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs
}

/// One object rendered by `kubectl kustomize`.
struct Obj {
    /// The kustomization directory it was rendered from.
    from: PathBuf,
    /// The object, without its `sops` key.
    doc: Branch,
    /// Its `sops` metadata, for an encrypted Secret.
    sops: Option<Branch>,
}

/// Every object that `kubectl kustomize` renders from every kustomization directory (an
/// object rendered by nested directories appears once per directory).
fn rendered() -> Vec<Obj> {
    let dirs = kustomization_dirs();
    assert!(dirs.len() >= 6, "kustomization directories: {dirs:?}");
    let mut out = Vec::new();
    for d in dirs {
        let yaml = kubectl_kustomize(&root().join(&d));
        let what = format!("kubectl kustomize {}", d.display());
        for (doc, sops) in parse_each(yaml.as_bytes(), &what) {
            out.push(Obj {
                from: d.clone(),
                doc,
                sops,
            });
        }
    }
    out
}

fn kind_of(doc: &Branch) -> (&str, &str) {
    (text(doc, &["apiVersion"]), text(doc, &["kind"]))
}

fn name_of(doc: &Branch) -> &str {
    text(doc, &["metadata", "name"])
}

/// The one rendered object of `kind` named `name`.
fn find<'a>(objs: &'a [Obj], kind: &str, name: &str) -> &'a Branch {
    objs.iter()
        .map(|o| &o.doc)
        .find(|d| kind_of(d).1 == kind && name_of(d) == name)
        .unwrap_or_else(|| panic!("no {kind} {name} is rendered"))
}

/// The CRD file and version that validate an object, or None for core objects and the
/// HelmRepository (no schema in ../shared/schemas; checked by hand).
fn schema_for(api: &str, kind: &str) -> Option<(&'static str, &'static str)> {
    match (api, kind) {
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization") => {
            Some(("kustomize.toolkit.fluxcd.io_kustomizations.yaml", "v1"))
        }
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease") => {
            Some(("helm.toolkit.fluxcd.io_helmreleases.yaml", "v2"))
        }
        ("external-secrets.io/v1", "ExternalSecret") => {
            Some(("external-secrets.io_externalsecrets.yaml", "v1"))
        }
        ("v1", "Secret" | "Namespace") | ("source.toolkit.fluxcd.io/v1", "HelmRepository") => None,
        _ => panic!("{api} {kind} is rendered but nothing validates it: add its CRD schema"),
    }
}

fn to_json(doc: &Branch) -> Vec<u8> {
    Format::Json
        .store()
        .emit_plain(
            std::slice::from_ref(doc),
            &seal::stores::Layout::none(),
            Default::default(),
        )
        .expect("object as JSON")
}

#[test]
fn every_kustomization_renders_and_its_flux_and_eso_objects_validate() {
    let objs = rendered();
    let dir = tempfile::tempdir().unwrap();
    let mut by_schema: Vec<((&str, &str), Vec<PathBuf>)> = Vec::new();
    let mut kinds = BTreeSet::new();
    for (i, Obj { from, doc, sops }) in objs.iter().enumerate() {
        let (api, kind) = kind_of(doc);
        kinds.insert(format!("{kind} {}", name_of(doc)));
        if kind == "Secret" {
            // Only sops-encrypted Secrets are committed in the Flux tree.
            assert!(
                sops.is_some(),
                "{}: Secret {} is not sops-encrypted",
                from.display(),
                name_of(doc)
            );
            let data = mapping(doc, &["stringData"]);
            for k in keys(data) {
                assert!(
                    text(data, &[k]).starts_with("ENC[AES256_GCM,"),
                    "{}: {k} is plaintext",
                    name_of(doc)
                );
            }
        }
        if kind == "HelmRepository" {
            assert!(text(doc, &["spec", "url"]).starts_with("https://"));
            assert!(!text(doc, &["spec", "interval"]).is_empty());
        }
        let Some(schema) = schema_for(api, kind) else {
            continue;
        };
        let f = dir.path().join(format!("{i}-{kind}.json"));
        std::fs::write(&f, to_json(doc)).unwrap();
        match by_schema.iter_mut().find(|(s, _)| *s == schema) {
            Some((_, files)) => files.push(f),
            None => by_schema.push((schema, vec![f])),
        }
    }
    for want in [
        "Kustomization cluster-meta",
        "Kustomization cluster-apps",
        "Kustomization plane",
        "HelmRelease plane",
        "ExternalSecret plane",
        "HelmRepository makeplane",
        "Secret plane-rabbitmq",
        "Secret cluster-secrets",
        "Namespace home",
    ] {
        assert!(kinds.contains(want), "{want} is not rendered: {kinds:?}");
    }
    assert_eq!(
        by_schema.len(),
        3,
        "Flux Kustomization, HelmRelease, ExternalSecret"
    );
    for ((crd, version), files) in by_schema {
        let schema = crd_schema(dir.path(), crd, version);
        let out = check_jsonschema(&schema, &files);
        assert!(
            out.status.success(),
            "rendered objects do not validate against {crd} {version}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_schema_check_rejects_a_broken_flux_kustomization() {
    // The validation above can fail: a decryption provider Flux does not know is refused.
    let objs = rendered();
    let ks = find(&objs, "Kustomization", "plane");
    let json = String::from_utf8(to_json(ks)).unwrap();
    assert!(json.contains("\"sops\""), "{json}");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.json");
    std::fs::write(&f, json.replacen("\"sops\"", "\"vault\"", 1)).unwrap();
    let schema = crd_schema(
        dir.path(),
        "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "v1",
    );
    assert!(
        !check_jsonschema(&schema, &[f]).status.success(),
        "check-jsonschema accepted decryption.provider: vault"
    );
}

#[test]
fn every_flux_kustomization_points_at_a_kustomization_in_the_repo_and_decrypts() {
    let objs = rendered();
    let mut seen = BTreeSet::new();
    for doc in objs
        .iter()
        .map(|o| &o.doc)
        .filter(|d| kind_of(d).1 == "Kustomization")
    {
        let name = name_of(doc);
        if !seen.insert(name.to_string()) {
            continue;
        }
        let path = text(doc, &["spec", "path"]);
        let rel = path.strip_prefix("./").unwrap_or(path);
        assert!(
            root().join(rel).join("kustomization.yaml").is_file(),
            "Flux Kustomization {name}: spec.path {path} has no kustomization.yaml"
        );
        assert_eq!(text(doc, &["metadata", "namespace"]), "flux-system");
        assert_eq!(text(doc, &["spec", "sourceRef", "name"]), "flux-system");
        assert_eq!(text(doc, &["spec", "decryption", "provider"]), "sops");
        assert_eq!(
            text(doc, &["spec", "decryption", "secretRef", "name"]),
            "sops-age",
            "{name}"
        );
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let apps = find(&objs, "Kustomization", "cluster-apps");
    assert_eq!(text(apps, &["spec", "path"]), "./kubernetes/apps");
}

#[test]
fn the_plane_flux_kustomization_is_wired_as_home_ops_expects() {
    let objs = rendered();
    let ks = find(&objs, "Kustomization", "plane");
    assert_eq!(text(ks, &["spec", "targetNamespace"]), "home");
    assert_eq!(
        text(
            ks,
            &["spec", "commonMetadata", "labels", "app.kubernetes.io/name"]
        ),
        "plane"
    );
    let deps: BTreeSet<&str> = list(ks, &["spec", "dependsOn"])
        .iter()
        .map(|d| text(as_branch(d), &["name"]))
        .collect();
    assert_eq!(
        deps,
        BTreeSet::from([
            "cluster-apps-rook-ceph-cluster",
            "dragonfly-cluster",
            "cloudnative-pg-cluster17"
        ])
    );
    assert_eq!(text(ks, &["spec", "path"]), format!("./{APP}"));
    assert_eq!(
        text(ks, &["spec", "postBuild", "substituteFrom", "0", "name"]),
        "cluster-secrets"
    );
    // The app's kustomization lists the Secrets before the HelmRelease.
    let k = std::fs::read(root().join(APP).join("kustomization.yaml")).unwrap();
    let k = parse_yaml(&k, "app kustomization");
    let res: Vec<&str> = list(&k[0], &["resources"])
        .iter()
        .map(|v| match v {
            Value::Str(s) => s.as_str(),
            other => panic!("resource {other:?}"),
        })
        .collect();
    let pos = |name: &str| {
        res.iter()
            .position(|r| r.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not in {res:?}"))
    };
    assert!(pos("helmrelease.yaml") > pos("externalsecret.yaml"));
    assert!(pos("helmrelease.yaml") > pos("secret.sops.yaml"));
}

#[test]
fn the_plane_helmrelease_uses_the_chart_as_documented() {
    let objs = rendered();
    let hr = find(&objs, "HelmRelease", "plane");
    let chart = mapping(hr, &["spec", "chart", "spec"]);
    assert_eq!(text(chart, &["chart"]), "plane-ce");
    assert_eq!(text(chart, &["version"]), "1.2.2");
    assert_eq!(text(chart, &["sourceRef", "kind"]), "HelmRepository");
    assert_eq!(text(chart, &["sourceRef", "name"]), "makeplane");
    assert_eq!(text(chart, &["sourceRef", "namespace"]), "flux-system");
    let repo = find(&objs, "HelmRepository", "makeplane");
    assert_eq!(text(repo, &["metadata", "namespace"]), "flux-system");

    let values = mapping(hr, &["spec", "values"]);
    for (svc, on) in [
        ("postgres", false),
        ("redis", false),
        ("minio", false),
        ("rabbitmq", true),
    ] {
        assert_eq!(
            at(values, &[svc, "local_setup"]),
            &Value::Bool(on),
            "{svc}.local_setup"
        );
    }
    // Every image is registry/name:planeVersion in this chart: one pinned tag.
    assert_eq!(text(values, &["planeVersion"]), "v1.0.0");
    for (component, image) in [
        ("web", "plane-frontend"),
        ("space", "plane-space"),
        ("admin", "plane-admin"),
        ("live", "plane-live"),
        ("api", "plane-backend"),
        ("worker", "plane-backend"),
        ("beatworker", "plane-backend"),
    ] {
        assert_eq!(
            text(values, &[component, "image"]),
            format!("artifacts.plane.so/makeplane/{image}")
        );
        for r in ["cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit"] {
            assert!(
                !text(values, &[component, r]).is_empty(),
                "{component}.{r} is not set"
            );
        }
    }
    assert_eq!(at(values, &["ingress", "enabled"]), &Value::Bool(true));
    assert_eq!(text(values, &["ingress", "ingressClass"]), "external");
    assert_eq!(
        text(values, &["ingress", "appHost"]),
        "plane.${SECRET_DOMAIN}"
    );
    assert!(
        text(
            values,
            &[
                "ingress",
                "ingress_annotations",
                "external-dns.alpha.kubernetes.io/target"
            ]
        )
        .ends_with("${SECRET_DOMAIN}")
    );

    // valuesFrom reads keys that exist: plane-secret's from the ExternalSecret's
    // template, plane-rabbitmq's from the sops-encrypted Secret (key names are plaintext).
    let es = find(&objs, "ExternalSecret", "plane");
    let es_keys = keys(mapping(es, &["spec", "target", "template", "data"]));
    let rabbit = find(&objs, "Secret", "plane-rabbitmq");
    let rabbit_keys = keys(mapping(rabbit, &["stringData"]));
    let mut targets = BTreeSet::new();
    for v in list(hr, &["spec", "valuesFrom"]) {
        let v = as_branch(v);
        assert_eq!(text(v, &["kind"]), "Secret");
        let key = text(v, &["valuesKey"]);
        let known = match text(v, &["name"]) {
            "plane-secret" => &es_keys,
            "plane-rabbitmq" => &rabbit_keys,
            other => panic!("valuesFrom reads an unknown Secret {other}"),
        };
        assert!(known.contains(&key), "{key} is not a key of its Secret");
        assert!(
            targets.insert(text(v, &["targetPath"]).to_string()),
            "two valuesFrom entries set {}",
            text(v, &["targetPath"])
        );
    }
    for t in [
        "env.pgdb_remote_url",
        "env.remote_redis_url",
        "env.secret_key",
        "env.aws_secret_access_key",
        "rabbitmq.default_password",
    ] {
        assert!(targets.contains(t), "{t} is not set from a Secret");
    }

    // The postgres-init container is added by a post-renderer and reads plane-secret,
    // whose INIT_POSTGRES_* values are the same as Plane's own database values.
    let patches = list(hr, &["spec", "postRenderers", "0", "kustomize", "patches"]);
    let mut patched = BTreeSet::new();
    for p in patches {
        let p = as_branch(p);
        patched.insert(text(p, &["target", "kind"]).to_string());
        // A JSON6902 patch is a YAML list: wrap it in a mapping to parse it.
        let wrapped: String = std::iter::once("ops:\n".to_string())
            .chain(text(p, &["patch"]).lines().map(|l| format!("  {l}\n")))
            .collect();
        let ops = parse_yaml(wrapped.as_bytes(), "post-renderer patch");
        let op = as_branch(list(&ops[0], &["ops"])[0]);
        assert_eq!(text(op, &["path"]), "/spec/template/spec/initContainers");
        let init = as_branch(list(op, &["value"])[0]);
        assert!(text(init, &["image"]).starts_with("ghcr.io/home-operations/postgres-init:"));
        assert_eq!(
            text(init, &["envFrom", "0", "secretRef", "name"]),
            text(es, &["spec", "target", "name"])
        );
    }
    assert_eq!(
        patched,
        BTreeSet::from(["Deployment".to_string(), "Job".to_string()])
    );
    assert_eq!(text(es, &["spec", "target", "name"]), "plane-secret");
    let data = mapping(es, &["spec", "target", "template", "data"]);
    for (init, plane) in [
        ("INIT_POSTGRES_DBNAME", "PLANE_POSTGRES_DB"),
        ("INIT_POSTGRES_HOST", "PLANE_POSTGRES_HOST"),
        ("INIT_POSTGRES_USER", "PLANE_POSTGRES_USER"),
        ("INIT_POSTGRES_PASS", "PLANE_POSTGRES_PASSWORD"),
    ] {
        assert_eq!(at(data, &[init]), at(data, &[plane]), "{init} vs {plane}");
    }
    let url = text(data, &["PLANE_DATABASE_URL"]);
    for part in [
        text(data, &["PLANE_POSTGRES_HOST"]),
        text(data, &["PLANE_POSTGRES_DB"]),
        text(data, &["PLANE_POSTGRES_USER"]),
        text(data, &["PLANE_POSTGRES_PASSWORD"]),
    ] {
        assert!(url.contains(part), "PLANE_DATABASE_URL does not use {part}");
    }
}

#[test]
fn the_external_secret_is_what_seal_generates() {
    let home = tempfile::tempdir().unwrap();
    let a = seal(home.path())
        .args([
            "external-secret",
            "--preset",
            "plane",
            "--store",
            "onepassword-connect",
            "--target",
            "plane-secret",
        ])
        .assert()
        .success();
    let fresh = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    let committed = std::fs::read_to_string(root().join(APP).join("externalsecret.yaml")).unwrap();
    assert_eq!(
        committed, fresh,
        "{APP}/externalsecret.yaml differs from `seal external-secret --preset plane`: \
         rerun scripts/make-repo-example.sh"
    );
}

/// The example's encrypted files: everything in secrets/ and every *.sops.yaml of the
/// Flux tree.
fn sops_files() -> Vec<PathBuf> {
    let files: Vec<PathBuf> = tracked_files()
        .into_iter()
        .filter(|p| {
            p.starts_with("secrets")
                || (p.starts_with("kubernetes") && p.to_string_lossy().ends_with(".sops.yaml"))
        })
        .collect();
    let names: BTreeSet<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    for want in [
        "secrets/postgres.yaml",
        "secrets/redis.yaml",
        "secrets/authentik.yaml",
        "secrets/cloudflare.yaml",
        "secrets/vm-ssh-key.yaml",
        "secrets/monitoring.yaml",
        "kubernetes/apps/home/plane/app/secret.sops.yaml",
        "kubernetes/flux/meta/cluster-secrets.sops.yaml",
    ] {
        assert!(names.contains(want), "{want} is missing: {names:?}");
    }
    files
}

#[test]
fn every_encrypted_file_decrypts_with_the_test_key_with_seal_and_sops() {
    let home = tempfile::tempdir().unwrap();
    let key = root().join(TEST_KEY);
    let recipients: BTreeSet<String> = rule_recipients().into_iter().collect();
    for rel in sops_files() {
        let what = rel.display().to_string();
        let raw = std::fs::read(root().join(&rel)).unwrap();
        // Encrypted for the rule's two recipients, data/stringData only.
        for (doc, sops) in parse_each(&raw, &what) {
            assert_eq!(text(&doc, &["kind"]), "Secret", "{what}");
            assert!(!text(&doc, &["metadata", "name"]).starts_with("ENC["));
            let sops = sops.unwrap_or_else(|| panic!("{what}: a document without sops metadata"));
            assert_eq!(text(&sops, &["encrypted_regex"]), "^(data|stringData)$");
            let got: BTreeSet<String> = list(&sops, &["age"])
                .iter()
                .map(|r| text(as_branch(r), &["recipient"]).to_string())
                .collect();
            assert_eq!(got, recipients, "{what}: recipients");
        }
        let by_seal = seal(home.path())
            .current_dir(root())
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["decrypt"])
            .arg(&rel)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let by_sops = sops(home.path())
            .current_dir(root())
            .env("SOPS_AGE_KEY_FILE", &key)
            .arg("decrypt")
            .arg(&rel)
            .output()
            .unwrap();
        assert!(
            by_sops.status.success(),
            "sops cannot decrypt {what}: {}",
            String::from_utf8_lossy(&by_sops.stderr)
        );
        // The same documents, values and comments; the layout may differ (seal keeps the
        // file's indentation, sops re-indents to 4 spaces: docs/compatibility.md). Values
        // are not printed on failure.
        let (a, b) = (
            parse_each(&by_seal, &what),
            parse_each(&by_sops.stdout, &what),
        );
        assert!(
            a == b,
            "{what}: seal and sops decrypt to different documents"
        );
        assert!(
            a.iter().all(|(_, m)| m.is_none()),
            "{what}: sops metadata left"
        );
        let secrets = a.iter().filter(|(d, _)| text(d, &["kind"]) == "Secret");
        assert_eq!(secrets.count(), a.len(), "{what}");
        assert!(!by_seal.windows(4).any(|w| w == b"ENC["), "{what}");
        // Another key opens nothing: the test key is what decrypts them.
        seal(home.path())
            .current_dir(root())
            .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
            .arg("decrypt")
            .arg(&rel)
            .assert()
            .code(128);
    }
}

/// The decrypted documents of an example file (with the test key, by seal).
fn decrypted(rel: &str) -> Vec<Branch> {
    let home = tempfile::tempdir().unwrap();
    let out = seal(home.path())
        .current_dir(root())
        .env("SOPS_AGE_KEY_FILE", root().join(TEST_KEY))
        .args(["decrypt", rel])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    parse_yaml(&out, rel)
}

#[test]
fn the_secrets_have_the_keys_their_charts_expect() {
    let pg = &decrypted("secrets/postgres.yaml")[0];
    assert_eq!(text(pg, &["metadata", "namespace"]), "database");
    // Bitnami's auth.existingSecret keys.
    for k in ["postgres-password", "password"] {
        assert!(text(pg, &["stringData", k]).len() >= 16, "{k}");
    }
    assert!(
        text(
            &decrypted("secrets/redis.yaml")[0],
            &["stringData", "redis-password"]
        )
        .len()
            >= 16
    );
    assert!(
        !text(
            &decrypted("secrets/authentik.yaml")[0],
            &["stringData", "secret_key"]
        )
        .is_empty()
    );
    let cf = &decrypted("secrets/cloudflare.yaml")[0];
    assert_eq!(text(cf, &["metadata", "namespace"]), "cert-manager");
    assert!(!text(cf, &["stringData", "api-token"]).is_empty());

    // The SSH deploy key is in `data` (base64) and never in plaintext in the file.
    let ssh = &decrypted("secrets/vm-ssh-key.yaml")[0];
    let key = base64::engine::general_purpose::STANDARD
        .decode(text(ssh, &["data", "id_ed25519"]))
        .expect("base64 under data");
    // (no PEM marker spelled out here: seal check would take this line for a key)
    let key = String::from_utf8(key).expect("an OpenSSH key is text");
    assert!(key.starts_with("-----") && key.contains("OPENSSH PRIVATE"));
    let public = base64::engine::general_purpose::STANDARD
        .decode(text(ssh, &["data", "id_ed25519.pub"]))
        .unwrap();
    assert!(public.starts_with(b"ssh-ed25519 "));
    let raw = std::fs::read_to_string(root().join("secrets/vm-ssh-key.yaml")).unwrap();
    assert!(!raw.contains("OPENSSH") && !raw.contains("ssh-ed25519"));

    let multi = decrypted("secrets/monitoring.yaml");
    let names: Vec<&str> = multi.iter().map(name_of).collect();
    assert_eq!(names, ["grafana-admin", "alertmanager-discord"]);

    let rabbit = &decrypted(&format!("{APP}/secret.sops.yaml"))[0];
    assert!(text(rabbit, &["stringData", "RABBITMQ_DEFAULT_PASS"]).len() >= 16);
    let vars = &decrypted("kubernetes/flux/meta/cluster-secrets.sops.yaml")[0];
    assert!(!text(vars, &["stringData", "SECRET_DOMAIN"]).is_empty());
}

#[test]
fn only_the_test_key_is_committed() {
    let keys_dir: Vec<PathBuf> = tracked_files()
        .into_iter()
        .filter(|p| p.starts_with("tests/keys"))
        .collect();
    // The age test key, and sops's functional-suite PGP test key (MPL-2.0 test material the
    // PGP interop tests import into their own GNUPGHOME).
    assert_eq!(
        keys_dir,
        [
            PathBuf::from("tests/keys/sops_functional_tests_key.asc"),
            PathBuf::from(TEST_KEY)
        ]
    );
    let text = std::fs::read_to_string(root().join(TEST_KEY)).unwrap();
    assert!(
        text.starts_with("# PUBLIC TEST KEY"),
        "{TEST_KEY} says what it is"
    );
    let home = tempfile::tempdir().unwrap();
    let a = seal(home.path())
        .args(["key", "public", TEST_KEY])
        .current_dir(root())
        .assert()
        .success();
    let public = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert_eq!(public.trim(), test_public_key());
    // The cluster key is a different key whose private half is not in the repository.
    assert_ne!(cluster_key(), test_public_key());
    let ignore = std::fs::read_to_string(root().join(".sealignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "tests/keys/*.agekey"),
        "{ignore}"
    );
}

#[test]
fn seal_check_passes_on_the_repository() {
    let home = tempfile::tempdir().unwrap();
    let a = seal(home.path())
        .current_dir(root())
        .args(["check", "."])
        .assert()
        .success();
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains(" 0 errors") || out.contains("no findings"),
        "{out}"
    );
}

#[test]
fn seal_check_fails_on_a_copy_with_a_plaintext_secret() {
    let home = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_tracked(copy.path(), |_| true);
    let check = || {
        seal(home.path())
            .current_dir(copy.path())
            .args(["check", "."])
            .assert()
    };
    check().success();

    // A plaintext Secret dropped into the app folder.
    let leak = copy.path().join(APP).join("leak.yaml");
    let value = "Zq8vN3rT6yWb1Kd4";
    std::fs::write(
        &leak,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  token: {value}\n"
        ),
    )
    .unwrap();
    let a = check().code(1);
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(
        out.contains(&format!("{APP}/leak.yaml")) && out.contains("plaintext-secret"),
        "{out}"
    );
    assert!(!out.contains(value), "the value is printed: {out}");
    std::fs::remove_file(&leak).unwrap();
    check().success();

    // A file of secrets/ decrypted in place and left so.
    seal(home.path())
        .current_dir(copy.path())
        .env("SOPS_AGE_KEY_FILE", root().join(TEST_KEY))
        .args(["decrypt", "-i", "secrets/redis.yaml"])
        .assert()
        .success();
    let a = check().code(1);
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(out.contains("secrets/redis.yaml"), "{out}");
}

#[test]
fn doctor_is_clean_for_the_cluster_key() {
    // On a copy of the example alone: `seal doctor` walks the whole repository and does
    // not read .sealignore, so tests/check-corpus's deliberate fixtures would be reported.
    let home = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_tracked(copy.path(), |p| {
        p == Path::new(".sops.yaml") || p.starts_with("secrets") || p.starts_with("kubernetes")
    });
    let a = seal(home.path())
        .current_dir(copy.path())
        .args(["doctor", "--cluster-key", &cluster_key()])
        .assert()
        .success();
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    let n = sops_files().len();
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        n,
        "{out}"
    );
    assert!(out.contains(&format!("{n} ok, 0 need attention")), "{out}");
    // The Flux tree's files are covered by a Kustomization that decrypts (no note).
    let flux_notes = out
        .split("\nok")
        .filter(|entry| entry.contains("kubernetes/") && entry.contains("note:"))
        .count();
    assert_eq!(flux_notes, 0, "{out}");
    // For a key that is not a recipient, doctor reports every file.
    seal(home.path())
        .current_dir(copy.path())
        .args(["doctor", "--cluster-key", &recipient("bob")])
        .assert()
        .code(1);
}
