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
