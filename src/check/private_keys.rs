//! Committed private keys in any text file: age identities (X25519, post-quantum
//! `AGE-SECRET-KEY-PQ-1…` and plugin), PEM private keys (PKCS#1, PKCS#8, SEC1, DSA),
//! OpenSSH private keys and armored OpenPGP private key blocks (what
//! `gpg --export-secret-keys --armor` writes, e.g. for Flux's sops-gpg Secret) — also when
//! they sit base64-encoded in a value (a Kubernetes `data:` entry). PEM and OpenSSH keys
//! protected by a passphrase are not reported; an OpenPGP block is reported either way
//! (it carries the whole secret key, and its passphrase is the one thing left to guess).
//! Placeholders that are not real keys are not reported: age identities must carry a
//! valid bech32 checksum, PEM, OpenSSH and OpenPGP blocks a real body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use memchr::memmem;

/// One private key found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHit {
    /// Byte offset of the key's first character in the file.
    pub offset: usize,
    /// What kind of key it is, for the message (`an age identity`, `an RSA private key`…).
    pub kind: String,
}

/// What to do about a committed private key.
pub const HINT: &str = "remove it from the repository (and its history) and rotate it: anyone with read access has it; keep keys outside git, or encrypt the file with seal encrypt";

impl KeyHit {
    /// The finding's message: what kind of key, never any of it.
    pub fn message(&self) -> String {
        let mut c = self.kind.chars();
        let kind = match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => String::new(),
        };
        format!("{kind} is committed in plaintext")
    }
}

/// Every private key in `text`, in file order.
pub fn find(text: &[u8]) -> Vec<KeyHit> {
    let mut hits = Vec::new();
    age_identities(text, &mut hits);
    pem_keys(text, 0, &mut hits);
    base64_pem_keys(text, &mut hits);
    hits.sort_by_key(|h| h.offset);
    hits.dedup_by_key(|h| h.offset);
    hits
}

/// The bech32 alphabet (upper case, as age writes identities).
fn is_bech32_upper(b: u8) -> bool {
    matches!(b, b'0' | b'2'..=b'9' | b'A' | b'C'..=b'H' | b'J'..=b'N' | b'P'..=b'Z')
}

fn age_identities(text: &[u8], hits: &mut Vec<KeyHit>) {
    for start in memmem::find_iter(text, b"AGE-") {
        let rest = &text[start..];
        let len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        let token = &rest[..len];
        let Ok(token) = std::str::from_utf8(token) else {
            continue;
        };
        let kind = if token.starts_with("AGE-SECRET-KEY-PQ-1") {
            "an age post-quantum identity"
        } else if token.starts_with("AGE-SECRET-KEY-1") {
            "an age identity"
        } else if token.starts_with("AGE-PLUGIN-") {
            "an age plugin identity"
        } else {
            continue;
        };
        // The data part after the last '1' separator must be bech32 characters with a
        // valid checksum: placeholders such as `AGE-SECRET-KEY-1...` are not keys.
        let Some(sep) = token.rfind('1') else {
            continue;
        };
        let data = &token[sep + 1..];
        if data.len() < 20 || !data.bytes().all(is_bech32_upper) {
            continue;
        }
        if bech32_valid(token) {
            hits.push(KeyHit {
                offset: start,
                kind: kind.to_string(),
            });
        }
    }
}

/// True when `s` is a bech32 (or bech32m) string with a valid checksum. Computed here
/// rather than with a bech32 crate because post-quantum age identities are longer than
/// BIP-173's 90-character limit that such crates enforce.
fn bech32_valid(s: &str) -> bool {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let lower = s.to_ascii_lowercase();
    let Some(sep) = lower.rfind('1') else {
        return false;
    };
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if hrp.is_empty() || data.len() < 6 {
        return false;
    }
    let mut values = Vec::with_capacity(hrp.len() * 2 + 1 + data.len());
    values.extend(hrp.bytes().map(|b| b >> 5));
    values.push(0);
    values.extend(hrp.bytes().map(|b| b & 31));
    for c in data.bytes() {
        match CHARSET.iter().position(|x| *x == c) {
            Some(v) => values.push(v as u8),
            None => return false,
        }
    }
    let mut chk: u32 = 1;
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk == 1 || chk == 0x2bc8_30a3
}

/// PEM blocks `-----BEGIN <X> PRIVATE KEY-----` with a real body, not passphrase-protected,
/// and armored OpenPGP `-----BEGIN PGP PRIVATE KEY BLOCK-----` blocks with a real body.
/// `base` is added to offsets (used for decoded base64 blobs, which report their own start).
fn pem_keys(text: &[u8], base: usize, hits: &mut Vec<KeyHit>) {
    for start in memmem::find_iter(text, b"-----BEGIN ") {
        let rest = &text[start + 11..];
        let Some(end_label) = memmem::find(&rest[..rest.len().min(64)], b"-----") else {
            continue;
        };
        let label = &rest[..end_label];
        let Ok(label) = std::str::from_utf8(label) else {
            continue;
        };
        let label_ok = label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
        let pgp = label == "PGP PRIVATE KEY BLOCK";
        if !label_ok || !(pgp || label.ends_with("PRIVATE KEY")) || label.contains("ENCRYPTED") {
            continue;
        }
        // The body runs to the matching END line; without one this is prose that names
        // the marker (docs, comments), not a key.
        let body_start = end_label + 5;
        let body_region = &rest[body_start..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = memmem::find(body_region, end_marker.as_bytes()) else {
            continue;
        };
        let body = &body_region[..body_end];
        // Legacy encrypted PEM carries a Proc-Type header.
        if memmem::find(body, b"Proc-Type: 4,ENCRYPTED").is_some() {
            continue;
        }
        let Some(b64) = pem_body(body) else {
            continue; // something other than base64 lines between the markers
        };
        if b64.len() < 64 {
            continue; // a placeholder such as "..." or "<your key>"
        }
        let kind = match label {
            "PGP PRIVATE KEY BLOCK" => "a PGP private key".to_string(),
            "OPENSSH PRIVATE KEY" => {
                if openssh_encrypted(&b64) {
                    continue;
                }
                "an OpenSSH private key".to_string()
            }
            "PRIVATE KEY" => "a PKCS#8 private key".to_string(),
            other => {
                let algo = other.trim_end_matches("PRIVATE KEY").trim();
                let article = if matches!(algo, "RSA" | "EC") {
                    "an"
                } else {
                    "a"
                };
                format!("{article} {algo} private key")
            }
        };
        hits.push(KeyHit {
            offset: base + start,
            kind,
        });
    }
}

/// The base64 characters of a PEM body, or `None` when a line of it is anything but
/// base64, a `Name: value` header, or (in YAML and JSON) indentation, quotes and `\n`
/// escapes.
fn pem_body(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let text = text.replace("\\n", "\n").replace("\\r", "\n");
    let mut out = Vec::with_capacity(text.len());
    for line in text.lines() {
        let line =
            line.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',');
        if line.is_empty() {
            continue;
        }
        let header = line.split_once(": ").is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if header && out.is_empty() {
            continue; // an RFC 1421 header such as DEK-Info
        }
        if !line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return None;
        }
        out.extend_from_slice(line.as_bytes());
    }
    Some(out)
}

/// True when an OpenSSH key body names a cipher other than `none` (passphrase-protected).
/// A body that does not decode is treated as unprotected (reported).
fn openssh_encrypted(b64: &[u8]) -> bool {
    let trimmed: Vec<u8> = b64.iter().copied().filter(|b| *b != b'=').collect();
    let Ok(raw) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&trimmed) else {
        return false;
    };
    let magic = b"openssh-key-v1\0";
    if !raw.starts_with(magic) {
        return false;
    }
    let rest = &raw[magic.len()..];
    let Some(len) = rest.get(..4) else {
        return false;
    };
    let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    match rest.get(4..4 + n) {
        Some(cipher) => cipher != b"none",
        None => false,
    }
}

/// PEM private keys inside base64 runs (`LS0tLS1CRUdJTi` is `-----BEGIN` encoded), as a
/// Kubernetes Secret's or ConfigMap's `data:` holds them.
fn base64_pem_keys(text: &[u8], hits: &mut Vec<KeyHit>) {
    for start in memmem::find_iter(text, b"LS0tLS1CRUdJTi") {
        let run = text[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .count();
        let Ok(decoded) = STANDARD.decode(&text[start..start + run]) else {
            // A run broken across lines or unpadded: try without the last partial quantum.
            let cut = run - run % 4;
            let Ok(decoded) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(
                text[start..start + cut]
                    .strip_suffix(b"=")
                    .unwrap_or(&text[start..start + cut]),
            ) else {
                continue;
            };
            pem_in_decoded(&decoded, start, hits);
            continue;
        };
        pem_in_decoded(&decoded, start, hits);
    }
}

fn pem_in_decoded(decoded: &[u8], at: usize, hits: &mut Vec<KeyHit>) {
    let mut inner = Vec::new();
    pem_keys(decoded, 0, &mut inner);
    if let Some(first) = inner.into_iter().next() {
        hits.push(KeyHit {
            offset: at,
            kind: format!("{} (base64-encoded)", first.kind),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real age identity (a throwaway test key, never used for anything).
    fn age_identity() -> String {
        use age::secrecy::ExposeSecret;
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_string()
    }

    #[test]
    fn finds_real_age_identities_only() {
        let id = age_identity();
        let text = format!("# created: now\n# public key: age1xyz\n{id}\n");
        let hits = find(text.as_bytes());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].offset, text.find(&id).unwrap());
        assert_eq!(hits[0].kind, "an age identity");
        // Placeholders and a corrupted checksum are not keys.
        for fake in [
            "AGE-SECRET-KEY-1...".to_string(),
            "AGE-SECRET-KEY-1XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
                .to_string(),
            {
                let mut b = id.clone().into_bytes();
                let last = b.len() - 1;
                b[last] = if b[last] == b'Q' { b'P' } else { b'Q' };
                String::from_utf8(b).unwrap()
            },
        ] {
            assert!(find(fake.as_bytes()).is_empty(), "{fake}");
        }
    }

    #[test]
    fn bech32_checksum_accepts_real_keys_and_rejects_a_changed_character() {
        let id = age_identity();
        assert!(bech32_valid(&id));
        let mut b = id.into_bytes();
        b[20] = if b[20] == b'Q' { b'P' } else { b'Q' };
        assert!(!bech32_valid(std::str::from_utf8(&b).unwrap()));
    }

    fn pem(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    const BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu";

    #[test]
    fn finds_pem_private_keys_but_not_protected_or_placeholder_ones() {
        let text = pem("RSA PRIVATE KEY", BODY);
        let hits = find(text.as_bytes());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, "an RSA private key");
        assert_eq!(
            find(pem("PRIVATE KEY", BODY).as_bytes())[0].kind,
            "a PKCS#8 private key"
        );
        assert_eq!(
            find(pem("EC PRIVATE KEY", BODY).as_bytes())[0].kind,
            "an EC private key"
        );
        assert!(find(pem("ENCRYPTED PRIVATE KEY", BODY).as_bytes()).is_empty());
        assert!(find(pem("PRIVATE KEY", "...").as_bytes()).is_empty());
        assert!(find(pem("PUBLIC KEY", BODY).as_bytes()).is_empty());
        assert!(find(pem("CERTIFICATE", BODY).as_bytes()).is_empty());
        let legacy = pem(
            "RSA PRIVATE KEY",
            &format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n{BODY}"),
        );
        assert!(find(legacy.as_bytes()).is_empty());
    }

    #[test]
    fn prose_that_names_the_markers_is_not_a_key() {
        // Docs and code that mention the markers, with base64-looking text later on.
        let later = format!("\n\nSome text.\n{BODY}\n");
        for text in [
            format!("Keys look like `-----BEGIN OPENSSH PRIVATE KEY-----` files.{later}"),
            format!("-----BEGIN <X> PRIVATE KEY-----{later}-----END <X> PRIVATE KEY-----"),
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\nnot base64: at all!\n{BODY}\n-----END RSA PRIVATE KEY-----\n"
            ),
            format!("-----BEGIN RSA PRIVATE KEY-----\n{BODY}\n"), // no END line
        ] {
            assert!(find(text.as_bytes()).is_empty(), "{text}");
        }
    }

    #[test]
    fn finds_keys_in_yaml_block_scalars_and_json_strings() {
        let yaml = format!(
            "stringData:\n  key: |\n    {}\n",
            pem("PRIVATE KEY", BODY).replace('\n', "\n    ")
        );
        assert_eq!(find(yaml.as_bytes()).len(), 1);
        let json = format!(
            "{{\"key\": \"{}\"}}",
            pem("PRIVATE KEY", BODY).replace('\n', "\\n")
        );
        assert_eq!(find(json.as_bytes()).len(), 1);
    }

    #[test]
    fn finds_base64_encoded_pem_keys() {
        let encoded = STANDARD.encode(pem("RSA PRIVATE KEY", BODY));
        let text = format!("data:\n  tls.key: {encoded}\n");
        let hits = find(text.as_bytes());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].offset, text.find("LS0t").unwrap());
        assert!(hits[0].kind.contains("base64"));
        let cert = STANDARD.encode(pem("CERTIFICATE", BODY));
        assert!(find(cert.as_bytes()).is_empty());
    }

    #[test]
    fn finds_armored_pgp_private_key_blocks() {
        // Armor headers, a blank line, the body and the CRC line, as gpg writes them.
        let block = format!(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nComment: test\n\n{BODY}\n=n6rM\n-----END PGP PRIVATE KEY BLOCK-----\n"
        );
        let hits = find(block.as_bytes());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, "a PGP private key");
        assert_eq!(
            hits[0].message(),
            "A PGP private key is committed in plaintext"
        );
        let encoded = STANDARD.encode(&block);
        assert_eq!(
            find(encoded.as_bytes())[0].kind,
            "a PGP private key (base64-encoded)"
        );
        for clean in [
            block.replace("PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK"),
            block.replace(BODY, "..."),
            block.replace("-----END PGP PRIVATE KEY BLOCK-----", ""),
        ] {
            assert!(find(clean.as_bytes()).is_empty(), "{clean}");
        }
    }

    fn openssh_body(cipher: &str) -> String {
        let mut raw = b"openssh-key-v1\0".to_vec();
        raw.extend((cipher.len() as u32).to_be_bytes());
        raw.extend(cipher.as_bytes());
        raw.extend([0u8; 64]);
        STANDARD.encode(raw)
    }

    #[test]
    fn openssh_keys_are_reported_unless_passphrase_protected() {
        let plain = pem("OPENSSH PRIVATE KEY", &openssh_body("none"));
        assert_eq!(find(plain.as_bytes())[0].kind, "an OpenSSH private key");
        let protected = pem("OPENSSH PRIVATE KEY", &openssh_body("aes256-ctr"));
        assert!(find(protected.as_bytes()).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = find(&bytes);
        }

        #[test]
        fn never_panics_around_markers(prefix in "[ -~]{0,20}", tail in "[A-Za-z0-9+/=\\n -]{0,200}") {
            for marker in ["-----BEGIN PRIVATE KEY-----", "AGE-SECRET-KEY-1", "LS0tLS1CRUdJTi", "AGE-PLUGIN-X-1"] {
                let s = format!("{prefix}{marker}{tail}");
                let _ = find(s.as_bytes());
            }
        }
    }
}
