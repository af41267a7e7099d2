//! A syntax-only pass over a YAML stream for readers that need to know only that the store
//! would read it (`seal check` on a plain manifest): the same events the reader consumes,
//! and the composer's own refusals (duplicate keys, keys that are not strings, a document
//! that is not a mapping, integers out of range, nesting too deep), without building a
//! tree, a layout or comments. It answers "surely readable" or "not sure": anything it does
//! not decide exactly (aliases, scalar tags, the `sops` key, large inputs, any error) is
//! "not sure", and the caller then runs the full reader.

use libyaml_safer::{Event, EventData, Parser, ScalarStyle};
use rustc_hash::FxHashSet;

use super::reader;
use super::resolve::resolve_plain;
use crate::tree::Value;

/// Largest input decided here. Below it the reader's node and line limits cannot be
/// reached (a byte of text makes at most a few nodes and comments, and the limit is
/// 500,000), so they need no count.
const MAX_INPUT: usize = 128 * 1024;

/// Mappings with at most this many keys find duplicates by comparing with the keys so far.
const SMALL_MAP: usize = 16;

/// Whether the YAML store's reader surely accepts `input` and the tree it builds is fully
/// determined by the scalars' texts: no alias, no tag on a scalar, no top-level `sops` key,
/// at least one document. `false` means "not sure" (not "refused").
pub fn surely_readable(input: &[u8]) -> bool {
    if input.len() > MAX_INPUT {
        return false;
    }
    let Ok(src) = reader::source_text(input) else {
        return false;
    };
    match reader::fast_events(&src) {
        Some(events) => check(events.into_iter().map(Ok)),
        None => {
            // libyaml-safer has a few panics left on malformed input; the full reader then
            // reports the error.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut bytes: &[u8] = src.as_bytes();
                let mut parser = Parser::new();
                parser.set_encoding(libyaml_safer::Encoding::Utf8);
                parser.set_input_string(&mut bytes);
                check(parser)
            }))
            .unwrap_or(false)
        }
    }
}

/// An open collection.
enum Frame {
    Seq,
    Map {
        /// Keys so far (small mappings), in order.
        keys: Vec<String>,
        /// All keys, once the mapping has more than [`SMALL_MAP`].
        set: Option<FxHashSet<String>>,
        /// The next child is a key.
        want_key: bool,
        /// The document's root mapping.
        root: bool,
    },
}

fn check(events: impl Iterator<Item = Result<Event, libyaml_safer::Error>>) -> bool {
    let mut frames: Vec<Frame> = Vec::new();
    let mut documents = 0usize;
    for ev in events {
        let Ok(ev) = ev else {
            return false;
        };
        match ev.data {
            EventData::StreamStart { .. } | EventData::StreamEnd => {}
            EventData::DocumentStart { .. } => {
                if !frames.is_empty() {
                    return false;
                }
            }
            EventData::DocumentEnd { .. } => {
                if !frames.is_empty() {
                    return false;
                }
                documents += 1;
            }
            EventData::Alias { .. } => return false,
            EventData::Scalar {
                tag, value, style, ..
            } => {
                if tag.is_some() {
                    return false;
                }
                let plain = matches!(style, ScalarStyle::Plain | ScalarStyle::Any);
                match frames.last_mut() {
                    // A document that is one scalar: only an empty one is read.
                    None => {
                        if !(plain && matches!(resolve_plain(&value), Ok(Value::Null))) {
                            return false;
                        }
                    }
                    Some(Frame::Seq) => {
                        if plain && !plain_value_reads(&value) {
                            return false;
                        }
                    }
                    Some(Frame::Map {
                        keys,
                        set,
                        want_key,
                        root,
                    }) => {
                        if *want_key {
                            if plain && !plain_key_is_string(&value) {
                                return false;
                            }
                            if *root && value == "sops" {
                                return false;
                            }
                            if !insert_key(keys, set, value) {
                                return false;
                            }
                        } else if plain && !plain_value_reads(&value) {
                            return false;
                        }
                        *want_key = !*want_key;
                    }
                }
            }
            EventData::SequenceStart { .. } | EventData::MappingStart { .. } => {
                let map = matches!(ev.data, EventData::MappingStart { .. });
                // The reader refuses nesting at its depth limit; stay clear of the edge.
                if frames.len() + 2 >= reader::MAX_DEPTH {
                    return false;
                }
                match frames.last_mut() {
                    // The top level must be a mapping.
                    None if !map => return false,
                    None => {}
                    Some(Frame::Seq) => {}
                    Some(Frame::Map { want_key, .. }) => {
                        // A collection as a key is not a string.
                        if *want_key {
                            return false;
                        }
                        *want_key = true;
                    }
                }
                let root = frames.is_empty();
                frames.push(if map {
                    Frame::Map {
                        keys: Vec::new(),
                        set: None,
                        want_key: true,
                        root,
                    }
                } else {
                    Frame::Seq
                });
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                // A mapping ending after a key is the flow `{a}` form: its value is null.
                if frames.pop().is_none() {
                    return false;
                }
            }
        }
    }
    frames.is_empty() && documents > 0
}

/// Record `key` in its mapping; `false` when it is already there.
fn insert_key(keys: &mut Vec<String>, set: &mut Option<FxHashSet<String>>, key: String) -> bool {
    if let Some(s) = set {
        return s.insert(key);
    }
    if keys.contains(&key) {
        return false;
    }
    keys.push(key);
    if keys.len() > SMALL_MAP {
        *set = Some(keys.drain(..).collect());
    }
    true
}

/// Whether an untagged plain scalar used as a key reads as a string.
fn plain_key_is_string(s: &str) -> bool {
    let b = s.as_bytes();
    let word = b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && !matches!(
            s,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        );
    word || matches!(resolve_plain(s), Ok(Value::Str(_)))
}

/// Whether an untagged plain scalar value resolves (only integers out of range do not).
fn plain_value_reads(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b'0'..=b'9' | b'+' | b'-') => {
            // Up to 18 digits is always a valid 64-bit integer.
            (s.len() <= 18 && s.bytes().all(|c| c.is_ascii_digit())) || resolve_plain(s).is_ok()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{Format, StoreError};
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    fn full(src: &str) -> Result<(), StoreError> {
        Format::Yaml
            .store()
            .load_for_reading(src.as_bytes())
            .map(|_| ())
    }

    #[test]
    fn plain_manifests_are_surely_readable() {
        for src in [
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n",
            "a: 1\n---\nb: [x, y]\nc: {d: e}\n",
            "# only a comment then\nkey: |\n  text\n",
            "---\n",
            "a: {b}\n",
        ] {
            assert!(surely_readable(src.as_bytes()), "{src}");
            assert!(full(src).is_ok(), "{src}");
        }
    }

    #[test]
    fn refusals_and_unsure_cases_are_not_surely_readable() {
        for src in [
            "a: 1\na: 2\n",
            "a: 1\n\"a\": 2\n",
            "1: x\n",
            "null: x\n",
            "true: x\n",
            "[a, b]: c\n",
            "- a\n- b\n",
            "just text\n",
            "\"quoted\"\n",
            "a: 18446744073709551615\n",
            "a: [1, 2\n",
            "a: b: c\n",
        ] {
            assert!(full(src).is_err(), "the reader refuses {src:?}");
            assert!(!surely_readable(src.as_bytes()), "{src:?}");
        }
        // Read, but not decided here.
        for src in [
            "a: &x 1\nb: *x\n",
            "a: !!binary U2VjcmV0\n",
            "sops:\n  version: 3.11.0\n",
            "# nothing but a comment\n",
        ] {
            assert!(full(src).is_ok(), "the reader accepts {src:?}");
            assert!(!surely_readable(src.as_bytes()), "{src:?}");
        }
        assert!(!surely_readable(b""));
        assert!(
            surely_readable(b"a: 99999999999999999999\n"),
            "a float, as go-yaml reads it"
        );
        let many: String = (0..40).map(|i| format!("k{i}: v\n")).collect();
        assert!(surely_readable(many.as_bytes()));
        assert!(!surely_readable(format!("{many}k7: again\n").as_bytes()));
        assert!(!surely_readable(b"a: \xff\n"));
        let deep = format!("{}1{}\n", "[".repeat(1200), "]".repeat(1200));
        assert!(!surely_readable(format!("a: {deep}").as_bytes()));
    }

    /// A document tree for [`yamlish`].
    #[derive(Clone, Debug)]
    enum Doc {
        Scalar(&'static str),
        Map(Vec<(&'static str, Doc)>),
        Seq(Vec<Doc>),
    }

    fn render(d: &Doc, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent);
        match d {
            Doc::Scalar(v) => {
                out.push(' ');
                out.push_str(v);
                out.push('\n');
            }
            Doc::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
            Doc::Seq(items) if items.is_empty() => out.push_str(" []\n"),
            Doc::Map(entries) => {
                out.push('\n');
                for (k, v) in entries {
                    out.push_str(&format!("{pad}{k}:"));
                    render(v, indent + 1, out);
                }
            }
            Doc::Seq(items) => {
                out.push('\n');
                for v in items {
                    out.push_str(&format!("{pad}-"));
                    render(v, indent + 1, out);
                }
            }
        }
    }

    /// YAML-like text: block documents of keys and values drawn from small alphabets
    /// (mostly ordinary, some that the reader refuses or that the pass must leave to it:
    /// duplicate and non-string keys, out-of-range integers, aliases, tags, flow
    /// collections, the `sops` key), with now and then a line replaced by loose tokens.
    fn yamlish() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            8 => prop::sample::select(vec!["a", "b", "c", "kind", "name", "spec", "data", "x_y", "\"q\"", "'r'"]),
            1 => prop::sample::select(vec![
                "1", "null", "true", "~", "\"\"", "sops", "? x", "[a]", "{k: v}", "&k a", "*k",
                "!!str a", "a b", "é", "\"a\"",
            ]),
        ];
        let scalar = prop_oneof![
            8 => prop::sample::select(vec!["1", "x", "-1", "1e3", "\"q\"", "'s'", "nginx:1.27", "", "null", "[1, 2]", "{c: d}"]),
            1 => prop::sample::select(vec![
                "0x1F", "18446744073709551615", "99999999999999999999", "{c}", "[a, [b]]",
                "|-\n    z", ">-\n    y", "&v 1", "*v", "*k", "!!binary QQ==", "!!int x", "# c",
                "a: b", "\"\\u0041\"", "[1,", "}", "\t1",
            ]),
        ];
        let doc = scalar
            .prop_map(Doc::Scalar)
            .prop_recursive(4, 24, 5, move |inner| {
                prop_oneof![
                    prop::collection::vec((key.clone(), inner.clone()), 0..5).prop_map(Doc::Map),
                    prop::collection::vec(inner, 0..4).prop_map(Doc::Seq),
                ]
            });
        let junk = prop::sample::select(vec![
            "---",
            "...",
            "- ",
            "[",
            "}",
            ":",
            "#c",
            "\t",
            "\\",
            "%YAML 1.1",
            "",
            "  a: 1",
        ]);
        (
            prop::collection::vec(doc, 1..3),
            prop::option::weighted(0.2, (any::<prop::sample::Index>(), junk)),
        )
            .prop_map(|(docs, mutation)| {
                let mut out = String::new();
                for (i, d) in docs.iter().enumerate() {
                    if i > 0 {
                        out.push_str("---\n");
                    }
                    let mut text = String::new();
                    render(d, 0, &mut text);
                    // The top level starts on its own line, not after a key.
                    out.push_str(
                        text.strip_prefix(' ')
                            .unwrap_or(text.trim_start_matches('\n')),
                    );
                }
                if let Some((at, j)) = mutation {
                    let mut lines: Vec<&str> = out.lines().collect();
                    let i = at.index(lines.len());
                    lines[i] = j;
                    out = lines.join("\n") + "\n";
                }
                out
            })
    }

    /// Never "surely readable" when the reader refuses (the gate relies on it to skip the
    /// reader), over texts of which a good share are readable (counted, so the property
    /// cannot pass on a generator that only makes rejects).
    #[test]
    fn surely_readable_implies_the_reader_accepts() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = yamlish();
        let (mut sure, mut accepted) = (0, 0);
        for _ in 0..6000 {
            let src = strategy.new_tree(&mut runner).expect("a case").current();
            let ok = full(&src).is_ok();
            accepted += usize::from(ok);
            if surely_readable(src.as_bytes()) {
                sure += 1;
                assert!(ok, "{src:?}: {:?}", full(&src).err());
            } else if ok {
                // What the pass leaves to the reader is only what it says it leaves.
                let content = src.lines().any(|l| {
                    !l.trim().is_empty() && !l.trim_start().starts_with('#') && l != "---"
                });
                assert!(
                    src.contains(['&', '*', '!']) || src.contains("sops") || !content,
                    "the reader accepts and the pass is unsure: {src:?}"
                );
            }
        }
        assert!(
            sure >= 600,
            "only {sure} surely readable cases ({accepted} accepted)"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Line-structured documents of keys, scalars and nested blocks (what plain
        /// manifests are made of): the two agree both ways whenever no alias or tag is
        /// involved.
        #[test]
        fn agrees_with_the_reader_on_block_documents(
            lines in prop::collection::vec(
                (0usize..3, prop::sample::select(vec![
                    "a: 1", "a: x", "b: 2", "\"b\": q", "c:", "- 1", "- k: v", "d: [1, 2]",
                    "e: {f: g}", "1: x", "n: 99999999999999999999", "z: |", "# note", "",
                ])),
                1..12,
            )
        ) {
            let src: String = lines
                .iter()
                .map(|(indent, l)| format!("{}{l}\n", "  ".repeat(*indent)))
                .collect();
            let fast = surely_readable(src.as_bytes());
            let reader = full(&src);
            match &reader {
                // A stream of only comments and blank lines is read as one empty
                // document; the pass leaves it to the reader.
                Ok(_) => prop_assert!(
                    fast || src.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')),
                    "the reader accepts but the pass is unsure: {src:?}"
                ),
                Err(_) => prop_assert!(!fast, "{src:?}"),
            }
        }
    }
}
