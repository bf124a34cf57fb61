//! Pushed events in the store: what a source's push handler returned,
//! applied at once in one transaction, and the deliveries applied, by their
//! sender's id, so that one sent again within the source's replay window is
//! not applied twice.

use weir_core::intake::{Contribution, Rejection};

use super::apply::{PageOutcome, RemovalOutcome, apply_in, remove_in};
use super::model::SourceRole;
use super::sql::BATCH_ROWS;
use super::writes::CatalogWrites;
use super::{Catalog, QueryContext, StoreError};

/// A delivery of a pushed event, named by its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's id of the delivery (`X-GitHub-Delivery`).
    pub id: String,
    /// When it arrived (Unix ms).
    pub received_ms: i64,
    /// The one applied before `received_ms - window_ms` is forgotten.
    pub window_ms: i64,
}

impl Delivery {
    fn cutoff(&self) -> i64 {
        self.received_ms.saturating_sub(self.window_ms)
    }
}

/// What applying a push did, or that its delivery was applied already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushApplied {
    Applied(PageOutcome, RemovalOutcome),
    /// The delivery was applied within its window: nothing was written.
    Duplicate,
}

/// The longest replay window there is: deliveries older are purged.
const LONGEST_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;

impl Catalog {
    /// Apply what a source's push handler returned, in one transaction:
    /// upserts as a page's contributions (and marked, so this cycle's sweep
    /// keeps them), removals of the source's contributions to `removals`,
    /// and the `delivery`, when it has one, as applied: a delivery applied
    /// within its window is a [`PushApplied::Duplicate`] and writes nothing.
    /// Needs no lease: a push may arrive at any replica, mid-cycle or not.
    pub async fn apply_push(
        &self,
        role: SourceRole<'_>,
        contributions: Vec<Contribution>,
        invalid: &[Rejection],
        marks: &[String],
        removals: &[String],
        delivery: Option<&Delivery>,
    ) -> Result<PushApplied, StoreError> {
        let source = role.name;
        let doing = || format!("committing a push to source `{source}`");
        let mut writer = self.writer().await?;
        let mut tx = writer.begin().await?;
        if let Some(delivery) = delivery {
            let recorded = sqlx::query(
                "INSERT INTO push_deliveries (source, delivery, received_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (source, delivery) DO UPDATE SET received_ms = excluded.received_ms \
                 WHERE push_deliveries.received_ms < $4",
            )
            .bind(source)
            .bind(&delivery.id)
            .bind(delivery.received_ms)
            .bind(delivery.cutoff())
            .execute(&mut *tx)
            .await
            .doing(doing())?;
            if recorded.rows_affected() == 0 {
                return Ok(PushApplied::Duplicate);
            }
        }
        let outcome = apply_in(&mut tx, role, &contributions, invalid).await?;
        for batch in marks.chunks(BATCH_ROWS) {
            tx.mark(source, batch).await?;
        }
        let removal = remove_in(&mut tx, source, removals).await?;
        crate::failpoints::hold("weir::hold::push").await;
        tx.commit().await.doing(doing())?;
        // The rejections take the writer again (on SQLite, the one connection).
        drop(writer);
        self.committed();
        self.wrote_rows(outcome.stored).await?;
        self.note_rejections(source, invalid.iter().chain(&outcome.rejected))
            .await;
        Ok(PushApplied::Applied(outcome, removal))
    }

    /// Whether `delivery` of `source` was applied within its window: a
    /// quick look before its event is even handed to the plugin.
    pub async fn delivery_applied(
        &self,
        source: &str,
        delivery: &Delivery,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM push_deliveries WHERE source = $1 AND delivery = $2 \
             AND received_ms >= $3",
        )
        .bind(source)
        .bind(&delivery.id)
        .bind(delivery.cutoff())
        .fetch_optional(self.pool())
        .await
        .doing(format!("looking up a delivery to source `{source}`"))?;
        Ok(row.is_some())
    }

    /// Forget the deliveries older than the longest replay window there is.
    pub async fn purge_deliveries(&self, now_ms: i64) -> Result<u64, StoreError> {
        let purged = sqlx::query("DELETE FROM push_deliveries WHERE received_ms < $1")
            .bind(now_ms.saturating_sub(LONGEST_WINDOW_MS))
            .execute(self.pool())
            .await
            .doing("purging old push deliveries")?;
        Ok(purged.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_remembered_for_its_window() {
        let delivery = Delivery {
            id: "d".into(),
            received_ms: 10_000,
            window_ms: 3_000,
        };
        assert_eq!(delivery.cutoff(), 7_000);
        let forever = Delivery {
            window_ms: i64::MAX,
            ..delivery
        };
        assert!(forever.cutoff() < 0, "no overflow: {}", forever.cutoff());
    }
}
