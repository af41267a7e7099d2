//! sops's built-in OpenPGP, the attempt it makes before running gpg: the legacy GnuPG 1
//! keyrings in the GnuPG home (`GNUPGHOME`, else `~/.gnupg`) read in-process. Decryption
//! reads `secring.gpg` (or `pubring.gpg` when there is no `secring.gpg`, as sops does);
//! encryption finds the key in `pubring.gpg` by its primary fingerprint, compared with the
//! fingerprint exactly as written (so a pinned subkey `FP!`, a short key ID or lower case
//! goes to gpg, as with sops) and encrypts to its newest encryption-capable subkey.
//!
//! GnuPG 2.1 and later keep keys in `pubring.kbx` and `private-keys-v1.d/`, which this
//! does not read: there the attempt fails at once and gpg does the work. A
//! passphrase-protected secret key is unlocked with a prompt on the terminal (sops asks
//! a legacy gpg-agent, else prompts the same way); without a terminal the attempt fails.

use std::io::{BufReader, IsTerminal};
use std::path::{Path, PathBuf};

use pgp::composed::{
    ArmorOptions, Deserializable, Message, MessageBuilder, SignedPublicKey, SignedPublicSubKey,
    SignedSecretKey,
};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::Packet;
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

/// The legacy public keyring's name in the GnuPG home.
pub const PUBRING: &str = "pubring.gpg";
/// The legacy secret keyring's name in the GnuPG home.
pub const SECRING: &str = "secring.gpg";

/// The GnuPG home sops reads: `GNUPGHOME`, else `~/.gnupg`.
pub fn gnupg_home() -> Option<PathBuf> {
    match std::env::var_os("GNUPGHOME") {
        Some(d) if !d.is_empty() => Some(d.into()),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".gnupg")),
    }
}

fn home() -> Result<PathBuf, String> {
    gnupg_home().ok_or_else(|| "no GnuPG home (neither GNUPGHOME nor HOME is set)".to_string())
}

fn read_ring(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {}: {}",
            path.display(),
            crate::error::io_reason(&e)
        )
    })
}

/// A keyring's packets, GnuPG 1's trust packets (local bookkeeping, not OpenPGP key
/// material), marker and padding packets left out.
fn packets(bytes: &[u8]) -> impl Iterator<Item = pgp::errors::Result<Packet>> + '_ {
    pgp::packet::PacketParser::new(BufReader::new(bytes)).filter(|p| {
        !matches!(
            p,
            Ok(Packet::Trust(_) | Packet::Marker(_) | Packet::Padding(_))
        )
    })
}

/// The secret keys of `secring.gpg` (else `pubring.gpg`) in the GnuPG home.
fn secret_keys() -> Result<Vec<SignedSecretKey>, String> {
    let home = home()?;
    let sec = home.join(SECRING);
    let path = match std::fs::symlink_metadata(&sec) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => home.join(PUBRING),
        _ => sec,
    };
    let bytes = read_ring(&path)?;
    let keys: Vec<SignedSecretKey> = SignedSecretKey::from_packets(packets(&bytes).peekable())
        .filter_map(Result::ok)
        .collect();
    if keys.is_empty() {
        return Err(format!("{} holds no secret key", path.display()));
    }
    Ok(keys)
}

/// The passphrase of a protected key, asked on the terminal only when needed.
fn prompt() -> Password {
    Password::from(|| {
        if !std::io::stdin().is_terminal() {
            return Zeroizing::new(Vec::new());
        }
        Zeroizing::new(
            rpassword::prompt_password("Enter PGP key passphrase: ")
                .unwrap_or_default()
                .into_bytes(),
        )
    })
}

/// Decrypt an armored PGP message with the legacy secret keyring.
pub fn decrypt(armored: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let keys = secret_keys()?;
    let (msg, _) = Message::from_armor(BufReader::new(armored.trim().as_bytes()))
        .map_err(|e| format!("the PGP message is not readable: {e}"))?;
    let password = prompt();
    let passwords = vec![&password; keys.len()];
    let mut plain = msg
        .decrypt_with_keys(passwords, keys.iter().collect())
        .map_err(|e| format!("no key of the legacy keyring decrypts it: {e}"))?;
    if plain.is_compressed() {
        plain = plain
            .decompress()
            .map_err(|e| format!("cannot decompress the PGP message: {e}"))?;
    }
    let data = Zeroizing::new(
        plain
            .as_data_vec()
            .map_err(|e| format!("cannot read the PGP message: {e}"))?,
    );
    if data.is_empty() {
        return Err("the PGP message decrypted to zero bytes".into());
    }
    Ok(data)
}

/// The public key of `pubring.gpg` whose primary fingerprint (upper-case hex) is `fp`.
fn public_key(fp: &str) -> Result<SignedPublicKey, String> {
    let path = home()?.join(PUBRING);
    let bytes = read_ring(&path)?;
    SignedPublicKey::from_packets(packets(&bytes).peekable())
        .filter_map(Result::ok)
        .find(|k| hex_upper(k.primary_key.fingerprint().as_bytes()) == fp)
        .ok_or_else(|| format!("no key with fingerprint {fp} in {}", path.display()))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Whether a subkey's newest binding signature allows encryption.
fn encrypts(sub: &SignedPublicSubKey) -> bool {
    sub.key.algorithm().can_encrypt()
        && sub
            .signatures
            .iter()
            .max_by_key(|s| s.created().map(|t| t.as_secs()))
            .is_some_and(|s| {
                let f = s.key_flags();
                f.encrypt_comms() || f.encrypt_storage()
            })
}

/// Encrypt `payload` for the key with primary fingerprint `fp` in the legacy public
/// keyring; the armored message is returned without its final newline.
pub fn encrypt(fp: &str, payload: &[u8]) -> Result<String, String> {
    let key = public_key(fp)?;
    let mut rng = rand::thread_rng();
    let mut builder = MessageBuilder::from_bytes("", payload.to_vec())
        .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    let sub = key
        .public_subkeys
        .iter()
        .filter(|s| encrypts(s))
        .max_by_key(|s| s.key.created_at().as_secs());
    let added = match sub {
        Some(s) => builder.encrypt_to_key(&mut rng, s),
        None if key.primary_key.algorithm().can_encrypt() => {
            builder.encrypt_to_key(&mut rng, &key.primary_key)
        }
        None => return Err(format!("the key {fp} has no encryption key")),
    };
    added.map_err(|e| format!("cannot encrypt for {fp}: {e}"))?;
    let text = builder
        .to_armored_string(&mut rng, ArmorOptions::default())
        .map_err(|e| format!("cannot encrypt for {fp}: {e}"))?;
    Ok(text.trim().to_string())
}
