"""Unit tests of plugins/module_utils/copilotos_logs.py: signatures, masking, time handling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.copilotos_common import MASK
from ansible.module_utils.copilotos_logs import (
    DEFAULT_PATTERNS,
    EXCERPT_LIMIT,
    LogScanner,
    PatternError,
    excerpt,
    line_signatures,
    normalise_patterns,
    ns_to_iso,
    parse_since,
    run_start_ns,
    split_timestamp,
    to_epoch_ns,
)

DIAGNOSIS = json.dumps(
    {
        "error": "Error 111 connecting to localhost:6379. Connection refused.",
        "event": "Redis cache connection failed",
        "logger": "src.core.redis_cache",
        "level": "warning",
        "timestamp": "2025-09-30T20:19:00.585060Z",
    }
)
DEFAULTS = normalise_patterns(None)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (DIAGNOSIS, ["redis_connection_failed", "connection_refused"]),
        ("redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379.", ["connection_refused"]),
        ("NOAUTH Authentication required.", ["redis_auth_failed"]),
        ('{"event": "cache error", "error": "WRONGPASS invalid username-password pair"}', ["redis_auth_failed"]),
        ("Disallowed CORS origin", ["cors_rejected"]),
        ("INFO: CORS origins configured: ['http://localhost:3000']", []),
        ("httpx.ReadTimeout: timed out", ["upstream_timeout"]),
        ("httpx.ConnectTimeout", ["upstream_timeout"]),
        ("pymongo.errors.ServerSelectionTimeoutError: No servers available", ["mongo_server_selection_timeout"]),
        ("Connection pool exhausted", ["pool_exhausted"]),
        ('{"event": "request completed", "level": "info", "status": 200}', []),
        ("plain text redis cache connection failed", []),  # event patterns only match JSON lines
        ("", []),
    ],
)
def test_default_signatures(line: str, expected: list[str]) -> None:
    assert line_signatures(line, DEFAULTS)[0] == expected


@pytest.mark.parametrize(
    ("pattern", "line", "matches"),
    [
        ({"name": "warn", "level": "warning"}, DIAGNOSIS, True),
        ({"name": "warn", "level": ["ERROR", "Warning"]}, DIAGNOSIS, True),
        ({"name": "err", "level": "error"}, DIAGNOSIS, False),
        ({"name": "both", "level": "warning", "event": "redis cache"}, DIAGNOSIS, True),
        ({"name": "both", "level": "warning", "event": "mongo"}, DIAGNOSIS, False),
        ({"name": "and", "event": "Redis cache", "regex": "6379"}, DIAGNOSIS, True),
        ({"name": "and", "event": "Redis cache", "regex": "6380"}, DIAGNOSIS, False),
        ({"name": "msg", "event": "boom"}, '{"message": "Boom happened", "levelname": "ERROR"}', True),
        ({"name": "lvl", "level": "error"}, '{"msg": "x", "levelname": "ERROR"}', True),
        ({"name": "rx", "regex": "(?i)timeout"}, "READ TIMEOUT", True),
        ({"name": "rx", "regex": "timeout"}, "READ TIMEOUT", False),
        ({"name": "ev", "event": "x"}, "[1, 2]", False),
        ({"name": "ev", "event": "x"}, "{not json x", False),
    ],
)
def test_custom_patterns(pattern: dict[str, Any], line: str, matches: bool) -> None:
    assert bool(line_signatures(line, normalise_patterns([pattern]))[0]) is matches


def test_line_level_and_event_fields() -> None:
    _names, level, event = line_signatures(DIAGNOSIS, DEFAULTS)
    assert (level, event) == ("warning", "Redis cache connection failed")
    assert line_signatures("plain", DEFAULTS)[1:] == (None, None)


@pytest.mark.parametrize(
    ("patterns", "match"),
    [
        ([{"regex": "x"}], "has no name"),
        (["oops"], "has no name"),
        ([{"name": "bad name", "regex": "x"}], "letters, digits"),
        ([{"name": "empty"}], "needs regex, event or level"),
        ([{"name": "broken", "regex": "("}], "invalid regex"),
    ],
)
def test_pattern_errors(patterns: list[Any], match: str) -> None:
    with pytest.raises(PatternError, match=match):
        normalise_patterns(patterns)


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("redis_down", None, "critical"),
        ("auth_failed", None, "critical"),
        ("cors_rejected", None, "medium"),
        ("cors_rejected", "low", "low"),
    ],
)
def test_default_severity(name: str, given: str | None, expected: str) -> None:
    pattern = {"name": name, "regex": "x", **({"severity": given} if given else {})}
    assert normalise_patterns([pattern])[0]["severity"] == expected


def test_default_patterns_severities() -> None:
    severities = {p["name"]: p["severity"] for p in normalise_patterns(DEFAULT_PATTERNS)}
    assert severities["redis_connection_failed"] == "critical"
    assert severities["redis_auth_failed"] == "critical"
    assert severities["upstream_timeout"] == "medium"


@pytest.mark.parametrize(
    ("text", "secrets", "must_not", "must"),
    [
        ("url redis://:hunter22@redis:6379/0 failed", [], ["hunter22"], ["redis://:" + MASK + "@redis"]),
        ("mongodb://copilotos:p%40ss@mongodb:27017/x", [], ["p%40ss"], [MASK]),
        ("token=Tok3nValue123 rejected", ["Tok3nValue123"], ["Tok3nValue123"], [MASK]),
        ("pw S3cure!Redis#pw encoded S3cure%21Redis%23pw", ["S3cure!Redis#pw"], ["S3cure", "Redis%23pw"], [MASK]),
    ],
)
def test_excerpt_masks(text: str, secrets: list[str], must_not: list[str], must: list[str]) -> None:
    out = excerpt(text, secrets)
    for bad in must_not:
        assert bad not in out
    for good in must:
        assert good in out


def test_excerpt_bounded_and_masked_before_cut() -> None:
    secret = "VerySecretValue42"
    text = "x" * (EXCERPT_LIMIT - 10) + secret + "y" * 50
    out = excerpt(text, [secret])
    assert len(out) <= EXCERPT_LIMIT
    assert "VerySec" not in out
    assert excerpt("a\n  b\tc") == "a b c"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T00:00:01.000000001Z", 1_000_000_001),
        ("1970-01-01T01:00:01+01:00", 1_000_000_000),
        ("1970-01-01T01:00:01+0100", 1_000_000_000),
        ("1970-01-01 00:00:02", 2_000_000_000),
        ("2025-09-30T20:19:00.585060Z", 1759263540_585060000),
        ("not a time", None),
    ],
)
def test_to_epoch_ns(stamp: str, expected: int | None) -> None:
    assert to_epoch_ns(stamp) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1759263540", 1759263540_000_000_000),
        (1759263540, 1759263540_000_000_000),
        ("1759263540.5", 1759263540_500_000_000),
        ("2025-09-30T20:19:00.585060Z", 1759263540_585060000),
    ],
)
def test_parse_since(value: Any, expected: int) -> None:
    assert parse_since(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "nan", "inf", ""])
def test_parse_since_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="since"):
        parse_since(value)


def test_ns_to_iso_and_split() -> None:
    assert ns_to_iso(1759263540_585060000) == "2025-09-30T20:19:00.585060000Z"
    assert split_timestamp("2025-09-30T20:19:00.1Z hello world") == ("2025-09-30T20:19:00.1Z", "hello world")
    assert split_timestamp("hello world") == ("", "hello world")


def stamped(seconds: float, text: str) -> str:
    return "%s %s" % (ns_to_iso(round(seconds * 1e9)), text)


def test_scanner_since_dedupe_counts_and_limit() -> None:
    scanner = LogScanner(DEFAULTS, since_ns=100 * 10**9, max_matches=2, secrets=["hunter22"])
    chunk = "\n".join(
        [
            stamped(99.5, DIAGNOSIS),  # before since: ignored
            stamped(100.1, DIAGNOSIS),
            stamped(100.2, "ok line"),
            stamped(101.0, "NOAUTH redis://:hunter22@redis"),
        ]
    )
    scanner.feed(chunk.encode())
    assert scanner.scanned_lines == 3
    assert scanner.counts == {"redis_connection_failed": 1, "connection_refused": 1, "redis_auth_failed": 1}
    assert len(scanner.matches) == 2
    # a later poll overlaps the earlier one: already seen lines are not counted twice
    scanner.feed((stamped(101.0, "NOAUTH redis://:hunter22@redis") + "\n" + stamped(102.0, DIAGNOSIS)).encode())
    assert scanner.counts == {"redis_connection_failed": 2, "connection_refused": 2, "redis_auth_failed": 1}
    assert scanner.next_since() == 101
    assert scanner.summary() == "connection_refused=2, redis_auth_failed=1, redis_connection_failed=2"
    assert scanner.severity("redis_auth_failed") == "critical"
    assert "hunter22" not in json.dumps(scanner.matches)
    first = scanner.matches[0]
    assert first["signature"] == "redis_connection_failed"
    assert first["level"] == "warning" and first["event"] == "Redis cache connection failed"
    assert first["time"].startswith("1970-01-01T00:01:40.1")


def test_scanner_windows_line_endings_and_untimed_lines() -> None:
    scanner = LogScanner(DEFAULTS, since_ns=0)
    scanner.feed(b"Connection refused\r\n\r\n")
    assert scanner.counts == {"connection_refused": 1}
    assert scanner.matches[0]["time"] is None


ZERO = "0001-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("created", "started", "finished", "expected"),
    [
        # never restarted: the creation, before the first line (StartedAt comes a bit later)
        ("1970-01-01T00:00:10Z", "1970-01-01T00:00:11.5Z", ZERO, 10 * 10**9),
        # restarted: the end of the previous run
        ("1970-01-01T00:00:10Z", "1970-01-01T00:01:00Z", "1970-01-01T00:00:59Z", 59 * 10**9),
        # stopped now: FinishedAt is after StartedAt; StartedAt minus one second
        ("1970-01-01T00:00:10Z", "1970-01-01T00:01:00Z", "1970-01-01T00:02:00Z", 59 * 10**9),
        # never started
        ("1970-01-01T00:00:10Z", ZERO, ZERO, 10 * 10**9),
        (None, None, None, 0),
        (None, "1970-01-01T00:01:00Z", None, 59 * 10**9),
    ],
)
def test_run_start_ns(created: str | None, started: str | None, finished: str | None, expected: int) -> None:
    assert run_start_ns(created, started, finished) == expected
