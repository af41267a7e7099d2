//! `seal set` / `seal unset`: change or remove one value of an encrypted file in memory
//! (sops's `set`/`unset`, with `--generate` built in). The file is decrypted with its MAC
//! checked, one value changes, every other value is re-encrypted to the same bytes (IVs
//! reused through the stash, same data key), the MAC is recomputed, and the file is
//! replaced atomically. Plaintext never reaches the disk.

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use zeroize::Zeroizing;

use crate::commands::common::{self, Ctx, Input, InputArgs, Opened, SealPlan, emit_options};
use crate::commands::decrypt::{PathPart, parse_tree_path};
use crate::error::{CliError, exit};
use crate::fsio::{self, Sensitivity};
use crate::k8s::generate::Generator;
use crate::metadata::SOPS_VERSION;
use crate::stores::Format;
use crate::tree::{Branch, Item, Value};

/// Exit code of sops for a malformed `set` value.
const INVALID_SET_FORMAT: u8 = 7;

/// Set one value of an encrypted file without decrypting it to disk
///
/// PATH is sops's tree path: '["stringData"]["PASSWORD"]' (keys) and [N] (list
/// indices); missing keys are created. VALUE is JSON, as in `sops set` ('"text"', 5,
/// true, {"a": 1}); JSON numbers are stored as floats, as sops does. With --raw, VALUE
/// (or standard input, or the file) is taken as a plain string. --generate makes a
/// random string in memory (hex:N, base64:N, password:N, uuid). The file keeps its data
/// key; unchanged values keep their exact ciphertext, so the diff is one line plus the
/// MAC and lastmodified.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["value", "generate", "value_stdin", "value_file"])))]
pub struct SetArgs {
    /// The encrypted file (rewritten in place).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Where: '["key"]["nested"]' or '["list"][0]'.
    #[arg(value_name = "PATH")]
    path: String,

    /// The new value, as JSON (or a plain string with --raw).
    #[arg(value_name = "VALUE")]
    value: Option<String>,

    /// Generate a random string: hex:N, base64:N, password:N or uuid.
    #[arg(long, value_name = "SPEC")]
    generate: Option<String>,

    /// Read the value from standard input.
    #[arg(long)]
    value_stdin: bool,

    /// Read the value from this file.
    #[arg(long, value_name = "FILE")]
    value_file: Option<PathBuf>,

    /// Take the value as a plain string, not JSON (one trailing newline of standard input
    /// or of the file is dropped).
    #[arg(long)]
    raw: bool,

    /// Do nothing (and succeed) when the value is already the same.
    #[arg(long)]
    idempotent: bool,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    input_type: Option<Format>,

    /// Rewrite the file in this format (as `sops set --output-type`; default: the input's).
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    output_type: Option<Format>,

    /// Use this path to pick the file's format (as `sops set --filename-override`).
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,

    /// Open the file even when its MAC does not match (as sops's --ignore-mac).
    #[arg(long)]
    ignore_mac: bool,
}

/// Remove one value of an encrypted file
///
/// PATH is sops's tree path ('["stringData"]["OLD_KEY"]', or [N] for a list item). A
/// missing key is an error (exit 1) unless --idempotent. Other values keep their exact
/// ciphertext.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The encrypted file (rewritten in place).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Where: '["key"]["nested"]' or '["list"][0]'.
    #[arg(value_name = "PATH")]
    path: String,

    /// Succeed without changing anything when the key does not exist.
    #[arg(long)]
    idempotent: bool,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    input_type: Option<Format>,

    /// Rewrite the file in this format (as `sops set --output-type`; default: the input's).
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    output_type: Option<Format>,

    /// Use this path to pick the file's format (as `sops set --filename-override`).
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,

    /// Open the file even when its MAC does not match (as sops's --ignore-mac).
    #[arg(long)]
    ignore_mac: bool,
}

/// Run `seal set`.
pub fn run_set(ctx: &Ctx, args: &SetArgs) -> Result<(), CliError> {
    let path = parse_tree_path(&args.path)?;
    let value = new_value(ctx, args)?;
    let input = read(
        ctx,
        &args.file,
        args.input_type,
        args.output_type,
        args.filename_override.as_ref(),
    )?;
    let ids = ctx.identities();
    let mut opened = common::open(&input, &ids, args.ignore_mac, true)?;
    let doc = first_doc(&mut opened, &input)?;
    let changed = set_value(doc, &path, value.0).map_err(|e| {
        CliError::new(exit::GENERIC, format!("cannot set {}: {e}", args.path))
            .in_file(&input.display)
    })?;
    // Without --idempotent sops rewrites even an equal value (new lastmodified and MAC);
    // so do we.
    if !changed && args.idempotent {
        eprintln!(
            "seal: {}: {} already has this value; nothing written",
            input.display.display(),
            args.path
        );
        return Ok(());
    }
    write_back(ctx, &input, opened)
}

/// Run `seal unset`.
pub fn run_unset(ctx: &Ctx, args: &UnsetArgs) -> Result<(), CliError> {
    let path = parse_tree_path(&args.path)?;
    let input = read(
        ctx,
        &args.file,
        args.input_type,
        args.output_type,
        args.filename_override.as_ref(),
    )?;
    let ids = ctx.identities();
    let mut opened = common::open(&input, &ids, args.ignore_mac, true)?;
    let doc = first_doc(&mut opened, &input)?;
    if !unset_value(doc, &path) {
        if args.idempotent {
            return Ok(());
        }
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "key not found: the first document has nothing at {}",
                args.path
            ),
        )
        .in_file(&input.display)
        .hint("pass --idempotent to succeed when it is already gone"));
    }
    write_back(ctx, &input, opened)
}

fn read(
    ctx: &Ctx,
    file: &std::path::Path,
    input_type: Option<Format>,
    output_type: Option<Format>,
    filename_override: Option<&PathBuf>,
) -> Result<Input, CliError> {
    let input = Input::read(
        ctx,
        &InputArgs {
            file: Some(file.to_path_buf()),
            input_type,
            output_type,
            filename_override: filename_override.cloned(),
        },
        Format::Yaml,
    )?;
    if input.file.is_none() {
        return Err(CliError::new(
            exit::NO_FILE,
            "set/unset rewrite a file in place: standard input cannot be used",
        ));
    }
    crate::commands::encrypt::refuse_hard_links(input.file.as_deref())?;
    if input.format == Format::Binary || input.out_format == Format::Binary {
        return Err(CliError::new(
            exit::GENERIC,
            "this is a binary-format file (one opaque value): there is no path to set",
        )
        .in_file(&input.display)
        .hint("use --input-type yaml|json|dotenv|ini if the file name hides its format"));
    }
    Ok(input)
}

fn first_doc<'a>(opened: &'a mut Opened, input: &Input) -> Result<&'a mut Branch, CliError> {
    opened.docs.first_mut().ok_or_else(|| {
        CliError::new(exit::NO_DOCUMENT, "the file has no document").in_file(&input.display)
    })
}

/// The value to set (generated and read values pass through `Zeroizing` buffers first).
struct NewValue(Value);

fn new_value(ctx: &Ctx, args: &SetArgs) -> Result<NewValue, CliError> {
    if let Some(spec) = &args.generate {
        let g =
            Generator::parse(spec).map_err(|e| CliError::new(exit::CONFLICTING_PARAMETERS, e))?;
        let v = g.generate().map_err(|e| CliError::new(exit::GENERIC, e))?;
        return Ok(NewValue(Value::Str(v.to_string())));
    }
    let text: Zeroizing<String> = if let Some(v) = &args.value {
        Zeroizing::new(v.clone())
    } else {
        let mut bytes = Zeroizing::new(Vec::new());
        if args.value_stdin {
            *bytes = crate::commands::common::read_stdin()?;
        } else if let Some(f) = &args.value_file {
            *bytes = std::fs::read(ctx.absolute(f)).map_err(|e| CliError::read_io(f, e))?;
        }
        let s = String::from_utf8(bytes.to_vec()).map_err(|_| {
            CliError::new(INVALID_SET_FORMAT, "the value is not UTF-8 text")
                .hint("for binary data, base64-encode it and store it under data")
        })?;
        let mut s = Zeroizing::new(s);
        if args.raw && s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        s
    };
    if args.raw {
        return Ok(NewValue(Value::Str(text.to_string())));
    }
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CliError::new(
            INVALID_SET_FORMAT,
            format!(
                "the value is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
        .hint(
            "quote strings as JSON ('\"text\"'), or pass --raw to take the value as a plain string",
        )
    })?;
    Ok(NewValue(from_json(&json)))
}

/// A JSON value as sops stores it: numbers become floats.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Branch(Branch {
            items: o
                .iter()
                .map(|(k, v)| Item::Pair(k.clone(), from_json(v)))
                .collect(),
        }),
    }
}

fn non_comment_index(list: &[Value], n: usize) -> Option<usize> {
    list.iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Value::Comment(_)))
        .nth(n)
        .map(|(i, _)| i)
}

fn pair_mut<'a>(b: &'a mut Branch, key: &str) -> Option<&'a mut Value> {
    b.items.iter_mut().find_map(|it| match it {
        Item::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// Set `path` in `doc` to `value`, creating missing keys. Returns whether anything
/// changed. Errors name the component that does not fit.
pub fn set_value(doc: &mut Branch, path: &[PathPart], value: Value) -> Result<bool, String> {
    let Some((PathPart::Key(first), rest)) = path.split_first() else {
        return Err("a document is a mapping: the path must start with a [\"key\"]".into());
    };
    set_in_branch(doc, first, rest, value)
}

fn set_in_branch(
    b: &mut Branch,
    key: &str,
    rest: &[PathPart],
    value: Value,
) -> Result<bool, String> {
    if pair_mut(b, key).is_none() {
        let fresh = match rest.first() {
            None => {
                b.items.push(Item::Pair(key.to_string(), value));
                return Ok(true);
            }
            Some(PathPart::Key(_)) => Value::Branch(Branch::default()),
            Some(PathPart::Index(_)) => Value::List(Vec::new()),
        };
        b.items.push(Item::Pair(key.to_string(), fresh));
    }
    let slot = pair_mut(b, key).ok_or("internal: key vanished")?;
    set_in_value(slot, key, rest, value)
}

fn set_in_value(
    slot: &mut Value,
    name: &str,
    rest: &[PathPart],
    value: Value,
) -> Result<bool, String> {
    let Some((next, rest)) = rest.split_first() else {
        if *slot == value {
            return Ok(false);
        }
        *slot = value;
        return Ok(true);
    };
    match (slot, next) {
        (Value::Branch(b), PathPart::Key(k)) => set_in_branch(b, k, rest, value),
        (Value::List(l), PathPart::Index(n)) => {
            let count = l.iter().filter(|v| !matches!(v, Value::Comment(_))).count();
            match non_comment_index(l, *n) {
                Some(i) => {
                    let v = l.get_mut(i).ok_or("internal: index vanished")?;
                    set_in_value(v, name, rest, value)
                }
                None if *n == count => {
                    let mut v = match rest.first() {
                        None => Value::Null,
                        Some(PathPart::Key(_)) => Value::Branch(Branch::default()),
                        Some(PathPart::Index(_)) => Value::List(Vec::new()),
                    };
                    set_in_value(&mut v, name, rest, value)?;
                    l.push(v);
                    Ok(true)
                }
                None => Err(format!(
                    "{name} has {count} item(s): index {n} is out of range"
                )),
            }
        }
        (Value::Branch(_), PathPart::Index(n)) => Err(format!(
            "{name} is a mapping, not a list: [{n}] does not apply"
        )),
        (_, PathPart::Key(k)) => Err(format!("{name} is not a mapping: [\"{k}\"] does not apply")),
        (_, PathPart::Index(n)) => Err(format!("{name} is not a list: [{n}] does not apply")),
    }
}

/// Remove `path` from `doc`. Returns false when it is not there.
pub fn unset_value(doc: &mut Branch, path: &[PathPart]) -> bool {
    let Some((PathPart::Key(first), rest)) = path.split_first() else {
        return false;
    };
    unset_in_branch(doc, first, rest)
}

fn unset_in_branch(b: &mut Branch, key: &str, rest: &[PathPart]) -> bool {
    if rest.is_empty() {
        let before = b.items.len();
        b.items
            .retain(|it| !matches!(it, Item::Pair(k, _) if k == key));
        return b.items.len() != before;
    }
    match pair_mut(b, key) {
        Some(v) => unset_in_value(v, rest),
        None => false,
    }
}

fn unset_in_value(v: &mut Value, path: &[PathPart]) -> bool {
    let Some((next, rest)) = path.split_first() else {
        return false;
    };
    match (v, next) {
        (Value::Branch(b), PathPart::Key(k)) => unset_in_branch(b, k, rest),
        (Value::List(l), PathPart::Index(n)) => match non_comment_index(l, *n) {
            Some(i) if rest.is_empty() => {
                l.remove(i);
                true
            }
            Some(i) => l.get_mut(i).is_some_and(|x| unset_in_value(x, rest)),
            None => false,
        },
        _ => false,
    }
}

/// The newer of two sops versions (`3.9.1` < `3.11.0`).
fn newer_version(a: &str, b: &str) -> String {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    if parse(a) >= parse(b) {
        a.to_string()
    } else {
        b.to_string()
    }
}

/// Re-encrypt with the same data key (IVs of unchanged values reused), new MAC and
/// lastmodified, and replace the file atomically.
fn write_back(ctx: &Ctx, input: &Input, opened: Opened) -> Result<(), CliError> {
    let Opened {
        mut docs,
        metadata,
        layout,
        key,
        stash,
    } = opened;
    let config = ctx.config().ok().flatten();
    let meta = common::seal_docs(
        &mut docs,
        &key,
        SealPlan {
            selector: metadata.selector.clone(),
            mac_only_encrypted: metadata.mac_only_encrypted,
            key_groups: metadata.key_groups.clone(),
            shamir_threshold: metadata.shamir_threshold,
            version: newer_version(&metadata.version, SOPS_VERSION),
        },
        Some(&stash),
    )
    .map_err(|e| e.in_file(&input.display))?;
    // sops set --output-type rewrites the file in that format; the layout (comments,
    // quoting) is the input format's, so it is kept only when the format stays.
    let layout = if input.out_format == input.format {
        layout
    } else {
        crate::stores::Layout::none()
    };
    let bytes = input
        .out_format
        .store()
        .emit_encrypted(
            &docs,
            &meta.to_tree(),
            &layout,
            emit_options(input.out_format, None, config.as_ref()),
        )
        .map_err(|e| CliError::writing(e).in_file(&input.display))?;
    let dest = input
        .file
        .as_ref()
        .ok_or_else(|| CliError::new(exit::NO_FILE, "no file to write"))?;
    fsio::write_atomic(dest, &bytes, Sensitivity::Public).map_err(|e| CliError::write_io(dest, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(yaml: &str) -> Branch {
        Format::Yaml
            .store()
            .load_plain(yaml.as_bytes())
            .unwrap()
            .docs
            .remove(0)
    }

    fn p(s: &str) -> Vec<PathPart> {
        parse_tree_path(s).unwrap()
    }

    #[test]
    fn set_creates_missing_keys_and_reports_changes() {
        let mut d = doc("a: 1\n");
        assert!(set_value(&mut d, &p(r#"["b"]["c"]"#), Value::Str("x".into())).unwrap());
        assert_eq!(d, doc("a: 1\nb:\n  c: x\n"));
        assert!(!set_value(&mut d, &p(r#"["b"]["c"]"#), Value::Str("x".into())).unwrap());
        assert!(set_value(&mut d, &p(r#"["a"]"#), Value::Float(2.0)).unwrap());
        assert_eq!(d.get("a"), Some(&Value::Float(2.0)));
    }

    #[test]
    fn set_in_lists_and_type_errors() {
        let mut d = doc("l: [a, b]\ns: x\n");
        assert!(set_value(&mut d, &p(r#"["l"][1]"#), Value::Str("B".into())).unwrap());
        assert!(set_value(&mut d, &p(r#"["l"][2]"#), Value::Str("c".into())).unwrap());
        assert_eq!(d, doc("l: [a, B, c]\ns: x\n"));
        assert!(
            set_value(&mut d, &p(r#"["l"][9]"#), Value::Null)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            set_value(&mut d, &p(r#"["s"]["k"]"#), Value::Null)
                .unwrap_err()
                .contains("not a mapping")
        );
        assert!(set_value(&mut d, &p("[0]"), Value::Null).is_err());
    }

    #[test]
    fn unset_removes_keys_and_items() {
        let mut d = doc("a: 1\nb: {c: 2, d: 3}\nl: [x, y]\n");
        assert!(unset_value(&mut d, &p(r#"["b"]["c"]"#)));
        assert!(unset_value(&mut d, &p(r#"["l"][0]"#)));
        assert!(!unset_value(&mut d, &p(r#"["zz"]"#)));
        assert!(!unset_value(&mut d, &p(r#"["a"]["x"]"#)));
        assert_eq!(d, doc("a: 1\nb: {d: 3}\nl: [y]\n"));
    }

    #[test]
    fn json_numbers_become_floats() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"n": 5432, "s": "x", "l": [true, null]}"#).unwrap();
        assert_eq!(
            from_json(&v),
            Value::Branch(Branch {
                items: vec![
                    Item::Pair("n".into(), Value::Float(5432.0)),
                    Item::Pair("s".into(), Value::Str("x".into())),
                    Item::Pair(
                        "l".into(),
                        Value::List(vec![Value::Bool(true), Value::Null])
                    ),
                ]
            })
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(newer_version("3.9.1", "3.11.0"), "3.11.0");
        assert_eq!(newer_version("3.12.0", "3.11.0"), "3.12.0");
    }

    proptest! {
        /// set then unset at a fresh key gives the document back.
        #[test]
        fn set_then_unset_round_trips(k in "[a-z]{1,8}", v in "[ -~]{0,20}") {
            let original = doc("stringData:\n  keep: me\n");
            let mut d = original.clone();
            let path = vec![PathPart::Key("stringData".into()), PathPart::Key(format!("new_{k}"))];
            prop_assert!(set_value(&mut d, &path, Value::Str(v.clone())).unwrap());
            prop_assert!(unset_value(&mut d, &path));
            prop_assert_eq!(d, original);
        }
    }
}
