//! The layout-preserving YAML writer: copy the source text and splice in only the leaves
//! whose value changed (and the `sops:` block), so that encrypting and decrypting a file
//! leaves every other byte — indentation, quoting, comments, blank lines — as it was.

use super::reader::{DocLayout, Leaf, LeafCtx};
use super::writer::{WStyle, literal_block, literal_ok, scalar_inline, write_pair};
use crate::tree::{Branch, Item, Value};

/// What the YAML store remembers about a file it read.
#[derive(Debug)]
pub struct YamlLayout {
    /// The source text (with a final line break added when the input had none).
    pub src: String,
    /// The length of the input (without the added line break).
    pub orig_len: usize,
    /// One entry per document.
    pub docs: Vec<DocLayout>,
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
    if lay.docs.len() != docs.len() {
        return None;
    }
    let src = lay.src.as_str();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (dl, doc) in lay.docs.iter().zip(docs) {
        let step = dl.step.unwrap_or(default_indent);
        let mut w = Walk {
            src,
            leaves: &dl.leaves,
            next: 0,
            step,
            edits: &mut edits,
        };
        w.branch(&dl.original, doc)?;
        if w.next != dl.leaves.len() {
            return None;
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
                    Some((s, e)) => edits.push((s, e, block)),
                    None => {
                        let at = dl.end.min(src.len());
                        if at > 0 && !src[..at].ends_with('\n') {
                            block.insert(0, '\n');
                        }
                        edits.push((at, at, block));
                    }
                }
            }
            (None, Some((s, e))) => edits.push((s, e, String::new())),
            (None, None) => {}
        }
    }
    edits.sort_by_key(|e| (e.0, e.1));
    // The line break the reader added is dropped again unless an edit reaches the end.
    let touches_end = edits
        .iter()
        .any(|e| e.1 > lay.orig_len || e.0 >= lay.orig_len);
    let mut out = String::with_capacity(src.len() + edits.iter().map(|e| e.2.len()).sum::<usize>());
    let mut pos = 0;
    for (s, e, text) in edits {
        if s < pos || e < s || e > src.len() {
            return None;
        }
        out.push_str(src.get(pos..s)?);
        out.push_str(&text);
        pos = e;
    }
    out.push_str(src.get(pos..)?);
    if lay.orig_len < src.len() && !touches_end && out.ends_with('\n') {
        out.pop();
    }
    Some(out)
}

struct Walk<'a> {
    src: &'a str,
    leaves: &'a [Leaf],
    next: usize,
    step: usize,
    edits: &'a mut Vec<(usize, usize, String)>,
}

/// Leaf equality where NaN equals NaN (an unchanged `.nan` keeps its bytes).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
        _ => a == b,
    }
}

impl Walk<'_> {
    fn take(&mut self) -> Option<&Leaf> {
        let l = self.leaves.get(self.next)?;
        self.next += 1;
        Some(l)
    }

    fn branch(&mut self, old: &Branch, new: &Branch) -> Option<()> {
        if old.items.len() != new.items.len() {
            return None;
        }
        for (a, b) in old.items.iter().zip(&new.items) {
            match (a, b) {
                (Item::Pair(ka, va), Item::Pair(kb, vb)) if ka == kb => self.value(va, vb)?,
                (Item::Comment(ca), Item::Comment(cb)) => {
                    let leaf = self.take()?.clone();
                    if ca != cb {
                        let LeafCtx::Comment { .. } = leaf.ctx else {
                            return None;
                        };
                        self.edits.push((leaf.start, leaf.end, comment_text(cb)?));
                    }
                }
                _ => return None,
            }
        }
        Some(())
    }

    fn value(&mut self, old: &Value, new: &Value) -> Option<()> {
        match (old, new) {
            (Value::Branch(a), Value::Branch(b)) => self.branch(a, b),
            (Value::List(a), Value::List(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                for (x, y) in a.iter().zip(b) {
                    self.value(x, y)?;
                }
                Some(())
            }
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

    /// The edit that writes `new` in place of `leaf`.
    fn leaf_edit(&self, leaf: &Leaf, new: &Value) -> Option<(usize, usize, String)> {
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
                .then(|| (leaf.start, leaf.end, format!("- {t}"))),
            (LeafCtx::Comment { .. }, Value::Comment(t)) => {
                Some((leaf.start, leaf.end, comment_text(t)?))
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
                    Some((leaf.start, leaf.end, format!("- {}", scalar_inline(v))))
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
                Some((d, leaf.end, comment_text(t)?))
            }
            (LeafCtx::MapValue { .. }, Value::Comment(_)) => None,
            (LeafCtx::MapValue { key_col: base } | LeafCtx::ListItem { dash_col: base, .. }, v) => {
                let text = match v {
                    Value::Str(s) if literal_ok(s) && self.followed_by_eol(leaf.end) => {
                        let mut t = literal_block(s, base + self.step, self.step);
                        if leaf.end >= self.src.len() {
                            t.push('\n');
                        }
                        t
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
