//! The write path: apply one page of a source's contributions, or remove a
//! source's contributions, in one transaction each, re-merging every ref
//! touched and logging an event only for real changes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use futures_executor::block_on;
use serde_json::Value;
use sqlx::Row;
use weir_core::canonical::content_hash;
use weir_core::intake::{Contribution, Rejection};
use weir_core::merge::{self, Merged};
use weir_core::owner_rule;

use super::model::{MergedEntity, OwnedRole, SourceRole};
use super::sql::{BATCH_ROWS, fetch_with_keys};
use super::writes::{CatalogWrites, EntityRow, Tombstone};
use super::{Backend, Catalog, QueryContext, StoreError, now_ms};

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

impl Catalog {
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
        let doing = format!("committing a page of source `{}`", source.name);
        let outcome = match &self.sqlite_writer {
            // On SQLite's writer thread, where no statement waits.
            Some(writer) => {
                let source = OwnedRole::of(source);
                let page = (contributions, invalid.to_vec());
                writer
                    .transaction(doing, page, move |tx, (contributions, invalid)| {
                        block_on(apply_in(tx, source.role(), contributions, invalid))
                    })
                    .await?
            }
            None => {
                let mut writer = self.writer().await?;
                let mut tx = writer.begin().await?;
                let outcome = apply_in(&mut tx, source, &contributions, invalid).await?;
                tx.commit().await.doing(doing)?;
                outcome
            }
        };
        self.committed();
        self.wrote_rows(outcome.stored).await?;
        self.note_rejections(source.name, invalid.iter().chain(&outcome.rejected))
            .await;
        Ok(outcome)
    }

    /// Whether `source` already has each of `named` (the ref an entity's
    /// text names, and the hash of that text) stored, valid, from exactly
    /// that text and at its current priority: those entities are unchanged.
    /// The answers come in the order of `named`. Looked up by ref, so no
    /// index on the hashes is needed: an index of random hashes would take a
    /// write to a random B-tree page for every stored entity, the biggest
    /// cost of a first ingest.
    pub async fn known_texts(
        &self,
        source: SourceRole<'_>,
        named: &[(&str, &str)],
    ) -> Result<Vec<bool>, StoreError> {
        if named.is_empty() {
            return Ok(Vec::new());
        }
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
        let mut known = Vec::with_capacity(named.len());
        let mut connection = self.pool().acquire().await.doing("connecting")?;
        for batch in named.chunks(BATCH_ROWS) {
            let refs = batch.iter().map(|(entity_ref, _)| *entity_ref);
            let rows = fetch_with_keys(&mut connection, &sql, Some(source), refs)
                .await
                .doing(format!(
                    "looking up unchanged entities of source `{source}`"
                ))?;
            // An aggregate: one row, NULL when nothing is stored.
            let lines: Option<String> = match rows.first() {
                Some(row) => row.try_get(0).doing("reading stored hashes")?,
                None => None,
            };
            let stored: HashMap<&str, &str> = lines
                .as_deref()
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.split_once(' '))
                .map(|(hash, entity_ref)| (entity_ref, hash))
                .collect();
            known.extend(
                batch
                    .iter()
                    .map(|(entity_ref, hash)| stored.get(entity_ref) == Some(hash)),
            );
        }
        Ok(known)
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

/// [`Catalog::apply_page`] inside the caller's transaction.
pub(super) async fn apply_in(
    tx: &mut impl CatalogWrites,
    source: SourceRole<'_>,
    contributions: &[Contribution],
    invalid: &[Rejection],
) -> Result<PageOutcome, StoreError> {
    let mut outcome = PageOutcome::default();
    if !contributions.is_empty() || !invalid.is_empty() {
        tx.queue_behind_writers().await?;
    }
    let contributions = last_of_each_ref(contributions);
    let mut pending = Vec::new();
    for batch in contributions.chunks(BATCH_ROWS) {
        let refs: Vec<&str> = batch.iter().map(|c| c.entity_ref.as_str()).collect();
        let existing = tx.stored_hashes(source, &refs).await?;
        let owners = if source.owner_rule {
            tx.other_owners(source.name, &refs).await?
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
    let now = now_ms();
    for batch in pending.chunks(BATCH_ROWS) {
        tx.upsert_contributions(source, batch, now).await?;
    }
    outcome.stored = pending.len();
    outcome.kept_with_error = attach_errors(tx, source.name, invalid, now).await?;

    let in_memory: HashMap<&str, &Contribution> = pending
        .iter()
        .map(|c| (c.entity_ref.as_str(), *c))
        .collect();
    let touched: Vec<&str> = pending.iter().map(|c| c.entity_ref.as_str()).collect();
    let Remerged { events, restated } = remerge(tx, source, &in_memory, &touched).await?;
    for (entity_ref, merged) in &restated {
        tx.restate(entity_ref, merged, now).await?;
    }
    outcome.added = events.iter().filter(|e| e.change == "added").count();
    outcome.updated = events.iter().filter(|e| e.change == "updated").count();
    outcome.removed = events.iter().filter(|e| e.change == "removed").count();
    write_merged(tx, events, now).await?;
    Ok(outcome)
}

/// [`Catalog::remove_contributions`] inside the caller's transaction.
pub(super) async fn remove_in(
    tx: &mut impl CatalogWrites,
    source: &str,
    refs: &[String],
) -> Result<RemovalOutcome, StoreError> {
    if !refs.is_empty() {
        tx.queue_behind_writers().await?;
    }
    let mut deleted = Vec::new();
    for batch in refs.chunks(BATCH_ROWS) {
        let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
        deleted.extend(tx.delete_contributions(source, &batch).await?);
    }
    let leaving = SourceRole {
        name: source,
        priority: 0,
        owner_rule: false,
    };
    let deleted: Vec<&str> = deleted.iter().map(String::as_str).collect();
    let now = now_ms();
    let Remerged { events, restated } = remerge(tx, leaving, &HashMap::new(), &deleted).await?;
    for (entity_ref, merged) in &restated {
        tx.restate(entity_ref, merged, now).await?;
    }
    let outcome = RemovalOutcome {
        deleted: deleted.len(),
        updated: events.iter().filter(|e| e.change == "updated").count(),
        removed: events.iter().filter(|e| e.change == "removed").count(),
    };
    write_merged(tx, events, now).await?;
    Ok(outcome)
}

/// A page may name a ref twice; the later one wins, as it would have had the
/// two come in separate pages.
fn last_of_each_ref(contributions: &[Contribution]) -> Vec<&Contribution> {
    let mut seen = HashSet::with_capacity(contributions.len());
    let mut kept: Vec<&Contribution> = contributions
        .iter()
        .rev()
        .filter(|c| seen.insert(c.entity_ref.as_str()))
        .collect();
    kept.reverse();
    kept
}

/// Backstage's owner rule ([`weir_core::owner_rule`]): another source's
/// contribution held under a location key refuses a claim under any other
/// key (or none); one held under no key refuses nothing.
fn owner_conflict(
    source: SourceRole<'_>,
    contribution: &Contribution,
    owners: &HashMap<String, Vec<(String, Option<String>)>>,
) -> Option<String> {
    let others = owners.get(&contribution.entity_ref)?;
    let (owner, key) = others.iter().find(|(_, key)| {
        owner_rule::conflicts(key.as_deref(), contribution.location_key.as_deref())
    })?;
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

/// Mark refs the source sent invalid: their last good version stays, with
/// the error beside it. Returns how many refs had such a version.
async fn attach_errors(
    tx: &mut impl CatalogWrites,
    source: &str,
    invalid: &[Rejection],
    now: i64,
) -> Result<usize, StoreError> {
    let mut kept = 0;
    for rejection in invalid {
        if let Some(entity_ref) = &rejection.entity_ref {
            let had = tx
                .attach_error(source, entity_ref, &rejection.reason, now)
                .await?;
            kept += usize::from(had);
        }
    }
    Ok(kept)
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
    tx: &mut impl CatalogWrites,
    source: SourceRole<'_>,
    in_memory: &HashMap<&str, &Contribution>,
    refs: &[&str],
) -> Result<Remerged, StoreError> {
    let mut changes = Vec::new();
    let mut restated = Vec::new();
    for batch in refs.chunks(BATCH_ROWS) {
        let current = tx.merged_states(batch).await?;
        let shared: Vec<&str> = batch
            .iter()
            .copied()
            .filter(|entity_ref| {
                current
                    .get(*entity_ref)
                    .is_some_and(|merged| !merged.is_solely_from(source.name))
            })
            .collect();
        let contributors = load_contributors(tx, source, in_memory, batch, &shared).await?;
        for &entity_ref in batch {
            let old = current.get(entity_ref);
            let change = match contributors.get(entity_ref) {
                None => old.is_some().then(|| MergedChange {
                    entity_ref: entity_ref.to_owned(),
                    change: "removed",
                    merged: None,
                }),
                Some(list) => {
                    let own = in_memory.get(entity_ref).copied();
                    let merged = merge_contributors(entity_ref, list, own)?;
                    match old {
                        Some(old) if old.hash == merged.hash => {
                            if old.sole_source.is_some()
                                && old.sole_source.as_deref() != merged.sole_source()
                            {
                                restated.push((entity_ref.to_owned(), merged));
                            }
                            None
                        }
                        old => Some(MergedChange {
                            entity_ref: entity_ref.to_owned(),
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

struct Contributor<'a> {
    source: String,
    priority: i64,
    entity: Contributed<'a>,
}

/// A contributor's entity: another source's, read from the store, or the
/// page's own, read from its text only if it must be merged.
enum Contributed<'a> {
    Stored(Value),
    Own(&'a Contribution),
}

/// Every contribution to the refs of `batch`: the other sources' read from
/// the store for the refs in `shared` (only those may have any), `source`'s
/// own from memory. Callers hold all of `source`'s contributions to these
/// refs in `in_memory` (a page's new ones), or none (its contributions were
/// just deleted); so a ref that only `source` provides costs no row at all.
async fn load_contributors<'a>(
    tx: &mut impl CatalogWrites,
    source: SourceRole<'_>,
    in_memory: &HashMap<&str, &'a Contribution>,
    batch: &[&str],
    shared: &[&str],
) -> Result<HashMap<String, Vec<Contributor<'a>>>, StoreError> {
    let mut by_ref: HashMap<String, Vec<Contributor>> = HashMap::new();
    if !shared.is_empty() {
        for stored in tx.other_contributions(source.name, shared).await? {
            let entity = Contributed::Stored(parse_body(&stored.entity_ref, &stored.body)?);
            by_ref
                .entry(stored.entity_ref)
                .or_default()
                .push(Contributor {
                    source: stored.source,
                    priority: stored.priority,
                    entity,
                });
        }
    }
    for &entity_ref in batch {
        if let Some(own) = in_memory.get(entity_ref) {
            by_ref
                .entry(entity_ref.to_owned())
                .or_default()
                .push(Contributor {
                    source: source.name.to_owned(),
                    priority: source.priority,
                    entity: Contributed::Own(own),
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
    if let ([only], Some(own)) = (contributors, own)
        && own.merges_unchanged_alone
    {
        return Ok(MergedEntity::sole(own.hash.clone(), only.source.clone()));
    }
    let entities: Vec<Cow<'_, Value>> = contributors
        .iter()
        .map(|c| match &c.entity {
            Contributed::Stored(entity) => Ok(Cow::Borrowed(entity)),
            Contributed::Own(own) => parse_body(entity_ref, &own.body).map(Cow::Owned),
        })
        .collect::<Result<_, _>>()?;
    let inputs: Vec<merge::Contribution<'_>> = contributors
        .iter()
        .zip(&entities)
        .map(|(c, entity)| merge::Contribution {
            source: &c.source,
            priority: c.priority,
            entity,
        })
        .collect();
    let Some(Merged { entity, provenance }) = merge::merge(&inputs) else {
        return Err(StoreError::Corrupt {
            entity_ref: entity_ref.to_owned(),
            what: "contributions",
            error: "no contribution to merge".into(),
        });
    };
    Ok(MergedEntity::explicit(
        content_hash(&entity).to_hex(),
        entity.to_string(),
        provenance_json(entity_ref, &provenance)?,
    ))
}

fn provenance_json(entity_ref: &str, provenance: &merge::Provenance) -> Result<String, StoreError> {
    serde_json::to_string(provenance).map_err(|error| StoreError::Corrupt {
        entity_ref: entity_ref.to_owned(),
        what: "provenance",
        error: error.to_string(),
    })
}

/// Write merged entities and their events: a live entity's row holds its
/// latest event, a removed ref's tombstone its removal. Offsets are taken
/// last, with the log head locked to commit, so they become visible in
/// order.
async fn write_merged(
    tx: &mut impl CatalogWrites,
    changes: Vec<MergedChange>,
    now: i64,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(changes.len()).unwrap_or(i64::MAX);
    let first = tx.take_offsets(count).await? - count + 1;
    let numbered: Vec<(i64, MergedChange)> = (first..).zip(changes).collect();
    for batch in numbered.chunks(BATCH_ROWS) {
        let entities: Vec<EntityRow> = batch
            .iter()
            .filter_map(|(offset, change)| {
                Some(EntityRow {
                    offset: *offset,
                    entity_ref: &change.entity_ref,
                    change: change.change,
                    merged: change.merged.as_ref()?,
                })
            })
            .collect();
        let added: Vec<&str> = entities
            .iter()
            .filter(|row| row.change == "added")
            .map(|row| row.entity_ref)
            .collect();
        if !added.is_empty() {
            tx.clear_tombstones(&added).await?;
        }
        if !entities.is_empty() {
            tx.write_entities(&entities, now).await?;
        }
        let removed: Vec<Tombstone> = batch
            .iter()
            .filter(|(_, change)| change.merged.is_none())
            .map(|(offset, change)| Tombstone {
                offset: *offset,
                entity_ref: &change.entity_ref,
            })
            .collect();
        if !removed.is_empty() {
            tx.remove_entities(&removed, now).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_occurrence_of_a_ref_wins() {
        let c = |r: &str, h: &str| Contribution {
            entity_ref: r.into(),
            body: String::new(),
            raw_hash: String::new(),
            hash: h.into(),
            merges_unchanged_alone: true,
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
