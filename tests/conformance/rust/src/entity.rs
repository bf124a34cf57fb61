//! The entity numbered I, as the README's "The entity numbered I" defines it,
//! built with the SDK's entity builder.

use weir_guest::Entity;

/// Entity `index`, on page `page`.
pub(crate) fn conformance_entity(index: u32, page: u32) -> Entity {
    let location = format!("url:https://conformance.example/entities/{index}");
    let depends_on: Vec<String> = index
        .checked_sub(1)
        .map(conformance_ref)
        .into_iter()
        .collect();
    Entity::builder("Component", format!("conformance-{index}"))
        .namespace("default")
        .title(format!("Conformance {index}"))
        .description(format!(
            "Entity \"{index}\" of the conformance source: ünïcødé ✓, a tab\tand a newline\n."
        ))
        .tag("conformance")
        .tag(format!("page-{page}"))
        .label("weir.dev/index", index.to_string())
        .managed_by(location)
        .spec("type", "service")
        .spec("lifecycle", "production")
        .spec("owner", "group:default/conformance")
        .spec("index", index)
        .spec("even", index.is_multiple_of(2))
        .spec("ratio", f64::from(index) / 4.0)
        .spec("dependsOn", depends_on)
        .location_key(format!("conformance:{index}"))
        .build()
}

/// The ref a push removes entity `index` by (and a `dependsOn` names it by).
pub(crate) fn conformance_ref(index: u32) -> String {
    format!("component:default/conformance-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_entity_is_the_readmes() {
        let entity = conformance_entity(5, 2);
        let value: Value = serde_json::from_str(entity.json()).unwrap();
        let location = "url:https://conformance.example/entities/5";
        assert_eq!(
            value,
            json!({
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {
                    "name": "conformance-5",
                    "namespace": "default",
                    "title": "Conformance 5",
                    "description": "Entity \"5\" of the conformance source: ünïcødé ✓, a tab\tand a newline\n.",
                    "tags": ["conformance", "page-2"],
                    "labels": {"weir.dev/index": "5"},
                    "annotations": {
                        "backstage.io/managed-by-location": location,
                        "backstage.io/managed-by-origin-location": location,
                    },
                },
                "spec": {
                    "type": "service",
                    "lifecycle": "production",
                    "owner": "group:default/conformance",
                    "index": 5,
                    "even": false,
                    "ratio": 1.25,
                    "dependsOn": ["component:default/conformance-4"],
                },
            })
        );
        assert_eq!(entity.location_key(), Some("conformance:5"));
        let first: Value = serde_json::from_str(conformance_entity(0, 0).json()).unwrap();
        assert_eq!(first["spec"]["dependsOn"], json!([]));
        assert_eq!(first["spec"]["even"], json!(true));
    }
}
