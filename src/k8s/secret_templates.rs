//! Kubernetes Secret templates for `seal secret new`: which keys the usual charts expect
//! (Bitnami PostgreSQL and Redis, Authentik, Cloudflare) and how each value is made by
//! default, plus building the Secret document itself (values in `stringData`, files in
//! `data` as base64, as `kubectl create secret generic` does).

use base64::Engine;
use zeroize::Zeroizing;

use crate::k8s::generate::Generator;
use crate::tree::{Branch, Item, Value};

/// How a template key gets its value when the command line does not give one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDefault {
    /// Random, with this generator (overridable with `--generate`).
    Generate(Generator),
    /// Not secret: derived from the Secret's name (`app` for `app-postgres`).
    AppName,
    /// Cannot be made up (an API token): must come from `--from-literal`/`--set`.
    Required,
}

/// One template.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    /// The name on the command line.
    pub name: &'static str,
    /// What it is for.
    pub about: &'static str,
    /// Its keys.
    pub keys: &'static [(&'static str, KeyDefault)],
}

/// Every template.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "postgres",
        about: "Bitnami PostgreSQL (auth.existingSecret)",
        keys: &[
            (
                "postgres-password",
                KeyDefault::Generate(Generator::Password(32)),
            ),
            ("password", KeyDefault::Generate(Generator::Password(32))),
            ("username", KeyDefault::AppName),
            ("database", KeyDefault::AppName),
        ],
    },
    Template {
        name: "redis",
        about: "Bitnami Redis (auth.existingSecret)",
        keys: &[(
            "redis-password",
            KeyDefault::Generate(Generator::Password(32)),
        )],
    },
    Template {
        name: "authentik",
        about: "Authentik (authentik.secret_key and the PostgreSQL password)",
        keys: &[
            ("secret_key", KeyDefault::Generate(Generator::Base64(60))),
            (
                "postgresql-password",
                KeyDefault::Generate(Generator::Password(32)),
            ),
        ],
    },
    Template {
        name: "cloudflare",
        about: "Cloudflare API token (cert-manager, external-dns)",
        keys: &[("api-token", KeyDefault::Required)],
    },
    Template {
        name: "generic",
        about: "no predefined keys: give them with --from-literal, --from-file, --set or --generate K=SPEC",
        keys: &[],
    },
];

/// The template of this name.
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The application name a Secret name implies: `app-postgres` → `app`, `app-secret` →
/// `app` (used for the default user and database names).
pub fn app_name(secret_name: &str) -> String {
    let mut s = secret_name;
    for suffix in [
        "-secret",
        "-secrets",
        "-postgres",
        "-postgresql",
        "-pg",
        "-db",
        "-redis",
    ] {
        if let Some(x) = s.strip_suffix(suffix)
            && !x.is_empty()
        {
            s = x;
        }
    }
    s.to_string()
}

/// The value of one key of the new Secret.
pub enum SecretValue {
    /// Text, written under `stringData`.
    Text(Zeroizing<String>),
    /// Bytes (a file), written base64-encoded under `data`.
    File(Zeroizing<Vec<u8>>),
}

/// Build the Secret document: `apiVersion`, `kind`, `metadata`, `type`, then `stringData`
/// and `data` in the order the keys were given.
pub fn secret_doc(
    name: &str,
    namespace: Option<&str>,
    secret_type: &str,
    values: &[(String, SecretValue)],
) -> Branch {
    let s = |v: &str| Value::Str(v.to_string());
    let mut meta = vec![Item::Pair("name".into(), s(name))];
    if let Some(ns) = namespace {
        meta.push(Item::Pair("namespace".into(), s(ns)));
    }
    let mut items = vec![
        Item::Pair("apiVersion".into(), s("v1")),
        Item::Pair("kind".into(), s("Secret")),
        Item::Pair("metadata".into(), Value::Branch(Branch { items: meta })),
        Item::Pair("type".into(), s(secret_type)),
    ];
    let mut string_data = Vec::new();
    let mut data = Vec::new();
    for (k, v) in values {
        match v {
            SecretValue::Text(t) => {
                string_data.push(Item::Pair(k.clone(), Value::Str(t.to_string())))
            }
            SecretValue::File(b) => data.push(Item::Pair(
                k.clone(),
                Value::Str(base64::engine::general_purpose::STANDARD.encode(b.as_slice())),
            )),
        }
    }
    if !string_data.is_empty() {
        items.push(Item::Pair(
            "stringData".into(),
            Value::Branch(Branch { items: string_data }),
        ));
    }
    if !data.is_empty() {
        items.push(Item::Pair(
            "data".into(),
            Value::Branch(Branch { items: data }),
        ));
    }
    Branch { items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_the_chart_keys() {
        let keys = |n: &str| {
            template(n)
                .unwrap()
                .keys
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys("postgres"),
            ["postgres-password", "password", "username", "database"]
        );
        assert_eq!(keys("redis"), ["redis-password"]);
        assert_eq!(keys("authentik"), ["secret_key", "postgresql-password"]);
        assert_eq!(keys("cloudflare"), ["api-token"]);
        assert!(keys("generic").is_empty());
        assert!(template("mysql").is_none());
        for t in TEMPLATES {
            for (k, _) in t.keys {
                assert!(crate::k8s::external_secret::valid_key(k), "{k}");
            }
        }
    }

    #[test]
    fn app_names_drop_role_suffixes() {
        assert_eq!(app_name("plane-postgres"), "plane");
        assert_eq!(app_name("plane-db-secret"), "plane");
        assert_eq!(app_name("gitea"), "gitea");
        assert_eq!(app_name("-secret"), "-secret");
    }

    #[test]
    fn files_go_to_data_as_base64() {
        let doc = secret_doc(
            "vm-ssh-key",
            Some("infra"),
            "Opaque",
            &[
                (
                    "user".into(),
                    SecretValue::Text(Zeroizing::new("root".into())),
                ),
                (
                    "id_ed25519".into(),
                    SecretValue::File(Zeroizing::new(b"\x00key\n".to_vec())),
                ),
            ],
        );
        let text = crate::stores::Format::Yaml
            .store()
            .emit_plain(&[doc], &crate::stores::Layout::none(), Default::default())
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("stringData:\n    user: root\n"), "{text}");
        assert!(text.contains("data:\n    id_ed25519: AGtleQo=\n"), "{text}");
        assert!(text.contains("namespace: infra"), "{text}");
    }
}
