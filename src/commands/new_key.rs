//! `seal new-key`: a new age X25519 (or, with --pq, post-quantum) identity in the exact
//! `age-keygen` file format, written to a file (optionally passphrase-protected) or stored
//! in the OS keyring, and optionally added as a recipient to `.sops.yaml`.

use std::fs::OpenOptions;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use clap::Args;
use zeroize::Zeroizing;

use crate::commands::common::Ctx;
use crate::commands::key::{keyring_error, open_keyring, sops_yaml};
use crate::error::{CliError, exit, io_reason};

/// The scrypt work factor (log2 N) of passphrase-protected identity files: the one
/// `age -p` uses, so every age implementation (and sops) opens them in about a second.
const SCRYPT_WORK_FACTOR: u8 = 18;

/// Generate an age identity (age-keygen format) and print its public key
///
/// With -o FILE the identity is written to FILE, created with mode 0600 (missing parent
/// directories are created 0700); an existing file is never overwritten. Without -o it is
/// appended to the file sops reads by default, $XDG_CONFIG_HOME/sops/age/keys.txt
/// (~/.config/sops/age/keys.txt), created 0600 in a 0700 directory; an existing one that
/// group or others can open is first made 0600 (with a message). `-o -` prints the
/// identity to standard output.
///
/// --passphrase encrypts the identity file with a passphrase (age scrypt, armored), asked
/// twice on the terminal, else read from SEAL_PASSPHRASE_FILE (first line) or
/// SEAL_PASSPHRASE; sops 3.10+ and `age -d` read such files. An encrypted file is a file
/// of its own: it is never appended to an existing keys.txt.
///
/// --pq makes a post-quantum identity instead of an X25519 one: public key age1pq1…,
/// secret key AGE-SECRET-KEY-PQ-1… (hybrid ML-KEM-768 + X25519, as `age-keygen -pq`
/// writes), read by sops 3.12+ and age 1.3+. Do not mix it with classical recipients in
/// one rule if the point is resisting a future quantum computer. Not with --keyring.
///
/// --keyring stores the secret key in the OS keyring instead (service `seal`, or
/// $SEAL_KEYRING_SERVICE; account: the public key); nothing is written to disk. In a
/// container without a login session, run seal under `keyctl session -`.
///
/// --add-to-config adds the public key to the age recipients of the .sops.yaml rules that
/// match the --for PATHs (repeatable; or of its only rule), editing the file minimally;
/// in a rule written with key_groups the key goes to the first group's age list, or to
/// group --group N. The edit is checked before the key is stored, and the key is stored
/// before .sops.yaml names it. Without a .sops.yaml one is created in the current
/// directory with the Kubernetes rule of the getting-started guide (path_regex
/// `kubernetes/.*\.sops\.ya?ml$`, encrypted_regex `^(data|stringData)$`).
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// Where to write the identity (`-` for standard output).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Protect the identity file with a passphrase (age scrypt encryption, armored).
    #[arg(long, conflicts_with = "keyring")]
    passphrase: bool,

    /// Store the identity in the OS keyring instead of a file.
    #[arg(long, conflicts_with = "output")]
    keyring: bool,

    /// Generate a post-quantum key pair (hybrid ML-KEM-768 + X25519: age1pq1… and
    /// AGE-SECRET-KEY-PQ-1…, as `age-keygen -pq` does), which sops 3.12+ and age 1.3+ read.
    #[arg(long, conflicts_with = "keyring")]
    pq: bool,

    /// Add the public key to the matching .sops.yaml rule (created when absent).
    #[arg(long)]
    add_to_config: bool,

    /// With --add-to-config: the rule that matches this file path gets the key (repeat
    /// for several rules).
    #[arg(long = "for", value_name = "PATH", requires = "add_to_config")]
    for_path: Vec<PathBuf>,

    /// With --add-to-config, for rules written with key_groups: the group (1 = the first,
    /// the default) whose age list gets the key.
    #[arg(long, value_name = "N", requires = "add_to_config", value_parser = clap::value_parser!(u16).range(1..))]
    group: Option<u16>,
}

/// A planned `.sops.yaml` change, computed (and checked) before the key is stored.
struct ConfigPlan {
    path: PathBuf,
    text: String,
    created: bool,
    /// The rules (0-based) that get the key.
    rules: Vec<usize>,
}

/// Run `seal new-key`.
pub fn run(ctx: &Ctx, args: &NewKeyArgs) -> Result<(), CliError> {
    let id = age::x25519::Identity::generate();
    let pq = args.pq.then(crate::keys::age_pq::Identity::generate);
    let public = match &pq {
        Some(p) => p.to_public().to_string(),
        None => id.to_public().to_string(),
    };
    let plan = if args.add_to_config {
        Some(plan_config(ctx, args, &public)?)
    } else {
        None
    };
    let passphrase = if args.passphrase {
        Some(new_passphrase(ctx)?)
    } else {
        None
    };

    if args.keyring {
        let ring = open_keyring(ctx)?;
        ring.store(&id).map_err(keyring_error)?;
        eprintln!(
            "Stored the new identity in the OS keyring (service {}, account {public}); nothing \
             was written to disk.",
            ring.service()
        );
        eprintln!(
            "The kernel keyring forgets keys on reboot: keep a backup, e.g. \
             `seal key export {public} | age -p -a -o backup.age`."
        );
    } else {
        let text = match &pq {
            Some(p) => key_text(&p.to_string(), &public),
            None => identity_text(&id, &public),
        };
        let bytes = match &passphrase {
            Some(p) => Zeroizing::new(encrypt_with_passphrase(&text, p)?.into_bytes()),
            None => Zeroizing::new(text.as_bytes().to_vec()),
        };
        write_identity(ctx, args, &bytes, passphrase.is_some())?;
    }
    if let Some(plan) = plan {
        apply_config(&plan, &public)?;
    }
    eprintln!("Public key: {public}");
    if !matches!(&args.output, Some(p) if p.as_os_str() == "-") {
        println!("{public}");
    }
    Ok(())
}

/// `# created`, `# public key` and the secret key, as age-keygen writes them.
fn identity_text(id: &age::x25519::Identity, public: &str) -> Zeroizing<String> {
    key_text(&id.to_string(), public)
}

/// The keys.txt text for any secret key line (X25519 or post-quantum).
fn key_text(secret: &SecretString, public: &str) -> Zeroizing<String> {
    let now = time::OffsetDateTime::now_utc();
    let created = now.replace_nanosecond(0).unwrap_or(now);
    let created = crate::tree::time_text::format_rfc3339_seconds(created);
    Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        secret.expose_secret()
    ))
}

fn write_identity(
    ctx: &Ctx,
    args: &NewKeyArgs,
    bytes: &[u8],
    encrypted: bool,
) -> Result<(), CliError> {
    match &args.output {
        Some(p) if p.as_os_str() == "-" => {
            crate::fsio::write_stdout(bytes).map_err(|e| {
                CliError::new(
                    exit::COULD_NOT_WRITE_OUTPUT,
                    format!("cannot write to standard output: {}", io_reason(&e)),
                )
            })?;
        }
        Some(p) => {
            let path = ctx.absolute(p);
            if let Some(dir) = path.parent()
                && !dir.exists()
            {
                create_private_dir(dir).map_err(|e| CliError::write_io(dir, e))?;
                eprintln!("Created the directory {} (mode 0700)", dir.display());
            }
            write_new(&path, bytes, false).map_err(|e| {
                if path.exists() {
                    CliError::new(
                        exit::COULD_NOT_WRITE_OUTPUT,
                        "the file already exists; seal never overwrites a key file",
                    )
                    .in_file(&path)
                    .hint("choose another -o path, or omit -o to append to the default keys.txt")
                } else {
                    CliError::write_io(&path, e)
                }
            })?;
            eprintln!("Wrote the new identity to {}", path.display());
        }
        None => {
            let path = default_keys_file(ctx)?;
            if let Some(dir) = path.parent() {
                create_private_dir(dir).map_err(|e| CliError::write_io(dir, e))?;
            }
            if encrypted {
                // An encrypted file cannot share a file with other identities.
                write_new(&path, bytes, false).map_err(|e| {
                    if path.exists() {
                        CliError::new(
                            exit::COULD_NOT_WRITE_OUTPUT,
                            "the default keys.txt already exists; a passphrase-protected \
                             identity must be a file of its own",
                        )
                        .in_file(&path)
                        .hint(
                            "write it elsewhere with -o FILE and point SOPS_AGE_KEY_FILE at \
                             it (sops and seal read both that file and keys.txt)",
                        )
                    } else {
                        CliError::write_io(&path, e)
                    }
                })?;
                eprintln!(
                    "Wrote the new passphrase-protected identity to {}",
                    path.display()
                );
            } else {
                if is_encrypted_file(&path) {
                    return Err(CliError::new(
                        exit::COULD_NOT_WRITE_OUTPUT,
                        "the default keys.txt is a passphrase-protected identity file; \
                         appending a plain identity would make it unreadable",
                    )
                    .in_file(&path)
                    .hint("write the new identity elsewhere with -o FILE"));
                }
                make_private(&path)?;
                write_new(&path, bytes, true).map_err(|e| CliError::write_io(&path, e))?;
                eprintln!("Added a new identity to {}", path.display());
            }
        }
    }
    Ok(())
}

/// Before appending to an existing keys file: one that group or others may read or
/// write is made 0600 (with a message), or refused when that cannot be done.
fn make_private(path: &Path) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CliError::read_io(path, e)),
        };
        if !meta.file_type().is_file() {
            return Err(CliError::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                "the keys file is not a regular file (a symbolic link or something else); \
                 seal appends a secret key only to a regular file",
            )
            .in_file(path)
            .hint("write the new identity elsewhere with -o FILE"));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    CliError::new(
                        exit::COULD_NOT_WRITE_OUTPUT,
                        format!(
                            "the keys file is open to group or others (mode {mode:04o}) and \
                             cannot be made private: {}; nothing was added",
                            io_reason(&e)
                        ),
                    )
                    .in_file(path)
                    .hint("chmod 600 the file (as its owner), or write the new identity elsewhere with -o FILE")
                },
            )?;
            eprintln!(
                "seal: {} was open to group or others (mode {mode:04o}); changed it to 0600. \
                 The identities already in it may have been read by others: consider \
                 rotating them.",
                path.display()
            );
        }
    }
    Ok(())
}

fn is_encrypted_file(path: &Path) -> bool {
    let mut head = [0u8; 14];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map(|n| {
            let head = head.get(..n).unwrap_or(&[]);
            head.starts_with(b"age-encryption") || head.starts_with(b"-----BEGIN AGE")
        })
        .unwrap_or(false)
}

/// A passphrase for a new identity file: SEAL_PASSPHRASE_FILE / SEAL_PASSPHRASE when set,
/// else asked twice on the terminal.
fn new_passphrase(ctx: &Ctx) -> Result<SecretString, CliError> {
    let bad = |m: String| CliError::new(exit::GENERIC, m);
    let pass = match crate::keys::configured_passphrase(ctx.env.as_ref()) {
        Some(p) => p.map_err(bad)?,
        None if ctx.env.interactive() => {
            let first = rpassword::prompt_password("Passphrase for the new identity: ")
                .map(Zeroizing::new)
                .map_err(|e| bad(format!("cannot read the passphrase from the terminal: {e}")))?;
            let second = rpassword::prompt_password("Confirm the passphrase: ")
                .map(Zeroizing::new)
                .map_err(|e| bad(format!("cannot read the passphrase from the terminal: {e}")))?;
            if *first != *second {
                return Err(bad(
                    "the two passphrases differ; nothing was written".to_string()
                ));
            }
            SecretString::from(first.to_string())
        }
        None => {
            return Err(bad(
                "--passphrase needs a passphrase: there is no terminal to ask on and \
                 SEAL_PASSPHRASE_FILE is not set"
                    .to_string(),
            )
            .hint("run seal in a terminal, or set SEAL_PASSPHRASE_FILE to a file whose first line is the passphrase"));
        }
    };
    if pass.expose_secret().is_empty() {
        return Err(bad(
            "the passphrase is empty; an empty passphrase protects nothing".to_string(),
        ));
    }
    Ok(pass)
}

/// The identity text encrypted with `passphrase` (scrypt), ASCII-armored.
fn encrypt_with_passphrase(text: &str, passphrase: &SecretString) -> Result<String, CliError> {
    let fail =
        |m: String| CliError::new(exit::GENERIC, format!("cannot encrypt the identity: {m}"));
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    recipient.set_work_factor(SCRYPT_WORK_FACTOR);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::with_capacity(1024);
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| fail(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armored)
        .map_err(|e| fail(e.to_string()))?;
    writer
        .write_all(text.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    writer
        .finish()
        .and_then(|a| a.finish())
        .map_err(|e| fail(e.to_string()))?;
    let mut armored = String::from_utf8(out).map_err(|_| fail("armor is not text".to_string()))?;
    if !armored.ends_with('\n') {
        armored.push('\n');
    }
    Ok(armored)
}

/// Find (or plan to create) `.sops.yaml` and compute its new text. Nothing names the
/// new key when this fails: it is dropped unsaved.
fn plan_config(ctx: &Ctx, args: &NewKeyArgs, public: &str) -> Result<ConfigPlan, CliError> {
    let group = args.group.map(|g| usize::from(g) - 1);
    let found = crate::config::find(&ctx.cwd, ctx.config_flag.as_deref()).map(|p| ctx.absolute(&p));
    let Some(path) = found.filter(|p| p.exists()) else {
        let path = match &ctx.config_flag {
            Some(p) => ctx.absolute(p),
            None => ctx.cwd.join(crate::config::CONFIG_FILE_NAME),
        };
        if group.is_some_and(|g| g > 0) {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                "--group: there is no .sops.yaml yet, so no rule with key groups; nothing was \
                 written and no key was created",
            )
            .in_file(&path));
        }
        return Ok(ConfigPlan {
            path,
            text: sops_yaml::new_config(public),
            created: true,
            rules: vec![0],
        });
    };
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::read_io(&path, e))?;
    let config = crate::config::Config::parse(text.as_bytes(), &path)
        .map_err(|e| CliError::new(exit::GENERIC, e.to_string()).in_file(&path))?;
    let rules = rules_for(ctx, &config, &args.for_path).map_err(|e| e.in_file(&path))?;
    let mut new_text = text;
    for &rule in &rules {
        new_text =
            sops_yaml::add_recipient(&new_text, &path, rule, group, public).map_err(|e| {
                CliError::new(
                    exit::GENERIC,
                    format!("cannot add the key to creation rule {}: {e}", rule + 1),
                )
                .in_file(&path)
                .hint(
                    "nothing was written and no key was created; fix the rule (or pick another \
                 with --for / --group), or run seal new-key without --add-to-config and add \
                 its public key by hand",
                )
            })?;
    }
    Ok(ConfigPlan {
        path,
        text: new_text,
        created: false,
        rules,
    })
}

/// The rules (0-based, each once, in file order) that get a new key: those matching the
/// `--for` paths, else the only rule.
pub(crate) fn rules_for(
    ctx: &Ctx,
    config: &crate::config::Config,
    for_paths: &[PathBuf],
) -> Result<Vec<usize>, CliError> {
    if config.creation_rules.is_empty() {
        return Ok(vec![0]);
    }
    let mut out = Vec::new();
    for f in for_paths {
        let file = ctx.absolute(f);
        match config.rule_for(&file) {
            Some(r) => {
                if !out.contains(&r.index) {
                    out.push(r.index);
                }
            }
            None => {
                return Err(CliError::new(
                    exit::GENERIC,
                    format!(
                        "no creation rule matches {} (matched as {:?})",
                        f.display(),
                        config.match_path(&file)
                    ),
                )
                .hint("pick a --for path that a rule covers, or add a rule for it first"));
            }
        }
    }
    if !out.is_empty() {
        out.sort_unstable();
        return Ok(out);
    }
    if config.creation_rules.len() == 1 {
        return Ok(vec![0]);
    }
    let list: Vec<String> = config
        .creation_rules
        .iter()
        .map(|r| {
            format!(
                "rule {}: path_regex {}",
                r.index + 1,
                r.path_regex
                    .as_deref()
                    .unwrap_or("(none: matches every file)")
            )
        })
        .collect();
    Err(CliError::new(
        exit::CONFLICTING_PARAMETERS,
        format!(
            "the config has {} creation rules; say which one gets the key: {}",
            config.creation_rules.len(),
            list.join("; ")
        ),
    )
    .hint(
        "add --for PATH (repeatable): the rule that matches PATH (as for encryption) gets the key",
    ))
}

fn apply_config(plan: &ConfigPlan, public: &str) -> Result<(), CliError> {
    let failed = |e: std::io::Error| {
        CliError::write_io(&plan.path, e).hint(format!(
            "the identity was created; add {public} to .sops.yaml by hand"
        ))
    };
    if plan.created {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&plan.path)
            .map_err(failed)?;
        f.write_all(plan.text.as_bytes()).map_err(failed)?;
        f.sync_all().map_err(failed)?;
        eprintln!(
            "Created {} with a Kubernetes rule for the new key",
            plan.path.display()
        );
    } else {
        crate::fsio::write_atomic(
            &plan.path,
            plan.text.as_bytes(),
            crate::fsio::Sensitivity::Public,
        )
        .map_err(failed)?;
        let rules: Vec<String> = plan.rules.iter().map(|r| (r + 1).to_string()).collect();
        eprintln!(
            "Added the key to creation rule {} of {} (run seal updatekeys to re-wrap existing files)",
            rules.join(", "),
            plan.path.display()
        );
    }
    Ok(())
}

fn default_keys_file(ctx: &Ctx) -> Result<PathBuf, CliError> {
    let base = match ctx.env.var("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => ctx.env.home().map(|h| h.join(".config")).ok_or_else(|| {
            CliError::new(
                exit::GENERIC,
                "HOME is not set, so the default keys.txt cannot be found",
            )
            .hint("pass -o FILE")
        })?,
    };
    Ok(base.join("sops/age/keys.txt"))
}

/// Create (or, with `append`, append to) a 0600 file and write `bytes` durably.
fn write_new(path: &Path, bytes: &[u8], append: bool) -> std::io::Result<()> {
    let mut o = OpenOptions::new();
    if append {
        o.append(true).create(true);
    } else {
        o.write(true).create_new(true);
    }
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identity_text_is_age_keygen_format() {
        let id = age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        let text = identity_text(&id, &public);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let created = lines[0].strip_prefix("# created: ").expect("created line");
        assert!(
            time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{created}"
        );
        assert!(
            created.ends_with('Z') && !created.contains('.'),
            "{created}"
        );
        assert_eq!(lines[1], format!("# public key: {public}"));
        assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn passphrase_files_decrypt_with_the_passphrase_only() {
        let text = "# public key: x\nAGE-SECRET-KEY-1TEST\n";
        let pass = SecretString::from("correct horse".to_string());
        let armored = encrypt_with_passphrase(text, &pass).expect("encrypt");
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(armored.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        assert!(!armored.contains("AGE-SECRET-KEY"));
        let open = |p: &str| -> Result<Vec<u8>, age::DecryptError> {
            let d =
                age::Decryptor::new_buffered(age::armor::ArmoredReader::new(armored.as_bytes()))?;
            let id = age::scrypt::Identity::new(SecretString::from(p.to_string()));
            let mut r = d.decrypt(std::iter::once(&id as &dyn age::Identity))?;
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut r, &mut out).map_err(age::DecryptError::from)?;
            Ok(out)
        };
        assert_eq!(
            open("correct horse").expect("right passphrase"),
            text.as_bytes()
        );
        assert!(open("wrong").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Generated identities always parse back (text and public key) and the public
        /// key in the comment is the one derived from the secret.
        #[test]
        fn generated_identities_round_trip(_seed in any::<u64>()) {
            let id = age::x25519::Identity::generate();
            let public = id.to_public().to_string();
            let text = identity_text(&id, &public);
            let secret = text.lines().nth(2).unwrap_or_default();
            let back: age::x25519::Identity = secret.parse().map_err(|e: &str| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.to_public().to_string(), public.clone());
            let r: age::x25519::Recipient = public.parse().map_err(|e: &str| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(r.to_string(), public);
        }
    }
}
