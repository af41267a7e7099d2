//! seal: secrets for Kubernetes GitOps repositories, interchangeable with sops (age).
//!
//! The format core is pure and does no I/O: [`tree`] (the document model), [`cipher`]
//! (ENC values, MAC, walk), [`metadata`] (the `sops` block), [`rules`] (which leaves are
//! encrypted), [`shamir`], and [`stores`] (one per file format). Around it: [`keys`]
//! (identities and recipients), [`config`] (`.sops.yaml`), [`fsio`] (safe writes), and the
//! command-line layer in [`cli`] and [`commands`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod cipher;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod fsio;
pub mod k8s;
pub mod keyring;
pub mod keys;
pub mod merge;
pub mod metadata;
pub mod repo;
pub mod rules;
pub mod sealed;
pub mod shamir;
pub mod sops_cli;
pub mod stores;
pub mod tempdir;
pub mod tree;
pub mod ui;

/// Test data for unit tests: the committed copy of the sops-made files they read by name
/// (`tests/sops-made`, laid out as `../shared/conformance`), the whole shared corpora when
/// present, and the real sops.
#[cfg(test)]
pub(crate) mod testdata {
    use std::fmt;
    use std::path::PathBuf;

    /// The shared folder (`../shared` beside the project, or `SEAL_SHARED`).
    pub fn shared_root() -> PathBuf {
        std::env::var_os("SEAL_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
    }

    /// `../shared/<sub>` for the test suite `name`, when present. Without it the suite does
    /// not run: it says so on stderr and is recorded in `target/shared-skipped/` for the
    /// summary of `scripts/test.sh`. With `CI=true` a missing corpus fails the test.
    pub fn shared_suite(name: &str, sub: &str) -> Option<PathBuf> {
        let p = shared_root().join(sub);
        if p.exists() {
            return Some(p);
        }
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true requires the shared corpus for {name}, but {} does not exist",
            p.display()
        );
        eprintln!("NOT RUN: {name} (needs {}, which is missing)", p.display());
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/shared-skipped"
        ));
        let _ = std::fs::create_dir_all(&dir);
        let file: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let _ = std::fs::write(dir.join(file), format!("{name}\n"));
        None
    }

    /// A folder of the conformance corpus's layout (`conformance`, `conformance/cases`)
    /// in the committed copy `tests/sops-made`, usable in `format!("{CASES}/…")`.
    pub struct SharedDir(pub &'static str);

    impl fmt::Display for SharedDir {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let sub = self.0.strip_prefix("conformance").unwrap_or(self.0);
            write!(f, "{}/tests/sops-made{sub}", env!("CARGO_MANIFEST_DIR"))
        }
    }

    /// The real sops (interop tests fail, never skip, when it is missing).
    pub fn sops_bin() -> PathBuf {
        let p = std::env::var_os("SEAL_SOPS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/sops"))
            });
        assert!(
            p.exists(),
            "the real sops is needed by this test: run scripts/install-peers.sh or set SEAL_SOPS_BIN ({} missing)",
            p.display()
        );
        p
    }
}
