//! Issue 21's property: a plaintext Secret gets past `seal check` in no encoding. Each case
//! writes one Secret (its `password` a literal) in a generated spelling — YAML block or
//! flow or JSON; every quoting style for the kind and the value; tags, block scalars and
//! escapes; anchors and merge keys (top level, alias, list of aliases); `data` or
//! `stringData`; inside a `List`, a nested `List`, a HelmRelease's values or a
//! postRenderers patch, or as a kustomize `secretGenerator` literal; after other
//! documents; under names that do not say YAML; in UTF-8, UTF-8 with a byte-order mark,
//! UTF-16 LE or BE — and requires a `plaintext-secret` error (exit 1) every time: the
//! gate reads the Secret, it does not merely fail closed.

use proptest::prelude::*;

use base64::Engine;
use seal::check::scan::{FileContext, scan_with};
use seal::check::{Rule, Severity};

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `text` as a block sequence item at column `n`.
fn item(text: &str, n: usize) -> String {
    let mut out = String::new();
    for (i, l) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{}- {l}\n", " ".repeat(n)));
        } else if !l.is_empty() {
            out.push_str(&format!("{}{l}\n", " ".repeat(n + 2)));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Case {
    kind: usize,
    value_style: usize,
    merge: usize,
    data: bool,
    wrap: usize,
    docs_before: usize,
    name: usize,
    encoding: usize,
    json: bool,
    secret: String,
}

const KINDS: [&str; 7] = [
    "kind: Secret",
    "kind: 'Secret'",
    "kind: \"Secret\"",
    "kind: !!str Secret",
    "kind: >-\n  Secret",
    "kind: \"\\u0053ecret\"",
    "\"kind\": \"Se\\\n  cret\"",
];

fn value(style: usize, v: &str) -> String {
    match style {
        0 => v.to_string(),
        1 => format!("'{v}'"),
        2 => format!("\"{v}\""),
        3 => format!("|\n  {v}"),
        4 => format!(">-\n  {v}"),
        _ => {
            let (first, rest) = v.split_at(1);
            format!("\"\\x{:02x}{rest}\"", first.as_bytes()[0])
        }
    }
}

fn yaml_secret(c: &Case) -> String {
    let field = if c.data { "data" } else { "stringData" };
    let v = if c.data {
        base64::engine::general_purpose::STANDARD.encode(&c.secret)
    } else {
        c.secret.clone()
    };
    let pair = format!("password: {}", value(c.value_style, &v));
    let head = format!(
        "apiVersion: v1\n{}\nmetadata:\n  name: generated\n",
        KINDS[c.kind]
    );
    match c.merge {
        // Plain block.
        0 => format!("{head}{field}:\n{}", indent(&pair, 2)),
        // Flow mapping.
        1 if c.value_style < 3 => format!("{head}{field}: {{{pair}}}\n"),
        1 => format!("{head}{field}:\n{}", indent(&pair, 2)),
        // A top-level merge key carries the field.
        2 => format!("{head}<<:\n  {field}:\n{}", indent(&pair, 4)),
        // An alias merged into the field.
        3 => format!(
            "apiVersion: v1\n{}\nmetadata:\n  name: generated\n  labels: &creds\n{}{field}:\n  <<: *creds\n",
            KINDS[c.kind],
            indent(&pair, 4)
        ),
        // A list of aliases merged into the field.
        _ => format!(
            "apiVersion: v1\n{}\nmetadata:\n  name: generated\n  labels: &a\n    user: ''\n  annotations: &b\n{}{field}:\n  <<: [*a, *b]\n",
            KINDS[c.kind],
            indent(&pair, 4)
        ),
    }
}

fn yaml_text(c: &Case) -> String {
    let secret = yaml_secret(c);
    let body = match c.wrap {
        0 => secret,
        1 => format!("apiVersion: v1\nkind: List\nitems:\n{}", item(&secret, 2)),
        2 => format!(
            "apiVersion: v1\nkind: List\nitems:\n{}",
            item(
                &format!("apiVersion: v1\nkind: List\nitems:\n{}", item(&secret, 0)),
                2
            )
        ),
        3 => format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app\nspec:\n  values:\n    extraObjects:\n{}",
            item(&secret, 6)
        ),
        4 => format!(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app\nspec:\n  postRenderers:\n    - kustomize:\n        patches:\n          - patch: |\n{}",
            indent(&secret, 14)
        ),
        _ => format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nsecretGenerator:\n  - name: generated\n    literals:\n      - {}\n",
            value(c.value_style.min(2), &format!("password={}", c.secret))
        ),
    };
    let mut out = String::new();
    for i in 0..c.docs_before {
        out.push_str(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  a: b\n---\n"
        ));
    }
    out + &body
}

fn json_text(c: &Case) -> String {
    let field = if c.data { "data" } else { "stringData" };
    let v = if c.data {
        base64::engine::general_purpose::STANDARD.encode(&c.secret)
    } else {
        c.secret.clone()
    };
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "generated"},
        field: {"password": v},
    });
    let doc = match c.wrap % 3 {
        0 => secret,
        1 => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [secret]}),
        _ => serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "List", "items": [secret]}
        ]}),
    };
    let text = if c.value_style.is_multiple_of(2) {
        serde_json::to_string_pretty(&doc).unwrap()
    } else {
        serde_json::to_string(&doc).unwrap()
    };
    if c.kind % 2 == 1 {
        text.replace("\"Secret\"", "\"\\u0053ecret\"")
    } else {
        text
    }
}

const NAMES: [&str; 6] = [
    "secret.yaml",
    "SECRET.YML",
    "manifest",
    "app.yaml.tpl",
    "cfg.yml.j2",
    "x.json",
];

fn encode(text: &str, encoding: usize) -> Vec<u8> {
    match encoding {
        0 => text.as_bytes().to_vec(),
        1 => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        2 => [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        _ => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (0..KINDS.len(), 0..6usize, 0..5usize, any::<bool>()),
        (
            0..6usize,
            0..3usize,
            0..NAMES.len(),
            0..4usize,
            any::<bool>(),
        ),
        "[a-zA-Z0-9]{6,24}",
    )
        .prop_map(
            |((kind, value_style, merge, data), (wrap, docs_before, name, encoding, json), s)| {
                Case {
                    kind,
                    value_style,
                    merge,
                    data,
                    wrap,
                    docs_before,
                    name,
                    encoding,
                    json,
                    secret: format!("s{s}"),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_plaintext_secret_in_any_encoding_is_an_error(c in case()) {
        let text = if c.json { json_text(&c) } else { yaml_text(&c) };
        let bytes = encode(&text, c.encoding);
        let path = NAMES[c.name];
        let ctx = FileContext { path, rule: None, require: &[] };
        let r = scan_with(&ctx, &bytes, &|_| None);
        prop_assert!(
            r.findings
                .iter()
                .any(|f| f.severity == Severity::Error && f.rule == Rule::PlaintextSecret),
            "no error for {path}:\n{text}\n{:#?}",
            r.findings
        );
        for f in &r.findings {
            prop_assert!(!f.message.contains(&c.secret), "{f:?}");
        }
    }
}
