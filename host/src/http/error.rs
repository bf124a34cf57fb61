//! Errors as JSON, in the shape Backstage's backend answers with
//! (`{"error": {"name", "message"}, "response": {"statusCode"}}`), with the
//! status code that says what went wrong: 400 bad parameters, 401 no or a
//! wrong token, 403 a token without the right, 404 an unknown provider, ref
//! or route, 409 an action the source's state refuses, 410 an offset the
//! log no longer holds, 503 a database that does not answer.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::warn;
use utoipa::ToSchema;

use crate::engine::EngineError;
use crate::runtime::SourceErrorKind;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    name: &'static str,
    message: String,
    /// Fields beside `error`: Backstage's own bodies on its routes, or
    /// details such as the oldest offset still served.
    extra: Map<String, Value>,
}

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
    /// (410), `PayloadTooLargeError` (413), `SourceError` (422, 502),
    /// `ServiceUnavailableError` (503), `Error` (500).
    pub name: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorStatus {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            name,
            message: message.into(),
            extra: Map::new(),
        }
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

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            message,
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Error", message)
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
        body.insert(
            "error".into(),
            serde_json::json!({ "name": self.name, "message": self.message }),
        );
        body.insert(
            "response".into(),
            serde_json::json!({ "statusCode": self.status.as_u16() }),
        );
        let mut response = (self.status, Json(Value::Object(body))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached is 503 (try again); anything
    /// else the store reports is a 500, logged.
    fn from(error: StoreError) -> Self {
        let unreachable = matches!(
            &error,
            StoreError::Query {
                error: sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_),
                ..
            } | StoreError::Open { .. }
        );
        warn!("HTTP API: {error}");
        if unreachable {
            ApiError::unavailable(error.to_string())
        } else {
            ApiError::internal(error.to_string())
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
            EngineError::ShuttingDown => ApiError::unavailable(error.to_string()),
            EngineError::Source(source) => {
                let (status, log) = match &source.kind {
                    SourceErrorKind::PushUnsupported => (StatusCode::CONFLICT, false),
                    // The source says: try again later.
                    SourceErrorKind::Transient { .. } => (StatusCode::SERVICE_UNAVAILABLE, false),
                    // The source refused the event, or answered it with
                    // what the contract does not allow.
                    SourceErrorKind::Fatal { .. }
                    | SourceErrorKind::TooManyEntities { .. }
                    | SourceErrorKind::PageTooLarge { .. }
                    | SourceErrorKind::InvalidEntityJson { .. }
                    | SourceErrorKind::EntityNotAnObject { .. }
                    | SourceErrorKind::TooManyRemovals { .. }
                    | SourceErrorKind::InvalidRemovalRef { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, false)
                    }
                    // A trap, a budget run out, or the host failing.
                    _ => (StatusCode::BAD_GATEWAY, true),
                };
                if log {
                    warn!("HTTP API: {source}");
                }
                ApiError::new(status, "SourceError", source.to_string())
            }
            EngineError::Store(store) => store.into(),
        }
    }
}
