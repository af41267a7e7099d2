//! `seal check` as a pre-commit hook, run by the real `pre-commit` framework (installed into
//! `.venv/` by scripts/install-peers.sh; these tests fail when it is missing): in a temp git
//! repository, a commit of a plaintext Secret is refused and an encrypted one passes; and
//! the shipped `.pre-commit-hooks.yaml` is a valid manifest whose hook does the same.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{recipient, seal, venv_tool};

/// The seal binary under test.
fn seal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seal"))
}

/// A made-up value: the tests also check that it never appears in seal's output.
const VALUE: &str = "hunter2-precommit-test-value";

fn secret_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\nstringData:\n  password: {VALUE}\n"
    )
}

/// A hermetic temp git repository with its own HOME and pre-commit cache.
struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    home: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        let home = root.join("home");
        std::fs::create_dir_all(&repo).expect("repo dir");
        std::fs::create_dir_all(&home).expect("home dir");
        let s = Sandbox {
            _dir: dir,
            root,
            repo,
            home,
        };
        s.git(&["init", "-q", "-b", "main"]);
        s.git(&["config", "user.name", "Seal Test"]);
        s.git(&["config", "user.email", "seal-test@example.invalid"]);
        s.git(&["config", "commit.gpgsign", "false"]);
        s
    }

    /// A command with the sandbox's environment only (PATH first has the seal under test).
    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let bin_dir = seal_bin()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        c.env_clear()
            .env("SEAL_NO_KEYRING", "1")
            .current_dir(&self.repo)
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PRE_COMMIT_HOME", self.root.join("pre-commit-cache"))
            .env("PRE_COMMIT_COLOR", "never");
        c
    }

    fn git_output(&self, args: &[&str]) -> Output {
        self.cmd(Path::new("git"))
            .args(args)
            .output()
            .expect("run git")
    }

    fn git(&self, args: &[&str]) {
        let out = self.git_output(args);
        assert!(out.status.success(), "git {args:?} failed: {}", text(&out));
    }

    fn pre_commit(&self, args: &[&str]) -> Output {
        self.cmd(&venv_tool("pre-commit"))
            .args(args)
            .output()
            .expect("run pre-commit")
    }

    fn write(&self, name: &str, content: &str) {
        let p = self.repo.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    /// `git add FILE && git commit`, through the installed hook.
    fn commit(&self, file: &str, message: &str) -> Output {
        self.git(&["add", file]);
        self.git_output(&["commit", "-q", "-m", message])
    }

    fn committed_files(&self) -> String {
        let out = self.git_output(&["ls-tree", "-r", "--name-only", "HEAD"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Single-quotes `s` for the shell-like parsing pre-commit applies to `entry`.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_local_hook_refuses_a_plaintext_secret_and_passes_an_encrypted_one() {
    let s = Sandbox::new();
    let bin = seal_bin();
    let config = format!(
        "repos:\n  - repo: local\n    hooks:\n      - id: seal-check\n        name: seal check\n        entry: {}\n        language: system\n        pass_filenames: true\n        types: [text]\n",
        // A JSON string is a YAML double-quoted scalar; inside it, shell-like quoting.
        serde_json::Value::from(format!("{} check", quoted(&bin.to_string_lossy())))
    );
    s.write(".pre-commit-config.yaml", &config);
    let out = s.pre_commit(&["install"]);
    assert!(out.status.success(), "pre-commit install: {}", text(&out));
    let out = s.commit(".pre-commit-config.yaml", "hook config");
    assert!(
        out.status.success(),
        "committing the config: {}",
        text(&out)
    );

    // A plaintext Secret: the commit is refused, and the output names the file and rule.
    s.write("apps/db/secret.yaml", &secret_yaml("db"));
    let out = s.commit("apps/db/secret.yaml", "add db secret");
    let shown = text(&out);
    assert!(!out.status.success(), "the commit went through: {shown}");
    assert!(shown.contains("apps/db/secret.yaml"), "{shown}");
    assert!(shown.contains("plaintext-secret"), "{shown}");
    assert!(
        !shown.contains(VALUE),
        "the secret value was printed: {shown}"
    );
    assert!(
        !s.committed_files().contains("secret.yaml"),
        "the plaintext Secret is in HEAD"
    );

    // The same file encrypted (as the user would fix it): the commit passes.
    seal(&s.home)
        .current_dir(&s.repo)
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg("apps/db/secret.yaml")
        .assert()
        .success();
    let out = s.commit("apps/db/secret.yaml", "add db secret, encrypted");
    assert!(
        out.status.success(),
        "an encrypted Secret was refused: {}",
        text(&out)
    );
    assert!(
        s.committed_files().contains("apps/db/secret.yaml"),
        "{}",
        s.committed_files()
    );

    // A harmless file next to it passes too (no false positive on a ConfigMap).
    s.write(
        "apps/db/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata:\n  mode: fast\n",
    );
    let out = s.commit("apps/db/config.yaml", "add db config");
    assert!(
        out.status.success(),
        "a ConfigMap was refused: {}",
        text(&out)
    );
}

#[test]
fn the_shipped_manifest_is_valid_and_its_system_hook_works() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    let s = Sandbox::new();
    let out = s.pre_commit(&["validate-manifest", &manifest.to_string_lossy()]);
    assert!(
        out.status.success(),
        ".pre-commit-hooks.yaml is not a valid manifest: {}",
        text(&out)
    );
    let doc = std::fs::read_to_string(&manifest).expect("manifest");
    for needle in [
        "- id: seal-check\n",
        "- id: seal-check-system\n",
        "entry: seal check\n",
        "language: rust\n",
        "language: system\n",
        "pass_filenames: true\n",
        "types: [text]\n",
    ] {
        assert!(doc.contains(needle), "manifest lacks {needle:?}");
    }

    // Run the manifest's own `seal-check-system` hook (seal found on PATH) through
    // `pre-commit try-repo`, on a copy of the manifest in a repository of its own.
    let hooks = s.root.join("hooks-repo");
    std::fs::create_dir_all(&hooks).expect("hooks dir");
    std::fs::write(hooks.join(".pre-commit-hooks.yaml"), &doc).expect("copy manifest");
    let mut git = s.cmd(Path::new("git"));
    let ok = git
        .current_dir(&hooks)
        .args(["init", "-q", "-b", "main"])
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    assert!(ok, "git init of the hooks repo");
    for args in [
        &["add", ".pre-commit-hooks.yaml"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "-m",
            "hooks",
        ][..],
    ] {
        let out = s
            .cmd(Path::new("git"))
            .current_dir(&hooks)
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    }

    s.write("secret.yaml", &secret_yaml("api"));
    s.write("notes.txt", "nothing secret here\n");
    s.git(&["add", "secret.yaml", "notes.txt"]);
    let hooks_arg = hooks.to_string_lossy().into_owned();
    let out = s.pre_commit(&[
        "try-repo",
        &hooks_arg,
        "seal-check-system",
        "--files",
        "secret.yaml",
        "notes.txt",
    ]);
    let shown = text(&out);
    assert!(
        !out.status.success(),
        "the hook passed a plaintext Secret: {shown}"
    );
    assert!(shown.contains("secret.yaml"), "{shown}");
    assert!(shown.contains("plaintext-secret"), "{shown}");
    assert!(
        !shown.contains(VALUE),
        "the secret value was printed: {shown}"
    );

    let out = s.pre_commit(&[
        "try-repo",
        &hooks_arg,
        "seal-check-system",
        "--files",
        "notes.txt",
    ]);
    assert!(
        out.status.success(),
        "the hook refused a plain text file: {}",
        text(&out)
    );
}
