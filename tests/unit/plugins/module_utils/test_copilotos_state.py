"""copilotos_state: the pure helpers of the one state read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.copilotos_state import TARGET_PYTHON_MIN, parse_docker_time, python_too_old, uptime_s
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize(("stamp", "expected"), [
    # As Docker prints State.StartedAt: nanoseconds, Z.
    ("2026-12-03T12:57:04.945031063Z", datetime(2026, 12, 3, 12, 57, 4, 945031, tzinfo=UTC)),
    ("2026-12-03T12:57:04Z", datetime(2026, 12, 3, 12, 57, 4, tzinfo=UTC)),
    ("2026-12-03T14:57:04.5+02:00", datetime(2026, 12, 3, 12, 57, 4, 500000, tzinfo=UTC)),
    # Docker's zero time for a container that never started, and no stamp at all.
    ("0001-01-01T00:00:00Z", None),
    ("", None),
    (None, None),
    ("not a time", None),
])
def test_parse_docker_time(stamp: str | None, expected: datetime | None) -> None:
    assert parse_docker_time(stamp) == expected


def test_uptime_counts_whole_seconds_since_the_start() -> None:
    now = datetime(2026, 12, 3, 13, 0, 0, tzinfo=UTC)
    assert uptime_s("2026-12-03T12:57:04.945031063Z", now) == 175
    assert uptime_s(None, now) is None


def test_python_too_old_names_the_version_the_floor_and_the_fix() -> None:
    msg = python_too_old((3, 8, 18), "/usr/bin/python3.8")
    assert msg is not None
    assert "3.8.18 (/usr/bin/python3.8) is too old" in msg and "3.9 or newer" in msg
    assert "playbooks/bootstrap.yml" in msg and "ansible_python_interpreter" in msg
    for ok in [(3, 9, 0), (3, 10, 13), (3, 13, 0), (4, 0, 0)]:
        assert python_too_old(ok, "/x") is None


def test_the_bootstrap_role_checks_the_same_floor() -> None:
    defaults = yaml.safe_load((ROOT / "roles" / "copilotos_venv" / "defaults" / "main.yml").read_text())
    assert defaults["copilotos_venv_python_min"] == ".".join(str(n) for n in TARGET_PYTHON_MIN)


TARGET_PYTHONS = ["3.9.18", "3.10.13", "3.11.0", "3.11.7", "3.12.1", "3.13.0"]


@pytest.mark.parametrize("python", TARGET_PYTHONS)
def test_the_target_lock_pins_each_package_once_per_python(python: str) -> None:
    """requirements/target.txt: on every supported Python, each package has exactly one pin."""
    env = {"python_version": ".".join(python.split(".")[:2]), "python_full_version": python}
    pins: dict[str, list[str]] = {}
    for line in (ROOT / "requirements" / "target.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        assert str(req.specifier).startswith("=="), "%s: not an exact pin" % line
        if req.marker is None or req.marker.evaluate(env):
            pins.setdefault(canonicalize_name(req.name), []).append(str(req.specifier))
    assert {"docker", "redis", "pymongo", "urllib3", "requests", "dnspython"} <= set(pins)
    assert {name: v for name, v in pins.items() if len(v) != 1} == {}
