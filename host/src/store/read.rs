//! The read path: merged entities (with provenance and any source errors
//! attached) and the change log.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{QueryContext, Store, StoreError};
use crate::core::merge::{Contribution, single_provenance};

/// Merged entities with their body: their own, or, for an entity that is
/// exactly one source's contribution, that source's record.
macro_rules! select_entities {
    ($($rest:literal),+) => {
        concat!(
            "SELECT e.entity_ref, COALESCE(e.body, s.body), e.hash, e.provenance, e.event_offset, e.sole_source \
             FROM entities e LEFT JOIN source_entities s \
             ON s.source = e.sole_source AND s.entity_ref = e.entity_ref ",
            $($rest),+
        )
    };
}

/// A merged entity as the catalog holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntity {
    pub entity_ref: String,
    pub entity: Value,
    /// Hex SHA-256 of the merged entity's canonical JSON.
    pub hash: String,
    /// Which source supplied which field and annotation.
    pub provenance: Value,
    /// The offset of the entity's latest event.
    pub event_offset: i64,
    /// Sources whose latest version of this entity was invalid: `(source,
    /// error)`. Their last good version is what was merged.
    pub errors: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Updated,
    Removed,
}

/// One entry of the compacted change log: the latest event of its ref.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub offset: i64,
    pub kind: ChangeKind,
    pub entity_ref: String,
    /// The current entity; `None` for a removal (a tombstone).
    pub entity: Option<Value>,
}

impl Store {
    /// The merged entity for a normalised ref, if there is one.
    pub async fn entity(&self, entity_ref: &str) -> Result<Option<StoredEntity>, StoreError> {
        let row = sqlx::query(select_entities!("WHERE e.entity_ref = $1"))
            .bind(entity_ref)
            .fetch_optional(self.pool())
            .await
            .doing(format!("reading entity {entity_ref}"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut entity = stored_entity(&row)?;
        entity.errors = self.source_errors(entity_ref).await?;
        Ok(Some(entity))
    }

    /// Merged entities in ref order, after `after` (a ref), at most `limit`;
    /// `kind` (lower case) filters.
    pub async fn entities(
        &self,
        kind: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredEntity>, StoreError> {
        let rows = sqlx::query(select_entities!(
            "WHERE ($1 IS NULL OR e.kind = $1) AND ($2 IS NULL OR e.entity_ref > $2) ",
            "ORDER BY e.entity_ref LIMIT $3"
        ))
        .bind(kind)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .doing("listing entities")?;
        rows.iter().map(stored_entity).collect()
    }

    /// Events after `offset` in offset order, at most `limit`.
    pub async fn changes(&self, offset: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.event_offset, c.change, c.entity_ref, COALESCE(e.body, s.body) FROM changes c \
             LEFT JOIN entities e ON e.entity_ref = c.entity_ref \
             LEFT JOIN source_entities s ON s.source = e.sole_source AND s.entity_ref = e.entity_ref \
             WHERE c.event_offset > $1 ORDER BY c.event_offset LIMIT $2",
        )
        .bind(offset)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .doing(format!("reading changes after offset {offset}"))?;
        rows.iter().map(change).collect()
    }

    /// The offset of the latest committed event (0 before the first).
    pub async fn last_offset(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT last_offset FROM log_head WHERE id = 1")
            .fetch_one(self.pool())
            .await
            .doing("reading the last offset")
    }

    /// How many entities `source` currently contributes.
    pub async fn contribution_count(&self, source: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM source_entities WHERE source = $1")
            .bind(source)
            .fetch_one(self.pool())
            .await
            .doing(format!("counting entities of source `{source}`"))
    }

    async fn source_errors(&self, entity_ref: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, error FROM source_entities WHERE entity_ref = $1 AND error IS NOT NULL ORDER BY source",
        )
        .bind(entity_ref)
        .fetch_all(self.pool())
        .await
        .doing(format!("reading source errors of {entity_ref}"))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading source errors")
    }
}

fn stored_entity(row: &AnyRow) -> Result<StoredEntity, StoreError> {
    let entity_ref: String = row.try_get(0).doing("reading an entity")?;
    let body: String = row.try_get(1).doing("reading an entity")?;
    let provenance: Option<String> = row.try_get(3).doing("reading an entity")?;
    let sole_source: Option<String> = row.try_get(5).doing("reading an entity")?;
    let entity = parse(&entity_ref, "body", &body)?;
    let provenance = match (provenance, sole_source) {
        (Some(provenance), _) => parse(&entity_ref, "provenance", &provenance)?,
        (None, Some(source)) => sole_provenance(&entity_ref, &source, &entity)?,
        (None, None) => Value::Null,
    };
    Ok(StoredEntity {
        entity,
        provenance,
        hash: row.try_get(2).doing("reading an entity")?,
        event_offset: row.try_get(4).doing("reading an entity")?,
        errors: Vec::new(),
        entity_ref,
    })
}

/// The provenance of an entity that is one source's contribution as it is.
fn sole_provenance(entity_ref: &str, source: &str, entity: &Value) -> Result<Value, StoreError> {
    let provenance = single_provenance(&Contribution {
        source,
        priority: 0,
        entity,
    });
    serde_json::to_value(provenance).map_err(|error| StoreError::Corrupt {
        entity_ref: entity_ref.to_owned(),
        what: "provenance",
        error: error.to_string(),
    })
}

fn change(row: &AnyRow) -> Result<Change, StoreError> {
    let entity_ref: String = row.try_get(2).doing("reading a change")?;
    let kind = match row
        .try_get::<String, _>(1)
        .doing("reading a change")?
        .as_str()
    {
        "added" => ChangeKind::Added,
        "updated" => ChangeKind::Updated,
        _ => ChangeKind::Removed,
    };
    let body: Option<String> = row.try_get(3).doing("reading a change")?;
    let entity = match (kind, body) {
        (ChangeKind::Removed, _) | (_, None) => None,
        (_, Some(body)) => Some(parse(&entity_ref, "body", &body)?),
    };
    Ok(Change {
        offset: row.try_get(0).doing("reading a change")?,
        kind,
        entity_ref,
        entity,
    })
}

fn parse(entity_ref: &str, what: &'static str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        entity_ref: entity_ref.to_owned(),
        what,
        error: error.to_string(),
    })
}
