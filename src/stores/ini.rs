//! The INI store: sections of `key = value` ⇄ a [`Branch`] of sections (each a branch of
//! strings), read and written the way sops does it through `gopkg.in/ini.v1`
//! (sops-format.md §8.7, §9.4): `DEFAULT` for keys before any section, comments stripped
//! of their markers, the inline-comment quirk, quoted and multi-line values, `=` aligned
//! within a section on output, and the metadata in a `[sops]` section.

use std::collections::HashMap;

use super::flatten::{flatten, unflatten, value_to_flat_string};
use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The INI store.
pub struct IniStore;

/// The section that holds keys written before any section header.
const DEFAULT: &str = "DEFAULT";
/// The metadata section.
const SOPS: &str = "sops";

/// A key as go-ini holds it.
struct Key {
    name: String,
    value: String,
    comment: String,
}

/// A section as go-ini holds it.
struct Section {
    name: String,
    comment: String,
    keys: Vec<Key>,
    /// Position of each key name in `keys` (a linear search made big files quadratic).
    index: HashMap<String, usize>,
}

impl Section {
    fn new(name: String, comment: String) -> Section {
        Section {
            name,
            comment,
            keys: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Add a key; a repeated key keeps its place and takes the new value and comment.
    fn set(&mut self, key: Key) {
        match self
            .index
            .get(&key.name)
            .and_then(|&i| self.keys.get_mut(i))
        {
            Some(k) => *k = key,
            None => {
                self.index.insert(key.name.clone(), self.keys.len());
                self.keys.push(key);
            }
        }
    }
}

/// Most keys, comments and section headers in one INI file: memory is proportional to it,
/// so it bounds the peak (see the YAML reader's `MAX_NODES`).
pub const MAX_ENTRIES: usize = 500_000;

fn syntax(line: usize, message: &str) -> StoreError {
    StoreError::Syntax {
        format: Format::Ini,
        line: Some(line),
        column: None,
        message: message.to_string(),
    }
}

/// The comment text sops keeps: go-ini's trimmed comment without leading markers/spaces.
fn comment_text(lines: &[String]) -> String {
    lines
        .join("\n")
        .trim()
        .trim_start_matches(['#', ';', ' '])
        .to_string()
}

/// Lines of the input with their 1-based numbers.
struct Lines<'a> {
    inner: std::iter::Enumerate<std::str::Split<'a, char>>,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        self.inner.next().map(|(i, l)| (i + 1, l))
    }
}

/// Split `rest` (the text after the key's delimiter) into a value and an inline comment,
/// reading further lines for `"""`/backtick multi-line values and `\` continuations.
fn read_value(
    rest: &str,
    lineno: usize,
    lines: &mut Lines<'_>,
) -> Result<(String, Option<String>), StoreError> {
    let line = rest.trim_start();
    if line.is_empty() {
        return Ok((String::new(), None));
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        Some("\"\"\"")
    } else if line.starts_with('`') {
        Some("`")
    } else {
        None
    };
    if let Some(q) = quote {
        let body = line.get(q.len()..).unwrap_or_default();
        if let Some(pos) = body.rfind(q) {
            return Ok((body.get(..pos).unwrap_or_default().to_string(), None));
        }
        // Multi-line: everything up to the next line that holds the closing quote.
        let mut val = body.to_string();
        loop {
            let Some((_, next)) = lines.next_line() else {
                return Err(syntax(
                    lineno,
                    "missing closing quote of a multi-line value",
                ));
            };
            val.push('\n');
            if let Some(pos) = next.rfind(q) {
                val.push_str(next.get(..pos).unwrap_or_default());
                return Ok((val, None));
            }
            val.push_str(next);
        }
    }
    let line = line.trim();
    if let Some(head) = line.strip_suffix('\\') {
        let mut val = head.to_string();
        while let Some((_, next)) = lines.next_line() {
            let next = next.trim();
            if next.is_empty() {
                break;
            }
            match next.strip_suffix('\\') {
                Some(more) => val.push_str(more),
                None => {
                    val.push_str(next);
                    break;
                }
            }
        }
        return Ok((val, None));
    }
    // ini.v1 quirk: the first `#` or `;` anywhere starts an inline comment.
    let (line, comment) = match line.find(['#', ';']) {
        Some(i) => (
            line.get(..i).unwrap_or_default().trim(),
            Some(line.get(i..).unwrap_or_default().to_string()),
        ),
        None => (line, None),
    };
    let surrounded = |q: char| {
        line.len() >= 2 && line.starts_with(q) && line.ends_with(q) && line.matches(q).count() == 2
    };
    let value = if surrounded('"') || surrounded('\'') {
        line.get(1..line.len() - 1).unwrap_or_default()
    } else {
        line
    };
    Ok((value.to_string(), comment))
}

/// Read a key name (optionally quoted with `"`, `"""` or a backtick) up to the first `=`
/// or `:` delimiter; returns the name and the text after the delimiter.
fn read_key(line: &str, lineno: usize) -> Result<(String, &str), StoreError> {
    let quote = if line.starts_with('"') {
        if line.len() > 6 && line.starts_with("\"\"\"") {
            Some("\"\"\"")
        } else {
            Some("\"")
        }
    } else if line.starts_with('`') {
        Some("`")
    } else {
        None
    };
    let not_found = || syntax(lineno, "key-value delimiter ('=' or ':') not found");
    if let Some(q) = quote {
        let body = line.get(q.len()..).unwrap_or_default();
        let end = body
            .find(q)
            .ok_or_else(|| syntax(lineno, "missing closing quote of a key name"))?;
        let after = body.get(end + q.len()..).unwrap_or_default();
        let d = after.find(['=', ':']).ok_or_else(not_found)?;
        let name = body.get(..end).unwrap_or_default().trim().to_string();
        return Ok((name, after.get(d + 1..).unwrap_or_default()));
    }
    let d = line.find(['=', ':']).ok_or_else(not_found)?;
    if d == 0 {
        return Err(syntax(lineno, "empty key name"));
    }
    Ok((
        line.get(..d).unwrap_or_default().trim().to_string(),
        line.get(d + 1..).unwrap_or_default(),
    ))
}

/// Parse INI text into go-ini's sections (DEFAULT first, always present).
fn parse_sections(text: &str) -> Result<Vec<Section>, StoreError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections = vec![Section::new(DEFAULT.to_string(), String::new())];
    let mut pending: Vec<String> = Vec::new();
    let mut lines = Lines {
        inner: text.split('\n').enumerate(),
    };
    let mut entries = 0usize;
    while let Some((lineno, raw)) = lines.next_line() {
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(StoreError::Limit {
                message: format!(
                    "the INI file has more than the limit of {MAX_ENTRIES} lines with content"
                ),
            });
        }
        if line.starts_with(['#', ';']) {
            pending.push(line.to_string());
            continue;
        }
        if line.starts_with('[') {
            let close = line
                .rfind(']')
                .ok_or_else(|| syntax(lineno, "unclosed section header"))?;
            let name = line.get(1..close).unwrap_or_default().trim();
            if name.is_empty() {
                return Err(syntax(lineno, "empty section name"));
            }
            let comment = comment_text(&pending);
            pending.clear();
            sections.push(Section::new(name.to_string(), comment));
            continue;
        }
        let (name, rest) = read_key(line, lineno)?;
        let (value, inline) = read_value(rest, lineno, &mut lines)?;
        pending.extend(inline);
        let comment = comment_text(&pending);
        pending.clear();
        if let Some(section) = sections.last_mut() {
            section.set(Key {
                name,
                value,
                comment,
            });
        }
    }
    Ok(sections)
}

/// `\n` (two characters) → newline, for metadata values.
fn unescape_newlines(v: &str) -> String {
    v.replace("\\n", "\n")
}

impl Store for IniStore {
    fn format(&self) -> Format {
        Format::Ini
    }

    fn load_plain(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        let text = String::from_utf8_lossy(input);
        let sections = parse_sections(&text)?;
        let mut items = Vec::new();
        let mut meta: Vec<(String, String)> = Vec::new();
        for section in sections {
            if section.name == SOPS {
                meta.extend(
                    section
                        .keys
                        .into_iter()
                        .map(|k| (k.name, unescape_newlines(&k.value))),
                );
                continue;
            }
            let mut branch = Vec::new();
            if !section.comment.is_empty() {
                branch.push(Item::Comment(section.comment));
            }
            for key in section.keys {
                branch.push(Item::Pair(key.name, Value::Str(key.value)));
                if !key.comment.is_empty() {
                    branch.push(Item::Comment(key.comment));
                }
            }
            items.push(Item::Pair(
                section.name,
                Value::Branch(Branch { items: branch }),
            ));
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
        let sections = sections_of(docs.first())?;
        Ok(write_sections(&sections))
    }

    fn emit_encrypted(
        &self,
        docs: &[Branch],
        metadata: &Branch,
        _layout: &Layout,
        _opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let mut sections = sections_of(docs.first())?;
        let mut sops = Section::new(SOPS.to_string(), String::new());
        for (k, v) in flatten(metadata) {
            sops.set(Key {
                name: k,
                value: v.replace('\n', "\\n"),
                comment: String::new(),
            });
        }
        sections.push(sops);
        Ok(write_sections(&sections))
    }

    /// Scalars as sops writes them into INI (`5`, `1.5`, strings raw).
    fn emit_value(&self, value: &Value, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        value_to_flat_string(value).ok_or_else(|| StoreError::Emit {
            format: Format::Ini,
            message: "a map or list cannot be written as a single INI value".to_string(),
        })
    }
}

/// Turn a document into go-ini sections, as sops's encoder does: top-level comments are
/// dropped, a section's leading comment is its header comment, any other comment belongs
/// to the key before it (the last one wins).
fn sections_of(doc: Option<&Branch>) -> Result<Vec<Section>, StoreError> {
    let mut out = Vec::new();
    let Some(doc) = doc else {
        return Ok(out);
    };
    for item in &doc.items {
        let Item::Pair(name, value) = item else {
            continue;
        };
        let Value::Branch(branch) = value else {
            return Err(StoreError::Emit {
                format: Format::Ini,
                message: format!(
                    "every top-level value must be a mapping (an INI section); {name:?} is not"
                ),
            });
        };
        let mut items = branch.items.as_slice();
        let mut comment = String::new();
        if let Some((Item::Comment(c), rest)) = items.split_first() {
            comment = c.clone();
            items = rest;
        }
        let mut section = Section::new(name.clone(), comment);
        let mut last: Option<usize> = None;
        for item in items {
            match item {
                Item::Comment(c) => {
                    if let Some(k) = last.and_then(|i| section.keys.get_mut(i)) {
                        k.comment = c.clone();
                    }
                }
                Item::Pair(k, v) => {
                    let Some(text) = value_to_flat_string(v) else {
                        return Err(StoreError::Emit {
                            format: Format::Ini,
                            message: format!(
                                "INI values must be scalars; key {k:?} in section {name:?} holds a map or list"
                            ),
                        });
                    };
                    let value = String::from_utf8_lossy(&text).into_owned();
                    match section.keys.iter().position(|key| &key.name == k) {
                        Some(i) => {
                            if let Some(key) = section.keys.get_mut(i) {
                                key.value = value;
                            }
                            last = Some(i);
                        }
                        None => {
                            section.keys.push(Key {
                                name: k.clone(),
                                value,
                                comment: String::new(),
                            });
                            last = Some(section.keys.len() - 1);
                        }
                    }
                }
            }
        }
        out.push(section);
    }
    Ok(out)
}

/// A comment as go-ini writes it: `; text`, or an existing marker normalised to `# text`.
/// go-ini trims unmarked lines of key comments but not of section comments.
fn write_comment(out: &mut String, comment: &str, trim_plain: bool) {
    if comment.is_empty() {
        return;
    }
    for line in comment.split('\n') {
        match line.chars().next() {
            Some(m @ ('#' | ';')) => {
                out.push(m);
                out.push(' ');
                out.push_str(line.get(1..).unwrap_or_default().trim());
            }
            Some(_) => {
                out.push_str("; ");
                out.push_str(if trim_plain { line.trim() } else { line });
            }
            None => out.push(';'),
        }
        out.push('\n');
    }
}

/// A key name as go-ini writes it (quoted when it holds a delimiter or quote).
fn key_form(name: &str) -> String {
    if name.contains(['"', '=', ':']) {
        format!("`{name}`")
    } else if name.contains('`') {
        format!("\"\"\"{name}\"\"\"")
    } else {
        name.to_string()
    }
}

/// A value as go-ini writes it.
fn value_form(v: &str) -> String {
    if v.contains(['\n', '`']) {
        format!("\"\"\"{v}\"\"\"")
    } else if v.contains(['#', ';']) {
        format!("`{v}`")
    } else if v.trim() != v {
        format!("\"{v}\"")
    } else {
        v.to_string()
    }
}

/// go-ini's pretty writer: aligned `=`, a blank line between sections, and the `DEFAULT`
/// section without a header when it comes first (skipped when it has no keys).
fn write_sections(sections: &[Section]) -> Vec<u8> {
    let mut out = String::new();
    let last = sections.len().saturating_sub(1);
    for (i, section) in sections.iter().enumerate() {
        write_comment(&mut out, &section.comment, false);
        if i == 0 && section.name == DEFAULT {
            if section.keys.is_empty() {
                continue;
            }
        } else {
            out.push('[');
            out.push_str(&section.name);
            out.push_str("]\n");
        }
        let names: Vec<String> = section.keys.iter().map(|k| key_form(&k.name)).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        for (key, name) in section.keys.iter().zip(&names) {
            write_comment(&mut out, &key.comment, true);
            out.push_str(name);
            out.push_str(&" ".repeat(width - name.len()));
            out.push_str(" = ");
            out.push_str(&value_form(&key.value));
            out.push('\n');
        }
        if i != last {
            out.push('\n');
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: crate::testdata::SharedDir = crate::testdata::SharedDir("conformance/cases");

    fn read(file: &str) -> Vec<u8> {
        std::fs::read(format!("{CASES}/ini-sections/{file}")).unwrap()
    }

    fn get<'a>(b: &'a Branch, key: &str) -> Option<&'a Value> {
        b.get(key)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    fn section(items: Vec<Item>) -> Value {
        Value::Branch(Branch { items })
    }

    fn pair(k: &str, v: Value) -> Item {
        Item::Pair(k.to_string(), v)
    }

    fn emit(docs: &[Branch]) -> String {
        String::from_utf8(
            IniStore
                .emit_plain(docs, &Layout::none(), EmitOptions::default())
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn corpus_plain_parses_like_sops() {
        let p = IniStore.load_plain(&read("plain.ini")).unwrap();
        assert!(p.metadata.is_none());
        let want = Branch {
            items: vec![
                pair("DEFAULT", section(vec![])),
                pair(
                    "database",
                    section(vec![
                        Item::Comment("Service configuration".into()),
                        pair("host", s("db.internal")),
                        pair("port", s("5432")),
                        pair("user", s("app")),
                        pair("password", s("s3cr3t=with=equals")),
                    ]),
                ),
                pair(
                    "cache",
                    section(vec![
                        pair("backend", s("redis")),
                        Item::Comment("legacy hash comment".into()),
                        pair("url", s("redis://:r3dis@cache.internal:6379/0")),
                    ]),
                ),
                pair("features", section(vec![pair("new_ui", s("true"))])),
            ],
        };
        assert_eq!(p.docs, vec![want]);
        assert_eq!(emit(&p.docs).into_bytes(), read("dec.ini"));
    }

    #[test]
    fn corpus_dec_round_trips_byte_for_byte() {
        let dec = read("dec.ini");
        let p = IniStore.load_plain(&dec).unwrap();
        assert_eq!(emit(&p.docs), String::from_utf8(dec).unwrap());
    }

    #[test]
    fn corpus_enc_metadata_and_reemit() {
        let enc = read("enc.ini");
        let p = IniStore.load_encrypted(&enc).unwrap();
        let md = p.metadata.clone().unwrap();
        assert!(matches!(get(&md, "mac"), Some(Value::Str(m)) if m.starts_with("ENC[")));
        assert_eq!(get(&md, "version"), Some(&s("3.11.0")));
        assert_eq!(get(&md, "lastmodified"), Some(&s("2026-11-25T17:22:13Z")));
        let Some(Value::List(age)) = get(&md, "age") else {
            panic!("age is a list");
        };
        let Some(Value::Branch(entry)) = age.first() else {
            panic!("age entry is a branch");
        };
        assert!(matches!(get(entry, "recipient"), Some(Value::Str(r)) if r.starts_with("age1")));
        assert!(matches!(get(entry, "enc"),
            Some(Value::Str(e)) if e.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n") && e.ends_with("-----\n")));
        assert!(get(&p.docs[0], "sops").is_none());
        // Data part re-emits exactly; the [sops] section is sorted (sops's order is random).
        let out = IniStore
            .emit_encrypted(&p.docs, &md, &Layout::none(), EmitOptions::default())
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        let enc = String::from_utf8(enc).unwrap();
        let (data_out, sops_out) = out.split_once("[sops]\n").unwrap();
        let (data_enc, sops_enc) = enc.split_once("[sops]\n").unwrap();
        assert_eq!(data_out, data_enc);
        let mut a: Vec<&str> = sops_out.lines().collect();
        let mut b: Vec<&str> = sops_enc.lines().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn go_ini_reading_quirks() {
        let input = "top = 1\n; c1\n# c2\nother=2\n\n[s1]\n  indented = x \nk1 = v;x\n\
                     k4 = \"quoted ; v\"\nk5 =\nk6 = `bt`\nsq = 'single'\ncol: on\n\
                     cont = a \\\n  b\ntq = \"\"\"multi\nline\"\"\"\n`k=q` = 1\n; trailing\n\n\
                     ; before s2\n[s2]\na=1\nb=0\na=2\n#   c3   \n;\nz=1\n";
        let p = IniStore.load_plain(input.as_bytes()).unwrap();
        let want = Branch {
            items: vec![
                pair(
                    "DEFAULT",
                    section(vec![
                        pair("top", s("1")),
                        pair("other", s("2")),
                        Item::Comment("c1\n# c2".into()),
                    ]),
                ),
                pair(
                    "s1",
                    section(vec![
                        pair("indented", s("x")),
                        pair("k1", s("v")),
                        Item::Comment("x".into()),
                        pair("k4", s("\"quoted")),
                        Item::Comment("v\"".into()),
                        pair("k5", s("")),
                        pair("k6", s("bt")),
                        pair("sq", s("single")),
                        pair("col", s("on")),
                        pair("cont", s("a b")),
                        pair("tq", s("multi\nline")),
                        pair("k=q", s("1")),
                    ]),
                ),
                pair(
                    "s2",
                    section(vec![
                        Item::Comment("trailing\n; before s2".into()),
                        pair("a", s("2")),
                        pair("b", s("0")),
                        pair("z", s("1")),
                        // Verified with sops: inner lines keep their trailing spaces.
                        Item::Comment("c3   \n;".into()),
                    ]),
                ),
            ],
        };
        assert_eq!(p.docs, vec![want]);
        // The empty file is a document with an empty DEFAULT section.
        let empty = IniStore.load_plain(b"").unwrap();
        assert_eq!(
            empty.docs,
            vec![Branch {
                items: vec![pair("DEFAULT", section(vec![]))]
            }]
        );
        assert_eq!(emit(&empty.docs), "");
    }

    #[test]
    fn go_ini_writing_matches_sops() {
        // Output of `sops decrypt --output-type ini` for the same tree (checked by hand).
        let doc = Branch {
            items: vec![
                Item::Comment("top-level comments are dropped".into()),
                pair(
                    "s",
                    section(vec![
                        Item::Comment(" c0".into()),
                        pair("semi", s("a;b")),
                        pair("k=eq", s("v")),
                        pair("k`bt", s("v")),
                        pair("lead", s(" lead")),
                        pair("nl", s("a\nb")),
                        Item::Comment("c1".into()),
                        Item::Comment(" c2 \n#x".into()),
                        pair("num", Value::Float(5.0)),
                        pair("nul", Value::Null),
                        pair("empty", s("")),
                    ]),
                ),
                pair("DEFAULT", section(vec![pair("d", s("1"))])),
            ],
        };
        let want = ";  c0\n[s]\nsemi       = `a;b`\n`k=eq`     = v\n\"\"\"k`bt\"\"\" = v\n\
                    lead       = \" lead\"\n; c2\n# x\nnl         = \"\"\"a\nb\"\"\"\n\
                    num        = 5.0\nnul        = <nil>\nempty      = \n\n[DEFAULT]\nd = 1\n";
        assert_eq!(emit(&[doc]), want);
        let first_default = Branch {
            items: vec![
                pair(
                    "DEFAULT",
                    section(vec![Item::Comment(" dc".into()), pair("a", s("1"))]),
                ),
                pair("x", section(vec![pair("b", s("1"))])),
                pair("empty", section(vec![])),
            ],
        };
        assert_eq!(
            emit(&[first_default]),
            ";  dc\na = 1\n\n[x]\nb = 1\n\n[empty]\n"
        );
        // A key comment "c3   \n;" is written as sops writes it.
        let c = Branch {
            items: vec![pair(
                "s",
                section(vec![pair("z", s("1")), Item::Comment("c3   \n;".into())]),
            )],
        };
        assert_eq!(emit(&[c]), "[s]\n; c3\n; \nz = 1\n");
    }

    #[test]
    fn errors_have_line_numbers_and_no_content() {
        for (input, line) in [
            (&b"[s]\nk=v\nsecretvalue\n"[..], 3),
            (b"[bad\nk=v\n", 1),
            (b"a=1\n=v\n", 2),
            (b"k = \"\"\"never closed\nmore\n", 1),
            (b"`k = v\n", 1),
        ] {
            match IniStore.load_plain(input) {
                Err(e @ StoreError::Syntax { .. }) => {
                    assert!(
                        matches!(e, StoreError::Syntax { line: Some(l), .. } if l == line),
                        "{e:?}"
                    );
                    assert!(!e.to_string().contains("secret"));
                }
                other => panic!("{other:?}"),
            }
        }
        let not_sections = Branch {
            items: vec![pair("a", s("1"))],
        };
        assert!(matches!(
            IniStore.emit_plain(&[not_sections], &Layout::none(), EmitOptions::default()),
            Err(StoreError::Emit { .. })
        ));
        let nested = Branch {
            items: vec![pair("s", section(vec![pair("a", section(vec![]))]))],
        };
        assert!(matches!(
            IniStore.emit_plain(&[nested], &Layout::none(), EmitOptions::default()),
            Err(StoreError::Emit { .. })
        ));
        assert_eq!(
            IniStore
                .emit_value(&Value::Float(1.5), EmitOptions::default())
                .unwrap(),
            b"1.5"
        );
    }

    fn arb_name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_.=:\"`-][A-Za-z0-9_ .=:-]{0,8}[A-Za-z0-9_.-]".prop_filter(
            "one kind of key quote",
            |k| {
                let mixed_quotes = k.contains('`') && k.contains(['"', '=', ':']);
                !k.starts_with('"') && !mixed_quotes && k.matches('`').count() <= 1
            },
        )
    }

    fn arb_text() -> impl Strategy<Value = String> {
        // Values go-ini can carry back (no quotes: `'a'` would lose its quotes, in sops too).
        "[A-Za-z0-9 #;=:\n-]{0,16}"
    }

    proptest! {
        #[test]
        fn emit_encrypted_then_load_round_trips(
            secs in prop::collection::vec(
                (
                    "[a-z][a-z0-9_ ]{0,6}[a-z0-9]",
                    prop::collection::vec((arb_name(), arb_text(), "[a-z][a-z ]{0,8}"), 0..5),
                    "[a-z][a-z ]{0,8}",
                ),
                0..4,
            ),
        ) {
            let mut items = vec![pair("DEFAULT", section(vec![]))];
            let mut seen = std::collections::HashSet::new();
            for (name, keys, scomment) in secs {
                if name == "sops" || name == DEFAULT || !seen.insert(name.clone()) {
                    continue;
                }
                let mut body = vec![Item::Comment(scomment.trim().to_string())];
                let mut kseen = std::collections::HashSet::new();
                for (k, v, c) in keys {
                    if !kseen.insert(k.clone()) {
                        continue;
                    }
                    // go-ini trims values and reads a lone quote pair as quoting.
                    let v = v.trim().to_string();
                    body.push(pair(&k, s(&v)));
                    body.push(Item::Comment(c.trim().to_string()));
                }
                items.push(pair(&name, section(body)));
            }
            let doc = Branch { items };
            let md = Branch {
                items: vec![
                    pair("version", s("3.11.0")),
                    pair("encrypted_regex", s("^(a|b);#x$")),
                    pair("age", Value::List(vec![section(vec![pair("enc", s("a\nb\n"))])])),
                ],
            };
            let out = IniStore
                .emit_encrypted(std::slice::from_ref(&doc), &md, &Layout::none(), EmitOptions::default())
                .unwrap();
            let back = IniStore.load_encrypted(&out).unwrap();
            prop_assert_eq!(&back.docs, &vec![doc]);
            prop_assert_eq!(flatten(&back.metadata.unwrap()), flatten(&md));
        }
    }

    #[test]
    fn many_keys_are_linear_and_limited() {
        // 200,000 distinct keys in one section: this was quadratic (a linear search per key).
        let t = std::time::Instant::now();
        let keys: String = (0..200_000).map(|i| format!("k{i} = v\n")).collect();
        let parsed = IniStore
            .load_plain(format!("[s]\n{keys}").as_bytes())
            .unwrap();
        assert_eq!(parsed.docs.len(), 1);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
        let many: String = (0..=MAX_ENTRIES).map(|i| format!("k{i} = v\n")).collect();
        assert!(matches!(
            IniStore.load_plain(many.as_bytes()),
            Err(StoreError::Limit { .. })
        ));
    }
}
