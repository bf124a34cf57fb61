//! The plugin runtime against real components: the example sources run to
//! completion, and every hostile plugin ends in its own error, within its
//! limit, leaving the host able to run good plugins again. Pushed events
//! reach sources that export `push`, and plugins built against the 0.1.0
//! contract, before `push`, still run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::runtime::{
    Call, Cursor, Instrumentation, Limits, LoadError, Plugin, PluginRuntime, PushEvent,
    PushOutcome, RuntimeOptions, SourceError, SourceErrorKind, SourceSettings,
};

use crate::guests;

fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeOptions::default()).expect("runtime")
}

fn settings(config: &[(&str, &str)]) -> SourceSettings {
    SourceSettings {
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..SourceSettings::default()
    }
}

fn with_limits(limits: Limits) -> SourceSettings {
    SourceSettings {
        limits,
        ..SourceSettings::default()
    }
}

async fn load(runtime: &PluginRuntime, path: &str, settings: SourceSettings) -> Plugin {
    runtime
        .load(Path::new(path), settings)
        .await
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Run a whole cycle, opening a fresh burst for every page so the cursor is
/// the only thing carried from one page to the next.
async fn collect_cycle(plugin: &Plugin) -> (Vec<Value>, usize) {
    let mut cursor: Option<Cursor> = None;
    let mut entities = Vec::new();
    let mut pages = 0;
    loop {
        let mut burst = plugin.open_burst().await.expect("open");
        let page = burst.next(cursor.as_ref()).await.expect("next");
        burst.close().await.expect("close");
        pages += 1;
        for entity in &page.entities {
            assert_eq!(entity.build(), plugin.build());
            entities.push(serde_json::from_str(entity.json()).expect("entity JSON"));
        }
        if page.done {
            return (entities, pages);
        }
        // The cursor survives a trip through its text form, as it will
        // through the database.
        let text = page.cursor.expect("cursor").as_str().to_owned();
        cursor = Some(Cursor::parse(&text).expect("cursor JSON"));
    }
}

/// Fail with `kind` on the first `next` of a fresh burst.
async fn first_page_error(plugin: &Plugin) -> SourceErrorKind {
    let mut burst = plugin.open_burst().await.expect("open");
    let error = burst.next(None).await.expect_err("next should fail");
    assert_eq!(error.call, Call::Next);
    assert_eq!(&*error.source_name, plugin.provider_name());
    burst.close().await.expect("close after a failed next");
    error.kind
}

/// After any failure, a good plugin on the same runtime still runs.
async fn assert_host_still_runs_good_plugins(runtime: &PluginRuntime) {
    let plugin = load(
        runtime,
        guests::SYNTHETIC,
        settings(&[("count", "7"), ("page-size", "3")]),
    )
    .await;
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!((entities.len(), pages), (7, 3));
}

#[tokio::test]
async fn synthetic_runs_to_completion_with_cursors_round_tripping() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::SYNTHETIC,
        settings(&[("count", "1200"), ("page-size", "500")]),
    )
    .await;
    assert_eq!(plugin.provider_name(), "synthetic");
    assert_eq!(plugin.contract().version, weir::runtime::CONTRACT_VERSION);
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!(pages, 3);
    assert_eq!(entities.len(), 1200);
    for (index, entity) in entities.iter().enumerate() {
        assert_eq!(entity["kind"], "Component");
        assert_eq!(
            entity["metadata"]["name"],
            format!("entity-{:06}", index + 1)
        );
    }
    let size = serde_json::to_string(&entities[0]).unwrap().len();
    assert!(
        (1000..1500).contains(&size),
        "entity is {size} bytes, expected about 1.2 KB"
    );
    let annotations = entities[0]["metadata"]["annotations"].as_object().unwrap();
    assert!(annotations.contains_key("backstage.io/managed-by-location"));
    assert!(annotations.contains_key("backstage.io/managed-by-origin-location"));
}

#[tokio::test]
async fn synthetic_seed_changes_content_not_names() {
    let runtime = runtime();
    let first = load(&runtime, guests::SYNTHETIC, settings(&[("count", "5")])).await;
    let second = load(
        &runtime,
        guests::SYNTHETIC,
        settings(&[("count", "5"), ("seed", "9")]),
    )
    .await;
    let (a, _) = collect_cycle(&first).await;
    let (b, _) = collect_cycle(&second).await;
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a["metadata"]["name"], b["metadata"]["name"]);
        assert_ne!(a, b);
    }
}

#[tokio::test]
async fn hierarchy_walks_every_level_once() {
    let runtime = runtime();
    let plugin = load(&runtime, guests::HIERARCHY, SourceSettings::default()).await;
    let (entities, _) = collect_cycle(&plugin).await;
    let count = |kind: &str| entities.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("Group"), 3);
    assert_eq!(count("System"), 3 * 4);
    assert_eq!(count("Component"), 3 * 4 * 25);
    let mut refs: Vec<String> = entities
        .iter()
        .map(|e| format!("{}:{}", e["kind"], e["metadata"]["name"]))
        .collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), entities.len(), "an entity came twice");
}

#[tokio::test]
async fn config_and_secrets_reach_the_guest() {
    let runtime = runtime();
    let mut settings = settings(&[("greeting", "hello")]);
    settings
        .secrets
        .insert("token".into(), "s3cr3t-t0ken".into());
    let plugin = load(&runtime, guests::PLUGIN_WELL_BEHAVED, settings).await;
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!((entities.len(), pages), (6, 3));
    let annotations = &entities[0]["metadata"]["annotations"];
    assert_eq!(annotations["weir.test/greeting"], "hello");
    assert_eq!(annotations["weir.test/token-length"], "12");
}

#[tokio::test]
async fn an_infinite_loop_exhausts_its_fuel() {
    let runtime = runtime();
    let limits = Limits {
        fuel: 50_000_000,
        deadline: Duration::from_secs(60),
        ..Limits::default()
    };
    let plugin = load(&runtime, guests::PLUGIN_LOOPING, with_limits(limits)).await;
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(
            kind,
            SourceErrorKind::FuelExhausted {
                budget: 50_000_000,
                ..
            }
        ),
        "{kind}"
    );
    // The same plugin instantiates again at once.
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(kind, SourceErrorKind::FuelExhausted { .. }),
        "{kind}"
    );
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let runtime = runtime();
    let limits = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let plugin = load(&runtime, guests::PLUGIN_LOOPING, with_limits(limits)).await;
    let started = Instant::now();
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(kind, SourceErrorKind::DeadlinePassed { .. }),
        "{kind}"
    );
    assert!(kind.to_string().contains("deadline of 0.300s"), "{kind}");
    // Stopped at the deadline, not some unrelated timeout much later.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_busy_guest_yields_to_other_tasks() {
    let runtime = runtime();
    let limits = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(500),
        ..Limits::default()
    };
    let plugin = load(&runtime, guests::PLUGIN_LOOPING, with_limits(limits)).await;
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    // One executor thread: the ticker only runs if the spinning guest yields.
    let kind = first_page_error(&plugin).await;
    ticker.abort();
    assert!(
        matches!(kind, SourceErrorKind::DeadlinePassed { .. }),
        "{kind}"
    );
    let ticks = ticks.load(Ordering::Relaxed);
    assert!(
        ticks >= 10,
        "the other task ran only {ticks} times while the guest spun"
    );
}

#[tokio::test]
async fn unbounded_memory_hits_the_memory_limit() {
    let runtime = runtime();
    let limits = Limits {
        max_memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let plugin = load(&runtime, guests::PLUGIN_MEMORY_HOG, with_limits(limits)).await;
    let kind = first_page_error(&plugin).await;
    match kind {
        SourceErrorKind::MemoryLimit { requested, limit } => {
            assert_eq!(limit, 32 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected a memory limit error, got: {other}"),
    }
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn a_panic_is_a_trap_that_quotes_the_panic_message() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_PANICKING,
        SourceSettings::default(),
    )
    .await;
    let kind = first_page_error(&plugin).await;
    match &kind {
        SourceErrorKind::Trap { stderr, .. } => {
            assert!(
                stderr.contains("boom: the plugin panicked on purpose"),
                "{kind}"
            );
        }
        other => panic!("expected a trap, got: {other}"),
    }
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn malformed_entity_json_is_refused() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_MALFORMED_JSON,
        SourceSettings::default(),
    )
    .await;
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(kind, SourceErrorKind::InvalidEntityJson { index: 0, .. }),
        "{kind}"
    );
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn pages_over_their_limits_are_refused() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_OVERSIZED_PAGE,
        SourceSettings::default(),
    )
    .await;
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(
            kind,
            SourceErrorKind::TooManyEntities {
                count: 20_000,
                limit: 10_000
            }
        ),
        "{kind}"
    );

    let limits = Limits {
        max_page_bytes: 100_000,
        ..Limits::default()
    };
    let mut settings = with_limits(limits);
    settings.config.insert("count".into(), "5000".into());
    let plugin = load(&runtime, guests::PLUGIN_OVERSIZED_PAGE, settings).await;
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(kind, SourceErrorKind::PageTooLarge { limit: 100_000, .. }),
        "{kind}"
    );

    let limits = Limits {
        max_cursor_bytes: 4,
        ..Limits::default()
    };
    let mut settings = with_limits(limits);
    settings.config.insert("count".into(), "10".into());
    settings.config.insert("page-size".into(), "2".into());
    let plugin = load(&runtime, guests::SYNTHETIC, settings).await;
    let kind = first_page_error(&plugin).await;
    assert!(
        matches!(kind, SourceErrorKind::CursorTooLarge { limit: 4, .. }),
        "{kind}"
    );
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn set_up_errors_keep_their_severity() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_OPEN_TRANSIENT,
        SourceSettings::default(),
    )
    .await;
    let error = plugin.open_burst().await.err().expect("set-up should fail");
    assert_eq!(error.call, Call::Open);
    assert!(error.is_retryable());
    assert!(
        matches!(&error.kind, SourceErrorKind::Transient { message } if message.contains("upstream unavailable")),
        "{error}"
    );

    let plugin = load(
        &runtime,
        guests::PLUGIN_OPEN_FATAL,
        SourceSettings::default(),
    )
    .await;
    let error = plugin.open_burst().await.err().expect("set-up should fail");
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "source `open-fatal`: open (set-up): fatal error from the source: bad credentials: token rejected"
    );
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn files_that_are_not_components_are_named_and_explained() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let error = runtime
        .load(&text, SourceSettings::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, LoadError::NotWasm { .. }), "{error}");
    assert!(error.to_string().contains("notes.wasm"), "{error}");

    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let error = runtime
        .load(&module, SourceSettings::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, LoadError::CoreModule { .. }), "{error}");

    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(guests::SYNTHETIC).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = runtime
        .load(&truncated, SourceSettings::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, LoadError::InvalidComponent { .. }),
        "{error}"
    );

    let missing = dir.path().join("missing.wasm");
    let error = runtime
        .load(&missing, SourceSettings::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, LoadError::Read { .. }), "{error}");
    assert_host_still_runs_good_plugins(&runtime).await;
}

#[tokio::test]
async fn a_component_for_another_contract_version_names_the_version_and_import() {
    let runtime = runtime();
    let error = runtime
        .load(
            Path::new(guests::PLUGIN_FUTURE_VERSION),
            SourceSettings::default(),
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, LoadError::WrongContractVersion { ref found, .. } if found == "0.9.0"),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("weir:source@0.9.0"), "{message}");
    assert!(message.contains("weir:source/http@0.9.0"), "{message}");
}

#[tokio::test]
async fn compiled_code_is_cached_by_content_and_engine() {
    let cache = tempfile::tempdir().unwrap();
    let options = |instrumentation| RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        instrumentation,
    };
    let runtime = PluginRuntime::new(options(Instrumentation::default())).unwrap();
    let first = load(&runtime, guests::HIERARCHY, SourceSettings::default()).await;
    assert!(!first.contract().from_cache);
    let second = load(&runtime, guests::HIERARCHY, SourceSettings::default()).await;
    assert!(second.contract().from_cache);

    // An engine configured differently never takes the other's code.
    let other = PluginRuntime::new(options(Instrumentation {
        fuel: false,
        epochs: true,
    }))
    .unwrap();
    assert!(
        !load(&other, guests::HIERARCHY, SourceSettings::default())
            .await
            .contract()
            .from_cache
    );

    // A corrupt entry is ignored and rewritten, not trusted.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let reloaded = load(&runtime, guests::HIERARCHY, SourceSettings::default()).await;
    assert!(!reloaded.contract().from_cache);
    let (entities, _) = collect_cycle(&reloaded).await;
    assert_eq!(entities.len(), 315);
    assert!(
        load(&runtime, guests::HIERARCHY, SourceSettings::default())
            .await
            .contract()
            .from_cache
    );
}

#[tokio::test]
async fn entities_carry_the_sha256_of_the_plugin_build() {
    use sha2::{Digest, Sha256};
    let runtime = runtime();
    let plugin = load(&runtime, guests::HIERARCHY, SourceSettings::default()).await;
    let expected = hex::encode(Sha256::digest(std::fs::read(guests::HIERARCHY).unwrap()));
    assert_eq!(plugin.build().sha256(), expected);
    let mut burst = plugin.open_burst().await.unwrap();
    let page = burst.next(None).await.unwrap();
    assert!(page.entities.iter().all(|e| e.build().sha256() == expected));
}

/// A pushed event whose JSON body is `body`.
fn push_event(body: Value) -> PushEvent {
    PushEvent {
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

async fn push_error(plugin: &Plugin, body: Value) -> SourceError {
    let error = plugin
        .push(push_event(body))
        .await
        .expect_err("push should fail");
    assert_eq!(error.call, Call::Push, "{error}");
    assert_eq!(&*error.source_name, plugin.provider_name());
    error
}

#[tokio::test]
async fn a_plugin_built_against_contract_0_1_0_still_runs_and_takes_no_push() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_CONTRACT_0_1_0,
        settings(&[("greeting", "hello")]),
    )
    .await;
    assert_eq!(plugin.provider_name(), "contract-0-1-0");
    assert_eq!(plugin.contract().version, "0.1.0");
    assert!(
        plugin
            .contract()
            .imports
            .contains(&"weir:source/config@0.1.0".to_owned()),
        "{:?}",
        plugin.contract().imports
    );
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!((entities.len(), pages), (4, 2));
    assert_eq!(entities[0]["metadata"]["name"], "contract-0-1-0-0-0");
    assert_eq!(
        entities[0]["metadata"]["annotations"]["weir.test/greeting"],
        "hello"
    );

    assert!(!plugin.supports_push());
    let error = push_error(&plugin, serde_json::json!({})).await;
    assert!(
        matches!(error.kind, SourceErrorKind::PushUnsupported),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(
        error
            .to_string()
            .starts_with("source `contract-0-1-0`: push: the source does not take pushed events"),
        "{error}"
    );
}

#[tokio::test]
async fn a_pull_only_source_of_the_current_contract_takes_no_push() {
    let runtime = runtime();
    let plugin = load(
        &runtime,
        guests::PLUGIN_WELL_BEHAVED,
        SourceSettings::default(),
    )
    .await;
    assert_eq!(plugin.contract().version, weir::runtime::CONTRACT_VERSION);
    assert!(!plugin.supports_push());
    let error = push_error(&plugin, serde_json::json!({})).await;
    assert!(
        matches!(error.kind, SourceErrorKind::PushUnsupported),
        "{error}"
    );
}

#[tokio::test]
async fn a_push_becomes_checked_upserts_and_normalised_removals() {
    let runtime = runtime();
    let plugin = load(&runtime, guests::PLUGIN_PUSHING, SourceSettings::default()).await;
    assert!(plugin.supports_push());
    assert_eq!(plugin.contract().version, weir::runtime::CONTRACT_VERSION);
    // Pulling works as for any source.
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!((entities.len(), pages), (2, 1));

    let pushed = serde_json::json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pushed-1"},
        "spec": {"type": "service", "owner": "group:default/test", "lifecycle": "production"},
    });
    let PushOutcome { upserts, removals } = plugin
        .push(push_event(serde_json::json!({
            "upsert": [pushed],
            "remove": ["Component:default/Pushing-1", "component:pushing-2"],
        })))
        .await
        .expect("push");
    assert_eq!(upserts.len(), 1);
    let upsert: Value = serde_json::from_str(upserts[0].json()).unwrap();
    assert_eq!(upsert, pushed);
    assert_eq!(upserts[0].build(), plugin.build());
    assert_eq!(
        removals,
        ["component:default/pushing-1", "component:default/pushing-2"]
    );

    // Each push is a fresh instance: the same plugin pushes again at once.
    let outcome = plugin
        .push(push_event(serde_json::json!({})))
        .await
        .unwrap();
    assert!(outcome.upserts.is_empty() && outcome.removals.is_empty());
}

#[tokio::test]
async fn headers_and_secrets_reach_the_push_handler() {
    let runtime = runtime();
    let mut settings = SourceSettings::default();
    settings.secrets.insert("token".into(), "s3cr3t".into());
    let plugin = load(&runtime, guests::PLUGIN_PUSHING, settings).await;
    let error = push_error(&plugin, serde_json::json!({})).await;
    assert!(
        matches!(&error.kind, SourceErrorKind::Fatal { message } if message.contains("x-weir-token")),
        "{error}"
    );
    let mut event = push_event(serde_json::json!({"remove": ["group:team-a"]}));
    event.headers.push(("X-Weir-Token".into(), "s3cr3t".into()));
    let outcome = plugin.push(event).await.expect("push with the token");
    assert_eq!(outcome.removals, ["group:default/team-a"]);
}

#[tokio::test]
async fn a_failing_push_is_a_clear_source_error_and_the_next_push_runs() {
    let runtime = runtime();
    let limits = Limits {
        fuel: 200_000_000,
        max_memory_bytes: 32 << 20,
        max_entities_per_page: 3,
        ..Limits::default()
    };
    let plugin = load(&runtime, guests::PLUGIN_PUSHING, with_limits(limits)).await;

    let error = push_error(&plugin, serde_json::json!({"fail": "transient"})).await;
    assert!(
        matches!(&error.kind, SourceErrorKind::Transient { message } if message.contains("deliver again")),
        "{error}"
    );
    assert!(error.is_retryable());

    let error = push_error(&plugin, serde_json::json!({"fail": "fatal"})).await;
    assert!(
        matches!(error.kind, SourceErrorKind::Fatal { .. }),
        "{error}"
    );
    assert!(!error.is_retryable());

    let error = plugin
        .push(PushEvent {
            headers: Vec::new(),
            body: b"not json".to_vec(),
        })
        .await
        .expect_err("a body that is not JSON");
    assert!(
        matches!(&error.kind, SourceErrorKind::Fatal { message } if message.contains("not the JSON expected")),
        "{error}"
    );

    let error = push_error(&plugin, serde_json::json!({"fail": "trap"})).await;
    match &error.kind {
        SourceErrorKind::Trap { stderr, .. } => assert!(
            stderr.contains("the push handler panicked on purpose"),
            "{error}"
        ),
        other => panic!("expected a trap, got: {other}"),
    }

    let error = push_error(&plugin, serde_json::json!({"fail": "spin"})).await;
    assert!(
        matches!(
            error.kind,
            SourceErrorKind::FuelExhausted {
                budget: 200_000_000,
                ..
            }
        ),
        "{error}"
    );

    let error = push_error(&plugin, serde_json::json!({"fail": "hog"})).await;
    assert!(
        matches!(error.kind, SourceErrorKind::MemoryLimit { limit, .. } if limit == 32 << 20),
        "{error}"
    );

    let error = push_error(&plugin, serde_json::json!({"upsert_text": ["{}", "{oops"]})).await;
    assert!(
        matches!(
            error.kind,
            SourceErrorKind::InvalidEntityJson { index: 1, .. }
        ),
        "{error}"
    );

    let error = push_error(
        &plugin,
        serde_json::json!({"upsert_text": ["{}", "{}", "{}", "{}"]}),
    )
    .await;
    assert!(
        matches!(
            error.kind,
            SourceErrorKind::TooManyEntities { count: 4, limit: 3 }
        ),
        "{error}"
    );

    let error = push_error(&plugin, serde_json::json!({"remove": ["pushing-1"]})).await;
    assert!(
        matches!(
            error.kind,
            SourceErrorKind::InvalidRemovalRef { index: 0, .. }
        ),
        "{error}"
    );

    // Nothing outlives its push: the plugin handles the next event, and bursts.
    let outcome = plugin
        .push(push_event(serde_json::json!({"remove": ["component:a"]})))
        .await
        .expect("push after failures");
    assert_eq!(outcome.removals, ["component:default/a"]);
    let (entities, _) = collect_cycle(&plugin).await;
    assert_eq!(entities.len(), 2);
}

/// The flaky plugin with `config`.
async fn flaky(runtime: &PluginRuntime, config: &[(&str, &str)]) -> Plugin {
    load(runtime, guests::PLUGIN_FLAKY, settings(config)).await
}

#[tokio::test]
async fn flaky_runs_its_pages_when_not_told_to_fail() {
    let runtime = runtime();
    let plugin = flaky(&runtime, &[]).await;
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!((entities.len(), pages), (15, 5));
    assert_eq!(entities[0]["metadata"]["name"], "flaky-0-0");
    assert_eq!(entities[14]["metadata"]["name"], "flaky-4-2");
    assert_eq!(entities[0]["spec"]["lifecycle"], "experimental");

    // A failure whose time has passed does not happen.
    let plugin = flaky(
        &runtime,
        &[
            ("pages", "2"),
            ("page_size", "4"),
            ("fail_at_page", "0"),
            ("fail_open", "fatal"),
            ("fail_until_ms", "1"),
        ],
    )
    .await;
    let (entities, pages) = collect_cycle(&plugin).await;
    assert_eq!((entities.len(), pages), (8, 2));
}

#[tokio::test]
async fn flaky_fails_each_way_it_is_told() {
    let runtime = runtime();
    let far_future = "32503680000000"; // the year 3000
    for until in [None, Some(far_future)] {
        for kind in ["transient", "fatal", "trap"] {
            let mut config = vec![("fail_at_page", "1"), ("fail_kind", kind)];
            config.extend(until.map(|until| ("fail_until_ms", until)));
            let plugin = flaky(&runtime, &config).await;
            let mut burst = plugin.open_burst().await.expect("open");
            let page = burst.next(None).await.expect("page 0 does not fail");
            let error = burst
                .next(page.cursor.as_ref())
                .await
                .expect_err("page 1 fails");
            assert_eq!(error.call, Call::Next);
            assert_flaky_kind(kind, &error.kind, "page 1");
            burst.close().await.expect("close");

            let mut config = vec![("fail_open", kind)];
            config.extend(until.map(|until| ("fail_until_ms", until)));
            let plugin = flaky(&runtime, &config).await;
            let error = plugin.open_burst().await.err().expect("set-up fails");
            assert_eq!(error.call, Call::Open);
            assert_flaky_kind(kind, &error.kind, "set-up");
        }
    }

    let plugin = flaky(&runtime, &[("fail_kind", "sometimes")]).await;
    let error = plugin.open_burst().await.err().expect("bad config");
    assert!(
        matches!(&error.kind, SourceErrorKind::Fatal { message } if message.contains("config `fail_kind`")),
        "{error}"
    );
}

fn assert_flaky_kind(kind: &str, error: &SourceErrorKind, at: &str) {
    let ok = match (kind, error) {
        ("transient", SourceErrorKind::Transient { message }) => {
            *message == format!("flaky: transient failure at {at}")
        }
        ("fatal", SourceErrorKind::Fatal { message }) => {
            *message == format!("flaky: fatal failure at {at}")
        }
        ("trap", SourceErrorKind::Trap { stderr, .. }) => {
            stderr.contains(&format!("flaky: panic at {at}"))
        }
        _ => false,
    };
    assert!(ok, "{kind} at {at}: got {error}");
}
