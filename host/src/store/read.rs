//! The read path: merged entities (with provenance and any source errors
//! attached) and the change log, each live entity with the source that won
//! its merge and that source's location key.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use weir_core::merge::{Contribution, single_provenance};

use super::{Backend, Catalog, QueryContext, StoreError};

/// The compacted change log after offset `$1`, at most `$2` events in offset
/// order and about `$3` characters of entity text, as `(event_offset, change,
/// entity_ref, body, available, source, location_key)`: each live entity's
/// latest event (its row, with its current body and the source that won its
/// merge) merged with the removed refs' tombstones (no body, no source).
/// `filter` (`AND …` on `kind`) applies to both. Each side is limited
/// first, so either is read by its offset index only as far as the page
/// needs. An event is in the page when the text before it is under `$3`
/// (so the first always is); `available` is how many there were before that
/// cut, so a page cut short is known to be. An entity that is one source's
/// contribution (the common case) takes its body, source and location key
/// from the one row its join reads; a merged one looks its winner up.
fn log_after_offset(backend: Backend, filter: &str) -> String {
    let winner = winning("e", backend);
    format!(
        "SELECT event_offset, change, entity_ref, body, available, source, location_key FROM ( \
         SELECT log.*, SUM(LENGTH(COALESCE(body, ''))) OVER (ORDER BY event_offset) AS running, \
         LENGTH(COALESCE(body, '')) AS size, COUNT(*) OVER () AS available FROM ( \
         SELECT * FROM (SELECT e.event_offset, e.last_change AS change, e.entity_ref, \
         COALESCE(e.body, s.body) AS body, \
         COALESCE(e.sole_source, (SELECT w.source {winner})) AS source, \
         CASE WHEN e.sole_source IS NULL THEN (SELECT w.location_key {winner}) \
         ELSE s.location_key END AS location_key FROM entities e \
         LEFT JOIN source_entities s ON s.source = e.sole_source AND s.entity_ref = e.entity_ref \
         WHERE e.event_offset > $1 {filter}ORDER BY e.event_offset LIMIT $2) live \
         UNION ALL \
         SELECT * FROM (SELECT event_offset, 'removed' AS change, entity_ref, NULL AS body, \
         NULL AS source, NULL AS location_key \
         FROM removals WHERE event_offset > $1 {filter}ORDER BY event_offset LIMIT $2) gone \
         ORDER BY event_offset LIMIT $2) log \
         ) sized WHERE running - size < $3 ORDER BY event_offset"
    )
}

/// `FROM … ORDER BY … LIMIT 1` over the contributions to the ref of
/// `{entities}.entity_ref`, as `w`: the row of the source that wins its
/// merge, in the merge's precedence (higher priority, then the source name
/// in byte order: `COLLATE "C"` on PostgreSQL, whose default collation may
/// order names otherwise; SQLite's default is byte order).
fn winning(entities: &str, backend: Backend) -> String {
    let collate = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " COLLATE \"C\"",
    };
    format!(
        "FROM source_entities w WHERE w.entity_ref = {entities}.entity_ref \
         ORDER BY w.priority DESC, w.source{collate} LIMIT 1"
    )
}

/// The columns of a listed entity, `FROM entities e`: `(entity_ref, body,
/// hash, provenance, event_offset, sole_source, source, location_key)`,
/// where `source` is the winner of its merge and `location_key` that
/// source's key. A lone source's body and key are read by lookups per row
/// (see [`select_entities`]).
fn listing_columns(backend: Backend) -> String {
    let winner = winning("e", backend);
    let sole =
        "FROM source_entities s WHERE s.source = e.sole_source AND s.entity_ref = e.entity_ref";
    format!(
        "SELECT e.entity_ref, COALESCE(e.body, (SELECT s.body {sole})), e.hash, e.provenance, \
         e.event_offset, e.sole_source, COALESCE(e.sole_source, (SELECT w.source {winner})), \
         CASE WHEN e.sole_source IS NULL THEN (SELECT w.location_key {winner}) \
         ELSE (SELECT s.location_key {sole}) END FROM entities e "
    )
}

/// Merged entities with their body: their own, or, for an entity that is
/// exactly one source's contribution, that source's record.
macro_rules! select_entities {
    ($($rest:literal),+) => {
        concat!(
            // A lone source's body is read by a lookup per row: as a join,
            // PostgreSQL merged it with the whole `source_entities` index
            // from its start, whatever page of refs was asked for.
            "SELECT e.entity_ref, COALESCE(e.body, (SELECT s.body FROM source_entities s \
             WHERE s.source = e.sole_source AND s.entity_ref = e.entity_ref)), \
             e.hash, e.provenance, e.event_offset, e.sole_source FROM entities e ",
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

impl Catalog {
    /// The merged entity for a normalised ref, if there is one.
    pub async fn entity(&self, entity_ref: &str) -> Result<Option<StoredEntity>, StoreError> {
        let row = sqlx::query(select_entities!("WHERE e.entity_ref = $1"))
            .bind(entity_ref)
            .fetch_optional(self.read_pool())
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
        .fetch_all(self.read_pool())
        .await
        .doing("listing entities")?;
        rows.iter().map(stored_entity).collect()
    }

    /// Events after `offset` in offset order, at most `limit`.
    pub async fn changes(&self, offset: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(log_after_offset(self.backend, "")))
            .bind(offset)
            .bind(limit)
            .bind(i64::MAX)
            .fetch_all(self.read_pool())
            .await
            .doing(format!("reading changes after offset {offset}"))?;
        rows.iter().map(change).collect()
    }

    /// The offset of the latest committed event (0 before the first).
    pub async fn last_offset(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT last_offset FROM log_head WHERE id = 1")
            .fetch_one(self.read_pool())
            .await
            .doing("reading the last offset")
    }

    /// How many entities `source` currently contributes.
    pub async fn contribution_count(&self, source: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM source_entities WHERE source = $1")
            .bind(source)
            .fetch_one(self.read_pool())
            .await
            .doing(format!("counting entities of source `{source}`"))
    }

    async fn source_errors(&self, entity_ref: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, error FROM source_entities WHERE entity_ref = $1 AND error IS NOT NULL ORDER BY source",
        )
        .bind(entity_ref)
        .fetch_all(self.read_pool())
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
    let kind = change_kind(&row.try_get::<String, _>(1).doing("reading a change")?);
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

/// What [`Catalog::entity_rows`] lists: filters (each empty or `None` = any)
/// and the page.
#[derive(Debug, Clone, Default)]
pub struct EntityQuery<'a> {
    /// Kinds, lower case.
    pub kinds: &'a [String],
    /// Namespaces, lower case.
    pub namespaces: &'a [String],
    /// Only entities this source contributes to.
    pub source: Option<&'a str>,
    /// Refs after this one.
    pub after: Option<&'a str>,
    pub limit: i64,
}

/// A merged entity as its stored text, for serving without re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityText {
    pub entity_ref: String,
    /// The entity's JSON text.
    pub body: String,
    /// The offset of the entity's latest event.
    pub event_offset: i64,
    /// Who supplied it: the source that wins its merge, and that source's
    /// location key.
    pub winner: Winner,
}

/// The source whose contribution wins an entity's merge (the highest
/// priority, then the name that sorts first), and the location key it
/// gave the entity, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Winner {
    /// `None` only for an entity no source contributes to any more (which
    /// the catalog does not keep) or a removal.
    pub source: Option<String>,
    pub location_key: Option<String>,
}

/// An event of the change log with the current entity's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventText {
    pub offset: i64,
    pub kind: ChangeKind,
    pub entity_ref: String,
    /// The entity's JSON text; `None` for a removal.
    pub body: Option<String>,
    /// The winner of the entity's merge as it is now; none for a removal.
    pub winner: Winner,
}

/// A page of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTexts {
    pub events: Vec<EventText>,
    /// The page was cut at its size in text before its count: more events
    /// follow its last one.
    pub cut_short: bool,
}

/// Where the change log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// The last offset handed out (0 before the first event).
    pub head: i64,
    /// The highest offset of a purged tombstone (0 if none was): a consumer
    /// below it may have missed a removal.
    pub purged_through: i64,
}

/// What a tombstone purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeOutcome {
    /// Tombstones deleted.
    pub purged: u64,
    /// The log's `purged_through` after the purge.
    pub purged_through: i64,
}

/// A source's ingestion counters over its recorded cycles plus the current
/// one (for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounters {
    pub source: String,
    /// Finished cycles by outcome: `completed`, `failed`, `cancelled`.
    pub cycles: Vec<(String, i64)>,
    pub totals: super::CycleTotals,
}

/// One source's contribution to an entity, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContributorRecord {
    pub source: String,
    pub priority: i64,
    pub plugin_build: String,
    pub location_key: Option<String>,
    pub updated_ms: i64,
    /// The error of the source's latest, invalid, version, if any.
    pub error: Option<String>,
}

impl Catalog {
    /// Merged entities in ref order as their stored text, filtered by
    /// `query`: the listing of `GET /api/entities`.
    pub async fn entity_rows(
        &self,
        query: &EntityQuery<'_>,
    ) -> Result<Vec<EntityText>, StoreError> {
        let mut sql = listing_columns(self.backend);
        sql.push_str("WHERE 1 = 1 ");
        let mut next = 1;
        let mut placeholder = || {
            let text = format!("${next}");
            next += 1;
            text
        };
        if query.after.is_some() {
            sql.push_str(&format!("AND e.entity_ref > {} ", placeholder()));
        }
        if !query.kinds.is_empty() {
            let list: Vec<String> = query.kinds.iter().map(|_| placeholder()).collect();
            sql.push_str(&format!("AND e.kind IN ({}) ", list.join(",")));
        }
        if !query.namespaces.is_empty() {
            let list: Vec<String> = query.namespaces.iter().map(|_| placeholder()).collect();
            sql.push_str(&format!("AND e.namespace IN ({}) ", list.join(",")));
        }
        if query.source.is_some() {
            sql.push_str(&format!(
                "AND EXISTS (SELECT 1 FROM source_entities c WHERE c.source = {} \
                 AND c.entity_ref = e.entity_ref) ",
                placeholder()
            ));
        }
        sql.push_str(&format!("ORDER BY e.entity_ref LIMIT {}", placeholder()));
        // The text is built from fixed fragments and placeholders only.
        let mut statement = sqlx::query(AssertSqlSafe(sql));
        if let Some(after) = query.after {
            statement = statement.bind(after);
        }
        for kind in query.kinds {
            statement = statement.bind(kind.as_str());
        }
        for namespace in query.namespaces {
            statement = statement.bind(namespace.as_str());
        }
        if let Some(source) = query.source {
            statement = statement.bind(source);
        }
        let rows = statement
            .bind(query.limit)
            .fetch_all(self.read_pool())
            .await
            .doing("listing entities")?;
        rows.iter()
            .map(|row| {
                Ok(EntityText {
                    entity_ref: row.try_get(0)?,
                    body: row.try_get(1)?,
                    event_offset: row.try_get(4)?,
                    winner: Winner {
                        source: row.try_get(6)?,
                        location_key: row.try_get(7)?,
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading entities")
    }

    /// Events after `offset` in offset order, at most `limit` and about
    /// `max_chars` characters of entity text (always at least one event),
    /// of `kinds` (lower case; empty = every kind), with the current
    /// entity's text: `GET /api/events`. One statement, so one consistent
    /// snapshot.
    pub async fn event_texts(
        &self,
        offset: i64,
        limit: i64,
        max_chars: i64,
        kinds: &[String],
    ) -> Result<EventTexts, StoreError> {
        let kinds_sql = if kinds.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
            format!("AND kind IN ({}) ", list.join(","))
        };
        let select = log_after_offset(self.backend, &kinds_sql);
        let sql = if self.backend == Backend::Sqlite {
            // The whole page as one row: sqlx's SQLite driver hands rows over
            // from its worker thread one at a time, which cost more than the
            // query. Fields are split by the control characters 31 and 30,
            // which JSON text, entity refs and source names never contain
            // raw; a location key (any text) is written in hex, after `k`
            // when there is one.
            format!(
                "SELECT group_concat(event_offset || char(31) || change || char(31) || \
                 entity_ref || char(31) || COALESCE(source, '') || char(31) || \
                 CASE WHEN location_key IS NULL THEN '' ELSE 'k' || hex(location_key) END || \
                 char(31) || COALESCE(body, ''), char(30) ORDER BY event_offset), \
                 MAX(available), COUNT(*) FROM ({select})"
            )
        } else {
            select
        };
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .bind(offset)
            .bind(limit)
            .bind(max_chars);
        for kind in kinds {
            statement = statement.bind(kind.as_str());
        }
        let rows = statement
            .fetch_all(self.read_pool())
            .await
            .doing(format!("reading events after offset {offset}"))?;
        if self.backend == Backend::Sqlite {
            let (packed, available, count): (Option<String>, Option<i64>, i64) = match rows.first()
            {
                Some(row) => (
                    row.try_get(0).doing("reading events")?,
                    row.try_get(1).doing("reading events")?,
                    row.try_get(2).doing("reading events")?,
                ),
                None => (None, None, 0),
            };
            let events = packed.as_deref().map_or(Ok(Vec::new()), unpack_events)?;
            return Ok(EventTexts {
                events,
                cut_short: available.unwrap_or(0) > count,
            });
        }
        let available: i64 = match rows.first() {
            Some(row) => row.try_get(4).doing("reading events")?,
            None => 0,
        };
        let events = rows
            .iter()
            .map(|row| {
                let kind = change_kind(&row.try_get::<String, _>(1)?);
                let body: Option<String> = row.try_get(3)?;
                Ok(EventText {
                    offset: row.try_get(0)?,
                    entity_ref: row.try_get(2)?,
                    body: if kind == ChangeKind::Removed {
                        None
                    } else {
                        body
                    },
                    kind,
                    winner: Winner {
                        source: row.try_get(5)?,
                        location_key: row.try_get(6)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .doing("reading events")?;
        Ok(EventTexts {
            cut_short: available > events.len() as i64,
            events,
        })
    }

    /// The log's head and how far tombstones were purged.
    pub async fn log_bounds(&self) -> Result<LogBounds, StoreError> {
        let row = sqlx::query(
            "SELECT h.last_offset, r.purged_through FROM log_head h, log_retention r \
             WHERE h.id = 1 AND r.id = 1",
        )
        .fetch_one(self.read_pool())
        .await
        .doing("reading the bounds of the change log")?;
        Ok(LogBounds {
            head: row.try_get(0).doing("reading the log head")?,
            purged_through: row.try_get(1).doing("reading the log head")?,
        })
    }

    /// The highest offset of a purged tombstone (0 if none was).
    pub async fn purged_through(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT purged_through FROM log_retention WHERE id = 1")
            .fetch_one(self.read_pool())
            .await
            .doing("reading how far the change log was purged")
    }

    /// Delete removal tombstones older than `before_ms` (Unix ms) from the
    /// change log, in batches, raising `purged_through` in the same
    /// transaction as each batch's delete. A ref removed and added again
    /// meanwhile is an addition, not a tombstone, and stays.
    pub async fn purge_tombstones(&self, before_ms: i64) -> Result<PurgeOutcome, StoreError> {
        const BATCH: i64 = 10_000;
        let mut outcome = PurgeOutcome::default();
        loop {
            let mut writer = self.writer().await?;
            let mut tx = writer.begin().await?;
            let rows = sqlx::query(
                "DELETE FROM removals WHERE event_offset IN (SELECT event_offset FROM removals \
                 WHERE at_ms < $1 LIMIT $2) RETURNING event_offset",
            )
            .bind(before_ms)
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await
            .doing("purging old tombstones from the change log")?;
            let mut highest = 0_i64;
            for row in &rows {
                highest = highest.max(row.try_get(0).doing("reading a purged offset")?);
            }
            let purged_through: i64 = sqlx::query_scalar(
                "UPDATE log_retention SET purged_through = CASE WHEN purged_through < $1 \
                 THEN $1 ELSE purged_through END, purged_ms = $2 WHERE id = 1 \
                 RETURNING purged_through",
            )
            .bind(highest)
            .bind(super::now_ms())
            .fetch_one(&mut *tx)
            .await
            .doing("recording the purge of the change log")?;
            tx.commit()
                .await
                .doing("committing the purge of the change log")?;
            outcome.purged += rows.len() as u64;
            outcome.purged_through = purged_through;
            if (rows.len() as i64) < BATCH {
                return Ok(outcome);
            }
        }
    }

    /// The sources contributing to `entity_ref`, highest priority first
    /// (the merge's order).
    pub async fn contributors(
        &self,
        entity_ref: &str,
    ) -> Result<Vec<ContributorRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, priority, plugin_build, location_key, updated_ms, error \
             FROM source_entities WHERE entity_ref = $1 ORDER BY priority DESC, source",
        )
        .bind(entity_ref)
        .fetch_all(self.read_pool())
        .await
        .doing(format!("reading the sources of {entity_ref}"))?;
        rows.iter()
            .map(|row| {
                Ok(ContributorRecord {
                    source: row.try_get(0)?,
                    priority: row.try_get(1)?,
                    plugin_build: row.try_get(2)?,
                    location_key: row.try_get(3)?,
                    updated_ms: row.try_get(4)?,
                    error: row.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading contributors")
    }

    /// How many merged entities the catalog holds.
    pub async fn entity_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM entities")
            .fetch_one(self.read_pool())
            .await
            .doing("counting entities")
    }

    /// A page of `source`'s marks, in ref order, after `after`.
    pub async fn marks_page(
        &self,
        source: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT entity_ref FROM source_marks WHERE source = $1 \
             AND ($2 IS NULL OR entity_ref > $2) ORDER BY entity_ref LIMIT $3",
        )
        .bind(source)
        .bind(after)
        .bind(limit)
        .fetch_all(self.read_pool())
        .await
        .doing(format!("reading the marks of source `{source}`"))?;
        rows.iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .doing("reading marks")
    }

    /// How many marks `source`'s current cycle has.
    pub async fn mark_count(&self, source: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM source_marks WHERE source = $1")
            .bind(source)
            .fetch_one(self.read_pool())
            .await
            .doing(format!("counting the marks of source `{source}`"))
    }

    /// How many finished cycles `source` has recorded.
    pub async fn cycle_count(&self, source: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM source_cycles WHERE source = $1")
            .bind(source)
            .fetch_one(self.read_pool())
            .await
            .doing(format!("counting the cycles of source `{source}`"))
    }

    /// Each source's counters: its finished cycles by outcome, and the
    /// totals of those cycles plus the current one. By source name.
    pub async fn source_counters(&self) -> Result<Vec<SourceCounters>, StoreError> {
        let sums = "CAST(SUM(pages) AS BIGINT), CAST(SUM(entities) AS BIGINT), \
             CAST(SUM(added) AS BIGINT), CAST(SUM(updated) AS BIGINT), \
             CAST(SUM(removed) AS BIGINT), CAST(SUM(rejected) AS BIGINT), \
             CAST(SUM(errors) AS BIGINT)";
        // The current cycle's totals count while it runs; when it ends they
        // move to its history row in the same transaction.
        let current = "CASE WHEN cycle_started_ms IS NULL THEN 0 ELSE 1 END";
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT source, NULL, 0, {current} * pages, {current} * entities, \
             {current} * added, {current} * updated, {current} * removed, \
             {current} * rejected, {current} * errors FROM source_state \
             UNION ALL \
             SELECT source, outcome, COUNT(*), {sums} FROM source_cycles GROUP BY source, outcome \
             ORDER BY 1, 2"
        )))
        .fetch_all(self.read_pool())
        .await
        .doing("reading the sources' counters")?;
        let mut counters: Vec<SourceCounters> = Vec::new();
        for row in rows {
            let read =
                || -> Result<(String, Option<String>, i64, super::CycleTotals), sqlx::Error> {
                    Ok((
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        super::CycleTotals {
                            pages: row.try_get(3)?,
                            entities: row.try_get(4)?,
                            added: row.try_get(5)?,
                            updated: row.try_get(6)?,
                            removed: row.try_get(7)?,
                            rejected: row.try_get(8)?,
                            errors: row.try_get(9)?,
                        },
                    ))
                };
            let (source, outcome, count, totals) = read().doing("reading counters")?;
            if counters.last().is_none_or(|last| last.source != source) {
                counters.push(SourceCounters {
                    source: source.clone(),
                    ..SourceCounters::default()
                });
            }
            let entry = counters.last_mut().expect("pushed above");
            if let Some(outcome) = outcome {
                entry.cycles.push((outcome, count));
            }
            let sum = &mut entry.totals;
            sum.pages += totals.pages;
            sum.entities += totals.entities;
            sum.added += totals.added;
            sum.updated += totals.updated;
            sum.removed += totals.removed;
            sum.rejected += totals.rejected;
            sum.errors += totals.errors;
        }
        Ok(counters)
    }

    /// Whether the database answers and its schema is in place (every
    /// table the API reads exists).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.log_bounds().await?;
        sqlx::query("SELECT 1 FROM source_state WHERE 1 = 0")
            .fetch_optional(self.read_pool())
            .await
            .doing("checking the database")?;
        Ok(())
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            super::Backend::Sqlite => "sqlite",
            super::Backend::Postgres => "postgres",
        }
    }
}

/// Events packed by [`Catalog::event_texts`] on SQLite: records split by
/// char 30, fields by char 31: offset, change, ref, source, `k` and the
/// location key in hex (or nothing), body.
fn unpack_events(packed: &str) -> Result<Vec<EventText>, StoreError> {
    packed
        .split('\u{1e}')
        .map(|record| {
            let mut fields = record.splitn(6, '\u{1f}');
            let (
                Some(offset),
                Some(change),
                Some(entity_ref),
                Some(source),
                Some(key),
                Some(body),
            ) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            )
            else {
                return Err(corrupt_event(record, "a record of six fields"));
            };
            let offset = offset
                .parse()
                .map_err(|_| corrupt_event(record, "a numeric offset"))?;
            let location_key = match key.strip_prefix('k') {
                None => None,
                Some(hex) => Some(
                    hex::decode(hex)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| corrupt_event(record, "a location key in hex"))?,
                ),
            };
            let kind = change_kind(change);
            Ok(EventText {
                offset,
                kind,
                entity_ref: entity_ref.to_owned(),
                body: (kind != ChangeKind::Removed).then(|| body.to_owned()),
                winner: Winner {
                    source: (!source.is_empty()).then(|| source.to_owned()),
                    location_key,
                },
            })
        })
        .collect()
}

fn corrupt_event(record: &str, expected: &str) -> StoreError {
    StoreError::Corrupt {
        entity_ref: record.chars().take(80).collect(),
        what: "change-log page",
        error: format!("expected {expected}"),
    }
}

fn change_kind(text: &str) -> ChangeKind {
    match text {
        "added" => ChangeKind::Added,
        "updated" => ChangeKind::Updated,
        _ => ChangeKind::Removed,
    }
}
