//! The commands findings suggest. A hint names a command that works as written when run
//! from the directory `seal check` ran in: when no creation rule with keys covers the
//! file, `seal encrypt -i FILE` would fail ("no recipients"), so the hint gives the
//! `--age RECIPIENT` form and the creation rule to add, with the file's real path.

use super::scan::RuleMatch;
use crate::rules::KUBERNETES_REGEX;

/// The placeholder the user replaces with their age public key.
pub const RECIPIENT: &str = "RECIPIENT";

/// `s` as one POSIX shell word (quoted only when it has to be).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@,%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether `seal encrypt -i` finds recipients for a file under `rule`.
fn rule_has_keys(rule: Option<&RuleMatch>) -> bool {
    rule.is_some_and(|r| {
        r.rule.key_groups.iter().any(|g| !g.is_empty()) || !r.rule.unsupported_keys.is_empty()
    })
}

/// How to encrypt a plain file at `path` (as shown, relative to the current directory).
pub fn encrypt(path: &str, rule: Option<&RuleMatch>) -> String {
    let p = shell_word(path);
    if rule_has_keys(rule) {
        return format!(
            "encrypt it before committing: `seal encrypt -i {p}` (and rotate any value that was already pushed)"
        );
    }
    let re = format!("^{}$", regex::escape(path));
    let why = match rule {
        Some(r) => format!("{} names no recipients", r.label),
        None => "no .sops.yaml creation rule covers it".to_string(),
    };
    format!(
        "{why}, so encrypt it with a recipient: `seal encrypt -i --age {RECIPIENT} {p}` ({RECIPIENT}: your age1… public key), or add the creation rule {{path_regex: {re:?}, encrypted_regex: {KUBERNETES_REGEX:?}, age: {RECIPIENT}}} to .sops.yaml here and run `seal encrypt -i {p}`; rotate any value that was already pushed"
    )
}

/// How to repair a plaintext value inside the encrypted scope of a sops file. Such a
/// file no longer decrypts (the value fails authentication, exit 25, `--ignore-mac` does
/// not help), so the line goes and the value is set again, encrypted, from standard input.
pub fn set_again(path: &str, tree_path: &str) -> String {
    format!(
        "the file no longer decrypts with this plaintext value in its encrypted scope: delete the line, then store the value encrypted with `seal set --raw --value-stdin {} {}` (it reads the value from standard input); rotate the value, it was in plaintext",
        shell_word(path),
        shell_word(tree_path)
    )
}

/// How to re-encrypt a sops file whose selector leaves a value plaintext: decrypt it
/// (`--ignore-mac`: a value added after encryption breaks the MAC) and encrypt it again
/// with the rule's selector (or seal's Kubernetes default), for the file's recipients when
/// no rule with keys covers it.
pub fn reencrypt(
    path: &str,
    rule: Option<&RuleMatch>,
    recipients: &[String],
    exposed: bool,
) -> String {
    let p = shell_word(path);
    let age = if rule_has_keys(rule) || recipients.is_empty() {
        String::new()
    } else {
        format!("--age {} ", shell_word(&recipients.join(",")))
    };
    let tail = if exposed {
        "; rotate the value, it was in plaintext"
    } else {
        ""
    };
    format!(
        "re-encrypt it with a selector that covers every value: `seal decrypt -i --ignore-mac {p}` then `seal encrypt -i {age}{p}` (check the decrypted file first: --ignore-mac skips the integrity check){tail}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_only_when_needed() {
        assert_eq!(shell_word("k8s/app/secret.yaml"), "k8s/app/secret.yaml");
        assert_eq!(shell_word("my secret.yaml"), "'my secret.yaml'");
        assert_eq!(shell_word("it's.yaml"), "'it'\\''s.yaml'");
    }

    #[test]
    fn without_a_rule_the_hint_gives_the_recipient_form_and_the_rule() {
        let h = encrypt("k/s.yaml", None);
        assert!(
            h.contains("`seal encrypt -i --age RECIPIENT k/s.yaml`"),
            "{h}"
        );
        assert!(h.contains(r#"path_regex: "^k/s\\.yaml$""#), "{h}");
    }
}
