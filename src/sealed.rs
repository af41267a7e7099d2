//! The sealed-secrets hybrid format (what Bitnami's sealed-secrets controller opens): a fresh
//! 32-byte session key wrapped with RSA-OAEP (SHA-256 for the hash and MGF1) under the
//! scope's label, the value sealed with AES-256-GCM under that key with a 12-byte all-zero
//! nonce (each key seals one value) and no additional data; the bytes are the wrapped key's
//! length (2 bytes, big-endian), the wrapped key, the GCM ciphertext. Also the controller's
//! certificate (public key and validity, read with `der`) and its private keys (PKCS#1 or
//! PKCS#8 PEM). Pure: no I/O, the random source and the clock are passed in.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::der::asn1::{AnyRef, GeneralizedTime, UtcTime};
use rsa::pkcs8::der::{Decode, Encode, Reader, SliceReader, Tag};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::rand_core::CryptoRngCore;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The session key's length: AES-256.
const SESSION_KEY_BYTES: usize = 32;

/// How far a sealed value may travel: kubeseal's `--scope`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Only a Secret of this name in this namespace (the default).
    #[default]
    Strict,
    /// Any name in this namespace.
    NamespaceWide,
    /// Any name in any namespace.
    ClusterWide,
}

/// The annotation that marks a namespace-wide SealedSecret.
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// The annotation that marks a cluster-wide SealedSecret.
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";

impl Scope {
    /// Parse kubeseal's spelling (`strict`, `namespace-wide`, `cluster-wide`).
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "strict" => Some(Scope::Strict),
            "namespace-wide" => Some(Scope::NamespaceWide),
            "cluster-wide" => Some(Scope::ClusterWide),
            _ => None,
        }
    }

    /// kubeseal's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    /// The scope the annotations say, as the controller reads them (cluster-wide first).
    pub fn from_annotation(get: impl Fn(&str) -> Option<String>) -> Scope {
        if get(CLUSTER_WIDE_ANNOTATION).as_deref() == Some("true") {
            Scope::ClusterWide
        } else if get(NAMESPACE_WIDE_ANNOTATION).as_deref() == Some("true") {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// The annotation this scope sets to `"true"` (none for strict).
    pub fn annotation(self) -> Option<&'static str> {
        match self {
            Scope::Strict => None,
            Scope::NamespaceWide => Some(NAMESPACE_WIDE_ANNOTATION),
            Scope::ClusterWide => Some(CLUSTER_WIDE_ANNOTATION),
        }
    }

    /// The RSA-OAEP label: `namespace/name`, `namespace`, or empty.
    pub fn label(self, namespace: &str, name: &str) -> String {
        match self {
            Scope::Strict => format!("{namespace}/{name}"),
            Scope::NamespaceWide => namespace.to_string(),
            Scope::ClusterWide => String::new(),
        }
    }
}

/// Why sealing or unsealing failed. Never carries a secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    /// The RSA operation failed (key too small for OAEP, or a broken key).
    #[error("RSA-OAEP failed: {0}")]
    Rsa(String),
    /// The sealed bytes are shorter than their own length prefix says.
    #[error("the sealed value is too short to be a SealedSecret value")]
    TooShort,
    /// No key opened the value: wrong key, wrong scope (name or namespace), or tampering.
    #[error(
        "no private key could unseal the value (wrong key, or a scope, name or namespace other than the one it was sealed for)"
    )]
    NoKey,
    /// The certificate could not be read.
    #[error("{0}")]
    Certificate(String),
    /// The private key could not be read.
    #[error("{0}")]
    PrivateKey(String),
}

/// Seal `plaintext` for `key` under `label`: the controller's hybrid format (raw bytes, not
/// base64).
pub fn hybrid_encrypt(
    rng: &mut impl CryptoRngCore,
    key: &RsaPublicKey,
    plaintext: &[u8],
    label: &str,
) -> Result<Vec<u8>, SealedError> {
    let mut session = Zeroizing::new([0u8; SESSION_KEY_BYTES]);
    rng.fill_bytes(session.as_mut());
    let wrapped = key
        .encrypt(
            rng,
            Oaep::new_with_label::<Sha256, _>(label),
            session.as_ref(),
        )
        .map_err(|e| SealedError::Rsa(e.to_string()))?;
    let len = u16::try_from(wrapped.len())
        .map_err(|_| SealedError::Rsa("the RSA key is too large".into()))?;
    let cipher = Aes256Gcm::new_from_slice(session.as_ref())
        .map_err(|_| SealedError::Rsa("bad session key length".into()))?;
    let sealed = cipher
        .encrypt(Nonce::from_slice(&[0u8; 12]), plaintext)
        .map_err(|_| SealedError::Rsa("AES-GCM failed".into()))?;
    let mut out = Vec::with_capacity(2 + wrapped.len() + sealed.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Open a value sealed by [`hybrid_encrypt`] (or kubeseal) with the first of `keys` that
/// can, under `label`.
pub fn hybrid_decrypt(
    rng: &mut impl CryptoRngCore,
    keys: &[RsaPrivateKey],
    sealed: &[u8],
    label: &str,
) -> Result<Zeroizing<Vec<u8>>, SealedError> {
    let (len, rest) = sealed.split_at_checked(2).ok_or(SealedError::TooShort)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let (wrapped, body) = rest.split_at_checked(len).ok_or(SealedError::TooShort)?;
    for key in keys {
        let Ok(session) =
            key.decrypt_blinded(rng, Oaep::new_with_label::<Sha256, _>(label), wrapped)
        else {
            continue;
        };
        let session = Zeroizing::new(session);
        let Ok(cipher) = Aes256Gcm::new_from_slice(&session) else {
            continue;
        };
        if let Ok(plain) = cipher.decrypt(Nonce::from_slice(&[0u8; 12]), body) {
            return Ok(Zeroizing::new(plain));
        }
    }
    Err(SealedError::NoKey)
}

/// What seal needs from the controller's certificate.
#[derive(Clone, Debug)]
pub struct Certificate {
    /// The RSA public key.
    pub key: RsaPublicKey,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: u64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: u64,
}

impl Certificate {
    /// Why the certificate is not valid at `now` (Unix seconds), if it is not.
    pub fn validity_problem(&self, now: u64) -> Option<String> {
        if now < self.not_before {
            Some(format!(
                "the certificate is not valid yet (notBefore {})",
                format_unix(self.not_before)
            ))
        } else if now > self.not_after {
            Some(format!(
                "the certificate has expired (notAfter {})",
                format_unix(self.not_after)
            ))
        } else {
            None
        }
    }
}

fn format_unix(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// Whether a manifest's text holds a Bitnami SealedSecret (`kind: SealedSecret` and a
/// `bitnami.com/` apiVersion): a cheap test for counting them, not a parse.
pub fn mentions_sealed_secret(text: &[u8]) -> bool {
    memchr::memmem::find(text, b"SealedSecret").is_some()
        && memchr::memmem::find(text, b"bitnami.com/").is_some()
}

/// When the certificate expires, for people: `notAfter` as RFC 3339, and the whole days
/// left at `now` (negative once it has expired).
pub fn expiry(cert: &Certificate, now: u64) -> (String, i64) {
    let left =
        i64::try_from(cert.not_after).unwrap_or(i64::MAX) - i64::try_from(now).unwrap_or(i64::MAX);
    (format_unix(cert.not_after), left.div_euclid(86_400))
}

/// Read the first `CERTIFICATE` block of a PEM file (or a DER certificate).
pub fn parse_certificate(input: &[u8]) -> Result<Certificate, SealedError> {
    let bad = |what: &str| SealedError::Certificate(format!("not an X.509 certificate: {what}"));
    let der = if let Some(start) = find(input, b"-----BEGIN CERTIFICATE-----") {
        let (_, der) = rsa::pkcs8::der::pem::decode_vec(&input[start..])
            .map_err(|e| bad(&format!("bad PEM ({e})")))?;
        der
    } else if input.first() == Some(&0x30) {
        input.to_vec()
    } else {
        return Err(SealedError::Certificate(
            "no `-----BEGIN CERTIFICATE-----` block found (kubeseal --fetch-cert writes one)"
                .into(),
        ));
    };
    let der_err = |e: rsa::pkcs8::der::Error| bad(&e.to_string());
    let cert = AnyRef::from_der(&der).map_err(der_err)?;
    let mut outer = SliceReader::new(cert.value()).map_err(der_err)?;
    let tbs: AnyRef = outer.decode().map_err(der_err)?;
    let mut t = SliceReader::new(tbs.value()).map_err(der_err)?;
    let first: AnyRef = t.decode().map_err(der_err)?;
    if rsa::pkcs8::der::Tagged::tag(&first).is_context_specific() {
        let _serial: AnyRef = t.decode().map_err(der_err)?;
    }
    let _signature: AnyRef = t.decode().map_err(der_err)?;
    let _issuer: AnyRef = t.decode().map_err(der_err)?;
    let validity: AnyRef = t.decode().map_err(der_err)?;
    let _subject: AnyRef = t.decode().map_err(der_err)?;
    let spki: AnyRef = t.decode().map_err(der_err)?;
    let mut v = SliceReader::new(validity.value()).map_err(der_err)?;
    let not_before = read_time(&mut v).map_err(der_err)?;
    let not_after = read_time(&mut v).map_err(der_err)?;
    let spki_der = spki.to_der().map_err(der_err)?;
    let key = RsaPublicKey::from_public_key_der(&spki_der).map_err(|e| {
        SealedError::Certificate(format!(
            "the certificate's public key is not an RSA key ({e}); sealed-secrets uses RSA"
        ))
    })?;
    Ok(Certificate {
        key,
        not_before,
        not_after,
    })
}

fn read_time(r: &mut SliceReader<'_>) -> Result<u64, rsa::pkcs8::der::Error> {
    let d = if r.peek_tag()? == Tag::UtcTime {
        r.decode::<UtcTime>()?.to_unix_duration()
    } else {
        r.decode::<GeneralizedTime>()?.to_unix_duration()
    };
    Ok(d.as_secs())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every RSA private key in PEM text (`RSA PRIVATE KEY` or `PRIVATE KEY` blocks).
pub fn parse_private_keys_pem(input: &[u8]) -> Result<Vec<RsaPrivateKey>, SealedError> {
    let text = std::str::from_utf8(input)
        .map_err(|_| SealedError::PrivateKey("the private key file is not PEM text".into()))?;
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(end_marker) = block.find("-----END ") else {
            break;
        };
        let end = block[end_marker..]
            .find('\n')
            .map_or(block.len(), |n| end_marker + n + 1);
        let pem = Zeroizing::new(block[..end].trim().to_string());
        if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            keys.push(RsaPrivateKey::from_pkcs1_pem(&pem).map_err(|e| {
                SealedError::PrivateKey(format!("a PKCS#1 RSA private key is malformed ({e})"))
            })?);
        } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            keys.push(RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
                SealedError::PrivateKey(format!(
                    "a PKCS#8 private key is malformed or not RSA ({e})"
                ))
            })?);
        }
        rest = &block[end..];
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::OsRng;
    use std::sync::OnceLock;

    fn key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).expect("keygen"))
    }

    #[test]
    fn labels_per_scope() {
        assert_eq!(Scope::Strict.label("ns", "app"), "ns/app");
        assert_eq!(Scope::NamespaceWide.label("ns", "app"), "ns");
        assert_eq!(Scope::ClusterWide.label("ns", "app"), "");
        for s in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("global"), None);
    }

    #[test]
    fn layout_is_length_key_ciphertext() {
        let k = key();
        let out = hybrid_encrypt(&mut OsRng, &k.to_public_key(), b"hunter2", "ns/app").unwrap();
        let len = usize::from(u16::from_be_bytes([out[0], out[1]]));
        assert_eq!(len, 256, "a 2048-bit key wraps to 256 bytes");
        // GCM: ciphertext as long as the plaintext plus a 16-byte tag.
        assert_eq!(out.len(), 2 + 256 + 7 + 16);
        // The session key is fresh each time.
        let again = hybrid_encrypt(&mut OsRng, &k.to_public_key(), b"hunter2", "ns/app").unwrap();
        assert_ne!(out, again);
    }

    #[test]
    fn wrong_label_or_key_or_truncation_fails() {
        let k = key();
        let out = hybrid_encrypt(&mut OsRng, &k.to_public_key(), b"v", "ns/app").unwrap();
        let keys = std::slice::from_ref(k);
        assert_eq!(
            hybrid_decrypt(&mut OsRng, keys, &out, "ns/other").unwrap_err(),
            SealedError::NoKey
        );
        assert_eq!(
            hybrid_decrypt(&mut OsRng, keys, &out[..100], "ns/app").unwrap_err(),
            SealedError::TooShort
        );
        assert_eq!(
            hybrid_decrypt(&mut OsRng, keys, &[1], "ns/app").unwrap_err(),
            SealedError::TooShort
        );
        let mut tampered = out.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            hybrid_decrypt(&mut OsRng, keys, &tampered, "ns/app").unwrap_err(),
            SealedError::NoKey
        );
        assert_eq!(
            hybrid_decrypt(&mut OsRng, &[], &out, "ns/app").unwrap_err(),
            SealedError::NoKey
        );
    }

    #[test]
    fn not_a_certificate() {
        assert!(parse_certificate(b"hello").is_err());
        assert!(
            parse_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
        assert!(parse_private_keys_pem(b"nothing").unwrap().is_empty());
    }

    #[test]
    fn validity_window() {
        let c = Certificate {
            key: key().to_public_key(),
            not_before: 100,
            not_after: 200,
        };
        assert!(c.validity_problem(150).is_none());
        assert!(c.validity_problem(50).unwrap().contains("not valid yet"));
        assert!(c.validity_problem(250).unwrap().contains("expired"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn round_trip(plain in proptest::collection::vec(any::<u8>(), 0..300),
                      ns in "[a-z0-9-]{0,12}", name in "[a-z0-9.-]{0,12}",
                      scope in 0..3u8) {
            let scope = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide][usize::from(scope)];
            let label = scope.label(&ns, &name);
            let k = key();
            let out = hybrid_encrypt(&mut OsRng, &k.to_public_key(), &plain, &label).unwrap();
            let back = hybrid_decrypt(&mut OsRng, std::slice::from_ref(k), &out, &label).unwrap();
            prop_assert_eq!(&back[..], &plain[..]);
        }
    }
}
