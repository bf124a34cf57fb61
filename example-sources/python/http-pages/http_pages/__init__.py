"""`http-pages-py`: a Weir source that pages through a JSON HTTP API whose
responses carry a list of items and the cursor of the next page, and maps
each item to an entity. The Python twin of example-sources/http-pages (same
config keys, same behaviour, its own provider name so both can run side by
side); the table of keys is in README.md. It uses only the SDK's `http`
client, which reaches only the hosts the operator granted
(`[sources.NAME.outbound] hosts = [...]`).

Errors: 429 and 5xx answers, timeouts and dropped connections are transient
(the engine backs off and retries from the stored cursor); other 4xx
answers, a refused host, a body that is not the JSON expected and bad config
are fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from weir_guest import Error, Page, Source, config, http, secrets

from http_pages.mapping import Mapping


@dataclass(frozen=True)
class Settings:
    """What a burst read from config in ``open``."""

    base_url: str
    cursor_param: str
    page_size: tuple[str, int] | None
    token: str | None
    mapping: Mapping

    def url(self, cursor: str | None) -> str:
        """The URL of the page after ``cursor``."""
        parameters = []
        if self.page_size is not None:
            param, size = self.page_size
            parameters.append((param, str(size)))
        if cursor is not None:
            parameters.append((self.cursor_param, cursor))
        url = self.base_url
        for name, value in parameters:
            url += ("&" if "?" in url else "?") + f"{quote(name, safe='')}={quote(value, safe='')}"
        return url


class HttpPages(Source[Settings, str]):
    """Context: the settings; cursor: the API's own next cursor, as text."""

    def provider_name(self) -> str:
        return "http-pages-py"

    def open(self) -> Settings:
        base_url = config.require("base-url")
        if not base_url.startswith(("http://", "https://")):
            raise Error.fatal(
                f'config `base-url`: cannot use "{base_url}": expected an http:// or https:// URL'
            )
        return Settings(
            base_url=base_url,
            cursor_param=config.get_or("cursor-param", "cursor"),
            page_size=page_size(),
            token=secrets.get("token"),
            mapping=Mapping.from_config(config.get),
        )

    def next(self, settings: Settings, cursor: str | None) -> Page[str]:
        url = settings.url(cursor)
        headers = {"accept": "application/json"}
        if settings.token is not None:
            headers["authorization"] = f"Bearer {settings.token}"
        body = http.get(url, headers=headers).check_status().json()
        try:
            entities, after = settings.mapping.page(body, f"url:{settings.base_url}")
        except ValueError as error:
            raise Error.fatal(f"{url}: {error}") from None
        return Page.last(entities) if after is None else Page.more(entities, after)


def page_size() -> tuple[str, int] | None:
    """The page size to ask for, when both `page-size-param` and `page-size` are set."""
    param = config.get("page-size-param")
    if param is None or config.get("page-size") is None:
        return None
    size = config.get_or("page-size", 100)
    if size < 0:
        raise Error.fatal(f'config `page-size`: cannot use "{size}": expected a number from 0 up')
    return param, size
