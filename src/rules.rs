//! Which leaves are encrypted: the six sops selectors (suffixes, regexes, comment regexes),
//! the comment stack they are evaluated against, and seal's Kubernetes default
//! (`encrypted_regex: ^(data|stringData)$` for files made of Kubernetes objects with at least
//! one Secret). Pure: no I/O, no config parsing.
//!
//! How the walk uses this module (sops-format.md §5):
//! - Path rules: the walk carries one flag, "some path component so far matched"
//!   ([`Selector::key_matches`] on every mapping key it descends into). List indices are not
//!   path components; a comment is decided with the path of its container.
//! - Comment rules: the walk keeps a [`CommentStack`]: a level is pushed when entering a branch
//!   or list and popped when leaving it; a comment is added to the current level *before* it
//!   is decided itself; the current level is cleared after each non-comment item.
//! - [`Selector::should_encrypt`] combines both. With `encrypted_comment_regex` the comment
//!   being decided does not count for itself (so a marker comment stays readable), which is
//!   what sops 3.11 does; with `unencrypted_comment_regex` it does count (a lone matching
//!   comment stays in clear). Both were checked against the real sops 3.11 binary.

use crate::tree::{Branch, Item, Value};

/// One of sops's six encryption selectors.
#[derive(Clone, Debug)]
pub enum Selector {
    /// Encrypt unless some path component ends with the suffix.
    UnencryptedSuffix(String),
    /// Encrypt iff some path component ends with the suffix.
    EncryptedSuffix(String),
    /// Encrypt unless some path component matches.
    UnencryptedRegex(Pattern),
    /// Encrypt iff some path component matches.
    EncryptedRegex(Pattern),
    /// Encrypt unless a comment in the active comment stack matches.
    UnencryptedCommentRegex(Pattern),
    /// Encrypt iff a comment in the active comment stack matches.
    EncryptedCommentRegex(Pattern),
}

/// A regex with its source text.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The text as written in metadata or config.
    pub source: String,
    /// The compiled regex.
    pub regex: regex::Regex,
}

impl Pattern {
    /// Compile `source` (Go RE2 syntax; matched as an unanchored search). `field` only
    /// names the setting in the error.
    pub fn new(field: &str, source: &str) -> Result<Pattern, RuleError> {
        match compile_cached(source) {
            Ok(regex) => Ok(Pattern {
                source: source.to_string(),
                regex,
            }),
            Err(e) => Err(RuleError::BadRegex {
                field: field.to_string(),
                pattern: source.to_string(),
                message: e.to_string(),
            }),
        }
    }
}

/// `regex::Regex::new`, remembered by source text: every sops file of a repository carries
/// the same `encrypted_regex`, and compiling it anew for each of 1,000 files was 11 % of
/// `seal check`'s instructions. A clone shares the compiled program.
fn compile_cached(source: &str) -> Result<regex::Regex, regex::Error> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().ok().and_then(|m| m.get(source).cloned()) {
        return Ok(r);
    }
    let compiled = regex::Regex::new(source)?;
    if let Ok(mut m) = cache.lock() {
        if m.len() >= 256 {
            m.clear();
        }
        m.insert(source.to_string(), compiled.clone());
    }
    Ok(compiled)
}

/// Errors building a selector.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// More than one selector was given.
    #[error("only one of {0} may be set, found {1}")]
    Conflict(String, String),
    /// A regex does not compile.
    #[error("invalid {field} {pattern:?}: {message}")]
    BadRegex {
        /// Field name.
        field: String,
        /// The regex text.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
}

/// The six metadata/config field names, in metadata order.
pub const SELECTOR_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// The regex seal's Kubernetes default uses.
pub const KUBERNETES_REGEX: &str = "^(data|stringData)$";

impl Default for Selector {
    fn default() -> Self {
        Selector::UnencryptedSuffix("_unencrypted".to_string())
    }
}

impl Selector {
    /// Build from `(field, value)` pairs (field names of [`SELECTOR_FIELDS`]; other names are
    /// ignored). An empty value counts as unset, as in sops. More than one set field →
    /// [`RuleError::Conflict`]; none → `Ok(None)`.
    pub fn from_fields(fields: &[(&str, &str)]) -> Result<Option<Selector>, RuleError> {
        let set: Vec<(&str, &str)> = fields
            .iter()
            .filter(|(name, value)| !value.is_empty() && SELECTOR_FIELDS.contains(name))
            .copied()
            .collect();
        match set.as_slice() {
            [] => Ok(None),
            [(name, value)] => Selector::from_field(name, value).map(Some),
            [(a, _), rest @ ..] => {
                let others: Vec<&str> = rest.iter().map(|(n, _)| *n).collect();
                Err(RuleError::Conflict(
                    SELECTOR_FIELDS.join(", "),
                    format!("{a} and {}", others.join(" and ")),
                ))
            }
        }
    }

    /// Build from one field name and its value. An unknown field name gives
    /// [`RuleError::BadRegex`] naming the field.
    pub fn from_field(name: &str, value: &str) -> Result<Selector, RuleError> {
        Ok(match name {
            "unencrypted_suffix" => Selector::UnencryptedSuffix(value.to_string()),
            "encrypted_suffix" => Selector::EncryptedSuffix(value.to_string()),
            "unencrypted_regex" => Selector::UnencryptedRegex(Pattern::new(name, value)?),
            "encrypted_regex" => Selector::EncryptedRegex(Pattern::new(name, value)?),
            "unencrypted_comment_regex" => {
                Selector::UnencryptedCommentRegex(Pattern::new(name, value)?)
            }
            "encrypted_comment_regex" => {
                Selector::EncryptedCommentRegex(Pattern::new(name, value)?)
            }
            other => {
                return Err(RuleError::BadRegex {
                    field: other.to_string(),
                    pattern: value.to_string(),
                    message: format!(
                        "unknown rule; expected one of {}",
                        SELECTOR_FIELDS.join(", ")
                    ),
                });
            }
        })
    }

    /// The metadata field name.
    pub fn field_name(&self) -> &'static str {
        match self {
            Selector::UnencryptedSuffix(_) => "unencrypted_suffix",
            Selector::EncryptedSuffix(_) => "encrypted_suffix",
            Selector::UnencryptedRegex(_) => "unencrypted_regex",
            Selector::EncryptedRegex(_) => "encrypted_regex",
            Selector::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Selector::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The suffix or regex text.
    pub fn pattern(&self) -> &str {
        match self {
            Selector::UnencryptedSuffix(s) | Selector::EncryptedSuffix(s) => s,
            Selector::UnencryptedRegex(p)
            | Selector::EncryptedRegex(p)
            | Selector::UnencryptedCommentRegex(p)
            | Selector::EncryptedCommentRegex(p) => &p.source,
        }
    }

    /// True for the two comment-regex rules (they look at the comment stack, not the path).
    pub fn uses_comments(&self) -> bool {
        matches!(
            self,
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_)
        )
    }

    /// Whether a mapping key, as a path component, triggers a path rule (suffix or regex).
    /// Always false for the comment rules.
    pub fn key_matches(&self, key: &str) -> bool {
        match self {
            Selector::UnencryptedSuffix(s) | Selector::EncryptedSuffix(s) => {
                key.ends_with(s.as_str())
            }
            Selector::UnencryptedRegex(p) | Selector::EncryptedRegex(p) => p.regex.is_match(key),
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_) => false,
        }
    }

    /// Whether a comment's text matches a comment rule. Always false for the path rules.
    pub fn comment_matches(&self, text: &str) -> bool {
        match self {
            Selector::UnencryptedCommentRegex(p) | Selector::EncryptedCommentRegex(p) => {
                p.regex.is_match(text)
            }
            _ => false,
        }
    }

    /// The decision for one leaf.
    ///
    /// `path_matched`: some component of the leaf's path (its own key included; for a comment,
    /// the path of its container) satisfied [`Selector::key_matches`]. `comments`: the active
    /// comment stack; when `is_comment`, the comment being decided is the last one added to
    /// the current level.
    pub fn should_encrypt(
        &self,
        path_matched: bool,
        comments: &CommentStack,
        is_comment: bool,
    ) -> bool {
        match self {
            Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => !path_matched,
            Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => path_matched,
            Selector::UnencryptedCommentRegex(_) => comments.matching() == 0,
            Selector::EncryptedCommentRegex(_) => {
                let own = usize::from(is_comment && comments.last_matched());
                comments.matching() > own
            }
        }
    }

    /// Convenience form of [`Selector::should_encrypt`] for a leaf given by its path
    /// components (mapping keys from the root, list indices left out), with no comments
    /// in effect.
    pub fn should_encrypt_path(&self, path: &[&str]) -> bool {
        let matched = path.iter().any(|k| self.key_matches(k));
        self.should_encrypt(matched, &CommentStack::new(), false)
    }
}

/// The pending comments of every open branch/list level (sops-format.md §5.3). Only whether
/// each comment matched the rule is kept, so the walk never copies comment text.
#[derive(Clone, Debug, Default)]
pub struct CommentStack {
    /// Per level: (number of matching comments, whether the last added comment matched).
    levels: Vec<(usize, bool)>,
    /// Matching comments over all levels.
    total: usize,
}

impl CommentStack {
    /// An empty stack.
    pub fn new() -> CommentStack {
        CommentStack::default()
    }

    /// Entering a branch or list.
    pub fn push_level(&mut self) {
        self.levels.push((0, false));
    }

    /// Leaving a branch or list.
    pub fn pop_level(&mut self) {
        if let Some((n, _)) = self.levels.pop() {
            self.total -= n;
        }
    }

    /// A comment item at the current level; `matched` is [`Selector::comment_matches`].
    pub fn add_comment(&mut self, matched: bool) {
        if self.levels.is_empty() {
            self.push_level();
        }
        if let Some(level) = self.levels.last_mut() {
            level.0 += usize::from(matched);
            level.1 = matched;
            self.total += usize::from(matched);
        }
    }

    /// After a non-comment item: the current level's comments no longer apply.
    pub fn clear_level(&mut self) {
        if let Some(level) = self.levels.last_mut() {
            self.total -= level.0;
            *level = (0, false);
        }
    }

    /// How many comments in the whole stack match.
    pub fn matching(&self) -> usize {
        self.total
    }

    /// Whether the comment added last at the current level matched.
    pub fn last_matched(&self) -> bool {
        self.levels.last().is_some_and(|l| l.1)
    }
}

fn str_field<'a>(doc: &'a Branch, key: &str) -> Option<&'a str> {
    doc.items.iter().find_map(|item| match item {
        Item::Pair(k, Value::Str(s)) if k == key => Some(s.as_str()),
        _ => None,
    })
}

/// seal's Kubernetes default: `Some(EncryptedRegex("^(data|stringData)$"))` when every
/// non-empty document has string `apiVersion` and `kind` and at least one has
/// `kind: Secret`; `None` otherwise. Documents with no items are ignored.
pub fn kubernetes_default(docs: &[Branch]) -> Option<Selector> {
    let mut any_secret = false;
    for doc in docs.iter().filter(|d| !d.items.is_empty()) {
        str_field(doc, "apiVersion")?;
        let kind = str_field(doc, "kind")?;
        any_secret |= kind == "Secret";
    }
    if !any_secret {
        return None;
    }
    Pattern::new("encrypted_regex", KUBERNETES_REGEX)
        .ok()
        .map(Selector::EncryptedRegex)
}

/// The documents other than Secrets whose values the Kubernetes default also encrypts
/// (one selector covers the whole file): every non-Secret document with a top-level `data`
/// or `stringData`, as `ConfigMap app-config (document 2)`. Empty when the default does not
/// apply to `docs`.
pub fn kubernetes_default_spillover(docs: &[Branch]) -> Vec<String> {
    if kubernetes_default(docs).is_none() {
        return Vec::new();
    }
    docs.iter()
        .enumerate()
        .filter(|(_, d)| str_field(d, "kind").is_some_and(|k| k != "Secret"))
        .filter(|(_, d)| {
            d.items
                .iter()
                .any(|i| matches!(i, Item::Pair(k, _) if k == "data" || k == "stringData"))
        })
        .map(|(i, d)| {
            let kind = str_field(d, "kind").unwrap_or_default();
            let name = match d.get("metadata") {
                Some(Value::Branch(m)) => str_field(m, "name"),
                _ => None,
            };
            match name {
                Some(n) => format!("{kind} {n} (document {})", i + 1),
                None => format!("{kind} (document {})", i + 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(pairs: &[(&str, &str)]) -> Branch {
        Branch {
            items: pairs
                .iter()
                .map(|(k, v)| Item::Pair(k.to_string(), Value::Str(v.to_string())))
                .collect(),
        }
    }

    #[test]
    fn from_fields_picks_one_and_rejects_two() {
        assert!(Selector::from_fields(&[]).unwrap().is_none());
        assert!(
            Selector::from_fields(&[("encrypted_regex", "")])
                .unwrap()
                .is_none()
        );
        let s = Selector::from_fields(&[("version", "3"), ("encrypted_regex", "^data$")])
            .unwrap()
            .unwrap();
        assert_eq!(s.field_name(), "encrypted_regex");
        assert_eq!(s.pattern(), "^data$");
        let err = Selector::from_fields(&[("encrypted_regex", "a"), ("unencrypted_suffix", "_u")])
            .unwrap_err();
        assert!(matches!(err, RuleError::Conflict(..)));
        assert!(
            err.to_string()
                .contains("encrypted_regex and unencrypted_suffix")
        );
        let err = Selector::from_fields(&[("encrypted_regex", "(")]).unwrap_err();
        assert!(matches!(err, RuleError::BadRegex { .. }));
    }

    #[test]
    fn every_field_round_trips() {
        for f in SELECTOR_FIELDS {
            let s = Selector::from_field(f, "x").unwrap();
            assert_eq!(s.field_name(), f);
            assert_eq!(s.pattern(), "x");
        }
        assert_eq!(Selector::default().field_name(), "unencrypted_suffix");
        assert_eq!(Selector::default().pattern(), "_unencrypted");
    }

    #[test]
    fn path_rules_cover_whole_subtrees() {
        let s = Selector::default();
        assert!(s.should_encrypt_path(&["db", "password"]));
        assert!(!s.should_encrypt_path(&["db_unencrypted", "password"]));
        assert!(!s.should_encrypt_path(&["db", "owner_unencrypted"]));
        let s = Selector::from_field("encrypted_regex", KUBERNETES_REGEX).unwrap();
        assert!(s.should_encrypt_path(&["data", "x_unencrypted"]));
        assert!(!s.should_encrypt_path(&["metadata", "name"]));
        assert!(
            !s.should_encrypt_path(&[]),
            "top-level comments stay in clear"
        );
        // Unanchored search.
        let s = Selector::from_field("unencrypted_regex", "meta").unwrap();
        assert!(!s.should_encrypt_path(&["kmetadata"]));
        let s = Selector::from_field("encrypted_suffix", "_secret").unwrap();
        assert!(s.should_encrypt_path(&["a_secret", "b"]));
        assert!(!s.should_encrypt_path(&["a_secret_not"]));
    }

    #[test]
    fn comment_stack_levels() {
        let sel = Selector::from_field("encrypted_comment_regex", "keep").unwrap();
        let mut st = CommentStack::new();
        st.push_level();
        st.add_comment(sel.comment_matches(" keep"));
        // The marker itself is not encrypted ...
        assert!(!sel.should_encrypt(false, &st, true));
        st.add_comment(sel.comment_matches(" other"));
        // ... a later comment in the same block is ...
        assert!(sel.should_encrypt(false, &st, true));
        // ... and so is the next key, including its nested levels.
        st.push_level();
        assert!(sel.should_encrypt(false, &st, false));
        st.pop_level();
        st.clear_level();
        assert!(!sel.should_encrypt(false, &st, false));
        assert_eq!(st.matching(), 0);
    }

    #[test]
    fn kubernetes_default_needs_objects_and_a_secret() {
        let secret = doc(&[("apiVersion", "v1"), ("kind", "Secret")]);
        let cm = doc(&[("apiVersion", "v1"), ("kind", "ConfigMap")]);
        let plain = doc(&[("password", "x")]);
        let s = kubernetes_default(&[cm.clone(), Branch::default(), secret.clone()]).unwrap();
        assert_eq!(s.field_name(), "encrypted_regex");
        assert_eq!(s.pattern(), KUBERNETES_REGEX);
        assert!(kubernetes_default(std::slice::from_ref(&cm)).is_none());
        assert!(kubernetes_default(&[secret.clone(), plain]).is_none());
        assert!(kubernetes_default(&[]).is_none());
        let numeric_kind = Branch {
            items: vec![
                Item::Pair("apiVersion".into(), Value::Str("v1".into())),
                Item::Pair("kind".into(), Value::Int(5)),
            ],
        };
        assert!(kubernetes_default(&[secret, numeric_kind]).is_none());
    }

    #[test]
    fn spillover_names_the_non_secret_documents_with_data() {
        let with = |kind: &str, name: &str| Branch {
            items: vec![
                Item::Pair("apiVersion".into(), Value::Str("v1".into())),
                Item::Pair("kind".into(), Value::Str(kind.into())),
                Item::Pair("metadata".into(), Value::Branch(doc(&[("name", name)]))),
                Item::Pair("data".into(), Value::Branch(doc(&[("k", "v")]))),
            ],
        };
        let svc = doc(&[("apiVersion", "v1"), ("kind", "Service")]);
        let docs = [with("Secret", "s"), svc, with("ConfigMap", "app")];
        assert_eq!(
            kubernetes_default_spillover(&docs),
            vec!["ConfigMap app (document 3)".to_string()]
        );
        // No Secret, no default, nothing to say.
        assert!(kubernetes_default_spillover(&[with("ConfigMap", "app")]).is_empty());
    }
}
