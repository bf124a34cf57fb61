//! Test plugin `flaky`: a good source that fails on demand, for tests of the
//! engine's back-off and error handling.
//!
//! It returns `pages` pages (config, default 5) of `page_size` (default 3)
//! valid Components named `flaky-<page>-<i>` (both from 0); the cursor is the
//! number of the next page (`pages` 0: one empty page). Failures, each of kind `transient`, `fatal` or
//! `trap` (a panic):
//!
//! - `fail_at_page`: `next` fails at this page (from 0), with `fail_kind`
//!   (default `transient`); absent, `next` never fails;
//! - `fail_open`: set-up (`open`) fails with this kind;
//! - `fail_until_ms`: either fails only while the wall clock (the guest's own
//!   `SystemTime`) is before this time, in Unix epoch milliseconds; absent,
//!   it fails every time.
//!
//! A value that does not parse is a fatal error at set-up naming the key.

use std::time::{SystemTime, UNIX_EPOCH};

use weir_guest::{Entity, Error, Page, Source, config};

struct Flaky;

/// How to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailKind {
    Transient,
    Fatal,
    Trap,
}

impl FailKind {
    fn from_config(key: &str) -> Result<Option<FailKind>, Error> {
        let Some(text) = config::get(key) else {
            return Ok(None);
        };
        match text.trim() {
            "transient" => Ok(Some(FailKind::Transient)),
            "fatal" => Ok(Some(FailKind::Fatal)),
            "trap" => Ok(Some(FailKind::Trap)),
            other => Err(Error::fatal(format!(
                "config `{key}`: cannot use {other:?}: expected `transient`, `fatal` or `trap`"
            ))),
        }
    }

    /// Fail this way, saying where.
    fn fail(self, at: &str) -> Error {
        match self {
            FailKind::Transient => Error::transient(format!("flaky: transient failure at {at}")),
            FailKind::Fatal => Error::fatal(format!("flaky: fatal failure at {at}")),
            FailKind::Trap => panic!("flaky: panic at {at}"),
        }
    }
}

/// What a burst read from config at set-up.
struct Settings {
    pages: u32,
    page_size: u32,
    fail_at_page: Option<u32>,
    fail_kind: FailKind,
    fail_until_ms: Option<u64>,
}

impl Settings {
    fn from_config() -> Result<Settings, Error> {
        Ok(Settings {
            pages: config::get_or("pages", 5)?,
            page_size: config::get_or("page_size", 3)?,
            fail_at_page: optional("fail_at_page")?,
            fail_kind: FailKind::from_config("fail_kind")?.unwrap_or(FailKind::Transient),
            fail_until_ms: optional("fail_until_ms")?,
        })
    }

    /// Whether failures are still due: always, unless `fail_until_ms` has passed.
    fn failing_now(&self) -> bool {
        self.fail_until_ms.is_none_or(|until| now_ms() < until)
    }
}

impl Source for Flaky {
    type Context = Settings;
    /// The number of the next page, from 0.
    type Cursor = u32;

    fn provider_name() -> String {
        "flaky".into()
    }

    fn open() -> Result<Settings, Error> {
        let settings = Settings::from_config()?;
        if let Some(kind) = FailKind::from_config("fail_open")?
            && settings.failing_now()
        {
            return Err(kind.fail("set-up"));
        }
        Ok(settings)
    }

    fn next(settings: &mut Settings, cursor: Option<u32>) -> Result<Page<u32>, Error> {
        let page = cursor.unwrap_or(0);
        if settings.fail_at_page == Some(page) && settings.failing_now() {
            return Err(settings.fail_kind.fail(&format!("page {page}")));
        }
        if settings.pages == 0 {
            return Ok(Page::last(Vec::new()));
        }
        let entities = (0..settings.page_size)
            .map(|i| component(page, i))
            .collect();
        Ok(if page + 1 < settings.pages {
            Page::more(entities, page + 1)
        } else {
            Page::last(entities)
        })
    }
}

fn optional<T>(key: &str) -> Result<Option<T>, Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    config::get(key)
        .map(|text| {
            text.trim()
                .parse()
                .map_err(|e| Error::fatal(format!("config `{key}`: cannot use {text:?}: {e}")))
        })
        .transpose()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

fn component(page: u32, i: u32) -> Entity {
    Entity::builder("Component", format!("flaky-{page}-{i}"))
        .managed_by("url:https://flaky.example.com")
        .spec("type", "service")
        .spec("owner", "group:default/test")
        .spec("lifecycle", "experimental")
        .build()
}

weir_guest::export_source!(Flaky);
