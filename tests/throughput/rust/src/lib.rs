//! `throughput-rust`: the Rust throughput source. Config `count` (default
//! 10000) Component entities of about 1.2 KB each, 500 a page, each built
//! with the SDK's entity builder (`Entity::builder`, serialised by
//! serde_json), as a Rust source would write them; the same entities as the
//! Python, TypeScript and C throughput sources, so `weir bench languages`
//! compares languages rather than entities. The cursor is the next index.

use serde_json::json;
use weir_guest::{Entity, Error, Page, Source, config};

const PER_PAGE: u64 = 500;
const TIERS: [&str; 3] = ["gold", "silver", "bronze"];
const LIFECYCLES: [&str; 3] = ["production", "experimental", "deprecated"];

struct Throughput;

impl Source for Throughput {
    /// How many entities a cycle has.
    type Context = u64;
    /// The next entity's index.
    type Cursor = u64;

    fn provider_name() -> String {
        "throughput-rust".into()
    }

    fn open() -> Result<u64, Error> {
        config::get_or("count", 10_000)
    }

    fn next(count: &mut u64, cursor: Option<u64>) -> Result<Page<u64>, Error> {
        let start = cursor.unwrap_or(0);
        let end = start.saturating_add(PER_PAGE).min(*count);
        let entities = (start..end).map(component).collect();
        Ok(if end < *count {
            Page::more(entities, end)
        } else {
            Page::last(entities)
        })
    }
}

weir_guest::export_source!(Throughput);

/// Entity number `index`: every field varies with it.
fn component(index: u64) -> Entity {
    let name = format!("service-{index:06}");
    let repository = format!("https://git.example.com/platform/{name}");
    let pick = |choices: &[&'static str; 3]| choices[(index % 3) as usize];
    Entity::builder("Component", name.as_str())
        .namespace("default")
        .title(format!("Service {index}"))
        .description(format!(
            "Synthetic service {index}, one of the entities the Rust throughput source \
             generates to measure how fast a Rust guest hands entities to the host."
        ))
        .annotation("github.com/project-slug", format!("platform/{name}"))
        .annotation("backstage.io/techdocs-ref", format!("url:{repository}"))
        .annotation("pagerduty.com/service-id", format!("P{index:07}"))
        .label("tier", pick(&TIERS))
        .label("weir.dev/index", index.to_string())
        .tag("rust")
        .tag("throughput")
        .tag(format!("group-{}", index % 50))
        .link(
            format!("https://dashboards.example.com/d/{name}"),
            format!("Dashboard of {name}"),
        )
        .link(
            format!("https://runbooks.example.com/{name}"),
            format!("Runbook of {name}"),
        )
        .managed_by(format!("url:{repository}/blob/main/catalog-info.yaml"))
        .spec("type", "service")
        .spec("lifecycle", pick(&LIFECYCLES))
        .spec("owner", format!("group:default/team-{}", index % 40))
        .spec("system", format!("system-{}", index % 20))
        .spec(
            "dependsOn",
            json!([
                format!("component:default/service-{:06}", index + 1),
                format!("resource:default/db-{}", index % 100),
            ]),
        )
        .spec("providesApis", json!([format!("api-{index:06}")]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_about_1_2_kb_and_differ() {
        let first = component(0);
        let other = component(123_456);
        assert_ne!(first.json(), other.json());
        for entity in [&first, &other] {
            assert!(
                (1150..=1350).contains(&entity.json().len()),
                "{}",
                entity.json()
            );
            let value: serde_json::Value = serde_json::from_str(entity.json()).unwrap();
            assert_eq!(value["kind"], "Component");
        }
    }

    #[test]
    fn a_cycle_is_count_entities_in_pages_of_500() {
        let mut count = 1200;
        let mut sizes = Vec::new();
        let mut cursor = None;
        loop {
            let page = Throughput::next(&mut count, cursor).unwrap();
            sizes.push(page.entities.len());
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(sizes, [500, 500, 200]);
    }
}
