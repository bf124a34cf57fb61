"""http-pages-py's mapping and URLs, natively (the component is checked with
`weir run` against a local server; see README.md)."""

import json

import pytest
from weir_guest import Error
from weir_guest.testing import fake_host

from http_pages import HttpPages, Settings
from http_pages.mapping import Mapping, resolve


def mapping(**config: str) -> Mapping:
    return Mapping.from_config(config.get)


def test_items_become_entities_and_the_cursor_is_read() -> None:
    configured = mapping(
        **{
            "items-pointer": "/data/nodes",
            "next-pointer": "/data/pageInfo/endCursor",
            "owner-field": "/team/slug",
            "default-lifecycle": "experimental",
        }
    )
    body = {
        "data": {
            "nodes": [{"name": "svc-a", "team": {"slug": "core"}, "type": "service", "description": "A"}],
            "pageInfo": {"endCursor": "Y3Vy"},
        }
    }
    entities, after = configured.page(body, "url:http://x.y")
    assert after == "Y3Vy"
    entity = json.loads(entities[0].json)
    assert entity["kind"] == "Component"
    assert entity["metadata"]["name"] == "svc-a"
    assert entity["metadata"]["description"] == "A"
    assert entity["metadata"]["annotations"]["backstage.io/managed-by-location"] == "url:http://x.y"
    assert entity["spec"] == {"owner": "core", "type": "service", "lifecycle": "experimental"}

    assert configured.page({"data": {"nodes": []}}, "l") == ([], None)
    with pytest.raises(ValueError, match="item 0: no name at `/name`"):
        configured.page({"data": {"nodes": [{"id": 1}]}}, "l")


def test_numbers_are_text_and_empty_or_missing_next_ends_the_cycle() -> None:
    configured = mapping()
    entities, after = configured.page({"items": [{"name": 42, "title": ""}], "next": 7}, "l")
    assert json.loads(entities[0].json)["metadata"] == {
        "name": "42",
        "annotations": {
            "backstage.io/managed-by-location": "l",
            "backstage.io/managed-by-origin-location": "l",
        },
    }
    assert after == "7"
    assert configured.page({"next": ""}, "l") == ([], None)
    with pytest.raises(ValueError, match="`/items` is not an array"):
        configured.page({"items": {}}, "l")
    with pytest.raises(ValueError, match="`/next` is not a string or number"):
        configured.page({"next": True}, "l")


def test_json_pointers_follow_rfc_6901() -> None:
    document = {"a/b": {"m~n": [10, 20]}}
    assert resolve(document, "/a~1b/m~0n/1") == 20
    assert resolve(document, "") is document
    assert resolve(document, "/a~1b/m~0n/5") is None
    assert resolve(document, "/missing/deeper") is None


def test_pointers_must_be_pointers() -> None:
    with pytest.raises(Error, match="config `items-pointer`"):
        mapping(**{"items-pointer": "items"})


def test_urls_carry_the_page_size_and_the_cursor() -> None:
    settings = Settings("http://x.y/items?org=a", "after", ("limit", 50), None, mapping())
    assert settings.url(None) == "http://x.y/items?org=a&limit=50"
    assert settings.url("a b/=") == "http://x.y/items?org=a&limit=50&after=a%20b%2F%3D"


def test_open_reads_and_checks_the_config() -> None:
    config = {"base-url": "https://api.example.com/v1", "page-size-param": "limit", "page-size": "25"}
    with fake_host(config=config, secrets={"token": "t"}):
        settings = HttpPages().open()
    assert (settings.page_size, settings.cursor_param, settings.token) == (("limit", 25), "cursor", "t")
    with fake_host(config={"base-url": "ftp://x"}), pytest.raises(Error, match="expected an http"):
        HttpPages().open()
    with fake_host(), pytest.raises(Error, match="config `base-url` is required"):
        HttpPages().open()
