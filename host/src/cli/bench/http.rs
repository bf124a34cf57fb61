//! `weir bench http`: how many requests a second the HTTP API answers for a
//! listing page, a filtered listing and an events replay, to concurrent
//! clients on kept-alive loopback connections. Against a server of its own
//! (a SQLite catalog the synthetic source fills first), or against one
//! already running (`--server`), so that two builds can be compared on the
//! same catalog.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use weir::engine::Supervisor;
use weir::http::HttpSettings;
use weir::runtime::{PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::Catalog;

use crate::cli::DurationArg;

/// Drive the HTTP API's read routes with concurrent clients and report
/// requests/s and latencies per route.
#[derive(Debug, Args)]
pub struct HttpBenchArgs {
    #[command(flatten)]
    plugin: super::SyntheticPlugin,

    /// Drive this running `weir serve` (`http://127.0.0.1:7007`) and its
    /// catalog as it is, instead of a server of the bench's own.
    #[arg(long, value_name = "URL")]
    server: Option<String>,

    /// A token to send (`Authorization: Bearer`), for a server whose reads
    /// need one.
    #[arg(long, value_name = "TOKEN", env = "WEIR_BENCH_TOKEN")]
    token: Option<String>,

    /// Entities in the bench's own catalog.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    entities: u64,

    /// Concurrent clients, each on one kept-alive connection.
    #[arg(long, value_name = "N", default_value_t = 8)]
    clients: usize,

    /// How long each route is driven.
    #[arg(long, value_name = "DURATION", default_value_t = DurationArg(Duration::from_secs(5)))]
    duration: DurationArg,
}

/// The routes driven, with what they stand for.
const ROUTES: &[(&str, &str)] = &[
    ("listing page (100)", "/api/entities?limit=100"),
    (
        "filtered listing (100)",
        "/api/entities?limit=100&filter=spec.type=service",
    ),
    ("events replay (500)", "/api/events?offset=0&limit=500"),
];

pub async fn bench(args: HttpBenchArgs) -> anyhow::Result<()> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (address, own) = match &args.server {
        Some(url) => (server_address(url)?, None),
        None => {
            let (address, engine) = own_server(&args, &temp.path().join("bench.db")).await?;
            (address, Some(engine))
        }
    };
    println!(
        "{} clients on kept-alive connections to {address}, {} per route",
        args.clients, args.duration
    );
    println!(
        "{:<24} {:>9} {:>11} {:>10} {:>10} {:>10}",
        "route", "requests", "requests/s", "MB/s", "p50 ms", "p99 ms"
    );
    for (label, path) in ROUTES {
        let figures = drive(address, path, &args).await?;
        figures.print(label);
    }
    if let Some(engine) = own {
        engine.shutdown().await;
    }
    Ok(())
}

/// `http://HOST:PORT` (loopback or not) as a socket address.
fn server_address(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url
        .strip_prefix("http://")
        .with_context(|| format!("--server {url}: expected http://HOST:PORT"))?
        .trim_end_matches('/');
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .with_context(|| format!("--server {url}: cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("--server {url}: {authority} has no address"))
}

/// Fill a SQLite catalog at `path` with one cycle of the synthetic source,
/// and serve it on a free loopback port as `weir serve` does.
async fn own_server(
    args: &HttpBenchArgs,
    path: &std::path::Path,
) -> anyhow::Result<(SocketAddr, Arc<Supervisor>)> {
    let bytes = args.plugin.read().await?;
    let store = Catalog::open(&weir::store::sqlite_url_for(path)).await?;
    let runtime = PluginRuntime::new(RuntimeOptions::default())?;
    let mut settings = SourceSettings::default();
    settings
        .config
        .insert("count".into(), args.entities.to_string());
    let plugin = runtime
        .load_bytes(&args.plugin.path, bytes, settings)
        .await?;
    let plugin_name = plugin.provider_name().to_owned();
    let engine = Arc::new(Supervisor::start(
        store.clone(),
        vec![(plugin, super::engine::options())],
        super::engine::engine_options(),
    ));
    let cycle = super::engine::wait_for_cycle(&store, &plugin_name, 1).await?;
    println!(
        "catalog: {} entities from the synthetic source",
        cycle.record.totals.entities
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on loopback")?;
    let address = listener.local_addr()?;
    let settings = HttpSettings::default();
    let limits = settings.listener_limits();
    let router = weir::http::router_with(Arc::clone(&engine), settings);
    tokio::spawn(async move {
        if let Err(error) =
            weir::http::serve(listener, router, limits, std::future::pending()).await
        {
            eprintln!("error: the bench's server stopped: {error}");
        }
    });
    Ok((address, engine))
}

/// What the clients of one route saw.
struct Figures {
    requests: usize,
    bytes: usize,
    seconds: f64,
    /// Every request's latency, sorted.
    latencies: Vec<Duration>,
}

impl Figures {
    fn print(&self, label: &str) {
        let at = |quantile: f64| {
            let index = ((self.latencies.len() as f64 - 1.0) * quantile).round() as usize;
            self.latencies
                .get(index)
                .map_or(f64::NAN, |latency| latency.as_secs_f64() * 1000.0)
        };
        println!(
            "{label:<24} {:>9} {:>11.0} {:>10.1} {:>10.2} {:>10.2}",
            self.requests,
            self.requests as f64 / self.seconds,
            self.bytes as f64 / self.seconds / 1e6,
            at(0.5),
            at(0.99),
        );
    }
}

/// Drive `path` with `args.clients` clients for `args.duration`.
async fn drive(address: SocketAddr, path: &str, args: &HttpBenchArgs) -> anyhow::Result<Figures> {
    let began = Instant::now();
    let until = began + args.duration.0;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let path = path.to_owned();
        let token = args.token.clone();
        clients.spawn(client(address, path, token, until));
    }
    let mut figures = Figures {
        requests: 0,
        bytes: 0,
        seconds: 0.0,
        latencies: Vec::new(),
    };
    for outcome in clients.join_all().await {
        let (bytes, latencies) = outcome?;
        figures.requests += latencies.len();
        figures.bytes += bytes;
        figures.latencies.extend(latencies);
    }
    figures.seconds = began.elapsed().as_secs_f64();
    figures.latencies.sort();
    Ok(figures)
}

/// One client: `GET path` on one connection, one request after another,
/// until `until`. The bytes of the bodies, and each request's latency.
async fn client(
    address: SocketAddr,
    path: String,
    token: Option<String>,
    until: Instant,
) -> anyhow::Result<(usize, Vec<Duration>)> {
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP handshake with {address}"))?;
    tokio::spawn(connection);
    let (mut bytes, mut latencies) = (0, Vec::new());
    while Instant::now() < until {
        let mut request = hyper::Request::get(path.as_str()).header("host", address.to_string());
        if let Some(token) = &token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Empty::<Bytes>::new())?;
        let sent = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        latencies.push(sent.elapsed());
        if !status.is_success() {
            bail!(
                "GET {path}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        bytes += body.len();
    }
    Ok((bytes, latencies))
}
