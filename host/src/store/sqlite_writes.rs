//! The catalog's statements ([`CatalogWrites`]) on SQLite's writer
//! connection through rusqlite: one statement per row, each prepared once per
//! connection and bound by reference, with no parsing and no copy of its
//! values. The page commit (the hot path) runs them; [`super::sqlx_writes`]
//! is the same trait through sqlx.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};
use weir_core::intake::Contribution;

use super::StoreError;
use super::model::{CycleTotals, MergedEntity, SourceRole};
use super::sqlite_writer::SqliteContext;
use super::writes::{
    CatalogWrites, EntityRow, MergedState, StoredContribution, Tombstone, split_ref,
};

/// One statement per row: each is prepared once per connection and costs a
/// B-tree lookup or insert, with no parsing and no copy of its values.
impl CatalogWrites for rusqlite::Transaction<'_> {
    async fn queue_behind_writers(&mut self) -> Result<(), StoreError> {
        // `BEGIN IMMEDIATE` took the write lock.
        Ok(())
    }

    async fn stored_hashes(
        &mut self,
        source: SourceRole<'_>,
        refs: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        let doing = || format!("reading stored hashes of source `{}`", source.name);
        let mut select = self
            .prepare_cached(
                "SELECT hash FROM source_entities \
                 WHERE source = ?1 AND entity_ref = ?2 AND error IS NULL AND priority = ?3",
            )
            .doing_with(doing)?;
        let mut hashes = HashMap::with_capacity(refs.len());
        for entity_ref in refs {
            let hash: Option<String> = select
                .query_row(params![source.name, entity_ref, source.priority], |row| {
                    row.get(0)
                })
                .optional()
                .doing_with(doing)?;
            if let Some(hash) = hash {
                hashes.insert((*entity_ref).to_owned(), hash);
            }
        }
        Ok(hashes)
    }

    async fn other_owners(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<HashMap<String, Vec<(String, Option<String>)>>, StoreError> {
        let doing = || format!("reading other owners for source `{source}`");
        let mut select = self
            .prepare_cached(
                "SELECT source, location_key FROM source_entities \
                 WHERE entity_ref = ?1 AND source <> ?2",
            )
            .doing_with(doing)?;
        let mut owners: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for entity_ref in refs {
            let mut rows = select
                .query(params![entity_ref, source])
                .doing_with(doing)?;
            while let Some(row) = rows.next().doing_with(doing)? {
                owners
                    .entry((*entity_ref).to_owned())
                    .or_default()
                    .push((row.get(0).doing_with(doing)?, row.get(1).doing_with(doing)?));
            }
        }
        Ok(owners)
    }

    async fn upsert_contributions(
        &mut self,
        source: SourceRole<'_>,
        batch: &[&Contribution],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || format!("storing entities of source `{}`", source.name);
        let mut upsert = self
            .prepare_cached(
                "INSERT INTO source_entities \
                 (source, entity_ref, body, hash, raw_hash, location_key, plugin_build, priority, \
                 first_seen_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) \
                 ON CONFLICT (source, entity_ref) DO UPDATE SET \
                 body = excluded.body, hash = excluded.hash, raw_hash = excluded.raw_hash, \
                 location_key = excluded.location_key, plugin_build = excluded.plugin_build, \
                 priority = excluded.priority, error = NULL, updated_ms = excluded.updated_ms",
            )
            .doing_with(doing)?;
        for contribution in batch {
            upsert
                .execute(params![
                    source.name,
                    contribution.entity_ref,
                    contribution.body,
                    contribution.hash,
                    contribution.raw_hash,
                    contribution.location_key,
                    contribution.plugin_build,
                    source.priority,
                    now_ms,
                ])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn attach_error(
        &mut self,
        source: &str,
        entity_ref: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let doing = || format!("recording the error of {entity_ref} from source `{source}`");
        let changed = self
            .prepare_cached(
                "UPDATE source_entities SET error = ?1, updated_ms = ?2 \
                 WHERE source = ?3 AND entity_ref = ?4",
            )
            .doing_with(doing)?
            .execute(params![reason, now_ms, source, entity_ref])
            .doing_with(doing)?;
        Ok(changed > 0)
    }

    async fn delete_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        let doing = || format!("removing contributions of source `{source}`");
        let mut delete = self
            .prepare_cached("DELETE FROM source_entities WHERE source = ?1 AND entity_ref = ?2")
            .doing_with(doing)?;
        let mut deleted = Vec::new();
        for entity_ref in refs {
            if delete
                .execute(params![source, entity_ref])
                .doing_with(doing)?
                > 0
            {
                deleted.push((*entity_ref).to_owned());
            }
        }
        Ok(deleted)
    }

    async fn merged_states(
        &mut self,
        refs: &[&str],
    ) -> Result<HashMap<String, MergedState>, StoreError> {
        let doing = || "reading merged hashes".to_owned();
        let mut select = self
            .prepare_cached("SELECT hash, sole_source FROM entities WHERE entity_ref = ?1")
            .doing_with(doing)?;
        let mut states = HashMap::with_capacity(refs.len());
        for entity_ref in refs {
            let state = select
                .query_row([entity_ref], |row| {
                    Ok(MergedState {
                        hash: row.get(0)?,
                        sole_source: row.get(1)?,
                    })
                })
                .optional()
                .doing_with(doing)?;
            if let Some(state) = state {
                states.insert((*entity_ref).to_owned(), state);
            }
        }
        Ok(states)
    }

    async fn other_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<StoredContribution>, StoreError> {
        let doing = || "reading contributions to re-merge".to_owned();
        let mut select = self
            .prepare_cached(
                "SELECT source, priority, body FROM source_entities \
                 WHERE entity_ref = ?1 AND source <> ?2",
            )
            .doing_with(doing)?;
        let mut contributions = Vec::new();
        for entity_ref in refs {
            let mut rows = select
                .query(params![entity_ref, source])
                .doing_with(doing)?;
            while let Some(row) = rows.next().doing_with(doing)? {
                contributions.push(StoredContribution {
                    entity_ref: (*entity_ref).to_owned(),
                    source: row.get(0).doing_with(doing)?,
                    priority: row.get(1).doing_with(doing)?,
                    body: row.get(2).doing_with(doing)?,
                });
            }
        }
        Ok(contributions)
    }

    async fn restate(
        &mut self,
        entity_ref: &str,
        merged: &MergedEntity,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || format!("storing the contributors of {entity_ref}");
        let (body, provenance, sole_source) = merged.columns();
        self.prepare_cached(
            "UPDATE entities SET body = ?1, provenance = ?2, sole_source = ?3, updated_ms = ?4 \
             WHERE entity_ref = ?5",
        )
        .doing_with(doing)?
        .execute(params![body, provenance, sole_source, now_ms, entity_ref])
        .doing_with(doing)?;
        Ok(())
    }

    async fn take_offsets(&mut self, count: i64) -> Result<i64, StoreError> {
        let doing = || "taking change-log offsets".to_owned();
        self.prepare_cached(
            "UPDATE log_head SET last_offset = last_offset + ?1 WHERE id = 1 RETURNING last_offset",
        )
        .doing_with(doing)?
        .query_row([count], |row| row.get(0))
        .doing_with(doing)
    }

    async fn write_entities(
        &mut self,
        rows: &[EntityRow<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || "writing merged entities".to_owned();
        let mut upsert = self
            .prepare_cached(
                "INSERT INTO entities \
                 (entity_ref, kind, namespace, name, body, hash, provenance, sole_source, \
                 updated_ms, event_offset, last_change) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (entity_ref) DO UPDATE SET body = excluded.body, \
                 hash = excluded.hash, provenance = excluded.provenance, \
                 sole_source = excluded.sole_source, updated_ms = excluded.updated_ms, \
                 event_offset = excluded.event_offset, last_change = excluded.last_change",
            )
            .doing_with(doing)?;
        for row in rows {
            let (kind, namespace, name) = split_ref(row.entity_ref);
            let (body, provenance, sole_source) = row.merged.columns();
            upsert
                .execute(params![
                    row.entity_ref,
                    kind,
                    namespace,
                    name,
                    body,
                    row.merged.hash,
                    provenance,
                    sole_source,
                    now_ms,
                    row.offset,
                    row.change,
                ])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn clear_tombstones(&mut self, refs: &[&str]) -> Result<(), StoreError> {
        let doing = || "deleting the tombstones of entities added again".to_owned();
        // Most catalogs hold few tombstones, often none: one look spares a
        // statement per added entity.
        let any: bool = self
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM removals)")
            .doing_with(doing)?
            .query_row([], |row| row.get(0))
            .doing_with(doing)?;
        if !any {
            return Ok(());
        }
        let mut delete = self
            .prepare_cached("DELETE FROM removals WHERE entity_ref = ?1")
            .doing_with(doing)?;
        for entity_ref in refs {
            delete.execute([entity_ref]).doing_with(doing)?;
        }
        Ok(())
    }

    async fn remove_entities(
        &mut self,
        rows: &[Tombstone<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = || "removing entities".to_owned();
        let mut delete = self
            .prepare_cached("DELETE FROM entities WHERE entity_ref = ?1")
            .doing_with(doing)?;
        for row in rows {
            delete.execute([row.entity_ref]).doing_with(doing)?;
        }
        let mut insert = self
            .prepare_cached(
                "INSERT INTO removals (event_offset, entity_ref, kind, at_ms) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (entity_ref) DO UPDATE SET event_offset = excluded.event_offset, \
                 kind = excluded.kind, at_ms = excluded.at_ms",
            )
            .doing_with(doing)?;
        for row in rows {
            let (kind, _, _) = split_ref(row.entity_ref);
            insert
                .execute(params![row.offset, row.entity_ref, kind, now_ms])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn extend_lease(
        &mut self,
        source: &str,
        owner: &str,
        cycle: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let doing = || format!("checking the lease on source `{source}`");
        let changed = self
            .prepare_cached(
                "UPDATE source_state SET lease_until_ms = ?1 WHERE source = ?2 \
                 AND lease_owner = ?3 AND cycle = ?4 AND cycle_started_ms IS NOT NULL",
            )
            .doing_with(doing)?
            .execute(params![until_ms, source, owner, cycle])
            .doing_with(doing)?;
        Ok(changed > 0)
    }

    async fn mark(&mut self, source: &str, refs: &[String]) -> Result<(), StoreError> {
        let doing = || format!("marking the entities of source `{source}`");
        let mut insert = self
            .prepare_cached(
                "INSERT INTO source_marks (source, entity_ref) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
            )
            .doing_with(doing)?;
        for entity_ref in refs {
            insert
                .execute(params![source, entity_ref])
                .doing_with(doing)?;
        }
        Ok(())
    }

    async fn add_totals(
        &mut self,
        source: &str,
        cursor: Option<&str>,
        totals: CycleTotals,
    ) -> Result<(), StoreError> {
        let doing = || format!("recording the progress of source `{source}`");
        self.prepare_cached(
            "UPDATE source_state SET cursor = ?1, pages = pages + ?2, entities = entities + ?3, \
             added = added + ?4, updated = updated + ?5, removed = removed + ?6, \
             rejected = rejected + ?7 WHERE source = ?8",
        )
        .doing_with(doing)?
        .execute(params![
            cursor,
            totals.pages,
            totals.entities,
            totals.added,
            totals.updated,
            totals.removed,
            totals.rejected,
            source,
        ])
        .doing_with(doing)?;
        Ok(())
    }
}
