"""The source's secrets (tokens, passwords), kept apart from config so the
host never prints them."""

from wit_world.imports import secrets as host_secrets

from weir_guest.errors import Error


def get(key: str) -> str | None:
    """The secret for ``key``, or ``None`` when it is not set."""
    return host_secrets.get(key)


def require(key: str) -> str:
    """The secret for ``key``, or a fatal error naming the key when it is not set."""
    value = get(key)
    if value is None:
        raise Error.fatal(f"secret `{key}` is required but not set")
    return value
