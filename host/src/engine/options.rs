//! How the engine drives one source: Backstage's incremental-ingestion options
//! (same names and defaults) plus Weir's merge and expiry settings.

use std::time::Duration;

use weir_core::intake::Scope;

/// When a new cycle starts after one completes.
#[derive(Debug, Clone, PartialEq)]
pub enum Rest {
    /// Rest this long after a cycle completes (Backstage's `restLength`).
    For(Duration),
    /// Start at the next time this cron expression names (UTC).
    Schedule(Box<croner::Cron>),
}

/// One source's engine options.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOptions {
    /// Higher wins in the merge.
    pub priority: i64,
    /// Backstage's owner rule (refuse a ref another source holds under a
    /// different location key).
    pub owner_rule: bool,
    /// The kinds and namespaces the source may emit.
    pub scope: Scope,
    /// How long one burst may keep asking for pages (`burstLength`).
    pub burst_length: Duration,
    /// The pause after a burst ends before the next starts (`burstInterval`).
    pub burst_interval: Duration,
    /// What happens after a cycle completes (`restLength` or a schedule).
    pub rest: Rest,
    /// Waits after consecutive failed bursts (`backoff`); after the last, the
    /// cycle is cancelled and started over.
    pub backoff: Vec<Duration>,
    /// Refuse a sweep that would remove more than this share (0–100) of the
    /// entities the source had before the cycle; `None` means no guard.
    pub reject_removals_above_percentage: Option<f64>,
    /// A cycle that returned no entities removes nothing.
    pub reject_empty_source_collections: bool,
    /// How long a source that is no longer configured keeps its entities.
    pub expire_after: Duration,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            priority: 0,
            owner_rule: false,
            scope: Scope::default(),
            burst_length: Duration::from_secs(3),
            burst_interval: Duration::from_secs(3),
            rest: Rest::For(Duration::from_secs(24 * 60 * 60)),
            backoff: [5, 30, 10 * 60, 3 * 60 * 60]
                .map(Duration::from_secs)
                .to_vec(),
            reject_removals_above_percentage: None,
            reject_empty_source_collections: false,
            expire_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}
