//! `seal ksops`: seal as the KSOPS kustomize generator. With a generator file it is a
//! legacy exec plugin (`kubectl kustomize --enable-alpha-plugins`); without one it reads a
//! KRM `ResourceList` on standard input and writes one. Run under the name `ksops` (a
//! link), it takes KSOPS's command line ([`plan_as_ksops`]), `ksops install DEST`
//! included. `seal ksops install` links seal where kustomize looks for the plugin.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Args, Subcommand};

use crate::commands::common::{self, Ctx, Input};
use crate::error::{CliError, exit};
use crate::fsio;
use crate::k8s::ksops::{self, Generator, Job, ManifestError};
use crate::keys::Identities;
use crate::sops_cli::Plan;
use crate::stores::{EmitOptions, Format};
use crate::tree::Branch;

/// The environment variable that turns on placeholder mode (for CI without keys).
pub const PLACEHOLDER_ENV: &str = "SEAL_KSOPS_PLACEHOLDERS";

/// Where kustomize finds the plugin, below its plugin home.
pub const PLUGIN_PATH: &str = "viaduct.ai/v1/ksops/ksops";

/// Stack of the decrypting threads (the parsers recurse; see main.rs).
const WORKER_STACK: usize = 16 << 20;

/// Be the KSOPS kustomize generator (viaduct.ai/v1, kind ksops)
///
/// `seal ksops generate FILE` is the legacy exec plugin: FILE is the generator manifest,
/// the generated manifests go to standard output. `seal ksops generate` with no FILE is a
/// KRM function: a ResourceList on standard input, every item a ksops generator, and the
/// ResourceList with the generated items on standard output. Paths in the manifest are
/// relative to the current directory (kustomize runs plugins in the kustomization's
/// directory). Identities are found as for `seal decrypt`. Run as `ksops` (a link named
/// so), seal takes KSOPS's own command line: `ksops FILE`, `ksops < resource-list`,
/// `ksops install [--with-kustomize] DEST`.
#[derive(Debug, Args)]
pub struct KsopsArgs {
    #[command(subcommand)]
    command: KsopsCommand,
}

#[derive(Debug, Subcommand)]
enum KsopsCommand {
    /// Generate manifests from a ksops generator (FILE: legacy plugin; none: KRM on stdin)
    ///
    /// `files:` entries are decrypted and emitted as they are; each `secretFrom:` entry
    /// becomes a Secret (metadata, type; `files` and `binaryFiles` as PATH or KEY=PATH;
    /// `envs` read as dotenv). KSOPS_CONCURRENCY_LIMIT (default 20) bounds how many files
    /// are decrypted at once. With --placeholders (or SEAL_KSOPS_PLACEHOLDERS=1) no key is
    /// needed and every encrypted value is replaced by SEAL-PLACEHOLDER (base64-encoded in
    /// a Secret's data): Secrets of the right shape for CI, never the real values.
    Generate {
        /// The generator manifest (legacy exec plugin mode).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,

        /// Render placeholders instead of the decrypted values (needs no key).
        #[arg(long)]
        placeholders: bool,
    },
    /// Put seal where kustomize looks for the ksops plugin (or copy it into DEST)
    ///
    /// Without DEST: a link at $KUSTOMIZE_PLUGIN_HOME (default
    /// $XDG_CONFIG_HOME/kustomize/plugin, or ~/.config/kustomize/plugin) +
    /// viaduct.ai/v1/ksops/ksops pointing at this seal binary. An existing file there that
    /// is not already this link is kept unless --force. With DEST (as `ksops install`
    /// does, for Argo CD init containers): this binary copied to DEST/ksops, and with
    /// --with-kustomize the kustomize binary (/usr/local/bin/kustomize, or the one on
    /// PATH) to DEST/kustomize.
    Install {
        /// Copy into this directory instead of linking into kustomize's plugin home.
        #[arg(value_name = "DEST")]
        dest: Option<PathBuf>,

        /// With DEST: copy kustomize too.
        #[arg(long, requires = "dest")]
        with_kustomize: bool,

        /// Replace an existing plugin file that is not this link.
        #[arg(long)]
        force: bool,
    },
}

/// Whether `argv0` names ksops (`ksops`, `ksops.exe`, any directory).
pub fn invoked_as_ksops(argv0: &OsStr) -> bool {
    let name = Path::new(argv0).file_name().unwrap_or(argv0);
    name == "ksops" || name == "ksops.exe"
}

/// The seal command line for a process run as `ksops`, or `None` when it is not. KSOPS's
/// rules: `install` first (whatever follows), then no argument (KRM on standard input) or
/// one (the generator file); anything else prints the usage and fails.
pub fn plan_as_ksops(argv: &[OsString]) -> Option<Plan> {
    if !invoked_as_ksops(argv.first()?) {
        return None;
    }
    let seal = |rest: &[&OsStr]| {
        let mut v: Vec<OsString> = ["seal", "ksops"].iter().map(OsString::from).collect();
        v.extend(rest.iter().map(|s| s.to_os_string()));
        Plan::Seal(v)
    };
    let args = &argv[1..];
    Some(match args.first() {
        Some(a) if a == "install" => {
            let with = args[1..].iter().any(|a| a == "--with-kustomize");
            match args[1..].iter().find(|a| *a != "--with-kustomize") {
                None => Plan::fail(
                    1,
                    "ksops install needs a destination directory\nusage: ksops install [--with-kustomize] DEST",
                ),
                Some(dest) => {
                    let mut rest: Vec<&OsStr> = vec![OsStr::new("install")];
                    if with {
                        rest.push(OsStr::new("--with-kustomize"));
                    }
                    rest.extend([OsStr::new("--"), dest.as_os_str()]);
                    seal(&rest)
                }
            }
        }
        None => seal(&[OsStr::new("generate")]),
        Some(file) if args.len() == 1 => {
            seal(&[OsStr::new("generate"), OsStr::new("--"), file.as_os_str()])
        }
        Some(_) => Plan::fail(1, USAGE),
    })
}

const USAGE: &str = "\
ksops (seal): the KSOPS kustomize generator for sops-encrypted manifests.
usage:
  ksops GENERATOR.yaml                  legacy exec plugin: the generated manifests on stdout
  ksops < resource-list.yaml            KRM function: a ResourceList in and out
  ksops install [--with-kustomize] DEST copy this binary to DEST/ksops
kustomize: kubectl kustomize --enable-alpha-plugins (legacy), kustomize build --enable-alpha-plugins --enable-exec (KRM)";

/// Run `seal ksops`.
pub fn run(ctx: &Ctx, args: &KsopsArgs) -> Result<(), CliError> {
    match &args.command {
        KsopsCommand::Generate { file, placeholders } => {
            let placeholders = *placeholders || placeholder_env(ctx);
            match file {
                Some(f) => legacy(ctx, f, placeholders),
                None => krm(ctx, placeholders),
            }
        }
        KsopsCommand::Install {
            dest,
            with_kustomize,
            force,
        } => match dest {
            Some(d) => copy_install(d, *with_kustomize),
            None => link_install(ctx, *force),
        },
    }
}

fn placeholder_env(ctx: &Ctx) -> bool {
    ctx.env
        .var(PLACEHOLDER_ENV)
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The legacy exec plugin: read the generator file, print what it generates.
fn legacy(ctx: &Ctx, file: &Path, placeholders: bool) -> Result<(), CliError> {
    let bytes = fsio::read_input(file).map_err(|e| {
        CliError::read_io(file, e).hint("kustomize passes the generator manifest as the argument")
    })?;
    let doc = Format::Yaml
        .store()
        .load_plain(&bytes)
        .map_err(|e| CliError::reading_plain(e).in_file(file))?
        .docs
        .into_iter()
        .next()
        .unwrap_or_default();
    let out = generate(ctx, &doc, placeholders).map_err(|e| e.in_file(file))?;
    common::write_result(None, out.as_bytes(), fsio::Sensitivity::Secret)
}

/// The KRM function: a ResourceList on standard input, each item a generator.
fn krm(ctx: &Ctx, placeholders: bool) -> Result<(), CliError> {
    if stdin_is_char_device() {
        // KSOPS exits 1 here.
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "no generator file given and standard input is a terminal or device, not a ResourceList\n{USAGE}"
            ),
        ));
    }
    let bytes = common::read_stdin()?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::new(
            exit::GENERIC,
            format!(
                "no generator file given and standard input is empty, not a ResourceList\n{USAGE}"
            ),
        ));
    }
    let store = Format::Yaml.store();
    let rl = store
        .load_plain(&bytes)
        .map_err(|e| CliError::reading_plain(e).in_file("<stdin>"))?
        .docs
        .into_iter()
        .next()
        .unwrap_or_default();
    let items = ksops::resource_list_items(&rl).map_err(manifest_error)?;
    let mut generated: Vec<Branch> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let out = generate(ctx, item, placeholders).map_err(|mut e| {
            e.message = format!("ResourceList items[{i}]: {}", e.message);
            e
        })?;
        let docs = store
            .load_plain(out.as_bytes())
            .map_err(|e| CliError::reading_plain(e).in_file(format!("items[{i}] output")))?
            .docs;
        generated.extend(docs.into_iter().filter(|d| !d.items.is_empty()));
    }
    let out = store
        .emit_plain(
            &[ksops::with_items(&rl, generated)],
            &crate::stores::Layout::none(),
            EmitOptions { indent: Some(2) },
        )
        .map_err(CliError::writing)?;
    common::write_result(None, &out, fsio::Sensitivity::Secret)
}

/// Whether standard input is a terminal or another character device (`/dev/null`): KSOPS
/// prints its usage then instead of reading a ResourceList.
fn stdin_is_char_device() -> bool {
    #[cfg(unix)]
    {
        rustix::fs::fstat(std::io::stdin()).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice
        })
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    }
}

fn manifest_error(e: ManifestError) -> CliError {
    let code = match e {
        ManifestError::ResourceList(_) => exit::COULD_NOT_READ_INPUT,
        _ => exit::GENERIC,
    };
    CliError::new(code, e.to_string())
}

/// What one generator document generates.
fn generate(ctx: &Ctx, doc: &Branch, placeholders: bool) -> Result<String, CliError> {
    let limit = ksops::concurrency(ctx.env.var("KSOPS_CONCURRENCY_LIMIT").as_deref())
        .map_err(manifest_error)?;
    let g = Generator::from_doc(doc).map_err(|e| {
        manifest_error(e).hint(
            "a ksops generator lists encrypted manifests under `files:` or Secrets to build under `secretFrom:`",
        )
    })?;
    let jobs = g.jobs().map_err(manifest_error)?;
    let ids = if placeholders || jobs.is_empty() {
        Identities::default()
    } else {
        ctx.identities()
    };
    if placeholders {
        eprintln!(
            "seal: warning: ksops placeholder mode: the generated Secrets hold {}, not the real values",
            ksops::PLACEHOLDER
        );
    }
    let dir = ctx.cwd.clone();
    let outputs = parallel(limit, &jobs, |job| {
        decrypt_job(&dir, &ids, job, placeholders)
    });
    let mut plain = Vec::with_capacity(outputs.len());
    for r in outputs {
        plain.push(r?);
    }
    let stream = crate::commands::decrypt::join_stream(&g.render(&jobs, &plain));
    Ok(String::from_utf8_lossy(&stream).into_owned())
}

/// Decrypt one listed file as `seal decrypt FILE` prints it (the format its name
/// implies), or render its placeholders.
fn decrypt_job(
    dir: &Path,
    ids: &Identities,
    job: &Job,
    placeholders: bool,
) -> Result<Vec<u8>, CliError> {
    let listed = |mut e: CliError| {
        e.message = format!("in the ksops generator's {}: {}", job.field, e.message);
        e
    };
    let display = PathBuf::from(&job.path);
    let path = dir.join(&job.path);
    let bytes = fsio::read_input(&path).map_err(|e| listed(CliError::read_io(&display, e)))?;
    let format = Format::from_path(&display);
    let input = Input {
        display: display.clone(),
        file: Some(path),
        rules_path: None,
        format,
        out_format: format,
        bytes,
    };
    let store = format.store();
    let (docs, layout) = if placeholders {
        let (parsed, _) = common::load_encrypted(&input).map_err(listed)?;
        let mut docs = parsed.docs;
        ksops::placeholders(&mut docs);
        (docs, parsed.layout)
    } else {
        let opened = common::open(&input, ids, false, false).map_err(listed)?;
        (opened.docs, opened.layout)
    };
    store
        .emit_plain(&docs, &layout, EmitOptions::default())
        .map_err(|e| listed(CliError::writing(e).in_file(&display)))
}

/// Run `f` over `jobs` on at most `limit` threads; results in the jobs' order.
fn parallel<T: Send, F>(limit: usize, jobs: &[Job], f: F) -> Vec<T>
where
    F: Fn(&Job) -> T + Sync,
{
    let n = limit.min(jobs.len());
    if n <= 1 {
        return jobs.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            let r = f(job);
            if let Ok(mut slots) = results.lock() {
                slots[i] = Some(r);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..n {
            // A thread that cannot start leaves its share to the others (and to this one).
            let _ = std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, work);
        }
        work();
    });
    let slots = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::with_capacity(slots.len());
    for (slot, job) in slots.into_iter().zip(jobs) {
        out.push(slot.unwrap_or_else(|| f(job)));
    }
    out
}

/// kustomize's plugin home: $KUSTOMIZE_PLUGIN_HOME, else $XDG_CONFIG_HOME/kustomize/plugin,
/// else ~/.config/kustomize/plugin.
pub fn plugin_home(ctx: &Ctx) -> Option<PathBuf> {
    let set = |k: &str| ctx.env.var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set("KUSTOMIZE_PLUGIN_HOME") {
        return Some(p);
    }
    if let Some(p) = set("XDG_CONFIG_HOME") {
        return Some(p.join("kustomize/plugin"));
    }
    set("HOME").map(|h| h.join(".config/kustomize/plugin"))
}

fn current_exe() -> Result<PathBuf, CliError> {
    std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| {
            CliError::new(
                exit::GENERIC,
                format!(
                    "cannot find seal's own binary: {}",
                    crate::error::io_reason(&e)
                ),
            )
        })
}

/// `seal ksops install`: a link to this binary at kustomize's plugin path.
fn link_install(ctx: &Ctx, force: bool) -> Result<(), CliError> {
    let home = plugin_home(ctx).ok_or_else(|| {
        CliError::new(
            exit::GENERIC,
            "cannot tell where kustomize looks for plugins: HOME, XDG_CONFIG_HOME and KUSTOMIZE_PLUGIN_HOME are all unset",
        )
        .hint("set KUSTOMIZE_PLUGIN_HOME, or give a directory: seal ksops install DEST")
    })?;
    let link = home.join(PLUGIN_PATH);
    let exe = current_exe()?;
    if let Ok(meta) = std::fs::symlink_metadata(&link) {
        let same =
            meta.file_type().is_symlink() && std::fs::read_link(&link).is_ok_and(|t| t == exe);
        if same {
            eprintln!(
                "seal: {} already links to {}",
                link.display(),
                exe.display()
            );
            return Ok(());
        }
        if !force {
            return Err(CliError::new(
                exit::GENERIC,
                "a ksops plugin is already installed here (not a link to this seal); it was left as it is",
            )
            .in_file(&link)
            .hint("pass --force to replace it with a link to seal"));
        }
    }
    let io = |e: std::io::Error| CliError::write_io(&link, e);
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Make the link beside the target and rename it over, so a failure leaves the old file.
    let tmp = link.with_file_name(".ksops.seal-tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&exe, &tmp).map_err(io)?;
    std::fs::rename(&tmp, &link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })?;
    eprintln!(
        "seal: installed {} -> {}\nkustomize runs it for `kind: ksops` generators with: kubectl kustomize --enable-alpha-plugins DIR",
        link.display(),
        exe.display()
    );
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::copy(target, link).map(|_| ())
}

/// `ksops install [--with-kustomize] DEST`: copy this binary (and kustomize) into DEST.
fn copy_install(dest: &Path, with_kustomize: bool) -> Result<(), CliError> {
    let exe = current_exe()?;
    copy_executable(&exe, &dest.join("ksops"))?;
    if with_kustomize {
        let fixed = PathBuf::from("/usr/local/bin/kustomize");
        let kustomize = if fixed.exists() {
            Some(fixed)
        } else {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("kustomize"))
                    .find(|c| c.is_file())
            })
        };
        let Some(k) = kustomize else {
            return Err(CliError::new(
                exit::GENERIC,
                "--with-kustomize: no kustomize binary at /usr/local/bin/kustomize or on PATH",
            )
            .hint("install kustomize in the image, or drop --with-kustomize"));
        };
        copy_executable(&k, &dest.join("kustomize"))?;
    }
    Ok(())
}

fn copy_executable(src: &Path, dst: &Path) -> Result<(), CliError> {
    let tmp = dst.with_file_name(format!(
        ".{}.seal-tmp",
        dst.file_name().unwrap_or_default().to_string_lossy()
    ));
    let result = (|| {
        std::fs::copy(src, &tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::rename(&tmp, dst)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(
            CliError::write_io(dst, e).hint("the destination directory must exist and be writable")
        );
    }
    eprintln!("installed {}", dst.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn seal_args(p: Option<Plan>) -> Vec<String> {
        match p {
            Some(Plan::Seal(v)) => v.iter().map(|s| s.to_string_lossy().into_owned()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_name_ksops_takes_the_ksops_command_line() {
        assert!(plan_as_ksops(&argv(&["seal", "x.yaml"])).is_none());
        assert!(plan_as_ksops(&argv(&["/usr/bin/sops", "x.yaml"])).is_none());
        assert_eq!(
            seal_args(plan_as_ksops(&argv(&[
                "/home/u/.config/kustomize/plugin/viaduct.ai/v1/ksops/ksops",
                "/tmp/kust-plugin-config-1"
            ]))),
            [
                "seal",
                "ksops",
                "generate",
                "--",
                "/tmp/kust-plugin-config-1"
            ]
        );
        assert_eq!(
            seal_args(plan_as_ksops(&argv(&["ksops"]))),
            ["seal", "ksops", "generate"]
        );
    }

    #[test]
    fn install_comes_before_the_argument_count() {
        assert_eq!(
            seal_args(plan_as_ksops(&argv(&[
                "ksops",
                "install",
                "--with-kustomize",
                "/custom-tools"
            ]))),
            [
                "seal",
                "ksops",
                "install",
                "--with-kustomize",
                "--",
                "/custom-tools"
            ]
        );
        assert!(matches!(
            plan_as_ksops(&argv(&["ksops", "install"])),
            Some(Plan::Fail { code: 1, .. })
        ));
        assert!(matches!(
            plan_as_ksops(&argv(&["ksops", "a.yaml", "b.yaml"])),
            Some(Plan::Fail { code: 1, .. })
        ));
    }
}
