//! Canonical JSON and the [`ContentHash`] built on it: the one byte form of an
//! entity that decides whether it changed. The form follows RFC 8785 (JCS):
//!
//! - object members sorted by their keys' UTF-16 code units (as JCS and
//!   JavaScript's default sort do; this differs from byte order only when a
//!   key has a character at or above U+E000 where another has one outside
//!   the Basic Multilingual Plane), no whitespace;
//! - strings escaped as `JSON.stringify` does: `\"`, `\\`, `\b`, `\t`, `\n`,
//!   `\f`, `\r`, other control characters as lowercase `\u00xx`, everything
//!   else (non-ASCII, U+007F, U+2028) as literal UTF-8;
//! - floating-point numbers in ECMAScript's shortest round-trip form (`1.0` →
//!   `1`, `-0` → `0`, `1e21` → `1e+21`, `1e-7` → `1e-7`, `0.000001`).
//!
//! One deliberate difference: serde_json keeps integers that fit in `i64` or
//! `u64` exactly, and so does this form (`9007199254740993` stays as is,
//! where JCS would round it through a double to `9007199254740992`). The two
//! agree on every integer up to 2^53 in magnitude, and two different ids
//! never hash alike.
//!
//! [`ContentHash::of`] streams the form of an entity read in place
//! ([`Json`]) into SHA-256 through a small stack buffer: no intermediate
//! string, and no allocation at all unless an object's keys are out of
//! UTF-16 order (its members are kept in byte order, which is UTF-16 order
//! for nearly every key). A `serde_json::Value` is hashed through the same
//! form ([`content_hash`]).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::ser::{CompactFormatter, Formatter as _};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

use super::json::{Json, Object};

/// SHA-256 of a value's canonical JSON. Displays (and serializes) as 64
/// lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

/// A string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a content hash is 64 hex digits")]
pub struct InvalidContentHash;

/// The SHA-256 of `value`'s canonical JSON ([`ContentHash::of`] its
/// borrowed form).
pub fn content_hash(value: &Value) -> ContentHash {
    ContentHash::of(&Json::from(value))
}

/// `value`'s canonical JSON as text (what [`content_hash`] hashes).
pub fn canonical_json(value: &Value) -> String {
    let mut bytes = Vec::new();
    write_value(&Json::from(value), &mut bytes);
    // Only whole UTF-8 sequences are ever written, so this never fails.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl ContentHash {
    /// The SHA-256 of `json`'s canonical JSON.
    pub fn of(json: &Json<'_>) -> Self {
        let mut sink = HashSink::new();
        write_value(json, &mut sink);
        ContentHash(sink.finish())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex_of(&self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, InvalidContentHash> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| InvalidContentHash)?;
        Ok(Self(bytes))
    }
}

/// The 64 lowercase hex digits of a SHA-256 digest, into a string of the
/// right size (`hex::encode` collects an iterator of characters, a
/// measurable share of taking in an entity).
pub(crate) fn hex_of(digest: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(64);
    for byte in digest {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xF)]));
    }
    text
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl FromStr for ContentHash {
    type Err = InvalidContentHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Where canonical bytes go.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// SHA-256 behind a buffer: the writer emits many tiny pieces (`"`, `:`,
/// `,`), and handing each one to the hasher costs more than copying it.
struct HashSink {
    hasher: Sha256,
    buf: [u8; 512],
    len: usize,
}

impl HashSink {
    fn new() -> Self {
        Self {
            hasher: Sha256::new(),
            buf: [0; 512],
            len: 0,
        }
    }

    fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.finalize().into()
    }

    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.update(bytes);
        self.len = 0;
    }
}

impl Sink for HashSink {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(free) => {
                free.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.spill(bytes),
        }
    }
}

fn write_value(value: &Json<'_>, out: &mut impl Sink) {
    match value {
        Json::Null => out.put(b"null"),
        Json::Bool(true) => out.put(b"true"),
        Json::Bool(false) => out.put(b"false"),
        Json::Number(number) => write_number(number, out),
        Json::String(text) => write_string(text, out),
        Json::Array(items) => write_array(items, out),
        Json::Object(object) => write_object(object, out),
    }
}

fn write_array(items: &[Json<'_>], out: &mut impl Sink) {
    out.put(b"[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_value(item, out);
    }
    out.put(b"]");
}

fn write_object(object: &Object<'_>, out: &mut impl Sink) {
    out.put(b"{");
    if keys_in_order(object) {
        write_members(object.iter(), out);
    } else {
        let mut members: Vec<_> = object.iter().collect();
        members.sort_unstable_by(|a, b| cmp_utf16(a.0, b.0));
        write_members(members.into_iter(), out);
    }
    out.put(b"}");
}

fn write_members<'a, 'j: 'a>(
    members: impl Iterator<Item = (&'a str, &'a Json<'j>)>,
    out: &mut impl Sink,
) {
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_string(key, out);
        out.put(b":");
        write_value(value, out);
    }
}

fn keys_in_order(object: &Object<'_>) -> bool {
    let mut keys = object.keys();
    let Some(mut previous) = keys.next() else {
        return true;
    };
    for key in keys {
        if cmp_utf16(previous, key) != Ordering::Less {
            return false;
        }
        previous = key;
    }
    true
}

/// Compares by UTF-16 code units without transcoding. UTF-8 byte order is
/// code point order, which is UTF-16 order except where the first differing
/// characters are U+E000..=U+FFFF (lead byte 0xEE or 0xEF) against a
/// supplementary character (lead byte 0xF0 and up, a surrogate in UTF-16).
fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() || b.is_ascii() {
        // The first differing byte of one of them is ASCII.
        return a.cmp(b);
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    let (x, y) = (a[i], b[i]);
    let high_bmp = |byte: u8| matches!(byte, 0xEE | 0xEF);
    let supplementary = |byte: u8| byte >= 0xF0;
    if (high_bmp(x) && supplementary(y)) || (supplementary(x) && high_bmp(y)) {
        y.cmp(&x)
    } else {
        x.cmp(&y)
    }
}

fn write_string(text: &str, out: &mut impl Sink) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.put(b"\"");
    if !needs_escaping(bytes) {
        out.put(bytes);
        out.put(b"\"");
        return;
    }
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let unicode;
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0C => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1F => {
                let (hi, lo) = (HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]);
                unicode = [b'\\', b'u', b'0', b'0', hi, lo];
                &unicode
            }
            _ => continue,
        };
        out.put(&bytes[start..i]);
        out.put(escape);
        start = i + 1;
    }
    out.put(&bytes[start..]);
    out.put(b"\"");
}

/// Whether any byte of `bytes` must be escaped. Most strings need nothing,
/// and this check runs a chunk of bytes at a time (vectorised, no branch per
/// byte), where the escaping loop takes them one by one.
fn needs_escaping(bytes: &[u8]) -> bool {
    bytes.chunks(32).any(|chunk| {
        chunk.iter().fold(false, |any, &byte| {
            any | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
        })
    })
}

fn write_number(number: &Number, out: &mut impl Sink) {
    if let Some(n) = number.as_u64() {
        write_u64(n, out);
    } else if let Some(n) = number.as_i64() {
        out.put(b"-");
        write_u64(n.unsigned_abs(), out);
    } else if let Some(x) = number.as_f64() {
        write_f64(x, out);
    } else {
        // Unreachable without serde_json's `arbitrary_precision`.
        out.put(number.to_string().as_bytes());
    }
}

fn write_u64(mut n: u64, out: &mut impl Sink) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put(&digits[start..]);
}

/// ECMAScript's Number::toString (ECMA-262, 6.1.6.1.20), laid out from the
/// shortest round-trip digits. The digits come from serde_json's own
/// formatter, which breaks ties to even as ECMAScript engines do (Rust's
/// `{:e}` rounds them up: 1424953923781206.25 must print as `…206.2`).
fn write_f64(x: f64, out: &mut impl Sink) {
    if x == 0.0 || !x.is_finite() {
        // serde_json numbers are always finite; -0 prints as 0.
        out.put(b"0");
        return;
    }
    if x < 0.0 {
        out.put(b"-");
    }
    let mut digits = [0; 24];
    let Some((k, n)) = shortest_digits(x.abs(), &mut digits) else {
        // Unreachable: the formatter writes at most 24 bytes.
        out.put(x.abs().to_string().as_bytes());
        return;
    };
    let digits = &digits[..k];
    // x = 0.d1d2…dk × 10^n
    let k = k as i32;
    if k <= n && n <= 21 {
        out.put(digits);
        (k..n).for_each(|_| out.put(b"0"));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.put(int);
        out.put(b".");
        out.put(frac);
    } else if -6 < n && n <= 0 {
        out.put(b"0.");
        (n..0).for_each(|_| out.put(b"0"));
        out.put(digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.put(first);
        if !rest.is_empty() {
            out.put(b".");
            out.put(rest);
        }
        out.put(if n > 0 { b"e+" } else { b"e-" });
        write_u64(u64::from((n - 1).unsigned_abs()), out);
    }
}

/// Writes x's shortest digits d1…dk (no leading or trailing zeros) to
/// `digits` and returns k and the n with x = 0.d1…dk × 10^n, for a finite
/// x > 0.
fn shortest_digits(x: f64, digits: &mut [u8; 24]) -> Option<(usize, i32)> {
    let mut text = [0u8; 40];
    let capacity = text.len();
    let mut free = &mut text[..];
    CompactFormatter.write_f64(&mut free, x).ok()?;
    let written = capacity - free.len();
    // The formatter writes `123.45`, `1.0`, `1e+21` or `5e-324`.
    let text = &text[..written];
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (&text[..e], parse_exponent(&text[e + 1..])),
        None => (text, 0),
    };
    let point = mantissa.iter().position(|&b| b == b'.');
    let mut n = point.unwrap_or(mantissa.len()) as i32 + exponent;
    let mut k = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        if b == b'0' && k == 0 {
            n -= 1;
        } else {
            *digits.get_mut(k)? = b;
            k += 1;
        }
    }
    while k > 0 && digits[k - 1] == b'0' {
        k -= 1;
    }
    (k > 0).then_some((k, n))
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (sign, magnitude) = match text {
        [b'-', rest @ ..] => (-1, rest),
        [b'+', rest @ ..] => (1, rest),
        rest => (1, rest),
    };
    let magnitude = magnitude
        .iter()
        .filter(|b| b.is_ascii_digit())
        .fold(0, |acc, &d| acc * 10 + i32::from(d - b'0'));
    sign * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("test JSON parses")
    }

    fn text_of(text: &str) -> String {
        canonical_json(&parse(text))
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = parse(
            r#"{"kind":"Component","metadata":{"name":"a","namespace":"x"},"spec":{"b":1,"a":2}}"#,
        );
        let b = parse(
            r#"{"spec":{"a":2,"b":1},"metadata":{"namespace":"x","name":"a"},"kind":"Component"}"#,
        );
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"kind":"Component","metadata":{"name":"a","namespace":"x"},"spec":{"a":2,"b":1}}"#
        );
    }

    #[test]
    fn whitespace_does_not_change_the_hash() {
        let compact = parse(r#"{"a":[1,2],"b":{"c":"d e"}}"#);
        let spaced = parse("{\n  \"a\" : [ 1 ,\t2 ],\r\n  \"b\": { \"c\" : \"d e\" }\n}\n");
        assert_eq!(content_hash(&compact), content_hash(&spaced));
    }

    #[test]
    fn values_that_differ_hash_differently() {
        let hashes = [
            r#"{"a":1}"#,
            r#"{"a":2}"#,
            r#"{"a":"1"}"#,
            r#"{"b":1}"#,
            r#"[1]"#,
            "1",
            "null",
        ]
        .map(|text| content_hash(&parse(text)));
        for (i, a) in hashes.iter().enumerate() {
            assert!(hashes[i + 1..].iter().all(|b| a != b), "collision at {i}");
        }
    }

    #[test]
    fn one_number_has_one_form() {
        for text in ["1", "1.0", "1e0", "10e-1", "1.00000", "0.1e1"] {
            assert_eq!(text_of(text), "1", "{text}");
        }
        for text in ["0", "-0", "0.0", "-0.0", "0e5"] {
            assert_eq!(text_of(text), "0", "{text}");
        }
        assert_eq!(
            content_hash(&json!({"n": 1})),
            content_hash(&parse(r#"{"n":1.0}"#))
        );
        assert_eq!(text_of("-7"), "-7");
        assert_eq!(text_of("-2.50"), "-2.5");
    }

    #[test]
    fn integers_stay_exact() {
        assert_eq!(text_of("18446744073709551615"), "18446744073709551615");
        assert_eq!(text_of("-9223372036854775808"), "-9223372036854775808");
        assert_eq!(text_of("9007199254740993"), "9007199254740993");
        // Beyond u64 serde_json holds a double, printed as ECMAScript does.
        assert_eq!(text_of("100000000000000000000"), "100000000000000000000");
        assert_eq!(text_of("1000000000000000000000"), "1e+21");
    }

    #[test]
    fn doubles_print_as_ecmascript_does() {
        // The number vectors of RFC 8785's reference implementations.
        let vectors: [(u64, &str); 24] = [
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in vectors {
            let value = Value::from(f64::from_bits(bits));
            assert_eq!(canonical_json(&value), expected, "{bits:#018x}");
        }
        assert_eq!(text_of("0.5"), "0.5");
        assert_eq!(text_of("1e-7"), "1e-7");
        assert_eq!(text_of("123e-20"), "1.23e-18");
        assert_eq!(text_of("1.5e300"), "1.5e+300");
    }

    #[test]
    fn strings_are_escaped_as_jcs_says() {
        let value = json!("q\" b\\ \u{8}\t\n\u{c}\r \u{1} \u{1f} \u{7f} \u{2028} é 😀 /");
        assert_eq!(
            canonical_json(&value),
            "\"q\\\" b\\\\ \\b\\t\\n\\f\\r \\u0001 \\u001f \u{7f} \u{2028} é 😀 /\""
        );
        // An escaped and a literal spelling of one string are one string.
        assert_eq!(text_of(r#""\u00e9\ud83d\ude00\/""#), "\"é😀/\"");
    }

    #[test]
    fn an_escape_is_found_anywhere_in_a_long_string() {
        let plain = "a".repeat(70);
        assert_eq!(canonical_json(&json!(plain)), format!("\"{plain}\""));
        for at in [0, 30, 31, 32, 33, 63, 64, 69] {
            for (raw, escaped) in [('"', "\\\""), ('\\', "\\\\"), ('\n', "\\n")] {
                let mut text = plain.clone();
                text.replace_range(at..=at, &raw.to_string());
                let expected = format!("\"{}{escaped}{}\"", &plain[..at], &plain[at + 1..]);
                assert_eq!(canonical_json(&json!(text)), expected, "{raw:?} at {at}");
            }
        }
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+E000 is above the surrogate D83D that starts U+1F600 in UTF-16,
        // though below it in UTF-8.
        let value = json!({"\u{e000}": 1, "\u{1f600}": 2, "z": 3, "é": 4, "": 5});
        assert_eq!(
            canonical_json(&value),
            "{\"\":5,\"z\":3,\"é\":4,\"\u{1f600}\":2,\"\u{e000}\":1}"
        );
    }

    #[test]
    fn utf16_comparison_matches_transcoding() {
        let samples = [
            "",
            "a",
            "b",
            "ab",
            "A",
            "~",
            "\u{7f}",
            "é",
            "ü",
            "\u{7ff}",
            "\u{800}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{fb01}",
            "\u{ffff}",
            "\u{10000}",
            "\u{1f600}",
            "\u{10ffff}",
            "a\u{e000}",
            "a\u{10000}",
            "\u{e000}a",
            "\u{10000}a",
        ];
        for a in samples {
            for b in samples {
                let expected = a.encode_utf16().cmp(b.encode_utf16());
                assert_eq!(cmp_utf16(a, b), expected, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn arrays_keep_their_order() {
        let value = parse(r#"[[3,1],{"b":[2,1],"a":null},[]]"#);
        assert_eq!(canonical_json(&value), r#"[[3,1],{"a":null,"b":[2,1]},[]]"#);
        assert_ne!(
            content_hash(&parse("[1,[2,3]]")),
            content_hash(&parse("[[2,3],1]"))
        );
        assert_ne!(
            content_hash(&parse("[[1,2]]")),
            content_hash(&parse("[[2,1]]"))
        );
    }

    #[test]
    fn known_answer() {
        // Expected values from Python: json.dumps(v, sort_keys=True,
        // separators=(',', ':'), ensure_ascii=False), then hashlib.sha256;
        // node with sorted keys and JSON.stringify agrees.
        let value = parse(
            r#"{"spec":{"owner":"team-a","replicas":3,"ratio":0.5,"neg":-7,"ok":true,"none":null,"nested":[[1,2],[3],[]],"empty":{}},
             "metadata":{"name":"café-svc","annotations":{"b/z":"x","a/y":"line\nbreak \"q\" \\ tab\t\u0001 \u007f \u2028"},"tags":["β","a"]},
             "kind":"Component","apiVersion":"backstage.io/v1alpha1","emoji":"😀"}"#,
        );
        let expected = concat!(
            r#"{"apiVersion":"backstage.io/v1alpha1","emoji":"😀","kind":"Component","#,
            r#""metadata":{"annotations":{"a/y":"line\nbreak \"q\" \\ tab\t\u0001 "#,
            "\u{7f} \u{2028}",
            r#"","b/z":"x"},"name":"café-svc","tags":["β","a"]},"#,
            r#""spec":{"empty":{},"neg":-7,"nested":[[1,2],[3],[]],"none":null,"ok":true,"#,
            r#""owner":"team-a","ratio":0.5,"replicas":3}}"#,
        );
        assert_eq!(canonical_json(&value), expected);
        assert_eq!(
            content_hash(&value).to_hex(),
            "124c44e2fabf79cc4b9645c28c7e4f87b09057b2d957cf03d846f56cac2014e6"
        );
    }

    #[test]
    fn hash_is_sha256_of_the_canonical_text() {
        // Long strings and many members cross the hasher's buffer boundary.
        let long = "x".repeat(1500);
        let many: Map<String, Value> = (0..300).map(|i| (format!("k{i}"), json!(i))).collect();
        for value in [
            json!({"a": long, "b": [long, 1]}),
            Value::Object(many),
            json!({}),
            json!(""),
        ] {
            let text = canonical_json(&value);
            assert_eq!(
                content_hash(&value).as_bytes()[..],
                Sha256::digest(text.as_bytes())[..]
            );
        }
    }

    #[test]
    fn an_entity_read_in_place_hashes_as_its_value_does() {
        for text in [
            r#"{"b":{"y":[1,2.5,"\u00e9"],"x":null},"a":"q\"uote","\u00e9":true,"z":-0.0}"#,
            r#"{"k":1,"k":2}"#,
            r#"{"\ue000":1,"\ud83d\ude00":2}"#,
        ] {
            let json = Json::parse(text).expect("test JSON parses");
            assert_eq!(ContentHash::of(&json), content_hash(&parse(text)), "{text}");
        }
    }

    #[test]
    fn hex_round_trips() {
        let hash = content_hash(&json!({"a": 1}));
        let hex = hash.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(hash.to_string(), hex);
        assert_eq!(ContentHash::from_hex(&hex), Ok(hash));
        assert_eq!(hex.to_uppercase().parse::<ContentHash>(), Ok(hash));
        assert_eq!(format!("{hash:?}"), format!("ContentHash({hex})"));
        for bad in [
            "",
            "00",
            &hex[1..],
            &format!("{hex}00"),
            &format!("g{}", &hex[1..]),
        ] {
            assert_eq!(
                ContentHash::from_hex(bad),
                Err(InvalidContentHash),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn serializes_as_hex() {
        let hash = content_hash(&json!([1, 2]));
        let serialized = serde_json::to_value(hash).expect("serializes");
        assert_eq!(serialized, json!(hash.to_hex()));
        assert_eq!(
            serde_json::from_value::<ContentHash>(serialized).ok(),
            Some(hash)
        );
        assert!(serde_json::from_value::<ContentHash>(json!("nope")).is_err());
    }
}
