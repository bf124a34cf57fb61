"""The entity builder and the other ways to make an entity."""

import json

import pytest

from weir_guest import ANNOTATION_LOCATION, ANNOTATION_ORIGIN_LOCATION, Entity, json_string


def test_the_builder_produces_the_backstage_envelope() -> None:
    entity = (
        Entity.builder("Component", "payments")
        .namespace("shop")
        .title("Payments")
        .description("Takes the money")
        .annotation("example.com/owner-id", "42")
        .label("tier", "gold")
        .tag("python")
        .tag("payments")
        .link("https://example.com", "Home")
        .link("https://example.com/docs", icon="docs")
        .managed_by("url:https://example.com/catalog-info.yaml")
        .spec("type", "service")
        .spec("dependsOn", ["component:default/ledger"])
        .location_key("url:https://example.com")
        .build()
    )
    value = json.loads(entity.json)
    assert list(value) == ["apiVersion", "kind", "metadata", "spec"]
    assert value["apiVersion"] == "backstage.io/v1alpha1"
    assert value["kind"] == "Component"
    metadata = value["metadata"]
    assert metadata["name"] == "payments"
    assert metadata["namespace"] == "shop"
    assert metadata["title"] == "Payments"
    assert metadata["description"] == "Takes the money"
    assert metadata["labels"] == {"tier": "gold"}
    assert metadata["tags"] == ["python", "payments"]
    assert metadata["links"] == [
        {"url": "https://example.com", "title": "Home"},
        {"url": "https://example.com/docs", "icon": "docs"},
    ]
    assert metadata["annotations"] == {
        "example.com/owner-id": "42",
        ANNOTATION_LOCATION: "url:https://example.com/catalog-info.yaml",
        ANNOTATION_ORIGIN_LOCATION: "url:https://example.com/catalog-info.yaml",
    }
    assert value["spec"] == {"type": "service", "dependsOn": ["component:default/ledger"]}
    assert entity.location_key == "url:https://example.com"


def test_a_bare_builder_has_only_a_name_and_an_empty_spec() -> None:
    entity = Entity.builder("Group", "team-a").api_version("example.com/v1").build()
    assert json.loads(entity.json) == {
        "apiVersion": "example.com/v1",
        "kind": "Group",
        "metadata": {"name": "team-a"},
        "spec": {},
    }
    assert entity.location_key is None


def test_text_is_kept_as_utf8_and_escaped_only_where_json_needs_it() -> None:
    entity = Entity.builder("Component", "c").description('ünï "q"\t\n✓').build()
    assert 'ünï \\"q\\"\\t\\n✓' in entity.json
    assert json.loads(entity.json)["metadata"]["description"] == 'ünï "q"\t\n✓'


def test_entities_from_values_and_text() -> None:
    assert Entity.from_value({"kind": "Group"}).json == '{"kind":"Group"}'
    text = '{"apiVersion": "v1", "kind": "Group"}'
    entity = Entity.from_json_text(text, location_key="k")
    assert (entity.json, entity.location_key) == (text, "k")
    moved = entity.with_location_key("other")
    assert (moved.json, moved.location_key, entity.location_key) == (text, "other", "k")
    assert Entity.from_json_text(text) == Entity(text)


def test_metadata_fields_take_their_slot_or_follow_the_others() -> None:
    entity = (
        Entity.builder("Component", "c")
        .metadata_field("title", "T")
        .metadata_field("uid", "1234")
        .metadata_field("etag", {"v": 1})
        .annotation("a", "1")
        .annotation("a", "2")
        .build()
    )
    assert json.loads(entity.json)["metadata"] == {
        "name": "c",
        "title": "T",
        "annotations": {"a": "2"},
        "uid": "1234",
        "etag": {"v": 1},
    }


def test_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        Entity.builder("Component", "c").spec("ratio", float("nan")).build()
    with pytest.raises(TypeError, match="not JSON serializable"):
        Entity.builder("Component", "c").spec("when", object()).build()


def test_json_string_quotes_text_for_hand_written_entities() -> None:
    name = 'a "b"\n'
    entity = Entity.from_json_text('{"kind":"Group","metadata":{"name":' + json_string(name) + "}}")
    assert json.loads(entity.json)["metadata"]["name"] == name
