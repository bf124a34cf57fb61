"""The `Source` base class: what Weir calls, burst after burst."""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from weir_guest.cursor import CursorCodec
from weir_guest.page import Page

Context = TypeVar("Context")
Cursor = TypeVar("Cursor")


class Source(ABC, Generic[Context, Cursor]):
    """A data source. Subclass ``Source[Context, Cursor]`` and name the class
    in ``pyproject.toml`` (``[tool.weir-guest] source = "module:Class"``).

    ``Context`` is what one burst needs (a client, a token, settings read
    from config); ``Cursor`` is where the next page starts: any JSON-shaped
    type (``int``, ``str``, a dataclass, a ``TypedDict``, ...). The SDK
    stores it as JSON text and hands it back typed; a stored cursor that
    does not fit the type is a fatal error naming it.

    A burst is ``open``, then ``next`` as often as the host's burst length
    allows, then ``close``. Nothing survives between bursts except the
    cursor: the next burst may run in another process, so keep everything
    needed to resume in the cursor. The class is instantiated once, with no
    arguments, when the component is built: read config and secrets in
    ``open``, not in ``__init__``.
    """

    #: Encodes and decodes this source's cursors; set for each subclass.
    cursor_codec: ClassVar[CursorCodec[Any]] = CursorCodec(Any)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.cursor_codec = CursorCodec(cursor_type_of(cls))

    @abstractmethod
    def provider_name(self) -> str:
        """The source's stable, unique name. Cursors and entities are stored
        under it: changing it makes Weir treat the plugin as a new source."""

    @abstractmethod
    def open(self) -> Context:
        """Set-up for one burst: returns the burst's context."""

    @abstractmethod
    def next(self, context: Context, cursor: Cursor | None) -> Page[Cursor]:
        """One page after ``cursor`` (``None`` on the first page of a cycle).
        It must be safe to repeat: a failed burst is retried from the last
        stored cursor."""

    def close(self, context: Context) -> None:
        """Tear-down at the end of a burst, also after a failed ``next``."""

    def decode_cursor(self, text: str) -> Cursor:
        """The cursor in the JSON text the host stored. Override it to read
        cursors your own way; raise ``Error.fatal`` for one that does not fit."""
        cursor: Cursor = self.cursor_codec.decode(text)
        return cursor

    def encode_cursor(self, cursor: Cursor) -> str:
        """The JSON text of ``cursor``, for the host to store."""
        return self.cursor_codec.encode(cursor)


def cursor_type_of(source_class: type) -> Any:
    """The ``Cursor`` argument of the ``Source[Context, Cursor]`` that
    ``source_class`` derives from (``Any`` when it is not given)."""
    for klass in source_class.__mro__:
        for base in klass.__dict__.get("__orig_bases__", ()):
            if typing.get_origin(base) is Source:
                cursor_type = typing.get_args(base)[1]
                return Any if isinstance(cursor_type, TypeVar) else cursor_type
    return Any
