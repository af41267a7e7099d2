//! Resource limits: hostile inputs (10,000-level nesting, a 1 GB value, a billion-laughs
//! alias bomb, a huge base64 ciphertext) fail with a clear error, never a crash, and in
//! bounded memory. The bound is enforced, not just measured: every run happens under an
//! address-space limit (`ulimit -v`), so an allocation beyond it would abort seal and fail
//! the test. Measured peaks (release build) are in docs/security.md.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{key_file, recipient};

/// Address-space limit for every run, in KiB: 1 GiB. seal's input cap is 64 MiB and its
/// peak is a small multiple of the input; the reservation for its stacks is 64 MiB + 16 MiB
/// per rayon worker.
const AS_LIMIT_KB: u64 = 1 << 20;

/// Writes a run's standard input.
type Feed = Box<dyn FnOnce(&mut dyn Write) + Send>;

/// Run seal under the address-space limit, with `stdin` fed from `feed` when given.
fn limited(dir: &Path, args: &[&str], feed: Option<Feed>) -> Output {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("ulimit -v {AS_LIMIT_KB}; exec \"$@\""))
        .arg("sh")
        .arg(assert_cmd::cargo::cargo_bin("seal"))
        .args(args)
        .env_clear()
        .env("SEAL_NO_KEYRING", "1")
        .env("HOME", dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOPS_AGE_KEY_FILE", key_file("alice"))
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if feed.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = c.spawn().unwrap();
    let writer = match (feed, child.stdin.take()) {
        (Some(f), Some(mut stdin)) => Some(std::thread::spawn(move || f(&mut stdin))),
        _ => None,
    };
    let out = child.wait_with_output().unwrap();
    if let Some(w) = writer {
        let _ = w.join();
    }
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean refusal: the expected exit code, a message naming the problem, no crash.
fn refused(o: &Output, code: i32, needle: &str, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(
        err.contains(needle),
        "{what}: expected {needle:?} in: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{what}: {err}"
    );
    assert!(o.stdout.is_empty(), "{what}: no output on failure");
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let alice = recipient("alice");
    let n = 10_000;
    let cases = [
        ("compact.yaml", format!("a:\n{}x\n", "- ".repeat(n))),
        (
            "flow.yaml",
            format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        (
            "flowmap.yaml",
            format!("a: {}1{}\n", "{b: ".repeat(n), "}".repeat(n)),
        ),
        (
            "indentless.yaml",
            // Block mappings and indentless sequences: two levels per two columns.
            (0..n / 2)
                .map(|i| format!("{}k:\n{}-", " ".repeat(2 * i), " ".repeat(2 * i)))
                .collect::<Vec<_>>()
                .join("\n")
                + " x\n",
        ),
        (
            "deep.json",
            format!("{{\"a\": {}1{}}}", "[".repeat(n), "]".repeat(n)),
        ),
        (
            "deepmap.json",
            format!("{}1{}", "{\"a\": ".repeat(n), "}".repeat(n)),
        ),
    ];
    for (name, text) in cases {
        let f = t.path().join(name);
        fs::write(&f, text).unwrap();
        let o = limited(t.path(), &["encrypt", "--age", &alice, name], None);
        refused(&o, 2, "1000", name);
        assert!(stderr(&o).contains(name), "{name}: names the file");
    }
}

#[test]
fn a_billion_laughs_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    fs::write(t.path().join("bomb.yaml"), &bomb).unwrap();
    let o = limited(
        t.path(),
        &["encrypt", "--age", &recipient("alice"), "bomb.yaml"],
        None,
    );
    refused(&o, 2, "alias", "billion laughs");
    // Also where seal reads YAML without being asked to encrypt it: .sops.yaml.
    fs::write(
        t.path().join(".sops.yaml"),
        format!("creation_rules: []\nx: {}", &bomb[..]),
    )
    .unwrap();
    fs::write(t.path().join("s.yaml"), "a: b\n").unwrap();
    let o = limited(
        t.path(),
        &["encrypt", "--age", &recipient("alice"), "s.yaml"],
        None,
    );
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(".sops.yaml"), "{}", stderr(&o));
}

#[test]
fn a_one_gigabyte_value_is_refused_before_it_is_read() {
    let t = tempfile::tempdir().unwrap();
    // A sparse file: 1 GiB on paper, nothing on disk.
    let f = t.path().join("big.yaml");
    let file = fs::File::create(&f).unwrap();
    file.set_len(1 << 30).unwrap();
    drop(file);
    let o = limited(
        t.path(),
        &["encrypt", "--age", &recipient("alice"), "big.yaml"],
        None,
    );
    refused(&o, 2, "64 MiB", "1 GiB file");
    assert!(
        stderr(&o).contains("SEAL_MAX_INPUT_BYTES"),
        "says how to raise it"
    );
    let o = limited(t.path(), &["decrypt", "big.yaml"], None);
    refused(&o, 2, "64 MiB", "1 GiB file, decrypt");
    // The same value streamed on standard input (no size known in advance): seal stops
    // reading at the limit.
    let o = limited(
        t.path(),
        &[
            "encrypt",
            "--age",
            &recipient("alice"),
            "--input-type",
            "yaml",
        ],
        Some(Box::new(|w: &mut dyn Write| {
            let chunk = vec![b'x'; 1 << 20];
            let _ = w.write_all(b"a: ");
            for _ in 0..1024 {
                if w.write_all(&chunk).is_err() {
                    break; // seal stopped reading
                }
            }
        })),
    );
    refused(&o, 2, "64 MiB", "1 GiB on stdin");
}

#[test]
fn a_huge_base64_ciphertext_fails_cleanly() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("s.yaml");
    fs::write(&f, "stringData:\n    password: hunter2\n").unwrap();
    let out = common::seal(t.path())
        .current_dir(t.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let enc = fs::read_to_string(&f).unwrap();
    let start = enc.find("data:").unwrap() + 5;
    let end = start + enc[start..].find(",iv:").unwrap();
    // 40 MiB of base64 (30 MiB of "ciphertext"): under the input cap, so it is parsed,
    // decoded and authenticated, and fails authentication.
    let huge = "QUFB".repeat(10 << 20);
    let big = format!("{}{}{}", &enc[..start], huge, &enc[end..]);
    fs::write(t.path().join("huge.yaml"), &big).unwrap();
    let o = limited(t.path(), &["decrypt", "huge.yaml"], None);
    refused(&o, 25, "stringData.password", "huge base64");
    // Invalid base64 of the same size: a syntax error, not a crash.
    let bad = format!("{}{}{}", &enc[..start], "!".repeat(40 << 20), &enc[end..]);
    fs::write(t.path().join("bad64.yaml"), &bad).unwrap();
    let o = limited(t.path(), &["decrypt", "bad64.yaml"], None);
    refused(&o, 25, "base64", "invalid base64");
    // Over the cap: refused before parsing.
    let over = format!(
        "{}{}{}",
        &enc[..start],
        "QUFB".repeat(17 << 20),
        &enc[end..]
    );
    fs::write(t.path().join("over.yaml"), &over).unwrap();
    let o = limited(t.path(), &["decrypt", "over.yaml"], None);
    refused(&o, 2, "64 MiB", "base64 over the cap");
}

/// A value that fits under the input cap but whose ciphertext would not is refused when
/// writing (exit 3, the file untouched): seal never writes a file it cannot read back. One
/// whose ciphertext fits round-trips within the address-space limit.
#[test]
fn seal_never_writes_a_file_it_cannot_read_back() {
    let t = tempfile::tempdir().unwrap();
    let plain = format!("a: {}\n", "x".repeat(60 << 20));
    fs::write(t.path().join("max.yaml"), &plain).unwrap();
    let o = limited(
        t.path(),
        &["encrypt", "-i", "--age", &recipient("alice"), "max.yaml"],
        None,
    );
    refused(&o, 3, "SEAL_MAX_INPUT_BYTES", "ciphertext over the cap");
    assert!(fs::read(t.path().join("max.yaml")).unwrap() == plain.as_bytes());
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        1,
        "nothing left behind"
    );

    let value = "y".repeat(40 << 20);
    fs::write(t.path().join("ok.yaml"), format!("a: {value}\n")).unwrap();
    let o = limited(
        t.path(),
        &["encrypt", "-i", "--age", &recipient("alice"), "ok.yaml"],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = limited(t.path(), &["decrypt", "ok.yaml"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    // (Quoted or not: see the report on plain_safe's 1000-byte cut-off.)
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.starts_with("a: ") && out.contains(&value),
        "the value comes back"
    );
}
