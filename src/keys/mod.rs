//! age identities and recipients: where identities are found (the sops order: SSH keys,
//! `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the default keys.txt), wrapping
//! a data key (or Shamir share) for recipients, and unwrapping it from a file's key groups.
//!
//! CONTRACT (keys helper): discovery takes an environment lookup and a home directory so
//! tests never touch the real process environment.
//!
//! Secrets never appear in messages: reports name sources, line numbers and public keys
//! only.

use std::io::{BufRead, BufReader, Cursor, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::metadata::{AgeKey, KeyGroup, Metadata};

pub mod pgp;
mod pgp_keyring;

/// Largest identity source seal reads (the limit sops applies to encrypted identity files).
const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// The environment seen by key discovery (real env in the CLI, a map in tests).
pub trait Env {
    /// A variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// The home directory.
    fn home(&self) -> Option<PathBuf>;
    /// Whether a passphrase may be asked for on the terminal. Defaults to `false` so test
    /// environments never prompt.
    fn interactive(&self) -> bool {
        false
    }
    /// Whether discovery may read the OS keyring. Defaults to `false` so test
    /// environments stay hermetic.
    fn use_keyring(&self) -> bool {
        false
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() || std::io::stderr().is_terminal()
    }
    fn use_keyring(&self) -> bool {
        let v = std::env::var_os(crate::keyring::DISABLE_ENV);
        !crate::keyring::disabled_by(v.as_ref().map(|v| v.to_string_lossy()).as_deref())
    }
}

/// Where identities were looked for and what each source gave, for error messages.
#[derive(Clone, Debug)]
pub struct SourceReport {
    /// e.g. `SOPS_AGE_KEY_FILE=/path`, `~/.config/sops/age/keys.txt`.
    pub source: String,
    /// e.g. "2 identities (age1abc…, age1def…)", "not set", "does not exist", an error.
    pub outcome: String,
}

/// One identity as `seal key list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityEntry {
    /// `age1…` or `ssh-<type> <base64>`; `None` for a passphrase-protected identity file
    /// whose content is only known once unlocked.
    pub public_key: Option<String>,
    /// Where it came from (`SOPS_AGE_KEY_FILE=/path`, `keyring (service seal)`, …).
    pub source: String,
    /// Whether using it needs a passphrase.
    pub passphrase_protected: bool,
}

/// What seal knows about one loaded identity (parallel to [`Identities::identities`]).
#[derive(Clone, Default)]
struct IdentityInfo {
    /// Normalised public key (`age1…`, or `ssh-<type> <base64>` without comment).
    recipient: Option<String>,
    /// The source it came from, for messages.
    source: String,
    /// For passphrase-protected identities: why the last passphrase request failed.
    passphrase_problem: Option<Arc<Mutex<Option<String>>>>,
}

/// Identities loaded from every sops source, merged.
#[derive(Default)]
pub struct Identities {
    /// The identities, in source order.
    pub identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Public keys of the identities that have one (x25519 and SSH), for messages.
    pub public_keys: Vec<String>,
    /// What each source gave.
    pub report: Vec<SourceReport>,
    /// Per identity (same index), its public key and source. May be shorter than
    /// `identities` when callers push identities directly; missing entries are "unknown".
    info: Vec<IdentityInfo>,
}

impl Identities {
    /// Load from the sops sources in sops order (sops-format.md §11). A source that fails to
    /// parse is reported (not fatal unless no identity at all is found).
    pub fn discover(env: &dyn Env) -> Identities {
        let mut ids = Identities::default();
        let pass = PassphraseCallbacks::from_env(env);
        let home = env.home();

        // 1. SSH keys.
        match env.var("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            Some(p) => {
                let label = format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE={p}");
                if p.is_empty() {
                    ids.note(label, "set but empty".to_string());
                } else {
                    ids.load_ssh_file(label, Path::new(&p), &pass, false);
                }
            }
            None => ids.note("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "not set".to_string()),
        }
        for name in ["id_ed25519", "id_rsa"] {
            let label = format!("~/.ssh/{name}");
            match &home {
                Some(h) => ids.load_ssh_file(label, &h.join(".ssh").join(name), &pass, true),
                None => ids.note(label, "the home directory is unknown".to_string()),
            }
        }

        // 2. SOPS_AGE_KEY: the identities themselves.
        match env.var("SOPS_AGE_KEY") {
            Some(text) => ids.load_text("SOPS_AGE_KEY".to_string(), text.into_bytes(), &pass),
            None => ids.note("SOPS_AGE_KEY", "not set".to_string()),
        }

        // 3. SOPS_AGE_KEY_FILE: a path.
        match env.var("SOPS_AGE_KEY_FILE") {
            Some(p) => {
                let label = format!("SOPS_AGE_KEY_FILE={p}");
                if p.is_empty() {
                    ids.note(label, "set but empty".to_string());
                } else {
                    match read_limited(Path::new(&p)) {
                        Ok(bytes) => ids.load_text(label, bytes, &pass),
                        Err(e) => ids.note(label, e),
                    }
                }
            }
            None => ids.note("SOPS_AGE_KEY_FILE", "not set".to_string()),
        }

        // 4. SOPS_AGE_KEY_CMD: a command whose stdout holds identities.
        match env.var("SOPS_AGE_KEY_CMD") {
            Some(cmd) => {
                let label = format!("SOPS_AGE_KEY_CMD={cmd}");
                match run_key_command(&cmd) {
                    Ok(out) => ids.load_text(label, out, &pass),
                    Err(e) => ids.note(label, e),
                }
            }
            None => ids.note("SOPS_AGE_KEY_CMD", "not set".to_string()),
        }

        // 5. The default keys.txt, read whenever it exists.
        match default_keys_file(env) {
            Some((path, label)) => match read_limited(&path) {
                Ok(bytes) => ids.load_text(label, bytes, &pass),
                Err(e) => ids.note(label, e),
            },
            None => ids.note(
                "default keys.txt",
                "cannot locate it: neither XDG_CONFIG_HOME nor the home directory is known"
                    .to_string(),
            ),
        }

        // 6. The OS keyring (seal's own source, after the sops ones).
        if env.use_keyring() {
            ids.load_keyring(env);
        }
        ids
    }

    /// Load every identity stored in the OS keyring under the configured service.
    fn load_keyring(&mut self, env: &dyn Env) {
        let service = crate::keyring::service_name(|k| env.var(k));
        let label = format!("keyring (service {service})");
        let ring = match crate::keyring::Keyring::open(&service) {
            Ok(r) => r,
            Err(e) => return self.note(label, e.to_string()),
        };
        let publics = match ring.index() {
            Ok(p) => p,
            Err(e) => return self.note(label, e.to_string()),
        };
        let mut loaded = Vec::new();
        let mut problems = Vec::new();
        for public in publics {
            match ring.load(&public) {
                Ok(id) => {
                    self.public_keys.push(public.clone());
                    self.push_info(
                        Box::new(id),
                        IdentityInfo {
                            recipient: Some(public.clone()),
                            source: label.clone(),
                            passphrase_problem: None,
                        },
                    );
                    loaded.push(public);
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        let mut outcome = if loaded.is_empty() {
            "no identities stored".to_string()
        } else {
            count_identities(&loaded)
        };
        for p in problems {
            outcome.push_str("; ");
            outcome.push_str(&p);
        }
        self.note(label, outcome);
    }

    /// Every loaded identity with its public key (when known without a passphrase) and
    /// its source, in discovery order. Never the secret.
    pub fn entries(&self) -> Vec<IdentityEntry> {
        (0..self.identities.len())
            .map(|i| {
                let info = self.info.get(i);
                IdentityEntry {
                    public_key: info.and_then(|x| x.recipient.clone()),
                    source: info
                        .map(|x| x.source.clone())
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| "unknown".to_string()),
                    passphrase_protected: info.is_some_and(|x| x.passphrase_problem.is_some()),
                }
            })
            .collect()
    }

    /// Add one identity, with its public key (`age1…` or an SSH public key line) when
    /// known so that unwrapping can try it first for keys naming that recipient.
    pub fn add(
        &mut self,
        identity: Box<dyn age::Identity + Send + Sync>,
        recipient: Option<String>,
        source: &str,
    ) {
        // Keep `info` aligned with `identities` even if callers pushed directly.
        self.info
            .resize_with(self.identities.len(), IdentityInfo::default);
        if let Some(r) = &recipient {
            self.public_keys.push(r.clone());
        }
        self.identities.push(identity);
        self.info.push(IdentityInfo {
            recipient: recipient.as_deref().map(normalize_recipient),
            source: source.to_string(),
            passphrase_problem: None,
        });
    }

    /// True when no identity was found in any source.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The report as indented lines, one source per line (for error messages).
    pub fn report_text(&self) -> String {
        format_report(&self.report)
    }

    fn note(&mut self, source: impl Into<String>, outcome: String) {
        self.report.push(SourceReport {
            source: source.into(),
            outcome,
        });
    }

    fn push_info(&mut self, identity: Box<dyn age::Identity + Send + Sync>, info: IdentityInfo) {
        self.info
            .resize_with(self.identities.len(), IdentityInfo::default);
        self.identities.push(identity);
        self.info.push(info);
    }

    /// Load an SSH private key file. `optional`: a missing file is "does not exist"
    /// rather than an error (the `~/.ssh` defaults).
    fn load_ssh_file(
        &mut self,
        label: String,
        path: &Path,
        pass: &PassphraseCallbacks,
        optional: bool,
    ) {
        if optional && !path.exists() {
            self.note(label, "does not exist".to_string());
            return;
        }
        let bytes = match read_limited(path) {
            Ok(b) => b,
            Err(e) => {
                self.note(label, e);
                return;
            }
        };
        let outcome = self.load_ssh_bytes(&label, &bytes, pass);
        self.note(label, outcome);
    }

    /// Parse an SSH private key; returns the report outcome.
    fn load_ssh_bytes(&mut self, label: &str, bytes: &[u8], pass: &PassphraseCallbacks) -> String {
        let parsed =
            match age::ssh::Identity::from_buffer(BufReader::new(bytes), Some(label.to_string())) {
                Ok(p) => p,
                Err(_) => {
                    return "not a supported SSH private key (expected an OpenSSH ssh-ed25519 or \
                        ssh-rsa private key)"
                        .to_string();
                }
            };
        let public = match age::ssh::Recipient::try_from(parsed.clone()) {
            Ok(r) => r.to_string(),
            Err(age::ssh::ParseRecipientKeyError::Unsupported(t)) => {
                return format!(
                    "unsupported SSH key type {t} (only ssh-ed25519 and ssh-rsa keys work with age)"
                );
            }
            Err(age::ssh::ParseRecipientKeyError::RsaModulusTooSmall) => {
                return "ssh-rsa key is too small (age needs at least 2048 bits)".to_string();
            }
            Err(age::ssh::ParseRecipientKeyError::RsaModulusTooLarge) => {
                return "ssh-rsa key is too large for age".to_string();
            }
            Err(_) => return unsupported_ssh_reason(&parsed),
        };
        let kind = public.split(' ').next().unwrap_or("ssh").to_string();
        let (identity, what): (Box<dyn age::Identity + Send + Sync>, &str) = match parsed {
            age::ssh::Identity::Unencrypted(_) => (Box::new(parsed), "key"),
            age::ssh::Identity::Encrypted(_) => (
                Box::new(LockedSsh {
                    label: label.to_string(),
                    key: parsed,
                    callbacks: pass.clone(),
                    state: Mutex::new(None),
                }),
                "passphrase-protected key",
            ),
            age::ssh::Identity::Unsupported(_) => return unsupported_ssh_reason(&parsed),
        };
        self.public_keys.push(public.clone());
        let problem = matches!(what, "passphrase-protected key").then(|| pass.problem.clone());
        self.push_info(
            identity,
            IdentityInfo {
                recipient: Some(normalize_recipient(&public)),
                source: label.to_string(),
                passphrase_problem: problem,
            },
        );
        format!("{kind} {what} ({})", abbreviate(&public))
    }

    /// Load identities text (or a passphrase-protected identity file) from one source.
    fn load_text(&mut self, label: String, bytes: Vec<u8>, pass: &PassphraseCallbacks) {
        let bytes = Zeroizing::new(bytes);
        if bytes.starts_with(b"age-encryption") || bytes.starts_with(b"-----BEGIN AGE") {
            let outcome = self.load_encrypted(&label, &bytes, pass);
            self.note(label, outcome);
            return;
        }
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t,
            Err(_) => {
                self.note(
                    label,
                    "cannot parse: the content is not UTF-8 text".to_string(),
                );
                return;
            }
        };
        match parse_identity_text(text) {
            Ok(parsed) => {
                let mut publics = Vec::new();
                for id in parsed.identities {
                    let public = id.to_public().to_string();
                    publics.push(public.clone());
                    self.public_keys.push(public.clone());
                    self.push_info(
                        Box::new(id),
                        IdentityInfo {
                            recipient: Some(public),
                            source: label.clone(),
                            passphrase_problem: None,
                        },
                    );
                }
                let mut outcome = count_identities(&publics);
                if !parsed.plugin_lines.is_empty() {
                    outcome.push_str(&format!(
                        "; unsupported: age plugin identities (AGE-PLUGIN-…) on line{} {} were \
                         skipped (seal does not run age plugins)",
                        if parsed.plugin_lines.len() == 1 {
                            ""
                        } else {
                            "s"
                        },
                        join_numbers(&parsed.plugin_lines)
                    ));
                }
                self.note(label, outcome);
            }
            Err(e) => self.note(label, format!("cannot parse: {e}")),
        }
    }

    fn load_encrypted(&mut self, label: &str, bytes: &[u8], pass: &PassphraseCallbacks) -> String {
        let reader = age::armor::ArmoredReader::new(Cursor::new(bytes.to_vec()));
        match age::encrypted::Identity::from_buffer(
            reader,
            Some(label.to_string()),
            pass.clone(),
            None,
        ) {
            Ok(Some(identity)) => {
                self.push_info(
                    Box::new(LockedEncrypted(Mutex::new(identity))),
                    IdentityInfo {
                        recipient: None,
                        source: label.to_string(),
                        passphrase_problem: Some(pass.problem.clone()),
                    },
                );
                "passphrase-protected identity file (decrypted when a key needs it)".to_string()
            }
            Ok(None) => "cannot use: an age-encrypted file that is not passphrase-protected \
                         (only passphrase-protected identity files are supported)"
                .to_string(),
            Err(e) => format!(
                "cannot parse the passphrase-protected identity file: {}",
                age_message(&e)
            ),
        }
    }
}

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

fn public_keys_of_plain(bytes: &[u8]) -> Result<Vec<String>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| "the content is not UTF-8 text".to_string())?;
    let parsed = parse_identity_text(text)?;
    if !parsed.plugin_lines.is_empty() {
        return Err(format!(
            "age plugin identities (line {}) are not supported by seal",
            join_numbers(&parsed.plugin_lines)
        ));
    }
    if parsed.identities.is_empty() {
        return Err("it holds no identity (only comments or blank lines)".to_string());
    }
    Ok(parsed
        .identities
        .iter()
        .map(|id| id.to_public().to_string())
        .collect())
}

/// Decrypt a passphrase-protected (scrypt) age file, armored or binary.
fn decrypt_with_passphrase(
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

impl KeyError {
    /// A multi-line explanation for [`KeyError::NoMatchingIdentity`]: what the file needs
    /// and where seal looked. `None` for other errors (their message says it all).
    pub fn explanation(&self) -> Option<String> {
        let KeyError::NoMatchingIdentity {
            needed,
            report,
            detail,
        } = self
        else {
            return None;
        };
        let mut out = String::new();
        if !detail.is_empty() {
            out.push_str(detail);
            out.push('\n');
        }
        for (i, group) in needed.iter().enumerate() {
            if needed.len() > 1 {
                out.push_str(&format!("key group {}:\n", i + 1));
            } else {
                out.push_str("the file's recipients:\n");
            }
            for r in group {
                out.push_str(&format!("  {r}\n"));
            }
        }
        out.push_str("identities seal looked for:\n");
        out.push_str(&format_report(report));
        Some(out)
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
    let encryptor = age::Encryptor::with_recipients(std::iter::once(parsed.as_dyn()))
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

/// Validate a recipient string (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
pub fn check_recipient(recipient: &str) -> Result<(), KeyError> {
    if let Some(fp) = pgp::untag(recipient) {
        return pgp::check_fp(fp).map_err(|reason| KeyError::BadRecipient {
            recipient: fp.to_string(),
            reason,
        });
    }
    parse_recipient(recipient).map(|_| ())
}

/// Build key groups for a fresh or re-wrapped data key: one group wraps the whole key;
/// several groups get one Shamir share each (threshold 0 = all groups).
pub fn wrap_groups(
    groups: &[Vec<String>],
    threshold: usize,
    key: &DataKey,
) -> Result<Vec<KeyGroup>, KeyError> {
    let shape_err = |reason: String| KeyError::Wrap {
        recipient: "the key groups".to_string(),
        reason,
    };
    if groups.is_empty() || groups.iter().all(|g| g.is_empty()) {
        return Err(shape_err(
            "no age recipients or PGP fingerprints were given".to_string(),
        ));
    }
    if let Some(i) = groups.iter().position(|g| g.is_empty()) {
        return Err(shape_err(format!(
            "key group {} has no age recipients or PGP fingerprints, so its share could never be recovered",
            i + 1
        )));
    }
    let wrap_group = |group: &[String], payload: &[u8]| -> Result<KeyGroup, KeyError> {
        let mut pgp_entries = Vec::new();
        for fp in group.iter().filter_map(|r| pgp::untag(r)) {
            let enc = pgp::wrap(fp, payload).map_err(|reason| KeyError::Wrap {
                recipient: format!("PGP key {fp}"),
                reason,
            })?;
            pgp_entries.push(pgp::entry_value(&pgp::PgpKey {
                fp: fp.to_string(),
                enc,
                created_at: Metadata::now_lastmodified(),
            }));
        }
        let other = if pgp_entries.is_empty() {
            Vec::new()
        } else {
            vec![("pgp".to_string(), pgp_entries)]
        };
        let age = group
            .iter()
            .filter(|r| pgp::untag(r).is_none())
            .map(|r| {
                Ok(AgeKey {
                    recipient: r.trim().to_string(),
                    enc: wrap(r, payload)?,
                })
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        Ok(KeyGroup { age, other })
    };
    if groups.len() == 1 {
        return Ok(vec![wrap_group(&groups[0], key.as_bytes())?]);
    }
    let n = groups.len();
    let t = if threshold == 0 { n } else { threshold };
    if n > 255 {
        return Err(shape_err(format!(
            "{n} key groups: Shamir secret sharing supports at most 255"
        )));
    }
    if !(2..=n).contains(&t) {
        return Err(shape_err(format!(
            "the Shamir threshold is {t} with {n} key groups; it must be between 2 and {n}"
        )));
    }
    let shares =
        crate::shamir::split(key.as_bytes(), n, t).map_err(|e| shape_err(e.to_string()))?;
    groups
        .iter()
        .zip(shares.iter())
        .map(|(g, share)| wrap_group(g, share))
        .collect()
}

/// Recover the data key from the metadata's key groups with the identities (Shamir
/// combine when there are several groups).
pub fn recover_data_key(meta: &Metadata, ids: &Identities) -> Result<DataKey, KeyError> {
    let groups = &meta.key_groups;
    let n = groups.len();
    let needed = needed_recipients(groups);
    let fail = |detail: String| KeyError::NoMatchingIdentity {
        needed: needed.clone(),
        report: ids.report.clone(),
        detail,
    };
    if n == 0 {
        return Err(fail("the file lists no key groups".to_string()));
    }
    let want = if n == 1 {
        1
    } else if meta.shamir_threshold == 0 {
        n
    } else {
        meta.shamir_threshold
    };
    let mut notes = Vec::new();
    if ids.is_empty() {
        notes.push("no identities were found".to_string());
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    if want <= n {
        for (gi, group) in groups.iter().enumerate() {
            let pgp_keys = group_pgp(group);
            if group.age.is_empty() && pgp_keys.is_empty() {
                notes.push(format!(
                    "key group {} has no age or PGP keys (seal speaks age and PGP only)",
                    gi + 1
                ));
                continue;
            }
            let opened =
                open_group(group, ids, &mut notes).or_else(|| open_pgp(&pgp_keys, &mut notes));
            if let Some(payload) = opened {
                shares.push(payload);
                if shares.len() >= want {
                    break;
                }
            }
        }
    }
    let summary = if n == 1 {
        "needs the one key group, opened none".to_string()
    } else {
        format!("needs {want} of {n} key groups, opened {}", shares.len())
    };
    if shares.len() < want {
        let mut detail = summary;
        for note in notes {
            detail.push_str("; ");
            detail.push_str(&note);
        }
        return Err(fail(detail));
    }
    let key_bytes = if n == 1 {
        shares.pop().unwrap_or_default()
    } else {
        let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        crate::shamir::combine(&refs)
            .map_err(|e| fail(format!("the key group shares do not combine: {e}")))?
    };
    DataKey::from_slice(&key_bytes).map_err(|_| {
        fail(format!(
            "the recovered data key is {} bytes long, expected 32",
            key_bytes.len()
        ))
    })
}

/// Unwrap one age key, Ok(None) when no identity matches.
pub fn unwrap_one(key: &AgeKey, ids: &Identities) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    let mut notes = Vec::new();
    match try_key(key, ids, &mut notes) {
        KeyAttempt::Opened(p) => Ok(Some(p)),
        KeyAttempt::NoMatch => Ok(None),
        KeyAttempt::Malformed(reason) => Err(KeyError::NoMatchingIdentity {
            needed: vec![vec![key.recipient.clone()]],
            report: ids.report.clone(),
            detail: reason,
        }),
    }
}

/// Errors of the key layer.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A recipient string is not valid.
    #[error("invalid age recipient {recipient:?}: {reason}")]
    BadRecipient {
        /// The recipient as given.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// The data key could not be recovered (sops exit 128). The message names the
    /// recipients the file needs and where seal looked.
    #[error("could not decrypt the data key with any of the available identities")]
    NoMatchingIdentity {
        /// The file's recipients, per group.
        needed: Vec<Vec<String>>,
        /// Where seal looked.
        report: Vec<SourceReport>,
        /// How many groups are needed and how many were opened (Shamir).
        detail: String,
    },
    /// Wrapping failed.
    #[error("could not encrypt the data key for {recipient}: {reason}")]
    Wrap {
        /// Recipient.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// A non-age master key type was requested (seal speaks age only).
    #[error("{0}")]
    Unsupported(String),
}

// ---------------------------------------------------------------------------------------
// Recipients
// ---------------------------------------------------------------------------------------

enum ParsedRecipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl ParsedRecipient {
    fn as_dyn(&self) -> &dyn age::Recipient {
        match self {
            ParsedRecipient::X25519(r) => r,
            ParsedRecipient::Ssh(r) => r,
        }
    }
}

const RECIPIENT_SHAPE: &str = "a recipient is an age public key (age1… as printed by \
     age-keygen) or an SSH public key line (ssh-ed25519 AAAA… or ssh-rsa AAAA…)";

fn parse_recipient(recipient: &str) -> Result<ParsedRecipient, KeyError> {
    let r = recipient.trim();
    let bad = |reason: String| KeyError::BadRecipient {
        recipient: r.to_string(),
        reason,
    };
    if r.is_empty() {
        return Err(bad(format!("it is empty; {RECIPIENT_SHAPE}")));
    }
    if let Some(rest) = r.strip_prefix("age1") {
        if rest.contains('1') {
            let name = rest.split('1').next().unwrap_or_default();
            return Err(KeyError::Unsupported(format!(
                "the age recipient {r:?} is for the age plugin {name:?}; seal does not run \
                 age plugins (use an X25519 age1… key or an SSH key)"
            )));
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

/// `age1…` as is; SSH public key lines reduced to `type base64` (comment dropped).
fn normalize_recipient(r: &str) -> String {
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

enum KeyAttempt {
    Opened(Zeroizing<Vec<u8>>),
    NoMatch,
    Malformed(String),
}

/// Try the keys of one group (those whose recipient we hold first); the first that
/// opens wins.
fn open_group(
    group: &KeyGroup,
    ids: &Identities,
    notes: &mut Vec<String>,
) -> Option<Zeroizing<Vec<u8>>> {
    let known: Vec<&str> = ids
        .info
        .iter()
        .filter_map(|i| i.recipient.as_deref())
        .collect();
    let mut order: Vec<&AgeKey> = Vec::with_capacity(group.age.len());
    let held = |k: &AgeKey| known.contains(&normalize_recipient(&k.recipient).as_str());
    order.extend(group.age.iter().filter(|k| held(k)));
    order.extend(group.age.iter().filter(|k| !held(k)));
    for key in order {
        match try_key(key, ids, notes) {
            KeyAttempt::Opened(p) => return Some(p),
            KeyAttempt::NoMatch => {}
            KeyAttempt::Malformed(reason) => notes.push(reason),
        }
    }
    None
}

/// Try every identity on one age key: first the identity whose public key is the key's
/// recipient, then the other identities with a known public key, then those without
/// one (passphrase-protected files, which may prompt).
fn try_key(key: &AgeKey, ids: &Identities, notes: &mut Vec<String>) -> KeyAttempt {
    let raw = match dearmor(&key.enc) {
        Ok(r) => r,
        Err(reason) => {
            return KeyAttempt::Malformed(format!(
                "the age key for {} is not a valid armored age file: {reason}",
                key.recipient
            ));
        }
    };
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
        let decryptor = match age::Decryptor::new_buffered(&raw[..]) {
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

/// A key group's recipients as rules and flags name them: age recipients, then PGP
/// fingerprints tagged `pgp:` (what [`wrap_groups`] takes back).
pub fn group_recipients(group: &KeyGroup) -> Vec<String> {
    let mut v: Vec<String> = group.age.iter().map(|k| k.recipient.clone()).collect();
    v.extend(group_pgp(group).iter().map(|k| pgp::tag(&k.fp)));
    v
}

/// True when a group holds master keys seal cannot wrap for (neither age nor PGP).
pub fn has_foreign_keys(group: &KeyGroup) -> bool {
    group
        .other
        .iter()
        .any(|(kind, list)| kind != "pgp" && !list.is_empty())
}

/// The PGP entries of a key group.
fn group_pgp(group: &KeyGroup) -> Vec<pgp::PgpKey> {
    group
        .other
        .iter()
        .filter(|(kind, _)| kind == "pgp")
        .flat_map(|(_, list)| pgp::entries(list))
        .collect()
}

/// Try a group's PGP keys through gpg (after its age keys, as sops tries age first); the
/// first that opens wins.
fn open_pgp(keys: &[pgp::PgpKey], notes: &mut Vec<String>) -> Option<Zeroizing<Vec<u8>>> {
    for key in keys {
        match pgp::unwrap(key) {
            Ok(p) => return Some(p),
            Err(reason) => {
                let note = format!("PGP key {}: {reason}", key.fp);
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
    }
    None
}

fn dearmor(enc: &str) -> Result<Vec<u8>, String> {
    let mut reader = age::armor::ArmoredReader::new(enc.trim_start().as_bytes());
    let mut raw = Vec::with_capacity(enc.len());
    reader
        .read_to_end(&mut raw)
        .map_err(|e| strip_bidi(&e.to_string()))?;
    Ok(raw)
}

fn needed_recipients(groups: &[KeyGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| {
            let mut v: Vec<String> = g.age.iter().map(|k| k.recipient.clone()).collect();
            for (kind, entries) in &g.other {
                if kind == "pgp" {
                    v.extend(
                        pgp::entries(entries)
                            .iter()
                            .map(|k| format!("PGP {}", k.fp)),
                    );
                    continue;
                }
                v.push(format!(
                    "{} {kind} key{} (not supported by seal)",
                    entries.len(),
                    if entries.len() == 1 { "" } else { "s" }
                ));
            }
            v
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Identity sources
// ---------------------------------------------------------------------------------------

struct ParsedText {
    identities: Vec<age::x25519::Identity>,
    plugin_lines: Vec<usize>,
}

/// Identities text: one per line, blank and `#` lines ignored. Errors name the line, never
/// its content.
fn parse_identity_text(text: &str) -> Result<ParsedText, String> {
    let mut out = ParsedText {
        identities: Vec::new(),
        plugin_lines: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("AGE-PLUGIN-") {
            out.plugin_lines.push(line_no);
        } else if line.starts_with("AGE-SECRET-KEY-1") {
            let id = line.parse::<age::x25519::Identity>().map_err(|_| {
                format!("line {line_no} is not a valid AGE-SECRET-KEY-1… identity (bad length, character or checksum)")
            })?;
            out.identities.push(id);
        } else if line.starts_with("-----BEGIN OPENSSH PRIVATE KEY")
            || line.starts_with("-----BEGIN RSA PRIVATE KEY")
        {
            return Err(format!(
                "line {line_no} starts an SSH private key; point SOPS_AGE_SSH_PRIVATE_KEY_FILE at SSH keys instead"
            ));
        } else {
            return Err(format!(
                "line {line_no} is not an age identity (expected AGE-SECRET-KEY-1…, a # comment or a blank line)"
            ));
        }
    }
    Ok(out)
}

fn count_identities(publics: &[String]) -> String {
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
fn abbreviate(public: &str) -> String {
    let limit = if public.starts_with("ssh-") { 28 } else { 16 };
    if public.chars().count() <= limit {
        public.to_string()
    } else {
        let head: String = public.chars().take(limit).collect();
        format!("{head}…")
    }
}

fn join_numbers(ns: &[usize]) -> String {
    ns.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read a secret file (identities, passphrase); warns, as ssh does, when the file belongs to
/// the current user and other users may read or write it.
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
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
fn current_uid() -> Option<u32> {
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
fn exposure_warning(path: &Path, meta: &std::fs::Metadata, uid: Option<u32>) -> Option<String> {
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
fn run_key_command(cmd: &str) -> Result<Vec<u8>, String> {
    let args = shlex::split(cmd)
        .ok_or_else(|| "cannot split the command (unbalanced quotes or escape)".to_string())?;
    let Some((program, rest)) = args.split_first() else {
        return Err("the command is empty".to_string());
    };
    let output = std::process::Command::new(program)
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
fn default_keys_file(env: &dyn Env) -> Option<(PathBuf, String)> {
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

fn unsupported_ssh_reason(identity: &age::ssh::Identity) -> String {
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

/// age's messages wrap names in Unicode bidi isolates (U+2068/U+2069): drop them.
fn strip_bidi(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '\u{2068}' && *c != '\u{2069}')
        .collect()
}

fn age_message(e: &dyn std::fmt::Display) -> String {
    strip_bidi(&e.to_string()).trim().to_string()
}

// ---------------------------------------------------------------------------------------
// Passphrases and lazily decrypted identities
// ---------------------------------------------------------------------------------------

/// Passphrase source for encrypted identities and SSH keys: `SEAL_PASSPHRASE_FILE` (first
/// line), `SEAL_PASSPHRASE`, else a terminal prompt when allowed.
#[derive(Clone)]
struct PassphraseCallbacks {
    file: Option<PathBuf>,
    value: Option<Arc<Zeroizing<String>>>,
    interactive: bool,
    /// Why the last request gave no passphrase (for the "no identity" message).
    problem: Arc<Mutex<Option<String>>>,
}

impl PassphraseCallbacks {
    fn from_env(env: &dyn Env) -> PassphraseCallbacks {
        PassphraseCallbacks {
            file: env
                .var("SEAL_PASSPHRASE_FILE")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            value: env
                .var("SEAL_PASSPHRASE")
                .map(|s| Arc::new(Zeroizing::new(s))),
            interactive: env.interactive(),
            problem: Arc::new(Mutex::new(None)),
        }
    }

    fn set_problem(&self, p: Option<String>) {
        if let Ok(mut g) = self.problem.lock() {
            *g = p;
        }
    }

    fn passphrase(&self, description: &str) -> Result<SecretString, String> {
        if let Some(path) = &self.file {
            let bytes = read_limited(path)
                .map_err(|e| format!("SEAL_PASSPHRASE_FILE={}: {e}", path.display()))?;
            let bytes = Zeroizing::new(bytes);
            let mut first = Zeroizing::new(String::new());
            BufReader::new(&bytes[..])
                .read_line(&mut first)
                .map_err(|_| format!("SEAL_PASSPHRASE_FILE={}: not UTF-8 text", path.display()))?;
            let line = first.trim_end_matches(['\n', '\r']);
            return Ok(SecretString::from(line.to_string()));
        }
        if let Some(v) = &self.value {
            return Ok(SecretString::from(v.as_str().to_string()));
        }
        if self.interactive {
            let prompt = format!("{}: ", strip_bidi(description).trim_end_matches(':'));
            return rpassword::prompt_password(prompt)
                .map(SecretString::from)
                .map_err(|e| format!("cannot read the passphrase from the terminal: {e}"));
        }
        Err(
            "it is passphrase-protected and no passphrase is available (set \
             SEAL_PASSPHRASE_FILE or SEAL_PASSPHRASE, or run seal in a terminal)"
                .to_string(),
        )
    }
}

impl age::Callbacks for PassphraseCallbacks {
    fn display_message(&self, _message: &str) {}

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        match self.passphrase(description) {
            Ok(p) => {
                self.set_problem(None);
                Some(p)
            }
            Err(problem) => {
                self.set_problem(Some(problem));
                None
            }
        }
    }
}

type EncryptedInner = age::encrypted::Identity<
    age::armor::ArmoredReader<BufReader<Cursor<Vec<u8>>>>,
    PassphraseCallbacks,
>;

/// `age::encrypted::Identity` caches its decryption in a `Cell`; the lock makes it `Sync`.
struct LockedEncrypted(Mutex<EncryptedInner>);

impl age::Identity for LockedEncrypted {
    fn unwrap_stanza(
        &self,
        stanza: &age_core_stanza::Stanza,
    ) -> Option<Result<age_core_stanza::FileKey, age::DecryptError>> {
        match self.0.lock() {
            Ok(inner) => inner.unwrap_stanza(stanza),
            Err(_) => Some(Err(age::DecryptError::KeyDecryptionFailed)),
        }
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core_stanza::Stanza],
    ) -> Option<Result<age_core_stanza::FileKey, age::DecryptError>> {
        match self.0.lock() {
            Ok(inner) => inner.unwrap_stanzas(stanzas),
            Err(_) => Some(Err(age::DecryptError::KeyDecryptionFailed)),
        }
    }
}

/// A passphrase-protected SSH key, decrypted once on first use (age's own wrapper asks
/// for the passphrase on every stanza).
struct LockedSsh {
    label: String,
    key: age::ssh::Identity,
    callbacks: PassphraseCallbacks,
    state: Mutex<Option<Result<age::ssh::Identity, age::DecryptError>>>,
}

impl age::Identity for LockedSsh {
    fn unwrap_stanza(
        &self,
        stanza: &age_core_stanza::Stanza,
    ) -> Option<Result<age_core_stanza::FileKey, age::DecryptError>> {
        let age::ssh::Identity::Encrypted(enc) = &self.key else {
            return self.key.unwrap_stanza(stanza);
        };
        // Only ask for the passphrase when the stanza is for this key: the unencrypted
        // public part tells (ssh stanzas carry a tag of the public key).
        let Ok(mut state) = self.state.lock() else {
            return Some(Err(age::DecryptError::KeyDecryptionFailed));
        };
        if state.is_none() {
            if !stanza_is_for_ssh_key(stanza, &self.key) {
                return None;
            }
            let prompt = format!("Passphrase for the SSH key {}", self.label);
            let result = match age::Callbacks::request_passphrase(&self.callbacks, &prompt) {
                Some(p) => enc.decrypt(p).map(age::ssh::Identity::from),
                None => Err(age::DecryptError::KeyDecryptionFailed),
            };
            *state = Some(result);
        }
        match state.as_ref() {
            Some(Ok(id)) => id.unwrap_stanza(stanza),
            Some(Err(e)) => Some(Err(e.clone())),
            None => None,
        }
    }
}

/// age SSH stanzas are `ssh-ed25519 <tag> …` / `ssh-rsa <tag> …`, tag = the first 4 bytes
/// of SHA-256 of the SSH public key blob.
fn stanza_is_for_ssh_key(stanza: &age_core_stanza::Stanza, key: &age::ssh::Identity) -> bool {
    use base64::Engine as _;
    use sha2::Digest as _;
    let Ok(public) = age::ssh::Recipient::try_from(key.clone()) else {
        return false;
    };
    let text = public.to_string();
    let mut parts = text.split(' ');
    let (Some(kind), Some(b64)) = (parts.next(), parts.next()) else {
        return false;
    };
    if stanza.tag != kind {
        return false;
    }
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    let digest = sha2::Sha256::digest(&blob);
    let tag = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..4]);
    stanza.args.first().map(String::as_str) == Some(tag.as_str())
}

/// The stanza and file key types of the `age::Identity` trait (defined in `age-core`).
mod age_core_stanza {
    pub use age_core::format::{FileKey, Stanza};
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::process::{Command, Stdio};

    use age::secrecy::ExposeSecret;
    use proptest::prelude::*;

    const CONFORMANCE: crate::testdata::SharedDir = crate::testdata::SharedDir("conformance");
    const ALICE_PUB: &str = "age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx";

    /// A fake environment: variables from a map, a home directory, never interactive.
    struct FakeEnv {
        vars: HashMap<String, String>,
        home: Option<PathBuf>,
    }

    impl FakeEnv {
        fn new(home: &Path) -> FakeEnv {
            FakeEnv {
                vars: HashMap::new(),
                home: Some(home.to_path_buf()),
            }
        }
        fn set(mut self, k: &str, v: impl Into<String>) -> FakeEnv {
            self.vars.insert(k.to_string(), v.into());
            self
        }
    }

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            self.home.clone()
        }
    }

    fn keyfile(name: &str) -> String {
        format!("{CONFORMANCE}/keys/{name}.txt")
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(path).expect("test fixture is readable")
    }

    fn gen_identity() -> (String, String) {
        let id = age::x25519::Identity::generate();
        (
            id.to_string().expose_secret().to_string(),
            id.to_public().to_string(),
        )
    }

    fn identities_from_text(text: &str) -> Identities {
        let home = tempfile::tempdir().expect("tempdir");
        Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY", text))
    }

    fn outcome<'a>(ids: &'a Identities, source_prefix: &str) -> &'a str {
        ids.report
            .iter()
            .find(|r| r.source.starts_with(source_prefix))
            .map(|r| r.outcome.as_str())
            .unwrap_or_else(|| panic!("no report for {source_prefix}: {:?}", ids.report))
    }

    #[test]
    fn entries_name_public_keys_and_sources_and_the_keyring_stays_off_in_tests() {
        let home = tempfile::tempdir().expect("tempdir");
        let (s1, p1) = gen_identity();
        let ids = Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY", s1));
        assert_eq!(
            ids.entries(),
            vec![IdentityEntry {
                public_key: Some(p1),
                source: "SOPS_AGE_KEY".to_string(),
                passphrase_protected: false,
            }]
        );
        assert!(!ids.report.iter().any(|r| r.source.starts_with("keyring")));
    }

    #[test]
    fn public_keys_of_plain_text_and_refusals() {
        let home = tempfile::tempdir().expect("tempdir");
        let env = FakeEnv::new(home.path());
        let (s1, p1) = gen_identity();
        let (s2, p2) = gen_identity();
        let text = format!("# c\n{s1}\n\n{s2}\n");
        assert_eq!(
            public_keys_of(text.as_bytes(), "t", &env).expect("ok"),
            vec![p1, p2]
        );
        let e = public_keys_of(b"# only a comment\n", "t", &env).expect_err("empty");
        assert!(e.contains("no identity"), "{e}");
        let e = public_keys_of(b"-----BEGIN AGE ENCRYPTED FILE-----\n", "t", &env)
            .expect_err("no passphrase source");
        assert!(e.contains("SEAL_PASSPHRASE_FILE"), "{e}");
        let junk = public_keys_of(b"AGE-SECRET-KEY-1SECRETJUNK\n", "t", &env).expect_err("junk");
        assert!(
            junk.contains("line 1") && !junk.contains("SECRETJUNK"),
            "{junk}"
        );
    }

    #[test]
    fn configured_passphrase_prefers_the_file() {
        let home = tempfile::tempdir().expect("tempdir");
        let file = home.path().join("p");
        std::fs::write(&file, "from file\nignored\n").expect("write");
        let env = FakeEnv::new(home.path());
        assert!(configured_passphrase(&env).is_none());
        let env = env.set("SEAL_PASSPHRASE", "from var");
        let got = configured_passphrase(&env).expect("set").expect("ok");
        assert_eq!(got.expose_secret(), "from var");
        let env = env.set("SEAL_PASSPHRASE_FILE", file.to_string_lossy().to_string());
        let got = configured_passphrase(&env).expect("set").expect("ok");
        assert_eq!(got.expose_secret(), "from file");
    }

    /// The armored `enc` blocks of a sops YAML file, in order (indentation removed).
    fn enc_blocks(yaml: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur: Option<String> = None;
        for line in yaml.lines() {
            let t = line.trim();
            if let Some(c) = cur.as_mut() {
                c.push_str(t);
                c.push('\n');
                if t == "-----END AGE ENCRYPTED FILE-----" {
                    out.extend(cur.take());
                }
            } else if t == "-----BEGIN AGE ENCRYPTED FILE-----" {
                cur = Some(format!("{t}\n"));
            }
        }
        out
    }

    /// `age -d -i identity_file` on `armored` (fails the test when age is missing).
    fn age_cli_decrypt(identity_file: &Path, armored: &str) -> Vec<u8> {
        let mut child = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(identity_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the `age` CLI must be installed for the interop tests");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(armored.as_bytes())
            .expect("write to age");
        let out = child.wait_with_output().expect("age runs");
        assert!(
            out.status.success(),
            "age -d failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn ssh_keygen(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, String) {
        let path = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-C",
                "test@seal",
                "-N",
                passphrase,
                "-f",
            ])
            .arg(&path)
            .stdin(Stdio::null())
            .status()
            .expect("ssh-keygen must be installed for the SSH tests");
        assert!(status.success());
        let public = std::fs::read_to_string(path.with_extension("pub")).expect("pub key");
        (path, public.trim().to_string())
    }

    // ---- wrap / unwrap -------------------------------------------------------------

    #[test]
    fn wrap_makes_one_armored_single_stanza_file() {
        let (_, public) = gen_identity();
        let enc = wrap(&public, &[7u8; 32]).expect("wrap");
        assert!(
            enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
            "{enc}"
        );
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"), "{enc}");
        assert!(enc.lines().all(|l| l.len() <= 64));
        let raw = dearmor(&enc).expect("dearmor");
        let header_end = raw
            .windows(4)
            .position(|w| w == b"\n---")
            .expect("header end");
        let header = String::from_utf8_lossy(&raw[..header_end]);
        // One recipient stanza; the age crate adds a random `*-grease` stanza that every
        // age implementation (Go age, sops) ignores.
        let stanzas: Vec<&str> = header
            .split("\n-> ")
            .skip(1)
            .filter_map(|st| st.split([' ', '\n']).next())
            .filter(|tag| !tag.ends_with("-grease"))
            .collect();
        assert_eq!(stanzas, ["X25519"], "{header}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn wrap_unwrap_round_trip(payload in proptest::collection::vec(any::<u8>(), 32..=33)) {
            let (secret, public) = gen_identity();
            let ids = identities_from_text(&secret);
            let key = AgeKey { recipient: public.clone(), enc: wrap(&public, &payload).expect("wrap") };
            let got = unwrap_one(&key, &ids).expect("no error").expect("opens");
            prop_assert_eq!(&got[..], &payload[..]);
            // Another identity does not open it.
            let (other, _) = gen_identity();
            let ids2 = identities_from_text(&other);
            prop_assert!(unwrap_one(&key, &ids2).expect("no error").is_none());
        }
    }

    #[test]
    fn unwraps_real_sops_file_like_the_age_cli() {
        let yaml = read(&format!(
            "{CONFORMANCE}/cases/k8s-secret-encrypted-regex/enc.yaml"
        ));
        let blocks = enc_blocks(&yaml);
        assert_eq!(blocks.len(), 1);
        let ids = identities_from_text(&read(&keyfile("alice")));
        let key = AgeKey {
            recipient: ALICE_PUB.to_string(),
            enc: blocks[0].clone(),
        };
        let ours = unwrap_one(&key, &ids)
            .expect("no error")
            .expect("alice opens it");
        let theirs = age_cli_decrypt(Path::new(&keyfile("alice")), &blocks[0]);
        assert_eq!(ours.len(), 32);
        assert_eq!(&ours[..], &theirs[..]);
        // bob cannot.
        let bob = identities_from_text(&read(&keyfile("bob")));
        assert!(unwrap_one(&key, &bob).expect("no error").is_none());
    }

    #[test]
    fn age_cli_decrypts_what_wrap_makes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (secret, public) = gen_identity();
        let idfile = dir.path().join("keys.txt");
        std::fs::write(&idfile, format!("{secret}\n")).expect("write");
        let payload: Vec<u8> = (0u8..33).collect();
        let enc = wrap(&public, &payload).expect("wrap");
        assert_eq!(age_cli_decrypt(&idfile, &enc), payload);

        let (ssh_key, ssh_pub) = ssh_keygen(dir.path(), "id_ed25519", "");
        let enc = wrap(&ssh_pub, &payload).expect("wrap ssh");
        assert_eq!(age_cli_decrypt(&ssh_key, &enc), payload);
    }

    /// Real sops 3.11 decrypts a file whose `age` entry seal wrote (x25519 and SSH).
    /// Fails (never skips) when the real sops is missing.
    #[test]
    fn real_sops_accepts_what_wrap_makes() {
        let sops_path = crate::testdata::sops_bin();
        let sops = sops_path.as_path();
        let case = format!("{CONFORMANCE}/cases/k8s-secret-encrypted-regex");
        let yaml = read(&format!("{case}/enc.yaml"));
        let expected = std::fs::read(format!("{case}/dec.yaml")).expect("dec.yaml");
        let old = enc_blocks(&yaml).remove(0);
        let data_key = age_cli_decrypt(Path::new(&keyfile("alice")), &old);
        let indent = |block: &str| {
            block
                .lines()
                .map(|l| format!("            {l}\n"))
                .collect::<String>()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        let (ssh_key, ssh_pub) = ssh_keygen(dir.path(), "id_test", "");
        for (recipient, env_name, env_value) in [
            (ALICE_PUB.to_string(), "SOPS_AGE_KEY_FILE", keyfile("alice")),
            (
                ssh_pub.clone(),
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
                ssh_key.to_string_lossy().into_owned(),
            ),
        ] {
            let new = wrap(&recipient, &data_key).expect("wrap");
            let edited = yaml.replace(&indent(&old), &indent(&new)).replace(
                &format!("- recipient: {ALICE_PUB}"),
                &format!("- recipient: {recipient}"),
            );
            assert_ne!(edited, yaml);
            let file = dir.path().join("enc.yaml");
            std::fs::write(&file, edited).expect("write");
            let out = Command::new(sops)
                .arg("decrypt")
                .arg(&file)
                .env_clear()
                .env("HOME", &home)
                .env("PATH", "/usr/bin:/bin")
                .env(env_name, env_value)
                .output()
                .expect("sops runs");
            assert!(
                out.status.success(),
                "sops failed for {recipient}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, expected);
        }
    }

    #[test]
    fn malformed_enc_is_an_error_naming_the_recipient() {
        let ids = identities_from_text(&read(&keyfile("alice")));
        let key = AgeKey {
            recipient: ALICE_PUB.to_string(),
            enc: "-----BEGIN AGE ENCRYPTED FILE-----\nnot base64!\n-----END AGE ENCRYPTED FILE-----\n"
                .to_string(),
        };
        match unwrap_one(&key, &ids) {
            Err(KeyError::NoMatchingIdentity { detail, .. }) => {
                assert!(detail.contains(ALICE_PUB), "{detail}")
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn matching_identity_is_tried_first() {
        let (s1, _) = gen_identity();
        let (s2, p2) = gen_identity();
        let ids = identities_from_text(&format!("{s1}\n{s2}\n"));
        let key = AgeKey {
            recipient: p2.clone(),
            enc: wrap(&p2, &[1; 32]).expect("wrap"),
        };
        let target = normalize_recipient(&key.recipient);
        assert_eq!(ids.info[1].recipient.as_deref(), Some(target.as_str()));
        assert!(unwrap_one(&key, &ids).expect("ok").is_some());
    }

    // ---- recipients ----------------------------------------------------------------

    #[test]
    fn recipients_are_checked_with_clear_messages() {
        assert!(check_recipient(ALICE_PUB).is_ok());
        assert!(check_recipient(&format!("  {ALICE_PUB} ")).is_ok());
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, ssh_pub) = ssh_keygen(dir.path(), "k", "");
        assert!(ssh_pub.ends_with(" test@seal"));
        assert!(check_recipient(&ssh_pub).is_ok());

        let e = check_recipient("hello").expect_err("garbage");
        let msg = e.to_string();
        assert!(msg.contains("age1") && msg.contains("ssh-ed25519"), "{msg}");
        assert!(matches!(e, KeyError::BadRecipient { .. }));

        // Last character changed (still in the bech32 alphabet): bad checksum.
        assert!(ALICE_PUB.ends_with('x'));
        let broken = format!("{}q", &ALICE_PUB[..ALICE_PUB.len() - 1]);
        assert!(matches!(
            check_recipient(&broken),
            Err(KeyError::BadRecipient { .. })
        ));
        let e = check_recipient("age1yubikey1qwertyqwerty").expect_err("plugin");
        assert!(
            matches!(&e, KeyError::Unsupported(m) if m.contains("yubikey")),
            "{e}"
        );
        assert!(check_recipient("").is_err());
        let e = check_recipient("ssh-dss AAAAB3NzaC1kc3MAAACBAP1 x").expect_err("dss");
        assert!(matches!(e, KeyError::BadRecipient { .. }));
    }

    // ---- discovery -----------------------------------------------------------------

    #[test]
    fn nothing_configured_reports_every_source() {
        let home = tempfile::tempdir().expect("tempdir");
        let ids = Identities::discover(&FakeEnv::new(home.path()));
        assert!(ids.is_empty());
        let sources: Vec<&str> = ids.report.iter().map(|r| r.source.as_str()).collect();
        assert_eq!(
            sources,
            [
                "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
                "~/.ssh/id_ed25519",
                "~/.ssh/id_rsa",
                "SOPS_AGE_KEY",
                "SOPS_AGE_KEY_FILE",
                "SOPS_AGE_KEY_CMD",
                "~/.config/sops/age/keys.txt",
            ]
        );
        assert_eq!(outcome(&ids, "~/.config"), "does not exist");
        assert_eq!(outcome(&ids, "SOPS_AGE_KEY_FILE"), "not set");
        let text = ids.report_text();
        assert!(
            text.contains("  ~/.config/sops/age/keys.txt: does not exist"),
            "{text}"
        );
    }

    #[test]
    fn all_sources_are_merged_in_sops_order() {
        let home = tempfile::tempdir().expect("tempdir");
        let xdg = home.path().join("xdg");
        std::fs::create_dir_all(xdg.join("sops/age")).expect("mkdir");
        let (dflt, dflt_pub) = gen_identity();
        std::fs::write(
            xdg.join("sops/age/keys.txt"),
            format!("# default\n{dflt}\n"),
        )
        .expect("w");
        let env = FakeEnv::new(home.path())
            .set("SOPS_AGE_KEY", read(&keyfile("alice")))
            .set("SOPS_AGE_KEY_FILE", keyfile("bob"))
            .set("SOPS_AGE_KEY_CMD", format!("cat '{}'", keyfile("carol")))
            .set("XDG_CONFIG_HOME", xdg.to_string_lossy());
        let ids = Identities::discover(&env);
        let pubs: Vec<String> = read(&format!("{CONFORMANCE}/keys/recipients.txt"))
            .lines()
            .filter(|l| l.starts_with("age1"))
            .map(str::to_string)
            .collect();
        assert_eq!(pubs.len(), 3);
        let mut want = pubs.clone();
        want.push(dflt_pub.clone());
        assert_eq!(ids.public_keys, want);
        assert_eq!(ids.identities.len(), 4);
        assert_eq!(
            outcome(&ids, "SOPS_AGE_KEY_FILE"),
            format!("1 identity ({}…)", &pubs[1][..16])
        );
        let file_report = ids
            .report
            .iter()
            .find(|r| r.source.starts_with("SOPS_AGE_KEY_FILE="))
            .expect("file report");
        assert_eq!(
            file_report.source,
            format!("SOPS_AGE_KEY_FILE={}", keyfile("bob"))
        );
        assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=").starts_with("1 identity"));
        let xdg_label = format!("{}/sops/age/keys.txt", xdg.display());
        assert!(outcome(&ids, &xdg_label).starts_with("1 identity"));
    }

    #[test]
    fn a_broken_source_does_not_stop_the_others_and_never_leaks_secrets() {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(home.path().join(".config/sops/age")).expect("mkdir");
        std::fs::copy(
            keyfile("alice"),
            home.path().join(".config/sops/age/keys.txt"),
        )
        .expect("copy");
        let (secret, _) = gen_identity();
        let broken = home.path().join("broken.txt");
        // A key with a typo in its prefix on line 2 (must not be echoed).
        let typo = secret.replacen("AGE-SECRET-KEY-1", "AGE-SECRET-KEY-2", 1);
        std::fs::write(&broken, format!("# comment\n{typo}\n{secret}\n")).expect("write");
        let env = FakeEnv::new(home.path())
            .set("SOPS_AGE_KEY_FILE", broken.to_string_lossy())
            .set("SOPS_AGE_KEY_CMD", "definitely-not-a-command-seal-test")
            .set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "/nonexistent/seal/key");
        let ids = Identities::discover(&env);
        assert_eq!(ids.public_keys, [ALICE_PUB]);
        let o = outcome(&ids, "SOPS_AGE_KEY_FILE=");
        assert!(o.contains("line 2 is not an age identity"), "{o}");
        assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=").contains("cannot run"));
        assert_eq!(
            outcome(&ids, "SOPS_AGE_SSH_PRIVATE_KEY_FILE="),
            "does not exist"
        );
        let all = format!("{:?}", ids.report);
        let body = &secret["AGE-SECRET-KEY-1".len()..];
        assert!(!all.contains(body), "a secret leaked into the report");

        // A bad checksum is named by line too.
        let mut chars: Vec<char> = secret.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == 'Q' { 'P' } else { 'Q' };
        let bad: String = chars.into_iter().collect();
        let ids = identities_from_text(&format!("\n{bad}\n"));
        assert!(ids.is_empty());
        let o = outcome(&ids, "SOPS_AGE_KEY");
        assert!(o.contains("line 2 is not a valid AGE-SECRET-KEY-1"), "{o}");
        assert!(!o.contains(&bad[20..]));
    }

    #[test]
    fn plugin_identities_are_reported_and_others_kept() {
        let (secret, public) = gen_identity();
        let text = format!("AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQ\n{secret}\n");
        let ids = identities_from_text(&text);
        assert_eq!(ids.public_keys, [public]);
        let o = outcome(&ids, "SOPS_AGE_KEY");
        assert!(
            o.contains("1 identity") && o.contains("plugin") && o.contains("line 1"),
            "{o}"
        );
    }

    #[test]
    fn failing_key_command_is_reported() {
        let home = tempfile::tempdir().expect("tempdir");
        let ids = Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY_CMD", "false"));
        assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=false").contains("failed"));
        let ids =
            Identities::discover(&FakeEnv::new(home.path()).set("SOPS_AGE_KEY_CMD", "echo 'oops"));
        assert!(outcome(&ids, "SOPS_AGE_KEY_CMD=").contains("cannot split"));
    }

    #[test]
    fn ssh_keys_from_home_and_env() {
        let home = tempfile::tempdir().expect("tempdir");
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(&ssh).expect("mkdir");
        let (_, home_pub) = ssh_keygen(&ssh, "id_ed25519", "");
        let other = tempfile::tempdir().expect("tempdir");
        let (env_key, env_pub) = ssh_keygen(other.path(), "deploy", "");
        let env = FakeEnv::new(home.path())
            .set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", env_key.to_string_lossy());
        let ids = Identities::discover(&env);
        assert_eq!(ids.public_keys.len(), 2);
        assert_eq!(ids.public_keys[0], normalize_recipient(&env_pub));
        assert_eq!(ids.public_keys[1], normalize_recipient(&home_pub));
        assert!(
            outcome(&ids, "~/.ssh/id_ed25519").starts_with("ssh-ed25519 key (ssh-ed25519 AAAA")
        );
        assert_eq!(outcome(&ids, "~/.ssh/id_rsa"), "does not exist");
        for public in [&env_pub, &home_pub] {
            let key = AgeKey {
                recipient: public.clone(),
                enc: wrap(public, &[9; 32]).expect("wrap"),
            };
            assert_eq!(
                &unwrap_one(&key, &ids).expect("ok").expect("opens")[..],
                &[9; 32]
            );
        }
        // An age key file pointed at SSH_PRIVATE_KEY_FILE is not an SSH key.
        let env = FakeEnv::new(other.path()).set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", keyfile("alice"));
        let ids = Identities::discover(&env);
        assert!(ids.is_empty());
        assert!(outcome(&ids, "SOPS_AGE_SSH_PRIVATE_KEY_FILE=").contains("not a supported SSH"));
    }

    #[test]
    fn passphrase_protected_ssh_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key_path, public) = ssh_keygen(dir.path(), "enc_key", "s3cret pass");
        let enc = wrap(&public, &[5; 32]).expect("wrap");
        let key = AgeKey {
            recipient: public.clone(),
            enc,
        };
        let base = FakeEnv::new(dir.path())
            .set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key_path.to_string_lossy());
        let ids = Identities::discover(&base.set("SEAL_PASSPHRASE", "s3cret pass"));
        assert!(outcome(&ids, "SOPS_AGE_SSH").contains("passphrase-protected key"));
        assert_eq!(
            &unwrap_one(&key, &ids).expect("ok").expect("opens")[..],
            &[5; 32]
        );
        // Without a passphrase: no match, with a reason.
        let ids = Identities::discover(
            &FakeEnv::new(dir.path())
                .set("SOPS_AGE_SSH_PRIVATE_KEY_FILE", key_path.to_string_lossy()),
        );
        let mut notes = Vec::new();
        assert!(matches!(
            try_key(&key, &ids, &mut notes),
            KeyAttempt::NoMatch
        ));
        assert!(
            notes
                .iter()
                .any(|n| n.contains("no passphrase is available")),
            "{notes:?}"
        );
    }

    /// An armored, passphrase-encrypted identity file made with a low scrypt work factor.
    fn encrypted_identity_file(identities: &str, passphrase: &str) -> Vec<u8> {
        let mut r = age::scrypt::Recipient::new(SecretString::from(passphrase.to_string()));
        r.set_work_factor(4);
        let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
            .expect("encryptor");
        let mut out = Vec::new();
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .expect("armor");
        let mut w = enc.wrap_output(armor).expect("wrap");
        w.write_all(identities.as_bytes()).expect("write");
        w.finish().and_then(|a| a.finish()).expect("finish");
        out
    }

    #[test]
    fn encrypted_identity_file_with_passphrase_sources() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (secret, public) = gen_identity();
        let file = dir.path().join("keys.txt.age");
        std::fs::write(
            &file,
            encrypted_identity_file(&format!("{secret}\n"), "hunter2"),
        )
        .expect("write");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "hunter2\nignored second line\n").expect("write");
        let key = AgeKey {
            recipient: public.clone(),
            enc: wrap(&public, &[3; 32]).expect("wrap"),
        };
        let env = || FakeEnv::new(dir.path()).set("SOPS_AGE_KEY_FILE", file.to_string_lossy());

        let ids =
            Identities::discover(&env().set("SEAL_PASSPHRASE_FILE", pwfile.to_string_lossy()));
        assert!(outcome(&ids, "SOPS_AGE_KEY_FILE=").contains("passphrase-protected identity file"));
        assert_eq!(
            &unwrap_one(&key, &ids).expect("ok").expect("opens")[..],
            &[3; 32]
        );

        let ids = Identities::discover(&env().set("SEAL_PASSPHRASE", "hunter2"));
        assert!(unwrap_one(&key, &ids).expect("ok").is_some());

        let ids = Identities::discover(&env().set("SEAL_PASSPHRASE", "wrong"));
        let mut notes = Vec::new();
        assert!(matches!(
            try_key(&key, &ids, &mut notes),
            KeyAttempt::NoMatch
        ));
        assert!(
            notes.iter().any(|n| n.contains("wrong passphrase")),
            "{notes:?}"
        );

        let ids = Identities::discover(&env());
        let mut notes = Vec::new();
        assert!(matches!(
            try_key(&key, &ids, &mut notes),
            KeyAttempt::NoMatch
        ));
        assert!(
            notes
                .iter()
                .any(|n| n.contains("SEAL_PASSPHRASE_FILE or SEAL_PASSPHRASE")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_locked_identity_does_not_hide_a_plain_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (locked, _) = gen_identity();
        let file = dir.path().join("locked.age");
        std::fs::write(&file, encrypted_identity_file(&locked, "pw")).expect("write");
        std::fs::create_dir_all(dir.path().join(".config/sops/age")).expect("mkdir");
        std::fs::copy(
            keyfile("alice"),
            dir.path().join(".config/sops/age/keys.txt"),
        )
        .expect("copy");
        let ids = Identities::discover(
            &FakeEnv::new(dir.path()).set("SOPS_AGE_KEY_FILE", file.to_string_lossy()),
        );
        // The metadata names a recipient nobody holds, so every identity is tried, the
        // locked one last; alice still opens the key.
        let yaml = read(&format!(
            "{CONFORMANCE}/cases/k8s-secret-encrypted-regex/enc.yaml"
        ));
        let key = AgeKey {
            recipient: "age1unknownrecipient".to_string(),
            enc: enc_blocks(&yaml).remove(0),
        };
        assert!(unwrap_one(&key, &ids).expect("ok").is_some());
    }

    // ---- key groups ----------------------------------------------------------------

    fn shamir_case() -> (Vec<KeyGroup>, Vec<String>) {
        let yaml = read(&format!("{CONFORMANCE}/cases/shamir-key-groups/enc.yaml"));
        let recipients: Vec<String> = yaml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- recipient: "))
            .map(str::to_string)
            .collect();
        let blocks = enc_blocks(&yaml);
        assert_eq!(recipients.len(), 3);
        assert_eq!(blocks.len(), 3);
        let groups = recipients
            .iter()
            .zip(blocks)
            .map(|(r, enc)| KeyGroup {
                age: vec![AgeKey {
                    recipient: r.clone(),
                    enc,
                }],
                other: Vec::new(),
            })
            .collect();
        (groups, recipients)
    }

    fn meta(groups: Vec<KeyGroup>, threshold: usize) -> Metadata {
        Metadata {
            key_groups: groups,
            shamir_threshold: threshold,
            lastmodified: String::new(),
            mac: String::new(),
            selector: None,
            mac_only_encrypted: false,
            version: "3.11.0".to_string(),
        }
    }

    #[test]
    fn shamir_shares_unwrap_like_the_age_cli() {
        let (groups, _) = shamir_case();
        for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
            let ids = identities_from_text(&read(&keyfile(name)));
            let share = unwrap_one(&groups[i].age[0], &ids)
                .expect("ok")
                .expect("opens");
            let cli = age_cli_decrypt(Path::new(&keyfile(name)), &groups[i].age[0].enc);
            assert_eq!(&share[..], &cli[..]);
            assert_eq!(share.len(), 33);
            assert_eq!(share[32], i as u8 + 1, "x coordinate = group index + 1");
        }
    }

    #[test]
    fn too_few_groups_is_reported_with_recipients_and_sources() {
        let (groups, recipients) = shamir_case();
        let ids = identities_from_text(&read(&keyfile("alice")));
        let err = recover_data_key(&meta(groups, 2), &ids).expect_err("one group only");
        let KeyError::NoMatchingIdentity { needed, detail, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(
            detail.starts_with("needs 2 of 3 key groups, opened 1"),
            "{detail}"
        );
        assert_eq!(
            needed,
            &recipients
                .iter()
                .map(|r| vec![r.clone()])
                .collect::<Vec<_>>()
        );
        let text = err.explanation().expect("explanation");
        assert!(
            text.contains("key group 3:") && text.contains("SOPS_AGE_KEY: 1 identity"),
            "{text}"
        );
    }

    #[test]
    fn no_identity_for_a_single_group() {
        let (mut groups, _) = shamir_case();
        groups.truncate(1);
        let ids = identities_from_text(&read(&keyfile("bob")));
        let err = recover_data_key(&meta(groups, 0), &ids).expect_err("bob is not alice");
        assert!(matches!(err, KeyError::NoMatchingIdentity { .. }));
    }

    /// Tests that go through `crate::cipher::DataKey` and `crate::shamir`.
    mod needs_core {
        use super::*;

        pub(super) fn key() -> DataKey {
            DataKey::from_slice(&[0x42; 32]).unwrap_or_else(|_| panic!("32 bytes"))
        }

        #[test]
        fn wrap_groups_rejects_bad_shapes_before_touching_the_key() {
            let key = key();
            let (_, p) = gen_identity();
            assert!(wrap_groups(&[], 0, &key).is_err());
            assert!(wrap_groups(&[vec![p.clone()], vec![]], 0, &key).is_err());
            let e = wrap_groups(&[vec![p.clone()], vec![p.clone()]], 3, &key).expect_err("t > n");
            assert!(e.to_string().contains("between 2 and 2"), "{e}");
            let e = wrap_groups(&[vec![p.clone()], vec![p]], 1, &key).expect_err("t = 1");
            assert!(e.to_string().contains("between 2 and 2"), "{e}");
        }

        #[test]
        fn single_group_round_trip() {
            let (s1, p1) = gen_identity();
            let (_, p2) = gen_identity();
            let key = DataKey::generate();
            let groups = wrap_groups(&[vec![p1.clone(), p2.clone()]], 0, &key).expect("wrap");
            assert_eq!(groups.len(), 1);
            assert_eq!(groups[0].age.len(), 2);
            assert_eq!(groups[0].age[0].recipient, p1);
            let ids = identities_from_text(&s1);
            let got = recover_data_key(&meta(groups, 0), &ids).expect("recover");
            assert_eq!(got.as_bytes(), key.as_bytes());
        }

        #[test]
        fn shamir_round_trip_needs_threshold_groups() {
            let people: Vec<(String, String)> = (0..3).map(|_| gen_identity()).collect();
            let groups: Vec<Vec<String>> = people.iter().map(|(_, p)| vec![p.clone()]).collect();
            let key = DataKey::generate();
            let wrapped = wrap_groups(&groups, 2, &key).expect("wrap");
            assert_eq!(wrapped.len(), 3);
            let two = identities_from_text(&format!("{}\n{}\n", people[0].0, people[2].0));
            let got = recover_data_key(&meta(wrapped.clone(), 2), &two).expect("2 of 3");
            assert_eq!(got.as_bytes(), key.as_bytes());
            let one = identities_from_text(&people[1].0);
            assert!(recover_data_key(&meta(wrapped, 2), &one).is_err());
        }

        #[test]
        fn recovers_the_sops_shamir_corpus_key() {
            let (groups, _) = shamir_case();
            let ids = identities_from_text(&format!(
                "{}\n{}",
                read(&keyfile("bob")),
                read(&keyfile("carol"))
            ));
            let got = recover_data_key(&meta(groups.clone(), 2), &ids).expect("bob+carol");
            let ids = identities_from_text(&format!(
                "{}\n{}",
                read(&keyfile("alice")),
                read(&keyfile("carol"))
            ));
            let again = recover_data_key(&meta(groups, 2), &ids).expect("alice+carol");
            assert_eq!(got.as_bytes(), again.as_bytes());
        }

        #[test]
        fn recovers_the_sops_single_group_key() {
            let yaml = read(&format!(
                "{CONFORMANCE}/cases/k8s-secret-encrypted-regex/enc.yaml"
            ));
            let group = KeyGroup {
                age: vec![AgeKey {
                    recipient: ALICE_PUB.to_string(),
                    enc: enc_blocks(&yaml).remove(0),
                }],
                other: Vec::new(),
            };
            let ids = identities_from_text(&read(&keyfile("alice")));
            let got = recover_data_key(&meta(vec![group.clone()], 0), &ids).expect("alice");
            let cli = age_cli_decrypt(Path::new(&keyfile("alice")), &group.age[0].enc);
            assert_eq!(&got.as_bytes()[..], &cli[..]);
        }
    }

    #[cfg(unix)]
    #[test]
    fn group_or_world_access_to_an_own_identity_file_warns() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.txt");
        std::fs::write(&p, "# nothing\n").unwrap();
        let me = std::fs::metadata(&p).unwrap().uid();
        for (mode, warns) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let m = std::fs::metadata(&p).unwrap();
            let w = exposure_warning(&p, &m, Some(me));
            assert_eq!(w.is_some(), warns, "mode {mode:o}: {w:?}");
            if let Some(w) = w {
                assert!(
                    w.contains(&format!("{mode:04o}")) && w.contains("chmod 600"),
                    "{w}"
                );
            }
            // Someone else's file: not ours to judge (as ssh).
            assert!(exposure_warning(&p, &m, Some(me.wrapping_add(1))).is_none());
        }
    }
}
