//! The write path: apply one page of a source's contributions, or remove a
//! source's contributions, in one transaction each, re-merging every ref
//! touched and appending a change-log entry only for real changes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::{Any, Row, Transaction};

use super::sql::{BATCH_ROWS, fetch_with_keys, statement, values_rows};
use super::{Backend, QueryContext, Store, StoreError, now_ms};
use crate::core::canonical::content_hash;
use crate::core::intake::{Contribution, Rejection};
use crate::core::merge::{self, Merged};

/// The source a page comes from, and how its contributions are admitted.
#[derive(Debug, Clone, Copy)]
pub struct SourceRole<'a> {
    pub name: &'a str,
    /// Higher wins in the merge.
    pub priority: i64,
    /// Backstage's owner rule: refuse a ref that another source already
    /// holds under a different location key, and report the conflict.
    pub owner_rule: bool,
}

/// What applying a page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Source records written (new or changed).
    pub stored: usize,
    /// Source records skipped because their hash had not changed.
    pub unchanged: usize,
    /// Merged entities that appeared, changed or disappeared (events written).
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// Invalid entities whose ref keeps its last good version, with the error attached.
    pub kept_with_error: usize,
    /// Contributions refused by the store (the owner rule).
    pub rejected: Vec<Rejection>,
}

impl PageOutcome {
    /// Add `page`'s counts and rejections to these, e.g. over a cycle.
    pub fn absorb(&mut self, page: PageOutcome) {
        self.stored += page.stored;
        self.unchanged += page.unchanged;
        self.added += page.added;
        self.updated += page.updated;
        self.removed += page.removed;
        self.kept_with_error += page.kept_with_error;
        self.rejected.extend(page.rejected);
    }
}

/// What removing contributions did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovalOutcome {
    /// Source records deleted.
    pub deleted: usize,
    /// Merged entities that changed because a contributor left.
    pub updated: usize,
    /// Merged entities gone because no source contributes any more.
    pub removed: usize,
}

impl Store {
    /// Apply one page from `source` in one transaction: store the
    /// contributions whose hash changed, attach `invalid` errors to refs the
    /// source sent valid before (their last good version stays), re-merge
    /// every touched ref and log what really changed.
    pub async fn apply_page(
        &self,
        source: SourceRole<'_>,
        contributions: Vec<Contribution>,
        invalid: &[Rejection],
    ) -> Result<PageOutcome, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let outcome = apply_in(&mut tx, source, &contributions, invalid).await?;
        tx.commit()
            .await
            .doing(format!("committing a page of source `{}`", source.name))?;
        self.committed();
        self.wrote_rows(outcome.stored).await?;
        Ok(outcome)
    }

    /// Which of `named` (the ref an entity's text names, and the hash of
    /// that text) `source` already has stored, valid, from exactly that text
    /// and at its current priority: those entities are unchanged. Looked up
    /// by ref, so no index on the hashes is needed: an index of random
    /// hashes would take a write to a random B-tree page for every stored
    /// entity, the biggest cost of a first ingest.
    pub async fn known_texts<'a>(
        &self,
        source: SourceRole<'_>,
        named: &[(&'a str, &'a str)],
    ) -> Result<HashSet<(&'a str, &'a str)>, StoreError> {
        // One row of `hash ref` lines rather than a row per entity: SQLite
        // hands rows over from its worker thread one at a time, and for a
        // page of unchanged entities that hand-over was most of the cost.
        // Hashes are hex, so each line splits at its first space.
        let aggregate = match self.backend {
            Backend::Sqlite => "group_concat(raw_hash || ' ' || entity_ref, char(10))",
            Backend::Postgres => "string_agg(raw_hash || ' ' || entity_ref, E'\\n')",
        };
        let sql = format!(
            "SELECT {aggregate} FROM source_entities \
             WHERE source = $1 AND error IS NULL AND priority = {} AND entity_ref IN ({{keys}})",
            source.priority
        );
        let source = source.name;
        let mut stored = HashMap::new();
        let mut connection = self.pool().acquire().await.doing("connecting")?;
        for batch in named.chunks(BATCH_ROWS) {
            let refs = batch.iter().map(|(entity_ref, _)| *entity_ref);
            let rows = fetch_with_keys(&mut connection, &sql, Some(source), refs)
                .await
                .doing(format!(
                    "looking up unchanged entities of source `{source}`"
                ))?;
            for row in rows {
                let lines: Option<String> = row.try_get(0).doing("reading stored hashes")?;
                for line in lines.as_deref().unwrap_or_default().lines() {
                    if let Some((hash, entity_ref)) = line.split_once(' ') {
                        stored.insert(entity_ref.to_owned(), hash.to_owned());
                    }
                }
            }
        }
        Ok(named
            .iter()
            .copied()
            .filter(|(entity_ref, hash)| {
                stored.get(*entity_ref).is_some_and(|stored| stored == hash)
            })
            .collect())
    }

    /// Remove `source`'s contributions to `refs` and re-merge them: an entity
    /// with other contributors changes, one with none left is removed (and a
    /// removal event logged).
    pub async fn remove_contributions(
        &self,
        source: &str,
        refs: &[String],
    ) -> Result<RemovalOutcome, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let outcome = remove_in(&mut tx, source, refs).await?;
        tx.commit()
            .await
            .doing(format!("committing removals of source `{source}`"))?;
        self.committed();
        Ok(outcome)
    }
}

/// [`Store::apply_page`] inside the caller's transaction.
pub(super) async fn apply_in(
    tx: &mut Transaction<'_, Any>,
    source: SourceRole<'_>,
    contributions: &[Contribution],
    invalid: &[Rejection],
) -> Result<PageOutcome, StoreError> {
    let mut outcome = PageOutcome::default();
    if !contributions.is_empty() || !invalid.is_empty() {
        queue_behind_writers(tx).await?;
    }
    let contributions = last_of_each_ref(contributions);
    let mut pending = Vec::new();
    for batch in contributions.chunks(BATCH_ROWS) {
        let existing = stored_hashes(tx, source, batch).await?;
        let owners = if source.owner_rule {
            other_owners(tx, source.name, batch).await?
        } else {
            HashMap::new()
        };
        for contribution in batch {
            if let Some(reason) = owner_conflict(source, contribution, &owners) {
                outcome.rejected.push(Rejection {
                    entity_ref: Some(contribution.entity_ref.clone()),
                    reason,
                });
            } else if existing.get(&contribution.entity_ref) == Some(&contribution.hash) {
                outcome.unchanged += 1;
            } else {
                pending.push(*contribution);
            }
        }
    }
    for batch in pending.chunks(BATCH_ROWS) {
        upsert_contributions(tx, source, batch).await?;
    }
    outcome.stored = pending.len();
    outcome.kept_with_error = attach_errors(tx, source.name, invalid).await?;

    let in_memory: HashMap<&str, &Contribution> = pending
        .iter()
        .map(|c| (c.entity_ref.as_str(), *c))
        .collect();
    let touched: Vec<String> = pending.iter().map(|c| c.entity_ref.clone()).collect();
    let Remerged { events, restated } = remerge(tx, source, &in_memory, &touched).await?;
    restate(tx, restated).await?;
    outcome.added = events.iter().filter(|e| e.change == "added").count();
    outcome.updated = events.iter().filter(|e| e.change == "updated").count();
    outcome.removed = events.iter().filter(|e| e.change == "removed").count();
    write_merged(tx, events).await?;
    Ok(outcome)
}

/// [`Store::remove_contributions`] inside the caller's transaction.
pub(super) async fn remove_in(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    refs: &[String],
) -> Result<RemovalOutcome, StoreError> {
    if !refs.is_empty() {
        queue_behind_writers(tx).await?;
    }
    let mut deleted = Vec::new();
    for batch in refs.chunks(BATCH_ROWS) {
        let rows = fetch_with_keys(
            tx,
            "DELETE FROM source_entities WHERE source = $1 AND entity_ref IN ({keys}) \
             RETURNING entity_ref",
            Some(source),
            batch.iter().map(String::as_str),
        )
        .await
        .doing(format!("removing contributions of source `{source}`"))?;
        for row in rows {
            deleted.push(row.try_get::<String, _>(0).doing("reading a removed ref")?);
        }
    }
    let leaving = SourceRole {
        name: source,
        priority: 0,
        owner_rule: false,
    };
    let Remerged { events, restated } = remerge(tx, leaving, &HashMap::new(), &deleted).await?;
    restate(tx, restated).await?;
    let outcome = RemovalOutcome {
        deleted: deleted.len(),
        updated: events.iter().filter(|e| e.change == "updated").count(),
        removed: events.iter().filter(|e| e.change == "removed").count(),
    };
    write_merged(tx, events).await?;
    Ok(outcome)
}

/// Wait for every other transaction that writes the catalog, by locking the
/// change log's head row up front. A re-merge reads the other sources'
/// contributions and the current merged hash; under PostgreSQL's READ
/// COMMITTED two sources committing the same refs at once would each merge
/// without the other's contribution, and the later would overwrite the
/// merged entity. Queued behind the lock, each sees the other's commit.
/// (SQLite's `BEGIN IMMEDIATE` already queues writers.) A page of unchanged
/// entities writes nothing and takes no lock.
async fn queue_behind_writers(tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT last_offset FROM log_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut **tx)
            .await
            .doing("queueing behind other catalog writers")?;
    }
    Ok(())
}

/// A page may name a ref twice; the later one wins, as it would have had the
/// two come in separate pages.
fn last_of_each_ref(contributions: &[Contribution]) -> Vec<&Contribution> {
    let mut seen = HashSet::new();
    let mut kept: Vec<&Contribution> = contributions
        .iter()
        .rev()
        .filter(|c| seen.insert(c.entity_ref.as_str()))
        .collect();
    kept.reverse();
    kept
}

/// The hashes of `batch`'s refs as `source` stored them, valid and at its
/// current priority (a changed priority must re-merge, even with the same body).
async fn stored_hashes(
    tx: &mut Transaction<'_, Any>,
    source: SourceRole<'_>,
    batch: &[&Contribution],
) -> Result<HashMap<String, String>, StoreError> {
    let sql = format!(
        "SELECT entity_ref, hash FROM source_entities \
         WHERE source = $1 AND error IS NULL AND priority = {} AND entity_ref IN ({{keys}})",
        source.priority
    );
    let rows = fetch_with_keys(
        tx,
        &sql,
        Some(source.name),
        batch.iter().map(|c| c.entity_ref.as_str()),
    )
    .await
    .doing(format!("reading stored hashes of source `{}`", source.name))?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .doing("reading stored hashes")
}

/// Other sources' location keys for the refs of `batch`.
async fn other_owners(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    batch: &[&Contribution],
) -> Result<HashMap<String, Vec<(String, Option<String>)>>, StoreError> {
    let rows = fetch_with_keys(
        tx,
        "SELECT entity_ref, source, location_key FROM source_entities \
         WHERE source <> $1 AND entity_ref IN ({keys})",
        Some(source),
        batch.iter().map(|c| c.entity_ref.as_str()),
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

/// Backstage's rule: an entity may be taken over only by the location that
/// owns it; without a location key an owned entity cannot be claimed.
fn owner_conflict(
    source: SourceRole<'_>,
    contribution: &Contribution,
    owners: &HashMap<String, Vec<(String, Option<String>)>>,
) -> Option<String> {
    let others = owners.get(&contribution.entity_ref)?;
    let (owner, key) = others
        .iter()
        .find(|(_, key)| key.is_none() || *key != contribution.location_key)?;
    Some(format!(
        "conflict: {} is already provided by source `{owner}` under location key {}, \
         and source `{}` claims it under {}",
        contribution.entity_ref,
        describe_key(key.as_deref()),
        source.name,
        describe_key(contribution.location_key.as_deref()),
    ))
}

fn describe_key(key: Option<&str>) -> String {
    key.map_or_else(|| "(none)".to_owned(), |key| format!("{key:?}"))
}

async fn upsert_contributions(
    tx: &mut Transaction<'_, Any>,
    source: SourceRole<'_>,
    batch: &[&Contribution],
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
    let now = now_ms();
    let mut query = sqlx::query(statement(tx, sql));
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
            .bind(now)
            .bind(now);
    }
    query
        .execute(&mut **tx)
        .await
        .doing(format!("storing entities of source `{}`", source.name))?;
    Ok(())
}

/// Mark refs the source sent invalid: their last good version stays, with
/// the error beside it. Returns how many refs had such a version.
async fn attach_errors(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    invalid: &[Rejection],
) -> Result<usize, StoreError> {
    let mut kept = 0;
    for rejection in invalid {
        let Some(entity_ref) = &rejection.entity_ref else {
            continue;
        };
        let result = sqlx::query(
            "UPDATE source_entities SET error = $1, updated_ms = $2 WHERE source = $3 AND entity_ref = $4",
        )
        .bind(rejection.reason.as_str())
        .bind(now_ms())
        .bind(source)
        .bind(entity_ref.as_str())
        .execute(&mut **tx)
        .await
        .doing(format!("recording the error of {entity_ref} from source `{source}`"))?;
        kept += usize::from(result.rows_affected() > 0);
    }
    Ok(kept)
}

/// A merged entity as it is written: its body and provenance, or, when it is
/// exactly one source's contribution, only that source's name.
struct MergedEntity {
    hash: String,
    stored: MergedForm,
}

impl MergedEntity {
    /// The source whose contribution alone this is, if it is one.
    fn sole_source(&self) -> Option<&str> {
        match &self.stored {
            MergedForm::Sole { source } => Some(source),
            MergedForm::Explicit { .. } => None,
        }
    }

    /// The body, provenance and sole source columns it is stored in.
    fn columns(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match &self.stored {
            MergedForm::Explicit { body, provenance } => {
                (Some(body.as_str()), Some(provenance.as_str()), None)
            }
            MergedForm::Sole { source } => (None, None, Some(source.as_str())),
        }
    }
}

enum MergedForm {
    /// The body and provenance JSON of a merge of several contributions.
    Explicit { body: String, provenance: String },
    /// Exactly this source's stored contribution.
    Sole { source: String },
}

/// A merged entity that changed, ready to write with its event.
struct MergedChange {
    entity_ref: String,
    change: &'static str,
    /// `None` for a removal.
    merged: Option<MergedEntity>,
}

/// What re-merging some refs changed.
struct Remerged {
    /// Merged entities that changed, each with its event to log.
    events: Vec<MergedChange>,
    /// Merged entities whose content is the same but which were stored as
    /// one source's contribution alone, and now have more contributors: they
    /// are stored again, without an event, so that "one source's alone"
    /// stays true whenever it is stored.
    restated: Vec<(String, MergedEntity)>,
}

/// Re-merge `refs` from every source's stored contribution (the current
/// source's, when in memory, is not read back) and return what changed.
async fn remerge(
    tx: &mut Transaction<'_, Any>,
    source: SourceRole<'_>,
    in_memory: &HashMap<&str, &Contribution>,
    refs: &[String],
) -> Result<Remerged, StoreError> {
    let mut changes = Vec::new();
    let mut restated = Vec::new();
    for batch in refs.chunks(BATCH_ROWS) {
        let current = merged_states(tx, batch).await?;
        let shared: Vec<&str> = batch
            .iter()
            .map(String::as_str)
            .filter(|entity_ref| {
                current
                    .get(*entity_ref)
                    .is_some_and(|merged| !merged.is_solely_from(source.name))
            })
            .collect();
        let contributors = load_contributors(tx, source, in_memory, batch, &shared).await?;
        for entity_ref in batch {
            let old = current.get(entity_ref.as_str());
            let change = match contributors.get(entity_ref.as_str()) {
                None => old.is_some().then(|| MergedChange {
                    entity_ref: entity_ref.clone(),
                    change: "removed",
                    merged: None,
                }),
                Some(list) => {
                    let own = in_memory.get(entity_ref.as_str()).copied();
                    let merged = merge_contributors(entity_ref, list, own)?;
                    match old {
                        Some(old) if old.hash == merged.hash => {
                            if old.sole_source.is_some()
                                && old.sole_source.as_deref() != merged.sole_source()
                            {
                                restated.push((entity_ref.clone(), merged));
                            }
                            None
                        }
                        old => Some(MergedChange {
                            entity_ref: entity_ref.clone(),
                            change: if old.is_some() { "updated" } else { "added" },
                            merged: Some(merged),
                        }),
                    }
                }
            };
            changes.extend(change);
        }
    }
    Ok(Remerged {
        events: changes,
        restated,
    })
}

/// A merged entity as stored: its hash, and the source it is exactly the
/// contribution of, if it is one source's alone.
struct MergedState {
    hash: String,
    sole_source: Option<String>,
}

impl MergedState {
    /// Whether no source but `source` contributes to the entity. Every
    /// stored contribution is part of its ref's merged entity, and one
    /// stored as a single source's alone has no other contributor; so the
    /// other sources' rows need not be read.
    fn is_solely_from(&self, source: &str) -> bool {
        self.sole_source.as_deref() == Some(source)
    }
}

struct Contributor<'a> {
    source: String,
    priority: i64,
    entity: Cow<'a, Value>,
}

/// Every contribution to the refs of `batch`: the other sources' read from
/// the store for the refs in `shared` (only those may have any), `source`'s
/// own from memory. Callers hold all of `source`'s contributions to these
/// refs in `in_memory` (a page's new ones), or none (its contributions were
/// just deleted); so a ref that only `source` provides costs no row at all.
async fn load_contributors<'a>(
    tx: &mut Transaction<'_, Any>,
    source: SourceRole<'_>,
    in_memory: &HashMap<&str, &'a Contribution>,
    batch: &[String],
    shared: &[&str],
) -> Result<HashMap<String, Vec<Contributor<'a>>>, StoreError> {
    let mut by_ref: HashMap<String, Vec<Contributor>> = HashMap::new();
    if !shared.is_empty() {
        let rows = fetch_with_keys(
            tx,
            "SELECT entity_ref, source, priority, body FROM source_entities \
             WHERE source <> $1 AND entity_ref IN ({keys})",
            Some(source.name),
            shared.iter().copied(),
        )
        .await
        .doing("reading contributions to re-merge")?;
        for row in rows {
            let entity_ref: String = row.try_get(0).doing("reading contributions")?;
            let contributor: String = row.try_get(1).doing("reading contributions")?;
            let priority: i64 = row.try_get(2).doing("reading contributions")?;
            let body: String = row.try_get(3).doing("reading contributions")?;
            let entity = Cow::Owned(parse_body(&entity_ref, &body)?);
            by_ref.entry(entity_ref).or_default().push(Contributor {
                source: contributor,
                priority,
                entity,
            });
        }
    }
    for entity_ref in batch {
        if let Some(own) = in_memory.get(entity_ref.as_str()) {
            by_ref
                .entry(entity_ref.clone())
                .or_default()
                .push(Contributor {
                    source: source.name.to_owned(),
                    priority: source.priority,
                    entity: Cow::Borrowed(&own.entity),
                });
        }
    }
    Ok(by_ref)
}

fn parse_body(entity_ref: &str, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt {
        entity_ref: entity_ref.to_owned(),
        what: "body",
        error: error.to_string(),
    })
}

/// Merge one ref's contributors. When the only contributor is the page's
/// own entity, and merging it alone leaves it as it is, the merged entity is
/// that contribution: nothing is cloned, re-serialised, re-hashed or stored
/// twice.
fn merge_contributors(
    entity_ref: &str,
    contributors: &[Contributor<'_>],
    own: Option<&Contribution>,
) -> Result<MergedEntity, StoreError> {
    let inputs: Vec<merge::Contribution<'_>> = contributors
        .iter()
        .map(|c| merge::Contribution {
            source: &c.source,
            priority: c.priority,
            entity: &c.entity,
        })
        .collect();
    if let ([only], Some(own)) = (inputs.as_slice(), own)
        && merge::is_unchanged_alone(&own.entity)
    {
        return Ok(MergedEntity {
            hash: own.hash.clone(),
            stored: MergedForm::Sole {
                source: only.source.to_owned(),
            },
        });
    }
    let Some(Merged { entity, provenance }) = merge::merge(&inputs) else {
        return Err(StoreError::Corrupt {
            entity_ref: entity_ref.to_owned(),
            what: "contributions",
            error: "no contribution to merge".into(),
        });
    };
    Ok(MergedEntity {
        hash: content_hash(&entity).to_hex(),
        stored: MergedForm::Explicit {
            body: entity.to_string(),
            provenance: provenance_json(entity_ref, &provenance)?,
        },
    })
}

fn provenance_json(entity_ref: &str, provenance: &merge::Provenance) -> Result<String, StoreError> {
    serde_json::to_string(provenance).map_err(|error| StoreError::Corrupt {
        entity_ref: entity_ref.to_owned(),
        what: "provenance",
        error: error.to_string(),
    })
}

async fn merged_states(
    tx: &mut Transaction<'_, Any>,
    batch: &[String],
) -> Result<HashMap<String, MergedState>, StoreError> {
    let rows = fetch_with_keys(
        tx,
        "SELECT entity_ref, hash, sole_source FROM entities WHERE entity_ref IN ({keys})",
        None,
        batch.iter().map(String::as_str),
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

/// Store again merged entities whose content did not change (rare: a
/// source joined with nothing to add), keeping their last event.
async fn restate(
    tx: &mut Transaction<'_, Any>,
    restated: Vec<(String, MergedEntity)>,
) -> Result<(), StoreError> {
    for (entity_ref, merged) in restated {
        let (body, provenance, sole_source) = merged.columns();
        sqlx::query(
            "UPDATE entities SET body = $1, provenance = $2, sole_source = $3, updated_ms = $4 \
             WHERE entity_ref = $5",
        )
        .bind(body)
        .bind(provenance)
        .bind(sole_source)
        .bind(now_ms())
        .bind(entity_ref.as_str())
        .execute(&mut **tx)
        .await
        .doing(format!("storing the contributors of {entity_ref}"))?;
    }
    Ok(())
}

/// Write merged entities and their events. Offsets are taken last, with the
/// log head's row lock held to commit, so they become visible in order.
async fn write_merged(
    tx: &mut Transaction<'_, Any>,
    changes: Vec<MergedChange>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(changes.len()).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(
        "UPDATE log_head SET last_offset = last_offset + $1 WHERE id = 1 RETURNING last_offset",
    )
    .bind(count)
    .fetch_one(&mut **tx)
    .await
    .doing("taking change-log offsets")?;
    let first = last - count + 1;
    let now = now_ms();
    let numbered: Vec<(i64, MergedChange)> = (first..).zip(changes).collect();
    for batch in numbered.chunks(BATCH_ROWS) {
        write_entities(tx, batch, now).await?;
        delete_removed(tx, batch).await?;
        write_events(tx, batch, now).await?;
    }
    Ok(())
}

async fn write_entities(
    tx: &mut Transaction<'_, Any>,
    batch: &[(i64, MergedChange)],
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<_> = batch
        .iter()
        .filter_map(|(offset, change)| Some((offset, &change.entity_ref, change.merged.as_ref()?)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    const COLUMNS: usize = 10;
    let sql = format!(
        "INSERT INTO entities \
         (entity_ref, kind, namespace, name, body, hash, provenance, sole_source, updated_ms, event_offset) \
         VALUES {} ON CONFLICT (entity_ref) DO UPDATE SET body = excluded.body, hash = excluded.hash, \
         provenance = excluded.provenance, sole_source = excluded.sole_source, \
         updated_ms = excluded.updated_ms, event_offset = excluded.event_offset",
        values_rows(rows.len(), COLUMNS, 1)
    );
    let mut query = sqlx::query(statement(tx, sql));
    for (offset, entity_ref, merged) in rows {
        let (kind, namespace, name) = split_ref(entity_ref);
        let (body, provenance, sole_source) = merged.columns();
        query = query
            .bind(entity_ref.as_str())
            .bind(kind)
            .bind(namespace)
            .bind(name)
            .bind(body)
            .bind(merged.hash.as_str())
            .bind(provenance)
            .bind(sole_source)
            .bind(now)
            .bind(*offset);
    }
    query
        .execute(&mut **tx)
        .await
        .doing("writing merged entities")?;
    Ok(())
}

async fn delete_removed(
    tx: &mut Transaction<'_, Any>,
    batch: &[(i64, MergedChange)],
) -> Result<(), StoreError> {
    let removed: Vec<&str> = batch
        .iter()
        .filter(|(_, change)| change.merged.is_none())
        .map(|(_, change)| change.entity_ref.as_str())
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    fetch_with_keys(
        tx,
        "DELETE FROM entities WHERE entity_ref IN ({keys})",
        None,
        removed.into_iter(),
    )
    .await
    .doing("deleting removed entities")?;
    Ok(())
}

/// One row per ref: the log is compacted as it is written.
async fn write_events(
    tx: &mut Transaction<'_, Any>,
    batch: &[(i64, MergedChange)],
    now: i64,
) -> Result<(), StoreError> {
    const COLUMNS: usize = 5;
    let sql = format!(
        "INSERT INTO changes (entity_ref, event_offset, change, kind, at_ms) VALUES {} \
         ON CONFLICT (entity_ref) DO UPDATE SET event_offset = excluded.event_offset, \
         change = excluded.change, kind = excluded.kind, at_ms = excluded.at_ms",
        values_rows(batch.len(), COLUMNS, 1)
    );
    let mut query = sqlx::query(statement(tx, sql));
    for (offset, change) in batch {
        let (kind, _, _) = split_ref(&change.entity_ref);
        query = query
            .bind(change.entity_ref.as_str())
            .bind(*offset)
            .bind(change.change)
            .bind(kind)
            .bind(now);
    }
    query
        .execute(&mut **tx)
        .await
        .doing("writing change-log entries")?;
    Ok(())
}

/// `kind:namespace/name` → its parts (the ref is normalised by the core).
fn split_ref(entity_ref: &str) -> (&str, &str, &str) {
    let (kind, rest) = entity_ref.split_once(':').unwrap_or(("", entity_ref));
    let (namespace, name) = rest.split_once('/').unwrap_or(("default", rest));
    (kind, namespace, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_split_into_their_parts() {
        assert_eq!(
            split_ref("component:default/a.b_c"),
            ("component", "default", "a.b_c")
        );
    }

    #[test]
    fn the_last_occurrence_of_a_ref_wins() {
        let c = |r: &str, h: &str| Contribution {
            entity_ref: r.into(),
            entity: Value::Null,
            body: String::new(),
            raw_hash: String::new(),
            hash: h.into(),
            location_key: None,
            plugin_build: String::new(),
        };
        let page = [c("a", "1"), c("b", "1"), c("a", "2")];
        let kept = last_of_each_ref(&page);
        let kept: Vec<_> = kept
            .iter()
            .map(|c| (c.entity_ref.as_str(), c.hash.as_str()))
            .collect();
        assert_eq!(kept, [("b", "1"), ("a", "2")]);
    }
}
