//! A pushed event's body, `{"upsert": [I, ...], "remove": [I, ...]}`, read
//! as the README's "Push" says.

use serde_json::{Map, Value};
use weir_guest::Error;

/// The highest entity number a cycle can have (1000 pages of 1000).
const LAST_ENTITY: u64 = 999_999;

/// The entity numbers to upsert and to remove, in the body's order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PushBody {
    pub(crate) upsert: Vec<u32>,
    pub(crate) remove: Vec<u32>,
}

impl PushBody {
    pub(crate) fn parse(body: &[u8]) -> Result<PushBody, Error> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|error| invalid_push(format!("not JSON: {error}")))?;
        let Value::Object(object) = value else {
            return Err(invalid_push("not a JSON object"));
        };
        if let Some(key) = object
            .keys()
            .find(|key| !["upsert", "remove"].contains(&key.as_str()))
        {
            return Err(invalid_push(format!("unknown key `{key}`")));
        }
        Ok(PushBody {
            upsert: entity_numbers(&object, "upsert")?,
            remove: entity_numbers(&object, "remove")?,
        })
    }
}

/// `body[key]` as entity numbers; none when the key is absent.
fn entity_numbers(body: &Map<String, Value>, key: &str) -> Result<Vec<u32>, Error> {
    let Some(value) = body.get(key) else {
        return Ok(Vec::new());
    };
    let not_numbers = || invalid_push(format!("`{key}` is not a list of entity numbers"));
    value
        .as_array()
        .ok_or_else(not_numbers)?
        .iter()
        .map(|item| {
            item.as_u64()
                .filter(|number| *number <= LAST_ENTITY)
                .and_then(|number| u32::try_from(number).ok())
                .ok_or_else(not_numbers)
        })
        .collect()
}

/// The fatal error for a body that is not valid.
pub(crate) fn invalid_push(reason: impl std::fmt::Display) -> Error {
    Error::fatal(format!("conformance: push body is not valid: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_the_bodys_order() {
        let body = PushBody::parse(br#"{"remove": [3, 3], "upsert": [5, 0]}"#).unwrap();
        assert_eq!(
            body,
            PushBody {
                upsert: vec![5, 0],
                remove: vec![3, 3]
            }
        );
        assert_eq!(PushBody::parse(b"{}").unwrap(), PushBody::default());
    }

    #[test]
    fn bodies_that_are_not_valid() {
        for bad in [
            &b"not json"[..],
            b"[]",
            br#"{"upsert": "1"}"#,
            br#"{"upsert": null}"#,
            br#"{"upsert": [-1]}"#,
            br#"{"upsert": [1000000]}"#,
            br#"{"remove": [1.5]}"#,
            br#"{"upserts": [1]}"#,
        ] {
            let error = PushBody::parse(bad).unwrap_err();
            assert!(
                matches!(&error, Error::Fatal(m) if m.starts_with("conformance: push body is not valid: ")),
                "{}: {error}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
