//! Operations: `GET /healthz` (the process answers), `GET /readyz` (the
//! database answers and its schema is in place), and the middleware that
//! counts and times every request ([`super::metrics`]) and turns axum's
//! plain-text rejections into JSON errors.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::Shared;
use super::error::{ApiError, ErrorBody};

/// Count and time each routed request; give error answers that are not
/// JSON yet (axum's rejections of a path or a body) the JSON error shape.
pub(super) async fn track(State(api): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let response = if response.status().is_client_error() || response.status().is_server_error() {
        as_json_error(response).await
    } else {
        response
    };
    api.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn as_json_error(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let name = match status {
        StatusCode::BAD_REQUEST => "InputError",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLargeError",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaTypeError",
        StatusCode::NOT_FOUND => "NotFoundError",
        _ => "Error",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    ApiError::new(status, name, message).into_response()
}

#[derive(Serialize, ToSchema)]
pub struct HealthzBody {
    /// `ok`.
    pub status: String,
}

/// The process is up (nothing else is checked).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = HealthzBody))
)]
pub(super) async fn healthz() -> Json<HealthzBody> {
    Json(HealthzBody {
        status: "ok".into(),
    })
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyzBody {
    /// `ready`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The event log's head.
    pub last_event_offset: i64,
}

/// The database answers and its schema (migrations) is in place.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyzBody),
        (status = 503, description = "The database does not answer, or its schema is missing", body = ErrorBody),
    )
)]
pub(super) async fn readyz(State(api): State<Shared>) -> Result<Json<ReadyzBody>, ApiError> {
    let store = api.engine.store();
    let ready = async {
        store.ping().await?;
        store.last_offset().await
    };
    match ready.await {
        Ok(head) => Ok(Json(ReadyzBody {
            status: "ready".into(),
            database: store.backend_name().into(),
            last_event_offset: head,
        })),
        Err(error) => Err(ApiError::unavailable(
            "not_ready",
            "not ready: the database does not answer, or its schema is not in place",
            error.to_string(),
        )),
    }
}
