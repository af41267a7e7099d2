//! The `bitnami.com/v1alpha1` `SealedSecret` as kubeseal writes it: built from a Secret
//! manifest's tree (each `data` value sealed as its decoded bytes, `stringData` as its UTF-8
//! bytes and overriding the same `data` key; the template keeps name, namespace, labels,
//! annotations (never `last-applied-configuration`), type and immutable), merged into an
//! existing SealedSecret, and opened again with private keys (`encryptedData`, and the
//! legacy `spec.data` form). Pure: trees in, trees out, the random source passed in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::rand_core::CryptoRngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use crate::sealed::{Scope, hybrid_decrypt, hybrid_encrypt};
use crate::tree::{Branch, Item, Value};

/// Annotations a tool writes with a copy of the whole object: never copied into the template.
const LAST_APPLIED: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// A Secret manifest, read for sealing. Values live in zeroized buffers.
#[derive(Debug, Default)]
pub struct PlainSecret {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`, in file order.
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations`, in file order.
    pub annotations: Vec<(String, String)>,
    /// `type`.
    pub secret_type: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Keys and plaintext bytes: `data` (decoded), then `stringData` (replacing the same key).
    pub values: Vec<(String, Zeroizing<Vec<u8>>)>,
}

fn str_map(b: Option<&Value>, what: &str) -> Result<Vec<(String, String)>, String> {
    match b {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Branch(b)) => b
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, v) => Some((k, v)),
                Item::Comment(_) => None,
            })
            .map(|(k, v)| match v {
                Value::Str(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("{what}.{k} is not a string (quote it)")),
            })
            .collect(),
        Some(_) => Err(format!("{what} is not a mapping")),
    }
}

impl PlainSecret {
    /// Read the first `kind: Secret` document.
    pub fn from_docs(docs: &[Branch]) -> Result<PlainSecret, String> {
        let doc = docs
            .iter()
            .find(|d| matches!(d.get("kind"), Some(Value::Str(k)) if k == "Secret"))
            .ok_or("no `kind: Secret` document found")?;
        let mut out = PlainSecret::default();
        let meta = match doc.get("metadata") {
            Some(Value::Branch(m)) => m,
            _ => return Err("the Secret has no metadata".into()),
        };
        match meta.get("name") {
            Some(Value::Str(n)) if !n.is_empty() => out.name = n.clone(),
            _ => return Err("the Secret has no metadata.name".into()),
        }
        if let Some(Value::Str(n)) = meta.get("namespace")
            && !n.is_empty()
        {
            out.namespace = Some(n.clone());
        }
        out.labels = str_map(meta.get("labels"), "metadata.labels")?;
        out.annotations = str_map(meta.get("annotations"), "metadata.annotations")?;
        out.annotations
            .retain(|(k, _)| !LAST_APPLIED.contains(&k.as_str()));
        match doc.get("type") {
            Some(Value::Str(t)) => out.secret_type = Some(t.clone()),
            None | Some(Value::Null) => {}
            Some(_) => return Err("`type` is not a string".into()),
        }
        match doc.get("immutable") {
            Some(Value::Bool(b)) => out.immutable = Some(*b),
            None | Some(Value::Null) => {}
            Some(_) => return Err("`immutable` is not a boolean".into()),
        }
        for (section, decode) in [("data", true), ("stringData", false)] {
            let b = match doc.get(section) {
                Some(Value::Branch(b)) => b,
                None | Some(Value::Null) => continue,
                Some(_) => return Err(format!("`{section}` is not a mapping")),
            };
            for item in &b.items {
                let Item::Pair(k, v) = item else { continue };
                let text = match v {
                    Value::Str(s) => s.as_str(),
                    Value::Null => "",
                    _ => return Err(format!("{section}.{k} is not a string (quote it)")),
                };
                let bytes = if decode {
                    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    Zeroizing::new(STANDARD.decode(compact.as_bytes()).map_err(|_| {
                        format!("data.{k} is not base64 (put plain text under stringData)")
                    })?)
                } else {
                    Zeroizing::new(text.as_bytes().to_vec())
                };
                out.set(k, bytes);
            }
        }
        if out.values.is_empty() {
            return Err("the Secret has no keys under data or stringData".into());
        }
        Ok(out)
    }

    fn set(&mut self, key: &str, bytes: Zeroizing<Vec<u8>>) {
        match self.values.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = bytes,
            None => self.values.push((key.to_string(), bytes)),
        }
    }

    /// The scope the Secret's own annotations ask for.
    pub fn scope(&self) -> Scope {
        Scope::from_annotation(|k| {
            self.annotations
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.clone())
        })
    }

    /// Make the annotations say `scope` (kubeseal `--scope`).
    pub fn set_scope(&mut self, scope: Scope) {
        self.annotations.retain(|(k, _)| {
            k != crate::sealed::NAMESPACE_WIDE_ANNOTATION
                && k != crate::sealed::CLUSTER_WIDE_ANNOTATION
        });
        if let Some(a) = scope.annotation() {
            self.annotations.push((a.to_string(), "true".to_string()));
        }
    }
}

fn pair(k: &str, v: Value) -> Item {
    Item::Pair(k.to_string(), v)
}

fn str_branch(kv: &[(String, String)]) -> Value {
    Value::Branch(Branch {
        items: kv
            .iter()
            .map(|(k, v)| pair(k, Value::Str(v.clone())))
            .collect(),
    })
}

/// Seal every value of `secret` for `key`: the `encryptedData` pairs, base64.
pub fn seal_values(
    rng: &mut impl CryptoRngCore,
    key: &RsaPublicKey,
    secret: &PlainSecret,
) -> Result<Vec<(String, String)>, String> {
    let scope = secret.scope();
    let namespace = secret.namespace.clone().unwrap_or_default();
    if scope != Scope::ClusterWide && namespace.is_empty() {
        return Err(
            "the Secret has no metadata.namespace: give --namespace, or seal it --scope cluster-wide"
                .into(),
        );
    }
    let label = scope.label(&namespace, &secret.name);
    secret
        .values
        .iter()
        .map(|(k, v)| {
            hybrid_encrypt(rng, key, v, &label)
                .map(|sealed| (k.clone(), STANDARD.encode(sealed)))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The SealedSecret document for `secret`, its values sealed for `key`.
pub fn seal(
    rng: &mut impl CryptoRngCore,
    key: &RsaPublicKey,
    secret: &PlainSecret,
) -> Result<Branch, String> {
    let encrypted = seal_values(rng, key, secret)?;
    let mut meta = vec![
        pair("creationTimestamp", Value::Null),
        pair("name", Value::Str(secret.name.clone())),
    ];
    if let Some(ns) = &secret.namespace {
        meta.push(pair("namespace", Value::Str(ns.clone())));
    }
    let mut outer_meta = meta.clone();
    if let Some(a) = secret.scope().annotation() {
        outer_meta.insert(
            0,
            pair(
                "annotations",
                str_branch(&[(a.to_string(), "true".to_string())]),
            ),
        );
    }
    let mut tmeta = meta;
    if !secret.annotations.is_empty() {
        tmeta.insert(0, pair("annotations", str_branch(&secret.annotations)));
    }
    if !secret.labels.is_empty() {
        tmeta.push(pair("labels", str_branch(&secret.labels)));
    }
    let mut template = vec![pair("metadata", Value::Branch(Branch { items: tmeta }))];
    if let Some(b) = secret.immutable {
        template.push(pair("immutable", Value::Bool(b)));
    }
    if let Some(t) = &secret.secret_type {
        template.push(pair("type", Value::Str(t.clone())));
    }
    let spec = vec![
        pair("encryptedData", str_branch(&encrypted)),
        pair("template", Value::Branch(Branch { items: template })),
    ];
    Ok(Branch {
        items: vec![
            pair("apiVersion", Value::Str("bitnami.com/v1alpha1".into())),
            pair("kind", Value::Str("SealedSecret".into())),
            pair("metadata", Value::Branch(Branch { items: outer_meta })),
            pair("spec", Value::Branch(Branch { items: spec })),
        ],
    })
}

/// Where a SealedSecret's values are bound: its name, namespace and scope (from its own
/// annotations, as the controller reads them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (empty when absent).
    pub namespace: String,
    /// The scope.
    pub scope: Scope,
}

fn branch<'a>(b: &'a Branch, key: &str) -> Option<&'a Branch> {
    match b.get(key) {
        Some(Value::Branch(b)) => Some(b),
        _ => None,
    }
}

fn branch_mut<'a>(b: &'a mut Branch, key: &str) -> Option<&'a mut Branch> {
    b.items.iter_mut().find_map(|i| match i {
        Item::Pair(k, Value::Branch(b)) if k == key => Some(b),
        _ => None,
    })
}

/// The first `kind: SealedSecret` document's index.
pub fn find_sealed(docs: &[Branch]) -> Result<usize, String> {
    docs.iter()
        .position(|d| matches!(d.get("kind"), Some(Value::Str(k)) if k == "SealedSecret"))
        .ok_or_else(|| "no `kind: SealedSecret` document found".to_string())
}

/// Name, namespace and scope of a SealedSecret document.
pub fn binding(doc: &Branch) -> Result<Binding, String> {
    let meta = branch(doc, "metadata").ok_or("the SealedSecret has no metadata")?;
    let get = |k: &str| match meta.get(k) {
        Some(Value::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let name = get("name");
    if name.is_empty() {
        return Err("the SealedSecret has no metadata.name".into());
    }
    let annotations = branch(meta, "annotations");
    let scope = Scope::from_annotation(|k| match annotations.and_then(|a| a.get(k)) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    });
    Ok(Binding {
        name,
        namespace: get("namespace"),
        scope,
    })
}

/// Replace or add `values` in the SealedSecret's `spec.encryptedData`, keeping the rest.
pub fn merge_into(doc: &mut Branch, values: Vec<(String, String)>) -> Result<(), String> {
    let spec = branch_mut(doc, "spec").ok_or("the SealedSecret has no spec")?;
    if branch_mut(spec, "encryptedData").is_none() {
        spec.items
            .retain(|i| !matches!(i, Item::Pair(k, _) if k == "encryptedData"));
        spec.items
            .insert(0, pair("encryptedData", Value::Branch(Branch::default())));
    }
    let data = branch_mut(spec, "encryptedData").ok_or("spec.encryptedData is not a mapping")?;
    for (k, v) in values {
        let slot = data.items.iter_mut().find_map(|i| match i {
            Item::Pair(key, val) if *key == k => Some(val),
            _ => None,
        });
        match slot {
            Some(val) => *val = Value::Str(v),
            None => data.items.push(pair(&k, Value::Str(v))),
        }
    }
    Ok(())
}

fn open_value(
    rng: &mut impl CryptoRngCore,
    keys: &[RsaPrivateKey],
    label: &str,
    text: &str,
    key: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| format!("spec.encryptedData.{key} is not base64"))?;
    hybrid_decrypt(rng, keys, &raw, label).map_err(|e| format!("spec.encryptedData.{key}: {e}"))
}

/// Re-seal every `spec.encryptedData` value for `new_key` (a new controller certificate):
/// each value is opened with `keys` and sealed again under the same name, namespace and
/// scope; everything else in the document stays as it is. Returns how many values.
pub fn reseal(
    rng: &mut impl CryptoRngCore,
    keys: &[RsaPrivateKey],
    new_key: &RsaPublicKey,
    doc: &mut Branch,
) -> Result<usize, String> {
    let bind = binding(doc)?;
    let label = bind.scope.label(&bind.namespace, &bind.name);
    let spec = branch_mut(doc, "spec").ok_or("the SealedSecret has no spec")?;
    let Some(enc) = branch_mut(spec, "encryptedData") else {
        return Err("the SealedSecret has no spec.encryptedData (the legacy spec.data form: unseal it with --recovery-unseal and seal the Secret again)".into());
    };
    let mut n = 0;
    for item in &mut enc.items {
        let Item::Pair(k, Value::Str(v)) = item else {
            continue;
        };
        let plain = open_value(rng, keys, &label, v, k)?;
        let sealed = hybrid_encrypt(rng, new_key, &plain, &label).map_err(|e| e.to_string())?;
        *v = STANDARD.encode(sealed);
        n += 1;
    }
    Ok(n)
}

/// What a SealedSecret opens to.
#[derive(Debug)]
pub enum Unsealed {
    /// The Secret (from `spec.encryptedData`).
    Secret(Branch),
    /// The legacy `spec.data` form: the whole Secret manifest as it was sealed.
    Legacy(Zeroizing<Vec<u8>>),
}

/// Open a SealedSecret document with `keys`: the Secret it stands for (values under `data`,
/// base64), as the controller would create it. Templated `template.data` entries are copied
/// as written (seal does not run Go templates).
pub fn unseal(
    rng: &mut impl CryptoRngCore,
    keys: &[RsaPrivateKey],
    doc: &Branch,
) -> Result<Unsealed, String> {
    let bind = binding(doc)?;
    let label = bind.scope.label(&bind.namespace, &bind.name);
    let spec = branch(doc, "spec").ok_or("the SealedSecret has no spec")?;
    let template = branch(spec, "template");
    let mut data = Vec::new();
    if let Some(enc) = branch(spec, "encryptedData") {
        for item in &enc.items {
            let Item::Pair(k, Value::Str(v)) = item else {
                continue;
            };
            let plain = open_value(rng, keys, &label, v, k)?;
            data.push(pair(k, Value::Str(STANDARD.encode(&plain[..]))));
        }
    } else if let Some(Value::Str(legacy)) = spec.get("data") {
        // The v1 form: the whole Secret sealed as one value (JSON or YAML of a Secret).
        return Ok(Unsealed::Legacy(open_value(
            rng, keys, &label, legacy, "data",
        )?));
    } else {
        return Err("the SealedSecret has no spec.encryptedData".into());
    }
    let mut meta = vec![pair("name", Value::Str(bind.name.clone()))];
    if !bind.namespace.is_empty() {
        meta.push(pair("namespace", Value::Str(bind.namespace.clone())));
    }
    let tmeta = template.and_then(|t| branch(t, "metadata"));
    for k in ["labels", "annotations"] {
        if let Some(v) = tmeta.and_then(|m| m.get(k)) {
            meta.push(pair(k, v.clone()));
        }
    }
    if let Some(Value::Branch(tdata)) = template.and_then(|t| t.get("data")) {
        for item in &tdata.items {
            if let Item::Pair(k, Value::Str(v)) = item {
                data.retain(|i| !matches!(i, Item::Pair(key, _) if key == k));
                data.push(pair(k, Value::Str(STANDARD.encode(v.as_bytes()))));
            }
        }
    }
    let mut items = vec![
        pair("apiVersion", Value::Str("v1".into())),
        pair("kind", Value::Str("Secret".into())),
        pair("metadata", Value::Branch(Branch { items: meta })),
    ];
    if let Some(v) = template.and_then(|t| t.get("immutable")) {
        items.push(pair("immutable", v.clone()));
    }
    items.push(pair("data", Value::Branch(Branch { items: data })));
    if let Some(v) = template.and_then(|t| t.get("type")) {
        items.push(pair("type", v.clone()));
    }
    Ok(Unsealed::Secret(Branch { items }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::Format;
    use rand::rngs::OsRng;
    use std::sync::OnceLock;

    fn key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).expect("keygen"))
    }

    fn docs(yaml: &str) -> Vec<Branch> {
        Format::Yaml
            .store()
            .load_plain(yaml.as_bytes())
            .unwrap()
            .docs
    }

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\n  labels:\n    app: db\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"password\":\"c2VjcmV0\"}}'\n    team: x\ntype: kubernetes.io/basic-auth\ndata:\n  password: c2VjcmV0\n  user: YWRtaW4=\nstringData:\n  user: root\n";

    #[test]
    fn string_data_overrides_and_last_applied_dropped() {
        let s = PlainSecret::from_docs(&docs(SECRET)).unwrap();
        assert_eq!(s.values.len(), 2);
        assert_eq!(&s.values[1].1[..], b"root");
        assert_eq!(&s.values[0].1[..], b"secret");
        assert_eq!(s.annotations, vec![("team".to_string(), "x".to_string())]);
        assert_eq!(s.scope(), Scope::Strict);
    }

    #[test]
    fn seal_then_unseal_keeps_template() {
        let s = PlainSecret::from_docs(&docs(SECRET)).unwrap();
        let sealed = seal(&mut OsRng, &key().to_public_key(), &s).unwrap();
        let text = String::from_utf8(
            Format::Yaml
                .store()
                .emit_plain(
                    std::slice::from_ref(&sealed),
                    &Default::default(),
                    Default::default(),
                )
                .unwrap(),
        )
        .unwrap();
        assert!(!text.contains("last-applied"), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        let Unsealed::Secret(back) =
            unseal(&mut OsRng, std::slice::from_ref(key()), &sealed).unwrap()
        else {
            panic!("not the legacy form")
        };
        let data = branch(&back, "data").unwrap();
        assert_eq!(data.get("password"), Some(&Value::Str("c2VjcmV0".into())));
        assert_eq!(data.get("user"), Some(&Value::Str("cm9vdA==".into())));
        assert_eq!(
            back.get("type"),
            Some(&Value::Str("kubernetes.io/basic-auth".into()))
        );
    }

    #[test]
    fn namespace_required_unless_cluster_wide() {
        let mut s = PlainSecret::from_docs(&docs(
            "kind: Secret\nmetadata:\n  name: a\nstringData:\n  k: v\n",
        ))
        .unwrap();
        let k = key().to_public_key();
        assert!(seal(&mut OsRng, &k, &s).unwrap_err().contains("namespace"));
        s.set_scope(Scope::ClusterWide);
        let sealed = seal(&mut OsRng, &k, &s).unwrap();
        assert_eq!(binding(&sealed).unwrap().scope, Scope::ClusterWide);
    }

    #[test]
    fn renamed_strict_fails_namespace_wide_survives_rename() {
        let k = key().to_public_key();
        for (scope, rename_ok) in [(Scope::Strict, false), (Scope::NamespaceWide, true)] {
            let mut s = PlainSecret::from_docs(&docs(SECRET)).unwrap();
            s.set_scope(scope);
            let mut sealed = seal(&mut OsRng, &k, &s).unwrap();
            let meta = branch_mut(&mut sealed, "metadata").unwrap();
            for i in &mut meta.items {
                if let Item::Pair(n, v) = i
                    && n == "name"
                {
                    *v = Value::Str("other".into());
                }
            }
            let r = unseal(&mut OsRng, std::slice::from_ref(key()), &sealed);
            assert_eq!(r.is_ok(), rename_ok, "{scope:?}");
        }
    }

    #[test]
    fn merge_replaces_one_keeps_rest() {
        let s = PlainSecret::from_docs(&docs(SECRET)).unwrap();
        let mut sealed = seal(&mut OsRng, &key().to_public_key(), &s).unwrap();
        let before = branch(branch(&sealed, "spec").unwrap(), "encryptedData")
            .unwrap()
            .clone();
        merge_into(
            &mut sealed,
            vec![("user".into(), "X".into()), ("new".into(), "Y".into())],
        )
        .unwrap();
        let after = branch(branch(&sealed, "spec").unwrap(), "encryptedData").unwrap();
        assert_eq!(after.get("password"), before.get("password"));
        assert_eq!(after.get("user"), Some(&Value::Str("X".into())));
        assert_eq!(after.get("new"), Some(&Value::Str("Y".into())));
    }

    #[test]
    fn legacy_spec_data_is_read() {
        let k = key();
        let manifest =
            b"{\"kind\":\"Secret\",\"metadata\":{\"name\":\"old\",\"namespace\":\"ns\"}}";
        let sealed = hybrid_encrypt(&mut OsRng, &k.to_public_key(), manifest, "ns/old").unwrap();
        let doc = docs(&format!(
            "kind: SealedSecret\nmetadata:\n  name: old\n  namespace: ns\nspec:\n  data: {}\n",
            STANDARD.encode(sealed)
        ));
        match unseal(&mut OsRng, std::slice::from_ref(k), &doc[0]).unwrap() {
            Unsealed::Legacy(m) => assert_eq!(&m[..], &manifest[..]),
            Unsealed::Secret(_) => panic!("read as encryptedData"),
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(PlainSecret::from_docs(&docs("kind: ConfigMap\n")).is_err());
        assert!(
            PlainSecret::from_docs(&docs(
                "kind: Secret\nmetadata:\n  name: a\ndata:\n  k: '!!!'\n"
            ))
            .unwrap_err()
            .contains("base64")
        );
        assert!(
            PlainSecret::from_docs(&docs("kind: Secret\nmetadata:\n  name: a\n"))
                .unwrap_err()
                .contains("no keys")
        );
    }
}
