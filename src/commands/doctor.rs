//! `seal doctor`: for every sops file in the repository, whether the cluster can decrypt
//! it: the cluster key is a recipient (or, without `--cluster-key`, the file's recipients
//! match its `.sops.yaml` rule), and the Flux Kustomization that builds it has sops
//! decryption enabled; with the command that fixes each problem.

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

    /// Add `spec.decryption` (provider sops, secretRef sops-age) to every Flux
    /// Kustomization that builds a sops file and has none (neither its own nor from a
    /// parent's spec.patches), then check again. Needs no key.
    #[arg(long)]
    fix: bool,

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
                    // age and PGP as rules name them (`pgp:FP`), so a rule compares equal.
                    .flat_map(crate::keys::group_recipients)
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
    if let Some(s) = secret.as_deref().filter(|s| *s != flux::SECRET_NAME) {
        r.notes.push(format!(
            "Kustomization {} decrypts with the Secret {s:?}, not {}",
            k.name,
            flux::SECRET_NAME
        ));
    }
    r
}

/// Add the decryption block to every Kustomization that applies one of `files` and
/// decrypts by no means; returns how many files were changed.
fn fix_decryption(root: &Path, tree: &FluxTree, files: &[PathBuf]) -> Result<usize, CliError> {
    let mut targets: Vec<PathBuf> = Vec::new();
    for f in files {
        let relp = rel(root, f);
        if let Some(i) = tree.building(&relp, None)
            && matches!(tree.decryption(i), Decryption::Missing { .. })
            && !targets.contains(&tree.nodes[i].ks.file)
        {
            targets.push(tree.nodes[i].ks.file.clone());
        }
    }
    let mut changed = 0;
    for t in &targets {
        let abs = root.join(t);
        let text = std::fs::read_to_string(&abs).map_err(|e| CliError::read_io(&abs, e))?;
        let (out, names) = flux::patch_decryption(&text).map_err(|why| {
            CliError::new(exit::GENERIC, why)
                .in_file(t)
                .hint("add `decryption: {provider: sops, secretRef: {name: sops-age}}` under its spec by hand")
        })?;
        if names.is_empty() {
            continue;
        }
        crate::fsio::write_atomic(&abs, out.as_bytes(), crate::fsio::Sensitivity::Public)
            .map_err(|e| CliError::write_io(&abs, e))?;
        println!(
            "fixed    {}: added spec.decryption to {}",
            t.display(),
            names.join(", ")
        );
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
