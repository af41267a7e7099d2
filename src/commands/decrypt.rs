//! `seal decrypt`: an encrypted file in, plaintext out (or one value with `--extract`).

use clap::Args;

use crate::commands::common::{
    self, Ctx, Input, InputArgs, OutputArgs, destination, emit_options, write_result,
};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::stores::{Format, Layout};
use crate::tree::{Branch, Value};

/// Decrypt a file (to stdout, or -i / --output)
///
/// Identities are found where sops looks: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD,
/// SOPS_AGE_SSH_PRIVATE_KEY_FILE, ~/.ssh/id_ed25519 and ~/.ssh/id_rsa, and
/// $XDG_CONFIG_HOME/sops/age/keys.txt (~/.config/sops/age/keys.txt). The file's layout and
/// comments are kept.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// Print only this part of the first document, in sops syntax: '["stringData"]["PASSWORD"]'.
    /// A string is printed raw, without a newline.
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,

    /// Decrypt even if the MAC does not match (prints a warning).
    #[arg(long)]
    ignore_mac: bool,
}

/// Run `seal decrypt`.
pub fn run(ctx: &Ctx, args: &DecryptArgs) -> Result<(), CliError> {
    // Parse --extract before any work, so a typo fails fast.
    let path = match &args.extract {
        Some(p) => Some(parse_tree_path(p)?),
        None => None,
    };
    let mut input = Input::read(ctx, &args.input, Format::Yaml)?;
    input.out_format = crate::commands::encrypt::output_format(&args.input, &input);
    let dest = destination(&input, &args.output)?;
    crate::commands::encrypt::refuse_hard_links(dest.as_deref())?;
    let ids = ctx.identities();
    let opened = common::open(&input, &ids, args.ignore_mac, false)?;
    let config = ctx.config().ok().flatten();
    let opts = emit_options(input.out_format, args.output.indent, config.as_ref());
    let out_store = input.out_format.store();

    let bytes = if let Some(path) = path {
        let empty = Branch::default();
        let first = opened.docs.first().unwrap_or(&empty);
        let value = select(first, &path).cloned().ok_or_else(|| {
            CliError::new(
                exit::GENERIC,
                format!(
                    "component {} not found: the first document has nothing at that path",
                    args.extract.as_deref().unwrap_or_default()
                ),
            )
            .in_file(&input.display)
        })?;
        match value {
            Value::Str(s) => s.into_bytes(),
            Value::Bytes(b) => b,
            other => out_store
                .emit_value(&other, opts)
                .map_err(|e| CliError::writing(e).in_file(&input.display))?,
        }
    } else {
        // An indent asked for (--indent, or stores.*.indent in .sops.yaml) re-indents the
        // whole output, as sops does; otherwise the file's own layout is kept.
        let layout = if input.out_format == input.format && opts.indent.is_none() {
            opened.layout
        } else {
            Layout::none()
        };
        out_store
            .emit_plain(&opened.docs, &layout, opts)
            .map_err(|e| CliError::writing(e).in_file(&input.display))?
    };
    write_result(dest.as_deref(), &bytes, Sensitivity::Secret)
}

/// One component of an `--extract` path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathPart {
    /// `["key"]`
    Key(String),
    /// `[0]`
    Index(usize),
}

/// Parse sops's tree-path syntax: one or more `["key"]`, `['key']` or `[N]`.
pub fn parse_tree_path(s: &str) -> Result<Vec<PathPart>, CliError> {
    let bad = |why: &str| {
        CliError::new(
            exit::INVALID_TREE_PATH,
            format!("invalid --extract path {s:?}: {why}"),
        )
        .hint(r#"write the path as ["key"]["nested"][0], with no spaces"#)
    };
    let mut parts = Vec::new();
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    while !rest.is_empty() {
        let Some(r) = rest.strip_prefix('[') else {
            return Err(bad("expected '['"));
        };
        if let Some(q) = r.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &r[1..];
            let Some(end) = body.find(q) else {
                return Err(bad("unterminated quote"));
            };
            let key = &body[..end];
            let after = &body[end + 1..];
            let Some(after) = after.strip_prefix(']') else {
                return Err(bad("expected ']' after the quoted key"));
            };
            parts.push(PathPart::Key(key.to_string()));
            rest = after;
        } else {
            let Some(end) = r.find(']') else {
                return Err(bad("expected ']'"));
            };
            let n: usize = r[..end]
                .parse()
                .map_err(|_| bad("an index must be a non-negative number; quote keys"))?;
            parts.push(PathPart::Index(n));
            rest = &r[end + 1..];
        }
    }
    Ok(parts)
}

/// Follow `path` in a document (list indices skip comments).
pub fn select<'a>(doc: &'a Branch, path: &[PathPart]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let PathPart::Key(k) = first else {
        return None;
    };
    let mut cur = doc.get(k)?;
    for p in rest {
        cur = match (cur, p) {
            (Value::Branch(b), PathPart::Key(k)) => b.get(k)?,
            (Value::List(l), PathPart::Index(n)) => l
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*n)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Item;

    #[test]
    fn tree_paths_parse_like_sops() {
        assert_eq!(
            parse_tree_path(r#"["stringData"]['PASS'][0]"#).unwrap(),
            vec![
                PathPart::Key("stringData".into()),
                PathPart::Key("PASS".into()),
                PathPart::Index(0)
            ]
        );
        for bad in ["", "stringData", r#"["a""#, "[x]", r#"["a"] ["b"]"#, "[-1]"] {
            let e = parse_tree_path(bad).unwrap_err();
            assert_eq!(e.code, exit::INVALID_TREE_PATH, "{bad}");
        }
    }

    #[test]
    fn select_follows_keys_and_indices_skipping_comments() {
        let doc = Branch {
            items: vec![Item::Pair(
                "a".into(),
                Value::List(vec![
                    Value::Comment(" c".into()),
                    Value::Str("x".into()),
                    Value::Str("y".into()),
                ]),
            )],
        };
        let p = parse_tree_path(r#"["a"][1]"#).unwrap();
        assert_eq!(select(&doc, &p), Some(&Value::Str("y".into())));
        let p = parse_tree_path(r#"["b"]"#).unwrap();
        assert_eq!(select(&doc, &p), None);
        let p = parse_tree_path("[0]").unwrap();
        assert_eq!(
            select(&doc, &p),
            None,
            "a document is a mapping, not a list"
        );
    }
}
