//! Post-quantum age keys (age 1.3, sops 3.12): `age1pq1…` recipients, `AGE-SECRET-KEY-PQ-1…`
//! identities and the `mlkem768x25519` recipient stanza of the age specification
//! (c2sp.org/age, "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type").
//!
//! The file key is sealed with HPKE base mode (RFC 9180) using the MLKEM768-X25519 hybrid
//! KEM of draft-ietf-hpke-pq (the X-Wing construction: ML-KEM-768 and X25519 shared secrets
//! combined with SHA3-256), HKDF-SHA256 and ChaCha20-Poly1305, `info =
//! "age-encryption.org/mlkem768x25519"`. The KEM is written here on RustCrypto's `ml-kem`,
//! `x25519-dalek` and `sha3`; the HPKE key schedule and AEAD are the `hpke` crate's, reached
//! through `age_core::primitives::{hpke_seal, hpke_open}` as the `age` crate does for its
//! own hybrid types. Pure: no I/O, no environment; randomness only from the OS RNG when a
//! key is generated or a file key wrapped.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::primitives::{bech32_decode, bech32_encode};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD_NO_PAD;
use zeroize::{Zeroize, Zeroizing};

/// Every `age1pq1…` recipient starts with this.
pub const RECIPIENT_PREFIX: &str = "age1pq1";
/// Every post-quantum identity starts with this.
pub const IDENTITY_PREFIX: &str = "AGE-SECRET-KEY-PQ-1";

const RECIPIENT_HRP: bech32::Hrp = bech32::Hrp::parse_unchecked("age1pq");
const IDENTITY_HRP: bech32::Hrp = bech32::Hrp::parse_unchecked("AGE-SECRET-KEY-PQ-");

/// The stanza's first argument.
pub const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE `info` (the spec's label for this recipient type).
const HPKE_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The label every file wrapped for a post-quantum recipient carries, so that the `age`
/// crate refuses to mix it with classical recipients in one age file (as age 1.3 does).
const PQ_LABEL: &str = "postquantum";

/// A file key sealed with ChaCha20-Poly1305: 16 bytes and a 16-byte tag.
const WRAPPED_KEY_BYTES: usize = FILE_KEY_BYTES + 16;

/// An `age1pq1…` recipient: an MLKEM768-X25519 public key (ML-KEM-768 encapsulation key
/// followed by an X25519 point, 1,216 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient(Box<kem::PublicKey>);

/// Why a recipient or identity string is not a valid post-quantum age key. The messages
/// never contain key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not Bech32, or the checksum does not match (a typo or a truncated copy).
    #[error("not valid Bech32 (bad character, mixed case or checksum)")]
    Bech32,
    /// Bech32, but for another key type.
    #[error("the prefix is not {0}")]
    Prefix(&'static str),
    /// The data part has the wrong length.
    #[error("it holds {got} bytes where an MLKEM768-X25519 {what} has {want}")]
    Length {
        /// "public key" or "secret key".
        what: &'static str,
        /// Decoded length.
        got: usize,
        /// Required length.
        want: usize,
    },
    /// The ML-KEM-768 part fails the FIPS 203 encapsulation key check.
    #[error("its ML-KEM-768 part is not a valid encapsulation key (a coefficient is not reduced)")]
    MlKemKey,
    /// The X25519 part is a low-order point: no shared secret could be agreed.
    #[error("its X25519 part is a low-order point")]
    LowOrder,
}

impl FromStr for Recipient {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bytes = decode(s, RECIPIENT_HRP, "age1pq1…")?;
        kem::PublicKey::parse(&bytes).map(|pk| Recipient(Box::new(pk)))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32_encode(RECIPIENT_HRP, self.0.as_bytes()))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl age::Recipient for Recipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let (enc, body) = kem::seal(&self.0, file_key.expose_secret())
            .map_err(|e| age::EncryptError::Io(std::io::Error::other(e)))?;
        let stanza = Stanza {
            tag: STANZA_TAG.to_string(),
            args: vec![BASE64_STANDARD_NO_PAD.encode(enc)],
            body,
        };
        Ok((vec![stanza], [PQ_LABEL.to_string()].into_iter().collect()))
    }
}

/// An `AGE-SECRET-KEY-PQ-1…` identity: a 32-byte seed from which the ML-KEM-768 and X25519
/// secret keys are expanded (SHAKE256, as X-Wing does). The X25519 key and the seed are
/// zeroed on drop; ml-kem 0.2 offers no zeroizing for its decapsulation key.
#[derive(Clone)]
pub struct Identity(Box<kem::PrivateKey>);

impl FromStr for Identity {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bytes = Zeroizing::new(decode(s, IDENTITY_HRP, IDENTITY_PREFIX)?);
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.as_slice().try_into().map_err(
            |_| ParseError::Length {
                what: "secret key",
                got: bytes.len(),
                want: 32,
            },
        )?);
        Ok(Identity(Box::new(kem::PrivateKey::from_seed(&seed))))
    }
}

impl Identity {
    /// A new identity from the OS random number generator.
    pub fn generate() -> Identity {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
        Identity(Box::new(kem::PrivateKey::from_seed(&seed)))
    }

    /// The Bech32 encoding, upper case as age writes it.
    pub fn to_string(&self) -> SecretString {
        let mut lower = bech32_encode(IDENTITY_HRP, self.0.seed());
        let upper = lower.to_uppercase();
        lower.zeroize();
        SecretString::from(upper)
    }

    /// The matching `age1pq1…` recipient.
    pub fn to_public(&self) -> Recipient {
        Recipient(Box::new(self.0.public().clone()))
    }
}

impl age::Identity for Identity {
    /// Ignores stanzas of other types; rejects a malformed `mlkem768x25519` stanza (not
    /// exactly one canonical base64 argument of 1,120 bytes, a body other than 32 bytes,
    /// an all-zero X25519 shared secret) as a broken header; a stanza for another key
    /// (the AEAD does not open) is "not mine".
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let invalid = || Some(Err(age::DecryptError::InvalidHeader));
        let [arg] = stanza.args.as_slice() else {
            return invalid();
        };
        let Ok(enc) = BASE64_STANDARD_NO_PAD.decode(arg) else {
            return invalid();
        };
        if enc.len() != kem::ENC_BYTES || stanza.body.len() != WRAPPED_KEY_BYTES {
            return invalid();
        }
        match kem::open(&self.0, &enc, &stanza.body) {
            Err(kem::OpenError::Malformed) => invalid(),
            Err(kem::OpenError::NotOurs) => None,
            Ok(mut plain) => {
                if plain.len() != FILE_KEY_BYTES {
                    plain.zeroize();
                    return invalid();
                }
                let key = FileKey::init_with_mut(|k| k.copy_from_slice(&plain));
                plain.zeroize();
                Some(Ok(key))
            }
        }
    }
}

/// Whether `s` looks like a post-quantum age recipient (to route it here before parsing).
pub fn is_recipient(s: &str) -> bool {
    s.starts_with(RECIPIENT_PREFIX)
}

/// Whether a trimmed identity-file line holds a post-quantum identity.
pub fn is_identity(line: &str) -> bool {
    line.starts_with(IDENTITY_PREFIX)
}

/// Bech32 (without BIP-173's length limit, as age specifies) with a fixed HRP.
fn decode(s: &str, hrp: bech32::Hrp, shape: &'static str) -> Result<Vec<u8>, ParseError> {
    bech32_decode(
        s,
        |_| ParseError::Bech32,
        |got| (got == hrp).then_some(()).ok_or(ParseError::Prefix(shape)),
        |_, bytes| Ok(bytes.collect::<Vec<u8>>()),
    )
}

/// The MLKEM768-X25519 hybrid KEM as an `hpke::Kem`, and the age stanza's seal and open.
mod kem {
    use hpke::generic_array::typenum::{Sum, U32, U1024};
    use hpke::kem::SharedSecret;
    use hpke::{Deserializable, HpkeError, Serializable};
    use ml_kem::kem::{Decapsulate, Encapsulate};
    use ml_kem::{Ciphertext, EncodedSizeUser, KemCore, MlKem768};
    use rand::{CryptoRng, RngCore};
    use sha3::digest::{ExtendableOutput, Update, XofReader};
    use sha3::{Digest, Sha3_256, Shake256};
    use zeroize::{Zeroize, Zeroizing};

    use super::ParseError;

    type EncapsulationKey = <MlKem768 as KemCore>::EncapsulationKey;
    type DecapsulationKey = <MlKem768 as KemCore>::DecapsulationKey;

    /// ML-KEM-768 encapsulation key bytes.
    const MLKEM_EK_BYTES: usize = 1184;
    /// ML-KEM-768 ciphertext bytes.
    const MLKEM_CT_BYTES: usize = 1088;
    /// Public key: ML-KEM-768 encapsulation key || X25519 point.
    pub const PK_BYTES: usize = MLKEM_EK_BYTES + 32;
    /// Encapsulated key `enc`: ML-KEM-768 ciphertext || X25519 ephemeral point.
    pub const ENC_BYTES: usize = MLKEM_CT_BYTES + 32;
    /// The X-Wing combiner's label, `\.//^\`.
    const LABEL: &[u8] = b"\\.//^\\";
    /// HPKE KEM identifier of MLKEM768-X25519.
    const KEM_ID: u16 = 0x647a;

    /// The public key: the parsed ML-KEM part, the X25519 point, and the encoding.
    #[derive(Clone)]
    pub struct PublicKey {
        ek_m: EncapsulationKey,
        pk_x: x25519_dalek::PublicKey,
        bytes: Box<[u8; PK_BYTES]>,
    }

    impl PartialEq for PublicKey {
        fn eq(&self, other: &Self) -> bool {
            self.bytes == other.bytes
        }
    }
    impl Eq for PublicKey {}

    impl std::fmt::Debug for PublicKey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("MLKEM768-X25519 public key")
        }
    }

    impl PublicKey {
        /// Parse 1,216 bytes, checking what age's reference implementation checks when it
        /// loads a recipient (the FIPS 203 modulus check) and refusing a low-order X25519
        /// point, with which encryption could only fail.
        pub fn parse(bytes: &[u8]) -> Result<PublicKey, ParseError> {
            let bytes: [u8; PK_BYTES] = bytes.try_into().map_err(|_| ParseError::Length {
                what: "public key",
                got: bytes.len(),
                want: PK_BYTES,
            })?;
            let (m, x) = bytes.split_at(MLKEM_EK_BYTES);
            if !mlkem_ek_reduced(m) {
                return Err(ParseError::MlKemKey);
            }
            let ek_m = EncapsulationKey::from_bytes(m.try_into().expect("length checked"));
            let x: [u8; 32] = x.try_into().expect("length checked");
            let pk_x = x25519_dalek::PublicKey::from(x);
            // A clamped scalar is a multiple of the cofactor: the product is zero exactly
            // when the point is of low order.
            let probe = x25519_dalek::StaticSecret::from([0x42; 32]);
            if !probe.diffie_hellman(&pk_x).was_contributory() {
                return Err(ParseError::LowOrder);
            }
            Ok(PublicKey {
                ek_m,
                pk_x,
                bytes: Box::new(bytes),
            })
        }

        pub fn as_bytes(&self) -> &[u8] {
            &self.bytes[..]
        }
    }

    /// FIPS 203 §7.2 encapsulation key check: every 12-bit coefficient of the encoded
    /// vector (the key without its 32-byte seed ρ) is below q = 3329.
    fn mlkem_ek_reduced(ek: &[u8]) -> bool {
        let t = &ek[..MLKEM_EK_BYTES - 32];
        t.chunks_exact(3).all(|c| {
            let a = u16::from(c[0]) | (u16::from(c[1] & 0x0f) << 8);
            let b = u16::from(c[1] >> 4) | (u16::from(c[2]) << 4);
            a < 3329 && b < 3329
        })
    }

    impl Serializable for PublicKey {
        type OutputSize = Sum<U1024, Sum<U32, Sum<U32, Sum<U32, Sum<U32, Sum<U32, U32>>>>>>;
        fn write_exact(&self, buf: &mut [u8]) {
            buf.copy_from_slice(self.as_bytes());
        }
    }

    impl Deserializable for PublicKey {
        fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
            PublicKey::parse(encoded).map_err(|_| HpkeError::ValidationError)
        }
    }

    /// The private key: the 32-byte seed and what it expands to.
    #[derive(Clone)]
    pub struct PrivateKey {
        seed: Zeroizing<[u8; 32]>,
        dk_m: DecapsulationKey,
        sk_x: x25519_dalek::StaticSecret,
        public: PublicKey,
    }

    impl PartialEq for PrivateKey {
        fn eq(&self, other: &Self) -> bool {
            self.seed == other.seed
        }
    }
    impl Eq for PrivateKey {}

    impl PrivateKey {
        /// Expand a seed: SHAKE256(seed) gives 96 bytes, d || z for ML-KEM-768's
        /// KeyGen_internal and the X25519 secret key.
        pub fn from_seed(seed: &[u8; 32]) -> PrivateKey {
            let mut expanded = Zeroizing::new([0u8; 96]);
            let mut xof = Shake256::default();
            xof.update(seed);
            xof.finalize_xof().read(expanded.as_mut());
            // Every copy of the seed's expansion is cleared here; the decapsulation key
            // and the X25519 secret clear themselves on drop (ml-kem's and x25519-dalek's
            // `zeroize` features).
            let mut d: ml_kem::B32 = <[u8; 32]>::try_from(&expanded[0..32])
                .expect("32 bytes")
                .into();
            let mut z: ml_kem::B32 = <[u8; 32]>::try_from(&expanded[32..64])
                .expect("32 bytes")
                .into();
            let mut x: [u8; 32] = expanded[64..96].try_into().expect("32 bytes");
            let (dk_m, ek_m) = MlKem768::generate_deterministic(&d, &z);
            d.as_mut_slice().zeroize();
            z.as_mut_slice().zeroize();
            let sk_x = x25519_dalek::StaticSecret::from(x);
            x.zeroize();
            let pk_x = x25519_dalek::PublicKey::from(&sk_x);
            let mut bytes = Box::new([0u8; PK_BYTES]);
            bytes[..MLKEM_EK_BYTES].copy_from_slice(&ek_m.as_bytes());
            bytes[MLKEM_EK_BYTES..].copy_from_slice(pk_x.as_bytes());
            PrivateKey {
                seed: Zeroizing::new(*seed),
                dk_m,
                sk_x,
                public: PublicKey { ek_m, pk_x, bytes },
            }
        }

        pub fn seed(&self) -> &[u8; 32] {
            &self.seed
        }

        pub fn public(&self) -> &PublicKey {
            &self.public
        }
    }

    impl Serializable for PrivateKey {
        type OutputSize = U32;
        fn write_exact(&self, buf: &mut [u8]) {
            buf.copy_from_slice(&self.seed[..]);
        }
    }

    impl Deserializable for PrivateKey {
        fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
            let seed: [u8; 32] = encoded
                .try_into()
                .map_err(|_| HpkeError::IncorrectInputLength(32, encoded.len()))?;
            let key = PrivateKey::from_seed(&seed);
            let mut seed = seed;
            seed.zeroize();
            Ok(key)
        }
    }

    /// `enc`: the ML-KEM-768 ciphertext and the X25519 ephemeral point.
    #[derive(Clone)]
    pub struct EncappedKey {
        ct_m: Ciphertext<MlKem768>,
        ct_x: [u8; 32],
    }

    impl Serializable for EncappedKey {
        type OutputSize = Sum<U1024, Sum<U32, Sum<U32, U32>>>;
        fn write_exact(&self, buf: &mut [u8]) {
            buf[..MLKEM_CT_BYTES].copy_from_slice(&self.ct_m);
            buf[MLKEM_CT_BYTES..].copy_from_slice(&self.ct_x);
        }
    }

    impl Deserializable for EncappedKey {
        fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
            if encoded.len() != ENC_BYTES {
                return Err(HpkeError::IncorrectInputLength(ENC_BYTES, encoded.len()));
            }
            let (m, x) = encoded.split_at(MLKEM_CT_BYTES);
            let ct_m =
                Ciphertext::<MlKem768>::try_from(m).map_err(|_| HpkeError::ValidationError)?;
            Ok(EncappedKey {
                ct_m,
                ct_x: x.try_into().expect("length checked"),
            })
        }
    }

    /// SHA3-256(ss_M || ss_X || ct_X || pk_X || label).
    fn combine(ss_m: &[u8], ss_x: &[u8], ct_x: &[u8], pk_x: &[u8]) -> [u8; 32] {
        let mut h = Sha3_256::new();
        Digest::update(&mut h, ss_m);
        Digest::update(&mut h, ss_x);
        Digest::update(&mut h, ct_x);
        Digest::update(&mut h, pk_x);
        Digest::update(&mut h, LABEL);
        h.finalize().into()
    }

    /// The KEM, for the `hpke` crate's key schedule.
    pub struct MlKem768X25519;

    impl hpke::Kem for MlKem768X25519 {
        type PublicKey = PublicKey;
        type PrivateKey = PrivateKey;
        type EncappedKey = EncappedKey;
        type NSecret = U32;
        const KEM_ID: u16 = KEM_ID;

        fn sk_to_pk(sk: &PrivateKey) -> PublicKey {
            sk.public.clone()
        }

        /// DeriveKeyPair of draft-ietf-hpke-pq: the seed is a SHAKE256 labeled derivation
        /// of `ikm`. age never derives keys this way (identities are seeds), so this is
        /// here only because the trait asks for it.
        fn derive_keypair(ikm: &[u8]) -> (PrivateKey, PublicKey) {
            let mut seed = Zeroizing::new([0u8; 32]);
            let mut xof = Shake256::default();
            xof.update(ikm);
            xof.update(b"HPKE-v1");
            xof.update(b"KEM");
            xof.update(&KEM_ID.to_be_bytes());
            let label = b"DeriveKeyPair";
            xof.update(&(label.len() as u16).to_be_bytes());
            xof.update(label);
            xof.update(&32u16.to_be_bytes());
            xof.finalize_xof().read(seed.as_mut());
            let sk = PrivateKey::from_seed(&seed);
            let pk = sk.public.clone();
            (sk, pk)
        }

        fn decap(
            sk: &PrivateKey,
            pk_sender_id: Option<&PublicKey>,
            enc: &EncappedKey,
        ) -> Result<SharedSecret<Self>, HpkeError> {
            if pk_sender_id.is_some() {
                return Err(HpkeError::DecapError); // age uses base mode only
            }
            let mut ss_m = sk
                .dk_m
                .decapsulate(&enc.ct_m)
                .map_err(|()| HpkeError::DecapError)?;
            let ss_x = sk
                .sk_x
                .diffie_hellman(&x25519_dalek::PublicKey::from(enc.ct_x));
            if !ss_x.was_contributory() {
                ss_m.as_mut_slice().zeroize();
                return Err(HpkeError::DecapError);
            }
            let mut ss = combine(&ss_m, ss_x.as_bytes(), &enc.ct_x, sk.public.pk_x.as_bytes());
            ss_m.as_mut_slice().zeroize();
            let out = SharedSecret(ss.into());
            ss.zeroize();
            Ok(out)
        }

        fn encap<R: CryptoRng + RngCore>(
            pk: &PublicKey,
            sender_id_keypair: Option<(&PrivateKey, &PublicKey)>,
            csprng: &mut R,
        ) -> Result<(SharedSecret<Self>, EncappedKey), HpkeError> {
            if sender_id_keypair.is_some() {
                return Err(HpkeError::EncapError);
            }
            let (ct_m, mut ss_m) = pk
                .ek_m
                .encapsulate(csprng)
                .map_err(|()| HpkeError::EncapError)?;
            let mut ek_bytes = [0u8; 32];
            csprng.fill_bytes(&mut ek_bytes);
            let ek_x = x25519_dalek::StaticSecret::from(ek_bytes);
            ek_bytes.zeroize();
            let ct_x = x25519_dalek::PublicKey::from(&ek_x);
            let ss_x = ek_x.diffie_hellman(&pk.pk_x);
            if !ss_x.was_contributory() {
                ss_m.as_mut_slice().zeroize();
                return Err(HpkeError::EncapError);
            }
            let mut ss = combine(&ss_m, ss_x.as_bytes(), ct_x.as_bytes(), pk.pk_x.as_bytes());
            ss_m.as_mut_slice().zeroize();
            let shared = SharedSecret(ss.into());
            ss.zeroize();
            Ok((
                shared,
                EncappedKey {
                    ct_m,
                    ct_x: ct_x.to_bytes(),
                },
            ))
        }
    }

    /// Why a stanza did not open.
    pub enum OpenError {
        /// The stanza is broken (a header error): the X25519 share gives an all-zero
        /// secret, or `enc` cannot be read.
        Malformed,
        /// The AEAD does not open: the stanza is for another key (ML-KEM's implicit
        /// rejection makes a wrong key look like this too).
        NotOurs,
    }

    /// HPKE SealBase of the file key: `(enc, ciphertext)`.
    pub fn seal(pk: &PublicKey, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        let (enc, ct) = hpke::single_shot_seal::<
            hpke::aead::ChaCha20Poly1305,
            hpke::kdf::HkdfSha256,
            MlKem768X25519,
            _,
        >(
            &hpke::OpModeS::Base,
            pk,
            super::HPKE_INFO,
            plaintext,
            &[],
            &mut rand::rngs::OsRng,
        )
        .map_err(|e| format!("HPKE seal failed: {e}"))?;
        Ok((enc.to_bytes().to_vec(), ct))
    }

    /// HPKE OpenBase of a stanza body (lengths already checked by the caller).
    pub fn open(sk: &PrivateKey, enc: &[u8], body: &[u8]) -> Result<Vec<u8>, OpenError> {
        let enc = EncappedKey::from_bytes(enc).map_err(|_| OpenError::Malformed)?;
        // Decapsulation errors only on an all-zero X25519 secret: check it first so that
        // the AEAD failure below means "not for this identity".
        let ss_x = sk
            .sk_x
            .diffie_hellman(&x25519_dalek::PublicKey::from(enc.ct_x));
        if !ss_x.was_contributory() {
            return Err(OpenError::Malformed);
        }
        age_core::primitives::hpke_open::<MlKem768X25519>(&enc, sk, super::HPKE_INFO, body)
            .map_err(|_| OpenError::NotOurs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::Identity as _;
    use age::Recipient as _;
    use sha2::Digest;
    use std::io::Read;

    /// The committed vectors (tests/age-pq-vectors/README.md says where they come from).
    fn vector(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/age-pq-vectors")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The first `-> mlkem768x25519`-like stanza (any case) of an age header, parsed the
    /// way the header grammar says (body lines until one shorter than 64 columns).
    fn first_pq_stanza(header: &str) -> Stanza {
        let mut lines = header.lines();
        let arg_line = lines
            .find(|l| l.to_ascii_lowercase().starts_with("-> mlkem768x25519"))
            .expect("a mlkem768x25519 stanza");
        let mut words = arg_line[3..].split(' ').map(str::to_string);
        let tag = words.next().unwrap();
        let args: Vec<String> = words.collect();
        let mut body = String::new();
        for l in lines {
            body.push_str(l);
            if l.len() < 64 {
                break;
            }
        }
        Stanza {
            tag,
            args,
            body: BASE64_STANDARD_NO_PAD.decode(body).unwrap_or_default(),
        }
    }

    struct Vector {
        expect: String,
        payload: Option<Vec<u8>>,
        file_key: Vec<u8>,
        identities: Vec<Identity>,
        file: Vec<u8>,
    }

    fn parse_vector(name: &str) -> Vector {
        let bytes = vector(name);
        let split = bytes.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        let head = std::str::from_utf8(&bytes[..split]).unwrap();
        let mut v = Vector {
            expect: String::new(),
            payload: None,
            file_key: Vec::new(),
            identities: Vec::new(),
            file: bytes[split..].to_vec(),
        };
        for line in head.lines() {
            let Some((k, val)) = line.split_once(": ") else {
                continue;
            };
            match k {
                "expect" => v.expect = val.to_string(),
                "payload" => v.payload = Some(hex(val)),
                "file key" => v.file_key = hex(val),
                "identity" => v.identities.push(val.parse().expect("a PQ identity")),
                _ => {}
            }
        }
        v
    }

    #[test]
    fn spec_example_identity_gives_the_spec_recipient() {
        let text = String::from_utf8(vector("spec-example.txt")).unwrap();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .to_string()
        };
        let (identity, recipient) = (field("identity: "), field("recipient: "));
        let id: Identity = identity.parse().unwrap();
        assert_eq!(id.to_public().to_string(), recipient);
        assert_eq!(id.to_string().expose_secret(), identity);
        let r: Recipient = recipient.parse().unwrap();
        assert_eq!(r.to_string(), recipient);
        assert_eq!(r, id.to_public());
        assert_eq!(r.0.as_bytes().len(), 1216);

        // The spec's example stanza is addressed to that identity.
        let stanza = first_pq_stanza(text.split("stanza:\n").nth(1).unwrap());
        assert!(matches!(id.unwrap_stanza(&stanza), Some(Ok(_))));
        let other = Identity::generate();
        assert!(other.unwrap_stanza(&stanza).is_none());
    }

    #[test]
    fn cctv_vectors_decrypt_and_fail_as_expected() {
        let names = [
            "hybrid",
            "hybrid_and_x25519",
            "hybrid_grease",
            "hybrid_bad_tag",
            "hybrid_currupted_enc_mlkem",
            "hybrid_currupted_enc_x25519",
            "hybrid_no_match",
            "hybrid_uppercase",
            "hybrid_identity",
            "hybrid_low_order",
            "hybrid_long_file_key",
            "hybrid_short_share",
            "hybrid_long_share",
            "hybrid_extra_argument",
            "hybrid_not_canonical_enc",
            "hybrid_not_canonical_body",
        ];
        let mut seen = std::collections::BTreeMap::new();
        for name in names {
            let v = parse_vector(name);
            *seen.entry(v.expect.clone()).or_insert(0) += 1;
            let ids: Vec<&dyn age::Identity> = v
                .identities
                .iter()
                .map(|i| i as &dyn age::Identity)
                .collect();
            let result = age::Decryptor::new(&v.file[..]).and_then(|d| d.decrypt(ids.into_iter()));
            let header = String::from_utf8_lossy(&v.file);
            let stanza = first_pq_stanza(&header);
            let direct = v.identities[0].unwrap_stanza(&stanza);
            match v.expect.as_str() {
                "success" => {
                    let mut plain = Vec::new();
                    result
                        .unwrap_or_else(|e| panic!("{name}: {e}"))
                        .read_to_end(&mut plain)
                        .unwrap();
                    let digest = sha2::Sha256::digest(&plain);
                    assert_eq!(Some(digest.to_vec()), v.payload, "{name}");
                    let key = direct
                        .unwrap_or_else(|| panic!("{name}: no match"))
                        .unwrap();
                    assert_eq!(key.expose_secret().to_vec(), v.file_key, "{name}");
                }
                "no match" => {
                    assert!(
                        matches!(result, Err(age::DecryptError::NoMatchingKeys)),
                        "{name}"
                    );
                    assert!(direct.is_none(), "{name}");
                }
                "header failure" => {
                    match result {
                        Err(age::DecryptError::NoMatchingKeys) | Ok(_) => {
                            panic!("{name}: expected a header failure")
                        }
                        Err(_) => {}
                    }
                    // The body's base64 is the header parser's business; every other
                    // case is this module's to refuse.
                    if name != "hybrid_not_canonical_body" {
                        assert!(
                            matches!(direct, Some(Err(age::DecryptError::InvalidHeader))),
                            "{name}"
                        );
                    }
                }
                other => panic!("{name}: unexpected expectation {other}"),
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [
                ("header failure".to_string(), 8),
                ("no match".to_string(), 5),
                ("success".to_string(), 3)
            ]
        );
    }

    #[test]
    fn wrap_then_unwrap_round_trips_and_labels_the_file_post_quantum() {
        let id = Identity::generate();
        let recipient = id.to_public();
        let key = FileKey::init_with_mut(|k| k.copy_from_slice(b"0123456789abcdef"));
        let (stanzas, labels) = recipient.wrap_file_key(&key).unwrap();
        assert_eq!(labels, [PQ_LABEL.to_string()].into_iter().collect());
        let [stanza] = stanzas.as_slice() else {
            panic!("one stanza")
        };
        assert_eq!(stanza.tag, STANZA_TAG);
        assert_eq!(
            BASE64_STANDARD_NO_PAD
                .decode(&stanza.args[0])
                .unwrap()
                .len(),
            1120
        );
        assert_eq!(stanza.body.len(), 32);
        let opened = id.unwrap_stanza(stanza).unwrap().unwrap();
        assert_eq!(opened.expose_secret(), b"0123456789abcdef");
        assert!(Identity::generate().unwrap_stanza(stanza).is_none());

        // age (like age 1.3) refuses to put a PQ and a classical recipient in one file;
        // sops and seal wrap each recipient in its own age file, so that never arises.
        let classic = age::x25519::Identity::generate().to_public();
        let mixed: Vec<&dyn age::Recipient> = vec![&recipient, &classic];
        assert!(matches!(
            age::Encryptor::with_recipients(mixed.into_iter()),
            Err(age::EncryptError::IncompatibleRecipients { .. })
        ));
    }

    #[test]
    fn generated_identities_encode_parse_and_differ() {
        let a = Identity::generate();
        let text = a.to_string();
        assert!(text.expose_secret().starts_with(IDENTITY_PREFIX));
        assert_eq!(text.expose_secret(), text.expose_secret().to_uppercase());
        let back: Identity = text.expose_secret().parse().unwrap();
        assert_eq!(back.to_public(), a.to_public());
        // Lower case is valid Bech32 too (age accepts either case, never mixed).
        let lower: Identity = text.expose_secret().to_lowercase().parse().unwrap();
        assert_eq!(lower.to_public(), a.to_public());
        assert_ne!(Identity::generate().to_public(), a.to_public());
        assert!(is_identity(text.expose_secret()));
        assert!(is_recipient(&a.to_public().to_string()));
    }

    #[test]
    fn malformed_recipients_and_identities_say_why() {
        let good = Identity::generate().to_public().to_string();
        // A changed last character (still in the alphabet): the checksum fails.
        let mut typo = good.clone();
        let last = typo.pop().unwrap();
        typo.push(if last == 'q' { 'p' } else { 'q' });
        assert_eq!(typo.parse::<Recipient>(), Err(ParseError::Bech32));
        // An X25519 recipient is not a PQ one.
        let x = age::x25519::Identity::generate().to_public().to_string();
        assert_eq!(x.parse::<Recipient>(), Err(ParseError::Prefix("age1pq1…")));
        let short = bech32_encode(RECIPIENT_HRP, &[7u8; 100]);
        assert!(matches!(
            short.parse::<Recipient>(),
            Err(ParseError::Length {
                got: 100,
                want: 1216,
                ..
            })
        ));
        // A valid ML-KEM key with a low-order X25519 point (zero).
        let mut bytes = good.parse::<Recipient>().unwrap().0.as_bytes().to_vec();
        bytes[1184..].fill(0);
        let low = bech32_encode(RECIPIENT_HRP, &bytes);
        assert_eq!(low.parse::<Recipient>(), Err(ParseError::LowOrder));
        // An unreduced ML-KEM coefficient (0xfff >= 3329).
        let mut bytes = good.parse::<Recipient>().unwrap().0.as_bytes().to_vec();
        bytes[0] = 0xff;
        bytes[1] |= 0x0f;
        let unreduced = bech32_encode(RECIPIENT_HRP, &bytes);
        assert_eq!(unreduced.parse::<Recipient>(), Err(ParseError::MlKemKey));

        let x_id = age::x25519::Identity::generate().to_string();
        assert_eq!(
            x_id.expose_secret().parse::<Identity>().err(),
            Some(ParseError::Prefix(IDENTITY_PREFIX))
        );
        let long = bech32_encode(IDENTITY_HRP, &[1u8; 33]).to_uppercase();
        assert!(matches!(
            long.parse::<Identity>(),
            Err(ParseError::Length {
                got: 33,
                want: 32,
                ..
            })
        ));
        // No message carries key material.
        for e in [
            ParseError::Bech32,
            ParseError::LowOrder,
            ParseError::MlKemKey,
        ] {
            assert!(!e.to_string().contains("AGE-SECRET"));
        }
    }
}
