//! Differential tests of the core's own parsers and encoders, each against a
//! reference implementation, with generated inputs (`proptest`):
//!
//! - the borrowed JSON reader ([`Json::parse`]) against `serde_json`: the
//!   same texts accepted and refused, the same values;
//! - [`named_ref`] (the ref read from the front of a text) against the full
//!   parse: the same ref, or `None`;
//! - the canonical form against RFC 8785 as the `serde_jcs` crate writes it,
//!   and the hash's idempotence and independence of key order and layout;
//! - [`validate`]: never panics, whatever the JSON;
//! - [`EntityRef`]: what it prints parses back to the same ref.
//!
//! Each runs 256 cases by default (CI); `PROPTEST_CASES=N` runs N, e.g.
//! `PROPTEST_CASES=200000 cargo test -p weir-core --lib differential` for
//! hours of fuzzing. A disagreement found is kept as a regression case in
//! `differential.proptest-regressions` beside this file (proptest replays
//! it first on every run) and as a named test below.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::canonical::{ContentHash, canonical_json};
use crate::entity_ref::EntityRef;
use crate::json::Json;
use crate::named_ref::named_ref;
use crate::validation::validate;

/// The `serde_json::Value` a [`Json`] stands for.
fn value_of(json: &Json<'_>) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Number(number) => Value::Number(number.clone()),
        Json::String(text) => Value::String(text.to_string()),
        Json::Array(items) => Value::Array(items.iter().map(value_of).collect()),
        Json::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (key.to_owned(), value_of(value)))
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------------------
// Generators.

/// Strings that exercise escaping and ordering: ASCII, control characters,
/// quotes and backslashes, U+007F, U+2028, characters above U+E000 and
/// outside the Basic Multilingual Plane (where UTF-16 order differs from
/// byte order).
fn text() -> impl Strategy<Value = String> {
    let char = prop_oneof![
        6 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('\0', '\u{7f}'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{2028}'),
        1 => proptest::char::range('\u{e000}', '\u{ffff}'),
        1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
        1 => any::<char>(),
    ];
    proptest::collection::vec(char, 0..12).prop_map(|chars| chars.into_iter().collect())
}

/// Numbers of every shape serde_json reads: small and large integers, and
/// finite doubles from tiny to huge.
fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-1000i64..1000).prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        (-1e6f64..1e6).prop_filter_map("finite", Number::from_f64),
        prop_oneof![Just(1e21), Just(1e-7), Just(5e-324), Just(-0.0), Just(0.1)]
            .prop_filter_map("finite", Number::from_f64),
    ]
}

/// Any JSON value, a few levels deep.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Whether every integer in `value` is within ±2^53, where RFC 8785 (which
/// writes every number as a double) and Weir's form agree.
fn integers_within_2_53(value: &Value) -> bool {
    const LIMIT: u64 = 1 << 53;
    match value {
        Value::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(n), _) => n <= LIMIT,
            (None, Some(n)) => n.unsigned_abs() <= LIMIT,
            (None, None) => true,
        },
        Value::Array(items) => items.iter().all(integers_within_2_53),
        Value::Object(members) => members.values().all(integers_within_2_53),
        _ => true,
    }
}

/// Whether every object's keys sort the same by the UTF-8 bytes of their
/// escaped form (serde_jcs's order) as by their UTF-16 code units (RFC
/// 8785's).
fn reference_sorts_alike(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(reference_sorts_alike),
        Value::Object(members) => {
            let mut by_bytes: Vec<&String> = members.keys().collect();
            let mut by_units = by_bytes.clone();
            by_bytes.sort_by_key(|key| Value::String((*key).clone()).to_string());
            by_units.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            by_bytes == by_units && members.values().all(reference_sorts_alike)
        }
        _ => true,
    }
}

/// JSON text of `value` with its object members in an order chosen by
/// `order`, whitespace chosen by `spaces`, and strings escaped in either
/// way JSON allows (`\u` escapes where `escape` says so): the same value,
/// written differently.
fn written(value: &Value, order: &mut impl Iterator<Item = u8>, spaced: bool) -> String {
    let mut out = String::new();
    write_text(value, order, spaced, &mut out);
    out
}

fn write_text(value: &Value, order: &mut impl Iterator<Item = u8>, spaced: bool, out: &mut String) {
    let space = if spaced { " \n\t " } else { "" };
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(space);
                write_text(item, order, spaced, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            // A rotation and maybe a reversal: every order is reachable for
            // small objects, and the text stays valid JSON.
            if !members.is_empty() {
                let turn = usize::from(order.next().unwrap_or(0)) % members.len();
                members.rotate_left(turn);
                if order.next().unwrap_or(0) % 2 == 1 {
                    members.reverse();
                }
            }
            out.push('{');
            for (i, (key, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(space);
                write_string(key, order.next().unwrap_or(0).is_multiple_of(3), out);
                out.push_str(space);
                out.push(':');
                write_text(value, order, spaced, out);
            }
            out.push('}');
        }
        Value::String(text) => write_string(text, order.next().unwrap_or(0).is_multiple_of(3), out),
        other => out.push_str(&other.to_string()),
    }
}

/// `text` as a JSON string; with `escape_all`, every character as `\u`
/// escapes (surrogate pairs above the BMP).
fn write_string(text: &str, escape_all: bool, out: &mut String) {
    if !escape_all {
        out.push_str(&Value::String(text.to_owned()).to_string());
        return;
    }
    out.push('"');
    let mut units = [0u16; 2];
    for char in text.chars() {
        for unit in char.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04X}"));
        }
    }
    out.push('"');
}

/// Texts that are not quite JSON: a JSON text with bytes cut out, doubled
/// or replaced by JSON's own punctuation.
fn mutated(text: String, edits: Vec<(usize, u8)>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    const PUNCTUATION: &[char] = &[
        '{', '}', '[', ']', ',', ':', '"', '\\', ' ', '0', '-', 'e', '.', 'u', 'n', 't',
    ];
    for (at, what) in edits {
        if chars.is_empty() {
            break;
        }
        let at = at % chars.len();
        match what % 3 {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            _ => chars[at] = PUNCTUATION[usize::from(what) % PUNCTUATION.len()],
        }
    }
    chars.into_iter().collect()
}

/// An entity-shaped value: `kind` and `metadata` (with `name` and
/// `namespace` in their usual forms and some odd ones) among other members.
fn entity_like() -> impl Strategy<Value = Value> {
    let name_part = prop_oneof![
        4 => "[a-zA-Z0-9][a-zA-Z0-9._-]{0,12}",
        1 => text(),
        1 => Just(String::new()),
    ];
    let field = prop_oneof![
        6 => name_part.clone().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => value(),
    ];
    (
        proptest::option::weighted(0.95, field.clone()),
        proptest::option::weighted(0.95, field.clone()),
        proptest::option::weighted(0.6, field),
        proptest::collection::vec((text(), value()), 0..3),
        proptest::collection::vec((text(), value()), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(kind, name, namespace, extra, extra_metadata, metadata_object)| {
                let mut metadata = Map::new();
                for (key, value) in extra_metadata {
                    metadata.insert(key, value);
                }
                if let Some(name) = name {
                    metadata.insert("name".into(), name);
                }
                if let Some(namespace) = namespace {
                    metadata.insert("namespace".into(), namespace);
                }
                let mut root = Map::new();
                for (key, value) in extra {
                    root.insert(key, value);
                }
                root.insert("apiVersion".into(), "backstage.io/v1alpha1".into());
                if let Some(kind) = kind {
                    root.insert("kind".into(), kind);
                }
                root.insert(
                    "metadata".into(),
                    if metadata_object {
                        Value::Object(metadata)
                    } else {
                        Value::Array(vec![Value::Object(metadata)])
                    },
                );
                Value::Object(root)
            },
        )
}

/// The ref the full parse finds in `text`.
fn full_ref(text: &str) -> Option<String> {
    let json = Json::parse(text).ok()?;
    EntityRef::from_entity(&json)
        .ok()
        .map(|entity_ref| entity_ref.to_string())
}

// ---------------------------------------------------------------------------
// The properties.

/// The reader and serde_json accept and refuse the same texts, and agree
/// on the value of what they accept.
fn check_reader(text: &str) -> Result<(), TestCaseError> {
    let ours = Json::parse(text);
    let reference = serde_json::from_str::<Value>(text);
    match (ours, reference) {
        (Ok(json), Ok(value)) => prop_assert_eq!(value_of(&json), value, "text {:?}", text),
        (Err(_), Err(_)) => {}
        (ours, reference) => prop_assert!(
            false,
            "text {:?}: Json::parse {:?}, serde_json {:?}",
            text,
            ours.map(|json| value_of(&json)),
            reference
        ),
    }
    Ok(())
}

proptest! {
    #[test]
    fn the_reader_reads_what_serde_json_reads(
        value in value(),
        order in proptest::collection::vec(any::<u8>(), 64),
        spaced in any::<bool>(),
    ) {
        check_reader(&written(&value, &mut order.into_iter().cycle(), spaced))?;
    }

    #[test]
    fn the_reader_refuses_what_serde_json_refuses(
        value in value(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        check_reader(&mutated(value.to_string(), edits))?;
    }

    #[test]
    fn the_reader_agrees_on_any_text(text in "[\\[\\]{}\":,0-9a-z.eE+\\\\ -]{0,40}") {
        check_reader(&text)?;
    }

    #[test]
    fn the_front_reader_names_the_parsed_ref_or_none(
        entity in entity_like(),
        order in proptest::collection::vec(any::<u8>(), 64),
        spaced in any::<bool>(),
    ) {
        let text = written(&entity, &mut order.into_iter().cycle(), spaced);
        let front = named_ref(&text);
        if front.is_some() {
            prop_assert_eq!(front, full_ref(&text), "text {}", text);
        }
    }

    #[test]
    fn the_canonical_form_is_rfc_8785(value in value()) {
        prop_assume!(integers_within_2_53(&value));
        // serde_jcs sorts keys by the UTF-8 bytes of their escaped form,
        // not by the UTF-16 code units of the key as RFC 8785 says (it puts
        // `"A"` before `"\""`, and U+E000 before U+10000): compare only
        // where the two orders agree (`keys_sort_by_utf16_code_units`
        // checks the rest on the RFC's own example).
        prop_assume!(reference_sorts_alike(&value));
        let reference = serde_jcs::to_string(&value).expect("serde_jcs writes any Value");
        prop_assert_eq!(canonical_json(&value), reference);
    }

    #[test]
    fn the_hash_is_of_the_canonical_form_whatever_the_layout(
        value in value(),
        order in proptest::collection::vec(any::<u8>(), 64),
        spaced in any::<bool>(),
    ) {
        let canonical = canonical_json(&value);
        let expected: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
        let text = written(&value, &mut order.into_iter().cycle(), spaced);
        let json = Json::parse(&text).expect("a written value parses");
        // Streamed from the text as read, in any key order and layout.
        let streamed = ContentHash::of(&json);
        prop_assert_eq!(streamed.as_bytes(), &expected);
        // Idempotent: the canonical form is its own canonical form.
        let again: Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
        prop_assert_eq!(canonical_json(&again), canonical);
    }

    #[test]
    fn validation_never_panics(entity in prop_oneof![entity_like(), value()]) {
        let text = entity.to_string();
        let json = Json::parse(&text).expect("a Value's text parses");
        // Either answer is fine; a panic fails the case.
        let _ = validate(&json);
    }

    #[test]
    fn a_printed_ref_parses_back_to_itself(text in "[a-zA-Z0-9:/._ -]{0,24}|\\PC{0,12}") {
        if let Ok(entity_ref) = EntityRef::parse(&text) {
            let printed = entity_ref.to_string();
            prop_assert_eq!(EntityRef::parse(&printed), Ok(entity_ref.clone()), "{}", printed);
            prop_assert_eq!(printed.to_lowercase(), printed.clone());
        }
    }

    #[test]
    fn a_ref_from_its_parts_prints_and_parses_back(
        kind in "[a-zA-Z][a-zA-Z0-9]{0,10}",
        namespace in "[a-z0-9-]{1,10}",
        name in "\\PC{1,16}",
    ) {
        let entity_ref = EntityRef::new(&kind, &namespace, &name).expect("non-empty parts");
        prop_assert_eq!(EntityRef::parse(&entity_ref.to_string()), Ok(entity_ref));
    }
}

/// Nesting at and past serde_json's recursion limit: refused alike.
#[test]
fn deep_nesting_is_refused_alike() {
    for depth in [100, 127, 128, 129, 200] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            check_reader(&text).unwrap();
        }
    }
}

/// RFC 8785, section 3.2.3: members are sorted by their keys' UTF-16 code
/// units (the RFC's own example; `serde_jcs` sorts by UTF-8 bytes and puts
/// U+FB33 before the emoji, so the differential test skips such keys).
#[test]
fn keys_sort_by_utf16_code_units() {
    let value: Value = serde_json::from_str(
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh",
            "1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control",
            "\u00f6":"Latin Small Letter O With Diaeresis"}"#,
    )
    .unwrap();
    let canonical = canonical_json(&value);
    let keys: Vec<String> = canonical
        .split(':')
        .filter_map(|part| part.rsplit('"').nth(1).map(str::to_owned))
        .collect();
    let values: Vec<&str> = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    .to_vec();
    let order: Vec<usize> = values
        .iter()
        .map(|value| canonical.find(value).expect("every value is written"))
        .collect();
    assert!(order.is_sorted(), "{canonical} ({keys:?})");
}
