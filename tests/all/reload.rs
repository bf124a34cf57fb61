//! The plugins folder in-process: a real [`PluginsFolder`] task watching a
//! temporary folder, a real [`Supervisor`] on a SQLite file, real components.
//! Files are dropped, replaced, copied in slowly, corrupted, duplicated and
//! deleted while the engine runs; every wait polls for a condition and fails
//! after a generous timeout saying what it last saw.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir::config::Config;
use weir::engine::{Supervisor, SupervisorOptions, TRIAL_FAILURES};
use weir::http::PushKeys;
use weir::plugins::{FolderOptions, PluginsFolder};
use weir::runtime::{PluginRuntime, RuntimeOptions};
use weir::store::Catalog;
use weir_core::sourced::PluginBuild;
use weir_tests::db::TestDb;

use crate::guests;

const TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);

/// A running engine and the folder task watching `plugins`.
struct Folder {
    _db: TestDb,
    dir: tempfile::TempDir,
    store: Catalog,
    engine: Arc<Supervisor>,
    push_keys: PushKeys,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Folder {
    async fn start(config: &str) -> Folder {
        let (db, url) = TestDb::sqlite();
        let store = Catalog::open(&url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        let env = |name: &str| std::env::var(name).ok();
        let config = Config::parse(config, Path::new("weir.toml"), env).unwrap();
        let runtime = Arc::new(
            PluginRuntime::new(RuntimeOptions {
                cache_dir: Some(std::env::temp_dir().join("weir-reload-test-cache")),
                ..RuntimeOptions::default()
            })
            .unwrap(),
        );
        let engine = Arc::new(Supervisor::start(
            store.clone(),
            Vec::new(),
            SupervisorOptions {
                max_concurrent_bursts: 4,
                poll: Duration::from_millis(50),
                ..SupervisorOptions::default()
            },
        ));
        let options = FolderOptions {
            dir: dir.path().join("plugins"),
            debounce: Duration::from_millis(200),
            rescan: Duration::from_millis(100),
        };
        let push_keys = PushKeys::default();
        let folder = PluginsFolder::new(
            options,
            config,
            runtime,
            Arc::clone(&engine),
            push_keys.clone(),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(folder.run(stopped));
        Folder {
            _db: db,
            dir,
            store,
            engine,
            push_keys,
            stop,
            task,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("plugins").join(name)
    }

    /// Write `name` as a copy tool that follows the advice does: a dot file,
    /// renamed into place.
    fn put(&self, name: &str, bytes: &[u8]) {
        let temporary = self.path(&format!(".{name}.tmp"));
        std::fs::write(&temporary, bytes).unwrap();
        std::fs::rename(&temporary, self.path(name)).unwrap();
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
        self.engine.shutdown().await;
    }

    /// Wait until `check` holds, polling; fail with `what` and the reload
    /// statuses.
    async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !check().await {
            assert!(
                started.elapsed() < TIMEOUT,
                "timed out waiting until {what}; reloads: {:#?}; sources: {:?}",
                self.engine.reload_statuses(),
                self.engine.sources()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn cycles_completed(&self, source: &str) -> usize {
        self.store
            .cycles(source, 100)
            .await
            .unwrap()
            .iter()
            .filter(|cycle| cycle.outcome == "completed")
            .count()
    }

    async fn pages(&self, source: &str) -> i64 {
        self.store
            .source_status(source)
            .await
            .unwrap()
            .map_or(0, |status| status.totals.pages)
    }

    /// Every merged entity's hash, by ref.
    async fn hashes(&self) -> BTreeMap<String, String> {
        let entities = self.store.entities(None, None, 100_000).await.unwrap();
        entities
            .into_iter()
            .map(|e| (e.entity_ref, e.hash))
            .collect()
    }

    fn last_error(&self, name: &str) -> Option<String> {
        self.engine
            .reload_statuses()
            .get(name)
            .and_then(|status| status.last_error.clone())
    }
}

/// The bytes of the component at `path` with a custom section appended: a
/// different build (another SHA-256) that behaves the same.
fn variant(path: &str, tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let name = b"weir-test-variant";
    let mut payload = vec![u8::try_from(name.len()).unwrap()];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0);
    bytes.push(u8::try_from(payload.len()).unwrap());
    bytes.extend(payload);
    bytes
}

/// A synthetic source of 200 entities in 20 pages, one page per burst and
/// a pause between bursts, so that a cycle takes a few seconds.
fn manifest(seed: u32, interval: &str) -> String {
    format!(
        r#"
burstLength = "1ms"
burstInterval = "{interval}"
restLength = "1h"
backoff = ["50ms"]

[config]
count = 200
page-size = 10
seed = {seed}
entity-bytes = 200
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_plugin_ingests_and_a_new_version_lands_at_the_next_burst_keeping_the_cursor() {
    let folder = Folder::start("").await;
    folder.put("synthetic.toml", manifest(0, "150ms").as_bytes());
    let dropped = Instant::now();
    folder.put("synthetic.wasm", &std::fs::read(guests::SYNTHETIC).unwrap());
    folder
        .until("the dropped plugin commits a page", || async {
            folder.pages("synthetic").await >= 1
        })
        .await;
    eprintln!("drop to first page: {:.0?}", dropped.elapsed());
    folder
        .until("a few pages are in", || async {
            folder.pages("synthetic").await >= 4
        })
        .await;
    let first = folder.engine.plugin("synthetic").unwrap().build().clone();
    // A new build and a new seed, in one change.
    let new = variant(guests::SYNTHETIC, "v2");
    let new_build = PluginBuild::of(&new);
    folder.put("synthetic.toml", manifest(1, "150ms").as_bytes());
    folder.put("synthetic.wasm", &new);
    folder
        .until("the new build runs", || async {
            folder
                .engine
                .plugin("synthetic")
                .is_some_and(|plugin| *plugin.build() == new_build)
        })
        .await;
    let status = folder
        .store
        .source_status("synthetic")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.cycle, 1, "the cycle carries on");
    assert!(status.totals.pages < 20, "swapped mid-cycle: {status:?}");
    folder
        .until("the first cycle completes", || async {
            folder.cycles_completed("synthetic").await == 1
        })
        .await;
    let cycle = &folder.store.cycles("synthetic", 1).await.unwrap()[0];
    assert_eq!(
        (cycle.totals.pages, cycle.totals.entities),
        (20, 200),
        "the cursor carried over: no page twice, none skipped"
    );
    let reload = folder.engine.reload_statuses()["synthetic"].clone();
    assert!(reload.reloads >= 1, "{reload:?}");
    assert_eq!(reload.build, new_build.sha256());
    assert_ne!(reload.build, first.sha256());
    // The next cycle runs seed 1 throughout: only the entities the old
    // version wrote change; those after the swap were already seed 1's.
    let before = folder.hashes().await;
    folder.engine.trigger("synthetic").await.unwrap();
    folder
        .until("the second cycle completes", || async {
            folder.cycles_completed("synthetic").await == 2
        })
        .await;
    let after = folder.hashes().await;
    let changed = before
        .iter()
        .filter(|(r, h)| after.get(*r) != Some(h))
        .count();
    assert!(
        changed > 0 && changed < 200,
        "{changed} of 200 entities changed: the pages after the swap came from the new version"
    );
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_chunked_copy_is_never_loaded_half_written() {
    let folder = Folder::start("").await;
    folder.put("synthetic.toml", manifest(0, "0s").as_bytes());
    let bytes = std::fs::read(guests::SYNTHETIC).unwrap();
    let mut file = std::fs::File::create(folder.path("synthetic.wasm")).unwrap();
    for chunk in bytes.chunks(bytes.len() / 8 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        // Well inside the 200 ms debounce window.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    drop(file);
    folder
        .until("the copied plugin completes a cycle", || async {
            folder.cycles_completed("synthetic").await == 1
        })
        .await;
    let statuses = folder.engine.reload_statuses();
    for (name, status) in &statuses {
        assert_eq!(status.last_error, None, "{name}: {status:?}");
    }
    assert_eq!(statuses["synthetic"].reloads, 0);
    assert!(
        folder
            .store
            .recent_errors("synthetic")
            .await
            .unwrap()
            .is_empty(),
        "no load error was recorded"
    );
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_file_beside_a_good_one_and_duplicate_provider_names_are_refused() {
    // `twin.wasm` answers to `synthetic` too, which the operator lets it
    // (were it not so mapped, it would be refused for its name alone).
    let folder = Folder::start("[sources.twin]\nproviderName = \"synthetic\"\n").await;
    folder.put("broken.wasm", b"\0asm this is not a component");
    folder.put("synthetic.toml", manifest(0, "0s").as_bytes());
    folder.put("synthetic.wasm", &std::fs::read(guests::SYNTHETIC).unwrap());
    folder
        .until("the good plugin completes a cycle", || async {
            folder.cycles_completed("synthetic").await == 1
        })
        .await;
    folder
        .until("the broken file's error is visible", || async {
            folder.last_error("broken").is_some()
        })
        .await;
    let error = folder.last_error("broken").unwrap();
    assert!(error.contains("broken.wasm"), "{error}");
    assert!(error.contains("does not run"), "{error}");
    assert_eq!(folder.engine.sources(), vec!["synthetic".to_owned()]);

    // A second file with the provider name `synthetic`.
    folder.put("twin.wasm", &variant(guests::SYNTHETIC, "twin"));
    folder
        .until("the twin is refused", || async {
            folder.last_error("synthetic").is_some()
        })
        .await;
    let error = folder.last_error("synthetic").unwrap();
    assert!(
        error.contains("twin.wasm") && error.contains("synthetic.wasm"),
        "names both files: {error}"
    );
    assert!(
        folder
            .engine
            .plugin("synthetic")
            .unwrap()
            .file()
            .ends_with("synthetic.wasm")
    );
    let recorded = folder.store.recent_errors("synthetic").await.unwrap();
    assert!(
        recorded.iter().any(|e| e.message.contains("twin.wasm")),
        "{recorded:?}"
    );
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_plugin_stops_and_its_entities_stay_until_they_expire() {
    let folder = Folder::start("").await;
    folder.put("synthetic.toml", manifest(0, "0s").as_bytes());
    folder.put("synthetic.wasm", &std::fs::read(guests::SYNTHETIC).unwrap());
    folder
        .until("a cycle completes", || async {
            folder.cycles_completed("synthetic").await == 1
        })
        .await;
    std::fs::remove_file(folder.path("synthetic.wasm")).unwrap();
    folder
        .until("the source stops", || async {
            folder.engine.sources().is_empty()
        })
        .await;
    assert_eq!(
        folder.hashes().await.len(),
        200,
        "entities stay (expireAfter 1h)"
    );
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_manifest_reloads_the_settings_and_an_invalid_one_keeps_them() {
    let folder = Folder::start("").await;
    folder.put("synthetic.toml", manifest(0, "0s").as_bytes());
    folder.put("synthetic.wasm", &std::fs::read(guests::SYNTHETIC).unwrap());
    folder
        .until("a cycle completes", || async {
            folder.cycles_completed("synthetic").await == 1
        })
        .await;
    let seed_0 = folder.hashes().await;

    folder.put("synthetic.toml", b"burstLength = \"soon\"\n");
    folder
        .until("the invalid manifest is reported", || async {
            folder.last_error("synthetic").is_some()
        })
        .await;
    let error = folder.last_error("synthetic").unwrap();
    assert!(
        error.contains("synthetic.toml: burstLength: invalid duration"),
        "{error}"
    );
    assert!(error.contains("previous settings stay"), "{error}");
    assert_eq!(folder.engine.sources(), vec!["synthetic".to_owned()]);

    folder.put("synthetic.toml", manifest(1, "0s").as_bytes());
    folder
        .until("the new settings are running", || async {
            folder.engine.reload_statuses()["synthetic"].reloads == 1
        })
        .await;
    assert_eq!(folder.last_error("synthetic"), None);
    folder.engine.trigger("synthetic").await.unwrap();
    folder
        .until("a cycle with the new seed completes", || async {
            folder.cycles_completed("synthetic").await == 2
        })
        .await;
    let seed_1 = folder.hashes().await;
    assert_eq!(seed_1.len(), 200);
    assert!(
        seed_1.iter().all(|(r, h)| seed_0.get(r) != Some(h)),
        "every entity changed with the seed"
    );
    folder.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_keeps_failing_is_rolled_back_and_quarantined() {
    let folder = Folder::start("").await;
    let good = r#"
burstLength = "1ms"
burstInterval = "100ms"
restLength = "1h"
backoff = ["50ms"]
[config]
pages = 1000
page_size = 2
"#;
    folder.put("flaky.toml", good.as_bytes());
    folder.put("flaky.wasm", &std::fs::read(guests::PLUGIN_FLAKY).unwrap());
    folder
        .until("the good version commits pages", || async {
            folder.pages("flaky").await >= 2
        })
        .await;
    let good_build = folder.engine.plugin("flaky").unwrap().build().clone();
    let bad = variant(guests::PLUGIN_FLAKY, "bad");
    let bad_build = PluginBuild::of(&bad);
    folder.put(
        "flaky.toml",
        format!("{good}fail_open = \"transient\"\n").as_bytes(),
    );
    folder.put("flaky.wasm", &bad);
    folder
        .until("the bad version is rolled back", || async {
            folder.engine.reload_statuses()["flaky"]
                .quarantined
                .is_some()
        })
        .await;
    let status = folder.engine.reload_statuses()["flaky"].clone();
    assert_eq!(status.quarantined.as_deref(), Some(bad_build.sha256()));
    assert_eq!(status.build, good_build.sha256());
    let error = status.last_error.unwrap();
    assert!(
        error.contains(bad_build.sha256()) && error.contains(good_build.sha256()),
        "both hashes: {error}"
    );
    assert!(
        error.contains(&format!("first {TRIAL_FAILURES} bursts")),
        "{error}"
    );
    assert_eq!(
        folder.engine.quarantined("flaky"),
        Some(bad_build.sha256().to_owned())
    );
    // The good version carries on from the cursor.
    let pages = folder.pages("flaky").await;
    folder
        .until("the good version commits again", || async {
            folder.pages("flaky").await > pages
        })
        .await;
    assert_eq!(*folder.engine.plugin("flaky").unwrap().build(), good_build);
    folder.stop().await;
}

/// `weir serve` itself: a plugin dropped into the folder of a running
/// server ingests; deleted, it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_serve_loads_a_dropped_plugin_and_stops_a_deleted_one() {
    let (_db, url) = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(
        dir.path().join("weir.toml"),
        "[sources.synthetic]\nrestLength = \"1h\"\n[sources.synthetic.config]\ncount = 50\npage-size = 10\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("serve.log");
    let mut child = Server(
        std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .arg("--config")
            .arg(dir.path().join("weir.toml"))
            .arg("--database")
            .arg(&url)
            .arg("--plugins")
            .arg(&plugins)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--cache-dir")
            .arg(std::env::temp_dir().join("weir-reload-test-cache"))
            .arg("--debounce")
            .arg("100ms")
            .arg("--rescan")
            .arg("200ms")
            .env("WEIR_LOG", "info")
            .env_remove("WEIR_DATABASE_URL")
            .env_remove("WEIR_PLUGINS")
            .env_remove("WEIR_LISTEN")
            .env_remove("WEIR_CACHE_DIR")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < TIMEOUT,
                "timed out waiting until {what}; log:\n{}",
                log()
            );
            std::thread::sleep(POLL);
        }
    };
    wait("the server runs", &|| {
        log().contains("weir serve is running")
    });
    let staged = plugins.join(".synthetic.wasm.tmp");
    std::fs::copy(guests::SYNTHETIC, &staged).unwrap();
    std::fs::rename(&staged, plugins.join("synthetic.wasm")).unwrap();
    let store = Catalog::open(&url).await.unwrap();
    let started = Instant::now();
    loop {
        let cycles = store.cycles("synthetic", 1).await.unwrap();
        if cycles.first().is_some_and(|c| c.outcome == "completed") {
            break;
        }
        assert!(started.elapsed() < TIMEOUT, "no cycle; log:\n{}", log());
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(store.entities(None, None, 1000).await.unwrap().len(), 50);
    std::fs::remove_file(plugins.join("synthetic.wasm")).unwrap();
    wait("the source stops", &|| log().contains("source removed"));
    terminate(&mut child.0);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}; log:\n{}", log());
}

/// SIGTERM, as an operator stops the server.
fn terminate(child: &mut std::process::Child) {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A `weir serve` process, killed if the test ends without stopping it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_whose_entities_are_mostly_refused_is_rolled_back() {
    let folder = Folder::start("").await;
    let settings = r#"
burstLength = "1ms"
burstInterval = "100ms"
restLength = "1h"
backoff = ["50ms"]
[config]
count = 1000
page-size = 5
entity-bytes = 200
"#;
    folder.put("synthetic.toml", settings.as_bytes());
    folder.put("synthetic.wasm", &std::fs::read(guests::SYNTHETIC).unwrap());
    folder
        .until("the good version commits pages", || async {
            folder.pages("synthetic").await >= 2
        })
        .await;
    let good_build = folder.engine.plugin("synthetic").unwrap().build().clone();
    // Every Component is out of this scope: all refused.
    let bad = variant(guests::SYNTHETIC, "scoped");
    let bad_build = PluginBuild::of(&bad);
    folder.put(
        "synthetic.toml",
        format!("kinds = [\"API\"]\n{settings}").as_bytes(),
    );
    folder.put("synthetic.wasm", &bad);
    folder
        .until("the new version is rolled back", || async {
            folder.engine.reload_statuses()["synthetic"]
                .quarantined
                .is_some()
        })
        .await;
    let status = folder.engine.reload_statuses()["synthetic"].clone();
    assert_eq!(status.quarantined.as_deref(), Some(bad_build.sha256()));
    assert_eq!(status.build, good_build.sha256());
    folder.stop().await;
}

/// How a source's pushes authenticate follows the plugins folder, without a
/// restart: a plugin dropped in gets the operator's `[push]` settings, a
/// removed one's are gone, and a manifest cannot set them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_authentication_follows_the_plugins_folder() {
    // The token is read from an environment variable every test run has
    // (long enough for a token).
    let folder = Folder::start("[sources.pushing.push]\ntoken = \"PATH\"\n").await;
    folder.put(
        "pushing.wasm",
        &std::fs::read(guests::PLUGIN_PUSHING).unwrap(),
    );
    folder
        .until("the pushing source has a push token", async || {
            folder
                .push_keys
                .get("pushing")
                .is_some_and(|auth| auth.token.is_some())
        })
        .await;

    // A manifest asking for push settings is refused; what runs keeps its own.
    folder.put("pushing.toml", b"[push]\ntoken = \"HOME\"\n");
    folder
        .until("the manifest is refused", async || {
            folder
                .last_error("pushing")
                .is_some_and(|error| error.contains("push: only the operator sets this"))
        })
        .await;
    assert!(
        folder
            .push_keys
            .get("pushing")
            .is_some_and(|auth| auth.token.is_some())
    );

    std::fs::remove_file(folder.path("pushing.wasm")).unwrap();
    folder
        .until("the removed source has no push settings", async || {
            folder.push_keys.get("pushing").is_none()
        })
        .await;
    folder.stop().await;
}
