//! The catalog's write statements through sqlx: batched (a multi-row VALUES
//! or IN list per statement), since each statement is a round trip. Used on
//! PostgreSQL, and on SQLite for writes other than a cycle's pages.

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};
use weir_core::intake::Contribution;

use super::model::{CycleTotals, MergedEntity, SourceRole};
use super::sql::{fetch_with_keys, statement, values_rows};
use super::writes::{
    CatalogWrites, EntityRow, MergedState, StoredContribution, Tombstone, split_ref,
};
use super::{QueryContext, StoreError};

impl CatalogWrites for Transaction<'_, Any> {
    /// Lock the change log's head row up front. A re-merge reads the other
    /// sources' contributions and the current merged hash; under
    /// PostgreSQL's READ COMMITTED two sources committing the same refs at
    /// once would each merge without the other's contribution, and the
    /// later would overwrite the merged entity. Queued behind the lock, each
    /// sees the other's commit.
    async fn queue_behind_writers(&mut self) -> Result<(), StoreError> {
        if self.backend_name() == "PostgreSQL" {
            sqlx::query("SELECT last_offset FROM log_head WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut **self)
                .await
                .doing("queueing behind other catalog writers")?;
        }
        Ok(())
    }

    async fn stored_hashes(
        &mut self,
        source: SourceRole<'_>,
        refs: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        let sql = format!(
            "SELECT entity_ref, hash FROM source_entities \
             WHERE source = $1 AND error IS NULL AND priority = {} AND entity_ref IN ({{keys}})",
            source.priority
        );
        let rows = fetch_with_keys(self, &sql, Some(source.name), refs.iter().copied())
            .await
            .doing(format!("reading stored hashes of source `{}`", source.name))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading stored hashes")
    }

    async fn other_owners(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<HashMap<String, Vec<(String, Option<String>)>>, StoreError> {
        let rows = fetch_with_keys(
            self,
            "SELECT entity_ref, source, location_key FROM source_entities \
             WHERE source <> $1 AND entity_ref IN ({keys})",
            Some(source),
            refs.iter().copied(),
        )
        .await
        .doing(format!("reading other owners for source `{source}`"))?;
        let mut owners: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for row in rows {
            let entity_ref: String = row.try_get(0).doing("reading owners")?;
            owners.entry(entity_ref).or_default().push((
                row.try_get(1).doing("reading owners")?,
                row.try_get(2).doing("reading owners")?,
            ));
        }
        Ok(owners)
    }

    async fn upsert_contributions(
        &mut self,
        source: SourceRole<'_>,
        batch: &[&Contribution],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const COLUMNS: usize = 10;
        let sql = format!(
            "INSERT INTO source_entities \
             (source, entity_ref, body, hash, raw_hash, location_key, plugin_build, priority, first_seen_ms, updated_ms) \
             VALUES {} \
             ON CONFLICT (source, entity_ref) DO UPDATE SET \
             body = excluded.body, hash = excluded.hash, raw_hash = excluded.raw_hash, \
             location_key = excluded.location_key, \
             plugin_build = excluded.plugin_build, priority = excluded.priority, error = NULL, \
             updated_ms = excluded.updated_ms",
            values_rows(batch.len(), COLUMNS, 1)
        );
        let mut query = sqlx::query(statement(self, sql));
        for contribution in batch {
            query = query
                .bind(source.name)
                .bind(contribution.entity_ref.as_str())
                .bind(contribution.body.as_str())
                .bind(contribution.hash.as_str())
                .bind(contribution.raw_hash.as_str())
                .bind(contribution.location_key.as_deref())
                .bind(contribution.plugin_build.as_str())
                .bind(source.priority)
                .bind(now_ms)
                .bind(now_ms);
        }
        query
            .execute(&mut **self)
            .await
            .doing(format!("storing entities of source `{}`", source.name))?;
        Ok(())
    }

    async fn attach_error(
        &mut self,
        source: &str,
        entity_ref: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE source_entities SET error = $1, updated_ms = $2 WHERE source = $3 AND entity_ref = $4",
        )
        .bind(reason)
        .bind(now_ms)
        .bind(source)
        .bind(entity_ref)
        .execute(&mut **self)
        .await
        .doing(format!("recording the error of {entity_ref} from source `{source}`"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        let rows = fetch_with_keys(
            self,
            "DELETE FROM source_entities WHERE source = $1 AND entity_ref IN ({keys}) \
             RETURNING entity_ref",
            Some(source),
            refs.iter().copied(),
        )
        .await
        .doing(format!("removing contributions of source `{source}`"))?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()
            .doing("reading a removed ref")
    }

    async fn merged_states(
        &mut self,
        refs: &[&str],
    ) -> Result<HashMap<String, MergedState>, StoreError> {
        let rows = fetch_with_keys(
            self,
            "SELECT entity_ref, hash, sole_source FROM entities WHERE entity_ref IN ({keys})",
            None,
            refs.iter().copied(),
        )
        .await
        .doing("reading merged hashes")?;
        rows.iter()
            .map(|row| {
                let state = MergedState {
                    hash: row.try_get(1)?,
                    sole_source: row.try_get(2)?,
                };
                Ok((row.try_get(0)?, state))
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading merged hashes")
    }

    async fn other_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<StoredContribution>, StoreError> {
        let rows = fetch_with_keys(
            self,
            "SELECT entity_ref, source, priority, body FROM source_entities \
             WHERE source <> $1 AND entity_ref IN ({keys})",
            Some(source),
            refs.iter().copied(),
        )
        .await
        .doing("reading contributions to re-merge")?;
        rows.iter()
            .map(|row| {
                Ok(StoredContribution {
                    entity_ref: row.try_get(0)?,
                    source: row.try_get(1)?,
                    priority: row.try_get(2)?,
                    body: row.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading contributions")
    }

    async fn restate(
        &mut self,
        entity_ref: &str,
        merged: &MergedEntity,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (body, provenance, sole_source) = merged.columns();
        sqlx::query(
            "UPDATE entities SET body = $1, provenance = $2, sole_source = $3, updated_ms = $4 \
             WHERE entity_ref = $5",
        )
        .bind(body)
        .bind(provenance)
        .bind(sole_source)
        .bind(now_ms)
        .bind(entity_ref)
        .execute(&mut **self)
        .await
        .doing(format!("storing the contributors of {entity_ref}"))?;
        Ok(())
    }

    async fn take_offsets(&mut self, count: i64) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "UPDATE log_head SET last_offset = last_offset + $1 WHERE id = 1 RETURNING last_offset",
        )
        .bind(count)
        .fetch_one(&mut **self)
        .await
        .doing("taking change-log offsets")
    }

    async fn write_entities(
        &mut self,
        rows: &[EntityRow<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const COLUMNS: usize = 11;
        let sql = format!(
            "INSERT INTO entities \
             (entity_ref, kind, namespace, name, body, hash, provenance, sole_source, updated_ms, \
             event_offset, last_change) \
             VALUES {} ON CONFLICT (entity_ref) DO UPDATE SET body = excluded.body, hash = excluded.hash, \
             provenance = excluded.provenance, sole_source = excluded.sole_source, \
             updated_ms = excluded.updated_ms, event_offset = excluded.event_offset, \
             last_change = excluded.last_change",
            values_rows(rows.len(), COLUMNS, 1)
        );
        let mut query = sqlx::query(statement(self, sql));
        for row in rows {
            let (kind, namespace, name) = split_ref(row.entity_ref);
            let (body, provenance, sole_source) = row.merged.columns();
            query = query
                .bind(row.entity_ref)
                .bind(kind)
                .bind(namespace)
                .bind(name)
                .bind(body)
                .bind(row.merged.hash.as_str())
                .bind(provenance)
                .bind(sole_source)
                .bind(now_ms)
                .bind(row.offset)
                .bind(row.change);
        }
        query
            .execute(&mut **self)
            .await
            .doing("writing merged entities")?;
        Ok(())
    }

    async fn clear_tombstones(&mut self, refs: &[&str]) -> Result<(), StoreError> {
        fetch_with_keys(
            self,
            "DELETE FROM removals WHERE entity_ref IN ({keys})",
            None,
            refs.iter().copied(),
        )
        .await
        .doing("deleting the tombstones of entities added again")?;
        Ok(())
    }

    async fn remove_entities(
        &mut self,
        rows: &[Tombstone<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        fetch_with_keys(
            self,
            "DELETE FROM entities WHERE entity_ref IN ({keys})",
            None,
            rows.iter().map(|row| row.entity_ref),
        )
        .await
        .doing("removing entities")?;
        const COLUMNS: usize = 4;
        let sql = format!(
            "INSERT INTO removals (event_offset, entity_ref, kind, at_ms) VALUES {} \
             ON CONFLICT (entity_ref) DO UPDATE SET event_offset = excluded.event_offset, \
             kind = excluded.kind, at_ms = excluded.at_ms",
            values_rows(rows.len(), COLUMNS, 1)
        );
        let mut query = sqlx::query(statement(self, sql));
        for row in rows {
            let (kind, _, _) = split_ref(row.entity_ref);
            query = query
                .bind(row.offset)
                .bind(row.entity_ref)
                .bind(kind)
                .bind(now_ms);
        }
        query
            .execute(&mut **self)
            .await
            .doing("writing tombstones of removed entities")?;
        Ok(())
    }

    async fn extend_lease(
        &mut self,
        source: &str,
        owner: &str,
        cycle: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE source_state SET lease_until_ms = $1 \
             WHERE source = $2 AND lease_owner = $3 AND cycle = $4 AND cycle_started_ms IS NOT NULL",
        )
        .bind(until_ms)
        .bind(source)
        .bind(owner)
        .bind(cycle)
        .execute(&mut **self)
        .await
        .doing(format!("checking the lease on source `{source}`"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn mark(&mut self, source: &str, refs: &[String]) -> Result<(), StoreError> {
        if refs.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO source_marks (source, entity_ref) VALUES {} ON CONFLICT DO NOTHING",
            values_rows(refs.len(), 2, 1)
        );
        let mut query = sqlx::query(statement(self, sql));
        for entity_ref in refs {
            query = query.bind(source).bind(entity_ref.as_str());
        }
        query
            .execute(&mut **self)
            .await
            .doing(format!("marking the entities of source `{source}`"))?;
        Ok(())
    }

    async fn add_totals(
        &mut self,
        source: &str,
        cursor: Option<&str>,
        totals: CycleTotals,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE source_state SET cursor = $1, pages = pages + $2, entities = entities + $3, \
             added = added + $4, updated = updated + $5, removed = removed + $6, \
             rejected = rejected + $7 WHERE source = $8",
        )
        .bind(cursor)
        .bind(totals.pages)
        .bind(totals.entities)
        .bind(totals.added)
        .bind(totals.updated)
        .bind(totals.removed)
        .bind(totals.rejected)
        .bind(source)
        .execute(&mut **self)
        .await
        .doing(format!("recording the progress of source `{source}`"))?;
        Ok(())
    }
}
