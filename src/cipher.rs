//! The sops cipher: `ENC[AES256_GCM,...]` values (AES-256-GCM, 32-byte IV, path as AAD),
//! the typed plaintext serialisation, the tree walk that encrypts or decrypts every leaf the
//! selector picks (comment stack included), the MAC, and data keys. Pure: randomness comes
//! from the OS RNG only for fresh data keys and IVs; no files, no env.
//!
//! CONTRACT (core helper): see each item. Values are serialised per sops-format.md §2.2;
//! paths (AAD) per §3; selection per §5 (comment stack §5.3); MAC per §6.

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::rules::Selector;
use crate::tree::{Branch, Value, ValueType};

/// The 32-byte data key. Never printed, zeroized on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> DataKey {
        todo!()
    }
    /// From unwrapped bytes; must be exactly 32 bytes.
    pub fn from_slice(_bytes: &[u8]) -> Result<DataKey, CipherError> {
        todo!()
    }
    /// The raw bytes (to wrap for recipients).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// How the walk decides and hashes.
#[derive(Clone, Debug)]
pub struct WalkRules<'a> {
    /// Which leaves are encrypted.
    pub selector: &'a Selector,
    /// Hash only encrypted values (with the fixed prefix).
    pub mac_only_encrypted: bool,
}

/// IVs to reuse: (AAD, type, plaintext bytes) → IV. Filled by decrypt, used by encrypt, so
/// unchanged values keep their exact ciphertext under the same data key (sops's "stash").
#[derive(Clone, Debug, Default)]
pub struct Stash(pub HashMap<(String, ValueType, Vec<u8>), [u8; 32]>);

/// What a decrypt walk found.
#[derive(Debug, Default)]
pub struct Decrypted {
    /// The MAC recomputed over the decrypted tree (uppercase hex SHA-512).
    pub mac: String,
    /// Non-fatal problems (e.g. a comment that did not decrypt and was kept as is).
    pub warnings: Vec<String>,
}

/// Encrypt every selected leaf of `docs` in place; returns the MAC (uppercase hex) over the
/// plaintext. Empty strings and nulls stay as they are. IVs come from `stash` when it has
/// the same (path, type, plaintext), else from the OS RNG.
pub fn encrypt_docs(
    _docs: &mut [Branch],
    _key: &DataKey,
    _rules: &WalkRules<'_>,
    _stash: Option<&Stash>,
) -> Result<String, CipherError> {
    todo!()
}

/// Decrypt every selected leaf of `docs` in place and recompute the MAC. When `stash` is
/// given, record each decrypted value's IV in it.
pub fn decrypt_docs(
    _docs: &mut [Branch],
    _key: &DataKey,
    _rules: &WalkRules<'_>,
    _stash: Option<&mut Stash>,
) -> Result<Decrypted, CipherError> {
    todo!()
}

/// Encrypt the MAC string with `lastmodified` (re-formatted per §6.3) as AAD.
pub fn encrypt_mac(_key: &DataKey, _mac: &str, _lastmodified: &str) -> Result<String, CipherError> {
    todo!()
}

/// Decrypt the stored MAC with `lastmodified` (re-formatted per §6.3) as AAD.
pub fn decrypt_mac(_key: &DataKey, _enc: &str, _lastmodified: &str) -> Result<String, CipherError> {
    todo!()
}

/// The plaintext bytes and type sops uses for a leaf (§2.2), or None for null, empty
/// string, branches and lists.
pub fn serialize_leaf(_v: &Value) -> Option<(Vec<u8>, ValueType)> {
    todo!()
}

/// True when `s` looks like an `ENC[AES256_GCM,...]` value (syntax only).
pub fn is_enc_value(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// Errors of the cipher layer.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// A value that should be encrypted is not an ENC value, or the ENC value is malformed
    /// (bad base64, wrong IV/tag length, unknown type). sops exit 25.
    #[error("the value at {path} is not a valid sops encrypted value: {reason}")]
    BadValue {
        /// The value's path, `a:b:` form without the trailing colon shown as `a.b`.
        path: String,
        /// What is wrong, never the value itself.
        reason: String,
    },
    /// AES-GCM authentication failed for a value (tampered, moved, or wrong key). Exit 25.
    #[error(
        "the value at {path} failed authentication: it was changed, moved from another key, or encrypted with another data key"
    )]
    Authentication {
        /// The value's path.
        path: String,
    },
    /// The tree cannot be encrypted (non-string key, unsupported value). Exit 23.
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
    /// The stored MAC cannot be decrypted (tampered MAC or lastmodified). Exit 51.
    #[error("the file's MAC cannot be decrypted: the mac or lastmodified field was changed")]
    MacUndecryptable,
    /// The MAC does not match the content. Exit 51.
    #[error(
        "MAC mismatch: the file's content does not match its MAC (a value was added, removed, reordered or changed)"
    )]
    MacMismatch,
    /// Bad data key length etc.
    #[error("invalid data key: {0}")]
    Key(String),
}
