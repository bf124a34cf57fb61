//! The root of an entity: which fields it may have (`Entity.schema.json`,
//! `NoForeignRootFieldsEntityPolicy`), `apiVersion` and `kind`
//! (`FieldFormatEntityPolicy`), the type of `spec`, and the shapes of
//! `relations` and `status` (`shared/common.schema.json`).

use super::formats::{API_VERSION, KIND};
use super::{FieldPath, Report, expect_array, expect_object, expect_string, expect_text, required};
use crate::json::{Json, Object};

/// The root fields an entity may have. Backstage's schema has all six;
/// its `NoForeignRootFieldsEntityPolicy` allows only the first four in
/// catalog files, but Weir accepts `relations` and `status` as well.
const ROOT_FIELDS: [&str; 6] = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "relations",
    "status",
];

const STATUS_LEVELS: [&str; 3] = ["info", "warning", "error"];

pub(super) fn check(root: &Object<'_>, report: &mut Report) {
    let at = FieldPath::root();
    check_root_fields(root, report);
    if let Some(value) = required(root, "apiVersion", &at, report) {
        check_format_field(value, &at.key("apiVersion"), &API_VERSION, report);
    }
    if let Some(value) = required(root, "kind", &at, report) {
        check_format_field(value, &at.key("kind"), &KIND, report);
    }
    if let Some(spec) = root.get("spec") {
        expect_object(spec, &at.key("spec"), report);
    }
    if let Some(relations) = root.get("relations") {
        check_relations(relations, &at.key("relations"), report);
    }
    if let Some(status) = root.get("status") {
        check_status(status, &at.key("status"), report);
    }
}

fn check_root_fields(root: &Object<'_>, report: &mut Report) {
    for key in root.keys().filter(|key| !ROOT_FIELDS.contains(key)) {
        report.add(
            &FieldPath::root().key(key),
            "is not a root field of an entity; expected apiVersion, kind, metadata, spec, \
             relations or status",
        );
    }
}

fn check_format_field(
    value: &Json<'_>,
    at: &FieldPath,
    format: &super::formats::Format,
    report: &mut Report,
) {
    if let Some(text) = expect_text(value, at, report) {
        format.check(text, at, report);
    }
}

/// `common#relation`: `{type, targetRef, target?}` and nothing else.
fn check_relations(relations: &Json<'_>, at: &FieldPath, report: &mut Report) {
    let items = expect_array(relations, at, report).unwrap_or_default();
    for (index, relation) in items.iter().enumerate() {
        let at = at.index(index);
        if let Some(relation) = expect_object(relation, &at, report) {
            check_relation(relation, &at, report);
        }
    }
}

fn check_relation(relation: &Object<'_>, at: &FieldPath, report: &mut Report) {
    if let Some(value) = required(relation, "type", at, report) {
        let at = at.key("type");
        let is_word = |text: &str| text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if let Some(text) = expect_text(value, &at, report).filter(|text| !is_word(text)) {
            report.add(
                &at,
                format!(
                    "{} is not a relation type; expected letters, digits and _",
                    super::quoted(text)
                ),
            );
        }
    }
    if let Some(value) = required(relation, "targetRef", at, report) {
        expect_text(value, &at.key("targetRef"), report);
    }
    if let Some(target) = relation.get("target") {
        check_reference(target, &at.key("target"), report);
    }
    for key in relation.keys() {
        if !["type", "targetRef", "target"].contains(&key) {
            report.add(
                &at.key(key),
                "is not a field of a relation; expected type, targetRef or target",
            );
        }
    }
}

/// `common#reference`: the deprecated `{kind, namespace, name}` target.
fn check_reference(target: &Json<'_>, at: &FieldPath, report: &mut Report) {
    let Some(target) = expect_object(target, at, report) else {
        return;
    };
    for key in ["kind", "namespace", "name"] {
        if let Some(value) = required(target, key, at, report) {
            expect_text(value, &at.key(key), report);
        }
    }
    for key in target.keys() {
        if !["kind", "namespace", "name"].contains(&key) {
            report.add(
                &at.key(key),
                "is not a field of a reference; expected kind, namespace or name",
            );
        }
    }
}

/// `common#status`: an object whose optional `items` are status items.
fn check_status(status: &Json<'_>, at: &FieldPath, report: &mut Report) {
    let Some(status) = expect_object(status, at, report) else {
        return;
    };
    let Some(items) = status.get("items") else {
        return;
    };
    let at = at.key("items");
    for (index, item) in expect_array(items, &at, report)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let at = at.index(index);
        if let Some(item) = expect_object(item, &at, report) {
            check_status_item(item, &at, report);
        }
    }
}

/// `common#statusItem`: `{type, level, message, error?}`, more allowed.
fn check_status_item(item: &Object<'_>, at: &FieldPath, report: &mut Report) {
    if let Some(value) = required(item, "type", at, report) {
        expect_text(value, &at.key("type"), report);
    }
    if let Some(value) = required(item, "level", at, report) {
        let at = at.key("level");
        if let Some(level) = expect_string(value, &at, report)
            && !STATUS_LEVELS.contains(&level)
        {
            report.add(
                &at,
                format!(
                    "{} is not a status level; expected info, warning or error",
                    super::quoted(level)
                ),
            );
        }
    }
    if let Some(value) = required(item, "message", at, report) {
        expect_string(value, &at.key("message"), report);
    }
    if let Some(error) = item.get("error") {
        check_error(error, &at.key("error"), report);
    }
}

/// `common#error`: `{name, message, code?, stack?}`, more allowed.
fn check_error(error: &Json<'_>, at: &FieldPath, report: &mut Report) {
    let Some(error) = expect_object(error, at, report) else {
        return;
    };
    if let Some(value) = required(error, "name", at, report) {
        expect_text(value, &at.key("name"), report);
    }
    if let Some(value) = required(error, "message", at, report) {
        expect_string(value, &at.key("message"), report);
    }
    for key in ["code", "stack"] {
        if let Some(value) = error.get(key) {
            expect_string(value, &at.key(key), report);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{component, problems};

    #[test]
    fn relations_and_status_are_accepted_at_the_root() {
        let mut entity = component();
        entity["relations"] = json!([
            {"type": "ownedBy", "targetRef": "group:default/team-a"},
            {"type": "partOf", "targetRef": "system:default/x",
             "target": {"kind": "system", "namespace": "default", "name": "x"}},
        ]);
        entity["status"] = json!({"items": [
            {"type": "backstage.io/catalog-processing", "level": "error", "message": "",
             "error": {"name": "InputError", "message": "boom", "stack": "at x"}, "extra": 1},
        ], "other": true});
        assert_eq!(problems(&entity), Vec::<String>::new());
    }

    #[test]
    fn other_root_fields_are_refused() {
        let mut entity = component();
        entity["specs"] = json!({});
        entity["Kind"] = json!("Component");
        assert_eq!(
            problems(&entity),
            [
                "Kind: is not a root field of an entity; expected apiVersion, kind, metadata, \
                 spec, relations or status",
                "specs: is not a root field of an entity; expected apiVersion, kind, metadata, \
                 spec, relations or status",
            ]
        );
    }

    #[test]
    fn api_version_kind_and_metadata_are_required() {
        assert_eq!(
            problems(&json!({})),
            [
                "apiVersion: is required",
                "kind: is required",
                "metadata: is required"
            ]
        );
    }

    #[test]
    fn api_version_and_kind_must_be_well_formed_strings() {
        let entity = json!({"apiVersion": "1.0", "kind": "My Kind", "metadata": {"name": "a"}});
        let found = problems(&entity);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("apiVersion: \"1.0\" is not a valid apiVersion; expected"));
        assert!(found[1].starts_with("kind: \"My Kind\" is not a valid kind; expected"));

        let entity = json!({"apiVersion": 1, "kind": "", "metadata": {"name": "a"}});
        assert_eq!(
            problems(&entity),
            [
                "apiVersion: must be a string, found a number",
                "kind: must not be empty"
            ]
        );
    }

    #[test]
    fn unknown_kinds_get_the_envelope_rules_only() {
        let entity = json!({
            "apiVersion": "scaffolder.backstage.io/v1beta3",
            "kind": "Template",
            "metadata": {"name": "notifications-demo"},
            "spec": {"anything": ["goes"]},
        });
        let valid = super::super::tests::validate_value(&entity).unwrap();
        assert!(!valid.known_kind());
        let without_spec = json!({"apiVersion": "example.com/v1", "kind": "Thing",
                                  "metadata": {"name": "a"}});
        assert_eq!(problems(&without_spec), Vec::<String>::new());
    }

    #[test]
    fn spec_must_be_an_object_when_present() {
        let entity = json!({"apiVersion": "example.com/v1", "kind": "Thing",
                            "metadata": {"name": "a"}, "spec": []});
        assert_eq!(
            problems(&entity),
            ["spec: must be an object, found an array"]
        );
    }

    #[test]
    fn relations_must_match_the_schema() {
        let mut entity = component();
        entity["relations"] = json!([
            {"type": "owned-by", "targetRef": ""},
            {"targetRef": "x", "extra": 1},
            {"type": "a", "targetRef": "x", "target": {"kind": "k", "name": "n"}},
            "ownedBy",
        ]);
        assert_eq!(
            problems(&entity),
            [
                "relations[0].type: \"owned-by\" is not a relation type; expected letters, \
                 digits and _",
                "relations[0].targetRef: must not be empty",
                "relations[1].type: is required",
                "relations[1].extra: is not a field of a relation; expected type, targetRef \
                 or target",
                "relations[2].target.namespace: is required",
                "relations[3]: must be an object, found a string",
            ]
        );
        entity["relations"] = json!({});
        assert_eq!(
            problems(&entity),
            ["relations: must be an array, found an object"]
        );
    }

    #[test]
    fn status_items_must_match_the_schema() {
        let mut entity = component();
        entity["status"] = json!({"items": [
            {"type": "", "level": "fatal"},
            {"type": "t", "level": "info", "message": "m", "error": {"name": "E"}},
        ]});
        assert_eq!(
            problems(&entity),
            [
                "status.items[0].type: must not be empty",
                "status.items[0].level: \"fatal\" is not a status level; expected info, \
                 warning or error",
                "status.items[0].message: is required",
                "status.items[1].error.message: is required",
            ]
        );
        entity["status"] = json!("ok");
        assert_eq!(
            problems(&entity),
            ["status: must be an object, found a string"]
        );
    }
}
