//! Database outages: the database goes away, is locked or is slow under a
//! running `weir serve`, which must resume by itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::store::Catalog;
use weir_tests::db::TestDb;

use super::invariants::{check_invariants, wait_settled};
use super::mirror::Mirror;
use super::{
    ADMIN_TOKEN, Changing, Rng, SOURCES, config, env_number, now_ms, populate, push, push_body,
    wait_log,
};
use crate::process::{Setup, TIMEOUT, get};

/// How long an outage lasts: `WEIR_FAULT_OUTAGE_SECONDS` (default 12, to
/// fit CI's budget; the 30 s and 60 s outages are a flag away).
pub(super) fn outage_length() -> Duration {
    Duration::from_secs(env_number("WEIR_FAULT_OUTAGE_SECONDS", 12))
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

/// A fault of the database, run beside a `weir serve`.
pub(super) struct Outage<F> {
    /// What goes wrong, for the messages (`postgres stopped`, ...).
    pub(super) name: &'static str,
    /// Lines added to the suite's `weir.toml`.
    pub(super) config: &'static str,
    /// Raised by `run` while the database cannot be reached at all: then
    /// nothing may be reported healthy.
    pub(super) down: Arc<AtomicBool>,
    /// The fault itself: the outage ends when it returns what it did.
    pub(super) run: F,
}

/// Run a `weir serve` through an outage, probing its health and pushing
/// meanwhile, and dropping a new build of source `b` in a third of the way
/// through, so that its trial runs while the database is away; then let it
/// settle by itself, in the same process, and check the invariants: and
/// that the new build was kept, not rolled back for the database's fault.
pub(super) async fn through_outage<F>(url: &str, outage: Outage<F>)
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    let Outage {
        name,
        config: extra_config,
        down,
        run,
    } = outage;
    let started = Instant::now();
    let mut rng = Rng::from_clock(name);
    drop(Catalog::open(url).await.unwrap());
    let config = format!("{}\n{extra_config}\n", config());
    let setup = Setup::empty(url, &config)
        .with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN)
        .with_env("FAILPOINTS", "");
    let mut changing = Changing::random(&mut rng);
    populate(&setup, changing);
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    let loaded = wait_log(&mut serve, &setup, "plugin loaded", SOURCES.len(), TIMEOUT).await;
    assert!(loaded, "{name}: the plugins did not load\n{}", setup.logs());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old_build = plugin_build(serve.port, "b").await;

    let outage_started = Instant::now();
    let outage = tokio::spawn(run);
    let mut health = HealthSeen::default();
    let mut pushes = BTreeMap::<u16, u64>::new();
    let mut new_build_dropped = false;
    while !outage.is_finished() {
        serve.assert_running(&setup);
        let down_before = down.load(Ordering::SeqCst);
        let healthy_before = health.healthy;
        if let Err(error) = health.probe(serve.port).await {
            panic!("{name}: during the outage: {error}\n{}", setup.logs());
        }
        if down_before && down.load(Ordering::SeqCst) && health.healthy > healthy_before {
            panic!(
                "{name}: reported healthy while the database was down\n{}",
                setup.logs()
            );
        }
        // The changing source changes meanwhile; pushes come in (and may be
        // refused while the database is away); a new build of `b` arrives.
        if rng.between(0, 9) == 0 {
            changing = Changing::random(&mut rng);
            changing.write(&setup);
        }
        if let Some(status) = push(serve.port, push_body(&mut rng, 0)).await {
            *pushes.entry(status).or_default() += 1;
        }
        if !new_build_dropped && outage_started.elapsed() * 3 >= outage_length() {
            drop_new_build(&setup, "b");
            new_build_dropped = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let what = outage.await.unwrap();
    let ended_ms = now_ms();
    serve.assert_running(&setup);
    eprintln!("{name}: {what}; health answers meanwhile {health:?}; pushes by status {pushes:?}");
    // A database away, locked or full is unavailable, not broken: a push is
    // told to come back (503 with Retry-After), not that the server failed.
    assert!(
        !pushes.contains_key(&500),
        "{name}: pushes answered 500 during the outage, not 503: {pushes:?}\n{}",
        setup.logs()
    );
    assert!(
        new_build_dropped,
        "{name}: the outage ended before the new build came"
    );

    let store = Catalog::open(url).await.unwrap();
    wait_settled(&store, &setup, &mut serve, ended_ms).await;
    // The new build ran its trial during the outage and was kept.
    let plugin = plugin_status(serve.port, "b").await;
    assert!(
        plugin["build"] != old_build && plugin["quarantined"].is_null(),
        "{name}: the new build of `b` was rolled back for the database's fault: {plugin:#}\n{}",
        setup.logs()
    );
    let mut mirror = Mirror::default();
    mirror.follow(serve.port).await.unwrap();
    check_invariants(name, &store, setup, serve, mirror, changing).await;
    eprintln!(
        "{name}: resumed by itself, the new build kept, invariants held; {:.1?} in all",
        started.elapsed()
    );
}

/// The `plugin` part of source `source`'s status.
async fn plugin_status(port: u16, source: &str) -> Value {
    let path = format!("/api/catalog/incremental/providers/{source}");
    let (status, body) = get(port, &path).await.expect("the status answers");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["plugin"].clone()
}

async fn plugin_build(port: u16, source: &str) -> Value {
    plugin_status(port, source).await["build"].clone()
}

/// Replace `SOURCE.wasm` with a new build of the same source: the same
/// component with a custom section added (other bytes, the same behaviour),
/// renamed into place as the operating guide says.
fn drop_new_build(setup: &Setup, source: &str) {
    let file = setup.plugins().join(format!("{source}.wasm"));
    let mut bytes = std::fs::read(&file).unwrap();
    let name = b"weir-fault-suite";
    let payload = now_ms().to_le_bytes();
    let size = 1 + name.len() + payload.len();
    bytes.push(0); // a custom section
    bytes.push(u8::try_from(size).unwrap()); // its size (one LEB128 byte)
    bytes.push(u8::try_from(name.len()).unwrap());
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    let temporary = setup.plugins().join(format!(".{source}.wasm.tmp"));
    std::fs::write(&temporary, &bytes).unwrap();
    std::fs::rename(&temporary, &file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backends_terminated_in_a_loop_ingestion_resumes() {
    use sqlx::Connection;
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let admin = url.clone();
    let run = async move {
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
    };
    let outage = Outage {
        name: "postgres backends terminated",
        config: "",
        down: Arc::default(),
        run,
    };
    through_outage(&url, outage).await;
    db.drop_database().await;
}

/// Another session takes every table of Weir's with `LOCK TABLE … IN
/// ACCESS EXCLUSIVE MODE` (what a migration or `VACUUM FULL` does) and holds
/// its transaction open: Weir's statements give up after `lockTimeout`, its
/// sources back off, and nothing waits for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tables_locked_by_another_session_ingestion_resumes() {
    use sqlx::Connection;
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let holder = url.clone();
    let run = async move {
        let mut connection = sqlx::PgConnection::connect(&holder).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'",
        )
        .fetch_all(&mut connection)
        .await
        .unwrap();
        assert!(!tables.is_empty(), "Weir's tables were not found");
        let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", tables.join(", "));
        // The tables are locked one by one, beside Weir's own statements: a
        // deadlock with one of them aborts this transaction, so try again.
        let mut deadlocks = 0;
        loop {
            sqlx::raw_sql("BEGIN")
                .execute(&mut connection)
                .await
                .unwrap();
            // The names come quoted by quote_ident.
            let locked = sqlx::raw_sql(sqlx::AssertSqlSafe(lock.clone()))
                .execute(&mut connection)
                .await;
            match locked {
                Ok(_) => break,
                Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("40P01") => {
                    deadlocks += 1;
                    assert!(deadlocks < 20, "LOCK TABLE deadlocked 20 times: {error}");
                    sqlx::raw_sql("ROLLBACK")
                        .execute(&mut connection)
                        .await
                        .unwrap();
                }
                Err(error) => panic!("LOCK TABLE: {error}"),
            }
        }
        tokio::time::sleep(outage_length()).await;
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut connection)
            .await
            .unwrap();
        format!(
            "{} tables locked by another session's open transaction for {:?}",
            tables.len(),
            outage_length()
        )
    };
    let outage = Outage {
        name: "postgres tables locked",
        // Weir's statements give up on a lock after 1 s and back off.
        config: "[postgres]\nlockTimeout = \"1s\"",
        down: Arc::default(),
        run,
    };
    through_outage(&url, outage).await;
    db.drop_database().await;
}

/// The machine's own PostgreSQL cluster stopped (`pg_ctlcluster … stop`)
/// for the outage's length, then started again. It takes the server from
/// every other test, so it is ignored by `cargo test` and run alone by
/// `.ci/test` (suite `outage`). PostgreSQL is started again whatever
/// happens: the guard starts it when the test ends, even by a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops the machine's PostgreSQL: run alone (`.ci/test outage`)"]
async fn postgres_stopped_and_started_ingestion_resumes() {
    let Some((db, url)) = TestDb::postgres().await else {
        panic!("needs WEIR_TEST_POSTGRES_URL (this test stops that server)");
    };
    let cluster = Cluster::machines();
    let down = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&down);
    let run = async move {
        let stopped = Instant::now();
        cluster.stop();
        flag.store(true, Ordering::SeqCst);
        tokio::time::sleep(outage_length()).await;
        flag.store(false, Ordering::SeqCst);
        cluster.start();
        format!(
            "PostgreSQL stopped for {:.1?} (pg_ctlcluster stop, start)",
            stopped.elapsed()
        )
    };
    let outage = Outage {
        name: "postgres stopped",
        config: "[postgres]\nconnectTimeout = \"2s\"",
        down,
        run,
    };
    through_outage(&url, outage).await;
    db.drop_database().await;
}

/// The machine's PostgreSQL cluster, as `pg_ctlcluster` names it; started
/// again when dropped, so no test leaves it stopped.
struct Cluster {
    version: String,
}

impl Cluster {
    fn machines() -> Cluster {
        let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
            .expect("/etc/postgresql: the machine's PostgreSQL clusters")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        let [version] = versions.as_slice() else {
            panic!("/etc/postgresql: expected one PostgreSQL version, found {versions:?}");
        };
        Cluster {
            version: version.clone(),
        }
    }

    fn pg_ctlcluster(&self, action: &str) -> std::process::ExitStatus {
        std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, "main", action])
            .status()
            .unwrap_or_else(|error| panic!("pg_ctlcluster {action}: {error}"))
    }

    fn stop(&self) {
        let status = self.pg_ctlcluster("stop");
        assert!(status.success(), "pg_ctlcluster stop: {status}");
    }

    fn start(&self) {
        let status = self.pg_ctlcluster("start");
        assert!(status.success(), "pg_ctlcluster start: {status}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let running = std::process::Command::new("pg_ctlcluster")
            .args([self.version.as_str(), "main", "status"])
            .status()
            .is_ok_and(|status| status.success());
        if !running {
            let _ = self.pg_ctlcluster("start");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_ingestion_resumes() {
    use sqlx::Connection;
    let (db, url) = TestDb::sqlite();
    let holder = url.clone();
    let run = async move {
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
    };
    let outage = Outage {
        name: "sqlite locked",
        // Weir's writes give up after 1 s of the lock and back off.
        config: "[sqlite]\nbusyTimeout = \"1s\"",
        down: Arc::default(),
        run,
    };
    through_outage(&url, outage).await;
    db.drop_database().await;
}
