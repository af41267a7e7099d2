//! Helpers shared by the integration tests: a hermetic `seal` command (empty HOME, no
//! SOPS_* variables), the shared corpus paths, the test keys, and the real sops.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared` next to the project (or `SEAL_SHARED`).
pub fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("SEAL_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// A conformance test key file (`alice`, `bob`, `carol`).
pub fn key_file(name: &str) -> PathBuf {
    shared()
        .join("conformance/keys")
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

/// A `seal` command with a hermetic environment rooted at `home`.
pub fn seal(home: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("seal").expect("seal binary");
    hermetic(c.env_clear(), home);
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
    c.env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

fn hermetic<'a>(c: &'a mut assert_cmd::Command, home: &Path) -> &'a mut assert_cmd::Command {
    c.env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
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
