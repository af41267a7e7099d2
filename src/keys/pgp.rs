//! PGP master keys, in sops's order of attempts: first its built-in OpenPGP on the legacy
//! keyrings (`pubring.gpg` / `secring.gpg` in the GnuPG home, [`super::pgp_keyring`]),
//! then the `gpg` binary: the data key (or Shamir share) is wrapped with
//! `gpg --encrypt --armor` for a fingerprint and unwrapped with `gpg -d`, so gpg-agent
//! does the private-key work (smartcards, passphrase caches). `SOPS_GPG_EXEC` names the
//! binary (default `gpg`); gpg finds `GNUPGHOME` in the environment, as under sops.
//!
//! A metadata entry is `created_at` (RFC 3339), `enc` (the armored PGP message) and `fp`
//! (the fingerprint as written in the rule or flag, spaces removed).

use std::io::Write;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::tree::{Branch, Item, Value};

/// One `pgp:` entry of a key group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgpKey {
    /// Fingerprint (spaces removed; a trailing `!` pins a subkey).
    pub fp: String,
    /// Armored PGP message wrapping the data key or share.
    pub enc: String,
    /// When the entry was made (RFC 3339 text as stored).
    pub created_at: String,
}

/// How a PGP fingerprint is marked among a key group's recipient strings (rules, flags):
/// `pgp:FP`. Never a valid age recipient, so the two cannot be confused.
pub const TAG: &str = "pgp:";

/// `FP` as a tagged recipient string (normalised).
pub fn tag(fp: &str) -> String {
    format!("{TAG}{}", normalize_fp(fp))
}

/// The fingerprint of a tagged recipient string, if it is one.
pub fn untag(recipient: &str) -> Option<&str> {
    recipient.trim().strip_prefix(TAG)
}

/// Check a fingerprint before gpg sees it: not empty, not an option. gpg judges the rest
/// (a key ID, a fingerprint, a pinned subkey `FP!`), as with sops.
pub fn check_fp(fp: &str) -> Result<(), String> {
    if fp.is_empty() || fp.starts_with('-') {
        return Err(format!(
            "{fp:?} is not a PGP fingerprint: expected the hex fingerprint `gpg --list-keys` prints"
        ));
    }
    Ok(())
}

/// Normalise a fingerprint as sops does: spaces removed, a trailing `!` kept.
pub fn normalize_fp(fp: &str) -> String {
    fp.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Split a comma-separated fingerprint list (`--pgp`, `SOPS_PGP_FP`, a creation rule's
/// `pgp:` string) into normalised fingerprints; empty items are dropped.
pub fn parse_fp_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(normalize_fp)
        .filter(|f| !f.is_empty())
        .collect()
}

/// The PGP entries of a raw `pgp:` metadata list (entries without `fp` or `enc` skipped).
pub fn entries(list: &[Value]) -> Vec<PgpKey> {
    list.iter()
        .filter_map(|v| match v {
            Value::Branch(b) => {
                let text = |k: &str| match b.get(k) {
                    Some(Value::Str(s)) => Some(s.clone()),
                    _ => None,
                };
                Some(PgpKey {
                    fp: text("fp")?,
                    enc: text("enc")?,
                    created_at: text("created_at").unwrap_or_default(),
                })
            }
            _ => None,
        })
        .collect()
}

/// The raw metadata entry sops writes for a PGP key (`created_at`, `enc`, `fp`).
pub fn entry_value(key: &PgpKey) -> Value {
    Value::Branch(Branch {
        items: vec![
            Item::Pair("created_at".into(), Value::Str(key.created_at.clone())),
            Item::Pair("enc".into(), Value::Str(key.enc.clone())),
            Item::Pair("fp".into(), Value::Str(key.fp.clone())),
        ],
    })
}

/// `SOPS_GPG_EXEC` when set (a name is looked up on `PATH`, as sops 3.11 does), else `gpg`.
fn gpg_binary() -> String {
    std::env::var("SOPS_GPG_EXEC")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gpg".to_string())
}

/// Run gpg with exactly sops's arguments: no `--homedir` (gpg reads `GNUPGHOME` itself).
fn run(args: &[&str], input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let bin = gpg_binary();
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "could not run {bin:?} ({e}); install GnuPG or set SOPS_GPG_EXEC to the gpg binary"
            )
        })?;
    let mut stdin = child.stdin.take();
    let feed = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&feed);
        }
        drop(stdin);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{bin:?} failed: {e}"))?;
    let _ = writer.join();
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let tail = last
            .iter()
            .rev()
            .take(2)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("{bin} exited with {}: {tail}", out.status));
    }
    Ok(stdout)
}

/// Unwrap one PGP entry: the legacy secret keyring first, then `gpg -d` (gpg-agent holds
/// the private key). When both fail, both reasons are given, as sops does.
pub fn unwrap(key: &PgpKey) -> Result<Zeroizing<Vec<u8>>, String> {
    let legacy = match super::pgp_keyring::decrypt(&key.enc) {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let gpg = match run(&["-d"], key.enc.as_bytes()) {
        Ok(p) if p.is_empty() => "gpg decrypted it to zero bytes".to_string(),
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    Err(format!("built-in OpenPGP: {legacy}; gpg: {gpg}"))
}

/// Wrap a payload for a fingerprint: with the legacy public keyring when it holds the key,
/// else through `gpg --encrypt --armor` (as sops: no default recipient, the key trusted
/// for this call, no encrypt-to).
pub fn wrap(fp: &str, payload: &[u8]) -> Result<String, String> {
    let fp = normalize_fp(fp);
    let legacy = match super::pgp_keyring::encrypt(&fp, payload) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    wrap_gpg(&fp, payload).map_err(|gpg| format!("built-in OpenPGP: {legacy}; gpg: {gpg}"))
}

/// sops's `--trusted-key` ID: the last 16 characters, with a pinning `!` kept after them.
fn short_id(fp: &str) -> &str {
    let keep = if fp.ends_with('!') { 17 } else { 16 };
    fp.get(fp.len().saturating_sub(keep)..).unwrap_or(fp)
}

fn wrap_gpg(fp: &str, payload: &[u8]) -> Result<String, String> {
    let trusted = short_id(fp);
    let out = run(
        &[
            "--no-default-recipient",
            "--yes",
            "--encrypt",
            "-a",
            "-r",
            fp,
            "--trusted-key",
            trusted,
            "--no-encrypt-to",
        ],
        payload,
    )?;
    // sops stores the armor without its final newline (`enc: |-`).
    let text =
        String::from_utf8(out.to_vec()).map_err(|_| "gpg wrote non-text armor".to_string())?;
    Ok(text.trim().to_string())
}

/// The armored secret key (with its subkeys) of a fingerprint, as Flux's `sops-gpg`
/// Secret holds it: `gpg --export-secret-keys --armor FP`. gpg prints nothing (and
/// succeeds) for a key it does not hold: that is an error here.
pub fn export_secret_key(fp: &str) -> Result<Zeroizing<String>, String> {
    let fp = normalize_fp(fp);
    check_fp(&fp)?;
    let out = run(&["--batch", "--export-secret-keys", "--armor", &fp], &[])?;
    let text = Zeroizing::new(
        String::from_utf8(out.to_vec()).map_err(|_| "gpg wrote non-text armor".to_string())?,
    );
    if !text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
        return Err(format!(
            "gpg holds no secret key for {fp} (gpg --list-secret-keys shows the keys it has)"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise_as_sops() {
        assert_eq!(normalize_fp("FBC7 B9E2 A4F9!"), "FBC7B9E2A4F9!");
        assert_eq!(parse_fp_list(" AB CD, EF01 ,,"), vec!["ABCD", "EF01"]);
    }

    #[test]
    fn short_ids_keep_a_pinning_bang_as_sops() {
        let fp = "71D962851765394F76DB9CFC25294A17CD90507F";
        assert_eq!(short_id(fp), "25294A17CD90507F");
        assert_eq!(short_id(&format!("{fp}!")), "25294A17CD90507F!");
        assert_eq!(short_id("ABCD"), "ABCD");
    }

    #[test]
    fn entries_round_trip() {
        let k = PgpKey {
            fp: "ABCD".into(),
            enc: "-----BEGIN PGP MESSAGE-----\n".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
        };
        assert_eq!(entries(&[entry_value(&k)]), vec![k]);
    }
}
