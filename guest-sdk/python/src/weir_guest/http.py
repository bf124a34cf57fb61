"""Outbound HTTP through ``wasi:http``, the only network a source gets, and
only to the hosts the operator granted it (``[sources.NAME.outbound]``).

A small blocking client: ``get``/``post``/``request`` send a request and
return the whole ``Response``. A request that gets no response raises
``HttpError``, an ``Error`` whose kind already says what to do: a refused
host or a bad URL is fatal, a timeout or a failed connection transient. So a
request that fails inside ``next`` does the right thing unless you catch it.

    response = http.get("https://api.example.com/teams?page=1",
                        headers={"accept": "application/json"})
    response.check_status()  # 429 and 5xx: transient; other non-2xx: fatal
    teams = response.json()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from componentize_py_types import Err
from wit_world.imports import outgoing_handler
from wit_world.imports import wasi_http_types as wasi
from wit_world.imports.error import Error as IoError
from wit_world.imports.streams import InputStream, StreamError_Closed

from weir_guest.errors import Error, ErrorKind

Reason = Literal["denied", "timeout", "invalid-url", "failed"]

_READ_CHUNK = 64 * 1024
_WRITE_CHUNK = 4096
_NANOS_PER_SECOND = 1_000_000_000
_TIMEOUT_CODES = (
    wasi.ErrorCode_ConnectionTimeout,
    wasi.ErrorCode_ConnectionReadTimeout,
    wasi.ErrorCode_ConnectionWriteTimeout,
    wasi.ErrorCode_HttpResponseTimeout,
    wasi.ErrorCode_DnsTimeout,
)
_METHODS: dict[str, wasi.Method] = {
    "GET": wasi.Method_Get(),
    "HEAD": wasi.Method_Head(),
    "POST": wasi.Method_Post(),
    "PUT": wasi.Method_Put(),
    "DELETE": wasi.Method_Delete(),
    "PATCH": wasi.Method_Patch(),
    "OPTIONS": wasi.Method_Options(),
}


class HttpError(Error):
    """Why a request got no response. ``reason`` is ``denied`` (the host was
    not granted to this source, or its name resolved to a private address),
    ``invalid-url``, ``timeout`` or ``failed`` (DNS, connection, TLS,
    protocol). The first two are fatal, the others transient."""

    def __init__(self, reason: Reason, message: str) -> None:
        kind: ErrorKind = "fatal" if reason in ("denied", "invalid-url") else "transient"
        super().__init__(kind, message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class Response:
    """A whole HTTP response."""

    #: The URL that was requested.
    url: str
    status: int
    #: Header names in lower case, in the order received.
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (name in any case)."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON, or a fatal error naming the status."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise Error.fatal(
                f"{self.url}: the response (HTTP {self.status}) is not JSON: {error}"
            ) from error

    def check_status(self) -> Response:
        """The response itself when its status is 2xx. Otherwise an error:
        transient for 429 and 5xx (naming ``Retry-After`` when the server
        sent one), fatal for anything else."""
        if 200 <= self.status < 300:
            return self
        if self.status == 429 or 500 <= self.status < 600:
            retry_after = self.header("retry-after")
            wait = f" (Retry-After: {retry_after})" if retry_after else ""
            raise Error.transient(f"{self.url}: HTTP {self.status}{wait}")
        raise Error.fatal(f"{self.url}: HTTP {self.status}")


def get(url: str, *, headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Response:
    """Send a GET request and read the whole response."""
    return request("GET", url, headers=headers, timeout=timeout)


def post(
    url: str,
    body: bytes | str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Response:
    """Send a POST request with ``body`` (text is sent as UTF-8)."""
    return request("POST", url, headers=headers, body=body, timeout=timeout)


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str = b"",
    timeout: float | None = None,
) -> Response:
    """Send a request and read the whole response. A body is sent with its
    ``content-length``. ``timeout`` (seconds) bounds connecting, the first
    byte and the gap between bytes; without it the host's own limits apply."""
    payload = body.encode() if isinstance(body, str) else body
    headers = dict(headers or {})
    if payload and not any(name.lower() == "content-length" for name in headers):
        headers["content-length"] = str(len(payload))
    outgoing = _outgoing_request(method, url, headers)
    outgoing_body = outgoing.body()
    try:
        future = outgoing_handler.handle(outgoing, _options(url, timeout))
    except Err as error:
        raise _error(url, error.value) from None
    _write_body(url, outgoing_body, payload)
    with future:
        future.subscribe().block()
        return _read_response(url, future.get())


def split_url(url: str) -> tuple[wasi.Scheme, str, str]:
    """``scheme://authority/path?query`` into its parts (path ``/`` when missing)."""
    scheme_name, separator, rest = url.partition("://")
    if not separator:
        raise HttpError("invalid-url", f"invalid URL {url}: expected http:// or https://")
    schemes: dict[str, wasi.Scheme] = {"http": wasi.Scheme_Http(), "https": wasi.Scheme_Https()}
    scheme = schemes.get(scheme_name.lower())
    if scheme is None:
        raise HttpError("invalid-url", f"invalid URL {url}: expected http or https")
    rest = rest.split("#", 1)[0]
    split = next((index for index, char in enumerate(rest) if char in "/?"), len(rest))
    authority, path = rest[:split], rest[split:]
    if not authority:
        raise HttpError("invalid-url", f"invalid URL {url}: no host")
    if not path.startswith("/"):
        path = "/" + path
    return scheme, authority, path


def _outgoing_request(method: str, url: str, headers: Mapping[str, str]) -> wasi.OutgoingRequest:
    scheme, authority, path = split_url(url)
    fields = wasi.Fields()
    for name, value in headers.items():
        try:
            fields.append(name, value.encode())
        except Err as error:
            raise HttpError("invalid-url", f"{url}: header {name!r}: {_describe(error.value)}") from None
    outgoing = wasi.OutgoingRequest(fields)
    _set(url, "method", outgoing.set_method, _METHODS.get(method.upper(), wasi.Method_Other(method.upper())))
    _set(url, "scheme", outgoing.set_scheme, scheme)
    _set(url, "host", outgoing.set_authority, authority)
    _set(url, "path", outgoing.set_path_with_query, path)
    return outgoing


def _set(url: str, what: str, setter: Callable[[Any], None], value: Any) -> None:
    """Set one part of a request; the host refusing it means the URL is bad."""
    try:
        setter(value)
    except Err:
        raise HttpError("invalid-url", f"invalid URL {url}: bad {what}") from None


def _options(url: str, timeout: float | None) -> wasi.RequestOptions | None:
    if timeout is None:
        return None
    options = wasi.RequestOptions()
    nanos = int(timeout * _NANOS_PER_SECOND)
    try:
        options.set_connect_timeout(nanos)
        options.set_first_byte_timeout(nanos)
        options.set_between_bytes_timeout(nanos)
    except Err:
        raise HttpError("invalid-url", f"{url}: the host does not take a timeout of {timeout} s") from None
    return options


def _write_body(url: str, outgoing_body: wasi.OutgoingBody, payload: bytes) -> None:
    if payload:
        with outgoing_body.write() as stream:
            for start in range(0, len(payload), _WRITE_CHUNK):
                try:
                    stream.blocking_write_and_flush(payload[start : start + _WRITE_CHUNK])
                except Err as error:
                    raise HttpError("failed", f"{url}: writing the body: {_describe(error.value)}") from None
    try:
        wasi.OutgoingBody.finish(outgoing_body, None)
    except Err as error:
        raise _error(url, error.value) from None


def _read_response(url: str, outcome: Any) -> Response:
    """The response from ``future-incoming-response.get``'s nested result."""
    if outcome is None or isinstance(outcome, Err):
        raise HttpError("failed", f"{url}: no response")
    inner = outcome.value
    if isinstance(inner, Err):
        raise _error(url, inner.value)
    with inner.value as incoming:
        status = incoming.status()
        with incoming.headers() as fields:
            headers = [(name.lower(), value.decode("latin-1")) for name, value in fields.entries()]
        with incoming.consume() as incoming_body:
            body = _read_body(url, incoming_body.stream())
    return Response(url, status, headers, body)


def _read_body(url: str, stream: InputStream) -> bytes:
    chunks = []
    with stream:
        while True:
            try:
                chunks.append(stream.blocking_read(_READ_CHUNK))
            except Err as error:
                if isinstance(error.value, StreamError_Closed):
                    break
                raise _stream_error(url, error.value.value) from None
    return b"".join(chunks)


def _stream_error(url: str, io_error: IoError) -> HttpError:
    code = wasi.http_error_code(io_error)
    if code is not None:
        return _error(url, code)
    return HttpError("failed", f"{url}: reading the body: {io_error.to_debug_string()}")


def _error(url: str, code: wasi.ErrorCode) -> HttpError:
    if isinstance(code, wasi.ErrorCode_HttpRequestDenied):
        return HttpError("denied", f"request denied by the host: {url}")
    if isinstance(code, _TIMEOUT_CODES):
        return HttpError("timeout", f"request timed out: {url}: {_describe(code)}")
    return HttpError("failed", f"request failed: {url}: {_describe(code)}")


def _describe(code: object) -> str:
    """A wasi error case's name without its type prefix, with its payload."""
    name = type(code).__name__.split("_", 1)[-1]
    value = getattr(code, "value", None)
    return name if value is None else f"{name}({value!r})"
