//! Test plugin `oversized-page`: `next` returns a single page of `count`
//! (config, default 20,000) small entities, more than the host's default
//! per-page limit of 10,000.

use weir_guest::{Entity, Error, Page, Source, config};

struct OversizedPage;

impl Source for OversizedPage {
    /// How many entities the page holds.
    type Context = usize;
    type Cursor = ();

    fn provider_name() -> String {
        "oversized-page".into()
    }

    fn open() -> Result<usize, Error> {
        config::get_or("count", 20_000)
    }

    fn next(count: &mut usize, _: Option<()>) -> Result<Page<()>, Error> {
        Ok(Page::last((1..=*count).map(entity).collect()))
    }
}

fn entity(index: usize) -> Entity {
    Entity::builder("Component", format!("oversized-{index:05}"))
        .spec("type", "service")
        .spec("lifecycle", "production")
        .spec("owner", "group:default/test")
        .build()
}

weir_guest::export_source!(OversizedPage);
