//! Backstage's owner rule (its `locationKey` rule), as its catalog applies
//! it when a provider writes an entity (`updateUnprocessedEntity` in
//! `@backstage/plugin-catalog-backend`): an entity held under a location key
//! may be written again only under that same key, and an entity held under
//! no key may be taken by anyone, whose key it then holds.

/// Whether a claim under `claimed` must be refused because the entity is
/// held under `held`: only when `held` is a key and `claimed` is not that
/// key (another key, or none). An entity held under no key is free: the new
/// claim takes it, with or without a key of its own.
pub fn conflicts(held: Option<&str>, claimed: Option<&str>) -> bool {
    match held {
        None => false,
        Some(held) => claimed != Some(held),
    }
}

#[cfg(test)]
mod tests {
    use super::conflicts;

    #[test]
    fn an_entity_held_under_no_key_is_taken_by_any_claim() {
        assert!(!conflicts(None, Some("url:https://a/catalog-info.yaml")));
        assert!(!conflicts(None, None));
    }

    #[test]
    fn a_held_key_admits_only_itself() {
        let held = Some("url:https://a/catalog-info.yaml");
        assert!(!conflicts(held, held));
        assert!(conflicts(held, Some("url:https://b/catalog-info.yaml")));
        assert!(conflicts(held, None));
    }
}
