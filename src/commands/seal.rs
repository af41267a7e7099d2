//! `seal seal`: a Secret manifest in, a `bitnami.com/v1alpha1` SealedSecret out, sealed
//! offline for a sealed-secrets controller's certificate (`--cert`, as `kubeseal --cert`),
//! with kubeseal's scopes, `--merge-into` an existing SealedSecret, `--raw` for one value,
//! and `--recovery-unseal` with the controller's private keys (disaster recovery). It
//! converts between the two mechanisms without plaintext on disk: a sops-encrypted Secret
//! is decrypted in memory and sealed, and `--recovery-unseal --to-sops` encrypts what it
//! opens as `seal encrypt` would.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use rand::rngs::OsRng;
use rsa::RsaPrivateKey;
use zeroize::Zeroizing;

use crate::commands::common::{self, Ctx, Input, read_stdin, write_result};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::k8s::sealed_secret::{self, PlainSecret, Unsealed};
use crate::sealed::{self, Scope};
use crate::stores::{EmitOptions, Format, Layout};
use crate::tree::{Branch, Value};

/// Seal a Secret manifest into a SealedSecret for a sealed-secrets controller
///
/// Reads a Kubernetes Secret manifest (YAML or JSON; `-` for standard input; plain or
/// sops-encrypted, which is decrypted in memory with your keys) and writes a
/// `bitnami.com/v1alpha1` SealedSecret that only the controller holding the certificate's
/// private key can open, as `kubeseal --cert pub-cert.pem` does, without a cluster. Each
/// `data` value is sealed as its decoded bytes, each `stringData` value as its text (and
/// overrides the same `data` key). The template keeps the Secret's name, namespace,
/// labels, annotations (never `kubectl.kubernetes.io/last-applied-configuration`), type
/// and immutable. The plaintext exists only in memory.
///
/// Scopes (--scope, default: what the Secret's sealedsecrets.bitnami.com annotations say,
/// else strict): strict binds each value to the namespace and name, namespace-wide to the
/// namespace, cluster-wide to nothing. A namespace is required unless cluster-wide.
///
/// --merge-into SEALED seals the Secret's keys for SEALED's name, namespace and scope and
/// adds or replaces them there, keeping the other keys (SEALED is rewritten unless -o).
/// --raw seals the bytes of FILE as one value and prints it (base64), for --name and
/// --namespace. --recovery-unseal opens a SealedSecret with the controller's private keys
/// (--recovery-private-key: a PEM key, or the key backup that `kubectl get secret -l
/// sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` writes) and prints the Secret;
/// with --to-sops it prints the Secret sops-encrypted instead, for the creation rule of
/// the -o path (else of FILE) or for --age, as `seal encrypt` would.
/// --reseal seals a SealedSecret's values again for a new --cert, opening them with the
/// old key (--recovery-private-key); the rest of the document is kept.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// The Secret manifest (`-`: standard input); with --raw, the value; with
    /// --recovery-unseal, the SealedSecret.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The controller's certificate (PEM, as `kubeseal --fetch-cert` writes it).
    #[arg(long, value_name = "FILE", required_unless_present = "recovery_unseal")]
    cert: Option<PathBuf>,

    /// strict, namespace-wide or cluster-wide (default: the Secret's annotations, else strict).
    #[arg(long, value_name = "SCOPE", value_parser = ["strict", "namespace-wide", "cluster-wide"])]
    scope: Option<String>,

    /// Add or replace the Secret's keys in this SealedSecret, keeping its other keys.
    #[arg(long, value_name = "SEALED", conflicts_with_all = ["raw", "recovery_unseal"])]
    merge_into: Option<PathBuf>,

    /// Seal FILE's bytes as one value and print it (base64); needs --name and/or
    /// --namespace as the scope requires.
    #[arg(long, conflicts_with = "recovery_unseal")]
    raw: bool,

    /// The Secret's name (--raw).
    #[arg(long, value_name = "NAME", requires = "raw")]
    name: Option<String>,

    /// The Secret's namespace (--raw; else used when the Secret names none).
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,

    /// Seal even though the certificate has expired or is not valid yet.
    #[arg(long)]
    allow_invalid_cert: bool,

    /// Re-seal the SealedSecret FILE for a new certificate (--cert); it needs the old
    /// private key (--recovery-private-key) to open the values first.
    #[arg(long, requires = "recovery_private_key", requires = "cert",
          conflicts_with_all = ["recovery_unseal", "raw", "merge_into", "scope"])]
    reseal: bool,

    /// Open the SealedSecret FILE with the controller's private keys (disaster recovery).
    #[arg(long, requires = "recovery_private_key", conflicts_with = "cert")]
    recovery_unseal: bool,

    /// A PEM private key, or the controller's key backup (a Secret or a List of them, YAML
    /// or JSON); repeatable; every key in them is tried.
    #[arg(long, value_name = "FILE")]
    recovery_private_key: Vec<PathBuf>,

    /// With --recovery-unseal: write the Secret sops-encrypted (the creation rule of the
    /// -o path, else of FILE, picks recipients and selector), never in plaintext.
    #[arg(long, requires = "recovery_unseal")]
    to_sops: bool,

    /// With --to-sops: encrypt for these age recipients (comma-separated; default:
    /// SOPS_AGE_RECIPIENTS, else the creation rule's keys).
    #[arg(long, value_name = "RECIPIENTS", requires = "to_sops")]
    age: Option<String>,

    /// Write here (atomically) instead of standard output; `.json` writes JSON.
    #[arg(short = 'o', long, value_name = "PATH")]
    output: Option<PathBuf>,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::new(exit::CONFLICTING_PARAMETERS, msg)
}

fn read(ctx: &Ctx, p: &Path) -> Result<Vec<u8>, CliError> {
    if p == Path::new("-") {
        read_stdin()
    } else {
        std::fs::read(ctx.absolute(p)).map_err(|e| CliError::read_io(p, e))
    }
}

/// YAML unless the name ends in `.json` (standard input: YAML, which reads JSON too).
fn manifest_format(p: &Path) -> Format {
    match Format::from_path(p) {
        Format::Json => Format::Json,
        _ => Format::Yaml,
    }
}

fn load(ctx: &Ctx, p: &Path) -> Result<(Vec<Branch>, Layout), CliError> {
    let bytes = Zeroizing::new(read(ctx, p)?);
    let parsed = manifest_format(p)
        .store()
        .load_plain(&bytes)
        .map_err(|e| CliError::reading_plain(e).in_file(p))?;
    Ok((parsed.docs, parsed.layout))
}

/// The documents of the Secret manifest `p`. A sops-encrypted file is decrypted in memory
/// with the user's keys, as `seal decrypt` finds them (its MAC checked); nothing is
/// written.
fn load_secret(ctx: &Ctx, p: &Path) -> Result<Vec<Branch>, CliError> {
    let bytes = Zeroizing::new(read(ctx, p)?);
    let format = manifest_format(p);
    let parsed = format
        .store()
        .load_plain(&bytes)
        .map_err(|e| CliError::reading_plain(e).in_file(p))?;
    if parsed.metadata.is_none() {
        return Ok(parsed.docs);
    }
    drop(parsed);
    let input = Input {
        display: p.to_path_buf(),
        file: (p != Path::new("-")).then(|| ctx.absolute(p)),
        rules_path: None,
        format,
        out_format: format,
        bytes: bytes.to_vec(),
    };
    let opened = common::open(&input, &ctx.identities(), false, false)
        .map_err(|e| e.hint("the sops file is decrypted in memory with your keys (SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt, ...), as seal decrypt does"))?;
    Ok(opened.docs)
}

fn emit(docs: &[Branch], layout: &Layout, dest: Option<&Path>) -> Result<Vec<u8>, CliError> {
    let format = dest.map_or(Format::Yaml, manifest_format);
    format
        .store()
        .emit_plain(
            docs,
            layout,
            EmitOptions {
                indent: Some(2), // as kubectl and kubeseal write manifests
            },
        )
        .map_err(CliError::writing)
}

/// Run `seal seal`.
pub fn run(ctx: &Ctx, args: &SealArgs) -> Result<(), CliError> {
    if args.recovery_unseal {
        return recovery_unseal(ctx, args);
    }
    let cert_path = args
        .cert
        .as_ref()
        .ok_or_else(|| usage("give the controller's certificate with --cert"))?;
    let cert = read_cert(ctx, cert_path, args.allow_invalid_cert)?;
    if args.reseal {
        return reseal(ctx, args, &cert);
    }
    let scope_flag = args.scope.as_deref().and_then(Scope::parse);
    let dest = args.output.as_ref().map(|p| ctx.absolute(p));

    if args.raw {
        let scope = scope_flag.unwrap_or_default();
        let namespace = args.namespace.clone().unwrap_or_default();
        let name = args.name.clone().unwrap_or_default();
        if scope != Scope::ClusterWide && namespace.is_empty() {
            return Err(usage("--raw needs --namespace unless --scope cluster-wide"));
        }
        if scope == Scope::Strict && name.is_empty() {
            return Err(usage(
                "--raw with the strict scope needs --name (or use --scope namespace-wide)",
            ));
        }
        let value = Zeroizing::new(read(ctx, &args.file)?);
        let sealed = sealed::hybrid_encrypt(
            &mut OsRng,
            &cert.key,
            &value,
            &scope.label(&namespace, &name),
        )
        .map_err(|e| CliError::new(exit::ERROR_ENCRYPTING_TREE, e.to_string()))?;
        let mut line = STANDARD.encode(sealed);
        if dest.is_none() {
            line.push('\n');
        }
        return write_result(dest.as_deref(), line.as_bytes(), Sensitivity::Public);
    }

    let docs = load_secret(ctx, &args.file)?;
    let bad_secret = |e: String| {
        CliError::new(exit::COULD_NOT_READ_INPUT, e)
            .in_file(&args.file)
            .hint("seal seal reads a Kubernetes Secret manifest (kind: Secret with data or stringData)")
    };
    let mut secret = PlainSecret::from_docs(&docs).map_err(bad_secret)?;
    drop(docs);
    if let Some(ns) = &args.namespace {
        match &secret.namespace {
            Some(own) if own != ns => {
                return Err(usage(format!(
                    "the Secret's namespace is {own:?} but --namespace says {ns:?}"
                ))
                .in_file(&args.file));
            }
            _ => secret.namespace = Some(ns.clone()),
        }
    }
    if let Some(s) = scope_flag {
        secret.set_scope(s);
    }

    if let Some(target) = &args.merge_into {
        let (mut sdocs, layout) = load(ctx, target)?;
        let bad = |e: String| CliError::new(exit::COULD_NOT_READ_INPUT, e).in_file(target);
        let idx = sealed_secret::find_sealed(&sdocs).map_err(bad)?;
        let bind = sealed_secret::binding(&sdocs[idx]).map_err(bad)?;
        if scope_flag.is_some_and(|s| s != bind.scope) {
            return Err(usage(format!(
                "{} is sealed with the {} scope: --merge-into keeps it (drop --scope)",
                target.display(),
                bind.scope.as_str()
            )));
        }
        // The values are bound to the SealedSecret's own name, namespace and scope.
        secret.name = bind.name;
        secret.namespace = Some(bind.namespace).filter(|n| !n.is_empty());
        secret.set_scope(bind.scope);
        let values = sealed_secret::seal_values(&mut OsRng, &cert.key, &secret)
            .map_err(|e| CliError::new(exit::ERROR_ENCRYPTING_TREE, e).in_file(target))?;
        sealed_secret::merge_into(&mut sdocs[idx], values).map_err(bad)?;
        let out_path = dest.clone().unwrap_or_else(|| ctx.absolute(target));
        let bytes = emit(&sdocs, &layout, Some(&out_path))?;
        return write_result(Some(&out_path), &bytes, Sensitivity::Public);
    }

    let doc = sealed_secret::seal(&mut OsRng, &cert.key, &secret)
        .map_err(|e| CliError::new(exit::ERROR_ENCRYPTING_TREE, e).in_file(&args.file))?;
    let bytes = emit(&[doc], &Layout::none(), dest.as_deref())?;
    write_result(dest.as_deref(), &bytes, Sensitivity::Public)
}

/// Seal a Secret document made in memory (`seal secret new --sealed`): the SealedSecret's
/// YAML (JSON when `dest` ends in `.json`).
pub fn seal_new_secret(
    ctx: &Ctx,
    doc: Branch,
    cert_path: &Path,
    scope: Option<&str>,
    allow_invalid_cert: bool,
    dest: Option<&Path>,
) -> Result<Vec<u8>, CliError> {
    let cert = read_cert(ctx, cert_path, allow_invalid_cert)?;
    let mut secret = PlainSecret::from_docs(std::slice::from_ref(&doc))
        .map_err(|e| CliError::new(exit::GENERIC, e))?;
    drop(doc);
    if let Some(s) = scope.and_then(Scope::parse) {
        secret.set_scope(s);
    }
    let sealed = sealed_secret::seal(&mut OsRng, &cert.key, &secret)
        .map_err(|e| CliError::new(exit::ERROR_ENCRYPTING_TREE, e))?;
    emit(&[sealed], &Layout::none(), dest)
}

fn read_cert(ctx: &Ctx, p: &Path, allow_invalid: bool) -> Result<sealed::Certificate, CliError> {
    let bytes = read(ctx, p)?;
    let cert = sealed::parse_certificate(&bytes).map_err(|e| {
        CliError::new(exit::COULD_NOT_READ_INPUT, e.to_string())
            .in_file(p)
            .hint("--cert takes the controller's certificate: kubeseal --fetch-cert > pub-cert.pem")
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Some(problem) = cert.validity_problem(now)
        && !allow_invalid
    {
        return Err(CliError::new(exit::GENERIC, problem).in_file(p).hint(
            "fetch the controller's current certificate (kubeseal --fetch-cert), or seal anyway with --allow-invalid-cert",
        ));
    }
    Ok(cert)
}

/// Every private key in a PEM file or a controller key backup (Secret / List, YAML / JSON).
fn read_private_keys(ctx: &Ctx, p: &Path) -> Result<Vec<RsaPrivateKey>, CliError> {
    let bytes = Zeroizing::new(read(ctx, p)?);
    let bad = |e: String| {
        CliError::new(exit::COULD_NOT_READ_INPUT, e).in_file(p).hint(
            "--recovery-private-key takes a PEM RSA private key or the controller's key backup \
             (kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml)",
        )
    };
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let keys = sealed::parse_private_keys_pem(&bytes).map_err(|e| bad(e.to_string()))?;
        if keys.is_empty() {
            return Err(bad("no RSA PRIVATE KEY or PRIVATE KEY block found".into()));
        }
        return Ok(keys);
    }
    let format = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Format::Json
    } else {
        Format::Yaml
    };
    let parsed = format
        .store()
        .load_plain(&bytes)
        .map_err(|e| CliError::reading_plain(e).in_file(p))?;
    let mut secrets = Vec::new();
    for doc in &parsed.docs {
        collect_secrets(doc, &mut secrets);
    }
    let mut keys = Vec::new();
    for s in secrets {
        let Some(Value::Branch(data)) = s.get("data") else {
            continue;
        };
        let Some(Value::Str(b64)) = data.get("tls.key") else {
            continue;
        };
        let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
        let pem = Zeroizing::new(
            STANDARD
                .decode(compact.as_bytes())
                .map_err(|_| bad("a Secret's data.tls.key is not base64".into()))?,
        );
        keys.extend(sealed::parse_private_keys_pem(&pem).map_err(|e| bad(e.to_string()))?);
    }
    if keys.is_empty() {
        return Err(bad(
            "no Secret with data.tls.key (a PEM private key) found".into()
        ));
    }
    Ok(keys)
}

fn collect_secrets<'a>(doc: &'a Branch, out: &mut Vec<&'a Branch>) {
    match doc.get("kind") {
        Some(Value::Str(k)) if k == "Secret" => out.push(doc),
        Some(Value::Str(k)) if k == "List" || k.ends_with("List") => {
            if let Some(Value::List(items)) = doc.get("items") {
                for i in items {
                    if let Value::Branch(b) = i {
                        collect_secrets(b, out);
                    }
                }
            }
        }
        _ => {}
    }
}

fn reseal(ctx: &Ctx, args: &SealArgs, cert: &sealed::Certificate) -> Result<(), CliError> {
    let mut keys = Vec::new();
    for p in &args.recovery_private_key {
        keys.extend(read_private_keys(ctx, p)?);
    }
    let (mut docs, layout) = load(ctx, &args.file)?;
    let bad = |e: String| CliError::new(exit::COULD_NOT_READ_INPUT, e).in_file(&args.file);
    let idx = sealed_secret::find_sealed(&docs).map_err(bad)?;
    sealed_secret::reseal(&mut OsRng, &keys, &cert.key, &mut docs[idx]).map_err(|e| {
        CliError::new(exit::ERROR_DECRYPTING_TREE, e)
            .in_file(&args.file)
            .hint("--reseal opens each value with the old controller key (--recovery-private-key) before sealing it for --cert")
    })?;
    let dest = args.output.as_ref().map(|p| ctx.absolute(p));
    let bytes = emit(&docs, &layout, dest.as_deref())?;
    write_result(dest.as_deref(), &bytes, Sensitivity::Public)
}

fn recovery_unseal(ctx: &Ctx, args: &SealArgs) -> Result<(), CliError> {
    let mut keys = Vec::new();
    for p in &args.recovery_private_key {
        keys.extend(read_private_keys(ctx, p)?);
    }
    let (docs, _) = load(ctx, &args.file)?;
    let bad = |e: String| CliError::new(exit::COULD_NOT_READ_INPUT, e).in_file(&args.file);
    let idx = sealed_secret::find_sealed(&docs).map_err(bad)?;
    let secret = sealed_secret::unseal(&mut OsRng, &keys, &docs[idx]).map_err(|e| {
        CliError::new(exit::ERROR_DECRYPTING_TREE, e)
            .in_file(&args.file)
            .hint(format!(
                "tried {} private key(s): give the controller's key that was active when it was sealed",
                keys.len()
            ))
    })?;
    let dest = args.output.as_ref().map(|p| ctx.absolute(p));
    let bytes = match secret {
        Unsealed::Secret(secret) => Zeroizing::new(emit(
            &[secret],
            &Layout::none(),
            dest.as_deref().filter(|_| !args.to_sops),
        )?),
        Unsealed::Legacy(manifest) => manifest,
    };
    if !args.to_sops {
        return write_result(dest.as_deref(), &bytes, Sensitivity::Secret);
    }
    // The Secret, encrypted as `seal encrypt` would for the destination's rule: the
    // plaintext stays in memory.
    let format = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Format::Json
    } else {
        Format::Yaml
    };
    let rules_path = dest.clone().unwrap_or_else(|| ctx.absolute(&args.file));
    let mut input = Input {
        display: args.file.clone(),
        file: None,
        out_format: manifest_format(&rules_path),
        rules_path: Some(rules_path),
        format,
        bytes: bytes.to_vec(),
    };
    let age = args
        .age
        .clone()
        .or_else(|| std::env::var("SOPS_AGE_RECIPIENTS").ok())
        .filter(|a| !a.trim().is_empty());
    let out = crate::commands::encrypt::encrypt_in_memory(ctx, &input, age);
    zeroize::Zeroize::zeroize(&mut input.bytes);
    write_result(dest.as_deref(), &out?, Sensitivity::Public)
}
