//! How `seal check` reads a file to look for Secrets, independent of the sops stores: the
//! text's encoding (UTF-8 with or without a byte-order mark, UTF-16 LE/BE), whether the
//! content is YAML or JSON (by content, not by name), Helm/Jinja template preprocessing,
//! the cheap byte pre-filter, the fail-closed test ("could this text hold a Secret or a
//! key?"), and a lenient YAML reader. The lenient reader keeps what sops's reader refuses
//! (duplicate keys, non-string keys, any tag), expands aliases and resolves YAML 1.1 merge
//! keys (`<<`) at every level the way Kubernetes' loader does: explicit keys win over merged
//! ones, and earlier merge sources win over later ones. Pure: no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use libyaml_safer::{EventData, Parser, ScalarStyle};
use memchr::memmem;
use regex::Regex;

/// Deepest nesting the lenient reader accepts.
pub const MAX_DEPTH: usize = 1000;
/// Most nodes (alias expansion included) the lenient reader builds for one file.
pub const MAX_NODES: usize = 1_000_000;
/// The scalar that stands for a template expression after [`detemplate`].
pub const PLACEHOLDER: char = '\u{E000}';

/// A node of a leniently read document. Offsets are byte offsets into the text read.
#[derive(Clone, Debug)]
pub enum Node {
    /// A scalar: its text, whether it was plain (unquoted, not a block scalar), its span.
    Scalar {
        /// The scalar's value (escapes resolved, folding applied).
        value: String,
        /// Plain style (so `null`, `~` and the empty scalar are nulls).
        plain: bool,
        /// Start offset.
        start: usize,
        /// End offset.
        end: usize,
    },
    /// A sequence and its start offset.
    Seq(Vec<Node>, usize),
    /// A mapping (duplicate keys kept, merge keys resolved) and its start offset.
    Map(Vec<(Node, Node)>, usize),
}

impl Node {
    /// The start offset.
    pub fn start(&self) -> usize {
        match self {
            Node::Scalar { start, .. } | Node::Seq(_, start) | Node::Map(_, start) => *start,
        }
    }

    /// The text of a scalar that is not a null.
    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, plain, .. } => {
                let null = *plain && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                (!null).then_some(value.as_str())
            }
            _ => None,
        }
    }

    /// Every value under `key` in a mapping (duplicates included).
    pub fn get_all<'n, 'k>(&'n self, key: &'k str) -> impl Iterator<Item = &'n Node> + use<'n, 'k> {
        let entries: &[(Node, Node)] = match self {
            Node::Map(e, _) => e,
            _ => &[],
        };
        entries
            .iter()
            .filter(move |(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The last value under `key` (what a YAML loader that keeps one value keeps).
    pub fn get<'n>(&'n self, key: &str) -> Option<&'n Node> {
        self.get_all(key).last()
    }

    /// The text under `key`.
    pub fn str_at<'n>(&'n self, key: &str) -> Option<&'n str> {
        self.get(key).and_then(Node::text)
    }

    fn count(&self) -> usize {
        match self {
            Node::Scalar { .. } => 1,
            Node::Seq(items, _) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Node::Map(e, _) => 1 + e.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
        }
    }
}

// ---------------------------------------------------------------------- encoding

/// The file's text: UTF-8 (a byte-order mark removed) or UTF-16 with a byte-order mark or
/// the zero-byte pattern of ASCII text. `Err` names the problem.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, &'static str> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
        return std::str::from_utf8(rest)
            .map(Cow::Borrowed)
            .map_err(|_| "it is not valid UTF-8");
    }
    if let Some(le) = utf16_order(bytes) {
        let body = match bytes.get(..2) {
            Some([0xFF, 0xFE] | [0xFE, 0xFF]) => &bytes[2..],
            _ => bytes,
        };
        if body.len() % 2 != 0 {
            return Err("it is not valid UTF-16 (odd length)");
        }
        let units = body.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        return char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(Cow::Owned)
            .map_err(|_| "it is not valid UTF-16");
    }
    std::str::from_utf8(bytes)
        .map(Cow::Borrowed)
        .map_err(|_| "it is neither UTF-8 nor UTF-16 text")
}

/// `Some(little_endian)` when the bytes are UTF-16 text: a byte-order mark, or the
/// pattern ASCII text has in UTF-16 (every other byte zero in the first bytes).
pub fn utf16_order(bytes: &[u8]) -> Option<bool> {
    match bytes.get(..2) {
        Some([0xFF, 0xFE]) if bytes.get(2..4) != Some(&[0, 0]) => return Some(true),
        Some([0xFE, 0xFF]) => return Some(false),
        _ => {}
    }
    let probe = &bytes[..bytes.len().min(64) & !1];
    if probe.len() < 4 {
        return None;
    }
    let pairs = probe.chunks_exact(2);
    if pairs.clone().all(|p| p[0] != 0 && p[1] == 0) {
        Some(true)
    } else if pairs.clone().all(|p| p[0] == 0 && p[1] != 0) {
        Some(false)
    } else {
        None
    }
}

/// Whether bytes with a zero byte are still text the gate reads (UTF-16).
pub fn is_utf16_text(bytes: &[u8]) -> bool {
    utf16_order(bytes).is_some()
}

// ---------------------------------------------------------------------- filters

/// The cheap pre-filter: `false` only when the text provably cannot name a Secret, a
/// kustomize secret generator or an ExternalSecret, nor hold a private-key marker. A kind
/// is a whole scalar, so naming one of them needs the word `Secret` at the end of a token
/// (`Secret`, `ExternalSecret`; not `secretKeyRef`), `secretGenerator`, or a key marker,
/// unless it is spelled with an escape (`\u0053ecret`, `\x53`, or a word split by an
/// escaped line break), which YAML and JSON allow only after a backslash.
pub fn may_hold(text: &str) -> bool {
    may_hold_bytes(text.as_bytes())
}

/// Searchers built once per process: `memmem::find` builds one per call, which cost as
/// much as the search itself on a 1 KB manifest (5 % of `seal check`'s instructions).
static SECRET: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("Secret"));
static SECRET_GENERATOR: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("secretGenerator"));
static PRIVATE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("PRIVATE"));
static AGE_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("AGE-"));
static MERGE_KEY: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("<<"));

/// [`may_hold`] on the undecoded bytes of UTF-8 text.
pub fn may_hold_bytes(b: &[u8]) -> bool {
    let secret_token = SECRET.find_iter(b).any(|i| {
        !b.get(i + 6)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    });
    if secret_token
        || SECRET_GENERATOR.find(b).is_some()
        || PRIVATE.find(b).is_some()
        || AGE_KEY.find(b).is_some()
    {
        return true;
    }
    memchr::memchr_iter(b'\\', b).any(|i| {
        matches!(
            b.get(i + 1),
            Some(b'u' | b'U' | b'x' | b'\n' | b'\r' | b'N')
        )
    })
}

/// For a sops file the store has read: whether it may hide something the store-based
/// checks do not see (a merge key, which sops's selectors leave in plaintext but a YAML 1.1
/// loader merges; a private-key marker; an escape).
pub fn may_hide_in_sops(text: &str) -> bool {
    let b = text.as_bytes();
    MERGE_KEY.find(b).is_some()
        || PRIVATE.find(b).is_some()
        || AGE_KEY.find(b).is_some()
        || memchr::memchr_iter(b'\\', b)
            .any(|i| matches!(b.get(i + 1), Some(b'u' | b'U' | b'x' | b'\n' | b'\r')))
}

/// The text with YAML/JSON escapes that can spell letters resolved (`\uXXXX`, `\UXXXXXXXX`,
/// `\xXX`) and escaped line breaks (with the next line's indentation) removed.
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let hex = |n: usize| {
            after
                .get(1..1 + n)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
        };
        let (ch, used) = match after.as_bytes().first() {
            Some(b'u') => (hex(4), 5),
            Some(b'U') => (hex(8), 9),
            Some(b'x') => (hex(2), 3),
            Some(b'\n' | b'\r') => {
                let skip = after
                    .bytes()
                    .take_while(|b| matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
                    .count();
                rest = &after[skip..];
                continue;
            }
            _ => (None, 0),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

static KIND_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"kind["']?\s*:\s*(?:!\S*\s+)*(?:[|>][-+0-9]*[ \t]*(?:#[^\n]*)?\n\s*)?["']?[A-Za-z]*(?:Secret|List)\b"#,
    )
    .expect("valid regex")
});
static KEY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[\s{,\[?])["']?(?:data|stringData|secretGenerator)["']?\s*:"#)
        .expect("valid regex")
});
static KEY_MARKER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"PRIVATE\s+KEY|AGE-SECRET-KEY-|AGE-PLUGIN-|PuTTY-User-Key-File")
        .expect("valid regex")
});

/// The fail-closed test: what in the decoded text says it could hold a Secret or a key (a
/// `Secret`/`List` kind, a `data`/`stringData`/`secretGenerator` key, a private-key
/// marker, in any spelling YAML and JSON allow), or `None`.
pub fn could_hold(text: &str) -> Option<&'static str> {
    let t = unescape(text);
    if KIND_RE.is_match(&t) {
        Some("it names a Secret or List kind")
    } else if KEY_MARKER_RE.is_match(&t) {
        Some("it holds a private-key marker")
    } else if KEY_RE.is_match(&t) {
        Some("it has a data, stringData or secretGenerator key")
    } else {
        None
    }
}

/// Whether a file's name says YAML or JSON (any case).
pub fn named_structured(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e))
}

/// Whether a file's name says it is a template: Helm `templates/`, `*.tpl`, `*.j2`, ….
pub fn named_template(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    [".tpl", ".j2", ".jinja", ".jinja2", ".tmpl", ".gotmpl"]
        .iter()
        .any(|e| name.ends_with(e))
        || ((lower.starts_with("templates/") || lower.contains("/templates/"))
            && (name.ends_with(".yaml") || name.ends_with(".yml")))
}

/// Content sniffing: the first line that is not blank, a comment or a directive starts
/// like YAML or JSON (`---`, a flow collection, a sequence item, a tag, an anchor, an
/// alias, a complex key, or `key:`). Prose that passes is only parsed: a file whose name
/// does not say YAML or JSON and whose content does not parse is not a manifest.
pub fn looks_structured(text: &str) -> bool {
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('%') {
            continue;
        }
        return t.starts_with("---")
            || t.starts_with(['{', '[', '?', '!', '&', '*', '"', '\''])
            || t == "-"
            || t.starts_with("- ")
            || t.ends_with(':')
            || t.contains(": ")
            || t.contains(":\t");
    }
    false
}

// ---------------------------------------------------------------------- templates

/// The text of a template made readable: lines that hold only template tags
/// (`{{- if … }}`, `{% for … %}`, `{{/* … */}}`) become empty, every other template
/// expression (`{{ … }}`, `{% … %}`, `{# … #}`, `${…}`) becomes [`PLACEHOLDER`]. Line
/// numbers are kept.
pub fn detemplate(text: &str) -> String {
    const TAG: char = '\u{E001}';
    let b = text.as_bytes();
    let mut marked = String::with_capacity(text.len());
    let (mut i, mut pos) = (0, 0);
    while i + 1 < b.len() {
        let close: Option<&[u8]> = match (b[i], b[i + 1]) {
            (b'{', b'{') => Some(b"}}"),
            (b'{', b'%') => Some(b"%}"),
            (b'{', b'#') => Some(b"#}"),
            (b'$', b'{') => Some(b"}"),
            _ => None,
        };
        if let Some(close) = close
            && let Some(j) = memmem::find(&b[i + 2..], close)
        {
            let end = i + 2 + j + close.len();
            marked.push_str(&text[pos..i]);
            marked.push(if b[i] == b'$' { PLACEHOLDER } else { TAG });
            marked.extend(std::iter::repeat_n(
                '\n',
                text[i..end].matches('\n').count(),
            ));
            i = end;
            pos = end;
            continue;
        }
        i += 1;
    }
    marked.push_str(&text[pos..]);
    let mut out = String::with_capacity(marked.len());
    for (n, line) in marked.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let only_tags = line.contains(TAG) && line.chars().all(|c| c == TAG || c.is_whitespace());
        if !only_tags {
            out.extend(line.chars().map(|c| if c == TAG { PLACEHOLDER } else { c }));
        }
    }
    out
}

// ---------------------------------------------------------------------- reader

/// Why a text could not be read.
#[derive(Debug, Clone)]
pub struct ReadError {
    /// One line, naming no value.
    pub message: String,
    /// 1-based line, when known.
    pub line: usize,
}

/// Read every document of a YAML (or JSON) text leniently. JSON that YAML does not take
/// (tabs and the like) is read as JSON.
pub fn read(text: &str) -> Result<Vec<Node>, ReadError> {
    let yaml = read_yaml(text);
    if yaml.is_err() {
        let t = text.trim_start();
        if (t.starts_with('{') || t.starts_with('['))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        {
            return Ok(vec![from_json(&v, text.len() - t.len())]);
        }
    }
    yaml
}

fn from_json(v: &serde_json::Value, at: usize) -> Node {
    let scalar = |s: String, plain: bool| Node::Scalar {
        value: s,
        plain,
        start: at,
        end: at,
    };
    match v {
        serde_json::Value::Null => scalar(String::new(), true),
        serde_json::Value::String(s) => scalar(s.clone(), false),
        serde_json::Value::Bool(b) => scalar(b.to_string(), true),
        serde_json::Value::Number(n) => scalar(n.to_string(), true),
        serde_json::Value::Array(a) => Node::Seq(a.iter().map(|x| from_json(x, at)).collect(), at),
        serde_json::Value::Object(o) => Node::Map(
            o.iter()
                .map(|(k, x)| (scalar(k.clone(), false), from_json(x, at)))
                .collect(),
            at,
        ),
    }
}

enum Open {
    Seq(Vec<Node>, usize, Option<String>),
    Map(Vec<Node>, usize, Option<String>),
}

fn read_yaml(text: &str) -> Result<Vec<Node>, ReadError> {
    // libyaml-safer panics on a block scalar that ends the input without a line break.
    let src: Cow<str> = if !text.is_empty() && !text.ends_with('\n') {
        Cow::Owned(format!("{text}\n"))
    } else {
        Cow::Borrowed(text)
    };
    std::panic::catch_unwind(|| compose(&src)).unwrap_or_else(|_| {
        Err(ReadError {
            message: "the YAML parser rejected the input".into(),
            line: 0,
        })
    })
}

fn compose(src: &str) -> Result<Vec<Node>, ReadError> {
    let mut input = src.as_bytes();
    let mut parser = Parser::new();
    parser.set_encoding(libyaml_safer::Encoding::Utf8);
    parser.set_input_string(&mut input);
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<String, Node> = HashMap::new();
    let mut nodes = 0usize;
    let limit = |what: &str| ReadError {
        message: format!("the YAML is over the gate's limit of {what}"),
        line: 0,
    };
    for ev in parser {
        let ev = ev.map_err(|e| ReadError {
            message: match e.context() {
                Some(c) => format!("{} {c}", e.problem()),
                None => e.problem().to_string(),
            },
            line: e.problem_mark().map_or(0, |m| m.line as usize + 1),
        })?;
        let start = ev.start_mark.index as usize;
        let end = ev.end_mark.index as usize;
        let done = match ev.data {
            EventData::Scalar {
                anchor,
                value,
                style,
                ..
            } => {
                let n = Node::Scalar {
                    value,
                    plain: style == ScalarStyle::Plain,
                    start,
                    end,
                };
                if let Some(a) = anchor {
                    anchors.insert(a, n.clone());
                }
                nodes += 1;
                Some(n)
            }
            EventData::Alias { anchor } => {
                let n = anchors.get(&anchor).cloned().ok_or_else(|| ReadError {
                    message: format!("unknown anchor {anchor:?}"),
                    line: ev.start_mark.line as usize + 1,
                })?;
                nodes += n.count();
                Some(n)
            }
            EventData::SequenceStart { anchor, .. } => {
                stack.push(Open::Seq(Vec::new(), start, anchor));
                None
            }
            EventData::MappingStart { anchor, .. } => {
                stack.push(Open::Map(Vec::new(), start, anchor));
                None
            }
            EventData::SequenceEnd | EventData::MappingEnd => {
                let (n, anchor) = match stack.pop() {
                    Some(Open::Seq(items, at, a)) => (Node::Seq(items, at), a),
                    Some(Open::Map(kv, at, a)) => (Node::Map(merge(kv), at), a),
                    None => continue,
                };
                nodes += 1;
                if let Some(a) = anchor {
                    anchors.insert(a, n.clone());
                }
                Some(n)
            }
            EventData::DocumentStart { .. } => {
                anchors.clear();
                None
            }
            _ => None,
        };
        if stack.len() > MAX_DEPTH {
            return Err(ReadError {
                message: format!("the YAML nests deeper than the gate's limit of {MAX_DEPTH}"),
                line: ev.start_mark.line as usize + 1,
            });
        }
        if nodes > MAX_NODES {
            return Err(limit("values (alias expansion included)"));
        }
        if let Some(n) = done {
            match stack.last_mut() {
                Some(Open::Seq(items, ..) | Open::Map(items, ..)) => items.push(n),
                None => docs.push(n),
            }
        }
    }
    Ok(docs)
}

/// Pairs from a flat key/value list, with merge keys resolved: explicit keys first (all of
/// them, duplicates kept), then each merged key that no explicit key and no earlier merge
/// source has.
fn merge(flat: Vec<Node>) -> Vec<(Node, Node)> {
    let mut explicit = Vec::new();
    let mut sources: Vec<Node> = Vec::new();
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let is_merge = matches!(&k, Node::Scalar { value, plain: true, .. } if value == "<<");
        if is_merge && matches!(v, Node::Map(..) | Node::Seq(..)) {
            match v {
                Node::Seq(items, _) => sources.extend(items),
                m => sources.push(m),
            }
        } else {
            explicit.push((k, v));
        }
    }
    if sources.is_empty() {
        return explicit;
    }
    let mut seen: std::collections::HashSet<String> = explicit
        .iter()
        .filter_map(|(k, _)| k.text().map(str::to_string))
        .collect();
    for src in sources {
        if let Node::Map(entries, _) = src {
            for (k, v) in entries {
                let name = k.text().map(str::to_string);
                if let Some(n) = &name
                    && !seen.insert(n.clone())
                {
                    continue;
                }
                explicit.push((k, v));
            }
        }
    }
    explicit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_bom_and_utf16() {
        assert_eq!(decode(b"\xEF\xBB\xBFa: 1").unwrap(), "a: 1");
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("kind: Secret".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&le).unwrap(), "kind: Secret");
        let be: Vec<u8> = "kind: Secret"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(decode(&be).unwrap(), "kind: Secret");
        assert!(decode(b"\xff\xfe\x00").is_err());
    }

    #[test]
    fn could_hold_sees_every_spelling() {
        for t in [
            "kind: Secret",
            "\"kind\": \"\\u0053ecret\"",
            "kind: !!str Secret",
            "kind: >-\n  Secret\n",
            "kind: 'Secret'",
            "kind: List",
            "\"stringData\": {",
            "x: \"AGE-SECRET-\\\n  KEY-1\"",
            "k: -----BEGIN OPENSSH PRIVATE\n  KEY-----",
        ] {
            assert!(could_hold(t).is_some(), "{t}");
        }
        assert!(could_hold("kind: ConfigMap\nmetadata: {name: x}\n").is_none());
    }

    #[test]
    fn prefilter_passes_escapes() {
        assert!(may_hold("{\"kind\": \"\\u0053ecret\"}"));
        assert!(may_hold("kind: \"Se\\\n  cret\""));
        assert!(!may_hold("kind: ConfigMap\ndata:\n  a: b\n"));
        assert!(!may_hold(
            "env:\n- valueFrom:\n    secretKeyRef: {name: a, key: b}\n"
        ));
        assert!(may_hold("kind: ExternalSecret\n"));
        assert!(may_hold("kind: Secret"));
    }

    #[test]
    fn merge_keys_resolve_like_yaml_1_1() {
        let docs =
            read("a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  <<: [*a, *b]\n  x: 0\n").unwrap();
        let c = docs[0].get("c").unwrap();
        assert_eq!(c.str_at("x"), Some("0"));
        assert_eq!(c.str_at("y"), Some("2"));
        assert_eq!(c.str_at("z"), Some("4"));
        let top = read("<<: {kind: Secret}\napiVersion: v1\n").unwrap();
        assert_eq!(top[0].str_at("kind"), Some("Secret"));
    }

    #[test]
    fn duplicates_and_non_string_keys_are_kept() {
        let d = read("a: 1\na: 2\nlabels: {1: x, [y]: z}\n").unwrap();
        assert_eq!(d[0].get_all("a").count(), 2);
        assert_eq!(d[0].get("labels").unwrap().str_at("1"), Some("x"));
    }

    #[test]
    fn templates_become_readable() {
        let t = "{{- if .Values.x }}\nkind: Secret\nmetadata:\n  name: {{ include \"n\" . }}\nstringData:\n  {{- range $k, $v := .Values.s }}\n  a: \"pre{{ $v }}\"\n  {{- end }}\n{{- end }}\n";
        let d = detemplate(t);
        assert_eq!(d.lines().count(), t.lines().count());
        let docs = read(&d).unwrap();
        assert_eq!(docs[0].str_at("kind"), Some("Secret"));
        let a = docs[0].get("stringData").unwrap().str_at("a").unwrap();
        assert_eq!(a, format!("pre{PLACEHOLDER}"));
    }

    #[test]
    fn sniffing() {
        assert!(looks_structured("# c\napiVersion: v1\n"));
        assert!(looks_structured("{\"a\": 1}"));
        assert!(!looks_structured(
            "#!/bin/sh\nset -e\nkubectl create secret\n"
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let t = "[".repeat(MAX_DEPTH + 5);
        assert!(read(&t).is_err());
    }
}
