"""The conformance source in Python, as tests/conformance/README.md specifies
it: pages of numbered Component entities decided by config, each failure
case on demand, and a push handler driven by the event's body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from weir_guest import Entity, Error, Page, Push, PushEvent, PushOutcome, Source, config, log, secrets
from weir_guest.errors import ErrorKind

FAILURE_KINDS: dict[str, ErrorKind] = {"transient": "transient", "fatal": "fatal"}
# The highest page number and entity number a cycle can have (1000 pages of 1000).
LAST_PAGE = 999
LAST_ENTITY = 999_999


@dataclass(frozen=True)
class Settings:
    """The config, checked in ``open``."""

    pages: int
    per_page: int
    fail_open: ErrorKind | None
    transient_at: int | None
    fatal_at: int | None
    fail_close: ErrorKind | None


@dataclass(frozen=True)
class PageCursor:
    """The cursor ``{"page": N}``, with its JSON text as received (``None``
    for one this source made), which a bad cursor's error repeats."""

    page: int
    text: str | None = None


class Conformance(Source[Settings, PageCursor], Push):
    def provider_name(self) -> str:
        return "conformance"

    def open(self) -> Settings:
        token = "(token present)" if secrets.get("token") is not None else "(no token)"
        log.info(f"conformance: open {token}")
        settings = read_settings()
        if settings.fail_open is not None:
            raise Error(settings.fail_open, "conformance: open failed")
        return settings

    def next(self, settings: Settings, cursor: PageCursor | None) -> Page[PageCursor]:
        page = 0 if cursor is None else cursor.page
        if cursor is not None and not 0 <= page < settings.pages:
            raise bad_cursor(cursor.text)
        log.debug(f"conformance: page {page}")
        if page == settings.transient_at:
            raise Error.transient(f"conformance: transient at page {page}")
        if page == settings.fatal_at:
            raise Error.fatal(f"conformance: fatal at page {page}")
        first = page * settings.per_page
        entities = [entity(index, settings.per_page) for index in range(first, first + settings.per_page)]
        if page == settings.pages - 1:
            return Page.last(entities)
        return Page.more(entities, PageCursor(page + 1))

    def close(self, settings: Settings) -> None:
        log.info("conformance: close")
        if settings.fail_close is not None:
            raise Error(settings.fail_close, "conformance: close failed")

    def decode_cursor(self, text: str) -> PageCursor:
        try:
            value = json.loads(text)
        except ValueError:
            raise bad_cursor(text) from None
        if not (isinstance(value, dict) and value.keys() == {"page"} and type(value["page"]) is int):
            raise bad_cursor(text)
        return PageCursor(value["page"], text)

    def encode_cursor(self, cursor: PageCursor) -> str:
        return json.dumps({"page": cursor.page}, separators=(",", ":"))

    def handle(self, event: PushEvent) -> PushOutcome:
        if event.header("x-conformance-fail") == "transient":
            raise Error.transient("conformance: push failed")
        per_page = read_settings().per_page
        upserts, removals = push_body(event.body)
        if upserts and per_page == 0:
            raise Error.fatal(
                "conformance: push body is not valid: no entity is on a page when per-page is 0"
            )
        outcome = PushOutcome()
        for index in upserts:
            outcome.upsert(entity(index, per_page))
        for index in removals:
            outcome.remove(f"component:default/conformance-{index}")
        return outcome


def read_settings() -> Settings:
    """The config, every key checked in the README's order (the first bad one is the error)."""
    return Settings(
        pages=number("pages", 3, 1, 1000),
        per_page=number("per-page", 2, 0, 1000),
        fail_open=failure_kind("fail-open"),
        transient_at=optional_number("transient-at", 0, LAST_PAGE),
        fatal_at=optional_number("fatal-at", 0, LAST_PAGE),
        fail_close=failure_kind("fail-close"),
    )


def entity(index: int, per_page: int) -> Entity:
    """The entity numbered ``index``, on page ``index // per_page``."""
    location = f"url:https://conformance.example/entities/{index}"
    return (
        Entity.builder("Component", f"conformance-{index}")
        .namespace("default")
        .title(f"Conformance {index}")
        .description(f'Entity "{index}" of the conformance source: ünïcødé ✓, a tab\tand a newline\n.')
        .tag("conformance")
        .tag(f"page-{index // per_page}")
        .label("weir.dev/index", str(index))
        .managed_by(location)
        .spec("type", "service")
        .spec("lifecycle", "production")
        .spec("owner", "group:default/conformance")
        .spec("index", index)
        .spec("even", index % 2 == 0)
        .spec("ratio", index // 4 if index % 4 == 0 else index / 4)
        .spec("dependsOn", [f"component:default/conformance-{index - 1}"] if index > 0 else [])
        .location_key(f"conformance:{index}")
        .build()
    )


def number(key: str, default: int, low: int, high: int) -> int:
    """Config ``key`` as a decimal number from ``low`` to ``high``, or ``default`` when unset."""
    value = optional_number(key, low, high)
    return default if value is None else value


def optional_number(key: str, low: int, high: int) -> int | None:
    """Config ``key`` as a decimal number from ``low`` to ``high``, or ``None`` when unset."""
    text = config.get(key)
    if text is None:
        return None
    # Past 9 significant digits every value is out of range (and `int` refuses very long text).
    if not (text.isascii() and text.isdigit() and len(text.lstrip("0")) <= 9 and low <= int(text) <= high):
        raise Error.fatal(
            f'conformance: config `{key}`: expected a number from {low} to {high}, got "{text}"'
        )
    return int(text)


def failure_kind(key: str) -> ErrorKind | None:
    """Config ``key`` as ``transient`` or ``fatal``, or ``None`` when unset."""
    text = config.get(key)
    if text is None:
        return None
    if text not in FAILURE_KINDS:
        raise Error.fatal(f'conformance: config `{key}`: expected transient or fatal, got "{text}"')
    return FAILURE_KINDS[text]


def bad_cursor(text: str | None) -> Error:
    return Error.fatal(f"conformance: bad cursor: {text}")


def push_body(body: bytes) -> tuple[list[int], list[int]]:
    """The entity numbers to upsert and to remove, from ``{"upsert": [...], "remove": [...]}``."""
    try:
        value = json.loads(body)
    except ValueError as error:
        raise invalid_push(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise invalid_push("expected a JSON object")
    unknown = sorted(value.keys() - {"upsert", "remove"})
    if unknown:
        raise invalid_push(f"unknown key {', '.join(unknown)}")
    return entity_numbers(value, "upsert"), entity_numbers(value, "remove")


def entity_numbers(body: dict[str, Any], key: str) -> list[int]:
    numbers = body.get(key, [])
    if not (isinstance(numbers, list) and all(type(n) is int and 0 <= n <= LAST_ENTITY for n in numbers)):
        raise invalid_push(f"`{key}` is not a list of entity numbers")
    return numbers


def invalid_push(reason: str) -> Error:
    return Error.fatal(f"conformance: push body is not valid: {reason}")
