//! The statements a commit runs, as one trait with two ways of running them:
//! through sqlx ([`super::sqlx_writes`]: PostgreSQL, and SQLite's rarer
//! writes) and straight on SQLite's writer connection
//! ([`super::sqlite_writer`]: a page of a cycle, the hot path). What to write
//! is decided once, in [`super::apply`], against this trait.
//!
//! Every method may be handed at most [`super::sql::BATCH_ROWS`] rows. The
//! methods are async for sqlx; rusqlite's never wait, so on SQLite's writer
//! the same async code runs to completion under `block_on` on its blocking
//! thread.

use std::collections::HashMap;

use weir_core::intake::Contribution;

use super::StoreError;
use super::model::{CycleTotals, MergedEntity, SourceRole};

/// A merged entity as stored: its hash, and the source it is exactly the
/// contribution of, if it is one source's alone.
pub(super) struct MergedState {
    pub hash: String,
    pub sole_source: Option<String>,
}

impl MergedState {
    /// Whether no source but `source` contributes to the entity. Every
    /// stored contribution is part of its ref's merged entity, and one
    /// stored as a single source's alone has no other contributor; so the
    /// other sources' rows need not be read.
    pub fn is_solely_from(&self, source: &str) -> bool {
        self.sole_source.as_deref() == Some(source)
    }
}

/// Another source's stored contribution to a ref.
pub(super) struct StoredContribution {
    pub entity_ref: String,
    pub source: String,
    pub priority: i64,
    pub body: String,
}

/// A merged entity to write, with its latest event.
pub(super) struct EntityRow<'a> {
    pub offset: i64,
    pub entity_ref: &'a str,
    /// `added` or `updated`.
    pub change: &'static str,
    pub merged: &'a MergedEntity,
}

/// A removed ref's tombstone: the latest event of a ref with no entity.
pub(super) struct Tombstone<'a> {
    pub offset: i64,
    pub entity_ref: &'a str,
}

/// The catalog's statements inside one write transaction.
pub(super) trait CatalogWrites {
    /// Wait for every other transaction that writes the catalog (PostgreSQL;
    /// SQLite's writers already queue at `BEGIN IMMEDIATE`).
    async fn queue_behind_writers(&mut self) -> Result<(), StoreError>;

    /// The hashes of `refs` as `source` stored them, valid and at its
    /// current priority (a changed priority must re-merge, even with the
    /// same body).
    async fn stored_hashes(
        &mut self,
        source: SourceRole<'_>,
        refs: &[&str],
    ) -> Result<HashMap<String, String>, StoreError>;

    /// Other sources' names and location keys for `refs`.
    async fn other_owners(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<HashMap<String, Vec<(String, Option<String>)>>, StoreError>;

    /// Catalog `batch` as `source`'s contributions, valid.
    async fn upsert_contributions(
        &mut self,
        source: SourceRole<'_>,
        batch: &[&Contribution],
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Attach `reason` to `source`'s stored contribution to `entity_ref`;
    /// whether it had one.
    async fn attach_error(
        &mut self,
        source: &str,
        entity_ref: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Delete `source`'s contributions to `refs`; the refs it had.
    async fn delete_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<String>, StoreError>;

    /// The merged entities of `refs` as stored.
    async fn merged_states(
        &mut self,
        refs: &[&str],
    ) -> Result<HashMap<String, MergedState>, StoreError>;

    /// Every contribution to `refs` of sources other than `source`.
    async fn other_contributions(
        &mut self,
        source: &str,
        refs: &[&str],
    ) -> Result<Vec<StoredContribution>, StoreError>;

    /// Catalog a merged entity again without an event.
    async fn restate(
        &mut self,
        entity_ref: &str,
        merged: &MergedEntity,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Hand out `count` change-log offsets; the last of them. Taken last in
    /// a transaction (the log head stays locked to its commit), so offsets
    /// become visible in order.
    async fn take_offsets(&mut self, count: i64) -> Result<i64, StoreError>;

    /// Catalog merged entities, each with its latest event.
    async fn write_entities(
        &mut self,
        rows: &[EntityRow<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Delete the tombstones of `refs`, which are being added again.
    async fn clear_tombstones(&mut self, refs: &[&str]) -> Result<(), StoreError>;

    /// Delete the entities of `rows`, each leaving its tombstone.
    async fn remove_entities(
        &mut self,
        rows: &[Tombstone<'_>],
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Extend `owner`'s lease on `source` to `until_ms`, if it still holds
    /// it for `cycle`; whether it did.
    async fn extend_lease(
        &mut self,
        source: &str,
        owner: &str,
        cycle: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Mark `refs` as seen by `source` in its current cycle.
    async fn mark(&mut self, source: &str, refs: &[String]) -> Result<(), StoreError>;

    /// Set the cursor to resume from (`None`: from the start) and add to the
    /// cycle's running totals.
    async fn add_totals(
        &mut self,
        source: &str,
        cursor: Option<&str>,
        totals: CycleTotals,
    ) -> Result<(), StoreError>;
}

/// `kind:namespace/name` → its parts (the ref is normalised by the core).
pub(super) fn split_ref(entity_ref: &str) -> (&str, &str, &str) {
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
}
