//! Request ids: every answer carries `X-Request-Id`; a server error's body
//! carries it as `requestId`, and its detail (which the body leaves out) is
//! logged with it, so an operator finds the cause from what a client saw.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::warn;

use super::error::ServerErrorDetail;

/// The header that names a request.
pub(super) const REQUEST_ID_HEADER: &str = "x-request-id";

/// The largest error body read to add the id to.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Name the request, answer, and for a server error log its detail under
/// the name and put the name in the body.
pub(super) async fn request_id(request: Request, next: Next) -> Response {
    let id = next_id();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let mut response = next.run(request).await;
    if let Some(ServerErrorDetail(detail)) = response.extensions_mut().remove::<ServerErrorDetail>()
    {
        warn!(request_id = %id, %method, path, status = response.status().as_u16(), "{detail}");
    }
    if response.status().is_server_error() && method != Method::HEAD {
        response = with_id_in_body(response, &id).await;
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The JSON error body with `requestId` beside `error`.
async fn with_id_in_body(response: Response, id: &str) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return parts.status.into_response();
    };
    let text = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut fields)) => {
            fields.insert("requestId".to_owned(), Value::String(id.to_owned()));
            Value::Object(fields).to_string()
        }
        _ => return Response::from_parts(parts, Body::from(bytes)),
    };
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// `PREFIX-N`: a prefix of this process (its start and id), and a counter.
fn next_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        format!("{:x}{nanos:08x}", std::process::id())
    });
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_within_the_process() {
        let (a, b) = (next_id(), next_id());
        assert_ne!(a, b);
        assert_eq!(a.split('-').next(), b.split('-').next());
    }

    #[tokio::test]
    async fn a_server_error_body_carries_the_id() {
        let error = super::super::error::ApiError::internal("the disk is on fire");
        let response = with_id_in_body(error.into_response(), "abc-1").await;
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["requestId"], "abc-1");
        assert_eq!(json["error"]["code"], "internal");
        assert!(
            !body.windows(4).any(|w| w == b"fire"),
            "the detail stays in the log"
        );
    }
}
