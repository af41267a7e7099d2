//! `.sops.yaml`: finding it (as sops does: `--config`, `SOPS_CONFIG`, else the current
//! directory and its parents), parsing `creation_rules` and `stores`, and picking the
//! first rule whose `path_regex` matches a file.
//!
//! CONTRACT (keys/config helper).

use std::path::{Path, PathBuf};

use crate::rules::Selector;

/// A parsed `.sops.yaml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The creation rules in order.
    pub creation_rules: Vec<CreationRule>,
    /// `stores.yaml.indent`.
    pub yaml_indent: Option<usize>,
    /// `stores.json.indent` (None = tab).
    pub json_indent: Option<usize>,
    /// `stores.json_binary.indent` (None = tab).
    pub json_binary_indent: Option<usize>,
}

/// One creation rule.
#[derive(Clone, Debug, Default)]
pub struct CreationRule {
    /// 0-based position in the file (for messages).
    pub index: usize,
    /// `path_regex` source text, if any.
    pub path_regex: Option<String>,
    /// Key groups: each the list of age recipients (the flat fields form one group).
    pub key_groups: Vec<Vec<String>>,
    /// Non-age key types the rule names (pgp, kms, …), for a clear "seal speaks age only".
    pub unsupported_keys: Vec<String>,
    /// `shamir_threshold` (0 = unset).
    pub shamir_threshold: usize,
    /// The rule's selector, if it sets one.
    pub selector: Option<Selector>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// Find the config: `explicit` (from `--config` or `SOPS_CONFIG`) if given, else
/// `.sops.yaml` in `cwd` and up to 100 parents.
pub fn find(_cwd: &Path, _explicit: Option<&Path>) -> Option<PathBuf> {
    todo!()
}

impl Config {
    /// Read and parse a config file.
    pub fn load(_path: &Path) -> Result<Config, ConfigError> {
        todo!()
    }
    /// Parse config text (`path` only names it in messages and anchors `path_regex`).
    pub fn parse(_text: &[u8], _path: &Path) -> Result<Config, ConfigError> {
        todo!()
    }
    /// The first rule whose `path_regex` matches `file` (absolute path; the config's
    /// directory prefix is removed before matching when `file` is below it).
    pub fn rule_for(&self, _file: &Path) -> Option<&CreationRule> {
        todo!()
    }
}

/// Errors of the config layer (sops exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Cannot read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Does not parse or has invalid fields.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line when known).
        message: String,
    },
}
