//! What `seal check` knows about Bitnami `SealedSecret`s (`bitnami.com/v1alpha1`), in
//! leniently read trees ([`super::parse`]). Sealed values in `spec.encryptedData` are
//! not findings, but a value there that cannot be a sealed value (it may be plaintext)
//! is. A literal credential in `spec.template.data` is a finding: the controller copies it
//! into the Secret as written. Template expressions over the sealed keys
//! (`{{ index . "password" }}`, `{{ .password }}`) are not. A plaintext Secret with the
//! name (and namespace) of a SealedSecret is one too, in the same file ([`super::objects`])
//! or anywhere in the same scan ([`across_files`]). Pure: trees in, findings out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::objects::{Class, classify, literal_credential};
use super::parse::{Node, PLACEHOLDER};
use super::{Finding, Rule, Severity};

/// A Secret with plaintext values, or a SealedSecret, by name: what [`across_files`] pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// A SealedSecret (else a plaintext Secret).
    pub sealed: bool,
    /// `metadata.namespace` (empty when the manifest names none, as under kustomize).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The path findings show.
    pub path: String,
    /// Where the object starts (1-based line, column).
    pub line: usize,
    /// Column.
    pub column: usize,
    /// The reason of a `seal:allow plaintext-secret` directive at the object's start
    /// (filled in by the walk, which has the file's comments).
    pub allow: Option<String>,
}

impl Named {
    /// Whether the two can stand for the same Secret: same name, and the same namespace
    /// unless one of them names none (kustomize sets it then).
    pub fn same_secret(&self, other: &Named) -> bool {
        self.name == other.name
            && (self.namespace == other.namespace
                || self.namespace.is_empty()
                || other.namespace.is_empty())
    }
}

/// One finding about a SealedSecret's own content.
pub struct Hit<'n> {
    /// The value it is about.
    pub at: &'n Node,
    /// Its rule and level: a possible plaintext value is an error, a template that names
    /// no sealed key (the controller writes `<no value>`) a warning.
    pub rule: Rule,
    /// See `rule`.
    pub severity: Severity,
    /// What, naming keys only.
    pub message: String,
    /// What to do (`FILE` stands for the file's path).
    pub hint: &'static str,
}

/// A `kind: SealedSecret` of `bitnami.com` (or with no apiVersion).
pub fn is_sealed_secret(node: &Node) -> bool {
    node.str_at("kind") == Some("SealedSecret")
        && node
            .get("apiVersion")
            .is_none_or(|a| a.text().is_some_and(|a| a.starts_with("bitnami.com/")))
}

/// `(namespace, name)` of a SealedSecret (its metadata, else its template's).
pub fn name_of(ss: &Node) -> Option<(String, String)> {
    let template = ss
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"));
    let field = |k: &str| {
        ss.get("metadata")
            .and_then(|m| m.str_at(k))
            .or_else(|| template.and_then(|m| m.str_at(k)))
    };
    let name = field("name")?;
    Some((
        field("namespace").unwrap_or("").to_string(),
        name.to_string(),
    ))
}

/// Whether `text` can be a sealed value: base64 whose first two bytes give the length of
/// an RSA block (a multiple of 64 bytes, 512 to 16,384 bits). The rest is not measured:
/// examples and docs shorten sealed values, and a shortened one is not plaintext.
fn looks_sealed(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(raw) = STANDARD.decode(compact.as_bytes()) else {
        return false;
    };
    let Some((len, _)) = raw.split_first_chunk::<2>() else {
        return false;
    };
    let n = usize::from(u16::from_be_bytes(*len));
    (64..=2048).contains(&n) && n % 64 == 0
}

/// A template value that holds a URL with a literal password (`scheme://user:pw@host`).
fn url_with_password(value: &str) -> bool {
    value.match_indices("://").any(|(i, _)| {
        let after = &value[i + 3..];
        let authority = after.split(['/', '?', '#', ' ', '\n']).next().unwrap_or("");
        let Some((userinfo, _)) = authority.rsplit_once('@') else {
            return false;
        };
        userinfo
            .split_once(':')
            .is_some_and(|(_, pw)| classify(pw) == Class::Plain)
    })
}

/// The keys a Go template value reads from the sealed data: `{{ index . "key" }}` (or
/// with a raw string or `$`) and `{{ .key }}`. Other expressions are not followed.
fn template_refs(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find("{{") {
        let inner = &rest[open + 2..];
        let Some(close) = inner.find("}}") else { break };
        let action = &inner[..close];
        rest = &inner[close + 2..];
        let bytes = action.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        for (i, _) in action.match_indices('.') {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            // `.key` begins a field chain only after a delimiter, not in `$x.key` or `a.b`.
            if before.is_some_and(|b| word(b) || b == b'$' || b == b'.' || b == b')') {
                continue;
            }
            let name_len = bytes[i + 1..].iter().take_while(|&&c| word(c)).count();
            if name_len > 0 {
                out.push(&action[i + 1..i + 1 + name_len]);
            }
        }
        let mut words = action.split_whitespace().peekable();
        while let Some(w) = words.next() {
            let w = w.trim_start_matches('(');
            if w != "index" {
                continue;
            }
            if !matches!(words.peek(), Some(&"." | &"$")) {
                continue;
            }
            words.next();
            if let Some(arg) = words.next() {
                let arg = arg.trim_end_matches(')');
                let quoted = arg
                    .strip_prefix('"')
                    .and_then(|a| a.strip_suffix('"'))
                    .or_else(|| arg.strip_prefix('`').and_then(|a| a.strip_suffix('`')));
                if let Some(k) = quoted.filter(|k| !k.contains('\\')) {
                    out.push(k);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The findings about one SealedSecret's content.
pub fn hits(ss: &Node) -> Vec<Hit<'_>> {
    let name = name_of(ss).map_or_else(
        || "a SealedSecret".to_string(),
        |(_, n)| format!("SealedSecret {:?}", n.replace(PLACEHOLDER, "{{…}}")),
    );
    let mut out = Vec::new();
    let spec = ss.get("spec");
    let sealed_keys: Option<Vec<&str>> = match spec.and_then(|s| s.get("encryptedData")) {
        Some(Node::Map(entries, _)) => entries.iter().map(|(k, _)| k.text()).collect(),
        _ => None,
    };
    if let Some(Node::Map(entries, _)) = spec.and_then(|s| s.get("encryptedData")) {
        for (k, v) in entries {
            let (Some(key), Some(value)) = (k.text(), v.text()) else {
                continue;
            };
            // Empty, or templated by a generator: nothing literal to judge.
            if classify(value) != Class::Plain || value.contains(PLACEHOLDER) {
                continue;
            }
            if !looks_sealed(value) {
                out.push(Hit {
                    at: v,
                    rule: Rule::PlaintextSecret,
                    severity: Severity::Error,
                    message: format!(
                        "{name} holds spec.encryptedData[{key:?}], which is not a sealed value (the controller cannot open it): it may be plaintext"
                    ),
                    hint: "seal the value for the controller's certificate: seal seal --raw --cert pub-cert.pem (or seal seal --merge-into FILE), and rotate it if it was plaintext",
                });
            }
        }
    }
    let data = spec
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("data"));
    if let Some(Node::Map(entries, _)) = data {
        for (k, v) in entries {
            let (Some(key), Some(value)) = (k.text(), v.text()) else {
                continue;
            };
            if literal_credential(key, value) || url_with_password(value) {
                out.push(Hit {
                    at: v,
                    rule: Rule::PlaintextSecret,
                    severity: Severity::Error,
                    message: format!(
                        "{name} writes a literal credential in spec.template.data[{key:?}] (the controller copies it into the Secret as written)"
                    ),
                    hint: "seal the value (seal seal --merge-into FILE --cert pub-cert.pem with a Secret holding it) and refer to it in the template: {{ index . \"key\" }}",
                });
            }
            // A reference to a key that is not sealed: the controller renders it as
            // `<no value>` (or an empty string) and the Secret is silently wrong.
            let Some(keys) = &sealed_keys else { continue };
            if keys.iter().any(|k| k.contains(PLACEHOLDER)) {
                continue;
            }
            for missing in template_refs(value)
                .into_iter()
                .filter(|r| !keys.contains(r))
            {
                out.push(Hit {
                    at: v,
                    rule: Rule::BadSecretValue,
                    severity: Severity::Warning,
                    message: format!(
                        "{name}'s spec.template.data[{key:?}] refers to {missing:?}, which spec.encryptedData does not hold (the controller writes <no value> there)"
                    ),
                    hint: "seal that key too (seal seal --merge-into FILE --cert pub-cert.pem), or correct the name in the template",
                });
            }
        }
    }
    out
}

/// The finding for a plaintext Secret that stands for the SealedSecret `sealed`.
pub fn shadow_message(secret: &str, sealed_where: &str) -> (String, String) {
    (
        format!(
            "Secret {secret:?} has the name of the SealedSecret {sealed_where}: its plaintext values are probably the sealed ones, in git (and the controller does not take over a Secret it did not create)"
        ),
        "delete the plaintext Secret (the controller creates it from the SealedSecret) and rotate the values it held: they are in the history".to_string(),
    )
}

/// The findings across files: each plaintext Secret with the name of a SealedSecret in
/// another file of the scan (pairs within one file are found there), with the reason of
/// the Secret's `seal:allow` directive when it has one.
pub fn across_files(objects: &[Named]) -> Vec<(Finding, Option<String>)> {
    let mut out = Vec::new();
    for plain in objects.iter().filter(|o| !o.sealed) {
        if objects
            .iter()
            .any(|o| o.sealed && o.path == plain.path && o.same_secret(plain))
        {
            continue; // found within its file
        }
        let Some(sealed) = objects
            .iter()
            .find(|o| o.sealed && o.path != plain.path && o.same_secret(plain))
        else {
            continue;
        };
        let (message, hint) = shadow_message(
            &plain.name,
            &format!("in {} (line {})", sealed.path, sealed.line),
        );
        let finding = Finding {
            path: plain.path.clone(),
            line: plain.line,
            column: plain.column,
            rule: Rule::PlaintextSecret,
            severity: Severity::Error,
            message,
            hint,
        };
        out.push((finding, plain.allow.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::parse;

    fn messages(src: &str) -> Vec<String> {
        let docs = parse::read(src).unwrap();
        hits(&docs[0]).into_iter().map(|h| h.message).collect()
    }

    fn sealed_value() -> String {
        let mut raw = vec![1u8, 0];
        raw.extend([7u8; 256 + 40]);
        STANDARD.encode(raw)
    }

    #[test]
    fn sealed_values_and_templates_over_them_are_clean() {
        let src = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {{name: db, namespace: apps}}\nspec:\n  encryptedData:\n    password: {}\n    empty: ''\n  template:\n    data:\n      url: 'postgres://app:{{{{ index . \"password\" }}}}@db:5432/app'\n      password2: '{{{{ .password }}}}'\n      host: db.apps.svc\n",
            sealed_value()
        );
        assert_eq!(messages(&src), Vec::<String>::new());
        let docs = parse::read(&src).unwrap();
        assert!(is_sealed_secret(&docs[0]));
        assert_eq!(name_of(&docs[0]), Some(("apps".into(), "db".into())));
    }

    #[test]
    fn literal_credentials_and_unsealed_values_are_found() {
        let src = "kind: SealedSecret\nmetadata: {name: db}\nspec:\n  encryptedData:\n    password: hunter2\n    word: password\n    short: AgBy3i4OJSWK\n  template:\n    data:\n      api_token: hunter2-token\n      url: 'postgres://app:hunter2@db/app'\n      config: |\n        user: admin\n        password: s3cr3t\n";
        let m = messages(src);
        assert_eq!(m.len(), 5, "{m:?}");
        assert!(m[0].contains("[\"password\"], which is not a sealed value"));
        assert!(m[1].contains("[\"word\"], which is not a sealed value"));
        assert!(m[2].contains("template.data[\"api_token\"]"));
        assert!(
            m.iter()
                .all(|m| !m.contains("hunter2") && !m.contains("s3cr3t"))
        );
    }

    #[test]
    fn template_references_are_read() {
        assert_eq!(
            template_refs(
                r#"postgres://{{ .user }}:{{ index . "pass-word" }}@{{ (index $ `host`) }}/{{.db}}"#
            ),
            ["db", "host", "pass-word", "user"]
        );
        assert_eq!(
            template_refs("{{ $x.user }} {{ .a.b }} no {{ printf \"%s\" . }} {{ .}}"),
            ["a"]
        );
        assert!(template_refs("plain text . with dots").is_empty());
    }

    #[test]
    fn a_template_over_an_unsealed_key_is_a_warning() {
        let src = format!(
            "kind: SealedSecret\nmetadata: {{name: db}}\nspec:\n  encryptedData:\n    password: {}\n  template:\n    data:\n      url: 'postgres://app:{{{{ index . \"pasword\" }}}}@db/app'\n      ok: '{{{{ .password }}}}'\n",
            sealed_value()
        );
        let docs = parse::read(&src).unwrap();
        let h = hits(&docs[0]);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].rule, h[0].severity),
            (Rule::BadSecretValue, Severity::Warning)
        );
        assert!(
            h[0].message.contains("refers to \"pasword\""),
            "{}",
            h[0].message
        );
    }

    #[test]
    fn names_pair_across_files_only() {
        let n = |sealed, ns: &str, path: &str| Named {
            sealed,
            namespace: ns.into(),
            name: "db".into(),
            path: path.into(),
            line: 1,
            column: 1,
            allow: None,
        };
        let found = across_files(&[n(true, "apps", "a.yaml"), n(false, "", "b.yaml")]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.path, "b.yaml");
        assert_eq!(found[0].1, None);
        let mut allowed = n(false, "apps", "b.yaml");
        allowed.allow = Some("fixture".into());
        let found = across_files(&[n(true, "apps", "a.yaml"), allowed]);
        assert_eq!(found[0].1.as_deref(), Some("fixture"));
        assert!(across_files(&[n(true, "apps", "a.yaml"), n(false, "other", "b.yaml")]).is_empty());
        assert!(across_files(&[n(true, "apps", "a.yaml"), n(false, "apps", "a.yaml")]).is_empty());
    }
}
