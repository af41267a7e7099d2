//! `seal bootstrap flux` never loses a cluster key: every input is checked before a key
//! is made, the Secret is delivered before `.sops.yaml` names the key, a new key whose
//! delivery (or a later step) failed is kept in a 0600 recovery file outside the
//! repository, the `| kubectl apply -f -` pipe keeps a recovery copy unless `--no-backup`,
//! `--secret-output` is resolved to its final path, and `key_groups` rules and repeated
//! `--for` are supported. kubectl is a script in the test's own PATH directory.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::seal;

const KS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A temp dir holding a `home/`, a git work tree `repo/` and a `bin/` for a fake kubectl.
struct World {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    repo: PathBuf,
    bin: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        let bin = tmp.path().join("bin");
        for d in [&home, &repo.join(".git"), &bin] {
            fs::create_dir_all(d).unwrap();
        }
        World {
            _tmp: tmp,
            home,
            repo,
            bin,
        }
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = seal(&self.home);
        c.current_dir(&self.repo);
        c
    }

    /// `seal` with a kubeconfig and `kubectl` (a script: `body`) first on PATH.
    fn seal_with_kubectl(&self, body: &str) -> assert_cmd::Command {
        use std::os::unix::fs::PermissionsExt;
        let k = self.bin.join("kubectl");
        fs::write(&k, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&k, fs::Permissions::from_mode(0o755)).unwrap();
        let kubeconfig = self.home.join("kubeconfig");
        fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
        let mut c = self.seal();
        c.env(
            "PATH",
            format!(
                "{}:{}",
                self.bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("KUBECONFIG", &kubeconfig);
        c
    }

    fn recovery_dir(&self) -> PathBuf {
        self.home.join(".local/state/seal/recovery")
    }

    /// The recovery files written so far.
    fn recovery_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.recovery_dir())
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn config(&self) -> Option<String> {
        fs::read_to_string(self.repo.join(".sops.yaml")).ok()
    }
}

/// A fresh age public key (the test needs no key files from ../shared).
fn recipient(_who: &str) -> String {
    age::x25519::Identity::generate().to_public().to_string()
}

/// The public key in a Secret manifest (or identity file) text.
fn public_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("# public key: "))
        .expect("a public key line")
        .to_string()
}

#[test]
fn bad_inputs_are_refused_before_a_key_exists() {
    let w = World::new();
    // --patch names a missing file.
    let a = w
        .seal()
        .args(["bootstrap", "flux", "--patch", "kubernetes/ks.yaml"])
        .assert()
        .failure();
    assert!(
        stderr_of(&a).contains("kubernetes/ks.yaml"),
        "{}",
        stderr_of(&a)
    );
    assert!(stdout_of(&a).is_empty(), "no Secret printed");
    // --secret-output into a directory that does not exist.
    let outside = tempfile::tempdir().unwrap();
    let a = w
        .seal()
        .args(["bootstrap", "flux", "--secret-output"])
        .arg(outside.path().join("missing/sops-age.yaml"))
        .assert()
        .code(8);
    assert!(
        stderr_of(&a).contains("does not exist"),
        "{}",
        stderr_of(&a)
    );
    // A patch file that holds no Kustomization.
    fs::write(w.repo.join("cm.yaml"), "kind: ConfigMap\n").unwrap();
    w.seal()
        .args(["bootstrap", "flux", "--patch", "cm.yaml"])
        .assert()
        .failure();
    // A rule seal cannot edit (flow key_groups) stops it before a key is made, and the
    // message names no public key.
    let alice = recipient("alice");
    let cfg = format!("creation_rules:\n  - key_groups: [{{age: [{alice}]}}]\n");
    fs::write(w.repo.join(".sops.yaml"), &cfg).unwrap();
    let a = w
        .seal()
        .args(["bootstrap", "flux", "--me", &alice])
        .assert()
        .failure();
    let err = stderr_of(&a);
    assert!(
        err.matches("age1").count() == 0,
        "no public key named for a key that is not stored: {err}"
    );
    assert!(stdout_of(&a).is_empty());
    fs::remove_file(w.repo.join(".sops.yaml")).unwrap();
    // Nothing anywhere: no .sops.yaml, no recovery file, no Secret file.
    assert_eq!(w.config(), None);
    assert!(w.recovery_files().is_empty());
    assert!(!outside.path().join("missing").exists());
    // --apply without kubectl on PATH.
    let a = w
        .seal_with_kubectl("exit 0")
        .env("PATH", "/nonexistent")
        .args(["bootstrap", "flux", "--apply"])
        .assert()
        .code(1);
    assert!(
        stderr_of(&a).contains("kubectl is not on PATH"),
        "{}",
        stderr_of(&a)
    );
    assert_eq!(w.config(), None);
}

#[test]
fn a_failed_kubectl_apply_keeps_the_key_and_leaves_sops_yaml_alone() {
    let w = World::new();
    let ks = w.repo.join("ks.yaml");
    fs::write(&ks, KS).unwrap();
    let me = recipient("alice");
    let a = w
        .seal_with_kubectl("cat >/dev/null; echo 'connection refused' >&2; exit 1")
        .args([
            "bootstrap",
            "flux",
            "--apply",
            "--me",
            &me,
            "--patch",
            "ks.yaml",
        ])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert_eq!(w.config(), None, ".sops.yaml untouched: {err}");
    assert_eq!(fs::read_to_string(&ks).unwrap(), KS, "patch not applied");
    let files = w.recovery_files();
    assert_eq!(files.len(), 1, "{err}");
    let saved = &files[0];
    assert!(err.contains(&saved.display().to_string()), "{err}");
    #[cfg(unix)]
    {
        assert_eq!(mode(saved), 0o600);
        assert_eq!(mode(&w.recovery_dir()), 0o700);
    }
    let text = fs::read_to_string(saved).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1") && text.contains("name: sops-age"));
    let cluster = public_in(&text);
    assert!(err.contains(&cluster), "{err}");
    // Rerun with the recovered key once kubectl works: the same key, now in .sops.yaml.
    let applied = w.home.join("applied.yaml");
    w.seal_with_kubectl(&format!("cat > {}", applied.display()))
        .args([
            "bootstrap",
            "flux",
            "--apply",
            "--me",
            &me,
            "--patch",
            "ks.yaml",
            "--key",
        ])
        .arg(saved)
        .assert()
        .success();
    assert_eq!(public_in(&fs::read_to_string(&applied).unwrap()), cluster);
    let cfg = w.config().unwrap();
    assert!(cfg.contains(&cluster) && cfg.contains(&me), "{cfg}");
    assert_eq!(cfg.matches("age1").count(), 2, "no orphan recipient: {cfg}");
    assert!(fs::read_to_string(&ks).unwrap().contains("provider: sops"));
}

#[test]
fn the_kubectl_pipe_keeps_a_recovery_copy_unless_no_backup() {
    let w = World::new();
    let a = w
        .seal()
        .args(["bootstrap", "flux", "--me", &recipient("alice")])
        .assert()
        .success();
    let secret = stdout_of(&a);
    let files = w.recovery_files();
    assert_eq!(files.len(), 1, "{}", stderr_of(&a));
    assert_eq!(fs::read_to_string(&files[0]).unwrap(), secret);
    #[cfg(unix)]
    assert_eq!(mode(&files[0]), 0o600);
    assert!(stderr_of(&a).contains(&files[0].display().to_string()));
    // XDG_STATE_HOME moves it; --no-backup writes none.
    let state = w.home.join("state");
    w.seal()
        .env("XDG_STATE_HOME", &state)
        .args(["bootstrap", "flux", "--no-config"])
        .assert()
        .success();
    assert_eq!(
        fs::read_dir(state.join("seal/recovery")).unwrap().count(),
        1
    );
    w.seal()
        .args(["bootstrap", "flux", "--no-config", "--no-backup"])
        .assert()
        .success();
    assert_eq!(w.recovery_files().len(), 1);
    // --key: the key is stored already, no copy is made.
    let key = w.home.join("cluster.agekey");
    fs::write(&key, &secret).unwrap();
    w.seal()
        .args(["bootstrap", "flux", "--no-config", "--key"])
        .arg(&key)
        .assert()
        .success();
    assert_eq!(w.recovery_files().len(), 1);
}

#[test]
fn secret_output_follows_links_and_never_overwrites_another_key() {
    let w = World::new();
    let outside = tempfile::tempdir().unwrap();
    // A link outside the repository that points into it.
    let link = outside.path().join("sops-age.yaml");
    std::os::unix::fs::symlink(w.repo.join("sops-age.yaml"), &link).unwrap();
    fs::write(w.repo.join("sops-age.yaml"), "").unwrap();
    let a = w
        .seal()
        .args(["bootstrap", "flux", "--no-config", "--secret-output"])
        .arg(&link)
        .assert()
        .code(8);
    assert!(
        stderr_of(&a).contains("inside the git work tree"),
        "{}",
        stderr_of(&a)
    );
    assert_eq!(
        fs::read_to_string(w.repo.join("sops-age.yaml")).unwrap(),
        ""
    );
    // A directory link into the repository.
    let dirlink = outside.path().join("secrets");
    std::os::unix::fs::symlink(&w.repo, &dirlink).unwrap();
    w.seal()
        .args(["bootstrap", "flux", "--no-config", "--secret-output"])
        .arg(dirlink.join("other.yaml"))
        .assert()
        .code(8);
    assert!(!w.repo.join("other.yaml").exists());
    // An existing file with another key is not overwritten; the same key may be.
    let dest = outside.path().join("cluster.yaml");
    w.seal()
        .args(["bootstrap", "flux", "--no-config", "--secret-output"])
        .arg(&dest)
        .assert()
        .success();
    let first = fs::read_to_string(&dest).unwrap();
    w.seal()
        .args(["bootstrap", "flux", "--no-config", "--secret-output"])
        .arg(&dest)
        .assert()
        .code(3);
    assert_eq!(fs::read_to_string(&dest).unwrap(), first);
    w.seal()
        .args(["bootstrap", "flux", "--no-config", "--secret-output"])
        .arg(&dest)
        .arg("--key")
        .arg(&dest)
        .assert()
        .success();
    assert_eq!(
        public_in(&fs::read_to_string(&dest).unwrap()),
        public_in(&first)
    );
    assert!(
        w.recovery_files().is_empty(),
        "a written Secret needs no copy"
    );
}

#[test]
fn key_groups_rules_and_repeated_for() {
    let w = World::new();
    let (a, b) = (recipient("alice"), recipient("bob"));
    let cfg = format!(
        "creation_rules:\n  - path_regex: ^kubernetes/prod/\n    key_groups:\n      - age:\n          - {a}\n      - age:\n          - {b}\n    shamir_threshold: 2\n  - path_regex: ^kubernetes/dev/\n    age: {b}\n  - path_regex: ^other/\n    age: {b}\n"
    );
    fs::write(w.repo.join(".sops.yaml"), &cfg).unwrap();
    let out = w
        .seal()
        .args([
            "bootstrap",
            "flux",
            "--me",
            &a,
            "--for",
            "kubernetes/prod/x.yaml",
            "--for",
            "kubernetes/dev/x.yaml",
            "--group",
            "2",
        ])
        .assert()
        .code(1);
    // Group 2 exists in rule 1 but not in rule 2 (a plain rule): nothing is done.
    assert!(stderr_of(&out).contains("key group"), "{}", stderr_of(&out));
    assert_eq!(w.config().unwrap(), cfg);
    assert!(w.recovery_files().is_empty());
    let out = w
        .seal()
        .args([
            "bootstrap",
            "flux",
            "--me",
            &a,
            "--for",
            "kubernetes/prod/x.yaml",
            "--for",
            "kubernetes/dev/x.yaml",
        ])
        .assert()
        .success();
    let cluster = public_in(&stdout_of(&out));
    assert_eq!(
        w.config().unwrap(),
        cfg.replacen(
            &format!("          - {a}\n"),
            &format!("          - {a}\n          - {cluster}\n"),
            1
        )
        .replacen(
            &format!("^kubernetes/dev/\n    age: {b}\n"),
            &format!("^kubernetes/dev/\n    age: {b},{cluster},{a}\n"),
            1
        )
    );
}

/// The sops functional suite's test key (tests/keys, MPL-2.0 test material that protects
/// nothing), imported into a GnuPG home of the test's own.
const FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

fn gnupg_home(dir: &Path, import: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
    if import {
        let key =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/sops_functional_tests_key.asc");
        let o = std::process::Command::new("gpg")
            .env("GNUPGHOME", dir)
            .args(["--batch", "--import"])
            .arg(key)
            .output()
            .expect("gpg is required (scripts/install-peers.sh)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    dir.to_path_buf()
}

#[test]
fn pgp_key_as_the_flux_sops_gpg_secret() {
    let w = World::new();
    let gnupg = gnupg_home(&w.home.join("gnupg"), true);
    fs::create_dir_all(w.repo.join("kubernetes")).unwrap();
    fs::write(w.repo.join("kubernetes/ks.yaml"), KS).unwrap();
    fs::write(
        w.repo.join(".sops.yaml"),
        format!("creation_rules:\n  - pgp: {FP}\n"),
    )
    .unwrap();
    let a = w
        .seal()
        .env("GNUPGHOME", &gnupg)
        .args([
            "bootstrap",
            "flux",
            "--pgp",
            FP,
            "--patch",
            "kubernetes/ks.yaml",
        ])
        .assert()
        .success();
    let manifest = stdout_of(&a);
    let err = stderr_of(&a);
    // Flux's convention: flux-system/sops-gpg, the armored secret key under a .asc key.
    assert!(
        manifest.starts_with(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-gpg\n  namespace: flux-system\ntype: Opaque\nstringData:\n  sops.asc: |\n    -----BEGIN PGP PRIVATE KEY BLOCK-----\n"
        ),
        "{manifest}"
    );
    assert!(err.contains("names the key in rule 1"), "{err}");
    let ks = fs::read_to_string(w.repo.join("kubernetes/ks.yaml")).unwrap();
    assert!(
        ks.contains("  decryption:\n    provider: sops\n    secretRef:\n      name: sops-gpg\n"),
        "{ks}"
    );
    // What Flux does with it: import the key, decrypt a file made for the fingerprint.
    let armored: String = manifest
        .lines()
        .skip_while(|l| !l.contains("sops.asc"))
        .skip(1)
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    let cluster = gnupg_home(&w.home.join("cluster-gnupg"), false);
    let mut import = std::process::Command::new("gpg")
        .env("GNUPGHOME", &cluster)
        .args(["--batch", "--import"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    import
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    assert!(import.wait().unwrap().success());
    fs::write(w.repo.join("p.yaml"), "a: secret\n").unwrap();
    w.seal()
        .env("GNUPGHOME", &gnupg)
        .args(["encrypt", "-i", "--pgp", FP, "p.yaml"])
        .assert()
        .success();
    let a = w
        .seal()
        .env("GNUPGHOME", &cluster)
        .args(["decrypt", "p.yaml"])
        .assert()
        .success();
    assert_eq!(stdout_of(&a), "a: secret\n");
}

#[test]
fn pgp_bootstrap_refuses_before_anything_changes() {
    let w = World::new();
    let gnupg = gnupg_home(&w.home.join("gnupg"), true);
    fs::create_dir_all(w.repo.join("kubernetes")).unwrap();
    fs::write(w.repo.join("kubernetes/ks.yaml"), KS).unwrap();
    // A key gpg does not hold: no Secret, the Kustomization untouched.
    let other = "0123456789ABCDEF0123456789ABCDEF01234567";
    let a = w
        .seal()
        .env("GNUPGHOME", &gnupg)
        .args([
            "bootstrap",
            "flux",
            "--pgp",
            other,
            "--patch",
            "kubernetes/ks.yaml",
        ])
        .assert()
        .failure();
    assert!(stdout_of(&a).is_empty());
    let err = stderr_of(&a);
    assert!(
        err.contains(other) && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(w.repo.join("kubernetes/ks.yaml")).unwrap(),
        KS
    );
    // The private key is never written into the repository.
    let a = w
        .seal()
        .env("GNUPGHOME", &gnupg)
        .args([
            "bootstrap",
            "flux",
            "--pgp",
            FP,
            "--secret-output",
            "sops-gpg.yaml",
        ])
        .assert()
        .code(8);
    assert!(
        stderr_of(&a).contains("inside the git work tree"),
        "{}",
        stderr_of(&a)
    );
    assert!(!w.repo.join("sops-gpg.yaml").exists());
    // --pgp is not mixed with the age identity options.
    w.seal()
        .env("GNUPGHOME", &gnupg)
        .args(["bootstrap", "flux", "--pgp", FP, "--key", "x.agekey"])
        .assert()
        .failure();
    // Outside the repository: 0600, and a rule that does not name the key is reported.
    let outside = tempfile::tempdir().unwrap();
    let dest = outside.path().join("sops-gpg.yaml");
    let a = w
        .seal()
        .env("GNUPGHOME", &gnupg)
        .args(["bootstrap", "flux", "--pgp", FP, "--secret-output"])
        .arg(&dest)
        .assert()
        .success();
    assert_eq!(mode(&dest), 0o600);
    assert!(fs::read_to_string(&dest).unwrap().contains("sops.asc: |"));
    assert!(stdout_of(&a).is_empty());
    assert!(
        stderr_of(&a).contains("there is no .sops.yaml"),
        "{}",
        stderr_of(&a)
    );
}

/// Creation rules that name key services: bootstrap says what kustomize-controller needs
/// for them besides the age Secret (Flux's fixed entries, or workload identity).
#[test]
fn rules_with_key_services_get_a_note_on_what_the_cluster_needs() {
    let w = World::new();
    fs::write(
        w.repo.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    age: {}\n    hc_vault_transit_uri: https://vault.example:8200/v1/transit/keys/sops\n    kms: arn:aws:kms:us-east-1:111122223333:key/seal-test\n",
            recipient("alice")
        ),
    )
    .unwrap();
    let a = w
        .seal()
        .args([
            "bootstrap",
            "flux",
            "--no-backup",
            "--me",
            &recipient("alice"),
        ])
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(
        err.contains("names AWS KMS keys")
            && err.contains("`sops.aws-kms` entry")
            && err.contains("names Vault/OpenBao transit keys")
            && err.contains("`sops.vault-token` entry in sops-age"),
        "{err}"
    );
}
