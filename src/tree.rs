//! The format-neutral document tree: ordered branches, typed scalars (typed the way
//! go-yaml v3 types them, because the MAC depends on it), comments, and the path (AAD)
//! that every leaf is authenticated under.
//!
//! Every store parses bytes into this tree and writes it back; the cipher walks it. It
//! knows no file format and does no I/O.

use std::fmt;

/// One document: an ordered mapping. Only YAML files can hold more than one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Branch {
    /// Items in file order.
    pub items: Vec<Item>,
}

impl Branch {
    /// The value of the first pair whose key is `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items.iter().find_map(|item| match item {
            Item::Pair(k, v) if k == key => Some(v),
            _ => None,
        })
    }
}

/// An entry of a [`Branch`].
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `key: value`.
    Pair(String, Value),
    /// A comment line. The text is everything after the comment marker, leading space
    /// included (`# foo` is ` foo`), as sops stores it.
    Comment(String),
}

/// A value in the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A nested mapping.
    Branch(Branch),
    /// A sequence. Items may be [`Value::Comment`] (a comment inside a list).
    List(Vec<Value>),
    /// A string.
    Str(String),
    /// A string that is not valid UTF-8 (the binary store's payload, or a decrypted `str`
    /// whose bytes are not UTF-8). Serialised exactly like [`Value::Str`].
    Bytes(Vec<u8>),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp (YAML only).
    Time(Timestamp),
    /// `null`: never encrypted, never hashed.
    Null,
    /// A comment inside a list.
    Comment(String),
}

impl Value {
    /// True for values the walk treats as leaves (everything but branches and lists).
    pub fn is_leaf(&self) -> bool {
        !matches!(self, Value::Branch(_) | Value::List(_))
    }
}

/// A timestamp, kept as the canonical Go `time.Time.MarshalText` string (RFC 3339 with
/// nanoseconds, trailing zeros trimmed, `Z` for UTC) — the form sops encrypts and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp(pub String);

impl Timestamp {
    /// Parse any of go-yaml v3's accepted timestamp layouts (`2006-1-2T15:4:5.999999999Z07:00`,
    /// lower-case `t`, `2006-1-2 15:4:5.999999999` with optional zone, `2006-1-2`) into the
    /// canonical form. Returns `None` when `s` is not a timestamp.
    pub fn parse_yaml(s: &str) -> Option<Timestamp> {
        crate::tree::time_text::parse_yaml_timestamp(s).map(Timestamp)
    }

    /// Parse an RFC 3339 string (as `time.Time.UnmarshalText` does) into the canonical form.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        crate::tree::time_text::parse_rfc3339(s).map(Timestamp)
    }
}

/// The type names used in `ENC[...,type:<name>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `str`
    Str,
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `time`
    Time,
    /// `comment`
    Comment,
    /// `bytes` (legacy, decrypt only)
    Bytes,
}

impl ValueType {
    /// The name written after `type:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
            ValueType::Bytes => "bytes",
        }
    }

    /// Parse a `type:` name.
    pub fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            "bytes" => ValueType::Bytes,
            _ => return None,
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Format a float the way sops serialises it for encryption and the MAC: Go
/// `strconv.FormatFloat(v, 'f', -1, 64)` (shortest round-trip digits, never an exponent),
/// with `+Inf`, `-Inf`, `NaN`.
pub fn format_float_plain(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's Display for f64 prints the shortest round-trip digits without exponent.
        format!("{v}")
    }
}

/// Format a float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, with go-yaml's
/// tweaks (what sops prints in decrypted YAML): `1e+10`, `1e-07`, `0.5`, `1` for 1.0.
/// Special values are written in YAML form (`.inf`, `-.inf`, `.nan`).
pub fn format_float_yaml(v: f64) -> String {
    if v.is_nan() {
        return ".nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    format_float_g(v)
}

/// Go `strconv.FormatFloat(v, 'g', -1, 64)` for finite values (what go-yaml v3 prints):
/// shortest round-trip digits, exponent form when the decimal exponent is < -4 or >= 6,
/// with a sign and at least two exponent digits (`1e+10`, `1e-07`, `1.5e+20`).
pub fn format_float_g(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.5e20", "-1e-7".
    let e = format!("{v:e}");
    let Some((mant, exp)) = e.split_once('e') else {
        return format!("{v}");
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

/// Time text helpers (go-yaml timestamp layouts, RFC 3339, Go `MarshalText`).
pub mod time_text {
    use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

    fn num(s: &str, min: usize, max: usize) -> Option<u32> {
        if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }

    /// Parse `hh:mm:ss[.frac]` with 1–2 digit fields as Go's `15:4:5.999999999`.
    fn parse_clock(s: &str, strict2: bool) -> Option<(Time, u32)> {
        let (hms, frac) = match s.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let mut it = hms.split(':');
        let minw = if strict2 { 2 } else { 1 };
        let h = num(it.next()?, minw, 2)?;
        let m = num(it.next()?, minw, 2)?;
        let sec = num(it.next()?, minw, 2)?;
        if it.next().is_some() {
            return None;
        }
        let mut nanos = 0u32;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut n: u32 = f.parse().ok()?;
            for _ in f.len()..9 {
                n *= 10;
            }
            nanos = n;
        }
        Some((
            Time::from_hms_nano(h as u8, m as u8, sec as u8, nanos).ok()?,
            nanos,
        ))
    }

    fn parse_date(s: &str, strict2: bool) -> Option<Date> {
        let mut it = s.split('-');
        let y = num(it.next()?, 4, 4)?;
        let minw = if strict2 { 2 } else { 1 };
        let mo = num(it.next()?, minw, 2)?;
        let d = num(it.next()?, minw, 2)?;
        if it.next().is_some() {
            return None;
        }
        Date::from_calendar_date(y as i32, Month::try_from(mo as u8).ok()?, d as u8).ok()
    }

    fn parse_zone(z: &str) -> Option<UtcOffset> {
        if z == "Z" || z == "z" {
            return Some(UtcOffset::UTC);
        }
        let (sign, rest) = match z.as_bytes().first()? {
            b'+' => (1i32, &z[1..]),
            b'-' => (-1i32, &z[1..]),
            _ => return None,
        };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (num(h, 2, 2)?, num(m, 2, 2)?),
            None => (num(rest, 2, 2)?, 0),
        };
        UtcOffset::from_hms((sign * h as i32) as i8, (sign * m as i32) as i8, 0).ok()
    }

    /// Go `time.Time.MarshalText`: RFC 3339 with nanoseconds, trailing zeros trimmed,
    /// `Z` for a zero offset.
    pub fn marshal_text(t: OffsetDateTime) -> String {
        let d = t.date();
        let c = t.time();
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            c.hour(),
            c.minute(),
            c.second()
        );
        let n = c.nanosecond();
        if n != 0 {
            let f = format!("{n:09}");
            s.push('.');
            s.push_str(f.trim_end_matches('0'));
        }
        let off = t.offset();
        if off.is_utc() {
            s.push('Z');
        } else {
            let secs = off.whole_seconds();
            let sign = if secs < 0 { '-' } else { '+' };
            let a = secs.abs();
            s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
        }
        s
    }

    /// Parse a go-yaml v3 timestamp plain scalar into Go's `MarshalText` form.
    pub fn parse_yaml_timestamp(s: &str) -> Option<String> {
        // go-yaml only tries when the scalar starts with 4 digits and a '-'.
        let b = s.as_bytes();
        if b.len() < 5 || !b[..4].iter().all(|c| c.is_ascii_digit()) || b[4] != b'-' {
            return None;
        }
        // Date only.
        if let Some(d) = parse_date(s, false) {
            return Some(marshal_text(
                PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc(),
            ));
        }
        // Date and time separated by T, t, or (in the space layout) spaces.
        let (date_part, rest, space_layout) = if let Some(i) = s.find(['T', 't']) {
            (&s[..i], &s[i + 1..], false)
        } else if let Some(i) = s.find(' ') {
            (&s[..i], s[i..].trim_start_matches([' ', '\t']), true)
        } else {
            return None;
        };
        let d = parse_date(date_part, false)?;
        // Split zone off the clock.
        let (clock, zone) = split_zone(rest, space_layout)?;
        let (t, _) = parse_clock(clock, false)?;
        let off = match zone {
            Some(z) => parse_zone(z)?,
            None => UtcOffset::UTC,
        };
        if !space_layout && zone.is_none() {
            // "2006-1-2T15:4:5.999999999Z07:00" requires a zone.
            return None;
        }
        Some(marshal_text(
            PrimitiveDateTime::new(d, t).assume_offset(off),
        ))
    }

    fn split_zone(rest: &str, space_layout: bool) -> Option<(&str, Option<&str>)> {
        if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            if space_layout {
                // The space layout has no zone in go-yaml's list; a trailing Z does not parse.
                return None;
            }
            return Some((c, Some(&rest[rest.len() - 1..])));
        }
        if let Some(i) = rest.rfind(['+', '-']) {
            if space_layout {
                return None;
            }
            return Some((&rest[..i], Some(&rest[i..])));
        }
        Some((rest, None))
    }

    /// Parse RFC 3339 (as Go's `time.Parse(time.RFC3339, s)`) into `MarshalText` form.
    pub fn parse_rfc3339(s: &str) -> Option<String> {
        parse_rfc3339_dt(s).map(marshal_text)
    }

    /// Parse RFC 3339 into a date-time.
    pub fn parse_rfc3339_dt(s: &str) -> Option<OffsetDateTime> {
        let i = s.find(['T', 't'])?;
        let d = parse_date(&s[..i], true)?;
        let rest = &s[i + 1..];
        let (clock, zone) = split_zone(rest, false)?;
        let (t, _) = parse_clock(clock, true)?;
        let off = parse_zone(zone?)?;
        Some(PrimitiveDateTime::new(d, t).assume_offset(off))
    }

    /// Go `Format(time.RFC3339)`: whole seconds, `Z` for a zero offset (the MAC's AAD).
    pub fn format_rfc3339_seconds(t: OffsetDateTime) -> String {
        marshal_text(t.replace_nanosecond(0).expect("0 is a valid nanosecond"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_floats_match_go_f_format() {
        assert_eq!(format_float_plain(0.75), "0.75");
        assert_eq!(format_float_plain(1.0), "1");
        assert_eq!(format_float_plain(1.5e20), "150000000000000000000");
        assert_eq!(format_float_plain(1e-7), "0.0000001");
        assert_eq!(format_float_plain(-0.0), "-0");
        assert_eq!(format_float_plain(f64::INFINITY), "+Inf");
        assert_eq!(format_float_plain(f64::NAN), "NaN");
    }

    #[test]
    fn g_floats_match_go_yaml() {
        assert_eq!(format_float_g(1e10), "1e+10");
        assert_eq!(format_float_g(6.02e23), "6.02e+23");
        assert_eq!(format_float_g(1e-7), "1e-07");
        assert_eq!(format_float_g(1.0), "1");
        assert_eq!(format_float_g(0.5), "0.5");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(-1.5e-5), "-1.5e-05");
    }

    #[test]
    fn timestamps_resolve_like_go_yaml() {
        assert_eq!(
            Timestamp::parse_yaml("2024-01-02").unwrap().0,
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            Timestamp::parse_yaml("2024-01-02T03:04:05Z").unwrap().0,
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            Timestamp::parse_yaml("2024-01-02 03:04:05").unwrap().0,
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            Timestamp::parse_yaml("2024-1-2T3:04:05.500+02:00")
                .unwrap()
                .0,
            "2024-01-02T03:04:05.5+02:00"
        );
        assert!(Timestamp::parse_yaml("2024-01-02x").is_none());
        assert!(Timestamp::parse_yaml("hello").is_none());
    }

    #[test]
    fn rfc3339_reformat_for_mac_aad() {
        let t = time_text::parse_rfc3339_dt("2024-01-01T10:00:00.5+02:00").unwrap();
        assert_eq!(
            time_text::format_rfc3339_seconds(t),
            "2024-01-01T10:00:00+02:00"
        );
        let t = time_text::parse_rfc3339_dt("2024-01-01T10:00:00+00:00").unwrap();
        assert_eq!(time_text::format_rfc3339_seconds(t), "2024-01-01T10:00:00Z");
    }
}
