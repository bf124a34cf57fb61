//! `synthetic`: a Weir source that generates deterministic, realistic-looking
//! `Component` entities (`entity-000001`, `entity-000002`, ...) for load tests
//! and throughput benchmarks.
//!
//! Config: `count` (1000), `page-size` (500), `entity-bytes` (1200, the rough
//! JSON size of each entity), `seed` (0; changing it changes every entity's
//! content but not the names), `changed-percent` (0; that share of entities
//! is generated as with the next seed) and `name` (`synthetic`, the provider
//! name: several copies of the source can run side by side).

mod generate;

use generate::{Cursor, Params};
use weir_guest::{Error, Page, Source, config};

struct Synthetic;

impl Source for Synthetic {
    type Context = Params;
    type Cursor = Cursor;

    fn provider_name() -> String {
        config::get("name").unwrap_or_else(|| "synthetic".into())
    }

    fn open() -> Result<Params, Error> {
        params_from_config()
    }

    fn next(params: &mut Params, cursor: Option<Cursor>) -> Result<Page<Cursor>, Error> {
        Ok(generate::page(params, cursor.unwrap_or_default()))
    }
}

weir_guest::export_source!(Synthetic);

/// The parameters as the operator configured them, defaults for the rest.
fn params_from_config() -> Result<Params, Error> {
    let defaults = Params::default();
    let params = Params {
        count: config::get_or("count", defaults.count)?,
        page_size: config::get_or("page-size", defaults.page_size)?,
        entity_bytes: config::get_or("entity-bytes", defaults.entity_bytes)?,
        seed: config::get_or("seed", defaults.seed)?,
        changed_percent: config::get_or("changed-percent", defaults.changed_percent)?,
    };
    if params.changed_percent > 100 {
        return Err(Error::fatal(format!(
            "config `changed-percent`: cannot use \"{}\": must be 0 to 100",
            params.changed_percent
        )));
    }
    if params.page_size == 0 {
        return Err(Error::fatal(
            "config `page-size`: cannot use \"0\": must be at least 1",
        ));
    }
    Ok(params)
}
