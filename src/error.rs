//! The command-line error: one paragraph naming the file, what was expected and what to do,
//! plus the exit code. Exit codes mirror sops's (`cmd/sops/codes`) wherever seal has the
//! same failure, so scripts written for sops keep working. Every library error becomes a
//! [`CliError`] here, in one place.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cipher::CipherError;
use crate::config::ConfigError;
use crate::keys::KeyError;
use crate::metadata::MetadataError;
use crate::stores::StoreError;

/// Exit codes. The numbers are sops's where the failure is the same.
pub mod exit {
    /// Generic error: no metadata, no keys, no matching creation rule, bad `version`,
    /// `--extract` path not found.
    pub const GENERIC: u8 = 1;
    /// The input could not be read or parsed as plaintext.
    pub const COULD_NOT_READ_INPUT: u8 = 2;
    /// The output could not be written.
    pub const COULD_NOT_WRITE_OUTPUT: u8 = 3;
    /// The tree cannot be written in the output format.
    pub const ERROR_DUMPING_TREE: u8 = 4;
    /// Flags that cannot be used together, or a usage error.
    pub const CONFLICTING_PARAMETERS: u8 = 8;
    /// The tree could not be encrypted.
    pub const ERROR_ENCRYPTING_TREE: u8 = 23;
    /// A value could not be decrypted (tampered, moved or malformed).
    pub const ERROR_DECRYPTING_TREE: u8 = 25;
    /// The MAC does not match, or cannot be decrypted.
    pub const MAC_MISMATCH: u8 = 51;
    /// `--extract` path is malformed.
    pub const INVALID_TREE_PATH: u8 = 91;
    /// The file has no document.
    pub const NO_DOCUMENT: u8 = 92;
    /// No file given, or the file does not exist.
    pub const NO_FILE: u8 = 100;
    /// `--decryption-order` (or `SOPS_DECRYPTION_ORDER` as sops reads it) names a key type
    /// twice.
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: u8 = 112;
    /// The data key could not be recovered with the available identities.
    pub const COULD_NOT_RETRIEVE_KEY: u8 = 128;
    /// `edit`: the file was not modified.
    pub const FILE_NOT_MODIFIED: u8 = 200;
    /// The file is already encrypted.
    pub const FILE_ALREADY_ENCRYPTED: u8 = 203;
    /// `seal check`: findings at error level (as gitleaks and detect-secrets exit 1).
    pub const CHECK_FINDINGS: u8 = 1;
    /// `seal check`: a usage error, or a file or directory that could not be read.
    pub const CHECK_ERROR: u8 = 2;
}

/// An error as the user sees it.
#[derive(Debug)]
pub struct CliError {
    /// Process exit code.
    pub code: u8,
    /// The file concerned, if any.
    pub file: Option<PathBuf>,
    /// One sentence (or a short paragraph) saying what went wrong.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
    /// sops's exact text for this failure, printed instead of seal's message when seal runs
    /// as `sops` (scripts and sops's own tests compare it).
    pub sops: Option<String>,
}

impl CliError {
    /// A new error with an exit code and message.
    pub fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError {
            code,
            file: None,
            message: message.into(),
            hints: Vec::new(),
            sops: None,
        }
    }

    /// An exit code with nothing more to say (the command already reported, e.g. `seal
    /// check` after printing its findings).
    pub fn silent(code: u8) -> CliError {
        CliError::new(code, "")
    }

    /// Name the file concerned (kept if one is already set).
    pub fn in_file(mut self, file: impl AsRef<Path>) -> CliError {
        if self.file.is_none() {
            self.file = Some(file.as_ref().to_path_buf());
        }
        self
    }

    /// What sops prints for this failure (used when seal runs as `sops`).
    pub fn sops_text(mut self, text: impl Into<String>) -> CliError {
        self.sops = Some(text.into());
        self
    }

    /// Add a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hints.push(hint.into());
        self
    }

    /// A store error met while reading a file that should be plaintext (encrypt): sops's
    /// exit codes 2 and 92.
    pub fn reading_plain(e: StoreError) -> CliError {
        let code = match e {
            StoreError::NoDocument { .. } => exit::NO_DOCUMENT,
            StoreError::Emit { .. } => exit::ERROR_DUMPING_TREE,
            _ => exit::COULD_NOT_READ_INPUT,
        };
        let hint = store_hint(&e);
        let mut err = CliError::new(code, e.to_string());
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }

    /// A store error met while reading a file that should be encrypted (decrypt, rotate…):
    /// sops exits 1 there (92 for an empty file).
    pub fn reading_encrypted(e: StoreError) -> CliError {
        let code = match e {
            StoreError::NoDocument { .. } => exit::NO_DOCUMENT,
            _ => exit::GENERIC,
        };
        let hint = store_hint(&e);
        let mut err = CliError::new(code, e.to_string());
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }

    /// A store error met while writing output.
    pub fn writing(e: StoreError) -> CliError {
        CliError::new(exit::ERROR_DUMPING_TREE, e.to_string())
            .hint("choose an output format that can hold this data with --output-type")
    }

    /// An I/O error reading `path`.
    pub fn read_io(path: &Path, e: std::io::Error) -> CliError {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            exit::NO_FILE
        } else {
            exit::COULD_NOT_READ_INPUT
        };
        CliError::new(code, format!("cannot read the file: {}", io_reason(&e))).in_file(path)
    }

    /// An I/O error writing `path`.
    pub fn write_io(path: &Path, e: std::io::Error) -> CliError {
        CliError::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write the file: {}", io_reason(&e)),
        )
        .in_file(path)
        .hint("check that the directory exists and is writable; the original file was not changed")
    }
}

fn store_hint(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::Syntax { .. } => Some(
            "fix the syntax at the position shown, or pass --input-type if the file is not in the format its name suggests",
        ),
        StoreError::NoDocument { .. } => {
            Some("the file is empty: there is nothing to encrypt or decrypt")
        }
        _ => None,
    }
}

/// A short, stable description of an I/O error (no Rust debug output).
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file or directory".to_string(),
        PermissionDenied => "permission denied".to_string(),
        IsADirectory => "it is a directory".to_string(),
        _ => {
            let s = e.to_string();
            // Drop "(os error N)" noise.
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        f.write_str(&self.message)?;
        for h in &self.hints {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<CipherError> for CliError {
    fn from(e: CipherError) -> CliError {
        let code = match e {
            CipherError::BadValue { .. } | CipherError::Authentication { .. } => {
                exit::ERROR_DECRYPTING_TREE
            }
            CipherError::Encrypt(_) => exit::ERROR_ENCRYPTING_TREE,
            CipherError::MacUndecryptable | CipherError::MacMismatch => exit::MAC_MISMATCH,
            CipherError::Key(_) => exit::COULD_NOT_RETRIEVE_KEY,
        };
        let hint = match e {
            CipherError::Authentication { .. } | CipherError::BadValue { .. } => Some(
                "the file was modified outside sops/seal or is corrupt; restore it from version control",
            ),
            CipherError::MacUndecryptable | CipherError::MacMismatch => Some(
                "the file was modified outside sops/seal; restore it from version control, or pass --ignore-mac to read it anyway",
            ),
            CipherError::Encrypt(_) => Some("quote the key or value so that it is a string"),
            CipherError::Key(_) => None,
        };
        let mut err = CliError::new(code, e.to_string());
        if let Some(h) = hint {
            err = err.hint(h);
        }
        err
    }
}

impl From<MetadataError> for CliError {
    fn from(e: MetadataError) -> CliError {
        CliError::new(exit::GENERIC, format!("{e}"))
            .hint("the sops metadata block is damaged; restore the file from version control")
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> CliError {
        CliError::new(exit::GENERIC, e.to_string())
            .hint("fix .sops.yaml (see https://getsops.io/docs/#using-sops-yaml-conf-to-select-kms-pgp-and-age-for-new-files)")
    }
}

impl From<KeyError> for CliError {
    fn from(e: KeyError) -> CliError {
        match e {
            KeyError::NoMatchingIdentity {
                needed,
                report,
                detail,
            } => {
                let mut msg = String::from(
                    "could not decrypt the data key: none of the available age identities matches the file's recipients",
                );
                if !detail.is_empty() {
                    msg.push_str(&format!(" ({detail})"));
                }
                msg.push_str(".\nThe file is encrypted for:");
                for (i, g) in needed.iter().enumerate() {
                    if needed.len() > 1 {
                        msg.push_str(&format!("\n  key group {}:", i + 1));
                    }
                    for r in g {
                        msg.push_str(&format!("\n    {r}"));
                    }
                    if g.is_empty() {
                        msg.push_str("\n    (no age recipients: only other key types)");
                    }
                }
                msg.push_str("\nseal looked for identities in:");
                for s in &report {
                    msg.push_str(&format!("\n  {}: {}", s.source, s.outcome));
                }
                let mut e = CliError::new(exit::COULD_NOT_RETRIEVE_KEY, msg);
                if crate::keys::keyservice::local_enabled() {
                    e = e.hint(
                        "point SOPS_AGE_KEY_FILE at the keys.txt holding one of these identities, or ask an owner of the file to add your public key (seal updatekeys)",
                    );
                }
                if crate::keys::keyservice::remote_configured() {
                    e = e.hint("with --keyservice: check that each service is running and holds one of these keys (its own log says why it refused)");
                }
                e
            }
            KeyError::BadRecipient { .. } => CliError::new(exit::GENERIC, e.to_string())
                .hint("an age recipient looks like age1… (62 characters); an SSH recipient is a whole ssh-ed25519/ssh-rsa public key line"),
            KeyError::Wrap { .. } | KeyError::Unsupported(_) => {
                CliError::new(exit::GENERIC, e.to_string())
            }
        }
    }
}

impl From<crate::rules::RuleError> for CliError {
    fn from(e: crate::rules::RuleError) -> CliError {
        CliError::new(exit::CONFLICTING_PARAMETERS, e.to_string())
    }
}
