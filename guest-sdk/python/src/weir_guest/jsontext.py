"""Compact JSON text: the encoder the SDK uses for entities and cursors, and
the string quoting a source can use to write entity JSON itself."""

import json
from collections.abc import Callable, Sequence
from typing import Any


def _compact_chunks() -> Callable[[Any, int], Sequence[str]]:
    """A function from a value to the chunks of its compact JSON text, as
    ``json.dumps`` writes it without spaces or ASCII escaping (NaN and
    infinities refused). It is CPython's C encoder, set up once here instead
    of for every value as ``json.dumps`` does; the pure-Python encoder where
    there is no C one."""
    encoder = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
    )
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:
        return lambda value, _level: (encoder.encode(value),)
    c_encoder: Callable[[Any, int], Sequence[str]] = make_c_encoder(
        None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return c_encoder


#: ``json_chunks(value, 0)``: the chunks of ``value``'s compact JSON text.
json_chunks = _compact_chunks()
#: A JSON string literal (quotes included) for a str: the escaping the
#: builder uses, for sources that write entity JSON themselves.
json_string: Callable[[str], str] = json.encoder.encode_basestring


def encode_json(value: Any) -> str:
    """Compact JSON text of any JSON-serialisable value."""
    return "".join(json_chunks(value, 0))
