//! A source's cycle in the store: its start, each page committed with its
//! cursor and marks in one transaction (and the last page with the sweep),
//! the end of a burst and a failed one with its back-off step; operator actions (trigger, cancel, reset); and the expiry of a
//! source no replica runs. A process killed at any point resumes from the
//! last committed page.

use std::sync::Arc;

use futures_executor::block_on;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};
use weir_core::intake::{Contribution, Rejection};

use super::apply::{PageOutcome, RemovalOutcome, apply_in, remove_in};
use super::cycle_history::{clip, end_cycle_in, log_error_in};
use super::model::{CycleTotals, OwnedRole, SourceRole};
use super::source_status::{SELECT_STATUS, SourceStatus, status_from};
use super::sql::BATCH_ROWS;
use super::sweep::{
    OWNED, SweepGuards, SweepOutcome, clear_marks_in, describe_sweep, refs_after, sweep_in,
};
use super::writes::CatalogWrites;
use super::{Catalog, QueryContext, StoreError};

/// The engine's side of a page commit.
#[derive(Debug, Clone)]
pub struct PageProgress {
    /// The lease holder; the commit fails if the lease has moved on.
    pub owner: Arc<str>,
    /// The cycle the page belongs to; the commit fails if it has changed.
    pub cycle: i64,
    /// The cursor to resume from after this page.
    pub cursor: Option<String>,
    /// Every ref the page named (marked as seen in this cycle).
    pub marks: Arc<[String]>,
    /// Entities the page carried.
    pub entities: usize,
    /// The lease is extended to this time.
    pub lease_until_ms: i64,
    pub now_ms: i64,
    /// `Some` when this is the cycle's last page: sweep with these guards,
    /// then rest until the given time.
    pub last: Option<(SweepGuards, i64)>,
}

/// How a failed burst leaves the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureStep {
    /// Retry the burst from the stored cursor at this time.
    BackOff { until_ms: i64 },
    /// End the cycle as failed and rest until this time (a new cycle then
    /// starts from the beginning).
    EndCycle { rest_until_ms: i64 },
}

impl Catalog {
    /// Start a new cycle of `source` (this replica holds its lease): the
    /// cursor and totals start over, the marks are cleared and the source's
    /// current contributions are counted as the removal guard's base.
    pub async fn start_cycle(
        &self,
        source: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<SourceStatus, StoreError> {
        self.bounded(
            || format!("starting a cycle of source `{source}`"),
            self.start_cycle_unbounded(source, owner, now_ms),
        )
        .await
    }

    /// [`Catalog::start_cycle`] without its deadline.
    async fn start_cycle_unbounded(
        &self,
        source: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<SourceStatus, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let before: i64 = sqlx::query("SELECT COUNT(*) FROM source_entities WHERE source = $1")
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get(0))
            .doing(format!("counting the entities of source `{source}`"))?;
        clear_marks_in(&mut tx, source).await?;
        let started = sqlx::query(
            "UPDATE source_state SET phase = 'bursting', next_action_ms = $1, cycle = cycle + 1, \
             cycle_started_ms = $1, cursor = NULL, pages = 0, entities = 0, added = 0, \
             updated = 0, removed = 0, rejected = 0, errors = 0, failures = 0, \
             entities_before = $2 \
             WHERE source = $3 AND lease_owner = $4",
        )
        .bind(now_ms)
        .bind(before)
        .bind(source)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .doing(format!("starting a cycle of source `{source}`"))?;
        if started.rows_affected() == 0 {
            return Err(StoreError::Fenced {
                source_name: source.to_owned(),
            });
        }
        let row = sqlx::query(AssertSqlSafe(format!("{SELECT_STATUS} WHERE source = $1")))
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .doing(format!("reading the state of source `{source}`"))?;
        let status = status_from(&row)?;
        tx.commit()
            .await
            .doing(format!("starting a cycle of source `{source}`"))?;
        Ok(status)
    }

    /// Commit one page of a cycle in one transaction: its contributions and
    /// errors (as [`Catalog::apply_page`]), its marks, its cursor and the
    /// cycle's totals; and for the cycle's last page, the sweep, the cycle's
    /// history row and the start of the rest. Fails with
    /// [`StoreError::Fenced`], committing nothing, if this replica no longer
    /// holds the lease or the cycle was cancelled meanwhile.
    pub async fn commit_page(
        &self,
        role: SourceRole<'_>,
        contributions: Vec<Contribution>,
        invalid: Vec<Rejection>,
        progress: PageProgress,
    ) -> Result<(PageOutcome, Option<SweepOutcome>), StoreError> {
        let source = role.name;
        let doing = format!("committing a page of source `{source}`");
        if crate::failpoints::commit_fails(source) {
            return Err(StoreError::unanswered(doing));
        }
        let refused = invalid.clone();
        let commit = async {
            match (&self.sqlite_writer, progress.last) {
                // A page within the cycle, the common case, runs on SQLite's
                // writer directly.
                (Some(writer), None) => {
                    let role = OwnedRole::of(role);
                    let outcome = writer
                        .transaction(doing.clone(), (contributions, invalid), move |tx, page| {
                            let outcome =
                                block_on(commit_in(tx, role.role(), &page.0, &page.1, progress));
                            crate::failpoints::hold_blocking("weir::hold::commit");
                            outcome
                        })
                        .await?;
                    Ok((outcome, None))
                }
                _ => {
                    let mut writer = self.writer().await?;
                    let mut tx = writer.begin().await?;
                    let last = progress.last;
                    let now_ms = progress.now_ms;
                    let outcome =
                        commit_in(&mut tx, role, &contributions, &invalid, progress).await?;
                    let sweep = match last {
                        None => {
                            crate::failpoints::hold("weir::hold::commit").await;
                            None
                        }
                        Some((guards, rest_until_ms)) => {
                            let swept =
                                end_with_sweep(&mut tx, source, guards, now_ms, rest_until_ms)
                                    .await?;
                            crate::failpoints::hold("weir::hold::sweep").await;
                            Some(swept)
                        }
                    };
                    tx.commit().await.doing(doing.clone())?;
                    // Freeing a page's parsed entities is a good share of its
                    // cost; on a blocking thread, it overlaps the next page.
                    tokio::task::spawn_blocking(move || drop((contributions, invalid)));
                    Ok((outcome, sweep))
                }
            }
        };
        let (outcome, sweep) = self.bounded(|| doing.clone(), commit).await?;
        self.committed();
        self.wrote_rows(outcome.stored).await?;
        self.note_rejections(source, refused.iter().chain(&outcome.rejected))
            .await;
        Ok((outcome, sweep))
    }

    /// After a burst that ended well (not the cycle's last): pause until
    /// `next_action_ms`, reset the back-off and give up the lease.
    pub async fn end_burst(
        &self,
        source: &str,
        owner: &str,
        next_action_ms: i64,
    ) -> Result<(), StoreError> {
        self.bounded(
            || format!("ending a burst of source `{source}`"),
            self.end_burst_unbounded(source, owner, next_action_ms),
        )
        .await
    }

    /// [`Catalog::end_burst`] without its deadline.
    async fn end_burst_unbounded(
        &self,
        source: &str,
        owner: &str,
        next_action_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE source_state SET phase = 'interstitial', next_action_ms = $1, failures = 0, \
             lease_owner = NULL, lease_until_ms = NULL \
             WHERE source = $2 AND lease_owner = $3 AND cycle_started_ms IS NOT NULL",
        )
        .bind(next_action_ms)
        .bind(source)
        .bind(owner)
        .execute(self.pool())
        .await
        .doing(format!("ending a burst of source `{source}`"))?;
        Ok(())
    }

    /// Record a failed burst's error and take `step`; gives up the lease.
    pub async fn fail_burst(
        &self,
        source: &str,
        owner: &str,
        message: &str,
        now_ms: i64,
        step: FailureStep,
    ) -> Result<(), StoreError> {
        self.bounded(
            || format!("recording an error of source `{source}`"),
            self.fail_burst_unbounded(source, owner, message, now_ms, step),
        )
        .await
    }

    /// [`Catalog::fail_burst`] without its deadline.
    async fn fail_burst_unbounded(
        &self,
        source: &str,
        owner: &str,
        message: &str,
        now_ms: i64,
        step: FailureStep,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let message = clip(message);
        let recorded = sqlx::query(
            "UPDATE source_state SET failures = failures + 1, errors = errors + 1, \
             last_error = $1, last_error_ms = $2 WHERE source = $3 AND lease_owner = $4",
        )
        .bind(message.as_str())
        .bind(now_ms)
        .bind(source)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .doing(format!("recording an error of source `{source}`"))?;
        if recorded.rows_affected() == 0 {
            return Err(StoreError::Fenced {
                source_name: source.to_owned(),
            });
        }
        log_error_in(&mut tx, source, &message, now_ms).await?;
        match step {
            FailureStep::BackOff { until_ms } => {
                sqlx::query(
                    "UPDATE source_state SET phase = 'backing off', next_action_ms = $1, \
                     lease_owner = NULL, lease_until_ms = NULL WHERE source = $2",
                )
                .bind(until_ms)
                .bind(source)
                .execute(&mut *tx)
                .await
                .doing(format!("backing off source `{source}`"))?;
            }
            FailureStep::EndCycle { rest_until_ms } => {
                end_cycle_in(&mut tx, source, "failed", None, now_ms, rest_until_ms).await?;
            }
        }
        tx.commit()
            .await
            .doing(format!("recording an error of source `{source}`"))?;
        Ok(())
    }

    /// Operator action: make the next action due now (the next burst, or
    /// the next cycle when resting). Returns whether the source exists.
    pub async fn trigger_source(&self, source: &str, now_ms: i64) -> Result<bool, StoreError> {
        let triggered = sqlx::query(
            "UPDATE source_state SET next_action_ms = $1 WHERE source = $2 AND phase <> 'bursting'",
        )
        .bind(now_ms)
        .bind(source)
        .execute(self.pool())
        .await
        .doing(format!("triggering source `{source}`"))?;
        Ok(triggered.rows_affected() > 0 || self.source_status(source).await?.is_some())
    }

    /// Operator action: end the current cycle (recorded as cancelled; its
    /// marks are dropped, nothing is swept) and rest until `next_cycle_ms`.
    /// A burst running meanwhile cannot commit another page. Returns whether
    /// the source exists.
    pub async fn cancel_cycle(
        &self,
        source: &str,
        now_ms: i64,
        next_cycle_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let exists = sqlx::query("SELECT cycle_started_ms FROM source_state WHERE source = $1")
            .bind(source)
            .fetch_optional(&mut *tx)
            .await
            .doing(format!("reading the state of source `{source}`"))?;
        let Some(row) = exists else {
            return Ok(false);
        };
        let in_cycle = row
            .try_get::<Option<i64>, _>(0)
            .doing("reading the state")?
            .is_some();
        if in_cycle {
            end_cycle_in(&mut tx, source, "cancelled", None, now_ms, next_cycle_ms).await?;
        } else {
            sqlx::query(
                "UPDATE source_state SET next_action_ms = $1, lease_owner = NULL, \
                 lease_until_ms = NULL WHERE source = $2",
            )
            .bind(next_cycle_ms)
            .bind(source)
            .execute(&mut *tx)
            .await
            .doing(format!("cancelling the cycle of source `{source}`"))?;
        }
        tx.commit()
            .await
            .doing(format!("cancelling the cycle of source `{source}`"))?;
        Ok(true)
    }

    /// Operator action: forget `source`'s ingestion records (state, marks,
    /// history, errors; not its entities) and start afresh at
    /// `next_cycle_ms`. Returns whether the source existed.
    pub async fn reset_source(
        &self,
        source: &str,
        now_ms: i64,
        next_cycle_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        clear_marks_in(&mut tx, source).await?;
        for table in ["source_cycles", "source_errors"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE source = $1"
            )))
            .bind(source)
            .execute(&mut *tx)
            .await
            .doing(format!("resetting source `{source}`"))?;
        }
        let reset = sqlx::query(
            "UPDATE source_state SET phase = 'resting', next_action_ms = $1, cycle = 0, \
             cycle_started_ms = NULL, cursor = NULL, pages = 0, entities = 0, added = 0, \
             updated = 0, removed = 0, rejected = 0, errors = 0, failures = 0, \
             entities_before = 0, last_error = NULL, last_error_ms = NULL, last_sweep = NULL, \
             lease_owner = NULL, lease_until_ms = NULL, configured_ms = $2 WHERE source = $3",
        )
        .bind(next_cycle_ms)
        .bind(now_ms)
        .bind(source)
        .execute(&mut *tx)
        .await
        .doing(format!("resetting source `{source}`"))?;
        tx.commit()
            .await
            .doing(format!("resetting source `{source}`"))?;
        Ok(reset.rows_affected() > 0)
    }

    /// Sources that no replica has run for their `expireAfter`, as of `now_ms`.
    pub async fn expired_sources(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT source FROM source_state WHERE configured_ms + expire_after_ms < $1 \
             ORDER BY source",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await
        .doing("reading expired sources")?;
        rows.iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .doing("reading unconfigured sources")
    }

    /// Remove everything of a source that is no longer configured: its
    /// contributions (re-merging, and logging removals, as a sweep does)
    /// and its ingestion records. Done in batches; safe to repeat.
    pub async fn expire_source(&self, source: &str) -> Result<RemovalOutcome, StoreError> {
        let mut total = RemovalOutcome::default();
        loop {
            let mut writer = self.writer().await?;
            let mut tx = writer.begin().await?;
            // Each batch is deleted before the next is read: from the start.
            let refs = refs_after(&mut tx, OWNED, source, "").await?;
            if refs.is_empty() {
                clear_marks_in(&mut tx, source).await?;
                for table in ["source_cycles", "source_errors", "source_state"] {
                    sqlx::query(AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE source = $1"
                    )))
                    .bind(source)
                    .execute(&mut *tx)
                    .await
                    .doing(format!("expiring source `{source}`"))?;
                }
                tx.commit()
                    .await
                    .doing(format!("expiring source `{source}`"))?;
                return Ok(total);
            }
            let removal = remove_in(&mut tx, source, &refs).await?;
            tx.commit()
                .await
                .doing(format!("expiring source `{source}`"))?;
            self.committed();
            total.deleted += removal.deleted;
            total.updated += removal.updated;
            total.removed += removal.removed;
        }
    }
}

/// [`Catalog::commit_page`] but for the sweep, inside the caller's transaction.
async fn commit_in(
    tx: &mut impl CatalogWrites,
    role: SourceRole<'_>,
    contributions: &[Contribution],
    invalid: &[Rejection],
    progress: PageProgress,
) -> Result<PageOutcome, StoreError> {
    let source = role.name;
    let holds_lease = tx
        .extend_lease(
            source,
            &progress.owner,
            progress.cycle,
            progress.lease_until_ms,
        )
        .await?;
    if !holds_lease {
        return Err(StoreError::Fenced {
            source_name: source.to_owned(),
        });
    }
    let outcome = apply_in(tx, role, contributions, invalid).await?;
    for batch in progress.marks.chunks(BATCH_ROWS) {
        tx.mark(source, batch).await?;
    }
    let page = CycleTotals {
        pages: 1,
        entities: progress.entities as i64,
        added: outcome.added as i64,
        updated: outcome.updated as i64,
        removed: outcome.removed as i64,
        rejected: (outcome.rejected.len() + invalid.len()) as i64,
        errors: 0,
    };
    tx.add_totals(source, progress.cursor.as_deref(), page)
        .await?;
    Ok(outcome)
}

/// End the cycle after its last page: sweep, record the cycle and rest.
async fn end_with_sweep(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    guards: SweepGuards,
    now_ms: i64,
    rest_until_ms: i64,
) -> Result<SweepOutcome, StoreError> {
    let sweep = sweep_in(tx, source, guards).await?;
    if let SweepOutcome::Swept(removal) = &sweep {
        let swept = CycleTotals {
            updated: removal.updated as i64,
            removed: removal.removed as i64,
            ..CycleTotals::default()
        };
        tx.add_totals(source, None, swept).await?;
    }
    end_cycle_in(
        tx,
        source,
        "completed",
        Some(&describe_sweep(&sweep)),
        now_ms,
        rest_until_ms,
    )
    .await?;
    Ok(sweep)
}
