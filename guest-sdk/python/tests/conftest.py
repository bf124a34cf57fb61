"""Test set-up: the pure modules import as they are; the modules that talk to
the host import `wit_world`, so the bindings are generated first, and the
`host` fixture stands in for the host's config, secrets and log."""

from collections.abc import Iterator

import pytest

from weir_guest.testing import FakeHost, fake_host, install_bindings

install_bindings()


@pytest.fixture
def host() -> Iterator[FakeHost]:
    with fake_host() as fake:
        yield fake
