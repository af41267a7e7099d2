//! Fast YAML event producer for the common block-YAML subset (plain Kubernetes manifests and
//! sops files): yields exactly the events libyaml-safer's `Parser` yields, or `None` for any
//! input outside the subset so the caller falls back to libyaml-safer.
//!
//! The subset: UTF-8 text ending in `\n`, no tab, no `\r`, no byte-order mark, no Unicode line
//! breaks; `---` document starts (nothing after them on their line but a comment); block
//! mappings whose keys are one-line plain or quoted scalars followed by `: ` on the same line;
//! block sequences (also indentless ones under a mapping key); values that are one-line plain
//! or quoted scalars, literal block scalars (`|`, `|-`, `|+`, no indentation indicator), empty
//! values, or nested block collections; comments and blank lines. Everything else (flow
//! collections, anchors, aliases, tags, `?` keys, folded or multi-line scalars, directives,
//! `...`, scalar documents) gives `None`.

use libyaml_safer::{Encoding, Event, EventData, MappingStyle, Mark, ScalarStyle, SequenceStyle};

/// The events libyaml-safer (with the encoding set to UTF-8) yields for `src`, or `None`
/// when `src` is outside the fast subset.
pub(super) fn events(src: &str) -> Option<Vec<Event>> {
    let (ascii, lines) = prescan(src.as_bytes())?;
    let mut f = Fast::new(
        src,
        ascii,
        Vec::with_capacity(lines * 2 + 8),
        None,
        usize::MAX,
    );
    f.stream()?;
    Some(f.out)
}

/// [`events`], handed to `send` in batches of `batch` events as they are made (the last
/// one shorter). Gives false when `src` is outside the fast subset: the batches sent
/// before are then not its events. When `send` returns false (nobody listens any more),
/// nothing more is sent.
pub(super) fn events_batched(
    src: &str,
    batch: usize,
    send: &mut dyn FnMut(Vec<Event>) -> bool,
) -> bool {
    let Some((ascii, _)) = prescan(src.as_bytes()) else {
        return false;
    };
    let mut f = Fast::new(src, ascii, Vec::with_capacity(batch), Some(send), batch);
    if f.stream().is_none() {
        return false;
    }
    let rest = std::mem::take(&mut f.out);
    if !rest.is_empty()
        && !f.stopped
        && let Some(send) = f.sink.as_mut()
    {
        send(rest);
    }
    true
}

/// Whole-input checks: ends in a line break, and every character is one the subset allows
/// (printable for libyaml, not a tab, carriage return, byte-order mark or Unicode break).
/// Gives whether the text is all ASCII and its number of lines.
fn prescan(s: &[u8]) -> Option<(bool, usize)> {
    if s.last() != Some(&b'\n') {
        return None;
    }
    let mut ascii = true;
    let mut lines = 0;
    let mut i = 0;
    while i < s.len() {
        // Fast path: 32 bytes of printable ASCII or line breaks.
        if let Some(chunk) = s.get(i..i + 32) {
            let bad = chunk.iter().fold(false, |acc, &b| {
                acc | ((b < 0x20) & (b != b'\n')) | (b >= 0x7F)
            });
            if !bad {
                lines += chunk.iter().filter(|b| **b == b'\n').count();
                i += 32;
                continue;
            }
        }
        let b = s[i];
        if b < 0x80 {
            if (b < 0x20 && b != b'\n') || b == 0x7F {
                return None;
            }
            lines += usize::from(b == b'\n');
            i += 1;
            continue;
        }
        ascii = false;
        let b1 = s.get(i + 1).copied().unwrap_or(0);
        let b2 = s.get(i + 2).copied().unwrap_or(0);
        match b {
            // U+0080..U+009F: C1 controls and NEL.
            0xC2 if b1 < 0xA0 => return None,
            // U+2028, U+2029: line and paragraph separators.
            0xE2 if b1 == 0x80 && (b2 == 0xA8 || b2 == 0xA9) => return None,
            // U+FEFF (byte-order mark), U+FFFE, U+FFFF.
            0xEF if (b1 == 0xBB && b2 == 0xBF) || (b1 == 0xBF && b2 >= 0xBE) => return None,
            _ => {}
        }
        i += 1;
    }
    Some((ascii, lines))
}

/// The high bit of each byte of `x` (little-endian word) that equals `c`, exactly.
fn eq_mask(x: u64, c: u8) -> u64 {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let v = x ^ (0x0101_0101_0101_0101 * u64::from(c));
    !(((v & LO7) + LO7) | v | LO7)
}

fn mk(data: EventData, start: Mark, end: Mark) -> Event {
    let mut ev = Event::stream_end();
    ev.data = data;
    ev.start_mark = start;
    ev.end_mark = end;
    ev
}

fn scalar(value: String, style: ScalarStyle) -> EventData {
    let plain = style == ScalarStyle::Plain;
    EventData::Scalar {
        anchor: None,
        tag: None,
        value,
        plain_implicit: plain,
        quoted_implicit: !plain,
        style,
    }
}

/// The longest distance in bytes from a simple key's start to its `:` the subset accepts
/// (libyaml forgets a simple key after 1024 characters' worth of bytes).
const MAX_KEY_SPAN: usize = 1000;

struct Fast<'a> {
    /// The whole input is ASCII (columns are byte distances).
    ascii: bool,
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    /// 0-based line of `pos`.
    line: u64,
    /// Byte offset where the line of `pos` starts.
    line_start: usize,
    out: Vec<Event>,
    /// Where full batches of `out` go ([`events_batched`]); `None`: all stay in `out`.
    sink: Option<&'a mut dyn FnMut(Vec<Event>) -> bool>,
    batch: usize,
    /// The sink stopped listening.
    stopped: bool,
}

impl<'a> Fast<'a> {
    fn new(
        src: &'a str,
        ascii: bool,
        out: Vec<Event>,
        sink: Option<&'a mut dyn FnMut(Vec<Event>) -> bool>,
        batch: usize,
    ) -> Self {
        Fast {
            ascii,
            s: src.as_bytes(),
            src,
            pos: 0,
            line: 0,
            line_start: 0,
            out,
            sink,
            batch,
            stopped: false,
        }
    }

    /// The byte at `i`, or 0 past the end (the input holds no NUL).
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn blankz(&self, i: usize) -> bool {
        matches!(self.at(i), b' ' | b'\n' | 0)
    }

    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Column (in characters) of `i`, which must be on the current line.
    fn column(&self, i: usize) -> u64 {
        if self.ascii {
            return i.saturating_sub(self.line_start) as u64;
        }
        let seg = self.s.get(self.line_start..i).unwrap_or_default();
        seg.iter().filter(|b| (**b & 0xC0) != 0x80).count() as u64
    }

    fn mark(&self, i: usize) -> Mark {
        let mut m = Mark::default();
        m.index = i as u64;
        m.line = self.line;
        m.column = self.column(i);
        m
    }

    fn push(&mut self, data: EventData, start: Mark, end: Mark) {
        if self.stopped {
            return;
        }
        self.out.push(mk(data, start, end));
        if self.out.len() >= self.batch
            && let Some(send) = self.sink.as_mut()
        {
            let full = std::mem::replace(&mut self.out, Vec::with_capacity(self.batch));
            self.stopped = !send(full);
        }
    }

    fn newline(&mut self) {
        self.pos += 1;
        self.line += 1;
        self.line_start = self.pos;
    }

    /// Skip spaces, comments and line breaks up to the next token (libyaml's
    /// `scan_to_next_token` without tabs or byte-order marks).
    fn skip_ws(&mut self) {
        loop {
            while self.at(self.pos) == b' ' {
                self.pos += 1;
            }
            if self.at(self.pos) == b'#' {
                while !matches!(self.at(self.pos), b'\n' | 0) {
                    self.pos += 1;
                }
            }
            if self.at(self.pos) == b'\n' {
                self.newline();
            } else {
                break;
            }
        }
    }

    /// After a token that must end its line: spaces, an optional comment after at least
    /// one space, then the line break (not consumed).
    fn line_tail(&mut self) -> Option<()> {
        let from = self.pos;
        while self.at(self.pos) == b' ' {
            self.pos += 1;
        }
        if self.at(self.pos) == b'#' {
            if self.pos == from {
                return None;
            }
            while !matches!(self.at(self.pos), b'\n' | 0) {
                self.pos += 1;
            }
        }
        (self.at(self.pos) == b'\n').then_some(())
    }

    fn at_indicator(&self, i: usize, c: u8) -> bool {
        i == self.line_start
            && self.at(i) == c
            && self.at(i + 1) == c
            && self.at(i + 2) == c
            && self.blankz(i + 3)
    }

    fn doc_start(&self) -> bool {
        self.at_indicator(self.pos, b'-')
    }

    fn block_entry(&self) -> bool {
        self.at(self.pos) == b'-' && self.blankz(self.pos + 1)
    }

    fn stream(&mut self) -> Option<()> {
        let m0 = Mark::default();
        self.push(
            EventData::StreamStart {
                encoding: Encoding::Utf8,
            },
            m0,
            m0,
        );
        self.skip_ws();
        let mut first = true;
        while !self.eof() {
            if self.doc_start() {
                let a = self.mark(self.pos);
                self.pos += 3;
                let b = self.mark(self.pos);
                self.push(
                    EventData::DocumentStart {
                        version_directive: None,
                        tag_directives: Vec::new(),
                        implicit: false,
                    },
                    a,
                    b,
                );
                self.line_tail()?;
                self.skip_ws();
                if self.eof() || self.doc_start() {
                    let m = self.mark(self.pos);
                    self.push(scalar(String::new(), ScalarStyle::Plain), m, m);
                } else {
                    self.collection(-1)?;
                }
            } else {
                if !first {
                    return None;
                }
                let m = self.mark(self.pos);
                self.push(
                    EventData::DocumentStart {
                        version_directive: None,
                        tag_directives: Vec::new(),
                        implicit: true,
                    },
                    m,
                    m,
                );
                self.collection(-1)?;
            }
            if !(self.eof() || self.doc_start()) {
                return None;
            }
            let m = self.mark(self.pos);
            self.push(EventData::DocumentEnd { implicit: true }, m, m);
            first = false;
        }
        let m = self.mark(self.pos);
        self.push(EventData::StreamEnd, m, m);
        Some(())
    }

    /// A block collection starting at the current token, more indented than `parent`.
    fn collection(&mut self, parent: i64) -> Option<()> {
        let c = self.column(self.pos);
        if (c as i64) <= parent {
            return None;
        }
        if self.block_entry() {
            self.sequence(c, false)
        } else {
            self.mapping(c)
        }
    }

    /// After a collection's item: the collection goes on (`true`) when the next token is at
    /// its column, ends (`false`) when less indented or at a document boundary; `None` when
    /// more indented (a continuation line or an error for libyaml).
    fn goes_on(&self, c: u64) -> Option<bool> {
        if self.eof() || self.doc_start() {
            return Some(false);
        }
        let col = self.column(self.pos);
        if col > c { None } else { Some(col == c) }
    }

    fn sequence(&mut self, c: u64, indentless: bool) -> Option<()> {
        let a = self.mark(self.pos);
        let b = if indentless {
            self.mark(self.pos + 1)
        } else {
            a
        };
        self.push(
            EventData::SequenceStart {
                anchor: None,
                tag: None,
                implicit: true,
                style: SequenceStyle::Block,
            },
            a,
            b,
        );
        loop {
            self.entry(c)?;
            if !self.goes_on(c)? {
                break;
            }
            if !self.block_entry() {
                if indentless {
                    break;
                }
                return None;
            }
        }
        let m = self.mark(self.pos);
        self.push(EventData::SequenceEnd, m, m);
        Some(())
    }

    /// One `- item`; `indent` is libyaml's indentation level for the sequence (its column,
    /// or the parent mapping's column for an indentless sequence, which is the same).
    fn entry(&mut self, indent: u64) -> Option<()> {
        self.pos += 1;
        let dash_end = self.mark(self.pos);
        while self.at(self.pos) == b' ' {
            self.pos += 1;
        }
        match self.at(self.pos) {
            b'\n' | b'#' | 0 => {
                self.skip_ws();
                self.nested_or_empty(indent, dash_end)
            }
            _ => {
                if self.block_entry() {
                    return None;
                }
                if self.key_at(self.pos).is_some() {
                    let c = self.column(self.pos);
                    self.mapping(c)
                } else {
                    self.value_scalar(indent)?;
                    self.skip_ws();
                    Some(())
                }
            }
        }
    }

    /// A value on a later line: a block collection when more indented than `indent`, else
    /// an empty scalar at `empty`.
    fn nested_or_empty(&mut self, indent: u64, empty: Mark) -> Option<()> {
        if !(self.eof() || self.doc_start()) && self.column(self.pos) > indent {
            self.collection(indent as i64)
        } else {
            self.push(scalar(String::new(), ScalarStyle::Plain), empty, empty);
            Some(())
        }
    }

    fn mapping(&mut self, c: u64) -> Option<()> {
        let m = self.mark(self.pos);
        self.push(
            EventData::MappingStart {
                anchor: None,
                tag: None,
                implicit: true,
                style: MappingStyle::Block,
            },
            m,
            m,
        );
        loop {
            let (data, start, end, colon) = self.key_at(self.pos)?;
            let a = self.mark(start);
            let b = self.mark(end);
            self.push(data, a, b);
            self.pos = colon + 1;
            let value_end = self.mark(self.pos);
            while self.at(self.pos) == b' ' {
                self.pos += 1;
            }
            match self.at(self.pos) {
                b'\n' | b'#' | 0 => {
                    self.skip_ws();
                    if !(self.eof() || self.doc_start())
                        && self.column(self.pos) == c
                        && self.block_entry()
                    {
                        self.sequence(c, true)?;
                    } else {
                        self.nested_or_empty(c, value_end)?;
                    }
                }
                _ => {
                    self.value_scalar(c)?;
                    self.skip_ws();
                }
            }
            if !self.goes_on(c)? {
                break;
            }
        }
        let m = self.mark(self.pos);
        self.push(EventData::MappingEnd, m, m);
        Some(())
    }

    /// Whether a plain scalar may start at `i` (libyaml's rule in block context, plus no
    /// document marker at a line start).
    fn plain_start(&self, i: usize) -> bool {
        if self.at_indicator(i, b'-') || self.at_indicator(i, b'.') {
            return false;
        }
        match self.at(i) {
            b'-' | b'?' | b':' => !self.blankz(i + 1),
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' | b' ' | b'\n' | 0 => false,
            _ => true,
        }
    }

    /// End (exclusive) of a one-line plain scalar starting at `i` in block context.
    fn plain_end(&self, mut i: usize) -> usize {
        let mut end = i;
        loop {
            loop {
                let start = i;
                // 8 bytes at a time up to the first space, line break or colon.
                loop {
                    if let Some(word) = self.s.get(i..i + 8).and_then(|w| w.try_into().ok()) {
                        let x = u64::from_le_bytes(word);
                        let m = eq_mask(x, b' ') | eq_mask(x, b'\n') | eq_mask(x, b':');
                        if m == 0 {
                            i += 8;
                            continue;
                        }
                        i += (m.trailing_zeros() / 8) as usize;
                        break;
                    }
                    while !matches!(self.at(i), b' ' | b'\n' | b':' | 0) {
                        i += 1;
                    }
                    break;
                }
                if i > start {
                    end = i;
                }
                match self.at(i) {
                    b':' if self.blankz(i + 1) => return end,
                    b':' => {
                        i += 1;
                        end = i;
                    }
                    _ => break,
                }
            }
            while self.at(i) == b' ' {
                i += 1;
            }
            if matches!(self.at(i), b'\n' | b'#' | 0) {
                return end;
            }
        }
    }

    /// A one-line quoted scalar starting at `i` (its quote): value and end (exclusive).
    fn quoted(&self, i: usize) -> Option<(String, usize)> {
        let q = self.at(i);
        let mut v = String::new();
        let mut j = i + 1;
        loop {
            let run = j;
            while !matches!(self.at(j), b'\'' | b'"' | b'\\' | b'\n' | 0) {
                j += 1;
            }
            v.push_str(self.src.get(run..j)?);
            match self.at(j) {
                b'\n' | 0 => return None,
                b'\'' if q == b'\'' => {
                    if self.at(j + 1) == b'\'' {
                        v.push('\'');
                        j += 2;
                    } else {
                        return Some((v, j + 1));
                    }
                }
                b'"' if q == b'"' => return Some((v, j + 1)),
                b'\\' if q == b'"' => {
                    let e = self.at(j + 1);
                    let len = match e {
                        b'x' => 2,
                        b'u' => 4,
                        b'U' => 8,
                        _ => 0,
                    };
                    if len == 0 {
                        v.push(match e {
                            b'0' => '\0',
                            b'a' => '\x07',
                            b'b' => '\x08',
                            b't' => '\t',
                            b'n' => '\n',
                            b'v' => '\x0B',
                            b'f' => '\x0C',
                            b'r' => '\r',
                            b'e' => '\x1B',
                            b' ' => ' ',
                            b'"' => '"',
                            b'/' => '/',
                            b'\\' => '\\',
                            b'N' => '\u{85}',
                            b'_' => '\u{A0}',
                            b'L' => '\u{2028}',
                            b'P' => '\u{2029}',
                            _ => return None,
                        });
                        j += 2;
                    } else {
                        let hex = self.src.get(j + 2..j + 2 + len)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        v.push(char::from_u32(code)?);
                        j += 2 + len;
                    }
                }
                _ => {
                    // The other quote character inside the scalar.
                    v.push(self.at(j) as char);
                    j += 1;
                }
            }
        }
    }

    /// A simple key at `i` on the current line: its scalar event data, start, end, and the
    /// position of its `:` (followed by a blank or line break).
    fn key_at(&self, i: usize) -> Option<(EventData, usize, usize, usize)> {
        let (data, end) = match self.at(i) {
            b'\'' | b'"' => {
                let style = if self.at(i) == b'\'' {
                    ScalarStyle::SingleQuoted
                } else {
                    ScalarStyle::DoubleQuoted
                };
                let (v, end) = self.quoted(i)?;
                (scalar(v, style), end)
            }
            _ if self.plain_start(i) => {
                let end = self.plain_end(i);
                (
                    scalar(self.src.get(i..end)?.to_string(), ScalarStyle::Plain),
                    end,
                )
            }
            _ => return None,
        };
        let mut colon = end;
        while self.at(colon) == b' ' {
            colon += 1;
        }
        if self.at(colon) != b':' || !self.blankz(colon + 1) || colon - i > MAX_KEY_SPAN {
            return None;
        }
        Some((data, i, end, colon))
    }

    /// A scalar value starting on the current line at `pos`; `indent` is libyaml's current
    /// indentation level (the enclosing collection's column).
    fn value_scalar(&mut self, indent: u64) -> Option<()> {
        let i = self.pos;
        let (data, end) = match self.at(i) {
            b'|' => return self.literal(indent),
            b'\'' | b'"' => {
                let style = if self.at(i) == b'\'' {
                    ScalarStyle::SingleQuoted
                } else {
                    ScalarStyle::DoubleQuoted
                };
                let (v, end) = self.quoted(i)?;
                (scalar(v, style), end)
            }
            _ if self.plain_start(i) => {
                let end = self.plain_end(i);
                (
                    scalar(self.src.get(i..end)?.to_string(), ScalarStyle::Plain),
                    end,
                )
            }
            _ => return None,
        };
        let a = self.mark(i);
        let b = self.mark(end);
        self.push(data, a, b);
        self.pos = end;
        self.line_tail()
    }

    /// Spaces at the start of a line for a block scalar, then blank lines (libyaml's
    /// `scan_block_scalar_breaks`).
    fn block_breaks(
        &mut self,
        indent: &mut u64,
        parent: u64,
        breaks: &mut String,
        end: &mut Mark,
    ) -> Option<()> {
        let mut max_indent = 0;
        *end = self.mark(self.pos);
        loop {
            while (*indent == 0 || ((self.pos - self.line_start) as u64) < *indent)
                && self.at(self.pos) == b' '
            {
                self.pos += 1;
            }
            let col = (self.pos - self.line_start) as u64;
            max_indent = max_indent.max(col);
            if self.at(self.pos) != b'\n' {
                break;
            }
            breaks.push('\n');
            self.newline();
            *end = self.mark(self.pos);
        }
        if *indent == 0 {
            *indent = max_indent.max(parent + 1).max(1);
        }
        Some(())
    }

    /// A literal block scalar at `pos` (its `|`); `parent` is libyaml's indentation level.
    fn literal(&mut self, parent: u64) -> Option<()> {
        let start = self.mark(self.pos);
        self.pos += 1;
        let chomp = match self.at(self.pos) {
            b'+' => 1,
            b'-' => -1,
            _ => 0,
        };
        if chomp != 0 {
            self.pos += 1;
        }
        if self.at(self.pos).is_ascii_digit() {
            return None;
        }
        self.line_tail()?;
        self.newline();
        let mut end = self.mark(self.pos);
        let mut indent = 0;
        let mut value = String::new();
        let mut leading = false;
        let mut trailing = String::new();
        self.block_breaks(&mut indent, parent, &mut trailing, &mut end)?;
        while !self.eof() && (self.pos - self.line_start) as u64 == indent {
            if leading {
                value.push('\n');
            }
            value.push_str(&trailing);
            trailing.clear();
            let from = self.pos;
            while self.at(self.pos) != b'\n' {
                self.pos += 1;
            }
            value.push_str(self.src.get(from..self.pos)?);
            leading = true;
            self.newline();
            self.block_breaks(&mut indent, parent, &mut trailing, &mut end)?;
        }
        if chomp != -1 && leading {
            value.push('\n');
        }
        if chomp == 1 {
            value.push_str(&trailing);
        }
        self.push(scalar(value, ScalarStyle::Literal), start, end);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libyaml_safer::Parser;

    /// libyaml-safer's events for `src`, as the reader sets the parser up.
    fn reference(src: &str) -> Result<Vec<Event>, String> {
        std::panic::catch_unwind(|| {
            let mut input = src.as_bytes();
            let mut parser = Parser::new();
            parser.set_encoding(Encoding::Utf8);
            parser.set_input_string(&mut input);
            parser
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|_| Err("panic".to_string()))
    }

    /// Checks the law on one input; returns whether the fast path accepted it.
    fn check(src: &str) -> bool {
        let fast = events(src);
        let slow = reference(src);
        match (fast, slow) {
            (None, _) => false,
            (Some(f), Ok(s)) => {
                assert_eq!(f.len(), s.len(), "event count differs for {src:?}");
                for (a, b) in f.iter().zip(&s) {
                    assert_eq!(a, b, "event differs for {src:?}");
                }
                true
            }
            (Some(_), Err(e)) => panic!("fast path accepted input libyaml rejects ({e}): {src:?}"),
        }
    }

    fn accepts(src: &str) {
        assert!(check(src), "fast path declined {src:?}");
    }

    #[test]
    fn known_shapes_match_libyaml() {
        accepts("a: b\n");
        accepts("a: b\nc: d\n");
        accepts("a:\n  b: c\n  d: e\nf: g\n");
        accepts("a:\n- b\n- c\nd: e\n");
        accepts("a:\n  - b\n  -\n  - c: d\n    e: f\n");
        accepts("- a\n- b: c\n  d:\n-\n- |\n  x\n");
        accepts("a: |\n  line1\n\n  line2\n\nb: |-\n  x\nc: |+\n  y\n\n\n");
        accepts("a: 'it''s'\nb: \"q\\n\\u00e9\"\n\"k\": v\n'k2':\n");
        accepts("# c\n\na: b # t\n  # x\nc: d\n");
        accepts("---\na: b\n---\n- c\n---\n");
        accepts("a: b\n---\n---\nc: d\n");
        accepts(
            "sops:\n    age:\n        - recipient: age1x\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            abc\n            -----END AGE ENCRYPTED FILE-----\n    version: 3.11.0\n",
        );
        accepts("é: ü日本\nx: a:b a#b -c ?d :e\n");
        accepts("a:    \n\n\nb: c    \n");
        accepts("# only comments\n");
        accepts("k: v\n   \n");
        accepts("a: |\n\n   \n    deep\n\n    more\n  \nb: c\n");
    }

    #[test]
    fn declines_outside_the_subset() {
        for src in [
            "a: b",
            "a: [b]\n",
            "a: &x b\n",
            "a: b\n  c\n",
            "? a\n: b\n",
            "%YAML 1.2\n---\na: b\n",
            "a: b\n...\n",
            "\u{FEFF}a: b\n",
            "a:\tb\n",
            "a: >\n  x\n",
            "scalar\n",
            "a: \"x\n  y\"\n",
        ] {
            assert!(!check(src), "fast path accepted {src:?}");
        }
    }

    #[test]
    fn rejected_inputs_are_declined() {
        for src in [
            "a: b: c\n",
            "a: - b\n",
            "a:\n  b: c\n d: e\n",
            "a: b\n- c\n",
            "- a\nb: c\n",
            "a: 'x\n",
            "a: \"\\q\"\n",
            "  a: b\nc: d\n",
            "a: b\n  c: d\n",
            "a: \"x\" y\n",
            "--- a: b\n",
        ] {
            assert!(!check(src), "fast path accepted {src:?}");
        }
    }

    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Node {
        Scalar(u8, String),
        Map(Vec<(u8, String, Node)>),
        Seq(Vec<Node>),
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b7"),
                Just(" "),
                Just(": "),
                Just(":"),
                Just(" #"),
                Just("#"),
                Just("-"),
                Just("- "),
                Just("?"),
                Just("'"),
                Just("\""),
                Just("\\"),
                Just("é"),
                Just("日"),
                Just(","),
                Just("["),
                Just("{"),
                Just("&"),
                Just("*"),
                Just("!"),
                Just("|"),
                Just(">"),
                Just("%"),
                Just("@"),
                Just("..."),
                Just("---"),
                Just("\\n"),
                Just("ENC[AES256_GCM,data:x+/=,iv:y,tag:z,type:str]"),
            ],
            0..5,
        )
        .prop_map(|v| v.concat())
    }

    fn node() -> impl Strategy<Value = Node> {
        let leaf = (0u8..8, text()).prop_map(|(k, t)| Node::Scalar(k, t));
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec((0u8..6, text(), inner.clone()), 1..4)
                    .prop_map(Node::Map),
                proptest::collection::vec(inner, 1..4).prop_map(Node::Seq),
            ]
        })
    }

    fn scalar_text(kind: u8, t: &str, ind: usize, out: &mut String) {
        match kind {
            0 | 1 => out.push_str(t),
            2 => {
                out.push('\'');
                out.push_str(&t.replace('\'', "''"));
                out.push('\'');
            }
            3 => {
                out.push('"');
                out.push_str(&t.replace('"', "\\\""));
                out.push('"');
            }
            4 | 5 => {
                out.push_str(["|", "|-", "|+", "| # h", "|2"][t.len() % 5]);
                out.push('\n');
                for l in t.split(' ') {
                    if !l.is_empty() {
                        out.push_str(&" ".repeat(ind + 2));
                    }
                    out.push_str(l);
                    out.push('\n');
                }
                return;
            }
            6 => {}
            _ => {
                out.push_str(t);
                out.push_str(" # c");
            }
        }
        out.push('\n');
    }

    fn render(n: &Node, ind: usize, style: u8, out: &mut String) {
        match n {
            Node::Scalar(k, t) => scalar_text(*k, t, ind, out),
            Node::Map(es) => {
                for (i, (kk, key, v)) in es.iter().enumerate() {
                    if i > 0 || !out.ends_with("- ") {
                        out.push_str(&" ".repeat(ind));
                    }
                    match kk {
                        0 => out.push_str(&format!("\"{key}\":")),
                        1 => out.push_str(&format!("'{key}':")),
                        _ => out.push_str(&format!("k{key}:")),
                    }
                    match v {
                        Node::Scalar(k, t) => {
                            out.push(' ');
                            scalar_text(*k, t, ind, out);
                        }
                        Node::Seq(_) if style.is_multiple_of(2) => {
                            out.push('\n');
                            render(v, ind, style, out);
                        }
                        _ => {
                            out.push_str(if style.is_multiple_of(3) {
                                " # x\n"
                            } else {
                                "\n"
                            });
                            if style.is_multiple_of(5) {
                                out.push('\n');
                            }
                            render(v, ind + 2 + (style as usize % 3), style, out);
                        }
                    }
                }
            }
            Node::Seq(items) => {
                for it in items {
                    out.push_str(&" ".repeat(ind));
                    out.push_str("- ");
                    match it {
                        Node::Seq(_) => {
                            out.push('\n');
                            render(it, ind + 2, style, out);
                        }
                        _ => render(it, ind + 2, style, out),
                    }
                }
            }
        }
    }

    fn doc() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec((node(), any::<u8>()), 1..3),
            any::<bool>(),
        )
            .prop_map(|(docs, lead)| {
                let mut out = String::new();
                if lead {
                    out.push_str("# head\n\n");
                }
                for (i, (n, style)) in docs.iter().enumerate() {
                    if i > 0 || style.is_multiple_of(7) {
                        out.push_str("---\n");
                    }
                    render(n, (*style as usize % 4 == 3) as usize, *style, &mut out);
                }
                out
            })
    }

    const MUTANTS: &[&str] = &[
        " ", "\n", ":", "-", "#", "'", "\"", "|", "a", "\t", "\r", "é", "[", "? ", "&a ", "", "  ",
        "\\", "---\n", "...\n", "%", ">",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn generated_documents_match_libyaml(src in doc()) {
            let ok = check(&src);
            if std::env::var("SEAL_FAST_YAML_VERBOSE").is_ok() {
                eprintln!("GEN {} {}", ok, reference(&src).is_ok());
            }
        }

        #[test]
        fn mutated_documents_match_libyaml(
            src in doc(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..MUTANTS.len(), 0u8..3), 1..4),
        ) {
            let mut s = src;
            for (at, m, kind) in edits {
                let mut cut = at.index(s.len() + 1);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                let mut end = (cut + 1).min(s.len());
                while !s.is_char_boundary(end) {
                    end += 1;
                }
                match kind {
                    0 => s.insert_str(cut, MUTANTS[m]),
                    1 => s.replace_range(cut..end, MUTANTS[m]),
                    _ => s.replace_range(cut..end, ""),
                }
            }
            let ok = check(&s);
            if std::env::var("SEAL_FAST_YAML_VERBOSE").is_ok() {
                eprintln!("MUT {} {}", ok, reference(&s).is_ok());
            }
            if !s.ends_with('\n') {
                s.push('\n');
                check(&s);
            }
        }
    }

    /// Timing on a file named by `SEAL_FAST_YAML_BENCH` (run with `--release --ignored`).
    #[test]
    #[ignore]
    fn bench_file() {
        use crate::stores::Store;
        let Ok(path) = std::env::var("SEAL_FAST_YAML_BENCH") else {
            return;
        };
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        let Ok(src) = super::super::reader::source_text(&bytes) else {
            return;
        };
        // Instruction counts (e.g. under callgrind) of one producer alone.
        match std::env::var("SEAL_FAST_YAML_BENCH_ONLY").as_deref() {
            Ok("fast") => {
                assert!(events(&src).is_some());
                return;
            }
            Ok("slow") => {
                assert!(reference(&src).is_ok());
                return;
            }
            Ok("none") => return,
            _ => {}
        }
        let best = |f: &dyn Fn()| {
            (0..5)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap_or_default()
        };
        let slow = best(&|| assert!(reference(&src).is_ok()));
        let fast = best(&|| assert!(events(&src).is_some()));
        let load = best(&|| assert!(super::super::YamlStore.load_encrypted(&bytes).is_ok()));
        assert!(check(&src));
        eprintln!("libyaml events {slow:?}, fast events {fast:?}, load_encrypted (fast) {load:?}");
    }

    fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }

    /// Every YAML file of the shared conformance and real-world corpora (when present on
    /// this machine) and the repository's round-trip fixtures.
    #[test]
    fn corpus_files_match_libyaml() {
        let mut files = Vec::new();
        for d in [
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance/cases"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/realworld"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/yaml-roundtrip"),
        ] {
            files_under(std::path::Path::new(d), &mut files);
        }
        let extra = std::env::var("SEAL_FAST_YAML_EXTRA").unwrap_or_default();
        for d in extra.split(':').filter(|d| !d.is_empty()) {
            files_under(std::path::Path::new(d), &mut files);
        }
        let (mut accepted, mut total) = (0, 0);
        for f in &files {
            let Ok(bytes) = std::fs::read(f) else {
                continue;
            };
            let Ok(src) = super::super::reader::source_text(&bytes) else {
                continue;
            };
            total += 1;
            if check(&src) {
                accepted += 1;
            } else if std::env::var("SEAL_FAST_YAML_VERBOSE").is_ok() {
                eprintln!("declined: {}", f.display());
            }
        }
        eprintln!("fast YAML path accepted {accepted} of {total} corpus files");
    }
}
