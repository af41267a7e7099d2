//! The Dotenv store (stub: being written).

use super::{EmitOptions, Format, Layout, Parsed, Store, StoreError};
use crate::tree::{Branch, Value};

/// The Dotenv store.
pub struct DotenvStore;

impl Store for DotenvStore {
    fn format(&self) -> Format {
        Format::Dotenv
    }
    fn load_plain(&self, _input: &[u8]) -> Result<Parsed, StoreError> {
        todo!()
    }
    fn emit_plain(
        &self,
        _docs: &[Branch],
        _layout: &Layout,
        _opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        todo!()
    }
    fn emit_encrypted(
        &self,
        _docs: &[Branch],
        _metadata: &Branch,
        _layout: &Layout,
        _opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError> {
        todo!()
    }
    fn emit_value(&self, _value: &Value, _opts: EmitOptions) -> Result<Vec<u8>, StoreError> {
        todo!()
    }
}
