//! `seal check`: the key-less scanner that finds secrets committed in plaintext. It owns
//! the findings (what, where, how bad, how to fix), the per-file analysis, the repository
//! walk, allow-listing, and the reporters (text, JSON, SARIF, GitHub annotations). It never
//! decrypts anything and never prints a secret value.

mod allow;
pub mod hints;
mod locate;
pub mod objects;
pub mod parse;
mod private_keys;
pub mod report;
pub mod scan;
pub mod sealed;
mod secret_values;
pub mod sops_file;
pub mod walk;

pub use walk::Checker;

use std::fmt;

/// How bad a finding is. `Error` findings make `seal check` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing, never a failure (e.g. a plain ConfigMap matched by a broad rule).
    Info,
    /// Probably wrong; an error under `--strict`.
    Warning,
    /// A secret in plaintext, or a broken sops file.
    Error,
}

impl Severity {
    /// `info`, `warning`, `error`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of finding. Their ids are stable: users write them in `# seal:allow <id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A Kubernetes Secret whose `data`/`stringData` holds a plaintext value.
    PlaintextSecret,
    /// A Secret's `kubectl.kubernetes.io/last-applied-configuration` annotation copies
    /// plaintext values.
    LastAppliedSecret,
    /// A file that a `.sops.yaml` creation rule covers is not a sops file.
    UnencryptedFile,
    /// A value that the file's (or its rule's) selectors say must be encrypted is plaintext.
    PlaintextValue,
    /// A sops file's metadata is broken (no MAC, no version, bad `lastmodified`…).
    BrokenMetadata,
    /// An `ENC[…]` value that does not parse (bad base64, IV length, type).
    BadEncValue,
    /// A sops file's recipients differ from its creation rule's.
    RecipientDrift,
    /// A sops file lacks a recipient given with `--require-recipient`.
    MissingRecipient,
    /// A private key (age identity, SSH or PEM private key) committed in plaintext.
    PrivateKey,
    /// A plaintext value under a credential-like key in a file named like a secret.
    CredentialValue,
    /// The file does not parse in its format.
    ParseError,
    /// A plain Kubernetes object of a kind that holds no secrets, matched by a broad rule.
    PlainManifest,
    /// `.sops.yaml` itself is broken.
    ConfigError,
    /// A sops file's selector leaves values plaintext that its creation rule (or seal's
    /// Kubernetes default, for a Secret) would encrypt, or encrypts nothing at all.
    NarrowSelector,
    /// A Secret value Kubernetes would reject or change: a non-string `stringData` value
    /// (seen in plaintext or in the ENC `type:`), or invalid base64 under `data`.
    BadSecretValue,
}

impl Rule {
    /// Every rule, in the order the docs list them.
    pub const ALL: [Rule; 15] = [
        Rule::PlaintextSecret,
        Rule::LastAppliedSecret,
        Rule::UnencryptedFile,
        Rule::PlaintextValue,
        Rule::BrokenMetadata,
        Rule::BadEncValue,
        Rule::RecipientDrift,
        Rule::MissingRecipient,
        Rule::PrivateKey,
        Rule::CredentialValue,
        Rule::ParseError,
        Rule::PlainManifest,
        Rule::ConfigError,
        Rule::NarrowSelector,
        Rule::BadSecretValue,
    ];

    /// The stable id (`plaintext-secret`, …).
    pub fn id(self) -> &'static str {
        match self {
            Rule::PlaintextSecret => "plaintext-secret",
            Rule::LastAppliedSecret => "last-applied-secret",
            Rule::UnencryptedFile => "unencrypted-file",
            Rule::PlaintextValue => "plaintext-value",
            Rule::BrokenMetadata => "broken-metadata",
            Rule::BadEncValue => "bad-enc-value",
            Rule::RecipientDrift => "recipient-drift",
            Rule::MissingRecipient => "missing-recipient",
            Rule::PrivateKey => "private-key",
            Rule::CredentialValue => "credential-value",
            Rule::ParseError => "parse-error",
            Rule::PlainManifest => "plain-manifest",
            Rule::ConfigError => "config-error",
            Rule::NarrowSelector => "narrow-selector",
            Rule::BadSecretValue => "bad-secret-value",
        }
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// One sentence describing the rule (SARIF `shortDescription`, docs).
    pub fn description(self) -> &'static str {
        match self {
            Rule::PlaintextSecret => {
                "A Kubernetes Secret holds a plaintext value in data or stringData."
            }
            Rule::LastAppliedSecret => {
                "A Secret's last-applied-configuration annotation copies its plaintext values."
            }
            Rule::UnencryptedFile => {
                "A file covered by a .sops.yaml creation rule is not encrypted."
            }
            Rule::PlaintextValue => {
                "A value that the sops selectors say must be encrypted is plaintext."
            }
            Rule::BrokenMetadata => "A sops file's metadata is missing or malformed.",
            Rule::BadEncValue => "An ENC[...] value is malformed.",
            Rule::RecipientDrift => {
                "A sops file's recipients differ from its .sops.yaml creation rule."
            }
            Rule::MissingRecipient => "A sops file does not list a required recipient.",
            Rule::PrivateKey => "A private key is committed in plaintext.",
            Rule::CredentialValue => {
                "A file named like a secret holds a plaintext value under a credential-like key."
            }
            Rule::ParseError => "The file does not parse.",
            Rule::PlainManifest => {
                "A plain Kubernetes object that holds no secrets is covered by a creation rule."
            }
            Rule::ConfigError => "The .sops.yaml configuration is invalid.",
            Rule::NarrowSelector => {
                "A sops file's selector leaves values plaintext that its rule or the Kubernetes default encrypts."
            }
            Rule::BadSecretValue => {
                "A Secret value Kubernetes rejects or changes: a non-string stringData value, invalid base64 in data, or a SealedSecret template over a key it does not seal."
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One finding. It never holds a secret value: `message` names keys and kinds only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The file, relative to the directory `seal check` ran in when below it, with `/`.
    pub path: String,
    /// 1-based line (0 when the finding is about the whole file).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The kind of finding.
    pub rule: Rule,
    /// How bad it is (after `--strict`).
    pub severity: Severity,
    /// One line: what is wrong, naming the key path or document, never the value.
    pub message: String,
    /// One line: what to do about it.
    pub hint: String,
}

/// A finding silenced by an inline `# seal:allow <rule> <reason>` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The finding that would have been reported.
    pub finding: Finding,
    /// The reason written after the rule id (may be empty).
    pub reason: String,
}

/// Counts and lists for the summary, so nothing is hidden silently.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read and checked.
    pub files_checked: usize,
    /// Of those, sops files.
    pub sops_files: usize,
    /// Files skipped because they look binary (a NUL byte near the start).
    pub skipped_binary: usize,
    /// Files skipped because they are larger than the limit (10 MB).
    pub skipped_large: usize,
    /// Symbolic links skipped (never followed).
    pub skipped_symlinks: usize,
    /// Paths excluded by `.sealignore` patterns (relative, `/`-separated), sorted.
    pub ignored: Vec<String>,
    /// Findings silenced inline, sorted like findings.
    pub allowed: Vec<Allowed>,
    /// Files or directories that could not be read: (path, reason). These make the run fail
    /// with exit 2, since a hidden file might hold a secret.
    pub unreadable: Vec<(String, String)>,
}

/// The result of a check: findings sorted by path, line, column, rule; and the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Reported findings (allow-listed ones are in `summary.allowed`).
    pub findings: Vec<Finding>,
    /// Counts.
    pub summary: Summary,
}

impl Report {
    /// Number of findings at `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// True when any finding is at error level.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}
