//! The history of each source's cycles (one row per finished cycle: its
//! outcome, totals and what the sweep did) and its latest errors (a few
//! kept per source, each cut to a bounded length).

use sqlx::{Any, Row, Transaction};

use super::model::CycleTotals;
use super::sweep::clear_marks_in;
use super::{Catalog, QueryContext, StoreError};

/// Errors kept per source; older ones are pruned.
const KEPT_ERRORS: i64 = 20;

/// Longest error message stored; longer ones are cut (with a note).
const MAX_ERROR_CHARS: usize = 4000;

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

impl Catalog {
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
}

/// Write the cycle's history row and rest until `rest_until_ms`.
pub(super) async fn end_cycle_in(
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

pub(super) async fn log_error_in(
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
pub(super) fn clip(message: &str) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        None => message.to_owned(),
        Some((end, _)) => format!("{}… (cut; {} bytes in all)", &message[..end], message.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        let clipped = clip(&long);
        assert!(clipped.starts_with(&"é".repeat(MAX_ERROR_CHARS)));
        assert!(clipped.contains("cut"));
        assert_eq!(clip("short"), "short");
    }
}
