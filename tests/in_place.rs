//! In-place writes (`encrypt -i`, `decrypt -i`, `set`, `unset`) never leave another name
//! of the file with stale content: a file with other hard links is refused, unchanged.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::{key_file, recipient, seal};

const PLAIN: &str = "a: secret\n";

fn linked_pair(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let a = dir.join("a.yaml");
    let b = dir.join("b.yaml");
    fs::write(&a, PLAIN).unwrap();
    fs::hard_link(&a, &b).unwrap();
    (a, b)
}

#[test]
fn encrypt_in_place_refuses_a_hard_linked_file() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = linked_pair(t.path());
    let out = seal(t.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&a)
        .assert()
        .code(3)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a.yaml") && err.contains("hard link"), "{err}");
    // Nothing changed: both names still hold the same inode and bytes.
    assert_eq!(fs::read_to_string(&a).unwrap(), PLAIN);
    assert_eq!(
        fs::metadata(&a).unwrap().ino(),
        fs::metadata(&b).unwrap().ino()
    );
    // --output to a fresh name is fine.
    seal(t.path())
        .args(["encrypt", "--age", &recipient("alice"), "--output"])
        .arg(t.path().join("enc.yaml"))
        .arg(&a)
        .assert()
        .success();
}

#[test]
fn decrypt_set_and_unset_in_place_refuse_a_hard_linked_file() {
    let t = tempfile::tempdir().unwrap();
    let enc = t.path().join("e.yaml");
    fs::write(&enc, PLAIN).unwrap();
    seal(t.path())
        .args(["encrypt", "-i", "--age", &recipient("alice")])
        .arg(&enc)
        .assert()
        .success();
    let link = t.path().join("link.yaml");
    fs::hard_link(&enc, &link).unwrap();
    let before = fs::read(&enc).unwrap();
    for args in [vec!["decrypt", "-i"], vec!["set", "--raw"], vec!["unset"]] {
        let mut c = seal(t.path());
        c.env("SOPS_AGE_KEY_FILE", key_file("alice"));
        c.args(&args[..1]);
        c.args(&args[1..]);
        c.arg(&enc);
        if args[0] == "set" {
            c.args([r#"["b"]"#, "x"]);
        } else if args[0] == "unset" {
            c.arg(r#"["a"]"#);
        }
        let out = c.assert().failure().get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("hard link"), "{args:?}: {err}");
        assert_eq!(fs::read(&enc).unwrap(), before, "{args:?}");
        assert_eq!(fs::read(&link).unwrap(), before, "{args:?}");
    }
}
