//! age identities and recipients: where identities are found (the sops order: SSH keys,
//! `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the default keys.txt), wrapping
//! a data key (or Shamir share) for recipients, and unwrapping it from a file's key groups.
//!
//! CONTRACT (keys helper): discovery takes an environment lookup and a home directory so
//! tests never touch the real process environment.

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::metadata::{AgeKey, KeyGroup, Metadata};

/// The environment seen by key discovery (real env in the CLI, a map in tests).
pub trait Env {
    /// A variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// The home directory.
    fn home(&self) -> Option<PathBuf>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }
}

/// Where identities were looked for and what each source gave, for error messages.
#[derive(Clone, Debug)]
pub struct SourceReport {
    /// e.g. `SOPS_AGE_KEY_FILE=/path`, `~/.config/sops/age/keys.txt`.
    pub source: String,
    /// e.g. "2 identities (age1abc…, age1def…)", "not set", "does not exist", an error.
    pub outcome: String,
}

/// Identities loaded from every sops source, merged.
pub struct Identities {
    /// The identities, in source order.
    pub identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Public keys of the identities that have one (x25519 and SSH), for messages.
    pub public_keys: Vec<String>,
    /// What each source gave.
    pub report: Vec<SourceReport>,
}

impl Identities {
    /// Load from the sops sources in sops order (sops-format.md §11). A source that fails to
    /// parse is reported (not fatal unless no identity at all is found).
    pub fn discover(_env: &dyn Env) -> Identities {
        todo!()
    }
}

/// Wrap `payload` (data key or Shamir share) for one recipient: armored age file with a
/// single stanza, trailing newline included.
pub fn wrap(_recipient: &str, _payload: &[u8]) -> Result<String, KeyError> {
    todo!()
}

/// Validate a recipient string (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
pub fn check_recipient(_recipient: &str) -> Result<(), KeyError> {
    todo!()
}

/// Build key groups for a fresh or re-wrapped data key: one group wraps the whole key;
/// several groups get one Shamir share each (threshold 0 = all groups).
pub fn wrap_groups(
    _groups: &[Vec<String>],
    _threshold: usize,
    _key: &DataKey,
) -> Result<Vec<KeyGroup>, KeyError> {
    todo!()
}

/// Recover the data key from the metadata's key groups with the identities (Shamir
/// combine when there are several groups).
pub fn recover_data_key(_meta: &Metadata, _ids: &Identities) -> Result<DataKey, KeyError> {
    todo!()
}

/// Unwrap one age key, Ok(None) when no identity matches.
pub fn unwrap_one(
    _key: &AgeKey,
    _ids: &Identities,
) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    todo!()
}

/// Errors of the key layer.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A recipient string is not valid.
    #[error("invalid age recipient {recipient:?}: {reason}")]
    BadRecipient {
        /// The recipient as given.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// The data key could not be recovered (sops exit 128). The message names the
    /// recipients the file needs and where seal looked.
    #[error("could not decrypt the data key with any of the available identities")]
    NoMatchingIdentity {
        /// The file's recipients, per group.
        needed: Vec<Vec<String>>,
        /// Where seal looked.
        report: Vec<SourceReport>,
        /// How many groups are needed and how many were opened (Shamir).
        detail: String,
    },
    /// Wrapping failed.
    #[error("could not encrypt the data key for {recipient}: {reason}")]
    Wrap {
        /// Recipient.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// A non-age master key type was requested (seal speaks age only).
    #[error("{0}")]
    Unsupported(String),
}
