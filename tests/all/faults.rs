//! Faults, proven (issue 22): a real `weir serve` killed with SIGKILL again
//! and again, at random moments and at precise ones (held at a failpoint:
//! mid-page, mid-commit, mid-sweep, mid-reload, mid-push), and restarted,
//! on SQLite and on PostgreSQL (when `WEIR_TEST_POSTGRES_URL` is set).
//!
//! Three `synthetic` sources of different priorities share refs
//! (`entity-000001`, ...); the lowest one's manifest changes between cycles
//! (its count, so entities are removed and added, and its seed, so they
//! change), and a fourth source takes pushed events. After the loop, one last
//! process runs every source through full cycles, and then:
//!
//! - the catalog (every merged entity's ref and hash) equals the one an
//!   uninterrupted run of the same final settings yields;
//! - the event log's offsets are unique and strictly increasing, its head is
//!   its last event, and a consumer that followed `/api/events` through all
//!   the kills, and one that replays it from 0, both hold the catalog;
//! - no source is stuck: none backing off or failing, no lease left, no
//!   cycle other than completed ones, every cursor one the source returned.
//!
//! Counts: `WEIR_FAULT_ITERATIONS` kills per backend (default 100 on SQLite,
//! 50 on PostgreSQL) and at least `WEIR_FAULT_SECONDS` of killing (default
//! 0): both are lower bounds, so either runs the loop longer. The random
//! sequence is printed as `WEIR_TEST_SEED=…`; set it to replay one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir::store::{Catalog, Phase};
use weir_tests::db::TestDb;

use crate::guests;
use crate::process::{POLL, Serve, Setup, get, send};

const ADMIN_TOKEN: &str = "fault-suite-admin-token";

/// The pulled sources: file stem (= provider name), priority, and the
/// settings of the two that never change. `c`'s come from its manifest.
const PAGE_SIZE: u64 = 10;
const A_COUNT: u64 = 100;
const B_COUNT: u64 = 150;
const SOURCES: [&str; 4] = ["a", "b", "c", "pushing"];

/// How long the last process may take to run every source through two full
/// cycles (on PostgreSQL, after the dead processes' leases lapse).
const SETTLE: Duration = Duration::from_secs(180);

fn config() -> String {
    let timing = r#"
burstLength = "1ms"
burstInterval = "40ms"
restLength = "400ms"
backoff = ["100ms", "300ms"]
"#;
    format!(
        r#"
maxConcurrentBursts = 4

[sources.a]
priority = 20
{timing}
[sources.a.limits]
deadline = "1s"
[sources.a.config]
name = "a"
count = {A_COUNT}
page-size = {PAGE_SIZE}
entity-bytes = 400
seed = 1

[sources.b]
priority = 10
{timing}
[sources.b.limits]
deadline = "1s"
[sources.b.config]
name = "b"
count = {B_COUNT}
page-size = {PAGE_SIZE}
entity-bytes = 400
seed = 2

[sources.c]
priority = 0
{timing}
[sources.c.limits]
deadline = "1s"
[sources.c.config]
name = "c"
page-size = {PAGE_SIZE}
entity-bytes = 400

[sources.pushing]
priority = 5
{timing}
[sources.pushing.limits]
deadline = "1s"
[sources.pushing.config]
count = 3
"#
    )
}

/// What source `c` generates: its manifest's `[config]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Changing {
    count: u64,
    seed: u64,
    changed_percent: u64,
}

impl Changing {
    fn random(rng: &mut Rng) -> Changing {
        Changing {
            count: rng.between(40, 200),
            seed: rng.between(0, 5),
            changed_percent: [0, 30][rng.between(0, 1) as usize],
        }
    }

    /// Write `c.toml` beside `c.wasm`, atomically (a dot file renamed into
    /// place, as the operating guide says).
    fn write(self, setup: &Setup) {
        let text = format!(
            "[config]\ncount = {}\nseed = {}\nchanged-percent = {}\n",
            self.count, self.seed, self.changed_percent
        );
        let temporary = setup.plugins().join(".c.toml.tmp");
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, setup.plugins().join("c.toml")).unwrap();
    }
}

/// The plugins folder: `synthetic` three times, `pushing` once.
fn populate(setup: &Setup, changing: Changing) {
    for name in ["a", "b", "c"] {
        setup.add_plugin(&format!("{name}.wasm"), guests::SYNTHETIC);
    }
    setup.add_plugin("pushing.wasm", guests::PLUGIN_PUSHING);
    changing.write(setup);
}

/// A small deterministic generator (xorshift), seeded from the clock or
/// `WEIR_TEST_SEED`; the seed is printed so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn from_clock(label: &str) -> Rng {
        let seed = std::env::var("WEIR_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| now_ms() as u64 | 1);
        eprintln!("{label}: WEIR_TEST_SEED={seed}");
        Rng(seed)
    }

    /// In `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low + 1)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A number from the environment, or `default`; anything else is an error.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?}: not a whole number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------
// The event stream, followed as a consumer does.

/// A consumer's copy of the catalog built from `/api/events` alone.
#[derive(Default)]
struct Mirror {
    offset: i64,
    entities: BTreeMap<String, Value>,
    events: usize,
}

impl Mirror {
    /// Read `/api/events` from this mirror's offset to the log's head,
    /// checking that offsets strictly increase. `Ok(false)` when the process
    /// stopped answering (it was killed): the mirror keeps what it applied.
    async fn follow(&mut self, port: u16) -> Result<bool, String> {
        loop {
            let path = format!("/api/events?offset={}&limit=1000", self.offset);
            let Some((status, body)) = get(port, &path).await else {
                return Ok(false);
            };
            if status != 200 {
                return Err(format!("GET {path}: {status} {body}"));
            }
            let Ok(answer) = serde_json::from_str::<Value>(&body) else {
                // Cut off mid-answer by the kill.
                return Ok(false);
            };
            let events = answer["events"].as_array().cloned().unwrap_or_default();
            for event in &events {
                let offset = event["offset"].as_i64().ok_or("an event without offset")?;
                if offset <= self.offset {
                    return Err(format!(
                        "event offset {offset} after {}: offsets must strictly increase \
                         ({event})",
                        self.offset
                    ));
                }
                self.offset = offset;
                self.events += 1;
                let entity_ref = event["entityRef"].as_str().unwrap_or_default().to_owned();
                match event["type"].as_str() {
                    Some("added" | "updated") => {
                        self.entities.insert(entity_ref, event["entity"].clone());
                    }
                    Some("removed") => {
                        self.entities.remove(&entity_ref);
                    }
                    other => return Err(format!("an event of type {other:?}: {event}")),
                }
            }
            let last = answer["lastEventOffset"]
                .as_i64()
                .ok_or_else(|| format!("no lastEventOffset: {answer}"))?;
            if last < self.offset {
                return Err(format!(
                    "lastEventOffset {last} below the last event delivered {}",
                    self.offset
                ));
            }
            self.offset = last;
            if events.is_empty() && answer["headOffset"].as_i64() == Some(last) {
                return Ok(true);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The kill loop.

/// Where a process is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Moment {
    /// While starting (before it is healthy).
    Starting,
    /// A random delay after it is healthy.
    Random,
    /// Held at failpoint `weir::hold::…`.
    Hold(&'static str),
}

const HOLDS: [&str; 5] = ["page", "commit", "sweep", "reload", "push"];

impl Moment {
    /// One kill in ten while starting, three at random, six held at a
    /// failpoint, the points taken in turn (`holds` counts them).
    fn random(rng: &mut Rng, holds: &mut usize) -> Moment {
        match rng.between(0, 9) {
            0 => Moment::Starting,
            1..=3 => Moment::Random,
            _ => {
                *holds += 1;
                Moment::Hold(HOLDS[*holds % HOLDS.len()])
            }
        }
    }
}

/// A pushed event for source `pushing`: upserts of its own refs and of refs
/// the synthetic sources also give, and a removal.
fn push_body(rng: &mut Rng, iteration: u64) -> Vec<u8> {
    let component = |name: String| {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name, "annotations": {"fault/iteration": iteration.to_string()}},
            "spec": {"type": "service", "owner": "group:default/test", "lifecycle": "production"}
        })
    };
    let upsert = vec![
        component(format!("pushing-{}", rng.between(1, 6))),
        component(format!("entity-{:06}", rng.between(1, 220))),
    ];
    let remove = vec![format!("component:default/pushing-{}", rng.between(1, 6))];
    serde_json::to_vec(&json!({"upsert": upsert, "remove": remove})).unwrap()
}

async fn push(port: u16, body: Vec<u8>) -> Option<u16> {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    send(port, "POST", "/api/sources/pushing/events", &headers, &body)
        .await
        .map(|answer| answer.status)
}

/// Wait until `serve`'s log holds `line` at least `times` times; `false`
/// after `timeout`.
async fn wait_log(
    serve: &mut Serve,
    setup: &Setup,
    line: &str,
    times: usize,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let log = std::fs::read_to_string(&serve.log).unwrap_or_default();
        if log.matches(line).count() >= times {
            return true;
        }
        serve.assert_running(setup);
        tokio::time::sleep(POLL).await;
    }
    false
}

/// What the loop did, for the report.
#[derive(Default, Debug)]
struct Tally {
    kills: u64,
    by_moment: BTreeMap<String, u64>,
    /// Hold points that did not fire in time (the kill happened anyway).
    missed: BTreeMap<&'static str, u64>,
    /// Kills that left some source mid-cycle with a cursor.
    mid_cycle: u64,
    config_changes: u64,
    pushes_applied: u64,
}

impl Tally {
    /// Count a kill at `moment`, and whether it left a cycle half done.
    async fn killed(&mut self, moment: Moment, store: &Catalog) {
        self.kills += 1;
        *self.by_moment.entry(format!("{moment:?}")).or_default() += 1;
        for source in SOURCES {
            let status = store.source_status(source).await.unwrap();
            if status.is_some_and(|s| s.cycle_started_ms.is_some() && s.cursor.is_some()) {
                self.mid_cycle += 1;
                return;
            }
        }
    }

    /// Every hold point fired when the loop was long enough to reach each
    /// a few times; the kills landed mid-cycle often.
    fn check(&self, backend: &str) {
        if self.kills < 30 {
            return;
        }
        for point in HOLDS {
            let tried = self.by_moment.get(&format!("{:?}", Moment::Hold(point)));
            let missed = self.missed.get(point);
            assert!(
                tried.copied().unwrap_or(0) > missed.copied().unwrap_or(0),
                "{backend}: failpoint weir::hold::{point} never fired ({self:?}): is \
                 `weir serve` built with the `failpoints` feature?"
            );
        }
        assert!(
            self.mid_cycle * 3 >= self.kills,
            "{backend}: too few kills landed mid-cycle: {self:?}"
        );
    }
}

async fn kill_loop(
    store: &Catalog,
    setup: Setup,
    rng: &mut Rng,
    changing: &mut Changing,
    mirror: &mut Mirror,
    kills: u64,
    seconds: u64,
) -> (Setup, Tally) {
    let mut setup = setup;
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut iteration = 0;
    let mut holds = 0;
    while tally.kills < kills || started.elapsed() < Duration::from_secs(seconds) {
        iteration += 1;
        let moment = Moment::random(rng, &mut holds);
        let failpoints = match moment {
            Moment::Hold(point @ ("page" | "commit")) => {
                format!(
                    "weir::hold::{point}={}*off->1*return->off",
                    rng.between(0, 4)
                )
            }
            Moment::Hold(point) => format!("weir::hold::{point}=1*return->off"),
            _ => String::new(),
        };
        setup = setup.with_env("FAILPOINTS", &failpoints);
        let mut serve = setup.spawn();
        if moment == Moment::Starting {
            tokio::time::sleep(Duration::from_millis(rng.between(0, 400))).await;
            serve.kill9();
            tally.killed(moment, store).await;
            continue;
        }
        serve.wait_healthy(&setup).await;
        // Every plugin loaded, so that a change of the manifest is a reload.
        let timeout = Duration::from_secs(30);
        if !wait_log(&mut serve, &setup, "plugin loaded", SOURCES.len(), timeout).await {
            panic!(
                "iteration {iteration}: the plugins did not load\n{}",
                setup.logs()
            );
        }
        if let Err(error) = mirror.follow(serve.port).await {
            panic!("iteration {iteration}: {error}\n{}", setup.logs());
        }
        // Between cycles (or mid-cycle: it applies at the next burst), the
        // changing source changes what it gives.
        let change = moment == Moment::Hold("reload") || rng.between(0, 3) == 0;
        if change {
            *changing = Changing::random(rng);
            changing.write(&setup);
            tally.config_changes += 1;
        }
        let port = serve.port;
        match moment {
            Moment::Hold(point) => {
                // A push that the failpoint holds mid-transaction: its answer
                // never comes, the kill cuts it.
                let pushing = (point == "push").then(|| {
                    let body = push_body(rng, iteration);
                    tokio::spawn(push(port, body))
                });
                // A sweep waits for a cycle's end; on PostgreSQL perhaps for
                // a dead process's lease (7 s) first.
                let timeout = Duration::from_secs(20);
                let line = format!("failpoint weir::hold::{point}: holding");
                if !wait_log(&mut serve, &setup, &line, 1, timeout).await {
                    *tally.missed.entry(point).or_default() += 1;
                }
                serve.kill9();
                if let Some(pushing) = pushing {
                    let _ = pushing.await;
                }
            }
            _ => {
                if rng.between(0, 2) == 0
                    && push(port, push_body(rng, iteration)).await == Some(200)
                {
                    tally.pushes_applied += 1;
                }
                tokio::time::sleep(Duration::from_millis(rng.between(0, 800))).await;
                serve.kill9();
            }
        }
        tally.killed(moment, store).await;
    }
    (setup, tally)
}

// ---------------------------------------------------------------------------
// The end: settle, then the invariants.

/// Wait until every source has completed `cycles` cycles that started at or
/// after `since_ms`.
async fn wait_settled(store: &Catalog, setup: &Setup, serve: &mut Serve, since_ms: i64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        serve.assert_running(setup);
        let mut waiting = Vec::new();
        for source in SOURCES {
            let cycles = store.cycles(source, 100).await.unwrap();
            let fresh = cycles
                .iter()
                .filter(|c| c.started_ms >= since_ms && c.outcome == "completed")
                .count();
            if fresh < 2 {
                waiting.push((source, store.source_status(source).await.unwrap()));
            }
        }
        if waiting.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every source completed two cycles within {SETTLE:?} of the last start: \
             {waiting:#?}\n{}",
            setup.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Start a process without failpoints and let it run every source through
/// two full cycles of the final settings.
async fn settle(setup: Setup, store: &Catalog) -> (Setup, Serve) {
    let setup = setup.with_env("FAILPOINTS", "");
    let since_ms = now_ms();
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    wait_settled(store, &setup, &mut serve, since_ms).await;
    (setup, serve)
}

/// Every merged entity: its ref and its hash.
async fn catalog(store: &Catalog) -> Vec<(String, String)> {
    store
        .entities(None, None, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.entity_ref, e.hash))
        .collect()
}

/// The catalog one uninterrupted `weir serve` yields with the final
/// settings, on a SQLite file of its own.
async fn uninterrupted(changing: Changing) -> Vec<(String, String)> {
    let setup = Setup::sqlite(&config()).with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN);
    populate(&setup, changing);
    let store = Catalog::open(setup.url()).await.unwrap();
    let (setup, serve) = settle(setup, &store).await;
    let status = serve.terminate().await;
    assert!(status.success(), "{status}\n{}", setup.logs());
    catalog(&store).await
}

/// The invariants, with the last process still running on `port`.
async fn check_invariants(
    backend: &str,
    store: &Catalog,
    setup: Setup,
    serve: Serve,
    mut mirror: Mirror,
    changing: Changing,
) {
    let logs = || setup.logs();
    // A consumer that followed the stream through every kill, and one that
    // replays it from 0.
    mirror
        .follow(serve.port)
        .await
        .unwrap_or_else(|error| panic!("{backend}: {error}\n{}", logs()));
    let mut replay = Mirror::default();
    let complete = replay
        .follow(serve.port)
        .await
        .unwrap_or_else(|error| panic!("{backend}: {error}\n{}", logs()));
    assert!(complete, "{backend}: the last process stopped answering");
    let pid = serve.pid();
    let status = serve.terminate().await;
    assert!(status.success(), "{backend}: SIGTERM: {status}\n{}", logs());

    // The catalog, against an uninterrupted run's.
    let actual = catalog(store).await;
    let expected = uninterrupted(changing).await;
    if actual != expected {
        let actual_set: BTreeSet<_> = actual.iter().collect();
        let expected_set: BTreeSet<_> = expected.iter().collect();
        let extra: Vec<_> = actual_set.difference(&expected_set).take(10).collect();
        let missing: Vec<_> = expected_set.difference(&actual_set).take(10).collect();
        panic!(
            "{backend}: the catalog ({} entities) differs from an uninterrupted run's ({}):\n\
             only here (first 10): {extra:#?}\nonly there (first 10): {missing:#?}\n{}",
            actual.len(),
            expected.len(),
            logs()
        );
    }

    // The event log: the mirrors hold exactly the catalog.
    let entities: BTreeMap<String, Value> = store
        .entities(None, None, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.entity_ref, e.entity))
        .collect();
    for (name, consumer) in [
        ("followed through the kills", &mirror),
        ("replayed from 0", &replay),
    ] {
        assert_eq!(
            consumer.entities.len(),
            entities.len(),
            "{backend}: the mirror {name} has {} entities, the catalog {}",
            consumer.entities.len(),
            entities.len()
        );
        for (entity_ref, entity) in &entities {
            assert_eq!(
                consumer.entities.get(entity_ref),
                Some(entity),
                "{backend}: the mirror {name} differs at {entity_ref}"
            );
        }
    }
    // Offsets: unique, strictly increasing (checked as read), the head the
    // last event, nothing written after the reads.
    let head = store.last_offset().await.unwrap();
    let log = store.changes(0, i64::MAX).await.unwrap();
    let offsets: Vec<i64> = log.iter().map(|change| change.offset).collect();
    assert!(
        offsets.windows(2).all(|pair| pair[0] < pair[1]),
        "{backend}: the log's offsets are not strictly increasing"
    );
    let refs: BTreeSet<&str> = log.iter().map(|c| c.entity_ref.as_str()).collect();
    assert_eq!(
        refs.len(),
        log.len(),
        "{backend}: a ref twice in the compacted log"
    );
    assert_eq!(
        offsets.last().copied(),
        Some(head),
        "{backend}: the log's head {head} is not its last event"
    );
    assert_eq!(
        replay.offset, head,
        "{backend}: the replay ended below the head"
    );
    assert_eq!(
        mirror.offset, head,
        "{backend}: the follower ended below the head"
    );
    assert!(offsets.first().is_some_and(|&first| first >= 1));

    // No source stuck, every cursor one the source returned.
    for source in SOURCES {
        let status = store.source_status(source).await.unwrap().unwrap();
        assert_eq!(
            status.lease_owner, None,
            "{backend}: `{source}` kept a lease after SIGTERM of {pid}: {status:#?}"
        );
        assert!(
            matches!(status.phase, Phase::Resting | Phase::Interstitial),
            "{backend}: `{source}` stuck: {status:#?}"
        );
        assert_eq!(status.failures, 0, "{backend}: `{source}`: {status:#?}");
        if let Some(cursor) = &status.cursor {
            let offset = serde_json::from_str::<Value>(cursor)
                .ok()
                .and_then(|c| c["offset"].as_u64());
            assert!(
                offset.is_some_and(|offset| offset > 0 && offset % PAGE_SIZE == 0),
                "{backend}: `{source}`'s cursor {cursor} is not one `synthetic` returns"
            );
        }
        let cycles = store.cycles(source, 100_000).await.unwrap();
        let failed: Vec<_> = cycles.iter().filter(|c| c.outcome != "completed").collect();
        assert!(
            failed.is_empty(),
            "{backend}: `{source}` has cycles that did not complete: {failed:#?}"
        );
        // Every page of every cycle committed once, whatever the kills: the
        // sources whose settings never change give the same pages each time.
        let expected = match source {
            "a" => Some((A_COUNT.div_ceil(PAGE_SIZE), A_COUNT)),
            "b" => Some((B_COUNT.div_ceil(PAGE_SIZE), B_COUNT)),
            "pushing" => Some((1, 3)),
            _ => None,
        };
        if let Some((pages, entities)) = expected {
            let wrong: Vec<_> = cycles
                .iter()
                .filter(|c| (c.totals.pages, c.totals.entities) != (pages as i64, entities as i64))
                .collect();
            assert!(
                wrong.is_empty(),
                "{backend}: `{source}` has cycles that did not commit each of its {pages} \
                 pages ({entities} entities) exactly once: {wrong:#?}"
            );
        }
    }
}

async fn faults(url: &str, backend: &str, default_kills: u64) {
    let kills = env_number("WEIR_FAULT_ITERATIONS", default_kills);
    let seconds = env_number("WEIR_FAULT_SECONDS", 0);
    let mut rng = Rng::from_clock(backend);
    let started = Instant::now();
    // Migrate before any process starts.
    let store = Catalog::open(url).await.unwrap();
    let setup = Setup::empty(url, &config()).with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN);
    let mut changing = Changing::random(&mut rng);
    populate(&setup, changing);
    let mut mirror = Mirror::default();

    let (setup, tally) = kill_loop(
        &store,
        setup,
        &mut rng,
        &mut changing,
        &mut mirror,
        kills,
        seconds,
    )
    .await;
    let looped = started.elapsed();
    tally.check(backend);
    let (setup, serve) = settle(setup, &store).await;
    let cycles: usize = {
        let mut total = 0;
        for source in SOURCES {
            total += store.cycles(source, 100_000).await.unwrap().len();
        }
        total
    };
    check_invariants(backend, &store, setup, serve, mirror, changing).await;
    eprintln!(
        "{backend}: {} kills in {looped:.1?} ({tally:?}); {cycles} cycles completed; \
         invariants held; {:.1?} in all",
        tally.kills,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_again_and_again_on_sqlite_loses_and_doubles_nothing() {
    let (db, url) = TestDb::sqlite();
    faults(&url, "sqlite", 100).await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_again_and_again_on_postgres_loses_and_doubles_nothing() {
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    faults(&url, "postgres", 50).await;
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// Database outages: the database goes away under a running `weir serve`,
// which must resume by itself.

/// How long an outage lasts: `WEIR_FAULT_OUTAGE_SECONDS` (default 20).
fn outage_length() -> Duration {
    Duration::from_secs(env_number("WEIR_FAULT_OUTAGE_SECONDS", 20))
}

/// What the health route answered during an outage.
#[derive(Default, Debug)]
struct HealthSeen {
    healthy: u64,
    unhealthy: u64,
    silent: u64,
}

impl HealthSeen {
    /// Ask once; an answer of 200 must say `healthy: true` and any other
    /// status `healthy: false`.
    async fn probe(&mut self, port: u16) -> Result<(), String> {
        match get(port, "/api/catalog/incremental/health").await {
            None => self.silent += 1,
            Some((status, body)) => {
                let healthy = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|answer| answer["healthy"].as_bool());
                match (status, healthy) {
                    (200, Some(true)) => self.healthy += 1,
                    (200, _) => return Err(format!("health 200 without healthy true: {body}")),
                    (_, Some(false)) => self.unhealthy += 1,
                    _ => return Err(format!("health {status} without healthy false: {body}")),
                }
            }
        }
        Ok(())
    }
}

/// Run a `weir serve` through `outage` (which ends the outage when it
/// returns), probing its health meanwhile; then let it settle by itself, in
/// the same process, and check the invariants.
async fn through_outage<F>(url: &str, backend: &str, extra_config: &str, outage: F)
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    let started = Instant::now();
    let mut rng = Rng::from_clock(backend);
    drop(Catalog::open(url).await.unwrap());
    let config = format!("{}\n{extra_config}\n", config());
    let setup = Setup::empty(url, &config)
        .with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN)
        .with_env("FAILPOINTS", "");
    let mut changing = Changing::random(&mut rng);
    populate(&setup, changing);
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let outage = tokio::spawn(outage);
    let mut health = HealthSeen::default();
    let mut pushes = BTreeMap::<u16, u64>::new();
    while !outage.is_finished() {
        serve.assert_running(&setup);
        if let Err(error) = health.probe(serve.port).await {
            panic!("{backend}: during the outage: {error}\n{}", setup.logs());
        }
        // The changing source changes meanwhile; pushes come in (and may be
        // refused while the database is away).
        if rng.between(0, 9) == 0 {
            changing = Changing::random(&mut rng);
            changing.write(&setup);
        }
        if let Some(status) = push(serve.port, push_body(&mut rng, 0)).await {
            *pushes.entry(status).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let what = outage.await.unwrap();
    let ended_ms = now_ms();
    serve.assert_running(&setup);
    eprintln!(
        "{backend}: {what}; health answers meanwhile {health:?}; pushes by status {pushes:?}"
    );
    // A database locked by another process is busy, not broken: a push is
    // told to come back (503 with Retry-After), not that the server failed.
    if backend.starts_with("sqlite") {
        assert!(
            !pushes.contains_key(&500),
            "{backend}: pushes answered 500 while the database was locked, not 503: {pushes:?}\n{}",
            setup.logs()
        );
    }

    let store = Catalog::open(url).await.unwrap();
    wait_settled(&store, &setup, &mut serve, ended_ms).await;
    let mut mirror = Mirror::default();
    mirror.follow(serve.port).await.unwrap();
    check_invariants(backend, &store, setup, serve, mirror, changing).await;
    eprintln!(
        "{backend}: resumed by itself, invariants held; {:.1?} in all",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backends_terminated_in_a_loop_ingestion_resumes() {
    use sqlx::Connection;
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let admin = url.clone();
    through_outage(&url, "postgres backends terminated", "", async move {
        let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
        let until = Instant::now() + outage_length();
        let mut terminated = 0_u64;
        while Instant::now() < until {
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut connection)
            .await
            .unwrap();
            terminated += ended.iter().filter(|ended| **ended).count() as u64;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(terminated > 0, "no backend of Weir's was terminated");
        format!("{terminated} backends terminated in {:?}", outage_length())
    })
    .await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_ingestion_resumes() {
    use sqlx::Connection;
    let (db, url) = TestDb::sqlite();
    let holder = url.clone();
    // Weir's writes give up after 1 s of the lock and back off.
    let sqlite = "[sqlite]\nbusyTimeout = \"1s\"";
    through_outage(&url, "sqlite locked", sqlite, async move {
        let mut connection = sqlx::SqliteConnection::connect(&holder).await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut connection)
            .await
            .unwrap();
        tokio::time::sleep(outage_length()).await;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut connection)
            .await
            .unwrap();
        format!(
            "BEGIN IMMEDIATE held by another connection for {:?}",
            outage_length()
        )
    })
    .await;
    db.drop_database().await;
}
