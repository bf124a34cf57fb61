"""The {{name}} source's pages, natively: `pytest`."""

import json

import pytest
from weir_guest import Error
from weir_guest.testing import fake_host

from plugin import Plugin


def test_a_cycle_pages_through_count_entities() -> None:
    source = Plugin()
    with fake_host(config={"count": "3", "page-size": "2"}) as host:
        settings = source.open()
        first = source.next(settings, None)
        last = source.next(settings, first.cursor)
        source.close(settings)
    assert (first.cursor, first.done, last.done) == (2, False, True)
    names = [json.loads(entity.json)["metadata"]["name"] for entity in first.entities + last.entities]
    assert names == ["{{name}}-0", "{{name}}-1", "{{name}}-2"]
    assert host.logs == [("info", "{{name}}: open, 3 entities"), ("info", "{{name}}: close")]


def test_a_page_size_below_one_is_a_fatal_error() -> None:
    with fake_host(config={"page-size": "0"}), pytest.raises(Error) as raised:
        Plugin().open()
    assert raised.value.kind == "fatal"
    assert "page-size" in raised.value.message
