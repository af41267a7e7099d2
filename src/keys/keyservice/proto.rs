//! The protobuf messages of sops's key service (`keyservice/keyservice.proto`: `Key` and its
//! seven key messages, the `Encrypt`/`Decrypt` requests and responses), encoded and decoded
//! by hand: they are a few length-delimited fields each. Also the mapping between a `Key`
//! and the metadata entry of the same master key (`age`, `pgp`, `kms`, … lists).

use zeroize::Zeroizing;

use crate::tree::{Branch, Item, Value};

/// A master key as the key service protocol names it (the proto's `Key` oneof).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// `KmsKey` (field 1).
    Kms {
        /// `arn` (1).
        arn: String,
        /// `role` (2).
        role: String,
        /// `context` (3), a `map<string, string>`.
        context: Vec<(String, String)>,
        /// `aws_profile` (4).
        aws_profile: String,
    },
    /// `PgpKey` (2): `fingerprint` (1).
    Pgp(String),
    /// `GcpKmsKey` (3): `resource_id` (1).
    GcpKms(String),
    /// `AzureKeyVaultKey` (4).
    AzureKv {
        /// `vault_url` (1).
        vault_url: String,
        /// `name` (2).
        name: String,
        /// `version` (3).
        version: String,
    },
    /// `VaultKey` (5).
    Vault {
        /// `vault_address` (1).
        vault_address: String,
        /// `engine_path` (2).
        engine_path: String,
        /// `key_name` (3).
        key_name: String,
    },
    /// `AgeKey` (6): `recipient` (1).
    Age(String),
    /// `HckmsKey` (7): `key_id` (1).
    Hckms(String),
}

impl Key {
    /// The metadata list this key's entries live in (`kms`, `pgp`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Key::Kms { .. } => "kms",
            Key::Pgp(_) => "pgp",
            Key::GcpKms(_) => "gcp_kms",
            Key::AzureKv { .. } => "azure_kv",
            Key::Vault { .. } => "hc_vault",
            Key::Age(_) => "age",
            Key::Hckms(_) => "hckms",
        }
    }

    /// How messages name the key (public identifiers only).
    pub fn describe(&self) -> String {
        match self {
            Key::Kms { arn, .. } => format!("AWS KMS key {arn}"),
            Key::Pgp(fp) => format!("PGP key {fp}"),
            Key::GcpKms(id) => format!("GCP KMS key {id}"),
            Key::AzureKv {
                vault_url,
                name,
                version,
            } => format!("Azure Key Vault key {vault_url}/keys/{name}/{version}"),
            Key::Vault {
                vault_address,
                engine_path,
                key_name,
            } => format!("Vault key {vault_address}/v1/{engine_path}/keys/{key_name}"),
            Key::Age(r) => format!("age key {r}"),
            Key::Hckms(id) => format!("HuaweiCloud KMS key {id}"),
        }
    }

    /// The key of a metadata entry of list `kind` (its `enc` aside), or `None` when the
    /// kind is not one the protocol knows or the entry lacks a field.
    pub fn from_entry(kind: &str, entry: &Branch) -> Option<Key> {
        let text = |k: &str| match entry.get(k) {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Time(t)) => Some(t.0.clone()),
            None | Some(Value::Null) => Some(String::new()),
            _ => None,
        };
        Some(match kind {
            "kms" => Key::Kms {
                arn: text("arn")?,
                role: text("role")?,
                context: match entry.get("context") {
                    Some(Value::Branch(b)) => b
                        .items
                        .iter()
                        .filter_map(|i| match i {
                            Item::Pair(k, Value::Str(v)) => Some((k.clone(), v.clone())),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                },
                aws_profile: text("aws_profile")?,
            },
            "pgp" => Key::Pgp(text("fp")?),
            "gcp_kms" => Key::GcpKms(text("resource_id")?),
            "azure_kv" => Key::AzureKv {
                vault_url: text("vault_url")?,
                name: text("name")?,
                version: text("version")?,
            },
            "hc_vault" => Key::Vault {
                vault_address: text("vault_address")?,
                engine_path: text("engine_path")?,
                key_name: text("key_name")?,
            },
            "age" => Key::Age(text("recipient")?),
            "hckms" => Key::Hckms(text("key_id")?),
            _ => return None,
        })
    }

    /// The metadata entry of this key with `enc` as its wrapped data key (what the local key
    /// types read back: the server's way to reuse them).
    pub fn to_entry(&self, enc: &str) -> Branch {
        let s = |v: &str| Value::Str(v.to_string());
        let mut items: Vec<(&str, Value)> = match self {
            Key::Kms {
                arn,
                role,
                context,
                aws_profile,
            } => {
                let mut v = vec![("arn", s(arn))];
                if !role.is_empty() {
                    v.push(("role", s(role)));
                }
                if !context.is_empty() {
                    let items = context
                        .iter()
                        .map(|(k, val)| Item::Pair(k.clone(), s(val)))
                        .collect();
                    v.push(("context", Value::Branch(Branch { items })));
                }
                v.push(("aws_profile", s(aws_profile)));
                v
            }
            Key::Pgp(fp) => vec![("fp", s(fp))],
            Key::GcpKms(id) => vec![("resource_id", s(id))],
            Key::AzureKv {
                vault_url,
                name,
                version,
            } => vec![
                ("vault_url", s(vault_url)),
                ("name", s(name)),
                ("version", s(version)),
            ],
            Key::Vault {
                vault_address,
                engine_path,
                key_name,
            } => vec![
                ("vault_address", s(vault_address)),
                ("engine_path", s(engine_path)),
                ("key_name", s(key_name)),
            ],
            Key::Age(r) => vec![("recipient", s(r))],
            Key::Hckms(id) => vec![("key_id", s(id))],
        };
        if !matches!(self, Key::Age(_)) {
            items.push((
                "created_at",
                s(&crate::metadata::Metadata::now_lastmodified()),
            ));
        }
        items.push(("enc", s(enc)));
        Branch {
            items: items
                .into_iter()
                .map(|(k, v)| Item::Pair(k.to_string(), v))
                .collect(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut inner = Vec::new();
        let field = match self {
            Key::Kms {
                arn,
                role,
                context,
                aws_profile,
            } => {
                put_str(&mut inner, 1, arn);
                put_str(&mut inner, 2, role);
                for (k, v) in context {
                    let mut entry = Vec::new();
                    put_str(&mut entry, 1, k);
                    put_str(&mut entry, 2, v);
                    put_message(&mut inner, 3, &entry);
                }
                put_str(&mut inner, 4, aws_profile);
                1
            }
            Key::Pgp(fp) => {
                put_str(&mut inner, 1, fp);
                2
            }
            Key::GcpKms(id) => {
                put_str(&mut inner, 1, id);
                3
            }
            Key::AzureKv {
                vault_url,
                name,
                version,
            } => {
                put_str(&mut inner, 1, vault_url);
                put_str(&mut inner, 2, name);
                put_str(&mut inner, 3, version);
                4
            }
            Key::Vault {
                vault_address,
                engine_path,
                key_name,
            } => {
                put_str(&mut inner, 1, vault_address);
                put_str(&mut inner, 2, engine_path);
                put_str(&mut inner, 3, key_name);
                5
            }
            Key::Age(r) => {
                put_str(&mut inner, 1, r);
                6
            }
            Key::Hckms(id) => {
                put_str(&mut inner, 1, id);
                7
            }
        };
        // A oneof member is sent even when empty: its presence says which type it is.
        put_message(out, field, &inner);
    }

    fn decode(buf: &[u8]) -> Result<Option<Key>, String> {
        let mut key = None;
        for f in Fields(buf) {
            let (n, v) = f?;
            let Some(body) = v else { continue };
            let strs = |count: usize| -> Result<Vec<String>, String> {
                let mut out = vec![String::new(); count];
                for f in Fields(body) {
                    let (n, v) = f?;
                    if let Some(b) = v
                        && (1..=count as u32).contains(&n)
                    {
                        out[n as usize - 1] = utf8(b)?;
                    }
                }
                Ok(out)
            };
            key = Some(match n {
                1 => {
                    let s = strs(4)?;
                    let mut context = Vec::new();
                    for f in Fields(body) {
                        if let (3, Some(entry)) = f? {
                            let mut kv = (String::new(), String::new());
                            for f in Fields(entry) {
                                match f? {
                                    (1, Some(b)) => kv.0 = utf8(b)?,
                                    (2, Some(b)) => kv.1 = utf8(b)?,
                                    _ => {}
                                }
                            }
                            context.push(kv);
                        }
                    }
                    let [arn, role, _, aws_profile] =
                        <[String; 4]>::try_from(s).map_err(|_| "malformed KmsKey".to_string())?;
                    Key::Kms {
                        arn,
                        role,
                        context,
                        aws_profile,
                    }
                }
                2 => Key::Pgp(strs(1)?.remove(0)),
                3 => Key::GcpKms(strs(1)?.remove(0)),
                4 => {
                    let mut s = strs(3)?.into_iter();
                    Key::AzureKv {
                        vault_url: s.next().unwrap_or_default(),
                        name: s.next().unwrap_or_default(),
                        version: s.next().unwrap_or_default(),
                    }
                }
                5 => {
                    let mut s = strs(3)?.into_iter();
                    Key::Vault {
                        vault_address: s.next().unwrap_or_default(),
                        engine_path: s.next().unwrap_or_default(),
                        key_name: s.next().unwrap_or_default(),
                    }
                }
                6 => Key::Age(strs(1)?.remove(0)),
                7 => Key::Hckms(strs(1)?.remove(0)),
                _ => continue,
            });
        }
        Ok(key)
    }
}

/// An `EncryptRequest` or `DecryptRequest`: the key and the payload (plaintext or
/// ciphertext: both are field 2).
pub struct Request {
    /// `key` (1); `None` when the message has none (sops answers "Must provide a key").
    pub key: Option<Key>,
    /// `plaintext` / `ciphertext` (2).
    pub payload: Zeroizing<Vec<u8>>,
}

impl Request {
    /// The wire form.
    pub fn encode(key: &Key, payload: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(payload.len() + 128));
        let mut k = Vec::new();
        key.encode(&mut k);
        put_message(&mut out, 1, &k);
        put_bytes(&mut out, 2, payload);
        out
    }

    /// Read the wire form.
    pub fn decode(buf: &[u8]) -> Result<Request, String> {
        let mut req = Request {
            key: None,
            payload: Zeroizing::new(Vec::new()),
        };
        for f in Fields(buf) {
            match f? {
                (1, Some(b)) => req.key = Key::decode(b)?,
                (2, Some(b)) => req.payload = Zeroizing::new(b.to_vec()),
                _ => {}
            }
        }
        Ok(req)
    }
}

/// An `EncryptResponse` or `DecryptResponse`: one bytes field (1).
pub fn encode_response(payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(payload.len() + 8));
    put_bytes(&mut out, 1, payload);
    out
}

/// Read a response's bytes field.
pub fn decode_response(buf: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::new());
    for f in Fields(buf) {
        if let (1, Some(b)) = f? {
            out = Zeroizing::new(b.to_vec());
        }
    }
    Ok(out)
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8".to_string())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn put_message(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// A proto3 bytes field: omitted when empty, as the default value is.
fn put_bytes(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    if !body.is_empty() {
        put_message(out, field, body);
    }
}

fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    put_bytes(out, field, s.as_bytes());
}

/// The fields of a message: (number, the body of a length-delimited field; `None` for the
/// other wire types, which are skipped).
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or("a truncated varint")?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("an overlong varint".to_string())
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "a field too long")?;
        if n > self.0.len() {
            return Err("a truncated field".to_string());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Option<&'a [u8]>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let mut step = || -> Result<(u32, Option<&'a [u8]>), String> {
            let tag = self.varint()?;
            let field = u32::try_from(tag >> 3).map_err(|_| "a field number too large")?;
            match tag & 7 {
                0 => self.varint().map(|_| (field, None)),
                1 => self.take(8).map(|_| (field, None)),
                2 => {
                    let n = self.varint()?;
                    self.take(n).map(|b| (field, Some(b)))
                }
                5 => self.take(4).map(|_| (field, None)),
                w => Err(format!("unsupported protobuf wire type {w}")),
            }
        };
        let out = step();
        if out.is_err() {
            self.0 = &[];
        }
        Some(out.map_err(|e| format!("malformed protobuf message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_every_key_type() {
        let keys = [
            Key::Kms {
                arn: "arn:aws:kms:eu-west-1:1:key/k".into(),
                role: "arn:aws:iam::1:role/r".into(),
                context: vec![("a".into(), "b".into()), ("c".into(), String::new())],
                aws_profile: "p".into(),
            },
            Key::Pgp("FP".into()),
            Key::GcpKms("projects/p/keyRings/r/cryptoKeys/k".into()),
            Key::AzureKv {
                vault_url: "https://v.vault.azure.net".into(),
                name: "n".into(),
                version: "1".into(),
            },
            Key::Vault {
                vault_address: "http://127.0.0.1:8200".into(),
                engine_path: "transit".into(),
                key_name: "k".into(),
            },
            Key::Age("age1x".into()),
            Key::Hckms("region:id".into()),
            Key::Age(String::new()),
        ];
        for key in keys {
            let wire = Request::encode(&key, b"secret");
            let back = Request::decode(&wire).unwrap();
            assert_eq!(back.key.as_ref(), Some(&key));
            assert_eq!(back.payload.as_slice(), b"secret");
            let entry = key.to_entry("E");
            assert_eq!(Key::from_entry(key.kind(), &entry), Some(key));
        }
    }

    #[test]
    fn field_numbers_match_the_proto() {
        // key(1): Key{age_key(6): AgeKey{recipient(1): "r"}}, plaintext(2): "p"
        let wire = Request::encode(&Key::Age("r".into()), b"p");
        assert_eq!(
            wire.as_slice(),
            &[0x0a, 5, 0x32, 3, 0x0a, 1, b'r', 0x12, 1, b'p']
        );
        assert_eq!(encode_response(b"c").as_slice(), &[0x0a, 1, b'c']);
        assert_eq!(decode_response(&[0x0a, 1, b'c']).unwrap().as_slice(), b"c");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [&[0x0a, 5, 1][..], &[0xff; 11], &[0x0b]] {
            assert!(Request::decode(bad).is_err(), "{bad:?}");
        }
        assert!(Request::decode(&[]).unwrap().key.is_none());
    }
}
