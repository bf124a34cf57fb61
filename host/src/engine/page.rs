//! From a page a source returned to what the store commits: entities whose
//! text the source already sent byte for byte are recognised by its hash and
//! not parsed again; the rest are validated, scoped and hashed. Every ref
//! the page names is a mark of the cycle (an invalid entity counts as seen).

use crate::core::intake::{Contribution, Rejection, Scope, hash_texts, take_in};
use crate::runtime::SourcedEntity;
use crate::store::{PageOutcome, SourceRole, Store, StoreError};

/// A page sorted for the store.
pub(super) struct PreparedPage {
    pub contributions: Vec<Contribution>,
    /// Entities refused by the core (invalid or out of scope).
    pub rejected: Vec<Rejection>,
    /// Every ref the page named.
    pub marks: Vec<String>,
    /// Entities recognised as unchanged without parsing.
    pub unchanged: usize,
}

pub(super) async fn prepare_page(
    store: &Store,
    source: SourceRole<'_>,
    scope: &Scope,
    entities: &[SourcedEntity],
) -> Result<PreparedPage, StoreError> {
    let hashed = hash_texts(entities);
    let hashes: Vec<&str> = hashed.iter().map(|e| e.raw_hash.as_str()).collect();
    let known = store.known_texts(source, &hashes).await?;
    let mut marks = Vec::with_capacity(entities.len());
    let mut fresh = Vec::with_capacity(entities.len() - known.len().min(entities.len()));
    for entity in hashed {
        match known.get(&entity.raw_hash) {
            Some(entity_ref) => marks.push(entity_ref.clone()),
            None => fresh.push(entity),
        }
    }
    let unchanged = marks.len();
    let intake = take_in(source.name, scope, fresh);
    marks.extend(intake.contributions.iter().map(|c| c.entity_ref.clone()));
    marks.extend(intake.rejected.iter().filter_map(|r| r.entity_ref.clone()));
    Ok(PreparedPage {
        contributions: intake.contributions,
        rejected: intake.rejected,
        marks,
        unchanged,
    })
}

/// Apply one page from `source` outside any cycle (as `weir run` does): the
/// outcome lists every rejection (invalid, out of scope, conflicting).
pub async fn ingest_page(
    store: &Store,
    source: SourceRole<'_>,
    scope: &Scope,
    entities: &[SourcedEntity],
) -> Result<PageOutcome, StoreError> {
    let page = prepare_page(store, source, scope, entities).await?;
    let mut outcome = store
        .apply_page(source, page.contributions, &page.rejected)
        .await?;
    outcome.unchanged += page.unchanged;
    outcome.rejected.extend(page.rejected);
    Ok(outcome)
}
