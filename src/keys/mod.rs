//! Master keys: the one interface every master-key type implements ([`KeyType`], as sops
//! has a `keysource` package per type), the registry of the types seal can wrap for, and
//! what is generic over them: key groups, Shamir shares, recovering the data key, and the
//! messages that name a file's keys.
//!
//! One module per type: [`age`] (recipients, wrapping, unwrapping), [`pgp`] (through gpg),
//! [`aws_kms`], [`gcp_kms`], [`azure_kv`], [`hckms`] and [`hc_vault`] (key services: one generic [`ServiceType`] over their
//! [`ServiceKey`]s, requests through [`http`]);
//! age identity discovery (where identities are found, passphrases, key commands) is apart
//! in `identities` and `passphrase`. A new type is a new module plus one line in
//! [`REGISTRY`]: the cipher, the stores and the commands only see recipient strings
//! (rules, flags and environment give them; a type other than age tags its own, such as
//! `pgp:FP`) and [`KeyGroup`]s. A file's entries of a type seal cannot wrap for are kept
//! verbatim ([`KeyGroup::other`]); commands that re-wrap refuse such files
//! ([`has_foreign_keys`]).
//!
//! Secrets never appear in messages: reports name sources, line numbers and public keys
//! only.

use std::marker::PhantomData;

use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::metadata::{KeyGroup, Metadata};
use crate::tree::{Branch, Value};

pub mod age;
pub mod age_pq;
pub mod aws_kms;
pub mod azure_kv;
pub mod gcp_kms;
pub mod hc_vault;
pub mod hckms;
pub mod http;
mod identities;
pub mod keyservice;
mod passphrase;
pub mod pgp;
#[cfg(feature = "pgp-native")]
mod pgp_keyring;
/// Without the `pgp-native` feature: no built-in OpenPGP, PGP keys go through gpg only.
#[cfg(not(feature = "pgp-native"))]
mod pgp_keyring {
    use zeroize::Zeroizing;

    const ABSENT: &str = "not built in (seal was compiled without the pgp-native feature)";

    pub fn decrypt(_armored: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        Err(ABSENT.to_string())
    }

    pub fn encrypt(_fp: &str, _payload: &[u8]) -> Result<String, String> {
        Err(ABSENT.to_string())
    }
}

pub use self::age::{unwrap_one, wrap};
pub use identities::{
    Env, Identities, IdentityEntry, ProcessEnv, SourceReport, configured_passphrase, format_report,
    public_keys_of,
};

/// One master-key type: how its recipients are named, how a data key (or Shamir share) is
/// wrapped into its metadata entries and unwrapped from them, and how messages name them.
pub trait KeyType: Sync {
    /// The metadata (and creation rule) field sops uses for this type: `age`, `pgp`, ….
    fn name(&self) -> &'static str;
    /// How messages name the type: `age`, `PGP`, ….
    fn label(&self) -> &'static str;
    /// Whether a recipient string, as rules, flags and the environment give it, names a key
    /// of this type.
    fn claims(&self, recipient: &str) -> bool;
    /// Validate a recipient string of this type.
    fn check(&self, recipient: &str) -> Result<(), KeyError>;
    /// Wrap `payload` for one recipient of this type, adding its metadata entry to `group`.
    fn wrap(&self, recipient: &str, payload: &[u8], group: &mut KeyGroup) -> Result<(), KeyError>;
    /// The group's keys of this type as recipient strings (what [`KeyType::wrap`] takes).
    fn recipients(&self, group: &KeyGroup) -> Vec<String>;
    /// The group's keys of this type as messages name them.
    fn describe(&self, group: &KeyGroup) -> Vec<String>;
    /// Try the group's keys of this type; the first that opens gives the payload. Why the
    /// others did not open is added to `notes` (never a secret).
    fn unwrap(
        &self,
        group: &KeyGroup,
        ids: &Identities,
        notes: &mut Vec<String>,
    ) -> Option<Zeroizing<Vec<u8>>>;
    /// The metadata entry a recipient of this type gets, `enc` still empty: what a remote
    /// key service fills in ([`keyservice`]). `None`: the type cannot go through one.
    fn entry_for(&self, _recipient: &str) -> Option<Result<Branch, KeyError>> {
        None
    }
    /// The `.sops.yaml` fields this type's keys are named in: `[flat rule, key group]`.
    fn rule_fields(&self) -> [&'static str; 2] {
        [self.name(), self.name()]
    }
    /// The recipients (as [`KeyType::wrap`] takes them) a creation rule names for this type:
    /// `fields` is the rule itself (`flat`) or one of its `key_groups` entries, `name` its
    /// place for messages. Not validated here (sops checks keys only when it uses them).
    fn rule_recipients(
        &self,
        fields: &Branch,
        flat: bool,
        name: &str,
    ) -> Result<Vec<String>, String> {
        let field = self.rule_fields()[usize::from(!flat)];
        crate::config::key_list(
            crate::config::field(fields, field),
            &format!("{name}.{field}"),
        )
    }
}

/// The master-key types seal wraps for, in the order sops tries them when decrypting.
pub static REGISTRY: &[&dyn KeyType] = &[
    &age::AgeType,
    &PgpType,
    &aws_kms::KMS,
    &gcp_kms::GCP,
    &azure_kv::AZURE,
    &hc_vault::VAULT,
    &hckms::HCKMS,
];

/// The registered type of a metadata field name.
pub fn key_type(name: &str) -> Option<&'static dyn KeyType> {
    REGISTRY.iter().copied().find(|t| t.name() == name)
}

/// The type a recipient string names: the first registered type that claims it, else age
/// (whose check explains what a recipient looks like).
pub fn type_of(recipient: &str) -> &'static dyn KeyType {
    REGISTRY
        .iter()
        .copied()
        .find(|t| t.claims(recipient))
        .unwrap_or(&age::AgeType)
}

/// The labels of the registered types, for messages (`age and PGP`).
fn type_labels() -> String {
    let labels: Vec<&str> = REGISTRY.iter().map(|t| t.label()).collect();
    match labels.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl KeyError {
    /// A multi-line explanation for [`KeyError::NoMatchingIdentity`]: what the file needs
    /// and where seal looked. `None` for other errors (their message says it all).
    pub fn explanation(&self) -> Option<String> {
        let KeyError::NoMatchingIdentity {
            needed,
            report,
            detail,
        } = self
        else {
            return None;
        };
        let mut out = String::new();
        if !detail.is_empty() {
            out.push_str(detail);
            out.push('\n');
        }
        for (i, group) in needed.iter().enumerate() {
            if needed.len() > 1 {
                out.push_str(&format!("key group {}:\n", i + 1));
            } else {
                out.push_str("the file's recipients:\n");
            }
            for r in group {
                out.push_str(&format!("  {r}\n"));
            }
        }
        out.push_str("identities seal looked for:\n");
        out.push_str(&format_report(report));
        Some(out)
    }
}

/// Validate a recipient string of any registered type (`age1…`, `ssh-ed25519 …`,
/// `pgp:FP`, …).
pub fn check_recipient(recipient: &str) -> Result<(), KeyError> {
    type_of(recipient).check(recipient)
}

/// Build key groups for a fresh or re-wrapped data key: one group wraps the whole key;
/// several groups get one Shamir share each (threshold 0 = all groups).
pub fn wrap_groups(
    groups: &[Vec<String>],
    threshold: usize,
    key: &DataKey,
) -> Result<Vec<KeyGroup>, KeyError> {
    let shape_err = |reason: String| KeyError::Wrap {
        recipient: "the key groups".to_string(),
        reason,
    };
    if groups.is_empty() || groups.iter().all(|g| g.is_empty()) {
        return Err(shape_err(format!(
            "no keys were given ({})",
            type_labels().replace(" and ", " or ")
        )));
    }
    if let Some(i) = groups.iter().position(|g| g.is_empty()) {
        return Err(shape_err(format!(
            "key group {} has no keys, so its share could never be recovered",
            i + 1
        )));
    }
    let wrap_group = |group: &[String], payload: &[u8]| -> Result<KeyGroup, KeyError> {
        let mut out = KeyGroup::default();
        for r in group {
            keyservice::wrap(type_of(r), r, payload, &mut out)?;
        }
        Ok(out)
    };
    if groups.len() == 1 {
        return Ok(vec![wrap_group(&groups[0], key.as_bytes())?]);
    }
    let n = groups.len();
    let t = if threshold == 0 { n } else { threshold };
    if n > 255 {
        return Err(shape_err(format!(
            "{n} key groups: Shamir secret sharing supports at most 255"
        )));
    }
    if !(2..=n).contains(&t) {
        return Err(shape_err(format!(
            "the Shamir threshold is {t} with {n} key groups; it must be between 2 and {n}"
        )));
    }
    let shares =
        crate::shamir::split(key.as_bytes(), n, t).map_err(|e| shape_err(e.to_string()))?;
    groups
        .iter()
        .zip(shares.iter())
        .map(|(g, share)| wrap_group(g, share))
        .collect()
}

/// Recover the data key from the metadata's key groups with the identities (Shamir
/// combine when there are several groups).
pub fn recover_data_key(meta: &Metadata, ids: &Identities) -> Result<DataKey, KeyError> {
    let groups = &meta.key_groups;
    let n = groups.len();
    let needed = needed_recipients(groups);
    let fail = |detail: String| KeyError::NoMatchingIdentity {
        needed: needed.clone(),
        report: ids.full_report(),
        detail,
    };
    if n == 0 {
        return Err(fail("the file lists no key groups".to_string()));
    }
    let want = if n == 1 {
        1
    } else if meta.shamir_threshold == 0 {
        n
    } else {
        meta.shamir_threshold
    };
    let mut notes = Vec::new();
    let mut shares: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    if want <= n {
        for (gi, group) in groups.iter().enumerate() {
            if REGISTRY.iter().all(|t| t.recipients(group).is_empty()) {
                let labels = type_labels();
                let or_labels = labels.replace(" and ", " or ");
                notes.push(format!(
                    "key group {} has no {or_labels} keys (seal speaks {labels} only)",
                    gi + 1
                ));
                continue;
            }
            let opened = decryption_order(&ids.decryption_order)
                .into_iter()
                .find_map(|t| keyservice::unwrap(t, group, ids, &mut notes));
            if let Some(payload) = opened {
                shares.push(payload);
                if shares.len() >= want {
                    break;
                }
            }
        }
    }
    let summary = if n == 1 {
        "needs the one key group, opened none".to_string()
    } else {
        format!("needs {want} of {n} key groups, opened {}", shares.len())
    };
    if shares.len() < want {
        // Asked only now: it reads every identity source not read yet.
        if ids.is_empty() && keyservice::local_enabled() {
            notes.insert(0, "no identities were found".to_string());
        }
        let mut detail = summary;
        for note in notes {
            detail.push_str("; ");
            detail.push_str(&note);
        }
        return Err(fail(detail));
    }
    let key_bytes = if n == 1 {
        shares.pop().unwrap_or_default()
    } else {
        let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        crate::shamir::combine(&refs)
            .map_err(|e| fail(format!("the key group shares do not combine: {e}")))?
    };
    DataKey::from_slice(&key_bytes).map_err(|_| {
        fail(format!(
            "the recovered data key is {} bytes long, expected 32",
            key_bytes.len()
        ))
    })
}

/// The order in which sops reads a key group's entries from a file (its stores put the keys
/// of each type together in this order), and so the order it tries the types that
/// `SOPS_DECRYPTION_ORDER` does not name.
pub const SOPS_GROUP_ORDER: &[&str] = &[
    "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp", "age",
];

/// The registered types in the order a group's keys are tried: those `order` names
/// (`--decryption-order`/`SOPS_DECRYPTION_ORDER`, sops's default `age,pgp` when empty)
/// first, in its order, then the others in the order sops reads a group
/// ([`SOPS_GROUP_ORDER`]; sops sorts a group's keys the same way, stably).
fn decryption_order(order: &[String]) -> Vec<&'static dyn KeyType> {
    let default = ["age".to_string(), "pgp".to_string()];
    let order = if order.is_empty() {
        &default[..]
    } else {
        order
    };
    let in_group = |t: &&'static dyn KeyType| {
        SOPS_GROUP_ORDER
            .iter()
            .position(|n| *n == t.name())
            .unwrap_or(SOPS_GROUP_ORDER.len())
    };
    let rank = |t: &&'static dyn KeyType| {
        order
            .iter()
            .position(|n| n == t.name())
            .unwrap_or(order.len())
    };
    let mut types: Vec<&'static dyn KeyType> = REGISTRY.to_vec();
    types.sort_by_key(in_group);
    types.sort_by_key(rank);
    types
}

/// Errors of the key layer.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A recipient string is not valid.
    #[error("invalid recipient {recipient:?}: {reason}")]
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

/// A key group's recipients as rules and flags name them, type by type in registry order
/// (age recipients, then PGP fingerprints tagged `pgp:`): what [`wrap_groups`] takes back.
pub fn group_recipients(group: &KeyGroup) -> Vec<String> {
    REGISTRY.iter().flat_map(|t| t.recipients(group)).collect()
}

/// True when a group holds master keys of a type seal cannot wrap for (not registered):
/// re-wrapping such a group would leave a stale entry, so rotate and updatekeys refuse.
pub fn has_foreign_keys(group: &KeyGroup) -> bool {
    group
        .other
        .iter()
        .any(|(kind, list)| key_type(kind).is_none() && !list.is_empty())
}

/// Each group's keys as messages name them: age first, then the other lists in the file's
/// order, types seal cannot use counted.
fn needed_recipients(groups: &[KeyGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            let mut v: Vec<String> = age::AgeType.describe(g);
            for (kind, entries) in &g.other {
                if let Some(t) = key_type(kind) {
                    v.extend(t.describe(g));
                    continue;
                }
                v.push(format!(
                    "{} {kind} key{} (not supported by seal)",
                    entries.len(),
                    if entries.len() == 1 { "" } else { "s" }
                ));
            }
            v
        })
        .collect()
}

/// The recipient strings of sops's key-service flags: `--kms` lists (comma-separated
/// `ARN[+ROLE]`, each with `context` from `--encryption-context` and `profile` from
/// `--aws-profile`) and `--hc-vault-transit` lists (comma-separated key URLs). A malformed
/// context or URL is an error naming the flag.
pub fn service_flag_recipients(
    kms: &[String],
    context: Option<&str>,
    profile: Option<&str>,
    vault: &[String],
) -> Result<Vec<String>, KeyError> {
    let mut out = Vec::new();
    if !kms.is_empty() {
        let ctx = aws_kms::parse_context(context.unwrap_or_default()).map_err(|reason| {
            KeyError::Wrap {
                recipient: "the --kms keys".to_string(),
                reason: format!("--encryption-context: {reason}"),
            }
        })?;
        for list in kms {
            out.extend(
                aws_kms::parse_arn_list(list, &ctx, profile.unwrap_or_default())
                    .iter()
                    .map(aws_kms::KmsKey::describe),
            );
        }
    }
    for list in vault {
        let keys = hc_vault::parse_uri_list(list).map_err(|e| KeyError::BadRecipient {
            recipient: list.clone(),
            reason: e.message,
        })?;
        out.extend(keys.iter().map(hc_vault::VaultKey::describe));
    }
    Ok(out)
}

/// Add one metadata entry to the group's list of type `kind` (created after the group's
/// other lists when it has none yet).
pub fn push_entry(group: &mut KeyGroup, kind: &str, entry: Value) {
    match group.other.iter_mut().find(|(k, _)| k == kind) {
        Some((_, list)) => list.push(entry),
        None => group.other.push((kind.to_string(), vec![entry])),
    }
}

// ---------------------------------------------------------------------------------------
// Key-service types (AWS KMS, Vault transit, …): one generic KeyType over their keys
// ---------------------------------------------------------------------------------------

/// A master key served by a key service (AWS KMS, Vault transit, …): what differs per
/// type. [`ServiceType`] makes it a [`KeyType`]: wrapping and unwrapping go through the
/// process environment, entries live in the group's list named [`ServiceKey::TYPE`].
pub trait ServiceKey: Sized + 'static {
    /// The metadata field (`kms`, `hc_vault`, …).
    const TYPE: &'static str;
    /// How messages name the type (`AWS KMS`, `Vault`, …).
    const LABEL: &'static str;
    /// The `.sops.yaml` fields: `[flat rule, key group]`.
    const RULE_FIELDS: [&'static str; 2];
    /// Whether a recipient string names a key of this type.
    fn claims(recipient: &str) -> bool;
    /// A key to wrap for from its recipient string, or why it is not one.
    fn from_recipient(recipient: &str) -> Result<Self, String>;
    /// The recipient string of a key (the inverse of [`ServiceKey::from_recipient`]).
    fn recipient(&self) -> String;
    /// The entries of the group's raw metadata list.
    fn entries(list: &[Value]) -> Result<Vec<Self>, String>;
    /// The metadata entry of a wrapped key.
    fn entry(&self) -> Value;
    /// Wrap `payload`: the key with its `enc` and `created_at` set.
    fn encrypt(&self, payload: &[u8], env: &dyn Env) -> Result<Self, String>;
    /// Unwrap the entry's `enc`.
    fn decrypt(&self, env: &dyn Env) -> Result<Zeroizing<Vec<u8>>, String>;
    /// The recipients a creation rule names (see [`KeyType::rule_recipients`]).
    fn rule_recipients(fields: &Branch, flat: bool, name: &str) -> Result<Vec<String>, String>;
}

/// The [`KeyType`] of a [`ServiceKey`].
pub struct ServiceType<K>(PhantomData<fn() -> K>);

impl<K> ServiceType<K> {
    /// The type (a value for [`REGISTRY`]).
    pub const fn new() -> Self {
        ServiceType(PhantomData)
    }
}

impl<K> Default for ServiceType<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: ServiceKey> ServiceType<K> {
    fn keys(group: &KeyGroup) -> Vec<K> {
        group
            .other
            .iter()
            .filter(|(kind, _)| kind == K::TYPE)
            .flat_map(|(_, list)| K::entries(list).unwrap_or_default())
            .collect()
    }

    fn parse(recipient: &str) -> Result<K, KeyError> {
        K::from_recipient(recipient).map_err(|reason| KeyError::BadRecipient {
            recipient: recipient.to_string(),
            reason,
        })
    }
}

impl<K: ServiceKey> KeyType for ServiceType<K> {
    fn name(&self) -> &'static str {
        K::TYPE
    }

    fn label(&self) -> &'static str {
        K::LABEL
    }

    fn claims(&self, recipient: &str) -> bool {
        K::claims(recipient)
    }

    fn check(&self, recipient: &str) -> Result<(), KeyError> {
        Self::parse(recipient).map(|_| ())
    }

    /// Wrap through the service (process environment) and add the entry to `group`.
    fn wrap(&self, recipient: &str, payload: &[u8], group: &mut KeyGroup) -> Result<(), KeyError> {
        let key = Self::parse(recipient)?;
        let made = key
            .encrypt(payload, &ProcessEnv)
            .map_err(|reason| KeyError::Wrap {
                recipient: format!("{} key {}", K::LABEL, key.recipient()),
                reason,
            })?;
        push_entry(group, K::TYPE, made.entry());
        Ok(())
    }

    fn recipients(&self, group: &KeyGroup) -> Vec<String> {
        Self::keys(group).iter().map(K::recipient).collect()
    }

    fn entry_for(&self, recipient: &str) -> Option<Result<Branch, KeyError>> {
        Some(Self::parse(recipient).and_then(|k| match k.entry() {
            Value::Branch(b) => Ok(b),
            _ => Err(KeyError::Unsupported(format!(
                "{} entries are not mappings",
                K::LABEL
            ))),
        }))
    }

    fn describe(&self, group: &KeyGroup) -> Vec<String> {
        Self::keys(group)
            .iter()
            .map(|k| format!("{} {}", K::LABEL, k.recipient()))
            .collect()
    }

    /// Try the group's entries in order (process environment); why each failed goes to
    /// `notes`, once.
    fn unwrap(
        &self,
        group: &KeyGroup,
        _ids: &Identities,
        notes: &mut Vec<String>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        for key in Self::keys(group) {
            match key.decrypt(&ProcessEnv) {
                Ok(p) => return Some(p),
                Err(note) => {
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
        None
    }

    fn rule_fields(&self) -> [&'static str; 2] {
        K::RULE_FIELDS
    }

    fn rule_recipients(
        &self,
        fields: &Branch,
        flat: bool,
        name: &str,
    ) -> Result<Vec<String>, String> {
        K::rule_recipients(fields, flat, name)
    }
}

// ---------------------------------------------------------------------------------------
// PGP as a key type (the gpg work is in `pgp`)
// ---------------------------------------------------------------------------------------

/// PGP master keys: recipients `pgp:FP`, entries in the group's `pgp` list.
pub struct PgpType;

impl PgpType {
    fn keys(group: &KeyGroup) -> Vec<pgp::PgpKey> {
        group
            .other
            .iter()
            .filter(|(kind, _)| kind == "pgp")
            .flat_map(|(_, list)| pgp::entries(list))
            .collect()
    }
}

impl KeyType for PgpType {
    fn name(&self) -> &'static str {
        "pgp"
    }

    fn label(&self) -> &'static str {
        "PGP"
    }

    fn claims(&self, recipient: &str) -> bool {
        pgp::untag(recipient).is_some()
    }

    fn check(&self, recipient: &str) -> Result<(), KeyError> {
        let fp = pgp::untag(recipient).unwrap_or(recipient);
        pgp::check_fp(fp).map_err(|reason| KeyError::BadRecipient {
            recipient: fp.to_string(),
            reason,
        })
    }

    fn wrap(&self, recipient: &str, payload: &[u8], group: &mut KeyGroup) -> Result<(), KeyError> {
        let fp = pgp::untag(recipient).unwrap_or(recipient);
        let enc = pgp::wrap(fp, payload).map_err(|reason| KeyError::Wrap {
            recipient: format!("PGP key {fp}"),
            reason,
        })?;
        let entry = pgp::entry_value(&pgp::PgpKey {
            fp: fp.to_string(),
            enc,
            created_at: Metadata::now_lastmodified(),
        });
        push_entry(group, "pgp", entry);
        Ok(())
    }

    fn recipients(&self, group: &KeyGroup) -> Vec<String> {
        Self::keys(group).iter().map(|k| pgp::tag(&k.fp)).collect()
    }

    fn entry_for(&self, recipient: &str) -> Option<Result<Branch, KeyError>> {
        let fp = pgp::untag(recipient).unwrap_or(recipient);
        Some(
            match pgp::entry_value(&pgp::PgpKey {
                fp: fp.to_string(),
                enc: String::new(),
                created_at: String::new(),
            }) {
                Value::Branch(b) => Ok(b),
                _ => Err(KeyError::Unsupported("PGP entries are not mappings".into())),
            },
        )
    }

    fn describe(&self, group: &KeyGroup) -> Vec<String> {
        Self::keys(group)
            .iter()
            .map(|k| format!("PGP {}", k.fp))
            .collect()
    }

    /// Fingerprints (spaces removed by `pgp::tag`'s callers, as sops does), tagged `pgp:`.
    /// Like sops, the fingerprint is not checked here: gpg judges it when a file is encrypted.
    fn rule_recipients(
        &self,
        fields: &Branch,
        _flat: bool,
        name: &str,
    ) -> Result<Vec<String>, String> {
        let fps =
            crate::config::key_list(crate::config::field(fields, "pgp"), &format!("{name}.pgp"))?;
        Ok(fps.iter().map(|fp| pgp::tag(fp)).collect())
    }

    /// Through gpg, after the group's age keys (as sops tries age first).
    fn unwrap(
        &self,
        group: &KeyGroup,
        _ids: &Identities,
        notes: &mut Vec<String>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        for key in Self::keys(group) {
            match pgp::unwrap(&key) {
                Ok(p) => return Some(p),
                Err(reason) => {
                    let note = format!("PGP key {}: {reason}", key.fp);
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
        None
    }
}

/// One entry of a raw metadata list of a key service (`kms:`, `gcp_kms:`, `azure_kv:`,
/// `hckms:`, `hc_vault:`): its fields, and its position for messages.
pub(crate) struct EntryFields<'a> {
    /// The entry's mapping.
    pub branch: &'a Branch,
    kind: &'static str,
    index: usize,
}

impl EntryFields<'_> {
    /// A string field (a timestamp counts: `created_at` reads as one).
    pub fn text(&self, k: &str) -> Option<String> {
        match self.branch.get(k) {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Time(t)) => Some(t.0.clone()),
            _ => None,
        }
    }

    /// A string field the entry must have.
    pub fn need(&self, k: &str) -> Result<String, String> {
        self.text(k)
            .ok_or_else(|| self.error(&format!("has no string {k:?}")))
    }

    /// A message about this entry: `kms entry 2 {what}`.
    pub fn error(&self, what: &str) -> String {
        format!("{} entry {} {what}", self.kind, self.index + 1)
    }
}

/// The entries of a raw metadata list of kind `kind`, comments skipped; an item that is not
/// a mapping is an error naming its position. `read` makes a key of each entry.
pub(crate) fn read_entries<K>(
    list: &[Value],
    kind: &'static str,
    read: impl Fn(&EntryFields<'_>) -> Result<K, String>,
) -> Result<Vec<K>, String> {
    let mut out = Vec::new();
    for (index, v) in list.iter().enumerate() {
        match v {
            Value::Comment(_) => {}
            Value::Branch(branch) => out.push(read(&EntryFields {
                branch,
                kind,
                index,
            })?),
            _ => return Err(format!("{kind} entry {} is not a mapping", index + 1)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
