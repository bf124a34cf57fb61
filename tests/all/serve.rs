//! `weir serve` as an operator runs it: real processes on a real SQLite file
//! and on the real PostgreSQL (when `WEIR_TEST_POSTGRES_URL` is set), killed
//! with SIGKILL at random moments, run as several replicas on one database,
//! stopped with SIGTERM.
//!
//! Every wait polls the store (or the process) for a condition and fails
//! after a generous timeout with what it last saw and the processes' logs.

use std::path::Path;
use std::time::{Duration, Instant};

use weir::engine::{Rest, SourceOptions, Supervisor, SupervisorOptions};
use weir::runtime::{PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::{Catalog, ChangeKind, CycleRecord, CycleTotals, Phase, SourceStatus};
use weir_tests::db::TestDb;

use crate::guests;

use crate::process::{POLL, Serve, Setup, TIMEOUT, cache_dir};
use crate::replayable::Rng;

/// The source every test here runs: 6000 entities in 300 pages of 20, one
/// page per burst, no pause, an hour's rest once the cycle completes (a
/// cycle of a few seconds in a debug build, so that random kills land in
/// it). A one-second deadline per guest call makes a dead replica's lease
/// lapse 2 × 1 s + 5 s after its last commit.
const COUNT: i64 = 6000;
const PAGE_SIZE: i64 = 20;
const PAGES: i64 = COUNT / PAGE_SIZE;

fn config() -> String {
    format!(
        r#"
[sources.synthetic]
burstLength = "1ms"
burstInterval = "0s"
restLength = "1h"
backoff = ["100ms"]

[sources.synthetic.limits]
deadline = "1s"

[sources.synthetic.config]
count = {COUNT}
page-size = {PAGE_SIZE}
"#
    )
}

/// What a wait sees of the source.
struct Seen {
    status: Option<SourceStatus>,
    cycles: Vec<CycleRecord>,
}

/// Poll the store until `check` returns `Some`; fail after [`TIMEOUT`] with
/// the last status and the processes' logs.
async fn wait_until<T>(
    store: &Catalog,
    setup: &Setup,
    what: &str,
    mut check: impl FnMut(&Seen) -> Option<T>,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let seen = Seen {
            status: store.source_status("synthetic").await.unwrap(),
            cycles: store.cycles("synthetic", 100).await.unwrap(),
        };
        if let Some(found) = check(&seen) {
            return found;
        }
        if Instant::now() > deadline {
            let errors = store.recent_errors("synthetic").await.unwrap_or_default();
            panic!(
                "timed out after {TIMEOUT:?} waiting for {what}\nlast status: {:#?}\n\
                 cycles: {:#?}\nerrors: {errors:#?}\n{}",
                seen.status,
                seen.cycles,
                setup.logs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_first_cycle(store: &Catalog, setup: &Setup) -> CycleRecord {
    wait_until(store, setup, "the end of the first cycle", |seen| {
        seen.cycles.iter().find(|c| c.cycle == 1).cloned()
    })
    .await
}

/// Pages committed so far in the current cycle (all of them once it ended).
fn pages(seen: &Seen) -> i64 {
    match seen.cycles.iter().find(|c| c.cycle == 1) {
        Some(cycle) => cycle.totals.pages,
        None => seen.status.as_ref().map_or(0, |s| s.totals.pages),
    }
}

/// The catalog as the read API gives it: every ref with its hash.
async fn catalog(store: &Catalog) -> Vec<(String, String)> {
    let entities = store.entities(None, None, 100_000).await.unwrap();
    entities
        .into_iter()
        .map(|e| (e.entity_ref, e.hash))
        .collect()
}

/// The catalog after one uninterrupted cycle of the same source, in
/// process on a SQLite file of its own (computed once per test binary).
async fn uninterrupted() -> &'static [(String, String)] {
    static CATALOG: tokio::sync::OnceCell<Vec<(String, String)>> =
        tokio::sync::OnceCell::const_new();
    CATALOG
        .get_or_init(|| async {
            let (db, url) = TestDb::sqlite();
            let store = Catalog::open(&url).await.unwrap();
            let runtime = PluginRuntime::new(RuntimeOptions {
                cache_dir: Some(cache_dir()),
                ..RuntimeOptions::default()
            })
            .unwrap();
            let mut settings = SourceSettings::default();
            settings.config.insert("count".into(), COUNT.to_string());
            settings
                .config
                .insert("page-size".into(), PAGE_SIZE.to_string());
            let plugin = runtime
                .load(Path::new(guests::SYNTHETIC), settings)
                .await
                .unwrap();
            let options = SourceOptions {
                burst_length: Duration::from_secs(60),
                burst_interval: Duration::ZERO,
                rest: Rest::For(Duration::from_secs(3600)),
                ..SourceOptions::default()
            };
            let engine = Supervisor::start(
                store.clone(),
                vec![(plugin, options)],
                SupervisorOptions::default(),
            );
            let deadline = Instant::now() + TIMEOUT;
            while store.cycles("synthetic", 1).await.unwrap().is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "the uninterrupted run did not end"
                );
                tokio::time::sleep(POLL).await;
            }
            engine.shutdown().await;
            let cycle = &store.cycles("synthetic", 1).await.unwrap()[0];
            assert_eq!(cycle.outcome, "completed", "{cycle:#?}");
            let catalog = catalog(&store).await;
            drop(store);
            db.drop_database().await;
            catalog
        })
        .await
}

/// After the first cycle: one completed cycle with every page once, the
/// catalog of an uninterrupted run, and a change log of exactly one
/// addition per ref at offsets 1..=COUNT.
async fn assert_first_cycle_exact(store: &Catalog, setup: &Setup, backend: &str) {
    let cycles = store.cycles("synthetic", 100).await.unwrap();
    let errors = store.recent_errors("synthetic").await.unwrap();
    assert_eq!(cycles.len(), 1, "{backend}: {cycles:#?}\n{}", setup.logs());
    let cycle = &cycles[0];
    assert_eq!(
        cycle.outcome, "completed",
        "{backend}: {cycle:#?} {errors:#?}"
    );
    assert_eq!(
        cycle.totals,
        CycleTotals {
            pages: PAGES,
            entities: COUNT,
            added: COUNT,
            ..CycleTotals::default()
        },
        "{backend}: every page committed exactly once\n{errors:#?}"
    );
    let status = store.source_status("synthetic").await.unwrap().unwrap();
    assert_eq!(status.phase, Phase::Resting, "{backend}: {status:#?}");
    assert_eq!(status.cursor, None);
    assert!(store.marks("synthetic").await.unwrap().is_empty());

    let expected = uninterrupted().await;
    let actual = catalog(store).await;
    assert_eq!(actual.len(), expected.len(), "{backend}");
    assert!(
        actual == expected,
        "{backend}: the catalog differs from an uninterrupted run's"
    );

    let changes = store.changes(0, 2 * COUNT).await.unwrap();
    let offsets: Vec<i64> = changes.iter().map(|c| c.offset).collect();
    assert_eq!(
        offsets,
        (1..=COUNT).collect::<Vec<_>>(),
        "{backend}: change-log offsets are not exactly 1..={COUNT}"
    );
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Added));
    let mut refs: Vec<&str> = changes.iter().map(|c| c.entity_ref.as_str()).collect();
    refs.sort_unstable();
    let expected_refs: Vec<&str> = expected.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(refs, expected_refs, "{backend}: every ref added once");
    assert_eq!(store.last_offset().await.unwrap(), COUNT);
}

// ---------------------------------------------------------------------------

/// Start, let it commit some pages, SIGKILL it a random 50-400 ms later;
/// again and again, then let the last start finish the cycle.
async fn killed_at_random(url: &str, backend: &str, rng: &mut Rng, kills: u64) {
    // Migrate before any process starts, so the reader is ready at once.
    let store = Catalog::open(url).await.unwrap();
    let setup = Setup::new(url, &config());
    let started = Instant::now();
    let mut history = Vec::new();
    let mut done = false;
    for _ in 0..kills {
        let mut serve = setup.spawn();
        let before = history.last().map_or(0, |&(_, pages)| pages);
        // This process's own progress: on SQLite it resumes at once; on
        // PostgreSQL once the killed process's lease has lapsed.
        let now = wait_until(&store, &setup, "progress after a restart", |seen| {
            (pages(seen) > before || !seen.cycles.is_empty()).then(|| pages(seen))
        })
        .await;
        serve.assert_running(&setup);
        if now >= PAGES {
            done = true;
            serve.terminate().await;
            break;
        }
        let delay = rng.between(50, 400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        serve.kill9();
        let seen = Seen {
            status: store.source_status("synthetic").await.unwrap(),
            cycles: store.cycles("synthetic", 100).await.unwrap(),
        };
        history.push((delay, pages(&seen)));
        if !seen.cycles.is_empty() {
            done = true;
            break;
        }
    }
    eprintln!("{backend}: killed after (delay ms, pages committed): {history:?}");
    if !done {
        let mut serve = setup.spawn();
        serve.wait_healthy(&setup).await;
        wait_first_cycle(&store, &setup).await;
        let status = serve.terminate().await;
        assert!(status.success(), "{status}\n{}", setup.logs());
    }
    let mid_cycle = history.iter().filter(|&&(_, p)| 0 < p && p < PAGES).count();
    assert!(
        mid_cycle >= 3,
        "{backend}: only {mid_cycle} kills landed mid-cycle: {history:?}"
    );
    assert_first_cycle_exact(&store, &setup, backend).await;
    eprintln!("{backend}: {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_killed_at_random_pages_resumes_exactly_on_sqlite() {
    let mut rng = Rng::from_clock("sqlite kills");
    let (db, url) = TestDb::sqlite();
    let kills = rng.between(6, 8);
    killed_at_random(&url, "sqlite", &mut rng, kills).await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_killed_at_random_pages_resumes_exactly_on_postgres() {
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let mut rng = Rng::from_clock("postgres kills");
    // Each restart waits for the dead process's lease (7 s) to lapse.
    let kills = rng.between(3, 4);
    killed_at_random(&url, "postgres", &mut rng, kills).await;
    db.drop_database().await;
}

/// The lease owner's process id (`host-pid-nanos`).
fn owner_pid(owner: &str) -> Option<u32> {
    owner.rsplit('-').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_postgres_survive_one_killed_mid_burst() {
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let store = Catalog::open(&url).await.unwrap();
    // Bursts of several pages, so that the kill lands inside one.
    let setup = Setup::new(&url, &config().replace("\"1ms\"", "\"300ms\""));
    let started = Instant::now();
    let mut replicas: Vec<Serve> = (0..3).map(|_| setup.spawn()).collect();
    let (victim, pages_then) = wait_until(&store, &setup, "a burst under way", |seen| {
        let status = seen.status.as_ref()?;
        let owner = status.lease_owner.as_deref().and_then(owner_pid)?;
        (status.phase == Phase::Bursting && status.totals.pages >= 3 && seen.cycles.is_empty())
            .then_some((owner, status.totals.pages))
    })
    .await;
    let index = replicas
        .iter()
        .position(|r| r.pid() == victim)
        .unwrap_or_else(|| panic!("the lease owner {victim} is not one of the replicas"));
    replicas.remove(index).kill9();
    let killed_at = Instant::now();

    let mut successors = std::collections::BTreeSet::new();
    let cycle = wait_until(&store, &setup, "the end of the first cycle", |seen| {
        if let Some(pid) = seen
            .status
            .as_ref()
            .and_then(|s| s.lease_owner.as_deref())
            .and_then(owner_pid)
        {
            successors.insert(pid);
        }
        seen.cycles.iter().find(|c| c.cycle == 1).cloned()
    })
    .await;
    eprintln!(
        "replica {victim} killed after {pages_then} pages; cycle ended {:.1?} later; \
         lease holders seen after: {successors:?}",
        killed_at.elapsed()
    );
    assert_eq!(cycle.outcome, "completed", "{cycle:#?}\n{}", setup.logs());
    assert!(
        successors.iter().any(|pid| *pid != victim),
        "another replica took over: {successors:?}"
    );
    for mut replica in replicas {
        replica.assert_running(&setup);
        let status = replica.terminate().await;
        assert!(status.success(), "{status}\n{}", setup.logs());
    }
    assert_first_cycle_exact(&store, &setup, "postgres").await;
    eprintln!("replicas: {:.1?}", started.elapsed());
    drop(store);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_sqlite_file_is_refused() {
    let (db, url) = TestDb::sqlite();
    let setup = Setup::new(&url, &config());
    let mut first = setup.spawn();
    first.wait_healthy(&setup).await;

    let mut second = setup.spawn();
    let status = second.wait_exit().await;
    let message = std::fs::read_to_string(&second.log).unwrap();
    assert!(!status.success(), "the second process ran: {message}");
    assert!(
        message.contains("is in use by another weir process")
            && message.contains("use PostgreSQL to run several replicas"),
        "{message}"
    );
    first.assert_running(&setup);
    first.wait_healthy(&setup).await;

    let status = first.terminate().await;
    assert!(status.success(), "{status}\n{}", setup.logs());
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_and_the_next_start_resumes() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let setup = Setup::new(&url, &config());
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    wait_until(&store, &setup, "five pages", |seen| {
        (pages(seen) >= 5).then_some(())
    })
    .await;
    let status = serve.terminate().await;
    assert!(status.success(), "SIGTERM: {status}\n{}", setup.logs());

    let stopped = store.source_status("synthetic").await.unwrap().unwrap();
    assert!(
        store.cycles("synthetic", 10).await.unwrap().is_empty(),
        "the cycle ended before SIGTERM; make it longer"
    );
    assert_eq!(
        stopped.lease_owner, None,
        "the lease was released: {stopped:#?}"
    );
    assert_eq!(stopped.phase, Phase::Interstitial, "{stopped:#?}");
    assert!(stopped.cursor.is_some() && stopped.cycle_started_ms.is_some());
    assert!((5..PAGES).contains(&stopped.totals.pages), "{stopped:#?}");
    assert_eq!(
        store.last_offset().await.unwrap(),
        stopped.totals.pages * PAGE_SIZE,
        "whole pages only"
    );

    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    wait_first_cycle(&store, &setup).await;
    let status = serve.terminate().await;
    assert!(status.success(), "{status}\n{}", setup.logs());
    assert_first_cycle_exact(&store, &setup, "sqlite").await;
    drop(store);
    db.drop_database().await;
}

/// CPU time (user + system) the process `pid` has used, from /proc (Linux).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (which is in parentheses): state is the
    // 1st, utime the 12th and stime the 13th, in clock ticks (100 per second
    // on Linux).
    let after_name = stat.rsplit_once(')').expect("a stat line").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// A `weir serve` with nothing to do uses next to no CPU: no busy loop in
/// the plugins folder's watcher or a source's task. (Once, a scan's own
/// opening of the folder was reported as a change and triggered the next
/// scan, spinning a core per process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_serve_does_not_spin() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let setup = Setup::new(&url, &config());
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    wait_first_cycle(&store, &setup).await;
    // Resting now (an hour); the folder watcher and the source's task wait.
    let before = cpu_time(serve.pid());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_time(serve.pid()) - before;
    assert!(
        used < Duration::from_millis(1500),
        "an idle weir serve used {used:?} of CPU in 3 s\n{}",
        setup.logs()
    );
    let status = serve.terminate().await;
    assert!(status.success(), "{status}\n{}", setup.logs());
    drop(store);
    db.drop_database().await;
}
