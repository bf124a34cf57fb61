//! `weir bench languages`: what a source costs in each guest language,
//! measured on the throughput sources (the same ~1.2 KB Component entities,
//! built with each SDK's entity builder, 500 a page).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Args;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};
use weir::engine::Supervisor;
use weir::runtime::{CallStats, Limits, Plugin, PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::Catalog;

/// Compare guest languages on the throughput sources: component size, compile
/// time, load from the compiled-code cache, instantiation, entities per
/// second across the boundary and end to end into SQLite, fuel per entity
/// and per page, peak guest memory. Each figure is the median of `--runs`
/// runs, with their range. Build the components first:
/// `tests/throughput/build.sh` (see its header), and weir with `--release`.
#[derive(Debug, Args)]
pub struct LanguagesBenchArgs {
    /// A component to measure, as `LABEL=FILE` (repeatable; the order is
    /// kept). Default: every throughput source `tests/throughput/build.sh`
    /// built (`rust`, `rust-hand-written`, `c`, `python`, `python-template`,
    /// `typescript`, `typescript-entity-json`, `typescript-starlingmonkey`;
    /// the `-template` and `-entity-json` rows are the same component run
    /// with its SDK's fast path, config `style`), skipping those not built.
    #[arg(long = "component", value_name = "LABEL=FILE", value_parser = labelled_file)]
    components: Vec<(String, PathBuf)>,

    /// Entities pulled in each throughput run, 500 a page.
    #[arg(long, value_name = "N", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    entities: u64,

    /// Runs of each measurement (at least 3 on a noisy machine); the median
    /// and the range are reported.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,

    /// A config value for every component (repeatable), e.g. `style=template`
    /// for the Python source's `EntityTemplate`, `style=json` for the
    /// TypeScript source's `entityJson`.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::cli::key_value)]
    config: Vec<(String, String)>,
}

/// Entities per page, as every throughput source writes them.
const PAGE_SIZE: u64 = 500;

/// Entity size asked of `synthetic` (the throughput sources' own is fixed).
const ENTITY_BYTES: u64 = 1200;

/// Instantiations timed per language (they take microseconds each).
const INSTANTIATIONS: usize = 200;

/// A throughput source to measure: its label, its file, and config of its
/// own (the fast-path variants' `style`).
struct Measured {
    label: String,
    path: PathBuf,
    config: Vec<(String, String)>,
}

/// The throughput sources where `tests/throughput/build.sh` puts them:
/// label, file (from the repository root), and the `style` it is run with
/// (each SDK's fast path beside its builder).
const DEFAULT_COMPONENTS: [(&str, &str, Option<&str>); 8] = [
    (
        "rust",
        "target/wasm32-wasip2/release/throughput_rust.wasm",
        None,
    ),
    (
        "rust-hand-written",
        "target/wasm32-wasip2/release/synthetic.wasm",
        None,
    ),
    ("c", "target/throughput/c.wasm", None),
    ("python", "target/throughput/python.wasm", None),
    (
        "python-template",
        "target/throughput/python.wasm",
        Some("template"),
    ),
    ("typescript", "target/throughput/typescript.wasm", None),
    (
        "typescript-entity-json",
        "target/throughput/typescript.wasm",
        Some("json"),
    ),
    (
        "typescript-starlingmonkey",
        "target/throughput/typescript-starlingmonkey.wasm",
        None,
    ),
];

pub async fn bench(args: LanguagesBenchArgs) -> anyhow::Result<()> {
    let components = components(&args)?;
    let runs = usize::try_from(args.runs).context("--runs is too large")?;
    println!(
        "{} entities per run in pages of {PAGE_SIZE}, {runs} runs per figure (median, [min–max]); \
         default limits: {} fuel per call",
        args.entities,
        Limits::default().fuel
    );
    let mut results = Vec::with_capacity(components.len());
    for measured in components {
        println!("\n== {}: {}", measured.label, measured.path.display());
        let bench = LanguageBench::new(&args, runs, measured).await?;
        results.push(bench.measure().await?);
    }
    print_table(&results);
    Ok(())
}

/// The components asked for, or the default ones that exist.
fn components(args: &LanguagesBenchArgs) -> anyhow::Result<Vec<Measured>> {
    if !args.components.is_empty() {
        return Ok(args
            .components
            .iter()
            .map(|(label, path)| Measured {
                label: label.clone(),
                path: path.clone(),
                config: Vec::new(),
            })
            .collect());
    }
    let mut found = Vec::new();
    for (label, file, style) in DEFAULT_COMPONENTS {
        let path = PathBuf::from(file);
        if path.is_file() {
            found.push(Measured {
                label: label.to_owned(),
                path,
                config: style
                    .map(|style| vec![("style".to_owned(), style.to_owned())])
                    .unwrap_or_default(),
            });
        } else {
            println!("skipping {label}: {file} is not built (tests/throughput/build.sh builds it)");
        }
    }
    if found.is_empty() {
        bail!(
            "none of the throughput sources is built: run tests/throughput/build.sh \
             from the repository root, or name components with --component LABEL=FILE"
        );
    }
    Ok(found)
}

fn labelled_file(text: &str) -> anyhow::Result<(String, PathBuf)> {
    let (label, file) = crate::cli::key_value(text)?;
    ensure!(!file.is_empty(), "no file after the label in {text:?}");
    Ok((label, PathBuf::from(file)))
}

/// One language's component, and the settings every measurement uses.
struct LanguageBench {
    label: String,
    path: PathBuf,
    bytes: Vec<u8>,
    settings: SourceSettings,
    entities: u64,
    runs: usize,
}

/// Samples of one figure.
struct Samples(Vec<f64>);

impl Samples {
    fn median(&self) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    fn durations(durations: &[Duration]) -> Samples {
        Samples(durations.iter().map(Duration::as_secs_f64).collect())
    }

    /// `median [min–max]` with `show` for each figure.
    fn show(&self, show: impl Fn(f64) -> String) -> String {
        format!(
            "{} [{}–{}]",
            show(self.median()),
            show(self.min()),
            show(self.max())
        )
    }
}

/// Everything measured for one language.
struct LanguageFigures {
    label: String,
    component_bytes: usize,
    entity_bytes: f64,
    compile: Samples,
    cached_load: Samples,
    instantiate: Samples,
    open_burst: Samples,
    boundary: Samples,
    end_to_end: Samples,
    fuel_per_entity: f64,
    largest_page_fuel: u64,
    peak_memory_bytes: usize,
}

/// One cycle pulled through the runtime alone.
struct Pull {
    elapsed: Duration,
    stats: CallStats,
    json_bytes: u64,
    largest_page_fuel: u64,
}

impl LanguageBench {
    async fn new(
        args: &LanguagesBenchArgs,
        runs: usize,
        Measured {
            label,
            path,
            config,
        }: Measured,
    ) -> anyhow::Result<Self> {
        let bytes = tokio::fs::read(&path)
            .await
            .with_context(|| format!("{}: cannot read the {label} component", path.display()))?;
        let mut settings = SourceSettings::default();
        for (key, value) in [
            ("count", args.entities),
            ("page-size", PAGE_SIZE),
            ("entity-bytes", ENTITY_BYTES),
        ] {
            settings.config.insert(key.into(), value.to_string());
        }
        settings.config.extend(config);
        settings.config.extend(args.config.iter().cloned());
        Ok(LanguageBench {
            label,
            path,
            bytes,
            settings,
            entities: args.entities,
            runs,
        })
    }

    async fn measure(&self) -> anyhow::Result<LanguageFigures> {
        let cache = tempfile::tempdir().context("cannot create a temporary cache directory")?;
        let compile = self.compile_times().await?;
        println!("compile (no cache):          {}", compile.show(seconds));
        let runtime = PluginRuntime::new(RuntimeOptions {
            cache_dir: Some(cache.path().to_owned()),
            ..RuntimeOptions::default()
        })?;
        let plugin = self.load(&runtime).await?;
        let cached_load = self.cached_load_times(&runtime).await?;
        println!("load from the cache:         {}", cached_load.show(millis));
        let instantiate = instantiate_times(cache.path()).await?;
        println!(
            "instantiate (store + instance): {}",
            instantiate.show(millis)
        );
        let open_burst = open_burst_times(&plugin).await?;
        println!("open a burst (+ `open` call): {}", open_burst.show(millis));

        let mut pulls = Vec::with_capacity(self.runs);
        for _ in 0..self.runs {
            pulls.push(self.pull(&plugin).await?);
        }
        let boundary = Samples(pulls.iter().map(|pull| self.rate(pull.elapsed)).collect());
        println!(
            "across the boundary:         {} entities/s",
            boundary.show(count)
        );
        let mut end_to_end = Vec::with_capacity(self.runs);
        for _ in 0..self.runs {
            end_to_end.push(self.rate(self.ingest(self.load(&runtime).await?).await?));
        }
        let end_to_end = Samples(end_to_end);
        println!(
            "end to end into SQLite:      {} entities/s",
            end_to_end.show(count)
        );
        Ok(self.figures(
            pulls,
            [compile, cached_load, instantiate, open_burst],
            boundary,
            end_to_end,
        ))
    }

    fn figures(
        &self,
        pulls: Vec<Pull>,
        [compile, cached_load, instantiate, open_burst]: [Samples; 4],
        boundary: Samples,
        end_to_end: Samples,
    ) -> LanguageFigures {
        // Fuel is deterministic: every run spends the same.
        let first = pulls.first();
        let per_entity = |value: u64| value as f64 / self.entities as f64;
        let figures = LanguageFigures {
            label: self.label.clone(),
            component_bytes: self.bytes.len(),
            entity_bytes: first.map_or(f64::NAN, |pull| per_entity(pull.json_bytes)),
            compile,
            cached_load,
            instantiate,
            open_burst,
            boundary,
            end_to_end,
            fuel_per_entity: first.map_or(f64::NAN, |pull| per_entity(pull.stats.fuel)),
            largest_page_fuel: pulls.iter().map(|p| p.largest_page_fuel).max().unwrap_or(0),
            peak_memory_bytes: pulls
                .iter()
                .map(|p| p.stats.peak_memory_bytes)
                .max()
                .unwrap_or(0),
        };
        println!(
            "fuel: {:.0} per entity, {} for the largest page ({:.1}% of the default budget); \
             entities of {:.0} bytes; peak guest memory {}",
            figures.fuel_per_entity,
            figures.largest_page_fuel,
            budget_share(figures.largest_page_fuel),
            figures.entity_bytes,
            mebibytes(figures.peak_memory_bytes),
        );
        figures
    }

    fn rate(&self, elapsed: Duration) -> f64 {
        self.entities as f64 / elapsed.as_secs_f64()
    }

    async fn load(&self, runtime: &PluginRuntime) -> anyhow::Result<Plugin> {
        Ok(runtime
            .load_bytes(&self.path, self.bytes.clone(), self.settings.clone())
            .await?)
    }

    /// Compile, type-check and ask the provider name, with no cache.
    async fn compile_times(&self) -> anyhow::Result<Samples> {
        let runtime = PluginRuntime::new(RuntimeOptions::default())?;
        let mut times = Vec::with_capacity(self.runs);
        for _ in 0..self.runs {
            let started = Instant::now();
            self.load(&runtime).await?;
            times.push(started.elapsed());
        }
        Ok(Samples::durations(&times))
    }

    /// Load again from a warm cache: read, deserialize, type-check, ask the
    /// provider name.
    async fn cached_load_times(&self, runtime: &PluginRuntime) -> anyhow::Result<Samples> {
        let mut times = Vec::new();
        for _ in 0..self.runs.max(10) {
            let started = Instant::now();
            let plugin = self.load(runtime).await?;
            times.push(started.elapsed());
            ensure!(
                plugin.contract().from_cache,
                "{}: the compiled-code cache was not used",
                self.path.display()
            );
        }
        Ok(Samples::durations(&times))
    }

    /// One whole cycle in one burst, through the runtime alone.
    async fn pull(&self, plugin: &Plugin) -> anyhow::Result<Pull> {
        let started = Instant::now();
        let mut burst = plugin.open_burst().await?;
        let mut cursor = None;
        let (mut entities, mut json_bytes, mut largest_page_fuel) = (0, 0, 0);
        loop {
            let fuel_before = burst.stats().fuel;
            let page = burst.next(cursor.as_ref()).await?;
            largest_page_fuel =
                largest_page_fuel.max(burst.stats().fuel.saturating_sub(fuel_before));
            entities += page.entities.len() as u64;
            json_bytes += page
                .entities
                .iter()
                .map(|entity| entity.json().len() as u64)
                .sum::<u64>();
            if page.done {
                break;
            }
            cursor = page.cursor;
        }
        let stats = burst.close().await?;
        let elapsed = started.elapsed();
        self.check_count(entities)?;
        Ok(Pull {
            elapsed,
            stats,
            json_bytes,
            largest_page_fuel,
        })
    }

    /// One whole cycle into a new SQLite catalog through the engine, as
    /// `weir serve` runs it: bursts, each page validated, merged and
    /// committed with its cursor and marks while the guest builds the next,
    /// then the sweep. Timed from the cycle's start to its record.
    async fn ingest(&self, plugin: Plugin) -> anyhow::Result<Duration> {
        let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
        let store =
            Catalog::open(&weir::store::sqlite_url_for(&temp.path().join("bench.db"))).await?;
        let source = plugin.provider_name().to_owned();
        let engine = Supervisor::start(
            store.clone(),
            vec![(plugin, super::engine::options())],
            super::engine::engine_options(),
        );
        let cycle = super::engine::wait_for_cycle(&store, &source, 1).await;
        engine.shutdown().await;
        let cycle = cycle?;
        let (totals, seconds) = (cycle.record.totals, cycle.seconds);
        self.check_count(u64::try_from(totals.entities).unwrap_or_default())?;
        ensure!(
            u64::try_from(totals.added) == Ok(self.entities),
            "{}: the cycle added {} entities, not {} (last error: {:?})",
            self.label,
            totals.added,
            self.entities,
            store
                .recent_errors(&source)
                .await?
                .first()
                .map(|e| &e.message),
        );
        Ok(Duration::from_secs_f64(seconds))
    }

    fn check_count(&self, entities: u64) -> anyhow::Result<()> {
        ensure!(
            entities == self.entities,
            "{}: a cycle gave {entities} entities, not the {} asked for (config `count`)",
            self.label,
            self.entities
        );
        Ok(())
    }
}

/// Open a burst (a store, an instance, the source's `open`) and close it.
async fn open_burst_times(plugin: &Plugin) -> anyhow::Result<Samples> {
    let mut times = Vec::with_capacity(INSTANTIATIONS);
    for _ in 0..INSTANTIATIONS {
        let started = Instant::now();
        let burst = plugin.open_burst().await?;
        times.push(started.elapsed());
        burst.close().await?;
    }
    Ok(Samples::durations(&times))
}

/// A store and an instance alone, as a burst starts, from the entry the
/// runtime wrote to the compiled-code cache `cache_dir`. The engine is set up
/// as the runtime's (fuel and epochs); were it not, wasmtime would refuse the
/// entry. Imports are stubs, which instantiate as fast as the host's.
async fn instantiate_times(cache_dir: &Path) -> anyhow::Result<Samples> {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .wasm_component_model(true);
    let engine = Engine::new(&config)?;
    let entry = cache_entry(cache_dir)?;
    let bytes = std::fs::read(&entry)
        .with_context(|| format!("{}: cannot read the cache entry", entry.display()))?;
    // SAFETY: the runtime wrote this entry a moment ago with `serialize`,
    // into a temporary directory of this process's; wasmtime checks its
    // header and that the engine's settings match.
    let component = unsafe { Component::deserialize(&engine, &bytes) }.map_err(|error| {
        anyhow::anyhow!(
            "{}: the bench's engine settings no longer match the runtime's: {error}",
            entry.display()
        )
    })?;
    let mut linker = Linker::<()>::new(&engine);
    linker.define_unknown_imports_as_traps(&component)?;
    let pre = linker.instantiate_pre(&component)?;
    let mut times = Vec::with_capacity(INSTANTIATIONS);
    for _ in 0..INSTANTIATIONS {
        let started = Instant::now();
        let mut store = Store::new(&engine, ());
        store.set_fuel(Limits::default().fuel)?;
        store.set_epoch_deadline(1);
        pre.instantiate_async(&mut store).await?;
        times.push(started.elapsed());
    }
    Ok(Samples::durations(&times))
}

/// The one compiled component in a cache directory.
fn cache_entry(cache_dir: &Path) -> anyhow::Result<PathBuf> {
    let mut entries = std::fs::read_dir(cache_dir)
        .with_context(|| format!("{}: cannot list the cache", cache_dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"));
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(entry),
        _ => bail!(
            "{}: expected exactly one compiled component in the cache",
            cache_dir.display()
        ),
    }
}

fn print_table(results: &[LanguageFigures]) {
    println!(
        "\n| language | component | entity | compile | cached load | instantiate | open a burst \
         | entities/s across the boundary | entities/s end to end (SQLite) | fuel per entity \
         | fuel per page of {PAGE_SIZE} (share of default) | peak guest memory |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for figures in results {
        println!(
            "| {} | {} | {:.0} B | {} | {} | {} | {} | {} | {} | {:.0} | {} ({:.1}%) | {} |",
            figures.label,
            mebibytes(figures.component_bytes),
            figures.entity_bytes,
            figures.compile.show(seconds),
            figures.cached_load.show(millis),
            figures.instantiate.show(millis),
            figures.open_burst.show(millis),
            figures.boundary.show(count),
            figures.end_to_end.show(count),
            figures.fuel_per_entity,
            figures.largest_page_fuel,
            budget_share(figures.largest_page_fuel),
            mebibytes(figures.peak_memory_bytes),
        );
    }
}

fn budget_share(fuel: u64) -> f64 {
    fuel as f64 * 100.0 / Limits::default().fuel as f64
}

fn seconds(value: f64) -> String {
    format!("{value:.2} s")
}

fn millis(value: f64) -> String {
    format!("{:.3} ms", value * 1e3)
}

fn count(value: f64) -> String {
    format!("{value:.0}")
}

fn mebibytes(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / f64::from(1 << 20))
}
