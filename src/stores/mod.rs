//! One store per file format (YAML, JSON, dotenv, INI, binary) behind one interface:
//! bytes ⇄ [`Branch`] documents plus the raw `sops` metadata tree. Stores never touch
//! files, never decide what is encrypted, and never interpret the metadata.

use std::any::Any;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::tree::{Branch, Value};

pub mod binary;
pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod yaml;

/// The file formats seal reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`), possibly several documents.
    Yaml,
    /// JSON (`.json`): one top-level object.
    Json,
    /// dotenv (`.env`): `KEY=VALUE` lines.
    Dotenv,
    /// INI (`.ini`): sections of `key = value`.
    Ini,
    /// Anything else: the whole file is one value, stored in a JSON envelope.
    Binary,
}

impl Format {
    /// Pick a format from a file name, as sops does: `.yaml`/`.yml`, `.json`, `.env`,
    /// `.ini`, anything else is binary.
    pub fn from_path(path: &Path) -> Format {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parse a `--input-type`/`--output-type` name.
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// The format's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// The store for this format.
    pub fn store(self) -> &'static dyn Store {
        match self {
            Format::Yaml => &yaml::YamlStore,
            Format::Json => &json::JsonStore,
            Format::Dotenv => &dotenv::DotenvStore,
            Format::Ini => &ini::IniStore,
            Format::Binary => &binary::BinaryStore,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a store keeps about the source bytes so that a later emit of the same format can
/// reproduce the input's layout (indentation, comments, quoting, blank lines). Opaque to
/// everyone but the store that made it; `Layout::none()` means "write canonically".
#[derive(Clone, Default)]
pub struct Layout(Option<Arc<dyn Any + Send + Sync>>);

impl Layout {
    /// No layout: the store writes its canonical form.
    pub fn none() -> Layout {
        Layout(None)
    }

    /// Wrap a store's own layout value.
    pub fn new<T: Any + Send + Sync>(value: T) -> Layout {
        Layout(Some(Arc::new(value)))
    }

    /// The store's own layout value, if this layout was made by that store.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.as_ref().and_then(|a| a.downcast_ref::<T>())
    }
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Layout(..)"
        } else {
            "Layout(none)"
        })
    }
}

/// A parsed file: its documents, the raw `sops` metadata tree when present, and the layout.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// The documents (one for every format but YAML), with the `sops` key removed.
    pub docs: Vec<Branch>,
    /// The `sops` metadata as a tree: for YAML the value of the first document's `sops`
    /// key; for JSON the `sops` object; for dotenv/INI the `sops_*` keys / `[sops]` section
    /// unflattened (values stay strings there). `None` when the file has none.
    pub metadata: Option<Branch>,
    /// How the source was laid out (see [`Layout`]).
    pub layout: Layout,
}

/// Output options that come from `.sops.yaml` `stores:` or the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// Indentation: YAML spaces (default 4 when writing canonically), JSON spaces
    /// (`None` = one tab).
    pub indent: Option<usize>,
}

/// A store: bytes ⇄ documents for one format. Implementations do no I/O.
pub trait Store: Sync {
    /// The format this store handles.
    fn format(&self) -> Format;

    /// Parse a plaintext file. A `sops` key / `sops_*` keys / `[sops]` section, if present,
    /// is still split off into [`Parsed::metadata`] so that callers can refuse to encrypt
    /// twice.
    fn load_plain(&self, input: &[u8]) -> Result<Parsed, StoreError>;

    /// Parse an encrypted file. Same as [`Store::load_plain`] except for the binary store,
    /// whose encrypted form is a JSON envelope.
    fn load_encrypted(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        self.load_plain(input)
    }

    /// [`Store::load_encrypted`] of a buffer the caller has no further use for, for a
    /// decrypt: a store that keeps the text (YAML, for its layout) keeps this buffer
    /// instead of a copy, and its layout fits [`Store::emit_plain`] of the tree after the
    /// decrypt walk only (YAML keeps no copy of the tree as read).
    fn load_encrypted_owned(&self, input: Vec<u8>) -> Result<Parsed, StoreError> {
        self.load_encrypted(&input)
    }

    /// Parse a file (plain or encrypted) only to look at it: the same documents and
    /// metadata as [`Store::load_encrypted`], and a layout that gives offsets
    /// ([`yaml::leaf_offsets`]) but that the layout-preserving writer declines (YAML keeps
    /// no copy of the tree for it). For readers that never write the file back.
    fn load_for_reading(&self, input: &[u8]) -> Result<Parsed, StoreError> {
        self.load_encrypted(input)
    }

    /// Write plaintext documents. Any `sops` block in the layout's source is dropped.
    fn emit_plain(
        &self,
        docs: &[Branch],
        layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError>;

    /// Write encrypted documents followed by the metadata (YAML: appended to every
    /// document; dotenv/INI: flattened).
    fn emit_encrypted(
        &self,
        docs: &[Branch],
        metadata: &Branch,
        layout: &Layout,
        opts: EmitOptions,
    ) -> Result<Vec<u8>, StoreError>;

    /// Write a single value (`decrypt --extract` of a non-string value).
    fn emit_value(&self, value: &Value, opts: EmitOptions) -> Result<Vec<u8>, StoreError>;
}

/// What went wrong in a store. Positions are 1-based.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The input does not parse in this format.
    #[error("{format} syntax error{}: {message}", at(*line, *column))]
    Syntax {
        /// The format that was expected.
        format: Format,
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// 1-based column, when the parser knows it.
        column: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// The file has no document at all (sops exit 92).
    #[error("the file is empty: it has no {format} document")]
    NoDocument {
        /// The format that was expected.
        format: Format,
    },
    /// The structure is valid in the format but not what sops supports: a top-level list
    /// or scalar, a non-string key, a duplicate key, a value dotenv cannot hold…
    #[error("{message}{}", at(*line, *column))]
    Unsupported {
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is not supported, in one sentence.
        message: String,
    },
    /// A value cannot be written in this format (e.g. a nested map into dotenv; sops exit 4).
    #[error("cannot write {format}: {message}")]
    Emit {
        /// The output format.
        format: Format,
        /// Why.
        message: String,
    },
    /// The input is larger or deeper than seal accepts.
    #[error("{message}")]
    Limit {
        /// Which limit, and its value.
        message: String,
    },
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}
