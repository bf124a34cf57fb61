"""One page of entities, and where the next one starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from weir_guest.entity import Entity

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Page(Generic[C]):
    """A page of a cycle: build it with ``Page.more`` or ``Page.last``."""

    entities: list[Entity]
    #: Where the next page starts; ``None`` on the last page.
    cursor: C | None
    #: True on the last page of the cycle.
    done: bool

    @classmethod
    def more(cls, entities: list[Entity], cursor: C) -> Page[C]:
        """A page with more to come, starting at ``cursor``."""
        return cls(entities, cursor, False)

    @classmethod
    def last(cls, entities: list[Entity]) -> Page[C]:
        """The last page of the cycle."""
        return cls(entities, None, True)
