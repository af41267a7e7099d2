//! sops's legacy top-level form: `sops -e FILE`, `sops -d FILE`, `sops -r FILE`,
//! `sops --set '["k"] VALUE' FILE`, and `sops FILE` (edit). Flags stop at the first
//! positional argument; later arguments are ignored with sops's two warnings.

use std::ffi::OsString;

use super::commands::{self, GENERIC, Out};
use super::flags;
use super::{Plan, warn};

/// sops's exit code when no file is named.
const NO_FILE: u8 = 100;
/// sops's exit code for a malformed `--set` argument.
const INVALID_SET_FORMAT: u8 = 7;

/// Plan a top-level sops command line.
pub fn plan(args: &[OsString]) -> Plan {
    let p = match flags::parse(args, false, None) {
        Ok(p) => p,
        Err(e) => return commands::usage(&e.0),
    };
    if p.on("help") {
        return Plan::Print {
            stdout: super::help(),
        };
    }
    if p.on("version") {
        return Plan::Print {
            stdout: super::version(),
        };
    }
    if p.args.len() > 1 {
        warn("More than one positional argument provided. Only the first one will be used!");
        if let Some(flag) = p.args[1..]
            .iter()
            .map(|a| a.to_string_lossy())
            .find(|a| a.starts_with('-') && a.len() > 1)
        {
            warn(&format!(
                "Note that one of the ignored positional argument is \"{flag}\", which looks like a flag. Flags must always be provided before the first positional argument!"
            ));
        }
    }
    let modes: Vec<&str> = ["encrypt", "decrypt", "rotate"]
        .into_iter()
        .filter(|m| p.on(m))
        .chain(p.value("set").map(|_| "set"))
        .collect();
    if modes.len() > 1 {
        warn(
            "More than one command (--encrypt, --decrypt, --rotate, --set) has been specified. Only the changes made by the last one will be visible. Note that this behavior is deprecated and will cause an error eventually.",
        );
    }
    let Some(file) = p.args.first().cloned() else {
        return Plan::fail(NO_FILE, "Error: no file specified");
    };
    // sops runs the modes in this order and shows the last one's result.
    let mode = modes.last().copied().unwrap_or("edit");
    if let Some(fail) = commands::shared_checks(
        &p,
        mode == "encrypt" || mode == "edit",
        mode == "encrypt" || mode == "edit",
    ) {
        return fail;
    }
    // sops reads the decryption order (and refuses a type named twice) in every mode.
    let order = match commands::decryption_order(&p) {
        Ok(order) => order,
        // sops looks for the file first in these modes: seal then reports it missing (100).
        Err(_) if mode != "edit" && mode != "set" && commands::first_file_missing(&p) => None,
        Err(fail) => return fail,
    };
    let mut out = Out::new(mode);
    if mode != "encrypt" {
        out.decryption_order(order);
    }
    match mode {
        "encrypt" => {
            out.push(file);
            commands::encrypt_flags(&mut out, &p);
        }
        "decrypt" => {
            out.push(file);
            out.io(&p);
            out.output(&p);
            out.pass(&p, &["extract", "ignore-mac"]);
        }
        "rotate" => {
            out.push(file);
            out.io(&p);
            out.output(&p);
            out.pass(&p, commands::ROTATE_KEYS);
        }
        "set" => {
            let set = p.value("set").unwrap_or_default();
            // sops splits '["a"]["b"] VALUE' at the first "] ".
            let Some(pos) = set.find("] ") else {
                return Plan::fail(
                    INVALID_SET_FORMAT,
                    "Error: invalid --set format: expected '[\"key\"] VALUE' (a path in brackets, a space, a JSON value)",
                );
            };
            out.push(file);
            out.push(set[..=pos].into());
            out.push(set[pos + 2..].into());
            out.pass(&p, &["input-type"]);
        }
        _ => {
            out.push(file);
            commands::edit_flags(&mut out, &p);
        }
    }
    out.config(&p);
    let _ = GENERIC;
    out.keyservices(&p);
    Plan::Seal(out.argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn argv(p: Plan) -> Vec<String> {
        match p {
            Plan::Seal(v) => v
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_after_the_file_are_ignored() {
        assert_eq!(
            argv(plan(&os(&["-d", "f.yaml", "--output-type", "json"]))),
            ["seal", "decrypt", "f.yaml"]
        );
    }

    #[test]
    fn decryption_order_is_read_in_every_mode() {
        assert_eq!(
            argv(plan(&os(&["-d", "--decryption-order", "pgp", "f.yaml"]))),
            ["seal", "decrypt", "--decryption-order", "pgp", "f.yaml"]
        );
        // encrypt opens no data key: checked, not passed on.
        assert_eq!(
            argv(plan(&os(&["-e", "--decryption-order", "pgp", "f.yaml"])))[..3],
            ["seal", "encrypt", "f.yaml"]
        );
        // A file that exists: the duplicate is sops's 112 …
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        assert!(matches!(
            plan(&os(&["-e", "--decryption-order", "age,age", here])),
            Plan::Fail { code: 112, .. }
        ));
        // … a missing one goes on, so that seal reports it (100) as sops does first.
        assert_eq!(
            argv(plan(&os(&[
                "-e",
                "--decryption-order",
                "age,age",
                "f.yaml"
            ])))[..3],
            ["seal", "encrypt", "f.yaml"]
        );
        assert!(matches!(
            plan(&os(&["--decryption-order", "age,age", "f.yaml"])),
            Plan::Fail { code: 112, .. }
        ));
    }

    #[test]
    fn bare_file_is_edit_and_no_file_is_100() {
        assert_eq!(
            argv(plan(&os(&["f.yaml"]))),
            ["seal", "edit", "f.yaml", "--exit-code"]
        );
        assert_eq!(
            plan(&os(&["-d"])),
            Plan::fail(NO_FILE, "Error: no file specified")
        );
    }

    #[test]
    fn set_splits_path_and_value() {
        assert_eq!(
            argv(plan(&os(&["--set", "[\"a\"][0] {\"b\": 1}", "f.yaml"]))),
            ["seal", "set", "f.yaml", "[\"a\"][0]", "{\"b\": 1}"]
        );
        assert!(matches!(
            plan(&os(&["--set", "nope", "f.yaml"])),
            Plan::Fail {
                code: INVALID_SET_FORMAT,
                ..
            }
        ));
    }

    #[test]
    fn encrypt_uses_sops_defaults() {
        assert_eq!(
            argv(plan(&os(&["-e", "-i", "--age", "age1x", "f.yaml"]))),
            [
                "seal",
                "encrypt",
                "f.yaml",
                "--in-place",
                "--age",
                "age1x",
                "--sops-defaults"
            ]
        );
    }
}
