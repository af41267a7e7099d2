//! The sops cipher: `ENC[AES256_GCM,...]` values (AES-256-GCM, 32-byte IV, path as AAD),
//! the typed plaintext serialisation, the tree walk that encrypts or decrypts every leaf the
//! selector picks (comment stack included), the MAC, and data keys. Pure: randomness comes
//! from the OS RNG only for fresh data keys and IVs; no files, no env.
//!
//! Values are serialised per sops-format.md §2.2; paths (AAD) per §3; the walk per §4;
//! selection per §5 (see [`crate::rules`] for the comment stack); MAC per §6.
//!
//! Walk invariants (both directions):
//! - documents in order, items in order, depth-first; `null` is skipped entirely;
//! - the AAD is the mapping keys from the root joined with `:` plus a trailing `:` (`:` for
//!   the empty path); list items and comments use the path of their container;
//! - the MAC (SHA-512) is fed the plaintext serialisation of every non-null, non-comment leaf
//!   (only the encrypted ones, after a fixed 32-byte prefix, with `mac_only_encrypted`).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::rules::{CommentStack, Selector};

mod par;
use crate::tree::{Branch, Item, Timestamp, Value, ValueType, format_float_plain, time_text};

/// AES-256-GCM with sops's 32-byte nonce.
type Gcm = AesGcm<Aes256, U32>;

/// Standard padded base64; decoding accepts non-zero trailing bits (as Go does).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The bytes written into the MAC before any value when `mac_only_encrypted` is set
/// (SHA-256 of the ASCII string `sops`).
pub const MAC_ONLY_ENCRYPTED_PREFIX: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The 32-byte data key. Never printed, zeroized on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    ///
    /// # Panics
    /// Only if the operating system's random number generator fails, which leaves no safe
    /// way to continue. Use [`DataKey::try_generate`] to get an error instead.
    pub fn generate() -> DataKey {
        match DataKey::try_generate() {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    /// A fresh random key, or an error when the OS random number generator fails.
    pub fn try_generate() -> Result<DataKey, CipherError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut k[..])
            .map_err(|e| CipherError::Key(format!("the OS random number generator failed: {e}")))?;
        Ok(DataKey(k))
    }

    /// From unwrapped bytes; must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<DataKey, CipherError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            CipherError::Key(format!("a data key must be 32 bytes, got {}", bytes.len()))
        })?;
        Ok(DataKey(Zeroizing::new(arr)))
    }

    /// The raw bytes (to wrap for recipients).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Gcm {
        Gcm::new(GenericArray::from_slice(&self.0[..]))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// How the walk decides and hashes.
#[derive(Clone, Debug)]
pub struct WalkRules<'a> {
    /// Which leaves are encrypted.
    pub selector: &'a Selector,
    /// Hash only encrypted values (with the fixed prefix).
    pub mac_only_encrypted: bool,
}

/// IVs to reuse: (AAD, type, plaintext bytes) → IV. Filled by decrypt, used by encrypt, so
/// unchanged values keep their exact ciphertext under the same data key (sops's "stash").
///
/// The AAD is the exact string used (`db:password:`, `:` for the top level). Reuse only
/// happens for byte-identical plaintexts, and each IV is used at most once per encrypt walk
/// (so two equal values never get equal ciphertexts). Decrypt records the first occurrence
/// of each key.
#[derive(Clone, Debug, Default)]
pub struct Stash(pub HashMap<(String, ValueType, Vec<u8>), [u8; 32]>);

/// What a decrypt walk found.
#[derive(Debug, Default)]
pub struct Decrypted {
    /// The MAC recomputed over the decrypted tree (uppercase hex SHA-512).
    pub mac: String,
    /// Non-fatal problems (e.g. a comment that did not decrypt and was kept as is).
    pub warnings: Vec<String>,
}

/// A parsed `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value.
#[derive(Clone, PartialEq, Eq)]
pub struct EncValue {
    /// The ciphertext without its tag (as long as the plaintext).
    pub data: Vec<u8>,
    /// The 32-byte IV.
    pub iv: [u8; 32],
    /// The 16-byte GCM tag.
    pub tag: [u8; 16],
    /// The plaintext's type.
    pub value_type: ValueType,
}

impl std::fmt::Debug for EncValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncValue({})", self)
    }
}

static ENC_RE: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").ok()
});

impl EncValue {
    /// Parse with sops's rule: the regex
    /// `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]` (anchored at the start
    /// only, greedy groups), padded standard base64, a 32-byte IV, a 16-byte tag and a known
    /// type. The error is a reason that never contains the value.
    pub fn parse(s: &str) -> Result<EncValue, String> {
        if !is_enc_value(s) {
            return Err("expected an encrypted value, found plaintext".into());
        }
        // Fast path: when every delimiter occurs once (always, for base64 fields), a plain
        // split gives exactly what sops's greedy regex gives, at a fraction of the cost.
        let fields = match split_enc_fast(s) {
            Some(f) => f,
            None => {
                let caps = ENC_RE
                    .as_ref()
                    .and_then(|re| re.captures(s))
                    .ok_or("malformed ENC[...] value: expected data, iv, tag and type fields")?;
                let g = |i: usize| caps.get(i).map_or("", |m| m.as_str());
                [g(1), g(2), g(3), g(4)]
            }
        };
        let field = |i: usize| fields[i - 1];
        let data = b64_decode(field(1))
            .map_err(|e| format!("the data field is not valid base64 ({e})"))?;
        let iv: [u8; 32] = decode_fixed(field(2), "iv")?;
        let tag: [u8; 16] = decode_fixed(field(3), "tag")?;
        let type_name = field(4);
        let value_type = ValueType::parse(type_name).ok_or_else(|| {
            let shown: String = type_name.chars().take(20).collect();
            format!("unknown datatype {shown:?}")
        })?;
        Ok(EncValue {
            data,
            iv,
            tag,
            value_type,
        })
    }
}

/// The 6-bit value of each standard base64 character; 0xFF for every other byte.
const B64_VALUES: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < alphabet.len() {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// [`B64_VALUES`] placed at each of a quad's four places (shifted left by 18, 12, 6 and 0
/// bits), with bit 24 set for every byte that is not in the alphabet: a quad decodes with
/// four loads and three ORs, and one test over all quads finds a bad character.
const B64_PLACED: [[u32; 256]; 4] = {
    let mut t = [[0u32; 256]; 4];
    let mut place = 0;
    while place < 4 {
        let mut c = 0;
        while c < 256 {
            let v = B64_VALUES[c];
            t[place][c] = if v == 0xFF {
                1 << 24
            } else {
                (v as u32) << (18 - 6 * place)
            };
            c += 1;
        }
        place += 1;
    }
    t
};

/// Decode padded standard base64 into the front of `out` (which must have room for
/// `text.len() / 4 * 3` bytes) and return the decoded length. `None` for anything but
/// canonical padding and alphabet characters: the caller then asks [`B64`], which decodes
/// the same strings to the same bytes (trailing bits are ignored by both) and explains
/// the others. Far fewer instructions than the base64 crate on short fields.
fn b64_decode_into(text: &[u8], out: &mut [u8]) -> Option<usize> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let Some(full) = (text.len() / 4).checked_sub(1) else {
        return Some(0);
    };
    let quad = |a: u8, b: u8, c: u8, d: u8| {
        B64_PLACED[0][usize::from(a)]
            | B64_PLACED[1][usize::from(b)]
            | B64_PLACED[2][usize::from(c)]
            | B64_PLACED[3][usize::from(d)]
    };
    // Every quad but the last, which alone may hold padding.
    let mut bad = 0;
    let (body, last) = text.split_at(full * 4);
    for (q, o) in body
        .chunks_exact(4)
        .zip(out.get_mut(..full * 3)?.chunks_exact_mut(3))
    {
        let &[a, b, c, d] = q else { return None };
        let x = quad(a, b, c, d);
        bad |= x;
        let [_, x0, x1, x2] = x.to_be_bytes();
        o.copy_from_slice(&[x0, x1, x2]);
    }
    let &[a, b, c, d] = last else { return None };
    let (c, d, len) = match (c, d) {
        (b'=', b'=') => (b'A', b'A', 1),
        (_, b'=') => (c, b'A', 2),
        _ => (c, d, 3),
    };
    let x = quad(a, b, c, d);
    if (bad | x) >> 24 != 0 {
        return None;
    }
    let [_, x0, x1, x2] = x.to_be_bytes();
    let n = full * 3;
    out.get_mut(n..n + len)?
        .copy_from_slice([x0, x1, x2].get(..len)?);
    Some(n + len)
}

/// Decode a base64 field of any length (see [`b64_decode_into`]).
fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let mut out = vec![0u8; text.len() / 4 * 3];
    match b64_decode_into(text.as_bytes(), &mut out) {
        Some(n) => {
            out.truncate(n);
            Ok(out)
        }
        None => B64.decode(text),
    }
}

/// Decode the base64 field `name` that must hold exactly `N` bytes, without allocating
/// in the usual case (a field of the right size).
fn decode_fixed<const N: usize>(text: &str, name: &str) -> Result<[u8; N], String> {
    // Room for what a field of up to 64 characters decodes to.
    let mut buf = [0u8; 48];
    let bytes: Vec<u8>;
    let decoded: &[u8] = match b64_decode_into(text.as_bytes(), &mut buf) {
        Some(n) => buf.get(..n).unwrap_or_default(),
        None => {
            bytes = B64
                .decode(text)
                .map_err(|e| format!("the {name} field is not valid base64 ({e})"))?;
            &bytes
        }
    };
    decoded
        .try_into()
        .map_err(|_| format!("the {name} must be {N} bytes, found {}", decoded.len()))
}

/// Split `ENC[AES256_GCM,data:D,iv:I,tag:T,type:Y]` by hand when each delimiter occurs
/// exactly once and the value ends at its only `]`; `None` sends the caller to the regex.
fn split_enc_fast(s: &str) -> Option<[&str; 4]> {
    let body = s.strip_prefix("ENC[AES256_GCM,data:")?.strip_suffix(']')?;
    if memchr::memchr(b']', body.as_bytes()).is_some() {
        return None;
    }
    // The usual case, in one pass: exactly three commas, each starting the next delimiter,
    // so every delimiter occurs exactly once (what the general check below establishes with
    // a forward and a backward search per delimiter).
    let mut commas = memchr::memchr_iter(b',', body.as_bytes());
    if let (Some(iv), Some(tag), Some(ty), None) =
        (commas.next(), commas.next(), commas.next(), commas.next())
    {
        let at = |i: usize, pat: &str| body.get(i..).is_some_and(|r| r.starts_with(pat));
        if at(iv, ",iv:") && at(tag, ",tag:") && at(ty, ",type:") {
            return split_at_delimiters(body, iv, tag, ty);
        }
    }
    let once = |pat: &str| -> Option<usize> {
        let i = body.find(pat)?;
        (body.rfind(pat) == Some(i)).then_some(i)
    };
    let (iv, tag, ty) = (once(",iv:")?, once(",tag:")?, once(",type:")?);
    split_at_delimiters(body, iv, tag, ty)
}

/// The four fields of `body` given the offsets of `,iv:`, `,tag:` and `,type:`; `None`
/// unless they come in that order with a non-empty field between each.
fn split_at_delimiters(body: &str, iv: usize, tag: usize, ty: usize) -> Option<[&str; 4]> {
    if !(0 < iv && iv + 4 < tag && tag + 5 < ty && ty + 6 < body.len()) {
        return None;
    }
    Some([
        body.get(..iv)?,
        body.get(iv + 4..tag)?,
        body.get(tag + 5..ty)?,
        body.get(ty + 6..)?,
    ])
}

impl std::fmt::Display for EncValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        write_enc(&mut s, &self.data, &self.iv, &self.tag, self.value_type);
        f.write_str(&s)
    }
}

fn write_enc(out: &mut String, data: &[u8], iv: &[u8], tag: &[u8], ty: ValueType) {
    out.reserve(data.len().div_ceil(3) * 4 + 120);
    out.push_str("ENC[AES256_GCM,data:");
    B64.encode_string(data, out);
    out.push_str(",iv:");
    B64.encode_string(iv, out);
    out.push_str(",tag:");
    B64.encode_string(tag, out);
    out.push_str(",type:");
    out.push_str(ty.as_str());
    out.push(']');
}

/// True when `s` looks like an `ENC[AES256_GCM,...]` value (syntax only).
pub fn is_enc_value(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// The plaintext bytes and type sops uses for a leaf (§2.2), or None for null, empty
/// string, branches and lists.
pub fn serialize_leaf(v: &Value) -> Option<(Vec<u8>, ValueType)> {
    let mut buf = Vec::new();
    serialize_into(v, &mut buf).map(|t| (buf, t))
}

/// Append `v`'s plaintext to `buf` (which the caller cleared); None when it has none.
fn serialize_into(v: &Value, buf: &mut Vec<u8>) -> Option<ValueType> {
    use std::io::Write as _;
    match v {
        Value::Str(s) if !s.is_empty() => {
            buf.extend_from_slice(s.as_bytes());
            Some(ValueType::Str)
        }
        Value::Bytes(b) if !b.is_empty() => {
            buf.extend_from_slice(b);
            Some(ValueType::Str)
        }
        Value::Int(i) => {
            // Writing into a Vec cannot fail.
            let _ = write!(buf, "{i}");
            Some(ValueType::Int)
        }
        Value::Float(f) => {
            buf.extend_from_slice(format_float_plain(*f).as_bytes());
            Some(ValueType::Float)
        }
        Value::Bool(b) => {
            buf.extend_from_slice(if *b { b"True" } else { b"False" });
            Some(ValueType::Bool)
        }
        Value::Time(t) => {
            buf.extend_from_slice(t.0.as_bytes());
            Some(ValueType::Time)
        }
        Value::Comment(c) if !c.is_empty() => {
            buf.extend_from_slice(c.as_bytes());
            Some(ValueType::Comment)
        }
        _ => None,
    }
}

/// Read a decrypted plaintext back into a value of type `ty` (§2.2: Go `Atoi`, `ParseFloat`,
/// `ParseBool`, RFC 3339). `str` that is not UTF-8 becomes [`Value::Bytes`]; `comment`
/// becomes [`Value::Comment`]. The error is a reason that never contains the plaintext.
pub fn parse_plaintext(bytes: Vec<u8>, ty: ValueType) -> Result<Value, String> {
    let text = |b: &[u8]| -> Result<String, String> {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| format!("the decrypted {ty} is not valid UTF-8"))
    };
    Ok(match ty {
        ValueType::Str => match String::from_utf8(bytes) {
            Ok(s) => Value::Str(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        },
        ValueType::Bytes => Value::Bytes(bytes),
        ValueType::Comment => Value::Comment(text(&bytes)?),
        ValueType::Int => {
            let s = text(&bytes)?;
            Value::Int(
                s.parse::<i64>()
                    .map_err(|_| "the decrypted int is not a decimal 64-bit integer".to_string())?,
            )
        }
        ValueType::Float => {
            let s = text(&bytes)?;
            Value::Float(parse_go_float(&s).ok_or("the decrypted float is not a valid number")?)
        }
        ValueType::Bool => {
            let s = text(&bytes)?;
            Value::Bool(parse_go_bool(&s).ok_or("the decrypted bool is not a valid boolean")?)
        }
        ValueType::Time => {
            let s = text(&bytes)?;
            Value::Time(
                Timestamp::parse_rfc3339(&s)
                    .ok_or("the decrypted time is not an RFC 3339 timestamp")?,
            )
        }
    })
}

/// Go `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go `strconv.ParseFloat(s, 64)`: decimal and hexadecimal (`0x1.8p3`) forms, `_` digit
/// separators, `Inf`/`Infinity` with optional sign and `NaN` in any case. Out of range
/// values are errors (Go returns `ErrRange`, which sops reports).
fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, unsigned) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    let cleaned;
    let body = if unsigned.contains('_') {
        if !go_underscore_ok(unsigned) {
            return None;
        }
        cleaned = unsigned.replace('_', "");
        cleaned.as_str()
    } else {
        unsigned
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        parse_hex_float(hex)?
    } else {
        // Rust's grammar is Go's decimal grammar plus inf/nan words, handled above.
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(sign * v)
}

/// Go `strconv.underscoreOK` for an unsigned number: `_` only between digits or after a
/// base prefix.
fn go_underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// The part after `0x` of a Go hexadecimal float: hex digits with an optional point, then a
/// mandatory `p` exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let mut m: u64 = 0;
    let mut shift: i32 = 0;
    let mut digits = 0;
    let mut seen_point = false;
    for c in mant.chars() {
        if c == '.' {
            if seen_point {
                return None;
            }
            seen_point = true;
            continue;
        }
        let d = c.to_digit(16)?;
        digits += 1;
        if m >> 60 == 0 {
            m = (m << 4) | u64::from(d);
            if seen_point {
                shift -= 4;
            }
        } else if !seen_point {
            shift += 4;
        }
    }
    if digits == 0 {
        return None;
    }
    Some(m as f64 * 2f64.powi(exp.saturating_add(shift)))
}

/// The MAC's AAD: `lastmodified` parsed as RFC 3339 and written back with whole seconds and
/// `Z` for a zero offset (§6.3).
fn mac_aad(lastmodified: &str) -> Result<String, CipherError> {
    let t = time_text::parse_rfc3339_dt(lastmodified).ok_or_else(|| CipherError::BadValue {
        path: "sops.lastmodified".into(),
        reason: "it is not an RFC 3339 timestamp".into(),
    })?;
    Ok(time_text::format_rfc3339_seconds(t))
}

/// Random IVs, fetched from the OS in batches.
struct IvPool {
    buf: [u8; 32 * 64],
    pos: usize,
}

impl IvPool {
    fn new() -> IvPool {
        IvPool {
            buf: [0; 32 * 64],
            pos: 32 * 64,
        }
    }

    fn next(&mut self) -> Result<[u8; 32], CipherError> {
        if self.pos >= self.buf.len() {
            getrandom::getrandom(&mut self.buf).map_err(|e| {
                CipherError::Encrypt(format!("the OS random number generator failed: {e}"))
            })?;
            self.pos = 0;
        }
        let mut iv = [0u8; 32];
        if let Some(src) = self.buf.get(self.pos..self.pos + 32) {
            iv.copy_from_slice(src);
        }
        self.pos += 32;
        Ok(iv)
    }
}

/// Encrypt `pt` and write the ENC value.
fn seal(
    gcm: &Gcm,
    pt: &[u8],
    aad: &[u8],
    iv: &[u8; 32],
    ty: ValueType,
    work: &mut Vec<u8>,
) -> Result<String, CipherError> {
    work.clear();
    work.extend_from_slice(pt);
    seal_in_place(gcm, aad, iv, ty, work)
}

/// Encrypt the plaintext in `work` and write the ENC value; `work` is zeroized after.
fn seal_in_place(
    gcm: &Gcm,
    aad: &[u8],
    iv: &[u8; 32],
    ty: ValueType,
    work: &mut Vec<u8>,
) -> Result<String, CipherError> {
    let tag = gcm
        .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, work)
        .map_err(|_| CipherError::Encrypt("AES-GCM encryption failed (value too large)".into()))?;
    let mut out = String::new();
    write_enc(&mut out, work, iv, &tag, ty);
    work.zeroize();
    Ok(out)
}

/// Decrypt `enc.data` in place. On failure the data is left untouched.
fn open(gcm: &Gcm, enc: &mut EncValue, aad: &[u8]) -> bool {
    gcm.decrypt_in_place_detached(
        GenericArray::from_slice(&enc.iv),
        aad,
        &mut enc.data,
        GenericArray::from_slice(&enc.tag),
    )
    .is_ok()
}

/// `a:b:` → `a.b`, the form paths are shown in messages.
fn display_path(aad: &str) -> String {
    let p = aad.strip_suffix(':').unwrap_or(aad);
    if p.is_empty() {
        "the top level".to_string()
    } else {
        p.replace(':', ".")
    }
}

fn aad_of(aad: &str) -> &str {
    if aad.is_empty() { ":" } else { aad }
}

fn mac_hex(h: Sha512) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let d = h.finalize();
    let mut s = String::with_capacity(128);
    for b in d {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Decrypt one ENC value under `aad` (the path string, e.g. `db:password:`).
pub fn decrypt_value(key: &DataKey, enc: &str, aad: &str) -> Result<Value, CipherError> {
    let path = display_path(aad);
    let mut v = EncValue::parse(enc).map_err(|reason| CipherError::BadValue {
        path: path.clone(),
        reason,
    })?;
    if !open(&key.cipher(), &mut v, aad.as_bytes()) {
        return Err(CipherError::Authentication { path });
    }
    let ty = v.value_type;
    parse_plaintext(std::mem::take(&mut v.data), ty)
        .map_err(|reason| CipherError::BadValue { path, reason })
}

/// One value for the encrypt walk's AES-GCM phase: the leaf still holds its plaintext, its
/// AAD is a range of the walk's arena, its IV was picked in document order.
struct EncJob<'t> {
    slot: &'t mut Value,
    aad: (usize, usize),
    iv: [u8; 32],
    err: Option<CipherError>,
}

/// One step of the decrypt walk, in document order: the AES-GCM work of the `Open` steps
/// runs in parallel, then the steps are applied in order (MAC, stash, first error).
enum DecStep<'t> {
    /// A leaf the rules leave in plaintext: hashed as it is.
    Hash(&'t Value),
    /// An encrypted leaf.
    Open(DecJob<'t>),
    /// An IV stash entry from a decrypted comment.
    Record((String, ValueType, Vec<u8>), [u8; 32]),
    /// The walk stopped here.
    Fail(CipherError),
    /// A step already applied (the MAC pass takes each step's contents).
    Applied,
}

/// What the IV stash keeps of a decrypted value: its type, plaintext and IV.
type StashRecord = (ValueType, Vec<u8>, [u8; 32]);

/// An encrypted leaf and, after the parallel phase, what became of it.
struct DecJob<'t> {
    slot: &'t mut Value,
    /// The raw path (`a:b:`, empty at the top level) in the walk's AAD arena.
    aad: (usize, usize),
    in_list: bool,
    done: Option<Result<Option<StashRecord>, CipherError>>,
}

/// State shared by the encrypt and decrypt walks. The walk itself runs on one thread in
/// document order; only the AES-GCM work of the collected jobs runs in parallel.
struct Walker<'a, 't> {
    gcm: Gcm,
    selector: &'a Selector,
    mac_only: bool,
    hasher: Sha512,
    /// The current path as AAD (`a:b:`; empty at the top level).
    aad: String,
    /// `aad.len()` before each component was pushed.
    starts: Vec<usize>,
    comments: CommentStack,
    scratch: Vec<u8>,
    work: Vec<u8>,
    ivs: IvPool,
    reuse: Option<&'a Stash>,
    used_ivs: HashSet<[u8; 32]>,
    record: Option<&'a mut Stash>,
    warnings: Vec<String>,
    /// Every job's path, one after the other.
    aads: String,
    /// Encrypted leaves the decrypt walk queued.
    opens: usize,
    enc_jobs: Vec<EncJob<'t>>,
    dec_steps: Vec<DecStep<'t>>,
}

impl<'a, 't> Walker<'a, 't> {
    fn new(key: &DataKey, rules: &WalkRules<'a>) -> Walker<'a, 't> {
        let mut hasher = Sha512::new();
        if rules.mac_only_encrypted {
            hasher.update(MAC_ONLY_ENCRYPTED_PREFIX);
        }
        Walker {
            gcm: key.cipher(),
            selector: rules.selector,
            mac_only: rules.mac_only_encrypted,
            hasher,
            aad: String::new(),
            starts: Vec::new(),
            comments: CommentStack::new(),
            scratch: Vec::new(),
            work: Vec::new(),
            ivs: IvPool::new(),
            reuse: None,
            used_ivs: HashSet::new(),
            record: None,
            warnings: Vec::new(),
            aads: String::new(),
            opens: 0,
            enc_jobs: Vec::new(),
            dec_steps: Vec::new(),
        }
    }

    fn enter(&mut self, key: &str) {
        self.starts.push(self.aad.len());
        self.aad.push_str(key);
        self.aad.push(':');
    }

    fn leave(&mut self) {
        if let Some(n) = self.starts.pop() {
            self.aad.truncate(n);
        }
    }

    fn path(&self) -> String {
        display_path(&self.aad)
    }

    /// Keep the current path for a job.
    fn stash_aad(&mut self) -> (usize, usize) {
        let start = self.aads.len();
        self.aads.push_str(&self.aad);
        (start, self.aads.len())
    }

    // ---------------------------------------------------------------- encrypt

    fn pick_iv(&mut self, pt: &[u8], ty: ValueType) -> Result<[u8; 32], CipherError> {
        if let Some(stash) = self.reuse {
            let key = (aad_of(&self.aad).to_string(), ty, pt.to_vec());
            if let Some(iv) = stash.0.get(&key)
                && self.used_ivs.insert(*iv)
            {
                return Ok(*iv);
            }
        }
        self.ivs.next()
    }

    fn encrypt_bytes(&mut self, pt: &[u8], ty: ValueType) -> Result<String, CipherError> {
        let iv = self.pick_iv(pt, ty)?;
        seal(
            &self.gcm,
            pt,
            aad_of(&self.aad).as_bytes(),
            &iv,
            ty,
            &mut self.work,
        )
    }

    fn enc_branch(&mut self, b: &'t mut Branch, matched: bool) -> Result<(), CipherError> {
        self.comments.push_level();
        for item in &mut b.items {
            match item {
                Item::Comment(text) => self.enc_comment(text, matched)?,
                Item::Pair(k, v) => {
                    let m = matched || self.selector.key_matches(k);
                    self.enter(k);
                    self.enc_value(v, m)?;
                    self.leave();
                    self.comments.clear_level();
                }
            }
        }
        self.comments.pop_level();
        Ok(())
    }

    fn enc_comment(&mut self, text: &mut String, matched: bool) -> Result<(), CipherError> {
        self.comments
            .add_comment(self.selector.comment_matches(text));
        if text.is_empty() || !self.selector.should_encrypt(matched, &self.comments, true) {
            return Ok(());
        }
        let enc = self.encrypt_bytes(text.as_bytes(), ValueType::Comment)?;
        if let Selector::UnencryptedCommentRegex(p) = self.selector
            && p.regex.is_match(&enc)
        {
            return Err(CipherError::Encrypt(format!(
                "the encrypted form of a comment at {} matches unencrypted_comment_regex, \
                 so it could not be decrypted; change the regex",
                self.path()
            )));
        }
        *text = enc;
        Ok(())
    }

    fn enc_value(&mut self, v: &'t mut Value, matched: bool) -> Result<(), CipherError> {
        match v {
            Value::Branch(b) => self.enc_branch(b, matched),
            Value::List(items) => {
                self.comments.push_level();
                for item in items.iter_mut() {
                    if let Value::Comment(text) = item {
                        self.enc_comment(text, matched)?;
                    } else {
                        self.enc_value(item, matched)?;
                        self.comments.clear_level();
                    }
                }
                self.comments.pop_level();
                Ok(())
            }
            Value::Null => Ok(()),
            Value::Comment(_) => Err(CipherError::Encrypt(format!(
                "the value at {} is a comment, which only lists can hold",
                self.path()
            ))),
            _ => self.enc_leaf(v, matched),
        }
    }

    /// Hash the leaf's plaintext and, when the rules encrypt it, pick its IV and queue it.
    fn enc_leaf(&mut self, v: &'t mut Value, matched: bool) -> Result<(), CipherError> {
        let encrypt = self.selector.should_encrypt(matched, &self.comments, false);
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let result = match serialize_into(v, &mut buf) {
            // An empty string: nothing to encrypt, nothing to hash.
            None => Ok(()),
            Some(ty) => {
                if encrypt || !self.mac_only {
                    self.hasher.update(&buf);
                }
                if encrypt {
                    self.pick_iv(&buf, ty).map(|iv| {
                        let aad = self.stash_aad();
                        self.enc_jobs.push(EncJob {
                            slot: v,
                            aad,
                            iv,
                            err: None,
                        });
                    })
                } else {
                    Ok(())
                }
            }
        };
        buf.zeroize();
        self.scratch = buf;
        result
    }

    /// Encrypt every queued value (on every core for big files) and put the ENC values in
    /// place. The first failure in document order is returned.
    fn run_enc_jobs(&mut self, threads: usize) -> Result<(), CipherError> {
        let (gcm, aads) = (&self.gcm, self.aads.as_str());
        let mut jobs = std::mem::take(&mut self.enc_jobs);
        par::for_each(&mut jobs, threads, |job, work| {
            let aad = aad_of(aads.get(job.aad.0..job.aad.1).unwrap_or_default());
            work.clear();
            // The leaf still holds the plaintext the walk hashed (queued leaves are never
            // empty, so there is always a type).
            let Some(ty) = serialize_into(job.slot, work) else {
                return;
            };
            match seal_in_place(gcm, aad.as_bytes(), &job.iv, ty, work) {
                Ok(enc) => *job.slot = Value::Str(enc),
                Err(e) => job.err = Some(e),
            }
        });
        match jobs.into_iter().find_map(|j| j.err) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // ---------------------------------------------------------------- decrypt

    fn dec_branch(&mut self, b: &'t mut Branch, matched: bool) -> Result<(), CipherError> {
        self.comments.push_level();
        for item in &mut b.items {
            match item {
                Item::Comment(text) => {
                    self.dec_comment(text, matched);
                }
                Item::Pair(k, v) => {
                    let m = matched || self.selector.key_matches(k);
                    self.enter(k);
                    self.dec_value(v, m, false)?;
                    self.leave();
                    self.comments.clear_level();
                }
            }
        }
        self.comments.pop_level();
        Ok(())
    }

    /// Decrypt a comment in place if the rules say it is encrypted. Never fatal: a comment
    /// that does not decrypt is kept as is with a warning. Returns whether it was decrypted.
    fn dec_comment(&mut self, text: &mut String, matched: bool) -> bool {
        self.comments
            .add_comment(self.selector.comment_matches(text));
        if text.is_empty() || !self.selector.should_encrypt(matched, &self.comments, true) {
            return false;
        }
        if !is_enc_value(text) {
            self.warnings.push(format!(
                "found a possibly unencrypted comment at {}; kept as is",
                self.path()
            ));
            return false;
        }
        let mut enc = match EncValue::parse(text) {
            Ok(e) if e.value_type == ValueType::Comment => e,
            Ok(_) => {
                self.warnings.push(format!(
                    "an encrypted comment at {} is not of type comment; kept as is",
                    self.path()
                ));
                return false;
            }
            Err(reason) => {
                self.warnings.push(format!(
                    "an encrypted comment at {} is malformed ({reason}); kept as is",
                    self.path()
                ));
                return false;
            }
        };
        // The comment's own path first, then every shorter prefix down to the top level:
        // comments can end up one level away from where they were encrypted.
        let opened = std::iter::once(self.aad.len())
            .chain(self.starts.iter().rev().copied())
            .map(|n| aad_of(self.aad.get(..n).unwrap_or("")))
            .find(|aad| open(&self.gcm, &mut enc, aad.as_bytes()))
            .map(str::to_string);
        let Some(aad) = opened else {
            self.warnings.push(format!(
                "a comment at {} could not be decrypted; kept as is",
                self.path()
            ));
            return false;
        };
        match String::from_utf8(std::mem::take(&mut enc.data)) {
            Ok(plain) => {
                if self.record.is_some() {
                    // Recorded in document order with the values (first occurrence wins).
                    self.dec_steps.push(DecStep::Record(
                        (aad, ValueType::Comment, plain.as_bytes().to_vec()),
                        enc.iv,
                    ));
                }
                *text = plain;
                true
            }
            Err(e) => {
                e.into_bytes().zeroize();
                self.warnings.push(format!(
                    "a comment at {} decrypted to invalid UTF-8; kept as is",
                    self.path()
                ));
                false
            }
        }
    }

    fn dec_value(
        &mut self,
        v: &'t mut Value,
        matched: bool,
        in_list: bool,
    ) -> Result<(), CipherError> {
        match v {
            Value::Branch(b) => self.dec_branch(b, matched),
            Value::List(items) => {
                self.comments.push_level();
                for item in items.iter_mut() {
                    match item {
                        Value::Comment(text) => {
                            self.dec_comment(text, matched);
                        }
                        // sops writes encrypted list comments as plain list items.
                        Value::Str(s) if is_enc_value(s) && s.ends_with(",type:comment]") => {
                            let mut text = std::mem::take(s);
                            if self.dec_comment(&mut text, matched) {
                                *item = Value::Comment(text);
                            } else {
                                *s = text;
                            }
                        }
                        _ => {
                            self.dec_value(item, matched, true)?;
                            self.comments.clear_level();
                        }
                    }
                }
                self.comments.pop_level();
                Ok(())
            }
            Value::Null => Ok(()),
            Value::Comment(_) => Err(CipherError::BadValue {
                path: self.path(),
                reason: "a comment can only appear in a list".into(),
            }),
            _ => self.dec_leaf(v, matched, in_list),
        }
    }

    /// Queue the leaf: hashed as it is when the rules leave it in plaintext, opened in the
    /// parallel phase when they encrypt it.
    fn dec_leaf(
        &mut self,
        v: &'t mut Value,
        matched: bool,
        in_list: bool,
    ) -> Result<(), CipherError> {
        let selected = self.selector.should_encrypt(matched, &self.comments, false);
        if !selected {
            if !self.mac_only {
                self.dec_steps.push(DecStep::Hash(v));
            }
            return Ok(());
        }
        match &*v {
            // An empty string is accepted wherever an encrypted value is expected.
            Value::Str(s) if s.is_empty() => return Ok(()),
            Value::Str(_) => {}
            Value::Bytes(_) => {
                return Err(CipherError::BadValue {
                    path: self.path(),
                    reason: "expected an encrypted value, found plaintext".into(),
                });
            }
            other => {
                let kind =
                    serialize_into(other, &mut Vec::new()).map_or("value", ValueType::as_str);
                return Err(CipherError::BadValue {
                    path: self.path(),
                    reason: format!("expected an encrypted value, found a plaintext {kind}"),
                });
            }
        }
        let aad = self.stash_aad();
        self.opens += 1;
        self.dec_steps.push(DecStep::Open(DecJob {
            slot: v,
            aad,
            in_list,
            done: None,
        }));
        Ok(())
    }

    /// Open every queued value (on every core for big files) and apply the steps in
    /// document order, each as soon as it and the steps before it are open, so the MAC
    /// is hashed beside the AES-GCM work: the MAC, the stash and the first error are
    /// those of a sequential walk. `stopped` is the error that ended the walk, if any, reported after every
    /// failure before it.
    fn run_dec_steps(
        &mut self,
        threads: usize,
        stopped: Option<CipherError>,
    ) -> Result<(), CipherError> {
        let mut steps = std::mem::take(&mut self.dec_steps);
        if let Some(e) = stopped {
            steps.push(DecStep::Fail(e));
        }
        let aads = std::mem::take(&mut self.aads);
        let (gcm, aads, record) = (&self.gcm, aads.as_str(), self.record.is_some());
        let (hasher, scratch, stash) = (&mut self.hasher, &mut self.scratch, &mut self.record);
        par::for_each_then(
            &mut steps,
            threads,
            |step, _| {
                if let DecStep::Open(job) = step {
                    let raw = aads.get(job.aad.0..job.aad.1).unwrap_or_default();
                    job.done = Some(open_leaf(gcm, job.slot, raw, job.in_list, record));
                }
            },
            |step| {
                match std::mem::replace(step, DecStep::Applied) {
                    DecStep::Hash(v) => hash_value(hasher, scratch, v),
                    DecStep::Open(job) => {
                        let Some(done) = job.done else {
                            return Err(CipherError::Authentication {
                                path: display_path(aads.get(job.aad.0..job.aad.1).unwrap_or("")),
                            });
                        };
                        if let Some((ty, data, iv)) = done?
                            && let Some(stash) = stash.as_deref_mut()
                        {
                            // The first occurrence wins, so it keeps its exact ciphertext.
                            let aad = aad_of(aads.get(job.aad.0..job.aad.1).unwrap_or(""));
                            stash.0.entry((aad.to_string(), ty, data)).or_insert(iv);
                        }
                        // The MAC covers the re-serialised value, not the raw plaintext (§2.3).
                        hash_value(hasher, scratch, job.slot);
                    }
                    DecStep::Record(key, iv) => {
                        if let Some(stash) = stash.as_deref_mut() {
                            stash.0.entry(key).or_insert(iv);
                        }
                    }
                    DecStep::Fail(e) => return Err(e),
                    DecStep::Applied => {}
                }
                Ok(())
            },
        )
    }
}

/// Feed a leaf's serialisation to the MAC (comments and nulls contribute nothing).
fn hash_value(hasher: &mut Sha512, scratch: &mut Vec<u8>, v: &Value) {
    if matches!(v, Value::Comment(_)) {
        return;
    }
    match v {
        Value::Str(s) => hasher.update(s.as_bytes()),
        Value::Bytes(b) => hasher.update(b),
        _ => {
            let mut buf = std::mem::take(scratch);
            buf.clear();
            if serialize_into(v, &mut buf).is_some() {
                hasher.update(&buf);
            }
            *scratch = buf;
        }
    }
}

/// Open one encrypted leaf in place (`raw_aad` is its path, empty at the top level).
/// Returns what the IV stash needs when `record` is set.
fn open_leaf(
    gcm: &Gcm,
    slot: &mut Value,
    raw_aad: &str,
    in_list: bool,
    record: bool,
) -> Result<Option<StashRecord>, CipherError> {
    let Value::Str(s) = &*slot else {
        return Err(CipherError::BadValue {
            path: display_path(raw_aad),
            reason: "expected an encrypted value, found plaintext".into(),
        });
    };
    let mut enc = EncValue::parse(s).map_err(|reason| CipherError::BadValue {
        path: display_path(raw_aad),
        reason,
    })?;
    if !open(gcm, &mut enc, aad_of(raw_aad).as_bytes()) {
        return Err(CipherError::Authentication {
            path: display_path(raw_aad),
        });
    }
    let ty = enc.value_type;
    let rec = record.then(|| (ty, enc.data.clone(), enc.iv));
    let plain = std::mem::take(&mut enc.data);
    let new = parse_plaintext(plain, ty).map_err(|reason| CipherError::BadValue {
        path: display_path(raw_aad),
        reason,
    })?;
    if matches!(new, Value::Comment(_)) && !in_list {
        return Err(CipherError::BadValue {
            path: display_path(raw_aad),
            reason: "a value of type comment can only appear in a list".into(),
        });
    }
    *slot = new;
    Ok(rec)
}

/// Encrypt every selected leaf of `docs` in place; returns the MAC (uppercase hex) over the
/// plaintext. Empty strings and nulls stay as they are. IVs come from `stash` when it has
/// the same (path, type, plaintext), else from the OS RNG. Big files are encrypted on every
/// core; the result is the same as on one.
pub fn encrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    rules: &WalkRules<'_>,
    stash: Option<&Stash>,
) -> Result<String, CipherError> {
    encrypt_docs_on(docs, key, rules, stash, None)
}

/// [`encrypt_docs`] on `threads` threads (`None`: as many as pay off).
fn encrypt_docs_on(
    docs: &mut [Branch],
    key: &DataKey,
    rules: &WalkRules<'_>,
    stash: Option<&Stash>,
    threads: Option<usize>,
) -> Result<String, CipherError> {
    let mut w = Walker::new(key, rules);
    w.reuse = stash;
    for doc in docs.iter_mut() {
        w.enc_branch(doc, false)?;
    }
    let threads = threads.unwrap_or_else(|| par::threads_for(w.enc_jobs.len()));
    w.run_enc_jobs(threads)?;
    Ok(mac_hex(w.hasher))
}

/// Decrypt every selected leaf of `docs` in place and recompute the MAC. When `stash` is
/// given, record each decrypted value's IV in it. Big files are decrypted on every core;
/// the result (tree, MAC, stash, first error) is the same as on one.
pub fn decrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    rules: &WalkRules<'_>,
    stash: Option<&mut Stash>,
) -> Result<Decrypted, CipherError> {
    decrypt_docs_on(docs, key, rules, stash, None)
}

/// [`decrypt_docs`] on `threads` threads (`None`: as many as pay off).
fn decrypt_docs_on(
    docs: &mut [Branch],
    key: &DataKey,
    rules: &WalkRules<'_>,
    stash: Option<&mut Stash>,
    threads: Option<usize>,
) -> Result<Decrypted, CipherError> {
    let mut w = Walker::new(key, rules);
    w.record = stash;
    let mut stopped = None;
    for doc in docs.iter_mut() {
        if let Err(e) = w.dec_branch(doc, false) {
            stopped = Some(e);
            break;
        }
    }
    let threads = threads.unwrap_or_else(|| par::threads_for(w.opens));
    w.run_dec_steps(threads, stopped)?;
    Ok(Decrypted {
        mac: mac_hex(w.hasher),
        warnings: w.warnings,
    })
}

/// Encrypt the MAC string with `lastmodified` (re-formatted per §6.3) as AAD.
pub fn encrypt_mac(key: &DataKey, mac: &str, lastmodified: &str) -> Result<String, CipherError> {
    let aad = mac_aad(lastmodified)?;
    let iv = IvPool::new().next()?;
    seal(
        &key.cipher(),
        mac.as_bytes(),
        aad.as_bytes(),
        &iv,
        ValueType::Str,
        &mut Vec::new(),
    )
}

/// Decrypt the stored MAC with `lastmodified` (re-formatted per §6.3) as AAD. Any failure
/// to obtain the MAC (malformed, tampered, wrong key) is [`CipherError::MacUndecryptable`].
pub fn decrypt_mac(key: &DataKey, enc: &str, lastmodified: &str) -> Result<String, CipherError> {
    let aad = mac_aad(lastmodified)?;
    let mut v = EncValue::parse(enc).map_err(|_| CipherError::MacUndecryptable)?;
    if v.value_type != ValueType::Str || !open(&key.cipher(), &mut v, aad.as_bytes()) {
        return Err(CipherError::MacUndecryptable);
    }
    String::from_utf8(v.data).map_err(|_| CipherError::MacUndecryptable)
}

/// Errors of the cipher layer.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// A value that should be encrypted is not an ENC value, or the ENC value is malformed
    /// (bad base64, wrong IV/tag length, unknown type). sops exit 25.
    #[error("the value at {path} is not a valid sops encrypted value: {reason}")]
    BadValue {
        /// The value's path, `a:b:` form without the trailing colon shown as `a.b`.
        path: String,
        /// What is wrong, never the value itself.
        reason: String,
    },
    /// AES-GCM authentication failed for a value (tampered, moved, or wrong key). Exit 25.
    #[error(
        "the value at {path} failed authentication: it was changed, moved from another key, or encrypted with another data key"
    )]
    Authentication {
        /// The value's path.
        path: String,
    },
    /// The tree cannot be encrypted (non-string key, unsupported value). Exit 23.
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
    /// The stored MAC cannot be decrypted (tampered MAC or lastmodified). Exit 51.
    #[error("the file's MAC cannot be decrypted: the mac or lastmodified field was changed")]
    MacUndecryptable,
    /// The MAC does not match the content. Exit 51.
    #[error(
        "MAC mismatch: the file's content does not match its MAC (a value was added, removed, reordered or changed)"
    )]
    MacMismatch,
    /// Bad data key length etc.
    #[error("invalid data key: {0}")]
    Key(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Pattern;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    fn pair(k: &str, v: Value) -> Item {
        Item::Pair(k.to_string(), v)
    }
    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }
    fn c(x: &str) -> Item {
        Item::Comment(x.to_string())
    }
    fn br(items: Vec<Item>) -> Value {
        Value::Branch(Branch { items })
    }
    fn sel(field: &str, v: &str) -> Selector {
        Selector::from_field(field, v).unwrap()
    }
    fn rules(selector: &Selector) -> WalkRules<'_> {
        WalkRules {
            selector,
            mac_only_encrypted: false,
        }
    }

    // ------------------------------------------------ sops-format.md §17 worked example

    const KEY17: &str = "654c89c701200b32bf9cd17afa123a69ece46382439c2647a18f81bd353d7973";
    const MAC17: &str = "44F3C5CA839B2FE115B812A47A4501F3E658E47B6C757CAEA9F71183038045E2F6239C08174B8F0A991F61185164EAEF25FD42A7185076EBC3EA9B0A1F0463A9";
    const ENC_MAC17: &str = "ENC[AES256_GCM,data:NpVGT2WU0/2pL9y0zy8jxIDoj2byDR/u0EP3Jyh2vKcxk+jrEAQQBoJBKX8PlnyvOFs9JS24WvylFfOUEVxvQdMdUMjoD+hDnYbNYAp5dE0aAwXhl8PMYDM4e6DFRxoBvYH4Ge4cEVXSZNqzko7WonIdoc3dl7wliXGNbF8C5oA=,iv:rdpnZWsKcT18qqzlOCzhF8UNAWP5eWFrP6J6s3jcDSs=,tag:SXsl4U0VZSdrizkdOkBOQA==,type:str]";

    fn key17() -> DataKey {
        DataKey::from_slice(&hex(KEY17)).unwrap()
    }

    fn plain17() -> Vec<Branch> {
        vec![Branch {
            items: vec![
                c(" database settings"),
                pair(
                    "db",
                    br(vec![
                        pair("user", s("admin")),
                        pair("password", s("hunter2")),
                        pair("port", Value::Int(5432)),
                        pair("ratio", Value::Float(0.5)),
                        pair("enabled", Value::Bool(true)),
                        pair("hosts", Value::List(vec![s("a.example"), s("b.example")])),
                        pair("note", s("")),
                        pair("owner_unencrypted", s("team-a")),
                    ]),
                ),
            ],
        }]
    }

    fn enc17() -> Vec<Branch> {
        vec![Branch {
            items: vec![
                c(
                    "ENC[AES256_GCM,data:9vXFl4En+n+u2aWGqJ87yd5u,iv:PxnDdsfcIJJQTZokOCs/dnu8b9ijj+xrw9iy0Tug0fk=,tag:l595DLOM5cRD4YXKwVFdDg==,type:comment]",
                ),
                pair(
                    "db",
                    br(vec![
                        pair(
                            "user",
                            s(
                                "ENC[AES256_GCM,data:T6EMb9E=,iv:0D8DG2PQjqsxteeJijZs7x+opDdtZd1Eh7bLUqqa+T0=,tag:Agd7pl5J/OkivPIqAxAtAQ==,type:str]",
                            ),
                        ),
                        pair(
                            "password",
                            s(
                                "ENC[AES256_GCM,data:lIX+7Lc6PA==,iv:pfXkY8UMIN1hq3b3Q0xzNIgrbtuox2s9LknPGzv5Nns=,tag:maYlE9s+bpjk85aTK3ZIag==,type:str]",
                            ),
                        ),
                        pair(
                            "port",
                            s(
                                "ENC[AES256_GCM,data:gTZ+hA==,iv:w3sgvfIt/RqC3gkeD0n/otlhl7GTTDzsSbON/8afSVo=,tag:iN7JIQnqYywoVMOcr2oBtA==,type:int]",
                            ),
                        ),
                        pair(
                            "ratio",
                            s(
                                "ENC[AES256_GCM,data:WbIH,iv:zCOaYFxRmLAKAkt/vPtbl0KmBzgAXrrG4B66xIIBhDs=,tag:N8+fGXmGhEtMObscZfY6nQ==,type:float]",
                            ),
                        ),
                        pair(
                            "enabled",
                            s(
                                "ENC[AES256_GCM,data:V8uKjA==,iv:qbEkykzaTrREgIZzbHXjjbKwL/F+Ow2EkrfCIlSpMfo=,tag:X/edJ+RO7mrNQEyqwe1smA==,type:bool]",
                            ),
                        ),
                        pair(
                            "hosts",
                            Value::List(vec![
                                s(
                                    "ENC[AES256_GCM,data:odi93vucUZA5,iv:STvL2ypXjkF5sa1/TlC3LA/7DE5k7OpX2lzucGKaRWw=,tag:q527Z7ErWyxxnfWd/bn/nQ==,type:str]",
                                ),
                                s(
                                    "ENC[AES256_GCM,data:7AK49OcooHgi,iv:nAxES7ysiUgKtOuCMOs9ME/MU5UA2qZ8k2bIK7NMKAw=,tag:2P3+aP2LB7gfOk5GMnq4nA==,type:str]",
                                ),
                            ]),
                        ),
                        pair("note", s("")),
                        pair("owner_unencrypted", s("team-a")),
                    ]),
                ),
            ],
        }]
    }

    /// Every string leaf and comment of `docs`, in walk order, mutably.
    fn strings_mut(docs: &mut [Branch]) -> Vec<&mut String> {
        fn value<'a>(v: &'a mut Value, out: &mut Vec<&'a mut String>) {
            match v {
                Value::Branch(b) => branch(b, out),
                Value::List(items) => items.iter_mut().for_each(|i| value(i, out)),
                Value::Str(s) | Value::Comment(s) => out.push(s),
                _ => {}
            }
        }
        fn branch<'a>(b: &'a mut Branch, out: &mut Vec<&'a mut String>) {
            for item in &mut b.items {
                match item {
                    Item::Comment(s) => out.push(s),
                    Item::Pair(_, v) => value(v, out),
                }
            }
        }
        let mut out = Vec::new();
        docs.iter_mut().for_each(|d| branch(d, &mut out));
        out
    }

    /// `E` for every ENC value or comment, `P` for every other non-null leaf or comment.
    fn shape(docs: &[Branch]) -> String {
        fn value(v: &Value, out: &mut String) {
            match v {
                Value::Branch(b) => branch(b, out),
                Value::List(items) => items.iter().for_each(|i| value(i, out)),
                Value::Null => {}
                Value::Str(s) | Value::Comment(s) if is_enc_value(s) => out.push('E'),
                _ => out.push('P'),
            }
        }
        fn branch(b: &Branch, out: &mut String) {
            for item in &b.items {
                match item {
                    Item::Comment(s) => out.push(if is_enc_value(s) { 'E' } else { 'P' }),
                    Item::Pair(_, v) => value(v, out),
                }
            }
        }
        let mut out = String::new();
        docs.iter().for_each(|d| branch(d, &mut out));
        out
    }

    #[test]
    fn crates_md_fixed_vector() {
        let key: Vec<u8> = (0u8..32).collect();
        let iv: [u8; 32] = core::array::from_fn(|i| 32 + i as u8);
        let key = DataKey::from_slice(&key).unwrap();
        let enc = seal(
            &key.cipher(),
            b"hunter2",
            b"data:password:",
            &iv,
            ValueType::Str,
            &mut Vec::new(),
        )
        .unwrap();
        let parsed = EncValue::parse(&enc).unwrap();
        let mut ct_tag = parsed.data.clone();
        ct_tag.extend_from_slice(&parsed.tag);
        assert_eq!(
            ct_tag,
            hex("7fb49f3ce87de42cf5720da9b028b12bb47551258ac1ff")
        );
        assert_eq!(parsed.iv, iv);
        assert_eq!(
            decrypt_value(&key, &enc, "data:password:").unwrap(),
            s("hunter2")
        );
        assert!(matches!(
            decrypt_value(&key, &enc, "data:username:"),
            Err(CipherError::Authentication { .. })
        ));
    }

    #[test]
    fn worked_example_plaintexts_and_mac_input() {
        let input = b"adminhunter254320.5Truea.exampleb.exampleteam-a";
        assert_eq!(input.len(), 47);
        assert_eq!(mac_hex(Sha512::new_with_prefix(input)), MAC17);
        assert_eq!(
            serialize_leaf(&Value::Int(5432)),
            Some((b"5432".to_vec(), ValueType::Int))
        );
        assert_eq!(
            serialize_leaf(&Value::Float(0.5)),
            Some((b"0.5".to_vec(), ValueType::Float))
        );
        assert_eq!(
            serialize_leaf(&Value::Bool(true)),
            Some((b"True".to_vec(), ValueType::Bool))
        );
        assert_eq!(serialize_leaf(&s("")), None);
        assert_eq!(
            MAC_ONLY_ENCRYPTED_PREFIX.as_slice(),
            sha2::Sha256::digest(b"sops").as_slice()
        );
    }

    #[test]
    fn worked_example_encrypts_with_the_documented_paths_and_mac() {
        let key = key17();
        let selector = Selector::default();
        let mut docs = plain17();
        let mac = encrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        assert_eq!(mac, MAC17);
        assert_eq!(shape(&docs), "EEEEEEEEPP");
        let mut strings = strings_mut(&mut docs);
        let enc: Vec<String> = strings.iter_mut().map(|s| s.to_string()).collect();
        let expect: [(&str, Value); 8] = [
            (":", Value::Comment(" database settings".into())),
            ("db:user:", s("admin")),
            ("db:password:", s("hunter2")),
            ("db:port:", Value::Int(5432)),
            ("db:ratio:", Value::Float(0.5)),
            ("db:enabled:", Value::Bool(true)),
            ("db:hosts:", s("a.example")),
            ("db:hosts:", s("b.example")),
        ];
        for (i, (aad, value)) in expect.iter().enumerate() {
            assert_eq!(&decrypt_value(&key, &enc[i], aad).unwrap(), value, "{aad}");
            assert!(decrypt_value(&key, &enc[i], "db:").is_err());
        }
        assert_eq!(enc[8], "");
        assert_eq!(enc[9], "team-a");
        // The MAC round-trips through its own encryption.
        let stored = encrypt_mac(&key, &mac, "2026-11-25T16:50:19Z").unwrap();
        assert_eq!(
            decrypt_mac(&key, &stored, "2026-11-25T16:50:19Z").unwrap(),
            mac
        );
    }

    #[test]
    fn worked_example_decrypts_real_sops_output() {
        let key = key17();
        let selector = Selector::default();
        let mut docs = enc17();
        let out = decrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        assert_eq!(docs, plain17());
        assert_eq!(out.mac, MAC17);
        assert!(out.warnings.is_empty());
        assert_eq!(
            decrypt_mac(&key, ENC_MAC17, "2026-11-25T16:50:19Z").unwrap(),
            MAC17
        );
        // lastmodified is re-formatted before use as AAD.
        assert_eq!(
            decrypt_mac(&key, ENC_MAC17, "2026-11-25T16:50:19.9+00:00").unwrap(),
            MAC17
        );
        assert!(matches!(
            decrypt_mac(&key, ENC_MAC17, "2026-11-25T16:50:20Z"),
            Err(CipherError::MacUndecryptable)
        ));
        assert!(matches!(
            decrypt_mac(&key, ENC_MAC17, "yesterday"),
            Err(CipherError::BadValue { .. })
        ));
        let other = DataKey::from_slice(&[7u8; 32]).unwrap();
        assert!(matches!(
            decrypt_mac(&other, ENC_MAC17, "2026-11-25T16:50:19Z"),
            Err(CipherError::MacUndecryptable)
        ));
    }

    #[test]
    fn swapped_values_fail_authentication() {
        let selector = Selector::default();
        let mut docs = enc17();
        {
            let mut strings = strings_mut(&mut docs);
            let user = strings[1].clone();
            let password = strings[2].clone();
            *strings[1] = password;
            *strings[2] = user;
        }
        let err = decrypt_docs(&mut docs, &key17(), &rules(&selector), None).unwrap_err();
        assert!(
            matches!(&err, CipherError::Authentication { path } if path == "db.user"),
            "{err}"
        );
        assert!(err.to_string().contains("db.user"));
    }

    #[test]
    fn reordered_values_change_the_mac() {
        let selector = Selector::default();
        let mut docs = plain17();
        if let Some(Item::Pair(_, Value::Branch(b))) = docs[0].items.get_mut(1) {
            b.items.swap(2, 3);
        }
        let mac = encrypt_docs(&mut docs, &key17(), &rules(&selector), None).unwrap();
        assert_ne!(mac, MAC17);
    }

    #[test]
    fn decrypt_errors_name_the_path_never_the_value() {
        let key = key17();
        let selector = Selector::default();
        let cases: Vec<(Value, &str)> = vec![
            (s("s3cr3t-plain"), "found plaintext"),
            (Value::Int(5), "plaintext int"),
            (Value::Bool(true), "plaintext bool"),
            (Value::Bytes(vec![0xff, 0x00]), "found plaintext"),
            (
                s(
                    "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]",
                ),
                "iv must be 32 bytes",
            ),
            (
                s(
                    "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAA,type:str]",
                ),
                "tag must be 16 bytes",
            ),
            (
                s(
                    "ENC[AES256_GCM,data:A!AA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]",
                ),
                "not valid base64",
            ),
            (
                s(
                    "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:blob]",
                ),
                "unknown datatype",
            ),
            (s("ENC[AES256_GCM,nonsense]"), "malformed"),
        ];
        for (value, reason) in cases {
            let mut docs = vec![Branch {
                items: vec![pair("db", br(vec![pair("password", value)]))],
            }];
            let err = decrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, CipherError::BadValue { ref path, .. } if path == "db.password"),
                "{msg}"
            );
            assert!(msg.contains(reason), "{msg}");
            assert!(!msg.contains("s3cr3t"), "{msg}");
        }
        // Unselected plaintext and empty strings are fine.
        let mut docs = vec![Branch {
            items: vec![
                pair("a_unencrypted", Value::Int(5)),
                pair("b", s("")),
                pair("n", Value::Null),
            ],
        }];
        assert!(decrypt_docs(&mut docs, &key, &rules(&selector), None).is_ok());
    }

    #[test]
    fn tampered_value_is_an_authentication_error() {
        let selector = Selector::default();
        let mut docs = enc17();
        {
            let mut strings = strings_mut(&mut docs);
            *strings[2] = strings[2].replacen("data:lIX", "data:lIY", 1);
        }
        let err = decrypt_docs(&mut docs, &key17(), &rules(&selector), None).unwrap_err();
        assert!(matches!(&err, CipherError::Authentication { path } if path == "db.password"));
    }

    #[test]
    fn base64_trailing_bits_are_ignored_like_go() {
        // `G6U=` and `G6V=` decode to the same bytes.
        assert_eq!(B64.decode("G6U=").unwrap(), B64.decode("G6V=").unwrap());
        let mut docs = enc17();
        {
            let mut strings = strings_mut(&mut docs);
            // user's iv ends in `+T0=`; `T`→`U` only changes the 2 unused bits.
            *strings[1] = strings[1].replacen("+T0=", "+T1=", 1);
        }
        let selector = Selector::default();
        let out = decrypt_docs(&mut docs, &key17(), &rules(&selector), None).unwrap();
        assert_eq!(out.mac, MAC17);
    }

    #[test]
    fn enc_parse_follows_the_sops_regex() {
        let v = "ENC[AES256_GCM,data:T6EMb9E=,iv:0D8DG2PQjqsxteeJijZs7x+opDdtZd1Eh7bLUqqa+T0=,tag:Agd7pl5J/OkivPIqAxAtAQ==,type:str]";
        let parsed = EncValue::parse(v).unwrap();
        assert_eq!(parsed.to_string(), v);
        assert_eq!(parsed.value_type, ValueType::Str);
        // Anchored at the start only: trailing text after the last `]` is ignored.
        assert_eq!(EncValue::parse(&format!("{v} trailing")).unwrap(), parsed);
        assert!(EncValue::parse(&format!(" {v}")).is_err());
        assert!(EncValue::parse("ENC[AES256_GCM,data:,iv:,tag:,type:str]").is_err());
    }

    #[test]
    fn plaintexts_parse_like_go() {
        let p = |b: &str, t| parse_plaintext(b.as_bytes().to_vec(), t);
        assert_eq!(p("007", ValueType::Int).unwrap(), Value::Int(7));
        assert_eq!(p("-12", ValueType::Int).unwrap(), Value::Int(-12));
        assert_eq!(p("+12", ValueType::Int).unwrap(), Value::Int(12));
        assert!(p("1_000", ValueType::Int).is_err());
        assert!(p("9223372036854775808", ValueType::Int).is_err());
        assert!(p("", ValueType::Int).is_err());
        let f = |x: &str| match p(x, ValueType::Float) {
            Ok(Value::Float(v)) => Some(v),
            _ => None,
        };
        assert_eq!(f("0.5"), Some(0.5));
        assert_eq!(f("150000000000000000000"), Some(1.5e20));
        assert_eq!(f("1e3"), Some(1000.0));
        assert_eq!(f(".5"), Some(0.5));
        assert_eq!(f("+Inf"), Some(f64::INFINITY));
        assert_eq!(f("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(f("infinity"), Some(f64::INFINITY));
        assert!(f("NaN").is_some_and(f64::is_nan));
        assert!(f("nan").is_some_and(f64::is_nan));
        assert_eq!(f("+nan"), None);
        assert_eq!(f("1e400"), None);
        assert_eq!(f("1_000.5"), Some(1000.5));
        assert_eq!(f("_1"), None);
        assert_eq!(f("1__0"), None);
        assert_eq!(f("0x1p-2"), Some(0.25));
        assert_eq!(f("0x1.8p1"), Some(3.0));
        assert_eq!(f("0x1"), None);
        assert_eq!(f("1.5f"), None);
        assert_eq!(f(""), None);
        assert_eq!(f("-0"), Some(-0.0));
        for (t, v) in [
            ("1", true),
            ("t", true),
            ("TRUE", true),
            ("True", true),
            ("0", false),
            ("F", false),
            ("false", false),
        ] {
            assert_eq!(p(t, ValueType::Bool).unwrap(), Value::Bool(v));
        }
        assert!(p("yes", ValueType::Bool).is_err());
        assert_eq!(
            p("2024-01-02T03:04:05.50+00:00", ValueType::Time).unwrap(),
            Value::Time(Timestamp("2024-01-02T03:04:05.5Z".into()))
        );
        assert!(p("2024-01-02", ValueType::Time).is_err());
        assert_eq!(
            parse_plaintext(vec![0xff, 1], ValueType::Str).unwrap(),
            Value::Bytes(vec![0xff, 1])
        );
        assert_eq!(
            parse_plaintext(vec![0xff], ValueType::Bytes).unwrap(),
            Value::Bytes(vec![0xff])
        );
        assert_eq!(
            p(" c", ValueType::Comment).unwrap(),
            Value::Comment(" c".into())
        );
        assert!(parse_plaintext(vec![0xff], ValueType::Comment).is_err());
    }

    #[test]
    fn non_canonical_plaintext_is_hashed_in_canonical_form() {
        // §2.3: a `type:int` plaintext `007` is hashed as `7`.
        let key = key17();
        let iv = [9u8; 32];
        let enc = seal(
            &key.cipher(),
            b"007",
            b"n:",
            &iv,
            ValueType::Int,
            &mut Vec::new(),
        )
        .unwrap();
        let mut docs = vec![Branch {
            items: vec![pair("n", s(&enc))],
        }];
        let selector = Selector::default();
        let out = decrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        assert_eq!(docs[0].items[0], pair("n", Value::Int(7)));
        assert_eq!(out.mac, mac_hex(Sha512::new_with_prefix(b"7")));
    }

    #[test]
    fn serialisation_of_every_type() {
        assert_eq!(
            serialize_leaf(&Value::Bytes(vec![0xff])),
            Some((vec![0xff], ValueType::Str))
        );
        assert_eq!(serialize_leaf(&Value::Bytes(vec![])), None);
        assert_eq!(serialize_leaf(&Value::Int(-3)).unwrap().0, b"-3");
        assert_eq!(serialize_leaf(&Value::Float(1e-7)).unwrap().0, b"0.0000001");
        assert_eq!(
            serialize_leaf(&Value::Float(f64::NEG_INFINITY)).unwrap().0,
            b"-Inf"
        );
        assert_eq!(serialize_leaf(&Value::Bool(false)).unwrap().0, b"False");
        assert_eq!(
            serialize_leaf(&Value::Time(Timestamp("2024-01-02T00:00:00Z".into()))),
            Some((b"2024-01-02T00:00:00Z".to_vec(), ValueType::Time))
        );
        assert_eq!(
            serialize_leaf(&Value::Comment(" x".into())).unwrap().1,
            ValueType::Comment
        );
        assert_eq!(serialize_leaf(&Value::Comment(String::new())), None);
        assert_eq!(serialize_leaf(&Value::Null), None);
        assert_eq!(serialize_leaf(&Value::List(vec![])), None);
    }

    #[test]
    fn nan_round_trips() {
        let selector = Selector::default();
        let mut docs = vec![Branch {
            items: vec![pair("x", Value::Float(f64::NAN))],
        }];
        let key = key17();
        let mac = encrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        let out = decrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        assert!(matches!(docs[0].items[0], Item::Pair(_, Value::Float(f)) if f.is_nan()));
        assert_eq!(out.mac, mac);
    }

    // ------------------------------------------------ comment stack (§5.3), as sops 3.11 does it

    /// The file used to probe sops 3.11 (comments are stored with their leading space).
    fn comment_doc_1() -> Vec<Branch> {
        vec![Branch {
            items: vec![
                c(" keep"),
                c(" other"),
                pair("a", Value::Int(1)),
                c(" keep"),
                pair("b", Value::Int(2)),
                c(" x"),
                c(" keep"),
                pair("c", Value::Int(3)),
                pair("d", Value::Int(4)),
                pair(
                    "list",
                    Value::List(vec![Value::Comment(" keep".into()), s("v1"), s("v2")]),
                ),
            ],
        }]
    }

    fn comment_doc_2() -> Vec<Branch> {
        vec![Branch {
            items: vec![
                c(" keep"),
                c(" keep"),
                pair("a", Value::Int(1)),
                c(" keep"),
                c(" keep too"),
                pair("b", Value::Int(1)),
                pair(
                    "m",
                    br(vec![
                        c(" keep"),
                        pair(
                            "n",
                            br(vec![
                                c(" inner"),
                                pair("o", Value::Int(1)),
                                pair("p", Value::Int(2)),
                            ]),
                        ),
                        pair("q", Value::Int(3)),
                    ]),
                ),
            ],
        }]
    }

    fn check_shape(docs: Vec<Branch>, selector: &Selector, expect: &str) {
        let key = key17();
        let mut enc = docs.clone();
        let mac = encrypt_docs(&mut enc, &key, &rules(selector), None).unwrap();
        assert_eq!(shape(&enc), expect, "{selector:?}");
        let out = decrypt_docs(&mut enc, &key, &rules(selector), None).unwrap();
        assert_eq!(enc, docs);
        assert_eq!(out.mac, mac);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn unencrypted_comment_regex_matches_sops() {
        // Observed with sops 3.11 and `unencrypted_comment_regex: keep`: a matching comment
        // itself stays in clear; it shields the next key (and its subtree) only.
        let selector = sel("unencrypted_comment_regex", "keep");
        check_shape(comment_doc_1(), &selector, "PPPPPEPPEPPE");
        check_shape(comment_doc_2(), &selector, "PPPPPPPPPPE");
    }

    #[test]
    fn encrypted_comment_regex_matches_sops() {
        // Observed with sops 3.11 and `encrypted_comment_regex: keep`: the marker stays
        // readable (its own text is skipped), later comments in the block are encrypted
        // (even a second identical marker), and so is the next key's subtree.
        let selector = sel("encrypted_comment_regex", "keep");
        check_shape(comment_doc_1(), &selector, "PEEPEPPEPPEP");
        check_shape(comment_doc_2(), &selector, "PEEPEEPEEEP");
    }

    #[test]
    fn unencrypted_comment_regex_refuses_matching_ciphertext() {
        let selector = sel("unencrypted_comment_regex", "^ENC");
        let mut docs = vec![Branch {
            items: vec![c(" hello"), pair("a", s("b"))],
        }];
        let err = encrypt_docs(&mut docs, &key17(), &rules(&selector), None).unwrap_err();
        assert!(matches!(err, CipherError::Encrypt(_)), "{err}");
    }

    #[test]
    fn path_rules_on_comments_use_the_container_path() {
        let selector = sel("encrypted_regex", "^(data|stringData)$");
        let docs = vec![Branch {
            items: vec![
                c(" top"),
                pair("kind", s("Secret")),
                pair(
                    "data",
                    br(vec![c(" inside"), pair("x_unencrypted", s("v"))]),
                ),
            ],
        }];
        check_shape(docs, &selector, "PPEE");
    }

    // ------------------------------------------------ comments: list form, retries, warnings

    #[test]
    fn encrypted_list_comment_stored_as_plain_item_decrypts_to_a_comment() {
        let selector = Selector::default();
        let key = key17();
        let plain = vec![Branch {
            items: vec![pair(
                "l",
                Value::List(vec![Value::Comment(" note".into()), s("v")]),
            )],
        }];
        let mut docs = plain.clone();
        let mac = encrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        // What the YAML store reads back: `- ENC[...,type:comment]` is a string item.
        if let Item::Pair(_, Value::List(items)) = &mut docs[0].items[0] {
            let Value::Comment(t) = &items[0] else {
                panic!("expected a comment")
            };
            assert!(t.ends_with("type:comment]"));
            items[0] = Value::Str(t.clone());
        }
        let out = decrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        assert_eq!(docs, plain);
        assert_eq!(out.mac, mac);
    }

    #[test]
    fn comment_type_is_rejected_as_a_mapping_value() {
        let key = key17();
        let enc = seal(
            &key.cipher(),
            b"x",
            b"a:",
            &[1; 32],
            ValueType::Comment,
            &mut Vec::new(),
        )
        .unwrap();
        let mut docs = vec![Branch {
            items: vec![pair("a", s(&enc))],
        }];
        let err = decrypt_docs(&mut docs, &key, &rules(&Selector::default()), None).unwrap_err();
        assert!(matches!(err, CipherError::BadValue { .. }));
    }

    #[test]
    fn moved_comment_is_retried_with_ancestor_paths() {
        let key = key17();
        let selector = Selector::default();
        // A comment encrypted at the top level (AAD `:`) and one inside `a` (AAD `a:`)...
        let mut docs = vec![Branch {
            items: vec![
                c(" top"),
                pair(
                    "a",
                    br(vec![c(" in a"), pair("b", br(vec![pair("x", s("1"))]))]),
                ),
            ],
        }];
        encrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        let (top, in_a) = {
            let st = strings_mut(&mut docs);
            (st[0].clone(), st[1].clone())
        };
        // ... both moved down into `a.b`, where the parser may have attached them.
        let mut moved = vec![Branch {
            items: vec![pair(
                "a",
                br(vec![pair(
                    "b",
                    br(vec![c(&top), c(&in_a), pair("x", s(""))]),
                )]),
            )],
        }];
        let out = decrypt_docs(&mut moved, &key, &rules(&selector), None).unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let st = strings_mut(&mut moved);
        assert_eq!(*st[0], " top");
        assert_eq!(*st[1], " in a");
    }

    #[test]
    fn bad_comments_are_kept_with_a_warning() {
        let key = key17();
        let other = DataKey::from_slice(&[3u8; 32]).unwrap();
        let foreign = seal(
            &other.cipher(),
            b" x",
            b":",
            &[1; 32],
            ValueType::Comment,
            &mut Vec::new(),
        )
        .unwrap();
        let wrong_type = seal(
            &key.cipher(),
            b" x",
            b":",
            &[2; 32],
            ValueType::Str,
            &mut Vec::new(),
        )
        .unwrap();
        let docs = vec![Branch {
            items: vec![
                c(" plaintext comment"),
                c(&foreign),
                c(&wrong_type),
                c("ENC[AES256_GCM,garbage]"),
                pair("k_unencrypted", s("v")),
            ],
        }];
        let mut out_docs = docs.clone();
        let out = decrypt_docs(&mut out_docs, &key, &rules(&Selector::default()), None).unwrap();
        assert_eq!(out_docs, docs);
        assert_eq!(out.warnings.len(), 4, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("the top level"));
    }

    // ------------------------------------------------ stash (IV reuse)

    #[test]
    fn stash_reproduces_unchanged_ciphertexts() {
        let key = key17();
        let selector = Selector::default();
        let mut docs = enc17();
        let mut stash = Stash::default();
        decrypt_docs(&mut docs, &key, &rules(&selector), Some(&mut stash)).unwrap();
        assert_eq!(stash.0.len(), 8);
        // Change one value; everything else must come back byte-identical.
        {
            let mut st = strings_mut(&mut docs);
            *st[2] = "new-password".into();
        }
        let mac = encrypt_docs(&mut docs, &key, &rules(&selector), Some(&stash)).unwrap();
        assert_ne!(mac, MAC17);
        let mut orig = enc17();
        let a = strings_mut(&mut docs)
            .into_iter()
            .map(|s| s.clone())
            .collect::<Vec<_>>();
        let b = strings_mut(&mut orig)
            .into_iter()
            .map(|s| s.clone())
            .collect::<Vec<_>>();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x == y, i != 2, "value {i}");
        }
    }

    #[test]
    fn stash_never_gives_two_values_the_same_iv() {
        let key = key17();
        let selector = Selector::default();
        let plain = vec![Branch {
            items: vec![pair("l", Value::List(vec![s("same"), s("same")]))],
        }];
        let mut docs = plain.clone();
        encrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        let mut stash = Stash::default();
        decrypt_docs(&mut docs, &key, &rules(&selector), Some(&mut stash)).unwrap();
        encrypt_docs(&mut docs, &key, &rules(&selector), Some(&stash)).unwrap();
        let st = strings_mut(&mut docs);
        assert_ne!(st[0], st[1]);
    }

    // ------------------------------------------------ MAC modes

    #[test]
    fn mac_only_encrypted_ignores_plaintext_edits() {
        let key = key17();
        let selector = sel("encrypted_regex", "^data$");
        let mac_only = WalkRules {
            selector: &selector,
            mac_only_encrypted: true,
        };
        let plain = vec![Branch {
            items: vec![
                pair("name", s("app")),
                pair("data", br(vec![pair("k", s("v"))])),
            ],
        }];
        let mut docs = plain.clone();
        let mac = encrypt_docs(&mut docs, &key, &mac_only, None).unwrap();
        let mut h = Sha512::new();
        h.update(MAC_ONLY_ENCRYPTED_PREFIX);
        h.update(b"v");
        assert_eq!(mac, mac_hex(h));
        docs[0].items[0] = pair("name", s("edited"));
        docs[0].items.insert(0, pair("added", Value::Int(1)));
        let out = decrypt_docs(&mut docs.clone(), &key, &mac_only, None).unwrap();
        assert_eq!(out.mac, mac);
        // Without mac_only_encrypted the same edit is detected.
        let mut full_docs = plain.clone();
        let full = encrypt_docs(&mut full_docs, &key, &rules(&selector), None).unwrap();
        full_docs[0].items[0] = pair("name", s("edited"));
        let out = decrypt_docs(&mut full_docs, &key, &rules(&selector), None).unwrap();
        assert_ne!(out.mac, full);
    }

    // ------------------------------------------------ properties

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z]{1,6}",
            1 => Just(String::new()),
            1 => Just(":".to_string()),
            1 => Just("a:b".to_string()),
            1 => Just("data".to_string()),
            1 => Just("stringData".to_string()),
            1 => Just("x_unencrypted".to_string()),
            1 => Just("pw_secret".to_string()),
            1 => Just("ключ 🔑".to_string()),
            1 => any::<String>(),
        ]
    }

    fn arb_comment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(" keep".to_string()),
            Just(" note".to_string()),
            Just(String::new()),
            "[ a-z#]{0,8}",
        ]
    }

    fn arb_scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            3 => any::<String>().prop_map(Value::Str),
            1 => Just(Value::Str(String::new())),
            1 => proptest::collection::vec(any::<u8>(), 0..8).prop_map(|mut b| {
                b.insert(0, 0xff);
                Value::Bytes(b)
            }),
            1 => any::<i64>().prop_map(Value::Int),
            1 => any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Value::Float),
            1 => any::<bool>().prop_map(Value::Bool),
            1 => prop_oneof![
                Just("2024-01-02T00:00:00Z"),
                Just("2024-01-02T03:04:05.5+02:00"),
                Just("1999-12-31T23:59:59.123456789-07:30"),
            ]
            .prop_map(|t| Value::Time(Timestamp(t.to_string()))),
            1 => Just(Value::Null),
        ]
    }

    fn arb_items(inner: impl Strategy<Value = Value> + Clone) -> impl Strategy<Value = Vec<Item>> {
        proptest::collection::vec(
            prop_oneof![
                3 => (arb_key(), inner).prop_map(|(k, v)| Item::Pair(k, v)),
                1 => arb_comment().prop_map(Item::Comment),
            ],
            0..5,
        )
    }

    fn arb_value() -> impl Strategy<Value = Value> + Clone {
        arb_scalar().prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(
                    prop_oneof![3 => inner.clone(), 1 => arb_comment().prop_map(Value::Comment)],
                    0..4
                )
                .prop_map(Value::List),
                arb_items(inner).prop_map(|items| Value::Branch(Branch { items })),
            ]
        })
    }

    fn arb_docs() -> impl Strategy<Value = Vec<Branch>> {
        proptest::collection::vec(
            arb_items(arb_value()).prop_map(|items| Branch { items }),
            1..3,
        )
    }

    fn arb_selector() -> impl Strategy<Value = Selector> {
        prop_oneof![
            Just(Selector::default()),
            Just(Selector::EncryptedSuffix("_secret".into())),
            Just(Selector::UnencryptedRegex(
                Pattern::new("unencrypted_regex", "^(data|a:b)$").unwrap()
            )),
            Just(Selector::EncryptedRegex(
                Pattern::new("encrypted_regex", "^(data|stringData|)$").unwrap()
            )),
            Just(Selector::UnencryptedCommentRegex(
                Pattern::new("unencrypted_comment_regex", "^ keep").unwrap()
            )),
            Just(Selector::EncryptedCommentRegex(
                Pattern::new("encrypted_comment_regex", "^ keep").unwrap()
            )),
        ]
    }

    /// Change one base64 character of the data, iv or tag field of `enc`.
    fn tamper(enc: &str, field: usize, pos: prop::sample::Index, rep: u8) -> String {
        let names = [("data:", ",iv:"), ("iv:", ",tag:"), ("tag:", ",type:")];
        let (start, end) = names[field];
        let a = enc.find(start).unwrap() + start.len();
        let b = enc.find(end).unwrap();
        let i = a + pos.index(b - a);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let old = enc.as_bytes()[i];
        let mut new = alphabet[usize::from(rep) % 64];
        if new == old {
            new = alphabet[(usize::from(rep) + 1) % 64];
        }
        let mut bytes = enc.as_bytes().to_vec();
        bytes[i] = new;
        String::from_utf8(bytes).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn fast_base64_agrees_with_the_crate(s in "[A-Za-z0-9+/=]{0,14}|[ -~]{0,10}", bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            // Arbitrary text: the fast decoder either declines or gives what the crate gives.
            let mut out = vec![0u8; s.len() / 4 * 3];
            if let Some(n) = b64_decode_into(s.as_bytes(), &mut out) {
                let slow = B64.decode(&s).ok();
                prop_assert_eq!(Some(&out[..n]), slow.as_deref());
            }
            // Real encodings: it never declines, and inverts the encoder.
            let text = B64.encode(&bytes);
            // One byte of a real encoding changed, anywhere: declined, or the crate's answer.
            if !text.is_empty() {
                let mut bent = text.clone().into_bytes();
                let at = usize::from(bytes.first().copied().unwrap_or(0)) % bent.len();
                bent[at] = bytes.last().copied().unwrap_or(b'!') % 128;
                let bent = String::from_utf8(bent).unwrap();
                let mut out = vec![0u8; bent.len() / 4 * 3];
                if let Some(n) = b64_decode_into(bent.as_bytes(), &mut out) {
                    let slow = B64.decode(&bent).ok();
                    prop_assert_eq!(Some(&out[..n]), slow.as_deref());
                }
            }
            prop_assert_eq!(b64_decode(&text).ok(), Some(bytes.clone()));
            let mut out = vec![0u8; text.len() / 4 * 3];
            prop_assert_eq!(b64_decode_into(text.as_bytes(), &mut out), Some(bytes.len()));
        }

        #[test]
        fn fast_split_agrees_with_the_sops_regex(
            parts in proptest::collection::vec("[A-Za-z0-9+/=,:\\]\\[]{0,12}", 4),
            sep in proptest::sample::select(vec![",iv:", ",tag:", ",type:", ","]),
        ) {
            let s = format!(
                "ENC[AES256_GCM,data:{}{sep},iv:{},tag:{},type:{}]",
                parts[0], parts[1], parts[2], parts[3]
            );
            if let Some(fast) = split_enc_fast(&s) {
                let re = ENC_RE.as_ref().unwrap();
                let caps = re.captures(&s).expect("the regex matches whatever the fast path splits");
                let slow = [1, 2, 3, 4].map(|i| caps.get(i).unwrap().as_str());
                prop_assert_eq!(fast, slow);
            }
        }

        #[test]
        fn decrypt_inverts_encrypt(docs in arb_docs(), selector in arb_selector(), mac_only in any::<bool>()) {
            let key = key17();
            let rules = WalkRules { selector: &selector, mac_only_encrypted: mac_only };
            let mut enc = docs.clone();
            let mac = encrypt_docs(&mut enc, &key, &rules, None).unwrap();
            let mut dec = enc.clone();
            let out = decrypt_docs(&mut dec, &key, &rules, None).unwrap();
            prop_assert_eq!(&dec, &docs);
            prop_assert_eq!(out.mac, mac);
            prop_assert!(out.warnings.is_empty());
            // A second round with the stash reproduces the same ciphertexts.
            let mut stash = Stash::default();
            let mut again = enc.clone();
            decrypt_docs(&mut again, &key, &rules, Some(&mut stash)).unwrap();
            encrypt_docs(&mut again, &key, &rules, Some(&stash)).unwrap();
            let mut enc2 = enc.clone();
            let a: Vec<String> = strings_mut(&mut again).into_iter().map(|s| s.clone()).collect();
            let b: Vec<String> = strings_mut(&mut enc2).into_iter().map(|s| s.clone()).collect();
            // Only repeated (path, type, plaintext) occurrences after the first get fresh IVs.
            prop_assert_eq!(a.len(), b.len());
            let n_enc = b.iter().filter(|s| is_enc_value(s)).count();
            let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            prop_assert!(differing <= n_enc - stash.0.len(), "{} differ, {} enc, {} stashed", differing, n_enc, stash.0.len());
        }

        #[test]
        fn any_single_character_change_is_detected(
            docs in arb_docs(), selector in arb_selector(),
            slot in any::<prop::sample::Index>(), field in 0usize..3,
            pos in any::<prop::sample::Index>(), rep in any::<u8>(),
        ) {
            let key = key17();
            let rules = WalkRules { selector: &selector, mac_only_encrypted: false };
            let mut enc = docs.clone();
            encrypt_docs(&mut enc, &key, &rules, None).unwrap();
            let mut tampered = enc.clone();
            {
                let mut st: Vec<&mut String> = strings_mut(&mut tampered).into_iter().filter(|s| is_enc_value(s)).collect();
                prop_assume!(!st.is_empty());
                let i = slot.index(st.len());
                *st[i] = tamper(st[i], field, pos, rep);
            }
            match decrypt_docs(&mut tampered, &key, &rules, None) {
                Err(_) => {}
                Ok(out) => {
                    // Only a change in unused base64 bits decodes to the same bytes, or a
                    // comment that no longer decrypts is kept with a warning.
                    prop_assert!(tampered == docs || !out.warnings.is_empty());
                }
            }
        }

        #[test]
        fn mac_tampering_is_detected(mac in "[0-9A-F]{128}", field in 0usize..3,
                                     pos in any::<prop::sample::Index>(), rep in any::<u8>()) {
            let key = key17();
            let stored = encrypt_mac(&key, &mac, "2026-11-25T16:50:19Z").unwrap();
            let bad = tamper(&stored, field, pos, rep);
            match decrypt_mac(&key, &bad, "2026-11-25T16:50:19Z") {
                Err(e) => prop_assert!(matches!(e, CipherError::MacUndecryptable)),
                Ok(m) => prop_assert_eq!(m, mac),
            }
        }

        #[test]
        fn added_or_removed_values_change_the_mac(docs in arb_docs(), extra in arb_scalar(), at in any::<prop::sample::Index>()) {
            prop_assume!(serialize_leaf(&extra).is_some());
            let key = key17();
            let selector = Selector::default();
            let rules = rules(&selector);
            let mut base = docs.clone();
            let mac = encrypt_docs(&mut base, &key, &rules, None).unwrap();
            let mut added = docs.clone();
            let n = added[0].items.len();
            added[0].items.insert(at.index(n + 1), Item::Pair("extra".into(), extra));
            let mac2 = encrypt_docs(&mut added, &key, &rules, None).unwrap();
            prop_assert_ne!(mac, mac2);
        }

        #[test]
        fn reordered_values_change_the_mac_prop(x in arb_scalar(), y in arb_scalar(), docs in arb_docs()) {
            let (Some((bx, _)), Some((by, _))) = (serialize_leaf(&x), serialize_leaf(&y)) else {
                return Ok(());
            };
            prop_assume!([bx.clone(), by.clone()].concat() != [by, bx].concat());
            let key = key17();
            let selector = Selector::default();
            let rules = rules(&selector);
            let mut a = docs.clone();
            a[0].items.push(Item::Pair("x".into(), x.clone()));
            a[0].items.push(Item::Pair("y".into(), y.clone()));
            let mut b = docs.clone();
            b[0].items.push(Item::Pair("x".into(), y));
            b[0].items.push(Item::Pair("y".into(), x));
            let ma = encrypt_docs(&mut a, &key, &rules, None).unwrap();
            let mb = encrypt_docs(&mut b, &key, &rules, None).unwrap();
            prop_assert_ne!(ma, mb);
        }
    }

    // ------------------------------------------------ performance (run with --release --ignored)

    #[test]
    #[ignore]
    fn perf_20000_values() {
        let key = DataKey::generate();
        let selector = Selector::default();
        let items: Vec<Item> = (0..20_000)
            .map(|i| {
                pair(
                    &format!("key{i:05}"),
                    s(&format!("value-{i}-abcdefghijklmnopqrstuvwxyz")),
                )
            })
            .collect();
        let plain = vec![Branch {
            items: vec![pair("data", br(items))],
        }];
        let mut docs = plain.clone();
        let t = std::time::Instant::now();
        let mac = encrypt_docs(&mut docs, &key, &rules(&selector), None).unwrap();
        let enc_time = t.elapsed();
        let t = std::time::Instant::now();
        let mut stash = Stash::default();
        let out = decrypt_docs(&mut docs, &key, &rules(&selector), Some(&mut stash)).unwrap();
        let dec_time = t.elapsed();
        let t = std::time::Instant::now();
        encrypt_docs(&mut docs.clone(), &key, &rules(&selector), Some(&stash)).unwrap();
        let reenc_time = t.elapsed();
        assert_eq!(out.mac, mac);
        assert_eq!(docs, plain);
        eprintln!(
            "20000 values: encrypt {enc_time:?}, decrypt (+stash) {dec_time:?}, re-encrypt with stash {reenc_time:?}"
        );
    }

    // ------------------------------------------------ parallel walks

    /// A document big enough for several threads: strings, numbers, booleans, nested
    /// mappings, lists with comments, and keys the selector leaves in plaintext.
    fn big_doc(n: usize) -> Vec<Branch> {
        let mut items = vec![c(" header")];
        for i in 0..n {
            let v = match i % 5 {
                0 => Value::Int(i as i64),
                1 => Value::Bool(i % 2 == 0),
                2 => br(vec![
                    pair("inner", s(&format!("nested-{i}"))),
                    pair("plain_unencrypted", s("visible")),
                ]),
                3 => Value::List(vec![s("a"), Value::Comment(format!(" item {i}")), s("")]),
                _ => s(&format!("value-{i}-{}", "x".repeat(i % 40))),
            };
            items.push(pair(&format!("key{i:05}"), v));
        }
        vec![
            Branch { items },
            Branch {
                items: vec![pair("second", s("doc"))],
            },
        ]
    }

    #[test]
    fn parallel_walks_give_what_one_thread_gives() {
        let key = key17();
        let selector = Selector::default();
        let plain = big_doc(3000);
        let mut one = plain.clone();
        let mut many = plain.clone();
        let mac_one = encrypt_docs_on(&mut one, &key, &rules(&selector), None, Some(1)).unwrap();
        let mac_many = encrypt_docs_on(&mut many, &key, &rules(&selector), None, Some(3)).unwrap();
        assert_eq!(
            mac_one, mac_many,
            "the MAC is over the values in document order"
        );
        assert_ne!(one, many, "fresh IVs");
        // Decrypting either on one or three threads gives the plaintext, the same MAC and
        // the same stash.
        let mut results = Vec::new();
        for threads in [1, 3] {
            let mut docs = many.clone();
            let mut stash = Stash::default();
            let out = decrypt_docs_on(
                &mut docs,
                &key,
                &rules(&selector),
                Some(&mut stash),
                Some(threads),
            )
            .unwrap();
            assert_eq!(docs, plain);
            assert_eq!(out.mac, mac_many);
            results.push(stash.0);
        }
        assert_eq!(results[0], results[1]);
        // Re-encrypting with the stash on three threads reproduces the ciphertext exactly.
        let stash = Stash(results.remove(0));
        let mut again = plain.clone();
        let mac =
            encrypt_docs_on(&mut again, &key, &rules(&selector), Some(&stash), Some(3)).unwrap();
        assert_eq!(mac, mac_many);
        assert_eq!(again, many);
    }

    #[test]
    fn parallel_decrypt_reports_the_first_failure_in_document_order() {
        let key = key17();
        let selector = Selector::default();
        let mut enc = big_doc(2000);
        encrypt_docs(&mut enc, &key, &rules(&selector), None).unwrap();
        // Break a late value and an early one: the early one is reported, as before.
        let swap = |docs: &mut Vec<Branch>, at: usize| {
            if let Item::Pair(_, Value::Str(v)) = &mut docs[0].items[at] {
                *v = v.replacen("data:", "data:AAAA", 1);
            } else {
                panic!("item {at} is not an encrypted string");
            }
        };
        swap(&mut enc, 1800);
        swap(&mut enc, 900);
        for threads in [1, 3] {
            let err = decrypt_docs_on(
                &mut enc.clone(),
                &key,
                &rules(&selector),
                None,
                Some(threads),
            )
            .unwrap_err();
            assert!(err.to_string().contains("key00899"), "{threads}: {err}");
        }
        // A plaintext value after the broken one: still the broken one first; before it:
        // the plaintext one.
        for (at, want) in [(1500, "key00899"), (100, "key00099")] {
            let mut docs = enc.clone();
            docs[0].items[at] = pair(&format!("key{:05}", at - 1), Value::Int(7));
            for threads in [1, 3] {
                let err = decrypt_docs_on(
                    &mut docs.clone(),
                    &key,
                    &rules(&selector),
                    None,
                    Some(threads),
                )
                .unwrap_err();
                assert!(err.to_string().contains(want), "{threads}: {err}");
            }
        }
    }
}
