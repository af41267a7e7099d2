//! `sops groups add|delete`: sops's flags (`--file/-f`, one flag per key, `-i`,
//! `--shamir-secret-sharing-threshold`), its argument checks and their words, turned into
//! `seal groups add|remove`. age, PGP, AWS KMS, GCP KMS, Azure Key Vault, HuaweiCloud KMS
//! and Vault transit keys are passed on.

use std::ffi::OsString;

use super::Plan;
use super::commands::{GENERIC, Out, shared_checks, usage};
use super::flags::{self, Parsed};

/// The flags of `sops groups add` (sops 3.13).
const ADD: &[&str] = &[
    "help",
    "file",
    "pgp",
    "kms",
    "aws-profile",
    "gcp-kms",
    "hckms",
    "azure-kv",
    "hc-vault-transit",
    "age",
    "in-place",
    "shamir-secret-sharing-threshold",
    "encryption-context",
    "enable-local-keyservice",
    "keyservice",
];

/// The flags of `sops groups delete` (sops 3.13).
const DELETE: &[&str] = &[
    "help",
    "file",
    "in-place",
    "shamir-secret-sharing-threshold",
    "enable-local-keyservice",
    "keyservice",
];

/// The flags `sops groups SUB` accepts (for help and completion).
pub fn allowed(sub: &str) -> &'static [&'static str] {
    match sub {
        "add" => ADD,
        "delete" => DELETE,
        _ => &["help"],
    }
}

/// Plan `sops [GLOBALS] groups ARGS…`.
pub fn plan(rest: &[OsString], globals: Option<&Parsed>) -> Plan {
    let sub = rest.first().and_then(|a| a.to_str());
    let (name, allow) = match sub {
        None | Some("--help" | "-h" | "help" | "h") => {
            return Plan::Print { stdout: help(None) };
        }
        Some("add") => ("add", ADD),
        Some("delete") => ("delete", DELETE),
        // urfave/cli's words and exit code for an unknown subcommand of `groups` (sops has
        // `delete`, not `remove`).
        Some(other) => return Plan::fail(3, format!("No help topic for '{other}'")),
    };
    let p = match flags::parse(&rest[1..], true, Some(allow)) {
        Ok(p) => p,
        Err(e) => return usage(&e.0),
    };
    if p.on("help") {
        return Plan::Print {
            stdout: help(Some(name)),
        };
    }
    if let Some(fail) = shared_checks(&p, false, true) {
        return fail;
    }
    let threshold = match p.value("shamir-secret-sharing-threshold") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n.to_string()),
            Ok(_) => {
                return Plan::fail(
                    GENERIC,
                    format!(
                        "--shamir-secret-sharing-threshold {v}: the threshold cannot be negative"
                    ),
                );
            }
            Err(_) => {
                return usage(&format!(
                    "invalid value {v:?} for flag -shamir-secret-sharing-threshold: parse error"
                ));
            }
        },
    };
    let mut out = Out::new("groups");
    out.push(if name == "add" { "add" } else { "remove" }.into());
    match name {
        "add" => {
            if !p.args.is_empty() {
                return Plan::fail(GENERIC, "error: no positional arguments allowed");
            }
            let Some(file) = file(&p) else {
                return no_file(name);
            };
            out.push(file);
            for flag in [
                "age",
                "pgp",
                "kms",
                "hc-vault-transit",
                "gcp-kms",
                "azure-kv",
                "hckms",
            ] {
                for v in p.flags.get(flag).into_iter().flatten() {
                    out.push(format!("--{flag}").into());
                    out.push(v.into());
                }
            }
            if !p.flags.get("kms").is_none_or(Vec::is_empty) {
                out.pass(&p, &["aws-profile", "encryption-context"]);
            }
        }
        _ => {
            if p.args.len() != 1 {
                return Plan::fail(
                    GENERIC,
                    "error: exactly one positional argument (index) required",
                );
            }
            let raw = p.args[0].to_string_lossy().into_owned();
            let index = match parse_index(&raw) {
                Ok(i) => i,
                Err(why) => {
                    return Plan::fail(
                        GENERIC,
                        format!(
                            "failed to parse [index] argument: strconv.ParseUint: parsing {raw:?}: {why}"
                        ),
                    );
                }
            };
            let Some(file) = file(&p) else {
                return no_file(name);
            };
            out.push(file);
            out.push(index.to_string().into());
        }
    }
    if p.on("in-place") {
        out.push("--in-place".into());
    }
    if let Some(t) = threshold {
        out.push("--shamir-secret-sharing-threshold".into());
        out.push(t.into());
    }
    out.file_order();
    if let Some(g) = globals {
        out.config(g);
        out.pass(g, &["indent"]);
    }
    out.keyservices(&p);
    Plan::Seal(out.argv)
}

/// `--file`, when given and not empty.
fn file(p: &Parsed) -> Option<OsString> {
    p.value("file")
        .filter(|f| !f.is_empty())
        .map(OsString::from)
}

/// sops reads the empty path and fails reading it (exit 2).
fn no_file(name: &str) -> Plan {
    Plan::fail(
        2,
        format!("sops groups {name}: no file given: name the encrypted file with --file FILE"),
    )
}

/// sops's index: a decimal unsigned 32-bit number (Go's `strconv.ParseUint(s, 10, 32)`).
fn parse_index(raw: &str) -> Result<u32, &'static str> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    raw.parse::<u32>().map_err(|_| "value out of range")
}

/// `sops groups --help` and `sops groups add|delete --help`.
pub fn help(sub: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match sub {
        None => format!(
            "sops groups (seal {version} running as sops)\n\n\
             usage: sops groups add --file FILE [--age R]... [--pgp FP]... [--kms ARN]...\n\
             \x20                        [--gcp-kms ID]... [--azure-kv URL]... [--hckms ID]...\n\
             \x20                        [--hc-vault-transit URI]... [-i]\n\
             \x20      sops groups delete --file FILE [-i] INDEX\n\n\
             commands:\n   add     add a new group to a SOPS file\n   \
             delete  delete a key group from a SOPS file (INDEX counted from 0)\n"
        ),
        Some(name) => {
            let args = if name == "add" { "" } else { " INDEX" };
            let mut s = format!(
                "sops groups {name} (seal {version} running as sops)\n\n\
                 usage: sops groups {name} [options]{args}\n\noptions (they may follow INDEX):\n"
            );
            let mut names: Vec<&str> = allowed(name).to_vec();
            names.sort_unstable();
            for n in names {
                if let Some(f) = flags::lookup(n) {
                    let value = if f.takes_value { " VALUE" } else { "" };
                    s.push_str(&format!("   --{n}{value}\n"));
                }
            }
            s
        }
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

    fn fail(p: Plan) -> (u8, String) {
        match p {
            Plan::Fail { code, message } => (code, message),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn add_maps_every_key_flag_and_flags_after_the_subcommand() {
        assert_eq!(
            seal(plan(
                &os(&[
                    "add", "--age", "A", "-f", "f.yaml", "--pgp", "P", "--age", "B", "-i"
                ]),
                None
            )),
            [
                "seal",
                "groups",
                "add",
                "f.yaml",
                "--age",
                "A",
                "--age",
                "B",
                "--pgp",
                "P",
                "--in-place",
                "--decryption-order",
                "kms,gcp_kms,hckms,azure_kv,hc_vault,pgp,age"
            ]
        );
    }

    #[test]
    fn delete_takes_one_index_parsed_as_sops_does() {
        assert_eq!(
            seal(plan(&os(&["delete", "1", "--file", "f.json"]), None)),
            [
                "seal",
                "groups",
                "remove",
                "f.json",
                "1",
                "--decryption-order",
                "kms,gcp_kms,hckms,azure_kv,hc_vault,pgp,age"
            ]
        );
        for bad in ["x", "-1", "+1", ""] {
            let (code, msg) = fail(plan(&os(&["delete", "-f", "f", "--", bad]), None));
            assert_eq!(code, GENERIC);
            assert!(msg.contains("invalid syntax"), "{bad}: {msg}");
        }
        let (_, msg) = fail(plan(&os(&["delete", "-f", "f", "4294967296"]), None));
        assert!(msg.contains("value out of range"), "{msg}");
        let (code, msg) = fail(plan(&os(&["delete", "-f", "f"]), None));
        assert_eq!(
            (code, msg.as_str()),
            (
                GENERIC,
                "error: exactly one positional argument (index) required"
            )
        );
    }

    #[test]
    fn sops_words_for_argument_errors() {
        assert_eq!(
            fail(plan(&os(&["add", "-f", "f", "extra"]), None)),
            (
                GENERIC,
                "error: no positional arguments allowed".to_string()
            )
        );
        assert_eq!(fail(plan(&os(&["add", "--age", "A"]), None)).0, 2);
        assert_eq!(
            fail(plan(&os(&["remove", "-f", "f", "0"]), None)),
            (3, "No help topic for 'remove'".to_string())
        );
        // delete has no key flags.
        assert_eq!(
            fail(plan(&os(&["delete", "--age", "A", "0"]), None)).0,
            GENERIC
        );
    }

    #[test]
    fn every_key_type_goes_on_to_seal_groups_add() {
        let argv = seal(plan(
            &os(&["add", "-f", "f.yaml", "--hckms", "tr-west-1:k"]),
            None,
        ));
        assert_eq!(argv[3..6], ["f.yaml", "--hckms", "tr-west-1:k"]);
        // GCP KMS and Azure Key Vault keys go on to seal groups add, as sops takes them.
        let argv = seal(plan(
            &os(&[
                "add",
                "-f",
                "f.yaml",
                "--azure-kv",
                "https://v.vault.azure.net/keys/k/1",
                "--gcp-kms",
                "projects/p/locations/l/keyRings/r/cryptoKeys/k",
            ]),
            None,
        ));
        assert_eq!(
            argv[3..8],
            [
                "f.yaml",
                "--gcp-kms",
                "projects/p/locations/l/keyRings/r/cryptoKeys/k",
                "--azure-kv",
                "https://v.vault.azure.net/keys/k/1",
            ]
        );
        // AWS KMS and Vault transit keys go on to seal groups add.
        let argv = seal(plan(
            &os(&[
                "add",
                "-f",
                "f.yaml",
                "--kms",
                "arn:k",
                "--encryption-context",
                "a:b",
                "--hc-vault-transit",
                "http://v/v1/transit/keys/k",
            ]),
            None,
        ));
        assert_eq!(
            argv[3..12],
            [
                "f.yaml",
                "--kms",
                "arn:k",
                "--hc-vault-transit",
                "http://v/v1/transit/keys/k",
                "--encryption-context",
                "a:b",
                "--decryption-order",
                "kms,gcp_kms,hckms,azure_kv,hc_vault,pgp,age"
            ]
        );
    }
}
