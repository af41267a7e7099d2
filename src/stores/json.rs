//! The JSON store: a JSON object ⇄ one [`Branch`], read the way Go's `encoding/json`
//! decoder feeds sops (every number is an f64, duplicate keys kept, invalid UTF-8 and lone
//! surrogates become U+FFFD) and written exactly like Go's `json.Marshal` + `json.Indent`
//! (tab indentation by default, `<>&` escaped, Go float formatting). sops-format.md §9.2.

use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// How deep objects and arrays may nest before the reader gives up.
pub const MAX_DEPTH: usize = 1000;

/// Most values (objects, arrays, scalars) in one JSON document: memory is proportional to
/// it, so it bounds the peak (see the YAML reader's `MAX_NODES`).
pub const MAX_VALUES: usize = 500_000;

/// The JSON store.
pub struct JsonStore;

impl Store for JsonStore {
    fn format(&self) -> Format {
        Format::Json
    }

    fn load_plain(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        let mut doc = parse_document(input)?;
        let metadata = take_metadata(&mut doc)?;
        Ok(Parsed {
            docs: vec![doc],
            metadata,
            layout: Layout::none(),
        })
    }

    fn emit_plain(
        &self,
        docs: &[Branch],
        _layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let empty = Branch::default();
        // JSON holds one document; like sops, only the first of several is written.
        let doc = docs.first().unwrap_or(&empty);
        let mut w = Writer::new(opts);
        w.branch(doc, None, 0)?;
        w.out.push(b'\n');
        Ok(w.out)
    }

    fn emit_encrypted(
        &self,
        docs: &[Branch],
        metadata: &Branch,
        _layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let empty = Branch::default();
        let doc = docs.first().unwrap_or(&empty);
        let mut w = Writer::new(opts);
        w.branch(doc, Some(metadata), 0)?;
        w.out.push(b'\n');
        Ok(w.out)
    }

    /// As `sops decrypt --extract`: strings raw, other scalars in JSON form without a
    /// newline, objects and arrays indented with a trailing newline.
    fn emit_value(&self, value: &Value, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        match value {
            Value::Str(s) => return Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => return Ok(b.clone()),
            _ => {}
        }
        let mut w = Writer::new(opts);
        w.value(value, 0)?;
        if !value.is_leaf() {
            w.out.push(b'\n');
        }
        Ok(w.out)
    }
}

/// Split the top-level `"sops"` object off a parsed document. Every `sops` key is removed;
/// when there are several, the last one is the metadata (as Go's `json.Unmarshal`).
fn take_metadata(doc: &mut Branch) -> Result<Option<Branch>, StoreError> {
    let mut metadata = None;
    let mut bad = false;
    doc.items.retain(|item| match item {
        Item::Pair(k, v) if k == "sops" => {
            match v {
                Value::Branch(b) => metadata = Some(b.clone()),
                _ => bad = true,
            }
            false
        }
        _ => true,
    });
    if bad {
        return Err(StoreError::Unsupported {
            line: None,
            column: None,
            message: "the top-level \"sops\" key must hold an object (the sops metadata)"
                .to_string(),
        });
    }
    Ok(metadata)
}

/// Parse a whole JSON file into one document (the top-level object).
pub fn parse_document(input: &[u8]) -> Result<Branch, StoreError> {
    let mut p = Parser {
        b: input,
        pos: 0,
        values: 0,
    };
    // A UTF-8 byte order mark is not JSON; Go rejects it too, so it is not skipped.
    p.skip_ws();
    match p.peek() {
        None => return Err(p.syntax("unexpected end of input: the file holds no JSON value")),
        Some(b'{') => {}
        Some(c) => {
            let found = match c {
                b'[' => "an array",
                b'"' => "a string",
                b't' | b'f' => "a boolean",
                b'n' => "null",
                b'-' | b'0'..=b'9' => "a number",
                _ => return Err(p.unexpected()),
            };
            let (line, column) = p.line_col(p.pos);
            return Err(StoreError::Unsupported {
                line: Some(line),
                column: Some(column),
                message: format!("the top level of a JSON file must be an object, found {found}"),
            });
        }
    }
    let Value::Branch(doc) = p.value(0)? else {
        return Err(p.syntax("expected an object"));
    };
    p.skip_ws();
    if p.peek().is_some() {
        return Err(p.syntax("unexpected data after the top-level object"));
    }
    Ok(doc)
}

/// A small strict JSON reader (RFC 8259) that builds the tree directly.
struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    /// Values read so far (against [`MAX_VALUES`]).
    values: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = self.b.get(..pos).unwrap_or(self.b);
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let col_bytes = before.get(start..).unwrap_or_default();
        // Column in characters, counting UTF-8 continuation bytes as nothing.
        let column = col_bytes.iter().filter(|&&c| (c & 0xC0) != 0x80).count() + 1;
        (line, column)
    }

    fn syntax(&self, message: &str) -> StoreError {
        self.syntax_at(self.pos, message)
    }

    fn syntax_at(&self, pos: usize, message: &str) -> StoreError {
        let (line, column) = self.line_col(pos);
        StoreError::Syntax {
            format: Format::Json,
            line: Some(line),
            column: Some(column),
            message: message.to_string(),
        }
    }

    /// An error for the byte at the current position. Only structural ASCII characters
    /// are quoted, so that no part of a secret ends up in a message.
    fn unexpected(&self) -> StoreError {
        match self.peek() {
            None => self.syntax("unexpected end of input"),
            Some(c) if c.is_ascii_punctuation() => {
                self.syntax(&format!("unexpected character '{}'", c as char))
            }
            Some(_) => self.syntax("unexpected character"),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, lit: &[u8], v: Value) -> Result<Value, StoreError> {
        let start = self.pos;
        if self.b.get(start..start + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(v)
        } else {
            Err(self.syntax_at(start, "invalid literal (expected true, false or null)"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, StoreError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            let (line, column) = self.line_col(self.pos);
            return Err(StoreError::Limit {
                message: format!(
                    "the JSON has more than the limit of {MAX_VALUES} values (at line {line}, column {column})"
                ),
            });
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(self.string()?),
            Some(b't') => self.expect_literal(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_literal(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.unexpected()),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), StoreError> {
        if depth > MAX_DEPTH {
            let (line, column) = self.line_col(self.pos);
            return Err(StoreError::Limit {
                message: format!(
                    "JSON nests deeper than {MAX_DEPTH} levels at line {line}, column {column}"
                ),
            });
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Value, StoreError> {
        self.check_depth(depth)?;
        self.pos += 1; // '{'
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Branch(Branch { items }));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(match self.peek() {
                    None => self.unexpected(),
                    Some(_) => self.syntax("expected a string key"),
                });
            }
            let key = match self.string()? {
                Value::Str(s) => s,
                _ => return Err(self.syntax("expected a string key")),
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(match self.peek() {
                    None => self.unexpected(),
                    Some(_) => self.syntax("expected ':' after an object key"),
                });
            }
            self.pos += 1;
            let v = self.value(depth)?;
            // Duplicate keys are kept, in order, as sops's streaming decoder does.
            items.push(Item::Pair(key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Branch(Branch { items }));
                }
                None => return Err(self.unexpected()),
                Some(_) => return Err(self.syntax("expected ',' or '}' after an object value")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, StoreError> {
        self.check_depth(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::List(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                None => return Err(self.unexpected()),
                Some(_) => return Err(self.syntax("expected ',' or ']' after an array element")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, StoreError> {
        let start = self.pos;
        let digits = self
            .b
            .get(start..start + 4)
            .ok_or_else(|| self.syntax("unexpected end of input in a \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.syntax_at(start, "invalid \\u escape in a string"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    /// A string literal. Invalid UTF-8 bytes and lone surrogates become U+FFFD (Go).
    fn string(&mut self) -> Result<Value, StoreError> {
        let start = self.pos;
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            // Copy the longest run of plain bytes at once.
            let run_start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            push_lossy_go(
                &mut out,
                self.b.get(run_start..self.pos).unwrap_or_default(),
            );
            match self.peek() {
                None => return Err(self.syntax_at(start, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Value::Str(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self
                        .peek()
                        .ok_or_else(|| self.syntax_at(start, "unterminated string"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            out.push(self.surrogate_pair(hi)?);
                        }
                        _ => return Err(self.syntax_at(self.pos - 2, "invalid escape in a string")),
                    }
                }
                Some(_) => {
                    return Err(self.syntax("control character inside a string (must be escaped)"));
                }
            }
        }
    }

    /// Complete a `\uXXXX` escape, joining a following low surrogate when there is one.
    fn surrogate_pair(&mut self, hi: u32) -> Result<char, StoreError> {
        if !(0xD800..0xDC00).contains(&hi) {
            return Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'));
        }
        if self.b.get(self.pos..self.pos + 2) == Some(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            // Not a low surrogate: the high one stands alone; re-read the second escape.
            self.pos = save;
        }
        Ok('\u{FFFD}')
    }

    /// A number, validated against the JSON grammar and read as f64 (Go's `ParseFloat`,
    /// correctly rounded). Out-of-range numbers are an error, as in Go.
    fn number(&mut self) -> Result<Value, StoreError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.syntax_at(start, "invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.syntax_at(start, "invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax_at(start, "invalid number"));
            }
        }
        let text = std::str::from_utf8(self.b.get(start..self.pos).unwrap_or_default())
            .map_err(|_| self.syntax_at(start, "invalid number"))?;
        let v: f64 = text
            .parse()
            .map_err(|_| self.syntax_at(start, "invalid number"))?;
        if !v.is_finite() {
            return Err(self.syntax_at(start, "number out of the range of a 64-bit float"));
        }
        Ok(Value::Float(v))
    }
}

/// Append `bytes` to `out`, replacing every byte of an invalid UTF-8 sequence with one
/// U+FFFD, as Go's decoder does.
fn push_lossy_go(out: &mut String, mut bytes: &[u8]) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).max(1);
                for _ in 0..bad.min(rest.len()) {
                    out.push('\u{FFFD}');
                }
                bytes = rest.get(bad..).unwrap_or_default();
            }
        }
    }
}

/// Go `encoding/json` float formatting: shortest digits, `'f'` form unless |x| < 1e-6 or
/// |x| >= 1e21, then `'e'` form with a two-digit-minimum exponent and `e-07` → `e-7`.
/// Returns `None` for NaN and infinities, which JSON cannot hold.
pub fn format_float_json(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return Some(format!("{v}"));
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.5e300", "-1e-7".
    let e = format!("{v:e}");
    let (mant, exp) = e.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    Some(if exp < 0 {
        format!("{mant}e-{}", exp.unsigned_abs())
    } else {
        format!("{mant}e+{exp:02}")
    })
}

/// Write `s` as a JSON string literal the way Go's `json.Marshal` does.
pub fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (chunk, bad, next) = match std::str::from_utf8(rest) {
            Ok(all) => (all, 0, &rest[rest.len()..]),
            Err(e) => {
                let (good, tail) = rest.split_at(e.valid_up_to());
                let bad = e
                    .error_len()
                    .unwrap_or(tail.len())
                    .clamp(1, tail.len().max(1));
                (
                    std::str::from_utf8(good).unwrap_or_default(),
                    bad.min(tail.len()),
                    tail.get(bad..).unwrap_or_default(),
                )
            }
        };
        for c in chunk.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                    let b = c as u32 as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xF) as usize]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for _ in 0..bad {
            out.extend_from_slice(b"\\ufffd");
        }
        rest = next;
    }
    out.push(b'"');
}

/// The JSON writer: Go `json.Indent` layout.
struct Writer {
    out: Vec<u8>,
    indent: Vec<u8>,
}

impl Writer {
    fn new(opts: EmitOptions) -> Writer {
        let indent = match opts.indent {
            None => b"\t".to_vec(),
            Some(n) => vec![b' '; n],
        };
        Writer {
            out: Vec::new(),
            indent,
        }
    }

    fn newline(&mut self, depth: usize) {
        self.out.push(b'\n');
        for _ in 0..depth {
            self.out.extend_from_slice(&self.indent);
        }
    }

    /// An object; `extra` (the metadata) is appended as a last `"sops"` member.
    fn branch(
        &mut self,
        b: &Branch,
        extra: Option<&Branch>,
        depth: usize,
    ) -> Result<(), StoreError> {
        let extra_item = extra.map(|m| ("sops", m));
        let pairs: Vec<(&str, Option<&Value>, Option<&Branch>)> = b
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, v) => Some((k.as_str(), Some(v), None)),
                Item::Comment(_) => None,
            })
            .chain(extra_item.map(|(k, m)| (k, None, Some(m))))
            .collect();
        if pairs.is_empty() {
            self.out.extend_from_slice(b"{}");
            return Ok(());
        }
        self.out.push(b'{');
        for (n, (k, v, m)) in pairs.into_iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            self.newline(depth + 1);
            write_json_string(&mut self.out, k.as_bytes());
            self.out.extend_from_slice(b": ");
            match (v, m) {
                (Some(v), _) => self.value(v, depth + 1)?,
                (None, Some(m)) => self.branch(m, None, depth + 1)?,
                (None, None) => self.out.extend_from_slice(b"null"),
            }
        }
        self.newline(depth);
        self.out.push(b'}');
        Ok(())
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), StoreError> {
        match v {
            Value::Branch(b) => self.branch(b, None, depth)?,
            Value::List(items) => {
                let items: Vec<&Value> = items
                    .iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .collect();
                if items.is_empty() {
                    self.out.extend_from_slice(b"[]");
                    return Ok(());
                }
                self.out.push(b'[');
                for (n, item) in items.into_iter().enumerate() {
                    if n > 0 {
                        self.out.push(b',');
                    }
                    self.newline(depth + 1);
                    self.value(item, depth + 1)?;
                }
                self.newline(depth);
                self.out.push(b']');
            }
            Value::Str(s) => write_json_string(&mut self.out, s.as_bytes()),
            Value::Bytes(b) => write_json_string(&mut self.out, b),
            Value::Comment(c) => write_json_string(&mut self.out, c.as_bytes()),
            Value::Time(t) => write_json_string(&mut self.out, t.0.as_bytes()),
            Value::Int(i) => self.out.extend_from_slice(i.to_string().as_bytes()),
            Value::Float(f) => match format_float_json(*f) {
                Some(s) => self.out.extend_from_slice(s.as_bytes()),
                None => {
                    return Err(StoreError::Emit {
                        format: Format::Json,
                        message: format!(
                            "JSON cannot hold the float value {}",
                            crate::tree::format_float_plain(*f)
                        ),
                    });
                }
            },
            Value::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Null => self.out.extend_from_slice(b"null"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: crate::testdata::SharedDir = crate::testdata::SharedDir("conformance/cases");

    fn read(case: &str, file: &str) -> Vec<u8> {
        std::fs::read(format!("{CASES}/{case}/{file}")).unwrap()
    }

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    fn get<'a>(b: &'a Branch, key: &str) -> Option<&'a Value> {
        b.get(key)
    }

    fn emit(docs: &[Branch]) -> String {
        String::from_utf8(
            JsonStore
                .emit_plain(docs, &Layout::none(), EmitOptions::default())
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn corpus_dec_json_round_trips_byte_for_byte() {
        let dec = read("json-nested", "dec.json");
        let parsed = JsonStore.load_plain(&dec).unwrap();
        assert!(parsed.metadata.is_none());
        assert_eq!(emit(&parsed.docs), String::from_utf8(dec).unwrap());
    }

    #[test]
    fn corpus_plain_json_reads_with_go_types() {
        let parsed = JsonStore
            .load_plain(&read("json-nested", "plain.json"))
            .unwrap();
        let doc = &parsed.docs[0];
        assert_eq!(get(doc, "version"), Some(&Value::Float(3.0)));
        assert_eq!(get(doc, "ratio"), Some(&Value::Float(0.75)));
        assert_eq!(get(doc, "owner"), Some(&Value::Null));
        assert_eq!(get(doc, "enabled"), Some(&Value::Bool(true)));
        assert_eq!(get(doc, "empty_arr"), Some(&Value::List(vec![])));
        assert_eq!(get(doc, "unicode"), Some(&s("naïve café ☕")));
        // plain → canonical output equals what sops printed on decrypt.
        assert_eq!(
            emit(&parsed.docs).into_bytes(),
            read("json-nested", "dec.json")
        );
    }

    #[test]
    fn corpus_encrypted_json_metadata() {
        for (case, file) in [
            ("json-nested", "enc.json"),
            ("binary-random-1k", "enc.bin"),
            ("binary-not-yaml", "enc.yaml"),
        ] {
            let parsed = JsonStore.load_encrypted(&read(case, file)).unwrap();
            let md = parsed.metadata.expect("metadata");
            assert!(matches!(get(&md, "mac"), Some(Value::Str(m)) if m.starts_with("ENC[")));
            assert_eq!(get(&md, "version"), Some(&s("3.11.0")));
            assert!(matches!(get(&md, "lastmodified"), Some(Value::Str(_))));
            let Some(Value::List(age)) = get(&md, "age") else {
                panic!("age list in {case}");
            };
            let Some(Value::Branch(entry)) = age.first() else {
                panic!("age entry");
            };
            assert!(
                matches!(get(entry, "recipient"), Some(Value::Str(r)) if r.starts_with("age1"))
            );
            assert!(
                matches!(get(entry, "enc"), Some(Value::Str(e)) if e.starts_with("-----BEGIN AGE") && e.ends_with("-----\n"))
            );
            assert!(get(&parsed.docs[0], "sops").is_none());
        }
    }

    #[test]
    fn corpus_enc_json_reemits_byte_for_byte() {
        let enc = read("json-nested", "enc.json");
        let parsed = JsonStore.load_encrypted(&enc).unwrap();
        let md = parsed.metadata.unwrap();
        let out = JsonStore
            .emit_encrypted(&parsed.docs, &md, &Layout::none(), EmitOptions::default())
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(enc).unwrap()
        );
    }

    #[test]
    fn top_level_array_is_unsupported() {
        let err = JsonStore
            .load_plain(&read("refuse-json-top-level-array", "plain.json"))
            .unwrap_err();
        match err {
            StoreError::Unsupported {
                line: Some(1),
                column: Some(1),
                message,
            } => assert_eq!(
                message,
                "the top level of a JSON file must be an object, found an array"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            JsonStore.load_plain(b"  \"x\""),
            Err(StoreError::Unsupported { .. })
        ));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = JsonStore.load_plain(b"{\"a\":\n  tru}").unwrap_err();
        assert_eq!(
            err,
            StoreError::Syntax {
                format: Format::Json,
                line: Some(2),
                column: Some(3),
                message: "invalid literal (expected true, false or null)".into()
            }
        );
        for bad in [
            &b"{"[..],
            b"{\"a\" 1}",
            b"{\"a\":1,}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":\"x\ny\"}",
            b"{\"a\":\"\\q\"}",
            b"{\"a\":1} x",
            b"{\"a\":1e400}",
            b"{'a':1}",
            b"",
            b" \n ",
        ] {
            assert!(
                matches!(
                    JsonStore.load_plain(bad),
                    Err(StoreError::Syntax { line: Some(_), .. })
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_nesting_is_a_limit_not_a_crash() {
        let mut input = b"{\"a\":".to_vec();
        input.extend(std::iter::repeat_n(b'[', 5000));
        assert!(matches!(
            JsonStore.load_plain(&input),
            Err(StoreError::Limit { .. })
        ));
    }

    #[test]
    fn go_decoder_quirks() {
        let p = JsonStore
            .load_plain(b"{\"a\":1,\"b\":12345678901234567890,\"a\":3,\"s\":\"\\ud800x\xff\xfe\\ud83d\\ude00\"}")
            .unwrap();
        let doc = &p.docs[0];
        // Duplicates kept in order (sops's streaming decoder).
        assert_eq!(doc.items.len(), 4);
        assert_eq!(doc.items[2], Item::Pair("a".into(), Value::Float(3.0)));
        assert_eq!(get(doc, "b"), Some(&Value::Float(12345678901234567000.0)));
        assert_eq!(get(doc, "s"), Some(&s("\u{FFFD}x\u{FFFD}\u{FFFD}😀")));
    }

    #[test]
    fn go_float_format() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (-1e-7, "-1e-7"),
            (0.000001, "0.000001"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (-0.0, "-0"),
            (12345678901234567890.0, "12345678901234567000"),
            (123456.789, "123456.789"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float_json(v).as_deref(), Some(want), "{v}");
        }
        assert_eq!(format_float_json(f64::NAN), None);
        let v = |x: Value| JsonStore.emit_value(&x, EmitOptions::default()).unwrap();
        assert_eq!(v(Value::Float(1.5)), b"1.5");
        assert_eq!(v(s("str")), b"str");
        assert_eq!(v(Value::List(vec![Value::Bool(true)])), b"[\n\ttrue\n]\n");
        let err = JsonStore
            .emit_value(&Value::Float(f64::INFINITY), EmitOptions::default())
            .unwrap_err();
        assert!(matches!(err, StoreError::Emit { .. }));
    }

    #[test]
    fn go_string_escaping() {
        let mut out = Vec::new();
        write_json_string(
            &mut out,
            "<>&\u{2028}\u{2029}\u{1}\t\u{8}\u{c}\r\n\u{7f}/é\"\\".as_bytes(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"\\u003c\\u003e\\u0026\\u2028\\u2029\\u0001\\t\\b\\f\\r\\n\u{7f}/é\\\"\\\\\""
        );
        let mut out = Vec::new();
        write_json_string(&mut out, b"a\xe2\x82b\xff");
        assert_eq!(out, b"\"a\\ufffd\\ufffdb\\ufffd\"");
    }

    #[test]
    fn indentation_options_and_other_values() {
        let doc = Branch {
            items: vec![
                Item::Comment(" dropped".into()),
                Item::Pair(
                    "l".into(),
                    Value::List(vec![Value::Int(1), Value::Comment("c".into())]),
                ),
                Item::Pair("e".into(), Value::Branch(Branch::default())),
                Item::Pair(
                    "t".into(),
                    Value::Time(crate::tree::Timestamp("2024-01-02T00:00:00Z".into())),
                ),
                Item::Pair("b".into(), Value::Bytes(vec![0xff])),
            ],
        };
        let two = JsonStore
            .emit_plain(
                std::slice::from_ref(&doc),
                &Layout::none(),
                EmitOptions { indent: Some(2) },
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(two).unwrap(),
            "{\n  \"l\": [\n    1\n  ],\n  \"e\": {},\n  \"t\": \"2024-01-02T00:00:00Z\",\n  \"b\": \"\\ufffd\"\n}\n"
        );
        let zero = JsonStore
            .emit_plain(&[doc], &Layout::none(), EmitOptions { indent: Some(0) })
            .unwrap();
        assert!(
            String::from_utf8(zero)
                .unwrap()
                .starts_with("{\n\"l\": [\n1\n],\n")
        );
        assert_eq!(emit(&[]), "{}\n");
    }

    fn arb_str() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[<>&\"\\\\\u{2028}\u{0}-\u{1f}é😀 a]{0,12}",
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            arb_str().prop_map(Value::Str),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Float),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::List),
                prop::collection::vec((arb_str(), inner), 0..5).prop_map(|kv| {
                    Value::Branch(Branch {
                        items: kv.into_iter().map(|(k, v)| Item::Pair(k, v)).collect(),
                    })
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn write_then_read_is_identity(
            items in prop::collection::vec((arb_str(), arb_value()), 0..6),
            indent in prop::option::of(0usize..5),
        ) {
            let doc = Branch {
                items: items
                    .into_iter()
                    .filter(|(k, _)| k != "sops")
                    .map(|(k, v)| Item::Pair(k, v))
                    .collect(),
            };
            let md = Branch { items: vec![Item::Pair("version".into(), s("3.11.0"))] };
            let opts = EmitOptions { indent };
            let out = JsonStore
                .emit_encrypted(std::slice::from_ref(&doc), &md, &Layout::none(), opts)
                .unwrap();
            let back = JsonStore.load_encrypted(&out).unwrap();
            prop_assert_eq!(&back.docs, &vec![doc]);
            prop_assert_eq!(back.metadata, Some(md));
        }
    }

    #[test]
    fn value_limit_bounds_memory() {
        let many = format!("{{\"a\": [{}1]}}", "1,".repeat(MAX_VALUES));
        match JsonStore.load_plain(many.as_bytes()) {
            Err(StoreError::Limit { message }) => assert!(message.contains("500000"), "{message}"),
            other => panic!("{:?}", other.map(|p| p.docs.len())),
        }
        let fine = format!("{{\"a\": [{}1]}}", "1,".repeat(1000));
        assert!(JsonStore.load_plain(fine.as_bytes()).is_ok());
    }
}
