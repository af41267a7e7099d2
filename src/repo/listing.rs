//! The walk of [`super::files`] as a stream: [`Walk`] yields what it finds one path at a
//! time, as git lists it (read from git's output while git writes it) and as directories
//! are read, so that a walk of any size holds no list of its files. The rules (what is
//! walked, what `.sealignore` skips, links, repositories inside) are the module's; this
//! file owns their order of events.
//!
//! A name git lists is yielded as [`Found::Listed`] without looking at it: whoever reads
//! the file learns what it is when it opens it ([`super::open_found`]: a symbolic link is
//! not followed, a file gone from the working tree is nothing to read), so the walk does
//! no system call per file and readers on many threads do that work. A directory there
//! (a submodule) is given back with [`Walk::enter`] and walked with its own index.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};

use rustc_hash::FxHashSet;

use super::files::{
    SealIgnore, bytes_path, failure_reason, git_command, git_missing, is_git_work_tree,
};
use crate::error::io_reason;

/// One thing a walk found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A file the caller named (a link to it is followed).
    Named(PathBuf),
    /// A regular file found in a directory (outside git). Read it without following a link:
    /// it may have changed since.
    File(PathBuf),
    /// A path git lists (tracked, or untracked and not ignored), of a type not looked at:
    /// a regular file is read, a symbolic link is not followed, a directory is a repository
    /// inside the walk (give it to [`Walk::enter`]), a path gone from the working tree is
    /// nothing to read.
    Listed(PathBuf),
    /// A symbolic link found by the walk (not followed).
    Symlink(PathBuf),
    /// A path `.sealignore` skips (a directory once).
    Ignored(PathBuf),
    /// A path that could not be read or listed, and why. It might hide anything.
    Unreadable(PathBuf, String),
}

impl Found {
    fn path(&self) -> &Path {
        match self {
            Found::Named(p)
            | Found::File(p)
            | Found::Listed(p)
            | Found::Symlink(p)
            | Found::Ignored(p)
            | Found::Unreadable(p, _) => p,
        }
    }
}

/// The walk of some paths, an iterator of [`Found`]. Paths are each walked path joined
/// with the file's path below it.
pub struct Walk<'i> {
    ignore: &'i SealIgnore,
    /// The named paths not started yet, the next last.
    named: Vec<PathBuf>,
    /// Directories given back by readers ([`Walk::enter`]).
    entered: Vec<PathBuf>,
    /// What is being listed; the last is read first (a directory inside one is walked
    /// before the rest of it).
    open: Vec<Source>,
    /// With several named paths (which may overlap), the paths yielded so far: each is
    /// yielded once.
    seen: Option<FxHashSet<PathBuf>>,
}

enum Source {
    Git(GitList),
    Dir {
        /// The directory with links resolved (read).
        real: PathBuf,
        /// The directory as its files are shown.
        shown: PathBuf,
        entries: std::fs::ReadDir,
    },
}

impl<'i> Walk<'i> {
    /// Walk each of `paths` (absolute; directories or files, a link to either followed).
    pub fn new(paths: &[PathBuf], ignore: &'i SealIgnore) -> Walk<'i> {
        Walk {
            ignore,
            named: paths.iter().rev().cloned().collect(),
            entered: Vec::new(),
            open: Vec::new(),
            seen: (paths.len() > 1).then(FxHashSet::default),
        }
    }

    /// Walk `dir`, a directory where git listed a path ([`Found::Listed`]): a submodule
    /// or a repository inside, walked with its own index (an uninitialised submodule is
    /// an empty directory, a directory that is no repository holds nothing git lists).
    pub fn enter(&mut self, dir: PathBuf) {
        self.entered.push(dir);
    }

    /// The next thing found (`Some(None)`: nothing yet), `None` when the walk is done.
    fn step(&mut self) -> Option<Option<Found>> {
        let Some(top) = self.open.last_mut() else {
            if let Some(dir) = self.entered.pop() {
                return Some(self.start_entered(dir));
            }
            let named = self.named.pop()?;
            return Some(self.start_named(named));
        };
        let next = match top {
            Source::Git(g) => match g.next_name() {
                Ok(true) => git_name(self.ignore, g),
                Ok(false) => {
                    self.open.pop();
                    Next::Nothing
                }
                Err(why) => {
                    let dir = std::mem::take(&mut g.dir);
                    self.open.pop();
                    Next::Found(Found::Unreadable(dir, why))
                }
            },
            Source::Dir {
                real,
                shown,
                entries,
            } => match entries.next() {
                None => {
                    self.open.pop();
                    Next::Nothing
                }
                Some(Err(e)) => Next::Found(Found::Unreadable(
                    shown.clone(),
                    format!("cannot read it: {}", io_reason(&e)),
                )),
                Some(Ok(ent)) => dir_entry(self.ignore, real, shown, &ent),
            },
        };
        Some(match next {
            Next::Found(f) => Some(f),
            Next::Nothing => None,
            Next::Dir { real, shown } => self.start_dir(real, shown),
            Next::Git(dir) => self.start_git(dir, true),
        })
    }

    /// A path the caller named: followed when it is a link, checked against `.sealignore`
    /// with its parents.
    fn start_named(&mut self, path: PathBuf) -> Option<Found> {
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                let why = match std::fs::symlink_metadata(&path) {
                    Ok(_) => format!("a symbolic link that leads nowhere: {}", io_reason(&e)),
                    Err(_) => format!("cannot read it: {}", io_reason(&e)),
                };
                return Some(Found::Unreadable(path, why));
            }
        };
        if self.ignore.is_ignored_with_parents(&path, meta.is_dir()) {
            return Some(Found::Ignored(path));
        }
        if meta.is_file() {
            return Some(Found::Named(path));
        }
        if !meta.is_dir() {
            return Some(Found::Unreadable(
                path,
                "not a regular file or directory".to_string(),
            ));
        }
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if real.ancestors().any(is_git_work_tree) {
            self.start_git(path, false)
        } else {
            self.start_dir(real, path)
        }
    }

    fn start_entered(&mut self, dir: PathBuf) -> Option<Found> {
        if !is_git_work_tree(&dir) {
            return None;
        }
        if self.ignore.is_ignored(&dir, true) {
            return Some(Found::Ignored(dir));
        }
        self.start_git(dir, true)
    }

    /// List the repository at `dir`: the index and the untracked files by two gits at
    /// once, the index's list read first. (One `ls-files --cached --others` prints
    /// nothing before its walk of the whole tree for untracked files: 0.2 s at 100,000
    /// tracked files, when the index alone lists its first name in a few ms.) The two
    /// lists do not overlap.
    fn start_git(&mut self, dir: PathBuf, nested: bool) -> Option<Found> {
        let mut failed = None;
        for args in [&LS_OTHERS[..], &LS_CACHED[..]] {
            match GitList::start(dir.clone(), nested, args) {
                Ok(g) => self.open.push(Source::Git(g)),
                // Both fail alike when git cannot be run: the reason once.
                Err(why) => failed = Some(Found::Unreadable(dir.clone(), why)),
            }
        }
        failed
    }

    fn start_dir(&mut self, real: PathBuf, shown: PathBuf) -> Option<Found> {
        match std::fs::read_dir(&real) {
            Ok(entries) => {
                self.open.push(Source::Dir {
                    real,
                    shown,
                    entries,
                });
                None
            }
            Err(e) => Some(Found::Unreadable(
                shown,
                format!("cannot read it: {}", io_reason(&e)),
            )),
        }
    }

    /// Whether `f` is yielded: with several named paths, each path once.
    fn fresh(&mut self, f: &Found) -> bool {
        match &mut self.seen {
            None => true,
            Some(seen) => match f {
                // Reasons are kept, even for a path seen before (the caller dedups them).
                Found::Unreadable(..) => true,
                _ => seen.insert(f.path().to_path_buf()),
            },
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        loop {
            if let Some(f) = self.step()?
                && self.fresh(&f)
            {
                return Some(f);
            }
        }
    }
}

/// What to do after one entry of a listing.
enum Next {
    Found(Found),
    Nothing,
    /// Walk this directory outside git (`real`: with links resolved).
    Dir {
        real: PathBuf,
        shown: PathBuf,
    },
    /// Walk this repository inside the walk with its own index.
    Git(PathBuf),
}

/// One entry of a directory outside git: `.git` not entered, links not followed,
/// `.sealignore`d paths pruned, repositories inside walked with git.
fn dir_entry(ignore: &SealIgnore, real: &Path, dir: &Path, ent: &std::fs::DirEntry) -> Next {
    let name = ent.file_name();
    if name == ".git" {
        return Next::Nothing;
    }
    let shown = dir.join(&name);
    let t = match ent.file_type() {
        Ok(t) => t,
        Err(e) => {
            return Next::Found(Found::Unreadable(
                shown,
                format!("cannot read it: {}", io_reason(&e)),
            ));
        }
    };
    if ignore.is_ignored(&shown, t.is_dir()) {
        Next::Found(Found::Ignored(shown))
    } else if t.is_symlink() {
        Next::Found(Found::Symlink(shown))
    } else if t.is_dir() {
        let real = real.join(&name);
        if is_git_work_tree(&real) {
            Next::Git(shown)
        } else {
            Next::Dir { real, shown }
        }
    } else if t.is_file() {
        Next::Found(Found::File(shown))
    } else {
        Next::Nothing
    }
}

/// The name `git ls-files` printed last in `g`.
fn git_name(ignore: &SealIgnore, g: &mut GitList) -> Next {
    let name = &g.name[..];
    // `ls-files --others` lists a repository inside the tree as `path/`.
    let repo_inside = name.ends_with(b"/");
    let rel = bytes_path(name.strip_suffix(b"/").unwrap_or(name));
    if let Some(skipped) = ignore.first_ignored_below(&g.dir, &rel, &mut g.ignored_dirs) {
        return Next::Found(Found::Ignored(skipped));
    }
    let path = g.dir.join(&rel);
    if !repo_inside {
        return Next::Found(Found::Listed(path));
    }
    // A directory git does not walk: walked here with its own index, or as files.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => Next::Found(Found::Symlink(path)),
        Ok(m) if m.is_file() => Next::Found(Found::Listed(path)),
        Ok(m) if m.is_dir() => {
            if !is_git_work_tree(&path) {
                Next::Dir {
                    real: path.clone(),
                    shown: path,
                }
            } else if ignore.is_ignored(&path, true) {
                Next::Found(Found::Ignored(path))
            } else {
                Next::Git(path)
            }
        }
        Ok(_) => Next::Nothing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Next::Nothing,
        Err(e) => Next::Found(Found::Unreadable(
            path,
            format!("cannot read it: {}", io_reason(&e)),
        )),
    }
}

/// A running `git ls-files`, read as it writes.
struct GitList {
    dir: PathBuf,
    args: &'static [&'static str],
    child: Option<Child>,
    out: BufReader<ChildStdout>,
    /// What git writes to standard error, read by a thread so that it never blocks git.
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
    name: Vec<u8>,
    last: Vec<u8>,
    /// `.sealignore` results for the directories seen, by path.
    ignored_dirs: HashMap<PathBuf, bool>,
}

/// The listings of a repository: every file in the index, and the untracked files git
/// does not ignore.
const LS_CACHED: [&str; 3] = ["ls-files", "-z", "--cached"];
const LS_OTHERS: [&str; 4] = ["ls-files", "-z", "--others", "--exclude-standard"];

/// Kept of git's standard error (the reason shows its first line).
const ERR_KEPT: u64 = 64 << 10;

impl GitList {
    fn start(dir: PathBuf, nested: bool, args: &'static [&'static str]) -> Result<GitList, String> {
        let mut child = match git_command(&dir, nested)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return Err(git_missing(&dir, &e)),
        };
        let (Some(out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot read the output of git ls-files".to_string());
        };
        let err = std::thread::Builder::new()
            .name("git-stderr".into())
            .spawn(move || {
                let mut kept = Vec::new();
                let _ = (&mut err).take(ERR_KEPT).read_to_end(&mut kept);
                let _ = std::io::copy(&mut err, &mut std::io::sink());
                kept
            });
        let err = match err {
            Ok(h) => h,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cannot run git ls-files: {}", io_reason(&e)));
            }
        };
        Ok(GitList {
            dir,
            args,
            child: Some(child),
            out: BufReader::with_capacity(64 << 10, out),
            err: Some(err),
            name: Vec::new(),
            last: Vec::new(),
            ignored_dirs: HashMap::new(),
        })
    }

    /// Read the next name git printed into `name` (each once: unmerged paths are listed
    /// once per stage, next to each other): `false` at the end of a listing that
    /// succeeded, or why it failed.
    fn next_name(&mut self) -> Result<bool, String> {
        loop {
            std::mem::swap(&mut self.name, &mut self.last);
            self.name.clear();
            let n = match self.out.read_until(0, &mut self.name) {
                Ok(n) => n,
                Err(e) => {
                    let why = format!("cannot read the output of git ls-files: {}", io_reason(&e));
                    let _ = self.finish();
                    return Err(why);
                }
            };
            if n == 0 {
                return self.finish().map(|()| false);
            }
            if self.name.last() == Some(&0) {
                self.name.pop();
            }
            if !self.name.is_empty() && self.name != self.last {
                return Ok(true);
            }
        }
    }

    /// Wait for git: `Ok` when it succeeded.
    fn finish(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = child.wait();
        let err = self
            .err
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(_) => Err(failure_reason(self.args, &err)),
            Err(e) => Err(format!("git ls-files: {}", io_reason(&e))),
        }
    }
}

impl Drop for GitList {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
        }
        let _ = self.finish();
    }
}
