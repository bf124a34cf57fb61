//! An entity's JSON read in place, for the intake: strings and keys borrow
//! from the text unless they hold an escape, and an object is one sorted
//! vector of members. Validation, the canonical hash and the merge check all
//! read this form, so taking in an entity costs a few allocations (one per
//! object and array) where a `serde_json::Value` makes one per key, string
//! and map node, and frees them all again.
//!
//! It reads exactly what `serde_json::Value` reads, with the same numbers,
//! the same recursion limit and the same answer to a repeated key (the last
//! one wins). A `Value` converts to it by borrowing, for callers that hold
//! one.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// A JSON value whose strings borrow from the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members sorted by key (byte order), each key once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Json<'a> {
    /// Reads `text`, which must hold one JSON value and nothing else.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }
}

impl<'a> Object<'a> {
    /// An object of `members` in any order; of a repeated key, the last wins.
    fn from_members(mut members: Vec<(Cow<'a, str>, Json<'a>)>) -> Self {
        if !members.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, so each run of a repeated key ends with its last value.
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(members.len());
            for member in members {
                match kept.last_mut() {
                    Some(last) if last.0 == member.0 => *last = member,
                    _ => kept.push(member),
                }
            }
            members = kept;
        }
        Object { members }
    }

    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.members
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| &self.members[i].1)
    }

    /// The members in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Json<'a>)> {
        self.into_iter()
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.members.iter().map(|(key, _)| key.as_ref())
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl<'o, 'a> IntoIterator for &'o Object<'a> {
    type Item = (&'o str, &'o Json<'a>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'o, (Cow<'a, str>, Json<'a>)>,
        fn(&'o (Cow<'a, str>, Json<'a>)) -> (&'o str, &'o Json<'a>),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.members
            .iter()
            .map(|(key, value)| (key.as_ref(), value))
    }
}

impl<'a> From<&'a Value> for Json<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            Value::Object(map) => Json::Object(Object::from_members(
                map.iter()
                    .map(|(key, value)| (Cow::Borrowed(key.as_str()), Json::from(value)))
                    .collect(),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        // As `Value` reads it: JSON text has no NaN or infinity.
        Ok(Number::from_f64(x).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(text)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(Object::from_members(members)))
    }
}

/// A key, borrowed from the text when it holds no escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` read both ways, `Value`'s answer converted.
    fn both(text: &str) -> (Json<'_>, Value) {
        let json = Json::parse(text).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        (json, value)
    }

    #[test]
    fn it_reads_what_value_reads() {
        for text in [
            r#"{"b":1,"a":[true,false,null,-3,2.5,1e400,"x"],"c":{"z":{},"y":[]}}"#,
            r#"{"k":"a\"b\\c\u00e9\n","\u0041":"escaped key"}"#,
            r#"[18446744073709551615,-9223372036854775808,0.1,1e-7]"#,
            r#""just a string""#,
            "  {\"spaced\" : [ 1 , 2 ] }  ",
        ] {
            let value: Result<Value, _> = serde_json::from_str(text);
            let Ok(value) = value else {
                assert!(Json::parse(text).is_err(), "{text}");
                continue;
            };
            let (json, _) = both(text);
            assert_eq!(json, Json::from(&value), "{text}");
        }
    }

    #[test]
    fn it_refuses_what_value_refuses() {
        for text in [
            "",
            "{",
            r#"{"a":}"#,
            r#"{"a":1}x"#,
            "[1,]",
            "nul",
            r#"{"a" 1}"#,
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(Json::parse(text).is_err(), "{text}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(Json::parse(&deep).is_err());
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_as_value_does() {
        let (json, value) = both(r#"{"b":1,"a":2,"b":3,"a":4,"c":5}"#);
        assert_eq!(json, Json::from(&value));
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), 3);
        assert_eq!(object.get("b"), Some(&Json::Number(3.into())));
        assert_eq!(object.get("a"), Some(&Json::Number(4.into())));
    }

    #[test]
    fn members_are_found_and_listed_in_key_order() {
        let json = Json::parse(r#"{"kind":"A","apiVersion":"v","metadata":{"name":"n"}}"#).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(
            object.keys().collect::<Vec<_>>(),
            ["apiVersion", "kind", "metadata"]
        );
        assert_eq!(object.get("kind").and_then(Json::as_str), Some("A"));
        assert_eq!(object.get("spec"), None);
        assert_eq!(Object::default().get("a"), None);
    }

    #[test]
    fn unescaped_strings_borrow_from_the_text() {
        let json = Json::parse(r#"{"plain":"text","esc\"aped":"a\nb"}"#).unwrap();
        let object = json.as_object().unwrap();
        let members: Vec<_> = object.members.iter().collect();
        assert!(matches!(members[1].0, Cow::Borrowed("plain")));
        assert!(matches!(members[1].1, Json::String(Cow::Borrowed("text"))));
        assert!(matches!(members[0].0, Cow::Owned(_)));
        assert_eq!(members[0].1.as_str(), Some("a\nb"));
    }
}
