//! Finding entities by part of their ref or name (`GET
//! /api/entities/search`): a case-insensitive substring match on the ref
//! (`kind:namespace/name`, which holds the name), best matches first.

use sqlx::Row;

use super::{Catalog, QueryContext, StoreError};

/// An entity whose ref matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMatch {
    /// `kind:namespace/name`, lower case.
    pub entity_ref: String,
    /// The name as the entity spells it.
    pub name: String,
    /// The offset of the entity's latest event.
    pub event_offset: i64,
}

/// `text` as a LIKE pattern that matches it literally, anywhere.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Catalog {
    /// The entities whose ref contains `text` (compared in lower case): the
    /// ref itself first, then those named `text`, then those whose name
    /// starts with it, then the rest in ref order; at most `limit`.
    pub async fn search_entities(
        &self,
        text: &str,
        limit: i64,
    ) -> Result<Vec<EntityMatch>, StoreError> {
        let text = text.trim().to_lowercase();
        let contains = contains_pattern(&text);
        let starts = format!("{}%", contains.trim_start_matches('%'));
        let rows = sqlx::query(
            "SELECT entity_ref, name, event_offset FROM entities \
             WHERE entity_ref LIKE $1 ESCAPE '\\' \
             ORDER BY CASE WHEN entity_ref = $2 THEN 0 WHEN LOWER(name) = $2 THEN 1 \
             WHEN LOWER(name) LIKE $3 ESCAPE '\\' THEN 2 ELSE 3 END, entity_ref LIMIT $4",
        )
        .bind(contains.as_str())
        .bind(text.as_str())
        .bind(starts.as_str())
        .bind(limit)
        .fetch_all(self.read_pool())
        .await
        .doing(format!("searching the entities for {text:?}"))?;
        rows.iter()
            .map(|row| {
                Ok(EntityMatch {
                    entity_ref: row.try_get(0)?,
                    name: row.try_get(1)?,
                    event_offset: row.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading the entities found")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_wildcards_literally() {
        assert_eq!(contains_pattern("svc"), "%svc%");
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
