//! File-system writes that cannot lose data or leak plaintext: every write goes to a 0600
//! temporary file in the destination's directory, is flushed to disk, and atomically
//! renamed over the destination, so a crash leaves either the old or the new file.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Largest input seal reads into memory (a file, or standard input), unless
/// `SEAL_MAX_INPUT_BYTES` says otherwise: the same 64 MiB as a repo-wide scan. Peak memory
/// is a small multiple of the input size (docs/security.md), so this is what bounds it; the
/// largest real-world Kubernetes object is about 1.5 MiB.
pub const MAX_INPUT_BYTES: u64 = 64 << 20;

/// The environment variable that overrides [`MAX_INPUT_BYTES`] (a number of bytes).
pub const MAX_INPUT_ENV: &str = "SEAL_MAX_INPUT_BYTES";

/// The input size limit in force: `SEAL_MAX_INPUT_BYTES` when it is a number, else
/// [`MAX_INPUT_BYTES`].
pub fn max_input_bytes() -> u64 {
    std::env::var(MAX_INPUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(MAX_INPUT_BYTES)
}

/// Read at most `limit` bytes from `r`; more is an error (`FileTooLarge`) whose message
/// names the limit and how to raise it. Never reads more than `limit + 1` bytes, so memory
/// stays bounded whatever the source (a sparse file, `/dev/zero`, a pipe).
pub fn read_limited(mut r: impl Read, limit: u64, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(size_hint.min(limit)).unwrap_or(0));
    r.by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "the input is larger than seal's limit of {} bytes ({} MiB); set {MAX_INPUT_ENV} \
             to a larger number of bytes if this file really is that big",
            limit,
            limit >> 20
        ),
    )
}

/// Read a whole input file, refusing one larger than [`max_input_bytes`] before reading it.
pub fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    let limit = max_input_bytes();
    let f = fs::File::open(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limit {
        return Err(too_large(limit));
    }
    read_limited(f, limit, len)
}

/// Read standard input, refusing more than [`max_input_bytes`].
pub fn read_stdin() -> io::Result<Vec<u8>> {
    read_limited(io::stdin().lock(), max_input_bytes(), 0)
}

/// Whether the bytes written are secret (plaintext) or safe to share (ciphertext).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// Plaintext: the file is left 0600 whatever the old file's mode was.
    Secret,
    /// Ciphertext: an existing file's permissions are kept (a new file gets 0600 widened
    /// by nothing: it stays 0600 unless it replaced a file).
    Public,
}

/// Where a write to `dest` goes: `dest` itself, or, when `dest` is a symbolic link, the
/// file it points to (followed to the end of a chain). The link is kept: `seal encrypt -i
/// link.yaml` rewrites the target atomically in the target's directory, as an editor
/// saving through a link would, and as sops (which writes through the link) does. A link
/// whose target does not exist is refused rather than creating a file somewhere else.
pub fn write_target(dest: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(dest).map_err(|e| {
            // Not NotFound: the message must reach the user as written.
            let kind = match e.kind() {
                io::ErrorKind::NotFound => io::ErrorKind::InvalidInput,
                k => k,
            };
            io::Error::new(
                kind,
                "it is a symbolic link whose target cannot be resolved (dangling link?); \
                 seal writes through links but does not create their targets",
            )
        }),
        _ => Ok(dest.to_path_buf()),
    }
}

/// Refuse to replace a file that has other names (hard links). An atomic replacement gives
/// `dest` a new inode and leaves every other name with the old content: after `encrypt -i`
/// the other names would still hold the plaintext, after `decrypt -i` the ciphertext, after
/// `set`/`edit`/`rotate` the old values. seal writes atomically or not at all, so it
/// refuses, and says why and what to do. (sops truncates and rewrites the inode in place,
/// so all names change, but a crash half-way leaves a broken file.)
pub fn check_not_hard_linked(dest: &Path) -> io::Result<()> {
    // A dangling link is write_atomic's to report.
    let target = write_target(dest).unwrap_or_else(|_| dest.to_path_buf());
    let links = nlink(&target);
    if links > 1 {
        return Err(io::Error::other(format!(
            "it has {} other hard link(s): replacing it would leave them with the old content \
             (for encrypt -i: the plaintext), so seal does not write it; give this name its own \
             copy first (cp F F.new && mv F.new F), or write with --output",
            links - 1
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn nlink(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).map_or(0, |m| m.nlink())
}

#[cfg(not(unix))]
fn nlink(_p: &Path) -> u64 {
    1
}

/// Atomically replace (or create) `dest` with `bytes`. A symbolic link is written through
/// (see [`write_target`]); a file with other hard links is refused
/// ([`check_not_hard_linked`]). More bytes than seal reads back ([`max_input_bytes`]) are
/// refused and nothing is written.
///
/// On Linux the bytes go to an unnamed file (`O_TMPFILE`) in the destination's directory,
/// which is given a name only once it is complete and on disk, and renamed over `dest`
/// straight away: a process killed while writing leaves no file behind at all, so no
/// plaintext can be stranded in the repository. Where `O_TMPFILE` is not available (other
/// systems, some file systems) a named 0600 temporary file is used instead.
pub fn write_atomic(dest: &Path, bytes: &[u8], sensitivity: Sensitivity) -> io::Result<()> {
    check_output_size(bytes.len())?;
    check_not_hard_linked(dest)?;
    let target = write_target(dest)?;
    let dest = target.as_path();
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let old_perms = fs::metadata(dest).ok().map(|m| m.permissions());
    let perms = match sensitivity {
        Sensitivity::Public => old_perms,
        Sensitivity::Secret => None,
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if unnamed::write(dir, dest, bytes, perms.clone())? {
        sync_dir(dir);
        return Ok(());
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".seal-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    // tempfile creates the file 0600 on Unix.
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Some(p) = perms {
        fs::set_permissions(tmp.path(), p)?;
    }
    pause_before_rename();
    tmp.persist(dest).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Test hook for the crash-safety tests: `SEAL_TEST_PAUSE_BEFORE_RENAME=<ms>` sleeps once
/// the new content is complete and on disk, just before it gets a name, so a test can
/// kill the process at the most delicate point.
fn pause_before_rename() {
    if let Ok(v) = std::env::var("SEAL_TEST_PAUSE_BEFORE_RENAME")
        && let Ok(ms) = v.parse::<u64>()
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Linux: write through an unnamed `O_TMPFILE` inode.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unnamed {
    use std::fs;
    use std::io::{self, Write};
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, CWD, Mode, OFlags};

    /// Write `bytes` to `dest` through an unnamed file in `dir`. `Ok(false)`: `O_TMPFILE`
    /// (or linking it from `/proc/self/fd`) is not available here and nothing was done;
    /// the caller falls back to a named temporary file.
    pub(super) fn write(
        dir: &Path,
        dest: &Path,
        bytes: &[u8],
        perms: Option<fs::Permissions>,
    ) -> io::Result<bool> {
        let fd = match rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => fd,
            // Not supported by the kernel or the file system: fall back.
            Err(e)
                if [
                    rustix::io::Errno::OPNOTSUPP,
                    rustix::io::Errno::ISDIR,
                    rustix::io::Errno::INVAL,
                ]
                .contains(&e) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let mut file = fs::File::from(fd);
        file.write_all(bytes)?;
        if let Some(p) = perms {
            file.set_permissions(p)?;
        }
        file.sync_all()?;
        super::pause_before_rename();
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        // Name it (a fresh random name, retried on a clash), then rename it into place at
        // once: the name exists only between these two system calls.
        for _ in 0..16 {
            let tmp = dir.join(format!(".seal-{}.tmp", random_hex()));
            match rustix::fs::linkat(CWD, proc_path.as_str(), CWD, &tmp, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => {
                    return match fs::rename(&tmp, dest) {
                        Ok(()) => Ok(true),
                        Err(e) => {
                            let _ = fs::remove_file(&tmp);
                            Err(e)
                        }
                    };
                }
                Err(rustix::io::Errno::EXIST) => continue,
                // No /proc: fall back to a named temporary file.
                Err(rustix::io::Errno::NOENT) if !Path::new("/proc/self/fd").exists() => {
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not find a free temporary file name",
        ))
    }

    fn random_hex() -> String {
        let mut b = [0u8; 8];
        if getrandom::getrandom(&mut b).is_err() {
            // Uniqueness only (EEXIST is retried); the content is not secret.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            b = (t as u64 ^ u64::from(std::process::id())).to_le_bytes();
        }
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

/// Refuse to produce more than seal would read back: an encrypted file is about 4/3 the
/// size of its plaintext, so a plaintext just under the input limit would otherwise give a
/// file that only a raised limit can decrypt.
fn check_output_size(len: usize) -> io::Result<()> {
    let limit = max_input_bytes();
    if len as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "the result would be {} bytes, more than the {limit} bytes ({} MiB) seal reads \
                 back, so nothing was written; set {MAX_INPUT_ENV} to a larger number of bytes \
                 (for writing and for every later read) if the file really must be that big",
                len,
                limit >> 20
            ),
        ));
    }
    Ok(())
}

/// Write to stdout; a closed pipe (e.g. `| head`) is not an error. Output larger than
/// seal reads back is refused (see [`max_input_bytes`]).
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    check_output_size(bytes.len())?;
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        fs::write(&p, b"old").unwrap();
        write_atomic(&p, b"new", Sensitivity::Public).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "stray files: {names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn plaintext_is_private_and_ciphertext_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        fs::write(&p, b"x").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&p, b"secret", Sensitivity::Secret).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&p, b"cipher", Sensitivity::Public).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let n = dir.path().join("new.yaml");
        write_atomic(&n, b"cipher", Sensitivity::Public).unwrap();
        assert_eq!(
            fs::metadata(&n).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn reads_up_to_the_limit_and_refuses_one_byte_more() {
        let ok = read_limited(&b"12345"[..], 5, 0).unwrap();
        assert_eq!(ok, b"12345");
        let err = read_limited(&b"123456"[..], 5, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains(MAX_INPUT_ENV), "{err}");
        // An endless source is cut after limit + 1 bytes.
        let err = read_limited(io::repeat(b'x'), 1 << 16, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn a_sparse_file_over_the_limit_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.yaml");
        let f = fs::File::create(&p).unwrap();
        f.set_len(MAX_INPUT_BYTES + 1).unwrap();
        let err = read_input(&p).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("64 MiB"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("real");
        fs::create_dir(&sub).unwrap();
        let target = sub.join("s.yaml");
        fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink("real/s.yaml", &link).unwrap();
        // A chain of links too.
        let link2 = dir.path().join("link2.yaml");
        std::os::unix::fs::symlink("link.yaml", &link2).unwrap();
        write_atomic(&link2, b"new", Sensitivity::Public).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::symlink_metadata(&link2)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 1, "no temp file left");
        // A dangling link is refused, and nothing is created.
        let dangling = dir.path().join("dangling.yaml");
        std::os::unix::fs::symlink("nowhere/x.yaml", &dangling).unwrap();
        let err = write_atomic(&dangling, b"x", Sensitivity::Secret).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!dir.path().join("nowhere").exists());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_writes_through_an_unnamed_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        fs::write(&p, b"old").unwrap();
        // The test directory's file system supports O_TMPFILE (tmpfs, ext4, xfs, btrfs,
        // overlayfs all do): the unnamed path is taken, not the fallback.
        assert!(unnamed::write(dir.path(), &p, b"new", None).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope/f.yaml");
        assert!(write_atomic(&p, b"x", Sensitivity::Public).is_err());
    }
}
