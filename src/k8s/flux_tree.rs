//! How the Flux Kustomizations of a repository fit together, for `seal doctor`: where
//! each one's `spec.path` lies in the repository (relative to the root of its source,
//! which need not be the repository's: `./apps/base/x` may live in `kubernetes/apps/base/x`),
//! which files it applies (kustomize `resources`, `components` and generator files, or every
//! file below when there is no kustomization.yaml, as Flux generates one), and which child
//! Kustomizations get `spec.decryption` from a parent's `spec.patches`. Reads files only.
//!
//! Which files there are is the walk every repo-wide command shares
//! ([`crate::repo::files`]): the files git tracks plus the untracked ones it does not
//! ignore, so a `.gitignore` never hides a tracked Kustomization or a file it applies.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::k8s::flux::{self, FluxKustomization};
use crate::repo::files::{self, SealIgnore};
use crate::stores::Format;
use crate::tree::{Branch, Item, Value};

/// What a parent's patch targets (`spec.patches[].target`, or the patch's own kind and name
/// when there is no target).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// `group`.
    pub group: Option<String>,
    /// `kind`.
    pub kind: Option<String>,
    /// `name` (a regular expression in kustomize).
    pub name: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `annotationSelector`.
    pub annotation_selector: Option<String>,
}

/// A patch in a Kustomization's `spec.patches` that sets sops decryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionPatch {
    /// What it applies to.
    pub target: Target,
    /// The `secretRef.name` it sets, if any.
    pub secret_ref: Option<String>,
}

/// One Flux Kustomization with what doctor needs beyond [`FluxKustomization`].
#[derive(Clone, Debug)]
pub struct KsNode {
    /// The Kustomization.
    pub ks: FluxKustomization,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations`.
    pub annotations: Vec<(String, String)>,
    /// `spec.path` as a directory relative to the repository root (`None`: not found here).
    pub dir: Option<PathBuf>,
    /// Its patches that give sops decryption to what they target.
    pub patches: Vec<DecryptionPatch>,
    /// The files it applies, relative to the repository root.
    pub applied: BTreeSet<PathBuf>,
}

/// How the Kustomization that builds a file decrypts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decryption {
    /// Its own `spec.decryption` (with this `secretRef.name`).
    Own(Option<String>),
    /// A parent's `spec.patches` adds it.
    Injected {
        /// The parent Kustomization's name.
        parent: String,
        /// The `secretRef.name` the patch sets.
        secret_ref: Option<String>,
    },
    /// None. `parent`: the Kustomization that applies this one, if found.
    Missing {
        /// The parent's name.
        parent: Option<String>,
    },
}

/// The repository's Flux Kustomizations, resolved.
#[derive(Clone, Debug, Default)]
pub struct FluxTree {
    /// Every Kustomization.
    pub nodes: Vec<KsNode>,
}

fn get<'a>(b: &'a Branch, k: &str) -> Option<&'a Value> {
    b.get(k)
}

fn get_str<'a>(b: &'a Branch, k: &str) -> Option<&'a str> {
    match get(b, k) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn get_branch<'a>(b: &'a Branch, k: &str) -> Option<&'a Branch> {
    match get(b, k) {
        Some(Value::Branch(x)) => Some(x),
        _ => None,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn pairs(b: Option<&Branch>) -> Vec<(String, String)> {
    b.map(|b| {
        b.items
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, v) => scalar_text(v).map(|t| (k.clone(), t)),
                Item::Comment(_) => None,
            })
            .collect()
    })
    .unwrap_or_default()
}

fn is_flux_kustomization(doc: &Branch) -> bool {
    get_str(doc, "kind") == Some("Kustomization")
        && get_str(doc, "apiVersion").is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/"))
}

/// The sops decryption a patch text sets: a strategic-merge patch with
/// `spec.decryption.provider: sops`, or a JSON 6902 patch that adds `/spec/decryption`.
/// Returns the patched object's kind and name too (the target when none is given).
fn patch_decryption_of(text: &str) -> Option<(Option<String>, Option<String>, Option<String>)> {
    if let Ok(parsed) = Format::Yaml.store().load_plain(text.as_bytes())
        && let Some(doc) = parsed.docs.first()
        && let Some(dec) = get_branch(doc, "spec").and_then(|s| get_branch(s, "decryption"))
    {
        if get_str(dec, "provider") != Some("sops") {
            return None;
        }
        let secret = get_branch(dec, "secretRef")
            .and_then(|r| get_str(r, "name"))
            .map(str::to_string);
        let kind = get_str(doc, "kind").map(str::to_string);
        let name = get_branch(doc, "metadata")
            .and_then(|m| get_str(m, "name"))
            .map(str::to_string);
        return Some((secret, kind, name));
    }
    // JSON 6902 (a YAML or JSON list of operations): recognised by its text.
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("/spec/decryption") && text.contains("sops") {
        let secret = text
            .split("secretRef")
            .nth(1)
            .and_then(|rest| rest.split("name").nth(1))
            .map(|s| {
                s.trim_start_matches(|c: char| c == '"' || c == ':' || c.is_whitespace())
                    .split(|c: char| c == '"' || c == '}' || c == ',' || c.is_whitespace())
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .filter(|s| !s.is_empty());
        return Some((secret, Some("Kustomization".into()), None));
    }
    None
}

fn decryption_patches(spec: Option<&Branch>) -> Vec<DecryptionPatch> {
    let Some(Value::List(list)) = spec.and_then(|s| get(s, "patches")) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|p| {
            let Value::Branch(p) = p else { return None };
            let (secret_ref, kind, name) = patch_decryption_of(get_str(p, "patch")?)?;
            let target = match get_branch(p, "target") {
                Some(t) => Target {
                    group: get_str(t, "group").map(str::to_string),
                    kind: get_str(t, "kind").map(str::to_string),
                    name: get_str(t, "name").map(str::to_string),
                    namespace: get_str(t, "namespace").map(str::to_string),
                    label_selector: get_str(t, "labelSelector").map(str::to_string),
                    annotation_selector: get_str(t, "annotationSelector").map(str::to_string),
                },
                None => Target {
                    kind,
                    name,
                    ..Target::default()
                },
            };
            Some(DecryptionPatch { target, secret_ref })
        })
        .collect()
}

/// Whether a Kubernetes set-based selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) matches
/// `labels`. A requirement seal cannot read makes it not match.
pub fn selector_matches(selector: &str, labels: &[(String, String)]) -> bool {
    let value = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // Split at commas outside parentheses.
    let mut reqs = Vec::new();
    let (mut depth, mut cur) = (0usize, String::new());
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                reqs.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    reqs.push(cur);
    reqs.iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .all(|r| {
            let set = |rest: &str| -> Option<Vec<String>> {
                let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some(inner.split(',').map(|s| s.trim().to_string()).collect())
            };
            if let Some((k, rest)) = r.split_once(" notin ") {
                return set(rest)
                    .is_some_and(|s| value(k.trim()).is_none_or(|v| !s.iter().any(|x| x == v)));
            }
            if let Some((k, rest)) = r.split_once(" in ") {
                return set(rest)
                    .is_some_and(|s| value(k.trim()).is_some_and(|v| s.iter().any(|x| x == v)));
            }
            if let Some((k, v)) = r.split_once("!=") {
                return value(k.trim()) != Some(v.trim());
            }
            if let Some((k, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
                return value(k.trim()) == Some(v.trim());
            }
            if let Some(k) = r.strip_prefix('!') {
                return value(k.trim()).is_none();
            }
            if r.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                return value(r).is_some();
            }
            false
        })
}

impl Target {
    /// Whether the target selects the Kustomization `n`.
    pub fn selects(&self, n: &KsNode) -> bool {
        if self.kind.as_deref().is_some_and(|k| k != "Kustomization")
            || self
                .group
                .as_deref()
                .is_some_and(|g| g != "kustomize.toolkit.fluxcd.io")
        {
            return false;
        }
        if let Some(name) = &self.name {
            let full = regex::Regex::new(&format!("^(?:{name})$"));
            let ok = match full {
                Ok(re) => re.is_match(&n.ks.name),
                Err(_) => *name == n.ks.name,
            };
            if !ok {
                return false;
            }
        }
        if let (Some(want), Some(have)) = (&self.namespace, &n.namespace)
            && want != have
        {
            return false;
        }
        self.label_selector
            .as_deref()
            .is_none_or(|s| selector_matches(s, &n.labels))
            && self
                .annotation_selector
                .as_deref()
                .is_none_or(|s| selector_matches(s, &n.annotations))
    }
}

/// `a/./b/../c` as `a/c` (lexically; `None` when it climbs out of the root).
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(x) => out.push(x),
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// `spec.path` as a directory relative to the repository root: below the root when it is
/// there (a GitRepository of this repository), else below the nearest ancestor of the
/// Kustomization's own file that has it (a source built from a subdirectory, such as an
/// OCIRepository pushed from `kubernetes/`).
pub fn resolve_path(root: &Path, ks_file_rel: &Path, spec_path: &str) -> Option<PathBuf> {
    let p = normalize(Path::new(spec_path.trim_start_matches('/')))?;
    if root.join(&p).is_dir() {
        return Some(p);
    }
    ks_file_rel
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| {
            let cand = normalize(&a.join(&p))?;
            root.join(&cand).is_dir().then_some(cand)
        })
}

/// The files the repository at `root` holds ([`crate::repo::files`]), relative to it.
fn repo_files(root: &Path) -> BTreeSet<PathBuf> {
    files::walk(root, &SealIgnore::load(root))
        .files
        .into_iter()
        .filter_map(|p| p.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// Every Flux Kustomization in the YAML files the repository at `root` holds (the walk of
/// [`crate::repo::files`]), sorted by file and name; files are named absolute.
pub fn find_kustomizations(root: &Path) -> Vec<FluxKustomization> {
    let mut out = Vec::new();
    for rel in repo_files(root) {
        if Format::from_path(&rel) != Format::Yaml {
            continue;
        }
        let abs = root.join(&rel);
        let Ok(bytes) = std::fs::read(&abs) else {
            continue;
        };
        if memchr::memmem::find(&bytes, b"kustomize.toolkit.fluxcd.io").is_some() {
            out.extend(flux::kustomizations_in(&abs, &bytes));
        }
    }
    out.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
    out
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The files Flux applies from `dir` (relative to `root`): what its kustomization.yaml
/// names (`resources`, `components`, generator `files`/`envs`), followed into directories;
/// every file below when there is none.
fn applied_files(
    root: &Path,
    repo: &BTreeSet<PathBuf>,
    dir: &Path,
    out: &mut BTreeSet<PathBuf>,
    seen: &mut BTreeSet<PathBuf>,
    depth: usize,
) {
    if depth > 32 || !seen.insert(dir.to_path_buf()) {
        return;
    }
    let kfile = KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| root.join(p).is_file());
    let Some(kfile) = kfile else {
        // The repository's files below `dir` (paths order by component, so they follow
        // `dir` in one run).
        out.extend(
            repo.range(dir.to_path_buf()..)
                .take_while(|p| p.starts_with(dir))
                .cloned(),
        );
        return;
    };
    out.insert(kfile.clone());
    let Ok(text) = std::fs::read(root.join(&kfile)) else {
        return;
    };
    let Ok(parsed) = Format::Yaml.store().load_plain(&text) else {
        return;
    };
    let Some(doc) = parsed.docs.first() else {
        return;
    };
    let mut refs: Vec<String> = Vec::new();
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::List(l)) => l.iter().filter_map(scalar_text).collect(),
            Some(Value::Str(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    for field in ["resources", "components", "bases", "crds"] {
        refs.extend(strings(get(doc, field)));
    }
    for generator in ["secretGenerator", "configMapGenerator"] {
        if let Some(Value::List(l)) = get(doc, generator) {
            for g in l {
                let Value::Branch(g) = g else { continue };
                for f in strings(get(g, "files")) {
                    // `key=path` or `path`.
                    refs.push(f.rsplit_once('=').map_or(f.clone(), |(_, p)| p.to_string()));
                }
                refs.extend(strings(get(g, "envs")));
                refs.extend(strings(get(g, "env")));
            }
        }
    }
    for r in refs {
        if r.contains("://") || r.starts_with("github.com/") || r.starts_with("git@") {
            continue;
        }
        let Some(p) = normalize(&dir.join(&r)) else {
            continue;
        };
        let abs = root.join(&p);
        if abs.is_dir() {
            applied_files(root, repo, &p, out, seen, depth + 1);
        } else if abs.is_file() {
            out.insert(p);
        }
    }
}

impl FluxTree {
    /// Resolve the Kustomizations found below `root` (their `file` absolute or relative to
    /// `root`).
    pub fn build(root: &Path, kss: &[FluxKustomization]) -> FluxTree {
        let repo = if kss.is_empty() {
            BTreeSet::new()
        } else {
            repo_files(root)
        };
        let mut nodes = Vec::with_capacity(kss.len());
        let mut by_file: Vec<(&Path, Vec<&FluxKustomization>)> = Vec::new();
        for k in kss {
            match by_file.iter_mut().find(|(f, _)| *f == k.file.as_path()) {
                Some((_, v)) => v.push(k),
                None => by_file.push((k.file.as_path(), vec![k])),
            }
        }
        for (file, list) in by_file {
            let abs = if file.is_absolute() {
                file.to_path_buf()
            } else {
                root.join(file)
            };
            let rel = abs
                .strip_prefix(root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| file.to_path_buf());
            let docs: Vec<Branch> = std::fs::read(&abs)
                .ok()
                .and_then(|t| Format::Yaml.store().load_plain(&t).ok())
                .map(|p| p.docs.into_iter().filter(is_flux_kustomization).collect())
                .unwrap_or_default();
            for (i, k) in list.into_iter().enumerate() {
                let doc = docs.get(i);
                let meta = doc.and_then(|d| get_branch(d, "metadata"));
                let spec = doc.and_then(|d| get_branch(d, "spec"));
                let dir = k.path.as_deref().and_then(|p| resolve_path(root, &rel, p));
                let mut applied = BTreeSet::new();
                if let Some(d) = &dir {
                    applied_files(root, &repo, d, &mut applied, &mut BTreeSet::new(), 0);
                }
                nodes.push(KsNode {
                    ks: FluxKustomization {
                        file: rel.clone(),
                        ..k.clone()
                    },
                    namespace: meta
                        .and_then(|m| get_str(m, "namespace"))
                        .map(str::to_string),
                    labels: pairs(meta.and_then(|m| get_branch(m, "labels"))),
                    annotations: pairs(meta.and_then(|m| get_branch(m, "annotations"))),
                    dir,
                    patches: decryption_patches(spec),
                    applied,
                });
            }
        }
        FluxTree { nodes }
    }

    /// The Kustomization that applies `file` (relative to the root): of those whose files
    /// include it, the one with the deepest `spec.path`; `skip` is left out (a Kustomization
    /// does not apply itself).
    pub fn building(&self, file: &Path, skip: Option<usize>) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| Some(*i) != skip && n.applied.contains(file))
            .max_by_key(|(_, n)| n.dir.as_ref().map_or(0, |d| d.components().count()))
            .map(|(i, _)| i)
    }

    /// How the Kustomization `i` decrypts: its own block, or one its parent's patches add.
    pub fn decryption(&self, i: usize) -> Decryption {
        let n = &self.nodes[i];
        if n.ks.decrypts {
            return Decryption::Own(n.ks.secret_ref.clone());
        }
        let Some(p) = self.building(&n.ks.file, Some(i)) else {
            return Decryption::Missing { parent: None };
        };
        let parent = &self.nodes[p];
        match parent.patches.iter().find(|d| d.target.selects(n)) {
            Some(d) => Decryption::Injected {
                parent: parent.ks.name.clone(),
                secret_ref: d.secret_ref.clone(),
            },
            None => Decryption::Missing {
                parent: Some(parent.ks.name.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors() {
        let l = labels(&[("app", "x"), ("tier", "db")]);
        assert!(selector_matches(
            "substitution.flux/disabled notin (true)",
            &l
        ));
        assert!(!selector_matches("tier notin (db, web)", &l));
        assert!(selector_matches("app=x,tier in (db,web)", &l));
        assert!(selector_matches("flux-defaults!=disabled", &l));
        assert!(!selector_matches("app!=x", &l));
        assert!(selector_matches("app", &l) && !selector_matches("!app", &l));
        assert!(!selector_matches("app ~ x", &l));
    }

    #[test]
    fn targets_select_by_kind_group_name_and_labels() {
        let node = |name: &str, l: &[(&str, &str)]| KsNode {
            ks: FluxKustomization {
                file: PathBuf::from("ks.yaml"),
                name: name.into(),
                path: None,
                decrypts: false,
                secret_ref: None,
            },
            namespace: Some("apps".into()),
            labels: labels(l),
            annotations: Vec::new(),
            dir: None,
            patches: Vec::new(),
            applied: BTreeSet::new(),
        };
        let t = Target {
            group: Some("kustomize.toolkit.fluxcd.io".into()),
            kind: Some("Kustomization".into()),
            name: Some("db-.*".into()),
            label_selector: Some("flux-defaults!=disabled".into()),
            ..Target::default()
        };
        assert!(t.selects(&node("db-main", &[])));
        assert!(!t.selects(&node("web", &[])));
        assert!(!t.selects(&node("db-x", &[("flux-defaults", "disabled")])));
        let hr = Target {
            kind: Some("HelmRelease".into()),
            ..Target::default()
        };
        assert!(!hr.selects(&node("db-main", &[])));
        let ns = Target {
            namespace: Some("other".into()),
            ..Target::default()
        };
        assert!(!ns.selects(&node("db-main", &[])));
    }

    #[test]
    fn patches_that_set_decryption_are_found() {
        let smp = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: not-used\nspec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n";
        assert_eq!(
            patch_decryption_of(smp),
            Some((
                Some("sops-age".into()),
                Some("Kustomization".into()),
                Some("not-used".into())
            ))
        );
        let json = "- op: add\n  path: /spec/decryption\n  value:\n    provider: sops\n    secretRef:\n      name: sops-gpg\n";
        assert_eq!(
            patch_decryption_of(json).map(|t| t.0),
            Some(Some("sops-gpg".into()))
        );
        assert_eq!(patch_decryption_of("spec:\n  interval: 1m\n"), None);
    }

    #[test]
    fn spec_path_is_found_below_the_source_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("kubernetes/apps/base/x/app")).unwrap();
        let ks = Path::new("kubernetes/apps/base/x/ks.yaml");
        assert_eq!(
            resolve_path(root, ks, "./apps/base/x/app"),
            Some(PathBuf::from("kubernetes/apps/base/x/app"))
        );
        assert_eq!(
            resolve_path(root, ks, "./kubernetes/apps/base/x/app"),
            Some(PathBuf::from("kubernetes/apps/base/x/app"))
        );
        assert_eq!(resolve_path(root, ks, "./nowhere"), None);
        assert_eq!(resolve_path(root, ks, "../.."), None);
    }
}
