//! `seal decrypt`: an encrypted file in, plaintext out (or one value with `--extract`);
//! several files (or `--recursive DIR`) in, one multi-document YAML stream out, the
//! form `kubectl apply -f -` reads.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::commands::common::{
    self, Ctx, Input, InputArgs, Opened, OutputArgs, destination, emit_options, write_result,
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
///
/// Several files, or --recursive DIR, give one stream: every file's documents in order
/// (the files named first, then each DIR's encrypted YAML and JSON files sorted by path),
/// separated by `---` lines, in YAML unless --output-type json, ready for
/// `seal decrypt -r k8s/ | kubectl apply -f -`. Every file is decrypted before anything
/// is written, so one failure prints nothing. Only YAML and JSON files can be part of a
/// stream (dotenv, INI and binary files are refused when named, and left out by
/// --recursive with a note). As `sops`, seal keeps sops's one-file command line.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    output: OutputArgs,

    /// More files to decrypt into the same stream.
    #[arg(value_name = "FILE", num_args = 0..)]
    more: Vec<PathBuf>,

    /// Also decrypt every encrypted YAML/JSON file below DIR (the files the repository
    /// holds: .gitignore and .sealignore apply), sorted by path. Repeatable.
    #[arg(long, short = 'r', value_name = "DIR")]
    recursive: Vec<PathBuf>,

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
    if !args.more.is_empty() || !args.recursive.is_empty() {
        return run_stream(ctx, args);
    }
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
    let opened = common::open_taking_bytes(&mut input, &ids, args.ignore_mac)?;
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
            &opened.layout
        } else {
            &Layout::none()
        };
        out_store
            .emit_plain(&opened.docs, layout, opts)
            .map_err(|e| CliError::writing(e).in_file(&input.display))?
    };
    let written = write_result(dest.as_deref(), &bytes, Sensitivity::Secret);
    // The process ends with this command: the tree and its layout are left to the exit
    // rather than freed one value at a time (19 M instructions, 6 % of a 20,000-key
    // Secret's decrypt, after the output is written). The data key is still dropped, so
    // still zeroized.
    let Opened {
        docs, layout, key, ..
    } = opened;
    std::mem::forget((docs, layout));
    drop(key);
    written
}

/// Several files into one multi-document stream.
fn run_stream(ctx: &Ctx, args: &DecryptArgs) -> Result<(), CliError> {
    let conflict = |what: &str| {
        CliError::new(
            exit::CONFLICTING_PARAMETERS,
            format!("{what} works on one file, and several were given"),
        )
        .hint("run seal decrypt once per file for that, or drop the option to get one stream")
    };
    if args.output.in_place {
        return Err(conflict("-i/--in-place"));
    }
    if args.extract.is_some() {
        return Err(conflict("--extract"));
    }
    if args.input.filename_override.is_some() {
        return Err(conflict("--filename-override"));
    }
    let out_format = match args.input.output_type {
        None => Format::Yaml,
        Some(f @ (Format::Yaml | Format::Json)) => f,
        Some(f) => {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                format!(
                    "--output-type {}: a stream of several files is YAML or JSON documents",
                    f.name()
                ),
            ));
        }
    };
    let files = stream_files(args)?;
    let ids = ctx.identities();
    let config = ctx.config().ok().flatten();
    let opts = emit_options(out_format, args.output.indent, config.as_ref());
    let mut pieces: Vec<Vec<u8>> = Vec::with_capacity(files.len());
    for file in &files {
        let mut input = Input::read(
            ctx,
            &InputArgs {
                file: Some(file.clone()),
                input_type: args.input.input_type,
                output_type: Some(out_format),
                filename_override: None,
            },
            Format::Yaml,
        )?;
        if !matches!(input.format, Format::Yaml | Format::Json) {
            return Err(not_a_manifest(file, input.format));
        }
        input.out_format = out_format;
        let opened = common::open(&input, &ids, args.ignore_mac, false)?;
        let layout = if input.format == out_format && opts.indent.is_none() {
            opened.layout
        } else {
            Layout::none()
        };
        let emit = |docs: &[Branch], layout: &Layout| {
            out_format
                .store()
                .emit_plain(docs, layout, opts)
                .map_err(|e| CliError::writing(e).in_file(&input.display))
        };
        // A JSON file holds one document, so JSON output is one piece per document.
        let chunks = if out_format == Format::Json {
            let none = Layout::none();
            let mut v = Vec::new();
            for d in &opened.docs {
                v.push(emit(std::slice::from_ref(d), &none)?);
            }
            v
        } else {
            vec![emit(&opened.docs, &layout)?]
        };
        pieces.extend(
            chunks
                .into_iter()
                .filter(|b| !b.iter().all(u8::is_ascii_whitespace)),
        );
    }
    let dest = args.output.output.as_deref();
    crate::commands::encrypt::refuse_hard_links(dest)?;
    write_result(dest, &join_stream(&pieces), Sensitivity::Secret)
}

fn not_a_manifest(file: &Path, format: Format) -> CliError {
    CliError::new(
        exit::ERROR_DUMPING_TREE,
        format!(
            "this is a {} file: only YAML and JSON files can go into a stream of manifests",
            format.name()
        ),
    )
    .in_file(file)
    .hint("decrypt it on its own: seal decrypt FILE")
}

/// The files of a stream: those named (standard input cannot be one of them), then each
/// DIR's encrypted YAML/JSON files; a file named twice is decrypted once.
fn stream_files(args: &DecryptArgs) -> Result<Vec<PathBuf>, CliError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for f in args.input.file.iter().chain(&args.more) {
        if f.as_os_str() == "-" {
            return Err(CliError::new(
                exit::CONFLICTING_PARAMETERS,
                "standard input (-) cannot be one of several files",
            )
            .hint("save it to a file first, or decrypt it on its own"));
        }
        files.push(f.clone());
    }
    for dir in &args.recursive {
        if !dir.is_dir() {
            return Err(CliError::new(
                exit::NO_FILE,
                "--recursive needs a directory, and this is not one",
            )
            .in_file(dir));
        }
        let scan = crate::repo::find_sops_files(dir);
        if let Some((p, why)) = scan.unreadable.first() {
            return Err(CliError::new(exit::COULD_NOT_READ_INPUT, why.clone())
                .in_file(p)
                .hint("a file seal cannot read might be an encrypted one; fix its permissions"));
        }
        let mut found = 0;
        for p in scan.files {
            let format = args.input.input_type.unwrap_or(Format::from_path(&p));
            if matches!(format, Format::Yaml | Format::Json) {
                files.push(p);
                found += 1;
            } else {
                eprintln!(
                    "seal: note: {}: left out of the stream (a {} file is not a manifest)",
                    p.display(),
                    format.name()
                );
            }
        }
        if found == 0 {
            return Err(CliError::new(
                exit::NO_FILE,
                "no encrypted YAML or JSON file below this directory",
            )
            .in_file(dir)
            .hint("seal filestatus FILE tells whether a file is encrypted"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    Ok(files)
}

/// Join documents into one stream: `---` lines between pieces, each piece ending in a
/// newline, no separator added before a piece that starts with one, none at the end
/// (KRM readers take a trailing separator for an empty document).
pub fn join_stream<P: AsRef<[u8]>>(pieces: &[P]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let p = p.as_ref();
        if i > 0 && !p.starts_with(b"---") {
            out.extend_from_slice(b"---\n");
        }
        out.extend_from_slice(p);
        if !p.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
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
    fn a_stream_joins_pieces_with_one_separator_each() {
        let out = join_stream(&["a: 1", "---\nb: 2\n", "c: 3\n---\nd: 4"]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\n"
        );
        assert!(join_stream::<&str>(&[]).is_empty());
    }

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
