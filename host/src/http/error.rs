//! Errors as JSON, in the shape Backstage's backend answers with
//! (`{"error": {"name", "message", "code"}, "response": {"statusCode"}}`),
//! with the status code that says what went wrong: 400 bad parameters, 401
//! no or a wrong token, 403 a token without the right, 404 an unknown
//! provider, ref or route, 409 an action the source's state refuses, 410 an
//! offset the log no longer holds, 429 too many pushes at once, 503 a
//! database that does not answer.
//!
//! `code` is stable (`bad_parameter`, `database_unavailable`…), for
//! programs. A server error (5xx) says only what kind of failure it was:
//! its detail (a database's message, a plugin's output) goes to the log,
//! with the request's id, which the body carries as `requestId`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::engine::EngineError;
use crate::runtime::SourceErrorKind;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    name: &'static str,
    /// Stable, for programs.
    code: &'static str,
    message: String,
    /// What only the log gets (a server error's cause).
    detail: Option<String>,
    /// Fields beside `error`: Backstage's own bodies on its routes, or
    /// details such as the oldest offset still served.
    extra: Map<String, Value>,
}

/// The cause of a server error, handed with its answer to the middleware
/// that logs it with the request's id and strips it.
#[derive(Debug, Clone)]
pub(super) struct ServerErrorDetail(pub String);

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    pub response: ErrorStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `InputError` (400), `AuthenticationError` (401), `NotAllowedError`
    /// (403), `NotFoundError` (404), `ConflictError` (409), `GoneError`
    /// (410), `PayloadTooLargeError` (413), `UnsupportedMediaTypeError`
    /// (415), `TooManyRequestsError` (429), `SourceError` (422, 502),
    /// `ServiceUnavailableError` (503), `Error` (500).
    pub name: String,
    pub message: String,
    /// A stable code, for programs (`bad_parameter`, `not_found`,
    /// `database_unavailable`…).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorStatus {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
}

/// The stable code of each kind of answer, by status, when none is given.
fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_parameter",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "body_timeout",
        409 => "conflict",
        410 => "gone",
        413 => "payload_too_large",
        415 => "unsupported_content_type",
        422 => "source_refused",
        429 => "too_many_requests",
        502 => "source_failed",
        503 => "unavailable",
        _ => "internal",
    }
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            name,
            code: default_code(status),
            message: message.into(),
            detail: None,
            extra: Map::new(),
        }
    }

    /// A server error (5xx) whose answer says `message` and whose `detail`
    /// goes to the log only.
    pub fn server(
        status: StatusCode,
        name: &'static str,
        code: &'static str,
        message: &str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            detail: Some(detail.into()),
            ..Self::new(status, name, message).with_code(code)
        }
    }

    /// Set the stable code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InputError", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "AuthenticationError", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "NotAllowedError", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ConflictError", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "GoneError", message)
    }

    /// 503: try again later. `message` is the answer; `detail` is logged.
    pub fn unavailable(code: &'static str, message: &str, detail: impl Into<String>) -> Self {
        Self::server(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            code,
            message,
            detail,
        )
        .with_retry_after(1)
    }

    /// 500: a failure of this server, its detail logged.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::server(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "internal",
            "the server failed; its log has the detail, under this request's id",
            detail,
        )
    }

    /// 429: too many at once; come back in `seconds`.
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsError",
            message,
        )
        .with_retry_after(1)
    }

    fn with_retry_after(self, seconds: u64) -> Self {
        self.with("retryAfter", seconds)
    }

    /// Add a field beside `error` in the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        let retry_after = body.remove("retryAfter").and_then(|value| value.as_u64());
        body.insert(
            "error".into(),
            serde_json::json!({ "name": self.name, "message": self.message, "code": self.code }),
        );
        body.insert(
            "response".into(),
            serde_json::json!({ "statusCode": self.status.as_u16() }),
        );
        let mut response = (self.status, Json(Value::Object(body))).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ServerErrorDetail(detail));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached is 503 (try again); anything
    /// else the store reports is a 500. The store's message is logged, not
    /// answered.
    fn from(error: StoreError) -> Self {
        if error.is_transient() {
            ApiError::unavailable(
                "database_unavailable",
                "the database does not answer or is busy; try again shortly",
                error.to_string(),
            )
        } else {
            ApiError::server(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "database_error",
                "the database failed; the server's log has the detail, under this request's id",
                error.to_string(),
            )
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::UnknownSource { .. } => ApiError::not_found(error.to_string()),
            EngineError::PushUnsupported { .. } | EngineError::AlreadyRunning { .. } => {
                ApiError::conflict(error.to_string())
            }
            EngineError::ShuttingDown => ApiError::unavailable(
                "shutting_down",
                "the server is shutting down; try again shortly",
                error.to_string(),
            ),
            EngineError::Source(source) => match &source.kind {
                SourceErrorKind::PushUnsupported => ApiError::conflict(source.to_string()),
                // The source says: try again later.
                SourceErrorKind::Transient { .. } => ApiError::unavailable(
                    "source_unavailable",
                    "the source could not handle the event now; deliver it again later",
                    source.to_string(),
                ),
                // The source refused the event, or answered it with what
                // the contract does not allow: the sender's to know.
                SourceErrorKind::Fatal { .. }
                | SourceErrorKind::TooManyEntities { .. }
                | SourceErrorKind::PageTooLarge { .. }
                | SourceErrorKind::InvalidEntityJson { .. }
                | SourceErrorKind::EntityNotAnObject { .. }
                | SourceErrorKind::TooManyRemovals { .. }
                | SourceErrorKind::InvalidRemovalRef { .. } => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "SourceError",
                    source.to_string(),
                ),
                // A trap, a budget run out, or the host failing.
                _ => ApiError::server(
                    StatusCode::BAD_GATEWAY,
                    "SourceError",
                    "source_failed",
                    "the source failed to handle the event (a trap or a limit); the server's \
                     log has the detail, under this request's id",
                    source.to_string(),
                ),
            },
            EngineError::Store(store) => store.into(),
        }
    }
}
