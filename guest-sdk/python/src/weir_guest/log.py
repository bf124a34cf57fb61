"""Logging through the host: each line is attributed to this source."""

from wit_world.imports import log as host_log

Level = host_log.Level


def trace(message: str) -> None:
    host_log.log(Level.TRACE, message)


def debug(message: str) -> None:
    host_log.log(Level.DEBUG, message)


def info(message: str) -> None:
    host_log.log(Level.INFO, message)


def warn(message: str) -> None:
    host_log.log(Level.WARN, message)


def error(message: str) -> None:
    host_log.log(Level.ERROR, message)
