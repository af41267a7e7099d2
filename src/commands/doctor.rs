//! `seal doctor`: for every sops file in the repository, whether the cluster can decrypt
//! it: the cluster key is a recipient (or, without `--cluster-key`, the file's recipients
//! match its `.sops.yaml` rule), and the Flux Kustomization that builds it has sops
//! decryption enabled (for a file whose recipients are PGP keys only: with a Secret that
//! follows Flux's sops-gpg convention, `.asc` keys); what kustomize-controller needs for
//! data keys a key service wraps (notes); with the command that fixes each problem.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::commands::common::{self, Ctx, Input};
use crate::config::Config;
use crate::error::{CliError, exit};
use crate::k8s::flux;
use crate::k8s::flux_tree::{self, Decryption, FluxTree};
use crate::repo;
use crate::stores::Format;

/// Check that the cluster can decrypt every sops file in the repo
///
/// Walks the repository (git-aware, from its root, or the current directory outside git)
/// and reports, per sops file: whether --cluster-key is one of its recipients (without
/// it: whether its recipients match the .sops.yaml rule), and whether the Flux
/// Kustomization that applies it has `decryption: {provider: sops}`, its own or added by a
/// parent Kustomization's spec.patches. spec.path is read relative to the source's root
/// (the repository root, or the directory the layout implies, such as `kubernetes/` for
/// `./apps/base/…`), and followed through kustomization.yaml resources. Exits 1 when
/// something needs fixing, with the command to run (`seal doctor --fix` adds missing
/// decryption blocks).
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The cluster's age public key (the recipient of the flux-system/sops-age Secret).
    #[arg(long, value_name = "AGE1…")]
    cluster_key: Option<String>,

    /// Add `spec.decryption` (provider sops, secretRef sops-age; sops-gpg for a
    /// Kustomization whose sops files all have PGP keys only) to every Flux Kustomization
    /// that builds a sops file and has none (neither its own nor from a parent's
    /// spec.patches), then check again. Needs no key; a Secret a Kustomization already
    /// names is not changed.
    #[arg(long)]
    fix: bool,

    /// The sealed-secrets controller's certificate (kubeseal --fetch-cert): doctor says
    /// when it expires, next to the SealedSecrets it counts.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,

    /// Check this directory instead of the repository root.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// What doctor found for one file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file, relative to the root.
    pub file: PathBuf,
    /// Problems, each with its fix.
    pub problems: Vec<(String, String)>,
    /// Informational notes.
    pub notes: Vec<String>,
    /// No Flux Kustomization applies it (summarised in one line).
    pub uncovered: bool,
}

/// Run `seal doctor`.
pub fn run(ctx: &Ctx, args: &DoctorArgs) -> Result<(), CliError> {
    if let Some(k) = &args.cluster_key {
        crate::keys::check_recipient(k)?;
    }
    // Flux resolves spec.path from the repository root, so Kustomizations are read from
    // there even when only DIR is checked.
    let scan_root = match &args.dir {
        Some(d) => ctx.absolute(d),
        None => repo::repo_root(&ctx.cwd).unwrap_or_else(|| ctx.cwd.clone()),
    };
    let root = repo::repo_root(&scan_root).unwrap_or_else(|| scan_root.clone());
    let scan = repo::find_sops_files(&scan_root);
    let config = ctx.config()?;
    let mut tree = FluxTree::build(&root, &flux_tree::find_kustomizations(&root));
    if args.fix {
        let fixed = fix_decryption(&root, &tree, &scan.files)?;
        if fixed > 0 {
            tree = FluxTree::build(&root, &flux_tree::find_kustomizations(&root));
        } else {
            println!("nothing to fix: every Kustomization that builds a sops file decrypts");
        }
    }
    // The walk skips what .sealignore lists (deliberate fixtures that seal check skips are
    // not the cluster's business either) and says so below.
    let mut reports = Vec::new();
    for f in &scan.files {
        reports.push(check_file(
            &root,
            f,
            args.cluster_key.as_deref(),
            config.as_ref(),
            &tree,
        ));
    }
    for (p, why) in &scan.unreadable {
        reports.push(FileReport {
            file: rel(&root, p),
            problems: vec![(
                why.clone(),
                "fix its permissions, or list it in .sealignore".into(),
            )],
            notes: Vec::new(),
            uncovered: false,
        });
    }
    let mut bad = 0;
    let mut uncovered: Vec<&Path> = Vec::new();
    for r in &reports {
        if r.uncovered {
            uncovered.push(&r.file);
        }
        if r.problems.is_empty() {
            println!("ok       {}", r.file.display());
        } else {
            bad += 1;
            println!("PROBLEM  {}", r.file.display());
            for (p, fix) in &r.problems {
                println!("         - {p}\n           fix: {fix}");
            }
        }
        for n in &r.notes {
            println!("         note: {n}");
        }
    }
    println!(
        "{} sops file(s) below {}: {} ok, {} need attention",
        reports.len(),
        scan_root.display(),
        reports.len() - bad,
        bad
    );
    if !uncovered.is_empty() && !tree.nodes.is_empty() {
        println!(
            "note: {} sops file(s) are applied by none of the {} Flux Kustomization(s) found here (e.g. {}): Flux does not decrypt them unless something outside this repository applies them",
            uncovered.len(),
            tree.nodes.len(),
            uncovered[0].display()
        );
    }
    if !scan.ignored.is_empty() {
        let list: Vec<String> = scan
            .ignored
            .iter()
            .map(|p| rel(&root, p).display().to_string())
            .collect();
        println!(
            "{} path(s) skipped by .sealignore: {}",
            list.len(),
            list.join(", ")
        );
    }
    if !scan.sealed.is_empty() {
        let list: Vec<String> = scan
            .sealed
            .iter()
            .take(3)
            .map(|p| rel(&root, p).display().to_string())
            .collect();
        println!(
            "{} file(s) hold SealedSecrets, which the sealed-secrets controller opens, not Flux's sops decryption (e.g. {})",
            scan.sealed.len(),
            list.join(", ")
        );
    }
    if let Some(cert) = &args.cert {
        let bytes = std::fs::read(ctx.absolute(cert)).map_err(|e| CliError::read_io(cert, e))?;
        let c = crate::sealed::parse_certificate(&bytes).map_err(|e| {
            CliError::new(exit::COULD_NOT_READ_INPUT, e.to_string())
                .in_file(cert)
                .hint("--cert takes the controller's certificate: kubeseal --fetch-cert > pub-cert.pem")
        })?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (when, days) = crate::sealed::expiry(&c, now);
        if days < 0 {
            println!(
                "note: the controller's certificate {} expired on {when}: fetch the current one (kubeseal --fetch-cert) before sealing",
                cert.display()
            );
        } else {
            println!(
                "the controller's certificate {} is valid until {when} ({days} days)",
                cert.display()
            );
        }
    }
    if !scan.symlinks.is_empty() {
        println!("{} symbolic link(s) not followed", scan.symlinks.len());
    }
    if args.cluster_key.is_none() {
        println!(
            "(pass --cluster-key age1… to check that the cluster's key can decrypt each file)"
        );
    }
    if bad > 0 && args.fix {
        println!(
            "--fix adds only missing decryption blocks (it needs no key and does not change a Secret a Kustomization already names): the problems above need the steps shown"
        );
    }
    if bad > 0 {
        return Err(CliError::new(
            exit::GENERIC,
            format!("{bad} file(s) cannot be decrypted by the cluster as things stand"),
        ));
    }
    Ok(())
}

fn rel(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| p.to_path_buf())
}

fn check_file(
    root: &Path,
    file: &Path,
    cluster_key: Option<&str>,
    config: Option<&Config>,
    tree: &FluxTree,
) -> FileReport {
    let relp = rel(root, file);
    let mut r = FileReport {
        file: relp.clone(),
        ..Default::default()
    };
    let shown = relp.display().to_string();
    let mut services: Vec<String> = Vec::new();
    let only_hckms: bool;
    let recipients: Vec<String> = match std::fs::read(file) {
        Ok(bytes) => {
            let input = Input {
                display: relp.clone(),
                file: Some(file.to_path_buf()),
                rules_path: Some(file.to_path_buf()),
                format: Format::from_path(file),
                out_format: Format::from_path(file),
                bytes,
            };
            match common::load_encrypted(&input) {
                Ok((_, meta)) => {
                    for g in &meta.key_groups {
                        for (kind, list) in &g.other {
                            if kind != "pgp" && !list.is_empty() && !services.contains(kind) {
                                services.push(kind.clone());
                            }
                        }
                    }
                    only_hckms = services == ["hckms"]
                        && meta.key_groups.iter().all(|g| {
                            g.age.is_empty()
                                && g.other.iter().all(|(k, l)| k == "hckms" || l.is_empty())
                        });
                    meta.key_groups
                        .iter()
                        // age and PGP as rules name them (`pgp:FP`), so a rule compares equal.
                        .flat_map(crate::keys::group_recipients)
                        .collect()
                }
                Err(e) => {
                    r.problems
                        .push((e.message, "restore the file from version control".into()));
                    return r;
                }
            }
        }
        Err(e) => {
            r.problems.push((
                format!("cannot read it: {}", crate::error::io_reason(&e)),
                "fix its permissions".into(),
            ));
            return r;
        }
    };
    let rule = config.and_then(|c| c.rule_for(file));
    match cluster_key {
        Some(k) => {
            if !recipients.iter().any(|x| x == k) {
                let fix = if rule.is_some_and(|r| r.key_groups.iter().flatten().any(|x| x == k)) {
                    format!("seal updatekeys -y {shown}")
                } else {
                    format!(
                        "add the key to .sops.yaml (seal bootstrap flux --key …), or: seal rotate -i --add-age {k} {shown}"
                    )
                };
                r.problems.push((
                    "the cluster key is not a recipient: Flux cannot decrypt it".into(),
                    fix,
                ));
            }
        }
        None => {
            if let Some(rule) = rule {
                let mut want: Vec<&String> = rule.key_groups.iter().flatten().collect();
                let mut have: Vec<&String> = recipients.iter().collect();
                want.sort();
                want.dedup();
                have.sort();
                have.dedup();
                if !want.is_empty() && want != have {
                    r.problems.push((
                        format!(
                            "its recipients differ from .sops.yaml rule {}",
                            rule.index + 1
                        ),
                        format!("seal updatekeys -y {shown}"),
                    ));
                }
            }
        }
    }
    let Some(i) = tree.building(&relp, None) else {
        r.uncovered = true;
        return r;
    };
    let k = &tree.nodes[i].ks;
    let secret = match tree.decryption(i) {
        Decryption::Own(s) => s,
        Decryption::Injected { secret_ref, .. } => secret_ref,
        Decryption::Missing { parent } => {
            r.problems.push((
                format!(
                    "the Flux Kustomization {} ({}) that builds it has no sops decryption{}",
                    k.name,
                    k.file.display(),
                    match parent {
                        Some(p) => format!(
                            ", and the spec.patches of {p}, which applies it, do not add one"
                        ),
                        None => ", and none of the Kustomizations found here applies it (if a parent adds decryption with spec.patches, that parent is not in this tree)".to_string(),
                    }
                ),
                format!(
                    "seal doctor --fix (adds spec.decryption to {})",
                    k.file.display()
                ),
            ));
            return r;
        }
    };
    if only_hckms {
        r.problems.push((
            "its only keys are HuaweiCloud KMS keys, which Flux's kustomize-controller does not decrypt".into(),
            format!("add a key the cluster has: seal rotate -i --add-age CLUSTER_RECIPIENT {shown}"),
        ));
        return r;
    }
    for kind in &services {
        let (service, need) = flux::key_service_note(kind, secret.as_deref());
        r.notes
            .push(format!("its data key is also wrapped by {service}: {need}"));
    }
    if let Some(problem) =
        pgp_secret_problem(root, &recipients, &k.name, &k.file, secret.as_deref())
    {
        r.problems.push(problem);
        return r;
    }
    if let Some(s) = secret
        .as_deref()
        .filter(|s| *s != flux::SECRET_NAME && !pgp_secret_ok(root, &recipients, s))
    {
        r.notes.push(format!(
            "Kustomization {} decrypts with the Secret {s:?}, not {}",
            k.name,
            flux::SECRET_NAME
        ));
    }
    r
}

/// The Secret Flux's documentation names for PGP keys (`flux-system/sops-gpg`).
const PGP_SECRET_NAME: &str = "sops-gpg";

/// A Secret manifest of the repository, by the names of its keys (a sops-encrypted one
/// shows them in the clear).
struct SecretDoc {
    file: PathBuf,
    name: String,
    keys: Vec<String>,
}

/// The repository's Secret manifests, read once per run (the root is fixed for a run).
fn repo_secrets(root: &Path) -> &'static [SecretDoc] {
    static SECRETS: std::sync::OnceLock<Vec<SecretDoc>> = std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        let mut out = Vec::new();
        let walk = ignore::WalkBuilder::new(root)
            .hidden(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for e in walk.flatten() {
            let p = e.path();
            if !e.file_type().is_some_and(|t| t.is_file()) || Format::from_path(p) != Format::Yaml {
                continue;
            }
            let Ok(bytes) = std::fs::read(p) else {
                continue;
            };
            if memchr::memmem::find(&bytes, b"Secret").is_none() {
                continue;
            }
            let Ok(parsed) = Format::Yaml.store().load_plain(&bytes) else {
                continue;
            };
            for d in &parsed.docs {
                use crate::tree::Value;
                if !matches!(d.get("kind"), Some(Value::Str(k)) if k == "Secret") {
                    continue;
                }
                let Some(Value::Branch(meta)) = d.get("metadata") else {
                    continue;
                };
                let Some(Value::Str(name)) = meta.get("name") else {
                    continue;
                };
                let mut keys = Vec::new();
                for field in ["data", "stringData"] {
                    if let Some(Value::Branch(b)) = d.get(field) {
                        keys.extend(b.items.iter().filter_map(|i| match i {
                            crate::tree::Item::Pair(k, _) => Some(k.clone()),
                            _ => None,
                        }));
                    }
                }
                out.push(SecretDoc {
                    file: rel(root, p),
                    name: name.clone(),
                    keys,
                });
            }
        }
        out
    })
}

/// The PGP fingerprints among a file's recipients (`pgp:FP` as rules name them).
fn pgp_fps(recipients: &[String]) -> Vec<&str> {
    recipients
        .iter()
        .filter_map(|r| crate::keys::pgp::untag(r))
        .collect()
}

/// Whether `secret` follows Flux's PGP convention for a file with PGP recipients: named
/// sops-gpg, or a Secret manifest of that name here has a key ending in `.asc`.
fn pgp_secret_ok(root: &Path, recipients: &[String], secret: &str) -> bool {
    if pgp_fps(recipients).is_empty() {
        return false;
    }
    if secret == PGP_SECRET_NAME {
        return true;
    }
    repo_secrets(root)
        .iter()
        .any(|s| s.name == secret && s.keys.iter().any(|k| k.ends_with(".asc")))
}

/// Flux decrypts a file whose recipients are PGP keys only (no age key the cluster could
/// hold) with an armored private key under a `.asc` key of the decryption Secret
/// (conventionally flux-system/sops-gpg). The problem, with a command that fixes it,
/// when the Kustomization's Secret is not such a Secret.
fn pgp_secret_problem(
    root: &Path,
    recipients: &[String],
    ks_name: &str,
    ks_file: &Path,
    secret: Option<&str>,
) -> Option<(String, String)> {
    let fps = pgp_fps(recipients);
    let has_age = recipients
        .iter()
        .any(|r| crate::keys::pgp::untag(r).is_none());
    if fps.is_empty() || has_age {
        return None;
    }
    let fp = fps[0];
    let export = format!(
        "gpg --export-secret-keys --armor {fp} | kubectl create secret generic {PGP_SECRET_NAME} --namespace=flux-system --from-file=sops.asc=/dev/stdin (or: seal bootstrap flux --pgp {fp} --apply)"
    );
    let Some(secret) = secret else {
        return Some((
            format!(
                "its recipients are PGP keys only ({}), but the Flux Kustomization {ks_name} ({}) names no decryption Secret",
                fps.join(", "),
                ks_file.display()
            ),
            format!(
                "{export}; then set spec.decryption.secretRef.name: {PGP_SECRET_NAME} in {}",
                ks_file.display()
            ),
        ));
    };
    if pgp_secret_ok(root, recipients, secret) {
        return None;
    }
    let why = match repo_secrets(root).iter().find(|s| s.name == secret) {
        Some(s) => format!(
            "is defined in {} without a key ending in .asc",
            s.file.display()
        ),
        None => format!(
            "is not Flux's PGP Secret ({PGP_SECRET_NAME}, armored private keys under keys ending in .asc)"
        ),
    };
    Some((
        format!(
            "its recipients are PGP keys only ({}), but the Flux Kustomization {ks_name} ({}) decrypts with the Secret {secret}, which {why}",
            fps.join(", "),
            ks_file.display()
        ),
        format!(
            "{export}; then set spec.decryption.secretRef.name: {PGP_SECRET_NAME} in {} (a Kustomization that also decrypts age files needs both keys in one Secret: add sops.asc to {secret})",
            ks_file.display()
        ),
    ))
}

/// The master keys of an encrypted file as rules name them (`pgp:FP` for PGP), or None
/// when it cannot be read as one (check_file reports why).
fn file_recipients(root: &Path, file: &Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(file).ok()?;
    let input = Input {
        display: rel(root, file),
        file: Some(file.to_path_buf()),
        rules_path: Some(file.to_path_buf()),
        format: Format::from_path(file),
        out_format: Format::from_path(file),
        bytes,
    };
    let (_, meta) = common::load_encrypted(&input).ok()?;
    Some(
        meta.key_groups
            .iter()
            .flat_map(crate::keys::group_recipients)
            .collect(),
    )
}

/// Whether a file's recipients are PGP keys only (no age key the cluster could hold).
fn pgp_only(recipients: &[String]) -> bool {
    !recipients.is_empty()
        && recipients
            .iter()
            .all(|r| crate::keys::pgp::untag(r).is_some())
}

/// A Kustomization `--fix` gives a decryption block, and what its files need.
struct FixTarget {
    file: PathBuf,
    name: String,
    /// Every sops file it builds has PGP keys only: Flux's sops-gpg convention.
    pgp_only: bool,
    /// The PGP fingerprints of those files (for the command that makes the Secret).
    fps: Vec<String>,
}

/// Add the decryption block to every Kustomization that applies one of `files` and
/// decrypts by no means; returns how many files were changed. The block names Flux's
/// age Secret (sops-age), or its PGP Secret (sops-gpg) for a Kustomization whose files
/// all have PGP keys only; making that Secret needs the private key, so the command that
/// does it is printed, not run.
fn fix_decryption(root: &Path, tree: &FluxTree, files: &[PathBuf]) -> Result<usize, CliError> {
    let mut targets: Vec<FixTarget> = Vec::new();
    for f in files {
        let relp = rel(root, f);
        let Some(i) = tree.building(&relp, None) else {
            continue;
        };
        if !matches!(tree.decryption(i), Decryption::Missing { .. }) {
            continue;
        }
        let ks = &tree.nodes[i].ks;
        let recipients = file_recipients(root, f).unwrap_or_default();
        let only = pgp_only(&recipients);
        let at = match targets
            .iter()
            .position(|t| t.file == ks.file && t.name == ks.name)
        {
            Some(at) => at,
            None => {
                targets.push(FixTarget {
                    file: ks.file.clone(),
                    name: ks.name.clone(),
                    pgp_only: true,
                    fps: Vec::new(),
                });
                targets.len() - 1
            }
        };
        let t = &mut targets[at];
        t.pgp_only &= only;
        for fp in pgp_fps(&recipients) {
            if !t.fps.iter().any(|x| x == fp) {
                t.fps.push(fp.to_string());
            }
        }
    }
    let mut files_done: Vec<&PathBuf> = Vec::new();
    let mut changed = 0;
    for t in &targets {
        if files_done.contains(&&t.file) {
            continue;
        }
        files_done.push(&t.file);
        let abs = root.join(&t.file);
        let text = std::fs::read_to_string(&abs).map_err(|e| CliError::read_io(&abs, e))?;
        let secret_for = |name: &str| -> String {
            let pgp = targets
                .iter()
                .any(|x| x.file == t.file && x.name == name && x.pgp_only);
            if pgp {
                PGP_SECRET_NAME
            } else {
                flux::SECRET_NAME
            }
            .to_string()
        };
        let (out, names) = flux::patch_decryption_named(&text, &secret_for).map_err(|why| {
            CliError::new(exit::GENERIC, why)
                .in_file(&t.file)
                .hint("add `decryption: {provider: sops, secretRef: {name: sops-age}}` under its spec by hand")
        })?;
        if names.is_empty() {
            continue;
        }
        crate::fsio::write_atomic(&abs, out.as_bytes(), crate::fsio::Sensitivity::Public)
            .map_err(|e| CliError::write_io(&abs, e))?;
        let shown: Vec<String> = names
            .iter()
            .map(|n| format!("{n} (secretRef {})", secret_for(n)))
            .collect();
        println!(
            "fixed    {}: added spec.decryption to {}",
            t.file.display(),
            shown.join(", ")
        );
        for x in targets
            .iter()
            .filter(|x| x.file == t.file && x.pgp_only && names.contains(&x.name))
        {
            let fp = x.fps.first().map(String::as_str).unwrap_or("FINGERPRINT");
            println!(
                "         note: the sops files {} builds have PGP keys only, so it decrypts with Flux's PGP Secret {ns}/{PGP_SECRET_NAME}; --fix cannot make that Secret (it needs the private key): gpg --export-secret-keys --armor {fp} | kubectl create secret generic {PGP_SECRET_NAME} --namespace={ns} --from-file=sops.asc=/dev/stdin (or: seal bootstrap flux --pgp {fp} --apply)",
                x.name,
                ns = flux::SECRET_NAMESPACE,
            );
        }
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn ks(name: &str, path: &str, extra: &str) -> String {
        format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\nspec:\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
        )
    }

    #[test]
    fn the_deepest_kustomization_builds_the_file() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(root, "kubernetes/apps/plane/app/secret.sops.yaml", "a: 1\n");
        write(root, "kubernetes/apps/other/secret.yaml", "a: 1\n");
        write(root, "docs/x.yaml", "a: 1\n");
        write(
            root,
            "kubernetes/flux/ks.yaml",
            &format!(
                "{}{}",
                ks("cluster", "./kubernetes", ""),
                ks("plane", "./kubernetes/apps/plane/app", "")
            ),
        );
        let tree = FluxTree::build(root, &flux_tree::find_kustomizations(root));
        let name = |f: &str| {
            tree.building(Path::new(f), None)
                .map(|i| tree.nodes[i].ks.name.clone())
        };
        assert_eq!(
            name("kubernetes/apps/plane/app/secret.sops.yaml").as_deref(),
            Some("plane")
        );
        assert_eq!(
            name("kubernetes/apps/other/secret.yaml").as_deref(),
            Some("cluster")
        );
        assert_eq!(name("docs/x.yaml"), None);
    }
}
