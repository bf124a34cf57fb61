//! Entity validation with the rules Backstage applies when it ingests an
//! entity: the entity policies of `@backstage/catalog-model`
//! (`SchemaValidEntityPolicy`, `DefaultNamespaceEntityPolicy`,
//! `NoForeignRootFieldsEntityPolicy`, `FieldFormatEntityPolicy`), the JSON
//! schemas of the envelope and metadata, and the schemas of the built-in
//! kinds (`BuiltinKindsEntityProcessor`). Unlike Backstage, which stops at
//! the first failure, every problem is collected.
//!
//! Layout: `formats` holds the string formats, `envelope` the root
//! fields, `metadata` the `metadata` block, `kinds` the `spec` of each
//! well-known kind.

mod envelope;
mod formats;
mod kinds;
mod metadata;

use std::fmt;

use crate::entity_ref::EntityRef;
use crate::json::{Json, Object};

/// Validates one entity in its JSON form and returns its ref, or every
/// problem found.
///
/// Rules, all checked against catalog-model 1.10 and its tests:
/// - root: an object with `apiVersion`, `kind` and `metadata`, optionally
///   `spec` (an object), `relations` and `status`. Backstage's schema allows
///   `relations` and `status` but its `NoForeignRootFieldsEntityPolicy`
///   refuses them in catalog files; Weir accepts them (sources may carry
///   them through) and checks their shape against the schema instead. Any
///   other root field is a problem.
/// - `apiVersion`, `kind`, `metadata.*`: the formats in `formats`.
/// - a missing `metadata.namespace` means `default`; see
///   [`EntityRef::from_entity`].
/// - `spec` of the built-in kinds (Component, API, Group, User, Resource,
///   System, Domain, Location) with apiVersion `backstage.io/v1alpha1` or
///   `backstage.io/v1beta1`: required fields and types from the kinds' JSON
///   schemas, and entity refs in relation fields must parse. Kind names are
///   matched exactly, as Backstage does. Other kinds get the envelope rules
///   only (Backstage itself would need a processor that knows them).
pub fn validate(entity: &Json<'_>) -> Result<ValidEntity, Invalid> {
    let mut report = Report::default();
    let known_kind = match entity.as_object() {
        Some(root) => check_entity(root, &mut report),
        None => {
            report.add(
                &FieldPath::root(),
                format!("an entity must be an object, found {}", type_name(entity)),
            );
            false
        }
    };
    let entity_ref = EntityRef::from_entity(entity).ok();
    let mut problems = report.into_problems();
    match entity_ref {
        Some(entity_ref) if problems.is_empty() => Ok(ValidEntity {
            entity_ref,
            known_kind,
        }),
        entity_ref => {
            if problems.is_empty() {
                problems.push(Problem {
                    field: FieldPath::root(),
                    message: "the entity has no usable ref".to_owned(),
                });
            }
            Err(Invalid {
                entity_ref,
                problems,
            })
        }
    }
}

fn check_entity(root: &Object<'_>, report: &mut Report) -> bool {
    envelope::check(root, report);
    metadata::check(root.get("metadata"), report);
    kinds::check(root, report)
}

/// An entity that passed [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEntity {
    entity_ref: EntityRef,
    known_kind: bool,
}

impl ValidEntity {
    pub fn entity_ref(&self) -> &EntityRef {
        &self.entity_ref
    }

    /// Whether the `spec` was checked against a built-in kind's rules, or
    /// only the envelope was (a kind Weir does not know).
    pub fn known_kind(&self) -> bool {
        self.known_kind
    }
}

/// An entity that failed [`validate`]: its ref when kind and name allow one,
/// and every problem found, in the order of the fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.entity_ref.as_ref(), .problems))]
pub struct Invalid {
    entity_ref: Option<EntityRef>,
    problems: Vec<Problem>,
}

impl Invalid {
    pub fn entity_ref(&self) -> Option<&EntityRef> {
        self.entity_ref.as_ref()
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn summary(entity_ref: Option<&EntityRef>, problems: &[Problem]) -> String {
    let entity = entity_ref.map_or_else(|| "entity".to_owned(), |r| format!("entity {r}"));
    let problems: Vec<String> = problems.iter().map(Problem::to_string).collect();
    format!("{entity} is invalid: {}", problems.join("; "))
}

/// One broken rule: where, and what is wrong in words a catalog author can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: FieldPath,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Where a field sits in an entity: `metadata.name`, `metadata.tags[0]`,
/// `metadata.annotations["backstage.io/techdocs-ref"]`; `<root>` for the
/// entity itself. Keys that are not plain identifiers are quoted as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of `key` inside this object.
    pub fn key(&self, key: &str) -> Self {
        let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        match (plain, self.0.is_empty()) {
            (true, true) => Self(key.to_owned()),
            (true, false) => Self(format!("{}.{key}", self.0)),
            (false, _) => Self(format!("{}[{}]", self.0, serde_json::Value::from(key))),
        }
    }

    /// The path of item `index` of this array.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// Whether this path is `other` or lies inside it.
    pub fn is_within(&self, other: &FieldPath) -> bool {
        match self.0.strip_prefix(&other.0) {
            Some(rest) => other.0.is_empty() || rest.is_empty() || rest.starts_with(['.', '[']),
            None => false,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("<root>")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Where a value is checked: a path, or a way to make one. Checks of fields
/// that are almost always valid (every label, annotation and tag) take a
/// closure, so the path is built only when there is a problem to report.
trait At {
    fn path(&self) -> FieldPath;
}

impl At for FieldPath {
    fn path(&self) -> FieldPath {
        self.clone()
    }
}

impl<F: Fn() -> FieldPath> At for F {
    fn path(&self) -> FieldPath {
        self()
    }
}

/// The problems found so far.
#[derive(Debug, Default)]
struct Report {
    problems: Vec<Problem>,
}

impl Report {
    fn add(&mut self, at: &impl At, message: impl Into<String>) {
        self.problems.push(Problem {
            field: at.path(),
            message: message.into(),
        });
    }

    fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// JSON's name for the type of `value`, for messages ("a string").
pub fn type_name(value: &Json<'_>) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// `text` as a JSON string, cut short when long, for messages.
fn quoted(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", serde_json::Value::from(&text[..end])),
        None => serde_json::Value::from(text).to_string(),
    }
}

/// `map[key]`, reported when absent (a present `null` is returned: its
/// type check reports it, as JSON schema's `required` does).
fn required<'a, 'j>(
    map: &'a Object<'j>,
    key: &str,
    at: &impl At,
    report: &mut Report,
) -> Option<&'a Json<'j>> {
    let value = map.get(key);
    if value.is_none() {
        report.add(&|| at.path().key(key), "is required");
    }
    value
}

fn expect_string<'a, 'j>(
    value: &'a Json<'j>,
    at: &impl At,
    report: &mut Report,
) -> Option<&'a str> {
    let text = value.as_str();
    if text.is_none() {
        report.add(at, format!("must be a string, found {}", type_name(value)));
    }
    text
}

/// A string of at least one character (`minLength: 1` in the schemas).
fn expect_text<'a, 'j>(value: &'a Json<'j>, at: &impl At, report: &mut Report) -> Option<&'a str> {
    let text = expect_string(value, at, report)?;
    if text.is_empty() {
        report.add(at, "must not be empty");
        return None;
    }
    Some(text)
}

fn expect_object<'a, 'j>(
    value: &'a Json<'j>,
    at: &impl At,
    report: &mut Report,
) -> Option<&'a Object<'j>> {
    let object = value.as_object();
    if object.is_none() {
        report.add(at, format!("must be an object, found {}", type_name(value)));
    }
    object
}

fn expect_array<'a, 'j>(
    value: &'a Json<'j>,
    at: &impl At,
    report: &mut Report,
) -> Option<&'a [Json<'j>]> {
    let array = value.as_array();
    if array.is_none() {
        report.add(at, format!("must be an array, found {}", type_name(value)));
    }
    array
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// [`validate`] an entity written with `json!`.
    pub(super) fn validate_value(entity: &Value) -> Result<ValidEntity, Invalid> {
        validate(&Json::from(entity))
    }

    /// The problems of `entity` as `field: message` lines.
    pub(super) fn problems(entity: &Value) -> Vec<String> {
        match validate_value(entity) {
            Ok(_) => Vec::new(),
            Err(invalid) => invalid.problems().iter().map(Problem::to_string).collect(),
        }
    }

    pub(super) fn component() -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "artist-lookup"},
            "spec": {"type": "service", "lifecycle": "experimental", "owner": "team-a"},
        })
    }

    #[test]
    fn a_valid_entity_gives_its_normalised_ref() {
        let mut entity = component();
        entity["metadata"]["name"] = json!("Artist.Lookup_v2");
        let valid = validate_value(&entity).unwrap();
        assert_eq!(
            valid.entity_ref().to_string(),
            "component:default/artist.lookup_v2"
        );
        assert!(valid.known_kind());
    }

    #[test]
    fn a_non_object_is_one_problem() {
        for entity in [json!(null), json!([]), json!("x"), json!(1)] {
            let invalid = validate_value(&entity).unwrap_err();
            assert_eq!(invalid.problems().len(), 1);
            assert_eq!(invalid.problems()[0].field, FieldPath::root());
            assert!(invalid.entity_ref().is_none());
        }
        assert_eq!(
            problems(&json!([])),
            ["<root>: an entity must be an object, found an array"]
        );
    }

    #[test]
    fn every_problem_is_collected_not_only_the_first() {
        let entity = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "invalid component", "tags": ["go", "go 1.15.3"]},
            "spec": {"type": "service", "lifecycle": ""},
            "extra": true,
        });
        let invalid = validate_value(&entity).unwrap_err();
        assert_eq!(
            invalid.entity_ref().map(ToString::to_string).as_deref(),
            Some("component:default/invalid component")
        );
        let fields: Vec<String> = invalid
            .problems()
            .iter()
            .map(|p| p.field.to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "extra",
                "metadata.name",
                "metadata.tags[1]",
                "spec.lifecycle",
                "spec.owner"
            ]
        );
    }

    #[test]
    fn invalid_displays_the_ref_and_every_problem() {
        let mut entity = component();
        entity["spec"]["owner"] = json!(7);
        entity["metadata"]["namespace"] = json!("Bad");
        let message = validate_value(&entity).unwrap_err().to_string();
        assert!(
            message
                .starts_with("entity component:bad/artist-lookup is invalid: metadata.namespace: "),
            "{message}"
        );
        assert!(
            message.ends_with("; spec.owner: must be a string, found a number"),
            "{message}"
        );
    }

    #[test]
    fn field_paths_quote_keys_that_are_not_identifiers() {
        let root = FieldPath::root();
        assert_eq!(root.to_string(), "<root>");
        let annotations = root.key("metadata").key("annotations");
        assert_eq!(annotations.to_string(), "metadata.annotations");
        assert_eq!(
            annotations.key("backstage.io/techdocs-ref").to_string(),
            "metadata.annotations[\"backstage.io/techdocs-ref\"]"
        );
        assert_eq!(root.key("with space").to_string(), "[\"with space\"]");
        assert_eq!(
            root.key("spec").key("definition").key("$text").to_string(),
            "spec.definition.$text"
        );
        assert_eq!(
            root.key("metadata").key("tags").index(2).to_string(),
            "metadata.tags[2]"
        );
    }

    #[test]
    fn field_paths_nest_by_whole_segments() {
        let spec = FieldPath::root().key("spec");
        let definition = spec.key("definition");
        assert!(definition.is_within(&spec));
        assert!(definition.is_within(&definition));
        assert!(spec.index(0).is_within(&spec));
        assert!(definition.is_within(&FieldPath::root()));
        assert!(!spec.is_within(&definition));
        assert!(!FieldPath::root().key("specification").is_within(&spec));
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        let long = "x".repeat(200);
        let shown = quoted(&long);
        assert!(shown.ends_with("\"…"), "{shown}");
        assert_eq!(shown.chars().count(), 80 + 3);
    }
}
