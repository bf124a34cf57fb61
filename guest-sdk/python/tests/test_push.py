"""Pushed events and what a handler returns."""

import pytest

from weir_guest import Entity, Error, PushEvent, PushOutcome


def test_headers_are_found_whatever_their_case() -> None:
    event = PushEvent([("X-Hub-Signature-256", "sha256=abc"), ("x-hub-signature-256", "second")], b"{}")
    assert event.header("x-hub-signature-256") == "sha256=abc"
    assert event.header("X-HUB-SIGNATURE-256") == "sha256=abc"
    assert event.header("content-type") is None


def test_the_body_parses_as_json_or_fails_fatally() -> None:
    assert PushEvent([], b'{"action": "created"}').json() == {"action": "created"}
    with pytest.raises(Error) as raised:
        PushEvent([], b"").json()
    assert raised.value.kind == "fatal"


def test_an_outcome_collects_upserts_and_removals() -> None:
    team = Entity.builder("Group", "team-a").build()
    outcome = PushOutcome().upsert(team).remove("component:default/old").remove("group:gone")
    assert outcome.upserts == [team]
    assert outcome.removals == ["component:default/old", "group:gone"]
