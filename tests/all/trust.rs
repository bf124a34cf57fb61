//! The trust boundary, as an operator meets it: a plugin and its manifest
//! come from the plugin's author; `weir.toml`, the command line and the
//! environment are the operator's. A plugin asks; only the operator grants.
//! Real `weir serve` processes with hostile plugins and manifests dropped
//! into their plugins folder, and `weir check` as an operator runs it.

use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use weir::store::Catalog;

use crate::guests;
use crate::process::{POLL, Serve, Setup, TIMEOUT, cache_dir, get};

/// The admin token of every `weir serve` here: it must reach no plugin.
const ADMIN_TOKEN: &str = "admin-token-0123456789-must-never-leak";

/// A folder whose `weir serve` runs on its own SQLite file with the admin
/// token set.
fn setup(config: &str) -> Setup {
    Setup::sqlite(config).with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN)
}

/// Poll `path` until `check` accepts its JSON body; fail after [`TIMEOUT`]
/// with the last answer and the logs.
async fn wait_for_json<T>(
    serve: &mut Serve,
    setup: &Setup,
    path: &str,
    what: &str,
    mut check: impl FnMut(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = None;
    loop {
        serve.assert_running(setup);
        if let Some((_, body)) = get(serve.port, path).await
            && let Ok(json) = serde_json::from_str::<Value>(&body)
        {
            if let Some(found) = check(&json) {
                return found;
            }
            last = Some(json);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} at {path}; last answer {last:#?}\n{}",
            setup.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Wait until the log holds `needle`.
async fn wait_for_log(serve: &mut Serve, setup: &Setup, needle: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while !setup.all_logs().contains(needle) {
        serve.assert_running(setup);
        assert!(
            Instant::now() < deadline,
            "the log never said {needle:?}:\n{}",
            setup.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The entity named `name` in `GET /api/entities`, once there.
async fn wait_for_entity(serve: &mut Serve, setup: &Setup, name: &str) -> Value {
    wait_for_json(serve, setup, "/api/entities?limit=5000", name, |page| {
        page["items"]
            .as_array()?
            .iter()
            .find(|item| item["entity"]["metadata"]["name"] == name)
            .map(|item| item["entity"].clone())
    })
    .await
}

/// Everything a reader of the API and the log could see.
async fn everything_visible(serve: &Serve, setup: &Setup) -> String {
    let mut seen = setup.all_logs();
    for path in [
        "/api/entities?limit=5000",
        "/api/events?limit=10000",
        "/api/catalog/incremental/providers",
        "/api/catalog/incremental/providers/hostile",
        "/metrics",
    ] {
        if let Some((_, body)) = get(serve.port, path).await {
            seen.push_str(&body);
        }
    }
    seen
}

#[tokio::test]
async fn a_manifest_cannot_hand_the_hosts_secrets_to_a_plugin() {
    let setup = setup("[sources.hostile.config]\necho-secrets = \"t\"\n");
    setup.add_plugin("hostile.wasm", guests::PLUGIN_HOSTILE);
    setup.write_plugin_file("hostile.toml", "[secrets]\nt = \"WEIR_ADMIN_TOKEN\"\n");
    let mut serve = setup.spawn();
    wait_for_log(
        &mut serve,
        &setup,
        "hostile.toml: secrets: a manifest only names the secrets the plugin needs",
    )
    .await;
    // The manifest that only names the secret: the plugin runs, and reads none.
    setup.write_plugin_file("hostile.toml", "secrets = [\"t\"]\n");
    let entity = wait_for_entity(&mut serve, &setup, "hostile-secrets").await;
    assert_eq!(
        entity["metadata"]["annotations"]["hostile/secret-t"], "(none)",
        "{entity:#}"
    );
    wait_for_log(
        &mut serve,
        &setup,
        "asks for secrets the operator did not grant (t)",
    )
    .await;
    let missing = wait_for_json(
        &mut serve,
        &setup,
        "/api/catalog/incremental/providers/hostile",
        "the provider status",
        |status| status["plugin"]["missingSecrets"].as_array().cloned(),
    )
    .await;
    assert_eq!(missing, [serde_json::json!("t")]);
    let seen = everything_visible(&serve, &setup).await;
    assert!(
        !seen.contains(ADMIN_TOKEN),
        "the admin token reached a plugin, an entity or a log"
    );
    serve.terminate().await;
}

#[tokio::test]
async fn a_plugin_cannot_take_another_sources_name() {
    let setup = setup(
        "[sources.synthetic]\nrestLength = \"1h\"\n\
         [sources.synthetic.config]\ncount = 40\npage-size = 20\n",
    );
    // `a.wasm` sorts, and so loads, before `synthetic.wasm`.
    setup.add_plugin("a.wasm", guests::PLUGIN_HOSTILE);
    setup.write_plugin_file("a.toml", "[config]\nprovider-name = \"synthetic\"\n");
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    let mut serve = setup.spawn();
    wait_for_log(
        &mut serve,
        &setup,
        "a.wasm: the plugin answers to provider name `synthetic`, but a plugin file named \
         `a.wasm` runs as `a`; it does not run",
    )
    .await;
    let store = Catalog::open(setup.url()).await.unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while store.cycles("synthetic", 1).await.unwrap().is_empty() {
        serve.assert_running(&setup);
        assert!(Instant::now() < deadline, "no cycle:\n{}", setup.logs());
        tokio::time::sleep(POLL).await;
    }
    let entities = store.entities(None, None, 1000).await.unwrap();
    assert_eq!(entities.len(), 40, "the victim's entities, and only them");
    assert!(
        entities
            .iter()
            .all(|e| e.entity_ref.starts_with("component:default/entity-")),
        "{entities:#?}"
    );
    serve.terminate().await;
}

#[tokio::test]
async fn symlinked_plugins_and_manifests_are_refused() {
    let setup = setup("");
    let plugins = setup.plugins();
    std::os::unix::fs::symlink(guests::SYNTHETIC, plugins.join("synthetic.wasm")).unwrap();
    setup.add_plugin("hostile.wasm", guests::PLUGIN_HOSTILE);
    let elsewhere = plugins.with_file_name("manifest-elsewhere.toml");
    std::fs::write(&elsewhere, "burstInterval = \"1s\"\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, plugins.join("hostile.toml")).unwrap();
    let mut serve = setup.spawn();
    for link in ["synthetic.wasm", "hostile.toml"] {
        wait_for_log(
            &mut serve,
            &setup,
            &format!(
                "{link} is a symbolic link: plugins and their manifests must be regular files"
            ),
        )
        .await;
    }
    let providers = wait_for_json(
        &mut serve,
        &setup,
        "/api/catalog/incremental/providers",
        "the providers",
        |body| body["providers"].as_array().cloned(),
    )
    .await;
    assert!(providers.is_empty(), "nothing runs: {providers:?}");
    // The same plugin as a regular file runs.
    std::fs::remove_file(plugins.join("synthetic.wasm")).unwrap();
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    wait_for_json(
        &mut serve,
        &setup,
        "/api/catalog/incremental/providers",
        "synthetic to run",
        |body| (body["providers"] == serde_json::json!(["synthetic"])).then_some(()),
    )
    .await;
    serve.terminate().await;
}

#[tokio::test]
async fn a_huge_duration_is_refused_with_its_key_and_crashes_nothing() {
    let huge = "[sources.synthetic.limits]\ndeadline = \"300000000000y\"\n";
    // In the operator's file: `weir serve` refuses to start, saying why.
    let refused = setup(huge);
    refused.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    let status = refused.spawn().wait_exit().await;
    let log = refused.all_logs();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("weir.toml: sources.synthetic.limits.deadline: must be at most 1h"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    // In a manifest: the source is refused, the host goes on.
    let setup = setup("");
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    setup.write_plugin_file("synthetic.toml", "[limits]\ndeadline = \"300000000000y\"\n");
    let mut serve = setup.spawn();
    wait_for_log(
        &mut serve,
        &setup,
        "synthetic.toml: limits.deadline: must be at most 1h",
    )
    .await;
    let (code, _) = get(serve.port, "/healthz").await.expect("healthz");
    assert_eq!(code, 200);
    assert!(!setup.all_logs().contains("panicked"));
    serve.terminate().await;
}

/// `weir check` shows, for each setting, what the manifest asked, what the
/// operator granted and what the source gets; a manifest that sets what is
/// the operator's alone is refused, naming its file and key.
#[test]
fn weir_check_shows_what_was_asked_granted_and_given() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("hostile.wasm");
    std::fs::copy(guests::PLUGIN_HOSTILE, &plugin).unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        "[limits]\nmemory = \"256MiB\"\n[sources.hostile.limits]\ndeadline = \"2s\"\n",
    )
    .unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["check", "--config"])
            .arg(&config)
            .arg("--cache-dir")
            .arg(cache_dir())
            .arg(&plugin)
            .env("WEIR_LOG", "warn")
            .output()
            .expect("run weir check")
    };
    let manifest = plugin.with_extension("toml");
    std::fs::write(
        &manifest,
        "burstLength = \"1h\"\nsecrets = [\"token\"]\n\
         [limits]\nfuel = 1000000000000000\ndeadline = \"1h\"\nmemory = \"4GiB\"\n",
    )
    .unwrap();
    let output = check();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = |key: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no row {key} in:\n{stdout}"))
            .split("  ")
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row("limits.deadline"),
        ["limits.deadline", "1h", "2s", "2s"]
    );
    assert_eq!(
        row("limits.memory"),
        [
            "limits.memory",
            "4294967296 bytes",
            "268435456 bytes",
            "268435456 bytes"
        ]
    );
    assert_eq!(
        row("burstLength"),
        ["burstLength", "1h", "3s (default)", "3s"]
    );
    assert_eq!(
        row("secrets.token"),
        ["secrets.token", "asked", "not granted", "none (missing)"]
    );
    assert!(stdout.contains("missing secrets: token"), "{stdout}");

    std::fs::write(&manifest, "priority = 1000\n").unwrap();
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("hostile.toml: priority: only the operator sets this"),
        "{stderr}"
    );
}

/// A duration long enough to be a typo in `weir run`'s flags runs the plugin
/// under the clock's bounds rather than overflowing it.
#[test]
fn weir_run_survives_a_huge_deadline() {
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--deadline", "300000000000y", "--cache-dir"])
        .arg(cache_dir())
        .arg(guests::PLUGIN_HOSTILE)
        .env("WEIR_LOG", "warn")
        .output()
        .expect("run weir run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A 64 MiB entity is refused on its own, with its ref and its size, and the
/// rest of its page is stored.
#[test]
fn an_oversized_entity_is_refused_with_its_ref_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("weir.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "run",
            "--set",
            "entity-bytes=67108864",
            "--max-page-bytes",
            "128MiB",
        ])
        .args(["--database", &database, "--cache-dir"])
        .arg(cache_dir())
        .arg(guests::PLUGIN_HOSTILE)
        .env("WEIR_LOG", "warn")
        .output()
        .expect("run weir run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "component:default/hostile-big: the entity is 67109195 bytes of JSON, above the \
             limit of 1048576 bytes (limits.maxEntityBytes)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 written, 0 unchanged; 1 added"),
        "the rest of the page is stored: {stderr}"
    );
}
