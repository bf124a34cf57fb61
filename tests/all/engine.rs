//! The ingestion engine in-process, against real components and real
//! databases: each test runs on a SQLite file and, when
//! `WEIR_TEST_POSTGRES_URL` is set, on a PostgreSQL database of its own
//! (see `weir_tests::db`).
//!
//! Durations are short (bursts of a millisecond, back-offs of a few hundred),
//! and every wait polls the store for a condition, failing after a generous
//! timeout with the source's last status, its cycles and its errors.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::engine::{EngineError, Rest, SourceOptions, Supervisor, SupervisorOptions};
use weir::runtime::{Plugin, PluginRuntime, PushEvent, RuntimeOptions, SourceSettings};
use weir::store::{Catalog, ChangeKind, CycleRecord, CycleTotals, Phase, SourceStatus};
use weir_tests::db::TestDb;

use crate::guests;

/// How long any wait for the engine may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How often a wait looks at the store.
const POLL: Duration = Duration::from_millis(10);
const HOUR_MS: i64 = 60 * 60 * 1000;

/// What one test works with on one backend.
struct Ctx {
    store: Catalog,
    runtime: Arc<PluginRuntime>,
    backend: &'static str,
}

/// Run `test` on a fresh database of every backend, one after the other
/// (timing checks are not disturbed by a twin running beside them).
async fn each_backend<F, Fut>(name: &str, test: F)
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = Arc::new(
        PluginRuntime::new(RuntimeOptions {
            // Compiled components are cached across test runs: a debug host
            // compiles slowly, and back-off tests need their plugin loaded
            // before the clock they were given runs out.
            cache_dir: Some(std::env::temp_dir().join("weir-engine-test-cache")),
            ..RuntimeOptions::default()
        })
        .expect("runtime"),
    );
    for (db, url) in TestDb::all().await {
        let started = Instant::now();
        let store = Catalog::open(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let backend = db.backend();
        test(Ctx {
            store,
            runtime: Arc::clone(&runtime),
            backend,
        })
        .await;
        eprintln!("{name} on {backend}: {:.1?}", started.elapsed());
        db.drop_database().await;
    }
}

impl Ctx {
    async fn load(&self, path: &str, config: &[(&str, &str)]) -> Plugin {
        let settings = SourceSettings {
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..SourceSettings::default()
        };
        self.runtime
            .load(Path::new(path), settings)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn synthetic(&self, config: &[(&str, &str)]) -> Plugin {
        self.load(guests::SYNTHETIC, config).await
    }

    fn start(&self, sources: Vec<(Plugin, SourceOptions)>) -> Supervisor {
        Supervisor::start(
            self.store.clone(),
            sources,
            SupervisorOptions {
                max_concurrent_bursts: 4,
                poll: Duration::from_millis(100),
                ..SupervisorOptions::default()
            },
        )
    }

    /// Run `plugin` until cycle `cycle` ends (triggering it when the
    /// source is resting from an earlier cycle), then stop the engine.
    async fn run_cycle(&self, plugin: Plugin, options: SourceOptions, cycle: i64) -> CycleRecord {
        let name = plugin.provider_name().to_owned();
        let engine = self.start(vec![(plugin, options)]);
        if cycle > 1 {
            engine.trigger(&name).await.expect("trigger");
        }
        let record = wait_cycle_end(&self.store, &name, cycle).await;
        engine.shutdown().await;
        record
    }

    async fn status(&self, source: &str) -> SourceStatus {
        self.store
            .source_status(source)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{}: source `{source}` has no state", self.backend))
    }

    /// Every merged entity, in ref order.
    async fn refs(&self) -> Vec<String> {
        let entities = self.store.entities(None, None, 100_000).await.unwrap();
        entities.into_iter().map(|e| e.entity_ref).collect()
    }
}

/// A source that moves fast: one page per burst, no pause between bursts,
/// an hour's rest after a cycle, short back-offs.
fn quick() -> SourceOptions {
    SourceOptions {
        burst_length: Duration::from_millis(1),
        burst_interval: Duration::ZERO,
        rest: Rest::For(Duration::from_secs(60 * 60)),
        backoff: vec![Duration::from_millis(100); 3],
        ..SourceOptions::default()
    }
}

/// What a wait sees of a source.
struct Seen {
    status: Option<SourceStatus>,
    /// Newest first.
    cycles: Vec<CycleRecord>,
}

/// Poll the store until `check` returns `Some`; fail after [`TIMEOUT`]
/// with the source's last status, cycles and errors.
async fn wait_until<T>(
    store: &Catalog,
    source: &str,
    what: &str,
    mut check: impl FnMut(&Seen) -> Option<T>,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let seen = Seen {
            status: store.source_status(source).await.unwrap(),
            cycles: store.cycles(source, 100).await.unwrap(),
        };
        if let Some(found) = check(&seen) {
            return found;
        }
        if Instant::now() > deadline {
            let errors = store.recent_errors(source).await.unwrap_or_default();
            panic!(
                "timed out after {TIMEOUT:?} waiting for {what} (source `{source}`)\n\
                 last status: {:#?}\ncycles: {:#?}\nerrors: {errors:#?}",
                seen.status, seen.cycles
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Wait for cycle `cycle` of `source` to end (completed, failed or cancelled).
async fn wait_cycle_end(store: &Catalog, source: &str, cycle: i64) -> CycleRecord {
    wait_until(
        store,
        source,
        &format!("the end of cycle {cycle}"),
        |seen| seen.cycles.iter().find(|c| c.cycle == cycle).cloned(),
    )
    .await
}

/// `component:default/entity-NNNNNN` for `range`.
fn synthetic_refs(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range
        .map(|n| format!("component:default/entity-{n:06}"))
        .collect()
}

/// The refs of `changes`, sorted (a sweep removes in no particular order).
fn sorted_refs(changes: &[weir::store::Change]) -> Vec<String> {
    let mut refs: Vec<String> = changes.iter().map(|c| c.entity_ref.clone()).collect();
    refs.sort();
    refs
}

fn totals(pages: i64, entities: i64, added: i64, updated: i64, removed: i64) -> CycleTotals {
    CycleTotals {
        pages,
        entities,
        added,
        updated,
        removed,
        rejected: 0,
        errors: 0,
    }
}

/// The state a source is left in after a completed cycle: resting for the
/// rest length, no cursor, no marks, no lease.
async fn assert_resting_after(ctx: &Ctx, source: &str, cycle: &CycleRecord) {
    let status = ctx.status(source).await;
    assert_eq!(status.phase, Phase::Resting, "{}: {status:#?}", ctx.backend);
    assert_eq!(status.cycle, cycle.cycle);
    assert_eq!(status.cycle_started_ms, None);
    assert_eq!(status.cursor, None);
    assert_eq!(status.failures, 0);
    assert_eq!(status.lease_owner, None, "the engine released its lease");
    assert!(
        status.next_action_ms >= cycle.ended_ms + HOUR_MS,
        "{}: the source rests an hour after the cycle: {status:#?}",
        ctx.backend
    );
    assert_eq!(
        ctx.store.marks(source).await.unwrap(),
        Vec::<String>::new(),
        "{}: the cycle's marks are cleared",
        ctx.backend
    );
}

// ---------------------------------------------------------------------------
// 1. Full cycles

async fn full_cycle_of_synthetic(ctx: Ctx) {
    let plugin = ctx.synthetic(&[("count", "60"), ("page-size", "7")]).await;
    let cycle = ctx.run_cycle(plugin, quick(), 1).await;
    assert_eq!(cycle.outcome, "completed", "{}: {cycle:#?}", ctx.backend);
    // 8 pages of 7 and one of 4, each in its own burst.
    assert_eq!(cycle.totals, totals(9, 60, 60, 0, 0), "{}", ctx.backend);
    assert!(
        cycle
            .sweep
            .as_deref()
            .is_some_and(|s| s.starts_with("swept: 0")),
        "{cycle:#?}"
    );
    assert!(cycle.ended_ms >= cycle.started_ms);
    assert_resting_after(&ctx, "synthetic", &cycle).await;

    assert_eq!(ctx.refs().await, synthetic_refs(1..=60));
    assert_eq!(ctx.store.contribution_count("synthetic").await.unwrap(), 60);
    let changes = ctx.store.changes(0, 1000).await.unwrap();
    assert_eq!(
        changes.iter().map(|c| c.offset).collect::<Vec<_>>(),
        (1..=60).collect::<Vec<_>>()
    );
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Added));
    let entity = ctx
        .store
        .entity("component:default/entity-000060")
        .await
        .unwrap()
        .expect("the last entity");
    assert_eq!(entity.entity["metadata"]["name"], "entity-000060");
    assert!(entity.errors.is_empty());
    assert!(
        ctx.store
            .recent_errors("synthetic")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cycle_of_synthetic_ingests_everything_and_rests() {
    each_backend("full cycle of synthetic", full_cycle_of_synthetic).await;
}

/// Bursts of several pages: each pulls a page ahead while it commits the
/// one before, and a burst that ends drops the page it pulled ahead. The
/// next burst asks for it again from the stored cursor: every page is
/// committed once, none is lost.
async fn bursts_of_several_pages(ctx: Ctx) {
    let plugin = ctx
        .synthetic(&[("count", "1200"), ("page-size", "10")])
        .await;
    let options = SourceOptions {
        burst_length: Duration::from_millis(15),
        ..quick()
    };
    let engine = ctx.start(vec![(plugin, options)]);
    let cycle = wait_cycle_end(&ctx.store, "synthetic", 1).await;
    // The last burst's figures are added after its commit ends the cycle:
    // read them once the engine has stopped.
    engine.shutdown().await;
    let (figures, _) = engine.source_figures()["synthetic"];
    assert_eq!(cycle.outcome, "completed", "{}: {cycle:#?}", ctx.backend);
    assert_eq!(
        cycle.totals,
        totals(120, 1200, 1200, 0, 0),
        "{}",
        ctx.backend
    );
    assert!(figures.bursts > 1, "{}: {figures:?}", ctx.backend);
    assert!(figures.pages >= 120, "{}: {figures:?}", ctx.backend);
    assert_eq!(ctx.refs().await, synthetic_refs(1..=1200));
    let offsets: Vec<i64> = ctx
        .store
        .changes(0, 2000)
        .await
        .unwrap()
        .iter()
        .map(|c| c.offset)
        .collect();
    assert_eq!(offsets, (1..=1200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_several_pages_commit_each_page_once() {
    each_backend("bursts of several pages", bursts_of_several_pages).await;
}

async fn full_cycle_of_hierarchy(ctx: Ctx) {
    let plugin = ctx
        .load(
            guests::HIERARCHY,
            &[
                ("organizations", "2"),
                ("projects-per-organization", "3"),
                ("components-per-project", "4"),
                ("page-size", "3"),
            ],
        )
        .await;
    let cycle = ctx.run_cycle(plugin, quick(), 1).await;
    assert_eq!(cycle.outcome, "completed", "{}: {cycle:#?}", ctx.backend);
    // One page of organisations, one page of projects per organisation, two
    // pages (3 + 1) of components per project: 1 + 2 + 12 pages; 2 + 6 + 24
    // entities.
    assert_eq!(cycle.totals, totals(15, 32, 32, 0, 0), "{}", ctx.backend);
    assert_resting_after(&ctx, "hierarchy", &cycle).await;

    let count = |kind: &'static str| {
        let store = ctx.store.clone();
        async move { store.entities(Some(kind), None, 1000).await.unwrap().len() }
    };
    assert_eq!(count("group").await, 2);
    assert_eq!(count("system").await, 6);
    assert_eq!(count("component").await, 24);
    let component = ctx
        .store
        .entity("component:default/org-02-project-03-component-004")
        .await
        .unwrap()
        .expect("the last component");
    assert_eq!(component.entity["kind"], "Component");
    assert_eq!(ctx.store.last_offset().await.unwrap(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cycle_of_hierarchy_ingests_every_level() {
    each_backend("full cycle of hierarchy", full_cycle_of_hierarchy).await;
}

// ---------------------------------------------------------------------------
// 2-4. Sweep and its guards

async fn sweep(ctx: Ctx) {
    let plugin = ctx.synthetic(&[("count", "60"), ("page-size", "7")]).await;
    let first = ctx.run_cycle(plugin, quick(), 1).await;
    assert_eq!(first.totals, totals(9, 60, 60, 0, 0), "{}", ctx.backend);
    let offset = ctx.store.last_offset().await.unwrap();

    // The source now returns 50: a new engine, triggered out of its rest.
    let plugin = ctx.synthetic(&[("count", "50"), ("page-size", "7")]).await;
    let second = ctx.run_cycle(plugin, quick(), 2).await;
    assert_eq!(second.outcome, "completed", "{}: {second:#?}", ctx.backend);
    assert_eq!(second.totals, totals(8, 50, 0, 0, 10), "{}", ctx.backend);
    let sweep = second.sweep.as_deref().unwrap_or_default();
    assert!(
        sweep.starts_with("swept: 10 stale contributions deleted (10 entities removed"),
        "{sweep}"
    );
    let status = ctx.status("synthetic").await;
    assert_eq!(status.last_sweep.as_deref(), Some(sweep));
    assert_resting_after(&ctx, "synthetic", &second).await;

    let removals = ctx.store.changes(offset, 1000).await.unwrap();
    assert!(
        removals
            .iter()
            .all(|c| c.kind == ChangeKind::Removed && c.entity.is_none()),
        "{removals:#?}"
    );
    assert_eq!(sorted_refs(&removals), synthetic_refs(51..=60));
    assert_eq!(ctx.refs().await, synthetic_refs(1..=50));
    assert!(
        ctx.store
            .entity("component:default/entity-000051")
            .await
            .unwrap()
            .is_none()
    );
    let history = ctx.store.cycles("synthetic", 10).await.unwrap();
    assert_eq!(
        history.iter().map(|c| c.cycle).collect::<Vec<_>>(),
        [2, 1],
        "newest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_returning_fewer_entities_is_swept() {
    each_backend("sweep", sweep).await;
}

/// More stale refs than one batch of the sweep: every batch is found, each
/// after the last, and the kept ones stay.
async fn sweep_of_many(ctx: Ctx) {
    let plugin = ctx
        .synthetic(&[("count", "2600"), ("page-size", "500")])
        .await;
    ctx.run_cycle(plugin, quick(), 1).await;
    let plugin = ctx
        .synthetic(&[("count", "300"), ("page-size", "500")])
        .await;
    let second = ctx.run_cycle(plugin, quick(), 2).await;
    assert_eq!(second.totals, totals(1, 300, 0, 0, 2300), "{}", ctx.backend);
    assert_eq!(ctx.refs().await, synthetic_refs(1..=300), "{}", ctx.backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_of_more_than_a_batch_removes_every_stale_entity() {
    each_backend("sweep of many", sweep_of_many).await;
}

async fn removal_guard(ctx: Ctx) {
    let full = [("count", "60"), ("page-size", "7")];
    ctx.run_cycle(ctx.synthetic(&full).await, quick(), 1).await;
    let offset = ctx.store.last_offset().await.unwrap();

    // 54 of 60 gone: 90 %, above the guard's 50 %.
    let few = [("count", "6"), ("page-size", "7")];
    let guarded = SourceOptions {
        reject_removals_above_percentage: Some(50.0),
        ..quick()
    };
    let refused = ctx.run_cycle(ctx.synthetic(&few).await, guarded, 2).await;
    assert_eq!(
        refused.outcome, "completed",
        "{}: {refused:#?}",
        ctx.backend
    );
    assert_eq!(refused.totals, totals(1, 6, 0, 0, 0), "{}", ctx.backend);
    let reason = refused.sweep.clone().unwrap_or_default();
    assert!(
        reason.starts_with("refused: removing 54 of the 60 entities the source had (90.0%)")
            && reason.contains("rejectRemovalsAbovePercentage (50%)"),
        "{reason}"
    );
    let status = ctx.status("synthetic").await;
    assert_eq!(status.last_sweep.as_deref(), Some(reason.as_str()));
    assert_resting_after(&ctx, "synthetic", &refused).await;
    assert_eq!(
        ctx.refs().await,
        synthetic_refs(1..=60),
        "catalog unchanged"
    );
    assert_eq!(ctx.store.last_offset().await.unwrap(), offset, "no events");

    // Without the guard the next cycle finds the same stale refs again.
    let swept = ctx.run_cycle(ctx.synthetic(&few).await, quick(), 3).await;
    assert_eq!(swept.totals, totals(1, 6, 0, 0, 54), "{}", ctx.backend);
    assert_eq!(ctx.refs().await, synthetic_refs(1..=6));
    let removals = ctx.store.changes(offset, 1000).await.unwrap();
    assert_eq!(removals.len(), 54);
    assert!(removals.iter().all(|c| c.kind == ChangeKind::Removed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_removal_guard_refuses_a_90_percent_drop_and_the_stale_are_not_forgotten() {
    each_backend("removal guard", removal_guard).await;
}

async fn empty_collection_guard(ctx: Ctx) {
    let some = [("count", "20"), ("page-size", "7")];
    ctx.run_cycle(ctx.synthetic(&some).await, quick(), 1).await;
    let offset = ctx.store.last_offset().await.unwrap();

    let none = [("count", "0"), ("page-size", "7")];
    let guarded = SourceOptions {
        reject_empty_source_collections: true,
        ..quick()
    };
    let refused = ctx.run_cycle(ctx.synthetic(&none).await, guarded, 2).await;
    assert_eq!(
        refused.outcome, "completed",
        "{}: {refused:#?}",
        ctx.backend
    );
    assert_eq!(refused.totals, totals(1, 0, 0, 0, 0), "{}", ctx.backend);
    let reason = refused.sweep.clone().unwrap_or_default();
    assert!(
        reason.starts_with("refused: the cycle returned no entities and would have removed all 20")
            && reason.contains("rejectEmptySourceCollections"),
        "{reason}"
    );
    assert_eq!(
        ctx.status("synthetic").await.last_sweep.as_deref(),
        Some(reason.as_str())
    );
    assert_eq!(
        ctx.refs().await,
        synthetic_refs(1..=20),
        "catalog unchanged"
    );
    assert_eq!(ctx.store.last_offset().await.unwrap(), offset);

    // Without the guard, an empty cycle empties the source.
    let swept = ctx.run_cycle(ctx.synthetic(&none).await, quick(), 3).await;
    assert_eq!(swept.totals, totals(1, 0, 0, 0, 20), "{}", ctx.backend);
    assert_eq!(ctx.refs().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_collection_guard_keeps_everything_after_an_empty_cycle() {
    each_backend("empty-collection guard", empty_collection_guard).await;
}

// ---------------------------------------------------------------------------
// 5. Two sources, one set of refs

/// Every entity a plugin returns in one cycle, by ref.
async fn entities_of(plugin: &Plugin) -> BTreeMap<String, Value> {
    let mut entities = BTreeMap::new();
    let mut burst = plugin.open_burst().await.expect("open");
    let mut cursor = None;
    loop {
        let page = burst.next(cursor.as_ref()).await.expect("next");
        for entity in &page.entities {
            let value: Value = serde_json::from_str(entity.json()).unwrap();
            let name = value["metadata"]["name"].as_str().unwrap().to_owned();
            entities.insert(format!("component:default/{name}"), value);
        }
        if page.done {
            break;
        }
        cursor = page.cursor;
    }
    burst.close().await.expect("close");
    entities
}

/// `entity` without `metadata.tags` (which merge as a union).
fn without_tags(entity: &Value) -> Value {
    let mut entity = entity.clone();
    entity["metadata"].as_object_mut().unwrap().remove("tags");
    entity
}

fn tags(entity: &Value) -> Vec<String> {
    entity["metadata"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag.as_str().unwrap().to_owned())
        .collect()
}

async fn priorities(ctx: Ctx) {
    let copy = |name: &'static str, seed: &'static str, count: &'static str| {
        [
            ("name", name),
            ("seed", seed),
            ("count", count),
            ("page-size", "6"),
        ]
    };
    let high = ctx.synthetic(&copy("a", "1", "20")).await;
    let low = ctx.synthetic(&copy("b", "2", "20")).await;
    let high_entities = entities_of(&high).await;
    let low_entities = entities_of(&low).await;
    let engine = ctx.start(vec![
        (
            high,
            SourceOptions {
                priority: 10,
                ..quick()
            },
        ),
        (
            low,
            SourceOptions {
                priority: 1,
                ..quick()
            },
        ),
    ]);
    let a = wait_cycle_end(&ctx.store, "a", 1).await;
    let b = wait_cycle_end(&ctx.store, "b", 1).await;
    engine.shutdown().await;
    for cycle in [&a, &b] {
        assert_eq!(cycle.outcome, "completed", "{}: {cycle:#?}", ctx.backend);
        assert_eq!((cycle.totals.pages, cycle.totals.entities), (4, 20));
    }
    assert_eq!(ctx.store.contribution_count("a").await.unwrap(), 20);
    assert_eq!(ctx.store.contribution_count("b").await.unwrap(), 20);
    assert_eq!(ctx.refs().await, synthetic_refs(1..=20));

    // Each merged entity is `a`'s wherever the two differ (all but the
    // tags, which are a union), and its provenance says so.
    let mut wrong = Vec::new();
    for (entity_ref, high) in &high_entities {
        let low = &low_entities[entity_ref];
        assert_ne!(
            high["metadata"]["annotations"]["synthetic.example.com/seed"],
            low["metadata"]["annotations"]["synthetic.example.com/seed"]
        );
        let merged = ctx
            .store
            .entity(entity_ref)
            .await
            .unwrap()
            .expect(entity_ref);
        let mut union = tags(high);
        union.extend(tags(low).into_iter().filter(|t| !tags(high).contains(t)));
        let provenance = &merged.provenance;
        let annotations = provenance["annotations"].as_object().unwrap();
        let right = without_tags(&merged.entity) == without_tags(high)
            && tags(&merged.entity) == union
            && !annotations.is_empty()
            && annotations.values().all(|source| source == "a")
            && provenance["fields"]["spec"] == serde_json::json!(["a"]);
        if !right {
            wrong.push(format!(
                "{entity_ref}: seed {} (a has 1, b has 2), provenance {provenance}",
                merged.entity["metadata"]["annotations"]["synthetic.example.com/seed"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}: {} of 20 merged entities are not the higher-priority source's:\n{}\n\
         cycles: {a:#?} {b:#?}",
        ctx.backend,
        wrong.len(),
        wrong.join("\n")
    );
    // Whichever committed a ref first added it; the other updated it or
    // left it unchanged: one added event per ref.
    assert_eq!(a.totals.added + b.totals.added, 20, "{a:#?} {b:#?}");

    // `a` stops returning 11..20: those fall back to `b`'s version whole.
    let offset = ctx.store.last_offset().await.unwrap();
    let fewer = ctx.synthetic(&copy("a", "1", "10")).await;
    let swept = ctx
        .run_cycle(
            fewer,
            SourceOptions {
                priority: 10,
                ..quick()
            },
            2,
        )
        .await;
    assert_eq!(swept.totals, totals(2, 10, 0, 10, 0), "{}", ctx.backend);
    assert!(
        swept.sweep.as_deref().is_some_and(|s| s
            .starts_with("swept: 10 stale contributions deleted (0 entities removed, 10 updated)")),
        "{swept:#?}"
    );
    let changes = ctx.store.changes(offset, 1000).await.unwrap();
    assert_eq!(sorted_refs(&changes), synthetic_refs(11..=20));
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Updated));
    for entity_ref in synthetic_refs(11..=20) {
        let merged = ctx
            .store
            .entity(&entity_ref)
            .await
            .unwrap()
            .expect(&entity_ref);
        assert_eq!(
            merged.entity, low_entities[&entity_ref],
            "{}: {entity_ref}",
            ctx.backend
        );
        let annotations = merged.provenance["annotations"].as_object().unwrap();
        assert!(annotations.values().all(|source| source == "b"));
    }
    let kept = ctx
        .store
        .entity("component:default/entity-000010")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        without_tags(&kept.entity),
        without_tags(&high_entities["component:default/entity-000010"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sources_with_different_priorities_merge_into_the_same_refs() {
    each_backend("priorities", priorities).await;
}

// ---------------------------------------------------------------------------
// 6. Operator actions

async fn operator_actions(ctx: Ctx) {
    // 20 pages, one per burst, 100 ms apart: a cycle of two seconds or so.
    let plugin = ctx.synthetic(&[("count", "60"), ("page-size", "3")]).await;
    let engine = ctx.start(vec![(
        plugin,
        SourceOptions {
            burst_interval: Duration::from_millis(100),
            ..quick()
        },
    )]);
    let store = &ctx.store;
    let running = |cycle: i64, pages: i64| {
        move |seen: &Seen| {
            seen.status.clone().filter(|s| {
                s.cycle == cycle && s.cycle_started_ms.is_some() && s.totals.pages >= pages
            })
        }
    };

    // Cancel mid-cycle: recorded as cancelled, and the source rests for its
    // rest length (it is not left paused).
    wait_until(store, "synthetic", "two pages of cycle 1", running(1, 2)).await;
    let before_cancel = now_ms();
    engine.cancel("synthetic").await.unwrap();
    let cancelled = wait_cycle_end(store, "synthetic", 1).await;
    assert_eq!(
        cancelled.outcome, "cancelled",
        "{}: {cancelled:#?}",
        ctx.backend
    );
    assert!((2..20).contains(&cancelled.totals.pages), "{cancelled:#?}");
    assert_eq!(cancelled.sweep, None, "nothing is swept");
    let status = ctx.status("synthetic").await;
    assert_eq!(status.phase, Phase::Resting, "{status:#?}");
    assert_eq!(
        (status.cycle_started_ms, status.cursor.as_deref()),
        (None, None)
    );
    assert!(
        status.next_action_ms >= before_cancel + HOUR_MS,
        "{status:#?}"
    );
    assert!(store.marks("synthetic").await.unwrap().is_empty());
    // Nothing more happens: a burst in flight when the cycle was cancelled
    // cannot commit, and no new one starts (five burst intervals later).
    let offset = store.last_offset().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.last_offset().await.unwrap(), offset);
    assert_eq!(ctx.status("synthetic").await, status);

    // Trigger from rest: a new cycle starts now, from the first page.
    engine.trigger("synthetic").await.unwrap();
    let second = wait_until(store, "synthetic", "cycle 2 running", running(2, 2)).await;
    assert!(second.cycle_started_ms.unwrap() >= before_cancel);

    // Restart mid-cycle: cycle 2 is cancelled and cycle 3 starts at once.
    engine.restart("synthetic").await.unwrap();
    let restarted = wait_cycle_end(store, "synthetic", 2).await;
    assert_eq!(restarted.outcome, "cancelled", "{restarted:#?}");
    wait_until(store, "synthetic", "cycle 3 running", running(3, 1)).await;

    // Reset mid-cycle: the records are forgotten, the entities stay, and the
    // source rests until its next scheduled start.
    let before_reset = now_ms();
    engine.reset("synthetic").await.unwrap();
    let reset = wait_until(store, "synthetic", "the reset", |seen| {
        seen.status.clone().filter(|s| s.cycle == 0)
    })
    .await;
    assert_eq!(reset.phase, Phase::Resting, "{reset:#?}");
    assert_eq!(
        (
            reset.cycle_started_ms,
            reset.cursor.as_deref(),
            reset.totals
        ),
        (None, None, CycleTotals::default())
    );
    assert!(reset.next_action_ms >= before_reset + HOUR_MS, "{reset:#?}");
    assert!(store.cycles("synthetic", 10).await.unwrap().is_empty());
    assert!(store.recent_errors("synthetic").await.unwrap().is_empty());
    assert!(store.marks("synthetic").await.unwrap().is_empty());
    let kept = store.contribution_count("synthetic").await.unwrap();
    assert!(kept >= 6, "the entities stay: {kept}");

    // Triggered, the source starts over as cycle 1 and completes it; what
    // the cancelled cycles stored is recognised as unchanged.
    let offset = store.last_offset().await.unwrap();
    engine.trigger("synthetic").await.unwrap();
    let completed = wait_cycle_end(store, "synthetic", 1).await;
    engine.shutdown().await;
    assert_eq!(completed.outcome, "completed", "{completed:#?}");
    assert_eq!(
        completed.totals,
        totals(20, 60, 60 - kept, 0, 0),
        "{}",
        ctx.backend
    );
    assert_eq!(
        store.last_offset().await.unwrap() - offset,
        60 - kept,
        "only entities never stored before are new events"
    );
    assert_eq!(ctx.refs().await, synthetic_refs(1..=60));
    assert_resting_after(&ctx, "synthetic", &completed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_cancel_restart_trigger_and_reset() {
    each_backend("operator actions", operator_actions).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// 7. Errors and back-off, with the flaky plugin

/// `flaky` with `config`; the plugin is loaded once before (compiled into
/// the cache), so the load that counts is quick and `fail_until_ms`
/// values computed just before it are still ahead.
async fn flaky(ctx: &Ctx, config: &[(&str, &str)]) -> Plugin {
    ctx.load(guests::PLUGIN_FLAKY, config).await
}

async fn warm_flaky(ctx: &Ctx) {
    ctx.load(guests::PLUGIN_FLAKY, &[]).await;
}

fn backoff(ms: &[u64]) -> Vec<Duration> {
    ms.iter().copied().map(Duration::from_millis).collect()
}

/// Errors oldest first.
async fn errors_oldest_first(ctx: &Ctx) -> Vec<weir::store::ErrorRecord> {
    let mut errors = ctx.store.recent_errors("flaky").await.unwrap();
    errors.reverse();
    errors
}

async fn transient_back_off(ctx: Ctx) {
    warm_flaky(&ctx).await;
    let steps = [200, 400, 800];
    // The plugin fails for a second (the brief's "about 700 ms", with room
    // for a loaded machine to make its first attempt late).
    let until = now_ms() + 1000;
    let plugin = flaky(
        &ctx,
        &[
            ("fail_at_page", "2"),
            ("fail_kind", "transient"),
            ("fail_until_ms", &until.to_string()),
        ],
    )
    .await;
    let engine = ctx.start(vec![(
        plugin,
        SourceOptions {
            burst_length: Duration::from_secs(10),
            backoff: backoff(&steps),
            ..quick()
        },
    )]);
    let mut backing_off = false;
    let cycle = wait_until(&ctx.store, "flaky", "the end of cycle 1", |seen| {
        backing_off |= seen
            .status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::BackingOff && s.cursor.is_some());
        seen.cycles.iter().find(|c| c.cycle == 1).cloned()
    })
    .await;
    engine.shutdown().await;

    let errors = errors_oldest_first(&ctx).await;
    assert_eq!(
        cycle.outcome, "completed",
        "{}: {cycle:#?} {errors:#?}",
        ctx.backend
    );
    // The first failure comes within a few hundred milliseconds of the
    // start; the retry 200 ms later still fails, and perhaps the one 400 ms
    // after that; the one 800 ms later still cannot (1400 ms > 1000 ms).
    assert!(
        (2..=3).contains(&errors.len()),
        "{}: {errors:#?}",
        ctx.backend
    );
    assert!(backing_off, "the status showed the back-off");
    for error in &errors {
        assert_eq!(error.cycle, 1);
        assert!(
            error.message.contains("flaky: transient failure at page 2"),
            "{}",
            error.message
        );
    }
    assert!(
        cycle.ended_ms >= until,
        "the cycle completed before the plugin stopped failing: {cycle:#?}"
    );
    for (pair, step) in errors.windows(2).zip(steps) {
        let gap = pair[1].at_ms - pair[0].at_ms;
        assert!(
            gap >= step as i64,
            "{}: retried {gap} ms after a failure, before the back-off of {step} ms: {errors:#?}",
            ctx.backend
        );
    }
    let last_step = steps[errors.len() - 1] as i64;
    assert!(
        cycle.ended_ms - errors.last().unwrap().at_ms >= last_step,
        "{cycle:#?} {errors:#?}"
    );
    // Every page once: the retries resumed from the stored cursor (page 2).
    assert_eq!(
        cycle.totals,
        CycleTotals {
            errors: errors.len() as i64,
            ..totals(5, 15, 15, 0, 0)
        },
        "{}",
        ctx.backend
    );
    assert_eq!(ctx.store.contribution_count("flaky").await.unwrap(), 15);
    let changes = ctx.store.changes(0, 1000).await.unwrap();
    assert_eq!(
        changes.iter().map(|c| c.offset).collect::<Vec<_>>(),
        (1..=15).collect::<Vec<_>>()
    );
    let status = ctx.status("flaky").await;
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("transient failure at page 2")),
        "{status:#?}"
    );
    assert_resting_after(&ctx, "flaky", &cycle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_back_off_then_resume_from_the_stored_cursor() {
    each_backend("transient back-off", transient_back_off).await;
}

async fn exhausted_back_off(ctx: Ctx) {
    let plugin = flaky(&ctx, &[("fail_at_page", "1"), ("fail_kind", "transient")]).await;
    let engine = ctx.start(vec![(
        plugin,
        SourceOptions {
            burst_length: Duration::from_secs(10),
            backoff: backoff(&[100, 100]),
            ..quick()
        },
    )]);
    let failed = wait_cycle_end(&ctx.store, "flaky", 1).await;
    // The cycle is over and a new one starts at once (not after restLength).
    let next = wait_until(&ctx.store, "flaky", "cycle 2 to start", |seen| {
        let status = seen.status.as_ref()?;
        if status.cycle == 2 && status.cycle_started_ms.is_some() {
            status.cycle_started_ms
        } else {
            seen.cycles
                .iter()
                .find(|c| c.cycle == 2)
                .map(|c| c.started_ms)
        }
    })
    .await;
    engine.shutdown().await;

    let errors: Vec<_> = errors_oldest_first(&ctx)
        .await
        .into_iter()
        .filter(|e| e.cycle == 1)
        .collect();
    assert_eq!(failed.outcome, "failed", "{}: {failed:#?}", ctx.backend);
    // A first failure, then one per back-off step.
    assert_eq!(
        failed.totals,
        CycleTotals {
            errors: 3,
            ..totals(1, 3, 3, 0, 0)
        },
        "{}",
        ctx.backend
    );
    assert_eq!(failed.sweep, None);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for pair in errors.windows(2) {
        assert!(pair[1].at_ms - pair[0].at_ms >= 100, "{errors:#?}");
    }
    assert!(
        next - failed.ended_ms < 5_000,
        "{}: the next cycle started {} ms after the failed one ended",
        ctx.backend,
        next - failed.ended_ms
    );
    assert_eq!(
        ctx.store.contribution_count("flaky").await.unwrap(),
        3,
        "the committed page stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_back_off_step_the_cycle_fails_and_starts_over() {
    each_backend("exhausted back-off", exhausted_back_off).await;
}

async fn fatal(ctx: Ctx) {
    let plugin = flaky(&ctx, &[("fail_at_page", "1"), ("fail_kind", "fatal")]).await;
    let engine = ctx.start(vec![(
        plugin,
        SourceOptions {
            burst_length: Duration::from_secs(10),
            backoff: backoff(&[100, 100]),
            ..quick()
        },
    )]);
    let failed = wait_cycle_end(&ctx.store, "flaky", 1).await;
    engine.shutdown().await;
    assert_eq!(failed.outcome, "failed", "{}: {failed:#?}", ctx.backend);
    assert_eq!(
        failed.totals,
        CycleTotals {
            errors: 1,
            ..totals(1, 3, 3, 0, 0)
        },
        "{}: no retry",
        ctx.backend
    );
    let errors = ctx.store.recent_errors("flaky").await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].message.contains("flaky: fatal failure at page 1"),
        "{}",
        errors[0].message
    );
    let status = ctx.status("flaky").await;
    assert_eq!(status.phase, Phase::Resting, "{status:#?}");
    assert_eq!(status.cycle, 1, "no new cycle: {status:#?}");
    assert!(
        status.next_action_ms >= failed.ended_ms + HOUR_MS,
        "rests until the next scheduled start: {status:#?}"
    );
    assert_eq!(
        status.last_error.as_deref(),
        Some(errors[0].message.as_str())
    );
    assert!(ctx.store.marks("flaky").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_ends_the_cycle_at_once_and_the_source_rests() {
    each_backend("fatal", fatal).await;
}

async fn trap_and_set_up(ctx: Ctx) {
    warm_flaky(&ctx).await;
    for (cycle, failure) in [(1, ("fail_at_page", "3")), (2, ("fail_open", "transient"))] {
        let until = (now_ms() + 600).to_string();
        let plugin = flaky(
            &ctx,
            &[failure, ("fail_kind", "trap"), ("fail_until_ms", &until)],
        )
        .await;
        let engine = ctx.start(vec![(
            plugin,
            SourceOptions {
                burst_length: Duration::from_secs(10),
                backoff: backoff(&[150; 8]),
                ..quick()
            },
        )]);
        if cycle > 1 {
            engine.trigger("flaky").await.unwrap();
        }
        let record = wait_cycle_end(&ctx.store, "flaky", cycle).await;
        engine.shutdown().await;
        let errors: Vec<_> = errors_oldest_first(&ctx)
            .await
            .into_iter()
            .filter(|e| e.cycle == cycle)
            .collect();
        assert_eq!(
            record.outcome, "completed",
            "{}: {record:#?} {errors:#?}",
            ctx.backend
        );
        assert!(
            !errors.is_empty(),
            "{}: {failure:?} never failed",
            ctx.backend
        );
        assert_eq!(
            (
                record.totals.pages,
                record.totals.entities,
                record.totals.errors
            ),
            (5, 15, errors.len() as i64),
            "{}: {failure:?}",
            ctx.backend
        );
        let expected = if cycle == 1 {
            "flaky: panic at page 3"
        } else {
            "flaky: transient failure at set-up"
        };
        assert!(
            errors.iter().all(|e| e.message.contains(expected)),
            "{errors:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_and_a_failing_set_up_back_off_and_retry_too() {
    each_backend("trap and set-up", trap_and_set_up).await;
}

// ---------------------------------------------------------------------------
// Pushed events

fn component_json(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": { "name": name },
        "spec": { "type": "service", "lifecycle": "production", "owner": "team-a" },
    })
}

fn push_event(body: Value) -> PushEvent {
    PushEvent {
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

async fn pushed_events(ctx: Ctx) {
    let store = &ctx.store;
    // Cycle 1 pulls pushing-1 and pushing-2.
    let plugin = ctx.load(guests::PLUGIN_PUSHING, &[]).await;
    let engine = ctx.start(vec![(plugin, quick())]);
    wait_cycle_end(store, "pushing", 1).await;

    // A push applies at once: an upsert and a removal, and an invalid
    // entity and a bad ref rejected on their own.
    let report = engine
        .push(
            "pushing",
            push_event(serde_json::json!({
                "upsert": [component_json("pushed-1"), { "kind": "Component" }],
                "remove": ["component:default/pushing-2"],
            })),
            None,
        )
        .await
        .expect("push");
    assert_eq!(report.upserts.stored, 1, "{}: {report:#?}", ctx.backend);
    assert_eq!(report.upserts.added, 1);
    assert_eq!(report.upserts.rejected.len(), 1, "{report:#?}");
    assert_eq!(report.removals.removed, 1);
    assert_eq!(
        ctx.refs().await,
        ["component:default/pushed-1", "component:default/pushing-1"]
    );

    // A NUL character (which PostgreSQL's text cannot hold) in an entity's
    // name is that entity's rejection, and in a removal the push's error,
    // naming it; on PostgreSQL neither fails the transaction.
    let report = engine
        .push(
            "pushing",
            push_event(serde_json::json!({
                "upsert": [component_json("nul\u{0}x"), component_json("pushed-2")],
            })),
            None,
        )
        .await
        .expect("a push with a NUL in a name");
    assert_eq!(report.upserts.stored, 1, "{}: {report:#?}", ctx.backend);
    assert_eq!(report.upserts.rejected.len(), 1, "{report:#?}");
    let error = engine
        .push(
            "pushing",
            push_event(serde_json::json!({ "remove": ["component:default/a\u{0}b"] })),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("NUL character"), "{error}");
    assert_eq!(
        ctx.refs().await,
        [
            "component:default/pushed-1",
            "component:default/pushed-2",
            "component:default/pushing-1"
        ]
    );

    // A failing handler is an error naming the source; nothing is applied.
    let error = engine
        .push(
            "pushing",
            push_event(serde_json::json!({ "fail": "transient" })),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("source `pushing`"), "{error}");
    engine.shutdown().await;

    // A source without a push handler refuses pushed events.
    let synthetic = ctx.synthetic(&[("count", "1")]).await;
    let engine = ctx.start(vec![(synthetic, quick())]);
    let error = engine
        .push("synthetic", push_event(serde_json::json!({})), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, EngineError::PushUnsupported { .. }),
        "{error}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_upserts_and_removals_apply_at_once() {
    each_backend("pushed events", pushed_events).await;
}

/// A push in the middle of a cycle is marked in it, so the cycle's sweep
/// keeps what was pushed (and still removes what neither the pages nor the
/// push named). The cycle is driven here as another replica would.
async fn pushed_mid_cycle(ctx: Ctx) {
    let store = &ctx.store;
    let other = "another-replica";
    let now = now_ms();
    store
        .register_source("pushing", now, HOUR_MS)
        .await
        .unwrap();
    store
        .take_lease("pushing", other, now, now + HOUR_MS)
        .await
        .unwrap()
        .expect("the lease");
    let cycle = store.start_cycle("pushing", other, now).await.unwrap();
    let role = weir::store::SourceRole {
        name: "pushing",
        priority: 0,
        owner_rule: false,
    };
    // Before the cycle the source had `stale`; the first page returns `kept`.
    let contribution = |name: &str| {
        let entity = component_json(name);
        weir_core::intake::Contribution {
            entity_ref: format!("component:default/{name}"),
            body: entity.to_string(),
            raw_hash: format!("raw-{name}"),
            hash: weir_core::canonical::content_hash(&entity).to_hex(),
            merges_unchanged_alone: weir_core::merge::is_unchanged_alone(
                &weir_core::json::Json::from(&entity),
            ),
            location_key: None,
            plugin_build: "sha256:test".into(),
        }
    };
    store
        .apply_page(role, vec![contribution("stale")], &[])
        .await
        .unwrap();
    let page = |marks: &'static [&'static str], last| async move {
        let marks: Vec<String> = marks
            .iter()
            .map(|name| format!("component:default/{name}"))
            .collect();
        let contributions: Vec<_> = marks
            .iter()
            .map(|r| contribution(r.trim_start_matches("component:default/")))
            .collect();
        let entities = marks.len();
        store
            .commit_page(
                role,
                contributions,
                Vec::new(),
                weir::store::PageProgress {
                    owner: other.into(),
                    cycle: cycle.cycle,
                    cursor: Some("1".into()),
                    marks: marks.into(),
                    entities,
                    lease_until_ms: now_ms() + HOUR_MS,
                    now_ms: now_ms(),
                    last,
                },
            )
            .await
            .unwrap()
    };
    page(&["kept"], None).await;

    // Meanwhile this replica takes a push.
    let plugin = ctx.load(guests::PLUGIN_PUSHING, &[]).await;
    let engine = ctx.start(vec![(plugin, quick())]);
    engine
        .push(
            "pushing",
            push_event(serde_json::json!({ "upsert": [component_json("pushed")] })),
            None,
        )
        .await
        .expect("push");
    assert!(
        store
            .marks("pushing")
            .await
            .unwrap()
            .contains(&"component:default/pushed".to_owned()),
        "{}: the pushed ref is marked in the running cycle",
        ctx.backend
    );

    // The cycle's last page: the sweep keeps the pushed entity.
    let guards = weir::store::SweepGuards::default();
    let (_, sweep) = page(&["kept-too"], Some((guards, now_ms() + HOUR_MS))).await;
    assert!(
        matches!(sweep, Some(weir::store::SweepOutcome::Swept(ref r)) if r.deleted == 1),
        "{}: {sweep:?}",
        ctx.backend
    );
    assert_eq!(
        ctx.refs().await,
        [
            "component:default/kept",
            "component:default/kept-too",
            "component:default/pushed"
        ],
        "{}",
        ctx.backend
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_mid_cycle_is_kept_by_the_sweep() {
    each_backend("push mid-cycle", pushed_mid_cycle).await;
}

// ---------------------------------------------------------------------------
// Sources that go away

/// A source no replica runs any more keeps its entities for its
/// `expireAfter`, then they are removed (with removal events) and its
/// records dropped; a source still running is untouched.
async fn expiry(ctx: Ctx) {
    let store = &ctx.store;
    let short = SourceOptions {
        expire_after: Duration::from_millis(300),
        ..quick()
    };
    let gone = ctx.synthetic(&[("count", "5"), ("name", "gone")]).await;
    let stays = ctx
        .synthetic(&[("count", "3"), ("name", "stays"), ("seed", "1")])
        .await;
    let engine = ctx.start(vec![(gone, short.clone()), (stays, short.clone())]);
    wait_cycle_end(store, "gone", 1).await;
    wait_cycle_end(store, "stays", 1).await;
    engine.shutdown().await;
    assert_eq!(ctx.refs().await.len(), 5);

    // Only `stays` is configured now.
    let stays = ctx
        .synthetic(&[("count", "3"), ("name", "stays"), ("seed", "1")])
        .await;
    let engine = ctx.start(vec![(stays, short)]);
    wait_until(store, "gone", "the expiry of source `gone`", |seen| {
        seen.status.is_none().then_some(())
    })
    .await;
    engine.shutdown().await;
    assert_eq!(
        ctx.refs().await,
        synthetic_refs(1..=3),
        "{}: only the entities `stays` provides remain",
        ctx.backend
    );
    let removals = store
        .changes(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|change| change.kind == ChangeKind::Removed)
        .count();
    assert_eq!(
        removals, 2,
        "{}: entity-000004 and -000005 removed",
        ctx.backend
    );
    assert!(store.cycles("gone", 10).await.unwrap().is_empty());
    assert!(store.source_status("stays").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_no_longer_run_expires_after_its_grace_period() {
    each_backend("expiry", expiry).await;
}

/// A failpoint set for as long as it lives, removed even when the test
/// panics (failpoints are the whole test binary's: each test here names the
/// one source its failpoint hits).
struct Failpoint(&'static str);

impl Failpoint {
    fn set(name: &'static str, action: &str) -> Failpoint {
        fail::cfg(name, action).unwrap_or_else(|e| panic!("failpoint {name}: {e}"));
        Failpoint(name)
    }
}

impl Drop for Failpoint {
    fn drop(&mut self) {
        fail::remove(self.0);
    }
}

/// A source whose task panics (a failpoint inside its runner) is recorded as
/// failing, shows as backing off, and restarts once the fault is gone,
/// while the other sources go on ingesting.
#[tokio::test]
async fn a_panicking_source_task_is_recorded_and_restarted_while_the_others_ingest() {
    each_backend("panic", |ctx| async move {
        let victim = format!("panics-on-{}", ctx.backend);
        let panicking = ctx
            .load(guests::PLUGIN_HOSTILE, &[("provider-name", &victim)])
            .await;
        let other = ctx.synthetic(&[("count", "40"), ("page-size", "20")]).await;
        let options = SourceOptions {
            backoff: vec![Duration::from_millis(300)],
            ..quick()
        };
        let failpoint = Failpoint::set("weir::burst", &format!("return({victim})"));
        let engine = ctx.start(vec![(panicking, options), (other, quick())]);
        let other_cycle = wait_cycle_end(&ctx.store, "synthetic", 1).await;
        assert_eq!(other_cycle.outcome, "completed", "{other_cycle:#?}");
        let status = wait_until(&ctx.store, &victim, "the panic to be recorded", |seen| {
            let status = seen.status.as_ref()?;
            let panicked = status
                .last_error
                .as_deref()
                .is_some_and(|error| error.contains("its task panicked"));
            (panicked && status.phase == Phase::BackingOff).then(|| status.clone())
        })
        .await;
        assert!(
            status.lease_owner.is_none(),
            "the lease is released: {status:#?}"
        );
        drop(failpoint);
        let cycle = wait_cycle_end(&ctx.store, &victim, 1).await;
        assert_eq!(cycle.outcome, "completed", "it restarted: {cycle:#?}");
        engine.shutdown().await;
    })
    .await;
}

/// A runner stopped mid-burst whose writes to give the source back fail at
/// first (a failpoint: the database not answering, as when the process's
/// connections are cut) tries them again: the burst is ended and the lease
/// released, so another replica need not wait the lease out.
#[tokio::test]
async fn a_stopping_source_gives_its_lease_back_when_the_first_writes_fail() {
    each_backend("stop writes fail", |ctx| async move {
        // A name of its own: the failpoint is the whole test binary's.
        let name = format!("stop-writes-fail-on-{}", ctx.backend);
        let source = ctx
            .synthetic(&[("name", &name), ("count", "1000000"), ("page-size", "10")])
            .await;
        // One long burst, so the stop comes in its middle, lease held.
        let options = SourceOptions {
            burst_length: Duration::from_secs(600),
            ..quick()
        };
        let engine = ctx.start(vec![(source, options)]);
        wait_until(&ctx.store, &name, "a few pages", |seen| {
            (seen.status.as_ref()?.totals.pages >= 3).then_some(())
        })
        .await;
        let failpoint = Failpoint::set("weir::stop_write", &format!("return({name})"));
        engine.shutdown().await;
        drop(failpoint);
        let status = ctx.store.source_status(&name).await.unwrap().unwrap();
        assert_eq!(
            status.lease_owner, None,
            "the lease is released: {status:#?}"
        );
        assert_eq!(
            status.phase,
            Phase::Interstitial,
            "the burst is ended: {status:#?}"
        );
    })
    .await;
}

/// A store that fails every commit of a new version on trial (a failpoint:
/// the database not answering) neither rolls the version back nor ends the
/// cycle, even past the last back-off step: once commits go through again,
/// the cycle goes on from its stored cursor and completes.
#[tokio::test]
async fn store_failures_during_a_trial_neither_roll_it_back_nor_end_the_cycle() {
    each_backend("store failures in a trial", |ctx| async move {
        // A name of its own: the failpoint is the whole test binary's.
        let name = format!("commits-fail-on-{}", ctx.backend);
        let config = [("provider-name", name.as_str()), ("pages", "40")];
        let options = SourceOptions {
            backoff: vec![Duration::from_millis(20), Duration::from_millis(50)],
            ..quick()
        };
        let first = ctx.load(guests::PLUGIN_HOSTILE, &config).await;
        let engine = ctx.start(vec![(first, options.clone())]);
        wait_until(&ctx.store, &name, "two pages", |seen| {
            (seen.status.as_ref()?.totals.pages >= 2).then_some(())
        })
        .await;
        let failpoint = Failpoint::set("weir::commit", &format!("return({name})"));
        let second = ctx.load(guests::PLUGIN_HOSTILE, &config).await;
        engine.replace(second, options).expect("replace");
        let during = wait_until(&ctx.store, &name, "many failed commits", |seen| {
            let status = seen.status.as_ref()?;
            (status.failures > i64::from(weir::engine::TRIAL_FAILURES) + 3).then(|| status.clone())
        })
        .await;
        drop(failpoint);
        let reload = engine.reload_statuses()[&name].clone();
        assert_eq!(reload.quarantined, None, "not rolled back: {reload:#?}");
        assert_eq!(during.cycle, 1, "the cycle is kept: {during:#?}");
        assert!(during.cursor.is_some(), "its cursor is kept: {during:#?}");
        let cycle = wait_cycle_end(&ctx.store, &name, 1).await;
        assert_eq!(cycle.outcome, "completed", "{cycle:#?}");
        assert_eq!(cycle.totals.pages, 40, "{cycle:#?}");
        let reload = engine.reload_statuses()[&name].clone();
        assert_eq!(
            (reload.reloads, reload.quarantined.as_deref()),
            (1, None),
            "{reload:#?}"
        );
        engine.shutdown().await;
    })
    .await;
}
/// PostgreSQL taken down under a new version on trial (every connection
/// terminated, new ones refused) and brought back: the version is not
/// rolled back and the cycle completes from its stored cursor.
#[tokio::test]
async fn a_postgres_outage_during_a_trial_is_waited_out() {
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let store = Catalog::open(&url).await.unwrap();
    let runtime = Arc::new(PluginRuntime::new(RuntimeOptions::default()).unwrap());
    let ctx = Ctx {
        store: store.clone(),
        runtime,
        backend: "postgres",
    };
    let name = "synthetic";
    let config = [("count", "200"), ("page-size", "10")];
    let options = SourceOptions {
        backoff: vec![Duration::from_millis(50), Duration::from_millis(100)],
        ..quick()
    };
    let engine = ctx.start(vec![(ctx.synthetic(&config).await, options.clone())]);
    wait_until(&store, name, "two pages", |seen| {
        (seen.status.as_ref()?.totals.pages >= 2).then_some(())
    })
    .await;
    engine
        .replace(ctx.synthetic(&config).await, options)
        .expect("replace");
    db.deny_connections().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    db.allow_connections().await;
    let cycle = wait_cycle_end(&store, name, 1).await;
    assert_eq!(cycle.outcome, "completed", "{cycle:#?}");
    assert_eq!(ctx.refs().await.len(), 200);
    let reload = engine.reload_statuses()[name].clone();
    assert_eq!(
        (reload.reloads, reload.quarantined.as_deref()),
        (1, None),
        "{reload:#?}"
    );
    engine.shutdown().await;
    db.drop_database().await;
}
