//! The event stream: `GET /api/events?offset=N`, the catalog's changes
//! after offset N in commit order, each the latest event of its ref (the
//! log is compacted as it is written: one row per ref), with the current
//! entity for additions and updates. A consumer keeps its offset, starts at
//! 0 (which delivers the whole current catalog) or at a listing's
//! `lastEventOffset`, and continues from each answer's `lastEventOffset`.
//!
//! **Long polling.** With `wait=S`, a request at the head is held until an
//! event arrives or S seconds pass. A commit of this process wakes waiting
//! requests at once (the store signals every commit); commits of other
//! replicas sharing a PostgreSQL database are seen by one task per process
//! that reads the log's head every `event_poll` (25 ms) while requests wait.
//! The requests that ask the same thing at the same time (the same offset,
//! limit and kinds: every consumer caught up at the head) share one read of
//! the log ([`SharedReads`]), so a commit costs one query, not one per
//! consumer. At most `max_long_polls` requests wait at once; one more
//! answers at once with what it has.
//!
//! **Retention.** Removal tombstones older than the retention (7 days by
//! default) are purged every `purgeInterval` (1 hour by default); a consumer
//! whose offset is below the highest purged one (`purgedThrough` in the 410
//! body) may have missed a removal and gets 410 Gone, telling it to
//! re-bootstrap from `/api/entities`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use utoipa::{IntoParams, ToSchema};

use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use super::query::Params;
use super::{Api, Shared, within_budget};
use crate::store::{Catalog, ChangeKind, StoreError, now_ms};

/// The stable `code` of the 400 for an offset this catalog never issued.
const OFFSET_BEYOND_HEAD: &str = "offset_beyond_head";

const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 10_000;
/// About how much entity text one answer carries (16 Mi characters); a page
/// cut at it is full, and the consumer asks again from its last offset.
const MAX_PAGE_CHARS: i64 = 16 << 20;

/// The query parameters of `GET /api/events`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListEventsParams {
    /// Events after this offset (default 0: from the start, which delivers
    /// the whole current catalog). At most the log's head: a larger one is
    /// 400 with code `offset_beyond_head`.
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Events per answer, 1 to 10000 (default 500).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
    /// Only events of these kinds (case-insensitive; repeatable,
    /// comma-separated; each item must have a character other than spaces).
    /// The offsets of other kinds are skipped.
    #[param(
        pattern = r"^[^,\x00]*[^,\x00 \t\n\f\r][^,\x00]*(,[^,\x00]*[^,\x00 \t\n\f\r][^,\x00]*)*$"
    )]
    kind: Option<Vec<String>>,
    /// Seconds to wait for an event when there is none yet after `offset`
    /// (long polling; 0 to the server's `maxWait`, 60 by default; fractions
    /// allowed; more than `maxWait` is 400). Default 0: answer at once.
    #[param(minimum = 0)]
    wait: Option<f64>,
}

/// Events after an offset.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass this as `offset` next: every event up to it (of the kinds
    /// asked) has been delivered.
    pub last_event_offset: i64,
    /// The log's head when the answer was read (the consumer's lag is
    /// `headOffset - lastEventOffset`).
    pub head_offset: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub offset: i64,
    // `added`, `updated` or `removed`: described by `EventType` (a doc
    // comment here would make utoipa wrap the enum in an `allOf` with an
    // object schema that no string matches).
    #[serde(rename = "type")]
    #[schema(inline)]
    pub event_type: EventType,
    /// `kind:namespace/name`, lower case.
    pub entity_ref: String,
    /// The current entity; absent for a removal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub entity: Option<Box<RawValue>>,
    /// The source whose contribution wins the entity's merge now (the
    /// highest priority, then the name that sorts first); absent for a
    /// removal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The location key that source gave the entity; absent when it gave
    /// none, and for a removal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_key: Option<String>,
}

/// `added`, `updated` or `removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Added,
    Updated,
    Removed,
}

impl From<ChangeKind> for EventType {
    fn from(kind: ChangeKind) -> Self {
        match kind {
            ChangeKind::Added => EventType::Added,
            ChangeKind::Updated => EventType::Updated,
            ChangeKind::Removed => EventType::Removed,
        }
    }
}

/// The catalog's changes after an offset, in commit order.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    params(ListEventsParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Events after the offset (possibly none, after waiting)", body = EventPage),
        (status = 400, description = "A bad parameter, or an offset beyond the log's head (code `offset_beyond_head`, with `headOffset`)", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 410, description = "The offset is older than the log keeps (code `gone`, with `purgedThrough` and `headOffset`): re-bootstrap from /api/entities", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the read took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn list_events(
    State(api): State<Shared>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse::<ListEventsParams>(raw.as_deref())?;
    let query = EventQuery {
        offset: params.integer("offset", 0..=i64::MAX)?.unwrap_or(0),
        limit: params
            .integer("limit", 1..=MAX_LIMIT)?
            .unwrap_or(DEFAULT_LIMIT),
        kinds: params.list_lower("kind")?,
    };
    let wait = params
        .seconds("wait", api.settings.max_wait)?
        .unwrap_or(Duration::ZERO);
    let deadline = Instant::now() + wait;
    let mut closing = api.closing.clone();
    let mut waiting = None;
    loop {
        // Subscribe before reading: a head published after this moment
        // wakes the wait below, and the read reflects every head before it.
        let mut head = api.subscribe_head();
        let known = *head.borrow_and_update();
        let read = api.shared_reads.read(api.engine.store(), &query, known);
        let page = within_budget(&api, read).await?;
        if !page.empty || Instant::now() >= deadline || *closing.borrow() {
            return Ok(page.into_response());
        }
        if waiting.is_none() {
            match Arc::clone(&api.long_polls).try_acquire_owned() {
                Ok(permit) => waiting = Some(permit),
                // Past the cap: answer now with what there is.
                Err(_) => return Ok(page.into_response()),
            }
        }
        tokio::select! {
            changed = head.changed() => {
                if changed.is_err() {
                    return Ok(page.into_response());
                }
            }
            // The server shuts down: answer now, the consumer comes back.
            Ok(()) = closing.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// What one request asks of the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventQuery {
    offset: i64,
    limit: i64,
    kinds: Vec<String>,
}

/// An answer of the log, serialised once for every request it is shared with.
#[derive(Clone)]
pub(super) struct SharedPage {
    body: Bytes,
    /// Whether it holds no event.
    empty: bool,
}

impl IntoResponse for SharedPage {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.body).into_response()
    }
}

/// The reads of the log in flight, by what they ask. A request that knows
/// the head up to offset H joins a read that began once H was published
/// (its answer holds every event up to H; a later head wakes the request
/// to read again), or starts one. Every consumer caught up at the head
/// knows the same head, so one commit costs one read, however many wait.
#[derive(Default)]
pub(super) struct SharedReads {
    flights: Mutex<HashMap<EventQuery, Arc<Flight>>>,
    /// Reads made so far (each shared read counts once).
    reads: AtomicU64,
}

/// One read of the log, and the head published when it began.
struct Flight {
    published: i64,
    page: tokio::sync::OnceCell<Result<SharedPage, ApiError>>,
}

impl SharedReads {
    async fn read(
        &self,
        store: &Catalog,
        query: &EventQuery,
        known: i64,
    ) -> Result<SharedPage, ApiError> {
        let flight = self.join(query, known);
        let page = flight
            .page
            .get_or_init(|| async {
                self.reads.fetch_add(1, Ordering::Relaxed);
                let page = read_page(store, query.offset, query.limit, &query.kinds).await?;
                let body = serde_json::to_vec(&page)
                    .map_err(|error| ApiError::internal(format!("serialising events: {error}")))?;
                Ok(SharedPage {
                    body: body.into(),
                    empty: page.events.is_empty(),
                })
            })
            .await
            .clone();
        // The read is done: a request that asks again reads afresh.
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(query).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(query);
        }
        page
    }

    /// The reads of the log made so far.
    pub(super) fn count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The read in flight for `query` that began once head `known` was
    /// published, or a new one.
    fn join(&self, query: &EventQuery, known: i64) -> Arc<Flight> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        match flights.get(query) {
            Some(flight) if flight.published >= known => Arc::clone(flight),
            _ => {
                let flight = Arc::new(Flight {
                    published: known,
                    page: tokio::sync::OnceCell::new(),
                });
                flights.insert(query.clone(), Arc::clone(&flight));
                flight
            }
        }
    }
}

/// One answer. The head is read first: every offset up to it has
/// committed, so the events query that follows sees them all, and when it
/// returns fewer than `limit` the consumer has everything up to the head.
/// The purge mark is read last: a tombstone purged before the events query
/// shows in it.
async fn read_page(
    store: &Catalog,
    offset: i64,
    limit: i64,
    kinds: &[String],
) -> Result<EventPage, ApiError> {
    let head = store.last_offset().await?;
    if offset > head {
        return Err(ApiError::bad_request(format!(
            "offset {offset} is beyond the log's head ({head}): this catalog never issued it \
             (was the database replaced?); re-bootstrap from /api/entities"
        ))
        .with_code(OFFSET_BEYOND_HEAD)
        .with("headOffset", head));
    }
    let page = store
        .event_texts(offset, limit, MAX_PAGE_CHARS, kinds)
        .await?;
    let rows = page.events;
    let purged_through = store.purged_through().await?;
    if offset > 0 && offset < purged_through {
        return Err(ApiError::gone(format!(
            "offset {offset} is older than the event log keeps: removals up to offset \
             {purged_through} were purged, so some may be missing after it. Re-bootstrap: read \
             /api/entities, then follow /api/events from its lastEventOffset"
        ))
        .with("purgedThrough", purged_through)
        .with("headOffset", head));
    }
    let full = page.cut_short || rows.len() as i64 >= limit;
    let last_row = rows.last().map_or(offset, |row| row.offset);
    let last_event_offset = if full { last_row } else { last_row.max(head) };
    let events = rows
        .into_iter()
        .map(|row| {
            let entity = row
                .body
                .map(RawValue::from_string)
                .transpose()
                .map_err(|error| StoreError::Corrupt {
                    entity_ref: row.entity_ref.clone(),
                    what: "body",
                    error: error.to_string(),
                })?;
            Ok(Event {
                offset: row.offset,
                event_type: row.kind.into(),
                entity_ref: row.entity_ref,
                entity,
                source: row.winner.source,
                location_key: row.winner.location_key,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(EventPage {
        events,
        last_event_offset,
        head_offset: head.max(last_row),
    })
}

/// The log's head as this process last saw it, for long polls to wait on.
#[derive(Default)]
pub(super) struct Tail {
    head: watch::Sender<i64>,
    /// Wakes the watcher when a request starts waiting.
    waiter_arrived: Arc<Notify>,
    watcher: OnceLock<()>,
}

impl Api {
    /// A receiver that changes when the log's head moves; starts the task
    /// that watches it on first use.
    fn subscribe_head(self: &Arc<Api>) -> watch::Receiver<i64> {
        self.tail.watcher.get_or_init(|| {
            tokio::spawn(watch_head(
                Arc::downgrade(self),
                self.engine.store().clone(),
                self.settings.event_poll,
            ));
        });
        let receiver = self.tail.head.subscribe();
        self.tail.waiter_arrived.notify_one();
        receiver
    }
}

/// Publish the log's head while requests wait: at once after this
/// process's commits, and every `poll` for other replicas' commits. Ends
/// when the API is dropped.
async fn watch_head(api: Weak<Api>, store: Catalog, poll: Duration) {
    let mut commits = store.subscribe_commits();
    let mut failing = false;
    loop {
        let Some(tail) = api.upgrade() else { return };
        if tail.tail.head.receiver_count() == 0 {
            // Nobody waits: sleep until someone does (or a while, to notice
            // the API going away).
            let arrived = Arc::clone(&tail.tail.waiter_arrived);
            drop(tail);
            tokio::select! {
                _ = arrived.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        drop(tail);
        tokio::select! {
            _ = commits.changed() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        match store.last_offset().await {
            Ok(head) => {
                failing = false;
                let Some(api) = api.upgrade() else { return };
                api.tail.head.send_if_modified(|seen| {
                    let moved = head != *seen;
                    *seen = head;
                    moved
                });
            }
            Err(error) if !failing => {
                failing = true;
                warn!("watching the event log's head: {error}");
            }
            Err(error) => debug!("watching the event log's head: {error}"),
        }
    }
}

/// Start purging, every `purge_interval` while a tokio runtime runs, the
/// tombstones older than the retention (when one is set) and the push
/// deliveries older than the longest replay window; the task ends with the
/// API.
pub(super) fn start_purge(api: &Arc<Api>) {
    let retention = api.settings.tombstone_retention;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let every = api.settings.purge_interval.max(Duration::from_millis(10));
    let weak = Arc::downgrade(api);
    runtime.spawn(async move {
        let mut next = Instant::now() + Duration::from_secs(5).min(every);
        loop {
            tokio::time::sleep_until(next).await;
            next = Instant::now() + every;
            let Some(api) = weak.upgrade() else { return };
            let store = api.engine.store();
            if let Some(retention) = retention {
                purge_tombstones(store, retention).await;
            }
            if let Err(error) = store.purge_deliveries(now_ms()).await {
                warn!("{error}");
            }
        }
    });
}

async fn purge_tombstones(store: &Catalog, retention: Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let cutoff = now_ms().saturating_sub(retention_ms);
    match store.purge_tombstones(cutoff).await {
        Ok(outcome) if outcome.purged > 0 => info!(
            purged = outcome.purged,
            purged_through = outcome.purged_through,
            "purged removal tombstones older than the retention from the event log"
        ),
        Ok(_) => {}
        Err(error) => warn!("purging old tombstones: {error}"),
    }
}
