//! The `sops` metadata block: typed fields, their order, validation (semver `version`,
//! RFC 3339 `lastmodified`, one selector), and conversion to and from the raw tree each
//! store reads and writes. Unknown master-key types (pgp, kms, …) are kept verbatim.
//!
//! CONTRACT (core helper): `Metadata::from_tree` accepts what every store hands over
//! (YAML/JSON typed values; dotenv/INI strings such as "true", "2", "2.0"), applies the
//! reading rules of sops-format.md §8.2–8.3, and `to_tree` writes the field order of §8.1.

use crate::rules::Selector;
use crate::tree::{Branch, Value};

/// An age master key: recipient and the armored age file wrapping the data key or share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeKey {
    /// `age1…` or an SSH public key line.
    pub recipient: String,
    /// Armored age ciphertext, trailing newline included.
    pub enc: String,
}

/// One key group. Non-age master keys are kept verbatim so a rewrite does not drop them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    /// age keys.
    pub age: Vec<AgeKey>,
    /// Other master keys by type name (`pgp`, `kms`, `gcp_kms`, `azure_kv`, `hc_vault`,
    /// `hckms`), each the raw list of entries, in metadata order.
    pub other: Vec<(String, Vec<Value>)>,
}

/// The `sops` block.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// Key groups (one in the usual case).
    pub key_groups: Vec<KeyGroup>,
    /// Shamir threshold (0 when unset).
    pub shamir_threshold: usize,
    /// `lastmodified` as written in the file.
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[...]`), possibly empty.
    pub mac: String,
    /// The selector recorded in the file (None: the reader's default applies).
    pub selector: Option<Selector>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// `version` as written.
    pub version: String,
}

/// The version seal writes into new files (the sops version it is compatible with).
pub const SOPS_VERSION: &str = "3.11.0";

impl Metadata {
    /// Read and validate a raw metadata tree.
    pub fn from_tree(_tree: &Branch) -> Result<Metadata, MetadataError> {
        todo!()
    }
    /// Write the tree in sops's field order (§8.1/8.2).
    pub fn to_tree(&self) -> Branch {
        todo!()
    }
    /// The selector that applies when decrypting (the recorded one, or the default suffix).
    pub fn effective_selector(&self) -> Selector {
        self.selector.clone().unwrap_or_default()
    }
    /// `lastmodified` for "now": UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn now_lastmodified() -> String {
        todo!()
    }
}

/// `filestatus`: a metadata tree counts as encrypted when it parses and has a non-empty
/// `mac` and `version` (sops-format.md §8.3).
pub fn counts_as_encrypted(_tree: &Branch) -> bool {
    todo!()
}

/// Errors reading metadata.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A required field is missing or empty.
    #[error("the sops metadata has no {0}")]
    Missing(&'static str),
    /// A field has the wrong type or an unparsable value.
    #[error("the sops metadata field {field} is invalid: {reason}")]
    Invalid {
        /// Field name.
        field: String,
        /// Why.
        reason: String,
    },
    /// No master keys at all.
    #[error("the sops metadata lists no keys")]
    NoKeys,
    /// Selector problems.
    #[error(transparent)]
    Rule(#[from] crate::rules::RuleError),
}
