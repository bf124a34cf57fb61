//! `GET /metrics`: Prometheus text, written from tables of metric
//! definitions (a name, a type, a help line and how to read a value), one
//! table per kind of record a value comes from; and [`HttpMetrics`], the
//! request counts and durations that the request middleware records.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::auth::Reader;
use super::error::{ApiError, ErrorBody};
use crate::engine::{BurstFigures, ReloadStatus};
use crate::runtime::OutboundStats;
use crate::store::{CycleTotals, LogBounds, Phase, SourceStatus, now_ms};

/// Upper bounds (seconds) of the request duration histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// A metric family's type, as the exposition format names it.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family whose value per source is read from a record `R`:
/// `None` leaves the source out of the family.
struct PerSource<R> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: fn(&R) -> Option<f64>,
}

/// Families read from each source's stored state.
const STATUS_FAMILIES: &[PerSource<SourceStatus>] = &[
    PerSource {
        name: "weir_source_next_action_timestamp_seconds",
        kind: Kind::Gauge,
        help: "When each source's next action is due (Unix seconds).",
        value: |s| Some(seconds(s.next_action_ms)),
    },
    PerSource {
        name: "weir_source_cycle",
        kind: Kind::Gauge,
        help: "Each source's current (or last) cycle number.",
        value: |s| Some(s.cycle as f64),
    },
    PerSource {
        name: "weir_source_consecutive_failures",
        kind: Kind::Gauge,
        help: "Failed bursts in a row (the back-off step).",
        value: |s| Some(s.failures as f64),
    },
    PerSource {
        name: "weir_source_cycle_duration_seconds",
        kind: Kind::Gauge,
        help: "How long the current cycle has been running (0 between cycles).",
        value: |s| {
            Some(
                s.cycle_started_ms
                    .map_or(0.0, |started| seconds((now_ms() - started).max(0))),
            )
        },
    },
];

/// Counters over each source's recorded cycles and its current one.
const TOTALS_FAMILIES: &[PerSource<CycleTotals>] = &[
    PerSource {
        name: "weir_source_pages_total",
        kind: Kind::Counter,
        help: "Pages committed.",
        value: |t| Some(t.pages as f64),
    },
    PerSource {
        name: "weir_source_entities_total",
        kind: Kind::Counter,
        help: "Entities the source returned (valid or not).",
        value: |t| Some(t.entities as f64),
    },
    PerSource {
        name: "weir_source_added_total",
        kind: Kind::Counter,
        help: "Entities added to the catalog.",
        value: |t| Some(t.added as f64),
    },
    PerSource {
        name: "weir_source_updated_total",
        kind: Kind::Counter,
        help: "Entities changed in the catalog.",
        value: |t| Some(t.updated as f64),
    },
    PerSource {
        name: "weir_source_removed_total",
        kind: Kind::Counter,
        help: "Entities removed from the catalog.",
        value: |t| Some(t.removed as f64),
    },
    PerSource {
        name: "weir_source_rejected_total",
        kind: Kind::Counter,
        help: "Entities rejected.",
        value: |t| Some(t.rejected as f64),
    },
    PerSource {
        name: "weir_source_errors_total",
        kind: Kind::Counter,
        help: "Failed bursts and other errors.",
        value: |t| Some(t.errors as f64),
    },
];

/// What the totals' help lines add: where the counts come from.
const TOTALS_NOTE: &str = "Over the recorded cycles and the current one (a reset restarts it).";

/// Families read from each source's reload history in this process.
const RELOAD_FAMILIES: &[PerSource<ReloadStatus>] = &[
    PerSource {
        name: "weir_source_reloads_total",
        kind: Kind::Counter,
        help: "Versions of each source's plugin switched in after the first (new builds, new settings, rollbacks).",
        value: |r| Some(r.reloads as f64),
    },
    PerSource {
        name: "weir_source_last_reload_timestamp_seconds",
        kind: Kind::Gauge,
        help: "When each source's plugin was last reloaded or failed to reload (Unix seconds).",
        value: |r| r.last_reload_ms.map(seconds),
    },
    PerSource {
        name: "weir_source_reload_error",
        kind: Kind::Gauge,
        help: "1 when the last attempt to load or run a new version of the source's plugin failed (the message is in the provider status).",
        value: |r| Some(flag(r.last_error.is_some())),
    },
    PerSource {
        name: "weir_source_quarantined",
        kind: Kind::Gauge,
        help: "1 when a build of the source's plugin was rolled back and is quarantined until its file changes.",
        value: |r| Some(flag(r.quarantined.is_some())),
    },
];

/// Families read from what each running source's bursts cost and carried,
/// and its outbound HTTP, since this process started running it.
const BURST_FAMILIES: &[PerSource<(BurstFigures, OutboundStats)>] = &[
    PerSource {
        name: "weir_source_bursts_total",
        kind: Kind::Counter,
        help: "Bursts run.",
        value: |(b, _)| Some(b.bursts as f64),
    },
    PerSource {
        name: "weir_source_failed_bursts_total",
        kind: Kind::Counter,
        help: "Bursts that ended in an error.",
        value: |(b, _)| Some(b.failed_bursts as f64),
    },
    PerSource {
        name: "weir_source_burst_seconds_total",
        kind: Kind::Counter,
        help: "Wall-clock time of bursts, set-up to tear-down.",
        value: |(b, _)| Some(b.burst_seconds),
    },
    PerSource {
        name: "weir_source_guest_seconds_total",
        kind: Kind::Counter,
        help: "Time inside the source's guest calls.",
        value: |(b, _)| Some(b.guest_seconds),
    },
    PerSource {
        name: "weir_source_fuel_total",
        kind: Kind::Counter,
        help: "Fuel (about one per WebAssembly instruction) the guest calls used.",
        value: |(b, _)| Some(b.fuel as f64),
    },
    PerSource {
        name: "weir_source_burst_pages_total",
        kind: Kind::Counter,
        help: "Pages returned in bursts.",
        value: |(b, _)| Some(b.pages as f64),
    },
    PerSource {
        name: "weir_source_burst_entities_total",
        kind: Kind::Counter,
        help: "Entities returned in bursts.",
        value: |(b, _)| Some(b.entities as f64),
    },
    PerSource {
        name: "weir_source_page_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of entity JSON the pages carried.",
        value: |(b, _)| Some(b.page_bytes as f64),
    },
    PerSource {
        name: "weir_source_peak_memory_bytes",
        kind: Kind::Gauge,
        help: "The largest linear memory an instance of the source grew to.",
        value: |(b, _)| Some(b.peak_memory_bytes as f64),
    },
    PerSource {
        name: "weir_source_outbound_requests_total",
        kind: Kind::Counter,
        help: "Outbound HTTP requests sent.",
        value: |(_, o)| Some(o.requests as f64),
    },
    PerSource {
        name: "weir_source_outbound_denied_total",
        kind: Kind::Counter,
        help: "Outbound HTTP requests refused (host not granted, private address).",
        value: |(_, o)| Some(o.denied as f64),
    },
    PerSource {
        name: "weir_source_outbound_failed_total",
        kind: Kind::Counter,
        help: "Outbound HTTP requests that failed (connection, timeout).",
        value: |(_, o)| Some(o.failed as f64),
    },
    PerSource {
        name: "weir_source_outbound_sent_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of outbound request bodies.",
        value: |(_, o)| Some(o.bytes_sent as f64),
    },
    PerSource {
        name: "weir_source_outbound_received_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of outbound response bodies.",
        value: |(_, o)| Some(o.bytes_received as f64),
    },
];

/// The catalog's own figures: one sample each, no labels.
struct CatalogFigures {
    entities: i64,
    log: LogBounds,
}

/// One gauge of the catalog as a whole: a single sample, no labels.
struct CatalogGauge {
    name: &'static str,
    help: &'static str,
    value: fn(&CatalogFigures) -> i64,
}

/// The gauges of the catalog as a whole.
const CATALOG_GAUGES: &[CatalogGauge] = &[
    CatalogGauge {
        name: "weir_entities",
        help: "Merged entities in the catalog.",
        value: |c| c.entities,
    },
    CatalogGauge {
        name: "weir_event_log_head_offset",
        help: "The last offset of the event log.",
        value: |c| c.log.head,
    },
    CatalogGauge {
        name: "weir_event_log_purged_through_offset",
        help: "The highest offset of a purged tombstone: consumers below it must re-bootstrap.",
        value: |c| c.log.purged_through,
    },
];

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
        (status = 401, description = "Reading needs a token", body = ErrorBody),
        (status = 500, description = "The database failed (code `database_error`; the detail is in the server's log)", body = ErrorBody),
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
    let catalog = CatalogFigures {
        entities: store.entity_count().await?,
        log: store.log_bounds().await?,
    };
    let mut out = String::new();

    family(
        &mut out,
        "weir_source_up",
        Kind::Gauge,
        "1 for each source this process runs.",
    );
    for name in api.engine.sources() {
        sample(&mut out, "weir_source_up", &[("source", &name)], 1);
    }
    let figures = api.engine.source_figures();
    write_per_source(&mut out, BURST_FAMILIES, "", figures.iter());
    let reloads = api.engine.reload_statuses();
    write_per_source(&mut out, RELOAD_FAMILIES, "", reloads.iter());
    write_phases(&mut out, &statuses);
    let by_source = statuses.iter().map(|s| (&s.source, s));
    write_per_source(&mut out, STATUS_FAMILIES, "", by_source);
    let totals = counters.iter().map(|c| (&c.source, &c.totals));
    write_per_source(&mut out, TOTALS_FAMILIES, TOTALS_NOTE, totals);
    family(
        &mut out,
        "weir_source_cycles_total",
        Kind::Counter,
        "Finished cycles, by outcome.",
    );
    for counter in &counters {
        for (outcome, count) in &counter.cycles {
            let labels = [("source", counter.source.as_str()), ("outcome", outcome)];
            sample(&mut out, "weir_source_cycles_total", &labels, *count);
        }
    }
    for gauge in CATALOG_GAUGES {
        family(&mut out, gauge.name, Kind::Gauge, gauge.help);
        sample(&mut out, gauge.name, &[], (gauge.value)(&catalog));
    }
    family(
        &mut out,
        "weir_http_long_polls",
        Kind::Gauge,
        "Requests to /api/events waiting for an event now (at most [http] maxLongPolls).",
    );
    let waiting = api
        .settings
        .max_long_polls
        .max(1)
        .saturating_sub(api.long_polls.available_permits());
    sample(&mut out, "weir_http_long_polls", &[], waiting);
    family(
        &mut out,
        "weir_http_event_reads_total",
        Kind::Counter,
        "Reads of the event log made for /api/events; requests that share a read count once.",
    );
    let reads = api.shared_reads.count();
    sample(&mut out, "weir_http_event_reads_total", &[], reads);
    api.metrics.write(&mut out);

    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Each family of `table`, with one sample per source of `records`. A
/// non-empty `note` is added to every help line.
fn write_per_source<'a, R: 'a>(
    out: &mut String,
    table: &[PerSource<R>],
    note: &str,
    records: impl Iterator<Item = (&'a String, &'a R)> + Clone,
) {
    for definition in table {
        if note.is_empty() {
            family(out, definition.name, definition.kind, definition.help);
        } else {
            let help = format!("{} {note}", definition.help);
            family(out, definition.name, definition.kind, &help);
        }
        for (source, record) in records.clone() {
            if let Some(value) = (definition.value)(record) {
                sample(out, definition.name, &[("source", source)], value);
            }
        }
    }
}

/// `weir_source_phase`: one sample per source and phase, 1 for the current one.
fn write_phases(out: &mut String, statuses: &[SourceStatus]) {
    family(
        out,
        "weir_source_phase",
        Kind::Gauge,
        "The phase each source is in (1 for its current phase).",
    );
    let phases = [
        Phase::Resting,
        Phase::Interstitial,
        Phase::Bursting,
        Phase::BackingOff,
    ];
    for status in statuses {
        for phase in phases {
            let labels = [
                ("source", status.source.as_str()),
                ("phase", phase.as_str()),
            ];
            sample(
                out,
                "weir_source_phase",
                &labels,
                flag(status.phase == phase),
            );
        }
    }
}

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
    /// Count one request to `route` that took `seconds`.
    pub(super) fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
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

    /// `weir_http_requests_total` and the histogram
    /// `weir_http_request_duration_seconds`.
    fn write(&self, out: &mut String) {
        family(
            out,
            "weir_http_requests_total",
            Kind::Counter,
            "HTTP requests, by method, route and status.",
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((method, route, status), count) in &requests {
            let status = status.to_string();
            let labels = [
                ("method", method.as_str()),
                ("route", route),
                ("status", &status),
            ];
            sample(out, "weir_http_requests_total", &labels, *count);
        }
        family(
            out,
            "weir_http_request_duration_seconds",
            Kind::Histogram,
            "HTTP request durations (long polls included), by method and route.",
        );
        let durations = self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((method, route), histogram) in &durations {
            write_histogram(out, method, route, histogram);
        }
    }
}

/// One route's histogram: its cumulative buckets, sum and count.
fn write_histogram(out: &mut String, method: &str, route: &str, histogram: &Histogram) {
    let labels = [("method", method), ("route", route)];
    let bucket = "weir_http_request_duration_seconds_bucket";
    for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
        let le = bound.to_string();
        sample(out, bucket, &[labels[0], labels[1], ("le", &le)], *count);
    }
    let all = [labels[0], labels[1], ("le", "+Inf")];
    sample(out, bucket, &all, histogram.count);
    let sum = "weir_http_request_duration_seconds_sum";
    sample(out, sum, &labels, histogram.sum);
    let count = "weir_http_request_duration_seconds_count";
    sample(out, count, &labels, histogram.count);
}

fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
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

/// Unix milliseconds as seconds.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_written_in_prometheus_text_format() {
        let mut out = String::new();
        family(&mut out, "m", Kind::Gauge, "Help.");
        sample(&mut out, "m", &[("a", "x\"y\\z\n")], 1.5);
        sample(&mut out, "m", &[], 2);
        assert_eq!(
            out,
            "# HELP m Help.\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\n\"} 1.5\nm 2\n"
        );
    }

    #[test]
    fn a_table_writes_each_family_once_with_a_sample_per_source() {
        let a = (
            "a".to_owned(),
            CycleTotals {
                pages: 3,
                ..CycleTotals::default()
            },
        );
        let b = (
            "b".to_owned(),
            CycleTotals {
                pages: 5,
                ..CycleTotals::default()
            },
        );
        let records = [&a, &b].into_iter().map(|(name, totals)| (name, totals));
        let mut out = String::new();
        write_per_source(&mut out, &TOTALS_FAMILIES[..1], TOTALS_NOTE, records);
        assert_eq!(
            out,
            "# HELP weir_source_pages_total Pages committed. Over the recorded cycles and \
             the current one (a reset restarts it).\n\
             # TYPE weir_source_pages_total counter\n\
             weir_source_pages_total{source=\"a\"} 3\n\
             weir_source_pages_total{source=\"b\"} 5\n"
        );
    }

    #[test]
    fn a_missing_value_leaves_the_source_out() {
        let status = ReloadStatus::default();
        let name = "s".to_owned();
        let mut out = String::new();
        let last_reload = &RELOAD_FAMILIES[1..2];
        write_per_source(&mut out, last_reload, "", [(&name, &status)].into_iter());
        assert!(!out.contains("source=\"s\""), "{out}");
    }

    #[test]
    fn the_histogram_is_cumulative() {
        let metrics = HttpMetrics::default();
        metrics.record("GET", "/x", 200, 0.003);
        metrics.record("GET", "/x", 500, 0.2);
        let mut out = String::new();
        metrics.write(&mut out);
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
