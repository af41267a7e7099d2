//! Secret values Kubernetes would reject, seen without a key: `stringData` takes strings
//! only (a number or boolean, in plaintext or as the `type:` of an `ENC[…]` value, which
//! sops leaves visible, makes `kubectl apply` fail once decrypted), and `data` takes
//! padded standard base64 (the API server decodes it as Go's `encoding/json` does for
//! `[]byte`: `\r` and `\n` are skipped, anything else outside the alphabet is an error).

use crate::check::Severity;
use crate::cipher::EncValue;
use crate::tree::ValueType;

/// A Secret value as the scanner sees it.
#[derive(Clone, Copy, Debug)]
pub enum Seen<'a> {
    /// An `ENC[…]` value (its type is readable without the key).
    Enc(&'a str),
    /// A plaintext string.
    Str(&'a str),
    /// A plaintext number or boolean: its YAML type name.
    Scalar(&'static str),
}

/// What is wrong with the value of `field` (`data` or `stringData`), if anything: the
/// severity and a message naming only the type.
pub fn problem(field: &str, seen: Seen) -> Option<(Severity, String)> {
    match (field, seen) {
        (_, Seen::Enc(enc)) => {
            let ty = EncValue::parse(enc).ok()?.value_type;
            // A timestamp reaches the API server as its text (the YAML-to-JSON conversion
            // keeps it a string), so only numbers and booleans are rejected.
            if !matches!(ty, ValueType::Int | ValueType::Float | ValueType::Bool) {
                return None;
            }
            Some((
                Severity::Warning,
                format!(
                    "is encrypted as type {} (the ENC type is visible without the key): Kubernetes wants strings in {field}, so the decrypted Secret is rejected",
                    ty.as_str()
                ),
            ))
        }
        ("stringData", Seen::Scalar(ty)) => Some((
            Severity::Warning,
            format!("is a plaintext {ty}, not a string: Kubernetes rejects non-string stringData values (quote it)"),
        )),
        ("data", Seen::Scalar(ty)) => Some((
            Severity::Error,
            format!("is a plaintext {ty}: data values must be base64 strings, so Kubernetes rejects the Secret"),
        )),
        ("data", Seen::Str(s)) if !valid_base64(s) => Some((
            Severity::Error,
            "is not valid base64: Kubernetes cannot apply the Secret (use stringData for plain text)".into(),
        )),
        _ => None,
    }
}

/// Padded standard base64, with `\r` and `\n` skipped.
pub fn valid_base64(s: &str) -> bool {
    use base64::Engine;
    let clean: Vec<u8> = s.bytes().filter(|b| *b != b'\n' && *b != b'\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_the_api_server_reads_it() {
        for ok in ["", "aHVudGVyMg==", "aHVu\ndGVy\r\nMg==", "YQ=="] {
            assert!(valid_base64(ok), "{ok:?}");
        }
        for bad in ["hunter2!", "aHVudGVyMg", "YQ", "a b=", "aHVudGVyMg==\t"] {
            assert!(!valid_base64(bad), "{bad:?}");
        }
    }

    #[test]
    fn types_kubernetes_rejects() {
        let int = "ENC[AES256_GCM,data:AA==,iv:4sLpc8ZNQYeGPS6JFfPJV50qRr23MrB/xQPVEhEHY0k=,tag:HrD8e47o1s/0vsvYInJ+kA==,type:int]";
        let s = "ENC[AES256_GCM,data:AA==,iv:4sLpc8ZNQYeGPS6JFfPJV50qRr23MrB/xQPVEhEHY0k=,tag:HrD8e47o1s/0vsvYInJ+kA==,type:str]";
        assert_eq!(
            problem("stringData", Seen::Enc(int)).map(|p| p.0),
            Some(Severity::Warning)
        );
        assert!(problem("stringData", Seen::Enc(s)).is_none());
        assert_eq!(
            problem("stringData", Seen::Scalar("bool")).map(|p| p.0),
            Some(Severity::Warning)
        );
        assert!(problem("stringData", Seen::Str("x")).is_none());
        assert_eq!(
            problem("data", Seen::Str("hunter2")).map(|p| p.0),
            Some(Severity::Error)
        );
        assert!(problem("data", Seen::Str("aHVudGVyMg==")).is_none());
    }
}
