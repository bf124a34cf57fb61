"""Bridges a `Source` to the bindings componentize-py generates: the `source`
export's `provider-name` and `burst` resource, cursor (de)serialisation and
error conversion. `weir-guest build` generates the two top-level modules
componentize-py looks for (the app module, with the `Source` export class,
and `source`, with the `Burst` resource class), which take them from here.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from componentize_py_types import Err
from wit_world.imports import weir_source_types as wit

from weir_guest import log
from weir_guest.entity import Entity
from weir_guest.errors import Error
from weir_guest.source import Source

Result = TypeVar("Result")
Instance = TypeVar("Instance")

_bound: list[Source[Any, Any]] = []


def bind(source_class: type[Source[Any, Any]]) -> None:
    """Export ``source_class``. The generated app module calls it while the
    component is built, so the instance is part of the component's snapshot."""
    _bound[:] = [create(source_class)]


def create(cls: type[Instance]) -> Instance:
    """``cls()``, or a build error that says why it failed."""
    try:
        return cls()
    except Exception as error:
        raise RuntimeError(
            f"weir_guest: cannot create {cls.__name__}() at build time ({error!r}); "
            "read config and secrets in `open`, not in `__init__`"
        ) from error


def bound_source() -> Source[Any, Any]:
    """The source the generated app module bound."""
    if not _bound:
        raise RuntimeError("weir_guest: no source is bound; build with `weir-guest build`")
    return _bound[0]


def call(name: str, function: Callable[..., Result], *args: Any) -> Result:
    """``function(*args)``, with any exception turned into the contract's
    ``source-error``: an ``Error`` keeps its kind and message, anything else
    becomes fatal (its traceback logged at ``error`` level)."""
    try:
        return function(*args)
    except Error as error:
        raise_source_error(error)
    except BaseException as error:  # noqa: BLE001 - even sys.exit() must reach the host, not trap
        log.error(f"{name} raised:\n{''.join(traceback.format_exception(error)).rstrip()}")
        raise_source_error(Error.fatal(f"{type(error).__name__} in {name}: {error}"))


def raise_source_error(error: Error) -> NoReturn:
    """Raise ``error`` the way the bindings return a ``source-error``."""
    if error.is_transient:
        raise Err(wit.SourceError_Transient(error.message))
    raise Err(wit.SourceError_Fatal(error.message))


def wit_entities(entities: list[Entity]) -> list[wit.Entity]:
    return [wit.Entity(entity.json, entity.location_key) for entity in entities]


class SourceExport:
    """The ``source`` interface's functions (componentize-py's ``Source``)."""

    def provider_name(self) -> str:
        return bound_source().provider_name()


class Burst:
    """The ``burst`` resource: holds the source's context from ``open`` to ``close``."""

    def __init__(self, source: Source[Any, Any], context: Any) -> None:
        self._source = source
        self._context = context
        self._open = True

    @classmethod
    def open(cls) -> Burst:
        source = bound_source()
        return cls(source, call("open", source.open))

    def next(self, cursor: str | None) -> wit.Page:
        if not self._open:
            raise_source_error(Error.fatal("`next` called on a burst that was already closed"))
        source = self._source
        position = None if cursor is None else call("the cursor", source.decode_cursor, cursor)
        page = call("next", source.next, self._context, position)
        following = None if page.done else call("the cursor", source.encode_cursor, page.cursor)
        return wit.Page(wit_entities(page.entities), following, page.done)

    def close(self) -> None:
        if self._open:
            self._open = False
            call("close", self._source.close, self._context)
