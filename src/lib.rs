//! seal: secrets for Kubernetes GitOps repositories, interchangeable with sops (age).
//!
//! The format core is pure and does no I/O: [`tree`] (the document model), [`cipher`]
//! (ENC values, MAC, walk), [`metadata`] (the `sops` block), [`rules`] (which leaves are
//! encrypted), [`shamir`], and [`stores`] (one per file format). Around it: [`keys`]
//! (identities and recipients), [`config`] (`.sops.yaml`), [`fsio`] (safe writes), and the
//! command-line layer in [`cli`] and [`commands`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cipher;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod fsio;
pub mod keys;
pub mod metadata;
pub mod rules;
pub mod shamir;
pub mod stores;
pub mod tree;
