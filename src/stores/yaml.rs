//! The Yaml store (stub: being written).

use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Value};

/// The Yaml store.
pub struct YamlStore;

impl Store for YamlStore {
    fn format(&self) -> Format {
        Format::Yaml
    }
    fn load_plain(&self, _input: &[u8]) -> Result<Parsed, StoreError> {
        todo!()
    }
    fn emit_plain(&self, _docs: &[Branch], _layout: &Layout, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        todo!()
    }
    fn emit_encrypted(&self, _docs: &[Branch], _metadata: &Branch, _layout: &Layout, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        todo!()
    }
    fn emit_value(&self, _value: &Value, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        todo!()
    }
}
