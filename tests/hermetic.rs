//! The test helpers are hermetic: a `seal` started through `tests/common` never looks at
//! the machine's OS keyring (an identity stored there once added a recipient to a test's
//! `.sops.yaml`).

mod common;

#[test]
fn the_common_seal_command_does_not_read_the_keyring() {
    let t = tempfile::tempdir().unwrap();
    let o = common::seal(t.path())
        .args(["key", "list"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("keys.txt"), "the sources are listed: {err}");
    assert!(!err.contains("keyring"), "the keyring was looked at: {err}");
}
