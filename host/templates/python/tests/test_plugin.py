"""The {{name}} source's pages, natively: `pytest`."""

import json

from weir_guest.testing import fake_host

from plugin import Plugin


def test_a_cycle_pages_through_count_entities() -> None:
    source = Plugin()
    with fake_host(config={"count": "3", "per-page": "2"}) as host:
        settings = source.open()
        first = source.next(settings, None)
        last = source.next(settings, first.cursor)
        source.close(settings)
    assert (first.cursor, first.done, last.done) == (2, False, True)
    names = [json.loads(entity.json)["metadata"]["name"] for entity in first.entities + last.entities]
    assert names == ["{{name}}-0", "{{name}}-1", "{{name}}-2"]
    assert host.logs == [("info", "{{name}}: open, 3 entities"), ("info", "{{name}}: close")]
