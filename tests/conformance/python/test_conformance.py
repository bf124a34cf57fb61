"""The conformance source's logic, natively, against the spec in
tests/conformance/README.md (the host's suite runs the component)."""

import json
from typing import Any

import pytest
from weir_guest import Error, PushEvent
from weir_guest.testing import fake_host

from conformance import Conformance, PageCursor


def spec_entity(index: int, page: int) -> dict[str, Any]:
    """The entity numbered ``index`` exactly as the README writes it."""
    location = f"url:https://conformance.example/entities/{index}"
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": f"conformance-{index}",
            "namespace": "default",
            "title": f"Conformance {index}",
            "description": f'Entity "{index}" of the conformance source: ünïcødé ✓, a tab\tand a newline\n.',
            "tags": ["conformance", f"page-{page}"],
            "labels": {"weir.dev/index": str(index)},
            "annotations": {
                "backstage.io/managed-by-location": location,
                "backstage.io/managed-by-origin-location": location,
            },
        },
        "spec": {
            "type": "service",
            "lifecycle": "production",
            "owner": "group:default/conformance",
            "index": index,
            "even": index % 2 == 0,
            "ratio": index / 4,
            "dependsOn": [f"component:default/conformance-{index - 1}"] if index > 0 else [],
        },
    }


def test_a_cycle_is_three_pages_of_two_by_default() -> None:
    source = Conformance()
    with fake_host() as host:
        settings = source.open()
        pages = [source.next(settings, None)]
        while not pages[-1].done:
            cursor = source.decode_cursor(source.encode_cursor(pages[-1].cursor))  # type: ignore[arg-type]
            pages.append(source.next(settings, cursor))
        source.close(settings)
    assert [page.cursor for page in pages] == [PageCursor(1), PageCursor(2), None]
    assert source.encode_cursor(PageCursor(1)) == '{"page":1}'
    entities = [entity for page in pages for entity in page.entities]
    for index, entity in enumerate(entities):
        assert json.loads(entity.json) == spec_entity(index, index // 2)
        assert entity.location_key == f"conformance:{index}"
    assert '"ratio":1,' in entities[4].json
    assert host.logs == [
        ("info", "conformance: open (no token)"),
        ("debug", "conformance: page 0"),
        ("debug", "conformance: page 1"),
        ("debug", "conformance: page 2"),
        ("info", "conformance: close"),
    ]


def test_next_is_a_pure_function_of_its_cursor() -> None:
    source = Conformance()
    with fake_host(config={"pages": "4", "per-page": "3"}, secrets={"token": "t"}) as host:
        settings = source.open()
        cursor = source.decode_cursor('{"page": 2}')
        first, again = source.next(settings, cursor), source.next(settings, cursor)
    assert [e.json for e in first.entities] == [e.json for e in again.entities]
    assert [json.loads(e.json)["spec"]["index"] for e in first.entities] == [6, 7, 8]
    assert first.cursor == PageCursor(3)
    assert host.logs[0] == ("info", "conformance: open (token present)")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"pages": "0"}, 'conformance: config `pages`: expected a number from 1 to 1000, got "0"'),
        ({"per-page": "x"}, 'conformance: config `per-page`: expected a number from 0 to 1000, got "x"'),
        (
            {"transient-at": "-1"},
            'conformance: config `transient-at`: expected a number from 0 to 999, got "-1"',
        ),
        ({"pages": "+1"}, 'conformance: config `pages`: expected a number from 1 to 1000, got "+1"'),
        (
            {"pages": "9" * 5000},
            f'conformance: config `pages`: expected a number from 1 to 1000, got "{"9" * 5000}"',
        ),
        # Every key is checked, in the README's order, before fail-open acts.
        (
            {"fail-close": "sometimes", "fail-open": "fatal", "per-page": "x"},
            'conformance: config `per-page`: expected a number from 0 to 1000, got "x"',
        ),
        (
            {"fail-close": "sometimes", "fail-open": "fatal"},
            'conformance: config `fail-close`: expected transient or fatal, got "sometimes"',
        ),
        ({"fail-open": "fatal"}, "conformance: open failed"),
    ],
)
def test_open_fails_fatally_on_bad_config_or_on_demand(config: dict[str, str], message: str) -> None:
    with fake_host(config=config), pytest.raises(Error) as raised:
        Conformance().open()
    assert (raised.value.kind, raised.value.message) == ("fatal", message)


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        ({"transient-at": "1"}, "transient", "conformance: transient at page 1"),
        ({"fatal-at": "1"}, "fatal", "conformance: fatal at page 1"),
    ],
)
def test_a_page_fails_on_demand_after_logging(config: dict[str, str], kind: str, message: str) -> None:
    source = Conformance()
    with fake_host(config=config) as host, pytest.raises(Error) as raised:
        source.next(source.open(), PageCursor(1))
    assert (raised.value.kind, raised.value.message) == (kind, message)
    assert host.logs[-1] == ("debug", "conformance: page 1")


@pytest.mark.parametrize("text", ["nope", "[1]", '{"page": "1"}', '{"page": 1.0}', '{"page": 1, "x": 2}'])
def test_a_cursor_that_is_not_a_page_object_is_a_bad_cursor(text: str) -> None:
    with pytest.raises(Error) as raised:
        Conformance().decode_cursor(text)
    assert (raised.value.kind, raised.value.message) == ("fatal", f"conformance: bad cursor: {text}")


def test_a_page_outside_the_cycle_is_a_bad_cursor() -> None:
    source = Conformance()
    with fake_host(), pytest.raises(Error, match=r'^fatal: conformance: bad cursor: \{"page":  3\}$'):
        source.next(source.open(), source.decode_cursor('{"page":  3}'))


def test_close_fails_on_demand() -> None:
    source = Conformance()
    with fake_host(config={"fail-close": "transient"}), pytest.raises(Error) as raised:
        source.close(source.open())
    assert (raised.value.kind, raised.value.message) == ("transient", "conformance: close failed")


def test_a_push_upserts_and_removes_the_numbered_entities() -> None:
    body = b'{"upsert": [0, 5], "remove": [3]}'
    with fake_host(config={"per-page": "2"}):
        outcome = Conformance().handle(PushEvent([("Content-Type", "application/json")], body))
    assert [json.loads(e.json) for e in outcome.upserts] == [spec_entity(0, 0), spec_entity(5, 2)]
    assert outcome.removals == ["component:default/conformance-3"]


def test_a_push_fails_transiently_on_demand_before_reading_the_body() -> None:
    with fake_host(), pytest.raises(Error) as raised:
        Conformance().handle(PushEvent([("X-Conformance-Fail", "transient")], b"not json"))
    assert (raised.value.kind, raised.value.message) == ("transient", "conformance: push failed")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"upsert": [-1]}',
        b'{"upsert": [1000000]}',
        b'{"upsert": null}',
        b'{"remove": ["a"]}',
        b'{"other": []}',
    ],
)
def test_a_push_body_that_is_not_valid_is_fatal(body: bytes) -> None:
    with fake_host(), pytest.raises(Error) as raised:
        Conformance().handle(PushEvent([], body))
    assert raised.value.kind == "fatal"
    assert raised.value.message.startswith("conformance: push body is not valid: ")


def test_a_push_checks_the_config_as_open_does() -> None:
    with fake_host(config={"pages": "x"}), pytest.raises(Error) as raised:
        Conformance().handle(PushEvent([], b"{}"))
    assert (raised.value.kind, raised.value.message) == (
        "fatal",
        'conformance: config `pages`: expected a number from 1 to 1000, got "x"',
    )
