//! The External Secrets Operator `ExternalSecret` (apiVersion `external-secrets.io/v1`):
//! a model of the keys it templates (grouped, with comments, anchors and aliases), the
//! small "keys spec" file format that describes them, the manifest text (written by hand:
//! comments per group, `&anchor`/`*alias`, hints as trailing comments), the checklist of
//! password-manager items to create, and building a spec from an existing Secret (key
//! names only: values are never read).

use std::collections::{BTreeMap, HashSet};

use crate::stores::yaml::resolve::plain_safe;
use crate::tree::{Branch, Item, Value};

/// Where one templated key's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A field of a password-manager item: `"{{ .FIELD }}"`.
    Field(String),
    /// Text written as is (a default such as `https://plane.${SECRET_DOMAIN}`, or a
    /// template such as `postgresql://{{ .USER }}@host`).
    Literal(String),
    /// The value of an earlier key with this anchor: `*name`.
    Alias(String),
}

/// One key of the target Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key in the generated Secret.
    pub name: String,
    /// Its value.
    pub source: Source,
    /// `&anchor` on the value, so later keys can reuse it.
    pub anchor: Option<String>,
    /// A trailing comment (e.g. `openssl rand -hex 32`).
    pub hint: Option<String>,
    /// Written commented out (an optional integration).
    pub optional: bool,
    /// The password-manager item holding the field (default: the app's item).
    pub item: Option<String>,
}

/// Keys grouped by function, under one comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The comment above the group.
    pub title: String,
    /// The keys.
    pub entries: Vec<Entry>,
}

/// A whole ExternalSecret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSecret {
    /// `metadata.name` (also the main item extracted from the store).
    pub name: String,
    /// `metadata.namespace`, if given.
    pub namespace: Option<String>,
    /// `spec.secretStoreRef.name`.
    pub store: String,
    /// `spec.secretStoreRef.kind` (`SecretStore` or `ClusterSecretStore`).
    pub store_kind: String,
    /// `spec.target.name`.
    pub target: String,
    /// `spec.target.template.type` (e.g. `kubernetes.io/dockerconfigjson`), if any.
    pub secret_type: Option<String>,
    /// `spec.refreshInterval`.
    pub refresh: String,
    /// The items extracted with `dataFrom` (the first is the app's), with an optional comment.
    pub extracts: Vec<(String, Option<String>)>,
    /// The templated keys.
    pub groups: Vec<Group>,
}

/// A key name the CRD accepts (`^[-._a-zA-Z0-9]+$`).
pub fn valid_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A Kubernetes object name (RFC 1123 subdomain, as the CRD's name patterns).
pub fn valid_object_name(name: &str) -> bool {
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(ok_label)
}

fn valid_anchor(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The Go-template expression that reads `field` from the extracted data.
pub fn field_ref(field: &str) -> String {
    let ident = field
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ident {
        format!("{{{{ .{field} }}}}")
    } else {
        let escaped = field.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{{{{ index . \"{escaped}\" }}}}")
    }
}

/// Field names a literal template reads (`{{ .NAME }}` and `{{ index . "name" }}`).
pub fn fields_in_template(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = rest.get(i + 2..).unwrap_or("");
        let Some(end) = after.find("}}") else { break };
        let inner = after
            .get(..end)
            .unwrap_or("")
            .trim()
            .trim_matches('-')
            .trim();
        if let Some(f) = inner.strip_prefix('.') {
            if !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                out.push(f.to_string());
            }
        } else if let Some(q) = inner.strip_prefix("index . \"")
            && let Some(f) = q.strip_suffix('"')
        {
            out.push(f.to_string());
        }
        rest = after.get(end + 2..).unwrap_or("");
    }
    out
}

impl ExternalSecret {
    /// Check names, anchors and aliases: every key valid and unique, every alias after
    /// its anchor, no anchor twice.
    pub fn validate(&self) -> Result<(), String> {
        for (what, n) in [("name", &self.name), ("target", &self.target)] {
            if !valid_object_name(n) {
                return Err(format!(
                    "the {what} {n:?} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')"
                ));
            }
        }
        if !valid_object_name(&self.store) {
            return Err(format!(
                "the store name {:?} is not a valid Kubernetes name",
                self.store
            ));
        }
        if let Some(ns) = &self.namespace
            && !valid_object_name(ns)
        {
            return Err(format!(
                "the namespace {ns:?} is not a valid Kubernetes name"
            ));
        }
        let mut names = HashSet::new();
        let mut anchors = HashSet::new();
        for e in self.groups.iter().flat_map(|g| &g.entries) {
            if !valid_key(&e.name) {
                return Err(format!(
                    "invalid key name {:?}: ExternalSecret keys may only hold letters, digits, '-', '.' and '_' (^[-._a-zA-Z0-9]+$)",
                    e.name
                ));
            }
            if !e.optional && !names.insert(e.name.clone()) {
                return Err(format!("the key {} is listed twice", e.name));
            }
            if let Source::Alias(a) = &e.source {
                if e.optional {
                    // Commented out: nothing to resolve.
                } else if !anchors.contains(a) {
                    return Err(format!(
                        "the key {} reuses *{a}, but no earlier key has the anchor {a}",
                        e.name
                    ));
                }
            }
            if let Some(a) = &e.anchor {
                if !valid_anchor(a) {
                    return Err(format!(
                        "invalid anchor name {a:?}: use letters, digits, '-' and '_'"
                    ));
                }
                if e.optional {
                    return Err(format!(
                        "the optional key {} cannot carry an anchor",
                        e.name
                    ));
                }
                if !anchors.insert(a.clone()) {
                    return Err(format!("the anchor {a} is defined twice"));
                }
            }
        }
        Ok(())
    }

    /// The manifest text (2-space indentation, one document).
    pub fn render(&self) -> String {
        let mut o = String::new();
        o.push_str("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n");
        o.push_str(&format!("  name: {}\n", scalar(&self.name)));
        if let Some(ns) = &self.namespace {
            o.push_str(&format!("  namespace: {}\n", scalar(ns)));
        }
        o.push_str("spec:\n");
        o.push_str(&format!("  refreshInterval: {}\n", scalar(&self.refresh)));
        o.push_str("  secretStoreRef:\n");
        o.push_str(&format!("    kind: {}\n", scalar(&self.store_kind)));
        o.push_str(&format!("    name: {}\n", scalar(&self.store)));
        o.push_str("  target:\n");
        o.push_str(&format!("    name: {}\n", scalar(&self.target)));
        o.push_str("    template:\n      engineVersion: v2\n");
        if let Some(t) = &self.secret_type {
            o.push_str(&format!("      type: {}\n", scalar(t)));
        }
        let any = self
            .groups
            .iter()
            .any(|g| g.entries.iter().any(|e| !e.optional));
        if any {
            o.push_str("      data:\n");
        } else {
            o.push_str("      data: {}\n");
        }
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                o.push('\n');
            }
            for line in g.title.lines() {
                o.push_str(format!("        # {line}").trim_end());
                o.push('\n');
            }
            for e in &g.entries {
                o.push_str("        ");
                if e.optional {
                    o.push_str("# ");
                }
                o.push_str(&e.name);
                o.push(':');
                if let Some(a) = &e.anchor {
                    o.push_str(&format!(" &{a}"));
                }
                match &e.source {
                    Source::Field(f) => o.push_str(&format!(" {}", double_quoted(&field_ref(f)))),
                    // Templates are quoted so the braces read as text at a glance.
                    Source::Literal(t) if t.contains("{{") => {
                        o.push_str(&format!(" {}", double_quoted(t)))
                    }
                    Source::Literal(t) => o.push_str(&format!(" {}", scalar(t))),
                    Source::Alias(a) => o.push_str(&format!(" *{a}")),
                }
                if let Some(h) = &e.hint {
                    o.push_str(&format!(" # {}", h.replace('\n', " ")));
                }
                o.push('\n');
            }
        }
        o.push_str("  dataFrom:\n");
        for (key, comment) in &self.extracts {
            if let Some(c) = comment {
                o.push_str(&format!("    # {}\n", c.replace('\n', " ")));
            }
            o.push_str(&format!("    - extract:\n        key: {}\n", scalar(key)));
        }
        o
    }

    /// The password-manager items and fields this ExternalSecret reads, per item in
    /// `extracts` order: `(item, [(field, note)])`. Never values.
    pub fn items(&self) -> Vec<(String, Vec<(String, String)>)> {
        let main = self
            .extracts
            .first()
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| self.name.clone());
        let mut order: Vec<String> = self.extracts.iter().map(|(k, _)| k.clone()).collect();
        let mut by_item: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for e in self.groups.iter().flat_map(|g| &g.entries) {
            let item = e.item.clone().unwrap_or_else(|| main.clone());
            let mut note = Vec::new();
            if e.optional {
                note.push("optional".to_string());
            }
            if let Some(h) = &e.hint {
                note.push(format!("generate: {h}"));
            }
            let fields: Vec<String> = match &e.source {
                Source::Field(f) => vec![f.clone()],
                Source::Literal(t) => fields_in_template(t),
                Source::Alias(_) => Vec::new(),
            };
            for f in fields {
                if seen.insert((item.clone(), f.clone())) {
                    if !order.contains(&item) {
                        order.push(item.clone());
                    }
                    by_item
                        .entry(item.clone())
                        .or_default()
                        .push((f, note.join("; ")));
                }
            }
        }
        order
            .into_iter()
            .filter_map(|i| by_item.remove(&i).map(|f| (i, f)))
            .collect()
    }

    /// The checklist text (`--items`).
    pub fn items_text(&self) -> String {
        let mut o = format!(
            "Items to create in the password manager behind {} {}:\n",
            self.store_kind, self.store
        );
        for (item, fields) in self.items() {
            o.push_str(&format!("  {item}\n"));
            let w = fields.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
            for (f, note) in fields {
                if note.is_empty() {
                    o.push_str(&format!("    [ ] {f}\n"));
                } else {
                    o.push_str(&format!("    [ ] {f:<w$}  ({note})\n"));
                }
            }
        }
        o
    }
}

/// A scalar on one line: plain when that reads back as the same string (in YAML 1.1 and
/// 1.2), else double-quoted.
pub fn scalar(s: &str) -> String {
    if plain_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

pub use crate::stores::yaml::double_quoted;

/// What a keys spec file says (before the command line's options are applied).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySpec {
    /// `app:` (the item name and the default metadata name).
    pub app: Option<String>,
    /// `prefix:` for `key:` entries (default: the app upper-cased plus `_`).
    pub prefix: Option<String>,
    /// `extracts:` beyond the app's own item.
    pub extracts: Vec<(String, Option<String>)>,
    /// The groups (entries named by `key:` still unprefixed: see [`KeySpec::resolve`]).
    pub groups: Vec<SpecGroup>,
}

/// A group as written in a spec file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecGroup {
    /// The comment above the group.
    pub title: String,
    /// Entries: `(name, prefixed)` plus the rest of the entry.
    pub entries: Vec<(String, bool, Entry)>,
}

/// The default prefix for an app: `plane` → `PLANE_`.
pub fn default_prefix(app: &str) -> String {
    let mut p: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    p.push('_');
    p
}

impl KeySpec {
    /// Parse a spec document (already read as a tree).
    ///
    /// ```yaml
    /// app: plane
    /// prefix: PLANE_
    /// extracts:
    ///   - key: cloudnative-pg
    ///     comment: superuser password for the init container
    /// groups:
    ///   - title: Database
    ///     keys:
    ///       - postgres_user                  # PLANE_POSTGRES_USER: "{{ .PLANE_POSTGRES_USER }}"
    ///       - {key: postgres_db, default: plane, anchor: db_name}
    ///       - {name: INIT_POSTGRES_DBNAME, alias: db_name}
    ///       - {name: INIT_POSTGRES_SUPER_PASS, field: POSTGRES_SUPER_PASS, item: cloudnative-pg}
    ///       - {key: secret_key, hint: openssl rand -hex 32}
    ///       - {key: smtp_password, optional: true}
    /// ```
    pub fn from_tree(doc: &Branch) -> Result<KeySpec, String> {
        let mut spec = KeySpec::default();
        for item in &doc.items {
            let Item::Pair(k, v) = item else { continue };
            match k.as_str() {
                "app" => spec.app = Some(string(v, "app")?),
                "prefix" => spec.prefix = Some(string_or_empty(v, "prefix")?),
                "extracts" => {
                    for x in list(v, "extracts")? {
                        match x {
                            Value::Str(s) => spec.extracts.push((s.clone(), None)),
                            Value::Branch(b) => {
                                let key = b.get("key").ok_or("each extract needs a `key`")?;
                                let comment =
                                    b.get("comment").map(|c| string(c, "comment")).transpose()?;
                                spec.extracts.push((string(key, "extracts.key")?, comment));
                            }
                            _ => {
                                return Err(
                                    "each extract is an item name or {key:, comment:}".into()
                                );
                            }
                        }
                    }
                }
                "groups" => {
                    for g in list(v, "groups")? {
                        let Value::Branch(g) = g else {
                            return Err("each group is a mapping with `title` and `keys`".into());
                        };
                        let title = g
                            .get("title")
                            .map(|t| string(t, "title"))
                            .transpose()?
                            .unwrap_or_default();
                        let mut group = SpecGroup {
                            title,
                            entries: Vec::new(),
                        };
                        for e in list(g.get("keys").ok_or("each group needs `keys`")?, "keys")? {
                            group.entries.push(spec_entry(e)?);
                        }
                        spec.groups.push(group);
                    }
                }
                other => {
                    return Err(format!(
                        "unknown field {other:?} (expected app, prefix, extracts, groups)"
                    ));
                }
            }
        }
        Ok(spec)
    }

    /// Apply the prefix to `key:` entries (upper-cased) and their fields.
    pub fn resolve_groups(&self, prefix: &str) -> Vec<Group> {
        self.groups
            .iter()
            .map(|g| Group {
                title: g.title.clone(),
                entries: g
                    .entries
                    .iter()
                    .map(|(name, prefixed, e)| {
                        let mut e = e.clone();
                        if *prefixed {
                            let full = format!("{prefix}{}", name.to_ascii_uppercase());
                            e.name = full.clone();
                            if e.source == Source::Field(String::new()) {
                                e.source = Source::Field(full);
                            }
                        } else if e.source == Source::Field(String::new()) {
                            e.source = Source::Field(name.clone());
                        }
                        e
                    })
                    .collect(),
            })
            .collect()
    }
}

fn spec_entry(v: &Value) -> Result<(String, bool, Entry), String> {
    let blank = |name: &str| Entry {
        name: name.to_string(),
        source: Source::Field(String::new()),
        anchor: None,
        hint: None,
        optional: false,
        item: None,
    };
    match v {
        Value::Str(s) => Ok((s.clone(), true, blank(s))),
        Value::Branch(b) => {
            let (name, prefixed) =
                match (b.get("key"), b.get("name")) {
                    (Some(k), None) => (string(k, "key")?, true),
                    (None, Some(n)) => (string(n, "name")?, false),
                    _ => return Err(
                        "each key entry needs exactly one of `key` (prefixed) or `name` (as is)"
                            .into(),
                    ),
                };
            let mut e = blank(&name);
            let mut sources = 0;
            for item in &b.items {
                let Item::Pair(k, v) = item else { continue };
                match k.as_str() {
                    "key" | "name" => {}
                    "field" => {
                        e.source = Source::Field(string(v, "field")?);
                        sources += 1;
                    }
                    "default" | "value" => {
                        e.source = Source::Literal(scalar_text(v, k)?);
                        sources += 1;
                    }
                    "alias" => {
                        e.source = Source::Alias(string(v, "alias")?);
                        sources += 1;
                    }
                    "anchor" => e.anchor = Some(string(v, "anchor")?),
                    "hint" => e.hint = Some(string(v, "hint")?),
                    "item" => e.item = Some(string(v, "item")?),
                    "optional" => match v {
                        Value::Bool(b) => e.optional = *b,
                        _ => return Err(format!("{name}: `optional` is true or false")),
                    },
                    other => {
                        return Err(format!(
                            "{name}: unknown field {other:?} (expected key/name, field, default, value, alias, anchor, hint, item, optional)"
                        ));
                    }
                }
            }
            if sources > 1 {
                return Err(format!(
                    "{name}: give only one of field, default, value and alias"
                ));
            }
            Ok((name, prefixed, e))
        }
        _ => Err("each key entry is a name or a mapping".into()),
    }
}

fn string(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(format!("`{what}` must be a non-empty string")),
    }
}

fn string_or_empty(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        _ => Err(format!("`{what}` must be a string")),
    }
}

fn scalar_text(v: &Value, what: &str) -> Result<String, String> {
    Ok(match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => crate::tree::format_float_plain(*f),
        _ => return Err(format!("`{what}` must be a scalar")),
    })
}

fn list<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], String> {
    match v {
        Value::List(l) => Ok(l.as_slice()),
        _ => Err(format!("`{what}` must be a list")),
    }
}

/// The key names of a Secret document (`data` and `stringData`) or of a SealedSecret
/// (`spec.encryptedData` and `spec.template.data`), its name, namespace and type. Values
/// are never looked at, so an encrypted or sealed Secret works without a key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretKeys {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `type`, unless `Opaque`.
    pub secret_type: Option<String>,
    /// Keys of `data` then `stringData`, in file order, without duplicates.
    pub keys: Vec<String>,
}

/// Read the key names of the first `kind: Secret` or `kind: SealedSecret` document.
pub fn secret_keys(docs: &[Branch]) -> Result<SecretKeys, String> {
    let doc = docs
        .iter()
        .find(|d| matches!(d.get("kind"), Some(Value::Str(k)) if k == "Secret" || k == "SealedSecret"))
        .ok_or("no `kind: Secret` or `kind: SealedSecret` document found")?;
    let mut out = SecretKeys::default();
    let sealed = matches!(doc.get("kind"), Some(Value::Str(k)) if k == "SealedSecret");
    // A SealedSecret's Secret: the keys of spec.encryptedData and spec.template.data, the
    // type and (when the object has none) the name and namespace of spec.template.
    let (body, sections): (&Branch, [&str; 2]) = if sealed {
        let spec = match doc.get("spec") {
            Some(Value::Branch(s)) => s,
            _ => return Err("the SealedSecret has no spec".into()),
        };
        if spec.get("encryptedData").is_none() && spec.get("data").is_some() {
            return Err("the SealedSecret is in the legacy spec.data form, which holds no key names: unseal it (seal seal --recovery-unseal) and seal it again".into());
        }
        (spec, ["encryptedData", "template"])
    } else {
        (doc, ["data", "stringData"])
    };
    let template = match body.get("template") {
        Some(Value::Branch(t)) if sealed => Some(t),
        _ => None,
    };
    for meta in [
        doc.get("metadata"),
        template.and_then(|t| t.get("metadata")),
    ] {
        if let Some(Value::Branch(m)) = meta {
            if let (None, Some(Value::Str(n))) = (&out.name, m.get("name")) {
                out.name = Some(n.clone());
            }
            if let (None, Some(Value::Str(n))) = (&out.namespace, m.get("namespace")) {
                out.namespace = Some(n.clone());
            }
        }
    }
    if let Some(Value::Str(t)) = template.unwrap_or(doc).get("type")
        && t != "Opaque"
    {
        out.secret_type = Some(t.clone());
    }
    for section in sections {
        let (found, what) = match (section, template) {
            ("template", Some(t)) => (t.get("data"), "spec.template.data"),
            ("template", None) => (None, ""),
            (s, _) => (body.get(s), s),
        };
        match found {
            Some(Value::Branch(b)) => {
                for item in &b.items {
                    if let Item::Pair(k, _) = item
                        && !out.keys.contains(k)
                    {
                        out.keys.push(k.clone());
                    }
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(format!("`{what}` is not a mapping")),
        }
    }
    if out.keys.is_empty() {
        return Err(if sealed {
            "the SealedSecret has no keys under spec.encryptedData or spec.template.data".into()
        } else {
            "the Secret has no keys under data or stringData".into()
        });
    }
    Ok(out)
}

/// One group with one entry per key: `KEY: "{{ .PREFIXKEY }}"`.
pub fn group_from_keys(title: &str, keys: &[String], prefix: &str) -> Group {
    Group {
        title: title.to_string(),
        entries: keys
            .iter()
            .map(|k| Entry {
                name: k.clone(),
                source: Source::Field(format!("{prefix}{k}")),
                anchor: None,
                hint: None,
                optional: false,
                item: None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(groups: Vec<Group>) -> ExternalSecret {
        ExternalSecret {
            name: "demo".into(),
            namespace: Some("home".into()),
            store: "onepassword-connect".into(),
            store_kind: "ClusterSecretStore".into(),
            target: "demo-secret".into(),
            secret_type: None,
            refresh: "1h".into(),
            extracts: vec![("demo".into(), None)],
            groups,
        }
    }

    fn entry(name: &str, source: Source) -> Entry {
        Entry {
            name: name.into(),
            source,
            anchor: None,
            hint: None,
            optional: false,
            item: None,
        }
    }

    #[test]
    fn key_names_follow_the_crd_pattern() {
        for ok in ["A", "a.b-c_d", "PLANE_SECRET_KEY", "age.agekey"] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a:b", "{{x}}"] {
            assert!(!valid_key(bad), "{bad}");
        }
        let e = es(vec![Group {
            title: "x".into(),
            entries: vec![entry("bad key", Source::Field("X".into()))],
        }]);
        assert!(e.validate().unwrap_err().contains("^[-._a-zA-Z0-9]+$"));
    }

    #[test]
    fn field_refs_use_index_for_non_identifiers() {
        assert_eq!(field_ref("PLANE_X"), "{{ .PLANE_X }}");
        assert_eq!(
            field_ref("postgres-password"),
            "{{ index . \"postgres-password\" }}"
        );
        assert_eq!(field_ref("1st"), "{{ index . \"1st\" }}");
        assert_eq!(
            fields_in_template("postgresql://{{ .U }}:{{ index . \"p-w\" }}@h/{{.D}}"),
            vec!["U", "p-w", "D"]
        );
    }

    #[test]
    fn aliases_must_follow_their_anchor() {
        let mut a = entry("A", Source::Literal("x".into()));
        a.anchor = Some("a".into());
        let b = entry("B", Source::Alias("a".into()));
        assert!(
            es(vec![Group {
                title: "g".into(),
                entries: vec![a.clone(), b.clone()]
            }])
            .validate()
            .is_ok()
        );
        let e = es(vec![Group {
            title: "g".into(),
            entries: vec![b, a],
        }])
        .validate()
        .unwrap_err();
        assert!(e.contains("no earlier key has the anchor a"), "{e}");
    }

    #[test]
    fn render_parses_back_with_aliases_resolved() {
        let mut a = entry("DB_HOST", Source::Literal("db.svc".into()));
        a.anchor = Some("host".into());
        let mut s = entry("SECRET", Source::Field("APP_SECRET".into()));
        s.hint = Some("openssl rand -hex 32".into());
        let mut o = entry("SMTP", Source::Field("APP_SMTP".into()));
        o.optional = true;
        let x = es(vec![
            Group {
                title: "Database".into(),
                entries: vec![a, entry("INIT_HOST", Source::Alias("host".into()))],
            },
            Group {
                title: "Runtime".into(),
                entries: vec![s, o],
            },
        ]);
        x.validate().unwrap();
        let text = x.render();
        assert!(text.contains("DB_HOST: &host db.svc\n"), "{text}");
        assert!(text.contains("INIT_HOST: *host\n"), "{text}");
        assert!(
            text.contains("SECRET: \"{{ .APP_SECRET }}\" # openssl rand -hex 32\n"),
            "{text}"
        );
        assert!(text.contains("# SMTP: \"{{ .APP_SMTP }}\"\n"), "{text}");
        let parsed = crate::stores::Format::Yaml
            .store()
            .load_plain(text.as_bytes())
            .unwrap();
        let spec = match parsed.docs[0].get("spec") {
            Some(Value::Branch(b)) => b.clone(),
            _ => panic!(),
        };
        let data = match spec.get("target") {
            Some(Value::Branch(t)) => match t.get("template") {
                Some(Value::Branch(t)) => match t.get("data") {
                    Some(Value::Branch(d)) => d.clone(),
                    _ => panic!(),
                },
                _ => panic!(),
            },
            _ => panic!(),
        };
        assert_eq!(data.get("INIT_HOST"), Some(&Value::Str("db.svc".into())));
        assert_eq!(
            data.get("SECRET"),
            Some(&Value::Str("{{ .APP_SECRET }}".into()))
        );
        assert_eq!(data.get("SMTP"), None);
        let items = x.items_text();
        assert!(
            items.contains("[ ] APP_SECRET  (generate: openssl rand -hex 32)"),
            "{items}"
        );
        assert!(items.contains("[ ] APP_SMTP    (optional)"), "{items}");
    }

    #[test]
    fn spec_files_parse_and_resolve_prefixes() {
        let text = "app: demo\nextracts: [db]\ngroups:\n  - title: T\n    keys:\n      - user\n      - {key: url, default: \"https://x.${SECRET_DOMAIN}\", anchor: u}\n      - {name: INIT_URL, alias: u}\n      - {name: SUPER, field: SUPER_PASS, item: db}\n";
        let parsed = crate::stores::Format::Yaml
            .store()
            .load_plain(text.as_bytes())
            .unwrap();
        let spec = KeySpec::from_tree(&parsed.docs[0]).unwrap();
        assert_eq!(spec.app.as_deref(), Some("demo"));
        let g = spec.resolve_groups("DEMO_");
        let names: Vec<&str> = g[0].entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["DEMO_USER", "DEMO_URL", "INIT_URL", "SUPER"]);
        assert_eq!(g[0].entries[0].source, Source::Field("DEMO_USER".into()));
        assert_eq!(
            g[0].entries[1].source,
            Source::Literal("https://x.${SECRET_DOMAIN}".into())
        );
        assert_eq!(g[0].entries[3].item.as_deref(), Some("db"));
        for bad in [
            "groups: [{keys: [{key: a, name: b}]}]",
            "groups: [{keys: [{key: a, field: X, default: y}]}]",
            "groups: [{keys: [{key: a, colour: red}]}]",
            "wat: 1",
        ] {
            let p = crate::stores::Format::Yaml
                .store()
                .load_plain(bad.as_bytes())
                .unwrap();
            assert!(KeySpec::from_tree(&p.docs[0]).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_keys_reads_names_only() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\ntype: kubernetes.io/basic-auth\ndata: {a: eA==}\nstringData: {b: y, a: z}\n";
        let p = crate::stores::Format::Yaml
            .store()
            .load_plain(text.as_bytes())
            .unwrap();
        let k = secret_keys(&p.docs).unwrap();
        assert_eq!(k.keys, ["a", "b"]);
        assert_eq!(k.name.as_deref(), Some("s"));
        assert_eq!(k.secret_type.as_deref(), Some("kubernetes.io/basic-auth"));
        let p = crate::stores::Format::Yaml
            .store()
            .load_plain(b"kind: ConfigMap\n")
            .unwrap();
        assert!(secret_keys(&p.docs).is_err());
    }

    #[test]
    fn sealed_secret_keys_come_from_encrypted_data_and_template() {
        let load = |t: &str| {
            crate::stores::Format::Yaml
                .store()
                .load_plain(t.as_bytes())
                .unwrap()
                .docs
        };
        let text = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: db}\nspec:\n  encryptedData: {password: AgBx, user: AgBy}\n  template:\n    metadata: {name: db, namespace: apps}\n    type: kubernetes.io/basic-auth\n    data: {url: 'postgres://{{ .user }}:{{ .password }}@db/app', user: x}\n";
        let k = secret_keys(&load(text)).unwrap();
        assert_eq!(k.keys, ["password", "user", "url"]);
        assert_eq!(k.name.as_deref(), Some("db"));
        assert_eq!(k.namespace.as_deref(), Some("apps"));
        assert_eq!(k.secret_type.as_deref(), Some("kubernetes.io/basic-auth"));
        let legacy = "kind: SealedSecret\nmetadata: {name: old}\nspec: {data: AgBz}\n";
        assert!(secret_keys(&load(legacy)).unwrap_err().contains("legacy"));
        let empty = "kind: SealedSecret\nmetadata: {name: e}\nspec: {encryptedData: {}}\n";
        assert!(
            secret_keys(&load(empty))
                .unwrap_err()
                .contains("SealedSecret")
        );
    }
}
