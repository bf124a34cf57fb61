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
//!
//! Each file is one kind of fault: `kill_loop` (SIGKILL), `outages` (the
//! database away, locked or slow), `disk` (a full disk, the write-ahead log
//! under readers), `replicas` (replicas killed on one PostgreSQL); `mirror`
//! is a consumer of the event stream and `invariants` what must hold after
//! any of them.

mod disk;
mod invariants;
mod kill_loop;
mod mirror;
mod outages;
mod replicas;

use std::time::{Duration, Instant};

use serde_json::json;

use crate::guests;
use crate::process::{POLL, Serve, Setup, send};
use crate::replayable::Rng;

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
