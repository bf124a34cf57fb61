"""The throughput source's entities, natively: both styles give the same
JSON of about 1.2 KB, and pages of 500 end at `count`."""

import json

from weir_guest.testing import fake_host

from throughput import Throughput, built, filled


def test_the_builder_and_the_template_give_the_same_entity() -> None:
    for index in (0, 7, 123456):
        assert json.loads(built(index).json) == json.loads(filled(index).json)
        assert 1150 <= len(built(index).json.encode()) <= 1350


def test_a_cycle_is_count_entities_in_pages_of_500() -> None:
    source = Throughput()
    with fake_host(config={"count": "1200", "style": "template"}):
        settings = source.open()
    pages = [source.next(settings, None)]
    while not pages[-1].done:
        pages.append(source.next(settings, pages[-1].cursor))
    assert [len(page.entities) for page in pages] == [500, 500, 200]
    assert [page.cursor for page in pages] == [500, 1000, None]
