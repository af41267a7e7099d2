//! Crash safety: seal is killed with SIGKILL at many points while it rewrites files in
//! place (`encrypt -i`, `decrypt -i`, `rotate -i`, `updatekeys --all -y`, `set`, `edit`),
//! and every file must then be the complete old or the complete new version, and no
//! temporary file (with plaintext or not) may be left in the directory: none at all while
//! the new content waits to be named, and at most a complete new version under a
//! `.seal-*.tmp` name when the kill lands between naming and renaming. A full disk leaves
//! the original intact, and a repo-wide operation where one file fails writes nothing.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{key_file, recipient, seal};

/// Keys in the large test file: enough that a debug seal takes a noticeable time, so the
/// kills land in reading, decrypting, encrypting and writing.
const KEYS: usize = 6000;

fn big_plain() -> String {
    let mut s =
        String::from("apiVersion: v1\nkind: Secret\nmetadata:\n    name: big\nstringData:\n");
    for i in 0..KEYS {
        s.push_str(&format!("    key{i}: value-{i}-the-quick-brown-fox\n"));
    }
    s
}

fn seal_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("seal")
}

/// A raw `seal` process command (hermetic, alice's key available, in `dir`).
fn raw(home: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(seal_bin());
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .env("SEAL_NO_KEYRING", "1")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn decrypt(home: &Path, key: &str, f: &Path) -> Option<Vec<u8>> {
    let out = seal(home)
        .current_dir(home)
        .env("SOPS_AGE_KEY_FILE", key_file(key))
        .arg("decrypt")
        .arg(f)
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

fn encrypt_for(home: &Path, who: &str, f: &Path) {
    seal(home)
        .current_dir(home)
        .args(["encrypt", "-i", "--age", &recipient(who)])
        .arg(f)
        .assert()
        .success();
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Whether a file's current bytes are the complete new version: (home, file, bytes).
type IsNew = Box<dyn Fn(&Path, &Path, &[u8]) -> bool>;

/// One in-place operation under test.
struct Scenario {
    name: &'static str,
    home: tempfile::TempDir,
    /// Where the files live (the directory checked for strays).
    dir: PathBuf,
    /// Files rewritten, with their bytes before the operation.
    files: Vec<(PathBuf, Vec<u8>)>,
    args: Vec<String>,
    /// Extra environment (e.g. the editor).
    env: Vec<(String, String)>,
    /// Whether a file's current bytes are the complete new version.
    is_new: IsNew,
}

impl Scenario {
    fn command(&self) -> Command {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut c = raw(self.home.path(), &self.dir, &args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn reset(&self) {
        for (f, old) in &self.files {
            fs::write(f, old).unwrap();
        }
    }

    /// Every file old or new (new ones are reset), and no stray file but a complete new
    /// version under a `.seal-<16 hex>.tmp` name: the one window write_atomic cannot close
    /// (SIGKILL between naming the finished unnamed file and renaming it over the target,
    /// two system calls that a loaded machine can stretch; docs/security.md §7 says so).
    /// Such a file is removed and counted. Returns (old, new, stray) counts.
    fn check(&self, expected_names: &BTreeSet<String>, when: &str) -> (usize, usize, usize) {
        let (mut old, mut new) = (0, 0);
        for (f, before) in &self.files {
            let now = fs::read(f).unwrap();
            if &now == before {
                old += 1;
            } else {
                assert!(
                    (self.is_new)(self.home.path(), f, &now),
                    "{}: {} is neither the old nor a complete new version {when}",
                    self.name,
                    f.display()
                );
                new += 1;
            }
        }
        let mut strays = 0;
        for name in names(&self.dir).difference(expected_names) {
            let hex = name
                .strip_prefix(".seal-")
                .and_then(|r| r.strip_suffix(".tmp"))
                .unwrap_or("");
            assert!(
                hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: stray file {name} {when} (not one of write_atomic's names)",
                self.name
            );
            let path = self.dir.join(name);
            let bytes = fs::read(&path).unwrap();
            // Judge the copy under a name seal reads as YAML, outside the directory.
            let copy = self.home.path().join("stray-copy.yaml");
            fs::write(&copy, &bytes).unwrap();
            assert!(
                (self.is_new)(self.home.path(), &copy, &bytes),
                "{}: stray file {name} {when} is not a complete new version",
                self.name
            );
            fs::remove_file(&copy).unwrap();
            fs::remove_file(&path).unwrap();
            strays += 1;
        }
        assert_eq!(
            &names(&self.dir),
            expected_names,
            "{}: stray files {when}",
            self.name
        );
        self.reset();
        (old, new, strays)
    }

    /// Run to completion once (must succeed and give new files); returns its duration.
    fn full_run(&self, expected: &BTreeSet<String>) -> Duration {
        let t = Instant::now();
        let st = self.command().status().unwrap();
        let d = t.elapsed();
        assert!(st.success(), "{}: the uninterrupted run failed", self.name);
        let (old, _, strays) = self.check(expected, "after a full run");
        assert_eq!(old, 0, "{}: a full run changed nothing", self.name);
        assert_eq!(strays, 0, "{}: a full run left a temporary file", self.name);
        d
    }

    /// Kill at `kills` points spread over a full run's duration.
    fn kill_at_many_points(&self, kills: usize) {
        let expected = names(&self.dir);
        let d = self.full_run(&expected);
        let (mut olds, mut news, mut strays) = (0, 0, 0);
        for k in 0..kills {
            let delay = d.mul_f64(1.5 * (k as f64 + 0.5) / kills as f64);
            let mut child = self.command().spawn().unwrap();
            std::thread::sleep(delay);
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            let (o, n, t) = self.check(&expected, &format!("after SIGKILL at {delay:?}"));
            olds += o;
            news += n;
            strays += t;
        }
        // The kills must have landed before the write at least once, or the test proves
        // nothing about interrupted runs.
        assert!(
            olds > 0,
            "{}: every kill came too late ({news} new)",
            self.name
        );
        eprintln!(
            "{}: {kills} kills over {d:?}: {olds} files old, {news} new, {strays} complete \
             new versions left under a temporary name",
            self.name
        );
    }

    /// Kill while paused with the new content complete on disk, just before the rename.
    fn kill_before_rename(&self) {
        let expected = names(&self.dir);
        let mut child = self
            .command()
            .env("SEAL_TEST_PAUSE_BEFORE_RENAME", "60000")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Wait until seal holds its unnamed, already written file (Linux shows it in
        // /proc as `<dir>/#<inode> (deleted)`).
        let deadline = Instant::now() + Duration::from_secs(120);
        let dir = fs::canonicalize(&self.dir).unwrap();
        let mut seen = false;
        while Instant::now() < deadline && !seen {
            if let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) {
                seen = fds.filter_map(|e| e.ok()).any(|e| {
                    fs::read_link(e.path()).is_ok_and(|l| {
                        l.starts_with(&dir) && l.to_string_lossy().ends_with("(deleted)")
                    })
                });
            }
            if matches!(child.try_wait(), Ok(Some(_))) {
                panic!("{}: seal ended before pausing", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(seen, "{}: never saw the pending write", self.name);
        // At the most delicate point the directory holds no temporary file at all.
        assert_eq!(
            names(&self.dir),
            expected,
            "{}: a named temporary file exists",
            self.name
        );
        let _ = child.kill();
        let _ = child.wait();
        let (old, new, strays) = self.check(&expected, "after SIGKILL before rename");
        assert_eq!(
            (old, new, strays),
            (self.files.len(), 0, 0),
            "{}",
            self.name
        );
    }
}

fn scenario(name: &'static str) -> (Scenario, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("repo");
    fs::create_dir(&dir).unwrap();
    let f = dir.join("big.yaml");
    fs::write(&f, big_plain()).unwrap();
    (
        Scenario {
            name,
            home,
            dir,
            files: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            is_new: Box::new(|_, _, _| false),
        },
        f,
    )
}

fn encrypt_in_place() -> Scenario {
    let (mut s, f) = scenario("encrypt -i");
    s.files = vec![(f.clone(), fs::read(&f).unwrap())];
    s.args = vec![
        "encrypt".into(),
        "-i".into(),
        "--age".into(),
        recipient("alice"),
        "big.yaml".into(),
    ];
    s.is_new =
        Box::new(|home, f, _| decrypt(home, "alice", f).as_deref() == Some(big_plain().as_bytes()));
    s
}

fn decrypt_in_place() -> Scenario {
    let (mut s, f) = scenario("decrypt -i");
    encrypt_for(s.home.path(), "alice", &f);
    s.files = vec![(f.clone(), fs::read(&f).unwrap())];
    s.args = vec!["decrypt".into(), "-i".into(), "big.yaml".into()];
    s.is_new = Box::new(|_, _, now| now == big_plain().as_bytes());
    s
}

fn rotate_in_place() -> Scenario {
    let (mut s, f) = scenario("rotate -i");
    encrypt_for(s.home.path(), "alice", &f);
    s.files = vec![(f.clone(), fs::read(&f).unwrap())];
    s.args = vec!["rotate".into(), "-i".into(), "big.yaml".into()];
    s.is_new =
        Box::new(|home, f, _| decrypt(home, "alice", f).as_deref() == Some(big_plain().as_bytes()));
    s
}

fn set_in_place() -> Scenario {
    let (mut s, f) = scenario("set");
    encrypt_for(s.home.path(), "alice", &f);
    s.files = vec![(f.clone(), fs::read(&f).unwrap())];
    s.args = vec![
        "set".into(),
        "big.yaml".into(),
        r#"["stringData"]["key7"]"#.into(),
        r#""changed""#.into(),
    ];
    let expected = big_plain().replace("key7: value-7-the-quick-brown-fox", "key7: changed");
    s.is_new = Box::new(move |home, f, _| {
        decrypt(home, "alice", f).as_deref() == Some(expected.as_bytes())
    });
    s
}

fn edit_in_place() -> Scenario {
    let (mut s, f) = scenario("edit");
    encrypt_for(s.home.path(), "alice", &f);
    s.files = vec![(f.clone(), fs::read(&f).unwrap())];
    // The editor: a script that changes one value.
    let editor = s.home.path().join("editor.sh");
    fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/key7: value-7-the-quick-brown-fox/key7: edited/' \"$1\"\n",
    )
    .unwrap();
    fs::set_permissions(&editor, fs::Permissions::from_mode(0o755)).unwrap();
    // The plaintext copy goes below the test's home, so the test can see it.
    let scratch = s.home.path().join("runtime");
    fs::create_dir(&scratch).unwrap();
    fs::set_permissions(&scratch, fs::Permissions::from_mode(0o700)).unwrap();
    s.env = vec![
        ("EDITOR".into(), editor.display().to_string()),
        ("XDG_RUNTIME_DIR".into(), scratch.display().to_string()),
        ("TMPDIR".into(), scratch.display().to_string()),
    ];
    s.args = vec!["edit".into(), "big.yaml".into()];
    let expected = big_plain().replace("key7: value-7-the-quick-brown-fox", "key7: edited");
    s.is_new = Box::new(move |home, f, _| {
        decrypt(home, "alice", f).as_deref() == Some(expected.as_bytes())
    });
    s
}

fn updatekeys_all() -> Scenario {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("repo");
    fs::create_dir(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..3 {
        let f = dir.join(format!("s{i}.yaml"));
        fs::write(&f, big_plain()).unwrap();
        encrypt_for(home.path(), "alice", &f);
        files.push((f.clone(), fs::read(&f).unwrap()));
    }
    fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {},{}\n",
            recipient("alice"),
            recipient("bob")
        ),
    )
    .unwrap();
    Scenario {
        name: "updatekeys --all -y",
        home,
        dir,
        files,
        args: vec!["updatekeys".into(), "--all".into(), "-y".into()],
        env: Vec::new(),
        // New: bob can read it.
        is_new: Box::new(|home, f, _| {
            decrypt(home, "bob", f).as_deref() == Some(big_plain().as_bytes())
        }),
    }
}

#[test]
fn encrypt_in_place_survives_sigkill_anywhere() {
    let s = encrypt_in_place();
    s.kill_before_rename();
    s.kill_at_many_points(12);
}

#[test]
fn decrypt_in_place_survives_sigkill_anywhere() {
    let s = decrypt_in_place();
    s.kill_before_rename();
    s.kill_at_many_points(12);
}

#[test]
fn rotate_in_place_survives_sigkill_anywhere() {
    let s = rotate_in_place();
    s.kill_before_rename();
    s.kill_at_many_points(10);
}

#[test]
fn set_survives_sigkill_anywhere() {
    let s = set_in_place();
    s.kill_before_rename();
    s.kill_at_many_points(10);
}

#[test]
fn updatekeys_all_survives_sigkill_anywhere() {
    let s = updatekeys_all();
    s.kill_before_rename();
    s.kill_at_many_points(10);
}

/// `edit` keeps its plaintext copy in a private directory outside the repository; SIGKILL
/// cannot be caught, so that copy may stay behind there (docs/security.md says so), but
/// the encrypted file itself is always old or new.
#[test]
fn edit_survives_sigkill_for_the_encrypted_file() {
    let s = edit_in_place();
    s.kill_at_many_points(10);
    s.kill_before_rename();
    let left: Vec<_> = walk(&s.home.path().join("runtime"));
    eprintln!("edit: plaintext copies left in the private runtime dir after SIGKILL: {left:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A disk that fills up during the write: the original stays intact, the error names the
/// file, and nothing is left behind. A 64 KiB tmpfs when this process may mount one (root),
/// and in every case a file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so the write
/// fails with EFBIG) that simulates the same write error anywhere.
#[test]
fn a_full_disk_leaves_the_original_intact() {
    let home = tempfile::tempdir().unwrap();
    // About 40 KiB of plaintext: its ciphertext (about 3x) does not fit in 64 KiB.
    let mut plain = String::from("stringData:\n");
    for i in 0..700 {
        plain.push_str(&format!("    key{i}: value-{i}-fox-{i}\n"));
    }
    let run = |dir: &Path, via_limit: bool| {
        let f = dir.join("s.yaml");
        fs::write(&f, &plain).unwrap();
        let before = names(dir);
        let out = if via_limit {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("trap '' XFSZ; ulimit -f 64; exec \"$@\"")
                .arg("sh")
                .arg(seal_bin())
                .args(["encrypt", "-i", "--age", &recipient("alice")])
                .arg(&f)
                .env_clear()
                .env("SEAL_NO_KEYRING", "1")
                .current_dir(home.path())
                .env("HOME", home.path())
                .env("PATH", std::env::var("PATH").unwrap_or_default());
            c.output().unwrap()
        } else {
            seal(home.path())
                .current_dir(home.path())
                .args(["encrypt", "-i", "--age", &recipient("alice")])
                .arg(&f)
                .output()
                .unwrap()
        };
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(3), "exit 3 (cannot write): {err}");
        assert!(err.contains("s.yaml"), "{err}");
        assert_eq!(
            fs::read_to_string(&f).unwrap(),
            plain,
            "the original is intact"
        );
        assert_eq!(names(dir), before, "nothing left behind");
        assert!(
            !err.contains("value-1-fox"),
            "no plaintext in the message: {err}"
        );
    };
    // The simulated error, everywhere.
    let d = home.path().join("limited");
    fs::create_dir(&d).unwrap();
    run(&d, true);
    // A real full file system when it can be mounted.
    let mnt = home.path().join("small");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let result = std::panic::catch_unwind(|| run(&mnt, false));
        let _ = Command::new("umount").arg(&mnt).status();
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    } else {
        eprintln!("tmpfs not mountable here (not root): the RLIMIT_FSIZE case stands in for it");
    }
}

/// Repo-wide operations are all-or-nothing: when one file in the middle cannot be
/// processed (its data key is for carol, whose key seal does not have), no file is written.
#[test]
fn repo_wide_operations_write_nothing_when_one_file_fails() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("repo");
    fs::create_dir(&dir).unwrap();
    let mut files = Vec::new();
    for (name, who) in [
        ("a.yaml", "alice"),
        ("b.yaml", "carol"),
        ("c.yaml", "alice"),
    ] {
        let f = dir.join(name);
        fs::write(&f, "stringData:\n    k: v\n").unwrap();
        encrypt_for(home.path(), who, &f);
        files.push((f.clone(), fs::read(&f).unwrap()));
    }
    fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {},{}\n",
            recipient("alice"),
            recipient("bob")
        ),
    )
    .unwrap();
    let before = names(&dir);
    for args in [
        vec!["updatekeys", "--all", "-y"],
        vec!["rotate", "-i", "--all"],
    ] {
        let out = raw(home.path(), &dir, &args)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {err}");
        assert!(
            err.contains("b.yaml"),
            "{args:?}: names the failing file: {err}"
        );
        for (f, old) in &files {
            assert_eq!(&fs::read(f).unwrap(), old, "{args:?} wrote {}", f.display());
        }
        assert_eq!(names(&dir), before);
    }
}

/// `-i` on a symbolic link rewrites the file the link points to and keeps the link (as
/// sops, which writes through it, and as editors do); a dangling link is refused and
/// nothing is created.
#[test]
fn in_place_on_a_symlink_writes_the_target_and_keeps_the_link() {
    let home = tempfile::tempdir().unwrap();
    let real = home.path().join("real");
    fs::create_dir(&real).unwrap();
    let target = real.join("s.yaml");
    fs::write(&target, "stringData:\n    k: v\n").unwrap();
    let link = home.path().join("link.yaml");
    std::os::unix::fs::symlink("real/s.yaml", &link).unwrap();
    seal(home.path())
        .current_dir(home.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&link)
        .assert()
        .success();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(&target)
            .unwrap()
            .contains("ENC[AES256_GCM")
    );
    assert_eq!(
        decrypt(home.path(), "alice", &link).as_deref(),
        Some(&b"stringData:\n    k: v\n"[..])
    );
    assert_eq!(names(&real), BTreeSet::from(["s.yaml".to_string()]));
    let dangling = home.path().join("dangling.yaml");
    std::os::unix::fs::symlink("gone/x.yaml", &dangling).unwrap();
    let plain = home.path().join("p.yaml");
    fs::write(&plain, "a: b\n").unwrap();
    let out = seal(home.path())
        .current_dir(home.path())
        .args(["encrypt", "--age", &recipient("alice"), "--output"])
        .arg(&dangling)
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
    assert!(!home.path().join("gone").exists());
}
