//! `seal keyservice`: serve this machine's keys to sops and seal clients over sops's key
//! service protocol (the work is in `keys::keyservice::server`).

use clap::Args;

use crate::commands::common::Ctx;
use crate::error::{CliError, exit};

/// Serve this machine's keys as a sops key service
///
/// Listens for sops's key service requests (gRPC `Encrypt` and `Decrypt` of data keys) and
/// answers them with the keys seal finds here: age identities (SOPS_AGE_KEY_FILE and the
/// usual places), PGP keys through gpg, and the cloud key services (AWS KMS, GCP KMS, Azure
/// Key Vault, Vault transit) through this machine's credentials. Clients use it with
/// `sops --keyservice tcp://HOST:PORT` or `unix:///PATH` (seal: `--keyservice`).
///
/// The protocol has no TLS and no authentication (as in sops): anyone who can connect can
/// have data keys decrypted. Keep the default loopback address or a unix socket, and reach
/// it from elsewhere through an ssh tunnel; seal warns when bound to another address.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct KeyserviceArgs {
    /// The network to listen on: tcp or unix.
    #[arg(
        long,
        visible_alias = "net",
        default_value = "tcp",
        value_name = "NETWORK"
    )]
    pub network: String,

    /// The address to listen on: HOST:PORT for tcp, a socket path for unix.
    #[arg(
        long,
        visible_alias = "addr",
        default_value = "127.0.0.1:5000",
        value_name = "ADDRESS"
    )]
    pub address: String,

    /// Ask on the terminal before answering each request (y or n).
    #[arg(long)]
    pub prompt: bool,
}

/// Run it (until killed).
pub fn run(_ctx: &Ctx, args: &KeyserviceArgs) -> Result<(), CliError> {
    crate::keys::keyservice::server::run(&crate::keys::keyservice::server::Options {
        network: args.network.clone(),
        address: args.address.clone(),
        prompt: args.prompt,
    })
    .map_err(|e| CliError::new(exit::GENERIC, e))
}
