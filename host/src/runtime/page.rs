//! What a `next` call hands the host, once checked against the source's
//! limits: entities as validated JSON text, the next cursor, and `done`.

use serde_json::value::RawValue;
use weir_core::sourced::{PluginBuild, SourcedEntity};

use super::Limits;
use super::bindings::weir::source::types;
use super::error::SourceErrorKind;

/// How much of a bad value an error message quotes.
const EXCERPT_CHARS: usize = 120;

/// One page from a source.
#[derive(Debug)]
pub struct Page {
    pub entities: Vec<SourcedEntity>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<Cursor>,
    pub done: bool,
}

/// A source's cursor: JSON text, opaque to the host.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Cursor(Box<RawValue>);

impl Cursor {
    /// A cursor from JSON text, checked to be JSON.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.to_owned()).map(Cursor)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Cursor {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// Check a page against the limits and the contract, and take ownership of
/// its JSON without copying it.
pub(crate) fn check_page(
    page: types::Page,
    limits: &Limits,
    build: &PluginBuild,
) -> Result<Page, SourceErrorKind> {
    let count = page.entities.len();
    if count > limits.max_entities_per_page {
        return Err(SourceErrorKind::TooManyEntities {
            count,
            limit: limits.max_entities_per_page,
        });
    }
    let cursor_bytes = page.cursor.as_ref().map_or(0, String::len);
    if cursor_bytes > limits.max_cursor_bytes {
        return Err(SourceErrorKind::CursorTooLarge {
            bytes: cursor_bytes,
            limit: limits.max_cursor_bytes,
        });
    }
    let bytes = cursor_bytes
        + page
            .entities
            .iter()
            .map(|e| e.json.len() + e.location_key.as_ref().map_or(0, String::len))
            .sum::<usize>();
    if bytes > limits.max_page_bytes {
        return Err(SourceErrorKind::PageTooLarge {
            bytes,
            limit: limits.max_page_bytes,
        });
    }
    let cursor = match (page.cursor, page.done) {
        (_, true) => None,
        (None, false) => return Err(SourceErrorKind::MissingCursor),
        (Some(text), false) => Some(check_cursor(text)?),
    };
    let entities = page
        .entities
        .into_iter()
        .enumerate()
        .map(|(index, entity)| check_entity(index, entity, build))
        .collect::<Result<_, _>>()?;
    Ok(Page {
        entities,
        cursor,
        done: page.done,
    })
}

fn check_cursor(text: String) -> Result<Cursor, SourceErrorKind> {
    RawValue::from_string(text.clone())
        .map(Cursor)
        .map_err(|error| SourceErrorKind::InvalidCursorJson {
            error: error.to_string(),
            excerpt: excerpt(&text),
        })
}

pub(crate) fn check_entity(
    index: usize,
    entity: types::Entity,
    build: &PluginBuild,
) -> Result<SourcedEntity, SourceErrorKind> {
    // One syntax-only pass, no allocation: the core parses what it keeps.
    if let Err(error) = serde_json::from_str::<&RawValue>(&entity.json) {
        return Err(SourceErrorKind::InvalidEntityJson {
            index,
            error: error.to_string(),
            excerpt: excerpt(&entity.json),
        });
    }
    if !entity.json.trim_start().starts_with('{') {
        return Err(SourceErrorKind::EntityNotAnObject {
            index,
            excerpt: excerpt(&entity.json),
        });
    }
    Ok(SourcedEntity::new(
        entity.json,
        entity.location_key,
        build.clone(),
    ))
}

pub(crate) fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> PluginBuild {
        PluginBuild::of(b"test")
    }

    fn entity(json: &str) -> types::Entity {
        types::Entity {
            json: json.into(),
            location_key: None,
        }
    }

    fn page(entities: Vec<types::Entity>, cursor: Option<&str>, done: bool) -> types::Page {
        types::Page {
            entities,
            cursor: cursor.map(Into::into),
            done,
        }
    }

    #[test]
    fn a_good_page_passes_with_its_cursor_and_build() {
        let checked = check_page(
            page(
                vec![entity(r#"{"kind":"Group"}"#)],
                Some(r#"{"page":2}"#),
                false,
            ),
            &Limits::default(),
            &build(),
        )
        .unwrap();
        assert_eq!(checked.entities.len(), 1);
        assert_eq!(checked.entities[0].json(), r#"{"kind":"Group"}"#);
        assert_eq!(checked.entities[0].build(), &build());
        assert_eq!(checked.cursor.unwrap().as_str(), r#"{"page":2}"#);
        assert!(!checked.done);
    }

    #[test]
    fn the_last_page_drops_any_cursor() {
        let checked =
            check_page(page(vec![], Some("1"), true), &Limits::default(), &build()).unwrap();
        assert!(checked.done);
        assert!(checked.cursor.is_none());
    }

    #[test]
    fn malformed_json_names_the_entity() {
        let error = check_page(
            page(vec![entity("{}"), entity("{not json")], Some("1"), false),
            &Limits::default(),
            &build(),
        )
        .unwrap_err();
        assert!(
            matches!(error, SourceErrorKind::InvalidEntityJson { index: 1, .. }),
            "{error}"
        );
        let error = check_page(
            page(vec![entity("[1]")], Some("1"), false),
            &Limits::default(),
            &build(),
        )
        .unwrap_err();
        assert!(
            matches!(error, SourceErrorKind::EntityNotAnObject { index: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_entities_per_page: 1,
            max_page_bytes: 10,
            max_cursor_bytes: 3,
            ..Limits::default()
        };
        let too_many = page(vec![entity("{}"), entity("{}")], Some("1"), false);
        assert!(matches!(
            check_page(too_many, &limits, &build()),
            Err(SourceErrorKind::TooManyEntities { count: 2, limit: 1 })
        ));
        let too_big = page(vec![entity(r#"{"a":"0123456789"}"#)], Some("1"), false);
        assert!(matches!(
            check_page(too_big, &limits, &build()),
            Err(SourceErrorKind::PageTooLarge { limit: 10, .. })
        ));
        let long_cursor = page(vec![], Some("12345"), false);
        assert!(matches!(
            check_page(long_cursor, &limits, &build()),
            Err(SourceErrorKind::CursorTooLarge { bytes: 5, limit: 3 })
        ));
    }

    #[test]
    fn an_unfinished_page_needs_a_valid_cursor() {
        assert!(matches!(
            check_page(page(vec![], None, false), &Limits::default(), &build()),
            Err(SourceErrorKind::MissingCursor)
        ));
        assert!(matches!(
            check_page(
                page(vec![], Some("{oops"), false),
                &Limits::default(),
                &build()
            ),
            Err(SourceErrorKind::InvalidCursorJson { .. })
        ));
    }
}
