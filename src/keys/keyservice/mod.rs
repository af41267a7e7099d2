//! sops's key service protocol: the settings a command runs with (`--keyservice` URIs,
//! whether the local keys are used too), the seam through which [`super::wrap_groups`] and
//! [`super::recover_data_key`] hand a master key to a remote service, and the mapping
//! between a metadata entry and the protocol's `Key` ([`proto`]). The gRPC client is
//! [`client`], `seal keyservice` / `sops keyservice` is [`server`].
//!
//! As sops does: each key is wrapped by the first service that succeeds (the local keys
//! first when enabled, then the `--keyservice` list in order); each key of a group is tried
//! with every service in turn until one unwraps it. What a service said goes into the
//! notes of the "could not decrypt the data key" error, never a data key.

use std::sync::RwLock;

use zeroize::Zeroizing;

use super::{Identities, KeyError, KeyType, push_entry};
use crate::metadata::{AgeKey, KeyGroup};
use crate::tree::{Branch, Item, Value};

#[cfg(feature = "keyservice")]
pub mod client;
pub mod proto;
#[cfg(feature = "keyservice")]
pub mod server;

/// Without the `keyservice` feature: no key service client; a `--keyservice` is refused.
#[cfg(not(feature = "keyservice"))]
pub mod client {
    use zeroize::Zeroizing;

    use super::proto::Key;

    const ABSENT: &str = "seal was built without the keyservice feature";

    /// A key service (never made: [`Endpoint::parse`] refuses every URI).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Endpoint {
        /// The URI as given.
        pub uri: String,
    }

    impl Endpoint {
        /// Refused: not built in.
        pub fn parse(uri: &str) -> Result<Endpoint, String> {
            Err(format!("key service {uri:?}: {ABSENT}"))
        }

        /// Not built in.
        pub fn encrypt(&self, _key: &Key, _plaintext: &[u8]) -> Result<Vec<u8>, String> {
            Err(ABSENT.to_string())
        }

        /// Not built in.
        pub fn decrypt(
            &self,
            _key: &Key,
            _ciphertext: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, String> {
            Err(ABSENT.to_string())
        }
    }
}

/// Without the `keyservice` feature: `seal keyservice` fails naming the feature.
#[cfg(not(feature = "keyservice"))]
pub mod server {
    /// How `seal keyservice` listens.
    #[derive(Clone, Debug)]
    pub struct Options {
        /// `tcp` or `unix`.
        pub network: String,
        /// `HOST:PORT` or a socket path.
        pub address: String,
        /// Ask before answering each request.
        pub prompt: bool,
    }

    /// Not built in.
    pub fn run(_opts: &Options) -> Result<(), String> {
        Err("seal was built without the keyservice feature (sops keyservice)".to_string())
    }
}

pub use client::Endpoint;
use proto::Key;

/// The key services a command uses.
struct Settings {
    services: Vec<Endpoint>,
    local: bool,
}

static SETTINGS: RwLock<Settings> = RwLock::new(Settings {
    services: Vec::new(),
    local: true,
});

/// Use these key services (`--keyservice`, in order) and, with `local`, this machine's keys
/// first (`--enable-local-keyservice`, true unless given false). A URI that is not
/// `tcp://HOST:PORT` or `unix:///PATH` is an error naming it.
pub fn configure(uris: &[String], local: bool) -> Result<(), String> {
    let services = uris
        .iter()
        .filter(|u| !u.trim().is_empty())
        .map(|u| Endpoint::parse(u.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut s = SETTINGS.write().unwrap_or_else(|e| e.into_inner());
    *s = Settings { services, local };
    Ok(())
}

fn settings() -> (Vec<Endpoint>, bool) {
    let s = SETTINGS.read().unwrap_or_else(|e| e.into_inner());
    (s.services.clone(), s.local)
}

/// Wrap `payload` for `recipient` (of type `t`) into `group`: locally when enabled, else or
/// when that fails through the key services in order.
pub(crate) fn wrap(
    t: &dyn KeyType,
    recipient: &str,
    payload: &[u8],
    group: &mut KeyGroup,
) -> Result<(), KeyError> {
    let (services, local) = settings();
    if local && services.is_empty() {
        return t.wrap(recipient, payload, group);
    }
    let mut reasons = Vec::new();
    if local {
        match t.wrap(recipient, payload, group) {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push(format!("the local keys: {e}")),
        }
    }
    let blank = match t.entry_for(recipient) {
        Some(entry) => entry?,
        None => {
            return Err(KeyError::Wrap {
                recipient: recipient.to_string(),
                reason: format!("{} keys cannot go through a key service", t.label()),
            });
        }
    };
    let key = Key::from_entry(t.name(), &blank).ok_or_else(|| KeyError::Wrap {
        recipient: recipient.to_string(),
        reason: "the key cannot be described to a key service".to_string(),
    })?;
    if services.is_empty() {
        reasons.push(
            "no key service to use (the local one is disabled and no --keyservice is given)"
                .to_string(),
        );
    }
    for svc in &services {
        match svc.encrypt(&key, payload) {
            Ok(ct) => {
                let enc = String::from_utf8(ct).map_err(|_| KeyError::Wrap {
                    recipient: key.describe(),
                    reason: format!(
                        "key service {} answered a ciphertext that is not text",
                        svc.uri
                    ),
                })?;
                add_entry(t.name(), blank, &enc, group);
                return Ok(());
            }
            Err(e) => reasons.push(e),
        }
    }
    Err(KeyError::Wrap {
        recipient: key.describe(),
        reason: reasons.join("; "),
    })
}

/// Unwrap the group's keys of type `t`: locally when enabled, then each key with every
/// key service in order. Why each failed is added to `notes` once.
pub(crate) fn unwrap(
    t: &dyn KeyType,
    group: &KeyGroup,
    ids: &Identities,
    notes: &mut Vec<String>,
) -> Option<Zeroizing<Vec<u8>>> {
    let (services, local) = settings();
    if local && let Some(p) = t.unwrap(group, ids, notes) {
        return Some(p);
    }
    if services.is_empty() {
        return None;
    }
    for (key, enc) in entries(t.name(), group) {
        for svc in &services {
            match svc.decrypt(&key, enc.as_bytes()) {
                Ok(p) => return Some(p),
                Err(note) => {
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
    }
    None
}

/// Whether remote key services are configured (for messages: local identities may not be
/// the only way).
pub fn remote_configured() -> bool {
    !settings().0.is_empty()
}

/// Whether the local keys are used.
pub fn local_enabled() -> bool {
    settings().1
}

/// The group's keys of list `kind` as protocol keys, each with its `enc`.
fn entries(kind: &str, group: &KeyGroup) -> Vec<(Key, String)> {
    if kind == "age" {
        return group
            .age
            .iter()
            .map(|k| (Key::Age(k.recipient.clone()), k.enc.clone()))
            .collect();
    }
    group
        .other
        .iter()
        .filter(|(k, _)| k == kind)
        .flat_map(|(_, list)| list.iter())
        .filter_map(|v| match v {
            Value::Branch(b) => {
                let enc = match b.get("enc") {
                    Some(Value::Str(s)) => s.clone(),
                    _ => return None,
                };
                Some((Key::from_entry(kind, b)?, enc))
            }
            _ => None,
        })
        .collect()
}

/// Add an entry of list `kind` with `enc` set (and `created_at`, where the entry has one,
/// set to now) to `group`.
fn add_entry(kind: &str, mut entry: Branch, enc: &str, group: &mut KeyGroup) {
    let now = crate::metadata::Metadata::now_lastmodified();
    for item in &mut entry.items {
        if let Item::Pair(k, v) = item {
            match k.as_str() {
                "enc" => *v = Value::Str(enc.to_string()),
                "created_at" => *v = Value::Str(now.clone()),
                _ => {}
            }
        }
    }
    if kind == "age" {
        let recipient = match entry.get("recipient") {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        };
        group.age.push(AgeKey {
            recipient,
            enc: enc.to_string(),
        });
    } else {
        push_entry(group, kind, Value::Branch(entry));
    }
}

#[cfg_attr(not(feature = "keyservice"), allow(dead_code))]
/// A group holding one entry: `key` with `enc` (the server's way to reuse a local type).
fn single_group(key: &Key, enc: &str) -> KeyGroup {
    let mut group = KeyGroup::default();
    add_entry(key.kind(), key.to_entry(""), enc, &mut group);
    group
}

#[cfg_attr(not(feature = "keyservice"), allow(dead_code))]
/// The `enc` of the one entry a wrap added to an empty group.
fn only_enc(group: &KeyGroup) -> Option<String> {
    if let Some(k) = group.age.first() {
        return Some(k.enc.clone());
    }
    let (_, list) = group.other.first()?;
    match list.first()? {
        Value::Branch(b) => match b.get("enc") {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_entry_becomes_a_key_and_back() {
        let key = Key::Vault {
            vault_address: "http://127.0.0.1:8200".into(),
            engine_path: "transit".into(),
            key_name: "k".into(),
        };
        let group = single_group(&key, "vault:v1:xyz");
        assert_eq!(
            entries("hc_vault", &group),
            vec![(key, "vault:v1:xyz".into())]
        );
        assert_eq!(only_enc(&group).as_deref(), Some("vault:v1:xyz"));
        let age = single_group(&Key::Age("age1x".into()), "E");
        assert_eq!(age.age[0].recipient, "age1x");
        assert_eq!(
            entries("age", &age),
            vec![(Key::Age("age1x".into()), "E".into())]
        );
    }

    #[test]
    fn bad_uris_are_refused_naming_them() {
        let err = configure(&["localhost:5000".into()], true).unwrap_err();
        assert!(err.contains("localhost:5000"), "{err}");
        assert!(!remote_configured());
    }
}
