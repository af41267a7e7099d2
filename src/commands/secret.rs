//! `seal secret new`: a Kubernetes Secret from a template (postgres, redis, authentik,
//! cloudflare, generic) with random values made in memory, encrypted straight away with
//! the matching `.sops.yaml` rule: no plaintext ever reaches the disk. Also the shared step
//! "encrypt new documents for a path" ([`encrypt_new`]).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::commands::common::{self, Ctx, Input, SealPlan, emit_options, write_result};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::k8s::external_secret::valid_key;
use crate::k8s::external_secret::valid_object_name;
use crate::k8s::generate::Generator;
use crate::k8s::secret_templates::{self, KeyDefault, SecretValue, TEMPLATES};
use crate::keys;
use crate::rules;
use crate::stores::{Format, Layout};
use crate::tree::Branch;

/// Generate Kubernetes Secrets, encrypted straight away
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SecretCommand,
}

/// `seal secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Write a new encrypted Secret from a template
    New(NewSecretArgs),
}

/// Write a new encrypted Secret from a template
///
/// Templates (the keys the usual charts expect):
///   postgres    postgres-password, password (random), username, database (from the name)
///   redis       redis-password (random)
///   authentik   secret_key (base64:60), postgresql-password (random)
///   cloudflare  api-token (give it with --set api-token or --from-literal)
///   generic     only the keys you give
///
/// Random values are made in memory (--generate hex:N, base64:N, password:N or uuid; for
/// all generated keys, or K=SPEC for one key), then the Secret is encrypted with the
/// .sops.yaml rule that matches the output path (or --age) and written atomically. Text
/// values go under stringData; --from-file contents under data, base64-encoded, as
/// kubectl does.
#[derive(Debug, Args)]
pub struct NewSecretArgs {
    /// The template.
    #[arg(value_name = "TEMPLATE", value_parser = template_names())]
    template: String,

    /// metadata.name of the Secret.
    #[arg(long, value_name = "NAME")]
    name: String,

    /// metadata.namespace of the Secret.
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,

    /// The Secret's type.
    #[arg(long = "type", value_name = "TYPE", default_value = "Opaque")]
    secret_type: String,

    /// How to generate values: SPEC for every generated key of the template, or K=SPEC to
    /// generate key K (repeatable). SPEC: hex:N, base64:N, password:N, uuid.
    #[arg(long, value_name = "[K=]SPEC")]
    generate: Vec<String>,

    /// A key and its value, K=V (repeatable). Beware: the value is visible in the shell
    /// history and the process list; prefer --set for secrets.
    #[arg(long, value_name = "K=V")]
    from_literal: Vec<String>,

    /// A key and a file whose bytes become its value (base64 under data), K=PATH or PATH
    /// (the key is then the file name). Repeatable.
    #[arg(long, value_name = "[K=]PATH")]
    from_file: Vec<String>,

    /// Read key K's value from the terminal (hidden), or one line of standard input when
    /// it is not a terminal. Repeatable.
    #[arg(long = "set", value_name = "K")]
    set: Vec<String>,

    /// Write the encrypted Secret here (atomically); default: standard output.
    #[arg(short = 'o', long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,

    /// Encrypt for these age recipients (comma-separated) instead of the rule's.
    #[arg(long, env = "SOPS_AGE_RECIPIENTS", value_name = "RECIPIENTS")]
    age: Option<String>,

    /// With standard output: the repository path that picks the .sops.yaml rule.
    #[arg(long, value_name = "PATH")]
    filename_override: Option<PathBuf>,

    /// YAML indentation (default: .sops.yaml stores.yaml.indent, else 4 as sops).
    #[arg(long, value_name = "N", conflicts_with = "sealed")]
    indent: Option<usize>,

    /// Write a SealedSecret for a sealed-secrets controller instead (see `seal seal`).
    #[arg(long, requires = "cert", conflicts_with_all = ["age", "filename_override"])]
    sealed: bool,

    /// With --sealed: the controller's certificate (kubeseal --fetch-cert).
    #[arg(long, value_name = "FILE", requires = "sealed")]
    cert: Option<PathBuf>,

    /// With --sealed: strict, namespace-wide or cluster-wide.
    #[arg(long, value_name = "SCOPE", requires = "sealed",
          value_parser = ["strict", "namespace-wide", "cluster-wide"])]
    scope: Option<String>,

    /// With --sealed: seal even though the certificate has expired or is not valid yet.
    #[arg(long, requires = "sealed")]
    allow_invalid_cert: bool,
}

fn template_names() -> Vec<&'static str> {
    TEMPLATES.iter().map(|t| t.name).collect()
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::new(exit::CONFLICTING_PARAMETERS, msg)
}

/// Run `seal secret`.
pub fn run(ctx: &Ctx, args: &SecretArgs) -> Result<(), CliError> {
    match &args.command {
        SecretCommand::New(a) => run_new(ctx, a),
    }
}

fn split_kv<'a>(s: &'a str, flag: &str) -> Result<(&'a str, &'a str), CliError> {
    s.split_once('=')
        .ok_or_else(|| usage(format!("{flag} {s:?}: expected K=VALUE")))
}

fn check_key(k: &str, flag: &str) -> Result<(), CliError> {
    if valid_key(k) {
        Ok(())
    } else {
        Err(usage(format!(
            "{flag}: {k:?} is not a valid Secret key (letters, digits, '-', '.' and '_')"
        )))
    }
}

fn run_new(ctx: &Ctx, args: &NewSecretArgs) -> Result<(), CliError> {
    let template = secret_templates::template(&args.template)
        .ok_or_else(|| usage(format!("unknown template {:?}", args.template)))?;
    for (what, n) in std::iter::once(("--name", &args.name))
        .chain(args.namespace.iter().map(|n| ("--namespace", n)))
    {
        if !valid_object_name(n) {
            return Err(usage(format!(
                "{what} {n:?} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')"
            )));
        }
    }
    let dest = args.output.as_ref().map(|p| ctx.absolute(p));
    if let Some(d) = &dest
        && d.exists()
        && !args.force
    {
        return Err(
            CliError::new(exit::COULD_NOT_WRITE_OUTPUT, "the file already exists")
                .in_file(d)
                .hint("pass --force to replace it, or use `seal set` to change one value"),
        );
    }

    // The generator for all template keys, and per-key generators.
    let mut all_gen: Option<Generator> = None;
    let mut key_gens: Vec<(String, Generator)> = Vec::new();
    for g in &args.generate {
        match g.split_once('=') {
            Some((k, spec)) => {
                check_key(k, "--generate")?;
                key_gens.push((k.to_string(), Generator::parse(spec).map_err(usage)?));
            }
            None => all_gen = Some(Generator::parse(g).map_err(usage)?),
        }
    }

    // Explicit values, in command-line order of kind: literals, files, --set.
    let mut given: Vec<(String, SecretValue)> = Vec::new();
    for l in &args.from_literal {
        let (k, v) = split_kv(l, "--from-literal")?;
        check_key(k, "--from-literal")?;
        given.push((
            k.to_string(),
            SecretValue::Text(Zeroizing::new(v.to_string())),
        ));
    }
    for f in &args.from_file {
        let (k, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), PathBuf::from(p)),
            None => {
                let p = PathBuf::from(f);
                let k = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (k, p)
            }
        };
        check_key(&k, "--from-file")?;
        let bytes = Zeroizing::new(
            std::fs::read(ctx.absolute(&path)).map_err(|e| CliError::read_io(&path, e))?,
        );
        given.push((k, SecretValue::File(bytes)));
    }
    let mut stdin_lines = None;
    for k in &args.set {
        check_key(k, "--set")?;
        let v = read_value(k, &mut stdin_lines)?;
        given.push((k.clone(), SecretValue::Text(v)));
    }
    for (i, (k, _)) in given.iter().enumerate() {
        if given.iter().skip(i + 1).any(|(k2, _)| k2 == k) {
            return Err(usage(format!("the key {k} is given twice")));
        }
    }

    // Template keys first (in template order), then the other keys.
    let mut values: Vec<(String, SecretValue)> = Vec::new();
    let take = |given: &mut Vec<(String, SecretValue)>, k: &str| {
        given
            .iter()
            .position(|(g, _)| g == k)
            .map(|i| given.remove(i).1)
    };
    let mut generated = Vec::new();
    for (k, default) in template.keys {
        if let Some(v) = take(&mut given, k) {
            values.push((k.to_string(), v));
            continue;
        }
        let per_key = key_gens.iter().find(|(g, _)| g == k).map(|(_, g)| *g);
        let v = match (per_key, default) {
            (Some(g), _) => make_value(g)?,
            (None, KeyDefault::Generate(d)) => make_value(all_gen.unwrap_or(*d))?,
            (None, KeyDefault::AppName) => Zeroizing::new(secret_templates::app_name(&args.name)),
            (None, KeyDefault::Required) => {
                return Err(usage(format!(
                    "the {} template needs {k}: it cannot be generated",
                    template.name
                ))
                .hint(format!("pass --set {k} to type it (hidden), or pipe it: … | seal secret new {} --name {} --set {k}", template.name, args.name)));
            }
        };
        if matches!(default, KeyDefault::Generate(_)) || per_key.is_some() {
            generated.push(k.to_string());
        }
        values.push((k.to_string(), SecretValue::Text(v)));
    }
    values.append(&mut given);
    for (k, g) in &key_gens {
        if !values.iter().any(|(v, _)| v == k) {
            values.push((k.clone(), SecretValue::Text(make_value(*g)?)));
            generated.push(k.clone());
        }
    }
    if values.is_empty() {
        return Err(usage("the Secret would have no keys").hint(
            "give keys with --from-literal K=V, --from-file K=PATH, --set K or --generate K=SPEC",
        ));
    }

    let doc = secret_templates::secret_doc(
        &args.name,
        args.namespace.as_deref(),
        &args.secret_type,
        &values,
    );
    drop(values);
    if args.sealed {
        let cert = args
            .cert
            .as_ref()
            .ok_or_else(|| usage("--sealed needs the controller's certificate: --cert FILE"))?;
        let out = crate::commands::seal::seal_new_secret(
            ctx,
            doc,
            cert,
            args.scope.as_deref(),
            args.allow_invalid_cert,
            dest.as_deref(),
        )?;
        write_result(dest.as_deref(), &out, Sensitivity::Public)?;
        if let Some(d) = &dest {
            eprintln!(
                "seal: wrote {} (SealedSecret {}{})",
                d.display(),
                args.name,
                if generated.is_empty() {
                    String::new()
                } else {
                    format!("; generated: {}", generated.join(", "))
                }
            );
        }
        return Ok(());
    }
    let rules_path = dest
        .clone()
        .or_else(|| args.filename_override.as_ref().map(|p| ctx.absolute(p)));
    let display = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("<stdout>"));
    let out = encrypt_new(
        ctx,
        vec![doc],
        rules_path,
        &display,
        args.age.as_deref(),
        args.indent,
    )?;
    write_result(dest.as_deref(), &out, Sensitivity::Public)?;
    if let Some(d) = &dest {
        eprintln!(
            "seal: wrote {} (Secret {}, keys encrypted{})",
            d.display(),
            args.name,
            if generated.is_empty() {
                String::new()
            } else {
                format!("; generated: {}", generated.join(", "))
            }
        );
    }
    Ok(())
}

fn make_value(g: Generator) -> Result<Zeroizing<String>, CliError> {
    g.generate().map_err(|e| CliError::new(exit::GENERIC, e))
}

/// One value for `--set K`: hidden prompt on a terminal, else the next line of stdin.
fn read_value(
    key: &str,
    lines: &mut Option<std::io::Lines<std::io::StdinLock<'static>>>,
) -> Result<Zeroizing<String>, CliError> {
    if std::io::stdin().is_terminal() {
        let v = rpassword::prompt_password(format!("Value for {key}: ")).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_READ_INPUT,
                format!(
                    "cannot read the value of {key} from the terminal: {}",
                    crate::error::io_reason(&e)
                ),
            )
        })?;
        return Ok(Zeroizing::new(v));
    }
    let it = lines.get_or_insert_with(|| std::io::stdin().lock().lines());
    match it.next() {
        Some(Ok(l)) => Ok(Zeroizing::new(l.trim_end_matches('\r').to_string())),
        Some(Err(e)) => Err(CliError::new(
            exit::COULD_NOT_READ_INPUT,
            format!(
                "cannot read standard input: {}",
                crate::error::io_reason(&e)
            ),
        )),
        None => Err(CliError::new(
            exit::COULD_NOT_READ_INPUT,
            format!("--set {key}: standard input has no more lines"),
        )
        .hint("give one line per --set key, in order")),
    }
}

/// Encrypt new plaintext YAML documents for `rules_path` (the path they will have, which
/// picks the `.sops.yaml` rule) or for `age` recipients: fresh data key, the rule's
/// selector (else the Kubernetes default, data/stringData only), MAC. Returns the file.
pub fn encrypt_new(
    ctx: &Ctx,
    mut docs: Vec<Branch>,
    rules_path: Option<PathBuf>,
    display: &Path,
    age: Option<&str>,
    indent: Option<usize>,
) -> Result<Vec<u8>, CliError> {
    let config = ctx.config()?;
    let input = Input {
        display: display.to_path_buf(),
        file: None,
        rules_path,
        format: Format::Yaml,
        out_format: Format::Yaml,
        bytes: Vec::new(),
    };
    let rule = match age {
        Some(_) => None,
        None => common::matching_rule(config.as_ref(), &input)?,
    };
    let Some(groups) = common::recipient_groups(age, rule)? else {
        return Err(CliError::new(
            exit::GENERIC,
            "no recipients: no .sops.yaml rule with age recipients applies, and --age was not given",
        )
        .in_file(display)
        .hint("pass --age age1… (or set SOPS_AGE_RECIPIENTS), or add a creation rule to .sops.yaml (seal bootstrap flux writes one)"));
    };
    let selector = rule
        .and_then(|r| r.selector.clone())
        .or_else(|| rules::kubernetes_default(&docs))
        .unwrap_or_default();
    let threshold = if groups.len() > 1 {
        rule.map(|r| r.shamir_threshold).unwrap_or(0)
    } else {
        0
    };
    let key = DataKey::try_generate().map_err(CliError::from)?;
    let key_groups = keys::wrap_groups(&groups, threshold, &key)?;
    let meta = common::seal_docs(
        &mut docs,
        &key,
        SealPlan {
            selector: Some(selector),
            mac_only_encrypted: rule.is_some_and(|r| r.mac_only_encrypted),
            key_groups,
            shamir_threshold: threshold,
            version: common::new_version(),
        },
        None,
    )
    .map_err(|e| e.in_file(display))?;
    Format::Yaml
        .store()
        .emit_encrypted(
            &docs,
            &meta.to_tree(),
            &Layout::none(),
            emit_options(Format::Yaml, indent, config.as_ref()),
        )
        .map_err(|e| CliError::writing(e).in_file(display))
}
