//! Where age identities are found, in the sops order (sops-format.md §11): SSH keys
//! (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`), `SOPS_AGE_KEY`,
//! `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the default keys.txt, then seal's OS keyring;
//! what each source gave (for messages), and the public keys of identity files.
//!
//! Decrypting reads the sources lazily ([`Identities::discover_lazy`]): `SOPS_AGE_KEY`,
//! `SOPS_AGE_KEY_FILE` and the default keys.txt first, then the key commands (per age key,
//! with `SOPS_AGE_RECIPIENT`), the SSH keys and the keyring, each only when the sources
//! before it did not open the data key. sops loads them all before trying any; the result
//! is the same, minus the commands, prompts and keyring calls that were not needed. The
//! report still lists every source, in sops's order.
//!
//! Discovery takes an environment lookup ([`Env`]) and a home directory so tests never
//! touch the real process environment. Reports name sources, line numbers and public keys,
//! never a secret.

use std::io::{BufReader, Cursor, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use zeroize::Zeroizing;

use super::age::{age_message, normalize_recipient, plugin_problem};
use super::passphrase::{LockedEncrypted, LockedSsh, PassphraseCallbacks, PluginIdentity};

mod sources;
#[cfg(test)]
pub(super) use sources::exposure_warning;
pub(super) use sources::read_limited;
use sources::*;
pub use sources::{configured_passphrase, format_report, public_keys_of};

/// Largest identity source seal reads (the limit sops applies to encrypted identity files).
pub(super) const MAX_SOURCE_BYTES: u64 = 16 << 20;

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
pub(super) struct IdentityInfo {
    /// Normalised public key (`age1…`, or `ssh-<type> <base64>` without comment).
    pub(super) recipient: Option<String>,
    /// The source it came from, for messages.
    pub(super) source: String,
    /// For passphrase-protected identities: why the last passphrase request failed.
    pub(super) passphrase_problem: Option<Arc<Mutex<Option<String>>>>,
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
    pub(super) info: Vec<IdentityInfo>,
    /// The sources of [`Identities::discover_lazy`], in report order, each read when
    /// [`Identities::stages`] reaches it. Key commands among them run for each age key
    /// tried, with `SOPS_AGE_RECIPIENT` set to its recipient, as sops 3.12+ does.
    pending: Vec<Pending>,
    /// `SOPS_DECRYPTION_ORDER`: the key types a group's keys are tried in (empty: sops's
    /// default, age then PGP).
    pub decryption_order: Vec<String>,
}

/// A key command whose output holds identities (`SOPS_AGE_KEY_CMD`) or one SSH private
/// key (`SOPS_AGE_SSH_PRIVATE_KEY_CMD`).
#[derive(Clone)]
pub(super) enum KeyCommand {
    /// `SOPS_AGE_KEY_CMD`.
    Age(String, PassphraseCallbacks),
    /// `SOPS_AGE_SSH_PRIVATE_KEY_CMD`.
    Ssh(String),
}

/// One identity source of lazy discovery, read at most once.
struct Pending {
    /// Its place in the order sources are read (lower first).
    rank: u8,
    what: Source,
    pass: PassphraseCallbacks,
    loaded: OnceLock<Identities>,
}

/// Where a source's identities are.
enum Source {
    /// Nothing to read; the report says why (`not set`, …).
    Note { label: String, outcome: String },
    /// `SOPS_AGE_KEY`: the identities themselves.
    Text {
        label: String,
        text: Zeroizing<String>,
    },
    /// An identities file (`SOPS_AGE_KEY_FILE`, the default keys.txt).
    File { label: String, path: PathBuf },
    /// An SSH private key file; `optional`: a missing file is no error.
    Ssh {
        label: String,
        path: PathBuf,
        optional: bool,
    },
    /// A key command, run per age key (never loaded as a whole).
    Command(KeyCommand),
    /// The OS keyring under this service name.
    Keyring { service: String },
}

/// What [`Identities::stages`] gives: identities to try, or a key command to run per key.
pub(super) enum Stage<'a> {
    Loaded(&'a Identities),
    Command(&'a KeyCommand),
}

impl Pending {
    /// What the source gave, reading it the first time.
    fn get(&self) -> &Identities {
        self.loaded.get_or_init(|| self.load())
    }

    fn stage(&self) -> Option<Stage<'_>> {
        match &self.what {
            Source::Note { .. } => None,
            Source::Command(kc) => Some(Stage::Command(kc)),
            _ => Some(Stage::Loaded(self.get())),
        }
    }

    fn load(&self) -> Identities {
        let mut ids = Identities::default();
        match &self.what {
            Source::Note { label, outcome } => ids.note(label.clone(), outcome.clone()),
            Source::Text { label, text } => {
                ids.load_text(label.clone(), text.as_bytes().to_vec(), &self.pass, true)
            }
            Source::File { label, path } => match read_limited(path) {
                Ok(bytes) => ids.load_text(label.clone(), bytes, &self.pass, false),
                Err(e) => ids.note(label.clone(), e),
            },
            Source::Ssh {
                label,
                path,
                optional,
            } => ids.load_ssh_file(label.clone(), path, &self.pass, *optional),
            // Its report line only: a command runs per key (`Stage::Command`).
            Source::Command(kc) => ids.command(kc.clone(), true, None),
            Source::Keyring { service } => ids.load_keyring(service),
        }
        ids
    }
}

/// The variable sops sets for a key command: the recipient of the age key being opened.
pub const RECIPIENT_VAR: &str = "SOPS_AGE_RECIPIENT";

impl Identities {
    /// Load from the sops sources in sops order (sops-format.md §11). A source that fails to
    /// parse is reported (not fatal unless no identity at all is found).
    pub fn discover(env: &dyn Env) -> Identities {
        Identities::discover_with(env, false)
    }

    /// Like [`Identities::discover`], but nothing is read here: each source is read when
    /// unwrapping reaches it ([`Identities::stages`]), and not at all once an earlier
    /// source opened the key. Key commands run as in sops (3.12+) when an age key has to be
    /// opened, once per key tried, with `SOPS_AGE_RECIPIENT` set to that key's recipient,
    /// and never for a file no age key of which is tried (one a PGP key opens, for
    /// instance).
    pub fn discover_lazy(env: &dyn Env) -> Identities {
        Identities::discover_with(env, true)
    }

    fn discover_with(env: &dyn Env, lazy: bool) -> Identities {
        let mut ids = Identities {
            decryption_order: env
                .var("SOPS_DECRYPTION_ORDER")
                .unwrap_or_default()
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            ..Identities::default()
        };
        let pass = PassphraseCallbacks::from_env(env);
        let home = env.home();
        // The sources in report order (sops's, sops-format.md §11), each with its rank in
        // the order they are read when lazy: the age sources first, then the key command,
        // the SSH keys and the keyring (a command may be slow or prompt; an SSH key may ask
        // for a passphrase; the keyring is seal's own source).
        let mut pending: Vec<Pending> = Vec::new();
        let mut add = |rank: u8, what: Source| {
            pending.push(Pending {
                rank,
                what,
                pass: pass.clone(),
                loaded: OnceLock::new(),
            });
        };
        let note = |label: &str, outcome: &str| Source::Note {
            label: label.to_string(),
            outcome: outcome.to_string(),
        };

        // 1. SSH keys.
        match env.var("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            Some(p) if p.is_empty() => add(
                4,
                note(
                    &format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE={p}"),
                    "set but empty",
                ),
            ),
            Some(p) => add(
                4,
                Source::Ssh {
                    label: format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE={p}"),
                    path: PathBuf::from(p),
                    optional: false,
                },
            ),
            None => add(4, note("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "not set")),
        }
        // sops 3.12: a command whose stdout is one unencrypted SSH private key.
        match env.var("SOPS_AGE_SSH_PRIVATE_KEY_CMD") {
            Some(cmd) => add(5, Source::Command(KeyCommand::Ssh(cmd))),
            None => add(5, note("SOPS_AGE_SSH_PRIVATE_KEY_CMD", "not set")),
        }
        for (rank, name) in [(6, "id_ed25519"), (7, "id_rsa")] {
            let label = format!("~/.ssh/{name}");
            match &home {
                Some(h) => add(
                    rank,
                    Source::Ssh {
                        label,
                        path: h.join(".ssh").join(name),
                        optional: true,
                    },
                ),
                None => add(rank, note(&label, "the home directory is unknown")),
            }
        }

        // 2. SOPS_AGE_KEY: the identities themselves.
        match env.var("SOPS_AGE_KEY") {
            Some(text) => add(
                0,
                Source::Text {
                    label: "SOPS_AGE_KEY".to_string(),
                    text: Zeroizing::new(text),
                },
            ),
            None => add(0, note("SOPS_AGE_KEY", "not set")),
        }

        // 3. SOPS_AGE_KEY_FILE: a path.
        match env.var("SOPS_AGE_KEY_FILE") {
            Some(p) if p.is_empty() => {
                add(1, note(&format!("SOPS_AGE_KEY_FILE={p}"), "set but empty"))
            }
            Some(p) => add(
                1,
                Source::File {
                    label: format!("SOPS_AGE_KEY_FILE={p}"),
                    path: PathBuf::from(p),
                },
            ),
            None => add(1, note("SOPS_AGE_KEY_FILE", "not set")),
        }

        // 4. SOPS_AGE_KEY_CMD: a command whose stdout holds identities.
        match env.var("SOPS_AGE_KEY_CMD") {
            Some(cmd) => add(3, Source::Command(KeyCommand::Age(cmd, pass.clone()))),
            None => add(3, note("SOPS_AGE_KEY_CMD", "not set")),
        }

        // 5. The default keys.txt, read whenever it exists.
        match default_keys_file(env) {
            Some((path, label)) => add(2, Source::File { label, path }),
            None => add(
                2,
                note(
                    "default keys.txt",
                    "cannot locate it: neither XDG_CONFIG_HOME nor the home directory is known",
                ),
            ),
        }

        // 6. The OS keyring (seal's own source, after the sops ones).
        if env.use_keyring() {
            add(
                8,
                Source::Keyring {
                    service: crate::keyring::service_name(|k| env.var(k)),
                },
            );
        }

        if lazy {
            ids.pending = pending;
            return ids;
        }
        for p in pending {
            match p.what {
                Source::Command(kc) => ids.command(kc, false, None),
                _ => {
                    let loaded = p.load();
                    ids.absorb(loaded);
                }
            }
        }
        ids
    }

    /// Take over another collection's identities, their details and its report.
    fn absorb(&mut self, mut other: Identities) {
        self.info
            .resize_with(self.identities.len(), IdentityInfo::default);
        other
            .info
            .resize_with(other.identities.len(), IdentityInfo::default);
        self.identities.append(&mut other.identities);
        self.info.append(&mut other.info);
        self.public_keys.append(&mut other.public_keys);
        self.report.append(&mut other.report);
    }

    /// The identities to try, source by source, in the order they are read: first those
    /// already loaded here, then each source of [`Identities::discover_lazy`] by rank. A
    /// source is read only when the iteration reaches it, once (later iterations, other
    /// files and threads reuse what it gave), so a source after the one that opens the data
    /// key is never touched. Key commands come as [`Stage::Command`]: they run per age key.
    pub(super) fn stages(&self) -> impl Iterator<Item = Stage<'_>> {
        let mut order: Vec<&Pending> = self.pending.iter().collect();
        order.sort_by_key(|p| p.rank);
        std::iter::once(Stage::Loaded(self)).chain(order.into_iter().filter_map(Pending::stage))
    }

    /// Every source's report, in sops's order: what was looked at so far and, for sources
    /// not read yet (the data key opened before them, or a failure is being explained), what
    /// they give now. Key commands say how they are run.
    pub fn full_report(&self) -> Vec<SourceReport> {
        let mut out = self.report.clone();
        for p in &self.pending {
            out.extend(p.get().report.iter().cloned());
        }
        out
    }

    /// The labels of the lazy sources read so far (tests show which were not touched).
    #[cfg(test)]
    pub(super) fn sources_read(&self) -> Vec<String> {
        self.pending
            .iter()
            .filter(|p| !matches!(p.what, Source::Note { .. }))
            .filter_map(|p| p.loaded.get())
            .flat_map(|ids| ids.report.iter().map(|r| r.source.clone()))
            .collect()
    }

    /// The key commands not run yet, in report order.
    #[cfg(test)]
    fn deferred(&self) -> impl Iterator<Item = &KeyCommand> {
        self.pending.iter().filter_map(|p| match &p.what {
            Source::Command(kc) => Some(kc),
            _ => None,
        })
    }

    /// A key command: deferred (`lazy`), or run now (with `SOPS_AGE_RECIPIENT` set to
    /// `recipient`, when given) and its identities loaded.
    fn command(&mut self, kc: KeyCommand, lazy: bool, recipient: Option<&str>) {
        let (var, cmd) = match &kc {
            KeyCommand::Age(c, _) => ("SOPS_AGE_KEY_CMD", c.clone()),
            KeyCommand::Ssh(c) => ("SOPS_AGE_SSH_PRIVATE_KEY_CMD", c.clone()),
        };
        let label = match recipient {
            Some(r) => format!("{var}={cmd} ({RECIPIENT_VAR}={r})"),
            None => format!("{var}={cmd}"),
        };
        if lazy {
            self.note(
                label,
                format!("run for each age key to open, with {RECIPIENT_VAR} set"),
            );
            return;
        }
        let out = match run_key_command(&cmd, recipient) {
            Ok(out) => out,
            Err(e) => return self.note(label, e),
        };
        match kc {
            KeyCommand::Age(_, pass) => self.load_text(label, out, &pass, false),
            KeyCommand::Ssh(_) => {
                let out = Zeroizing::new(out);
                let outcome = if is_encrypted_ssh_key(&out) {
                    "the SSH key it printed is passphrase-protected, which sops does not \
                     support for a key command (print an unencrypted key)"
                        .to_string()
                } else {
                    let no_prompt = PassphraseCallbacks::without_sources();
                    self.load_ssh_bytes(&label, &out, &no_prompt)
                };
                self.note(label, outcome);
            }
        }
    }

    /// Run one key command for the age key of `recipient` (`SOPS_AGE_RECIPIENT` set).
    pub(super) fn run_for_key(kc: &KeyCommand, recipient: &str) -> Identities {
        let mut out = Identities::default();
        out.command(kc.clone(), false, Some(recipient));
        out
    }

    /// The identities the deferred key commands give for the age key of `recipient`
    /// (each command run once, with `SOPS_AGE_RECIPIENT` set); None when there are none.
    #[cfg(test)]
    pub(super) fn for_key(&self, recipient: &str) -> Option<Identities> {
        let mut out = Identities::default();
        let mut any = false;
        for kc in self.deferred() {
            out.command(kc.clone(), false, Some(recipient));
            any = true;
        }
        any.then_some(out)
    }

    /// Load every identity stored in the OS keyring under `service`.
    fn load_keyring(&mut self, service: &str) {
        let label = format!("keyring (service {service})");
        let ring = match crate::keyring::Keyring::open(service) {
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

    /// True when no identity was found in any source (reads every source not read yet).
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
            && self.pending.iter().all(|p| match &p.what {
                Source::Command(_) => false,
                _ => p.get().identities.is_empty(),
            })
    }

    /// The report as indented lines, one source per line (for error messages).
    pub fn report_text(&self) -> String {
        format_report(&self.full_report())
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
    fn load_text(
        &mut self,
        label: String,
        bytes: Vec<u8>,
        pass: &PassphraseCallbacks,
        words: bool,
    ) {
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
        match parse_identity_text(text, words) {
            Ok(parsed) => {
                let mut publics = Vec::new();
                for id in parsed.identities {
                    let public = id.public();
                    publics.push(public.clone());
                    self.public_keys.push(public.clone());
                    self.push_info(
                        id.boxed(),
                        IdentityInfo {
                            recipient: Some(public),
                            source: label.clone(),
                            passphrase_problem: None,
                        },
                    );
                }
                let mut outcome = count_identities(&publics);
                for note in self.load_plugins(&label, &parsed.plugins, pass) {
                    outcome.push_str("; ");
                    outcome.push_str(&note);
                }
                self.note(label, outcome);
            }
            Err(e) => self.note(label, format!("cannot parse: {e}")),
        }
    }

    /// Load age plugin identities, one plugin binary per plugin name; returns what the
    /// report says about them.
    fn load_plugins(
        &mut self,
        label: &str,
        plugins: &[age::plugin::Identity],
        pass: &PassphraseCallbacks,
    ) -> Vec<String> {
        let mut names: Vec<&str> = plugins.iter().map(|p| p.plugin()).collect();
        names.dedup();
        let mut notes = Vec::new();
        for name in names {
            let count = plugins.iter().filter(|p| p.plugin() == name).count();
            let what = format!(
                "{count} age plugin identit{} ({name})",
                if count == 1 { "y" } else { "ies" }
            );
            match age::plugin::IdentityPluginV1::new(name, plugins, pass.plugin_callbacks()) {
                Ok(plugin) => {
                    self.push_info(
                        Box::new(PluginIdentity(plugin)),
                        IdentityInfo {
                            recipient: None,
                            source: label.to_string(),
                            passphrase_problem: None,
                        },
                    );
                    notes.push(what);
                }
                Err(e) => notes.push(format!("{what} cannot be used: {}", plugin_problem(&e))),
            }
        }
        notes
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
