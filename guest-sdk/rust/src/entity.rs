//! Entities as a source hands them to the host: JSON text plus an optional
//! location key, with a builder for the Backstage envelope.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::Error;

/// Where the entity was read from, as Backstage's catalog records it.
pub const ANNOTATION_LOCATION: &str = "backstage.io/managed-by-location";
/// Where the entity was first discovered, as Backstage's catalog records it.
pub const ANNOTATION_ORIGIN_LOCATION: &str = "backstage.io/managed-by-origin-location";

/// One entity, already serialised to JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub(crate) json: String,
    pub(crate) location_key: Option<String>,
}

impl Entity {
    /// Start an entity of `kind` named `name` (`apiVersion`
    /// `backstage.io/v1alpha1`, namespace `default`).
    pub fn builder(kind: impl Into<String>, name: impl Into<String>) -> EntityBuilder {
        EntityBuilder::new(kind, name)
    }

    /// An entity from any serialisable value (a struct of your own is the
    /// fastest way to produce many entities).
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::fatal(format!("could not serialise an entity: {e}")))?;
        Ok(Entity {
            json,
            location_key: None,
        })
    }

    /// An entity from JSON text the source wrote itself, with no
    /// serialisation step: the cheapest way to produce many entities whose
    /// text is simple to write by hand.
    ///
    /// The caller guarantees this is the JSON text of one object; it is not
    /// checked here, but the host checks it and refuses the page otherwise.
    pub fn from_json_text(json: String) -> Self {
        Entity {
            json,
            location_key: None,
        }
    }

    /// An entity from a JSON value.
    pub fn from_value(value: &Value) -> Self {
        Entity {
            json: value.to_string(),
            location_key: None,
        }
    }

    /// Set the location key that decides conflicts between sources producing the same entity.
    pub fn with_location_key(mut self, key: impl Into<String>) -> Self {
        self.location_key = Some(key.into());
        self
    }

    /// The entity's JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The location key, when one was set.
    pub fn location_key(&self) -> Option<&str> {
        self.location_key.as_deref()
    }
}

/// Builds an entity field by field; `build` serialises it.
#[derive(Debug, Clone)]
pub struct EntityBuilder {
    api_version: String,
    kind: String,
    metadata: Map<String, Value>,
    spec: Map<String, Value>,
    location_key: Option<String>,
}

impl EntityBuilder {
    fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        let mut metadata = Map::new();
        metadata.insert("name".into(), Value::String(name.into()));
        EntityBuilder {
            api_version: "backstage.io/v1alpha1".into(),
            kind: kind.into(),
            metadata,
            spec: Map::new(),
            location_key: None,
        }
    }

    /// Set `apiVersion` (default `backstage.io/v1alpha1`).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// Set `metadata.namespace` (default `default`).
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        self.metadata_field("namespace", Value::String(namespace.into()))
    }

    /// Set `metadata.title`.
    pub fn title(self, title: impl Into<String>) -> Self {
        self.metadata_field("title", Value::String(title.into()))
    }

    /// Set `metadata.description`.
    pub fn description(self, description: impl Into<String>) -> Self {
        self.metadata_field("description", Value::String(description.into()))
    }

    /// Set any `metadata` field.
    pub fn metadata_field(mut self, key: &str, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// Add one `metadata.annotations` entry.
    pub fn annotation(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert_into("annotations", key.into(), Value::String(value.into()))
    }

    /// Add one `metadata.labels` entry.
    pub fn label(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert_into("labels", key.into(), Value::String(value.into()))
    }

    /// Add one `metadata.tags` entry.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        if let Value::Array(tags) = self.metadata.entry("tags").or_insert_with(|| json!([])) {
            tags.push(Value::String(tag.into()));
        }
        self
    }

    /// Add one `metadata.links` entry.
    pub fn link(mut self, url: impl Into<String>, title: impl Into<String>) -> Self {
        let link = json!({ "url": url.into(), "title": title.into() });
        if let Value::Array(links) = self.metadata.entry("links").or_insert_with(|| json!([])) {
            links.push(link);
        }
        self
    }

    /// Set both `backstage.io/managed-by-location` and
    /// `backstage.io/managed-by-origin-location` to `location` (for example
    /// `url:https://github.com/org/repo`), as Backstage's providers do.
    pub fn managed_by(self, location: impl Into<String>) -> Self {
        let location = location.into();
        self.annotation(ANNOTATION_LOCATION, location.clone())
            .annotation(ANNOTATION_ORIGIN_LOCATION, location)
    }

    /// Set one `spec` field.
    pub fn spec(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.spec.insert(key.into(), value.into());
        self
    }

    /// Set the location key that decides conflicts between sources
    /// producing the same entity (Backstage's `locationKey`).
    pub fn location_key(mut self, key: impl Into<String>) -> Self {
        self.location_key = Some(key.into());
        self
    }

    /// The entity, serialised to JSON.
    pub fn build(self) -> Entity {
        let value = json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": self.metadata,
            "spec": self.spec,
        });
        Entity {
            json: value.to_string(),
            location_key: self.location_key,
        }
    }

    fn insert_into(mut self, field: &str, key: String, value: Value) -> Self {
        if let Value::Object(map) = self.metadata.entry(field).or_insert_with(|| json!({})) {
            map.insert(key, value);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_produces_the_backstage_envelope() {
        let entity = Entity::builder("Component", "payments")
            .namespace("shop")
            .annotation("example.com/owner-id", "42")
            .label("tier", "gold")
            .tag("rust")
            .tag("payments")
            .link("https://example.com", "Home")
            .managed_by("url:https://example.com/catalog-info.yaml")
            .spec("type", "service")
            .location_key("url:https://example.com")
            .build();
        let value: Value = serde_json::from_str(entity.json()).unwrap();
        assert_eq!(value["apiVersion"], "backstage.io/v1alpha1");
        assert_eq!(value["kind"], "Component");
        assert_eq!(value["metadata"]["name"], "payments");
        assert_eq!(value["metadata"]["namespace"], "shop");
        assert_eq!(value["metadata"]["labels"]["tier"], "gold");
        assert_eq!(value["metadata"]["tags"], json!(["rust", "payments"]));
        assert_eq!(value["metadata"]["links"][0]["url"], "https://example.com");
        let annotations = &value["metadata"]["annotations"];
        assert_eq!(annotations["example.com/owner-id"], "42");
        assert_eq!(
            annotations[ANNOTATION_LOCATION],
            "url:https://example.com/catalog-info.yaml"
        );
        assert_eq!(
            annotations[ANNOTATION_ORIGIN_LOCATION],
            "url:https://example.com/catalog-info.yaml"
        );
        assert_eq!(value["spec"]["type"], "service");
        assert_eq!(entity.location_key(), Some("url:https://example.com"));
    }

    #[test]
    fn from_serialize_keeps_the_value() {
        let entity = Entity::from_serialize(&json!({"kind": "Group"})).unwrap();
        assert_eq!(entity.json(), r#"{"kind":"Group"}"#);
        assert_eq!(entity.location_key(), None);
    }
}
