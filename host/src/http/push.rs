//! `POST /api/sources/{provider}/events`: a pushed event (a webhook
//! delivery) handed to the source's push handler, its upserts and removals
//! applied at once, in one transaction. The request is authenticated
//! before anything else happens: a bad signature or token is 401 and the
//! plugin never sees the event.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use super::Shared;
use super::auth::check_push;
use super::error::{ApiError, ErrorBody};
use crate::runtime::PushEvent;

/// Headers never handed to a plugin: credentials of the request itself.
const WITHHELD_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// What applying a pushed event did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushBody {
    pub success: bool,
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
        ("X-Hub-Signature-256" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256 of the body>`"),
    ),
    request_body(content = Vec<u8>, description = "The event, as the sender sent it; with its headers, handed to the source's push handler", content_type = "application/octet-stream"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Applied", body = PushBody),
        (status = 401, description = "Missing or bad signature or token; nothing applied", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 409, description = "The source takes no pushed events", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 422, description = "The source refused the event or answered it with invalid output", body = ErrorBody),
        (status = 502, description = "The source failed (a trap or a limit)", body = ErrorBody),
        (status = 503, description = "The source asks to retry later", body = ErrorBody),
    )
)]
pub(super) async fn push_event(
    State(api): State<Shared>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PushBody>, ApiError> {
    if !api.engine.runs(&provider) {
        return Err(ApiError::not_found(format!(
            "no source named `{provider}` runs on this host"
        )));
    }
    check_push(&api.settings, &provider, &headers, &body)?;
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
    let report = api.engine.push(&provider, event).await?;
    Ok(Json(PushBody {
        success: true,
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
