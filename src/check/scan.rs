//! The analysis of one file: bytes and what applies to them (the creation rule, required
//! recipients) in, findings out. Pure: no file system, no keys, no clock.
//!
//! The steps, in order:
//! 1. private keys anywhere in the text;
//! 2. parse in the format the name implies (a parse failure is a `parse-error` finding);
//! 3. for a sops file: its metadata, every `ENC[…]` value, every value its own selectors
//!    (and its rule's) say must be encrypted, its recipients against the rule's;
//! 4. Kubernetes Secrets (and `List` items) with plaintext `data`/`stringData`, and
//!    `last-applied-configuration` annotations that copy them;
//! 5. a plain file covered by a creation rule: an error when the rule would encrypt one of
//!    its values, at most info for Kubernetes objects that hold no secrets;
//! 6. files named like secrets with plaintext values under credential-like keys.

use std::collections::BTreeSet;

use memchr::memmem;

mod narrow;

use super::locate::{self, LineIndex, Seg};
use super::private_keys;
use super::{Finding, Rule, Severity};
use super::{hints, secret_values, sops_file};
use crate::cipher::{EncValue, is_enc_value};
use crate::config::CreationRule;
use crate::metadata::Metadata;
use crate::rules::{CommentStack, Selector, kubernetes_default};
use crate::stores::yaml::leaf_offsets;
use crate::stores::{Format, Parsed, StoreError};
use crate::tree::{Branch, Item, Value};

/// What applies to one file besides its bytes.
#[derive(Clone, Copy, Debug)]
pub struct FileContext<'a> {
    /// The path shown in findings.
    pub path: &'a str,
    /// The creation rule that covers the file (first match), if any.
    pub rule: Option<&'a RuleMatch>,
    /// Recipients every sops file must list (`--require-recipient`).
    pub require: &'a [String],
}

/// A creation rule as it applies to one file.
#[derive(Clone, Debug)]
pub struct RuleMatch {
    /// The rule.
    pub rule: CreationRule,
    /// Where the rule is, for messages: `.sops.yaml rule 2 (path_regex 'x')`.
    pub label: String,
    /// A catch-all rule (no `path_regex`, or one that matches any file of the type): it
    /// says how to encrypt, not that every file must be encrypted.
    pub broad: bool,
}

/// What the scanner learnt about one file.
#[derive(Debug, Default)]
pub struct FileResult {
    /// Findings (severity before `--strict`).
    pub findings: Vec<Finding>,
    /// Whether the file is a sops file.
    pub is_sops: bool,
    /// Its SealedSecrets and plaintext Secrets by name, paired across files by the walk.
    pub objects: Vec<super::sealed::Named>,
}

/// Paths probed to tell a catch-all `path_regex` from a targeted one.
pub const BROAD_PROBES: [&str; 4] = [
    "seal-probe/any.yaml",
    "seal-probe/any.json",
    "seal-probe/any.env",
    "seal-probe/README.md",
];

/// Analyse one file.
pub fn scan(ctx: &FileContext, bytes: &[u8]) -> FileResult {
    scan_with(ctx, bytes, &|_| None)
}

/// Analyse one file; `read` gives the files it names (kustomize generators), relative to
/// its directory.
pub fn scan_with(ctx: &FileContext, bytes: &[u8], read: &super::objects::ReadFile) -> FileResult {
    let mut s = Scan::new(ctx, bytes);
    s.private_keys();
    s.structured();
    super::objects::refine(ctx, bytes, read, &mut s.out);
    s.out
}

/// [`scan_with`] with the store's reader run on every YAML file.
#[cfg(test)]
fn scan_without_shortcut(ctx: &FileContext, bytes: &[u8]) -> FileResult {
    let mut s = Scan::new(ctx, bytes);
    s.shortcut = false;
    s.private_keys();
    s.structured();
    super::objects::refine(ctx, bytes, &|_| None, &mut s.out);
    s.out
}

#[cfg(test)]
mod shortcut_tests;

/// Only the text checks (committed private keys), for files whose structure is not a
/// secret's (`.sops.yaml`).
pub fn scan_text_only(ctx: &FileContext, bytes: &[u8]) -> FileResult {
    let mut s = Scan::new(ctx, bytes);
    s.private_keys();
    s.out
}

struct Scan<'a> {
    ctx: &'a FileContext<'a>,
    src: &'a [u8],
    /// Line starts, indexed when the first finding needs a position.
    lines: std::cell::OnceCell<LineIndex>,
    out: FileResult,
    /// For a sops file: its age recipients, for hints that re-encrypt it.
    recipients: Vec<String>,
    /// The file has a `sops:` block that does not hold (it counts as plain).
    forged: bool,
    /// Skip the store's reader for plain manifests the syntax-only pass vouches for (off
    /// only in the test that shows it changes no finding).
    shortcut: bool,
}

/// A leaf of a document with what the walk knows about it.
struct Leaf<'t> {
    path: Vec<Seg<'t>>,
    node: Node<'t>,
    comment: bool,
    /// Byte offset, when known.
    offset: Option<usize>,
    /// Per selector given to [`flatten`]: whether sops would encrypt this leaf.
    encrypt: Vec<bool>,
}

/// What a leaf holds: a value, or a comment's text.
#[derive(Clone, Copy, Debug)]
enum Node<'t> {
    Value(&'t Value),
    Comment(&'t str),
}

impl Leaf<'_> {
    fn display(&self) -> String {
        locate::display(&self.path)
    }

    fn top(&self) -> Option<&str> {
        match self.path.first() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    fn last_key(&self) -> Option<&str> {
        self.path.iter().rev().find_map(|s| match s {
            Seg::Key(k) => Some(*k),
            Seg::Index(_) => None,
        })
    }

    /// A non-empty value that is not an `ENC[…]` value (nulls and empty strings are never
    /// encrypted by sops).
    fn plaintext(&self) -> bool {
        if let Some(s) = self.text() {
            return !s.is_empty() && !is_enc_value(s);
        }
        match self.node {
            Node::Comment(_) | Node::Value(Value::Str(_) | Value::Comment(_)) => false,
            Node::Value(Value::Bytes(b)) => !b.is_empty(),
            Node::Value(Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Time(_)) => true,
            Node::Value(Value::Null | Value::Branch(_) | Value::List(_)) => false,
        }
    }

    fn enc_text(&self) -> Option<&str> {
        self.text().filter(|s| is_enc_value(s))
    }

    /// The text of a string value or a comment.
    fn text(&self) -> Option<&str> {
        match self.node {
            Node::Comment(s) => Some(s),
            Node::Value(Value::Str(s) | Value::Comment(s)) => Some(s),
            _ => None,
        }
    }

    fn is_string(&self) -> bool {
        matches!(self.node, Node::Value(Value::Str(_)))
    }

    /// A value that only refers to something else: nothing but Flux `${VAR}`
    /// substitutions or template expressions (`{{ … }}`), or one well-known secret
    /// reference. A literal next to a template (`hunter2${X}`) is not exempt.
    fn templated(&self) -> bool {
        match self.node {
            Node::Value(Value::Str(s)) => {
                (s.contains("${") || s.contains("{{") || s.contains("{%"))
                    && !matches!(super::objects::classify(s), super::objects::Class::Plain)
            }
            _ => false,
        }
    }
}

/// Every leaf of `doc` in walk order (the order the YAML layout records offsets in), with
/// the decision of each selector, made exactly as the cipher walk makes it.
fn flatten<'t>(
    doc: &'t Branch,
    selectors: &[&Selector],
    offsets: Option<&[usize]>,
) -> Vec<Leaf<'t>> {
    struct W<'t, 's> {
        selectors: &'s [&'s Selector],
        stacks: Vec<CommentStack>,
        path: Vec<Seg<'t>>,
        out: Vec<Leaf<'t>>,
    }
    impl<'t> W<'t, '_> {
        fn leaf(&mut self, node: Node<'t>, matched: &[bool]) {
            let comment = matches!(node, Node::Comment(_));
            let encrypt = self
                .selectors
                .iter()
                .zip(&self.stacks)
                .zip(matched)
                .map(|((sel, st), m)| sel.should_encrypt(*m, st, comment))
                .collect();
            self.out.push(Leaf {
                path: self.path.clone(),
                node,
                comment,
                offset: None,
                encrypt,
            });
        }
        fn comment(&mut self, text: &'t str, matched: &[bool]) {
            for (sel, st) in self.selectors.iter().zip(self.stacks.iter_mut()) {
                st.add_comment(sel.comment_matches(text));
            }
            self.leaf(Node::Comment(text), matched);
        }
        fn branch(&mut self, b: &'t Branch, matched: &[bool]) {
            self.stacks.iter_mut().for_each(CommentStack::push_level);
            for item in &b.items {
                match item {
                    Item::Comment(text) => self.comment(text, matched),
                    Item::Pair(k, v) => {
                        let m: Vec<bool> = self
                            .selectors
                            .iter()
                            .zip(matched)
                            .map(|(sel, m)| *m || sel.key_matches(k))
                            .collect();
                        self.path.push(Seg::Key(k));
                        self.value(v, &m);
                        self.path.pop();
                        self.stacks.iter_mut().for_each(CommentStack::clear_level);
                    }
                }
            }
            self.stacks.iter_mut().for_each(CommentStack::pop_level);
        }
        fn value(&mut self, v: &'t Value, matched: &[bool]) {
            match v {
                Value::Branch(b) => self.branch(b, matched),
                Value::List(items) => {
                    self.stacks.iter_mut().for_each(CommentStack::push_level);
                    for (i, item) in items.iter().enumerate() {
                        if let Value::Comment(text) = item {
                            self.comment(text, matched);
                        } else {
                            self.path.push(Seg::Index(i));
                            self.value(item, matched);
                            self.path.pop();
                            self.stacks.iter_mut().for_each(CommentStack::clear_level);
                        }
                    }
                    self.stacks.iter_mut().for_each(CommentStack::pop_level);
                }
                _ => self.leaf(Node::Value(v), matched),
            }
        }
    }
    let mut w = W {
        selectors,
        stacks: vec![CommentStack::new(); selectors.len()],
        path: Vec::new(),
        out: Vec::new(),
    };
    w.branch(doc, &vec![false; selectors.len()]);
    let mut leaves = w.out;
    if let Some(offsets) = offsets
        && offsets.len() == leaves.len()
    {
        for (leaf, off) in leaves.iter_mut().zip(offsets) {
            leaf.offset = Some(*off);
        }
    }
    // Nulls and empty comments are never encrypted.
    for leaf in &mut leaves {
        let never = match leaf.node {
            Node::Value(Value::Null) => true,
            Node::Comment(t) => t.is_empty(),
            Node::Value(_) => false,
        };
        if never {
            leaf.encrypt.iter_mut().for_each(|e| *e = false);
        }
    }
    leaves
}

impl<'a> Scan<'a> {
    fn new(ctx: &'a FileContext<'a>, src: &'a [u8]) -> Scan<'a> {
        Scan {
            ctx,
            src,
            lines: std::cell::OnceCell::new(),
            out: FileResult::default(),
            recipients: Vec::new(),
            forged: false,
            shortcut: true,
        }
    }

    /// The 1-based (line, column) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        self.lines
            .get_or_init(|| LineIndex::new(self.src))
            .position(self.src, offset)
    }

    /// How to encrypt this plain file ([`hints::encrypt`]); a `sops:` block that does not
    /// hold must go first (sops and seal refuse to encrypt a file that has one).
    fn encrypt_hint(&self) -> String {
        let h = hints::encrypt(self.ctx.path, self.ctx.rule);
        if self.forged {
            format!(
                "delete its `sops:` block first (it does not hold, and seal and sops refuse to encrypt a file that has one), then {h}"
            )
        } else {
            h
        }
    }

    fn push(
        &mut self,
        offset: Option<usize>,
        rule: Rule,
        severity: Severity,
        message: String,
        hint: &str,
    ) {
        let (line, column) = match offset {
            Some(o) => self.position(o),
            None => (0, 0),
        };
        self.out.findings.push(Finding {
            path: self.ctx.path.to_string(),
            line,
            column,
            rule,
            severity,
            message,
            hint: hint.to_string(),
        });
    }

    // ------------------------------------------------------------------ 1. private keys

    fn private_keys(&mut self) {
        for hit in private_keys::find(self.src) {
            self.push(
                Some(hit.offset),
                Rule::PrivateKey,
                Severity::Error,
                hit.message(),
                private_keys::HINT,
            );
        }
    }

    // ------------------------------------------------------------------ 2. parse

    fn structured(&mut self) {
        let format = Format::from_path(std::path::Path::new(self.ctx.path));
        let text_has = |needle: &[u8]| memmem::find(self.src, needle).is_some();
        let maybe_sops = text_has(b"sops");
        let secret_kind = mentions_secret_kind(self.src);
        let covered = self.ctx.rule.is_some();
        let targeted = self.ctx.rule.is_some_and(|r| !r.broad);
        let named = secret_named(self.ctx.path);
        let needed = match format {
            Format::Yaml => true,
            Format::Json => maybe_sops || text_has(b"Secret") || covered || named,
            Format::Dotenv | Format::Ini => maybe_sops || covered || named,
            Format::Binary => maybe_sops || covered,
        };
        if !needed {
            return;
        }
        if format == Format::Binary {
            self.binary(maybe_sops);
            return;
        }
        // A manifest that no rule covers, not named like a secret, whose text can name no
        // Secret, secret generator, key or sops metadata (no `sops`, `ENC[`, `Secret`,
        // `secretGenerator`, key marker or escape): all that can come of reading it is a
        // parse error. A syntax-only pass says when the store surely reads it; only
        // otherwise is the tree built (most of the gate's time on a big repository).
        if self.shortcut
            && format == Format::Yaml
            && !covered
            && !named
            && !maybe_sops
            && !text_has(b"ENC[")
            && !super::parse::may_hold_bytes(self.src)
            && crate::stores::yaml::surely_readable(self.src)
        {
            return;
        }
        let parsed = match format.store().load_for_reading(self.src) {
            Ok(p) => p,
            Err(StoreError::NoDocument { .. }) => return,
            Err(e) => {
                self.parse_error(&e, secret_kind);
                return;
            }
        };
        let offsets = leaf_offsets(&parsed.layout).map(|(_, d)| d);
        let has_sops_block = parsed.metadata.as_ref().is_some_and(looks_like_sops);
        let enc_text = memmem::find(self.src, b"ENC[").is_some();
        let sops = self.sops_metadata(&parsed, offsets.as_ref().and_then(|o| o.first()?.sops));
        self.out.is_sops = sops.is_some();
        if let Some(md) = &sops {
            self.recipients = md
                .key_groups
                .iter()
                .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
                .filter(|r| !r.is_empty())
                .collect();
        }
        let file_selector = sops.as_ref().map(Metadata::effective_selector);
        let rule_selector = self.rule_selector(&parsed.docs, sops.is_some());
        let mut covered_findings = false;
        let mut k8s_only = true;
        let mut rule_would_encrypt: Option<(Option<usize>, String)> = None;
        let mut enc_without_metadata = None;
        let mut plain_kinds: BTreeSet<String> = BTreeSet::new();
        let mut cursor = 0usize;
        let mut narrow = narrow::Narrow::default();
        for (di, doc) in parsed.docs.iter().enumerate() {
            if doc.items.is_empty() {
                continue;
            }
            let mut selectors: Vec<&Selector> = Vec::new();
            if let Some(s) = &file_selector {
                selectors.push(s);
            }
            if let Some(s) = &rule_selector {
                selectors.push(s);
            }
            let object = k8s_object(doc);
            let secret_docs = secret_objects(doc);
            if object.is_none() && doc.items.iter().any(|i| matches!(i, Item::Pair(..))) {
                k8s_only = false;
            }
            // Most manifests (Deployments, ConfigMaps) need no walk at all: only sops files,
            // Secrets, what a rule would encrypt, and files named like secrets do.
            let walk = has_sops_block
                || !secret_docs.is_empty()
                || (rule_selector.is_some()
                    && (object.is_none() || intends_encryption(self.ctx.path)))
                || (named && object.is_none())
                || enc_text
                || doc.get("secretGenerator").is_some();
            if !walk {
                if let Some((_, kind)) = object {
                    plain_kinds.insert(kind.to_string());
                }
                continue;
            }
            let doc_offsets = offsets
                .as_ref()
                .and_then(|o| o.get(di))
                .map(|d| d.leaves.as_slice());
            let mut leaves = flatten(doc, &selectors, doc_offsets);
            if doc_offsets.is_none() {
                self.locate(&mut leaves, format, &mut cursor);
            }
            // 3. sops values.
            if let Some(fs) = &file_selector {
                self.sops_values(&leaves, true, rule_selector.is_some());
                narrow.doc(
                    self,
                    fs,
                    &leaves,
                    !secret_docs.is_empty(),
                    rule_selector.is_some(),
                );
            } else if has_sops_block {
                // Broken metadata was reported; still check every ENC value's syntax.
                self.sops_values(&leaves, false, false);
            } else if enc_without_metadata.is_none()
                && let Some(l) = leaves.iter().find(|l| l.enc_text().is_some() && !l.comment)
            {
                enc_without_metadata = Some(l.offset);
            }
            // 4. Kubernetes Secrets.
            for secret in &secret_docs {
                self.secret(secret, &leaves, doc, sops.is_some());
            }
            if let Some((_, kind)) = object
                && secret_docs.is_empty()
            {
                plain_kinds.insert(kind.to_string());
            }
            // Kustomize secretGenerator literals are Secrets written inline.
            if doc.get("secretGenerator").is_some() {
                self.secret_generator(&leaves, doc);
            }
            // 5. What the rule would encrypt in a plain file.
            if sops.is_none() && rule_selector.is_some() && rule_would_encrypt.is_none() {
                let idx = selectors.len() - 1;
                if let Some(l) = leaves
                    .iter()
                    .find(|l| !l.comment && l.encrypt[idx] && l.plaintext() && !l.templated())
                {
                    // Kubernetes objects of other kinds are left to the Secret check and
                    // to `plain-manifest`, unless their name says they should be encrypted.
                    if object.is_none()
                        || secret_docs.is_empty() && intends_encryption(self.ctx.path)
                    {
                        rule_would_encrypt = Some((l.offset, l.display()));
                    }
                }
            }
            // 6. Credential-like keys in files named like secrets (a catch-all rule says
            // how to encrypt, not that this file is safe: only a targeted rule's own
            // unencrypted-file finding replaces this one). In a sops file, a credential
            // its selector leaves plaintext counts too: a selector claims nothing.
            if object.is_none() && named && !targeted {
                self.credentials(&leaves, sops.is_some());
            }
            covered_findings |= !secret_docs.is_empty();
        }
        narrow.finish(self);
        if let Some(off) = enc_without_metadata {
            self.push(
                off,
                Rule::BrokenMetadata,
                Severity::Error,
                "the file holds ENC[...] values but no sops metadata, so nobody can decrypt it".into(),
                "restore the `sops` block from git history, or re-create the file from the plaintext with seal encrypt",
            );
        }
        if sops.is_none()
            && let Some(rm) = self.ctx.rule
        {
            self.uncovered(
                rm,
                rule_would_encrypt,
                k8s_only,
                &plain_kinds,
                covered_findings,
                format,
            );
        }
        if let (Some(md), Some(rm)) = (&sops, self.ctx.rule) {
            self.drift(md, rm);
        }
        if let Some(md) = &sops {
            self.required(md);
        }
    }

    fn parse_error(&mut self, e: &StoreError, secret_kind: bool) {
        let (line, column) = match e {
            StoreError::Syntax { line, column, .. }
            | StoreError::Unsupported { line, column, .. } => {
                (line.unwrap_or(0), column.unwrap_or(0))
            }
            _ => (0, 0),
        };
        let covered = self.ctx.rule.is_some_and(|r| !r.broad);
        // Valid YAML that sops does not take (a top-level list such as an Ansible playbook
        // or .pre-commit-hooks.yaml, integer keys, ...) is only a finding where a secret
        // is expected: under a targeted rule (error: sops cannot encrypt it) or next to
        // `kind: Secret` (warning: seal cannot look inside).
        let unsupported = matches!(e, StoreError::Unsupported { .. });
        let severity = match (covered, secret_kind, unsupported) {
            (true, _, _) | (false, true, false) => Severity::Error,
            (false, true, true) | (false, false, false) => Severity::Warning,
            (false, false, true) => return,
        };
        let what = if unsupported {
            "sops cannot read this file"
        } else {
            "the file does not parse"
        };
        let why = if covered {
            "; a creation rule covers it, so it may hold secrets that cannot be checked"
        } else if secret_kind {
            "; it mentions kind: Secret, so it may hold secrets that cannot be checked"
        } else {
            ""
        };
        self.out.findings.push(Finding {
            path: self.ctx.path.to_string(),
            line,
            column,
            rule: Rule::ParseError,
            severity,
            message: format!("{what}: {e}{why}"),
            hint: "fix the syntax, or list the file in .sealignore if it is a template (e.g. Helm `{{ }}`) that is never applied as is".into(),
        });
    }

    fn binary(&mut self, maybe_sops: bool) {
        if maybe_sops
            && let Ok(parsed) = Format::Binary.store().load_encrypted(self.src)
            && self.sops_metadata(&parsed, None).is_some()
        {
            self.out.is_sops = true;
            if let Some(rm) = self.ctx.rule {
                let md = parsed
                    .metadata
                    .as_ref()
                    .and_then(|t| Metadata::from_tree(t).ok());
                if let Some(md) = md {
                    self.drift(&md, rm);
                    self.required(&md);
                }
            }
            return;
        }
        if let Some(rm) = self.ctx.rule
            && !rm.broad
            && !documentation(self.ctx.path)
            && !self.src.iter().all(u8::is_ascii_whitespace)
        {
            self.push(
                None,
                Rule::UnencryptedFile,
                Severity::Error,
                format!("{} covers this file, but it is not encrypted", rm.label),
                &self.encrypt_hint(),
            );
        }
    }

    /// The file's metadata when it is a sops file whose block holds ([`sops_file`]). Every
    /// problem of the block is reported; a block sops would refuse (or that no key can
    /// open) makes the file count as plain, so forged metadata hides nothing.
    fn sops_metadata(&mut self, parsed: &Parsed, at: Option<usize>) -> Option<Metadata> {
        let tree = parsed.metadata.as_ref()?;
        if !looks_like_sops(tree) {
            return None;
        }
        let at = at.or_else(|| self.find_text(b"sops"));
        let hint = "restore the file from git history or re-create it with seal encrypt; a sops file needs a version sops accepts, an RFC 3339 lastmodified, the ENC[...] mac sops wrote, and at least one real master key";
        let mut forged = false;
        for p in sops_file::problems(tree) {
            forged |= p.severity == Severity::Error;
            self.push(at, Rule::BrokenMetadata, p.severity, p.message, hint);
        }
        for path in sops_file::stray_values(tree) {
            let key = path.rsplit('.').next().unwrap_or("sops");
            let key = key.split('[').next().unwrap_or(key);
            let from = at.unwrap_or(0).min(self.src.len());
            let pos = memmem::find(&self.src[from..], key.as_bytes()).map(|i| from + i);
            self.push(
                pos.or(at),
                Rule::PlaintextValue,
                Severity::Error,
                format!("{path} is a plaintext value inside the sops metadata block: sops does not read it, never encrypts it, and drops it when it rewrites the file"),
                "move the value out of the sops block into the document (where sops encrypts it) and rotate it if it is a secret",
            );
        }
        if forged {
            self.forged = true;
            return None;
        }
        Metadata::from_tree(tree).ok()
    }

    /// The selector the file's creation rule would encrypt with. For a sops file only an
    /// explicit one counts (a file encrypted by seal's Kubernetes default under a rule with
    /// no selector is not drift); for a plain file, what `seal encrypt` would use.
    fn rule_selector(&self, docs: &[Branch], is_sops: bool) -> Option<Selector> {
        let rm = self.ctx.rule?;
        if rm.broad {
            return None;
        }
        match &rm.rule.selector {
            Some(s) => Some(s.clone()),
            // A rule without a selector encrypts a file that holds anything but Kubernetes
            // objects with sops's default (every value): a sops file whose own selector
            // is narrower left values plaintext that its rule encrypts.
            None if is_sops => kubernetes_default(docs)
                .is_none()
                .then(default_selector)
                .filter(|_| !docs.iter().any(|d| k8s_object(d).is_some())),
            None => Some(kubernetes_default(docs).unwrap_or_else(default_selector)),
        }
    }

    // ------------------------------------------------------------------ 3. sops values

    /// ENC values that do not parse; with `selectors`, plaintext values that the file's
    /// selectors (index 0) or its rule's (index 1) would encrypt.
    fn sops_values(&mut self, leaves: &[Leaf], selectors: bool, has_rule_selector: bool) {
        for l in leaves {
            if let Some(enc) = l.enc_text() {
                if let Err(why) = EncValue::parse(enc) {
                    self.push(
                        l.offset,
                        Rule::BadEncValue,
                        Severity::Error,
                        format!("the encrypted value at {} is malformed: {why}", l.display()),
                        "the file was damaged (a bad merge or hand edit?): restore this value from git history; sops cannot decrypt the file as it is",
                    );
                }
                continue;
            }
            if !selectors || !l.plaintext() {
                continue;
            }
            let by_file = l.encrypt.first().copied().unwrap_or(false);
            let by_rule = has_rule_selector && l.encrypt.get(1).copied().unwrap_or(false);
            if l.comment {
                if by_file {
                    let place = if l.path.is_empty() {
                        "at the top level".to_string()
                    } else {
                        format!("under {}", l.display())
                    };
                    self.push(
                        l.offset,
                        Rule::PlaintextValue,
                        Severity::Info,
                        format!(
                            "a comment {place} is plaintext where the file's selectors encrypt comments (added after encryption?)"
                        ),
                        "comments can leak secrets too: move it out of the encrypted scope, or re-encrypt the file",
                    );
                }
                continue;
            }
            if by_file {
                self.push(
                    l.offset,
                    Rule::PlaintextValue,
                    Severity::Error,
                    format!(
                        "{} is plaintext in a sops file whose selectors encrypt it (added after encryption?)",
                        l.display()
                    ),
                    &format!(
                        "re-encrypt the file: seal decrypt -i {p} && seal encrypt -i {p} (or seal edit {p})",
                        p = self.ctx.path
                    ),
                );
            } else if by_rule {
                self.push(
                    l.offset,
                    Rule::PlaintextValue,
                    Severity::Warning,
                    format!(
                        "{} is plaintext: the file's own selectors leave it, but its creation rule would encrypt it",
                        l.display()
                    ),
                    "the file was encrypted under different settings than its .sops.yaml rule: re-encrypt it so that it follows the rule",
                );
            }
        }
    }

    // ------------------------------------------------------------------ 4. Secrets

    fn secret(&mut self, secret: &SecretObject, leaves: &[Leaf], doc: &Branch, is_sops: bool) {
        let in_doc = std::ptr::eq(secret.branch, doc);
        let name = secret
            .name
            .map(|n| format!("Secret {n:?}"))
            .unwrap_or_else(|| "a Secret".into());
        for l in leaves {
            if l.comment {
                continue;
            }
            // The Secret's own data/stringData, at the doc's top level or under a List item.
            let field = if in_doc {
                l.top()
            } else {
                match (l.path.first(), l.path.get(1), l.path.get(2)) {
                    (Some(Seg::Key("items")), Some(Seg::Index(i)), Some(Seg::Key(k)))
                        if Some(*i) == secret.index =>
                    {
                        Some(*k)
                    }
                    _ => None,
                }
            };
            let Some(field @ ("data" | "stringData")) = field else {
                continue;
            };
            self.secret_value(&name, field, l);
            if !l.plaintext() || l.templated() {
                continue;
            }
            let fix = if is_sops {
                if l.encrypt.first().copied().unwrap_or(false) {
                    hints::set_again(self.ctx.path, &locate::tree_path(&l.path))
                } else {
                    hints::reencrypt(self.ctx.path, self.ctx.rule, &self.recipients, true)
                }
            } else {
                self.encrypt_hint()
            };
            // One finding per value: the Secret finding replaces a selector finding.
            let pos = l.offset.map(|o| self.position(o));
            if let Some(pos) = pos {
                self.out
                    .findings
                    .retain(|f| !(f.rule == Rule::PlaintextValue && (f.line, f.column) == pos));
            }
            self.push(
                l.offset,
                Rule::PlaintextSecret,
                Severity::Error,
                format!("{name} holds {} in plaintext", l.display()),
                &fix,
            );
        }
        self.last_applied(secret, &name);
    }

    /// A `data`/`stringData` value Kubernetes would reject ([`secret_values`]).
    fn secret_value(&mut self, name: &str, field: &str, l: &Leaf) {
        use secret_values::Seen;
        if l.templated() {
            return;
        }
        let seen = match l.node {
            Node::Value(Value::Str(s)) if is_enc_value(s) => Seen::Enc(s),
            Node::Value(Value::Str(s)) => Seen::Str(s),
            Node::Value(Value::Int(_)) => Seen::Scalar("integer"),
            Node::Value(Value::Float(_)) => Seen::Scalar("float"),
            Node::Value(Value::Bool(_)) => Seen::Scalar("boolean"),
            _ => return,
        };
        if let Some((severity, what)) = secret_values::problem(field, seen) {
            self.push(
                l.offset,
                Rule::BadSecretValue,
                severity,
                format!("{name}: {} {what}", l.display()),
                if field == "data" {
                    "write data values as base64 (or move the plain text to stringData), and give stringData strings only"
                } else {
                    "quote the value in stringData (Kubernetes takes strings only) and re-encrypt it"
                },
            );
        }
    }

    /// `secretGenerator[].literals` of a kustomization: `KEY=VALUE` strings that become a
    /// Secret when kustomize builds, committed in plaintext.
    fn secret_generator(&mut self, leaves: &[Leaf], doc: &Branch) {
        let Some(Value::List(gens)) = doc.get("secretGenerator") else {
            return;
        };
        for l in leaves {
            let (
                Some(Seg::Key("secretGenerator")),
                Some(Seg::Index(g)),
                Some(Seg::Key("literals")),
            ) = (l.path.first(), l.path.get(1), l.path.get(2))
            else {
                continue;
            };
            let Some(text) = l.text().filter(|_| !l.comment) else {
                continue;
            };
            let Some((key, value)) = text.split_once('=') else {
                continue;
            };
            if value.is_empty()
                || value.contains("${")
                || value.contains("{{")
                || is_enc_value(value)
            {
                continue;
            }
            let name = match gens.get(*g) {
                Some(Value::Branch(b)) => match b.get("name") {
                    Some(Value::Str(n)) => format!("secretGenerator {n:?}"),
                    _ => format!("secretGenerator[{g}]"),
                },
                _ => format!("secretGenerator[{g}]"),
            };
            self.push(
                l.offset,
                Rule::PlaintextSecret,
                Severity::Error,
                format!("{name} holds the literal {:?} in plaintext (kustomize turns it into a Secret)", key.trim()),
                "move the value into a sops-encrypted Secret (seal secret new generic --from-literal ...), or generate from an encrypted env file with the ksops / Flux sops integration",
            );
        }
    }

    fn last_applied(&mut self, secret: &SecretObject, name: &str) {
        const ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
        let Some(Value::Branch(meta)) = secret.branch.get("metadata") else {
            return;
        };
        let Some(Value::Branch(ann)) = meta.get("annotations") else {
            return;
        };
        let Some(Value::Str(json)) = ann.get(ANNOTATION) else {
            return;
        };
        if is_enc_value(json) {
            return;
        }
        let leaked = match serde_json::from_str::<serde_json::Value>(json) {
            Ok(v) => ["data", "stringData"].into_iter().any(|f| {
                v.get(f).and_then(|d| d.as_object()).is_some_and(|m| {
                    m.values().any(|x| match x {
                        serde_json::Value::String(s) => !s.is_empty() && !is_enc_value(s),
                        serde_json::Value::Null => false,
                        _ => true,
                    })
                })
            }),
            // Unparsable: report when it plainly carries data.
            Err(_) => json.contains("\"data\"") || json.contains("\"stringData\""),
        };
        if leaked {
            let at = self.find_text(ANNOTATION.as_bytes());
            self.push(
                at,
                Rule::LastAppliedSecret,
                Severity::Error,
                format!("{name} has a {ANNOTATION} annotation that copies its values in plaintext (metadata is never encrypted)"),
                "delete the annotation from the manifest (it is written by kubectl apply; export with kubectl get -o yaml and strip it) and rotate the values it exposed",
            );
        }
    }

    // ------------------------------------------------------------------ 5. rule coverage

    fn uncovered(
        &mut self,
        rm: &RuleMatch,
        would: Option<(Option<usize>, String)>,
        k8s_only: bool,
        plain_kinds: &BTreeSet<String>,
        secret_findings: bool,
        format: Format,
    ) {
        if rm.broad {
            return;
        }
        if let Some((at, path)) = would {
            self.push(
                at,
                Rule::UnencryptedFile,
                Severity::Error,
                format!(
                    "{} covers this file, but it is not encrypted: {path} would be encrypted by that rule",
                    rm.label
                ),
                &self.encrypt_hint(),
            );
            return;
        }
        if secret_findings {
            return;
        }
        if k8s_only && !plain_kinds.is_empty() {
            let kinds: Vec<&str> = plain_kinds.iter().map(String::as_str).collect();
            self.push(
                None,
                Rule::PlainManifest,
                Severity::Info,
                format!(
                    "{} covers this file, which holds only {} (no secret values): left plain",
                    rm.label,
                    kinds.join(", ")
                ),
                "nothing to do; narrow the rule's path_regex if it should not cover such files",
            );
        } else if !k8s_only && matches!(format, Format::Dotenv | Format::Ini) {
            // Covered dotenv/INI with nothing the rule would encrypt: nothing to say.
        }
    }

    fn drift(&mut self, md: &Metadata, rm: &RuleMatch) {
        // Every registered key type, as rules name them (age, `pgp:FP`, KMS, Vault).
        let file_keys: Vec<String> = md
            .key_groups
            .iter()
            .flat_map(crate::keys::group_recipients)
            .collect();
        let file: BTreeSet<&str> = file_keys.iter().map(String::as_str).collect();
        let rule: BTreeSet<&str> = rm
            .rule
            .key_groups
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if rule.is_empty() && (file.is_empty() || !rm.rule.unsupported_keys.is_empty()) {
            return;
        }
        if file == rule {
            return;
        }
        let extra: Vec<&str> = file.difference(&rule).copied().collect();
        let missing: Vec<&str> = rule.difference(&file).copied().collect();
        let mut parts = Vec::new();
        if !extra.is_empty() {
            parts.push(format!("not in the rule: {}", extra.join(", ")));
        }
        if !missing.is_empty() {
            parts.push(format!("missing: {}", missing.join(", ")));
        }
        let at = self.find_text(b"sops");
        self.push(
            at,
            Rule::RecipientDrift,
            Severity::Warning,
            format!(
                "the file's age recipients differ from {} ({})",
                rm.label,
                parts.join("; ")
            ),
            &format!(
                "bring it in line with the rule: seal updatekeys -y {}",
                self.ctx.path
            ),
        );
    }

    fn required(&mut self, md: &Metadata) {
        for want in self.ctx.require {
            let has = md
                .key_groups
                .iter()
                .any(|g| g.age.iter().any(|k| &k.recipient == want));
            if !has {
                let at = self.find_text(b"sops");
                self.push(
                    at,
                    Rule::MissingRecipient,
                    Severity::Error,
                    format!("the file is not encrypted to the required recipient {want}"),
                    &format!(
                        "add the recipient to the .sops.yaml rule and run seal updatekeys -y {}",
                        self.ctx.path
                    ),
                );
            }
        }
    }

    // ------------------------------------------------------------------ 6. credentials

    fn credentials(&mut self, leaves: &[Leaf], is_sops: bool) {
        for l in leaves {
            if l.comment || !l.plaintext() || l.templated() {
                continue;
            }
            if !l.is_string() {
                continue;
            }
            let Some(key) = l.last_key() else { continue };
            if !credential_key(key) {
                continue;
            }
            let (message, hint) = if is_sops {
                (
                    format!(
                        "{} looks like a credential and is left plaintext by the selector of this sops file, which is named like a secret",
                        l.display()
                    ),
                    format!(
                        "{}; or, if it is not secret, mark it with `# seal:allow credential-value <reason>`",
                        hints::reencrypt(self.ctx.path, self.ctx.rule, &self.recipients, true)
                    ),
                )
            } else {
                (
                    format!(
                        "{} looks like a credential and is plaintext in a file named like a secret",
                        l.display()
                    ),
                    format!(
                        "{}; or, if it is not secret, mark it with `# seal:allow credential-value <reason>`",
                        self.encrypt_hint()
                    ),
                )
            };
            self.push(
                l.offset,
                Rule::CredentialValue,
                Severity::Warning,
                message,
                &hint,
            );
        }
    }

    // ------------------------------------------------------------------ positions

    fn find_text(&self, needle: &[u8]) -> Option<usize> {
        memmem::find(self.src, needle)
    }

    /// Offsets for formats without a layout: each leaf's key searched forward from the
    /// previous one (keys appear in walk order in JSON, dotenv and INI files).
    fn locate(&self, leaves: &mut [Leaf], format: Format, cursor: &mut usize) {
        for l in leaves.iter_mut() {
            let Some(key) = l.last_key() else { continue };
            let needle = match format {
                Format::Json => format!("\"{key}\""),
                _ => key.to_string(),
            };
            let from = (*cursor).min(self.src.len());
            if let Some(i) = memmem::find(&self.src[from..], needle.as_bytes()) {
                *cursor = from + i + needle.len();
                l.offset = Some(from + i);
            }
        }
    }
}

// ---------------------------------------------------------------------- helpers

/// sops's default selector (everything but keys ending in `_unencrypted`).
fn default_selector() -> Selector {
    Metadata {
        key_groups: Vec::new(),
        shamir_threshold: 0,
        lastmodified: String::new(),
        mac: String::new(),
        selector: None,
        mac_only_encrypted: false,
        version: String::new(),
    }
    .effective_selector()
}

/// A `sops` block that is meant as sops metadata (not some app's `sops:` setting).
fn looks_like_sops(tree: &Branch) -> bool {
    [
        "mac",
        "lastmodified",
        "version",
        "age",
        "pgp",
        "kms",
        "gcp_kms",
        "hckms",
        "azure_kv",
        "hc_vault",
        "key_groups",
    ]
    .iter()
    .any(|k| tree.get(k).is_some())
}

/// A Kubernetes object: string `apiVersion` and `kind`. Returns them.
fn k8s_object(doc: &Branch) -> Option<(&str, &str)> {
    match (doc.get("apiVersion"), doc.get("kind")) {
        (Some(Value::Str(a)), Some(Value::Str(k))) => Some((a, k)),
        _ => None,
    }
}

/// A core `v1` Secret (apiVersion `v1` or absent).
fn is_secret(doc: &Branch) -> bool {
    let kind_ok = matches!(doc.get("kind"), Some(Value::Str(k)) if k == "Secret");
    let api_ok = match doc.get("apiVersion") {
        None => true,
        Some(Value::Str(a)) => a == "v1",
        _ => false,
    };
    kind_ok && api_ok
}

struct SecretObject<'t> {
    branch: &'t Branch,
    /// Index in a `List`'s `items`, when it is one.
    index: Option<usize>,
    name: Option<&'t str>,
}

/// The Secrets in a document: the document itself, or the Secret items of a `List`.
fn secret_objects(doc: &Branch) -> Vec<SecretObject<'_>> {
    fn name_of(b: &Branch) -> Option<&str> {
        match b.get("metadata") {
            Some(Value::Branch(m)) => match m.get("name") {
                Some(Value::Str(n)) => Some(n.as_str()),
                _ => None,
            },
            _ => None,
        }
    }
    if is_secret(doc) {
        return vec![SecretObject {
            branch: doc,
            index: None,
            name: name_of(doc),
        }];
    }
    let mut out = Vec::new();
    if matches!(doc.get("kind"), Some(Value::Str(k)) if k.ends_with("List"))
        && let Some(Value::List(items)) = doc.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            if let Value::Branch(b) = item
                && is_secret(b)
            {
                out.push(SecretObject {
                    branch: b,
                    index: Some(i),
                    name: name_of(b),
                });
            }
        }
    }
    out
}

/// `kind: Secret` anywhere in the text (quoted or not).
fn mentions_secret_kind(src: &[u8]) -> bool {
    memmem::find_iter(src, b"kind:").any(|i| {
        let rest = &src[i + 5..];
        let rest = trim_start(rest);
        let rest = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"'"))
            .unwrap_or(rest);
        rest.starts_with(b"Secret") && !rest.get(6).is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
    &s[n..]
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Named like a secret: `*secret*`, `.env`, `*.env`, `.env.*`.
pub fn secret_named(path: &str) -> bool {
    let name = file_name(path).to_ascii_lowercase();
    name.contains("secret") || name == ".env" || name.ends_with(".env") || name.starts_with(".env.")
}

/// A name that says the file is meant to be encrypted (`x.sops.yaml`, `x.enc.yaml`).
fn intends_encryption(path: &str) -> bool {
    let name = file_name(path).to_ascii_lowercase();
    name.contains(".sops.")
        || name.contains(".enc.")
        || name.ends_with(".sops")
        || name.ends_with(".enc")
}

/// Documentation and placeholders that a broad-ish rule may cover but never hold secrets.
fn documentation(path: &str) -> bool {
    let name = file_name(path).to_ascii_lowercase();
    [".md", ".txt", ".rst", ".adoc", ".gitkeep", ".keep"]
        .iter()
        .any(|e| name.ends_with(e))
        || matches!(name.as_str(), "license" | "readme" | "copying" | "notice")
}

/// The words of a key: split at non-alphanumerics and camelCase boundaries, lower case.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in key.chars() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A key whose value is a credential (`password`, `apiKey`, `DB_TOKEN`, `secret_key`),
/// not a reference to one (`existingSecret`, `secretName`, `passwordKey`).
pub fn credential_key(key: &str) -> bool {
    const NOT: [&str; 27] = [
        "existing",
        "name",
        "names",
        "ref",
        "file",
        "path",
        "length",
        "enabled",
        "enable",
        "mode",
        "type",
        "size",
        "policy",
        "id",
        "annotations",
        "version",
        "count",
        "format",
        "field",
        "template",
        "selector",
        "mount",
        "dir",
        "namespace",
        "store",
        "provider",
        "kind",
    ];
    const LAST: [&str; 13] = [
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "pass",
        "token",
        "secret",
        "apikey",
        "dsn",
        "credential",
        "credentials",
        "privatekey",
        "secretkey",
    ];
    const BEFORE_KEY: [&str; 11] = [
        "api",
        "private",
        "secret",
        "access",
        "encryption",
        "signing",
        "master",
        "client",
        "auth",
        "hmac",
        "jwt",
    ];
    let w = words(key);
    let Some(last) = w.last() else { return false };
    if w.iter().any(|x| NOT.contains(&x.as_str())) {
        return false;
    }
    if LAST.contains(&last.as_str()) {
        return true;
    }
    last == "key" && w.len() >= 2 && BEFORE_KEY.contains(&w[w.len() - 2].as_str())
}
