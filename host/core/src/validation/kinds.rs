//! The `spec` of Backstage's built-in kinds, from the kinds' JSON schemas in
//! catalog-model (`src/schema/kinds/*.v1alpha1.schema.json`) and the entity
//! refs that `BuiltinKindsEntityProcessor` parses out of their relation
//! fields (a ref it cannot parse fails the entity in Backstage too).

use super::{
    At, FieldPath, Report, expect_array, expect_object, expect_string, expect_text, quoted,
    required,
};
use crate::entity_ref::{DEFAULT_NAMESPACE, EntityRef};
use crate::json::{Json, Object};

/// The apiVersions every built-in kind's schema accepts.
const VERSIONS: [&str; 2] = ["backstage.io/v1alpha1", "backstage.io/v1beta1"];

/// The group of Backstage's own apiVersions.
const GROUP: &str = "backstage.io/";

/// One built-in kind and the fields of its `spec`.
struct Kind {
    name: &'static str,
    fields: &'static [Field],
}

/// One field of a `spec`.
struct Field {
    key: &'static str,
    required: bool,
    shape: Shape,
    /// Whether the value holds entity refs, and the kind a ref without one takes.
    refs: Refs,
}

#[derive(Clone, Copy)]
enum Shape {
    /// A non-empty string.
    Text,
    /// An array of non-empty strings.
    TextList,
    /// One of a few strings.
    OneOf(&'static [&'static str]),
    /// `{displayName?, email?, picture?}`, all non-empty strings.
    Profile,
    /// Not in the schema (any type), but refs are read from its strings.
    Untyped,
}

#[derive(Clone, Copy)]
enum Refs {
    None,
    /// Refs that default to this kind.
    DefaultKind(&'static str),
    /// Refs that must name their kind.
    KindRequired,
}

const fn field(key: &'static str, required: bool, shape: Shape, refs: Refs) -> Field {
    Field {
        key,
        required,
        shape,
        refs,
    }
}

use Refs::{DefaultKind, KindRequired};
use Shape::{OneOf, Profile, Text, TextList, Untyped};

const OWNER: Field = field("owner", true, Text, DefaultKind("Group"));
const SYSTEM: Field = field("system", false, Text, DefaultKind("System"));
const DEPENDS_ON: Field = field("dependsOn", false, TextList, KindRequired);
const DEPENDENCY_OF: Field = field("dependencyOf", false, Untyped, KindRequired);

const KINDS: &[Kind] = &[
    Kind {
        name: "Component",
        fields: &[
            field("type", true, Text, Refs::None),
            field("lifecycle", true, Text, Refs::None),
            OWNER,
            SYSTEM,
            field("subcomponentOf", false, Text, DefaultKind("Component")),
            field("providesApis", false, TextList, DefaultKind("API")),
            field("consumesApis", false, TextList, DefaultKind("API")),
            DEPENDS_ON,
            DEPENDENCY_OF,
        ],
    },
    Kind {
        name: "API",
        fields: &[
            field("type", true, Text, Refs::None),
            field("lifecycle", true, Text, Refs::None),
            OWNER,
            SYSTEM,
            field("definition", true, Text, Refs::None),
        ],
    },
    Kind {
        name: "Group",
        fields: &[
            field("type", true, Text, Refs::None),
            field("profile", false, Profile, Refs::None),
            field("parent", false, Text, DefaultKind("Group")),
            field("children", true, TextList, DefaultKind("Group")),
            field("members", false, TextList, DefaultKind("User")),
        ],
    },
    Kind {
        name: "User",
        fields: &[
            field("profile", false, Profile, Refs::None),
            field("memberOf", true, TextList, DefaultKind("Group")),
        ],
    },
    Kind {
        name: "Resource",
        fields: &[
            field("type", true, Text, Refs::None),
            OWNER,
            DEPENDS_ON,
            SYSTEM,
            DEPENDENCY_OF,
        ],
    },
    Kind {
        name: "System",
        fields: &[
            OWNER,
            field("domain", false, Text, DefaultKind("Domain")),
            field("type", false, Text, Refs::None),
        ],
    },
    Kind {
        name: "Domain",
        fields: &[
            OWNER,
            field("subdomainOf", false, Text, DefaultKind("Domain")),
            field("type", false, Text, Refs::None),
        ],
    },
    Kind {
        name: "Location",
        fields: &[
            field("type", false, Text, Refs::None),
            field("target", false, Text, Refs::None),
            field("targets", false, TextList, Refs::None),
            field(
                "presence",
                false,
                OneOf(&["required", "optional"]),
                Refs::None,
            ),
        ],
    },
];

/// Checks `spec` against the rules of the entity's kind; returns whether
/// the kind was one Weir knows. The envelope's own problems with
/// `apiVersion` or `kind` are reported elsewhere.
pub(super) fn check(root: &Object<'_>, report: &mut Report) -> bool {
    let api_version = root.get("apiVersion").and_then(Json::as_str);
    let kind_name = root.get("kind").and_then(Json::as_str);
    let (Some(api_version), Some(kind_name)) = (api_version, kind_name) else {
        return false;
    };
    let Some(kind) = match_kind(api_version, kind_name, report) else {
        return false;
    };
    let at = FieldPath::root();
    if let Some(spec) = required(root, "spec", &at, report)
        && let Some(spec) = spec.as_object()
    {
        check_spec(kind, spec, &at.key("spec"), report);
    }
    true
}

/// The built-in kind whose rules apply. Backstage matches kind and
/// apiVersion exactly and refuses an entity no processor recognises, so a
/// built-in kind spelled in another case, or with a `backstage.io`
/// apiVersion its schema does not list, is reported here rather than
/// passed with the envelope rules only. Other apiVersion groups may reuse
/// the names freely.
fn match_kind(api_version: &str, kind_name: &str, report: &mut Report) -> Option<&'static Kind> {
    if !api_version.starts_with(GROUP) {
        return None;
    }
    let kind = KINDS
        .iter()
        .find(|kind| kind.name.eq_ignore_ascii_case(kind_name))?;
    let at = FieldPath::root();
    if kind.name != kind_name {
        report.add(
            &at.key("kind"),
            format!(
                "{} is not a {GROUP} kind; kinds are case-sensitive, did you mean {}?",
                quoted(kind_name),
                kind.name
            ),
        );
        return None;
    }
    if !VERSIONS.contains(&api_version) {
        report.add(
            &at.key("apiVersion"),
            format!(
                "{} does not define kind {}; expected {}",
                quoted(api_version),
                kind.name,
                VERSIONS.join(" or ")
            ),
        );
        return None;
    }
    Some(kind)
}

fn check_spec(kind: &Kind, spec: &Object<'_>, at: &FieldPath, report: &mut Report) {
    for field in kind.fields {
        let value = if field.required {
            required(spec, field.key, at, report)
        } else {
            spec.get(field.key)
        };
        if let Some(value) = value {
            check_field(field, value, &|| at.key(field.key), report);
        }
    }
}

/// Checks one field of `spec`; its path (and each item's) is built only to
/// report a problem.
fn check_field(field: &Field, value: &Json<'_>, at: &impl At, report: &mut Report) {
    match field.shape {
        Text => {
            if let Some(text) = expect_text(value, at, report) {
                check_ref(field.refs, text, at, report);
            }
        }
        TextList => {
            let items = expect_array(value, at, report).unwrap_or_default();
            for (index, item) in items.iter().enumerate() {
                let at = || at.path().index(index);
                if let Some(text) = expect_text(item, &at, report) {
                    check_ref(field.refs, text, &at, report);
                }
            }
        }
        OneOf(allowed) => check_one_of(value, allowed, at, report),
        Profile => check_profile(value, at, report),
        Untyped => {
            for (at, text) in untyped_refs(value, &at.path(), report) {
                check_ref(field.refs, text, &at, report);
            }
        }
    }
}

fn check_one_of(value: &Json<'_>, allowed: &[&str], at: &impl At, report: &mut Report) {
    if let Some(text) = expect_string(value, at, report)
        && !allowed.contains(&text)
    {
        report.add(
            at,
            format!(
                "{} is not allowed; expected {}",
                quoted(text),
                allowed.join(" or ")
            ),
        );
    }
}

fn check_profile(value: &Json<'_>, at: &impl At, report: &mut Report) {
    let Some(profile) = expect_object(value, at, report) else {
        return;
    };
    for key in ["displayName", "email", "picture"] {
        if let Some(value) = profile.get(key) {
            expect_text(value, &|| at.path().key(key), report);
        }
    }
}

/// The refs Backstage reads from a field its schema leaves untyped
/// (`dependencyOf`): nothing from a falsy value, else each item of
/// `[value].flat()`, where strings are parsed later, `{kind, namespace?,
/// name}` objects are refs already, and anything else fails.
fn untyped_refs<'a, 'j>(
    value: &'a Json<'j>,
    at: &FieldPath,
    report: &mut Report,
) -> Vec<(FieldPath, &'a str)> {
    match value {
        Json::Null | Json::Bool(false) => Vec::new(),
        Json::String(text) if text.is_empty() => Vec::new(),
        Json::Number(number) if number.as_f64() == Some(0.0) => Vec::new(),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| ref_item(item, at.index(index), report))
            .collect(),
        value => ref_item(value, at.clone(), report).into_iter().collect(),
    }
}

fn ref_item<'a, 'j>(
    item: &'a Json<'j>,
    at: FieldPath,
    report: &mut Report,
) -> Option<(FieldPath, &'a str)> {
    match item {
        Json::String(text) => Some((at, text)),
        Json::Object(object) if is_compound_ref(object) => None,
        other => {
            report.add(
                &at,
                format!("must be an entity ref, found {}", super::type_name(other)),
            );
            None
        }
    }
}

/// `{kind, namespace?, name}` with non-empty strings.
fn is_compound_ref(object: &Object<'_>) -> bool {
    let text = |key| {
        object
            .get(key)
            .and_then(Json::as_str)
            .is_some_and(|t| !t.is_empty())
    };
    text("kind") && text("name") && (object.get("namespace").is_none() || text("namespace"))
}

/// A ref must parse as `BuiltinKindsEntityProcessor` parses it. The
/// namespace default does not change whether it parses.
fn check_ref(refs: Refs, text: &str, at: &impl At, report: &mut Report) {
    let default_kind = match refs {
        Refs::None => return,
        DefaultKind(kind) => Some(kind),
        KindRequired => None,
    };
    if let Err(error) = EntityRef::check_with_defaults(text, default_kind, DEFAULT_NAMESPACE) {
        report.add(at, error.to_string());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::tests::{component, problems, validate_value};

    fn entity(kind: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": "a"},
            "spec": spec,
        })
    }

    fn ok(kind: &str, spec: Value) {
        let entity = entity(kind, spec);
        assert_eq!(problems(&entity), Vec::<String>::new(), "{entity}");
        assert!(validate_value(&entity).unwrap().known_kind());
    }

    fn fails(kind: &str, spec: Value, expected: &[&str]) {
        let entity = entity(kind, spec);
        assert_eq!(problems(&entity), expected, "{entity}");
    }

    #[test]
    fn components_need_type_lifecycle_and_owner() {
        ok(
            "Component",
            json!({"type": "service", "lifecycle": "production", "owner": "user:guest",
                   "system": "audio-playback", "subcomponentOf": "player",
                   "providesApis": ["petstore", "api:default/streetlights"],
                   "consumesApis": ["component:artist-lookup"],
                   "dependsOn": ["resource:artists-db"],
                   "dependencyOf": ["component:x", {"kind": "Component", "name": "y"}],
                   "anythingElse": {"is": "allowed"}}),
        );
        fails(
            "Component",
            json!({}),
            &[
                "spec.type: is required",
                "spec.lifecycle: is required",
                "spec.owner: is required",
            ],
        );
        fails(
            "Component",
            json!({"type": "", "lifecycle": 1, "owner": null, "system": "",
                   "providesApis": "petstore", "consumesApis": ["", 2]}),
            &[
                "spec.type: must not be empty",
                "spec.lifecycle: must be a string, found a number",
                "spec.owner: must be a string, found null",
                "spec.system: must not be empty",
                "spec.providesApis: must be an array, found a string",
                "spec.consumesApis[0]: must not be empty",
                "spec.consumesApis[1]: must be a string, found a number",
            ],
        );
    }

    #[test]
    fn the_built_in_kinds_need_a_spec_object() {
        let mut entity = component();
        entity.as_object_mut().unwrap().remove("spec");
        assert_eq!(problems(&entity), ["spec: is required"]);
        entity["spec"] = json!("service");
        assert_eq!(
            problems(&entity),
            ["spec: must be an object, found a string"]
        );
    }

    #[test]
    fn apis_need_a_string_definition() {
        ok(
            "API",
            json!({"type": "openapi", "lifecycle": "experimental", "owner": "team-c",
                   "definition": "openapi: 3.1.0", "system": "petstore"}),
        );
        fails(
            "API",
            json!({"type": "openapi", "lifecycle": "experimental", "owner": "team-c"}),
            &["spec.definition: is required"],
        );
        fails(
            "API",
            json!({"type": "openapi", "lifecycle": "experimental", "owner": "team-c",
                   "definition": {"$text": "./petstore.oas.yaml"}}),
            &["spec.definition: must be a string, found an object"],
        );
    }

    #[test]
    fn groups_need_type_and_children() {
        ok(
            "Group",
            json!({"type": "team", "children": [], "parent": "backstage",
                   "members": ["jdoe"], "ancestors": [], "descendants": ["x"],
                   "profile": {"email": "team-a@example.com",
                               "picture": "https://example.com/a.svg"}}),
        );
        fails(
            "Group",
            json!({"type": "team"}),
            &["spec.children: is required"],
        );
        fails(
            "Group",
            json!({"type": "team", "children": "team-b", "profile": {"displayName": ""},
                   "members": [null]}),
            &[
                "spec.profile.displayName: must not be empty",
                "spec.children: must be an array, found a string",
                "spec.members[0]: must be a string, found null",
            ],
        );
        fails(
            "Group",
            json!({"type": "team", "children": [], "profile": "Team A"}),
            &["spec.profile: must be an object, found a string"],
        );
    }

    #[test]
    fn users_need_member_of() {
        ok(
            "User",
            json!({"memberOf": ["team-a", "group:default/team-b"],
                   "profile": {"displayName": "Guest User", "email": "guest@example.com"}}),
        );
        fails("User", json!({}), &["spec.memberOf: is required"]);
        fails(
            "User",
            json!({"memberOf": "team-a"}),
            &["spec.memberOf: must be an array, found a string"],
        );
    }

    #[test]
    fn resources_systems_and_domains_need_an_owner() {
        ok(
            "Resource",
            json!({"type": "database", "owner": "team-a", "system": "artist-engagement-portal",
                   "dependsOn": ["component:x"]}),
        );
        fails(
            "Resource",
            json!({"owner": "team-a"}),
            &["spec.type: is required"],
        );
        ok(
            "System",
            json!({"owner": "team-a", "domain": "artists", "type": "feature-set"}),
        );
        fails(
            "System",
            json!({"domain": "artists"}),
            &["spec.owner: is required"],
        );
        ok(
            "Domain",
            json!({"owner": "user:frank.tiernan", "subdomainOf": "audio", "type": "product-group"}),
        );
        fails(
            "Domain",
            json!({"owner": "team-a", "type": 3}),
            &["spec.type: must be a string, found a number"],
        );
    }

    #[test]
    fn locations_have_no_required_fields() {
        ok("Location", json!({}));
        ok(
            "Location",
            json!({"type": "url", "target": "./a.yaml", "targets": ["./b.yaml"],
                   "presence": "optional"}),
        );
        fails(
            "Location",
            json!({"targets": "./a.yaml", "presence": "maybe"}),
            &[
                "spec.targets: must be an array, found a string",
                "spec.presence: \"maybe\" is not allowed; expected required or optional",
            ],
        );
    }

    #[test]
    fn relation_fields_must_hold_parseable_refs() {
        fails(
            "Component",
            json!({"type": "service", "lifecycle": "production", "owner": "group:",
                   "providesApis": ["api:/x"], "dependsOn": ["artists-db"],
                   "dependencyOf": ["x", 3, {"name": "y"}]}),
            &[
                "spec.owner: entity ref \"group:\" has an empty name; expected \
                 [<kind>:][<namespace>/]<name>",
                "spec.providesApis[0]: entity ref \"api:/x\" has an empty namespace; \
                 expected [<kind>:][<namespace>/]<name>",
                "spec.dependsOn[0]: entity ref \"artists-db\" has no kind; write it as \
                 <kind>:artists-db",
                "spec.dependencyOf[1]: must be an entity ref, found a number",
                "spec.dependencyOf[2]: must be an entity ref, found an object",
                "spec.dependencyOf[0]: entity ref \"x\" has no kind; write it as <kind>:x",
            ],
        );
    }

    #[test]
    fn untyped_dependency_of_skips_falsy_values_like_backstage() {
        let spec = |value: Value| json!({"type": "db", "owner": "team-a", "dependencyOf": value});
        for value in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!("component:x"),
            json!({"kind": "Component", "namespace": "a", "name": "x"}),
        ] {
            ok("Resource", spec(value));
        }
        fails(
            "Resource",
            spec(json!(1)),
            &["spec.dependencyOf: must be an entity ref, found a number"],
        );
        fails(
            "Resource",
            spec(json!([""])),
            &["spec.dependencyOf[0]: the entity ref is empty"],
        );
    }

    #[test]
    fn kind_names_are_case_sensitive_in_the_backstage_group() {
        let mut entity = entity("component", json!({}));
        assert_eq!(
            problems(&entity),
            [
                "kind: \"component\" is not a backstage.io/ kind; kinds are case-sensitive, \
              did you mean Component?"
            ]
        );
        entity["kind"] = json!("Api");
        assert_eq!(problems(&entity).len(), 1);
        // Elsewhere the names are free.
        entity["apiVersion"] = json!("example.com/v1");
        entity["kind"] = json!("component");
        assert!(!validate_value(&entity).unwrap().known_kind());
    }

    #[test]
    fn built_in_kinds_need_one_of_their_api_versions() {
        let mut entity = component();
        entity["apiVersion"] = json!("backstage.io/v1beta1");
        assert_eq!(problems(&entity), Vec::<String>::new());
        entity["apiVersion"] = json!("backstage.io/v2");
        assert_eq!(
            problems(&entity),
            [
                "apiVersion: \"backstage.io/v2\" does not define kind Component; expected \
              backstage.io/v1alpha1 or backstage.io/v1beta1"
            ]
        );
        // Other kinds in the group are not Weir's to judge.
        let template = json!({"apiVersion": "backstage.io/v1beta2", "kind": "Template",
                              "metadata": {"name": "a"}, "spec": {}});
        assert!(!validate_value(&template).unwrap().known_kind());
    }
}
