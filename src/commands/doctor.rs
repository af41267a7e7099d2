//! `seal doctor`: for every sops file in the repository, whether the cluster can decrypt
//! it: the cluster key is a recipient (or, without `--cluster-key`, the file's recipients
//! match its `.sops.yaml` rule), and the Flux Kustomization that builds it has sops
//! decryption enabled; with the command that fixes each problem.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::commands::common::{self, Ctx, Input};
use crate::config::Config;
use crate::error::{CliError, exit};
use crate::k8s::flux::{self, FluxKustomization};
use crate::repo;
use crate::stores::Format;

/// Check that the cluster can decrypt every sops file in the repo
///
/// Walks the repository (git-aware, from its root, or the current directory outside git)
/// and reports, per sops file: whether --cluster-key is one of its recipients (without
/// it: whether its recipients match the .sops.yaml rule), and whether the Flux
/// Kustomization whose spec.path covers it has `decryption: {provider: sops}`. Exits 1
/// when something needs fixing, with the command to run.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The cluster's age public key (the recipient of the flux-system/sops-age Secret).
    #[arg(long, value_name = "AGE1…")]
    cluster_key: Option<String>,

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
    let kss = flux::find_kustomizations(&root);
    // The walk skips what .sealignore lists (deliberate fixtures that seal check skips are
    // not the cluster's business either) and says so below.
    let mut reports = Vec::new();
    for f in &scan.files {
        reports.push(check_file(
            &root,
            f,
            args.cluster_key.as_deref(),
            config.as_ref(),
            &kss,
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
        });
    }
    let mut bad = 0;
    for r in &reports {
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
    if !scan.symlinks.is_empty() {
        println!("{} symbolic link(s) not followed", scan.symlinks.len());
    }
    if args.cluster_key.is_none() {
        println!(
            "(pass --cluster-key age1… to check that the cluster's key can decrypt each file)"
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

/// The Kustomization whose `spec.path` is the longest prefix of `file` (relative to the
/// repository root).
pub fn building_kustomization<'a>(
    file: &Path,
    kss: &'a [FluxKustomization],
) -> Option<&'a FluxKustomization> {
    kss.iter()
        .filter_map(|k| {
            let p = k
                .path
                .as_deref()?
                .trim_start_matches("./")
                .trim_end_matches('/');
            let covers = p.is_empty() || p == "." || file.starts_with(p);
            covers.then_some((p.len(), k))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, k)| k)
}

fn check_file(
    root: &Path,
    file: &Path,
    cluster_key: Option<&str>,
    config: Option<&Config>,
    kss: &[FluxKustomization],
) -> FileReport {
    let relp = rel(root, file);
    let mut r = FileReport {
        file: relp.clone(),
        ..Default::default()
    };
    let shown = relp.display().to_string();
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
                Ok((_, meta)) => meta
                    .key_groups
                    .iter()
                    .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
                    .collect(),
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
    match building_kustomization(&relp, kss) {
        Some(k) if !k.decrypts => {
            let ks_file = rel(root, &k.file);
            r.problems.push((
                format!(
                    "the Flux Kustomization {} ({}) that builds it has no sops decryption",
                    k.name,
                    ks_file.display()
                ),
                format!(
                    "seal bootstrap flux --key CLUSTER_KEY_FILE --no-config --patch {} > /dev/null",
                    ks_file.display()
                ),
            ));
        }
        Some(k)
            if k.secret_ref
                .as_deref()
                .is_some_and(|s| s != flux::SECRET_NAME) =>
        {
            r.notes.push(format!(
                "Kustomization {} decrypts with the Secret {:?}, not {}",
                k.name,
                k.secret_ref.as_deref().unwrap_or_default(),
                flux::SECRET_NAME
            ));
        }
        Some(_) => {}
        None if !kss.is_empty() => r
            .notes
            .push("no Flux Kustomization's spec.path covers it".into()),
        None => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(name: &str, path: &str, decrypts: bool) -> FluxKustomization {
        FluxKustomization {
            file: PathBuf::from(format!("{name}.yaml")),
            name: name.into(),
            path: Some(path.into()),
            decrypts,
            secret_ref: decrypts.then(|| "sops-age".into()),
        }
    }

    #[test]
    fn the_deepest_spec_path_builds_the_file() {
        let kss = [
            ks("cluster", "./kubernetes", true),
            ks("plane", "./kubernetes/apps/plane/app", false),
        ];
        let f = Path::new("kubernetes/apps/plane/app/secret.sops.yaml");
        assert_eq!(building_kustomization(f, &kss).unwrap().name, "plane");
        let g = Path::new("kubernetes/apps/other/secret.yaml");
        assert_eq!(building_kustomization(g, &kss).unwrap().name, "cluster");
        assert!(building_kustomization(Path::new("docs/x.yaml"), &kss).is_none());
        // A path prefix must end at a directory boundary.
        let kss = [ks("a", "./kube", true)];
        assert!(building_kustomization(Path::new("kubernetes/x.yaml"), &kss).is_none());
    }
}
