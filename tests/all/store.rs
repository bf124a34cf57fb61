//! The store against real databases: a SQLite file, and the real PostgreSQL
//! when `WEIR_TEST_POSTGRES_URL` is set (CI sets it, and there these tests
//! must run, so a missing URL under `CI` fails instead of skipping).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use weir::store::{Catalog, ChangeKind, SourceRole};
use weir_core::canonical::content_hash;
use weir_core::intake::{Contribution, Rejection};
use weir_core::json::Json;
use weir_tests::db::TestDb;

/// Run `test` against every backend.
macro_rules! each_backend {
    ($test:ident) => {{
        for (db, url) in TestDb::all().await {
            let store = Catalog::open(&url)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            $test(&store).await;
            drop(store);
            db.drop_database().await;
        }
    }};
}

fn component(name: &str, owner: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": { "name": name, "annotations": annotations },
        "spec": { "type": "service", "lifecycle": "production", "owner": owner },
    })
}

fn contribution(entity: Value) -> Contribution {
    contribution_at(entity, None)
}

fn contribution_at(entity: Value, location_key: Option<&str>) -> Contribution {
    let name = entity["metadata"]["name"].as_str().unwrap().to_lowercase();
    Contribution {
        entity_ref: format!("component:default/{name}"),
        hash: content_hash(&entity).to_hex(),
        merges_unchanged_alone: weir_core::merge::is_unchanged_alone(&Json::from(&entity)),
        body: entity.to_string(),
        raw_hash: String::from("not-used-by-apply-page"),
        location_key: location_key.map(Into::into),
        plugin_build: "build-1".into(),
    }
}

fn source(name: &str, priority: i64) -> SourceRole<'_> {
    SourceRole {
        name,
        priority,
        owner_rule: false,
    }
}

async fn first_ingest_then_unchanged_page(store: &Catalog) {
    let page = || {
        (1..=3)
            .map(|i| contribution(component(&format!("svc-{i}"), "team-a", json!({}))))
            .collect::<Vec<_>>()
    };
    let outcome = store
        .apply_page(source("github", 10), page(), &[])
        .await
        .unwrap();
    assert_eq!(
        (outcome.stored, outcome.added, outcome.unchanged),
        (3, 3, 0)
    );
    assert_eq!(store.last_offset().await.unwrap(), 3);
    let changes = store.changes(0, 100).await.unwrap();
    let offsets: Vec<i64> = changes.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, [1, 2, 3]);
    assert!(
        changes
            .iter()
            .all(|c| c.kind == ChangeKind::Added && c.entity.is_some())
    );

    // The same page again: no writes, no events.
    let outcome = store
        .apply_page(source("github", 10), page(), &[])
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.stored,
            outcome.unchanged,
            outcome.added,
            outcome.updated
        ),
        (0, 3, 0, 0)
    );
    assert_eq!(store.last_offset().await.unwrap(), 3);

    // A real change is one `updated` event.
    let changed = vec![contribution(component("svc-2", "team-b", json!({})))];
    let outcome = store
        .apply_page(source("github", 10), changed, &[])
        .await
        .unwrap();
    assert_eq!((outcome.stored, outcome.updated), (1, 1));
    let changes = store.changes(3, 100).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].entity_ref, "component:default/svc-2");
    assert_eq!(
        changes[0].entity.as_ref().unwrap()["spec"]["owner"],
        "team-b"
    );
}

#[tokio::test]
async fn a_first_ingest_logs_additions_and_an_unchanged_page_writes_nothing() {
    each_backend!(first_ingest_then_unchanged_page);
}

/// The log is compacted across removals: a ref removed and added again has
/// one event, its addition; its tombstone is gone. The live entities'
/// events and the tombstones come back merged in offset order.
async fn removed_and_added_again(store: &Catalog) {
    let page = |names: &[&str]| -> Vec<Contribution> {
        names
            .iter()
            .map(|name| contribution(component(name, "team-a", json!({}))))
            .collect()
    };
    let github = source("github", 10);
    store
        .apply_page(github, page(&["a", "b", "c"]), &[])
        .await
        .unwrap();
    let gone = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|name| format!("component:default/{name}"))
            .collect()
    };
    store
        .remove_contributions("github", &gone(&["a", "b"]))
        .await
        .unwrap();
    let log = |changes: Vec<weir::store::Change>| -> Vec<(i64, ChangeKind, String)> {
        changes
            .into_iter()
            .map(|c| (c.offset, c.kind, c.entity_ref))
            .collect()
    };
    assert_eq!(
        log(store.changes(0, 100).await.unwrap()),
        [
            (3, ChangeKind::Added, "component:default/c".to_owned()),
            (4, ChangeKind::Removed, "component:default/a".to_owned()),
            (5, ChangeKind::Removed, "component:default/b".to_owned()),
        ]
    );

    store.apply_page(github, page(&["a"]), &[]).await.unwrap();
    let changes = store.changes(0, 100).await.unwrap();
    assert_eq!(
        log(changes.clone()),
        [
            (3, ChangeKind::Added, "component:default/c".to_owned()),
            (5, ChangeKind::Removed, "component:default/b".to_owned()),
            (6, ChangeKind::Added, "component:default/a".to_owned()),
        ]
    );
    assert_eq!(changes[2].entity.as_ref().unwrap()["metadata"]["name"], "a");
    // A page of the log is cut at its limit across both kinds of event.
    assert_eq!(
        log(store.changes(3, 1).await.unwrap()),
        [(5, ChangeKind::Removed, "component:default/b".to_owned())]
    );
}

#[tokio::test]
async fn a_ref_removed_and_added_again_has_one_event_in_the_log() {
    each_backend!(removed_and_added_again);
}

async fn priority_merge_and_removal(store: &Catalog) {
    let high = component(
        "payments",
        "team-high",
        json!({"a/shared": "high", "a/only-high": "1"}),
    );
    let mut low = component(
        "payments",
        "team-low",
        json!({"a/shared": "low", "a/only-low": "2"}),
    );
    low["spec"]["system"] = json!("billing");
    store
        .apply_page(source("low", 1), vec![contribution(low)], &[])
        .await
        .unwrap();
    store
        .apply_page(source("high", 9), vec![contribution(high)], &[])
        .await
        .unwrap();

    let merged = store
        .entity("component:default/payments")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merged.entity["spec"]["owner"], "team-high");
    assert_eq!(
        merged.entity["spec"]["system"], "billing",
        "spec merges field by field"
    );
    let annotations = &merged.entity["metadata"]["annotations"];
    assert_eq!(annotations["a/shared"], "high");
    assert_eq!(annotations["a/only-high"], "1");
    assert_eq!(annotations["a/only-low"], "2");
    assert!(merged.provenance.to_string().contains("high"));

    // The higher source leaves: the lower one's version is all that remains.
    let refs = vec!["component:default/payments".to_owned()];
    let outcome = store.remove_contributions("high", &refs).await.unwrap();
    assert_eq!(
        (outcome.deleted, outcome.updated, outcome.removed),
        (1, 1, 0)
    );
    let merged = store.entity(&refs[0]).await.unwrap().unwrap();
    assert_eq!(merged.entity["spec"]["owner"], "team-low");
    assert_eq!(merged.entity["metadata"]["annotations"]["a/shared"], "low");

    // The last contributor leaves: the entity is removed, with a tombstone.
    let outcome = store.remove_contributions("low", &refs).await.unwrap();
    assert_eq!((outcome.deleted, outcome.removed), (1, 1));
    assert!(store.entity(&refs[0]).await.unwrap().is_none());
    let last = store.changes(0, 100).await.unwrap().pop().unwrap();
    assert_eq!((last.kind, last.entity), (ChangeKind::Removed, None));
}

#[tokio::test]
async fn sources_merge_by_priority_and_removal_remerges() {
    each_backend!(priority_merge_and_removal);
}

async fn owner_rule(store: &Catalog) {
    let entity = component("shared", "team", json!({}));
    store
        .apply_page(
            source("first", 1),
            vec![contribution_at(entity.clone(), Some("url:a"))],
            &[],
        )
        .await
        .unwrap();
    let strict = SourceRole {
        name: "second",
        priority: 5,
        owner_rule: true,
    };
    let outcome = store
        .apply_page(
            strict,
            vec![contribution_at(entity.clone(), Some("url:b"))],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(outcome.stored, 0);
    assert_eq!(outcome.rejected.len(), 1);
    assert!(
        outcome.rejected[0].reason.contains("source `first`"),
        "{:?}",
        outcome.rejected
    );
    // Under the owning location key, the claim is accepted.
    let outcome = store
        .apply_page(strict, vec![contribution_at(entity, Some("url:a"))], &[])
        .await
        .unwrap();
    assert!(outcome.rejected.is_empty());
    assert_eq!(outcome.stored, 1);
}

#[tokio::test]
async fn the_owner_rule_refuses_a_ref_held_under_another_location_key() {
    each_backend!(owner_rule);
}

/// Backstage's rule for an entity held under no location key
/// (`updateUnprocessedEntity`: `WHERE location_key = ? OR location_key IS
/// NULL`): a claim takes it, with a key or without; and once the new claim
/// holds it under its key, that key refuses a claim under another one.
async fn owner_rule_without_a_held_key(store: &Catalog) {
    let entity = component("unowned", "team", json!({}));
    store
        .apply_page(
            source("keyless", 1),
            vec![contribution_at(entity.clone(), None)],
            &[],
        )
        .await
        .unwrap();
    let strict = |name| SourceRole {
        name,
        priority: 5,
        owner_rule: true,
    };
    let outcome = store
        .apply_page(
            strict("keyed"),
            vec![contribution_at(entity.clone(), Some("url:b"))],
            &[],
        )
        .await
        .unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    assert_eq!(outcome.stored, 1);
    let contributors = store
        .contributors("component:default/unowned")
        .await
        .unwrap();
    let sources: Vec<(&str, Option<&str>)> = contributors
        .iter()
        .map(|c| (c.source.as_str(), c.location_key.as_deref()))
        .collect();
    assert_eq!(sources, [("keyed", Some("url:b")), ("keyless", None)]);
    // Without a key of its own, a claim is admitted too while only the
    // keyless source held it...
    let other = component("unowned-2", "team", json!({}));
    store
        .apply_page(
            source("keyless", 1),
            vec![contribution_at(other.clone(), None)],
            &[],
        )
        .await
        .unwrap();
    let outcome = store
        .apply_page(
            strict("also-keyless"),
            vec![contribution_at(other, None)],
            &[],
        )
        .await
        .unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    // ...but the first entity is now held under `url:b`: another key, or
    // none, is refused, naming the holder.
    for claimed in [Some("url:c"), None] {
        let outcome = store
            .apply_page(
                strict("third"),
                vec![contribution_at(entity.clone(), claimed)],
                &[],
            )
            .await
            .unwrap();
        assert_eq!(outcome.stored, 0, "{claimed:?}");
        assert_eq!(outcome.rejected.len(), 1, "{claimed:?}");
        assert!(
            outcome.rejected[0].reason.contains("source `keyed`"),
            "{:?}",
            outcome.rejected
        );
    }
}

#[tokio::test]
async fn the_owner_rule_lets_a_claim_take_a_ref_held_under_no_location_key() {
    each_backend!(owner_rule_without_a_held_key);
}

async fn invalid_keeps_last_good(store: &Catalog) {
    let good = component("kept", "team", json!({}));
    store
        .apply_page(source("github", 1), vec![contribution(good)], &[])
        .await
        .unwrap();
    let offset = store.last_offset().await.unwrap();
    let invalid = [Rejection {
        entity_ref: Some("component:default/kept".into()),
        reason: "metadata.name: must be at most 63 characters".into(),
    }];
    let outcome = store
        .apply_page(source("github", 1), vec![], &invalid)
        .await
        .unwrap();
    assert_eq!(outcome.kept_with_error, 1);
    let stored = store
        .entity("component:default/kept")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.entity["metadata"]["name"], "kept");
    assert_eq!(
        stored.errors,
        [("github".to_owned(), invalid[0].reason.clone())]
    );
    assert_eq!(
        store.last_offset().await.unwrap(),
        offset,
        "no event for a kept version"
    );
}

#[tokio::test]
async fn an_invalid_version_keeps_the_last_good_one_with_the_error_attached() {
    each_backend!(invalid_keeps_last_good);
}

async fn ordered_under_concurrency(store: &Catalog) {
    const WRITERS: usize = 4;
    const PAGES: usize = 15;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("writer-{writer}");
                for page in 0..PAGES {
                    let entities = (0..20)
                        .map(|i| {
                            contribution(component(
                                &format!("w{writer}-p{page}-e{i}"),
                                "t",
                                json!({}),
                            ))
                        })
                        .collect();
                    store
                        .apply_page(source(&name, 1), entities, &[])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    // A reader that follows the log: every batch must start after what it
    // has seen, and nothing may later appear below it.
    let mut seen = BTreeSet::new();
    let mut last = 0;
    let expected = (WRITERS * PAGES * 20) as i64;
    while last < expected {
        for change in store.changes(last, 1000).await.unwrap() {
            assert!(
                change.offset > last,
                "offset {} after {last}",
                change.offset
            );
            last = change.offset;
            seen.insert(change.offset);
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let all: BTreeSet<i64> = store
        .changes(0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|c| c.offset)
        .collect();
    assert_eq!(
        all, seen,
        "an event appeared below an offset the reader had passed"
    );
    assert_eq!(all, (1..=expected).collect::<BTreeSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offsets_become_visible_in_order_under_concurrent_writers() {
    each_backend!(ordered_under_concurrency);
}

/// Kill a real ingesting process (`weir bench store`) with SIGKILL in the
/// middle of its pages, then check the database holds whole pages only and
/// that the merged table, the change log and the log head agree.
async fn killed_mid_ingest(url: &str) {
    const PAGE: i64 = 50;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["bench", "store", "--plugin", crate::guests::SYNTHETIC])
        .args([
            "--database-url",
            url,
            "--entities",
            "1000000",
            "--page-size",
            "50",
        ])
        .env("WEIR_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start weir bench store");
    let store = loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Ok(store) = Catalog::open(url).await
            && store.last_offset().await.unwrap_or(0) >= 3 * PAGE
        {
            break store;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer exited early"
        );
    };
    child.kill().expect("SIGKILL the writer");
    child.wait().unwrap();
    weir_tests::db::settle_after_kill(url).await;

    let contributed = store.contribution_count("synthetic").await.unwrap();
    assert!(contributed > 0);
    assert_eq!(
        contributed % PAGE,
        0,
        "a partial page survived the kill: {contributed} records"
    );
    let last = store.last_offset().await.unwrap();
    let changes = store.changes(0, 10_000_000).await.unwrap();
    assert_eq!(changes.len() as i64, contributed, "one event per entity");
    assert_eq!(
        changes.last().map(|c| c.offset),
        Some(last),
        "the log head matches the log"
    );
    assert!(
        changes
            .iter()
            .all(|c| c.kind == ChangeKind::Added && c.entity.is_some())
    );
    let entities = store.entities(None, None, 10_000_000).await.unwrap();
    assert_eq!(
        entities.len() as i64,
        contributed,
        "every event has its entity"
    );
}

#[tokio::test]
async fn a_process_killed_mid_ingest_leaves_only_whole_pages() {
    for (db, url) in TestDb::all().await {
        killed_mid_ingest(&url).await;
        db.drop_database().await;
    }
}

/// Pages from a real plugin through the engine's page step: a cycle repeated
/// unchanged is recognised by its text alone, a new seed updates everything.
async fn real_plugin_pages(store: &Catalog) {
    use weir::engine::ingest_page;
    use weir::runtime::{PluginRuntime, RuntimeOptions, SourceSettings};
    use weir_core::intake::Admission;

    let runtime = PluginRuntime::new(RuntimeOptions::default()).unwrap();
    let cycle = |seed: &'static str| {
        let runtime = &runtime;
        async move {
            let mut settings = SourceSettings::default();
            for (key, value) in [("count", "30"), ("page-size", "10"), ("seed", seed)] {
                settings.config.insert(key.into(), value.into());
            }
            let plugin = runtime
                .load(std::path::Path::new(crate::guests::SYNTHETIC), settings)
                .await
                .unwrap();
            let mut burst = plugin.open_burst().await.unwrap();
            let mut cursor = None;
            let mut outcomes = Vec::new();
            loop {
                let page = burst.next(cursor.as_ref()).await.unwrap();
                outcomes.push(
                    ingest_page(
                        store,
                        source("synthetic", 1),
                        &Admission::anything_up_to(1 << 20),
                        page.entities.clone(),
                    )
                    .await
                    .unwrap(),
                );
                if page.done {
                    return outcomes;
                }
                cursor = page.cursor;
            }
        }
    };
    let first = cycle("0").await;
    assert_eq!(first.iter().map(|o| o.added).sum::<usize>(), 30);
    let offset = store.last_offset().await.unwrap();

    let again = cycle("0").await;
    assert!(
        again.iter().all(|o| o.unchanged == 10 && o.stored == 0),
        "{again:?}"
    );
    assert_eq!(
        store.last_offset().await.unwrap(),
        offset,
        "no events for an unchanged cycle"
    );

    let reseeded = cycle("7").await;
    assert_eq!(reseeded.iter().map(|o| o.updated).sum::<usize>(), 30);
    let entity = store
        .entity("component:default/entity-000030")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        entity.entity["metadata"]["annotations"]["synthetic.example.com/seed"],
        "7"
    );
}

#[tokio::test]
async fn a_real_plugins_unchanged_cycle_is_recognised_by_text() {
    each_backend!(real_plugin_pages);
}

/// Run one whole cycle of `plugin` through the engine's page step.
async fn ingest_cycle(
    store: &Catalog,
    plugin: &weir::runtime::Plugin,
    role: SourceRole<'_>,
    scope: &weir_core::intake::Scope,
) -> weir::store::PageOutcome {
    let mut total = weir::store::PageOutcome::default();
    let mut burst = plugin.open_burst().await.unwrap();
    let mut cursor = None;
    loop {
        let page = burst.next(cursor.as_ref()).await.unwrap();
        let admission = weir_core::intake::Admission {
            scope: scope.clone(),
            max_entity_bytes: weir::runtime::Limits::default().max_entity_bytes,
        };
        let outcome = weir::engine::ingest_page(store, role, &admission, page.entities.clone())
            .await
            .unwrap();
        total.absorb(outcome);
        if page.done {
            return total;
        }
        cursor = page.cursor;
    }
}

async fn well_behaved(config: &[(&str, &str)]) -> weir::runtime::Plugin {
    use weir::runtime::{PluginRuntime, RuntimeOptions, SourceSettings};
    let mut settings = SourceSettings::default();
    for (key, value) in config {
        settings.config.insert(key.to_string(), value.to_string());
    }
    PluginRuntime::new(RuntimeOptions::default())
        .unwrap()
        .load(
            std::path::Path::new(crate::guests::PLUGIN_WELL_BEHAVED),
            settings,
        )
        .await
        .unwrap()
}

/// Invalid entities mixed with valid ones: each is rejected on its own, the
/// rest of the page goes on, and a ref that was valid keeps its last good
/// version with the error attached. Names with dots and underscores survive.
async fn mixed_pages(store: &Catalog) {
    use weir_core::intake::Scope;
    let role = source("well-behaved", 1);
    let prefix = ("name-prefix", "svc.v2_");
    let first = well_behaved(&[prefix, ("greeting", "one"), ("broken", "5")]).await;
    let outcome = ingest_cycle(store, &first, role, &Scope::default()).await;
    assert_eq!(
        (outcome.added, outcome.rejected.len()),
        (5, 1),
        "{outcome:?}"
    );
    let rejected = &outcome.rejected[0];
    assert_eq!(
        rejected.entity_ref.as_deref(),
        Some("component:default/svc.v2_5")
    );
    assert!(
        rejected.reason.contains("source `well-behaved`"),
        "{}",
        rejected.reason
    );
    assert!(
        rejected.reason.contains("spec.lifecycle"),
        "{}",
        rejected.reason
    );
    assert!(
        store
            .entity("component:default/svc.v2_5")
            .await
            .unwrap()
            .is_none()
    );

    let second = well_behaved(&[prefix, ("greeting", "two"), ("broken", "3")]).await;
    let outcome = ingest_cycle(store, &second, role, &Scope::default()).await;
    assert_eq!(
        (outcome.added, outcome.updated, outcome.kept_with_error),
        (1, 4, 1),
        "{outcome:?}"
    );
    let kept = store
        .entity("component:default/svc.v2_3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.entity["metadata"]["annotations"]["weir.test/greeting"],
        "one"
    );
    assert_eq!(kept.errors.len(), 1);
    assert!(
        kept.errors[0].1.contains("spec.lifecycle"),
        "{:?}",
        kept.errors
    );
}

#[tokio::test]
async fn invalid_entities_are_rejected_one_by_one_and_keep_their_last_good_version() {
    each_backend!(mixed_pages);
}

/// A source scoped to other kinds or namespaces has its entities refused.
async fn scope_violations(store: &Catalog) {
    use weir_core::intake::Scope;
    let plugin = well_behaved(&[]).await;
    let groups_only = Scope {
        kinds: vec!["group".into()],
        namespaces: vec![],
    };
    let outcome = ingest_cycle(store, &plugin, source("well-behaved", 1), &groups_only).await;
    assert_eq!((outcome.stored, outcome.rejected.len()), (0, 6));
    assert!(
        outcome
            .rejected
            .iter()
            .all(|r| r.reason.contains("may emit only kinds group"))
    );
    let elsewhere = Scope {
        kinds: vec![],
        namespaces: vec!["ops".into()],
    };
    let outcome = ingest_cycle(store, &plugin, source("well-behaved", 1), &elsewhere).await;
    assert_eq!((outcome.stored, outcome.rejected.len()), (0, 6));
    assert_eq!(store.last_offset().await.unwrap(), 0);
}

#[tokio::test]
async fn entities_outside_a_sources_scope_are_refused() {
    each_backend!(scope_violations);
}

/// Three sources on one ref: each field from the highest that has it; the
/// middle one leaving changes only what it alone supplied.
async fn three_sources(store: &Catalog) {
    let name = "triple";
    let mut low = component(name, "team-low", json!({"a/x": "low", "a/low": "1"}));
    low["spec"]["system"] = json!("low-system");
    let mut mid = component(name, "team-mid", json!({"a/x": "mid", "a/mid": "2"}));
    mid["spec"]["lifecycle"] = json!("experimental");
    let high = component(name, "team-high", json!({"a/high": "3"}));
    for (entity, role) in [
        (low, source("low", 1)),
        (mid, source("mid", 5)),
        (high, source("high", 9)),
    ] {
        store
            .apply_page(role, vec![contribution(entity)], &[])
            .await
            .unwrap();
    }
    let entity_ref = format!("component:default/{name}");
    let merged = store.entity(&entity_ref).await.unwrap().unwrap().entity;
    assert_eq!(merged["spec"]["owner"], "team-high");
    assert_eq!(
        merged["spec"]["lifecycle"], "production",
        "high has lifecycle too"
    );
    assert_eq!(merged["spec"]["system"], "low-system");
    let annotations = &merged["metadata"]["annotations"];
    assert_eq!(annotations["a/x"], "mid");
    assert_eq!(
        (
            &annotations["a/low"],
            &annotations["a/mid"],
            &annotations["a/high"]
        ),
        (&json!("1"), &json!("2"), &json!("3"))
    );

    store
        .remove_contributions("mid", std::slice::from_ref(&entity_ref))
        .await
        .unwrap();
    let merged = store.entity(&entity_ref).await.unwrap().unwrap().entity;
    assert_eq!(merged["metadata"]["annotations"]["a/x"], "low");
    assert!(merged["metadata"]["annotations"].get("a/mid").is_none());
    assert_eq!(merged["spec"]["owner"], "team-high");
}

#[tokio::test]
async fn three_sources_merge_field_by_field() {
    each_backend!(three_sources);
}

/// A source whose priority changes re-merges its refs even though its
/// entities did not change.
async fn priority_change(store: &Catalog) {
    let a = component("contested", "team-a", json!({}));
    let b = component("contested", "team-b", json!({}));
    store
        .apply_page(source("a", 1), vec![contribution(a)], &[])
        .await
        .unwrap();
    store
        .apply_page(source("b", 5), vec![contribution(b.clone())], &[])
        .await
        .unwrap();
    let entity_ref = "component:default/contested";
    let owner =
        |stored: Option<weir::store::StoredEntity>| stored.unwrap().entity["spec"]["owner"].clone();
    assert_eq!(owner(store.entity(entity_ref).await.unwrap()), "team-b");
    let outcome = store
        .apply_page(source("b", 0), vec![contribution(b)], &[])
        .await
        .unwrap();
    assert_eq!((outcome.stored, outcome.updated), (1, 1));
    assert_eq!(owner(store.entity(entity_ref).await.unwrap()), "team-a");
}

#[tokio::test]
async fn a_changed_priority_re_merges_unchanged_entities() {
    each_backend!(priority_change);
}

async fn joined_with_nothing_new(store: &Catalog) {
    let entity = component("ledger", "team-a", json!({"a/one": "1"}));
    let entity_ref = "component:default/ledger";
    store
        .apply_page(source("first", 9), vec![contribution(entity.clone())], &[])
        .await
        .unwrap();
    // A second source sends exactly what the merge already is: nothing to
    // log, but the entity is no longer the first source's alone.
    let joined = store
        .apply_page(source("second", 1), vec![contribution(entity.clone())], &[])
        .await
        .unwrap();
    assert_eq!((joined.stored, joined.added, joined.updated), (1, 0, 0));
    let offset = store.last_offset().await.unwrap();

    // So when the first leaves, the entity stays: the second's version.
    let left = store
        .remove_contributions("first", &[entity_ref.to_owned()])
        .await
        .unwrap();
    assert_eq!((left.deleted, left.removed), (1, 0), "{left:?}");
    let stored = store.entity(entity_ref).await.unwrap().expect(entity_ref);
    assert_eq!(stored.entity, entity);
    assert!(
        store
            .changes(offset, 100)
            .await
            .unwrap()
            .iter()
            .all(|change| change.kind != ChangeKind::Removed)
    );

    // And when the second leaves too, it is removed.
    let left = store
        .remove_contributions("second", &[entity_ref.to_owned()])
        .await
        .unwrap();
    assert_eq!((left.deleted, left.removed), (1, 1), "{left:?}");
    assert!(store.entity(entity_ref).await.unwrap().is_none());
}

#[tokio::test]
async fn a_source_joining_with_nothing_new_is_still_a_contributor() {
    each_backend!(joined_with_nothing_new);
}

async fn marks_cleared_per_source(store: &Catalog) {
    let names = ["alpha", "beta", "gamma"];
    let mark = |name: &str| vec![format!("component:default/{name}")];
    for name in names {
        store
            .apply_push(source(name, 1), Vec::new(), &[], &mark(name), &[], None)
            .await
            .unwrap();
    }
    // With sources marked on both sides of it, and then on one side only.
    store.clear_marks("beta").await.unwrap();
    store.clear_marks("gamma").await.unwrap();
    assert_eq!(store.marks("alpha").await.unwrap(), mark("alpha"));
    assert!(store.marks("beta").await.unwrap().is_empty());
    assert!(store.marks("gamma").await.unwrap().is_empty());
    // The last source marked: the table is emptied whole.
    store.clear_marks("alpha").await.unwrap();
    assert!(store.marks("alpha").await.unwrap().is_empty());
    // A source with no marks clears none of another's.
    store
        .apply_push(source("beta", 1), Vec::new(), &[], &mark("beta"), &[], None)
        .await
        .unwrap();
    store.clear_marks("alpha").await.unwrap();
    assert_eq!(store.marks("beta").await.unwrap(), mark("beta"));
}

/// Clearing one source's marks (at its sweep, a cancel or a reset) never
/// touches another's, however the rows sort around it.
#[tokio::test]
async fn clearing_a_sources_marks_leaves_the_others() {
    each_backend!(marks_cleared_per_source);
}

/// A page of the event log is bounded in text as well as in count: a page
/// of large entities is cut short (and says so), and reading on from its
/// last offset delivers every event once.
async fn event_pages_bounded_in_size(store: &Catalog) {
    let description = "x".repeat(100_000);
    let page: Vec<Contribution> = (0..10)
        .map(|i| {
            let mut entity = component(&format!("large-{i}"), "team", json!({}));
            entity["metadata"]["description"] = json!(description);
            contribution(entity)
        })
        .collect();
    store.apply_page(source("s", 0), page, &[]).await.unwrap();
    let (mut offset, mut seen, mut pages) = (0, Vec::new(), 0);
    loop {
        let page = store.event_texts(offset, 1000, 250_000, &[]).await.unwrap();
        let Some(last) = page.events.last() else {
            break;
        };
        pages += 1;
        assert!(
            page.events.len() <= 3,
            "{} events in one page",
            page.events.len()
        );
        assert_eq!(
            page.cut_short,
            last.offset < 10,
            "page ending at {}",
            last.offset
        );
        offset = last.offset;
        seen.extend(page.events.into_iter().map(|event| event.entity_ref));
    }
    assert_eq!(seen.len(), 10);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 10);
    assert_eq!(
        pages, 4,
        "three events of 100 KB fit under 250 K characters"
    );
    let one = store.event_texts(0, 1000, 1, &[]).await.unwrap();
    assert_eq!(one.events.len(), 1, "the first event is always in the page");
}

#[tokio::test]
async fn event_pages_are_bounded_in_size_as_well_as_count() {
    each_backend!(event_pages_bounded_in_size);
}
