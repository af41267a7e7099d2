//! The fixture the seal-as-sops differential tests share (tests/sops_cli.rs,
//! tests/sops_cli_commands.rs): the plaintext inputs, the same files encrypted by the real
//! sops, the configs and keyring the cases use, and how one tool is run on a fresh copy.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{self, key_file, recipient, sops};

/// What a case's standard output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Plaintext: compared byte for byte.
    Plain,
    /// An encrypted document of this extension: decrypted by the real sops, then compared.
    Encrypted(&'static str),
}

pub struct Case {
    pub name: String,
    pub args: Vec<String>,
    pub kind: Kind,
    pub stdin: Option<&'static str>,
    pub env: Vec<(&'static str, String)>,
}

pub const PLAIN: &[(&str, &str)] = &[
    (
        "yaml",
        "a: 1\nb: two\nnested:\n    x: deep\n    y_u: open\nlist:\n    - first\n    - second\n",
    ),
    (
        "json",
        "{\n\t\"a\": 1,\n\t\"b\": \"two\",\n\t\"nested\": {\n\t\t\"x\": \"deep\",\n\t\t\"y_u\": \"open\"\n\t},\n\t\"list\": [\n\t\t\"first\",\n\t\t\"second\"\n\t]\n}",
    ),
    ("env", "A=1\nB=two\n"),
    ("bin", "raw bytes\n\u{1}\u{2}\n"),
];

pub const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n    name: s\nstringData:\n    token: abc\n";

/// The inputs every case starts from: plaintext files, the same files encrypted by the
/// real sops for alice (made once, copied into both work directories), a rules folder.
pub struct Fixture {
    pub _tmp: tempfile::TempDir,
    pub seed: PathBuf,
    pub home: PathBuf,
    pub link: PathBuf,
}

pub fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    let home = tmp.path().join("home");
    let bin = tmp.path().join("bin");
    for d in [&seed, &home, &bin, &seed.join("rules")] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The sops functional suite's PGP test key in HOME's keyring (for --add-pgp/--rm-pgp).
    {
        use std::os::unix::fs::PermissionsExt;
        let gnupg = home.join(".gnupg");
        std::fs::create_dir_all(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        let o = Command::new("gpg")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .args(["--batch", "--import"])
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/keys/sops_functional_tests_key.asc"),
            )
            .output()
            .expect("gpg is required: install gnupg (scripts/install-peers.sh)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let link = bin.join("sops");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
    for (ext, text) in PLAIN {
        std::fs::write(seed.join(format!("p.{ext}")), text).unwrap();
        let o = sops(&home)
            .current_dir(&seed)
            .args(["encrypt", "--age", &recipient("alice")])
            .arg(format!("p.{ext}"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::write(seed.join(format!("e.{ext}")), o.stdout).unwrap();
    }
    std::fs::write(seed.join("secret.yaml"), SECRET).unwrap();
    std::fs::write(seed.join("ml.yaml"), "multiline: |\n  multi\n  line").unwrap();
    let o = sops(&home)
        .current_dir(&seed)
        .args(["encrypt", "--age", &recipient("alice"), "ml.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(seed.join("ml-e.yaml"), o.stdout).unwrap();
    std::fs::write(
        seed.join("kg.sops.yaml"),
        "creation_rules:\n  - path_regex: kg-none\\.yaml$\n  - path_regex: kg-zero\\.yaml$\n    key_groups: []\n  - path_regex: kg-empty\\.yaml$\n    key_groups:\n      - {}\n",
    )
    .unwrap();
    for f in ["none", "zero", "empty"] {
        std::fs::write(seed.join(format!("kg-{f}.yaml")), "a: secret\n").unwrap();
    }
    let (a, b, c) = (recipient("alice"), recipient("bob"), recipient("carol"));
    std::fs::write(
        seed.join("fields.sops.yaml"),
        format!(
            "stores:\n  yaml:\n    indent: 2\n  json:\n    indent: 2\n  json_binary:\n    indent: 3\n  dotenv: {{}}\n  ini: {{}}\n\
             creation_rules:\n\
             \x20 - path_regex: f-mac\\.yaml$\n    mac_only_encrypted: true\n    encrypted_regex: ^b$\n    age: {a}\n\
             \x20 - path_regex: f-shamir\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{a}]\n      - merge:\n          - age: [{a}, {b}]\n      - age: [{c}]\n\
             \x20 - path_regex: f-ucr\\.yaml$\n    unencrypted_comment_regex: keep\n    age: {a}\n\
             \x20 - path_regex: f-ecr\\.yaml$\n    encrypted_comment_regex: enc\n    age: [{a}]\n\
             \x20 - path_regex: f-flat-pgp-age\\.yaml$\n    age: '{a},{b}'\n    pgp: ''\n"
        ),
    )
    .unwrap();
    for f in ["mac", "shamir", "ucr", "ecr", "flat-pgp-age"] {
        std::fs::write(
            seed.join(format!("f-{f}.yaml")),
            "a: 1\n# keep this\nb: two\n# enc\nc: three\n",
        )
        .unwrap();
    }
    // Three key groups, threshold 2 (alice; alice and bob; carol): alice opens two, so the
    // groups add/delete cases can be decrypted with her key alone.
    let o = sops(&home)
        .current_dir(&seed)
        .args(["--config", "fields.sops.yaml", "encrypt", "f-shamir.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(seed.join("g3.yaml"), o.stdout).unwrap();
    // The editor for the edit cases: changes one value in the decrypted buffer.
    let ed = seed.join("ed.sh");
    std::fs::write(&ed, "#!/bin/sh\nsed -i 's/two/three/' \"$1\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // An editor that writes a whole document (for new files), and one that changes nothing.
    for (name, body) in [
        ("wr.sh", "#!/bin/sh\nprintf 'a: 1\\nb: two\\n' > \"$1\"\n"),
        ("noop.sh", "#!/bin/sh\ntrue\n"),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(seed.join(name), body).unwrap();
        std::fs::set_permissions(seed.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(seed.join("rules/p.yaml"), PLAIN[0].1).unwrap();
    std::fs::write(
        seed.join("rules/.sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: p\\.yaml$\n    encrypted_regex: ^(b|list)$\n    age: {}\n",
            recipient("bob")
        ),
    )
    .unwrap();
    std::fs::write(
        seed.join("other.sops.yaml"),
        format!(
            "creation_rules:\n  - unencrypted_suffix: _u\n    age: >-\n      {},\n      {}\n",
            recipient("alice"),
            recipient("carol")
        ),
    )
    .unwrap();
    Fixture {
        _tmp: tmp,
        seed,
        home,
        link,
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Run one tool (`program`: the real sops or the `sops` link) on a fresh copy of the seed.
pub fn run(fx: &Fixture, program: &Path, dir: &Path, case: &Case) -> Output {
    copy_dir(&fx.seed, dir);
    let mut c = Command::new(program);
    c.env_clear()
        .current_dir(dir)
        .env("HOME", &fx.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .envs(case.env.iter().map(|(k, v)| (*k, v)))
        .args(&case.args);
    match case.stdin {
        Some(spec) => {
            let file = spec.strip_prefix("STDIN:").unwrap();
            c.stdin(std::fs::File::open(dir.join(file)).unwrap());
        }
        None => {
            c.stdin(std::process::Stdio::null());
        }
    }
    c.output().unwrap()
}

/// Decrypt `bytes` (an encrypted document of `ext`) with the real sops.
pub fn real_decrypt(
    fx: &Fixture,
    scratch: &Path,
    ext: &str,
    bytes: &[u8],
) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(scratch).unwrap();
    let f = scratch.join(format!("x.{ext}"));
    std::fs::write(&f, bytes).unwrap();
    let o = Command::new(common::sops_bin())
        .env_clear()
        .env("HOME", &fx.home)
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .args(["decrypt"])
        .arg(&f)
        .output()
        .unwrap();
    if o.status.success() {
        Ok(o.stdout)
    } else {
        Err(format!(
            "exit {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}
