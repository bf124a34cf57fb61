//! Test plugin `well-behaved`: a tiny good source (3 pages of 2 entities) that
//! exercises the host imports. It logs, writes one line to stderr per burst,
//! and puts config `greeting` and the length of secret `token` (never the
//! secret itself) into annotations, so tests can check the plumbing.
//! Config `name-prefix` (default `well-behaved-`) names the entities, and
//! `broken` (comma-separated entity numbers) makes those entities invalid (no
//! `spec.lifecycle`), for tests of pages that mix valid and invalid entities.

use weir_guest::{Entity, Error, Page, Source, config, log, secrets};

const PAGES: u32 = 3;
const PER_PAGE: u32 = 2;

struct WellBehaved;

/// What the burst read from the host at set-up.
struct Settings {
    greeting: String,
    token_length: Option<usize>,
    name_prefix: String,
    broken: Vec<u32>,
}

impl Source for WellBehaved {
    type Context = Settings;
    /// The number of the next page, from 0.
    type Cursor = u32;

    fn provider_name() -> String {
        "well-behaved".into()
    }

    fn open() -> Result<Settings, Error> {
        let settings = Settings {
            greeting: config::get("greeting").unwrap_or_else(|| "(unset)".into()),
            token_length: secrets::get("token").map(|token| token.len()),
            name_prefix: config::get("name-prefix").unwrap_or_else(|| "well-behaved-".into()),
            broken: broken_entities()?,
        };
        log::info(&format!(
            "well-behaved: burst opened, greeting {:?}",
            settings.greeting
        ));
        eprintln!("well-behaved: a line on stderr");
        Ok(settings)
    }

    fn next(settings: &mut Settings, page: Option<u32>) -> Result<Page<u32>, Error> {
        let page = page.unwrap_or(0);
        log::info(&format!("well-behaved: page {} of {PAGES}", page + 1));
        let first = page * PER_PAGE + 1;
        let entities = (first..first + PER_PAGE)
            .map(|n| entity(settings, n))
            .collect();
        Ok(if page + 1 < PAGES {
            Page::more(entities, page + 1)
        } else {
            Page::last(entities)
        })
    }

    fn close(_: Settings) -> Result<(), Error> {
        log::info("well-behaved: burst closed");
        Ok(())
    }
}

fn broken_entities() -> Result<Vec<u32>, Error> {
    let Some(list) = config::get("broken") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|n| {
            n.trim()
                .parse()
                .map_err(|e| Error::fatal(format!("config `broken`: {n:?}: {e}")))
        })
        .collect()
}

fn entity(settings: &Settings, n: u32) -> Entity {
    let token_length = settings
        .token_length
        .map_or_else(|| "(unset)".into(), |len| len.to_string());
    let entity = Entity::builder("Component", format!("{}{n}", settings.name_prefix))
        .managed_by("url:https://well-behaved.example.com")
        .annotation("weir.test/greeting", &settings.greeting)
        .annotation("weir.test/token-length", token_length)
        .spec("type", "service")
        .spec("owner", "group:default/test");
    if settings.broken.contains(&n) {
        entity.build()
    } else {
        entity.spec("lifecycle", "production").build()
    }
}

weir_guest::export_source!(WellBehaved);
