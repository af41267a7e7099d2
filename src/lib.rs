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
pub mod shamir;
pub mod stores;
pub mod tempdir;
pub mod tree;

/// Paths to the shared test data (`../shared` beside the project, or `SEAL_SHARED`) and to
/// the real sops, for unit tests.
#[cfg(test)]
pub(crate) mod testdata {
    use std::fmt;
    use std::path::PathBuf;

    /// The shared folder.
    pub fn shared_root() -> PathBuf {
        std::env::var_os("SEAL_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
    }

    /// A folder below the shared folder, usable in `format!("{CASES}/…")`.
    pub struct SharedDir(pub &'static str);

    impl fmt::Display for SharedDir {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}/{}", shared_root().display(), self.0)
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
