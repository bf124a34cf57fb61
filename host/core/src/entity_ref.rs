//! Entity refs: the `kind:namespace/name` triple that identifies an entity,
//! parsed and compared the way Backstage's `@backstage/catalog-model` does
//! (`parseEntityRef`, `stringifyEntityRef`): case-insensitively, so one
//! lower-cased form is stored.

use std::fmt;
use std::str::FromStr;

use super::json::Json;

/// The namespace of an entity or ref that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// An entity's identity: kind, namespace and name, each lower-cased.
///
/// Displays as `kind:namespace/name`, the form Backstage's
/// `stringifyEntityRef` produces, and parses back from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    kind: String,
    namespace: String,
    name: String,
}

/// Why text or an entity did not give an [`EntityRef`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityRefError {
    #[error("the entity ref is empty")]
    Empty,
    #[error("entity ref {text:?} has an empty {part}; expected [<kind>:][<namespace>/]<name>")]
    EmptyPart { text: String, part: RefPart },
    #[error(
        "entity ref {text:?} has a NUL character (U+0000) in its {part}; no catalog can store it"
    )]
    NulInPart { text: String, part: RefPart },
    #[error("entity ref {text:?} has no kind; write it as <kind>:{text}")]
    NoKind { text: String },
    #[error("the entity is not a JSON object")]
    NotAnObject,
    #[error("the entity has no {field}")]
    MissingField { field: &'static str },
    #[error("the entity's {field} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// A part of an entity ref, named in [`EntityRefError::EmptyPart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefPart {
    Kind,
    Namespace,
    Name,
}

impl fmt::Display for RefPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefPart::Kind => "kind",
            RefPart::Namespace => "namespace",
            RefPart::Name => "name",
        })
    }
}

impl EntityRef {
    /// A ref from its three parts; none may be empty or hold a NUL
    /// character (PostgreSQL's text cannot, and a ref is stored as text).
    pub fn new(kind: &str, namespace: &str, name: &str) -> Result<Self, EntityRefError> {
        for (part, value) in [
            (RefPart::Kind, kind),
            (RefPart::Namespace, namespace),
            (RefPart::Name, name),
        ] {
            let text = || format!("{kind}:{namespace}/{name}");
            if value.is_empty() {
                return Err(EntityRefError::EmptyPart { text: text(), part });
            }
            if value.contains('\0') {
                return Err(EntityRefError::NulInPart { text: text(), part });
            }
        }
        Ok(Self {
            kind: lower_case(kind),
            namespace: lower_case(namespace),
            name: lower_case(name),
        })
    }

    /// Parses `kind:namespace/name` or `kind:name` (namespace `default`).
    /// A ref without a kind is refused: use [`EntityRef::parse_with_defaults`]
    /// where the context supplies one.
    pub fn parse(text: &str) -> Result<Self, EntityRefError> {
        Self::parse_with_defaults(text, None, DEFAULT_NAMESPACE)
    }

    /// Parses any form Backstage accepts, `[<kind>:][<namespace>/]<name>`,
    /// taking the kind and namespace the text leaves out from the context
    /// (an empty `default_namespace` means `default`, as in Backstage).
    ///
    /// Like Backstage, the parts' formats are not checked here: only that
    /// none is empty. The first `:` ends the kind unless a `/` comes before
    /// it; the first `/` ends the namespace; the rest is the name.
    pub fn parse_with_defaults(
        text: &str,
        default_kind: Option<&str>,
        default_namespace: &str,
    ) -> Result<Self, EntityRefError> {
        let (kind, namespace, name) = resolve(text, default_kind, default_namespace)?;
        Self::new(kind, namespace, name)
    }

    /// Whether `text` parses as [`EntityRef::parse_with_defaults`] parses it,
    /// without building the ref (validation needs only the answer).
    pub fn check_with_defaults(
        text: &str,
        default_kind: Option<&str>,
        default_namespace: &str,
    ) -> Result<(), EntityRefError> {
        resolve(text, default_kind, default_namespace).map(|_| ())
    }

    /// The ref of an entity in its JSON form: its `kind`, `metadata.namespace`
    /// (or `default`) and `metadata.name`. Formats are not checked here; see
    /// [`crate::validation::validate`] for that.
    pub fn from_entity(entity: &Json<'_>) -> Result<Self, EntityRefError> {
        let root = entity.as_object().ok_or(EntityRefError::NotAnObject)?;
        let kind = required_text(root.get("kind"), "kind")?;
        let metadata = match root.get("metadata") {
            None | Some(Json::Null) => Err(EntityRefError::MissingField { field: "metadata" }),
            Some(Json::Object(metadata)) => Ok(metadata),
            Some(_) => Err(EntityRefError::WrongType {
                field: "metadata",
                expected: "an object",
            }),
        }?;
        let name = required_text(metadata.get("name"), "metadata.name")?;
        let namespace = match metadata.get("namespace") {
            None | Some(Json::Null) => DEFAULT_NAMESPACE,
            Some(Json::String(namespace)) if namespace.is_empty() => DEFAULT_NAMESPACE,
            Some(Json::String(namespace)) => namespace,
            Some(_) => {
                return Err(EntityRefError::WrongType {
                    field: "metadata.namespace",
                    expected: "a string",
                });
            }
        };
        Self::new(kind, namespace, name)
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `text` in lower case; byte by byte when it is ASCII, as refs nearly
/// always are (`str::to_lowercase` goes a character at a time).
fn lower_case(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

/// The kind, namespace and name `text` gives, with the context's defaults
/// for what it leaves out; none of them empty.
fn resolve<'a>(
    text: &'a str,
    default_kind: Option<&'a str>,
    default_namespace: &'a str,
) -> Result<(&'a str, &'a str, &'a str), EntityRefError> {
    if text.is_empty() {
        return Err(EntityRefError::Empty);
    }
    let parts = split(text)?;
    let kind = parts
        .kind
        .or(default_kind)
        .filter(|kind| !kind.is_empty())
        .ok_or_else(|| EntityRefError::NoKind {
            text: text.to_owned(),
        })?;
    let namespace = match (parts.namespace, default_namespace) {
        (Some(namespace), _) => namespace,
        (None, "") => DEFAULT_NAMESPACE,
        (None, namespace) => namespace,
    };
    Ok((kind, namespace, parts.name))
}

/// The parts of `[<kind>:][<namespace>/]<name>`, as Backstage's
/// `parseRefString` splits them.
struct Parts<'a> {
    kind: Option<&'a str>,
    namespace: Option<&'a str>,
    name: &'a str,
}

fn split(text: &str) -> Result<Parts<'_>, EntityRefError> {
    let slash = text.find('/');
    let colon = text
        .find(':')
        .filter(|&colon| slash.is_none_or(|slash| colon < slash));
    let after_colon = colon.map_or(0, |colon| colon + 1);
    let parts = Parts {
        kind: colon.map(|colon| &text[..colon]),
        namespace: slash.map(|slash| &text[after_colon..slash]),
        name: &text[slash.map_or(after_colon, |slash| slash + 1)..],
    };
    let empty = [
        (RefPart::Kind, parts.kind),
        (RefPart::Namespace, parts.namespace),
        (RefPart::Name, Some(parts.name)),
    ]
    .into_iter()
    .find(|(_, value)| *value == Some(""));
    match empty {
        Some((part, _)) => Err(EntityRefError::EmptyPart {
            text: text.to_owned(),
            part,
        }),
        None => Ok(parts),
    }
}

fn required_text<'a>(
    value: Option<&'a Json<'_>>,
    field: &'static str,
) -> Result<&'a str, EntityRefError> {
    match value {
        None | Some(Json::Null) => Err(EntityRefError::MissingField { field }),
        Some(Json::String(text)) if !text.is_empty() => Ok(text),
        Some(_) => Err(EntityRefError::WrongType {
            field,
            expected: "a non-empty string",
        }),
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
    }
}

impl FromStr for EntityRef {
    type Err = EntityRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parts(entity_ref: &EntityRef) -> (&str, &str, &str) {
        (entity_ref.kind(), entity_ref.namespace(), entity_ref.name())
    }

    /// PostgreSQL's text cannot hold U+0000: a ref with one would fail the
    /// whole transaction it is written in (a page, a push, a removal).
    #[test]
    fn a_nul_character_in_any_part_is_refused() {
        for (text, part) in [
            ("compo\0nent:default/a", RefPart::Kind),
            ("component:de\0fault/a", RefPart::Namespace),
            ("component:default/a\0b", RefPart::Name),
        ] {
            let error = EntityRef::parse(text).unwrap_err();
            assert_eq!(
                error,
                EntityRefError::NulInPart {
                    text: text.to_owned(),
                    part
                }
            );
            assert!(error.to_string().contains("\\0"), "{error}");
        }
        let entity = json!({"kind": "Component", "metadata": {"name": "nul\u{0}x"}});
        assert!(EntityRef::from_entity(&Json::from(&entity)).is_err());
    }

    #[test]
    fn full_refs_parse_into_lower_case_parts() {
        let entity_ref = EntityRef::parse("Component:Payments/Checkout-API").unwrap();
        assert_eq!(
            parts(&entity_ref),
            ("component", "payments", "checkout-api")
        );
        assert_eq!(entity_ref.to_string(), "component:payments/checkout-api");
    }

    #[test]
    fn a_ref_without_namespace_is_in_default() {
        let entity_ref = EntityRef::parse("user:jane.doe").unwrap();
        assert_eq!(parts(&entity_ref), ("user", "default", "jane.doe"));
    }

    #[test]
    fn refs_compare_case_insensitively() {
        assert_eq!(
            EntityRef::parse("API:Default/Petstore").unwrap(),
            EntityRef::parse("api:default/petstore").unwrap()
        );
        assert_eq!(
            EntityRef::parse("group:team_a").unwrap(),
            "Group:default/TEAM_A".parse().unwrap()
        );
    }

    #[test]
    fn display_parses_back_to_the_same_ref() {
        for text in [
            "component:default/a.b_c",
            "group:ops/team-a",
            "location:default/generated-0a1b",
        ] {
            let entity_ref = EntityRef::parse(text).unwrap();
            assert_eq!(entity_ref.to_string(), text);
            assert_eq!(
                EntityRef::parse(&entity_ref.to_string()).unwrap(),
                entity_ref
            );
        }
    }

    #[test]
    fn shorthand_forms_take_the_context_defaults() {
        let group = |text| EntityRef::parse_with_defaults(text, Some("Group"), "ops").unwrap();
        assert_eq!(group("team-a").to_string(), "group:ops/team-a");
        assert_eq!(group("default/team-a").to_string(), "group:default/team-a");
        assert_eq!(group("user:jane").to_string(), "user:ops/jane");
        assert_eq!(group("user:other/jane").to_string(), "user:other/jane");
        let empty_namespace = EntityRef::parse_with_defaults("a", Some("k"), "").unwrap();
        assert_eq!(empty_namespace.to_string(), "k:default/a");
    }

    #[test]
    fn a_ref_needs_a_kind_from_the_text_or_the_context() {
        assert_eq!(
            EntityRef::parse("team-a"),
            Err(EntityRefError::NoKind {
                text: "team-a".into()
            })
        );
        assert!(matches!(
            EntityRef::parse("default/team-a"),
            Err(EntityRefError::NoKind { .. })
        ));
        let message = EntityRef::parse("team-a").unwrap_err().to_string();
        assert!(message.contains("<kind>:team-a"), "{message}");
    }

    #[test]
    fn empty_refs_and_parts_are_named() {
        assert_eq!(EntityRef::parse(""), Err(EntityRefError::Empty));
        let empty_part = |text: &str| match EntityRef::parse(text) {
            Err(EntityRefError::EmptyPart { part, .. }) => part,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(empty_part(":default/a"), RefPart::Kind);
        assert_eq!(empty_part("component:/a"), RefPart::Namespace);
        assert_eq!(empty_part("component:default/"), RefPart::Name);
        assert_eq!(empty_part("component:"), RefPart::Name);
        assert_eq!(empty_part("/a"), RefPart::Namespace);
        let message = EntityRef::parse("component:/a").unwrap_err().to_string();
        assert!(message.contains("empty namespace"), "{message}");
    }

    #[test]
    fn splitting_follows_backstage_for_odd_text() {
        // A `/` before the first `:` means there is no kind.
        let ref_ = EntityRef::parse_with_defaults("ns/a:b", Some("k"), "default").unwrap();
        assert_eq!(parts(&ref_), ("k", "ns", "a:b"));
        // Only the first `:` and the first `/` split.
        let ref_ = EntityRef::parse("k:a:b").unwrap();
        assert_eq!(parts(&ref_), ("k", "default", "a:b"));
        let ref_ = EntityRef::parse("k:ns/a/b").unwrap();
        assert_eq!(parts(&ref_), ("k", "ns", "a/b"));
    }

    #[test]
    fn checking_a_ref_answers_as_parsing_it_does() {
        for (text, default_kind, default_namespace) in [
            ("component:ops/a", None, "default"),
            ("a", Some("Group"), ""),
            ("a", None, "default"),
            ("ops/a", Some("User"), "x"),
            ("", Some("Group"), "default"),
            ("k:", None, "default"),
            (":a", Some("Group"), "default"),
            ("k:/a", None, "default"),
            ("ns/", Some("Group"), "default"),
            ("Ünïcode:Ns/Näme", None, "default"),
        ] {
            assert_eq!(
                EntityRef::check_with_defaults(text, default_kind, default_namespace),
                EntityRef::parse_with_defaults(text, default_kind, default_namespace).map(|_| ()),
                "{text:?}"
            );
        }
        assert_eq!(
            EntityRef::parse("Ünïcode:Ns/Näme").unwrap().to_string(),
            "ünïcode:ns/näme"
        );
    }

    #[test]
    fn new_refuses_empty_parts() {
        assert!(EntityRef::new("Component", "default", "a").is_ok());
        assert!(matches!(
            EntityRef::new("", "default", "a"),
            Err(EntityRefError::EmptyPart {
                part: RefPart::Kind,
                ..
            })
        ));
        assert!(matches!(
            EntityRef::new("k", "", "a"),
            Err(EntityRefError::EmptyPart {
                part: RefPart::Namespace,
                ..
            })
        ));
    }

    #[test]
    fn an_entity_gives_its_ref() {
        let entity = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "User",
            "metadata": {"name": "Breanna.Davison", "namespace": "Development"},
        });
        let entity_ref = EntityRef::from_entity(&Json::from(&entity)).unwrap();
        assert_eq!(entity_ref.to_string(), "user:development/breanna.davison");
    }

    #[test]
    fn an_entity_without_namespace_is_in_default() {
        for metadata in [
            json!({"name": "a"}),
            json!({"name": "a", "namespace": null}),
            json!({"name": "a", "namespace": ""}),
        ] {
            let entity = json!({"kind": "Group", "metadata": metadata});
            assert_eq!(
                EntityRef::from_entity(&Json::from(&entity))
                    .unwrap()
                    .to_string(),
                "group:default/a"
            );
        }
    }

    #[test]
    fn an_entity_without_a_usable_kind_or_name_has_no_ref() {
        let cases = [
            (json!([]), EntityRefError::NotAnObject),
            (
                json!({"metadata": {"name": "a"}}),
                EntityRefError::MissingField { field: "kind" },
            ),
            (
                json!({"kind": 3, "metadata": {"name": "a"}}),
                EntityRefError::WrongType {
                    field: "kind",
                    expected: "a non-empty string",
                },
            ),
            (
                json!({"kind": "", "metadata": {"name": "a"}}),
                EntityRefError::WrongType {
                    field: "kind",
                    expected: "a non-empty string",
                },
            ),
            (
                json!({"kind": "Group"}),
                EntityRefError::MissingField { field: "metadata" },
            ),
            (
                json!({"kind": "Group", "metadata": "a"}),
                EntityRefError::WrongType {
                    field: "metadata",
                    expected: "an object",
                },
            ),
            (
                json!({"kind": "Group", "metadata": {}}),
                EntityRefError::MissingField {
                    field: "metadata.name",
                },
            ),
            (
                json!({"kind": "Group", "metadata": {"name": "a", "namespace": 1}}),
                EntityRefError::WrongType {
                    field: "metadata.namespace",
                    expected: "a string",
                },
            ),
        ];
        for (entity, expected) in cases {
            assert_eq!(
                EntityRef::from_entity(&Json::from(&entity)),
                Err(expected),
                "{entity}"
            );
        }
    }
}
