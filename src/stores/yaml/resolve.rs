//! YAML scalar typing: how go-yaml v3 (and therefore sops) resolves a scalar to a value,
//! and the reverse question the writer asks: may this string be written plain?

use std::sync::OnceLock;

use base64::Engine as _;
use regex::Regex;

use crate::tree::{Timestamp, Value};

/// The long form of the YAML core tags (`!!str` is reported by the parser as this prefix + `str`).
const TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// How a scalar was written in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Unquoted.
    Plain,
    /// `'...'`, `"..."`, `|` or `>`: never typed by content.
    Quoted,
}

/// Why a scalar could not be resolved (message without the value: it may be secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError(pub String);

/// Resolve a scalar exactly as go-yaml v3 decodes it into an `interface{}` (sops 3.11):
/// untagged plain scalars by content, quoted and block scalars as strings, the standard
/// tags honoured, `!!binary` decoded, any other tag dropped with the raw text kept as a
/// string (checked with sops 3.11: `!Ref 5` is the string `5`).
pub fn resolve_scalar(value: &str, style: Style, tag: Option<&str>) -> Result<Value, ResolveError> {
    let short = tag.map(short_tag);
    match short.as_deref() {
        // The non-specific tag `!` changes nothing (checked with sops 3.11: `! 12` is an int).
        None | Some("!") => {
            if style == Style::Quoted {
                // Quoted and block scalars are strings.
                Ok(Value::Str(value.to_string()))
            } else {
                resolve_plain(value)
            }
        }
        Some("!!str") => Ok(Value::Str(value.to_string())),
        Some("!!binary") => decode_binary(value),
        Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
            let v = resolve_plain(value)?;
            let ok = match (t, &v) {
                ("!!int", Value::Int(_))
                | ("!!float", Value::Float(_))
                | ("!!bool", Value::Bool(_))
                | ("!!null", Value::Null)
                | ("!!timestamp", Value::Time(_)) => true,
                ("!!float", Value::Int(i)) => return Ok(Value::Float(*i as f64)),
                _ => false,
            };
            if ok {
                Ok(v)
            } else {
                Err(ResolveError(format!(
                    "a scalar tagged {t} does not hold a valid {} value",
                    &t[2..]
                )))
            }
        }
        // Custom and other tags: go-yaml keeps the raw text as a string (sops drops the tag).
        Some(_) => Ok(Value::Str(value.to_string())),
    }
}

/// `tag:yaml.org,2002:int` → `!!int`; other tags unchanged.
fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_string(),
    }
}

/// Go's `base64.StdEncoding.DecodeString`, which skips `\r` and `\n`.
fn decode_binary(value: &str) -> Result<Value, ResolveError> {
    let compact: String = value.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ResolveError("!!binary value contains invalid base64 data".into()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => Value::Str(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    })
}

/// go-yaml v3's resolution of an untagged plain scalar.
pub fn resolve_plain(s: &str) -> Result<Value, ResolveError> {
    Ok(plain_non_string(s)?.unwrap_or_else(|| Value::Str(s.to_string())))
}

/// [`resolve_scalar`] of a value the caller gives up: a string result is that buffer
/// (no copy).
pub fn resolve_scalar_owned(
    value: String,
    style: Style,
    tag: Option<&str>,
) -> Result<Value, ResolveError> {
    Ok(resolve_text_owned(value, style, tag)?.map_or_else(|(v, _)| v, Value::Str))
}

/// [`resolve_scalar_owned`] that tells strings apart: `Ok(text)` when the scalar is a
/// string (the same buffer), else the value it resolves to beside the text given back
/// (for a message that quotes it).
pub fn resolve_text_owned(
    value: String,
    style: Style,
    tag: Option<&str>,
) -> Result<Result<String, (Value, String)>, ResolveError> {
    let v = match tag.map(short_tag).as_deref() {
        None | Some("!") if style == Style::Quoted => return Ok(Ok(value)),
        None | Some("!") => match plain_non_string(&value)? {
            None => return Ok(Ok(value)),
            Some(v) => v,
        },
        Some("!!str") => return Ok(Ok(value)),
        _ => match resolve_scalar(&value, style, tag)? {
            Value::Str(s) => return Ok(Ok(s)),
            v => v,
        },
    };
    Ok(Err((v, value)))
}

/// [`resolve_plain`], with `None` for a plain scalar that is the string itself.
fn plain_non_string(s: &str) -> Result<Option<Value>, ResolveError> {
    Ok(Some(match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        _ => return plain_other(s),
    }))
}

fn plain_other(s: &str) -> Result<Option<Value>, ResolveError> {
    let Some(&first) = s.as_bytes().first() else {
        return Ok(Some(Value::Null));
    };
    match first {
        b'.' => {
            // Go `strconv.ParseFloat` on something starting with a dot: `.5`, `.5e3`.
            if is_dot_float(s)
                && let Some(f) = parse_finite_float(s)
            {
                return Ok(Some(Value::Float(f)));
            }
            Ok(None)
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(t) = Timestamp::parse_yaml(s) {
                return Ok(Some(Value::Time(t)));
            }
            let plain: String = s.chars().filter(|c| *c != '_').collect();
            match go_parse_int(&plain) {
                IntParse::Signed(i) => return Ok(Some(Value::Int(i))),
                IntParse::Unsigned => {
                    return Err(ResolveError(
                        "unsupported value: integer out of range (larger than a 64-bit signed integer)"
                            .into(),
                    ));
                }
                IntParse::Invalid => {}
            }
            if yaml_style_float(&plain)
                && let Some(f) = parse_finite_float(&plain)
            {
                return Ok(Some(Value::Float(f)));
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// `.` followed by at least one digit and an optional exponent.
fn is_dot_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 1;
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_start {
        return false;
    }
    exponent_rest(&b[i..])
}

/// An optional `[eE][-+]?[0-9]+` that must consume the rest.
fn exponent_rest(b: &[u8]) -> bool {
    if b.is_empty() {
        return true;
    }
    if b[0] != b'e' && b[0] != b'E' {
        return false;
    }
    let mut i = 1;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    i < b.len() && b[i..].iter().all(u8::is_ascii_digit)
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        return j > start && exponent_rest(&b[j..]);
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    exponent_rest(&b[i..])
}

/// Go `strconv.ParseFloat(s, 64)` for the decimal syntax accepted above: a value out of
/// range is an error there (so the scalar stays a string).
fn parse_finite_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// The outcome of Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`.
#[derive(Debug, PartialEq, Eq)]
enum IntParse {
    /// Fits an `int64`.
    Signed(i64),
    /// Only fits a `uint64` (go-yaml yields a uint64, which sops cannot walk).
    Unsigned,
    /// Not an integer (or out of range for both).
    Invalid,
}

/// Go `ParseInt`/`ParseUint` with base 0: optional sign (ParseInt only), then `0x`, `0o`,
/// `0b` prefixes (any case), a leading `0` meaning octal, else decimal.
fn go_parse_int(s: &str) -> IntParse {
    let (neg, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let lower = body.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() {
        return IntParse::Invalid;
    }
    let mut acc: u128 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return IntParse::Invalid;
        };
        acc = acc * u128::from(radix) + u128::from(d);
        if acc > u128::from(u64::MAX) + 1 {
            // Out of range for both; keep scanning only for validity.
            acc = u128::from(u64::MAX) + 2;
        }
    }
    if neg {
        if acc <= i64::MAX as u128 + 1 {
            return IntParse::Signed((acc as i128).wrapping_neg() as i64);
        }
        return IntParse::Invalid;
    }
    if acc <= i64::MAX as u128 {
        return IntParse::Signed(acc as i64);
    }
    if !signed && acc <= u128::from(u64::MAX) {
        return IntParse::Unsigned;
    }
    IntParse::Invalid
}

/// May `s` be written as a plain scalar? Only when go-yaml v3 reads it back as this very
/// string, YAML 1.1 readers (PyYAML, go-yaml v2, Kubernetes tooling) read it as a string
/// too, and the text is syntactically safe as a plain scalar in block context. There is no
/// length limit: go-yaml v3 (sops) writes a plain scalar of any length on one line. (A
/// mapping key has one, see [`super::writer::key_text`].)
pub fn plain_safe(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    match resolve_plain(s) {
        Ok(Value::Str(ref r)) if r == s => {}
        _ => return false,
    }
    if yaml11_special(s) {
        return false;
    }
    let b = s.as_bytes();
    // Leading indicators, leading/trailing white space, document markers.
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&b[0]) {
        return false;
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains('\t') {
        return false;
    }
    s.chars()
        .all(|c| is_printable(c) && c != '\n' && c != '\u{FEFF}')
}

/// Characters YAML allows unescaped (`nb-char` minus what we always escape).
pub fn is_printable(c: char) -> bool {
    match c {
        '\t' | '\n' => true,
        '\u{20}'..='\u{7E}' => true,
        '\u{85}' => false,
        '\u{2028}' | '\u{2029}' => false,
        '\u{A0}'..='\u{D7FF}' => true,
        '\u{E000}'..='\u{FFFD}' => true,
        '\u{10000}'..='\u{10FFFF}' => true,
        _ => false,
    }
}

/// Does a YAML 1.1 resolver (PyYAML's implicit resolvers) read `s` as a non-string?
fn yaml11_special(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(concat!(
            // bool
            r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
            // float
            r"|^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            // int
            r"|^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
            // merge, null, value
            r"|^(?:<<|~|null|Null|NULL|=)$",
            // timestamp
            r"|^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
        ))
        .ok()
    });
    // Without the regex (cannot happen: it is a constant) be conservative: quote.
    re.as_ref().is_none_or(|r| r.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        match resolve_plain(s) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn ts(s: &str) -> Value {
        Value::Time(Timestamp(s.to_string()))
    }

    /// Every row of sops-format.md §9.1.2 plus the edge cases of crates.md pitfall 4.
    #[test]
    fn plain_resolution_table() {
        let s = |x: &str| Value::Str(x.to_string());
        let rows: Vec<(&str, Value)> = vec![
            ("", Value::Null),
            ("~", Value::Null),
            ("null", Value::Null),
            ("Null", Value::Null),
            ("NULL", Value::Null),
            ("nULL", s("nULL")),
            ("true", Value::Bool(true)),
            ("True", Value::Bool(true)),
            ("TRUE", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("False", Value::Bool(false)),
            ("FALSE", Value::Bool(false)),
            ("tRUE", s("tRUE")),
            ("yes", s("yes")),
            ("no", s("no")),
            ("on", s("on")),
            ("off", s("off")),
            ("y", s("y")),
            ("n", s("n")),
            ("5432", Value::Int(5432)),
            ("+12", Value::Int(12)),
            ("-12", Value::Int(-12)),
            ("1_000", Value::Int(1000)),
            ("0x1F", Value::Int(31)),
            ("0X1f", Value::Int(31)),
            ("-0x1F", Value::Int(-31)),
            ("0o17", Value::Int(15)),
            ("0755", Value::Int(493)),
            ("0b101", Value::Int(5)),
            ("-0b101", Value::Int(-5)),
            ("0", Value::Int(0)),
            ("-0", Value::Int(0)),
            ("08", Value::Float(8.0)),
            ("9223372036854775807", Value::Int(i64::MAX)),
            ("-9223372036854775808", Value::Int(i64::MIN)),
            ("-9223372036854775809", Value::Float(-9223372036854775809.0)),
            ("99999999999999999999999", Value::Float(1e23)),
            ("0.75", Value::Float(0.75)),
            (".5", Value::Float(0.5)),
            ("1e3", Value::Float(1000.0)),
            ("1.5e20", Value::Float(1.5e20)),
            ("1.", Value::Float(1.0)),
            ("+.5", Value::Float(0.5)),
            ("1_000.5", Value::Float(1000.5)),
            ("1e400", s("1e400")),
            (".", s(".")),
            (".e3", s(".e3")),
            ("1.2.3", s("1.2.3")),
            ("3.11.0", s("3.11.0")),
            ("0x", s("0x")),
            ("0xZZ", s("0xZZ")),
            ("+", s("+")),
            ("-", s("-")),
            ("12:30", s("12:30")),
            ("2024-01-02", ts("2024-01-02T00:00:00Z")),
            ("2024-01-02T03:04:05Z", ts("2024-01-02T03:04:05Z")),
            ("2024-01-02 03:04:05", ts("2024-01-02T03:04:05Z")),
            ("2024-01-02x", s("2024-01-02x")),
            ("<<", s("<<")),
            ("hello world", s("hello world")),
            (
                "ENC[AES256_GCM,data:x,type:str]",
                s("ENC[AES256_GCM,data:x,type:str]"),
            ),
        ];
        for (input, want) in rows {
            let got = p(input);
            match (&got, &want) {
                (Value::Float(a), Value::Float(b)) => {
                    assert_eq!(a.to_bits(), b.to_bits(), "{input}")
                }
                _ => assert_eq!(got, want, "{input}"),
            }
        }
        assert!(matches!(p(".nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(p(".inf"), Value::Float(f64::INFINITY));
        assert_eq!(p("-.Inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(p("+.INF"), Value::Float(f64::INFINITY));
    }

    #[test]
    fn uint64_range_is_refused() {
        for s in [
            "9223372036854775808",
            "18446744073709551615",
            "0xFFFFFFFFFFFFFFFF",
        ] {
            let e = resolve_plain(s).unwrap_err();
            assert!(e.0.contains("out of range"), "{s}");
            assert!(!e.0.contains(s), "the message must not echo the value");
        }
        // Signed above u64 max or with a sign: not an integer at all.
        assert_eq!(
            resolve_plain("+18446744073709551615").unwrap(),
            Value::Float(18446744073709551615.0)
        );
    }

    #[test]
    fn tags_and_styles() {
        let q = |v: &str, st: Style, t: Option<&str>| resolve_scalar(v, st, t).unwrap();
        assert_eq!(q("123", Style::Quoted, None), Value::Str("123".into()));
        assert_eq!(
            q("123", Style::Plain, Some("tag:yaml.org,2002:str")),
            Value::Str("123".into())
        );
        assert_eq!(
            q("5", Style::Quoted, Some("tag:yaml.org,2002:int")),
            Value::Int(5)
        );
        assert_eq!(
            q("5", Style::Plain, Some("tag:yaml.org,2002:float")),
            Value::Float(5.0)
        );
        assert_eq!(
            q("aGVsbG8=", Style::Plain, Some("tag:yaml.org,2002:binary")),
            Value::Str("hello".into())
        );
        assert_eq!(
            q(
                "aGVs\nbG8=\n",
                Style::Quoted,
                Some("tag:yaml.org,2002:binary")
            ),
            Value::Str("hello".into())
        );
        assert_eq!(
            q("/w==", Style::Plain, Some("tag:yaml.org,2002:binary")),
            Value::Bytes(vec![0xff])
        );
        assert_eq!(q("5", Style::Plain, Some("!Ref")), Value::Str("5".into()));
        assert_eq!(q("x", Style::Plain, Some("!")), Value::Str("x".into()));
        assert_eq!(q("123", Style::Plain, Some("!")), Value::Int(123));
        assert_eq!(q("123", Style::Quoted, Some("!")), Value::Str("123".into()));
        assert!(resolve_scalar("abc", Style::Plain, Some("tag:yaml.org,2002:int")).is_err());
        assert!(resolve_scalar("%%%", Style::Plain, Some("tag:yaml.org,2002:binary")).is_err());
    }

    #[test]
    fn plain_safety() {
        for s in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Y",
            "ON",
            "5432",
            "0755",
            "1e3",
            "true",
            "null",
            "~",
            "2024-01-02",
            "",
            " a",
            "a ",
            "a: b",
            "a #b",
            "-a",
            "?a",
            ":a",
            "[a",
            "{a",
            "#a",
            "&a",
            "*a",
            "!a",
            "|a",
            ">a",
            "'a",
            "\"a",
            "%a",
            "@a",
            "`a",
            "a\nb",
            "a\tb",
            "\u{7}",
            "\u{85}",
            "12:30",
            "1:20:30",
            "1_0",
            "0b1",
            "0x1",
            "=",
            "<<",
            ".inf",
            "1.0",
            "a:",
            "...x",
            "\u{feff}a",
        ] {
            assert!(!plain_safe(s), "{s:?} must be quoted");
        }
        for s in [
            "hello",
            "hello world",
            "a:b",
            "a#b",
            "3.11.0",
            "_unencrypted",
            "ENC[AES256_GCM,data:a,type:str]",
            "ünïcødé",
            "^(data|stringData)$",
            "1.2.3",
            "v1",
            "a-b",
            "x.y",
            "1a",
        ] {
            assert!(plain_safe(s), "{s:?} should be plain");
        }
    }

    /// Same value as a float, NaN included (`Value`'s `==` says NaN != NaN).
    fn same_value(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    proptest::proptest! {
        /// Resolving a buffer given up is resolving it borrowed: every style and tag, and
        /// text that looks like each YAML type.
        #[test]
        fn owned_resolution_matches_borrowed(
            s in "([-+.~0-9_eExXoO:TZ ]{0,12}|null|True|\\.inf|-\\.NaN|[a-z]{0,8}|2001-12-14t21:59:43\\.10-05:00)",
            quoted in proptest::bool::ANY,
            tag in proptest::sample::select(vec![
                None, Some("!"), Some("!!str"), Some("!!int"), Some("!!float"), Some("!!bool"),
                Some("!!null"), Some("!!timestamp"), Some("!!binary"),
                Some("tag:yaml.org,2002:str"), Some("!custom"),
            ]),
        ) {
            let style = if quoted { Style::Quoted } else { Style::Plain };
            let borrowed = resolve_scalar(&s, style, tag);
            let owned = resolve_scalar_owned(s.clone(), style, tag);
            match (&borrowed, &owned) {
                (Ok(a), Ok(b)) => proptest::prop_assert!(same_value(a, b), "{s:?}: {a:?} vs {b:?}"),
                _ => proptest::prop_assert_eq!(&borrowed, &owned),
            }
            // The text comes back whole when it is not a string.
            match (&borrowed, resolve_text_owned(s.clone(), style, tag)) {
                (Ok(Value::Str(a)), Ok(Ok(b))) => proptest::prop_assert_eq!(a, &b),
                (Ok(a), Ok(Err((b, text)))) => {
                    proptest::prop_assert!(!matches!(a, Value::Str(_)) && same_value(a, &b));
                    proptest::prop_assert_eq!(text, s);
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a, &b),
                (a, b) => proptest::prop_assert!(false, "{s:?}: {a:?} vs {b:?}"),
            }
        }
    }
}
