//! Which files a repository holds: the one walk behind `seal check`, `updatekeys --all`,
//! `rotate --all`, `doctor` and `git setup`, and the staged changes `seal check --staged`
//! reads. Every caller sees the same set, so what the gate checks is what the repo-wide
//! commands update.
//!
//! - **Inside a git work tree** (a directory at or above the walked one has a `.git` that git
//!   would use: a `gitdir:` file, or a directory holding `HEAD`), the files are the ones git
//!   lists: every file in the index plus the untracked files git does not ignore
//!   (`git ls-files --cached` and `git ls-files --others --exclude-standard`, run at once and
//!   read as they print: [`Walk`]). So `.gitignore`,
//!   `.git/info/exclude` and the global excludes never hide a tracked file, and `.ignore`
//!   files (a ripgrep convention git does not read) hide nothing. git is the one reader of
//!   its index that knows every index version, split and sparse indexes and linked work
//!   trees, and `--staged` needs it anyway; when it cannot be run there, the directory is
//!   reported unreadable (callers fail) instead of being walked some other way. Repositories
//!   inside the walk (submodules, untracked clones) are walked the same way with their own
//!   index. Tracked files missing from the working tree are not there to read.
//! - **Outside git**, every file is walked.
//! - In both, `.sealignore` (gitignore syntax, at the root the caller loads it from) is the
//!   only way to skip a file, and every skipped path is reported (a directory once). Symbolic
//!   links found by the walk are not followed and are reported; a path the caller names that
//!   is itself a link (to a directory or a file) is followed. `.git` is never entered.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

pub use super::listing::{Found, Walk};

use crate::error::io_reason;

/// The name of seal's ignore file.
pub const IGNORE_FILE: &str = ".sealignore";

/// What a walk found. Paths are the walked path joined with each file's path below it.
#[derive(Debug, Default)]
pub struct Files {
    /// Regular files, sorted, each once.
    pub files: Vec<PathBuf>,
    /// Paths skipped by `.sealignore` (a directory once, not each file in it), sorted.
    pub ignored: Vec<PathBuf>,
    /// Symbolic links found by the walk (not followed), sorted.
    pub symlinks: Vec<PathBuf>,
    /// Paths that could not be read, or listed (path, reason). A file hidden here might be
    /// anything, so callers treat these as failures.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Files {
    fn finish(&mut self) {
        for v in [&mut self.files, &mut self.ignored, &mut self.symlinks] {
            v.sort();
            v.dedup();
        }
        self.unreadable.sort();
        self.unreadable.dedup();
    }
}

/// Walk `path` (absolute; a directory or a file, a link to either is followed) with the
/// rules of this module.
pub fn walk(path: &Path, ignore: &SealIgnore) -> Files {
    walk_all(std::slice::from_ref(&path.to_path_buf()), ignore)
}

/// Walk each of `paths` (absolute) into one set: the stream of [`Walk`], each path git
/// lists looked at (`lstat`) here.
pub fn walk_all(paths: &[PathBuf], ignore: &SealIgnore) -> Files {
    let mut out = Files::default();
    let mut walk = Walk::new(paths, ignore);
    while let Some(found) = walk.next() {
        match found {
            Found::Named(p) | Found::File(p) => out.files.push(p),
            Found::Listed(p) => match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => out.symlinks.push(p),
                Ok(m) if m.is_file() => out.files.push(p),
                Ok(m) if m.is_dir() => walk.enter(p),
                Ok(_) => {}
                // Deleted from the working tree (or not checked out): nothing to read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => out
                    .unreadable
                    .push((p, format!("cannot read it: {}", io_reason(&e)))),
            },
            Found::Symlink(p) => out.symlinks.push(p),
            Found::Ignored(p) => out.ignored.push(p),
            Found::Unreadable(p, why) => out.unreadable.push((p, why)),
        }
    }
    out.finish();
    out
}

/// Whether `dir` has a `.git` that git would use (a `gitdir:` file, or a directory with
/// `HEAD`); an empty `.git` directory is not a repository to git either.
pub fn is_git_work_tree(dir: &Path) -> bool {
    let dot = dir.join(".git");
    match std::fs::symlink_metadata(&dot) {
        Ok(m) if m.is_file() => true,
        Ok(m) if m.is_dir() => dot.join("HEAD").exists(),
        _ => false,
    }
}

#[cfg(unix)]
pub(super) fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
pub(super) fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

/// Variables git sets for hooks that point at one repository; a repository inside the walk
/// must not inherit them.
const REPO_ENV: [&str; 7] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
];

pub(super) fn git_command(dir: &Path, nested: bool) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir);
    if nested {
        for v in REPO_ENV {
            c.env_remove(v);
        }
    }
    c
}

pub(super) fn git_missing(dir: &Path, e: &std::io::Error) -> String {
    format!(
        "{} is inside a git work tree, but git cannot be run ({}): seal asks git which files the repository holds and does not guess; install git (or run seal where git is on PATH)",
        dir.display(),
        io_reason(e)
    )
}

/// Why git failed (running `args`), in one line, from what it wrote to standard error.
pub(super) fn failure_reason(args: &[&str], stderr: &[u8]) -> String {
    let err = String::from_utf8_lossy(stderr);
    let mut why = format!(
        "git {} failed: {}",
        args.first().copied().unwrap_or(""),
        err.lines().next().unwrap_or("").trim()
    );
    // A repository owned by another user: git prints the command that trusts it.
    if let Some(fix) = err
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("git config") && l.contains("safe.directory"))
    {
        why.push_str(&format!(" (if you trust it: {fix})"));
    }
    why
}

/// Run git in `dir`; its stdout, or a one-line reason.
fn git_run(dir: &Path, args: &[&str], nested: bool) -> Result<Vec<u8>, String> {
    let out = git_command(dir, nested)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| git_missing(dir, &e))?;
    if !out.status.success() {
        return Err(failure_reason(args, &out.stderr));
    }
    Ok(out.stdout)
}

// ---------------------------------------------------------------------- staged

/// One staged file: its path (the repository joined with its name) and its staged bytes
/// (`None` when larger than the limit given to [`staged`]).
#[derive(Debug)]
pub struct StagedFile {
    /// The repository joined with the file's name.
    pub path: PathBuf,
    /// The staged contents, or `None` when larger than the limit.
    pub blob: Option<Vec<u8>>,
}

/// What `git diff --cached` says will be committed.
#[derive(Debug, Default)]
pub struct Staged {
    /// Added, modified or type-changed regular files with their staged bytes, sorted.
    pub files: Vec<StagedFile>,
    /// Paths skipped by `.sealignore`, sorted.
    pub ignored: Vec<PathBuf>,
    /// Staged symbolic links (not followed).
    pub symlinks: Vec<PathBuf>,
    /// Things not checked that the user should know about (staged submodules).
    pub notes: Vec<String>,
    /// Staged paths that cannot be checked (unmerged), with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// The staged changes of the repository at `repo`: every path `git diff --cached` names
/// that is not deleted, by its staged mode (a type change counts like any change), each
/// regular file read by object id (so no name is parsed as a revision). Deleted paths are
/// not checked; a staged submodule is a note.
pub fn staged(repo: &Path, ignore: &SealIgnore, limit: u64) -> Result<Staged, String> {
    let raw = git_run(
        repo,
        &[
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
            "--no-color",
            "--no-ext-diff",
            "--ignore-submodules=none",
        ],
        false,
    )?;
    let mut out = Staged::default();
    let mut wanted: Vec<(PathBuf, String)> = Vec::new();
    let mut tokens = raw.split(|b| *b == 0).filter(|t| !t.is_empty());
    while let Some(head) = tokens.next() {
        let head = String::from_utf8_lossy(head);
        let Some(name) = tokens.next() else {
            return Err(format!("unexpected git diff output: {head:?}"));
        };
        let path = repo.join(bytes_path(name));
        let fields: Vec<&str> = head.trim_start_matches(':').split_whitespace().collect();
        let [_, new_mode, _, new_id, status] = fields[..] else {
            return Err(format!("unexpected git diff output: {head:?}"));
        };
        let shown = String::from_utf8_lossy(name);
        match status.chars().next() {
            Some('D') => continue,
            Some('U') => {
                out.unreadable.push((
                    path,
                    "unmerged: resolve the conflict and stage the result".to_string(),
                ));
                continue;
            }
            _ => {}
        }
        if ignore.is_ignored_with_parents(&path, new_mode == "160000") {
            out.ignored.push(path);
            continue;
        }
        match new_mode {
            "120000" => out.symlinks.push(path),
            "160000" => out.notes.push(format!(
                "{shown}: a staged submodule, not checked (its files belong to another repository: run seal check in it)"
            )),
            m if m.starts_with("100") => wanted.push((path, new_id.to_string())),
            other => out.notes.push(format!(
                "{shown}: staged with mode {other}, not a file: not checked"
            )),
        }
    }
    let ids: Vec<&str> = wanted.iter().map(|(_, id)| id.as_str()).collect();
    let blobs = cat_blobs(repo, &ids, limit)?;
    for ((path, _), blob) in wanted.into_iter().zip(blobs) {
        out.files.push(StagedFile { path, blob });
    }
    out.files.sort_by(|a, b| a.path.cmp(&b.path));
    out.ignored.sort();
    out.symlinks.sort();
    Ok(out)
}

/// The contents of each blob in `ids`, in order, from one `git cat-file --batch`; `None`
/// for a blob larger than `limit` (read past, not kept).
fn cat_blobs(repo: &Path, ids: &[&str], limit: u64) -> Result<Vec<Option<Vec<u8>>>, String> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = git_command(repo, false)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_missing(repo, &e))?;
    let mut stdin = child.stdin.take().ok_or("cannot write to git cat-file")?;
    let input: String = ids.iter().map(|id| format!("{id}\n")).collect();
    // Written from another thread: git answers while it reads, and a full pipe either way
    // would stop both.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let stdout = child.stdout.take().ok_or("cannot read git cat-file")?;
    let mut r = BufReader::new(stdout);
    let mut blobs = Vec::with_capacity(ids.len());
    let fail = |what: String| format!("git cat-file --batch: {what}");
    for id in ids {
        let mut header = Vec::new();
        r.read_until(b'\n', &mut header)
            .map_err(|e| fail(io_reason(&e)))?;
        let header = String::from_utf8_lossy(&header);
        let mut f = header.split_whitespace();
        let (Some(_), Some(kind), Some(size)) = (f.next(), f.next(), f.next()) else {
            let _ = child.kill();
            return Err(fail(format!("object {id}: {}", header.trim())));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| fail(format!("object {id}: bad size {size:?}")))?;
        if kind != "blob" {
            let _ = child.kill();
            return Err(fail(format!("object {id} is a {kind}, not a blob")));
        }
        if size > limit {
            std::io::copy(&mut (&mut r).take(size), &mut std::io::sink())
                .map_err(|e| fail(io_reason(&e)))?;
            blobs.push(None);
        } else {
            let mut b = vec![0; usize::try_from(size).unwrap_or(0)];
            r.read_exact(&mut b).map_err(|e| fail(io_reason(&e)))?;
            blobs.push(Some(b));
        }
        let mut nl = [0u8; 1];
        r.read_exact(&mut nl).map_err(|e| fail(io_reason(&e)))?;
    }
    let _ = writer.join();
    let status = child.wait().map_err(|e| fail(io_reason(&e)))?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        return Err(fail(err.lines().next().unwrap_or("failed").to_string()));
    }
    Ok(blobs)
}

// ---------------------------------------------------------------------- .sealignore

/// The `.sealignore` of a root directory (gitignore syntax), shared by every repo-wide
/// command.
#[derive(Clone, Debug)]
pub struct SealIgnore {
    root: PathBuf,
    gi: Option<Gitignore>,
}

impl SealIgnore {
    /// Load `root/.sealignore` (none: nothing is ignored).
    pub fn load(root: &Path) -> SealIgnore {
        let path = root.join(IGNORE_FILE);
        let gi = path.is_file().then(|| {
            let mut b = GitignoreBuilder::new(root);
            b.add(&path);
            b.build().ok()
        });
        SealIgnore {
            root: root.to_path_buf(),
            gi: gi.flatten(),
        }
    }

    /// Whether `path` itself matches (its parents are not looked at).
    pub fn is_ignored(&self, path: &Path, dir: bool) -> bool {
        self.rel(path)
            .is_some_and(|(gi, rel)| gi.matched(rel, dir).is_ignore())
    }

    /// Whether `path` or a directory above it (below the root) matches.
    pub fn is_ignored_with_parents(&self, path: &Path, dir: bool) -> bool {
        self.rel(path)
            .is_some_and(|(gi, rel)| gi.matched_path_or_any_parents(rel, dir).is_ignore())
    }

    /// The first path from `dir` down to `dir/rel` that matches (a directory is matched as
    /// one; results for directories are kept in `cache`).
    pub(super) fn first_ignored_below(
        &self,
        dir: &Path,
        rel: &Path,
        cache: &mut HashMap<PathBuf, bool>,
    ) -> Option<PathBuf> {
        self.gi.as_ref()?;
        let mut p = dir.to_path_buf();
        let mut parts = rel.components().peekable();
        while let Some(c) = parts.next() {
            p.push(c);
            if parts.peek().is_none() {
                return self.is_ignored(&p, false).then_some(p);
            }
            let hit = match cache.get(&p) {
                Some(h) => *h,
                None => {
                    let h = self.is_ignored(&p, true);
                    cache.insert(p.clone(), h);
                    h
                }
            };
            if hit {
                return Some(p);
            }
        }
        None
    }

    fn rel<'p>(&self, path: &'p Path) -> Option<(&Gitignore, &'p Path)> {
        let gi = self.gi.as_ref()?;
        let rel = path.strip_prefix(&self.root).ok()?;
        (!rel.as_os_str().is_empty()).then_some((gi, rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, rel: &str) -> PathBuf {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, "a: b\n").unwrap();
        p
    }

    #[test]
    fn outside_git_every_file_is_walked_and_sealignore_prunes() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        // Without a repository neither .gitignore nor .ignore means anything.
        fs::write(d.join(".gitignore"), "a/\n").unwrap();
        fs::write(d.join(".ignore"), "*\n").unwrap();
        fs::write(d.join(IGNORE_FILE), "fixtures/\n*.skip\n").unwrap();
        // An empty .git is not a repository (as git sees it) and is not entered.
        fs::create_dir(d.join(".git")).unwrap();
        let a = write(d, "a/x.yaml");
        let h = write(d, ".hidden/y.yaml");
        write(d, "fixtures/deep/z.yaml");
        write(d, "b/c.skip");
        write(d, ".git/config.yaml");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&a, d.join("link.yaml")).unwrap();
        let f = walk(d, &SealIgnore::load(d));
        let names: Vec<PathBuf> = ["a/x.yaml", ".gitignore", ".ignore", IGNORE_FILE]
            .iter()
            .map(|n| d.join(n))
            .chain([h])
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(f.files, names);
        assert_eq!(f.ignored, [d.join("b/c.skip"), d.join("fixtures")]);
        #[cfg(unix)]
        assert_eq!(f.symlinks, [d.join("link.yaml")]);
        assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
    }

    #[test]
    fn overlapping_named_paths_list_each_file_once() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let a = write(d, "a/x.yaml");
        let b = write(d, "b.yaml");
        let named = [d.to_path_buf(), d.join("a"), a.clone(), d.join("./b.yaml")];
        let ignore = SealIgnore::load(d);
        let mut found: Vec<Found> = Walk::new(&named, &ignore).collect();
        found.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
        assert_eq!(found, [Found::File(a), Found::File(b)]);
    }

    #[test]
    fn a_named_path_below_an_ignored_directory_is_ignored() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::write(d.join(IGNORE_FILE), "fixtures/\n").unwrap();
        let x = write(d, "fixtures/sub/x.yaml");
        let f = walk_all(&[x.clone(), d.join("fixtures/sub")], &SealIgnore::load(d));
        assert!(f.files.is_empty());
        assert_eq!(f.ignored, [d.join("fixtures/sub"), x]);
        let missing = walk(&d.join("nope"), &SealIgnore::load(d));
        assert_eq!(missing.unreadable.len(), 1);
    }
}
