"""Native unit tests of a source (with pytest or any runner): the component
bindings, generated once per process and put on ``sys.path``, and a fake
host behind ``config``, ``secrets`` and ``log``.

    # conftest.py
    from weir_guest.testing import install_bindings

    install_bindings()

    # test_teams.py
    from weir_guest.testing import fake_host

    def test_the_first_page() -> None:
        with fake_host(config={"base-url": "https://x.example"}) as host:
            source = Teams()
            page = source.next(source.open(), None)
        assert host.logs == [("info", "teams: open")]

Not for use inside a component: it runs componentize-py.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weir_guest.build import bindings

_installed: list[Path] = []


def install_bindings() -> Path:
    """Generate the bindings (once per process) and put them first on
    ``sys.path``, so ``weir_guest.config`` and friends import natively."""
    if not _installed:
        folder = Path(tempfile.mkdtemp(prefix="weir-guest-bindings-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        bindings(folder)
        sys.path.insert(0, str(folder))
        _installed.append(folder)
    return _installed[0]


@dataclass
class FakeHost:
    """What the host answers, and what the source logged: ``(level, message)``."""

    config: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)

    def log(self, level: Any, message: str) -> None:
        self.logs.append((level.name.lower(), message))


@contextmanager
def fake_host(
    config: dict[str, str] | None = None, secrets: dict[str, str] | None = None
) -> Iterator[FakeHost]:
    """Answer ``config``/``secrets`` look-ups from these dicts and record log
    lines while the block runs."""
    install_bindings()
    from wit_world.imports import config as host_config  # noqa: PLC0415 - importable only now
    from wit_world.imports import log as host_log  # noqa: PLC0415
    from wit_world.imports import secrets as host_secrets  # noqa: PLC0415

    host = FakeHost(dict(config or {}), dict(secrets or {}))
    patches = [
        (host_config, "get", host.config.get),
        (host_secrets, "get", host.secrets.get),
        (host_log, "log", host.log),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, replacement in patches:
        setattr(module, name, replacement)
    try:
        yield host
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
