"""Config and secrets as the host hands them over, and their parsing."""

import pytest

from weir_guest import Error, config, log, secrets
from weir_guest.testing import FakeHost


def test_values_parse_as_the_default_s_type(host: FakeHost) -> None:
    host.config.update({"count": " 12 ", "ratio": "0.25", "enabled": "True", "name": "teams"})
    assert config.get_or("count", 10) == 12
    assert config.get_or("ratio", 1.0) == 0.25
    assert config.get_or("enabled", False) is True
    assert config.get_or("name", "x") == "teams"
    assert config.get_or("missing", 5) == 5
    assert config.get("missing") is None


@pytest.mark.parametrize(
    ("default", "text", "expected"),
    [(1, "twelve", "an integer"), (1.0, "", "a number"), (True, "yes", "true or false")],
)
def test_a_value_that_does_not_parse_is_fatal(
    host: FakeHost, default: object, text: str, expected: str
) -> None:
    host.config["key"] = text
    with pytest.raises(Error) as raised:
        config.get_or("key", default)  # type: ignore[type-var]
    assert raised.value.kind == "fatal"
    assert raised.value.message == f'config `key`: cannot use "{text}": expected {expected}'


def test_required_values_name_the_missing_key(host: FakeHost) -> None:
    host.config["base-url"] = "https://x.example"
    host.secrets["token"] = "s3cr3t"
    assert config.require("base-url") == "https://x.example"
    assert secrets.require("token") == "s3cr3t"
    assert secrets.get("other") is None
    with pytest.raises(Error, match="config `other` is required but not set"):
        config.require("other")
    with pytest.raises(Error, match="secret `other` is required but not set"):
        secrets.require("other")


def test_logs_reach_the_host_with_their_level(host: FakeHost) -> None:
    log.trace("t")
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    assert host.logs == [("trace", "t"), ("debug", "d"), ("info", "i"), ("warn", "w"), ("error", "e")]
