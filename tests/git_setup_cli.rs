//! `seal git setup` on the `.sops.yaml` that `seal new-key --add-to-config` writes (the
//! getting-started rule `kubernetes/.*\.sops\.ya?ml$`): the rule becomes globs, not one
//! line per file, and real `git check-attr` agrees with the regex on every path.

mod common;

use std::path::Path;
use std::process::Command;

use common::seal;

fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .env_clear()
        .env("SEAL_NO_KEYRING", "1")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {o:?}");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn the_rule_new_key_writes_becomes_globs_that_git_agrees_with() {
    let t = tempfile::tempdir().unwrap();
    let (dir, home) = (t.path().join("repo"), t.path().join("home"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    git(&dir, &home, &["init", "-q"]);
    let key = home.join("k.txt");
    seal(&home)
        .current_dir(&dir)
        .args(["new-key", "--add-to-config", "-o"])
        .arg(&key)
        .assert()
        .success();
    let cfg = std::fs::read_to_string(dir.join(".sops.yaml")).unwrap();
    let regex_text = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("- path_regex: "))
        .expect("a path_regex")
        .to_string();
    // Two encrypted files the rule covers.
    for rel in [
        "kubernetes/apps/a/secret.sops.yaml",
        "kubernetes/b.sops.yml",
    ] {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "apiVersion: v1\nkind: Secret\nstringData:\n  A: b\n").unwrap();
        seal(&home)
            .current_dir(&dir)
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["encrypt", "-i", rel])
            .assert()
            .success();
    }
    let a = seal(&home)
        .current_dir(&dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["git", "setup"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(!err.contains("cannot be written as a glob"), "{err}");
    let attrs = std::fs::read_to_string(dir.join(".gitattributes")).unwrap();
    assert!(
        !attrs.lines().any(|l| l.starts_with("/kubernetes/")),
        "no file listed one by one: {attrs}"
    );
    let re = regex::Regex::new(&regex_text).unwrap();
    for p in [
        "kubernetes/apps/a/secret.sops.yaml",
        "kubernetes/b.sops.yml",
        "kubernetes/x/y/z/c.sops.yaml",
        "kubernetes/apps/a/helmrelease.yaml",
        "apps/secret.sops.yaml",
        "infra/kubernetes/d.sops.yaml",
        "kubernetes/e.sops.json",
    ] {
        let out = git(&dir, &home, &["check-attr", "diff", "--", p]);
        let git_says = out.trim_end().ends_with("diff: sops");
        assert_eq!(
            git_says,
            re.is_match(p),
            "{p}: git says {out:?}, regex {regex_text}\n{attrs}"
        );
    }
}
