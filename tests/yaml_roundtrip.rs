//! YAML store acceptance tests: layout-preserving round trips over a corpus of realistic
//! files (tests/yaml-roundtrip/), canonical-writer round trips (proptest), the shared
//! conformance and real-world corpora, and a size/speed check.

mod common;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use seal::stores::{EmitOptions, Format, Layout, Store, StoreError};
use seal::tree::{Branch, Item, Timestamp, Value};

fn store() -> &'static dyn Store {
    Format::Yaml.store()
}

fn opts() -> EmitOptions {
    EmitOptions::default()
}

/// Every comment in walk order with the AAD sops gives it (the container's path).
fn comment_paths(docs: &[Branch]) -> Vec<(String, String)> {
    fn walk_branch(b: &Branch, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        for it in &b.items {
            match it {
                Item::Comment(c) => out.push((aad(path), c.clone())),
                Item::Pair(k, v) => {
                    path.push(k.clone());
                    walk_value(v, path, out);
                    path.pop();
                }
            }
        }
    }
    fn walk_value(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        match v {
            Value::Branch(b) => walk_branch(b, path, out),
            Value::List(l) => {
                for x in l {
                    match x {
                        Value::Comment(c) => out.push((aad(path), c.clone())),
                        other => walk_value(other, path, out),
                    }
                }
            }
            _ => {}
        }
    }
    fn aad(path: &[String]) -> String {
        let mut s = path.join(":");
        s.push(':');
        s
    }
    let mut out = Vec::new();
    for d in docs {
        walk_branch(d, &mut Vec::new(), &mut out);
    }
    out
}

/// A leaf as the round trip sees it.
#[derive(Clone, Debug, PartialEq)]
enum Leaf {
    Value(Value),
    Comment(String),
}

/// Replace every leaf (in walk order) by `f(leaf)`.
fn map_leaves(docs: &[Branch], f: &mut dyn FnMut(Leaf) -> Leaf) -> Vec<Branch> {
    fn branch(b: &Branch, f: &mut dyn FnMut(Leaf) -> Leaf) -> Branch {
        Branch {
            items: b
                .items
                .iter()
                .map(|it| match it {
                    Item::Comment(c) => match f(Leaf::Comment(c.clone())) {
                        Leaf::Comment(c) => Item::Comment(c),
                        Leaf::Value(_) => panic!("a branch comment cannot become a value"),
                    },
                    Item::Pair(k, v) => Item::Pair(k.clone(), value(v, f)),
                })
                .collect(),
        }
    }
    fn value(v: &Value, f: &mut dyn FnMut(Leaf) -> Leaf) -> Value {
        match v {
            Value::Branch(b) => Value::Branch(branch(b, f)),
            Value::List(l) => Value::List(l.iter().map(|x| value(x, f)).collect()),
            Value::Comment(c) => match f(Leaf::Comment(c.clone())) {
                Leaf::Comment(c) => Value::Comment(c),
                Leaf::Value(v) => v,
            },
            other => match f(Leaf::Value(other.clone())) {
                Leaf::Value(v) => v,
                Leaf::Comment(c) => Value::Comment(c),
            },
        }
    }
    docs.iter().map(|d| branch(d, f)).collect()
}

fn fake_enc(i: usize, ty: &str) -> String {
    format!(
        "ENC[AES256_GCM,data:{}==,iv:Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg=,tag:dGFndGFndGFndGFndGFnIQ==,type:{ty}]",
        "QUJD".repeat(1 + i % 5)
    )
}

fn metadata() -> Branch {
    let pair = |k: &str, v: Value| Item::Pair(k.to_string(), v);
    Branch {
        items: vec![
            pair(
                "age",
                Value::List(vec![Value::Branch(Branch {
                    items: vec![
                        pair("recipient", Value::Str("age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx".into())),
                        pair(
                            "enc",
                            Value::Str(
                                "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBrTE9ZcGVLdlFXNXJyNXd1\n-----END AGE ENCRYPTED FILE-----\n"
                                    .into(),
                            ),
                        ),
                    ],
                })]),
            ),
            pair("lastmodified", Value::Str("2026-11-25T17:59:13Z".into())),
            pair("mac", Value::Str(fake_enc(99, "str"))),
            pair("unencrypted_suffix", Value::Str("_unencrypted".into())),
            pair("version", Value::Str("3.11.0".into())),
        ],
    }
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/yaml-roundtrip");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The acceptance round trip: encrypt every leaf (fake ENC values), write with the layout,
/// re-read, put the originals back, write plain: byte-identical to the original.
#[test]
fn layout_round_trip_is_byte_exact() {
    let files = corpus();
    assert!(files.len() >= 8, "the corpus needs at least 8 files");
    for path in files {
        let name = path.display().to_string();
        let original = std::fs::read(&path).unwrap();
        let parsed = store()
            .load_plain(&original)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            format!("{:?}", parsed.layout),
            "Layout(..)",
            "{name}: has a layout"
        );
        assert!(parsed.metadata.is_none(), "{name}");

        // Unchanged: the same bytes.
        let same = store()
            .emit_plain(&parsed.docs, &parsed.layout, opts())
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&same),
            String::from_utf8_lossy(&original),
            "{name}: unchanged emit"
        );

        // Encrypt (fake): every non-empty, non-null scalar and every comment.
        let mut originals = Vec::new();
        let mut n = 0;
        let enc_docs = map_leaves(&parsed.docs, &mut |leaf| {
            originals.push(leaf.clone());
            n += 1;
            match leaf {
                Leaf::Value(Value::Null) => leaf,
                Leaf::Value(Value::Str(ref s)) if s.is_empty() => leaf,
                Leaf::Value(_) => Leaf::Value(Value::Str(fake_enc(n, "str"))),
                Leaf::Comment(_) => Leaf::Comment(fake_enc(n, "comment")),
            }
        });
        let md = metadata();
        let enc = store()
            .emit_encrypted(&enc_docs, &md, &parsed.layout, opts())
            .unwrap();
        let enc_text = String::from_utf8(enc.clone()).unwrap();
        let reread = store()
            .load_encrypted(&enc)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{enc_text}"));
        // sops writes encrypted list comments as list items; they read back as strings
        // (the cipher turns them into comments again when it decrypts them).
        let reread_docs = map_leaves(&reread.docs, &mut |leaf| match leaf {
            Leaf::Value(Value::Str(s)) if s.ends_with(",type:comment]") => Leaf::Comment(s),
            other => other,
        });
        assert_eq!(
            reread_docs, enc_docs,
            "{name}: encrypted file re-reads to the same tree\n{enc_text}"
        );
        assert_eq!(
            reread.metadata.as_ref(),
            Some(&md),
            "{name}: metadata\n{enc_text}"
        );
        assert_eq!(
            format!("{:?}", reread.layout),
            "Layout(..)",
            "{name}: has a layout"
        );

        // Decrypt (fake): put the originals back, write with the encrypted file's layout.
        let mut it = originals.into_iter();
        let dec_docs = map_leaves(&reread.docs, &mut |_| {
            it.next().expect("same number of leaves")
        });
        assert_eq!(dec_docs, parsed.docs, "{name}");
        let plain = store()
            .emit_plain(&dec_docs, &reread.layout, opts())
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&plain),
            String::from_utf8_lossy(&original),
            "{name}: decrypted output differs from the original (encrypted form:\n{enc_text})"
        );
    }
}

/// A sops-style list comment item (`- ENC[...,type:comment]`) decrypts back to a `#` line.
#[test]
fn list_comment_items_become_comment_lines() {
    let src = "hosts:\n  # first\n  - a\n  - b\n";
    let p = store().load_plain(src.as_bytes()).unwrap();
    // Encrypt the list comment the way sops writes it: as a list item.
    let enc_docs = map_leaves(&p.docs, &mut |l| match l {
        Leaf::Comment(_) => Leaf::Value(Value::Str(fake_enc(1, "comment"))),
        other => other,
    });
    let enc = store()
        .emit_encrypted(&enc_docs, &metadata(), &p.layout, opts())
        .unwrap();
    let enc_text = String::from_utf8(enc.clone()).unwrap();
    assert!(
        enc_text.starts_with("hosts:\n  - ENC[AES256_GCM,"),
        "{enc_text}"
    );
    let re = store().load_encrypted(&enc).unwrap();
    let dec_docs = map_leaves(&re.docs, &mut |l| match l {
        Leaf::Value(Value::Str(s)) if s.contains("type:comment") => Leaf::Comment(" first".into()),
        other => other,
    });
    let plain = store().emit_plain(&dec_docs, &re.layout, opts()).unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), src);
}

/// A changed multi-line value becomes a `|` block one detected step under its key.
#[test]
fn multi_line_values_use_the_documents_step() {
    let src = "a:\n  b: x\n  c: y # note\n";
    let p = store().load_plain(src.as_bytes()).unwrap();
    let docs = map_leaves(&p.docs, &mut |l| match l {
        Leaf::Value(Value::Str(s)) if s == "x" => Leaf::Value(Value::Str("l1\nl2\n".into())),
        Leaf::Value(Value::Str(s)) if s == "y" => Leaf::Value(Value::Str("m1\nm2".into())),
        other => other,
    });
    let out = String::from_utf8(store().emit_plain(&docs, &p.layout, opts()).unwrap()).unwrap();
    // `c` has an inline comment after it, so it cannot become a block: double quotes.
    assert_eq!(out, "a:\n  b: |\n    l1\n    l2\n  c: \"m1\\nm2\" # note\n");
    assert_eq!(store().load_plain(out.as_bytes()).unwrap().docs, docs);
}

#[test]
fn sops_block_is_replaced_and_removed() {
    let src = "a: 1 # x\nsops:\n  version: 3.0.0\n  mac: old\nb: 2\n";
    let p = store().load_plain(src.as_bytes()).unwrap();
    assert!(p.metadata.is_some());
    let plain = String::from_utf8(store().emit_plain(&p.docs, &p.layout, opts()).unwrap()).unwrap();
    assert_eq!(plain, "a: 1 # x\nb: 2\n");
    let md = Branch {
        items: vec![Item::Pair("version".into(), Value::Str("3.11.0".into()))],
    };
    let enc = String::from_utf8(
        store()
            .emit_encrypted(&p.docs, &md, &p.layout, opts())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(enc, "a: 1 # x\nsops:\n    version: 3.11.0\nb: 2\n");
    // A file without a final newline gets one before the appended block.
    let p = store().load_plain(b"a: 1").unwrap();
    let enc = String::from_utf8(
        store()
            .emit_encrypted(&p.docs, &md, &p.layout, opts())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(enc, "a: 1\nsops:\n    version: 3.11.0\n");
}

#[test]
fn shape_change_falls_back_to_canonical() {
    let src = "a:   1\nb: [1, 2]\n";
    let p = store().load_plain(src.as_bytes()).unwrap();
    let same = String::from_utf8(store().emit_plain(&p.docs, &p.layout, opts()).unwrap()).unwrap();
    // Flow collections are not kept: canonical output.
    assert_eq!(same, "a: 1\nb:\n    - 1\n    - 2\n");
    let p = store().load_plain(b"a:   1\n").unwrap();
    let mut docs = p.docs.clone();
    docs[0].items.push(Item::Pair("c".into(), Value::Int(3)));
    // An added key is one added line; the rest keeps its bytes.
    let out = String::from_utf8(store().emit_plain(&docs, &p.layout, opts()).unwrap()).unwrap();
    assert_eq!(out, "a:   1\nc: 3\n");
    let out = String::from_utf8(
        store()
            .emit_plain(&docs, &Layout::none(), EmitOptions { indent: Some(2) })
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out, "a: 1\nc: 3\n");
}

// ---------------------------------------------------------------------------------------
// The shared corpora

#[test]
fn conformance_yaml_files_load() {
    let Some(dir) =
        common::shared_suite("YAML store on the conformance corpus", "conformance/cases")
    else {
        return;
    };
    let entries = std::fs::read_dir(&dir).unwrap();
    let mut checked = 0;
    for case in entries.filter_map(Result::ok).map(|e| e.path()) {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        for file in ["enc.yaml", "dec.yaml"] {
            let path = case.join(file);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let res = store().load_encrypted(&bytes);
            if (name == "neg-invalid-yaml" || name == "neg-truncated")
                && let Err(e) = &res
            {
                assert!(
                    matches!(
                        e,
                        StoreError::Syntax { .. }
                            | StoreError::Unsupported { .. }
                            | StoreError::NoDocument { .. }
                    ),
                    "{name}/{file}: {e:?}"
                );
                continue;
            }
            // binary-* cases store a non-YAML payload under a .yaml name (JSON envelope).
            let p = match res {
                Ok(p) => p,
                Err(e) if name.starts_with("binary") || name.starts_with("refuse-json") => {
                    eprintln!("{name}/{file}: {e}");
                    continue;
                }
                Err(e) => panic!("{name}/{file}: {e}"),
            };
            checked += 1;
            if file == "enc.yaml" && !name.starts_with("neg-") {
                let md = p
                    .metadata
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no metadata"));
                for key in ["age", "lastmodified", "mac", "version"] {
                    let found = md
                        .items
                        .iter()
                        .any(|i| matches!(i, Item::Pair(k, _) if k == key))
                        || (key == "age"
                            && md
                                .items
                                .iter()
                                .any(|i| matches!(i, Item::Pair(k, _) if k == "key_groups")));
                    assert!(found, "{name}: metadata lacks {key}");
                }
            }
            if file == "dec.yaml" {
                let out = store()
                    .emit_plain(&p.docs, &Layout::none(), opts())
                    .unwrap();
                let again = store().load_plain(&out).unwrap_or_else(|e| {
                    panic!(
                        "{name}: canonical output does not re-parse: {e}\n{}",
                        String::from_utf8_lossy(&out)
                    )
                });
                assert_eq!(
                    again.docs, p.docs,
                    "{name}: canonical emit changes the tree"
                );
                // And with its own layout: unchanged bytes.
                let same = store().emit_plain(&p.docs, &p.layout, opts()).unwrap();
                assert_eq!(same, bytes, "{name}: layout emit of an unchanged tree");
            }
        }
    }
    assert!(
        checked > 20 || !dir.exists(),
        "only {checked} files checked"
    );
}

fn strip_comments(docs: &[Branch]) -> Vec<Branch> {
    fn branch(b: &Branch) -> Branch {
        Branch {
            items: b
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Pair(k, v) => Some(Item::Pair(k.clone(), value(v))),
                    Item::Comment(_) => None,
                })
                .collect(),
        }
    }
    fn value(v: &Value) -> Value {
        match v {
            Value::Branch(b) => Value::Branch(branch(b)),
            Value::List(l) => Value::List(
                l.iter()
                    .filter(|x| !matches!(x, Value::Comment(_)))
                    .map(value)
                    .collect(),
            ),
            // go-yaml (and seal, like sops) print a float 1.0 as `1`, which reads back as an int.
            Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => {
                Value::Int(*f as i64)
            }
            other => other.clone(),
        }
    }
    docs.iter().map(branch).collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn realworld_files_load_without_panics() {
    let Some(root) = common::shared_suite("YAML store on the real-world corpus", "realworld")
    else {
        return;
    };
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    let (mut ok, mut err) = (0, 0);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        match store().load_encrypted(&bytes) {
            Ok(p) => {
                ok += 1;
                // An unchanged tree written with its layout is the same file.
                let same = store().emit_plain(&p.docs, &p.layout, opts()).unwrap();
                if p.metadata.is_none() && format!("{:?}", p.layout) == "Layout(..)" {
                    assert_eq!(same, bytes, "{}", f.display());
                }
                // Canonical output: the same data and the same comments in the same order.
                // (A comment after a nested collection at the end of a mapping is read back
                // inside that collection, by sops as by seal: it cannot keep its place.)
                let canon = store()
                    .emit_plain(&p.docs, &Layout::none(), opts())
                    .unwrap();
                let again = store()
                    .load_plain(&canon)
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                assert_eq!(
                    strip_comments(&again.docs),
                    strip_comments(&p.docs),
                    "{}",
                    f.display()
                );
                let texts = |d: &[Branch]| {
                    comment_paths(d)
                        .into_iter()
                        .map(|(_, t)| t)
                        .collect::<Vec<_>>()
                };
                assert_eq!(texts(&again.docs), texts(&p.docs), "{}", f.display());
            }
            Err(e) => {
                err += 1;
                eprintln!("{}: {e}", f.display());
            }
        }
    }
    eprintln!("realworld: {ok} loaded, {err} refused");
}

// ---------------------------------------------------------------------------------------
// Canonical writer round trip

fn awkward_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("yes".to_string()),
        Just("no".to_string()),
        Just("on".to_string()),
        Just("y".to_string()),
        Just("0755".to_string()),
        Just("5432".to_string()),
        Just("1e3".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("~".to_string()),
        Just("2024-01-02".to_string()),
        Just("a: b".to_string()),
        Just("a #b".to_string()),
        Just(" lead".to_string()),
        Just("trail ".to_string()),
        Just("".to_string()),
        Just("- dash".to_string()),
        Just("line1\nline2".to_string()),
        Just("line1\nline2\n".to_string()),
        Just("line1\n\n".to_string()),
        Just("  indented\nnext\n".to_string()),
        Just("tab\there".to_string()),
        Just("ünïcødé ☕".to_string()),
        Just("\u{1}\u{7f}\u{85}\u{2028}".to_string()),
        Just("ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]".to_string()),
        Just("<<".to_string()),
        Just("12:30".to_string()),
        Just("'quoted'".to_string()),
        Just("\"dq\"".to_string()),
        Just("#hash".to_string()),
        "[a-z0-9 :#\\-\n]{0,12}",
        any::<String>(),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        awkward_string().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        (-1.0e6f64..1.0e6)
            .prop_filter("not integral", |f| f.fract() != 0.0)
            .prop_map(Value::Float),
        Just(Value::Float(1.5e20)),
        Just(Value::Float(f64::INFINITY)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(Value::Time(Timestamp("2024-01-02T03:04:05Z".into()))),
        Just(Value::Time(Timestamp("2024-01-02T03:04:05.5+02:00".into()))),
        Just(Value::Bytes(vec![0xff, 0x00, 0x80])),
    ]
}

fn comment_text() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9#:\\-]{0,10}"
}

fn leaf_is_collection(v: &Value) -> bool {
    matches!(v, Value::Branch(b) if b.items.iter().any(|i| matches!(i, Item::Pair(..))))
        || matches!(v, Value::List(l) if l.iter().any(|x| !matches!(x, Value::Comment(_))))
}

/// sops (go-yaml) re-reads a comment after a nested collection at the end of a branch or
/// list as part of that collection, so such trees are not representable; drop those.
fn normalize(v: Value) -> Value {
    match v {
        Value::Branch(b) => Value::Branch(normalize_branch(b)),
        Value::List(l) => {
            let mut l: Vec<Value> = l.into_iter().map(normalize).collect();
            if let Some(last) = l.iter().rposition(|x| !matches!(x, Value::Comment(_)))
                && leaf_is_collection(&l[last])
            {
                l.truncate(last + 1);
            }
            Value::List(l)
        }
        other => other,
    }
}

fn normalize_branch(b: Branch) -> Branch {
    let mut items: Vec<Item> = b
        .items
        .into_iter()
        .map(|i| match i {
            Item::Pair(k, v) => Item::Pair(k, normalize(v)),
            c => c,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| match i {
        Item::Pair(k, _) => seen.insert(k.clone()),
        _ => true,
    });
    if let Some(last) = items.iter().rposition(|x| matches!(x, Item::Pair(..)))
        && let Item::Pair(_, v) = &items[last]
        && leaf_is_collection(v)
    {
        items.truncate(last + 1);
    }
    Branch { items }
}

fn value_tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(
                prop_oneof![
                    4 => (awkward_string(), inner.clone()).prop_map(|(k, v)| Item::Pair(k, v)),
                    1 => comment_text().prop_map(Item::Comment),
                ],
                0..5
            )
            .prop_map(|items| Value::Branch(Branch { items })),
            prop::collection::vec(
                prop_oneof![4 => inner, 1 => comment_text().prop_map(Value::Comment)],
                0..5
            )
            .prop_map(Value::List),
        ]
    })
}

fn doc_tree() -> impl Strategy<Value = Branch> {
    prop::collection::vec(
        prop_oneof![
            4 => (awkward_string(), value_tree()).prop_map(|(k, v)| Item::Pair(k, v)),
            1 => comment_text().prop_map(Item::Comment),
        ],
        0..6,
    )
    .prop_map(|items| {
        let mut b = normalize_branch(Branch { items });
        // Top-level trailing comments are fine (they stay top-level); keep them.
        b.items
            .retain(|i| !matches!(i, Item::Pair(k, _) if k == "sops"));
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn canonical_output_reparses_to_the_same_tree(docs in prop::collection::vec(doc_tree(), 1..3), indent in 2usize..6) {
        let out = store().emit_plain(&docs, &Layout::none(), EmitOptions { indent: Some(indent) }).unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let back = store().load_plain(&out).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back.docs, &docs, "{}", text);
        // With metadata the documents are unchanged and the metadata comes back.
        let md = metadata();
        let enc = store().emit_encrypted(&docs, &md, &Layout::none(), EmitOptions::default()).unwrap();
        let back = store().load_encrypted(&enc).unwrap();
        prop_assert_eq!(&back.docs, &docs);
        prop_assert_eq!(back.metadata, Some(md));
    }

    #[test]
    fn layout_emit_of_unchanged_tree_is_identity(docs in prop::collection::vec(doc_tree(), 1..3)) {
        let canon = store().emit_plain(&docs, &Layout::none(), EmitOptions { indent: Some(2) }).unwrap();
        let p = store().load_plain(&canon).unwrap();
        let same = store().emit_plain(&p.docs, &p.layout, opts()).unwrap();
        prop_assert_eq!(same, canon);
    }
}

// ---------------------------------------------------------------------------------------
// Size and speed

fn big_secret(keys: usize) -> String {
    let mut s = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\n  namespace: default\ndata:\n",
    );
    for i in 0..keys {
        s.push_str(&format!(
            "  key-{i:05}: {}\n",
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2"
        ));
    }
    s
}

#[test]
fn big_secret_loads() {
    let src = big_secret(2_000);
    let p = store().load_plain(src.as_bytes()).unwrap();
    let Some(Item::Pair(_, Value::Branch(data))) = p.docs[0].items.last() else {
        panic!("data")
    };
    assert_eq!(data.items.len(), 2_000);
}

// ---------------------------------------------------------------------------------------
// The promise of docs/compatibility.md, exactly: what `decrypt` of `encrypt` keeps byte
// for byte, and what it cannot keep (the sops format stores an encrypted value's data and
// type, not how it was spelled).

/// `seal decrypt` of `seal encrypt` of `text` (alice's key, the default selector: every
/// value and comment is encrypted unless a row says otherwise).
fn real_round_trip(home: &Path, name: &str, text: &str) -> String {
    let f = home.join(name);
    std::fs::write(&f, text).unwrap();
    common::seal(home)
        .args(["encrypt", "-i", "--age", &common::recipient("alice")])
        .arg(&f)
        .assert()
        .success();
    let out = common::seal(home)
        .env("SOPS_AGE_KEY_FILE", common::key_file("alice"))
        .arg("decrypt")
        .arg(&f)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// Byte-exact: everything that is not an encrypted value (keys and their quoting,
/// unencrypted values in any style, indentation, blank lines, comments — encrypted ones
/// too, `---`, trailing spaces, a byte-order mark, CRLF), and encrypted values spelled
/// the way seal writes them (plain when YAML allows it, double quotes when needed, `|`
/// blocks one step in, go-yaml's spelling of numbers).
#[test]
fn decrypt_of_encrypt_is_byte_exact_for_everything_but_the_spelling_of_encrypted_values() {
    let home = tempfile::tempdir().unwrap();
    let exact = [
        "---\n# a head comment\na: 1\n\nb:   spaced   # inline comment\n\n\n  # indented comment\nc: trailing spaces  \n",
        "top:\n   three: spaces\n   nested:\n         nine: deep\n",
        "\"quoted key\": v\n'single key': w\nplain: \"needs: quotes\"\nyes_str: \"yes\"\nnum_str: \"5432\"\nempty: \"\"\n",
        "m:\n  k: v\nlit: |\n  line one\n  line two\nstrip: |-\n  no final\n  break\nkeep: |+\n  kept\n\nafter: x\n",
        "list:\n  - a\n  # a list comment\n  - 2\n  - k: v\n    l: w\nindentless:\n- x\n- z\n",
        "n: 493\nf: 0.5\nbig: 1.5e+20\nt: true\nnul: null\nts: 2024-01-02T03:04:05Z\n",
        "x_unencrypted: 'single quoted'\ny_unencrypted: 0755\nz_unencrypted: >\n  folded\n",
        "\u{feff}a: 1\nb:\n  c: x\n",
        "a: 1\r\nb:\r\n  c: |\r\n    two\r\n    lines\r\n",
        "one: 1\n---\n# second\ntwo: 2\n...\n",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: 'app'   # any style here\n  labels:\n    tier: \"1\"\nstringData:\n  PASSWORD: hunter2\n",
    ];
    for (i, text) in exact.iter().enumerate() {
        let back = real_round_trip(home.path(), &format!("exact{i}.yaml"), text);
        assert_eq!(back, *text, "row {i} must come back byte for byte");
    }
    // Not byte-exact: an encrypted value's spelling (its quoting style, number notation,
    // block style) is not in the sops format; it comes back in seal's canonical spelling.
    // The data is the same.
    let canonical = [
        ("a: 'single'\n", "a: single\n"),
        ("a: \"needless\"\n", "a: needless\n"),
        ("n: 0755\nh: 0x1F\ne: 1e3\n", "n: 493\nh: 31\ne: 1000\n"),
        (
            "t: True\nd: 2024-01-02\n",
            "t: true\nd: 2024-01-02T00:00:00Z\n",
        ),
        ("s: !!str 5\n", "s: \"5\"\n"),
        ("f: >\n  folded\n  text\n", "f: |\n    folded text\n"),
        (
            "c: |\n      deeper\nd:\n  e: 1\n",
            "c: |\n  deeper\nd:\n  e: 1\n",
        ),
        // A one-line block is a one-line string; a block's indentation is the document's
        // step, which an encrypted file shows only through its nested mappings (else 4).
        ("s: |-\n  one line\n", "s: one line\n"),
        ("b: |\n  two\n  lines\n", "b: |\n    two\n    lines\n"),
        // A missing final line break is added (the `sops:` block follows the last line),
        // in the file's own line breaks.
        ("a: 1\nb: 2", "a: 1\nb: 2\n"),
        ("a: 1\r\nb: 2", "a: 1\r\nb: 2\r\n"),
        // Flow collections and anchors: the whole file is written in the canonical layout
        // (4 spaces, aliases expanded), as sops writes it.
        (
            "a: {b: 1}\nc: [1, 2]\n",
            "a:\n    b: 1\nc:\n    - 1\n    - 2\n",
        ),
    ];
    for (i, (text, want)) in canonical.iter().enumerate() {
        let back = real_round_trip(home.path(), &format!("canon{i}.yaml"), text);
        assert_eq!(back, *want, "row {i}: {text:?}");
        // The same data, up to go-yaml's float spelling (`1e3` is written `1000`, which
        // reads back as an integer: sops does the same).
        fn integral(v: Value) -> Value {
            match v {
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::Int(f as i64),
                Value::Branch(b) => Value::Branch(Branch {
                    items: b
                        .items
                        .into_iter()
                        .map(|i| match i {
                            Item::Pair(k, v) => Item::Pair(k, integral(v)),
                            c => c,
                        })
                        .collect(),
                }),
                Value::List(l) => Value::List(l.into_iter().map(integral).collect()),
                other => other,
            }
        }
        let data = |t: &str| -> Vec<Value> {
            let docs = store().load_plain(t.as_bytes()).unwrap().docs;
            docs.into_iter()
                .map(|d| integral(Value::Branch(d)))
                .collect()
        };
        assert_eq!(data(text), data(&back), "row {i}: same data");
    }
}
