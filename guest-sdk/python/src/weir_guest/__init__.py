"""Write a Weir data source in Python.

Subclass ``Source``, name the class in your project's ``pyproject.toml``
(``[tool.weir-guest] source = "module:Class"``) and build the component with
``weir-guest build``. The SDK hides the component bindings: it turns cursors
into your own type, entities into JSON text and exceptions into the
contract's errors.

    from weir_guest import Entity, Page, Source, config

    class Teams(Source[str, int]):  # context: the base URL; cursor: a page number
        def provider_name(self) -> str:
            return "teams"

        def open(self) -> str:
            return config.require("base-url")

        def next(self, base_url: str, page: int | None) -> Page[int]:
            page = page or 0
            team = (Entity.builder("Group", f"team-{page}")
                    .spec("type", "team").spec("children", [])
                    .managed_by(f"url:{base_url}/teams/{page}")
                    .build())
            return Page.more([team], page + 1) if page < 9 else Page.last([team])

The modules ``config``, ``secrets``, ``log`` and ``http`` talk to the host,
so they import only inside a component (or next to generated bindings);
everything importable from this package itself is plain Python.
"""

from weir_guest.entity import ANNOTATION_LOCATION, ANNOTATION_ORIGIN_LOCATION, Entity, EntityBuilder
from weir_guest.errors import Error
from weir_guest.jsontext import json_string
from weir_guest.page import Page
from weir_guest.push import Push, PushEvent, PushOutcome
from weir_guest.source import Source
from weir_guest.template import EntityTemplate, Slot

__all__ = [
    "ANNOTATION_LOCATION",
    "ANNOTATION_ORIGIN_LOCATION",
    "Entity",
    "EntityBuilder",
    "EntityTemplate",
    "Error",
    "Page",
    "Push",
    "PushEvent",
    "PushOutcome",
    "Slot",
    "Source",
    "json_string",
]
