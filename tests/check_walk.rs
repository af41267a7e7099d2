//! Which files a repository holds, for every repo-wide command (`check`, `updatekeys
//! --all`, `rotate --all`, `doctor`, `git setup`): in a git work tree every tracked file plus
//! the untracked files git does not ignore; `.gitignore`, `.ignore`, `.git/info/exclude` and
//! the global excludes never hide a tracked file; `.sealignore` is the only way to skip one.
//! Also: a path argument that is a symbolic link to a directory, `--staged` with type
//! changes, odd names and submodules, and `.sops.yaml` files that hold a Secret. Each test
//! is one way the gate used to be walked around. Real git in a temporary repository.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::{key_file, recipient, seal};

const PLAIN_SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2-walk\n";

const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  a: b\n";

/// A temporary git work tree with its own HOME (for git and seal alike).
struct Repo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    home: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        let home = tmp.path().join("home");
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(&home).unwrap();
        let r = Repo {
            _tmp: tmp,
            dir,
            home,
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(&self.dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.home)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = seal(&self.home);
        c.current_dir(&self.dir);
        c
    }

    /// `seal check ARGS --format json`: (exit code, report).
    fn check_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let out = self
            .seal()
            .arg("check")
            .args(args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, json)
    }
}

fn finding_paths(json: &serde_json::Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gitignore_never_hides_a_tracked_file() {
    let r = Repo::new();
    r.write(".gitignore", "secrets/\n*.secret.yaml\n");
    r.write("secrets/db.yaml", PLAIN_SECRET);
    r.write("apps/x.secret.yaml", PLAIN_SECRET);
    r.write("apps/cm.yaml", CONFIGMAP);
    r.git(&["add", "-f", "."]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 1, "{json}");
    let paths = finding_paths(&json);
    assert!(paths.contains(&"secrets/db.yaml".to_string()), "{json}");
    assert!(paths.contains(&"apps/x.secret.yaml".to_string()), "{json}");
}

#[test]
fn committed_dot_ignore_star_hides_nothing_git_tracks() {
    let r = Repo::new();
    r.write(".ignore", "*\n");
    r.write("apps/secret.yaml", PLAIN_SECRET);
    r.git(&["add", "."]);
    let (code, json) = r.check_json(&["."]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(finding_paths(&json), ["apps/secret.yaml"], "{json}");
    // An untracked file is not hidden by .ignore either (git does not read it).
    r.write("new/leak.yaml", PLAIN_SECRET);
    let (_, json) = r.check_json(&[]);
    assert!(
        finding_paths(&json).contains(&"new/leak.yaml".to_string()),
        "{json}"
    );
}

#[test]
fn info_exclude_and_global_excludes_never_hide_a_tracked_file() {
    let r = Repo::new();
    fs::write(r.dir.join(".git/info/exclude"), "excluded/\n").unwrap();
    fs::create_dir_all(r.home.join(".config/git")).unwrap();
    fs::write(r.home.join(".config/git/ignore"), "*.yaml\n").unwrap();
    r.write("excluded/a.yaml", PLAIN_SECRET);
    r.write("b.yaml", PLAIN_SECRET);
    r.git(&["add", "-f", "excluded/a.yaml", "b.yaml"]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 1, "{json}");
    let mut paths = finding_paths(&json);
    paths.sort();
    assert_eq!(paths, ["b.yaml", "excluded/a.yaml"], "{json}");
}

#[test]
fn a_repository_inside_the_tree_is_walked_with_its_own_index() {
    let r = Repo::new();
    let inner = r.dir.join("vendor/inner");
    fs::create_dir_all(&inner).unwrap();
    let git = |args: &[&str]| {
        let st = Command::new("git")
            .current_dir(&inner)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", &r.home)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    r.write("vendor/inner/.gitignore", "*.yaml\n");
    r.write("vendor/inner/tracked.yaml", PLAIN_SECRET);
    git(&["add", "-f", "tracked.yaml", ".gitignore"]);
    r.write("cm.yaml", CONFIGMAP);
    r.git(&["add", "cm.yaml"]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(
        finding_paths(&json),
        ["vendor/inner/tracked.yaml"],
        "{json}"
    );
}

#[test]
fn untracked_files_count_unless_git_ignores_them() {
    let r = Repo::new();
    r.write(".gitignore", "build/\n");
    r.write("build/out.yaml", PLAIN_SECRET);
    r.write("apps/new.yaml", PLAIN_SECRET);
    r.git(&["add", ".gitignore"]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(finding_paths(&json), ["apps/new.yaml"], "{json}");
    // A file named on the command line is checked even when git ignores it.
    let (code, json) = r.check_json(&["build/out.yaml"]);
    assert_eq!(code, 1, "{json}");
}

#[test]
fn sealignore_is_the_only_way_to_skip_a_tracked_file_and_is_listed() {
    let r = Repo::new();
    r.write(".gitignore", "fixtures/\n");
    r.write(".sealignore", "fixtures/\nloose.yaml\n");
    r.write("fixtures/a.yaml", PLAIN_SECRET);
    r.write("fixtures/deep/b.yaml", PLAIN_SECRET);
    r.write("loose.yaml", PLAIN_SECRET);
    r.write("cm.yaml", CONFIGMAP);
    r.git(&["add", "-f", "."]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 0, "{json}");
    let ignored: Vec<&str> = json["summary"]["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ignored, ["fixtures", "loose.yaml"], "{json}");
}

#[test]
fn git_missing_in_a_work_tree_fails_closed() {
    let r = Repo::new();
    r.write("apps/secret.yaml", PLAIN_SECRET);
    r.git(&["add", "."]);
    // No git on PATH: seal must not silently walk less (or differently).
    let out = r
        .seal()
        .env("PATH", "/nonexistent")
        .args(["check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("git"), "{stderr}");
}

// ------------------------------------------------------------------ repo-wide commands

/// `.sops.yaml` with one creation rule for `names`.
fn sops_config(r: &Repo, names: &[&str]) {
    let rs: Vec<String> = names.iter().map(|n| recipient(n)).collect();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.ya?ml$\n    age: {}\n",
            rs.join(",")
        ),
    );
}

#[test]
fn updatekeys_all_rotate_updates_a_tracked_but_ignored_file() {
    let r = Repo::new();
    sops_config(&r, &["alice", "bob"]);
    r.write(".gitignore", "vendored/\n");
    for f in ["apps/x.yaml", "vendored/y.yaml"] {
        r.write(f, "password: s3cret\n");
        r.seal().args(["encrypt", "-i", f]).assert().success();
    }
    r.git(&["add", "-f", "."]);
    sops_config(&r, &["alice", "carol"]);
    let out = r
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "--all", "-y", "--rotate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 files: 2 changed"), "{stderr}");
    for f in ["apps/x.yaml", "vendored/y.yaml"] {
        let text = fs::read_to_string(r.dir.join(f)).unwrap();
        assert!(text.contains(&recipient("carol")), "{f}: {text}");
        assert!(
            !text.contains(&recipient("bob")),
            "{f} keeps the removed recipient: {text}"
        );
    }
}

#[test]
fn repo_wide_commands_list_what_sealignore_skips() {
    let r = Repo::new();
    sops_config(&r, &["alice"]);
    r.write(".sealignore", "fixtures/\n");
    for f in ["apps/x.yaml", "fixtures/y.yaml"] {
        r.write(f, "password: s3cret\n");
        r.seal().args(["encrypt", "-i", f]).assert().success();
    }
    r.git(&["add", "."]);
    let out = r
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["rotate", "-i", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 files: 1 changed"), "{stderr}");
    assert!(
        stderr.contains(".sealignore") && stderr.contains("fixtures"),
        "{stderr}"
    );
    let out = r.seal().args(["doctor"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok       apps/x.yaml"), "{stdout}");
    assert!(
        stdout.contains(".sealignore") && stdout.contains("fixtures"),
        "{stdout}"
    );
}

#[test]
fn doctor_and_git_setup_see_a_tracked_but_ignored_sops_file() {
    let r = Repo::new();
    sops_config(&r, &["alice"]);
    r.write(".gitignore", "vendored/\n");
    r.write("vendored/y.yaml", "password: s3cret\n");
    r.seal()
        .args(["encrypt", "-i", "vendored/y.yaml"])
        .assert()
        .success();
    r.git(&["add", "-f", "."]);
    let out = r.seal().args(["doctor"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("vendored/y.yaml"), "{stdout}");
    // A path_regex with no glob form: git setup lists each existing file by name.
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^(vendored|apps)/.*\\.ya?ml$\n    age: {}\n",
            recipient("alice")
        ),
    );
    r.seal()
        .args(["git", "setup", "--dry-run"])
        .assert()
        .success();
    let out = r.seal().args(["git", "setup"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let attrs = fs::read_to_string(r.dir.join(".gitattributes")).unwrap();
    assert!(attrs.contains("/vendored/y.yaml"), "{attrs}");
}

// ------------------------------------------------------------------ symbolic links

#[test]
fn symlink_to_a_directory_named_as_a_path_is_walked() {
    let r = Repo::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.yaml"), PLAIN_SECRET).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.dir.join("linkdir")).unwrap();
    let (code, json) = r.check_json(&["linkdir"]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(finding_paths(&json), ["linkdir/secret.yaml"], "{json}");
    // A link to a file, named on the command line, is followed too.
    std::os::unix::fs::symlink(outside.path().join("secret.yaml"), r.dir.join("f.yaml")).unwrap();
    let (code, json) = r.check_json(&["f.yaml"]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(finding_paths(&json), ["f.yaml"], "{json}");
    // Outside git too.
    let plain = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), plain.path().join("l")).unwrap();
    let out = seal(&r.home)
        .current_dir(plain.path())
        .args(["check", "l"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn symlinks_inside_the_walk_are_not_followed_but_counted() {
    let r = Repo::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.yaml"), PLAIN_SECRET).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.dir.join("tracked-link")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        r.dir.join("file-link.yaml"),
    )
    .unwrap();
    r.git(&["add", "tracked-link"]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["summary"]["skipped_symlinks"], 2, "{json}");
    // The repo-wide commands say so too.
    sops_config(&r, &["alice"]);
    let out = r
        .seal()
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["updatekeys", "--all", "-y"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 symbolic link"), "{stderr}");
}

// ------------------------------------------------------------------ --staged

#[test]
fn staged_type_change_from_symlink_to_file_is_checked() {
    let r = Repo::new();
    r.write("target.yaml", CONFIGMAP);
    std::os::unix::fs::symlink("target.yaml", r.dir.join("secret.yaml")).unwrap();
    r.git(&["add", "."]);
    r.git(&["commit", "-qm", "link"]);
    fs::remove_file(r.dir.join("secret.yaml")).unwrap();
    r.write("secret.yaml", PLAIN_SECRET);
    r.git(&["add", "secret.yaml"]);
    assert!(r.git(&["status", "--porcelain"]).contains("T  secret.yaml"));
    let (code, json) = r.check_json(&["--staged"]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(finding_paths(&json), ["secret.yaml"], "{json}");
}

#[test]
fn staged_names_beginning_with_a_colon_are_read_by_object_id() {
    for name in [
        ":0:secret.yaml",
        "0:secret.yaml",
        "2:x.yaml",
        ":secret.yaml",
        "a:0:b.yaml",
    ] {
        let r = Repo::new();
        r.write(name, PLAIN_SECRET);
        r.git(&["add", "--", &format!(":(literal){name}")]);
        let (code, json) = r.check_json(&["--staged"]);
        assert_eq!(code, 1, "{name}: {json}");
        assert_eq!(finding_paths(&json), [name], "{json}");
    }
}

#[test]
fn staged_submodule_is_skipped_with_a_note() {
    let r = Repo::new();
    r.write("a.yaml", CONFIGMAP);
    r.git(&["add", "."]);
    r.git(&["commit", "-qm", "a"]);
    let head = r.git(&["rev-parse", "HEAD"]);
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{},vendor/sub", head.trim()),
    ]);
    r.write("leak.yaml", PLAIN_SECRET);
    r.git(&["add", "leak.yaml"]);
    let out = r
        .seal()
        .args(["check", "--staged", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(finding_paths(&json), ["leak.yaml"], "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vendor/sub") && stderr.contains("submodule"),
        "{stderr}"
    );
}

#[test]
fn staged_deleted_file_is_not_checked() {
    let r = Repo::new();
    r.write("old.yaml", PLAIN_SECRET);
    r.git(&["add", "."]);
    r.git(&["commit", "-qm", "old"]);
    r.git(&["rm", "-q", "old.yaml"]);
    let (code, json) = r.check_json(&["--staged"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["summary"]["files_checked"], 0, "{json}");
}

// ------------------------------------------------------------------ .sops.yaml

#[test]
fn nested_sops_yaml_holding_a_secret_is_checked_as_yaml() {
    let r = Repo::new();
    r.write("apps/.sops.yaml", PLAIN_SECRET);
    r.git(&["add", "."]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(finding_paths(&json), ["apps/.sops.yaml"], "{json}");
}

#[test]
fn sops_yaml_secret_in_a_later_document_is_checked() {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {}\n---\n{PLAIN_SECRET}",
            recipient("alice")
        ),
    );
    r.write("apps/cm.yaml", CONFIGMAP);
    r.git(&["add", "."]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == ".sops.yaml" && f["rule"] == "plaintext-secret"),
        "{json}"
    );
    // A real configuration alone stays clean.
    sops_config(&r, &["alice"]);
    let (code, json) = r.check_json(&[]);
    assert_eq!(code, 0, "{json}");
}
