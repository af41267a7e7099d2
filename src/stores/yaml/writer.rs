//! The canonical YAML writer (what sops writes, §9.1.5): block style, one indentation
//! step per level, sequences indented under their key, comments as `#text` lines, and
//! every string written so that go-yaml v3 and YAML 1.1 readers read it back unchanged.

use std::borrow::Cow;

use base64::Engine as _;

use super::resolve::{is_printable, plain_safe};
use crate::tree::{Branch, Item, Value, format_float_yaml};

/// Layout choices of the canonical writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WStyle {
    /// Spaces per nesting level.
    pub indent: usize,
    /// Sequences under a key start at the key's column (`key:\n- a`) instead of one step in.
    pub indentless: bool,
}

/// Write documents separated by `---`, each followed by a `sops` key when `metadata` is given.
pub fn write_docs(docs: &[Branch], metadata: Option<&Branch>, st: WStyle) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match metadata {
            Some(md) => {
                let mut d = doc.clone();
                d.items
                    .push(Item::Pair("sops".to_string(), Value::Branch(md.clone())));
                write_doc(&mut out, &d, st);
            }
            None => write_doc(&mut out, doc, st),
        }
    }
    out
}

/// One document: a branch at column 0, `{}` when it has no items.
pub fn write_doc(out: &mut String, doc: &Branch, st: WStyle) {
    // An empty branch is `{}` (after its comments, if it has only comments).
    write_branch(out, doc, 0, false, 0, st);
}

/// A single value as its own YAML document (`decrypt --extract` of a non-string value).
pub fn write_value(v: &Value, st: WStyle) -> String {
    let mut out = String::new();
    match v {
        Value::Branch(b) => write_doc(&mut out, b, st),
        Value::List(l) if !l.is_empty() => write_list(&mut out, l, 0, false, st),
        Value::List(_) => out.push_str("[]\n"),
        Value::Comment(c) => {
            push_comment(&mut out, c, 0);
        }
        Value::Str(s) if literal_ok(s) => {
            out.push_str(&literal_block(s, st.indent, st.indent));
            out.push('\n');
        }
        other => {
            out.push_str(&scalar_inline(other));
            out.push('\n');
        }
    }
    out
}

fn has_pairs(b: &Branch) -> bool {
    b.items.iter().any(|i| matches!(i, Item::Pair(..)))
}

fn has_values(l: &[Value]) -> bool {
    l.iter().any(|v| !matches!(v, Value::Comment(_)))
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn push_comment(out: &mut String, text: &str, col: usize) {
    for line in text.split('\n') {
        pad(out, col);
        out.push('#');
        out.push_str(line.trim_end_matches('\r'));
        out.push('\n');
    }
}

/// Longest key written plain (YAML limits an implicit key to 1,024 characters).
const MAX_PLAIN_KEY: usize = 1000;

/// A mapping key: plain when safe, else double-quoted. The key `<<` is written
/// `!!merge <<`, as go-yaml v3 (sops 3.11) writes it whatever its source style, so a
/// merge key that the reader expanded stays a merge key for YAML 1.1 readers.
pub fn key_text(k: &str) -> String {
    if k == "<<" {
        return "!!merge <<".to_string();
    }
    if k.len() <= MAX_PLAIN_KEY && plain_safe(k) {
        k.to_string()
    } else {
        double_quoted(k)
    }
}

/// Write the items of `b` at column `col`. With `first_inline` the first item continues
/// the current line (after `- `); it must then be a pair. Nested content goes one step in
/// from `base` (go-yaml: for a mapping inside a list item, from the dash column), but
/// always deeper than the keys.
fn write_branch(
    out: &mut String,
    b: &Branch,
    col: usize,
    first_inline: bool,
    base: usize,
    st: WStyle,
) {
    let child = if base + st.indent > col {
        base + st.indent
    } else {
        col + st.indent
    };
    if !has_pairs(b) {
        // Comments only (or nothing): comments, then an empty flow mapping.
        let mut first = first_inline;
        for item in &b.items {
            if let Item::Comment(c) = item {
                if first {
                    out.push('\n');
                    first = false;
                }
                push_comment(out, c, col);
            }
        }
        if !first {
            pad(out, col);
        }
        out.push_str("{}\n");
        return;
    }
    for (i, item) in b.items.iter().enumerate() {
        let inline = first_inline && i == 0;
        match item {
            Item::Comment(c) => push_comment(out, c, col),
            Item::Pair(k, v) => {
                if !inline {
                    pad(out, col);
                }
                out.push_str(&key_text(k));
                out.push(':');
                write_mapping_value(out, v, col, child, st);
            }
        }
    }
}

/// One `key: value` entry with the key at column `col` (indentation included).
pub fn write_pair(out: &mut String, k: &str, v: &Value, col: usize, st: WStyle) {
    pad(out, col);
    out.push_str(&key_text(k));
    out.push(':');
    write_mapping_value(out, v, col, col + st.indent, st);
}

/// The value after `key:` (the key is at column `col`, nested content at `child`).
fn write_mapping_value(out: &mut String, v: &Value, col: usize, child: usize, st: WStyle) {
    match v {
        Value::Branch(b) if b.items.is_empty() => out.push_str(" {}\n"),
        Value::Branch(b) => {
            out.push('\n');
            write_branch(out, b, child, false, child, st);
        }
        Value::List(l) if l.is_empty() => out.push_str(" []\n"),
        Value::List(l) => {
            out.push('\n');
            let d = if st.indentless { col } else { child };
            if has_values(l) {
                write_list(out, l, d, false, st);
            } else {
                for c in l {
                    if let Value::Comment(c) = c {
                        push_comment(out, c, d);
                    }
                }
                pad(out, d);
                out.push_str("[]\n");
            }
        }
        Value::Str(s) if literal_ok(s) => {
            out.push(' ');
            out.push_str(&literal_block(s, child, child - col));
            out.push('\n');
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_inline(other));
            out.push('\n');
        }
    }
}

/// Write a sequence with its dashes at column `d`.
pub fn write_list(out: &mut String, l: &[Value], d: usize, first_inline: bool, st: WStyle) {
    for (i, v) in l.iter().enumerate() {
        let inline = first_inline && i == 0;
        if let Value::Comment(c) = v {
            if crate::cipher::is_enc_value(c) {
                // An encrypted comment in a list is a list item, as sops writes it.
                if !inline {
                    pad(out, d);
                }
                out.push_str("- ");
                out.push_str(c);
                out.push('\n');
            } else {
                push_comment(out, c, d);
            }
            continue;
        }
        if !inline {
            pad(out, d);
        }
        match v {
            Value::Branch(b) if b.items.is_empty() => out.push_str("- {}\n"),
            Value::Branch(b) if matches!(b.items.first(), Some(Item::Pair(..))) => {
                out.push_str("- ");
                write_branch(out, b, d + 2, true, d, st);
            }
            Value::Branch(b) => {
                out.push_str("-\n");
                write_branch(out, b, d + 2, false, d, st);
            }
            Value::List(sub) if sub.is_empty() => out.push_str("- []\n"),
            Value::List(sub) if !matches!(sub.first(), Some(Value::Comment(_))) => {
                out.push_str("- ");
                write_list(out, sub, d + 2, true, st);
            }
            Value::List(sub) => {
                out.push_str("-\n");
                if has_values(sub) {
                    write_list(out, sub, d + 2, false, st);
                } else {
                    for c in sub {
                        if let Value::Comment(c) = c {
                            push_comment(out, c, d + 2);
                        }
                    }
                    pad(out, d + 2);
                    out.push_str("[]\n");
                }
            }
            Value::Str(s) if literal_ok(s) => {
                out.push_str("- ");
                out.push_str(&literal_block(s, d + 2, 2));
                out.push('\n');
            }
            other => {
                out.push_str("- ");
                out.push_str(&scalar_inline(other));
                out.push('\n');
            }
        }
    }
}

/// A leaf on one line: plain when that reads back the same, else double-quoted. A string
/// written plain is lent, not copied (the layout writer's edits of a 20,000-key encrypt
/// held a second copy of every `ENC[...]` value).
pub fn scalar_inline(v: &Value) -> Cow<'_, str> {
    let text = match v {
        Value::Str(s) => {
            if plain_word(s) || plain_text(s) || plain_safe(s) {
                return Cow::Borrowed(s);
            } else {
                double_quoted(s)
            }
        }
        Value::Bytes(b) => format!(
            "!!binary {}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float_yaml(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.0.clone(),
        Value::Null => "null".to_string(),
        // Not leaves of a mapping; written as strings so nothing is lost.
        Value::Comment(c) => double_quoted(c),
        Value::Branch(_) => "{}".to_string(),
        Value::List(_) => "[]".to_string(),
    };
    Cow::Owned(text)
}

/// A cheap sufficient test for [`plain_safe`]: 6 or more ASCII letters, digits or
/// underscores that start with a letter, or start with a digit and hold a letter that no
/// number can hold (not a hex digit, nor the `x`/`o` of a base prefix, nor `e`). No
/// resolver reads such a word as anything but a string (every YAML 1.1 and 1.2 keyword is
/// at most five characters; numbers are digits, `_`, hex digits, `e` and base prefixes;
/// timestamps need `-`) and it holds no indicator, space or control character, so
/// [`plain_safe`] says yes to all of them (a property test checks it). The resolver and
/// its regexes cost thousands of instructions per value; this costs a few per byte.
fn plain_word(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 6 {
        return false;
    }
    // Folds without early exits, which the compiler vectorises: a decrypt writes this test
    // once per value (~550 instructions for a 48-byte value byte by byte, before).
    let lower = |c: u8| c | 0x20;
    let letter = |c: u8| lower(c).wrapping_sub(b'a') < 26;
    let digit = |c: u8| c.wrapping_sub(b'0') < 10;
    let all_word = b
        .iter()
        .fold(true, |all, &c| all & (letter(c) | digit(c) | (c == b'_')));
    if !all_word {
        return false;
    }
    // Among word characters: `g`..`z` either case, less the base prefixes `o` and `x`.
    let not_numeric =
        |c: u8| (lower(c).wrapping_sub(b'g') < 20) & (lower(c) != b'o') & (lower(c) != b'x');
    match b[0] {
        c if letter(c) => true,
        c if digit(c) => b.iter().fold(false, |any, &c| any | not_numeric(c)),
        _ => false,
    }
}

/// Another cheap sufficient test for [`plain_safe`], for longer text such as sops's
/// `ENC[AES256_GCM,data:...,type:str]` values (the full test cost ~7,900 instructions per
/// such value, 157 M of a 20,000-key encrypt): 6 or more visible ASCII characters (no
/// space, tab or control character) that start with a letter and do not end with `:`.
/// Every keyword a resolver reads as a non-string is at most five characters and every
/// number or timestamp starts with a digit, sign or dot, so such text reads as itself;
/// without spaces it holds no `: ` or ` #`, and a letter is no indicator (a property
/// test checks it against [`plain_safe`]).
fn plain_text(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 6
        && b[0].is_ascii_alphabetic()
        && b.last() != Some(&b':')
        && b.iter().all(|c| (0x21..=0x7E).contains(c))
}

/// A double-quoted YAML string with escapes for everything that is not printable.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c == '\u{feff}' || !is_printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Can `s` be written as a literal block scalar and read back unchanged?
pub fn literal_ok(s: &str) -> bool {
    if !s.contains('\n') {
        return false;
    }
    let body = s.trim_end_matches('\n');
    if body.trim().is_empty() {
        return false;
    }
    if !s
        .chars()
        .all(|c| c == '\n' || (is_printable(c) && c != '\u{feff}'))
    {
        return false;
    }
    // Lines with trailing white space (or white space only) are written quoted, as go-yaml does.
    body.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

/// `|` block: header (chomping, indentation indicator) and lines at `content_col`, without
/// the final line break. `indicator` is the content indentation relative to the parent
/// node's indentation, used only when the first line starts with a space.
pub fn literal_block(s: &str, content_col: usize, indicator: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let mut out = String::with_capacity(s.len() + 16);
    out.push('|');
    let first_content = body.split('\n').find(|l| !l.is_empty()).unwrap_or_default();
    if first_content.starts_with(' ') {
        out.push_str(&indicator.clamp(1, 9).to_string());
    }
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(&mut out, content_col);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Timestamp;

    const ST: WStyle = WStyle {
        indent: 4,
        indentless: false,
    };

    fn pair(k: &str, v: Value) -> Item {
        Item::Pair(k.to_string(), v)
    }

    #[test]
    fn canonical_layout_known_answer() {
        let doc = Branch {
            items: vec![
                Item::Comment(" head".into()),
                pair(
                    "db",
                    Value::Branch(Branch {
                        items: vec![
                            pair("user", Value::Str("admin".into())),
                            pair("port", Value::Int(5432)),
                            pair("sport", Value::Str("5432".into())),
                            pair("ratio", Value::Float(0.5)),
                            pair("on", Value::Bool(true)),
                            pair(
                                "hosts",
                                Value::List(vec![
                                    Value::Str("a".into()),
                                    Value::Comment(" c".into()),
                                ]),
                            ),
                            pair(
                                "maps",
                                Value::List(vec![Value::Branch(Branch {
                                    items: vec![pair("a", Value::Int(1)), pair("b", Value::Null)],
                                })]),
                            ),
                            pair("empty", Value::Branch(Branch::default())),
                            pair("none", Value::List(vec![])),
                            pair("cert", Value::Str("line1\nline2\n".into())),
                            pair(
                                "when",
                                Value::Time(Timestamp("2024-01-02T00:00:00Z".into())),
                            ),
                        ],
                    }),
                ),
            ],
        };
        let got = write_docs(&[doc], None, ST);
        let want = "# head\ndb:\n    user: admin\n    port: 5432\n    sport: \"5432\"\n    ratio: 0.5\n    \"on\": true\n    hosts:\n        - a\n        # c\n    maps:\n        - a: 1\n          b: null\n    empty: {}\n    none: []\n    cert: |\n        line1\n        line2\n    when: 2024-01-02T00:00:00Z\n";
        assert_eq!(got, want);
    }

    /// Nested content under a mapping inside a list item, as go-yaml (sops) writes it for
    /// indents 2, 3, 4 (checked with sops 3.11 `stores.yaml.indent`).
    #[test]
    fn compact_mappings_in_lists_like_go_yaml() {
        let item = Value::Branch(Branch {
            items: vec![
                pair("a", Value::Int(1)),
                pair(
                    "m",
                    Value::Branch(Branch {
                        items: vec![pair("x", Value::Int(1))],
                    }),
                ),
                pair("s", Value::List(vec![Value::Int(1)])),
                pair("t", Value::Str("text\nmore\n".into())),
            ],
        });
        let nested = Value::List(vec![Value::Str("n1".into()), Value::Str("n2".into())]);
        let doc = Branch {
            items: vec![pair("l", Value::List(vec![item, nested]))],
        };
        let want = [
            (
                2,
                "l:\n  - a: 1\n    m:\n      x: 1\n    s:\n      - 1\n    t: |\n      text\n      more\n  - - n1\n    - n2\n",
            ),
            (
                3,
                "l:\n   - a: 1\n     m:\n      x: 1\n     s:\n      - 1\n     t: |\n      text\n      more\n   - - n1\n     - n2\n",
            ),
            (
                4,
                "l:\n    - a: 1\n      m:\n        x: 1\n      s:\n        - 1\n      t: |\n        text\n        more\n    - - n1\n      - n2\n",
            ),
        ];
        for (indent, text) in want {
            let got = write_docs(
                std::slice::from_ref(&doc),
                None,
                WStyle {
                    indent,
                    indentless: false,
                },
            );
            assert_eq!(got, text, "indent {indent}");
        }
    }

    #[test]
    fn literal_chomping_and_indicator() {
        assert_eq!(literal_block("a\nb", 2, 2), "|-\n  a\n  b");
        assert_eq!(literal_block("a\nb\n", 2, 2), "|\n  a\n  b");
        assert_eq!(literal_block("a\n\n", 2, 2), "|+\n  a\n");
        assert_eq!(literal_block(" a\nb\n", 4, 4), "|4\n     a\n    b");
        assert_eq!(literal_block("a\n\nb\n", 2, 2), "|\n  a\n\n  b");
        assert!(!literal_ok("single"));
        assert!(!literal_ok("\n"));
        assert!(!literal_ok("a \nb"));
        assert!(!literal_ok("a\r\nb"));
        assert!(literal_ok("a\nb"));
    }

    #[test]
    fn single_values() {
        let st = WStyle {
            indent: 2,
            indentless: false,
        };
        assert_eq!(write_value(&Value::Int(5), st), "5\n");
        assert_eq!(write_value(&Value::Str("yes".into()), st), "\"yes\"\n");
        assert_eq!(
            write_value(&Value::Str("a\nb\n".into()), st),
            "|\n  a\n  b\n"
        );
        assert_eq!(
            write_value(&Value::List(vec![Value::Int(1), Value::Bool(false)]), st),
            "- 1\n- false\n"
        );
        assert_eq!(write_value(&Value::List(vec![]), st), "[]\n");
        let b = Branch {
            items: vec![pair("k", Value::Null)],
        };
        assert_eq!(write_value(&Value::Branch(b), st), "k: null\n");
        assert_eq!(write_value(&Value::Branch(Branch::default()), st), "{}\n");
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(
            double_quoted("a\"b\\c\n\t\u{1}\u{85}\u{2028}é"),
            "\"a\\\"b\\\\c\\n\\t\\x01\\N\\Lé\""
        );
        assert_eq!(double_quoted(""), "\"\"");
    }

    #[test]
    fn metadata_appended_to_every_document() {
        let md = Branch {
            items: vec![pair(
                "lastmodified",
                Value::Str("2026-11-25T16:44:17Z".into()),
            )],
        };
        let d = Branch {
            items: vec![pair("a", Value::Int(1))],
        };
        let got = write_docs(&[d.clone(), d], Some(&md), ST);
        assert_eq!(
            got,
            "a: 1\nsops:\n    lastmodified: \"2026-11-25T16:44:17Z\"\n---\na: 1\nsops:\n    lastmodified: \"2026-11-25T16:44:17Z\"\n"
        );
    }

    /// What go-yaml v3 (sops 3.11) writes, measured: a merge key as `!!merge <<` whatever
    /// its source style, and plain scalars of any length on one line.
    #[test]
    fn merge_keys_and_long_plain_values_like_sops() {
        let long = "a".repeat(1500);
        let words = format!("{}end", "word ".repeat(300));
        let doc = Branch {
            items: vec![
                pair(
                    "<<",
                    Value::Branch(Branch {
                        items: vec![pair("a", Value::Int(1))],
                    }),
                ),
                pair("long", Value::Str(long.clone())),
                pair("words", Value::Str(words.clone())),
            ],
        };
        let got = write_docs(&[doc], None, ST);
        assert_eq!(
            got,
            format!("!!merge <<:\n    a: 1\nlong: {long}\nwords: {words}\n")
        );
        // A very long key stays quoted (YAML caps implicit keys at 1,024 characters).
        assert!(key_text(&"k".repeat(1001)).starts_with('"'));
    }

    #[test]
    fn plain_words_known_answers() {
        for w in [
            "abcdef",
            "KEY_00001",
            "Zx9_a0",
            "password123",
            "9zabcd",
            "0x1F_gg",
        ] {
            assert!(plain_word(w), "{w}");
        }
        // Too short (keywords live there), numbers, leading underscore, other bytes.
        for w in [
            "false",
            "FALSE",
            "null",
            "abc",
            "1abcdef",
            "_abcdef",
            "abc-def",
            "abcdéf",
            "abc def",
            "0x1F_ab",
            "1e10_000",
            "0b1010",
            "0o7777",
            "123456",
            "1_000_000",
        ] {
            assert!(!plain_word(w), "{w}");
        }
    }

    /// [`plain_word`] as first written, byte by byte: the folds must say the same.
    fn plain_word_by_bytes(s: &str) -> bool {
        let b = s.as_bytes();
        let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        let not_numeric = |c: &u8| {
            matches!(c.to_ascii_lowercase(), b'g'..=b'z') && !matches!(c, b'o' | b'O' | b'x' | b'X')
        };
        b.len() >= 6
            && b.iter().all(word)
            && match b.first() {
                Some(c) if c.is_ascii_alphabetic() => true,
                Some(c) if c.is_ascii_digit() => b.iter().any(not_numeric),
                _ => false,
            }
    }

    #[test]
    fn plain_word_matches_its_definition_on_every_byte() {
        // Each byte value in the first, a middle and the last place of a word.
        for c in 0..=255u8 {
            for base in [*b"abcdefg", *b"1234567", *b"Zx9_a0b"] {
                for at in [0, 3, 6] {
                    let mut w = base.to_vec();
                    w[at] = c;
                    let s = String::from_utf8_lossy(&w);
                    assert_eq!(plain_word(&s), plain_word_by_bytes(&s), "{s:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_word_implies_plain_safe(
            s in concat!(
                "[A-Za-z][A-Za-z0-9_]{0,12}|[0-9_][A-Za-z0-9_]{0,12}",
                // Numbers in every notation, and near misses.
                "|[0-9]{1,4}[eE][0-9]{1,4}|0[xX][0-9a-fA-F_]{4,8}|0[oO][0-7_]{4,8}",
                "|0[bB][01_]{4,8}|[0-9_]{6,10}|[0-9][0-9a-fA-FxXoObBeE_]{3,8}[g-zG-Z]?[0-9a-f_]{0,3}",
            )
        ) {
            proptest::prop_assert_eq!(plain_word(&s), plain_word_by_bytes(&s), "{:?}", s);
            if plain_word(&s) {
                proptest::prop_assert!(plain_safe(&s), "{s:?}");
            }
        }

        #[test]
        fn plain_text_implies_plain_safe(
            s in concat!(
                // Letter-led visible ASCII with every indicator, and near misses (spaces,
                // a final colon, short keywords).
                "[A-Za-z][!-~]{0,16}|[A-Za-z][!-~ ]{0,12}:?|[A-Za-z]{1,6}",
                "|ENC\\[AES256_GCM,data:[A-Za-z0-9+/=]{0,12},iv:[A-Za-z0-9+/=]{4},type:str\\]",
                "|(y|yes|no|on|off|true|false|null|NULL|Off)[a-z:]?",
            )
        ) {
            if plain_text(&s) {
                proptest::prop_assert!(plain_safe(&s), "{s:?}");
            }
        }
    }
}
