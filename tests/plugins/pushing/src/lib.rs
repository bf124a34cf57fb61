//! Test plugin `pushing`: a source that also takes pushed events.
//!
//! Pulled, it returns one page of `count` (default 2) Components named
//! `pushing-<n>`. Pushed, its JSON body says what to do:
//!
//! ```json
//! {"upsert": [{...entity...}], "upsert_text": ["raw entity text"],
//!  "remove": ["component:default/pushing-1"], "fail": "transient"}
//! ```
//!
//! `upsert` entities are sent as given, `upsert_text` as raw text (so tests
//! can send what the host must refuse), `remove` refs as given. `fail` makes
//! the handler fail instead: `transient`, `fatal`, `trap` (a panic), `spin`
//! (loop forever) or `hog` (allocate without bound). `hold_ms` makes the
//! handler sleep that long first, and stamp each upsert's annotations
//! `pushing/started-ms` and `pushing/ended-ms` with the wall clock (so a
//! test can see how many handlers ran at once). When secret `token` is
//! set, header `x-weir-token` must carry it, or the event is refused (fatal).

use serde::Deserialize;
use serde_json::Value;
use weir_guest::{Entity, Error, Page, Push, PushEvent, PushOutcome, Source, config, secrets};

struct Pushing;

/// What a pushed body asks for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    upsert: Vec<Value>,
    #[serde(default)]
    upsert_text: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    fail: Option<String>,
    hold_ms: Option<u64>,
}

impl Source for Pushing {
    type Context = u32;
    type Cursor = ();

    fn provider_name() -> String {
        "pushing".into()
    }

    fn open() -> Result<u32, Error> {
        config::get_or("count", 2)
    }

    fn next(count: &mut u32, _: Option<()>) -> Result<Page<()>, Error> {
        let entities = (1..=*count).map(component).collect();
        Ok(Page::last(entities))
    }
}

impl Push for Pushing {
    fn handle(event: PushEvent) -> Result<PushOutcome, Error> {
        if let Some(token) = secrets::get("token")
            && event.header("x-weir-token") != Some(token.as_str())
        {
            return Err(Error::fatal("header `x-weir-token` does not match"));
        }
        let body: Body = event.json()?;
        match body.fail.as_deref() {
            None => {}
            Some("transient") => return Err(Error::transient("upstream busy, deliver again")),
            Some("fatal") => return Err(Error::fatal("this event is not understood")),
            Some("trap") => panic!("pushing: the push handler panicked on purpose"),
            Some("spin") => spin(),
            Some("hog") => hog(),
            Some(other) => return Err(Error::fatal(format!("unknown `fail` {other:?}"))),
        }
        let held = body.hold_ms.map(hold);
        let upserts = body
            .upsert
            .into_iter()
            .map(|entity| stamp(entity, held))
            .map(|entity| Entity::from_value(&entity))
            .chain(body.upsert_text.into_iter().map(Entity::from_json_text))
            .collect();
        Ok(PushOutcome {
            upserts,
            removals: body.remove,
        })
    }
}

fn component(n: u32) -> Entity {
    Entity::builder("Component", format!("pushing-{n}"))
        .managed_by("url:https://pushing.example.com")
        .spec("type", "service")
        .spec("owner", "group:default/test")
        .spec("lifecycle", "production")
        .build()
}

/// Sleep `ms`; the wall-clock milliseconds when it began and ended.
fn hold(ms: u64) -> (u128, u128) {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis())
    };
    let started = now();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    (started, now())
}

/// `entity` with the times of a hold in its annotations.
fn stamp(mut entity: Value, held: Option<(u128, u128)>) -> Value {
    if let Some((started, ended)) = held
        && let Some(metadata) = entity.get_mut("metadata").and_then(Value::as_object_mut)
    {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert("pushing/started-ms".into(), started.to_string().into());
            annotations.insert("pushing/ended-ms".into(), ended.to_string().into());
        }
    }
    entity
}

fn spin() -> ! {
    let mut spins = 0u64;
    loop {
        // `black_box` keeps the optimiser from proving the loop useless.
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

fn hog() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with a non-zero byte so every page is really touched.
        hoard.push(vec![0xa5; 1 << 20]);
        std::hint::black_box(&mut hoard);
    }
}

weir_guest::export_source!(Pushing, push = Pushing);
