//! `POST /api/sources/{provider}/events`: a pushed event (a webhook
//! delivery) handed to the source's push handler, its upserts and removals
//! applied at once, in one transaction.
//!
//! Nothing is read before the request shows a credential: a token is
//! checked from the headers alone, and a signature is checked once the body
//! has arrived. An unknown source and a bad credential get the same 401.
//! A source handles at most its `maxConcurrent` pushes at once (one more is
//! 429 with `Retry-After`, before its body is read), and reads at most its
//! `maxBodyBytes` of body within the body timeout; so a flood of uploads,
//! authenticated or not, costs at most that many bodies per source. A
//! delivery with the id of one applied within the source's replay window
//! (`X-GitHub-Delivery`) is acknowledged and not applied again.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Serialize;
use utoipa::ToSchema;

use super::Shared;
use super::auth::{PushSettings, check_push_body, check_push_head, push_refused};
use super::error::{ApiError, ErrorBody};
use crate::runtime::PushEvent;
use crate::store::{Delivery, now_ms};

/// Headers never handed to a plugin: credentials of the request itself.
const WITHHELD_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// What applying a pushed event did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushBody {
    pub success: bool,
    /// The delivery was applied before, within the source's replay window:
    /// nothing was done this time.
    pub duplicate: bool,
    /// Entities whose merged version appeared, changed or went away.
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// Source records written, and skipped as unchanged.
    pub stored: usize,
    pub unchanged: usize,
    /// The source's contributions removed.
    pub deleted: usize,
    /// Entities refused (invalid, out of scope, a conflict), with why.
    pub rejected: Vec<RejectedEntity>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_ref: Option<String>,
    pub reason: String,
}

/// Push an event (e.g. a webhook delivery) to a source.
///
/// Authenticated per source: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256
/// of the body>` under the source's push secret (as GitHub signs
/// webhooks), or `Authorization: Bearer` with the source's push token or
/// the admin token. A source with neither configured takes the admin token
/// (or anything, on a loopback-only host without one).
#[utoipa::path(
    post,
    path = "/api/sources/{provider}/events",
    tag = "sources",
    params(
        ("provider" = String, Path, description = "The provider (source) name"),
        ("X-Hub-Signature-256" = Option<String>, Header, nullable = false, description = "`sha256=<hex HMAC-SHA256 of the body>`, for a source with a push secret (ignored by the others)"),
    ),
    request_body(content = Vec<u8>, description = "The event, as the sender sent it; with its headers, handed to the source's push handler", content_type = "application/json"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Applied, or a duplicate delivery acknowledged", body = PushBody),
        (status = 400, description = "The body could not be read (the connection failed while it arrived)", body = ErrorBody),
        (status = 401, description = "Missing or bad signature or token, or no such source; nothing applied", body = ErrorBody),
        (status = 404, description = "No such source (told only to the admin token)", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the body timeout", body = ErrorBody),
        (status = 409, description = "The source takes no pushed events", body = ErrorBody),
        (status = 413, description = "The body is longer than the source takes", body = ErrorBody),
        (status = 415, description = "A content type pushes do not take", body = ErrorBody),
        (status = 422, description = "The source refused the event or answered it with invalid output", body = ErrorBody),
        (status = 429, description = "The source is handling as many pushes as it takes at once; retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
        (status = 502, description = "The source failed (a trap or a limit)", body = ErrorBody),
        (status = 503, description = "The source asks to retry later", body = ErrorBody),
    )
)]
pub(super) async fn push_event(
    State(api): State<Shared>,
    Path(provider): Path<String>,
    request: Request,
) -> Result<Json<PushBody>, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // Only a running source gets an entry: unknown names leave no trace.
    let entry = api
        .engine
        .runs(&provider)
        .then(|| api.settings.push.entry_or_default(&provider));
    let settings = entry.as_ref().map(|entry| &entry.settings);
    let proof = check_push_head(&api.settings, &provider, settings, &headers)?;
    // (`check_push_head` has refused a source that does not run.)
    let Some(entry) = entry else {
        return Err(push_refused(&provider));
    };
    let Ok(_permit) = entry.permits.try_acquire_owned() else {
        return Err(ApiError::too_many(format!(
            "source `{provider}` is handling {} pushes already (its maxConcurrent); retry \
             shortly",
            entry.settings.max_concurrent
        )));
    };
    let settings = entry.settings;
    let body = read_body(body, settings.max_body_bytes, api.settings.body_timeout).await?;
    check_push_body(&provider, &proof, &body)?;
    let delivery = delivery(&headers, &settings);
    let event = PushEvent {
        headers: headers
            .iter()
            .filter(|(name, _)| !WITHHELD_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let report = api.engine.push(&provider, event, delivery).await?;
    Ok(Json(PushBody {
        success: true,
        duplicate: report.duplicate,
        added: report.upserts.added,
        updated: report.upserts.updated + report.removals.updated,
        removed: report.upserts.removed + report.removals.removed,
        stored: report.upserts.stored,
        unchanged: report.upserts.unchanged,
        deleted: report.removals.deleted,
        rejected: report
            .upserts
            .rejected
            .into_iter()
            .map(|rejection| RejectedEntity {
                entity_ref: rejection.entity_ref,
                reason: rejection.reason,
            })
            .collect(),
    }))
}

/// The body, read as it arrives: at most `max_bytes` of it (413 past that,
/// without reading the rest) within `timeout` (408).
async fn read_body(body: Body, max_bytes: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let collect = Limited::new(body, max_bytes).collect();
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            format!("the body is longer than the {max_bytes} bytes this source takes"),
        )),
        Ok(Err(error)) => Err(ApiError::bad_request(format!(
            "the body could not be read: {error}"
        ))),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutError",
            format!("the body did not arrive within {timeout:?}"),
        )),
    }
}

/// The delivery the request names, when the source remembers deliveries.
fn delivery(headers: &HeaderMap, settings: &PushSettings) -> Option<Delivery> {
    if settings.replay_window.is_zero() {
        return None;
    }
    let id = headers
        .get(settings.delivery_header.as_str())?
        .to_str()
        .ok()?
        .trim();
    if id.is_empty() || id.len() > 200 {
        return None;
    }
    Some(Delivery {
        id: id.to_owned(),
        received_ms: now_ms(),
        window_ms: i64::try_from(settings.replay_window.as_millis()).unwrap_or(i64::MAX),
    })
}
