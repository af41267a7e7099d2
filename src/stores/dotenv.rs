//! The dotenv store: `KEY=VALUE` lines and `#` comments ⇄ one flat [`Branch`] of strings,
//! with the metadata as sorted `sops_*` lines (sops-format.md §8.6, §9.3). Exactly sops's
//! rules: no quote handling, no trimming, `\n` is the only escape.

use super::flatten::{flatten, unflatten, value_to_flat_string};
use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The dotenv store.
pub struct DotenvStore;

/// Most keys and comments in one dotenv file: memory is proportional to it, so it bounds
/// the peak (see the YAML reader's `MAX_NODES`).
pub const MAX_ENTRIES: usize = 500_000;

/// Prefix of the metadata keys.
const PREFIX: &str = "sops_";

/// `\n` (two characters) → newline.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        if c == b'\\' && v.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Newline → `\n` (two characters).
fn escape_into(out: &mut Vec<u8>, v: &[u8]) {
    for &c in v {
        if c == b'\n' {
            out.extend_from_slice(b"\\n");
        } else {
            out.push(c);
        }
    }
}

fn string_or_bytes(v: Vec<u8>) -> Value {
    match String::from_utf8(v) {
        Ok(s) => Value::Str(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

impl Store for DotenvStore {
    fn format(&self) -> Format {
        Format::Dotenv
    }

    fn load_plain(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        let mut items = Vec::new();
        let mut meta: Vec<(String, String)> = Vec::new();
        for (n, line) in input.split(|&c| c == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if items.len() + meta.len() >= MAX_ENTRIES {
                return Err(StoreError::Limit {
                    message: format!(
                        "the dotenv file has more than the limit of {MAX_ENTRIES} lines with content"
                    ),
                });
            }
            if let Some(text) = line.strip_prefix(b"#") {
                items.push(Item::Comment(String::from_utf8_lossy(text).into_owned()));
                continue;
            }
            let Some(eq) = line.iter().position(|&c| c == b'=') else {
                return Err(StoreError::Syntax {
                    format: Format::Dotenv,
                    line: Some(n + 1),
                    column: None,
                    message: "invalid dotenv line: expected KEY=VALUE or a # comment".to_string(),
                });
            };
            let (key, value) = line.split_at(eq);
            let key = String::from_utf8_lossy(key).into_owned();
            let value = unescape(value.get(1..).unwrap_or_default());
            match key.strip_prefix(PREFIX) {
                Some(mkey) => meta.push((
                    mkey.to_string(),
                    String::from_utf8_lossy(&value).into_owned(),
                )),
                None => items.push(Item::Pair(key, string_or_bytes(value))),
            }
        }
        let metadata = if meta.is_empty() {
            None
        } else {
            Some(unflatten(&meta)?)
        };
        Ok(Parsed {
            docs: vec![Branch { items }],
            metadata,
            layout: Layout::none(),
        })
    }

    fn emit_plain(
        &self,
        docs: &[Branch],
        _layout: &Layout,
        _opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        if let Some(doc) = docs.first() {
            write_doc(&mut out, doc)?;
        }
        Ok(out)
    }

    fn emit_encrypted(
        &self,
        docs: &[Branch],
        metadata: &Branch,
        layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let mut out = self.emit_plain(docs, layout, opts)?;
        // `flatten` sorts by the unprefixed key; one common prefix keeps that order.
        for (k, v) in flatten(metadata) {
            out.extend_from_slice(PREFIX.as_bytes());
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            escape_into(&mut out, v.as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    }

    /// Strings only, raw (as sops).
    fn emit_value(&self, value: &Value, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.clone()),
            _ => Err(StoreError::Emit {
                format: Format::Dotenv,
                message: "only a string value can be written as dotenv".to_string(),
            }),
        }
    }
}

fn write_doc(out: &mut Vec<u8>, doc: &Branch) -> Result<(), StoreError> {
    for item in &doc.items {
        match item {
            Item::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.as_bytes());
                out.push(b'\n');
            }
            Item::Pair(k, v) => {
                let Some(text) = value_to_flat_string(v) else {
                    return Err(StoreError::Emit {
                        format: Format::Dotenv,
                        message: format!(
                            "cannot use a nested map or list in a dotenv file (key {k:?})"
                        ),
                    });
                };
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                escape_into(out, &text);
                out.push(b'\n');
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: crate::testdata::SharedDir = crate::testdata::SharedDir("conformance/cases");

    fn read(file: &str) -> Vec<u8> {
        std::fs::read(format!("{CASES}/dotenv-basic/{file}")).unwrap()
    }

    fn get<'a>(b: &'a Branch, key: &str) -> Option<&'a Value> {
        b.get(key)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    #[test]
    fn corpus_dec_round_trips_byte_for_byte() {
        for file in ["dec.env", "plain.env"] {
            let input = read(file);
            let p = DotenvStore.load_plain(&input).unwrap();
            assert!(p.metadata.is_none());
            let out = DotenvStore
                .emit_plain(&p.docs, &Layout::none(), EmitOptions::default())
                .unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(input).unwrap()
            );
        }
        let p = DotenvStore.load_plain(&read("plain.env")).unwrap();
        let doc = &p.docs[0];
        assert_eq!(
            doc.items[0],
            Item::Comment(" Application environment".into())
        );
        assert_eq!(get(doc, "JWT_SECRET"), Some(&s("abc==def==")));
        assert_eq!(get(doc, "OPTIONAL_SETTING"), Some(&s("")));
        assert_eq!(get(doc, "GREETING"), Some(&s("hello world")));
    }

    #[test]
    fn corpus_enc_metadata_and_reemit() {
        let enc = read("enc.env");
        let p = DotenvStore.load_encrypted(&enc).unwrap();
        let md = p.metadata.clone().unwrap();
        assert!(matches!(get(&md, "mac"), Some(Value::Str(m)) if m.starts_with("ENC[")));
        assert_eq!(get(&md, "version"), Some(&s("3.11.0")));
        assert_eq!(get(&md, "lastmodified"), Some(&s("2026-11-25T17:22:12Z")));
        let Some(Value::List(age)) = get(&md, "age") else {
            panic!("age is a list");
        };
        let Some(Value::Branch(entry)) = age.first() else {
            panic!("age entry is a branch");
        };
        assert!(matches!(get(entry, "recipient"), Some(Value::Str(r)) if r.starts_with("age1")));
        assert!(matches!(get(entry, "enc"),
            Some(Value::Str(e)) if e.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n") && e.ends_with("-----\n")));
        assert!(
            p.docs[0]
                .items
                .iter()
                .all(|i| !matches!(i, Item::Pair(k, _) if k.starts_with("sops_")))
        );
        let out = DotenvStore
            .emit_encrypted(&p.docs, &md, &Layout::none(), EmitOptions::default())
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(enc).unwrap()
        );
    }

    #[test]
    fn sops_parsing_rules() {
        let p = DotenvStore
            .load_plain(b" K = v \nA=a\\nb\\\\nc\r\n#\n\n=v\nB=\"q\"\nC=x=y")
            .unwrap();
        let items = &p.docs[0].items;
        assert_eq!(
            items,
            &vec![
                Item::Pair(" K ".into(), s(" v ")),
                Item::Pair("A".into(), s("a\nb\\\nc\r")),
                Item::Comment(String::new()),
                Item::Pair(String::new(), s("v")),
                Item::Pair("B".into(), s("\"q\"")),
                Item::Pair("C".into(), s("x=y")),
            ]
        );
        let out = DotenvStore
            .emit_plain(&p.docs, &Layout::none(), EmitOptions::default())
            .unwrap();
        assert_eq!(out, b" K = v \nA=a\\nb\\\\nc\r\n#\n=v\nB=\"q\"\nC=x=y\n");
        let empty = DotenvStore.load_plain(b"").unwrap();
        assert_eq!(empty.docs, vec![Branch::default()]);
    }

    #[test]
    fn line_without_equals_is_a_syntax_error_with_line() {
        let err = DotenvStore.load_plain(b"A=1\n\nsecretvalue\n").unwrap_err();
        assert_eq!(
            err,
            StoreError::Syntax {
                format: Format::Dotenv,
                line: Some(3),
                column: None,
                message: "invalid dotenv line: expected KEY=VALUE or a # comment".into(),
            }
        );
        assert!(!err.to_string().contains("secretvalue"));
    }

    #[test]
    fn other_formats_values_are_written_like_sops() {
        let doc = Branch {
            items: vec![
                Item::Pair("i".into(), Value::Int(5)),
                Item::Pair("f".into(), Value::Float(1.0)),
                Item::Pair("b".into(), Value::Bool(true)),
                Item::Pair("n".into(), Value::Null),
                Item::Pair("ml".into(), s("a\nb")),
            ],
        };
        let out = DotenvStore
            .emit_plain(&[doc], &Layout::none(), EmitOptions::default())
            .unwrap();
        assert_eq!(out, b"i=5\nf=1.0\nb=true\nn=<nil>\nml=a\\nb\n");
        let nested = Branch {
            items: vec![Item::Pair("m".into(), Value::Branch(Branch::default()))],
        };
        assert!(matches!(
            DotenvStore.emit_plain(&[nested], &Layout::none(), EmitOptions::default()),
            Err(StoreError::Emit { .. })
        ));
        assert!(matches!(
            DotenvStore.emit_value(&Value::Int(1), EmitOptions::default()),
            Err(StoreError::Emit { .. })
        ));
    }

    proptest! {
        #[test]
        fn emit_encrypted_then_load_round_trips(
            pairs in prop::collection::vec(("[A-Za-z_ ][A-Za-z0-9_ ]{0,8}", "[^\\\\]{0,20}"), 0..8),
            comments in prop::collection::vec("[^\n]{0,10}", 0..3),
        ) {
            let mut items: Vec<Item> = pairs
                .into_iter()
                .filter(|(k, _)| !k.starts_with(PREFIX) && !k.contains('='))
                .map(|(k, v)| Item::Pair(k, Value::Str(v)))
                .collect();
            for c in comments {
                items.push(Item::Comment(c));
            }
            let doc = Branch { items };
            let md = Branch {
                items: vec![
                    Item::Pair("version".into(), s("3.11.0")),
                    Item::Pair("age".into(), Value::List(vec![Value::Branch(Branch {
                        items: vec![Item::Pair("enc".into(), s("a\nb\n"))],
                    })])),
                ],
            };
            let out = DotenvStore
                .emit_encrypted(std::slice::from_ref(&doc), &md, &Layout::none(), EmitOptions::default())
                .unwrap();
            let back = DotenvStore.load_encrypted(&out).unwrap();
            prop_assert_eq!(&back.docs, &vec![doc]);
            let back_md = back.metadata.unwrap();
            prop_assert_eq!(flatten(&back_md), flatten(&md));
        }
    }

    #[test]
    fn entry_limit_bounds_memory() {
        let many: String = (0..=MAX_ENTRIES).map(|i| format!("K{i}=v\n")).collect();
        assert!(matches!(
            DotenvStore.load_plain(many.as_bytes()),
            Err(StoreError::Limit { .. })
        ));
    }
}
