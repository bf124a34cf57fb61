//! Marks and the sweep: the refs a cycle returned are marked as its pages
//! commit, and after its last page the source's contributions it did not
//! mark are removed, unless a guard (Backstage's
//! `rejectRemovalsAbovePercentage`, `rejectEmptySourceCollections`) refuses.
//! Either way the marks are cleared.

use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::apply::{RemovalOutcome, remove_in};
use super::sql::{BATCH_ROWS, statement};
use super::{Catalog, QueryContext, StoreError};

/// When the sweep at the end of a cycle is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SweepGuards {
    /// Refuse to remove more than this share (percent) of the entities the
    /// source had before the cycle; `Some(0.0)` refuses any removal.
    pub reject_removals_above_percentage: Option<f64>,
    /// Refuse to remove anything after a cycle that returned no entities.
    pub reject_empty_source_collections: bool,
}

/// What the sweep at the end of a cycle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepOutcome {
    Swept(RemovalOutcome),
    /// The catalog was left as it was; the stale refs are found again by
    /// the next cycle.
    Refused {
        stale: u64,
        reason: String,
    },
}

impl Catalog {
    /// The refs marked in `source`'s current cycle, in order.
    pub async fn marks(&self, source: &str) -> Result<Vec<String>, StoreError> {
        self.marks_page(source, None, i64::MAX).await
    }

    /// Operator action: drop the marks of `source`'s current cycle.
    pub async fn clear_marks(&self, source: &str) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        clear_marks_in(&mut tx, source).await?;
        tx.commit()
            .await
            .doing(format!("clearing the marks of source `{source}`"))
    }
}

pub(super) async fn clear_marks_in(
    tx: &mut Transaction<'_, Any>,
    source: &str,
) -> Result<(), StoreError> {
    let doing = || format!("clearing the marks of source `{source}`");
    // SQLite empties a table given no condition by dropping its pages,
    // about twice as fast as deleting a million marks one by one. So when
    // no other source has marks, the table is emptied whole. Only on
    // SQLite: its one writer is this transaction, so no other source can
    // mark meanwhile, where PostgreSQL replicas may.
    let sqlite = tx.backend_name() == "SQLite";
    let others_marked = sqlite
        && sqlx::query("SELECT 1 FROM source_marks WHERE source < ?1 OR source > ?1 LIMIT 1")
            .bind(source)
            .fetch_optional(&mut **tx)
            .await
            .doing(doing())?
            .is_some();
    let clear = if sqlite && !others_marked {
        sqlx::query("DELETE FROM source_marks")
    } else {
        sqlx::query("DELETE FROM source_marks WHERE source = $1").bind(source)
    };
    clear.execute(&mut **tx).await.doing(doing())?;
    Ok(())
}

/// The source's contributions.
pub(super) const OWNED: &str = "FROM source_entities s WHERE s.source = $1";

/// The source's contributions not marked in this cycle.
pub(super) const STALE: &str = "FROM source_entities s WHERE s.source = $1 AND NOT EXISTS \
     (SELECT 1 FROM source_marks m WHERE m.source = s.source AND m.entity_ref = s.entity_ref)";

/// Remove the source's contributions that this cycle did not mark, unless a
/// guard refuses; either way the marks are cleared.
pub(super) async fn sweep_in(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    guards: SweepGuards,
) -> Result<SweepOutcome, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*), (SELECT entities FROM source_state WHERE source = $1), \
         (SELECT entities_before FROM source_state WHERE source = $1) {STALE}"
    )))
    .bind(source)
    .fetch_one(&mut **tx)
    .await
    .doing(format!("counting the stale entities of source `{source}`"))?;
    let read = || -> Result<(i64, i64, i64), sqlx::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    };
    let (stale, seen, before) = read().doing("counting stale entities")?;
    let stale = u64::try_from(stale).unwrap_or(0);
    if let Some(reason) = refusal(guards, stale, seen, before) {
        clear_marks_in(tx, source).await?;
        return Ok(SweepOutcome::Refused { stale, reason });
    }
    let mut total = RemovalOutcome::default();
    // In ref order, each batch after the last: one pass over the source's
    // contributions in all. (Taking the first stale batch again each time
    // went over every kept entity again for every batch removed.)
    let mut after = String::new();
    let mut found = 0;
    while found < stale {
        let refs = refs_after(tx, STALE, source, &after).await?;
        let Some(last) = refs.last() else { break };
        after.clone_from(last);
        found += refs.len() as u64;
        let removal = remove_in(tx, source, &refs).await?;
        total.deleted += removal.deleted;
        total.updated += removal.updated;
        total.removed += removal.removed;
    }
    clear_marks_in(tx, source).await?;
    Ok(SweepOutcome::Swept(total))
}

/// Up to a batch of the refs of `from` ([`OWNED`] or [`STALE`], for
/// `source`) after `after`, in ref order.
pub(super) async fn refs_after(
    tx: &mut Transaction<'_, Any>,
    from: &str,
    source: &str,
    after: &str,
) -> Result<Vec<String>, StoreError> {
    let sql =
        format!("SELECT s.entity_ref {from} AND s.entity_ref > $2 ORDER BY s.entity_ref LIMIT $3");
    let doing = || format!("reading the entities of source `{source}`");
    let rows = sqlx::query(statement(tx, sql))
        .bind(source)
        .bind(after)
        .bind(BATCH_ROWS as i64)
        .fetch_all(&mut **tx)
        .await
        .doing(doing())?;
    rows.iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .doing(doing())
}

/// Why the guards refuse removing `stale` of the `before` entities the
/// source had, after a cycle that returned `seen`; `None` to go ahead.
fn refusal(guards: SweepGuards, stale: u64, seen: i64, before: i64) -> Option<String> {
    if stale == 0 {
        return None;
    }
    if guards.reject_empty_source_collections && seen == 0 {
        return Some(format!(
            "refused: the cycle returned no entities and would have removed all {stale} \
             (rejectEmptySourceCollections)"
        ));
    }
    let limit = guards.reject_removals_above_percentage?;
    let share = if before > 0 {
        stale as f64 * 100.0 / before as f64
    } else {
        100.0
    };
    (share > limit).then(|| {
        format!(
            "refused: removing {stale} of the {before} entities the source had ({share:.1}%) \
             is above rejectRemovalsAbovePercentage ({limit}%)"
        )
    })
}

pub(super) fn describe_sweep(sweep: &SweepOutcome) -> String {
    match sweep {
        SweepOutcome::Swept(removal) => format!(
            "swept: {} stale contributions deleted ({} entities removed, {} updated)",
            removal.deleted, removal.removed, removal.updated
        ),
        SweepOutcome::Refused { reason, .. } => reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards(percent: Option<f64>, empty: bool) -> SweepGuards {
        SweepGuards {
            reject_removals_above_percentage: percent,
            reject_empty_source_collections: empty,
        }
    }

    #[test]
    fn nothing_stale_is_never_refused() {
        assert_eq!(refusal(guards(Some(0.0), true), 0, 0, 10), None);
    }

    #[test]
    fn the_removal_guard_divides_by_what_the_source_had() {
        // 10 of 100 is 10 %: allowed at 10, refused at 9.
        assert_eq!(refusal(guards(Some(10.0), false), 10, 90, 100), None);
        assert!(refusal(guards(Some(9.0), false), 10, 90, 100).is_some());
        // 0 refuses any removal; no guard allows everything.
        assert!(refusal(guards(Some(0.0), false), 1, 99, 100).is_some());
        assert_eq!(refusal(guards(None, false), 100, 0, 100), None);
    }

    #[test]
    fn the_empty_collection_guard_refuses_only_an_empty_cycle() {
        let reason = refusal(guards(None, true), 5, 0, 5).unwrap();
        assert!(reason.contains("rejectEmptySourceCollections"), "{reason}");
        assert_eq!(refusal(guards(None, true), 5, 1, 6), None);
    }
}
