//! Rejections: the entities each source sent that were not taken in
//! (invalid, out of the source's scope, too big, claimed under another
//! source's location), kept so that an operator can ask "why is my entity
//! missing?". One row per source and ref (or, for an entity without a
//! usable ref, per reason): the latest rejection, with the cycle it came
//! in. They are written after the page's commit, in a transaction of their
//! own (a diagnostic, not part of the catalog: a crash between the two
//! loses at most that page's rows, which its next cycle writes again).
//!
//! A rejection is shown while it is current: from the source's current
//! cycle, or from the previous one while a cycle runs (the last complete
//! picture), and only until the source stores that ref valid again. Rows of
//! older cycles are pruned, and at most [`KEPT_PER_SOURCE`] are kept per
//! source.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::Row;
use weir_core::intake::Rejection;

use super::cycle_history::clip;
use super::{Catalog, QueryContext, StoreError, now_ms};

/// Rejections recorded from one page; the rest are only counted (in the
/// cycle's `rejected` total).
const RECORDED_PER_PAGE: usize = 500;

/// Rejections kept per source; the oldest are pruned past it.
const KEPT_PER_SOURCE: i64 = 10_000;

/// A rejection as stored, with what the catalog holds of its ref now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionRecord {
    pub source: String,
    /// The key of the row: the ref, or `#` and a hash of the reason for an
    /// entity without a usable ref. Rows are listed in `(source, key)` order.
    pub key: String,
    /// `None` when the entity did not even have a usable ref.
    pub entity_ref: Option<String>,
    /// What was wrong: the source, the entity and the field.
    pub reason: String,
    pub cycle: i64,
    pub at_ms: i64,
    /// Whether the catalog keeps this source's last good version of the
    /// ref (with the error beside it).
    pub kept: bool,
    /// Whether the catalog holds the ref at all (from any source).
    pub in_catalog: bool,
}

/// Which rejections to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectionQuery<'a> {
    /// Only this source's.
    pub source: Option<&'a str>,
    /// After this `(source, key)`, in that order.
    pub after: Option<(&'a str, &'a str)>,
    pub limit: i64,
}

/// The key of a rejection's row.
fn key_of(rejection: &Rejection) -> String {
    match &rejection.entity_ref {
        Some(entity_ref) => entity_ref.clone(),
        None => {
            let digest = Sha256::digest(rejection.reason.as_bytes());
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        }
    }
}

/// The latest rejection of each key, in page order (a page may name a ref
/// twice), at most [`RECORDED_PER_PAGE`].
fn latest_of_each_key<'r>(
    rejections: impl IntoIterator<Item = &'r Rejection>,
) -> Vec<(String, &'r Rejection)> {
    let mut latest: Vec<(String, &Rejection)> = Vec::new();
    let mut positions: HashMap<String, usize> = HashMap::new();
    for rejection in rejections {
        let key = key_of(rejection);
        match positions.get(&key) {
            Some(&at) => latest[at].1 = rejection,
            None if latest.len() < RECORDED_PER_PAGE => {
                positions.insert(key.clone(), latest.len());
                latest.push((key, rejection));
            }
            None => {}
        }
    }
    latest
}

impl Catalog {
    /// [`Catalog::record_rejections`] once a page has committed: a failure
    /// is logged, not returned (the page is in; its rejections are only a
    /// diagnostic, which the next cycle records again).
    pub(super) async fn note_rejections(
        &self,
        source: &str,
        rejections: impl IntoIterator<Item = &Rejection>,
    ) {
        if let Err(error) = self.record_rejections(source, rejections, now_ms()).await {
            tracing::warn!("{error}");
        }
    }

    /// Record what `source` sent that was not taken in (nothing when
    /// `rejections` is empty), and prune its rows of older cycles.
    pub async fn record_rejections(
        &self,
        source: &str,
        rejections: impl IntoIterator<Item = &Rejection>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let latest = latest_of_each_key(rejections);
        if latest.is_empty() {
            return Ok(());
        }
        let doing = || format!("recording the rejected entities of source `{source}`");
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let cycle: i64 = sqlx::query_scalar("SELECT cycle FROM source_state WHERE source = $1")
            .bind(source)
            .fetch_optional(&mut *tx)
            .await
            .doing(doing())?
            .unwrap_or(0);
        for (key, rejection) in &latest {
            sqlx::query(
                "INSERT INTO source_rejections (source, entity_key, entity_ref, reason, cycle, \
                 at_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, entity_key) DO \
                 UPDATE SET reason = excluded.reason, cycle = excluded.cycle, \
                 at_ms = excluded.at_ms",
            )
            .bind(source)
            .bind(key.as_str())
            .bind(rejection.entity_ref.as_deref())
            .bind(clip(&rejection.reason))
            .bind(cycle)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .doing(doing())?;
        }
        sqlx::query("DELETE FROM source_rejections WHERE source = $1 AND cycle < $2")
            .bind(source)
            .bind(cycle.saturating_sub(1))
            .execute(&mut *tx)
            .await
            .doing(doing())?;
        sqlx::query(
            "DELETE FROM source_rejections WHERE source = $1 AND at_ms < \
             (SELECT MIN(at_ms) FROM (SELECT at_ms FROM source_rejections WHERE source = $1 \
             ORDER BY at_ms DESC LIMIT $2) AS latest)",
        )
        .bind(source)
        .bind(KEPT_PER_SOURCE)
        .execute(&mut *tx)
        .await
        .doing(doing())?;
        tx.commit().await.doing(doing())?;
        Ok(())
    }

    /// The current rejections in `(source, key)` order, at most
    /// `query.limit`.
    pub async fn rejections(
        &self,
        query: &RejectionQuery<'_>,
    ) -> Result<Vec<RejectionRecord>, StoreError> {
        let (after_source, after_key) = query.after.unzip();
        let rows = sqlx::query(
            "SELECT r.source, r.entity_key, r.entity_ref, r.reason, r.cycle, r.at_ms, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM source_entities e WHERE e.source = r.source \
             AND e.entity_ref = r.entity_ref AND e.error IS NOT NULL) THEN 1 ELSE 0 END \
             AS BIGINT), \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM entities c WHERE c.entity_ref = r.entity_ref) \
             THEN 1 ELSE 0 END AS BIGINT) \
             FROM source_rejections r LEFT JOIN source_state s ON s.source = r.source \
             WHERE ($1 IS NULL OR r.source = $1) \
             AND ($2 IS NULL OR r.source > $2 OR (r.source = $2 AND r.entity_key > $3)) \
             AND (s.source IS NULL OR r.cycle >= s.cycle - \
             (CASE WHEN s.cycle_started_ms IS NULL THEN 0 ELSE 1 END)) \
             AND NOT EXISTS (SELECT 1 FROM source_entities v WHERE v.source = r.source \
             AND v.entity_ref = r.entity_ref AND v.error IS NULL AND v.updated_ms >= r.at_ms) \
             ORDER BY r.source, r.entity_key LIMIT $4",
        )
        .bind(query.source)
        .bind(after_source)
        .bind(after_key.unwrap_or(""))
        .bind(query.limit)
        .fetch_all(self.read_pool())
        .await
        .doing("reading the rejected entities")?;
        rows.iter()
            .map(|row| {
                Ok(RejectionRecord {
                    source: row.try_get(0)?,
                    key: row.try_get(1)?,
                    entity_ref: row.try_get(2)?,
                    reason: row.try_get(3)?,
                    cycle: row.try_get(4)?,
                    at_ms: row.try_get(5)?,
                    kept: row.try_get::<i64, _>(6)? != 0,
                    in_catalog: row.try_get::<i64, _>(7)? != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading the rejected entities")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(entity_ref: Option<&str>, reason: &str) -> Rejection {
        Rejection {
            entity_ref: entity_ref.map(str::to_owned),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn a_page_keeps_the_latest_rejection_of_each_ref_and_reason() {
        let page = [
            rejection(Some("component:default/a"), "first"),
            rejection(None, "entity #1 of the page: no kind"),
            rejection(Some("component:default/a"), "second"),
            rejection(None, "entity #1 of the page: no kind"),
            rejection(None, "entity #2 of the page: no kind"),
        ];
        let latest = latest_of_each_key(&page);
        assert_eq!(latest.len(), 3);
        assert_eq!(latest[0].0, "component:default/a");
        assert_eq!(latest[0].1.reason, "second");
        assert!(latest[1].0.starts_with('#'));
        assert_ne!(latest[1].0, latest[2].0);
    }

    #[test]
    fn a_page_records_a_bounded_number() {
        let page: Vec<Rejection> = (0..RECORDED_PER_PAGE + 10)
            .map(|n| rejection(Some(&format!("component:default/e{n}")), "bad"))
            .collect();
        assert_eq!(latest_of_each_key(&page).len(), RECORDED_PER_PAGE);
    }
}
