//! `seal external-secret`: an External Secrets Operator `ExternalSecret` from a preset
//! (`--preset plane`), a keys spec file (`--spec`), or an existing Secret or SealedSecret
//! (`--from`, key names only), and the checklist of password-manager fields to create (`--items`).

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use crate::commands::common::{Ctx, write_result};
use crate::error::{CliError, exit};
use crate::fsio::Sensitivity;
use crate::k8s::external_secret::{
    ExternalSecret, KeySpec, default_prefix, group_from_keys, secret_keys, valid_object_name,
};
use crate::k8s::presets;
use crate::k8s::secret_templates::app_name;
use crate::stores::Format;

/// Generate an External Secrets Operator ExternalSecret
///
/// Writes an `external-secrets.io/v1` ExternalSecret whose target Secret is templated
/// (engineVersion v2) from the fields of password-manager items pulled with `dataFrom`
/// extracts: the app's own item plus extra ones (e.g. `cloudnative-pg`, `rook-ceph`).
///
/// The keys come from a built-in preset (--preset plane), a keys spec file (--spec; see
/// docs/generators.md), or an existing Secret (--from secrets/app.yaml, plain or
/// sops-encrypted) or SealedSecret (its spec.encryptedData and spec.template.data keys):
/// only key names are read, never values; each key K becomes `K: "{{ .<prefix>K }}"`. The checklist of items and fields to create in the password
/// manager goes to standard error (--items prints it alone, to standard output).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["preset", "spec", "from"])))]
pub struct ExternalSecretArgs {
    /// A built-in keys spec: plane.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,

    /// A keys spec file (app, prefix, extracts, groups of keys).
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,

    /// Build it from the key names of an existing Secret manifest (plain or encrypted) or
    /// SealedSecret.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,

    /// The app: the ExternalSecret's name and the password-manager item extracted first.
    #[arg(long, value_name = "NAME")]
    app: Option<String>,

    /// The SecretStore or ClusterSecretStore to read from.
    #[arg(long, value_name = "NAME", default_value = "onepassword-connect")]
    store: String,

    /// The kind of the store.
    #[arg(long, value_name = "KIND", default_value = "ClusterSecretStore",
          value_parser = ["ClusterSecretStore", "SecretStore"])]
    store_kind: String,

    /// metadata.namespace of the ExternalSecret (default: none, or the --from Secret's).
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,

    /// The name of the Secret the operator creates (default: <app>-secret; with --from,
    /// the Secret's own name).
    #[arg(long, value_name = "NAME")]
    target: Option<String>,

    /// How often the operator refreshes the Secret.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    refresh: String,

    /// Prefix of the password-manager field names (default: the spec's, else APP_ for
    /// --preset/--spec, none for --from).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,

    /// Another password-manager item to extract (repeatable), after the app's own.
    #[arg(long = "extract", value_name = "ITEM")]
    extracts: Vec<String>,

    /// Print only the checklist of items and fields to create in the password manager.
    #[arg(long)]
    items: bool,

    /// Write the manifest to PATH instead of standard output.
    #[arg(short = 'o', long, value_name = "PATH")]
    output: Option<PathBuf>,
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::new(exit::CONFLICTING_PARAMETERS, msg)
}

/// Run `seal external-secret`.
pub fn run(ctx: &Ctx, args: &ExternalSecretArgs) -> Result<(), CliError> {
    let es = build(ctx, args)?;
    if args.items {
        return write_result(None, es.items_text().as_bytes(), Sensitivity::Public);
    }
    let dest = args.output.as_ref().map(|p| ctx.absolute(p));
    write_result(dest.as_deref(), es.render().as_bytes(), Sensitivity::Public)?;
    eprint!("{}", es.items_text());
    Ok(())
}

/// Build the ExternalSecret the arguments describe.
pub fn build(ctx: &Ctx, args: &ExternalSecretArgs) -> Result<ExternalSecret, CliError> {
    let (app, namespace, target, secret_type, extracts, groups) = if let Some(from) = &args.from {
        let path = ctx.absolute(from);
        let bytes = std::fs::read(&path).map_err(|e| CliError::read_io(from, e))?;
        let parsed = Format::from_path(from)
            .store()
            .load_plain(&bytes)
            .map_err(|e| CliError::reading_plain(e).in_file(from))?;
        let keys = secret_keys(&parsed.docs).map_err(|e| {
            CliError::new(exit::GENERIC, e).in_file(from).hint(
                "--from reads a Kubernetes Secret manifest (kind: Secret with data or stringData) or a SealedSecret (spec.encryptedData)",
            )
        })?;
        let secret_name = keys.name.clone();
        let app = match (&args.app, &secret_name) {
            (Some(a), _) => a.clone(),
            (None, Some(n)) => app_name(n),
            (None, None) => {
                return Err(
                    usage("the Secret has no metadata.name: give the app with --app").in_file(from),
                );
            }
        };
        let prefix = args.prefix.clone().unwrap_or_default();
        let title = format!(
            "From {}: one key per Secret key; the values live in the {app} item",
            from.display()
        );
        let group = group_from_keys(&title, &keys.keys, &prefix);
        (
            app,
            args.namespace.clone().or(keys.namespace),
            args.target.clone().or(secret_name),
            keys.secret_type,
            Vec::new(),
            vec![group],
        )
    } else {
        let (text, label): (Vec<u8>, PathBuf) = match (&args.preset, &args.spec) {
            (Some(p), _) => {
                let t = presets::preset(p).ok_or_else(|| {
                    usage(format!("unknown preset {p:?}"))
                        .hint(format!("presets: {}", presets::names().join(", ")))
                })?;
                (t.as_bytes().to_vec(), PathBuf::from(format!("preset {p}")))
            }
            (None, Some(f)) => (
                std::fs::read(ctx.absolute(f)).map_err(|e| CliError::read_io(f, e))?,
                f.clone(),
            ),
            (None, None) => return Err(usage("give --preset, --spec or --from")),
        };
        let parsed = Format::Yaml
            .store()
            .load_plain(&text)
            .map_err(|e| CliError::reading_plain(e).in_file(&label))?;
        let doc = parsed.docs.first().cloned().unwrap_or_default();
        let spec = KeySpec::from_tree(&doc).map_err(|e| {
            CliError::new(
                exit::COULD_NOT_READ_INPUT,
                format!("invalid keys spec: {e}"),
            )
            .in_file(&label)
            .hint("see docs/generators.md for the keys spec format")
        })?;
        let app = args.app.clone().or(spec.app.clone()).ok_or_else(|| {
            usage("the keys spec names no app: give it with --app").in_file(&label)
        })?;
        let prefix = args
            .prefix
            .clone()
            .or(spec.prefix.clone())
            .unwrap_or_else(|| default_prefix(&app));
        let groups = spec.resolve_groups(&prefix);
        (
            app,
            args.namespace.clone(),
            args.target.clone(),
            None,
            spec.extracts.clone(),
            groups,
        )
    };
    if !valid_object_name(&app) {
        return Err(usage(format!(
            "the app name {app:?} is not a valid Kubernetes name (lower-case letters, digits and '-')"
        )));
    }
    let mut all_extracts = vec![(app.clone(), None)];
    for x in extracts
        .into_iter()
        .chain(args.extracts.iter().map(|x| (x.clone(), None)))
    {
        if !all_extracts.iter().any(|(k, _)| *k == x.0) {
            all_extracts.push(x);
        }
    }
    let es = ExternalSecret {
        target: target.unwrap_or_else(|| format!("{app}-secret")),
        name: app,
        namespace,
        store: args.store.clone(),
        store_kind: args.store_kind.clone(),
        secret_type,
        refresh: args.refresh.clone(),
        extracts: all_extracts,
        groups,
    };
    es.validate().map_err(|e| {
        let mut err = CliError::new(exit::GENERIC, e);
        if let Some(f) = args.spec.as_ref().or(args.from.as_ref()) {
            err = err.in_file(f);
        }
        err
    })?;
    if !is_duration(&es.refresh) {
        return Err(usage(format!(
            "--refresh {:?} is not a duration: write it as 1h, 30m, 90s, 1h30m",
            es.refresh
        )));
    }
    Ok(es)
}

/// A Go duration as the CRD's refreshInterval accepts (`1h`, `30m`, `1h30m`, `0`).
fn is_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if digits == 0 {
            return false;
        }
        rest = rest.get(digits..).unwrap_or("");
        let unit = ["ns", "us", "µs", "ms", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        let Some(u) = unit else { return false };
        rest = rest.get(u.len()..).unwrap_or("");
        any = true;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for ok in ["1h", "30m", "1h30m", "0", "90s", "1.5h"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "1", "h", "1d", "1h x"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
