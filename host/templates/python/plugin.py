"""The {{name}} source: `count` Component entities, `page-size` a page."""

from __future__ import annotations

from dataclasses import dataclass

from weir_guest import Entity, Error, Page, Source, config, log


@dataclass(frozen=True)
class Settings:
    """What one burst needs, read from config in `open`."""

    count: int
    page_size: int


class Plugin(Source[Settings, int]):
    """Context: the settings; cursor: the index of the next entity."""

    def provider_name(self) -> str:
        # Cursors and entities are stored under this name: never change it.
        return "{{name}}"

    def open(self) -> Settings:
        settings = Settings(count=config.get_or("count", 3), page_size=config.get_or("page-size", 2))
        if settings.page_size < 1:
            raise Error.fatal(f"config `page-size`: cannot use {settings.page_size}: must be at least 1")
        log.info(f"{{name}}: open, {settings.count} entities")
        return settings

    def next(self, settings: Settings, cursor: int | None) -> Page[int]:
        start = cursor or 0
        end = min(start + settings.page_size, settings.count)
        entities = [component(index) for index in range(start, end)]
        return Page.more(entities, end) if end < settings.count else Page.last(entities)

    def close(self, settings: Settings) -> None:
        log.info("{{name}}: close")


def component(index: int) -> Entity:
    name = f"{{name}}-{index}"
    return (
        Entity.builder("Component", name)
        .title(f"{{name}} {index}")
        .managed_by(f"url:https://example.com/{{name}}/{name}")
        .spec("type", "service")
        .spec("lifecycle", "experimental")
        .spec("owner", "group:default/{{name}}-owners")
        .build()
    )
