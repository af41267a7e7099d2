//! `seal exec-env` and `seal exec-file`: run a command with the decrypted values in its
//! environment, or with the decrypted file at a temporary path (a FIFO unless --no-fifo)
//! that is removed afterwards. The command's exit code is passed through. `--user`
//! ([`run_as`]) runs it as another user; exec-env's `--background` and
//! `--same-process` start it without waiting, or in place of seal.

use std::path::PathBuf;
use std::process::Command;

#[cfg(unix)]
mod run_as;
#[cfg(unix)]
use run_as::RunAs;

use clap::Args;
use zeroize::Zeroizing;

use crate::commands::common::{self, Ctx, Input, InputArgs, emit_options};
use crate::error::{CliError, exit};
use crate::stores::{Format, Layout};
use crate::tempdir::{ChildGuard, PrivateDir};
use crate::tree::{Branch, Item, Value};

/// The exit code when the command cannot be started (as shells use).
pub const COMMAND_NOT_FOUND: u8 = 127;

/// Run a command with the decrypted values in its environment
///
/// FILE must be flat: dotenv, or YAML/JSON/INI whose first document has only scalar values
/// (numbers and booleans become their text), or a Kubernetes Secret manifest (see
/// --secret: its stringData and decoded data entries become the variables). COMMAND is one argument run by `sh -c`, as
/// sops does (`seal exec-env s.env 'echo $TOKEN'`), or several arguments after `--` run
/// directly (`seal exec-env s.env -- ./deploy.sh --prod`). The command's exit code becomes
/// seal's. The values exist only in the child's environment; nothing is written to disk.
///
/// More files (--file, repeatable) are merged in order after FILE: each file's variables
/// are read as above, and a name an earlier file already set takes the later file's value
/// (later files override earlier ones, as with `--env-file` in docker), with a note on
/// standard error naming the variable and both files, never the value. As `sops`, seal
/// keeps sops's one-file command line.
#[derive(Debug, Args)]
pub struct ExecEnvArgs {
    /// The encrypted file.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Another encrypted file to merge after FILE (repeatable; later files win).
    #[arg(long = "file", value_name = "FILE")]
    more: Vec<PathBuf>,

    /// The command (one argument: run by `sh -c`; several: run directly).
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,

    /// Give the command only the decrypted values, not seal's own environment.
    #[arg(long)]
    pristine: bool,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    input_type: Option<Format>,

    /// Run the command as this user (seal must be root): its `HOME`, `USER` and `LOGNAME`,
    /// with its groups, as sops does.
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// Start the command and exit 0 without waiting for it.
    #[arg(long, conflicts_with = "same_process")]
    background: bool,

    /// Replace seal with the command (exec) instead of running it as a child: the command
    /// gets seal's process id and its signals directly.
    #[arg(long)]
    same_process: bool,

    /// Read the file as Kubernetes Secrets: the variables are the `stringData` entries and
    /// the base64-decoded `data` entries of every `kind: Secret` document (stringData wins,
    /// as in Kubernetes). Without the flag this happens when the first document is a Secret.
    #[arg(long)]
    secret: bool,

    /// Decrypt even if the MAC does not match (prints a warning).
    #[arg(long)]
    ignore_mac: bool,
}

/// Run a command with the decrypted file at a temporary path
///
/// The decrypted file is put in a fresh private directory (0700; $XDG_RUNTIME_DIR or
/// /dev/shm when present) as a FIFO (mode 0600) that can be read once, or with --no-fifo
/// as a regular 0600 file, and `{}` in COMMAND is replaced by its path. The directory is
/// removed when the command ends (also on Ctrl-C and every catchable signal), and the
/// command's exit code becomes seal's. COMMAND is one argument run by `sh -c` (as sops),
/// or several arguments after `--` run directly.
#[derive(Debug, Args)]
pub struct ExecFileArgs {
    /// The encrypted file.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The command; `{}` is replaced by the path of the decrypted file.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,

    /// Use a regular 0600 file instead of a FIFO (for programs that read the file twice or
    /// seek in it).
    #[arg(long)]
    no_fifo: bool,

    /// The temporary file's name (its extension can matter to the command).
    #[arg(long, value_name = "NAME", default_value = "tmp-file")]
    filename: String,

    /// Run the command as this user (seal must be root): the private directory and file
    /// are theirs, and the command gets their `HOME`, `USER` and `LOGNAME` and groups.
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// Read the file as this format instead of guessing from its name.
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    input_type: Option<Format>,

    /// Write the decrypted file in this format (default: the input format).
    #[arg(long, value_name = "FORMAT", value_parser = common::parse_format)]
    output_type: Option<Format>,

    /// Decrypt even if the MAC does not match (prints a warning).
    #[arg(long)]
    ignore_mac: bool,
}

/// Run `seal exec-env`.
pub fn run_env(ctx: &Ctx, args: &ExecEnvArgs) -> Result<(), CliError> {
    let ids = ctx.identities();
    let mut vars: Vec<(String, Zeroizing<String>)> = Vec::new();
    // Which file set each variable (for the override note).
    let mut origin: Vec<usize> = Vec::new();
    let files: Vec<&PathBuf> = std::iter::once(&args.file).chain(&args.more).collect();
    for (n, file) in files.iter().enumerate() {
        let input = read(ctx, file, args.input_type, None)?;
        let opened = common::open(&input, &ids, args.ignore_mac, false)?;
        let empty = Branch::default();
        let first = opened.docs.first().unwrap_or(&empty);
        let these = if args.secret || is_k8s_secret(first) {
            secret_env_vars(&opened.docs)
        } else {
            env_vars(first)
        }
        .map_err(|e| e.in_file(&input.display))?;
        for (k, v) in these {
            match vars.iter().position(|(name, _)| *name == k) {
                Some(at) if origin[at] != n => {
                    if crate::ui::verbosity() != crate::ui::Verbosity::Quiet {
                        eprintln!(
                            "seal: note: {k} from {} overrides the value from {}",
                            file.display(),
                            files[origin[at]].display()
                        );
                    }
                    vars[at].1 = v;
                    origin[at] = n;
                }
                Some(at) => vars[at].1 = v,
                None => {
                    vars.push((k, v));
                    origin.push(n);
                }
            }
        }
    }
    let user = lookup_user(args.user.as_deref())?;
    let mut cmd = command(&args.command, None);
    if args.pristine {
        cmd.env_clear();
    }
    for (k, v) in &vars {
        cmd.env(k, v.as_str());
    }
    #[cfg(unix)]
    if let Some(u) = &user {
        u.set_env(&mut cmd);
        u.become_user()?;
    }
    drop(vars);
    if args.same_process {
        return exec_in_place(cmd, &args.command);
    }
    if args.background {
        return cmd
            .spawn()
            .map(drop)
            .map_err(|e| not_started(&args.command, &e));
    }
    run_child(cmd, &args.command)
}

#[cfg(unix)]
type User = RunAs;
#[cfg(not(unix))]
type User = std::convert::Infallible;

/// The `--user` to run as, looked up before anything is written.
fn lookup_user(name: Option<&str>) -> Result<Option<User>, CliError> {
    let Some(name) = name else { return Ok(None) };
    #[cfg(unix)]
    return RunAs::lookup(name).map(Some);
    #[cfg(not(unix))]
    return Err(CliError::new(
        exit::GENERIC,
        format!("--user {name}: running a command as another user works on Unix only"),
    ));
}

/// `--same-process`: become the command (it returns only when that fails).
#[cfg(unix)]
fn exec_in_place(mut cmd: Command, shown: &[String]) -> Result<(), CliError> {
    use std::os::unix::process::CommandExt;
    let e = cmd.exec();
    Err(not_started(shown, &e))
}

#[cfg(not(unix))]
fn exec_in_place(_cmd: Command, _shown: &[String]) -> Result<(), CliError> {
    Err(CliError::new(
        exit::GENERIC,
        "The --same-process flag is not supported on Windows",
    ))
}

/// The error for a command that could not be started.
fn not_started(shown: &[String], e: &std::io::Error) -> CliError {
    let name = shown.first().cloned().unwrap_or_default();
    CliError::new(
        COMMAND_NOT_FOUND,
        format!(
            "cannot run the command `{name}`: {}",
            crate::error::io_reason(e)
        ),
    )
}

/// Run `seal exec-file`.
pub fn run_file(ctx: &Ctx, args: &ExecFileArgs) -> Result<(), CliError> {
    crate::tempdir::check_file_name(&args.filename)
        .map_err(|why| CliError::new(exit::CONFLICTING_PARAMETERS, format!("--filename: {why}")))?;
    let input = read(ctx, &args.file, args.input_type, args.output_type)?;
    let ids = ctx.identities();
    let opened = common::open(&input, &ids, args.ignore_mac, false)?;
    let config = ctx.config().ok().flatten();
    let opts = emit_options(input.out_format, None, config.as_ref());
    let layout = if input.out_format == input.format {
        opened.layout
    } else {
        Layout::none()
    };
    let plain = Zeroizing::new(
        input
            .out_format
            .store()
            .emit_plain(&opened.docs, &layout, opts)
            .map_err(|e| CliError::writing(e).in_file(&input.display))?,
    );
    let user = lookup_user(args.user.as_deref())?;
    let tmp_err = |e: std::io::Error| common::temp_error(&e);
    #[cfg(unix)]
    let dir = match &user {
        // Root's XDG_RUNTIME_DIR is closed to the other user.
        Some(u) if u.switches() => {
            crate::tempdir::PrivateDir::create_in(&crate::tempdir::shared_temp_root())
                .map_err(tmp_err)?
        }
        _ => common::private_dir()?,
    };
    #[cfg(not(unix))]
    let dir = common::private_dir()?;
    let path = if args.no_fifo {
        dir.write_file(&args.filename, &plain).map_err(tmp_err)?
    } else {
        serve_fifo(&dir, &args.filename, plain).map_err(tmp_err)?
    };
    let path_text = path.to_string_lossy().into_owned();
    #[allow(unused_mut)]
    let mut cmd = command(&args.command, Some(&path_text));
    #[cfg(unix)]
    if let Some(u) = &user {
        u.give(dir.path())?;
        u.give(&path)?;
        u.set_env(&mut cmd);
        u.become_user()?;
    }
    let result = run_child(cmd, &args.command);
    drop(dir);
    result
}

/// Make a FIFO and feed it from a thread: the first reader gets the plaintext once. A
/// writer still waiting for a reader when the command ends dies with the process.
#[cfg(unix)]
fn serve_fifo(dir: &PrivateDir, name: &str, plain: Zeroizing<Vec<u8>>) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let path = dir.make_fifo(name)?;
    let p = path.clone();
    std::thread::Builder::new()
        .name("seal-fifo".into())
        .spawn(move || {
            // Opening for writing blocks until the command opens the FIFO for reading.
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
                let _ = f.write_all(&plain);
            }
        })?;
    Ok(path)
}

#[cfg(not(unix))]
fn serve_fifo(dir: &PrivateDir, name: &str, plain: Zeroizing<Vec<u8>>) -> std::io::Result<PathBuf> {
    dir.write_file(name, &plain)
}

fn read(
    ctx: &Ctx,
    file: &std::path::Path,
    input_type: Option<Format>,
    output_type: Option<Format>,
) -> Result<Input, CliError> {
    Input::read(
        ctx,
        &InputArgs {
            file: Some(file.to_path_buf()),
            input_type,
            output_type,
            filename_override: None,
        },
        Format::Yaml,
    )
}

/// The environment variables a flat document gives: every pair in order, scalars as text
/// (`null` as the empty string). Nested values, and names or values that cannot be in an
/// environment, are errors naming the key (never the value).
pub fn env_vars(doc: &Branch) -> Result<Vec<(String, Zeroizing<String>)>, CliError> {
    let mut out = Vec::new();
    for item in &doc.items {
        let Item::Pair(k, v) = item else {
            continue;
        };
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(CliError::new(
                exit::GENERIC,
                format!(
                    "the key {k:?} cannot be an environment variable name (empty, or contains '=' or NUL)"
                ),
            ));
        }
        let text = match v {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Float(f) if f.is_finite() => crate::tree::format_float_g(*f),
            Value::Float(f) => crate::tree::format_float_plain(*f),
            Value::Time(t) => t.0.clone(),
            Value::Null => String::new(),
            Value::Bytes(b) => String::from_utf8(b.clone()).map_err(|_| {
                CliError::new(
                    exit::GENERIC,
                    format!("the value of {k} is not UTF-8 text, so it cannot be an environment variable"),
                )
                .hint("use seal exec-file to hand binary data to a command")
            })?,
            Value::Branch(_) | Value::List(_) | Value::Comment(_) => {
                return Err(CliError::new(
                    exit::GENERIC,
                    format!("cannot put a nested value in the environment: {k} is a map or a list"),
                )
                .hint("exec-env needs a flat file (dotenv, or YAML/JSON with only top-level scalars); use seal exec-file for nested data"));
            }
        };
        if text.contains('\0') {
            return Err(CliError::new(
                exit::GENERIC,
                format!(
                    "the value of {k} contains a NUL byte, which an environment variable cannot hold"
                ),
            ));
        }
        out.push((k.clone(), Zeroizing::new(text)));
    }
    Ok(out)
}

/// True when `doc` is a Kubernetes Secret manifest: `kind: Secret` with a `data` or
/// `stringData` mapping.
pub fn is_k8s_secret(doc: &Branch) -> bool {
    matches!(doc.get("kind"), Some(Value::Str(k)) if k == "Secret")
        && ["data", "stringData"]
            .iter()
            .any(|f| matches!(doc.get(f), Some(Value::Branch(_))))
}

/// The environment variables of the Kubernetes Secrets among `docs`: each one's `data`
/// entries base64-decoded, then its `stringData` entries (which win for the same name, as
/// the API server merges them). A name given by two Secrets, a `data` value that is not
/// base64 of UTF-8 text, or no Secret at all is an error naming the key, never the value.
pub fn secret_env_vars(docs: &[Branch]) -> Result<Vec<(String, Zeroizing<String>)>, CliError> {
    use base64::Engine as _;
    let mut out: Vec<(String, Zeroizing<String>)> = Vec::new();
    let mut from_doc: Vec<usize> = Vec::new();
    let secrets: Vec<(usize, &Branch)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| is_k8s_secret(d))
        .collect();
    if secrets.is_empty() {
        return Err(CliError::new(
            exit::GENERIC,
            "--secret: no document is a Kubernetes Secret (kind: Secret with data or stringData)",
        )
        .hint("drop --secret for a flat file (dotenv, or YAML/JSON with only top-level scalars)"));
    }
    let many = docs.len() > 1;
    for (i, doc) in secrets {
        let mut vars: Vec<(String, Zeroizing<String>)> = Vec::new();
        if let Some(Value::Branch(data)) = doc.get("data") {
            let mut decoded = Branch::default();
            for item in &data.items {
                let Item::Pair(k, v) = item else {
                    continue;
                };
                let bad = |why: &str| {
                    CliError::new(
                        exit::GENERIC,
                        format!(
                            "{}data.{k} {why}, so it cannot be an environment variable",
                            if many {
                                format!("document {}: ", i + 1)
                            } else {
                                String::new()
                            }
                        ),
                    )
                    .hint(
                        "Kubernetes Secret data values are base64; put plain text under stringData",
                    )
                };
                let text = match v {
                    Value::Null => String::new(),
                    Value::Str(b64) => {
                        let compact: String =
                            b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                        let bytes = Zeroizing::new(
                            base64::engine::general_purpose::STANDARD
                                .decode(compact.as_bytes())
                                .map_err(|_| bad("is not valid base64"))?,
                        );
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| bad("does not decode to UTF-8 text"))?
                    }
                    _ => return Err(bad("is not a base64 string")),
                };
                decoded.items.push(Item::Pair(k.clone(), Value::Str(text)));
            }
            vars.extend(env_vars(&decoded)?);
        }
        if let Some(Value::Branch(sd)) = doc.get("stringData") {
            for (k, v) in env_vars(sd)? {
                vars.retain(|(name, _)| *name != k);
                vars.push((k, v));
            }
        }
        for (k, v) in vars {
            if let Some(j) = out.iter().position(|(name, _)| *name == k) {
                return Err(CliError::new(
                    exit::GENERIC,
                    format!(
                        "{k} is in two Secrets (documents {} and {}): seal will not pick one",
                        from_doc[j] + 1,
                        i + 1
                    ),
                ));
            }
            out.push((k, v));
            from_doc.push(i);
        }
    }
    Ok(out)
}

/// Build the command: one argument runs under `sh -c` (with `{}` replaced by the
/// shell-quoted path); several run directly (with `{}` replaced in each argument).
pub fn command(args: &[String], path: Option<&str>) -> Command {
    match args {
        [one] => {
            let script = match path {
                Some(p) => {
                    let quoted = shlex::try_quote(p)
                        .map(|q| q.into_owned())
                        .unwrap_or_else(|_| p.to_string());
                    one.replace("{}", &quoted)
                }
                None => one.clone(),
            };
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(script);
            c
        }
        _ => {
            let sub = |a: &String| match path {
                Some(p) => a.replace("{}", p),
                None => a.clone(),
            };
            let mut it = args.iter().map(sub);
            let mut c = Command::new(it.next().unwrap_or_default());
            c.args(it);
            c
        }
    }
}

/// Run the child (signals forwarded) and pass its exit code through.
fn run_child(mut cmd: Command, shown: &[String]) -> Result<(), CliError> {
    let guard = ChildGuard::starting();
    let mut child = cmd.spawn().map_err(|e| not_started(shown, &e))?;
    let status = {
        guard.track(child.id());
        let status = child.wait();
        drop(guard);
        status
    }
    .map_err(|e| {
        CliError::new(
            exit::GENERIC,
            format!(
                "waiting for the command failed: {}",
                crate::error::io_reason(&e)
            ),
        )
    })?;
    if status.success() {
        return Ok(());
    }
    let code = exit_code_of(status);
    Err(CliError::new(
        code,
        format!("the command exited with status {code}"),
    ))
}

#[cfg(unix)]
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(1),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(1),
        _ => 1,
    }
}

#[cfg(not(unix))]
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(items: Vec<(&str, Value)>) -> Branch {
        Branch {
            items: items
                .into_iter()
                .map(|(k, v)| Item::Pair(k.into(), v))
                .collect(),
        }
    }

    #[test]
    fn flat_values_become_text() {
        let d = doc(vec![
            ("S", Value::Str("two words".into())),
            ("I", Value::Int(5432)),
            ("B", Value::Bool(true)),
            ("F", Value::Float(1.5)),
            ("E", Value::Float(1e21)),
            ("N", Value::Null),
        ]);
        let vars = env_vars(&d).unwrap();
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("S", "two words"),
                ("I", "5432"),
                ("B", "true"),
                ("F", "1.5"),
                ("E", "1e+21"),
                ("N", "")
            ]
        );
    }

    #[test]
    fn nested_values_and_bad_names_are_refused_without_the_value() {
        let d = doc(vec![("N", Value::Branch(Branch::default()))]);
        let e = env_vars(&d).unwrap_err();
        assert!(e.message.contains("N is a map"), "{}", e.message);
        let d = doc(vec![("A=B", Value::Str("secretvalue".into()))]);
        let e = env_vars(&d).unwrap_err();
        assert!(!e.to_string().contains("secretvalue"));
        let d = doc(vec![("K", Value::Str("a\0secretvalue".into()))]);
        let e = env_vars(&d).unwrap_err();
        assert!(!e.to_string().contains("secretvalue"));
    }

    #[test]
    fn commands_substitute_the_path() {
        let c = command(&["cat {} | wc -c".to_string()], Some("/t/a b"));
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(c.get_program(), "/bin/sh");
        assert_eq!(args, vec!["-c", "cat '/t/a b' | wc -c"]);
        let c = command(
            &["kubectl".into(), "apply".into(), "-f".into(), "{}".into()],
            Some("/t/x.yaml"),
        );
        assert_eq!(c.get_program(), "kubectl");
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, vec!["apply", "-f", "/t/x.yaml"]);
    }
}
