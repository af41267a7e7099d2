//! The repository side of `seal check`: which files to look at, which `.sops.yaml` rule
//! covers each, `.sealignore` and inline `# seal:allow` comments, and the parallel run.
//!
//! How a [`Checker`] decides, in order:
//! 1. Paths: the files the repository holds ([`crate::repo::files`], the walk every
//!    repo-wide command shares: in a git work tree the tracked files and the untracked ones
//!    git does not ignore; outside git every file). A path named on the command line is
//!    checked even when git ignores it, and followed when it is a symbolic link. With
//!    `--staged`, the staged changes are checked, read from the git index by object id.
//! 2. `.sealignore` (gitignore syntax, at the repository root, else the current directory)
//!    removes paths; each removed path is listed in the summary.
//! 3. Symbolic links inside the walk are never followed. Files larger than
//!    [`MAX_FILE_BYTES`], and files with a NUL byte in their first 8 KiB, are not parsed:
//!    they are an error when their text could hold a Secret or a key (fail closed), else
//!    skipped; skipped files (and files over the 64 MiB input cap) are counted in the
//!    summary.
//! 4. The rule: the first matching creation rule of the nearest `.sops.yaml` at or above
//!    the file (or the one given with `--config`), as sops matches it. A file named
//!    `.sops.yaml` has no rule (a configuration is never required to be encrypted) and is
//!    otherwise checked like any YAML file, in every document.
//! 5. The file is scanned ([`super::scan`]); findings on a line that carries (or follows a
//!    line that carries) `seal:allow <rule-id> <reason>` move to the summary's allowed list.
//! 6. `--strict` turns warnings into errors. Findings are sorted by path, line, column.

use rustc_hash::FxHashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::scan::{self, BROAD_PROBES, FileContext, RuleMatch};
use super::{Allowed, Finding, Report, Rule, Severity, Summary};
use crate::config::{self, CONFIG_FILE_NAME, Config};
use crate::error::io_reason;
use crate::repo::Opened;
use crate::repo::files::{Found, Walk};

/// Files larger than this are skipped (and counted).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Files up to this size are read (the input cap of every seal command); larger ones are
/// skipped and counted.
const MAX_READ_BYTES: u64 = crate::fsio::MAX_INPUT_BYTES;

/// How much of a file is looked at for a NUL byte.
const BINARY_PROBE: usize = 8192;

pub use crate::repo::files::{IGNORE_FILE, SealIgnore};

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

/// One file to check: its absolute path, and where its bytes come from. The path findings
/// show is made while the file is checked, so a walk of many files keeps one path each.
struct Entry<'a> {
    abs: &'a Path,
    source: Source<'a>,
}

/// Where an [`Entry`]'s bytes are.
enum Source<'a> {
    /// The file system, at `abs`: a file the user named (a link to it followed).
    Disk,
    /// The file system, at a path the walk found (its type learnt when it is opened).
    Found,
    /// The git index (the staged blob).
    Blob(&'a [u8]),
    /// A staged blob larger than [`MAX_FILE_BYTES`] (not read).
    LargeBlob,
}

/// What happened to one file.
enum Outcome {
    Checked {
        findings: Vec<Finding>,
        allowed: Vec<Allowed>,
        sops: bool,
        objects: Vec<super::sealed::Named>,
    },
    Binary,
    Large,
    Unreadable(String),
    /// A symbolic link the walk found (not followed).
    Symlink,
    /// A directory where git lists a path (a submodule): walked next.
    Dir,
    /// Nothing to read (gone from the working tree, not a file).
    Nothing,
}

/// The outcomes of many files, summed as they come (nothing is kept per clean file).
#[derive(Default)]
struct Tally {
    findings: Vec<Finding>,
    allowed: Vec<Allowed>,
    objects: Vec<super::sealed::Named>,
    checked: usize,
    sops: usize,
    binary: usize,
    large: usize,
    symlinks: usize,
    ignored: Vec<String>,
    unreadable: Vec<(String, String)>,
    /// Directories found where git lists a path, to walk next.
    dirs: Vec<PathBuf>,
}

impl Tally {
    fn add(mut self, abs: &Path, shown: String, o: Outcome) -> Tally {
        match o {
            Outcome::Checked {
                findings,
                allowed,
                sops,
                objects,
            } => {
                self.objects.extend(objects);
                self.checked += 1;
                self.sops += usize::from(sops);
                self.findings.extend(findings);
                self.allowed.extend(allowed);
            }
            Outcome::Binary => self.binary += 1,
            Outcome::Large => self.large += 1,
            Outcome::Unreadable(why) => self.unreadable.push((shown, why)),
            Outcome::Symlink => self.symlinks += 1,
            Outcome::Dir => self.dirs.push(abs.to_path_buf()),
            Outcome::Nothing => {}
        }
        self
    }

    fn merge(mut self, other: Tally) -> Tally {
        self.findings.extend(other.findings);
        self.allowed.extend(other.allowed);
        self.objects.extend(other.objects);
        self.checked += other.checked;
        self.sops += other.sops;
        self.binary += other.binary;
        self.large += other.large;
        self.symlinks += other.symlinks;
        self.ignored.extend(other.ignored);
        self.unreadable.extend(other.unreadable);
        self.dirs.extend(other.dirs);
        self
    }
}

impl Checker {
    /// Check `paths` (files or directories; `.` when empty). The walk streams into the
    /// checking threads: no list of the files is made, and reading starts with the first
    /// name git prints.
    pub fn check_paths(&self, paths: &[PathBuf]) -> Report {
        let ignore = SealIgnore::load(&self.ignore_root());
        let default = [PathBuf::from(".")];
        let paths = if paths.is_empty() {
            &default[..]
        } else {
            paths
        };
        // `.` is the current directory itself: the paths below it need no cleaning.
        let abs: Vec<PathBuf> = paths
            .iter()
            .map(|p| {
                if p.as_os_str() == "." {
                    self.cwd.clone()
                } else {
                    self.absolute(p)
                }
            })
            .collect();
        let rules = RuleFinder::new(self.config.clone());
        let cwd = config::clean_path(&self.cwd);
        let mut walk = Walk::new(&abs, &ignore);
        let mut tally = Tally::default();
        loop {
            let mut round = walk
                .by_ref()
                .par_bridge()
                .fold(Tally::default, |t, found| {
                    self.check_found(t, found, &cwd, &rules)
                })
                .reduce(Tally::default, Tally::merge);
            // Submodules: walked with their own index, after the rest.
            let dirs = std::mem::take(&mut round.dirs);
            tally = tally.merge(round);
            if dirs.is_empty() {
                break;
            }
            for d in dirs {
                walk.enter(d);
            }
        }
        self.report(tally, Summary::default(), &rules, &cwd)
    }

    /// One thing the walk found, checked when it is a file.
    fn check_found(&self, mut t: Tally, found: Found, cwd: &Path, rules: &RuleFinder) -> Tally {
        let (abs, source) = match found {
            Found::Named(p) => (p, Source::Disk),
            Found::File(p) | Found::Listed(p) => (p, Source::Found),
            Found::Symlink(_) => {
                t.symlinks += 1;
                return t;
            }
            Found::Ignored(p) => {
                t.ignored.push(shown(cwd, &p));
                return t;
            }
            Found::Unreadable(p, why) => {
                t.unreadable.push((shown(cwd, &p), why));
                return t;
            }
        };
        let e = Entry { abs: &abs, source };
        let shown = shown(cwd, &abs);
        let o = self.check_one(&e, &shown, rules);
        t.add(&abs, shown, o)
    }

    /// Check the changes staged in the git index of the repository at `repo` (their staged
    /// contents, not the working tree's). Also returns notes on what was not checked and is
    /// no failure (a staged submodule), one sentence each.
    pub fn check_staged(&self, repo: &Path) -> Result<(Report, Vec<String>), String> {
        let staged = crate::repo::files::staged(repo, &SealIgnore::load(repo), MAX_READ_BYTES)?;
        let summary = self.summary(staged.symlinks.len(), &staged.ignored, &staged.unreadable);
        let report = self.run(&staged.files, summary, |f| Entry {
            abs: &f.path,
            source: match &f.blob {
                Some(b) => Source::Blob(b),
                None => Source::LargeBlob,
            },
        });
        Ok((report, staged.notes))
    }

    /// The summary of what a walk skipped before any file is read.
    fn summary(
        &self,
        symlinks: usize,
        ignored: &[PathBuf],
        unreadable: &[(PathBuf, String)],
    ) -> Summary {
        let cwd = config::clean_path(&self.cwd);
        Summary {
            skipped_symlinks: symlinks,
            ignored: ignored.iter().map(|p| shown(&cwd, p)).collect(),
            unreadable: unreadable
                .iter()
                .map(|(p, why)| (shown(&cwd, p), why.clone()))
                .collect(),
            ..Summary::default()
        }
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

    fn run<T: Sync>(
        &self,
        items: &[T],
        summary: Summary,
        entry: impl Fn(&T) -> Entry<'_> + Sync,
    ) -> Report {
        let rules = RuleFinder::new(self.config.clone());
        let cwd = config::clean_path(&self.cwd);
        let tally = items
            .par_iter()
            .fold(Tally::default, |t, item| {
                let e = entry(item);
                let shown = shown(&cwd, e.abs);
                let o = self.check_one(&e, &shown, &rules);
                t.add(e.abs, shown, o)
            })
            .reduce(Tally::default, Tally::merge);
        self.report(tally, summary, &rules, &cwd)
    }

    /// The report of a run: `summary` (what was skipped before reading) with the tally.
    fn report(
        &self,
        mut tally: Tally,
        mut summary: Summary,
        rules: &RuleFinder,
        cwd: &Path,
    ) -> Report {
        let mut findings = rules.config_findings(cwd);
        findings.extend(tally.findings);
        // Files were checked in no fixed order: which file a Secret is paired with does not
        // depend on it.
        tally
            .objects
            .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        for (finding, allow) in super::sealed::across_files(&tally.objects) {
            match allow {
                Some(reason) => summary.allowed.push(Allowed { finding, reason }),
                None => findings.push(finding),
            }
        }
        summary.files_checked += tally.checked;
        summary.sops_files += tally.sops;
        summary.skipped_binary += tally.binary;
        summary.skipped_large += tally.large;
        summary.skipped_symlinks += tally.symlinks;
        summary.ignored.extend(tally.ignored);
        summary.allowed.extend(tally.allowed);
        summary.unreadable.extend(tally.unreadable);
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
        summary.unreadable.dedup();
        Report { findings, summary }
    }

    fn check_one(&self, e: &Entry, shown: &str, rules: &RuleFinder) -> Outcome {
        // Files up to the input cap are read; those over MAX_FILE_BYTES are not parsed, but
        // they fail closed when their text could hold a Secret or a key.
        let bytes = match &e.source {
            Source::Blob(b) => std::borrow::Cow::Borrowed(*b),
            Source::LargeBlob => return Outcome::Large,
            Source::Disk => match crate::repo::read_at_most(e.abs, MAX_READ_BYTES) {
                Ok(Some(b)) => std::borrow::Cow::Owned(b),
                Ok(None) => return Outcome::Large,
                Err(err) => {
                    return Outcome::Unreadable(format!("cannot read it: {}", io_reason(&err)));
                }
            },
            Source::Found => match crate::repo::open_found(e.abs, MAX_READ_BYTES) {
                Ok(Opened::File(Some(b))) => std::borrow::Cow::Owned(b),
                Ok(Opened::File(None)) => return Outcome::Large,
                Ok(Opened::Symlink) => return Outcome::Symlink,
                Ok(Opened::Dir) => return Outcome::Dir,
                Ok(Opened::Nothing) => return Outcome::Nothing,
                Err(err) => {
                    return Outcome::Unreadable(format!("cannot read it: {}", io_reason(&err)));
                }
            },
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return self
                .unparsed(
                    shown,
                    &bytes,
                    "it is larger than the 10 MiB seal check parses",
                )
                .unwrap_or(Outcome::Large);
        }
        if memchr::memchr(0, &bytes[..bytes.len().min(BINARY_PROBE)]).is_some()
            && !super::parse::is_utf16_text(&bytes)
        {
            // A NUL byte does not make UTF-8 text binary: text that could hold a Secret or
            // a key is not skipped.
            if std::str::from_utf8(&bytes).is_err() {
                return Outcome::Binary;
            }
            return self
                .unparsed(
                    shown,
                    &bytes,
                    "it holds a NUL byte, which YAML and JSON do not allow",
                )
                .unwrap_or(Outcome::Binary);
        }
        // A `.sops.yaml` is read by sops as a configuration, never encrypted by a rule:
        // it gets no rule, and is otherwise checked like any YAML file (a Secret in any of
        // its documents is a Secret).
        let rule = if e.abs.file_name().is_some_and(|n| n == CONFIG_FILE_NAME) {
            None
        } else {
            rules.rule_for(e.abs)
        };
        let ctx = FileContext {
            path: shown,
            rule: rule.as_deref(),
            require: &self.require,
        };
        let dir = e.abs.parent().unwrap_or(Path::new(""));
        let read = |rel: &str| {
            let p = Path::new(rel);
            (!rel.is_empty() && p.is_relative())
                .then(|| crate::repo::read_at_most(&dir.join(p), MAX_FILE_BYTES).ok()?)
                .flatten()
        };
        let r = scan::scan_with(&ctx, &bytes, &read);
        let (findings, allowed) = apply_allows(r.findings, &bytes);
        let mut objects = r.objects;
        allow_objects(&mut objects, &bytes);
        Outcome::Checked {
            findings,
            allowed,
            sops: r.is_sops,
            objects,
        }
    }
}

impl Checker {
    /// A file seal check does not parse (`why`): an error when its text could hold a
    /// Secret or a key (the gate fails closed), `None` (skip it) otherwise.
    fn unparsed(&self, shown: &str, bytes: &[u8], why: &str) -> Option<Outcome> {
        let text = String::from_utf8_lossy(bytes);
        let what = super::parse::could_hold(&text)?;
        let finding = Finding {
            path: shown.to_string(),
            line: 0,
            column: 0,
            rule: Rule::ParseError,
            severity: Severity::Error,
            message: format!(
                "seal check cannot read the file fully ({why}), and {what}: it could hold a Secret or a key that cannot be checked"
            ),
            hint: "split or fix the file so that it can be checked, or list it in .sealignore if it holds no secret".into(),
        };
        let (findings, allowed) = apply_allows(vec![finding], bytes);
        Some(Outcome::Checked {
            findings,
            allowed,
            sops: false,
            objects: Vec::new(),
        })
    }
}

/// `abs` relative to `cwd` (lexically clean) when below it, with `/`.
fn shown(cwd: &Path, abs: &Path) -> String {
    if let Some(s) = shown_clean(cwd, abs) {
        return s.to_string();
    }
    let clean;
    let bytes = abs.as_os_str().as_encoded_bytes();
    let unclean = memchr::memmem::find(bytes, b"//").is_some()
        || bytes.ends_with(b"/")
        || abs
            .components()
            .any(|c| matches!(c, Component::CurDir | Component::ParentDir));
    let abs = if unclean {
        clean = config::clean_path(abs);
        clean.as_path()
    } else {
        abs
    };
    let rel = abs.strip_prefix(cwd).unwrap_or(abs);
    let s = rel.to_string_lossy().replace('\\', "/");
    if s.is_empty() { ".".into() } else { s }
}

/// [`shown`] for the common case, without building paths: `abs` is `cwd` (clean), `/`,
/// then UTF-8 names that are neither empty, `.` nor `..`, with no `\\`.
fn shown_clean<'a>(cwd: &Path, abs: &'a Path) -> Option<&'a str> {
    let cwd = cwd.as_os_str().as_encoded_bytes();
    let rest = abs
        .as_os_str()
        .as_encoded_bytes()
        .strip_prefix(cwd)?
        .strip_prefix(b"/")?;
    let clean = !cwd.is_empty()
        && !cwd.ends_with(b"/")
        && !rest.contains(&b'\\')
        && rest
            .split(|b| *b == b'/')
            .all(|name| !name.is_empty() && name != b"." && name != b"..");
    clean.then(|| std::str::from_utf8(rest).ok()).flatten()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------- rules

/// The nearest `.sops.yaml` per directory, loaded once each.
struct RuleFinder {
    explicit: Option<PathBuf>,
    /// Per directory: its nearest configuration (one lookup per file).
    by_dir: Mutex<FxHashMap<PathBuf, Option<Arc<Loaded>>>>,
    /// Every configuration looked at, by path (each loaded once).
    configs: Mutex<FxHashMap<PathBuf, Arc<Loaded>>>,
}

/// One `.sops.yaml`, loaded.
struct Loaded {
    config: Result<Config, String>,
    /// Per creation rule (by index): the rule as findings show it, decided once.
    matches: Vec<std::sync::OnceLock<Arc<RuleMatch>>>,
}

impl RuleFinder {
    fn new(explicit: Option<PathBuf>) -> RuleFinder {
        RuleFinder {
            explicit,
            by_dir: Mutex::new(FxHashMap::default()),
            configs: Mutex::new(FxHashMap::default()),
        }
    }

    /// The configuration that covers the files of `dir`.
    fn for_dir(&self, dir: &Path) -> Option<Arc<Loaded>> {
        if let Some(hit) = lock(&self.by_dir).get(dir) {
            return hit.clone();
        }
        let found = match &self.explicit {
            Some(p) => Some(self.config(p)),
            None => {
                let candidate = dir.join(CONFIG_FILE_NAME);
                if candidate.is_file() {
                    Some(self.config(&candidate))
                } else {
                    dir.parent().and_then(|p| self.for_dir(p))
                }
            }
        };
        lock(&self.by_dir).insert(dir.to_path_buf(), found.clone());
        found
    }

    fn config(&self, path: &Path) -> Arc<Loaded> {
        if let Some(c) = lock(&self.configs).get(path) {
            return Arc::clone(c);
        }
        let config = Config::load(path).map_err(|e| e.to_string());
        let rules = config.as_ref().map_or(0, |c| c.creation_rules.len());
        let loaded = Arc::new(Loaded {
            config,
            matches: (0..rules).map(|_| std::sync::OnceLock::new()).collect(),
        });
        // Two threads may load it at once: the first one stored is the one kept.
        Arc::clone(
            lock(&self.configs)
                .entry(path.to_path_buf())
                .or_insert(loaded),
        )
    }

    fn rule_for(&self, file: &Path) -> Option<Arc<RuleMatch>> {
        let loaded = self.for_dir(file.parent()?)?;
        let cfg = loaded.config.as_ref().ok()?;
        let rule = cfg.rule_for(file)?;
        let make = || {
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
            Arc::new(RuleMatch {
                rule: rule.clone(),
                label,
                broad,
            })
        };
        // The rule's slot by its place in the list (a few rules: a short scan).
        let slot = cfg
            .creation_rules
            .iter()
            .position(|r| std::ptr::eq(r, rule))
            .and_then(|i| loaded.matches.get(i));
        Some(match slot {
            Some(m) => Arc::clone(m.get_or_init(make)),
            None => make(),
        })
    }

    /// A `config-error` finding for each `.sops.yaml` that did not load.
    fn config_findings(&self, cwd: &Path) -> Vec<Finding> {
        lock(&self.configs)
            .iter()
            .filter_map(|(p, l)| l.config.as_ref().err().map(|e| (p, e)))
            .map(|(p, e)| Finding {
                path: shown(cwd, p),
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

/// Split findings into reported and allowed by `seal:allow <rule-id> [reason]` directives
/// in a comment ([`super::allow`]) on the finding's line or on the comment-only line just
/// above it. Text inside a value never counts, whatever it says.
fn apply_allows(findings: Vec<Finding>, src: &[u8]) -> (Vec<Finding>, Vec<Allowed>) {
    if findings.is_empty() || memchr::memmem::find(src, b"seal:allow").is_none() {
        return (findings, Vec::new());
    }
    let text = String::from_utf8_lossy(src);
    let format = findings
        .first()
        .map(|f| crate::stores::Format::from_path(Path::new(&f.path)))
        .unwrap_or(crate::stores::Format::Binary);
    let comments = super::allow::comments(&text, format);
    let mut kept = Vec::new();
    let mut allowed = Vec::new();
    for f in findings {
        let here = f
            .line
            .checked_sub(1)
            .and_then(|i| comments.get(i).copied().flatten());
        let above = f
            .line
            .checked_sub(2)
            .and_then(|i| comments.get(i).copied().flatten())
            .filter(|c| c.whole_line);
        let reason = [here, above]
            .into_iter()
            .flatten()
            .find_map(|c| allow_reason(c.text, f.rule));
        match reason {
            Some(reason) => allowed.push(Allowed { finding: f, reason }),
            None => kept.push(f),
        }
    }
    (kept, allowed)
}

/// Record on each plaintext Secret the reason of a `seal:allow plaintext-secret`
/// directive at its start (its first line, or the comment line above it), so that the
/// finding made across files ([`super::sealed::across_files`]) can be allowed in the
/// Secret's own file like every other finding.
fn allow_objects(objects: &mut [super::sealed::Named], src: &[u8]) {
    if memchr::memmem::find(src, b"seal:allow").is_none() {
        return;
    }
    // One pass over the file's comments for every plaintext Secret: a probe finding per
    // object, tagged with its index in `column` (the probes never leave this function).
    let probes: Vec<Finding> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.sealed)
        .map(|(i, o)| Finding {
            path: o.path.clone(),
            line: o.line,
            column: i,
            rule: Rule::PlaintextSecret,
            severity: Severity::Error,
            message: String::new(),
            hint: String::new(),
        })
        .collect();
    for a in apply_allows(probes, src).1 {
        objects[a.finding.column].allow = Some(a.reason);
    }
}

/// The reason of a `seal:allow <id>` directive in a comment's text for `rule`.
fn allow_reason(comment: &str, rule: Rule) -> Option<String> {
    let mut rest = comment;
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
    fn shown_without_building_paths_is_shown() {
        let cwd = Path::new("/r/repo");
        let slow = |abs: &str| {
            let abs = config::clean_path(Path::new(abs));
            let rel = abs.strip_prefix(cwd).unwrap_or(&abs);
            let s = rel.to_string_lossy().replace('\\', "/");
            if s.is_empty() { ".".to_string() } else { s }
        };
        for abs in [
            "/r/repo/a/b.yaml",
            "/r/repo/./a/b.yaml",
            "/r/repo/a//b.yaml",
            "/r/repo/a/../b.yaml",
            "/r/repo/a/",
            "/r/repo",
            "/r/repository/x",
            "/r/repo/a\\b",
            "/elsewhere/x.yaml",
        ] {
            assert_eq!(shown(cwd, Path::new(abs)), slow(abs), "{abs}");
        }
        assert_eq!(
            shown_clean(cwd, Path::new("/r/repo/a/b.yaml")),
            Some("a/b.yaml")
        );
        assert_eq!(shown_clean(cwd, Path::new("/r/repo/./a")), None);
    }

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
