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
/// (so two equal values never get equal ciphertexts).
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
        let caps = ENC_RE
            .as_ref()
            .and_then(|re| re.captures(s))
            .ok_or("malformed ENC[...] value: expected data, iv, tag and type fields")?;
        let field = |i: usize| caps.get(i).map_or("", |m| m.as_str());
        let data = B64
            .decode(field(1))
            .map_err(|e| format!("the data field is not valid base64 ({e})"))?;
        let iv_bytes = B64
            .decode(field(2))
            .map_err(|e| format!("the iv field is not valid base64 ({e})"))?;
        let tag_bytes = B64
            .decode(field(3))
            .map_err(|e| format!("the tag field is not valid base64 ({e})"))?;
        let iv: [u8; 32] = iv_bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("the iv must be 32 bytes, found {}", iv_bytes.len()))?;
        let tag: [u8; 16] = tag_bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("the tag must be 16 bytes, found {}", tag_bytes.len()))?;
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

/// State shared by the encrypt and decrypt walks.
struct Walker<'a> {
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
}

impl<'a> Walker<'a> {
    fn new(key: &DataKey, rules: &WalkRules<'a>) -> Walker<'a> {
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

    // ---------------------------------------------------------------- encrypt

    fn pick_iv(&mut self, pt: &[u8], ty: ValueType) -> Result<[u8; 32], CipherError> {
        if let Some(stash) = self.reuse {
            let key = (aad_of(&self.aad).to_string(), ty, pt.to_vec());
            if let Some(iv) = stash.0.get(&key) {
                if self.used_ivs.insert(*iv) {
                    return Ok(*iv);
                }
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

    fn enc_branch(&mut self, b: &mut Branch, matched: bool) -> Result<(), CipherError> {
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
        if let Selector::UnencryptedCommentRegex(p) = self.selector {
            if p.regex.is_match(&enc) {
                return Err(CipherError::Encrypt(format!(
                    "the encrypted form of a comment at {} matches unencrypted_comment_regex, \
                     so it could not be decrypted; change the regex",
                    self.path()
                )));
            }
        }
        *text = enc;
        Ok(())
    }

    fn enc_value(&mut self, v: &mut Value, matched: bool) -> Result<(), CipherError> {
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

    fn enc_leaf(&mut self, v: &mut Value, matched: bool) -> Result<(), CipherError> {
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
                    self.encrypt_bytes(&buf, ty).map(|enc| *v = Value::Str(enc))
                } else {
                    Ok(())
                }
            }
        };
        buf.zeroize();
        self.scratch = buf;
        result
    }

    // ---------------------------------------------------------------- decrypt

    fn dec_branch(&mut self, b: &mut Branch, matched: bool) -> Result<(), CipherError> {
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
                if let Some(stash) = self.record.as_deref_mut() {
                    stash
                        .0
                        .insert((aad, ValueType::Comment, plain.as_bytes().to_vec()), enc.iv);
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
        v: &mut Value,
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

    fn dec_leaf(&mut self, v: &mut Value, matched: bool, in_list: bool) -> Result<(), CipherError> {
        let selected = self.selector.should_encrypt(matched, &self.comments, false);
        if !selected {
            if !self.mac_only {
                self.hash_value(v);
            }
            return Ok(());
        }
        let s = match v {
            // An empty string is accepted wherever an encrypted value is expected.
            Value::Str(s) if s.is_empty() => return Ok(()),
            Value::Str(s) => s,
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
        };
        let mut enc = EncValue::parse(s).map_err(|reason| CipherError::BadValue {
            path: self.path(),
            reason,
        })?;
        if !open(&self.gcm, &mut enc, aad_of(&self.aad).as_bytes()) {
            return Err(CipherError::Authentication { path: self.path() });
        }
        let ty = enc.value_type;
        if let Some(stash) = self.record.as_deref_mut() {
            stash.0.insert(
                (aad_of(&self.aad).to_string(), ty, enc.data.clone()),
                enc.iv,
            );
        }
        let plain = std::mem::take(&mut enc.data);
        let new = parse_plaintext(plain, ty).map_err(|reason| CipherError::BadValue {
            path: self.path(),
            reason,
        })?;
        if matches!(new, Value::Comment(_)) && !in_list {
            return Err(CipherError::BadValue {
                path: self.path(),
                reason: "a value of type comment can only appear in a list".into(),
            });
        }
        // The MAC covers the re-serialised value, not the raw plaintext (§2.3).
        self.hash_value(&new);
        *v = new;
        Ok(())
    }

    /// Feed a leaf's serialisation to the MAC (comments and nulls contribute nothing).
    fn hash_value(&mut self, v: &Value) {
        if matches!(v, Value::Comment(_)) {
            return;
        }
        match v {
            Value::Str(s) => self.hasher.update(s.as_bytes()),
            Value::Bytes(b) => self.hasher.update(b),
            _ => {
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                if serialize_into(v, &mut buf).is_some() {
                    self.hasher.update(&buf);
                }
                self.scratch = buf;
            }
        }
    }
}

/// Encrypt every selected leaf of `docs` in place; returns the MAC (uppercase hex) over the
/// plaintext. Empty strings and nulls stay as they are. IVs come from `stash` when it has
/// the same (path, type, plaintext), else from the OS RNG.
pub fn encrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    rules: &WalkRules<'_>,
    stash: Option<&Stash>,
) -> Result<String, CipherError> {
    let mut w = Walker::new(key, rules);
    w.reuse = stash;
    for doc in docs.iter_mut() {
        w.enc_branch(doc, false)?;
    }
    Ok(mac_hex(w.hasher))
}

/// Decrypt every selected leaf of `docs` in place and recompute the MAC. When `stash` is
/// given, record each decrypted value's IV in it.
pub fn decrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    rules: &WalkRules<'_>,
    stash: Option<&mut Stash>,
) -> Result<Decrypted, CipherError> {
    let mut w = Walker::new(key, rules);
    w.record = stash;
    for doc in docs.iter_mut() {
        w.dec_branch(doc, false)?;
    }
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
