//! The HTTP API under hostile clients, as a real `weir serve` meets them:
//! pages of other sites (cross-site requests, DNS rebinding), floods of
//! uploads to the push route, replayed deliveries, queries built to burn
//! the CPU, clients that send a byte a second, and thousands of long polls.
//! All of it goes to loopback, is bounded in count and time, and stops by
//! itself.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir::store::Catalog;
use weir_tests::db::TestDb;

use crate::guests;
use crate::process::{Answer, POLL, Serve, Setup, TIMEOUT, get, send};

const ADMIN_TOKEN: &str = "admin-token-for-hostile-clients-0123";
const PUSH_SECRET: &str = "push-secret-for-hostile-clients";
const PUSH_TOKEN: &str = "push-token-for-hostile-clients-42";

/// A resting source of five entities.
const FIVE_ENTITIES: &str = r#"
[sources.synthetic]
restLength = "1h"
[sources.synthetic.config]
count = 5
"#;

/// The stable code of an error answer.
fn code(answer: &Answer) -> String {
    answer.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Poll `path` until `check` accepts its JSON body.
async fn wait_for_json<T>(
    serve: &mut Serve,
    setup: &Setup,
    path: &str,
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
            "timed out waiting at {path}; last answer {last:#?}\n{}",
            setup.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The event log's head offset.
async fn head_offset(port: u16) -> i64 {
    let (status, body) = get(port, "/api/events?limit=1")
        .await
        .expect("an answer from /api/events");
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    page["headOffset"].as_i64().unwrap()
}

/// What a token-less server's state looks like from outside: the log's
/// head, the entities, the source's cycle and its history.
async fn observable_state(port: u16) -> Value {
    let (_, entities) = get(port, "/api/entities?limit=100").await.unwrap();
    let (_, status) = get(port, "/api/catalog/incremental/providers/synthetic")
        .await
        .unwrap();
    let status: Value = serde_json::from_str(&status).unwrap();
    let names: BTreeSet<String> = serde_json::from_str::<Value>(&entities).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["entity"]["metadata"]["name"].to_string())
        .collect();
    json!({
        "head": head_offset(port).await,
        "entities": names,
        "cycle": status["cycle"],
        "cycles": status["cycles"].as_array().map(Vec::len),
        "phase": status["phase"],
    })
}

/// Every route that changes something, with its method.
const CHANGING_ROUTES: &[(&str, &str)] = &[
    (
        "POST",
        "/api/catalog/incremental/providers/synthetic/trigger",
    ),
    ("POST", "/api/catalog/incremental/providers/synthetic/start"),
    (
        "POST",
        "/api/catalog/incremental/providers/synthetic/cancel",
    ),
    ("DELETE", "/api/catalog/incremental/providers/synthetic"),
    (
        "DELETE",
        "/api/catalog/incremental/providers/synthetic/marks",
    ),
    ("POST", "/api/catalog/incremental/cleanup"),
    ("POST", "/api/sources/synthetic/events"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_site_cannot_drive_a_tokenless_server() {
    let setup = Setup::sqlite(FIVE_ENTITIES);
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    let port = serve.port;
    wait_for_json(&mut serve, &setup, "/api/entities", |page| {
        (page["items"].as_array()?.len() == 5).then_some(())
    })
    .await;
    wait_for_json(
        &mut serve,
        &setup,
        "/api/catalog/incremental/providers/synthetic",
        |status| (status["phase"] == "resting").then_some(()),
    )
    .await;
    let before = observable_state(port).await;

    // DNS rebinding: the page reaches the port through a name of its own,
    // which its requests carry in `Host`. Reads and changes are refused.
    let rebound = format!("attacker.example:{port}");
    for (method, path) in [
        ("GET", "/api/entities"),
        ("GET", "/api/events"),
        ("GET", "/api/catalog/incremental/providers/synthetic"),
        ("GET", "/metrics"),
    ]
    .iter()
    .chain(CHANGING_ROUTES)
    {
        let answer = send(port, method, path, &[("Host", &rebound)], b"")
            .await
            .unwrap();
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (403, "host_not_allowed"),
            "{method} {path} with Host {rebound}: {}",
            answer.body
        );
    }

    // A page of another origin (a plain cross-site POST needs no preflight).
    for origin in ["https://attacker.example", "null", "http://localhost:1"] {
        for (method, path) in CHANGING_ROUTES {
            let answer = send(port, method, path, &[("Origin", origin)], b"{}")
                .await
                .unwrap();
            assert_eq!(
                (answer.status, code(&answer).as_str()),
                (403, "cross_origin_refused"),
                "{method} {path} from {origin}: {}",
                answer.body
            );
        }
    }

    // What an HTML form sends, even without an `Origin`: refused by type.
    for content_type in ["text/plain", "multipart/form-data; boundary=x"] {
        for (method, path) in CHANGING_ROUTES {
            let answer = send(
                port,
                method,
                path,
                &[("Content-Type", content_type)],
                b"a=b",
            )
            .await
            .unwrap();
            assert_eq!(
                answer.status, 415,
                "{method} {path} as {content_type}: {}",
                answer.body
            );
        }
    }
    for (method, path) in &CHANGING_ROUTES[..6] {
        let form = [("Content-Type", "application/x-www-form-urlencoded")];
        let answer = send(port, method, path, &form, b"a=b").await.unwrap();
        assert_eq!(
            answer.status, 415,
            "{method} {path} as a form: {}",
            answer.body
        );
    }

    assert_eq!(
        observable_state(port).await,
        before,
        "nothing changed\n{}",
        setup.logs()
    );

    // The server's own pages, and the loopback names, are served.
    let own = format!("http://127.0.0.1:{port}");
    let trigger = CHANGING_ROUTES[0].1;
    let answer = send(port, "POST", trigger, &[("Origin", &own)], b"")
        .await
        .unwrap();
    assert!(
        answer.status == 200 || answer.status == 409,
        "a same-origin trigger: {answer:?}"
    );
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let answer = send(port, "GET", "/api/entities", &[("Host", &host)], b"")
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "Host {host}: {}", answer.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_only_the_allowed_origins_get_cors() {
    let allowed = "https://backstage.example.com";
    let config = format!("{FIVE_ENTITIES}\n[http]\nallowedOrigins = [\"{allowed}\"]\n");
    let setup = Setup::sqlite(&config).with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN);
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    let port = serve.port;
    wait_for_json(&mut serve, &setup, "/api/entities", |page| {
        (page["items"].as_array()?.len() == 5).then_some(())
    })
    .await;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let trigger = CHANGING_ROUTES[0].1;

    // The preflight of a browser page: granted to the allowed origin only.
    for (origin, granted) in [(allowed, true), ("https://attacker.example", false)] {
        let preflight = [
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ];
        let answer = send(port, "OPTIONS", trigger, &preflight, b"")
            .await
            .unwrap();
        assert_eq!(
            answer.header("access-control-allow-origin"),
            granted.then_some(origin),
            "preflight from {origin}: {answer:?}"
        );
        if granted {
            let headers = answer.header("access-control-allow-headers").unwrap_or("");
            assert!(headers.contains("authorization"), "{answer:?}");
        }
        let answer = send(port, "GET", "/api/entities", &[("Origin", origin)], b"")
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("access-control-allow-origin"),
            granted.then_some(origin),
            "a read from {origin}: {:?}",
            answer.headers
        );
    }

    // The allowed origin still needs the token; another is refused with it.
    let with_token = [("Origin", allowed), ("Authorization", bearer.as_str())];
    let answer = send(port, "POST", trigger, &with_token, b"").await.unwrap();
    assert!(answer.status == 200 || answer.status == 409, "{answer:?}");
    let answer = send(port, "POST", trigger, &[("Origin", allowed)], b"")
        .await
        .unwrap();
    assert_eq!(answer.status, 401, "{}", answer.body);
    let other = [
        ("Origin", "https://attacker.example"),
        ("Authorization", bearer.as_str()),
    ];
    let answer = send(port, "POST", trigger, &other, b"").await.unwrap();
    assert_eq!(
        (answer.status, code(&answer).as_str()),
        (403, "cross_origin_refused"),
        "{}",
        answer.body
    );

    // With a token, the server may sit behind a proxy under any name.
    let answer = send(
        port,
        "GET",
        "/api/entities",
        &[("Host", "weir.example.com")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// A folder whose `weir serve` runs the `pushing` source, its pushes signed
/// with [`PUSH_SECRET`] or carrying [`PUSH_TOKEN`], with `push` added to
/// its `[sources.pushing.push]`.
fn pushing_setup(push: &str) -> Setup {
    let config = format!(
        r#"
[sources.pushing]
restLength = "1h"
[sources.pushing.push]
secret = "WEIR_TEST_PUSH_SECRET"
token = "WEIR_TEST_PUSH_TOKEN"
{push}
"#
    );
    let setup = Setup::sqlite(&config)
        .with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN)
        .with_env("WEIR_TEST_PUSH_SECRET", PUSH_SECRET)
        .with_env("WEIR_TEST_PUSH_TOKEN", PUSH_TOKEN);
    setup.add_plugin("pushing.wasm", guests::PLUGIN_PUSHING);
    setup
}

/// Start it, and wait for the source's first cycle.
async fn start_pushing(setup: &Setup) -> Serve {
    let mut serve = setup.spawn();
    serve.wait_healthy(setup).await;
    wait_for_json(&mut serve, setup, "/api/entities", |page| {
        (page["items"].as_array()?.len() == 2).then_some(())
    })
    .await;
    serve
}

/// A pushed event upserting one Component named `name`.
fn upsert(name: &str) -> Value {
    json!({ "upsert": [{
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": { "name": name },
        "spec": { "type": "service", "owner": "group:default/test", "lifecycle": "production" },
    }]})
}

const PUSH_PATH: &str = "/api/sources/pushing/events";

/// A memory figure of process `pid` from `/proc/PID/status`, in bytes.
fn memory_figure(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|figure| figure.parse().ok())
        .unwrap();
    kib * 1024
}

/// Send `head`, then a body of `length` bytes (`prefix` and spaces) as fast
/// as the server takes it, and read the answer: its status, or `None` when
/// the server closed the connection first. Bounded to 30 s.
async fn upload(port: u16, head: String, prefix: &'static [u8], length: usize) -> Option<u16> {
    static SPACES: [u8; 64 << 10] = [b' '; 64 << 10];
    let exchange = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let (mut reader, mut writer) = stream.into_split();
        let write = async move {
            writer.write_all(head.as_bytes()).await?;
            writer.write_all(prefix).await?;
            let mut left = length.saturating_sub(prefix.len());
            while left > 0 {
                let chunk = left.min(SPACES.len());
                writer.write_all(&SPACES[..chunk]).await?;
                left -= chunk;
            }
            Ok::<_, std::io::Error>(writer)
        };
        let read = async move {
            let mut answer = Vec::new();
            let _ = reader.read_to_end(&mut answer).await;
            answer
        };
        let (_, answer) = tokio::join!(write, read);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        answer.split(' ').nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_uploads_costs_little_memory_and_applies_nothing() {
    /// Each upload's size, and how many of each kind.
    const SIZE: usize = 20 << 20;
    const EACH: usize = 100;
    /// The stated bound: the server's peak RSS during the flood stays
    /// within this of its RSS before (buffering the uploads would take
    /// 2 × 100 × 20 MiB).
    const BOUND: u64 = 64 << 20;
    static BODY: &[u8] = br#"{"upsert": [{"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "flooded"}, "spec": {"type": "service", "owner": "group:default/test", "lifecycle": "production"}}]}"#;

    let setup = pushing_setup("");
    let serve = start_pushing(&setup).await;
    let port = serve.port;
    let head_before = head_offset(port).await;
    let resting = memory_figure(serve.pid(), "VmRSS:");
    // Restart the peak (VmHWM) from the current RSS.
    std::fs::write(format!("/proc/{}/clear_refs", serve.pid()), "5").unwrap();

    let forged = weir::http::sign("not-the-secret", BODY);
    let head = |credential: &str| {
        format!(
            "POST {PUSH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: {SIZE}\r\n{credential}\r\n"
        )
    };
    let mut uploads = tokio::task::JoinSet::new();
    for n in 0..2 * EACH {
        let head = if n % 2 == 0 {
            head("")
        } else {
            head(&format!("X-Hub-Signature-256: {forged}\r\n"))
        };
        uploads.spawn(upload(port, head, BODY, SIZE));
    }
    let statuses = uploads.join_all().await;
    let peak = memory_figure(serve.pid(), "VmHWM:");

    let accepted: Vec<_> = statuses
        .iter()
        .filter(|status| status.is_some_and(|code| code < 400))
        .collect();
    assert!(accepted.is_empty(), "uploads accepted: {statuses:?}");
    assert!(
        peak <= resting + BOUND,
        "peak RSS {} MiB during the flood, {} MiB before: over the bound of {} MiB more",
        peak >> 20,
        resting >> 20,
        BOUND >> 20
    );
    assert_eq!(head_offset(port).await, head_before, "nothing applied");
    let (status, _) = get(port, "/api/entities/by-ref/component/default/flooded")
        .await
        .unwrap();
    assert_eq!(status, 404);
    eprintln!(
        "a flood of {} uploads of {} MiB: peak RSS {} MiB, {} MiB before; answers {:?}",
        2 * EACH,
        SIZE >> 20,
        peak >> 20,
        resting >> 20,
        statuses.iter().fold(
            std::collections::BTreeMap::<Option<u16>, usize>::new(),
            |mut counts, status| {
                *counts.entry(*status).or_default() += 1;
                counts
            }
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_delivery_is_applied_once() {
    let setup = pushing_setup("");
    let serve = start_pushing(&setup).await;
    let port = serve.port;
    let deliver = async |id: &str, event: &Value| {
        let body = serde_json::to_vec(event).unwrap();
        let signature = weir::http::sign(PUSH_SECRET, &body);
        let headers = [
            ("X-Hub-Signature-256", signature.as_str()),
            ("X-GitHub-Delivery", id),
            ("Content-Type", "application/json"),
        ];
        let answer = send(port, "POST", PUSH_PATH, &headers, &body)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "delivery {id}: {}", answer.body);
        answer.json()
    };
    let exists = async || {
        let path = "/api/entities/by-ref/component/default/replayed";
        get(port, path).await.unwrap().0 == 200
    };

    let created = upsert("replayed");
    let answer = deliver("delivery-1", &created).await;
    assert_eq!(
        (&answer["duplicate"], &answer["added"]),
        (&json!(false), &json!(1))
    );
    let removed = json!({ "remove": ["component:default/replayed"] });
    let answer = deliver("delivery-2", &removed).await;
    assert_eq!(answer["removed"], 1);
    assert!(!exists().await);

    // The first delivery, replayed as it was: acknowledged, not applied.
    let head = head_offset(port).await;
    let answer = deliver("delivery-1", &created).await;
    assert_eq!(
        (&answer["duplicate"], &answer["added"]),
        (&json!(true), &json!(0))
    );
    assert!(!exists().await, "the replay brought the entity back");
    assert_eq!(head_offset(port).await, head);

    // An unknown source and a bad credential get the same answer.
    let body = serde_json::to_vec(&created).unwrap();
    let forged = weir::http::sign("not-the-secret", &body);
    for credentials in [
        vec![("X-Hub-Signature-256", forged.as_str())],
        vec![("Authorization", "Bearer not-the-token-0123456789")],
        vec![],
    ] {
        let mut answers = Vec::new();
        for source in ["pushing", "no-such-source"] {
            let path = format!("/api/sources/{source}/events");
            let answer = send(port, "POST", &path, &credentials, &body)
                .await
                .unwrap();
            answers.push((answer.status, answer.body.replace(source, "SOURCE")));
        }
        assert_eq!(answers[0], answers[1], "{credentials:?}");
        assert_eq!(answers[0].0, 401, "{credentials:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_past_the_cap_get_429_and_none_acknowledged_is_lost() {
    const CAP: usize = 4;
    const PUSHES: usize = 100;
    let setup = pushing_setup(&format!("maxConcurrent = {CAP}"));
    let serve = start_pushing(&setup).await;
    let port = serve.port;

    let bearer = format!("Bearer {PUSH_TOKEN}");
    let mut pushes = tokio::task::JoinSet::new();
    for n in 0..PUSHES {
        let mut event = upsert(&format!("burst-{n}"));
        event["hold_ms"] = json!(400);
        let body = serde_json::to_vec(&event).unwrap();
        let bearer = bearer.clone();
        pushes.spawn(async move {
            let headers = [("Authorization", bearer.as_str())];
            (n, send(port, "POST", PUSH_PATH, &headers, &body).await)
        });
    }
    let answers = pushes.join_all().await;

    let mut acknowledged = Vec::new();
    let mut turned_away = 0;
    for (n, answer) in &answers {
        let answer = answer.as_ref().expect("every push is answered");
        match answer.status {
            200 => acknowledged.push(*n),
            429 => {
                turned_away += 1;
                assert!(answer.header("retry-after").is_some(), "{answer:?}");
            }
            other => panic!("push {n}: {other} {}", answer.body),
        }
    }
    assert!(acknowledged.len() >= CAP, "{acknowledged:?}");
    assert!(turned_away > 0, "none of {PUSHES} was turned away");

    // Every acknowledged push is there; when each handler ran, from the
    // times it stamped: never more than the cap at once.
    let mut spans = Vec::new();
    for n in &acknowledged {
        let path = format!("/api/entities/by-ref/component/default/burst-{n}");
        let (status, body) = get(port, &path).await.unwrap();
        assert_eq!(status, 200, "acknowledged push {n} is missing: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let entity = &answer["entity"];
        let stamp = |key: &str| -> u128 {
            entity["metadata"]["annotations"][key]
                .as_str()
                .and_then(|ms| ms.parse().ok())
                .unwrap_or_else(|| panic!("push {n}: no {key} in {entity}"))
        };
        spans.push((stamp("pushing/started-ms"), stamp("pushing/ended-ms")));
    }
    let mut moments: Vec<(u128, i32)> = spans
        .iter()
        .flat_map(|&(start, end)| [(start, 1), (end, -1)])
        .collect();
    // At one instant, an end before a start.
    moments.sort();
    let (mut running, mut most) = (0, 0);
    for (_, change) in moments {
        running += change;
        most = most.max(running);
    }
    assert!(most <= CAP as i32, "{most} handlers ran at once: {spans:?}");
    eprintln!(
        "{PUSHES} concurrent pushes: {} applied, {turned_away} answered 429, at most {most} \
         handled at once",
        acknowledged.len()
    );
}

/// `count` filters on `metadata.name`, as a query string.
fn filters(count: usize, value: &str) -> String {
    (0..count)
        .map(|n| format!("filter=metadata.name={value}-{n}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_filters_answer_400_and_ingestion_goes_on() {
    /// The stated fraction: ingestion under the attack keeps at least this
    /// share of its rate without it.
    const FRACTION: f64 = 0.4;
    const WINDOW: Duration = Duration::from_secs(2);
    let config = r#"
[sources.synthetic]
burstLength = "30s"
burstInterval = "0s"
restLength = "1h"
[sources.synthetic.config]
count = 5000000
page-size = 500
entity-bytes = 300
"#;
    let setup = Setup::sqlite(config);
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    let port = serve.port;
    // Enough entities that a filtered listing scans as far as it may.
    let deadline = Instant::now() + TIMEOUT;
    while head_offset(port).await < 25_000 {
        serve.assert_running(&setup);
        assert!(Instant::now() < deadline, "{}", setup.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rate = async |attack: bool| {
        let start = head_offset(port).await;
        let began = Instant::now();
        let mut attackers = tokio::task::JoinSet::new();
        if attack {
            for attacker in 0..4 {
                attackers.spawn(attack_queries(port, attacker, began + WINDOW));
            }
        }
        tokio::time::sleep_until((began + WINDOW).into()).await;
        let rate = (head_offset(port).await - start) as f64 / began.elapsed().as_secs_f64();
        let slowest = attackers.join_all().await.into_iter().max();
        (rate, slowest)
    };
    // Windows with and without the attack, interleaved, so that a noisy
    // machine's drift falls on both: their medians compared.
    let (mut idle, mut attacked, mut slowest) = (Vec::new(), Vec::new(), None);
    for _ in 0..3 {
        idle.push(rate(false).await.0);
        let (during, refusal) = rate(true).await;
        attacked.push(during);
        slowest = slowest.max(refusal);
    }
    idle.push(rate(false).await.0);
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (idle, during) = (median(&mut idle), median(&mut attacked));
    eprintln!(
        "ingestion: a median {idle:.0}/s, {during:.0}/s under the attack; the slowest refusal \
         {slowest:?}"
    );
    assert!(
        during >= FRACTION * idle,
        "ingestion fell to {during:.0}/s under the attack from {idle:.0}/s\n{}",
        setup.logs()
    );
    serve.assert_running(&setup);
}

/// Send queries built to burn the CPU until `until`, each checked: refused
/// with the cap it passed, or (the largest query allowed) answered within
/// the time budget. The slowest refusal.
async fn attack_queries(port: u16, attacker: usize, until: Instant) -> Duration {
    // 50,000 filters: a request head past what the HTTP layer reads (a URI
    // of 64 KiB, a head of about 400 KiB), answered 431 (or 414) before any
    // handler runs; past 8 KiB of query, the API's own cap answers 400.
    let huge = format!("/api/entities?{}", vec!["filter=a=b"; 50_000].join("&"));
    let long = format!("/api/entities?{}", vec!["filter=a=b"; 2_000].join("&"));
    let many = format!("/api/entities?{}", filters(300, "y"));
    let kinds: Vec<String> = (0..101).map(|n| format!("kind{n}")).collect();
    let kinds = format!("/api/entities?kind={}", kinds.join(","));
    let allowed = format!("/api/entities?limit=500&{}", filters(20, "z"));
    let refusals = [
        (&huge, 431, None),
        (&long, 400, Some("query_too_long")),
        (&many, 400, Some("too_many_filters")),
        (&kinds, 400, Some("too_many_values")),
    ];
    let mut slowest = Duration::ZERO;
    let mut round = attacker;
    while Instant::now() < until {
        round += 1;
        let sent = Instant::now();
        let Some(&(path, status, expected)) = refusals.get(round % 5) else {
            let answer = send(port, "GET", &allowed, &[], b"").await.unwrap();
            assert!(
                answer.status == 200 || answer.status == 503,
                "{}",
                answer.body
            );
            continue;
        };
        let answer = send(port, "GET", path, &[], b"").await.unwrap();
        slowest = slowest.max(sent.elapsed());
        assert_eq!(
            answer.status,
            status,
            "{} bytes: {}",
            path.len(),
            answer.body
        );
        if let Some(expected) = expected {
            assert_eq!(code(&answer), expected, "{}", answer.body);
            let message = answer.json()["error"]["message"].to_string();
            assert!(
                message.contains("at most"),
                "the 400 names its cap: {message}"
            );
        }
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a refusal took {slowest:?}"
    );
    slowest
}

/// Connect to `port` and send a request's head one byte a second, until
/// the server closes the connection (or 30 s pass): how long that took.
async fn trickle_head(port: u16) -> Duration {
    let began = Instant::now();
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return Duration::ZERO;
    };
    let (mut reader, mut writer) = stream.into_split();
    let trickle = async move {
        let head =
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for byte in head {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        std::future::pending::<()>().await;
    };
    let closed = async move {
        let mut sink = [0u8; 1024];
        while let Ok(read) = reader.read(&mut sink).await {
            if read == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            () = trickle => {}
            () = closed => {}
        }
    })
    .await;
    began.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_shutdown_is_bounded() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
    const MAX_CONNECTIONS: usize = 40;
    const SLOW: usize = 20;
    let config = format!(
        "{FIVE_ENTITIES}\n[http]\nheaderTimeout = \"2s\"\nshutdownTimeout = \"2s\"\n\
         maxConnections = {MAX_CONNECTIONS}\n"
    );
    let setup = Setup::sqlite(&config);
    setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    let port = serve.port;

    // Slow clients, and /healthz asked every 200 ms meanwhile.
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..SLOW {
        slow.spawn(trickle_head(port));
    }
    let began = Instant::now();
    let mut health = Vec::new();
    while !slow.is_empty() && began.elapsed() < Duration::from_secs(30) {
        let asked = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(1), get(port, "/healthz")).await;
        health.push((
            answer.ok().flatten().map(|(status, _)| status),
            asked.elapsed(),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        while slow.try_join_next().is_some() {}
    }
    let held: Vec<Duration> = slow.join_all().await;
    assert!(held.is_empty(), "slow clients still connected after 30 s");
    assert!(
        health.iter().all(|(status, _)| *status == Some(200)),
        "/healthz while slow clients trickled: {health:?}"
    );
    assert!(
        began.elapsed() < HEADER_TIMEOUT + Duration::from_secs(4),
        "the slow clients were closed only after {:?}",
        began.elapsed()
    );

    // Past the cap, a connection is told to come back.
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = send(port, "GET", "/healthz", &[], b"").await.unwrap();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.header("retry-after").is_some(), "{answer:?}");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(port, "/healthz").await.map(|(status, _)| status) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the connections closed were not freed"
        );
        tokio::time::sleep(POLL).await;
    }

    // SIGTERM while a push trickles its body in and a client its head: the
    // process exits 0 within the shutdown bound.
    let push = tokio::spawn(async move {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /api/sources/synthetic/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::select! {
                _ = reader.read_to_end(&mut sink) => {}
                () = async {
                    loop {
                        if writer.write_all(b" ").await.is_err() { break; }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    std::future::pending::<()>().await;
                } => {}
            }
        })
        .await;
    });
    let trickling = tokio::spawn(trickle_head(port));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    let status = serve.terminate().await;
    let took = asked.elapsed();
    assert!(status.success(), "{status}\n{}", setup.logs());
    assert!(
        took < SHUTDOWN_TIMEOUT + Duration::from_secs(3),
        "SIGTERM took {took:?} with a slow push in flight\n{}",
        setup.logs()
    );
    push.abort();
    trickling.abort();
}

/// The part of an events page a poller keeps.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolledPage {
    events: Vec<PolledEvent>,
    last_event_offset: i64,
}

#[derive(Deserialize)]
struct PolledEvent {
    offset: i64,
}

/// Long-poll `/api/events` on one kept-alive connection until `expected`
/// events have arrived: their offsets, in order of arrival.
async fn poll_events(port: u16, expected: usize, until: Instant) -> Result<Vec<i64>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|error| format!("connect: {error}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    tokio::spawn(connection);
    let (mut offset, mut seen) = (0, Vec::new());
    while seen.len() < expected {
        if Instant::now() > until {
            return Err(format!("{} of {expected} events seen in time", seen.len()));
        }
        let request =
            hyper::Request::get(format!("/api/events?offset={offset}&wait=20&limit=10000"))
                .header("host", "127.0.0.1")
                .body(Empty::<Bytes>::new())
                .map_err(|error| error.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("request: {error}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("body: {error}"))?
            .to_bytes();
        if status != 200 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        let page: PolledPage =
            serde_json::from_slice(&body).map_err(|error| format!("page: {error}"))?;
        seen.extend(page.events.iter().map(|event| event.offset));
        offset = page.last_event_offset;
    }
    Ok(seen)
}

/// The value of the sample `series` in Prometheus text `metrics` (0 when
/// absent).
fn metric(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Raise this process's open-files limit to its hard limit (`weir serve`,
/// started from it, inherits it): thousands of connections need it.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).expect("raise RLIMIT_NOFILE");
}

/// The seconds the first cycle of `synthetic` took, once it is done.
async fn first_cycle_seconds(url: &str, serve: &mut Serve, setup: &Setup) -> f64 {
    let store = Catalog::open(url).await.unwrap();
    let deadline = Instant::now() + TIMEOUT * 2;
    loop {
        serve.assert_running(setup);
        let cycles = store.cycles("synthetic", 10).await.unwrap();
        if let Some(cycle) = cycles.iter().find(|cycle| cycle.cycle == 1) {
            return (cycle.ended_ms - cycle.started_ms) as f64 / 1000.0;
        }
        assert!(
            Instant::now() < deadline,
            "no first cycle\n{}",
            setup.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_long_polls_on_postgres_each_see_every_event() {
    /// The stated fraction: the source's first cycle, with the pollers
    /// served, takes at most this many times as long as without them (its
    /// commit rate at least an eighth; a quiet debug build measures 2×,
    /// where each poller reading on its own took 35× and timed out).
    const SLOWDOWN: f64 = 8.0;
    const POLLERS: usize = 2000;
    const EVENTS: usize = 200;
    raise_open_files_limit();
    let config = format!(
        r#"
[http]
maxConnections = 4096
maxLongPolls = 4096

[sources.synthetic]
burstLength = "30s"
burstInterval = "0s"
restLength = "1h"
[sources.synthetic.config]
count = {EVENTS}
page-size = 10
entity-bytes = 200
"#
    );
    let mut cycles = Vec::new();
    for pollers in [0, POLLERS] {
        let Some((db, url)) = TestDb::postgres().await else {
            eprintln!("skipped: WEIR_TEST_POSTGRES_URL is not set");
            return;
        };
        let setup = Setup::empty(&url, &config);
        let mut serve = setup.spawn();
        serve.wait_healthy(&setup).await;
        let port = serve.port;
        let until = Instant::now() + Duration::from_secs(120);
        let mut polls = tokio::task::JoinSet::new();
        for _ in 0..pollers {
            polls.spawn(poll_events(port, EVENTS, until));
        }
        // Every poller waiting before the source starts.
        let waiting = format!("weir_http_long_polls {pollers}");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let metrics = get(port, "/metrics").await.unwrap_or_default().1;
            if metrics.lines().any(|line| line == waiting) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never {waiting}\n{}",
                setup.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
        cycles.push(first_cycle_seconds(&url, &mut serve, &setup).await);

        let reference = poll_events(port, EVENTS, until).await.unwrap();
        assert_eq!(reference.len(), EVENTS);
        for seen in polls.join_all().await {
            let seen = seen.unwrap_or_else(|error| panic!("a poller: {error}\n{}", setup.logs()));
            assert_eq!(seen, reference, "a poller saw other events");
        }
        let logs = setup.all_logs();
        assert!(
            !logs.contains("pool timed out") && !logs.contains("PoolTimedOut"),
            "{logs}"
        );
        // The long polls woken by one commit shared their reads.
        let (_, metrics) = get(port, "/metrics").await.unwrap();
        let answered = metric(
            &metrics,
            r#"weir_http_requests_total{method="GET",route="/api/events",status="200"}"#,
        );
        let reads = metric(&metrics, "weir_http_event_reads_total");
        eprintln!("{pollers} pollers: {answered} answers from {reads} reads of the log");
        if pollers > 0 {
            assert!(
                reads * 4 <= answered,
                "{answered} answers took {reads} reads of the log"
            );
        }
        drop(serve);
        db.drop_database().await;
    }
    eprintln!(
        "the first cycle of {EVENTS} entities: {:.2} s alone, {:.2} s with {POLLERS} long polls",
        cycles[0], cycles[1]
    );
    assert!(
        cycles[1] <= SLOWDOWN * cycles[0].max(0.5),
        "{POLLERS} long polls slowed the cycle from {:.2} s to {:.2} s",
        cycles[0],
        cycles[1]
    );
}
