//! The layout-preserving YAML writer: copy the source text and splice in only the leaves
//! whose value changed (and the `sops:` block), so that encrypting and decrypting a file
//! leaves every other byte — indentation, quoting, comments, blank lines — as it was. A
//! mapping entry that was removed is one removed span, and entries added after the last
//! one of a mapping (`seal set` of a new key) are written there in the file's own
//! indentation; the result of such structural edits is read back and checked.

use std::borrow::Cow;

use super::reader::{DocLayout, ItemSpan, Leaf, LeafCtx, PairSpan};
use super::writer::{WStyle, literal_block, literal_ok, scalar_inline, write_list, write_pair};
use crate::tree::{Branch, Item, Value};

/// What the YAML store remembers about a file it read.
#[derive(Debug)]
pub struct YamlLayout {
    /// The source text (with a final line break added when the input had none).
    pub src: String,
    /// The length of the input (without the added line break and the byte-order mark).
    pub orig_len: usize,
    /// The input started with a UTF-8 byte-order mark (not part of `src`).
    pub bom: bool,
    /// The input's line breaks are CRLF: what is written into it gets CRLF too.
    pub crlf: bool,
    /// One entry per document.
    pub docs: Vec<DocLayout>,
    /// The trees as read were not kept (`DocLayout::original` is `None`) because the only
    /// change the tree will see is the decrypt walk's: [`emit_decrypted`] compares its
    /// leaves with the source text instead.
    pub decrypt_only: bool,
}

/// Whether `src` breaks its lines with CRLF (judged by its first line break).
pub fn uses_crlf(src: &str) -> bool {
    src.find('\n').is_some_and(|i| src[..i].ends_with('\r'))
}

/// Write `docs` over the source of `lay`; `None` when the tree does not fit the layout
/// (then the caller writes canonically). `metadata`: `Some` to write a `sops:` block into
/// every document, `None` to remove it.
pub fn emit(
    lay: &YamlLayout,
    docs: &[Branch],
    metadata: Option<&Branch>,
    default_indent: usize,
) -> Option<String> {
    let originals = lay
        .docs
        .iter()
        .map(|d| d.original.as_ref())
        .collect::<Option<Vec<_>>>()?;
    emit_against(lay, &originals, docs, metadata, default_indent)
}

/// [`emit`] of a tree that only the decrypt walk changed, for a layout read without the
/// trees as read ([`YamlLayout::decrypt_only`]): the decrypt walk changes no structure and
/// no leaf but an encrypted one, so each leaf is compared with its source text. A leaf
/// whose text is an `ENC[...]` value (plain or quoted) or a comment is written again when
/// it changed; any other leaf is kept. A leaf whose text could spell an encrypted value in
/// another way (escapes, a tag, several lines, a block scalar) makes the source be read
/// again for the trees, and [`emit`]'s walk runs against them. This saves the copy of the
/// tree a decrypt would otherwise make when reading (for a 20,000-key Secret, 5 MB of its
/// peak memory and 1,260 page faults; `docs/performance.md`, round 7).
pub fn emit_decrypted(lay: &YamlLayout, docs: &[Branch], default_indent: usize) -> Option<String> {
    if lay.docs.len() != docs.len() {
        return None;
    }
    if let Some(edits) = decrypted_edits(lay, docs, default_indent) {
        return apply_edits(lay, edits, docs, None, false);
    }
    let src = lay.src.as_str();
    let again = super::reader::read_source(src, lay.orig_len < src.len(), false).ok()?;
    let originals: Vec<&Branch> = again.iter().map(|d| &d.branch).collect();
    emit_against(lay, &originals, docs, None, default_indent)
}

/// The edits of [`emit_decrypted`] when every leaf's source text tells whether it changed.
fn decrypted_edits<'t>(
    lay: &YamlLayout,
    docs: &'t [Branch],
    default_indent: usize,
) -> Option<Vec<Edit<'t>>> {
    let (mut edits, mut removed) = (Vec::new(), Vec::new());
    for (dl, doc) in lay.docs.iter().zip(docs) {
        let mut w = Walk::new(&lay.src, dl, default_indent, &mut edits, &mut removed);
        w.decrypted_branch(doc)?;
        if w.next != dl.leaves.len() {
            return None;
        }
        if let Some((s, e)) = dl.sops_span {
            edits.push((s, e, Cow::Borrowed("")));
        }
    }
    Some(edits)
}

/// Whether a leaf's source text is a scalar whose value is what it spells: plain or
/// quoted on one line, without escapes, tags or anchors (`None` otherwise); and then that
/// value's text.
fn spelled(text: &str) -> Option<&str> {
    if text.is_empty() {
        return Some(text);
    }
    if memchr::memchr3(b'\\', b'\n', b'\r', text.as_bytes()).is_some() {
        return None;
    }
    let inner = match text.as_bytes().first()? {
        b'"' => text.strip_prefix('"')?.strip_suffix('"')?,
        b'\'' => text.strip_prefix('\'')?.strip_suffix('\'')?,
        b'!' | b'&' | b'*' | b'|' | b'>' => return None,
        _ => text,
    };
    memchr::memchr2(b'"', b'\'', inner.as_bytes())
        .is_none()
        .then_some(inner)
}

/// [`emit`] with the trees as read given.
fn emit_against(
    lay: &YamlLayout,
    originals: &[&Branch],
    docs: &[Branch],
    metadata: Option<&Branch>,
    default_indent: usize,
) -> Option<String> {
    if lay.docs.len() != docs.len() || originals.len() != docs.len() {
        return None;
    }
    let src = lay.src.as_str();
    let mut edits: Vec<Edit<'_>> = Vec::new();
    let mut structural = false;
    // Spans removed with an entry, and how many leaves they took along.
    let mut removed: Vec<(usize, usize)> = Vec::new();
    for ((dl, doc), original) in lay.docs.iter().zip(docs).zip(originals) {
        let step = dl.step.unwrap_or(default_indent);
        let mut w = Walk::new(src, dl, default_indent, &mut edits, &mut removed);
        w.branch(original, doc, true)?;
        if w.next != dl.leaves.len()
            || w.next_pair != dl.pairs.len()
            || w.next_item != dl.items.len()
        {
            return None;
        }
        // A kept leaf inside a removed span (an inline comment on a removed entry's line)
        // would be lost with it.
        if w.structural {
            structural = true;
            let skipped = std::mem::take(&mut w.skipped);
            for (i, l) in dl.leaves.iter().enumerate() {
                if skipped.binary_search(&i).is_err()
                    && w.removed.iter().any(|&(s, e)| l.start >= s && l.start < e)
                {
                    return None;
                }
            }
        }
        match (metadata, dl.sops_span) {
            (Some(md), span) => {
                let st = WStyle {
                    indent: step,
                    indentless: dl.indentless.unwrap_or(false),
                };
                let mut block = String::new();
                write_pair(
                    &mut block,
                    "sops",
                    &Value::Branch(md.clone()),
                    dl.root_col,
                    st,
                );
                match span {
                    Some((s, e)) => edits.push((s, e, block.into())),
                    None => {
                        let at = dl.end.min(src.len());
                        if at > 0 && !src[..at].ends_with('\n') {
                            block.insert(0, '\n');
                        }
                        edits.push((at, at, block.into()));
                    }
                }
            }
            (None, Some((s, e))) => edits.push((s, e, Cow::Borrowed(""))),
            (None, None) => {}
        }
    }
    apply_edits(lay, edits, docs, metadata, structural)
}

/// The source of `lay` with `edits` spliced in; with `structural` edits, only when the
/// result reads back as `docs` (and `metadata`).
fn apply_edits(
    lay: &YamlLayout,
    mut edits: Vec<Edit<'_>>,
    docs: &[Branch],
    metadata: Option<&Branch>,
    structural: bool,
) -> Option<String> {
    let src = lay.src.as_str();
    edits.sort_by_key(|e| (e.0, e.1));
    // The line break the reader added is dropped again unless an edit reaches the end.
    let touches_end = edits
        .iter()
        .any(|e| e.1 > lay.orig_len || e.0 >= lay.orig_len);
    let mut out = String::with_capacity(src.len() + edits.iter().map(|e| e.2.len()).sum::<usize>());
    // The line break the reader added (when the input had none), if it is kept: in a CRLF
    // file it is written CRLF like the others.
    let added = lay.orig_len < src.len();
    let added_eol = if lay.crlf { "\r\n" } else { "\n" };
    let push_src = |out: &mut String, a: usize, b: usize| -> Option<()> {
        let seg = src.get(a..b)?;
        match seg.strip_suffix('\n') {
            Some(body) if added && b == src.len() => {
                out.push_str(body);
                out.push_str(added_eol);
            }
            _ => out.push_str(seg),
        }
        Some(())
    };
    let mut pos = 0;
    for (s, e, text) in edits {
        if s < pos || e < s || e > src.len() {
            return None;
        }
        push_src(&mut out, pos, s)?;
        if lay.crlf {
            out.push_str(&text.replace('\n', "\r\n"));
        } else {
            out.push_str(&text);
        }
        pos = e;
    }
    push_src(&mut out, pos, src.len())?;
    if added && !touches_end && out.ends_with(added_eol) {
        out.truncate(out.len() - added_eol.len());
    }
    if structural && !reads_back_as(&out, docs, metadata) {
        return None;
    }
    Some(out)
}

/// Does `text` read back as `docs` (with `metadata` in every document, or none)?
fn reads_back_as(text: &str, docs: &[Branch], metadata: Option<&Branch>) -> bool {
    let Ok(back) = super::reader::read(text) else {
        return false;
    };
    back.len() == docs.len()
        && back.iter().zip(docs).all(|(b, d)| {
            b.layout.is_some() && same_branch(&b.branch, d) && b.sops.as_ref() == metadata
        })
}

/// Tree equality up to what the writer cannot keep apart: a float with an integral value
/// is written as an integer (`5.0` → `5`, as go-yaml does), NaN equals NaN.
fn same_branch(a: &Branch, b: &Branch) -> bool {
    a.items.len() == b.items.len()
        && a.items.iter().zip(&b.items).all(|(x, y)| match (x, y) {
            (Item::Pair(ka, va), Item::Pair(kb, vb)) => ka == kb && same_tree(va, vb),
            (Item::Comment(ca), Item::Comment(cb)) => ca == cb,
            _ => false,
        })
}

fn same_tree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Branch(x), Value::Branch(y)) => same_branch(x, y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_tree(p, q))
        }
        (Value::Int(i), Value::Float(f)) | (Value::Float(f), Value::Int(i)) => *i as f64 == *f,
        _ => same(a, b),
    }
}

/// Did a non-empty mapping or list become empty?
fn emptied(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Branch(a), Value::Branch(b)) => !a.items.is_empty() && b.items.is_empty(),
        (Value::List(a), Value::List(b)) => !a.is_empty() && b.is_empty(),
        _ => false,
    }
}

/// How many leaves (scalars, nulls, comments) [`Walk`] takes for `v`.
fn leaf_count(v: &Value) -> usize {
    match v {
        Value::Branch(b) => b
            .items
            .iter()
            .map(|i| match i {
                Item::Comment(_) => 1,
                Item::Pair(_, v) => leaf_count(v),
            })
            .sum(),
        Value::List(l) => l.iter().map(leaf_count).sum(),
        _ => 1,
    }
}

/// How many pairs (in [`DocLayout::pairs`]) and sequence items (in [`DocLayout::items`])
/// `v` holds.
fn span_counts(v: &Value) -> (usize, usize) {
    match v {
        Value::Branch(b) => b.items.iter().fold((0, 0), |(p, i), it| match it {
            Item::Comment(_) => (p, i),
            Item::Pair(_, v) => {
                let (p2, i2) = span_counts(v);
                (p + 1 + p2, i + i2)
            }
        }),
        Value::List(l) => l.iter().fold((0, 0), |(p, i), v| match v {
            Value::Comment(_) => (p, i),
            v => {
                let (p2, i2) = span_counts(v);
                (p + p2, i + 1 + i2)
            }
        }),
        _ => (0, 0),
    }
}

/// A replacement of a byte range of the source: start, end and the text, lent by the tree
/// when a value is written as it is (no copy of each `ENC[...]` or decrypted value).
type Edit<'t> = (usize, usize, Cow<'t, str>);

struct Walk<'a, 't> {
    src: &'a str,
    leaves: &'a [Leaf],
    next: usize,
    pairs: &'a [PairSpan],
    next_pair: usize,
    items: &'a [ItemSpan],
    next_item: usize,
    step: usize,
    indentless: bool,
    edits: &'a mut Vec<Edit<'t>>,
    /// Whether an entry was added or removed.
    structural: bool,
    /// Spans of removed entries.
    removed: &'a mut Vec<(usize, usize)>,
    /// Indices (ascending) of the leaves that went with removed entries.
    skipped: Vec<usize>,
}

/// Leaf equality where NaN equals NaN (an unchanged `.nan` keeps its bytes).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
        _ => a == b,
    }
}

impl<'a, 't> Walk<'a, 't> {
    /// A walk over the leaves and spans of document `dl` of `src`, from the first.
    fn new(
        src: &'a str,
        dl: &'a DocLayout,
        default_indent: usize,
        edits: &'a mut Vec<Edit<'t>>,
        removed: &'a mut Vec<(usize, usize)>,
    ) -> Walk<'a, 't> {
        Walk {
            src,
            leaves: &dl.leaves,
            next: 0,
            pairs: &dl.pairs,
            next_pair: 0,
            items: &dl.items,
            next_item: 0,
            step: dl.step.unwrap_or(default_indent),
            indentless: dl.indentless.unwrap_or(false),
            edits,
            structural: false,
            removed,
            skipped: Vec::new(),
        }
    }

    fn take(&mut self) -> Option<&Leaf> {
        let l = self.leaves.get(self.next)?;
        self.next += 1;
        Some(l)
    }

    /// Pass over the leaves and spans of a removed value.
    fn skip(&mut self, v: &Value) -> Option<()> {
        let n = leaf_count(v);
        let (p, i) = span_counts(v);
        self.skipped.extend(self.next..self.next + n);
        self.next += n;
        self.next_pair += p;
        self.next_item += i;
        (self.next <= self.leaves.len()
            && self.next_pair <= self.pairs.len()
            && self.next_item <= self.items.len())
        .then_some(())
    }

    fn take_item(&mut self) -> Option<ItemSpan> {
        let it = *self.items.get(self.next_item)?;
        self.next_item += 1;
        Some(it)
    }

    /// Walk list `old` against `new`: the same length (items compared in place), one or
    /// more items removed from one place (their lines go), or items appended at the end
    /// (written after the last item at the dashes' column).
    fn list(&mut self, old: &[Value], new: &'t [Value]) -> Option<()> {
        let pair = |s: &mut Self, x: &Value, y: &'t Value| -> Option<()> {
            if !matches!(x, Value::Comment(_)) {
                s.take_item()?;
            }
            s.value(x, y)
        };
        if old.len() == new.len() {
            for (x, y) in old.iter().zip(new) {
                pair(self, x, y)?;
            }
            return Some(());
        }
        let is_item = |v: &Value| !matches!(v, Value::Comment(_));
        if new.len() < old.len() {
            let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
            let removed = old.len() - new.len();
            if old[prefix + removed..] != new[prefix..] {
                return None;
            }
            for (x, y) in old[..prefix].iter().zip(new) {
                pair(self, x, y)?;
            }
            for x in &old[prefix..prefix + removed] {
                if !is_item(x) {
                    return None;
                }
                let it = self.take_item()?;
                let start = it.line_start?;
                self.edits.push((start, it.end, Cow::Borrowed("")));
                self.removed.push((start, it.end));
                self.structural = true;
                self.skip(x)?;
            }
            for (x, y) in old[prefix + removed..].iter().zip(&new[prefix..]) {
                pair(self, x, y)?;
            }
            return Some(());
        }
        // Appended items.
        let mut last: Option<ItemSpan> = None;
        for (x, y) in old.iter().zip(new) {
            if is_item(x) {
                last = self.items.get(self.next_item).copied();
            }
            pair(self, x, y)?;
        }
        let last = last?;
        // After the last item, unless comments follow it in the list.
        if old.last().is_some_and(|v| !is_item(v)) {
            return None;
        }
        let added = &new[old.len()..];
        if !added.iter().all(is_item) {
            return None;
        }
        let st = WStyle {
            indent: self.step,
            indentless: self.indentless,
        };
        let mut text = String::new();
        write_list(&mut text, added, last.dash_col, false, st);
        if last.end > 0 && !self.src[..last.end].ends_with('\n') {
            text.insert(0, '\n');
        }
        self.edits.push((last.end, last.end, text.into()));
        self.structural = true;
        Some(())
    }

    fn take_pair(&mut self) -> Option<PairSpan> {
        let p = *self.pairs.get(self.next_pair)?;
        self.next_pair += 1;
        Some(p)
    }

    /// Walk `old` against `new`. Items match in order; a pair of `old` whose key `new`
    /// lacks is removed with its lines, and pairs of `new` after the last match whose keys
    /// `old` lacks are added after the mapping's last entry. `root`: the document's own
    /// mapping (its last entry may be followed by the `sops:` block and loose comments).
    fn branch(&mut self, old: &Branch, new: &'t Branch, root: bool) -> Option<()> {
        let mut j = 0;
        // End of the last entry (and, in nested mappings, comment) seen, and the key column.
        let mut last_end: Option<usize> = None;
        let mut key_col: Option<usize> = None;
        for a in &old.items {
            let b = new.items.get(j);
            match (a, b) {
                (Item::Pair(ka, va), Some(Item::Pair(kb, vb))) if ka == kb => {
                    let p = self.take_pair()?;
                    key_col.get_or_insert(p.key_col);
                    last_end = Some(last_end.map_or(p.end, |e: usize| e.max(p.end)));
                    if emptied(va, vb) {
                        // The last entry (or item) went: the entry becomes `key: {}` (or
                        // `[]`), as sops writes it; `key:` alone would read as null.
                        let start = p.line_start?;
                        let mut text = String::new();
                        let st = WStyle {
                            indent: self.step,
                            indentless: self.indentless,
                        };
                        write_pair(&mut text, kb, vb, p.key_col, st);
                        self.edits.push((start, p.end, text.into()));
                        self.removed.push((start, p.end));
                        self.structural = true;
                        self.skip(va)?;
                    } else {
                        self.value(va, vb)?;
                    }
                    j += 1;
                }
                (Item::Pair(ka, va), _) if new.get(ka).is_none() => {
                    // Removed: its lines go, its leaves and pairs are skipped.
                    let p = self.take_pair()?;
                    key_col.get_or_insert(p.key_col);
                    let start = p.line_start?;
                    self.edits.push((start, p.end, Cow::Borrowed("")));
                    self.removed.push((start, p.end));
                    self.structural = true;
                    self.skip(va)?;
                }
                (Item::Comment(ca), Some(Item::Comment(cb))) => {
                    let leaf = self.take()?.clone();
                    if !root {
                        let e = self.line_end(leaf.end);
                        last_end = Some(last_end.map_or(e, |x: usize| x.max(e)));
                    }
                    if ca != cb {
                        let LeafCtx::Comment { .. } = leaf.ctx else {
                            return None;
                        };
                        self.edits
                            .push((leaf.start, leaf.end, comment_text(cb)?.into()));
                    }
                    j += 1;
                }
                _ => return None,
            }
        }
        let added = new.items.get(j..).unwrap_or_default();
        if added.is_empty() {
            return Some(());
        }
        // Added entries: only new keys, after the last entry, at the siblings' column.
        let (at, col) = (last_end?, key_col?);
        let st = WStyle {
            indent: self.step,
            indentless: self.indentless,
        };
        let mut text = String::new();
        for it in added {
            match it {
                Item::Pair(k, v) if old.get(k).is_none() => write_pair(&mut text, k, v, col, st),
                _ => return None,
            }
        }
        if at > 0 && !self.src[..at].ends_with('\n') {
            text.insert(0, '\n');
        }
        self.edits.push((at, at, text.into()));
        self.structural = true;
        Some(())
    }

    /// Just after the line break that ends the line holding `pos`.
    fn line_end(&self, pos: usize) -> usize {
        match self.src.get(pos..).and_then(|r| r.find('\n')) {
            Some(i) => pos + i + 1,
            None => self.src.len(),
        }
    }

    fn value(&mut self, old: &Value, new: &'t Value) -> Option<()> {
        match (old, new) {
            (Value::Branch(a), Value::Branch(b)) => self.branch(a, b, false),
            (Value::List(a), Value::List(b)) => self.list(a, b),
            (Value::Branch(_) | Value::List(_), _) | (_, Value::Branch(_) | Value::List(_)) => None,
            (a, b) => {
                let leaf = self.take()?.clone();
                if same(a, b) {
                    return Some(());
                }
                let edit = self.leaf_edit(&leaf, b)?;
                self.edits.push(edit);
                Some(())
            }
        }
    }

    fn followed_by_eol(&self, pos: usize) -> bool {
        let rest = self.src.get(pos..).unwrap_or_default();
        rest.is_empty() || rest.starts_with('\n') || rest.starts_with("\r\n")
    }

    fn rest_of_line_blank(&self, pos: usize) -> bool {
        let rest = self.src.get(pos..).unwrap_or_default();
        let line = rest.split('\n').next().unwrap_or_default();
        line.trim().is_empty()
    }

    /// [`emit_decrypted`]'s walk of a mapping: its leaves against the source text.
    fn decrypted_branch(&mut self, b: &'t Branch) -> Option<()> {
        for it in &b.items {
            match it {
                Item::Pair(_, v) => self.decrypted_value(v)?,
                Item::Comment(c) => {
                    let v = Value::Comment(c.clone());
                    if let Some((s, e, text)) = self.decrypted_leaf(&v)? {
                        self.edits.push((s, e, Cow::Owned(text.into_owned())));
                    }
                }
            }
        }
        Some(())
    }

    fn decrypted_value(&mut self, v: &'t Value) -> Option<()> {
        match v {
            Value::Branch(b) => self.decrypted_branch(b),
            Value::List(l) => l.iter().try_for_each(|x| self.decrypted_value(x)),
            leaf => {
                if let Some(edit) = self.decrypted_leaf(leaf)? {
                    self.edits.push(edit);
                }
                Some(())
            }
        }
    }

    /// One leaf: kept when its source spells a value the decrypt walk leaves alone, or
    /// spells `new` itself; written again when its source was encrypted and `new` is not
    /// that (the edit is returned); `None` when the source text cannot tell.
    fn decrypted_leaf<'v>(&mut self, new: &'v Value) -> Option<Option<Edit<'v>>> {
        let leaf = self.take()?.clone();
        let text = self.src.get(leaf.start..leaf.end)?;
        let changed = match leaf.ctx {
            LeafCtx::Comment { .. } => {
                let was = text.strip_prefix('#')?;
                !matches!(new, Value::Comment(t) if t == was)
            }
            _ => {
                let was = spelled(text)?;
                if !crate::cipher::is_enc_value(was) {
                    if memchr::memmem::find(was.as_bytes(), b"ENC[").is_some() {
                        return None;
                    }
                    return Some(None);
                }
                !matches!(new, Value::Str(s) if s == was)
            }
        };
        if !changed {
            return Some(None);
        }
        self.leaf_edit(&leaf, new).map(Some)
    }

    /// The edit that writes `new` in place of `leaf`.
    fn leaf_edit<'v>(&self, leaf: &Leaf, new: &'v Value) -> Option<Edit<'v>> {
        match (&leaf.ctx, new) {
            (LeafCtx::Fixed, _) => None,
            // Only list elements reach here as `Value::Comment`. An encrypted comment in a
            // list is written as a list item, as sops writes it (sops reads `#ENC` lines in
            // lists too, but then the file's layout would differ from what sops makes). An
            // inline comment cannot become an item in place: fall back to the canonical form.
            (
                LeafCtx::Comment {
                    own_line,
                    col,
                    list_dash_col,
                },
                Value::Comment(t),
            ) if crate::cipher::is_enc_value(t) => (*own_line && *list_dash_col == Some(*col))
                .then(|| (leaf.start, leaf.end, format!("- {t}").into())),
            (LeafCtx::Comment { .. }, Value::Comment(t)) => {
                Some((leaf.start, leaf.end, comment_text(t)?.into()))
            }
            (
                LeafCtx::Comment {
                    own_line,
                    col,
                    list_dash_col,
                },
                v,
            ) => {
                // A list comment that became a value (`#c` → `- ENC[...]`).
                if *own_line
                    && *list_dash_col == Some(*col)
                    && !matches!(v, Value::Str(s) if s.contains('\n'))
                {
                    Some((
                        leaf.start,
                        leaf.end,
                        format!("- {}", scalar_inline(v)).into(),
                    ))
                } else {
                    None
                }
            }
            (LeafCtx::ListItem { dash_pos, .. }, Value::Comment(t)) => {
                // `- ENC[...,type:comment]` decrypted to a comment: a comment line at the dash.
                let d = (*dash_pos)?;
                if !self.rest_of_line_blank(leaf.end) {
                    return None;
                }
                Some((d, leaf.end, comment_text(t)?.into()))
            }
            (LeafCtx::MapValue { .. }, Value::Comment(_)) => None,
            (LeafCtx::MapValue { key_col: base } | LeafCtx::ListItem { dash_col: base, .. }, v) => {
                let text = match v {
                    Value::Str(s) if literal_ok(s) && self.followed_by_eol(leaf.end) => {
                        let mut t = literal_block(s, base + self.step, self.step);
                        if leaf.end >= self.src.len() {
                            t.push('\n');
                        }
                        Cow::Owned(t)
                    }
                    other => scalar_inline(other),
                };
                Some((leaf.start, leaf.end, text))
            }
        }
    }
}

/// `#` + text, when the text fits on one line.
fn comment_text(t: &str) -> Option<String> {
    if t.contains(['\n', '\r']) {
        return None;
    }
    Some(format!("#{t}"))
}

#[cfg(test)]
mod tests {
    use crate::stores::{EmitOptions, Format};
    use crate::tree::{Branch, Item, Value};

    fn load(src: &str) -> crate::stores::Parsed {
        Format::Yaml.store().load_plain(src.as_bytes()).unwrap()
    }

    fn emit(p: &crate::stores::Parsed, docs: &[Branch]) -> String {
        let out = Format::Yaml
            .store()
            .emit_plain(docs, &p.layout, EmitOptions::default())
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn branch_mut<'a>(b: &'a mut Branch, key: &str) -> &'a mut Branch {
        b.items
            .iter_mut()
            .find_map(|i| match i {
                Item::Pair(k, Value::Branch(b)) if k == key => Some(b),
                _ => None,
            })
            .unwrap()
    }

    const SRC: &str = "---\n# head\nkind: Secret\nmetadata:\n  name: app   # inline\nstringData:\n  A: one  \n  # about B\n  B: two\n  C: |\n    multi\n    line\nother: x\n";

    #[test]
    fn added_entries_are_written_after_their_last_sibling() {
        let p = load(SRC);
        let mut docs = p.docs.clone();
        let sd = branch_mut(&mut docs[0], "stringData");
        sd.items
            .push(Item::Pair("D".into(), Value::Str("four".into())));
        docs[0].items.push(Item::Pair(
            "new".into(),
            Value::Branch(Branch {
                items: vec![Item::Pair(
                    "x".into(),
                    Value::Branch(Branch {
                        items: vec![Item::Pair("y".into(), Value::Float(5.0))],
                    }),
                )],
            }),
        ));
        let want =
            SRC.replace("    line\n", "    line\n  D: four\n") + "new:\n  x:\n    \"y\": 5\n";
        assert_eq!(emit(&p, &docs), want);
    }

    fn remove(b: &mut Branch, key: &str) {
        b.items
            .retain(|i| !matches!(i, Item::Pair(k, _) if k == key));
    }

    #[test]
    fn a_mapping_or_list_that_lost_its_last_entry_becomes_empty_flow() {
        let src = "m:\n  a: 1\nl:\n  - x\nz: 0\n";
        let p = load(src);
        let mut docs = p.docs.clone();
        remove(branch_mut(&mut docs[0], "m"), "a");
        list_mut(&mut docs[0], "l").clear();
        assert_eq!(emit(&p, &docs), "m: {}\nl: []\nz: 0\n");
    }

    #[test]
    fn removed_entries_are_removed_lines() {
        let p = load(SRC);
        let mut docs = p.docs.clone();
        remove(branch_mut(&mut docs[0], "stringData"), "C");
        remove(&mut docs[0], "metadata");
        let want = SRC
            .replace("  C: |\n    multi\n    line\n", "")
            .replace("metadata:\n  name: app   # inline\n", "");
        assert_eq!(emit(&p, &docs), want);
    }

    /// What cannot be done in place falls back to the canonical writer, never to a file
    /// that reads back differently.
    #[test]
    fn structural_edits_that_do_not_fit_fall_back_to_the_canonical_form() {
        type Change = fn(&mut Branch);
        let cases: [(&str, Change); 3] = [
            // The inline comment is the root's, not the removed entry's.
            ("a: 1 # about a\nb: 2\n", |d| remove(d, "a")),
            // The first key of a list item shares its line with the dash.
            ("l:\n  - a: 1\n    b: 2\n", |d| {
                let Some(Item::Pair(_, Value::List(l))) = d.items.first_mut() else {
                    panic!()
                };
                let Value::Branch(b) = &mut l[0] else {
                    panic!()
                };
                remove(b, "a");
            }),
            // The last entry of a mapping whose key line has a comment of the parent's.
            ("m: # about m\n  a: 1\nz: 0\n", |d| {
                remove(branch_mut(d, "m"), "a")
            }),
        ];
        for (src, change) in cases {
            let p = load(src);
            let mut docs = p.docs.clone();
            change(&mut docs[0]);
            let out = emit(&p, &docs);
            assert_eq!(load(&out).docs, docs, "{src:?} → {out:?}");
        }
    }

    #[test]
    fn added_entries_after_a_removed_one_and_into_indentless_lists_documents() {
        // Two documents, the second with a sops-like trailing key order kept.
        let src = "a: 1\nb:\n- x\n- y\n---\nc: 3\n";
        let p = load(src);
        let mut docs = p.docs.clone();
        remove(&mut docs[0], "a");
        docs[0].items.push(Item::Pair(
            "l".into(),
            Value::List(vec![Value::Str("z".into())]),
        ));
        docs[1].items.push(Item::Pair("d".into(), Value::Int(4)));
        assert_eq!(emit(&p, &docs), "b:\n- x\n- y\nl:\n- z\n---\nc: 3\nd: 4\n");
    }

    fn list_mut<'a>(b: &'a mut Branch, key: &str) -> &'a mut Vec<Value> {
        b.items
            .iter_mut()
            .find_map(|i| match i {
                Item::Pair(k, Value::List(l)) if k == key => Some(l),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn list_items_are_removed_and_appended_in_place() {
        // go-yaml puts an inline comment before its item in the tree: [a, #, b, c].
        let src = "l:\n  - a\n  - b   # about b\n  - c\nm:\n- k: 1\n  j: 2\n- k: 3\nz: end\n";
        let p = load(src);
        let mut docs = p.docs.clone();
        list_mut(&mut docs[0], "l").remove(3);
        list_mut(&mut docs[0], "m").remove(0);
        assert_eq!(
            emit(&p, &docs),
            "l:\n  - a\n  - b   # about b\nm:\n- k: 3\nz: end\n"
        );
        let mut docs = p.docs.clone();
        list_mut(&mut docs[0], "l").push(Value::Str("d".into()));
        list_mut(&mut docs[0], "m").push(Value::Branch(Branch {
            items: vec![Item::Pair("k".into(), Value::Int(5))],
        }));
        assert_eq!(
            emit(&p, &docs),
            src.replace("  - c\n", "  - c\n  - d\n")
                .replace("- k: 3\n", "- k: 3\n- k: 5\n")
        );
        // Removing the item that carries the comment falls back, reading back the same.
        let mut docs = p.docs.clone();
        list_mut(&mut docs[0], "l").remove(2);
        let out = emit(&p, &docs);
        assert_eq!(load(&out).docs, docs, "{out}");
    }
}
