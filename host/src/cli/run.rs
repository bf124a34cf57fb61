//! `weir run`: one full cycle of a source, entities to stdout, and with
//! `--database` into a catalog store as well.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::io::{AsyncWriteExt, BufWriter, Stdout};
use weir::engine::ingest_page;
use weir::runtime::{CallStats, Cursor, Page, Plugin};
use weir::store::{Catalog, PageOutcome, SourceRole};
use weir_core::intake::Admission;

use super::SourceArgs;

/// Run one full cycle of a source plugin in memory (no database): each entity
/// is written to stdout as one JSON line; progress and a summary go to stderr.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin's `.wasm` file.
    plugin: PathBuf,

    /// Stop after this many pages, even if the cycle is not done.
    #[arg(long, value_name = "N")]
    max_pages: Option<u64>,

    /// Open a new burst every N pages. Each burst is a fresh instance that has
    /// only the cursor to go on, as in `weir serve`; a source that keeps state
    /// anywhere else fails here first.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    burst_pages: u64,

    /// Also ingest every page into this catalog database (`sqlite://FILE`,
    /// created if missing, or `postgres://…`): validated, merged, with
    /// unchanged entities skipped; rejections are printed to stderr.
    #[arg(long, value_name = "URL")]
    database: Option<String>,

    /// The source's priority in the merge, with `--database`.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "database")]
    priority: i64,

    #[command(flatten)]
    pub(super) source: SourceArgs,
}

/// What a cycle did, for the summary line.
#[derive(Default)]
struct Progress {
    pages: u64,
    entities: u64,
    bursts: u64,
    calls: CallStats,
    done: bool,
    /// What the store did with the pages, with `--database`.
    stored: Option<PageOutcome>,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let runtime = args.source.cache.runtime()?;
    let plugin = runtime.load(&args.plugin, args.source.settings()).await?;
    let store = match &args.database {
        Some(url) => Some(Catalog::open(url).await?),
        None => None,
    };
    eprintln!(
        "running `{}` ({}) from {}",
        plugin.provider_name(),
        plugin.build(),
        plugin.file().display()
    );
    let started = Instant::now();
    let mut progress = Progress::default();
    let mut out = BufWriter::new(tokio::io::stdout());
    let outcome = run_cycle(&plugin, &args, store.as_ref(), &mut progress, &mut out).await;
    out.flush().await?;
    summarise(&plugin, &progress, started.elapsed());
    outcome?;
    Ok(ExitCode::SUCCESS)
}

async fn run_cycle(
    plugin: &Plugin,
    args: &RunArgs,
    store: Option<&Catalog>,
    progress: &mut Progress,
    out: &mut BufWriter<Stdout>,
) -> anyhow::Result<()> {
    let mut cursor: Option<Cursor> = None;
    while !progress.done && !reached(args.max_pages, progress.pages) {
        let mut burst = plugin.open_burst().await?;
        progress.bursts += 1;
        let mut failure = None;
        for _ in 0..args.burst_pages {
            if reached(args.max_pages, progress.pages) {
                break;
            }
            match burst.next(cursor.as_ref()).await {
                Ok(mut page) => {
                    write_page(out, &page).await?;
                    let entities_in_page = page.entities.len() as u64;
                    if let Some(store) = store {
                        let role = SourceRole {
                            name: plugin.provider_name(),
                            priority: args.priority,
                            owner_rule: false,
                        };
                        let entities = std::mem::take(&mut page.entities);
                        let max_entity_bytes = plugin.settings().limits.max_entity_bytes;
                        let admission = Admission::anything_up_to(max_entity_bytes);
                        let outcome = ingest_page(store, role, &admission, entities).await?;
                        add_outcome(
                            progress.stored.get_or_insert_with(Default::default),
                            outcome,
                        );
                    }
                    progress.pages += 1;
                    progress.entities += entities_in_page;
                    progress.done = page.done;
                    cursor = page.cursor;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
            if progress.done {
                break;
            }
        }
        let before_close = burst.stats();
        let closed = burst.close().await;
        let stats = closed.as_ref().map_or(before_close, |stats| *stats);
        progress.calls.calls += stats.calls;
        progress.calls.fuel += stats.fuel;
        progress.calls.guest_time += stats.guest_time;
        if let Some(error) = failure {
            return Err(error.into());
        }
        closed?;
        tracing::debug!(
            pages = progress.pages,
            entities = progress.entities,
            "burst done"
        );
    }
    Ok(())
}

fn add_outcome(total: &mut PageOutcome, page: PageOutcome) {
    for rejection in &page.rejected {
        eprintln!("rejected: {}", rejection.reason);
    }
    total.absorb(page);
}

fn reached(max_pages: Option<u64>, pages: u64) -> bool {
    max_pages.is_some_and(|max| pages >= max)
}

/// One line per entity. A source may pretty-print its JSON; a line must not
/// break, so such an entity is re-serialised compactly.
async fn write_page(out: &mut BufWriter<Stdout>, page: &Page) -> anyhow::Result<()> {
    for entity in &page.entities {
        let json = entity.json();
        if json.contains('\n') {
            let value: serde_json::Value = serde_json::from_str(json)?;
            out.write_all(value.to_string().as_bytes()).await?;
        } else {
            out.write_all(json.as_bytes()).await?;
        }
        out.write_all(b"\n").await?;
    }
    Ok(())
}

fn summarise(plugin: &Plugin, progress: &Progress, elapsed: Duration) {
    let state = if progress.done {
        "cycle complete"
    } else {
        "cycle not complete"
    };
    eprintln!(
        "{}: {state}: {} entities in {} pages over {} bursts, {:.1} ms ({:.1} ms in the guest), {} fuel",
        plugin.provider_name(),
        progress.entities,
        progress.pages,
        progress.bursts,
        elapsed.as_secs_f64() * 1000.0,
        progress.calls.guest_time.as_secs_f64() * 1000.0,
        progress.calls.fuel,
    );
    let outbound = plugin.outbound_stats();
    if outbound.requests + outbound.denied > 0 {
        eprintln!(
            "{}: outbound HTTP: {} requests ({} failed, {} refused), {} bytes sent, {} received",
            plugin.provider_name(),
            outbound.requests,
            outbound.failed,
            outbound.denied,
            outbound.bytes_sent,
            outbound.bytes_received,
        );
    }
    if let Some(stored) = &progress.stored {
        eprintln!(
            "{}: store: {} written, {} unchanged; {} added, {} updated; {} rejected ({} kept their last good version)",
            plugin.provider_name(),
            stored.stored,
            stored.unchanged,
            stored.added,
            stored.updated,
            stored.rejected.len(),
            stored.kept_with_error,
        );
    }
}
