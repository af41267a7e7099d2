//! sops's subcommands (`sops encrypt …`, `sops decrypt …`, …): which flags each accepts,
//! and the `seal` command line each becomes. Also the checks every form shares: key types
//! seal cannot serve yet fail here, naming the flag or variable, rather
//! than being dropped.

use std::ffi::OsString;

use super::flags::{self, Parsed};
use super::{Plan, warn};

/// sops's exit code for an error without a more specific one.
pub const GENERIC: u8 = 1;

const IO: &[&str] = &["input-type", "output-type", "filename-override"];
const OUT: &[&str] = &["in-place", "output", "indent"];
/// The output flags of the subcommands (sops 3.11 measured: no --indent there).
const SUB_OUT: &[&str] = &["in-place", "output"];
const KEYSERVICE: &[&str] = &["enable-local-keyservice", "keyservice"];
/// `--decryption-order` ($SOPS_DECRYPTION_ORDER): the commands that open a data key
/// (sops 3.13: decrypt, rotate, edit, set, unset, exec-env, exec-file, publish and the top
/// level; not encrypt, filestatus, updatekeys or groups).
const ORDER: &[&str] = &["decryption-order"];
/// sops's exit code for a key type named twice in the decryption order.
pub const DUPLICATE_DECRYPTION_KEY_TYPE: u8 = 112;
/// --input-type and --output-type (set and unset have no --filename-override in sops 3.13).
const TYPES: &[&str] = &["input-type", "output-type"];
const SELECTORS: &[&str] = &[
    "unencrypted-suffix",
    "encrypted-suffix",
    "unencrypted-regex",
    "encrypted-regex",
    "unencrypted-comment-regex",
    "encrypted-comment-regex",
];
/// The selectors the subcommands take (the comment regexes are top-level only).
const SUB_SELECTORS: &[&str] = &[
    "unencrypted-suffix",
    "encrypted-suffix",
    "unencrypted-regex",
    "encrypted-regex",
];
/// Key types by flag: (flag, what it is). Those in [`WRAPPED_KEYS`] seal encrypts for
/// (`sops encrypt`, rotate's --add-*/--rm-*); the others fail naming the type (none today:
/// every type sops 3.11 has is wrapped).
const OTHER_KEYS: &[(&str, &str)] = &[
    ("pgp", "PGP"),
    ("kms", "AWS KMS"),
    ("gcp-kms", "GCP KMS"),
    ("azure-kv", "Azure Key Vault"),
    ("hc-vault-transit", "HashiCorp Vault transit"),
    ("hckms", "HuaweiCloud KMS"),
];
/// The key-type flags seal wraps for.
const WRAPPED_KEYS: &[&str] = &[
    "pgp",
    "kms",
    "hc-vault-transit",
    "gcp-kms",
    "azure-kv",
    "hckms",
];
/// What `sops rotate` passes on to `seal rotate`.
pub const ROTATE_KEYS: &[&str] = &[
    "add-age",
    "rm-age",
    "add-pgp",
    "rm-pgp",
    "add-kms",
    "rm-kms",
    "add-hc-vault-transit",
    "rm-hc-vault-transit",
    "add-gcp-kms",
    "rm-gcp-kms",
    "add-azure-kv",
    "rm-azure-kv",
    "add-hckms",
    "rm-hckms",
    "encryption-context",
];
const CREATE_KEYS: &[&str] = &[
    "age",
    "pgp",
    "kms",
    "aws-profile",
    "gcp-kms",
    "azure-kv",
    "hc-vault-transit",
    "hckms",
    "encryption-context",
    "shamir-secret-sharing-threshold",
];
const ADD_RM: &[&str] = &[
    "add-age",
    "rm-age",
    "add-pgp",
    "rm-pgp",
    "add-kms",
    "rm-kms",
    "add-gcp-kms",
    "rm-gcp-kms",
    "add-azure-kv",
    "rm-azure-kv",
    "add-hc-vault-transit",
    "rm-hc-vault-transit",
    "add-hckms",
    "rm-hckms",
];

/// Whether `name` is one of sops's subcommands.
pub fn is_subcommand(name: &str) -> bool {
    matches!(
        name,
        "encrypt"
            | "decrypt"
            | "rotate"
            | "edit"
            | "set"
            | "unset"
            | "exec-env"
            | "exec-file"
            | "filestatus"
            | "updatekeys"
            | "groups"
            | "publish"
            | "completion"
            | "keyservice"
            | "help"
            | "h"
    )
}

/// The flags a subcommand accepts (besides --help, which every one does). `--config` is a
/// global flag only: `sops --config F encrypt FILE`, not `sops encrypt --config F FILE`.
fn allowed(name: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = vec!["help"];
    let groups: &[&[&str]] = match name {
        "encrypt" => &[IO, SUB_OUT, CREATE_KEYS, SUB_SELECTORS, KEYSERVICE],
        "decrypt" => &[IO, SUB_OUT, KEYSERVICE, ORDER, &["extract", "ignore-mac"]],
        "rotate" => &[
            IO,
            SUB_OUT,
            KEYSERVICE,
            ORDER,
            ADD_RM,
            &["encryption-context"],
        ],
        "edit" => &[
            &["input-type", "output-type"],
            CREATE_KEYS,
            SUB_SELECTORS,
            KEYSERVICE,
            ORDER,
            &["show-master-keys", "ignore-mac"],
        ],
        "set" => &[
            TYPES,
            KEYSERVICE,
            ORDER,
            &[
                "value-file",
                "value-stdin",
                "idempotent",
                "ignore-mac",
                "shamir-secret-sharing-threshold",
            ],
        ],
        "unset" => &[
            TYPES,
            KEYSERVICE,
            ORDER,
            &[
                "idempotent",
                "ignore-mac",
                "shamir-secret-sharing-threshold",
            ],
        ],
        "exec-env" => &[
            KEYSERVICE,
            ORDER,
            &["background", "pristine", "user", "same-process"],
        ],
        "exec-file" => &[
            KEYSERVICE,
            ORDER,
            &[
                "background",
                "no-fifo",
                "user",
                "input-type",
                "output-type",
                "filename",
            ],
        ],
        "filestatus" => &[&["input-type"]],
        "updatekeys" => &[
            KEYSERVICE,
            &["yes", "input-type", "shamir-secret-sharing-threshold"],
        ],
        "publish" => &[
            KEYSERVICE,
            ORDER,
            &["yes", "omit-extensions", "recursive", "verbose"],
        ],
        _ => &[],
    };
    for g in groups {
        v.extend_from_slice(g);
    }
    v
}

/// The flags `sops NAME` accepts (for help and completion).
pub fn allowed_flags(name: &str) -> Vec<&'static str> {
    allowed(name)
}

/// Plan `sops [GLOBAL FLAGS] NAME ARGS…` (`globals`: the flags before NAME, if any).
pub fn plan(name: &str, rest: &[OsString], globals: Option<&Parsed>) -> Plan {
    match name {
        "help" | "h" => {
            let topic = rest.first().and_then(|a| a.to_str());
            return Plan::Print {
                stdout: match topic {
                    Some(t) if is_subcommand(t) && !matches!(t, "help" | "h") => help_for(t),
                    _ => super::help(),
                },
            };
        }
        "completion" => {
            let program = "sops";
            return match rest.first().and_then(|a| a.to_str()) {
                Some("bash") => Plan::Print {
                    stdout: super::completion::bash(program),
                },
                Some("zsh") => Plan::Print {
                    stdout: super::completion::zsh(program),
                },
                Some("--help" | "-h") | None => Plan::Print {
                    stdout: help_for(name),
                },
                Some(other) => Plan::fail(
                    GENERIC,
                    format!("sops completion: no such shell {other:?} (bash or zsh)"),
                ),
            };
        }
        "groups" => return super::groups::plan(rest, globals),
        "keyservice" => return keyservice_plan(rest),
        _ => {}
    }
    let allow = allowed(name);
    let p = match flags::parse(rest, true, Some(&allow)) {
        Ok(p) => p,
        Err(e) => return usage(&e.0),
    };
    if p.on("help") {
        return Plan::Print {
            stdout: help_for(name),
        };
    }
    if let Some(fail) = shared_checks(
        &p,
        name == "encrypt" || name == "edit",
        name == "encrypt" || name == "edit",
    ) {
        return fail;
    }
    let mut out = Out::new(name);
    if allow.contains(&"decryption-order") {
        match decryption_order(&p) {
            Ok(order) => out.decryption_order(order),
            // sops's decrypt looks for the file first: seal then reports it missing (100).
            Err(_) if name == "decrypt" && first_file_missing(&p) => {}
            Err(fail) => return fail,
        }
    } else if matches!(name, "updatekeys") {
        out.file_order();
    }
    match name {
        "encrypt" => {
            out.file(&p, name, false);
            encrypt_flags(&mut out, &p);
        }
        "decrypt" => {
            out.file(&p, name, false);
            out.io(&p);
            out.output(&p);
            out.pass(&p, &["extract", "ignore-mac"]);
        }
        "rotate" => {
            out.file(&p, name, false);
            out.io(&p);
            out.output(&p);
            out.pass(&p, ROTATE_KEYS);
        }
        "edit" => {
            if let Some(f) = cannot(&p, name, &["output-type"]) {
                return f;
            }
            out.file(&p, name, true);
            edit_flags(&mut out, &p);
        }
        "set" => {
            if p.args.len() < 2 || (p.args.len() < 3 && !p.on("value-stdin")) {
                return Plan::fail(
                    GENERIC,
                    "sops set needs a file, an index and a value (or --value-stdin): sops set FILE '[\"key\"]' '\"value\"'",
                );
            }
            out.push(p.args[0].clone());
            out.push(p.args[1].clone());
            if p.on("value-file") {
                out.push("--value-file".into());
                if let Some(v) = p.args.get(2) {
                    out.push(v.clone());
                }
            } else if p.on("value-stdin") {
                out.push("--value-stdin".into());
            } else {
                out.push(p.args[2].clone());
            }
            out.pass(&p, &["idempotent", "ignore-mac"]);
            out.io(&p);
        }
        "unset" => {
            if p.args.len() < 2 {
                return Plan::fail(
                    GENERIC,
                    "sops unset needs a file and an index: sops unset FILE '[\"key\"]'",
                );
            }
            out.push(p.args[0].clone());
            out.push(p.args[1].clone());
            out.pass(&p, &["idempotent", "ignore-mac"]);
            out.io(&p);
        }
        "exec-env" | "exec-file" => {
            if p.on("background") {
                warn(&format!(
                    "{name}'s --background option is deprecated and will be removed in a future version of sops"
                ));
                if name == "exec-env" && p.on("same-process") {
                    return Plan::fail(
                        crate::error::exit::CONFLICTING_PARAMETERS,
                        "Error: The --same-process flag cannot be used with --background",
                    );
                }
            }
            // sops's exec-file --background removes the file as the command starts.
            if name == "exec-file"
                && let Some(f) = cannot(&p, name, &["background"])
            {
                return f;
            }
            if p.args.len() < 2 {
                return Plan::fail(
                    GENERIC,
                    format!("sops {name} needs a file and a command: sops {name} FILE 'COMMAND'"),
                );
            }
            out.push(p.args[0].clone());
            out.push("--".into());
            out.push(p.args[1].clone());
            out.pass_before_dashes(
                &p,
                &[
                    "pristine",
                    "input-type",
                    "output-type",
                    "no-fifo",
                    "filename",
                    "ignore-mac",
                    "user",
                    "background",
                    "same-process",
                ],
            );
        }
        "filestatus" => {
            // sops reports a missing file as a generic failure (1), not as 100.
            if let Some(f) = p.args.first().filter(|f| !std::path::Path::new(f).exists()) {
                return Plan::fail(
                    GENERIC,
                    format!(
                        "cannot check file status: {}: no such file",
                        std::path::Path::new(f).display()
                    ),
                );
            }
            out.file(&p, name, true);
            out.pass(&p, &["input-type"]);
        }
        "updatekeys" => {
            if let Some(f) = cannot(&p, name, &["shamir-secret-sharing-threshold"]) {
                return f;
            }
            if p.args.is_empty() {
                return Plan::fail(100, "Error: no file specified");
            }
            for a in &p.args {
                out.push(a.clone());
            }
            out.pass(&p, &["yes", "input-type"]);
        }
        "publish" => {
            let [file] = p.args.as_slice() else {
                return Plan::fail(100, "Error: no file specified");
            };
            out.push(file.clone());
            out.pass(&p, &["yes", "omit-extensions", "recursive"]);
        }
        _ => unreachable!("is_subcommand covers the names"),
    }
    if let Some(g) = globals {
        out.config(g);
        if matches!(name, "encrypt" | "decrypt" | "rotate" | "edit") {
            out.pass(g, &["indent"]);
        }
        if name == "encrypt" {
            out.pass(g, &["mac-only-encrypted"]);
        }
    }
    out.keyservices(&p);
    Plan::Seal(out.argv)
}

/// `sops keyservice`: `seal keyservice` with sops's --network/--net, --address/--addr and
/// --prompt (--verbose is accepted; seal logs each request anyway).
fn keyservice_plan(rest: &[OsString]) -> Plan {
    let p = match flags::parse(
        rest,
        true,
        Some(&["network", "address", "prompt", "verbose"]),
    ) {
        Ok(p) => p,
        Err(e) => return usage(&e.0),
    };
    let mut out = Out::new("keyservice");
    for name in ["network", "address"] {
        if let Some(v) = p.value(name) {
            out.push(format!("--{name}").into());
            out.push(v.into());
        }
    }
    if p.on("prompt") {
        out.push("--prompt".into());
    }
    Plan::Seal(out.argv)
}

/// `sops NAME --help` (and `sops help NAME`): the command's arguments and the flags it
/// accepts here, from the same table the parser uses.
pub fn help_for(name: &str) -> String {
    let args = match name {
        "set" => "FILE INDEX VALUE",
        "unset" => "FILE INDEX",
        "exec-env" | "exec-file" => "FILE COMMAND",
        "updatekeys" => "FILE...",
        "groups" => "add|remove [options]",
        "completion" => "bash|zsh|fish",
        _ => "FILE",
    };
    let mut out = format!(
        "sops {name} (seal {} running as sops)\n\nusage: sops [global options] {name} [options] {args}\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut names = allowed(name);
    names.sort_unstable();
    names.dedup();
    if !names.is_empty() {
        out.push_str("\noptions (they may follow the file name):\n");
        for n in names {
            let Some(flag) = flags::lookup(n) else {
                continue;
            };
            let mut spelled: Vec<String> = flag
                .names
                .iter()
                .map(|x| {
                    if x.len() == 1 {
                        format!("-{x}")
                    } else {
                        format!("--{x}")
                    }
                })
                .collect();
            spelled.sort_by_key(|x| std::cmp::Reverse(x.len()));
            let value = if flag.takes_value { " VALUE" } else { "" };
            let env = flag.env.map(|e| format!("  [${e}]")).unwrap_or_default();
            out.push_str(&format!("   {}{value}{env}\n", spelled.join(", ")));
        }
    }
    out.push_str(
        "\nglobal options (before the command): --config FILE [$SOPS_CONFIG], --indent N,\n\
         --mac-only-encrypted, --verbose. What differs from sops: docs/sops-compat.md.\n",
    );
    out
}

/// A usage error: sops prints it and exits 1.
pub fn usage(message: &str) -> Plan {
    Plan::fail(GENERIC, format!("Incorrect Usage: {message}"))
}

/// The flags of `seal encrypt` from sops's encrypt options.
pub fn encrypt_flags(out: &mut Out, p: &Parsed) {
    out.io(p);
    out.output(p);
    out.pass(p, SELECTORS);
    out.pass(
        p,
        &[
            "age",
            "pgp",
            "kms",
            "aws-profile",
            "encryption-context",
            "hc-vault-transit",
            "gcp-kms",
            "azure-kv",
            "hckms",
            "mac-only-encrypted",
            "shamir-secret-sharing-threshold",
        ],
    );
    // sops's default selector (everything but _unencrypted keys), not seal's Kubernetes one.
    out.push("--sops-defaults".into());
}

/// `--decryption-order`, else `$SOPS_DECRYPTION_ORDER` (urfave/cli reads the variable for
/// the flag), for a command that takes it: passed on to seal as the flag, which seal splits
/// as sops does. A type named twice fails as in sops (112, sops's words), before anything
/// is read.
pub fn decryption_order(p: &Parsed) -> Result<Option<String>, Plan> {
    let Some(value) = p.value_or_env("decryption-order") else {
        return Ok(None);
    };
    let order = crate::commands::common::split_decryption_order(&value);
    for (i, t) in order.iter().enumerate() {
        if order[..i].contains(t) {
            return Err(Plan::fail(
                DUPLICATE_DECRYPTION_KEY_TYPE,
                format!("Duplicate decryption key type: {t}"),
            ));
        }
    }
    Ok(Some(value))
}

/// Whether the first positional argument names a file that does not exist (sops checks
/// that before the decryption order in decrypt, and at the top level when encrypting,
/// decrypting or rotating).
pub fn first_file_missing(p: &Parsed) -> bool {
    p.args
        .first()
        .is_some_and(|f| !std::path::Path::new(f).exists())
}

/// Checks every form shares: (when a file may be created) key types
/// seal cannot encrypt for; --add-*/--rm-* of those types. `pgp_ok`: the command wraps
/// for the [`WRAPPED_KEYS`] flags and their variables (`--pgp`/`SOPS_PGP_FP`, `--kms`/
/// `SOPS_KMS_ARN`, `--hc-vault-transit`/`SOPS_VAULT_URIS`, `--gcp-kms`/`SOPS_GCP_KMS_IDS`,
/// `--azure-kv`/`SOPS_AZURE_KEYVAULT_URLS`, `--hckms`/`SOPS_HUAWEICLOUD_KMS_IDS`: encrypt
/// and edit of a new file).
pub fn shared_checks(p: &Parsed, creates: bool, pgp_ok: bool) -> Option<Plan> {
    for (flag, what) in OTHER_KEYS {
        let from = |name: &str| {
            let env = flags::lookup(name).and_then(|f| f.env);
            if p.value(name).is_some_and(|v| !v.is_empty()) {
                Some(format!("--{name}"))
            } else if creates && p.value(name).is_none() {
                env.filter(|e| std::env::var(e).is_ok_and(|v| !v.is_empty()))
                    .map(str::to_string)
            } else {
                None
            }
        };
        for name in [
            flag.to_string(),
            format!("add-{flag}"),
            format!("rm-{flag}"),
        ] {
            // rotate wraps for --add-X/--rm-X; encrypt for --X and its variable.
            if WRAPPED_KEYS.contains(flag) && (pgp_ok || name != *flag) {
                continue;
            }
            if let Some(src) = from(&name) {
                if WRAPPED_KEYS.contains(flag) {
                    // A variable only matters to a new file, which seal's edit refuses anyway.
                    if !src.starts_with("--") {
                        continue;
                    }
                    return Some(Plan::fail(
                        GENERIC,
                        format!(
                            "seal's edit does not create new files, so it takes no {what} keys ({src}): create the file with `sops encrypt --{flag} …` (or seal encrypt), then edit it"
                        ),
                    ));
                }
                return Some(Plan::fail(
                    GENERIC,
                    format!(
                        "seal does not support {what} master keys yet ({src}); it encrypts for age, PGP, AWS KMS, GCP KMS, Azure Key Vault, HuaweiCloud KMS and Vault transit keys only, and never drops a master key: use the real sops for {what} keys"
                    ),
                ));
            }
        }
    }
    None
}

/// Flags sops accepts for `name` that seal cannot honour: fail naming them.
fn cannot(p: &Parsed, name: &str, flags: &[&str]) -> Option<Plan> {
    let given: Vec<String> = flags
        .iter()
        .filter(|f| p.flags.contains_key(*f))
        .map(|f| format!("--{f}"))
        .collect();
    (!given.is_empty()).then(|| {
        Plan::fail(
            GENERIC,
            format!(
                "seal as sops does not support {} with `sops {name}` yet (see docs/sops-compat.md)",
                given.join(", ")
            ),
        )
    })
}

/// The flags `sops edit` and `sops FILE` pass on to `seal edit`: the keys and creation
/// options for a new file (seal uses them only then, as sops), and `--exit-code` (sops
/// exits 200 when the editor left the file unchanged, new or existing).
pub fn edit_flags(out: &mut Out, p: &Parsed) {
    out.pass(p, SELECTORS);
    out.pass(
        p,
        &["mac-only-encrypted", "shamir-secret-sharing-threshold"],
    );
    out.pass(
        p,
        &[
            "input-type",
            "age",
            "pgp",
            "kms",
            "aws-profile",
            "encryption-context",
            "hc-vault-transit",
            "gcp-kms",
            "azure-kv",
            "hckms",
            "ignore-mac",
            "indent",
        ],
    );
    out.push("--exit-code".into());
}

/// A `seal` command line being built.
pub struct Out {
    /// The arguments so far (argv[0] first).
    pub argv: Vec<OsString>,
    /// Where options go when a `--` separates a trailing command.
    dashes: Option<usize>,
}

impl Out {
    /// `seal NAME`.
    pub fn new(name: &str) -> Out {
        Out {
            argv: vec!["seal".into(), name.into()],
            dashes: None,
        }
    }

    /// Append one argument.
    pub fn push(&mut self, a: OsString) {
        if a == "--" && self.dashes.is_none() {
            self.dashes = Some(self.argv.len());
        }
        self.argv.push(a);
    }

    fn insert(&mut self, a: OsString) {
        match self.dashes {
            Some(i) => {
                self.argv.insert(i, a);
                self.dashes = Some(i + 1);
            }
            None => self.argv.push(a),
        }
    }

    /// The first positional argument as the file; sops warns about and ignores the rest.
    /// With `required`, a missing file is sops's "no file specified" (100) — reported by
    /// seal's parser as a missing argument.
    pub fn file(&mut self, p: &Parsed, _name: &str, _required: bool) {
        if let Some(f) = p.args.first() {
            self.push(f.clone());
        }
        if p.args.len() > 1 {
            warn("More than one positional argument provided. Only the first one will be used!");
        }
    }

    /// Pass sops flags that seal spells the same way.
    pub fn pass(&mut self, p: &Parsed, names: &[&str]) {
        for name in names {
            let Some(flag) = flags::lookup(name) else {
                continue;
            };
            if flag.takes_value {
                if let Some(v) = p.value(name) {
                    self.insert(format!("--{name}").into());
                    self.insert(v.into());
                }
            } else if p.on(name) {
                self.insert(format!("--{name}").into());
            }
        }
    }

    fn pass_before_dashes(&mut self, p: &Parsed, names: &[&str]) {
        self.pass(p, names);
    }

    /// --input-type, --output-type, --filename-override.
    pub fn io(&mut self, p: &Parsed) {
        self.pass(p, IO);
    }

    /// -i, --output, --indent.
    pub fn output(&mut self, p: &Parsed) {
        self.pass(p, OUT);
    }

    /// --config (SOPS_CONFIG is read by seal itself).
    pub fn config(&mut self, p: &Parsed) {
        self.pass(p, &["config"]);
    }

    /// The key services: each `--keyservice` given (seal reads `SOPS_KEYSERVICE` itself), and
    /// `--enable-local-keyservice=false` when the flag or `SOPS_ENABLE_LOCAL_KEYSERVICE`
    /// says false (Go's false spellings).
    pub fn keyservices(&mut self, p: &Parsed) {
        for uri in p.flags.get("keyservice").into_iter().flatten() {
            self.insert("--keyservice".into());
            self.insert(uri.into());
        }
        let local = p
            .value("enable-local-keyservice")
            .map(str::to_string)
            .or_else(|| std::env::var("SOPS_ENABLE_LOCAL_KEYSERVICE").ok());
        if local
            .is_some_and(|v| matches!(v.as_str(), "0" | "f" | "F" | "false" | "FALSE" | "False"))
        {
            self.insert("--enable-local-keyservice=false".into());
        }
    }

    /// `--decryption-order VALUE` (from [`decryption_order`]).
    pub fn decryption_order(&mut self, value: Option<String>) {
        if let Some(v) = value {
            self.insert("--decryption-order".into());
            self.insert(v.into());
        }
    }

    /// sops's `updatekeys` and `groups` pass no decryption order (whatever
    /// `SOPS_DECRYPTION_ORDER` says): a group's keys are tried in the order sops reads
    /// them from the file, by type ([`crate::keys::SOPS_GROUP_ORDER`]).
    pub fn file_order(&mut self) {
        self.insert("--decryption-order".into());
        self.insert(crate::keys::SOPS_GROUP_ORDER.join(",").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn seal(p: Plan) -> Vec<String> {
        match p {
            Plan::Seal(v) => v
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            other => panic!("expected a seal command line, got {other:?}"),
        }
    }

    #[test]
    fn decrypt_takes_flags_after_the_file() {
        let argv = seal(plan(
            "decrypt",
            &os(&["f.yaml", "--output-type", "json", "--extract", "[\"a\"]"]),
            None,
        ));
        assert_eq!(
            argv,
            [
                "seal",
                "decrypt",
                "f.yaml",
                "--output-type",
                "json",
                "--extract",
                "[\"a\"]"
            ]
        );
    }

    #[test]
    fn every_key_type_goes_on_to_seal() {
        // HuaweiCloud KMS: encrypt, edit (a new file) and rotate pass its flags on.
        assert_eq!(
            seal(plan(
                "encrypt",
                &os(&["--hckms", "r:k", "--gcp-kms", "p/k", "f.yaml"]),
                None
            ))[3..7],
            ["--gcp-kms", "p/k", "--hckms", "r:k"]
        );
        assert_eq!(
            seal(plan("edit", &os(&["--hckms", "r:k", "f.yaml"]), None)),
            ["seal", "edit", "f.yaml", "--hckms", "r:k", "--exit-code"]
        );
        assert_eq!(
            seal(plan(
                "rotate",
                &os(&["--add-hckms", "r:k", "--rm-hckms", "r:j", "f.yaml"]),
                None
            )),
            [
                "seal",
                "rotate",
                "f.yaml",
                "--add-hckms",
                "r:k",
                "--rm-hckms",
                "r:j"
            ]
        );
        // encrypt and edit (a new file) wrap for PGP.
        assert!(!matches!(
            plan("encrypt", &os(&["--pgp", "ABC", "f.yaml"]), None),
            Plan::Fail { .. }
        ));
        assert_eq!(
            seal(plan("edit", &os(&["--pgp", "ABC", "f.yaml"]), None)),
            ["seal", "edit", "f.yaml", "--pgp", "ABC", "--exit-code"]
        );
        // GCP KMS and Azure Key Vault: encrypt, edit (a new file) and rotate pass them on.
        assert_eq!(
            seal(plan(
                "encrypt",
                &os(&[
                    "--gcp-kms",
                    "p/k",
                    "--azure-kv",
                    "https://v/keys/k/1",
                    "f.yaml"
                ]),
                None
            ))[3..7],
            ["--gcp-kms", "p/k", "--azure-kv", "https://v/keys/k/1"]
        );
        assert_eq!(
            seal(plan(
                "edit",
                &os(&["--azure-kv", "https://v/keys/k/1", "f.yaml"]),
                None
            )),
            [
                "seal",
                "edit",
                "f.yaml",
                "--azure-kv",
                "https://v/keys/k/1",
                "--exit-code"
            ]
        );
        assert_eq!(
            seal(plan(
                "rotate",
                &os(&[
                    "--add-gcp-kms",
                    "p/k",
                    "--rm-azure-kv",
                    "https://v/keys/k/1",
                    "f.yaml"
                ]),
                None
            )),
            [
                "seal",
                "rotate",
                "f.yaml",
                "--add-gcp-kms",
                "p/k",
                "--rm-azure-kv",
                "https://v/keys/k/1"
            ]
        );
        assert_eq!(
            seal(plan("rotate", &os(&["--add-pgp", "ABC", "f.yaml"]), None)),
            ["seal", "rotate", "f.yaml", "--add-pgp", "ABC"]
        );
        // AWS KMS and Vault transit: encrypt and rotate pass their flags on.
        assert_eq!(
            seal(plan(
                "encrypt",
                &os(&[
                    "--kms",
                    "arn:a",
                    "--encryption-context",
                    "a:b",
                    "--aws-profile",
                    "p",
                    "--hc-vault-transit",
                    "http://v/v1/t/keys/k",
                    "f.yaml"
                ]),
                None
            ))[3..11],
            [
                "--kms",
                "arn:a",
                "--aws-profile",
                "p",
                "--encryption-context",
                "a:b",
                "--hc-vault-transit",
                "http://v/v1/t/keys/k"
            ]
        );
        assert_eq!(
            seal(plan(
                "rotate",
                &os(&["--rm-kms", "arn:a", "--add-hc-vault-transit", "u", "f.yaml"]),
                None
            )),
            [
                "seal",
                "rotate",
                "f.yaml",
                "--rm-kms",
                "arn:a",
                "--add-hc-vault-transit",
                "u"
            ]
        );
        // edit (a new file) takes them too.
        assert_eq!(
            seal(plan(
                "edit",
                &os(&["--kms", "arn:a", "--hc-vault-transit", "u", "f.yaml"]),
                None
            )),
            [
                "seal",
                "edit",
                "f.yaml",
                "--kms",
                "arn:a",
                "--hc-vault-transit",
                "u",
                "--exit-code"
            ]
        );
    }

    #[test]
    fn exec_commands_keep_the_command_after_dashes() {
        let argv = seal(plan(
            "exec-env",
            &os(&["f.yaml", "echo $A", "--pristine"]),
            None,
        ));
        assert_eq!(
            argv,
            ["seal", "exec-env", "f.yaml", "--pristine", "--", "echo $A"]
        );
    }

    #[test]
    fn exec_user_background_and_same_process_go_on_to_seal() {
        assert_eq!(
            seal(plan(
                "exec-env",
                &os(&["f.yaml", "env", "--user", "nobody", "--same-process"]),
                None
            )),
            [
                "seal",
                "exec-env",
                "f.yaml",
                "--user",
                "nobody",
                "--same-process",
                "--",
                "env"
            ]
        );
        assert_eq!(
            seal(plan(
                "exec-env",
                &os(&["--background", "f.yaml", "env"]),
                None
            )),
            ["seal", "exec-env", "f.yaml", "--background", "--", "env"]
        );
        assert_eq!(
            seal(plan(
                "exec-file",
                &os(&["--user", "nobody", "f.yaml", "cat {}"]),
                None
            )),
            [
                "seal",
                "exec-file",
                "f.yaml",
                "--user",
                "nobody",
                "--",
                "cat {}"
            ]
        );
        let both = plan(
            "exec-env",
            &os(&["--background", "--same-process", "f.yaml", "env"]),
            None,
        );
        assert!(
            matches!(both, Plan::Fail { code: crate::error::exit::CONFLICTING_PARAMETERS, ref message } if message.contains("--same-process flag cannot")),
            "{both:?}"
        );
        let bg = plan(
            "exec-file",
            &os(&["--background", "f.yaml", "cat {}"]),
            None,
        );
        assert!(
            matches!(bg, Plan::Fail { code: GENERIC, ref message } if message.contains("--background")),
            "{bg:?}"
        );
    }

    #[test]
    fn key_services_go_on_to_seal() {
        assert_eq!(
            seal(plan(
                "decrypt",
                &os(&[
                    "--keyservice",
                    "unix:///s.sock",
                    "f.yaml",
                    "--keyservice=tcp://127.0.0.1:5000",
                    "--enable-local-keyservice=false"
                ]),
                None
            )),
            [
                "seal",
                "decrypt",
                "f.yaml",
                "--keyservice",
                "unix:///s.sock",
                "--keyservice",
                "tcp://127.0.0.1:5000",
                "--enable-local-keyservice=false"
            ]
        );
        // Given true (or not at all), the local keys stay: nothing to pass.
        assert_eq!(
            seal(plan(
                "exec-env",
                &os(&["--enable-local-keyservice", "f.yaml", "env"]),
                None
            )),
            ["seal", "exec-env", "f.yaml", "--", "env"]
        );
        assert_eq!(
            seal(plan(
                "keyservice",
                &os(&["--net", "unix", "--addr", "/s.sock", "--prompt"]),
                None
            )),
            [
                "seal",
                "keyservice",
                "--network",
                "unix",
                "--address",
                "/s.sock",
                "--prompt"
            ]
        );
        assert_eq!(
            seal(plan("keyservice", &os(&[]), None)),
            ["seal", "keyservice"]
        );
    }

    #[test]
    fn decryption_order_goes_on_to_seal_and_duplicates_are_112() {
        assert_eq!(
            seal(plan(
                "exec-env",
                &os(&["f.yaml", "env", "--decryption-order", "pgp,age"]),
                None
            )),
            [
                "seal",
                "exec-env",
                "--decryption-order",
                "pgp,age",
                "f.yaml",
                "--",
                "env"
            ]
        );
        assert_eq!(
            seal(plan(
                "publish",
                &os(&["--decryption-order=", "f.yaml"]),
                None
            )),
            ["seal", "publish", "--decryption-order", "", "f.yaml"]
        );
        assert_eq!(
            plan("set", &os(&["--decryption-order", "age,pgp,age"]), None),
            Plan::fail(
                DUPLICATE_DECRYPTION_KEY_TYPE,
                "Duplicate decryption key type: age"
            )
        );
        // updatekeys: no order in sops, so the file's (by type, as sops reads a group).
        assert_eq!(
            seal(plan("updatekeys", &os(&["-y", "f.yaml"]), None))[2..4],
            [
                "--decryption-order",
                "kms,gcp_kms,hckms,azure_kv,hc_vault,pgp,age"
            ]
        );
    }

    #[test]
    fn unknown_subcommand_flag_is_a_usage_error() {
        assert_eq!(
            plan("decrypt", &os(&["--bogus", "f"]), None),
            usage("flag provided but not defined: -bogus")
        );
    }
}
