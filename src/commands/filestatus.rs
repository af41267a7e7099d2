//! `seal filestatus`: is this file a sops file? Prints sops's exact JSON answer.

use std::path::PathBuf;

use clap::Args;

use crate::commands::common::{Ctx, Input, InputArgs, write_result};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::stores::Format;
use crate::tree::{Branch, Value};

/// Tell whether a file is encrypted, as sops does
///
/// Prints {"encrypted":true} when FILE is a sops file (its metadata has a non-empty MAC and
/// version), else {"encrypted":false} (no sops metadata, or one without version or MAC).
/// Exits 1, as sops does, when the file does not load in its store (YAML: its first
/// document; JSON and binary: as JSON) or its metadata does not (a lastmodified that is
/// not a time, no key at all).
#[derive(Debug, Args)]
pub struct FilestatusArgs {
    /// The file to look at.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = crate::commands::common::parse_format)]
    input_type: Option<Format>,
}

/// Run `seal filestatus`.
pub fn run(ctx: &Ctx, args: &FilestatusArgs) -> Result<(), CliError> {
    let input = Input::read(
        ctx,
        &InputArgs {
            file: Some(args.file.clone()),
            input_type: args.input_type,
            output_type: None,
            filename_override: None,
        },
        Format::Yaml,
    )?;
    let encrypted = status(&input)?;
    let line = format!("{{\"encrypted\":{encrypted}}}\n");
    write_result(None, line.as_bytes(), Sensitivity::Public)
}

/// The status of one input: Ok(true/false), or an error (exit 1) when sops's
/// `filestatus` fails on it.
///
/// sops loads the file in its store and converts the metadata (`LoadEncryptedFile`):
/// YAML reads only the first document (so a later document may hold anything), JSON and
/// binary read the whole text as JSON (duplicate keys allowed, the last one wins), dotenv
/// and INI their `sops_*` keys. No metadata at all is `false`; metadata that does not
/// convert (a field that is not a scalar, a `lastmodified` or a key's `created_at` that
/// is not an RFC 3339 time, no key at all: "No keys found in file") is an error;
/// otherwise the answer is whether `version` and `mac` are both non-empty.
pub fn status(input: &Input) -> Result<bool, CliError> {
    let fail = |m: String| {
        CliError::new(exit::GENERIC, format!("cannot check file status: {m}"))
            .in_file(&input.display)
    };
    let store_fail = |e: crate::stores::StoreError| {
        CliError::new(exit::GENERIC, format!("cannot check file status: {e}"))
            .in_file(&input.display)
            .hint("pass --input-type if the file is not in the format its name suggests")
    };
    let meta = match input.format {
        Format::Yaml => {
            let Some((first, sops_null)) = first_yaml_document(&input.bytes).map_err(store_fail)?
            else {
                return Ok(false);
            };
            if sops_null {
                return Ok(false);
            }
            match Format::Yaml.store().load_plain(first.as_bytes()) {
                Ok(p) => p.metadata,
                Err(crate::stores::StoreError::NoDocument { .. }) => None,
                Err(e) => return Err(store_fail(e)),
            }
        }
        // The binary store reads its envelope as JSON.
        Format::Json | Format::Binary => {
            // Go's encoding/json: an object or null at the top; of duplicate keys the last
            // one counts; `"sops": null` is no metadata.
            let v: serde_json::Value = serde_json::from_slice(&input.bytes).map_err(|e| {
                fail(format!("the file is not valid JSON: {e}"))
                    .hint("pass --input-type if the file is not in the format its name suggests")
            })?;
            match &v {
                serde_json::Value::Null => return Ok(false),
                serde_json::Value::Object(o) => match o.get("sops") {
                    None | Some(serde_json::Value::Null) => return Ok(false),
                    Some(serde_json::Value::Object(_)) => {}
                    Some(_) => {
                        return Err(fail("the sops metadata is not a JSON object".to_string()));
                    }
                },
                _ => return Err(fail("the JSON is not an object".to_string())),
            }
            Format::Json
                .store()
                .load_plain(&input.bytes)
                .map_err(store_fail)?
                .metadata
        }
        f => {
            f.store()
                .load_encrypted(&input.bytes)
                .map_err(store_fail)?
                .metadata
        }
    };
    let Some(meta) = meta else {
        return Ok(false);
    };
    let version = scalar(&meta, "version").map_err(fail)?;
    let mac = scalar(&meta, "mac").map_err(fail)?;
    let lastmodified = scalar(&meta, "lastmodified").map_err(fail)?;
    if crate::tree::time_text::parse_rfc3339_dt(&lastmodified).is_none() {
        return Err(fail(format!(
            "lastmodified {lastmodified:?} is not an RFC 3339 time"
        ))
        .hint("a sops file's metadata has lastmodified: \"YYYY-MM-DDTHH:MM:SSZ\""));
    }
    let mut keys = 0usize;
    count_keys(&meta, &mut keys).map_err(fail)?;
    if let Some(Value::List(groups)) = meta.get("key_groups") {
        for g in groups {
            if let Value::Branch(b) = g {
                count_keys(b, &mut keys).map_err(fail)?;
            }
        }
    }
    if keys == 0 {
        return Err(fail("No keys found in file".to_string())
            .hint("the sops metadata lists no recipient (age, pgp, kms…) at all"));
    }
    Ok(!version.is_empty() && !mac.is_empty())
}

/// The text of the first YAML document of `bytes` (None: the stream has none), and
/// whether its top-level `sops` key has a null value (which sops reads as no metadata).
fn first_yaml_document(bytes: &[u8]) -> Result<Option<(String, bool)>, crate::stores::StoreError> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let mut src = std::str::from_utf8(bytes)
        .map_err(|_| crate::stores::StoreError::Syntax {
            format: Format::Yaml,
            line: None,
            column: None,
            message: "the file is not valid UTF-8".to_string(),
        })?
        .to_string();
    if !src.is_empty() && !src.ends_with('\n') {
        src.push('\n');
    }
    let mut input: &[u8] = src.as_bytes();
    let mut parser = libyaml_safer::Parser::new();
    parser.set_encoding(libyaml_safer::Encoding::Utf8);
    parser.set_input_string(&mut input);
    let syntax = |e: libyaml_safer::Error| crate::stores::StoreError::Syntax {
        format: Format::Yaml,
        line: e.problem_mark().map(|m| m.line as usize + 1),
        column: e.problem_mark().map(|m| m.column as usize + 1),
        message: e.problem().to_string(),
    };
    let events = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        use libyaml_safer::EventData as E;
        // Depth of collections; position among the root mapping's nodes (even: a key).
        let mut depth = 0usize;
        let mut root_nodes = 0usize;
        let mut after_sops_key = false;
        let mut sops_null = false;
        for ev in parser {
            let ev = ev.map_err(syntax)?;
            let node_at_root = depth == 1
                && matches!(
                    ev.data,
                    E::Scalar { .. }
                        | E::MappingStart { .. }
                        | E::SequenceStart { .. }
                        | E::Alias { .. }
                );
            if node_at_root {
                if root_nodes % 2 == 1 && after_sops_key {
                    sops_null = matches!(&ev.data, E::Scalar { value, style, .. }
                        if *style == libyaml_safer::ScalarStyle::Plain
                            && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"));
                    after_sops_key = false;
                } else if root_nodes.is_multiple_of(2) {
                    after_sops_key = matches!(&ev.data, E::Scalar { value, .. } if value == "sops");
                }
                root_nodes += 1;
            }
            match ev.data {
                E::MappingStart { .. } | E::SequenceStart { .. } => depth += 1,
                E::MappingEnd | E::SequenceEnd => depth = depth.saturating_sub(1),
                E::DocumentEnd { .. } => {
                    let end = (ev.end_mark.index as usize).min(src.len());
                    return Ok(Some((
                        src.get(..end).unwrap_or(&src).to_string(),
                        sops_null,
                    )));
                }
                _ => {}
            }
        }
        Ok(None)
    }));
    events.unwrap_or(Err(crate::stores::StoreError::Syntax {
        format: Format::Yaml,
        line: None,
        column: None,
        message: "the YAML parser rejected the input".to_string(),
    }))
}

/// A metadata field as sops reads it into a string (absent or null: empty); a mapping or
/// list there does not load.
fn scalar(tree: &Branch, key: &str) -> Result<String, String> {
    match tree.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::Str(s)) => Ok(s.clone()),
        Some(Value::Time(t)) => Ok(t.0.clone()),
        Some(Value::Int(i)) => Ok(i.to_string()),
        Some(Value::Float(f)) => Ok(f.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(_) => Err(format!("the sops metadata field {key} is not a string")),
    }
}

/// Count the master keys of one group (or the top level); a key of a type that records
/// its creation time must have an RFC 3339 `created_at`, as sops converts it, and a
/// HuaweiCloud key a `key_id` sops parses.
fn count_keys(group: &Branch, n: &mut usize) -> Result<(), String> {
    for kind in [
        "age", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault",
    ] {
        let Some(Value::List(entries)) = group.get(kind) else {
            continue;
        };
        for e in entries {
            let Value::Branch(entry) = e else {
                continue;
            };
            *n += 1;
            if kind != "age" {
                let created = scalar(entry, "created_at")?;
                if crate::tree::time_text::parse_rfc3339_dt(&created).is_none() {
                    return Err(format!(
                        "a {kind} key's created_at {created:?} is not an RFC 3339 time"
                    ));
                }
            }
            if kind == crate::keys::hckms::TYPE {
                crate::keys::hckms::HcKey::parse(&scalar(entry, "key_id")?)?;
            }
        }
    }
    Ok(())
}
