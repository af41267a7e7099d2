//! Kubernetes objects seal reads and generates: Secrets, ExternalSecrets (with presets such
//! as Plane), the Flux `sops-age` Secret and Kustomization decryption blocks. Knows nothing
//! about AES. STUB, to be written.
