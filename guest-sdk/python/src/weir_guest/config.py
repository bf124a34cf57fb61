"""The source's configuration values, as the operator set them for it
(``[sources.NAME.config]`` in weir.toml)."""

import json
from collections.abc import Callable
from typing import TypeVar, cast

from wit_world.imports import config as host_config

from weir_guest.errors import Error

Value = TypeVar("Value", str, int, float, bool)


def get(key: str) -> str | None:
    """The value for ``key``, or ``None`` when it is not set."""
    return host_config.get(key)


def require(key: str) -> str:
    """The value for ``key``, or a fatal error naming the key when it is not set."""
    value = get(key)
    if value is None:
        raise Error.fatal(f"config `{key}` is required but not set")
    return value


def get_or(key: str, default: Value) -> Value:
    """The value for ``key`` parsed as the type of ``default`` (``str``,
    ``int``, ``float`` or ``bool``: ``true``/``false``), or ``default`` when
    it is not set. A value that does not parse is a fatal error naming the
    key and the value."""
    text = get(key)
    if text is None:
        return default
    return parse(key, text, type(default))


def parse(key: str, text: str, as_type: type[Value]) -> Value:
    """``text``, the value of config ``key``, as ``as_type``."""
    read, expected = _PARSERS[as_type]
    try:
        return cast(Value, read(text))
    except (KeyError, ValueError):
        raise Error.fatal(
            f"config `{key}`: cannot use {json.dumps(text, ensure_ascii=False)}: expected {expected}"
        ) from None


def _boolean(text: str) -> bool:
    return {"true": True, "false": False}[text.strip().lower()]


#: For each type ``get_or`` parses: the parser, and what it expects.
_PARSERS: dict[type, tuple[Callable[[str], object], str]] = {
    str: (str, "text"),
    int: (int, "an integer"),
    float: (float, "a number"),
    bool: (_boolean, "true or false"),
}
