//! Operations: `GET /healthz` (the process answers), `GET /readyz` (the
//! database answers and its schema is in place), `GET /metrics` (Prometheus
//! text), and the middleware that counts and times every request (and
//! turns axum's plain-text rejections into JSON errors).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::Shared;
use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use crate::engine::BurstFigures;
use crate::runtime::OutboundStats;
use crate::store::{Phase, now_ms};

/// Upper bounds (seconds) of the request duration histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// Request counts and durations, by route.
#[derive(Default)]
pub(super) struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl HttpMetrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        drop(requests);
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = durations
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }
}

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
        Err(error) => Err(ApiError::unavailable(format!("not ready: {error}"))),
    }
}

/// Metrics in Prometheus text format: per source its phase, pages,
/// entities, changes, errors and cycles; the catalog's size; the event
/// log's head and retention; HTTP requests and their durations.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"),
        (status = 503, description = "The database cannot be read", body = ErrorBody),
    )
)]
pub(super) async fn metrics(
    State(api): State<Shared>,
    _reader: Reader,
) -> Result<Response, ApiError> {
    let store = api.engine.store();
    let statuses = store.source_statuses().await?;
    let counters = store.source_counters().await?;
    let bounds = store.log_bounds().await?;
    let entities = store.entity_count().await?;
    let mut out = String::new();

    family(
        &mut out,
        "weir_source_up",
        "gauge",
        "1 for each source this process runs.",
    );
    for name in api.engine.sources() {
        sample(&mut out, "weir_source_up", &[("source", &name)], 1);
    }
    write_burst_figures(&mut out, &api.engine.source_figures());
    let reloads = api.engine.reload_statuses();
    family(
        &mut out,
        "weir_source_reloads_total",
        "counter",
        "Versions of each source's plugin switched in after the first (new builds, new settings, rollbacks).",
    );
    for (name, status) in &reloads {
        sample(
            &mut out,
            "weir_source_reloads_total",
            &[("source", name)],
            status.reloads,
        );
    }
    family(
        &mut out,
        "weir_source_last_reload_timestamp_seconds",
        "gauge",
        "When each source's plugin was last reloaded or failed to reload (Unix seconds).",
    );
    for (name, status) in &reloads {
        if let Some(at) = status.last_reload_ms {
            sample(
                &mut out,
                "weir_source_last_reload_timestamp_seconds",
                &[("source", name)],
                (at as f64) / 1000.0,
            );
        }
    }
    family(
        &mut out,
        "weir_source_reload_error",
        "gauge",
        "1 when the last attempt to load or run a new version of the source's plugin failed (the message is in the provider status).",
    );
    for (name, status) in &reloads {
        sample(
            &mut out,
            "weir_source_reload_error",
            &[("source", name)],
            i64::from(status.last_error.is_some()),
        );
    }
    family(
        &mut out,
        "weir_source_quarantined",
        "gauge",
        "1 when a build of the source's plugin was rolled back and is quarantined until its file changes.",
    );
    for (name, status) in &reloads {
        sample(
            &mut out,
            "weir_source_quarantined",
            &[("source", name)],
            i64::from(status.quarantined.is_some()),
        );
    }
    family(
        &mut out,
        "weir_source_phase",
        "gauge",
        "The phase each source is in (1 for its current phase).",
    );
    for status in &statuses {
        for phase in [
            Phase::Resting,
            Phase::Interstitial,
            Phase::Bursting,
            Phase::BackingOff,
        ] {
            let value = i64::from(status.phase == phase);
            sample(
                &mut out,
                "weir_source_phase",
                &[("source", &status.source), ("phase", phase.as_str())],
                value,
            );
        }
    }
    gauge_per_source(
        &mut out,
        "weir_source_next_action_timestamp_seconds",
        "When each source's next action is due (Unix seconds).",
        statuses
            .iter()
            .map(|s| (s.source.as_str(), (s.next_action_ms as f64) / 1000.0)),
    );
    gauge_per_source(
        &mut out,
        "weir_source_cycle",
        "Each source's current (or last) cycle number.",
        statuses.iter().map(|s| (s.source.as_str(), s.cycle as f64)),
    );
    gauge_per_source(
        &mut out,
        "weir_source_consecutive_failures",
        "Failed bursts in a row (the back-off step).",
        statuses
            .iter()
            .map(|s| (s.source.as_str(), s.failures as f64)),
    );
    gauge_per_source(
        &mut out,
        "weir_source_cycle_duration_seconds",
        "How long the current cycle has been running (0 between cycles).",
        statuses.iter().map(|s| {
            let running = s
                .cycle_started_ms
                .map_or(0.0, |started| ((now_ms() - started).max(0) as f64) / 1000.0);
            (s.source.as_str(), running)
        }),
    );
    type Pick = fn(&crate::store::CycleTotals) -> i64;
    let totals: [(&str, &str, Pick); 7] = [
        ("weir_source_pages_total", "Pages committed.", |t| t.pages),
        (
            "weir_source_entities_total",
            "Entities the source returned (valid or not).",
            |t| t.entities,
        ),
        (
            "weir_source_added_total",
            "Entities added to the catalog.",
            |t| t.added,
        ),
        (
            "weir_source_updated_total",
            "Entities changed in the catalog.",
            |t| t.updated,
        ),
        (
            "weir_source_removed_total",
            "Entities removed from the catalog.",
            |t| t.removed,
        ),
        ("weir_source_rejected_total", "Entities rejected.", |t| {
            t.rejected
        }),
        (
            "weir_source_errors_total",
            "Failed bursts and other errors.",
            |t| t.errors,
        ),
    ];
    for (name, help, pick) in totals {
        family(
            &mut out,
            name,
            "counter",
            &format!("{help} Over the recorded cycles and the current one (a reset restarts it)."),
        );
        for counter in &counters {
            sample(
                &mut out,
                name,
                &[("source", &counter.source)],
                pick(&counter.totals),
            );
        }
    }
    family(
        &mut out,
        "weir_source_cycles_total",
        "counter",
        "Finished cycles, by outcome.",
    );
    for counter in &counters {
        for (outcome, count) in &counter.cycles {
            sample(
                &mut out,
                "weir_source_cycles_total",
                &[("source", &counter.source), ("outcome", outcome)],
                *count,
            );
        }
    }
    family(
        &mut out,
        "weir_entities",
        "gauge",
        "Merged entities in the catalog.",
    );
    sample(&mut out, "weir_entities", &[], entities);
    family(
        &mut out,
        "weir_event_log_head_offset",
        "gauge",
        "The last offset of the event log.",
    );
    sample(&mut out, "weir_event_log_head_offset", &[], bounds.head);
    family(
        &mut out,
        "weir_event_log_purged_through_offset",
        "gauge",
        "The highest offset of a purged tombstone: consumers below it must re-bootstrap.",
    );
    sample(
        &mut out,
        "weir_event_log_purged_through_offset",
        &[],
        bounds.purged_through,
    );
    write_http(&mut out, &api.metrics);

    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

fn write_http(out: &mut String, metrics: &HttpMetrics) {
    family(
        out,
        "weir_http_requests_total",
        "counter",
        "HTTP requests, by method, route and status.",
    );
    let requests = metrics
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for ((method, route, status), count) in &requests {
        let status = status.to_string();
        sample(
            out,
            "weir_http_requests_total",
            &[("method", method), ("route", route), ("status", &status)],
            *count,
        );
    }
    family(
        out,
        "weir_http_request_duration_seconds",
        "histogram",
        "HTTP request durations (long polls included), by method and route.",
    );
    let durations = metrics
        .durations
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for ((method, route), histogram) in &durations {
        let labels = [("method", method.as_str()), ("route", route.as_str())];
        for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            sample(
                out,
                "weir_http_request_duration_seconds_bucket",
                &with_le,
                *count,
            );
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        sample(
            out,
            "weir_http_request_duration_seconds_bucket",
            &with_le,
            histogram.count,
        );
        sample(
            out,
            "weir_http_request_duration_seconds_sum",
            &labels,
            histogram.sum,
        );
        sample(
            out,
            "weir_http_request_duration_seconds_count",
            &labels,
            histogram.count,
        );
    }
}

/// What each running source's bursts cost and carried, and its outbound
/// HTTP, since this process started running it.
fn write_burst_figures(
    out: &mut String,
    figures: &BTreeMap<String, (BurstFigures, OutboundStats)>,
) {
    type Figure = fn(&BurstFigures, &OutboundStats) -> f64;
    let families: [(&str, &str, &str, Figure); 14] = [
        (
            "weir_source_bursts_total",
            "counter",
            "Bursts run.",
            |b, _| b.bursts as f64,
        ),
        (
            "weir_source_failed_bursts_total",
            "counter",
            "Bursts that ended in an error.",
            |b, _| b.failed_bursts as f64,
        ),
        (
            "weir_source_burst_seconds_total",
            "counter",
            "Wall-clock time of bursts, set-up to tear-down.",
            |b, _| b.burst_seconds,
        ),
        (
            "weir_source_guest_seconds_total",
            "counter",
            "Time inside the source's guest calls.",
            |b, _| b.guest_seconds,
        ),
        (
            "weir_source_fuel_total",
            "counter",
            "Fuel (about one per WebAssembly instruction) the guest calls used.",
            |b, _| b.fuel as f64,
        ),
        (
            "weir_source_burst_pages_total",
            "counter",
            "Pages returned in bursts.",
            |b, _| b.pages as f64,
        ),
        (
            "weir_source_burst_entities_total",
            "counter",
            "Entities returned in bursts.",
            |b, _| b.entities as f64,
        ),
        (
            "weir_source_page_bytes_total",
            "counter",
            "Bytes of entity JSON the pages carried.",
            |b, _| b.page_bytes as f64,
        ),
        (
            "weir_source_peak_memory_bytes",
            "gauge",
            "The largest linear memory an instance of the source grew to.",
            |b, _| b.peak_memory_bytes as f64,
        ),
        (
            "weir_source_outbound_requests_total",
            "counter",
            "Outbound HTTP requests sent.",
            |_, o| o.requests as f64,
        ),
        (
            "weir_source_outbound_denied_total",
            "counter",
            "Outbound HTTP requests refused (host not granted, private address).",
            |_, o| o.denied as f64,
        ),
        (
            "weir_source_outbound_failed_total",
            "counter",
            "Outbound HTTP requests that failed (connection, timeout).",
            |_, o| o.failed as f64,
        ),
        (
            "weir_source_outbound_sent_bytes_total",
            "counter",
            "Bytes of outbound request bodies.",
            |_, o| o.bytes_sent as f64,
        ),
        (
            "weir_source_outbound_received_bytes_total",
            "counter",
            "Bytes of outbound response bodies.",
            |_, o| o.bytes_received as f64,
        ),
    ];
    for (name, kind, help, figure) in families {
        family(out, name, kind, help);
        for (source, (burst, outbound)) in figures {
            sample(out, name, &[("source", source)], figure(burst, outbound));
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge_per_source<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (&'a str, f64)>,
) {
    family(out, name, "gauge", help);
    for (source, value) in values {
        sample(out, name, &[("source", source)], value);
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (index, (key, value)) in labels.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Prometheus label values escape `\`, `"` and newlines.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_written_in_prometheus_text_format() {
        let mut out = String::new();
        family(&mut out, "m", "gauge", "Help.");
        sample(&mut out, "m", &[("a", "x\"y\\z\n")], 1.5);
        sample(&mut out, "m", &[], 2);
        assert_eq!(
            out,
            "# HELP m Help.\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\n\"} 1.5\nm 2\n"
        );
    }

    #[test]
    fn the_histogram_is_cumulative() {
        let metrics = HttpMetrics::default();
        metrics.record("GET", "/x", 200, 0.003);
        metrics.record("GET", "/x", 500, 0.2);
        let mut out = String::new();
        write_http(&mut out, &metrics);
        assert!(
            out.contains("weir_http_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 1")
        );
        assert!(out.contains(
            "weir_http_request_duration_seconds_bucket{method=\"GET\",route=\"/x\",le=\"0.005\"} 1"
        ));
        assert!(out.contains(
            "weir_http_request_duration_seconds_bucket{method=\"GET\",route=\"/x\",le=\"0.25\"} 2"
        ));
        assert!(out.contains(
            "weir_http_request_duration_seconds_bucket{method=\"GET\",route=\"/x\",le=\"+Inf\"} 2"
        ));
        assert!(
            out.contains("weir_http_request_duration_seconds_count{method=\"GET\",route=\"/x\"} 2")
        );
    }
}
