//! `seal bootstrap flux`: the cluster's age identity (new, from a file or from the OS
//! keyring) as the `flux-system/sops-age` Secret (stdout, a file outside the repository,
//! or `kubectl apply`), the cluster key added to `.sops.yaml` (minimal text edits), and
//! the Flux Kustomization `spec.decryption` block (printed, or patched into a file), with
//! the Kustomizations that still lack it. With `--pgp FP` the cluster gets a PGP key
//! instead, the way Flux documents it: the armored secret key gpg exports, as key
//! `sops.asc` of the `flux-system/sops-gpg` Secret, and Kustomizations pointed at that.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use age::secrecy::ExposeSecret;
use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::commands::common::Ctx;
use crate::commands::key::{keyring_error, open_keyring, sops_yaml};
use crate::config::{self, Config};
use crate::error::{CliError, exit, io_reason};
use crate::fsio::{self, Sensitivity};
use crate::k8s::flux;
use crate::keys::pgp;
use crate::repo;

/// Bootstrap a cluster's sops-age decryption (Flux)
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// What to bootstrap.
    #[command(subcommand)]
    pub command: BootstrapCommand,
}

/// `seal bootstrap` subcommands.
#[derive(Debug, Subcommand)]
pub enum BootstrapCommand {
    /// Give a Flux cluster its age key and point .sops.yaml and Kustomizations at it
    Flux(FluxArgs),
}

/// Give a Flux cluster its age key and point .sops.yaml and Kustomizations at it
///
/// 1. The cluster identity: a new one, or --key FILE (an age-keygen file), or --keyring
///    age1… (an identity seal stored in the OS keyring).
/// 2. The flux-system/sops-age Secret (key age.agekey) goes to standard output, ready for
///    `kubectl apply -f -`; or --apply runs kubectl itself; or --secret-output PATH writes
///    it (mode 0600) outside the git work tree (the final path, symbolic links followed):
///    a private key never goes into the repo.
/// 3. .sops.yaml gets the cluster's public key (and yours, --me or your first identity)
///    in the Kubernetes rule (--for PATH, repeatable, names the rules; --group N the key
///    group of a key_groups rule); a new .sops.yaml is created when there is none.
///    Existing files keep their recipients until you run `seal updatekeys`.
/// 4. The Kustomization decryption block is printed (or added to the file given with
///    --patch), and the Flux Kustomizations below the current directory that lack it are
///    listed.
///
/// Every input is checked before a key is made, and the Secret is delivered before
/// .sops.yaml names the new key. A new key that could not be delivered (or whose later
/// steps failed) is saved to a 0600 recovery file outside the repository
/// ($XDG_STATE_HOME/seal/recovery, default ~/.local/state/seal/recovery), whose path is
/// printed. When the Secret goes to standard output (a pipe to kubectl whose outcome seal
/// cannot see) a recovery copy is kept there too, unless --no-backup.
///
/// Everything but the Secret is written to standard error.
#[derive(Debug, Args)]
pub struct FluxArgs {
    /// Reuse the identity in this age identity file.
    #[arg(long, value_name = "FILE", conflicts_with = "keyring")]
    key: Option<PathBuf>,

    /// Reuse this identity from the OS keyring (its public key).
    #[arg(long, value_name = "AGE1…")]
    keyring: Option<String>,

    /// Give the cluster this PGP key instead of an age identity (Flux's sops-gpg
    /// convention): `gpg --export-secret-keys --armor FP` becomes key sops.asc of the
    /// flux-system/sops-gpg Secret, delivered like the age Secret, and --patch points
    /// Kustomizations at sops-gpg. .sops.yaml is only checked: its rule must name the key.
    #[arg(long, value_name = "FINGERPRINT", conflicts_with_all = ["key", "keyring", "me", "group", "no_backup"])]
    pgp: Option<String>,

    /// Run `kubectl apply -f -` with the Secret instead of printing it.
    #[arg(long, conflicts_with = "secret_output")]
    apply: bool,

    /// Write the Secret to this file (0600), which must be outside the git work tree.
    #[arg(long, value_name = "PATH")]
    secret_output: Option<PathBuf>,

    /// With the Secret on standard output: keep no recovery copy of a new key.
    #[arg(long)]
    no_backup: bool,

    /// Your own public key, added to the rule with the cluster's (default: the first age
    /// identity seal finds for you).
    #[arg(long, value_name = "AGE1…")]
    me: Option<String>,

    /// The .sops.yaml rule to update: the one that matches this path (needed when the
    /// config has several rules; repeat for several rules).
    #[arg(long = "for", value_name = "PATH")]
    for_path: Vec<PathBuf>,

    /// For rules written with key_groups: the group (1 = the first, the default) whose
    /// age list gets the keys.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    group: Option<u16>,

    /// Leave .sops.yaml alone.
    #[arg(long)]
    no_config: bool,

    /// Add the decryption block to the Flux Kustomizations in this file (in place).
    #[arg(long, value_name = "PATH")]
    patch: Option<PathBuf>,
}

/// Run `seal bootstrap`.
pub fn run(ctx: &Ctx, args: &BootstrapArgs) -> Result<(), CliError> {
    match &args.command {
        BootstrapCommand::Flux(a) => run_flux(ctx, a),
    }
}

/// A planned text change of one file, computed before any key is made.
struct FilePlan {
    path: PathBuf,
    text: String,
    before: Option<String>,
    /// For `.sops.yaml`: the rules (0-based) that get the keys.
    rules: Vec<usize>,
}

/// A planned Kustomization patch.
struct PatchPlan {
    shown: PathBuf,
    file: FilePlan,
    names: Vec<String>,
}

fn run_flux(ctx: &Ctx, args: &FluxArgs) -> Result<(), CliError> {
    if let Some(fp) = &args.pgp {
        return run_flux_pgp(ctx, args, fp);
    }
    // 1. Check every input before making or moving a key: nothing below can fail on a
    //    user's input once the key exists but the writes themselves.
    let secret_dest = match &args.secret_output {
        Some(p) => Some(resolve_secret_output(ctx, p)?),
        None => None,
    };
    if args.apply {
        check_kubeconfig(ctx)?;
        check_kubectl(ctx)?;
    }
    if let Some(me) = &args.me {
        crate::keys::check_recipient(me)?;
    }
    let patch = match &args.patch {
        Some(p) => Some(plan_patch(ctx, p)?),
        None => None,
    };
    // The identity exists only in memory until it is delivered.
    let (identity_text, public, created) = cluster_identity(ctx, args)?;
    if let Some(dest) = &secret_dest {
        refuse_overwrite(dest, &identity_text)?;
    }
    let config = if args.no_config {
        None
    } else {
        Some(plan_config(ctx, args, &public, created)?)
    };
    let manifest = flux::sops_age_secret(&identity_text);

    // 2. Deliver the private key; 3. then name it in .sops.yaml and patch.
    let mut recovery = Recovery {
        ctx,
        manifest: &manifest,
        public: &public,
        needed: created,
        saved: None,
    };
    let result = deliver(args, secret_dest.as_deref(), &mut recovery).and_then(|()| {
        if let Some(c) = &config {
            write_config(c)?;
        }
        if let Some(p) = &patch {
            write_patch(p)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        return Err(recovery.on_failure(e));
    }
    eprintln!(
        "seal: cluster public key: {public}{}",
        if created {
            " (new identity: keep a backup of the Secret, e.g. in your password manager)"
        } else {
            ""
        }
    );

    if args.patch.is_none() {
        eprintln!(
            "seal: add this to each Flux Kustomization that applies sops files:\nspec:\n{}",
            flux::decryption_block(2)
        );
    }
    let lacking: Vec<_> = flux::find_kustomizations(&ctx.cwd)
        .into_iter()
        .filter(|k| !k.decrypts)
        .collect();
    if !lacking.is_empty() {
        eprintln!("seal: Flux Kustomizations without sops decryption:");
        for k in &lacking {
            let f = k.file.strip_prefix(&ctx.cwd).unwrap_or(&k.file);
            eprintln!(
                "  {} ({}) — fix: seal bootstrap flux --key … --patch {}",
                k.name,
                f.display(),
                f.display()
            );
        }
    }
    key_service_notes(ctx);
    Ok(())
}

/// What the cluster needs for the key services the creation rules name (files made by
/// them have data keys those services wrap too): one note per service.
fn key_service_notes(ctx: &Ctx) {
    let Ok(Some(config)) = ctx.config() else {
        return;
    };
    let mut kinds: Vec<&'static str> = Vec::new();
    for rule in &config.creation_rules {
        for r in rule.key_groups.iter().flatten() {
            let kind = crate::keys::type_of(r).name();
            if !matches!(kind, "age" | "pgp") && !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    for kind in kinds {
        let (service, need) = flux::key_service_note(kind, Some(flux::SECRET_NAME));
        eprintln!(
            "seal: note: .sops.yaml names {service} keys, so files have a data key that service wraps too: {need}"
        );
    }
}

/// Hand the Secret out: kubectl, the --secret-output file, or standard output (with a
/// recovery copy of a new key first, unless --no-backup).
fn deliver(
    args: &FluxArgs,
    secret_dest: Option<&Path>,
    recovery: &mut Recovery,
) -> Result<(), CliError> {
    deliver_named(args, secret_dest, recovery, flux::SECRET_NAME)
}

fn deliver_named(
    args: &FluxArgs,
    secret_dest: Option<&Path>,
    recovery: &mut Recovery,
    secret_name: &str,
) -> Result<(), CliError> {
    let manifest = recovery.manifest;
    if args.apply {
        kubectl_apply(manifest)?;
        eprintln!(
            "seal: applied secret {}/{secret_name} to the cluster",
            flux::SECRET_NAMESPACE,
        );
    } else if let Some(dest) = secret_dest {
        fsio::write_atomic(dest, manifest.as_bytes(), Sensitivity::Secret)
            .map_err(|e| CliError::write_io(dest, e))?;
        recovery.saved = Some(dest.to_path_buf());
        eprintln!(
            "seal: wrote the {secret_name} Secret to {} (mode 0600; keep it out of git)",
            dest.display()
        );
    } else {
        if recovery.needed && !args.no_backup {
            let path = recovery.save()?;
            eprintln!(
                "seal: kept a recovery copy of the new key's Secret in {} (mode 0600): delete \
                 it once the Secret is on the cluster and backed up (--no-backup skips it)",
                path.display()
            );
        }
        fsio::write_stdout(manifest.as_bytes()).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!("cannot write to standard output: {}", io_reason(&e)),
            )
        })?;
    }
    Ok(())
}

/// The new key's safety net: saved to a private file outside the repository when a step
/// after its creation fails (or, for standard output, before it is printed).
struct Recovery<'a> {
    ctx: &'a Ctx,
    manifest: &'a str,
    public: &'a str,
    /// A new identity (one from --key or --keyring is stored already).
    needed: bool,
    /// Where a copy is (the --secret-output file, or the recovery file).
    saved: Option<PathBuf>,
}

impl Recovery<'_> {
    /// Write the recovery file (once) and return its path.
    fn save(&mut self) -> Result<PathBuf, CliError> {
        if let Some(p) = &self.saved {
            return Ok(p.clone());
        }
        let dir = recovery_dir(self.ctx);
        let fail = |e: std::io::Error| {
            CliError::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!(
                    "cannot save a recovery copy of the new cluster key in {}: {}",
                    dir.display(),
                    io_reason(&e)
                ),
            )
            .hint("nothing was changed; set XDG_STATE_HOME to a writable directory outside the repository, or pass --no-backup")
        };
        create_private_dir(&dir).map_err(fail)?;
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let short: String = self
            .public
            .trim_start_matches("age1")
            .chars()
            .take(12)
            .collect();
        let path = dir.join(format!("sops-age-{short}-{stamp}.yaml"));
        write_private_new(&path, self.manifest.as_bytes()).map_err(fail)?;
        self.saved = Some(path.clone());
        Ok(path)
    }

    /// After a failure: make sure a new key is not lost, and say where it is.
    fn on_failure(&mut self, err: CliError) -> CliError {
        if !self.needed {
            return err;
        }
        let had = self.saved.is_some();
        match self.save() {
            Ok(p) => {
                if !had {
                    eprintln!(
                        "seal: saved the new cluster key {} in {} (mode 0600)",
                        self.public,
                        p.display()
                    );
                }
                err.hint(format!(
                    "the new cluster key {} is {} {} (mode 0600): once the problem is fixed, \
                     run the command again with --key {} instead of making another key",
                    self.public,
                    if had {
                        "in"
                    } else {
                        "saved in the recovery file"
                    },
                    p.display(),
                    p.display()
                ))
            }
            Err(e) => err.hint(format!(
                "the new cluster key could not be saved ({}); nothing names it, run the \
                 command again once the problem is fixed",
                e.message
            )),
        }
    }
}

/// `$XDG_STATE_HOME/seal/recovery` (default `~/.local/state/seal/recovery`), or a private
/// directory under the temp root without a HOME.
fn recovery_dir(ctx: &Ctx) -> PathBuf {
    let base = ctx
        .env
        .var("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| ctx.env.home().map(|h| h.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("seal/recovery")
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

/// A new 0600 file (never an existing one), written durably.
fn write_private_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The identity file text, its public key, and whether it is new.
fn cluster_identity(
    ctx: &Ctx,
    args: &FluxArgs,
) -> Result<(Zeroizing<String>, String, bool), CliError> {
    let id = if let Some(f) = &args.key {
        let bytes =
            Zeroizing::new(std::fs::read(ctx.absolute(f)).map_err(|e| CliError::read_io(f, e))?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            CliError::new(exit::GENERIC, "the identity file is not text").in_file(f)
        })?;
        let ids: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .collect();
        let [line] = ids.as_slice() else {
            return Err(CliError::new(
                exit::GENERIC,
                format!("expected exactly one AGE-SECRET-KEY-1… line, found {}", ids.len()),
            )
            .in_file(f)
            .hint("give a plain age-keygen file holding the cluster's identity only (passphrase-protected files cannot go into a Secret)"));
        };
        line.parse::<age::x25519::Identity>().map_err(|_| {
            CliError::new(
                exit::GENERIC,
                "the AGE-SECRET-KEY-1… line is not a valid age identity",
            )
            .in_file(f)
        })?
    } else if let Some(public) = &args.keyring {
        open_keyring(ctx)?.load(public).map_err(keyring_error)?
    } else {
        age::x25519::Identity::generate()
    };
    let public = id.to_public().to_string();
    let now = time::OffsetDateTime::now_utc();
    let created = crate::tree::time_text::format_rfc3339_seconds(now);
    let text = Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        id.to_string().expose_secret()
    ));
    Ok((text, public, args.key.is_none() && args.keyring.is_none()))
}

/// The file `--secret-output` really writes: symbolic links followed to the end, in a
/// directory that exists, outside any git work tree.
fn resolve_secret_output(ctx: &Ctx, p: &Path) -> Result<PathBuf, CliError> {
    let given = ctx.absolute(p);
    let target = match std::fs::symlink_metadata(&given) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(&given).map_err(|_| {
            CliError::new(
                exit::CONFLICTING_PARAMETERS,
                "--secret-output is a symbolic link whose target does not exist",
            )
            .in_file(&given)
            .hint("give the final path of the file to write")
        })?,
        Ok(m) if !m.file_type().is_file() => {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                "--secret-output is not a regular file (a directory?)",
            )
            .in_file(&given)
            .hint("give the path of the file to write, e.g. DIR/sops-age.yaml"));
        }
        _ => given.clone(),
    };
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            "--secret-output does not name a file",
        )
        .in_file(&given));
    };
    let dir = match std::fs::canonicalize(dir) {
        Ok(d) if d.is_dir() => d,
        _ => {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                format!(
                    "the directory of --secret-output, {}, does not exist",
                    dir.display()
                ),
            )
            .in_file(&given)
            .hint(format!(
                "create it first (mkdir -p -m 700 {}) or pick another path; nothing was changed",
                dir.display()
            )));
        }
    };
    let resolved = dir.join(name);
    refuse_in_repo(&resolved).map_err(|e| {
        if resolved == given {
            e
        } else {
            e.hint(format!(
                "{} leads to {}",
                given.display(),
                resolved.display()
            ))
        }
    })?;
    Ok(resolved)
}

/// An existing --secret-output file is replaced only when it already holds this identity
/// (a rerun with --key): another key there would be lost.
fn refuse_overwrite(dest: &Path, identity_text: &str) -> Result<(), CliError> {
    let Ok(old) = std::fs::read(dest).map(Zeroizing::new) else {
        return Ok(());
    };
    let secret = identity_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap_or("");
    let same = !secret.is_empty()
        && std::str::from_utf8(&old).is_ok_and(|t| t.lines().any(|l| l.trim() == secret));
    if same {
        return Ok(());
    }
    Err(CliError::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        "--secret-output already exists and does not hold this cluster identity; seal never \
         overwrites a key file",
    )
    .in_file(dest)
    .hint("move it away (it may hold another cluster's key) or pick another path; nothing was changed"))
}

/// kubectl must be on PATH before a key is made for --apply.
fn check_kubectl(ctx: &Ctx) -> Result<(), CliError> {
    let path = ctx.env.var("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|d| {
        let p = d.join("kubectl");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            p.is_file()
        }
    });
    if found {
        return Ok(());
    }
    Err(CliError::new(
        exit::GENERIC,
        "--apply runs kubectl, but kubectl is not on PATH; nothing was changed",
    )
    .hint("install kubectl, or drop --apply and pipe the output: seal bootstrap flux … | kubectl apply -f -"))
}

/// A private key must not be written inside a git work tree.
fn refuse_in_repo(dest: &Path) -> Result<(), CliError> {
    let dir = dest.parent().unwrap_or(Path::new("/"));
    let probe = if dir.exists() {
        dir.to_path_buf()
    } else {
        dir.ancestors()
            .find(|d| d.exists())
            .unwrap_or(Path::new("/"))
            .to_path_buf()
    };
    let probe = probe.canonicalize().unwrap_or(probe);
    if let Some(root) = repo::repo_root(&probe) {
        return Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!(
                "refusing to write the cluster's private key inside the git work tree at {}",
                root.display()
            ),
        )
        .in_file(dest)
        .hint("write it outside the repository, pipe it to `kubectl apply -f -`, or use --apply"));
    }
    Ok(())
}

/// kubectl needs a kubeconfig: KUBECONFIG or ~/.kube/config.
fn check_kubeconfig(ctx: &Ctx) -> Result<(), CliError> {
    let from_env = ctx.env.var("KUBECONFIG").filter(|v| !v.is_empty());
    let found = match &from_env {
        Some(v) => std::env::split_paths(v).any(|p| p.is_file()),
        None => ctx
            .env
            .home()
            .is_some_and(|h| h.join(".kube/config").is_file()),
    };
    if found {
        return Ok(());
    }
    let looked = match from_env {
        Some(v) => format!("KUBECONFIG={v}"),
        None => "~/.kube/config (KUBECONFIG is not set)".to_string(),
    };
    Err(CliError::new(
        exit::GENERIC,
        format!("--apply needs access to the cluster, but no kubeconfig was found: looked at {looked}"),
    )
    .hint("point KUBECONFIG at the cluster's kubeconfig, or drop --apply and pipe the output: seal bootstrap flux … | kubectl apply -f -"))
}

fn kubectl_apply(manifest: &str) -> Result<(), CliError> {
    let mut child = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!("cannot run kubectl: {}", io_reason(&e)),
            )
            .hint("install kubectl, or pipe the output to it yourself")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(manifest.as_bytes()).map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!("cannot send the Secret to kubectl: {}", io_reason(&e)),
            )
        })?;
    }
    let status = child
        .wait()
        .map_err(|e| CliError::new(exit::GENERIC, format!("kubectl failed: {}", io_reason(&e))))?;
    if !status.success() {
        return Err(CliError::new(
            exit::GENERIC,
            format!("kubectl apply failed ({status}); .sops.yaml and the Kustomizations were not changed"),
        )
        .hint("fix the cluster access (kubectl's message is above) and run the command again"));
    }
    Ok(())
}

/// Plan adding the cluster key (and the user's) to the Kubernetes rule(s) of
/// `.sops.yaml`. For a new identity a failure names no key: it is dropped unsaved.
fn plan_config(
    ctx: &Ctx,
    args: &FluxArgs,
    cluster: &str,
    created: bool,
) -> Result<FilePlan, CliError> {
    let path = config::find(&ctx.cwd, ctx.config_flag.as_deref())
        .map(|p| ctx.absolute(&p))
        .unwrap_or_else(|| ctx.cwd.join(".sops.yaml"));
    let me = match &args.me {
        Some(m) => Some(m.clone()),
        None => crate::keys::Identities::discover(ctx.env.as_ref())
            .entries()
            .into_iter()
            .filter_map(|e| e.public_key)
            .find(|k| k.starts_with("age1") && k != cluster),
    };
    let group = args.group.map(|g| usize::from(g) - 1);
    let (mut text, rules, before) = if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| CliError::read_io(&path, e))?;
        let cfg = Config::parse(text.as_bytes(), &path)?;
        let rules = pick_rules(ctx, &cfg, &args.for_path).map_err(|e| e.in_file(&path))?;
        (text.clone(), rules, Some(text))
    } else {
        if group.is_some_and(|g| g > 0) {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                "--group: there is no .sops.yaml yet, so no rule with key groups; nothing was changed",
            )
            .in_file(&path));
        }
        (sops_yaml::new_config(cluster), vec![0], None)
    };
    for &rule in &rules {
        for (who, r) in std::iter::once(("the cluster key", cluster.to_string()))
            .chain(me.clone().map(|m| ("your key", m)))
        {
            text = sops_yaml::add_recipient(&text, &path, rule, group, &r).map_err(|e| {
                let named = if created && who == "the cluster key" {
                    who.to_string()
                } else {
                    r.clone()
                };
                CliError::new(
                    exit::GENERIC,
                    format!("cannot add {named} to creation rule {}: {e}", rule + 1),
                )
                .in_file(&path)
                .hint(if created {
                    "nothing was changed and no key was made; pick the rule with --for (and \
                     --group), fix the file, or pass --no-config and add the cluster key by hand \
                     afterwards"
                        .to_string()
                } else {
                    format!("nothing was changed; add {r} to the rule's age list by hand, or pass --no-config")
                })
            })?;
        }
    }
    Ok(FilePlan {
        path,
        text,
        before,
        rules,
    })
}

/// Write a planned `.sops.yaml`.
fn write_config(plan: &FilePlan) -> Result<(), CliError> {
    let path = &plan.path;
    if plan.before.as_deref() == Some(plan.text.as_str()) {
        eprintln!("seal: {} already lists the cluster key", path.display());
        return Ok(());
    }
    fsio::write_atomic(path, plan.text.as_bytes(), Sensitivity::Public)
        .map_err(|e| CliError::write_io(path, e))?;
    let rules: Vec<String> = plan.rules.iter().map(|r| (r + 1).to_string()).collect();
    eprintln!(
        "seal: {} {} (rule {}); re-encrypt existing files for the new key with: seal updatekeys -y FILE…",
        if plan.before.is_none() {
            "created"
        } else {
            "updated"
        },
        path.display(),
        rules.join(", ")
    );
    Ok(())
}

fn pick_rules(ctx: &Ctx, cfg: &Config, for_paths: &[PathBuf]) -> Result<Vec<usize>, CliError> {
    if cfg.creation_rules.len() <= 1 || !for_paths.is_empty() {
        return crate::commands::new_key::rules_for(ctx, cfg, for_paths);
    }
    let k8s: Vec<usize> = cfg
        .creation_rules
        .iter()
        .filter(|r| {
            r.selector
                .as_ref()
                .is_some_and(|s| s.pattern().contains("stringData"))
        })
        .map(|r| r.index)
        .collect();
    match k8s.as_slice() {
        [one] => Ok(vec![*one]),
        _ => Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!("the config has {} creation rules: which one covers the cluster's manifests?", cfg.creation_rules.len()),
        )
        .hint("pass --for PATH (a file the cluster decrypts, e.g. --for kubernetes/apps/x/secret.sops.yaml; repeatable)")),
    }
}

/// Compute the Kustomization patch (refusing what cannot be patched) before any key
/// exists.
fn plan_patch(ctx: &Ctx, p: &Path) -> Result<PatchPlan, CliError> {
    let path = ctx.absolute(p);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::read_io(p, e)
            .hint("--patch names a file holding Flux Kustomizations; nothing was changed")
    })?;
    let (new, names) = flux::patch_decryption(&text).map_err(|e| {
        CliError::new(exit::GENERIC, e).in_file(p).hint(format!(
            "nothing was changed; add this under spec: by hand:\n{}",
            flux::decryption_block(2)
        ))
    })?;
    Ok(PatchPlan {
        shown: p.to_path_buf(),
        file: FilePlan {
            path,
            text: new,
            before: Some(text),
            rules: Vec::new(),
        },
        names,
    })
}

fn write_patch(plan: &PatchPlan) -> Result<(), CliError> {
    let p = &plan.shown;
    if plan.names.is_empty() {
        eprintln!(
            "seal: {}: every Flux Kustomization already decrypts with sops",
            p.display()
        );
        return Ok(());
    }
    let path = &plan.file.path;
    fsio::write_atomic(path, plan.file.text.as_bytes(), Sensitivity::Public)
        .map_err(|e| CliError::write_io(path, e))?;
    eprintln!(
        "seal: {}: added spec.decryption to {}",
        p.display(),
        plan.names.join(", ")
    );
    Ok(())
}

/// The Secret Flux's documentation names for PGP keys.
const PGP_SECRET_NAME: &str = "sops-gpg";
/// Its key: kustomize-controller imports every key ending in `.asc`.
const PGP_SECRET_KEY: &str = "sops.asc";

/// The `flux-system/sops-gpg` Secret holding an armored PGP secret key under `stringData`.
fn sops_gpg_secret(armored: &str) -> Zeroizing<String> {
    let mut o = Zeroizing::new(String::with_capacity(armored.len() + 256));
    o.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
    o.push_str(&format!(
        "  name: {PGP_SECRET_NAME}\n  namespace: {}\n",
        flux::SECRET_NAMESPACE
    ));
    o.push_str("type: Opaque\nstringData:\n");
    o.push_str(&format!("  {PGP_SECRET_KEY}: |\n"));
    for line in armored.lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            o.push_str("    ");
            o.push_str(line);
        }
        o.push('\n');
    }
    o
}

/// `seal bootstrap flux --pgp FP`: the same order as the age path (inputs checked, the
/// Secret delivered, then files changed), with a key that already lives in gpg's keyring,
/// so nothing new can be lost and no recovery copy is made.
fn run_flux_pgp(ctx: &Ctx, args: &FluxArgs, fp: &str) -> Result<(), CliError> {
    let fp = pgp::normalize_fp(fp);
    pgp::check_fp(&fp).map_err(|e| {
        CliError::new(exit::CONFLICTING_PARAMETERS, format!("--pgp: {e}"))
            .hint("give the key's fingerprint (gpg --list-secret-keys --with-colons: the fpr line)")
    })?;
    let secret_dest = match &args.secret_output {
        Some(p) => Some(resolve_secret_output(ctx, p)?),
        None => None,
    };
    if args.apply {
        check_kubeconfig(ctx)?;
        check_kubectl(ctx)?;
    }
    let patch = match &args.patch {
        Some(p) => Some(plan_patch_for(ctx, p, PGP_SECRET_NAME)?),
        None => None,
    };
    let armored = pgp::export_secret_key(&fp).map_err(|e| {
        CliError::new(exit::GENERIC, format!("cannot export the PGP secret key {fp}: {e}"))
            .hint("import the key into gpg first (gpg --import KEY.asc; GNUPGHOME selects the keyring); nothing was changed")
    })?;
    let manifest = sops_gpg_secret(&armored);
    if let Some(dest) = &secret_dest
        && std::fs::read(dest)
            .map(Zeroizing::new)
            .is_ok_and(|old| old[..] != *manifest.as_bytes())
    {
        return Err(CliError::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            "--secret-output already exists and does not hold this PGP key's Secret; seal never overwrites a key file",
        )
        .in_file(dest)
        .hint("move it away (it may hold another cluster's key) or pick another path; nothing was changed"));
    }
    let mut recovery = Recovery {
        ctx,
        manifest: &manifest,
        public: &fp,
        needed: false,
        saved: None,
    };
    deliver_named(args, secret_dest.as_deref(), &mut recovery, PGP_SECRET_NAME)?;
    if let Some(p) = &patch {
        write_patch(p)?;
    }
    eprintln!("seal: cluster PGP key: {fp}");
    if !args.no_config {
        check_rules_name_pgp(ctx, &fp)?;
    }
    if args.patch.is_none() {
        eprintln!(
            "seal: add this to each Flux Kustomization that applies sops files:\nspec:\n{}",
            decryption_block_for(PGP_SECRET_NAME)
        );
    }
    let lacking: Vec<_> = flux::find_kustomizations(&ctx.cwd)
        .into_iter()
        .filter(|k| !k.decrypts)
        .collect();
    if !lacking.is_empty() {
        eprintln!("seal: Flux Kustomizations without sops decryption:");
        for k in &lacking {
            let f = k.file.strip_prefix(&ctx.cwd).unwrap_or(&k.file);
            eprintln!(
                "  {} ({}) — fix: seal bootstrap flux --pgp {fp} --patch {}",
                k.name,
                f.display(),
                f.display()
            );
        }
    }
    Ok(())
}

/// seal edits only age lists of `.sops.yaml`: for a PGP cluster key it says whether a
/// creation rule names it, and what to add when none does.
fn check_rules_name_pgp(ctx: &Ctx, fp: &str) -> Result<(), CliError> {
    let Some(path) = config::find(&ctx.cwd, ctx.config_flag.as_deref()).map(|p| ctx.absolute(&p))
    else {
        eprintln!(
            "seal: there is no .sops.yaml: create one whose rule names the key, e.g.\ncreation_rules:\n  - pgp: {fp}"
        );
        return Ok(());
    };
    let text = std::fs::read(&path).map_err(|e| CliError::read_io(&path, e))?;
    let cfg = Config::parse(&text, &path)?;
    let tagged = pgp::tag(fp);
    let naming: Vec<String> = cfg
        .creation_rules
        .iter()
        .filter(|r| r.key_groups.iter().flatten().any(|k| *k == tagged))
        .map(|r| (r.index + 1).to_string())
        .collect();
    if naming.is_empty() {
        eprintln!(
            "seal: no creation rule of {} names {fp}: add `pgp: {fp}` to the rule that covers the cluster's files (seal does not edit PGP entries), then run: seal updatekeys -y FILE…",
            path.display()
        );
    } else {
        eprintln!(
            "seal: {} names the key in rule {}",
            path.display(),
            naming.join(", ")
        );
    }
    Ok(())
}

/// The `decryption` block for a child of `spec` (two spaces), naming `secret`.
fn decryption_block_for(secret: &str) -> String {
    flux::decryption_block(2).replace(
        &format!("name: {}\n", flux::SECRET_NAME),
        &format!("name: {secret}\n"),
    )
}

/// [`plan_patch`] with the inserted blocks naming `secret` instead of sops-age; the
/// result is checked by re-reading its Kustomizations.
fn plan_patch_for(ctx: &Ctx, p: &Path, secret: &str) -> Result<PatchPlan, CliError> {
    let mut plan = plan_patch(ctx, p)?;
    let Some(before) = plan.file.before.clone() else {
        return Ok(plan);
    };
    let text = retarget_inserted(&before, &plan.file.text, secret);
    let check = flux::kustomizations_in(p, text.as_bytes());
    let ok = check
        .iter()
        .filter(|k| plan.names.contains(&k.name))
        .all(|k| k.decrypts && k.secret_ref.as_deref() == Some(secret));
    if !ok {
        return Err(CliError::new(
            exit::GENERIC,
            "cannot add a decryption block naming the sops-gpg Secret",
        )
        .in_file(p)
        .hint(format!(
            "nothing was changed; add this under spec: by hand:\n{}",
            decryption_block_for(secret)
        )));
    }
    plan.file.text = text;
    Ok(plan)
}

/// `new` is `old` with lines inserted: in the inserted lines only, the Secret name of
/// the decryption block becomes `secret`.
fn retarget_inserted(old: &str, new: &str, secret: &str) -> String {
    let from = format!("name: {}", flux::SECRET_NAME);
    let mut old_lines = old.split_inclusive('\n').peekable();
    let mut out = String::with_capacity(new.len());
    for line in new.split_inclusive('\n') {
        if old_lines.peek() == Some(&line) {
            old_lines.next();
            out.push_str(line);
        } else if line.trim() == from {
            out.push_str(&line.replace(&from, &format!("name: {secret}")));
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inserted_blocks_are_retargeted() {
        let old =
            "spec:\n  decryption:\n    secretRef:\n      name: sops-age\n---\nspec:\n  path: ./x\n";
        let new = "spec:\n  decryption:\n    secretRef:\n      name: sops-age\n---\nspec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n  path: ./x\n";
        let out = retarget_inserted(old, new, "sops-gpg");
        assert_eq!(
            out,
            new.replacen("name: sops-age\n  path", "name: sops-gpg\n  path", 1)
        );
        assert_eq!(out.matches("name: sops-age").count(), 1);
    }
}
