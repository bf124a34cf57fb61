"""Typed cursors: JSON text out, the source's own type back in."""

from dataclasses import dataclass
from typing import Any, TypedDict

import pytest

from weir_guest import Error, Page, Source
from weir_guest.cursor import CursorCodec


@dataclass
class Position:
    phase: str
    offset: int = 0


class Continuation(TypedDict):
    token: str
    seen: list[int]


@pytest.mark.parametrize(
    ("cursor_type", "cursor", "text"),
    [
        (int, 7, "7"),
        (str, "ab\u00e9", '"ab\u00e9"'),
        (bool, True, "true"),
        (float, 0.5, "0.5"),
        (list[int], [1, 2], "[1,2]"),
        (dict[str, int], {"a": 1}, '{"a":1}'),
        (Position, Position("teams", 40), '{"phase":"teams","offset":40}'),
        (Continuation, {"token": "t", "seen": [3]}, '{"token":"t","seen":[3]}'),
        (int | None, None, "null"),
        (Any, {"free": ["form", 1]}, '{"free":["form",1]}'),
    ],
)
def test_cursors_round_trip_through_compact_json(cursor_type: Any, cursor: Any, text: str) -> None:
    codec: CursorCodec[Any] = CursorCodec(cursor_type)
    assert codec.encode(cursor) == text
    assert codec.decode(text) == cursor


def test_a_dataclass_field_with_a_default_may_be_missing() -> None:
    assert CursorCodec(Position).decode('{"phase": "projects"}') == Position("projects", 0)


@pytest.mark.parametrize(
    ("cursor_type", "text", "reason"),
    [
        (int, '"7"', 'expected an integer, got "7"'),
        (int, "true", "expected an integer, got true"),
        (int, "{not json", "Expecting property name"),
        (Position, '{"offset": 1}', "missing field phase"),
        (Position, '{"phase": "x", "extra": 1}', "unknown field extra"),
        (Position, '{"phase": 3}', "in Position: expected a string, got 3"),
        (Continuation, '{"token": "t", "seen": ["x"]}', 'expected an integer, got "x"'),
        (list[int], '{"a": 1}', 'expected an array, got {"a":1}'),
    ],
)
def test_a_cursor_that_does_not_fit_is_a_fatal_error_naming_it(
    cursor_type: Any, text: str, reason: str
) -> None:
    with pytest.raises(Error) as raised:
        CursorCodec(cursor_type).decode(text)
    assert raised.value.kind == "fatal"
    assert f"the stored cursor {text} does not fit" in raised.value.message
    assert reason in raised.value.message
    assert "reset the source" in raised.value.message


def test_a_cursor_that_cannot_be_serialised_is_fatal() -> None:
    with pytest.raises(Error, match="could not serialise the next cursor"):
        codec: CursorCodec[Any] = CursorCodec(Any)
        codec.encode({1, 2})


def test_an_unsupported_cursor_type_fails_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="as a cursor type"):

        class Bad(Source[None, set[int]]):
            def provider_name(self) -> str:
                return "bad"

            def open(self) -> None:
                return None

            def next(self, context: None, cursor: set[int] | None) -> Page[set[int]]:
                return Page.last([])


class Paged(Source[None, Position]):
    def provider_name(self) -> str:
        return "paged"

    def open(self) -> None:
        return None

    def next(self, context: None, cursor: Position | None) -> Page[Position]:
        return Page.last([])


class Renamed(Paged):
    """A subclass keeps its parent's cursor type."""


def test_a_source_reads_its_cursor_type_from_its_base() -> None:
    assert Paged.cursor_codec.cursor_type is Position
    assert Renamed.cursor_codec.cursor_type is Position
    source = Renamed()
    assert source.decode_cursor(source.encode_cursor(Position("a", 1))) == Position("a", 1)


def test_pages_say_whether_more_follow() -> None:
    assert Page.more([], 3) == Page([], 3, False)
    assert Page.last([]) == Page([], None, True)
