//! Passphrases for encrypted age identity files and SSH keys (`SEAL_PASSPHRASE_FILE`,
//! `SEAL_PASSPHRASE`, else a terminal prompt), and the identity wrappers that ask for one
//! only when a stanza needs it.

use std::io::{BufRead, BufReader, Cursor};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::Env;
use super::age::strip_bidi;
use super::identities::read_limited;

// ---------------------------------------------------------------------------------------
// Passphrases and lazily decrypted identities
// ---------------------------------------------------------------------------------------

/// Passphrase source for encrypted identities and SSH keys: `SEAL_PASSPHRASE_FILE` (first
/// line), `SEAL_PASSPHRASE`, else a terminal prompt when allowed.
#[derive(Clone)]
pub(super) struct PassphraseCallbacks {
    pub(super) file: Option<PathBuf>,
    pub(super) value: Option<Arc<Zeroizing<String>>>,
    interactive: bool,
    /// Why the last request gave no passphrase (for the "no identity" message).
    pub(super) problem: Arc<Mutex<Option<String>>>,
}

impl PassphraseCallbacks {
    /// No passphrase source at all (a key command's output is never unlocked).
    pub(super) fn without_sources() -> PassphraseCallbacks {
        PassphraseCallbacks {
            file: None,
            value: None,
            interactive: false,
            problem: Arc::new(Mutex::new(None)),
        }
    }

    pub(super) fn from_env(env: &dyn Env) -> PassphraseCallbacks {
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

    pub(super) fn passphrase(&self, description: &str) -> Result<SecretString, String> {
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

impl PassphraseCallbacks {
    /// The callbacks age plugins get: their messages and questions on the terminal.
    pub(super) fn plugin_callbacks(&self) -> PluginCallbacks {
        PluginCallbacks {
            interactive: self.interactive,
        }
    }
}

/// What an age plugin shows and asks (a PIN, a touch request, a confirmation): messages on
/// standard error, questions on the terminal when there is one (never answered otherwise,
/// so the plugin fails rather than hangs).
#[derive(Clone)]
pub(super) struct PluginCallbacks {
    interactive: bool,
}

impl PluginCallbacks {
    /// For wrapping, where no [`Env`] is at hand: interactive when stdin or stderr is a
    /// terminal.
    pub(super) fn for_process() -> PluginCallbacks {
        use std::io::IsTerminal;
        PluginCallbacks {
            interactive: std::io::stdin().is_terminal() || std::io::stderr().is_terminal(),
        }
    }

    fn ask(&self, prompt: &str) -> Option<String> {
        use std::io::Write;
        if !self.interactive {
            return None;
        }
        let mut tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        tty.write_all(prompt.as_bytes()).ok()?;
        tty.flush().ok()?;
        let mut line = String::new();
        BufReader::new(tty).read_line(&mut line).ok()?;
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

impl age::Callbacks for PluginCallbacks {
    fn display_message(&self, message: &str) {
        eprintln!("{}", strip_bidi(message));
    }

    fn confirm(&self, message: &str, yes: &str, no: Option<&str>) -> Option<bool> {
        let message = strip_bidi(message);
        let prompt = match no {
            Some(no) => format!("{message} [{yes}/{no}]: "),
            None => format!("{message} [{yes}]: "),
        };
        let answer = self.ask(&prompt)?;
        let answer = answer.trim();
        if answer.eq_ignore_ascii_case(yes) || answer.is_empty() && no.is_none() {
            Some(true)
        } else if no.is_some_and(|n| answer.eq_ignore_ascii_case(n)) {
            Some(false)
        } else {
            None
        }
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        self.ask(&format!(
            "{}: ",
            strip_bidi(description).trim_end_matches(':')
        ))
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        if !self.interactive {
            return None;
        }
        let prompt = format!("{}: ", strip_bidi(description).trim_end_matches(':'));
        rpassword::prompt_password(prompt)
            .ok()
            .map(SecretString::from)
    }
}

/// Stanza types age itself unwraps: an age plugin is not started for a key that has only
/// these.
const NATIVE_STANZAS: &[&str] = &[
    "X25519",
    "ssh-ed25519",
    "ssh-rsa",
    "scrypt",
    "mlkem768x25519",
];

/// An age plugin's identities (one plugin binary), started only for keys with a stanza
/// age does not unwrap itself.
pub(super) struct PluginIdentity(pub(super) age::plugin::IdentityPluginV1<PluginCallbacks>);

impl age::Identity for PluginIdentity {
    fn unwrap_stanza(
        &self,
        stanza: &age_core_stanza::Stanza,
    ) -> Option<Result<age_core_stanza::FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core_stanza::Stanza],
    ) -> Option<Result<age_core_stanza::FileKey, age::DecryptError>> {
        if stanzas
            .iter()
            .all(|s| NATIVE_STANZAS.contains(&s.tag.as_str()))
        {
            return None;
        }
        self.0.unwrap_stanzas(stanzas)
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

pub(super) type EncryptedInner = age::encrypted::Identity<
    age::armor::ArmoredReader<BufReader<Cursor<Vec<u8>>>>,
    PassphraseCallbacks,
>;

/// `age::encrypted::Identity` caches its decryption in a `Cell`; the lock makes it `Sync`.
pub(super) struct LockedEncrypted(pub(super) Mutex<EncryptedInner>);

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
pub(super) struct LockedSsh {
    pub(super) label: String,
    pub(super) key: age::ssh::Identity,
    pub(super) callbacks: PassphraseCallbacks,
    pub(super) state: Mutex<Option<Result<age::ssh::Identity, age::DecryptError>>>,
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
