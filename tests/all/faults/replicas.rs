//! Replicas killed in a loop on one PostgreSQL: three `weir serve` share one
//! folder (config, plugins) and one database; every 1–4 s one of them, most
//! often one holding a source's lease, is killed with SIGKILL and another is
//! started in its place (once every replica is up again). Bursts last
//! 300 ms here, so that a kill often takes a lease down. Meanwhile the store
//! is read every 100 ms and must show one runner per source:
//!
//! - a lease a killed replica held passes to another replica within the
//!   documented lease (two guest-call deadlines plus 5 s from its last
//!   renewal: 7 s here, the suite's deadline being 1 s) of the kill, plus
//!   [`HANDOVER_MARGIN`], and never before it lapsed;
//! - within a cycle, a source's page count never goes back, and the sources
//!   whose settings never change have committed each page once so far (their
//!   cursor is their page count times the page size);
//! - no replica's commit is ever fenced (a commit by a replica that no longer
//!   holds the lease: two runners of one source at once), as its log would
//!   say.
//!
//! Then the live replicas stop with SIGTERM and leave no lease, one last
//! process settles, and the fault suite's invariants hold.
//!
//! Counts: `WEIR_FAULT_REPLICA_KILLS` kills (default 12, about 40 s)
//! and at least `WEIR_FAULT_SECONDS` of killing (default 0): both are lower
//! bounds. The random sequence is printed as `WEIR_TEST_SEED=…`; set it to
//! replay one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::store::{Catalog, SourceStatus};
use weir_tests::db::TestDb;

use super::invariants::{check_invariants, settle};
use super::mirror::Mirror;
use super::{A_COUNT, ADMIN_TOKEN, B_COUNT, PAGE_SIZE, SOURCES};
use super::{Changing, Rng, config, env_number, now_ms, populate, push, push_body};
use crate::process::{Serve, Setup, get};

const REPLICAS: usize = 3;

/// The documented lease: two guest-call deadlines (the suite's `deadline =
/// "1s"`) plus 5 s from its last renewal.
const LEASE_MS: i64 = 2 * 1000 + 5000;

/// How late after a lapsed lease another replica may take it: the store is
/// read every [`SAMPLE`], and a busy 2-core machine delays the taker.
const HANDOVER_MARGIN: Duration = Duration::from_secs(3);

const SAMPLE: Duration = Duration::from_millis(100);

/// How long a replacement may take to answer and load every plugin.
const READY: Duration = Duration::from_secs(60);

/// What a replica's log says when one of its commits is refused because it
/// no longer holds the lease.
const FENCED: [&str; 2] = [
    "the cycle was cancelled or taken over",
    "this replica no longer holds the source's lease",
];

/// The lease owner's process id (`host-pid-nanos`).
fn owner_pid(owner: &str) -> Option<u32> {
    owner.rsplit('-').nth(1)?.parse().ok()
}

/// A lease held by a killed replica: by when another must hold it.
#[derive(Debug)]
struct Orphan {
    owner: String,
    pid: u32,
    until_ms: i64,
    killed_ms: i64,
}

/// What the store showed while the replicas were killed.
#[derive(Default)]
struct Watch {
    /// Killed replicas' process ids, with when they were killed.
    killed: BTreeMap<u32, i64>,
    /// Leases of killed replicas not yet taken over, by source.
    orphans: BTreeMap<String, Orphan>,
    /// From a kill to another replica holding the dead one's lease.
    handovers: Vec<Duration>,
    /// From the dead one's lease lapsing to another replica holding it.
    after_lapse: Vec<Duration>,
    /// Each source's last (cycle, pages).
    progress: BTreeMap<String, (i64, i64)>,
    samples: u64,
}

impl Watch {
    /// Read every source's state once and check it.
    async fn sample(&mut self, store: &Catalog) -> Result<(), String> {
        let statuses = store.source_statuses().await.map_err(|e| e.to_string())?;
        let now = now_ms();
        self.samples += 1;
        for status in &statuses {
            self.check_progress(status)?;
            self.check_lease(status, now)?;
        }
        Ok(())
    }

    /// Pages only go forward within a cycle; the unchanging sources' cursor
    /// is one page size further for each page committed.
    fn check_progress(&mut self, status: &SourceStatus) -> Result<(), String> {
        let now = (status.cycle, status.totals.pages);
        let before = self.progress.insert(status.source.clone(), now);
        if before.is_some_and(|before| before > now) {
            return Err(format!(
                "`{}` went back from (cycle, pages) {before:?} to {now:?}: {status:#?}",
                status.source
            ));
        }
        let count = match status.source.as_str() {
            "a" => A_COUNT,
            "b" => B_COUNT,
            _ => return Ok(()),
        };
        if status.cycle_started_ms.is_none() {
            return Ok(());
        }
        let offset = status.cursor.as_deref().map_or(Some(0), |cursor| {
            serde_json::from_str::<Value>(cursor)
                .ok()
                .and_then(|cursor| cursor["offset"].as_u64())
        });
        let pages = status.totals.pages as u64;
        let once = offset == Some(pages * PAGE_SIZE)
            && status.totals.entities as u64 == pages * PAGE_SIZE
            && pages <= count.div_ceil(PAGE_SIZE);
        if !once {
            return Err(format!(
                "`{}` has committed a page twice (or skipped one): {pages} pages, cursor \
                 {:?}, {} entities: {status:#?}",
                status.source, status.cursor, status.totals.entities
            ));
        }
        Ok(())
    }

    /// A killed replica's lease passes to another once it lapses, and
    /// within the documented time of the kill.
    fn check_lease(&mut self, status: &SourceStatus, now: i64) -> Result<(), String> {
        let source = &status.source;
        let owner = status.lease_owner.as_deref();
        let Some(orphan) = self.orphans.get_mut(source) else {
            let pid = owner.and_then(owner_pid);
            let dead = pid.and_then(|pid| Some((pid, *self.killed.get(&pid)?)));
            if let (Some(owner), Some((pid, killed_ms))) = (owner, dead) {
                let orphan = Orphan {
                    owner: owner.to_owned(),
                    pid,
                    until_ms: status.lease_until_ms.unwrap_or(0),
                    killed_ms,
                };
                if orphan.until_ms > killed_ms + LEASE_MS {
                    return Err(format!(
                        "`{source}`'s lease runs {} ms past the kill of its holder, longer \
                         than the documented {LEASE_MS} ms from its last renewal: {status:#?}",
                        orphan.until_ms - killed_ms
                    ));
                }
                self.orphans.insert(source.clone(), orphan);
            }
            return Ok(());
        };
        let limit = orphan.killed_ms + LEASE_MS + HANDOVER_MARGIN.as_millis() as i64;
        if owner == Some(orphan.owner.as_str()) {
            // A commit in flight at the kill may still have renewed it.
            orphan.until_ms = orphan.until_ms.max(status.lease_until_ms.unwrap_or(0));
            if now > limit {
                return Err(format!(
                    "`{source}`'s lease is still the killed replica's {} ms after the kill \
                     (documented: {LEASE_MS} ms, plus {HANDOVER_MARGIN:?}): {status:#?}",
                    now - orphan.killed_ms
                ));
            }
            return Ok(());
        }
        // Taken over (and perhaps already given up again). A lease taken at
        // `t` runs until `t + LEASE_MS` or later (renewed): it must not have
        // been taken before the dead one's lapsed.
        if let Some(until) = status.lease_until_ms
            && until - LEASE_MS < orphan.until_ms
        {
            return Err(format!(
                "`{source}`'s lease was taken while the killed replica's ran until {}: \
                 {status:#?}",
                orphan.until_ms
            ));
        }
        let since = |ms: i64| Duration::from_millis((now - ms).max(0) as u64);
        self.handovers.push(since(orphan.killed_ms));
        self.after_lapse.push(since(orphan.until_ms));
        self.orphans.remove(source);
        Ok(())
    }
}

/// The loop's own state: the replicas, the store's watch, what was done.
struct Replicas<'a> {
    store: &'a Catalog,
    setup: Setup,
    serves: Vec<Serve>,
    watch: Watch,
    mirror: Mirror,
    changing: Changing,
    kills: u64,
    /// Kills that took a lease down with the replica.
    lease_kills: u64,
    config_changes: u64,
    pushes_applied: u64,
}

impl Replicas<'_> {
    /// Read the store once, failing the test on what it shows; and every
    /// replica must still run.
    async fn sample(&mut self) {
        for serve in &mut self.serves {
            serve.assert_running(&self.setup);
        }
        if let Err(error) = self.watch.sample(self.store).await {
            panic!("replicas: {error}\n{}", self.setup.logs());
        }
    }

    /// Keep sampling for `pause`, and until every replica answers with its
    /// plugins loaded.
    async fn wait(&mut self, pause: Duration) {
        let started = Instant::now();
        loop {
            let ready = started.elapsed() >= pause && self.all_ready().await;
            if ready {
                return;
            }
            assert!(
                started.elapsed() < pause + READY,
                "replicas: not every replica was ready within {READY:?}\n{}",
                self.setup.logs()
            );
            self.sample().await;
            tokio::time::sleep(SAMPLE).await;
        }
    }

    async fn all_ready(&self) -> bool {
        for serve in &self.serves {
            let healthy = get(serve.port, "/api/catalog/incremental/health")
                .await
                .is_some_and(|(status, _)| status == 200);
            let log = std::fs::read_to_string(&serve.log).unwrap_or_default();
            if !healthy || log.matches("plugin loaded").count() < SOURCES.len() {
                return false;
            }
        }
        true
    }

    /// The replica to kill: three times in four one holding a lease (if one
    /// does within half a second), else any.
    async fn victim(&mut self, rng: &mut Rng) -> usize {
        if rng.between(0, 3) > 0 {
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                let statuses = self.store.source_statuses().await.unwrap();
                let holder = statuses
                    .iter()
                    .filter_map(|s| s.lease_owner.as_deref().and_then(owner_pid))
                    .find_map(|pid| self.serves.iter().position(|s| s.pid() == pid));
                if let Some(index) = holder {
                    return index;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        rng.between(0, REPLICAS as u64 - 1) as usize
    }

    /// SIGKILL replica `index` and start another in its place.
    async fn kill_and_replace(&mut self, index: usize) {
        let victim = self.serves.remove(index);
        let pid = victim.pid();
        self.watch.killed.insert(pid, now_ms());
        victim.kill9();
        self.kills += 1;
        self.sample().await;
        if self.watch.orphans.values().any(|orphan| orphan.pid == pid) {
            self.lease_kills += 1;
        }
        self.serves.push(self.setup.spawn());
    }

    /// Between kills: the changing source changes now and then, a push
    /// comes in, and the consumer follows the stream on some replica.
    async fn meanwhile(&mut self, rng: &mut Rng, iteration: u64) {
        if rng.between(0, 2) == 0 {
            self.changing = Changing::random(rng);
            self.changing.write(&self.setup);
            self.config_changes += 1;
        }
        let port = self.serves[rng.between(0, REPLICAS as u64 - 1) as usize].port;
        if rng.between(0, 2) == 0 && push(port, push_body(rng, iteration)).await == Some(200) {
            self.pushes_applied += 1;
        }
        if let Err(error) = self.mirror.follow(port).await {
            panic!(
                "replicas: iteration {iteration}: {error}\n{}",
                self.setup.logs()
            );
        }
    }

    /// Until every killed replica's lease has passed on.
    async fn drain(&mut self) {
        while !self.watch.orphans.is_empty() {
            self.sample().await;
            tokio::time::sleep(SAMPLE).await;
        }
    }

    /// SIGTERM every replica; none may leave a lease behind, nor have had a
    /// commit fenced.
    async fn stop(&mut self) {
        for serve in self.serves.drain(..) {
            let pid = serve.pid();
            let status = serve.terminate().await;
            assert!(
                status.success(),
                "replicas: SIGTERM of {pid}: {status}\n{}",
                self.setup.logs()
            );
        }
        for status in self.store.source_statuses().await.unwrap() {
            assert_eq!(
                status.lease_owner, None,
                "replicas: `{}` kept a lease after SIGTERM of every replica: {status:#?}",
                status.source
            );
        }
        self.assert_never_fenced();
    }

    /// No replica's log says one of its commits was fenced: a commit by a
    /// replica whose lease another had taken, two runners of one source.
    fn assert_never_fenced(&self) {
        let logs = self.setup.all_logs();
        let fenced: Vec<&str> = logs
            .lines()
            .filter(|line| FENCED.iter().any(|message| line.contains(message)))
            .collect();
        assert!(
            fenced.is_empty(),
            "replicas: commits were fenced, so two replicas ran one source at once:\n{}",
            fenced.join("\n")
        );
    }
}

/// The median and the longest of `times`.
fn median_and_longest(times: &[Duration]) -> (Duration, Duration) {
    let mut times = times.to_vec();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    (median, times.last().copied().unwrap_or_default())
}

async fn replicas_killed_in_a_loop(url: &str) {
    let kills = env_number("WEIR_FAULT_REPLICA_KILLS", 12);
    let seconds = env_number("WEIR_FAULT_SECONDS", 0);
    let mut rng = Rng::from_clock("replicas");
    let started = Instant::now();
    // Migrate before any process starts.
    let store = Catalog::open(url).await.unwrap();
    // Bursts of several pages, so that a kill often takes a lease down.
    let config = config().replace("burstLength = \"1ms\"", "burstLength = \"300ms\"");
    assert!(config.contains("\"300ms\""));
    let setup = Setup::empty(url, &config)
        .with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN)
        .with_env("FAILPOINTS", "");
    let changing = Changing::random(&mut rng);
    populate(&setup, changing);
    let serves = (0..REPLICAS).map(|_| setup.spawn()).collect();
    let mut replicas = Replicas {
        store: &store,
        setup,
        serves,
        watch: Watch::default(),
        mirror: Mirror::default(),
        changing,
        kills: 0,
        lease_kills: 0,
        config_changes: 0,
        pushes_applied: 0,
    };

    let mut iteration = 0;
    while replicas.kills < kills || started.elapsed() < Duration::from_secs(seconds) {
        iteration += 1;
        let pause = Duration::from_millis(rng.between(1000, 4000));
        replicas.wait(pause).await;
        replicas.assert_never_fenced();
        replicas.meanwhile(&mut rng, iteration).await;
        let victim = replicas.victim(&mut rng).await;
        replicas.kill_and_replace(victim).await;
    }
    replicas.wait(Duration::ZERO).await;
    replicas.drain().await;
    let looped = started.elapsed();
    replicas.stop().await;
    assert!(
        replicas.kills < 8 || replicas.lease_kills * 4 >= replicas.kills,
        "replicas: too few kills took a lease down ({} of {}): the handover went unchecked",
        replicas.lease_kills,
        replicas.kills
    );

    let (median, longest) = median_and_longest(&replicas.watch.handovers);
    let (_, longest_after_lapse) = median_and_longest(&replicas.watch.after_lapse);
    let Replicas {
        setup,
        watch,
        mirror,
        changing,
        kills,
        lease_kills,
        config_changes,
        pushes_applied,
        ..
    } = replicas;
    let (setup, serve) = settle(setup, &store).await;
    let mut cycles = 0;
    for source in SOURCES {
        cycles += store.cycles(source, 100_000).await.unwrap().len();
    }
    check_invariants("replicas", &store, setup, serve, mirror, changing).await;
    eprintln!(
        "replicas: {kills} kills of {REPLICAS} replicas in {looped:.1?}, {lease_kills} of a \
         lease holder; {} handovers, median {median:.1?}, longest {longest:.1?} after the kill \
         (documented ≤ {LEASE_MS} ms, margin {HANDOVER_MARGIN:?}), at most \
         {longest_after_lapse:.1?} after the lease lapsed; {} samples, no source with \
         two runners; {config_changes} config changes, {pushes_applied} pushes applied; \
         {cycles} cycles completed; invariants held; {:.1?} in all",
        watch.handovers.len(),
        watch.samples,
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_in_a_loop_keep_one_runner_per_source() {
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    replicas_killed_in_a_loop(&url).await;
    db.drop_database().await;
}
