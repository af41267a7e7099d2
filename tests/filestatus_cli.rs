//! `seal filestatus` answers exactly as the real sops does: the same standard output and
//! exit code on every case of a table of files that load or fail to load in their store
//! (chosen by extension, binary for unknown ones), with or without complete metadata.

mod common;

use std::fs;

use common::{seal, sops};

const LM: &str = "  lastmodified: \"2024-01-01T00:00:00Z\"\n";
const AGE: &str = "  age:\n    - recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n      enc: x\n";

/// (file name, content).
fn cases() -> Vec<(&'static str, String)> {
    let meta = |body: &str| format!("a: 1\nsops:\n{body}");
    vec![
        ("empty.yaml", String::new()),
        ("comment-only.yaml", "# nothing\n".into()),
        ("plain.yaml", "a: 1\n".into()),
        ("list.yaml", "- a\n- b\n".into()),
        ("scalar.yaml", "hello\n".into()),
        ("dup-first-doc.yaml", "a: 1\na: 2\n".into()),
        ("dup-later-doc.yaml", "a: 1\n---\nb: 1\nb: 2\n".into()),
        ("sops-int.yaml", "a: 1\nsops: 1\n".into()),
        ("sops-empty-map.yaml", "a: 1\nsops: {}\n".into()),
        ("sops-null.yaml", "a: 1\nsops:\n".into()),
        ("sops-list.yaml", "a: 1\nsops: []\n".into()),
        ("sops-string.yaml", "a: 1\nsops: abc\n".into()),
        ("no-version.yaml", meta(&format!("  mac: abc\n{LM}{AGE}"))),
        ("no-mac.yaml", meta(&format!("  version: 3.8.0\n{LM}{AGE}"))),
        ("empty-mac.yaml", meta(&format!("  version: 3.8.0\n  mac: \"\"\n{LM}{AGE}"))),
        ("version-abc.yaml", meta(&format!("  version: abc\n  mac: x\n{LM}{AGE}"))),
        ("complete.yaml", meta(&format!("  version: 3.8.0\n  mac: x\n{LM}{AGE}"))),
        ("no-keys.yaml", meta(&format!("  version: 3.8.0\n  mac: x\n{LM}"))),
        ("no-keys-no-mac.yaml", meta(&format!("  version: 3.8.0\n{LM}"))),
        ("no-lastmodified.yaml", meta(&format!("  version: 3.8.0\n  mac: x\n{AGE}"))),
        (
            "lastmodified-word.yaml",
            meta(&format!("  version: 3.8.0\n  mac: x\n  lastmodified: yesterday\n{AGE}")),
        ),
        (
            "lastmodified-int.yaml",
            meta(&format!("  version: 3.8.0\n  mac: x\n  lastmodified: 5\n{AGE}")),
        ),
        (
            "dup-in-sops.yaml",
            meta(&format!("  version: 3.8.0\n  version: 3.9.0\n  mac: x\n{LM}{AGE}")),
        ),
        (
            "sops-in-second-doc.yaml",
            format!("a: 1\n---\nsops:\n  version: 3.8.0\n  mac: x\n{LM}{AGE}"),
        ),
        (
            "sops-in-first-of-two.yaml",
            format!("a: 1\nsops:\n  version: 3.8.0\n  mac: x\n{LM}{AGE}---\nb: 2\n"),
        ),
        ("plain.json", "{\"a\": 1}\n".into()),
        ("dup.json", "{\"a\": 1, \"a\": 2}\n".into()),
        ("comments.json", "// c\n{\"a\": 1}\n".into()),
        ("empty.json", String::new()),
        ("list.json", "[1, 2]\n".into()),
        (
            "complete.json",
            "{\"a\":1,\"sops\":{\"version\":\"3.8.0\",\"mac\":\"x\",\"lastmodified\":\"2024-01-01T00:00:00Z\",\"age\":[{\"recipient\":\"age1x\",\"enc\":\"x\"}]}}\n".into(),
        ),
        (
            "no-mac.json",
            "{\"a\":1,\"sops\":{\"version\":\"3.8.0\",\"lastmodified\":\"2024-01-01T00:00:00Z\",\"age\":[{\"recipient\":\"age1x\",\"enc\":\"x\"}]}}\n".into(),
        ),
        ("renovate.json5", "{\"extends\": [\"config:base\"]}\n".into()),
        ("comments.json5", "// c\n{\"a\": 1}\n".into()),
        ("nginx.conf.j2", "server { listen 80; }\n".into()),
        ("json.conf.j2", "{\"a\": 1}\n".into()),
        ("empty.txt", String::new()),
        (
            "envelope.bin",
            "{\"data\":\"x\",\"sops\":{\"version\":\"3.8.0\",\"mac\":\"x\",\"lastmodified\":\"2024-01-01T00:00:00Z\",\"age\":[{\"recipient\":\"age1x\",\"enc\":\"x\"}]}}\n".into(),
        ),
        ("plain.env", "A=1\n".into()),
        ("garbage.env", "garbage line\n".into()),
        (
            "complete.env",
            "A=1\nsops_version=3.8.0\nsops_mac=x\nsops_lastmodified=2024-01-01T00:00:00Z\nsops_age__list_0__map_recipient=age1x\nsops_age__list_0__map_enc=x\n".into(),
        ),
        ("no-keys.env", "A=1\nsops_version=3.8.0\nsops_mac=x\nsops_lastmodified=2024-01-01T00:00:00Z\n".into()),
        ("plain.ini", "[a]\nb=1\n".into()),
        ("sops-tilde.yaml", "a: 1\nsops: ~\n".into()),
        ("sops-quoted-null.yaml", "a: 1\nsops: \"null\"\n".into()),
        ("nested-sops-null.yaml", "a:\n  sops:\nsops: {}\n".into()),
        ("sops-null.json", "{\"a\": 1, \"sops\": null}\n".into()),
        ("sops-empty.json", "{\"a\": 1, \"sops\": {}}\n".into()),
        ("sops-int.json", "{\"a\": 1, \"sops\": 5}\n".into()),
        ("null.bin", "null".into()),
        ("number.txt", "5".into()),
        ("string.txt", "\"s\"".into()),
    ]
}

#[test]
fn filestatus_matches_sops_on_every_case() {
    let t = tempfile::tempdir().unwrap();
    let mut differ = Vec::new();
    for (name, content) in cases() {
        fs::write(t.path().join(name), &content).unwrap();
        let s = sops(t.path()).args(["filestatus", name]).output().unwrap();
        let o = seal(t.path()).args(["filestatus", name]).output().unwrap();
        let want = (
            String::from_utf8_lossy(&s.stdout).into_owned(),
            s.status.code(),
        );
        let got = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code(),
        );
        if want != got {
            differ.push(format!(
                "{name}: sops {want:?}, seal {got:?} ({})",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        if o.status.code() == Some(1) && o.stderr.is_empty() {
            differ.push(format!("{name}: seal fails without a message"));
        }
    }
    assert!(
        differ.is_empty(),
        "seal differs from sops:\n{}",
        differ.join("\n")
    );
}
