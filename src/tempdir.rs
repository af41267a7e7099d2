//! Private temporary directories for plaintext (`edit`, `exec-file`): a fresh 0700
//! directory on a memory file system when there is one, files created 0600, and removal on
//! every exit path — drop, error, and every catchable signal that would end the process
//! ([`CLEANUP_SIGNALS`]: a signal thread removes every live directory before it exits). Also tracks the child process (editor or
//! command) so that a termination signal is forwarded to it.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// The directories that exist right now (removed by the signal thread on a signal).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The running child's pid (0: none).
static CHILD: AtomicU32 = AtomicU32::new(0);

/// Where private directories go: `$XDG_RUNTIME_DIR` (per-user, 0700, memory-backed), else
/// `/dev/shm` (memory), else the system temporary directory (`$TMPDIR`, `/tmp`).
pub fn temp_root() -> PathBuf {
    temp_root_from(
        std::env::var_os("XDG_RUNTIME_DIR"),
        Path::new("/dev/shm").is_dir(),
        std::env::temp_dir(),
    )
}

/// [`temp_root`] without `XDG_RUNTIME_DIR`: a root other users can reach (for a command
/// run as another user, whose own runtime directory root's is not).
pub fn shared_temp_root() -> PathBuf {
    temp_root_from(None, Path::new("/dev/shm").is_dir(), std::env::temp_dir())
}

/// [`temp_root`] from its inputs (pure, for tests).
pub fn temp_root_from(xdg: Option<OsString>, shm_exists: bool, tmp: PathBuf) -> PathBuf {
    if let Some(x) = xdg.filter(|x| !x.is_empty()).map(PathBuf::from)
        && x.is_absolute()
        && x.is_dir()
    {
        return x;
    }
    if cfg!(target_os = "linux") && shm_exists {
        return PathBuf::from("/dev/shm");
    }
    tmp
}

fn lock_live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A poisoned lock only means another thread panicked; the list is still valid.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A private directory that is removed with everything in it when dropped, or when the
/// process gets one of [`CLEANUP_SIGNALS`].
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// A new directory below [`temp_root`].
    pub fn create() -> io::Result<PrivateDir> {
        PrivateDir::create_in(&temp_root())
    }

    /// A new directory (mode 0700) below `root`, named `.seal-<random>`.
    pub fn create_in(root: &Path) -> io::Result<PrivateDir> {
        install_signal_cleanup();
        for _ in 0..16 {
            let mut rnd = [0u8; 8];
            getrandom::getrandom(&mut rnd).map_err(|e| io::Error::other(e.to_string()))?;
            let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
            let path = root.join(format!(".seal-{name}"));
            let mut live = lock_live();
            match make_private_dir(&path) {
                Ok(()) => {
                    live.push(path.clone());
                    return Ok(PrivateDir { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(
            "could not create a unique temporary directory",
        ))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Create `name` (a plain file name) in the directory with mode 0600 and write `bytes`.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.child_path(name)?;
        // Hold the lock: a signal cannot remove the directory half-way through the write
        // and then leave a file behind.
        let live = lock_live();
        if !live.contains(&self.path) {
            return Err(io::Error::other("the temporary directory was removed"));
        }
        let mut f = open_private(&path)?;
        f.write_all(bytes)?;
        f.flush()?;
        Ok(path)
    }

    /// Create a FIFO named `name` (mode 0600) in the directory.
    #[cfg(unix)]
    pub fn make_fifo(&self, name: &str) -> io::Result<PathBuf> {
        use nix::sys::stat::Mode;
        let path = self.child_path(name)?;
        nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).map_err(io::Error::from)?;
        Ok(path)
    }

    fn child_path(&self, name: &str) -> io::Result<PathBuf> {
        check_file_name(name).map_err(io::Error::other)?;
        Ok(self.path.join(name))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let mut live = lock_live();
        let _ = fs::remove_dir_all(&self.path);
        live.retain(|p| p != &self.path);
    }
}

/// Check that `name` is a plain file name (no directory part, not `.`/`..`, no NUL).
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
    {
        return Err(format!(
            "{name:?} is not a plain file name (no directories, not . or ..)"
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn make_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().mode(0o700).create(path)?;
    // The umask can only narrow the mode, but be explicit.
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn make_private_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)
}

#[cfg(unix)]
fn open_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// While alive, a termination signal to seal is forwarded to this child, and SIGINT or
/// SIGQUIT does not stop seal (the terminal sends it to the child too, which decides).
#[derive(Debug)]
pub struct ChildGuard(());

/// [`CHILD`] while a child is being started: its pid is not known yet, but a Ctrl-C or
/// Ctrl-\ from the terminal already reaches it.
const STARTING: u32 = u32::MAX;

impl ChildGuard {
    /// Call before spawning the child: from now on SIGINT and SIGQUIT leave the child in
    /// charge (the terminal sends them to it as well), even before its pid is known.
    pub fn starting() -> ChildGuard {
        install_signal_cleanup();
        CHILD.store(STARTING, Ordering::SeqCst);
        ChildGuard(())
    }

    /// Track the spawned child `pid` (signals are forwarded to it).
    pub fn track(&self, pid: u32) {
        CHILD.store(pid, Ordering::SeqCst);
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        CHILD.store(0, Ordering::SeqCst);
    }
}

/// Remove the live private directories below `root` now (what the signal thread does for
/// all of them).
pub fn remove_live_below(root: &Path) {
    let mut live = lock_live();
    live.retain(|p| {
        if p.starts_with(root) {
            let _ = fs::remove_dir_all(p);
            false
        } else {
            true
        }
    });
}

/// The signals that remove the live private directories and end seal: every catchable
/// signal whose default action ends the process (SIGKILL cannot be caught; SIGSEGV, SIGBUS,
/// SIGILL, SIGFPE and SIGABRT mean seal itself is broken and cannot safely run code).
/// SIGPIPE is not among them: seal ignores it (the Rust runtime's setting, which children
/// do not inherit), treats a closed output as the end of its output, and so never dies of
/// it; the normal cleanup then runs.
#[cfg(unix)]
pub const CLEANUP_SIGNALS: [(i32, &str); 9] = {
    use signal_hook::consts::*;
    [
        (SIGHUP, "SIGHUP"),
        (SIGINT, "SIGINT"),
        (SIGQUIT, "SIGQUIT"),
        (SIGTERM, "SIGTERM"),
        (SIGUSR1, "SIGUSR1"),
        (SIGUSR2, "SIGUSR2"),
        (SIGALRM, "SIGALRM"),
        (SIGXCPU, "SIGXCPU"),
        (SIGVTALRM, "SIGVTALRM"),
    ]
};

/// What the signal thread does with `sig` while `child` (0: none) runs: `None` to let the
/// child decide (SIGINT and SIGQUIT, which the terminal sends to the child too), else the
/// signal to forward to the child before seal exits, `Some(0)` when there is no child.
#[cfg(unix)]
pub fn forward_for(sig: i32, child: u32) -> Option<i32> {
    use signal_hook::consts::{SIGINT, SIGQUIT};
    match (child, sig) {
        (0, _) => Some(0),
        (_, SIGINT | SIGQUIT) => None,
        (_, s) => Some(s),
    }
}

#[cfg(unix)]
fn install_signal_cleanup() {
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let Ok(mut signals) =
            signal_hook::iterator::Signals::new(CLEANUP_SIGNALS.iter().map(|(s, _)| *s))
        else {
            eprintln!(
                "seal: warning: cannot install signal handlers; a signal may leave decrypted temporary files behind"
            );
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("seal-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    let child = CHILD.load(Ordering::SeqCst);
                    let Some(forward) = forward_for(sig, child) else {
                        // The child got it from the terminal as well; its exit decides.
                        continue;
                    };
                    if forward != 0
                        && child != STARTING
                        && let (Ok(pid), Ok(s)) = (
                            i32::try_from(child),
                            nix::sys::signal::Signal::try_from(forward),
                        )
                    {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s);
                    }
                    // Keep the lock until exit so no new plaintext appears meanwhile.
                    let mut live = lock_live();
                    for p in live.drain(..) {
                        let _ = fs::remove_dir_all(&p);
                    }
                    let name = CLEANUP_SIGNALS
                        .iter()
                        .find(|(s, _)| *s == sig)
                        .map_or("a signal", |(_, n)| n);
                    eprintln!(
                        "seal: interrupted by {name}: the decrypted temporary files were removed and no file was changed"
                    );
                    std::process::exit(128 + sig);
                }
            });
        if spawned.is_err() {
            eprintln!(
                "seal: warning: cannot start the signal thread; a signal may leave decrypted temporary files behind"
            );
        }
    });
}

#[cfg(not(unix))]
fn install_signal_cleanup() {}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn root_prefers_runtime_dir_then_shm_then_tmp() {
        let d = tempfile::tempdir().unwrap();
        let tmp = PathBuf::from("/somewhere/tmp");
        assert_eq!(
            temp_root_from(Some(d.path().into()), true, tmp.clone()),
            d.path()
        );
        // A relative or missing runtime dir is ignored.
        let shm_or_tmp = if cfg!(target_os = "linux") {
            PathBuf::from("/dev/shm")
        } else {
            tmp.clone()
        };
        assert_eq!(
            temp_root_from(Some("rel".into()), true, tmp.clone()),
            shm_or_tmp
        );
        assert_eq!(
            temp_root_from(Some("/no/such/dir".into()), true, tmp.clone()),
            shm_or_tmp
        );
        assert_eq!(temp_root_from(None, false, tmp.clone()), tmp);
        assert_eq!(temp_root_from(Some("".into()), false, tmp.clone()), tmp);
    }

    #[test]
    fn directory_is_private_and_removed_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let dir = PrivateDir::create_in(root.path()).unwrap();
        let f = dir.write_file("s.yaml", b"secret: 1\n").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"secret: 1\n");
        #[cfg(unix)]
        {
            let m = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(m(dir.path()), 0o700);
            assert_eq!(m(&f), 0o600);
        }
        // Files the editor adds (swap files) go too.
        fs::write(dir.path().join(".s.yaml.swp"), b"x").unwrap();
        let p = dir.path().to_path_buf();
        drop(dir);
        assert!(!p.exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn file_names_cannot_escape_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = PrivateDir::create_in(root.path()).unwrap();
        for bad in ["", ".", "..", "../x", "a/b", "a\0b"] {
            assert!(dir.write_file(bad, b"x").is_err(), "{bad:?}");
        }
        // The same name twice is refused rather than overwritten.
        dir.write_file("a", b"1").unwrap();
        assert!(dir.write_file("a", b"2").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn fifo_is_created_private() {
        use std::os::unix::fs::FileTypeExt;
        let root = tempfile::tempdir().unwrap();
        let dir = PrivateDir::create_in(root.path()).unwrap();
        let f = dir.make_fifo("tmp-file").unwrap();
        let md = fs::metadata(&f).unwrap();
        assert!(md.file_type().is_fifo());
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn terminal_signals_leave_the_child_in_charge() {
        use signal_hook::consts::*;
        assert_eq!(forward_for(SIGINT, 7), None);
        assert_eq!(forward_for(SIGQUIT, 7), None);
        assert_eq!(forward_for(SIGQUIT, 0), Some(0));
        assert_eq!(forward_for(SIGUSR1, 7), Some(SIGUSR1));
        assert!(CLEANUP_SIGNALS.iter().any(|(s, _)| *s == SIGVTALRM));
        assert!(!CLEANUP_SIGNALS.iter().any(|(s, _)| *s == SIGPIPE));
    }

    #[test]
    fn removing_live_directories_removes_them_all() {
        let root = tempfile::tempdir().unwrap();
        let a = PrivateDir::create_in(root.path()).unwrap();
        let b = PrivateDir::create_in(root.path()).unwrap();
        a.write_file("x", b"1").unwrap();
        remove_live_below(root.path());
        assert!(!a.path().exists() && !b.path().exists());
        // A write after removal fails instead of recreating plaintext.
        assert!(a.write_file("y", b"2").is_err());
    }
}
