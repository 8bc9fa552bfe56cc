"""Unit tests of plugins/module_utils/copilotos_http.py: CORS judgement, percentiles, health parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.copilotos_http import (
    burst_summary,
    check_url,
    error_text,
    evaluate_cors,
    parse_health,
    percentile,
)

ORIGIN = "https://copiloto.saptiva.com"
GOOD = {
    "access-control-allow-origin": ORIGIN,
    "access-control-allow-credentials": "true",
    "access-control-allow-methods": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
    "access-control-allow-headers": "content-type,authorization",
}
REQ = ["content-type", "authorization"]


def without(key: str, **changes: str) -> dict[str, str]:
    headers = {k: v for k, v in GOOD.items() if k != key}
    headers.update({k.replace("_", "-"): v for k, v in changes.items()})
    return headers


@pytest.mark.parametrize(
    ("status", "headers", "method", "credentials", "allowed", "reason"),
    [
        (200, GOOD, "POST", True, True, None),
        (204, GOOD, "post", True, True, None),
        (400, without("access-control-allow-origin"), "POST", True, False, "preflight status 400"),
        (200, without("access-control-allow-origin"), "POST", True, False, "no Access-Control-Allow-Origin"),
        (200, without("x", access_control_allow_origin="http://localhost:3000"), "POST", True, False,
         "Access-Control-Allow-Origin is 'http://localhost:3000'"),
        (200, without("x", access_control_allow_origin="*"), "POST", True, False, "Access-Control-Allow-Origin is '*'"),
        (200, without("x", access_control_allow_origin="*"), "POST", False, True, None),
        (200, without("access-control-allow-credentials"), "POST", True, False, "Allow-Credentials is not true"),
        (200, without("access-control-allow-credentials"), "POST", False, True, None),
        (200, without("x", access_control_allow_methods="GET"), "POST", True, False, "method POST not allowed"),
        (200, without("x", access_control_allow_methods="*"), "POST", True, False, "method POST not allowed"),
        (200, without("x", access_control_allow_methods="*"), "POST", False, True, None),
        (200, without("x", access_control_allow_headers="Content-Type"), "POST", True, False,
         "header authorization not allowed"),
        (200, without("x", access_control_allow_headers="*"), "POST", False, False, "header authorization not allowed"),
        (200, without("x", access_control_allow_headers="Content-Type, Authorization"), "POST", True, True, None),
        (None, {}, "POST", True, False, "preflight status None"),
    ],
)  # fmt: skip
def test_evaluate_cors(
    status: int | None, headers: dict[str, str], method: str, credentials: bool, allowed: bool, reason: str | None
) -> None:
    result = evaluate_cors(ORIGIN, status, headers, method, REQ, credentials)
    assert result["allowed"] is allowed
    assert result["origin"] == ORIGIN and result["status"] == status
    if reason:
        assert any(reason in r for r in result["reasons"]), result["reasons"]
    else:
        assert result["reasons"] == []


def test_evaluate_cors_header_wildcard_covers_others_without_credentials() -> None:
    headers = without("x", access_control_allow_headers="*")
    assert evaluate_cors(ORIGIN, 200, headers, "POST", ["content-type", "x-trace"], False)["allowed"] is True


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([4.0, 3.0, 2.0, 1.0], 50, 2.0),
        ([float(i) for i in range(1, 101)], 95, 95.0),
        ([float(i) for i in range(1, 101)], 50, 50.0),
        ([float(i) for i in range(1, 51)], 95, 48.0),
        ([float(i) for i in range(1, 51)], 100, 50.0),
        ([float(i) for i in range(1, 51)], 0, 1.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], pct: float, expected: float | None) -> None:
    assert percentile(values, pct) == expected


def test_burst_summary() -> None:
    results: list[tuple[int | None, float, str | None]] = [(200, float(i), None) for i in range(1, 48)]
    results += [(503, 100.0, None), (None, 5.0, "ConnectionRefusedError: refused"), (None, 5.0, "timeout")]
    summary = burst_summary(results)
    assert summary["count"] == 50
    assert summary["statuses"] == {"200": 47, "503": 1}
    assert summary["errors"] == 2
    assert summary["error_samples"] == ["ConnectionRefusedError: refused", "timeout"]
    assert summary["p50_ms"] == 24.0
    assert summary["max_ms"] == 100.0
    assert burst_summary([])["p95_ms"] is None


@pytest.mark.parametrize(
    ("body", "status", "checks", "unhealthy"),
    [
        ({"status": "healthy"}, "healthy", {}, {}),
        ({"status": "healthy", "checks": {"database": {"status": "healthy", "latency_ms": 3}}}, "healthy",
         {"database": "healthy"}, {}),
        ({"status": "degraded", "checks": {"database": {"status": "healthy"},
                                           "redis": {"status": "unhealthy", "error": "redis://:pw@x"}}},
         "degraded", {"database": "healthy", "redis": "unhealthy"}, {"redis": "unhealthy", "(overall)": "degraded"}),
        ({"status": "ok", "checks": {"cache": True, "db": False}}, "ok", {"cache": "healthy", "db": "unhealthy"},
         {"db": "unhealthy"}),
        ({"checks": [{"name": "mongo", "status": "UP"}, {"name": "redis", "status": "DOWN"}]}, None,
         {"mongo": "UP", "redis": "DOWN"}, {"redis": "DOWN"}),
    ],
)  # fmt: skip
def test_parse_health(
    body: dict[str, Any], status: str | None, checks: dict[str, str], unhealthy: dict[str, str]
) -> None:
    health, bad = parse_health(json.dumps(body).encode())
    assert health == {"status": status, "checks": checks}
    assert bad == unhealthy
    assert "redis://" not in json.dumps(health)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_parse_health_invalid(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_health(body)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8000/api/health", True),
        ("https://copiloto.saptiva.com/api/health", True),
        ("ftp://127.0.0.1/x", False),
        ("file:///etc/passwd", False),
        ("127.0.0.1:8000", False),
        ("http:///nohost", False),
    ],
)
def test_check_url(url: str, ok: bool) -> None:
    if ok:
        check_url(url)
    else:
        with pytest.raises(ValueError, match="not an http"):
            check_url(url)


def test_check_url_masks_password() -> None:
    with pytest.raises(ValueError) as info:
        check_url("ftp://user:hunter22@host/x")
    assert "hunter22" not in str(info.value)


def test_error_text_masked_one_line() -> None:
    exc = OSError("cannot reach https://u:pw123456@api/x with token abcdef123\nsecond line")
    text = error_text(exc, ["abcdef123"])
    assert "pw123456" not in text and "abcdef123" not in text and "\n" not in text
    assert text.startswith("OSError: ")
