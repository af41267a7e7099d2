//! The OS keyring as a home for age identities: each secret key is stored under a
//! service name (default `seal`) with its public key as the account, plus one index entry
//! that lists the public keys (keyrings cannot be enumerated portably).
//!
//! On Linux the store is the kernel's keyutils (no desktop session or D-Bus needed). In a
//! root container without a login session the process has no session keyring of its own
//! and every access is refused; seal detects that and says to run it under
//! `keyctl session -` (package `keyutils`). Keys in the kernel keyring live in memory only:
//! they vanish on reboot, so `seal new-key --keyring` tells the user to keep a backup.
//!
//! Secrets never appear in messages.

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

/// The service name used when `SEAL_KEYRING_SERVICE` is not set.
pub const DEFAULT_SERVICE: &str = "seal";

/// The environment variable that names another keyring service (tests, several profiles).
pub const SERVICE_ENV: &str = "SEAL_KEYRING_SERVICE";

/// The environment variable that keeps seal away from the keyring during identity
/// discovery when it is set to a true value (see [`disabled_by`]).
pub const DISABLE_ENV: &str = "SEAL_NO_KEYRING";

/// Whether a value of [`DISABLE_ENV`] turns the keyring off: any non-empty value but
/// `0`, `false`, `no` and `off` (any case, spaces ignored), so `SEAL_NO_KEYRING=0` leaves
/// it on.
pub fn disabled_by(value: Option<&str>) -> bool {
    let Some(v) = value.map(str::trim) else {
        return false;
    };
    !v.is_empty()
        && !["0", "false", "no", "off"]
            .iter()
            .any(|f| v.eq_ignore_ascii_case(f))
}

/// The account of the index entry (never a valid `age1…` public key, so no clash).
const INDEX_ACCOUNT: &str = "seal-index";

/// The hint given whenever the kernel keyring refuses access.
pub const SESSION_HINT: &str = "this process has no usable session keyring (usual in \
     containers and CI jobs without a login session); run seal under a new session keyring, \
     e.g. `keyctl session - seal …` (keyctl is in the keyutils package)";

/// Errors of the keyring layer.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The keyring exists but refuses access (no session keyring, permissions).
    #[error("the OS keyring is not accessible: {reason}")]
    Unavailable {
        /// Why, including the hint on how to fix it.
        reason: String,
    },
    /// No identity with that public key is stored under the service.
    #[error("no identity for {public} is stored in the keyring (service {service:?})")]
    NotFound {
        /// The public key asked for.
        public: String,
        /// The service looked in.
        service: String,
    },
    /// An entry exists but does not hold what seal stored there.
    #[error("the keyring entry {account:?} (service {service:?}) is damaged: {reason}")]
    Damaged {
        /// The entry's account.
        account: String,
        /// The service.
        service: String,
        /// What is wrong (never the content).
        reason: String,
    },
    /// The platform has no keyring seal can use.
    #[error("the OS keyring is not supported on this platform by seal")]
    Unsupported,
}

/// A handle on the keyring entries of one service.
pub struct Keyring {
    service: String,
    /// The keyutils store's description delimiters (prefix, divider, suffix).
    #[cfg(target_os = "linux")]
    store_delimiters: [String; 3],
    /// The session and persistent keyrings every entry of this handle uses, looked up once
    /// after [`Keyring::probe`] (see [`Keyring::base`]).
    #[cfg(target_os = "linux")]
    base: std::sync::OnceLock<linux_keyutils_keyring_store::Cred>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("service", &self.service)
            .finish()
    }
}

/// The service name from the environment lookup `var` (`SEAL_KEYRING_SERVICE`, default
/// `seal`).
pub fn service_name(var: impl Fn(&str) -> Option<String>) -> String {
    var(SERVICE_ENV)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE.to_string())
}

impl Keyring {
    /// Open the keyring for `service`. Opening touches nothing; access errors come from
    /// the operations.
    pub fn open(service: &str) -> Result<Keyring, KeyringError> {
        #[cfg(target_os = "linux")]
        {
            let store = linux_keyutils_keyring_store::Store::new().map_err(map_err_generic)?;
            let store_delimiters = store.delimiters.clone();
            Ok(Keyring {
                service: service.to_string(),
                store_delimiters,
                base: std::sync::OnceLock::new(),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = service;
            Err(KeyringError::Unsupported)
        }
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Store `identity` (its public key is the account) and add it to the index. Returns
    /// the public key. An identity already stored is left as is.
    pub fn store(&self, identity: &age::x25519::Identity) -> Result<String, KeyringError> {
        let public = identity.to_public().to_string();
        // The index goes first: it holds no secret, so a keyring that refuses writes
        // fails here without a secret key left behind anywhere.
        let old_index = self.index()?;
        if !old_index.contains(&public) {
            let mut index = old_index.clone();
            index.push(public.clone());
            self.write_index(&index)?;
        }
        let secret = identity.to_string();
        let stored = self.set(&public, secret.expose_secret()).and_then(|()| {
            // Read back: a store that accepts writes it cannot read back must not look
            // like success.
            let back = self.load(&public)?;
            if back.to_public().to_string() == public {
                Ok(())
            } else {
                Err(self.damaged(&public, "it does not read back as the stored identity"))
            }
        });
        if let Err(e) = stored {
            if !old_index.contains(&public) {
                let _ = self.write_index(&old_index);
            }
            return Err(e);
        }
        Ok(public)
    }

    /// Fail with the session hint when the kernel keyring cannot keep keys between
    /// runs: without a session keyring of its own the process cannot reach the user's
    /// persistent keyring, and whatever it stores or finds is not what later runs see.
    #[cfg(target_os = "linux")]
    fn probe(&self) -> Result<(), KeyringError> {
        let cred = linux_keyutils_keyring_store::Cred::build_from_specifiers(
            None,
            &self.store_delimiters,
            false,
            &self.service,
            INDEX_ACCOUNT,
        )
        .map_err(map_err_generic)?;
        if cred.persistent.is_none() {
            return Err(KeyringError::Unavailable {
                reason: format!("the persistent keyring is out of reach; {SESSION_HINT}"),
            });
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn probe(&self) -> Result<(), KeyringError> {
        Err(KeyringError::Unsupported)
    }

    /// The public keys listed in the index, in the order they were stored. An absent
    /// index is an empty list.
    pub fn index(&self) -> Result<Vec<String>, KeyringError> {
        self.probe()?;
        match self.get(INDEX_ACCOUNT)? {
            None => Ok(Vec::new()),
            Some(text) => {
                let mut out: Vec<String> = Vec::new();
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if !line.starts_with("age1") || line.parse::<age::x25519::Recipient>().is_err()
                    {
                        return Err(self.damaged(INDEX_ACCOUNT, "a line is not an age public key"));
                    }
                    if !out.iter().any(|p| p == line) {
                        out.push(line.to_string());
                    }
                }
                Ok(out)
            }
        }
    }

    /// The identity stored for `public`.
    pub fn load(&self, public: &str) -> Result<age::x25519::Identity, KeyringError> {
        let public = public.trim();
        let Some(secret) = self.get(public)? else {
            return Err(KeyringError::NotFound {
                public: public.to_string(),
                service: self.service.clone(),
            });
        };
        let identity = secret
            .trim()
            .parse::<age::x25519::Identity>()
            .map_err(|_| self.damaged(public, "it is not an AGE-SECRET-KEY-1… identity"))?;
        if identity.to_public().to_string() != public {
            return Err(self.damaged(public, "the secret key belongs to another public key"));
        }
        Ok(identity)
    }

    /// Delete the identity stored for `public` and drop it from the index.
    pub fn remove(&self, public: &str) -> Result<(), KeyringError> {
        let public = public.trim();
        if public == INDEX_ACCOUNT {
            return Err(KeyringError::NotFound {
                public: public.to_string(),
                service: self.service.clone(),
            });
        }
        let existed = self.delete(public)?;
        let mut index = self.index()?;
        let before = index.len();
        index.retain(|p| p != public);
        if index.len() != before {
            self.write_index(&index)?;
        } else if !existed {
            return Err(KeyringError::NotFound {
                public: public.to_string(),
                service: self.service.clone(),
            });
        }
        Ok(())
    }

    fn write_index(&self, index: &[String]) -> Result<(), KeyringError> {
        if index.is_empty() {
            self.delete(INDEX_ACCOUNT).map(|_| ())
        } else {
            self.set(INDEX_ACCOUNT, &index.join("\n"))
        }
    }

    fn damaged(&self, account: &str, reason: &str) -> KeyringError {
        KeyringError::Damaged {
            account: account.to_string(),
            service: self.service.clone(),
            reason: reason.to_string(),
        }
    }

    /// The keyrings an entry lives in, looked up once per handle. Building a credential
    /// asks the kernel for the session keyring and then for the persistent one (which
    /// gives a process without a session keyring a new one, so the first lookup of a
    /// process and the later ones can name different session keyrings); every entry
    /// after the first used to repeat both calls and get the same answers. The first
    /// lookup stays in [`Keyring::probe`], so the keyrings cached here are the ones every
    /// later lookup names.
    #[cfg(target_os = "linux")]
    fn base(&self) -> Result<&linux_keyutils_keyring_store::Cred, KeyringError> {
        if let Some(base) = self.base.get() {
            return Ok(base);
        }
        let base = linux_keyutils_keyring_store::Cred::build_from_specifiers(
            None,
            &self.store_delimiters,
            false,
            &self.service,
            INDEX_ACCOUNT,
        )
        .map_err(map_err_generic)?;
        Ok(self.base.get_or_init(|| base))
    }

    /// The entry for `account`: what `Entry::new_in_store` builds (the store's
    /// description `keyring:<account>@<service>`, the service and account as
    /// specifiers), on the cached keyrings.
    #[cfg(target_os = "linux")]
    fn entry(&self, account: &str) -> Result<keyring_core::Entry, KeyringError> {
        let base = self.base()?;
        let [prefix, divider, suffix] = &self.store_delimiters;
        let cred = linux_keyutils_keyring_store::Cred {
            session: base.session,
            persistent: base.persistent,
            description: format!("{prefix}{account}{divider}{}{suffix}", self.service),
            specifiers: Some((self.service.clone(), account.to_string())),
        };
        Ok(keyring_core::Entry::new_with_credential(
            std::sync::Arc::new(cred),
        ))
    }

    #[cfg(target_os = "linux")]
    fn set(&self, account: &str, secret: &str) -> Result<(), KeyringError> {
        self.entry(account)?
            .set_password(secret)
            .map_err(map_err_generic)
    }

    #[cfg(target_os = "linux")]
    fn get(&self, account: &str) -> Result<Option<Zeroizing<String>>, KeyringError> {
        match self.entry(account)?.get_secret() {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                match std::str::from_utf8(&bytes) {
                    Ok(s) => Ok(Some(Zeroizing::new(s.to_string()))),
                    Err(_) => Err(self.damaged(account, "it is not UTF-8 text")),
                }
            }
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err_generic(e)),
        }
    }

    /// Ok(true) when an entry was deleted, Ok(false) when there was none.
    #[cfg(target_os = "linux")]
    fn delete(&self, account: &str) -> Result<bool, KeyringError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_err_generic(e)),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn set(&self, _account: &str, _secret: &str) -> Result<(), KeyringError> {
        Err(KeyringError::Unsupported)
    }

    #[cfg(not(target_os = "linux"))]
    fn get(&self, _account: &str) -> Result<Option<Zeroizing<String>>, KeyringError> {
        Err(KeyringError::Unsupported)
    }

    #[cfg(not(target_os = "linux"))]
    fn delete(&self, _account: &str) -> Result<bool, KeyringError> {
        Err(KeyringError::Unsupported)
    }
}

/// Map a keyring-core error to ours; access refusals carry the session hint.
#[cfg(target_os = "linux")]
fn map_err_generic(e: keyring_core::Error) -> KeyringError {
    use keyring_core::Error as E;
    match e {
        E::NoStorageAccess(_) => KeyringError::Unavailable {
            reason: format!("the kernel refused access; {SESSION_HINT}"),
        },
        E::NoDefaultStore => KeyringError::Unavailable {
            reason: "no keyring store is configured".to_string(),
        },
        E::PlatformFailure(inner) => KeyringError::Unavailable {
            reason: format!("the kernel keyring failed ({inner}); {SESSION_HINT}"),
        },
        E::NoEntry => KeyringError::Unavailable {
            reason: "the entry vanished while it was used".to_string(),
        },
        other => KeyringError::Unavailable {
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_true_values_of_seal_no_keyring_turn_the_keyring_off() {
        for off in ["1", "true", "yes", "TRUE", " on "] {
            assert!(disabled_by(Some(off)), "{off:?}");
        }
        for on in ["0", "false", "False", "no", "off", "", " "] {
            assert!(!disabled_by(Some(on)), "{on:?}");
        }
        assert!(!disabled_by(None));
    }

    #[test]
    fn service_name_defaults_and_overrides() {
        assert_eq!(service_name(|_| None), "seal");
        assert_eq!(service_name(|_| Some("  ".to_string())), "seal");
        assert_eq!(
            service_name(|k| (k == SERVICE_ENV).then(|| "team-a".to_string())),
            "team-a"
        );
    }

    #[test]
    fn errors_name_keys_never_secrets() {
        let e = KeyringError::NotFound {
            public: "age1xyz".to_string(),
            service: "seal".to_string(),
        };
        assert!(e.to_string().contains("age1xyz"));
        let e = KeyringError::Damaged {
            account: "age1xyz".to_string(),
            service: "seal".to_string(),
            reason: "it is not UTF-8 text".to_string(),
        };
        assert!(!e.to_string().contains("AGE-SECRET-KEY"), "{e}");
    }

    /// Real kernel keyring round trip, when this process can use it (under
    /// `keyctl session -`); tests/keys_cli.rs drives the same path through the binary
    /// under a fresh session keyring, so the kernel path is always covered there.
    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_round_trip_or_clear_refusal() {
        let service = format!("seal-unit-{}", std::process::id());
        let ring = Keyring::open(&service).expect("open");
        let id = age::x25519::Identity::generate();
        match ring.store(&id) {
            Ok(public) => {
                assert_eq!(public, id.to_public().to_string());
                assert_eq!(ring.index().expect("index"), vec![public.clone()]);
                let back = ring.load(&public).expect("load");
                assert_eq!(
                    back.to_string().expose_secret(),
                    id.to_string().expose_secret()
                );
                ring.remove(&public).expect("remove");
                assert!(ring.index().expect("index").is_empty());
                assert!(matches!(
                    ring.load(&public),
                    Err(KeyringError::NotFound { .. })
                ));
            }
            Err(KeyringError::Unavailable { reason }) => {
                eprintln!("keyring unavailable here: {reason}");
                assert!(reason.contains("keyctl session -"), "{reason}");
            }
            Err(e) => panic!("unexpected keyring error: {e}"),
        }
    }
}
