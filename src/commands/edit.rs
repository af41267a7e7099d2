//! `seal edit`: decrypt into a private temporary directory, run the editor, re-encrypt with
//! the same data key (unchanged values keep their ciphertext), and remove the plaintext on
//! every exit path. Also creates new files from a template, and shows Kubernetes `data`
//! values decoded with `--decode-data`.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::commands::common::{self, Ctx, Input, SealPlan, emit_options};
use crate::config::Config;
use crate::error::{CliError, exit};
use crate::fsio::{self, Sensitivity};
use crate::keys;
use crate::metadata::SOPS_VERSION;
use crate::rules::{self, Selector};
use crate::stores::{Format, Layout, Parsed};
use crate::tempdir::ChildGuard;
use crate::tree::{Branch, Item, Value};

/// sops's exit code when the editor cannot be found or run.
pub const NO_EDITOR: u8 = 201;

/// Edit an encrypted file in $EDITOR, leaving no plaintext behind
///
/// Decrypts FILE into a fresh private directory (0700, the file 0600; $XDG_RUNTIME_DIR or
/// /dev/shm when present, else $TMPDIR), runs $SOPS_EDITOR, $EDITOR or vi (split like a
/// shell command, so `code --wait` works), then re-encrypts with the same data key: values
/// you did not change keep their exact ciphertext. The plaintext is removed on every exit
/// path, including Ctrl-C and every catchable signal. When the edited text does not
/// parse, seal says where and, on a terminal, offers to re-open the editor; otherwise it exits non-zero and the
/// file is unchanged. When nothing changed, nothing is written and seal exits 0, or 200
/// with --exit-code (what sops 3.11 always does, for scripts that test for it). A FILE that does not exist is created from a template (a
/// Kubernetes Secret for YAML) for the keys of --age, --pgp, --kms, --hc-vault-transit,
/// --gcp-kms, --azure-kv and --hckms (one key group) or of the matching .sops.yaml rule; the
/// selector flags, --mac-only-encrypted and --shamir-secret-sharing-threshold then replace
/// the rule's (a file that exists keeps its own).
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The encrypted file to edit (created when it does not exist).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    input_type: Option<Format>,

    /// For a new file: encrypt for these age recipients (comma-separated) instead of the
    /// .sops.yaml rule's.
    #[arg(
        long,
        short = 'a',
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    age: Option<String>,

    /// For a new file: encrypt for these PGP fingerprints (comma-separated, through gpg),
    /// with --age in one key group, instead of the .sops.yaml rule's.
    #[arg(long, env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pgp: Option<String>,

    /// For a new file: encrypt for these AWS KMS keys (comma-separated ARN[+ROLE_ARN]), with
    /// --age in one key group, instead of the .sops.yaml rule's.
    #[arg(long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    kms: Option<String>,

    /// For a new file: the AWS profile for the --kms keys.
    #[arg(long, value_name = "PROFILE")]
    aws_profile: Option<String>,

    /// For a new file: the KMS encryption context for the --kms keys
    /// (key1:value1,key2:value2).
    #[arg(long, value_name = "CONTEXT")]
    encryption_context: Option<String>,

    /// For a new file: encrypt for these Vault/OpenBao transit keys (comma-separated
    /// https://HOST:PORT/v1/ENGINE/keys/NAME), with --age in one key group, instead of the
    /// .sops.yaml rule's.
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    hc_vault_transit: Option<String>,

    /// For a new file: encrypt for these GCP Cloud KMS keys (comma-separated
    /// projects/P/locations/L/keyRings/R/cryptoKeys/K), with --age in one key group.
    #[arg(long, env = "SOPS_GCP_KMS_IDS", value_name = "RESOURCE_IDS")]
    gcp_kms: Option<String>,

    /// For a new file: encrypt for these Azure Key Vault keys (comma-separated
    /// https://VAULT.vault.azure.net/keys/NAME/VERSION), with --age in one key group.
    #[arg(long, env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    azure_kv: Option<String>,

    /// For a new file: encrypt for these HuaweiCloud KMS keys (comma-separated
    /// REGION:KEY_UUID), with --age in one key group.
    #[arg(long, env = "SOPS_HUAWEICLOUD_KMS_IDS", value_name = "KEY_IDS")]
    hckms: Option<String>,

    /// For a new file: what it encrypts and how (each replaces the .sops.yaml rule's).
    #[command(flatten)]
    creation: common::CreationArgs,

    /// Show Kubernetes Secret `data` values base64-decoded and encode them again on save.
    /// Values that are not UTF-8 text stay base64, marked by a `# seal: kept as base64`
    /// comment (leave the comment in place).
    #[arg(long)]
    decode_data: bool,

    /// Open the file even if its MAC does not match (prints a warning).
    #[arg(long)]
    ignore_mac: bool,

    /// Exit 200 (sops's "file not modified") instead of 0 when nothing was changed.
    #[arg(long)]
    exit_code: bool,

    /// Indentation for YAML (spaces) or JSON (spaces; default a tab).
    #[arg(long, value_name = "N")]
    indent: Option<usize>,
}

/// The comment that marks a `data` value `--decode-data` left base64-encoded.
pub const KEPT_BASE64: &str = " seal: kept as base64 (not UTF-8 text, or not canonical base64)";

/// Run `seal edit`.
pub fn run(ctx: &Ctx, args: &EditArgs) -> Result<(), CliError> {
    let file = args.file.clone();
    let format = args.input_type.unwrap_or_else(|| Format::from_path(&file));
    if args.decode_data && format != Format::Yaml {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!(
                "--decode-data works on YAML files only (this file is {format}): other formats cannot keep the marker comments it needs"
            ),
        )
        .in_file(&file));
    }
    let editor = editor_command(std::env::var_os("SOPS_EDITOR"), std::env::var_os("EDITOR"))?;
    // An existing file needs the config only for its indentation, so a broken
    // .sops.yaml does not stop an edit; a new file needs its rule.
    let config = if file.exists() {
        ctx.config().ok().flatten()
    } else {
        ctx.config()?
    };
    let outcome = if file.exists() {
        if args.creation.any() && crate::ui::verbosity() != crate::ui::Verbosity::Quiet {
            eprintln!(
                "seal: {}: exists, so the selector, --mac-only-encrypted and Shamir flags are ignored: the file keeps its own (as sops)",
                file.display()
            );
        }
        edit_existing(ctx, args, &editor, format, config.as_ref())?
    } else {
        create_new(ctx, args, &editor, format, config.as_ref())?
    };
    match outcome {
        Outcome::Sealed(bytes) => fsio::write_atomic(&file, &bytes, Sensitivity::Public)
            .map_err(|e| CliError::write_io(&file, e)),
        Outcome::Unchanged if !args.exit_code => {
            eprintln!("seal: {}: not changed; nothing was written", file.display());
            Ok(())
        }
        Outcome::Unchanged => Err(CliError::new(
            exit::FILE_NOT_MODIFIED,
            "the file has not changed, so nothing was written (exit 200, as sops)",
        )
        .in_file(&file)),
    }
}

/// What an edit session produced.
enum Outcome {
    /// The editor left the text as it was.
    Unchanged,
    /// The new encrypted file.
    Sealed(Vec<u8>),
}

/// The editor command: `$SOPS_EDITOR`, else `$EDITOR`, else `vi`, split like a shell
/// command line (quotes respected). The file path is appended when it runs.
pub fn editor_command(
    sops_editor: Option<OsString>,
    editor: Option<OsString>,
) -> Result<Vec<String>, CliError> {
    let (var, raw) = match (sops_editor, editor) {
        (Some(v), _) if !v.is_empty() => ("SOPS_EDITOR", v),
        (_, Some(v)) if !v.is_empty() => ("EDITOR", v),
        _ => return Ok(vec!["vi".to_string()]),
    };
    let text = raw.into_string().map_err(|_| {
        CliError::new(NO_EDITOR, format!("${var} is not valid UTF-8"))
            .hint("set it to an editor command such as `vim` or `code --wait`")
    })?;
    match shlex::split(&text) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => Err(CliError::new(
            NO_EDITOR,
            format!("${var} ({text:?}) is not a valid command line (empty, or an unclosed quote)"),
        )
        .hint("set it to an editor command such as `vim` or `code --wait`")),
    }
}

/// Run the editor on `path` and wait; a failure is an error (the plaintext is removed by
/// the caller's [`PrivateDir`]).
fn run_editor(editor: &[String], path: &Path) -> Result<(), CliError> {
    let Some((prog, rest)) = editor.split_first() else {
        return Err(CliError::new(NO_EDITOR, "no editor command"));
    };
    let guard = ChildGuard::starting();
    let mut child = std::process::Command::new(prog)
        .args(rest)
        .arg(path)
        .spawn()
        .map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                format!("the editor `{prog}` was not found")
            } else {
                format!(
                    "cannot run the editor `{prog}`: {}",
                    crate::error::io_reason(&e)
                )
            };
            CliError::new(NO_EDITOR, what)
                .hint("set SOPS_EDITOR or EDITOR to an installed editor, e.g. EDITOR=nano or EDITOR='code --wait'")
        })?;
    let status = {
        guard.track(child.id());
        let status = child.wait();
        drop(guard);
        status
    }
    .map_err(|e| {
        CliError::new(
            NO_EDITOR,
            format!(
                "waiting for the editor failed: {}",
                crate::error::io_reason(&e)
            ),
        )
    })?;
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(CliError::new(
            NO_EDITOR,
            format!(
                "the editor `{prog}` {how}; the edit was discarded and the file was not changed"
            ),
        ));
    }
    Ok(())
}

/// Whether seal can ask the user something (stdin and stderr are terminals).
fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Write `initial` into a private directory as `name`, run the editor until `finish`
/// accepts the text (re-opening on a terminal when it does not), and remove the plaintext.
fn edit_session(
    editor: &[String],
    name: &str,
    initial: &[u8],
    display: &Path,
    mut finish: impl FnMut(&[u8]) -> Result<Vec<u8>, CliError>,
) -> Result<Outcome, CliError> {
    let dir = common::private_dir()?;
    let path = dir.write_file(name, initial).map_err(|e| {
        CliError::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!(
                "cannot write the temporary file: {}",
                crate::error::io_reason(&e)
            ),
        )
    })?;
    loop {
        run_editor(editor, &path).map_err(|e| e.in_file(display))?;
        let text = Zeroizing::new(std::fs::read(&path).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_READ_INPUT,
                format!(
                    "cannot read the edited text back (did the editor remove it?): {}; the file was not changed",
                    crate::error::io_reason(&e)
                ),
            )
            .in_file(display)
        })?);
        if text.as_slice() == initial {
            return Ok(Outcome::Unchanged);
        }
        match finish(&text) {
            Ok(bytes) => return Ok(Outcome::Sealed(bytes)),
            Err(e) if interactive() => {
                eprintln!("seal: error: {e}");
                eprint!(
                    "seal: press Enter to re-open the editor and fix it, or type q and Enter to discard the edit: "
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                let read = std::io::stdin().lock().read_line(&mut answer);
                if matches!(read, Ok(0) | Err(_)) || answer.trim().eq_ignore_ascii_case("q") {
                    return Err(CliError::new(
                        exit::COULD_NOT_READ_INPUT,
                        "the edit was discarded; the file was not changed",
                    )
                    .in_file(display));
                }
            }
            Err(e) => {
                return Err(e
                    .in_file(display)
                    .hint("the edit was discarded and the file was not changed (no terminal to offer re-editing)"));
            }
        }
    }
}

/// The name the temporary file gets: the file's own name, so editors pick the syntax.
fn temp_name(file: &Path, format: Format) -> String {
    let n = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| crate::tempdir::check_file_name(n).is_ok())
        .unwrap_or_default();
    if n.is_empty() {
        format!("file.{}", format.name())
    } else {
        n
    }
}

/// Parse edited plaintext: syntax errors say where; a `sops` key is refused.
fn parse_edited(format: Format, text: &[u8]) -> Result<Parsed, CliError> {
    let parsed = format.store().load_plain(text).map_err(|e| {
        CliError::new(
            exit::COULD_NOT_READ_INPUT,
            format!("the edited text is not valid {format}: {e}"),
        )
        .hint("the line and column refer to the text you edited")
    })?;
    if parsed.metadata.is_some() {
        return Err(CliError::new(
            exit::COULD_NOT_READ_INPUT,
            "the edited text has a top-level `sops` key (dotenv: a sops_ key; INI: a [sops] section), which seal writes itself",
        )
        .hint("remove it; the metadata is kept outside the editor"));
    }
    Ok(parsed)
}

fn edit_existing(
    ctx: &Ctx,
    args: &EditArgs,
    editor: &[String],
    format: Format,
    config: Option<&Config>,
) -> Result<Outcome, CliError> {
    let input = Input::read(
        ctx,
        &common::InputArgs {
            file: Some(args.file.clone()),
            input_type: Some(format),
            output_type: None,
            filename_override: None,
        },
        format,
    )?;
    let ids = ctx.identities();
    let mut opened = common::open(&input, &ids, args.ignore_mac, true)?;
    if args.decode_data {
        decode_data(&mut opened.docs);
    }
    let opts = emit_options(format, args.indent, config);
    let plain = Zeroizing::new(
        format
            .store()
            .emit_plain(&opened.docs, &opened.layout, opts)
            .map_err(|e| CliError::writing(e).in_file(&input.display))?,
    );
    let meta = opened.metadata;
    let key = opened.key;
    let stash = opened.stash;
    let version = raise_version(&meta.version);
    let decode = args.decode_data;
    edit_session(
        editor,
        &temp_name(&args.file, format),
        &plain,
        &input.display,
        |text| {
            let parsed = parse_edited(format, text)?;
            let mut docs = parsed.docs;
            if decode {
                encode_data(&mut docs)?;
            }
            let new_meta = common::seal_docs(
                &mut docs,
                &key,
                SealPlan {
                    selector: meta.selector.clone(),
                    mac_only_encrypted: meta.mac_only_encrypted,
                    key_groups: meta.key_groups.clone(),
                    shamir_threshold: meta.shamir_threshold,
                    version: version.clone(),
                },
                Some(&stash),
            )?;
            format
                .store()
                .emit_encrypted(&docs, &new_meta.to_tree(), &parsed.layout, opts)
                .map_err(CliError::writing)
        },
    )
}

/// The file's version raised to seal's when seal's is newer (as sops does on edit).
pub fn raise_version(file_version: &str) -> String {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    match (parse(file_version), parse(SOPS_VERSION)) {
        (Some(f), Some(s)) if f > s => file_version.to_string(),
        _ => SOPS_VERSION.to_string(),
    }
}

/// The starting text of a new file.
pub fn template(format: Format, file: &Path) -> String {
    let stem = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    if name.is_empty() {
        name = "my-secret".to_string();
    }
    match format {
        Format::Yaml => format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n    name: {name}\n    namespace: default\ntype: Opaque\nstringData:\n    EXAMPLE_KEY: example-value\n"
        ),
        Format::Json => format!(
            "{{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"Secret\",\n\t\"metadata\": {{\n\t\t\"name\": \"{name}\",\n\t\t\"namespace\": \"default\"\n\t}},\n\t\"type\": \"Opaque\",\n\t\"stringData\": {{\n\t\t\"EXAMPLE_KEY\": \"example-value\"\n\t}}\n}}\n"
        ),
        Format::Dotenv => "EXAMPLE_KEY=example-value\n".to_string(),
        Format::Ini => "[section]\nexample_key = example-value\n".to_string(),
        Format::Binary => String::new(),
    }
}

fn create_new(
    ctx: &Ctx,
    args: &EditArgs,
    editor: &[String],
    format: Format,
    config: Option<&Config>,
) -> Result<Outcome, CliError> {
    let file = &args.file;
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(CliError::new(
            exit::NO_FILE,
            format!(
                "the file does not exist and its directory {} does not either",
                parent.display()
            ),
        )
        .in_file(file)
        .hint("create the directory first"));
    }
    let input = Input {
        display: file.clone(),
        file: Some(file.clone()),
        rules_path: Some(ctx.absolute(file)),
        format,
        out_format: format,
        bytes: Vec::new(),
    };
    let rule = common::matching_rule(config, &input)?;
    // Recipients are checked before the editor opens, so no edit is lost to a missing key.
    // --age, --pgp, --kms, --hc-vault-transit, --gcp-kms, --azure-kv and --hckms together
    // make one key group (as `encrypt`), replacing the rule's.
    let explicit = args.age.is_some()
        || args.pgp.is_some()
        || args.kms.is_some()
        || args.hc_vault_transit.is_some()
        || args.gcp_kms.is_some()
        || args.azure_kv.is_some()
        || args.hckms.is_some();
    let groups = if explicit {
        let mut list: Vec<String> = args
            .age
            .iter()
            .flat_map(|l| l.split(','))
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        list.extend(
            args.pgp
                .iter()
                .flat_map(|l| keys::pgp::parse_fp_list(l))
                .map(|fp| keys::pgp::tag(&fp)),
        );
        list.extend(
            keys::service_flag_recipients(
                args.kms.as_slice(),
                args.encryption_context.as_deref(),
                args.aws_profile.as_deref(),
                args.hc_vault_transit.as_slice(),
            )
            .map_err(|e| CliError::from(e).in_file(file))?,
        );
        list.extend(keys::gcp_kms::flag_recipients(args.gcp_kms.as_slice()));
        list.extend(keys::azure_kv::flag_recipients(args.azure_kv.as_slice()));
        list.extend(
            keys::hckms::flag_recipients(args.hckms.as_slice(), "--hckms")
                .map_err(|e| CliError::new(exit::GENERIC, e).in_file(file))?,
        );
        for r in &list {
            keys::check_recipient(r).map_err(|e| CliError::from(e).in_file(file))?;
        }
        (!list.is_empty()).then(|| vec![list])
    } else {
        common::recipient_groups(None, rule)?
    };
    let Some(groups) = groups else {
        return Err(CliError::new(
            exit::GENERIC,
            "the file does not exist, and there is nobody to encrypt a new one for: no --age, --pgp, --kms, --hc-vault-transit, --gcp-kms, --azure-kv or --hckms and no matching .sops.yaml rule with keys",
        )
        .in_file(file)
        .hint("pass --age age1… (or set SOPS_AGE_RECIPIENTS), --pgp FINGERPRINT, --kms ARN or --hc-vault-transit URI, or add a creation rule to .sops.yaml"));
    };
    let threshold = args.creation.threshold(rule, groups.len())?;
    let threshold = if groups.len() > 1 { threshold } else { 0 };
    let rule_selector: Option<Selector> = args
        .creation
        .selector()
        .map_err(|e| e.in_file(file))?
        .or_else(|| rule.and_then(|r| r.selector.clone()));
    let mac_only = args.creation.mac_only_encrypted || rule.is_some_and(|r| r.mac_only_encrypted);
    let opts = emit_options(format, args.indent, config);
    let initial = template(format, file);
    eprintln!(
        "seal: {} does not exist: starting from a template; it is created when you save a change",
        file.display()
    );
    edit_session(
        editor,
        &temp_name(file, format),
        initial.as_bytes(),
        file,
        |text| {
            let parsed = parse_edited(format, text)?;
            let mut docs = parsed.docs;
            if args.decode_data {
                encode_data(&mut docs)?;
            }
            let key = DataKey::try_generate()?;
            let key_groups = keys::wrap_groups(&groups, threshold, &key)?;
            let selector = if format == Format::Binary {
                None
            } else {
                Some(
                    rule_selector
                        .clone()
                        .or_else(|| rules::kubernetes_default(&docs))
                        .unwrap_or_default(),
                )
            };
            let meta = common::seal_docs(
                &mut docs,
                &key,
                SealPlan {
                    selector,
                    mac_only_encrypted: mac_only,
                    key_groups,
                    shamir_threshold: threshold,
                    version: common::new_version(),
                },
                None,
            )?;
            let layout = if format == Format::Binary {
                Layout::none()
            } else {
                parsed.layout
            };
            format
                .store()
                .emit_encrypted(&docs, &meta.to_tree(), &layout, opts)
                .map_err(CliError::writing)
        },
    )
}

fn is_secret(doc: &Branch) -> bool {
    matches!(doc.get("kind"), Some(Value::Str(k)) if k == "Secret")
}

fn data_mut(doc: &mut Branch) -> Option<&mut Branch> {
    doc.items.iter_mut().find_map(|i| match i {
        Item::Pair(k, Value::Branch(b)) if k == "data" => Some(b),
        _ => None,
    })
}

/// Decode the base64 `data` values of every Kubernetes Secret in place. A value that is
/// not canonical base64 of UTF-8 text is left as it is and marked by a [`KEPT_BASE64`]
/// comment just before it. Returns how many values were decoded.
pub fn decode_data(docs: &mut [Branch]) -> usize {
    let mut n = 0;
    for doc in docs.iter_mut().filter(|d| is_secret(d)) {
        let Some(data) = data_mut(doc) else {
            continue;
        };
        let mut items = Vec::with_capacity(data.items.len());
        for item in data.items.drain(..) {
            match item {
                Item::Pair(k, Value::Str(s)) => {
                    let decoded = STANDARD
                        .decode(s.as_bytes())
                        .ok()
                        .filter(|d| STANDARD.encode(d) == s)
                        .and_then(|d| String::from_utf8(d).ok());
                    match decoded {
                        Some(text) => {
                            n += 1;
                            items.push(Item::Pair(k, Value::Str(text)));
                        }
                        None => {
                            items.push(Item::Comment(KEPT_BASE64.to_string()));
                            items.push(Item::Pair(k, Value::Str(s)));
                        }
                    }
                }
                other => items.push(other),
            }
        }
        data.items = items;
    }
    n
}

/// Encode the `data` values of every Kubernetes Secret back to base64 (the reverse of
/// [`decode_data`]): values after a [`KEPT_BASE64`] comment are kept as they are and the
/// comment is removed. Numbers and booleans are encoded as their text.
pub fn encode_data(docs: &mut [Branch]) -> Result<(), CliError> {
    for doc in docs.iter_mut().filter(|d| is_secret(d)) {
        let Some(data) = data_mut(doc) else {
            continue;
        };
        let mut keep_next = false;
        let mut items = Vec::with_capacity(data.items.len());
        for item in data.items.drain(..) {
            match item {
                Item::Comment(c) if c == KEPT_BASE64 => keep_next = true,
                Item::Pair(k, v) => {
                    let v = if std::mem::take(&mut keep_next) {
                        v
                    } else {
                        match v {
                            Value::Str(s) => Value::Str(STANDARD.encode(s.as_bytes())),
                            Value::Bytes(b) => Value::Str(STANDARD.encode(&b)),
                            Value::Int(i) => Value::Str(STANDARD.encode(i.to_string())),
                            Value::Bool(b) => Value::Str(STANDARD.encode(b.to_string())),
                            Value::Float(f) => {
                                Value::Str(STANDARD.encode(crate::tree::format_float_yaml(f)))
                            }
                            Value::Time(t) => Value::Str(STANDARD.encode(t.0)),
                            Value::Null => Value::Null,
                            Value::Branch(_) | Value::List(_) | Value::Comment(_) => {
                                return Err(CliError::new(
                                    exit::COULD_NOT_READ_INPUT,
                                    format!(
                                        "data.{k} must be a string: a Secret's data values are text (or base64), not maps or lists"
                                    ),
                                ));
                            }
                        }
                    };
                    items.push(Item::Pair(k, v));
                }
                other => items.push(other),
            }
        }
        data.items = items;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: Vec<(&str, &str)>) -> Branch {
        Branch {
            items: vec![
                Item::Pair("kind".into(), Value::Str("Secret".into())),
                Item::Pair(
                    "data".into(),
                    Value::Branch(Branch {
                        items: data
                            .into_iter()
                            .map(|(k, v)| Item::Pair(k.into(), Value::Str(v.into())))
                            .collect(),
                    }),
                ),
            ],
        }
    }

    #[test]
    fn editor_is_split_like_a_shell_command() {
        assert_eq!(
            editor_command(None, Some("code --wait".into())).unwrap(),
            vec!["code", "--wait"]
        );
        assert_eq!(
            editor_command(Some("'my editor' -n".into()), Some("vim".into())).unwrap(),
            vec!["my editor", "-n"]
        );
        assert_eq!(editor_command(Some("".into()), None).unwrap(), vec!["vi"]);
        assert_eq!(editor_command(None, None).unwrap(), vec!["vi"]);
        let e = editor_command(None, Some("vim 'unclosed".into())).unwrap_err();
        assert_eq!(e.code, NO_EDITOR);
    }

    #[test]
    fn data_values_decode_and_encode_back() {
        // "hello" and "a\nb" are text; 0xff 0xfe is not UTF-8; "aGk" is not canonical.
        let mut docs = vec![secret(vec![
            ("A", "aGVsbG8="),
            ("B", "YQpi"),
            ("BIN", "//4="),
            ("ODD", "aGk"),
        ])];
        let orig = docs.clone();
        assert_eq!(decode_data(&mut docs), 2);
        let Some(Value::Branch(d)) = docs[0].get("data") else {
            panic!()
        };
        assert_eq!(d.get("A"), Some(&Value::Str("hello".into())));
        assert_eq!(d.get("B"), Some(&Value::Str("a\nb".into())));
        assert_eq!(d.get("BIN"), Some(&Value::Str("//4=".into())));
        assert_eq!(
            d.items
                .iter()
                .filter(|i| matches!(i, Item::Comment(c) if c == KEPT_BASE64))
                .count(),
            2
        );
        encode_data(&mut docs).unwrap();
        assert_eq!(docs, orig);
    }

    #[test]
    fn typed_values_encode_as_text_and_maps_are_refused() {
        let mut docs = vec![secret(vec![])];
        if let Some(d) = data_mut(&mut docs[0]) {
            d.items.push(Item::Pair("PORT".into(), Value::Int(5432)));
            d.items.push(Item::Pair("ON".into(), Value::Bool(true)));
        }
        encode_data(&mut docs).unwrap();
        let Some(Value::Branch(d)) = docs[0].get("data") else {
            panic!()
        };
        assert_eq!(d.get("PORT"), Some(&Value::Str("NTQzMg==".into())));
        assert_eq!(d.get("ON"), Some(&Value::Str("dHJ1ZQ==".into())));
        if let Some(d) = data_mut(&mut docs[0]) {
            d.items
                .push(Item::Pair("M".into(), Value::Branch(Branch::default())));
        }
        assert!(encode_data(&mut docs).is_err());
    }

    #[test]
    fn not_a_secret_is_left_alone() {
        let mut docs = vec![secret(vec![("A", "aGVsbG8=")])];
        docs[0].items[0] = Item::Pair("kind".into(), Value::Str("ConfigMap".into()));
        let orig = docs.clone();
        assert_eq!(decode_data(&mut docs), 0);
        encode_data(&mut docs).unwrap();
        assert_eq!(docs, orig);
    }

    #[test]
    fn versions_are_raised_never_lowered() {
        assert_eq!(raise_version("3.7.3"), SOPS_VERSION);
        assert_eq!(raise_version("99.0.0"), "99.0.0");
        assert_eq!(raise_version("garbage"), SOPS_VERSION);
    }

    #[test]
    fn templates_parse_in_their_format() {
        for f in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
            let t = template(f, Path::new("dir/My_App.enc.yaml"));
            let p = f.store().load_plain(t.as_bytes()).unwrap();
            assert!(p.metadata.is_none(), "{f}");
            if matches!(f, Format::Yaml | Format::Json) {
                assert!(t.contains("my-app"), "{t}");
                assert!(rules::kubernetes_default(&p.docs).is_some());
            }
        }
    }
}
