//! Which leaves are encrypted: the six sops selectors (suffixes, regexes, comment regexes)
//! and seal's Kubernetes default (`encrypted_regex: ^(data|stringData)$` for files made of
//! Kubernetes objects with at least one Secret). Pure: no I/O, no config parsing.
//!
//! CONTRACT (implemented by the core helper):
//! - `Selector` holds one of the six rules; regex variants keep the source text (written to
//!   metadata verbatim) and the compiled `regex::Regex` (Go RE2 syntax, unanchored search).
//! - `Selector::default()` is `UnencryptedSuffix("_unencrypted")`.
//! - `Selector::from_fields(&[(name, value)])` builds from metadata/config field names
//!   (`unencrypted_suffix`, ...); more than one → `RuleError::Conflict`; none → Ok(None).
//! - `Selector::field_name()` / `Selector::pattern()` for writing metadata.
//! - `kubernetes_default(docs)`: Some(EncryptedRegex("^(data|stringData)$")) when every
//!   document is a Kubernetes object (has string `apiVersion` and `kind`) and at least one is
//!   `kind: Secret`; None otherwise. Empty documents (no items) are ignored.

use crate::tree::Branch;

/// One of sops's six encryption selectors.
#[derive(Clone, Debug)]
pub enum Selector {
    /// Encrypt unless some path component ends with the suffix.
    UnencryptedSuffix(String),
    /// Encrypt iff some path component ends with the suffix.
    EncryptedSuffix(String),
    /// Encrypt unless some path component matches.
    UnencryptedRegex(Pattern),
    /// Encrypt iff some path component matches.
    EncryptedRegex(Pattern),
    /// Encrypt unless a comment in the active comment stack matches.
    UnencryptedCommentRegex(Pattern),
    /// Encrypt iff a comment in the active comment stack matches.
    EncryptedCommentRegex(Pattern),
}

/// A regex with its source text.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The text as written in metadata or config.
    pub source: String,
    /// The compiled regex.
    pub regex: regex::Regex,
}

/// Errors building a selector.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// More than one selector was given.
    #[error("only one of {0} may be set, found {1}")]
    Conflict(String, String),
    /// A regex does not compile.
    #[error("invalid {field} {pattern:?}: {message}")]
    BadRegex {
        /// Field name.
        field: String,
        /// The regex text.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
}

/// The six metadata/config field names, in metadata order.
pub const SELECTOR_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl Default for Selector {
    fn default() -> Self {
        Selector::UnencryptedSuffix("_unencrypted".to_string())
    }
}

impl Selector {
    /// Build from `(field, value)` pairs; see the module contract.
    pub fn from_fields(_fields: &[(&str, &str)]) -> Result<Option<Selector>, RuleError> {
        todo!()
    }
    /// The metadata field name.
    pub fn field_name(&self) -> &'static str {
        todo!()
    }
    /// The suffix or regex text.
    pub fn pattern(&self) -> &str {
        todo!()
    }
}

/// seal's Kubernetes default; see the module contract.
pub fn kubernetes_default(_docs: &[Branch]) -> Option<Selector> {
    todo!()
}
