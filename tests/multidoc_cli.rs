//! Multi-document Kubernetes files: the Kubernetes default selector covers the whole file
//! (the sops format has one selector per file), so a ConfigMap next to a Secret gets its
//! data encrypted as well. seal says so, naming the ConfigMap, and suggests splitting.

mod common;

use common::{Sandbox as Env, recipient};

const MIXED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  LOG_LEVEL: debug\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\nstringData:\n  PASSWORD: hunter2\n";

#[test]
fn encrypting_a_configmap_next_to_a_secret_warns_and_names_it() {
    let e = Env::new();
    std::fs::write(e.dir.join("app.yaml"), MIXED).unwrap();
    let o = e
        .seal()
        .args(["encrypt", "-i", "--age", &recipient("alice"), "app.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ConfigMap app-config (document 1)") && err.contains("split"),
        "{err}"
    );
    assert!(!err.contains("debug") && !err.contains("hunter2"), "{err}");
    // What the warning says is what happened: the ConfigMap's value is encrypted.
    let text = std::fs::read_to_string(e.dir.join("app.yaml")).unwrap();
    let line = text.lines().find(|l| l.contains("LOG_LEVEL")).unwrap();
    assert!(line.contains("ENC["), "{line}");
    // A file of Secrets only, or a rule with its own selector, gets no warning.
    std::fs::write(
        e.dir.join("only.yaml"),
        MIXED.split("---\n").nth(1).unwrap(),
    )
    .unwrap();
    let o = e
        .seal()
        .args(["encrypt", "-i", "--age", &recipient("alice"), "only.yaml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("ConfigMap"));
    std::fs::write(e.dir.join("sel.yaml"), MIXED).unwrap();
    let o = e
        .seal()
        .args([
            "encrypt",
            "-i",
            "--encrypted-regex",
            "^stringData$",
            "--age",
            &recipient("alice"),
            "sel.yaml",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("ConfigMap"));
}
