//! `GET /api/events/log`: where the event log stands — its head (the last
//! offset handed out), how far removal tombstones were purged (a consumer
//! below that offset must re-bootstrap) and their retention. Two
//! single-row reads: cheap enough to poll.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use super::query::{NoParams, Params};
use super::{Shared, within_budget};

/// The event log's bounds.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLogBody {
    /// The last offset handed out (0 before the first event).
    pub head_offset: i64,
    /// The highest offset of a purged removal tombstone (0 if none was): a
    /// consumer whose offset is below it gets 410 Gone from /api/events.
    pub purged_through: i64,
    /// How long removal tombstones are kept, in seconds; absent: forever.
    pub tombstone_retention_seconds: Option<u64>,
}

/// Where the event log stands: head, purge point, retention.
#[utoipa::path(
    get,
    path = "/api/events/log",
    tag = "events",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The log's bounds", body = EventLogBody),
        (status = 400, description = "A query parameter (this route takes none)", body = ErrorBody),
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 503, description = "The database does not answer, or the read took longer than the request budget; retry after `Retry-After`", body = ErrorBody),
    )
)]
pub(super) async fn event_log(
    State(api): State<Shared>,
    _reader: Reader,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventLogBody>, ApiError> {
    Params::parse::<NoParams>(raw.as_deref())?;
    within_budget(&api, async {
        let store = api.engine.store();
        let bounds = store.log_bounds().await?;
        Ok(Json(EventLogBody {
            head_offset: bounds.head,
            purged_through: bounds.purged_through,
            tombstone_retention_seconds: api
                .settings
                .tombstone_retention
                .map(|retention| retention.as_secs()),
        }))
    })
    .await
}
