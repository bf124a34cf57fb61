//! From one response's JSON to entities and the next cursor.

use serde_json::Value;
use weir_guest::{Entity, Error};

/// Where things are in a response and in its items, and the defaults.
pub struct Mapping {
    items: String,
    next: String,
    kind: String,
    name: String,
    title: String,
    description: String,
    /// `spec` fields: (spec key, pointer in an item, default).
    spec: Vec<(&'static str, String, Option<String>)>,
}

impl Mapping {
    /// Read the mapping from config (`get` looks a key up).
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Mapping, Error> {
        let pointer = |key: &str, default: &str| -> Result<String, Error> {
            let value = get(key).unwrap_or_else(|| default.to_owned());
            if value.is_empty() || value.starts_with('/') {
                Ok(value)
            } else {
                Err(Error::fatal(format!(
                    "config `{key}`: cannot use {value:?}: expected a JSON pointer such as \"/items\""
                )))
            }
        };
        let mut spec = Vec::new();
        for field in ["owner", "type", "lifecycle"] {
            spec.push((
                field,
                pointer(&format!("{field}-field"), &format!("/{field}"))?,
                get(&format!("default-{field}")),
            ));
        }
        Ok(Mapping {
            items: pointer("items-pointer", "/items")?,
            next: pointer("next-pointer", "/next")?,
            kind: get("kind").unwrap_or_else(|| "Component".into()),
            name: pointer("name-field", "/name")?,
            title: pointer("title-field", "/title")?,
            description: pointer("description-field", "/description")?,
            spec,
        })
    }

    /// The page's entities and the next cursor (`None`: last page).
    pub fn page(
        &self,
        body: &Value,
        location: &str,
    ) -> Result<(Vec<Entity>, Option<String>), String> {
        let items = match body.pointer(&self.items) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => &Vec::new(),
            Some(_) => return Err(format!("`{}` is not an array", self.items)),
        };
        let entities = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                self.entity(item, location)
                    .map_err(|e| format!("item {index}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let next = match body.pointer(&self.next) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            Some(_) => return Err(format!("`{}` is not a string or number", self.next)),
        };
        Ok((entities, next))
    }

    fn entity(&self, item: &Value, location: &str) -> Result<Entity, String> {
        let name = text(item, &self.name).ok_or_else(|| format!("no name at `{}`", self.name))?;
        let mut builder = Entity::builder(self.kind.clone(), name).managed_by(location);
        if let Some(title) = text(item, &self.title) {
            builder = builder.title(title);
        }
        if let Some(description) = text(item, &self.description) {
            builder = builder.description(description);
        }
        for (key, pointer, default) in &self.spec {
            if let Some(value) = text(item, pointer).or_else(|| default.clone()) {
                builder = builder.spec(key, value);
            }
        }
        Ok(builder.build())
    }
}

/// A string or number at `pointer`, as text.
fn text(item: &Value, pointer: &str) -> Option<String> {
    match item.pointer(pointer)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_become_entities_and_the_cursor_is_read() {
        let mapping = Mapping::from_config(|key| match key {
            "items-pointer" => Some("/data/nodes".into()),
            "next-pointer" => Some("/data/pageInfo/endCursor".into()),
            "owner-field" => Some("/team/slug".into()),
            "default-lifecycle" => Some("experimental".into()),
            _ => None,
        })
        .unwrap();
        let body = json!({"data": {"nodes": [
            {"name": "svc-a", "team": {"slug": "core"}, "type": "service", "description": "A"},
        ], "pageInfo": {"endCursor": "Y3Vy"}}});
        let (entities, next) = mapping.page(&body, "url:http://x.y").unwrap();
        assert_eq!(next.as_deref(), Some("Y3Vy"));
        let entity: Value = serde_json::from_str(entities[0].json()).unwrap();
        assert_eq!(entity["kind"], "Component");
        assert_eq!(entity["metadata"]["name"], "svc-a");
        assert_eq!(entity["metadata"]["description"], "A");
        assert_eq!(
            entity["spec"],
            json!({"owner": "core", "type": "service", "lifecycle": "experimental"})
        );

        let (entities, next) = mapping.page(&json!({"data": {"nodes": []}}), "l").unwrap();
        assert!(entities.is_empty() && next.is_none());
        assert!(
            mapping
                .page(&json!({"data": {"nodes": [{"id": 1}]}}), "l")
                .unwrap_err()
                .contains("item 0")
        );
    }

    #[test]
    fn pointers_must_be_pointers() {
        let error = Mapping::from_config(|key| (key == "items-pointer").then(|| "items".into()));
        assert!(error.is_err());
    }
}
