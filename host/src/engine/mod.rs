//! The ingestion engine: what happens to each page a source returns. So far,
//! applying one page; bursts, cursors, marks and schedules build on it.

use crate::core::intake::{Scope, hash_texts, take_in};
use crate::runtime::SourcedEntity;
use crate::store::{PageOutcome, SourceRole, Store, StoreError};

/// Apply one page from `source`: entities whose text the source already sent
/// byte for byte are counted unchanged without being parsed; the rest are
/// validated, hashed and handed to the store in one transaction. The outcome
/// lists every rejection (invalid, out of scope, conflicting).
pub async fn ingest_page(
    store: &Store,
    source: SourceRole<'_>,
    scope: &Scope,
    entities: &[SourcedEntity],
) -> Result<PageOutcome, StoreError> {
    let hashed = hash_texts(entities);
    let hashes: Vec<&str> = hashed.iter().map(|e| e.raw_hash.as_str()).collect();
    let known = store.known_texts(source, &hashes).await?;
    let (unchanged, fresh): (Vec<_>, Vec<_>) = hashed
        .into_iter()
        .partition(|entity| known.contains(&entity.raw_hash));
    let intake = take_in(source.name, scope, fresh);
    let mut outcome = store
        .apply_page(source, intake.contributions, &intake.rejected)
        .await?;
    outcome.unchanged += unchanged.len();
    outcome.rejected.extend(intake.rejected);
    Ok(outcome)
}
