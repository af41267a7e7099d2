//! Repository-wide operations: finding every sops file under a directory (the files
//! [`files`] says the repository holds, each given a cheap "is this an encrypted sops file"
//! check per format), and applying one change to many files safely: every file's new bytes
//! are computed first (in parallel); if any file fails nothing is written (unless
//! `keep_going`); then each file is replaced atomically.

pub mod files;
mod listing;

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::json;

use crate::error::{CliError, exit, io_reason};
use crate::fsio::{self, Sensitivity};
use crate::metadata::counts_as_encrypted;
use crate::stores::Format;

/// Files larger than this are not examined by the walk (no sops file is that large).
pub const MAX_SCAN_BYTES: u64 = 64 << 20;

/// What a walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Encrypted sops files, sorted by path.
    pub files: Vec<PathBuf>,
    /// Files or directories that could not be read (path, reason). A file hidden here
    /// might be a sops file, so callers treat these as failures.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Files not examined because they are larger than [`MAX_SCAN_BYTES`].
    pub too_large: Vec<PathBuf>,
    /// Paths skipped by `.sealignore` (a directory once), sorted.
    pub ignored: Vec<PathBuf>,
    /// Symbolic links found by the walk, not followed, sorted.
    pub symlinks: Vec<PathBuf>,
    /// Files that hold a Bitnami `SealedSecret` (not sops files), sorted.
    pub sealed: Vec<PathBuf>,
}

/// Every encrypted sops file (in the format its name implies) among the files below `root`
/// that the repository holds ([`files::walk`]; `.sealignore` from the repository root, or
/// from `root` outside git). Candidates are checked in parallel.
pub fn find_sops_files(root: &Path) -> Scan {
    let ignore_root = repo_root(root).unwrap_or_else(|| root.to_path_buf());
    let walked = files::walk(root, &files::SealIgnore::load(&ignore_root));
    let mut scan = Scan {
        unreadable: walked.unreadable,
        ignored: walked.ignored,
        symlinks: walked.symlinks,
        ..Scan::default()
    };
    let candidates = walked.files;
    enum Verdict {
        Sops,
        Sealed,
        Not,
        TooLarge,
        Unreadable(String),
    }
    let verdicts: Vec<Verdict> = candidates
        .par_iter()
        .map(|p| match read_capped(p) {
            Ok(Some(bytes)) => {
                if sops_format(p, &bytes).is_some() {
                    Verdict::Sops
                } else if crate::sealed::mentions_sealed_secret(&bytes) {
                    Verdict::Sealed
                } else {
                    Verdict::Not
                }
            }
            Ok(None) => Verdict::TooLarge,
            Err(e) => Verdict::Unreadable(format!("cannot read the file: {}", io_reason(&e))),
        })
        .collect();
    for (p, v) in candidates.into_iter().zip(verdicts) {
        match v {
            Verdict::Sops => scan.files.push(p),
            Verdict::Sealed => scan.sealed.push(p),
            Verdict::Not => {}
            Verdict::TooLarge => scan.too_large.push(p),
            Verdict::Unreadable(why) => scan.unreadable.push((p, why)),
        }
    }
    scan.files.sort();
    scan.sealed.sort();
    scan.unreadable.sort();
    scan.too_large.sort();
    scan
}

fn read_capped(p: &Path) -> std::io::Result<Option<Vec<u8>>> {
    read_at_most(p, MAX_SCAN_BYTES)
}

/// The bytes of `p`, or `None` when it is larger than `limit` (checked before reading and
/// again while reading, in case the file grows).
pub fn read_at_most(p: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let f = std::fs::File::open(p)?;
    let len = f.metadata()?.len();
    read_open(&f, len, limit)
}

/// The rest of `f` (`len` bytes long when it was opened), or `None` when it is larger than
/// `limit`.
fn read_open(f: &std::fs::File, len: u64, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    if len > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// The `len` bytes of `f` (the length it had when it was opened), in one `read` when it
/// has not changed since: bytes written after the open are not read (as when they are
/// written after the read). A file that says it is empty (pseudo-files do) is read to
/// its end.
fn read_known(f: &std::fs::File, len: u64, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    if len == 0 || len > limit {
        return read_open(f, len, limit);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(len).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// What a path a walk found ([`files::Found`]) turned out to be when it was opened.
#[derive(Debug)]
pub enum Opened {
    /// A regular file's bytes (`None`: larger than the limit).
    File(Option<Vec<u8>>),
    /// A symbolic link (not followed).
    Symlink,
    /// A directory (where git lists a path: a submodule, see [`files::Walk::enter`]).
    Dir,
    /// Nothing to read: gone from the working tree, or neither a file, a directory nor a
    /// link.
    Nothing,
}

/// Open `p`, a path the walk found, without following a link, and read it when it is a
/// regular file of at most `limit` bytes: one `open`, `fstat` and read per file, the type
/// learnt from the open file (so a path that changes between the walk and the read is
/// read as what it is). An error is a file (or directory) that cannot be read.
pub fn open_found(p: &Path, limit: u64) -> std::io::Result<Opened> {
    let f = match open_no_follow(p) {
        Ok(f) => f,
        Err(e) => {
            // Why: a link (O_NOFOLLOW refuses it), gone, or a file that cannot be read.
            return match std::fs::symlink_metadata(p) {
                Ok(m) if m.file_type().is_symlink() => Ok(Opened::Symlink),
                Ok(m) if m.is_dir() => Ok(Opened::Dir),
                Ok(m) if m.is_file() => Err(e),
                Ok(_) => Ok(Opened::Nothing),
                Err(e2) if e2.kind() == std::io::ErrorKind::NotFound => Ok(Opened::Nothing),
                Err(_) => Err(e),
            };
        }
    };
    let meta = f.metadata()?;
    let t = meta.file_type();
    if t.is_dir() {
        Ok(Opened::Dir)
    } else if t.is_file() {
        read_known(&f, meta.len(), limit).map(Opened::File)
    } else {
        Ok(Opened::Nothing)
    }
}

/// Open for reading, refusing a link in the last component; not waiting on a FIFO and not
/// taking a terminal (the type is checked on the open file).
#[cfg(unix)]
fn open_no_follow(p: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(p)
}

/// Without `O_NOFOLLOW`: a link is found by looking first.
#[cfg(not(unix))]
fn open_no_follow(p: &Path) -> std::io::Result<std::fs::File> {
    if std::fs::symlink_metadata(p)?.file_type().is_symlink() {
        return Err(std::io::Error::other("a symbolic link"));
    }
    std::fs::File::open(p)
}

/// The format of `bytes` (named `path`) when they are an encrypted sops file: the format
/// the name implies parses, and its metadata has a `mac` and a `version` (what `filestatus`
/// calls encrypted). A substring test rejects most files before any parsing.
pub fn sops_format(path: &Path, bytes: &[u8]) -> Option<Format> {
    if !contains(bytes, b"sops") || !contains(bytes, b"mac") {
        return None;
    }
    let format = Format::from_path(path);
    let parsed = format.store().load_encrypted(bytes).ok()?;
    parsed
        .metadata
        .as_ref()
        .is_some_and(counts_as_encrypted)
        .then_some(format)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The nearest directory at or above `dir` that holds `.git` (a repository root).
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

// ---------------------------------------------------------------------------------------
// Applying a change to many files.

/// Threads writing files at once (each write ends with fsync calls that wait on the disk).
const WRITE_THREADS: usize = 16;

/// How the per-file report is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Lines on standard error.
    #[default]
    Text,
    /// One JSON object on standard output (for CI).
    Json,
}

/// What the operation computed for one file, before anything is written.
#[derive(Debug, Default)]
pub struct Planned {
    /// The file's new bytes; `None` when the file is already as wanted.
    pub new_bytes: Option<Vec<u8>>,
    /// Recipients added (`age1…`).
    pub added: Vec<String>,
    /// Recipients removed.
    pub removed: Vec<String>,
    /// Whether the data key is renewed.
    pub rotated: bool,
    /// A human description of the change (printed before writing; may be empty).
    pub diff: String,
}

/// Options of a batch run.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchOptions {
    /// Compute and report, write nothing.
    pub dry_run: bool,
    /// Write the files that succeeded even when others failed.
    pub keep_going: bool,
    /// The report format.
    pub format: ReportFormat,
    /// Report as for many files (a line per file and a summary) even for one file.
    pub verbose: bool,
    /// For a single file, print nothing when it was changed (as `sops rotate -i`).
    pub quiet_success: bool,
    /// Print each file's [`Planned::diff`] before writing (and before `confirm`).
    pub show_diffs: bool,
}

/// What became of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Written with its new content.
    Changed,
    /// Already as wanted: not written.
    Unchanged,
    /// Would be changed (dry run).
    WouldChange,
    /// Had a change, but was not written because another file failed (or the change was
    /// declined).
    NotWritten,
    /// The operation failed for this file; it was not written.
    Failed,
}

impl Status {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Changed => "changed",
            Status::Unchanged => "unchanged",
            Status::WouldChange => "would_change",
            Status::NotWritten => "not_written",
            Status::Failed => "failed",
        }
    }
}

/// One file's line in the report.
#[derive(Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// What became of it.
    pub status: Status,
    /// Recipients added (or that would be).
    pub added: Vec<String>,
    /// Recipients removed (or that would be).
    pub removed: Vec<String>,
    /// Whether the data key was (or would be) renewed.
    pub rotated: bool,
    /// The error, for failed files.
    pub error: Option<CliError>,
}

/// The outcome of a batch.
#[derive(Debug)]
pub struct BatchReport {
    /// One entry per file, in the order given.
    pub files: Vec<FileReport>,
    /// Whether it was a dry run.
    pub dry_run: bool,
}

impl BatchReport {
    /// How many files have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.files.iter().filter(|f| f.status == status).count()
    }

    /// Whether any file failed.
    pub fn any_failed(&self) -> bool {
        self.count(Status::Failed) > 0
    }

    /// Files whose recipients lose someone while the data key stays the same.
    pub fn removed_without_rotation(&self) -> usize {
        self.files
            .iter()
            .filter(|f| !f.removed.is_empty() && !f.rotated && f.status != Status::Failed)
            .count()
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path.display().to_string(),
                    "status": f.status.name(),
                    "added": f.added,
                    "removed": f.removed,
                    "rotated": f.rotated,
                    "error": f.error.as_ref().map(error_text),
                })
            })
            .collect();
        json!({
            "dry_run": self.dry_run,
            "files": files,
            "summary": {
                "changed": self.count(Status::Changed),
                "would_change": self.count(Status::WouldChange),
                "unchanged": self.count(Status::Unchanged),
                "not_written": self.count(Status::NotWritten),
                "failed": self.count(Status::Failed),
            },
            "rotation_recommended": self.removed_without_rotation() > 0,
        })
    }

    /// The one-line summary.
    pub fn summary_line(&self) -> String {
        let mut parts = Vec::new();
        if self.dry_run {
            parts.push(format!("{} would change", self.count(Status::WouldChange)));
        } else {
            parts.push(format!("{} changed", self.count(Status::Changed)));
        }
        parts.push(format!("{} unchanged", self.count(Status::Unchanged)));
        let nw = self.count(Status::NotWritten);
        if nw > 0 {
            parts.push(format!("{nw} not written"));
        }
        parts.push(format!("{} failed", self.count(Status::Failed)));
        let mut s = format!("{} files: {}", self.files.len(), parts.join(", "));
        if self.dry_run {
            s.push_str(" (dry run: nothing was written)");
        }
        s
    }
}

fn error_text(e: &CliError) -> String {
    let mut s = e.message.clone();
    for h in &e.hints {
        s.push_str("\nhint: ");
        s.push_str(h);
    }
    s
}

/// Run `plan` on every file in parallel, then write the results (all-or-nothing unless
/// `keep_going`; nothing with `dry_run`). `confirm` is called with the planned changes
/// before anything is written, and may decline (then nothing is written). The report is
/// printed (text on stderr, or JSON on stdout); the result is an error when a file failed.
pub fn apply<P, C>(
    files: &[PathBuf],
    opts: BatchOptions,
    plan: P,
    confirm: C,
) -> Result<BatchReport, CliError>
where
    P: Fn(&Path) -> Result<Planned, CliError> + Sync,
    C: FnOnce(&[(&Path, &Planned)]) -> Result<bool, CliError>,
{
    let single = files.len() == 1 && !opts.verbose;
    // The first file alone, then the rest in parallel: an identity that needs a passphrase
    // is unlocked (and cached by the key layer) once, not prompted for by every thread.
    // A bar on stderr when it is a terminal and planning takes over a second; cleared
    // before anything else is printed (diffs, the confirmation prompt, the report).
    let progress = if single {
        crate::ui::Progress::hidden()
    } else {
        crate::ui::Progress::new(files.len(), "seal")
    };
    let mut planned: Vec<Result<Planned, CliError>> = Vec::with_capacity(files.len());
    if let Some((first, rest)) = files.split_first() {
        planned.push(plan(first));
        progress.inc();
        planned.par_extend(rest.par_iter().map(|f| {
            let r = plan(f);
            progress.inc();
            r
        }));
    }
    progress.finish();
    let failed = planned.iter().any(|r| r.is_err());
    let text = opts.format == ReportFormat::Text;

    let changes: Vec<(&Path, &Planned)> = files
        .iter()
        .zip(&planned)
        .filter_map(|(f, r)| match r {
            Ok(p) if p.new_bytes.is_some() => Some((f.as_path(), p)),
            _ => None,
        })
        .collect();
    let write = !opts.dry_run && (!failed || opts.keep_going) && !changes.is_empty();
    if write && text && opts.show_diffs {
        // Show what will change, in order, before asking.
        for (f, p) in &changes {
            if p.diff.is_empty() {
                continue;
            }
            if single {
                eprint!("{}", p.diff);
            } else {
                eprint!("{}:\n{}", f.display(), p.diff);
            }
        }
    }
    let write = write && confirm(&changes)?;

    let write_all = || -> Vec<Option<Result<(), CliError>>> {
        files
            .par_iter()
            .zip(&planned)
            .map(|(f, r)| match r {
                Ok(Planned {
                    new_bytes: Some(b), ..
                }) if write => Some(
                    fsio::write_atomic(f, b, Sensitivity::Public)
                        .map_err(|e| CliError::write_io(f, e)),
                ),
                _ => None,
            })
            .collect()
    };
    // Writes wait on fsync, not on the CPU: more threads than cores overlap those waits.
    let pool = (write && changes.len() > 1)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(WRITE_THREADS)
                .build()
                .ok()
        })
        .flatten();
    let written = match pool {
        Some(pool) => pool.install(write_all),
        None => write_all(),
    };

    let mut reports = Vec::with_capacity(files.len());
    for ((f, r), w) in files.iter().zip(planned).zip(written) {
        let rep = match r {
            Err(e) => FileReport {
                path: f.clone(),
                status: Status::Failed,
                added: Vec::new(),
                removed: Vec::new(),
                rotated: false,
                error: Some(e.in_file(f)),
            },
            Ok(p) => {
                let (status, error) = match (&p.new_bytes, w) {
                    (None, _) => (Status::Unchanged, None),
                    (Some(_), Some(Ok(()))) => (Status::Changed, None),
                    (Some(_), Some(Err(e))) => (Status::Failed, Some(e)),
                    (Some(_), None) if opts.dry_run => (Status::WouldChange, None),
                    (Some(_), None) => (Status::NotWritten, None),
                };
                FileReport {
                    path: f.clone(),
                    status,
                    added: p.added,
                    removed: p.removed,
                    rotated: p.rotated,
                    error,
                }
            }
        };
        reports.push(rep);
    }
    let report = BatchReport {
        files: reports,
        dry_run: opts.dry_run,
    };
    print_report(&report, opts, single);
    if report.any_failed() {
        return Err(batch_error(report, single, opts.keep_going));
    }
    Ok(report)
}

fn print_report(report: &BatchReport, opts: BatchOptions, single: bool) {
    if opts.format == ReportFormat::Json {
        let mut text = report.to_json().to_string();
        text.push('\n');
        let _ = fsio::write_stdout(text.as_bytes());
        return;
    }
    let mut seen_errors: Vec<(String, &Path)> = Vec::new();
    for f in &report.files {
        if single && f.status == Status::Failed {
            continue; // the error itself is the report
        }
        let what = match f.status {
            Status::Changed if single && !f.rotated => "updated".to_string(),
            Status::Changed => match change_words(f, false) {
                w if w.is_empty() => "updated".to_string(),
                w => format!("updated ({w})"),
            },
            Status::Unchanged => "already up to date".to_string(),
            Status::WouldChange => match change_words(f, true) {
                w if w.is_empty() => "would change".to_string(),
                w => w,
            },
            Status::NotWritten => "not changed".to_string(),
            Status::Failed => match &f.error {
                Some(e) => {
                    let text = error_text(e);
                    match seen_errors.iter().find(|(t, _)| *t == text) {
                        Some((_, first)) => {
                            format!("FAILED: the same error as {}", first.display())
                        }
                        None => {
                            seen_errors.push((text.clone(), &f.path));
                            format!("FAILED: {}", text.replace('\n', "\n    "))
                        }
                    }
                }
                None => "FAILED".to_string(),
            },
        };
        if single && opts.quiet_success && f.status == Status::Changed {
            continue;
        }
        // --quiet: only failures, then the summary line.
        if crate::ui::verbosity() == crate::ui::Verbosity::Quiet && f.status != Status::Failed {
            continue;
        }
        eprintln!("{}: {what}", f.path.display());
    }
    if !single {
        eprintln!("{}", report.summary_line());
    }
    let n = report.removed_without_rotation();
    if n > 0 {
        eprintln!(
            "seal: note: recipients were removed from {n} file(s) but the data key was kept: a removed recipient who ever decrypted these files knows that key and can read every future version of them.\nhint: renew the data key: run seal updatekeys --rotate (or seal rotate -i) on these files"
        );
    }
}

/// What changed in a file: "added X, removed Y, new data key", or for a dry run "would add
/// X, would remove Y, would renew the data key"; empty when there is nothing to say.
fn change_words(f: &FileReport, dry: bool) -> String {
    let (add, rm, key) = if dry {
        ("would add", "would remove", "would renew the data key")
    } else {
        ("added", "removed", "new data key")
    };
    let mut parts: Vec<String> = Vec::new();
    parts.extend(f.added.iter().map(|r| format!("{add} {r}")));
    parts.extend(f.removed.iter().map(|r| format!("{rm} {r}")));
    if f.rotated {
        parts.push(key.to_string());
    }
    parts.join(", ")
}

fn batch_error(mut report: BatchReport, single: bool, keep_going: bool) -> CliError {
    let failed = report.count(Status::Failed);
    let code = report
        .files
        .iter()
        .find_map(|f| f.error.as_ref().map(|e| e.code))
        .unwrap_or(exit::GENERIC);
    if single && let Some(e) = report.files.iter_mut().find_map(|f| f.error.take()) {
        return e;
    }
    let changed = report.count(Status::Changed);
    let msg = if report.dry_run {
        format!(
            "{failed} of {} files failed (listed above); this was a dry run: no file was written",
            report.files.len()
        )
    } else if keep_going && changed > 0 {
        format!(
            "{failed} of {} files failed (listed above); the {changed} other changed files were written (--keep-going)",
            report.files.len()
        )
    } else {
        format!(
            "{failed} of {} files failed (listed above); no file was written",
            report.files.len()
        )
    };
    let mut e = CliError::new(code, msg);
    if !keep_going && !report.dry_run {
        e = e.hint("fix the failing files (or exclude them), or pass --keep-going to write the others anyway");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, text).unwrap();
        p
    }

    const ENC_YAML: &str = "a: ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops:\n    age:\n        - recipient: age1x\n          enc: |\n            x\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    version: 3.11.0\n";

    #[test]
    fn sops_format_recognises_encrypted_files_only() {
        assert_eq!(
            sops_format(Path::new("x.yaml"), ENC_YAML.as_bytes()),
            Some(Format::Yaml)
        );
        // The same text with another extension is not a binary-store envelope.
        assert_eq!(sops_format(Path::new("x.txt"), ENC_YAML.as_bytes()), None);
        // No mac: not encrypted.
        let no_mac = ENC_YAML.replace("    mac: ", "    xmac: ");
        assert_eq!(sops_format(Path::new("x.yaml"), no_mac.as_bytes()), None);
        // Plain files and .sops.yaml are not sops files.
        assert_eq!(
            sops_format(
                Path::new(".sops.yaml"),
                b"creation_rules:\n  - age: age1x # sops mac\n"
            ),
            None
        );
        assert_eq!(
            sops_format(Path::new("x.yaml"), b"a: [unclosed sops mac"),
            None
        );
        let dotenv = "A=ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\nsops_mac=ENC[x]\nsops_version=3.11.0\nsops_lastmodified=2024-01-01T00:00:00Z\nsops_age__list_0__map_recipient=age1x\nsops_age__list_0__map_enc=x\n";
        assert_eq!(
            sops_format(Path::new("a.env"), dotenv.as_bytes()),
            Some(Format::Dotenv)
        );
    }

    #[test]
    fn every_corpus_file_made_by_sops_is_found_and_no_plaintext_is() {
        let Some(cases) = crate::testdata::shared_suite(
            "repo walk on the conformance corpus",
            "conformance/cases",
        ) else {
            return;
        };
        let mut checked = 0;
        for dir in fs::read_dir(&cases).unwrap() {
            let dir = dir.unwrap().path();
            let case: serde_json::Value =
                serde_json::from_slice(&fs::read(dir.join("case.json")).unwrap()).unwrap();
            let name = |k: &str| case["files"][k].as_str().map(|f| dir.join(f));
            if case["expect"] == "decrypt_ok"
                && case["format"] != "binary"
                && let Some(enc) = name("enc")
            {
                let bytes = fs::read(&enc).unwrap();
                assert!(
                    sops_format(&enc, &bytes).is_some(),
                    "{enc:?} not recognised"
                );
                checked += 1;
            }
            // (refuse-already-encrypted's "plain" file is encrypted on purpose.)
            if case["expect"] == "decrypt_ok"
                && let Some(plain) = name("plain")
            {
                let bytes = fs::read(&plain).unwrap();
                assert_eq!(sops_format(&plain, &bytes), None, "{plain:?}");
            }
        }
        assert!(checked > 20, "only {checked} cases checked");
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    #[test]
    fn in_git_tracked_files_count_even_when_ignored_and_hidden_files_too() {
        let t = tempfile::tempdir().unwrap();
        git(t.path(), &["init", "-q"]);
        write(t.path(), ".gitignore", "ignored/\n*.skip.yaml\n");
        write(t.path(), ".ignore", "*\n");
        let a = write(t.path(), "apps/a.yaml", ENC_YAML);
        let h = write(t.path(), ".hidden/b.yaml", ENC_YAML);
        write(t.path(), "ignored/c.yaml", ENC_YAML);
        let tracked = write(t.path(), "ignored/tracked.yaml", ENC_YAML);
        write(t.path(), "apps/d.skip.yaml", ENC_YAML);
        write(t.path(), "apps/plain.yaml", "a: b\n");
        git(t.path(), &["add", "-f", "ignored/tracked.yaml"]);
        let scan = find_sops_files(t.path());
        let mut want = vec![a, h, tracked];
        want.sort();
        assert_eq!(scan.files, want);
        assert!(scan.unreadable.is_empty(), "{:?}", scan.unreadable);
    }

    #[test]
    fn without_git_gitignore_is_not_applied() {
        // As git itself: a .gitignore outside a repository means nothing.
        let t = tempfile::tempdir().unwrap();
        write(t.path(), ".gitignore", "ignored/\n");
        write(t.path(), "ignored/c.yaml", ENC_YAML);
        assert_eq!(find_sops_files(t.path()).files.len(), 1);
    }

    #[test]
    fn a_found_path_is_read_as_what_it_is_when_opened() {
        let t = tempfile::tempdir().unwrap();
        let f = write(t.path(), "a.yaml", "a: b\n");
        let big = write(t.path(), "big.yaml", "0123456789");
        assert!(matches!(
            open_found(&f, 100).unwrap(),
            Opened::File(Some(b)) if b == b"a: b\n"
        ));
        assert!(matches!(open_found(&big, 5).unwrap(), Opened::File(None)));
        assert!(matches!(
            open_found(&t.path().join("gone.yaml"), 100).unwrap(),
            Opened::Nothing
        ));
        fs::create_dir(t.path().join("sub")).unwrap();
        assert!(matches!(
            open_found(&t.path().join("sub"), 100).unwrap(),
            Opened::Dir
        ));
        #[cfg(unix)]
        {
            let link = t.path().join("link.yaml");
            std::os::unix::fs::symlink(&f, &link).unwrap();
            assert!(matches!(open_found(&link, 100).unwrap(), Opened::Symlink));
            let dangling = t.path().join("dangling.yaml");
            std::os::unix::fs::symlink(t.path().join("nowhere"), &dangling).unwrap();
            assert!(matches!(
                open_found(&dangling, 100).unwrap(),
                Opened::Symlink
            ));
        }
    }

    #[test]
    fn repo_root_finds_the_nearest_git_directory() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("x/y")).unwrap();
        fs::create_dir(t.path().join(".git")).unwrap();
        assert_eq!(repo_root(&t.path().join("x/y")).as_deref(), Some(t.path()));
    }

    fn plan_ok(bytes: Option<&str>) -> Result<Planned, CliError> {
        Ok(Planned {
            new_bytes: bytes.map(|b| b.as_bytes().to_vec()),
            added: vec!["age1new".into()],
            ..Planned::default()
        })
    }

    #[test]
    fn a_failure_writes_nothing_unless_keep_going() {
        let t = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..5)
            .map(|i| write(t.path(), &format!("f{i}"), "old"))
            .collect();
        let bad = files[2].clone();
        let plan = |p: &Path| {
            if p == bad {
                Err(CliError::new(
                    exit::COULD_NOT_RETRIEVE_KEY,
                    "cannot decrypt",
                ))
            } else {
                plan_ok(Some("new"))
            }
        };
        let opts = BatchOptions {
            format: ReportFormat::Json,
            ..BatchOptions::default()
        };
        let err = apply(&files, opts, plan, |_| Ok(true)).unwrap_err();
        assert_eq!(err.code, exit::COULD_NOT_RETRIEVE_KEY);
        assert!(err.message.contains("no file was written"), "{err}");
        for f in &files {
            assert_eq!(fs::read_to_string(f).unwrap(), "old");
        }
        let keep = BatchOptions {
            keep_going: true,
            ..opts
        };
        let err = apply(&files, keep, plan, |_| Ok(true)).unwrap_err();
        assert!(
            err.message.contains("4 other changed files were written"),
            "{err}"
        );
        for f in &files {
            let want = if *f == bad { "old" } else { "new" };
            assert_eq!(fs::read_to_string(f).unwrap(), want);
        }
    }

    #[test]
    fn dry_run_and_declined_confirmation_write_nothing() {
        let t = tempfile::tempdir().unwrap();
        let files = vec![write(t.path(), "a", "old"), write(t.path(), "b", "old")];
        let opts = BatchOptions {
            dry_run: true,
            format: ReportFormat::Json,
            ..BatchOptions::default()
        };
        let r = apply(
            &files,
            opts,
            |_| plan_ok(Some("new")),
            |_| panic!("no confirmation in a dry run"),
        )
        .unwrap();
        assert_eq!(r.count(Status::WouldChange), 2);
        let r = apply(
            &files,
            BatchOptions {
                dry_run: false,
                ..opts
            },
            |_| plan_ok(Some("new")),
            |c| {
                assert_eq!(c.len(), 2);
                Ok(false)
            },
        )
        .unwrap();
        assert_eq!(r.count(Status::NotWritten), 2);
        for f in &files {
            assert_eq!(fs::read_to_string(f).unwrap(), "old");
        }
        let json = r.to_json();
        assert_eq!(json["summary"]["not_written"], 2);
        assert_eq!(json["files"][0]["added"][0], "age1new");
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let t = tempfile::tempdir().unwrap();
        let f = write(t.path(), "a", "old");
        let before = fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let r = apply(
            std::slice::from_ref(&f),
            BatchOptions::default(),
            |_| plan_ok(None),
            |_| Ok(true),
        )
        .unwrap();
        assert_eq!(r.count(Status::Unchanged), 1);
        assert_eq!(fs::metadata(&f).unwrap().modified().unwrap(), before);
    }
}
