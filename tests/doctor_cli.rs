//! `seal doctor` on Flux layouts: decryption added by a parent Kustomization's
//! spec.patches, spec.path relative to a source root below the repository root, the
//! one-line summary of files no Kustomization applies, and `--fix` (no key needed). Then
//! the real-world corpus (`../shared/realworld`) with the parent Kustomizations its copy
//! lacks. Files whose recipients are PGP keys only need Flux's sops-gpg convention (a
//! decryption Secret with `.asc` keys); their PGP entries are made through gpg with a
//! GNUPGHOME of the test's own.

mod common;

use std::path::{Path, PathBuf};

use common::{recipient, seal};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn ks(name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

/// A parent's patch that gives sops decryption to the Kustomizations it applies, unless
/// they carry the opt-out label (the pattern of the k8s-at-home template).
const PATCHES: &str = "  patches:\n    - patch: |-\n        apiVersion: kustomize.toolkit.fluxcd.io/v1\n        kind: Kustomization\n        metadata:\n          name: not-used\n        spec:\n          decryption:\n            provider: sops\n            secretRef:\n              name: sops-age\n      target:\n        group: kustomize.toolkit.fluxcd.io\n        kind: Kustomization\n        labelSelector: sops.example/disabled notin (true)\n";

const DECRYPTION: &str =
    "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n";

struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

fn repo() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    Repo {
        _tmp: tmp,
        root,
        home,
    }
}

impl Repo {
    fn secret(&self, rel: &str) {
        write(
            &self.root,
            rel,
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  A: b\n",
        );
        seal(&self.home)
            .current_dir(&self.root)
            .args(["encrypt", "-i", "--age", &recipient("alice"), rel])
            .assert()
            .success();
    }

    fn doctor(&self, extra: &[&str]) -> (i32, String) {
        let o = seal(&self.home)
            .current_dir(&self.root)
            .arg("doctor")
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }
}

#[test]
fn decryption_from_a_parents_patches_counts() {
    let r = repo();
    r.secret("kubernetes/apps/db/app/secret.sops.yaml");
    write(
        &r.root,
        "kubernetes/flux/apps.yaml",
        &ks(
            "apps",
            "./kubernetes/apps",
            &format!("{DECRYPTION}{PATCHES}"),
        ),
    );
    write(
        &r.root,
        "kubernetes/apps/db/ks.yaml",
        &ks("db", "./kubernetes/apps/db/app", ""),
    );
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 ok, 0 need attention"), "{out}");
    // The opt-out label: the patch no longer applies, and doctor says which parent.
    write(
        &r.root,
        "kubernetes/apps/db/ks.yaml",
        &ks("db", "./kubernetes/apps/db/app", "").replace(
            "  namespace: flux-system\n",
            "  namespace: flux-system\n  labels:\n    sops.example/disabled: \"true\"\n",
        ),
    );
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Kustomization db (kubernetes/apps/db/ks.yaml)")
            && out.contains("the spec.patches of apps"),
        "{out}"
    );
}

#[test]
fn spec_path_is_relative_to_the_source_root_and_fix_needs_no_key() {
    // The xunholy layout: the source is built from kubernetes/, so spec.path says
    // ./apps/base/...; the child has no decryption and no parent here adds it.
    let r = repo();
    r.secret("kubernetes/apps/base/db/app/secret.enc.yaml");
    write(
        &r.root,
        "kubernetes/apps/base/db/ks.yaml",
        &ks("db", "./apps/base/db/app", ""),
    );
    write(
        &r.root,
        "kubernetes/apps/base/db/app/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./secret.enc.yaml\n",
    );
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("PROBLEM  kubernetes/apps/base/db/app/secret.enc.yaml"),
        "{out}"
    );
    assert!(out.contains("seal doctor --fix"), "{out}");
    // --fix without any key file in reach (the sandbox HOME has none).
    let (code, out) = r.doctor(&["--fix"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("fixed    kubernetes/apps/base/db/ks.yaml: added spec.decryption to db"),
        "{out}"
    );
    let text = std::fs::read_to_string(r.root.join("kubernetes/apps/base/db/ks.yaml")).unwrap();
    assert!(text.contains("decryption:\n    provider: sops\n"), "{text}");
    let (code, out) = r.doctor(&["--fix"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to fix"), "{out}");
}

#[test]
fn files_no_kustomization_applies_are_one_line_with_a_count() {
    let r = repo();
    for i in 0..3 {
        r.secret(&format!("infra/s{i}.sops.yaml"));
    }
    r.secret("kubernetes/apps/x.sops.yaml");
    write(
        &r.root,
        "kubernetes/flux/apps.yaml",
        &ks("apps", "./kubernetes/apps", DECRYPTION),
    );
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    let notes: Vec<&str> = out.lines().filter(|l| l.contains("note")).collect();
    assert_eq!(notes.len(), 1, "{out}");
    assert!(
        notes[0].contains("3 sops file(s) are applied by none of the 1 Flux Kustomization(s)"),
        "{out}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// tyriis/home-ops gives its app Kustomizations decryption through the spec.patches of a
/// parent (`apps-sync`) that the corpus copy does not hold. With that parent added (written
/// here after the upstream pattern), the talos-flux problems are gone; kube-nas, whose
/// parent is still missing, keeps its one.
#[test]
fn realworld_tyriis_with_its_parent_kustomization() {
    let src = common::shared().join("realworld/tyriis__home-ops");
    if !src.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs {}",
            src.display()
        );
        eprintln!(
            "realworld_tyriis_with_its_parent_kustomization did not run: {} not found",
            src.display()
        );
        return;
    }
    let r = repo();
    copy_dir(&src, &r.root);
    let (code, before) = r.doctor(&[]);
    assert_eq!(code, 1, "{before}");
    assert!(before.contains("4 need attention"), "{before}");
    write(
        &r.root,
        "kubernetes/talos-flux/flux/apps-sync.yaml",
        &ks(
            "apps-sync",
            "./kubernetes/talos-flux/apps",
            &format!("{DECRYPTION}{PATCHES}"),
        )
        .replace(
            "sops.example/disabled",
            "substitution.flux.home.arpa/disabled",
        ),
    );
    let (code, after) = r.doctor(&[]);
    assert_eq!(code, 1, "{after}");
    assert!(after.contains("1 need attention"), "{after}");
    assert!(
        after.contains(
            "PROBLEM  kubernetes/kube-nas/apps/auth-system/oauth2-proxy/app/secrets.sops.yaml"
        ),
        "{after}"
    );
}

/// xunholy/k8s-gitops: an OCI source built from `kubernetes/`, so every spec.path reads
/// `./apps/base/…`, and the children get decryption from the `cluster` Kustomization's
/// patches, which applies an overlay (`../../base/…` resources). The corpus copy lacks the
/// overlay and the parent: without them doctor names the 3 Kustomizations that cover sops
/// files and decrypt by no visible means; with them (written here after the upstream
/// pattern), none.
#[test]
fn realworld_xunholy_source_root_and_overlay_parent() {
    let src = common::shared().join("realworld/xunholy__k8s-gitops");
    if !src.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs {}",
            src.display()
        );
        eprintln!(
            "realworld_xunholy_source_root_and_overlay_parent did not run: {} not found",
            src.display()
        );
        return;
    }
    let r = repo();
    copy_dir(&src, &r.root);
    let (code, before) = r.doctor(&[]);
    assert_eq!(code, 1, "{before}");
    assert!(before.contains("3 need attention"), "{before}");
    assert!(
        before.contains(
            "Flux Kustomization cross-seed (kubernetes/apps/base/home-system/cross-seed/ks.yaml)"
        ),
        "{before}"
    );
    write(
        &r.root,
        "kubernetes/apps/overlays/cluster-00/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/home-system/cross-seed/ks.yaml\n  - ../../base/observability/thanos/ks.yaml\n  - ../../base/apps-preview/ks.yaml\n",
    );
    write(
        &r.root,
        "kubernetes/clusters/cluster-00/ks.yaml",
        &ks(
            "cluster",
            "./apps/overlays/cluster-00",
            &format!("{DECRYPTION}{PATCHES}"),
        )
        .replace(
            "labelSelector: sops.example/disabled notin (true)",
            "labelSelector: flux-defaults!=disabled",
        ),
    );
    // The PGP-only files under a parent that decrypts with the age convention's Secret:
    // Flux would need the PGP key there.
    let (code, age_secret) = r.doctor(&[]);
    assert_eq!(code, 1, "{age_secret}");
    assert!(
        age_secret.contains("PGP keys only (0635B8D34037A9453003FB7B93CAA682FF4C9014)")
            && age_secret.contains("--from-file=sops.asc=/dev/stdin"),
        "{age_secret}"
    );
    // Upstream points its Kustomizations at sops-gpg (the Secret is in the repo,
    // kubernetes/clusters/cluster-00/secrets/sops-gpg.encrypted.yaml, key sops.asc).
    let parent = std::fs::read_to_string(r.root.join("kubernetes/clusters/cluster-00/ks.yaml"))
        .unwrap()
        .replace("name: sops-age", "name: sops-gpg");
    write(&r.root, "kubernetes/clusters/cluster-00/ks.yaml", &parent);
    let (code, after) = r.doctor(&[]);
    assert_eq!(code, 0, "{after}");
    assert!(after.contains("0 need attention"), "{after}");
}

fn git(dir: &Path, home: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Kustomizations doctor reads, and the files each applies, are the files the
/// repository holds, as for `seal check`: a `.gitignore` never hides a tracked file. Here
/// the parent Kustomization (whose patches give the child decryption) and the sops file
/// are tracked although `.gitignore` matches them; an ignored, untracked Kustomization
/// that would say otherwise is not read.
#[test]
fn gitignore_hides_no_tracked_kustomization_or_applied_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    git(&root, &home, &["init", "-q"]);
    let r = Repo {
        _tmp: tmp,
        root: root.clone(),
        home: home.clone(),
    };
    write(&root, ".gitignore", "kubernetes/flux/\n*.sops.yaml\n");
    r.secret("kubernetes/apps/db/app/secret.sops.yaml");
    write(
        &root,
        "kubernetes/flux/apps.yaml",
        &ks(
            "apps",
            "./kubernetes/apps",
            &format!("{DECRYPTION}{PATCHES}"),
        ),
    );
    write(
        &root,
        "kubernetes/apps/db/ks.yaml",
        &ks("db", "./kubernetes/apps/db/app", ""),
    );
    git(
        &root,
        &home,
        &[
            "add",
            "-f",
            ".gitignore",
            "kubernetes/flux/apps.yaml",
            "kubernetes/apps/db/ks.yaml",
            "kubernetes/apps/db/app/secret.sops.yaml",
        ],
    );
    // Ignored and untracked: not part of the repository, so not read.
    write(
        &root,
        "kubernetes/flux/stray.yaml",
        &ks("stray", "./kubernetes/apps/db/app", ""),
    );
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok       kubernetes/apps/db/app/secret.sops.yaml"),
        "{out}"
    );
    assert!(out.contains("1 ok, 0 need attention"), "{out}");
    assert!(!out.contains("applied by none"), "{out}");
    assert!(!out.contains("stray"), "{out}");
}

/// The sops functional suite's test key (tests/keys), imported into a GnuPG home of the
/// test's own.
const FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

fn gnupg_home(r: &Repo) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let g = r.home.join("gnupg");
    std::fs::create_dir_all(&g).unwrap();
    std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/sops_functional_tests_key.asc");
    let o = std::process::Command::new("gpg")
        .env("GNUPGHOME", &g)
        .args(["--batch", "--import"])
        .arg(key)
        .output()
        .expect("gpg is required (scripts/install-peers.sh)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    g
}

#[test]
fn pgp_only_files_need_a_sops_gpg_style_secret() {
    let r = repo();
    let gnupg = gnupg_home(&r);
    let rel = "kubernetes/apps/secret.sops.yaml";
    write(
        &r.root,
        rel,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  A: b\n",
    );
    seal(&r.home)
        .current_dir(&r.root)
        .env("GNUPGHOME", &gnupg)
        .args(["encrypt", "-i", "--pgp", FP, rel])
        .assert()
        .success();
    let with_secret = |name: &str| {
        write(
            &r.root,
            "kubernetes/flux/apps.yaml",
            &ks(
                "apps",
                "./kubernetes/apps",
                &DECRYPTION.replace("sops-age", name),
            ),
        );
    };
    // The age convention's Secret cannot hold what a PGP-only file needs.
    with_secret("sops-age");
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("its recipients are PGP keys only ({FP})"))
            && out.contains("Flux Kustomization apps (kubernetes/flux/apps.yaml) decrypts with the Secret sops-age")
            && out.contains(&format!("fix: gpg --export-secret-keys --armor {FP} | kubectl create secret generic sops-gpg --namespace=flux-system --from-file=sops.asc=/dev/stdin")),
        "{out}"
    );
    // A Secret of the repository named by the Kustomization: its keys decide.
    with_secret("cluster-keys");
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-keys\n  namespace: flux-system\ndata:\n  age.agekey: eA==\n";
    write(&r.root, "kubernetes/flux/keys.yaml", secret);
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "decrypts with the Secret cluster-keys, which is defined in kubernetes/flux/keys.yaml without a key ending in .asc"
        ),
        "{out}"
    );
    write(
        &r.root,
        "kubernetes/flux/keys.yaml",
        &secret.replace("age.agekey", "sops.asc"),
    );
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    // Flux's documented name.
    std::fs::remove_file(r.root.join("kubernetes/flux/keys.yaml")).unwrap();
    with_secret("sops-gpg");
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("not sops-age"), "{out}");
    // A file with an age recipient too is the age convention's business, as before.
    with_secret("sops-age");
    seal(&r.home)
        .current_dir(&r.root)
        .env("GNUPGHOME", &gnupg)
        .args(["rotate", "-i", "--add-age", &recipient("alice"), rel])
        .assert()
        .success();
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
}

/// `--fix` for files whose recipients are PGP keys only: the decryption block it adds
/// names Flux's PGP Secret (sops-gpg), and it prints the command that makes that Secret
/// from the private key (which --fix never needs or reads); a Kustomization that also
/// builds an age file gets the age Secret, as before, with the hint to add the PGP key to
/// it. A Secret a Kustomization already names is left alone, and --fix says so.
#[test]
fn fix_gives_pgp_only_files_the_sops_gpg_secret() {
    let r = repo();
    let gnupg = gnupg_home(&r);
    let plain = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  A: b\n";
    for rel in ["kubernetes/pgp/s.sops.yaml", "kubernetes/mixed/p.sops.yaml"] {
        write(&r.root, rel, plain);
        seal(&r.home)
            .current_dir(&r.root)
            .env("GNUPGHOME", &gnupg)
            .args(["encrypt", "-i", "--pgp", FP, rel])
            .assert()
            .success();
    }
    r.secret("kubernetes/mixed/a.sops.yaml");
    write(
        &r.root,
        "kubernetes/flux/apps.yaml",
        &format!(
            "{}{}",
            ks("pgp", "./kubernetes/pgp", ""),
            ks("mixed", "./kubernetes/mixed", "")
        ),
    );
    let (code, out) = r.doctor(&["--fix"]);
    let ks_text = std::fs::read_to_string(r.root.join("kubernetes/flux/apps.yaml")).unwrap();
    let (pgp_ks, mixed_ks) = ks_text.split_at(ks_text.find("name: mixed").unwrap());
    assert!(
        pgp_ks.contains("secretRef:\n      name: sops-gpg"),
        "{ks_text}"
    );
    assert!(
        mixed_ks.contains("secretRef:\n      name: sops-age"),
        "{ks_text}"
    );
    assert!(
        out.contains("added spec.decryption to pgp (secretRef sops-gpg), mixed (secretRef sops-age)")
            && out.contains(&format!("gpg --export-secret-keys --armor {FP} | kubectl create secret generic sops-gpg --namespace=flux-system")),
        "{out}"
    );
    // The mixed Kustomization's PGP-only file still needs the PGP key in sops-age.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("decrypts with the Secret sops-age")
            && out.contains("add sops.asc to sops-age")
            && out.contains("does not change a Secret a Kustomization already names"),
        "{out}"
    );
    // Run again: nothing left to add, and the Secret it named is not changed.
    let (_, out) = r.doctor(&["--fix"]);
    assert!(out.contains("nothing to fix"), "{out}");
    assert_eq!(
        std::fs::read_to_string(r.root.join("kubernetes/flux/apps.yaml")).unwrap(),
        ks_text
    );
}

/// Files whose data key a key service also wraps: a note per service with what
/// kustomize-controller needs (workload identity, or the decryption Secret's fixed
/// entry); a file whose only keys are HuaweiCloud KMS keys is a problem (Flux does not
/// decrypt them). The entries are written into the metadata by hand: doctor reads them,
/// it opens nothing.
#[test]
fn key_service_entries_get_flux_notes_and_huaweicloud_alone_is_a_problem() {
    let r = repo();
    let rel = "kubernetes/apps/secret.sops.yaml";
    r.secret(rel);
    write(
        &r.root,
        "kubernetes/flux/apps.yaml",
        &ks("apps", "./kubernetes/apps", DECRYPTION),
    );
    let path = r.root.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let services = "sops:\n  kms:\n    - arn: arn:aws:kms:us-east-1:111122223333:key/seal-test\n      created_at: \"2026-01-01T00:00:00Z\"\n      enc: AQIDBA==\n      aws_profile: \"\"\n  hc_vault:\n    - vault_address: https://vault.example:8200\n      engine_path: transit\n      key_name: sops\n      created_at: \"2026-01-01T00:00:00Z\"\n      enc: vault:v1:AAAA\n";
    std::fs::write(&path, text.replacen("sops:\n", services, 1)).unwrap();
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("wrapped by AWS KMS")
            && out.contains("`sops.aws-kms` entry")
            && out.contains("IRSA or EKS Pod Identity")
            && out.contains("wrapped by Vault/OpenBao transit")
            && out.contains("`sops.vault-token` entry in sops-age"),
        "{out}"
    );
    // Only HuaweiCloud KMS keys: the cluster cannot open it.
    let start = text.find("  age:\n").unwrap();
    let end = text.find("  lastmodified:").unwrap();
    let hckms = "  hckms:\n    - key_id: cn-north-4:00000000-0000-0000-0000-000000000000\n      created_at: \"2026-01-01T00:00:00Z\"\n      enc: AAAA\n";
    std::fs::write(&path, format!("{}{hckms}{}", &text[..start], &text[end..])).unwrap();
    let (code, out) = r.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("only keys are HuaweiCloud KMS keys")
            && out.contains(&format!("seal rotate -i --add-age CLUSTER_RECIPIENT {rel}")),
        "{out}"
    );
}
