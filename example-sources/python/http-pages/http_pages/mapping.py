"""From one response's JSON to entities and the next cursor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from weir_guest import Entity, Error

#: The ``spec`` fields an item maps to.
SPEC_FIELDS = ("owner", "type", "lifecycle")


@dataclass(frozen=True)
class SpecField:
    """A ``spec`` key, the pointer to its value in an item, and its default."""

    key: str
    pointer: str
    default: str | None


@dataclass(frozen=True)
class Mapping:
    """Where things are in a response and in its items, and the defaults."""

    items: str
    next: str
    kind: str
    name: str
    title: str
    description: str
    spec: tuple[SpecField, ...]

    @classmethod
    def from_config(cls, get: Callable[[str], str | None]) -> Mapping:
        """Read the mapping from config (``get`` looks a key up)."""

        def pointer_at(key: str, default: str) -> str:
            value = or_default(get(key), default)
            if value and not value.startswith("/"):
                raise Error.fatal(
                    f'config `{key}`: cannot use "{value}": expected a JSON pointer such as "/items"'
                )
            return value

        return cls(
            items=pointer_at("items-pointer", "/items"),
            next=pointer_at("next-pointer", "/next"),
            kind=or_default(get("kind"), "Component"),
            name=pointer_at("name-field", "/name"),
            title=pointer_at("title-field", "/title"),
            description=pointer_at("description-field", "/description"),
            spec=tuple(
                SpecField(field, pointer_at(f"{field}-field", f"/{field}"), get(f"default-{field}"))
                for field in SPEC_FIELDS
            ),
        )

    def page(self, body: Any, location: str) -> tuple[list[Entity], str | None]:
        """The page's entities and the next cursor (``None``: last page).
        Raises ``ValueError`` saying what in the body did not fit."""
        items = resolve(body, self.items)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ValueError(f"`{self.items}` is not an array")
        entities = []
        for index, item in enumerate(items):
            try:
                entities.append(self.entity(item, location))
            except ValueError as error:
                raise ValueError(f"item {index}: {error}") from None
        return entities, self.next_cursor(body)

    def next_cursor(self, body: Any) -> str | None:
        after = resolve(body, self.next)
        if after is None or after == "":
            return None
        if isinstance(after, str):
            return after
        if is_number(after):
            return str(after)
        raise ValueError(f"`{self.next}` is not a string or number")

    def entity(self, item: Any, location: str) -> Entity:
        name = text(item, self.name)
        if name is None:
            raise ValueError(f"no name at `{self.name}`")
        builder = Entity.builder(self.kind, name).managed_by(location)
        title = text(item, self.title)
        if title is not None:
            builder.title(title)
        description = text(item, self.description)
        if description is not None:
            builder.description(description)
        for field in self.spec:
            value = text(item, field.pointer)
            value = field.default if value is None else value
            if value is not None:
                builder.spec(field.key, value)
        return builder.build()


def resolve(value: Any, pointer: str) -> Any:
    """The value at JSON pointer ``pointer`` (RFC 6901) in ``value``, or ``None``."""
    if not pointer:
        return value
    for escaped in pointer[1:].split("/"):
        token = escaped.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def text(item: Any, pointer: str) -> str | None:
    """A non-empty string or a number at ``pointer``, as text."""
    value = resolve(item, pointer)
    if isinstance(value, str) and value:
        return value
    if is_number(value):
        return str(value)
    return None


def or_default(value: str | None, default: str) -> str:
    return default if value is None else value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
