//! Whether a `sops:` block holds, judged without a key: the checks sops itself makes before
//! it decrypts (version, `lastmodified`, the MAC's form, at least one master key, each key
//! entry's shape), the plaintext values that do not belong in the block, and whether a
//! file's selector is narrower than the one it should have been encrypted with.
//!
//! Measured against sops 3.11 (`sops decrypt` with the right key): a version it refuses
//! (missing, `abc`, `3`, `3.11`, `v1.2`), a `lastmodified` or key `created_at` that is not
//! RFC 3339, or no master key at all is exit 1; a MAC that is not an `ENC[…]` value is
//! exit 51; a group none of whose entries is a real master key cannot give the data key
//! (exit 128). A broken entry next to a working one still decrypts, and so does an age
//! entry whose `recipient` text is not a valid public key (decryption only reads `enc`):
//! those are warnings, never "forged".

use crate::check::Severity;
use crate::cipher::EncValue;
use crate::metadata::{Metadata, MetadataError};
use crate::rules::{KUBERNETES_REGEX, SELECTOR_FIELDS, Selector};
use crate::tree::{Branch, Item, Value, ValueType, time_text};

/// One thing wrong with a `sops:` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Error: sops refuses the file (or nobody can open it). Warning: it decrypts, but part
    /// of the block is damaged.
    pub severity: Severity,
    /// What is wrong, naming fields only (never a value).
    pub message: String,
}

/// The metadata fields sops reads (anything else under `sops:` is ignored by sops).
const FIELDS: [&str; 17] = [
    "shamir_threshold",
    "key_groups",
    "kms",
    "gcp_kms",
    "hckms",
    "azure_kv",
    "hc_vault",
    "age",
    "lastmodified",
    "mac",
    "pgp",
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// The master-key types, with the fields that name the key (all must be non-empty) and
/// every field sops writes for an entry.
const KEY_TYPES: [(&str, &[&str], &[&str]); 7] = [
    ("age", &["recipient", "enc"], &["recipient", "enc"]),
    ("pgp", &["fp", "enc"], &["created_at", "enc", "fp"]),
    (
        "kms",
        &["arn", "enc"],
        &["arn", "role", "context", "created_at", "enc", "aws_profile"],
    ),
    (
        "gcp_kms",
        &["resource_id", "enc"],
        &["resource_id", "created_at", "enc"],
    ),
    // Huawei Cloud KMS (sops 3.11): only `enc` is required here, since no file in the
    // corpus pins its id field.
    ("hckms", &["enc"], &["key_id", "created_at", "enc"]),
    (
        "azure_kv",
        &["vault_url", "name", "enc"],
        &["vault_url", "name", "version", "created_at", "enc"],
    ),
    (
        "hc_vault",
        &["vault_address", "engine_path", "key_name", "enc"],
        &[
            "vault_address",
            "engine_path",
            "key_name",
            "created_at",
            "enc",
        ],
    ),
];

/// The length of a MAC's plaintext: SHA-512 in upper-case hex.
const MAC_HEX_LEN: usize = 128;

/// Every problem of the block, errors first. Empty: the block holds as far as anyone can
/// tell without the key.
pub fn problems(tree: &Branch) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut err = |m: String| {
        out.push(Problem {
            severity: Severity::Error,
            message: m,
        })
    };
    // version, lastmodified, selectors, threshold: the reading rules sops applies first.
    // Problems with the key lists are judged entry by entry below (sops decrypts a file
    // whose age entry has an empty recipient, for one).
    match Metadata::from_tree(tree) {
        Ok(_) | Err(MetadataError::NoKeys) => {}
        Err(MetadataError::Invalid { field, .. })
            if KEY_TYPES.iter().any(|(t, _, _)| field.ends_with(t)) || field == "key_groups" => {}
        Err(e) => err(format!("{e}: sops refuses to decrypt it")),
    }
    match tree.get("mac") {
        None | Some(Value::Null) => {
            err("the sops metadata has no mac: sops refuses to decrypt it (exit 51, no MAC)".into())
        }
        Some(Value::Str(s)) if s.is_empty() => {
            err("the sops mac is empty: sops refuses to decrypt it".into())
        }
        Some(Value::Str(s)) => match EncValue::parse(s) {
            Err(why) => err(format!(
                "the sops mac is not an ENC[...] value ({why}): sops refuses to decrypt it (exit 51)"
            )),
            Ok(v) if v.value_type != ValueType::Str || v.data.len() != MAC_HEX_LEN => err(format!(
                "the sops mac is not a MAC sops wrote (it holds {} bytes of type {}, sops writes {MAC_HEX_LEN} bytes of type str): it cannot verify",
                v.data.len(),
                v.value_type.as_str()
            )),
            Ok(_) => {}
        },
        Some(_) => err("the sops mac is not a string: sops refuses to decrypt it".into()),
    }
    out.extend(key_problems(tree));
    out.sort_by_key(|p| std::cmp::Reverse(p.severity));
    out
}

/// The groups sops reads: the top-level lists when any is non-empty, else `key_groups`.
fn groups(tree: &Branch) -> Vec<(String, &Branch)> {
    let top_has = KEY_TYPES
        .iter()
        .any(|(t, _, _)| matches!(tree.get(t), Some(Value::List(l)) if !l.is_empty()));
    if top_has {
        return vec![(String::new(), tree)];
    }
    match tree.get("key_groups") {
        Some(Value::List(gs)) => gs
            .iter()
            .enumerate()
            .filter_map(|(i, g)| match g {
                Value::Branch(b) => Some((format!("key_groups[{i}]."), b)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn key_problems(tree: &Branch) -> Vec<Problem> {
    let mut out = Vec::new();
    let groups = groups(tree);
    let mut any_entry = false;
    for (prefix, g) in &groups {
        let mut working = 0usize;
        let mut broken = Vec::new();
        for (ty, _, _) in KEY_TYPES {
            let Some(Value::List(entries)) = g.get(ty) else {
                continue;
            };
            for (i, e) in entries.iter().enumerate() {
                any_entry = true;
                let at = format!("{prefix}{ty}[{i}]");
                match entry_problem(ty, e) {
                    Ok(None) => working += 1,
                    Ok(Some(warning)) => {
                        working += 1;
                        out.push(Problem {
                            severity: Severity::Warning,
                            message: format!("the sops key entry {at} {warning}"),
                        });
                    }
                    Err(Fatal::Refused(why)) => out.push(Problem {
                        severity: Severity::Error,
                        message: format!(
                            "the sops key entry {at} {why}: sops refuses to decrypt the file"
                        ),
                    }),
                    Err(Fatal::NotAKey(why)) => broken.push(format!("{at} {why}")),
                }
            }
        }
        let severity = if working == 0 {
            Severity::Error
        } else {
            Severity::Warning
        };
        for b in broken {
            let tail = if working == 0 {
                "and no other key in its group is one, so nobody can decrypt the file"
            } else {
                "(the other keys of its group still open the file)"
            };
            out.push(Problem {
                severity,
                message: format!("the sops key entry {b}: it is not a real master key, {tail}"),
            });
        }
    }
    if !any_entry {
        out.push(Problem {
            severity: Severity::Error,
            message: "the sops metadata lists no recipients (no age, pgp or KMS key): sops refuses to decrypt it (No keys found in file)".into(),
        });
    }
    out
}

enum Fatal {
    /// sops stops reading the metadata (exit 1).
    Refused(String),
    /// The entry cannot give the data key to anyone.
    NotAKey(String),
}

fn text<'a>(b: &'a Branch, k: &str) -> Option<&'a str> {
    match b.get(k) {
        Some(Value::Str(s)) => Some(s.as_str()),
        Some(Value::Time(t)) => Some(t.0.as_str()),
        _ => None,
    }
}

/// Ok(None): a real entry; Ok(Some(w)): usable but damaged; Err: not usable.
fn entry_problem(ty: &str, e: &Value) -> Result<Option<String>, Fatal> {
    let Value::Branch(b) = e else {
        return Err(Fatal::NotAKey("is not a mapping".into()));
    };
    // sops parses created_at of every non-age key, and refuses the file when it fails.
    if ty != "age" {
        let created = text(b, "created_at").unwrap_or("");
        if time_text::parse_rfc3339_dt(created).is_none() {
            return Err(Fatal::Refused(
                "has a created_at that is not an RFC 3339 timestamp".into(),
            ));
        }
    }
    let (_, required, _) = KEY_TYPES
        .iter()
        .find(|(t, _, _)| *t == ty)
        .copied()
        .unwrap_or(("", &[], &[]));
    for f in required {
        if *f == "recipient" {
            continue;
        }
        if text(b, f).is_none_or(|s| s.trim().is_empty()) {
            return Err(Fatal::NotAKey(format!("has no {f}")));
        }
    }
    let enc = text(b, "enc").unwrap_or("");
    match ty {
        "age" => {
            if let Err(why) = age_file_shape(enc) {
                return Err(Fatal::NotAKey(format!("has an enc that {why}")));
            }
            let recipient = text(b, "recipient").unwrap_or("");
            match crate::keys::check_recipient(recipient) {
                Ok(()) | Err(crate::keys::KeyError::Unsupported(_)) => Ok(None),
                Err(_) => Ok(Some(
                    "names a recipient that is not an age or SSH public key: sops still decrypts with its enc, but updatekeys and rotate cannot re-wrap for it".into(),
                )),
            }
        }
        "pgp" => {
            let t = enc.trim();
            if t.starts_with("-----BEGIN PGP MESSAGE-----")
                && t.ends_with("-----END PGP MESSAGE-----")
            {
                Ok(None)
            } else {
                Err(Fatal::NotAKey(
                    "has an enc that is not an armored PGP message".into(),
                ))
            }
        }
        _ => {
            // KMS services return base64 (AWS, GCP), base64url (Azure) or `vault:v1:…`
            // (Vault): anything outside those alphabets is not a wrapped key.
            let ok = enc
                .chars()
                .filter(|c| !c.is_whitespace())
                .all(|c| c.is_ascii_alphanumeric() || "+/=_-:".contains(c));
            if ok {
                Ok(None)
            } else {
                Err(Fatal::NotAKey(
                    "has an enc that is not a wrapped key (not base64)".into(),
                ))
            }
        }
    }
}

/// An armored age file that holds a header with at least one recipient stanza, a header
/// MAC and a payload, as `age -e -a` writes it. Err: what it is not.
fn age_file_shape(enc: &str) -> Result<(), &'static str> {
    use base64::Engine;
    const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
    const END: &str = "-----END AGE ENCRYPTED FILE-----";
    let t = enc.trim();
    let body = t
        .strip_prefix(BEGIN)
        .and_then(|r| r.strip_suffix(END))
        .ok_or("is not an armored age file")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let bin = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "is not valid base64 inside its age armor")?;
    let rest = bin
        .strip_prefix(b"age-encryption.org/v1\n")
        .ok_or("does not start with the age v1 header")?;
    if !rest.starts_with(b"-> ") {
        return Err("has no recipient stanza");
    }
    let mac = memchr::memmem::find(rest, b"\n--- ").ok_or("has no header MAC")?;
    let after = &rest[mac + 5..];
    let nl = memchr::memchr(b'\n', after).ok_or("has no payload")?;
    // A 16-byte nonce and at least one 16-byte-tagged chunk (a 32-byte data key wraps to 48).
    if after.len() - nl - 1 < 16 + 16 {
        return Err("has no payload");
    }
    Ok(())
}

/// Plaintext values under the `sops:` block that sops does not read (it ignores and later
/// drops them; they are never encrypted): display paths such as `sops.password`.
pub fn stray_values(tree: &Branch) -> Vec<String> {
    let mut out = Vec::new();
    let known_top = |k: &str| {
        FIELDS.contains(&k) || k == "mac_only_encrypted" || k == "version" || k == "hckms"
    };
    for item in &tree.items {
        let Item::Pair(k, v) = item else { continue };
        if !known_top(k) {
            leaves_into(&format!("sops.{k}"), v, &mut out);
            continue;
        }
        if k == "key_groups"
            && let Value::List(gs) = v
        {
            for (i, g) in gs.iter().enumerate() {
                let Value::Branch(g) = g else { continue };
                for gi in &g.items {
                    let Item::Pair(gk, gv) = gi else { continue };
                    let at = format!("sops.key_groups[{i}].{gk}");
                    if KEY_TYPES.iter().any(|(t, _, _)| t == gk) {
                        stray_in_entries(&at, gk, gv, &mut out);
                    } else {
                        leaves_into(&at, gv, &mut out);
                    }
                }
            }
        } else if KEY_TYPES.iter().any(|(t, _, _)| t == k) {
            stray_in_entries(&format!("sops.{k}"), k, v, &mut out);
        }
    }
    out
}

fn stray_in_entries(at: &str, ty: &str, v: &Value, out: &mut Vec<String>) {
    let Value::List(entries) = v else { return };
    let fields = KEY_TYPES
        .iter()
        .find(|(t, _, _)| *t == ty)
        .map(|(_, _, f)| *f)
        .unwrap_or(&[]);
    for (i, e) in entries.iter().enumerate() {
        let Value::Branch(b) = e else { continue };
        for item in &b.items {
            let Item::Pair(k, v) = item else { continue };
            if !fields.contains(&k.as_str()) {
                leaves_into(&format!("{at}[{i}].{k}"), v, out);
            }
        }
    }
}

/// `at` when `v` holds any non-empty scalar.
fn leaves_into(at: &str, v: &Value, out: &mut Vec<String>) {
    let has = match v {
        Value::Null | Value::Comment(_) => false,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::Branch(b) => b.items.iter().any(|i| match i {
            Item::Pair(_, v) => {
                let mut sub = Vec::new();
                leaves_into("", v, &mut sub);
                !sub.is_empty()
            }
            Item::Comment(_) => false,
        }),
        Value::List(l) => l.iter().any(|v| {
            let mut sub = Vec::new();
            leaves_into("", v, &mut sub);
            !sub.is_empty()
        }),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Time(_) => true,
    };
    if has {
        out.push(at.to_string());
    }
}

/// Probe keys: names no selector is written for.
const PROBE: &str = "seal-probe-value";

/// Whether `selector` leaves a value of a Secret's `data` or `stringData` unencrypted that
/// seal's Kubernetes default (`encrypted_regex: ^(data|stringData)$`) encrypts: then a
/// value added later (`seal set`, `sops edit`) stays plaintext. The field it leaves, if any.
pub fn narrower_than_kubernetes(selector: &Selector) -> Option<&'static str> {
    ["data", "stringData"]
        .into_iter()
        .find(|f| !selector.should_encrypt_path(&[f, PROBE]))
}

/// The selector text as a finding shows it: `encrypted_regex '^x$'`.
pub fn describe(selector: &Selector) -> String {
    format!("{} {:?}", selector.field_name(), selector.pattern())
}

/// seal's Kubernetes default, for messages.
pub fn kubernetes_default_text() -> String {
    format!("encrypted_regex {KUBERNETES_REGEX:?}")
}

/// The names of the six selector fields (re-exported for the scanner's messages).
pub fn selector_fields() -> &'static [&'static str] {
    &SELECTOR_FIELDS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::Format;

    fn block(yaml: &str) -> Branch {
        let parsed = Format::Yaml
            .store()
            .load_encrypted(yaml.as_bytes())
            .expect("parses");
        parsed.metadata.expect("has a sops block")
    }

    const AGE_ENC: &str = "        -----BEGIN AGE ENCRYPTED FILE-----
        YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSArZVRWcXlLUmxmcWNCc1FF
        cWFqMXArdllObS83cE5GOWlneitQdURoOFM4ClVXUnNLSWRnNnpjY09ZaFplYWZX
        Slo0WkwyRk1oTENXN1N4bDlHNnZiS28KLT4gZl5Dd3U7XS1ncmVhc2Ugd1kmWHZF
        UlsKSGpxSgotLS0gM1hsMnRrWEF3S1NDTnRicjd0VnNVUW8rYUxCSzIrK0NQSEJS
        MFdxVnRsawqslTJJNdWiLYCO0bbC+ZOhPe4uEi44W5+blCVYuuQktqWZccfx+R7o
        qBO2DSmLlBKT/E4cbAkUj4VBPXisRwXe
        -----END AGE ENCRYPTED FILE-----
";
    const MAC: &str = "ENC[AES256_GCM,data:FPzZ0VvOhJN2zPv/ivA0tTGhHoGbi9N1Xx5QboDcmZzVyyAGw7KZwXodOv2f9mGELyDG1hGt83H0/DZvfaKiCa6Ko5oQjdespEmfAkhBPOpmdwpWZije2H62IkceXKNFFSQSOkUDmHB11aOCbj1MKq7vUYdiYoe5xrNw7yj45rM=,iv:486trXrGrtPCqMlkpSZhjI54DNk0P2SPmo/k9mU71iw=,tag:BQDXoNMDJBITV3Ccm7mpEw==,type:str]";

    fn file(age_enc: &str, mac: &str, extra: &str) -> String {
        format!(
            "a: ENC[AES256_GCM,data:eYRzSCQQ6g==,iv:4sLpc8ZNQYeGPS6JFfPJV50qRr23MrB/xQPVEhEHY0k=,tag:HrD8e47o1s/0vsvYInJ+kA==,type:str]\nsops:\n  age:\n    - recipient: age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx\n      enc: |\n{age_enc}  lastmodified: \"2026-11-25T20:44:40Z\"\n  mac: {mac}\n{extra}  version: 3.11.0\n"
        )
    }

    #[test]
    fn a_block_sops_wrote_holds() {
        assert_eq!(problems(&block(&file(AGE_ENC, MAC, ""))), vec![]);
        assert!(stray_values(&block(&file(AGE_ENC, MAC, ""))).is_empty());
    }

    #[test]
    fn forged_parts_are_errors() {
        let fake_age = "        -----BEGIN AGE ENCRYPTED FILE-----\n        aGVsbG8=\n        -----END AGE ENCRYPTED FILE-----\n";
        for (what, yaml) in [
            ("age", file(fake_age, MAC, "")),
            ("not an ENC", file(AGE_ENC, "hello", "")),
            (
                "bytes of type",
                file(
                    AGE_ENC,
                    "ENC[AES256_GCM,data:AA==,iv:486trXrGrtPCqMlkpSZhjI54DNk0P2SPmo/k9mU71iw=,tag:BQDXoNMDJBITV3Ccm7mpEw==,type:str]",
                    "",
                ),
            ),
            (
                "created_at",
                file(AGE_ENC, MAC, "  pgp:\n    - fp: ABC\n      enc: x\n"),
            ),
        ] {
            let p = problems(&block(&yaml));
            assert!(
                p.iter()
                    .any(|p| p.severity == Severity::Error && p.message.contains(what)),
                "{what}: {p:?}"
            );
        }
    }

    #[test]
    fn a_broken_entry_next_to_a_working_one_is_a_warning() {
        let yaml = file(
            AGE_ENC,
            MAC,
            "  kms:\n    - arn: arn:x\n      created_at: \"2026-01-01T00:00:00Z\"\n      enc: '!!'\n",
        );
        let p = problems(&block(&yaml));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].severity, Severity::Warning);
    }

    #[test]
    fn unknown_fields_with_values_are_stray() {
        let yaml = file(AGE_ENC, MAC, "  password: hunter2\n  note: \"\"\n");
        assert_eq!(stray_values(&block(&yaml)), vec!["sops.password"]);
    }

    #[test]
    fn narrow_selectors_against_the_kubernetes_default() {
        let sel = |f: &str, p: &str| Selector::from_field(f, p).unwrap();
        assert_eq!(
            narrower_than_kubernetes(&sel("encrypted_regex", "^(data|stringData)$")),
            None
        );
        assert_eq!(
            narrower_than_kubernetes(&sel("unencrypted_suffix", "_unencrypted")),
            None
        );
        assert_eq!(
            narrower_than_kubernetes(&sel("encrypted_regex", "^password$")),
            Some("data")
        );
        assert_eq!(
            narrower_than_kubernetes(&sel("unencrypted_regex", ".*")),
            Some("data")
        );
        assert_eq!(
            narrower_than_kubernetes(&sel("encrypted_regex", "^data$")),
            Some("stringData")
        );
    }
}
