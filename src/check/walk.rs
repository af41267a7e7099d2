//! The repository side of `seal check`: which files to look at, which `.sops.yaml` rule
//! covers each, `.sealignore` and inline `# seal:allow` comments, and the parallel run.
//!
//! How a [`Checker`] decides, in order:
//! 1. Paths: a directory is walked git-aware (its `.gitignore`s are respected, `.git` is
//!    never entered, hidden files are checked); a file named on the command line is checked
//!    even when git ignores it. With `--staged`, the blobs in the git index are checked.
//! 2. `.sealignore` (gitignore syntax, at the repository root, else the current directory)
//!    removes paths; each removed path is listed in the summary.
//! 3. Symbolic links are never followed, files larger than [`MAX_FILE_BYTES`] and files with
//!    a NUL byte in their first 8 KiB are skipped; each is counted in the summary.
//! 4. The rule: the first matching creation rule of the nearest `.sops.yaml` at or above
//!    the file (or the one given with `--config`), as sops matches it.
//! 5. The file is scanned ([`super::scan`]); findings on a line that carries (or follows a
//!    line that carries) `seal:allow <rule-id> <reason>` move to the summary's allowed list.
//! 6. `--strict` turns warnings into errors. Findings are sorted by path, line, column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use super::scan::{self, BROAD_PROBES, FileContext, RuleMatch};
use super::{Allowed, Finding, Report, Rule, Severity, Summary};
use crate::config::{self, CONFIG_FILE_NAME, Config};
use crate::error::io_reason;

/// Files larger than this are skipped (and counted).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// How much of a file is looked at for a NUL byte.
const BINARY_PROBE: usize = 8192;

/// The name of seal's ignore file.
pub const IGNORE_FILE: &str = ".sealignore";

/// A configured check.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    /// Where paths are shown relative to (the current directory).
    pub cwd: PathBuf,
    /// `--config`: one `.sops.yaml` for every file instead of the nearest one.
    pub config: Option<PathBuf>,
    /// `--strict`: warnings are errors.
    pub strict: bool,
    /// `--require-recipient`: every sops file must list each of these.
    pub require: Vec<String>,
}

/// One file to check: its shown path, its absolute path, and its bytes when they come
/// from somewhere other than the file system (the git index).
struct Entry {
    shown: String,
    abs: PathBuf,
    blob: Option<Vec<u8>>,
}

/// What happened to one file.
enum Outcome {
    Checked {
        findings: Vec<Finding>,
        allowed: Vec<Allowed>,
        sops: bool,
    },
    Binary,
    Large,
    Unreadable(String),
}

impl Checker {
    /// Check `paths` (files or directories; `.` when empty).
    pub fn check_paths(&self, paths: &[PathBuf]) -> Report {
        let ignore_root = self.ignore_root();
        let sealignore = load_sealignore(&ignore_root);
        let mut summary = Summary::default();
        let mut entries = Vec::new();
        let default = [PathBuf::from(".")];
        let paths = if paths.is_empty() {
            &default[..]
        } else {
            paths
        };
        let ignored = Arc::new(Mutex::new(Vec::new()));
        for p in paths {
            let abs = self.absolute(p);
            let meta = match std::fs::symlink_metadata(&abs) {
                Ok(m) => m,
                Err(e) => {
                    summary.unreadable.push((
                        self.shown(&abs),
                        format!("cannot read it: {}", io_reason(&e)),
                    ));
                    continue;
                }
            };
            if meta.file_type().is_symlink() {
                summary.skipped_symlinks += 1;
                continue;
            }
            if meta.is_file() {
                if is_ignored(&sealignore, &ignore_root, &abs, false) {
                    lock(&ignored).push(self.shown(&abs));
                    continue;
                }
                entries.push(Entry {
                    shown: self.shown(&abs),
                    abs,
                    blob: None,
                });
                continue;
            }
            self.walk(
                &abs,
                &sealignore,
                &ignore_root,
                &ignored,
                &mut entries,
                &mut summary,
            );
        }
        summary.ignored = std::mem::take(&mut *lock(&ignored));
        self.run(entries, summary)
    }

    /// Check the files staged in the git index of the repository at `repo` (their staged
    /// contents, not the working tree's).
    pub fn check_staged(&self, repo: &Path) -> Result<Report, String> {
        let ignore_root = repo.to_path_buf();
        let sealignore = load_sealignore(&ignore_root);
        let names = git(
            repo,
            &[
                "diff",
                "--cached",
                "--name-only",
                "-z",
                "--diff-filter=ACMR",
            ],
            None,
        )?;
        let mut summary = Summary::default();
        let mut entries = Vec::new();
        let mut wanted = Vec::new();
        for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name = String::from_utf8_lossy(name).into_owned();
            let abs = repo.join(&name);
            if is_ignored(&sealignore, &ignore_root, &abs, false) {
                summary.ignored.push(self.shown(&abs));
                continue;
            }
            wanted.push((name, abs));
        }
        // Symbolic links are staged with mode 120000; skip them like the walk does.
        let modes = git(repo, &["ls-files", "-s", "-z"], None)?;
        let links: std::collections::HashSet<String> = modes
            .split(|b| *b == 0)
            .filter_map(|l| {
                let l = String::from_utf8_lossy(l);
                let (meta, path) = l.split_once('\t')?;
                meta.starts_with("120000").then(|| path.to_string())
            })
            .collect();
        for (name, abs) in wanted {
            if links.contains(&name) {
                summary.skipped_symlinks += 1;
                continue;
            }
            let blob = git(repo, &["cat-file", "blob", &format!(":{name}")], None)?;
            entries.push(Entry {
                shown: self.shown(&abs),
                abs,
                blob: Some(blob),
            });
        }
        Ok(self.run(entries, summary))
    }

    fn ignore_root(&self) -> PathBuf {
        crate::repo::repo_root(&self.cwd).unwrap_or_else(|| self.cwd.clone())
    }

    fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    /// `abs` relative to the current directory when below it, with `/`.
    fn shown(&self, abs: &Path) -> String {
        let clean = config::clean_path(abs);
        let cwd = config::clean_path(&self.cwd);
        let rel = clean.strip_prefix(&cwd).unwrap_or(&clean);
        let s = rel.to_string_lossy().replace('\\', "/");
        if s.is_empty() { ".".into() } else { s }
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        root: &Path,
        sealignore: &Option<Gitignore>,
        ignore_root: &Path,
        ignored: &Arc<Mutex<Vec<String>>>,
        entries: &mut Vec<Entry>,
        summary: &mut Summary,
    ) {
        let filter_ignore = sealignore.clone();
        let filter_root = ignore_root.to_path_buf();
        let filter_ignored = Arc::clone(ignored);
        let cwd = self.clone();
        let walk = ignore::WalkBuilder::new(root)
            .hidden(false)
            .follow_links(false)
            .require_git(false)
            .filter_entry(move |e| {
                if e.file_name() == ".git" {
                    return false;
                }
                let dir = e.file_type().is_some_and(|t| t.is_dir());
                if is_ignored(&filter_ignore, &filter_root, e.path(), dir) {
                    lock(&filter_ignored).push(cwd.shown(e.path()));
                    return false;
                }
                true
            })
            .build();
        for entry in walk {
            match entry {
                Ok(e) => {
                    let Some(t) = e.file_type() else { continue };
                    if t.is_symlink() {
                        summary.skipped_symlinks += 1;
                    } else if t.is_file() {
                        let abs = e.into_path();
                        entries.push(Entry {
                            shown: self.shown(&abs),
                            abs,
                            blob: None,
                        });
                    }
                }
                Err(err) => summary.unreadable.push((
                    self.shown(
                        &crate::repo::walk_error_path(&err).unwrap_or_else(|| root.to_path_buf()),
                    ),
                    err.to_string(),
                )),
            }
        }
    }

    fn run(&self, entries: Vec<Entry>, mut summary: Summary) -> Report {
        let rules = RuleFinder::new(self.config.clone());
        let outcomes: Vec<Outcome> = entries
            .par_iter()
            .map(|e| self.check_one(e, &rules))
            .collect();
        let mut findings = rules.config_findings(self);
        for (e, o) in entries.iter().zip(outcomes) {
            match o {
                Outcome::Checked {
                    findings: f,
                    allowed,
                    sops,
                } => {
                    summary.files_checked += 1;
                    summary.sops_files += usize::from(sops);
                    findings.extend(f);
                    summary.allowed.extend(allowed);
                }
                Outcome::Binary => summary.skipped_binary += 1,
                Outcome::Large => summary.skipped_large += 1,
                Outcome::Unreadable(why) => summary.unreadable.push((e.shown.clone(), why)),
            }
        }
        if self.strict {
            for f in &mut findings {
                if f.severity == Severity::Warning {
                    f.severity = Severity::Error;
                }
            }
        }
        let key = |f: &Finding| (f.path.clone(), f.line, f.column, f.rule);
        findings.sort_by_key(key);
        summary.allowed.sort_by_key(|a| key(&a.finding));
        summary.ignored.sort();
        summary.ignored.dedup();
        summary.unreadable.sort();
        Report { findings, summary }
    }

    fn check_one(&self, e: &Entry, rules: &RuleFinder) -> Outcome {
        let bytes = match &e.blob {
            Some(b) => {
                if b.len() as u64 > MAX_FILE_BYTES {
                    return Outcome::Large;
                }
                std::borrow::Cow::Borrowed(b.as_slice())
            }
            None => match crate::repo::read_at_most(&e.abs, MAX_FILE_BYTES) {
                Ok(Some(b)) => std::borrow::Cow::Owned(b),
                Ok(None) => return Outcome::Large,
                Err(err) => {
                    return Outcome::Unreadable(format!("cannot read it: {}", io_reason(&err)));
                }
            },
        };
        if memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE)]).is_some()
            && !super::parse::is_utf16_text(&bytes)
        {
            return Outcome::Binary;
        }
        if e.abs.file_name().is_some_and(|n| n == CONFIG_FILE_NAME) {
            // .sops.yaml holds public keys and regexes; only look for committed keys.
            let ctx = FileContext {
                path: &e.shown,
                rule: None,
                require: &[],
            };
            let r = scan::scan_text_only(&ctx, &bytes);
            let (findings, allowed) = apply_allows(r.findings, &bytes);
            return Outcome::Checked {
                findings,
                allowed,
                sops: false,
            };
        }
        let rule = rules.rule_for(&e.abs);
        let ctx = FileContext {
            path: &e.shown,
            rule: rule.as_deref(),
            require: &self.require,
        };
        let dir = e.abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let read = move |rel: &str| {
            let p = Path::new(rel);
            (!rel.is_empty() && p.is_relative())
                .then(|| crate::repo::read_at_most(&dir.join(p), MAX_FILE_BYTES).ok()?)
                .flatten()
        };
        let r = scan::scan_with(&ctx, &bytes, &read);
        let (findings, allowed) = apply_allows(r.findings, &bytes);
        Outcome::Checked {
            findings,
            allowed,
            sops: r.is_sops,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `.sealignore` of a repository root, for other commands that should skip the same
/// fixtures (`seal doctor`).
pub struct SealIgnore {
    root: PathBuf,
    gi: Option<Gitignore>,
}

impl SealIgnore {
    /// Load `root/.sealignore` (none: nothing is ignored).
    pub fn load(root: &Path) -> SealIgnore {
        SealIgnore {
            root: root.to_path_buf(),
            gi: load_sealignore(root),
        }
    }

    /// Whether `path` (a file below the root) is ignored.
    pub fn is_ignored(&self, path: &Path) -> bool {
        is_ignored(&self.gi, &self.root, path, false)
    }
}

fn load_sealignore(root: &Path) -> Option<Gitignore> {
    let path = root.join(IGNORE_FILE);
    if !path.is_file() {
        return None;
    }
    let mut b = GitignoreBuilder::new(root);
    b.add(&path);
    b.build().ok()
}

fn is_ignored(gi: &Option<Gitignore>, root: &Path, path: &Path, dir: bool) -> bool {
    let Some(gi) = gi else { return false };
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    if rel.as_os_str().is_empty() {
        return false;
    }
    gi.matched_path_or_any_parents(rel, dir).is_ignore()
}

/// Run git in `repo`; its stdout, or a one-line reason.
fn git(repo: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let _ = stdin;
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {}", io_reason(&e)))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            err.lines().next().unwrap_or("").trim()
        ));
    }
    Ok(out.stdout)
}

// ---------------------------------------------------------------------- rules

/// The nearest `.sops.yaml` per directory, loaded once each.
struct RuleFinder {
    explicit: Option<PathBuf>,
    by_dir: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
    configs: Mutex<HashMap<PathBuf, Result<Arc<Config>, String>>>,
    /// Per (config, rule index): the rule as findings show it, decided once.
    matches: Mutex<HashMap<(PathBuf, usize), Arc<RuleMatch>>>,
}

impl RuleFinder {
    fn new(explicit: Option<PathBuf>) -> RuleFinder {
        RuleFinder {
            explicit,
            by_dir: Mutex::new(HashMap::new()),
            configs: Mutex::new(HashMap::new()),
            matches: Mutex::new(HashMap::new()),
        }
    }

    fn config_path(&self, dir: &Path) -> Option<PathBuf> {
        if let Some(p) = &self.explicit {
            return Some(p.clone());
        }
        if let Some(hit) = lock(&self.by_dir).get(dir) {
            return hit.clone();
        }
        let candidate = dir.join(CONFIG_FILE_NAME);
        let found = if candidate.is_file() {
            Some(candidate)
        } else {
            dir.parent().and_then(|p| self.config_path(p))
        };
        lock(&self.by_dir).insert(dir.to_path_buf(), found.clone());
        found
    }

    fn config(&self, path: &Path) -> Option<Arc<Config>> {
        if let Some(c) = lock(&self.configs).get(path) {
            return c.as_ref().ok().cloned();
        }
        let loaded = Config::load(path).map(Arc::new).map_err(|e| e.to_string());
        let out = loaded.as_ref().ok().cloned();
        lock(&self.configs).insert(path.to_path_buf(), loaded);
        out
    }

    fn rule_for(&self, file: &Path) -> Option<Arc<RuleMatch>> {
        let dir = file.parent()?;
        let cfg_path = self.config_path(dir)?;
        let cfg = self.config(&cfg_path)?;
        let rule = cfg.rule_for(file)?;
        let key = (cfg_path, rule.index);
        if let Some(m) = lock(&self.matches).get(&key) {
            return Some(Arc::clone(m));
        }
        let broad = match &rule.path_regex {
            None => true,
            Some(re) => match regex::Regex::new(re) {
                Ok(r) => BROAD_PROBES.iter().any(|p| r.is_match(p)),
                Err(_) => true,
            },
        };
        let label = match &rule.path_regex {
            Some(re) => format!(
                "creation rule {} of .sops.yaml (path_regex {re:?})",
                rule.index + 1
            ),
            None => format!(
                "creation rule {} of .sops.yaml (no path_regex)",
                rule.index + 1
            ),
        };
        let m = Arc::new(RuleMatch {
            rule: rule.clone(),
            label,
            broad,
        });
        lock(&self.matches).insert(key, Arc::clone(&m));
        Some(m)
    }

    /// A `config-error` finding for each `.sops.yaml` that did not load.
    fn config_findings(&self, checker: &Checker) -> Vec<Finding> {
        lock(&self.configs)
            .iter()
            .filter_map(|(p, r)| r.as_ref().err().map(|e| (p, e)))
            .map(|(p, e)| Finding {
                path: checker.shown(p),
                line: 0,
                column: 0,
                rule: Rule::ConfigError,
                severity: Severity::Error,
                message: format!("the sops configuration cannot be used: {}", one_line(e, p)),
                hint: "fix .sops.yaml: without it seal cannot tell which files must be encrypted"
                    .into(),
            })
            .collect()
    }
}

/// An error text on one line, without the config's own path (the finding names it); the
/// caret lines of regex errors are dropped.
fn one_line(e: &str, path: &Path) -> String {
    let e = e
        .strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(e);
    e.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == '-'))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------- allow-list

/// Split findings into reported and allowed by `seal:allow <rule-id> [reason]` comments on
/// the finding's line or on the comment-only line just above it.
fn apply_allows(findings: Vec<Finding>, src: &[u8]) -> (Vec<Finding>, Vec<Allowed>) {
    if findings.is_empty() || memchr::memmem::find(src, b"seal:allow").is_none() {
        return (findings, Vec::new());
    }
    let text = String::from_utf8_lossy(src);
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    let mut allowed = Vec::new();
    for f in findings {
        let here = f.line.checked_sub(1).and_then(|i| lines.get(i));
        let above = f
            .line
            .checked_sub(2)
            .and_then(|i| lines.get(i))
            .filter(|l| is_comment_line(l));
        let reason = [here, above]
            .into_iter()
            .flatten()
            .find_map(|l| allow_reason(l, f.rule));
        match reason {
            Some(reason) => allowed.push(Allowed { finding: f, reason }),
            None => kept.push(f),
        }
    }
    (kept, allowed)
}

fn is_comment_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') || t.starts_with(';') || t.starts_with("//")
}

/// The reason of a `seal:allow <id>` directive on `line` for `rule`.
fn allow_reason(line: &str, rule: Rule) -> Option<String> {
    let mut rest = line;
    while let Some(i) = rest.find("seal:allow") {
        let after = &rest[i + "seal:allow".len()..];
        let mut words = after.split_whitespace();
        if words.next() == Some(rule.id()) {
            let reason: Vec<&str> = words.collect();
            return Some(reason.join(" "));
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_directive_on_the_line_or_above() {
        let f = |line| Finding {
            path: "x".into(),
            line,
            column: 1,
            rule: Rule::PlaintextSecret,
            severity: Severity::Error,
            message: String::new(),
            hint: String::new(),
        };
        let src = b"a: 1 # seal:allow plaintext-secret test fixture\n# seal:allow plaintext-secret above\nb: 2\nc: 3 # seal:allow private-key no\n";
        let (kept, allowed) = apply_allows(vec![f(1), f(3), f(4)], src);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].line, 4);
        assert_eq!(allowed.len(), 2);
        assert_eq!(allowed[0].reason, "test fixture");
        assert_eq!(allowed[1].reason, "above");
    }
}
