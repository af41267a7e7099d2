//! Secrets wherever a manifest can carry them, found in leniently read trees
//! ([`super::parse`]): a `Secret` at any depth (a document, `List` items and nested
//! lists, a HelmRelease's `spec.values`, patches written as YAML strings in
//! `postRenderers` or kustomizations), kustomize `secretGenerator` `literals`, `files` and
//! `envs` (the referenced files are read through a hook, so the scanner stays pure),
//! credentials written as literals in an ExternalSecret's `spec.target.template.data`,
//! SealedSecrets ([`super::sealed`]: their template, and a plaintext Secret of the same
//! name in the file), and private keys in parsed values (a key folded over several YAML lines).
//!
//! A value is checked with its template expressions (`${VAR}`, `{{ … }}`) taken out; a
//! value that is exactly one well-known secret reference (see [`reference`]) is reported
//! at info level; anything else that is literal is a plaintext secret.
//!
//! [`refine`] runs all of this after the store-based scan and merges the findings, and
//! applies the fail-closed rule: a file that could hold a Secret or a key but cannot be
//! read is an error.

use super::locate::{self, LineIndex, Seg};
use super::parse::{self, Node, PLACEHOLDER};
use super::private_keys;
use super::scan::{FileContext, FileResult, credential_key};
use super::sealed;
use super::{Finding, Rule, Severity};
use crate::cipher::is_enc_value;

/// Reads a file named relative to the scanned file's directory (kustomize `files:` and
/// `envs:`); `None` when it cannot be read.
pub type ReadFile<'a> = dyn Fn(&str) -> Option<Vec<u8>> + Sync + 'a;

/// How deep YAML held in string values (patches) is read.
const MAX_EMBEDDED: usize = 3;

/// One finding of this module, placed by byte offsets into the text read.
#[derive(Clone, Debug)]
pub struct Hit {
    /// Start offset.
    pub start: usize,
    /// End offset (for a value over several lines).
    pub end: usize,
    /// The rule.
    pub rule: Rule,
    /// How bad.
    pub severity: Severity,
    /// What, naming keys only.
    pub message: String,
    /// What to do.
    pub hint: Hint,
}

/// A hit's hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// Encrypt the file: [`refine`] puts in the command that works for this file and its
    /// rule (the store-based scan's choice when it made one).
    EncryptFile,
    /// This text (`FILE` already replaced by the file's path).
    Text(String),
}

impl From<&str> for Hint {
    fn from(text: &str) -> Hint {
        Hint::Text(text.to_string())
    }
}

/// What a value is, for the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Empty, encrypted, or nothing but template expressions.
    Clean,
    /// Exactly one well-known secret reference (its kind).
    Reference(&'static str),
    /// A literal.
    Plain,
}

/// The well-known secret reference a whole value is, if any: 1Password `op://…`, vals
/// `ref+…://…`, Argo CD Vault Plugin `<path:…#key>`, `vault:…` paths, a whole-value
/// `${…}` substitution.
pub fn reference(value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return None;
    }
    if let Some(r) = v.strip_prefix("op://") {
        return (r.matches('/').count() >= 2).then_some("a 1Password op:// reference");
    }
    if let Some(r) = v.strip_prefix("ref+")
        && let Some((scheme, rest)) = r.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !rest.is_empty()
    {
        return Some("a vals ref+ reference");
    }
    if v.starts_with("<path:") && v.ends_with('>') && v.contains('#') {
        return Some("an Argo CD Vault Plugin placeholder");
    }
    if let Some(r) = v.strip_prefix("vault:")
        && r.contains('/')
        && !r.starts_with("//")
    {
        return Some("a vault: path");
    }
    if v.starts_with("${") && v.ends_with('}') && v[2..v.len() - 1].bytes().all(|b| b != b'}') {
        return Some("a ${...} substitution");
    }
    None
}

/// A value with its template expressions (`${…}`, `{{ … }}`, `{% … %}`, placeholders)
/// taken out.
fn without_templates(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    loop {
        let next = ["${", "{{", "{%"]
            .iter()
            .filter_map(|open| rest.find(open).map(|i| (i, *open)))
            .min();
        let Some((i, open)) = next else { break };
        let close = match open {
            "${" => "}",
            "{{" => "}}",
            _ => "%}",
        };
        match rest[i + 2..].find(close) {
            Some(j) => {
                out.push_str(&rest[..i]);
                rest = &rest[i + 2 + j + close.len()..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out.retain(|c| c != PLACEHOLDER);
    out
}

/// Classify a Secret value.
pub fn classify(value: &str) -> Class {
    if value.trim().is_empty() || is_enc_value(value) {
        return Class::Clean;
    }
    if let Some(r) = reference(value) {
        return Class::Reference(r);
    }
    let literal = without_templates(value);
    if literal.chars().any(char::is_alphanumeric) {
        Class::Plain
    } else {
        Class::Clean
    }
}

const GENERATOR_HINT: &str = "move the value into a sops-encrypted Secret (seal secret new generic --from-literal ...), or generate from an encrypted env file with the ksops / Flux sops integration";

struct Finder<'a> {
    read: &'a ReadFile<'a>,
    path: &'a str,
    hits: Vec<Hit>,
    /// Offset every hit gets when reading YAML held in a string (the string's start).
    pin: Option<(usize, usize)>,
    embedded: usize,
    /// SealedSecrets and plaintext Secrets by name.
    names: Vec<ByName>,
}

/// A SealedSecret (`true`) or a plaintext Secret by namespace and name, at an offset.
pub type ByName = (bool, String, String, usize);

/// Every Secret-like finding in `docs`.
pub fn find(docs: &[Node], path: &str, read: &ReadFile) -> Vec<Hit> {
    find_with_names(docs, path, read).0
}

/// Every Secret-like finding in `docs`, and the SealedSecrets and plaintext Secrets it
/// holds by `(sealed, namespace, name, offset)`, for pairing across files.
pub fn find_with_names(docs: &[Node], path: &str, read: &ReadFile) -> (Vec<Hit>, Vec<ByName>) {
    let mut f = Finder {
        read,
        path,
        hits: Vec::new(),
        pin: None,
        embedded: 0,
        names: Vec::new(),
    };
    for d in docs {
        f.visit(d, &mut Vec::new());
    }
    // A plaintext Secret next to the SealedSecret of the same name.
    let named = |(sealed, ns, name, at): &ByName| sealed::Named {
        sealed: *sealed,
        namespace: ns.clone(),
        name: name.clone(),
        path: String::new(),
        line: *at,
        column: 0,
        allow: None,
    };
    for plain in f.names.iter().filter(|n| !n.0) {
        let p = named(plain);
        if f.names.iter().any(|n| n.0 && named(n).same_secret(&p)) {
            let (message, hint) = sealed::shadow_message(&plain.2, "in the same file");
            f.hits.push(Hit {
                start: plain.3,
                end: plain.3,
                rule: Rule::PlaintextSecret,
                severity: Severity::Error,
                message,
                hint: Hint::Text(hint),
            });
        }
    }
    (f.hits, f.names)
}

impl Finder<'_> {
    fn hit(
        &mut self,
        node: &Node,
        rule: Rule,
        severity: Severity,
        message: String,
        hint: impl Into<Hint>,
    ) {
        let (start, end) = self.pin.unwrap_or_else(|| match node {
            Node::Scalar { start, end, .. } => (*start, *end),
            n => (n.start(), n.start()),
        });
        self.hits.push(Hit {
            start,
            end,
            rule,
            severity,
            message,
            hint: match hint.into() {
                Hint::Text(t) => Hint::Text(t.replace("FILE", self.path)),
                h => h,
            },
        });
    }

    fn visit<'n>(&mut self, node: &'n Node, path: &mut Vec<Seg<'n>>) {
        match node {
            Node::Map(entries, _) => {
                if is_secret(node) {
                    self.secret(node, path);
                }
                if node.str_at("kind") == Some("ExternalSecret") {
                    self.external_secret(node);
                }
                if sealed::is_sealed_secret(node) {
                    self.sealed_secret(node);
                }
                for g in node.get_all("secretGenerator") {
                    self.generator(g);
                }
                for (k, v) in entries {
                    path.push(Seg::Key(k.text().unwrap_or("?")));
                    self.visit(v, path);
                    path.pop();
                }
            }
            Node::Seq(items, _) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    self.visit(item, path);
                    path.pop();
                }
            }
            Node::Scalar { value, .. } => {
                self.private_key(node, value);
                self.embedded_yaml(node, value);
            }
        }
    }

    /// A private key in a parsed value (folded or escaped over several lines).
    fn private_key(&mut self, node: &Node, value: &str) {
        if !(value.contains("PRIVATE") || value.contains("AGE-") || value.contains("LS0tLS1CRUdJT"))
        {
            return;
        }
        if let Some(k) = private_keys::find(value.as_bytes()).first() {
            let message = k.message();
            self.hit(
                node,
                Rule::PrivateKey,
                Severity::Error,
                message,
                private_keys::HINT,
            );
        }
    }

    /// YAML written as a string (a HelmRelease postRenderers patch, a kustomize patch)
    /// that may hold a Secret manifest.
    fn embedded_yaml(&mut self, node: &Node, value: &str) {
        if self.embedded >= MAX_EMBEDDED || !value.contains('\n') || !parse::may_hold(value) {
            return;
        }
        let Ok(docs) = parse::read(value) else { return };
        let outer = self.pin;
        self.pin = outer.or(match node {
            Node::Scalar { start, end, .. } => Some((*start, *end)),
            _ => None,
        });
        self.embedded += 1;
        for d in &docs {
            self.visit(d, &mut Vec::new());
        }
        self.embedded -= 1;
        self.pin = outer;
    }

    fn sealed_secret(&mut self, ss: &Node) {
        for h in sealed::hits(ss) {
            self.hit(h.at, h.rule, h.severity, h.message, h.hint);
        }
        if let Some((ns, name)) = sealed::name_of(ss) {
            let at = self.pin.map_or(ss.start(), |p| p.0);
            self.names.push((true, ns, name, at));
        }
    }

    fn secret<'n>(&mut self, secret: &'n Node, path: &mut Vec<Seg<'n>>) {
        let before = self.hits.len();
        self.secret_values(secret, path);
        let plain = self.hits[before..]
            .iter()
            .any(|h| h.severity == Severity::Error);
        let meta = secret.get("metadata");
        if plain && let Some(name) = meta.and_then(|m| m.str_at("name")) {
            let ns = meta.and_then(|m| m.str_at("namespace")).unwrap_or("");
            let at = self.pin.map_or(secret.start(), |p| p.0);
            self.names
                .push((false, ns.to_string(), name.to_string(), at));
        }
    }

    fn secret_values<'n>(&mut self, secret: &'n Node, path: &mut Vec<Seg<'n>>) {
        let name = match secret.get("metadata").and_then(|m| m.str_at("name")) {
            Some(n) => format!("Secret {:?}", n.replace(PLACEHOLDER, "{{…}}")),
            None => "a Secret".into(),
        };
        for field in ["data", "stringData"] {
            for data in secret.get_all(field) {
                let Node::Map(entries, _) = data else {
                    continue;
                };
                for (k, v) in entries {
                    let Some(value) = v.text() else { continue };
                    path.push(Seg::Key(field));
                    path.push(Seg::Key(k.text().unwrap_or("?")));
                    let shown = locate::display(path);
                    path.pop();
                    path.pop();
                    match classify(value) {
                        Class::Clean => {}
                        Class::Reference(r) => self.hit(
                            v,
                            Rule::PlaintextSecret,
                            Severity::Info,
                            format!("{name} holds {shown} as {r}, resolved outside git: not a plaintext value"),
                            "nothing to do; make sure the reference is resolved before the Secret is applied",
                        ),
                        Class::Plain => self.hit(
                            v,
                            Rule::PlaintextSecret,
                            Severity::Error,
                            format!("{name} holds {shown} in plaintext"),
                            Hint::EncryptFile,
                        ),
                    }
                }
            }
        }
    }

    fn generator(&mut self, gens: &Node) {
        let Node::Seq(gens, _) = gens else { return };
        for (gi, g) in gens.iter().enumerate() {
            let name = match g.str_at("name") {
                Some(n) => format!("secretGenerator {n:?}"),
                None => format!("secretGenerator[{gi}]"),
            };
            for lits in g.get_all("literals") {
                let Node::Seq(items, _) = lits else { continue };
                for item in items {
                    let Some((key, value)) = item.text().and_then(|t| t.split_once('=')) else {
                        continue;
                    };
                    self.generated(item, &name, &format!("the literal {:?}", key.trim()), value);
                }
            }
            for files in g.get_all("files") {
                let Node::Seq(items, _) = files else { continue };
                for item in items {
                    let Some(spec) = item.text() else { continue };
                    let file = spec.split_once('=').map_or(spec, |(_, f)| f).trim();
                    let Some(bytes) = (self.read)(file) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&bytes);
                    if text.trim().is_empty() || sops_file(&text) {
                        continue;
                    }
                    self.hit(
                        item,
                        Rule::PlaintextSecret,
                        Severity::Error,
                        format!("{name} reads the file {file:?}, which is plaintext (kustomize turns it into a Secret)"),
                        GENERATOR_HINT,
                    );
                }
            }
            for field in ["envs", "env"] {
                for envs in g.get_all(field) {
                    let items: Vec<&Node> = match envs {
                        Node::Seq(items, _) => items.iter().collect(),
                        n @ Node::Scalar { .. } => vec![n],
                        Node::Map(..) => Vec::new(),
                    };
                    for item in items {
                        let Some(file) = item.text().map(str::trim) else {
                            continue;
                        };
                        let Some(bytes) = (self.read)(file) else {
                            continue;
                        };
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        for line in text.lines() {
                            let line = line.trim();
                            if line.starts_with('#') {
                                continue;
                            }
                            let Some((k, v)) = line.split_once('=') else {
                                continue;
                            };
                            let k = k.trim().trim_start_matches("export ").trim();
                            if k.starts_with("sops_") {
                                continue;
                            }
                            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                            self.generated(
                                item,
                                &name,
                                &format!("{k:?} from the env file {file:?}"),
                                v,
                            );
                        }
                    }
                }
            }
        }
    }

    fn generated(&mut self, at: &Node, name: &str, what: &str, value: &str) {
        match classify(value) {
            Class::Clean => {}
            Class::Reference(r) => self.hit(
                at,
                Rule::PlaintextSecret,
                Severity::Info,
                format!("{name} holds {what} as {r}, resolved outside git: not a plaintext value"),
                "nothing to do",
            ),
            Class::Plain => self.hit(
                at,
                Rule::PlaintextSecret,
                Severity::Error,
                format!("{name} holds {what} in plaintext (kustomize turns it into a Secret)"),
                GENERATOR_HINT,
            ),
        }
    }

    /// Literal credentials in `spec.target.template.data` (the rest of an ExternalSecret
    /// refers to a remote store).
    fn external_secret(&mut self, es: &Node) {
        let name = es
            .get("metadata")
            .and_then(|m| m.str_at("name"))
            .map_or_else(
                || "an ExternalSecret".to_string(),
                |n| format!("ExternalSecret {n:?}"),
            );
        let Some(Node::Map(entries, _)) = es
            .get("spec")
            .and_then(|s| s.get("target"))
            .and_then(|t| t.get("template"))
            .and_then(|t| t.get("data"))
        else {
            return;
        };
        for (k, v) in entries {
            let (Some(key), Some(value)) = (k.text(), v.text()) else {
                continue;
            };
            let found = literal_credential(key, value);
            if found {
                self.hit(
                    v,
                    Rule::PlaintextSecret,
                    Severity::Error,
                    format!("{name} writes a literal credential in spec.target.template.data[{key:?}] (it becomes a Secret's value)"),
                    "take the value from the secret store: reference it as {{ .key }} with a spec.data or dataFrom entry instead of writing it in the template",
                );
            }
        }
    }
}

/// A literal credential in a template's `data` entry: a credential-like key with a literal
/// value, or a config file written in the value with credential-like lines.
pub fn literal_credential(key: &str, value: &str) -> bool {
    if credential_key(key) && classify(value) == Class::Plain {
        return true;
    }
    value.contains('\n')
        && value.lines().any(|line| {
            let Some((lk, lv)) = line.split_once([':', '=']) else {
                return false;
            };
            let lk = lk.trim().trim_matches(|c| c == '"' || c == '\'');
            let lv = lv
                .trim()
                .trim_matches(|c| c == '"' || c == '\'' || c == ',');
            credential_key(lk) && classify(lv) == Class::Plain
        })
}

/// A core Secret: `kind: Secret` with apiVersion `v1` or none.
fn is_secret(node: &Node) -> bool {
    node.str_at("kind") == Some("Secret")
        && match node.get("apiVersion") {
            None => true,
            Some(a) => a.text() == Some("v1"),
        }
}

/// A sops-encrypted file's text (any format).
fn sops_file(text: &str) -> bool {
    text.contains("ENC[AES256_GCM,")
        && (text.contains("sops_mac=") || text.contains("\"sops\"") || text.contains("sops:"))
}

// ---------------------------------------------------------------------- integration

/// Run the object checks on one file after the store-based scan and merge their findings
/// into `out`; apply the fail-closed rule to a file that cannot be read.
pub fn refine(ctx: &FileContext, bytes: &[u8], read: &ReadFile, out: &mut FileResult) {
    let had_parse_error = out.findings.iter().any(|f| f.rule == Rule::ParseError);
    let by_name = parse::named_structured(ctx.path);
    let template = parse::named_template(ctx.path);
    let text = match parse::decode(bytes) {
        Ok(t) => t,
        Err(why) => {
            let lossy = String::from_utf8_lossy(bytes);
            if let Some(what) = parse::could_hold(&lossy) {
                fail_closed(ctx, out, 0, &format!("unsupported encoding: {why}"), what);
            }
            return;
        }
    };
    if !had_parse_error && !parse::may_hold(&text) {
        return;
    }
    // A sops file the store read: its Secrets were checked there, and what sops leaves in
    // plaintext can only hide a Secret behind a merge key (or a folded key).
    if out.is_sops && !parse::may_hide_in_sops(&text) {
        return;
    }
    if !(by_name || template || parse::looks_structured(&text)) {
        return;
    }
    let mut read_text = std::borrow::Cow::Borrowed(text.as_ref());
    let mut docs = if template {
        read_text = std::borrow::Cow::Owned(parse::detemplate(&text));
        parse::read(&read_text)
    } else {
        parse::read(&text)
    };
    if docs.is_err() && !template && (text.contains("{{") || text.contains("{%")) {
        let t = parse::detemplate(&text);
        if let Ok(d) = parse::read(&t) {
            read_text = std::borrow::Cow::Owned(t);
            docs = Ok(d);
        }
    }
    let docs = match docs {
        Ok(d) => d,
        Err(e) => {
            // Not YAML or JSON by name, and its content does not parse: not a manifest.
            if !(by_name || template) {
                return;
            }
            if let Some(what) = parse::could_hold(&text) {
                fail_closed(ctx, out, e.line, &e.message, what);
            }
            return;
        }
    };
    // The file was read: sops's refusal (duplicate or non-string keys) or a template's
    // syntax no longer hides anything. A targeted rule still needs sops to read it.
    let targeted = ctx.rule.is_some_and(|r| !r.broad);
    if !targeted {
        out.findings.retain(|f| f.rule != Rule::ParseError);
    }
    let (hits, names) = find_with_names(&docs, ctx.path, read);
    let lines = LineIndex::new(read_text.as_bytes());
    for (is_sealed, namespace, name, at) in names {
        let (line, column) = lines.position(read_text.as_bytes(), at);
        out.objects.push(sealed::Named {
            sealed: is_sealed,
            namespace,
            name,
            path: ctx.path.to_string(),
            line,
            column,
            allow: None,
        });
    }
    // The store-based check chose the hint for this file (a rule without keys, a forged
    // sops block, ...): the findings below keep it.
    let file_hint = out
        .findings
        .iter()
        .find(|f| f.rule == Rule::PlaintextSecret && f.severity == Severity::Error)
        .map(|f| f.hint.clone())
        .unwrap_or_else(|| super::hints::encrypt(ctx.path, ctx.rule));
    if !out.is_sops {
        // These checks replace the store-based Secret check for plain files.
        out.findings.retain(|f| f.rule != Rule::PlaintextSecret);
    }
    let mut before = out.findings.len();
    for h in hits {
        let (line, column) = lines.position(read_text.as_bytes(), h.start);
        let (end_line, _) = lines.position(read_text.as_bytes(), h.end);
        let dup = out.findings[..before.min(out.findings.len())]
            .iter()
            .any(|f| {
                (f.line >= line && f.line <= end_line.max(line))
                    && (f.rule == h.rule
                        || (f.severity >= h.severity
                            && h.rule == Rule::PlaintextSecret
                            && matches!(
                                f.rule,
                                Rule::PlaintextValue
                                    | Rule::PlaintextSecret
                                    | Rule::LastAppliedSecret
                            )))
            });
        if dup {
            continue;
        }
        if h.rule == Rule::PlaintextSecret && h.severity == Severity::Error {
            // One finding per value: the Secret finding replaces a selector finding.
            let n = out.findings.len();
            out.findings
                .retain(|f| !(f.rule == Rule::PlaintextValue && f.line == line));
            before -= n - out.findings.len();
        }
        out.findings.push(Finding {
            path: ctx.path.to_string(),
            line,
            column,
            rule: h.rule,
            severity: h.severity,
            message: h.message,
            // The generic hint becomes the command that works for this file and rule.
            hint: match h.hint {
                Hint::EncryptFile => file_hint.clone(),
                Hint::Text(t) => t,
            },
        });
    }
}

fn fail_closed(ctx: &FileContext, out: &mut FileResult, line: usize, why: &str, what: &str) {
    out.findings.retain(|f| f.rule != Rule::ParseError);
    out.findings.push(Finding {
        path: ctx.path.to_string(),
        line,
        column: 0,
        rule: Rule::ParseError,
        severity: Severity::Error,
        message: format!(
            "seal check cannot read the file fully ({why}), and {what}: it could hold a Secret or a key that cannot be checked"
        ),
        hint: "fix the file so that it parses, or list it in .sealignore if it is never applied as is".into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_templates() {
        assert_eq!(
            classify("op://Vault/item/field"),
            Class::Reference("a 1Password op:// reference")
        );
        assert!(matches!(
            classify("ref+vault://secret/x#/k"),
            Class::Reference(_)
        ));
        assert!(matches!(
            classify("<path:kv/data/app#password>"),
            Class::Reference(_)
        ));
        assert!(matches!(
            classify("vault:secret/data/app#pw"),
            Class::Reference(_)
        ));
        assert!(matches!(classify("${DB_PASSWORD}"), Class::Reference(_)));
        assert_eq!(classify("hunter2 op://Vault/item/field"), Class::Plain);
        assert_eq!(classify("hunter2${SUFFIX}"), Class::Plain);
        assert_eq!(classify("{{ .Values.pw }}"), Class::Clean);
        assert_eq!(classify("${A}:${B}"), Class::Clean);
        assert_eq!(classify(""), Class::Clean);
        assert_eq!(
            classify("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"),
            Class::Clean
        );
    }

    fn hits(src: &str) -> Vec<Hit> {
        find(&parse::read(src).unwrap(), "x.yaml", &|_| None)
    }

    #[test]
    fn nested_secrets_are_found() {
        let list = "kind: List\nitems:\n- kind: List\n  items:\n  - {apiVersion: v1, kind: Secret, stringData: {a: b}}\n";
        assert_eq!(hits(list).len(), 1);
        let hr = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  values:\n    extraObjects:\n    - apiVersion: v1\n      kind: Secret\n      stringData: {pw: x}\n  postRenderers:\n  - kustomize:\n      patches:\n      - patch: |\n          apiVersion: v1\n          kind: Secret\n          metadata: {name: p}\n          stringData:\n            pw: y\n";
        assert_eq!(hits(hr).len(), 2, "{:?}", hits(hr));
        let es = "kind: ExternalSecret\nspec:\n  target:\n    template:\n      data:\n        password: hunter2\n        url: '{{ .url }}'\n        config: |\n          user: admin\n          token: abc123\n";
        assert_eq!(hits(es).len(), 2);
        let es_ok = "kind: ExternalSecret\nspec:\n  target:\n    template:\n      data:\n        password: '{{ .password }}'\n  dataFrom:\n  - extract: {key: app}\n";
        assert!(hits(es_ok).is_empty());
    }
}
