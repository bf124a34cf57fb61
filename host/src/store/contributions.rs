//! Each source's own version of an entity (what it sent, before the merge)
//! and the entity's latest event: what an operator compares with the merged
//! entity to see who provided what.

use sqlx::Row;

use super::read::ChangeKind;
use super::{Catalog, QueryContext, StoreError};

/// One source's stored version of an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnVersion {
    pub source: String,
    pub priority: i64,
    /// SHA-256 of the plugin build that produced it.
    pub plugin_build: String,
    pub location_key: Option<String>,
    /// The entity's JSON text as the source sent it (its last good one when
    /// `error` is set).
    pub body: String,
    /// Why the source's latest version was refused, if it was.
    pub error: Option<String>,
    pub first_seen_ms: i64,
    pub updated_ms: i64,
}

/// The latest event of a ref in the compacted log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestEvent {
    pub offset: i64,
    pub kind: ChangeKind,
    pub at_ms: i64,
}

impl Catalog {
    /// Every source's own version of `entity_ref`, highest priority first
    /// (the merge's order).
    pub async fn own_versions(&self, entity_ref: &str) -> Result<Vec<OwnVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, priority, plugin_build, location_key, body, error, first_seen_ms, \
             updated_ms FROM source_entities WHERE entity_ref = $1 ORDER BY priority DESC, source",
        )
        .bind(entity_ref)
        .fetch_all(self.read_pool())
        .await
        .doing(format!("reading the sources' versions of {entity_ref}"))?;
        rows.iter()
            .map(|row| {
                Ok(OwnVersion {
                    source: row.try_get(0)?,
                    priority: row.try_get(1)?,
                    plugin_build: row.try_get(2)?,
                    location_key: row.try_get(3)?,
                    body: row.try_get(4)?,
                    error: row.try_get(5)?,
                    first_seen_ms: row.try_get(6)?,
                    updated_ms: row.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing(format!("reading the sources' versions of {entity_ref}"))
    }

    /// The latest event of `entity_ref` (the log keeps one per ref): its
    /// addition or update while it lives, its removal once gone, none if it
    /// never was (or its tombstone was purged).
    pub async fn latest_event(&self, entity_ref: &str) -> Result<Option<LatestEvent>, StoreError> {
        let row = sqlx::query(
            "SELECT event_offset, last_change, updated_ms FROM entities WHERE entity_ref = $1 \
             UNION ALL \
             SELECT event_offset, 'removed', at_ms FROM removals WHERE entity_ref = $1",
        )
        .bind(entity_ref)
        .fetch_optional(self.read_pool())
        .await
        .doing(format!("reading the latest event of {entity_ref}"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind = match row
            .try_get::<String, _>(1)
            .doing("reading an event")?
            .as_str()
        {
            "added" => ChangeKind::Added,
            "updated" => ChangeKind::Updated,
            _ => ChangeKind::Removed,
        };
        Ok(Some(LatestEvent {
            offset: row.try_get(0).doing("reading an event")?,
            kind,
            at_ms: row.try_get(2).doing("reading an event")?,
        }))
    }
}
