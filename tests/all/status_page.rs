//! The status page's routes, called in-process: the page and its files
//! (policy, cache tags), and the API routes it reads that scripts use too
//! (`/api/rejections`, `/api/entities/search`, an entity's sources'
//! versions, `/api/events/log`), against a SQLite file and, when
//! `WEIR_TEST_POSTGRES_URL` is set, PostgreSQL. The page itself runs in a
//! real browser in `tests/browser` (`.ci/browser.sh test`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use weir::engine::{Rest, SourceOptions, Supervisor, SupervisorOptions};
use weir::http::{HttpSettings, ReadAccess, Secret, router_with};
use weir::runtime::{PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::{Catalog, SourceRole};
use weir_core::canonical::content_hash;
use weir_core::intake::{Contribution, Rejection};
use weir_core::json::Json;
use weir_tests::db::TestDb;

use crate::guests;
use crate::http::Client;

const TIMEOUT: Duration = Duration::from_secs(60);

async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Catalog, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    for (db, url) in TestDb::all().await {
        let store = Catalog::open(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        test(store, db.backend()).await;
        db.drop_database().await;
    }
}

fn engine(
    store: &Catalog,
    sources: Vec<(weir::runtime::Plugin, SourceOptions)>,
) -> Arc<Supervisor> {
    Arc::new(Supervisor::start(
        store.clone(),
        sources,
        SupervisorOptions {
            poll: Duration::from_millis(100),
            ..SupervisorOptions::default()
        },
    ))
}

/// The in-process client of the HTTP tests, over a router of `store`.
fn client_over(store: &Catalog, settings: HttpSettings) -> Client {
    Client(router_with(engine(store, Vec::new()), settings))
}

fn entity(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": name, "annotations": { "weir.test/by": name } },
        "spec": spec,
    })
}

fn contribution(entity: &Value, build: &str) -> Contribution {
    let entity_ref = weir_core::entity_ref::EntityRef::from_entity(&Json::from(entity))
        .unwrap()
        .to_string();
    Contribution {
        entity_ref,
        hash: content_hash(entity).to_hex(),
        merges_unchanged_alone: weir_core::merge::is_unchanged_alone(&Json::from(entity)),
        body: entity.to_string(),
        raw_hash: format!("raw-{}", content_hash(entity).to_hex()),
        location_key: None,
        plugin_build: build.into(),
    }
}

fn role(name: &str, priority: i64) -> SourceRole<'_> {
    SourceRole {
        name,
        priority,
        owner_rule: false,
    }
}

async fn put(store: &Catalog, source: &str, priority: i64, entities: &[Value]) {
    let contributions = entities
        .iter()
        .map(|e| contribution(e, &format!("build-of-{source}")))
        .collect();
    store
        .apply_page(role(source, priority), contributions, &[])
        .await
        .unwrap();
}

async fn refuse(store: &Catalog, source: &str, rejections: Vec<Rejection>) {
    store
        .apply_page(role(source, 0), Vec::new(), &rejections)
        .await
        .unwrap();
}

fn rejection(entity_ref: Option<&str>, reason: &str) -> Rejection {
    Rejection {
        entity_ref: entity_ref.map(str::to_owned),
        reason: reason.to_owned(),
    }
}

fn refs(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["entityRef"].as_str().unwrap_or("(none)").to_owned())
        .collect()
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_policy_and_cache_tags() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let client = client_over(&store, HttpSettings::default());
    for path in ["/", "/ui", "/ui/", "/ui/sources", "/ui/entities?ref=a:b/c"] {
        let page = client.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        assert!(page.text.contains("<title>Weir status</title>"), "{path}");
        let policy = page.header("content-security-policy");
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("cache-control"), "no-cache");
    }
    let mut tags = BTreeMap::new();
    for (file, content_type) in [
        ("status.js", "text/javascript; charset=utf-8"),
        ("status.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let uri = format!("/ui/assets/{file}");
        let asset = client.get(&uri).await;
        assert_eq!(asset.status, StatusCode::OK, "{uri}");
        assert_eq!(asset.header("content-type"), content_type);
        let tag = asset.header("etag").to_owned();
        // The browser's copy is current: 304, no body.
        let again = client
            .send(
                Method::GET,
                &uri,
                &[("if-none-match", tag.as_str())],
                Vec::new(),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(again.text.is_empty());
        assert_eq!(again.header("etag"), tag);
        // An older copy gets the file again.
        let stale = client
            .send(
                Method::GET,
                &uri,
                &[("if-none-match", "\"0123\"")],
                Vec::new(),
            )
            .await;
        assert_eq!(stale.status, StatusCode::OK);
        tags.insert(tag, file);
    }
    assert_eq!(tags.len(), 3, "each file has its own tag: {tags:?}");
    // The page's script reads only this server's routes.
    let script = client.get("/ui/assets/status.js").await.text;
    for route in [
        "/api/catalog/incremental/providers",
        "/api/rejections",
        "/api/entities/search",
        "/contributions",
        "/api/events/log",
        "/api/events?offset=",
    ] {
        assert!(script.contains(route), "the script reads {route}");
    }
    let missing = client.get("/ui/assets/nothing.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("status.js")
    );
    // A page under another host name (DNS rebinding) is refused as the API is.
    let rebound = client
        .send(
            Method::GET,
            "/",
            &[("host", "attacker.example:7007")],
            Vec::new(),
        )
        .await;
    assert_eq!(rebound.status, StatusCode::FORBIDDEN);
    db.drop_database().await;
}

#[tokio::test]
async fn the_page_is_served_to_anyone_but_its_data_obeys_read_access() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let client = client_over(
        &store,
        HttpSettings {
            admin_token: Some(Secret::new("admin-token-1234")),
            read_token: Some(Secret::new("read-token-5678")),
            read_access: ReadAccess::Token,
            ..HttpSettings::default()
        },
    );
    // The files hold no data: a browser cannot send a bearer token when it
    // loads a page, so they are served to anyone; the page then asks for a
    // token, which every read below needs.
    assert_eq!(client.get("/").await.status, StatusCode::OK);
    assert_eq!(
        client.get("/ui/assets/status.js").await.status,
        StatusCode::OK
    );
    for uri in [
        "/api/rejections",
        "/api/entities/search?q=x",
        "/api/entities/by-ref/component/default/x/contributions",
        "/api/events/log",
    ] {
        let anonymous = client.get(uri).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{uri}");
        let reader = client
            .send(
                Method::GET,
                uri,
                &[("authorization", "Bearer read-token-5678")],
                Vec::new(),
            )
            .await;
        assert_ne!(reader.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_ne!(reader.status, StatusCode::FORBIDDEN, "{uri}");
    }
    db.drop_database().await;
}

#[tokio::test]
async fn the_new_routes_are_in_the_openapi_document() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let client = client_over(&store, HttpSettings::default());
    let document = client.ok("/api/openapi.json").await;
    for path in [
        "/api/rejections",
        "/api/entities/search",
        "/api/entities/by-ref/{kind}/{namespace}/{name}/contributions",
        "/api/events/log",
    ] {
        assert!(
            document["paths"][path]["get"].is_object(),
            "{path} is documented"
        );
    }
    // The page is not part of the API.
    assert!(document["paths"]["/"].is_null());
    db.drop_database().await;
}

async fn rejections_by_source(store: Catalog, backend: &'static str) {
    let client = client_over(&store, HttpSettings::default());
    refuse(
        &store,
        "shop",
        vec![
            rejection(
                Some("component:default/cart"),
                "source `shop`: component:default/cart: spec.lifecycle: is required; \
                 spec.owner: must be a string",
            ),
            rejection(
                None,
                "source `shop`: entity #3 of the page: kind: is required",
            ),
        ],
    )
    .await;
    refuse(
        &store,
        "people",
        vec![rejection(
            Some("user:default/ann"),
            "source `people`: user:default/ann: metadata.name: is too long",
        )],
    )
    .await;

    let all = client.ok("/api/rejections").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        3,
        "{backend}: {all}"
    );
    let shop = client.ok("/api/rejections?source=shop").await;
    let items = shop["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{backend}: {shop}");
    let cart = items
        .iter()
        .find(|item| item["entityRef"] == "component:default/cart")
        .unwrap();
    assert_eq!(cart["source"], "shop");
    assert_eq!(cart["problems"][0]["field"], "spec.lifecycle");
    assert_eq!(cart["problems"][0]["message"], "is required");
    assert_eq!(cart["problems"][1]["field"], "spec.owner");
    assert_eq!(cart["inCatalog"], false);
    assert_eq!(cart["kept"], false);
    assert!(cart["at"].as_str().unwrap().ends_with('Z'));
    let unnamed = items
        .iter()
        .find(|item| item["entityRef"].is_null())
        .unwrap();
    assert_eq!(unnamed["problems"][0]["field"], "kind");

    // In pages.
    let first = client.ok("/api/rejections?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let after = first["nextAfter"].as_str().unwrap();
    let second = client
        .ok(&format!("/api/rejections?limit=2&after={after}"))
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["nextAfter"].is_null());
    let mut seen = refs(&first["items"]);
    seen.extend(refs(&second["items"]));
    seen.sort();
    assert_eq!(
        seen,
        ["(none)", "component:default/cart", "user:default/ann"]
    );

    // Sent valid again: no longer listed.
    put(
        &store,
        "shop",
        0,
        &[entity(
            "Component",
            "cart",
            json!({ "type": "service", "lifecycle": "production", "owner": "team-a" }),
        )],
    )
    .await;
    let shop = client.ok("/api/rejections?source=shop").await;
    assert_eq!(refs(&shop["items"]), ["(none)"], "{backend}: {shop}");

    // Sent invalid while its last good version is in the catalog: kept.
    refuse(
        &store,
        "shop",
        vec![rejection(
            Some("component:default/cart"),
            "source `shop`: component:default/cart: spec.type: is required",
        )],
    )
    .await;
    let shop = client.ok("/api/rejections?source=shop").await;
    let cart = shop["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["entityRef"] == "component:default/cart")
        .unwrap_or_else(|| panic!("{backend}: {shop}"));
    assert_eq!(cart["kept"], true);
    assert_eq!(cart["inCatalog"], true);

    for bad in [
        "/api/rejections?after=garbage",
        "/api/rejections?limit=0",
        "/api/rejections?sources=shop",
    ] {
        assert_eq!(
            client.get(bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn rejected_entities_are_listed_by_source_with_their_fields_until_sent_valid() {
    each_backend(rejections_by_source).await;
}

async fn source_rejections(store: Catalog, backend: &'static str) {
    let runtime = PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(std::env::temp_dir().join("weir-status-page-test-cache")),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let mut settings = SourceSettings::default();
    settings.config.insert("broken".into(), "2".into());
    let plugin = runtime
        .load(Path::new(guests::PLUGIN_WELL_BEHAVED), settings)
        .await
        .unwrap();
    let options = SourceOptions {
        burst_length: Duration::from_secs(5),
        burst_interval: Duration::ZERO,
        rest: Rest::For(Duration::from_secs(60 * 60)),
        ..SourceOptions::default()
    };
    let engine = engine(&store, vec![(plugin, options)]);
    let client = Client(router_with(Arc::clone(&engine), HttpSettings::default()));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        let status = client
            .ok("/api/catalog/incremental/providers/well-behaved")
            .await;
        if status["cycles"].as_array().is_some_and(|c| !c.is_empty()) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{backend}: no cycle ended: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status["cycles"][0]["totals"]["rejected"], 1, "{status}");
    let page = client.ok("/api/rejections?source=well-behaved").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{backend}: {page}");
    let item = &items[0];
    assert_eq!(item["entityRef"], "component:default/well-behaved-2");
    assert_eq!(item["cycle"], 1);
    assert_eq!(item["inCatalog"], false);
    assert!(
        item["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["field"] == "spec.lifecycle"),
        "{item}"
    );
    // The entity is missing from the catalog, and the search says so.
    let found = client.ok("/api/entities/search?q=well-behaved").await;
    let found = refs(&found["items"]);
    assert!(found.contains(&"component:default/well-behaved-1".to_owned()));
    assert!(!found.contains(&"component:default/well-behaved-2".to_owned()));
    let other = client.ok("/api/rejections?source=someone-else").await;
    assert!(other["items"].as_array().unwrap().is_empty());
    engine.shutdown().await;
}

#[tokio::test]
async fn a_running_sources_invalid_entity_is_listed_with_its_field() {
    each_backend(source_rejections).await;
}

async fn search(store: Catalog, backend: &'static str) {
    let client = client_over(&store, HttpSettings::default());
    let spec = json!({ "type": "service", "lifecycle": "production", "owner": "team-a" });
    put(
        &store,
        "github",
        0,
        &[
            entity("Component", "shop", spec.clone()),
            entity("Component", "shop-frontend", spec.clone()),
            entity("Component", "webshop", spec.clone()),
            entity("Component", "Payments_Service", spec.clone()),
            entity("API", "shop", json!({ "type": "openapi", "lifecycle": "production", "owner": "team-a", "definition": "x" })),
        ],
    )
    .await;
    let found = client.ok("/api/entities/search?q=SHOP").await;
    assert_eq!(
        refs(&found["items"]),
        [
            "api:default/shop",
            "component:default/shop",
            "component:default/shop-frontend",
            "component:default/webshop"
        ],
        "{backend}: names equal to the text first, then those starting with it"
    );
    assert_eq!(found["more"], false);
    assert_eq!(found["items"][0]["name"], "shop");
    let exact = client
        .ok("/api/entities/search?q=component:default/shop")
        .await;
    assert_eq!(refs(&exact["items"])[0], "component:default/shop");
    // Wildcards of SQL are plain characters here.
    let literal = client.ok("/api/entities/search?q=s_s").await;
    assert_eq!(
        refs(&literal["items"]),
        ["component:default/payments_service"],
        "{backend}"
    );
    assert!(
        client.ok("/api/entities/search?q=%25").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let limited = client.ok("/api/entities/search?q=shop&limit=2").await;
    assert_eq!(limited["items"].as_array().unwrap().len(), 2);
    assert_eq!(limited["more"], true);
    for bad in [
        "/api/entities/search",
        "/api/entities/search?q=%20",
        "/api/entities/search?q=x&limit=1000",
    ] {
        assert_eq!(
            client.get(bad).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn entities_are_found_by_part_of_their_ref_or_name() {
    each_backend(search).await;
}

async fn contributions(store: Catalog, backend: &'static str) {
    let client = client_over(&store, HttpSettings::default());
    let spec = json!({ "type": "service", "lifecycle": "production", "owner": "team-a" });
    put(&store, "github", 10, &[entity("Component", "shop", spec)]).await;
    put(
        &store,
        "pagerduty",
        0,
        &[entity("Component", "shop", json!({ "oncall": "ann" }))],
    )
    .await;
    let body = client
        .ok("/api/entities/by-ref/component/default/shop/contributions")
        .await;
    assert_eq!(body["entityRef"], "component:default/shop");
    let versions = body["contributions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{backend}: {body}");
    assert_eq!(versions[0]["source"], "github", "highest priority first");
    assert_eq!(versions[0]["pluginBuild"], "sha256:build-of-github");
    assert_eq!(versions[0]["entity"]["spec"]["owner"], "team-a");
    assert!(versions[0]["entity"]["spec"].get("oncall").is_none());
    assert_eq!(versions[1]["source"], "pagerduty");
    assert_eq!(versions[1]["entity"]["spec"]["oncall"], "ann");
    // The merged entity's provenance names who gave each field.
    let merged = client
        .ok("/api/entities/by-ref/component/default/shop")
        .await;
    assert_eq!(
        merged["provenance"]["fields"]["spec"],
        json!(["github", "pagerduty"])
    );
    assert_eq!(body["latestEvent"]["type"], "updated");
    assert_eq!(body["latestEvent"]["offset"], merged["eventOffset"]);

    store
        .remove_contributions("github", &["component:default/shop".to_owned()])
        .await
        .unwrap();
    store
        .remove_contributions("pagerduty", &["component:default/shop".to_owned()])
        .await
        .unwrap();
    let gone = client
        .ok("/api/entities/by-ref/component/default/shop/contributions")
        .await;
    assert!(gone["contributions"].as_array().unwrap().is_empty());
    assert_eq!(gone["latestEvent"]["type"], "removed", "{backend}: {gone}");

    let never = client
        .get("/api/entities/by-ref/component/default/never/contributions")
        .await;
    assert_eq!(never.status, StatusCode::NOT_FOUND);
    assert!(never.text.contains("component:default/never"));
}

#[tokio::test]
async fn an_entitys_sources_versions_and_latest_event_are_read_beside_it() {
    each_backend(contributions).await;
}

#[tokio::test]
async fn the_event_logs_bounds_match_the_stream() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let client = client_over(
        &store,
        HttpSettings {
            tombstone_retention: Some(Duration::from_secs(3 * 24 * 60 * 60)),
            ..HttpSettings::default()
        },
    );
    let empty = client.ok("/api/events/log").await;
    assert_eq!(empty["headOffset"], 0);
    assert_eq!(empty["purgedThrough"], 0);
    assert_eq!(empty["tombstoneRetentionSeconds"], 3 * 24 * 60 * 60);
    let spec = json!({ "type": "service", "lifecycle": "production", "owner": "team-a" });
    put(
        &store,
        "github",
        0,
        &[
            entity("Component", "a", spec.clone()),
            entity("Component", "b", spec),
        ],
    )
    .await;
    let log = client.ok("/api/events/log").await;
    let events = client.ok("/api/events?offset=0").await;
    assert_eq!(log["headOffset"], events["headOffset"]);
    assert_eq!(log["headOffset"], 2);
    assert_eq!(
        client.get("/api/events/log?offset=1").await.status,
        StatusCode::BAD_REQUEST
    );
    db.drop_database().await;
}
