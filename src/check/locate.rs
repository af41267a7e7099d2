//! Where a finding points: the path to a value inside a document (keys and list indexes,
//! borrowed from the tree that was read) as findings and `seal set` show it, and byte
//! offsets as 1-based line and column. Shared by the store-based scan ([`super::scan`])
//! and the object checks ([`super::objects`]), so both name a value the same way.

/// One step of a path into a document.
#[derive(Clone, Copy, Debug)]
pub enum Seg<'t> {
    /// A mapping key.
    Key(&'t str),
    /// A sequence index.
    Index(usize),
}

/// The path as findings show it: `stringData.password`, `data["tls.crt"]`, `items[0]`;
/// `(top level)` for the empty path.
pub fn display(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let plain = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                } else {
                    out.push_str(&format!("[{k:?}]"));
                }
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "(top level)".into()
    } else {
        out
    }
}

/// The path as `seal set` and `sops set` take it: `["stringData"]["password"]`, `[0]`.
pub fn tree_path(path: &[Seg]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => format!("[{}]", serde_json::Value::String(k.to_string())),
            Seg::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// Line starts of a text, for byte offset → 1-based line and column (in characters).
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Index the line starts of `src`.
    pub fn new(src: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', src).map(|i| i + 1));
        LineIndex { starts }
    }

    /// The 1-based (line, column) of `offset` in `src` (the text indexed).
    pub fn position(&self, src: &[u8], offset: usize) -> (usize, usize) {
        let offset = offset.min(src.len());
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = String::from_utf8_lossy(&src[start..offset]).chars().count() + 1;
        (line, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_positions() {
        let p = [Seg::Key("data"), Seg::Key("tls.crt"), Seg::Index(2)];
        assert_eq!(display(&p), "data[\"tls.crt\"][2]");
        assert_eq!(tree_path(&p), "[\"data\"][\"tls.crt\"][2]");
        assert_eq!(display(&[]), "(top level)");
        let src = "a: 1\nbé: 2\n".as_bytes();
        let l = LineIndex::new(src);
        assert_eq!(l.position(src, 0), (1, 1));
        assert_eq!(l.position(src, 9), (2, 4));
        assert_eq!(l.position(src, 999), (3, 1));
    }
}
