//! Reading one identity source for discovery: identity text (plain, passphrase-protected,
//! SSH), the passphrase sources, key commands (with `SOPS_AGE_RECIPIENT`), the default
//! keys.txt, and the words of reports (counts, abbreviated public keys). Messages never
//! hold secret material.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::super::age::{IdentityLine, age_message, parse_identity_line, strip_bidi};
use super::super::passphrase::PassphraseCallbacks;
use super::*;

/// The public keys of identity file contents, like `age-keygen -y`: plain identities
/// text (one public key per identity), a passphrase-protected age identity file (unlocked
/// with the passphrase sources of `env`), or an OpenSSH private key (its SSH public key).
/// `label` names the source in messages; errors never contain secret material.
pub fn public_keys_of(bytes: &[u8], label: &str, env: &dyn Env) -> Result<Vec<String>, String> {
    let bytes = Zeroizing::new(bytes.to_vec());
    if bytes.starts_with(b"age-encryption") || bytes.starts_with(b"-----BEGIN AGE") {
        let pass = PassphraseCallbacks::from_env(env);
        let passphrase = pass.passphrase(&format!("Passphrase for {label}"))?;
        let plain = decrypt_with_passphrase(&bytes, passphrase)?;
        return public_keys_of_plain(&plain);
    }
    if bytes.starts_with(b"-----BEGIN") {
        let mut ids = Identities::default();
        let pass = PassphraseCallbacks::from_env(env);
        let outcome = ids.load_ssh_bytes(label, &bytes, &pass);
        return match ids.public_keys.pop() {
            Some(p) => Ok(vec![p]),
            None => Err(outcome),
        };
    }
    public_keys_of_plain(&bytes)
}

pub(super) fn public_keys_of_plain(bytes: &[u8]) -> Result<Vec<String>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| "the content is not UTF-8 text".to_string())?;
    let parsed = parse_identity_text(text, false)?;
    if let Some(p) = parsed.plugins.first() {
        return Err(format!(
            "it holds age plugin identities ({}): their public keys are known to the plugin \
             only (ask age-plugin-{} for the recipient)",
            p.plugin(),
            p.plugin()
        ));
    }
    if parsed.identities.is_empty() {
        return Err("it holds no identity (only comments or blank lines)".to_string());
    }
    Ok(parsed.identities.iter().map(TextIdentity::public).collect())
}

/// Decrypt a passphrase-protected (scrypt) age file, armored or binary.
pub(super) fn decrypt_with_passphrase(
    bytes: &[u8],
    passphrase: SecretString,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let reader = age::armor::ArmoredReader::new(bytes);
    let decryptor = age::Decryptor::new_buffered(reader)
        .map_err(|e| format!("not a valid age file: {}", age_message(&e)))?;
    let identity = age::scrypt::Identity::new(passphrase);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                "the passphrase is wrong".to_string()
            }
            age::DecryptError::NoMatchingKeys => {
                "the file is age-encrypted but not with a passphrase".to_string()
            }
            other => age_message(&other),
        })?;
    let mut out = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot decrypt: {}", strip_bidi(&e.to_string())))?;
    Ok(out)
}

/// The passphrase given without a terminal: the first line of `SEAL_PASSPHRASE_FILE`,
/// else `SEAL_PASSPHRASE`. `None` when neither is set; an error when the file cannot be
/// read.
pub fn configured_passphrase(env: &dyn Env) -> Option<Result<SecretString, String>> {
    let pass = PassphraseCallbacks::from_env(env);
    if pass.file.is_none() && pass.value.is_none() {
        return None;
    }
    Some(pass.passphrase(""))
}

/// Format a source report as indented lines (`  source: outcome`).
pub fn format_report(report: &[SourceReport]) -> String {
    report
        .iter()
        .map(|r| format!("  {}: {}", r.source, r.outcome))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// Identity sources
// ---------------------------------------------------------------------------------------

/// An identity read from identities text whose public key seal can compute.
pub(super) enum TextIdentity {
    X25519(age::x25519::Identity),
    Pq(super::super::age_pq::Identity),
}

impl TextIdentity {
    /// Its public key (`age1…` or `age1pq1…`).
    pub(super) fn public(&self) -> String {
        match self {
            TextIdentity::X25519(i) => i.to_public().to_string(),
            TextIdentity::Pq(i) => i.to_public().to_string(),
        }
    }

    pub(super) fn boxed(self) -> Box<dyn age::Identity + Send + Sync> {
        match self {
            TextIdentity::X25519(i) => Box::new(i),
            TextIdentity::Pq(i) => Box::new(i),
        }
    }
}

pub(super) struct ParsedText {
    pub(super) identities: Vec<TextIdentity>,
    pub(super) plugins: Vec<age::plugin::Identity>,
}

/// Identities text: one per line, blank and `#` lines ignored; with `words` (sops 3.13's
/// `SOPS_AGE_KEY`) every whitespace-separated word of a line is an identity. Errors name
/// the line, never its content.
pub(super) fn parse_identity_text(text: &str, words: bool) -> Result<ParsedText, String> {
    let mut out = ParsedText {
        identities: Vec::new(),
        plugins: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let items: Vec<&str> = if words {
            line.split_whitespace().collect()
        } else {
            vec![line]
        };
        for item in items {
            match parse_identity_line(item, line_no)? {
                IdentityLine::X25519(id) => out.identities.push(TextIdentity::X25519(id)),
                IdentityLine::Pq(id) => out.identities.push(TextIdentity::Pq(id)),
                IdentityLine::Plugin(id) => out.plugins.push(id),
            }
        }
    }
    Ok(out)
}

pub(super) fn count_identities(publics: &[String]) -> String {
    match publics.len() {
        0 => "no identities (only comments or blank lines)".to_string(),
        1 => format!("1 identity ({})", abbreviate(&publics[0])),
        n => {
            let shown: Vec<String> = publics.iter().take(3).map(|p| abbreviate(p)).collect();
            let more = if n > 3 {
                format!(", and {} more", n - 3)
            } else {
                String::new()
            };
            format!("{n} identities ({}{more})", shown.join(", "))
        }
    }
}

/// A public key shortened for reports: `age1` keys keep 16 characters, SSH keys their type
/// and the start of the key.
pub(super) fn abbreviate(public: &str) -> String {
    let limit = if public.starts_with("ssh-") { 28 } else { 16 };
    if public.chars().count() <= limit {
        public.to_string()
    } else {
        let head: String = public.chars().take(limit).collect();
        format!("{head}…")
    }
}

/// Read a secret file (identities, passphrase); warns, as ssh does, when the file belongs to
/// the current user and other users may read or write it.
pub(in crate::keys) fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot read: {e}"),
    })?;
    if let Some(w) = file
        .metadata()
        .ok()
        .and_then(|m| exposure_warning(path, &m, current_uid()))
    {
        eprintln!("seal: warning: {w}");
    }
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        bytes.iter_mut().for_each(|b| *b = 0);
        return Err("cannot read: larger than 16 MiB".to_string());
    }
    Ok(bytes)
}

/// The effective user id (`None` where there is none).
pub(super) fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The warning for a secret file that group or other users may access, when it belongs to
/// `uid` (ssh's rule: a file someone else owns is their business, and a warning there
/// would be noise the user cannot act on).
#[cfg_attr(not(unix), allow(unused_variables))]
pub(in crate::keys) fn exposure_warning(
    path: &Path,
    meta: &std::fs::Metadata,
    uid: Option<u32>,
) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 == 0 || uid != Some(meta.uid()) || !meta.is_file() {
            return None;
        }
        Some(format!(
            "{}: this secret key file is accessible to other users (mode {mode:04o}); \
             protect it with: chmod 600 {}",
            path.display(),
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Run `SOPS_AGE_KEY_CMD` (split shell-like, no shell); stdout holds identities. stderr is
/// passed through so the user sees the command's own messages.
/// Whether OpenSSH/PEM private key bytes are passphrase-protected.
pub(super) fn is_encrypted_ssh_key(bytes: &[u8]) -> bool {
    matches!(
        age::ssh::Identity::from_buffer(BufReader::new(bytes), None),
        Ok(age::ssh::Identity::Encrypted(_))
            | Ok(age::ssh::Identity::Unsupported(
                age::ssh::UnsupportedKey::EncryptedPem | age::ssh::UnsupportedKey::EncryptedSsh(_)
            ))
    )
}

pub(super) fn run_key_command(cmd: &str, recipient: Option<&str>) -> Result<Vec<u8>, String> {
    let args = shlex::split(cmd)
        .ok_or_else(|| "cannot split the command (unbalanced quotes or escape)".to_string())?;
    let Some((program, rest)) = args.split_first() else {
        return Err("the command is empty".to_string());
    };
    let mut command = std::process::Command::new(program);
    if let Some(r) = recipient {
        command.env(RECIPIENT_VAR, r);
    }
    let output = command
        .args(rest)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        let mut out = output.stdout;
        out.iter_mut().for_each(|b| *b = 0);
        return Err(format!("the command failed ({})", output.status));
    }
    if output.stdout.len() as u64 > MAX_SOURCE_BYTES {
        return Err("the command printed more than 16 MiB".to_string());
    }
    Ok(output.stdout)
}

/// The default keys file and its label: `<config dir>/sops/age/keys.txt`.
pub(super) fn default_keys_file(env: &dyn Env) -> Option<(PathBuf, String)> {
    let xdg = env.var("XDG_CONFIG_HOME").filter(|s| !s.is_empty());
    let home = env.home();
    let (dir, label_dir) = if let Some(x) = xdg {
        (PathBuf::from(&x), x)
    } else if cfg!(windows) {
        let appdata = env.var("APPDATA").filter(|s| !s.is_empty())?;
        (PathBuf::from(&appdata), appdata)
    } else if cfg!(target_os = "macos") {
        let h = home?;
        (
            h.join("Library").join("Application Support"),
            "~/Library/Application Support".to_string(),
        )
    } else {
        let h = home?;
        (h.join(".config"), "~/.config".to_string())
    };
    let path = dir.join("sops").join("age").join("keys.txt");
    let label = format!("{}/sops/age/keys.txt", label_dir.trim_end_matches('/'));
    Some((path, label))
}

pub(super) fn unsupported_ssh_reason(identity: &age::ssh::Identity) -> String {
    match identity {
        age::ssh::Identity::Unsupported(u) => match u {
            age::ssh::UnsupportedKey::EncryptedPem => {
                "unsupported: an encrypted PEM key (convert it with ssh-keygen -o -p)".to_string()
            }
            age::ssh::UnsupportedKey::EncryptedSsh(c) => {
                format!("unsupported: the key is encrypted with the cipher {c}")
            }
            age::ssh::UnsupportedKey::Hardware(t) => {
                format!("unsupported: {t} is a hardware security key type")
            }
            age::ssh::UnsupportedKey::Type(t) => format!(
                "unsupported SSH key type {t} (only ssh-ed25519 and ssh-rsa keys work with age)"
            ),
        },
        _ => "not a supported SSH private key".to_string(),
    }
}
