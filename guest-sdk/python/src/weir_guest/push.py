"""Pushed events: the `Push` base class a source implements to take them (a
webhook delivery, say), the `PushEvent` it is handed and the `PushOutcome`
it returns."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from weir_guest.entity import Entity
from weir_guest.errors import Error


@dataclass(frozen=True)
class PushEvent:
    """One event pushed to the source, as the host received it."""

    #: The request's headers in the order received, names as sent.
    headers: list[tuple[str, str]]
    #: The raw body.
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header named ``name``, compared case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON, or a fatal error (an event that does not
        parse never will)."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise Error.fatal(f"the pushed body is not JSON: {error}") from error


@dataclass
class PushOutcome:
    """What an event changes: ``PushOutcome().upsert(entity).remove(ref)``."""

    #: Entities to add or replace: the same rules and limits as a page's.
    upserts: list[Entity] = field(default_factory=list)
    #: Refs of entities this source no longer provides: ``kind:namespace/name``,
    #: or ``kind:name`` in the default namespace.
    removals: list[str] = field(default_factory=list)

    def upsert(self, entity: Entity) -> PushOutcome:
        """Add or replace ``entity``."""
        self.upserts.append(entity)
        return self

    def remove(self, entity_ref: str) -> PushOutcome:
        """Remove the entity ``entity_ref`` (``kind:namespace/name``)."""
        self.removals.append(entity_ref)
        return self


class Push(ABC):
    """A source that also takes pushed events. Name the class in
    ``pyproject.toml`` (``[tool.weir-guest] push = "module:Class"``; one class
    may derive from both ``Source`` and ``Push``); the component then
    implements the ``pushing-source-plugin`` world.

    Each event runs in a fresh instance, apart from any burst: ``open`` does
    not run first, so read what the handler needs (config, secrets) here.
    The upserts obey a page's rules and limits; the next full cycle still
    decides what the source provides.
    """

    @abstractmethod
    def handle(self, event: PushEvent) -> PushOutcome:
        """Turn one event into upserts and removals, which the host applies
        at once. Raise ``Error.transient`` when the event could not be handled
        now (the sender may deliver it again) and ``Error.fatal`` when it
        never will be (a bad signature, an event this source does not
        understand)."""
