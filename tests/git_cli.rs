//! `seal git setup`, the textconv diff driver and the merge driver, with real `git` in
//! temporary repositories (GIT_CONFIG_GLOBAL=/dev/null, a fixed identity).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{key_file, recipient, seal};

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
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let r = Repo {
            _tmp: tmp,
            dir,
            home,
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn git_cmd(&self) -> Command {
        let mut c = Command::new("git");
        c.current_dir(&self.dir)
            .env_clear()
            .env("SEAL_NO_KEYRING", "1")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("SOPS_AGE_KEY_FILE", key_file("alice"));
        c
    }

    fn git_out(&self, args: &[&str]) -> Output {
        self.git_cmd().args(args).output().unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        let o = self.git_out(args);
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn seal(&self) -> assert_cmd::Command {
        let mut c = seal(&self.home);
        c.current_dir(&self.dir)
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        c
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }

    fn encrypt(&self, rel: &str) {
        self.seal().args(["encrypt", "-i", rel]).assert().success();
    }

    fn decrypt(&self, rel: &str) -> String {
        let o = self.seal().args(["decrypt", rel]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    fn set_value(&self, rel: &str, from: &str, to: &str) {
        // Edit through seal edit with a sed editor (keeps the data key and ciphertexts).
        let script = self.home.join("sed-editor.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nsed -i 's/{from}/{to}/' \"$1\"\n"),
        )
        .unwrap();
        make_executable(&script);
        self.seal()
            .env("EDITOR", &script)
            .env("XDG_RUNTIME_DIR", &self.home)
            .args(["edit", rel])
            .assert()
            .success();
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    USER: alice\n    PASSWORD: hunter2\n    HOST: db.local\n";

fn repo_with_secret() -> Repo {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {}\n",
            recipient("alice")
        ),
    );
    r.write("secrets/db.yaml", SECRET);
    r.encrypt("secrets/db.yaml");
    r.seal().args(["git", "setup"]).assert().success();
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "init"]);
    r
}

#[test]
fn setup_writes_gitattributes_and_config_idempotently() {
    let r = repo_with_secret();
    let attrs = std::fs::read_to_string(r.dir.join(".gitattributes")).unwrap();
    assert!(
        attrs.contains("**/*secrets/**/*.yaml diff=sops merge=sops"),
        "{attrs}"
    );
    let check = r.git(&["check-attr", "diff", "merge", "--", "secrets/db.yaml"]);
    assert!(
        check.contains("diff: sops") && check.contains("merge: sops"),
        "{check}"
    );
    let textconv = r.git(&["config", "diff.sops.textconv"]);
    assert!(textconv.trim().ends_with("git diff"), "{textconv}");
    let driver = r.git(&["config", "merge.sops.driver"]);
    assert!(driver.trim().ends_with("git merge %O %A %B %P"), "{driver}");
    assert!(
        r.git_out(&["config", "diff.sops.cachetextconv"])
            .stdout
            .is_empty()
    );
    // A second run adds nothing.
    r.seal().args(["git", "setup"]).assert().success();
    assert_eq!(
        std::fs::read_to_string(r.dir.join(".gitattributes")).unwrap(),
        attrs
    );
}

#[test]
fn setup_lists_files_a_regex_cannot_cover() {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: (dev|prod)/.*\\.yaml$\n    age: {}\n",
            recipient("alice")
        ),
    );
    r.write("prod/app.yaml", SECRET);
    r.encrypt("prod/app.yaml");
    r.write("prod/plain.yaml", "a: 1\n");
    r.seal().args(["git", "setup"]).assert().success();
    let attrs = std::fs::read_to_string(r.dir.join(".gitattributes")).unwrap();
    assert!(
        attrs.contains("/prod/app.yaml diff=sops merge=sops"),
        "{attrs}"
    );
    assert!(!attrs.contains("plain.yaml"), "{attrs}");
}

#[test]
fn diff_shows_the_changed_plaintext_key() {
    let r = repo_with_secret();
    r.set_value("secrets/db.yaml", "hunter2", "correct-horse");
    let d = r.git(&["diff"]);
    assert!(d.contains("-    PASSWORD: hunter2"), "{d}");
    assert!(d.contains("+    PASSWORD: correct-horse"), "{d}");
    assert!(!d.contains("ENC["), "{d}");
    // Also for committed history (git hands textconv a temporary path).
    r.git(&["commit", "-qam", "pw"]);
    let d = r.git(&["log", "-p", "-1", "--", "secrets/db.yaml"]);
    assert!(d.contains("+    PASSWORD: correct-horse"), "{d}");
    // Without the textconv, only ciphertext changed lines are visible.
    let raw = r.git(&["diff", "--no-textconv", "HEAD~1", "--", "secrets/db.yaml"]);
    assert!(!raw.contains("correct-horse"));
}

#[test]
fn textconv_passes_plain_files_through() {
    let r = Repo::new();
    r.write("notes.yaml", "a: 1\n");
    let out = r
        .seal()
        .args(["git", "diff", "notes.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"a: 1\n");
}

#[test]
fn merge_of_different_keys_succeeds_and_decrypts() {
    let r = repo_with_secret();
    r.git(&["checkout", "-qb", "feature"]);
    r.set_value("secrets/db.yaml", "hunter2", "from-feature");
    r.git(&["commit", "-qam", "feature pw"]);
    r.git(&["checkout", "-q", "main"]);
    r.set_value("secrets/db.yaml", "db.local", "db.prod");
    r.git(&["commit", "-qam", "main host"]);
    let before = std::fs::read_to_string(r.dir.join("secrets/db.yaml")).unwrap();
    let o = r.git_out(&["merge", "-q", "--no-edit", "feature"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain = r.decrypt("secrets/db.yaml");
    assert!(plain.contains("PASSWORD: from-feature"), "{plain}");
    assert!(plain.contains("HOST: db.prod"), "{plain}");
    assert!(plain.contains("USER: alice"), "{plain}");
    // USER was changed by nobody: its ciphertext line is byte-identical.
    let after = std::fs::read_to_string(r.dir.join("secrets/db.yaml")).unwrap();
    let user = |t: &str| t.lines().find(|l| l.contains("USER:")).unwrap().to_string();
    assert_eq!(user(&before), user(&after));
    // The real sops agrees the merged file is intact (MAC).
    let s = common::sops(&r.home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .arg("decrypt")
        .arg(r.dir.join("secrets/db.yaml"))
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
}

#[test]
fn conflicting_change_is_reported_never_resolved() {
    let r = repo_with_secret();
    r.git(&["checkout", "-qb", "feature"]);
    r.set_value("secrets/db.yaml", "hunter2", "theirs-pw");
    r.git(&["commit", "-qam", "feature pw"]);
    r.git(&["checkout", "-q", "main"]);
    r.set_value("secrets/db.yaml", "hunter2", "ours-pw");
    r.git(&["commit", "-qam", "main pw"]);
    let o = r.git_out(&["merge", "--no-edit", "feature"]);
    assert!(!o.status.success(), "the merge must not succeed");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains(r#"["stringData"]["PASSWORD"]"#), "{all}");
    assert!(
        !all.contains("ours-pw") && !all.contains("theirs-pw"),
        "no values in messages: {all}"
    );
    let status = r.git(&["status", "--porcelain"]);
    assert!(status.contains("UU secrets/db.yaml"), "{status}");
    // The file is still encrypted; decrypted, it shows both values in a conflict block.
    let raw = std::fs::read_to_string(r.dir.join("secrets/db.yaml")).unwrap();
    assert!(
        !raw.contains("ours-pw") && !raw.contains("<<<<<<<"),
        "{raw}"
    );
    let plain = r.decrypt("secrets/db.yaml");
    assert!(plain.contains("<<<<<<< ours"), "{plain}");
    assert!(plain.contains("ours-pw") && plain.contains("theirs-pw") && plain.contains("hunter2"));
}

#[test]
fn merge_driver_works_on_git_temp_names_without_extensions() {
    // Direct call, as git does, with names that say nothing about the format.
    let r = repo_with_secret();
    let f = r.dir.join("secrets/db.yaml");
    let base = r.dir.join(".merge_file_base");
    std::fs::copy(&f, &base).unwrap();
    r.set_value("secrets/db.yaml", "alice", "bob");
    let theirs = r.dir.join(".merge_file_theirs");
    std::fs::copy(&f, &theirs).unwrap();
    let ours = r.dir.join(".merge_file_ours");
    std::fs::copy(&base, &ours).unwrap();
    r.seal()
        .args(["git", "merge"])
        .arg(&base)
        .arg(&ours)
        .arg(&theirs)
        .assert()
        .success();
    let o = r
        .seal()
        .args(["decrypt", "--input-type", "yaml"])
        .arg(&ours)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("USER: bob"));
}

impl Repo {
    /// Replace `rel` with `plain` encrypted for `recipients` (as someone on a branch would).
    fn encrypt_for(&self, rel: &str, plain: &str, recipients: &[String]) {
        self.write(rel, plain);
        self.seal()
            .args(["encrypt", "-i", "--age", &recipients.join(","), rel])
            .assert()
            .success();
    }

    fn sops_decrypt_with(&self, rel: &str, who: &str) -> Output {
        common::sops(&self.home)
            .env("SOPS_AGE_KEY_FILE", key_file(who))
            .arg("decrypt")
            .arg(self.dir.join(rel))
            .output()
            .unwrap()
    }
}

#[test]
fn recipient_change_on_their_side_stops_the_merge_and_writes_no_plaintext() {
    let r = repo_with_secret();
    // Their branch: bob re-encrypts the file for himself as well, changing a value.
    r.git(&["checkout", "-qb", "feature"]);
    let theirs_plain = SECRET.replace("hunter2", "theirs-pw");
    r.encrypt_for(
        "secrets/db.yaml",
        &theirs_plain,
        &[recipient("alice"), recipient("bob")],
    );
    r.git(&["commit", "-qam", "bob adds himself"]);
    r.git(&["checkout", "-q", "main"]);
    r.set_value("secrets/db.yaml", "db.local", "db.prod-ours");
    r.git(&["commit", "-qam", "main host"]);
    let ours_bytes = std::fs::read(r.dir.join("secrets/db.yaml")).unwrap();
    let o = r.git_out(&["merge", "--no-edit", "feature"]);
    assert!(!o.status.success(), "the merge must stop");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains("recipients differ"), "{all}");
    assert!(
        all.contains(&format!("theirs added {}", recipient("bob"))),
        "{all}"
    );
    assert!(
        !all.contains("db.prod-ours") && !all.contains("theirs-pw"),
        "{all}"
    );
    let status = r.git(&["status", "--porcelain"]);
    assert!(status.contains("UU secrets/db.yaml"), "{status}");
    // The file is our version, byte for byte: bob cannot read our new value.
    assert_eq!(
        std::fs::read(r.dir.join("secrets/db.yaml")).unwrap(),
        ours_bytes
    );
    assert!(
        !r.sops_decrypt_with("secrets/db.yaml", "bob")
            .status
            .success()
    );
    let s = r.sops_decrypt_with("secrets/db.yaml", "alice");
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    assert!(String::from_utf8_lossy(&s.stdout).contains("HOST: db.prod-ours"));
}

#[test]
fn recipient_change_on_our_side_or_to_someone_else_only_is_named_too() {
    let r = repo_with_secret();
    // Theirs: encrypted for bob alone (seal cannot even decrypt it).
    r.git(&["checkout", "-qb", "feature"]);
    r.encrypt_for("secrets/db.yaml", SECRET, &[recipient("bob")]);
    r.git(&["commit", "-qam", "bob only"]);
    r.git(&["checkout", "-q", "main"]);
    // Ours: carol added.
    r.encrypt_for(
        "secrets/db.yaml",
        &SECRET.replace("hunter2", "ours-pw"),
        &[recipient("alice"), recipient("carol")],
    );
    r.git(&["commit", "-qam", "carol added"]);
    let ours_bytes = std::fs::read(r.dir.join("secrets/db.yaml")).unwrap();
    let o = r.git_out(&["merge", "--no-edit", "feature"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("ours added {}", recipient("carol"))),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "theirs added {}; removed {}",
            recipient("bob"),
            recipient("alice")
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read(r.dir.join("secrets/db.yaml")).unwrap(),
        ours_bytes
    );
}

#[test]
fn merge_result_is_encrypted_for_the_recipients_of_the_rule() {
    // The file was encrypted for alice and bob; .sops.yaml now names alice alone (nobody ran
    // updatekeys). Both sides keep the file's recipients and change different values: the
    // merged file is for alice only, with a new data key, and the real sops reads it.
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {}\n",
            recipient("alice")
        ),
    );
    r.encrypt_for(
        "secrets/db.yaml",
        SECRET,
        &[recipient("alice"), recipient("bob")],
    );
    r.seal().args(["git", "setup"]).assert().success();
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "init"]);
    r.git(&["checkout", "-qb", "feature"]);
    r.set_value("secrets/db.yaml", "hunter2", "from-feature");
    r.git(&["commit", "-qam", "feature pw"]);
    r.git(&["checkout", "-q", "main"]);
    r.set_value("secrets/db.yaml", "db.local", "db.prod");
    r.git(&["commit", "-qam", "main host"]);
    let o = r.git_out(&["merge", "-q", "--no-edit", "feature"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = r.sops_decrypt_with("secrets/db.yaml", "alice");
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let plain = String::from_utf8_lossy(&s.stdout);
    assert!(plain.contains("PASSWORD: from-feature") && plain.contains("HOST: db.prod"));
    assert!(
        !r.sops_decrypt_with("secrets/db.yaml", "bob")
            .status
            .success()
    );
    let raw = std::fs::read_to_string(r.dir.join("secrets/db.yaml")).unwrap();
    assert!(!raw.contains(&recipient("bob")), "{raw}");
}

#[test]
fn without_a_rule_the_merge_keeps_the_files_recipients() {
    let r = Repo::new();
    r.encrypt_for("db.yaml", SECRET, &[recipient("alice"), recipient("bob")]);
    r.seal().args(["git", "setup"]).assert().success();
    r.git(&["add", "-A"]);
    r.git(&["commit", "-qm", "init"]);
    r.git(&["checkout", "-qb", "feature"]);
    r.set_value("db.yaml", "hunter2", "from-feature");
    r.git(&["commit", "-qam", "feature pw"]);
    r.git(&["checkout", "-q", "main"]);
    r.set_value("db.yaml", "db.local", "db.prod");
    r.git(&["commit", "-qam", "main host"]);
    let o = r.git_out(&["merge", "-q", "--no-edit", "feature"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for who in ["alice", "bob"] {
        let s = r.sops_decrypt_with("db.yaml", who);
        assert!(
            s.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        let plain = String::from_utf8_lossy(&s.stdout);
        assert!(plain.contains("PASSWORD: from-feature") && plain.contains("HOST: db.prod"));
    }
}
