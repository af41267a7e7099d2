//! `seal git`: git integration for encrypted files. `setup` writes `.gitattributes` entries
//! and the repository's `git config` for the two drivers; `diff` is the textconv driver
//! (decrypts whatever temporary path git hands it, finding the format from the name or the
//! content, never from `.sops.yaml`); `merge` is the merge driver (refuses when the sides'
//! recipients differ, else decrypts base, ours and theirs, merges per key, re-encrypts for
//! the recipients ours `.sops.yaml` names, and reports conflicts).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};

use crate::cipher::{DataKey, Stash};
use crate::commands::common::{self, Ctx, Input, SealPlan, emit_options};
use crate::commands::edit::raise_version;
use crate::config::Config;
use crate::error::{CliError, exit};
use crate::fsio::{self, Sensitivity};
use crate::merge::{self, ConflictKind};
use crate::metadata::{KeyGroup, Metadata};
use crate::stores::Format;
use crate::tree::{Item, Value};

/// Git integration: diff and merge drivers for encrypted files
///
/// Run `seal git setup` once per clone: it marks the encrypted files in .gitattributes
/// (`diff=sops merge=sops`) and configures the repository so that `git diff` shows the
/// decrypted change and `git merge` merges encrypted files key by key.
#[derive(Debug, Args)]
pub struct GitArgs {
    #[command(subcommand)]
    command: GitCommand,
}

#[derive(Debug, Subcommand)]
enum GitCommand {
    Setup(SetupArgs),
    Diff(DiffArgs),
    Merge(MergeArgs),
}

/// Configure this repository's diff and merge drivers for encrypted files
///
/// Adds `diff=sops merge=sops` entries to the .gitattributes next to .sops.yaml (or at the
/// repository root): one glob per creation rule whose path_regex can be written as a glob,
/// plus one line per existing encrypted file the globs miss. Then sets, in the repository's
/// own config (.git/config, not committed): diff.sops.textconv = `seal git diff` and
/// merge.sops.driver = `seal git merge %O %A %B %P`. textconv caching is left off, so no
/// plaintext is stored in git. Run it again after adding rules or files: it only adds what
/// is missing.
#[derive(Debug, Args)]
struct SetupArgs {
    /// Print what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,

    /// The command git should run for seal (default: this binary's absolute path).
    #[arg(long, value_name = "CMD")]
    seal_command: Option<String>,
}

/// Print a file decrypted, for git's textconv (git diff)
///
/// Works on the temporary path git passes: the format comes from the name when it ends in
/// a known extension, else from the content. A file that is not encrypted is printed as it
/// is; a file seal cannot decrypt (no key) is printed encrypted, with a warning.
#[derive(Debug, Args)]
struct DiffArgs {
    /// The file git hands over.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Merge three versions of an encrypted file, key by key (git's merge driver)
///
/// Called by git as `seal git merge %O %A %B %P`. When the two sides are encrypted for
/// different recipients, seal stops: it decrypts nothing, leaves %A as our version, names
/// the recipients each side added or removed, and exits 1 (git marks the file as
/// conflicted). Otherwise it decrypts all three, takes each key from the side that changed
/// it, and encrypts the result into %A for the recipients our .sops.yaml names for %P (the
/// version at HEAD; with a new data key when they differ from the file's), or, without a
/// rule, for the file's own recipients with its data key. When both sides changed a key
/// differently, the key's value becomes a conflict block (<<<<<<< ours, ||||||| base,
/// =======, >>>>>>> theirs), still encrypted, and seal exits 1: resolve it with `seal edit`.
#[derive(Debug, Args)]
struct MergeArgs {
    /// The common ancestor (%O).
    #[arg(value_name = "BASE")]
    base: PathBuf,
    /// Our version (%A); the result is written here.
    #[arg(value_name = "OURS")]
    ours: PathBuf,
    /// Their version (%B).
    #[arg(value_name = "THEIRS")]
    theirs: PathBuf,
    /// The path in the repository (%P), for the format and messages.
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
}

/// Run `seal git …`.
pub fn run(ctx: &Ctx, args: &GitArgs) -> Result<(), CliError> {
    match &args.command {
        GitCommand::Setup(a) => setup(ctx, a),
        GitCommand::Diff(a) => diff(ctx, a),
        GitCommand::Merge(a) => merge_driver(ctx, a),
    }
}

// ---------------------------------------------------------------------------------------
// Format detection

/// The format of an encrypted file named `name`: the one the name implies when that store
/// finds sops metadata, else the first of JSON (when the text starts with `{`), YAML,
/// dotenv, INI that does. `None`: not a
/// sops file.
pub fn detect_format(name: &Path, bytes: &[u8]) -> Option<Format> {
    let has_meta = |f: Format| {
        f.store()
            .load_encrypted(bytes)
            .is_ok_and(|p| p.metadata.is_some())
    };
    let by_name = Format::from_path(name);
    if has_meta(by_name) {
        return Some(by_name);
    }
    let order = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => [Format::Json, Format::Yaml, Format::Dotenv, Format::Ini],
        _ => [Format::Yaml, Format::Dotenv, Format::Ini, Format::Json],
    };
    order.into_iter().find(|f| *f != by_name && has_meta(*f))
}

fn input_of(display: &Path, file: Option<&Path>, bytes: Vec<u8>, format: Format) -> Input {
    Input {
        display: display.to_path_buf(),
        file: file.map(Path::to_path_buf),
        rules_path: None,
        format,
        out_format: format,
        bytes,
    }
}

// ---------------------------------------------------------------------------------------
// textconv

fn diff(ctx: &Ctx, args: &DiffArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.file).map_err(|e| CliError::read_io(&args.file, e))?;
    let Some(format) = detect_format(&args.file, &bytes) else {
        return common::write_result(None, &bytes, Sensitivity::Public);
    };
    let input = input_of(&args.file, Some(&args.file), bytes, format);
    let ids = ctx.identities();
    match common::open(&input, &ids, false, false) {
        Ok(opened) => {
            let config = ctx.config().ok().flatten();
            let opts = emit_options(format, None, config.as_ref());
            let out = format
                .store()
                .emit_plain(&opened.docs, &opened.layout, opts)
                .map_err(|e| CliError::writing(e).in_file(&input.display))?;
            let out = zeroize::Zeroizing::new(out);
            common::write_result(None, &out, Sensitivity::Secret)
        }
        Err(e) => {
            eprintln!(
                "seal: warning: showing the encrypted text, because it cannot be decrypted here: {}",
                e.message.lines().next().unwrap_or_default()
            );
            common::write_result(None, &input.bytes, Sensitivity::Public)
        }
    }
}

// ---------------------------------------------------------------------------------------
// merge driver

/// One key group's recipients as people read them (`age1…`, `pgp:FP`, `kms arn:…`), sorted,
/// never a wrapped key.
fn group_recipients(g: &KeyGroup) -> Vec<String> {
    // age and PGP as rules name them (`pgp:FP`), so a rule compares equal to its file.
    let mut v: Vec<String> = crate::keys::group_recipients(g)
        .iter()
        .map(|r| r.trim().to_string())
        .collect();
    for (kind, list) in g.other.iter().filter(|(kind, _)| kind != "pgp") {
        for entry in list {
            let id = match entry {
                Value::Branch(b) => b
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Pair(k, Value::Str(v)) if k != "enc" && k != "created_at" => {
                            Some(v.as_str())
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                other => format!("{other:?}"),
            };
            v.push(format!("{kind} {id}"));
        }
    }
    v.sort();
    v.dedup();
    v
}

/// A file's recipients, group by group (groups sorted: their order does not change who
/// can decrypt).
fn recipients_of(meta: &Metadata) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = meta.key_groups.iter().map(group_recipients).collect();
    groups.sort();
    groups
}

fn sorted_groups(groups: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut g: Vec<Vec<String>> = groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let mut g: Vec<String> = g.iter().map(|r| r.trim().to_string()).collect();
            g.sort();
            g.dedup();
            g
        })
        .collect();
    g.sort();
    g
}

/// What changed from `from` to `to` (recipients added and removed), or `None`.
fn recipient_change(from: &[Vec<String>], to: &[Vec<String>]) -> Option<String> {
    if from == to {
        return None;
    }
    let all = |g: &[Vec<String>]| -> BTreeSet<String> { g.iter().flatten().cloned().collect() };
    let (f, t) = (all(from), all(to));
    let added: Vec<&str> = t.difference(&f).map(String::as_str).collect();
    let removed: Vec<&str> = f.difference(&t).map(String::as_str).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {}", added.join(", ")));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", removed.join(", ")));
    }
    if parts.is_empty() {
        parts.push(format!(
            "regrouped the same recipients ({} key groups instead of {})",
            to.len(),
            from.len()
        ));
    }
    Some(parts.join("; "))
}

/// The `.sops.yaml` whose rules decide the merged file's recipients: ours, that is the
/// version committed at HEAD (during a merge git may already have written their version
/// into the work tree), else the work tree's. `--config`/`SOPS_CONFIG` win as always.
fn ours_config(ctx: &Ctx) -> Result<Option<Config>, CliError> {
    if ctx.config_flag.is_some() {
        return ctx.config();
    }
    let Some(path) = crate::config::find(&ctx.cwd, None) else {
        return Ok(None);
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ctx.cwd.clone());
    let at_head = Command::new("git")
        .current_dir(&dir)
        .args(["show", "HEAD:./.sops.yaml"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success());
    match at_head {
        Some(o) => Ok(Some(Config::parse(&o.stdout, &path)?)),
        None => ctx.config(),
    }
}

fn merge_driver(ctx: &Ctx, args: &MergeArgs) -> Result<(), CliError> {
    let shown = args.path.clone().unwrap_or_else(|| args.ours.clone());
    let read = |p: &Path| std::fs::read(p).map_err(|e| CliError::read_io(p, e));
    let (b_bytes, o_bytes, t_bytes) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let name = args.path.as_deref().unwrap_or(&args.ours);
    let (Some(format), Some(tf)) = (detect_format(name, &o_bytes), detect_format(name, &t_bytes))
    else {
        eprintln!(
            "seal: {}: not an encrypted file on both sides: merging it as text",
            shown.display()
        );
        return text_merge(args);
    };
    if tf != format {
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "ours is {format} but theirs is {tf}: seal cannot merge files of different formats"
            ),
        )
        .in_file(&shown));
    }
    let side_err = |e: CliError, side: &str| CliError {
        message: format!("{} (in {side})", e.message),
        ..e
    };
    let has_base = detect_format(name, &b_bytes) == Some(format);

    // The recipients first, from the metadata alone: when they differ between the sides,
    // nothing is decrypted and %A stays our version byte for byte, so no value of either
    // side is ever written for someone the other side did not encrypt it for.
    let meta_of = |bytes: &[u8], side: &str| {
        common::load_encrypted(&input_of(&shown, None, bytes.to_vec(), format))
            .map(|(_, m)| recipients_of(&m))
            .map_err(|e| side_err(e, side))
    };
    let (ro, rt) = (meta_of(&o_bytes, "ours")?, meta_of(&t_bytes, "theirs")?);
    if ro != rt {
        let mut msg = String::from(
            "merge conflict: the file's recipients differ between the two sides, so seal merged nothing and left our version (nothing decrypted, no plaintext written):",
        );
        let rb = if has_base {
            Some(meta_of(&b_bytes, "base")?)
        } else {
            None
        };
        match &rb {
            Some(rb) => {
                for (side, r) in [("ours", &ro), ("theirs", &rt)] {
                    if let Some(c) = recipient_change(rb, r) {
                        msg.push_str(&format!("\n  {side} {c}"));
                    }
                }
            }
            None => {
                if let Some(c) = recipient_change(&ro, &rt) {
                    msg.push_str(&format!(
                        "\n  theirs, compared with ours (the file was added on both sides): {c}"
                    ));
                }
            }
        }
        return Err(CliError::new(exit::GENERIC, msg).in_file(&shown).hint(
            "check who was added or removed and whether .sops.yaml says so; then keep one side (`git checkout --ours FILE` or `--theirs FILE`), re-apply the other side's changes with `seal edit FILE`, run `seal updatekeys FILE` if the recipients should follow .sops.yaml, and `git add FILE`",
        ));
    }

    let ids = ctx.identities();
    let open = |bytes: Vec<u8>, side: &str| {
        common::open(&input_of(&shown, None, bytes, format), &ids, false, true)
            .map_err(|e| side_err(e, side))
    };
    let ours = open(o_bytes, "ours")?;
    let theirs = open(t_bytes, "theirs")?;
    // No base (added on both sides) or an unreadable one: merge against nothing.
    let base = if has_base {
        Some(open(b_bytes, "base")?)
    } else {
        None
    };
    let base_docs = base.as_ref().map(|b| b.docs.clone()).unwrap_or_default();

    let mut result = merge::merge_docs(&base_docs, &ours.docs, &theirs.docs);

    // The data key: ours, unless only theirs rotated it (their rotation is kept). The
    // recipients are the same on both sides here.
    let take_theirs = base.as_ref().is_some_and(|b| {
        ours.key.as_bytes() == b.key.as_bytes() && theirs.key.as_bytes() != b.key.as_bytes()
    });
    let (main, other) = if take_theirs {
        (&theirs, &ours)
    } else {
        (&ours, &theirs)
    };

    // The recipients: the ones ours .sops.yaml names for the path, else the file's.
    let config = ours_config(ctx)?;
    let rule = match (&config, &args.path) {
        (Some(c), Some(p)) => c.rule_for(&ctx.absolute(p)).filter(|r| {
            r.unsupported_keys.is_empty() && r.key_groups.iter().any(|g| !g.is_empty())
        }),
        _ => None,
    };
    let current = recipients_of(&main.metadata);
    let rewrap = rule.and_then(|r| {
        let wanted = sorted_groups(&r.key_groups);
        let change = recipient_change(&current, &wanted)?;
        Some((r, change))
    });

    let fresh_key;
    let (key, key_groups, threshold, stash) = match &rewrap {
        None => {
            // Values taken unchanged from either side keep their ciphertext when both
            // sides share the data key (the usual case: neither rotated).
            let mut stash = Stash::default();
            if other.key.as_bytes() == main.key.as_bytes() {
                stash.0.extend(other.stash.0.clone());
            }
            stash.0.extend(main.stash.0.clone());
            (
                &main.key,
                main.metadata.key_groups.clone(),
                main.metadata.shamir_threshold,
                Some(stash),
            )
        }
        Some((r, _)) => {
            // A new data key: a recipient the rule no longer names must not read the result
            // with the key it already holds.
            fresh_key = DataKey::try_generate().map_err(|e| CliError::from(e).in_file(&shown))?;
            let wanted: Vec<Vec<String>> = r
                .key_groups
                .iter()
                .filter(|g| !g.is_empty())
                .cloned()
                .collect();
            let threshold = if wanted.len() > 1 {
                match r.shamir_threshold {
                    0 => main.metadata.shamir_threshold,
                    t => t,
                }
                .min(wanted.len())
            } else {
                0
            };
            let groups = crate::keys::wrap_groups(&wanted, threshold, &fresh_key)
                .map_err(|e| CliError::from(e).in_file(&shown))?;
            (&fresh_key, groups, threshold, None)
        }
    };

    let opts = emit_options(format, None, config.as_ref());
    let render = |v: &Value| -> String {
        match v {
            Value::Str(s) => s.clone(),
            other => format
                .store()
                .emit_value(other, opts)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| "(a value that cannot be shown)".to_string()),
        }
    };
    merge::mark_conflicts(&mut result.docs, &result.conflicts, &render);

    let meta = &main.metadata;
    let version = raise_version(&meta.version);
    let mut docs = result.docs;
    let new_meta = common::seal_docs(
        &mut docs,
        key,
        SealPlan {
            selector: meta.selector.clone(),
            mac_only_encrypted: meta.mac_only_encrypted,
            key_groups,
            shamir_threshold: threshold,
            version,
        },
        stash.as_ref(),
    )
    .map_err(|e| e.in_file(&shown))?;
    let bytes = format
        .store()
        .emit_encrypted(&docs, &new_meta.to_tree(), &main.layout, opts)
        .map_err(|e| CliError::writing(e).in_file(&shown))?;
    fsio::write_atomic(&args.ours, &bytes, Sensitivity::Public)
        .map_err(|e| CliError::write_io(&args.ours, e))?;
    if let (Some((r, change)), Some(c)) = (&rewrap, &config) {
        eprintln!(
            "seal: {}: encrypted for the recipients of creation rule #{} in {} ({change}), with a new data key",
            shown.display(),
            r.index + 1,
            c.path.display()
        );
    }

    if result.conflicts.is_empty() {
        eprintln!(
            "seal: {}: merged key by key{}",
            shown.display(),
            if take_theirs {
                " (with their rotated data key)"
            } else {
                ""
            }
        );
        return Ok(());
    }
    let n_docs = docs.len();
    let n = result.conflicts.len();
    let mut msg = format!(
        "merge conflict: both sides changed {} differently:",
        if n == 1 {
            "one key".to_string()
        } else {
            format!("{n} keys")
        }
    );
    for c in &result.conflicts {
        msg.push_str(&format!("\n  {}", c.describe(n_docs)));
        match c.kind {
            ConflictKind::Value { .. } => msg.push_str(": value replaced by a conflict block"),
            ConflictKind::Comments => msg.push_str(": our comments kept"),
            ConflictKind::Documents => msg.push_str(": our documents kept"),
        }
    }
    Err(CliError::new(exit::GENERIC, msg).in_file(&shown).hint(
        "run `seal edit FILE`, search for <<<<<<< and keep the right value, then `git add FILE`",
    ))
}

/// Fall back to git's own three-way text merge (for a file matched by mistake).
fn text_merge(args: &MergeArgs) -> Result<(), CliError> {
    let status = Command::new("git")
        .args(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs"])
        .arg(&args.ours)
        .arg(&args.base)
        .arg(&args.theirs)
        .status()
        .map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!("cannot run git merge-file: {}", crate::error::io_reason(&e)),
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::new(
            exit::GENERIC,
            "merge conflict in a file that is not encrypted (git merge-file left conflict markers)",
        ))
    }
}

// ---------------------------------------------------------------------------------------
// setup

/// The gitattributes globs that together match what a `.sops.yaml` `path_regex` matches:
/// [`regex_to_glob`] of each spelling of the regex once every optional literal (`a?`, as in
/// the guide's `\.sops\.ya?ml$`) is written with and without it. `None` when one of them
/// cannot be written as a glob (or there would be more than 8).
pub fn regex_to_globs(re: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for spelling in expand_optional(re)? {
        let g = regex_to_glob(&spelling)?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Some(out)
}

/// Every spelling of `re` with each `X?` (X a literal character or an escaped one, not
/// after another quantifier) replaced by `X` and by nothing; `None` past 8 spellings.
fn expand_optional(re: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = re.chars().collect();
    let mut spellings = vec![String::new()];
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        // One atom: an escape pair or a single character.
        let atom: String = if c == '\\' {
            chars.get(i..i + 2)?.iter().collect()
        } else {
            c.to_string()
        };
        let next = i + atom.chars().count();
        let literal = atom.len() == 2 || !".*+?()[]{}|^$".contains(c);
        if chars.get(next) == Some(&'?') && literal {
            if chars.get(next + 1).is_some_and(|n| "*+?{".contains(*n)) {
                return None;
            }
            let mut more = Vec::with_capacity(spellings.len() * 2);
            for sp in &spellings {
                more.push(format!("{sp}{atom}"));
                more.push(sp.clone());
            }
            if more.len() > 8 {
                return None;
            }
            spellings = more;
            i = next + 1;
        } else {
            for sp in &mut spellings {
                sp.push_str(&atom);
            }
            i = next;
        }
    }
    Some(spellings)
}

/// Convert a `.sops.yaml` `path_regex` into an equivalent gitattributes glob when the regex
/// is simple (literals, `.*`, `.+`, `[^/]*`, `.`, `^`/`$` anchors). `None` when it cannot be
/// written as one glob, or matches everything.
pub fn regex_to_glob(re: &str) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Lit(char),
        Any1,
        Star,
        Wild,
    }
    let (anchored_start, body) = match re.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, re),
    };
    let (anchored_end, body) = match body.strip_suffix('$') {
        Some(r) if !r.ends_with('\\') || r.ends_with("\\\\") => (true, r),
        _ => (false, body),
    };
    let chars: Vec<char> = body.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                let n = *chars.get(i + 1)?;
                if !"./-_+()[]{}|^$\\".contains(n) {
                    return None;
                }
                toks.push(T::Lit(n));
                i += 2;
            }
            '.' => match chars.get(i + 1) {
                Some('*') | Some('+') => {
                    toks.push(T::Wild);
                    i += 2;
                }
                _ => {
                    toks.push(T::Any1);
                    i += 1;
                }
            },
            '[' => {
                let rest: String = chars.get(i..i + 5)?.iter().collect();
                if rest == "[^/]*" {
                    toks.push(T::Star);
                    i += 5;
                } else {
                    return None;
                }
            }
            '(' | ')' | '|' | '?' | '*' | '+' | '{' | '}' | '^' | '$' | ']' => return None,
            c => {
                toks.push(T::Lit(c));
                i += 1;
            }
        }
    }
    // A leading `.*` makes the start unanchored.
    let mut anchored_start = anchored_start;
    while toks.first() == Some(&T::Wild) {
        toks.remove(0);
        anchored_start = false;
    }
    let mut anchored_end = anchored_end;
    while toks.last() == Some(&T::Wild) {
        toks.pop();
        anchored_end = false;
    }
    if toks.is_empty() {
        return None;
    }
    let mut body = String::new();
    for (j, t) in toks.iter().enumerate() {
        let at_component_start = j == 0 || matches!(toks.get(j - 1), Some(T::Lit('/')));
        match t {
            T::Lit(c) => {
                if "*?[]! #\\".contains(*c) {
                    return None;
                }
                body.push(*c);
            }
            T::Any1 => body.push('?'),
            T::Star => body.push('*'),
            T::Wild if at_component_start => body.push_str("**/*"),
            T::Wild => body.push('*'),
        }
    }
    let has_slash = body.contains('/');
    let mut glob = String::new();
    if anchored_start {
        if !body.starts_with('/') {
            glob.push('/');
        }
    } else if has_slash {
        if !body.starts_with('/') {
            glob.push_str("**/*");
        } else {
            glob.push_str("**");
        }
    } else {
        glob.push('*');
    }
    glob.push_str(&body);
    if !anchored_end {
        if glob.ends_with('/') {
            glob.push_str("**");
        } else {
            glob.push('*');
        }
    }
    Some(glob.replace("**/**/", "**/"))
}

fn git(dir: &Path, args: &[&str]) -> Result<String, CliError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!("cannot run git: {}", crate::error::io_reason(&e)),
            )
            .hint("install git, or put it on PATH")
        })?;
    if !out.status.success() {
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const ATTRS: &str = "diff=sops merge=sops";

fn setup(ctx: &Ctx, args: &SetupArgs) -> Result<(), CliError> {
    let root = git(&ctx.cwd, &["rev-parse", "--show-toplevel"])
        .map_err(|e| e.hint("run seal git setup inside a git repository"))?;
    let root = PathBuf::from(root.trim());
    let config = ctx.config()?;
    // The .gitattributes goes next to .sops.yaml (path_regex is relative to it) when that
    // is inside the repository.
    let attr_dir = config
        .as_ref()
        .and_then(|c| c.path.parent().map(Path::to_path_buf))
        .map(|d| if d.is_absolute() { d } else { ctx.cwd.join(d) })
        .filter(|d| d.starts_with(&root))
        .unwrap_or_else(|| root.clone());
    let attr_file = attr_dir.join(".gitattributes");

    let mut lines: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    if let Some(c) = &config {
        for rule in &c.creation_rules {
            match rule.path_regex.as_deref().map(|r| (r, regex_to_globs(r))) {
                Some((_, Some(gs))) => lines.extend(gs.iter().map(|g| format!("{g} {ATTRS}"))),
                Some((r, None)) => notes.push(format!(
                    "path_regex {r:?} cannot be written as a glob: its existing files are listed one by one"
                )),
                None => notes.push(
                    "a creation rule without path_regex matches every file: its existing files are listed one by one".to_string(),
                ),
            }
        }
    }
    let existing = std::fs::read_to_string(&attr_file).unwrap_or_default();
    let have: BTreeSet<&str> = existing.lines().map(str::trim).collect();
    let mut new_lines: Vec<String> = lines
        .into_iter()
        .filter(|l| !have.contains(l.as_str()))
        .collect();
    new_lines.dedup();

    // Existing encrypted files the globs do not cover: one line each.
    let scan = crate::repo::find_sops_files(&attr_dir);
    for (p, why) in &scan.unreadable {
        notes.push(format!("{}: not examined: {why}", p.display()));
    }
    if !scan.ignored.is_empty() {
        notes.push(format!(
            "{} path(s) skipped by .sealignore, not examined",
            scan.ignored.len()
        ));
    }
    let rel: Vec<String> = scan
        .files
        .iter()
        .filter_map(|p| {
            let p = if p.is_absolute() {
                p.clone()
            } else {
                attr_dir.join(p)
            };
            p.strip_prefix(&attr_dir)
                .ok()
                .map(|r| r.to_string_lossy().replace('\\', "/"))
        })
        .collect();
    let globs: Vec<String> = have
        .iter()
        .copied()
        .chain(new_lines.iter().map(String::as_str))
        .filter_map(|l| l.strip_suffix(ATTRS).map(|g| g.trim().to_string()))
        .collect();
    for r in &rel {
        if globs.iter().any(|g| glob_matches(g, r)) {
            continue;
        }
        if r.chars()
            .any(|c| c.is_whitespace() || "*?[]!#\\\"".contains(c))
        {
            notes.push(format!(
                "{r}: its name has characters a .gitattributes line cannot hold; add it by hand"
            ));
            continue;
        }
        new_lines.push(format!("/{r} {ATTRS}"));
    }

    let exe = match &args.seal_command {
        Some(c) => c.clone(),
        None => std::env::current_exe()
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
            .and_then(|p| shlex::try_quote(&p).ok().map(|q| q.into_owned()))
            .unwrap_or_else(|| "seal".to_string()),
    };
    let settings = [
        ("diff.sops.textconv", format!("{exe} git diff")),
        (
            "merge.sops.name",
            "seal: per-key merge of encrypted files".to_string(),
        ),
        ("merge.sops.driver", format!("{exe} git merge %O %A %B %P")),
    ];

    let verb = if args.dry_run { "would add" } else { "added" };
    if new_lines.is_empty() {
        eprintln!("seal: {}: already up to date", attr_file.display());
    } else {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# Encrypted files: decrypted diffs and per-key merges (seal git setup)\n");
        for l in &new_lines {
            text.push_str(l);
            text.push('\n');
        }
        eprintln!("seal: {}: {verb}:", attr_file.display());
        for l in &new_lines {
            eprintln!("    {l}");
        }
        if !args.dry_run {
            fsio::write_atomic(&attr_file, text.as_bytes(), Sensitivity::Public)
                .map_err(|e| CliError::write_io(&attr_file, e))?;
        }
    }
    for n in &notes {
        eprintln!("seal: note: {n}");
    }
    eprintln!(
        "seal: git config (this repository only) {}:",
        if args.dry_run { "would set" } else { "set" }
    );
    for (k, v) in &settings {
        eprintln!("    {k} = {v}");
        if !args.dry_run {
            git(&root, &["config", "--local", k, v])?;
        }
    }
    if !args.dry_run {
        // Never cache textconv output: it is plaintext.
        let _ = git(
            &root,
            &["config", "--local", "--unset", "diff.sops.cachetextconv"],
        );
        eprintln!(
            "seal: done. `git diff` now shows decrypted changes; merges of encrypted files go key by key. Commit .gitattributes; every clone runs `seal git setup` once."
        );
    }
    Ok(())
}

/// A small gitattributes-style glob match of `pattern` against a slash path relative to
/// the .gitattributes directory: `*` and `?` within a component, `**/` across directories,
/// a trailing `/**` for everything below; a pattern without a slash matches the file name.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let anchored = pattern.trim_end_matches("/**").contains('/');
    if !anchored {
        let name = path.rsplit('/').next().unwrap_or(path);
        return wild(pattern.as_bytes(), name.as_bytes());
    }
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    components(&p, &s)
}

fn components(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => {
            if rest.is_empty() {
                return !s.is_empty();
            }
            (0..=s.len()).any(|k| s.get(k..).is_some_and(|tail| components(rest, tail)))
        }
        Some((first, rest)) => match s.split_first() {
            Some((name, srest)) => {
                wild(first.as_bytes(), name.as_bytes()) && components(rest, srest)
            }
            None => false,
        },
    }
}

fn wild(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|k| s.get(k..).is_some_and(|t| wild(rest, t))),
        Some((b'?', rest)) => s.split_first().is_some_and(|(_, t)| wild(rest, t)),
        Some((c, rest)) => s
            .split_first()
            .is_some_and(|(d, t)| c == d && wild(rest, t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_regexes_become_globs() {
        let cases = [
            (r"\.enc\.yaml$", Some("*.enc.yaml")),
            (r".*\.enc\.yaml$", Some("*.enc.yaml")),
            (r"^secrets/.*\.yaml$", Some("/secrets/**/*.yaml")),
            (r"secrets/.*\.yaml$", Some("**/*secrets/**/*.yaml")),
            (r"^k8s/[^/]*\.sops\.yaml$", Some("/k8s/*.sops.yaml")),
            (r"^secret\.yaml$", Some("/secret.yaml")),
            (r"secrets/", Some("**/*secrets/**")),
            (r"\.env$", Some("*.env")),
            (r"(dev|prod)/.*", None),
            (r".*", None),
            (r"\d+\.yaml", None),
            (r"a?b", None),
        ];
        for (re, want) in cases {
            assert_eq!(regex_to_glob(re).as_deref(), want, "{re}");
        }
    }

    #[test]
    fn optional_literals_become_several_globs() {
        // The rule the getting-started guide recommends (and new-key writes).
        let re = r"kubernetes/.*\.sops\.ya?ml$";
        let globs = regex_to_globs(re).expect("globs");
        assert_eq!(
            globs,
            [
                "**/*kubernetes/**/*.sops.yaml",
                "**/*kubernetes/**/*.sops.yml"
            ]
        );
        let r = regex::Regex::new(re).unwrap();
        for p in [
            "kubernetes/apps/db/secret.sops.yaml",
            "kubernetes/apps/db/secret.sops.yml",
            "kubernetes/secret.sops.yaml",
            "kubernetes/apps/db/secret.yaml",
            "apps/secret.sops.yaml",
            "infra/kubernetes/x.sops.yml",
            "kubernetes/a.sops.yamll",
        ] {
            let any = globs.iter().any(|g| glob_matches(g, p));
            assert_eq!(any, r.is_match(p), "{re} as {globs:?} on {p}");
        }
        assert_eq!(regex_to_globs(r"\.ya?ml$").unwrap(), ["*.yaml", "*.yml"]);
        assert_eq!(
            regex_to_globs(r"^a\.json5?$").unwrap(),
            ["/a.json5", "/a.json"]
        );
        assert_eq!(regex_to_globs(r"a?b?c?d?x"), None, "more than 8 spellings");
        assert_eq!(regex_to_globs(r"(a|b)?x"), None);
        assert_eq!(regex_to_globs(r"a??x"), None);
    }

    #[test]
    fn globs_match_what_the_regex_matches() {
        // Every converted glob must match the paths its regex matches (no misses).
        let paths = [
            "a.enc.yaml",
            "x/y/a.enc.yaml",
            "secrets/a.yaml",
            "secrets/deep/a.yaml",
            "apps/secrets/a.yaml",
            "k8s/db.sops.yaml",
            "k8s/sub/db.sops.yaml",
            "secret.yaml",
            "sub/secret.yaml",
            ".env",
            "dir/prod.env",
        ];
        for re in [
            r"\.enc\.yaml$",
            r"^secrets/.*\.yaml$",
            r"secrets/.*\.yaml$",
            r"^k8s/[^/]*\.sops\.yaml$",
            r"^secret\.yaml$",
            r"\.env$",
        ] {
            let g = regex_to_glob(re).unwrap();
            let r = regex::Regex::new(re).unwrap();
            for p in paths {
                assert_eq!(glob_matches(&g, p), r.is_match(p), "{re} as {g} on {p}");
            }
        }
    }

    #[test]
    fn recipient_changes_are_named() {
        let g = |v: &[&[&str]]| -> Vec<Vec<String>> {
            sorted_groups(
                &v.iter()
                    .map(|g| g.iter().map(|s| s.to_string()).collect())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            recipient_change(&g(&[&["a", "b"]]), &g(&[&["b", "a"]])),
            None
        );
        assert_eq!(
            recipient_change(&g(&[&["a", "b"]]), &g(&[&["a", "c"]])).as_deref(),
            Some("added c; removed b")
        );
        assert_eq!(
            recipient_change(&g(&[&["a", "b"]]), &g(&[&["a"], &["b"]])).as_deref(),
            Some("regrouped the same recipients (2 key groups instead of 1)")
        );
    }

    #[test]
    fn format_is_found_from_content_when_the_name_says_nothing() {
        let yaml = b"a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n    mac: m\n    version: 3.11.0\n";
        assert_eq!(
            detect_format(Path::new("/tmp/XyZ_f"), yaml),
            Some(Format::Yaml)
        );
        assert_eq!(detect_format(Path::new("f.yaml"), yaml), Some(Format::Yaml));
        let json = br#"{"a": "x", "sops": {"mac": "m", "version": "3.11.0"}}"#;
        assert_eq!(
            detect_format(Path::new("/tmp/merge_file_a"), json),
            Some(Format::Json)
        );
        assert_eq!(detect_format(Path::new("f.yaml"), b"a: 1\n"), None);
        assert_eq!(detect_format(Path::new("f"), b"\xff\xfe"), None);
    }
}
