//! The YAML store: sops-compatible reading (go-yaml v3 typing and comment placement,
//! multi-document streams, the `sops` metadata key), the canonical writer, and a
//! layout-preserving writer that changes only the bytes of values that changed.

mod fast;
mod layout;
mod pipeline;
mod reader;
pub mod resolve;
mod syntax;
mod writer;

use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Value};
use layout::YamlLayout;
pub use syntax::surely_readable;
use writer::WStyle;
pub use writer::double_quoted;

/// The YAML store.
pub struct YamlStore;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Text written for a file read with `lay`: its byte-order mark again in front, and, for
/// canonical text (`canonical`), the file's CRLF line breaks (the layout writer keeps
/// them itself).
fn finish(lay: Option<&YamlLayout>, text: String, canonical: bool) -> Vec<u8> {
    let Some(lay) = lay else {
        return text.into_bytes();
    };
    let text = if canonical && lay.crlf {
        text.replace('\n', "\r\n")
    } else {
        text
    };
    let mut out = Vec::with_capacity(text.len() + BOM.len());
    if lay.bom {
        out.extend_from_slice(BOM);
    }
    out.extend_from_slice(text.as_bytes());
    out
}

/// The indentation sops uses for a configured value: unset or 0 → 4, 1 or ≥ 10 → 2.
pub fn normalize_indent(indent: Option<usize>) -> usize {
    match indent {
        None | Some(0) => 4,
        Some(1) => 2,
        Some(n) if n >= 10 => 2,
        Some(n) => n,
    }
}

fn style(opts: EmitOptions) -> WStyle {
    WStyle {
        indent: normalize_indent(opts.indent),
        indentless: false,
    }
}

/// [`Store::load_plain`] (`keep_original`) or [`Store::load_for_reading`].
fn load(input: &[u8], keep_original: bool) -> Result<Parsed, StoreError> {
    let bom = input.starts_with(BOM);
    load_text(
        reader::source_text(input)?,
        input.len(),
        bom,
        keep_original,
        false,
    )
}

/// [`load`] of `src`, the [`reader::source_text`] of an input of `input_len` bytes.
fn load_text(
    src: String,
    input_len: usize,
    bom: bool,
    keep_original: bool,
    decrypt_only: bool,
) -> Result<Parsed, StoreError> {
    let body_len = input_len - if bom { BOM.len() } else { 0 };
    let out = reader::read_source(&src, src.len() > body_len, keep_original)?;
    let mut metadata = None;
    let mut docs = Vec::with_capacity(out.len());
    let mut layouts = Vec::with_capacity(out.len());
    let mut layout_ok = true;
    for (i, d) in out.into_iter().enumerate() {
        if i == 0 {
            metadata = d.sops;
        }
        docs.push(d.branch);
        match d.layout {
            Some(l) => layouts.push(l),
            None => layout_ok = false,
        }
    }
    // A byte-order mark is kept (written again in front); offsets are in `src`, the text
    // after it.
    let layout = if layout_ok {
        let orig_len = body_len;
        Layout::new(YamlLayout {
            crlf: layout::uses_crlf(&src),
            src,
            orig_len,
            bom,
            docs: layouts,
            decrypt_only,
        })
    } else {
        Layout::none()
    };
    Ok(Parsed {
        docs,
        metadata,
        layout,
    })
}

impl Store for YamlStore {
    fn format(&self) -> Format {
        Format::Yaml
    }

    fn load_plain(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        load(input, true)
    }

    fn load_for_reading(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        load(input, false)
    }

    fn load_encrypted_owned(&self, input: Vec<u8>) -> Result<Parsed, StoreError> {
        let (len, bom) = (input.len(), input.starts_with(BOM));
        load_text(reader::source_text_owned(input)?, len, bom, false, true)
    }

    fn emit_plain(
        &self,
        docs: &[Branch],
        layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let lay = layout.get::<YamlLayout>();
        let indent = normalize_indent(opts.indent);
        if let Some(lay) = lay
            && let Some(s) = if lay.decrypt_only {
                layout::emit_decrypted(lay, docs, indent)
            } else {
                layout::emit(lay, docs, None, indent)
            }
        {
            return Ok(finish(Some(lay), s, false));
        }
        Ok(finish(
            lay,
            writer::write_docs(docs, None, style(opts)),
            true,
        ))
    }

    fn emit_encrypted(
        &self,
        docs: &[Branch],
        metadata: &Branch,
        layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        let lay = layout.get::<YamlLayout>();
        if let Some(lay) = lay
            && let Some(s) = layout::emit(lay, docs, Some(metadata), normalize_indent(opts.indent))
        {
            return Ok(finish(Some(lay), s, false));
        }
        Ok(finish(
            lay,
            writer::write_docs(docs, Some(metadata), style(opts)),
            true,
        ))
    }

    fn emit_value(&self, value: &Value, opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        Ok(writer::write_value(value, style(opts)).into_bytes())
    }
}

/// Where things are in a YAML file that was read with its layout kept: for each document,
/// the byte offset of every leaf in walk order (scalars, nulls and comments, as
/// [`crate::tree`] walks them) and of the `sops:` key when present, in the text after a
/// byte-order mark. `None` when the layout was not kept (e.g. aliases, flow collections).
/// Used by `seal check` for line:column.
pub fn leaf_offsets(layout: &Layout) -> Option<(&str, Vec<DocOffsets>)> {
    let lay = layout.get::<YamlLayout>()?;
    let docs = lay
        .docs
        .iter()
        .map(|d| DocOffsets {
            leaves: d.leaves.iter().map(|l| l.start).collect(),
            sops: d.sops_span.map(|(s, _)| s),
        })
        .collect();
    Some((lay.src.as_str(), docs))
}

/// Offsets of one document (see [`leaf_offsets`]).
#[derive(Clone, Debug, Default)]
pub struct DocOffsets {
    /// Start of every leaf, in walk order.
    pub leaves: Vec<usize>,
    /// Start of the `sops:` key line.
    pub sops: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a buffer the caller gives up is reading the same bytes borrowed: the same
    /// documents, metadata, written layout and errors.
    #[test]
    fn owned_input_reads_as_borrowed() {
        let inputs: [&[u8]; 8] = [
            b"a: 1\nb: x # c\n",
            b"a: 1\nb: |\n  text",
            b"\xEF\xBB\xBFa: 1\n",
            b"\xEF\xBB\xBFk: v",
            b"a: 1\r\nb: 2\r\n",
            b"",
            b"a: \xFF\n",
            b"a: [1\n",
        ];
        let store = YamlStore;
        for input in inputs {
            let borrowed = store.load_encrypted(input);
            let owned = store.load_encrypted_owned(input.to_vec());
            match (borrowed, owned) {
                (Ok(b), Ok(o)) => {
                    assert_eq!(b.docs, o.docs, "{input:?}");
                    assert_eq!(b.metadata, o.metadata, "{input:?}");
                    let opts = EmitOptions::default();
                    assert_eq!(
                        store.emit_plain(&b.docs, &b.layout, opts).unwrap(),
                        store.emit_plain(&o.docs, &o.layout, opts).unwrap(),
                        "{input:?}"
                    );
                }
                (Err(b), Err(o)) => assert_eq!(b, o, "{input:?}"),
                (b, o) => panic!("{input:?}: {:?} vs {:?}", b.is_ok(), o.is_ok()),
            }
        }
    }

    /// Decrypt `text` as `seal decrypt` does (the source compared leaf by leaf, no copy of
    /// the tree as read) and with the tree as read kept (the walk `edit` and `set` use):
    /// the same output.
    fn decrypt_both_ways(
        text: &str,
        key: &crate::cipher::DataKey,
        selector: &crate::rules::Selector,
    ) {
        use crate::cipher::{WalkRules, decrypt_docs};
        let store = YamlStore;
        let rules = WalkRules {
            selector,
            mac_only_encrypted: false,
        };
        let opts = EmitOptions::default();
        let mut kept = store.load_encrypted(text.as_bytes()).unwrap();
        decrypt_docs(&mut kept.docs, key, &rules, None).unwrap();
        let want = store.emit_plain(&kept.docs, &kept.layout, opts).unwrap();
        let mut owned = store
            .load_encrypted_owned(text.as_bytes().to_vec())
            .unwrap();
        decrypt_docs(&mut owned.docs, key, &rules, None).unwrap();
        let got = store.emit_plain(&owned.docs, &owned.layout, opts).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{text}"
        );
    }

    #[test]
    fn a_decrypt_writes_what_the_walk_against_the_tree_as_read_writes() {
        use crate::cipher::{DataKey, WalkRules, encrypt_docs};
        let key = DataKey::generate();
        let spelled = regex::Regex::new(r"(: |- )(ENC\[[^\]]*\])").unwrap();
        let plains = [
            "apiVersion: v1\nkind: Secret\nstringData:\n  a: one # note\n  b: \"2\"\n  c: |\n    line one\n    line two\n  d: 3\n  e: true\n  f: ''\n  g:\n",
            "# top\ndata:\n  list:\n    - x\n    # between\n    - 5\n  nested:\n    k: 'quoted: yes'\n    m: null\nplain: kept\n",
            "data:\n  a: x\n---\ndata:\n  b: y\n  c: [1, 2]\n",
            "data: {a: 1, b: two}\n",
            "stringData:\n  k: v\n",
        ];
        for (field, value) in [
            ("encrypted_regex", "^(data|stringData)$"),
            ("unencrypted_suffix", "_unencrypted"),
        ] {
            let selector = crate::rules::Selector::from_field(field, value).unwrap();
            let rules = WalkRules {
                selector: &selector,
                mac_only_encrypted: false,
            };
            for plain in plains {
                let store = YamlStore;
                let mut parsed = store.load_plain(plain.as_bytes()).unwrap();
                encrypt_docs(&mut parsed.docs, &key, &rules, None).unwrap();
                let md = Branch::default();
                let enc = store
                    .emit_encrypted(&parsed.docs, &md, &parsed.layout, EmitOptions::default())
                    .unwrap();
                let enc = String::from_utf8(enc).unwrap();
                decrypt_both_ways(&enc, &key, &selector);
                // The same values spelled in other ways: quoted, escaped, tagged; and a
                // plaintext value that mentions ENC[.
                let quoted = spelled.replace_all(&enc, "$1\"$2\"").into_owned();
                decrypt_both_ways(&quoted, &key, &selector);
                let single = spelled.replace_all(&enc, "$1'$2'").into_owned();
                decrypt_both_ways(&single, &key, &selector);
                let tagged = enc.replacen(": ENC[", ": !!str ENC[", 1);
                decrypt_both_ways(&tagged, &key, &selector);
                let escaped = quoted.replacen(": \"ENC[", ": \"\\x45NC[", 1);
                decrypt_both_ways(&escaped, &key, &selector);
                let mentions = enc.replacen("apiVersion: v1", "apiVersion: v1 ENC[x]", 1);
                decrypt_both_ways(&mentions, &key, &selector);
            }
        }
    }
}
