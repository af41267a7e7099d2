//! Random secret values made in memory from the OS random source (`getrandom`): `hex:N`
//! and `base64:N` (N random bytes, as `openssl rand -hex N` / `-base64 N` print them),
//! `password:N` (N characters from `[A-Za-z0-9]`, safe inside URLs and shell words) and
//! `uuid` (a version 4 UUID). Values live in `Zeroizing` buffers.

use std::fmt;

use base64::Engine;
use zeroize::Zeroizing;

/// The largest N accepted (bytes or characters).
pub const MAX_LEN: usize = 4096;

/// The password alphabet: letters and digits only, so that a password can be pasted into
/// a connection URL (`postgresql://user:PASSWORD@host`) without escaping.
pub const PASSWORD_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// How to generate one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// N random bytes, lower-case hex (2N characters).
    Hex(usize),
    /// N random bytes, standard base64 with padding.
    Base64(usize),
    /// N characters drawn uniformly from [`PASSWORD_ALPHABET`].
    Password(usize),
    /// A random (version 4) UUID, lower-case.
    Uuid,
}

impl Generator {
    /// Parse `hex:N`, `base64:N`, `password:N` or `uuid`.
    pub fn parse(spec: &str) -> Result<Generator, String> {
        let spec = spec.trim();
        if spec == "uuid" {
            return Ok(Generator::Uuid);
        }
        let expected = "expected hex:N, base64:N, password:N or uuid (e.g. hex:32)";
        let Some((kind, n)) = spec.split_once(':') else {
            return Err(format!("unknown generator {spec:?}: {expected}"));
        };
        let n: usize = n.parse().map_err(|_| {
            format!("generator {spec:?}: the length must be a whole number between 1 and {MAX_LEN}")
        })?;
        if n == 0 || n > MAX_LEN {
            return Err(format!(
                "generator {spec:?}: the length must be between 1 and {MAX_LEN}"
            ));
        }
        match kind {
            "hex" => Ok(Generator::Hex(n)),
            "base64" => Ok(Generator::Base64(n)),
            "password" => Ok(Generator::Password(n)),
            _ => Err(format!("unknown generator {spec:?}: {expected}")),
        }
    }

    /// Make a new value.
    pub fn generate(&self) -> Result<Zeroizing<String>, String> {
        match *self {
            Generator::Hex(n) => {
                let bytes = random_bytes(n)?;
                let mut out = Zeroizing::new(String::with_capacity(2 * n));
                for b in bytes.iter() {
                    out.push(hex_digit(b >> 4));
                    out.push(hex_digit(b & 0xf));
                }
                Ok(out)
            }
            Generator::Base64(n) => {
                let bytes = random_bytes(n)?;
                let mut out = Zeroizing::new(String::with_capacity(n.div_ceil(3) * 4));
                base64::engine::general_purpose::STANDARD.encode_string(bytes.as_slice(), &mut out);
                Ok(out)
            }
            Generator::Password(n) => {
                let mut out = Zeroizing::new(String::with_capacity(n));
                // Rejection sampling: bytes >= 248 (= 4 * 62) are dropped so every
                // character is equally likely.
                let limit = (256 / PASSWORD_ALPHABET.len() * PASSWORD_ALPHABET.len()) as u8;
                while out.len() < n {
                    let bytes = random_bytes(n - out.len() + 8)?;
                    for &b in bytes.iter() {
                        if b < limit && out.len() < n {
                            let c = PASSWORD_ALPHABET
                                .get(usize::from(b) % PASSWORD_ALPHABET.len())
                                .copied()
                                .unwrap_or(b'x');
                            out.push(char::from(c));
                        }
                    }
                }
                Ok(out)
            }
            Generator::Uuid => {
                let mut b = random_bytes(16)?;
                if let Some(x) = b.get_mut(6) {
                    *x = (*x & 0x0f) | 0x40;
                }
                if let Some(x) = b.get_mut(8) {
                    *x = (*x & 0x3f) | 0x80;
                }
                let mut out = Zeroizing::new(String::with_capacity(36));
                for (i, byte) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push('-');
                    }
                    out.push(hex_digit(byte >> 4));
                    out.push(hex_digit(byte & 0xf));
                }
                Ok(out)
            }
        }
    }

    /// The shell command that makes an equivalent value (for comments in manifests).
    pub fn shell_hint(&self) -> String {
        match *self {
            Generator::Hex(n) => format!("openssl rand -hex {n}"),
            Generator::Base64(n) => format!("openssl rand -base64 {n}"),
            Generator::Password(n) => format!("seal generates {n} characters [A-Za-z0-9]"),
            Generator::Uuid => "uuidgen".to_string(),
        }
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generator::Hex(n) => write!(f, "hex:{n}"),
            Generator::Base64(n) => write!(f, "base64:{n}"),
            Generator::Password(n) => write!(f, "password:{n}"),
            Generator::Uuid => f.write_str("uuid"),
        }
    }
}

fn hex_digit(v: u8) -> char {
    char::from(
        b"0123456789abcdef"
            .get(usize::from(v & 0xf))
            .copied()
            .unwrap_or(b'0'),
    )
}

fn random_bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    getrandom::getrandom(buf.as_mut_slice())
        .map_err(|e| format!("the operating system's random source failed: {e}"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_specs() {
        for s in ["hex:32", "base64:60", "password:24", "uuid"] {
            assert_eq!(Generator::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "",
            "hex",
            "hex:",
            "hex:0",
            "hex:-1",
            "hex:99999",
            "rot13:4",
            "uuid:4",
        ] {
            let e = Generator::parse(bad).unwrap_err();
            assert!(e.contains("hex:N") || e.contains("between"), "{bad}: {e}");
        }
    }

    #[test]
    fn uuid_is_version_4() {
        let u = Generator::Uuid.generate().unwrap();
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&u), "{}", u.as_str());
    }

    #[test]
    fn values_differ() {
        let a = Generator::Hex(16).generate().unwrap();
        let b = Generator::Hex(16).generate().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn password_uses_the_whole_alphabet() {
        // 62 symbols, 20,000 draws: every symbol appears (a biased or truncated alphabet
        // would very likely miss some).
        let p = Generator::Password(MAX_LEN).generate().unwrap();
        let q = Generator::Password(MAX_LEN).generate().unwrap();
        let seen: std::collections::HashSet<char> = p.chars().chain(q.chars()).collect();
        assert_eq!(seen.len(), PASSWORD_ALPHABET.len());
    }

    proptest! {
        #[test]
        fn lengths_and_alphabets(n in 1usize..300) {
            let h = Generator::Hex(n).generate().unwrap();
            prop_assert_eq!(h.len(), 2 * n);
            prop_assert!(h.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

            let b = Generator::Base64(n).generate().unwrap();
            let decoded = base64::engine::general_purpose::STANDARD.decode(b.as_bytes()).unwrap();
            prop_assert_eq!(decoded.len(), n);

            let p = Generator::Password(n).generate().unwrap();
            prop_assert_eq!(p.chars().count(), n);
            prop_assert!(p.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
        }
    }
}
