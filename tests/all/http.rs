//! The HTTP API, called in-process (`tower::ServiceExt::oneshot`) and, for
//! the consumer example, over a real listener; against a SQLite file and,
//! when `WEIR_TEST_POSTGRES_URL` is set, a PostgreSQL database of its own
//! (see `weir_tests::db`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use weir::engine::{Rest, SourceOptions, Supervisor, SupervisorOptions};
use weir::http::{HttpSettings, PushSettings, ReadAccess, Secret, router_with, sign};
use weir::runtime::{Plugin, PluginRuntime, RuntimeOptions, SourceSettings};
use weir::store::{Catalog, EntityQuery, FailureStep, SourceRole};
use weir_core::canonical::content_hash;
use weir_core::intake::Contribution;
use weir_core::json::Json;
use weir_tests::db::TestDb;

use crate::guests;

/// How long a wait for the engine may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Run `test` on a fresh database of every backend, one after the other.
async fn each_backend<F, Fut>(name: &str, test: F)
where
    F: Fn(Catalog, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    for (db, url) in TestDb::all().await {
        let started = Instant::now();
        let store = Catalog::open(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let backend = db.backend();
        test(store, backend).await;
        eprintln!("{name} on {backend}: {:.1?}", started.elapsed());
        db.drop_database().await;
    }
}

fn engine_with(store: &Catalog, sources: Vec<(Plugin, SourceOptions)>) -> Arc<Supervisor> {
    Arc::new(Supervisor::start(
        store.clone(),
        sources,
        SupervisorOptions {
            max_concurrent_bursts: 2,
            poll: Duration::from_millis(100),
            ..SupervisorOptions::default()
        },
    ))
}

/// The API over `store`, with no sources running.
fn api(store: &Catalog, settings: HttpSettings) -> (Client, Arc<Supervisor>) {
    let engine = engine_with(store, Vec::new());
    (Client(router_with(Arc::clone(&engine), settings)), engine)
}

/// Calls the router in-process (the status page's tests use it too).
#[derive(Clone)]
pub(crate) struct Client(pub(crate) Router);

/// A response, its body as JSON when it is JSON.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Answer {
    /// A header that must be there, as text.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The JSON error's name, checking the error shape.
    fn error_name(&self) -> String {
        let body = self.json();
        assert_eq!(
            body["response"]["statusCode"],
            self.status.as_u16(),
            "{}",
            self.text
        );
        assert!(body["error"]["message"].is_string(), "{}", self.text);
        body["error"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Client {
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .0
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> Answer {
        self.send(Method::GET, uri, &[], Vec::new()).await
    }

    /// GET, expecting 200 and JSON.
    pub(crate) async fn ok(&self, uri: &str) -> Value {
        let answer = self.get(uri).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {uri}: {}", answer.text);
        answer.json()
    }

    async fn with_token(&self, method: Method, uri: &str, token: Option<&str>) -> Answer {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|value| vec![("authorization", value)])
            .unwrap_or_default();
        self.send(method, uri, &headers, Vec::new()).await
    }
}

fn entity(kind: &str, namespace: &str, name: &str, fields: Value) -> Value {
    let mut entity = json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "type": "service", "lifecycle": "production", "owner": "team-a" },
    });
    merge(&mut entity, fields);
    entity
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}

fn contribution(entity: Value) -> Contribution {
    let entity_ref = weir_core::entity_ref::EntityRef::from_entity(&Json::from(&entity))
        .unwrap()
        .to_string();
    Contribution {
        entity_ref,
        hash: content_hash(&entity).to_hex(),
        merges_unchanged_alone: weir_core::merge::is_unchanged_alone(&Json::from(&entity)),
        body: entity.to_string(),
        raw_hash: "unused".into(),
        location_key: None,
        plugin_build: "build-1".into(),
    }
}

fn role(name: &str, priority: i64) -> SourceRole<'_> {
    SourceRole {
        name,
        priority,
        owner_rule: false,
    }
}

async fn put(store: &Catalog, source: &str, priority: i64, entities: Vec<Value>) {
    store
        .apply_page(
            role(source, priority),
            entities.into_iter().map(contribution).collect(),
            &[],
        )
        .await
        .unwrap();
}

/// The catalog as the store holds it: ref → entity.
async fn catalog(store: &Catalog) -> BTreeMap<String, Value> {
    let rows = store
        .entity_rows(&EntityQuery {
            limit: 1_000_000,
            ..EntityQuery::default()
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|row| (row.entity_ref, serde_json::from_str(&row.body).unwrap()))
        .collect()
}

/// A mixed little catalog: components, APIs and a group in two namespaces,
/// from two sources.
async fn seed(store: &Catalog) {
    let mut github = Vec::new();
    for i in 0..12 {
        let namespace = if i % 3 == 0 { "ops" } else { "default" };
        github.push(entity(
            "Component",
            namespace,
            &format!("svc-{i:02}"),
            json!({
                "metadata": {
                    "tags": if i % 2 == 0 { json!(["java", "web"]) } else { json!(["go"]) },
                    "annotations": { "backstage.io/owner-team": format!("Team-{}", i % 4) },
                },
                "spec": { "type": if i < 4 { "website" } else { "service" } },
            }),
        ));
    }
    for i in 0..3 {
        github.push(entity(
            "API",
            "default",
            &format!("api-{i}"),
            json!({ "spec": { "type": "openapi", "definition": "openapi: 3.0.0" } }),
        ));
    }
    put(store, "github", 10, github).await;
    put(
        store,
        "hr",
        5,
        vec![
            entity(
                "Group",
                "default",
                "team-a",
                json!({ "spec": { "type": "team", "children": [] } }),
            ),
            // A second contribution to svc-01: merged, with provenance.
            entity(
                "Component",
                "default",
                "svc-01",
                json!({ "metadata": { "annotations": { "hr.example.com/cost-center": "42" } } }),
            ),
        ],
    )
    .await;
}

fn refs(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["entityRef"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of a listing; returns the refs and each page's offset.
async fn all_pages(client: &Client, query: &str, limit: usize) -> (Vec<String>, Vec<i64>) {
    let mut uri = format!("/api/entities?limit={limit}{query}");
    let mut all = Vec::new();
    let mut offsets = Vec::new();
    loop {
        let page = client.ok(&uri).await;
        assert!(refs(&page).len() <= limit);
        all.extend(refs(&page));
        offsets.push(page["lastEventOffset"].as_i64().unwrap());
        match page["pageInfo"]["nextCursor"].as_str() {
            Some(cursor) => uri = format!("/api/entities?limit={limit}{query}&cursor={cursor}"),
            None => return (all, offsets),
        }
    }
}

async fn entities_listing(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let (client, engine) = api(&store, HttpSettings::default());
    let everything: Vec<String> = catalog(&store).await.into_keys().collect();
    assert_eq!(everything.len(), 16, "{backend}");

    // Unfiltered, in pages of 5: every ref once, in order, one offset.
    let (listed, offsets) = all_pages(&client, "", 5).await;
    assert_eq!(listed, everything, "{backend}");
    assert_eq!(offsets.len(), 4, "{backend}: 16 entities in pages of 5");
    let head = store.last_offset().await.unwrap();
    assert!(
        offsets.iter().all(|&offset| offset == head),
        "{backend}: {offsets:?}"
    );

    // The offset comes from the first page even when the log moves on.
    let first = client.ok("/api/entities?limit=10").await;
    put(
        &store,
        "github",
        10,
        vec![entity("Component", "default", "zz-late", json!({}))],
    )
    .await;
    let cursor = first["pageInfo"]["nextCursor"].as_str().unwrap();
    let second = client
        .ok(&format!("/api/entities?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(
        second["lastEventOffset"], first["lastEventOffset"],
        "{backend}"
    );
    assert!(refs(&second).contains(&"component:default/zz-late".to_owned()));
    store
        .remove_contributions("github", &["component:default/zz-late".to_owned()])
        .await
        .unwrap();

    // Filters.
    let kinds = |query: &'static str| {
        let client = client.clone();
        async move { all_pages(&client, query, 4).await.0 }
    };
    let apis = kinds("&kind=API").await;
    assert_eq!(
        apis,
        [
            "api:default/api-0",
            "api:default/api-1",
            "api:default/api-2"
        ]
    );
    assert_eq!(kinds("&kind=api,group").await.len(), 4, "{backend}");
    assert_eq!(kinds("&kind=api&kind=Group").await.len(), 4, "{backend}");
    assert_eq!(kinds("&namespace=OPS").await.len(), 4, "{backend}");
    assert_eq!(
        kinds("&source=hr").await,
        ["component:default/svc-01", "group:default/team-a"]
    );
    assert_eq!(kinds("&source=nobody").await, Vec::<String>::new());
    assert_eq!(
        kinds("&filter=spec.type=website").await.len(),
        4,
        "{backend}"
    );
    assert_eq!(
        kinds("&filter=metadata.tags=JAVA").await.len(),
        6,
        "{backend}"
    );
    assert_eq!(
        kinds("&filter=metadata.annotations.backstage.io/owner-team=team-1").await,
        [
            "component:default/svc-01",
            "component:default/svc-05",
            "component:ops/svc-09"
        ]
    );
    assert_eq!(
        kinds("&filter=kind=component,spec.type=website&filter=kind=group").await,
        [
            "component:ops/svc-00",
            "component:default/svc-01",
            "component:default/svc-02",
            "component:ops/svc-03",
            "group:default/team-a",
        ]
        .into_iter()
        .map(String::from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        kinds("&filter=metadata.annotations.hr.example.com/cost-center").await,
        ["component:default/svc-01"]
    );
    let page = client.ok("/api/entities?kind=group").await;
    assert_eq!(page["items"][0]["entity"]["spec"]["type"], "team");
    assert!(page["items"][0]["eventOffset"].as_i64().unwrap() > 0);
    assert!(page["pageInfo"].get("nextCursor").is_none());

    // Bad input.
    for uri in [
        "/api/entities?limit=0",
        "/api/entities?limit=5001",
        "/api/entities?limit=ten",
        "/api/entities?limit=1&limit=2",
        "/api/entities?kinds=component",
        "/api/entities?cursor=garbage",
        "/api/entities?kind=",
        "/api/entities?filter==x",
    ] {
        let answer = client.get(uri).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            answer.text
        );
        assert_eq!(answer.error_name(), "InputError", "{uri}");
    }
    let cursor = client.ok("/api/entities?kind=component&limit=2").await["pageInfo"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let same = client
        .get(&format!(
            "/api/entities?kind=component&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);
    let other = client
        .get(&format!("/api/entities?kind=api&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", other.text);
    engine.shutdown().await;
}

#[tokio::test]
async fn entities_are_listed_with_filters_and_cursor_pages() {
    each_backend("entities_listing", entities_listing).await;
}

async fn entity_by_ref(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let (client, engine) = api(&store, HttpSettings::default());
    let detail = client
        .ok("/api/entities/by-ref/Component/default/SVC-01")
        .await;
    assert_eq!(detail["entityRef"], "component:default/svc-01", "{backend}");
    assert_eq!(
        detail["entity"]["metadata"]["annotations"]["hr.example.com/cost-center"],
        "42"
    );
    assert_eq!(detail["entity"]["spec"]["owner"], "team-a");
    let sources: Vec<&str> = detail["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["github", "hr"],
        "{backend}: highest priority first"
    );
    assert_eq!(
        detail["provenance"]["annotations"]["hr.example.com/cost-center"],
        "hr"
    );
    assert_eq!(
        detail["provenance"]["fields"]["metadata"],
        json!(["github", "hr"])
    );
    assert_eq!(detail["provenance"]["fields"]["spec"], json!(["github"]));
    assert_eq!(detail["hash"].as_str().unwrap().len(), 64);
    assert_eq!(detail["errors"], json!([]));
    // A lone source's entity: its provenance follows from the body.
    let lone = client.ok("/api/entities/by-ref/api/default/api-0").await;
    assert_eq!(lone["provenance"]["fields"]["spec"], json!(["github"]));

    let missing = client
        .get("/api/entities/by-ref/component/default/nope")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_name(), "NotFoundError");
    let malformed = client
        .get("/api/entities/by-ref/comp:onent/default/x")
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.text
    );
    let blank = client.get("/api/entities/by-ref/component/%20/x").await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{}", blank.text);
    let short = client.get("/api/entities/by-ref/component/default").await;
    assert_eq!(short.status, StatusCode::NOT_FOUND, "{}", short.text);
    assert!(
        short.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no route")
    );
    let extra = client
        .get("/api/entities/by-ref/component/default/svc-01?x=1")
        .await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST);
    engine.shutdown().await;
}

#[tokio::test]
async fn an_entity_is_found_by_ref_with_its_provenance() {
    each_backend("entity_by_ref", entity_by_ref).await;
}

fn offsets_of(page: &Value) -> Vec<i64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["offset"].as_i64().unwrap())
        .collect()
}

async fn event_stream(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let (client, engine) = api(&store, HttpSettings::default());
    let head = store.last_offset().await.unwrap();
    assert_eq!(head, 17, "{backend}: 16 additions, then svc-01 updated");

    // From 0: the whole catalog, one event per ref, in offset order.
    let page = client.ok("/api/events?limit=100").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 16, "{backend}");
    assert_eq!(page["lastEventOffset"], head);
    assert_eq!(page["headOffset"], head);
    let offsets = offsets_of(&page);
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
    let svc01 = events
        .iter()
        .find(|e| e["entityRef"] == "component:default/svc-01")
        .unwrap();
    assert_eq!(svc01["type"], "updated");
    assert_eq!(
        svc01["entity"]["metadata"]["annotations"]["hr.example.com/cost-center"],
        "42"
    );

    // Paging: a full page ends at its last event.
    let first = client.ok("/api/events?offset=0&limit=5").await;
    assert_eq!(offsets_of(&first).len(), 5);
    assert_eq!(
        first["lastEventOffset"],
        *offsets_of(&first).last().unwrap()
    );
    let rest = client
        .ok(&format!(
            "/api/events?offset={}&limit=100",
            first["lastEventOffset"]
        ))
        .await;
    assert_eq!(offsets_of(&first).len() + offsets_of(&rest).len(), 16);

    // Kinds: gaps in the offsets; the answer still covers up to the head.
    let apis = client.ok("/api/events?kind=API").await;
    assert_eq!(offsets_of(&apis).len(), 3);
    assert!(
        apis["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entityRef"].as_str().unwrap().starts_with("api:"))
    );
    assert_eq!(apis["lastEventOffset"], head);

    // A removal: a tombstone without an entity; an update moves the ref.
    store
        .remove_contributions("github", &["api:default/api-1".to_owned()])
        .await
        .unwrap();
    let tail = client.ok(&format!("/api/events?offset={head}")).await;
    assert_eq!(
        tail["events"],
        json!([{ "offset": head + 1, "type": "removed", "entityRef": "api:default/api-1" }])
    );
    // At the head: nothing, at once.
    let at_head = client.ok(&format!("/api/events?offset={}", head + 1)).await;
    assert_eq!(at_head["events"], json!([]));
    assert_eq!(at_head["lastEventOffset"], head + 1);

    // Bad input.
    for uri in [
        "/api/events?offset=-1",
        "/api/events?offset=x",
        "/api/events?limit=0",
        "/api/events?limit=10001",
        "/api/events?wait=61",
        "/api/events?wait=-1",
        "/api/events?since=3",
        "/api/events?offset=999999",
    ] {
        let answer = client.get(uri).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{backend} {uri}: {}",
            answer.text
        );
        assert_eq!(answer.error_name(), "InputError");
        // Only an offset this catalog never issued has its own code (a
        // consumer re-bootstraps on it), with the head beside it.
        let beyond = uri.ends_with("999999");
        let code = &answer.json()["error"]["code"];
        assert_eq!(
            code,
            if beyond {
                "offset_beyond_head"
            } else {
                "bad_parameter"
            },
            "{backend} {uri}"
        );
        if beyond {
            assert_eq!(answer.json()["headOffset"], head + 1, "{backend}");
        }
    }
    engine.shutdown().await;
}

/// Each source's entities, some with a location key.
async fn put_keyed(
    store: &Catalog,
    source: &str,
    priority: i64,
    entities: Vec<(Value, Option<&str>)>,
) {
    let contributions = entities
        .into_iter()
        .map(|(entity, key)| Contribution {
            location_key: key.map(str::to_owned),
            ..contribution(entity)
        })
        .collect();
    store
        .apply_page(role(source, priority), contributions, &[])
        .await
        .unwrap();
}

/// `(source, locationKey)` of each item or live event, by ref.
fn winners(items: &[Value]) -> BTreeMap<String, (Value, Value)> {
    items
        .iter()
        .map(|item| {
            (
                item["entityRef"].as_str().unwrap().to_owned(),
                (item["source"].clone(), item["locationKey"].clone()),
            )
        })
        .collect()
}

async fn winning_sources(store: Catalog, backend: &'static str) {
    // An odd key, to see it through the events' packing on SQLite.
    let odd_key = "url:https://git.example/ü/\u{1f}x\u{1e}y";
    put_keyed(
        &store,
        "github",
        10,
        vec![
            (
                entity("Component", "default", "shared", json!({})),
                Some("url:https://git.example/shared"),
            ),
            (
                entity("Component", "default", "odd", json!({})),
                Some(odd_key),
            ),
        ],
    )
    .await;
    put_keyed(
        &store,
        "hr",
        5,
        vec![
            (
                entity(
                    "Component",
                    "default",
                    "shared",
                    json!({ "spec": { "owner": "team-hr" } }),
                ),
                None,
            ),
            (
                entity(
                    "Group",
                    "default",
                    "team-hr",
                    json!({ "spec": { "type": "team", "children": [] } }),
                ),
                Some("hr:groups"),
            ),
        ],
    )
    .await;
    // A tie on priority: the name that sorts first in byte order wins
    // (`Beta` before `alpha`: upper case first), on PostgreSQL too, whatever
    // its collation.
    put_keyed(
        &store,
        "alpha",
        1,
        vec![(
            entity(
                "Component",
                "default",
                "tie",
                json!({ "spec": { "owner": "from-alpha" } }),
            ),
            Some("alpha:key"),
        )],
    )
    .await;
    put_keyed(
        &store,
        "Beta",
        1,
        vec![(
            entity(
                "Component",
                "default",
                "tie",
                json!({ "spec": { "owner": "from-beta" } }),
            ),
            None,
        )],
    )
    .await;
    let (client, engine) = api(&store, HttpSettings::default());
    let expected: BTreeMap<String, (Value, Value)> = [
        (
            "component:default/shared",
            json!("github"),
            json!("url:https://git.example/shared"),
        ),
        ("component:default/odd", json!("github"), json!(odd_key)),
        ("group:default/team-hr", json!("hr"), json!("hr:groups")),
        ("component:default/tie", json!("Beta"), Value::Null),
    ]
    .into_iter()
    .map(|(entity_ref, source, key)| (entity_ref.to_owned(), (source, key)))
    .collect();
    let listing = client.ok("/api/entities?limit=100").await;
    assert_eq!(
        winners(listing["items"].as_array().unwrap()),
        expected,
        "{backend}"
    );
    let events = client.ok("/api/events?limit=100").await;
    assert_eq!(
        winners(events["events"].as_array().unwrap()),
        expected,
        "{backend}"
    );
    // The winner's entity is what the merge took: the tie went to Beta.
    let tie = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["entityRef"] == "component:default/tie")
        .unwrap();
    assert_eq!(tie["entity"]["spec"]["owner"], "from-beta", "{backend}");
    // A page of one keeps the fields (the listing's SQL per row).
    let one = client.ok("/api/entities?limit=1&kind=group").await;
    assert_eq!(one["items"][0]["source"], "hr");
    assert_eq!(one["items"][0]["locationKey"], "hr:groups");

    // The winner leaves: the event names the new one, without a key; a
    // removal names none.
    let head = store.last_offset().await.unwrap();
    store
        .remove_contributions(
            "github",
            &[
                "component:default/shared".to_owned(),
                "component:default/odd".to_owned(),
            ],
        )
        .await
        .unwrap();
    let tail = client.ok(&format!("/api/events?offset={head}")).await;
    let tail = tail["events"].as_array().unwrap();
    assert_eq!(tail.len(), 2, "{backend}: {tail:?}");
    let shared = tail
        .iter()
        .find(|e| e["entityRef"] == "component:default/shared")
        .unwrap();
    assert_eq!(shared["type"], "updated");
    assert_eq!(shared["source"], "hr");
    assert!(shared.get("locationKey").is_none(), "{shared}");
    let odd = tail
        .iter()
        .find(|e| e["entityRef"] == "component:default/odd")
        .unwrap();
    assert_eq!(
        *odd,
        json!({ "offset": odd["offset"], "type": "removed", "entityRef": "component:default/odd" })
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn entities_and_events_name_the_winning_source_and_its_location_key() {
    each_backend("winning_sources", winning_sources).await;
}

#[tokio::test]
async fn events_come_in_offset_order_with_kinds_and_tombstones() {
    each_backend("event_stream", event_stream).await;
}

async fn long_poll(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let (client, engine) = api(&store, HttpSettings::default());

    // Nothing arrives: the wait ends empty after about its length.
    let head = store.last_offset().await.unwrap();
    let started = Instant::now();
    let empty = client
        .ok(&format!("/api/events?offset={head}&wait=0.3"))
        .await;
    let waited = started.elapsed();
    assert_eq!(empty["events"], json!([]));
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // A commit reaches a waiting consumer at once.
    let mut latencies = Vec::new();
    for round in 0..20 {
        let head = store.last_offset().await.unwrap();
        let waiter = {
            let client = client.clone();
            tokio::spawn(async move {
                let page = client
                    .ok(&format!("/api/events?offset={head}&wait=10"))
                    .await;
                (Instant::now(), page)
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        put(
            &store,
            "github",
            10,
            vec![entity(
                "Component",
                "default",
                &format!("poll-{round}"),
                json!({}),
            )],
        )
        .await;
        let committed = Instant::now();
        let (answered, page) = waiter.await.unwrap();
        assert_eq!(offsets_of(&page), [head + 1], "{backend}");
        latencies.push(answered.saturating_duration_since(committed));
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let worst = *latencies.last().unwrap();
    eprintln!(
        "{backend}: commit to long-poll answer, in-process: median {median:?}, max {worst:?}"
    );
    assert!(
        worst < Duration::from_millis(250),
        "{backend}: {latencies:?}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_long_poll_answers_as_soon_as_a_commit_lands() {
    each_backend("long_poll", long_poll).await;
}

/// Two "replicas" on one PostgreSQL database: a commit through one store
/// reaches a consumer waiting on the other's API through the head poll.
#[tokio::test]
async fn a_long_poll_sees_another_replicas_commit() {
    let Some((db, url)) = TestDb::postgres().await else {
        return;
    };
    let reader = Catalog::open(&url).await.unwrap();
    let writer = Catalog::open(&url).await.unwrap();
    let (client, engine) = api(&reader, HttpSettings::default());
    let mut latencies = Vec::new();
    for round in 0..10 {
        let head = reader.last_offset().await.unwrap();
        let waiter = {
            let client = client.clone();
            tokio::spawn(async move {
                let page = client
                    .ok(&format!("/api/events?offset={head}&wait=10"))
                    .await;
                (Instant::now(), page)
            })
        };
        tokio::time::sleep(Duration::from_millis(40)).await;
        put(
            &writer,
            "other",
            0,
            vec![entity(
                "Component",
                "default",
                &format!("r-{round}"),
                json!({}),
            )],
        )
        .await;
        let committed = Instant::now();
        let (answered, page) = waiter.await.unwrap();
        assert_eq!(offsets_of(&page), [head + 1]);
        latencies.push(answered.saturating_duration_since(committed));
    }
    latencies.sort();
    eprintln!(
        "postgres: commit to long-poll answer across replicas: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies.last().unwrap()
    );
    assert!(
        *latencies.last().unwrap() < Duration::from_millis(400),
        "{latencies:?}"
    );
    engine.shutdown().await;
    drop((reader, writer));
    db.drop_database().await;
}

async fn retention(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let before = store.last_offset().await.unwrap();
    store
        .remove_contributions(
            "github",
            &[
                "api:default/api-0".to_owned(),
                "api:default/api-2".to_owned(),
            ],
        )
        .await
        .unwrap();
    // Re-added after its removal: an addition, never purged.
    store
        .remove_contributions("github", &["component:default/svc-02".to_owned()])
        .await
        .unwrap();
    put(
        &store,
        "github",
        10,
        vec![entity("Component", "default", "svc-02", json!({}))],
    )
    .await;
    let head = store.last_offset().await.unwrap();
    assert_eq!(head, before + 4);
    let settings = HttpSettings {
        tombstone_retention: Some(Duration::ZERO),
        purge_interval: Duration::from_millis(50),
        ..HttpSettings::default()
    };
    let (client, engine) = api(&store, settings);

    // The purge task runs within seconds (retention 0: every tombstone).
    let deadline = Instant::now() + TIMEOUT;
    while store.purged_through().await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "{backend}: no purge");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.purged_through().await.unwrap(),
        before + 2,
        "{backend}"
    );

    // Below the purged offset: 410, saying what to do.
    for offset in [1, before, before + 1] {
        let gone = client.get(&format!("/api/events?offset={offset}")).await;
        assert_eq!(
            gone.status,
            StatusCode::GONE,
            "{backend} offset {offset}: {}",
            gone.text
        );
        assert_eq!(gone.error_name(), "GoneError");
        let body = gone.json();
        assert_eq!(body["purgedThrough"], before + 2);
        assert_eq!(body["headOffset"], head);
        assert_eq!(body["error"]["code"], "gone");
        assert!(body.get("oldestOffset").is_none(), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("/api/entities")
        );
    }
    // From 0 the whole current catalog still comes, without the tombstones.
    let all = client.ok("/api/events?limit=1000").await;
    let types: BTreeSet<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(!types.contains("removed"), "{backend}: {types:?}");
    assert_eq!(
        all["events"].as_array().unwrap().len(),
        catalog(&store).await.len()
    );
    // At or above it: served.
    let after = client
        .ok(&format!("/api/events?offset={}", before + 2))
        .await;
    assert_eq!(offsets_of(&after), [head]);
    // A listing then gives an offset that is served.
    let listing = client.ok("/api/entities?limit=1").await;
    let from = listing["lastEventOffset"].as_i64().unwrap();
    assert_eq!(
        client
            .get(&format!("/api/events?offset={from}"))
            .await
            .status,
        StatusCode::OK
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn old_tombstones_are_purged_and_older_offsets_answer_410() {
    each_backend("retention", retention).await;
}

/// Apply one event to a mirror.
fn apply(mirror: &mut BTreeMap<String, Value>, event: &Value) {
    let entity_ref = event["entityRef"].as_str().unwrap().to_owned();
    match event["type"].as_str().unwrap() {
        "removed" => {
            mirror.remove(&entity_ref);
        }
        _ => {
            mirror.insert(entity_ref, event["entity"].clone());
        }
    }
}

/// Follow the stream from `offset` until `done` is set and the answer is
/// at the head; check offsets strictly increase across answers.
async fn follow(
    client: &Client,
    mirror: &mut BTreeMap<String, Value>,
    mut offset: i64,
    done: &AtomicBool,
    kind: &str,
) -> usize {
    let mut last_seen = offset;
    let mut received = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let page = client
            .ok(&format!(
                "/api/events?offset={offset}&limit=13&wait=0.2{kind}"
            ))
            .await;
        for event in page["events"].as_array().unwrap() {
            let at = event["offset"].as_i64().unwrap();
            assert!(
                at > last_seen,
                "offset {at} after {last_seen}: missed or repeated"
            );
            last_seen = at;
            received += 1;
            apply(mirror, event);
        }
        offset = page["lastEventOffset"].as_i64().unwrap();
        assert!(offset >= last_seen);
        if finished && page["events"].as_array().unwrap().is_empty() {
            return received;
        }
    }
}

/// A small deterministic generator (xorshift).
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn mirror(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let (client, engine) = api(&store, HttpSettings::default());
    let done = Arc::new(AtomicBool::new(false));
    const SOURCES: [(&str, i64); 3] = [("alpha", 3), ("beta", 2), ("gamma", 1)];

    // Four writers, each a few hundred changes from several sources.
    let mut writers = Vec::new();
    for writer in 0..4u64 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ ((writer + 1) * 0x1234_5678));
            for step in 0..120 {
                let (source, priority) = SOURCES[random.below(3) as usize];
                let kind = ["Component", "API", "System"][random.below(3) as usize];
                if random.below(4) == 0 {
                    let refs: Vec<String> = (0..1 + random.below(4))
                        .map(|_| format!("{}:default/m-{}", kind.to_lowercase(), random.below(40)))
                        .collect();
                    store.remove_contributions(source, &refs).await.unwrap();
                } else {
                    let page: Vec<Value> = (0..1 + random.below(5))
                        .map(|_| {
                            entity(
                                kind,
                                "default",
                                &format!("m-{}", random.below(40)),
                                json!({
                                    "metadata": { "labels": { source: format!("w{writer}s{step}") } },
                                    "spec": { "owner": format!("team-{}", random.below(5)) },
                                }),
                            )
                        })
                        .collect();
                    put(&store, source, priority, page).await;
                }
                if step % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }

    // Consumer A bootstraps from the entities mid-way, then follows.
    let bootstrapped = {
        let client = client.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut mirror = BTreeMap::new();
            let mut uri = "/api/entities?limit=7".to_owned();
            let mut offset = None;
            loop {
                let page = client.ok(&uri).await;
                offset.get_or_insert(page["lastEventOffset"].as_i64().unwrap());
                for item in page["items"].as_array().unwrap() {
                    mirror.insert(
                        item["entityRef"].as_str().unwrap().to_owned(),
                        item["entity"].clone(),
                    );
                }
                match page["pageInfo"]["nextCursor"].as_str() {
                    Some(cursor) => uri = format!("/api/entities?limit=7&cursor={cursor}"),
                    None => break,
                }
            }
            follow(&client, &mut mirror, offset.unwrap(), &done, "").await;
            (mirror, offset.unwrap())
        })
    };
    // Consumer B follows from 0; consumer C only components, from 0.
    let from_zero = {
        let client = client.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut mirror = BTreeMap::new();
            follow(&client, &mut mirror, 0, &done, "").await;
            mirror
        })
    };
    let components = {
        let client = client.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut mirror = BTreeMap::new();
            follow(&client, &mut mirror, 0, &done, "&kind=component").await;
            mirror
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let expected = catalog(&store).await;
    let (a, bootstrap_offset) = bootstrapped.await.unwrap();
    assert!(
        bootstrap_offset < store.last_offset().await.unwrap(),
        "{backend}: the bootstrap should happen while the writers write"
    );
    let b = from_zero.await.unwrap();
    let c = components.await.unwrap();
    assert!(
        expected.len() > 20,
        "{backend}: {} entities",
        expected.len()
    );
    assert!(
        a == expected,
        "{backend}: the bootstrapped mirror differs from the catalog"
    );
    assert!(
        b == expected,
        "{backend}: the mirror from offset 0 differs from the catalog"
    );
    let expected_components: BTreeMap<String, Value> = expected
        .into_iter()
        .filter(|(entity_ref, _)| entity_ref.starts_with("component:"))
        .collect();
    assert!(
        c == expected_components,
        "{backend}: the component mirror differs"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mirror_from_entities_and_events_equals_the_catalog_after_concurrent_changes() {
    each_backend("mirror", mirror).await;
}

async fn runtime() -> Arc<PluginRuntime> {
    Arc::new(
        PluginRuntime::new(RuntimeOptions {
            cache_dir: Some(std::env::temp_dir().join("weir-http-test-cache")),
            ..RuntimeOptions::default()
        })
        .expect("runtime"),
    )
}

async fn load(runtime: &PluginRuntime, path: &str) -> Plugin {
    runtime
        .load(Path::new(path), SourceSettings::default())
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn quick() -> SourceOptions {
    SourceOptions {
        burst_length: Duration::from_millis(1),
        burst_interval: Duration::ZERO,
        rest: Rest::For(Duration::from_secs(60 * 60)),
        backoff: vec![Duration::from_millis(100); 3],
        ..SourceOptions::default()
    }
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const ADMIN: &str = "admin-token-1234";
const READ: &str = "read-token-5678";

async fn admin_routes(store: Catalog, backend: &'static str) {
    let runtime = runtime().await;
    let well_behaved = load(&runtime, guests::PLUGIN_WELL_BEHAVED).await;
    let engine = engine_with(&store, vec![(well_behaved, quick())]);
    let settings = HttpSettings {
        admin_token: Some(Secret::new(ADMIN)),
        read_token: Some(Secret::new(READ)),
        ..HttpSettings::default()
    };
    let client = Client(router_with(Arc::clone(&engine), settings));
    let base = "/api/catalog/incremental";
    let provider = format!("{base}/providers/well-behaved");
    wait_for("the first cycle", async || {
        store.cycle_count("well-behaved").await.unwrap() >= 1
    })
    .await;

    // The cycle's bursts are in /metrics: runs, fuel, pages, memory.
    let metrics = client.get("/metrics").await.text;
    for family in [
        "weir_source_bursts_total",
        "weir_source_fuel_total",
        "weir_source_burst_pages_total",
        "weir_source_burst_entities_total",
        "weir_source_page_bytes_total",
        "weir_source_peak_memory_bytes",
        "weir_source_guest_seconds_total",
    ] {
        let line = metrics
            .lines()
            .find(|line| line.starts_with(&format!("{family}{{source=\"well-behaved\"}} ")))
            .unwrap_or_else(|| panic!("{backend}: no {family} for the source in\n{metrics}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value > 0.0, "{backend}: {line}");
    }
    assert!(
        metrics.contains("weir_source_outbound_requests_total{source=\"well-behaved\"} 0\n"),
        "{backend}: {metrics}"
    );

    assert_eq!(
        client.ok(&format!("{base}/health")).await,
        json!({ "healthy": true })
    );
    let list = client.ok(&format!("{base}/providers")).await;
    assert_eq!(list["success"], true);
    assert_eq!(list["providers"], json!(["well-behaved"]));
    assert_eq!(list["sources"][0]["phase"], "resting", "{backend}");

    let status = client.ok(&provider).await;
    assert_eq!(status["success"], true);
    assert_eq!(status["status"]["current_action"], "resting");
    assert!(
        status["status"]["next_action_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(status.get("last_error").is_some());
    assert_eq!(status["phase"], "resting");
    assert_eq!(status["entities"], 6);
    assert_eq!(status["cycles"][0]["outcome"], "completed");
    assert_eq!(status["cycles"][0]["totals"]["pages"], 3);
    assert_eq!(status["push"], false);

    // Unknown providers: 404 with Backstage's bodies.
    let unknown = client.get(&format!("{base}/providers/nope")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_name(), "NotFoundError");
    assert_eq!(unknown.json()["last_error"], "Provider 'nope' not found");
    assert_eq!(unknown.json()["success"], false);
    for (method, path) in [
        (Method::POST, "trigger"),
        (Method::POST, "start"),
        (Method::POST, "cancel"),
        (Method::DELETE, "marks"),
    ] {
        let answer = client
            .with_token(
                method,
                &format!("{base}/providers/nope/{path}"),
                Some(ADMIN),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.json()["message"], "Provider 'nope' not found");
    }
    let gone = client
        .with_token(
            Method::DELETE,
            &format!("{base}/providers/nope"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Tokens: none, wrong, read-only, admin.
    let trigger = format!("{provider}/trigger");
    let none = client.with_token(Method::POST, &trigger, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    assert_eq!(none.error_name(), "AuthenticationError");
    let wrong = client
        .with_token(Method::POST, &trigger, Some("admin-token-123"))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        !wrong.text.contains("admin-token"),
        "a token is never echoed"
    );
    let reader = client.with_token(Method::POST, &trigger, Some(READ)).await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
    assert_eq!(reader.error_name(), "NotAllowedError");
    let basic = client
        .send(
            Method::POST,
            &trigger,
            &[("authorization", "Basic YWRtaW4=")],
            Vec::new(),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);

    // Marks: the current cycle's refs (a push marks what it sends).
    let marked: Vec<String> = (1..=6)
        .map(|n| format!("component:default/marked-{n}"))
        .collect();
    store
        .apply_push(role("well-behaved", 0), Vec::new(), &[], &marked, &[], None)
        .await
        .unwrap();
    let marks = client.ok(&format!("{provider}/marks?limit=4")).await;
    assert_eq!(marks["success"], true);
    assert_eq!(marks["total"], 6, "{backend}");
    assert_eq!(marks["records"].as_array().unwrap().len(), 4);
    let next = marks["nextAfter"].as_str().unwrap();
    let rest = client.ok(&format!("{provider}/marks?after={next}")).await;
    assert_eq!(rest["records"].as_array().unwrap().len(), 2);
    assert!(rest.get("nextAfter").is_none());
    assert_eq!(
        client
            .get(&format!("{provider}/marks?limit=0"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Backstage's clean-up of finished ingestions: there are none to clear,
    // and the current cycle's marks stay.
    let cleared = client
        .with_token(Method::DELETE, &format!("{provider}/marks"), Some(ADMIN))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(
        cleared.json(),
        json!({
            "success": true,
            "message": "Expired marks for provider 'well-behaved' removed.",
            "deletions": { "deletions": {
                "markEntitiesDeleted": 0, "marksDeleted": 0, "ingestionsDeleted": 0,
            } },
        })
    );
    assert_eq!(store.mark_count("well-behaved").await.unwrap(), 6);
    // Weir's own action drops the current cycle's marks, asked by name.
    let bad = client
        .with_token(
            Method::DELETE,
            &format!("{provider}/marks?cycle=all"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert_eq!(store.mark_count("well-behaved").await.unwrap(), 6);
    let cleared = client
        .with_token(
            Method::DELETE,
            &format!("{provider}/marks?cycle=current"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(
        cleared.json()["deletions"]["deletions"]["markEntitiesDeleted"],
        6
    );
    assert_eq!(store.mark_count("well-behaved").await.unwrap(), 0);

    // Trigger: the resting source starts its next cycle.
    let triggered = client.with_token(Method::POST, &trigger, Some(ADMIN)).await;
    assert_eq!(triggered.status, StatusCode::OK, "{}", triggered.text);
    assert_eq!(
        triggered.json(),
        json!({
            "success": true,
            "message": "well-behaved: Next action triggered.",
            "triggered": true,
        })
    );
    wait_for("the second cycle", async || {
        store.cycle_count("well-behaved").await.unwrap() >= 2
    })
    .await;

    // Start: a new cycle at once; cancel: rest until the next start.
    let started = client
        .with_token(Method::POST, &format!("{provider}/start"), Some(ADMIN))
        .await;
    assert_eq!(
        started.json()["message"],
        "well-behaved: Next cycle triggered."
    );
    wait_for("the third cycle", async || {
        store.cycle_count("well-behaved").await.unwrap() >= 3
    })
    .await;
    let cancelled = client
        .with_token(Method::POST, &format!("{provider}/cancel"), Some(ADMIN))
        .await;
    assert_eq!(
        cancelled.json()["message"],
        "well-behaved: Current ingestion canceled."
    );
    let status = client.ok(&provider).await;
    assert_eq!(status["phase"], "resting");

    // Delete: forget the records; the entities stay.
    let reset = client
        .with_token(Method::DELETE, &provider, Some(ADMIN))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let reset = reset.json();
    assert_eq!(reset["provider"], "well-behaved");
    assert!(reset["ingestionsDeleted"].as_i64().unwrap() >= 3, "{reset}");
    assert_eq!(store.cycle_count("well-behaved").await.unwrap(), 0);
    assert_eq!(client.ok(&provider).await["entities"], 6);

    // Cleanup: every provider.
    let cleanup = client
        .with_token(Method::POST, &format!("{base}/cleanup"), Some(ADMIN))
        .await;
    assert_eq!(cleanup.status, StatusCode::OK);
    assert_eq!(cleanup.json()["providers"], json!(["well-behaved"]));
    assert_eq!(
        client
            .with_token(Method::POST, &format!("{base}/cleanup"), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Wrong method: JSON 405.
    let wrong_method = client.send(Method::PUT, &provider, &[], Vec::new()).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_name(), "MethodNotAllowedError");
    engine.shutdown().await;
}

#[tokio::test]
async fn backstages_admin_routes_drive_a_running_source() {
    each_backend("admin_routes", admin_routes).await;
}

/// Trigger while a burst runs (here another replica's: it holds the lease,
/// so this host's runner leaves the source alone) answers 200 as Backstage
/// does, and changes nothing; a source backing off is listed by the health
/// route, which stays healthy in Backstage's sense.
async fn trigger_during_a_burst(store: Catalog, backend: &'static str) {
    let runtime = runtime().await;
    let plugin = load(&runtime, guests::PLUGIN_WELL_BEHAVED).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    store
        .register_source("well-behaved", now, 86_400_000)
        .await
        .unwrap();
    store
        .take_lease("well-behaved", "elsewhere", now, now + 3_600_000)
        .await
        .unwrap()
        .expect("the lease");
    store
        .start_cycle("well-behaved", "elsewhere", now)
        .await
        .unwrap();
    let engine = engine_with(&store, vec![(plugin, quick())]);
    let client = Client(router_with(Arc::clone(&engine), HttpSettings::default()));
    let before = store.source_status("well-behaved").await.unwrap().unwrap();
    let answer = client
        .send(
            Method::POST,
            "/api/catalog/incremental/providers/well-behaved/trigger",
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{backend}: {}", answer.text);
    assert_eq!(
        answer.json(),
        json!({
            "success": true,
            "message": "well-behaved: Next action triggered.",
            "triggered": false,
        })
    );
    let after = store.source_status("well-behaved").await.unwrap().unwrap();
    assert_eq!(after.next_action_ms, before.next_action_ms, "{backend}");
    let status = client
        .ok("/api/catalog/incremental/providers/well-behaved")
        .await;
    assert_eq!(status["phase"], "bursting");
    assert_eq!(status["lease"]["owner"], "elsewhere");

    // The burst fails: the source backs off, and the health route lists it
    // without calling the catalog unhealthy (Backstage's `healthy` is about
    // duplicate ingestions, which Weir cannot hold).
    store
        .fail_burst(
            "well-behaved",
            "elsewhere",
            "the guest trapped",
            now,
            FailureStep::BackOff {
                until_ms: now + 3_600_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        client.ok("/api/catalog/incremental/health").await,
        json!({ "healthy": true, "backingOff": ["well-behaved"] }),
        "{backend}"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn trigger_during_a_burst_answers_200_and_changes_nothing() {
    each_backend("trigger_during_a_burst", trigger_during_a_burst).await;
}

const PUSH_SECRET: &str = "webhook-secret";
const PUSH_TOKEN: &str = "push-token-42";

async fn push(store: Catalog, backend: &'static str) {
    let runtime = runtime().await;
    let pushing = load(&runtime, guests::PLUGIN_PUSHING).await;
    let well_behaved = load(&runtime, guests::PLUGIN_WELL_BEHAVED).await;
    let engine = engine_with(&store, vec![(pushing, quick()), (well_behaved, quick())]);
    let settings = HttpSettings::default();
    settings.push.set(
        "pushing",
        Some(PushSettings {
            hmac_secret: Some(Secret::new(PUSH_SECRET)),
            token: Some(Secret::new(PUSH_TOKEN)),
            ..PushSettings::default()
        }),
    );
    let client = Client(router_with(Arc::clone(&engine), settings));
    let uri = "/api/sources/pushing/events";
    let body = serde_json::to_vec(&json!({
        "upsert": [entity("Component", "default", "pushed-1", json!({ "spec": { "owner": "group:default/test" } }))],
    }))
    .unwrap();
    wait_for("the first cycles", async || {
        store.cycle_count("pushing").await.unwrap() >= 1
            && store.cycle_count("well-behaved").await.unwrap() >= 1
    })
    .await;
    let head = store.last_offset().await.unwrap();

    // A bad signature, a wrong token, none: 401, nothing applied.
    let forged = sign("not-the-secret", &body);
    for headers in [
        vec![("x-hub-signature-256", forged.as_str())],
        vec![("x-hub-signature-256", "sha256=zz")],
        vec![("authorization", "Bearer wrong")],
        vec![],
    ] {
        let answer = client.send(Method::POST, uri, &headers, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{backend} {headers:?}: {}",
            answer.text
        );
        assert_eq!(answer.error_name(), "AuthenticationError");
    }
    assert_eq!(
        store.last_offset().await.unwrap(),
        head,
        "{backend}: nothing applied"
    );

    // Signed: applied at once.
    let signature = sign(PUSH_SECRET, &body);
    let answer = client
        .send(
            Method::POST,
            uri,
            &[
                ("x-hub-signature-256", &signature),
                ("content-type", "application/json"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{backend}: {}", answer.text);
    let report = answer.json();
    assert_eq!(
        (report["success"].clone(), report["added"].clone()),
        (json!(true), json!(1))
    );
    assert!(
        store
            .entity("component:default/pushed-1")
            .await
            .unwrap()
            .is_some()
    );

    // The push token; a removal.
    let removal = serde_json::to_vec(&json!({ "remove": ["component:default/pushed-1"] })).unwrap();
    let bearer = format!("Bearer {PUSH_TOKEN}");
    let answer = client
        .send(Method::POST, uri, &[("authorization", &bearer)], removal)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["removed"], 1);
    assert!(
        store
            .entity("component:default/pushed-1")
            .await
            .unwrap()
            .is_none()
    );

    // The source refuses the event: 422; asks for a retry: 503.
    for (fail, status, code) in [
        ("fatal", StatusCode::UNPROCESSABLE_ENTITY, "source_refused"),
        (
            "transient",
            StatusCode::SERVICE_UNAVAILABLE,
            "source_unavailable",
        ),
    ] {
        let event = serde_json::to_vec(&json!({ "fail": fail })).unwrap();
        let signature = sign(PUSH_SECRET, &event);
        let answer = client
            .send(
                Method::POST,
                uri,
                &[("x-hub-signature-256", &signature)],
                event,
            )
            .await;
        assert_eq!(answer.status, status, "{fail}: {}", answer.text);
        assert_eq!(answer.json()["error"]["code"], code, "{}", answer.text);
    }

    // A body over the source's limit: 413, as JSON, before it is all read.
    let small = HttpSettings::default();
    small.push.set(
        "pushing",
        Some(PushSettings {
            token: Some(Secret::new(PUSH_TOKEN)),
            max_body_bytes: 64,
            ..PushSettings::default()
        }),
    );
    let small = Client(router_with(Arc::clone(&engine), small));
    let answer = small
        .send(
            Method::POST,
            uri,
            &[("authorization", &bearer)],
            vec![b' '; 65],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    assert_eq!(answer.error_name(), "PayloadTooLargeError");

    // A source without push: 409. An unknown one: 404.
    let answer = client
        .send(
            Method::POST,
            "/api/sources/well-behaved/events",
            &[],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    let answer = client
        .send(
            Method::POST,
            "/api/sources/nope/events",
            &[],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    engine.shutdown().await;
}

#[tokio::test]
async fn pushed_events_are_applied_only_when_signed_or_with_a_token() {
    each_backend("push", push).await;
}

async fn operations(store: Catalog, backend: &'static str) {
    seed(&store).await;
    let (client, engine) = api(&store, HttpSettings::default());
    assert_eq!(client.ok("/healthz").await, json!({ "status": "ok" }));
    let ready = client.ok("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], backend);
    client.ok("/api/entities?limit=1").await;
    client.get("/api/entities?limit=0").await;

    let metrics = client.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = &metrics.text;
    for expected in [
        "# TYPE weir_entities gauge\nweir_entities 16\n",
        "weir_event_log_head_offset 17\n",
        "weir_event_log_purged_through_offset 0\n",
        "weir_http_requests_total{method=\"GET\",route=\"/api/entities\",status=\"200\"} 1\n",
        "weir_http_requests_total{method=\"GET\",route=\"/api/entities\",status=\"400\"} 1\n",
        "weir_http_request_duration_seconds_count{method=\"GET\",route=\"/api/entities\"} 2\n",
    ] {
        assert!(
            text.contains(expected),
            "{backend}: missing {expected:?} in\n{text}"
        );
    }

    // The OpenAPI document lists every route, and every route it lists is
    // served (a request reaches a handler, not the fallback).
    let document = client.ok("/api/openapi.json").await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "DELETE /api/catalog/incremental/providers/{provider}",
            "DELETE /api/catalog/incremental/providers/{provider}/marks",
            "GET /api/catalog/incremental/health",
            "GET /api/catalog/incremental/providers",
            "GET /api/catalog/incremental/providers/{provider}",
            "GET /api/catalog/incremental/providers/{provider}/marks",
            "GET /api/entities",
            "GET /api/entities/by-ref/{kind}/{namespace}/{name}",
            "GET /api/entities/by-ref/{kind}/{namespace}/{name}/contributions",
            "GET /api/entities/search",
            "GET /api/events",
            "GET /api/events/log",
            "GET /api/openapi.json",
            "GET /api/rejections",
            "GET /healthz",
            "GET /metrics",
            "GET /readyz",
            "POST /api/catalog/incremental/cleanup",
            "POST /api/catalog/incremental/providers/{provider}/cancel",
            "POST /api/catalog/incremental/providers/{provider}/start",
            "POST /api/catalog/incremental/providers/{provider}/trigger",
            "POST /api/sources/{provider}/events",
        ]
    );
    for operation in &operations {
        let (method, path) = operation.split_once(' ').unwrap();
        let uri = path
            .replace("{provider}", "nope")
            .replace("{kind}", "component")
            .replace("{namespace}", "default")
            .replace("{name}", "nope");
        let answer = client
            .send(method.parse().unwrap(), &uri, &[], Vec::new())
            .await;
        assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{operation}");
        if answer.status == StatusCode::NOT_FOUND {
            assert!(
                !answer.text.contains("no route"),
                "{operation} is not routed"
            );
        }
    }
    assert_eq!(weir::http::openapi().paths.paths.len(), paths.len());
    // Every schema the document refers to is in it.
    let text = document.to_string();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "{name} is referred to but missing"
        );
    }

    let unknown = client.get("/api/nothing").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_name(), "NotFoundError");
    engine.shutdown().await;
}

#[tokio::test]
async fn health_readiness_metrics_and_the_openapi_document() {
    each_backend("operations", operations).await;
}

async fn closed_reads(store: Catalog, _backend: &'static str) {
    seed(&store).await;
    let settings = HttpSettings {
        admin_token: Some(Secret::new(ADMIN)),
        read_token: Some(Secret::new(READ)),
        read_access: ReadAccess::Token,
        ..HttpSettings::default()
    };
    let (client, engine) = api(&store, settings);
    for uri in [
        "/api/entities",
        "/api/entities/by-ref/api/default/api-0",
        "/api/events",
        "/api/catalog/incremental/providers",
        "/metrics",
    ] {
        let none = client.with_token(Method::GET, uri, None).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(none.error_name(), "AuthenticationError");
        let wrong = client.with_token(Method::GET, uri, Some("nope")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{uri}");
        for token in [READ, ADMIN] {
            let answer = client.with_token(Method::GET, uri, Some(token)).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.text);
        }
    }
    // Health and readiness stay open, for probes.
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(client.get("/readyz").await.status, StatusCode::OK);
    engine.shutdown().await;
}

#[tokio::test]
async fn closed_read_access_needs_a_token() {
    each_backend("closed_reads", closed_reads).await;
}

/// The consumer example (`examples/mirror.py`, Python's standard library
/// only) against a real listener, while a writer changes the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_consumer_example_mirrors_the_catalog() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("python3 not found: skipping the consumer example");
        return;
    }
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    seed(&store).await;
    let engine = engine_with(&store, Vec::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(
        axum::serve(
            listener,
            router_with(Arc::clone(&engine), HttpSettings::default()),
        )
        .into_future(),
    );
    let output = db.dir().unwrap().join("mirror.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mirror.py");
    let mut child = std::process::Command::new("python3")
        .arg(&script)
        .arg("--url")
        .arg(format!("http://{address}"))
        .arg("--page-size")
        .arg("5")
        .arg("--stop-when-idle")
        .arg("2")
        .arg("--output")
        .arg(&output)
        .spawn()
        .unwrap();
    for round in 0..30 {
        put(
            &store,
            "github",
            10,
            vec![entity(
                "Component",
                "default",
                &format!("live-{}", round % 7),
                json!({ "spec": { "owner": format!("t{round}") } }),
            )],
        )
        .await;
        if round % 5 == 0 {
            store
                .remove_contributions("github", &[format!("component:default/live-{}", round % 7)])
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = tokio::time::timeout(TIMEOUT, tokio::task::spawn_blocking(move || child.wait()))
        .await
        .expect("mirror.py did not stop")
        .unwrap()
        .unwrap();
    assert!(status.success(), "mirror.py failed: {status}");
    let mirrored: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert!(
        mirrored == catalog(&store).await,
        "the example's mirror differs from the catalog"
    );
    server.abort();
    engine.shutdown().await;
}

/// `weir serve` with `args` in an empty folder: its exit status and stderr.
fn serve_fails(args: &[&str], admin_token: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .arg("serve")
        .args(args)
        .arg("--database")
        .arg(format!("sqlite://{}", dir.path().join("weir.db").display()))
        .current_dir(dir.path())
        .env_remove("WEIR_ADMIN_TOKEN")
        .env_remove("WEIR_LISTEN")
        .env_remove("WEIR_DATABASE_URL");
    if let Some(token) = admin_token {
        command.env("WEIR_ADMIN_TOKEN", token);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "weir serve {args:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn weir_serve_refuses_to_listen_beyond_loopback_without_an_admin_token() {
    let refused = serve_fails(&["--listen", "0.0.0.0:0"], None);
    assert!(
        refused.contains("refusing to listen on 0.0.0.0:0 without an admin token"),
        "{refused}"
    );
    assert!(refused.contains("WEIR_ADMIN_TOKEN"), "{refused}");
    let short = serve_fails(&["--listen", "0.0.0.0:0"], Some("short"));
    assert!(
        short.contains("WEIR_ADMIN_TOKEN: a token must have at least 16 characters"),
        "{short}"
    );
    assert!(
        !short.contains("short\""),
        "the token is not echoed: {short}"
    );
}

/// Figures for BENCHMARKS.md (run by hand, ideally in release):
/// `WEIR_HTTP_BENCH_ENTITIES=1000000 cargo test --release -p weir --test http -- --ignored --nocapture`.
/// Seeds a catalog, then measures a consumer replaying the whole log,
/// `GET /api/entities` pages, and commit-to-consumer latency of long polls
/// while a writer commits pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by hand"]
async fn bench_http() {
    let count: usize = std::env::var("WEIR_HTTP_BENCH_ENTITIES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    for (db, url) in TestDb::all().await {
        let store = Catalog::open(&url).await.unwrap();
        let backend = db.backend();
        let started = Instant::now();
        for first in (0..count).step_by(1000) {
            let page = (first..(first + 1000).min(count))
                .map(|n| {
                    entity(
                        "Component",
                        "default",
                        &format!("bench-{n:07}"),
                        json!({ "metadata": { "annotations": { "n": n.to_string() } } }),
                    )
                })
                .collect();
            put(&store, "bench", 0, page).await;
        }
        eprintln!(
            "{backend}: seeded {count} entities in {:.1?}",
            started.elapsed()
        );
        let (client, engine) = api(&store, HttpSettings::default());

        // Replay the whole log.
        let started = Instant::now();
        let (mut offset, mut events) = (0, 0);
        loop {
            let page = client
                .ok(&format!("/api/events?offset={offset}&limit=10000"))
                .await;
            let got = page["events"].as_array().unwrap().len();
            events += got;
            offset = page["lastEventOffset"].as_i64().unwrap();
            if got == 0 {
                break;
            }
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{backend}: replayed {events} events in {elapsed:.2?}: {:.0} events/s",
            events as f64 / elapsed.as_secs_f64()
        );

        // The store's part alone.
        let started = Instant::now();
        let (mut offset, mut rows) = (0, 0);
        loop {
            let page = store
                .event_texts(offset, 10_000, i64::MAX, &[])
                .await
                .unwrap()
                .events;
            let Some(last) = page.last() else { break };
            offset = last.offset;
            rows += page.len();
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{backend}: the store read {rows} events in {elapsed:.2?}: {:.0} events/s",
            rows as f64 / elapsed.as_secs_f64()
        );
        // The HTTP answer without parsing it.
        let started = Instant::now();
        let mut offset = 0;
        let mut bytes = 0;
        loop {
            let answer = client
                .get(&format!("/api/events?offset={offset}&limit=10000"))
                .await;
            bytes += answer.text.len();
            let at = answer.text.rfind("\"lastEventOffset\":").unwrap();
            let next: i64 = answer.text[at + 18..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            if next == offset {
                break;
            }
            offset = next;
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{backend}: served {count} events ({} MB) in {elapsed:.2?}: {:.0} events/s",
            bytes / 1_000_000,
            count as f64 / elapsed.as_secs_f64()
        );

        // Listing pages of 1000.
        let started = Instant::now();
        let (pages, listed) = {
            let mut uri = "/api/entities?limit=1000".to_owned();
            let (mut pages, mut listed) = (0, 0);
            loop {
                let page = client.ok(&uri).await;
                pages += 1;
                listed += page["items"].as_array().unwrap().len();
                match page["pageInfo"]["nextCursor"].as_str() {
                    Some(cursor) => uri = format!("/api/entities?limit=1000&cursor={cursor}"),
                    None => break (pages, listed),
                }
            }
        };
        let elapsed = started.elapsed();
        eprintln!(
            "{backend}: listed {listed} entities in {pages} pages of 1000 in {elapsed:.2?}: {:.1} pages/s",
            pages as f64 / elapsed.as_secs_f64()
        );

        // Commit-to-consumer latency under load: a writer commits a page of
        // 100 changes every 10 ms; a consumer long-polls.
        let commits = Arc::new(std::sync::Mutex::new(Vec::<(i64, Instant)>::new()));
        let writer = {
            let store = store.clone();
            let commits = Arc::clone(&commits);
            tokio::spawn(async move {
                for round in 0..300 {
                    let page = (0..100)
                        .map(|n| {
                            entity(
                                "Component",
                                "default",
                                &format!("bench-{:07}", (round * 100 + n) % count.max(1)),
                                json!({ "spec": { "owner": format!("round-{round}") } }),
                            )
                        })
                        .collect();
                    put(&store, "bench", 0, page).await;
                    let head = store.last_offset().await.unwrap();
                    commits.lock().unwrap().push((head, Instant::now()));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let mut latencies = Vec::new();
        let mut offset = store.last_offset().await.unwrap();
        let mut seen_commits = 0;
        while !writer.is_finished() || seen_commits < commits.lock().unwrap().len() {
            let page = client
                .ok(&format!("/api/events?offset={offset}&limit=10000&wait=1"))
                .await;
            let arrived = Instant::now();
            offset = page["lastEventOffset"].as_i64().unwrap();
            let commits = commits.lock().unwrap();
            while seen_commits < commits.len() && commits[seen_commits].0 <= offset {
                latencies.push(arrived.saturating_duration_since(commits[seen_commits].1));
                seen_commits += 1;
            }
        }
        writer.await.unwrap();
        latencies.sort();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        eprintln!(
            "{backend}: commit to long-poll consumer under load ({} commits of 100): median {:?}, p99 {:?}, max {:?}",
            latencies.len(),
            at(0.5),
            at(0.99),
            latencies.last().unwrap()
        );
        engine.shutdown().await;
        drop(store);
        db.drop_database().await;
    }
}

/// A long poll answers at once when the server starts shutting down.
#[tokio::test]
async fn long_polls_answer_when_the_server_shuts_down() {
    let (db, url) = TestDb::sqlite();
    let store = Catalog::open(&url).await.unwrap();
    let engine = engine_with(&store, Vec::new());
    let (closing, closed) = tokio::sync::watch::channel(false);
    let client = Client(weir::http::router_closing(
        Arc::clone(&engine),
        HttpSettings::default(),
        closed,
    ));
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let page = client.ok("/api/events?wait=30").await;
        (started.elapsed(), page)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    closing.send(true).unwrap();
    let (waited, page) = waiter.await.unwrap();
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(page["events"], json!([]));
    engine.shutdown().await;
    drop(db);
}
