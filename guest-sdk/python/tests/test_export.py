"""The bridge to the bindings: the burst's life cycle, cursors across the
boundary, and every failure turned into the contract's `source-error`."""

from dataclasses import dataclass

import pytest
from componentize_py_types import Err
from wit_world.exports import push as wit_push
from wit_world.imports import weir_source_types as wit

from weir_guest import Entity, Error, Page, Push, PushEvent, PushOutcome, Source, _export, _export_push
from weir_guest.testing import FakeHost


@dataclass
class Cursor:
    page: int


class Counting(Source[list[str], Cursor], Push):
    """Three pages of one entity each; config `fail` picks a failure."""

    def provider_name(self) -> str:
        return "counting"

    def open(self) -> list[str]:
        return ["opened"]

    def next(self, context: list[str], cursor: Cursor | None) -> Page[Cursor]:
        page = cursor.page if cursor else 0
        context.append(f"page {page}")
        if page == 1:
            raise Error.transient("page 1 is busy")
        if page == 9:
            raise KeyError("page 9")
        if page == 10:
            raise SystemExit(3)
        entity = Entity.builder("Component", f"c-{page}").location_key(f"k{page}").build()
        return Page.last([entity]) if page == 2 else Page.more([entity], Cursor(page + 1))

    def close(self, context: list[str]) -> None:
        context.append("closed")

    def handle(self, event: PushEvent) -> PushOutcome:
        name = event.json()["name"]
        return PushOutcome().upsert(Entity.builder("Component", name).build()).remove("component:old")


@pytest.fixture
def burst(host: FakeHost) -> _export.Burst:
    _export.bind(Counting)
    return _export.Burst.open()


def source_error(raised: pytest.ExceptionInfo[Err[wit.SourceError]]) -> wit.SourceError:
    return raised.value.value


def test_pages_carry_json_cursors_until_the_last(burst: _export.Burst) -> None:
    assert _export.SourceExport().provider_name() == "counting"
    first = burst.next(None)
    assert (first.cursor, first.done) == ('{"page":1}', False)
    assert first.entities == [wit.Entity(Entity.builder("Component", "c-0").build().json, "k0")]
    last = burst.next('{"page": 2}')
    assert (last.cursor, last.done, len(last.entities)) == (None, True, 1)


def test_errors_keep_their_kind_and_message(burst: _export.Burst) -> None:
    with pytest.raises(Err) as raised:
        burst.next('{"page": 1}')
    assert source_error(raised) == wit.SourceError_Transient("page 1 is busy")


def test_any_other_exception_is_fatal_and_its_traceback_logged(burst: _export.Burst, host: FakeHost) -> None:
    with pytest.raises(Err) as raised:
        burst.next('{"page": 9}')
    assert source_error(raised) == wit.SourceError_Fatal("KeyError in next: 'page 9'")
    level, message = host.logs[-1]
    assert level == "error"
    assert message.startswith("next raised:\nTraceback")
    assert "KeyError: 'page 9'" in message


def test_even_sys_exit_is_an_error_not_a_trap(burst: _export.Burst) -> None:
    with pytest.raises(Err) as raised:
        burst.next('{"page": 10}')
    assert source_error(raised) == wit.SourceError_Fatal("SystemExit in next: 3")


def test_a_bad_cursor_is_fatal_and_names_it(burst: _export.Burst) -> None:
    with pytest.raises(Err) as raised:
        burst.next('{"pg": 1}')
    error = source_error(raised)
    assert isinstance(error, wit.SourceError_Fatal)
    assert error.value.startswith('the stored cursor {"pg": 1} does not fit')


def test_close_runs_once_and_ends_the_burst(burst: _export.Burst) -> None:
    burst.next(None)
    burst.close()
    burst.close()
    assert burst._context == ["opened", "page 0", "closed"]
    with pytest.raises(Err) as raised:
        burst.next(None)
    assert source_error(raised) == wit.SourceError_Fatal("`next` called on a burst that was already closed")


def test_a_source_that_cannot_be_created_fails_the_build() -> None:
    class NeedsConfig(Counting):
        def __init__(self) -> None:
            raise LookupError("config read at build time")

    with pytest.raises(RuntimeError, match=r"cannot create NeedsConfig\(\) at build time"):
        _export.bind(NeedsConfig)


def test_push_events_become_upserts_and_removals(host: FakeHost) -> None:
    _export.bind(Counting)
    _export_push.bind(Counting)
    result = _export_push.PushExport().handle(wit_push.PushEvent([("X-Id", "1")], b'{"name": "new"}'))
    assert [entity.json for entity in result.upserts] == [Entity.builder("Component", "new").build().json]
    assert result.removals == ["component:old"]
    with pytest.raises(Err) as raised:
        _export_push.PushExport().handle(wit_push.PushEvent([], b"not json"))
    error = source_error(raised)
    assert isinstance(error, wit.SourceError_Fatal)
    assert error.value.startswith("the pushed body is not JSON")
