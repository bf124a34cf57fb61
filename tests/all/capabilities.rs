//! Granted capabilities against real components: outbound HTTP reaches only
//! the granted hosts (and loopback only when private networks are allowed),
//! times out per request, is counted per source; the `http-pages` example
//! source pages through a local JSON API and maps 429/5xx to transient and
//! 4xx to fatal errors; and a probe that tries files, the environment, raw
//! sockets and an ungranted host finds every door shut, while the host
//! carries on.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use weir::runtime::{
    Cursor, HostRule, Limits, OutboundGrant, Plugin, PluginRuntime, RuntimeOptions,
    SourceErrorKind, SourceSettings,
};

use crate::guests;

/// A local JSON API: `/items` pages through `pages` pages of two items each
/// (`?cursor=N`); `/status/CODE` answers CODE; `/hang` never answers.
struct Api {
    address: SocketAddr,
    hits: Arc<AtomicU64>,
}

#[derive(Clone)]
struct ApiState {
    hits: Arc<AtomicU64>,
    pages: u64,
}

async fn serve_api(pages: u64) -> Api {
    let hits = Arc::new(AtomicU64::new(0));
    let state = ApiState {
        hits: hits.clone(),
        pages,
    };
    let app = Router::new()
        .route("/items", get(items))
        .route("/status/{code}", get(status))
        .route("/hang", get(hang))
        .route("/bytes/{count}", get(bytes))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Api { address, hits }
}

#[derive(serde::Deserialize)]
struct ItemsQuery {
    cursor: Option<u64>,
}

async fn items(State(state): State<ApiState>, Query(query): Query<ItemsQuery>) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    let page = query.cursor.unwrap_or(0);
    let items: Vec<Value> = (0..2)
        .map(|i| {
            json!({
                "name": format!("svc-{page}-{i}"),
                "owner": "team-a",
                "type": "service",
                "lifecycle": "production",
            })
        })
        .collect();
    let next = (page + 1 < state.pages).then(|| (page + 1).to_string());
    axum::Json(json!({ "items": items, "next": next })).into_response()
}

async fn status(
    State(state): State<ApiState>,
    axum::extract::Path(code): axum::extract::Path<u16>,
) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    let code = StatusCode::from_u16(code).expect("status code");
    (code, [("retry-after", "7")], "{}").into_response()
}

async fn bytes(
    State(state): State<ApiState>,
    axum::extract::Path(count): axum::extract::Path<usize>,
) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    vec![b'x'; count].into_response()
}

async fn hang(State(state): State<ApiState>) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "too late".into_response()
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// A grant of this server's address.
    fn grant(&self, allow_private: bool) -> OutboundGrant {
        OutboundGrant {
            hosts: vec![HostRule::parse(&self.address.to_string()).expect("rule")],
            allow_private,
            ..OutboundGrant::default()
        }
    }
}

/// Everything the host logs during the tests (one global subscriber).
fn host_log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = log.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        log
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The host's log lines that contain `needle`.
fn log_lines_with(needle: &str) -> Vec<String> {
    let log = host_log().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeOptions::default()).expect("runtime")
}

fn settings(config: &[(&str, &str)], outbound: OutboundGrant) -> SourceSettings {
    SourceSettings {
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        outbound,
        ..SourceSettings::default()
    }
}

async fn load(runtime: &PluginRuntime, path: &str, settings: SourceSettings) -> Plugin {
    runtime
        .load(Path::new(path), settings)
        .await
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A whole cycle in one burst: the entities and the number of pages.
async fn cycle(plugin: &Plugin) -> (Vec<Value>, usize) {
    let mut burst = plugin.open_burst().await.expect("open");
    let mut cursor: Option<Cursor> = None;
    let mut entities = Vec::new();
    let mut pages = 0;
    loop {
        let page = burst.next(cursor.as_ref()).await.expect("next");
        pages += 1;
        for entity in &page.entities {
            entities.push(serde_json::from_str(entity.json()).expect("entity JSON"));
        }
        if page.done {
            burst.close().await.expect("close");
            return (entities, pages);
        }
        cursor = page.cursor;
    }
}

/// The error of the first page of a fresh burst.
async fn first_page_error(plugin: &Plugin) -> SourceErrorKind {
    let mut burst = plugin.open_burst().await.expect("open");
    let error = burst.next(None).await.expect_err("next should fail");
    let _ = burst.close().await;
    error.kind
}

/// After a refusal or failure, a granted request on the same runtime works.
async fn assert_host_carries_on(runtime: &PluginRuntime, api: &Api) {
    let plugin = load(
        runtime,
        guests::HTTP_PAGES,
        settings(&[("base-url", &api.url("/items"))], api.grant(true)),
    )
    .await;
    let (entities, _) = cycle(&plugin).await;
    assert!(!entities.is_empty());
}

#[tokio::test]
async fn http_pages_follows_the_cursor_to_the_last_page() {
    let api = serve_api(3).await;
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::HTTP_PAGES,
        settings(&[("base-url", &api.url("/items"))], api.grant(true)),
    )
    .await;
    assert_eq!(plugin.provider_name(), "http-pages");
    let (entities, pages) = cycle(&plugin).await;
    assert_eq!(pages, 3);
    let names: Vec<&str> = entities
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "svc-0-0", "svc-0-1", "svc-1-0", "svc-1-1", "svc-2-0", "svc-2-1"
        ]
    );
    assert_eq!(
        entities[0]["spec"],
        json!({"owner": "team-a", "type": "service", "lifecycle": "production"})
    );
    assert_eq!(api.hits(), 3);
    let stats = plugin.outbound_stats();
    assert_eq!((stats.requests, stats.denied, stats.failed), (3, 0, 0));
    assert!(stats.bytes_received > 300, "{stats:?}");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient_and_4xx_fatal() {
    let api = serve_api(1).await;
    let runtime = runtime();
    for (code, transient) in [
        (429, true),
        (500, true),
        (503, true),
        (404, false),
        (401, false),
    ] {
        let plugin = load(
            &runtime,
            guests::HTTP_PAGES,
            settings(
                &[("base-url", &api.url(&format!("/status/{code}")))],
                api.grant(true),
            ),
        )
        .await;
        match first_page_error(&plugin).await {
            SourceErrorKind::Transient { message } if transient => {
                assert!(message.contains(&format!("HTTP {code}")), "{message}");
                assert!(message.contains("Retry-After: 7"), "{message}");
            }
            SourceErrorKind::Fatal { message } if !transient => {
                assert!(message.contains(&format!("HTTP {code}")), "{message}");
            }
            other => panic!("{code}: unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_hanging_server_ends_in_the_request_timeout_or_the_deadline() {
    let api = serve_api(1).await;
    let runtime = runtime();
    let url = api.url("/hang");

    // The request timeout comes first: a transient error inside the guest.
    let mut grant = api.grant(true);
    grant.request_timeout = Duration::from_millis(300);
    let plugin = load(
        &runtime,
        guests::HTTP_PAGES,
        settings(&[("base-url", &url)], grant),
    )
    .await;
    let started = Instant::now();
    match first_page_error(&plugin).await {
        SourceErrorKind::Transient { message } => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(plugin.outbound_stats().failed, 1);

    // The call's deadline comes first: the host gives up on the call.
    let mut settings = settings(&[("base-url", &url)], api.grant(true));
    settings.limits = Limits {
        deadline: Duration::from_millis(500),
        ..Limits::default()
    };
    let plugin = load(&runtime, guests::HTTP_PAGES, settings).await;
    let started = Instant::now();
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(kind, SourceErrorKind::DeadlinePassed { .. }),
        "{kind:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_host_carries_on(&runtime, &api).await;
}

#[tokio::test]
async fn a_host_that_was_not_granted_is_refused_in_the_guest() {
    host_log();
    let api = serve_api(1).await;
    let runtime = runtime();
    // Granted: another host only. Nothing reaches the server.
    let grant = OutboundGrant {
        hosts: vec![HostRule::parse("api.github.com").unwrap()],
        allow_private: true,
        ..OutboundGrant::default()
    };
    let plugin = load(
        &runtime,
        guests::HTTP_PAGES,
        settings(&[("base-url", &api.url("/items"))], grant),
    )
    .await;
    match first_page_error(&plugin).await {
        SourceErrorKind::Fatal { message } => {
            assert!(message.contains("request denied by the host"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(api.hits(), 0);
    let stats = plugin.outbound_stats();
    assert_eq!((stats.requests, stats.denied), (0, 1));
    // One host log line names the source and the URL.
    let url = api.url("/items");
    let lines = log_lines_with(&format!("url=\"{url}\""));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    assert!(
        lines[0].contains("outbound request refused"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("source=http-pages"), "{}", lines[0]);

    // The right port but another port is not the same grant either.
    let other_port = OutboundGrant {
        hosts: vec![HostRule::parse(&format!("127.0.0.1:{}", api.address.port() + 1)).unwrap()],
        allow_private: true,
        ..OutboundGrant::default()
    };
    let plugin = load(
        &runtime,
        guests::HTTP_PAGES,
        settings(&[("base-url", &api.url("/items"))], other_port),
    )
    .await;
    assert!(matches!(
        first_page_error(&plugin).await,
        SourceErrorKind::Fatal { .. }
    ));
    assert_eq!(api.hits(), 0);
    assert_host_carries_on(&runtime, &api).await;
}

#[tokio::test]
async fn loopback_is_refused_unless_private_networks_are_allowed() {
    let api = serve_api(1).await;
    let runtime = runtime();
    let port = api.address.port();
    // By address, and by a name that resolves to loopback.
    for (base, rule) in [
        (api.url("/items"), api.address.to_string()),
        (
            format!("http://localhost:{port}/items"),
            format!("localhost:{port}"),
        ),
    ] {
        let grant = OutboundGrant {
            hosts: vec![HostRule::parse(&rule).unwrap()],
            ..OutboundGrant::default()
        };
        let hits = api.hits();
        let plugin = load(
            &runtime,
            guests::HTTP_PAGES,
            settings(&[("base-url", &base)], grant.clone()),
        )
        .await;
        match first_page_error(&plugin).await {
            SourceErrorKind::Fatal { message } => {
                assert!(message.contains("request denied by the host"), "{message}")
            }
            other => panic!("{rule}: unexpected {other:?}"),
        }
        assert_eq!(api.hits(), hits, "{rule}");

        let allowed = OutboundGrant {
            allow_private: true,
            ..grant
        };
        let plugin = load(
            &runtime,
            guests::HTTP_PAGES,
            settings(&[("base-url", &base)], allowed),
        )
        .await;
        let (entities, _) = cycle(&plugin).await;
        assert_eq!(entities.len(), 2, "{rule}");
    }
}

#[tokio::test]
async fn the_sandbox_probe_finds_every_door_shut() {
    let api = serve_api(1).await;
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_SANDBOX_PROBE,
        settings(
            &[
                ("url", &api.url("/items")),
                ("tcp-address", &api.address.to_string()),
            ],
            OutboundGrant::default(),
        ),
    )
    .await;
    let (entities, _) = cycle(&plugin).await;
    let outcomes: Vec<(String, String)> = entities
        .iter()
        .map(|e| {
            (
                e["metadata"]["name"].as_str().unwrap().to_owned(),
                e["metadata"]["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = outcomes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["probe-file", "probe-env", "probe-tcp", "probe-http"]
    );
    for (name, outcome) in &outcomes {
        assert!(outcome.starts_with("refused: "), "{name}: {outcome}");
    }
    assert!(outcomes[3].1.contains("denied"), "{:?}", outcomes[3]);
    assert_eq!(api.hits(), 0);
    assert_eq!(plugin.outbound_stats().denied, 1);
    assert_host_carries_on(&runtime, &api).await;
}

/// Outbound HTTP requests per second one source makes to a local server
/// (each `next` is one GET of a two-item page). Run by hand, in release:
/// `cargo test --release --test capabilities -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark; run by hand in release"]
async fn bench_outbound_requests_per_second() {
    const PAGES: u64 = 2_000;
    let api = serve_api(PAGES).await;
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::HTTP_PAGES,
        settings(&[("base-url", &api.url("/items"))], api.grant(true)),
    )
    .await;
    cycle(&plugin).await; // warm up
    let before = plugin.outbound_stats();
    let started = Instant::now();
    let (entities, pages) = cycle(&plugin).await;
    let elapsed = started.elapsed();
    let after = plugin.outbound_stats();
    assert_eq!(pages as u64, PAGES);
    assert_eq!(entities.len() as u64, 2 * PAGES);
    let requests = after.requests - before.requests;
    println!(
        "outbound HTTP: {requests} requests in {:.2} s = {:.0} requests/s from one source \
         ({} bytes received)",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        after.bytes_received - before.bytes_received,
    );
}

/// The one entity named `name` of a hostile plugin's page, and its description.
fn description_of(entities: &[Value], name: &str) -> String {
    entities
        .iter()
        .find(|e| e["metadata"]["name"] == name)
        .and_then(|e| e["metadata"]["description"].as_str())
        .unwrap_or_else(|| panic!("no entity {name} in {entities:#?}"))
        .to_owned()
}

#[tokio::test]
async fn a_flood_of_outbound_requests_is_capped_per_instance() {
    let api = serve_api(1).await;
    let runtime = runtime();
    let config = [("requests", "10000"), ("url", &api.url("/items"))];
    let plugin = load(
        &runtime,
        guests::PLUGIN_HOSTILE,
        settings(&config, api.grant(true)),
    )
    .await;
    let (entities, _) = cycle(&plugin).await;
    let cap = weir::runtime::DEFAULT_MAX_CONCURRENT_REQUESTS;
    assert_eq!(
        description_of(&entities, "hostile-requests"),
        format!(
            "{cap} × HTTP 200; {} × connection-limit-reached",
            10_000 - cap
        )
    );
    assert_eq!(
        api.hits(),
        cap as u64,
        "only the admitted requests were sent"
    );
    assert_eq!(plugin.outbound_stats().denied, (10_000 - cap) as u64);
    assert_host_carries_on(&runtime, &api).await;
}

#[tokio::test]
async fn a_response_longer_than_the_grant_is_cut_off_in_the_guest() {
    let api = serve_api(1).await;
    let runtime = runtime();
    let two_mib = api.url(&format!("/bytes/{}", 2 << 20));
    let read = |max_response_bytes: u64| {
        let grant = OutboundGrant {
            max_response_bytes,
            ..api.grant(true)
        };
        let plugin = load(
            &runtime,
            guests::PLUGIN_HOSTILE,
            settings(&[("read-url", &two_mib)], grant),
        );
        async move { description_of(&cycle(&plugin.await).await.0, "hostile-read") }
    };
    let refused = read(1 << 20).await;
    assert!(
        refused.starts_with("refused: ")
            && refused.contains("HTTP response body size exceeds limit: 1048576 bytes"),
        "{refused}"
    );
    assert_eq!(read(4 << 20).await, format!("read {} bytes", 2 << 20));
}

#[tokio::test]
async fn a_huge_log_line_is_cut_and_cannot_forge_a_line_of_the_hosts_log() {
    host_log();
    let runtime = runtime();
    let config = [("log-bytes", "100000000"), ("provider-name", "log-forger")];
    let plugin = load(
        &runtime,
        guests::PLUGIN_HOSTILE,
        settings(&config, OutboundGrant::default()),
    )
    .await;
    cycle(&plugin).await;
    let lines = log_lines_with("admin token accepted");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(
        line.contains("log-forger"),
        "attributed to the source: {line}"
    );
    assert!(
        line.contains("hostile\\n2026-01-01T00:00:00Z  INFO weir: admin token accepted\\u{1b}[31m"),
        "escaped: {line}"
    );
    assert!(line.len() < 5000, "cut: {} bytes", line.len());
    assert!(
        line.contains("… (cut; 100000000 bytes in all)"),
        "{}",
        &line[line.len() - 80..]
    );
}
