"""Why a call failed: the `Error` a source raises, transient or fatal."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["transient", "fatal"]


class Error(Exception):
    """A failed call; its kind tells the host what to do next.

    ``Error.transient(...)``: retrying later may help (a timeout, a rate
    limit, an upstream 5xx); the host backs off and retries the burst from
    the last stored cursor. ``Error.fatal(...)``: retrying will not help (bad
    credentials, bad config); the cycle stops until an operator acts.

    Raise it from ``open``, ``next``, ``close`` or ``handle``. Any other
    exception that escapes those becomes a fatal error carrying its type and
    message.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message

    @classmethod
    def transient(cls, message: str) -> Error:
        """Retrying later may help."""
        return cls("transient", message)

    @classmethod
    def fatal(cls, message: str) -> Error:
        """Retrying will not help."""
        return cls("fatal", message)

    @property
    def is_transient(self) -> bool:
        return self.kind == "transient"

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def __repr__(self) -> str:
        return f"Error.{self.kind}({self.message!r})"
