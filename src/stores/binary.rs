//! The binary store: any file as one opaque value `data`, encrypted into a JSON envelope
//! `{"data": "ENC[...]", "sops": {...}}` (sops-format.md §9.5). Decrypting gives back the
//! exact bytes.

use super::json::JsonStore;
use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The binary store.
pub struct BinaryStore;

/// The one key of the envelope.
const DATA: &str = "data";

fn data_of(doc: &Branch) -> Option<&Value> {
    doc.get(DATA)
}

impl Store for BinaryStore {
    fn format(&self) -> Format {
        Format::Binary
    }

    /// The whole input (even empty) is the value of `data`: a string when it is UTF-8,
    /// bytes otherwise. Never fails.
    fn load_plain(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        let value = match std::str::from_utf8(input) {
            Ok(s) => Value::Str(s.to_string()),
            Err(_) => Value::Bytes(input.to_vec()),
        };
        Ok(Parsed {
            docs: vec![Branch {
                items: vec![Item::Pair(DATA.to_string(), value)],
            }],
            metadata: None,
            layout: Layout::none(),
        })
    }

    /// The JSON envelope, which must have a `data` key.
    fn load_encrypted(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        let parsed = JsonStore.load_encrypted(input)?;
        if parsed.docs.first().and_then(data_of).is_none() {
            return Err(StoreError::Unsupported {
                line: None,
                column: None,
                message: "this is not a sops binary envelope: the JSON object has no \"data\" key"
                    .to_string(),
            });
        }
        Ok(parsed)
    }

    /// The raw bytes of `data`, nothing added.
    fn emit_plain(
        &self,
        docs: &[Branch],
        _layout: &Layout,
        _opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        match docs.first().and_then(data_of) {
            Some(Value::Str(s)) => Ok(s.as_bytes().to_vec()),
            Some(Value::Bytes(b)) => Ok(b.clone()),
            Some(_) => Err(StoreError::Emit {
                format: Format::Binary,
                message: "the \"data\" value is not a string".to_string(),
            }),
            None => Err(StoreError::Emit {
                format: Format::Binary,
                message: "no binary data found: the document has no \"data\" key \
                          (use --output-type to pick another format)"
                    .to_string(),
            }),
        }
    }

    /// The JSON envelope, written by the JSON store.
    fn emit_encrypted(
        &self,
        docs: &[Branch],
        metadata: &Branch,
        layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        JsonStore.emit_encrypted(docs, metadata, layout, opts)
    }

    /// Strings only, as raw bytes (sops cannot extract anything else as binary).
    fn emit_value(&self, value: &Value, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.clone()),
            _ => Err(StoreError::Emit {
                format: Format::Binary,
                message: "binary output can only hold a string value".to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: crate::testdata::SharedDir = crate::testdata::SharedDir("conformance/cases");

    fn read(case: &str, file: &str) -> Vec<u8> {
        std::fs::read(format!("{CASES}/{case}/{file}")).unwrap()
    }

    #[test]
    fn corpus_plain_files_become_one_data_value() {
        // Despite its name, the corpus file is 1024 ASCII 'R' bytes, so it is a string.
        let random = read("binary-random-1k", "plain.bin");
        let p = BinaryStore.load_plain(&random).unwrap();
        assert!(p.metadata.is_none());
        let out = BinaryStore
            .emit_plain(&p.docs, &Layout::none(), EmitOptions::default())
            .unwrap();
        assert_eq!(out, read("binary-random-1k", "dec.bin"));
        let p = BinaryStore.load_plain(b"\x00\xff\xfe").unwrap();
        assert_eq!(
            data_of(&p.docs[0]),
            Some(&Value::Bytes(vec![0, 0xff, 0xfe]))
        );
        let text = read("binary-not-yaml", "plain.yaml");
        let p = BinaryStore.load_plain(&text).unwrap();
        assert!(matches!(data_of(&p.docs[0]), Some(Value::Str(_))));
        let out = BinaryStore
            .emit_plain(&p.docs, &Layout::none(), EmitOptions::default())
            .unwrap();
        assert_eq!(out, read("binary-not-yaml", "dec.yaml"));
    }

    #[test]
    fn empty_input_is_an_empty_string() {
        let p = BinaryStore.load_plain(b"").unwrap();
        assert_eq!(data_of(&p.docs[0]), Some(&Value::Str(String::new())));
    }

    #[test]
    fn corpus_envelopes_load() {
        for (case, file) in [
            ("binary-random-1k", "enc.bin"),
            ("binary-not-yaml", "enc.yaml"),
        ] {
            let p = BinaryStore.load_encrypted(&read(case, file)).unwrap();
            assert!(p.metadata.is_some());
            assert!(matches!(data_of(&p.docs[0]), Some(Value::Str(s)) if s.starts_with("ENC[")));
            // Re-emitting the envelope gives sops's bytes back.
            let out = BinaryStore
                .emit_encrypted(
                    &p.docs,
                    p.metadata.as_ref().unwrap(),
                    &Layout::none(),
                    EmitOptions::default(),
                )
                .unwrap();
            assert_eq!(out, read(case, file));
        }
    }

    #[test]
    fn envelope_without_data_or_not_json_is_refused() {
        assert!(matches!(
            BinaryStore.load_encrypted(b"{\"x\": 1}"),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(matches!(
            BinaryStore.load_encrypted(b"\x00\x01"),
            Err(StoreError::Syntax { .. })
        ));
        assert!(matches!(
            BinaryStore.emit_plain(
                &[Branch::default()],
                &Layout::none(),
                EmitOptions::default()
            ),
            Err(StoreError::Emit { .. })
        ));
        assert!(matches!(
            BinaryStore.emit_value(&Value::Int(1), EmitOptions::default()),
            Err(StoreError::Emit { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let p = BinaryStore.load_plain(&bytes).unwrap();
            let md = Branch { items: vec![Item::Pair("version".into(), Value::Str("3.11.0".into()))] };
            // Through the envelope (as if the value were its own ciphertext) and back.
            let env = BinaryStore.emit_encrypted(&p.docs, &md, &Layout::none(), EmitOptions::default()).unwrap();
            let back = BinaryStore.load_encrypted(&env).unwrap();
            if std::str::from_utf8(&bytes).is_ok() {
                prop_assert_eq!(&back.docs, &p.docs);
            }
            let out = BinaryStore.emit_plain(&p.docs, &Layout::none(), EmitOptions::default()).unwrap();
            prop_assert_eq!(out, bytes);
        }
    }
}
