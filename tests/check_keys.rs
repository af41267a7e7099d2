//! `seal check` and private keys beyond age X25519 and PEM: armored OpenPGP private key
//! blocks (`-----BEGIN PGP PRIVATE KEY BLOCK-----`, as `gpg --export-secret-keys --armor`
//! writes them for Flux's sops-gpg Secret) and post-quantum age identities
//! (`AGE-SECRET-KEY-PQ-1…`), each in a file of its own (`.asc`, a key file) and inside a
//! YAML value (a block scalar, a JSON string, base64 under `data:`). Placeholders, public
//! key blocks and prose that names the marker stay clean.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use seal::check::{Checker, Report, Rule, Severity};

/// The first armored block of the sops functional suite's PGP test keys (tests/keys; they
/// protect nothing real).
fn pgp_key() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/sops_functional_tests_key.asc");
    let text = std::fs::read_to_string(p).unwrap();
    let end = "-----END PGP PRIVATE KEY BLOCK-----\n";
    text[..text.find(end).unwrap() + end.len()].to_string()
}

/// Bech32 (BIP-173, as age writes identities) of `data` under `hrp`, upper case.
fn bech32_upper(hrp: &str, data: &[u8]) -> String {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut five = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in data {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            five.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        five.push(((acc << (5 - bits)) & 31) as u8);
    }
    let hrp = hrp.to_ascii_lowercase();
    let mut values: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|b| b & 31));
    values.extend(&five);
    values.extend([0u8; 6]);
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk ^= 1;
    let checksum = (0..6).map(|i| ((chk >> (5 * (5 - i))) & 31) as u8);
    let mut out = format!("{hrp}1");
    out.extend(
        five.into_iter()
            .chain(checksum)
            .map(|v| CHARSET[v as usize] as char),
    );
    out.to_ascii_uppercase()
}

/// A post-quantum age identity with a valid checksum (a made-up 32-byte seed).
fn pq_identity() -> String {
    let seed: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    bech32_upper("AGE-SECRET-KEY-PQ-", &seed)
}

fn check(files: &[(&str, &str)]) -> Report {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    Checker {
        cwd: dir,
        ..Checker::default()
    }
    .check_paths(&[])
}

/// (path, line, message) of every private-key finding; each must be an error.
fn key_findings(r: &Report) -> Vec<(String, usize, String)> {
    r.findings
        .iter()
        .filter(|f| f.rule == Rule::PrivateKey)
        .inspect(|f| assert_eq!(f.severity, Severity::Error, "{f:?}"))
        .map(|f| (f.path.clone(), f.line, f.message.clone()))
        .collect()
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_armored_pgp_private_key_block_is_a_private_key() {
    let key = pgp_key();
    assert!(key.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    let configmap = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gpg\ndata:\n  sops.asc: |\n{}\n",
        indent(&key, 4)
    );
    let json = format!(
        "{{\"kind\": \"ConfigMap\", \"data\": {{\"sops.asc\": {}}}}}\n",
        serde_json::Value::String(key.clone())
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    let encoded = format!("apiVersion: v1\nkind: ConfigMap\ndata:\n  sops.asc: {b64}\n");
    let r = check(&[
        ("keys/flux.asc", &key),
        ("clusters/gpg-configmap.yaml", &configmap),
        ("clusters/gpg.json", &json),
        ("clusters/gpg-b64.yaml", &encoded),
    ]);
    let got = key_findings(&r);
    let lines: Vec<(&str, usize)> = got.iter().map(|(p, l, _)| (p.as_str(), *l)).collect();
    assert_eq!(
        lines,
        [
            ("clusters/gpg-b64.yaml", 4),
            ("clusters/gpg-configmap.yaml", 7),
            ("clusters/gpg.json", 1),
            ("keys/flux.asc", 1),
        ],
        "{got:#?}"
    );
    for (_, _, m) in &got {
        assert!(m.contains("PGP private key"), "{m}");
        assert!(
            !m.contains("lQOYBF1o"),
            "a finding names no key material: {m}"
        );
    }
    assert!(r.has_errors());
}

#[test]
fn the_cli_fails_on_a_committed_asc_key() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sops-gpg.asc"), pgp_key()).unwrap();
    let out = common::seal(&home)
        .current_dir(&dir)
        .args(["check", "--color", "never", "."])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("sops-gpg.asc"), "{text}");
    assert!(
        text.contains("1:1  error  private-key  A PGP private key is committed in plaintext"),
        "{text}"
    );
}

#[test]
fn pgp_public_blocks_placeholders_and_prose_are_not_keys() {
    let key = pgp_key();
    let public = key.replace("PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK");
    let placeholder =
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n...\n-----END PGP PRIVATE KEY BLOCK-----\n";
    let prose = "Export it with gpg --export-secret-keys --armor: the output starts with\n`-----BEGIN PGP PRIVATE KEY BLOCK-----`. Never commit it.\n";
    let r = check(&[
        ("pub.asc", &public),
        ("placeholder.asc", placeholder),
        ("README.md", prose),
    ]);
    assert_eq!(key_findings(&r), [], "{:#?}", r.findings);
}

#[test]
fn a_post_quantum_age_identity_is_a_private_key() {
    let id = pq_identity();
    assert!(id.starts_with("AGE-SECRET-KEY-PQ-1"), "{id}");
    let keys = format!("# created: 2026-01-01T00:00:00Z\n# public key: age1pq1xyz\n{id}\n");
    let secret = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: age\ndata:\n  age.agekey: |\n    # public key: age1pq1xyz\n    {id}\n"
    );
    let flow = format!("identities: {{pq: \"{id}\"}}\n");
    let r = check(&[
        ("keys.txt", &keys),
        ("identity.asc", &format!("{id}\n")),
        ("clusters/age.yaml", &secret),
        ("clusters/flow.yaml", &flow),
    ]);
    let got = key_findings(&r);
    let lines: Vec<(&str, usize)> = got.iter().map(|(p, l, _)| (p.as_str(), *l)).collect();
    assert_eq!(
        lines,
        [
            ("clusters/age.yaml", 8),
            ("clusters/flow.yaml", 1),
            ("identity.asc", 1),
            ("keys.txt", 3),
        ],
        "{got:#?}"
    );
    for (_, _, m) in &got {
        assert!(m.contains("post-quantum"), "{m}");
        assert!(
            !m.contains(&id[20..]),
            "a finding names no key material: {m}"
        );
    }
}

#[test]
fn a_post_quantum_placeholder_or_a_broken_checksum_is_not_a_key() {
    let id = pq_identity();
    let mut broken = id.clone().into_bytes();
    let last = broken.len() - 1;
    broken[last] = if broken[last] == b'Q' { b'P' } else { b'Q' };
    let broken = String::from_utf8(broken).unwrap();
    let r = check(&[
        ("a.txt", &format!("{broken}\n")),
        (
            "b.md",
            "Identities look like AGE-SECRET-KEY-PQ-1... in a key file.\n",
        ),
    ]);
    assert_eq!(key_findings(&r), [], "{:#?}", r.findings);
}
