//! The kill loop: a real `weir serve` killed with SIGKILL at random moments
//! and held at failpoints (mid-page, mid-commit, mid-sweep, mid-reload,
//! mid-push), restarted each time, then the invariants.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir::store::Catalog;
use weir_tests::db::TestDb;

use super::invariants::{check_invariants, settle};
use super::mirror::Mirror;
use super::{ADMIN_TOKEN, config};
use super::{Changing, Rng, SOURCES, env_number, populate, push, push_body, wait_log};
use crate::process::Setup;

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
