//! The `metadata` block: the types of `EntityMeta.schema.json` and the
//! formats `FieldFormatEntityPolicy` checks (name, namespace, label and
//! annotation keys and values, tags, links). Fields not named here are free.

use super::formats::{
    ANNOTATION_KEY, LABEL_KEY, LABEL_VALUE, NAME, NAMESPACE, TAG, is_blank, is_url,
};
use super::{
    At, FieldPath, Report, expect_array, expect_object, expect_string, expect_text, quoted,
    required,
};
use crate::json::{Json, Object};

pub(super) fn check(metadata: Option<&Json<'_>>, report: &mut Report) {
    let at = FieldPath::root().key("metadata");
    let Some(metadata) = metadata else {
        report.add(&at, "is required");
        return;
    };
    let Some(metadata) = expect_object(metadata, &at, report) else {
        return;
    };
    check_identity(metadata, &at, report);
    check_texts(metadata, &at, report);
    if let Some(labels) = metadata.get("labels") {
        check_labels(labels, &|| at.key("labels"), report);
    }
    if let Some(annotations) = metadata.get("annotations") {
        check_annotations(annotations, &|| at.key("annotations"), report);
    }
    if let Some(tags) = metadata.get("tags") {
        check_tags(tags, &|| at.key("tags"), report);
    }
    if let Some(links) = metadata.get("links") {
        check_links(links, &|| at.key("links"), report);
    }
}

/// `name` is required; `namespace` may be left out (it is then `default`).
fn check_identity(metadata: &Object<'_>, at: &FieldPath, report: &mut Report) {
    if let Some(name) = required(metadata, "name", at, report) {
        let at = || at.key("name");
        if let Some(name) = expect_text(name, &at, report) {
            NAME.check(name, &at, report);
        }
    }
    if let Some(namespace) = metadata.get("namespace") {
        let at = || at.key("namespace");
        if let Some(namespace) = expect_text(namespace, &at, report) {
            NAMESPACE.check(namespace, &at, report);
        }
    }
}

/// `uid`, `etag` and `title` are non-empty strings; `description` any string.
fn check_texts(metadata: &Object<'_>, at: &FieldPath, report: &mut Report) {
    for key in ["uid", "etag", "title"] {
        if let Some(value) = metadata.get(key) {
            expect_text(value, &|| at.key(key), report);
        }
    }
    if let Some(description) = metadata.get("description") {
        expect_string(description, &|| at.key("description"), report);
    }
}

/// Keys are `[prefix/]name`; values are strings that are empty or names.
fn check_labels(labels: &Json<'_>, at: &impl At, report: &mut Report) {
    let Some(labels) = expect_object(labels, at, report) else {
        return;
    };
    for (key, value) in labels {
        let at = || at.path().key(key);
        LABEL_KEY.check(key, &at, report);
        if let Some(value) = expect_string(value, &at, report) {
            LABEL_VALUE.check(value, &at, report);
        }
    }
}

/// Keys are `[prefix/]name`; values are any strings.
fn check_annotations(annotations: &Json<'_>, at: &impl At, report: &mut Report) {
    let Some(annotations) = expect_object(annotations, at, report) else {
        return;
    };
    for (key, value) in annotations {
        let at = || at.path().key(key);
        ANNOTATION_KEY.check(key, &at, report);
        expect_string(value, &at, report);
    }
}

fn check_tags(tags: &Json<'_>, at: &impl At, report: &mut Report) {
    let tags = expect_array(tags, at, report).unwrap_or_default();
    for (index, tag) in tags.iter().enumerate() {
        let at = || at.path().index(index);
        if let Some(tag) = expect_text(tag, &at, report) {
            TAG.check(tag, &at, report);
        }
    }
}

/// Each link has a `url` that parses; `title` and `icon` are not blank,
/// `type` is not empty.
fn check_links(links: &Json<'_>, at: &impl At, report: &mut Report) {
    let links = expect_array(links, at, report).unwrap_or_default();
    for (index, link) in links.iter().enumerate() {
        let at = || at.path().index(index);
        if let Some(link) = expect_object(link, &at, report) {
            check_link(link, &at, report);
        }
    }
}

fn check_link(link: &Object<'_>, at: &impl At, report: &mut Report) {
    if let Some(url) = required(link, "url", at, report) {
        let at = || at.path().key("url");
        if let Some(url) = expect_text(url, &at, report).filter(|url| !is_url(url)) {
            report.add(&at, format!("{} is not a valid URL", quoted(url)));
        }
    }
    for key in ["title", "icon"] {
        let Some(value) = link.get(key) else {
            continue;
        };
        let at = || at.path().key(key);
        if expect_text(value, &at, report).is_some_and(is_blank) {
            report.add(&at, "must not be blank");
        }
    }
    if let Some(value) = link.get("type") {
        expect_text(value, &|| at.path().key("type"), report);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::tests::{component, problems};

    fn with_metadata(metadata: Value) -> Value {
        let mut entity = component();
        entity["metadata"] = metadata;
        entity
    }

    #[test]
    fn names_with_dots_and_underscores_are_valid() {
        for name in ["breanna.davison", "team_a", "a.b_c-d", "Artist.Lookup", "x"] {
            let entity = with_metadata(json!({"name": name}));
            assert_eq!(problems(&entity), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn names_must_follow_the_name_rule() {
        for name in [
            "invalid component",
            ".a",
            "a.",
            "_a",
            "-a",
            "a/b",
            &"a".repeat(64),
        ] {
            let found = problems(&with_metadata(json!({"name": name})));
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert!(
                found[0].starts_with(&format!(
                    "metadata.name: {} is not a valid name",
                    json!(name)
                )),
                "{found:?}"
            );
        }
    }

    #[test]
    fn name_is_a_required_non_empty_string() {
        assert_eq!(
            problems(&with_metadata(json!({}))),
            ["metadata.name: is required"]
        );
        assert_eq!(
            problems(&with_metadata(json!({"name": ""}))),
            ["metadata.name: must not be empty"]
        );
        assert_eq!(
            problems(&with_metadata(json!({"name": 42}))),
            ["metadata.name: must be a string, found a number"]
        );
        assert_eq!(
            problems(&with_metadata(json!({"name": null}))),
            ["metadata.name: must be a string, found null"]
        );
    }

    #[test]
    fn metadata_must_be_an_object() {
        let mut entity = component();
        entity["metadata"] = json!(["name"]);
        assert_eq!(
            problems(&entity),
            ["metadata: must be an object, found an array"]
        );
        entity.as_object_mut().unwrap().remove("metadata");
        assert_eq!(problems(&entity), ["metadata: is required"]);
    }

    #[test]
    fn namespaces_are_optional_dns_labels() {
        for namespace in ["default", "development", "team-a", "a--b"] {
            let entity = with_metadata(json!({"name": "a", "namespace": namespace}));
            assert_eq!(problems(&entity), Vec::<String>::new(), "{namespace}");
        }
        for namespace in ["Default", "team_a", "a.b", "-a", ""] {
            let found = problems(&with_metadata(json!({"name": "a", "namespace": namespace})));
            assert_eq!(found.len(), 1, "{namespace}: {found:?}");
            assert!(found[0].starts_with("metadata.namespace: "), "{found:?}");
        }
        assert_eq!(
            problems(&with_metadata(json!({"name": "a", "namespace": null}))),
            ["metadata.namespace: must be a string, found null"]
        );
    }

    #[test]
    fn label_keys_and_values_follow_the_name_rule_and_values_may_be_empty() {
        let entity = with_metadata(json!({"name": "a", "labels": {
            "goVersion": "go1.15.3",
            "category": "music",
            "backstage.io/custom": "ValueStuff",
            "empty": "",
            "team_a.x": "a_b.c",
        }}));
        assert_eq!(problems(&entity), Vec::<String>::new());

        let entity = with_metadata(json!({"name": "a", "labels": {
            "product_name": "Random value Generator",
            "bad key": "ok",
            "Example.com/x": "ok",
            "n": 1,
        }}));
        let found = problems(&entity);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with(
            "metadata.labels[\"Example.com/x\"]: \"Example.com/x\" is not a valid label key"
        ));
        assert!(
            found[1]
                .starts_with("metadata.labels[\"bad key\"]: \"bad key\" is not a valid label key")
        );
        assert_eq!(
            found[2],
            "metadata.labels.n: must be a string, found a number"
        );
        assert!(found[3].starts_with(
            "metadata.labels.product_name: \"Random value Generator\" is not a valid label value"
        ));
    }

    #[test]
    fn annotation_values_are_any_strings() {
        let entity = with_metadata(json!({"name": "a", "annotations": {
            "backstage.io/techdocs-ref": "url:https://github.com/x/y/tree/master",
            "docs": "https://github.com/..../tree/develop/doc",
            "empty": "",
        }}));
        assert_eq!(problems(&entity), Vec::<String>::new());

        let entity = with_metadata(json!({"name": "a", "annotations": {
            "a/b/c": "x",
            "flag": true,
        }}));
        let found = problems(&entity);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with(
            "metadata.annotations[\"a/b/c\"]: \"a/b/c\" is not a valid annotation key"
        ));
        assert_eq!(
            found[1],
            "metadata.annotations.flag: must be a string, found a boolean"
        );

        let entity = with_metadata(json!({"name": "a", "annotations": ["x"]}));
        assert_eq!(
            problems(&entity),
            ["metadata.annotations: must be an object, found an array"]
        );
    }

    #[test]
    fn tags_are_lower_case_words() {
        let entity =
            with_metadata(json!({"name": "a", "tags": ["java", "c++", "a:b", "c#", "go-lang"]}));
        assert_eq!(problems(&entity), Vec::<String>::new());

        let entity =
            with_metadata(json!({"name": "a", "tags": ["Java", "go 1.15.3", "", 3, "a--b"]}));
        let found = problems(&entity);
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found[0].starts_with("metadata.tags[0]: \"Java\" is not a valid tag; expected"));
        assert!(found[1].starts_with("metadata.tags[1]: \"go 1.15.3\" is not a valid tag"));
        assert_eq!(found[2], "metadata.tags[2]: must not be empty");
        assert_eq!(
            found[3],
            "metadata.tags[3]: must be a string, found a number"
        );
        assert!(found[4].starts_with("metadata.tags[4]: \"a--b\" is not a valid tag"));

        let entity = with_metadata(json!({"name": "a", "tags": "java"}));
        assert_eq!(
            problems(&entity),
            ["metadata.tags: must be an array, found a string"]
        );
    }

    #[test]
    fn links_need_a_parseable_url() {
        let entity = with_metadata(json!({"name": "a", "links": [
            {"url": "https://example.com/dashboard", "title": "Dashboard", "icon": "dashboard",
             "type": "runbook"},
            {"url": "http://example.com/domain/artists/"},
            {"url": "mailto:team@example.com", "extra": "allowed"},
        ]}));
        assert_eq!(problems(&entity), Vec::<String>::new());

        let entity = with_metadata(json!({"name": "a", "links": [
            {"url": "example.com"},
            {"title": "no url"},
            {"url": "https://x.io", "title": "  ", "icon": "", "type": ""},
            "https://x.io",
        ]}));
        assert_eq!(
            problems(&entity),
            [
                "metadata.links[0].url: \"example.com\" is not a valid URL",
                "metadata.links[1].url: is required",
                "metadata.links[2].title: must not be blank",
                "metadata.links[2].icon: must not be empty",
                "metadata.links[2].type: must not be empty",
                "metadata.links[3]: must be an object, found a string",
            ]
        );
    }

    #[test]
    fn title_description_uid_and_etag_have_types() {
        let entity = with_metadata(json!({"name": "a", "title": "Artist Lookup",
            "description": "", "uid": "e01199ab", "etag": "x", "anything": {"else": 1}}));
        assert_eq!(problems(&entity), Vec::<String>::new());

        let entity = with_metadata(json!({"name": "a", "title": "", "description": 3,
            "uid": "", "etag": 1}));
        assert_eq!(
            problems(&entity),
            [
                "metadata.uid: must not be empty",
                "metadata.etag: must be a string, found a number",
                "metadata.title: must not be empty",
                "metadata.description: must be a string, found a number",
            ]
        );
    }
}
