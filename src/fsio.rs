//! File-system writes that cannot lose data or leak plaintext: every write goes to a 0600
//! temporary file in the destination's directory, is flushed to disk, and atomically
//! renamed over the destination, so a crash leaves either the old or the new file.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Whether the bytes written are secret (plaintext) or safe to share (ciphertext).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sensitivity {
    /// Plaintext: the file is left 0600 whatever the old file's mode was.
    Secret,
    /// Ciphertext: an existing file's permissions are kept (a new file gets 0600 widened
    /// by nothing: it stays 0600 unless it replaced a file).
    Public,
}

/// Atomically replace (or create) `dest` with `bytes`.
pub fn write_atomic(dest: &Path, bytes: &[u8], sensitivity: Sensitivity) -> io::Result<()> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let old_perms = fs::metadata(dest).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(".seal-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    // tempfile creates the file 0600 on Unix.
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let (Sensitivity::Public, Some(p)) = (sensitivity, old_perms) {
        fs::set_permissions(tmp.path(), p)?;
    }
    if let Ok(v) = std::env::var("SEAL_TEST_PAUSE_BEFORE_RENAME") {
        // Test hook for crash-safety tests: pause so a test can kill the process here.
        if let Ok(ms) = v.parse::<u64>() {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
    tmp.persist(dest).map_err(|e| e.error)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Write to stdout; a closed pipe (e.g. `| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
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
    fn missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope/f.yaml");
        assert!(write_atomic(&p, b"x", Sensitivity::Public).is_err());
    }
}
