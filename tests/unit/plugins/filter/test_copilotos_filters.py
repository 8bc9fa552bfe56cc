"""The copilotos Jinja filters: URLs with percent-encoded passwords, env-file values Compose reads back exactly."""

from __future__ import annotations

import importlib.util
import string
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from ansible.errors import AnsibleFilterError
from ansible.module_utils.copilotos_env import parse_env
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[4]
_spec = importlib.util.spec_from_file_location("copilotos_filters", ROOT / "plugins" / "filter" / "copilotos.py")
assert _spec and _spec.loader
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)
FILTERS = filters.FilterModule().filters()

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


def read_back(rendered: str) -> str:
    return str(parse_env("KEY=%s\n" % rendered).effective()["KEY"].text)


@pytest.mark.parametrize(
    "value",
    [
        PRINTABLE,
        " leading and trailing ",
        "a #not-a-comment",
        "$HOME ${X}",
        "it's",
        'say "hi"',
        "back\\",
        "x" * 1024,
        "",
    ],
)
def test_env_value_reads_back_exactly(value: str) -> None:
    assert read_back(FILTERS["copilotos_env_value"](value)) == value


@given(st.text(alphabet=string.printable.replace("\n", "").replace("\r", "").replace("\x0b", "").replace("\x0c", "")))
def test_env_value_round_trips_any_printable_text(value: str) -> None:
    assert read_back(FILTERS["copilotos_env_value"](value)) == value


def test_env_value_refuses_a_line_break() -> None:
    with pytest.raises(AnsibleFilterError, match="copilotos_env_value: the value contains a line break"):
        FILTERS["copilotos_env_value"]("two\nlines")


def test_redis_url_percent_encodes_every_reserved_character() -> None:
    url = FILTERS["copilotos_redis_url"](PRINTABLE, "redis", 6379, 0)
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("redis", "redis", 6379, "/0")
    assert unquote(parts.password or "") == PRINTABLE
    assert "@" not in url.split("@")[0].split("://")[1], "an unencoded @ would end the userinfo early"


def test_mongo_url_encodes_user_and_password() -> None:
    url = FILTERS["copilotos_mongo_url"]("p@ss:w/rd%", "user@corp")
    parts = urlsplit(url)
    assert unquote(parts.username or "") == "user@corp" and unquote(parts.password or "") == "p@ss:w/rd%"
    assert parts.hostname == "mongodb" and parts.query == "authSource=admin"


@pytest.mark.parametrize("name", ["copilotos_redis_url", "copilotos_mongo_url"])
def test_empty_passwords_are_refused(name: str) -> None:
    with pytest.raises(AnsibleFilterError, match="empty"):
        FILTERS[name]("", "user")
