//! The HTTP API (axum), the last stage of the flow: it reads the store and
//! hands operator actions to the [`Engine`]. So far, health.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::engine::Engine;
use crate::store::Phase;

/// The routes of `weir serve`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/catalog/incremental/health", get(health))
        .with_state(engine)
}

/// Backstage's `{healthy: true}`; when not, Weir names the sources that are
/// backing off after failed bursts (and answers 503 if the database cannot
/// be read).
async fn health(State(engine): State<Arc<Engine>>) -> Response {
    let statuses = match engine.store().source_statuses().await {
        Ok(statuses) => statuses,
        Err(error) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "healthy": false, "error": error.to_string() })),
            )
                .into_response();
        }
    };
    let unhealthy: Vec<&str> = statuses
        .iter()
        .filter(|status| engine.sources().any(|name| name == status.source))
        .filter(|status| status.phase == Phase::BackingOff)
        .map(|status| status.source.as_str())
        .collect();
    if unhealthy.is_empty() {
        Json(json!({ "healthy": true })).into_response()
    } else {
        Json(json!({ "healthy": false, "unhealthyProviders": unhealthy })).into_response()
    }
}
