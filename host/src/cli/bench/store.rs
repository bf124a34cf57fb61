//! `weir bench store`: the whole ingest path (plugin → engine → core →
//! store) on the
//! `synthetic` source, against SQLite or PostgreSQL.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use weir::engine::ingest_page;
use weir::runtime::{Limits, Plugin, PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::{Catalog, SourceRole};
use weir_core::intake::Admission;

/// Measure ingest into the store: a first ingest of the synthetic source, the
/// same pages again unchanged, and a second source merging into the same
/// refs; then peak memory. Use an empty database.
#[derive(Debug, Args)]
pub struct StoreBenchArgs {
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

pub async fn bench(args: StoreBenchArgs) -> anyhow::Result<()> {
    let bytes = args.plugin.read().await?;
    let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| weir::store::sqlite_url_for(&temp.path().join("bench.db")));
    let store = Catalog::open(&url).await?;
    println!("database: {url}");
    println!(
        "{} entities of ~{} bytes in pages of {}",
        args.entities, args.entity_bytes, args.page_size
    );
    let runtime = PluginRuntime::new(RuntimeOptions::default())?;
    let first = plugin(&runtime, &args, &bytes, 0).await?;
    let second = plugin(&runtime, &args, &bytes, 1).await?;
    let primary = SourceRole {
        name: "synthetic",
        priority: 10,
        owner_rule: false,
    };
    let secondary = SourceRole {
        name: "synthetic-2",
        priority: 5,
        owner_rule: false,
    };
    println!(
        "{:<34} {:>12} {:>14} {:>16}",
        "run", "seconds", "entities/s", "store entities/s"
    );
    report(
        "first ingest",
        &args,
        ingest(&store, &first, primary).await?,
    );
    report(
        "same pages again (unchanged)",
        &args,
        ingest(&store, &first, primary).await?,
    );
    report(
        "second source, same refs",
        &args,
        ingest(&store, &second, secondary).await?,
    );
    println!(
        "peak memory (VmHWM): {}",
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

async fn plugin(
    runtime: &PluginRuntime,
    args: &StoreBenchArgs,
    bytes: &[u8],
    seed: u64,
) -> anyhow::Result<Plugin> {
    let mut settings = SourceSettings::default();
    for (key, value) in [
        ("count", args.entities),
        ("page-size", args.page_size),
        ("entity-bytes", args.entity_bytes),
        ("seed", seed),
    ] {
        settings.config.insert(key.into(), value.to_string());
    }
    Ok(runtime
        .load_bytes(&args.plugin.path, bytes.to_vec(), settings)
        .await?)
}

/// Times of one cycle: all of it, and the part spent in intake and the store.
struct Timing {
    total: Duration,
    store: Duration,
}

async fn ingest(
    store: &Catalog,
    plugin: &Plugin,
    source: SourceRole<'_>,
) -> anyhow::Result<Timing> {
    let started = Instant::now();
    let mut in_store = Duration::ZERO;
    let mut burst = plugin.open_burst().await?;
    let mut cursor = None;
    loop {
        let mut page = burst.next(cursor.as_ref()).await?;
        let applying = Instant::now();
        let entities = std::mem::take(&mut page.entities);
        let admission = Admission::anything_up_to(Limits::default().max_entity_bytes);
        let outcome = ingest_page(store, source, &admission, entities).await?;
        anyhow::ensure!(
            outcome.rejected.is_empty(),
            "rejected: {:?}",
            outcome.rejected.first()
        );
        in_store += applying.elapsed();
        if page.done {
            break;
        }
        cursor = page.cursor;
    }
    burst.close().await?;
    Ok(Timing {
        total: started.elapsed(),
        store: in_store,
    })
}

fn report(label: &str, args: &StoreBenchArgs, timing: Timing) {
    let entities = args.entities as f64;
    println!(
        "{label:<34} {:>12.2} {:>14.0} {:>16.0}",
        timing.total.as_secs_f64(),
        entities / timing.total.as_secs_f64(),
        entities / timing.store.as_secs_f64(),
    );
}

/// The process's peak resident memory, from /proc (Linux).
pub(super) fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}
