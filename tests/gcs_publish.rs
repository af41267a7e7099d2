//! `seal publish` to Google Cloud Storage (sops's `gcs_bucket` destination) against a GCS
//! emulator on 127.0.0.1 (PyPI `gcp-storage-emulator`, started by this test), reached the
//! way Google's client libraries reach one: `STORAGE_EMULATOR_HOST`, no credentials. What
//! lands in the bucket is fetched and decrypted with the recreation rule's key (and refused
//! with the old one); the real sops publishes through the same emulator for comparison.
//! What this does not prove: authentication against the real Cloud Storage (the bearer
//! token comes from the code Cloud KMS keys use, tested with the fake Cloud KMS).

mod common;
#[path = "common/services.rs"]
mod services;

use std::path::Path;

const BUCKET: &str = "seal-pub";

fn seal(home: &Path, emulator: &str, key: &str) -> assert_cmd::Command {
    let mut c = common::seal(home);
    c.current_dir(home)
        .env("STORAGE_EMULATOR_HOST", emulator)
        .env("SOPS_AGE_KEY_FILE", common::key_file(key));
    c
}

fn decrypts(home: &Path, text: &str, key: &str) -> Option<String> {
    let f = home.join("fetched.yaml");
    std::fs::write(&f, text).unwrap();
    let o = common::sops(home)
        .env("SOPS_AGE_KEY_FILE", common::key_file(key))
        .arg("decrypt")
        .arg(&f)
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8(o.stdout).unwrap())
}

#[test]
fn publish_to_gcs_re_encrypts_for_the_recreation_rule_as_sops_does() {
    let gcs = services::start_gcs(BUCKET);
    let emulator = format!("127.0.0.1:{}", gcs.port);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let (alice, bob) = (common::recipient("alice"), common::recipient("bob"));
    std::fs::write(
        home.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {alice}\n\
             destination_rules:\n\
             \x20 - gcs_bucket: {BUCKET}\n\
             \x20   gcs_prefix: team/\n\
             \x20   path_regex: \\.yaml$\n\
             \x20   recreation_rule:\n\
             \x20     age: {bob}\n"
        ),
    )
    .unwrap();
    let plain = "db:\n    password: hunter2\n";
    for name in ["a.yaml", "b.yaml"] {
        std::fs::write(home.join(name), plain).unwrap();
        seal(home, &emulator, "alice")
            .args(["encrypt", "-i", name])
            .assert()
            .success();
    }
    // Asked and refused: nothing is uploaded.
    let o = seal(home, &emulator, "alice")
        .args(["publish", "a.yaml"])
        .write_stdin("n\n")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("to gcs://seal-pub/team/a.yaml ? (y/n)"),
        "{o:?}"
    );
    assert!(services::gcs_get(&gcs, BUCKET, "team/a.yaml").is_none());
    // seal: published, re-encrypted for bob only.
    let o = seal(home, &emulator, "alice")
        .args(["publish", "--yes", "a.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}\n{}", gcs.log());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("+++ {bob}")) && out.contains(&format!("--- {alice}")),
        "{out}"
    );
    let ours = services::gcs_get(&gcs, BUCKET, "team/a.yaml").expect("published by seal");
    assert_eq!(decrypts(home, &ours, "bob").as_deref(), Some(plain));
    assert_eq!(
        decrypts(home, &ours, "alice"),
        None,
        "alice's key no longer opens it"
    );
    // The real sops, linked to the same emulator: the same destination, the same result.
    let o = common::sops(home)
        .current_dir(home)
        .env("STORAGE_EMULATOR_HOST", &emulator)
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .args(["publish", "--yes", "b.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let theirs = services::gcs_get(&gcs, BUCKET, "team/b.yaml").expect("published by sops");
    assert_eq!(decrypts(home, &theirs, "bob").as_deref(), Some(plain));
    assert_eq!(decrypts(home, &theirs, "alice"), None);
    // --omit-extensions under the sops command line.
    let link = home.join("bin/sops");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("seal"), &link).unwrap();
    let mut as_sops = assert_cmd::Command::new(&link);
    as_sops
        .env_clear()
        .current_dir(home)
        .env("HOME", home)
        .env("SEAL_NO_KEYRING", "1")
        .env("STORAGE_EMULATOR_HOST", &emulator)
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .args(["publish", "--yes", "--omit-extensions", "a.yaml"])
        .assert()
        .success();
    let bare = services::gcs_get(&gcs, BUCKET, "team/a").expect("published as team/a");
    assert_eq!(decrypts(home, &bare, "bob").as_deref(), Some(plain));
}

#[test]
fn a_failed_upload_is_an_error_where_sops_reports_success() {
    // A port nothing listens on: sops 3.11 exits 0 here (its GCS writer's Close error is
    // dropped), seal names the service and fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emulator = format!("127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(
        home.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {}\ndestination_rules:\n  - gcs_bucket: {BUCKET}\n    path_regex: .*\n",
            common::recipient("alice")
        ),
    )
    .unwrap();
    std::fs::write(home.join("a.yaml"), "k: secretvalue\n").unwrap();
    seal(home, &emulator, "alice")
        .args(["encrypt", "-i", "a.yaml"])
        .assert()
        .success();
    let o = seal(home, &emulator, "alice")
        .args(["publish", "--yes", "a.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Google Cloud Storage") && err.contains("a.yaml"),
        "{err}"
    );
    assert!(!err.contains("secretvalue"), "{err}");
    let sops = common::sops(home)
        .current_dir(home)
        .env("STORAGE_EMULATOR_HOST", &emulator)
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .args(["publish", "--yes", "a.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        sops.status.code(),
        Some(0),
        "sops 3.11 reported the failed upload: update docs/sops-compat.md ({sops:?})"
    );
}
