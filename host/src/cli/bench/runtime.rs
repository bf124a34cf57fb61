//! `weir bench runtime`: what the plugin runtime costs, measured on the
//! `synthetic` source.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use weir::runtime::{Instrumentation, Plugin, PluginRuntime, RuntimeOptions, SourceSettings};

/// Measure the plugin runtime: compile time, cached load time, burst open
/// time, and entities per second across the boundary for several page sizes,
/// with and without fuel and epoch instrumentation. Build it in release mode.
#[derive(Debug, Args)]
pub struct RuntimeBenchArgs {
    #[command(flatten)]
    plugin: super::SyntheticPlugin,

    /// Entities pulled in each throughput run.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    entities: u64,

    /// Approximate size of each entity's JSON, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1200)]
    entity_bytes: u64,

    /// Runs of each measurement; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
}

const PAGE_SIZES: [u64; 3] = [100, 500, 1000];

pub async fn bench(args: RuntimeBenchArgs) -> anyhow::Result<()> {
    let bytes = args.plugin.read().await?;
    let cache = tempfile::tempdir().context("cannot create a temporary cache directory")?;
    bench_loading(&args, &bytes, cache.path()).await?;
    bench_throughput(&args, &bytes, cache.path()).await?;
    Ok(())
}

async fn bench_loading(args: &RuntimeBenchArgs, bytes: &[u8], cache: &Path) -> anyhow::Result<()> {
    let uncached = PluginRuntime::new(RuntimeOptions::default())?;
    let compile = median_of(args.runs, || async {
        let started = Instant::now();
        uncached
            .load_bytes(&args.plugin.path, bytes.to_vec(), SourceSettings::default())
            .await?;
        Ok(started.elapsed())
    })
    .await?;
    println!("compile + check (no cache):        {}", show(compile));

    let cached = runtime(cache, Instrumentation::default())?;
    cached
        .load_bytes(&args.plugin.path, bytes.to_vec(), SourceSettings::default())
        .await?;
    let load = median_of(args.runs.max(20), || async {
        let started = Instant::now();
        cached
            .load_bytes(&args.plugin.path, bytes.to_vec(), SourceSettings::default())
            .await?;
        Ok(started.elapsed())
    })
    .await?;
    println!("load from the compiled-code cache: {}", show(load));

    let plugin = cached
        .load_bytes(&args.plugin.path, bytes.to_vec(), SourceSettings::default())
        .await?;
    let open = median_of(1000, || async {
        let started = Instant::now();
        let burst = plugin.open_burst().await?;
        let elapsed = started.elapsed();
        burst.close().await?;
        Ok(elapsed)
    })
    .await?;
    println!(
        "open a burst (store + instantiate + set-up): {}",
        show(open)
    );
    Ok(())
}

async fn bench_throughput(
    args: &RuntimeBenchArgs,
    bytes: &[u8],
    cache: &Path,
) -> anyhow::Result<()> {
    let variants = [
        (
            "fuel + epochs",
            Instrumentation {
                fuel: true,
                epochs: true,
            },
        ),
        (
            "epochs only",
            Instrumentation {
                fuel: false,
                epochs: true,
            },
        ),
        (
            "fuel only",
            Instrumentation {
                fuel: true,
                epochs: false,
            },
        ),
        (
            "neither",
            Instrumentation {
                fuel: false,
                epochs: false,
            },
        ),
    ];
    println!(
        "\nthroughput: {} entities of ~{} bytes per run, median of {} runs",
        args.entities, args.entity_bytes, args.runs
    );
    println!(
        "{:<16} {:>10} {:>14} {:>10} {:>14}",
        "instrumentation", "page size", "entities/s", "MB/s", "fuel/entity"
    );
    for (label, instrumentation) in variants {
        let runtime = runtime(cache, instrumentation)?;
        for page_size in PAGE_SIZES {
            let plugin = runtime
                .load_bytes(
                    &args.plugin.path,
                    bytes.to_vec(),
                    synthetic_settings(args, page_size),
                )
                .await?;
            let mut runs = Vec::with_capacity(args.runs);
            for _ in 0..args.runs.max(1) {
                runs.push(pull_all(&plugin).await?);
            }
            runs.sort_by_key(|run| run.0);
            let (elapsed, fuel, json_bytes) = runs[runs.len() / 2];
            let fuel_per_entity = fuel as f64 / args.entities.max(1) as f64;
            let seconds = elapsed.as_secs_f64();
            println!(
                "{label:<16} {page_size:>10} {:>14.0} {:>10.1} {:>14.0}",
                args.entities as f64 / seconds,
                json_bytes as f64 / seconds / 1e6,
                fuel_per_entity,
            );
        }
    }
    Ok(())
}

/// Pull a whole cycle in one burst: time, fuel used, bytes of entity JSON.
async fn pull_all(plugin: &Plugin) -> anyhow::Result<(Duration, u64, usize)> {
    let started = Instant::now();
    let mut burst = plugin.open_burst().await?;
    let mut cursor = None;
    let mut bytes = 0;
    loop {
        let page = burst.next(cursor.as_ref()).await?;
        bytes += page.entities.iter().map(|e| e.json().len()).sum::<usize>();
        if page.done {
            break;
        }
        cursor = page.cursor;
    }
    let stats = burst.close().await?;
    Ok((started.elapsed(), stats.fuel, bytes))
}

fn synthetic_settings(args: &RuntimeBenchArgs, page_size: u64) -> SourceSettings {
    let mut settings = SourceSettings::default();
    for (key, value) in [
        ("count", args.entities),
        ("page-size", page_size),
        ("entity-bytes", args.entity_bytes),
    ] {
        settings.config.insert(key.into(), value.to_string());
    }
    settings
}

fn runtime(cache: &Path, instrumentation: Instrumentation) -> anyhow::Result<PluginRuntime> {
    Ok(PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(cache.to_owned()),
        instrumentation,
    })?)
}

async fn median_of<F, Fut>(runs: usize, mut measure: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        times.push(measure().await?);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn show(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.1} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}
