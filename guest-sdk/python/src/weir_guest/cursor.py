"""The cursor codec: a source's typed cursor to JSON text and back.

A source names its cursor type as the second parameter of ``Source[...]``.
The codec is compiled from that type once, when the source class is created
(at build time, in the component's pre-initialisation), so an unsupported
type fails the build rather than a burst. Supported types: ``int``,
``float``, ``str``, ``bool``, ``None``, ``Any``/``object`` (any JSON value),
``list[T]``, ``dict[str, T]``, ``T | None`` and other unions, dataclasses
and ``TypedDict`` classes whose fields are themselves supported.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from weir_guest.errors import Error
from weir_guest.jsontext import encode_json as _encode

C = TypeVar("C")

#: Turns a parsed JSON value into the cursor type, or raises ValueError.
Convert = Callable[[Any], Any]


class CursorCodec(Generic[C]):
    """Encodes cursors of one type to JSON text and decodes them back."""

    def __init__(self, cursor_type: Any) -> None:
        self.cursor_type = cursor_type
        self._convert = _converter(cursor_type)

    def encode(self, cursor: C) -> str:
        """The JSON text of ``cursor``; a fatal error if it is not serialisable."""
        try:
            return _encode(_plain(cursor))
        except (TypeError, ValueError) as error:
            raise Error.fatal(f"could not serialise the next cursor {cursor!r}: {error}") from error

    def decode(self, text: str) -> C:
        """The cursor in ``text``; a fatal error naming the text if it does not fit."""
        try:
            value: C = self._convert(json.loads(text))
        except ValueError as error:
            raise Error.fatal(
                f"the stored cursor {text[:200]} does not fit this source's cursor type "
                f"{_type_name(self.cursor_type)} ({error}); reset the source to start a new cycle"
            ) from error
        return value


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, so ``json`` can encode them."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _type_name(cursor_type: Any) -> str:
    return getattr(cursor_type, "__name__", None) or repr(cursor_type)


def _converter(cursor_type: Any) -> Convert:
    """The function that checks and converts a parsed JSON value to ``cursor_type``."""
    if cursor_type in (Any, object):
        return _identity
    if cursor_type in _SCALARS:
        return _SCALARS[cursor_type]
    if dataclasses.is_dataclass(cursor_type) and isinstance(cursor_type, type):
        return _dataclass_converter(cursor_type)
    if typing.is_typeddict(cursor_type):
        return _typeddict_converter(cursor_type)
    origin, args = typing.get_origin(cursor_type), typing.get_args(cursor_type)
    if origin in (list, dict) or cursor_type in (list, dict):
        return _container_converter(origin or cursor_type, args)
    if origin not in (typing.Union, types.UnionType):
        raise TypeError(f"weir_guest: cannot use {cursor_type!r} as a cursor type")
    return _union_converter([_converter(arg) for arg in args])


def _identity(value: Any) -> Any:
    return value


def _exactly(expected: type, description: str) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not expected:
            raise ValueError(f"expected {description}, got {_encode(value)}")
        return value

    return convert


def _integer(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {_encode(value)}")
    return value


def _number(value: Any) -> float:
    if type(value) not in (int, float):
        raise ValueError(f"expected a number, got {_encode(value)}")
    return float(value)


#: Converters for the scalar cursor types.
_SCALARS: dict[Any, Convert] = {
    None: _exactly(type(None), "null"),
    type(None): _exactly(type(None), "null"),
    bool: _exactly(bool, "true or false"),
    int: _integer,
    float: _number,
    str: _exactly(str, "a string"),
}


def _container_converter(origin: Any, args: tuple[Any, ...]) -> Convert:
    if origin is list:
        item = _converter(args[0]) if args else _identity

        def convert_list(value: Any) -> list[Any]:
            if not isinstance(value, list):
                raise ValueError(f"expected an array, got {_encode(value)}")
            return [item(element) for element in value]

        return convert_list
    entry = _converter(args[1]) if args else _identity

    def convert_dict(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {_encode(value)}")
        return {key: entry(element) for key, element in value.items()}

    return convert_dict


def _union_converter(options: list[Convert]) -> Convert:
    def convert(value: Any) -> Any:
        reasons = []
        for option in options:
            try:
                return option(value)
            except ValueError as error:
                reasons.append(str(error))
        raise ValueError(" or ".join(reasons))

    return convert


def _fields_converter(
    cursor_type: type, required: set[str], build: Callable[[dict[str, Any]], Any]
) -> Convert:
    """A converter for an object with typed fields (a dataclass or a TypedDict)."""
    fields = {name: _converter(hint) for name, hint in typing.get_type_hints(cursor_type).items()}

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {_encode(value)}")
        missing = sorted(required - value.keys())
        if missing:
            raise ValueError(f"missing field {', '.join(missing)}")
        unknown = sorted(value.keys() - fields.keys())
        if unknown:
            raise ValueError(f"unknown field {', '.join(unknown)}")
        try:
            return build({key: fields[key](element) for key, element in value.items()})
        except ValueError as error:
            raise ValueError(f"in {cursor_type.__name__}: {error}") from error

    return convert


def _dataclass_converter(cursor_type: type) -> Convert:
    required = {
        field.name
        for field in dataclasses.fields(cursor_type)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    }
    return _fields_converter(cursor_type, required, lambda values: cursor_type(**values))


def _typeddict_converter(cursor_type: type) -> Convert:
    required = set(getattr(cursor_type, "__required_keys__", frozenset()))
    return _fields_converter(cursor_type, required, dict)
