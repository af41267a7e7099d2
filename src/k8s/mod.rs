//! Kubernetes objects seal reads and generates: Secrets from templates
//! ([`secret_templates`]) with random values ([`generate`]), ExternalSecrets with presets
//! such as Plane ([`external_secret`], [`presets`]), and the Flux `sops-age` Secret and
//! Kustomization decryption blocks ([`flux`]), the KSOPS generator manifest ([`ksops`]),
//! how a repository's Flux Kustomizations apply each other and its files ([`flux_tree`],
//! for doctor), and Bitnami SealedSecrets ([`sealed_secret`], over the hybrid format in
//! `crate::sealed`). Knows nothing about AES.

pub mod external_secret;
pub mod flux;
pub mod flux_tree;
pub mod generate;
pub mod ksops;
pub mod presets;
pub mod sealed_secret;
pub mod secret_templates;
