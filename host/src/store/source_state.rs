//! The engine's records of each source: its state (phase, next action,
//! cursor, the cycle's running totals, the lease of the replica running it),
//! the marks of its current cycle, the history of its cycles and its latest
//! errors. A page commits with its cursor and marks in one transaction, and
//! the last page of a cycle with the cycle's sweep, so a process killed at
//! any point resumes from the last committed page.

use std::sync::Arc;

use futures_executor::block_on;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::apply::{OwnedRole, PageOutcome, RemovalOutcome, SourceRole, apply_in, remove_in};
use super::sql::{BATCH_ROWS, statement};
use super::writes::CatalogWrites;
use super::{QueryContext, Store, StoreError};
use crate::core::intake::{Contribution, Rejection};

/// Errors kept per source; older ones are pruned.
const KEPT_ERRORS: i64 = 20;
/// Longest error message stored; longer ones are cut (with a note).
const MAX_ERROR_CHARS: usize = 4000;

/// Where a source's cycle stands (Backstage's status names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between cycles, until `next_action_ms`.
    Resting,
    /// In a cycle, pausing between bursts.
    Interstitial,
    /// A burst is running (on the replica holding the lease).
    Bursting,
    /// In a cycle, waiting to retry a failed burst.
    BackingOff,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Resting => "resting",
            Phase::Interstitial => "interstitial",
            Phase::Bursting => "bursting",
            Phase::BackingOff => "backing off",
        }
    }

    fn parse(text: &str) -> Option<Phase> {
        Some(match text {
            "resting" => Phase::Resting,
            "interstitial" => Phase::Interstitial,
            "bursting" => Phase::Bursting,
            "backing off" => Phase::BackingOff,
            _ => return None,
        })
    }
}

/// A source's stored state. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub source: String,
    pub phase: Phase,
    pub next_action_ms: i64,
    /// The current (or last) cycle's number; 0 before the first.
    pub cycle: i64,
    /// When the current cycle started; `None` between cycles.
    pub cycle_started_ms: Option<i64>,
    /// The cursor after the last committed page; `None` at a cycle's start.
    pub cursor: Option<String>,
    /// The current cycle's totals so far.
    pub totals: CycleTotals,
    /// Consecutive failed bursts: the back-off step.
    pub failures: i64,
    /// The source's contributions when the cycle started (the removal guard's base).
    pub entities_before: i64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// What the last sweep did or why it was refused.
    pub last_sweep: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
}

/// Counts over a cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleTotals {
    pub pages: i64,
    /// Entities the source returned (valid or not).
    pub entities: i64,
    pub added: i64,
    pub updated: i64,
    pub removed: i64,
    pub rejected: i64,
    pub errors: i64,
}

/// A finished cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleRecord {
    pub cycle: i64,
    pub started_ms: i64,
    pub ended_ms: i64,
    /// `completed`, `failed` or `cancelled`.
    pub outcome: String,
    pub totals: CycleTotals,
    /// What the sweep did or why it was refused (completed cycles).
    pub sweep: Option<String>,
}

/// An error recorded for a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRecord {
    pub at_ms: i64,
    pub cycle: i64,
    pub message: String,
}

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

impl Store {
    /// Make sure `source` has a state row (a new source is due at once) and
    /// note that it is configured now, and how long its entities stay once
    /// no replica runs it any more.
    pub async fn register_source(
        &self,
        source: &str,
        now_ms: i64,
        expire_after_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_state \
             (source, phase, next_action_ms, cycle, configured_ms, expire_after_ms) \
             VALUES ($1, 'resting', $2, 0, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET configured_ms = excluded.configured_ms, \
             expire_after_ms = excluded.expire_after_ms",
        )
        .bind(source)
        .bind(now_ms)
        .bind(expire_after_ms)
        .execute(self.pool())
        .await
        .doing(format!("registering source `{source}`"))?;
        Ok(())
    }

    pub async fn source_status(&self, source: &str) -> Result<Option<SourceStatus>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("{SELECT_STATUS} WHERE source = $1")))
            .bind(source)
            .fetch_optional(self.pool())
            .await
            .doing(format!("reading the state of source `{source}`"))?;
        row.map(|row| status_from(&row)).transpose()
    }

    /// Every source with a state, by name.
    pub async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!("{SELECT_STATUS} ORDER BY source")))
            .fetch_all(self.pool())
            .await
            .doing("reading the state of the sources")?;
        rows.iter().map(status_from).collect()
    }

    /// Take (or renew) the lease on `source` until `until_ms` if its next
    /// action is due and no other replica holds a live lease. Returns the
    /// state as of taking it, or `None` when it is not this replica's turn.
    pub async fn take_lease(
        &self,
        source: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<SourceStatus>, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let taken = sqlx::query(
            "UPDATE source_state SET lease_owner = $1, lease_until_ms = $2, \
             phase = CASE WHEN cycle_started_ms IS NULL THEN phase ELSE 'bursting' END \
             WHERE source = $3 AND next_action_ms <= $4 \
             AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until_ms < $4)",
        )
        .bind(owner)
        .bind(until_ms)
        .bind(source)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .doing(format!("taking the lease on source `{source}`"))?;
        if taken.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!("{SELECT_STATUS} WHERE source = $1")))
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .doing(format!("reading the state of source `{source}`"))?;
        let status = status_from(&row)?;
        tx.commit()
            .await
            .doing(format!("taking the lease on source `{source}`"))?;
        Ok(Some(status))
    }

    /// Drop every lease: for a process that owns the database alone (SQLite),
    /// whatever leases it holds are a dead process's.
    pub async fn release_all_leases(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE source_state SET lease_owner = NULL, lease_until_ms = NULL")
            .execute(self.pool())
            .await
            .doing("releasing stale leases")?;
        Ok(())
    }

    /// Give up the lease on `source`, if this replica holds it.
    pub async fn release_lease(&self, source: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE source_state SET lease_owner = NULL, lease_until_ms = NULL \
             WHERE source = $1 AND lease_owner = $2",
        )
        .bind(source)
        .bind(owner)
        .execute(self.pool())
        .await
        .doing(format!("releasing the lease on source `{source}`"))?;
        Ok(())
    }

    /// Start a new cycle of `source` (this replica holds its lease): the
    /// cursor and totals start over, the marks are cleared and the source's
    /// current contributions are counted as the removal guard's base.
    pub async fn start_cycle(
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
    /// errors (as [`Store::apply_page`]), its marks, its cursor and the
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
        let (outcome, sweep) = match (&self.sqlite_writer, progress.last) {
            // A page within the cycle, the common case, runs on SQLite's
            // writer directly.
            (Some(writer), None) => {
                let role = OwnedRole::of(role);
                let outcome = writer
                    .transaction(doing, (contributions, invalid), move |tx, page| {
                        block_on(commit_in(tx, role.role(), &page.0, &page.1, progress))
                    })
                    .await?;
                (outcome, None)
            }
            _ => {
                let mut writer = self.writer().await?;
                let mut tx = writer.begin().await?;
                let last = progress.last;
                let now_ms = progress.now_ms;
                let outcome = commit_in(&mut tx, role, &contributions, &invalid, progress).await?;
                let sweep = match last {
                    None => None,
                    Some((guards, rest_until_ms)) => {
                        Some(end_with_sweep(&mut tx, source, guards, now_ms, rest_until_ms).await?)
                    }
                };
                tx.commit().await.doing(doing)?;
                // Freeing a page's parsed entities is a good share of its
                // cost; on a blocking thread, it overlaps the next page.
                tokio::task::spawn_blocking(move || drop((contributions, invalid)));
                (outcome, sweep)
            }
        };
        self.committed();
        self.wrote_rows(outcome.stored).await?;
        Ok((outcome, sweep))
    }

    /// Apply what a source's push handler returned, in one transaction:
    /// upserts as a page's contributions (and marked, so this cycle's sweep
    /// keeps them), removals of the source's contributions to `removals`.
    /// Needs no lease: a push may arrive at any replica, mid-cycle or not.
    pub async fn apply_push(
        &self,
        role: SourceRole<'_>,
        contributions: Vec<Contribution>,
        invalid: &[Rejection],
        marks: &[String],
        removals: &[String],
    ) -> Result<(PageOutcome, RemovalOutcome), StoreError> {
        let source = role.name;
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let outcome = apply_in(&mut tx, role, &contributions, invalid).await?;
        for batch in marks.chunks(BATCH_ROWS) {
            tx.mark(source, batch).await?;
        }
        let removal = remove_in(&mut tx, source, removals).await?;
        tx.commit()
            .await
            .doing(format!("committing a push to source `{source}`"))?;
        self.committed();
        self.wrote_rows(outcome.stored).await?;
        Ok((outcome, removal))
    }

    /// After a burst that ended well (not the cycle's last): pause until
    /// `next_action_ms`, reset the back-off and give up the lease.
    pub async fn end_burst(
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

    /// Record an error that is not a burst's (e.g. a plugin that failed to
    /// load), without touching the cycle.
    pub async fn record_error(
        &self,
        source: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        let message = clip(message);
        sqlx::query(
            "UPDATE source_state SET last_error = $1, last_error_ms = $2 WHERE source = $3",
        )
        .bind(message.as_str())
        .bind(now_ms)
        .bind(source)
        .execute(&mut *tx)
        .await
        .doing(format!("recording an error of source `{source}`"))?;
        log_error_in(&mut tx, source, &message, now_ms).await?;
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

    /// `source`'s latest finished cycles, newest first.
    pub async fn cycles(&self, source: &str, limit: i64) -> Result<Vec<CycleRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT cycle, started_ms, ended_ms, outcome, pages, entities, added, updated, \
             removed, rejected, errors, sweep FROM source_cycles WHERE source = $1 \
             ORDER BY cycle DESC LIMIT $2",
        )
        .bind(source)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .doing(format!("reading the cycles of source `{source}`"))?;
        rows.iter()
            .map(|row| {
                Ok(CycleRecord {
                    cycle: row.try_get(0)?,
                    started_ms: row.try_get(1)?,
                    ended_ms: row.try_get(2)?,
                    outcome: row.try_get(3)?,
                    totals: CycleTotals {
                        pages: row.try_get(4)?,
                        entities: row.try_get(5)?,
                        added: row.try_get(6)?,
                        updated: row.try_get(7)?,
                        removed: row.try_get(8)?,
                        rejected: row.try_get(9)?,
                        errors: row.try_get(10)?,
                    },
                    sweep: row.try_get(11)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading cycles")
    }

    /// `source`'s latest errors, newest first.
    pub async fn recent_errors(&self, source: &str) -> Result<Vec<ErrorRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, cycle, message FROM source_errors WHERE source = $1 \
             ORDER BY at_ms DESC",
        )
        .bind(source)
        .fetch_all(self.pool())
        .await
        .doing(format!("reading the errors of source `{source}`"))?;
        rows.iter()
            .map(|row| {
                Ok(ErrorRecord {
                    at_ms: row.try_get(0)?,
                    cycle: row.try_get(1)?,
                    message: row.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .doing("reading errors")
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

const SELECT_STATUS: &str = "SELECT source, phase, next_action_ms, cycle, cycle_started_ms, \
     cursor, pages, entities, added, updated, removed, rejected, errors, failures, \
     entities_before, last_error, last_error_ms, last_sweep, lease_owner, lease_until_ms \
     FROM source_state";

fn status_from(row: &AnyRow) -> Result<SourceStatus, StoreError> {
    let read = || -> Result<SourceStatus, sqlx::Error> {
        let phase: String = row.try_get(1)?;
        Ok(SourceStatus {
            source: row.try_get(0)?,
            phase: Phase::parse(&phase).unwrap_or(Phase::Resting),
            next_action_ms: row.try_get(2)?,
            cycle: row.try_get(3)?,
            cycle_started_ms: row.try_get(4)?,
            cursor: row.try_get(5)?,
            totals: CycleTotals {
                pages: row.try_get(6)?,
                entities: row.try_get(7)?,
                added: row.try_get(8)?,
                updated: row.try_get(9)?,
                removed: row.try_get(10)?,
                rejected: row.try_get(11)?,
                errors: row.try_get(12)?,
            },
            failures: row.try_get(13)?,
            entities_before: row.try_get(14)?,
            last_error: row.try_get(15)?,
            last_error_ms: row.try_get(16)?,
            last_sweep: row.try_get(17)?,
            lease_owner: row.try_get(18)?,
            lease_until_ms: row.try_get(19)?,
        })
    };
    read().doing("reading a source's state")
}

/// [`Store::commit_page`] but for the sweep, inside the caller's transaction.
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

async fn clear_marks_in(tx: &mut Transaction<'_, Any>, source: &str) -> Result<(), StoreError> {
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
const OWNED: &str = "FROM source_entities s WHERE s.source = $1";

/// The source's contributions not marked in this cycle.
const STALE: &str = "FROM source_entities s WHERE s.source = $1 AND NOT EXISTS \
     (SELECT 1 FROM source_marks m WHERE m.source = s.source AND m.entity_ref = s.entity_ref)";

/// Remove the source's contributions that this cycle did not mark, unless a
/// guard refuses; either way the marks are cleared.
async fn sweep_in(
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
async fn refs_after(
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

fn describe_sweep(sweep: &SweepOutcome) -> String {
    match sweep {
        SweepOutcome::Swept(removal) => format!(
            "swept: {} stale contributions deleted ({} entities removed, {} updated)",
            removal.deleted, removal.removed, removal.updated
        ),
        SweepOutcome::Refused { reason, .. } => reason.clone(),
    }
}

/// Write the cycle's history row and rest until `rest_until_ms`.
async fn end_cycle_in(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    outcome: &str,
    sweep: Option<&str>,
    now_ms: i64,
    rest_until_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO source_cycles (source, cycle, started_ms, ended_ms, outcome, pages, \
         entities, added, updated, removed, rejected, errors, sweep) \
         SELECT source, cycle, cycle_started_ms, $1, $2, pages, entities, added, updated, \
         removed, rejected, errors, $3 FROM source_state \
         WHERE source = $4 AND cycle_started_ms IS NOT NULL",
    )
    .bind(now_ms)
    .bind(outcome)
    .bind(sweep)
    .bind(source)
    .execute(&mut **tx)
    .await
    .doing(format!("recording the cycle of source `{source}`"))?;
    if outcome != "completed" {
        clear_marks_in(tx, source).await?;
    }
    sqlx::query(
        "UPDATE source_state SET phase = 'resting', next_action_ms = $1, \
         cycle_started_ms = NULL, cursor = NULL, failures = 0, \
         last_sweep = COALESCE($2, last_sweep), \
         lease_owner = NULL, lease_until_ms = NULL WHERE source = $3",
    )
    .bind(rest_until_ms)
    .bind(sweep)
    .bind(source)
    .execute(&mut **tx)
    .await
    .doing(format!("ending the cycle of source `{source}`"))?;
    Ok(())
}

async fn log_error_in(
    tx: &mut Transaction<'_, Any>,
    source: &str,
    message: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO source_errors (source, at_ms, cycle, message) \
         SELECT source, $1, cycle, $2 FROM source_state WHERE source = $3",
    )
    .bind(now_ms)
    .bind(message)
    .bind(source)
    .execute(&mut **tx)
    .await
    .doing(format!("recording an error of source `{source}`"))?;
    sqlx::query(
        "DELETE FROM source_errors WHERE source = $1 AND at_ms < \
         (SELECT MIN(at_ms) FROM (SELECT at_ms FROM source_errors WHERE source = $1 \
         ORDER BY at_ms DESC LIMIT $2) AS latest)",
    )
    .bind(source)
    .bind(KEPT_ERRORS)
    .execute(&mut **tx)
    .await
    .doing(format!("pruning the errors of source `{source}`"))?;
    Ok(())
}

/// Cut a message to [`MAX_ERROR_CHARS`] (on a character boundary).
fn clip(message: &str) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        None => message.to_owned(),
        Some((end, _)) => format!("{}… (cut; {} bytes in all)", &message[..end], message.len()),
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

    #[test]
    fn long_messages_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        let clipped = clip(&long);
        assert!(clipped.starts_with(&"é".repeat(MAX_ERROR_CHARS)));
        assert!(clipped.contains("cut"));
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn phases_round_trip() {
        for phase in [
            Phase::Resting,
            Phase::Interstitial,
            Phase::Bursting,
            Phase::BackingOff,
        ] {
            assert_eq!(Phase::parse(phase.as_str()), Some(phase));
        }
    }
}
