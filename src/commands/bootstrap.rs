//! `seal bootstrap flux`: the cluster's age identity (new, from a file or from the OS
//! keyring) as the `flux-system/sops-age` Secret (stdout, a file outside the repository,
//! or `kubectl apply`), the cluster key added to `.sops.yaml` (minimal text edits), and
//! the Flux Kustomization `spec.decryption` block (printed, or patched into a file), with
//! the Kustomizations that still lack it.

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
///    it (mode 0600) outside the git work tree: a private key never goes into the repo.
/// 3. .sops.yaml gets the cluster's public key (and yours, --me or your first identity)
///    in the Kubernetes rule; a new .sops.yaml is created when there is none. Existing
///    files keep their recipients until you run `seal updatekeys`.
/// 4. The Kustomization decryption block is printed (or added to the file given with
///    --patch), and the Flux Kustomizations below the current directory that lack it are
///    listed.
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

    /// Run `kubectl apply -f -` with the Secret instead of printing it.
    #[arg(long, conflicts_with = "secret_output")]
    apply: bool,

    /// Write the Secret to this file (0600), which must be outside the git work tree.
    #[arg(long, value_name = "PATH")]
    secret_output: Option<PathBuf>,

    /// Your own public key, added to the rule with the cluster's (default: the first age
    /// identity seal finds for you).
    #[arg(long, value_name = "AGE1…")]
    me: Option<String>,

    /// The .sops.yaml rule to update: the one that matches this path (needed when the
    /// config has several rules).
    #[arg(long = "for", value_name = "PATH")]
    for_path: Option<PathBuf>,

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

fn run_flux(ctx: &Ctx, args: &FluxArgs) -> Result<(), CliError> {
    // Check everything that can fail cheaply before making or moving a key.
    let secret_dest = args.secret_output.as_ref().map(|p| ctx.absolute(p));
    if let Some(dest) = &secret_dest {
        refuse_in_repo(dest)?;
    }
    if args.apply {
        check_kubeconfig(ctx)?;
    }
    if let Some(me) = &args.me {
        crate::keys::check_recipient(me)?;
    }

    let (identity_text, public, created) = cluster_identity(ctx, args)?;
    let manifest = flux::sops_age_secret(&identity_text);

    // .sops.yaml first: if it cannot be edited, no Secret has been handed out yet.
    if !args.no_config {
        update_config(ctx, args, &public)?;
    }
    if let Some(p) = &args.patch {
        patch_kustomization(ctx, p)?;
    }

    if args.apply {
        kubectl_apply(&manifest)?;
        eprintln!(
            "seal: applied secret {}/{} to the cluster",
            flux::SECRET_NAMESPACE,
            flux::SECRET_NAME
        );
    } else if let Some(dest) = &secret_dest {
        fsio::write_atomic(dest, manifest.as_bytes(), Sensitivity::Secret)
            .map_err(|e| CliError::write_io(dest, e))?;
        eprintln!(
            "seal: wrote the {} Secret to {} (mode 0600; keep it out of git)",
            flux::SECRET_NAME,
            dest.display()
        );
    } else {
        fsio::write_stdout(manifest.as_bytes()).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!("cannot write to standard output: {}", io_reason(&e)),
            )
        })?;
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
    Ok(())
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
            format!("kubectl apply failed ({status}); nothing else was changed on the cluster"),
        ));
    }
    Ok(())
}

/// Add the cluster key (and the user's) to the Kubernetes rule of `.sops.yaml`.
fn update_config(ctx: &Ctx, args: &FluxArgs, cluster: &str) -> Result<(), CliError> {
    let path = config::find(&ctx.cwd, ctx.config_flag.as_deref())
        .unwrap_or_else(|| ctx.cwd.join(".sops.yaml"));
    let me = match &args.me {
        Some(m) => Some(m.clone()),
        None => ctx
            .identities()
            .entries()
            .into_iter()
            .filter_map(|e| e.public_key)
            .find(|k| k.starts_with("age1") && k != cluster),
    };
    let (mut text, rule, created) = if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|e| CliError::read_io(&path, e))?;
        let cfg = Config::parse(text.as_bytes(), &path)?;
        let rule = pick_rule(ctx, &cfg, args.for_path.as_deref()).map_err(|e| e.in_file(&path))?;
        (text, rule, false)
    } else {
        (sops_yaml::new_config(cluster), 0, true)
    };
    for r in std::iter::once(cluster.to_string()).chain(me) {
        text = sops_yaml::add_recipient(&text, &path, rule, &r).map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!("cannot add {r} to creation rule {}: {e}", rule + 1),
            )
            .in_file(&path)
            .hint("add the key to the rule's age: list by hand")
        })?;
    }
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    if text == before {
        eprintln!("seal: {} already lists the cluster key", path.display());
        return Ok(());
    }
    fsio::write_atomic(&path, text.as_bytes(), Sensitivity::Public)
        .map_err(|e| CliError::write_io(&path, e))?;
    eprintln!(
        "seal: {} {} (rule {}); re-encrypt existing files for the new key with: seal updatekeys -y FILE…",
        if created { "created" } else { "updated" },
        path.display(),
        rule + 1
    );
    Ok(())
}

fn pick_rule(ctx: &Ctx, cfg: &Config, for_path: Option<&Path>) -> Result<usize, CliError> {
    if cfg.creation_rules.is_empty() {
        return Ok(0);
    }
    if let Some(p) = for_path {
        return cfg
            .rule_for(&ctx.absolute(p))
            .map(|r| r.index)
            .ok_or_else(|| {
                CliError::new(
                    exit::GENERIC,
                    format!("no creation rule matches {}", p.display()),
                )
                .hint("add a rule for the cluster's manifests, or pick another --for path")
            });
    }
    if cfg.creation_rules.len() == 1 {
        return Ok(0);
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
        [one] => Ok(*one),
        _ => Err(CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!("the config has {} creation rules: which one covers the cluster's manifests?", cfg.creation_rules.len()),
        )
        .hint("pass --for PATH (a file the cluster decrypts, e.g. --for kubernetes/apps/x/secret.sops.yaml)")),
    }
}

fn patch_kustomization(ctx: &Ctx, p: &Path) -> Result<(), CliError> {
    let path = ctx.absolute(p);
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::read_io(p, e))?;
    let (new, names) = flux::patch_decryption(&text).map_err(|e| {
        CliError::new(exit::GENERIC, e).in_file(p).hint(format!(
            "add this under spec: by hand:\n{}",
            flux::decryption_block(2)
        ))
    })?;
    if names.is_empty() {
        eprintln!(
            "seal: {}: every Flux Kustomization already decrypts with sops",
            p.display()
        );
        return Ok(());
    }
    fsio::write_atomic(&path, new.as_bytes(), Sensitivity::Public)
        .map_err(|e| CliError::write_io(&path, e))?;
    eprintln!(
        "seal: {}: added spec.decryption to {}",
        p.display(),
        names.join(", ")
    );
    Ok(())
}
