//! helm-secrets with seal linked as `sops`: the exact command lines helm-secrets's sops
//! backend (jkroepke/helm-secrets, scripts/lib/backends/sops.sh) runs — `--encrypt` and
//! `--decrypt` with `--input-type T --output-type T` and `--in-place`, `--output FILE`
//! or standard output; a literal piped to `--decrypt --input-type json --output-type json
//! /dev/stdin`; `SECRET_BACKEND_ARGS` put before them; the legacy edit — and its format
//! sniffing (`grep -xq 'sops:\s*'`, `grep -q 'mac.*,type:str]'`, `grep -q '"data":
//! "ENC'`), which seal's files must pass. helm is not needed: these are the calls it makes.
//! Each call also runs against the real sops, and the results are compared.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sandbox, key_file, recipient};

/// The two programs helm-secrets may find as `sops`.
#[derive(Clone, Copy, Debug)]
enum Sops {
    Seal,
    Real,
}

struct Helm {
    sb: Sandbox,
    link: PathBuf,
}

impl Helm {
    fn new() -> Helm {
        let sb = Sandbox::new();
        let bin = sb.home.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let link = bin.join("sops");
        std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
        // helm-secrets relies on .sops.yaml for the recipients.
        std::fs::write(
            sb.dir.join(".sops.yaml"),
            format!("creation_rules:\n  - age: {}\n", recipient("alice")),
        )
        .unwrap();
        Helm { sb, link }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.sb.dir.join(name)
    }

    /// `_sops ARGS`: `set -- ${SECRET_BACKEND_ARGS} "$@"; $_SOPS "$@"` — the backend
    /// args split on whitespace, before the call's own.
    fn sops(&self, which: Sops, backend_args: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let exe = match which {
            Sops::Seal => self.link.clone(),
            Sops::Real => common::sops_bin(),
        };
        let mut c = Command::new(exe);
        c.env_clear()
            .env("HOME", &self.sb.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SEAL_NO_KEYRING", "1")
            .env("SOPS_AGE_KEY_FILE", key_file("alice"))
            .env("TMPDIR", &self.sb.rt)
            .current_dir(&self.sb.dir)
            .args(backend_args.split_whitespace())
            .args(args);
        match stdin {
            Some(bytes) => {
                use std::io::Write;
                c.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = c.spawn().unwrap();
                child.stdin.take().unwrap().write_all(bytes).unwrap();
                child.wait_with_output().unwrap()
            }
            None => c.output().unwrap(),
        }
    }

    fn ok(&self, which: Sops, backend_args: &str, args: &[&str]) -> Vec<u8> {
        let out = self.sops(which, backend_args, args, None);
        assert!(
            out.status.success(),
            "{which:?} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// `grep ARGS FILE` succeeds (the sniffing helm-secrets does).
fn grep(args: &[&str], file: &Path) -> bool {
    Command::new("grep")
        .args(args)
        .arg(file)
        .status()
        .expect("grep")
        .success()
}

/// `_sops_dec_get_type`: yaml when a line is `sops:` (trailing blanks allowed), binary
/// when a line has `"data": "ENC`, else json.
fn dec_type(file: &Path) -> &'static str {
    if grep(&["-xq", r"sops:\s*"], file) {
        "yaml"
    } else if grep(&["-q", r#""data": "ENC"#], file) {
        "binary"
    } else {
        "json"
    }
}

/// `_sops_backend_is_file_encrypted`.
fn is_encrypted(file: &Path) -> bool {
    grep(&["-q", "mac.*,type:str]"], file)
}

const VALUES: &str = "# helm values\nimage:\n    tag: \"1.2\"\ndb:\n    password: hunter2\n    port: 5432\nlist:\n    - a\n    - b\n";

#[test]
fn encrypt_calls_make_files_helm_secrets_recognises_and_sops_decrypts() {
    let h = Helm::new();
    for which in [Sops::Seal, Sops::Real] {
        // --in-place (input = output).
        std::fs::write(h.path("secrets.yaml"), VALUES).unwrap();
        let t = "yaml";
        h.ok(
            which,
            "",
            &[
                "--encrypt",
                "--input-type",
                t,
                "--output-type",
                t,
                "--in-place",
                "secrets.yaml",
            ],
        );
        // --output FILE, and standard output.
        std::fs::write(h.path("plain.yaml"), VALUES).unwrap();
        h.ok(
            which,
            "",
            &[
                "--encrypt",
                "--input-type",
                t,
                "--output-type",
                t,
                "--output",
                "out.yaml",
                "plain.yaml",
            ],
        );
        let stdout = h.ok(
            which,
            "",
            &[
                "--encrypt",
                "--input-type",
                t,
                "--output-type",
                t,
                "plain.yaml",
            ],
        );
        std::fs::write(h.path("stdout.yaml"), stdout).unwrap();
        for f in ["secrets.yaml", "out.yaml", "stdout.yaml"] {
            let p = h.path(f);
            assert!(is_encrypted(&p), "{which:?} {f}");
            assert_eq!(dec_type(&p), "yaml", "{which:?} {f}");
            assert!(!std::fs::read_to_string(&p).unwrap().contains("hunter2"));
            // Whoever encrypted it, both decrypt it to the same plaintext.
            let by_sops = h.ok(Sops::Real, "", &["--decrypt", f]);
            let by_seal = h.ok(Sops::Seal, "", &["--decrypt", f]);
            assert_eq!(
                String::from_utf8_lossy(&by_seal),
                String::from_utf8_lossy(&by_sops),
                "{which:?} {f}"
            );
            assert!(String::from_utf8_lossy(&by_sops).contains("password: hunter2"));
        }
    }
}

#[test]
fn decrypt_calls_give_what_sops_gives_for_each_detected_type() {
    let h = Helm::new();
    // Files made by the real sops (helm-secrets users' existing files), one per type.
    std::fs::write(h.path("values.yaml"), VALUES).unwrap();
    std::fs::write(
        h.path("values.json"),
        r#"{"db": {"password": "hunter2", "port": 5432}, "on": true}"#,
    )
    .unwrap();
    std::fs::write(h.path("ca.crt"), b"-----BEGIN CERT-----\n\x01\x02\n").unwrap();
    for (f, t) in [
        ("values.yaml", "yaml"),
        ("values.json", "json"),
        ("ca.crt", "binary"),
    ] {
        let out = h.ok(
            Sops::Real,
            "",
            &["--encrypt", "--input-type", t, "--output-type", t, f],
        );
        std::fs::write(h.path(&format!("{f}.enc")), out).unwrap();
        // The same call through seal, for the sniffing check on seal's own output.
        let out = h.ok(
            Sops::Seal,
            "",
            &["--encrypt", "--input-type", t, "--output-type", t, f],
        );
        std::fs::write(h.path(&format!("{f}.seal")), out).unwrap();
    }
    for (f, t) in [
        ("values.yaml", "yaml"),
        ("values.json", "json"),
        ("ca.crt", "binary"),
    ] {
        for made in ["enc", "seal"] {
            let enc = format!("{f}.{made}");
            let p = h.path(&enc);
            assert_eq!(dec_type(&p), t, "{enc}");
            assert!(is_encrypted(&p), "{enc}");
            let args = ["--decrypt", "--input-type", t, "--output-type", t];
            // Standard output.
            let mut call: Vec<&str> = args.to_vec();
            call.push(&enc);
            let seal = h.ok(Sops::Seal, "", &call);
            let sops = h.ok(Sops::Real, "", &call);
            assert_eq!(seal, sops, "{enc} to stdout");
            if t == "binary" {
                assert_eq!(seal, std::fs::read(h.path(f)).unwrap(), "{enc}");
            } else {
                assert!(String::from_utf8_lossy(&seal).contains("hunter2"), "{enc}");
            }
            // --output FILE.
            for which in [Sops::Seal, Sops::Real] {
                let out = format!("{enc}.{which:?}.out");
                let mut call: Vec<&str> = args.to_vec();
                call.extend(["--output", &out, &enc]);
                h.ok(which, "", &call);
            }
            assert_eq!(
                std::fs::read(h.path(&format!("{enc}.Seal.out"))).unwrap(),
                std::fs::read(h.path(&format!("{enc}.Real.out"))).unwrap(),
                "{enc} --output"
            );
            // --in-place, on copies.
            for which in [Sops::Seal, Sops::Real] {
                let copy = format!("{enc}.{which:?}.inplace");
                std::fs::copy(&p, h.path(&copy)).unwrap();
                let mut call: Vec<&str> = args.to_vec();
                call.extend(["--in-place", &copy]);
                h.ok(which, "", &call);
            }
            assert_eq!(
                std::fs::read(h.path(&format!("{enc}.Seal.inplace"))).unwrap(),
                std::fs::read(h.path(&format!("{enc}.Real.inplace"))).unwrap(),
                "{enc} --in-place"
            );
        }
    }
    // The binary file comes back byte for byte.
    assert_eq!(
        std::fs::read(h.path("ca.crt.seal.Seal.out")).unwrap(),
        std::fs::read(h.path("ca.crt")).unwrap()
    );
}

#[test]
fn a_literal_is_decrypted_from_dev_stdin() {
    let h = Helm::new();
    std::fs::write(h.path("lit.json"), r#"{"password": "hunter2"}"#).unwrap();
    let literal = h.ok(
        Sops::Seal,
        "",
        &[
            "--encrypt",
            "--input-type",
            "json",
            "--output-type",
            "json",
            "lit.json",
        ],
    );
    // `printf '%s' "$literal" | grep -q 'mac.*,type:str]'` (no trailing newline).
    let literal = literal.trim_ascii_end().to_vec();
    std::fs::write(h.path("literal"), &literal).unwrap();
    assert!(is_encrypted(&h.path("literal")));
    let call = [
        "--decrypt",
        "--input-type",
        "json",
        "--output-type",
        "json",
        "/dev/stdin",
    ];
    let seal = h.sops(Sops::Seal, "", &call, Some(&literal));
    let sops = h.sops(Sops::Real, "", &call, Some(&literal));
    assert!(
        seal.status.success(),
        "{}",
        String::from_utf8_lossy(&seal.stderr)
    );
    assert!(sops.status.success());
    assert_eq!(seal.stdout, sops.stdout);
    assert!(String::from_utf8_lossy(&seal.stdout).contains(r#""password": "hunter2""#));
}

#[test]
fn secret_backend_args_go_before_the_call() {
    let h = Helm::new();
    // Another config, named by --config in SECRET_BACKEND_ARGS, for bob.
    let other = h.path("other.sops.yaml");
    std::fs::write(
        &other,
        format!("creation_rules:\n  - age: {}\n", recipient("bob")),
    )
    .unwrap();
    std::fs::write(h.path("v.yaml"), VALUES).unwrap();
    let backend = format!("--config {}", other.display());
    for which in [Sops::Seal, Sops::Real] {
        let out = h.ok(
            which,
            &backend,
            &[
                "--encrypt",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "v.yaml",
            ],
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(&recipient("bob")), "{which:?}: {text}");
        assert!(!text.contains(&recipient("alice")), "{which:?}");
    }
    // --verbose and --ignore-mac before a decrypt.
    h.ok(
        Sops::Seal,
        "",
        &[
            "--encrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--in-place",
            "v.yaml",
        ],
    );
    for which in [Sops::Seal, Sops::Real] {
        let out = h.ok(
            which,
            "--verbose --ignore-mac",
            &[
                "--decrypt",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "v.yaml",
            ],
        );
        assert!(String::from_utf8_lossy(&out).contains("password: hunter2"));
    }
}

#[test]
fn the_legacy_edit_call_works_with_an_editor() {
    let h = Helm::new();
    std::fs::write(h.path("e.yaml"), VALUES).unwrap();
    h.ok(
        Sops::Seal,
        "",
        &[
            "--encrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--in-place",
            "e.yaml",
        ],
    );
    let editor = h.sb.editor("ed.sh", r#"printf 'added: value\n' >> "$1""#);
    let out = Command::new(&h.link)
        .env_clear()
        .env("HOME", &h.sb.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SEAL_NO_KEYRING", "1")
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .env("TMPDIR", &h.sb.rt)
        .env("XDG_RUNTIME_DIR", &h.sb.rt)
        .env("EDITOR", &editor)
        .current_dir(&h.sb.dir)
        .args(["--input-type", "yaml", "--output-type", "yaml", "e.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = h.path("e.yaml");
    assert!(is_encrypted(&p));
    let plain = h.ok(Sops::Real, "", &["--decrypt", "e.yaml"]);
    let plain = String::from_utf8_lossy(&plain);
    assert!(
        plain.contains("added: value") && plain.contains("password: hunter2"),
        "{plain}"
    );
}
