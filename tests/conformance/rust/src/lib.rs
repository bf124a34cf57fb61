//! The conformance source in Rust, as `tests/conformance/README.md` specifies
//! it: pages of numbered Component entities decided by config, each failure
//! case on demand, and a push handler driven by the event's body. The host's
//! conformance suite runs it beside the same source in every other language.

mod entity;
mod push_body;
mod settings;

use serde_json::value::RawValue;
use weir_guest::{Error, Page, Push, PushEvent, PushOutcome, Source, config, log, secrets};

use entity::{conformance_entity, conformance_ref};
use push_body::{PushBody, invalid_push};
use settings::Settings;

struct Conformance;

impl Source for Conformance {
    type Context = Settings;
    /// The cursor as the JSON text received, checked in `next` (so that a
    /// bad one is reported as received); `{"page":N}` when this source made it.
    type Cursor = Box<RawValue>;

    fn provider_name() -> String {
        "conformance".into()
    }

    fn open() -> Result<Settings, Error> {
        let token = match secrets::get("token") {
            Some(_) => "(token present)",
            None => "(no token)",
        };
        log::info(&format!("conformance: open {token}"));
        let settings = Settings::read(config::get)?;
        match settings.fail_open {
            Some(kind) => Err(kind.error("conformance: open failed")),
            None => Ok(settings),
        }
    }

    fn next(
        settings: &mut Settings,
        cursor: Option<Box<RawValue>>,
    ) -> Result<Page<Box<RawValue>>, Error> {
        let page = match cursor {
            None => 0,
            Some(text) => settings.page_of(text.get())?,
        };
        log::debug(&format!("conformance: page {page}"));
        if settings.transient_at == Some(page) {
            return Err(Error::transient(format!(
                "conformance: transient at page {page}"
            )));
        }
        if settings.fatal_at == Some(page) {
            return Err(Error::fatal(format!("conformance: fatal at page {page}")));
        }
        let first = page * settings.per_page;
        let entities = (first..first + settings.per_page)
            .map(|index| conformance_entity(index, page))
            .collect();
        if page + 1 < settings.pages {
            Ok(Page::more(entities, page_cursor(page + 1)?))
        } else {
            Ok(Page::last(entities))
        }
    }

    fn close(settings: Settings) -> Result<(), Error> {
        log::info("conformance: close");
        match settings.fail_close {
            Some(kind) => Err(kind.error("conformance: close failed")),
            None => Ok(()),
        }
    }
}

impl Push for Conformance {
    fn handle(event: PushEvent) -> Result<PushOutcome, Error> {
        if event.header("x-conformance-fail") == Some("transient") {
            return Err(Error::transient("conformance: push failed"));
        }
        let settings = Settings::read(config::get)?;
        let body = PushBody::parse(&event.body)?;
        if settings.per_page == 0 && !body.upsert.is_empty() {
            return Err(invalid_push("no entity is on a page when per-page is 0"));
        }
        let outcome = body
            .upsert
            .iter()
            .fold(PushOutcome::new(), |outcome, &index| {
                outcome.upsert(conformance_entity(index, index / settings.per_page))
            });
        Ok(body.remove.iter().fold(outcome, |outcome, &index| {
            outcome.remove(conformance_ref(index))
        }))
    }
}

/// `{"page":N}`, exactly so (the README: cursors are the same text in every language).
fn page_cursor(page: u32) -> Result<Box<RawValue>, Error> {
    RawValue::from_string(format!("{{\"page\":{page}}}"))
        .map_err(|error| Error::fatal(format!("conformance: cannot write a cursor: {error}")))
}

weir_guest::export_source!(Conformance, push = Conformance);
