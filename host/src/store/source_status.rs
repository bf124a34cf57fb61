//! A source's state row: its phase, the next action's time, the current
//! cycle's cursor and running totals, and the lease of the replica running
//! it. Registering a source, reading its state, and taking and giving up
//! its lease.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::model::CycleTotals;
use super::{Catalog, QueryContext, StoreError};

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

    pub(super) fn parse(text: &str) -> Option<Phase> {
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

impl Catalog {
    /// Make sure `source` has a state row (a new source is due at once) and
    /// note that it is configured now, and how long its entities stay once
    /// no replica runs it any more.
    pub async fn register_source(
        &self,
        source: &str,
        now_ms: i64,
        expire_after_ms: i64,
    ) -> Result<(), StoreError> {
        self.bounded(
            || format!("registering source `{source}`"),
            self.register_source_unbounded(source, now_ms, expire_after_ms),
        )
        .await
    }

    /// [`Catalog::register_source`] without its deadline.
    async fn register_source_unbounded(
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

    /// The state of `source` (within `postgres.writeTimeout`, as the engine
    /// reads it before each step).
    pub async fn source_status(&self, source: &str) -> Result<Option<SourceStatus>, StoreError> {
        self.bounded(
            || format!("reading the state of source `{source}`"),
            self.source_status_unbounded(source),
        )
        .await
    }

    async fn source_status_unbounded(
        &self,
        source: &str,
    ) -> Result<Option<SourceStatus>, StoreError> {
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
        self.bounded(
            || format!("taking the lease on source `{source}`"),
            self.take_lease_unbounded(source, owner, now_ms, until_ms),
        )
        .await
    }

    /// [`Catalog::take_lease`] without its deadline.
    async fn take_lease_unbounded(
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
}

pub(super) const SELECT_STATUS: &str = "SELECT source, phase, next_action_ms, cycle, cycle_started_ms, \
     cursor, pages, entities, added, updated, removed, rejected, errors, failures, \
     entities_before, last_error, last_error_ms, last_sweep, lease_owner, lease_until_ms \
     FROM source_state";

pub(super) fn status_from(row: &AnyRow) -> Result<SourceStatus, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
