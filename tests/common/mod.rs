//! Helpers shared by the integration tests: a hermetic `seal` command (empty HOME, no
//! SOPS_* variables), the shared corpus paths, the test keys, and the real sops.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared` next to the project (or `SEAL_SHARED`). A stranger's clone does not have
/// it: tests that need it call [`shared_suite`], which says by name what did not run.
pub fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("SEAL_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// Where tests record the shared suites they could not run (`scripts/test.sh` lists them
/// in its summary).
pub fn skipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shared-skipped")
}

/// `../shared/<sub>` for the suite `name`, when it is there. Without it the suite does not
/// run: the test says so on stderr and records `name` in [`skipped_dir`], so the run's
/// summary names it. With `CI=true` the shared corpora are required and a missing one fails
/// the test.
pub fn shared_suite(name: &str, sub: &str) -> Option<PathBuf> {
    let p = shared().join(sub);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").map(|v| v != "true").unwrap_or(true),
        "CI=true requires the shared corpus for {name}, but {} does not exist",
        p.display()
    );
    eprintln!("NOT RUN: {name} (needs {}, which is missing)", p.display());
    let dir = skipped_dir();
    let _ = std::fs::create_dir_all(&dir);
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let _ = std::fs::write(dir.join(file), format!("{name}\n"));
    None
}

/// A test key file (`alice`, `bob`, `carol`): the conformance corpus's TEST-ONLY keys,
/// committed under `tests/sops-made/keys/` so the tests run without `../shared`.
pub fn key_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sops-made/keys")
        .join(format!("{name}.txt"))
}

/// The public key of a conformance test key.
pub fn recipient(name: &str) -> String {
    let text = std::fs::read_to_string(key_file(name)).expect("test key");
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .trim()
        .to_string()
}

/// A `seal` command with a hermetic environment rooted at `home`. It runs in `home`
/// unless the test sets another directory: the project's own `.sops.yaml` (the test
/// process's directory) must not apply to test files.
pub fn seal(home: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("seal").expect("seal binary");
    hermetic(c.env_clear(), home);
    c.current_dir(home);
    c
}

/// The real sops, which must be present (interop tests never skip).
pub fn sops_bin() -> PathBuf {
    let p = std::env::var("SEAL_SOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/sops"));
    assert!(
        p.exists(),
        "the real sops is required for interop tests but {} does not exist: run scripts/install-peers.sh (or set SEAL_SOPS_BIN)",
        p.display()
    );
    p
}

/// A real `sops` command with a hermetic environment rooted at `home`.
pub fn sops(home: &Path) -> Command {
    let mut c = Command::new(sops_bin());
    c.env_clear();
    c.current_dir(home);
    c.env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

/// HOME, PATH, no colour, and no OS keyring: identities stored on the machine running the
/// tests must not reach seal (tests of the keyring run seal under `keyctl session -`).
fn hermetic<'a>(c: &'a mut assert_cmd::Command, home: &Path) -> &'a mut assert_cmd::Command {
    c.env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("SEAL_NO_KEYRING", "1")
}

/// A peer tool installed into the project's venv by scripts/install-peers.sh
/// (`pre-commit`, `check-jsonschema`, `python`). Tests that need one fail, never skip,
/// when it is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{name} is required by this test but {} does not exist: run scripts/install-peers.sh",
        p.display()
    );
    p
}

/// A private working area for commands that use temporary files (edit, exec-*): a work
/// directory, a HOME, and a temp root (`XDG_RUNTIME_DIR`/`TMPDIR`) that the test can
/// inspect afterwards for anything left behind.
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    /// The working directory commands run in.
    pub dir: PathBuf,
    /// HOME.
    pub home: PathBuf,
    /// The temp root seal puts private directories in.
    pub rt: PathBuf,
}

impl Sandbox {
    /// Fresh directories.
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("work");
        let home = tmp.path().join("home");
        let rt = tmp.path().join("rt");
        for d in [&dir, &home, &rt] {
            std::fs::create_dir_all(d).unwrap();
        }
        Sandbox {
            _tmp: tmp,
            dir,
            home,
            rt,
        }
    }

    /// `seal` in `dir` with alice's key and the temp root pointed at `rt`.
    pub fn seal(&self) -> assert_cmd::Command {
        let mut c = seal(&self.home);
        c.current_dir(&self.dir)
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .env("XDG_RUNTIME_DIR", &self.rt)
            .env("TMPDIR", &self.rt)
            .timeout(std::time::Duration::from_secs(30));
        c
    }

    /// A fake editor: a shell script whose body gets the file as $1.
    pub fn editor(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.home.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Write `plain` as `name` and encrypt it in place with seal for alice.
    pub fn encrypted(&self, name: &str, plain: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, plain).unwrap();
        self.seal()
            .args(["encrypt", "-i", "--age", &recipient("alice"), name])
            .assert()
            .success();
        p
    }

    /// Write `plain` as `name` and encrypt it in place with the real sops for alice.
    pub fn sops_encrypted(&self, name: &str, plain: &str) {
        let p = self.dir.join(name);
        std::fs::write(&p, plain).unwrap();
        let o = sops(&self.home)
            .current_dir(&self.dir)
            .args(["encrypt", "-i", "--age", &recipient("alice"), name])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// `seal decrypt name`, which must succeed.
    pub fn decrypt(&self, name: &str) -> String {
        let o = self.seal().args(["decrypt", name]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    /// Fails when anything (file or directory) is left in the temp root.
    pub fn assert_nothing_left(&self) {
        let left = walk_all(&self.rt);
        assert!(left.is_empty(), "left behind in the temp root: {left:?}");
    }
}

/// Every path below `d`.
pub fn walk_all(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            out.push(e.path());
            out.extend(walk_all(&e.path()));
        }
    }
    out
}

/// The openAPIV3Schema of one served `version` of the CRD file `crd` in
/// `tests/schemas/crds` (copies of `../shared/schemas`), written to `dir` as a JSON schema;
/// returns its path.
pub fn crd_schema(dir: &Path, crd: &str, version: &str) -> PathBuf {
    use seal::stores::Format;
    use seal::tree::{Branch, Value};
    fn branch<'a>(b: &'a Branch, k: &str) -> &'a Branch {
        match b.get(k) {
            Some(Value::Branch(x)) => x,
            other => panic!("{k} is not a mapping: {other:?}"),
        }
    }
    let text = std::fs::read(crd_file(crd)).expect("CRD file");
    let docs = Format::Yaml
        .store()
        .load_plain(&text)
        .expect("CRD parses")
        .docs;
    let Some(Value::List(versions)) = branch(&docs[0], "spec").get("versions") else {
        panic!("{crd}: no spec.versions")
    };
    let v = versions
        .iter()
        .find_map(|v| match v {
            Value::Branch(b) if b.get("name") == Some(&Value::Str(version.into())) => Some(b),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{crd} has no version {version}"));
    assert_eq!(
        v.get("served"),
        Some(&Value::Bool(true)),
        "{crd} {version} is not served"
    );
    let schema = branch(branch(v, "schema"), "openAPIV3Schema").clone();
    let json = Format::Json
        .store()
        .emit_plain(&[schema], &seal::stores::Layout::none(), Default::default())
        .expect("schema as JSON");
    let out = dir.join(format!("{crd}.{version}.json"));
    std::fs::write(&out, json).expect("write schema");
    out
}

/// A CRD committed under `tests/schemas/crds/`.
pub fn crd_file(crd: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemas/crds")
        .join(crd)
}

/// Run the venv's check-jsonschema on `manifests` against a JSON schema file.
pub fn check_jsonschema(schema: &Path, manifests: &[PathBuf]) -> std::process::Output {
    Command::new(venv_tool("check-jsonschema"))
        .arg("--schemafile")
        .arg(schema)
        .args(manifests)
        .output()
        .expect("run check-jsonschema")
}

/// `kubectl kustomize DIR` (kubectl must be installed: the test fails, never skips).
pub fn kubectl_kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("kubectl is required by this test but could not be run: {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl output is UTF-8")
}

/// The project's files that git tracks or would commit (cached and untracked, minus
/// ignored ones), relative to the project root, that exist in the working tree.
pub fn tracked_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("git is required by this test");
    assert!(
        out.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| root.join(p).is_file())
        .collect()
}

/// Copy the project's tracked files (see [`tracked_files`]) that `keep` accepts into
/// `dest`, which becomes a fresh git repository.
pub fn copy_tracked(dest: &Path, keep: impl Fn(&Path) -> bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in tracked_files().iter().filter(|p| keep(p)) {
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        std::fs::copy(root.join(rel), &to).expect("copy file");
    }
    let st = Command::new("git")
        .current_dir(dest)
        .args(["init", "-q"])
        .status()
        .expect("git init");
    assert!(st.success(), "git init failed");
}
