//! The KSOPS generator manifest (`apiVersion: viaduct.ai/v1`, `kind: ksops`) read the way
//! KSOPS reads it, and what it generates: the `files:` entries' plaintext emitted as is,
//! and one Secret per `secretFrom:` entry (`files`/`binaryFiles` with the `key=path` form,
//! `envs` read as dotenv). Also the KRM `ResourceList` envelope kustomize passes to an exec
//! function, and the opt-in placeholder rendering for CI without keys. No I/O: callers
//! hand in the decrypted bytes.

use std::collections::BTreeMap;

use base64::Engine;

use crate::tree::{Branch, Item, Value};

/// The default number of files KSOPS decrypts at once (`KSOPS_CONCURRENCY_LIMIT`).
pub const DEFAULT_CONCURRENCY: usize = 20;

/// What a placeholder value holds (placeholder mode never emits a real value).
pub const PLACEHOLDER: &str = "SEAL-PLACEHOLDER";

/// A generator manifest that does not say what to generate, or says it wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Neither `files` nor `secretFrom`.
    #[error(
        "the ksops generator has neither a `files` nor a `secretFrom` key, so it generates nothing"
    )]
    Empty,
    /// A field of the wrong shape.
    #[error("the ksops generator's `{field}` must be {expected}")]
    Shape {
        /// The field, as a path (`secretFrom[0].files`).
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A `key=path` entry with more than one `=`.
    #[error(
        "invalid entry {entry:?} in the ksops generator's {field}: write it as PATH or KEY=PATH (one `=`)"
    )]
    KeyPath {
        /// The entry.
        entry: String,
        /// Where it is.
        field: String,
    },
    /// `KSOPS_CONCURRENCY_LIMIT` is not a positive number.
    #[error("KSOPS_CONCURRENCY_LIMIT is {0:?}: it must be a whole number of at least 1")]
    Concurrency(String),
    /// The KRM input is not a ResourceList.
    #[error("{0}")]
    ResourceList(String),
}

/// The metadata KSOPS keeps for a generated Secret (kustomize's ObjectMeta).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations` (kustomize honours `kustomize.config.k8s.io/needs-hash` and
    /// `kustomize.config.k8s.io/behavior` here).
    pub annotations: BTreeMap<String, String>,
}

/// One `secretFrom:` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFrom {
    /// The Secret's metadata.
    pub metadata: Meta,
    /// `type`, when given.
    pub secret_type: Option<String>,
    /// `files`: `PATH` or `KEY=PATH`, into `stringData`.
    pub files: Vec<String>,
    /// `binaryFiles`: `PATH` or `KEY=PATH`, base64 into `data`.
    pub binary_files: Vec<String>,
    /// `envs`: dotenv files whose variables go into `stringData`.
    pub envs: Vec<String>,
}

/// A ksops generator manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generator {
    /// `files`: encrypted manifests emitted decrypted, as they are.
    pub files: Vec<String>,
    /// `secretFrom`: Secrets to build.
    pub secret_from: Vec<SecretFrom>,
}

/// Which decrypted file a generated piece needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An entry of `files`.
    Manifest,
    /// An entry of `secretFrom[].files`.
    File,
    /// An entry of `secretFrom[].binaryFiles`.
    Binary,
    /// An entry of `secretFrom[].envs`.
    Env,
}

/// One file to decrypt, in the order KSOPS reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The path, relative to the kustomization.
    pub path: String,
    /// The Secret key (`files`/`binaryFiles`), else empty.
    pub key: String,
    /// What the file is for.
    pub role: Role,
    /// The `secretFrom` entry it belongs to (`None` for `files`).
    pub secret: Option<usize>,
    /// The field it is listed in, for messages (`secretFrom[0].envs`).
    pub field: String,
}

impl Generator {
    /// Read a generator from its manifest document (unknown fields are ignored, as
    /// KSOPS's non-strict decoding does).
    pub fn from_doc(doc: &Branch) -> Result<Generator, ManifestError> {
        let files = doc.get("files");
        let secret_from = doc.get("secretFrom");
        if files.is_none() && secret_from.is_none() {
            return Err(ManifestError::Empty);
        }
        let mut g = Generator {
            files: strings(files, "files")?,
            secret_from: Vec::new(),
        };
        match secret_from {
            None | Some(Value::Null) => {}
            Some(Value::List(list)) => {
                for (i, v) in entries(list).enumerate() {
                    let Value::Branch(b) = v else {
                        return Err(shape(format!("secretFrom[{i}]"), "a mapping"));
                    };
                    g.secret_from.push(SecretFrom::from_branch(b, i)?);
                }
            }
            Some(_) => return Err(shape("secretFrom".into(), "a list")),
        }
        Ok(g)
    }

    /// Every file to decrypt, in KSOPS's order (`files`, then each `secretFrom`'s files,
    /// binary files and envs).
    pub fn jobs(&self) -> Result<Vec<Job>, ManifestError> {
        let mut jobs: Vec<Job> = self
            .files
            .iter()
            .map(|p| Job {
                path: p.clone(),
                key: String::new(),
                role: Role::Manifest,
                secret: None,
                field: "files".into(),
            })
            .collect();
        for (i, sf) in self.secret_from.iter().enumerate() {
            for (list, role, name) in [
                (&sf.files, Role::File, "files"),
                (&sf.binary_files, Role::Binary, "binaryFiles"),
                (&sf.envs, Role::Env, "envs"),
            ] {
                let field = format!("secretFrom[{i}].{name}");
                for entry in list {
                    let (key, path) = if role == Role::Env {
                        (String::new(), entry.clone())
                    } else {
                        key_path(entry).ok_or_else(|| ManifestError::KeyPath {
                            entry: entry.clone(),
                            field: field.clone(),
                        })?
                    };
                    jobs.push(Job {
                        path,
                        key,
                        role,
                        secret: Some(i),
                        field: field.clone(),
                    });
                }
            }
        }
        Ok(jobs)
    }

    /// The generated documents: each `files` entry's plaintext as it is, then each
    /// Secret as YAML (the caller joins them into one stream). `outputs` are the decrypted
    /// bytes of [`Generator::jobs`], in order.
    pub fn render(&self, jobs: &[Job], outputs: &[Vec<u8>]) -> Vec<String> {
        let mut pieces: Vec<String> = Vec::new();
        let mut secrets: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)> =
            vec![Default::default(); self.secret_from.len()];
        for (job, bytes) in jobs.iter().zip(outputs) {
            let text = String::from_utf8_lossy(bytes);
            match (job.role, job.secret) {
                (Role::Manifest, _) | (_, None) => pieces.push(text.into_owned()),
                (Role::File, Some(i)) => {
                    secrets[i].0.insert(job.key.clone(), text.into_owned());
                }
                (Role::Binary, Some(i)) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    secrets[i].1.insert(job.key.clone(), b64);
                }
                (Role::Env, Some(i)) => {
                    for (k, v) in parse_dotenv(&text) {
                        secrets[i].0.insert(k, v);
                    }
                }
            }
        }
        for (sf, (string_data, data)) in self.secret_from.iter().zip(secrets) {
            pieces.push(secret_yaml(&sf.secret_doc(string_data, data)));
        }
        pieces
    }
}

impl SecretFrom {
    fn from_branch(b: &Branch, i: usize) -> Result<SecretFrom, ManifestError> {
        let at = |f: &str| format!("secretFrom[{i}].{f}");
        let mut meta = Meta::default();
        match b.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Branch(m)) => {
                meta.name = scalar(m.get("name"));
                meta.namespace = scalar(m.get("namespace"));
                meta.labels = string_map(m.get("labels"), &at("metadata.labels"))?;
                meta.annotations = string_map(m.get("annotations"), &at("metadata.annotations"))?;
            }
            Some(_) => return Err(shape(at("metadata"), "a mapping")),
        }
        Ok(SecretFrom {
            metadata: meta,
            secret_type: scalar(b.get("type")).filter(|t| !t.is_empty()),
            files: strings(b.get("files"), &at("files"))?,
            binary_files: strings(b.get("binaryFiles"), &at("binaryFiles"))?,
            envs: strings(b.get("envs"), &at("envs"))?,
        })
    }

    /// The Secret document: apiVersion, kind, metadata, type, stringData, data (empty
    /// fields left out, as KSOPS does).
    pub fn secret_doc(
        &self,
        string_data: BTreeMap<String, String>,
        data: BTreeMap<String, String>,
    ) -> Branch {
        let mut meta = Vec::new();
        if let Some(n) = &self.metadata.name {
            meta.push(pair("name", Value::Str(n.clone())));
        }
        if let Some(n) = &self.metadata.namespace {
            meta.push(pair("namespace", Value::Str(n.clone())));
        }
        for (name, map) in [
            ("labels", &self.metadata.labels),
            ("annotations", &self.metadata.annotations),
        ] {
            if !map.is_empty() {
                meta.push(pair(name, str_branch(map)));
            }
        }
        let mut items = vec![
            pair("apiVersion", Value::Str("v1".into())),
            pair("kind", Value::Str("Secret".into())),
            pair("metadata", Value::Branch(Branch { items: meta })),
        ];
        if let Some(t) = &self.secret_type {
            items.push(pair("type", Value::Str(t.clone())));
        }
        if !string_data.is_empty() {
            items.push(pair("stringData", str_branch(&string_data)));
        }
        if !data.is_empty() {
            items.push(pair("data", str_branch(&data)));
        }
        Branch { items }
    }
}

/// Split a `files`/`binaryFiles` entry: `KEY=PATH`, or `PATH` whose key is its last
/// component. `None` for more than one `=` (KSOPS refuses those).
pub fn key_path(entry: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = entry.split('=').collect();
    match parts.as_slice() {
        [path] => {
            let base = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|b| !b.is_empty())
                .unwrap_or(path);
            Some((base.to_string(), path.to_string()))
        }
        [key, path] => Some((key.to_string(), path.to_string())),
        _ => None,
    }
}

/// Parse `KSOPS_CONCURRENCY_LIMIT` (unset or empty: the default of 20).
pub fn concurrency(value: Option<&str>) -> Result<usize, ManifestError> {
    match value {
        None | Some("") => Ok(DEFAULT_CONCURRENCY),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ManifestError::Concurrency(v.to_string())),
        },
    }
}

/// Read dotenv text the way KSOPS's dotenv reader does: `KEY=VALUE` or `KEY: VALUE`
/// lines, an optional `export `, `#` comments, single quotes taken literally, double
/// quotes with `\n`, `\"` and `\\` escapes, unquoted values trimmed and cut at ` #`.
/// Variable references are not expanded.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some(at) = line.find(['=', ':']) else {
            continue;
        };
        let key = line[..at].trim().to_string();
        if key.is_empty() {
            continue;
        }
        let rest = line[at + 1..].trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            quoted(body, '\'', &mut lines).0
        } else if let Some(body) = rest.strip_prefix('"') {
            unescape(&quoted(body, '"', &mut lines).0)
        } else {
            let cut = rest.find(" #").unwrap_or(rest.len());
            rest[..cut].trim().to_string()
        };
        out.push((key, value));
    }
    out
}

/// The text up to the closing `quote` (which may be on a later line), and whether it
/// was found.
fn quoted<'a>(
    first: &str,
    quote: char,
    lines: &mut impl Iterator<Item = &'a str>,
) -> (String, bool) {
    let mut acc = String::new();
    let mut cur = first.to_string();
    loop {
        let mut escaped = false;
        for (i, c) in cur.char_indices() {
            if c == quote && !escaped {
                acc.push_str(&cur[..i]);
                return (acc, true);
            }
            escaped = quote == '"' && c == '\\' && !escaped;
        }
        acc.push_str(&cur);
        match lines.next() {
            Some(next) => {
                acc.push('\n');
                cur = next.to_string();
            }
            None => return (acc, false),
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// A Secret document as YAML (two-space indent).
pub fn secret_yaml(doc: &Branch) -> String {
    let bytes = crate::stores::Format::Yaml
        .store()
        .emit_plain(
            std::slice::from_ref(doc),
            &crate::stores::Layout::none(),
            crate::stores::EmitOptions { indent: Some(2) },
        )
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The `items` of a KRM `ResourceList` document (kustomize passes the generator's config
/// as the only item, and again as `functionConfig`).
pub fn resource_list_items(doc: &Branch) -> Result<Vec<Branch>, ManifestError> {
    let kind = scalar(doc.get("kind"));
    if kind.as_deref() != Some("ResourceList") {
        return Err(ManifestError::ResourceList(format!(
            "standard input is not a KRM ResourceList (its kind is {}): run with the generator file as the argument for the legacy plugin mode",
            kind.map(|k| format!("{k:?}"))
                .unwrap_or_else(|| "missing".into())
        )));
    }
    match doc.get("items") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(list)) => entries(list)
            .enumerate()
            .map(|(i, v)| match v {
                Value::Branch(b) => Ok(b.clone()),
                _ => Err(ManifestError::ResourceList(format!(
                    "ResourceList items[{i}] is not a mapping"
                ))),
            })
            .collect(),
        Some(_) => Err(ManifestError::ResourceList(
            "the ResourceList's `items` is not a list".into(),
        )),
    }
}

/// The ResourceList with its `items` replaced by `items` (everything else kept).
pub fn with_items(doc: &Branch, items: Vec<Branch>) -> Branch {
    let list = Value::List(items.into_iter().map(Value::Branch).collect());
    let mut out = doc.clone();
    let mut list = Some(list);
    for item in &mut out.items {
        if let Item::Pair(k, v) = item
            && k == "items"
        {
            *v = list.take().unwrap_or(Value::Null);
        }
    }
    if let Some(list) = list {
        out.items.push(pair("items", list));
    }
    out
}

/// Placeholder mode: every encrypted value (`ENC[…]`) of a parsed, still-encrypted file
/// replaced by [`PLACEHOLDER`] — base64-encoded under a Secret's `data`, so the Secret
/// stays valid. Keys, comments and plaintext values are kept: the shape is right, the
/// values are never real.
pub fn placeholders(docs: &mut [Branch]) {
    for doc in docs {
        let secret = scalar(doc.get("kind")).as_deref() == Some("Secret");
        for item in &mut doc.items {
            if let Item::Pair(k, v) = item {
                let b64 = secret && k == "data";
                replace_encrypted(v, b64);
            }
        }
    }
}

fn replace_encrypted(v: &mut Value, b64: bool) {
    match v {
        Value::Str(s) if s.starts_with("ENC[") => {
            *v = Value::Str(if b64 {
                base64::engine::general_purpose::STANDARD.encode(PLACEHOLDER)
            } else {
                PLACEHOLDER.to_string()
            });
        }
        Value::Branch(b) => {
            for item in &mut b.items {
                if let Item::Pair(_, v) = item {
                    replace_encrypted(v, b64);
                }
            }
        }
        Value::List(l) => l.iter_mut().for_each(|v| replace_encrypted(v, b64)),
        _ => {}
    }
}

fn pair(k: &str, v: Value) -> Item {
    Item::Pair(k.to_string(), v)
}

fn str_branch(map: &BTreeMap<String, String>) -> Value {
    Value::Branch(Branch {
        items: map
            .iter()
            .map(|(k, v)| pair(k, Value::Str(v.clone())))
            .collect(),
    })
}

fn shape(field: String, expected: &'static str) -> ManifestError {
    ManifestError::Shape { field, expected }
}

fn entries(list: &[Value]) -> impl Iterator<Item = &Value> {
    list.iter().filter(|v| !matches!(v, Value::Comment(_)))
}

/// A scalar as the string Go's YAML decoder would give a `string` field.
fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(crate::tree::format_float_yaml(*f)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Time(t) => Some(t.0.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>, ManifestError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(list)) => entries(list)
            .enumerate()
            .map(|(i, v)| scalar(Some(v)).ok_or_else(|| shape(format!("{field}[{i}]"), "a path")))
            .collect(),
        Some(_) => Err(shape(field.to_string(), "a list of paths")),
    }
}

fn string_map(v: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, ManifestError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Branch(b)) => b
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, v) => Some((k, v)),
                Item::Comment(_) => None,
            })
            .map(|(k, v)| {
                scalar(Some(v))
                    .map(|s| (k.clone(), s))
                    .ok_or_else(|| shape(format!("{field}.{k}"), "a string"))
            })
            .collect(),
        Some(_) => Err(shape(field.to_string(), "a mapping of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::Format;

    fn doc(yaml: &str) -> Branch {
        Format::Yaml
            .store()
            .load_plain(yaml.as_bytes())
            .unwrap()
            .docs
            .remove(0)
    }

    #[test]
    fn key_path_splits_like_ksops() {
        assert_eq!(
            key_path("./a/secret.enc.yaml"),
            Some(("secret.enc.yaml".into(), "./a/secret.enc.yaml".into()))
        );
        assert_eq!(
            key_path("tls.crt=./cert.enc"),
            Some(("tls.crt".into(), "./cert.enc".into()))
        );
        assert_eq!(key_path("a=b=c"), None);
    }

    #[test]
    fn a_generator_without_files_or_secret_from_is_refused() {
        let d = doc("apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: x\n");
        assert_eq!(Generator::from_doc(&d), Err(ManifestError::Empty));
        // An empty list is a generator that generates nothing, as in KSOPS.
        let d = doc("kind: ksops\nfiles: []\n");
        assert_eq!(Generator::from_doc(&d).unwrap(), Generator::default());
    }

    #[test]
    fn secret_from_reads_metadata_type_and_lists() {
        let d = doc(concat!(
            "kind: ksops\nsecretFrom:\n- metadata:\n    name: s\n    namespace: ns\n",
            "    labels:\n      n: 1\n    annotations:\n      kustomize.config.k8s.io/needs-hash: \"true\"\n",
            "  type: kubernetes.io/tls\n  files:\n  - tls.key=./k.enc\n  binaryFiles:\n  - ./b.bin\n",
            "  envs:\n  - ./e.env\n",
        ));
        let g = Generator::from_doc(&d).unwrap();
        let sf = &g.secret_from[0];
        assert_eq!(sf.metadata.name.as_deref(), Some("s"));
        assert_eq!(sf.metadata.labels["n"], "1");
        assert_eq!(
            sf.metadata.annotations["kustomize.config.k8s.io/needs-hash"],
            "true"
        );
        assert_eq!(sf.secret_type.as_deref(), Some("kubernetes.io/tls"));
        let jobs = g.jobs().unwrap();
        let got: Vec<(&str, &str, Role)> = jobs
            .iter()
            .map(|j| (j.key.as_str(), j.path.as_str(), j.role))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tls.key", "./k.enc", Role::File),
                ("b.bin", "./b.bin", Role::Binary),
                ("", "./e.env", Role::Env),
            ]
        );
        let out = g.render(
            &jobs,
            &[b"KEY".to_vec(), vec![0, 1, 2], b"A=1\nB='x y'\n".to_vec()],
        );
        assert_eq!(out.len(), 1);
        let out = &out[0];
        let secret = doc(out);
        let Some(Value::Branch(sd)) = secret.get("stringData") else {
            panic!("{out}")
        };
        assert_eq!(sd.get("tls.key"), Some(&Value::Str("KEY".into())));
        assert_eq!(sd.get("A"), Some(&Value::Str("1".into())));
        assert_eq!(sd.get("B"), Some(&Value::Str("x y".into())));
        let Some(Value::Branch(data)) = secret.get("data") else {
            panic!("{out}")
        };
        assert_eq!(data.get("b.bin"), Some(&Value::Str("AAEC".into())));
        assert_eq!(
            secret.get("type"),
            Some(&Value::Str("kubernetes.io/tls".into()))
        );
    }

    #[test]
    fn a_key_path_with_two_equals_signs_names_the_field() {
        let d = doc("secretFrom:\n- files:\n  - a=b=c\n");
        let e = Generator::from_doc(&d).unwrap().jobs().unwrap_err();
        assert!(e.to_string().contains("secretFrom[0].files"), "{e}");
    }

    #[test]
    fn dotenv_reads_quotes_comments_and_export() {
        let got = parse_dotenv(
            "# c\nexport A=1\nB = two # note\nC='lit $x \\n'\nD=\"l1\\nl2 \\\"q\\\"\"\nE: yes\n\nF=\"multi\nline\"\n",
        );
        let want = [
            ("A", "1"),
            ("B", "two"),
            ("C", "lit $x \\n"),
            ("D", "l1\nl2 \"q\""),
            ("E", "yes"),
            ("F", "multi\nline"),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn concurrency_limit_must_be_positive() {
        assert_eq!(concurrency(None), Ok(20));
        assert_eq!(concurrency(Some("3")), Ok(3));
        for bad in ["0", "-1", "x"] {
            assert!(concurrency(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn resource_list_items_are_replaced_and_the_rest_kept() {
        let rl = doc(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: ksops\nfunctionConfig:\n  kind: ksops\n",
        );
        assert_eq!(resource_list_items(&rl).unwrap().len(), 1);
        let out = with_items(&rl, vec![doc("kind: Secret\n")]);
        assert!(out.get("functionConfig").is_some());
        let Some(Value::List(items)) = out.get("items") else {
            panic!()
        };
        assert_eq!(items, &vec![Value::Branch(doc("kind: Secret\n"))]);
        assert!(resource_list_items(&doc("kind: ksops\n")).is_err());
    }

    #[test]
    fn placeholders_replace_every_encrypted_value_and_keep_data_base64() {
        let mut docs = vec![doc(
            "kind: Secret\ndata:\n  a: ENC[AES256_GCM,data:x,type:str]\nstringData:\n  b: ENC[AES256_GCM,data:y,type:str]\n  c: plain\n",
        )];
        placeholders(&mut docs);
        let Some(Value::Branch(data)) = docs[0].get("data") else {
            panic!()
        };
        assert_eq!(
            data.get("a"),
            Some(&Value::Str("U0VBTC1QTEFDRUhPTERFUg==".into()))
        );
        let Some(Value::Branch(sd)) = docs[0].get("stringData") else {
            panic!()
        };
        assert_eq!(sd.get("b"), Some(&Value::Str(PLACEHOLDER.into())));
        assert_eq!(sd.get("c"), Some(&Value::Str("plain".into())));
    }
}
