//! Steps several commands share: reading the input, finding the config and the rule,
//! opening an encrypted file (data key, values, MAC), sealing documents into an encrypted
//! file, and writing the output. One function per step, so encrypt, decrypt, rotate,
//! updatekeys (and later edit/set/merge) cannot drift apart.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cipher::{self, DataKey, Stash, WalkRules};
use crate::config::{self, Config, CreationRule};
use crate::error::{CliError, exit};
use crate::fsio::{self, Sensitivity};
use crate::keys::{Env, Identities, ProcessEnv};
use crate::metadata::{KeyGroup, Metadata, SOPS_VERSION};
use crate::rules::Selector;
use crate::stores::{EmitOptions, Format, Layout, Parsed};
use crate::tree::Branch;

/// What every command resolves once: the working directory, the config flag, the env.
pub struct Ctx {
    /// The current directory (where `.sops.yaml` is searched from).
    pub cwd: PathBuf,
    /// `--config` / `SOPS_CONFIG`.
    pub config_flag: Option<PathBuf>,
    /// The environment used for key discovery.
    pub env: Box<dyn Env>,
    /// `--decryption-order`, split as sops splits it (at every comma, nothing trimmed; an
    /// empty value is sops's default): when given, it replaces `SOPS_DECRYPTION_ORDER`.
    pub decryption_order: Option<Vec<String>>,
}

impl Ctx {
    /// The real process context.
    pub fn from_process(config_flag: Option<PathBuf>) -> Result<Ctx, CliError> {
        let cwd = std::env::current_dir().map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!(
                    "cannot determine the current directory: {}",
                    crate::error::io_reason(&e)
                ),
            )
        })?;
        Ok(Ctx {
            cwd,
            config_flag,
            env: Box::new(ProcessEnv),
            decryption_order: None,
        })
    }

    /// Use `--decryption-order` (the flag's value as given). A key type named twice is
    /// refused with sops's exit code (112) and, as `sops`, sops's words.
    pub fn with_decryption_order(mut self, flag: Option<&str>) -> Result<Ctx, CliError> {
        if let Some(flag) = flag {
            let order = split_decryption_order(flag);
            let mut seen: Vec<&str> = Vec::new();
            for t in &order {
                if seen.contains(&t.as_str()) {
                    return Err(CliError::new(
                        exit::DUPLICATE_DECRYPTION_KEY_TYPE,
                        format!(
                            "--decryption-order {flag:?} names the key type {t:?} twice: name each type once (age, pgp, kms, hc_vault)"
                        ),
                    )
                    .sops_text(format!("Duplicate decryption key type: {t}")));
                }
                seen.push(t);
            }
            self.decryption_order = Some(order);
        }
        Ok(self)
    }

    /// Find and load `.sops.yaml`, if any.
    pub fn config(&self) -> Result<Option<Config>, CliError> {
        match config::find(&self.cwd, self.config_flag.as_deref()) {
            Some(p) => {
                if self.config_flag.is_some() && !p.exists() {
                    return Err(CliError::new(
                        exit::GENERIC,
                        "the config file given with --config or SOPS_CONFIG does not exist",
                    )
                    .in_file(&p));
                }
                Ok(Some(Config::load(&p)?))
            }
            None => Ok(None),
        }
    }

    /// Load every identity the sops sources offer; key commands run later, for each age
    /// key opened (with `SOPS_AGE_RECIPIENT`, as sops).
    pub fn identities(&self) -> Identities {
        let mut ids = Identities::discover_lazy(self.env.as_ref());
        if let Some(order) = &self.decryption_order {
            ids.decryption_order = order.clone();
        }
        ids
    }

    /// Make a path absolute against the current directory.
    pub fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }
}

/// A decryption order as sops reads one: split at every comma, nothing trimmed; an empty
/// value is sops's default (no list).
pub fn split_decryption_order(value: &str) -> Vec<String> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::to_string).collect()
}

/// The input file arguments shared by the file commands.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// The file to read; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Read the input as this format instead of guessing from the file name.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub input_type: Option<Format>,

    /// Write the output in this format (default: the format the file name says, as sops
    /// does; for standard input without --filename-override, the input format).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub output_type: Option<Format>,

    /// Use this path to pick the format and the .sops.yaml rule (for standard input, or a
    /// temporary file).
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
}

/// What a new file encrypts, and how (encrypt, and edit of a file that does not exist):
/// sops's selector flags, `--mac-only-encrypted` and the Shamir threshold. Each replaces
/// the matching creation rule's field.
#[derive(Debug, Clone, Default, Args)]
pub struct CreationArgs {
    /// Encrypt only values under keys matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values under keys matching this regex in plaintext.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values under keys ending with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values under keys ending with this suffix in plaintext (default _unencrypted).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values below a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Leave values below a comment matching this regex in plaintext.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// The MAC covers only encrypted values (plaintext values may then change freely).
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Number of key groups needed to decrypt (Shamir), when the rule has several groups.
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

impl CreationArgs {
    /// The selector the flags give (at most one of them), if any.
    pub fn selector(&self) -> Result<Option<Selector>, CliError> {
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for (name, v) in [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ] {
            if let Some(v) = v {
                fields.push((name, v.as_str()));
            }
        }
        Selector::from_fields(&fields).map_err(|e| {
            CliError::from(e).hint("pass at most one of the --encrypted-*/--unencrypted-* flags")
        })
    }

    /// Whether any of the flags was given.
    pub fn any(&self) -> bool {
        self.mac_only_encrypted
            || self.shamir_secret_sharing_threshold.is_some()
            || [
                &self.encrypted_regex,
                &self.unencrypted_regex,
                &self.encrypted_suffix,
                &self.unencrypted_suffix,
                &self.encrypted_comment_regex,
                &self.unencrypted_comment_regex,
            ]
            .iter()
            .any(|v| v.is_some())
    }

    /// The Shamir threshold (flag, else the rule's), checked against `groups` key groups
    /// when there are several (one group records none: callers drop it then).
    pub fn threshold(&self, rule: Option<&CreationRule>, groups: usize) -> Result<usize, CliError> {
        let threshold = self
            .shamir_secret_sharing_threshold
            .or(rule.map(|r| r.shamir_threshold))
            .unwrap_or(0);
        if groups > 1 && threshold != 0 && (threshold < 2 || threshold > groups) {
            return Err(CliError::new(
                exit::GENERIC,
                format!(
                    "shamir_threshold {threshold} is invalid for {groups} key groups: it must be between 2 and the number of groups"
                ),
            ));
        }
        Ok(threshold)
    }
}

/// The output arguments shared by the file commands.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Write the result back to FILE (atomically) instead of standard output.
    #[arg(short = 'i', long)]
    pub in_place: bool,

    /// Write the result to PATH (atomically) instead of standard output.
    #[arg(long, value_name = "PATH", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,

    /// Indentation for YAML (spaces) or JSON (spaces; default a tab) output.
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
}

/// Parse a `--input-type` / `--output-type` value.
pub fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| {
        format!("unknown format {s:?}: expected one of yaml, json, dotenv, ini, binary")
    })
}

/// An input read into memory.
pub struct Input {
    /// The file as named on the command line (or `<stdin>`), for messages.
    pub display: PathBuf,
    /// The real file, when the input is one (for -i).
    pub file: Option<PathBuf>,
    /// The absolute path that picks the creation rule (the file, or --filename-override).
    pub rules_path: Option<PathBuf>,
    /// The input format.
    pub format: Format,
    /// The output format.
    pub out_format: Format,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Input {
    /// Read the input named by `args`. When reading standard input without a type or a
    /// filename override, `default_stdin` picks the format.
    pub fn read(ctx: &Ctx, args: &InputArgs, default_stdin: Format) -> Result<Input, CliError> {
        let file = args.file.as_ref().filter(|f| f.as_os_str() != "-").cloned();
        let bytes = match &file {
            Some(f) => {
                if f.is_dir() {
                    return Err(CliError::new(
                        exit::COULD_NOT_READ_INPUT,
                        "this is a directory, not a file",
                    )
                    .in_file(f));
                }
                fsio::read_input(f).map_err(|e| CliError::read_io(f, e))?
            }
            None => read_stdin()?,
        };
        let named = args.filename_override.clone().or_else(|| file.clone());
        let format = args
            .input_type
            .or_else(|| named.as_deref().map(Format::from_path))
            .unwrap_or_else(|| {
                // Standard input with no type: JSON when it looks like an object.
                match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{') => Format::Json,
                    _ => default_stdin,
                }
            });
        let out_format = args.output_type.unwrap_or(format);
        Ok(Input {
            display: file.clone().unwrap_or_else(|| PathBuf::from("<stdin>")),
            rules_path: named.map(|p| ctx.absolute(&p)),
            file,
            format,
            out_format,
            bytes,
        })
    }
}

/// Where the result goes.
pub fn destination(input: &Input, out: &OutputArgs) -> Result<Option<PathBuf>, CliError> {
    if out.in_place {
        match &input.file {
            Some(f) => Ok(Some(f.clone())),
            None => Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                "-i/--in-place needs a file: it cannot rewrite standard input",
            )
            .hint("give the file name, or use --output PATH")),
        }
    } else {
        Ok(out.output.clone())
    }
}

/// Write the result to a file (atomically) or to standard output.
pub fn write_result(
    dest: Option<&Path>,
    bytes: &[u8],
    sensitivity: Sensitivity,
) -> Result<(), CliError> {
    match dest {
        Some(p) => fsio::write_atomic(p, bytes, sensitivity).map_err(|e| CliError::write_io(p, e)),
        None => fsio::write_stdout(bytes).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!(
                    "cannot write to standard output: {}",
                    crate::error::io_reason(&e)
                ),
            )
        }),
    }
}

/// Emit options for a format from `--indent` and the config's `stores` section.
pub fn emit_options(format: Format, indent: Option<usize>, config: Option<&Config>) -> EmitOptions {
    let from_config = config.and_then(|c| match format {
        Format::Yaml => c.yaml_indent,
        Format::Json => c.json_indent,
        Format::Binary => c.json_binary_indent,
        _ => None,
    });
    EmitOptions {
        indent: indent.or(from_config),
    }
}

/// A decrypted file: documents in plaintext, with everything needed to write it back.
pub struct Opened {
    /// The plaintext documents.
    pub docs: Vec<Branch>,
    /// The file's metadata.
    pub metadata: Metadata,
    /// The source layout.
    pub layout: Layout,
    /// The data key.
    pub key: DataKey,
    /// IVs of the decrypted values (for byte-stable re-encryption).
    pub stash: Stash,
}

/// Parse an encrypted file and read its metadata (no key needed).
pub fn load_encrypted(input: &Input) -> Result<(Parsed, Metadata), CliError> {
    with_metadata(input, input.format.store().load_encrypted(&input.bytes))
}

/// The parsed file and its metadata, or the error that names the file.
fn with_metadata(
    input: &Input,
    parsed: Result<Parsed, crate::stores::StoreError>,
) -> Result<(Parsed, Metadata), CliError> {
    let parsed = parsed.map_err(|e| CliError::reading_encrypted(e).in_file(&input.display))?;
    let Some(tree) = &parsed.metadata else {
        return Err(CliError::new(
            exit::GENERIC,
            "sops metadata not found: this file is not encrypted (it has no top-level `sops` entry)",
        )
        .in_file(&input.display)
        .hint("to encrypt it, run: seal encrypt -i FILE"));
    };
    let metadata =
        Metadata::from_tree(tree).map_err(|e| CliError::from(e).in_file(&input.display))?;
    Ok((parsed, metadata))
}

/// Open an encrypted file: recover the data key, decrypt every value, check the MAC
/// (unless `ignore_mac`, which prints a warning). With `want_stash`, record every value's IV
/// so that unchanged values can be re-encrypted byte for byte.
pub fn open(
    input: &Input,
    ids: &Identities,
    ignore_mac: bool,
    want_stash: bool,
) -> Result<Opened, CliError> {
    open_loaded(input, load_encrypted(input)?, ids, ignore_mac, want_stash)
}

/// [`open`] for a caller that has no further use of the input's bytes (`input.bytes` is
/// left empty): the YAML reader keeps them as its text instead of a copy, which is the
/// size of the file less at the peak of a decrypt.
pub fn open_taking_bytes(
    input: &mut Input,
    ids: &Identities,
    ignore_mac: bool,
) -> Result<Opened, CliError> {
    let bytes = std::mem::take(&mut input.bytes);
    let loaded = with_metadata(input, input.format.store().load_encrypted_owned(bytes))?;
    open_loaded(input, loaded, ids, ignore_mac, false)
}

fn open_loaded(
    input: &Input,
    (parsed, metadata): (Parsed, Metadata),
    ids: &Identities,
    ignore_mac: bool,
    want_stash: bool,
) -> Result<Opened, CliError> {
    let key = crate::keys::recover_data_key(&metadata, ids)
        .map_err(|e| CliError::from(e).in_file(&input.display))?;
    let mut docs = parsed.docs;
    let selector = metadata.effective_selector();
    let rules = WalkRules {
        selector: &selector,
        mac_only_encrypted: metadata.mac_only_encrypted,
    };
    let mut stash = Stash::default();
    let dec = cipher::decrypt_docs(&mut docs, &key, &rules, want_stash.then_some(&mut stash))
        .map_err(|e| CliError::from(e).in_file(&input.display))?;
    for w in &dec.warnings {
        eprintln!("seal: warning: {}: {w}", input.display.display());
    }
    if ignore_mac {
        eprintln!(
            "seal: warning: {}: --ignore-mac: the file's integrity was NOT verified",
            input.display.display()
        );
    } else {
        verify_mac(&key, &metadata, &dec.mac).map_err(|e| e.in_file(&input.display))?;
    }
    Ok(Opened {
        docs,
        metadata,
        layout: parsed.layout,
        key,
        stash,
    })
}

/// Compare the recomputed MAC with the stored one.
pub fn verify_mac(key: &DataKey, metadata: &Metadata, computed: &str) -> Result<(), CliError> {
    if metadata.mac.is_empty() {
        return Err(CliError::new(
            exit::MAC_MISMATCH,
            "the file has no MAC, so its integrity cannot be verified",
        )
        .hint("pass --ignore-mac to read it anyway"));
    }
    let stored = cipher::decrypt_mac(key, &metadata.mac, &metadata.lastmodified)?;
    if stored != computed {
        return Err(cipher::CipherError::MacMismatch.into());
    }
    Ok(())
}

/// How to encrypt: selector (None for the binary store), MAC mode, recipients.
pub struct SealPlan {
    /// The selector recorded in the metadata (None: binary store, no field written).
    pub selector: Option<Selector>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// The wrapped data key.
    pub key_groups: Vec<KeyGroup>,
    /// Shamir threshold (0 = unset).
    pub shamir_threshold: usize,
    /// The version to record.
    pub version: String,
}

/// Encrypt plaintext documents in place and build the metadata (new `lastmodified`, MAC).
pub fn seal_docs(
    docs: &mut [Branch],
    key: &DataKey,
    plan: SealPlan,
    stash: Option<&Stash>,
) -> Result<Metadata, CliError> {
    let walk_selector = plan.selector.clone().unwrap_or_default();
    let rules = WalkRules {
        selector: &walk_selector,
        mac_only_encrypted: plan.mac_only_encrypted,
    };
    let mac = cipher::encrypt_docs(docs, key, &rules, stash)?;
    let lastmodified = Metadata::now_lastmodified();
    let enc_mac = cipher::encrypt_mac(key, &mac, &lastmodified)?;
    Ok(Metadata {
        key_groups: plan.key_groups,
        shamir_threshold: plan.shamir_threshold,
        lastmodified,
        mac: enc_mac,
        selector: plan.selector,
        mac_only_encrypted: plan.mac_only_encrypted,
        version: plan.version,
    })
}

/// The rule that applies to `input`, or an error when a config has rules and none match
/// (sops refuses then, even with --age).
pub fn matching_rule<'c>(
    config: Option<&'c Config>,
    input: &Input,
) -> Result<Option<&'c CreationRule>, CliError> {
    let Some(config) = config else {
        return Ok(None);
    };
    if config.creation_rules.is_empty() {
        return Ok(None);
    }
    let Some(path) = &input.rules_path else {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!(
                "reading standard input: seal needs a file name to pick a creation rule from {}",
                config.path.display()
            ),
        )
        .hint("pass --filename-override PATH (the path the file will have in the repository)"));
    };
    match config.rule_for(path) {
        Some(r) => Ok(Some(r)),
        None => {
            let rel = path
                .strip_prefix(config.path.parent().unwrap_or(Path::new("/")))
                .unwrap_or(path);
            let regexes: Vec<String> = config
                .creation_rules
                .iter()
                .filter_map(|r| r.path_regex.clone())
                .collect();
            Err(CliError::new(
                exit::GENERIC,
                format!(
                    "no matching creation rules found: no path_regex in {} matches {} (rules: {})",
                    config.path.display(),
                    rel.display(),
                    regexes.join(", ")
                ),
            )
            .in_file(&input.display)
            .hint("add a creation rule for this path to .sops.yaml, or run seal from a directory without that .sops.yaml"))
        }
    }
}

/// The version to write when rewriting a file: keep the file's unless it is older than
/// the one seal speaks.
pub fn new_version() -> String {
    SOPS_VERSION.to_string()
}

/// All of standard input.
pub fn read_stdin() -> Result<Vec<u8>, CliError> {
    fsio::read_stdin().map_err(|e| {
        CliError::new(
            exit::COULD_NOT_READ_INPUT,
            format!(
                "cannot read standard input: {}",
                crate::error::io_reason(&e)
            ),
        )
    })
}

/// The key groups a new file is encrypted for: `--age` (comma-separated, one group) when
/// given, else the matching rule's groups; empty groups dropped, every recipient checked.
/// `Ok(None)` when there is nobody to encrypt for (callers say why in their own words).
pub fn recipient_groups(
    age: Option<&str>,
    rule: Option<&CreationRule>,
) -> Result<Option<Vec<Vec<String>>>, CliError> {
    let groups: Vec<Vec<String>> = match age {
        Some(list) => vec![
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ],
        None => rule.map(|r| r.key_groups.clone()).unwrap_or_default(),
    };
    let groups: Vec<Vec<String>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return Ok(None);
    }
    for r in groups.iter().flatten() {
        crate::keys::check_recipient(r)?;
    }
    Ok(Some(groups))
}

/// Warn, naming each one, about the documents other than Secrets whose data the
/// Kubernetes default selector encrypts too (it covers the whole file), and suggest
/// splitting the file. Nothing when the default does not apply.
pub fn warn_kubernetes_spillover(display: &Path, docs: &[crate::tree::Branch]) {
    let spill = crate::rules::kubernetes_default_spillover(docs);
    if spill.is_empty() {
        return;
    }
    eprintln!(
        "seal: warning: {}: the Kubernetes default (encrypted_regex {}) covers the whole file, so the data of {} is encrypted as well; split the Secrets into a file of their own to keep {} readable",
        display.display(),
        crate::rules::KUBERNETES_REGEX,
        spill.join(", "),
        if spill.len() == 1 { "it" } else { "them" }
    );
}

/// A fresh private temporary directory (see [`crate::tempdir`]), or an error that says
/// where seal tried and what to set.
pub fn private_dir() -> Result<crate::tempdir::PrivateDir, CliError> {
    crate::tempdir::PrivateDir::create().map_err(|e| temp_error(&e))
}

/// The error for a temporary file or directory that could not be created.
pub fn temp_error(e: &std::io::Error) -> CliError {
    CliError::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        format!(
            "cannot create a private temporary file in {}: {}",
            crate::tempdir::temp_root().display(),
            crate::error::io_reason(e)
        ),
    )
    .hint("set TMPDIR (or XDG_RUNTIME_DIR) to a writable directory")
}
