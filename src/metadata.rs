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
    tree.get(key)
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
        // sops decrypts with `enc` alone: an empty or missing recipient is read as "" (it
        // only orders the identities tried; measured with sops 3.11).
        let recipient = text_field(b, "recipient")?.unwrap_or_default();
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
        if let Some(sel) = &self.selector
            && !sel.pattern().is_empty()
        {
            pair(sel.field_name(), Value::Str(sel.pattern().to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Timestamp;
    use proptest::prelude::*;

    fn pair(k: &str, v: Value) -> Item {
        Item::Pair(k.to_string(), v)
    }
    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }
    fn age(r: &str, e: &str) -> Value {
        Value::Branch(Branch {
            items: vec![pair("recipient", s(r)), pair("enc", s(e))],
        })
    }
    fn keys(tree: &Branch) -> Vec<&str> {
        tree.items
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, _) => Some(k.as_str()),
                Item::Comment(_) => None,
            })
            .collect()
    }

    const ENC: &str =
        "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
    const MAC: &str = "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]";

    /// The §17 metadata block, as the YAML store hands it over.
    fn single() -> Branch {
        Branch {
            items: vec![
                pair("age", Value::List(vec![age("age1abc", ENC)])),
                pair("lastmodified", s("2026-11-25T16:50:19Z")),
                pair("mac", s(MAC)),
                pair("unencrypted_suffix", s("_unencrypted")),
                pair("version", s("3.11.0")),
            ],
        }
    }

    /// The `shamir-key-groups` corpus metadata.
    fn groups() -> Branch {
        let group = |r: &str| {
            Value::Branch(Branch {
                items: vec![
                    pair("hc_vault", Value::List(vec![])),
                    pair("age", Value::List(vec![age(r, ENC)])),
                ],
            })
        };
        Branch {
            items: vec![
                pair("shamir_threshold", Value::Int(2)),
                pair(
                    "key_groups",
                    Value::List(vec![group("age1a"), group("age1b"), group("age1c")]),
                ),
                pair("lastmodified", s("2026-11-25T17:22:14Z")),
                pair("mac", s(MAC)),
                pair("unencrypted_suffix", s("_unencrypted")),
                pair("version", s("3.11.0")),
            ],
        }
    }

    fn with(tree: &Branch, key: &str, v: Option<Value>) -> Branch {
        let mut t = tree.clone();
        t.items
            .retain(|i| !matches!(i, Item::Pair(k, _) if k == key));
        if let Some(v) = v {
            t.items.push(pair(key, v));
        }
        t
    }

    #[test]
    fn single_group_reads_and_writes_back_identically() {
        let m = Metadata::from_tree(&single()).unwrap();
        assert_eq!(m.key_groups.len(), 1);
        assert_eq!(
            m.key_groups[0].age,
            vec![AgeKey {
                recipient: "age1abc".into(),
                enc: ENC.into()
            }]
        );
        assert_eq!(m.lastmodified, "2026-11-25T16:50:19Z");
        assert_eq!(m.mac, MAC);
        assert_eq!(m.version, "3.11.0");
        assert_eq!(m.shamir_threshold, 0);
        assert!(!m.mac_only_encrypted);
        assert_eq!(
            m.selector.as_ref().map(|s| s.field_name()),
            Some("unencrypted_suffix")
        );
        assert_eq!(m.to_tree(), single());
        assert!(counts_as_encrypted(&single()));
    }

    #[test]
    fn key_groups_read_and_write_back_identically() {
        let m = Metadata::from_tree(&groups()).unwrap();
        assert_eq!(m.key_groups.len(), 3);
        assert_eq!(m.shamir_threshold, 2);
        assert_eq!(m.key_groups[2].age[0].recipient, "age1c");
        assert_eq!(m.to_tree(), groups());
    }

    #[test]
    fn dotenv_and_ini_strings_are_accepted() {
        let mut t = with(&groups(), "shamir_threshold", Some(s("2.0")));
        t = with(&t, "mac_only_encrypted", Some(s("true")));
        let m = Metadata::from_tree(&t).unwrap();
        assert_eq!(m.shamir_threshold, 2);
        assert!(m.mac_only_encrypted);
        let t = with(&single(), "shamir_threshold", Some(s("2")));
        assert_eq!(Metadata::from_tree(&t).unwrap().shamir_threshold, 2);
        // An unquoted lastmodified resolved as a YAML timestamp, JSON null groups entries.
        let t = with(
            &single(),
            "lastmodified",
            Some(Value::Time(Timestamp("2026-11-25T16:50:19Z".into()))),
        );
        assert_eq!(
            Metadata::from_tree(&t).unwrap().lastmodified,
            "2026-11-25T16:50:19Z"
        );
        for bad in [
            s("2.5"),
            s("x"),
            Value::Int(-1),
            Value::Int(256),
            Value::Bool(true),
        ] {
            let t = with(&single(), "shamir_threshold", Some(bad));
            assert!(matches!(
                Metadata::from_tree(&t),
                Err(MetadataError::Invalid { .. })
            ));
        }
        let t = with(&single(), "mac_only_encrypted", Some(s("maybe")));
        assert!(Metadata::from_tree(&t).is_err());
    }

    #[test]
    fn version_rules_follow_sops() {
        for ok in [
            "3.11.0",
            "v3.11.0",
            "3.11.0-rc1",
            "3.11.0+b",
            "0.0.1",
            "1.x",
            "1.2",
        ] {
            let t = with(&single(), "version", Some(s(ok)));
            assert!(Metadata::from_tree(&t).is_ok(), "{ok}");
        }
        // Measured with sops 3.11 decrypt: `1.` passes the `1.` prefix test before the `v`
        // is stripped, so `v1.2` is refused while `1.2` and `9.9.9` decrypt.
        for ok in ["9.9.9", "1.", "v3.11.0"] {
            let t = with(&single(), "version", Some(s(ok)));
            assert!(Metadata::from_tree(&t).is_ok(), "{ok}");
        }
        for bad in [
            "3.11", " 3.11.0", "03.11.0", "3.11.0.1", "3.x.0", "x", "abc", "3", "v1.2", "01.2.3",
        ] {
            let t = with(&single(), "version", Some(s(bad)));
            assert!(
                matches!(Metadata::from_tree(&t), Err(MetadataError::Invalid { ref field, .. }) if field == "version"),
                "{bad}"
            );
        }
        let t = with(&single(), "version", None);
        assert!(matches!(
            Metadata::from_tree(&t),
            Err(MetadataError::Missing("version"))
        ));
        assert!(!counts_as_encrypted(&t));
    }

    #[test]
    fn required_fields_and_errors() {
        let t = with(&single(), "lastmodified", Some(s("2026-11-25 16:50:19")));
        assert!(
            matches!(Metadata::from_tree(&t), Err(MetadataError::Invalid { ref field, .. }) if field == "lastmodified")
        );
        let t = with(&single(), "lastmodified", None);
        assert!(matches!(
            Metadata::from_tree(&t),
            Err(MetadataError::Missing("lastmodified"))
        ));
        let t = with(&single(), "encrypted_regex", Some(s("^data$")));
        assert!(matches!(
            Metadata::from_tree(&t),
            Err(MetadataError::Rule(_))
        ));
        let t = with(&single(), "age", None);
        assert!(matches!(
            Metadata::from_tree(&t),
            Err(MetadataError::NoKeys)
        ));
        let t = with(
            &single(),
            "age",
            Some(Value::List(vec![Value::Branch(Branch::default())])),
        );
        assert!(matches!(
            Metadata::from_tree(&t),
            Err(MetadataError::Invalid { .. })
        ));
        // An empty recipient is read (sops decrypts such a file with its enc).
        let t = with(&single(), "age", Some(Value::List(vec![age("", ENC)])));
        assert_eq!(
            Metadata::from_tree(&t).unwrap().key_groups[0].age[0].recipient,
            ""
        );
        // mac may be empty (then "no MAC" at verification), but filestatus says false.
        let t = with(&single(), "mac", None);
        assert_eq!(Metadata::from_tree(&t).unwrap().mac, "");
        assert!(!counts_as_encrypted(&t));
        // Unknown keys are ignored; no selector means the default.
        let t = with(
            &with(&single(), "unencrypted_suffix", None),
            "future_field",
            Some(s("x")),
        );
        let m = Metadata::from_tree(&t).unwrap();
        assert!(m.selector.is_none());
        assert_eq!(m.effective_selector().pattern(), "_unencrypted");
        assert!(!keys(&m.to_tree()).contains(&"future_field"));
    }

    #[test]
    fn top_level_keys_win_over_key_groups() {
        let t = with(
            &groups(),
            "age",
            Some(Value::List(vec![age("age1top", ENC)])),
        );
        let m = Metadata::from_tree(&t).unwrap();
        assert_eq!(m.key_groups.len(), 1);
        assert_eq!(m.key_groups[0].age[0].recipient, "age1top");
    }

    #[test]
    fn other_master_keys_are_kept_in_sops_order() {
        let pgp = Value::List(vec![Value::Branch(Branch {
            items: vec![pair("fp", s("ABCD"))],
        })]);
        let kms = Value::List(vec![Value::Branch(Branch {
            items: vec![pair("arn", s("arn:aws:kms:x"))],
        })]);
        let mut t = single();
        t.items.insert(0, pair("pgp", pgp.clone()));
        t.items.push(pair("kms", kms.clone()));
        t.items.push(pair("hc_vault", Value::Null));
        let m = Metadata::from_tree(&t).unwrap();
        assert_eq!(
            m.key_groups[0].other,
            vec![
                (
                    "pgp".to_string(),
                    vec![Value::Branch(Branch {
                        items: vec![pair("fp", s("ABCD"))]
                    })]
                ),
                (
                    "kms".to_string(),
                    vec![Value::Branch(Branch {
                        items: vec![pair("arn", s("arn:aws:kms:x"))]
                    })]
                )
            ]
        );
        let out = m.to_tree();
        assert_eq!(
            keys(&out),
            [
                "kms",
                "age",
                "lastmodified",
                "mac",
                "pgp",
                "unencrypted_suffix",
                "version"
            ]
        );
        // A pgp-only file still has keys (the key layer reports that seal speaks age only).
        let only_pgp = with(&with(&single(), "age", None), "pgp", Some(pgp));
        assert!(Metadata::from_tree(&only_pgp).is_ok());
    }

    #[test]
    fn groups_always_write_hc_vault_and_age() {
        let m = Metadata {
            key_groups: vec![
                KeyGroup {
                    age: vec![],
                    other: vec![("pgp".into(), vec![s("p")])],
                },
                KeyGroup {
                    age: vec![AgeKey {
                        recipient: "age1x".into(),
                        enc: ENC.into(),
                    }],
                    other: vec![],
                },
            ],
            shamir_threshold: 2,
            lastmodified: "2026-11-25T16:50:19Z".into(),
            mac: MAC.into(),
            selector: None,
            mac_only_encrypted: true,
            version: SOPS_VERSION.into(),
        };
        let t = m.to_tree();
        assert_eq!(
            keys(&t),
            [
                "shamir_threshold",
                "key_groups",
                "lastmodified",
                "mac",
                "mac_only_encrypted",
                "version"
            ]
        );
        let Some(Item::Pair(_, Value::List(gs))) = t.items.get(1) else {
            panic!("no key_groups")
        };
        let Value::Branch(g0) = &gs[0] else {
            panic!("group is not a mapping")
        };
        assert_eq!(keys(g0), ["pgp", "hc_vault", "age"]);
        assert_eq!(g0.items[2], pair("age", Value::List(vec![])));
        let back = Metadata::from_tree(&t).unwrap();
        assert_eq!(back.to_tree(), t);
    }

    #[test]
    fn now_lastmodified_is_whole_seconds_utc() {
        let now = Metadata::now_lastmodified();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'));
        assert!(time_text::parse_rfc3339_dt(&now).is_some());
    }

    fn arb_meta() -> impl Strategy<Value = Metadata> {
        let key = ("age1[a-z0-9]{4}", "[A-Za-z0-9\n]{1,20}")
            .prop_map(|(recipient, enc)| AgeKey { recipient, enc });
        let group =
            proptest::collection::vec(key, 1..3).prop_map(|age| KeyGroup { age, other: vec![] });
        let selector = prop_oneof![
            Just(None),
            proptest::sample::select(crate::rules::SELECTOR_FIELDS.to_vec())
                .prop_map(|f| Some(Selector::from_field(f, "^x$").unwrap())),
        ];
        (
            proptest::collection::vec(group, 1..4),
            0usize..4,
            selector,
            any::<bool>(),
            "[A-Z0-9]{0,8}",
        )
            .prop_map(
                |(key_groups, shamir_threshold, selector, mac_only_encrypted, mac)| Metadata {
                    key_groups,
                    shamir_threshold,
                    lastmodified: "2026-11-25T16:50:19Z".into(),
                    mac,
                    selector,
                    mac_only_encrypted,
                    version: SOPS_VERSION.into(),
                },
            )
    }

    proptest! {
        #[test]
        fn to_tree_then_from_tree_round_trips(m in arb_meta()) {
            let t = m.to_tree();
            let back = Metadata::from_tree(&t).unwrap();
            prop_assert_eq!(&back.key_groups, &m.key_groups);
            prop_assert_eq!(back.shamir_threshold, m.shamir_threshold);
            prop_assert_eq!(&back.mac, &m.mac);
            prop_assert_eq!(back.mac_only_encrypted, m.mac_only_encrypted);
            prop_assert_eq!(back.selector.as_ref().map(|s| s.field_name()), m.selector.as_ref().map(|s| s.field_name()));
            prop_assert_eq!(back.to_tree(), t);
        }
    }
}
