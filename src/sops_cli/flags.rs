//! sops's flags as data (name, aliases, whether a value follows, the environment variable
//! urfave/cli reads for it) and the two ways sops reads a command line: the top level stops
//! at the first positional argument (Go's `flag` package), a subcommand reorders its flags
//! in front of its arguments (urfave/cli v1), so there flags may follow the file name.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// One sops flag.
#[derive(Debug)]
pub struct Flag {
    /// The canonical name (without dashes) and its aliases.
    pub names: &'static [&'static str],
    /// Whether a value follows (`--flag VALUE` or `--flag=VALUE`).
    pub takes_value: bool,
    /// The environment variable urfave/cli reads when the flag is absent.
    pub env: Option<&'static str>,
}

const fn b(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        takes_value: false,
        env: None,
    }
}
const fn v(names: &'static [&'static str]) -> Flag {
    Flag {
        names,
        takes_value: true,
        env: None,
    }
}
const fn ve(names: &'static [&'static str], env: &'static str) -> Flag {
    Flag {
        names,
        takes_value: true,
        env: Some(env),
    }
}
const fn be(names: &'static [&'static str], env: &'static str) -> Flag {
    Flag {
        names,
        takes_value: false,
        env: Some(env),
    }
}

/// Every flag of sops 3.13's command line (top level and subcommands).
pub static FLAGS: &[Flag] = &[
    b(&["decrypt", "d"]),
    b(&["encrypt", "e"]),
    b(&["rotate", "r"]),
    be(&["disable-version-check"], "SOPS_DISABLE_VERSION_CHECK"),
    b(&["check-for-updates"]),
    ve(&["kms", "k"], "SOPS_KMS_ARN"),
    v(&["aws-profile"]),
    ve(&["gcp-kms"], "SOPS_GCP_KMS_IDS"),
    ve(&["hckms"], "SOPS_HUAWEICLOUD_KMS_IDS"),
    ve(&["azure-kv"], "SOPS_AZURE_KEYVAULT_URLS"),
    ve(&["hc-vault-transit"], "SOPS_VAULT_URIS"),
    ve(&["pgp", "p"], "SOPS_PGP_FP"),
    ve(&["age", "a"], "SOPS_AGE_RECIPIENTS"),
    b(&["in-place", "i"]),
    v(&["extract"]),
    v(&["input-type"]),
    v(&["output-type"]),
    b(&["show-master-keys", "s"]),
    v(&["add-gcp-kms"]),
    v(&["rm-gcp-kms"]),
    v(&["add-hckms"]),
    v(&["rm-hckms"]),
    v(&["add-azure-kv"]),
    v(&["rm-azure-kv"]),
    v(&["add-kms"]),
    v(&["rm-kms"]),
    v(&["add-hc-vault-transit"]),
    v(&["rm-hc-vault-transit"]),
    v(&["add-age"]),
    v(&["rm-age"]),
    v(&["add-pgp"]),
    v(&["rm-pgp"]),
    b(&["ignore-mac"]),
    b(&["mac-only-encrypted"]),
    v(&["unencrypted-suffix"]),
    v(&["encrypted-suffix"]),
    v(&["unencrypted-regex"]),
    v(&["encrypted-regex"]),
    v(&["unencrypted-comment-regex"]),
    v(&["encrypted-comment-regex"]),
    ve(&["config"], "SOPS_CONFIG"),
    v(&["encryption-context"]),
    v(&["set"]),
    v(&["shamir-secret-sharing-threshold"]),
    v(&["indent"]),
    b(&["verbose"]),
    v(&["output"]),
    v(&["filename-override"]),
    ve(&["decryption-order"], "SOPS_DECRYPTION_ORDER"),
    be(&["enable-local-keyservice"], "SOPS_ENABLE_LOCAL_KEYSERVICE"),
    ve(&["keyservice"], "SOPS_KEYSERVICE"),
    b(&["help", "h"]),
    b(&["version", "v"]),
    // Subcommand-only flags.
    b(&["value-file"]),
    b(&["value-stdin"]),
    b(&["idempotent"]),
    b(&["background"]),
    b(&["pristine"]),
    v(&["user"]),
    b(&["same-process"]),
    b(&["no-fifo"]),
    v(&["filename"]),
    v(&["file", "f"]),
    b(&["yes", "y"]),
    b(&["omit-extensions"]),
    b(&["recursive"]),
    ve(&["network", "net"], "SOPS_KEYSERVICE_NETWORK"),
    ve(&["address", "addr"], "SOPS_KEYSERVICE_ADDRESS"),
    b(&["prompt"]),
];

/// The flag named `name` (canonical name or alias).
pub fn lookup(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.names.contains(&name))
}

/// A command line read the way sops reads it.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Flag values by canonical name, in command-line order (a boolean flag holds "true"
    /// or the value after `=`).
    pub flags: BTreeMap<&'static str, Vec<String>>,
    /// The positional arguments.
    pub args: Vec<OsString>,
}

impl Parsed {
    /// Whether a boolean flag is set (on the command line or, where sops reads one, in
    /// its environment variable).
    pub fn on(&self, name: &str) -> bool {
        match self.flags.get(name).and_then(|v| v.last()) {
            Some(v) => v != "false" && v != "0",
            None => false,
        }
    }

    /// The last value of a flag given on the command line.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// A flag's value, else its environment variable's (non-empty) value.
    pub fn value_or_env(&self, name: &str) -> Option<String> {
        if let Some(v) = self.value(name) {
            return Some(v.to_string());
        }
        let env = lookup(name)?.env?;
        std::env::var(env).ok().filter(|v| !v.is_empty())
    }
}

/// A command-line error as sops words it (`flag provided but not defined: -x`).
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

/// Read `args`. With `reorder` (a subcommand), flags may appear anywhere before `--`;
/// without it (the top level), the first positional argument ends the flags.
/// `allowed` limits the flags to a command's own (None: every flag).
pub fn parse(
    args: &[OsString],
    reorder: bool,
    allowed: Option<&[&str]>,
) -> Result<Parsed, UsageError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let raw = &args[i];
        i += 1;
        let s = raw.to_string_lossy();
        if s == "--" {
            out.args.extend(args[i..].iter().cloned());
            break;
        }
        if !s.starts_with('-') || s == "-" {
            out.args.push(raw.clone());
            if !reorder {
                out.args.extend(args[i..].iter().cloned());
                break;
            }
            continue;
        }
        let body = s.strip_prefix("--").unwrap_or(&s[1..]);
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let flag = lookup(name)
            .filter(|f| allowed.is_none_or(|a| f.names.iter().any(|n| a.contains(n))))
            .ok_or_else(|| UsageError(format!("flag provided but not defined: -{name}")))?;
        let value = if flag.takes_value {
            match inline {
                Some(v) => v,
                None => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        v.to_string_lossy().into_owned()
                    }
                    None => {
                        return Err(UsageError(format!("flag needs an argument: -{name}")));
                    }
                },
            }
        } else {
            inline.unwrap_or_else(|| "true".to_string())
        };
        out.flags.entry(flag.names[0]).or_default().push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn top_level_stops_at_the_first_positional() {
        let p = parse(&os(&["-d", "f.yaml", "--output-type", "json"]), false, None).unwrap();
        assert!(p.on("decrypt"));
        assert_eq!(p.value("output-type"), None);
        assert_eq!(p.args, os(&["f.yaml", "--output-type", "json"]));
    }

    #[test]
    fn subcommands_take_flags_after_the_file() {
        let p = parse(&os(&["f.yaml", "--output-type=json", "-i"]), true, None).unwrap();
        assert_eq!(p.value("output-type"), Some("json"));
        assert!(p.on("in-place"));
        assert_eq!(p.args, os(&["f.yaml"]));
    }

    #[test]
    fn unknown_and_valueless_flags_are_usage_errors() {
        assert_eq!(
            parse(&os(&["--bogus"]), false, None).unwrap_err().0,
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            parse(&os(&["--extract"]), true, None).unwrap_err().0,
            "flag needs an argument: -extract"
        );
        assert!(parse(&os(&["--pristine"]), true, Some(&["in-place"])).is_err());
    }

    #[test]
    fn double_dash_ends_the_flags() {
        let p = parse(&os(&["--", "-d"]), true, None).unwrap();
        assert_eq!(p.args, os(&["-d"]));
        assert!(p.flags.is_empty());
    }
}
