//! Flux and sops: the `flux-system/sops-age` Secret (key `age.agekey`, the suffix Flux's
//! kustomize-controller looks for), the Kustomization `spec.decryption` block, finding
//! Flux Kustomizations in a repository, and adding the block to one by a minimal text
//! insertion checked by re-parsing.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::stores::Format;
use crate::tree::{Branch, Value};

/// The Secret's name Flux is pointed at.
pub const SECRET_NAME: &str = "sops-age";
/// Its namespace.
pub const SECRET_NAMESPACE: &str = "flux-system";
/// Its key: Flux decrypts with every key ending in `.agekey`.
pub const SECRET_KEY: &str = "age.agekey";

/// The Secret manifest holding an age identity (`identity_text` is the age-keygen file:
/// comments and the `AGE-SECRET-KEY-1…` line), as a literal block under `stringData`.
pub fn sops_age_secret(identity_text: &str) -> Zeroizing<String> {
    let mut o = Zeroizing::new(String::with_capacity(identity_text.len() + 256));
    o.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
    o.push_str(&format!(
        "  name: {SECRET_NAME}\n  namespace: {SECRET_NAMESPACE}\n"
    ));
    o.push_str("type: Opaque\nstringData:\n");
    o.push_str(&format!("  {SECRET_KEY}: |\n"));
    for line in identity_text.lines() {
        o.push_str("    ");
        o.push_str(line.trim_end());
        o.push('\n');
    }
    o
}

/// The `decryption` block, indented for a child of `spec` at `indent` spaces.
pub fn decryption_block(indent: usize) -> String {
    decryption_block_named(indent, SECRET_NAME)
}

/// The `decryption` block naming the Secret `secret`.
pub fn decryption_block_named(indent: usize, secret: &str) -> String {
    let p = " ".repeat(indent);
    format!("{p}decryption:\n{p}{p}provider: sops\n{p}{p}secretRef:\n{p}{p}{p}name: {secret}\n")
}

/// A Flux Kustomization found in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FluxKustomization {
    /// The file that defines it.
    pub file: PathBuf,
    /// `metadata.name`.
    pub name: String,
    /// `spec.path` (relative to the source's root, e.g. `./kubernetes/apps`).
    pub path: Option<String>,
    /// Whether `spec.decryption` names provider `sops`.
    pub decrypts: bool,
    /// `spec.decryption.secretRef.name`, if any.
    pub secret_ref: Option<String>,
}

fn is_flux_kustomization(doc: &Branch) -> bool {
    matches!(doc.get("kind"), Some(Value::Str(k)) if k == "Kustomization")
        && matches!(doc.get("apiVersion"), Some(Value::Str(a)) if a.starts_with("kustomize.toolkit.fluxcd.io/"))
}

fn get_str<'a>(b: &'a Branch, k: &str) -> Option<&'a str> {
    match b.get(k) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn get_branch<'a>(b: &'a Branch, k: &str) -> Option<&'a Branch> {
    match b.get(k) {
        Some(Value::Branch(x)) => Some(x),
        _ => None,
    }
}

/// The Flux Kustomizations of one YAML text (empty when it does not parse).
pub fn kustomizations_in(file: &Path, text: &[u8]) -> Vec<FluxKustomization> {
    let Ok(parsed) = Format::Yaml.store().load_plain(text) else {
        return Vec::new();
    };
    parsed
        .docs
        .iter()
        .filter(|d| is_flux_kustomization(d))
        .map(|d| {
            let name = get_branch(d, "metadata")
                .and_then(|m| get_str(m, "name"))
                .unwrap_or("?")
                .to_string();
            let spec = get_branch(d, "spec");
            let dec = spec.and_then(|s| get_branch(s, "decryption"));
            FluxKustomization {
                file: file.to_path_buf(),
                name,
                path: spec.and_then(|s| get_str(s, "path")).map(str::to_string),
                decrypts: dec.and_then(|d| get_str(d, "provider")) == Some("sops"),
                secret_ref: dec
                    .and_then(|d| get_branch(d, "secretRef"))
                    .and_then(|r| get_str(r, "name"))
                    .map(str::to_string),
            }
        })
        .collect()
}

/// Every Flux Kustomization in YAML files below `root` (git-aware walk), sorted by file.
pub fn find_kustomizations(root: &Path) -> Vec<FluxKustomization> {
    let mut out = Vec::new();
    let walk = ignore::WalkBuilder::new(root)
        .hidden(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for e in walk.flatten() {
        let p = e.path();
        if !e.file_type().is_some_and(|t| t.is_file()) || Format::from_path(p) != Format::Yaml {
            continue;
        }
        let Ok(bytes) = std::fs::read(p) else {
            continue;
        };
        if !bytes
            .windows(27)
            .any(|w| w == b"kustomize.toolkit.fluxcd.io")
        {
            continue;
        }
        out.extend(kustomizations_in(p, &bytes));
    }
    out.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
    out
}

/// Add the decryption block to every Flux Kustomization of `text` that lacks one.
/// Returns the new text and the names patched (none: the text is returned unchanged).
/// Refuses when a Kustomization has a `decryption` that is not sops, or the result does
/// not parse to the expected block.
pub fn patch_decryption(text: &str) -> Result<(String, Vec<String>), String> {
    patch_decryption_named(text, &|_| SECRET_NAME.to_string())
}

/// Like [`patch_decryption`], with the Secret each Kustomization (by name) is given.
pub fn patch_decryption_named(
    text: &str,
    secret_for: &dyn Fn(&str) -> String,
) -> Result<(String, Vec<String>), String> {
    let before = kustomizations_in(Path::new("-"), text.as_bytes());
    if before.is_empty() {
        return Err("no Flux Kustomization (kustomize.toolkit.fluxcd.io) found".into());
    }
    // Split into documents at `---` lines; patch each document's `spec:` line.
    let mut out = String::with_capacity(text.len() + 128);
    let mut patched = Vec::new();
    let mut doc = String::new();
    let mut flush = |doc: &mut String, out: &mut String| -> Result<(), String> {
        let ks = kustomizations_in(Path::new("-"), doc.as_bytes());
        match ks.first() {
            Some(k) if !k.decrypts => {
                let parsed = Format::Yaml
                    .store()
                    .load_plain(doc.as_bytes())
                    .map_err(|e| e.to_string())?;
                let has_other = parsed
                    .docs
                    .first()
                    .and_then(|d| get_branch(d, "spec"))
                    .is_some_and(|s| s.get("decryption").is_some());
                if has_other {
                    return Err(format!(
                        "the Kustomization {} has a decryption block whose provider is not sops: fix it by hand",
                        k.name
                    ));
                }
                out.push_str(&insert_under_spec(doc, &secret_for(&k.name))?);
                patched.push(k.name.clone());
            }
            _ => out.push_str(doc),
        }
        doc.clear();
        Ok(())
    };
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            flush(&mut doc, &mut out)?;
            out.push_str(line);
        } else {
            doc.push_str(line);
        }
    }
    flush(&mut doc, &mut out)?;
    let after = kustomizations_in(Path::new("-"), out.as_bytes());
    let ok = after.len() == before.len()
        && after.iter().all(|k| k.decrypts && k.secret_ref.is_some())
        && after
            .iter()
            .zip(&before)
            .all(|(a, b)| a.name == b.name && a.path == b.path);
    if !ok {
        return Err("the edit did not give the expected Kustomizations (a layout seal cannot edit safely): add the block by hand".into());
    }
    Ok((out, patched))
}

/// Insert the block right after the top-level `spec:` line of one document.
fn insert_under_spec(doc: &str, secret: &str) -> Result<String, String> {
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let Some(i) = lines.iter().position(|l| l.trim_end() == "spec:") else {
        return Err(
            "the Kustomization's `spec:` is not on a line of its own at the start of a line".into(),
        );
    };
    // Indentation of spec's first child (default 2).
    let indent = lines
        .iter()
        .skip(i + 1)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .filter(|n| *n > 0)
        .unwrap_or(2);
    let mut out = String::with_capacity(doc.len() + 96);
    for (j, l) in lines.iter().enumerate() {
        out.push_str(l);
        if j == i {
            if !l.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&decryption_block_named(indent, secret));
        }
    }
    Ok(out)
}

/// What kustomize-controller needs to open a data key wrapped by a key service of type
/// `kind` (Flux's decryption docs: workload identity on its ServiceAccount or the
/// Kustomization's `spec.decryption.serviceAccountName`, else a fixed entry of the
/// decryption Secret `secret`): `(the service, what it needs)`.
pub fn key_service_note(kind: &str, secret: Option<&str>) -> (String, String) {
    let secret = secret.unwrap_or("the decryption Secret");
    let identity = |who: &str, entry: &str, holds: &str| {
        format!(
            "kustomize-controller opens it with {who} on its ServiceAccount (or spec.decryption.serviceAccountName), else with a `{entry}` entry ({holds}) in {secret}"
        )
    };
    match kind {
        "kms" => (
            "AWS KMS".into(),
            identity(
                "IRSA or EKS Pod Identity",
                "sops.aws-kms",
                "aws_access_key_id, aws_secret_access_key",
            ),
        ),
        "gcp_kms" => (
            "GCP Cloud KMS".into(),
            identity(
                "GKE Workload Identity",
                "sops.gcp-kms",
                "a service-account JSON key",
            ),
        ),
        "azure_kv" => (
            "Azure Key Vault".into(),
            identity(
                "AKS workload identity",
                "sops.azure-kv",
                "tenantId, clientId and clientSecret or clientCertificate",
            ),
        ),
        "hc_vault" => (
            "Vault/OpenBao transit".into(),
            format!(
                "kustomize-controller opens it with a `sops.vault-token` entry in {secret}, or with Vault's Kubernetes auth (spec.decryption.serviceAccountName)"
            ),
        ),
        "hckms" => (
            "HuaweiCloud KMS".into(),
            "Flux's kustomize-controller does not decrypt HuaweiCloud KMS keys: the cluster needs one of the file's other keys".into(),
        ),
        other => (
            format!("{other} keys"),
            "check that the cluster can reach that service".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KS: &str = "---\n# apps\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./kubernetes/apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n";

    #[test]
    fn secret_holds_the_identity_under_age_agekey() {
        let s = sops_age_secret("# created: x\n# public key: age1abc\nAGE-SECRET-KEY-1XYZ\n");
        let p = Format::Yaml.store().load_plain(s.as_bytes()).unwrap();
        let d = &p.docs[0];
        let sd = get_branch(d, "stringData").unwrap();
        assert_eq!(
            get_str(sd, "age.agekey"),
            Some("# created: x\n# public key: age1abc\nAGE-SECRET-KEY-1XYZ\n")
        );
        assert_eq!(
            get_str(get_branch(d, "metadata").unwrap(), "namespace"),
            Some("flux-system")
        );
    }

    #[test]
    fn patch_adds_the_block_once_and_keeps_the_rest() {
        let two = format!(
            "{KS}---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: done\nspec:\n    decryption:\n        provider: sops\n        secretRef:\n            name: sops-age\n    path: ./x\n"
        );
        let (out, names) = patch_decryption(&two).unwrap();
        assert_eq!(names, ["apps"]);
        assert!(out.starts_with("---\n# apps\n"), "{out}");
        assert!(out.contains("spec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n  interval: 10m\n"), "{out}");
        // Idempotent.
        let (again, names) = patch_decryption(&out).unwrap();
        assert!(names.is_empty());
        assert_eq!(again, out);
        // Only the inserted lines differ.
        assert_eq!(out.lines().count(), two.lines().count() + 4);
    }

    #[test]
    fn patch_refuses_other_providers_and_non_kustomizations() {
        let other = KS.replace(
            "  interval: 10m\n",
            "  decryption:\n    provider: vault\n  interval: 10m\n",
        );
        assert!(patch_decryption(&other).unwrap_err().contains("not sops"));
        assert!(patch_decryption("kind: ConfigMap\n").is_err());
    }

    #[test]
    fn finds_kustomizations_and_their_decryption() {
        let ks = kustomizations_in(Path::new("ks.yaml"), KS.as_bytes());
        assert_eq!(ks.len(), 1);
        assert_eq!(ks[0].path.as_deref(), Some("./kubernetes/apps"));
        assert!(!ks[0].decrypts);
        // A kustomize.config.k8s.io Kustomization is not Flux's.
        let k = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n";
        assert!(kustomizations_in(Path::new("k.yaml"), k.as_bytes()).is_empty());
    }
}
