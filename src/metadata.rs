//! The `sops` metadata block: typed fields, their order, validation (semver `version`,
//! RFC 3339 `lastmodified`, one selector), and conversion to and from the raw tree each
//! store reads and writes. Unknown master-key types (pgp, kms, …) are kept verbatim.
//!
//! `Metadata::from_tree` accepts what every store hands over (YAML/JSON typed values;
//! dotenv/INI strings such as "true", "2", "2.0"), applies the reading rules of
//! sops-format.md §8.2–8.3, and `to_tree` writes the field order of §8.1.

use crate::rules::{SELECTOR_FIELDS, Selector};
use crate::tree::{Branch, Item, Value, format_float_plain, time_text};

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

impl KeyGroup {
    /// True when the group has no master key at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.other.iter().all(|(_, v)| v.is_empty())
    }

    fn other_list(&self, name: &str) -> Option<&Vec<Value>> {
        self.other
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v)
    }

    fn age_list(&self) -> Vec<Value> {
        self.age
            .iter()
            .map(|k| {
                Value::Branch(Branch {
                    items: vec![
                        Item::Pair("recipient".into(), Value::Str(k.recipient.clone())),
                        Item::Pair("enc".into(), Value::Str(k.enc.clone())),
                    ],
                })
            })
            .collect()
    }
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

/// Master-key list names other than `age`, in the order sops writes them at the top level
/// (`pgp` is written after `mac`).
const TOP_OTHER_ORDER: [&str; 5] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

/// Master-key list names sops knows (all kept; only `age` is interpreted).
const KEY_TYPES: [&str; 7] = [
    "age", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault",
];

fn get<'a>(tree: &'a Branch, key: &str) -> Option<&'a Value> {
    tree.items.iter().find_map(|item| match item {
        Item::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

fn invalid(field: &str, reason: impl Into<String>) -> MetadataError {
    MetadataError::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// A string field as text (absent or null → None). Typed scalars are accepted in their
/// text form, since YAML may resolve e.g. an unquoted timestamp.
fn text_field(tree: &Branch, key: &str) -> Result<Option<String>, MetadataError> {
    match get(tree, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(Value::Time(t)) => Ok(Some(t.0.clone())),
        Some(Value::Int(i)) => Ok(Some(i.to_string())),
        Some(Value::Float(f)) => Ok(Some(format_float_plain(*f))),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(invalid(key, "expected a string")),
    }
}

fn parse_threshold(v: Option<&Value>) -> Result<usize, MetadataError> {
    let bad = || {
        invalid(
            "shamir_threshold",
            "expected a whole number between 0 and 255",
        )
    };
    let n: f64 = match v {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Int(i)) => *i as f64,
        Some(Value::Float(f)) => *f,
        Some(Value::Str(s)) if s.is_empty() => return Ok(0),
        Some(Value::Str(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    if !(0.0..=255.0).contains(&n) || n.fract() != 0.0 {
        return Err(bad());
    }
    Ok(n as usize)
}

fn parse_bool_field(field: &str, v: Option<&Value>) -> Result<bool, MetadataError> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Str(s)) => match s.as_str() {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(invalid(field, "expected true or false")),
        },
        Some(_) => Err(invalid(field, "expected true or false")),
    }
}

/// sops's version check: `X.Y.Z` (semver: numeric parts without leading zeros, optional
/// leading `v`, optional pre-release / build suffix), or anything starting with `1.`
/// (sops 1.x files). Checked against sops 3.11: `3.11`, ` 3.11.0`, `03.11.0`, `3.11.0.1`
/// are rejected; `v3.11.0`, `3.11.0-rc1`, `3.11.0+b`, `1.x` accepted.
fn valid_version(v: &str) -> bool {
    if v.starts_with("1.") {
        return true;
    }
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

fn parse_age_list(field: &str, v: &Value) -> Result<Vec<AgeKey>, MetadataError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::List(items) => items,
        _ => return Err(invalid(field, "expected a list of age keys")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Branch(b) = item else {
            return Err(invalid(field, format!("entry {i} is not a mapping")));
        };
        let recipient = text_field(b, "recipient")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(field, format!("entry {i} has no recipient")))?;
        let enc = text_field(b, "enc")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(field, format!("entry {i} has no enc")))?;
        out.push(AgeKey { recipient, enc });
    }
    Ok(out)
}

fn parse_other_list(field: &str, v: &Value) -> Result<Vec<Value>, MetadataError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => Ok(items.clone()),
        _ => Err(invalid(field, "expected a list")),
    }
}

/// Read the master-key lists of one mapping (the top level or a `key_groups` entry).
fn parse_group(tree: &Branch, prefix: &str) -> Result<KeyGroup, MetadataError> {
    let mut group = KeyGroup::default();
    for item in &tree.items {
        let Item::Pair(k, v) = item else { continue };
        if !KEY_TYPES.contains(&k.as_str()) {
            continue;
        }
        let field = format!("{prefix}{k}");
        if k == "age" {
            group.age.extend(parse_age_list(&field, v)?);
        } else {
            let list = parse_other_list(&field, v)?;
            if !list.is_empty() {
                group.other.push((k.clone(), list));
            }
        }
    }
    Ok(group)
}

impl Metadata {
    /// Read and validate a raw metadata tree.
    pub fn from_tree(tree: &Branch) -> Result<Metadata, MetadataError> {
        let version = text_field(tree, "version")?
            .filter(|v| !v.is_empty())
            .ok_or(MetadataError::Missing("version"))?;
        if !valid_version(&version) {
            return Err(invalid(
                "version",
                "expected a Major.Minor.Patch version such as 3.11.0",
            ));
        }
        let lastmodified = text_field(tree, "lastmodified")?
            .filter(|v| !v.is_empty())
            .ok_or(MetadataError::Missing("lastmodified"))?;
        if time_text::parse_rfc3339_dt(&lastmodified).is_none() {
            return Err(invalid("lastmodified", "expected an RFC 3339 timestamp"));
        }
        let mac = text_field(tree, "mac")?.unwrap_or_default();

        let mut rule_values = Vec::new();
        for f in SELECTOR_FIELDS {
            if let Some(v) = text_field(tree, f)? {
                rule_values.push((f, v));
            }
        }
        let pairs: Vec<(&str, &str)> = rule_values.iter().map(|(f, v)| (*f, v.as_str())).collect();
        let selector = Selector::from_fields(&pairs)?;
        let mac_only_encrypted =
            parse_bool_field("mac_only_encrypted", get(tree, "mac_only_encrypted"))?;
        let shamir_threshold = parse_threshold(get(tree, "shamir_threshold"))?;

        let top = parse_group(tree, "")?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else {
            match get(tree, "key_groups") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::List(groups)) => {
                    let mut out = Vec::with_capacity(groups.len());
                    for (i, g) in groups.iter().enumerate() {
                        match g {
                            Value::Branch(b) => {
                                out.push(parse_group(b, &format!("key_groups[{i}]."))?)
                            }
                            Value::Null => out.push(KeyGroup::default()),
                            _ => {
                                return Err(invalid(
                                    "key_groups",
                                    format!("entry {i} is not a mapping"),
                                ));
                            }
                        }
                    }
                    out
                }
                Some(_) => return Err(invalid("key_groups", "expected a list of key groups")),
            }
        };
        if key_groups.iter().all(KeyGroup::is_empty) {
            return Err(MetadataError::NoKeys);
        }
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            lastmodified,
            mac,
            selector,
            mac_only_encrypted,
            version,
        })
    }

    /// Write the tree in sops's field order (§8.1/8.2).
    pub fn to_tree(&self) -> Branch {
        let mut items = Vec::new();
        let mut pair = |k: &str, v: Value| items.push(Item::Pair(k.to_string(), v));
        if self.shamir_threshold != 0 {
            pair("shamir_threshold", Value::Int(self.shamir_threshold as i64));
        }
        let single = match self.key_groups.as_slice() {
            [] => None,
            [g] => Some(g),
            groups => {
                let list = groups
                    .iter()
                    .map(|g| {
                        let mut gi = Vec::new();
                        for name in ["pgp", "kms", "gcp_kms", "hckms", "azure_kv"] {
                            if let Some(l) = g.other_list(name) {
                                gi.push(Item::Pair(name.into(), Value::List(l.clone())));
                            }
                        }
                        let hc = g.other_list("hc_vault").cloned().unwrap_or_default();
                        gi.push(Item::Pair("hc_vault".into(), Value::List(hc)));
                        gi.push(Item::Pair("age".into(), Value::List(g.age_list())));
                        Value::Branch(Branch { items: gi })
                    })
                    .collect();
                pair("key_groups", Value::List(list));
                None
            }
        };
        if let Some(g) = single {
            for name in TOP_OTHER_ORDER {
                if let Some(l) = g.other_list(name) {
                    pair(name, Value::List(l.clone()));
                }
            }
            if !g.age.is_empty() {
                pair("age", Value::List(g.age_list()));
            }
        }
        pair("lastmodified", Value::Str(self.lastmodified.clone()));
        pair("mac", Value::Str(self.mac.clone()));
        if let Some(l) = single.and_then(|g| g.other_list("pgp")) {
            pair("pgp", Value::List(l.clone()));
        }
        if let Some(sel) = &self.selector {
            if !sel.pattern().is_empty() {
                pair(sel.field_name(), Value::Str(sel.pattern().to_string()));
            }
        }
        if self.mac_only_encrypted {
            pair("mac_only_encrypted", Value::Bool(true));
        }
        pair("version", Value::Str(self.version.clone()));
        Branch { items }
    }

    /// The selector that applies when decrypting (the recorded one, or the default suffix).
    pub fn effective_selector(&self) -> Selector {
        self.selector.clone().unwrap_or_default()
    }

    /// `lastmodified` for "now": UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn now_lastmodified() -> String {
        time_text::format_rfc3339_seconds(time::OffsetDateTime::now_utc())
    }
}

/// `filestatus`: a metadata tree counts as encrypted when it parses and has a non-empty
/// `mac` and `version` (sops-format.md §8.3).
pub fn counts_as_encrypted(tree: &Branch) -> bool {
    Metadata::from_tree(tree).is_ok_and(|m| !m.mac.is_empty() && !m.version.is_empty())
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
