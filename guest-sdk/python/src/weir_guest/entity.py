"""Entities as a source hands them to the host: JSON text plus an optional
location key, with a builder for Backstage's envelope.

The builder is the hot path of a source that produces many entities, so it
is written for CPython in WebAssembly, where every Python-level operation
costs about a thousand instructions and escaping costs about eighty per
character: it keeps each field in its own slot, writes the envelope's fixed
keys as literal text, and hands containers to the C JSON encoder in one call
each (see docs/sources/python.md, "Performance").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weir_guest.jsontext import encode_json, json_chunks, json_string

#: Where the entity was read from, as Backstage's catalog records it.
ANNOTATION_LOCATION = "backstage.io/managed-by-location"
#: Where the entity was first discovered, as Backstage's catalog records it.
ANNOTATION_ORIGIN_LOCATION = "backstage.io/managed-by-origin-location"


class Entity:
    """One entity, already serialised to JSON text."""

    __slots__ = ("json", "location_key")

    def __init__(self, json_text: str, location_key: str | None = None) -> None:
        #: The entity's JSON text: one object in Backstage's envelope.
        self.json = json_text
        #: Which location owns the entity (Backstage's ``locationKey``), for
        #: conflicts between sources; ``None``: the source's own.
        self.location_key = location_key

    @staticmethod
    def builder(kind: str, name: str) -> EntityBuilder:
        """Start an entity of ``kind`` named ``name`` (``apiVersion``
        ``backstage.io/v1alpha1``)."""
        return EntityBuilder(kind, name)

    @classmethod
    def from_value(cls, value: Mapping[str, Any], location_key: str | None = None) -> Entity:
        """An entity from a JSON-serialisable mapping (the whole envelope)."""
        return cls(encode_json(value), location_key)

    @classmethod
    def from_json_text(cls, text: str, location_key: str | None = None) -> Entity:
        """An entity from JSON text the source wrote itself, with no
        serialisation step: the cheapest way to produce many entities (quote
        each string with ``json_string``).

        The text must be one JSON object; it is not checked here, but the host
        checks it and refuses the page otherwise.
        """
        return cls(text, location_key)

    def with_location_key(self, key: str) -> Entity:
        """The same entity with the location key ``key``."""
        return Entity(self.json, key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entity):
            return NotImplemented
        return (self.json, self.location_key) == (other.json, other.location_key)

    def __hash__(self) -> int:
        return hash((self.json, self.location_key))

    def __repr__(self) -> str:
        return f"Entity({self.json!r}, location_key={self.location_key!r})"


class EntityBuilder:
    """Builds an entity field by field; ``build`` serialises it.

    Each method sets a field and returns the builder, so calls chain. Setting
    a field again replaces it (for ``annotation``, ``label`` and ``spec``: the
    value under that key).
    """

    __slots__ = (
        "_annotations",
        "_api_version",
        "_description",
        "_kind",
        "_labels",
        "_links",
        "_location_key",
        "_metadata",
        "_name",
        "_namespace",
        "_spec",
        "_tags",
        "_title",
    )

    def __init__(self, kind: str, name: str) -> None:
        self._api_version = "backstage.io/v1alpha1"
        self._kind = kind
        self._name = name
        self._namespace: str | None = None
        self._title: str | None = None
        self._description: str | None = None
        self._annotations: dict[str, str] | None = None
        self._labels: dict[str, str] | None = None
        self._tags: list[str] | None = None
        self._links: list[dict[str, str]] | None = None
        #: Other ``metadata`` fields, set with ``metadata_field``.
        self._metadata: dict[str, Any] | None = None
        self._spec: dict[str, Any] = {}
        self._location_key: str | None = None

    def api_version(self, api_version: str) -> EntityBuilder:
        self._api_version = api_version
        return self

    def namespace(self, namespace: str) -> EntityBuilder:
        self._namespace = namespace
        return self

    def title(self, title: str) -> EntityBuilder:
        self._title = title
        return self

    def description(self, description: str) -> EntityBuilder:
        self._description = description
        return self

    def metadata_field(self, key: str, value: Any) -> EntityBuilder:
        """Set any ``metadata`` field to a JSON-serialisable value (the
        fields with their own method are set through it)."""
        slot = _METADATA_SLOTS.get(key)
        if slot is not None:
            setattr(self, slot, value)
        elif self._metadata is None:
            self._metadata = {key: value}
        else:
            self._metadata[key] = value
        return self

    def annotation(self, key: str, value: str) -> EntityBuilder:
        if self._annotations is None:
            self._annotations = {key: value}
        else:
            self._annotations[key] = value
        return self

    def label(self, key: str, value: str) -> EntityBuilder:
        if self._labels is None:
            self._labels = {key: value}
        else:
            self._labels[key] = value
        return self

    def tag(self, tag: str) -> EntityBuilder:
        if self._tags is None:
            self._tags = [tag]
        else:
            self._tags.append(tag)
        return self

    def link(self, url: str, title: str | None = None, icon: str | None = None) -> EntityBuilder:
        """Add a link (``metadata.links``): its URL, and optionally a title and an icon."""
        link = {"url": url}
        if title is not None:
            link["title"] = title
        if icon is not None:
            link["icon"] = icon
        if self._links is None:
            self._links = [link]
        else:
            self._links.append(link)
        return self

    def managed_by(self, location: str) -> EntityBuilder:
        """Set both ``backstage.io/managed-by-location`` and
        ``backstage.io/managed-by-origin-location`` to ``location`` (for
        example ``url:https://github.com/org/repo``), as Backstage's providers
        do."""
        if self._annotations is None:
            self._annotations = {ANNOTATION_LOCATION: location, ANNOTATION_ORIGIN_LOCATION: location}
        else:
            self._annotations[ANNOTATION_LOCATION] = location
            self._annotations[ANNOTATION_ORIGIN_LOCATION] = location
        return self

    def spec(self, key: str, value: Any) -> EntityBuilder:
        """Set one ``spec`` field to a JSON-serialisable value."""
        self._spec[key] = value
        return self

    def location_key(self, key: str) -> EntityBuilder:
        """Set the location key that decides conflicts between sources."""
        self._location_key = key
        return self

    def build(self) -> Entity:
        """The entity: the envelope as compact JSON text (key order: the
        envelope's, then ``metadata``'s fields in the order of the methods
        above, then ``metadata_field``'s)."""
        quote, chunks = json_string, json_chunks
        parts = ['{"apiVersion":', quote(self._api_version), ',"kind":', quote(self._kind)]
        parts += (',"metadata":{"name":', quote(self._name))
        if self._namespace is not None:
            parts += (',"namespace":', quote(self._namespace))
        if self._title is not None:
            parts += (',"title":', quote(self._title))
        if self._description is not None:
            parts += (',"description":', quote(self._description))
        if self._annotations is not None:
            parts.append(',"annotations":')
            parts += chunks(self._annotations, 0)
        if self._labels is not None:
            parts.append(',"labels":')
            parts += chunks(self._labels, 0)
        if self._tags is not None:
            parts.append(',"tags":')
            parts += chunks(self._tags, 0)
        if self._links is not None:
            parts.append(',"links":')
            parts += chunks(self._links, 0)
        if self._metadata:
            parts.append("," + encode_json(self._metadata)[1:-1])
        parts.append('},"spec":')
        parts += chunks(self._spec, 0)
        parts.append("}")
        return Entity("".join(parts), self._location_key)


#: The ``metadata`` fields the builder keeps in slots of their own.
_METADATA_SLOTS = {
    "name": "_name",
    "namespace": "_namespace",
    "title": "_title",
    "description": "_description",
    "annotations": "_annotations",
    "labels": "_labels",
    "tags": "_tags",
    "links": "_links",
}
