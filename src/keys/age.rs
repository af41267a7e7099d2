//! age master keys: recipient strings (`age1…` X25519 keys, SSH public key lines), wrapping
//! a data key (or Shamir share) into an armored age file per recipient, unwrapping it with
//! the discovered identities, and the identity-line parser the identity sources use.
//! Where identities are found lives in `identities`.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use super::identities::Stage;
use super::passphrase::PluginCallbacks;
use super::{Identities, KeyError, KeyType};
use crate::metadata::{AgeKey, KeyGroup};

/// age as a key type: recipients untagged, entries in the group's `age` list.
pub struct AgeType;

impl KeyType for AgeType {
    fn name(&self) -> &'static str {
        "age"
    }

    fn label(&self) -> &'static str {
        "age"
    }

    fn claims(&self, recipient: &str) -> bool {
        let r = recipient.trim();
        r.starts_with("age1") || r.starts_with("ssh-")
    }

    fn check(&self, recipient: &str) -> Result<(), KeyError> {
        parse_recipient(recipient).map(|_| ())
    }

    fn wrap(&self, recipient: &str, payload: &[u8], group: &mut KeyGroup) -> Result<(), KeyError> {
        group.age.push(AgeKey {
            recipient: recipient.trim().to_string(),
            enc: wrap(recipient, payload)?,
        });
        Ok(())
    }

    fn recipients(&self, group: &KeyGroup) -> Vec<String> {
        group.age.iter().map(|k| k.recipient.clone()).collect()
    }

    fn entry_for(&self, recipient: &str) -> Option<Result<crate::tree::Branch, KeyError>> {
        use crate::tree::{Branch, Item, Value};
        let pair = |k: &str, v: &str| Item::Pair(k.into(), Value::Str(v.into()));
        Some(parse_recipient(recipient).map(|_| Branch {
            items: vec![pair("recipient", recipient.trim()), pair("enc", "")],
        }))
    }

    fn describe(&self, group: &KeyGroup) -> Vec<String> {
        self.recipients(group)
    }

    fn unwrap(
        &self,
        group: &KeyGroup,
        ids: &Identities,
        notes: &mut Vec<String>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        open_group(group, ids, notes)
    }
}

/// Wrap `payload` (data key or Shamir share) for one recipient: armored age file with a
/// single stanza, trailing newline included.
pub fn wrap(recipient: &str, payload: &[u8]) -> Result<String, KeyError> {
    let parsed = parse_recipient(recipient)?;
    let wrap_err = |reason: String| KeyError::Wrap {
        recipient: recipient.trim().to_string(),
        reason,
    };
    let target = parsed.into_recipient().map_err(wrap_err)?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(target.as_ref() as &dyn age::Recipient))
            .map_err(|e| wrap_err(age_message(&e)))?;
    let mut out = Vec::with_capacity(400);
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| wrap_err(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armored)
        .map_err(|e| wrap_err(e.to_string()))?;
    writer
        .write_all(payload)
        .map_err(|e| wrap_err(e.to_string()))?;
    writer
        .finish()
        .and_then(|a| a.finish())
        .map_err(|e| wrap_err(e.to_string()))?;
    let mut text = String::from_utf8(out).map_err(|_| wrap_err("armor is not text".into()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Unwrap one age key, Ok(None) when no identity matches.
pub fn unwrap_one(key: &AgeKey, ids: &Identities) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    let mut notes = Vec::new();
    match try_key(key, ids, &mut notes) {
        KeyAttempt::Opened(p) => Ok(Some(p)),
        KeyAttempt::NoMatch => Ok(None),
        KeyAttempt::Malformed(reason) => Err(KeyError::NoMatchingIdentity {
            needed: vec![vec![key.recipient.clone()]],
            report: ids.full_report(),
            detail: reason,
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Recipients
// ---------------------------------------------------------------------------------------

pub(super) enum ParsedRecipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
    /// `age1<name>1…`: wrapped by the plugin binary `age-plugin-<name>` found on `PATH`.
    Plugin(age::plugin::Recipient),
    /// `age1pq1…`: the post-quantum hybrid (ML-KEM-768 + X25519) native type.
    Pq(super::age_pq::Recipient),
}

impl ParsedRecipient {
    /// The recipient age encrypts to; for a plugin, its binary must be on `PATH`.
    fn into_recipient(self) -> Result<Box<dyn age::Recipient + Send>, String> {
        Ok(match self {
            ParsedRecipient::X25519(r) => Box::new(r),
            ParsedRecipient::Ssh(r) => Box::new(r),
            ParsedRecipient::Pq(r) => Box::new(r),
            ParsedRecipient::Plugin(r) => Box::new(
                age::plugin::RecipientPluginV1::new(
                    r.plugin(),
                    std::slice::from_ref(&r),
                    &[],
                    PluginCallbacks::for_process(),
                )
                .map_err(|e| plugin_problem(&e))?,
            ),
        })
    }
}

/// Why a plugin cannot be used, with what to do.
pub(super) fn plugin_problem(e: &age::plugin::ResolveError) -> String {
    match e {
        age::plugin::ResolveError::MissingPlugin { binary_name } => format!(
            "the age plugin binary {binary_name} is not on PATH (install the plugin, or add its directory to PATH)"
        ),
        other => age_message(other),
    }
}

const RECIPIENT_SHAPE: &str = "a recipient is an age public key (age1… or age1pq1… as printed by \
     age-keygen, or age1<plugin>1… from an age plugin) or an SSH public key line (ssh-ed25519 AAAA… or ssh-rsa AAAA…)";

/// Parse one recipient string: the one place a recipient's type is decided.
pub(super) fn parse_recipient(recipient: &str) -> Result<ParsedRecipient, KeyError> {
    let r = recipient.trim();
    let bad = |reason: String| KeyError::BadRecipient {
        recipient: r.to_string(),
        reason,
    };
    if r.is_empty() {
        return Err(bad(format!("it is empty; {RECIPIENT_SHAPE}")));
    }
    // Before the plugin form: `age1pq1…` would read as a plugin named `pq`.
    if super::age_pq::is_recipient(r) {
        return r.parse().map(ParsedRecipient::Pq).map_err(|e| {
            bad(format!(
                "not a valid post-quantum age public key: {e}; {RECIPIENT_SHAPE}"
            ))
        });
    }
    if let Some(rest) = r.strip_prefix("age1") {
        if rest.contains('1') {
            return r
                .parse::<age::plugin::Recipient>()
                .map(ParsedRecipient::Plugin)
                .map_err(|e| {
                    bad(format!(
                        "not a valid age plugin recipient (age1<plugin name>1…): {e}; \
                         {RECIPIENT_SHAPE}"
                    ))
                });
        }
        return r
            .parse::<age::x25519::Recipient>()
            .map(ParsedRecipient::X25519)
            .map_err(|_| {
                bad(format!(
                    "not a valid X25519 age public key (bad length, character or checksum); \
                     {RECIPIENT_SHAPE}"
                ))
            });
    }
    if r.starts_with("ssh-") {
        return r
            .parse::<age::ssh::Recipient>()
            .map(ParsedRecipient::Ssh)
            .map_err(|e| {
                bad(match e {
                    age::ssh::ParseRecipientKeyError::Unsupported(t) => {
                        format!("SSH key type {t} is not supported (only ssh-ed25519 and ssh-rsa)")
                    }
                    age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                        "the ssh-rsa key is smaller than 2048 bits".to_string()
                    }
                    age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                        "the ssh-rsa key is too large".to_string()
                    }
                    _ => format!("not a valid SSH public key; {RECIPIENT_SHAPE}"),
                })
            });
    }
    Err(bad(format!("unknown recipient type; {RECIPIENT_SHAPE}")))
}

/// One identity line, as identity files, `SOPS_AGE_KEY` and key commands give them.
pub(super) enum IdentityLine {
    /// `AGE-SECRET-KEY-1…`.
    X25519(age::x25519::Identity),
    /// `AGE-SECRET-KEY-PQ-1…`: the post-quantum hybrid identity.
    Pq(super::age_pq::Identity),
    /// `AGE-PLUGIN-<NAME>-1…`: used through the plugin binary `age-plugin-<name>`.
    Plugin(age::plugin::Identity),
}

/// Parse one identity line (trimmed, not blank, not a comment): the one place an
/// identity's type is decided. Errors name the line, never its content.
pub(super) fn parse_identity_line(line: &str, line_no: usize) -> Result<IdentityLine, String> {
    if line.starts_with("AGE-PLUGIN-") {
        line.parse::<age::plugin::Identity>()
            .map(IdentityLine::Plugin)
            .map_err(|e| format!("line {line_no} is not a valid AGE-PLUGIN-… identity ({e})"))
    } else if super::age_pq::is_identity(line) {
        line.parse::<super::age_pq::Identity>()
            .map(IdentityLine::Pq)
            .map_err(|e| {
                format!("line {line_no} is not a valid AGE-SECRET-KEY-PQ-1… identity ({e})")
            })
    } else if line.starts_with("AGE-SECRET-KEY-1") {
        line.parse::<age::x25519::Identity>()
            .map(IdentityLine::X25519)
            .map_err(|_| {
                format!("line {line_no} is not a valid AGE-SECRET-KEY-1… identity (bad length, character or checksum)")
            })
    } else if line.starts_with("-----BEGIN OPENSSH PRIVATE KEY")
        || line.starts_with("-----BEGIN RSA PRIVATE KEY")
    {
        Err(format!(
            "line {line_no} starts an SSH private key; point SOPS_AGE_SSH_PRIVATE_KEY_FILE at SSH keys instead"
        ))
    } else {
        Err(format!(
            "line {line_no} is not an age identity (expected AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…, a # comment or a blank line)"
        ))
    }
}

/// `age1…` as is; SSH public key lines reduced to `type base64` (comment dropped).
pub(super) fn normalize_recipient(r: &str) -> String {
    let r = r.trim();
    if r.starts_with("ssh-") {
        r.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    } else {
        r.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Unwrapping
// ---------------------------------------------------------------------------------------

pub(super) enum KeyAttempt {
    Opened(Zeroizing<Vec<u8>>),
    NoMatch,
    Malformed(String),
}

/// Try the keys of one group; the first that opens wins. Why keys did not open goes to
/// `notes`.
fn open_group(
    group: &KeyGroup,
    ids: &Identities,
    notes: &mut Vec<String>,
) -> Option<Zeroizing<Vec<u8>>> {
    let keys: Vec<&AgeKey> = group.age.iter().collect();
    let mut malformed = Vec::new();
    let opened = open_keys(&keys, ids, notes, &mut malformed);
    notes.append(&mut malformed);
    opened
}

/// Try the identities on the keys source by source ([`Identities::stages`]): every key
/// with the identities of one source (those whose recipient the source holds first) before
/// the next source is read, so that a source after the one that opens is never touched.
/// A key command runs once per key, in the file's order, with `SOPS_AGE_RECIPIENT` set to
/// the key's recipient (as sops 3.12+ runs it for each age key it tries); its identities
/// are tried on that key. A key that is not a valid age file is reported in `malformed`
/// once and not tried again.
fn open_keys(
    keys: &[&AgeKey],
    ids: &Identities,
    notes: &mut Vec<String>,
    malformed: &mut Vec<String>,
) -> Option<Zeroizing<Vec<u8>>> {
    let mut raws: Vec<Option<Vec<u8>>> = keys
        .iter()
        .map(|key| match dearmor(&key.enc) {
            Ok(raw) => Some(raw),
            Err(reason) => {
                malformed.push(format!(
                    "the age key for {} is not a valid armored age file: {reason}",
                    key.recipient
                ));
                None
            }
        })
        .collect();
    for stage in ids.stages() {
        if raws.iter().all(Option::is_none) {
            break;
        }
        match stage {
            Stage::Loaded(source) => {
                if source.identities.is_empty() {
                    continue;
                }
                let known: Vec<&str> = source
                    .info
                    .iter()
                    .filter_map(|i| i.recipient.as_deref())
                    .collect();
                let held = |k: &AgeKey| known.contains(&normalize_recipient(&k.recipient).as_str());
                let mut order: Vec<usize> = (0..keys.len()).filter(|&i| held(keys[i])).collect();
                order.extend((0..keys.len()).filter(|&i| !held(keys[i])));
                for i in order {
                    let Some(raw) = raws[i].as_deref() else {
                        continue;
                    };
                    match try_identities(keys[i], raw, source, notes) {
                        KeyAttempt::Opened(p) => return Some(p),
                        KeyAttempt::NoMatch => {}
                        KeyAttempt::Malformed(reason) => {
                            malformed.push(reason);
                            raws[i] = None;
                        }
                    }
                }
            }
            Stage::Command(kc) => {
                for i in 0..keys.len() {
                    let Some(raw) = raws[i].as_deref() else {
                        continue;
                    };
                    let extra = Identities::run_for_key(kc, keys[i].recipient.trim());
                    match try_identities(keys[i], raw, &extra, notes) {
                        KeyAttempt::Opened(p) => return Some(p),
                        KeyAttempt::NoMatch => {
                            for r in &extra.report {
                                let note = format!("{}: {}", r.source, r.outcome);
                                if !notes.contains(&note) {
                                    notes.push(note);
                                }
                            }
                        }
                        KeyAttempt::Malformed(reason) => {
                            malformed.push(reason);
                            raws[i] = None;
                        }
                    }
                }
            }
        }
    }
    None
}

/// Try every identity on one age key, source by source as [`open_keys`] does.
pub(super) fn try_key(key: &AgeKey, ids: &Identities, notes: &mut Vec<String>) -> KeyAttempt {
    let mut malformed = Vec::new();
    match open_keys(&[key], ids, notes, &mut malformed) {
        Some(p) => KeyAttempt::Opened(p),
        None => match malformed.into_iter().next() {
            Some(reason) => KeyAttempt::Malformed(reason),
            None => KeyAttempt::NoMatch,
        },
    }
}

/// Within one source: first the identity whose public key is the key's recipient, then
/// the other identities with a known public key, then those without one
/// (passphrase-protected files, which may prompt).
fn try_identities(
    key: &AgeKey,
    raw: &[u8],
    ids: &Identities,
    notes: &mut Vec<String>,
) -> KeyAttempt {
    let target = normalize_recipient(&key.recipient);
    let info = |i: usize| ids.info.get(i);
    let mut order: Vec<usize> = Vec::with_capacity(ids.identities.len());
    let rank = |i: usize| match info(i).and_then(|x| x.recipient.as_deref()) {
        Some(r) if r == target => 0,
        Some(_) => 1,
        None => 2,
    };
    for pass in 0..3 {
        order.extend((0..ids.identities.len()).filter(|&i| rank(i) == pass));
    }
    for i in order {
        let Some(identity) = ids.identities.get(i) else {
            continue;
        };
        let decryptor = match age::Decryptor::new_buffered(raw) {
            Ok(d) => d,
            Err(e) => {
                return KeyAttempt::Malformed(format!(
                    "the age key for {} is not a valid age file: {}",
                    key.recipient,
                    age_message(&e)
                ));
            }
        };
        match decryptor.decrypt(std::iter::once(identity.as_ref() as &dyn age::Identity)) {
            Ok(mut reader) => {
                let mut payload = Zeroizing::new(Vec::with_capacity(33));
                match reader.read_to_end(&mut payload) {
                    Ok(_) => return KeyAttempt::Opened(payload),
                    Err(e) => {
                        return KeyAttempt::Malformed(format!(
                            "the age key for {} is corrupt: {}",
                            key.recipient,
                            strip_bidi(&e.to_string())
                        ));
                    }
                }
            }
            Err(age::DecryptError::NoMatchingKeys) => {}
            Err(e) => {
                let source = info(i).map(|x| x.source.as_str()).unwrap_or("an identity");
                let problem = info(i)
                    .and_then(|x| x.passphrase_problem.as_ref())
                    .and_then(|p| p.lock().ok().and_then(|g| g.clone()));
                let note = match (problem, &e) {
                    (Some(p), _) => format!("{source}: {p}"),
                    (None, age::DecryptError::KeyDecryptionFailed) => {
                        format!("{source}: could not decrypt the key (wrong passphrase?)")
                    }
                    _ => format!("{source}: {}", age_message(&e)),
                };
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
    KeyAttempt::NoMatch
}

pub(super) fn dearmor(enc: &str) -> Result<Vec<u8>, String> {
    let mut reader = age::armor::ArmoredReader::new(enc.trim_start().as_bytes());
    let mut raw = Vec::with_capacity(enc.len());
    reader
        .read_to_end(&mut raw)
        .map_err(|e| strip_bidi(&e.to_string()))?;
    Ok(raw)
}

/// age's messages wrap names in Unicode bidi isolates (U+2068/U+2069): drop them.
pub(super) fn strip_bidi(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '\u{2068}' && *c != '\u{2069}')
        .collect()
}

pub(super) fn age_message(e: &dyn std::fmt::Display) -> String {
    strip_bidi(&e.to_string()).trim().to_string()
}
