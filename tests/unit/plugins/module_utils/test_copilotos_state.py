"""copilotos_state: the pure helpers of the one state read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ansible.module_utils.copilotos_state import parse_docker_time, uptime_s


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
