"""The HTTP client's pure parts: URLs, statuses and error kinds."""

import pytest
from wit_world.imports import wasi_http_types as wasi

from weir_guest import Error
from weir_guest.http import HttpError, Response, split_url


def test_urls_split_into_scheme_host_and_path() -> None:
    scheme, authority, path = split_url("https://api.x.dev:8443/v1/items?page=2#top")
    assert isinstance(scheme, wasi.Scheme_Https)
    assert (authority, path) == ("api.x.dev:8443", "/v1/items?page=2")
    assert split_url("http://x.y?a=1")[1:] == ("x.y", "/?a=1")
    assert split_url("HTTP://x.y")[1:] == ("x.y", "/")


@pytest.mark.parametrize("url", ["ftp://x.y", "x.y/path", "http:///path"])
def test_bad_urls_are_fatal(url: str) -> None:
    with pytest.raises(HttpError) as raised:
        split_url(url)
    assert (raised.value.reason, raised.value.kind) == ("invalid-url", "fatal")


def test_refusals_are_fatal_and_failures_transient() -> None:
    assert HttpError("denied", "m").kind == "fatal"
    assert HttpError("timeout", "m").kind == "transient"
    assert HttpError("failed", "m").kind == "transient"


def test_statuses_map_to_transient_and_fatal() -> None:
    ok = Response("u", 204, [], b"")
    assert ok.check_status() is ok
    for status in (429, 500, 503):
        with pytest.raises(Error) as raised:
            Response("u", status, [("retry-after", "5")], b"").check_status()
        assert (raised.value.kind, raised.value.message) == (
            "transient",
            f"u: HTTP {status} (Retry-After: 5)",
        )
    for status in (301, 400, 401, 404):
        with pytest.raises(Error) as raised:
            Response("u", status, [], b"").check_status()
        assert (raised.value.kind, raised.value.message) == ("fatal", f"u: HTTP {status}")


def test_responses_read_headers_text_and_json() -> None:
    response = Response("u", 200, [("content-type", "application/json")], '{"a": "é"}'.encode())
    assert response.header("Content-Type") == "application/json"
    assert response.header("etag") is None
    assert response.json() == {"a": "é"}
    assert response.text() == '{"a": "é"}'
    with pytest.raises(Error, match=r"^fatal: u: the response \(HTTP 502\) is not JSON"):
        Response("u", 502, [], b"<html>").json()
