//! `weir bench engine`: whole cycles through the engine, as `weir serve`
//! runs them (bursts, cursor and marks committed with each page, the sweep),
//! on the `synthetic` source against SQLite or PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use weir::engine::{Rest, SourceOptions, Supervisor, SupervisorOptions};
use weir::runtime::{Plugin, PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::{Catalog, CycleRecord, now_ms};

/// Time three cycles of the synthetic source through the engine: a first
/// cycle into an empty catalog, the same cycle again (nothing changed), and
/// a cycle in which 10% of the entities changed and 5% are gone; then peak
/// memory. Use an empty database.
#[derive(Debug, Args)]
pub struct EngineBenchArgs {
    #[command(flatten)]
    plugin: super::SyntheticPlugin,

    /// The database to fill: `sqlite://FILE` or `postgres://…` (an empty
    /// database). Default: a SQLite file in a temporary directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,

    /// Entities per cycle.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    entities: u64,

    /// Entities per page.
    #[arg(long, value_name = "N", default_value_t = 500)]
    page_size: u64,

    /// Approximate size of each entity's JSON, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1000)]
    entity_bytes: u64,
}

const SOURCE: &str = "synthetic";

pub async fn bench(args: EngineBenchArgs) -> anyhow::Result<()> {
    let bytes = args.plugin.read().await?;
    let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| weir::store::sqlite_url_for(&temp.path().join("bench.db")));
    let store = Catalog::open(&url).await?;
    println!("database: {url}");
    println!(
        "{} entities of ~{} bytes in pages of {}, burst interval 0",
        args.entities, args.entity_bytes, args.page_size
    );
    let runtime = PluginRuntime::new(RuntimeOptions::default())?;
    println!(
        "{:<40} {:>9} {:>12} {:>9} {:>9} {:>9}",
        "cycle", "seconds", "entities/s", "added", "updated", "removed"
    );

    let all = plugin(&runtime, &args, &bytes, args.entities, 0).await?;
    let engine = Supervisor::start(store.clone(), vec![(all, options())], engine_options());
    report("first cycle", &wait_for_cycle(&store, SOURCE, 1).await?);
    engine.trigger(SOURCE).await?;
    report(
        "second cycle, nothing changed",
        &wait_for_cycle(&store, SOURCE, 2).await?,
    );
    engine.shutdown().await;

    let kept = args.entities - args.entities / 20;
    let changed = plugin(&runtime, &args, &bytes, kept, 10).await?;
    let engine = Supervisor::start(store.clone(), vec![(changed, options())], engine_options());
    engine.trigger(SOURCE).await?;
    report(
        "third cycle, 10% changed, 5% removed",
        &wait_for_cycle(&store, SOURCE, 3).await?,
    );
    engine.shutdown().await;

    println!(
        "peak memory (VmHWM): {}",
        super::store::peak_memory().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

pub(super) fn options() -> SourceOptions {
    SourceOptions {
        burst_interval: Duration::ZERO,
        rest: Rest::For(Duration::from_secs(24 * 60 * 60)),
        ..SourceOptions::default()
    }
}

pub(super) fn engine_options() -> SupervisorOptions {
    SupervisorOptions {
        poll: Duration::from_millis(20),
        ..SupervisorOptions::default()
    }
}

async fn plugin(
    runtime: &PluginRuntime,
    args: &EngineBenchArgs,
    bytes: &[u8],
    count: u64,
    changed_percent: u64,
) -> anyhow::Result<Plugin> {
    let mut settings = SourceSettings::default();
    for (key, value) in [
        ("count", count),
        ("page-size", args.page_size),
        ("entity-bytes", args.entity_bytes),
        ("changed-percent", changed_percent),
    ] {
        settings.config.insert(key.into(), value.to_string());
    }
    Ok(runtime
        .load_bytes(&args.plugin.path, bytes.to_vec(), settings)
        .await?)
}

/// A completed cycle, and how long it took from its start until its record
/// was written (after its sweep).
pub(super) struct TimedCycle {
    pub(super) record: CycleRecord,
    pub(super) seconds: f64,
}

/// Wait until cycle `number` of `source` is over; fail if it did not
/// complete. The cycle's history row gives its start; its end is when the
/// row appears, sweep included (the row's own end is its last page's).
pub(super) async fn wait_for_cycle(
    store: &Catalog,
    source: &str,
    number: i64,
) -> anyhow::Result<TimedCycle> {
    let started = Instant::now();
    loop {
        if let Some(cycle) = store
            .cycles(source, 1)
            .await?
            .into_iter()
            .find(|cycle| cycle.cycle == number)
        {
            if cycle.outcome != "completed" {
                let errors = store.recent_errors(source).await?;
                bail!(
                    "{source}: cycle {number} ended {}: {:?}",
                    cycle.outcome,
                    errors.first().map(|e| &e.message)
                );
            }
            let seconds = (now_ms() - cycle.started_ms) as f64 / 1000.0;
            return Ok(TimedCycle {
                record: cycle,
                seconds,
            });
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("{source}: cycle {number} did not end within an hour");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn report(label: &str, cycle: &TimedCycle) {
    let (totals, seconds) = (&cycle.record.totals, cycle.seconds);
    println!(
        "{label:<40} {seconds:>9.2} {:>12.0} {:>9} {:>9} {:>9}",
        totals.entities as f64 / seconds,
        totals.added,
        totals.updated,
        totals.removed,
    );
}
