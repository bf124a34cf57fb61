//! `{{name}}`: a Weir source. It returns `count` Component entities (config,
//! default 3), `page-size` of them a page (config, default 2); the cursor is
//! the index of the next entity. Replace `component` and the paging in
//! `page` with reads from your own system.

use serde::{Deserialize, Serialize};
use weir_guest::{Entity, Error, Page, Source, config, log};

/// Cursors and entities are stored under this name: never change it.
const PROVIDER_NAME: &str = "{{name}}";

/// The source, as Weir calls it: `open`, then `next` page after page, then `close`.
struct Plugin;

/// What one burst needs, read from config in `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    count: u64,
    page_size: u64,
}

/// Where the next page starts. The next burst may run in another process
/// (or after a restart), so everything needed to resume is in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    next: u64,
}

impl Source for Plugin {
    type Context = Settings;
    type Cursor = Cursor;

    fn provider_name() -> String {
        PROVIDER_NAME.into()
    }

    fn open() -> Result<Settings, Error> {
        let settings = Settings {
            count: config::get_or("count", 3)?,
            page_size: config::get_or("page-size", 2)?,
        };
        if settings.page_size == 0 {
            return Err(Error::fatal(
                "config `page-size`: cannot use \"0\": must be at least 1",
            ));
        }
        log::info(&format!(
            "{PROVIDER_NAME}: open, {} entities",
            settings.count
        ));
        Ok(settings)
    }

    fn next(settings: &mut Settings, cursor: Option<Cursor>) -> Result<Page<Cursor>, Error> {
        Ok(page(settings, cursor.map_or(0, |cursor| cursor.next)))
    }

    fn close(_settings: Settings) -> Result<(), Error> {
        log::info(&format!("{PROVIDER_NAME}: close"));
        Ok(())
    }
}

weir_guest::export_source!(Plugin);

/// The page of entities from index `start` on; the last one reaches `count`.
fn page(settings: &Settings, start: u64) -> Page<Cursor> {
    let end = start.saturating_add(settings.page_size).min(settings.count);
    let entities = (start..end).map(component).collect();
    if end < settings.count {
        Page::more(entities, Cursor { next: end })
    } else {
        Page::last(entities)
    }
}

/// Entity number `index`, in Backstage's envelope.
fn component(index: u64) -> Entity {
    let name = format!("{PROVIDER_NAME}-{index}");
    Entity::builder("Component", name.clone())
        .title(format!("{PROVIDER_NAME} {index}"))
        .managed_by(format!("url:https://example.com/{PROVIDER_NAME}/{name}"))
        .spec("type", "service")
        .spec("lifecycle", "experimental")
        .spec("owner", format!("group:default/{PROVIDER_NAME}-owners"))
        .build()
}

/// Native tests of the paging (`cargo test`): the host's calls (`config`,
/// `log`) are only there inside Weir, so `open` and `close` are left to
/// `weir run`.
#[cfg(test)]
mod tests {
    use super::*;

    fn names(page: &Page<Cursor>) -> Vec<String> {
        page.entities
            .iter()
            .map(|entity| {
                let value: serde_json::Value = serde_json::from_str(entity.json()).unwrap();
                value["metadata"]["name"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn a_cycle_pages_through_count_entities() {
        let settings = Settings {
            count: 3,
            page_size: 2,
        };
        let first = page(&settings, 0);
        assert_eq!(first.next, Some(Cursor { next: 2 }));
        let last = page(&settings, 2);
        assert_eq!(last.next, None);
        assert_eq!(
            [names(&first), names(&last)].concat(),
            ["{{name}}-0", "{{name}}-1", "{{name}}-2"]
        );
    }

    #[test]
    fn a_cursor_past_the_end_gives_an_empty_last_page() {
        let settings = Settings {
            count: 3,
            page_size: 2,
        };
        let page = page(&settings, 7);
        assert!(page.entities.is_empty());
        assert_eq!(page.next, None);
    }
}
