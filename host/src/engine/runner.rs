//! One source's task: wait until its next action is due, take its lease,
//! run a burst (starting a cycle first when resting), commit each page with
//! its cursor and marks, and leave the state for the next action: a pause,
//! a back-off, or rest after the cycle's sweep. All state is in the store,
//! so a restarted process, or another replica, continues where it stopped.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, watch};
use tracing::{Instrument, debug, info, info_span, warn};
use weir_core::intake::PageEntity;

use super::commits::CommitQueue;
use super::options::{Rest, SourceOptions};
use super::page::{PreparedPage, Recognise, hash_page, sort_page};
use super::reload_book::ReloadBook;
use super::versions::{BurstFigures, Slot, Version};
use crate::runtime::{Burst, CallStats, Cursor, Page, SourceError};
use crate::store::{
    Catalog, FailureStep, PageOutcome, PageProgress, SourceRole, SourceStatus, StoreError,
    SweepGuards, SweepOutcome, now_ms,
};

/// Attempts at each write that gives a stopping source back, and the pause
/// between them (see [`Runner::give_back`]).
const STOP_WRITE_ATTEMPTS: u32 = 5;
const STOP_WRITE_PAUSE: Duration = Duration::from_millis(200);

/// What a runner shares with the engine.
#[derive(Clone)]
pub(super) struct RunnerContext {
    pub store: Catalog,
    /// This replica's name in leases.
    pub owner: Arc<str>,
    /// The bound on bursts running at once across all sources.
    pub permits: Arc<Semaphore>,
    /// Becomes `true` when the host shuts down or the source is removed.
    pub shutdown: watch::Receiver<bool>,
    /// Reload counters, for rollbacks.
    pub reloads: ReloadBook,
    /// The longest a runner sleeps before looking at its state again (other
    /// replicas and operators change it).
    pub poll: Duration,
    /// Extra lease time beyond a burst's length and a call's deadline.
    pub lease_margin: Duration,
}

pub(super) struct Runner {
    pub name: Arc<str>,
    /// The source's versions; the current one is read at each burst start.
    pub slot: Arc<Slot>,
    /// The version this burst runs (an in-flight burst finishes on it even
    /// when a new one is switched in meanwhile).
    pub current: Arc<Version>,
    /// Woken by operator actions on this source.
    pub wake: Arc<Notify>,
    pub context: RunnerContext,
    /// Entities and rejections of the burst running, for the trial of a
    /// new version.
    pub burst_counts: BurstCounts,
}

/// Entities returned and rejected in one burst.
#[derive(Default)]
pub(super) struct BurstCounts {
    entities: AtomicUsize,
    rejected: AtomicUsize,
}

impl BurstCounts {
    fn reset(&self) {
        self.entities.store(0, Ordering::Relaxed);
        self.rejected.store(0, Ordering::Relaxed);
    }

    fn add(&self, entities: usize, rejected: usize) {
        self.entities.fetch_add(entities, Ordering::Relaxed);
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    /// More than half of the burst's entities were refused.
    fn mostly_invalid(&self) -> bool {
        let entities = self.entities.load(Ordering::Relaxed);
        entities > 0 && self.rejected.load(Ordering::Relaxed).saturating_mul(2) > entities
    }
}

/// What a page's commit did, with the page's own counts.
struct Committed {
    entities: usize,
    /// Entities recognised as unchanged before the commit.
    unchanged: usize,
    /// Entities refused by the core before the commit.
    rejected: usize,
    outcome: PageOutcome,
    sweep: Option<SweepOutcome>,
}

/// A page as the source returned it with its texts hashed, not yet sorted,
/// or why there is none.
type Pulled = Result<(Page, Vec<PageEntity>), BurstEnd>;

/// A page fetched from the source and sorted for the store, or why there is none.
enum Fetched {
    Page(Page, PreparedPage),
    End(BurstEnd),
}

/// How a burst ended, for the state it leaves.
enum BurstEnd {
    /// Burst length used up: pause, then the next burst.
    Paused,
    /// The cycle's last page was committed (sweep and rest included).
    CycleDone,
    /// A guest call or the store failed.
    Failed(String, Retry),
    /// The lease moved on or the cycle was cancelled: nothing more to do.
    Fenced,
    /// The host is shutting down; resume at once on the next start.
    ShuttingDown,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    WithBackOff,
    NextCycle,
    /// The store failed (the database is down, the disk full): back off,
    /// past the last step if need be, and keep the cycle's cursor and marks
    /// until it answers again. No fault of the plugin's: a version on trial
    /// is not judged by it.
    StoreDown,
}

impl Runner {
    /// A runner of source `name` on its `slot`'s current version.
    pub(super) fn new(
        name: Arc<str>,
        slot: Arc<Slot>,
        wake: Arc<Notify>,
        context: RunnerContext,
    ) -> Self {
        Runner {
            name,
            current: slot.current(),
            slot,
            wake,
            context,
            burst_counts: BurstCounts::default(),
        }
    }

    pub(super) async fn run(mut self) {
        let span = info_span!("source", source = %self.name);
        async move {
            while !*self.context.shutdown.borrow() {
                if let Err(error) = self.step().await {
                    warn!("{error}");
                    self.sleep(self.context.poll).await;
                }
            }
            let (store, owner) = (&self.context.store, &*self.context.owner);
            if let Err(error) = self
                .give_back(|| store.release_lease(&self.name, owner))
                .await
            {
                warn!("{error}; the lease lapses by itself");
            }
            debug!("stopped");
        }
        .instrument(span)
        .await;
    }

    /// Wait for the next action, and run it if this replica gets the lease.
    async fn step(&mut self) -> Result<(), StoreError> {
        self.current = self.slot.current();
        let store = &self.context.store;
        let expire_after = millis(self.current.options.expire_after);
        store
            .register_source(&self.name, now_ms(), expire_after)
            .await?;
        let Some(status) = store.source_status(&self.name).await? else {
            return Ok(());
        };
        let now = now_ms();
        let held_elsewhere = status.lease_owner.as_deref().is_some_and(|owner| {
            owner != &*self.context.owner && status.lease_until_ms.unwrap_or(0) >= now
        });
        let due_at = if held_elsewhere {
            status.lease_until_ms.unwrap_or(now) + 1
        } else {
            status.next_action_ms
        };
        if due_at > now {
            let wait = Duration::from_millis(u64::try_from(due_at - now).unwrap_or(0));
            self.sleep(wait.min(self.context.poll)).await;
            return Ok(());
        }
        let permits = Arc::clone(&self.context.permits);
        let mut shutdown = self.context.shutdown.clone();
        let _permit = tokio::select! {
            permit = permits.acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        let now = now_ms();
        let lease_until = later(now, self.lease_length());
        let Some(status) = store
            .take_lease(&self.name, &self.context.owner, now, lease_until)
            .await?
        else {
            return Ok(());
        };
        self.burst(status).await
    }

    /// Run one burst from `status` and leave the state for what follows.
    async fn burst(&mut self, mut status: SourceStatus) -> Result<(), StoreError> {
        let store = self.context.store.clone();
        let owner = Arc::clone(&self.context.owner);
        if status.cycle_started_ms.is_none() {
            status = store.start_cycle(&self.name, &owner, now_ms()).await?;
            info!(cycle = status.cycle, "cycle started");
        }
        self.burst_counts.reset();
        let end = self.pages(&status).await;
        let now = now_ms();
        self.judge(&end).await;
        match end {
            BurstEnd::Paused => {
                let next = later(now, self.current.options.burst_interval);
                self.give_back(|| store.end_burst(&self.name, &owner, next))
                    .await?;
            }
            BurstEnd::ShuttingDown => {
                self.give_back(|| store.end_burst(&self.name, &owner, now))
                    .await?;
            }
            BurstEnd::CycleDone | BurstEnd::Fenced => {}
            BurstEnd::Failed(message, retry) => {
                let step = self.failure_step(&status, retry, now);
                match step {
                    FailureStep::BackOff { until_ms } => warn!(
                        failures = status.failures + 1,
                        retry_in_ms = until_ms - now,
                        "{message}"
                    ),
                    FailureStep::EndCycle { .. } => {
                        warn!(failures = status.failures + 1, "{message}; the cycle ends")
                    }
                }
                match store
                    .fail_burst(&self.name, &owner, &message, now, step)
                    .await
                {
                    Ok(()) | Err(StoreError::Fenced { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(())
    }

    /// Ask for pages until the burst length is used up, the cycle is done,
    /// or something fails. Pages are pipelined: while earlier pages commit
    /// (in order, a few queued at most), the next is sorted for the store
    /// and the source produces the one after, so the guest, the core and the
    /// database work at the same time. A page is pulled ahead only if the
    /// last page's time says the burst will still want it; one pulled but
    /// not wanted (the burst ended first) is dropped, and the next burst
    /// asks for it again from the stored cursor. The burst ends once its
    /// queued pages are committed.
    async fn pages(&self, status: &SourceStatus) -> BurstEnd {
        crate::failpoints::burst_start(&self.name);
        let started = Instant::now();
        let cursor = match status.cursor.as_deref().map(Cursor::parse).transpose() {
            Ok(cursor) => cursor,
            Err(error) => {
                return BurstEnd::Failed(
                    format!(
                        "source `{}`: the stored cursor is not JSON: {error}",
                        self.name
                    ),
                    Retry::NextCycle,
                );
            }
        };
        let mut shutdown = self.context.shutdown.clone();
        let mut burst = tokio::select! {
            opened = self.current.plugin.open_burst() => match opened {
                Ok(burst) => burst,
                Err(error) => return source_failure(&error),
            },
            _ = shutdown.wait_for(|stop| *stop) => return BurstEnd::ShuttingDown,
        };
        let mut figures = BurstFigures {
            bursts: 1,
            ..BurstFigures::default()
        };
        let nothing_in_flight = HashSet::new();
        let (mut fetched, mut ahead) = self
            .next_page(
                &mut burst,
                None,
                cursor.as_ref(),
                Recognise::in_cycle(status.entities_before, &nothing_in_flight),
                started.elapsed() < self.current.options.burst_length,
                &mut figures,
            )
            .await;
        let mut commits = CommitQueue::start();
        // How long the last page took, to judge whether the burst has time
        // for the page after the next, before pulling it ahead.
        let mut step = Duration::ZERO;
        let end = loop {
            let step_started = Instant::now();
            let (page, prepared) = match fetched {
                Fetched::Page(page, prepared) => (page, prepared),
                Fetched::End(end) => break end,
            };
            let burst_length = self.current.options.burst_length;
            let more = !page.done && started.elapsed() < burst_length && !*shutdown.borrow();
            let (marks, commit) = self.commit(status, &page, prepared);
            if let Some(end) = self.settle(commits.push(marks, commit).await) {
                break end;
            }
            if page.done {
                break BurstEnd::CycleDone;
            }
            if !more {
                // A page pulled ahead that failed is this burst's failure
                // (the instance may not take another call); one that came
                // is dropped.
                break match ahead.take() {
                    Some(Err(failed @ BurstEnd::Failed(..))) => failed,
                    _ => BurstEnd::Paused,
                };
            }
            let pull_ahead = started.elapsed() + step < burst_length && !*shutdown.borrow();
            // Only a cycle that recognises stored texts asks which refs are
            // in flight.
            let in_flight = if status.entities_before > 0 {
                commits.in_flight()
            } else {
                HashSet::new()
            };
            (fetched, ahead) = self
                .next_page(
                    &mut burst,
                    ahead.take(),
                    page.cursor.as_ref(),
                    Recognise::in_cycle(status.entities_before, &in_flight),
                    pull_ahead,
                    &mut figures,
                )
                .await;
            step = step_started.elapsed();
        };
        // The burst ends once its queued pages are committed; a failure
        // among them is the burst's end.
        let end = self.settle(commits.finish().await).unwrap_or(end);
        let (end, calls) = close(burst, end).await;
        figures.failed_bursts = u64::from(matches!(end, BurstEnd::Failed(..)));
        figures.burst_seconds = started.elapsed().as_secs_f64();
        figures.guest_seconds = calls.guest_time.as_secs_f64();
        figures.fuel = calls.fuel;
        figures.peak_memory_bytes = calls.peak_memory_bytes as u64;
        self.slot.add_burst(figures);
        end
    }

    /// The next page, sorted for the store: `in_hand` if it was pulled
    /// ahead, else pulled now from `cursor`. With `pull_ahead`, the page
    /// after it is pulled from the source and hashed meanwhile, unsorted, so
    /// that the guest works while the core sorts (and the store commits the
    /// page before). `recognise` names the refs of the page committing
    /// meanwhile.
    async fn next_page(
        &self,
        burst: &mut Burst,
        in_hand: Option<Pulled>,
        cursor: Option<&Cursor>,
        recognise: Recognise<'_>,
        pull_ahead: bool,
        figures: &mut BurstFigures,
    ) -> (Fetched, Option<Pulled>) {
        let read_refs = recognise.reads_refs();
        let pulled = match in_hand {
            Some(pulled) => pulled,
            None => self.pull(burst, cursor, read_refs, figures).await,
        };
        let (page, hashed) = match pulled {
            Ok(pulled) => pulled,
            Err(end) => return (Fetched::End(end), None),
        };
        if !pull_ahead || page.done {
            return (self.sort(page, hashed, recognise).await, None);
        }
        let after = page.cursor.clone();
        let (sorted, ahead) = tokio::join!(
            self.sort(page, hashed, recognise),
            self.pull(burst, after.as_ref(), read_refs, figures)
        );
        (sorted, Some(ahead))
    }

    /// The next page as the source returns it, its texts hashed (and with
    /// `read_refs` the refs they name read): what sorting it needs before
    /// it looks at the store.
    async fn pull(
        &self,
        burst: &mut Burst,
        cursor: Option<&Cursor>,
        read_refs: bool,
        figures: &mut BurstFigures,
    ) -> Pulled {
        let mut shutdown = self.context.shutdown.clone();
        let page = tokio::select! {
            page = burst.next(cursor) => page,
            _ = shutdown.wait_for(|stop| *stop) => return Err(BurstEnd::ShuttingDown),
        };
        let mut page = page.map_err(|error| source_failure(&error))?;
        crate::failpoints::hold("weir::hold::page").await;
        figures.count(&page);
        let hashed = hash_page(std::mem::take(&mut page.entities), read_refs).await;
        Ok((page, hashed))
    }

    /// Sort a pulled page for the store.
    async fn sort(&self, page: Page, hashed: Vec<PageEntity>, recognise: Recognise<'_>) -> Fetched {
        let role = self.role();
        let admission = self.current.admission();
        match sort_page(&self.context.store, role, &admission, hashed, recognise).await {
            Ok(prepared) => Fetched::Page(page, prepared),
            Err(error) => Fetched::End(BurstEnd::Failed(error.to_string(), Retry::StoreDown)),
        }
    }

    fn role(&self) -> SourceRole<'_> {
        SourceRole {
            name: &self.name,
            priority: self.current.options.priority,
            owner_rule: self.current.options.owner_rule,
        }
    }

    /// The commit of `page` with its cursor and marks, for the burst's
    /// [`CommitQueue`]. The cycle's last page also sweeps and starts the
    /// rest. Returns the page's marks, the refs in flight until it is done,
    /// and the commit.
    fn commit(
        &self,
        status: &SourceStatus,
        page: &Page,
        mut prepared: PreparedPage,
    ) -> (
        Arc<[String]>,
        impl Future<Output = Result<Committed, StoreError>> + Send + 'static,
    ) {
        for rejection in &prepared.rejected {
            debug!("rejected: {}", rejection.reason);
        }
        let marks: Arc<[String]> = std::mem::take(&mut prepared.marks).into();
        let now = now_ms();
        let guards = SweepGuards {
            reject_removals_above_percentage: self.current.options.reject_removals_above_percentage,
            reject_empty_source_collections: self.current.options.reject_empty_source_collections,
        };
        let last = page.done.then(|| (guards, self.rest_until(now)));
        let lease_until_ms = later(now, self.lease_length());
        let cursor = page
            .cursor
            .as_ref()
            .map(|cursor| cursor.as_str().to_owned());
        let progress = PageProgress {
            owner: Arc::clone(&self.context.owner),
            cycle: status.cycle,
            cursor,
            marks: Arc::clone(&marks),
            entities: prepared.entities,
            lease_until_ms,
            now_ms: now,
            last,
        };
        let (store, name) = (self.context.store.clone(), Arc::clone(&self.name));
        let (priority, owner_rule) = (
            self.current.options.priority,
            self.current.options.owner_rule,
        );
        let commit = async move {
            let role = SourceRole {
                name: &name,
                priority,
                owner_rule,
            };
            let (entities, unchanged) = (prepared.entities, prepared.unchanged);
            let rejected = prepared.rejected.len();
            store
                .commit_page(role, prepared.contributions, prepared.rejected, progress)
                .await
                .map(|(outcome, sweep)| Committed {
                    entities,
                    unchanged,
                    rejected,
                    outcome,
                    sweep,
                })
        };
        (marks, commit.in_current_span())
    }

    /// Report what the finished commits did; the burst's end if one failed.
    fn settle(&self, finished: Vec<Result<Committed, StoreError>>) -> Option<BurstEnd> {
        for committed in finished {
            match committed {
                Ok(committed) => self.report(committed),
                Err(StoreError::Fenced { .. }) => {
                    info!("the cycle was cancelled or taken over; the burst stops");
                    return Some(BurstEnd::Fenced);
                }
                Err(error) => {
                    return Some(BurstEnd::Failed(error.to_string(), Retry::StoreDown));
                }
            }
        }
        None
    }

    /// Count and log what a page's commit did.
    fn report(&self, committed: Committed) {
        let Committed {
            entities,
            unchanged,
            rejected,
            outcome,
            sweep,
        } = committed;
        self.burst_counts
            .add(entities, rejected + outcome.rejected.len());
        for rejection in &outcome.rejected {
            debug!("rejected: {}", rejection.reason);
        }
        debug!(
            entities,
            unchanged = unchanged + outcome.unchanged,
            added = outcome.added,
            updated = outcome.updated,
            rejected = rejected + outcome.rejected.len(),
            "page committed"
        );
        match sweep {
            Some(SweepOutcome::Swept(removal)) => info!(
                deleted = removal.deleted,
                removed = removal.removed,
                updated = removal.updated,
                "cycle complete; swept"
            ),
            Some(SweepOutcome::Refused { reason, .. }) => {
                warn!("cycle complete; sweep {reason}")
            }
            None => {}
        }
    }

    /// Tell the slot how the burst of a version on trial went (failed, or
    /// more than half of its entities refused as invalid or out of scope);
    /// a failed trial rolls back to the last good version at once.
    async fn judge(&self, end: &BurstEnd) {
        let ok = match end {
            BurstEnd::Paused | BurstEnd::CycleDone => !self.burst_counts.mostly_invalid(),
            // The store's failure says nothing of the plugin.
            BurstEnd::Failed(_, Retry::StoreDown) => return,
            BurstEnd::Failed(..) => false,
            BurstEnd::Fenced | BurstEnd::ShuttingDown => return,
        };
        let Some(rollback) = self.slot.burst_ended(&self.current, ok) else {
            return;
        };
        let message = format!(
            "source `{}`: the new version {} ({}) failed its first {} bursts; rolled back to {} ({}); \
             the new build is quarantined until its file changes",
            self.name,
            rollback.from.plugin.build(),
            rollback.from.plugin.file().display(),
            super::versions::TRIAL_FAILURES,
            rollback.to.plugin.build(),
            rollback.to.plugin.file().display(),
        );
        warn!("{message}");
        self.context
            .reloads
            .rolled_back(&self.name, &rollback.to.plugin, &message);
        let store = &self.context.store;
        if let Err(error) = store.record_error(&self.name, &message, now_ms()).await {
            warn!("{error}");
        }
    }

    fn failure_step(&self, status: &SourceStatus, retry: Retry, now: i64) -> FailureStep {
        failure_step(&self.current.options, status.failures, retry, now)
    }

    /// When the next cycle starts if one ends at `now`.
    pub(super) fn rest_until(&self, now: i64) -> i64 {
        rest_until(&self.current.options.rest, now)
    }

    /// How long a lease lasts from its last renewal: two guest calls (set-up
    /// and a page, or a page and tear-down) at their deadline, plus margin.
    /// Every committed page renews it.
    fn lease_length(&self) -> Duration {
        let deadline = self.current.plugin.settings().limits.deadline;
        lease_length(deadline, self.context.lease_margin)
    }

    /// A write that gives the source back (ending a burst, releasing the
    /// lease). While the runner stops, it is made again after a pause when
    /// the store fails it: a connection cut as the process stops would
    /// otherwise leave the lease for another replica to wait out. A few
    /// attempts at most, so a store that is down delays the stop by about a
    /// second. Otherwise the runner's next step retries it.
    async fn give_back<F, Write>(&self, write: F) -> Result<(), StoreError>
    where
        F: Fn() -> Write,
        Write: Future<Output = Result<(), StoreError>>,
    {
        let stopping = *self.context.shutdown.borrow();
        let attempts = if stopping { STOP_WRITE_ATTEMPTS } else { 1 };
        let mut attempt = 1;
        loop {
            let result = if stopping && crate::failpoints::stop_write_fails(&self.name, attempt) {
                Err(StoreError::unanswered(format!(
                    "giving source `{}` back as it stops",
                    self.name
                )))
            } else {
                write().await
            };
            match result {
                Err(error) if attempt < attempts => {
                    debug!(attempt, "{error}; trying again");
                    tokio::time::sleep(STOP_WRITE_PAUSE).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn sleep(&self, wait: Duration) {
        let mut shutdown = self.context.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.wake.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
}

/// Two guest calls at `deadline`, plus `margin`.
fn lease_length(deadline: Duration, margin: Duration) -> Duration {
    deadline.saturating_mul(2).saturating_add(margin)
}

/// Every time the runner works out from a source's options and limits:
/// none may panic, whatever the values (the configuration's property tests
/// call it with every setting they accept).
#[cfg(test)]
pub(crate) fn check_schedule(options: &SourceOptions, limits: &crate::runtime::Limits) {
    for now in [0, now_ms(), i64::MAX - 1] {
        rest_until(&options.rest, now);
        later(now, options.burst_interval);
        later(now, options.burst_length);
        later(now, lease_length(limits.deadline, Duration::from_secs(5)));
        let steps = i64::try_from(options.backoff.len()).unwrap_or(i64::MAX);
        for failures in [0, 1, steps, steps.saturating_add(1), i64::MAX] {
            for retry in [Retry::WithBackOff, Retry::NextCycle, Retry::StoreDown] {
                failure_step(options, failures, retry, now);
            }
        }
    }
}

/// What a failed burst leaves, after `failures` failed bursts in a row.
fn failure_step(options: &SourceOptions, failures: i64, retry: Retry, now: i64) -> FailureStep {
    let step = usize::try_from(failures).unwrap_or(0);
    let backoff = &options.backoff;
    match (retry, backoff.get(step)) {
        (Retry::WithBackOff | Retry::StoreDown, Some(wait)) => FailureStep::BackOff {
            until_ms: later(now, *wait),
        },
        // Out of back-off steps: cancel the cycle and start over at once.
        (Retry::WithBackOff, None) => FailureStep::EndCycle { rest_until_ms: now },
        // Out of steps while the store is down: keep waiting at the last
        // step, the cycle (its cursor and marks) kept for when it is back.
        (Retry::StoreDown, None) => FailureStep::BackOff {
            until_ms: later(
                now,
                backoff.last().copied().unwrap_or(Duration::from_secs(60)),
            ),
        },
        (Retry::NextCycle, _) => FailureStep::EndCycle {
            rest_until_ms: rest_until(&options.rest, now),
        },
    }
}

/// When the next cycle starts after one ending at `now` (Unix ms).
pub(super) fn rest_until(rest: &Rest, now: i64) -> i64 {
    match rest {
        Rest::For(length) => later(now, *length),
        Rest::Schedule(cron) => chrono::DateTime::from_timestamp_millis(now)
            .and_then(|at| cron.find_next_occurrence(&at, false).ok())
            .map_or(later(now, Duration::from_secs(24 * 60 * 60)), |next| {
                next.timestamp_millis()
            }),
    }
}

/// Tear the burst down; a failing tear-down turns a good burst into a failed one.
/// Also returns what the burst's guest calls cost.
async fn close(burst: Burst, end: BurstEnd) -> (BurstEnd, CallStats) {
    let before_close = burst.stats();
    match (end, burst.close().await) {
        (BurstEnd::Paused, Err(error)) => (source_failure(&error), before_close),
        (end, Err(error)) => {
            debug!("tear-down after the burst ended: {error}");
            (end, before_close)
        }
        (end, Ok(stats)) => (end, stats),
    }
}

fn source_failure(error: &SourceError) -> BurstEnd {
    let retry = if error.is_retryable() {
        Retry::WithBackOff
    } else {
        Retry::NextCycle
    };
    BurstEnd::Failed(error.to_string(), retry)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `after` past `now` (Unix ms), at most the end of time rather than past it:
/// no duration a source is given can overflow the clock.
fn later(now: i64, after: Duration) -> i64 {
    now.saturating_add(millis(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_down_past_the_last_back_off_step_keeps_the_cycle() {
        let options = SourceOptions {
            backoff: vec![Duration::from_secs(1), Duration::from_secs(2)],
            ..SourceOptions::default()
        };
        let step = |failures, retry| failure_step(&options, failures, retry, 0);
        assert_eq!(
            step(0, Retry::StoreDown),
            FailureStep::BackOff { until_ms: 1_000 }
        );
        assert_eq!(
            step(7, Retry::StoreDown),
            FailureStep::BackOff { until_ms: 2_000 },
            "the cycle is kept, waiting at the last step"
        );
        assert_eq!(
            step(2, Retry::WithBackOff),
            FailureStep::EndCycle { rest_until_ms: 0 },
            "a plugin's failures end the cycle after the last step"
        );
    }

    proptest::proptest! {
        /// Whatever the durations, the schedule's times are worked out
        /// without overflowing the clock.
        #[test]
        fn any_durations_schedule_without_panicking(
            secs in proptest::prelude::any::<[u64; 5]>(),
            nanos in 0u32..1_000_000_000,
        ) {
            let duration = |i: usize| Duration::new(secs[i], nanos);
            let options = SourceOptions {
                burst_length: duration(0),
                burst_interval: duration(1),
                rest: Rest::For(duration(2)),
                backoff: vec![duration(3)],
                ..SourceOptions::default()
            };
            let limits = crate::runtime::Limits {
                deadline: duration(4),
                ..crate::runtime::Limits::default()
            };
            check_schedule(&options, &limits);
        }
    }

    #[test]
    fn no_duration_overflows_the_clock() {
        let forever = Duration::MAX;
        assert_eq!(later(1_000, forever), i64::MAX);
        assert_eq!(rest_until(&Rest::For(forever), i64::MAX - 1), i64::MAX);
        assert_eq!(later(1_000, Duration::from_millis(5)), 1_005);
    }

    #[test]
    fn rest_by_length_and_by_schedule() {
        assert_eq!(rest_until(&Rest::For(Duration::from_secs(3)), 1_000), 4_000);
        let hourly: croner::Cron = "0 * * * *".parse().unwrap();
        // 2026-01-01T00:30:00Z → 01:00:00Z.
        let half_past = 1_767_227_400_000;
        assert_eq!(
            rest_until(&Rest::Schedule(Box::new(hourly)), half_past),
            half_past + 30 * 60 * 1000
        );
    }
}
